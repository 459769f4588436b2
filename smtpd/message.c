/*
 * message.c - the message text of an SMTP session: a spool file lent
 * by queued, the text streamed into it in SMTP wire form (CRLF, still
 * dot-stuffed, so deliverd can send it as it lies), the Received
 * header, the commit, and what happens while queued restarts.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

#include "log.h"
#include "smtpd.h"
#include "wire.h"
#include "wirecodec.h"

#define MESSAGE_OBUF		(64 * 1024)
#define MESSAGE_HOPS_MAX	50	/* Received: lines, as Postfix's
					   hopcount_limit */

void
message_request_open(struct session *s)
{
	struct mbuf	 m;

	if (sd->queue == NULL) {
		message_queue_lost(s);
		return;
	}
	m_create(&m, IMSG_SMTPD_MSG_OPEN, s->id, -1);
	smtpd_queue_send(&m);
}

/* The message is given up: its spool file goes back to queued. */
void
message_abort(struct session *s)
{
	struct mbuf	 m;

	if (s->datafd != -1) {
		close(s->datafd);
		s->datafd = -1;
	}
	free(s->obuf);
	s->obuf = NULL;
	s->olen = 0;
	if (s->msgid[0] != '\0' && sd->queue != NULL) {
		m_create(&m, IMSG_SMTPD_MSG_ABORT, s->id, -1);
		m_add_string(&m, s->msgid);
		smtpd_queue_send(&m);
	}
	s->msgid[0] = '\0';
}

/* --- message text -------------------------------------------------- */

static void
message_flush_text(struct session *s)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < s->olen && !s->writeerr) {
		if ((n = write(s->datafd, s->obuf + off, s->olen - off)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("id=%s: spool write", s->msgid);
			s->writeerr = 1;
			break;
		}
		off += n;
	}
	s->olen = 0;
}

static void
message_add_text(struct session *s, const char *p, size_t len)
{
	if (s->toobig || s->dl.longline || s->dl.barecr || s->writeerr)
		return;
	if (s->olen + len > MESSAGE_OBUF)
		message_flush_text(s);
	if (len > MESSAGE_OBUF) {
		s->writeerr = 1;
		return;
	}
	memcpy(s->obuf + s->olen, p, len);
	s->olen += len;
}

/* The "with" of the Received header (RFC 3848, RFC 6531 3.7.3). */
static const char *
message_protocol(struct session *s)
{
	if (s->smtputf8)
		return s->tls ? "UTF8SMTPS" : "UTF8SMTP";
	return s->tls ? "ESMTPS" : s->esmtp ? "ESMTP" : "SMTP";
}

static void
message_received_header(struct session *s)
{
	char		 hdr[1024], date[64], tls[160] = "";
	struct tm	 tm;
	time_t		 now = s->arrival;
	SSL		*ssl;
	int		 n, bits, alg;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	/* as Postfix records it: protocol, cipher, key bits */
	if (s->tls && (ssl = bufferevent_openssl_get_ssl(s->bev)) != NULL) {
		bits = SSL_get_cipher_bits(ssl, &alg);
		snprintf(tls, sizeof(tls), "\t(using %s with cipher %s "
		    "(%d/%d bits))\r\n", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl), bits, alg);
	}
	n = snprintf(hdr, sizeof(hdr),
	    "Received: from %s ([%s])\r\n%s"
	    "\tby %s (petrel) with %s id %s%s%s%s;\r\n"
	    "\t%s\r\n",
	    s->helo, s->addr, tls, sd->conf->hostname,
	    message_protocol(s), s->msgid,
	    s->nrcpt == 1 ? "\r\n\tfor <" : "",
	    s->nrcpt == 1 ? s->rcpts[0] : "",
	    s->nrcpt == 1 ? ">" : "", date);
	if (n > 0 && (size_t)n < sizeof(hdr))
		message_add_text(s, hdr, n);
}

/* queued lent us a spool file (or could not). */
void
message_opened(struct session *s, int fd, const char *id, const char *reason)
{
	if (s->state != S_WAIT_OPEN) {
		/* not expected here; give it back */
		struct mbuf m;

		if (fd != -1)
			close(fd);
		if (*id) {
			m_create(&m, IMSG_SMTPD_MSG_ABORT, s->id, -1);
			m_add_string(&m, id);
			smtpd_queue_send(&m);
		}
		return;
	}
	if (fd == -1) {
		log_warnx("client=[%s]: no spool file: %s", s->addr, reason);
		session_reply(s, "451 4.3.0 Error: queue file write error");
		s->state = S_CMD;
		s->since = smtpd_now();
		session_reset(s);
		session_process(s);
		return;
	}
	s->datafd = fd;
	strlcpy(s->msgid, id, sizeof(s->msgid));
	s->obuf = malloc(MESSAGE_OBUF);
	if (s->obuf == NULL)
		s->writeerr = 1;
	s->olen = 0;
	s->size = 0;
	dataline_init(&s->dl);
	s->arrival = time(NULL);
	message_received_header(s);
	s->state = S_DATA;
	s->since = smtpd_now();
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	session_process(s);
}

static void
message_send_commit(struct session *s)
{
	struct mbuf	 m;
	struct wire_commit c = {
		.id = s->msgid, .helo = s->helo, .client = s->addr,
		.from = s->from, .body = s->body8 ? "8BITMIME" : "7BIT",
		.smtputf8 = s->smtputf8, .size = s->size,
		.arrival = s->arrival, .nrcpt = s->nrcpt,
		.rcpts = (const char **)s->rcpts,
	};

	m_create(&m, IMSG_SMTPD_MSG_COMMIT, s->id, -1);
	wire_commit_add(&m, &c);
	smtpd_queue_send(&m);
}

static void
message_data_end(struct session *s)
{
	const char	*reply = NULL;

	message_flush_text(s);
	if (s->datafd != -1) {
		close(s->datafd);
		s->datafd = -1;
	}
	free(s->obuf);
	s->obuf = NULL;
	if (s->toobig)
		reply = "552 5.3.4 Error: message too big";
	else if (s->dl.barecr)
		reply = "554 5.6.0 Error: bare <CR> in message text "
		    "(RFC 5321 2.3.8)";
	else if (s->dl.longline)
		reply = "500 5.5.6 Error: message line longer than 998 "
		    "characters";
	else if (s->dl.received > MESSAGE_HOPS_MAX)
		reply = "554 5.4.6 Error: too many hops";
	else if (s->writeerr)
		reply = "451 4.3.0 Error: queue file write error";
	if (reply != NULL) {
		log_info("id=%s client=[%s] event=Rejection reason=\"%s\"",
		    s->msgid, s->addr, reply);
		s->state = S_CMD;
		s->since = smtpd_now();
		message_abort(s);
		session_reset(s);
		session_error(s, "%s", reply);
		return;
	}
	s->state = S_WAIT_COMMIT;
	if (sd->queue == NULL) {
		message_queue_lost(s);
		return;
	}
	message_send_commit(s);
}

/*
 * Message text lines; 0 when more input is needed.  dataline.c says
 * what each line is; here the bytes are taken from the input buffer.
 * A line longer than SMTP_LINE_MAX is handed over in pieces as it
 * comes, so the input never waits for its end.
 */
int
message_data(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	struct evbuffer_ptr p;
	size_t		 eol, len, outlen;
	char		 out[DATALINE_OUT_MAX];
	const char	*raw;

	for (;;) {
		p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_LF);
		if (p.pos != -1)
			len = p.pos + 1;
		else {
			len = evbuffer_get_length(in);
			if (len == 0 || (len <= SMTP_LINE_MAX && !s->dl.inlong))
				return 0;
		}
		if ((raw = (char *)evbuffer_pullup(in, len)) == NULL) {
			s->writeerr = 1;	/* out of memory */
			evbuffer_drain(in, len);
			continue;
		}
		switch (dataline_take(&s->dl, raw, len, out, &outlen)) {
		case DATALINE_END:
			evbuffer_drain(in, len);
			message_data_end(s);
			return 1;
		case DATALINE_STORE:
			s->size += outlen;
			if (s->size > sd->conf->smtpd_max_message_size)
				s->toobig = 1;
			message_add_text(s, out, outlen);
			break;
		case DATALINE_SKIP:
			break;
		}
		evbuffer_drain(in, len);
	}
}

void
message_committed(struct session *s, const char *id, int ok,
    const char *reason)
{
	if (s->state != S_WAIT_COMMIT || strcmp(id, s->msgid) != 0)
		return;
	if (ok) {
		session_reply(s, "250 2.0.0 Ok: queued as %s", s->msgid);
		s->junk = 0;
	} else {
		log_warnx("id=%s client=[%s]: commit failed: %s", s->msgid,
		    s->addr, reason);
		session_reply(s, "451 4.3.0 Error: queue file write error");
	}
	s->state = S_CMD;
	s->since = smtpd_now();
	session_reset(s);
	session_process(s);
}

/*
 * queued went away.  A session waiting for a spool file or a commit
 * is parked until the restarted queued is wired back; text already
 * streaming carries on and parks at its end.
 */
void
message_queue_lost(struct session *s)
{
	if (s->parked || (s->state != S_WAIT_OPEN && s->state != S_WAIT_COMMIT))
		return;
	s->parked = 1;
	TAILQ_INSERT_TAIL(&sd->parked, s, wentry);
}

/*
 * queued is back.  A parked DATA asks again for a file; a message
 * whose commit was under way asks whether it was committed (the new
 * queued knows from the spool), so the client gets the true answer.
 */
void
message_queue_back(struct session *s)
{
	struct mbuf	 m;

	s->parked = 0;
	if (s->state == S_WAIT_OPEN)
		message_request_open(s);
	else if (s->state == S_WAIT_COMMIT) {
		m_create(&m, IMSG_SMTPD_MSG_STATUS, s->id, -1);
		m_add_string(&m, s->msgid);
		smtpd_queue_send(&m);
	}
}

