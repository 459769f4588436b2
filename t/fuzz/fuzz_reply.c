/*
 * fuzz_reply.c - the client side: a next hop's replies assembled line
 * by line (lib/smtp.c smtp_reply_add, smtp_parse_enhanced) and fed to
 * the transaction sequencer (deliverd/txn.c), as deliverd/client.c
 * does within a transaction.
 *
 * Input: one byte of set-up (bit 0 PIPELINING, bit 1 RSET first, bits
 * 2-4 the number of recipients, bits 5-7 recipients already decided
 * before the transaction), one byte saying after which replies the
 * text has been written, then the server's byte stream, lines ended by
 * LF or CRLF.  A malformed reply or a protocol error ends the
 * connection; a finished transaction starts the next on the same one.
 *
 * Checked: the assembled text is NUL-terminated at its length and
 * starts with the code; a finished transaction (TXN_DONE) leaves every
 * recipient with an outcome; outcomes are RCPT_* values.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "smtp.h"
#include "wire.h"
#include "../../deliverd/txn.h"

#define NRCPT_MAX	8

struct run {
	struct txn	 txn;
	uint8_t		 status[NRCPT_MAX];
	char		*response[NRCPT_MAX];
	int		 nrcpt;
	int		 active;
};

static void
run_clear(struct run *r)
{
	int	 i;

	if (r->active)
		txn_end(&r->txn);
	r->active = 0;
	for (i = 0; i < NRCPT_MAX; i++) {
		free(r->response[i]);
		r->response[i] = NULL;
	}
}

static void
run_begin(struct run *r, uint8_t setup)
{
	int	 i;

	run_clear(r);
	r->nrcpt = (setup >> 2) & 7;
	for (i = 0; i < r->nrcpt && i < 3; i++)
		if (setup & (0x20 << i)) {
			r->status[i] = RCPT_PERMFAIL;
			r->response[i] = strdup("550 5.1.1 decided before");
		}
	r->active = 1;
	if (txn_begin(&r->txn, r->nrcpt, r->status, r->response,
	    setup & 1, (setup >> 1) & 1) == 0)
		run_clear(r);
}

/* Send everything the transaction allows now. */
static void
run_send(struct run *r)
{
	enum txn_cmd	 cmd;
	int		 i = -1, n = 0;

	while ((cmd = txn_next(&r->txn, &i)) != TXN_NONE) {
		FUZZ_CHECK(cmd >= TXN_RSET && cmd <= TXN_DOT);
		if (cmd == TXN_RCPT)
			FUZZ_CHECK(i >= 0 && i < r->nrcpt &&
			    r->response[i] == NULL);
		FUZZ_CHECK(++n <= r->nrcpt + 4);
	}
	(void)txn_waiting(&r->txn);
}

static void
check_done(const struct run *r)
{
	int	 i;

	for (i = 0; i < r->nrcpt; i++) {
		FUZZ_CHECK(r->response[i] != NULL);
		FUZZ_CHECK(r->status[i] <= RCPT_NOTTRIED);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply reply;
	struct run	 r;
	const char	*buf = (const char *)data, *lf, *text;
	char		*line, enh[16];
	size_t		 off, len;
	uint8_t		 setup, written;
	int		 rc, nreply = 0;

	if (size < 2)
		return 0;
	setup = data[0];
	written = data[1];
	memset(&r, 0, sizeof(r));
	memset(&reply, 0, sizeof(reply));
	smtp_reply_reset(&reply);
	run_begin(&r, setup);
	if (r.active)
		run_send(&r);

	for (off = 2; off < size; off = lf - buf + 1) {
		if ((lf = memchr(buf + off, '\n', size - off)) == NULL)
			break;
		len = lf - (buf + off);
		if (len > 0 && buf[off + len - 1] == '\r')
			len--;
		line = malloc(len + 1);	/* evbuffer_readln()'s copy */
		FUZZ_CHECK(line != NULL);
		memcpy(line, buf + off, len);
		line[len] = '\0';
		rc = smtp_reply_add(&reply, line, &text);
		free(line);
		FUZZ_CHECK(reply.len < sizeof(reply.text));
		FUZZ_CHECK(strlen(reply.text) == reply.len);
		if (rc == SMTP_REPLY_BAD) {
			FUZZ_CHECK(reply.nlines == 0 && reply.len == 0);
			break;		/* the connection is dropped */
		}
		if (rc == SMTP_REPLY_MORE)
			continue;
		FUZZ_CHECK(rc == SMTP_REPLY_DONE);
		FUZZ_CHECK(reply.code >= 200 && reply.code <= 599);
		FUZZ_CHECK(reply.text[0] == '0' + reply.code / 100);
		if (smtp_parse_enhanced(reply.text + 4, enh, sizeof(enh)) == 0)
			FUZZ_CHECK(strlen(enh) >= 5 && enh[1] == '.');

		if (!r.active)
			break;	/* a reply with no transaction: dropped */
		if (r.txn.writing && (written >> (nreply++ & 7) & 1))
			txn_written(&r.txn);
		switch (txn_reply(&r.txn, reply.code, reply.text)) {
		case TXN_MORE:
			run_send(&r);
			continue;
		case TXN_DONE:
			check_done(&r);
			run_begin(&r, setup);
			if (r.active)
				run_send(&r);
			continue;
		case TXN_RETRY:
			run_begin(&r, setup);
			if (r.active)
				run_send(&r);
			continue;
		case TXN_ERROR:
			FUZZ_CHECK(r.txn.error != NULL);
			break;
		}
		break;
	}
	run_clear(&r);
	return 0;
}
