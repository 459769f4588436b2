/*
 * test_reply.c - multi-line SMTP replies assembled line by line
 * (smtp_reply_add): every line carries the first line's code.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "smtp.h"

Test(reply, one_line)
{
	struct smtp_reply r;
	const char	*text = NULL;

	smtp_reply_reset(&r);
	cr_assert_eq(smtp_reply_add(&r, "250 2.0.0 ok", &text), SMTP_REPLY_DONE);
	cr_assert_eq(r.code, 250);
	cr_assert_str_eq(r.text, "250 2.0.0 ok");
	cr_assert_str_eq(text, "2.0.0 ok");
	/* the next line starts a new reply */
	cr_assert_eq(smtp_reply_add(&r, "354 go", NULL), SMTP_REPLY_DONE);
	cr_assert_eq(r.code, 354);
	cr_assert_eq(r.nlines, 1);
	cr_assert_str_eq(r.text, "354 go");
}

Test(reply, multi_line)
{
	struct smtp_reply r;
	const char	*text;

	smtp_reply_reset(&r);
	cr_assert_eq(smtp_reply_add(&r, "250-mx.example", &text),
	    SMTP_REPLY_MORE);
	cr_assert_eq(smtp_reply_add(&r, "250-PIPELINING", &text),
	    SMTP_REPLY_MORE);
	cr_assert_str_eq(text, "PIPELINING");
	cr_assert_eq(r.nlines, 2);
	cr_assert_eq(smtp_reply_add(&r, "250-", &text), SMTP_REPLY_MORE);
	cr_assert_eq(smtp_reply_add(&r, "250 8BITMIME", &text),
	    SMTP_REPLY_DONE);
	cr_assert_str_eq(text, "8BITMIME");
	cr_assert_eq(r.code, 250);
	cr_assert_eq(r.nlines, 4);
	cr_assert_str_eq(r.text, "250 mx.example PIPELINING 8BITMIME");
}

Test(reply, code_changes)
{
	struct smtp_reply r;

	smtp_reply_reset(&r);
	cr_assert_eq(smtp_reply_add(&r, "250-a", NULL), SMTP_REPLY_MORE);
	cr_assert_eq(smtp_reply_add(&r, "251 b", NULL), SMTP_REPLY_BAD);
	/* reset: a good reply reads normally afterwards */
	cr_assert_eq(smtp_reply_add(&r, "250 c", NULL), SMTP_REPLY_DONE);
	cr_assert_str_eq(r.text, "250 c");

	smtp_reply_reset(&r);
	cr_assert_eq(smtp_reply_add(&r, "550-5.1.1 no", NULL), SMTP_REPLY_MORE);
	cr_assert_eq(smtp_reply_add(&r, "250-ok", NULL), SMTP_REPLY_BAD);

	smtp_reply_reset(&r);
	cr_assert_eq(smtp_reply_add(&r, "451-x", NULL), SMTP_REPLY_MORE);
	cr_assert_eq(smtp_reply_add(&r, "45l y", NULL), SMTP_REPLY_BAD);

	smtp_reply_reset(&r);
	cr_assert_eq(smtp_reply_add(&r, "250-x", NULL), SMTP_REPLY_MORE);
	cr_assert_eq(smtp_reply_add(&r, "garbage", NULL), SMTP_REPLY_BAD);
}

Test(reply, malformed_first_line)
{
	struct smtp_reply r;

	smtp_reply_reset(&r);
	cr_assert_eq(smtp_reply_add(&r, "", NULL), SMTP_REPLY_BAD);
	cr_assert_eq(smtp_reply_add(&r, "2500 x", NULL), SMTP_REPLY_BAD);
	cr_assert_eq(smtp_reply_add(&r, "650 x", NULL), SMTP_REPLY_BAD);
	cr_assert_eq(smtp_reply_add(&r, "250_x", NULL), SMTP_REPLY_BAD);
}

Test(reply, too_many_lines)
{
	struct smtp_reply r;
	int		 i;

	smtp_reply_reset(&r);
	for (i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		cr_assert_eq(smtp_reply_add(&r, "250-x", NULL),
		    SMTP_REPLY_MORE);
	cr_assert_eq(smtp_reply_add(&r, "250 x", NULL), SMTP_REPLY_BAD);
}

Test(reply, long_text_truncated)
{
	struct smtp_reply r;
	char		 line[900];
	int		 i;

	smtp_reply_reset(&r);
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "250-", 4);
	for (i = 0; i < 5; i++)
		cr_assert_eq(smtp_reply_add(&r, line, NULL), SMTP_REPLY_MORE);
	cr_assert_eq(smtp_reply_add(&r, "250 end", NULL), SMTP_REPLY_DONE);
	cr_assert_eq(strlen(r.text), sizeof(r.text) - 1);
	cr_assert_eq(r.len, sizeof(r.text) - 1);
	cr_assert(strncmp(r.text, "250 aaa", 7) == 0);
}
