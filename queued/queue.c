/*
 * queue.c - the queue: committed messages, at most [queued]
 * active_limit of them in memory in full (the active queue, by id;
 * the schedule in sched.c orders them), the rest on disk.
 *
 * Like Postfix's qmgr_message_active_limit: a million queued messages
 * must not mean a million envelopes with their recipients in memory.
 * Of a message on disk only its id and next attempt are kept, 16
 * bytes in a binary heap ordered by next attempt, so that room that
 * frees goes to the soonest due.  A message leaves memory when the
 * active queue is over its limit (the latest scheduled one goes) or
 * when one on disk is due and the latest in memory is not; it is read
 * back from its spool file, whose mtime holds its retry state
 * (spool_stamp()).
 *
 * The heap may hold an entry twice, or one of a message in memory or
 * gone (the spool scan at start meets messages as they come and go,
 * petrelctl reads one in by id); such entries are dropped when they
 * come up, and until then only make petrelctl stats count one too many.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "queued.h"
#include "util.h"

#define BALANCE_BATCH	256	/* envelopes read per loop turn */
#define RETRY_NOW	(-1)	/* next of a message the operator made due */
#define VICTIM_SCAN	64	/* scheduled messages looked at for one */

static int
qmsg_cmp(struct qmsg *a, struct qmsg *b)
{
	return strcmp(a->env.id, b->env.id);
}

RB_GENERATE(qmsg_tree, qmsg, entry, qmsg_cmp);

static size_t	 nqueued;		/* in memory */
static struct qdisk *disk;		/* on disk: a min-heap by next */
static size_t	 ndisk, disk_cap;

/* Messages in the queue (petrelctl stats), in memory and on disk. */
size_t
ctl_queue_size(void)
{
	return nqueued + ndisk;
}

size_t
queue_active_count(void)
{
	return nqueued;
}

size_t
queue_disk_count(void)
{
	return ndisk;
}

static size_t
queue_limit(void)
{
	return q->conf->queued_active_limit > 0 ?
	    (size_t)q->conf->queued_active_limit : 1;
}

static void
disk_swap(size_t a, size_t b)
{
	struct qdisk	 t = disk[a];

	disk[a] = disk[b];
	disk[b] = t;
}

static void
disk_up(size_t i)
{
	while (i > 0 && disk[(i - 1) / 2].next > disk[i].next) {
		disk_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
disk_down(size_t i)
{
	size_t	 l, m;

	for (;;) {
		l = 2 * i + 1;
		if (l >= ndisk)
			return;
		m = l;
		if (l + 1 < ndisk && disk[l + 1].next < disk[l].next)
			m = l + 1;
		if (disk[i].next <= disk[m].next)
			return;
		disk_swap(i, m);
		i = m;
	}
}

/* A committed message that waits on disk until next. */
void
queue_disk_add(const char *id, int64_t next)
{
	struct qdisk	*n;
	size_t		 cap;

	if (ndisk == disk_cap) {
		cap = disk_cap ? disk_cap * 2 : 1024;
		if ((n = reallocarray(disk, cap, sizeof(*n))) == NULL)
			fatal("queue: the index of messages on disk");
		disk = n;
		disk_cap = cap;
	}
	disk[ndisk].id = strtoull(id, NULL, 16);
	disk[ndisk].next = next;
	disk_up(ndisk++);
}

static struct qdisk
disk_pop(void)
{
	struct qdisk	 top = disk[0];

	disk[0] = disk[--ndisk];
	disk_down(0);
	return top;
}

/* petrelctl retry --all: every message on disk is due now. */
void
queue_disk_due_all(void)
{
	size_t	 i;

	for (i = 0; i < ndisk; i++)
		disk[i].next = RETRY_NOW;	/* all equal: still a heap */
	sched_kick();
}

/*
 * petrelctl retry DOMAIN: the messages on disk with these ids (sorted)
 * are due now.  Returns how many entries that changed.
 */
size_t
queue_disk_retry(const uint64_t *ids, size_t nids)
{
	size_t	 i, n = 0;

	if (nids == 0)
		return 0;
	for (i = 0; i < ndisk; i++)
		if (disk[i].next != RETRY_NOW && bsearch(&disk[i].id, ids,
		    nids, sizeof(*ids), cmp_u64) != NULL) {
			disk[i].next = RETRY_NOW;
			n++;
		}
	for (i = ndisk / 2; i-- > 0; )
		disk_down(i);
	sched_kick();
	return n;
}

/* A copy of the ids on disk, for a walk over them (petrelctl). */
size_t
queue_disk_ids(uint64_t **ids)
{
	size_t	 i;

	*ids = ndisk ? xcalloc(ndisk, sizeof(**ids)) : NULL;
	for (i = 0; i < ndisk; i++)
		(*ids)[i] = disk[i].id;
	return ndisk;
}

struct qmsg *
queue_find(const char *id)
{
	struct qmsg	 key;

	strlcpy(key.env.id, id, sizeof(key.env.id));
	return RB_FIND(qmsg_tree, &q->messages, &key);
}

/*
 * A message on disk, read in; NULL when it is in memory already, gone,
 * or was set aside as corrupt.  Its next attempt is the later of its
 * stamp's and next (in memory it was held later, or the index has an
 * older entry for it), unless the operator made it due (RETRY_NOW):
 * then it is due now, and stamped so.
 */
static struct qmsg *
queue_load(const char *id, int64_t next)
{
	struct envelope	 env;
	struct qmsg	*m;

	if (queue_find(id) != NULL || spool_load(id, &env) == -1)
		return NULL;
	if (next == RETRY_NOW)
		env.next_try = 0;
	else if (env.next_try < next)
		env.next_try = next;
	if ((m = queue_insert(&env)) != NULL) {
		sched_add(m, m->env.next_try);
		if (next == RETRY_NOW)
			sched_stamp(m);
	}
	return m;
}

/*
 * The message with this id, read in from disk when it waits there
 * (petrelctl inspect, bounce, retry): it may take the active queue over
 * its limit until the next turn of the scheduler.
 */
struct qmsg *
queue_find_load(const char *id)
{
	struct qmsg	*m;

	if (!msgid_valid(id))
		return NULL;
	if ((m = queue_find(id)) != NULL)
		return m;
	return queue_load(id, 0);
}

/* Committed and not finished: in memory, or its envelope on disk. */
int
queue_known(const char *id)
{
	return queue_find(id) != NULL || (msgid_valid(id) && spool_exists(id));
}

/*
 * Neither in flight nor reporting a bounce, and its envelope on disk as
 * it is in memory (read back too early, a rewrite not yet done would
 * bring back finished recipients): free to leave memory.
 */
static int
queue_evictable(struct qmsg *m)
{
	return m != NULL && m->inflight == 0 && m->nbounce == 0 &&
	    m->persisting == 0 && (m->scheduled || m->waiting);
}

/*
 * The latest scheduled message free to leave memory, looking past a
 * few that are not (a rewrite under way: they were just deferred, so
 * they are the latest).
 */
static struct qmsg *
queue_latest(void)
{
	struct qmsg	*m;
	int		 n = 0;

	for (m = RB_MAX(sched_tree, &q->schedule); m != NULL &&
	    n < VICTIM_SCAN; m = RB_PREV(sched_tree, &q->schedule, m), n++)
		if (queue_evictable(m))
			return m;
	return NULL;
}

/*
 * The message to leave memory first: the latest in the schedule, else
 * (all are due) the last on a delivery agent's wait list.
 */
static struct qmsg *
queue_victim(void)
{
	struct qmsg	*m;
	int		 a;

	if ((m = queue_latest()) != NULL)
		return m;
	for (a = 0; a < q->ndeliverd; a++)
		if ((m = TAILQ_LAST(&q->waiting[a], qmsg_wait)) != NULL &&
		    queue_evictable(m))
			return m;
	return NULL;
}

/*
 * Out of memory, onto disk: everything it has there is on disk already
 * (a finished recipient is written before the message is scheduled
 * again), except what was decided in memory alone, its next attempt,
 * which the index keeps.
 */
static void
queue_evict(struct qmsg *m)
{
	char	 id[MSGID_LEN + 1];
	int64_t	 next = m->env.next_try;

	strlcpy(id, m->env.id, sizeof(id));
	sched_unschedule(m);
	queue_remove(m);
	queue_disk_add(id, next);
}

/*
 * Keep the active queue within its limit and filled with the soonest
 * due: messages leave memory while it is over, come in from disk while
 * there is room, and a due one on disk takes the place of the latest
 * in memory that is not due yet.  At most BALANCE_BATCH envelopes are
 * read per call, so the event loop (smtpd waiting for a commit) never
 * waits long; returns 1 when there is more to do at once.
 */
int
queue_balance(int64_t now)
{
	struct qmsg	*m;
	struct qdisk	 e;
	char		 id[MSGID_LEN + 1];
	int		 n = 0;

	while (nqueued > queue_limit() && (m = queue_victim()) != NULL)
		queue_evict(m);
	while (ndisk > 0) {
		if (n++ == BALANCE_BATCH)
			return 1;
		if (nqueued >= queue_limit()) {
			m = queue_latest();
			if (disk[0].next > now || m == NULL ||
			    m->env.next_try <= now ||
			    m->env.next_try <= disk[0].next)
				break;
			queue_evict(m);
		}
		e = disk_pop();
		snprintf(id, sizeof(id), "%016" PRIx64, e.id);
		(void)queue_load(id, e.next);
	}
	return 0;
}

/*
 * When the next message on disk is due, if it can then take the place
 * of one in memory (else a change in memory kicks the scheduler).
 */
int64_t
queue_disk_wake(int64_t now)
{
	struct qmsg	*m;

	if (ndisk == 0 || disk[0].next <= now)
		return INT64_MAX;
	if (nqueued < queue_limit())
		return disk[0].next;
	if ((m = queue_latest()) == NULL || m->env.next_try <= disk[0].next)
		return INT64_MAX;
	return disk[0].next;
}

/* Takes over the envelope's contents; NULL if the id is queued already. */
struct qmsg *
queue_insert(struct envelope *env)
{
	struct qmsg	*m;

	m = xcalloc(1, sizeof(*m));
	m->env = *env;
	memset(env, 0, sizeof(*env));
	if (m->env.done == NULL)
		m->env.done = xcalloc(m->env.nrcpt ? m->env.nrcpt : 1, 1);
	if (RB_INSERT(qmsg_tree, &q->messages, m) != NULL) {
		log_warnx("id=%s: already queued", m->env.id);
		envelope_clear(&m->env);
		free(m);
		return NULL;
	}
	nqueued++;
	return m;
}

void
queue_remove(struct qmsg *m)
{
	int	 i;

	if (m->scheduled)
		RB_REMOVE(sched_tree, &q->schedule, m);
	RB_REMOVE(qmsg_tree, &q->messages, m);
	nqueued--;
	if (ndisk > 0)
		sched_kick();	/* room for one from disk */
	for (i = 0; i < m->nbounce; i++) {
		free(m->bounces[i].diagnostic);
		free(m->bounces[i].remote_mta);
	}
	free(m->bounces);
	free(m->last_error);
	envelope_clear(&m->env);
	free(m);
}
