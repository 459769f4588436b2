/*
 * test_dsn.c - bounces: spool form in and out, the RFC 3464 fields,
 * the original's header and nothing of its body, and limits.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dsn.h"

#define ID	"0123456789abcdef"
#define NOW	1700000000	/* Tue, 14 Nov 2023 22:13:20 UTC */

/* the original in spool form: CRLF, dot-stuffed, no final dot */
static const char orig[] =
    "Received: from client.example ([192.0.2.1])\r\n"
    "\tby mx.example (petrel) with ESMTP id " ID ";\r\n"
    "\tTue, 14 Nov 2023 22:00:00 +0000\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.com, carol@example.net\r\n"
    "Subject: hello\r\n"
    "..hidden: x\r\n"
    "Message-ID: <m1@example.org>\r\n"
    "\r\n"
    "BODYLINE one\r\n"
    "..BODYDOT\r\n"
    "X-Not-A-Header: in the body\r\n";

static const struct dsn_rcpt rcpts2[] = {
	{ "bob@example.com", "5.1.1",
	    "550 5.1.1 <bob@example.com>: Recipient address rejected: "
	    "User unknown in virtual mailbox table", "mx.example.com" },
	{ "carol@example.net", "5.4.4", "Host or domain name not found",
	    NULL },
};

static void
info(struct dsn_info *d, const struct dsn_rcpt *r, int n)
{
	memset(d, 0, sizeof(*d));
	d->reporting_mta = "mx.example";
	d->msgid = ID;
	d->from = "alice@example.org";
	d->arrival = NOW - 3600;
	d->now = NOW;
	d->reason = "permanent delivery failure";
	d->rcpts = r;
	d->nrcpt = n;
}

/* a temporary file, already unlinked */
static int
tmpfd(void)
{
	char	 path[] = "/tmp/petrel-test-dsn.XXXXXX";
	int	 fd;

	fd = mkstemp(path);
	cr_assert_neq(fd, -1, "mkstemp: %s", strerror(errno));
	cr_assert_eq(unlink(path), 0);
	return fd;
}

static int
origfd(const char *text, size_t len)
{
	int	 fd = tmpfd();

	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	return fd;
}

/* the whole of fd, NUL-terminated */
static char *
slurp(int fd, size_t *len)
{
	off_t	 end = lseek(fd, 0, SEEK_END);
	char	*buf;

	cr_assert_geq(end, 0);
	cr_assert_not_null(buf = malloc(end + 1));
	cr_assert_eq(pread(fd, buf, end, 0), (ssize_t)end);
	buf[end] = '\0';
	*len = end;
	return buf;
}

static char *
bounce(int ofd, const struct dsn_info *d, size_t *len)
{
	int	 fd = tmpfd();
	char	*out;

	cr_assert_eq(dsn_write(fd, ofd, d), 0, "dsn_write: %s",
	    strerror(errno));
	out = slurp(fd, len);
	close(fd);
	return out;
}

/*
 * Spool form: no NUL, every line ends in CRLF (and nothing else has
 * CR or LF), at most 998 octets, every line that starts with a dot is
 * stuffed.
 */
static void
check_wire(const char *out, size_t len)
{
	const char	*p = out, *end = out + len, *nl;
	size_t		 l;

	cr_assert_gt(len, 2);
	cr_assert(memchr(out, '\0', len) == NULL, "NUL in output");
	cr_assert(out[len - 2] == '\r' && out[len - 1] == '\n',
	    "no final CRLF");
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', end - p);
		cr_assert_not_null(nl);
		cr_assert(nl > p && nl[-1] == '\r', "bare LF at %zu",
		    (size_t)(nl - out));
		l = nl - 1 - p;
		cr_assert(memchr(p, '\r', l) == NULL, "bare CR at %zu",
		    (size_t)(p - out));
		cr_assert_leq(l, 998, "line of %zu octets at %zu", l,
		    (size_t)(p - out));
		if (l > 0 && p[0] == '.')
			cr_assert(l >= 2 && p[1] == '.',
			    "unstuffed line at %zu: %.*s", (size_t)(p - out),
			    (int)l, p);
	}
}

/* un-stuffed copy, CRLF kept */
static char *
unstuff(const char *out, size_t len, size_t *olen)
{
	const char	*p = out, *end = out + len;
	char		*u, *q;
	int		 bol = 1;

	cr_assert_not_null(u = malloc(len + 1));
	for (q = u; p < end; p++) {
		if (bol && *p == '.')
			p++;
		*q++ = *p;
		bol = *p == '\n';
	}
	*q = '\0';
	*olen = q - u;
	return u;
}

/* number of lines (un-stuffed text) that are exactly line */
static int
nlines(const char *u, const char *line)
{
	const char	*p, *e;
	size_t		 l = strlen(line);
	int		 n = 0;

	for (p = u; (e = strstr(p, "\r\n")) != NULL; p = e + 2)
		if ((size_t)(e - p) == l && strncmp(p, line, l) == 0)
			n++;
	return n;
}

/* does a line of the un-stuffed text start with prefix? */
static const char *
findline(const char *u, const char *prefix)
{
	const char	*p = u;
	size_t		 l = strlen(prefix);

	if (strncmp(p, prefix, l) == 0)
		return p;
	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncmp(p, prefix, l) == 0)
			return p;
	}
	return NULL;
}

static void
boundary(const char *u, char *b, size_t len)
{
	const char	*p, *q;

	cr_assert_not_null(p = strstr(u, "boundary=\""));
	p += strlen("boundary=\"");
	cr_assert_not_null(q = strchr(p, '"'));
	cr_assert_lt((size_t)(q - p), len);
	cr_assert_leq(q - p, 70);
	memcpy(b, p, q - p);
	b[q - p] = '\0';
}

/* part n (1-based) of the un-stuffed text: a new string */
static char *
part(const char *u, int n)
{
	char		 b[128], delim[140];
	const char	*p, *q;
	char		*r;
	int		 i;

	boundary(u, b, sizeof(b));
	snprintf(delim, sizeof(delim), "\r\n--%s", b);
	p = u;
	for (i = 0; i < n; i++) {
		cr_assert_not_null(p = strstr(p, delim), "no part %d", n);
		p += strlen(delim);
	}
	cr_assert(strncmp(p, "\r\n", 2) == 0);
	cr_assert_not_null(q = strstr(p, delim));
	cr_assert_not_null(r = strndup(p + 2, q - p - 2));
	return r;
}

/* the part's body: after its header */
static const char *
body(const char *part)
{
	const char	*p = strstr(part, "\r\n\r\n");

	cr_assert_not_null(p);
	return p + 4;
}

Test(dsn, layout)
{
	struct dsn_info	 d;
	char		*out, *u, *p1, *p2, *p3, b[128], line[160], tail[160];
	const char	*ds, *r1, *r2;
	size_t		 len, ulen;
	int		 fd;

	setenv("TZ", "UTC", 1);
	tzset();
	info(&d, rcpts2, 2);
	fd = origfd(orig, sizeof(orig) - 1);
	out = bounce(fd, &d, &len);
	check_wire(out, len);
	u = unstuff(out, len, &ulen);
	cr_assert_eq(nlines(u, "."), 0);

	/* the message header */
	cr_assert_eq(nlines(u, "From: Mail Delivery System "
	    "<MAILER-DAEMON@mx.example>"), 1);
	cr_assert_eq(nlines(u, "To: <alice@example.org>"), 1);
	cr_assert_eq(nlines(u, "Subject: Undelivered Mail Returned to Sender"),
	    1);
	cr_assert_eq(nlines(u, "Date: Tue, 14 Nov 2023 22:13:20 +0000"), 1);
	cr_assert_eq(nlines(u, "Auto-Submitted: auto-replied"), 1);
	cr_assert_eq(nlines(u, "MIME-Version: 1.0"), 1);
	cr_assert_not_null(findline(u, "Message-ID: <" ID "."));
	cr_assert_not_null(findline(u, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	cr_assert(findline(u, "From: ") == u, "From: is not first");

	/* three parts, closing delimiter */
	boundary(u, b, sizeof(b));
	snprintf(line, sizeof(line), "--%s", b);
	cr_assert_eq(nlines(u, line), 3);
	snprintf(line, sizeof(line), "--%s--", b);
	cr_assert_eq(nlines(u, line), 1);
	snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", b);
	cr_assert_gt(ulen, strlen(tail));
	cr_assert_str_eq(u + ulen - strlen(tail), tail,
	    "does not end with the closing delimiter");

	/* 1: text */
	p1 = part(u, 1);
	cr_assert_not_null(findline(p1, "Content-Type: text/plain; "
	    "charset=us-ascii"));
	cr_assert_not_null(strstr(body(p1), "could not be delivered"));
	cr_assert_not_null(strstr(body(p1), "permanent delivery failure"));
	cr_assert_not_null(findline(body(p1), "<bob@example.com>: 550 5.1.1"));
	cr_assert_not_null(findline(body(p1), "<carol@example.net>: Host or "
	    "domain name not found"));

	/* 2: delivery-status */
	p2 = part(u, 2);
	cr_assert_not_null(findline(p2, "Content-Type: "
	    "message/delivery-status"));
	ds = body(p2);
	cr_assert(strncmp(ds, "Reporting-MTA: dns; mx.example\r\n", 32) == 0,
	    "%s", ds);
	cr_assert_eq(nlines(ds, "Arrival-Date: Tue, 14 Nov 2023 21:13:20 "
	    "+0000"), 1);
	cr_assert_eq(nlines(ds, "X-Petrel-Queue-ID: " ID), 1);
	cr_assert_not_null(r1 = strstr(ds, "\r\n\r\nFinal-Recipient: "
	    "rfc822; bob@example.com\r\n"));
	cr_assert_not_null(r2 = strstr(ds, "\r\n\r\nFinal-Recipient: "
	    "rfc822; carol@example.net\r\n"));
	cr_assert_lt(r1, r2);
	cr_assert_eq(nlines(ds, "Action: failed"), 2);
	cr_assert_eq(nlines(ds, "Status: 5.1.1"), 1);
	cr_assert_eq(nlines(ds, "Status: 5.4.4"), 1);
	cr_assert_eq(nlines(ds, "Remote-MTA: dns; mx.example.com"), 1);
	cr_assert_lt(strstr(ds, "Remote-MTA: "), r2);
	cr_assert_not_null(strstr(ds, "Diagnostic-Code: smtp; 550 5.1.1 "
	    "<bob@example.com>:"));
	cr_assert_lt(strstr(ds, "Diagnostic-Code: smtp;"), r2);
	cr_assert_eq(nlines(ds, "Diagnostic-Code: X-Petrel; Host or domain "
	    "name not found"), 1);
	cr_assert_gt(strstr(ds, "Diagnostic-Code: X-Petrel;"), r2);
	/* every field of the report ends in CRLF before the delimiter */
	cr_assert(strlen(ds) >= 4 &&
	    strcmp(ds + strlen(ds) - 4, "\r\n\r\n") != 0 &&
	    strcmp(ds + strlen(ds) - 2, "\r\n") == 0);

	/* 3: the original's header, un-stuffed, without its body */
	p3 = part(u, 3);
	cr_assert_not_null(findline(p3, "Content-Type: text/rfc822-headers"));
	cr_assert_not_null(findline(body(p3), "Received: from client.example"));
	cr_assert_eq(nlines(body(p3), "\tTue, 14 Nov 2023 22:00:00 +0000"), 1);
	cr_assert_eq(nlines(body(p3), "Subject: hello"), 1);
	cr_assert_eq(nlines(body(p3), ".hidden: x"), 1);
	cr_assert_eq(nlines(body(p3), "Message-ID: <m1@example.org>"), 1);
	cr_assert_null(strstr(u, "BODYLINE"));
	cr_assert_null(strstr(u, "BODYDOT"));
	cr_assert_null(strstr(u, "X-Not-A-Header"));
	/* on the wire the hidden header is stuffed again */
	cr_assert_not_null(strstr(out, "\r\n..hidden: x\r\n"));
	cr_assert_null(strstr(out, "\r\n.hidden: x\r\n"));

	free(p1);
	free(p2);
	free(p3);
	free(u);
	free(out);
	close(fd);
}

Test(dsn, date_zone)
{
	struct dsn_info	 d;
	char		*out, *u;
	size_t		 len, ulen;
	int		 fd;

	info(&d, rcpts2, 1);
	fd = origfd(orig, sizeof(orig) - 1);

	setenv("TZ", "XYZ-5:30", 1);
	tzset();
	out = bounce(fd, &d, &len);
	u = unstuff(out, len, &ulen);
	cr_assert_eq(nlines(u, "Date: Wed, 15 Nov 2023 03:43:20 +0530"), 1,
	    "%s", u);
	cr_assert_eq(nlines(u, "Arrival-Date: Wed, 15 Nov 2023 02:43:20 "
	    "+0530"), 1);
	free(u);
	free(out);

	setenv("TZ", "ABC3", 1);
	tzset();
	out = bounce(fd, &d, &len);
	u = unstuff(out, len, &ulen);
	cr_assert_eq(nlines(u, "Date: Tue, 14 Nov 2023 19:13:20 -0300"), 1,
	    "%s", u);
	free(u);
	free(out);
	close(fd);
}

/* the part-3 body of a bounce of text */
static char *
headers_of(const char *text, size_t tlen)
{
	struct dsn_info	 d;
	char		*out, *u, *p3, *r;
	size_t		 len, ulen;
	int		 fd;

	info(&d, rcpts2, 2);
	fd = origfd(text, tlen);
	out = bounce(fd, &d, &len);
	check_wire(out, len);
	u = unstuff(out, len, &ulen);
	p3 = part(u, 3);
	cr_assert_not_null(r = strdup(body(p3)));
	free(p3);
	free(u);
	free(out);
	close(fd);
	return r;
}

Test(dsn, header_only)
{
	static const char	 t1[] = "Subject: one\r\nFrom: a@b.c\r\n";
	static const char	 t2[] = "Subject: two\r\n..From: a@b.c";
	char			*h;

	h = headers_of(t1, sizeof(t1) - 1);
	cr_assert_str_eq(h, "Subject: one\r\nFrom: a@b.c\r\n");
	free(h);

	/* a last line without CRLF is still part of the whole text */
	h = headers_of(t2, sizeof(t2) - 1);
	cr_assert_str_eq(h, "Subject: two\r\n.From: a@b.c\r\n");
	free(h);

	/* nothing at all, or a body only */
	h = headers_of("", 0);
	cr_assert_str_eq(h, "");
	free(h);
	h = headers_of("\r\nbody\r\n", 8);
	cr_assert_str_eq(h, "");
	free(h);
}

/* lines "X-Filler-NNNNN: aaa...\r\n" of 80 octets each */
static char *
filler(int nlines, const char *tail, size_t *len)
{
	char	*t, *p, line[100];
	size_t	 tl = strlen(tail);
	int	 i;

	cr_assert_lt(nlines, 100000);
	cr_assert_not_null(t = malloc((size_t)nlines * 80 + tl + 1));
	for (p = t, i = 0; i < nlines; i++, p += 80) {
		snprintf(line, sizeof(line), "X-Filler-%05d: %062d\r\n", i, 0);
		cr_assert_eq(strlen(line), 80);
		memcpy(p, line, 80);
	}
	memcpy(p, tail, tl + 1);
	*len = p + tl - t;
	return t;
}

Test(dsn, header_cut)
{
	char		*t, *h, want[32];
	size_t		 len;
	int		 last = 65536 / 80 - 1;	/* the last whole line */

	/* 1250 lines: 100000 octets of header, then a body */
	t = filler(1250, "\r\nBODY\r\n", &len);
	h = headers_of(t, len);
	cr_assert(strncmp(h, "X-Filler-00000: ", 16) == 0);
	snprintf(want, sizeof(want), "\r\nX-Filler-%05d: ", last);
	cr_assert_not_null(strstr(h, want), "line %d missing", last);
	snprintf(want, sizeof(want), "\r\nX-Filler-%05d: ", last + 1);
	cr_assert_null(strstr(h, want), "line %d present", last + 1);
	cr_assert_null(strstr(h, "BODY"));
	/* whole lines only: the cut line is not there in part */
	cr_assert_eq(strlen(h), (size_t)(last + 1) * 80);
	free(h);
	free(t);

	/* no empty line at all */
	t = filler(1250, "", &len);
	h = headers_of(t, len);
	cr_assert_eq(strlen(h), (size_t)(last + 1) * 80);
	free(h);
	free(t);

	/* exactly 64 KiB of header ending in CRLF is kept whole */
	t = filler(819, "X-Pad: 1234567\r\n"
	    "\r\nBODY\r\n", &len);
	cr_assert_eq(len - 8, 65536);
	h = headers_of(t, len);
	cr_assert_eq(strlen(h), 65536);
	cr_assert_not_null(strstr(h, "\r\nX-Pad: "));
	free(h);
	free(t);
}

Test(dsn, long_and_dirty)
{
	struct dsn_rcpt	 r[4];
	struct dsn_info	 d;
	char		*diag, *word, *text, *out, *u, *ds;
	size_t		 len, ulen;
	int		 fd, i;

	/* a long reply with spaces, and a word longer than a line */
	cr_assert_not_null(diag = malloc(5000));
	strlcpy(diag, "550 5.7.1", 5000);
	for (i = 0; i < 400; i++)
		strlcat(diag, " blocked", 5000);
	strlcat(diag, "\r\n.\r\nQUIT\r\n", 5000);
	cr_assert_not_null(word = malloc(3000));
	memset(word, 'w', 2999);
	word[2999] = '\0';
	memset(r, 0, sizeof(r));
	r[0].rcpt = "x@example.com";
	r[0].status = "5.7.1";
	r[0].diagnostic = diag;
	r[0].remote_mta = "mx\r\n.example.com";
	r[1].rcpt = ".dot@example.com";
	r[1].status = "bogus";
	r[1].diagnostic = word;
	/* three digits alone do not make an SMTP reply */
	r[2].rcpt = "y@example.com";
	r[2].status = "5.3.0";
	r[2].diagnostic = "5501 is not a reply";
	r[3].rcpt = "z@example.com";
	r[3].status = "4.4.7";
	r[3].diagnostic = "421-4.4.7 continued";
	info(&d, r, 4);
	d.reason = "line\r\nbreak";

	/* an original header line longer than 998 octets */
	cr_assert_not_null(text = malloc(4000));
	snprintf(text, 4000, "Subject: x\r\nX-Long: %s\r\n\r\nbody\r\n", word);
	fd = origfd(text, strlen(text));
	out = bounce(fd, &d, &len);
	check_wire(out, len);
	u = unstuff(out, len, &ulen);
	cr_assert_eq(nlines(u, "."), 0);
	cr_assert_eq(nlines(u, "QUIT"), 0);
	cr_assert_null(findline(u, "QUIT"));
	cr_assert_null(findline(u, "break"));
	cr_assert_not_null(findline(u, "Reason: line  break"));
	ds = part(u, 2);
	cr_assert_not_null(findline(ds, "Remote-MTA: dns; mx  .example.com"));
	cr_assert_not_null(findline(ds, "Diagnostic-Code: smtp; 550 5.7.1 "
	    "blocked blocked"));
	cr_assert_not_null(findline(ds, "Diagnostic-Code: X-Petrel;\r\n www"));
	cr_assert_not_null(findline(ds, "Final-Recipient: rfc822; "
	    ".dot@example.com"));
	cr_assert_eq(nlines(ds, "Diagnostic-Code: X-Petrel; 5501 is not a "
	    "reply"), 1);
	cr_assert_eq(nlines(ds, "Diagnostic-Code: smtp; 421-4.4.7 continued"),
	    1);
	cr_assert_eq(nlines(ds, "Status: 4.4.7"), 1);
	/* a bad status becomes the generic one */
	cr_assert_eq(nlines(ds, "Status: 5.0.0"), 1);
	cr_assert_null(strstr(ds, "bogus"));
	/* folded, not cut: the header still has all of the long reply */
	cr_assert_not_null(findline(ds, " blocked"));
	free(ds);
	free(u);
	free(out);
	free(text);
	free(word);
	free(diag);
	close(fd);
}

Test(dsn, eightbit)
{
	struct dsn_rcpt	 r = { "j\xc3\xb6rg@example.de", "5.1.1",
			    "550 5.1.1 unbekannter Empf\xc3\xa4nger", NULL };
	struct dsn_info	 d;
	char		*out, *u, *p1;
	size_t		 len, ulen;
	int		 fd;

	info(&d, &r, 1);
	fd = origfd(orig, sizeof(orig) - 1);
	out = bounce(fd, &d, &len);
	check_wire(out, len);
	u = unstuff(out, len, &ulen);
	cr_assert_not_null(strstr(u, "Final-Recipient: rfc822; "
	    "j\xc3\xb6rg@example.de\r\n"));
	cr_assert_not_null(strstr(u, "Empf\xc3\xa4nger"));
	p1 = part(u, 1);
	cr_assert_not_null(findline(p1, "Content-Transfer-Encoding: 8bit"));
	free(p1);
	free(u);
	free(out);
	close(fd);
}

Test(dsn, einval)
{
	struct dsn_info	 d;
	int		 fd, out;

	fd = origfd(orig, sizeof(orig) - 1);
	out = tmpfd();

	info(&d, rcpts2, 0);
	errno = 0;
	cr_assert_eq(dsn_write(out, fd, &d), -1);
	cr_assert_eq(errno, EINVAL);

	info(&d, rcpts2, 2);
	d.from = "";
	errno = 0;
	cr_assert_eq(dsn_write(out, fd, &d), -1);
	cr_assert_eq(errno, EINVAL);

	d.from = NULL;
	errno = 0;
	cr_assert_eq(dsn_write(out, fd, &d), -1);
	cr_assert_eq(errno, EINVAL);

	info(&d, NULL, 2);
	errno = 0;
	cr_assert_eq(dsn_write(out, fd, &d), -1);
	cr_assert_eq(errno, EINVAL);

	/* nothing written */
	cr_assert_eq(lseek(out, 0, SEEK_END), 0);
	close(out);
	close(fd);
}

Test(dsn, io_error, .timeout = 10)
{
	struct dsn_info	 d;
	int		 fd, p[2];

	info(&d, rcpts2, 2);
	fd = origfd(orig, sizeof(orig) - 1);
	errno = 0;
	cr_assert_eq(dsn_write(-1, fd, &d), -1);
	cr_assert_eq(errno, EBADF);

	/* pread on a pipe */
	cr_assert_eq(pipe(p), 0);
	errno = 0;
	cr_assert_eq(dsn_write(fd, p[0], &d), -1);
	cr_assert_eq(errno, ESPIPE);
	close(p[0]);
	close(p[1]);
	close(fd);
}

Test(dsn, offset_kept)
{
	struct dsn_info	 d;
	char		*out;
	size_t		 len;
	int		 fd;

	info(&d, rcpts2, 2);
	fd = origfd(orig, sizeof(orig) - 1);
	cr_assert_eq(lseek(fd, 7, SEEK_SET), 7);
	out = bounce(fd, &d, &len);
	cr_assert_eq(lseek(fd, 0, SEEK_CUR), 7);
	/* and the header was read from offset 0 all the same */
	cr_assert_not_null(strstr(out, "\r\nReceived: from client.example"));
	free(out);
	close(fd);
}

static const char pycheck[] =
    "import sys, email, email.policy\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    m = email.message_from_binary_file(f, policy=email.policy.default)\n"
    "assert m.get_content_type() == 'multipart/report', m.get_content_type()\n"
    "assert m.get_param('report-type') == 'delivery-status'\n"
    "assert m['Auto-Submitted'] == 'auto-replied'\n"
    "assert m['Date'].datetime is not None\n"
    "p = list(m.iter_parts())\n"
    "assert len(p) == 3, len(p)\n"
    "assert p[0].get_content_type() == 'text/plain'\n"
    "assert p[1].get_content_type() == 'message/delivery-status', "
    "p[1].get_content_type()\n"
    "assert p[2].get_content_type() == 'text/rfc822-headers'\n"
    "f = p[1].get_payload()\n"
    "assert len(f) == 3, len(f)\n"
    "assert f[0]['Reporting-MTA'] == 'dns; mx.example', f[0]['Reporting-MTA']\n"
    "assert f[1]['Final-Recipient'] == 'rfc822; bob@example.com'\n"
    "assert f[1]['Remote-MTA'] == 'dns; mx.example.com'\n"
    "assert f[2]['Final-Recipient'] == 'rfc822; carol@example.net'\n"
    "assert f[2]['Remote-MTA'] is None\n"
    "assert 'Subject: hello' in p[2].get_content()\n"
    "for x in m.walk():\n"
    "    assert not x.defects, (x.get_content_type(), x.defects)\n";

Test(dsn, python_email)
{
	struct dsn_info	 d;
	char		 path[] = "/tmp/petrel-test-dsn.XXXXXX";
	char		*out, *u;
	size_t		 len, ulen;
	pid_t		 pid;
	int		 fd, tfd, st;

	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("no /usr/bin/python3");
	info(&d, rcpts2, 2);
	fd = origfd(orig, sizeof(orig) - 1);
	out = bounce(fd, &d, &len);
	u = unstuff(out, len, &ulen);
	cr_assert_neq(tfd = mkstemp(path), -1);
	cr_assert_eq(write(tfd, u, ulen), (ssize_t)ulen);
	close(tfd);

	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		execl("/usr/bin/python3", "python3", "-c", pycheck, path,
		    (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	unlink(path);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "python's email module rejects the bounce (status %d)", st);
	free(u);
	free(out);
	close(fd);
}
