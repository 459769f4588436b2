/*
 * fuzz_imsg.c - the frame reader and the typed codec (lib/imsg.c
 * imsg_get, m_get_*; lib/wirecodec.c wire_*_get) fed garbled frames,
 * as a peer process gone wrong (or taken over) could send them.
 *
 * Input: one byte, the number of descriptors (0-3) that "arrived",
 * then a 16-bit stream offset for each (where the read that brought
 * it ended), then the byte stream.  The stream arrives in pieces of
 * sizes drawn from its own bytes; after each, every whole frame is
 * taken with imsg_get(), as chan.c does, until a protocol error
 * closes the channel.  Every frame's payload is given to each of the
 * wire readers; a frame one of them accepts must encode back, with
 * the matching wire_*_add(), to the very same bytes (the codec is
 * strict: one encoding per value).
 *
 * Checked: no read outside the frame; descriptors go only to the
 * frame they came with, and each is closed exactly once (an fd leak
 * shows as EMFILE soon enough; ASan reports a double close's misuse).
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "imsg.h"
#include "keysource.h"
#include "wire.h"
#include "wirecodec.h"

static void
same(struct mbuf *m, const struct imsg *im)
{
	FUZZ_CHECK(!m->err);
	FUZZ_CHECK(m->len == im->datalen);
	FUZZ_CHECK(m->len == 0 || memcmp(m->buf, im->data, m->len) == 0);
	m_discard(m);
}

static void
readers(const struct imsg *im)
{
	struct mreader		 r;
	struct mbuf		 m;
	struct wire_commit	 wc;
	struct wire_deliver	 wd;
	struct wire_result	 wr;
	struct wire_ctl		 wt;
	struct wire_key_req	 kq, kq2;
	struct wire_key_reply	 kr;
	struct wire_sign_req	 sq;
	struct wire_sign_reply	 sr;
	char			 err[256];
	const char		*s;
	const void		*p;
	size_t			 n, bl;
	uint64_t		 u64;
	uint32_t		 u32;
	uint8_t			 u8;

	m_reader(&r, im);
	if (wire_commit_get(&r, &wc) == 0) {
		m_create(&m, 0, 0, -1);
		wire_commit_add(&m, &wc);
		same(&m, im);
		wire_commit_clear(&wc);
	}
	m_reader(&r, im);
	if (wire_deliver_get(&r, &wd) == 0) {
		m_create(&m, 0, 0, -1);
		wire_deliver_add(&m, &wd);
		same(&m, im);
		wire_deliver_clear(&wd);
	}
	m_reader(&r, im);
	if (wire_result_get(&r, &wr) == 0) {
		m_create(&m, 0, 0, -1);
		wire_result_add(&m, &wr);
		same(&m, im);
		wire_result_clear(&wr);
	}
	m_reader(&r, im);
	if (wire_ctl_get(&r, &wt) == 0) {
		m_create(&m, 0, 0, -1);
		wire_ctl_add(&m, &wt);
		same(&m, im);
		wire_ctl_clear(&wt);
	}
	m_reader(&r, im);
	if (wire_key_reply_get(&r, &kr) == 0) {
		m_create(&m, 0, 0, -1);
		wire_key_reply_add(&m, &kr);
		same(&m, im);
	}
	m_reader(&r, im);
	err[0] = '\0';
	if (wire_key_req_get(&r, &kq, err, sizeof(err)) == 0) {
		if (kq.ks == NULL)
			FUZZ_CHECK(err[0] != '\0');
		else {
			/* the spec goes out in its own order: decode again */
			struct imsg	 im2 = *im;
			const char	*v1, *v2;
			size_t		 i;

			m_create(&m, 0, 0, -1);
			wire_key_req_add(&m, &kq);
			FUZZ_CHECK(!m.err);
			im2.data = m.buf;
			im2.datalen = m.len;
			m_reader(&r, &im2);
			FUZZ_CHECK(wire_key_req_get(&r, &kq2, err,
			    sizeof(err)) == 0 && kq2.ks != NULL);
			FUZZ_CHECK(kq2.want == kq.want);
			for (i = 0; keysource_key(kq.ks, i, &v1) != NULL; i++) {
				FUZZ_CHECK(keysource_key(kq2.ks, i, &v2) !=
				    NULL);
				FUZZ_CHECK((v1 == NULL) == (v2 == NULL));
				FUZZ_CHECK(v1 == NULL || strcmp(v1, v2) == 0);
			}
			FUZZ_CHECK((kq.ks2 == NULL) == (kq2.ks2 == NULL));
			keysource_free(kq2.ks);
			keysource_free(kq2.ks2);
			keysource_free(kq.ks);
			keysource_free(kq.ks2);
			m_discard(&m);
		}
	}
	m_reader(&r, im);
	if (wire_sign_req_get(&r, &sq) == 0) {
		m_create(&m, 0, 0, -1);
		wire_sign_req_add(&m, &sq);
		same(&m, im);
	}
	m_reader(&r, im);
	if (wire_sign_reply_get(&r, &sr) == 0) {
		m_create(&m, 0, 0, -1);
		wire_sign_reply_add(&m, &sr);
		same(&m, im);
	}

	/* a generic walk, steered by the frame's type */
	m_reader(&r, im);
	for (n = 0; n < 16; n++) {
		switch ((im->hdr.type >> (n % 8) * 2) & 3) {
		case 0:
			(void)m_get_u8(&r, &u8);
			break;
		case 1:
			(void)m_get_u32(&r, &u32);
			break;
		case 2:
			(void)m_get_u64(&r, &u64);
			break;
		case 3:
			if (m_get_string(&r, &s) == 0)
				FUZZ_CHECK(s[strlen(s)] == '\0');
			else
				(void)m_get_blob(&r, &p, &bl);
			break;
		}
		if (r.err)
			break;
	}
	(void)m_end(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 devnull = -1;
	struct imsgbuf	 ib;
	struct imsg	 im;
	size_t		 nfds, i, hdr, len, arrived = 0, seg;
	uint64_t	 pos, last = 0;
	int		 r = 0;

	if (size < 1)
		return 0;
	if (devnull == -1 && (devnull = open("/dev/null", O_RDONLY)) == -1)
		abort();
	nfds = data[0] % 4;
	hdr = 1 + 2 * nfds;
	if (size < hdr)
		return 0;
	len = size - hdr;

	imsgbuf_init(&ib, -1);
	/* the read buffer as imsg_read() leaves it, never compacted here */
	ib.rsize = len > 0 ? len : 1;
	if ((ib.rbuf = malloc(ib.rsize)) == NULL)
		abort();
	memcpy(ib.rbuf, data + hdr, len);
	for (i = 0; i < nfds; i++) {
		pos = (uint64_t)data[1 + 2 * i] | (uint64_t)data[2 + 2 * i] << 8;
		if (pos < last)
			pos = last;	/* they come in stream order */
		last = pos;
		if (len == 0 || pos >= len)
			break;
		ib.fdpos[ib.nfds] = pos;
		if ((ib.fds[ib.nfds++] = dup(devnull)) == -1)
			abort();
	}

	while (r != -1 && arrived < len) {
		seg = 1 + (data[hdr + arrived] * 37u) % 300;
		arrived = arrived + seg > len ? len : arrived + seg;
		/* a descriptor is there once the bytes it came with are */
		ib.rlen = arrived;
		while ((r = imsg_get(&ib, &im)) == 1) {
			FUZZ_CHECK(im.hdr.len >= IMSG_HDR_LEN &&
			    im.hdr.len <= IMSG_MAX_LEN);
			FUZZ_CHECK(im.datalen == im.hdr.len - IMSG_HDR_LEN);
			FUZZ_CHECK(im.data >= ib.rbuf &&
			    im.data + im.datalen <= ib.rbuf + ib.rlen);
			FUZZ_CHECK((im.fd != -1) ==
			    ((im.hdr.flags & IMSGF_HASFD) != 0));
			readers(&im);
			if (im.fd != -1)
				FUZZ_CHECK(close(im.fd) == 0);
		}
	}
	imsgbuf_clear(&ib);
	return 0;
}
