/*
 * keys.h - deliverd's side of keysd: ask what a keysource holds, and be
 * called back with the answer, as OpenSMTPD's mta asks lka.  The
 * session that asked is parked by request id; the others go on.
 */
#ifndef PETREL_DELIVERD_KEYS_H
#define PETREL_DELIVERD_KEYS_H

#include <stdint.h>

struct keysource;
struct wire_key_reply;

/*
 * The answer.  reply->secret lies in the frame, which is zeroed as soon
 * as the callback returns: use it there and keep no copy that is not
 * wiped.  A request keysd never answers (it went away) gets a
 * KEY_FAILED reply made here.
 */
typedef void	(*keys_cb)(void *arg, const struct wire_key_reply *);

/* A new channel to keysd (from petreld); requests under way fail. */
void	 keys_channel(int fd);
/*
 * Ask (want: KEY_WANT_*); the callback runs later, never from inside
 * keys_ask(), with keysd's answer or, after timeout seconds without
 * one, a KEY_FAILED made here.  While keysd is away (restarting) the
 * request waits for its successor.  Returns the request id (never 0).
 */
uint32_t keys_ask(const struct keysource *, int want, int timeout,
	    keys_cb, void *arg);
/*
 * A client certificate (KEY_WANT_TLS): the reply's secret is the chain
 * (PEM, public), its fingerprint the private key's id in hex; the key
 * itself stays in keysd, which signs with it (keys_chanp()).
 */
uint32_t keys_ask_tls(const struct keysource *cert,
	    const struct keysource *key, int timeout, keys_cb, void *arg);
/* The channel to keysd, as the TLS proxy keys reach it (NULL: away). */
struct chan **keys_chanp(void);
/* The asker is gone: forget the request (its answer is dropped). */
void	 keys_cancel(uint32_t id);

#endif
