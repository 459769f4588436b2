/*
 * sched.c - delivery scheduling: which message goes to which deliverd
 * worker when, what its results mean, retries with backoff, bounces
 * (RFC 3464 DSN to the sender) and expiration.
 *
 * The schedule is a red-black tree ordered by next attempt; one timer
 * fires for its head.  A due message is split by routing domain into
 * tasks, each sent to the deliverd worker that owns that domain (a
 * hash), so per-destination limits hold inside one process.  When its
 * last task is back, the message "settles": bounces are reported,
 * finished messages are removed, the rest are written back with their
 * next attempt time.  A recipient's failure is acted on (DSN, removal)
 * only after what must survive a crash is durable.
 */
#include "config.h"

#include <sys/stat.h>
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
#include "dsn.h"
#include "log.h"
#include "queued.h"
#include "smtp.h"
#include "util.h"
#include "wire.h"

#define SCHED_SCAN_BLOCKED	1000	/* waiting messages looked at per round */

static void	sched_settle(struct qmsg *);
static void	sched_finish(struct qmsg *);
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

static double
now_f(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void
sched_arm(void)
{
	struct qmsg	*m;
	struct timeval	 tv = { 0, 0 };
	int64_t		 now = time(NULL);

	sched_armed_now = 0;
	if ((m = RB_MIN(sched_tree, &q->schedule)) == NULL) {
		evtimer_del(q->sched_ev);
		return;
	}
	if (m->env.next_try > now)
		tv.tv_sec = m->env.next_try - now;
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

void
sched_add(struct qmsg *m, int64_t when)
{
	if (m->scheduled)
		RB_REMOVE(sched_tree, &q->schedule, m);
	m->env.next_try = when;
	RB_INSERT(sched_tree, &q->schedule, m);
	m->scheduled = 1;
	sched_kick();
}

static void
sched_unschedule(struct qmsg *m)
{
	if (m->scheduled) {
		RB_REMOVE(sched_tree, &q->schedule, m);
		m->scheduled = 0;
	}
}

/* Until policy decides: the relay host, or the recipient's domain. */
static char *
sched_routing_domain(const char *rcpt)
{
	const char	*at;
	char		*d, *p;

	if (*q->conf->queued_relayhost != '\0')
		return xstrdup(q->conf->queued_relayhost);
	at = strrchr(rcpt, '@');
	d = xstrdup(at ? at + 1 : "");
	for (p = d; *p; p++)
		*p = tolower((unsigned char)*p);
	return d;
}

/* The deliverd worker that owns a routing domain (case does not matter). */
static int
sched_agent_for(const char *domain)
{
	uint32_t	 h = 2166136261u;	/* FNV-1a */

	for (; *domain; domain++)
		h = (h ^ (unsigned char)tolower((unsigned char)*domain)) *
		    16777619u;
	return h % q->nagents;
}

static int
sched_agent_ok(int a)
{
	return q->agents[a] != NULL &&
	    q->agent_load[a] < QUEUED_TASKS_PER_AGENT;
}

static int
sched_any_agent_ok(void)
{
	int	 a;

	for (a = 0; a < q->nagents; a++)
		if (sched_agent_ok(a))
			return 1;
	return 0;
}

/* Can every pending recipient's agent take a task now?  No allocation. */
static int
sched_can_dispatch(struct qmsg *m)
{
	const char	*d;
	int		 i;

	for (i = 0; i < m->env.nrcpt; i++) {
		if (m->env.done[i])
			continue;
		if (*q->conf->queued_relayhost != '\0')
			d = q->conf->queued_relayhost;
		else if ((d = strrchr(m->env.rcpts[i], '@')) != NULL)
			d++;
		else
			d = "";
		if (!sched_agent_ok(sched_agent_for(d)))
			return 0;
	}
	return 1;
}

void
sched_persist(struct qmsg *m)
{
	struct commit_job *j;

	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_UPDATE;
	strlcpy(j->id, m->env.id, sizeof(j->id));
	if (envelope_encode(&m->env, &j->envtext, &j->envlen) == -1) {
		log_warnx("id=%s: cannot encode envelope", m->env.id);
		free(j);
		return;
	}
	commit_submit(j);
}

static void
sched_add_bounce(struct qmsg *m, int rcpt, const char *status,
    const char *diagnostic, const char *remote_mta)
{
	struct qbounce	*b;

	if ((b = reallocarray(m->bounces, m->nbounce + 1, sizeof(*b))) == NULL)
		fatal("reallocarray");
	m->bounces = b;
	b = &m->bounces[m->nbounce++];
	strlcpy(b->status, status, sizeof(b->status));
	b->rcpt = rcpt;
	b->diagnostic = xstrdup(diagnostic);
	b->remote_mta = remote_mta && *remote_mta ? xstrdup(remote_mta) : NULL;
}

static void
sched_clear_bounces(struct qmsg *m, int mark_done)
{
	int	 i;

	for (i = 0; i < m->nbounce; i++) {
		if (mark_done)
			m->env.done[m->bounces[i].rcpt] = 1;
		free(m->bounces[i].diagnostic);
		free(m->bounces[i].remote_mta);
	}
	free(m->bounces);
	m->bounces = NULL;
	m->nbounce = 0;
}

static int
sched_bounced(struct qmsg *m, int rcpt)
{
	int	 i;

	for (i = 0; i < m->nbounce; i++)
		if (m->bounces[i].rcpt == rcpt)
			return 1;
	return 0;
}

/* Every recipient still pending has run out of time: 5.4.7. */
static void
sched_expire(struct qmsg *m, const char *last)
{
	char		 diag[512], buf[512];
	double		 delay = now_f() - m->env.arrival;
	int		 i;

	for (i = 0; i < m->env.nrcpt; i++) {
		if (m->env.done[i] || sched_bounced(m, i))
			continue;
		snprintf(diag, sizeof(diag), "551 5.4.7 delivery time expired "
		    "after %.0f s%s%s", delay, last ? "; last error: " : "",
		    last ? last : "");
		log_info("id=%s event=Expiration from=<%s> rcpt=<%s> "
		    "response=\"%s\" delay=%.1fs attempts=%" PRIu32,
		    m->env.id, m->env.from, m->env.rcpts[i],
		    log_quote(diag, buf, sizeof(buf)), delay, m->env.attempts);
		sched_add_bounce(m, i, "5.4.7", diag, NULL);
	}
}

static void
sched_dsn_done(struct commit_job *j)
{
	struct qmsg	*m = queue_find(j->parent), *dm;

	if (j->ok) {
		log_info("id=%s event=Reception from=<> rcpt=<%s> nrcpt=1 "
		    "size=%" PRIu64 " client=[local] helo=%s dsn_for=%s",
		    j->id, j->env.rcpts[0], j->env.size, q->conf->hostname,
		    j->parent);
		if ((dm = queue_insert(&j->env)) != NULL)
			sched_add(dm, 0);
	} else {
		log_warnx("id=%s: DSN for %s not committed: %s", j->id,
		    j->parent, j->reason);
		spool_abort_message(j->id);
	}
	if (m != NULL) {
		sched_clear_bounces(m, j->ok);
		sched_finish(m);
	}
	envelope_clear(&j->env);
	free(j->envtext);
	free(j);
}

/*
 * Report the bounced recipients to the sender.  The DSN is committed
 * like any received message; only then are the recipients marked done.
 */
static void
sched_send_dsn(struct qmsg *m)
{
	struct dsn_rcpt	*dr;
	struct dsn_info	 info;
	struct commit_job *j;
	struct stat	 st;
	int		 fd, origfd, i, expired = 0;
	char		 reason[128];

	if (*m->env.from == '\0') {
		/* never a bounce to the null sender */
		log_info("id=%s: no DSN for a message from the null sender",
		    m->env.id);
		sched_clear_bounces(m, 1);
		sched_finish(m);
		return;
	}
	dr = xcalloc(m->nbounce, sizeof(*dr));
	for (i = 0; i < m->nbounce; i++) {
		dr[i].rcpt = m->env.rcpts[m->bounces[i].rcpt];
		dr[i].status = m->bounces[i].status;
		dr[i].diagnostic = m->bounces[i].diagnostic;
		dr[i].remote_mta = m->bounces[i].remote_mta;
		if (strcmp(dr[i].status, "5.4.7") == 0)
			expired = 1;
	}
	snprintf(reason, sizeof(reason), expired ?
	    "It could not be delivered within %" PRId64 " hours." :
	    "The receiving side refused it permanently.",
	    q->conf->queued_max_age / 3600);
	memset(&info, 0, sizeof(info));
	info.reporting_mta = q->conf->hostname;
	info.msgid = m->env.id;
	info.from = m->env.from;
	info.arrival = m->env.arrival;
	info.now = time(NULL);
	info.reason = reason;
	info.rcpts = dr;
	info.nrcpt = m->nbounce;

	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_RECEIVED;
	j->done = sched_dsn_done;
	strlcpy(j->parent, m->env.id, sizeof(j->parent));
	fd = spool_open_message(j->id);
	origfd = spool_open_data(m->env.id);
	if (fd == -1 || origfd == -1 || dsn_write(fd, origfd, &info) == -1 ||
	    fstat(fd, &st) == -1) {
		log_warn("id=%s: cannot write the DSN", m->env.id);
		if (fd != -1) {
			close(fd);
			spool_abort_message(j->id);
		}
		if (origfd != -1)
			close(origfd);
		free(dr);
		free(j);
		/* the recipients stay pending and will fail again */
		sched_clear_bounces(m, 0);
		m->tempfail = 1;
		sched_finish(m);
		return;
	}
	close(fd);
	close(origfd);
	free(dr);
	strlcpy(j->env.id, j->id, sizeof(j->env.id));
	j->env.arrival = info.now;
	j->env.helo = xstrdup(q->conf->hostname);
	j->env.client = xstrdup("local");
	j->env.from = xstrdup("");
	j->env.body = xstrdup("8BITMIME");
	j->env.size = st.st_size;
	if (envelope_add_rcpt(&j->env, m->env.from, 0) == -1 ||
	    envelope_encode(&j->env, &j->envtext, &j->envlen) == -1)
		fatalx("cannot build the DSN envelope");
	commit_submit(j);
}

static int64_t
sched_backoff(uint32_t attempts)
{
	int64_t		 d = q->conf->queued_retry_interval;
	int64_t		 max = q->conf->queued_max_retry_interval;
	uint32_t	 i;

	for (i = 1; i < attempts && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	/* jitter of +-10%, so retries of one outage spread out */
	d = d * (90 + (int64_t)arc4random_uniform(21)) / 100;
	return d < 1 ? 1 : d;
}

/* Bounces are reported; now remove the message or write it back. */
static void
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
	m->env.next_try = time(NULL) + sched_backoff(m->env.attempts);
	sched_persist(m);
	sched_add(m, m->env.next_try);
}

static void
sched_settle(struct qmsg *m)
{
	m->env.attempts++;
	if (m->tempfail &&
	    time(NULL) - m->env.arrival >= q->conf->queued_max_age)
		sched_expire(m, m->last_error);
	m->tempfail = 0;
	if (m->nbounce > 0)
		sched_send_dsn(m);
	else
		sched_finish(m);
}

/* Split a due message into tasks; 0 if it has to wait for capacity. */
static int
sched_dispatch(struct qmsg *m)
{
	struct task	*t, **tasks;
	int		 ntask = 0, i, k, fd;

	if (!sched_can_dispatch(m) &&
	    time(NULL) - m->env.arrival < q->conf->queued_max_age)
		return 0;
	if (time(NULL) - m->env.arrival >= q->conf->queued_max_age) {
		sched_unschedule(m);
		sched_expire(m, m->last_error);
		if (m->nbounce > 0)
			sched_send_dsn(m);
		else
			sched_finish(m);
		return 1;
	}
	/* group pending recipients by routing domain */
	tasks = xcalloc(m->env.nrcpt, sizeof(*tasks));
	for (i = 0; i < m->env.nrcpt; i++) {
		char	*d;

		if (m->env.done[i])
			continue;
		d = sched_routing_domain(m->env.rcpts[i]);
		for (k = 0; k < ntask; k++)
			if (strcmp(tasks[k]->domain, d) == 0)
				break;
		if (k == ntask) {
			t = xcalloc(1, sizeof(*t));
			t->msg = m;
			t->domain = d;
			t->rcpts = xcalloc(m->env.nrcpt, sizeof(int));
			t->agent = sched_agent_for(d);
			tasks[ntask++] = t;
		} else
			free(d);
		tasks[k]->rcpts[tasks[k]->nrcpt++] = i;
	}
	for (k = 0; k < ntask; k++)
		if (q->agents[tasks[k]->agent] == NULL ||
		    q->agent_load[tasks[k]->agent] >= QUEUED_TASKS_PER_AGENT)
			break;
	if (k < ntask || ntask == 0) {
		for (k = 0; k < ntask; k++) {
			free(tasks[k]->domain);
			free(tasks[k]->rcpts);
			free(tasks[k]);
		}
		free(tasks);
		if (ntask == 0) {	/* nothing pending: done */
			sched_unschedule(m);
			sched_finish(m);
			return 1;
		}
		return 0;
	}
	if ((fd = spool_open_data(m->env.id)) == -1) {
		log_warn("id=%s: cannot open message data", m->env.id);
		for (k = 0; k < ntask; k++) {
			free(tasks[k]->domain);
			free(tasks[k]->rcpts);
			free(tasks[k]);
		}
		free(tasks);
		sched_add(m, time(NULL) + q->conf->queued_retry_interval);
		return 1;
	}
	sched_unschedule(m);
	for (k = 0; k < ntask; k++) {
		struct mbuf	 mb;
		int		 dfd;

		t = tasks[k];
		t->id = ++q->nexttask;
		t->gen = q->agent_gens[t->agent];
		RB_INSERT(task_tree, &q->tasks, t);
		m->inflight++;
		q->agent_load[t->agent]++;
		if ((dfd = dup(fd)) == -1)
			fatal("dup");
		m_create(&mb, IMSG_QUEUED_DELIVER, t->id, dfd);
		m_add_string(&mb, m->env.id);
		m_add_string(&mb, t->domain);
		m_add_string(&mb, m->env.from);
		m_add_string(&mb, m->env.body);
		m_add_u8(&mb, m->env.smtputf8);
		m_add_u64(&mb, m->env.size);
		m_add_u32(&mb, t->nrcpt);
		for (i = 0; i < t->nrcpt; i++)
			m_add_string(&mb, m->env.rcpts[t->rcpts[i]]);
		chan_send(q->agents[t->agent], &mb);
	}
	free(tasks);
	close(fd);
	return 1;
}

/*
 * Dispatch what is due.  A message whose deliverd worker is away or
 * full is passed over, not waited on, so one destination's agent does
 * not hold up the others; while some wait, the schedule is looked at
 * again every second (and at once when a result or an agent comes).
 */
static void
sched_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct qmsg	*m, *next;
	struct timeval	 tv = { 1, 0 };
	int64_t		 now = time(NULL);
	int		 blocked = 0;

	sched_armed_now = 0;
	m = RB_MIN(sched_tree, &q->schedule);
	while (m != NULL && m->env.next_try <= now && !q->shutdown &&
	    q->nagents > 0 && blocked < SCHED_SCAN_BLOCKED &&
	    sched_any_agent_ok()) {
		next = RB_NEXT(sched_tree, &q->schedule, m);
		if (!sched_dispatch(m))
			blocked++;
		m = next;
	}
	if (blocked > 0) {
		evtimer_add(q->sched_ev, &tv);
		return;
	}
	sched_arm();
}

static void
sched_task_free(struct task *t)
{
	RB_REMOVE(task_tree, &q->tasks, t);
	q->agent_load[t->agent]--;
	free(t->domain);
	free(t->rcpts);
	free(t);
}

/* One recipient's outcome: log it and remember what it means. */
static void
sched_rcpt_result(struct qmsg *m, int rcpt, int status, const char *relay,
    const char *tls, const char *response)
{
	static const char *events[] = {
		"Delivery", "TransientFailure", "Bounce"
	};
	char		 buf[512], host[256], enh[16];
	double		 delay = now_f() - m->env.arrival;

	log_info("id=%s event=%s from=<%s> rcpt=<%s>%s%s%s%s response=\"%s\" "
	    "delay=%.1fs attempts=%" PRIu32, m->env.id, events[status],
	    m->env.from, m->env.rcpts[rcpt], *relay ? " relay=" : "", relay,
	    *tls ? " tls=" : "", tls, log_quote(response, buf, sizeof(buf)),
	    delay, m->env.attempts + 1);
	switch (status) {
	case RCPT_DELIVERED:
		m->env.done[rcpt] = 1;
		break;
	case RCPT_TEMPFAIL:
		m->tempfail = 1;
		free(m->last_error);
		m->last_error = xstrdup(response);
		break;
	case RCPT_PERMFAIL:
		/* the status: from the reply's enhanced code, else generic */
		if (smtp_parse_enhanced(response + (strlen(response) > 4 &&
		    isdigit((unsigned char)response[0]) &&
		    (response[3] == ' ' || response[3] == '-') ? 4 : 0),
		    enh, sizeof(enh)) == -1 || enh[0] != '5')
			strlcpy(enh, "5.0.0", sizeof(enh));
		strlcpy(host, relay, sizeof(host));
		host[strcspn(host, "[")] = '\0';
		sched_add_bounce(m, rcpt, enh, response, host);
		break;
	}
}

void
sched_result(uint32_t id, struct mreader *r)
{
	struct task	 key, *t;
	struct qmsg	*m;
	const char	*relay, *tls, *resp;
	uint32_t	 n, i;
	uint8_t		 st;

	key.id = id;
	if ((t = RB_FIND(task_tree, &q->tasks, &key)) == NULL) {
		log_warnx("result for unknown task %u", id);
		return;
	}
	m = t->msg;
	if (m_get_string(r, &relay) == -1 || m_get_string(r, &tls) == -1 ||
	    m_get_u32(r, &n) == -1 || n != (uint32_t)t->nrcpt) {
		r->err = 1;
		return;
	}
	for (i = 0; i < n; i++) {
		if (m_get_u8(r, &st) == -1 || st > RCPT_PERMFAIL ||
		    m_get_string(r, &resp) == -1) {
			r->err = 1;
			return;
		}
		sched_rcpt_result(m, t->rcpts[i], st, relay, tls, resp);
	}
	sched_task_free(t);
	if (--m->inflight == 0)
		sched_settle(m);
	sched_kick();
}

/* A deliverd worker died: its tasks failed temporarily. */
void
sched_agent_lost(int agent, uint64_t gen)
{
	struct task	*t, *next;
	struct qmsg	*m;
	int		 i;

	RB_FOREACH_SAFE(t, task_tree, &q->tasks, next) {
		if (t->agent != agent || t->gen != gen)
			continue;
		m = t->msg;
		for (i = 0; i < t->nrcpt; i++)
			sched_rcpt_result(m, t->rcpts[i], RCPT_TEMPFAIL, "", "",
			    "4.3.0 delivery agent stopped during delivery");
		sched_task_free(t);
		if (--m->inflight == 0)
			sched_settle(m);
	}
}

void
sched_init(void)
{
	RB_INIT(&q->schedule);
	RB_INIT(&q->tasks);
	q->sched_ev = evtimer_new(q->base, sched_timer_cb, NULL);
}
