/*
 * vault.c - Vault KV v2 over keysd's one libcurl multi handle, driven
 * by libevent (http.c), so a slow Vault holds up nothing else and
 * connections to Vault are reused.
 *
 *	GET {address}/v1/{mount}/data/{path}
 *	X-Vault-Token, X-Vault-Request: true, X-Vault-Namespace when set
 *
 * The address, token and namespace come from the keysource, else from
 * [keysd] (the token from vault_token_file, read as keysd's user, again
 * on a flush), else from $VAULT_ADDR, $VAULT_TOKEN and $VAULT_NAMESPACE
 * as keysd found them at start.  Only http and https, no redirects,
 * TLS verified, at most 1 MiB of answer, vault_connect_timeout to
 * connect and vault_timeout for the whole fetch, retries of 412, 429
 * and 5xx (not 503: sealed) included.  The URL holds no token, so
 * curl's error texts may be logged; the token header and the answer
 * are built and kept in memory that is wiped.
 *
 * With vault_auth = approle, keysd's own token comes from approle.c: a
 * fetch waits for it (single-flight login), and a 403 for it makes
 * approle.c log in again, once per fetch.  vault_post() carries
 * approle.c's logins and renewals the same way.
 */
#include "config.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "keysource.h"
#include "log.h"
#include "util.h"
#include "keysd.h"

#define VAULT_TRIES	3

/* One fetch, possibly over several tries. */
struct vreq {
	TAILQ_ENTRY(vreq) entry;
	CURL		*easy;
	struct curl_slist *hdrs;	/* the token: wiped */
	char		*url;
	char		*key;		/* vault_key */
	char		*what;		/* for logs: "vault m/p#k" */
	char		*addr;		/* for errors: no token in it */
	char		*body;		/* the answer: wiped */
	size_t		 blen, bcap;
	int		 toobig;
	int		 tries;
	struct timespec	 start;
	struct event	*retry_ev;
	char		 errbuf[CURL_ERROR_SIZE];
	fetch_done_fn	 done;
	void		*arg;
	vault_post_fn	 post_done;	/* a vault_post(): the raw answer */
	char		*post;		/* its body: wiped */
	size_t		 postlen;
	char		*ns;		/* X-Vault-Namespace, or NULL */
	int		 approle;	/* keysd's token, from approle.c */
	int		 waiting;	/* for it */
	int		 relogged;	/* after a 403, logged in again */
	uint64_t	 tokgen;	/* which login's token was sent */
	struct http_call call;		/* its transfer's end: vreq_finish */
};
TAILQ_HEAD(vreq_list, vreq);

static struct {
	struct event_base *base;
	struct petrel_conf *conf;
	struct vreq_list reqs;
	char		*env_addr, *env_ns;
	char		*env_token;		/* secret */
	char		*file_token;		/* secret */
	char		 file_err[800];		/* why there is none */
	uint64_t	 requests, errors;	/* petrelctl stats */
} v;

static double
elapsed(const struct vreq *r)
{
	struct timespec	 now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - r->start.tv_sec) +
	    (now.tv_nsec - r->start.tv_nsec) / 1e9;
}

static void
vreq_free(struct vreq *r)
{
	struct curl_slist *h;

	TAILQ_REMOVE(&v.reqs, r, entry);
	if (r->waiting)
		approle_cancel(r);
	if (r->easy != NULL) {
		http_remove(r->easy);
		curl_easy_cleanup(r->easy);
	}
	for (h = r->hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(r->hdrs);
	secret_free(r->body, r->bcap);
	if (r->retry_ev != NULL)
		event_free(r->retry_ev);
	free(r->url);
	free(r->key);
	free(r->what);
	free(r->addr);
	free(r->ns);
	if (r->post != NULL)
		secret_free(r->post, r->postlen + 1);
	free(r);
}

/* Over: tell the cache, then forget the request. */
static void
vreq_done(struct vreq *r, enum key_result res, char *value, size_t len,
    const char *why)
{
	fetch_done_fn	 done = r->done;
	void		*arg = r->arg;

	if (res != KR_OK)
		v.errors++;
	vreq_free(r);
	done(arg, res, value, len, why);
}

static size_t
vault_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct vreq	*r = arg;
	size_t		 len = size * n;

	return http_body_add(&r->body, &r->blen, &r->bcap, &r->toobig, p, len,
	    VAULT_BODY_MAX);
}

/* Start (or start again) one try, within what is left of the budget. */
static void
vreq_start(struct vreq *r)
{
	long	 left, conn;

	left = (long)(v.conf->keysd_vault_timeout * 1000 - elapsed(r) * 1000);
	if (left < 1)
		left = 1;
	conn = v.conf->keysd_vault_connect_timeout * 1000;
	if (conn > left)
		conn = left;
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, left);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, conn);
	secret_free(r->body, r->bcap);
	r->body = NULL;
	r->blen = r->bcap = 0;
	r->toobig = 0;
	r->errbuf[0] = '\0';
	r->tries++;
	v.requests++;
	http_add(r->easy, &r->call);
}

static void
vreq_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	vreq_start(arg);
}

/* Back-off before try n+1: 250 ms, then 1 s. */
static int
vreq_retry(struct vreq *r, const char *why)
{
	struct timeval	 tv;
	long		 ms = r->tries == 1 ? 250 : 1000;

	if (r->tries >= VAULT_TRIES || elapsed(r) * 1000 + ms + 100 >=
	    v.conf->keysd_vault_timeout * 1000)
		return -1;
	log_debug("%s: %s; trying again in %ld ms", r->what, why, ms);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (r->retry_ev == NULL)
		r->retry_ev = evtimer_new(v.base, vreq_retry_cb, r);
	evtimer_add(r->retry_ev, &tv);
	return 0;
}

static void
vreq_drop_headers(struct vreq *r)
{
	struct curl_slist *h;

	for (h = r->hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
}

static struct curl_slist *vault_headers(const char *, const char *);

/* approle.c has keysd's token for this fetch, or why there is none. */
static void
vreq_token_cb(void *arg, const char *token, uint64_t gen,
    enum key_result res, const char *why)
{
	struct vreq	*r = arg;

	r->waiting = 0;
	if (token == NULL) {
		vreq_done(r, res, NULL, 0, why);
		return;
	}
	r->tokgen = gen;
	r->hdrs = vault_headers(token, r->ns);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	if (r->tries == 0)
		clock_gettime(CLOCK_MONOTONIC, &r->start);
	vreq_start(r);
}

/* A vault_post() is over: its answer as it came, or why none came. */
static void
vreq_finish_post(struct vreq *r, CURLcode rc)
{
	vault_post_fn	 done = r->post_done;
	void		*arg = r->arg;
	char		 why[1024];
	long		 status = 0;

	why[0] = '\0';
	if (r->toobig || rc == CURLE_FILESIZE_EXCEEDED)
		snprintf(why, sizeof(why), "unexpected answer from Vault at "
		    "%s: larger than %d KiB", r->addr, VAULT_BODY_MAX / 1024);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(why, sizeof(why), "Vault at %s timed out after "
		    "%.1f s", r->addr, elapsed(r));
	else if (rc != CURLE_OK)
		snprintf(why, sizeof(why), "Vault at %s unreachable: %s",
		    r->addr, r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
	else
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 0 || status >= 400)
		v.errors++;
	r->post_done = NULL;
	done(arg, status, status ? r->body : NULL, status ? r->blen : 0,
	    status ? NULL : why);
	vreq_free(r);
}

/* A try is over: an answer, a retry, or an outage. */
static void
vreq_finish(void *arg, int rc)
{
	struct vreq	*r = arg;
	struct vault_answer a;
	char		 why[1024];
	long		 status = 0;

	if (r->post_done != NULL) {
		vreq_finish_post(r, rc);
		return;
	}
	if (r->toobig || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(why, sizeof(why), "unexpected answer from Vault at "
		    "%s: larger than %d KiB", r->addr, VAULT_BODY_MAX / 1024);
		vreq_done(r, KR_FAILED, NULL, 0, why);
		return;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, sizeof(why), "Vault at %s timed out after "
		    "%.1f s", r->addr, elapsed(r));
		vreq_done(r, KR_OUTAGE, NULL, 0, why);
		return;
	}
	if (rc == CURLE_PEER_FAILED_VERIFICATION) {
		/* not an outage: no stale value is served for it */
		snprintf(why, sizeof(why), "Vault at %s: its certificate "
		    "failed verification (vault_ca_file?): %s", r->addr,
		    r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
		vreq_done(r, KR_FAILED, NULL, 0, why);
		return;
	}
	if (rc != CURLE_OK) {
		snprintf(why, sizeof(why), "Vault at %s unreachable: %s",
		    r->addr, r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
		vreq_done(r, KR_OUTAGE, NULL, 0, why);
		return;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	vault_parse(status, r->body, r->blen, r->key, &a);
	secret_free(r->body, r->bcap);
	r->body = NULL;
	r->blen = r->bcap = 0;
	if (a.cls == VC_DENIED && r->approle && !r->relogged) {
		/* revoked or expired early: log in again, ask again */
		log_info("%s: Vault refused keysd's token (403): logging in "
		    "again", log_quote(r->what, why, sizeof(why)));
		r->relogged = 1;
		vreq_drop_headers(r);
		approle_refused(r->tokgen);
		r->waiting = 1;
		approle_token(vreq_token_cb, r);
		return;
	}
	if (a.cls == VC_RETRY) {
		if (vreq_retry(r, a.why) == 0)
			return;
		snprintf(why, sizeof(why), "%s (%d tr%s in %.1f s)", a.why,
		    r->tries, r->tries == 1 ? "y" : "ies", elapsed(r));
		vreq_done(r, KR_OUTAGE, NULL, 0, why);
		return;
	}
	vreq_done(r, vault_class_result(a.cls), a.value, a.len, a.why);
}

/* Before dropping privileges: libcurl, and what the environment says. */
void
vault_init(struct event_base *base, struct petrel_conf *conf)
{
	const char	*s;
	char		*tok;

	v.base = base;
	v.conf = conf;
	TAILQ_INIT(&v.reqs);
	if ((s = getenv("VAULT_ADDR")) != NULL && *s != '\0')
		v.env_addr = xstrdup(s);
	if ((s = getenv("VAULT_NAMESPACE")) != NULL && *s != '\0')
		v.env_ns = xstrdup(s);
	if ((tok = getenv("VAULT_TOKEN")) != NULL) {
		if (*tok != '\0')
			v.env_token = secret_strndup(tok, strlen(tok));
		/* nothing else in this process needs it */
		explicit_bzero(tok, strlen(tok));
		unsetenv("VAULT_TOKEN");
	}
	approle_init(base, conf);
}

/* vault_token_file, as keysd's own user: at start and on a flush. */
void
vault_read_token(void)
{
	const char	*path = v.conf->keysd_vault_token_file;
	struct passwd	*pw;
	char		 err[640];
	size_t		 len;

	secret_free_str(v.file_token);
	v.file_token = NULL;
	v.file_err[0] = '\0';
	if (approle_enabled()) {
		/* a start or a flush: log in again at the next fetch */
		approle_reset();
		return;
	}
	if (path == NULL || *path == '\0')
		return;
	if (file_read_secret("vault_token_file", path, 0, &v.file_token, &len,
	    err, sizeof(err)) == 0 && !vault_header_ok(v.file_token)) {
		secret_free(v.file_token, len);
		v.file_token = NULL;
		snprintf(err, sizeof(err), "vault_token_file %s holds bytes a "
		    "token cannot have (a second line?)", path);
	}
	if (v.file_token != NULL)
		return;
	pw = getpwuid(geteuid());
	snprintf(v.file_err, sizeof(v.file_err), "%s (keysd runs as %s)", err,
	    pw != NULL ? pw->pw_name : "?");
	log_warnx("%s", v.file_err);
}

/* Two base URLs are the same Vault: equal but for trailing slashes. */
static int
same_url(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);

	while (la > 0 && a[la - 1] == '/')
		la--;
	while (lb > 0 && b[lb - 1] == '/')
		lb--;
	return la == lb && strncmp(a, b, la) == 0;
}

/*
 * Where to ask and with which token; -1 with why when that cannot be
 * made out.
 */
static int
vault_target(const struct keysource *ks, const char **addr,
    const char **token, const char **ns, char *why, size_t len)
{
	const struct petrel_conf *c = v.conf;
	const char	*home;

	home = *c->keysd_vault_address ? c->keysd_vault_address : v.env_addr;
	*addr = ks->vault_address ? ks->vault_address : home;
	*ns = ks->vault_namespace ? ks->vault_namespace :
	    *c->keysd_vault_namespace ? c->keysd_vault_namespace : v.env_ns;
	if (ks->vault_token != NULL)
		*token = ks->vault_token;
	else if (*addr != NULL && (home == NULL || !same_url(*addr, home))) {
		/*
		 * keysd's own token goes only to keysd's own Vault: the
		 * spec comes from deliverd, and a vault_address of its
		 * choosing must not be a way to learn the token.
		 */
		snprintf(why, len, "the keysource's vault_address is not "
		    "keysd's Vault ([keysd] vault_address or VAULT_ADDR): "
		    "keysd's token is not sent there; give the keysource "
		    "its own vault_token");
		return -1;
	} else if (approle_enabled()) {
		*token = NULL;		/* approle.c's, once logged in */
	} else if (*c->keysd_vault_token_file != '\0') {
		if ((*token = v.file_token) == NULL) {
			snprintf(why, len, "no Vault token: %s", v.file_err);
			return -1;
		}
	} else
		*token = v.env_token;
	if (*addr == NULL) {
		snprintf(why, len, "no Vault address (set vault_address in the "
		    "keysource or in [keysd], or VAULT_ADDR for petreld)");
		return -1;
	}
	if (!vault_address_ok(*addr)) {
		/* not repeated: it might hold a password */
		snprintf(why, len, "the Vault address is not an http:// or "
		    "https:// URL without user:password@");
		return -1;
	}
	if (*token == NULL && !approle_enabled()) {
		snprintf(why, len, "no Vault token (set vault_token in the "
		    "keysource, vault_token_file in [keysd], or VAULT_TOKEN "
		    "for petreld)");
		return -1;
	}
	if (*token != NULL && !vault_header_ok(*token)) {
		snprintf(why, len, "the Vault token holds bytes a token cannot "
		    "have");
		return -1;
	}
	if (*ns != NULL && !vault_header_ok(*ns)) {
		snprintf(why, len, "the Vault namespace holds bytes a header "
		    "cannot carry");
		return -1;
	}
	return 0;
}

static struct curl_slist *
vault_headers(const char *token, const char *ns)
{
	struct curl_slist *h = NULL;
	size_t		 n;
	char		*buf, *ns_h = NULL;

	n = strlen("X-Vault-Token: ") + strlen(token) + 1;
	buf = secret_alloc(n);
	snprintf(buf, n, "X-Vault-Token: %s", token);
	h = curl_slist_append(h, buf);
	secret_free(buf, n);
	h = curl_slist_append(h, "X-Vault-Request: true");
	if (ns != NULL) {
		if (asprintf(&ns_h, "X-Vault-Namespace: %s", ns) == -1)
			fatal("keysd: asprintf");
		h = curl_slist_append(h, ns_h);
		free(ns_h);
	}
	return h;
}

/* A request to Vault, set up but not started. */
static struct vreq *
vreq_new(const char *url, const char *addr, const char *what)
{
	struct vreq	*r;
	CURL		*e;

	if ((e = curl_easy_init()) == NULL)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	TAILQ_INSERT_TAIL(&v.reqs, r, entry);
	r->easy = e;
	r->what = xstrdup(what);
	r->addr = xstrdup(addr);
	r->url = xstrdup(url);
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (*v.conf->keysd_vault_ca_file != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO,
		    v.conf->keysd_vault_ca_file);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)VAULT_BODY_MAX);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "petrel-keysd/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, vault_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	r->call.done = vreq_finish;
	r->call.arg = r;
	return r;
}

void
vault_fetch(const struct keysource *ks, fetch_done_fn done, void *arg)
{
	const char	*addr, *token, *ns;
	struct vreq	*r;
	char		 why[1024], what[512], *url;

	if (vault_target(ks, &addr, &token, &ns, why, sizeof(why)) == -1) {
		v.errors++;
		done(arg, KR_FAILED, NULL, 0, why);
		return;
	}
	url = vault_url(addr, ks->vault_mount, ks->vault_path);
	r = vreq_new(url, addr, keysource_describe(ks, what, sizeof(what)));
	free(url);
	if (r == NULL) {
		v.errors++;
		done(arg, KR_OUTAGE, NULL, 0, "curl_easy_init failed");
		return;
	}
	r->done = done;
	r->arg = arg;
	r->key = xstrdup(ks->vault_key);
	r->ns = ns != NULL ? xstrdup(ns) : NULL;
	curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
	log_debug("%s: asking %s", r->what, r->addr);
	if (token == NULL) {
		/* keysd's own, from an AppRole login */
		r->approle = 1;
		r->waiting = 1;
		approle_token(vreq_token_cb, r);
		return;
	}
	r->hdrs = vault_headers(token, ns);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	vreq_start(r);
}

/* keysd's own Vault: [keysd] vault_address, else $VAULT_ADDR, or NULL. */
const char *
vault_home(void)
{
	return *v.conf->keysd_vault_address ? v.conf->keysd_vault_address :
	    v.env_addr;
}

int
vault_post(const char *path, const char *token, const char *json,
    vault_post_fn done, void *arg, char *err, size_t errlen)
{
	const char	*addr = vault_home(), *ns;
	struct vreq	*r;
	struct curl_slist *h;
	size_t		 alen;
	char		*url;

	ns = *v.conf->keysd_vault_namespace ? v.conf->keysd_vault_namespace :
	    v.env_ns;
	if (addr == NULL) {
		snprintf(err, errlen, "no Vault address (set vault_address "
		    "in [keysd], or VAULT_ADDR for petreld)");
		return -1;
	}
	if (!vault_address_ok(addr)) {
		snprintf(err, errlen, "the Vault address is not an http:// "
		    "or https:// URL without user:password@");
		return -1;
	}
	if (ns != NULL && !vault_header_ok(ns)) {
		snprintf(err, errlen, "the Vault namespace holds bytes a "
		    "header cannot carry");
		return -1;
	}
	alen = strlen(addr);
	while (alen > 0 && addr[alen - 1] == '/')
		alen--;
	if (asprintf(&url, "%.*s%s", (int)alen, addr, path) == -1)
		fatal("keysd: asprintf");
	r = vreq_new(url, addr, path);
	free(url);
	if (r == NULL) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -1;
	}
	r->post_done = done;
	r->arg = arg;
	r->postlen = strlen(json);
	r->post = secret_strndup(json, r->postlen);
	if (token != NULL)
		r->hdrs = vault_headers(token, ns);
	else {
		h = curl_slist_append(NULL, "X-Vault-Request: true");
		if (ns != NULL) {
			char	*ns_h;

			if (asprintf(&ns_h, "X-Vault-Namespace: %s", ns) == -1)
				fatal("keysd: asprintf");
			h = curl_slist_append(h, ns_h);
			free(ns_h);
		}
		r->hdrs = h;
	}
	r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/json");
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->post);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, (long)r->postlen);
	log_debug("Vault: POST %s%s", r->addr, path);
	vreq_start(r);
	return 0;
}

/* Requests made (each try), and fetches that failed. */
void
vault_stats(struct keysd_stats *st)
{
	st->vault_requests = v.requests;
	st->vault_errors = v.errors;
}

/* At exit: requests under way are dropped unanswered. */
void
vault_shutdown(void)
{
	struct vreq	*r;

	while ((r = TAILQ_FIRST(&v.reqs)) != NULL)
		vreq_free(r);
	approle_shutdown();
	secret_free_str(v.env_token);
	secret_free_str(v.file_token);
	v.env_token = v.file_token = NULL;
	free(v.env_addr);
	free(v.env_ns);
}
