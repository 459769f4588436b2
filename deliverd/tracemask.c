/*
 * tracemask.c - what a trace may show of an SMTP client dialogue.
 *
 * Secrets stay in keysd and deliverd (DESIGN.md, invariant 2), and a
 * trace goes to whoever can run petrelctl, so:
 *   - an AUTH command shows as "AUTH MECH ****", with or without an
 *     initial response (PLAIN's holds the password, XOAUTH2's the
 *     token, LOGIN's the user name);
 *   - whatever is sent after a 334 challenge, until the next reply
 *     that is not one, shows as "****" (LOGIN's user name and
 *     password, an XOAUTH2 error acknowledgement, a "*" cancel);
 *   - nothing sent after a 354 shows (the message text goes around
 *     the tracer anyway: trace.c reports only its size).
 * The callers also say when they know a line is secret (auth.c's
 * conn_send_secret), so a trace that starts halfway through an AUTH
 * exchange, having missed the 334, still shows no password.
 *
 * No I/O and no state outside struct trace_mask: unit tested alone.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp.h"
#include "trace.h"

#define MECH_MAX	20

/* "AUTH" and a space or the end: the command, whatever follows. */
static int
is_auth(const char *line)
{
	return strncasecmp(line, "AUTH", 4) == 0 &&
	    (line[4] == ' ' || line[4] == '\0');
}

int
trace_mask_sent(struct trace_mask *m, const char *line, int secret,
    char *out, size_t outlen)
{
	char	 mech[MECH_MAX + 1];
	size_t	 n = 0;

	if (outlen == 0)
		return 0;
	out[0] = '\0';
	if (m->text)
		return 0;
	if (is_auth(line)) {
		/* the mechanism's name only, in case it is not one */
		for (line += 4; *line == ' '; line++)
			;
		for (; n < MECH_MAX && (isalnum((unsigned char)*line) ||
		    *line == '-' || *line == '_'); line++)
			mech[n++] = toupper((unsigned char)*line);
		mech[n] = '\0';
		snprintf(out, outlen, "AUTH %s%s****", mech, n ? " " : "");
		return 1;
	}
	if (secret || m->challenge) {
		snprintf(out, outlen, "****");
		return 1;
	}
	trace_clean(line, out, outlen);
	return 1;
}

void
trace_mask_received(struct trace_mask *m, const char *line)
{
	int	 code;

	if (!isdigit((unsigned char)line[0]) ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) ||
	    (line[3] != ' ' && line[3] != '-' && line[3] != '\0'))
		return;
	/* a reply's state is set by its last line; "334-" lines too */
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code == 334) {
		m->challenge = 1;
		return;
	}
	if (line[3] == '-')
		return;
	m->challenge = 0;
	m->text = code == 354;
}

void
trace_clean(const char *in, char *out, size_t outlen)
{
	int		 utf8 = smtp_utf8_check(in) != -1;
	size_t		 i, n;
	unsigned char	 ch;

	if (outlen == 0)
		return;
	for (i = 0; in[i] != '\0' && i < outlen - 1; i++) {
		ch = in[i];
		if (ch < 0x20 || ch == 0x7f || (ch >= 0x80 && !utf8))
			ch = '?';
		out[i] = ch;
	}
	n = i;
	/* cut inside a character: the part of it that fits goes too */
	if (utf8 && ((unsigned char)in[i] & 0xc0) == 0x80) {
		while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0 && (unsigned char)out[n - 1] >= 0xc0)
			n--;
	}
	out[n] = '\0';
}

/* ":PORT" at the end of s, digits only: the port, else 0. */
static int
port_of(const char *colon)
{
	const char	*p;
	int		 port = 0;

	if (colon == NULL || colon[1] == '\0')
		return 0;
	for (p = colon + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || port > 65535)
			return 0;
		port = port * 10 + (*p - '0');
	}
	return port <= 65535 ? port : 0;
}

/*
 * "[IP]:PORT", "[IPv6:IP]", "IP", "name:PORT" (one colon), a site
 * rolled up from names with ":PORT", or "[IPV6]:PORT" as a literal's
 * site is written.  An IPv6 address without brackets is all host.
 */
void
trace_name_parse(const char *in, struct trace_name *n)
{
	const char	*close, *colon;
	char		*p;
	size_t		 len;

	n->port = 0;
	if (in[0] == '[' && (close = strchr(in, ']')) != NULL) {
		in++;
		if (strncasecmp(in, "IPv6:", 5) == 0)
			in += 5;
		len = close - in;
		if (close[1] == ':')
			n->port = port_of(close + 1);
	} else {
		len = strlen(in);
		colon = strchr(in, ':');
		if (colon != NULL && colon == strrchr(in, ':') &&
		    (n->port = port_of(colon)) != 0)
			len = colon - in;
	}
	if (len >= sizeof(n->host))
		len = sizeof(n->host) - 1;
	memcpy(n->host, in, len);
	n->host[len] = '\0';
	for (p = n->host; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	if (p > n->host && p[-1] == '.')
		p[-1] = '\0';
}

int
trace_name_match(const struct trace_name *want, const struct trace_name *have)
{
	return want->host[0] != '\0' && strcmp(want->host, have->host) == 0 &&
	    (want->port == 0 || want->port == have->port);
}
