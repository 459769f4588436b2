/*
 * tls.c - the client side of TLS for deliverd: one SSL_CTX for the
 * process, its trust store read from [deliverd] ca_file before the
 * chroot; per connection an SSL that sends SNI and checks the next
 * hop's name (or address) as part of the chain.
 *
 * Verification never aborts the handshake (SSL_VERIFY_NONE): OpenSSL
 * still checks the chain and the name, and client.c reads the result
 * afterwards (tls_verified), so a failure is reported with its reason
 * and the modes that do not verify can still tell whether the peer was
 * trusted.  Nothing is sent inside a session whose certificate had to
 * verify and did not.
 *
 * A client certificate (an egress path's tls_certificate) comes from
 * keysd as its chain and the id of its key; deliverd holds a proxy of
 * the key (lib/tlskey.h) and keysd makes the handshake's signature.
 * Parsed chains and proxies are kept, a few dozen at most.
 */
#include "config.h"

#include <bsd/sys/queue.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "keys.h"
#include "log.h"
#include "tls.h"
#include "tlskey.h"
#include "util.h"

#define TLS_CLIENT_CERTS	64	/* parsed chains kept */

struct client_cert {
	TAILQ_ENTRY(client_cert) entry;
	char		 id[65];	/* keysd's name for the key */
	char		*pem;		/* the chain as keysd gave it */
	X509		*leaf;
	STACK_OF(X509)	*chain;		/* the intermediates */
	EVP_PKEY	*pk;		/* the proxy */
};
TAILQ_HEAD(client_cert_list, client_cert);

static SSL_CTX	*tls_ctx;
static struct client_cert_list certs = TAILQ_HEAD_INITIALIZER(certs);
static int	 ncerts;

void
tls_client_init(const struct petrel_conf *conf)
{
	char	 err[256];

	if ((tls_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("deliverd: SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(tls_ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
	if (*conf->deliverd_ca_file == '\0')
		return;
	if (SSL_CTX_load_verify_locations(tls_ctx, conf->deliverd_ca_file,
	    NULL) != 1) {
		/* not fatal: the modes that do not verify still work */
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		ERR_clear_error();
		log_warnx("deliverd: ca_file %s: %s: no certificate can be "
		    "verified", conf->deliverd_ca_file, err);
	}
}

SSL *
tls_client_new(const char *host, int literal)
{
	X509_VERIFY_PARAM *vp;
	SSL		*ssl;

	if ((ssl = SSL_new(tls_ctx)) == NULL)
		return NULL;
	vp = SSL_get0_param(ssl);
	X509_VERIFY_PARAM_set_hostflags(vp,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (literal) {
		/* no SNI for an address (RFC 6066 3) */
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1)
			goto fail;
	} else if (SSL_set_tlsext_host_name(ssl, host) != 1 ||
	    X509_VERIFY_PARAM_set1_host(vp, host, 0) != 1)
		goto fail;
	return ssl;
fail:
	SSL_free(ssl);
	ERR_clear_error();
	return NULL;
}

int
tls_verified(SSL *ssl, char *why, size_t len)
{
	X509	*cert;
	long	 r;

	if ((cert = SSL_get1_peer_certificate(ssl)) == NULL) {
		strlcpy(why, "no certificate", len);
		return 0;
	}
	X509_free(cert);
	if ((r = SSL_get_verify_result(ssl)) != X509_V_OK) {
		strlcpy(why, X509_verify_cert_error_string(r), len);
		return 0;
	}
	*why = '\0';
	return 1;
}

const char *
tls_error_text(struct bufferevent *bev)
{
	static char	 buf[160];
	unsigned long	 e;
	const char	*r;
	size_t		 n = 0;

	buf[0] = '\0';
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		if ((r = ERR_reason_error_string(e)) == NULL)
			r = "unknown error";
		if (n < sizeof(buf) && strstr(buf, r) == NULL)
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s",
			    n ? ", " : "", r);
	}
	if (buf[0] == '\0')
		strlcpy(buf, errno ? strerror(errno) : "connection closed",
		    sizeof(buf));
	return buf;
}

static void
client_cert_free(struct client_cert *cc)
{
	TAILQ_REMOVE(&certs, cc, entry);
	ncerts--;
	free(cc->pem);
	X509_free(cc->leaf);
	sk_X509_pop_free(cc->chain, X509_free);
	EVP_PKEY_free(cc->pk);
	free(cc);
}

static struct client_cert *
client_cert_get(const char *id, const char *pem, char *err, size_t errlen)
{
	struct client_cert *cc;
	uint8_t		 kid[TLSKEY_ID_LEN], cid[TLSKEY_ID_LEN];

	TAILQ_FOREACH(cc, &certs, entry)
		if (strcmp(cc->id, id) == 0 && strcmp(cc->pem, pem) == 0) {
			TAILQ_REMOVE(&certs, cc, entry);
			TAILQ_INSERT_HEAD(&certs, cc, entry);
			return cc;
		}
	cc = xcalloc(1, sizeof(*cc));
	if (tlskey_chain(pem, strlen(pem), &cc->leaf, &cc->chain, err,
	    errlen) == -1) {
		free(cc);
		return NULL;
	}
	/* keysd checked that the key matches; the id must say so too */
	if (tlskey_id_parse(id, kid) == -1 ||
	    tlskey_id(X509_get0_pubkey(cc->leaf), cid) == -1 ||
	    memcmp(kid, cid, sizeof(kid)) != 0) {
		snprintf(err, errlen, "keysd's key is not the certificate's");
		goto fail;
	}
	if ((cc->pk = tlskey_proxy(cc->leaf, tlskey_keysd_sign, keys_chanp(),
	    err, errlen)) == NULL)
		goto fail;
	strlcpy(cc->id, id, sizeof(cc->id));
	cc->pem = xstrdup(pem);
	TAILQ_INSERT_HEAD(&certs, cc, entry);
	if (++ncerts > TLS_CLIENT_CERTS)
		client_cert_free(TAILQ_LAST(&certs, client_cert_list));
	return cc;
fail:
	X509_free(cc->leaf);
	sk_X509_pop_free(cc->chain, X509_free);
	free(cc);
	return NULL;
}

int
tls_client_cert(SSL *ssl, const char *id, const char *pem, char *err,
    size_t errlen)
{
	struct client_cert *cc;

	if ((cc = client_cert_get(id, pem, err, errlen)) == NULL)
		return -1;
	if (SSL_use_certificate(ssl, cc->leaf) != 1 ||
	    SSL_use_PrivateKey(ssl, cc->pk) != 1 ||
	    SSL_set1_chain(ssl, cc->chain) != 1) {
		snprintf(err, errlen, "OpenSSL refused the certificate: %s",
		    ERR_reason_error_string(ERR_peek_last_error()));
		ERR_clear_error();
		return -1;
	}
	return 0;
}
