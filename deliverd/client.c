/*
 * client.c - one outgoing SMTP connection: connect (next address, next
 * MX host on failure), banner, EHLO (HELO on 5xx), then transactions
 * for as many tasks of its destination as come, pipelined when the
 * server offers PIPELINING, until max_deliveries_per_connection or
 * idle_timeout.
 *
 * The message text lies in the spool in wire form (CRLF, dot-stuffed),
 * so it goes from the spool fd to the socket as it is (evbuffer_add_file
 * uses sendfile where it can), followed by the final dot.
 *
 * Callbacks are deferred (BEV_OPT_DEFER_CALLBACKS): none runs inside
 * another, so a connection may be freed from any of them.
 */
#include "config.h"

#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "log.h"
#include "deliverd.h"
#include "smtp.h"
#include "util.h"
#include "wire.h"

#define REPLY_LINE_MAX	4096

static void	conn_read_cb(struct bufferevent *, void *);
static void	conn_event_cb(struct bufferevent *, short, void *);
static void	conn_connect(struct conn *);
static void	conn_begin(struct conn *);

/* --- the loop guard ------------------------------------------------- */

static struct sockaddr_storage self_addrs[64];
static int	nself;

/* This host's addresses, read before the chroot. */
void
conn_init_self(void)
{
	struct ifaddrs	*ifa, *i;

	if (getifaddrs(&ifa) == -1) {
		log_warn("getifaddrs");
		return;
	}
	for (i = ifa; i != NULL && nself < 64; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		memcpy(&self_addrs[nself++], i->ifa_addr,
		    i->ifa_addr->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	}
	freeifaddrs(ifa);
}

static int
addr_is_local(const struct sockaddr *sa)
{
	int	 i;

	if (sa->sa_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127)
		return 1;
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)sa)->sin6_addr))
		return 1;
	for (i = 0; i < nself; i++) {
		const struct sockaddr *s = (struct sockaddr *)&self_addrs[i];

		if (s->sa_family != sa->sa_family)
			continue;
		if (sa->sa_family == AF_INET &&
		    ((const struct sockaddr_in *)s)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)sa)->sin_addr.s_addr)
			return 1;
		if (sa->sa_family == AF_INET6 &&
		    !memcmp(&((const struct sockaddr_in6 *)s)->sin6_addr,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, 16))
			return 1;
	}
	return 0;
}

/* Is this next hop one of our own listeners?  (Postfix: "loops back") */
int
conn_is_self(const struct sockaddr *sa)
{
	struct petrel_conf *cf = dd->conf;
	int		 i;

	for (i = 0; i < cf->smtpd_nlisten; i++) {
		const struct sockaddr *l = (struct sockaddr *)&cf->smtpd_listen[i];
		int		 wild = 0;
		in_port_t	 lp, p;

		if (l->sa_family == AF_INET) {
			lp = ((const struct sockaddr_in *)l)->sin_port;
			wild = ((const struct sockaddr_in *)l)->sin_addr.s_addr ==
			    htonl(INADDR_ANY);
		} else {
			lp = ((const struct sockaddr_in6 *)l)->sin6_port;
			wild = IN6_IS_ADDR_UNSPECIFIED(
			    &((const struct sockaddr_in6 *)l)->sin6_addr);
		}
		p = sa->sa_family == AF_INET ?
		    ((const struct sockaddr_in *)sa)->sin_port :
		    ((const struct sockaddr_in6 *)sa)->sin6_port;
		if (p != lp)
			continue;
		if (wild ? addr_is_local(sa) : sa_equal(l, sa))
			return 1;
	}
	return 0;
}

/* --- connection life ----------------------------------------------- */

static void
conn_send(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_send(struct conn *c, const char *fmt, ...)
{
	va_list		 ap;

	va_start(ap, fmt);
	smtp_vline(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
}

static void
conn_timeout(struct conn *c, int secs)
{
	struct timeval	 tv = { secs, 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

void
conn_close(struct conn *c)
{
	struct site	*d = c->site;

	TAILQ_REMOVE(&d->conns, c, entry);
	d->nconn--;
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->in_read)
		c->dead = 1;	/* conn_read_cb frees it */
	else
		free(c);
	/* a connection slot is free: waiting tasks may use it */
	site_kick(d);
}

struct conn *
conn_new(struct site *d, struct dtask *t)
{
	struct conn	*c;

	c = xcalloc(1, sizeof(*c));
	c->site = d;
	c->task = t;
	TAILQ_INSERT_TAIL(&d->conns, c, entry);
	d->nconn++;
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
	char		 why[600];

	if (strncmp(c->last_error, "4.", 2) == 0 ||
	    (c->last_error[0] >= '2' && c->last_error[0] <= '5' &&
	    c->last_error[3] == ' '))
		strlcpy(why, c->last_error, sizeof(why));
	else
		snprintf(why, sizeof(why), "4.4.1 %s", c->last_error);
	t = c->task;
	c->task = NULL;
	TAILQ_FOREACH(other, &d->conns, entry)
		if (other != c && other->state != C_CONNECTING &&
		    other->state != C_QUIT)
			break;
	if (other != NULL && t != NULL) {
		/*
		 * Other connections to the site work (this one may have hit
		 * a per-client connection limit): the task waits for them.
		 */
		log_info("site=%s: %s; holding at %d connections for a "
		    "while", d->name, why, d->nconn - 1);
		d->cap = d->nconn - 1;
		d->cap_time = time(NULL);
		TAILQ_INSERT_HEAD(&d->ready, t, entry);
		d->nready++;
		conn_close(c);
		return;
	}
	log_info("site=%s event=Unreachable reason=\"%s\"", d->name, why);
	if (t != NULL)
		task_fail_all(t, RCPT_TEMPFAIL, why);
	while ((t = TAILQ_FIRST(&d->ready)) != NULL) {
		TAILQ_REMOVE(&d->ready, t, entry);
		d->nready--;
		task_fail_all(t, RCPT_TEMPFAIL, why);
	}
	conn_close(c);
}

/* This host failed before a transaction began: try the next one. */
static void
conn_advance(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_advance(struct conn *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(c->last_error, sizeof(c->last_error), fmt, ap);
	va_end(ap);
	log_debug("site=%s relay=%s: %s", c->site->name, c->relay,
	    c->last_error);
	if (c->task == NULL) {
		/* an idle connection went bad: nothing to carry elsewhere */
		conn_close(c);
		return;
	}
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	c->addr++;
	conn_connect(c);
}

static void
conn_connect(struct conn *c)
{
	struct dns_result *res = &c->site->res;
	struct dns_host	*h;
	struct sockaddr	*sa;
	char		 ip[INET6_ADDRSTRLEN];

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
		snprintf(c->relay, sizeof(c->relay), "%s[%s]:%u", h->name, ip,
		    ntohs(sa->sa_family == AF_INET ?
		    ((struct sockaddr_in *)sa)->sin_port :
		    ((struct sockaddr_in6 *)sa)->sin6_port));
		if (conn_is_self(sa)) {
			snprintf(c->last_error, sizeof(c->last_error),
			    "4.4.6 mail for %s loops back to myself (%s)",
			    c->site->name, c->relay);
			log_warnx("site=%s: %s", c->site->name, c->last_error);
			c->addr++;
			continue;
		}
		break;
	}
	c->state = C_CONNECTING;
	c->pipelining = c->size_ext = 0;
	c->replylen = 0;
	c->bev = bufferevent_socket_new(dd->base, -1,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
	conn_timeout(c, c->site->eg.connect_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, sa, h->addrlens[c->addr]) == -1)
		conn_advance(c, "connect to %s: %s", c->relay,
		    strerror(errno));
}

/* Send QUIT and close when it is answered, or soon. */
static void
conn_quit(struct conn *c)
{
	conn_send(c, "QUIT");
	c->state = C_QUIT;
	conn_timeout(c, 5);
}

/* The transaction is over: report, then the next task or idle. */
static void
conn_task_done(struct conn *c)
{
	struct dtask	*t = c->task;
	struct site	*d = c->site;

	c->task = NULL;
	c->deliveries++;
	c->rset_done = 0;
	task_finish(t, c->relay);
	if (dd->shutdown || c->closing ||
	    c->deliveries >= d->eg.max_deliveries_per_connection) {
		conn_quit(c);
		site_kick(d);	/* the rest get a new connection */
		return;
	}
	if ((t = TAILQ_FIRST(&d->ready)) != NULL) {
		TAILQ_REMOVE(&d->ready, t, entry);
		d->nready--;
		conn_take(c, t);
		return;
	}
	c->state = C_IDLE;
	conn_timeout(c, d->eg.idle_timeout);
}

void
conn_take(struct conn *c, struct dtask *t)
{
	c->task = t;
	conn_begin(c);
}

/*
 * Start the task's transaction.  On a reused connection RSET comes
 * first (enable_rset, as KumoMTA does; always after a transaction that
 * did not end cleanly): pipelined with MAIL, RCPT and DATA when the
 * server offers PIPELINING, else on its own.
 */
static void
conn_begin(struct conn *c)
{
	struct dtask	*t = c->task;
	struct stat	 st;
	int		 i, rset;

	rset = !c->rset_done && (c->need_rset ||
	    (c->deliveries > 0 && c->site->eg.enable_rset));
	if (rset && !c->pipelining) {
		conn_send(c, "RSET");
		c->state = C_RSET;
		conn_timeout(c, c->site->eg.mail_from_timeout);
		return;
	}
	c->state = C_TRANSACTION;
	c->phase = rset ? -1 : 0;
	c->need_rset = 0;
	c->mail_failed = 0;
	c->naccepted = 0;
	memset(t->accepted, 0, t->nrcpt);
	if (rset)
		conn_send(c, "RSET");
	if (c->size_ext && fstat(t->fd, &st) == 0)
		conn_send(c, "MAIL FROM:<%s> SIZE=%jd", t->from,
		    (intmax_t)st.st_size);
	else
		conn_send(c, "MAIL FROM:<%s>", t->from);
	if (c->pipelining) {
		for (i = 0; i < t->nrcpt; i++)
			conn_send(c, "RCPT TO:<%s>", t->rcpts[i]);
		conn_send(c, "DATA");
	}
	conn_timeout(c, c->site->eg.mail_from_timeout);
}

static void
conn_send_body(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct stat	 st;
	int		 fd;

	if (fstat(c->task->fd, &st) == -1 || (fd = dup(c->task->fd)) == -1 ||
	    (st.st_size > 0 && evbuffer_add_file(out, fd, 0, st.st_size) == -1)) {
		/* cannot read our own spool: tell the server to drop it */
		log_warn("id=%s: cannot send message text", c->task->msgid);
		bufferevent_free(c->bev);
		c->bev = NULL;
		task_fail_all(c->task, RCPT_TEMPFAIL,
		    "4.3.0 cannot read the message from the spool");
		c->task = NULL;
		conn_close(c);
		return;
	}
	if (st.st_size == 0)
		close(fd);
	evbuffer_add(out, ".\r\n", 3);
	conn_timeout(c, c->site->eg.data_dot_timeout);
}

/* Only 2xx is success; 5xx fails for good; anything else (4xx, or a
 * 1xx/3xx where none belongs) is temporary. */
static int
reply_status(int code)
{
	switch (code / 100) {
	case 2:
		return RCPT_DELIVERED;
	case 5:
		return RCPT_PERMFAIL;
	}
	return RCPT_TEMPFAIL;
}

/* Give every accepted recipient (or all, after MAIL) this outcome. */
static void
conn_set_accepted(struct conn *c, int code, const char *reply, int all)
{
	struct dtask	*t = c->task;
	int		 i;

	for (i = 0; i < t->nrcpt; i++) {
		if (!all && !t->accepted[i])
			continue;
		if (t->response[i] != NULL)
			continue;
		t->status[i] = reply_status(code);
		t->response[i] = xstrdup(reply);
	}
}

/* A reply within a transaction; replies come in the order sent. */
static void
conn_transaction_reply(struct conn *c, int code, const char *reply)
{
	struct dtask	*t = c->task;
	struct egress	*eg = &c->site->eg;
	int		 n = t->nrcpt, i;

	if (c->phase == -1) {			/* pipelined RSET */
		if (code / 100 != 2) {
			/* the session is confused: the task starts afresh */
			struct site	*s = c->site;

			TAILQ_INSERT_HEAD(&s->ready, t, entry);
			s->nready++;
			c->task = NULL;
			conn_close(c);
			return;
		}
	} else if (c->phase == 0) {		/* MAIL */
		if (code / 100 != 2) {
			c->mail_failed = 1;
			conn_set_accepted(c, code, reply, 1);
			if (!c->pipelining) {
				c->need_rset = 1;
				conn_task_done(c);
				return;
			}
		} else if (!c->pipelining) {
			conn_send(c, "RCPT TO:<%s>", t->rcpts[0]);
			conn_timeout(c, eg->rcpt_to_timeout);
		}
	} else if (c->phase <= n) {		/* RCPT */
		i = c->phase - 1;
		if (!c->mail_failed) {
			if (code / 100 == 2) {
				t->accepted[i] = 1;
				c->naccepted++;
			} else {
				t->status[i] = reply_status(code);
				t->response[i] = xstrdup(reply);
			}
		}
		if (!c->pipelining) {
			if (i + 1 < n) {
				conn_send(c, "RCPT TO:<%s>", t->rcpts[i + 1]);
			} else if (c->naccepted > 0) {
				conn_send(c, "DATA");
				conn_timeout(c, eg->data_timeout);
			} else {
				c->need_rset = 1;
				conn_task_done(c);
				return;
			}
		} else if (i + 1 == n)
			conn_timeout(c, eg->data_timeout);
	} else if (c->phase == n + 1) {		/* DATA */
		if (code == 354 && (c->mail_failed || c->naccepted == 0)) {
			/* RFC 2920: nobody to send to; end the empty data */
			evbuffer_add(bufferevent_get_output(c->bev), ".\r\n", 3);
			c->mail_failed = 1;
			conn_timeout(c, eg->data_dot_timeout);
		} else if (code == 354) {
			conn_send_body(c);
			if (c->task == NULL)
				return;
		} else {
			conn_set_accepted(c, code, reply, 0);
			c->need_rset = 1;
			conn_task_done(c);
			return;
		}
	} else {				/* the final dot */
		if (!c->mail_failed)
			conn_set_accepted(c, code, reply, 0);
		c->need_rset = c->mail_failed;
		conn_task_done(c);
		return;
	}
	c->phase++;
}

static void
conn_ehlo_line(struct conn *c, const char *text)
{
	if (strcasecmp(text, "PIPELINING") == 0)
		c->pipelining = c->site->eg.enable_pipelining;
	else if (strncasecmp(text, "SIZE", 4) == 0 &&
	    (text[4] == '\0' || text[4] == ' '))
		c->size_ext = 1;
}

/* A complete reply arrived. */
static void
conn_reply(struct conn *c, int code, const char *reply)
{
	switch (c->state) {
	case C_BANNER:
		if (code / 100 != 2) {
			conn_advance(c, "%s", reply);
			return;
		}
		conn_send(c, "EHLO %s", c->site->eg.ehlo_domain);
		c->state = C_EHLO;
		conn_timeout(c, c->site->eg.ehlo_timeout);
		return;
	case C_EHLO:
		if (code / 100 == 5) {
			conn_send(c, "HELO %s", c->site->eg.ehlo_domain);
			c->state = C_HELO;
			c->pipelining = c->size_ext = 0;
			return;
		}
		/* FALLTHROUGH */
	case C_HELO:
		if (code / 100 != 2) {
			conn_advance(c, "%s", reply);
			return;
		}
		conn_begin(c);
		return;
	case C_RSET:
		if (code / 100 != 2) {
			/* the session is confused: start the task afresh */
			struct site	*d = c->site;

			TAILQ_INSERT_HEAD(&d->ready, c->task, entry);
			d->nready++;
			c->task = NULL;
			conn_quit(c);
			return;
		}
		c->need_rset = 0;
		c->rset_done = 1;
		conn_begin(c);
		return;
	case C_TRANSACTION:
		if (code == 421)	/* the server is closing the session */
			c->closing = 1;
		conn_transaction_reply(c, code, reply);
		return;
	case C_QUIT:
	case C_IDLE:
	case C_CONNECTING:
		/* 221, or a server closing an idle session (421) */
		conn_close(c);
		return;
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 len;
	const char	*text;
	int		 code, more;

	/*
	 * Pipelined replies arrive together: take them all.  A reply may
	 * close the connection or move it to the next host; then stop.
	 */
	c->in_read = 1;
	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		if (smtp_parse_reply_line(line, &code, &more, &text) == -1) {
			char	 bad[80];

			strlcpy(bad, line, sizeof(bad));
			free(line);
			if (c->state == C_TRANSACTION) {
				snprintf(c->last_error, sizeof(c->last_error),
				    "4.5.0 %s sent a malformed reply: %s",
				    c->relay, bad);
				goto lost;
			}
			conn_advance(c, "4.5.0 %s sent a malformed reply: %s",
			    c->relay, bad);
			goto out;
		}
		if (c->state == C_EHLO && c->replylen > 0)
			conn_ehlo_line(c, text);
		if (c->replylen == 0)
			c->replylen = snprintf(c->reply, sizeof(c->reply),
			    "%d %s", code, text);
		free(line);
		if (more)
			continue;
		c->replylen = 0;
		conn_reply(c, code, c->reply);
		if (c->dead || c->bev != bev)
			goto out;
	}
	if (evbuffer_get_length(in) > REPLY_LINE_MAX) {
		snprintf(c->last_error, sizeof(c->last_error),
		    "4.5.0 %s sent an over-long reply line", c->relay);
		goto lost;
	}
	goto out;
lost:
	if (c->task != NULL) {
		struct dtask *t = c->task;

		c->task = NULL;
		task_fail_all(t, RCPT_TEMPFAIL, c->last_error);
	}
	conn_close(c);
out:
	c->in_read = 0;
	if (c->dead)
		free(c);
}

static const char *
conn_state_name(struct conn *c)
{
	switch (c->state) {
	case C_CONNECTING:	return "while connecting";
	case C_BANNER:		return "while waiting for the banner";
	case C_EHLO:		return "after EHLO";
	case C_HELO:		return "after HELO";
	case C_RSET:		return "after RSET";
	case C_TRANSACTION:
		if (c->phase == 0)
			return "after MAIL FROM";
		if (c->task && c->phase <= c->task->nrcpt)
			return "after RCPT TO";
		if (c->task && c->phase == c->task->nrcpt + 1)
			return "after DATA";
		return "after the message text";
	case C_IDLE:		return "idle";
	case C_QUIT:		return "after QUIT";
	}
	return "?";
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;
	const char	*how;

	if (what & BEV_EVENT_CONNECTED) {
		int	 on = 1;

		/*
		 * Every write is a whole batch already (evbuffers); Nagle
		 * would hold the final dot behind the message text for a
		 * delayed ACK, 40 ms per message.
		 */
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &on, sizeof(on));
		c->state = C_BANNER;
		conn_timeout(c, c->site->eg.banner_timeout);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		how = "timed out";
	else if (what & BEV_EVENT_EOF)
		how = "lost connection";
	else
		how = evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR());
	switch (c->state) {
	case C_CONNECTING:
		conn_advance(c, "connect to %s: %s", c->relay, how);
		return;
	case C_BANNER:
	case C_EHLO:
	case C_HELO:
		conn_advance(c, "conversation with %s: %s %s", c->relay, how,
		    conn_state_name(c));
		return;
	case C_RSET:
	case C_TRANSACTION:
		snprintf(c->last_error, sizeof(c->last_error),
		    "4.4.2 conversation with %s: %s %s", c->relay, how,
		    conn_state_name(c));
		if (c->task != NULL) {
			struct dtask *t = c->task;

			c->task = NULL;
			task_fail_all(t, RCPT_TEMPFAIL, c->last_error);
		}
		conn_close(c);
		return;
	case C_IDLE:
	case C_QUIT:
		conn_close(c);
		return;
	}
}
