/*
 * imsg.h - framed messages between petrel processes over a unix
 * socketpair, with optional descriptor passing (SCM_RIGHTS).
 *
 * A frame that carries a descriptor is sent on its own sendmsg(), so
 * the kernel hands the descriptor over together with bytes of that
 * frame only; the reader records where in the stream each descriptor
 * arrived and gives it to the frame those bytes belong to.  A frame
 * flagged IMSGF_HASFD without its descriptor, a descriptor that came
 * with a frame not so flagged, or a truncated control message is a
 * protocol error (the descriptor is closed, never handed to a later
 * frame).
 *
 * A frame is a 16-byte header followed by its payload:
 *
 *	u16 type  u16 flags  u32 len (header included)  u32 peerid  u32 pid
 *
 * all in host byte order (both ends are on the same machine).  A frame
 * whose len is below the header size or above IMSG_MAX_LEN, or that
 * announces a descriptor that did not arrive, is a protocol error: the
 * reader returns -1 and the caller closes the channel.
 */
#ifndef PETREL_IMSG_H
#define PETREL_IMSG_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define IMSG_HDR_LEN	16
#define IMSG_MAX_LEN	(512 * 1024)
#define IMSG_MAX_FDS	16	/* received but not yet claimed */
#define IMSGF_HASFD	0x0001

struct imsg_hdr {
	uint16_t	 type;
	uint16_t	 flags;
	uint32_t	 len;
	uint32_t	 peerid;
	uint32_t	 pid;
};

struct imsg {
	struct imsg_hdr	 hdr;
	int		 fd;		/* -1 unless IMSGF_HASFD */
	uint8_t		*data;		/* points into the read buffer */
	size_t		 datalen;
};

struct imsg_out {
	struct imsg_out	*next;
	int		 fd;		/* passed with the first byte */
	size_t		 len, off;
	uint8_t		 buf[];
};

struct imsgbuf {
	int		 fd;
	pid_t		 pid;
	int		 wipe;		/* frames may hold secrets: zero every
					   buffer before it is freed or reused */
	/* read side */
	uint8_t		*rbuf;
	size_t		 rsize, rlen, roff;
	uint64_t	 rbase;		/* stream offset of rbuf[0] */
	int		 fds[IMSG_MAX_FDS];
	uint64_t	 fdpos[IMSG_MAX_FDS];	/* stream offset it came with */
	int		 nfds;
	/* write side */
	struct imsg_out	*whead, **wtail;
	size_t		 wqueued;	/* bytes waiting */
};

void	imsgbuf_init(struct imsgbuf *, int fd);
void	imsgbuf_clear(struct imsgbuf *);
int	imsg_compose(struct imsgbuf *, uint16_t type, uint32_t peerid,
	    int fd, const void *data, size_t len);
int	imsg_compose_raw(struct imsgbuf *, const struct imsg_hdr *, int fd,
	    const void *data, size_t len);
ssize_t	imsg_read(struct imsgbuf *);
int	imsg_get(struct imsgbuf *, struct imsg *);
int	imsg_write(struct imsgbuf *);
int	imsg_flush(struct imsgbuf *);
int	imsg_pending(const struct imsgbuf *);

/*
 * The typed codec.  A writer builds a payload with m_add_*() and
 * sends it with m_close(); a reader walks it with m_get_*() and must
 * finish with m_end().  Every getter checks bounds and returns -1 on a
 * short, overlong or malformed field: the caller treats that as a
 * protocol error and closes the channel.
 */
struct mbuf {
	uint8_t		*buf;
	size_t		 len, cap;
	int		 err;
	uint16_t	 type;
	uint32_t	 peerid;
	int		 fd;
	int		 wipe;		/* m_wipe(): a secret goes in */
};

struct mreader {
	const uint8_t	*p;
	size_t		 left;
	int		 err;
};

void	m_create(struct mbuf *, uint16_t type, uint32_t peerid, int fd);
void	m_add_u8(struct mbuf *, uint8_t);
void	m_add_u32(struct mbuf *, uint32_t);
void	m_add_u64(struct mbuf *, uint64_t);
void	m_add_i64(struct mbuf *, int64_t);
void	m_add_string(struct mbuf *, const char *);
void	m_add_blob(struct mbuf *, const void *, size_t);
int	m_close(struct mbuf *, struct imsgbuf *);
void	m_discard(struct mbuf *);
/* This payload will hold a secret: its buffer is zeroed when freed. */
void	m_wipe(struct mbuf *);

void	m_reader(struct mreader *, const struct imsg *);
int	m_get_u8(struct mreader *, uint8_t *);
int	m_get_u32(struct mreader *, uint32_t *);
int	m_get_u64(struct mreader *, uint64_t *);
int	m_get_i64(struct mreader *, int64_t *);
int	m_get_string(struct mreader *, const char **);
int	m_get_blob(struct mreader *, const void **, size_t *);
int	m_end(struct mreader *);

#endif
