/*
 * tlskey.c - proxy keys whose private operations keysd performs, and
 * keysd's side of them (see tlskey.h).
 *
 * OpenSSL 3 calls a key with a non-default RSA_METHOD or EC_KEY_METHOD
 * a "foreign" key and signs with it through the legacy EVP path, which
 * ends in the method's rsa_priv_enc or sign_sig: exactly the one
 * operation to forward.  Those interfaces are deprecated in 3.0 but
 * still there; a provider would do the same with ten times the code.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* RSA_METHOD, EC_KEY_METHOD */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "chan.h"
#include "log.h"
#include "secret.h"
#include "tlskey.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"

/* What a proxy carries: whom to ask, for which key. */
struct proxy {
	tlskey_sign_fn	 fn;
	void		*arg;
	uint8_t		 id[TLSKEY_ID_LEN];
};

static RSA_METHOD	*rsa_meth;
static EC_KEY_METHOD	*ec_meth;
static int		 rsa_idx = -1, ec_idx = -1;

static void
ossl_err(const char *what, char *err, size_t errlen)
{
	unsigned long	 e = ERR_peek_last_error();
	const char	*r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s%s%s", what, r ? ": " : "", r ? r : "");
	ERR_clear_error();
}

int
tlskey_id(EVP_PKEY *k, uint8_t id[TLSKEY_ID_LEN])
{
	unsigned char	*der = NULL;
	int		 len;

	if ((len = i2d_PUBKEY(k, &der)) <= 0)
		return -1;
	SHA256(der, len, id);
	OPENSSL_free(der);
	return 0;
}

void
tlskey_id_hex(const uint8_t id[TLSKEY_ID_LEN], char hex[65])
{
	static const char xd[] = "0123456789abcdef";
	int	 i;

	for (i = 0; i < TLSKEY_ID_LEN; i++) {
		hex[2 * i] = xd[id[i] >> 4];
		hex[2 * i + 1] = xd[id[i] & 15];
	}
	hex[64] = '\0';
}

int
tlskey_id_parse(const char *hex, uint8_t id[TLSKEY_ID_LEN])
{
	int	 i, hi, lo;

	if (strlen(hex) != 2 * TLSKEY_ID_LEN)
		return -1;
	for (i = 0; i < TLSKEY_ID_LEN; i++) {
		hi = OPENSSL_hexchar2int(hex[2 * i]);
		lo = OPENSSL_hexchar2int(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		id[i] = hi << 4 | lo;
	}
	return 0;
}

static void
proxy_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	free(ptr);
}

/* RSA: the block to raise to d, as keysd's tlskey_sign() will. */
static int
proxy_rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	struct proxy	*p = RSA_get_ex_data(rsa, rsa_idx);
	size_t		 outlen = RSA_size(rsa);

	if (p == NULL || flen < 0 || p->fn(p->arg, p->id, TLSKEY_RSA_PRIV_ENC,
	    padding, from, flen, to, &outlen) == -1 ||
	    outlen != (size_t)RSA_size(rsa))
		return -1;
	return (int)outlen;
}

/* RSA decryption is never forwarded: keysd's keys only sign. */
static int
proxy_rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	return -1;
}

static ECDSA_SIG *
proxy_ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *ec)
{
	struct proxy	*p = EC_KEY_get_ex_data(ec, ec_idx);
	uint8_t		 sig[TLSKEY_SIG_MAX];
	const unsigned char *q = sig;
	size_t		 outlen = sizeof(sig);

	if (p == NULL || dlen < 0 || p->fn(p->arg, p->id, TLSKEY_ECDSA_SIGN,
	    0, dgst, dlen, sig, &outlen) == -1)
		return NULL;
	return d2i_ECDSA_SIG(NULL, &q, outlen);
}

static void
tlskey_methods(void)
{
	int	(*sign)(int, const unsigned char *, int, unsigned char *,
		    unsigned int *, const BIGNUM *, const BIGNUM *, EC_KEY *);
	int	(*setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **);

	if (rsa_meth != NULL)
		return;
	if ((rsa_meth = RSA_meth_dup(RSA_get_default_method())) == NULL ||
	    RSA_meth_set1_name(rsa_meth, "petrel keysd") != 1 ||
	    RSA_meth_set_priv_enc(rsa_meth, proxy_rsa_priv_enc) != 1 ||
	    RSA_meth_set_priv_dec(rsa_meth, proxy_rsa_priv_dec) != 1)
		fatalx("RSA_METHOD for keysd's keys");
	if ((ec_meth = EC_KEY_METHOD_new(EC_KEY_get_default_method())) == NULL)
		fatalx("EC_KEY_METHOD for keysd's keys");
	/* the default sign() ends in sign_sig(): ours */
	EC_KEY_METHOD_get_sign(ec_meth, &sign, &setup, NULL);
	EC_KEY_METHOD_set_sign(ec_meth, sign, setup, proxy_ec_sign_sig);
	rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, proxy_free);
	ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL, proxy_free);
	if (rsa_idx < 0 || ec_idx < 0)
		fatalx("ex_data for keysd's keys");
}

EVP_PKEY *
tlskey_proxy(X509 *cert, tlskey_sign_fn fn, void *arg, char *err,
    size_t errlen)
{
	EVP_PKEY	*pub, *pk = NULL;
	struct proxy	*p;
	RSA		*rsa = NULL, *rpub;
	EC_KEY		*ec = NULL, *epub;

	tlskey_methods();
	if ((pub = X509_get0_pubkey(cert)) == NULL) {
		ossl_err("the certificate has no public key", err, errlen);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->fn = fn;
	p->arg = arg;
	if (tlskey_id(pub, p->id) == -1) {
		free(p);
		ossl_err("the certificate's public key", err, errlen);
		return NULL;
	}
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		/* a copy: the certificate's own key stays as it was */
		if ((rpub = EVP_PKEY_get1_RSA(pub)) == NULL)
			break;
		rsa = RSAPublicKey_dup(rpub);
		RSA_free(rpub);
		if (rsa == NULL || RSA_set_method(rsa, rsa_meth) != 1 ||
		    RSA_set_ex_data(rsa, rsa_idx, p) != 1)
			break;
		p = NULL;	/* the RSA's now */
		if ((pk = EVP_PKEY_new()) == NULL ||
		    EVP_PKEY_assign_RSA(pk, rsa) != 1)
			break;
		return pk;
	case EVP_PKEY_EC:
		if ((epub = EVP_PKEY_get1_EC_KEY(pub)) == NULL)
			break;
		ec = EC_KEY_dup(epub);
		EC_KEY_free(epub);
		if (ec == NULL || EC_KEY_set_method(ec, ec_meth) != 1 ||
		    EC_KEY_set_ex_data(ec, ec_idx, p) != 1)
			break;
		p = NULL;
		if ((pk = EVP_PKEY_new()) == NULL ||
		    EVP_PKEY_assign_EC_KEY(pk, ec) != 1)
			break;
		return pk;
	default:
		free(p);
		snprintf(err, errlen, "the certificate's key is %s, not RSA "
		    "or ECDSA", OBJ_nid2sn(EVP_PKEY_get_base_id(pub)));
		return NULL;
	}
	free(p);
	EVP_PKEY_free(pk);	/* with what it was assigned */
	if (pk == NULL) {
		RSA_free(rsa);
		EC_KEY_free(ec);
	}
	ossl_err("cannot make a proxy key", err, errlen);
	return NULL;
}

int
tlskey_sign(EVP_PKEY *k, int op, int padding, const uint8_t *in,
    size_t inlen, uint8_t *out, size_t *outlen, char *err, size_t errlen)
{
	const RSA	*rsa;
	EC_KEY		*ec;
	unsigned int	 siglen;
	int		 n;

	switch (op) {
	case TLSKEY_RSA_PRIV_ENC:
		if ((rsa = EVP_PKEY_get0_RSA(k)) == NULL) {
			snprintf(err, errlen, "an RSA signature with a key "
			    "that is not RSA");
			return -1;
		}
		/*
		 * PKCS#1 v1.5 (a DigestInfo, padded here), or none: a block
		 * of the modulus' size, PSS-padded by the asker.
		 */
		if ((padding != RSA_PKCS1_PADDING &&
		    padding != RSA_NO_PADDING) ||
		    (padding == RSA_NO_PADDING &&
		    inlen != (size_t)RSA_size(rsa)) ||
		    inlen > TLSKEY_IN_MAX || *outlen < (size_t)RSA_size(rsa)) {
			snprintf(err, errlen, "an RSA operation keysd does "
			    "not perform (padding %d, %zu bytes)", padding,
			    inlen);
			return -1;
		}
		n = RSA_private_encrypt(inlen, in, out, (RSA *)rsa, padding);
		if (n <= 0) {
			ossl_err("RSA signature failed", err, errlen);
			return -1;
		}
		*outlen = n;
		return 0;
	case TLSKEY_ECDSA_SIGN:
		if ((ec = (EC_KEY *)EVP_PKEY_get0_EC_KEY(k)) == NULL) {
			snprintf(err, errlen, "an ECDSA signature with a key "
			    "that is not EC");
			return -1;
		}
		if (inlen == 0 || inlen > EVP_MAX_MD_SIZE ||
		    *outlen < (size_t)ECDSA_size(ec)) {
			snprintf(err, errlen, "an ECDSA signature of %zu "
			    "bytes: refused", inlen);
			return -1;
		}
		siglen = *outlen;
		if (ECDSA_sign(0, in, inlen, out, &siglen, ec) != 1) {
			ossl_err("ECDSA signature failed", err, errlen);
			return -1;
		}
		*outlen = siglen;
		return 0;
	}
	snprintf(err, errlen, "unknown operation %d", op);
	return -1;
}

/* A memory BIO of the text with a final newline (PEM wants one). */
static BIO *
pem_bio(const char *pem, size_t len)
{
	BIO	*b;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	/* a mem BIO's buffer is cleared when freed (BUF_MEM_free) */
	if ((len > 0 && BIO_write(b, pem, (int)len) != (int)len) ||
	    BIO_write(b, "\n", 1) != 1) {
		BIO_free(b);
		return NULL;
	}
	return b;
}

int
tlskey_chain(const char *pem, size_t len, X509 **leaf,
    STACK_OF(X509) **chain, char *err, size_t errlen)
{
	BIO	*b;
	X509	*x;

	*leaf = NULL;
	*chain = NULL;
	if (len > TLSKEY_PEM_MAX || (b = pem_bio(pem, len)) == NULL) {
		snprintf(err, errlen, "the certificate chain is larger than "
		    "%d KiB", TLSKEY_PEM_MAX / 1024);
		return -1;
	}
	if ((*leaf = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		ossl_err("no PEM certificate", err, errlen);
		BIO_free(b);
		return -1;
	}
	if ((*chain = sk_X509_new_null()) == NULL)
		fatalx("sk_X509_new_null");
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (sk_X509_push(*chain, x) == 0)
			fatalx("sk_X509_push");
	/* the end of the text, or a block that is no certificate */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		ossl_err("a certificate of the chain does not parse", err,
		    errlen);
		X509_free(*leaf);
		sk_X509_pop_free(*chain, X509_free);
		*leaf = NULL;
		*chain = NULL;
		BIO_free(b);
		return -1;
	}
	ERR_clear_error();
	BIO_free(b);
	return 0;
}

EVP_PKEY *
tlskey_private(const char *pem, size_t len, char *err, size_t errlen)
{
	EVP_PKEY	*k;
	BIO		*b;
	int		 type;

	if (len > TLSKEY_PEM_MAX || (b = pem_bio(pem, len)) == NULL) {
		snprintf(err, errlen, "the key is larger than %d KiB",
		    TLSKEY_PEM_MAX / 1024);
		return NULL;
	}
	/* no passphrase callback: an encrypted key is refused, not asked */
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
	BIO_free(b);
	if (k == NULL) {
		ossl_err("no PEM private key (an encrypted key is not "
		    "supported)", err, errlen);
		return NULL;
	}
	type = EVP_PKEY_get_base_id(k);
	if (type != EVP_PKEY_RSA && type != EVP_PKEY_EC) {
		snprintf(err, errlen, "the key is %s; keysd signs with RSA "
		    "and ECDSA keys only", OBJ_nid2sn(type));
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

int
tlskey_match(X509 *leaf, EVP_PKEY *k, char *err, size_t errlen)
{
	EVP_PKEY	*pub = X509_get0_pubkey(leaf);

	if (pub == NULL || EVP_PKEY_eq(pub, k) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "the private key does not match the "
		    "certificate");
		return -1;
	}
	return 0;
}

int
tlskey_read_file(const char *path, char **pem, size_t *len, char *err,
    size_t errlen)
{
	struct stat	 st;

	*pem = NULL;
	if (stat(path, &st) == 0 && (st.st_mode & 0007)) {
		snprintf(err, errlen, "private key %s may be read by any user "
		    "(mode %04o): refused; chmod o-rwx it", path,
		    (unsigned)st.st_mode & 07777);
		return -1;
	}
	return file_read_secret("private key", path, 0, pem, len, err,
	    errlen);
}

int
tlskey_check_files(const char *certfile, const char *keyfile, char *err,
    size_t errlen)
{
	STACK_OF(X509)	*chain = NULL;
	X509		*leaf = NULL;
	EVP_PKEY	*k = NULL;
	char		*pem = NULL, why[256];
	size_t		 len;
	int		 ret = -1;

	if (file_read_secret("certificate", certfile, 0, &pem, &len, err,
	    errlen) == -1)
		return -1;
	if (tlskey_chain(pem, len, &leaf, &chain, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "certificate %s: %s", certfile, why);
		goto done;
	}
	secret_free_str(pem);
	pem = NULL;
	if (tlskey_read_file(keyfile, &pem, &len, err, errlen) == -1)
		goto done;
	if ((k = tlskey_private(pem, len, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "private key %s: %s", keyfile, why);
		goto done;
	}
	if (tlskey_match(leaf, k, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "private key %s: %s %s", keyfile, why,
		    certfile);
		goto done;
	}
	ret = 0;
done:
	secret_free_str(pem);
	EVP_PKEY_free(k);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return ret;
}

const char *
tlskey_ciphers(void)
{
	/* the TLS 1.2 suites; TLS 1.3 has no RSA key exchange */
	return "DEFAULT:!kRSA";
}

/* chan_call()'s answer: the signature, copied out. */
struct sign_answer {
	uint8_t		*out;
	size_t		*outlen;
	char		 error[256];
};

static int
tlskey_keysd_answer(void *arg, struct imsg *im)
{
	struct sign_answer *a = arg;
	struct wire_sign_reply rep;
	struct mreader	 r;

	m_reader(&r, im);
	if (wire_sign_reply_get(&r, &rep) == -1) {
		strlcpy(a->error, "a malformed answer", sizeof(a->error));
		return -1;
	}
	if (rep.status != KEY_OK) {
		strlcpy(a->error, rep.error, sizeof(a->error));
		return -1;
	}
	if (rep.siglen > *a->outlen) {
		strlcpy(a->error, "a signature too long", sizeof(a->error));
		return -1;
	}
	memcpy(a->out, rep.sig, rep.siglen);
	*a->outlen = rep.siglen;
	return 0;
}

int
tlskey_keysd_sign(void *arg, const uint8_t id[TLSKEY_ID_LEN], int op,
    int padding, const uint8_t *in, size_t inlen, uint8_t *out,
    size_t *outlen)
{
	static uint32_t	 next_id;
	struct chan	*c = *(struct chan **)arg;
	struct sign_answer a;
	struct wire_sign_req req;
	struct mbuf	 m;

	if (c == NULL) {
		log_warnx("tls: no signature: keysd is not reachable");
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.out = out;
	a.outlen = outlen;
	memcpy(req.id, id, TLSKEY_ID_LEN);
	req.op = op;
	req.padding = padding;
	req.in = in;
	req.inlen = inlen;
	if (++next_id == 0)
		next_id = 1;
	m_create(&m, IMSG_WORKER_SIGN, next_id, -1);
	wire_sign_req_add(&m, &req);
	if (chan_call(c, &m, IMSG_KEYSD_SIGN, TLSKEY_SIGN_TIMEOUT_MS,
	    tlskey_keysd_answer, &a) == -1) {
		log_warnx("tls: no signature from keysd: %s", *a.error ?
		    a.error : errno == ETIMEDOUT ? "no answer within 2 s" :
		    strerror(errno));
		return -1;
	}
	return 0;
}
