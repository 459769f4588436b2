/*
 * limit.c - session counts shared by the smtpd workers.
 *
 * The workers are separate processes accepting on the same listeners,
 * so a client's sessions may land on any of them.  petreld makes one
 * shared memory file: a header with each worker's session count, and
 * for each worker a row of counters, one per bucket of client
 * addresses.  A worker writes only its own row and reads them all; a
 * worker that starts (after a crash, too: petreld starts it again only
 * once the old one is reaped) zeroes its row, so the counts of one that
 * died never linger.
 *
 * A client address falls into two buckets by a hash keyed with a
 * random key petreld draws, and its count is the smaller of the two
 * buckets' sums (a count-min sketch): collisions can only make a count
 * too high, never too low, and only a client sharing both buckets with
 * a busy one is refused, which the random key makes both rare and
 * unpredictable.  Admitting adds first and checks after, so two
 * workers admitting at the same instant cannot overshoot a limit
 * (at worst both refuse).
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limit.h"
#include "log.h"

#define LIMIT_BUCKETS		16384	/* per worker row, a power of 2 */
#define LIMIT_MAX_WORKERS	256

struct limit_head {
	uint64_t	 key[2];
	uint32_t	 workers;
	uint32_t	 buckets;
	_Atomic uint32_t sessions[LIMIT_MAX_WORKERS];
};

static struct limit_head *lh;
static _Atomic uint32_t	*rows;		/* workers x LIMIT_BUCKETS */
static _Atomic uint32_t	*mine;		/* this worker's row */
static int		 me;

static size_t
limit_size(int workers)
{
	return sizeof(struct limit_head) +
	    (size_t)workers * LIMIT_BUCKETS * sizeof(uint32_t);
}

/* petreld: the zeroed table for WORKERS workers, on a fd >= MINFD. */
int
limit_table_create(int workers, int minfd)
{
	struct limit_head *h;
	size_t		 size;
	int		 fd, hi, saved;

	if (workers < 1 || workers > LIMIT_MAX_WORKERS) {
		errno = EINVAL;
		return -1;
	}
	size = limit_size(workers);
	if ((fd = memfd_create("petrel-smtpd-limits", MFD_CLOEXEC)) == -1)
		return -1;
	if (ftruncate(fd, size) == -1 ||
	    (h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED)
		goto fail;
	arc4random_buf(h->key, sizeof(h->key));
	h->workers = workers;
	h->buckets = LIMIT_BUCKETS;
	munmap(h, sizeof(*h));
	if ((hi = fcntl(fd, F_DUPFD_CLOEXEC, minfd)) == -1)
		goto fail;
	close(fd);
	return hi;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* smtpd worker INDEX: map the table and zero our own counts. */
void
limit_attach(int fd, int index)
{
	struct stat	 st;
	void		*p;
	int		 i;

	if (fstat(fd, &st) == -1)
		fatal("smtpd: the session table from petreld");
	if ((size_t)st.st_size < sizeof(struct limit_head))
		fatalx("smtpd: the session table from petreld is too small");
	if ((p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED)
		fatal("smtpd: mmap the session table");
	close(fd);
	lh = p;
	if (lh->buckets != LIMIT_BUCKETS || index < 0 ||
	    (uint32_t)index >= lh->workers ||
	    (size_t)st.st_size != limit_size(lh->workers))
		fatalx("smtpd: the session table from petreld does not fit "
		    "worker %d", index);
	rows = (_Atomic uint32_t *)(lh + 1);
	me = index;
	mine = rows + (size_t)index * LIMIT_BUCKETS;
	for (i = 0; i < LIMIT_BUCKETS; i++)
		atomic_store(&mine[i], 0);
	atomic_store(&lh->sessions[me], 0);
}

/* murmur3's finalizer: every input bit reaches every output bit */
static uint64_t
limit_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/*
 * The client as counted: an IPv4 address (mapped ones too), or the /64
 * of an IPv6 one, which is what one site is usually given.
 */
static void
limit_buckets(const struct sockaddr *sa, uint16_t b[2])
{
	const struct sockaddr_in6 *s6;
	uint64_t	 x = 0;

	if (sa->sa_family == AF_INET)
		x = ((const struct sockaddr_in *)sa)->sin_addr.s_addr;
	else if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			memcpy(&x, s6->sin6_addr.s6_addr + 12, 4);
		else {
			memcpy(&x, s6->sin6_addr.s6_addr, 8);
			x ^= 1ULL << 63 | 1;	/* apart from IPv4 */
		}
	}
	b[0] = limit_mix(x ^ lh->key[0]) & (LIMIT_BUCKETS - 1);
	b[1] = limit_mix(x ^ lh->key[1]) & (LIMIT_BUCKETS - 1);
	if (b[1] == b[0])
		b[1] = (b[0] + 1) & (LIMIT_BUCKETS - 1);
}

static uint32_t
limit_bucket_sum(uint16_t b)
{
	uint32_t	 n = 0, w;

	for (w = 0; w < lh->workers; w++)
		n += atomic_load(&rows[(size_t)w * LIMIT_BUCKETS + b]);
	return n;
}

int
limit_total(void)
{
	uint32_t	 n = 0, w;

	for (w = 0; w < lh->workers; w++)
		n += atomic_load(&lh->sessions[w]);
	return n;
}

/*
 * Count a new session of the client at SA and say whether it is within
 * the limits; a session refused is not counted.  An EXEMPT client
 * (relay_from) counts only toward the total.
 */
enum limit_verdict
limit_admit(const struct sockaddr *sa, int exempt, int max_client,
    int max_total, struct limit_slot *ls)
{
	uint32_t	 c0, c1;

	memset(ls, 0, sizeof(*ls));
	atomic_fetch_add(&lh->sessions[me], 1);
	ls->counted = 1;
	if (!exempt) {
		limit_buckets(sa, ls->b);
		atomic_fetch_add(&mine[ls->b[0]], 1);
		atomic_fetch_add(&mine[ls->b[1]], 1);
		ls->client = 1;
	}
	/* the client's own limit first: it says more to the one refused */
	if (ls->client) {
		c0 = limit_bucket_sum(ls->b[0]);
		c1 = limit_bucket_sum(ls->b[1]);
		if ((c0 < c1 ? c0 : c1) > (uint32_t)max_client) {
			limit_release(ls);
			return LIMIT_CLIENT;
		}
	}
	if (limit_total() > max_total) {
		limit_release(ls);
		return LIMIT_TOTAL;
	}
	return LIMIT_OK;
}

void
limit_release(struct limit_slot *ls)
{
	if (!ls->counted)
		return;
	atomic_fetch_sub(&lh->sessions[me], 1);
	if (ls->client) {
		atomic_fetch_sub(&mine[ls->b[0]], 1);
		atomic_fetch_sub(&mine[ls->b[1]], 1);
	}
	ls->counted = ls->client = 0;
}
