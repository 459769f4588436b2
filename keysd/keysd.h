/*
 * keysd.h - the key server: the only process that reads keysources
 * (key files under key_dirs, inline key_data, Vault KV v2) and hands a
 * secret to the deliverd worker that asked for it, and to no one else.
 *
 *	keysd.c		life, channels, requests and replies
 *	cache.c		the cache: single-flight fetches, stale serving
 *	file.c		key files under key_dirs
 *	vault.c		Vault over libcurl's multi interface, on libevent
 *	vaultparse.c	Vault's pure parts: URL, vault_allow, the answer
 *	oauth2.c	OAuth 2.0 access tokens from a token endpoint (oauth2.h)
 *	approle.c	vault_auth = approle: login, renew-self, re-login
 *	sign.c		TLS private keys, and signatures made with them
 *	secret.c	memory that held a secret: locked, wiped when freed
 */
#ifndef PETREL_KEYSD_H
#define PETREL_KEYSD_H

#include "secret.h"

#include <bsd/sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define VAULT_BODY_MAX	(1024 * 1024)	/* a Vault answer's size at most */
#define CACHE_MAX	10000		/* entries; the oldest goes first */

struct keysource;
struct event_base;

/* What came of a fetch. */
enum key_result {
	KR_OK,		/* the value */
	KR_FAILED,	/* an answer: refused, missing, denied */
	KR_OUTAGE,	/* the source is down: a stale value may serve */
};

/* A request waiting for its answer: whom to send it to. */
struct kwaiter {
	TAILQ_ENTRY(kwaiter) entry;
	int		 worker;	/* deliverd[worker] */
	uint64_t	 gen;		/* of that worker's channel */
	uint32_t	 peerid;	/* the request id */
	uint32_t	 pid;		/* of the worker, for the logs */
	int		 want;		/* KEY_WANT_* */
	/* set: keysd's own step (sign.c), called instead of a reply */
	void		(*done)(void *arg, const char *secret,
			    const char *fingerprint, const char *error);
	void		*arg;
};
TAILQ_HEAD(kwaiter_list, kwaiter);

/*
 * petrelctl stats: counted where they happen, since keysd started
 * (a flush empties the cache, not the counters).
 */
struct keysd_stats {
	uint64_t	 cache_entries;	/* specs cached now */
	uint64_t	 cache_hits;	/* answered from a fresh value */
	uint64_t	 cache_misses;	/* any other request */
	uint64_t	 vault_requests;	/* HTTP requests, retries too */
	uint64_t	 vault_errors;	/* Vault fetches that failed */
	uint64_t	 stale_served;	/* answers with a stale value */
	uint64_t	 refused;	/* vault_allow, key_dirs, bad specs */
	uint64_t	 file_reads;	/* key files opened to read */
};

/* keysd.c */
extern struct petrel_conf *keysd_conf;
void	 keysd_answer(const struct kwaiter *, const char *secret,
	    const char *fingerprint, const char *error);
void	 keysd_fingerprint(const char *secret, size_t len, char out[33]);
const char *keysd_who(const struct kwaiter *, char *buf, size_t len);

/* sign.c */
struct chan;
struct imsg;
int	 sign_server_key(struct imsg *);
void	 sign_tls_request(const struct keysource *cert,
	    const struct keysource *key, const struct kwaiter *);
int	 sign_request(struct chan *, struct imsg *, int server);
void	 sign_flush(void);
void	 sign_stats(uint64_t *signatures, uint64_t *failed, uint64_t *keys);
void	 sign_shutdown(void);

/* cache.c */
void	 cache_init(struct event_base *);
void	 cache_request(const struct keysource *, const struct kwaiter *);
/* A fetcher's answer: value (a secret buffer, taken over) or why. */
typedef void	(*fetch_done_fn)(void *arg, enum key_result, char *value,
		    size_t len, const char *why);
size_t	 cache_flush(void);
void	 cache_shutdown(void);
void	 cache_stats(struct keysd_stats *);

/* file.c */
int	 file_read_key(const char *path, const char *key_dirs, char **value,
	    size_t *len, char *err, size_t errlen);
char	*file_resolve(const char *path, const char *key_dirs, char *err,
	    size_t errlen);
void	 file_stats(struct keysd_stats *);

/* http.c: the one libcurl multi handle (Vault, OAuth2); void * is CURL * */
struct http_call {
	void		(*done)(void *arg, int curlcode);
	void		*arg;
};
void	 http_init(struct event_base *);
void	 http_add(void *easy, struct http_call *);
void	 http_remove(void *easy);
void	 http_shutdown(void);
size_t	 http_body_add(char **body, size_t *blen, size_t *bcap, int *toobig,
	    const char *p, size_t len, size_t max);

/* vault.c */
void	 vault_init(struct event_base *, struct petrel_conf *);
void	 vault_read_token(void);
void	 vault_fetch(const struct keysource *, fetch_done_fn, void *arg);
void	 vault_shutdown(void);
void	 vault_stats(struct keysd_stats *);
/*
 * A POST to keysd's own Vault ({vault_address}{path}), for approle.c:
 * json (a secret buffer's text, copied) as the body, token (or NULL)
 * as X-Vault-Token.  The answer: status and body (wiped after the
 * call), or status 0 and err when no answer came.
 */
typedef void	(*vault_post_fn)(void *arg, long status, const char *body,
		    size_t len, const char *err);
int	 vault_post(const char *path, const char *token, const char *json,
	    vault_post_fn, void *arg, char *err, size_t errlen);
const char *vault_home(void);

/* approle.c */
/* The token for a fetch: now or once logged in (gen: for a refusal). */
typedef void	(*approle_fn)(void *arg, const char *token, uint64_t gen,
		    enum key_result, const char *why);
void	 approle_init(struct event_base *, struct petrel_conf *);
int	 approle_enabled(void);
void	 approle_token(approle_fn, void *arg);
void	 approle_cancel(void *arg);
void	 approle_refused(uint64_t gen);
void	 approle_reset(void);
void	 approle_shutdown(void);

/* vaultparse.c: no I/O, so it can be tested and fuzzed on its own */
enum vault_class {
	VC_OK,		/* value set */
	VC_NOKEY,	/* 200 without data.data[key] */
	VC_NOTSTRING,	/* 200 with a value that is not a string */
	VC_NOPATH,	/* 404 {"errors":[]} */
	VC_DELETED,	/* the latest version is deleted ... */
	VC_DESTROYED,	/* ... or destroyed */
	VC_DENIED,	/* 403 */
	VC_SEALED,	/* 503 */
	VC_RETRY,	/* 412, 429, other 5xx: try again */
	VC_UNEXPECTED,	/* anything else */
};

struct vault_answer {
	enum vault_class cls;
	char		*value;		/* VC_OK: a secret buffer */
	size_t		 len;
	char		 why[512];	/* not VC_OK: the reason, no secret */
};

int	 vault_parse(long status, const char *body, size_t len,
	    const char *key, struct vault_answer *);
enum key_result vault_class_result(enum vault_class);
int	 vault_allowed(const char *allow, const char *mount, const char *path);
int	 vault_check_path(const char *mount, const char *path, char *err,
	    size_t errlen);
char	*vault_url(const char *address, const char *mount, const char *path);
int	 vault_header_ok(const char *);
int	 vault_parse_auth(const char *body, size_t len, char **token,
	    int64_t *lease, int *renewable, char *why, size_t whylen);
int	 vault_address_ok(const char *);


#endif
