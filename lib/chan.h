/*
 * chan.h - an imsg channel driven by libevent: reads frames, hands
 * each to the owner's dispatch function, writes queued frames when the
 * socket is writable, and reports a closed or garbled channel once.
 */
#ifndef PETREL_CHAN_H
#define PETREL_CHAN_H

#include <event2/event.h>

#include "imsg.h"

struct chan;
/*
 * A dispatch function that keeps im->fd sets it to -1; the channel
 * closes whatever descriptor is left in the frame afterwards, on
 * success or error, so a handler never closes it itself.
 */
typedef int	(*chan_dispatch_fn)(struct chan *, struct imsg *);
typedef void	(*chan_close_fn)(struct chan *);
typedef int	(*chan_call_fn)(void *, struct imsg *);

/* a frame that came while chan_call() waited for another */
struct chan_held {
	struct chan_held *next;
	struct imsg	 im;
	uint8_t		 data[];
};

struct chan {
	struct imsgbuf	 ibuf;
	struct event	*rev, *wev;
	const char	*name;
	chan_dispatch_fn dispatch;	/* -1: protocol error, close */
	chan_close_fn	 closed;	/* channel is dying: drop references */
	void		*arg;
	int		 dead;
	int		 failed;	/* closed for an error, not an EOF */
	int		 indispatch;
	struct chan_held *held;		/* to dispatch before reading on */
};

struct chan	*chan_new(struct event_base *, int fd, const char *name,
		    chan_dispatch_fn, chan_close_fn, void *arg);
void		 chan_free(struct chan *);
int		 chan_compose(struct chan *, uint16_t type, uint32_t peerid,
		    int fd, const void *data, size_t len);
int		 chan_send(struct chan *, struct mbuf *);
void		 chan_kick(struct chan *);
/*
 * A blocking round trip, for a caller that cannot wait in the event
 * loop (OpenSSL asking for a signature in the middle of a handshake,
 * as OpenSMTPD's ca.c): send m, then wait up to timeout_ms for the
 * frame of this type with m's peerid, and hand it to fn (its data is
 * wiped afterwards on a wiping channel).  Other frames that come first
 * are kept and dispatched from the event loop, in order.  0, or -1 with
 * errno (ETIMEDOUT, EPIPE, or fn's -1); never from inside this
 * channel's own dispatch.
 */
int		 chan_call(struct chan *, struct mbuf *, uint16_t type,
		    int timeout_ms, chan_call_fn, void *);
struct chan	*chan_replace(struct chan **, struct event_base *, int fd,
		    const char *name, chan_dispatch_fn, chan_close_fn,
		    void *arg);
int		 chan_get_peer(struct imsg *, uint32_t want,
		    uint32_t *kind, uint32_t *index);

#endif
