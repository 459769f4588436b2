/*
 * test_wire.c - the frame codecs of wirecodec.c: what one side builds
 * the other reads back whole, and anything malformed is refused.
 */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "keysource.h"
#include "wire.h"
#include "wirecodec.h"

/* The payload of a built mbuf, as a reader over it would see it. */
static void
reader_of(struct mbuf *m, struct mreader *r, struct imsg *im)
{
	memset(im, 0, sizeof(*im));
	im->data = m->buf;
	im->datalen = m->len;
	im->fd = -1;
	m_reader(r, im);
}

Test(wire, commit_roundtrip)
{
	const char	*rcpts[] = { "a@example.net", "b@example.net" };
	struct wire_commit w = { "0123456789abcdef", "helo.test", "127.0.0.1",
	    "from@example.org", "8BITMIME", 1, 1234, 99, 2, rcpts }, g;
	struct mbuf	 m;
	struct mreader	 r;
	struct imsg	 im;

	m_create(&m, IMSG_SMTPD_MSG_COMMIT, 1, -1);
	wire_commit_add(&m, &w);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_commit_get(&r, &g), 0);
	cr_assert_str_eq(g.id, w.id);
	cr_assert_str_eq(g.helo, w.helo);
	cr_assert_str_eq(g.client, w.client);
	cr_assert_str_eq(g.from, w.from);
	cr_assert_str_eq(g.body, "8BITMIME");
	cr_assert_eq(g.smtputf8, 1);
	cr_assert_eq(g.size, 1234);
	cr_assert_eq(g.arrival, 99);
	cr_assert_eq(g.nrcpt, 2);
	cr_assert_str_eq(g.rcpts[1], "b@example.net");
	wire_commit_clear(&g);
	m_discard(&m);
}

Test(wire, deliver_roundtrip_and_refusals)
{
	const char	*rcpts[] = { "a@example.net" };
	struct wire_deliver w = { "0123456789abcdef", "example.net",
	    "", "7BIT", 0, 10, 1, rcpts, 1 }, g;
	struct mbuf	 m;
	struct mreader	 r;
	struct imsg	 im;

	m_create(&m, IMSG_QUEUED_DELIVER, 1, -1);
	wire_deliver_add(&m, &w);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_deliver_get(&r, &g), 0);
	cr_assert_str_eq(g.domain, "example.net");
	cr_assert_str_eq(g.from, "");
	cr_assert_eq(g.nrcpt, 1);
	cr_assert_str_eq(g.rcpts[0], "a@example.net");
	cr_assert_eq(g.final, 1);
	wire_deliver_clear(&g);
	m_discard(&m);

	/* final is 0 or 1 */
	m_create(&m, IMSG_QUEUED_DELIVER, 1, -1);
	w.final = 0;
	wire_deliver_add(&m, &w);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_deliver_get(&r, &g), 0);
	cr_assert_eq(g.final, 0);
	wire_deliver_clear(&g);
	m_discard(&m);

	/* bytes left over */
	m_create(&m, IMSG_QUEUED_DELIVER, 1, -1);
	wire_deliver_add(&m, &w);
	m_add_u8(&m, 0);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_deliver_get(&r, &g), -1);
	m_discard(&m);

	/* an unknown body type */
	w.body = "BINARYMIME";
	m_create(&m, IMSG_QUEUED_DELIVER, 1, -1);
	wire_deliver_add(&m, &w);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_deliver_get(&r, &g), -1);
	m_discard(&m);

	/* no recipients */
	w.body = "7BIT";
	w.nrcpt = 0;
	m_create(&m, IMSG_QUEUED_DELIVER, 1, -1);
	wire_deliver_add(&m, &w);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_deliver_get(&r, &g), -1);
	m_discard(&m);
}

Test(wire, result_roundtrip_and_refusals)
{
	uint8_t		 st[] = { RCPT_DELIVERED, RCPT_PERMFAIL };
	const char	*resp[] = { "250 ok", "550 5.1.1 no" };
	struct wire_result w = { "mx[192.0.2.1]:25", "TLSv1.3",
	    "TLS_AES_256_GCM_SHA384", "scott", 2, st, resp }, g;
	struct mbuf	 m;
	struct mreader	 r;
	struct imsg	 im;
	size_t		 len;

	m_create(&m, IMSG_DELIVERD_RESULT, 1, -1);
	wire_result_add(&m, &w);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_result_get(&r, &g), 0);
	cr_assert_eq(g.nrcpt, 2);
	cr_assert_str_eq(g.tls, "TLSv1.3");
	cr_assert_str_eq(g.cipher, "TLS_AES_256_GCM_SHA384");
	cr_assert_str_eq(g.auth, "scott");
	cr_assert_eq(g.status[1], RCPT_PERMFAIL);
	cr_assert_str_eq(g.response[1], "550 5.1.1 no");
	wire_result_clear(&g);

	/* cut short at every length: never accepted */
	for (len = 0; len < m.len; len++) {
		im.datalen = len;
		m_reader(&r, &im);
		cr_assert_eq(wire_result_get(&r, &g), -1, "length %zu", len);
	}
	m_discard(&m);

	/* a status that does not exist */
	st[0] = RCPT_NOTTRIED + 1;
	m_create(&m, IMSG_DELIVERD_RESULT, 1, -1);
	wire_result_add(&m, &w);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_result_get(&r, &g), -1);
	m_discard(&m);
}

/*
 * The deliverd <-> keysd frames: a keysource request in each form read
 * back through the keysource parser, a spec the parser refuses
 * (answered, not a protocol error), garbled frames (protocol errors),
 * and the reply, whose buffer is wiped only when it carries a secret.
 */

/* Build a request for ks, read it back; returns wire_key_req_get's. */
static int
roundtrip(struct keysource *ks, int want, struct wire_key_req *g, char *err,
    size_t errlen)
{
	struct wire_key_req w = { want, ks, NULL };
	struct mbuf	 m;
	struct mreader	 r;
	struct imsg	 im;
	int		 rc;

	m_create(&m, IMSG_DELIVERD_KEY, 7, -1);
	wire_key_req_add(&m, &w);
	cr_assert_eq(m.wipe, 1, "a request may hold key_data: wiped");
	reader_of(&m, &r, &im);
	rc = wire_key_req_get(&r, g, err, errlen);
	m_discard(&m);
	return rc;
}

static struct keysource *
table(const char *const *kv)
{
	struct keysource *ks = keysource_new();
	char		 err[256];

	for (; kv[0] != NULL; kv += 2)
		cr_assert_eq(keysource_set(ks, kv[0], kv[1], strlen(kv[1]), err,
		    sizeof(err)), 0, "%s", err);
	return ks;
}

Test(wire, key_string_form_is_a_key_file)
{
	struct wire_key_req g;
	struct keysource *ks;
	char		 err[256] = "";

	cr_assert_not_null(ks = keysource_file("/etc/petrel/keys/pw", err,
	    sizeof(err)));
	cr_assert_eq(roundtrip(ks, KEY_WANT_SECRET, &g, err, sizeof(err)), 0);
	cr_assert_not_null(g.ks, "%s", err);
	cr_assert_eq(g.want, KEY_WANT_SECRET);
	cr_assert_eq(g.ks->kind, KS_FILE);
	cr_assert_str_eq(g.ks->path, "/etc/petrel/keys/pw");
	keysource_free(g.ks);
	keysource_free(ks);
}

Test(wire, key_key_data_and_key_file)
{
	static const char *const data[] = { "key_data", "tiger", NULL };
	static const char *const file[] = { "key_file", "/k/pw", NULL };
	struct wire_key_req g;
	struct keysource *ks;
	char		 err[256] = "";

	ks = table(data);
	cr_assert_eq(keysource_check(ks, err, sizeof(err)), 0);
	cr_assert_eq(roundtrip(ks, KEY_WANT_FINGERPRINT, &g, err,
	    sizeof(err)), 0);
	cr_assert_not_null(g.ks, "%s", err);
	cr_assert_eq(g.want, KEY_WANT_FINGERPRINT);
	cr_assert_eq(g.ks->kind, KS_DATA);
	cr_assert_str_eq(g.ks->data, "tiger");
	keysource_free(g.ks);
	keysource_free(ks);

	ks = table(file);
	cr_assert_eq(keysource_check(ks, err, sizeof(err)), 0);
	cr_assert_eq(roundtrip(ks, KEY_WANT_SECRET, &g, err, sizeof(err)), 0);
	cr_assert_not_null(g.ks, "%s", err);
	cr_assert_eq(g.ks->kind, KS_FILE);
	cr_assert_str_eq(g.ks->path, "/k/pw");
	keysource_free(g.ks);
	keysource_free(ks);
}

Test(wire, key_vault_with_every_field)
{
	static const char *const v[] = { "vault_mount", "secret",
	    "vault_path", "smtp-auth/example.com", "vault_key", "password",
	    "vault_address", "https://vault.example:8200",
	    "vault_token", "s.tok", "vault_namespace", "team", NULL };
	struct wire_key_req g;
	struct keysource *ks;
	char		 err[256] = "";

	ks = table(v);
	cr_assert_eq(keysource_check(ks, err, sizeof(err)), 0);
	cr_assert_eq(roundtrip(ks, KEY_WANT_SECRET, &g, err, sizeof(err)), 0);
	cr_assert_not_null(g.ks, "%s", err);
	cr_assert_eq(g.ks->kind, KS_VAULT);
	cr_assert_str_eq(g.ks->vault_mount, "secret");
	cr_assert_str_eq(g.ks->vault_path, "smtp-auth/example.com");
	cr_assert_str_eq(g.ks->vault_key, "password");
	cr_assert_str_eq(g.ks->vault_address, "https://vault.example:8200");
	cr_assert_str_eq(g.ks->vault_token, "s.tok");
	cr_assert_str_eq(g.ks->vault_namespace, "team");
	keysource_free(g.ks);
	keysource_free(ks);
}

Test(wire, key_vault_key_defaults_to_key)
{
	static const char *const v[] = { "vault_mount", "secret",
	    "vault_path", "p", NULL };
	struct wire_key_req g;
	struct keysource *ks;
	char		 err[256] = "";

	ks = table(v);	/* unchecked: vault_key not filled in yet */
	cr_assert_eq(roundtrip(ks, KEY_WANT_SECRET, &g, err, sizeof(err)), 0);
	cr_assert_not_null(g.ks, "%s", err);
	cr_assert_str_eq(g.ks->vault_key, "key");
	keysource_free(g.ks);
	keysource_free(ks);
}

Test(wire, key_refused_spec_is_an_answer_not_a_protocol_error)
{
	static const char *const both[] = { "key_data", "tiger", "key_file",
	    "/k/pw", NULL };
	static const char *const nopath[] = { "vault_mount", "secret", NULL };
	struct wire_key_req g;
	struct keysource *ks;
	char		 err[256] = "";

	ks = table(both);
	cr_assert_eq(roundtrip(ks, KEY_WANT_SECRET, &g, err, sizeof(err)), 0);
	cr_assert_null(g.ks);
	cr_assert_str_eq(err, "key_data and key_file do not go together in "
	    "one keysource");
	cr_assert_null(strstr(err, "tiger"));
	keysource_free(ks);

	ks = table(nopath);
	cr_assert_eq(roundtrip(ks, KEY_WANT_SECRET, &g, err, sizeof(err)), 0);
	cr_assert_null(g.ks);
	cr_assert(strstr(err, "vault_path missing") != NULL, "%s", err);
	keysource_free(ks);
}

/* A frame built by hand: want, n, n x (name, value). */
static int
raw(uint8_t want, uint32_t n, const char *const *kv, int extra,
    char *err, size_t errlen, struct wire_key_req *g)
{
	struct mbuf	 m;
	struct mreader	 r;
	struct imsg	 im;
	int		 rc;

	m_create(&m, IMSG_DELIVERD_KEY, 1, -1);
	m_add_u8(&m, want);
	m_add_u32(&m, n);
	for (; kv != NULL && kv[0] != NULL; kv += 2) {
		m_add_string(&m, kv[0]);
		if (kv[1] != NULL)
			m_add_string(&m, kv[1]);
	}
	if (extra)
		m_add_u8(&m, 0);
	reader_of(&m, &r, &im);
	rc = wire_key_req_get(&r, g, err, errlen);
	m_discard(&m);
	return rc;
}

Test(wire, key_garbled_frames_are_protocol_errors)
{
	static const char *const ok[] = { "key_data", "tiger", NULL };
	static const char *const half[] = { "key_data", NULL, NULL };
	static const char *const unknown[] = { "password", "tiger", NULL };
	struct wire_key_req g;
	char		 err[256];

	cr_assert_eq(raw(KEY_WANT_SECRET, 1, ok, 0, err, sizeof(err), &g), 0);
	cr_assert_not_null(g.ks);
	keysource_free(g.ks);
	/* a want that does not exist */
	cr_assert_eq(raw(0, 1, ok, 0, err, sizeof(err), &g), -1);
	cr_assert_eq(raw(KEY_WANT_FINGERPRINT + 1, 1, ok, 0, err, sizeof(err),
	    &g), -1);
	/* more pairs announced than sent, a name without its value */
	cr_assert_eq(raw(KEY_WANT_SECRET, 2, ok, 0, err, sizeof(err), &g), -1);
	cr_assert_eq(raw(KEY_WANT_SECRET, 1, half, 0, err, sizeof(err), &g),
	    -1);
	/* a byte left over, an absurd count */
	cr_assert_eq(raw(KEY_WANT_SECRET, 1, ok, 1, err, sizeof(err), &g), -1);
	cr_assert_eq(raw(KEY_WANT_SECRET, 17, NULL, 0, err, sizeof(err), &g),
	    -1);
	/* an unknown key is the parser's refusal, not a protocol error */
	cr_assert_eq(raw(KEY_WANT_SECRET, 1, unknown, 0, err, sizeof(err),
	    &g), 0);
	cr_assert_null(g.ks);
	cr_assert(strstr(err, "unknown key 'password'") != NULL, "%s", err);
	cr_assert_null(strstr(err, "tiger"));
}

Test(wire, key_reply_roundtrip_and_wipe)
{
	struct wire_key_reply w = { KEY_OK, "0123456789abcdef0123456789abcdef",
	    "tiger", "" }, g;
	struct mbuf	 m;
	struct mreader	 r;
	struct imsg	 im;

	m_create(&m, IMSG_KEYSD_KEY, 3, -1);
	wire_key_reply_add(&m, &w);
	cr_assert_eq(m.wipe, 1, "a reply with a secret is wiped");
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_key_reply_get(&r, &g), 0);
	cr_assert_eq(g.status, KEY_OK);
	cr_assert_str_eq(g.fingerprint, w.fingerprint);
	cr_assert_str_eq(g.secret, "tiger");
	cr_assert_str_eq(g.error, "");
	m_discard(&m);

	w.status = KEY_FAILED;
	w.secret = "";
	w.fingerprint = "";
	w.error = "key file /x is empty: refused";
	m_create(&m, IMSG_KEYSD_KEY, 3, -1);
	wire_key_reply_add(&m, &w);
	cr_assert_eq(m.wipe, 0);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_key_reply_get(&r, &g), 0);
	cr_assert_eq(g.status, KEY_FAILED);
	cr_assert_str_eq(g.error, w.error);
	m_discard(&m);
}

/*
 * petrelctl's command frame: no arguments, some, and the refusals (too
 * many arguments, a short frame, bytes left over), each a protocol
 * error queued answers by closing the connection.
 */
Test(wire, ctl_roundtrip_and_refusals)
{
	const char	*argv[] = { "example.net", "--duration", "1h" };
	struct wire_ctl	 w = { "suspend", 3, argv }, g;
	struct mbuf	 m;
	struct mreader	 r;
	struct imsg	 im;
	uint32_t	 i;

	m_create(&m, IMSG_CTL_COMMAND, 0, -1);
	wire_ctl_add(&m, &w);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_ctl_get(&r, &g), 0);
	cr_assert_str_eq(g.command, "suspend");
	cr_assert_eq(g.argc, 3);
	cr_assert_str_eq(g.argv[2], "1h");
	wire_ctl_clear(&g);
	m_discard(&m);

	w.command = "status";
	w.argc = 0;
	m_create(&m, IMSG_CTL_COMMAND, 0, -1);
	wire_ctl_add(&m, &w);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_ctl_get(&r, &g), 0, "no arguments is a command too");
	cr_assert_eq(g.argc, 0);
	wire_ctl_clear(&g);
	m_discard(&m);

	m_create(&m, IMSG_CTL_COMMAND, 0, -1);
	m_add_string(&m, "retry");
	m_add_u32(&m, CTL_MAX_ARGS + 1);
	for (i = 0; i < CTL_MAX_ARGS + 1; i++)
		m_add_string(&m, "x");
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_ctl_get(&r, &g), -1, "too many arguments");
	m_discard(&m);

	m_create(&m, IMSG_CTL_COMMAND, 0, -1);
	m_add_string(&m, "retry");
	m_add_u32(&m, 2);
	m_add_string(&m, "only one");
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_ctl_get(&r, &g), -1, "fewer arguments than said");
	m_discard(&m);

	m_create(&m, IMSG_CTL_COMMAND, 0, -1);
	m_add_string(&m, "status");
	m_add_u32(&m, 0);
	m_add_u8(&m, 1);
	reader_of(&m, &r, &im);
	cr_assert_eq(wire_ctl_get(&r, &g), -1, "bytes left over");
	m_discard(&m);
}
