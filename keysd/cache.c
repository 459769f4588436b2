/*
 * cache.c - keysd's cache, keyed by the whole keysource spec.
 *
 * A good value is reused for cache_ttl.  While a fetch for a spec is
 * under way, further requests for it wait on that fetch and are all
 * answered from its one result (single-flight: ten connections asking
 * at once make one Vault request).  When the source is down (Vault
 * unreachable, timing out, sealed, 5xx after retries) the last good
 * value is served for up to stale_ttl after it was fetched, with a
 * warning each time; an answer (403, 404, no key, a refused file) is
 * not an outage: the request fails and the old value is forgotten.
 * After an outage the stale value is served at once, without asking
 * the source again, for a hold-off (10 s doubling to 2 min), so a Vault
 * that times out does not hold every new connection for vault_timeout.
 *
 * An OAuth2 access token is kept for its own lifetime, not cache_ttl:
 * it is handed out only while more than OAUTH2_REFRESH (10 min, as
 * Microsoft's high-volume endpoint wants) plus OAUTH2_MARGIN are left,
 * so a token with under 10 minutes left is refreshed before use; a
 * stale one is served during an outage only while it is still valid.
 *
 * The key string holds key_data or a vault_token when the spec does,
 * so it is wiped like the value.  A flush drops everything; a fetch
 * under way then still answers its waiters, but its result is not kept.
 */
#include "config.h"

#include <bsd/sys/tree.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "keysource.h"
#include "log.h"
#include "util.h"
#include "wire.h"
#include "keysd.h"
#include "oauth2.h"

#define HOLD_MIN	10	/* s without asking after an outage, */
#define HOLD_MAX	120	/* doubling to this */
#define OAUTH2_REFRESH	600	/* s left: refresh an access token first */
#define OAUTH2_MARGIN	60	/* s for the SMTP session, clock skew */

struct centry {
	RB_ENTRY(centry) entry;
	TAILQ_ENTRY(centry) age;	/* oldest first */
	char		*key;		/* the spec, serialized: wiped */
	size_t		 keylen;
	struct keysource *ks;
	char		 what[1024];	/* keysource_describe(), quoted */
	char		*value;		/* the last good value, or NULL */
	size_t		 len;
	char		 fp[33];
	time_t		 fetched;	/* monotonic seconds */
	int64_t		 expires_in;	/* OAuth2: the token's lifetime, s */
	time_t		 hold_until;	/* after an outage: stale, no fetch */
	int		 hold;		/* its length, s */
	char		 hold_why[512];
	int		 inflight;
	int		 orphan;	/* flushed while in flight */
	struct kwaiter_list waiters;
};

RB_HEAD(centry_tree, centry);
TAILQ_HEAD(centry_list, centry);

static struct centry_tree entries = RB_INITIALIZER(&entries);
static struct centry_list by_age = TAILQ_HEAD_INITIALIZER(by_age);
static struct centry_list orphans = TAILQ_HEAD_INITIALIZER(orphans);
static size_t	 nentries;
static struct event *gc_ev;
static uint64_t	 hits, misses, stale_served;

static int
centry_cmp(struct centry *a, struct centry *b)
{
	if (a->keylen != b->keylen)
		return a->keylen < b->keylen ? -1 : 1;
	return memcmp(a->key, b->key, a->keylen);
}
RB_PROTOTYPE(centry_tree, centry, entry, centry_cmp);
RB_GENERATE(centry_tree, centry, entry, centry_cmp);

static time_t
now_mono(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * The spec as one string: "name=value\0" for every key that is set, in
 * the parser's order.  Values hold no NUL, so equal strings are equal
 * specs (a string keysource and { key_file } are the same one).
 */
static char *
cache_key(const struct keysource *ks, size_t *len)
{
	const char	*name, *value;
	char		*k, *p;
	size_t		 i, n = 0;

	for (i = 0; (name = keysource_key(ks, i, &value)) != NULL; i++)
		if (value != NULL)
			n += strlen(name) + 1 + strlen(value) + 1;
	p = k = secret_alloc(n + 1);
	for (i = 0; (name = keysource_key(ks, i, &value)) != NULL; i++)
		if (value != NULL)
			p += sprintf(p, "%s=%s", name, value) + 1;
	*len = n;
	return k;
}

/* The value may be handed out as it is (not stale). */
static int
centry_fresh(const struct centry *e, time_t now)
{
	if (e->ks->kind == KS_OAUTH2)
		return now - e->fetched < e->expires_in - OAUTH2_REFRESH -
		    OAUTH2_MARGIN;
	return now - e->fetched < keysd_conf->keysd_cache_ttl;
}

/* How long after its fetch a value may still be served stale. */
static int64_t
centry_stale_ttl(const struct centry *e)
{
	int64_t	 stale = keysd_conf->keysd_stale_ttl;

	/* never an access token past its expiry */
	if (e->ks->kind == KS_OAUTH2 && e->expires_in - OAUTH2_MARGIN < stale)
		stale = e->expires_in - OAUTH2_MARGIN;
	return stale;
}

static void
centry_drop_value(struct centry *e)
{
	secret_free(e->value, e->len);
	e->value = NULL;
	e->len = 0;
	e->fp[0] = '\0';
}

static void
centry_free(struct centry *e)
{
	struct kwaiter	*w;

	if (e->orphan)
		TAILQ_REMOVE(&orphans, e, age);
	else {
		RB_REMOVE(centry_tree, &entries, e);
		TAILQ_REMOVE(&by_age, e, age);
		nentries--;
	}
	while ((w = TAILQ_FIRST(&e->waiters)) != NULL) {
		TAILQ_REMOVE(&e->waiters, w, entry);
		free(w);
	}
	centry_drop_value(e);
	secret_free(e->key, e->keylen + 1);
	keysource_free(e->ks);
	free(e);
}

/* Make room: the oldest entry not being fetched goes. */
static void
cache_evict(void)
{
	struct centry	*e;

	TAILQ_FOREACH(e, &by_age, age)
		if (!e->inflight) {
			log_debug("cache full (%d entries): %s forgotten",
			    CACHE_MAX, e->what);
			centry_free(e);
			return;
		}
}

static void
answer_ok(struct centry *e, const struct kwaiter *w, const char *how)
{
	char	 who[64];

	log_debug("%s: %s answered (%s)", keysd_who(w, who, sizeof(who)),
	    e->what, how);
	keysd_answer(w, e->value, e->fp, NULL);
}

/* The source is down: the last good value, with a warning each time. */
static void
answer_stale(struct centry *e, const struct kwaiter *w)
{
	char	 who[64], q[1024];
	time_t	 now = now_mono();

	stale_served++;
	log_warnx("%s: serving the value of %s fetched %lld s ago "
	    "(stale_ttl %lld s): %s%s", keysd_who(w, who, sizeof(who)),
	    e->what, (long long)(now - e->fetched),
	    (long long)keysd_conf->keysd_stale_ttl,
	    log_quote(e->hold_why, q, sizeof(q)),
	    now < e->hold_until ? "; not asking again for a while" : "");
	keysd_answer(w, e->value, e->fp, NULL);
}

static void
answer_failed(const struct kwaiter *w, const char *err)
{
	char	 who[64], q[2500];

	log_warnx("%s: %s", keysd_who(w, who, sizeof(who)),
	    log_quote(err, q, sizeof(q)));
	keysd_answer(w, NULL, NULL, err);
}

/*
 * A fetch is over: answer everyone who waited for it.  value (a secret
 * buffer) is taken over; why says what went wrong, for a Vault
 * keysource without naming it (this adds mount, path and key).
 */
static void
cache_done(void *arg, enum key_result res, char *value, size_t len,
    const char *why)
{
	struct centry	*e = arg;
	struct kwaiter	*w;
	struct kwaiter_list waiters;
	char		 err[2048];
	time_t		 now = now_mono();
	int64_t		 stale = centry_stale_ttl(e);

	e->inflight = 0;
	TAILQ_INIT(&waiters);
	TAILQ_CONCAT(&waiters, &e->waiters, entry);
	if (res == KR_OK) {
		centry_drop_value(e);
		e->value = value;
		e->len = len;
		keysd_fingerprint(value, len, e->fp);
		e->fetched = now;
		e->hold = 0;
		e->hold_until = 0;
		if (!e->orphan) {
			TAILQ_REMOVE(&by_age, e, age);
			TAILQ_INSERT_TAIL(&by_age, e, age);
		}
		if (e->ks->kind == KS_OAUTH2)
			;	/* oauth2.c said so, with the lifetime */
		else if (e->ks->kind == KS_VAULT)
			log_info("%s fetched", e->what);
		else
			log_debug("%s read", e->what);
	} else {
		secret_free(value, len);
		if (e->ks->kind == KS_VAULT || e->ks->kind == KS_OAUTH2)
			snprintf(err, sizeof(err), "%s: %s", e->what, why);
		else
			strlcpy(err, why, sizeof(err));
		if (res == KR_FAILED || (e->value != NULL &&
		    now - e->fetched > stale))
			centry_drop_value(e);
		if (res == KR_OUTAGE && e->value != NULL) {
			e->hold = e->hold == 0 ? HOLD_MIN :
			    e->hold * 2 > HOLD_MAX ? HOLD_MAX : e->hold * 2;
			e->hold_until = now + e->hold;
			strlcpy(e->hold_why, why, sizeof(e->hold_why));
		}
	}
	while ((w = TAILQ_FIRST(&waiters)) != NULL) {
		TAILQ_REMOVE(&waiters, w, entry);
		if (res == KR_OK)
			answer_ok(e, w, "fetched");
		else if (res == KR_OUTAGE && e->value != NULL)
			answer_stale(e, w);
		else
			answer_failed(w, err);
		free(w);
	}
	if (e->orphan || e->value == NULL)
		centry_free(e);
}

/* An access token came, with its lifetime. */
static void
cache_done_oauth2(void *arg, enum key_result res, char *value, size_t len,
    int64_t expires_in, const char *why)
{
	struct centry	*e = arg;

	if (res == KR_OK) {
		/* no expires_in: as long as cache_ttl, plus the margins */
		e->expires_in = expires_in > 0 ? expires_in :
		    keysd_conf->keysd_cache_ttl + OAUTH2_REFRESH +
		    OAUTH2_MARGIN;
	}
	cache_done(e, res, value, len, why);
}

static void
cache_fetch(struct centry *e)
{
	char		*v = NULL, err[1024];
	size_t		 len = 0;
	int		 r;

	e->inflight = 1;
	switch (e->ks->kind) {
	case KS_DATA:
		len = strlen(e->ks->data);
		cache_done(e, KR_OK, secret_strndup(e->ks->data, len), len,
		    NULL);
		return;
	case KS_FILE:
		r = file_read_key(e->ks->path, keysd_conf->keysd_key_dirs, &v,
		    &len, err, sizeof(err));
		cache_done(e, r == 0 ? KR_OK : KR_FAILED, v, len, err);
		return;
	case KS_VAULT:
		vault_fetch(e->ks, cache_done, e);
		return;
	case KS_OAUTH2:
		oauth2_fetch(e->ks, cache_done_oauth2, e);
		return;
	}
	cache_done(e, KR_FAILED, NULL, 0, "incomplete keysource");
}

/* A request for the secret of ks: answered now, or when it is fetched. */
void
cache_request(const struct keysource *ks, const struct kwaiter *req)
{
	struct centry	 key, *e;
	struct kwaiter	*w;
	char		 desc[1024];

	key.key = cache_key(ks, &key.keylen);
	e = RB_FIND(centry_tree, &entries, &key);
	if (e != NULL) {
		secret_free(key.key, key.keylen + 1);
		if (!e->inflight && e->value != NULL &&
		    centry_fresh(e, now_mono())) {
			hits++;
			answer_ok(e, req, "from the cache");
			return;
		}
		misses++;
		if (!e->inflight && e->value != NULL &&
		    now_mono() < e->hold_until &&
		    now_mono() - e->fetched <= centry_stale_ttl(e)) {
			answer_stale(e, req);
			return;
		}
	} else {
		misses++;
		if (nentries >= CACHE_MAX)
			cache_evict();
		e = xcalloc(1, sizeof(*e));
		e->key = key.key;
		e->keylen = key.keylen;
		e->ks = keysource_copy(ks);
		/* safe to log: a path may hold any byte */
		log_quote(keysource_describe(ks, desc, sizeof(desc)), e->what,
		    sizeof(e->what));
		TAILQ_INIT(&e->waiters);
		RB_INSERT(centry_tree, &entries, e);
		TAILQ_INSERT_TAIL(&by_age, e, age);
		nentries++;
	}
	w = xcalloc(1, sizeof(*w));
	*w = *req;
	TAILQ_INSERT_TAIL(&e->waiters, w, entry);
	if (!e->inflight)
		cache_fetch(e);
}

/* Forget every secret (reload, petrelctl keys flush). */
size_t
cache_flush(void)
{
	struct centry	*e, *next;
	size_t		 n = nentries;

	RB_FOREACH_SAFE(e, centry_tree, &entries, next) {
		if (!e->inflight) {
			centry_free(e);
			continue;
		}
		RB_REMOVE(centry_tree, &entries, e);
		TAILQ_REMOVE(&by_age, e, age);
		TAILQ_INSERT_TAIL(&orphans, e, age);
		nentries--;
		e->orphan = 1;
		centry_drop_value(e);
	}
	return n;
}

/* Values past both cache_ttl and stale_ttl are of no more use. */
static void
cache_gc(evutil_socket_t fd, short ev, void *arg)
{
	struct centry	*e, *next;
	struct timeval	 tv = { 60, 0 };
	int64_t		 keep = keysd_conf->keysd_cache_ttl;
	time_t		 now = now_mono();

	if (keysd_conf->keysd_stale_ttl > keep)
		keep = keysd_conf->keysd_stale_ttl;
	TAILQ_FOREACH_SAFE(e, &by_age, age, next)
		if (!e->inflight && (e->ks->kind == KS_OAUTH2 ?
		    now - e->fetched > e->expires_in : now - e->fetched > keep))
			centry_free(e);
	evtimer_add(gc_ev, &tv);
}

void
cache_init(struct event_base *base)
{
	struct timeval	 tv = { 60, 0 };

	gc_ev = evtimer_new(base, cache_gc, NULL);
	evtimer_add(gc_ev, &tv);
}

void
cache_stats(struct keysd_stats *st)
{
	st->cache_entries = nentries;
	st->cache_hits = hits;
	st->cache_misses = misses;
	st->stale_served = stale_served;
}

/* At exit, after the fetchers are gone: nothing is answered. */
void
cache_shutdown(void)
{
	struct centry	*e, *next;

	RB_FOREACH_SAFE(e, centry_tree, &entries, next)
		centry_free(e);
	while ((e = TAILQ_FIRST(&orphans)) != NULL)
		centry_free(e);
	if (gc_ev != NULL)
		event_free(gc_ev);
	gc_ev = NULL;
}
