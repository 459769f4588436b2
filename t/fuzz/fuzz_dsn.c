/*
 * fuzz_dsn.c - the bounce writer (lib/dsn.c dsn_write) fed hostile
 * values: an original message whose header is anything at all, and
 * addresses, replies and host names with CR, LF, 8-bit bytes and
 * endless lines, as a remote server or a sender can choose them.
 *
 * Input: one byte, the number of recipients (1-4) and the times to
 * use; then NUL-terminated strings: reporting MTA, queue id, envelope
 * sender, reason, and per recipient: address, status, diagnostic,
 * remote MTA (a missing string is ""); what follows is the original
 * message, in spool form.
 *
 * Checked: the DSN is in spool form and safe to send: every line ends
 * in CRLF, has no other CR or LF and no NUL, is at most 998 octets,
 * and none is a lone "." (the end of the text); the MIME boundary
 * appears only on its delimiter lines (never inside the original's
 * header).
 */
#include "config.h"

#include <sys/mman.h>

#include <string.h>
#include <unistd.h>

#include "dsn.h"
#include "fuzz.h"

#define NRCPT_MAX	4

static const int64_t times[] = {
	0, 1700000000, -1, 253402300799LL, 253402300800LL, INT64_MAX,
	INT64_MIN, 86400 * 365,
};

/* The next NUL-terminated string at *p, or "" past the end. */
static const char *
next(const char **p, const char *end)
{
	const char	*s = *p, *z;

	if (s >= end)
		return "";
	if ((z = memchr(s, '\0', end - s)) == NULL) {
		*p = end;
		return "";	/* unterminated: the rest is the original */
	}
	*p = z + 1;
	return s;
}

static void
check_output(const char *o, size_t n)
{
	const char	*p = o, *end = o + n, *lf, *b = NULL;
	size_t		 l, blen = 0, delims = 0;

	FUZZ_CHECK(n >= 2 && o[n - 2] == '\r' && o[n - 1] == '\n');
	FUZZ_CHECK(memchr(o, '\0', n) == NULL);
	/*
	 * The boundary, from the top-level Content-Type field (an earlier
	 * value, the To: address, may hold 'boundary="' too; but no value
	 * can start a line with a field name: folded lines start with a
	 * blank)
	 */
	if ((b = memmem(o, n, "\r\nContent-Type: multipart/report;",
	    33)) != NULL &&
	    (b = memmem(b, n - (b - o), "boundary=\"", 10)) != NULL) {
		b += 10;
		blen = strcspn(b, "\"");
	}
	FUZZ_CHECK(b != NULL && blen > 0);
	for (; p < end; p = lf + 1) {
		lf = memchr(p, '\n', end - p);
		FUZZ_CHECK(lf != NULL && lf > p && lf[-1] == '\r');
		l = lf - 1 - p;
		FUZZ_CHECK(memchr(p, '\r', l) == NULL);
		FUZZ_CHECK(l <= 998);
		FUZZ_CHECK(!(l == 1 && p[0] == '.'));
		if (l >= 2 + blen && p[0] == '-' && p[1] == '-' &&
		    memcmp(p + 2, b, blen) == 0)
			delims++;
		else if (l > 0 && memmem(p, l, b, blen) != NULL)
			/* only the Content-Type line names it */
			FUZZ_CHECK(memmem(p, l, "boundary=\"", 10) != NULL ||
			    p[0] == ' ');
	}
	FUZZ_CHECK(delims == 4);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 in = -1, out = -1;
	const char	*p = (const char *)data + 1, *end = (const char *)data + size;
	struct dsn_rcpt	 rcpts[NRCPT_MAX];
	struct dsn_info	 d;
	char		*o;
	off_t		 n;
	int		 i, r;

	if (size < 1)
		return 0;
	if (in == -1 && ((in = memfd_create("orig", MFD_CLOEXEC)) == -1 ||
	    (out = memfd_create("dsn", MFD_CLOEXEC)) == -1))
		abort();
	memset(&d, 0, sizeof(d));
	d.nrcpt = 1 + (data[0] & 3);
	d.now = times[(data[0] >> 2) & 7];
	d.arrival = times[(data[0] >> 5) & 7];
	d.reporting_mta = next(&p, end);
	d.msgid = next(&p, end);
	d.from = next(&p, end);
	d.reason = next(&p, end);
	for (i = 0; i < d.nrcpt; i++) {
		rcpts[i].rcpt = next(&p, end);
		rcpts[i].status = next(&p, end);
		rcpts[i].diagnostic = next(&p, end);
		rcpts[i].remote_mta = next(&p, end);
	}
	d.rcpts = rcpts;

	if (ftruncate(in, 0) == -1 || ftruncate(out, 0) == -1 ||
	    lseek(out, 0, SEEK_SET) == -1 ||
	    (p < end && pwrite(in, p, end - p, 0) != end - p))
		abort();
	r = dsn_write(out, in, &d);
	if (r == -1)
		return 0;	/* refused: no sender, no recipient, bad time */
	if ((n = lseek(out, 0, SEEK_CUR)) <= 0)
		abort();
	if ((o = malloc(n)) == NULL || pread(out, o, n, 0) != n)
		abort();
	check_output(o, n);
	free(o);
	return 0;
}
