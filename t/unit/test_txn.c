/*
 * test_txn.c - the client's transaction sequencing (deliverd/txn.c):
 * what is sent when, and what each reply means for each recipient,
 * pipelined and not.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../deliverd/txn.h"
#include "wire.h"

#define NR	3

static struct txn	 t;
static uint8_t		 status[NR];
static char		*response[NR];

static void
setup(void)
{
	memset(status, 0xff, sizeof(status));
	memset(response, 0, sizeof(response));
}

static void
teardown(void)
{
	int	 i;

	txn_end(&t);
	for (i = 0; i < NR; i++)
		free(response[i]);
}

TestSuite(txn, .init = setup, .fini = teardown);

/* What txn_next() hands out now, as "RSET MAIL RCPT0 ..." */
static const char *
sends(void)
{
	static char	 buf[256];
	enum txn_cmd	 c;
	int		 r;

	buf[0] = '\0';
	while ((c = txn_next(&t, &r)) != TXN_NONE) {
		char	 w[16];

		switch (c) {
		case TXN_RSET:	strcpy(w, "RSET"); break;
		case TXN_MAIL:	strcpy(w, "MAIL"); break;
		case TXN_RCPT:	snprintf(w, sizeof(w), "RCPT%d", r); break;
		case TXN_DATA:	strcpy(w, "DATA"); break;
		case TXN_TEXT:	strcpy(w, "TEXT"); break;
		case TXN_DOT:	strcpy(w, "DOT"); break;
		default:	strcpy(w, "?"); break;
		}
		if (*buf)
			strcat(buf, " ");
		strcat(buf, w);
	}
	return buf;
}

/* n replies of 250, each after sending what is due */
static void
ok_n(int n)
{
	while (n-- > 0) {
		sends();
		cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	}
}

static void
outcome(int i, int st, const char *resp)
{
	cr_assert_not_null(response[i], "recipient %d has no outcome", i);
	cr_assert_eq(status[i], st, "status of recipient %d: %d", i,
	    status[i]);
	cr_assert_str_eq(response[i], resp);
}

Test(txn, plain_all_accepted)
{
	cr_assert_eq(txn_begin(&t, NR, status, response, 0, 0), NR);
	cr_assert_str_eq(sends(), "MAIL");
	cr_assert_eq(txn_waiting(&t), TXN_MAIL);
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_str_eq(sends(), "RCPT0");
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_str_eq(sends(), "RCPT1");
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_str_eq(sends(), "RCPT2");
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_str_eq(sends(), "DATA");
	cr_assert_eq(txn_waiting(&t), TXN_DATA);
	cr_assert_eq(txn_reply(&t, 354, "354 go"), TXN_MORE);
	cr_assert_str_eq(sends(), "TEXT");
	cr_assert(t.writing);
	txn_written(&t);
	cr_assert_eq(txn_waiting(&t), TXN_TEXT);
	cr_assert_eq(txn_reply(&t, 250, "250 stored"), TXN_DONE);
	outcome(0, RCPT_DELIVERED, "250 stored");
	outcome(2, RCPT_DELIVERED, "250 stored");
	cr_assert_not(t.need_rset);
	cr_assert_str_eq(sends(), "");
}

Test(txn, pipelined_all_accepted)
{
	cr_assert_eq(txn_begin(&t, NR, status, response, 1, 1), NR);
	cr_assert_str_eq(sends(), "RSET MAIL RCPT0 RCPT1 RCPT2 DATA");
	cr_assert_eq(txn_reply(&t, 250, "250 reset"), TXN_MORE);
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_str_eq(sends(), "");
	cr_assert_eq(txn_waiting(&t), TXN_RCPT);
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_str_eq(sends(), "");
	cr_assert_eq(txn_reply(&t, 354, "354 go"), TXN_MORE);
	cr_assert_str_eq(sends(), "TEXT");
	txn_written(&t);
	cr_assert_eq(txn_reply(&t, 250, "250 stored"), TXN_DONE);
	outcome(1, RCPT_DELIVERED, "250 stored");
}

Test(txn, plain_rset_first)
{
	cr_assert_eq(txn_begin(&t, NR, status, response, 0, 1), NR);
	cr_assert_str_eq(sends(), "RSET");
	cr_assert_eq(txn_waiting(&t), TXN_RSET);
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_str_eq(sends(), "MAIL");
}

Test(txn, rset_refused)
{
	txn_begin(&t, NR, status, response, 1, 1);
	sends();
	cr_assert_eq(txn_reply(&t, 500, "500 what"), TXN_RETRY);
	cr_assert_null(response[0]);
	cr_assert_null(response[2]);
}

Test(txn, plain_mail_refused)
{
	txn_begin(&t, NR, status, response, 0, 0);
	cr_assert_str_eq(sends(), "MAIL");
	cr_assert_eq(txn_reply(&t, 553, "553 5.7.1 sender refused"), TXN_DONE);
	outcome(0, RCPT_PERMFAIL, "553 5.7.1 sender refused");
	outcome(2, RCPT_PERMFAIL, "553 5.7.1 sender refused");
	cr_assert_str_eq(sends(), "");
	cr_assert(t.need_rset);
}

Test(txn, pipelined_mail_refused)
{
	txn_begin(&t, NR, status, response, 1, 0);
	cr_assert_str_eq(sends(), "MAIL RCPT0 RCPT1 RCPT2 DATA");
	cr_assert_eq(txn_reply(&t, 451, "451 4.3.0 later"), TXN_MORE);
	/* the RCPT replies mean nothing now; the DATA reply ends it */
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_eq(txn_reply(&t, 503, "503 no"), TXN_MORE);
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_eq(txn_reply(&t, 503, "503 5.5.1 no valid recipients"),
	    TXN_DONE);
	outcome(0, RCPT_TEMPFAIL, "451 4.3.0 later");
	outcome(1, RCPT_TEMPFAIL, "451 4.3.0 later");
	outcome(2, RCPT_TEMPFAIL, "451 4.3.0 later");
}

Test(txn, pipelined_mail_refused_then_354)
{
	txn_begin(&t, NR, status, response, 1, 0);
	sends();
	cr_assert_eq(txn_reply(&t, 550, "550 no"), TXN_MORE);
	ok_n(3);
	cr_assert_eq(txn_reply(&t, 354, "354 go"), TXN_MORE);
	/* nobody to send to: a lone dot ends the text */
	cr_assert_str_eq(sends(), "DOT");
	cr_assert_not(t.writing);
	cr_assert_eq(txn_waiting(&t), TXN_DOT);
	cr_assert_eq(txn_reply(&t, 250, "250 ok?"), TXN_DONE);
	outcome(0, RCPT_PERMFAIL, "550 no");
	outcome(2, RCPT_PERMFAIL, "550 no");
	cr_assert(t.need_rset);
}

Test(txn, plain_some_rcpt_refused)
{
	txn_begin(&t, NR, status, response, 0, 0);
	sends();
	txn_reply(&t, 250, "250 ok");
	cr_assert_str_eq(sends(), "RCPT0");
	cr_assert_eq(txn_reply(&t, 550, "550 5.1.1 no such user"), TXN_MORE);
	cr_assert_str_eq(sends(), "RCPT1");
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_str_eq(sends(), "RCPT2");
	cr_assert_eq(txn_reply(&t, 452, "452 4.5.3 too many"), TXN_MORE);
	cr_assert_str_eq(sends(), "DATA");
	txn_reply(&t, 354, "354 go");
	cr_assert_str_eq(sends(), "TEXT");
	txn_written(&t);
	cr_assert_eq(txn_reply(&t, 250, "250 stored"), TXN_DONE);
	outcome(0, RCPT_PERMFAIL, "550 5.1.1 no such user");
	outcome(1, RCPT_DELIVERED, "250 stored");
	outcome(2, RCPT_TEMPFAIL, "452 4.5.3 too many");
}

Test(txn, plain_all_rcpt_refused)
{
	txn_begin(&t, NR, status, response, 0, 0);
	sends();
	txn_reply(&t, 250, "250 ok");
	sends();
	txn_reply(&t, 550, "550 a");
	sends();
	txn_reply(&t, 550, "550 b");
	sends();
	/* no DATA after the last refusal */
	cr_assert_eq(txn_reply(&t, 450, "450 c"), TXN_DONE);
	cr_assert_str_eq(sends(), "");
	outcome(0, RCPT_PERMFAIL, "550 a");
	outcome(1, RCPT_PERMFAIL, "550 b");
	outcome(2, RCPT_TEMPFAIL, "450 c");
	cr_assert(t.need_rset);
}

Test(txn, pipelined_all_rcpt_refused)
{
	txn_begin(&t, NR, status, response, 1, 0);
	sends();
	txn_reply(&t, 250, "250 ok");
	txn_reply(&t, 550, "550 a");
	txn_reply(&t, 550, "550 b");
	txn_reply(&t, 550, "550 c");
	/* RFC 2920: DATA was sent anyway; a 354 gets an empty text */
	cr_assert_eq(txn_reply(&t, 354, "354 go"), TXN_MORE);
	cr_assert_str_eq(sends(), "DOT");
	cr_assert_eq(txn_reply(&t, 250, "250 empty"), TXN_DONE);
	outcome(0, RCPT_PERMFAIL, "550 a");
	outcome(2, RCPT_PERMFAIL, "550 c");
}

Test(txn, pipelined_all_rcpt_refused_data_554)
{
	txn_begin(&t, NR, status, response, 1, 0);
	sends();
	txn_reply(&t, 250, "250 ok");
	txn_reply(&t, 550, "550 a");
	txn_reply(&t, 450, "450 b");
	txn_reply(&t, 550, "550 c");
	cr_assert_eq(txn_reply(&t, 554, "554 no valid recipients"), TXN_DONE);
	cr_assert_str_eq(sends(), "");
	outcome(1, RCPT_TEMPFAIL, "450 b");
}

/* DATA answered with anything but 354 is never a delivery. */
static void
data_reply(int code, const char *text, int want)
{
	txn_begin(&t, NR, status, response, 1, 0);
	ok_n(2);
	txn_reply(&t, 550, "550 no");
	txn_reply(&t, 250, "250 ok");
	cr_assert_eq(txn_reply(&t, code, text), TXN_DONE);
	cr_assert_str_eq(sends(), "", "nothing is sent after DATA got %d",
	    code);
	outcome(0, want, text);
	outcome(1, RCPT_PERMFAIL, "550 no");
	outcome(2, want, text);
	cr_assert(t.need_rset);
}

Test(txn, data_250)
{
	data_reply(250, "250 2.0.0 ok", RCPT_TEMPFAIL);
}

Test(txn, data_450)
{
	data_reply(450, "450 4.3.0 later", RCPT_TEMPFAIL);
}

Test(txn, data_554)
{
	data_reply(554, "554 5.7.1 refused", RCPT_PERMFAIL);
}

Test(txn, data_other_3xx)
{
	data_reply(334, "334 what", RCPT_TEMPFAIL);
}

static void
dot_reply(int code, const char *text, int want)
{
	txn_begin(&t, NR, status, response, 0, 0);
	ok_n(4);
	cr_assert_str_eq(sends(), "DATA");
	txn_reply(&t, 354, "354 go");
	cr_assert_str_eq(sends(), "TEXT");
	txn_written(&t);
	cr_assert_eq(txn_reply(&t, code, text), TXN_DONE);
	outcome(0, want, text);
	outcome(1, want, text);
	outcome(2, want, text);
}

Test(txn, dot_250)
{
	dot_reply(250, "250 2.0.0 stored", RCPT_DELIVERED);
}

Test(txn, dot_452)
{
	dot_reply(452, "452 4.3.1 disk full", RCPT_TEMPFAIL);
}

Test(txn, dot_554)
{
	dot_reply(554, "554 5.6.0 spam", RCPT_PERMFAIL);
}

Test(txn, dot_354)
{
	dot_reply(354, "354 what?", RCPT_TEMPFAIL);
}

Test(txn, rcpt_421_plain)
{
	txn_begin(&t, NR, status, response, 0, 0);
	ok_n(2);
	sends();
	cr_assert_eq(txn_reply(&t, 421, "421 4.3.2 bye"), TXN_DONE);
	cr_assert(t.closing);
	cr_assert_str_eq(sends(), "");
	outcome(0, RCPT_TEMPFAIL, "421 4.3.2 bye");
	outcome(1, RCPT_TEMPFAIL, "421 4.3.2 bye");
	outcome(2, RCPT_TEMPFAIL, "421 4.3.2 bye");
}

Test(txn, mail_421_pipelined)
{
	txn_begin(&t, NR, status, response, 1, 0);
	sends();
	cr_assert_eq(txn_reply(&t, 421, "421 4.3.2 bye"), TXN_DONE);
	cr_assert(t.closing);
	outcome(0, RCPT_TEMPFAIL, "421 4.3.2 bye");
	outcome(2, RCPT_TEMPFAIL, "421 4.3.2 bye");
}

Test(txn, rcpt_421_pipelined)
{
	txn_begin(&t, NR, status, response, 1, 0);
	sends();
	txn_reply(&t, 250, "250 ok");
	txn_reply(&t, 550, "550 no");
	cr_assert_eq(txn_reply(&t, 421, "421 4.3.2 bye"), TXN_DONE);
	outcome(0, RCPT_PERMFAIL, "550 no");
	outcome(1, RCPT_TEMPFAIL, "421 4.3.2 bye");
	outcome(2, RCPT_TEMPFAIL, "421 4.3.2 bye");
}

Test(txn, data_421)
{
	data_reply(421, "421 4.3.2 bye", RCPT_TEMPFAIL);
	cr_assert(t.closing);
}

Test(txn, dot_421)
{
	dot_reply(421, "421 4.3.2 bye", RCPT_TEMPFAIL);
	cr_assert(t.closing);
}

Test(txn, rset_421)
{
	txn_begin(&t, NR, status, response, 0, 1);
	sends();
	cr_assert_eq(txn_reply(&t, 421, "421 bye"), TXN_RETRY);
	cr_assert(t.closing);
}

Test(txn, reply_before_anything_sent)
{
	txn_begin(&t, NR, status, response, 0, 0);
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_ERROR);
	cr_assert_not_null(t.error);
}

Test(txn, extra_reply_after_done)
{
	dot_reply(250, "250 stored", RCPT_DELIVERED);
	cr_assert_eq(txn_reply(&t, 250, "250 extra"), TXN_ERROR);
	cr_assert(strstr(t.error, "no command outstanding") != NULL);
}

Test(txn, extra_reply_plain)
{
	/* one command outstanding, two replies */
	txn_begin(&t, NR, status, response, 0, 0);
	sends();
	cr_assert_eq(txn_reply(&t, 250, "250 ok"), TXN_MORE);
	cr_assert_eq(txn_waiting(&t), TXN_NONE);
	cr_assert_eq(txn_reply(&t, 250, "250 ok again"), TXN_ERROR);
}

Test(txn, dot_reply_while_writing)
{
	/* a next hop that ended DATA early */
	txn_begin(&t, NR, status, response, 1, 0);
	ok_n(4);
	txn_reply(&t, 354, "354 go");
	cr_assert_str_eq(sends(), "TEXT");
	cr_assert_eq(txn_reply(&t, 250, "250 early"), TXN_ERROR);
	cr_assert(strstr(t.error, "before the end of the message text"));
	cr_assert_null(response[0]);	/* the caller fails them for now */
}

Test(txn, decided_recipients_skipped)
{
	response[1] = strdup("5.6.7 SMTPUTF8 not offered by x");
	status[1] = RCPT_PERMFAIL;
	cr_assert_eq(txn_begin(&t, NR, status, response, 1, 0), 2);
	cr_assert_str_eq(sends(), "MAIL RCPT0 RCPT2 DATA");
	ok_n(3);
	txn_reply(&t, 354, "354 go");
	cr_assert_str_eq(sends(), "TEXT");
	txn_written(&t);
	cr_assert_eq(txn_reply(&t, 250, "250 stored"), TXN_DONE);
	outcome(0, RCPT_DELIVERED, "250 stored");
	outcome(1, RCPT_PERMFAIL, "5.6.7 SMTPUTF8 not offered by x");
	outcome(2, RCPT_DELIVERED, "250 stored");
}

Test(txn, nobody_left)
{
	int	 i;

	for (i = 0; i < NR; i++) {
		response[i] = strdup("5.6.7 no");
		status[i] = RCPT_PERMFAIL;
	}
	cr_assert_eq(txn_begin(&t, NR, status, response, 1, 1), 0);
	cr_assert_str_eq(sends(), "");
}
