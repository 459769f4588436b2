/*
 * test_wire.c - the frame codecs of wirecodec.c: what one side builds
 * the other reads back whole, and anything malformed is refused.
 */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

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
	    "", "7BIT", 0, 10, 1, rcpts }, g;
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
	    "TLS_AES_256_GCM_SHA384", 2, st, resp }, g;
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
