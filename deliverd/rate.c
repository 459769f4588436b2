/*
 * rate.c - max_message_rate and max_connection_rate: a token bucket
 * per site for each.  "N/period" adds N tokens per period, evenly; the
 * bucket holds max_burst of them (1 when the rate gives none), so
 * "5/s" starts at most one transaction every 200 ms and never more
 * than 5 in any second.  A transaction takes a message token when it
 * starts, a new connection a connection token when it opens.
 *
 * Without a token nothing spins: the site arms one timer (rate_ev) for
 * when the next token is due, and site_kick() runs again then.  The
 * tasks wait in the site's ready queue; waiting is never a failure.
 * A site is forgotten only once its buckets are full again, so a
 * forgotten and recreated site cannot send early.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <time.h>

#include "log.h"
#include "deliverd.h"
#include "util.h"

/* Less than this short of a whole token counts as one (clock skew). */
#define RATE_EPSILON	1e-6

static double
rate_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
rate_cap(const struct egress_rate *r)
{
	return r->max_burst > 0 ? (double)r->max_burst : 1.0;
}

static void
rate_refill(struct rate_bucket *b, const struct egress_rate *r, double now)
{
	double	 cap = rate_cap(r);

	if (!b->primed) {
		b->primed = 1;
		b->tokens = cap;
	} else if (now > b->last)
		b->tokens += (now - b->last) * (double)r->n / r->period;
	if (b->tokens > cap)
		b->tokens = cap;
	b->last = now;
}

/*
 * 0 when the bucket has a token (and it is taken, when take), else the
 * seconds until it will have one.  No rate: always 0.
 */
double
rate_check(struct rate_bucket *b, const struct egress_rate *r, int take)
{
	if (r->n == 0 || r->period <= 0)
		return 0;
	rate_refill(b, r, rate_now());
	if (b->tokens >= 1 - RATE_EPSILON) {
		if (take)
			b->tokens = b->tokens >= 1 ? b->tokens - 1 : 0;
		return 0;
	}
	return (1 - b->tokens) * r->period / (double)r->n;
}

/* Is the bucket full, so that forgetting it would change nothing? */
int
rate_full(struct rate_bucket *b, const struct egress_rate *r)
{
	if (r->n == 0 || r->period <= 0 || !b->primed)
		return 1;
	rate_refill(b, r, rate_now());
	return b->tokens >= rate_cap(r) - RATE_EPSILON;
}

/* Whole tokens in the bucket now; no rate: INT_MAX. */
int
rate_whole(struct rate_bucket *b, const struct egress_rate *r)
{
	if (r->n == 0 || r->period <= 0)
		return INT_MAX;
	rate_refill(b, r, rate_now());
	return (int)floor(b->tokens + RATE_EPSILON);
}

/* A token taken and not used goes back (a socket could not be had). */
void
rate_return(struct rate_bucket *b, const struct egress_rate *r)
{
	if (r->n == 0 || r->period <= 0 || !b->primed)
		return;
	b->tokens += 1;
	if (b->tokens > rate_cap(r))
		b->tokens = rate_cap(r);
}

static void
site_rate_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct site	*s = arg;

	site_kick(s);
}

/*
 * A token of the site's bucket b (rate r), taken when take: 1.  Else
 * 0, and the site's timer is armed for when one is due (or earlier,
 * when it already is).
 */
int
site_rate_ok(struct site *s, struct rate_bucket *b,
    const struct egress_rate *r, int take)
{
	struct timeval	 tv;
	double		 wait, due;

	if ((wait = rate_check(b, r, take)) <= 0)
		return 1;
	due = rate_now() + wait;
	if (evtimer_pending(s->rate_ev, NULL) && s->rate_due <= due)
		return 0;
	/* rounded up to the microsecond: never before the token */
	wait = ceil(wait * 1e6);
	tv.tv_sec = (time_t)(wait / 1e6);
	tv.tv_usec = (suseconds_t)(wait - tv.tv_sec * 1e6);
	s->rate_due = due;
	evtimer_add(s->rate_ev, &tv);
	return 0;
}

void
site_rate_init(struct site *s)
{
	if ((s->rate_ev = evtimer_new(dd->base, site_rate_cb, s)) == NULL)
		fatalx("evtimer_new");
}

void
site_rate_clear(struct site *s)
{
	if (s->rate_ev != NULL)
		event_free(s->rate_ev);
	s->rate_ev = NULL;
}
