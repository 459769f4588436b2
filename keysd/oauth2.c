/*
 * oauth2.c - OAuth 2.0 access tokens (RFC 6749) for oauth2_*
 * keysources, over keysd's one libcurl multi handle (http.c), as for
 * Vault (a slow endpoint holds up nothing else).
 *
 * A fetch first reads the client secret and the refresh token, which
 * are keysources themselves (key_data, a key file under key_dirs, or
 * Vault), then POSTs a form to oauth2_token_url:
 *
 *	grant_type=client_credentials[&scope=S]
 *	grant_type=refresh_token&refresh_token=R[&scope=S]
 *
 * with the client authenticated by HTTP Basic (form-encoded id and
 * secret, RFC 6749 2.3.1) or by client_id and client_secret in the
 * body (oauth2_client_auth = 'body').  A 200 answer is JSON with
 * access_token, token_type (Bearer) and expires_in; a refresh_token in
 * it replaces ours (rotation).  A rotated refresh token is kept in
 * keysd's state_dir, mode 0600, written durably, with the fingerprint
 * of the one the keysource holds: while the keysource still holds that
 * one, the saved one is used instead (so a restart keeps the chain);
 * when the operator puts a new one in the keysource, it wins.
 *
 * Errors say what the endpoint said (RFC 6749 5.2: invalid_client,
 * invalid_grant, ...) with its status; 5xx, timeouts and unreachable
 * endpoints are outages.  No secret, token or form body is ever
 * logged; the form, the Basic header and the answer are in memory
 * that is wiped.  vault_connect_timeout and vault_timeout bound a
 * request.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "keysource.h"
#include "log.h"
#include "util.h"
#include "keysd.h"
#include "oauth2.h"

#define OAUTH2_BODY_MAX	(64 * 1024)

struct oreq {
	TAILQ_ENTRY(oreq) entry;
	struct keysource *ks;
	oauth2_done_fn	 done;
	void		*arg;
	int		 step;		/* 0 secret, 1 refresh token, 2 POST */
	char		*secret;	/* client secret: wiped */
	size_t		 slen;
	char		*rtok;		/* refresh token in use: wiped */
	size_t		 rlen;
	char		 origin[33];	/* fingerprint of the keysource's */
	char		 state[64];	/* its state file's name */
	CURL		*easy;
	struct curl_slist *hdrs;	/* Basic: wiped */
	char		*form;		/* wiped */
	size_t		 flen, fcap;
	char		*body;		/* the answer: wiped */
	size_t		 blen, bcap;
	int		 toobig;
	char		 errbuf[CURL_ERROR_SIZE];
	struct http_call call;		/* its transfer's end: oreq_finish */
};
TAILQ_HEAD(oreq_list, oreq);

static struct {
	struct event_base *base;
	struct petrel_conf *conf;
	struct oreq_list reqs;
	uint64_t	 requests, errors;
} o;

static void	oreq_next(struct oreq *);
static void	oreq_finish(void *, int);

static void
oreq_free(struct oreq *r)
{
	struct curl_slist *h;

	TAILQ_REMOVE(&o.reqs, r, entry);
	if (r->easy != NULL) {
		http_remove(r->easy);
		curl_easy_cleanup(r->easy);
	}
	for (h = r->hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(r->hdrs);
	secret_free(r->secret, r->slen + 1);
	secret_free(r->rtok, r->rlen + 1);
	secret_free(r->form, r->fcap);
	secret_free(r->body, r->bcap);
	keysource_free(r->ks);
	free(r);
}

static void
oreq_done(struct oreq *r, enum key_result res, char *value, size_t len,
    int64_t expires_in, const char *why)
{
	oauth2_done_fn	 done = r->done;
	void		*arg = r->arg;

	if (res != KR_OK)
		o.errors++;
	oreq_free(r);
	done(arg, res, value, len, expires_in, why);
}

/* A secret buffer of len + 1 bytes, NUL-ended, no trailing newline. */
static char *
trim_secret(char *v, size_t *len)
{
	while (*len > 0 && (v[*len - 1] == '\n' || v[*len - 1] == '\r'))
		v[--*len] = '\0';
	return v;
}

/* A nested keysource's value came (from Vault, or at once). */
static void
oreq_nested(void *arg, enum key_result res, char *value, size_t len,
    const char *why)
{
	struct oreq	*r = arg;
	char		 err[1024], d[512];
	const struct keysource *sub = r->step == 0 ?
	    r->ks->oauth2_client_secret : r->ks->oauth2_refresh_token;

	if (res != KR_OK) {
		secret_free(value, len);
		snprintf(err, sizeof(err), "%s (%s): %s", r->step == 0 ?
		    "oauth2_client_secret" : "oauth2_refresh_token",
		    keysource_describe(sub, d, sizeof(d)), why);
		oreq_done(r, res, NULL, 0, 0, err);
		return;
	}
	/* a copy NUL-ended: key files may end in a newline */
	if (r->step == 0) {
		r->secret = secret_alloc(len + 1);
		memcpy(r->secret, value, len);
		r->slen = len;
		trim_secret(r->secret, &r->slen);
	} else {
		r->rtok = secret_alloc(len + 1);
		memcpy(r->rtok, value, len);
		r->rlen = len;
		trim_secret(r->rtok, &r->rlen);
	}
	secret_free(value, len);
	r->step++;
	oreq_next(r);
}

static void
nested_fetch(struct oreq *r, const struct keysource *sub)
{
	char	*v = NULL, err[1024];
	size_t	 len = 0;
	int	 rc;

	switch (sub->kind) {
	case KS_DATA:
		len = strlen(sub->data);
		oreq_nested(r, KR_OK, secret_strndup(sub->data, len), len,
		    NULL);
		return;
	case KS_FILE:
		rc = file_read_key(sub->path, o.conf->keysd_key_dirs, &v, &len,
		    err, sizeof(err));
		oreq_nested(r, rc == 0 ? KR_OK : KR_FAILED, v, len, err);
		return;
	case KS_VAULT:
		vault_fetch(sub, oreq_nested, r);
		return;
	default:
		oreq_nested(r, KR_FAILED, NULL, 0, "not a plain keysource");
	}
}

/* application/x-www-form-urlencoded, appended to a secret buffer. */
static char *
form_enc(char *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u;

	for (u = (const unsigned char *)s; *u != '\0'; u++)
		if ((*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z') ||
		    (*u >= '0' && *u <= '9') || strchr("-._~", *u) != NULL)
			*p++ = *u;
		else if (*u == ' ')
			*p++ = '+';
		else {
			*p++ = '%';
			*p++ = hex[*u >> 4];
			*p++ = hex[*u & 15];
		}
	return p;
}

/* "&name=value" (no '&' first), sep between them. */
static void
form_add(char **buf, size_t *len, size_t *cap, const char *name,
    const char *value, int sep)
{
	size_t		 need = 3 * strlen(name) + 3 * strlen(value) + 3;
	char		*p;

	secret_grow(buf, *len, cap, need, 0);
	p = *buf + *len;
	if (*len > 0)
		*p++ = '&';
	p = form_enc(p, name);
	*p++ = sep;
	p = form_enc(p, value);
	*p = '\0';
	*len = p - *buf;
}

/* The state file's name: which endpoint, client and refresh token. */
static void
state_name(struct oreq *r)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	char		 d[600];
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	size_t		 i;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, r->ks->oauth2_token_url,
	    strlen(r->ks->oauth2_token_url) + 1);
	EVP_DigestUpdate(ctx, r->ks->oauth2_client_id,
	    strlen(r->ks->oauth2_client_id) + 1);
	keysource_describe(r->ks->oauth2_refresh_token, d, sizeof(d));
	EVP_DigestUpdate(ctx, d, strlen(d));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	memcpy(r->state, "oauth2-", 7);
	for (i = 0; i < 16; i++)
		snprintf(r->state + 7 + 2 * i, 3, "%02x", md[i]);
	strlcat(r->state, ".refresh", sizeof(r->state));
}

/*
 * Which refresh token a saved one descends from: SHA-256, the first 16
 * bytes in hex (not keysd_fingerprint(): its key is new at each start).
 */
static void
origin_hash(const char *tok, size_t len, char out[33])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen;
	size_t		 i;

	EVP_Digest(tok, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	explicit_bzero(md, sizeof(md));
}

/*
 * The refresh token to use: the saved rotated one when the keysource
 * still holds the one it came from.  File: "origin FP\ntoken T\n".
 */
static void
state_load(struct oreq *r)
{
	char		 path[1200], *buf, *tok, *nl;
	size_t		 len;
	char		 err[1024];

	origin_hash(r->rtok, r->rlen, r->origin);
	state_name(r);
	if (o.conf->keysd_state_dir == NULL || *o.conf->keysd_state_dir == 0)
		return;
	snprintf(path, sizeof(path), "%s/%s", o.conf->keysd_state_dir,
	    r->state);
	if (file_read_secret("oauth2 state", path, 1, &buf, &len, err,
	    sizeof(err)) == -1) {
		if (access(path, F_OK) == 0)
			log_warnx("%s", err);
		return;
	}
	if (len > 40 && strncmp(buf, "origin ", 7) == 0 &&
	    strncmp(buf + 7, r->origin, 32) == 0 &&
	    strncmp(buf + 39, "\ntoken ", 7) == 0) {
		/* the reader took the last newline off */
		tok = buf + 46;
		if ((nl = memchr(tok, '\n', len - 46)) == NULL)
			nl = buf + len;
		if (nl > tok) {
			secret_free(r->rtok, r->rlen + 1);
			r->rlen = nl - tok;
			r->rtok = secret_strndup(tok, r->rlen);
			log_debug("oauth2: using the rotated refresh token "
			    "saved in %s", path);
		}
	}
	secret_free(buf, len);
}

/* A rotated refresh token: saved for the next fetch and restart. */
static void
state_save(struct oreq *r, const char *tok)
{
	char		*buf, err[1024];
	size_t		 n = 7 + 32 + 7 + strlen(tok) + 2;

	if (o.conf->keysd_state_dir == NULL || *o.conf->keysd_state_dir == 0) {
		log_warnx("oauth2: client %s got a new refresh token but "
		    "state_dir is empty: it is lost when keysd restarts",
		    r->ks->oauth2_client_id);
		return;
	}
	buf = secret_alloc(n + 1);
	snprintf(buf, n + 1, "origin %s\ntoken %s\n", r->origin, tok);
	if (durable_write(o.conf->keysd_state_dir, r->state, buf,
	    strlen(buf), err, sizeof(err)) == -1)
		log_warnx("oauth2: client %s: the rotated refresh token "
		    "could not be saved (lost when keysd restarts): %s",
		    r->ks->oauth2_client_id, err);
	else
		log_info("oauth2: client %s: rotated refresh token saved in "
		    "%s/%s", r->ks->oauth2_client_id, o.conf->keysd_state_dir,
		    r->state);
	secret_free(buf, n + 1);
}

static size_t
oauth2_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct oreq	*r = arg;
	size_t		 len = size * n;

	return http_body_add(&r->body, &r->blen, &r->bcap, &r->toobig, p, len,
	    OAUTH2_BODY_MAX);
}

/* The form, the headers, and the request on its way. */
static void
oreq_post(struct oreq *r)
{
	struct keysource *ks = r->ks;
	size_t		 n, plen = 0, pcap = 0;
	char		*pair = NULL, *hdr;
	unsigned char	*b64;
	int		 basic = strcmp(ks->oauth2_client_auth, "basic") == 0 &&
	    r->secret != NULL;
	CURL		*e;

	form_add(&r->form, &r->flen, &r->fcap, "grant_type", ks->oauth2_grant,
	    '=');
	if (r->rtok != NULL)
		form_add(&r->form, &r->flen, &r->fcap, "refresh_token",
		    r->rtok, '=');
	if (ks->oauth2_scope != NULL)
		form_add(&r->form, &r->flen, &r->fcap, "scope",
		    ks->oauth2_scope, '=');
	if (!basic) {
		form_add(&r->form, &r->flen, &r->fcap, "client_id",
		    ks->oauth2_client_id, '=');
		if (r->secret != NULL)
			form_add(&r->form, &r->flen, &r->fcap,
			    "client_secret", r->secret, '=');
	}
	if (basic) {
		/* RFC 6749 2.3.1: each form-encoded, then id:secret */
		form_add(&pair, &plen, &pcap, ks->oauth2_client_id, r->secret,
		    ':');
		n = 4 * ((plen + 2) / 3) + 1;
		b64 = secret_alloc(n);
		EVP_EncodeBlock(b64, (unsigned char *)pair, plen);
		hdr = secret_alloc(n + 32);
		snprintf(hdr, n + 32, "Authorization: Basic %s", b64);
		r->hdrs = curl_slist_append(r->hdrs, hdr);
		secret_free(hdr, n + 32);
		secret_free(b64, n);
		secret_free(pair, pcap);
	}
	r->hdrs = curl_slist_append(r->hdrs, "Accept: application/json");
	if ((e = curl_easy_init()) == NULL) {
		oreq_done(r, KR_OUTAGE, NULL, 0, 0, "curl_easy_init failed");
		return;
	}
	r->easy = e;
	curl_easy_setopt(e, CURLOPT_URL, ks->oauth2_token_url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->form);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->flen);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (o.conf->keysd_vault_ca_file != NULL &&
	    *o.conf->keysd_vault_ca_file != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO,
		    o.conf->keysd_vault_ca_file);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)o.conf->keysd_vault_timeout * 1000);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)o.conf->keysd_vault_connect_timeout * 1000);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)OAUTH2_BODY_MAX);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "petrel-keysd/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, oauth2_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	r->call.done = oreq_finish;
	r->call.arg = r;
	o.requests++;
	http_add(e, &r->call);
}

/* The next step of a fetch. */
static void
oreq_next(struct oreq *r)
{
	if (r->step == 0) {
		if (r->ks->oauth2_client_secret == NULL) {
			r->step++;
			oreq_next(r);
		} else
			nested_fetch(r, r->ks->oauth2_client_secret);
		return;
	}
	if (r->step == 1) {
		if (r->ks->oauth2_refresh_token == NULL) {
			r->step++;
			oreq_next(r);
		} else
			nested_fetch(r, r->ks->oauth2_refresh_token);
		return;
	}
	if (r->rtok != NULL)
		state_load(r);
	oreq_post(r);
}

/* The answer: a token, or what the endpoint said, with no secret. */
static void
oreq_answer(struct oreq *r, long status)
{
	json_t		*root = NULL, *v;
	json_error_t	 jerr;
	const char	*tok, *type, *rt, *ecode, *edesc;
	char		 why[1024], q[600];
	int64_t		 expires = 0;
	enum key_result	 res;

	if (r->body != NULL)
		root = json_loadb(r->body, r->blen, 0, &jerr);
	if (status == 200) {
		if (root == NULL || !json_is_object(root) ||
		    (tok = json_string_value(json_object_get(root,
		    "access_token"))) == NULL || *tok == '\0') {
			snprintf(why, sizeof(why), "token endpoint answered "
			    "200 without an access_token");
			goto fail;
		}
		type = json_string_value(json_object_get(root, "token_type"));
		if (type == NULL || strcasecmp(type, "Bearer") != 0) {
			snprintf(why, sizeof(why), "token endpoint answered "
			    "token_type %s, not Bearer",
			    type ? log_quote(type, q, sizeof(q)) : "(none)");
			goto fail;
		}
		v = json_object_get(root, "expires_in");
		if (json_is_integer(v))
			expires = json_integer_value(v);
		else if (json_is_string(v))	/* some send "3599" */
			expires = strtoll(json_string_value(v), NULL, 10);
		if (expires < 0)
			expires = 0;
		rt = json_string_value(json_object_get(root, "refresh_token"));
		if (rt != NULL && *rt != '\0' && r->rtok != NULL &&
		    strcmp(rt, r->rtok) != 0)
			state_save(r, rt);
		log_info("oauth2: %s token for client %s fetched, expires in "
		    "%lld s", r->ks->oauth2_grant, r->ks->oauth2_client_id,
		    (long long)expires);
		tok = secret_strndup(tok, strlen(tok));
		json_decref(root);
		oreq_done(r, KR_OK, (char *)tok, strlen(tok), expires, NULL);
		return;
	}
	ecode = root ? json_string_value(json_object_get(root, "error")) :
	    NULL;
	edesc = root ? json_string_value(json_object_get(root,
	    "error_description")) : NULL;
	if (ecode != NULL) {
		char	 q2[600];

		snprintf(why, sizeof(why), "token endpoint answered %ld %s%s%s",
		    status, log_quote(ecode, q, sizeof(q)),
		    edesc ? ": " : "",
		    edesc ? log_quote(edesc, q2, sizeof(q2)) : "");
	} else
		snprintf(why, sizeof(why), "token endpoint answered HTTP %ld",
		    status);
fail:
	res = status >= 500 || status == 429 ? KR_OUTAGE : KR_FAILED;
	if (root != NULL)
		json_decref(root);
	oreq_done(r, res, NULL, 0, 0, why);
}

static void
oreq_finish(void *arg, int rc)
{
	struct oreq	*r = arg;
	char	 why[1024];
	long	 status = 0;

	if (rc != CURLE_OK) {
		snprintf(why, sizeof(why), "token endpoint: %s",
		    r->toobig ? "answer too large" : r->errbuf[0] ?
		    r->errbuf : curl_easy_strerror(rc));
		oreq_done(r, KR_OUTAGE, NULL, 0, 0, why);
		return;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	oreq_answer(r, status);
}

/*
 * state_dir, before privileges are dropped: made (0700, parents too)
 * when missing, and given to keysd's user when we are root.
 */
static void
state_dir_init(struct petrel_conf *conf)
{
	const char	*dir = conf->keysd_state_dir;
	struct passwd	*pw;
	char		 p[1024], *s;

	if (dir == NULL || *dir == '\0' || strlen(dir) >= sizeof(p))
		return;
	strlcpy(p, dir, sizeof(p));
	for (s = p + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(p, 0755) == -1 && errno != EEXIST)
			break;
		*s = '/';
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("keysd state_dir %s", dir);
		return;
	}
	if (geteuid() == 0 && conf->privsep &&
	    (pw = getpwnam(conf->keysd_user)) != NULL &&
	    chown(dir, pw->pw_uid, pw->pw_gid) == -1)
		log_warn("keysd state_dir %s: chown", dir);
}

/* After http_init() (curl_global_init), before dropping privileges. */
void
oauth2_init(struct event_base *base, struct petrel_conf *conf)
{
	o.base = base;
	o.conf = conf;
	state_dir_init(conf);
	TAILQ_INIT(&o.reqs);
}

void
oauth2_fetch(const struct keysource *ks, oauth2_done_fn done, void *arg)
{
	struct oreq	*r;

	r = xcalloc(1, sizeof(*r));
	r->ks = keysource_copy(ks);
	r->done = done;
	r->arg = arg;
	TAILQ_INSERT_TAIL(&o.reqs, r, entry);
	oreq_next(r);
}

void
oauth2_stats(uint64_t *requests, uint64_t *errors)
{
	*requests = o.requests;
	*errors = o.errors;
}

void
oauth2_shutdown(void)
{
	struct oreq	*r;

	while ((r = TAILQ_FIRST(&o.reqs)) != NULL)
		oreq_free(r);
}
