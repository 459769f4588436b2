/*
 * oauth2.h - keysd's OAuth 2.0 client (oauth2.c): an access token for
 * an oauth2_* keysource, from its token endpoint (RFC 6749).
 */
#ifndef PETREL_KEYSD_OAUTH2_H
#define PETREL_KEYSD_OAUTH2_H

#include <stdint.h>

#include "keysd.h"

/*
 * value: the access token (a secret buffer, taken over); expires_in:
 * its lifetime in seconds as the endpoint said (0: it did not say).
 */
typedef void	(*oauth2_done_fn)(void *arg, enum key_result, char *value,
		    size_t len, int64_t expires_in, const char *why);

void	 oauth2_init(struct event_base *, struct petrel_conf *);
void	 oauth2_fetch(const struct keysource *, oauth2_done_fn, void *arg);
void	 oauth2_shutdown(void);
void	 oauth2_stats(uint64_t *requests, uint64_t *errors);

#endif
