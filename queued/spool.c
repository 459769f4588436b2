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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "conf.h"
#include "queued.h"
#include "util.h"

static int	spool_fd = -1;

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
    size_t len)
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
	char	 tmp[64], data[64], qdata[64], qenv[64];
	int	 saved;

	snprintf(data, sizeof(data), "incoming/%s", id);
	snprintf(tmp, sizeof(tmp), "incoming/%s.env", id);
	spool_path(qdata, sizeof(qdata), id, ".msg");
	spool_path(qenv, sizeof(qenv), id, ".env");
	if (rename(data, qdata) == -1)
		return -1;
	if (spool_write_rename(tmp, qenv, env, len) == -1) {
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
spool_update_envelope(const char *id, const char *env, size_t len)
{
	char	 tmp[64], path[64];

	snprintf(tmp, sizeof(tmp), "incoming/%s.upd", id);
	spool_path(path, sizeof(path), id, ".env");
	return spool_write_rename(tmp, path, env, len);
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
spool_read_file(const char *path, char **buf, size_t *len)
{
	struct stat	 st;
	int		 fd;
	ssize_t		 n;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 || st.st_size > 16 * 1024 * 1024) {
		close(fd);
		return -1;
	}
	*buf = malloc(st.st_size + 1);
	if (*buf == NULL) {
		close(fd);
		return -1;
	}
	n = read(fd, *buf, st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(*buf);
		return -1;
	}
	*len = n;
	return 0;
}

static void
spool_recover_dir(const char *dirpath, size_t *loaded, size_t *dropped)
{
	DIR		*d;
	struct dirent	*de;
	char		 id[MSGID_LEN + 1], path[64];
	size_t		 l;

	if ((d = opendir(dirpath)) == NULL)
		fatal("spool: opendir %s", dirpath);
	while ((de = readdir(d)) != NULL) {
		struct envelope	 env;
		struct qmsg	*m;
		struct stat	 st;
		const char	*err;
		char		*buf;
		size_t		 len;

		if (de->d_name[0] == '.')
			continue;
		l = strlen(de->d_name);
		if (l != MSGID_LEN + 4 ||
		    strncmp(de->d_name, dirpath + 6, 2) != 0) {
			log_warnx("spool: unexpected file %s/%s left alone",
			    dirpath, de->d_name);
			continue;
		}
		memcpy(id, de->d_name, MSGID_LEN);
		id[MSGID_LEN] = '\0';
		if (!msgid_valid(id)) {
			log_warnx("spool: unexpected file %s/%s left alone",
			    dirpath, de->d_name);
			continue;
		}
		if (strcmp(de->d_name + MSGID_LEN, ".msg") == 0) {
			/* data without envelope: a commit that never finished */
			spool_path(path, sizeof(path), id, ".env");
			if (stat(path, &st) == 0)
				continue;	/* handled with its envelope */
			spool_path(path, sizeof(path), id, ".msg");
			if (unlink(path) == 0) {
				log_info("id=%s: removed data of an "
				    "unfinished commit", id);
				(*dropped)++;
			}
			continue;
		}
		if (strcmp(de->d_name + MSGID_LEN, ".env") != 0) {
			log_warnx("spool: unexpected file %s/%s left alone",
			    dirpath, de->d_name);
			continue;
		}
		spool_path(path, sizeof(path), id, ".env");
		if (spool_read_file(path, &buf, &len) == -1) {
			spool_set_aside(id, "unreadable envelope");
			continue;
		}
		if (envelope_decode(&env, buf, len, &err) == -1) {
			free(buf);
			spool_set_aside(id, err);
			continue;
		}
		free(buf);
		if (strcmp(env.id, id) != 0) {
			envelope_clear(&env);
			spool_set_aside(id, "envelope id does not match name");
			continue;
		}
		spool_path(path, sizeof(path), id, ".msg");
		if (stat(path, &st) == -1) {
			envelope_clear(&env);
			spool_set_aside(id, "message data missing");
			continue;
		}
		if ((m = queue_insert(&env)) != NULL) {
			sched_add(m, m->env.next_try);
			(*loaded)++;
		}
	}
	closedir(d);
}

/*
 * Rebuild the queue from the spool after a start or a crash: drop
 * half-received messages, load committed ones, set corrupt ones aside,
 * then sync so that whatever an earlier queued renamed into place is
 * as durable as what it confirmed.
 */
void
spool_recover(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[300];
	size_t		 loaded = 0, dropped = 0, partial = 0;
	int		 i;

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
			partial++;
	}
	closedir(d);
	for (i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "queue/%02x", i);
		spool_recover_dir(path, &loaded, &dropped);
	}
	if (spool_sync() == -1)
		fatal("spool: sync");
	log_info("spool: %zu messages queued, %zu partial receptions and "
	    "%zu unfinished commits removed", loaded, partial, dropped);
}
