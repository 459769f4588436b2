/*
 * fuzz_smtp.c - the server side of the SMTP grammar (lib/smtp.c:
 * smtp_parse_verb, smtp_parse_path, smtp_parse_mailbox,
 * smtp_parse_domain, smtp_utf8_check) and smtpd's DATA state machine
 * (smtpd/dataline.c), fed an SMTP session as a client would send it.
 *
 * The input is the client's byte stream.  Command lines end in LF or
 * CRLF and are split as smtpd/session.c splits them; "DATA" switches
 * to the message text, split as smtpd/message.c does (a line with its
 * LF; a line over SMTP_LINE_MAX in pieces as the bytes come), until
 * dataline says the text ended; then commands again.  The text is fed
 * twice: all at once, and in segments of sizes drawn from a hash of the
 * input (as TCP might deliver it); what is stored must be the same.
 *
 * Checked: every stored line ends in CRLF and holds no other LF; no
 * stored line is a lone "." (SMTP smuggling); no line is longer than
 * SMTP_LINE_MAX; a parsed path fits and is a mailbox.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "smtp.h"
#include "../../smtpd/dataline.h"

struct textrun {
	struct dataline	 dl;
	char		*out;		/* everything stored */
	size_t		 outlen;
	size_t		 used;		/* bytes of input taken */
	int		 ended;
};

static void
check_stored(const char *out, size_t n)
{
	FUZZ_CHECK(n >= 2 && n <= DATALINE_OUT_MAX);
	FUZZ_CHECK(n <= SMTP_LINE_MAX + 1);	/* a bare LF line gets its CR */
	FUZZ_CHECK(out[n - 2] == '\r' && out[n - 1] == '\n');
	FUZZ_CHECK(memchr(out, '\n', n - 1) == NULL);
	FUZZ_CHECK(!(n == 3 && out[0] == '.'));
}

/*
 * One pass of message_data() over buf[0..avail): take what a session
 * would take with avail bytes buffered.  Returns the bytes consumed.
 */
static size_t
text_take(struct textrun *t, const char *buf, size_t avail)
{
	char		 out[DATALINE_OUT_MAX];
	const char	*lf;
	size_t		 off = 0, len, outlen;

	while (!t->ended && off < avail) {
		if ((lf = memchr(buf + off, '\n', avail - off)) != NULL)
			len = lf - (buf + off) + 1;
		else {
			len = avail - off;
			if (len <= SMTP_LINE_MAX && !t->dl.inlong)
				break;
		}
		switch (dataline_take(&t->dl, buf + off, len, out, &outlen)) {
		case DATALINE_END:
			t->ended = 1;
			break;
		case DATALINE_STORE:
			check_stored(out, outlen);
			memcpy(t->out + t->outlen, out, outlen);
			t->outlen += outlen;
			break;
		case DATALINE_SKIP:
			FUZZ_CHECK(outlen == 0);
			break;
		}
		off += len;
	}
	return off;
}

static uint32_t
hash(const uint8_t *p, size_t n)
{
	uint32_t	 h = 2166136261u;

	while (n-- > 0)
		h = (h ^ *p++) * 16777619u;
	return h;
}

/* The message text at buf[0..len); returns the bytes it used. */
static size_t
text(const char *buf, size_t len, uint32_t seed)
{
	struct textrun	 a, b;
	size_t		 arrived = 0, seg;

	/* at most two bytes stored per byte taken, and one line's worth */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.out = malloc(2 * len + DATALINE_OUT_MAX);
	b.out = malloc(2 * len + DATALINE_OUT_MAX);
	FUZZ_CHECK(a.out != NULL && b.out != NULL);
	dataline_init(&a.dl);
	dataline_init(&b.dl);

	/* all at once (what is left unterminated waits for more) */
	a.used = text_take(&a, buf, len);

	/* in segments: the unconsumed rest stays buffered, as in evbuffer */
	while (!b.ended && arrived < len) {
		seed = seed * 1103515245u + 12345u;
		seg = 1 + (seed >> 16) % ((seed & 0x100) ? 8 : 1500);
		arrived = arrived + seg > len ? len : arrived + seg;
		b.used += text_take(&b, buf + b.used, arrived - b.used);
	}

	FUZZ_CHECK(a.ended == b.ended);
	if (a.ended) {
		FUZZ_CHECK(a.used == b.used);
		FUZZ_CHECK(a.outlen == b.outlen);
		FUZZ_CHECK(memcmp(a.out, b.out, a.outlen) == 0);
		FUZZ_CHECK(a.dl.longline == b.dl.longline);
		FUZZ_CHECK(a.dl.barecr == b.dl.barecr);
		FUZZ_CHECK(a.dl.received == b.dl.received);
	}
	free(a.out);
	free(b.out);
	return a.ended ? a.used : len;
}

static void
path_check(char *args, const char *prefix)
{
	struct smtp_param params[SMTP_MAX_PARAMS];
	char		 path[SMTP_PATH_MAX];
	const char	*err = NULL;
	int		 n = -1, r, i;

	r = smtp_parse_path(args, prefix, path, sizeof(path), params, &n,
	    &err);
	if (r == -1) {
		FUZZ_CHECK(err != NULL && strlen(err) > 6);
		return;
	}
	FUZZ_CHECK(r == 0 || r == 1);
	FUZZ_CHECK(strlen(path) < SMTP_PATH_MAX);
	FUZZ_CHECK(n >= 0 && n <= SMTP_MAX_PARAMS);
	for (i = 0; i < n; i++) {
		FUZZ_CHECK(params[i].key[0] != '\0');
		FUZZ_CHECK(strchr(params[i].key, ' ') == NULL);
	}
	if (path[0] != '\0' && strchr(path, '@') != NULL) {
		FUZZ_CHECK(smtp_parse_mailbox(path) == r);
		FUZZ_CHECK(smtp_utf8_check(path) == r);
	}
}

static void
command(char *line)
{
	enum smtp_cmd	 cmd;
	char		*args;

	cmd = smtp_parse_verb(line, &args);
	FUZZ_CHECK(args >= line && args <= line + strlen(line));
	FUZZ_CHECK(*args != ' ');
	(void)smtp_cmd_name(cmd);
	switch (cmd) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
		(void)smtp_parse_domain(args, 1);
		(void)smtp_parse_routing_domain(args);
		break;
	case SMTP_CMD_MAIL:
		path_check(args, "FROM:");
		break;
	case SMTP_CMD_RCPT:
		path_check(args, "TO:");
		break;
	case SMTP_CMD_VRFY:
	case SMTP_CMD_EXPN:
		(void)smtp_parse_mailbox(args);
		(void)smtp_utf8_check(args);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf = (const char *)data, *lf;
	char		 line[SMTP_CMDLINE_MAX + 1];
	uint32_t	 seed = hash(data, size);
	size_t		 off = 0, len;

	while (off < size) {
		/* a command line, as session_cmd_line() takes it */
		if ((lf = memchr(buf + off, '\n', size - off)) == NULL)
			break;
		len = lf - (buf + off);
		if (len > 0 && buf[off + len - 1] == '\r')
			len--;
		if (len <= SMTP_CMDLINE_MAX - 2 &&
		    memchr(buf + off, '\0', len) == NULL) {
			memcpy(line, buf + off, len);
			line[len] = '\0';
			command(line);
			if (len == 4 && strncasecmp(line, "DATA", 4) == 0) {
				off = lf - buf + 1;
				off += text(buf + off, size - off, seed);
				continue;
			}
		}
		off = lf - buf + 1;
	}
	return 0;
}
