/*
 * deliverd.c - the SMTP client's life: tasks come from queued, are
 * queued per destination (routing domain), delivered over connections
 * that are reused, and their results go back recipient by recipient.
 * deliverd_imsg() and deliverd_imsg_queue() are where messages land.
 */
#include "config.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "policy.h"
#include "priv.h"
#include "proc.h"
#include "deliverd.h"
#include "keys.h"
#include "secret.h"
#include "tls.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"

#define DEST_RES_TTL	60	/* re-ask the resolver (it caches too) */
#define RESPONSE_MAX	400	/* of a reply passed on to queued */

struct deliverd	*dd;
static struct event *gc_ev;

static int
dest_cmp(struct dest *a, struct dest *b)
{
	return strcmp(a->name, b->name);
}
RB_GENERATE(dest_tree, dest, entry, dest_cmp);

static int
site_cmp(struct site *a, struct site *b)
{
	return strcmp(a->name, b->name);
}
RB_GENERATE(site_tree, site, entry, site_cmp);

static void
task_free(struct dtask *t)
{
	int	 i;

	if (t->fd != -1)
		close(t->fd);
	for (i = 0; i < t->nrcpt; i++) {
		free(t->rcpts[i]);
		free(t->response[i]);
	}
	free(t->rcpts);
	free(t->response);
	free(t->status);
	free(t->domain);
	free(t->from);
	free(t);
	dd->ntasks--;
}

/* Report every recipient's outcome to queued and forget the task. */
void
task_finish(struct dtask *t, const char *relay)
{
	struct wire_result wr;
	struct mbuf	 m;
	int		 i;

	if (dd->queue != NULL && t->gen == dd->queue_gen) {
		for (i = 0; i < t->nrcpt; i++) {
			/* no answer recorded is never a delivery */
			if (t->response[i] == NULL) {
				t->status[i] = RCPT_TEMPFAIL;
				t->response[i] = xstrdup("4.3.0 no result");
			}
			/* bounded, so 1000 recipients fit in one frame */
			if (strlen(t->response[i]) >= RESPONSE_MAX)
				t->response[i][RESPONSE_MAX - 1] = '\0';
		}
		memset(&wr, 0, sizeof(wr));
		wr.relay = relay ? relay : "";
		wr.tls = t->tls;
		wr.cipher = t->cipher;
		wr.auth = t->auth;
		wr.nrcpt = t->nrcpt;
		wr.status = t->status;
		wr.response = (const char **)t->response;
		m_create(&m, IMSG_DELIVERD_RESULT, t->id, -1);
		wire_result_add(&m, &wr);
		if (chan_send(dd->queue, &m) == -1)
			log_warnx("task %u: result not sent", t->id);
	}
	task_free(t);
	deliverd_maybe_exit();
}

/* Every recipient still without an answer gets this one. */
void
task_fail_all(struct dtask *t, int status, const char *why, const char *relay)
{
	int	 i;

	for (i = 0; i < t->nrcpt; i++) {
		if (t->response[i] != NULL)
			continue;
		t->status[i] = status;
		t->response[i] = xstrdup(why);
	}
	task_finish(t, relay);
}

static void
tasks_fail(struct dtask_list *list, int *n, int status, const char *why)
{
	struct dtask	*t;

	while ((t = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, t, entry);
		(*n)--;
		task_fail_all(t, status, why, "");
	}
}

/*
 * Close an idle connection of a site other than this one, to make room
 * within the descriptor budget.
 */
static int
site_evict_idle(struct site *s)
{
	struct site	*d;
	struct conn	*c;
	char		 q1[512], q2[512];

	RB_FOREACH(d, site_tree, &dd->sites) {
		if (d == s)
			continue;
		TAILQ_FOREACH(c, &d->conns, entry)
			if (c->state == C_IDLE)
				break;
		if (c == NULL)
			continue;
		log_debug("site=%s relay=%s: idle connection closed to make "
		    "room for site %s", log_quote(d->name, q1, sizeof(q1)),
		    c->relay, log_quote(s->name, q2, sizeof(q2)));
		conn_drop(c);
		return 1;
	}
	return 0;
}

/*
 * Give waiting tasks to idle connections, open new ones up to the
 * site's limit and within the descriptor budget: at the budget an idle
 * connection of another site makes room, else the site waits for one
 * to close.  max_message_rate and max_connection_rate (rate.c) may
 * make it wait for a token: then its timer calls this again.
 */
void
site_kick(struct site *s)
{
	struct dtask	*t;
	struct conn	*c;
	int		 limit = s->eg.connection_limit, starting;

	if (s->cap > 0 && s->cap < limit)
		limit = s->cap;
	while (s->nready > 0) {
		/* the transaction takes its token when it starts (client.c) */
		if (!site_rate_ok(s, &s->msg_rate, &s->eg.max_message_rate, 0))
			break;
		starting = 0;
		TAILQ_FOREACH(c, &s->conns, entry) {
			if (c->state == C_IDLE)
				break;
			if (c->task != NULL && c->state < C_TRANSACTION)
				starting++;
		}
		if (c == NULL && (s->nconn >= limit || dd->fd_pause))
			break;
		/*
		 * A connection still being set up will take a message
		 * token: open another only for a token nobody waits for,
		 * else a message rate opens connection_limit connections
		 * of which all but one go idle.
		 */
		if (c == NULL && starting >= rate_whole(&s->msg_rate,
		    &s->eg.max_message_rate))
			break;
		/* no token: nothing else is closed to make room either */
		if (c == NULL && !site_rate_ok(s, &s->conn_rate,
		    &s->eg.max_connection_rate, 0))
			break;
		if (c == NULL && dd->nconn >= dd->maxconn &&
		    !site_evict_idle(s)) {
			if (!s->budget_wait) {
				s->budget_wait = 1;
				TAILQ_INSERT_TAIL(&dd->budget_wait, s,
				    wait_entry);
			}
			break;
		}
		t = TAILQ_FIRST(&s->ready);
		TAILQ_REMOVE(&s->ready, t, entry);
		s->nready--;
		if (c != NULL)
			conn_take(c, t);
		else {
			/* there is one (checked above): take it now */
			(void)site_rate_ok(s, &s->conn_rate,
			    &s->eg.max_connection_rate, 1);
			conn_new(s, t);
		}
	}
}

/* Sites that waited for room within the budget get it, in turn. */
static void
deliverd_budget(evutil_socket_t fd, short ev, void *arg)
{
	struct site	*s;

	while (dd->nconn < dd->maxconn && !dd->fd_pause &&
	    (s = TAILQ_FIRST(&dd->budget_wait)) != NULL) {
		TAILQ_REMOVE(&dd->budget_wait, s, wait_entry);
		s->budget_wait = 0;
		site_kick(s);
	}
}

/* A connection closed: a site waiting for room may open one (later). */
void
deliverd_conn_closed(void)
{
	if (!TAILQ_EMPTY(&dd->budget_wait) && dd->nconn < dd->maxconn)
		event_active(dd->budget_ev, EV_TIMEOUT, 0);
}

/* The pause after running out of descriptors is over. */
static void
deliverd_fd_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct site	*s;

	dd->fd_pause = 0;
	RB_FOREACH(s, site_tree, &dd->sites)
		if (s->nready > 0)
			site_kick(s);
}

/*
 * Out of descriptors: no new connection for a moment.  Never fatal and
 * never a task's failure; logged at most every 10 s.
 */
void
deliverd_fd_shortage(const char *what)
{
	static time_t	 last;
	static unsigned	 more;
	struct timeval	 tv = { 1, 0 };
	time_t		 now = time(NULL);

	if (!dd->fd_pause) {
		dd->fd_pause = 1;
		evtimer_add(dd->fd_ev, &tv);
	}
	if (now - last < 10) {
		more++;
		return;
	}
	log_warnx("%s: out of file descriptors (%d other connections, at most "
	    "%d); new connections wait a second (%u more since the last "
	    "warning)", what, dd->nconn - 1, dd->maxconn, more);
	last = now;
	more = 0;
}

/*
 * The site of a resolved destination.  site_name already carries a
 * port other than the default (KumoMTA's rollup does), so it is the key.
 */
static struct site *
site_get(const char *name)
{
	struct site	 key, *s;

	key.name = (char *)name;
	if ((s = RB_FIND(site_tree, &dd->sites, &key)) == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->name = xstrdup(name);
		egress_defaults(&s->eg, dd->conf);
		TAILQ_INIT(&s->ready);
		TAILQ_INIT(&s->conns);
		site_rate_init(s);
		RB_INSERT(site_tree, &dd->sites, s);
	}
	return s;
}

/*
 * The site's egress path: get_egress_path_config for the routing
 * domain d and the site, answered from the policy's cache.  Connections
 * belong to the site, so when routing domains with different answers
 * share one, the domain whose tasks arrive first once the answer has
 * expired sets it for refresh_interval, as a KumoMTA ready queue keeps
 * the config it was made with until its refresh.  -1 with the error.
 */
static int
site_egress(struct site *s, struct dest *d, char *err, size_t errlen)
{
	struct egress	 eg;
	time_t		 now = time(NULL);

	if (s->eg_expires > now)
		return 0;
	if (policy_egress(dd->policy, d->name, s->name, &eg, err, errlen) ==
	    -1)
		return -1;
	egress_clear(&s->eg);
	s->eg = eg;
	s->eg_expires = now + eg.refresh_interval;
	return 0;
}

static void dest_kick(struct dest *);

static void
dest_resolved(struct dns_result *res, void *arg)
{
	struct dest	*d = arg;

	d->resolving = 0;
	d->res = *res;
	d->have_res = 1;
	d->res_time = time(NULL);
	dest_kick(d);
}

/*
 * Does the destination resolve to an address in prohibited_hosts?  Then
 * why says which, as KumoMTA words it (550 5.4.4).
 */
static int
dest_prohibited(struct dest *d, struct egress *eg, char *why, size_t len)
{
	char		 ip[INET6_ADDRSTRLEN], q[512];
	int		 h, a;

	if (eg->prohibited_hosts[0] == NULL)
		return 0;
	for (h = 0; h < d->res.nhosts; h++)
		for (a = 0; a < d->res.hosts[h].naddr; a++) {
			struct sockaddr *sa = (struct sockaddr *)
			    &d->res.hosts[h].addrs[a];

			if (!egress_hosts_match(eg->prohibited_hosts, sa))
				continue;
			sa_to_text(sa, ip, sizeof(ip));
			snprintf(why, len, "5.4.4 MX of %s includes %s[%s], "
			    "which is in prohibited_hosts", d->name,
			    log_quote(d->res.hosts[h].name, q, sizeof(q)), ip);
			return 1;
		}
	return 0;
}

/*
 * The site belongs to another worker: its connections and rates are
 * counted there.  Tasks go back to queued untried, which sends them to
 * that worker; a task that was redirected once already (final) stays
 * and is delivered here.  Returns how many stay.
 */
static int
dest_redirect(struct dest *d, struct site *s)
{
	struct dtask	*t, *next;
	struct mbuf	 m;
	int		 w = wire_deliverd_for(s->name, dd->nworkers), stay = 0;
	char		 q1[512], q2[512];

	TAILQ_FOREACH_SAFE(t, &d->pending, entry, next) {
		if (t->final) {
			stay++;
			continue;
		}
		TAILQ_REMOVE(&d->pending, t, entry);
		d->npending--;
		if (dd->queue != NULL && t->gen == dd->queue_gen) {
			log_debug("id=%s domain=%s site=%s: redirected to "
			    "deliverd[%d]", t->msgid,
			    log_quote(d->name, q1, sizeof(q1)),
			    log_quote(s->name, q2, sizeof(q2)), w);
			m_create(&m, IMSG_DELIVERD_REDIRECT, t->id, -1);
			m_add_u32(&m, w);
			if (chan_send(dd->queue, &m) == -1)
				log_warnx("task %u: redirect not sent", t->id);
		}
		task_free(t);
	}
	deliverd_maybe_exit();
	return stay;
}

/* Resolve the routing domain when needed, then hand tasks to its site. */
static void
dest_kick(struct dest *d)
{
	struct site	*s;
	struct dtask	*t;
	char		 why[1200], err[1024];

	if (d->npending == 0 || d->resolving)
		return;
	if (!d->have_res || time(NULL) - d->res_time >= DEST_RES_TTL) {
		d->resolving = 1;
		dns_resolve(d->name, d->port, dest_resolved, d);
		return;
	}
	switch (d->res.status) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
		snprintf(why, sizeof(why), "5.1.2 %s", d->res.error);
		tasks_fail(&d->pending, &d->npending, RCPT_PERMFAIL, why);
		return;
	case DNS_NULLMX:
		snprintf(why, sizeof(why), "5.1.10 %s", d->res.error);
		tasks_fail(&d->pending, &d->npending, RCPT_PERMFAIL, why);
		return;
	case DNS_TEMPFAIL:
		snprintf(why, sizeof(why), "4.4.3 %s", d->res.error);
		d->have_res = 0;	/* ask again next time */
		tasks_fail(&d->pending, &d->npending, RCPT_TEMPFAIL, why);
		return;
	}
	s = site_get(d->res.site_name);
	if (site_egress(s, d, err, sizeof(err)) == -1) {
		snprintf(why, sizeof(why), "4.3.0 policy error: %s", err);
		tasks_fail(&d->pending, &d->npending, RCPT_TEMPFAIL, why);
		return;
	}
	if (s->eg.suspended) {
		/*
		 * KumoMTA does not use a suspended path: its messages are
		 * held, not failed.  They go back untried (no attempt,
		 * no TransientFailure) and queued offers them again soon.
		 */
		log_info("site=%s domain=%s: suspended by policy; %d "
		    "message(s) held", log_quote(s->name, why, sizeof(why)),
		    log_quote(d->name, err, sizeof(err)), d->npending);
		tasks_fail(&d->pending, &d->npending, RCPT_NOTTRIED,
		    "4.4.5 destination suspended by policy");
		return;
	}
	if (dest_prohibited(d, &s->eg, why, sizeof(why))) {
		/* KumoMTA: a "poisonous" next hop fails the queue for good */
		tasks_fail(&d->pending, &d->npending, RCPT_PERMFAIL, why);
		return;
	}
	if (s->eg.smtp_port != d->port) {
		/* the addresses carry the port: ask again (from the cache) */
		d->port = s->eg.smtp_port;
		d->have_res = 0;
		dest_kick(d);
		return;
	}
	if (wire_deliverd_for(s->name, dd->nworkers) != dd->index &&
	    dest_redirect(d, s) == 0)
		return;
	s->res = d->res;
	while ((t = TAILQ_FIRST(&d->pending)) != NULL) {
		TAILQ_REMOVE(&d->pending, t, entry);
		d->npending--;
		TAILQ_INSERT_TAIL(&s->ready, t, entry);
		s->nready++;
	}
	site_kick(s);
}

static struct dest *
dest_get(const char *name)
{
	struct dest	 key, *d;

	key.name = (char *)name;
	if ((d = RB_FIND(dest_tree, &dd->dests, &key)) != NULL)
		return d;
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	d->port = dd->conf->deliverd_smtp_port;
	TAILQ_INIT(&d->pending);
	RB_INSERT(dest_tree, &dd->dests, d);
	return d;
}

/* Forget destinations and sites with nothing to do (from a timer only). */
static void
deliverd_gc(evutil_socket_t fd, short ev, void *arg)
{
	struct dest	*d, *dnext;
	struct site	*s, *snext;
	struct timeval	 tv = { 60, 0 };

	RB_FOREACH_SAFE(d, dest_tree, &dd->dests, dnext) {
		if (d->npending || d->resolving ||
		    time(NULL) - d->res_time < DEST_RES_TTL)
			continue;
		RB_REMOVE(dest_tree, &dd->dests, d);
		free(d->name);
		free(d);
	}
	RB_FOREACH_SAFE(s, site_tree, &dd->sites, snext) {
		if (s->cap && time(NULL) - s->cap_time >= 60) {
			s->cap = 0;	/* try the full limit again */
			site_kick(s);
		}
		if (s->nready || s->nconn || s->budget_wait ||
		    evtimer_pending(s->rate_ev, NULL) ||
		    !rate_full(&s->msg_rate, &s->eg.max_message_rate) ||
		    !rate_full(&s->conn_rate, &s->eg.max_connection_rate))
			continue;
		RB_REMOVE(site_tree, &dd->sites, s);
		site_rate_clear(s);
		egress_clear(&s->eg);
		free(s->name);
		free(s);
	}
	evtimer_add(gc_ev, &tv);
}

static int
deliverd_task(struct imsg *im)
{
	struct mreader	 r;
	struct wire_deliver w;
	struct dtask	*t;
	uint32_t	 i;
	struct dest	*d;
	char		*dom, *p;

	m_reader(&r, im);
	if (im->fd == -1 || wire_deliver_get(&r, &w) == -1)
		return -1;
	t = xcalloc(1, sizeof(*t));
	dd->ntasks++;
	t->id = im->hdr.peerid;
	t->gen = dd->queue_gen;
	t->fd = im->fd;
	im->fd = -1;
	strlcpy(t->msgid, w.id, sizeof(t->msgid));
	t->from = xstrdup(w.from);
	t->body8 = strcmp(w.body, "8BITMIME") == 0;
	t->smtputf8 = w.smtputf8;
	t->size = w.size;
	t->final = w.final;
	t->rcpts = xcalloc(w.nrcpt, sizeof(char *));
	t->response = xcalloc(w.nrcpt, sizeof(char *));
	t->status = xcalloc(w.nrcpt, 1);
	for (i = 0; i < w.nrcpt; i++)
		t->rcpts[t->nrcpt++] = xstrdup(w.rcpts[i]);
	dom = xstrdup(w.domain);
	wire_deliver_clear(&w);
	if (dd->shutdown) {
		free(dom);
		task_fail_all(t, RCPT_NOTTRIED,
		    "4.3.0 delivery agent shutting down", "");
		return 0;
	}
	for (p = dom; *p; p++)
		*p = tolower((unsigned char)*p);
	d = dest_get(dom);
	t->domain = dom;
	TAILQ_INSERT_TAIL(&d->pending, t, entry);
	d->npending++;
	dest_kick(d);
	return 0;
}

static int
deliverd_imsg_queue(struct chan *c, struct imsg *im)
{
	switch (im->hdr.type) {
	case IMSG_QUEUED_DELIVER:
		return deliverd_task(im);
	case IMSG_QUEUED_CTL_DELIVERD:
		return ctl_imsg(im);
	}
	log_warnx("queued: unexpected message type %u", im->hdr.type);
	return -1;
}

static void
tasks_drop_stale(struct dtask_list *list, int *n)
{
	struct dtask	*t, *next;

	TAILQ_FOREACH_SAFE(t, list, entry, next) {
		if (t->gen == dd->queue_gen)
			continue;
		TAILQ_REMOVE(list, t, entry);
		(*n)--;
		task_free(t);
	}
}

static void
deliverd_drop_stale(void)
{
	struct dest	*d;
	struct site	*s;

	RB_FOREACH(d, dest_tree, &dd->dests)
		tasks_drop_stale(&d->pending, &d->npending);
	RB_FOREACH(s, site_tree, &dd->sites)
		tasks_drop_stale(&s->ready, &s->nready);
}

/*
 * queued went away.  Its successor hands out the whole queue again, so
 * tasks that have not started are dropped at once (each would be a
 * duplicate); results of those under way go nowhere.
 */
static void
deliverd_queue_closed(struct chan *c)
{
	if (dd->queue != c)
		return;
	dd->queue = NULL;
	dd->queue_gen++;
	ctl_queue_closed();
	proc_peer_lost(dd->master, c, PEER_QUEUED, 0);
	deliverd_drop_stale();
}

static int
deliverd_imsg(struct chan *c, struct imsg *im)
{
	uint32_t	 kind, w;

	switch (im->hdr.type) {
	case IMSG_MASTER_PEER:
		if (chan_get_peer(im, 0, &kind, &w) == -1)
			return -1;
		if (kind == PEER_KEYSD)
			keys_channel(im->fd);
		else if (kind == PEER_QUEUED)
			chan_replace(&dd->queue, dd->base, im->fd, "queued",
			    deliverd_imsg_queue, deliverd_queue_closed, NULL);
		else
			return -1;
		im->fd = -1;
		return 0;
	}
	log_warnx("master: unexpected message type %u", im->hdr.type);
	return -1;
}

void
deliverd_maybe_exit(void)
{
	if (dd->shutdown && dd->ntasks == 0)
		event_base_loopexit(dd->base, NULL);
}

static void
deliverd_stop(void)
{
	struct dest	*d;
	struct site	*s;
	struct conn	*c, *next;

	if (dd->shutdown)
		return;
	dd->shutdown = 1;
	RB_FOREACH(d, dest_tree, &dd->dests)
		tasks_fail(&d->pending, &d->npending, RCPT_NOTTRIED,
		    "4.3.0 delivery agent shutting down");
	RB_FOREACH(s, site_tree, &dd->sites) {
		tasks_fail(&s->ready, &s->nready, RCPT_NOTTRIED,
		    "4.3.0 delivery agent shutting down");
		TAILQ_FOREACH_SAFE(c, &s->conns, entry, next)
			if (c->state == C_IDLE)
				conn_close(c);
	}
	deliverd_maybe_exit();
}

static void
deliverd_test_hook(void)
{
	chan_test_garble(dd->queue);
}

static void
deliverd_master_closed(struct chan *c)
{
	dd->master = NULL;
	deliverd_stop();
}


void
deliverd_main(struct proc_args *pa)
{
	struct petrel_conf *conf = pa->conf;
	struct timeval	 tv = { 60, 0 };
	char		 title[32], err[2048];

	snprintf(title, sizeof(title), "smtp client %d", pa->index);
	proc_child_init(pa, title);
	/* it holds a password during AUTH: no core dump, no ptrace */
	secret_hygiene();
	dd = xcalloc(1, sizeof(*dd));
	dd->conf = conf;
	dd->index = pa->index;
	dd->nworkers = conf->deliverd_workers > WIRE_MAX_DELIVERD ?
	    WIRE_MAX_DELIVERD : conf->deliverd_workers;
	RB_INIT(&dd->dests);
	RB_INIT(&dd->sites);
	TAILQ_INIT(&dd->budget_wait);
	dd->maxconn = fd_budget() / 2;

	if ((dd->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	/* the resolver reads /etc/resolv.conf before the chroot */
	if (dns_init(dd->base, conf->deliverd_resolver) == -1)
		fatalx("deliverd: resolver %s unusable",
		    conf->deliverd_resolver);
	conn_init_self();
	/* the policy reads its files now: there are none after the chroot */
	if ((dd->policy = policy_open(conf, err, sizeof(err))) == NULL)
		fatalx("deliverd: policy: %s", err);
	tls_client_init(conf);		/* reads ca_file */
	priv_drop("deliverd", conf->privsep, conf->deliverd_user,
	    conf->deliverd_chroot);

	proc_child_signals(dd->base, deliverd_stop);
	proc_test_hook(dd->base, deliverd_test_hook);
	gc_ev = evtimer_new(dd->base, deliverd_gc, NULL);
	dd->budget_ev = evtimer_new(dd->base, deliverd_budget, NULL);
	dd->fd_ev = evtimer_new(dd->base, deliverd_fd_resume, NULL);
	evtimer_add(gc_ev, &tv);

	dd->master = chan_new(dd->base, PROC_MASTER_FD, "master",
	    deliverd_imsg, deliverd_master_closed, NULL);
	chan_compose(dd->master, IMSG_CHILD_READY, 0, -1, NULL, 0);
	event_base_dispatch(dd->base);
	exit(0);
}
