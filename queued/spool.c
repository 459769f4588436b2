/*
 * spool.c - the spool directory, as only queued sees it.
 *
 *	incoming/<id>		data being received (fd lent to smtpd), or
 *				an empty file of the pool (commit.c)
 *	incoming/<id>.upd	an envelope being replaced
 *	queue/<xx>/<id>.msg	a committed message: its text in SMTP wire
 *				form (CRLF, dot-stuffed, without the final
 *				"."), then its envelope and a trailer line
 *				with both lengths (lib/envelope.c).  Its
 *				arrival by rename is the commit point.
 *	queue/<xx>/<id>.env	the envelope, when it changed after the
 *				commit (a recipient finished, a bounce sent):
 *				it then overrides the one in the .msg
 *	corrupt/		messages that could not be read, kept
 *	suspended		the operator's suspensions (control.c):
 *				"domain until" lines
 *
 * One file per message for the common case (received, delivered,
 * gone): every file costs an inode, a data block and directory entries
 * that each commit batch's sync writes.  An envelope rewritten in place
 * could be torn by a crash, so a changed one goes into its own file by
 * rename, as before.  Spools of earlier versions (every message a .msg
 * of text alone beside its .env) read the same way.
 *
 * <xx> is the first two hex digits of the id: the time of arrival in
 * 64 s steps (msgid_new()), so a batch shares one directory and a
 * large queue still spreads over all 256.  Paths are relative: queued
 * runs chrooted in (or chdir'd to) spool_dir.
 *
 * A deferral is recorded the way Postfix does it, in the mtime of the
 * .msg, not by rewriting anything: seconds are the next attempt, and
 * nanoseconds STAMP_NSEC + the attempts so far (spool_stamp()).  A new
 * message has mtime nanoseconds 0 (due at once); a replaced .env is
 * stamped on its .msg too (its own mtime is no stamp), and its text
 * says attempts and next attempt as well.  A stamp is one inode update,
 * never synced by itself: after a crash it may be older than the last
 * deferral (the message is tried sooner, its attempts counted from the
 * older value).  The spool scan at start needs only a stat per message
 * for its schedule.  A spool of petrel 0.1 has its stamps on the .env.
 *
 * Durability has one idiom, spool_sync_batch(): the directories a
 * commit batch added to are synced once each, then the files it wrote
 * (data written by smtpd through the lent fd included) together, so a
 * batch of N messages waits for one round of syncs instead of N in a
 * row.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
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

/* Everything in the spool's file system: at start, after recovery. */
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

/*
 * The sync of a commit batch.  Every queue directory that gained a
 * name gets one fsync(2), then every file the batch wrote (a message
 * file, a replaced envelope) fdatasync(2), SYNC_THREADS at a time so
 * that the device's cache flushes can merge.  Not syncfs(2): that also
 * writes whatever else is dirty on the file system, the text of every
 * message still being received above all (measured: 29 KiB written
 * per 4 KiB message against 16 this way, bench/RESULTS.md).  At most
 * SYNC_CHUNK descriptors are open at once.
 */
#define SYNC_THREADS	4
#define SYNC_CHUNK	32	/* descriptors: queued's budget is tight at 1024 */

static pthread_mutex_t	 sync_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 sync_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t	 sync_done_cv = PTHREAD_COND_INITIALIZER;
static int		 sync_fds[SYNC_CHUNK];
static int		 sync_n, sync_next, sync_left, sync_err;

/* Take files off the list until none is left (sync_mtx held). */
static void
spool_sync_some(void)
{
	int	 fd, e;

	while (sync_next < sync_n) {
		fd = sync_fds[sync_next++];
		pthread_mutex_unlock(&sync_mtx);
		e = fdatasync(fd) == -1 ? errno : 0;
		pthread_mutex_lock(&sync_mtx);
		if (e != 0 && sync_err == 0)
			sync_err = e;
		if (--sync_left == 0)
			pthread_cond_broadcast(&sync_done_cv);
	}
}

static void *
spool_sync_thread(void *arg)
{
	pthread_mutex_lock(&sync_mtx);
	for (;;) {
		while (sync_next >= sync_n)
			pthread_cond_wait(&sync_cv, &sync_mtx);
		spool_sync_some();
	}
	return NULL;
}

void
spool_sync_init(void)
{
	pthread_t	 t;
	pthread_attr_t	 attr;
	int		 i;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (i = 0; i < SYNC_THREADS - 1; i++)
		if ((errno = pthread_create(&t, &attr, spool_sync_thread,
		    NULL)) != 0)
			fatal("pthread_create");
	pthread_attr_destroy(&attr);
}

/* fdatasync n open files, this thread and the others together. */
static int
spool_sync_fds(int n)
{
	int	 err, i;

	pthread_mutex_lock(&sync_mtx);
	sync_n = sync_left = n;
	sync_next = 0;
	sync_err = 0;
	pthread_cond_broadcast(&sync_cv);
	spool_sync_some();
	while (sync_left > 0)
		pthread_cond_wait(&sync_done_cv, &sync_mtx);
	err = sync_err;
	sync_n = sync_next = 0;
	pthread_mutex_unlock(&sync_mtx);
	for (i = 0; i < n; i++)
		close(sync_fds[i]);
	return err;
}

int
spool_sync_batch(const struct commit_list *batch)
{
	const struct commit_job	*j;
	char			 path[64];
	uint8_t			 dirs[256];
	int			 n = 0, fd, i, err = 0, e;

	/*
	 * The directories first: ext4 without a journal also writes the
	 * parent's block at the fdatasync of a file new in it, unless
	 * that is clean already (4 KiB a message).
	 */
	memset(dirs, 0, sizeof(dirs));
	TAILQ_FOREACH(j, batch, entry)
		if (j->ok && (j->kind == JOB_RECEIVED || j->kind == JOB_UPDATE))
			dirs[msgid_dir(j->id)] = 1;	/* ids are valid */
	for (i = 0; i < 256; i++) {
		if (!dirs[i])
			continue;
		snprintf(path, sizeof(path), "queue/%02x", i);
		if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
		    fsync(fd) == -1)
			err = errno;
		if (fd != -1)
			close(fd);
	}
	TAILQ_FOREACH(j, batch, entry) {
		if (!j->ok || (j->kind != JOB_RECEIVED &&
		    j->kind != JOB_UPDATE))
			continue;
		spool_path(path, sizeof(path), j->id,
		    j->kind == JOB_RECEIVED ? ".msg" : ".env");
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
			err = errno;
			continue;
		}
		sync_fds[n++] = fd;
		if (n == SYNC_CHUNK) {
			if ((e = spool_sync_fds(n)) != 0)
				err = e;
			n = 0;
		}
	}
	if (n > 0 && (e = spool_sync_fds(n)) != 0)
		err = e;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
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
}

/*
 * Write buf to a new file at tmp (replacing one left over), then
 * rename it to path.  Not yet durable: spool_sync_batch() does that for
 * the whole batch.  On failure nothing is left at tmp.
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
 * Commit a received message (commit thread): its envelope and trailer
 * go after the text, then the file is renamed into the queue, which is
 * the commit point.  smtpd closed its descriptor before it asked for
 * the commit, and a write lease proves it (as in recycling): a worker
 * that kept one could change the text or the envelope after queued
 * read them.  A file system without leases (EINVAL) is trusted.
 */
int
spool_commit_files(const char *id, const char *env, size_t len)
{
	char		 data[64], qdata[64], tail[MSGFILE_TRAILER_LEN + 1];
	struct timespec	 mtime[2];
	struct stat	 st;
	struct iovec	 iov[2];
	ssize_t		 n;
	int		 fd, saved, leased = 0;

	if (len > MSGFILE_ENVELOPE_MAX) {
		errno = EFBIG;
		return -1;
	}
	/* not a stamp: due at once (nanoseconds 0, see the top) */
	mtime[0].tv_sec = mtime[1].tv_sec = time(NULL);
	mtime[0].tv_nsec = mtime[1].tv_nsec = 0;

	snprintf(data, sizeof(data), "incoming/%s", id);
	spool_path(qdata, sizeof(qdata), id, ".msg");
	if ((fd = open(data, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fcntl(fd, F_SETLEASE, F_WRLCK) == 0)
		leased = 1;
	else if (errno != EINVAL) {
		if (errno == EAGAIN)
			errno = EBUSY;	/* "Device or resource busy" */
		goto fail;
	}
	if (fstat(fd, &st) == -1)
		goto fail;
	msgfile_trailer(tail, st.st_size, len);
	iov[0].iov_base = (void *)env;
	iov[0].iov_len = len;
	iov[1].iov_base = tail;
	iov[1].iov_len = MSGFILE_TRAILER_LEN;
	if ((n = pwritev(fd, iov, 2, st.st_size)) !=
	    (ssize_t)(len + MSGFILE_TRAILER_LEN)) {
		if (n >= 0)
			errno = ENOSPC;
		goto undo;
	}
	if (futimens(fd, mtime) == -1)
		goto undo;
	if (leased)
		(void)fcntl(fd, F_SETLEASE, F_UNLCK);
	leased = 0;
	if (rename(data, qdata) == -1)
		goto undo;
	close(fd);
	return 0;
undo:
	saved = errno;
	(void)ftruncate(fd, st.st_size);
	errno = saved;
fail:
	saved = errno;
	if (leased)
		(void)fcntl(fd, F_SETLEASE, F_UNLCK);
	close(fd);
	errno = saved;
	return -1;
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
	/* not a stamp (nanoseconds 0): that stays on the .msg */
	mtime[0].tv_sec = mtime[1].tv_sec = time(NULL);
	mtime[0].tv_nsec = mtime[1].tv_nsec = 0;
	if (spool_write_rename(tmp, path, env, len, mtime) == -1)
		return -1;
	return spool_stamp(id, next, attempts);
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

	spool_path(path, sizeof(path), id, ".msg");
	spool_stamp_time(mtime, next, attempts);
	return utimensat(AT_FDCWD, path, mtime, 0);
}

/* Is the message committed (its file in the queue)? */
int
spool_exists(const char *id)
{
	char		 path[64];
	struct stat	 st;

	spool_path(path, sizeof(path), id, ".msg");
	return stat(path, &st) == 0;
}

/*
 * A finished message: the .msg goes first, so that a crash cannot bring
 * back its first envelope; an .env left alone is removed at the next
 * start.
 */
void
spool_remove_message(const char *id)
{
	char	 path[64];

	spool_path(path, sizeof(path), id, ".msg");
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("id=%s: unlink %s", id, path);
	spool_path(path, sizeof(path), id, ".env");
	if (unlink(path) == -1 && errno != ENOENT)
		log_warn("id=%s: unlink %s", id, path);
}

/*
 * Turn a finished message's file into a pool entry instead of deleting
 * it: ext4 slows down sharply when it allocates inodes among many
 * recently deleted ones (measured: queued spent 6 s of CPU in the
 * kernel's find_inode_bit/recently_deleted for 5000 messages), and at
 * thousands of messages a second a new inode per message does exactly
 * that.  Only when no other process has the file open, which a write
 * lease proves: deliverd may still hold a stale task's fd, and a
 * reused file must never show it another message.  The .msg goes
 * first, so from that rename on the message is not queued.  Returns
 * the emptied file's fd (its new name in newid), or -1 after removing
 * the message the ordinary way.
 */
int
spool_recycle_message(const char *id, char newid[MSGID_LEN + 1])
{
	char	 qmsg[64], qenv[64], data[64];
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
	if (rename(qmsg, data) == -1) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		close(fd);
		goto remove;
	}
	if (unlink(qenv) == -1 && errno != ENOENT)
		log_warn("id=%s: unlink %s", id, qenv);
	if (ftruncate(fd, 0) == -1) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
		close(fd);
		unlink(data);
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

/* An envelope file, whole. */
static int
spool_read_fd(int fd, struct stat *st, char **buf, size_t *len)
{
	ssize_t		 n;

	if (fstat(fd, st) == -1 || st->st_size > MSGFILE_ENVELOPE_MAX)
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
 * The envelope at the end of a message file of size bytes (see the
 * top).  0 with it in buf; 1 when the file has no trailer; -1 when it
 * cannot be read.
 */
static int
spool_read_tail(int fd, off_t size, char **buf, size_t *len)
{
	uint64_t	 textlen;
	size_t		 envlen;
	int		 r;

	if ((r = msgfile_tail(fd, size, &textlen, &envlen)) != 0)
		return r;
	if ((*buf = malloc(envlen + 1)) == NULL)
		return -1;
	if (pread(fd, *buf, envlen, textlen) != (ssize_t)envlen) {
		free(*buf);
		return -1;
	}
	*len = envlen;
	return 0;
}

/*
 * Read a committed message's envelope, with the retry state of its
 * stamp.  -1 when it is gone (finished meanwhile), was set aside as
 * corrupt (with a log line), or was the leftover of a commit or a
 * removal that a crash broke off (removed, with a log line).
 */
int
spool_load(const char *id, struct envelope *env)
{
	struct stat	 st, est;
	const char	*err;
	char		 path[64], epath[64], *buf;
	size_t		 len;
	long		 ns;
	int		 fd, efd, r;

	spool_path(path, sizeof(path), id, ".msg");
	spool_path(epath, sizeof(epath), id, ".env");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			spool_set_aside(id, "unreadable message file");
		else if (unlink(epath) == 0)
			log_info("id=%s: removed the envelope of a finished "
			    "message", id);
		return -1;
	}
	if (fstat(fd, &st) == -1)
		r = -1;
	else if ((efd = open(epath, O_RDONLY | O_CLOEXEC)) != -1) {
		/* a changed envelope overrides the one in the file */
		r = spool_read_fd(efd, &est, &buf, &len);
		close(efd);
		/* the stamp: on the .msg, on the .env in a 0.1 spool */
		if (r == 0 && st.st_mtim.tv_nsec < STAMP_NSEC)
			st.st_mtim = est.st_mtim;
	} else if (errno != ENOENT)
		r = -1;
	else if ((r = spool_read_tail(fd, st.st_size, &buf, &len)) == 1) {
		/*
		 * Text alone: a commit that never finished (a crash took
		 * its tail, or a spool of an earlier version whose .env
		 * never came).  Never confirmed to the client.
		 */
		close(fd);
		if (unlink(path) == 0)
			log_info("id=%s: removed data of an unfinished commit",
			    id);
		return -1;
	}
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
	if ((ns = st.st_mtim.tv_nsec) >= STAMP_NSEC) {
		/* a stamp is as new as the text or newer */
		env->next_try = st.st_mtim.tv_sec;
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
 * file's stat is taken, whose mtime is its next attempt, and
 * queue.c reads it when its turn comes.
 */
static struct {
	struct event	*ev;
	int		 dir;		/* queue/<dir>; 256: done */
	DIR		*d;
	size_t		 queued, partial;
	double		 start;
} rec;

/*
 * One entry of queue/<xx>/ (dirpath).  A message is its .msg, whose
 * mtime is its stamp; an .env beside it is read with it (spool_load()),
 * one alone is what a crash left of a removal.
 */
static void
spool_recover_entry(const char *dirpath, const char *name)
{
	struct envelope	 env;
	struct stat	 st;
	struct qmsg	*m;
	char		 id[MSGID_LEN + 1], other[MSGID_LEN + 5];
	int		 isenv;

	if (strlen(name) != MSGID_LEN + 4 ||
	    strncmp(name, dirpath + 6, 2) != 0)
		goto unexpected;
	memcpy(id, name, MSGID_LEN);
	id[MSGID_LEN] = '\0';
	if (!msgid_valid(id))
		goto unexpected;
	if (strcmp(name + MSGID_LEN, ".env") == 0)
		isenv = 1;
	else if (strcmp(name + MSGID_LEN, ".msg") == 0)
		isenv = 0;
	else
		goto unexpected;
	if (queue_find(id) != NULL)
		return;		/* committed since the scan began */
	if (isenv) {
		snprintf(other, sizeof(other), "%s.msg", id);
		if (fstatat(dirfd(rec.d), other, &st, 0) == 0)
			return;		/* read with its .msg */
		/* removal broken off, or finished since readdir */
		if (errno == ENOENT && unlinkat(dirfd(rec.d), name, 0) == 0)
			log_info("id=%s: removed the envelope of a finished "
			    "message", id);
		return;
	}
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
	event_free(rec.ev);
	rec.ev = NULL;
	log_info("spool: %zu messages queued, %zu partial receptions "
	    "removed; recovery took %.1f s, %zu messages in memory",
	    rec.queued, rec.partial, sched_now() - rec.start,
	    queue_active_count());
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
 * corrupt ones set aside, leftovers of a crash removed.
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
		 * Empty files belong to the pool and an .upd is an envelope
		 * replacement a crash broke off (the old one stands), not a
		 * reception that broke off: not worth a word.
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
