/*
 * proc.h - the processes petreld starts, and what a child inherits.
 *
 * petreld re-executes itself for each child ("petreld -x smtpd -i 0
 * ..."), so every child starts with a fresh address space.  The child
 * finds its channel to the parent on PROC_MASTER_FD and, for smtpd,
 * the listening sockets from PROC_LISTEN_FD on, and the configuration
 * petreld checked on PROC_CONF_FD (petreld -C), so that it never runs
 * with a file edited since, or with a key a reload had to keep.
 */
#ifndef PETREL_PROC_H
#define PETREL_PROC_H

#include "conf.h"

#define PROC_MASTER_FD	3
#define PROC_LISTEN_FD	4
/* the configuration petreld runs with (conf_load_fd()), past the listeners */
#define PROC_CONF_FD	(PROC_LISTEN_FD + CONF_MAX_LISTEN)

struct proc_args {
	const char	*name;		/* "smtpd", "queued" */
	int		 index;		/* worker number */
	int		 foreground;
	int		 verbose;
	struct petrel_conf *conf;
};

void	smtpd_main(struct proc_args *) __attribute__((noreturn));
void	queued_main(struct proc_args *) __attribute__((noreturn));
void	deliverd_main(struct proc_args *) __attribute__((noreturn));
void	keysd_main(struct proc_args *) __attribute__((noreturn));
void	proc_child_init(struct proc_args *, const char *title);
struct event_base;
void	proc_child_signals(struct event_base *, void (*stop)(void));
struct chan;
void	proc_peer_lost(struct chan *master, struct chan *, int kind,
	    int index);
void	proc_test_hook(struct event_base *, void (*fn)(void));
void	chan_test_garble(struct chan *);

#endif
