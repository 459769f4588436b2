/*
 * sasl.h - the client's initial responses for the OAuth 2.0 SASL
 * mechanisms, before base64: XOAUTH2 (Google's and Microsoft's) and
 * OAUTHBEARER (RFC 7628).  The result holds the access token: it is a
 * secret buffer (secret_alloc), len bytes, for secret_free(p, len).
 */
#ifndef PETREL_SASL_H
#define PETREL_SASL_H

#include <stddef.h>

/* "user=" U "\x01auth=Bearer " T "\x01\x01" */
char	*sasl_xoauth2(const char *user, const char *token, size_t *len);
/*
 * "n,a=" U ",\x01host=" H "\x01port=" P "\x01auth=Bearer " T "\x01\x01",
 * U with ',' and '=' escaped as "=2C" and "=3D" (RFC 5801 saslname).
 */
char	*sasl_oauthbearer(const char *user, const char *host, int port,
	    const char *token, size_t *len);

#endif
