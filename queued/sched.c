/*
 * sched.c - delivery scheduling: which message goes to which deliverd
 * process when, what its results mean, retries with backoff
 * and expiration.  Bounces are bounce.c's.
 *
 * The schedule is a red-black tree ordered by next attempt; one timer
 * fires for the first message not yet due.  A due message is split by
 * routing domain into tasks, each sent with a descriptor of its text
 * to the deliverd that owns the domain's site (owner.c: a hash of the
 * domain until a deliverd redirects a task to the site's owner), so a
 * site's limits hold inside one process.  A deliverd has at most deliverd_max
 * tasks at once (sized from the open-files limit: each is a descriptor
 * here until sent and in deliverd until done).  A due message whose
 * deliverd is away or full leaves the schedule for that deliverd's wait
 * list and comes back when the deliverd takes work again (a result, or
 * its restart): nothing polls.  When its last task is back, the message
 * "settles": bounces are reported, finished messages are removed, the
 * rest wait for their next attempt: a message some recipient of which
 * finished is written back whole, one that only failed again has its
 * retry state stamped on its envelope (spool.c), without a sync.  A
 * recipient's failure is acted on (DSN, removal) only after what must
 * survive a crash is durable.  Only [queued] active_limit messages are
 * in memory; queue.c keeps the rest on disk and reads them in, and is
 * given its turn before every dispatch.
 */
#include "config.h"

#include <sys/time.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "policy.h"
#include "queued.h"
#include "smtp.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"

#define DISPATCH_BATCH	1000	/* due messages handled per loop turn */
#define DISPATCH_FD_WAIT	5	/* s, after running out of descriptors */
#define NOTTRIED_WAIT		10	/* s, after a deliverd stopped first */
#define SUSPEND_RECHECK		3600	/* s: a held message looks again */

static void	sched_settle(struct qmsg *);
static void	sched_rcpt_result(struct qmsg *, int, int, const char *,
		    const char *, const char *, const char *, const char *);
static int	sched_armed_now;

static int
sched_cmp(struct qmsg *a, struct qmsg *b)
{
	if (a->env.next_try != b->env.next_try)
		return a->env.next_try < b->env.next_try ? -1 : 1;
	return strcmp(a->env.id, b->env.id);
}
RB_GENERATE(sched_tree, qmsg, sentry, sched_cmp);

static int
task_cmp(struct task *a, struct task *b)
{
	return a->id < b->id ? -1 : a->id > b->id;
}
RB_GENERATE(task_tree, task, entry, task_cmp);

double
sched_now(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/*
 * Wake up for the first message that is not due yet, or for the first
 * on disk that can then come in (queue.c).  Due ones still in the
 * schedule wait for a deliverd; sched_kick() comes with one.
 */
static void
sched_arm(int64_t now)
{
	struct qmsg	 key, *m;
	struct timeval	 tv = { 0, 0 };
	int64_t		 when;

	sched_armed_now = 0;
	memset(&key, 0, sizeof(key));
	key.env.next_try = now + 1;	/* and id "": before any of that second */
	when = queue_disk_wake(now);
	if ((m = RB_NFIND(sched_tree, &q->schedule, &key)) != NULL &&
	    m->env.next_try < when)
		when = m->env.next_try;
	if (q->shutdown || q->paused || when == INT64_MAX) {
		evtimer_del(q->sched_ev);
		return;
	}
	tv.tv_sec = when - now;
	evtimer_add(q->sched_ev, &tv);
}

/* Run the dispatcher on the next loop turn (coalesces many changes). */
void
sched_kick(void)
{
	struct timeval	 tv = { 0, 0 };

	if (sched_armed_now)
		return;
	sched_armed_now = 1;
	evtimer_add(q->sched_ev, &tv);
}

static void
sched_unwait(struct qmsg *m)
{
	if (m->waiting) {
		TAILQ_REMOVE(&q->waiting[m->waiting - 1], m, wentry);
		m->waiting = 0;
	}
}

void
sched_add(struct qmsg *m, int64_t when)
{
	if (m->scheduled)
		RB_REMOVE(sched_tree, &q->schedule, m);
	sched_unwait(m);
	m->env.next_try = when;
	RB_INSERT(sched_tree, &q->schedule, m);
	m->scheduled = 1;
	sched_kick();
}

void
sched_unschedule(struct qmsg *m)
{
	if (m->scheduled) {
		RB_REMOVE(sched_tree, &q->schedule, m);
		m->scheduled = 0;
	}
	sched_unwait(m);
}

/* Due, but deliverd a cannot take it now: park it on a's wait list. */
static void
sched_wait(struct qmsg *m, int a)
{
	sched_unschedule(m);
	TAILQ_INSERT_TAIL(&q->waiting[a], m, wentry);
	m->waiting = a + 1;
}

/*
 * Agent a can take up to n more tasks: as many of its waiting messages
 * go back into the schedule (still due, so they run at the next turn).
 */
static void
sched_wake(int a, int n)
{
	struct qmsg	*m;

	while (n-- > 0 && (m = TAILQ_FIRST(&q->waiting[a])) != NULL)
		sched_add(m, m->env.next_try);
}

/*
 * A recipient's scheduled queue, as KumoMTA has one per (domain, tenant,
 * campaign, routing domain): the routing domain petrel uses without a
 * policy is [queued] relayhost, else the recipient's domain, and
 * get_queue_config may change it and the retry schedule.  petrel has
 * no tenants or campaigns: those are nil.  The answer comes from the
 * policy's cache; -1 with the handler's error.
 */
int
sched_queue(const char *rcpt, struct queue_config *qc, char *err,
    size_t errlen)
{
	const char	*at = strrchr(rcpt, '@');
	char		 dom[POLICY_DOMAIN_MAX];
	size_t		 i;

	strlcpy(dom, at ? at + 1 : "", sizeof(dom));
	for (i = 0; dom[i] != '\0'; i++)
		dom[i] = tolower((unsigned char)dom[i]);
	return policy_queue(q->policy, dom, NULL, NULL,
	    *q->conf->queued_relayhost != '\0' ? q->conf->queued_relayhost :
	    dom, qc, err, errlen);
}

/*
 * The schedule of a message: of its pending recipients' queues the
 * shortest retry intervals and the longest max_age, so that no
 * recipient waits longer or expires sooner than its queue says.
 */
static void
sched_params(struct qmsg *m, struct queue_config *out)
{
	struct queue_config qc;
	char		 err[1024];
	int		 i, any = 0;

	out->retry_interval = q->conf->queued_retry_interval;
	out->max_retry_interval = q->conf->queued_max_retry_interval;
	out->max_age = q->conf->queued_max_age;
	for (i = 0; i < m->env.nrcpt; i++) {
		if (m->env.done[i] ||
		    sched_queue(m->env.rcpts[i], &qc, err, sizeof(err)) == -1)
			continue;
		if (!any || qc.retry_interval < out->retry_interval)
			out->retry_interval = qc.retry_interval;
		if (!any || qc.max_retry_interval < out->max_retry_interval)
			out->max_retry_interval = qc.max_retry_interval;
		if (!any || qc.max_age > out->max_age)
			out->max_age = qc.max_age;
		any = 1;
	}
}

int64_t
sched_max_age(struct qmsg *m)
{
	struct queue_config qc;

	sched_params(m, &qc);
	return qc.max_age;
}

/*
 * The deliverd worker for a routing domain: the owner of its site
 * when a deliverd said which (owner.c), else a hash of the domain.
 */
static int
sched_deliverd_for(const char *domain)
{
	return owner_deliverd_for(domain);
}

static int
sched_deliverd_ok(int a)
{
	return q->deliverd[a] != NULL && q->deliverd_load[a] < q->deliverd_max;
}

static int
sched_any_deliverd_ok(void)
{
	int	 a;

	for (a = 0; a < q->ndeliverd; a++)
		if (sched_deliverd_ok(a))
			return 1;
	return 0;
}

/*
 * The deliverd of a pending recipient that cannot take a task now, or -1
 * when every one can.  No allocation.
 */
static int
sched_blocked_on(struct qmsg *m)
{
	struct queue_config qc;
	char		 err[1024];
	int		 i, a;

	for (i = 0; i < m->env.nrcpt; i++) {
		/* a policy error is the recipient's result, at dispatch */
		if (m->env.done[i] ||
		    sched_queue(m->env.rcpts[i], &qc, err, sizeof(err)) == -1)
			continue;
		if (!sched_deliverd_ok(a = sched_deliverd_for(
		    qc.routing_domain)))
			return a;
	}
	return -1;
}

/* A rewrite is done: the message may leave memory again (queue.c). */
static void
sched_persist_done(struct commit_job *j)
{
	struct qmsg	*m;

	if (!j->ok)
		log_warnx("id=%s: %s", j->id, j->reason);
	if ((m = queue_find(j->id)) != NULL && m->persisting > 0 &&
	    --m->persisting == 0)
		sched_kick();	/* it may leave memory now */
	free(j->envtext);
	free(j);
}

void
sched_persist(struct qmsg *m)
{
	struct commit_job *j;

	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_UPDATE;
	j->done = sched_persist_done;
	strlcpy(j->id, m->env.id, sizeof(j->id));
	j->next = m->env.next_try;
	j->attempts = m->env.attempts;
	if (envelope_encode(&m->env, &j->envtext, &j->envlen) == -1) {
		log_warnx("id=%s: cannot encode envelope", m->env.id);
		free(j);
		return;
	}
	m->dirty = 0;
	m->persisting++;
	commit_submit(j);
}

/*
 * Only the retry state changed: stamped on the envelope, not synced.
 * Lost in a crash, the message is tried sooner, no worse.
 */
void
sched_stamp(struct qmsg *m)
{
	struct commit_job *j;

	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_STAMP;
	strlcpy(j->id, m->env.id, sizeof(j->id));
	j->next = m->env.next_try;
	j->attempts = m->env.attempts;
	commit_submit(j);
}

static int64_t
sched_backoff(struct qmsg *m)
{
	struct queue_config qc;
	int64_t		 d, max;
	uint32_t	 i, attempts = m->env.attempts;

	sched_params(m, &qc);
	d = qc.retry_interval;
	max = qc.max_retry_interval;
	for (i = 1; i < attempts && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* jitter of +-10%, so retries of one outage spread out */
	d = d * (90 + (int64_t)arc4random_uniform(21)) / 100;
	return d < 1 ? 1 : d;
}

/* Bounces are reported; now remove the message or write it back. */
void
sched_finish(struct qmsg *m)
{
	struct commit_job *j;
	int		 i, pending = 0;

	for (i = 0; i < m->env.nrcpt; i++)
		if (!m->env.done[i])
			pending++;
	if (pending == 0) {
		j = xcalloc(1, sizeof(*j));
		j->kind = JOB_REMOVE;
		strlcpy(j->id, m->env.id, sizeof(j->id));
		commit_submit(j);
		log_debug("id=%s: removed", m->env.id);
		queue_remove(m);
		return;
	}
	m->env.next_try = time(NULL) + sched_backoff(m);
	if (m->dirty)
		sched_persist(m);
	else
		sched_stamp(m);
	sched_add(m, m->env.next_try);
}

static void
sched_settle(struct qmsg *m)
{
	/*
	 * Nothing was tried (deliverd stopped before, e.g. for a reload):
	 * no attempt counts.  The envelope on disk still says it is due,
	 * so a restarted queued sends it at once; this one waits a little,
	 * not to hand it straight back to a deliverd that is stopping.
	 */
	if (m->nottried && !m->tried) {
		m->nottried = 0;
		sched_add(m, time(NULL) + NOTTRIED_WAIT);
		return;
	}
	m->nottried = m->tried = 0;
	m->env.attempts++;
	if (m->tempfail &&
	    time(NULL) - m->env.arrival >= sched_max_age(m))
		bounce_expire(m, m->last_error);
	m->tempfail = 0;
	if (m->nbounce > 0)
		bounce_send(m);
	else
		sched_finish(m);
}

/* Record (m != NULL) or drop the policy failures of a dispatch. */
static void
sched_fails(struct qmsg *m, int *idx, char **why, int n)
{
	int	 i;

	for (i = 0; i < n; i++) {
		if (m != NULL)
			sched_rcpt_result(m, idx[i], RCPT_TEMPFAIL, "", "", "",
			    "", why[i]);
		free(why[i]);
	}
	free(idx);
	free(why);
}

static void
sched_tasks_free(struct task **tasks, int ntask)
{
	int	 k;

	for (k = 0; k < ntask; k++) {
		free(tasks[k]->domain);
		free(tasks[k]->rcpts);
		free(tasks[k]);
	}
	free(tasks);
}

/*
 * Send a task (its descriptor in t->fd) to its deliverd, which must be
 * able to take it (sched_deliverd_ok).
 */
static void
sched_send(struct task *t)
{
	struct qmsg	*m = t->msg;
	struct wire_deliver wd;
	struct mbuf	 mb;
	const char	**rcpts;
	int		 i;

	t->gen = q->deliverd_gens[t->deliverd];
	q->deliverd_load[t->deliverd]++;
	rcpts = xcalloc(t->nrcpt, sizeof(*rcpts));
	for (i = 0; i < t->nrcpt; i++)
		rcpts[i] = m->env.rcpts[t->rcpts[i]];
	memset(&wd, 0, sizeof(wd));
	wd.id = m->env.id;
	wd.from = m->env.from;
	wd.body = m->env.body;
	wd.smtputf8 = m->env.smtputf8;
	wd.size = m->env.size;
	wd.domain = t->domain;
	wd.nrcpt = t->nrcpt;
	wd.rcpts = rcpts;
	wd.final = t->final;
	m_create(&mb, IMSG_QUEUED_DELIVER, t->id, t->fd);
	t->fd = -1;
	wire_deliver_add(&mb, &wd);
	chan_send(q->deliverd[t->deliverd], &mb);
	free(rcpts);
}

/*
 * Split a due message whose deliverd processes can all take a task into tasks and
 * send them.  It always leaves the due part of the schedule: sent,
 * expired, finished, or put back for later.
 */
static void
sched_dispatch(struct qmsg *m)
{
	struct task	*t, **tasks;
	struct queue_config qc;
	char		 err[1024], why[1100];
	int		 ntask = 0, nfail = 0, i, k, fd, *failidx;
	int64_t		 held = 0, until;
	char		**failwhy;

	if (time(NULL) - m->env.arrival >= sched_max_age(m)) {
		sched_unschedule(m);
		bounce_expire(m, m->last_error);
		if (m->nbounce > 0)
			bounce_send(m);
		else
			sched_finish(m);
		return;
	}
	/*
	 * Group pending recipients by routing domain.  A policy error is
	 * the recipient's result, recorded only once the message goes (or
	 * has nothing else to send), so a message put back is not counted.
	 */
	tasks = xcalloc(m->env.nrcpt, sizeof(*tasks));
	failidx = xcalloc(m->env.nrcpt, sizeof(*failidx));
	failwhy = xcalloc(m->env.nrcpt, sizeof(*failwhy));
	for (i = 0; i < m->env.nrcpt; i++) {
		char	*d;

		if (m->env.done[i])
			continue;
		if (sched_queue(m->env.rcpts[i], &qc, err, sizeof(err)) ==
		    -1) {
			/* retried like any temporary failure */
			snprintf(why, sizeof(why), "4.3.0 policy error: %s",
			    err);
			failidx[nfail] = i;
			failwhy[nfail++] = xstrdup(why);
			continue;
		}
		/* petrelctl suspend: held, no attempt, until the end */
		if ((until = ctl_held(m->env.rcpts[i], qc.routing_domain)) !=
		    0) {
			if (held == 0 || until < held)
				held = until;
			continue;
		}
		d = xstrdup(qc.routing_domain);
		for (k = 0; k < ntask; k++)
			if (strcmp(tasks[k]->domain, d) == 0)
				break;
		if (k == ntask) {
			t = xcalloc(1, sizeof(*t));
			t->msg = m;
			t->domain = d;
			t->rcpts = xcalloc(m->env.nrcpt, sizeof(int));
			t->deliverd = sched_deliverd_for(d);
			tasks[ntask++] = t;
		} else
			free(d);
		tasks[k]->rcpts[tasks[k]->nrcpt++] = i;
	}
	if (ntask == 0 && held != 0 && nfail == 0) {
		/* all held: woken by resume (petrelctl), else at the end */
		free(tasks);
		sched_fails(NULL, failidx, failwhy, nfail);
		sched_add(m, held == INT64_MAX ? (int64_t)time(NULL) +
		    SUSPEND_RECHECK : held);
		return;
	}
	if (ntask == 0) {	/* nothing pending, or all failed: done */
		free(tasks);
		sched_unschedule(m);
		sched_fails(m, failidx, failwhy, nfail);
		if (nfail > 0)
			sched_settle(m);
		else
			sched_finish(m);
		return;
	}
	/*
	 * The policy's answers may have changed since the message was
	 * found dispatchable (a cache entry expired): every task's
	 * deliverd must be able to take it, else the message waits.
	 */
	for (k = 0; k < ntask; k++)
		if (!sched_deliverd_ok(tasks[k]->deliverd)) {
			int	 d = tasks[k]->deliverd;

			sched_fails(NULL, failidx, failwhy, nfail);
			sched_tasks_free(tasks, ntask);
			sched_wait(m, d);
			return;
		}
	/*
	 * One descriptor per task, taken before anything is sent: out of
	 * descriptors (EMFILE) is a short wait, never a crash.
	 */
	fd = spool_open_data(m->env.id);
	for (k = 0; fd != -1 && k < ntask; k++)
		if ((tasks[k]->fd = k == 0 ? fd : dup(fd)) == -1)
			break;
	if (fd == -1 || k < ntask) {
		int	 busy = errno == EMFILE || errno == ENFILE;

		if (busy)
			log_warnx("id=%s: out of descriptors; trying again "
			    "in %d s", m->env.id, DISPATCH_FD_WAIT);
		else
			log_warn("id=%s: cannot open message data", m->env.id);
		while (fd != -1 && k-- > 0)
			close(tasks[k]->fd);
		sched_fails(NULL, failidx, failwhy, nfail);
		sched_tasks_free(tasks, ntask);
		sched_add(m, time(NULL) + (busy ? DISPATCH_FD_WAIT :
		    q->conf->queued_retry_interval));
		return;
	}
	sched_unschedule(m);
	sched_fails(m, failidx, failwhy, nfail);
	for (k = 0; k < ntask; k++) {
		t = tasks[k];
		t->id = ++q->nexttask;
		RB_INSERT(task_tree, &q->tasks, t);
		m->inflight++;
		sched_send(t);
	}
	free(tasks);
}

/*
 * Dispatch what is due, DISPATCH_BATCH at a time.  A message whose deliverd
 * is away or full goes to that deliverd's wait list, so it neither holds
 * up other destinations nor is looked at again until the deliverd can
 * take work.  When no deliverd can, the due messages stay put and the
 * timer waits for the first one not yet due: a result or a deliverd
 * coming back kicks the dispatcher.
 */
static void
sched_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct qmsg	*m;
	int64_t		 now = time(NULL);
	int		 n = 0, a, more;

	sched_armed_now = 0;
	more = !q->shutdown && queue_balance(now);
	while (!q->shutdown && !q->paused &&
	    (m = RB_MIN(sched_tree, &q->schedule)) != NULL &&
	    m->env.next_try <= now && sched_any_deliverd_ok()) {
		if (++n > DISPATCH_BATCH) {
			sched_kick();	/* the rest on the next turn */
			return;
		}
		if ((a = sched_blocked_on(m)) != -1 &&
		    now - m->env.arrival < sched_max_age(m))
			sched_wait(m, a);
		else
			sched_dispatch(m);
	}
	sched_arm(now);
	if (more)
		sched_kick();	/* more to read in on the next turn */
}

static void
sched_task_free(struct task *t)
{
	RB_REMOVE(task_tree, &q->tasks, t);
	q->deliverd_load[t->deliverd]--;
	free(t->domain);
	free(t->rcpts);
	free(t);
}

/* The task is over: its message settles when it was the last. */
static void
sched_task_done(struct task *t)
{
	struct qmsg	*m = t->msg;

	sched_task_free(t);
	if (--m->inflight == 0)
		sched_settle(m);
}

/* Task id of deliverd d, which a frame (what) speaks of; NULL if none. */
static struct task *
sched_task_of(int d, uint32_t id, const char *what)
{
	struct task	 key, *t;

	key.id = id;
	if ((t = RB_FIND(task_tree, &q->tasks, &key)) == NULL ||
	    t->deliverd != d || t->gen != q->deliverd_gens[d]) {
		log_warnx("deliverd[%d]: %s for task %u, which it does not "
		    "hold", d, what, id);
		return NULL;
	}
	return t;
}

/* One recipient's outcome: log it and remember what it means. */
static void
sched_rcpt_result(struct qmsg *m, int rcpt, int status, const char *relay,
    const char *tls, const char *cipher, const char *auth,
    const char *response)
{
	static const char *events[] = {
		"Delivery", "TransientFailure", "Bounce"
	};
	char		 buf[512], host[256], enh[16];
	char		 f[1024], r[1024], rl[1024], tl[128], ci[128], au[600];
	double		 delay = sched_now() - m->env.arrival;

	if (status == RCPT_NOTTRIED) {
		/* deliverd stopped first: no attempt, no event, try again */
		log_debug("id=%s rcpt=<%s>: not tried (%s)", m->env.id,
		    log_token(m->env.rcpts[rcpt], r, sizeof(r)),
		    log_quote(response, buf, sizeof(buf)));
		m->nottried = 1;
		return;
	}
	m->tried = 1;
	log_info("id=%s event=%s from=<%s> rcpt=<%s>%s%s%s%s%s%s%s%s "
	    "response=\"%s\" delay=%.1fs attempts=%" PRIu32, m->env.id,
	    events[status],
	    log_token(m->env.from, f, sizeof(f)),
	    log_token(m->env.rcpts[rcpt], r, sizeof(r)),
	    *relay ? " relay=" : "", log_token(relay, rl, sizeof(rl)),
	    *tls ? " tls=" : "", log_token(tls, tl, sizeof(tl)),
	    *cipher ? " cipher=" : "", log_token(cipher, ci, sizeof(ci)),
	    *auth ? " auth=" : "", log_token(auth, au, sizeof(au)),
	    log_quote(response, buf, sizeof(buf)), delay, m->env.attempts + 1);
	switch (status) {
	case RCPT_DELIVERED:
		m->env.done[rcpt] = 1;
		m->dirty = 1;
		ctl_counter->delivered++;
		break;
	case RCPT_TEMPFAIL:
		ctl_counter->deferred++;
		m->tempfail = 1;
		free(m->last_error);
		m->last_error = xstrdup(response);
		break;
	case RCPT_PERMFAIL:
		ctl_counter->bounced++;
		/* the status: from the reply's enhanced code, else generic */
		if (smtp_parse_enhanced(response + (strlen(response) > 4 &&
		    isdigit((unsigned char)response[0]) &&
		    (response[3] == ' ' || response[3] == '-') ? 4 : 0),
		    enh, sizeof(enh)) == -1 || enh[0] != '5')
			strlcpy(enh, "5.0.0", sizeof(enh));
		strlcpy(host, relay, sizeof(host));
		host[strcspn(host, "[")] = '\0';
		bounce_add(m, rcpt, enh, response, host);
		break;
	}
}

/*
 * A task's result from deliverd d.  The frame is decoded whole and checked
 * against the task before anything changes; -1 is a protocol error.
 */
int
sched_result(int d, uint32_t id, struct mreader *r)
{
	struct task	*t;
	struct qmsg	*m;
	struct wire_result wr;
	uint32_t	 i;

	if ((t = sched_task_of(d, id, "result")) == NULL)
		return -1;
	if (wire_result_get(r, &wr) == -1)
		return -1;
	if (wr.nrcpt != (uint32_t)t->nrcpt) {
		wire_result_clear(&wr);
		return -1;
	}
	m = t->msg;
	for (i = 0; i < wr.nrcpt; i++)
		sched_rcpt_result(m, t->rcpts[i], wr.status[i], wr.relay,
		    wr.tls, wr.cipher, wr.auth, wr.response[i]);
	wire_result_clear(&wr);
	sched_task_done(t);
	sched_wake(d, 1);
	sched_kick();
	return 0;
}

/*
 * deliverd d tried nothing: the task's routing domain resolved to a
 * site that worker w owns.  The task goes to w at once, marked final
 * so that it is not sent back again (no ping-pong); the domain's later
 * tasks go to w directly (owner.c).  When w cannot take it now (away,
 * full, no descriptor), its recipients are "not tried": no attempt is
 * counted and the message comes back soon, to w.  -1 is a protocol
 * error.
 */
int
sched_redirect(int d, uint32_t id, struct mreader *r)
{
	struct task	*t;
	struct qmsg	*m;
	uint32_t	 w;
	int		 i, fd = -1;

	if ((t = sched_task_of(d, id, "redirect")) == NULL)
		return -1;
	if (m_get_u32(r, &w) == -1 || m_end(r) == -1 ||
	    w >= (uint32_t)q->ndeliverd || (int)w == d || t->final) {
		log_warnx("deliverd[%d]: bad redirect of task %u", d, id);
		return -1;
	}
	m = t->msg;
	owner_learn(t->domain, w);
	log_debug("id=%s domain=%s: redirected from deliverd[%d] to "
	    "deliverd[%u]", m->env.id, t->domain, d, w);
	if (sched_deliverd_ok(w) && (fd = spool_open_data(m->env.id)) != -1) {
		q->deliverd_load[d]--;
		t->deliverd = w;
		t->final = 1;
		t->fd = fd;
		sched_send(t);
	} else {
		for (i = 0; i < t->nrcpt; i++)
			sched_rcpt_result(m, t->rcpts[i], RCPT_NOTTRIED, "",
			    "", "", "", "4.3.0 redirected to a busy delivery "
			    "agent");
		sched_task_done(t);
	}
	sched_wake(d, 1);
	sched_kick();
	return 0;
}

/* A deliverd worker died: its tasks failed temporarily. */
void
sched_deliverd_lost(int d, uint64_t gen)
{
	struct task	*t, *next;
	struct qmsg	*m;
	int		 i;

	RB_FOREACH_SAFE(t, task_tree, &q->tasks, next) {
		if (t->deliverd != d || t->gen != gen)
			continue;
		m = t->msg;
		/*
		 * A reload stops deliverd on purpose: what it had not
		 * answered was most likely never read, so no attempt
		 * counts and it goes again in NOTTRIED_WAIT, not after a
		 * retry_interval.  (Sent twice at worst: at-least-once.)
		 */
		for (i = 0; i < t->nrcpt; i++)
			sched_rcpt_result(m, t->rcpts[i], q->paused ?
			    RCPT_NOTTRIED : RCPT_TEMPFAIL, "", "", "", "",
			    q->paused ? "4.3.0 delivery agent stopped for a "
			    "reload" : "4.3.0 delivery agent stopped during "
			    "delivery");
		sched_task_done(t);
	}
}

/* A deliverd worker is (back) on a new channel: its waiting messages go. */
void
sched_deliverd_back(int d)
{
	sched_wake(d, q->deliverd_max - q->deliverd_load[d]);
	sched_kick();
}

/*
 * The task limit per deliverd: the descriptors in flight to all deliverd processes
 * together stay within half of this process's budget (the spool file
 * pool and the files lent to smtpd take the rest), and within half of
 * deliverd's, whose connections take the other half.
 */
void
sched_init(void)
{
	int	 a, budget = fd_budget();

	RB_INIT(&q->schedule);
	RB_INIT(&q->tasks);
	for (a = 0; a < QUEUED_MAX_DELIVERD; a++)
		TAILQ_INIT(&q->waiting[a]);
	q->deliverd_max = budget / 2 / (q->ndeliverd > 0 ? q->ndeliverd : 1);
	if (q->deliverd_max < 8)
		q->deliverd_max = 8;
	log_info("queued: up to %d tasks in flight per delivery agent "
	    "(open files budget %d)", q->deliverd_max, budget);
	q->sched_ev = evtimer_new(q->base, sched_timer_cb, NULL);
}
