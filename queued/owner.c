/*
 * owner.c - which deliverd worker a routing domain's tasks go to.
 *
 * A site's connections and rates are counted in one deliverd: the one
 * wire_deliverd_for() gives for the site's name.  queued knows only
 * routing domains, so its first guess is the same hash of the domain;
 * when the domain resolves to a site another worker owns, deliverd
 * hands the task back (IMSG_DELIVERD_REDIRECT) and the answer is
 * remembered here, so the domain's later tasks go to the owner
 * directly.  An answer is kept for an hour (the MX may move) or until
 * the owner redirects again; at most OWNER_MAX domains are
 * remembered, the oldest answer making way.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "queued.h"
#include "util.h"
#include "wire.h"

#define OWNER_MAX	10000
#define OWNER_TTL	3600	/* s */

struct owner {
	RB_ENTRY(owner)	 entry;
	TAILQ_ENTRY(owner) lentry;	/* oldest first */
	char		*domain;	/* lower case */
	int		 deliverd;
	time_t		 expires;
};
RB_HEAD(owner_tree, owner);
TAILQ_HEAD(owner_list, owner);

static struct owner_tree owners = RB_INITIALIZER(&owners);
static struct owner_list owner_age = TAILQ_HEAD_INITIALIZER(owner_age);
static int	 nowners;

static int
owner_cmp(struct owner *a, struct owner *b)
{
	return strcmp(a->domain, b->domain);
}
RB_PROTOTYPE(owner_tree, owner, entry, owner_cmp);
RB_GENERATE(owner_tree, owner, entry, owner_cmp);

static void
owner_forget(struct owner *o)
{
	RB_REMOVE(owner_tree, &owners, o);
	TAILQ_REMOVE(&owner_age, o, lentry);
	nowners--;
	free(o->domain);
	free(o);
}

static struct owner *
owner_find(const char *domain)
{
	struct owner	 key, *o;
	char		*p;

	key.domain = xstrdup(domain);
	for (p = key.domain; *p; p++)
		*p = tolower((unsigned char)*p);
	o = RB_FIND(owner_tree, &owners, &key);
	free(key.domain);
	return o;
}

/* The worker that takes the routing domain's tasks. */
int
owner_deliverd_for(const char *domain)
{
	struct owner	*o;

	if (q->ndeliverd < 2)
		return 0;
	if (nowners > 0 && (o = owner_find(domain)) != NULL) {
		if (o->expires > time(NULL) && o->deliverd < q->ndeliverd)
			return o->deliverd;
		owner_forget(o);
	}
	return wire_deliverd_for(domain, q->ndeliverd);
}

/* deliverd says worker w owns the routing domain's site. */
void
owner_learn(const char *domain, int w)
{
	struct owner	*o;
	char		*p;

	if ((o = owner_find(domain)) != NULL)
		owner_forget(o);
	while (nowners >= OWNER_MAX)
		owner_forget(TAILQ_FIRST(&owner_age));
	o = xcalloc(1, sizeof(*o));
	o->domain = xstrdup(domain);
	for (p = o->domain; *p; p++)
		*p = tolower((unsigned char)*p);
	o->deliverd = w;
	o->expires = time(NULL) + OWNER_TTL;
	RB_INSERT(owner_tree, &owners, o);
	TAILQ_INSERT_TAIL(&owner_age, o, lentry);
	nowners++;
}
