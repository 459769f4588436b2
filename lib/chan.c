/*
 * chan.c - libevent glue for imsg channels.
 */
#include "config.h"

#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "log.h"
#include "util.h"
#include "wire.h"

#define CHAN_EXIT_POLLS		20	/* of 100 ms: the wait at exit */

static void	chan_read_cb(evutil_socket_t, short, void *);
static void	chan_write_cb(evutil_socket_t, short, void *);

/* every live channel, for chan_flush_all() */
static struct chan	**chan_all;
static size_t		  chan_nall, chan_allsize;

/*
 * At exit, what was sent on a channel still goes out: chan_send()
 * only queues a frame, and a process that leaves its event loop right
 * after it (deliverd reporting its last results on SIGTERM) would
 * otherwise drop it, and the peer would take a finished delivery for
 * an unfinished one and make it again.  Bounded, so a peer that does
 * not read cannot hold the exit.
 */
static void
chan_flush_all(void)
{
	struct pollfd	 pfd;
	size_t		 i;
	int		 polls = CHAN_EXIT_POLLS;

	for (i = 0; i < chan_nall; i++) {
		if (chan_all[i]->dead)
			continue;
		pfd.fd = chan_all[i]->ibuf.fd;
		pfd.events = POLLOUT;
		while (imsg_write(&chan_all[i]->ibuf) == 1 && polls-- > 0)
			(void)poll(&pfd, 1, 100);
	}
}

struct chan *
chan_new(struct event_base *base, int fd, const char *name,
    chan_dispatch_fn dispatch, chan_close_fn closed, void *arg)
{
	struct chan	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		fatal("calloc");
	evutil_make_socket_nonblocking(fd);
	evutil_make_socket_closeonexec(fd);
	imsgbuf_init(&c->ibuf, fd);
	c->name = name;
	c->dispatch = dispatch;
	c->closed = closed;
	c->arg = arg;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, chan_read_cb, c);
	c->wev = event_new(base, fd, EV_WRITE, chan_write_cb, c);
	if (c->rev == NULL || c->wev == NULL)
		fatalx("event_new");
	event_add(c->rev, NULL);
	if (chan_allsize == 0)
		atexit(chan_flush_all);
	if (chan_nall == chan_allsize) {
		chan_allsize = chan_allsize ? chan_allsize * 2 : 16;
		if ((chan_all = reallocarray(chan_all, chan_allsize,
		    sizeof(*chan_all))) == NULL)
			fatal("reallocarray");
	}
	chan_all[chan_nall++] = c;
	return c;
}

void
chan_free(struct chan *c)
{
	struct chan_held *h;
	size_t		 i;

	if (c == NULL)
		return;
	for (i = 0; i < chan_nall; i++)
		if (chan_all[i] == c) {
			chan_all[i] = chan_all[--chan_nall];
			break;
		}
	while ((h = c->held) != NULL) {
		c->held = h->next;
		if (h->im.fd != -1)
			close(h->im.fd);
		if (c->ibuf.wipe)
			explicit_bzero(h->data, h->im.datalen);
		free(h);
	}
	event_free(c->rev);
	event_free(c->wev);
	close(c->ibuf.fd);
	imsgbuf_clear(&c->ibuf);
	free(c);
}

/*
 * Tear down once: the owner's close callback drops its references,
 * then the channel is freed.  Only called from this channel's own
 * event callbacks, so nothing of it is touched afterwards.
 */
static void
chan_fail(struct chan *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = 1;
	if (why != NULL) {
		c->failed = 1;
		log_warnx("channel %s: %s, closing it", c->name, why);
	}
	event_del(c->rev);
	event_del(c->wev);
	if (c->closed != NULL)
		c->closed(c);
	chan_free(c);
}

void
chan_kick(struct chan *c)
{
	if (!c->dead && imsg_pending(&c->ibuf))
		event_add(c->wev, NULL);
}

int
chan_compose(struct chan *c, uint16_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	if (c->dead) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (imsg_compose(&c->ibuf, type, peerid, fd, data, len) == -1)
		return -1;
	event_add(c->wev, NULL);
	return 0;
}

int
chan_send(struct chan *c, struct mbuf *m)
{
	if (c->dead) {
		m_discard(m);
		return -1;
	}
	if (m_close(m, &c->ibuf) == -1) {
		log_warnx("channel %s: message type %u too large",
		    c->name, m->type);
		return -1;
	}
	event_add(c->wev, NULL);
	return 0;
}

static void
chan_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct chan	*c = arg;
	int		 r;

	if ((r = imsg_write(&c->ibuf)) == -1) {
		/*
		 * The peer has gone, but what it sent before it went (the
		 * last results of a deliverd that stopped) may still be
		 * unread here: the read side closes the channel at EOF,
		 * after those frames.
		 */
		if (errno == EPIPE)
			return;
		chan_fail(c, strerror(errno));
		return;
	}
	if (r == 1)
		event_add(c->wev, NULL);
}

/*
 * Hand one frame to the owner: -1 when the channel must close.  What
 * the frame held is zeroed afterwards on a channel that wipes, and a
 * descriptor the handler did not keep is closed.
 */
static int
chan_dispatch(struct chan *c, struct imsg *im)
{
	int	 r;

	if (im->hdr.type == IMSG_NONE || im->hdr.type >= IMSG_TYPE_MAX ||
	    (im->fd != -1 && !wire_takes_fd(im->hdr.type)))
		r = -1;
	else
		r = c->dispatch(c, im);
	if (c->ibuf.wipe && im->datalen > 0)
		explicit_bzero(im->data, im->datalen);
	if (im->fd != -1)
		close(im->fd);
	return r;
}

/* Frames that came while chan_call() waited go first, in order. */
static int
chan_dispatch_held(struct chan *c)
{
	struct chan_held *h;
	int		 r;

	while ((h = c->held) != NULL) {
		c->held = h->next;
		r = chan_dispatch(c, &h->im);
		free(h);
		if (r == -1) {
			chan_fail(c, "protocol error");
			return -1;
		}
	}
	return 0;
}

static void
chan_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct chan	*c = arg;
	struct imsg	 im;
	ssize_t		 n;
	int		 r;

	if (chan_dispatch_held(c) == -1)
		return;
	/* nothing new is no error: chan_call() may have left whole frames */
	if ((n = imsg_read(&c->ibuf)) == -1 && errno != EAGAIN &&
	    errno != EWOULDBLOCK) {
		chan_fail(c, strerror(errno));
		return;
	}
	c->indispatch = 1;
	for (;;) {
		if ((r = imsg_get(&c->ibuf, &im)) == -1) {
			chan_fail(c, "garbled frame");
			return;
		}
		if (r == 0)
			break;
		if (chan_dispatch(c, &im) == -1) {
			chan_fail(c, "protocol error");
			return;
		}
	}
	c->indispatch = 0;
	if (n == 0)
		chan_fail(c, NULL);
}

/*
 * A frame read while waiting in chan_call(), kept (copied: the read
 * buffer moves on) until the event loop dispatches it.
 */
static void
chan_hold(struct chan *c, struct imsg *im)
{
	struct chan_held *h, **tail;

	h = xcalloc(1, sizeof(*h) + im->datalen);
	h->im = *im;
	h->im.data = h->data;
	memcpy(h->data, im->data, im->datalen);
	if (c->ibuf.wipe && im->datalen > 0)
		explicit_bzero(im->data, im->datalen);
	for (tail = &c->held; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = h;
	/* dispatched from the loop, even if nothing more is read */
	event_active(c->rev, EV_READ, 1);
}

static int
chan_poll(int fd, short events, const struct timespec *deadline)
{
	struct timespec	 now;
	struct pollfd	 pfd = { .fd = fd, .events = events };
	long		 ms;
	int		 r;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (deadline->tv_sec - now.tv_sec) * 1000 +
		    (deadline->tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if ((r = poll(&pfd, 1, (int)ms)) == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r > 0)
			return 0;
	}
}

int
chan_call(struct chan *c, struct mbuf *m, uint16_t type, int timeout_ms,
    chan_call_fn fn, void *arg)
{
	struct timespec	 deadline;
	struct imsg	 im;
	uint32_t	 peerid = m->peerid;
	ssize_t		 n;
	int		 r, ret, saved;

	/*
	 * From inside this channel's dispatch the read buffer is in use
	 * (the frame being handled points into it): no reading here.
	 */
	if (c->dead || c->indispatch) {
		m_discard(m);
		errno = c->dead ? EPIPE : EDEADLK;
		return -1;
	}
	if (chan_send(c, m) == -1)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	while ((r = imsg_write(&c->ibuf)) == 1)
		if (chan_poll(c->ibuf.fd, POLLOUT, &deadline) == -1)
			return -1;
	if (r == -1)
		return -1;
	ret = -1;
	for (;;) {
		/* frames already read (behind one being held) come first */
		while ((r = imsg_get(&c->ibuf, &im)) == 1) {
			if (im.hdr.type != type || im.hdr.peerid != peerid ||
			    im.fd != -1) {
				chan_hold(c, &im);
				continue;
			}
			ret = fn(arg, &im);
			if (c->ibuf.wipe && im.datalen > 0)
				explicit_bzero(im.data, im.datalen);
			goto out;
		}
		/* garbled: the loop's read closes the channel */
		if (r == -1 || chan_poll(c->ibuf.fd, POLLIN, &deadline) == -1)
			goto out;
		if ((n = imsg_read(&c->ibuf)) == -1 && errno != EAGAIN &&
		    errno != EWOULDBLOCK)
			goto out;
		if (n == 0) {
			errno = EPIPE;	/* the loop sees the EOF too */
			goto out;
		}
	}
out:
	/*
	 * Whatever is left in the read buffer (frames behind the answer, a
	 * garbled one, the EOF), the loop takes from here.
	 */
	saved = errno;
	if (c->ibuf.rlen > c->ibuf.roff || ret == -1)
		event_active(c->rev, EV_READ, 1);
	errno = saved;
	return ret;
}

/*
 * Put a new channel on fd into *slot.  An old one there is closed first,
 * its close callback told as if its peer had gone (it has: petreld only
 * sends a new channel when the old peer died).
 */
struct chan *
chan_replace(struct chan **slot, struct event_base *base, int fd,
    const char *name, chan_dispatch_fn dispatch, chan_close_fn closed,
    void *arg)
{
	struct chan	*old = *slot;

	if (old != NULL) {
		if (old->closed != NULL)
			old->closed(old);
		chan_free(old);
	}
	*slot = chan_new(base, fd, name, dispatch, closed, arg);
	return *slot;
}

/*
 * The payload of IMSG_MASTER_PEER: u32 kind, u32 index, and an fd.
 * want is the only kind the receiver accepts (0: any).  On a malformed
 * or unwanted one -1 is returned (the channel closes the fd).
 */
int
chan_get_peer(struct imsg *im, uint32_t want, uint32_t *kind,
    uint32_t *index)
{
	struct mreader	 r;

	m_reader(&r, im);
	if (m_get_u32(&r, kind) == -1 || m_get_u32(&r, index) == -1 ||
	    m_end(&r) == -1 || im->fd == -1 || (want && *kind != want))
		return -1;
	return 0;
}
