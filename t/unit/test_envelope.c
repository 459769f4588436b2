/*
 * test_envelope.c - the on-disk envelope: round trip and strict decode.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "envelope.h"

#define GOOD_ID	"0123456789abcdef"

static const char good[] =
    "petrel-envelope 1\n"
    "id " GOOD_ID "\n"
    "arrival 1700000000\n"
    "helo client.example\n"
    "client 192.0.2.1\n"
    "from a@b.c\n"
    "body 8BITMIME\n"
    "size 1234\n"
    "rcpt x@y.z\n"
    "end\n";

/* decode text, expecting failure with an error text containing want */
static void
decode_bad(const char *text, size_t len, const char *want)
{
	struct envelope	 e;
	const char	*err = NULL;

	cr_assert_eq(envelope_decode(&e, text, len, &err), -1,
	    "accepted:\n%s", text);
	cr_assert_not_null(err);
	cr_assert(strstr(err, want) != NULL, "error \"%s\", want \"%s\"",
	    err, want);
	/* cleared on failure: nothing left to free */
	cr_assert_null(e.helo);
	cr_assert_null(e.from);
	cr_assert_null(e.rcpts);
	cr_assert_eq(e.nrcpt, 0);
}

/* good with line "from" replaced by repl (which has its own newline) */
static char *
replace_line(const char *key, const char *repl)
{
	const char	*p;
	char		*out;
	size_t		 klen = strlen(key);

	for (p = good; *p; p = strchr(p, '\n') + 1)
		if (strncmp(p, key, klen) == 0 &&
		    (p[klen] == ' ' || p[klen] == '\n'))
			break;
	cr_assert(*p != '\0', "no line %s", key);
	if (asprintf(&out, "%.*s%s%s", (int)(p - good), good, repl,
	    strchr(p, '\n') + 1) == -1)
		cr_assert_fail("asprintf");
	return out;
}

static void
decode_bad_repl(const char *key, const char *repl, const char *want)
{
	char	*t = replace_line(key, repl);

	decode_bad(t, strlen(t), want);
	free(t);
}

Test(envelope, roundtrip)
{
	char		*rcpts[] = { "one@example.com", "two@example.org",
			    "\"x y\"@[192.0.2.1]" };
	struct envelope	 e, d;
	char		*buf = NULL;
	size_t		 len = 0;
	const char	*err = NULL;
	int		 i;

	memset(&e, 0, sizeof(e));
	strcpy(e.id, GOOD_ID);
	e.arrival = 1700000123;
	e.helo = "[192.0.2.1]";
	e.client = "192.0.2.1";
	e.from = "";
	e.body = "7BIT";
	e.size = 18446744073709551615ULL;
	e.nrcpt = 3;
	e.rcpts = rcpts;
	cr_assert_eq(envelope_encode(&e, &buf, &len), 0);
	cr_assert_not_null(buf);
	cr_assert_eq(len, strlen(buf));
	cr_assert_eq(strncmp(buf, "petrel-envelope 1\n", 18), 0);
	cr_assert_eq(strcmp(buf + len - 4, "end\n"), 0);

	cr_assert_eq(envelope_decode(&d, buf, len, &err), 0, "%s", err);
	cr_assert_str_eq(d.id, GOOD_ID);
	cr_assert_eq(d.arrival, 1700000123);
	cr_assert_str_eq(d.helo, "[192.0.2.1]");
	cr_assert_str_eq(d.client, "192.0.2.1");
	cr_assert_str_eq(d.from, "");
	cr_assert_str_eq(d.body, "7BIT");
	cr_assert_eq(d.size, 18446744073709551615ULL);
	cr_assert_eq(d.nrcpt, 3);
	for (i = 0; i < 3; i++)
		cr_assert_str_eq(d.rcpts[i], rcpts[i]);
	envelope_clear(&d);
	cr_assert_null(d.rcpts);
	cr_assert_eq(d.nrcpt, 0);
	free(buf);
}

Test(envelope, roundtrip_sender)
{
	char		*rcpts[] = { "x@y.z" };
	struct envelope	 e, d;
	char		*buf = NULL, *buf2 = NULL;
	size_t		 len = 0, len2 = 0;
	const char	*err;

	memset(&e, 0, sizeof(e));
	msgid_new(e.id);
	e.arrival = 0;
	e.helo = "client.example";
	e.client = "2001:db8::1";
	e.from = "a@b.c";
	e.body = "8BITMIME";
	e.size = 0;
	e.nrcpt = 1;
	e.rcpts = rcpts;
	cr_assert_eq(envelope_encode(&e, &buf, &len), 0);
	cr_assert_eq(envelope_decode(&d, buf, len, &err), 0, "%s", err);
	cr_assert_str_eq(d.id, e.id);
	cr_assert_str_eq(d.from, "a@b.c");
	cr_assert_str_eq(d.client, "2001:db8::1");
	cr_assert_eq(d.arrival, 0);
	cr_assert_eq(d.size, 0);
	/* encoding the decoded envelope gives the same bytes */
	cr_assert_eq(envelope_encode(&d, &buf2, &len2), 0);
	cr_assert_eq(len2, len);
	cr_assert_eq(memcmp(buf, buf2, len), 0);
	envelope_clear(&d);
	free(buf);
	free(buf2);
}

Test(envelope, decode_good)
{
	struct envelope	 e;
	const char	*err;

	cr_assert_eq(envelope_decode(&e, good, strlen(good), &err), 0,
	    "%s", err);
	cr_assert_null(err);
	cr_assert_str_eq(e.from, "a@b.c");
	cr_assert_eq(e.size, 1234);
	cr_assert_eq(e.nrcpt, 1);
	envelope_clear(&e);
}

Test(envelope, decode_truncated)
{
	size_t	 l = strlen(good);
	size_t	 cut;

	/* no "end" line */
	decode_bad(good, l - 4, "no end line");
	/* "end" without its newline */
	decode_bad(good, l - 1, "no final newline");
	/* every shorter prefix is refused */
	for (cut = 0; cut < l; cut++) {
		struct envelope	 e;
		const char	*err;

		cr_assert_eq(envelope_decode(&e, good, cut, &err), -1,
		    "prefix of %zu bytes accepted", cut);
		cr_assert_not_null(err);
	}
}

Test(envelope, decode_after_end)
{
	char	 buf[512];

	snprintf(buf, sizeof(buf), "%srcpt late@example.com\n", good);
	decode_bad(buf, strlen(buf), "data after end");
	snprintf(buf, sizeof(buf), "%s\n", good);
	decode_bad(buf, strlen(buf), "data after end");
	snprintf(buf, sizeof(buf), "%send\n", good);
	decode_bad(buf, strlen(buf), "data after end");
}

Test(envelope, decode_version)
{
	decode_bad_repl("petrel-envelope", "petrel-envelope 2\n",
	    "not a version 1");
	decode_bad_repl("petrel-envelope", "petrel-envelope 10\n",
	    "not a version 1");
	decode_bad_repl("petrel-envelope", "petrel-envelope\n",
	    "not a version 1");
	decode_bad_repl("petrel-envelope", "petrel-envelop 1\n",
	    "not a version 1");
	decode_bad("", 0, "no end line");
}

Test(envelope, decode_unknown_key)
{
	decode_bad_repl("body", "body 7BIT\nflavour vanilla\n", "unknown key");
	decode_bad_repl("body", "body 7BIT\n\n", "unknown key");
	decode_bad_repl("body", "body 7BIT\nend \n", "unknown key");
	decode_bad_repl("body", "body 7BIT\nFROM a@b.c\n", "unknown key");
}

Test(envelope, decode_bad_id)
{
	decode_bad_repl("id", "id 0123456789ABCDEF\n", "bad id");
	decode_bad_repl("id", "id 0123456789abcde\n", "bad id");
	decode_bad_repl("id", "id 0123456789abcdef0\n", "bad id");
	decode_bad_repl("id", "id 0123456789abcdeg\n", "bad id");
	decode_bad_repl("id", "id ../../etc/passw\n", "bad id");
	decode_bad_repl("id", "id\n", "bad id");
	decode_bad_repl("id", "\n", "unknown key");
}

Test(envelope, decode_bad_number)
{
	decode_bad_repl("size", "size -1\n", "bad number");
	decode_bad_repl("size", "size 12x\n", "bad number");
	decode_bad_repl("size", "size \n", "bad number");
	decode_bad_repl("size", "size 99999999999999999999999\n",
	    "bad number");
	decode_bad_repl("arrival", "arrival +5\n", "bad number");
	decode_bad_repl("arrival", "arrival  5\n", "bad number");
}

Test(envelope, decode_duplicate)
{
	decode_bad_repl("from", "from a@b.c\nfrom d@e.f\n",
	    "field given twice");
	decode_bad_repl("helo", "helo x\nhelo y\n", "field given twice");
	decode_bad_repl("client", "client x\nclient y\n",
	    "field given twice");
	decode_bad_repl("body", "body 7BIT\nbody 8BITMIME\n",
	    "field given twice");
	decode_bad_repl("id", "id " GOOD_ID "\nid fedcba9876543210\n",
	    "field given twice");
	decode_bad_repl("size", "size 1\nsize 2\n", "field given twice");
	decode_bad_repl("arrival", "arrival 1\narrival 2\n",
	    "field given twice");
}

Test(envelope, decode_missing)
{
	decode_bad_repl("rcpt", "", "no recipients");
	decode_bad_repl("rcpt", "rcpt \n", "empty recipient");
	decode_bad_repl("from", "", "missing field");
	decode_bad_repl("id", "", "missing field");
	decode_bad_repl("size", "", "missing field");
	decode_bad_repl("arrival", "", "missing field");
	decode_bad_repl("body", "", "missing field");
	decode_bad_repl("helo", "", "missing field");
	decode_bad_repl("client", "", "missing field");
}

Test(envelope, decode_nul)
{
	char	 buf[512];
	size_t	 l = strlen(good);
	char	*p;

	memcpy(buf, good, l);
	p = strstr(buf, "a@b.c");
	p[1] = '\0';
	decode_bad(buf, l, "NUL byte");
	memcpy(buf, good, l);
	buf[l] = '\0';
	decode_bad(buf, l + 1, "NUL byte");
}

Test(envelope, decode_many_rcpts)
{
	struct envelope	 e;
	const char	*err;
	char		*t, *rc;
	size_t		 i, off = 0, cap = 200 * 32;

	rc = malloc(cap);
	cr_assert_not_null(rc);
	for (i = 0; i < 200; i++)
		off += snprintf(rc + off, cap - off, "rcpt r%zu@example.com\n",
		    i);
	t = replace_line("rcpt", rc);
	cr_assert_eq(envelope_decode(&e, t, strlen(t), &err), 0, "%s", err);
	cr_assert_eq(e.nrcpt, 200);
	cr_assert_str_eq(e.rcpts[0], "r0@example.com");
	cr_assert_str_eq(e.rcpts[199], "r199@example.com");
	envelope_clear(&e);
	free(t);
	free(rc);
}

Test(envelope, encode_refuses_crlf)
{
	char		*rcpts[] = { "ok@example.com", "bad\r\nrcpt evil@x" };
	struct envelope	 e;
	char		*buf = NULL;
	size_t		 len = 0;

	memset(&e, 0, sizeof(e));
	strcpy(e.id, GOOD_ID);
	e.helo = "h";
	e.client = "c";
	e.from = "a@b.c";
	e.body = "7BIT";
	e.nrcpt = 1;
	e.rcpts = rcpts;
	cr_assert_eq(envelope_encode(&e, &buf, &len), 0);
	free(buf);
	buf = NULL;

	e.nrcpt = 2;
	cr_assert_eq(envelope_encode(&e, &buf, &len), -1);
	e.nrcpt = 1;

	e.from = "a@b.c\nrcpt evil@x";
	cr_assert_eq(envelope_encode(&e, &buf, &len), -1);
	e.from = "a@b.c";
	e.helo = "h\r";
	cr_assert_eq(envelope_encode(&e, &buf, &len), -1);
	e.helo = "h";
	e.client = "\nc";
	cr_assert_eq(envelope_encode(&e, &buf, &len), -1);
	e.client = "c";
	e.body = "7BIT\n";
	cr_assert_eq(envelope_encode(&e, &buf, &len), -1);
	cr_assert_null(buf);
}

Test(envelope, msgid)
{
	char	 a[MSGID_LEN + 1], b[MSGID_LEN + 1];
	int	 i;

	memset(a, 'Z', sizeof(a));
	msgid_new(a);
	cr_assert_eq(strlen(a), MSGID_LEN);
	for (i = 0; i < MSGID_LEN; i++)
		cr_assert(strchr("0123456789abcdef", a[i]) != NULL,
		    "bad char in %s", a);
	cr_assert(msgid_valid(a));
	msgid_new(b);
	cr_assert(msgid_valid(b));
	cr_assert_str_neq(a, b);

	/* a hundred more, all distinct from the first two */
	for (i = 0; i < 100; i++) {
		msgid_new(b);
		cr_assert(msgid_valid(b));
		cr_assert_str_neq(a, b);
	}
}

Test(envelope, msgid_valid)
{
	cr_assert(msgid_valid("0123456789abcdef"));
	cr_assert(msgid_valid("0000000000000000"));
	cr_assert_not(msgid_valid("0123456789ABCDEF"));
	cr_assert_not(msgid_valid("0123456789abcde"));
	cr_assert_not(msgid_valid("0123456789abcdef0"));
	cr_assert_not(msgid_valid("0123456789abcdeg"));
	cr_assert_not(msgid_valid(""));
	cr_assert_not(msgid_valid("../0123456789abc"));
}

/* ids made together share their first byte, the queue directory */
Test(envelope, msgid_directory)
{
	char	 a[MSGID_LEN + 1], b[MSGID_LEN + 1];
	int	 i, same = 0;

	for (i = 0; i < 10; i++) {
		msgid_new(a);
		msgid_new(b);
		same += memcmp(a, b, 2) == 0;
	}
	/* a 64 s step can fall between the two of one pair, not of all */
	cr_assert_geq(same, 9);
	cr_assert_eq(msgid_dir("ff23456789abcdef"), 255);
	cr_assert_eq(msgid_dir("0a23456789abcdef"), 10);
	cr_assert_eq(msgid_dir("zz23456789abcdef"), -1);
}

Test(envelope, trailer_roundtrip)
{
	char		 t[MSGFILE_TRAILER_LEN + 1];
	uint64_t	 textlen;
	size_t		 envlen;

	msgfile_trailer(t, 4321, 250);
	cr_assert_eq(strlen(t), MSGFILE_TRAILER_LEN);
	cr_assert_str_eq(t, "petrel-tail 00000000000010e1 000000fa\n");
	cr_assert_eq(msgfile_trailer_parse(t, 4321 + 250 +
	    MSGFILE_TRAILER_LEN, &textlen, &envlen), 0);
	cr_assert_eq(textlen, 4321);
	cr_assert_eq(envlen, 250);
	/* the lengths must add up to the file's */
	cr_assert_eq(msgfile_trailer_parse(t, 4321 + 250 +
	    MSGFILE_TRAILER_LEN + 1, &textlen, &envlen), -1);
	cr_assert_eq(msgfile_trailer_parse(t, 100, &textlen, &envlen), -1);
}

Test(envelope, trailer_refused)
{
	uint64_t	 textlen;
	size_t		 envlen;
	const char	*bad[] = {
		"petrel-tail 00000000000010E1 000000fa\n",	/* upper case */
		"petrel-tail 00000000000010e1 000000fa ",	/* no newline */
		"petrel-tall 00000000000010e1 000000fa\n",
		"petrel-tail 00000000000010e1-000000fa\n",
		"petrel-tail 0000000000001 e1 000000fa\n",
		"petrel-tail ffffffffffffffff 000000fa\n",	/* too long */
		"petrel-tail 0000000000000000 ffffffff\n",	/* envelope too big */
	};
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(msgfile_trailer_parse(bad[i], 4321 + 250 +
		    MSGFILE_TRAILER_LEN, &textlen, &envlen), -1, "%s", bad[i]);
}

/* Readers of the text stop where the envelope begins. */
Test(envelope, text_length)
{
	char	 path[] = "/tmp/petrel-msgfile.XXXXXX";
	char	 t[MSGFILE_TRAILER_LEN + 1];
	int	 fd;

	cr_assert_neq(fd = mkstemp(path), -1);
	unlink(path);
	cr_assert_eq(write(fd, "Subject: x\r\n", 12), 12);
	/* text alone (a spool of an earlier version): all of it */
	cr_assert_eq(msgfile_text_length(fd), 12);
	cr_assert_eq(write(fd, good, strlen(good)), (ssize_t)strlen(good));
	msgfile_trailer(t, 12, strlen(good));
	cr_assert_eq(write(fd, t, MSGFILE_TRAILER_LEN), MSGFILE_TRAILER_LEN);
	cr_assert_eq(msgfile_text_length(fd), 12);
	/* a trailer that does not add up is text */
	cr_assert_eq(write(fd, "x", 1), 1);
	cr_assert_eq(msgfile_text_length(fd), 12 + (off_t)strlen(good) +
	    MSGFILE_TRAILER_LEN + 1);
	close(fd);
}
