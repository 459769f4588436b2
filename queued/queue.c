/*
 * queue.c - the in-memory queue: every committed message by id, and
 * per routing domain.  Delivery scheduling hangs off struct qdomain.
 */
#include "config.h"

#include <ctype.h>
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

static int
qdomain_cmp(struct qdomain *a, struct qdomain *b)
{
	return strcmp(a->name, b->name);
}

RB_GENERATE(qmsg_tree, qmsg, entry, qmsg_cmp);
RB_GENERATE(qdomain_tree, qdomain, entry, qdomain_cmp);

struct qmsg *
queue_find(const char *id)
{
	struct qmsg	 key;

	strlcpy(key.env.id, id, sizeof(key.env.id));
	return RB_FIND(qmsg_tree, &q->messages, &key);
}

/* The routing domain of a recipient, until policy can decide. */
static char *
queue_routing_domain(const char *rcpt)
{
	const char	*at = strrchr(rcpt, '@');
	char		*d, *p;

	d = xstrdup(at ? at + 1 : "");
	for (p = d; *p; p++)
		*p = tolower((unsigned char)*p);
	return d;
}

/* Takes over the envelope's contents. */
void
queue_insert(struct envelope *env)
{
	struct qmsg	*m;
	struct qdomain	 key, *d;

	m = xcalloc(1, sizeof(*m));
	m->env = *env;
	memset(env, 0, sizeof(*env));
	if (RB_INSERT(qmsg_tree, &q->messages, m) != NULL) {
		log_warnx("id=%s: already queued", m->env.id);
		envelope_clear(&m->env);
		free(m);
		return;
	}
	key.name = queue_routing_domain(m->env.rcpts[0]);
	if ((d = RB_FIND(qdomain_tree, &q->domains, &key)) == NULL) {
		d = xcalloc(1, sizeof(*d));
		d->name = key.name;
		TAILQ_INIT(&d->msgs);
		RB_INSERT(qdomain_tree, &q->domains, d);
	} else
		free(key.name);
	TAILQ_INSERT_TAIL(&d->msgs, m, dentry);
	d->count++;
	m->domain = d;
	q->nmessages++;
}
