/*
 * smtp.c - RFC 5321 syntax, shared by the server (smtpd) and the
 * client (deliverd).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "smtp.h"

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
 * Domain = sub-domain *("." sub-domain), sub-domain = Let-dig
 * [Ldh-str]; or an address literal "[1.2.3.4]" / "[IPv6:...]".
 */
int
smtp_parse_domain(const char *d, int allow_literal)
{
	size_t	 len = strlen(d), lab = 0;
	char	 prev = '.';

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return -1;
	if (d[0] == '[') {
		if (!allow_literal || d[len - 1] != ']' || len < 3)
			return -1;
		for (; *d; d++)
			if (!isprint((unsigned char)*d) || *d == '\\' ||
			    *d == ' ')
				return -1;
		return 0;
	}
	for (; *d; d++) {
		if (*d == '.') {
			if (prev == '.' || prev == '-')
				return -1;
			lab = 0;
		} else if (isalnum((unsigned char)*d) ||
		    (*d == '_' && prev != '.')) {
			if (++lab > 63)
				return -1;
		} else if (*d == '-') {
			if (prev == '.')
				return -1;
			lab++;
		} else
			return -1;
		prev = *d;
	}
	/* a trailing dot is tolerated, a trailing hyphen is not */
	return prev == '-' ? -1 : 0;
}

static int
atext(int c)
{
	return isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL ||
	    c >= 0x80;	/* SMTPUTF8 local parts pass through */
}

/* Mailbox = Local-part "@" ( Domain / address-literal ) */
int
smtp_parse_mailbox(const char *m)
{
	const char	*at, *p;

	if (*m == '"') {
		for (p = m + 1; *p && *p != '"'; p++) {
			if (*p == '\\')
				p++;	/* the quoted character: checked below */
			if (*p == '\0' || (unsigned char)*p < 32 || *p == 127)
				return -1;
		}
		if (*p != '"' || p[1] != '@')
			return -1;
		at = p + 1;
	} else {
		if ((at = strrchr(m, '@')) == NULL || at == m)
			return -1;
		for (p = m; p < at; p++) {
			if (*p == '.') {
				if (p == m || p[-1] == '.' || p + 1 == at)
					return -1;
			} else if (!atext((unsigned char)*p))
				return -1;
		}
	}
	if (at - m > 64)
		return -1;
	return smtp_parse_domain(at + 1, 1);
}

/*
 * Parse "FROM:<path> params" (prefix "FROM:") or "TO:<path> params".
 * Source routes ("<@a,@b:user@c>") are accepted and dropped, as RFC
 * 5321 4.1.1.3 asks.  On success copies the bare path into path (""
 * for the null path) and splits ESMTP parameters into params.
 * Returns 0, or -1 with *err set to reply text.
 */
int
smtp_parse_path(char *args, const char *prefix, char *path, size_t pathlen,
    struct smtp_param *params, int *nparams, const char **err)
{
	size_t	 plen = strlen(prefix);
	char	*p, *end, *q;
	size_t	 len;

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
	if (len > 0 && smtp_parse_mailbox(path) == -1) {
		*err = "5.1.3 Bad address syntax";
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
	return 0;
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
