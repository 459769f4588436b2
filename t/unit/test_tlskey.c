/*
 * test_tlskey.c - proxy keys (lib/tlskey.c): a TLS handshake in memory
 * whose server and client keys are proxies, their signatures made by
 * tlskey_sign() with the real key as keysd makes them; RSA with
 * PKCS#1 v1.5 (TLS 1.2 restricted to rsa_pkcs1_sha256) and PSS (TLS
 * 1.3), ECDSA P-256; and what keysd refuses: decryption, a wrong
 * block size, a key that does not match, unsupported kinds, a key
 * file others may read.  And chan_call(): the answer is found among
 * other frames, which are kept for the event loop, in order.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "chan.h"
#include "imsg.h"
#include "tlskey.h"
#include "wire.h"

/* The "keysd" of these tests: the real key, and a count of its work. */
struct signer {
	EVP_PKEY	*key;
	int		 calls;
	int		 last_op, last_padding;
};

static int
local_sign(void *arg, const uint8_t id[TLSKEY_ID_LEN], int op, int padding,
    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	struct signer	*s = arg;
	uint8_t		 kid[TLSKEY_ID_LEN];
	char		 err[256];

	cr_assert_eq(tlskey_id(s->key, kid), 0);
	cr_assert(memcmp(kid, id, TLSKEY_ID_LEN) == 0, "the key's id");
	s->calls++;
	s->last_op = op;
	s->last_padding = padding;
	return tlskey_sign(s->key, op, padding, in, inlen, out, outlen, err,
	    sizeof(err));
}

static EVP_PKEY *
keygen(const char *kind)
{
	EVP_PKEY	*k;

	if (strcmp(kind, "RSA") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(kind, "EC") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, kind);
	cr_assert_not_null(k);
	return k;
}

static X509 *
selfsign(EVP_PKEY *k, const char *cn)
{
	X509		*x = X509_new();
	X509_NAME	*n;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	/* Ed25519 signs without a separate digest */
	cr_assert(X509_sign(x, k, EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 ?
	    NULL : EVP_sha256()) > 0);
	return x;
}

/* Drive both ends over BIO pairs until both are done (or one fails). */
static int
handshake(SSL *c, SSL *s)
{
	int	 rc, rs, i, cdone = 0, sdone = 0;

	for (i = 0; i < 100 && !(cdone && sdone); i++) {
		if (!cdone) {
			rc = SSL_do_handshake(c);
			if (rc == 1)
				cdone = 1;
			else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
				return -1;
		}
		if (!sdone) {
			rs = SSL_do_handshake(s);
			if (rs == 1)
				sdone = 1;
			else if (SSL_get_error(s, rs) != SSL_ERROR_WANT_READ)
				return -1;
		}
	}
	return cdone && sdone ? 0 : -1;
}

/*
 * A handshake with the server's key, and (mutual) the client's, as
 * proxies; version and sigalgs pin what is exercised.
 */
static void
run(const char *kind, int version, const char *sigalgs, int mutual,
    int expect_padding)
{
	struct signer	 ss = { 0 }, cs = { 0 };
	EVP_PKEY	*sproxy, *cproxy = NULL;
	X509		*scert, *ccert = NULL;
	SSL_CTX		*sctx, *cctx;
	SSL		*s, *c;
	BIO		*b1, *b2;
	X509_STORE	*st;
	char		 err[256];

	ss.key = keygen(kind);
	scert = selfsign(ss.key, "server");
	sproxy = tlskey_proxy(scert, local_sign, &ss, err, sizeof(err));
	cr_assert_not_null(sproxy, "%s", err);
	sctx = SSL_CTX_new(TLS_server_method());
	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(sctx, version);
	SSL_CTX_set_max_proto_version(sctx, version);
	cr_assert_eq(SSL_CTX_set_cipher_list(sctx, tlskey_ciphers()), 1);
	cr_assert_eq(SSL_CTX_use_certificate(sctx, scert), 1);
	cr_assert_eq(SSL_CTX_use_PrivateKey(sctx, sproxy), 1);
	cr_assert_eq(SSL_CTX_check_private_key(sctx), 1);
	if (sigalgs != NULL) {
		cr_assert_eq(SSL_CTX_set1_sigalgs_list(cctx, sigalgs), 1);
		cr_assert_eq(SSL_CTX_set1_client_sigalgs_list(sctx, sigalgs),
		    1);
	}
	/* the client trusts the server's certificate */
	st = SSL_CTX_get_cert_store(cctx);
	X509_STORE_add_cert(st, scert);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	if (mutual) {
		cs.key = keygen(kind);
		ccert = selfsign(cs.key, "client");
		cproxy = tlskey_proxy(ccert, local_sign, &cs, err,
		    sizeof(err));
		cr_assert_not_null(cproxy, "%s", err);
		X509_STORE_add_cert(SSL_CTX_get_cert_store(sctx), ccert);
		SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	if (mutual) {
		cr_assert_eq(SSL_use_certificate(c, ccert), 1);
		cr_assert_eq(SSL_use_PrivateKey(c, cproxy), 1);
	}
	cr_assert_eq(BIO_new_bio_pair(&b1, 0, &b2, 0), 1);
	SSL_set_bio(c, b1, b1);
	SSL_set_bio(s, b2, b2);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	cr_assert_eq(handshake(c, s), 0, "the handshake: %s",
	    ERR_reason_error_string(ERR_peek_last_error()));
	cr_assert_eq(SSL_get_verify_result(c), X509_V_OK,
	    "the client verified the server's signature");
	cr_assert_geq(ss.calls, 1, "keysd made the server's signature");
	cr_assert_eq(ss.last_op, strcmp(kind, "RSA") == 0 ?
	    TLSKEY_RSA_PRIV_ENC : TLSKEY_ECDSA_SIGN);
	if (expect_padding >= 0)
		cr_assert_eq(ss.last_padding, expect_padding);
	if (mutual) {
		cr_assert_eq(SSL_get_verify_result(s), X509_V_OK);
		cr_assert_geq(cs.calls, 1, "keysd made the client's "
		    "signature");
	}
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	EVP_PKEY_free(sproxy);
	EVP_PKEY_free(cproxy);
	EVP_PKEY_free(ss.key);
	EVP_PKEY_free(cs.key);
	X509_free(scert);
	X509_free(ccert);
}

Test(tlskey, rsa_pss_tls13)
{
	run("RSA", TLS1_3_VERSION, NULL, 1, RSA_NO_PADDING);
}

Test(tlskey, rsa_pkcs1_tls12)
{
	run("RSA", TLS1_2_VERSION, "RSA+SHA256", 1, RSA_PKCS1_PADDING);
}

Test(tlskey, rsa_pss_tls12)
{
	run("RSA", TLS1_2_VERSION, "rsa_pss_rsae_sha256", 0, RSA_NO_PADDING);
}

Test(tlskey, ecdsa_tls13)
{
	run("EC", TLS1_3_VERSION, NULL, 1, -1);
}

Test(tlskey, ecdsa_tls12)
{
	run("EC", TLS1_2_VERSION, NULL, 1, -1);
}

Test(tlskey, refusals)
{
	EVP_PKEY	*rsa = keygen("RSA"), *ec = keygen("EC");
	EVP_PKEY	*ed = keygen("ED25519");
	uint8_t		 in[256] = { 0 }, out[TLSKEY_SIG_MAX];
	size_t		 outlen = sizeof(out);
	char		 err[256];
	X509		*x = selfsign(rsa, "x");

	/* decryption-style padding, a short raw block, the wrong kind */
	cr_assert_eq(tlskey_sign(rsa, TLSKEY_RSA_PRIV_ENC,
	    RSA_PKCS1_OAEP_PADDING, in, 64, out, &outlen, err,
	    sizeof(err)), -1);
	cr_assert_eq(tlskey_sign(rsa, TLSKEY_RSA_PRIV_ENC, RSA_NO_PADDING,
	    in, 100, out, &outlen, err, sizeof(err)), -1);
	cr_assert_eq(tlskey_sign(ec, TLSKEY_RSA_PRIV_ENC, RSA_PKCS1_PADDING,
	    in, 32, out, &outlen, err, sizeof(err)), -1);
	cr_assert_eq(tlskey_sign(rsa, TLSKEY_ECDSA_SIGN, 0, in, 32, out,
	    &outlen, err, sizeof(err)), -1);
	cr_assert_eq(tlskey_sign(ec, TLSKEY_ECDSA_SIGN, 0, in, 200, out,
	    &outlen, err, sizeof(err)), -1);
	cr_assert_eq(tlskey_sign(ec, TLSKEY_ECDSA_SIGN, 0, in, 32, out,
	    &outlen, err, sizeof(err)), 0);
	/* a key that is not the certificate's */
	cr_assert_eq(tlskey_match(x, ec, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "does not match"));
	cr_assert_eq(tlskey_match(x, rsa, err, sizeof(err)), 0);
	/* a proxy is only made for RSA and EC */
	X509_free(x);
	x = selfsign(ed, "ed");
	cr_assert_null(tlskey_proxy(x, local_sign, NULL, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "not RSA or ECDSA"), "%s", err);
	X509_free(x);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
}

static char *
pem_of(EVP_PKEY *k, size_t *len)
{
	BIO	*b = BIO_new(BIO_s_mem());
	char	*p, *d;

	cr_assert(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
	*len = BIO_get_mem_data(b, &p);
	d = strndup(p, *len);
	BIO_free(b);
	return d;
}

Test(tlskey, pem)
{
	EVP_PKEY	*ed = keygen("ED25519"), *ec = keygen("EC"), *k;
	X509		*x = selfsign(ec, "c"), *leaf;
	STACK_OF(X509)	*chain;
	BIO		*b = BIO_new(BIO_s_mem());
	char		*text, err[256], *p;
	size_t		 len;

	text = pem_of(ed, &len);
	cr_assert_null(tlskey_private(text, len, err, sizeof(err)));
	cr_assert_not_null(strstr(err, "RSA and ECDSA keys only"), "%s", err);
	free(text);
	text = pem_of(ec, &len);
	/* no final newline: still a key */
	k = tlskey_private(text, len - 1, err, sizeof(err));
	cr_assert_not_null(k, "%s", err);
	EVP_PKEY_free(k);
	cr_assert_null(tlskey_private("junk", 4, err, sizeof(err)));
	free(text);
	/* a chain of three: the leaf and two more */
	PEM_write_bio_X509(b, x);
	PEM_write_bio_X509(b, x);
	PEM_write_bio_X509(b, x);
	len = BIO_get_mem_data(b, &p);
	cr_assert_eq(tlskey_chain(p, len, &leaf, &chain, err, sizeof(err)), 0,
	    "%s", err);
	cr_assert_eq(sk_X509_num(chain), 2);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	/* a broken block after the leaf is an error, not the chain's end */
	BIO_puts(b, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END "
	    "CERTIFICATE-----\n");
	len = BIO_get_mem_data(b, &p);
	cr_assert_eq(tlskey_chain(p, len, &leaf, &chain, err, sizeof(err)),
	    -1);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
}

Test(tlskey, files)
{
	char		 dir[] = "/tmp/petrel-tlskey-XXXXXX", cf[64], kf[64];
	char		 err[1024], *text;
	EVP_PKEY	*k = keygen("EC"), *other = keygen("EC");
	X509		*x = selfsign(k, "f");
	FILE		*f;
	size_t		 len;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(cf, sizeof(cf), "%s/c.pem", dir);
	snprintf(kf, sizeof(kf), "%s/k.pem", dir);
	f = fopen(cf, "w");
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(kf, "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(kf, 0644);
	cr_assert_eq(tlskey_check_files(cf, kf, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "may be read by any user"), "%s", err);
	cr_assert_not_null(strstr(err, kf));
	chmod(kf, 0640);
	cr_assert_eq(tlskey_check_files(cf, kf, err, sizeof(err)), 0, "%s",
	    err);
	cr_assert_eq(tlskey_read_file(kf, &text, &len, err, sizeof(err)), 0);
	cr_assert_not_null(strstr(text, "PRIVATE KEY"));
	free(text);
	f = fopen(kf, "w");
	PEM_write_PrivateKey(f, other, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	cr_assert_eq(tlskey_check_files(cf, kf, err, sizeof(err)), -1);
	cr_assert_not_null(strstr(err, "does not match"), "%s", err);
	cr_assert_not_null(strstr(err, kf));
	cr_assert_not_null(strstr(err, cf));
	unlink(cf);
	unlink(kf);
	rmdir(dir);
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

/* chan_call(): other frames first, the answer, and the rest after. */
static int	 seen[8], nseen;

static int
record(struct chan *c, struct imsg *im)
{
	seen[nseen++] = im->hdr.peerid;
	return 0;
}

static int
refuse(void *arg, struct imsg *im)
{
	return -1;
}

static int
answer(void *arg, struct imsg *im)
{
	*(int *)arg = im->hdr.peerid;
	return 0;
}

Test(tlskey, chan_call)
{
	struct event_base *base = event_base_new();
	struct imsgbuf	 peer;
	struct chan	*c;
	struct mbuf	 m;
	struct imsg	 im;
	int		 sp[2], got = 0;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	c = chan_new(base, sp[0], "keysd", record, NULL, NULL);
	imsgbuf_init(&peer, sp[1]);
	/* two unrelated frames are already on their way */
	imsg_compose(&peer, IMSG_KEYSD_KEY, 1, -1, NULL, 0);
	imsg_compose(&peer, IMSG_KEYSD_SIGN, 99, -1, NULL, 0);
	imsg_compose(&peer, IMSG_KEYSD_SIGN, 7, -1, NULL, 0);
	imsg_compose(&peer, IMSG_KEYSD_KEY, 2, -1, NULL, 0);
	imsg_compose(&peer, IMSG_KEYSD_KEY, 3, -1, NULL, 0);
	cr_assert_eq(imsg_flush(&peer), 0);
	m_create(&m, IMSG_WORKER_SIGN, 7, -1);
	cr_assert_eq(chan_call(c, &m, IMSG_KEYSD_SIGN, 1000, answer, &got),
	    0);
	cr_assert_eq(got, 7);
	cr_assert_eq(nseen, 0, "nothing dispatched from inside the call");
	/* the request went out */
	cr_assert_gt(imsg_read(&peer), 0);
	cr_assert_eq(imsg_get(&peer, &im), 1);
	cr_assert_eq(im.hdr.type, IMSG_WORKER_SIGN);
	/* the others reach the loop, in order */
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(nseen, 4, "nseen %d", nseen);
	cr_assert_eq(seen[0], 1);
	cr_assert_eq(seen[1], 99);
	cr_assert_eq(seen[2], 2);
	cr_assert_eq(seen[3], 3);
	/* an answer its reader refuses: what came behind it still goes on */
	imsg_compose(&peer, IMSG_KEYSD_SIGN, 9, -1, NULL, 0);
	imsg_compose(&peer, IMSG_KEYSD_KEY, 4, -1, NULL, 0);
	cr_assert_eq(imsg_flush(&peer), 0);
	m_create(&m, IMSG_WORKER_SIGN, 9, -1);
	cr_assert_eq(chan_call(c, &m, IMSG_KEYSD_SIGN, 1000, refuse, NULL),
	    -1);
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(nseen, 5, "nseen %d", nseen);
	cr_assert_eq(seen[4], 4);
	/* no answer: a timeout, not a hang */
	m_create(&m, IMSG_WORKER_SIGN, 8, -1);
	cr_assert_eq(chan_call(c, &m, IMSG_KEYSD_SIGN, 100, answer, &got),
	    -1);
	chan_free(c);
	imsgbuf_clear(&peer);
	close(sp[1]);
	event_base_free(base);
}
