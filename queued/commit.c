/*
 * commit.c - group commit.
 *
 * One thread does the blocking file work: for every message of a
 * batch it appends the envelope to the message file and renames it
 * into the queue, then one spool_sync_batch() makes the whole batch
 * durable.  While it works, the event loop keeps reading smtpd
 * channels and the next batch collects behind it, so under load many
 * messages share one round of syncs and at low load a message waits
 * for nothing.
 *
 * The thread touches only the job lists and the file pool (under the
 * mutex) and the spool; results come back to the event loop through a
 * pipe.
 *
 * It also keeps a pool of empty message files in incoming/: creating
 * a file is a journal operation that waits while a batch's syncfs is
 * committing, and that wait must not stall the event loop (measured:
 * 0.3 ms per open under load).  Unused pool files are swept away with
 * the other leftovers of incoming/ at the next start.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "queued.h"
#include "util.h"

static pthread_mutex_t	 commit_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 commit_cv = PTHREAD_COND_INITIALIZER;
static struct commit_list pending = TAILQ_HEAD_INITIALIZER(pending);
static struct commit_list done = TAILQ_HEAD_INITIALIZER(done);
static int		 inflight;	/* jobs taken by the thread */
static int		 notify[2];

#define POOL_SIZE	256	/* at most; pool_max is sized from fd_budget() */
static struct {
	char		 id[MSGID_LEN + 1];
	int		 fd;
}			 pool[POOL_SIZE];
static int		 npool, pool_max, pool_low;
static int		 pool_closed;	/* stopping: no refills */
static struct event	*notify_ev;

/* A finished message: its files refill the pool when there is room. */
static void
commit_recycle(const char *id)
{
	char	 nid[MSGID_LEN + 1], path[64];
	int	 fd, room;

	pthread_mutex_lock(&commit_mtx);
	room = !pool_closed && npool < pool_max;
	pthread_mutex_unlock(&commit_mtx);
	if (!room) {
		spool_remove_message(id);
		return;
	}
	if ((fd = spool_recycle_message(id, nid)) == -1)
		return;
	pthread_mutex_lock(&commit_mtx);
	if (!pool_closed && npool < pool_max) {
		memcpy(pool[npool].id, nid, sizeof(nid));
		pool[npool++].fd = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&commit_mtx);
	if (fd != -1) {
		close(fd);
		snprintf(path, sizeof(path), "incoming/%s", nid);
		unlink(path);
	}
}

static void *
commit_thread(void *arg)
{
	struct commit_list	 batch;
	struct commit_job	*j;
	int			 nok;

	for (;;) {
		pthread_mutex_lock(&commit_mtx);
		while (TAILQ_EMPTY(&pending) && (npool >= pool_low ||
		    pool_closed))
			pthread_cond_wait(&commit_cv, &commit_mtx);
		/*
		 * Refill while idle; with work waiting only when the pool
		 * runs low (delivered messages' files refill it too, and a
		 * recycled inode is cheaper than a new one).
		 */
		while (!pool_closed && npool < pool_max &&
		    (TAILQ_EMPTY(&pending) || npool < pool_low)) {
			char	 id[MSGID_LEN + 1];
			int	 fd;

			pthread_mutex_unlock(&commit_mtx);
			fd = spool_open_message(id);
			pthread_mutex_lock(&commit_mtx);
			if (fd == -1)
				break;
			if (pool_closed) {
				char	 path[64];

				close(fd);
				snprintf(path, sizeof(path), "incoming/%s", id);
				unlink(path);
				break;
			}
			memcpy(pool[npool].id, id, sizeof(id));
			pool[npool++].fd = fd;
			if (!TAILQ_EMPTY(&pending))
				break;	/* commits first, refill later */
		}
		if (TAILQ_EMPTY(&pending)) {
			pthread_mutex_unlock(&commit_mtx);
			continue;
		}
		TAILQ_INIT(&batch);
		TAILQ_CONCAT(&batch, &pending, entry);
		TAILQ_FOREACH(j, &batch, entry)
			inflight++;
		pthread_mutex_unlock(&commit_mtx);

		nok = 0;
		TAILQ_FOREACH(j, &batch, entry) {
			int	 r = 0;

			switch (j->kind) {
			case JOB_RECEIVED:
				r = spool_commit_files(j->id, j->envtext,
				    j->envlen);
				break;
			case JOB_UPDATE:
				r = spool_update_envelope(j->id, j->envtext,
				    j->envlen, j->next, j->attempts);
				break;
			case JOB_STAMP:
				/* nothing to sync: see spool.c */
				if (spool_stamp(j->id, j->next,
				    j->attempts) == -1 && errno != ENOENT)
					snprintf(j->reason, sizeof(j->reason),
					    "stamp: %s", strerror(errno));
				else
					j->ok = 1;
				continue;
			case JOB_REMOVE:
				commit_recycle(j->id);
				j->ok = 1;
				continue;	/* nothing to make durable */
			}
			if (r == 0) {
				j->ok = 1;
				nok++;
			} else
				snprintf(j->reason, sizeof(j->reason),
				    "spool write: %s", strerror(errno));
		}
		if (nok > 0 && spool_sync_batch(&batch) == -1) {
			int	 saved = errno;

			TAILQ_FOREACH(j, &batch, entry) {
				if (!j->ok || j->kind == JOB_REMOVE ||
				    j->kind == JOB_STAMP)
					continue;
				if (j->kind == JOB_RECEIVED)
					spool_undo_commit(j->id);
				j->ok = 0;
				snprintf(j->reason, sizeof(j->reason),
				    "spool sync: %s", strerror(saved));
			}
		}
		pthread_mutex_lock(&commit_mtx);
		TAILQ_CONCAT(&done, &batch, entry);
		pthread_mutex_unlock(&commit_mtx);
		while (write(notify[1], "", 1) == -1 && errno == EINTR)
			;
	}
	return NULL;
}

static void
commit_notify_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct commit_list	 batch;
	struct commit_job	*j;
	char			 buf[64];

	while (read(notify[0], buf, sizeof(buf)) > 0)
		;
	TAILQ_INIT(&batch);
	pthread_mutex_lock(&commit_mtx);
	TAILQ_CONCAT(&batch, &done, entry);
	TAILQ_FOREACH(j, &batch, entry)
		inflight--;
	pthread_mutex_unlock(&commit_mtx);
	while ((j = TAILQ_FIRST(&batch)) != NULL) {
		TAILQ_REMOVE(&batch, j, entry);
		if (j->done != NULL)
			j->done(j);		/* frees the job */
		else {
			if (!j->ok)
				log_warnx("id=%s: %s", j->id, j->reason);
			free(j->envtext);
			free(j);
		}
	}
	if (q->shutdown && !commit_busy())
		event_base_loopexit(q->base, NULL);
}

void
commit_init(void)
{
	pthread_t	 t;
	pthread_attr_t	 attr;

	/* open files wait in the pool: an eighth of the budget at most */
	pool_max = fd_budget() / 8;
	if (pool_max > POOL_SIZE)
		pool_max = POOL_SIZE;
	pool_low = pool_max / 4;
	if (pipe2(notify, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe2");
	notify_ev = event_new(q->base, notify[0], EV_READ | EV_PERSIST,
	    commit_notify_cb, NULL);
	event_add(notify_ev, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if ((errno = pthread_create(&t, &attr, commit_thread, NULL)) != 0)
		fatal("pthread_create");
	pthread_attr_destroy(&attr);
	spool_sync_init();
}

/*
 * A new empty message file for an smtpd: from the pool when it has
 * one, else created here.  Returns the fd, or -1.
 */
int
commit_take_file(char id[MSGID_LEN + 1])
{
	int	 fd = -1;

	pthread_mutex_lock(&commit_mtx);
	if (npool > 0) {
		npool--;
		memcpy(id, pool[npool].id, MSGID_LEN + 1);
		fd = pool[npool].fd;
	}
	if (npool < pool_low)
		pthread_cond_signal(&commit_cv);
	pthread_mutex_unlock(&commit_mtx);
	if (fd == -1)
		fd = spool_open_message(id);
	return fd;
}

/* At a clean stop: the unused pool files go. */
void
commit_drop_pool(void)
{
	char	 path[64];

	pthread_mutex_lock(&commit_mtx);
	while (npool > 0) {
		npool--;
		close(pool[npool].fd);
		snprintf(path, sizeof(path), "incoming/%s", pool[npool].id);
		unlink(path);
	}
	pool_closed = 1;	/* and the thread does not refill it */
	pthread_mutex_unlock(&commit_mtx);
}

void
commit_submit(struct commit_job *j)
{
	pthread_mutex_lock(&commit_mtx);
	TAILQ_INSERT_TAIL(&pending, j, entry);
	pthread_cond_signal(&commit_cv);
	pthread_mutex_unlock(&commit_mtx);
}

int
commit_busy(void)
{
	int	 busy;

	pthread_mutex_lock(&commit_mtx);
	busy = inflight > 0 || !TAILQ_EMPTY(&pending) || !TAILQ_EMPTY(&done);
	pthread_mutex_unlock(&commit_mtx);
	return busy;
}
