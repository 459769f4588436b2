/*
 * sasl.c - the OAuth 2.0 SASL initial responses (see sasl.h).  Pure:
 * deliverd's auth.c sends them base64-encoded; the unit tests check
 * them byte for byte.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "sasl.h"
#include "secret.h"

char *
sasl_xoauth2(const char *user, const char *token, size_t *len)
{
	size_t	 n = 5 + strlen(user) + 13 + strlen(token) + 2;
	char	*p = secret_alloc(n + 1);

	snprintf(p, n + 1, "user=%s\001auth=Bearer %s\001\001", user, token);
	*len = n;
	return p;
}

char *
sasl_oauthbearer(const char *user, const char *host, int port,
    const char *token, size_t *len)
{
	size_t	 n = 4 + 3 * strlen(user) + 7 + strlen(host) + 6 + 12 + 13 +
	    strlen(token) + 2;
	char	*p = secret_alloc(n + 1), *q = p;
	const char *u;

	memcpy(q, "n,a=", 4);
	q += 4;
	for (u = user; *u != '\0'; u++)
		if (*u == ',') {
			memcpy(q, "=2C", 3);
			q += 3;
		} else if (*u == '=') {
			memcpy(q, "=3D", 3);
			q += 3;
		} else
			*q++ = *u;
	q += snprintf(q, n + 1 - (q - p), ",\001host=%s\001port=%d\001"
	    "auth=Bearer %s\001\001", host, port, token);
	*len = q - p;
	return p;
}
