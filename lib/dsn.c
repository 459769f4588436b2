/*
 * dsn.c - write a delivery status notification (RFC 3464) as a
 * multipart/report (RFC 6522): a note for people, the
 * message/delivery-status part, and the header of the original as
 * text/rfc822-headers.
 *
 * Both the original and the result are in petrel's spool form, SMTP
 * wire form: CRLF line ends, dot-stuffed, no final "." line.  The
 * original's header is un-stuffed on the way in; every line written
 * is stuffed on the way out.  Every value that comes from outside
 * (addresses, replies, host names, the original's header) has CR, LF
 * and NUL replaced by a space and is folded so that no line on the
 * wire is longer than 998 octets.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsn.h"
#include "envelope.h"

#define DSN_HDR_MAX	(64 * 1024)	/* of the original's header */
#define DSN_SOFT	78		/* fold header fields here if we can */
#define DSN_TEXT	76		/* and the note for people here */
#define DSN_HARD	997		/* never longer, plus a stuffing dot */
#define DSN_ID_MAX	32		/* of the queue id in ids and boundary */

struct obuf {
	int	 fd;
	int	 err;		/* errno of the first failure, or 0 */
	size_t	 len;
	char	 buf[16 * 1024];
};

static void	ob_printf(struct obuf *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

static void
ob_flush(struct obuf *ob)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (ob->err == 0 && off < ob->len) {
		n = write(ob->fd, ob->buf + off, ob->len - off);
		if (n == -1) {
			if (errno != EINTR)
				ob->err = errno;
		} else if (n == 0)
			ob->err = EIO;
		else
			off += n;
	}
	ob->len = 0;
}

static void
ob_put(struct obuf *ob, const char *s, size_t n)
{
	size_t	 k;

	while (ob->err == 0 && n > 0) {
		if (ob->len == sizeof(ob->buf))
			ob_flush(ob);
		k = sizeof(ob->buf) - ob->len;
		if (k > n)
			k = n;
		memcpy(ob->buf + ob->len, s, k);
		ob->len += k;
		s += k;
		n -= k;
	}
}

/*
 * One line on the wire: s[0..n) after a space if cont, dot-stuffed,
 * with CRLF.  s holds no CR, LF or NUL.
 */
static void
ob_line(struct obuf *ob, int cont, const char *s, size_t n)
{
	if (cont)
		ob_put(ob, " ", 1);
	else if (n > 0 && s[0] == '.')
		ob_put(ob, ".", 1);
	ob_put(ob, s, n);
	ob_put(ob, "\r\n", 2);
}

static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Write s[0..n) as one logical line, folded: break before a blank
 * that is followed by a non-blank, so that each line is at most soft
 * octets where the text allows and at most DSN_HARD always.  A run
 * longer than that without a blank gets a space inserted (the only
 * change to the text, and only for input no one should send).
 */
static void
ob_fold(struct obuf *ob, const char *s, size_t n, size_t soft)
{
	size_t	 i, cut, pre = 0;

	if (soft > DSN_HARD)
		soft = DSN_HARD;
	while (pre + n > soft) {
		cut = 0;
		for (i = soft - pre; i >= 1; i--)
			if (i + 1 < n && blank(s[i]) && !blank(s[i + 1])) {
				cut = i;
				break;
			}
		if (cut == 0)
			for (i = soft - pre + 1; i + 1 < n &&
			    pre + i <= DSN_HARD; i++)
				if (blank(s[i]) && !blank(s[i + 1])) {
					cut = i;
					break;
				}
		if (cut == 0 && pre + n <= DSN_HARD)
			break;
		ob_line(ob, pre, s, cut ? cut : DSN_HARD - pre);
		if (cut == 0) {
			s += DSN_HARD - pre;
			n -= DSN_HARD - pre;
			pre = 1;
		} else {
			s += cut;
			n -= cut;
			pre = 0;
		}
	}
	ob_line(ob, pre, s, n);
}

static void
sanitize(char *s, size_t n)
{
	for (; n > 0; s++, n--)
		if (*s == '\r' || *s == '\n' || *s == '\0')
			*s = ' ';
}

/* A formatted logical line, cleaned up and folded at soft. */
static void
ob_printf(struct obuf *ob, size_t soft, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	if (ob->err)
		return;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n == -1) {
		ob->err = ENOMEM;
		return;
	}
	sanitize(s, n);
	ob_fold(ob, s, n, soft);
	free(s);
}

static int
has8bit(const char *s, size_t n)
{
	for (; n > 0; s++, n--)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

static int
str8bit(const char *s)
{
	return s != NULL && has8bit(s, strlen(s));
}

/* RFC 5322 date-time in local time, C locale names, numeric zone. */
static int
rfc5322_date(int64_t t, char *buf, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	long		 off;
	char		 sign = '+';

	if ((int64_t)tt != t || localtime_r(&tt, &tm) == NULL ||
	    tm.tm_year < 0 || tm.tm_year > 9999 - 1900)
		return -1;
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	snprintf(buf, len, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
	    off / 60 % 100, off % 60);
	return 0;
}

/* The characters of s for which ok() holds, at most max of them. */
static void
filter(char *out, size_t max, const char *s, int (*ok)(int))
{
	size_t	 n = 0;

	for (; *s && n < max; s++)
		if (ok((unsigned char)*s))
			out[n++] = *s;
	out[n] = '\0';
}

static int
hostchar(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '[' ||
	    c == ']' || c == ':';
}

static int
idchar(int c)
{
	return isalnum(c);
}

/* status-code = DIGIT "." 1*3DIGIT "." 1*3DIGIT, class 2, 4 or 5 */
static int
status_ok(const char *s)
{
	int	 i, n;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	s += 2;
	for (i = 0; i < 2; i++) {
		for (n = 0; isdigit((unsigned char)*s); s++)
			n++;
		if (n < 1 || n > 3)
			return 0;
		if (i == 0 && *s++ != '.')
			return 0;
	}
	return *s == '\0';
}

/* A remote SMTP reply: three digits, then a space, a dash or nothing. */
static int
smtp_reply(const char *s)
{
	return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
	    isdigit((unsigned char)s[2]) &&
	    (s[3] == ' ' || s[3] == '-' || s[3] == '\0');
}

static ssize_t
read_head(int fd, char *buf, size_t len)
{
	size_t	 off = 0;
	ssize_t	 n;

	while (off < len) {
		n = pread(fd, buf + off, len - off, (off_t)off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		off += n;
	}
	return off;
}

/*
 * Length of the header in buf[0..n): up to the first empty line (or
 * a lone ".", which un-stuffs to one).  If the text was cut (trunc),
 * a last line without its LF is left out.
 */
static size_t
head_len(const char *buf, size_t n, int trunc)
{
	const char	*p = buf, *end = buf + n, *nl;
	size_t		 l;

	while (p < end) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			return trunc ? (size_t)(p - buf) : n;
		l = nl - p;
		if (l > 0 && p[l - 1] == '\r')
			l--;
		if (l == 0 || (l == 1 && p[0] == '.'))
			return p - buf;
		p = nl + 1;
	}
	return n;
}

/* The header lines, un-stuffed and cleaned in place, then written. */
static void
ob_head(struct obuf *ob, char *buf, size_t n)
{
	char	*p = buf, *end = buf + n, *nl, *s;
	size_t	 l;

	while (p < end) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		s = p;
		l = nl - p;
		if (l > 0 && s[l - 1] == '\r')
			l--;
		if (l > 0 && s[0] == '.') {
			s++;
			l--;
		}
		sanitize(s, l);
		ob_fold(ob, s, l, DSN_HARD);
		p = nl + 1;
	}
}

static int
args_ok(const struct dsn_info *d)
{
	int	 i;

	if (d == NULL || d->from == NULL || d->from[0] == '\0' ||
	    d->reporting_mta == NULL || d->reporting_mta[0] == '\0' ||
	    d->msgid == NULL || d->msgid[0] == '\0' ||
	    d->rcpts == NULL || d->nrcpt <= 0)
		return 0;
	for (i = 0; i < d->nrcpt; i++)
		if (d->rcpts[i].rcpt == NULL || d->rcpts[i].rcpt[0] == '\0')
			return 0;
	return 1;
}

static const char *
cte(int eight)
{
	return eight ? "8bit" : "7bit";
}

int
dsn_write(int outfd, int origfd, const struct dsn_info *d)
{
	struct obuf		*ob = NULL;
	const struct dsn_rcpt	*r;
	char			*head = NULL;
	char			 now[64], arrival[64], host[256];
	char			 id[DSN_ID_MAX + 1], boundary[80];
	ssize_t			 got;
	off_t			 textlen;
	size_t			 hlen;
	int			 i, saved, trunc, text8, status8, head8;

	if (!args_ok(d)) {
		errno = EINVAL;
		return -1;
	}
	if (rfc5322_date(d->now, now, sizeof(now)) == -1 ||
	    rfc5322_date(d->arrival, arrival, sizeof(arrival)) == -1) {
		errno = EINVAL;
		return -1;
	}

	/* the original's header, at most DSN_HDR_MAX, whole lines */
	if ((head = malloc(DSN_HDR_MAX + 1)) == NULL)
		return -1;
	/* only the text: the envelope follows it in the file (spool.c) */
	if ((textlen = msgfile_text_length(origfd)) == -1 ||
	    (got = read_head(origfd, head, (size_t)textlen < DSN_HDR_MAX + 1 ?
	    (size_t)textlen : DSN_HDR_MAX + 1)) == -1)
		goto fail;
	trunc = got > DSN_HDR_MAX;
	hlen = head_len(head, trunc ? DSN_HDR_MAX : (size_t)got, trunc);

	filter(id, DSN_ID_MAX, d->msgid, idchar);
	filter(host, sizeof(host) - 1, d->reporting_mta, hostchar);
	if (host[0] == '\0')
		strlcpy(host, "invalid", sizeof(host));
	/*
	 * Every line we generate starts with fixed text or a blank, so
	 * only the original's header could hold a delimiter line.
	 */
	do {
		snprintf(boundary, sizeof(boundary), "=_petrel_%.16s_%"
		    PRId64 "_%08x", id, d->now, arc4random());
	} while (memmem(head, hlen, boundary, strlen(boundary)) != NULL);

	text8 = str8bit(d->reporting_mta) || str8bit(d->reason);
	status8 = str8bit(d->reporting_mta) || str8bit(d->msgid);
	for (i = 0; i < d->nrcpt; i++) {
		r = &d->rcpts[i];
		if (str8bit(r->rcpt) || str8bit(r->diagnostic))
			text8 = status8 = 1;
		if (str8bit(r->remote_mta))
			status8 = 1;
	}
	head8 = has8bit(head, hlen);

	if ((ob = malloc(sizeof(*ob))) == NULL)
		goto fail;
	ob->fd = outfd;
	ob->err = 0;
	ob->len = 0;

	ob_printf(ob, DSN_SOFT, "From: Mail Delivery System "
	    "<MAILER-DAEMON@%s>", host);
	ob_printf(ob, DSN_SOFT, "To: <%s>", d->from);
	ob_printf(ob, DSN_SOFT, "Subject: Undelivered Mail Returned to Sender");
	ob_printf(ob, DSN_SOFT, "Date: %s", now);
	ob_printf(ob, DSN_SOFT, "Message-ID: <%s.%" PRId64 ".%08x.dsn@%s>",
	    id[0] ? id : "dsn", d->now, arc4random(), host);
	ob_printf(ob, DSN_SOFT, "Auto-Submitted: auto-replied");
	ob_printf(ob, DSN_SOFT, "MIME-Version: 1.0");
	ob_printf(ob, DSN_SOFT, "Content-Type: multipart/report; "
	    "report-type=delivery-status; boundary=\"%s\"", boundary);
	ob_printf(ob, DSN_SOFT, "Content-Transfer-Encoding: %s",
	    cte(text8 || status8 || head8));
	ob_line(ob, 0, "", 0);
	ob_printf(ob, DSN_SOFT, "This is a MIME-encapsulated message.");

	/* 1: for people */
	ob_line(ob, 0, "", 0);
	ob_printf(ob, DSN_SOFT, "--%s", boundary);
	ob_printf(ob, DSN_SOFT, "Content-Description: Notification");
	ob_printf(ob, DSN_SOFT, "Content-Type: text/plain; charset=%s",
	    text8 ? "utf-8" : "us-ascii");
	ob_printf(ob, DSN_SOFT, "Content-Transfer-Encoding: %s", cte(text8));
	ob_line(ob, 0, "", 0);
	ob_printf(ob, DSN_TEXT, "This is the mail delivery system at %s.",
	    d->reporting_mta);
	ob_line(ob, 0, "", 0);
	ob_printf(ob, DSN_TEXT, "Your message could not be delivered to the "
	    "recipients listed below.");
	if (d->reason != NULL && d->reason[0] != '\0')
		ob_printf(ob, DSN_TEXT, "Reason: %s", d->reason);
	for (i = 0; i < d->nrcpt; i++) {
		r = &d->rcpts[i];
		ob_line(ob, 0, "", 0);
		if (r->diagnostic != NULL && r->diagnostic[0] != '\0')
			ob_printf(ob, DSN_TEXT, "<%s>: %s", r->rcpt,
			    r->diagnostic);
		else
			ob_printf(ob, DSN_TEXT, "<%s>: delivery failed",
			    r->rcpt);
	}
	ob_line(ob, 0, "", 0);
	ob_printf(ob, DSN_TEXT, "The delivery report and the header of your "
	    "message are attached.");

	/* 2: for machines */
	ob_line(ob, 0, "", 0);
	ob_printf(ob, DSN_SOFT, "--%s", boundary);
	ob_printf(ob, DSN_SOFT, "Content-Description: Delivery report");
	ob_printf(ob, DSN_SOFT, "Content-Type: message/delivery-status");
	ob_printf(ob, DSN_SOFT, "Content-Transfer-Encoding: %s", cte(status8));
	ob_line(ob, 0, "", 0);
	ob_printf(ob, DSN_SOFT, "Reporting-MTA: dns; %s", d->reporting_mta);
	ob_printf(ob, DSN_SOFT, "Arrival-Date: %s", arrival);
	ob_printf(ob, DSN_SOFT, "X-Petrel-Queue-ID: %s", d->msgid);
	for (i = 0; i < d->nrcpt; i++) {
		r = &d->rcpts[i];
		ob_line(ob, 0, "", 0);
		ob_printf(ob, DSN_SOFT, "Final-Recipient: rfc822; %s", r->rcpt);
		ob_printf(ob, DSN_SOFT, "Action: failed");
		ob_printf(ob, DSN_SOFT, "Status: %s",
		    status_ok(r->status) ? r->status : "5.0.0");
		if (r->remote_mta != NULL && r->remote_mta[0] != '\0')
			ob_printf(ob, DSN_SOFT, "Remote-MTA: dns; %s",
			    r->remote_mta);
		if (r->diagnostic != NULL && r->diagnostic[0] != '\0')
			ob_printf(ob, DSN_SOFT, "Diagnostic-Code: %s; %s",
			    smtp_reply(r->diagnostic) ? "smtp" : "X-Petrel",
			    r->diagnostic);
	}

	/* 3: the original's header */
	ob_line(ob, 0, "", 0);
	ob_printf(ob, DSN_SOFT, "--%s", boundary);
	ob_printf(ob, DSN_SOFT, "Content-Description: Undelivered Message "
	    "Headers");
	ob_printf(ob, DSN_SOFT, "Content-Type: text/rfc822-headers");
	ob_printf(ob, DSN_SOFT, "Content-Transfer-Encoding: %s", cte(head8));
	ob_line(ob, 0, "", 0);
	ob_head(ob, head, hlen);
	ob_line(ob, 0, "", 0);
	ob_printf(ob, DSN_SOFT, "--%s--", boundary);
	ob_flush(ob);

	if (ob->err) {
		errno = ob->err;
		goto fail;
	}
	free(ob);
	free(head);
	return 0;

 fail:
	saved = errno;
	free(ob);
	free(head);
	errno = saved;
	return -1;
}
