/*
 * toml_scalar.c - the leaves of a TOML document: the four kinds of
 * string (with their escapes), integers in four bases, floats,
 * booleans and the four date-time types, each checked to the letter of
 * TOML 1.0.0; and the check that the whole input is UTF-8.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "toml_int.h"
#include "util.h"

struct toml_value *
toml_value_new(enum toml_type type, int depth)
{
	struct toml_value	*v = xcalloc(1, sizeof(*v));

	v->type = type;
	v->depth = depth;
	return v;
}

int
toml_buf_add(struct toml_buf *b, const char *s, size_t n)
{
	char	*ns;
	size_t	 cap;

	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 32;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((ns = realloc(b->s, cap)) == NULL)
			fatal("realloc");
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

/*
 * The length of the UTF-8 sequence at s (at most n bytes), or 0 when
 * it is not one: overlong forms, surrogates and code points above
 * U+10FFFF are refused, as RFC 3629 says.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	uint32_t	 cp;
	size_t		 len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* Checked once up front, so nothing later has to think about it. */
int
toml_check_utf8(struct toml_parser *P)
{
	const unsigned char	*s = (const unsigned char *)P->buf;
	size_t			 n = P->end - P->buf, i = 0, l;

	while (i < n) {
		if ((l = utf8_len(s + i, n - i)) == 0)
			return toml_error(P, P->buf + i, "invalid UTF-8");
		i += l;
	}
	return 0;
}

/* Append code point cp as UTF-8. */
static void
put_utf8(struct toml_buf *b, uint32_t cp)
{
	char	 u[4];

	if (cp < 0x80) {
		u[0] = cp;
		toml_buf_add(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = 0xc0 | cp >> 6;
		u[1] = 0x80 | (cp & 0x3f);
		toml_buf_add(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = 0xe0 | cp >> 12;
		u[1] = 0x80 | (cp >> 6 & 0x3f);
		u[2] = 0x80 | (cp & 0x3f);
		toml_buf_add(b, u, 3);
	} else {
		u[0] = 0xf0 | cp >> 18;
		u[1] = 0x80 | (cp >> 12 & 0x3f);
		u[2] = 0x80 | (cp >> 6 & 0x3f);
		u[3] = 0x80 | (cp & 0x3f);
		toml_buf_add(b, u, 4);
	}
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* \uXXXX or \UXXXXXXXX at P->p (past the backslash and letter). */
static int
read_unicode_escape(struct toml_parser *P, struct toml_buf *b, int ndigits,
    const char *esc)
{
	uint32_t	 cp = 0;
	int		 i, h;

	for (i = 0; i < ndigits; i++) {
		if (P->p >= P->end || (h = hexval((unsigned char)*P->p)) == -1)
			return toml_error(P, esc, "\\%c needs %d hex digits",
			    ndigits == 4 ? 'u' : 'U', ndigits);
		cp = cp << 4 | h;
		P->p++;
	}
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return toml_error(P, esc, "\\%c%0*X is not a Unicode scalar "
		    "value", ndigits == 4 ? 'u' : 'U', ndigits, cp);
	put_utf8(b, cp);
	return 0;
}

/*
 * A backslash at the end of a line in a multi-line basic string eats
 * the newline and all white space up to the next text.  Called with
 * P->p past the backslash; 1 when it was one, 0 when it was not.
 */
static int
skip_line_ending_backslash(struct toml_parser *P)
{
	const char	*q = P->p;

	while (q < P->end && (*q == ' ' || *q == '\t'))
		q++;
	if (q < P->end && *q == '\r' && q + 1 < P->end && q[1] == '\n')
		q++;
	if (q >= P->end || *q != '\n')
		return 0;
	while (q < P->end && (*q == ' ' || *q == '\t' || *q == '\n' ||
	    (*q == '\r' && q + 1 < P->end && q[1] == '\n')))
		q++;
	P->p = q;
	return 1;
}

static int
read_escape(struct toml_parser *P, struct toml_buf *b, int multiline)
{
	const char	*esc = P->p++;	/* the backslash */
	char		 c;

	if (multiline && skip_line_ending_backslash(P))
		return 0;
	if (P->p >= P->end)
		return toml_error(P, esc, "unterminated string");
	switch ((c = *P->p++)) {
	case 'b': c = '\b'; break;
	case 't': c = '\t'; break;
	case 'n': c = '\n'; break;
	case 'f': c = '\f'; break;
	case 'r': c = '\r'; break;
	case '"': case '\\': break;
	case 'u':
		return read_unicode_escape(P, b, 4, esc);
	case 'U':
		return read_unicode_escape(P, b, 8, esc);
	default:
		return toml_error(P, esc, "invalid escape sequence '\\%c'",
		    isprint((unsigned char)c) ? c : '?');
	}
	toml_buf_add(b, &c, 1);
	return 0;
}

/*
 * A newline inside a multi-line string (LF or CRLF, stored as LF), a
 * tab, or a control character that TOML forbids in strings.
 * 1: handled, 0: not a control character, -1: error.
 */
static int
string_control(struct toml_parser *P, struct toml_buf *b, int multiline)
{
	unsigned char	 c = *P->p;

	if (c == '\n' || (c == '\r' && P->p + 1 < P->end && P->p[1] == '\n')) {
		if (!multiline)
			return toml_error(P, P->p, "newline in a one-line "
			    "string");
		P->p += c == '\r' ? 2 : 1;
		toml_buf_add(b, "\n", 1);
		return 1;
	}
	if ((c < 0x20 && c != '\t') || c == 0x7f)
		return toml_error(P, P->p, "control character U+%04X in a "
		    "string", c);
	return 0;
}

/*
 * The closing delimiter of a multi-line string may follow one or two
 * quotes of the string's own ("""a"""" is 'a"').  1: closed, 0: the
 * quotes were text, -1: six or more.
 */
static int
multiline_close(struct toml_parser *P, struct toml_buf *b, char q)
{
	size_t	 n = 0;

	while (P->p + n < P->end && P->p[n] == q)
		n++;
	if (n < 3) {
		toml_buf_add(b, P->p, n);
		P->p += n;
		return 0;
	}
	if (n > 5)
		return toml_error(P, P->p + 5, "too many quotes closing a "
		    "multi-line string");
	toml_buf_add(b, P->p, n - 3);
	P->p += n;
	return 1;
}

/*
 * A string of any of the four kinds at P->p, decoded into b.  Keys pass
 * multiline_ok 0: a key is a one-line string.
 */
int
toml_read_string(struct toml_parser *P, struct toml_buf *b, int multiline_ok)
{
	const char	*start = P->p;
	char		 q = *P->p;
	int		 multiline = 0, r;

	toml_buf_add(b, "", 0);		/* "" is a string too */
	if (multiline_ok && P->end - P->p >= 3 &&
	    P->p[1] == q && P->p[2] == q) {
		multiline = 1;
		P->p += 3;
		/* a newline right after the opening quotes is not text */
		if (P->p < P->end && *P->p == '\n')
			P->p++;
		else if (P->end - P->p >= 2 && P->p[0] == '\r' &&
		    P->p[1] == '\n')
			P->p += 2;
	} else
		P->p++;
	for (;;) {
		if (P->p >= P->end)
			return toml_error(P, start, "unterminated string");
		if (*P->p == q) {
			if (!multiline) {
				P->p++;
				return 0;
			}
			if ((r = multiline_close(P, b, q)) != 0)
				return r == 1 ? 0 : -1;
			continue;
		}
		if (*P->p == '\\' && q == '"') {
			if (read_escape(P, b, multiline) == -1)
				return -1;
			continue;
		}
		if ((r = string_control(P, b, multiline)) == -1)
			return -1;
		if (r == 0)
			toml_buf_add(b, P->p++, 1);
	}
}

/*
 * Digits of base with underscores only between two digits; n > 0.
 */
static int
digits_ok(const char *s, size_t n, int base)
{
	size_t	 i;
	int	 h;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '_') {
			if (i == 0 || i == n - 1 || s[i + 1] == '_')
				return 0;
			continue;
		}
		if ((h = hexval((unsigned char)s[i])) == -1 || h >= base)
			return 0;
	}
	return 1;
}

/* An integer: decimal with sign, or 0x, 0o, 0b without. */
static int
parse_integer(struct toml_parser *P, const char *s, size_t n, int64_t *out)
{
	uint64_t	 v = 0, limit = INT64_MAX;
	int		 base = 10, neg = 0, h;
	size_t		 i;
	const char	*start = s;	/* errors point at the sign */

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o' ||
	    s[1] == 'b')) {
		base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
		s += 2, n -= 2;
	} else {
		if (*s == '+' || *s == '-') {
			neg = *s == '-';
			limit = (uint64_t)INT64_MAX + neg;
			s++, n--;
		}
		/* no leading zeros: 0 alone, or a number from 1 */
		if (n > 1 && s[0] == '0')
			return toml_error(P, s, "leading zero in '%.*s'",
			    (int)n, s);
	}
	if (!digits_ok(s, n, base))
		return toml_error(P, s, "invalid integer '%.*s'", (int)n, s);
	for (i = 0; i < n; i++) {
		if (s[i] == '_')
			continue;
		h = hexval((unsigned char)s[i]);
		if (v > (limit - h) / base)
			return toml_error(P, start, "integer out of range");
		v = v * base + h;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* A float: an integer part, then a fraction, an exponent or both. */
static int
parse_float(struct toml_parser *P, const char *s, size_t n, double *out)
{
	const char	*t = s, *end = s + n, *part;
	char		*num, *e;
	size_t		 k = 0;
	int		 range;

	if (t < end && (*t == '+' || *t == '-'))
		t++;
	if (end - t == 3 && (memcmp(t, "inf", 3) == 0 ||
	    memcmp(t, "nan", 3) == 0)) {
		*out = t[0] == 'i' ? INFINITY : NAN;
		if (*s == '-')
			*out = -*out;
		return 0;
	}
	for (part = t; t < end && *t != '.' && *t != 'e' && *t != 'E'; t++)
		;
	if (!digits_ok(part, t - part, 10) || (t - part > 1 && *part == '0'))
		return toml_error(P, s, "invalid float '%.*s'", (int)n, s);
	if (t < end && *t == '.') {
		for (part = ++t; t < end && *t != 'e' && *t != 'E'; t++)
			;
		if (!digits_ok(part, t - part, 10))
			return toml_error(P, s, "invalid float '%.*s'",
			    (int)n, s);
	}
	if (t < end) {		/* e or E */
		part = ++t;
		if (part < end && (*part == '+' || *part == '-'))
			part++;
		if (!digits_ok(part, end - part, 10))
			return toml_error(P, s, "invalid float '%.*s'",
			    (int)n, s);
	}
	/*
	 * Checked: now without the underscores, for strtod.  As long as it
	 * is: the grammar puts no limit on the digits (pi to 200 places is
	 * a float), and strtod rounds them all correctly.
	 */
	num = xcalloc(1, n + 1);
	for (t = s; t < end; t++)
		if (*t != '_')
			num[k++] = *t;
	*out = strtod(num, &e);
	range = *e == '\0' && !isinf(*out);
	free(num);
	if (!range)
		return toml_error(P, s, "float out of range '%.*s'", (int)n, s);
	return 0;
}

/* n decimal digits at s, as a number; -1 when they are not. */
static int
ndigits(const char *s, const char *end, int n)
{
	int	 v = 0, i;

	if (end - s < n)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + s[i] - '0';
	}
	return v;
}

static int
days_in_month(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return days[m - 1];
}

/* YYYY-MM-DD at s; the length read (10) or -1. */
static int
read_date(const char *s, const char *end)
{
	int	 y, m, d;

	if ((y = ndigits(s, end, 4)) == -1 || end - s < 10 || s[4] != '-' ||
	    (m = ndigits(s + 5, end, 2)) == -1 || s[7] != '-' ||
	    (d = ndigits(s + 8, end, 2)) == -1)
		return -1;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -1;
	return 10;
}

/* HH:MM:SS[.frac] at s (seconds may be 60, RFC 3339's leap second). */
static int
read_time(const char *s, const char *end)
{
	int	 h, m, sec, n = 8;

	if ((h = ndigits(s, end, 2)) == -1 || end - s < 8 || s[2] != ':' ||
	    (m = ndigits(s + 3, end, 2)) == -1 || s[5] != ':' ||
	    (sec = ndigits(s + 6, end, 2)) == -1)
		return -1;
	if (h > 23 || m > 59 || sec > 60)
		return -1;
	if (s + n < end && s[n] == '.') {
		if (s + n + 1 >= end || !isdigit((unsigned char)s[n + 1]))
			return -1;
		for (n++; s + n < end && isdigit((unsigned char)s[n]); n++)
			;
	}
	return n;
}

/* Z or +HH:MM / -HH:MM at s; its length or -1. */
static int
read_offset(const char *s, const char *end)
{
	int	 h, m;

	if (s < end && (*s == 'Z' || *s == 'z'))
		return 1;
	if (end - s < 6 || (*s != '+' && *s != '-') ||
	    (h = ndigits(s + 1, end, 2)) == -1 || s[3] != ':' ||
	    (m = ndigits(s + 4, end, 2)) == -1 || h > 23 || m > 59)
		return -1;
	return 6;
}

/*
 * One of the four date-time types, stored as its RFC 3339 text ('T'
 * between date and time, 'Z' for UTC).
 */
static struct toml_value *
parse_datetime(struct toml_parser *P, const char *s, size_t n, int depth)
{
	const char		*t = s, *end = s + n;
	struct toml_value	*v;
	struct toml_buf		 b = { NULL, 0, 0 };
	enum toml_type		 type;
	int			 l;

	if ((l = read_date(t, end)) != -1) {
		toml_buf_add(&b, t, l);
		type = TOML_DATE_LOCAL;
		if ((t += l) < end) {
			if (*t != 'T' && *t != 't' && *t != ' ')
				goto bad;
			toml_buf_add(&b, "T", 1);
			t++;
			if ((l = read_time(t, end)) == -1)
				goto bad;
			toml_buf_add(&b, t, l);
			type = TOML_DATETIME_LOCAL;
			if ((t += l) < end) {
				if ((l = read_offset(t, end)) == -1)
					goto bad;
				toml_buf_add(&b, *t == 'z' ? "Z" : t, l);
				type = TOML_DATETIME;
				t += l;
			}
		}
	} else if ((l = read_time(t, end)) != -1) {
		toml_buf_add(&b, t, l);
		type = TOML_TIME_LOCAL;
		t += l;
	} else
		goto bad;
	if (t != end)
		goto bad;
	v = toml_value_new(type, depth);
	v->str = b.s;
	v->len = b.len;
	return v;
bad:
	free(b.s);
	toml_error(P, s, "invalid date or time '%.*s'", (int)n, s);
	return NULL;
}

/* Where a bare value ends: white space, a comment, ',' ']' '}'. */
static const char *
token_end(const char *p, const char *end)
{
	while (p < end && *p != ' ' && *p != '\t' && *p != '\r' &&
	    *p != '\n' && *p != ',' && *p != ']' && *p != '}' && *p != '#')
		p++;
	return p;
}

/* Does the token look like a date or a time (digits then - or :)? */
static int
looks_like_datetime(const char *s, size_t n)
{
	return (n >= 5 && ndigits(s, s + n, 4) != -1 && s[4] == '-') ||
	    (n >= 3 && ndigits(s, s + n, 2) != -1 && s[2] == ':');
}

/*
 * A value that is not a string, array or inline table: boolean,
 * number or date-time.  A date may be followed by a space and a time.
 */
struct toml_value *
toml_read_scalar(struct toml_parser *P, int depth)
{
	const char		*s = P->p, *e = token_end(s, P->end);
	struct toml_value	*v;
	size_t			 n;

	if (e - s == 10 && read_date(s, e) == 10 && e + 3 < P->end &&
	    e[0] == ' ' && ndigits(e + 1, P->end, 2) != -1 && e[3] == ':')
		e = token_end(e + 1, P->end);
	P->p = e;
	n = e - s;
	if (n == 0) {
		toml_error(P, s, "expected a value");
		return NULL;
	}
	if ((n == 4 && memcmp(s, "true", 4) == 0) ||
	    (n == 5 && memcmp(s, "false", 5) == 0)) {
		v = toml_value_new(TOML_BOOL, depth);
		v->b = n == 4;
		return v;
	}
	if (looks_like_datetime(s, n))
		return parse_datetime(P, s, n, depth);
	if (!(n > 2 && s[0] == '0' && s[1] == 'x') && (memchr(s, '.', n) ||
	    memchr(s, 'e', n) || memchr(s, 'E', n) || memmem(s, n, "inf", 3) ||
	    memmem(s, n, "nan", 3))) {
		v = toml_value_new(TOML_FLOAT, depth);
		if (parse_float(P, s, n, &v->f) == 0)
			return v;
	} else {
		v = toml_value_new(TOML_INTEGER, depth);
		if (parse_integer(P, s, n, &v->i) == 0)
			return v;
	}
	free(v);
	return NULL;
}
