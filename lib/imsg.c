/*
 * imsg.c - frame reader/writer and the typed payload codec.
 *
 * Descriptors travel with SCM_RIGHTS.  On a unix stream socket Linux
 * attaches them to the first buffer of the sendmsg() that carried them
 * and ends the recvmsg() that receives them inside that buffer.  The
 * writer sends a frame with a descriptor in a sendmsg() of its own, so
 * the last byte of the read that brought a descriptor belongs to that
 * frame: imsg_read() records the stream offset of that byte with the
 * descriptor, and imsg_get() gives a descriptor only to the frame that
 * spans its offset.
 */
#include "config.h"

#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imsg.h"

void
imsgbuf_init(struct imsgbuf *ib, int fd)
{
	memset(ib, 0, sizeof(*ib));
	ib->fd = fd;
	ib->pid = getpid();
	ib->wtail = &ib->whead;
}

void
imsgbuf_clear(struct imsgbuf *ib)
{
	struct imsg_out	*o;
	int		 i;

	while ((o = ib->whead) != NULL) {
		ib->whead = o->next;
		if (o->fd != -1)
			close(o->fd);
		if (ib->wipe)
			explicit_bzero(o->buf, o->len);
		free(o);
	}
	ib->wtail = &ib->whead;
	ib->wqueued = 0;
	for (i = 0; i < ib->nfds; i++)
		close(ib->fds[i]);
	ib->nfds = 0;
	if (ib->wipe && ib->rbuf != NULL)
		explicit_bzero(ib->rbuf, ib->rsize);
	free(ib->rbuf);
	ib->rbuf = NULL;
	ib->rsize = ib->rlen = ib->roff = 0;
}

int
imsg_compose_raw(struct imsgbuf *ib, const struct imsg_hdr *hdr, int fd,
    const void *data, size_t len)
{
	struct imsg_out	*o;
	struct imsg_hdr	 h = *hdr;

	if (len > IMSG_MAX_LEN - IMSG_HDR_LEN) {
		if (fd != -1)
			close(fd);
		errno = EMSGSIZE;
		return -1;
	}
	if ((o = malloc(sizeof(*o) + IMSG_HDR_LEN + len)) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	h.len = IMSG_HDR_LEN + len;
	h.flags = fd != -1 ? IMSGF_HASFD : 0;
	memcpy(o->buf, &h, IMSG_HDR_LEN);
	if (len)
		memcpy(o->buf + IMSG_HDR_LEN, data, len);
	o->len = IMSG_HDR_LEN + len;
	o->off = 0;
	o->fd = fd;
	o->next = NULL;
	*ib->wtail = o;
	ib->wtail = &o->next;
	ib->wqueued += o->len;
	return 0;
}

/* Queue a frame; takes ownership of fd (closed once sent). */
int
imsg_compose(struct imsgbuf *ib, uint16_t type, uint32_t peerid, int fd,
    const void *data, size_t len)
{
	struct imsg_hdr	 h;

	memset(&h, 0, sizeof(h));
	h.type = type;
	h.peerid = peerid;
	h.pid = ib->pid;
	return imsg_compose_raw(ib, &h, fd, data, len);
}

int
imsg_pending(const struct imsgbuf *ib)
{
	return ib->whead != NULL;
}

/*
 * Write as much as the socket takes.  Frames without a descriptor are
 * gathered into one writev; a frame with one starts its own sendmsg.
 * Returns 0 when everything queued went out, 1 when more is left
 * (EAGAIN), -1 on error.
 */
int
imsg_write(struct imsgbuf *ib)
{
	struct iovec	 iov[64];
	struct msghdr	 msg;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsgbuf;
	struct imsg_out	*o;
	ssize_t		 n;
	int		 i, fd;

	while (ib->whead != NULL) {
		memset(&msg, 0, sizeof(msg));
		fd = -1;
		i = 0;
		for (o = ib->whead; o != NULL && i < 64; o = o->next) {
			if (o->fd != -1) {
				if (i > 0)
					break;	/* the fd starts a sendmsg */
				fd = o->fd;
			}
			iov[i].iov_base = o->buf + o->off;
			iov[i].iov_len = o->len - o->off;
			i++;
			if (fd != -1)
				break;	/* ... and its frame ends it */
		}
		msg.msg_iov = iov;
		msg.msg_iovlen = i;
		if (fd != -1) {
			struct cmsghdr	*c;

			memset(&cmsgbuf, 0, sizeof(cmsgbuf));
			msg.msg_control = cmsgbuf.buf;
			msg.msg_controllen = sizeof(cmsgbuf.buf);
			c = CMSG_FIRSTHDR(&msg);
			c->cmsg_len = CMSG_LEN(sizeof(int));
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		n = sendmsg(ib->fd, &msg, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				return 1;
			return -1;
		}
		if (fd != -1) {
			/* the descriptor went out with the first byte */
			close(ib->whead->fd);
			ib->whead->fd = -1;
		}
		ib->wqueued -= n;
		while (n > 0 && (o = ib->whead) != NULL) {
			size_t	 rest = o->len - o->off;

			if ((size_t)n < rest) {
				o->off += n;
				n = 0;
				break;
			}
			n -= rest;
			ib->whead = o->next;
			if (ib->whead == NULL)
				ib->wtail = &ib->whead;
			if (ib->wipe)
				explicit_bzero(o->buf, o->len);
			free(o);
		}
	}
	return 0;
}

/* Blocking flush, for start-up handshakes and short-lived tools. */
int
imsg_flush(struct imsgbuf *ib)
{
	int	 r;

	while ((r = imsg_write(ib)) == 1) {
		fd_set	 wfds;

		FD_ZERO(&wfds);
		FD_SET(ib->fd, &wfds);
		if (select(ib->fd + 1, NULL, &wfds, NULL, NULL) == -1 &&
		    errno != EINTR)
			return -1;
	}
	return r;
}

/*
 * Read what is there.  Returns bytes read, 0 on EOF, -1 on error
 * (errno EAGAIN when nothing was ready).
 */
ssize_t
imsg_read(struct imsgbuf *ib)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*c;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 8)];
	} cmsgbuf;
	ssize_t		 n;
	int		 bad = 0;

	if (ib->roff > 0) {
		memmove(ib->rbuf, ib->rbuf + ib->roff, ib->rlen - ib->roff);
		if (ib->wipe)	/* what was read and moved down */
			explicit_bzero(ib->rbuf + ib->rlen - ib->roff, ib->roff);
		ib->rlen -= ib->roff;
		ib->rbase += ib->roff;
		ib->roff = 0;
	}
	if (ib->rsize - ib->rlen < 4096) {
		size_t	 nsize = ib->rsize ? ib->rsize * 2 : 65536;
		uint8_t	*p;

		if (nsize > IMSG_MAX_LEN + 65536)
			nsize = IMSG_MAX_LEN + 65536;
		if (nsize <= ib->rsize) {
			errno = EMSGSIZE;
			return -1;
		}
		if (ib->wipe) {
			/* no realloc: it would free the old bytes unwiped */
			if ((p = malloc(nsize)) == NULL)
				return -1;
			if (ib->rbuf != NULL) {
				memcpy(p, ib->rbuf, ib->rlen);
				explicit_bzero(ib->rbuf, ib->rsize);
				free(ib->rbuf);
			}
		} else if ((p = realloc(ib->rbuf, nsize)) == NULL)
			return -1;
		ib->rbuf = p;
		ib->rsize = nsize;
	}
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = ib->rbuf + ib->rlen;
	iov.iov_len = ib->rsize - ib->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);
again:
	if ((n = recvmsg(ib->fd, &msg, MSG_CMSG_CLOEXEC)) == -1) {
		if (errno == EINTR)
			goto again;
		return -1;
	}
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int	 nf = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int	 k, f;

			for (k = 0; k < nf; k++) {
				memcpy(&f, CMSG_DATA(c) + k * sizeof(int),
				    sizeof(int));
				if (ib->nfds == IMSG_MAX_FDS || n <= 0) {
					/* a flood, or an fd without data */
					close(f);
					bad = 1;
					continue;
				}
				ib->fdpos[ib->nfds] = ib->rbase + ib->rlen +
				    n - 1;
				ib->fds[ib->nfds++] = f;
			}
		}
	}
	if (msg.msg_flags & MSG_CTRUNC)	/* an fd we could not take */
		bad = 1;
	if (bad) {
		errno = EPROTO;
		return -1;
	}
	if (n > 0)
		ib->rlen += n;
	return n;
}

/*
 * Extract the next complete frame.  Returns 1 with *im filled, 0 when
 * no whole frame is buffered, -1 on a protocol error.  im->data stays
 * valid until the next imsg_read().
 */
int
imsg_get(struct imsgbuf *ib, struct imsg *im)
{
	size_t		 avail = ib->rlen - ib->roff;
	uint64_t	 start, end;
	int		 mine;

	if (avail < IMSG_HDR_LEN)
		return 0;
	memcpy(&im->hdr, ib->rbuf + ib->roff, IMSG_HDR_LEN);
	if (im->hdr.len < IMSG_HDR_LEN || im->hdr.len > IMSG_MAX_LEN ||
	    (im->hdr.flags & ~IMSGF_HASFD) != 0) {
		errno = EPROTO;
		return -1;
	}
	if (avail < im->hdr.len)
		return 0;
	/*
	 * The frame spans stream offsets [start, end).  Descriptors come
	 * in stream order; one that arrived before this frame belonged to
	 * an earlier frame that did not claim it.
	 */
	start = ib->rbase + ib->roff;
	end = start + im->hdr.len;
	im->fd = -1;
	if (ib->nfds > 0 && ib->fdpos[0] < start) {
		errno = EPROTO;
		return -1;
	}
	mine = ib->nfds > 0 && ib->fdpos[0] < end;
	if (mine != ((im->hdr.flags & IMSGF_HASFD) != 0) ||
	    (mine && ib->nfds > 1 && ib->fdpos[1] < end)) {
		errno = EPROTO;
		return -1;
	}
	if (mine) {
		im->fd = ib->fds[0];
		ib->nfds--;
		memmove(ib->fds, ib->fds + 1, ib->nfds * sizeof(int));
		memmove(ib->fdpos, ib->fdpos + 1, ib->nfds * sizeof(uint64_t));
	}
	im->data = ib->rbuf + ib->roff + IMSG_HDR_LEN;
	im->datalen = im->hdr.len - IMSG_HDR_LEN;
	ib->roff += im->hdr.len;
	return 1;
}

/* --- codec ---------------------------------------------------------- */

void
m_create(struct mbuf *m, uint16_t type, uint32_t peerid, int fd)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->peerid = peerid;
	m->fd = fd;
}

static void
m_add(struct mbuf *m, const void *p, size_t len)
{
	if (m->err || len == 0)	/* an empty blob may come as NULL */
		return;
	if (m->len + len > IMSG_MAX_LEN - IMSG_HDR_LEN) {
		m->err = 1;
		return;
	}
	if (m->len + len > m->cap) {
		size_t	 ncap = m->cap ? m->cap : 256;
		uint8_t	*nb;

		while (ncap < m->len + len)
			ncap *= 2;
		if (m->wipe) {
			if ((nb = malloc(ncap)) != NULL && m->buf != NULL) {
				memcpy(nb, m->buf, m->len);
				explicit_bzero(m->buf, m->cap);
				free(m->buf);
			}
		} else
			nb = realloc(m->buf, ncap);
		if (nb == NULL) {
			m->err = 1;
			return;
		}
		m->buf = nb;
		m->cap = ncap;
	}
	memcpy(m->buf + m->len, p, len);
	m->len += len;
}

void m_add_u8(struct mbuf *m, uint8_t v) { m_add(m, &v, sizeof(v)); }
void m_add_u32(struct mbuf *m, uint32_t v) { m_add(m, &v, sizeof(v)); }
void m_add_u64(struct mbuf *m, uint64_t v) { m_add(m, &v, sizeof(v)); }
void m_add_i64(struct mbuf *m, int64_t v) { m_add(m, &v, sizeof(v)); }

void
m_add_blob(struct mbuf *m, const void *p, size_t len)
{
	if (len > UINT32_MAX) {
		m->err = 1;
		return;
	}
	m_add_u32(m, (uint32_t)len);
	m_add(m, p, len);
}

/* A string is a blob that includes its NUL; NULL is sent as "". */
void
m_add_string(struct mbuf *m, const char *s)
{
	if (s == NULL)
		s = "";
	m_add_blob(m, s, strlen(s) + 1);
}

void
m_discard(struct mbuf *m)
{
	if (m->wipe && m->buf != NULL)
		explicit_bzero(m->buf, m->cap);
	free(m->buf);
	m->buf = NULL;
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
}

void
m_wipe(struct mbuf *m)
{
	m->wipe = 1;
}

int
m_close(struct mbuf *m, struct imsgbuf *ib)
{
	int	 r = -1;

	if (!m->err) {
		r = imsg_compose(ib, m->type, m->peerid, m->fd, m->buf, m->len);
		m->fd = -1;	/* owned by the frame now */
	}
	m_discard(m);
	return r;
}

void
m_reader(struct mreader *r, const struct imsg *im)
{
	r->p = im->data;
	r->left = im->datalen;
	r->err = 0;
}

static int
m_get(struct mreader *r, void *dst, size_t len)
{
	if (r->err || r->left < len) {
		r->err = 1;
		return -1;
	}
	memcpy(dst, r->p, len);
	r->p += len;
	r->left -= len;
	return 0;
}

int m_get_u8(struct mreader *r, uint8_t *v) { return m_get(r, v, sizeof(*v)); }
int m_get_u32(struct mreader *r, uint32_t *v) { return m_get(r, v, sizeof(*v)); }
int m_get_u64(struct mreader *r, uint64_t *v) { return m_get(r, v, sizeof(*v)); }
int m_get_i64(struct mreader *r, int64_t *v) { return m_get(r, v, sizeof(*v)); }

int
m_get_blob(struct mreader *r, const void **p, size_t *len)
{
	uint32_t	 l;

	if (m_get_u32(r, &l) == -1)
		return -1;
	if (r->left < l) {
		r->err = 1;
		return -1;
	}
	*p = r->p;
	*len = l;
	r->p += l;
	r->left -= l;
	return 0;
}

/* The string must end in its NUL and contain no other. */
int
m_get_string(struct mreader *r, const char **s)
{
	const void	*p;
	size_t		 len;

	if (m_get_blob(r, &p, &len) == -1)
		return -1;
	if (len == 0 || ((const char *)p)[len - 1] != '\0' ||
	    strlen(p) != len - 1) {
		r->err = 1;
		return -1;
	}
	*s = p;
	return 0;
}

/* Every byte must have been consumed. */
int
m_end(struct mreader *r)
{
	if (r->err || r->left != 0) {
		r->err = 1;
		return -1;
	}
	return 0;
}
