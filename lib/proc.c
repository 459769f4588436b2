/*
 * proc.c - what every child does first after petreld exec'd it.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "chan.h"
#include "log.h"
#include "proc.h"
#include "wire.h"

void
proc_child_init(struct proc_args *pa, const char *title)
{
	log_setproc(pa->name);
	setproctitle("%s", title);
}

static void	(*proc_stop)(void);

static void
proc_stop_cb(evutil_socket_t sig, short ev, void *arg)
{
	proc_stop();
}

/*
 * A child stops on SIGTERM or SIGINT (finishing what is under way),
 * and ignores SIGPIPE (a peer that hangs up is an ordinary event) and
 * SIGHUP (petreld handles reloads).
 */
void
proc_child_signals(struct event_base *base, void (*stop)(void))
{
	struct event	*ev;

	proc_stop = stop;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	ev = evsignal_new(base, SIGTERM, proc_stop_cb, NULL);
	evsignal_add(ev, NULL);
	ev = evsignal_new(base, SIGINT, proc_stop_cb, NULL);
	evsignal_add(ev, NULL);
}

/*
 * A channel to a live peer was closed for an error: ask petreld for a
 * new one, as it gives one whenever a peer is (re)started.  The peer
 * only saw an EOF, so this side is the one that tells.
 */
void
proc_peer_lost(struct chan *master, struct chan *c, int kind, int index)
{
	struct mbuf	 m;

	if (!c->failed || master == NULL)
		return;
	m_create(&m, IMSG_CHILD_PEER_LOST, 0, -1);
	m_add_u32(&m, kind);
	m_add_u32(&m, index);
	chan_send(master, &m);
}

/*
 * Tests only (PETREL_TEST_HOOKS set in the environment): SIGUSR2 makes
 * the child damage its peer channels, so the repair can be tested.
 */
static void	(*proc_hook)(void);

static void
proc_hook_cb(evutil_socket_t sig, short ev, void *arg)
{
	proc_hook();
}

void
proc_test_hook(struct event_base *base, void (*fn)(void))
{
	struct event	*ev;

	if (getenv("PETREL_TEST_HOOKS") == NULL)
		return;
	proc_hook = fn;
	ev = evsignal_new(base, SIGUSR2, proc_hook_cb, NULL);
	evsignal_add(ev, NULL);
}

/* Write a frame header whose length is impossible: the peer must close. */
void
chan_test_garble(struct chan *c)
{
	struct imsg_hdr	 h;

	if (c == NULL || c->dead)
		return;
	memset(&h, 0, sizeof(h));
	h.type = 1;
	h.len = 3;
	if (write(c->ibuf.fd, &h, sizeof(h)) != sizeof(h))
		log_warn("test hook: write");
	else
		log_warnx("test hook: garbled frame sent on channel %s",
		    c->name);
}
