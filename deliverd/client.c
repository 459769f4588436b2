/*
 * client.c - the SMTP dialogue on one outgoing connection (its life,
 * from connect to close, is conn.c's): banner, EHLO (HELO on 5xx),
 * then transactions for as many tasks of its destination as come,
 * pipelined when the server offers PIPELINING, until
 * max_deliveries_per_connection (then QUIT; the site opens a new one)
 * or idle_timeout (then QUIT).
 *
 * Which command goes when, and what each reply means for each
 * recipient, is txn.c's; this file does the I/O and the timeouts.
 * Replies are assembled line by line by smtp_reply_add() (lib/smtp.c).
 *
 * TLS (enable_tls, implicit_tls; the SSL itself is tls.c's): after
 * EHLO, STARTTLS when offered and the path does not say Disabled; on
 * its 220 whatever else the server sent in clear text is thrown away
 * unread (the client side of CVE-2011-0411), the socket is wrapped in
 * libevent's OpenSSL filter, the handshake gets starttls_timeout, and
 * EHLO is sent again with the old keywords forgotten.  implicit_tls
 * wraps the socket as soon as it connects, before the banner.  A
 * failed handshake or a certificate that had to verify and did not
 * fails the host (next address, next MX), except that
 * OpportunisticInsecure tries the same host again in clear text.  The
 * session's protocol and cipher go with every result.
 *
 * The message text lies in the spool in wire form (CRLF, dot-stuffed),
 * so it goes from the spool fd to the socket as it is (a file segment:
 * sendfile where it can), followed by the final dot.
 *
 * Callbacks are deferred (BEV_OPT_DEFER_CALLBACKS): none runs inside
 * another, so a connection may be freed from any of them.
 */
#include "config.h"

#include <sys/stat.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>

#include "log.h"
#include "deliverd.h"
#include "conn.h"
#include "keys.h"
#include "smtp.h"
#include "tls.h"
#include "trace.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"

#define REPLY_LINE_MAX	4096
/*
 * Under TLS, encrypted output waiting for the socket: beyond this the
 * filter stops taking plain text, so the text is "written" (and its
 * timeouts run) much as without TLS.
 */
#define TLS_UNSENT_MAX	(256 * 1024)

static int	conn_begin(struct conn *);

/*
 * Give the connection its next task, as long as there are any and it
 * may take more; else QUIT or idle.  A transaction starts only with a
 * token of max_message_rate; without one the connection idles and the
 * site's timer gives it the task when the token is due.  A task whose recipients were all
 * decided before the transaction (see conn_begin) is finished here.
 */
void
conn_run(struct conn *c)
{
	struct site	*d = c->site;
	struct dtask	*t;

	for (;;) {
		if (c->task == NULL) {
			if (dd->shutdown || c->closing ||
			    c->deliveries >= d->eg.max_deliveries_per_connection) {
				conn_quit(c);
				site_kick(d);	/* the rest get a new connection */
				return;
			}
			if ((t = TAILQ_FIRST(&d->ready)) == NULL) {
				c->state = C_IDLE;
				conn_timeout(c, d->eg.idle_timeout);
				return;
			}
			TAILQ_REMOVE(&d->ready, t, entry);
			d->nready--;
			c->task = t;
		}
		if (!site_rate_ok(d, &d->msg_rate, &d->eg.max_message_rate,
		    1)) {
			/* max_message_rate: the task waits for its token */
			TAILQ_INSERT_HEAD(&d->ready, c->task, entry);
			d->nready++;
			c->task = NULL;
			c->state = C_IDLE;
			conn_timeout(c, d->eg.idle_timeout);
			return;
		}
		if (conn_begin(c) == 0)
			return;
		t = c->task;
		c->task = NULL;
		conn_task_tls(c, t);
		task_finish(t, c->relay);
	}
}

/* The transaction is over: report, then the next task or idle. */
static void
conn_task_done(struct conn *c)
{
	struct dtask	*t = c->task;

	c->task = NULL;
	c->deliveries++;
	c->need_rset = c->txn.need_rset;
	if (c->txn.closing)
		c->closing = 1;	/* 421: the server ends the session */
	txn_end(&c->txn);
	conn_task_tls(c, t);
	task_finish(t, c->relay);
	if (!c->closing &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
		/* more came than was asked for: the rest is not a reply */
		conn_protocol_error(c, "a reply with no command outstanding",
		    "");
		return;
	}
	conn_run(c);
}

void
conn_take(struct conn *c, struct dtask *t)
{
	c->task = t;
	conn_run(c);
}

/* Anything beyond ASCII (smtpd let only well-formed UTF-8 in). */
static int
is_ascii(const char *s)
{
	return smtp_utf8_check(s) == 0;
}

/*
 * RFC 6531 3.4: an address that is not ASCII goes only to a server
 * that offers SMTPUTF8.  Without it, a non-ASCII sender fails every
 * recipient, a non-ASCII recipient fails itself, for good (5.6.7);
 * there is no downgrade.  Message headers are not looked at: an ASCII
 * envelope goes without the SMTPUTF8 parameter.
 */
static void
conn_check_utf8(struct conn *c)
{
	struct dtask	*t = c->task;
	char		 why[512];
	int		 i, from8;

	if (c->ext_smtputf8)
		return;
	from8 = !is_ascii(t->from);
	snprintf(why, sizeof(why), "5.6.7 SMTPUTF8 not offered by %s",
	    c->relay);
	for (i = 0; i < t->nrcpt; i++) {
		if (t->response[i] != NULL || (!from8 && is_ascii(t->rcpts[i])))
			continue;
		t->status[i] = RCPT_PERMFAIL;
		t->response[i] = xstrdup(why);
	}
}

static void
conn_send_mail(struct conn *c)
{
	struct dtask	*t = c->task;
	char		 size[32] = "";
	int		 i, utf8 = t->smtputf8 || !is_ascii(t->from);

	for (i = 0; i < t->nrcpt && !utf8; i++)
		utf8 = !is_ascii(t->rcpts[i]);
	if (c->size_ext)
		snprintf(size, sizeof(size), " SIZE=%" PRIu64, t->size);
	conn_send(c, "MAIL FROM:<%s>%s%s%s", t->from, size,
	    t->body8 && c->ext_8bitmime ? " BODY=8BITMIME" : "",
	    utf8 && c->ext_smtputf8 ? " SMTPUTF8" : "");
}

/*
 * The message text goes from the spool fd to the socket (sendfile
 * where it can); the task keeps the fd, which outlives the socket (see
 * conn_fail).  Returns -1 when the spool cannot be read: the
 * transaction fails and the connection is gone.
 */
static int
conn_send_body(struct conn *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	struct evbuffer_file_segment *seg = NULL;
	off_t		 len;

	/* the text only: its envelope follows it in the file */
	if ((len = msgfile_text_length(c->task->fd)) == -1 || (len > 0 &&
	    ((seg = evbuffer_file_segment_new(c->task->fd, 0, len,
	    0)) == NULL || evbuffer_add_file_segment(out, seg, 0, -1) == -1))) {
		/* cannot read our own spool: the server gets no dot */
		log_warn("id=%s: cannot send message text", c->task->msgid);
		if (seg != NULL)
			evbuffer_file_segment_free(seg);
		strlcpy(c->last_error, "4.3.0 cannot read the message from "
		    "the spool", sizeof(c->last_error));
		conn_fail(c);
		return -1;
	}
	if (seg != NULL)
		evbuffer_file_segment_free(seg);	/* the buffer holds it */
	evbuffer_add(out, ".\r\n", 3);
	/* never the text itself: only how much of it went */
	TRACE_EVENT(c, "message text: %lld bytes", (long long)len);
	return 0;
}

/*
 * The timeout for what the transaction waits on.  While the text is
 * being written only the write side is timed: data_timeout without a
 * byte leaving (libevent's write timeout runs only while output is
 * pending, and restarts on every write); the reply to the dot then
 * gets data_dot_timeout.
 */
static void
conn_txn_timeout(struct conn *c)
{
	struct egress	*eg = &c->site->eg;
	struct timeval	 tv = { eg->data_timeout, 0 };
	int		 secs = eg->mail_from_timeout;

	if (c->txn.writing) {
		bufferevent_set_timeouts(c->bev, NULL, &tv);
		return;
	}
	switch (txn_waiting(&c->txn)) {
	case TXN_RCPT:
		secs = eg->rcpt_to_timeout;
		break;
	case TXN_DATA:
		secs = eg->data_timeout;
		break;
	case TXN_TEXT:
	case TXN_DOT:
		secs = eg->data_dot_timeout;
		break;
	default:
		break;
	}
	conn_timeout(c, secs);
}

/* Send what the transaction asks for.  -1: the connection is gone. */
static int
conn_send_next(struct conn *c)
{
	struct dtask	*t = c->task;
	enum txn_cmd	 cmd;
	int		 i;

	while ((cmd = txn_next(&c->txn, &i)) != TXN_NONE) {
		switch (cmd) {
		case TXN_RSET:
			conn_send(c, "RSET");
			break;
		case TXN_MAIL:
			conn_send_mail(c);
			break;
		case TXN_RCPT:
			conn_send(c, "RCPT TO:<%s>", t->rcpts[i]);
			break;
		case TXN_DATA:
			conn_send(c, "DATA");
			break;
		case TXN_TEXT:
			if (conn_send_body(c) == -1)
				return -1;
			break;
		case TXN_DOT:
			/* RFC 2920: nobody to send to; end the empty text */
			evbuffer_add(bufferevent_get_output(c->bev), ".\r\n",
			    3);
			TRACE_EVENT(c, "message text: none (no recipient "
			    "accepted), a lone dot");
			break;
		case TXN_NONE:
			break;
		}
	}
	conn_txn_timeout(c);
	return 0;
}

/*
 * Start the task's transaction.  On a reused connection RSET comes
 * first (enable_rset, as KumoMTA does; always after a transaction that
 * did not end cleanly).  Returns 1 when no recipient is left to try
 * (the task is then finished by the caller), else 0.
 */
static int
conn_begin(struct conn *c)
{
	struct dtask	*t = c->task;
	int		 rset;

	conn_check_utf8(c);
	rset = c->need_rset || (c->deliveries > 0 && c->site->eg.enable_rset);
	if (txn_begin(&c->txn, t->nrcpt, t->status, t->response,
	    c->pipelining, rset) == 0) {
		txn_end(&c->txn);
		return 1;
	}
	c->state = C_TRANSACTION;
	c->need_rset = 0;
	conn_send_next(c);
	return 0;
}

/* A reply within a transaction. */
static void
conn_txn_reply(struct conn *c, int code, const char *reply)
{
	struct site	*d = c->site;

	switch (txn_reply(&c->txn, code, reply)) {
	case TXN_MORE:
		conn_send_next(c);
		return;
	case TXN_DONE:
		conn_task_done(c);
		return;
	case TXN_RETRY:
		/* RSET refused: the session is confused; start afresh */
		TAILQ_INSERT_HEAD(&d->ready, c->task, entry);
		d->nready++;
		c->task = NULL;
		txn_end(&c->txn);
		conn_quit(c);
		return;
	case TXN_ERROR:
		conn_protocol_error(c, c->txn.error, reply);
		return;
	}
}

static void
conn_ehlo_line(struct conn *c, const char *text)
{
	if (strcasecmp(text, "PIPELINING") == 0)
		c->pipelining = c->site->eg.enable_pipelining;
	else if (strncasecmp(text, "SIZE", 4) == 0 &&
	    (text[4] == '\0' || text[4] == ' '))
		c->size_ext = 1;
	else if (strcasecmp(text, "8BITMIME") == 0)
		c->ext_8bitmime = 1;
	else if (strcasecmp(text, "SMTPUTF8") == 0)
		c->ext_smtputf8 = 1;
	else if (strcasecmp(text, "STARTTLS") == 0)
		c->ext_starttls = 1;
	else
		auth_ehlo_line(c, text);
}

static void
conn_ehlo(struct conn *c)
{
	conn_send(c, "EHLO %s", c->site->eg.ehlo_domain);
	c->state = C_EHLO;
	conn_timeout(c, c->site->eg.ehlo_timeout);
}

/* Required, RequiredInsecure: no mail without TLS. */
static int
conn_tls_required(struct conn *c)
{
	return c->tls_mode == TLS_REQUIRED ||
	    c->tls_mode == TLS_REQUIRED_INSECURE;
}

/*
 * Every mode but the Insecure ones wants a certificate that verifies;
 * so does implicit_tls (Required's rules) unless enable_tls is one of
 * them.
 */
static int
conn_tls_verify(struct conn *c)
{
	return c->tls_mode != TLS_OPPORTUNISTIC_INSECURE &&
	    c->tls_mode != TLS_REQUIRED_INSECURE;
}

/*
 * The socket goes under TLS: after the 220 to STARTTLS, or at once
 * with implicit_tls.  Whatever the server sent after its 220 came
 * before it could have seen our handshake: it is dropped unread, so
 * nothing sent in clear text can pose as a reply inside TLS.  With a
 * client certificate, keysd is asked for it first (its chain; the key
 * stays there and signs).
 */
static void	conn_tls_key(void *, const struct wire_key_reply *);
static void	conn_tls_handshake(struct conn *, const char *, const char *);

void
conn_tls_start(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct egress	*eg = &c->site->eg;

	evbuffer_drain(in, evbuffer_get_length(in));
	if (eg->tls_certificate != NULL && eg->tls_private_key != NULL) {
		c->state = C_TLSKEY;
		conn_timeout(c, eg->starttls_timeout);
		c->key_req = keys_ask_tls(eg->tls_certificate,
		    eg->tls_private_key, eg->starttls_timeout, conn_tls_key, c);
		return;
	}
	conn_tls_handshake(c, NULL, NULL);
}

/* keysd answered with the client certificate (or why not). */
static void
conn_tls_key(void *arg, const struct wire_key_reply *w)
{
	struct conn	*c = arg;
	char		 why[sizeof(c->last_error)], q1[512], q2[600];

	c->key_req = 0;
	if (w->status == KEY_OK) {
		conn_tls_handshake(c, w->fingerprint, w->secret);
		return;
	}
	/* keysd's error names the keysource; the host is not at fault */
	snprintf(why, sizeof(why), "4.7.0 TLS with %s: no client "
	    "certificate: %s", c->relay, w->error);
	log_warnx("site=%s relay=%s event=TLSClientCertError reason=\"%s\"",
	    log_quote(c->site->name, q1, sizeof(q1)), c->relay,
	    log_quote(why, q2, sizeof(q2)));
	conn_advance(c, "%s", why);
}

static void
conn_tls_handshake(struct conn *c, const char *keyid, const char *chain)
{
	struct dns_host	*h = &c->site->res.hosts[c->host];
	struct bufferevent *tb;
	SSL		*ssl;
	char		 err[256], q1[512], q2[600];

	if ((ssl = tls_client_new(h->name, c->site->res.literal)) == NULL) {
		conn_advance(c, "4.7.5 TLS with %s: no TLS session could be "
		    "set up", c->relay);
		return;
	}
	if (keyid != NULL &&
	    tls_client_cert(ssl, keyid, chain, err, sizeof(err)) == -1) {
		SSL_free(ssl);
		log_warnx("site=%s relay=%s event=TLSClientCertError "
		    "reason=\"%s\"", log_quote(c->site->name, q1, sizeof(q1)),
		    c->relay, log_quote(err, q2, sizeof(q2)));
		conn_advance(c, "4.7.0 TLS with %s: the client certificate "
		    "cannot be used: %s", c->relay, err);
		return;
	}
	/* the filter's timeouts count from now on; the socket's stop */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, TLS_UNSENT_MAX);
	tb = bufferevent_openssl_filter_new(dd->base, c->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tb == NULL) {
		SSL_free(ssl);
		conn_advance(c, "4.7.5 TLS with %s: no TLS session could be "
		    "set up", c->relay);
		return;
	}
	/* SMTP has its own end: a TCP close without close_notify is EOF */
	bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
	c->bev = tb;	/* frees the socket's bufferevent with it */
	c->state = C_TLS;
	bufferevent_setcb(tb, conn_read_cb, conn_write_cb, conn_event_cb, c);
	conn_timeout(c, c->site->eg.starttls_timeout);
	TRACE_EVENT(c, "TLS handshake%s", keyid != NULL ?
	    " with a client certificate" : "");
	bufferevent_enable(tb, EV_READ | EV_WRITE);
}

/*
 * The handshake is done.  A certificate that must verify and did not
 * fails the host before anything is said inside the session.  Then the
 * banner (implicit_tls) or EHLO again, knowing nothing of the first.
 */
void
conn_tls_done(struct conn *c)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(c->bev);
	char	 why[256], q1[512], q2[512];

	c->tls = 1;
	strlcpy(c->tls_version, SSL_get_version(ssl), sizeof(c->tls_version));
	strlcpy(c->tls_cipher, SSL_get_cipher_name(ssl),
	    sizeof(c->tls_cipher));
	c->tls_verified = tls_verified(ssl, why, sizeof(why));
	log_info("site=%s relay=%s event=TLS version=%s cipher=%s "
	    "verify=%s%s%s%s", log_quote(c->site->name, q1, sizeof(q1)),
	    c->relay,
	    c->tls_version, c->tls_cipher, c->tls_verified ? "ok" : "failed",
	    *why ? " reason=\"" : "", log_quote(why, q2, sizeof(q2)),
	    *why ? "\"" : "");
	TRACE_EVENT(c, "TLS established: %s %s, certificate %s%s%s",
	    c->tls_version, c->tls_cipher, c->tls_verified ? "verified" :
	    "not verified", *why ? ": " : "", why);
	if (!c->tls_verified && conn_tls_verify(c)) {
		conn_advance(c, "4.7.5 TLS with %s: certificate verify "
		    "failed: %s", c->relay, why);
		return;
	}
	conn_forget_ext(c);
	if (c->implicit_tls) {
		c->state = C_BANNER;
		conn_timeout(c, c->site->eg.banner_timeout);
		return;
	}
	conn_ehlo(c);
}

/*
 * The handshake failed or stalled (starttls_timeout).  The host
 * fails; OpportunisticInsecure tries it again in clear text.
 */
void
conn_tls_failed(struct conn *c, short what)
{
	char		 buf[64], q1[512], q2[600];
	const char	*why;
	int		 clear;

	if (what & BEV_EVENT_TIMEOUT) {
		snprintf(buf, sizeof(buf), "timed out after %d s",
		    c->site->eg.starttls_timeout);
		why = buf;
	} else if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR))
		why = "lost connection";
	else
		why = tls_error_text(c->bev);
	clear = c->tls_mode == TLS_OPPORTUNISTIC_INSECURE && !c->implicit_tls;
	snprintf(c->last_error, sizeof(c->last_error), "4.7.5 TLS handshake "
	    "with %s failed: %s%s", c->relay, why,
	    clear ? "; trying again in clear text" : "");
	log_info("site=%s relay=%s event=TLSError reason=\"%s\"",
	    log_quote(c->site->name, q1, sizeof(q1)), c->relay,
	    log_quote(c->last_error, q2, sizeof(q2)));
	conn_retry(c, !clear);
}

/* The last EHLO was answered: AUTH if the path logs in, then mail. */
static void
conn_ready(struct conn *c)
{
	if (auth_wanted(c) && !c->authed) {
		auth_start(c);
		return;
	}
	conn_run(c);
}

/* EHLO or HELO was answered: STARTTLS if the path wants it, or mail. */
static void
conn_greeted(struct conn *c)
{
	if (c->tls || c->tls_mode == TLS_DISABLED || c->tls_clear) {
		conn_ready(c);
		return;
	}
	if (c->ext_starttls) {
		conn_send(c, "STARTTLS");
		c->state = C_STARTTLS;
		conn_timeout(c, c->site->eg.starttls_timeout);
		return;
	}
	if (conn_tls_required(c)) {
		conn_say_quit(c);
		conn_advance(c, "4.7.5 TLS required but STARTTLS not offered "
		    "by %s", c->relay);
		return;
	}
	conn_ready(c);
}

/*
 * The answer to STARTTLS.  Anything but 220 under Required fails the
 * host; else the session goes on in clear text as before (RFC 3207 4:
 * 454 "TLS not available due to temporary reason").
 */
static void
conn_starttls_reply(struct conn *c, int code, const char *reply)
{
	if (code == 220) {
		conn_tls_start(c);
		return;
	}
	if (conn_tls_required(c)) {
		conn_say_quit(c);
		conn_advance(c, "4.7.5 TLS required but %s refused "
		    "STARTTLS: %s", c->relay, reply);
		return;
	}
	if (code == 421) {
		conn_advance(c, "%s", reply);
		return;
	}
	conn_ready(c);
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
		conn_ehlo(c);
		return;
	case C_EHLO:
		if (code / 100 == 5) {
			conn_send(c, "HELO %s", c->site->eg.ehlo_domain);
			c->state = C_HELO;
			conn_forget_ext(c);
			return;
		}
		/* FALLTHROUGH */
	case C_HELO:
		if (code / 100 != 2) {
			conn_advance(c, "%s", reply);
			return;
		}
		conn_greeted(c);
		return;
	case C_STARTTLS:
		conn_starttls_reply(c, code, reply);
		return;
	case C_AUTH:
		auth_reply(c, code, reply);
		return;
	case C_AUTHCHECK:
	case C_AUTHKEY:
	case C_TLSKEY:
		conn_advance(c, "4.5.0 %s sent a reply with no command "
		    "outstanding: %s", c->relay, reply);
		return;
	case C_TLS:
		/* nothing is read before the handshake completes */
		return;
	case C_TRANSACTION:
		conn_txn_reply(c, code, reply);
		return;
	case C_IDLE:
		if (code != 421) {	/* a server closing an idle session */
			conn_protocol_error(c,
			    "a reply with no command outstanding", reply);
			return;
		}
		/* FALLTHROUGH */
	case C_QUIT:
	case C_CONNECTING:
		conn_close(c);	/* 221 */
		return;
	}
}

void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line, bad[80];
	size_t		 len;
	const char	*text;
	int		 r;

	/*
	 * Pipelined replies arrive together: take them all.  A reply may
	 * close the connection or move it to the next host; then stop.
	 */
	c->in_read = 1;
	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		TRACE_RECEIVED(c, line);
		r = smtp_reply_add(&c->reply, line, &text);
		if (r == SMTP_REPLY_BAD) {
			strlcpy(bad, line, sizeof(bad));
			free(line);
			if (c->state == C_TRANSACTION) {
				conn_protocol_error(c, "a malformed reply",
				    bad);
				goto out;
			}
			conn_advance(c, "4.5.0 %s sent a malformed reply: %s",
			    c->relay, bad);
			goto out;
		}
		if (c->state == C_EHLO && c->reply.nlines > 1)
			conn_ehlo_line(c, text);
		free(line);
		if (r == SMTP_REPLY_MORE)
			continue;
		/*
		 * Everything written has left: a reply now is not one
		 * that came before the end of the text.
		 */
		if (c->state == C_TRANSACTION && c->txn.writing &&
		    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			txn_written(&c->txn);
		conn_reply(c, c->reply.code, c->reply.text);
		if (c->dead || c->bev != bev)
			goto out;
	}
	if (evbuffer_get_length(in) > REPLY_LINE_MAX) {
		snprintf(c->last_error, sizeof(c->last_error),
		    "4.5.0 %s sent an over-long reply line", c->relay);
		conn_fail(c);
	}
out:
	c->in_read = 0;
	if (c->dead)
		free(c);
}

/* The output buffer is empty: the text, if it was being sent, is out. */
void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->state == C_TRANSACTION && c->txn.writing) {
		txn_written(&c->txn);
		conn_txn_timeout(c);
	}
}