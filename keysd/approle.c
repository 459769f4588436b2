/*
 * approle.c - vault_auth = approle: keysd's own Vault token, from an
 * AppRole login, kept alive by renewal.
 *
 *	POST {vault_address}/v1/auth/approle/login
 *	     {"role_id": ..., "secret_id": ...}	-> auth.client_token,
 *						   auth.lease_duration,
 *						   auth.renewable
 *	POST {vault_address}/v1/auth/token/renew-self	(X-Vault-Token)
 *
 * role_id and secret_id are read from vault_role_id_file and
 * vault_secret_id_file, as keysd's user, at each login (a rotated
 * secret_id is picked up) and wiped after it.  The token lives only
 * here, in a wiped buffer.  It is renewed at two thirds of its lease;
 * keysd logs in again at two thirds of the lease when the token is not
 * renewable or a renewal came back shorter than the lease at login
 * (the token nears its max TTL), when a renewal fails, when Vault
 * refuses the token, and at a flush or reload (approle_reset()).
 *
 * Fetches that need the token while there is none wait here for one
 * login (single-flight).  A failed login answers them as an outage,
 * so the cache serves what it has within stale_ttl; further logins
 * wait a back-off (2 s doubling to 1 min).  Errors and logs name the
 * files and Vault's answer, never the role_id, secret_id or token.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "util.h"
#include "keysd.h"

#define LOGIN_PATH	"/v1/auth/approle/login"
#define RENEW_PATH	"/v1/auth/token/renew-self"
#define BACKOFF_MIN	2	/* s between failed logins, */
#define BACKOFF_MAX	60	/* doubling to this */

struct awaiter {
	TAILQ_ENTRY(awaiter) entry;
	approle_fn	 fn;
	void		*arg;
};
TAILQ_HEAD(awaiter_list, awaiter);

static struct {
	struct petrel_conf *conf;
	int		 on;
	char		*token;		/* secret, or NULL */
	char		*role, *secret;	/* during a login: its ids (secret) */
	uint64_t	 gen;		/* of the token: bumped at each login */
	time_t		 expires;	/* monotonic; 0: never */
	int64_t		 login_lease;	/* lease_duration at login */
	int		 renewable;
	int		 logging_in;	/* a login under way */
	int		 restart;	/* reset meanwhile: its token is old */
	int		 renewing;
	uint64_t	 renew_gen;	/* the token being renewed */
	time_t		 retry_at;	/* after a failed login */
	int		 backoff;
	char		 why[1024];	/* of the last failed login */
	struct event	*timer;		/* renewal, or a login */
	int		 timer_login;	/* the timer logs in, not renews */
	struct awaiter_list waiters;
	uint64_t	 logins, renewals;
} ar;

static void	 approle_login(void);

static void
ids_drop(void)
{
	secret_free_str(ar.role);
	secret_free_str(ar.secret);
	ar.role = ar.secret = NULL;
}

static time_t
now_mono(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int
token_valid(void)
{
	return ar.token != NULL && (ar.expires == 0 || now_mono() < ar.expires);
}

static void
token_drop(void)
{
	secret_free_str(ar.token);
	ar.token = NULL;
	ar.expires = 0;
}

static void
timer_set(int64_t secs, int login)
{
	struct timeval	 tv;

	if (secs < 1)
		secs = 1;
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	ar.timer_login = login;
	evtimer_add(ar.timer, &tv);
}

/* Everyone waiting for a token: here it is, or why not. */
static void
answer_waiters(enum key_result res, const char *why)
{
	struct awaiter_list list;
	struct awaiter	*w;

	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &ar.waiters, entry);
	while ((w = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, w, entry);
		if (res == KR_OK)
			w->fn(w->arg, ar.token, ar.gen, KR_OK, NULL);
		else
			w->fn(w->arg, NULL, 0, res, why);
		free(w);
	}
}

/* Vault's "errors" texts, printable, without the ids in them. */
static void
vault_errors_text(const char *body, size_t len, const char *role,
    const char *secret, char *out, size_t outlen)
{
	json_t		*root, *e;
	json_error_t	 jerr;
	const char	*s;
	size_t		 i, o = 0;

	out[0] = '\0';
	if (body == NULL || len == 0 ||
	    (root = json_loadb(body, len, 0, &jerr)) == NULL)
		return;
	json_array_foreach(json_object_get(root, "errors"), i, e) {
		if ((s = json_string_value(e)) == NULL)
			continue;
		if ((role != NULL && *role && strstr(s, role) != NULL) ||
		    (secret != NULL && *secret && strstr(s, secret) != NULL))
			s = "(a text naming the credentials, not repeated)";
		if (o > 0 && o + 2 < outlen) {
			out[o++] = ';';
			out[o++] = ' ';
		}
		for (; *s != '\0' && o + 1 < outlen; s++)
			out[o++] = *s >= 0x20 && *s <= 0x7e ? *s : '?';
		out[o] = '\0';
	}
	json_decref(root);
}

/* The next step for a token with lease seconds left: renew or log in. */
static void
schedule(int64_t lease, int renew)
{
	if (lease == 0) {
		/* a token that does not expire: nothing to do */
		evtimer_del(ar.timer);
		return;
	}
	timer_set(lease * 2 / 3, !renew);
}

static void
login_failed(const char *fmt, const char *detail)
{
	char	 q[1200];

	snprintf(ar.why, sizeof(ar.why), fmt, vault_home() ? vault_home() :
	    "?", detail);
	ar.backoff = ar.backoff == 0 ? BACKOFF_MIN :
	    ar.backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : ar.backoff * 2;
	ar.retry_at = now_mono() + ar.backoff;
	log_warnx("%s; next login in %d s at the earliest%s",
	    log_quote(ar.why, q, sizeof(q)), ar.backoff, token_valid() ?
	    " (the current token stays in use until it expires)" : "");
	if (token_valid())
		timer_set(ar.backoff, 1);
	answer_waiters(KR_OUTAGE, ar.why);
}

static void
login_done(void *arg, long status, const char *body, size_t len,
    const char *err)
{
	char		*tok, why[512], ve[400], d[512];
	int64_t		 lease;
	int		 renewable;

	ve[0] = '\0';
	ar.logging_in = 0;
	if (status != 200) {
		/* Vault does not repeat the ids; if one ever did: not here */
		vault_errors_text(body, len, ar.role, ar.secret, ve,
		    sizeof(ve));
	}
	ids_drop();
	if (ar.restart) {
		/* a flush came meanwhile: that login is not the one */
		ar.restart = 0;
		approle_login();
		return;
	}
	if (status == 0) {
		login_failed("Vault login (AppRole) at %s failed: %s", err);
		return;
	}
	if (status != 200) {
		snprintf(d, sizeof(d), "HTTP %ld%s%s%s", status,
		    *ve ? ": " : "", ve, status == 400 || status == 403 ?
		    " (check vault_role_id_file and vault_secret_id_file)" :
		    "");
		login_failed("Vault login (AppRole) at %s refused: %s", d);
		return;
	}
	if (vault_parse_auth(body, len, &tok, &lease, &renewable, why,
	    sizeof(why)) == -1) {
		login_failed("Vault login (AppRole) at %s failed: %s", why);
		return;
	}
	token_drop();
	ar.token = tok;
	ar.gen++;
	ar.logins++;
	ar.login_lease = lease;
	ar.renewable = renewable;
	ar.expires = lease > 0 ? now_mono() + lease : 0;
	ar.backoff = 0;
	ar.retry_at = 0;
	ar.why[0] = '\0';
	log_info("logged in to Vault at %s with AppRole (login %llu): the "
	    "token is valid for %lld s%s, %s", vault_home(),
	    (unsigned long long)ar.logins, (long long)lease,
	    lease == 0 ? " (no expiry)" : "", renewable ?
	    "renewable: renewing at two thirds of that" :
	    "not renewable: logging in again at two thirds of that");
	schedule(lease, renewable);
	answer_waiters(KR_OK, NULL);
}

static void
approle_login(void)
{
	const struct petrel_conf *c = ar.conf;
	char		*role = NULL, *secret = NULL, *json = NULL;
	size_t		 rlen = 0, slen = 0, n = 0;
	char		 err[800], q[1200];
	const char	*p;

	if (ar.logging_in)
		return;
	evtimer_del(ar.timer);
	if (file_read_secret("vault_role_id_file", c->keysd_vault_role_id_file,
	    0, &role, &rlen, err, sizeof(err)) == -1 ||
	    file_read_secret("vault_secret_id_file",
	    c->keysd_vault_secret_id_file, 0, &secret, &slen, err,
	    sizeof(err)) == -1) {
		login_failed("Vault login (AppRole) at %s: %s", err);
		goto done;
	}
	/* ids go into JSON as they are: no quote, backslash or control */
	for (p = role; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
			break;
	if (*p == '\0')
		for (p = secret; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
				break;
	if (*p != '\0') {
		snprintf(err, sizeof(err), "%s or %s holds a byte an AppRole "
		    "id cannot have (a second line?)",
		    c->keysd_vault_role_id_file, c->keysd_vault_secret_id_file);
		login_failed("Vault login (AppRole) at %s: %s", err);
		goto done;
	}
	n = rlen + slen + 40;
	json = secret_alloc(n);
	snprintf(json, n, "{\"role_id\":\"%s\",\"secret_id\":\"%s\"}", role,
	    secret);
	ar.logging_in = 1;
	ids_drop();
	ar.role = role;
	ar.secret = secret;
	role = secret = NULL;
	log_debug("logging in to Vault at %s with AppRole",
	    vault_home() ? log_quote(vault_home(), q, sizeof(q)) : "?");
	if (vault_post(LOGIN_PATH, NULL, json, login_done, NULL, err,
	    sizeof(err)) == -1) {
		ar.logging_in = 0;
		ids_drop();
		login_failed("Vault login (AppRole) at %s: %s", err);
	}
done:
	if (json != NULL)
		secret_free(json, n);
	if (role != NULL)
		secret_free(role, rlen);
	if (secret != NULL)
		secret_free(secret, slen);
}

static void
renew_done(void *arg, long status, const char *body, size_t len,
    const char *err)
{
	char		*tok, why[512], ve[400];
	int64_t		 lease;
	int		 renewable;

	ar.renewing = 0;
	if (ar.token == NULL || ar.renew_gen != ar.gen)
		return;		/* another token by now */
	if (status == 200 && vault_parse_auth(body, len, &tok, &lease, &renewable,
	    why, sizeof(why)) == 0) {
		secret_free_str(tok);	/* the same token */
		ar.renewals++;
		ar.expires = lease > 0 ? now_mono() + lease : 0;
		ar.renewable = renewable;
		if (renewable && lease >= ar.login_lease) {
			log_info("Vault token renewed (renewal %llu): valid "
			    "for %lld s", (unsigned long long)ar.renewals,
			    (long long)lease);
			schedule(lease, 1);
		} else {
			log_info("Vault token renewed (renewal %llu), but "
			    "only for %lld s (%s): logging in again at two "
			    "thirds of that", (unsigned long long)ar.renewals,
			    (long long)lease, renewable ? "it nears its max "
			    "TTL" : "no longer renewable");
			schedule(lease, 0);
		}
		return;
	}
	if (status == 0)
		snprintf(why, sizeof(why), "%s", err);
	else if (status != 200) {
		vault_errors_text(body, len, NULL, NULL, ve, sizeof(ve));
		snprintf(why, sizeof(why), "HTTP %ld%s%s", status,
		    *ve ? ": " : "", ve);
	}
	if (status == 403)
		token_drop();	/* revoked or expired: of no more use */
	log_warnx("Vault token renewal (renew-self) at %s failed: %s; "
	    "logging in again", vault_home() ? vault_home() : "?", why);
	approle_login();
}

static void
approle_renew(void)
{
	char	 err[800];

	if (ar.renewing || ar.token == NULL)
		return;
	ar.renewing = 1;
	ar.renew_gen = ar.gen;
	if (vault_post(RENEW_PATH, ar.token, "{}", renew_done, NULL, err,
	    sizeof(err)) == -1) {
		ar.renewing = 0;
		log_warnx("Vault token renewal: %s; logging in again", err);
		approle_login();
	}
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	if (ar.timer_login || !ar.renewable)
		approle_login();
	else
		approle_renew();
}

void
approle_init(struct event_base *base, struct petrel_conf *conf)
{
	ar.conf = conf;
	ar.on = strcmp(conf->keysd_vault_auth, "approle") == 0;
	TAILQ_INIT(&ar.waiters);
	ar.timer = evtimer_new(base, timer_cb, NULL);
}

int
approle_enabled(void)
{
	return ar.on;
}

/* The token for a fetch: at once, or after the login under way. */
void
approle_token(approle_fn fn, void *arg)
{
	struct awaiter	*w;

	if (token_valid()) {
		fn(arg, ar.token, ar.gen, KR_OK, NULL);
		return;
	}
	if (!ar.logging_in && now_mono() < ar.retry_at) {
		fn(arg, NULL, 0, KR_OUTAGE, ar.why);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->fn = fn;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&ar.waiters, w, entry);
	approle_login();
}

/* A fetch that waits no more (keysd is stopping). */
void
approle_cancel(void *arg)
{
	struct awaiter	*w, *next;

	TAILQ_FOREACH_SAFE(w, &ar.waiters, entry, next)
		if (w->arg == arg) {
			TAILQ_REMOVE(&ar.waiters, w, entry);
			free(w);
		}
}

/* Vault refused the token of login gen: the next fetch logs in. */
void
approle_refused(uint64_t gen)
{
	if (gen != ar.gen || ar.token == NULL)
		return;
	token_drop();
	evtimer_del(ar.timer);
	ar.retry_at = 0;
}

/* Start, flush or reload: forget the token, log in at the next fetch. */
void
approle_reset(void)
{
	if (!ar.on)
		return;
	token_drop();
	evtimer_del(ar.timer);
	ar.retry_at = 0;
	ar.backoff = 0;
	if (ar.logging_in)
		ar.restart = 1;
}

void
approle_shutdown(void)
{
	struct awaiter	*w;

	while ((w = TAILQ_FIRST(&ar.waiters)) != NULL) {
		TAILQ_REMOVE(&ar.waiters, w, entry);
		free(w);
	}
	token_drop();
	ids_drop();
	if (ar.timer != NULL)
		event_free(ar.timer);
	ar.timer = NULL;
}
