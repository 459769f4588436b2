/*
 * tls.h - TLS on deliverd's side of a connection: one client SSL_CTX
 * with [deliverd] ca_file, loaded before the chroot, and an SSL per
 * connection that checks the next hop's name.  What enable_tls and
 * implicit_tls ask of a connection is client.c's.
 */
#ifndef PETREL_DELIVERD_TLS_H
#define PETREL_DELIVERD_TLS_H

#include <stddef.h>

#include <event2/bufferevent.h>
#include <openssl/ssl.h>

struct petrel_conf;

/* Before the chroot: the context and the trust store from ca_file. */
void	 tls_client_init(const struct petrel_conf *);

/*
 * A new client SSL for the next hop host (an MX host name, or an IP
 * address when literal): SNI and the name (or address) the certificate
 * must carry.  NULL when OpenSSL cannot make one.
 */
SSL	*tls_client_new(const char *host, int literal);

/*
 * Present a client certificate on ssl: the chain (PEM) and key id that
 * keysd answered a KEY_WANT_TLS request with.  0, or -1 with why.
 */
int	 tls_client_cert(SSL *, const char *id, const char *pem, char *err,
	    size_t);

/* After the handshake: 1 when the certificate verified, else 0 and why. */
int	 tls_verified(SSL *, char *why, size_t);

/*
 * Why a TLS bufferevent failed: its OpenSSL errors, else errno (in a
 * static buffer, as strerror).
 */
const char *tls_error_text(struct bufferevent *);

#endif
