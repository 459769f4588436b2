/*
 * keys.c - deliverd's requests to keysd (see keys.h).
 *
 * A request keeps its own copy of the keysource spec until it is
 * answered, so a keysd that restarts (kill -9, a crash) costs a
 * resend on the new channel, not a deferred message; only a keysd
 * that does not answer within the asker's timeout fails it.  The
 * channel to keysd zeroes every frame buffer (imsgbuf.wipe): the one
 * reply that carries a secret leaves nothing behind in deliverd's
 * heap.
 */
#include "config.h"

#include <bsd/sys/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "chan.h"
#include "deliverd.h"
#include "keys.h"
#include "keysource.h"
#include "log.h"
#include "proc.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"

struct keyreq {
	RB_ENTRY(keyreq) entry;
	uint32_t	 id;
	int		 want;
	int		 timeout;
	int		 sent;		/* on the current channel */
	struct keysource *ks;
	struct keysource *ks2;		/* KEY_WANT_TLS: tls_private_key */
	keys_cb		 cb;
	void		*arg;
	struct event	*timer;
};

RB_HEAD(keyreq_tree, keyreq);
RB_PROTOTYPE(keyreq_tree, keyreq, entry, keyreq_cmp);

static int
keyreq_cmp(struct keyreq *a, struct keyreq *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}

RB_GENERATE(keyreq_tree, keyreq, entry, keyreq_cmp);

static struct {
	struct chan	*chan;
	struct keyreq_tree reqs;
	uint32_t	 next_id;
} k = { .reqs = RB_INITIALIZER(&k.reqs) };

static void
keyreq_free(struct keyreq *r)
{
	RB_REMOVE(keyreq_tree, &k.reqs, r);
	event_free(r->timer);
	keysource_free(r->ks);	/* wipes key_data, an inline token */
	keysource_free(r->ks2);
	free(r);
}

static void
keyreq_send(struct keyreq *r)
{
	struct wire_key_req w;
	struct mbuf	 m;

	if (k.chan == NULL || r->sent)
		return;
	w.want = r->want;
	w.ks = r->ks;
	w.ks2 = r->ks2;
	m_create(&m, IMSG_DELIVERD_KEY, r->id, -1);
	wire_key_req_add(&m, &w);
	if (chan_send(k.chan, &m) == 0)
		r->sent = 1;
}

static int
keys_imsg(struct chan *c, struct imsg *im)
{
	struct keyreq	 key, *r;
	struct wire_key_reply w;
	struct mreader	 rd;
	keys_cb		 cb;
	void		*arg;

	/* a signature's answer that came after its handshake gave up */
	if (im->hdr.type == IMSG_KEYSD_SIGN)
		return 0;
	if (im->hdr.type != IMSG_KEYSD_KEY) {
		log_warnx("keysd: unexpected message type %u", im->hdr.type);
		return -1;
	}
	m_reader(&rd, im);
	if (wire_key_reply_get(&rd, &w) == -1)
		return -1;
	key.id = im->hdr.peerid;
	if ((r = RB_FIND(keyreq_tree, &k.reqs, &key)) == NULL)
		return 0;	/* cancelled, or answered by the timeout */
	if (w.status == KEY_OK && r->want != KEY_WANT_FINGERPRINT &&
	    *w.secret == '\0')
		return -1;	/* keysd never sends an empty secret */
	cb = r->cb;
	arg = r->arg;
	keyreq_free(r);
	cb(arg, &w);
	return 0;
}

/* Requests sent on a channel that went away go again on the next. */
static void
keys_closed(struct chan *c)
{
	struct keyreq	*r;

	if (k.chan != c)
		return;
	k.chan = NULL;
	proc_peer_lost(dd->master, c, PEER_KEYSD, 0);
	RB_FOREACH(r, keyreq_tree, &k.reqs)
		r->sent = 0;
}

void
keys_channel(int fd)
{
	struct keyreq	*r;

	chan_replace(&k.chan, dd->base, fd, "keysd", keys_imsg, keys_closed,
	    NULL);
	k.chan->ibuf.wipe = 1;
	RB_FOREACH(r, keyreq_tree, &k.reqs)
		keyreq_send(r);
}

static void
keyreq_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct keyreq	*r = arg;
	struct wire_key_reply w;
	char		 err[160];
	keys_cb		 cb = r->cb;
	void		*cbarg = r->arg;

	snprintf(err, sizeof(err), "the key server %s within %d s",
	    k.chan == NULL ? "was not reachable" : "did not answer",
	    r->timeout);
	memset(&w, 0, sizeof(w));
	w.status = KEY_FAILED;
	w.fingerprint = w.secret = "";
	w.error = err;
	keyreq_free(r);
	cb(cbarg, &w);
}

static uint32_t
keys_request(const struct keysource *ks, const struct keysource *ks2,
    int want, int timeout, keys_cb cb, void *arg)
{
	struct keyreq	*r;
	struct timeval	 tv = { timeout > 0 ? timeout : 1, 0 };

	r = xcalloc(1, sizeof(*r));
	do
		r->id = ++k.next_id;
	while (r->id == 0 || RB_FIND(keyreq_tree, &k.reqs, r) != NULL);
	r->want = want;
	r->timeout = tv.tv_sec;
	r->ks = keysource_copy(ks);
	r->ks2 = ks2 != NULL ? keysource_copy(ks2) : NULL;
	r->cb = cb;
	r->arg = arg;
	if ((r->timer = evtimer_new(dd->base, keyreq_timeout, r)) == NULL)
		fatalx("evtimer_new");
	evtimer_add(r->timer, &tv);
	RB_INSERT(keyreq_tree, &k.reqs, r);
	keyreq_send(r);
	return r->id;
}

uint32_t
keys_ask(const struct keysource *ks, int want, int timeout, keys_cb cb,
    void *arg)
{
	return keys_request(ks, NULL, want, timeout, cb, arg);
}

uint32_t
keys_ask_tls(const struct keysource *cert, const struct keysource *key,
    int timeout, keys_cb cb, void *arg)
{
	return keys_request(cert, key, KEY_WANT_TLS, timeout, cb, arg);
}

struct chan **
keys_chanp(void)
{
	return &k.chan;
}

void
keys_cancel(uint32_t id)
{
	struct keyreq	 key, *r;

	key.id = id;
	if ((r = RB_FIND(keyreq_tree, &k.reqs, &key)) != NULL)
		keyreq_free(r);
}
