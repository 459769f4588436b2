/*
 * spool.c - the spool directory, as only queued sees it.
 *
 *	incoming/<id>		data being received (fd lent to smtpd)
 *	incoming/<id>.env	envelope being committed
 *	queue/<xx>/<id>.msg	committed data, in SMTP wire form (CRLF,
 *				dot-stuffed, without the final ".")
 *	queue/<xx>/<id>.env	committed envelope: its presence is the
 *				commit point
 *	corrupt/		envelopes that could not be read, kept
 *	suspended		the operator's suspensions (control.c):
 *				"domain until" lines
 *
 * <xx> is the first two hex digits of the random id, so a million
 * messages spread over 256 directories.  Paths are relative: queued
 * runs chrooted in (or chdir'd to) spool_dir.
 *
 * A deferral is recorded the way Postfix does it, in the envelope's
 * mtime, not by rewriting it: seconds are the next attempt, and
 * nanoseconds STAMP_NSEC + the attempts so far (spool_stamp()).  An
 * envelope written whole carries the same stamp, a new one mtime
 * nanoseconds 0 (due at once).  A stamp is one inode update, never
 * synced by itself: after a crash it may be older than the last
 * deferral (the message is tried sooner, its attempts counted from
 * the older value), never newer than the text's recipients.
 * The spool scan at start needs only a stat per message for its
 * schedule.
 *
 * Durability has one idiom, spool_sync(): one syncfs(2) makes every
 * data file, envelope and rename of a commit batch stable together
 * (data written by smtpd through the lent fd included), so a batch of
 * N messages costs one journal commit instead of N.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "conf.h"
#include "queued.h"
#include "util.h"

#define STAMP_NSEC	999000000L	/* + attempts: a retry state */
#define STAMP_ATTEMPTS	999999		/* at most (more: no use to backoff) */
#define RECOVER_SLICE	0.010		/* s of scanning per loop turn */
#define RECOVER_MARGIN	0.050		/* s: file times lag the clock */

static int	spool_fd = -1;

static void
spool_stamp_time(struct timespec ts[2], int64_t next, uint32_t attempts)
{
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = next;
	ts[1].tv_nsec = STAMP_NSEC + (attempts > STAMP_ATTEMPTS ?
	    STAMP_ATTEMPTS : attempts);
}

void
spool_path(char *buf, size_t len, const char *id, const char *ext)
{
	snprintf(buf, len, "queue/%.2s/%s%s", id, id, ext);
}

static void
spool_mkdir(const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		fatal("spool: mkdir %s", path);
}

void
spool_init(const char *dir, int chrooted)
{
	char	 path[32];
	int	 i;

	if (!chrooted && chdir(dir) == -1)
		fatal("spool: chdir %s", dir);
	spool_mkdir("incoming");
	spool_mkdir("queue");
	spool_mkdir("corrupt");
	for (i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "queue/%02x", i);
		spool_mkdir(path);
	}
	if ((spool_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("spool: open %s", dir);
}

int
spool_sync(void)
{
#ifdef HAVE_SYNCFS
	return syncfs(spool_fd);
#else
	sync();
	return 0;
#endif
}

int
spool_open_message(char id[MSGID_LEN + 1])
{
	char	 path[64];
	int	 fd, tries;

	for (tries = 0; tries < 8; tries++) {
		msgid_new(id);
		snprintf(path, sizeof(path), "incoming/%s", id);
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1)
			return fd;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

void
spool_abort_message(const char *id)
{
	char	 path[64];

	snprintf(path, sizeof(path), "incoming/%s", id);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("id=%s: unlink %s", id, path);
	/* a recycled file came with the envelope of its last message */
	snprintf(path, sizeof(path), "incoming/%s.env", id);
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("id=%s: unlink %s", id, path);
}

/*
 * Write buf to a new file at tmp (replacing one left over), then
 * rename it to path.  Not yet durable: spool_sync() does that for the
 * whole batch.  On failure nothing is left at tmp.
 */
static int
spool_write_rename(const char *tmp, const char *path, const char *buf,
    size_t len, const struct timespec mtime[2])
{
	int	 fd, saved;
	ssize_t	 n;
	size_t	 off = 0;

	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return -1;
	while (off < len) {
		if ((n = write(fd, buf + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += n;
	}
	if (futimens(fd, mtime) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	return 0;
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

/*
 * A small state file of queued's own (the operator's suspensions) in
 * the spool, replaced whole and durable before this returns: the one
 * durable write (util.c), not the commit batch's syncfs.
 */
int
spool_write_state(const char *name, const char *buf, size_t len)
{
	char	 err[256];

	if (durable_write(".", name, buf, len, err, sizeof(err)) == -1) {
		log_warnx("spool: %s", err);
		return -1;
	}
	return 0;
}

/*
 * Commit a received message (commit thread): its data goes into the
 * queue first, then the envelope, whose arrival is the commit point.
 */
int
spool_commit_files(const char *id, const char *env, size_t len)
{
	char		 tmp[64], data[64], qdata[64], qenv[64];
	struct timespec	 mtime[2];
	int		 saved;

	/* not a stamp: due at once (nanoseconds 0, see the top) */
	mtime[0].tv_sec = mtime[1].tv_sec = time(NULL);
	mtime[0].tv_nsec = mtime[1].tv_nsec = 0;

	snprintf(data, sizeof(data), "incoming/%s", id);
	snprintf(tmp, sizeof(tmp), "incoming/%s.env", id);
	spool_path(qdata, sizeof(qdata), id, ".msg");
	spool_path(qenv, sizeof(qenv), id, ".env");
	if (rename(data, qdata) == -1)
		return -1;
	if (spool_write_rename(tmp, qenv, env, len, mtime) == -1) {
		saved = errno;
		(void)rename(qdata, data);
		errno = saved;
		return -1;
	}
	return 0;
}

/* The committed text of a message, read only, for deliverd or a DSN. */
int
spool_open_data(const char *id)
{
	char	 path[64];

	spool_path(path, sizeof(path), id, ".msg");
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Replace the envelope of a queued message (commit thread). */
int
spool_update_envelope(const char *id, const char *env, size_t len,
    int64_t next, uint32_t attempts)
{
	char		 tmp[64], path[64];
	struct timespec	 mtime[2];

	snprintf(tmp, sizeof(tmp), "incoming/%s.upd", id);
	spool_path(path, sizeof(path), id, ".env");
	spool_stamp_time(mtime, next, attempts);
	return spool_write_rename(tmp, path, env, len, mtime);
}

/*
 * Record a deferral (commit thread): the retry state in the envelope's
 * mtime, one inode update and no sync (see the top).
 */
int
spool_stamp(const char *id, int64_t next, uint32_t attempts)
{
	char		 path[64];
	struct timespec	 mtime[2];

	spool_path(path, sizeof(path), id, ".env");
	spool_stamp_time(mtime, next, attempts);
	return utimensat(AT_FDCWD, path, mtime, 0);
}

/* Is the message committed (its envelope in the queue)? */
int
spool_exists(const char *id)
{
	char		 path[64];
	struct stat	 st;

	spool_path(path, sizeof(path), id, ".env");
	return stat(path, &st) == 0;
}

/* A finished message: the envelope goes first, so no half survives. */
void
spool_remove_message(const char *id)
{
	char	 path[64];

	spool_path(path, sizeof(path), id, ".env");
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("id=%s: unlink %s", id, path);
	spool_path(path, sizeof(path), id, ".msg");
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("id=%s: unlink %s", id, path);
}

/*
 * Turn a finished message's files into a pool entry instead of deleting
 * them: ext4 slows down sharply when it allocates inodes among many
 * recently deleted ones (measured: queued spent 6 s of CPU in the
 * kernel's find_inode_bit/recently_deleted for 5000 messages), and at
 * thousands of messages a second two new inodes per message do exactly
 * that.  Only when no other process has the data open, which a write
 * lease proves: deliverd may still hold a stale task's fd, and a
 * reused file must never show it another message.  The envelope goes
 * first, so from that rename on the message is not queued.  Returns
 * the emptied data file's fd (its new name in newid), or -1 after
 * removing the message the ordinary way.
 */
int
spool_recycle_message(const char *id, char newid[MSGID_LEN + 1])
{
	char	 qenv[64], qmsg[64], env[64], data[64];
	int	 fd;

	spool_path(qmsg, sizeof(qmsg), id, ".msg");
	spool_path(qenv, sizeof(qenv), id, ".env");
	if ((fd = open(qmsg, O_RDWR | O_CLOEXEC)) == -1)
		goto remove;
	if (fcntl(fd, F_SETLEASE, F_WRLCK) == -1) {
		close(fd);
		goto remove;
	}
	msgid_new(newid);
	snprintf(data, sizeof(data), "incoming/%s", newid);
	snprintf(env, sizeof(env), "incoming/%s.env", newid);
	if (rename(qenv, env) == -1) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		close(fd);
		goto remove;
	}
	if (rename(qmsg, data) == -1 || ftruncate(fd, 0) == -1) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		close(fd);
		unlink(env);
		unlink(data);
		unlink(qmsg);
		return -1;
	}
	fcntl(fd, F_SETLEASE, F_UNLCK);
	return fd;
remove:
	spool_remove_message(id);
	return -1;
}

/* A batch whose sync failed: take the messages back out. */
void
spool_undo_commit(const char *id)
{
	char	 path[64];

	spool_path(path, sizeof(path), id, ".env");
	unlink(path);
	spool_path(path, sizeof(path), id, ".msg");
	unlink(path);
}

static void
spool_set_aside(const char *id, const char *why)
{
	char	 from[64], to[64];

	spool_path(from, sizeof(from), id, ".env");
	snprintf(to, sizeof(to), "corrupt/%s.env", id);
	if (rename(from, to) == -1 && errno != ENOENT)
		log_warn("id=%s: cannot move %s aside", id, from);
	spool_path(from, sizeof(from), id, ".msg");
	snprintf(to, sizeof(to), "corrupt/%s.msg", id);
	if (rename(from, to) == -1 && errno != ENOENT)
		log_warn("id=%s: cannot move %s aside", id, from);
	log_warnx("id=%s event=Corrupt reason=\"%s\" moved to %s/corrupt/",
	    id, why, q->conf->spool_dir);
}

static int
spool_read_fd(int fd, struct stat *st, char **buf, size_t *len)
{
	ssize_t		 n;

	if (fstat(fd, st) == -1 || st->st_size > 16 * 1024 * 1024)
		return -1;
	if ((*buf = malloc(st->st_size + 1)) == NULL)
		return -1;
	n = read(fd, *buf, st->st_size);
	if (n != st->st_size) {
		free(*buf);
		return -1;
	}
	*len = n;
	return 0;
}

/*
 * Read a committed message's envelope, with the retry state of its
 * stamp.  -1 when it is gone (finished meanwhile) or was set aside as
 * corrupt, with a log line.
 */
int
spool_load(const char *id, struct envelope *env)
{
	struct stat	 st, est;
	const char	*err;
	char		 path[64], *buf;
	size_t		 len;
	long		 ns;
	int		 fd, r;

	spool_path(path, sizeof(path), id, ".env");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			spool_set_aside(id, "unreadable envelope");
		return -1;
	}
	r = spool_read_fd(fd, &est, &buf, &len);
	close(fd);
	if (r == -1) {
		spool_set_aside(id, "unreadable envelope");
		return -1;
	}
	r = envelope_decode(env, buf, len, &err);
	free(buf);
	if (r == -1) {
		spool_set_aside(id, err);
		return -1;
	}
	if (strcmp(env->id, id) != 0) {
		envelope_clear(env);
		spool_set_aside(id, "envelope id does not match name");
		return -1;
	}
	spool_path(path, sizeof(path), id, ".msg");
	if (stat(path, &st) == -1) {
		envelope_clear(env);
		spool_set_aside(id, "message data missing");
		return -1;
	}
	if ((ns = est.st_mtim.tv_nsec) >= STAMP_NSEC) {
		/* a stamp is as new as the text or newer */
		env->next_try = est.st_mtim.tv_sec;
		if ((uint32_t)(ns - STAMP_NSEC) > env->attempts)
			env->attempts = ns - STAMP_NSEC;
	}
	return 0;
}

/*
 * The scan of the queue at start, run a slice at a time from the event
 * loop so that queued is ready (and smtpd accepts mail) at once, however
 * many messages wait.  While the active queue has room a message is
 * read in whole (and a corrupt one set aside); beyond, only its
 * envelope's stat is taken, whose mtime is its next attempt, and
 * queue.c reads it when its turn comes.
 */
static struct {
	struct event	*ev;
	int		 dir;		/* queue/<dir>; 256: done */
	DIR		*d;
	uint64_t	*envs, *msgs;	/* ids met in this directory */
	size_t		 nenv, nmsg, capenv, capmsg;
	size_t		 queued, partial, dropped;
	double		 start;
} rec;

static void
spool_recover_note(uint64_t **a, size_t *n, size_t *cap, const char *id)
{
	uint64_t	*na;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		if ((na = reallocarray(*a, *cap, sizeof(**a))) == NULL)
			fatal("spool: recovery");
		*a = na;
	}
	(*a)[(*n)++] = strtoull(id, NULL, 16);
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Data without an envelope in a scanned directory: a commit that never
 * finished, removed.  Not one under way now: its envelope may have
 * appeared since readdir, and a commit renames the data in (which sets
 * its ctime, from a clock that may lag by a tick) after this scan
 * began.
 */
static void
spool_recover_orphans(void)
{
	struct stat	 st;
	char		 id[MSGID_LEN + 1], path[64];
	size_t		 i;

	if (rec.nenv > 0)
		qsort(rec.envs, rec.nenv, sizeof(*rec.envs), u64_cmp);
	for (i = 0; i < rec.nmsg; i++) {
		if (rec.nenv > 0 && bsearch(&rec.msgs[i], rec.envs, rec.nenv,
		    sizeof(*rec.envs), u64_cmp) != NULL)
			continue;
		snprintf(id, sizeof(id), "%016" PRIx64, rec.msgs[i]);
		spool_path(path, sizeof(path), id, ".env");
		if (stat(path, &st) == 0 || queue_find(id) != NULL)
			continue;
		spool_path(path, sizeof(path), id, ".msg");
		if (stat(path, &st) == -1 || st.st_ctim.tv_sec +
		    st.st_ctim.tv_nsec / 1e9 >= rec.start - RECOVER_MARGIN)
			continue;
		if (unlink(path) == 0) {
			log_info("id=%s: removed data of an unfinished commit",
			    id);
			rec.dropped++;
		}
	}
	rec.nenv = rec.nmsg = 0;
}

/* One entry of queue/<xx>/ (dirpath). */
static void
spool_recover_entry(const char *dirpath, const char *name)
{
	struct envelope	 env;
	struct stat	 st;
	struct qmsg	*m;
	char		 id[MSGID_LEN + 1];

	if (strlen(name) != MSGID_LEN + 4 ||
	    strncmp(name, dirpath + 6, 2) != 0)
		goto unexpected;
	memcpy(id, name, MSGID_LEN);
	id[MSGID_LEN] = '\0';
	if (!msgid_valid(id))
		goto unexpected;
	if (strcmp(name + MSGID_LEN, ".msg") == 0) {
		spool_recover_note(&rec.msgs, &rec.nmsg, &rec.capmsg, id);
		return;
	}
	if (strcmp(name + MSGID_LEN, ".env") != 0)
		goto unexpected;
	spool_recover_note(&rec.envs, &rec.nenv, &rec.capenv, id);
	if (queue_find(id) != NULL)
		return;		/* committed since the scan began */
	if (queue_active_count() < (size_t)q->conf->queued_active_limit) {
		if (spool_load(id, &env) == -1)
			return;
		if ((m = queue_insert(&env)) != NULL) {
			sched_add(m, m->env.next_try);
			rec.queued++;
		}
		return;
	}
	if (fstatat(dirfd(rec.d), name, &st, 0) == -1)
		return;		/* finished since readdir */
	queue_disk_add(id, st.st_mtim.tv_sec);
	rec.queued++;
	return;
unexpected:
	log_warnx("spool: unexpected file %s/%s left alone", dirpath, name);
}

static void
spool_recover_done(void)
{
	q->recovering = 0;
	free(rec.envs);
	free(rec.msgs);
	rec.envs = rec.msgs = NULL;
	event_free(rec.ev);
	rec.ev = NULL;
	log_info("spool: %zu messages queued, %zu partial receptions and "
	    "%zu unfinished commits removed; recovery took %.1f s, %zu "
	    "messages in memory", rec.queued, rec.partial, rec.dropped,
	    sched_now() - rec.start, queue_active_count());
}

static void
spool_recover_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 now = { 0, 0 };
	struct dirent	*de;
	char		 dirpath[32];
	double		 t0 = sched_now();
	int		 n = 0;

	while (rec.dir < 256) {
		snprintf(dirpath, sizeof(dirpath), "queue/%02x", rec.dir);
		if (rec.d == NULL && (rec.d = opendir(dirpath)) == NULL)
			fatal("spool: opendir %s", dirpath);
		if ((de = readdir(rec.d)) == NULL) {
			closedir(rec.d);
			rec.d = NULL;
			spool_recover_orphans();
			rec.dir++;
			continue;
		}
		if (de->d_name[0] != '.')
			spool_recover_entry(dirpath, de->d_name);
		if (++n % 64 == 0 && sched_now() - t0 > RECOVER_SLICE) {
			sched_kick();
			evtimer_add(rec.ev, &now);
			return;
		}
	}
	sched_kick();
	spool_recover_done();
}

/*
 * Recovery after a start or a crash: drop half-received messages,
 * sync so that whatever an earlier queued renamed into place is as
 * durable as what it confirmed, then scan the queue in the background
 * (spool_recover_cb): committed messages are loaded or indexed,
 * corrupt ones set aside, unfinished commits removed.
 */
void
spool_recover(void)
{
	struct timeval	 now = { 0, 0 };
	DIR		*d;
	struct dirent	*de;
	char		 path[300];

	rec.start = sched_now();
	if ((d = opendir("incoming")) == NULL)
		fatal("spool: opendir incoming");
	while ((de = readdir(d)) != NULL) {
		struct stat	 st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "incoming/%s", de->d_name);
		/*
		 * Empty files and spare envelopes belong to the pool, not to
		 * a reception that broke off: not worth a word.
		 */
		if (stat(path, &st) == 0 && unlink(path) == 0 &&
		    st.st_size > 0 && strchr(de->d_name, '.') == NULL)
			rec.partial++;
	}
	closedir(d);
	if (spool_sync() == -1)
		fatal("spool: sync");
	q->recovering = 1;
	rec.ev = evtimer_new(q->base, spool_recover_cb, NULL);
	evtimer_add(rec.ev, &now);
}
