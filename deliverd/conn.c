/*
 * conn.c - the life of one outgoing SMTP connection: connect (next
 * address, next MX host on failure), then hand the socket to client.c
 * for the dialogue; close, drop or QUIT it; fail its task when the
 * session breaks off; the timeouts and the socket's events.
 *
 * A host that failed before a transaction began (c->last_error says
 * why) makes way for the next address; when no host of the
 * destination is left, the task and those waiting behind it fail
 * temporarily, unless other connections to the site work, and then
 * the site holds at fewer connections for a while (conn_exhausted).
 * A TLS handshake that failed under OpportunisticInsecure tries the
 * same host again in clear text (client.c's conn_tls_failed).
 *
 * Connections of all sites together stay within deliverd's descriptor
 * budget (see site_kick); a socket that cannot be had (EMFILE) is not
 * the host's fault: the task waits for a moment (conn_no_fd).
 *
 * Callbacks are deferred (BEV_OPT_DEFER_CALLBACKS): none runs inside
 * another, so a connection may be freed from any of them.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "log.h"
#include "deliverd.h"
#include "conn.h"
#include "smtp.h"
#include "tls.h"
#include "trace.h"
#include "util.h"
#include "wire.h"

static void	conn_connect(struct conn *);
static uint32_t	conn_serial;	/* numbers connections for traces */

void
conn_send(struct conn *c, const char *fmt, ...)
{
	va_list		 ap;

	va_start(ap, fmt);
	smtp_vline(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
	if (trace_active) {
		va_start(ap, fmt);
		trace_vsent(c, fmt, ap);
		va_end(ap);
	}
}

void
conn_timeout(struct conn *c, int secs)
{
	struct timeval	 tv = { secs, 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

void
conn_close(struct conn *c)
{
	struct site	*d = c->site;

	TRACE_EVENT(c, "closed");
	TAILQ_REMOVE(&d->conns, c, entry);
	d->nconn--;
	dd->nconn--;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	txn_end(&c->txn);
	auth_end(c);
	if (c->in_read)
		c->dead = 1;	/* conn_read_cb frees it */
	else
		free(c);
	/* a connection slot is free: waiting tasks may use it */
	site_kick(d);
	deliverd_conn_closed();
}

/* The task's result says how the session was protected. */
void
conn_task_tls(struct conn *c, struct dtask *t)
{
	strlcpy(t->tls, c->tls ? c->tls_version : "", sizeof(t->tls));
	strlcpy(t->cipher, c->tls ? c->tls_cipher : "", sizeof(t->cipher));
	strlcpy(t->auth, c->authed ? c->auth_user : "", sizeof(t->auth));
}

/*
 * The transaction broke off (timeout, lost connection, protocol
 * error): every recipient without an outcome fails temporarily with
 * c->last_error, and the connection closes.  The socket goes first:
 * the task's spool fd may still be queued for sending.
 */
void
conn_fail(struct conn *c)
{
	struct dtask	*t = c->task;

	TRACE_EVENT(c, "error: %s", c->last_error);
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	c->task = NULL;
	if (t != NULL) {
		conn_task_tls(c, t);
		task_fail_all(t, RCPT_TEMPFAIL, c->last_error, c->relay);
	}
	conn_close(c);
}

/*
 * The server broke the protocol: the session cannot be trusted, so the
 * transaction fails for now and the connection closes.
 */
void
conn_protocol_error(struct conn *c, const char *what, const char *reply)
{
	char	 q1[512], q2[512];

	snprintf(c->last_error, sizeof(c->last_error),
	    "4.5.0 conversation with %s: protocol error: %s%s%s", c->relay,
	    what, *reply ? ": " : "", reply);
	log_warnx("site=%s relay=%s: protocol error, closing: reason=\"%s\"",
	    log_quote(c->site->name, q1, sizeof(q1)), c->relay,
	    log_quote(c->last_error, q2, sizeof(q2)));
	conn_fail(c);
}

struct conn *
conn_new(struct site *d, struct dtask *t)
{
	struct conn	*c;

	c = xcalloc(1, sizeof(*c));
	c->site = d;
	c->task = t;
	c->serial = ++conn_serial;
	c->txn.done = 1;
	c->conn_token = 1;	/* site_kick took it, if there is a rate */
	TAILQ_INSERT_TAIL(&d->conns, c, entry);
	d->nconn++;
	dd->nconn++;
	conn_connect(c);
	return c;
}

/*
 * No host of the destination could be reached: this task and the ones
 * waiting behind it fail temporarily with the last error.
 */
static void
conn_exhausted(struct conn *c)
{
	struct site	*d = c->site;
	struct dtask	*t;
	struct conn	*other;
	char		 why[600], q1[512], q2[700];

	if (strncmp(c->last_error, "4.", 2) == 0 ||
	    (c->last_error[0] >= '2' && c->last_error[0] <= '5' &&
	    c->last_error[3] == ' '))
		strlcpy(why, c->last_error, sizeof(why));
	else
		snprintf(why, sizeof(why), "4.4.1 %s", c->last_error);
	log_quote(d->name, q1, sizeof(q1));
	log_quote(why, q2, sizeof(q2));
	t = c->task;
	c->task = NULL;
	TAILQ_FOREACH(other, &d->conns, entry)
		if (other != c && other->state != C_CONNECTING &&
		    other->state != C_AUTHCHECK && other->state != C_QUIT)
			break;
	if (other != NULL && t != NULL) {
		/*
		 * Other connections to the site work (this one may have hit
		 * a per-client connection limit): the task waits for them.
		 */
		log_info("site=%s reason=\"%s\": holding at %d connections "
		    "for a while", q1, q2, d->nconn - 1);
		d->cap = d->nconn - 1;
		d->cap_time = time(NULL);
		TAILQ_INSERT_HEAD(&d->ready, t, entry);
		d->nready++;
		conn_close(c);
		return;
	}
	log_info("site=%s event=Unreachable reason=\"%s\"", q1, q2);
	TRACE_EVENT(c, "no host left: %s", why);
	if (t != NULL)
		task_fail_all(t, RCPT_TEMPFAIL, why, "");
	while ((t = TAILQ_FIRST(&d->ready)) != NULL) {
		TAILQ_REMOVE(&d->ready, t, entry);
		d->nready--;
		task_fail_all(t, RCPT_TEMPFAIL, why, "");
	}
	conn_close(c);
}

/*
 * This host failed before a transaction began, c->last_error says why:
 * try the next address (next 0: the same one again, in clear text; see
 * conn_tls_failed).
 */
void
conn_retry(struct conn *c, int next)
{
	char	 q1[512], q2[512];

	log_debug("site=%s relay=%s: reason=\"%s\"",
	    log_quote(c->site->name, q1, sizeof(q1)), c->relay,
	    log_quote(c->last_error, q2, sizeof(q2)));
	TRACE_EVENT(c, "error: %s", c->last_error);
	if (c->task == NULL) {
		/* an idle connection went bad: nothing to carry elsewhere */
		conn_close(c);
		return;
	}
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	auth_end(c);
	if (next) {
		c->addr++;
		c->tls_clear = 0;
	} else
		c->tls_clear = 1;
	conn_connect(c);
}

/* This host failed before a transaction began: try the next one. */
void
conn_advance(struct conn *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	conn_retry(c, 1);
}

/*
 * Out of descriptors (EMFILE, ENFILE): not the host's fault.  The task
 * goes back to the head of its site's queue and is tried again when
 * deliverd's short pause ends.
 */
static void
conn_no_fd(struct conn *c)
{
	struct site	*d = c->site;
	struct dtask	*t = c->task;

	c->task = NULL;
	if (t != NULL) {
		TAILQ_INSERT_HEAD(&d->ready, t, entry);
		d->nready++;
	}
	/* nothing was opened: the max_connection_rate token goes back */
	if (c->conn_token)
		rate_return(&d->conn_rate, &d->eg.max_connection_rate);
	c->conn_token = 0;
	deliverd_fd_shortage("socket");
	conn_close(c);
}

/* What EHLO said no longer holds (a new session, TLS, HELO). */
void
conn_forget_ext(struct conn *c)
{
	c->pipelining = c->size_ext = c->ext_8bitmime = c->ext_smtputf8 = 0;
	c->ext_starttls = c->ext_auth = c->ext_auth_seen = 0;
}

/*
 * A host not to be connected to (auth.c: a bad login remembered, no
 * password), c->last_error says why: on to the next host.
 */
void
conn_skip_host(struct conn *c)
{
	char	 q1[512], q2[512];

	log_info("site=%s host=%s: skipped: reason=\"%s\"",
	    log_quote(c->site->name, q1, sizeof(q1)), c->auth_host,
	    log_quote(c->last_error, q2, sizeof(q2)));
	TRACE_EVENT(c, "skipped: %s", c->last_error);
	c->host++;
	c->addr = 0;
	conn_connect(c);
}

/* auth.c's check before connecting let this host through. */
void
conn_connect_checked(struct conn *c)
{
	c->auth_checked = 1;
	conn_connect(c);
}

static void
conn_connect(struct conn *c)
{
	struct dns_result *res = &c->site->res;
	struct dns_host	*h;
	struct sockaddr	*sa;
	char		 ip[INET6_ADDRSTRLEN], q[512];
	int		 fd;

	for (;;) {
		if (c->host >= res->nhosts) {
			conn_exhausted(c);
			return;
		}
		h = &res->hosts[c->host];
		if (c->addr >= h->naddr) {
			c->host++;
			c->addr = 0;
			continue;
		}
		sa = (struct sockaddr *)&h->addrs[c->addr];
		sa_to_text(sa, ip, sizeof(ip));
		/* the name came from DNS: any byte may be in it */
		snprintf(c->relay, sizeof(c->relay), "%s[%s]:%u",
		    log_quote(h->name, q, sizeof(q)), ip,
		    ntohs(sa->sa_family == AF_INET ?
		    ((struct sockaddr_in *)sa)->sin_port :
		    ((struct sockaddr_in6 *)sa)->sin6_port));
		if (egress_hosts_match(c->site->eg.skip_hosts, sa)) {
			/* KumoMTA's wording, when nothing else was tried */
			if (c->last_error[0] == '\0')
				snprintf(c->last_error, sizeof(c->last_error),
				    "4.4.4 MX consisted solely of hosts on the "
				    "skip_hosts list");
			c->addr++;
			continue;
		}
		if (conn_is_self(sa)) {
			char	 q2[512];

			snprintf(c->last_error, sizeof(c->last_error),
			    "4.4.6 mail for %s loops back to myself (%s)",
			    c->site->name, c->relay);
			log_warnx("site=%s reason=\"%s\"",
			    log_quote(c->site->name, q, sizeof(q)),
			    log_quote(c->last_error, q2, sizeof(q2)));
			c->addr++;
			continue;
		}
		break;
	}
	if (!c->auth_checked && auth_precheck(c, h->name, ntohs(
	    sa->sa_family == AF_INET ? ((struct sockaddr_in *)sa)->sin_port :
	    ((struct sockaddr_in6 *)sa)->sin6_port)))
		return;		/* auth_checked() goes on */
	c->auth_checked = 0;
	c->state = C_CONNECTING;
	conn_forget_ext(c);
	c->tls_mode = c->site->eg.enable_tls;
	c->implicit_tls = c->site->eg.implicit_tls;
	c->tls = c->tls_verified = 0;
	c->tls_version[0] = c->tls_cipher[0] = '\0';
	smtp_reply_reset(&c->reply);
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			conn_no_fd(c);
			return;
		}
		conn_advance(c, "socket for %s: %s", c->relay, strerror(errno));
		return;
	}
	c->conn_token = 0;
	c->bev = bufferevent_socket_new(dd->base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	conn_timeout(c, c->site->eg.connect_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	TRACE_EVENT(c, "connecting");
	if (bufferevent_socket_connect(c->bev, sa, h->addrlens[c->addr]) == -1)
		conn_advance(c, "connect to %s: %s", c->relay,
		    strerror(errno));
}

/*
 * QUIT straight to the socket when nothing else is pending (it nearly
 * always fits), for a connection about to be closed without waiting
 * for the answer.  Not under TLS: there it could only be written
 * through the session, so the connection just closes.
 */
void
conn_say_quit(struct conn *c)
{
	if (c->bev != NULL && !c->tls && c->state != C_TLS &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		(void)send(bufferevent_getfd(c->bev), "QUIT\r\n", 6,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		TRACE_SENT(c, "QUIT", 0);
	}
}

/* Close at once: for room within the descriptor budget. */
void
conn_drop(struct conn *c)
{
	conn_say_quit(c);
	conn_close(c);
}

/*
 * Send QUIT and close when it is answered, or soon; at once when
 * other sites wait for room.
 */
void
conn_quit(struct conn *c)
{
	if (!TAILQ_EMPTY(&dd->budget_wait)) {
		conn_drop(c);
		return;
	}
	conn_send(c, "QUIT");
	c->state = C_QUIT;
	conn_timeout(c, 5);
}

static const char *
conn_state_name(struct conn *c)
{
	switch (c->state) {
	case C_AUTHCHECK:	return "before connecting";
	case C_AUTHKEY:		return "while fetching the AUTH password";
	case C_TLSKEY:		return "while fetching the client certificate";
	case C_AUTH:		return "after AUTH";
	case C_CONNECTING:	return "while connecting";
	case C_TLS:		return "during the TLS handshake";
	case C_BANNER:		return "while waiting for the banner";
	case C_EHLO:		return "after EHLO";
	case C_HELO:		return "after HELO";
	case C_STARTTLS:	return "after STARTTLS";
	case C_TRANSACTION:
		if (c->txn.writing)
			return "while sending the message text";
		switch (txn_waiting(&c->txn)) {
		case TXN_RSET:	return "after RSET";
		case TXN_MAIL:	return "after MAIL FROM";
		case TXN_RCPT:	return "after RCPT TO";
		case TXN_DATA:	return "after DATA";
		case TXN_DOT:	return "after the empty text";
		default:	return "after the message text";
		}
	case C_IDLE:		return "idle";
	case C_QUIT:		return "after QUIT";
	}
	return "?";
}

void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	const char	*how;
	char		 stalled[64] = "";

	if (what & BEV_EVENT_CONNECTED) {
		int	 on = 1;

		if (c->state == C_TLS) {
			conn_tls_done(c);
			return;
		}

		/*
		 * Every write is a whole batch already (evbuffers); Nagle
		 * would hold the final dot behind the message text for a
		 * delayed ACK, 40 ms per message.
		 */
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &on, sizeof(on));
		TRACE_EVENT(c, "connected");
		if (c->implicit_tls) {
			conn_tls_start(c);
			return;
		}
		c->state = C_BANNER;
		conn_timeout(c, c->site->eg.banner_timeout);
		return;
	}
	if (c->state == C_TLS) {
		conn_tls_failed(c, what);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		how = "timed out";
	else if (what & BEV_EVENT_EOF)
		how = "lost connection";
	else if (c->tls)
		how = tls_error_text(bev);
	else
		how = evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
	switch (c->state) {
	case C_CONNECTING:
		conn_advance(c, "connect to %s: %s", c->relay, how);
		return;
	case C_TLS:	/* above */
	case C_BANNER:
	case C_EHLO:
	case C_HELO:
	case C_STARTTLS:
	case C_AUTHCHECK:	/* no socket */
	case C_AUTHKEY:
	case C_TLSKEY:
	case C_AUTH:
		conn_advance(c, "conversation with %s: %s %s", c->relay, how,
		    conn_state_name(c));
		return;
	case C_TRANSACTION:
		if ((what & BEV_EVENT_TIMEOUT) && c->txn.writing)
			snprintf(stalled, sizeof(stalled), " (nothing could "
			    "be written for %d s)", c->site->eg.data_timeout);
		snprintf(c->last_error, sizeof(c->last_error),
		    "4.4.2 conversation with %s: %s %s%s", c->relay, how,
		    conn_state_name(c), stalled);
		conn_fail(c);
		return;
	case C_IDLE:
		if ((what & BEV_EVENT_TIMEOUT) && c->bev != NULL) {
			/* idle_timeout: say goodbye (a timeout disables) */
			bufferevent_enable(c->bev, EV_READ | EV_WRITE);
			conn_quit(c);
			return;
		}
		/* FALLTHROUGH */
	case C_QUIT:
		conn_close(c);
		return;
	}
}