/*
 * proc.c - what every child does first after petreld exec'd it.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "proc.h"

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
