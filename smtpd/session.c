/*
 * session.c - one SMTP server session (RFC 5321 with PIPELINING,
 * SIZE, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES).
 *
 * Commands are taken from the input buffer one line at a time, so a
 * pipelined batch is answered in order and its replies leave in one
 * write.  A command that needs queued (DATA, end of data) stops the
 * loop until the answer comes back; nothing blocks.  The message text
 * and its commit are message.c's.
 */
#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "log.h"
#include "smtpd.h"
#include "wire.h"

#define SESSION_MAX_ERRORS	20
#define SESSION_MAX_JUNK	100	/* as Postfix's smtpd_junk_command_limit */
#define SESSION_NEED_UTF8	"553 5.6.7 Error: a UTF-8 address needs " \
				"SMTPUTF8 (RFC 6531)"
#define SESSION_OUT_MAX		(64 * 1024)	/* unread replies */
#define SESSION_IN_MAX		(256 * 1024)	/* unprocessed input */

static void	session_read_cb(struct bufferevent *, void *);
static void	session_write_cb(struct bufferevent *, void *);
static void	session_event_cb(struct bufferevent *, short, void *);
static void	session_free(struct session *);

static int
session_cmp(struct session *a, struct session *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}
RB_GENERATE(session_tree, session, entry, session_cmp);

struct session *
session_find(uint32_t id)
{
	struct session	 key;

	key.id = id;
	return RB_FIND(session_tree, &sd->sessions, &key);
}

void
session_reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void
session_reply(struct session *s, const char *fmt, ...)
{
	va_list		 ap;

	va_start(ap, fmt);
	smtp_vline(bufferevent_get_output(s->bev), fmt, ap);
	va_end(ap);
}

static size_t
session_unsent(struct session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	size_t		 n = evbuffer_get_length(bufferevent_get_output(s->bev));

	if (under != NULL)	/* TLS: the records not yet written */
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void
session_deferred_free(evutil_socket_t fd, short ev, void *arg)
{
	session_free(arg);
}

/*
 * A closing session is freed from a fresh event-loop turn once all of
 * its output is on the wire, never from inside one of its own
 * callbacks.
 */
static void
session_try_finish(struct session *s)
{
	struct timeval	 now = { 0, 0 };

	if (s->free_scheduled || session_unsent(s) > 0)
		return;
	s->free_scheduled = 1;
	if (event_base_once(sd->base, -1, EV_TIMEOUT, session_deferred_free,
	    s, &now) == -1)
		fatalx("event_base_once");
}

static void
session_under_drained(struct evbuffer *buf,
    const struct evbuffer_cb_info *info, void *arg)
{
	if (info->n_deleted > 0)
		session_try_finish(arg);
}

/* Say the last word and close once it has been written. */
static void
session_close_with(struct session *s, const char *reply)
{
	struct bufferevent *under;

	if (reply != NULL)
		session_reply(s, "%s", reply);
	if (s->state == S_CLOSING)
		return;
	s->state = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if ((under = bufferevent_get_underlying(s->bev)) != NULL)
		evbuffer_add_cb(bufferevent_get_output(under),
		    session_under_drained, s);
	session_try_finish(s);
}

static void
session_timeout(struct session *s)
{
	log_info("smtp client=[%s] event=Timeout state=%d%s", s->addr,
	    s->state, sd->stressed ? " stress=yes" : "");
	if (s->state == S_DATA)
		message_abort(s);
	s->state = S_CMD;
	session_close_with(s, "421 4.4.2 Error: timeout exceeded");
	bufferevent_enable(s->bev, EV_WRITE);
}

/* An error reply; too many of them end the session, as in Postfix. */
void
session_error(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void
session_error(struct session *s, const char *fmt, ...)
{
	va_list		 ap;

	va_start(ap, fmt);
	smtp_vline(bufferevent_get_output(s->bev), fmt, ap);
	va_end(ap);
	if (++s->errors >= SESSION_MAX_ERRORS) {
		log_info("smtp client=[%s] event=Rejection reason=\"too many "
		    "errors\"", s->addr);
		session_close_with(s, "421 4.7.0 Too many errors, closing "
		    "connection");
	}
}

void
session_reset(struct session *s)
{
	int	 i;

	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i]);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
	s->have_from = 0;
	s->from[0] = '\0';
	s->body8 = 0;
	s->smtputf8 = 0;
	s->msgid[0] = '\0';
	s->size = 0;
	s->toobig = s->writeerr = 0;
	dataline_init(&s->dl);
}

static void
session_free(struct session *s)
{
	if (s->state == S_DATA)
		message_abort(s);
	else if (s->datafd != -1) {
		close(s->datafd);
		s->datafd = -1;
	}
	free(s->obuf);
	if (s->parked)
		TAILQ_REMOVE(&sd->parked, s, wentry);
	RB_REMOVE(session_tree, &sd->sessions, s);
	limit_release(&s->lslot);
	session_reset(s);
	bufferevent_free(s->bev);
	free(s);
	sd->nsessions--;
	smtpd_session_gone();
}

void
session_accept(int fd, struct sockaddr *sa, socklen_t salen)
{
	struct session	*s;
	struct timeval	 tv;
	enum limit_verdict v;
	int		 i;

	/* replies leave in whole batches; no Nagle delay behind them */
	i = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &i, sizeof(i));
	s = xcalloc(1, sizeof(*s));
	s->id = ++sd->nextid;
	s->datafd = -1;
	memcpy(&s->ss, sa, salen);
	sa_to_text(sa, s->addr, sizeof(s->addr));
	for (i = 0; i < sd->conf->smtpd_nrelay_from; i++)
		if (netmask_match(&sd->conf->smtpd_relay_from[i], sa)) {
			s->relay_ok = 1;
			break;
		}
	s->bev = bufferevent_socket_new(sd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		close(fd);
		free(s);
		return;
	}
	RB_INSERT(session_tree, &sd->sessions, s);
	sd->nsessions++;
	s->since = smtpd_now();
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	/*
	 * Reading has a deadline per command (session_check_deadline()),
	 * not a timeout per read a trickling client could renew forever;
	 * writing keeps one: a client that reads nothing is let go.
	 */
	tv.tv_sec = sd->conf->smtpd_timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, NULL, &tv);
	/* input waiting for queued's answer stays bounded */
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_IN_MAX);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (sd->nsessions > sd->max_sessions) {
		session_close_with(s, "421 4.3.2 Too many sessions, try "
		    "again later");
		return;
	}
	switch ((v = limit_admit(sa, s->relay_ok,
	    sd->conf->smtpd_max_sessions_per_client,
	    sd->conf->smtpd_max_sessions_total, &s->lslot))) {
	case LIMIT_OK:
		break;
	case LIMIT_CLIENT:
		smtpd_refused(s, v);
		session_reply(s, "421 4.7.0 Error: too many connections from "
		    "%s, try again later", s->addr);
		session_close_with(s, NULL);
		return;
	case LIMIT_TOTAL:
		smtpd_refused(s, v);
		session_close_with(s, "421 4.3.2 Too many sessions, try "
		    "again later");
		return;
	}
	session_reply(s, "220 %s ESMTP petrel", sd->conf->hostname);
}

/* --- commands ------------------------------------------------------ */

/*
 * A HELO name: a domain, an address literal, or what deployed clients
 * send instead (underscores, "localhost"); never spaces, control
 * characters or the quotes and '=' that could forge log fields.
 */
static int
helo_ok(const char *h)
{
	if (*h == '\0' || strlen(h) > SMTP_DOMAIN_MAX)
		return 0;
	for (; *h; h++)
		if ((unsigned char)*h <= ' ' || (unsigned char)*h >= 127 ||
		    *h == '"' || *h == '=' || *h == '\\')
			return 0;
	return 1;
}

static void
cmd_helo(struct session *s, char *args, int esmtp)
{
	const char	*h;

	if (!helo_ok(args)) {
		session_error(s, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	session_reset(s);
	strlcpy(s->helo, args, sizeof(s->helo));
	s->esmtp = esmtp;
	h = sd->conf->hostname;
	if (!esmtp) {
		session_reply(s, "250 %s", h);
		return;
	}
	session_reply(s, "250-%s", h);
	session_reply(s, "250-PIPELINING");
	session_reply(s, "250-SIZE %" PRIu64, sd->conf->smtpd_max_message_size);
	session_reply(s, "250-8BITMIME");
	session_reply(s, "250-SMTPUTF8");
	if (sd->tls_ctx != NULL && !s->tls)
		session_reply(s, "250-STARTTLS");
	session_reply(s, "250 ENHANCEDSTATUSCODES");
}

static void
cmd_mail(struct session *s, char *args)
{
	struct smtp_param params[SMTP_MAX_PARAMS];
	const char	*err;
	int		 n, i, utf8, body8 = 0, smtputf8 = 0;

	if (s->helo[0] == '\0') {
		session_error(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->have_from) {
		session_error(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if ((utf8 = smtp_parse_path(args, "FROM:", s->from, sizeof(s->from),
	    params, &n, &err)) == -1) {
		if (strncasecmp(args, "FROM:", 5) != 0)
			session_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		else
			session_error(s, "501 %s", err);
		return;
	}
	for (i = 0; i < n; i++) {
		if (!s->esmtp) {
			session_error(s, "555 5.5.4 Parameters need EHLO");
			return;
		}
		if (strcasecmp(params[i].key, "SIZE") == 0 &&
		    params[i].value != NULL) {
			uint64_t	 sz;
			char		*end;

			errno = 0;
			sz = strtoull(params[i].value, &end, 10);
			if (errno || *end || end == params[i].value) {
				session_error(s, "501 5.5.4 Bad SIZE value");
				return;
			}
			if (sz > sd->conf->smtpd_max_message_size) {
				session_error(s, "552 5.3.4 Message size "
				    "exceeds fixed limit");
				return;
			}
		} else if (strcasecmp(params[i].key, "BODY") == 0 &&
		    params[i].value != NULL &&
		    (strcasecmp(params[i].value, "8BITMIME") == 0 ||
		    strcasecmp(params[i].value, "7BIT") == 0)) {
			body8 = strcasecmp(params[i].value, "8BITMIME") == 0;
		} else if (strcasecmp(params[i].key, "SMTPUTF8") == 0) {
			if (params[i].value != NULL) {
				session_error(s, "501 5.5.4 Syntax: SMTPUTF8 "
				    "takes no value");
				return;
			}
			smtputf8 = 1;
		} else {
			session_error(s, "555 5.5.4 Unsupported option: %s",
			    params[i].key);
			return;
		}
	}
	if (utf8 && !smtputf8) {
		session_error(s, "%s", SESSION_NEED_UTF8);
		return;
	}
	s->have_from = 1;
	s->body8 = body8;
	s->smtputf8 = smtputf8;
	session_reply(s, "250 2.1.0 Ok");
}

static void
cmd_rcpt(struct session *s, char *args)
{
	struct smtp_param params[SMTP_MAX_PARAMS];
	char		 path[SMTP_PATH_MAX + 1];
	const char	*err;
	char		**n;
	int		 np, utf8, postmaster;

	if (!s->have_from) {
		session_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if ((utf8 = smtp_parse_path(args, "TO:", path, sizeof(path), params,
	    &np, &err)) == -1) {
		if (strncasecmp(args, "TO:", 3) != 0)
			session_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		else
			session_error(s, "501 %s", err);
		return;
	}
	if (path[0] == '\0') {
		session_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	if (np > 0) {
		session_error(s, "555 5.5.4 Unsupported option: %s",
		    params[0].key);
		return;
	}
	if (utf8 && !s->smtputf8) {
		session_error(s, "%s", SESSION_NEED_UTF8);
		return;
	}
	/* "<Postmaster>" is ours, from anyone (RFC 5321 4.5.1) */
	postmaster = strchr(path, '@') == NULL;
	if (postmaster)
		snprintf(path, sizeof(path), "postmaster@%s",
		    sd->conf->hostname);
	if (!s->relay_ok && !postmaster) {
		char	 a[1024];

		log_info("smtp client=[%s] event=Rejection rcpt=<%s> "
		    "reason=\"relay access denied\"", s->addr,
		    log_token(path, a, sizeof(a)));
		session_error(s, "554 5.7.1 <%s>: Relay access denied", path);
		return;
	}
	if (s->nrcpt >= sd->conf->smtpd_max_recipients) {
		session_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if ((n = reallocarray(s->rcpts, s->nrcpt + 1, sizeof(*n))) == NULL) {
		session_reply(s, "452 4.3.1 Insufficient system resources");
		return;
	}
	s->rcpts = n;
	s->rcpts[s->nrcpt++] = xstrdup(path);
	session_reply(s, "250 2.1.5 Ok");
}

static void
cmd_data(struct session *s, char *args)
{
	if (*args != '\0') {
		session_error(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->have_from) {
		session_error(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpt == 0) {
		session_error(s, "503 5.5.1 Error: need RCPT command");
		return;
	}
	s->state = S_WAIT_OPEN;
	message_request_open(s);
}

/*
 * RFC 3207.  The 220 goes out in clear text; whatever the client
 * pipelined after STARTTLS is thrown away, so nothing sent before the
 * handshake can pose as a command inside TLS (CVE-2011-0411).  Then
 * the session starts over: the client must EHLO again.
 */
static void
cmd_starttls(struct session *s, char *args)
{
	struct bufferevent *tb;
	struct timeval	 tv;
	SSL		*ssl;

	if (sd->tls_ctx == NULL) {
		session_error(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (*args != '\0') {
		session_error(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->tls) {
		session_error(s, "503 5.5.1 Error: TLS already active");
		return;
	}
	/* keysd makes the handshake's signature: not while it is away */
	if (sd->keysd == NULL || (ssl = SSL_new(sd->tls_ctx)) == NULL) {
		session_reply(s, "454 4.7.0 TLS not available due to temporary "
		    "reason");
		return;
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	tb = bufferevent_openssl_filter_new(sd->base, s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tb == NULL) {
		SSL_free(ssl);
		session_close_with(s, "421 4.7.0 TLS setup failed");
		return;
	}
	s->bev = tb;
	s->tls = 1;
	bufferevent_setwatermark(tb, EV_READ, 0, SESSION_IN_MAX);
	session_reset(s);
	s->helo[0] = '\0';
	s->esmtp = 0;
	bufferevent_setcb(tb, session_read_cb, session_write_cb,
	    session_event_cb, s);
	tv.tv_sec = sd->conf->smtpd_timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(tb, NULL, &tv);
	bufferevent_enable(tb, EV_READ | EV_WRITE);
}

/*
 * Commands that move no mail forward.  Too many of them between two
 * messages end the session, as Postfix's smtpd_junk_command_limit.
 */
static int
session_junk(enum smtp_cmd cmd)
{
	switch (cmd) {
	case SMTP_CMD_NOOP:
	case SMTP_CMD_VRFY:
	case SMTP_CMD_EXPN:
	case SMTP_CMD_RSET:
	case SMTP_CMD_HELP:
	case SMTP_CMD_UNKNOWN:
		return 1;
	default:
		return 0;
	}
}

static void
session_command(struct session *s, char *line)
{
	enum smtp_cmd	 cmd;
	char		*args;

	if (sd->shutdown && !s->have_from) {
		session_close_with(s, "421 4.3.2 Service shutting down");
		return;
	}
	cmd = smtp_parse_verb(line, &args);
	if (session_junk(cmd) && ++s->junk > SESSION_MAX_JUNK) {
		log_info("smtp client=[%s] event=Rejection reason=\"too many "
		    "junk commands\"", s->addr);
		session_close_with(s, "421 4.7.0 Error: too many junk commands, "
		    "closing connection");
		return;
	}
	switch (cmd) {
	case SMTP_CMD_HELO:
		cmd_helo(s, args, 0);
		break;
	case SMTP_CMD_EHLO:
		cmd_helo(s, args, 1);
		break;
	case SMTP_CMD_MAIL:
		cmd_mail(s, args);
		break;
	case SMTP_CMD_RCPT:
		cmd_rcpt(s, args);
		break;
	case SMTP_CMD_DATA:
		cmd_data(s, args);
		break;
	case SMTP_CMD_RSET:
		if (*args != '\0') {
			session_error(s, "501 5.5.4 Syntax: RSET");
			break;
		}
		session_reset(s);
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_NOOP:
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_QUIT:
		session_close_with(s, "221 2.0.0 Bye");
		break;
	case SMTP_CMD_VRFY:
		if (*args == '\0')
			session_error(s, "501 5.5.4 Syntax: VRFY address");
		else
			session_reply(s, "252 2.0.0 Cannot VRFY user, but "
			    "will accept message and attempt delivery");
		break;
	case SMTP_CMD_HELP:
		session_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT "
		    "DATA RSET NOOP QUIT VRFY HELP");
		break;
	case SMTP_CMD_STARTTLS:
		cmd_starttls(s, args);
		break;
	case SMTP_CMD_EXPN:
	case SMTP_CMD_AUTH:
	case SMTP_CMD_BDAT:
		session_error(s, "502 5.5.1 Error: command not implemented");
		break;
	case SMTP_CMD_UNKNOWN:
		session_error(s, "500 5.5.2 Error: command not recognized");
		break;
	}
}

/* One command line; 0 when more input is needed. */
static int
session_cmd_line(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr p;
	char		 line[SMTP_CMDLINE_MAX + 1];
	size_t		 eol, len;

	p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_CRLF);
	if (p.pos == -1) {
		if (evbuffer_get_length(in) > SMTP_CMDLINE_MAX) {
			evbuffer_drain(in, evbuffer_get_length(in));
			s->discard_cmd = 1;
		}
		return 0;
	}
	len = p.pos;
	s->since = smtpd_now();		/* the next command's deadline */
	if (s->discard_cmd || len > SMTP_CMDLINE_MAX - 2) {
		evbuffer_drain(in, len + eol);
		s->discard_cmd = 0;
		session_error(s, "500 5.5.2 Error: line too long");
		return 1;
	}
	evbuffer_remove(in, line, len);
	evbuffer_drain(in, eol);
	line[len] = '\0';
	if (memchr(line, '\0', len) != NULL) {
		session_error(s, "500 5.5.2 Error: NUL character in command");
		return 1;
	}
	session_command(s, line);
	return 1;
}

/*
 * A command line must be complete TIMEOUT seconds after the previous
 * one, and the message text must come at min_data_rate once past that
 * grace (as Postfix's smtpd_per_request_deadline and
 * smtpd_min_data_rate): a client that trickles a byte at a time keeps
 * no session longer than one that sends nothing.
 */
void
session_check_deadline(struct session *s, int64_t now, int64_t timeout_ms)
{
	int64_t	 deadline;

	switch (s->state) {
	case S_CMD:
		deadline = s->since + timeout_ms;
		break;
	case S_DATA:
		deadline = s->since + timeout_ms +
		    (int64_t)(s->size * 1000 / sd->conf->smtpd_min_data_rate);
		break;
	default:
		return;		/* queued's turn, or closing */
	}
	if (now >= deadline)
		session_timeout(s);
}

void
session_shutdown(struct session *s)
{
	if (s->state == S_CMD && !s->have_from)
		session_close_with(s, "421 4.3.2 Service shutting down");
}

/*
 * Take input while there is some and nothing is awaited.  A client
 * that pipelines commands but does not read the replies is not
 * answered further until it does: its replies may not pile up.
 */
void
session_process(struct session *s)
{
	for (;;) {
		switch (s->state) {
		case S_CMD:
			if (session_unsent(s) > SESSION_OUT_MAX)
				return;		/* resumed by session_write_cb */
			if (!session_cmd_line(s))
				return;
			break;
		case S_DATA:
			if (!message_data(s))
				return;
			break;
		default:
			return;
		}
	}
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	session_process(arg);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	if (s->state == S_CLOSING)
		session_try_finish(s);
	else if (s->state == S_CMD)
		session_process(s);	/* the client read its replies */
}
static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session	*s = arg;

	if (s->state == S_CLOSING) {
		/* the peer went away or stopped reading: give up the rest */
		if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
			struct timeval now = { 0, 0 };

			if (!s->free_scheduled) {
				s->free_scheduled = 1;
				event_base_once(sd->base, -1, EV_TIMEOUT,
				    session_deferred_free, s, &now);
			}
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		session_timeout(s);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		SSL	*ssl = bufferevent_openssl_get_ssl(bev);

		log_info("smtp client=[%s] event=TLS version=%s cipher=%s",
		    s->addr, SSL_get_version(ssl), SSL_get_cipher_name(ssl));
		return;
	}
	if (s->tls && (what & BEV_EVENT_ERROR)) {
		unsigned long e = bufferevent_get_openssl_error(bev);

		if (e != 0)
			log_info("smtp client=[%s] event=TLSError reason=\"%s\"",
			    s->addr, ERR_reason_error_string(e));
	}
	/* EOF or error: a session in WAIT_COMMIT leaves its message to queued */
	session_free(s);
}
