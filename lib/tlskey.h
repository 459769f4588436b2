/*
 * tlskey.h - TLS private keys that stay in keysd (as OpenSMTPD's ca
 * process keeps them): smtpd and deliverd hold a *proxy* key, made
 * from the certificate's public key, whose private operations OpenSSL
 * hands to a function that asks keysd over imsg; keysd holds the real
 * key and performs the one operation asked (tlskey_sign()).
 *
 * The proxies are RSA_METHOD and EC_KEY_METHOD keys, which OpenSSL 3
 * runs on its legacy path: an RSA signature (PKCS#1 v1.5, or PSS as
 * TLS 1.3 uses) reaches keysd as the padded block to raise to d, an
 * ECDSA one as the digest.  Nothing else (no RSA decryption) is
 * forwarded, so TLS contexts using a proxy must not offer RSA key
 * exchange (tlskey_ciphers()).
 *
 * A key is named on the wire by its id: SHA-256 of its public key
 * (SubjectPublicKeyInfo, DER), which the certificate gives as well.
 */
#ifndef PETREL_TLSKEY_H
#define PETREL_TLSKEY_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define TLSKEY_ID_LEN	32
#define TLSKEY_SIG_MAX	1024	/* RSA-8192: 1024 bytes; ECDSA: less */
#define TLSKEY_IN_MAX	1024
#define TLSKEY_PEM_MAX	(256 * 1024)	/* a certificate chain or key file */

enum tlskey_op {
	TLSKEY_RSA_PRIV_ENC = 1,	/* in: the padded block or DigestInfo */
	TLSKEY_ECDSA_SIGN,		/* in: the digest; out: DER ECDSA-Sig */
};

/*
 * The proxy's way to keysd: sign in (inlen bytes) with the key id,
 * writing at most *outlen bytes to out and setting *outlen.  0, or -1
 * (the handshake fails).
 */
typedef int	(*tlskey_sign_fn)(void *arg, const uint8_t id[TLSKEY_ID_LEN],
		    int op, int padding, const uint8_t *in, size_t inlen,
		    uint8_t *out, size_t *outlen);

/* The id of a key (public or private) or -1. */
int	 tlskey_id(EVP_PKEY *, uint8_t id[TLSKEY_ID_LEN]);
void	 tlskey_id_hex(const uint8_t id[TLSKEY_ID_LEN], char hex[65]);
int	 tlskey_id_parse(const char *hex, uint8_t id[TLSKEY_ID_LEN]);

/*
 * A proxy for the certificate's key: RSA or EC (P-256, P-384, P-521).
 * NULL with err set for any other kind.  The proxy keeps fn and arg.
 */
EVP_PKEY *tlskey_proxy(X509 *cert, tlskey_sign_fn, void *arg, char *err,
	    size_t errlen);

/*
 * keysd: perform op with the private key.  0, or -1 with err (an
 * operation the key cannot do, a block of the wrong size, a padding
 * other than PKCS#1 and none).
 */
int	 tlskey_sign(EVP_PKEY *, int op, int padding, const uint8_t *in,
	    size_t inlen, uint8_t *out, size_t *outlen, char *err,
	    size_t errlen);

/*
 * PEM text (len bytes, need not end in NUL): a chain (the leaf first,
 * then its intermediates), or one private key of a supported kind.
 * The error says what is wrong, never the text.
 */
int	 tlskey_chain(const char *pem, size_t len, X509 **leaf,
	    STACK_OF(X509) **chain, char *err, size_t errlen);
EVP_PKEY *tlskey_private(const char *pem, size_t len, char *err,
	    size_t errlen);
/* Does the key belong to the certificate?  0, or -1 with err. */
int	 tlskey_match(X509 *leaf, EVP_PKEY *, char *err, size_t errlen);

/*
 * A key file as keysd may use it: a regular file no other user may
 * read.  Its text in *pem (a secret buffer, secret_free()), 0; or -1
 * with err naming the file.
 */
int	 tlskey_read_file(const char *path, char **pem, size_t *len,
	    char *err, size_t errlen);
/*
 * [smtpd] tls_certificate and tls_private_key, as petreld -n and a
 * reload check them: the chain parses, the key is of a supported
 * kind, matches the leaf, and no other user may read its file.
 * 0, or -1 with err naming the file.
 */
int	 tlskey_check_files(const char *certfile, const char *keyfile,
	    char *err, size_t errlen);

/*
 * The sign function of smtpd's and deliverd's proxies: arg is the
 * address of the process's channel to keysd (NULL while keysd is
 * away: the handshake fails).  A blocking round trip (chan_call) of
 * at most TLSKEY_SIGN_TIMEOUT_MS.
 */
#define TLSKEY_SIGN_TIMEOUT_MS	2000
int	 tlskey_keysd_sign(void *arg, const uint8_t id[TLSKEY_ID_LEN], int op,
	    int padding, const uint8_t *in, size_t inlen, uint8_t *out,
	    size_t *outlen);

/* For a TLS context with a proxy key: no RSA key exchange. */
const char *tlskey_ciphers(void);

#endif
