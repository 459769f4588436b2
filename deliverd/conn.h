/*
 * conn.h - what deliverd's two halves of an outgoing connection share:
 * conn.c (its life: connect, next address, next host, close, timeouts,
 * socket events) and client.c (the SMTP dialogue on it).  Not for the
 * rest of deliverd: that uses client.c's part of deliverd.h.
 */
#ifndef PETREL_DELIVERD_CONN_H
#define PETREL_DELIVERD_CONN_H

#include <event2/bufferevent.h>

#include "deliverd.h"

/* conn.c */
void	 conn_send(struct conn *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 conn_timeout(struct conn *, int secs);
void	 conn_task_tls(struct conn *, struct dtask *);
void	 conn_fail(struct conn *);
void	 conn_protocol_error(struct conn *, const char *what,
	    const char *reply);
void	 conn_retry(struct conn *, int next);
void	 conn_advance(struct conn *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 conn_forget_ext(struct conn *);
void	 conn_say_quit(struct conn *);
void	 conn_quit(struct conn *);
void	 conn_event_cb(struct bufferevent *, short, void *);
void	 conn_skip_host(struct conn *);
void	 conn_connect_checked(struct conn *);

/* client.c */
void	 conn_run(struct conn *);
void	 conn_tls_start(struct conn *);
void	 conn_tls_done(struct conn *);
void	 conn_tls_failed(struct conn *, short what);
void	 conn_read_cb(struct bufferevent *, void *);
void	 conn_write_cb(struct bufferevent *, void *);

#endif
