/*
 * queued.c - the queue manager's life: set up the spool, recover it,
 * serve the smtpd workers, commit their messages.  queued_imsg() is
 * where every message from another process lands.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
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
#include "queued.h"
#include "wire.h"
#include "wirecodec.h"

struct queued	*q;

static int
inmsg_cmp(struct inmsg *a, struct inmsg *b)
{
	return strcmp(a->id, b->id);
}
RB_GENERATE(inmsg_tree, inmsg, entry, inmsg_cmp);

static struct inmsg *
inmsg_find(const char *id)
{
	struct inmsg	 key;

	strlcpy(key.id, id, sizeof(key.id));
	return RB_FIND(inmsg_tree, &q->incoming, &key);
}

static void
inmsg_drop(struct inmsg *m)
{
	RB_REMOVE(inmsg_tree, &q->incoming, m);
	free(m);
}

static void
queued_reply_commit(int w, uint64_t gen, uint32_t sessid,
    const char *id, int ok, const char *reason)
{
	struct mbuf	 m;

	if (q->smtpd[w] == NULL || q->smtpd_gens[w] != gen)
		return;		/* that smtpd is gone */
	m_create(&m, IMSG_QUEUED_COMMIT, sessid, -1);
	m_add_string(&m, id);
	m_add_u8(&m, ok);
	m_add_string(&m, reason);
	chan_send(q->smtpd[w], &m);
}

/* The event loop's side of a finished commit of a received message. */
static void
queued_commit_done(struct commit_job *j)
{
	struct inmsg	*m;
	struct qmsg	*qm;

	if ((m = inmsg_find(j->id)) != NULL)
		inmsg_drop(m);
	if (j->ok) {
		char		 rcpts[1024], a[1024];
		size_t		 l = 0;
		int		 i;

		rcpts[0] = '\0';
		for (i = 0; i < j->env.nrcpt && l < sizeof(rcpts); i++)
			l += snprintf(rcpts + l, sizeof(rcpts) - l, "%s<%s>",
			    i ? "," : "", log_token(j->env.rcpts[i], a,
			    sizeof(a)));
		log_info("id=%s event=Reception from=<%s> rcpt=%s nrcpt=%d "
		    "size=%" PRIu64 " client=[%s] helo=%s", j->id,
		    log_token(j->env.from, a, sizeof(a)), rcpts, j->env.nrcpt,
		    j->env.size, j->env.client, j->env.helo);
		ctl_counter->received++;
		if ((qm = queue_insert(&j->env)) != NULL)
			sched_add(qm, 0);
	} else {
		log_warnx("id=%s: commit failed: %s", j->id, j->reason);
		spool_abort_message(j->id);
	}
	queued_reply_commit(j->smtpd, j->gen, j->sessid, j->id, j->ok,
	    j->ok ? "" : j->reason);
	envelope_clear(&j->env);
	free(j->envtext);
	free(j);
}

static int
queued_open(int w, uint32_t sessid)
{
	struct inmsg	*m;
	struct mbuf	 mb;
	char		 id[MSGID_LEN + 1];
	int		 fd;

	if (q->shutdown || (fd = commit_take_file(id)) == -1) {
		const char *why = q->shutdown ? "shutting down" : strerror(errno);

		if (!q->shutdown)
			log_warn("spool: cannot create a message file");
		m_create(&mb, IMSG_QUEUED_MSG_FD, sessid, -1);
		m_add_string(&mb, "");
		m_add_string(&mb, why);
		return chan_send(q->smtpd[w], &mb);
	}
	m = xcalloc(1, sizeof(*m));
	strlcpy(m->id, id, sizeof(m->id));
	m->smtpd = w;
	m->gen = q->smtpd_gens[w];
	RB_INSERT(inmsg_tree, &q->incoming, m);
	m_create(&mb, IMSG_QUEUED_MSG_FD, sessid, fd);
	m_add_string(&mb, id);
	m_add_string(&mb, "");
	return chan_send(q->smtpd[w], &mb);
}

static int
queued_commit(int w, uint32_t sessid, struct mreader *r)
{
	struct commit_job *j;
	struct inmsg	*m;
	struct wire_commit wc;
	const char	*id;
	uint32_t	 i;

	if (wire_commit_get(r, &wc) == -1)
		return -1;
	id = wc.id;
	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_RECEIVED;
	j->done = queued_commit_done;
	strlcpy(j->id, id, sizeof(j->id));
	j->smtpd = w;
	j->gen = q->smtpd_gens[w];
	j->sessid = sessid;
	j->env.helo = xstrdup(wc.helo);
	j->env.client = xstrdup(wc.client);
	j->env.from = xstrdup(wc.from);
	j->env.body = xstrdup(wc.body);
	j->env.smtputf8 = wc.smtputf8;
	j->env.size = wc.size;
	j->env.arrival = wc.arrival;
	for (i = 0; i < wc.nrcpt; i++)
		if (envelope_add_rcpt(&j->env, wc.rcpts[i], 0) == -1)
			fatal("envelope_add_rcpt");
	wire_commit_clear(&wc);
	strlcpy(j->env.id, j->id, sizeof(j->env.id));

	m = inmsg_find(id);
	if (m == NULL || m->smtpd != w || m->gen != q->smtpd_gens[w] ||
	    m->committing) {
		queued_reply_commit(w, j->gen, sessid, id, 0,
		    "unknown message");
		envelope_clear(&j->env);
		free(j);
		return 0;
	}
	if (envelope_encode(&j->env, &j->envtext, &j->envlen) == -1) {
		queued_reply_commit(w, j->gen, sessid, id, 0,
		    "cannot encode envelope");
		spool_abort_message(id);
		inmsg_drop(m);
		envelope_clear(&j->env);
		free(j);
		return 0;
	}
	m->committing = 1;
	commit_submit(j);
	return 0;
}

static int
peer_index(struct chan *c)
{
	return (int)(intptr_t)c->arg;
}

static int
queued_imsg_smtpd(struct chan *c, struct imsg *im)
{
	struct mreader	 r;
	struct inmsg	*m;
	const char	*id;
	int		 w = peer_index(c);

	m_reader(&r, im);
	switch (im->hdr.type) {
	case IMSG_SMTPD_MSG_OPEN:
		if (m_end(&r) == -1)
			return -1;
		return queued_open(w, im->hdr.peerid) == -1 ? -1 : 0;
	case IMSG_SMTPD_MSG_COMMIT:
		return queued_commit(w, im->hdr.peerid, &r);
	case IMSG_SMTPD_MSG_ABORT:
		if (m_get_string(&r, &id) == -1 || m_end(&r) == -1)
			return -1;
		if ((m = inmsg_find(id)) != NULL && m->smtpd == w &&
		    !m->committing) {
			spool_abort_message(id);
			inmsg_drop(m);
		}
		return 0;
	case IMSG_SMTPD_MSG_STATUS:
		if (m_get_string(&r, &id) == -1 || m_end(&r) == -1)
			return -1;
		queued_reply_commit(w, q->smtpd_gens[w], im->hdr.peerid, id,
		    queue_known(id), "not committed");
		return 0;
	}
	log_warnx("smtpd[%d]: unexpected message type %u", w, im->hdr.type);
	return -1;
}

/* An smtpd went away: forget the messages it was still receiving. */
static void
queued_smtpd_closed(struct chan *c)
{
	struct inmsg	*m, *next;
	int		 w = peer_index(c);
	uint64_t	 gen = q->smtpd_gens[w];

	if (q->smtpd[w] != c)
		return;
	q->smtpd[w] = NULL;
	proc_peer_lost(q->master, c, PEER_SMTPD, w);
	RB_FOREACH_SAFE(m, inmsg_tree, &q->incoming, next) {
		if (m->smtpd != w || m->gen != gen || m->committing)
			continue;
		spool_abort_message(m->id);
		inmsg_drop(m);
	}
}

static int
queued_imsg_deliverd(struct chan *c, struct imsg *im)
{
	struct mreader	 r;

	m_reader(&r, im);
	switch (im->hdr.type) {
	case IMSG_DELIVERD_RESULT:
		return sched_result(peer_index(c), im->hdr.peerid, &r);
	case IMSG_DELIVERD_REDIRECT:
		return sched_redirect(peer_index(c), im->hdr.peerid, &r);
	case IMSG_DELIVERD_CTL_REPLY:
		return ctl_deliverd_reply(peer_index(c), im->hdr.peerid, &r);
	}
	log_warnx("deliverd: unexpected message type %u", im->hdr.type);
	return -1;
}

static void
queued_deliverd_closed(struct chan *c)
{
	int	 a = peer_index(c);

	if (q->deliverd[a] != c)
		return;
	q->deliverd[a] = NULL;
	proc_peer_lost(q->master, c, PEER_DELIVERD, a);
	sched_deliverd_lost(a, q->deliverd_gens[a]);
}

static char	 smtpd_names[QUEUED_MAX_WORKERS][16];
static char	 deliverd_names[QUEUED_MAX_DELIVERD][16];

static int
queued_imsg(struct chan *c, struct imsg *im)
{
	uint32_t	 kind, w;

	switch (im->hdr.type) {
	case IMSG_MASTER_PAUSE:
		if (im->datalen != 0)
			return -1;
		log_info("queued: no more deliveries until the restart "
		    "(reload)");
		q->paused = 1;
		/* from now on a stopping deliverd's unanswered tasks are
		   not tried, not failed (sched_deliverd_lost) */
		chan_compose(q->master, IMSG_QUEUED_PAUSED, 0, -1, NULL, 0);
		return 0;
	case IMSG_MASTER_CTL_REPLY: {
		struct mreader	 r;

		m_reader(&r, im);
		return ctl_master_reply(im->hdr.peerid, &r);
	}
	case IMSG_MASTER_PEER:
		if (chan_get_peer(im, 0, &kind, &w) == -1)
			return -1;
		if (kind == PEER_SMTPD && w < QUEUED_MAX_WORKERS) {
			snprintf(smtpd_names[w], sizeof(smtpd_names[w]),
			    "smtpd[%u]", w);
			chan_replace(&q->smtpd[w], q->base, im->fd,
			    smtpd_names[w], queued_imsg_smtpd,
			    queued_smtpd_closed, (void *)(intptr_t)w);
			im->fd = -1;
			/* a new generation: replies to the old one go nowhere */
			q->smtpd_gens[w] = ++q->nextgen;
			return 0;
		}
		if (kind == PEER_DELIVERD && w < QUEUED_MAX_DELIVERD) {
			snprintf(deliverd_names[w], sizeof(deliverd_names[w]),
			    "deliverd[%u]", w);
			chan_replace(&q->deliverd[w], q->base, im->fd,
			    deliverd_names[w], queued_imsg_deliverd,
			    queued_deliverd_closed, (void *)(intptr_t)w);
			im->fd = -1;
			q->deliverd_gens[w] = ++q->nextgen;
			sched_deliverd_back(w);
			return 0;
		}
		return -1;
	}
	log_warnx("master: unexpected message type %u", im->hdr.type);
	return -1;
}

/* Stop: no new messages; exit once the commits under way are done. */
static void
queued_stop(void)
{
	q->shutdown = 1;
	ctl_shutdown();
	if (!commit_busy())
		event_base_loopexit(q->base, NULL);
}

static void
queued_test_hook(void)
{
	int	 i;

	for (i = 0; i < QUEUED_MAX_WORKERS; i++)
		chan_test_garble(q->smtpd[i]);
	for (i = 0; i < q->ndeliverd; i++)
		chan_test_garble(q->deliverd[i]);
}

static void
queued_master_closed(struct chan *c)
{
	/* petreld is gone: nobody will supervise us; finish and exit */
	q->master = NULL;
	queued_stop();
}

void
queued_main(struct proc_args *pa)
{
	struct petrel_conf *conf = pa->conf;
	int		 chrooted = 0;
	char		 err[2048];

	proc_child_init(pa, "queue manager");
	q = xcalloc(1, sizeof(*q));
	q->conf = conf;
	RB_INIT(&q->incoming);
	RB_INIT(&q->messages);
	/* the policy reads its files now: there are none after the chroot */
	if ((q->policy = policy_open(conf, err, sizeof(err))) == NULL)
		fatalx("queued: policy: %s", err);

	/* petrelctl's socket: made while run_dir and /etc/group are here */
	ctl_init(conf);
	ctl_counter->since = time(NULL);
	if (conf->privsep && geteuid() == 0) {
		priv_drop("queued", 1, conf->queued_user, conf->spool_dir);
		chrooted = 1;
	} else
		priv_drop("queued", 0, NULL, NULL);
	spool_init(conf->spool_dir, chrooted);
	ctl_suspend_load();

	if ((q->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	proc_child_signals(q->base, queued_stop);
	proc_test_hook(q->base, queued_test_hook);
	q->ndeliverd = conf->deliverd_workers > QUEUED_MAX_DELIVERD ?
	    QUEUED_MAX_DELIVERD : conf->deliverd_workers;
	/* recovery empties incoming/ before the thread fills its pool */
	sched_init();
	spool_recover();
	commit_init();

	q->master = chan_new(q->base, PROC_MASTER_FD, "master", queued_imsg,
	    queued_master_closed, NULL);
	ctl_start();
	chan_compose(q->master, IMSG_CHILD_READY, 0, -1, NULL, 0);
	event_base_dispatch(q->base);
	commit_drop_pool();
	log_debug("queued: exiting");
	exit(0);
}
