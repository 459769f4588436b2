/*
 * txn.c - one SMTP transaction, client side, as a sequence of steps:
 * [RSET] MAIL, one RCPT per recipient still to be tried, DATA, then
 * the message text and its final dot.  Each step gets exactly one
 * reply, in order (RFC 5321 4.1.1, RFC 2920 3.1).
 *
 *   RSET   not 2xx: nothing happened yet; the task starts afresh
 *          (TXN_RETRY).
 *   MAIL   not 2xx: every recipient gets this reply.
 *   RCPT   2xx: accepted; else this recipient gets the reply (5xx
 *          permanent, anything else temporary).
 *   DATA   354: the text follows, or a lone dot when nobody was
 *          accepted (RFC 2920: the DATA was pipelined); any other
 *          reply fails every accepted recipient (5xx permanent, else
 *          temporary) and is never a delivery.
 *   dot    2xx delivers every accepted recipient; 5xx fails them for
 *          good; anything else for now.
 *   421    anywhere: the server closes the session; whoever has no
 *          outcome yet gets a temporary failure.
 *
 * A reply with no command outstanding, or one that arrives while the
 * message text is still being written (a server that ended DATA
 * early), is a protocol error.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "txn.h"
#include "util.h"
#include "wire.h"

/* Only 2xx is success; 5xx fails for good; anything else (4xx, or a
 * 1xx/3xx where none belongs) is temporary. */
static int
txn_status(int code)
{
	switch (code / 100) {
	case 2:
		return RCPT_DELIVERED;
	case 5:
		return RCPT_PERMFAIL;
	}
	return RCPT_TEMPFAIL;
}

static void
txn_decide(struct txn *t, int i, int status, const char *text)
{
	if (t->response[i] != NULL)
		return;
	t->status[i] = status;
	t->response[i] = xstrdup(text);
}

/*
 * Start a transaction for the recipients that have no outcome yet
 * (response[i] == NULL; the others were decided before, e.g. refused
 * for want of SMTPUTF8).  Returns how many will be tried; with none
 * there is no transaction.
 */
int
txn_begin(struct txn *t, int nrcpt, uint8_t *status, char **response,
    int pipelined, int rset)
{
	int	 i, n = 0;

	memset(t, 0, sizeof(*t));
	t->nrcpt = nrcpt;
	t->status = status;
	t->response = response;
	t->pipelined = pipelined;
	t->accepted = xcalloc(nrcpt > 0 ? nrcpt : 1, 1);
	t->steps = xcalloc(nrcpt + 4, sizeof(*t->steps));
	if (rset)
		t->steps[t->nsteps++].cmd = TXN_RSET;
	t->steps[t->nsteps++].cmd = TXN_MAIL;
	for (i = 0; i < nrcpt; i++) {
		if (response[i] != NULL)
			continue;
		t->steps[t->nsteps].cmd = TXN_RCPT;
		t->steps[t->nsteps++].rcpt = i;
		n++;
	}
	t->steps[t->nsteps++].cmd = TXN_DATA;
	if (n == 0)
		t->done = 1;
	return n;
}

void
txn_end(struct txn *t)
{
	free(t->steps);
	free(t->accepted);
	t->steps = NULL;
	t->accepted = NULL;
	t->done = 1;
}

/*
 * The next command to send now, or TXN_NONE: pipelined, everything up
 * to DATA goes at once; else one command per reply.  The text (or the
 * lone dot) comes only after a 354.
 */
enum txn_cmd
txn_next(struct txn *t, int *rcpt)
{
	struct txn_step	*s;

	if (t->done || t->sent >= t->nsteps ||
	    (!t->pipelined && t->sent > t->answered))
		return TXN_NONE;
	s = &t->steps[t->sent++];
	if (s->cmd == TXN_TEXT)
		t->writing = 1;
	if (rcpt != NULL)
		*rcpt = s->rcpt;
	return s->cmd;
}

/* The text and the dot have left (the output buffer is empty). */
void
txn_written(struct txn *t)
{
	t->writing = 0;
}

/* The command whose reply is awaited (for its timeout), or TXN_NONE. */
enum txn_cmd
txn_waiting(const struct txn *t)
{
	if (t->done || t->answered >= t->sent)
		return TXN_NONE;
	return t->steps[t->answered].cmd;
}

static enum txn_result
txn_finish(struct txn *t, const char *text)
{
	int	 i;

	t->done = 1;
	if (t->closing)
		for (i = 0; i < t->nrcpt; i++)
			txn_decide(t, i, RCPT_TEMPFAIL, text);
	return TXN_DONE;
}

static int
txn_last_rcpt(struct txn *t, int step)
{
	return step + 1 < t->nsteps && t->steps[step + 1].cmd == TXN_DATA;
}

enum txn_result
txn_reply(struct txn *t, int code, const char *text)
{
	struct txn_step	*s;
	int		 i, step;

	if (t->done || t->answered >= t->sent) {
		t->error = "a reply with no command outstanding";
		return TXN_ERROR;
	}
	if (t->writing) {
		t->error = "a reply to the final dot before the end of the "
		    "message text";
		return TXN_ERROR;
	}
	step = t->answered++;
	s = &t->steps[step];
	if (code == 421)
		t->closing = 1;
	switch (s->cmd) {
	case TXN_RSET:
		if (code / 100 != 2) {
			t->done = 1;
			return TXN_RETRY;
		}
		break;
	case TXN_MAIL:
		if (code / 100 == 2)
			break;
		t->mail_failed = 1;
		t->need_rset = 1;
		for (i = step + 1; i < t->nsteps; i++)
			if (t->steps[i].cmd == TXN_RCPT)
				txn_decide(t, t->steps[i].rcpt,
				    txn_status(code), text);
		if (!t->pipelined)
			return txn_finish(t, text);
		break;
	case TXN_RCPT:
		if (!t->mail_failed) {
			if (code / 100 == 2) {
				t->accepted[s->rcpt] = 1;
				t->naccepted++;
			} else
				txn_decide(t, s->rcpt, txn_status(code), text);
		}
		if (!t->pipelined && txn_last_rcpt(t, step) &&
		    t->naccepted == 0) {
			t->need_rset = 1;
			return txn_finish(t, text);
		}
		break;
	case TXN_DATA:
		if (code == 354) {
			t->steps[t->nsteps++].cmd = t->mail_failed ||
			    t->naccepted == 0 ? TXN_DOT : TXN_TEXT;
			break;
		}
		for (i = 0; i < t->nrcpt; i++)
			if (t->accepted[i])
				txn_decide(t, i, code / 100 == 5 ?
				    RCPT_PERMFAIL : RCPT_TEMPFAIL, text);
		t->need_rset = 1;
		return txn_finish(t, text);
	case TXN_TEXT:
		for (i = 0; i < t->nrcpt; i++)
			if (t->accepted[i])
				txn_decide(t, i, txn_status(code), text);
		return txn_finish(t, text);
	case TXN_DOT:
		t->need_rset = 1;
		return txn_finish(t, text);
	}
	if (t->closing)
		return txn_finish(t, text);
	return TXN_MORE;
}
