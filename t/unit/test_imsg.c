/*
 * test_imsg.c - imsg framing over socketpairs, descriptor passing, and
 * the typed payload codec.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "imsg.h"

static void
set_nonblock(int fd)
{
	int	 fl;

	cr_assert_neq(fl = fcntl(fd, F_GETFL), -1);
	cr_assert_neq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), -1);
}

static void
mkpair(int sv[2], int nonblock)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (nonblock) {
		set_nonblock(sv[0]);
		set_nonblock(sv[1]);
	}
}

static int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/* wait up to 5s for fd to become readable */
static void
wait_readable(int fd)
{
	struct pollfd	 pfd;

	pfd.fd = fd;
	pfd.events = POLLIN;
	pfd.revents = 0;
	cr_assert_eq(poll(&pfd, 1, 5000), 1, "timed out waiting for data");
}

/*
 * Next frame, reading as needed.  Returns what imsg_get returned, or 0
 * on EOF.  im->data is valid until the next call.
 */
static int
next_frame(struct imsgbuf *ib, struct imsg *im)
{
	ssize_t	 n;
	int	 r;

	for (;;) {
		if ((r = imsg_get(ib, im)) != 0)
			return r;
		wait_readable(ib->fd);
		n = imsg_read(ib);
		if (n == 0)
			return 0;
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			cr_assert_fail("imsg_read: %s", strerror(errno));
	}
}

/* a payload byte pattern that depends on the frame number */
static uint8_t
pat(int frame, size_t i)
{
	return (uint8_t)(frame * 31 + i * 7 + (i >> 8));
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		cr_assert_gt(n, 0, "write: %s", strerror(errno));
		p += n;
		len -= n;
	}
}

static void
raw_frame(int fd, uint16_t type, uint16_t flags, uint32_t len,
    const void *data, size_t datalen)
{
	struct imsg_hdr	 h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.flags = flags;
	h.len = len;
	h.peerid = 7;
	h.pid = getpid();
	write_all(fd, &h, sizeof(h));
	if (datalen)
		write_all(fd, data, datalen);
}

/* --- framing -------------------------------------------------------- */

Test(imsg, header_layout)
{
	cr_assert_eq(sizeof(struct imsg_hdr), IMSG_HDR_LEN);
}

Test(imsg, roundtrip)
{
	struct imsgbuf	 w, r;
	struct imsg	 im;
	int		 sv[2];
	uint8_t		 big[1000];
	size_t		 i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = pat(3, i);
	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);

	cr_assert_eq(imsg_pending(&w), 0);
	cr_assert_eq(imsg_compose(&w, 1, 100, -1, "hello", 5), 0);
	cr_assert_eq(imsg_compose(&w, 2, 0xffffffffU, -1, NULL, 0), 0);
	cr_assert_eq(imsg_compose(&w, 0xffff, 300, -1, big, sizeof(big)), 0);
	cr_assert_eq(imsg_pending(&w), 1);
	cr_assert_eq(w.wqueued, 3 * IMSG_HDR_LEN + 5 + sizeof(big));
	cr_assert_eq(imsg_flush(&w), 0);
	cr_assert_eq(imsg_pending(&w), 0);
	cr_assert_eq(w.wqueued, 0);

	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 1);
	cr_assert_eq(im.hdr.peerid, 100);
	cr_assert_eq(im.hdr.pid, (uint32_t)getpid());
	cr_assert_eq(im.hdr.len, IMSG_HDR_LEN + 5);
	cr_assert_eq(im.hdr.flags, 0);
	cr_assert_eq(im.fd, -1);
	cr_assert_eq(im.datalen, 5);
	cr_assert_eq(memcmp(im.data, "hello", 5), 0);

	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 2);
	cr_assert_eq(im.hdr.peerid, 0xffffffffU);
	cr_assert_eq(im.datalen, 0);
	cr_assert_eq(im.fd, -1);

	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 0xffff);
	cr_assert_eq(im.hdr.peerid, 300);
	cr_assert_eq(im.datalen, sizeof(big));
	cr_assert_eq(memcmp(im.data, big, sizeof(big)), 0);

	/* nothing more buffered */
	cr_assert_eq(imsg_get(&r, &im), 0);

	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, roundtrip_both_ways)
{
	struct imsgbuf	 a, b;
	struct imsg	 im;
	int		 sv[2];

	mkpair(sv, 0);
	imsgbuf_init(&a, sv[0]);
	imsgbuf_init(&b, sv[1]);
	cr_assert_eq(imsg_compose(&a, 10, 1, -1, "ping", 4), 0);
	cr_assert_eq(imsg_flush(&a), 0);
	cr_assert_eq(next_frame(&b, &im), 1);
	cr_assert_eq(im.hdr.type, 10);
	cr_assert_eq(imsg_compose(&b, 11, im.hdr.peerid, -1, "pong", 4), 0);
	cr_assert_eq(imsg_flush(&b), 0);
	cr_assert_eq(next_frame(&a, &im), 1);
	cr_assert_eq(im.hdr.type, 11);
	cr_assert_eq(im.hdr.peerid, 1);
	cr_assert_eq(memcmp(im.data, "pong", 4), 0);
	imsgbuf_clear(&a);
	imsgbuf_clear(&b);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, many_small_frames)
{
	struct imsgbuf	 w, r;
	struct imsg	 im;
	int		 sv[2], i;
	uint32_t	 v;

	/* more frames than one writev takes (64 iovecs) */
	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	for (i = 0; i < 200; i++) {
		v = i;
		cr_assert_eq(imsg_compose(&w, 5, i, -1, &v, sizeof(v)), 0);
	}
	cr_assert_eq(imsg_flush(&w), 0);
	for (i = 0; i < 200; i++) {
		cr_assert_eq(next_frame(&r, &im), 1);
		cr_assert_eq(im.hdr.peerid, (uint32_t)i);
		cr_assert_eq(im.datalen, sizeof(v));
		memcpy(&v, im.data, sizeof(v));
		cr_assert_eq(v, (uint32_t)i);
	}
	cr_assert_eq(imsg_get(&r, &im), 0);
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

/*
 * Pump frames from w to r until everything is written, checking each
 * frame as it arrives.  Frame i has type 1, peerid i and
 * sizes[i] bytes of pat(i, ...).
 */
static void
pump_and_check(struct imsgbuf *w, struct imsgbuf *r, const size_t *sizes,
    int nframes, const int *fdframes, const ino_t *inos)
{
	struct imsg	 im;
	int		 got = 0, wr = 1, spins = 0, k;
	size_t		 i;
	ssize_t		 n;
	struct stat	 st;

	while (got < nframes) {
		cr_assert_lt(++spins, 1000000, "no progress");
		if (wr == 1) {
			wr = imsg_write(w);
			cr_assert_neq(wr, -1, "imsg_write: %s",
			    strerror(errno));
		}
		n = imsg_read(r);
		if (n == -1) {
			cr_assert(errno == EAGAIN || errno == EWOULDBLOCK,
			    "imsg_read: %s", strerror(errno));
			continue;
		}
		cr_assert_neq(n, 0, "unexpected EOF");
		while ((k = imsg_get(r, &im)) == 1) {
			cr_assert_lt(got, nframes);
			cr_assert_eq(im.hdr.type, 1);
			cr_assert_eq(im.hdr.peerid, (uint32_t)got);
			cr_assert_eq(im.datalen, sizes[got],
			    "frame %d: %zu bytes", got, im.datalen);
			for (i = 0; i < im.datalen; i++)
				if (im.data[i] != pat(got, i))
					cr_assert_fail("frame %d byte %zu",
					    got, i);
			if (fdframes != NULL && fdframes[got]) {
				cr_assert_neq(im.fd, -1, "frame %d: no fd",
				    got);
				cr_assert_eq(fstat(im.fd, &st), 0);
				cr_assert_eq(st.st_ino, inos[got]);
				close(im.fd);
			} else
				cr_assert_eq(im.fd, -1, "frame %d: fd", got);
			got++;
		}
		cr_assert_eq(k, 0, "imsg_get: %s", strerror(errno));
	}
	cr_assert_eq(wr, 0);
	cr_assert_eq(imsg_pending(w), 0);
	cr_assert_eq(w->wqueued, 0);
	cr_assert_eq(r->nfds, 0);
}

Test(imsg, partial_writes)
{
	struct imsgbuf	 w, r;
	int		 sv[2], i, sz = 1;
	size_t		 sizes[64];
	uint8_t		*buf;
	size_t		 j;

	mkpair(sv, 1);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)), 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	buf = malloc(20000);
	cr_assert_not_null(buf);
	for (i = 0; i < 64; i++) {
		sizes[i] = (i * 977) % 20000;
		for (j = 0; j < sizes[i]; j++)
			buf[j] = pat(i, j);
		cr_assert_eq(imsg_compose(&w, 1, i, -1, buf, sizes[i]), 0);
	}
	free(buf);
	/* the socket cannot take it all at once */
	cr_assert_eq(imsg_write(&w), 1);
	cr_assert_eq(imsg_pending(&w), 1);
	cr_assert_gt(w.wqueued, 0);
	pump_and_check(&w, &r, sizes, 64, NULL, NULL);
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, partial_writes_full_socket)
{
	struct imsgbuf	 w, r;
	int		 sv[2], i, fds[64], p[2];
	size_t		 sizes[64], j, junk = 0;
	ino_t		 inos[64];
	uint8_t		*buf;
	char		 tmp[4096];
	ssize_t		 n;
	struct stat	 st;

	/*
	 * Fill the socket with raw bytes first, so that not even the
	 * first frame fits; some frames carry descriptors.
	 */
	mkpair(sv, 1);
	cr_assert_eq(pipe(p), 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	memset(tmp, 0, sizeof(tmp));
	while ((n = write(sv[0], tmp, sizeof(tmp))) > 0)
		junk += n;
	cr_assert_eq(errno, EAGAIN);
	cr_assert_gt(junk, 0);

	buf = malloc(70000);
	cr_assert_not_null(buf);
	for (i = 0; i < 64; i++) {
		int	 fd = -1;

		sizes[i] = i == 5 ? 70000 : (size_t)(i * 1231) % 9000;
		fds[i] = i % 9 == 4 || i == 5 || i == 6;
		inos[i] = 0;
		if (fds[i]) {
			cr_assert_neq(fd = dup(i % 2 ? p[0] : p[1]), -1);
			cr_assert_eq(fstat(fd, &st), 0);
			inos[i] = st.st_ino;
		}
		for (j = 0; j < sizes[i]; j++)
			buf[j] = pat(i, j);
		cr_assert_eq(imsg_compose(&w, 1, i, fd, buf, sizes[i]), 0);
	}
	free(buf);
	cr_assert_eq(imsg_write(&w), 1);
	cr_assert_eq(imsg_write(&w), 1);

	/* take the raw bytes out, exactly */
	while (junk > 0) {
		n = read(sv[1], tmp, junk < sizeof(tmp) ? junk : sizeof(tmp));
		cr_assert_gt(n, 0);
		junk -= n;
	}
	pump_and_check(&w, &r, sizes, 64, fds, inos);
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

Test(imsg, largest_frame)
{
	struct imsgbuf	 w, r;
	int		 sv[2];
	size_t		 sizes[3], j;
	uint8_t		*buf;
	int		 i;

	/* frames of the maximum size, back to back, grow the read buffer */
	mkpair(sv, 1);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	buf = malloc(IMSG_MAX_LEN);
	cr_assert_not_null(buf);
	for (i = 0; i < 3; i++) {
		sizes[i] = i == 1 ? 1 : IMSG_MAX_LEN - IMSG_HDR_LEN;
		for (j = 0; j < sizes[i]; j++)
			buf[j] = pat(i, j);
		cr_assert_eq(imsg_compose(&w, 1, i, -1, buf, sizes[i]), 0);
	}
	free(buf);
	pump_and_check(&w, &r, sizes, 3, NULL, NULL);
	cr_assert_leq(r.rsize, IMSG_MAX_LEN + 65536);
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, partial_reads)
{
	struct imsgbuf	 r;
	struct imsg	 im;
	struct imsg_hdr	 h;
	uint8_t		 frame[2][IMSG_HDR_LEN + 40];
	int		 sv[2], f;
	size_t		 i, len = sizeof(frame[0]);

	mkpair(sv, 1);
	imsgbuf_init(&r, sv[1]);
	for (f = 0; f < 2; f++) {
		memset(&h, 0, sizeof(h));
		h.type = 42 + f;
		h.len = len;
		h.peerid = 9 + f;
		h.pid = 1234;
		memcpy(frame[f], &h, sizeof(h));
		for (i = IMSG_HDR_LEN; i < len; i++)
			frame[f][i] = pat(f, i);
	}
	/* nothing there yet */
	cr_assert_eq(imsg_read(&r), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(imsg_get(&r, &im), 0);

	for (f = 0; f < 2; f++) {
		for (i = 0; i < len; i++) {
			cr_assert_eq(write(sv[0], &frame[f][i], 1), 1);
			cr_assert_eq(imsg_read(&r), 1);
			if (i + 1 < len) {
				cr_assert_eq(imsg_get(&r, &im), 0,
				    "frame %d complete after %zu bytes", f,
				    i + 1);
				continue;
			}
			cr_assert_eq(imsg_get(&r, &im), 1);
			cr_assert_eq(im.hdr.type, 42 + f);
			cr_assert_eq(im.hdr.peerid, 9 + f);
			cr_assert_eq(im.hdr.pid, 1234);
			cr_assert_eq(im.datalen, len - IMSG_HDR_LEN);
			cr_assert_eq(memcmp(im.data, frame[f] + IMSG_HDR_LEN,
			    im.datalen), 0);
			cr_assert_eq(im.fd, -1);
			cr_assert_eq(imsg_get(&r, &im), 0);
		}
	}
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, partial_reads_split_header)
{
	struct imsgbuf	 r;
	struct imsg	 im;
	int		 sv[2];
	uint8_t		 two[2 * IMSG_HDR_LEN + 3];
	struct imsg_hdr	 h;

	/* one write holding a whole frame and half of the next header */
	mkpair(sv, 1);
	imsgbuf_init(&r, sv[1]);
	memset(&h, 0, sizeof(h));
	h.type = 1;
	h.len = IMSG_HDR_LEN + 3;
	memcpy(two, &h, IMSG_HDR_LEN);
	memcpy(two + IMSG_HDR_LEN, "abc", 3);
	h.type = 2;
	h.len = IMSG_HDR_LEN;
	memcpy(two + IMSG_HDR_LEN + 3, &h, IMSG_HDR_LEN);
	write_all(sv[0], two, IMSG_HDR_LEN + 3 + 7);
	cr_assert_eq(imsg_read(&r), IMSG_HDR_LEN + 3 + 7);
	cr_assert_eq(imsg_get(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 1);
	cr_assert_eq(im.datalen, 3);
	cr_assert_eq(memcmp(im.data, "abc", 3), 0);
	cr_assert_eq(imsg_get(&r, &im), 0);
	write_all(sv[0], two + IMSG_HDR_LEN + 3 + 7, IMSG_HDR_LEN - 7);
	cr_assert_eq(imsg_read(&r), IMSG_HDR_LEN - 7);
	cr_assert_eq(imsg_get(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 2);
	cr_assert_eq(im.datalen, 0);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

/* --- descriptor passing --------------------------------------------- */

Test(imsg, fd_passing_file)
{
	struct imsgbuf	 w, r;
	struct imsg	 im;
	struct stat	 a, b;
	char		 path[] = "/tmp/petrel-imsg-XXXXXX", got[8];
	int		 sv[2], fd, sent;

	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	cr_assert_neq(fd = mkstemp(path), -1);
	unlink(path);
	cr_assert_neq(sent = dup(fd), -1);
	cr_assert_eq(imsg_compose(&w, 3, 77, sent, "file", 4), 0);
	cr_assert_eq(imsg_flush(&w), 0);
	/* the sender's copy is closed once it went out */
	cr_assert_not(fd_is_open(sent));

	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 3);
	cr_assert_eq(im.hdr.peerid, 77);
	cr_assert_eq(im.hdr.flags, IMSGF_HASFD);
	cr_assert_eq(im.datalen, 4);
	cr_assert_eq(memcmp(im.data, "file", 4), 0);
	cr_assert_neq(im.fd, -1);
	cr_assert_neq(im.fd, fd);
	/* the same file */
	cr_assert_eq(fstat(fd, &a), 0);
	cr_assert_eq(fstat(im.fd, &b), 0);
	cr_assert_eq(a.st_dev, b.st_dev);
	cr_assert_eq(a.st_ino, b.st_ino);
	/* and a working descriptor: write through it, read back */
	cr_assert_eq(pwrite(im.fd, "petrel", 6, 0), 6);
	memset(got, 0, sizeof(got));
	cr_assert_eq(pread(fd, got, 6, 0), 6);
	cr_assert_str_eq(got, "petrel");
	/* received descriptors are close-on-exec */
	cr_assert(fcntl(im.fd, F_GETFD) & FD_CLOEXEC);
	cr_assert_eq(r.nfds, 0);
	close(im.fd);
	close(fd);
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, fd_order)
{
	struct imsgbuf	 w, r;
	struct imsg	 im;
	struct stat	 st, want;
	int		 sv[2], pa[2], pb[2], fda, fdb;
	char		 c;

	/*
	 * Frames with descriptors in a row, one without in between:
	 * each gets its own descriptor, in order.
	 */
	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	cr_assert_eq(pipe(pa), 0);
	cr_assert_eq(pipe(pb), 0);
	cr_assert_eq(imsg_compose(&w, 1, 0, dup(pa[1]), "A", 1), 0);
	cr_assert_eq(imsg_compose(&w, 2, 0, -1, "-", 1), 0);
	cr_assert_eq(imsg_compose(&w, 3, 0, dup(pb[1]), "B", 1), 0);
	cr_assert_eq(imsg_compose(&w, 4, 0, dup(pa[1]), "A", 1), 0);
	cr_assert_eq(imsg_flush(&w), 0);

	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 1);
	cr_assert_neq(fda = im.fd, -1);
	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 2);
	cr_assert_eq(im.fd, -1);
	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 3);
	cr_assert_neq(fdb = im.fd, -1);

	cr_assert_eq(write(fda, "a", 1), 1);
	cr_assert_eq(write(fdb, "b", 1), 1);
	cr_assert_eq(read(pa[0], &c, 1), 1);
	cr_assert_eq(c, 'a');
	cr_assert_eq(read(pb[0], &c, 1), 1);
	cr_assert_eq(c, 'b');
	cr_assert_eq(fstat(fdb, &st), 0);
	cr_assert_eq(fstat(pb[1], &want), 0);
	cr_assert_eq(st.st_ino, want.st_ino);
	close(fda);
	close(fdb);

	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 4);
	cr_assert_neq(im.fd, -1);
	cr_assert_eq(write(im.fd, "z", 1), 1);
	cr_assert_eq(read(pa[0], &c, 1), 1);
	cr_assert_eq(c, 'z');
	close(im.fd);
	cr_assert_eq(r.nfds, 0);

	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
	close(pa[0]);
	close(pa[1]);
	close(pb[0]);
	close(pb[1]);
}

Test(imsg, fd_clear_closes_unclaimed)
{
	struct imsgbuf	 w, r;
	int		 sv[2], p[2], got;
	char		 c;

	/* a received but unclaimed descriptor is closed by clear */
	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(imsg_compose(&w, 1, 0, p[1], "x", 1), 0);
	cr_assert_eq(imsg_flush(&w), 0);
	cr_assert_gt(imsg_read(&r), 0);
	cr_assert_eq(r.nfds, 1);
	got = r.fds[0];
	cr_assert(fd_is_open(got));
	imsgbuf_clear(&r);
	cr_assert_not(fd_is_open(got));
	/* every write end is closed now: EOF on the pipe */
	cr_assert_eq(read(p[0], &c, 1), 0);
	close(p[0]);
	imsgbuf_clear(&w);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, fd_clear_closes_unsent)
{
	struct imsgbuf	 w;
	int		 sv[2], p[2];
	char		 c;

	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(imsg_compose(&w, 1, 0, p[1], "x", 1), 0);
	cr_assert(fd_is_open(p[1]));
	imsgbuf_clear(&w);
	cr_assert_not(fd_is_open(p[1]));
	cr_assert_eq(imsg_pending(&w), 0);
	cr_assert_eq(read(p[0], &c, 1), 0);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

/* --- garbled input -------------------------------------------------- */

static void
expect_garbled(uint16_t flags, uint32_t len, size_t datalen)
{
	struct imsgbuf	 r;
	struct imsg	 im;
	uint8_t		 data[64];
	int		 sv[2];

	memset(data, 'g', sizeof(data));
	cr_assert_leq(datalen, sizeof(data));
	mkpair(sv, 1);
	imsgbuf_init(&r, sv[1]);
	raw_frame(sv[0], 1, flags, len, data, datalen);
	cr_assert_gt(imsg_read(&r), 0);
	errno = 0;
	cr_assert_eq(imsg_get(&r, &im), -1,
	    "flags %#x len %u accepted", flags, len);
	cr_assert_eq(errno, EPROTO);
	/* and it stays refused */
	cr_assert_eq(imsg_get(&r, &im), -1);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, garbled_len)
{
	expect_garbled(0, 0, 0);
	expect_garbled(0, 1, 0);
	expect_garbled(0, IMSG_HDR_LEN - 1, 0);
	expect_garbled(0, IMSG_MAX_LEN + 1, 0);
	expect_garbled(0, 0xffffffffU, 0);
	/* refused from the header alone, without waiting for a body */
	expect_garbled(0, IMSG_MAX_LEN + 1, 64);
}

Test(imsg, garbled_flags)
{
	expect_garbled(0x0002, IMSG_HDR_LEN, 0);
	expect_garbled(0x8000, IMSG_HDR_LEN + 4, 4);
	expect_garbled(IMSGF_HASFD | 0x0100, IMSG_HDR_LEN, 0);
}

Test(imsg, garbled_hasfd_without_fd)
{
	expect_garbled(IMSGF_HASFD, IMSG_HDR_LEN, 0);
	expect_garbled(IMSGF_HASFD, IMSG_HDR_LEN + 8, 8);
}

Test(imsg, hasfd_incomplete_is_not_an_error)
{
	struct imsgbuf	 r;
	struct imsg	 im;
	int		 sv[2];

	/* a frame announcing an fd is judged only once it is complete */
	mkpair(sv, 1);
	imsgbuf_init(&r, sv[1]);
	raw_frame(sv[0], 1, IMSGF_HASFD, IMSG_HDR_LEN + 8, "1234", 4);
	cr_assert_gt(imsg_read(&r), 0);
	cr_assert_eq(imsg_get(&r, &im), 0);
	write_all(sv[0], "5678", 4);
	cr_assert_gt(imsg_read(&r), 0);
	cr_assert_eq(imsg_get(&r, &im), -1);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, largest_valid_header)
{
	struct imsgbuf	 r;
	struct imsg	 im;
	int		 sv[2];

	/* len == IMSG_MAX_LEN is legal: wait for the body */
	mkpair(sv, 1);
	imsgbuf_init(&r, sv[1]);
	raw_frame(sv[0], 1, 0, IMSG_MAX_LEN, NULL, 0);
	cr_assert_gt(imsg_read(&r), 0);
	cr_assert_eq(imsg_get(&r, &im), 0);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

/* --- limits and EOF ------------------------------------------------- */

Test(imsg, oversized_compose)
{
	struct imsgbuf	 w;
	struct mbuf	 m;
	uint8_t		*big;
	int		 sv[2], p[2];

	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	big = calloc(1, IMSG_MAX_LEN);
	cr_assert_not_null(big);

	errno = 0;
	cr_assert_eq(imsg_compose(&w, 1, 0, -1, big,
	    IMSG_MAX_LEN - IMSG_HDR_LEN + 1), -1);
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_eq(imsg_pending(&w), 0);
	cr_assert_eq(w.wqueued, 0);

	/* the descriptor is consumed even on failure */
	cr_assert_eq(pipe(p), 0);
	errno = 0;
	cr_assert_eq(imsg_compose(&w, 1, 0, p[1], big, IMSG_MAX_LEN), -1);
	cr_assert_eq(errno, EMSGSIZE);
	cr_assert_not(fd_is_open(p[1]));
	close(p[0]);

	/* exactly the limit is fine */
	cr_assert_eq(imsg_compose(&w, 1, 0, -1, big,
	    IMSG_MAX_LEN - IMSG_HDR_LEN), 0);
	cr_assert_eq(w.wqueued, IMSG_MAX_LEN);
	imsgbuf_clear(&w);
	cr_assert_eq(w.wqueued, 0);

	/* the codec refuses to grow past it */
	m_create(&m, 1, 0, -1);
	m_add_blob(&m, big, IMSG_MAX_LEN - IMSG_HDR_LEN - 4);
	cr_assert_eq(m.err, 0);
	m_add_u8(&m, 1);
	cr_assert_neq(m.err, 0);
	cr_assert_eq(m_close(&m, &w), -1);
	cr_assert_null(m.buf);
	cr_assert_eq(imsg_pending(&w), 0);

	free(big);
	imsgbuf_clear(&w);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, peer_closes)
{
	struct imsgbuf	 w, r;
	struct imsg	 im;
	int		 sv[2];

	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	cr_assert_eq(imsg_compose(&w, 9, 1, -1, "bye", 3), 0);
	cr_assert_eq(imsg_flush(&w), 0);
	imsgbuf_clear(&w);
	close(sv[0]);
	/* buffered data first, then EOF */
	cr_assert_eq(imsg_read(&r), IMSG_HDR_LEN + 3);
	cr_assert_eq(imsg_get(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 9);
	cr_assert_eq(imsg_read(&r), 0);
	cr_assert_eq(imsg_read(&r), 0);
	cr_assert_eq(imsg_get(&r, &im), 0);
	imsgbuf_clear(&r);
	close(sv[1]);
}

Test(imsg, peer_closes_immediately)
{
	struct imsgbuf	 r;
	int		 sv[2];

	mkpair(sv, 1);
	imsgbuf_init(&r, sv[1]);
	close(sv[0]);
	cr_assert_eq(imsg_read(&r), 0);
	imsgbuf_clear(&r);
	close(sv[1]);
}

Test(imsg, write_to_closed_peer)
{
	struct imsgbuf	 w;
	int		 sv[2];

	/* no SIGPIPE, just an error */
	mkpair(sv, 1);
	imsgbuf_init(&w, sv[0]);
	close(sv[1]);
	cr_assert_eq(imsg_compose(&w, 1, 0, -1, "x", 1), 0);
	errno = 0;
	cr_assert_eq(imsg_write(&w), -1);
	cr_assert_eq(errno, EPIPE);
	imsgbuf_clear(&w);
	close(sv[0]);
}

/* --- codec ---------------------------------------------------------- */

/* an imsg whose payload is buf, for the reader side of the codec */
static void
fake_imsg(struct imsg *im, const void *buf, size_t len)
{
	memset(im, 0, sizeof(*im));
	im->fd = -1;
	im->data = (uint8_t *)(uintptr_t)buf;
	im->datalen = len;
	im->hdr.len = IMSG_HDR_LEN + len;
}

Test(imsg, codec_roundtrip)
{
	static const uint8_t bin[] = { 0, 1, 2, 0, 0xff, 'x' };
	struct imsgbuf	 w, r;
	struct imsg	 im;
	struct mbuf	 m;
	struct mreader	 rd;
	uint8_t		 u8;
	uint32_t	 u32;
	uint64_t	 u64;
	int64_t		 i64;
	const char	*s;
	const void	*blob;
	size_t		 blen;
	int		 sv[2];

	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	m_create(&m, 21, 4242, -1);
	m_add_u8(&m, 0xab);
	m_add_u32(&m, 0xdeadbeefU);
	m_add_u64(&m, 0x0123456789abcdefULL);
	m_add_i64(&m, -42);
	m_add_i64(&m, INT64_MIN);
	m_add_string(&m, "hello, world");
	m_add_string(&m, "");
	m_add_string(&m, NULL);
	m_add_blob(&m, bin, sizeof(bin));
	m_add_blob(&m, NULL, 0);
	m_add_u8(&m, 0);
	cr_assert_eq(m.err, 0);
	cr_assert_eq(m_close(&m, &w), 0);
	cr_assert_null(m.buf);
	cr_assert_eq(imsg_flush(&w), 0);

	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_eq(im.hdr.type, 21);
	cr_assert_eq(im.hdr.peerid, 4242);
	cr_assert_eq(im.fd, -1);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_u8(&rd, &u8), 0);
	cr_assert_eq(u8, 0xab);
	cr_assert_eq(m_get_u32(&rd, &u32), 0);
	cr_assert_eq(u32, 0xdeadbeefU);
	cr_assert_eq(m_get_u64(&rd, &u64), 0);
	cr_assert_eq(u64, 0x0123456789abcdefULL);
	cr_assert_eq(m_get_i64(&rd, &i64), 0);
	cr_assert_eq(i64, -42);
	cr_assert_eq(m_get_i64(&rd, &i64), 0);
	cr_assert_eq(i64, INT64_MIN);
	cr_assert_eq(m_get_string(&rd, &s), 0);
	cr_assert_str_eq(s, "hello, world");
	cr_assert_eq(m_get_string(&rd, &s), 0);
	cr_assert_str_eq(s, "");
	cr_assert_eq(m_get_string(&rd, &s), 0);
	cr_assert_str_eq(s, "");
	cr_assert_eq(m_get_blob(&rd, &blob, &blen), 0);
	cr_assert_eq(blen, sizeof(bin));
	cr_assert_eq(memcmp(blob, bin, sizeof(bin)), 0);
	cr_assert_eq(m_get_blob(&rd, &blob, &blen), 0);
	cr_assert_eq(blen, 0);
	/* not finished yet: one byte left */
	cr_assert_eq(rd.left, 1);
	cr_assert_eq(m_get_u8(&rd, &u8), 0);
	cr_assert_eq(u8, 0);
	cr_assert_eq(m_end(&rd), 0);
	/* past the end */
	cr_assert_eq(m_get_u8(&rd, &u8), -1);
	cr_assert_eq(m_end(&rd), -1);

	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, codec_with_fd)
{
	struct imsgbuf	 w, r;
	struct imsg	 im;
	struct mbuf	 m;
	struct mreader	 rd;
	uint32_t	 v;
	int		 sv[2], p[2];
	char		 c;

	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	cr_assert_eq(pipe(p), 0);
	m_create(&m, 5, 6, p[1]);
	m_add_u32(&m, 7);
	cr_assert_eq(m_close(&m, &w), 0);
	cr_assert_eq(m.fd, -1);
	cr_assert_eq(imsg_flush(&w), 0);
	cr_assert_not(fd_is_open(p[1]));
	cr_assert_eq(next_frame(&r, &im), 1);
	cr_assert_neq(im.fd, -1);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_u32(&rd, &v), 0);
	cr_assert_eq(v, 7);
	cr_assert_eq(m_end(&rd), 0);
	cr_assert_eq(write(im.fd, "q", 1), 1);
	cr_assert_eq(read(p[0], &c, 1), 1);
	cr_assert_eq(c, 'q');
	close(im.fd);
	close(p[0]);

	/* a discarded message closes its descriptor */
	cr_assert_eq(pipe(p), 0);
	m_create(&m, 5, 6, p[1]);
	m_add_u32(&m, 7);
	m_discard(&m);
	cr_assert_not(fd_is_open(p[1]));
	cr_assert_eq(read(p[0], &c, 1), 0);
	close(p[0]);

	/* so does a message that failed to build */
	cr_assert_eq(pipe(p), 0);
	m_create(&m, 5, 6, p[1]);
	m.err = 1;
	cr_assert_eq(m_close(&m, &w), -1);
	cr_assert_not(fd_is_open(p[1]));
	close(p[0]);
	cr_assert_eq(imsg_pending(&w), 0);

	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, codec_short)
{
	struct imsg	 im;
	struct mreader	 rd;
	uint8_t		 buf[16], u8;
	uint32_t	 u32;
	uint64_t	 u64;
	int64_t		 i64;
	const void	*blob;
	size_t		 blen;

	memset(buf, 0x11, sizeof(buf));

	fake_imsg(&im, buf, 3);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_u32(&rd, &u32), -1);
	/* an error sticks, even where the bytes would be there */
	cr_assert_eq(m_get_u8(&rd, &u8), -1);
	cr_assert_eq(m_end(&rd), -1);

	fake_imsg(&im, buf, 7);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_u64(&rd, &u64), -1);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_i64(&rd, &i64), -1);

	fake_imsg(&im, buf, 0);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_u8(&rd, &u8), -1);
	m_reader(&rd, &im);
	cr_assert_eq(m_end(&rd), 0);

	/* a blob whose length runs past the payload */
	u32 = 9;
	memcpy(buf, &u32, 4);
	fake_imsg(&im, buf, 12);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_blob(&rd, &blob, &blen), -1);
	cr_assert_eq(m_end(&rd), -1);
	fake_imsg(&im, buf, 13);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_blob(&rd, &blob, &blen), 0);
	cr_assert_eq(blen, 9);
	cr_assert_eq(blob, buf + 4);
	cr_assert_eq(m_end(&rd), 0);

	/* a huge length does not wrap around */
	u32 = 0xffffffffU;
	memcpy(buf, &u32, 4);
	fake_imsg(&im, buf, 16);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_blob(&rd, &blob, &blen), -1);

	/* a truncated length prefix */
	fake_imsg(&im, buf, 2);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_blob(&rd, &blob, &blen), -1);
}

Test(imsg, codec_leftover)
{
	struct imsg	 im;
	struct mreader	 rd;
	uint8_t		 buf[5] = { 1, 2, 3, 4, 5 };
	uint32_t	 u32;

	fake_imsg(&im, buf, 5);
	m_reader(&rd, &im);
	cr_assert_eq(m_get_u32(&rd, &u32), 0);
	cr_assert_eq(m_end(&rd), -1);
	/* m_end marks the reader failed */
	cr_assert_neq(rd.err, 0);
}

static int
get_string_from(const void *p, uint32_t len, const char **s)
{
	static uint8_t	 buf[64];
	struct imsg	 im;
	struct mreader	 rd;
	int		 r;

	cr_assert_leq(len, sizeof(buf) - 4);
	memcpy(buf, &len, 4);
	memcpy(buf + 4, p, len);
	fake_imsg(&im, buf, 4 + len);
	m_reader(&rd, &im);
	r = m_get_string(&rd, s);
	if (r == 0)
		cr_assert_eq(m_end(&rd), 0);
	else
		cr_assert_eq(m_end(&rd), -1);
	return r;
}

Test(imsg, codec_strings)
{
	const char	*s = NULL;

	cr_assert_eq(get_string_from("abc", 4, &s), 0);
	cr_assert_str_eq(s, "abc");
	cr_assert_eq(get_string_from("", 1, &s), 0);
	cr_assert_str_eq(s, "");
	/* no terminating NUL */
	cr_assert_eq(get_string_from("abc", 3, &s), -1);
	/* an embedded NUL */
	cr_assert_eq(get_string_from("a\0b", 4, &s), -1);
	cr_assert_eq(get_string_from("\0\0", 2, &s), -1);
	/* an empty blob is not a string */
	cr_assert_eq(get_string_from("", 0, &s), -1);
}

/* --- chan: a garbled peer closes the channel, never crashes us ------ */

#include <event2/event.h>
#include "chan.h"

static int	chan_test_closed;
static int	chan_test_frames;

static int
chan_test_dispatch(struct chan *c, struct imsg *im)
{
	chan_test_frames++;
	return im->hdr.type == 1 ? 0 : -1;	/* type 2: a protocol error */
}

static void
chan_test_close(struct chan *c)
{
	chan_test_closed++;
}

static void
chan_test_run(const void *bytes, size_t len, int expect_frames)
{
	struct event_base	*base;
	struct timeval		 tv = { 1, 0 };
	int			 sp[2];

	chan_test_closed = chan_test_frames = 0;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	cr_assert_not_null(base = event_base_new());
	chan_new(base, sp[0], "test", chan_test_dispatch, chan_test_close,
	    NULL);
	cr_assert_eq(write(sp[1], bytes, len), (ssize_t)len);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	cr_assert_eq(chan_test_closed, 1, "the channel was not closed");
	cr_assert_eq(chan_test_frames, expect_frames);
	close(sp[1]);
	event_base_free(base);
}

Test(imsg, chan_closes_on_garbage)
{
	struct imsg_hdr	 h;
	uint8_t		 buf[64];

	/* a length below the header size */
	memset(&h, 0, sizeof(h));
	h.type = 1;
	h.len = 3;
	chan_test_run(&h, sizeof(h), 0);

	/* an oversized length */
	h.len = IMSG_MAX_LEN + 1;
	chan_test_run(&h, sizeof(h), 0);

	/* a good frame, then one the dispatcher calls a protocol error */
	h.len = sizeof(h);
	memcpy(buf, &h, sizeof(h));
	h.type = 2;
	memcpy(buf + sizeof(h), &h, sizeof(h));
	chan_test_run(buf, 2 * sizeof(h), 2);

	/* an unknown type never reaches the dispatcher */
	h.type = 60000;
	chan_test_run(&h, sizeof(h), 0);
}

/* --- descriptors belong to the frame they came with ------------------ */

/* A frame (header only) sent with fd attached, whatever its flags say. */
static void
raw_frame_with_fd(int sock, uint16_t type, uint16_t flags, int fd)
{
	struct imsg_hdr	 h;
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr	*c;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.flags = flags;
	h.len = sizeof(h);
	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	iov.iov_base = &h;
	iov.iov_len = sizeof(h);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_len = CMSG_LEN(sizeof(int));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	cr_assert_eq(sendmsg(sock, &msg, 0), (ssize_t)sizeof(h));
}

Test(imsg, fd_without_hasfd_is_not_handed_on)
{
	struct imsgbuf	 r;
	struct imsg	 im;
	int		 sv[2], p[2];

	/*
	 * Frame 1 is not flagged but brings a descriptor; frame 2 is
	 * flagged but brings none.  Frame 2 must never get frame 1's.
	 */
	mkpair(sv, 0);
	imsgbuf_init(&r, sv[1]);
	cr_assert_eq(pipe(p), 0);
	raw_frame_with_fd(sv[0], 1, 0, p[1]);
	raw_frame(sv[0], 1, IMSGF_HASFD, IMSG_HDR_LEN, NULL, 0);
	close(p[1]);
	while (r.rlen < 2 * IMSG_HDR_LEN) {
		wait_readable(sv[1]);
		cr_assert_gt(imsg_read(&r), 0);
	}
	errno = 0;
	cr_assert_eq(imsg_get(&r, &im), -1);
	cr_assert_eq(errno, EPROTO);
	cr_assert_eq(imsg_get(&r, &im), -1, "a later frame took the fd");
	imsgbuf_clear(&r);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

Test(imsg, fd_frame_sent_alone)
{
	struct imsgbuf	 w, r;
	struct imsg	 im;
	int		 sv[2], p[2], i;

	/* plain, fd, plain, plain: only the second frame has it */
	mkpair(sv, 0);
	imsgbuf_init(&w, sv[0]);
	imsgbuf_init(&r, sv[1]);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(imsg_compose(&w, 1, 0, -1, "a", 1), 0);
	cr_assert_eq(imsg_compose(&w, 1, 1, p[1], "b", 1), 0);
	cr_assert_eq(imsg_compose(&w, 1, 2, -1, "c", 1), 0);
	cr_assert_eq(imsg_compose(&w, 1, 3, -1, "d", 1), 0);
	cr_assert_eq(imsg_flush(&w), 0);
	for (i = 0; i < 4;) {
		int	 g;

		if ((g = imsg_get(&r, &im)) == 0) {
			wait_readable(sv[1]);
			cr_assert_gt(imsg_read(&r), 0);
			continue;
		}
		cr_assert_eq(g, 1);
		cr_assert_eq(im.hdr.peerid, (uint32_t)i);
		if (i == 1) {
			cr_assert_neq(im.fd, -1);
			close(im.fd);
		} else
			cr_assert_eq(im.fd, -1);
		i++;
	}
	imsgbuf_clear(&w);
	imsgbuf_clear(&r);
	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}

#include "wire.h"

static int	chan_fd_frames;

static int
chan_fd_dispatch(struct chan *c, struct imsg *im)
{
	chan_fd_frames++;
	return 0;	/* keeps nothing: the channel closes the fd */
}

/* Send one frame of type with a pipe's write end; 1 if the end was closed. */
static int
chan_fd_run(uint16_t type, int *closed_chan)
{
	struct event_base	*base;
	struct imsgbuf		 w;
	struct timeval		 tv = { 0, 300000 };
	struct chan		*c;
	int			 sp[2], p[2], eof;
	char			 ch;

	chan_test_closed = chan_fd_frames = 0;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	cr_assert_eq(pipe(p), 0);
	cr_assert_not_null(base = event_base_new());
	c = chan_new(base, sp[0], "test", chan_fd_dispatch, chan_test_close,
	    NULL);
	imsgbuf_init(&w, sp[1]);
	cr_assert_eq(imsg_compose(&w, type, 0, p[1], NULL, 0), 0);
	cr_assert_eq(imsg_flush(&w), 0);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	eof = read(p[0], &ch, 1) == 0;
	*closed_chan = chan_test_closed;
	if (!chan_test_closed)
		chan_free(c);
	imsgbuf_clear(&w);
	close(p[0]);
	close(sp[1]);
	event_base_free(base);
	return eof;
}

Test(imsg, chan_refuses_fd_on_wrong_type)
{
	int	 closed;

	/* a type that takes no fd: refused, channel closed, fd closed */
	cr_assert(chan_fd_run(IMSG_SMTPD_MSG_OPEN, &closed));
	cr_assert_eq(chan_fd_frames, 0, "the dispatcher saw it");
	cr_assert_eq(closed, 1);
}

Test(imsg, chan_closes_unclaimed_fd)
{
	int	 closed;

	/* a type that takes one, not kept by the handler: closed */
	cr_assert(chan_fd_run(IMSG_QUEUED_DELIVER, &closed));
	cr_assert_eq(chan_fd_frames, 1);
	cr_assert_eq(closed, 0);
}
