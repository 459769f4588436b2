/*
 * sign.c - the TLS private keys keysd holds, and the signatures it
 * makes with them for the others (lib/tlskey.h), as OpenSMTPD's ca
 * process does:
 *  - smtpd's server key, which petreld reads (it may be readable by
 *    root only) and hands over at start and on reload; the one before
 *    stays, for smtp servers still serving with its certificate;
 *  - the client keys of egress paths.  A deliverd worker asks for a
 *    client certificate with KEY_WANT_TLS and two keysources,
 *    tls_certificate and tls_private_key; both are fetched through
 *    the cache (so Vault, single-flight and stale values work as for
 *    passwords), the key is parsed and checked against the
 *    certificate here, and the worker gets the chain and the key's id,
 *    never the key.
 * A signature names its key by id; smtpd may use only server keys,
 * deliverd only client keys.
 */
#include "config.h"

#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "chan.h"
#include "keysource.h"
#include "log.h"
#include "tlskey.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"
#include "keysd.h"

#define SIGN_MAX_CLIENT	1000	/* client keys held; the oldest used goes */

struct tkey {
	TAILQ_ENTRY(tkey) entry;
	uint8_t		 id[TLSKEY_ID_LEN];
	EVP_PKEY	*pk;
	int		 server;	/* smtpd's */
	uint64_t	 gen;		/* server: of which handover */
	char		 certfp[33], keyfp[33];	/* client: made from */
	char		*chain;		/* client: the PEM handed out */
	char		 what[300];	/* the key's file or keysource */
};
TAILQ_HEAD(tkey_list, tkey);

/* A KEY_WANT_TLS request under way. */
struct treq {
	struct kwaiter	 w;		/* the worker that asked */
	struct keysource *cert, *key;
	char		 certwhat[300], keywhat[300];
	char		*chain;		/* the certificate keysource's text */
	char		 certfp[33];
};

static struct tkey_list	 keys = TAILQ_HEAD_INITIALIZER(keys);
static int		 nclient;
static uint64_t		 server_gen;
static uint64_t		 nsigned, nsign_failed;

static void
tkey_free(struct tkey *k)
{
	TAILQ_REMOVE(&keys, k, entry);
	if (!k->server)
		nclient--;
	EVP_PKEY_free(k->pk);
	free(k->chain);
	free(k);
}

static struct tkey *
tkey_find(const uint8_t id[TLSKEY_ID_LEN], int server)
{
	struct tkey	*k;

	TAILQ_FOREACH(k, &keys, entry)
		if (k->server == server && memcmp(k->id, id,
		    TLSKEY_ID_LEN) == 0)
			return k;
	return NULL;
}

/* smtpd's key from petreld (already checked by it, checked again). */
int
sign_server_key(struct imsg *im)
{
	struct mreader	 r;
	struct tkey	*k, *old, *next;
	const char	*file, *pem;
	char		 err[512], hex[65];
	EVP_PKEY	*pk;

	m_reader(&r, im);
	if (m_get_string(&r, &file) == -1 || m_get_string(&r, &pem) == -1 ||
	    m_end(&r) == -1)
		return -1;
	if ((pk = tlskey_private(pem, strlen(pem), err, sizeof(err))) ==
	    NULL) {
		log_warnx("tls: smtpd's private key %s: %s; STARTTLS will "
		    "fail", file, err);
		return 0;
	}
	k = xcalloc(1, sizeof(*k));
	k->pk = pk;
	k->server = 1;
	k->gen = ++server_gen;
	strlcpy(k->what, file, sizeof(k->what));
	if (tlskey_id(pk, k->id) == -1)
		fatalx("keysd: the id of %s", file);
	/* the one before stays for smtp servers not yet restarted */
	TAILQ_FOREACH_SAFE(old, &keys, entry, next)
		if (old->server && (old->gen + 1 < k->gen ||
		    memcmp(old->id, k->id, TLSKEY_ID_LEN) == 0))
			tkey_free(old);
	TAILQ_INSERT_HEAD(&keys, k, entry);
	tlskey_id_hex(k->id, hex);
	log_info("tls: smtpd's private key %s loaded (public key sha256 "
	    "%.16s)", file, hex);
	return 0;
}

/* Client keys go (reload, keys flush); the next request loads them. */
void
sign_flush(void)
{
	struct tkey	*k, *next;

	TAILQ_FOREACH_SAFE(k, &keys, entry, next)
		if (!k->server)
			tkey_free(k);
}

static void
treq_free(struct treq *t)
{
	keysource_free(t->cert);
	keysource_free(t->key);
	free(t->chain);
	free(t);
}

static void
treq_fail(struct treq *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
treq_fail(struct treq *t, const char *fmt, ...)
{
	va_list	 ap;
	char	 err[1024], who[64], q[2500];

	va_start(ap, fmt);
	vsnprintf(err, sizeof(err), fmt, ap);
	va_end(ap);
	log_warnx("%s: %s", keysd_who(&t->w, who, sizeof(who)),
	    log_quote(err, q, sizeof(q)));
	keysd_answer(&t->w, NULL, NULL, err);
	treq_free(t);
}

static void
treq_answer(struct treq *t, struct tkey *k)
{
	char	 hex[65];

	/* the most recently used last: the first to go is the oldest */
	TAILQ_REMOVE(&keys, k, entry);
	TAILQ_INSERT_TAIL(&keys, k, entry);
	tlskey_id_hex(k->id, hex);
	keysd_answer(&t->w, k->chain, hex, NULL);
	treq_free(t);
}

/* The private key's text: parse, check against the chain, keep. */
static void
treq_key(void *arg, const char *secret, const char *fp, const char *error)
{
	struct treq	*t = arg;
	struct tkey	*k;
	STACK_OF(X509)	*chain;
	X509		*leaf;
	EVP_PKEY	*pk;
	char		 err[512];

	if (error != NULL) {
		treq_fail(t, "TLS client certificate: tls_private_key: %s",
		    error);
		return;
	}
	TAILQ_FOREACH(k, &keys, entry)
		if (!k->server && strcmp(k->certfp, t->certfp) == 0 &&
		    strcmp(k->keyfp, fp) == 0) {
			treq_answer(t, k);
			return;
		}
	if (tlskey_chain(t->chain, strlen(t->chain), &leaf, &chain, err,
	    sizeof(err)) == -1) {
		treq_fail(t, "TLS client certificate: tls_certificate %s: %s",
		    t->certwhat, err);
		return;
	}
	if ((pk = tlskey_private(secret, strlen(secret), err,
	    sizeof(err))) == NULL) {
		X509_free(leaf);
		sk_X509_pop_free(chain, X509_free);
		treq_fail(t, "TLS client certificate: tls_private_key %s: %s",
		    t->keywhat, err);
		return;
	}
	if (tlskey_match(leaf, pk, err, sizeof(err)) == -1) {
		X509_free(leaf);
		sk_X509_pop_free(chain, X509_free);
		EVP_PKEY_free(pk);
		treq_fail(t, "TLS client certificate: tls_private_key %s: %s "
		    "%s", t->keywhat, err, t->certwhat);
		return;
	}
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	if (nclient >= SIGN_MAX_CLIENT)
		TAILQ_FOREACH(k, &keys, entry)
			if (!k->server) {
				tkey_free(k);
				break;
			}
	k = xcalloc(1, sizeof(*k));
	k->pk = pk;
	if (tlskey_id(pk, k->id) == -1)
		fatalx("keysd: the id of a key");
	strlcpy(k->certfp, t->certfp, sizeof(k->certfp));
	strlcpy(k->keyfp, fp, sizeof(k->keyfp));
	strlcpy(k->what, t->keywhat, sizeof(k->what));
	k->chain = xstrdup(t->chain);
	TAILQ_INSERT_TAIL(&keys, k, entry);
	nclient++;
	log_info("tls: client key %s loaded for %s", t->keywhat,
	    t->certwhat);
	treq_answer(t, k);
}

/* The certificate's text (public): now the key. */
static void
treq_cert(void *arg, const char *secret, const char *fp, const char *error)
{
	struct treq	*t = arg;
	struct kwaiter	 w;

	if (error != NULL) {
		treq_fail(t, "TLS client certificate: tls_certificate: %s",
		    error);
		return;
	}
	t->chain = xstrdup(secret);
	strlcpy(t->certfp, fp, sizeof(t->certfp));
	w = t->w;
	w.want = KEY_WANT_SECRET;
	w.done = treq_key;
	w.arg = t;
	cache_request(t->key, &w);	/* may answer at once */
}

/*
 * Is a private key keysource one keysd may sign with?  Not inline (the
 * policy is read by every process), not an OAuth2 token, and a file
 * only if tls_key_files names it and no other user may read it.
 */
static int
sign_key_refused(const struct keysource *ks, char *err, size_t errlen)
{
	struct stat	 st;
	char		 why[512], *rp;

	switch (ks->kind) {
	case KS_DATA:
		snprintf(err, errlen, "tls_private_key: key_data would put "
		    "the private key in the policy, which every process "
		    "reads: refused (use key_file or Vault)");
		return -1;
	case KS_OAUTH2:
		snprintf(err, errlen, "tls_private_key: an OAuth2 token is "
		    "no private key: refused");
		return -1;
	case KS_VAULT:
		return 0;	/* vault_allow decides */
	case KS_FILE:
		break;
	}
	if ((rp = file_resolve(ks->path, keysd_conf->keysd_key_dirs, why,
	    sizeof(why))) == NULL) {
		snprintf(err, errlen, "tls_private_key: %s", why);
		return -1;
	}
	if (!list_fnmatch(keysd_conf->keysd_tls_key_files, rp)) {
		snprintf(err, errlen, "tls_private_key file %s matches no "
		    "pattern of [keysd] tls_key_files (%s): refused", ks->path,
		    *keysd_conf->keysd_tls_key_files ?
		    keysd_conf->keysd_tls_key_files : "empty");
		free(rp);
		return -1;
	}
	if (stat(rp, &st) == 0 && (st.st_mode & 0007)) {
		snprintf(err, errlen, "tls_private_key file %s may be read by "
		    "any user (mode %04o): refused", ks->path,
		    (unsigned)st.st_mode & 07777);
		free(rp);
		return -1;
	}
	free(rp);
	return 0;
}

void
sign_tls_request(const struct keysource *cert, const struct keysource *key,
    const struct kwaiter *req)
{
	struct treq	*t;
	struct kwaiter	 w;
	char		 err[1024], desc[512];

	t = xcalloc(1, sizeof(*t));
	t->w = *req;
	t->w.want = KEY_WANT_TLS;
	t->w.done = NULL;
	t->cert = keysource_copy(cert);
	t->key = keysource_copy(key);
	log_quote(keysource_describe(cert, desc, sizeof(desc)), t->certwhat,
	    sizeof(t->certwhat));
	log_quote(keysource_describe(key, desc, sizeof(desc)), t->keywhat,
	    sizeof(t->keywhat));
	if (cert->kind == KS_OAUTH2) {
		treq_fail(t, "TLS client certificate: tls_certificate: an "
		    "OAuth2 token is no certificate: refused");
		return;
	}
	if (sign_key_refused(key, err, sizeof(err)) == -1) {
		treq_fail(t, "TLS client certificate: %s", err);
		return;
	}
	w = t->w;
	w.want = KEY_WANT_SECRET;
	w.done = treq_cert;
	w.arg = t;
	cache_request(t->cert, &w);	/* may answer at once */
}

/* A signature for smtpd (server) or deliverd (!server), answered now. */
int
sign_request(struct chan *c, struct imsg *im, int server)
{
	struct wire_sign_req req;
	struct wire_sign_reply rep;
	struct mreader	 r;
	struct mbuf	 m;
	struct tkey	*k;
	uint8_t		 sig[TLSKEY_SIG_MAX];
	size_t		 siglen = sizeof(sig);
	char		 err[512] = "", hex[65];

	m_reader(&r, im);
	if (wire_sign_req_get(&r, &req) == -1)
		return -1;
	memset(&rep, 0, sizeof(rep));
	if ((k = tkey_find(req.id, server)) == NULL) {
		tlskey_id_hex(req.id, hex);
		snprintf(err, sizeof(err), "no %s key with public key sha256 "
		    "%.16s (flushed, or never loaded)", server ? "server" :
		    "client", hex);
	} else if (tlskey_sign(k->pk, req.op, req.padding, req.in, req.inlen,
	    sig, &siglen, err, sizeof(err)) == 0) {
		rep.sig = sig;
		rep.siglen = siglen;
	}
	if (rep.sig == NULL) {
		nsign_failed++;
		rep.status = KEY_FAILED;
		rep.error = err;
		log_warnx("%s: tls signature with %s refused: %s", c->name,
		    k != NULL ? k->what : "an unknown key", err);
	} else
		nsigned++;
	m_create(&m, IMSG_KEYSD_SIGN, im->hdr.peerid, -1);
	wire_sign_reply_add(&m, &rep);
	chan_send(c, &m);
	return 0;
}

void
sign_stats(uint64_t *signatures, uint64_t *failed, uint64_t *nkeys)
{
	struct tkey	*k;

	*signatures = nsigned;
	*failed = nsign_failed;
	*nkeys = 0;
	TAILQ_FOREACH(k, &keys, entry)
		(*nkeys)++;
}

void
sign_shutdown(void)
{
	while (!TAILQ_EMPTY(&keys))
		tkey_free(TAILQ_FIRST(&keys));
}
