/*
 * test_smtp.c - the RFC 5321 grammar: verbs, paths, domains, replies.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "smtp.h"

static void
verb(const char *line, enum smtp_cmd want, const char *wantargs)
{
	char	 buf[SMTP_CMDLINE_MAX], *args = NULL;

	cr_assert_lt(strlen(line), sizeof(buf));
	strcpy(buf, line);
	cr_assert_eq(smtp_parse_verb(buf, &args), want, "verb of \"%s\"", line);
	cr_assert_not_null(args);
	cr_assert_str_eq(args, wantargs, "args of \"%s\"", line);
}

Test(smtp, verb)
{
	verb("EHLO client.example", SMTP_CMD_EHLO, "client.example");
	verb("ehlo client.example", SMTP_CMD_EHLO, "client.example");
	verb("HeLo x", SMTP_CMD_HELO, "x");
	verb("MAIL FROM:<a@b.c>", SMTP_CMD_MAIL, "FROM:<a@b.c>");
	verb("rcpt    TO:<a@b.c> NOTIFY=NEVER", SMTP_CMD_RCPT,
	    "TO:<a@b.c> NOTIFY=NEVER");
	verb("DATA", SMTP_CMD_DATA, "");
	verb("data   ", SMTP_CMD_DATA, "");
	verb("RSET", SMTP_CMD_RSET, "");
	verb("NOOP whatever", SMTP_CMD_NOOP, "whatever");
	verb("QUIT", SMTP_CMD_QUIT, "");
	verb("VRFY u", SMTP_CMD_VRFY, "u");
	verb("EXPN l", SMTP_CMD_EXPN, "l");
	verb("HELP", SMTP_CMD_HELP, "");
	verb("StartTLS", SMTP_CMD_STARTTLS, "");
	verb("AUTH PLAIN AGZvbwBiYXI=", SMTP_CMD_AUTH, "PLAIN AGZvbwBiYXI=");
	verb("BDAT 100 LAST", SMTP_CMD_BDAT, "100 LAST");
}

Test(smtp, verb_unknown)
{
	verb("", SMTP_CMD_UNKNOWN, "");
	verb("FOO bar", SMTP_CMD_UNKNOWN, "bar");
	verb("MAILX FROM:<>", SMTP_CMD_UNKNOWN, "FROM:<>");
	verb("MAI", SMTP_CMD_UNKNOWN, "");
	verb("STARTTLSX", SMTP_CMD_UNKNOWN, "");
	verb(" MAIL FROM:<>", SMTP_CMD_UNKNOWN, "MAIL FROM:<>");
	verb("MAIL:FROM:<>", SMTP_CMD_UNKNOWN, "");
	cr_assert_str_eq(smtp_cmd_name(SMTP_CMD_STARTTLS), "STARTTLS");
	cr_assert_str_eq(smtp_cmd_name(SMTP_CMD_MAIL), "MAIL");
	cr_assert_str_eq(smtp_cmd_name(SMTP_CMD_UNKNOWN), "UNKNOWN");
}

/* parse args with prefix; returns 0/-1 and fills path, params */
static int
path(const char *args, const char *prefix, char *out, size_t outlen,
    struct smtp_param *params, int *nparams, const char **err)
{
	static char	 buf[4096];

	cr_assert_lt(strlen(args), sizeof(buf));
	strcpy(buf, args);
	*err = NULL;
	return smtp_parse_path(buf, prefix, out, outlen, params, nparams, err);
}

static void
path_ok(const char *args, const char *prefix, const char *want)
{
	struct smtp_param	 params[SMTP_MAX_PARAMS];
	char			 out[SMTP_PATH_MAX];
	const char		*err;
	int			 n = -1;

	cr_assert_eq(path(args, prefix, out, sizeof(out), params, &n, &err),
	    0, "\"%s\" rejected: %s", args, err ? err : "(null)");
	cr_assert_str_eq(out, want, "path of \"%s\"", args);
	cr_assert_eq(n, 0);
}

/* must fail with an error text starting with errpfx */
static void
path_bad(const char *args, const char *errpfx)
{
	struct smtp_param	 params[SMTP_MAX_PARAMS];
	char			 out[SMTP_PATH_MAX];
	const char		*err;
	int			 n;

	cr_assert_eq(path(args, "FROM:", out, sizeof(out), params, &n, &err),
	    -1, "\"%s\" accepted", args);
	cr_assert_not_null(err, "no error text for \"%s\"", args);
	cr_assert_eq(strncmp(err, errpfx, strlen(errpfx)), 0,
	    "\"%s\": error \"%s\", want \"%s...\"", args, err, errpfx);
}

Test(smtp, path_basic)
{
	path_ok("FROM:<a@b.c>", "FROM:", "a@b.c");
	path_ok("from:<a@b.c>", "FROM:", "a@b.c");
	path_ok("TO:<user.name+tag@mail.example.org>", "TO:",
	    "user.name+tag@mail.example.org");
	path_ok("FROM:<>", "FROM:", "");
	path_ok("FROM: <a@b.c>", "FROM:", "a@b.c");
	path_ok("FROM:   <>", "FROM:", "");
	path_ok("TO:<postmaster@example.com.>", "TO:",
	    "postmaster@example.com.");
}

Test(smtp, path_params)
{
	struct smtp_param	 p[SMTP_MAX_PARAMS];
	char			 out[SMTP_PATH_MAX];
	const char		*err;
	int			 n;

	cr_assert_eq(path("FROM:<a@b.c> SIZE=100 BODY=8BITMIME", "FROM:",
	    out, sizeof(out), p, &n, &err), 0);
	cr_assert_str_eq(out, "a@b.c");
	cr_assert_eq(n, 2);
	cr_assert_str_eq(p[0].key, "SIZE");
	cr_assert_str_eq(p[0].value, "100");
	cr_assert_str_eq(p[1].key, "BODY");
	cr_assert_str_eq(p[1].value, "8BITMIME");

	/* several spaces, a parameter without value, trailing space */
	cr_assert_eq(path("FROM:<>  SMTPUTF8   SIZE=0 ", "FROM:",
	    out, sizeof(out), p, &n, &err), 0);
	cr_assert_str_eq(out, "");
	cr_assert_eq(n, 2);
	cr_assert_str_eq(p[0].key, "SMTPUTF8");
	cr_assert_null(p[0].value);
	cr_assert_str_eq(p[1].key, "SIZE");
	cr_assert_str_eq(p[1].value, "0");

	/* empty value is a value */
	cr_assert_eq(path("TO:<a@b.c> ORCPT=", "TO:", out, sizeof(out), p,
	    &n, &err), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(p[0].value, "");
}

Test(smtp, path_params_bad)
{
	struct smtp_param	 p[SMTP_MAX_PARAMS];
	char			 out[SMTP_PATH_MAX];
	const char		*err;
	int			 n;

	cr_assert_eq(path("FROM:<a@b.c> =x", "FROM:", out, sizeof(out), p,
	    &n, &err), -1);
	cr_assert_str_eq(err, "5.5.4 Syntax error in parameter");
	cr_assert_eq(path("FROM:<a@b.c> A B C D E F G H I", "FROM:", out,
	    sizeof(out), p, &n, &err), -1);
	cr_assert_str_eq(err, "5.5.4 Too many parameters");
	cr_assert_eq(path("FROM:<a@b.c> A B C D E F G H", "FROM:", out,
	    sizeof(out), p, &n, &err), 0);
	cr_assert_eq(n, SMTP_MAX_PARAMS);
	path_bad("FROM:<a@b.c>SIZE=100", "5.5.4 Syntax error after address");
}

Test(smtp, path_syntax)
{
	path_bad("FROM:a@b.c", "5.5.4 Syntax error in address: missing <");
	path_bad("FROM:", "5.5.4 Syntax error in address: missing <");
	path_bad("FROM:<a@b.c", "5.5.4 Syntax error in address: missing >");
	path_bad("FROM:<", "5.5.4 Syntax error in address: missing >");
	path_bad("TO:<a@b.c>", "5.5.4 Syntax: expected");
	path_bad("FROMX:<a@b.c>", "5.5.4 Syntax: expected");
}

Test(smtp, path_bad_address)
{
	path_bad("FROM:<a@>", "5.1.3 Bad address syntax");
	path_bad("FROM:<@b>", "5.1.3");
	path_bad("FROM:<a..b@c>", "5.1.3 Bad address syntax");
	path_bad("FROM:<a@b..c>", "5.1.3 Bad address syntax");
	path_bad("FROM:<a@-b.c>", "5.1.3 Bad address syntax");
	path_bad("FROM:<a@b-.c>", "5.1.3 Bad address syntax");
	path_bad("FROM:<.a@b.c>", "5.1.3 Bad address syntax");
	path_bad("FROM:<a.@b.c>", "5.1.3 Bad address syntax");
	path_bad("FROM:<ab.c>", "5.1.3 Bad address syntax");
	path_bad("FROM:<a b@c.d>", "5.1.3 Bad address syntax");
	path_bad("FROM:<a@b c.d>", "5.1.3 Bad address syntax");
	path_bad("FROM:<a@[1.2.3.4>", "5.1.3 Bad address syntax");
	path_bad("FROM:<\"a b@c.d>", "5.1.3 Bad address syntax");
}

Test(smtp, path_source_route)
{
	path_ok("FROM:<@x,@y:u@d>", "FROM:", "u@d");
	path_ok("TO:<@relay.example:user@dest.example>", "TO:",
	    "user@dest.example");
	path_bad("FROM:<@x,@y>", "5.1.3 Bad source route");
	path_bad("FROM:<@x>:u@d", "5.1.3 Bad source route");
	/* a route to nowhere is not the null path */
	path_bad("FROM:<@x:>", "5.1.3 Bad source route");
	path_bad("FROM:<@x,@y:>", "5.1.3 Bad source route");
}

Test(smtp, path_quoted_and_literal)
{
	path_ok("FROM:<\"a b\"@c.d>", "FROM:", "\"a b\"@c.d");
	path_ok("FROM:<\"a>b\"@c.d>", "FROM:", "\"a>b\"@c.d");
	path_ok("FROM:<\"a\\\"b\"@c.d>", "FROM:", "\"a\\\"b\"@c.d");
	path_ok("TO:<u@[127.0.0.1]>", "TO:", "u@[127.0.0.1]");
	path_ok("TO:<u@[IPv6:::1]>", "TO:", "u@[IPv6:::1]");
}

/* a valid address of exactly n characters: 60 x, "@", dotted a's */
static void
mkaddr(char *buf, size_t n)
{
	size_t	 i;

	memset(buf, 'x', 60);
	buf[60] = '@';
	for (i = 61; i < n; i++)
		buf[i] = (i - 61) % 50 == 49 ? '.' : 'a';
	if (buf[n - 1] == '.')
		buf[n - 1] = 'a';
	buf[n] = '\0';
}

Test(smtp, path_too_long)
{
	struct smtp_param	 p[SMTP_MAX_PARAMS];
	char			 addr[512], args[600];
	char			 out[SMTP_PATH_MAX], small[8];
	const char		*err;
	int			 n;

	/* SMTP_PATH_MAX - 1 characters fit */
	mkaddr(addr, SMTP_PATH_MAX - 1);
	cr_assert_eq(smtp_parse_mailbox(addr), 0);
	snprintf(args, sizeof(args), "FROM:<%s> SIZE=1", addr);
	cr_assert_eq(path(args, "FROM:", out, sizeof(out), p, &n, &err), 0,
	    "%s", err ? err : "");
	cr_assert_str_eq(out, addr);
	cr_assert_eq(n, 1);

	/* one more does not */
	mkaddr(addr, SMTP_PATH_MAX);
	cr_assert_eq(smtp_parse_mailbox(addr), 0);
	snprintf(args, sizeof(args), "FROM:<%s>", addr);
	cr_assert_eq(path(args, "FROM:", out, sizeof(out), p, &n, &err), -1);
	cr_assert_str_eq(err, "5.1.3 Address too long");

	/* far too long, into a big buffer: still refused */
	{
		char	 big[1024];

		mkaddr(addr, 400);
		snprintf(args, sizeof(args), "TO:<%s>", addr);
		cr_assert_eq(path(args, "TO:", big, sizeof(big), p, &n, &err),
		    -1);
		cr_assert_str_eq(err, "5.1.3 Address too long");
	}

	/* the caller's buffer bounds the copy too */
	cr_assert_eq(path("FROM:<abc@d.ef>", "FROM:", small, sizeof(small),
	    p, &n, &err), -1);
	cr_assert_str_eq(err, "5.1.3 Address too long");
	cr_assert_eq(path("FROM:<a@d.ef>", "FROM:", small, sizeof(small),
	    p, &n, &err), 0);
	cr_assert_str_eq(small, "a@d.ef");
}

Test(smtp, domain)
{
	cr_assert_eq(smtp_parse_domain("example.com", 0), 0);
	cr_assert_eq(smtp_parse_domain("a", 0), 0);
	cr_assert_eq(smtp_parse_domain("mx-1.example.com", 0), 0);
	cr_assert_eq(smtp_parse_domain("1.2.3.4", 0), 0);
	cr_assert_eq(smtp_parse_domain("example.com.", 0), 0);
	cr_assert_eq(smtp_parse_domain("_dmarc.example.com", 0), -1);
	cr_assert_eq(smtp_parse_domain("my_host.example.com", 0), 0);

	cr_assert_eq(smtp_parse_domain("", 0), -1);
	cr_assert_eq(smtp_parse_domain(".", 0), -1);
	cr_assert_eq(smtp_parse_domain(".example.com", 0), -1);
	cr_assert_eq(smtp_parse_domain("example..com", 0), -1);
	cr_assert_eq(smtp_parse_domain("-a.com", 0), -1);
	cr_assert_eq(smtp_parse_domain("a-.com", 0), -1);
	cr_assert_eq(smtp_parse_domain("a.com-", 0), -1);
	cr_assert_eq(smtp_parse_domain("a b.com", 0), -1);
	cr_assert_eq(smtp_parse_domain("a@b.com", 0), -1);

	cr_assert_eq(smtp_parse_domain("[127.0.0.1]", 1), 0);
	cr_assert_eq(smtp_parse_domain("[IPv6:::1]", 1), 0);
	cr_assert_eq(smtp_parse_domain("[127.0.0.1]", 0), -1);
	cr_assert_eq(smtp_parse_domain("[]", 1), -1);
	cr_assert_eq(smtp_parse_domain("[127.0.0.1", 1), -1);
	cr_assert_eq(smtp_parse_domain("[1 2]", 1), -1);
}

Test(smtp, domain_lengths)
{
	char	 d[400];

	/* a 63-character label is the maximum */
	memset(d, 'a', 63);
	strcpy(d + 63, ".com");
	cr_assert_eq(smtp_parse_domain(d, 0), 0);
	memset(d, 'a', 64);
	strcpy(d + 64, ".com");
	cr_assert_eq(smtp_parse_domain(d, 0), -1);

	/* 255 characters in all */
	memset(d, 0, sizeof(d));
	while (strlen(d) < SMTP_DOMAIN_MAX)
		strcat(d, "abcd.");
	d[SMTP_DOMAIN_MAX - 1] = 'x';
	d[SMTP_DOMAIN_MAX] = '\0';
	cr_assert_eq(strlen(d), SMTP_DOMAIN_MAX);
	cr_assert_eq(smtp_parse_domain(d, 0), 0);
	d[SMTP_DOMAIN_MAX] = 'x';
	d[SMTP_DOMAIN_MAX + 1] = '\0';
	cr_assert_eq(smtp_parse_domain(d, 0), -1);
}

Test(smtp, mailbox)
{
	cr_assert_eq(smtp_parse_mailbox("a@b.c"), 0);
	cr_assert_eq(smtp_parse_mailbox("a!#$%&'*+-/=?^_`{|}~@b.c"), 0);
	cr_assert_eq(smtp_parse_mailbox("\"a b\"@c.d"), 0);
	cr_assert_eq(smtp_parse_mailbox("u@[127.0.0.1]"), 0);
	cr_assert_eq(smtp_parse_mailbox("a@"), -1);
	cr_assert_eq(smtp_parse_mailbox("@b"), -1);
	cr_assert_eq(smtp_parse_mailbox("a..b@c"), -1);
	cr_assert_eq(smtp_parse_mailbox("a@b..c"), -1);
	cr_assert_eq(smtp_parse_mailbox("a@-b.c"), -1);
	cr_assert_eq(smtp_parse_mailbox("a(b)@c.d"), -1);
	cr_assert_eq(smtp_parse_mailbox("\"a\"b@c.d"), -1);
	cr_assert_eq(smtp_parse_mailbox("\"a\\\"@c.d"), -1);
}

Test(smtp, mailbox_local_part_length)
{
	char	 m[200];

	memset(m, 'x', 64);
	strcpy(m + 64, "@b.c");
	cr_assert_eq(smtp_parse_mailbox(m), 0);
	memset(m, 'x', 65);
	strcpy(m + 65, "@b.c");
	cr_assert_eq(smtp_parse_mailbox(m), -1);
}

static void
reply(const char *line, int wcode, int wmore, const char *wtext)
{
	int		 code = -1, more = -1;
	const char	*text = NULL;

	cr_assert_eq(smtp_parse_reply_line(line, &code, &more, &text), 0,
	    "\"%s\" rejected", line);
	cr_assert_eq(code, wcode, "code of \"%s\"", line);
	cr_assert_eq(more, wmore, "more of \"%s\"", line);
	cr_assert_str_eq(text, wtext, "text of \"%s\"", line);
}

Test(smtp, reply_line)
{
	int		 code, more;
	const char	*text;

	reply("250-x", 250, 1, "x");
	reply("250 ok", 250, 0, "ok");
	reply("250", 250, 0, "");
	reply("250 ", 250, 0, "");
	reply("220 mx.example ESMTP ready", 220, 0, "mx.example ESMTP ready");
	reply("421-", 421, 1, "");
	reply("554 5.7.1 denied", 554, 0, "5.7.1 denied");

	cr_assert_eq(smtp_parse_reply_line("2x0 bad", &code, &more, &text),
	    -1);
	cr_assert_eq(smtp_parse_reply_line("600 bad", &code, &more, &text),
	    -1);
	cr_assert_eq(smtp_parse_reply_line("199 bad", &code, &more, &text),
	    -1);
	cr_assert_eq(smtp_parse_reply_line("", &code, &more, &text), -1);
	cr_assert_eq(smtp_parse_reply_line("2", &code, &more, &text), -1);
	cr_assert_eq(smtp_parse_reply_line("25", &code, &more, &text), -1);
	cr_assert_eq(smtp_parse_reply_line("250x", &code, &more, &text), -1);
	cr_assert_eq(smtp_parse_reply_line("2500 x", &code, &more, &text),
	    -1);
	cr_assert_eq(smtp_parse_reply_line("ok", &code, &more, &text), -1);
}

static void
enh(const char *text, const char *want)
{
	char	 out[16];

	memset(out, 'Z', sizeof(out));
	cr_assert_eq(smtp_parse_enhanced(text, out, sizeof(out)), 0,
	    "\"%s\" rejected", text);
	cr_assert_str_eq(out, want);
}

Test(smtp, enhanced)
{
	char	 out[16];

	enh("2.0.0 Ok", "2.0.0");
	enh("5.7.1", "5.7.1");
	enh("4.4.2 timeout", "4.4.2");
	enh("5.123.456 x", "5.123.456");
	enh("2.1.5 Recipient ok", "2.1.5");

	cr_assert_eq(smtp_parse_enhanced("", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("Ok", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("1.0.0 x", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("6.0.0 x", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("2.0 x", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("2.0.", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("2..0 x", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("2.0.0x", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("2.0.0.0", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("2.1000.0", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("2.0.1000", out, sizeof(out)), -1);
	cr_assert_eq(smtp_parse_enhanced("25.0.0", out, sizeof(out)), -1);
	/* too small an output buffer */
	cr_assert_eq(smtp_parse_enhanced("2.0.0 Ok", out, 5), -1);
	cr_assert_eq(smtp_parse_enhanced("2.0.0 Ok", out, 6), 0);
	cr_assert_str_eq(out, "2.0.0");
}

/* RFC 6531: UTF-8 in local parts and domains, well-formed only */
Test(smtp, mailbox_utf8)
{
	/* 1: valid, needs SMTPUTF8 */
	cr_assert_eq(smtp_parse_mailbox("j\xc3\xb6rg@example.org"), 1);
	cr_assert_eq(smtp_parse_mailbox("user@b\xc3\xbc" "cher.example"), 1);
	cr_assert_eq(smtp_parse_mailbox("\xe7\x94\xa8\xe6\x88\xb7@"
	    "\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac\xe5\x8f\xb8"), 1);
	cr_assert_eq(smtp_parse_mailbox("\"j\xc3\xb6rg s\"@example.org"), 1);
	cr_assert_eq(smtp_parse_mailbox("a.\xf0\x9f\x90\xa6@example.org"), 1);
	cr_assert_eq(smtp_parse_mailbox("a@x\xc3\xa9-y.example"), 1);
	/* 0: ASCII */
	cr_assert_eq(smtp_parse_mailbox("a@xn--bcher-kva.example"), 0);

	/* malformed UTF-8, always refused */
	cr_assert_eq(smtp_parse_mailbox("j\xc3@example.org"), -1);
	cr_assert_eq(smtp_parse_mailbox("j\xb6rg@example.org"), -1);
	cr_assert_eq(smtp_parse_mailbox("j\xc0\xafrg@example.org"), -1,
	    "overlong");
	cr_assert_eq(smtp_parse_mailbox("j\xe0\x80\xafrg@example.org"), -1,
	    "overlong");
	cr_assert_eq(smtp_parse_mailbox("j\xed\xa0\x80@example.org"), -1,
	    "surrogate");
	cr_assert_eq(smtp_parse_mailbox("j\xf4\x90\x80\x80@example.org"), -1,
	    "above U+10FFFF");
	cr_assert_eq(smtp_parse_mailbox("j\xf8\x88\x80\x80\x80@example.org"),
	    -1);
	cr_assert_eq(smtp_parse_mailbox("j\xc2\x85@example.org"), -1, "C1");
	cr_assert_eq(smtp_parse_mailbox("a@b\xc3.example"), -1);
	cr_assert_eq(smtp_parse_mailbox("a@b\xff.example"), -1);
	cr_assert_eq(smtp_parse_mailbox("\"a\xc3\"@example.org"), -1);
	cr_assert_eq(smtp_parse_mailbox("\"a\\\xc3\xb6\"@example.org"), -1,
	    "a quoted pair is ASCII");
	/* UTF-8 does not make other bad syntax good */
	cr_assert_eq(smtp_parse_mailbox("a@\xc3\xa9..example"), -1);
	cr_assert_eq(smtp_parse_mailbox("a@-\xc3\xa9.example"), -1);
	cr_assert_eq(smtp_parse_mailbox("a@[\xc3\xa9]"), -1);
	/* not in the domains of the configuration */
	cr_assert_eq(smtp_parse_domain("b\xc3\xbc" "cher.example", 0), -1);

	cr_assert_eq(smtp_utf8_check("abc"), 0);
	cr_assert_eq(smtp_utf8_check("\xc3\xa9t\xc3\xa9"), 1);
	cr_assert_eq(smtp_utf8_check("\xc3"), -1);
	cr_assert_eq(smtp_utf8_check("\xe2\x82"), -1);
}

Test(smtp, mailbox_utf8_label_length)
{
	char	 m[400];
	size_t	 i;

	/* 63 characters of two octets each: a U-label's limit */
	strcpy(m, "a@");
	for (i = 0; i < 63; i++)
		strcat(m, "\xc3\xa9");
	strcat(m, ".example");
	cr_assert_eq(smtp_parse_mailbox(m), 1);
	strcpy(m, "a@x");
	for (i = 0; i < 63; i++)
		strcat(m, "\xc3\xa9");
	strcat(m, ".example");
	cr_assert_eq(smtp_parse_mailbox(m), -1);
}

Test(smtp, path_utf8)
{
	struct smtp_param	 p[SMTP_MAX_PARAMS];
	char			 out[SMTP_PATH_MAX];
	const char		*err;
	int			 n;

	cr_assert_eq(path("FROM:<j\xc3\xb6rg@example.org> SMTPUTF8", "FROM:",
	    out, sizeof(out), p, &n, &err), 1);
	cr_assert_str_eq(out, "j\xc3\xb6rg@example.org");
	cr_assert_eq(n, 1);
	cr_assert_str_eq(p[0].key, "SMTPUTF8");
	cr_assert_null(p[0].value);
	cr_assert_eq(path("TO:<a@b\xc3\xbc" "cher.example>", "TO:", out,
	    sizeof(out), p, &n, &err), 1);
	cr_assert_eq(path("FROM:<a@example.org> SMTPUTF8", "FROM:", out,
	    sizeof(out), p, &n, &err), 0);
	cr_assert_eq(path("FROM:<> SMTPUTF8", "FROM:", out, sizeof(out), p,
	    &n, &err), 0);

	path_bad("FROM:<j\xc3rg@example.org>",
	    "5.1.3 Bad address syntax: malformed UTF-8");
	path_bad("FROM:<a@b\xc0\x80.example>",
	    "5.1.3 Bad address syntax: malformed UTF-8");
	path_bad("FROM:<j\xc3\xb6rg@>", "5.1.3 Bad address syntax");
}

/* RFC 5321 4.1.1.3: "RCPT TO:<Postmaster>" has no domain */
Test(smtp, path_postmaster)
{
	path_ok("TO:<Postmaster>", "TO:", "Postmaster");
	path_ok("to:<postmaster>", "TO:", "postmaster");
	path_ok("TO:<POSTMASTER>", "TO:", "POSTMASTER");
	path_ok("TO:<Postmaster@example.org>", "TO:", "Postmaster@example.org");
	path_bad("FROM:<Postmaster>", "5.1.3 Bad address syntax");
	path_bad("FROM:<postmasterx>", "5.1.3 Bad address syntax");
}
