/*
 * smtp.c - RFC 5321 syntax, shared by the server (smtpd) and the
 * client (deliverd).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "smtp.h"
#include "util.h"

/* One command or reply line, CRLF added: both sides write this way. */
void
smtp_vline(struct evbuffer *out, const char *fmt, va_list ap)
{
	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
}

static const struct {
	const char	*name;
	enum smtp_cmd	 cmd;
} smtp_verbs[] = {
	{ "HELO", SMTP_CMD_HELO }, { "EHLO", SMTP_CMD_EHLO },
	{ "MAIL", SMTP_CMD_MAIL }, { "RCPT", SMTP_CMD_RCPT },
	{ "DATA", SMTP_CMD_DATA }, { "RSET", SMTP_CMD_RSET },
	{ "NOOP", SMTP_CMD_NOOP }, { "QUIT", SMTP_CMD_QUIT },
	{ "VRFY", SMTP_CMD_VRFY }, { "EXPN", SMTP_CMD_EXPN },
	{ "HELP", SMTP_CMD_HELP }, { "STARTTLS", SMTP_CMD_STARTTLS },
	{ "AUTH", SMTP_CMD_AUTH }, { "BDAT", SMTP_CMD_BDAT },
};

/*
 * Split "VERB args" (CRLF already stripped).  *args points at the
 * argument text (after one or more spaces) or at "".
 */
enum smtp_cmd
smtp_parse_verb(char *line, char **args)
{
	size_t	 n = strcspn(line, " ");
	size_t	 i;

	*args = line + n;
	while (**args == ' ')
		(*args)++;
	for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++)
		if (strlen(smtp_verbs[i].name) == n &&
		    strncasecmp(smtp_verbs[i].name, line, n) == 0)
			return smtp_verbs[i].cmd;
	return SMTP_CMD_UNKNOWN;
}

const char *
smtp_cmd_name(enum smtp_cmd c)
{
	size_t	 i;

	for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++)
		if (smtp_verbs[i].cmd == c)
			return smtp_verbs[i].name;
	return "UNKNOWN";
}

/*
 * The length of the well-formed UTF-8 sequence at p, which starts with
 * a byte >= 0x80 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF; and no C1 controls), or 0 when it is malformed.
 */
static size_t
utf8_seq(const unsigned char *p)
{
	unsigned long	 cp;
	size_t		 n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* a NUL stops here too */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < 0xa0 || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * At a byte >= 0x80 inside a loop over a string: step *pp to the last
 * byte of its UTF-8 sequence and note that UTF-8 was seen; -1 when the
 * sequence is malformed.
 */
static int
utf8_skip(const unsigned char **pp, int *utf8)
{
	size_t	 n;

	if ((n = utf8_seq(*pp)) == 0)
		return -1;
	*pp += n - 1;
	*utf8 = 1;
	return 0;
}

/* 1: s holds UTF-8 beyond ASCII; 0: ASCII only; -1: malformed UTF-8. */
int
smtp_utf8_check(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int		 utf8 = 0;

	for (; *p; p++)
		if (*p >= 0x80 && utf8_skip(&p, &utf8) == -1)
			return -1;
	return utf8;
}

/*
 * Domain = sub-domain *("." sub-domain), sub-domain = Let-dig
 * [Ldh-str] (or, with allow_utf8, a U-label: RFC 6531 3.3); or an
 * address literal "[1.2.3.4]" / "[IPv6:...]".  Returns 1 for a domain
 * with U-labels, 0 for an ASCII one, -1 when malformed.
 */
static int
domain_check(const char *d, int allow_literal, int allow_utf8)
{
	const unsigned char *p = (const unsigned char *)d;
	size_t		 len = strlen(d), lab = 0;
	int		 prev = '.', utf8 = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return -1;
	if (d[0] == '[') {
		if (!allow_literal || d[len - 1] != ']' || len < 3)
			return -1;
		for (; *p; p++)
			if (!isprint(*p) || *p == '\\' || *p == ' ')
				return -1;
		return 0;
	}
	for (; *p; p++) {
		if (*p == '.') {
			if (prev == '.' || prev == '-')
				return -1;
			lab = 0;
		} else if (*p >= 0x80 && allow_utf8) {
			/* a U-label's character; 63 of them at most */
			if (utf8_skip(&p, &utf8) == -1 || ++lab > 63)
				return -1;
		} else if (isalnum(*p) || (*p == '_' && prev != '.')) {
			if (++lab > 63)
				return -1;
		} else if (*p == '-') {
			if (prev == '.')
				return -1;
			lab++;
		} else
			return -1;
		prev = *p;
	}
	/* a trailing dot is tolerated, a trailing hyphen is not */
	return prev == '-' ? -1 : utf8;
}

int
smtp_parse_domain(const char *d, int allow_literal)
{
	return domain_check(d, allow_literal, 0);
}

/*
 * A routing domain as [queued] relayhost and the policy's
 * make_queue_config give one: "[192.0.2.1]", "[192.0.2.1]:2526",
 * "[IPv6:2001:db8::1]" (connected to directly) or a domain name.
 */
int
smtp_parse_routing_domain(const char *rd)
{
	struct sockaddr_storage ss;
	socklen_t	 sl;

	if (rd[0] == '[')
		return parse_hostport(rd, 25, &ss, &sl);
	return smtp_parse_domain(rd, 0);
}

static int
atext(int c)
{
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/*
 * Mailbox = Local-part "@" ( Domain / address-literal ), where RFC
 * 6531 allows UTF-8 in the local part and U-labels in the domain.
 * Returns 1 for a mailbox with UTF-8 (it needs SMTPUTF8), 0 for an
 * ASCII one, -1 when malformed (malformed UTF-8 included).
 */
int
smtp_parse_mailbox(const char *m)
{
	const unsigned char *p, *at, *start = (const unsigned char *)m;
	int		 utf8 = 0, d;

	if (*start == '"') {
		for (p = start + 1; *p && *p != '"'; p++) {
			if (*p == '\\') {	/* quoted-pairSMTP: ASCII */
				if (*++p < 32 || *p > 126)
					return -1;
			} else if (*p >= 0x80) {
				if (utf8_skip(&p, &utf8) == -1)
					return -1;
			} else if (*p < 32 || *p == 127)
				return -1;
		}
		if (*p != '"' || p[1] != '@')
			return -1;
		at = p + 1;
	} else {
		at = (const unsigned char *)strrchr(m, '@');
		if (at == NULL || at == start)
			return -1;
		for (p = start; p < at; p++) {
			if (*p == '.') {
				if (p == start || p[-1] == '.' || p + 1 == at)
					return -1;
			} else if (*p >= 0x80) {
				if (utf8_skip(&p, &utf8) == -1)
					return -1;
			} else if (!atext(*p))
				return -1;
		}
	}
	if (at - start > 64)
		return -1;
	if ((d = domain_check((const char *)at + 1, 1, 1)) == -1)
		return -1;
	return utf8 || d;
}

/*
 * Parse "FROM:<path> params" (prefix "FROM:") or "TO:<path> params".
 * Source routes ("<@a,@b:user@c>") are accepted and dropped, as RFC
 * 5321 4.1.1.3 asks, and so is "TO:<Postmaster>" without a domain.
 * On success copies the bare path into path ("" for the null path) and
 * splits ESMTP parameters into params.  Returns 0, 1 when the path
 * holds UTF-8 (it needs SMTPUTF8, RFC 6531), or -1 with *err set to
 * reply text.
 */
int
smtp_parse_path(char *args, const char *prefix, char *path, size_t pathlen,
    struct smtp_param *params, int *nparams, const char **err)
{
	size_t	 plen = strlen(prefix);
	char	*p, *end, *q;
	size_t	 len;
	int	 utf8;

	*nparams = 0;
	if (strncasecmp(args, prefix, plen) != 0) {
		*err = "5.5.4 Syntax: expected ";
		return -1;
	}
	p = args + plen;
	while (*p == ' ')	/* tolerated, as by every deployed MTA */
		p++;
	if (*p != '<') {
		*err = "5.5.4 Syntax error in address: missing <";
		return -1;
	}
	if ((end = strchr(p, '>')) == NULL) {
		*err = "5.5.4 Syntax error in address: missing >";
		return -1;
	}
	/* a quoted local part may contain '>' */
	if (p[1] == '"') {
		for (q = p + 2; *q && *q != '"'; q++)
			if (*q == '\\' && q[1])
				q++;
		if (*q == '"' && (end = strchr(q, '>')) == NULL) {
			*err = "5.5.4 Syntax error in address: missing >";
			return -1;
		}
	}
	p++;
	if (*p == '@') {	/* source route */
		if ((q = strchr(p, ':')) == NULL || q + 1 >= end) {
			*err = "5.1.3 Bad source route";
			return -1;
		}
		p = q + 1;
	}
	len = end - p;
	if (len >= pathlen || len >= SMTP_PATH_MAX) {
		*err = "5.1.3 Address too long";
		return -1;
	}
	memcpy(path, p, len);
	path[len] = '\0';
	if (len == 0)
		utf8 = 0;
	else if (strcasecmp(prefix, "TO:") == 0 &&
	    strcasecmp(path, "postmaster") == 0)
		utf8 = 0;	/* "<Postmaster>", no domain (4.1.1.3) */
	else if ((utf8 = smtp_parse_mailbox(path)) == -1) {
		*err = smtp_utf8_check(path) == -1 ?
		    "5.1.3 Bad address syntax: malformed UTF-8" :
		    "5.1.3 Bad address syntax";
		return -1;
	}
	p = end + 1;
	if (*p != '\0' && *p != ' ') {
		*err = "5.5.4 Syntax error after address";
		return -1;
	}
	while (*p) {
		char	*tok;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		tok = p;
		p += strcspn(p, " ");
		if (*p)
			*p++ = '\0';
		if (*nparams == SMTP_MAX_PARAMS) {
			*err = "5.5.4 Too many parameters";
			return -1;
		}
		params[*nparams].key = tok;
		if ((q = strchr(tok, '=')) != NULL) {
			*q++ = '\0';
			params[*nparams].value = q;
		} else
			params[*nparams].value = NULL;
		if (*tok == '\0') {
			*err = "5.5.4 Syntax error in parameter";
			return -1;
		}
		(*nparams)++;
	}
	return utf8;
}

/*
 * A reply line: "250-text", "250 text" or "250".  Returns 0 with the
 * code, whether more lines follow, and the text; -1 when malformed.
 */
int
smtp_parse_reply_line(const char *line, int *code, int *more,
    const char **text)
{
	if (!isdigit((unsigned char)line[0]) || line[0] < '2' ||
	    line[0] > '5' || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]))
		return -1;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0';
	switch (line[3]) {
	case '\0':
		*more = 0;
		*text = line + 3;
		return 0;
	case ' ':
		*more = 0;
		break;
	case '-':
		*more = 1;
		break;
	default:
		return -1;
	}
	*text = line + 4;
	return 0;
}

/*
 * Assemble a reply from its lines (RFC 5321 4.2.1): every line must
 * parse and carry the code of the first; "250-a" then "251 b" is
 * malformed.  The text keeps the first line's "code text" and the
 * text of the others after a space, as far as it fits.  *linetext is
 * the text of this line (an EHLO keyword).  Returns SMTP_REPLY_DONE
 * when the reply is complete (the next line starts a new one),
 * SMTP_REPLY_MORE when more lines follow, SMTP_REPLY_BAD when the
 * line is malformed (the reply is then reset).
 */
int
smtp_reply_add(struct smtp_reply *r, const char *line, const char **linetext)
{
	const char	*text;
	int		 code, more, n;

	if (r->done)
		smtp_reply_reset(r);
	if (smtp_parse_reply_line(line, &code, &more, &text) == -1 ||
	    (r->nlines > 0 && code != r->code) ||
	    r->nlines >= SMTP_REPLY_LINES_MAX) {
		smtp_reply_reset(r);
		return SMTP_REPLY_BAD;
	}
	if (r->nlines++ == 0) {
		r->code = code;
		n = snprintf(r->text, sizeof(r->text), "%d %s", code, text);
	} else
		n = snprintf(r->text + r->len, sizeof(r->text) - r->len,
		    "%s%s", *text ? " " : "", text);
	r->len += n;
	if (r->len >= sizeof(r->text))
		r->len = sizeof(r->text) - 1;
	if (linetext != NULL)
		*linetext = text;
	if (more)
		return SMTP_REPLY_MORE;
	r->done = 1;
	return SMTP_REPLY_DONE;
}

void
smtp_reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->nlines = 0;
	r->done = 0;
	r->len = 0;
	r->text[0] = '\0';
}

/* Copy a leading enhanced status code ("2.0.0") out of reply text. */
int
smtp_parse_enhanced(const char *t, char *out, size_t outlen)
{
	const char	*p = t;
	int		 part;

	if (*p < '2' || *p > '5' || p[1] != '.')
		return -1;
	p += 2;
	for (part = 0; part < 2; part++) {
		int	 digits = 0;

		while (isdigit((unsigned char)*p) && digits < 3) {
			p++;
			digits++;
		}
		if (digits == 0)
			return -1;
		if (part == 0) {
			if (*p != '.')
				return -1;
			p++;
		}
	}
	if (*p != '\0' && *p != ' ')
		return -1;
	if ((size_t)(p - t) >= outlen)
		return -1;
	memcpy(out, t, p - t);
	out[p - t] = '\0';
	return 0;
}
