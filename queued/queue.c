/*
 * queue.c - the in-memory queue: every committed message by id.  The
 * schedule (sched.c) orders the ones waiting for delivery.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queued.h"
#include "util.h"

static int
qmsg_cmp(struct qmsg *a, struct qmsg *b)
{
	return strcmp(a->env.id, b->env.id);
}

RB_GENERATE(qmsg_tree, qmsg, entry, qmsg_cmp);

static size_t	 nqueued;

/* Messages in the queue (petrelctl stats). */
size_t
ctl_queue_size(void)
{
	return nqueued;
}

struct qmsg *
queue_find(const char *id)
{
	struct qmsg	 key;

	strlcpy(key.env.id, id, sizeof(key.env.id));
	return RB_FIND(qmsg_tree, &q->messages, &key);
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
	for (i = 0; i < m->nbounce; i++) {
		free(m->bounces[i].diagnostic);
		free(m->bounces[i].remote_mta);
	}
	free(m->bounces);
	free(m->last_error);
	envelope_clear(&m->env);
	free(m);
}
