/*
 * test_dataline.c - smtpd's DATA state machine: every line ending
 * (CRLF, bare LF, bare CR), the terminator only between two real
 * CRLFs, lone dots stuffed, over-long lines keeping their real ending,
 * Received: lines counted in the header section.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../smtpd/dataline.h"

struct run {
	struct dataline	 dl;
	char		 stored[8192];
	size_t		 nstored;
	int		 end;		/* DATALINE_END was returned */
	size_t		 rest;		/* input bytes left after the end */
};

static void
take(struct run *r, const char *raw, size_t len)
{
	char		 out[DATALINE_OUT_MAX];
	size_t		 outlen = 12345;

	cr_assert(!r->end, "input after the end");
	switch (dataline_take(&r->dl, raw, len, out, &outlen)) {
	case DATALINE_END:
		cr_assert_eq(outlen, 0);
		r->end = 1;
		break;
	case DATALINE_STORE:
		cr_assert_leq(outlen, DATALINE_OUT_MAX);
		cr_assert_lt(r->nstored + outlen, sizeof(r->stored));
		memcpy(r->stored + r->nstored, out, outlen);
		r->nstored += outlen;
		break;
	case DATALINE_SKIP:
		cr_assert_eq(outlen, 0);
		break;
	}
}

/*
 * Feed input as smtpd does: split at each LF; at the end, what has no
 * LF is handed over only when it is already over-long.
 */
static void
feed(struct run *r, const char *in, size_t len)
{
	const char	*lf;
	size_t		 n;

	while (len > 0 && !r->end) {
		if ((lf = memchr(in, '\n', len)) != NULL)
			n = lf - in + 1;
		else if (len > SMTP_LINE_MAX || r->dl.inlong)
			n = len;
		else
			break;
		take(r, in, n);
		in += n;
		len -= n;
	}
	r->rest = len;
}

static struct run *
run(const char *in)
{
	static struct run r;

	memset(&r, 0, sizeof(r));
	dataline_init(&r.dl);
	feed(&r, in, strlen(in));
	r.stored[r.nstored] = '\0';
	return &r;
}

static void
stored_is(struct run *r, const char *want)
{
	cr_assert_eq(r->nstored, strlen(want), "stored %zu bytes \"%s\", "
	    "want \"%s\"", r->nstored, r->stored, want);
	cr_assert_eq(memcmp(r->stored, want, r->nstored), 0,
	    "stored \"%s\", want \"%s\"", r->stored, want);
}

static char *
line_of(char c, size_t n, const char *ending)
{
	static char	 buf[4096];

	cr_assert_lt(n + strlen(ending), sizeof(buf));
	memset(buf, c, n);
	strcpy(buf + n, ending);
	return buf;
}

Test(dataline, empty_message)
{
	struct run	*r = run(".\r\n");

	cr_assert(r->end);
	stored_is(r, "");
	cr_assert_eq(r->dl.received, 0);
}

Test(dataline, crlf_lines)
{
	struct run	*r = run("Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n");

	cr_assert(r->end);
	stored_is(r, "Subject: x\r\n\r\nhello\r\n");
	cr_assert_eq(r->rest, 6, "what follows the end is left for commands");
	cr_assert(!r->dl.barecr && !r->dl.longline);
}

Test(dataline, bare_lf_gets_its_cr)
{
	struct run	*r = run("a\nb\r\n\nc\n.\r\n.\r\n");

	/* the first dot follows a bare LF: text, stuffed; the second ends */
	cr_assert(r->end);
	stored_is(r, "a\r\nb\r\n\r\nc\r\n..\r\n");
	cr_assert(!r->dl.barecr);
}

Test(dataline, lf_dot_crlf_is_not_the_end)
{
	struct run	*r = run("hello\n.\r\nMAIL FROM:<x@bank.test>\r\n"
	    "RCPT TO:<y@z.test>\r\nDATA\r\nforged\r\n.\r\n");

	cr_assert(r->end);
	stored_is(r, "hello\r\n..\r\nMAIL FROM:<x@bank.test>\r\n"
	    "RCPT TO:<y@z.test>\r\nDATA\r\nforged\r\n");
	cr_assert_eq(r->rest, 0);
}

Test(dataline, lf_dot_lf_is_not_the_end)
{
	struct run	*r = run("hello\n.\nMAIL FROM:<x@bank.test>\r\n.\r\n");

	cr_assert(r->end);
	stored_is(r, "hello\r\n..\r\nMAIL FROM:<x@bank.test>\r\n");
}

Test(dataline, crlf_dot_lf_is_not_the_end)
{
	struct run	*r = run("hello\r\n.\nMAIL FROM:<x@bank.test>\r\n");

	cr_assert(!r->end);
	stored_is(r, "hello\r\n..\r\nMAIL FROM:<x@bank.test>\r\n");
}

Test(dataline, cr_dot_crlf_is_a_bare_cr)
{
	struct run	*r = run("hello\r.\r\nMAIL FROM:<x@bank.test>\r\n"
	    ".\r\n");

	/* one line "hello<CR>." with a bare CR: the text is refused */
	cr_assert(r->end);
	cr_assert(r->dl.barecr);
}

Test(dataline, bare_cr)
{
	cr_assert(run("a\rb\r\n")->dl.barecr);
	cr_assert(run("a\r\r\n")->dl.barecr);
	cr_assert(run("\r\r\n")->dl.barecr);
	cr_assert(run("x\r\n\r.\r\n")->dl.barecr);
	cr_assert(!run("a\r\n\r\nb\n")->dl.barecr);
}

Test(dataline, dot_stuffed_lines_pass_unchanged)
{
	struct run	*r = run("..\r\n..\n.foo\r\n...\r\n..x\r\n .\r\n.\r\n");

	cr_assert(r->end);
	stored_is(r, "..\r\n..\r\n.foo\r\n...\r\n..x\r\n .\r\n");
}

Test(dataline, longest_line)
{
	/* 1000 octets with the CRLF is allowed (RFC 5321 4.5.3.1.6) */
	struct run	*r = run(line_of('a', SMTP_LINE_MAX - 2, "\r\n"));

	cr_assert(!r->dl.longline);
	cr_assert_eq(r->nstored, SMTP_LINE_MAX);
	r = run(line_of('a', SMTP_LINE_MAX - 1, "\n"));
	cr_assert(!r->dl.longline);
	cr_assert_eq(r->nstored, SMTP_LINE_MAX + 1);
	r = run(line_of('a', SMTP_LINE_MAX - 1, "\r\n"));
	cr_assert(r->dl.longline);
	cr_assert_eq(r->nstored, 0);
}

Test(dataline, long_line_lf_then_dot_crlf_is_not_the_end)
{
	char		 in[4096];
	struct run	*r;

	snprintf(in, sizeof(in), "%s.\r\nMAIL FROM:<x@bank.test>\r\n",
	    line_of('a', 1500, "\n"));
	r = run(in);
	cr_assert(!r->end, "a long line ended by a bare LF ended the text");
	cr_assert(r->dl.longline);
	/* the dot was stored stuffed (the text is refused anyway) */
	stored_is(r, "..\r\nMAIL FROM:<x@bank.test>\r\n");
}

Test(dataline, long_line_crlf_then_dot_crlf_is_the_end)
{
	char		 in[4096];
	struct run	*r;

	snprintf(in, sizeof(in), "%s.\r\nQUIT\r\n",
	    line_of('a', 1500, "\r\n"));
	r = run(in);
	cr_assert(r->end);
	cr_assert(r->dl.longline);
	cr_assert_eq(r->rest, 6);
}

/* Feed an over-long line in pieces, then ".\r\n": did that end the text? */
static int
dot_ends_after(const char *const *pieces)
{
	struct run	 r;

	memset(&r, 0, sizeof(r));
	dataline_init(&r.dl);
	for (; *pieces != NULL; pieces++)
		take(&r, *pieces, strlen(*pieces));
	cr_assert(r.dl.longline && !r.dl.inlong);
	take(&r, ".\r\n", 3);
	cr_assert_eq(r.nstored, r.end ? 0 : 4);
	return r.end;
}

Test(dataline, long_line_in_pieces)
{
	char	 b[1300], bcr[1300];

	strcpy(b, line_of('b', 1200, ""));
	strcpy(bcr, line_of('b', 1200, "\r"));

	/* the CR is the last byte of one piece, the LF comes alone */
	cr_assert(dot_ends_after((const char *[]){ bcr, "\n", NULL }),
	    "CR and LF in two pieces are still a CRLF");
	/* a piece that does not end in CR, then a bare LF */
	cr_assert(!dot_ends_after((const char *[]){ b, "\n", NULL }),
	    "a long line's bare LF let the dot end the text");
	/* a CR early in the last piece is not its ending */
	cr_assert(!dot_ends_after((const char *[]){ bcr, "xy\n", NULL }));
	/* pieces, then the rest with its CRLF */
	cr_assert(dot_ends_after((const char *[]){ b, b, "zz\r\n", NULL }));
	cr_assert(dot_ends_after((const char *[]){ b, bcr, "\n", NULL }));
}

Test(dataline, long_line_without_lf_yet)
{
	struct run	*r = run(line_of('c', 1500, ""));

	cr_assert(r->dl.longline && r->dl.inlong);
	cr_assert_eq(r->rest, 0, "an over-long piece is taken at once");
	r = run(line_of('c', 900, ""));
	cr_assert(!r->dl.longline);
	cr_assert_eq(r->rest, 900, "a short piece waits for its LF");
}

Test(dataline, received_lines_counted_in_the_header)
{
	struct run	*r = run("Received: from a\r\n\tby b\r\n"
	    "received: from c\r\nRECEIVED:from d\n"
	    "X-Received: no\r\nSubject: Received: no\r\n"
	    " Received: continuation\r\n"
	    "\r\nReceived: in the body\r\n.\r\n");

	cr_assert(r->end);
	cr_assert_eq(r->dl.received, 3);
}

Test(dataline, header_ends_at_a_bare_lf_empty_line)
{
	struct run	*r = run("Received: a\r\n\nReceived: b\r\n.\r\n");

	cr_assert_eq(r->dl.received, 1);
}

Test(dataline, many_received)
{
	char		 in[8192];
	size_t		 off = 0;
	int		 i;

	for (i = 0; i < 60; i++)
		off += snprintf(in + off, sizeof(in) - off,
		    "Received: from h%d\r\n", i);
	snprintf(in + off, sizeof(in) - off, "\r\nbody\r\n.\r\n");
	cr_assert_eq(run(in)->dl.received, 60);
}
