/*
 * control.c - queued's control socket, run_dir/control.sock, which
 * petrelctl talks to.  The socket is made before queued drops root
 * and chroots (mode 0660, group petrel when that group exists); each
 * connection is an imsg channel (lib/chan.c) and is checked with
 * SO_PEERCRED: root, the user petrel runs as, and members of the
 * petrel group may use it.
 *
 * queued answers what concerns the queue itself (queue-summary,
 * inspect, bounce, suspend, resume, retry and its own counters); it
 * forwards what only petreld knows (status, reload, keys flush,
 * keysd's counters) to the master, and what concerns destinations
 * (trace, resolve, connections) to the deliverd workers, and relays
 * the answers.  Every answer is one or more JSON documents
 * (IMSG_CTL_DATA), then IMSG_CTL_END with petrelctl's exit code.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "log.h"
#include "policy.h"
#include "queued.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"

#define CTL_MAX_CONNS		32
#define CTL_FORWARD_TIMEOUT_S	30	/* a deliverd's DNS may take long */
#define CTL_BODY_CHUNK		(64 * 1024)
#define CTL_SUSPEND_FILE	"suspended"	/* in the spool */
#define CTL_WALK_SLICE		0.010	/* s of envelope reads per turn */

/*
 * bounce --domain and retry DOMAIN over the messages beyond the active
 * queue (queue.c): their envelopes are read from disk a slice at a
 * time, so the event loop goes on, and the command answers when the
 * walk is over.
 */
struct ctl_walk {
	struct ctl_conn	*cc;
	int		 bounce;	/* else retry */
	char		*domain, *reason;
	uint64_t	*ids;		/* on disk when the walk began */
	size_t		 nids, next;
	uint64_t	*due;		/* retry: those to make due */
	size_t		 ndue;
	int		 nmsg, nrcpt, busy;
	struct event	*ev;
};

struct ctl_conn {
	TAILQ_ENTRY(ctl_conn) entry;
	struct chan	*chan;
	uid_t		 uid;
	uint32_t	 reqid;		/* of the command under way, or 0 */
	int		 busy;		/* a command is under way */
	int		 tracing;	/* a trace streams to it */
	int		 nwait;		/* answers still to come */
	json_t		*acc;		/* stats: the answers gathered */
	json_t		*extra;		/* resolve: queued's own part */
	struct ctl_walk	*walk;		/* bounce/retry DOMAIN over the disk */
	struct event	*timer;
	char		 name[32];
};
TAILQ_HEAD(ctl_list, ctl_conn);

struct ctl_suspension {
	TAILQ_ENTRY(ctl_suspension) entry;
	char		*domain;
	int64_t		 until;		/* 0: until resumed */
};

static struct {
	int		 fd;
	struct event	*ev;
	char		 path[108];
	gid_t		 group;		/* petrel's, or (gid_t)-1 */
	char		**members;	/* of the petrel group */
	uid_t		 owner;		/* the user petreld was started as */
	struct ctl_list	 conns;
	int		 nconns;
	uint32_t	 nextreq;
	TAILQ_HEAD(, ctl_suspension) suspended;
	struct ctl_counters counters;
} ctl = { .fd = -1 };

struct ctl_counters *ctl_counter = &ctl.counters;

static void	ctl_accept(evutil_socket_t, short, void *);
static void	ctl_walk_free(struct ctl_walk *);
static void	ctl_walk_start(struct ctl_conn *, int, const char *,
		    const char *, int, int, int);

static void	ctl_finish(struct ctl_conn *, int code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* --- the socket ----------------------------------------------------- */

/*
 * Make the socket; called as root (or the invoking user) before the
 * chroot, so the path and the group are still reachable.
 */
void
ctl_init(const struct petrel_conf *conf)
{
	struct sockaddr_un sun;
	struct group	*gr;
	mode_t		 old;
	size_t		 i, n;

	TAILQ_INIT(&ctl.conns);
	TAILQ_INIT(&ctl.suspended);
	ctl.owner = getuid();
	ctl.group = (gid_t)-1;
	if ((gr = getgrnam("petrel")) != NULL) {
		ctl.group = gr->gr_gid;
		for (n = 0; gr->gr_mem[n] != NULL; n++)
			;
		ctl.members = xcalloc(n + 1, sizeof(char *));
		for (i = 0; i < n; i++)
			ctl.members[i] = xstrdup(gr->gr_mem[i]);
	}
	if (mkdir(conf->run_dir, 0755) == -1 && errno != EEXIST) {
		log_warn("control: mkdir %s", conf->run_dir);
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(ctl.path, sizeof(ctl.path), "%s/control.sock",
	    conf->run_dir) >= sizeof(ctl.path) ||
	    strlcpy(sun.sun_path, ctl.path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		log_warnx("control: %s/control.sock: path too long; no "
		    "control socket", conf->run_dir);
		return;
	}
	if ((ctl.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		fatal("control: socket");
	/* a socket left by a queued that died is ours to replace */
	if (unlink(ctl.path) == -1 && errno != ENOENT)
		log_warn("control: unlink %s", ctl.path);
	old = umask(0117);
	if (bind(ctl.fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("control: bind %s; no control socket", ctl.path);
		umask(old);
		close(ctl.fd);
		ctl.fd = -1;
		return;
	}
	umask(old);
	if (geteuid() == 0 && ctl.group != (gid_t)-1 &&
	    chown(ctl.path, 0, ctl.group) == -1)
		log_warn("control: chown %s", ctl.path);
	if (chmod(ctl.path, 0660) == -1)
		log_warn("control: chmod %s", ctl.path);
	if (listen(ctl.fd, 16) == -1)
		fatal("control: listen");
}

/* Start serving, in queued's event loop. */
void
ctl_start(void)
{
	if (ctl.fd == -1)
		return;
	ctl.ev = event_new(q->base, ctl.fd, EV_READ | EV_PERSIST, ctl_accept,
	    NULL);
	if (ctl.ev == NULL || event_add(ctl.ev, NULL) == -1)
		fatalx("control: event_new");
}

/* May this user drive petrel?  (SO_PEERCRED's uid and gid) */
static int
ctl_allowed(uid_t uid, gid_t gid)
{
	struct passwd	*pw;
	size_t		 i;

	if (uid == 0 || uid == ctl.owner || uid == geteuid())
		return 1;
	if (ctl.group == (gid_t)-1)
		return 0;
	if (gid == ctl.group)
		return 1;
	/* no passwd file in the chroot: the names were kept at start */
	if (ctl.members == NULL || (pw = getpwuid(uid)) == NULL)
		return 0;
	for (i = 0; ctl.members[i] != NULL; i++)
		if (strcmp(ctl.members[i], pw->pw_name) == 0)
			return 1;
	return 0;
}

/* --- replies -------------------------------------------------------- */

static void
ctl_send_json(struct ctl_conn *cc, json_t *j)
{
	struct mbuf	 mb;
	char		*s;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("control: json_dumps");
	m_create(&mb, IMSG_CTL_DATA, 0, -1);
	m_add_string(&mb, s);
	chan_send(cc->chan, &mb);
	free(s);
}

/* The command is over: its exit code and, on failure, why. */
static void
ctl_finish(struct ctl_conn *cc, int code, const char *fmt, ...)
{
	struct mbuf	 mb;
	char		 err[1024] = "";
	va_list		 ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(err, sizeof(err), fmt, ap);
		va_end(ap);
	}
	m_create(&mb, IMSG_CTL_END, 0, -1);
	m_add_u8(&mb, code);
	m_add_string(&mb, err);
	chan_send(cc->chan, &mb);
	cc->busy = 0;
	cc->tracing = 0;	/* later trace lines find nobody: untraced */
	cc->reqid = 0;
	cc->nwait = 0;
	json_decref(cc->acc);
	json_decref(cc->extra);
	cc->acc = cc->extra = NULL;
	if (cc->timer != NULL)
		evtimer_del(cc->timer);
}

static void
ctl_reply(struct ctl_conn *cc, json_t *j)
{
	ctl_send_json(cc, j);
	json_decref(j);
	ctl_finish(cc, CTL_EXIT_OK, NULL);
}

/* --- the queue ------------------------------------------------------ */

static json_t *
jtime(int64_t t)
{
	return t > 0 ? json_integer(t) : json_null();
}

/* The routing domain of a recipient ("" when the policy fails). */
static void
ctl_rd(const char *rcpt, char *out, size_t len)
{
	struct queue_config qc;
	char		 err[1024];

	if (sched_queue(rcpt, &qc, err, sizeof(err)) == -1)
		strlcpy(out, "", len);
	else
		strlcpy(out, qc.routing_domain, len);
}

/* Does the recipient's routing domain or its own domain equal d? */
static int
ctl_rcpt_in(const char *rcpt, const char *d)
{
	char		 rd[POLICY_DOMAIN_MAX];
	const char	*at = strrchr(rcpt, '@');

	if (at != NULL && strcasecmp(at + 1, d) == 0)
		return 1;
	ctl_rd(rcpt, rd, sizeof(rd));
	return strcasecmp(rd, d) == 0;
}

static struct ctl_suspension *
ctl_suspension(const char *domain)
{
	struct ctl_suspension *s, *next;
	int64_t		 now = time(NULL);

	TAILQ_FOREACH_SAFE(s, &ctl.suspended, entry, next) {
		if (s->until != 0 && s->until <= now) {
			TAILQ_REMOVE(&ctl.suspended, s, entry);
			free(s->domain);
			free(s);
			continue;
		}
		if (strcasecmp(s->domain, domain) == 0)
			return s;
	}
	return NULL;
}

/*
 * Is a domain suspended by the operator?  0, or when it ends
 * (INT64_MAX: until resumed).
 */
int64_t
ctl_suspended(const char *domain)
{
	struct ctl_suspension *s;

	if (TAILQ_EMPTY(&ctl.suspended) ||
	    (s = ctl_suspension(domain)) == NULL)
		return 0;
	return s->until ? s->until : INT64_MAX;
}

/*
 * Is a recipient held, its own domain or its routing domain suspended?
 * As ctl_suspended(); sched_dispatch() holds it until then.
 */
int64_t
ctl_held(const char *rcpt, const char *routing_domain)
{
	const char	*at;
	int64_t		 a, b;

	if (TAILQ_EMPTY(&ctl.suspended))
		return 0;
	a = ctl_suspended(routing_domain);
	b = (at = strrchr(rcpt, '@')) != NULL ? ctl_suspended(at + 1) : 0;
	return a > b ? a : b;
}

static int
ctl_suspend_save(void)
{
	struct ctl_suspension *s;
	char		*buf = NULL;
	size_t		 len = 0;
	FILE		*f;
	int		 rc;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	TAILQ_FOREACH(s, &ctl.suspended, entry)
		fprintf(f, "%s %" PRId64 "\n", s->domain, s->until);
	fclose(f);
	rc = spool_write_state(CTL_SUSPEND_FILE, buf, len);
	free(buf);
	return rc;
}

/* The operator's suspensions survive restarts (a reload restarts us). */
void
ctl_suspend_load(void)
{
	struct ctl_suspension *s;
	char		 line[512], dom[POLICY_DOMAIN_MAX];
	int64_t		 until;
	FILE		*f;

	if ((f = fopen(CTL_SUSPEND_FILE, "r")) == NULL) {
		if (errno != ENOENT)
			log_warn("control: %s", CTL_SUSPEND_FILE);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%255s %" SCNd64, dom, &until) != 2)
			continue;
		s = xcalloc(1, sizeof(*s));
		s->domain = xstrdup(dom);
		s->until = until;
		TAILQ_INSERT_TAIL(&ctl.suspended, s, entry);
	}
	fclose(f);
}

static void
ctl_queue_summary(struct ctl_conn *cc)
{
	json_t		*doms = json_object(), *out, *arr, *d, *susp;
	struct qmsg	*m;
	const char	*name;
	char		 rd[POLICY_DOMAIN_MAX];
	int		 i, total = 0;
	int64_t		 until;

	RB_FOREACH(m, qmsg_tree, &q->messages) {
		json_t	*seen = json_object();

		total++;
		for (i = 0; i < m->env.nrcpt; i++) {
			if (m->env.done[i])
				continue;
			ctl_rd(m->env.rcpts[i], rd, sizeof(rd));
			if (*rd == '\0')
				strlcpy(rd, "(policy error)", sizeof(rd));
			if ((d = json_object_get(doms, rd)) == NULL) {
				d = json_pack("{s:s,s:i,s:i,s:I,s:I,s:i}",
				    "domain", rd, "messages", 0, "recipients",
				    0, "oldest", (json_int_t)m->env.arrival,
				    "next_attempt", (json_int_t)INT64_MAX,
				    "in_flight", 0);
				json_object_set_new(doms, rd, d);
			}
			json_object_set_new(d, "recipients", json_integer(
			    json_integer_value(json_object_get(d,
			    "recipients")) + 1));
			if ((until = ctl_held(m->env.rcpts[i], rd)) != 0) {
				json_object_set_new(d, "held_until",
				    json_integer(until));
			}
			if (json_object_get(seen, rd) != NULL)
				continue;
			json_object_set_new(seen, rd, json_true());
			json_object_set_new(d, "messages", json_integer(
			    json_integer_value(json_object_get(d,
			    "messages")) + 1));
			if (m->env.arrival < json_integer_value(
			    json_object_get(d, "oldest")))
				json_object_set_new(d, "oldest",
				    json_integer(m->env.arrival));
			if (m->inflight)
				json_object_set_new(d, "in_flight",
				    json_integer(json_integer_value(
				    json_object_get(d, "in_flight")) + 1));
			else if (m->env.next_try < json_integer_value(
			    json_object_get(d, "next_attempt")))
				json_object_set_new(d, "next_attempt",
				    json_integer(m->env.next_try));
		}
		json_decref(seen);
	}
	arr = json_array();
	json_object_foreach(doms, name, d) {
		if (json_integer_value(json_object_get(d, "next_attempt")) ==
		    INT64_MAX)
			json_object_set_new(d, "next_attempt", json_null());
		/* the routing domain, or the domains of its recipients */
		if ((until = ctl_suspended(name)) == 0 &&
		    json_object_get(d, "held_until") != NULL)
			until = json_integer_value(json_object_get(d,
			    "held_until"));
		json_object_del(d, "held_until");
		json_object_set_new(d, "suspended", json_boolean(until != 0));
		json_object_set_new(d, "suspended_until",
		    until != 0 && until != INT64_MAX ? json_integer(until) :
		    json_null());
		json_array_append(arr, d);
	}
	/* the operator's suspensions, with or without mail waiting */
	susp = json_array();
	(void)ctl_suspended("");	/* drop the ones that ended */
	{
		struct ctl_suspension *s;

		TAILQ_FOREACH(s, &ctl.suspended, entry)
			json_array_append_new(susp, json_pack("{s:s,s:o}",
			    "domain", s->domain, "until", jtime(s->until)));
	}
	json_decref(doms);
	out = json_pack("{s:o,s:i,s:o}", "domains", arr, "messages", total,
	    "suspensions", susp);
	ctl_reply(cc, out);
}

static void
ctl_inspect(struct ctl_conn *cc, const struct wire_ctl *w)
{
	struct qmsg	*m;
	json_t		*out, *rcpts;
	char		 rd[POLICY_DOMAIN_MAX], buf[CTL_BODY_CHUNK];
	int		 i, body = 0, fd, bol = 1;
	ssize_t		 n;
	off_t		 left;
	uint32_t	 k;
	const char	*id = NULL;

	for (k = 0; k < w->argc; k++) {
		if (strcmp(w->argv[k], "--body") == 0)
			body = 1;
		else if (id == NULL)
			id = w->argv[k];
		else
			goto usage;
	}
	if (id == NULL)
		goto usage;
	if ((m = queue_find_load(id)) == NULL) {
		ctl_finish(cc, CTL_EXIT_NOTFOUND, "%s: no such message in the "
		    "queue", id);
		return;
	}
	rcpts = json_array();
	for (i = 0; i < m->env.nrcpt; i++) {
		ctl_rd(m->env.rcpts[i], rd, sizeof(rd));
		json_array_append_new(rcpts, json_pack("{s:s,s:s,s:s}",
		    "address", m->env.rcpts[i], "routing_domain", rd,
		    "state", m->env.done[i] ? "done" : m->inflight ?
		    "in flight" : "pending"));
	}
	out = json_pack("{s:s,s:I,s:s,s:s,s:s,s:I,s:s,s:b,s:I,s:o,s:b,s:o,s:o}",
	    "id", m->env.id, "arrival", (json_int_t)m->env.arrival,
	    "from", m->env.from, "helo", m->env.helo, "client", m->env.client,
	    "size", (json_int_t)m->env.size, "body", m->env.body,
	    "smtputf8", m->env.smtputf8, "attempts",
	    (json_int_t)m->env.attempts, "next_attempt",
	    m->inflight ? json_null() : jtime(m->env.next_try),
	    "in_flight", m->inflight > 0, "last_response",
	    m->last_error ? json_string(m->last_error) : json_null(),
	    "recipients", rcpts);
	ctl_send_json(cc, out);
	json_decref(out);
	if (body) {
		/* the text, undotted, in chunks; bytes not UTF-8 become U+FFFD */
		if ((fd = spool_open_data(m->env.id)) == -1) {
			ctl_finish(cc, CTL_EXIT_NOTFOUND, "%s: cannot open its "
			    "text: %s", id, strerror(errno));
			return;
		}
		/* the text only: its envelope follows it in the file */
		left = msgfile_text_length(fd);
		while (left > 0 && (n = read(fd, buf, (size_t)left <
		    sizeof(buf) - 1 ? (size_t)left : sizeof(buf) - 1)) > 0) {
			char	*t = xcalloc(1, n * 3 + 1), *o = t;
			ssize_t	 j;

			left -= n;

			for (j = 0; j < n; j++) {
				unsigned char c = buf[j];

				if (bol && c == '.' && j + 1 < n &&
				    buf[j + 1] == '.') {
					bol = 0;
					continue;
				}
				bol = c == '\n';
				if (c < 0x80)
					*o++ = c;
				else {
					/* not decoded: shown, not trusted */
					*o++ = (char)0xef;
					*o++ = (char)0xbf;
					*o++ = (char)0xbd;
				}
			}
			*o = '\0';
			out = json_pack("{s:s}", "text", t);
			free(t);
			if (out == NULL)
				break;
			ctl_send_json(cc, out);
			json_decref(out);
		}
		close(fd);
	}
	ctl_finish(cc, CTL_EXIT_OK, NULL);
	return;
usage:
	ctl_finish(cc, CTL_EXIT_USAGE, "usage: inspect ID [--body]");
}

/* Return a message's pending recipients (those in d, or all) now. */
static int
ctl_bounce_msg(struct qmsg *m, const char *d, const char *reason,
    uid_t uid)
{
	char		 diag[600], f[1024], r[1024], b[700];
	int		 i, n = 0;

	if (m->inflight || m->nbounce > 0)
		return -1;	/* a delivery or a DSN is under way */
	snprintf(diag, sizeof(diag), "550 5.0.0 returned by the mail "
	    "system's operator%s%s", *reason ? ": " : "", reason);
	for (i = 0; i < m->env.nrcpt; i++) {
		if (m->env.done[i] || (d != NULL &&
		    !ctl_rcpt_in(m->env.rcpts[i], d)))
			continue;
		log_info("id=%s event=Bounce from=<%s> rcpt=<%s> "
		    "response=\"%s\" delay=%.1fs attempts=%" PRIu32
		    " operator_uid=%u", m->env.id,
		    log_token(m->env.from, f, sizeof(f)),
		    log_token(m->env.rcpts[i], r, sizeof(r)),
		    log_quote(diag, b, sizeof(b)),
		    sched_now() - m->env.arrival, m->env.attempts,
		    (unsigned)uid);
		bounce_add(m, i, "5.0.0", diag, NULL);
		n++;
	}
	if (n == 0)
		return 0;
	m->operator_bounce = 1;
	sched_unschedule(m);
	bounce_send(m);
	return n;
}

static void
ctl_bounce(struct ctl_conn *cc, const struct wire_ctl *w)
{
	struct qmsg	*m, *next;
	const char	*id = NULL, *dom = NULL, *reason = "";
	uint32_t	 k;
	int		 n, nmsg = 0, nrcpt = 0, busy = 0;

	for (k = 0; k < w->argc; k++) {
		if (strcmp(w->argv[k], "--domain") == 0 && k + 1 < w->argc)
			dom = w->argv[++k];
		else if (strcmp(w->argv[k], "--reason") == 0 &&
		    k + 1 < w->argc)
			reason = w->argv[++k];
		else if (id == NULL && w->argv[k][0] != '-')
			id = w->argv[k];
		else
			goto usage;
	}
	if ((id == NULL) == (dom == NULL))
		goto usage;
	if (id != NULL) {
		if ((m = queue_find_load(id)) == NULL) {
			ctl_finish(cc, CTL_EXIT_NOTFOUND, "%s: no such message "
			    "in the queue", id);
			return;
		}
		if ((n = ctl_bounce_msg(m, NULL, reason, cc->uid)) == -1) {
			ctl_finish(cc, CTL_EXIT_NOTFOUND, "%s: a delivery is "
			    "under way; try again when it is over", id);
			return;
		}
		nmsg = n > 0, nrcpt = n;
	} else {
		RB_FOREACH_SAFE(m, qmsg_tree, &q->messages, next) {
			/* bounce_send() may finish (remove) m at once */
			if ((n = ctl_bounce_msg(m, dom, reason, cc->uid)) == -1)
				busy++;
			else if (n > 0)
				nmsg++, nrcpt += n;
		}
		ctl_walk_start(cc, 1, dom, reason, nmsg, nrcpt, busy);
		return;
	}
	log_info("control: uid %u bounced %d recipient(s) of %d message(s)%s%s"
	    "%s%s", (unsigned)cc->uid, nrcpt, nmsg, id ? " id=" : " domain=",
	    id ? id : dom, *reason ? " reason=" : "", reason);
	ctl_reply(cc, json_pack("{s:i,s:i,s:i}", "messages", nmsg,
	    "recipients", nrcpt, "in_flight_skipped", busy));
	return;
usage:
	ctl_finish(cc, CTL_EXIT_USAGE, "usage: bounce ID | --domain D "
	    "[--reason TEXT]");
}

/* Has the envelope a recipient not done in d (NULL: any)? */
static int
ctl_env_in(const struct envelope *e, const char *d)
{
	int	 i;

	for (i = 0; i < e->nrcpt; i++)
		if ((e->done == NULL || !e->done[i]) &&
		    (d == NULL || ctl_rcpt_in(e->rcpts[i], d)))
			return 1;
	return 0;
}

/*
 * A message in memory with a pending recipient in d (NULL: any) is due
 * now, and stamped so on disk, should it go there: 1 if it was made so.
 */
static int
ctl_make_due(struct qmsg *m, const char *d)
{
	if (m->inflight || m->nbounce > 0 || !ctl_env_in(&m->env, d))
		return 0;
	sched_add(m, 0);
	sched_stamp(m);
	return 1;
}

/* Every message in memory with a pending recipient in d is due now. */
static int
ctl_wake(const char *d)
{
	struct qmsg	*m;
	int		 n = 0;

	RB_FOREACH(m, qmsg_tree, &q->messages)
		n += ctl_make_due(m, d);
	return n;
}

static void
ctl_walk_free(struct ctl_walk *w)
{
	if (w->cc != NULL)
		w->cc->walk = NULL;
	if (w->ev != NULL)
		event_free(w->ev);
	free(w->domain);
	free(w->reason);
	free(w->ids);
	free(w->due);
	free(w);
}

/* A message of the walk that is in memory (read in since it began). */
static void
ctl_walk_msg(struct ctl_walk *w, struct qmsg *m)
{
	int	 n;

	if (m->nbounce > 0)
		return;		/* bounced already, by this command too */
	if (w->bounce) {
		if ((n = ctl_bounce_msg(m, w->domain, w->reason,
		    w->cc->uid)) == -1)
			w->busy++;
		else if (n > 0)
			w->nmsg++, w->nrcpt += n;
	} else
		w->nmsg += ctl_make_due(m, w->domain);
}

static void
ctl_walk_done(struct ctl_walk *w)
{
	struct ctl_conn	*cc = w->cc;

	if (!w->bounce && w->ndue > 0) {
		qsort(w->due, w->ndue, sizeof(*w->due), cmp_u64);
		w->nmsg += (int)queue_disk_retry(w->due, w->ndue);
	}
	if (w->bounce) {
		log_info("control: uid %u bounced %d recipient(s) of %d "
		    "message(s) domain=%s%s%s", (unsigned)cc->uid, w->nrcpt,
		    w->nmsg, w->domain, *w->reason ? " reason=" : "",
		    w->reason);
		ctl_reply(cc, json_pack("{s:i,s:i,s:i}", "messages", w->nmsg,
		    "recipients", w->nrcpt, "in_flight_skipped", w->busy));
	} else {
		log_info("control: uid %u retry %s: %d message(s) due now",
		    (unsigned)cc->uid, w->domain, w->nmsg);
		ctl_reply(cc, json_pack("{s:i}", "messages", w->nmsg));
	}
	ctl_walk_free(w);
}

static void
ctl_walk_step(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_walk	*w = arg;
	struct envelope	 env;
	struct qmsg	*m;
	struct timeval	 now = { 0, 0 }, pause = { 0, 50000 };
	char		 id[MSGID_LEN + 1];
	double		 t0 = sched_now();
	uint64_t	*n;
	int		 match;

	while (w->next < w->nids) {
		if (sched_now() - t0 > CTL_WALK_SLICE) {
			evtimer_add(w->ev, &now);
			return;
		}
		/*
		 * A bounce holds its message in memory until its DSN is
		 * committed: let those drain before reading more in.
		 */
		if (w->bounce && queue_active_count() >=
		    2 * (size_t)q->conf->queued_active_limit) {
			evtimer_add(w->ev, &pause);
			return;
		}
		snprintf(id, sizeof(id), "%016" PRIx64, w->ids[w->next++]);
		if ((m = queue_find(id)) != NULL) {
			ctl_walk_msg(w, m);
			continue;
		}
		if (spool_load(id, &env) == -1)
			continue;	/* finished meanwhile, or set aside */
		match = ctl_env_in(&env, w->domain);
		envelope_clear(&env);
		if (!match)
			continue;
		if (w->bounce) {
			if ((m = queue_find_load(id)) != NULL)
				ctl_walk_msg(w, m);
			continue;
		}
		n = reallocarray(w->due, w->ndue + 1, sizeof(*w->due));
		if (n == NULL)
			fatal("control: retry");
		w->due = n;
		w->due[w->ndue++] = w->ids[w->next - 1];
	}
	ctl_walk_done(w);
}

/*
 * After the pass over the messages in memory (whose counts come in),
 * the same over those on disk; the answer comes when it is over.
 */
static void
ctl_walk_start(struct ctl_conn *cc, int bounce, const char *domain,
    const char *reason, int nmsg, int nrcpt, int busy)
{
	struct ctl_walk	*w;
	struct timeval	 now = { 0, 0 };

	w = xcalloc(1, sizeof(*w));
	w->cc = cc;
	w->bounce = bounce;
	w->domain = xstrdup(domain);
	w->reason = xstrdup(reason);
	w->nmsg = nmsg, w->nrcpt = nrcpt, w->busy = busy;
	w->nids = queue_disk_ids(&w->ids);
	cc->walk = w;
	if (w->nids == 0) {
		ctl_walk_done(w);
		return;
	}
	if ((w->ev = evtimer_new(q->base, ctl_walk_step, w)) == NULL)
		fatalx("control: evtimer_new");
	evtimer_add(w->ev, &now);
}

static void
ctl_suspend(struct ctl_conn *cc, const struct wire_ctl *w)
{
	struct ctl_suspension *s;
	const char	*dom = NULL, *dur = NULL;
	int64_t		 secs = 0;
	uint32_t	 k;

	for (k = 0; k < w->argc; k++) {
		if (strcmp(w->argv[k], "--duration") == 0 && k + 1 < w->argc)
			dur = w->argv[++k];
		else if (dom == NULL && w->argv[k][0] != '-')
			dom = w->argv[k];
		else
			goto usage;
	}
	if (dom == NULL || strlen(dom) >= POLICY_DOMAIN_MAX ||
	    strpbrk(dom, " \t\r\n") != NULL)
		goto usage;
	if (dur != NULL && (parse_duration(dur, &secs) == -1 || secs <= 0)) {
		ctl_finish(cc, CTL_EXIT_USAGE, "--duration %s: expected a "
		    "duration (\"90s\", \"30m\", \"1h\", \"2d\")", dur);
		return;
	}
	if ((s = ctl_suspension(dom)) == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->domain = xstrdup(dom);
		TAILQ_INSERT_TAIL(&ctl.suspended, s, entry);
	}
	s->until = secs ? (int64_t)time(NULL) + secs : 0;
	if (ctl_suspend_save() == -1)
		log_warn("control: cannot record the suspension of %s (it "
		    "holds until queued restarts)", dom);
	log_info("control: uid %u suspended %s %s%s", (unsigned)cc->uid, dom,
	    secs ? "for " : "until resumed", secs ? dur : "");
	ctl_reply(cc, json_pack("{s:s,s:o}", "suspended", dom, "until",
	    jtime(s->until)));
	return;
usage:
	ctl_finish(cc, CTL_EXIT_USAGE, "usage: suspend DOMAIN "
	    "[--duration 1h]");
}

static void
ctl_resume(struct ctl_conn *cc, const struct wire_ctl *w)
{
	struct ctl_suspension *s;
	int		 n;

	if (w->argc != 1) {
		ctl_finish(cc, CTL_EXIT_USAGE, "usage: resume DOMAIN");
		return;
	}
	if ((s = ctl_suspension(w->argv[0])) == NULL) {
		ctl_finish(cc, CTL_EXIT_NOTFOUND, "%s is not suspended",
		    w->argv[0]);
		return;
	}
	TAILQ_REMOVE(&ctl.suspended, s, entry);
	free(s->domain);
	free(s);
	if (ctl_suspend_save() == -1)
		log_warn("control: cannot record the resumption");
	n = ctl_wake(w->argv[0]);
	log_info("control: uid %u resumed %s; %d message(s) due now",
	    (unsigned)cc->uid, w->argv[0], n);
	ctl_reply(cc, json_pack("{s:s,s:i}", "resumed", w->argv[0],
	    "messages", n));
}

static void
ctl_retry(struct ctl_conn *cc, const struct wire_ctl *w)
{
	struct qmsg	*m;
	const char	*what;
	int		 n;

	if (w->argc != 1)
		goto usage;
	what = w->argv[0];
	if (strcmp(what, "--all") == 0) {
		n = ctl_wake(NULL) + (int)queue_disk_count();
		queue_disk_due_all();
	} else if (msgid_valid(what)) {
		if ((m = queue_find_load(what)) == NULL) {
			ctl_finish(cc, CTL_EXIT_NOTFOUND, "%s: no such message "
			    "in the queue", what);
			return;
		}
		n = ctl_make_due(m, NULL);
	} else if (what[0] != '-') {
		ctl_walk_start(cc, 0, what, "", ctl_wake(what), 0, 0);
		return;
	} else
		goto usage;
	log_info("control: uid %u retry %s: %d message(s) due now",
	    (unsigned)cc->uid, what, n);
	ctl_reply(cc, json_pack("{s:i}", "messages", n));
	return;
usage:
	ctl_finish(cc, CTL_EXIT_USAGE, "usage: retry ID | DOMAIN | --all");
}

/* --- forwarded requests ------------------------------------------- */

static struct ctl_conn *
ctl_by_req(uint32_t id)
{
	struct ctl_conn	*cc;

	if (id == 0)
		return NULL;
	TAILQ_FOREACH(cc, &ctl.conns, entry)
		if (cc->reqid == id)
			return cc;
	return NULL;
}

static void
ctl_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_conn	*cc = arg;

	if (cc->acc != NULL && cc->nwait > 0) {
		/* stats: what came, and say what did not */
		json_object_set_new(cc->acc, "incomplete", json_true());
		ctl_reply(cc, json_incref(cc->acc));
		return;
	}
	ctl_finish(cc, CTL_EXIT_UNREACHABLE, "no answer within %d s",
	    CTL_FORWARD_TIMEOUT_S);
}

static void
ctl_wait(struct ctl_conn *cc, int n)
{
	struct timeval	 tv = { CTL_FORWARD_TIMEOUT_S, 0 };

	cc->reqid = ++ctl.nextreq ? ctl.nextreq : ++ctl.nextreq;
	cc->nwait = n;
	if (cc->timer == NULL &&
	    (cc->timer = evtimer_new(q->base, ctl_timeout, cc)) == NULL)
		fatalx("control: evtimer_new");
	evtimer_add(cc->timer, &tv);
}

static int
ctl_to_master(struct ctl_conn *cc, const char *command)
{
	struct mbuf	 mb;

	if (q->master == NULL) {
		ctl_finish(cc, CTL_EXIT_UNREACHABLE, "petreld is gone");
		return -1;
	}
	ctl_wait(cc, 1);
	m_create(&mb, IMSG_QUEUED_CTL, cc->reqid, -1);
	m_add_string(&mb, command);
	m_add_u32(&mb, (uint32_t)cc->uid);
	chan_send(q->master, &mb);
	return 0;
}

static void
ctl_to_deliverd(struct ctl_conn *cc, int a, const char *command,
    const char *arg)
{
	struct mbuf	 mb;

	m_create(&mb, IMSG_QUEUED_CTL_DELIVERD, cc->reqid, -1);
	m_add_string(&mb, command);
	m_add_string(&mb, arg);
	chan_send(q->deliverd[a], &mb);
}

/* The count of deliverd workers with a channel now. */
static int
ctl_ndeliverd(void)
{
	int	 a, n = 0;

	for (a = 0; a < q->ndeliverd; a++)
		if (q->deliverd[a] != NULL)
			n++;
	return n;
}

static void
ctl_stats(struct ctl_conn *cc)
{
	json_t	*qd;
	int	 a;

	qd = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:b}",
	    "received", (json_int_t)ctl.counters.received,
	    "delivered", (json_int_t)ctl.counters.delivered,
	    "deferred", (json_int_t)ctl.counters.deferred,
	    "bounced", (json_int_t)ctl.counters.bounced,
	    "expired", (json_int_t)ctl.counters.expired,
	    "since", (json_int_t)ctl.counters.since,
	    "queued_messages", (int)ctl_queue_size(),
	    "active_messages", (int)queue_active_count(),
	    "disk_messages", (int)queue_disk_count(),
	    "recovering", q->recovering);
	cc->acc = json_pack("{s:o,s:[],s:n}", "queued", qd, "deliverd",
	    "keysd");
	if (ctl_to_master(cc, "keys-stats") == -1)
		return;
	cc->nwait += ctl_ndeliverd();
	for (a = 0; a < q->ndeliverd; a++)
		if (q->deliverd[a] != NULL)
			ctl_to_deliverd(cc, a, "stats", "");
}

static void
ctl_trace(struct ctl_conn *cc, const struct wire_ctl *w)
{
	int	 a;

	if (w->argc != 1 || w->argv[0][0] == '-') {
		ctl_finish(cc, CTL_EXIT_USAGE, "usage: trace DOMAIN");
		return;
	}
	if (ctl_ndeliverd() == 0) {
		ctl_finish(cc, CTL_EXIT_UNREACHABLE, "no deliverd is running");
		return;
	}
	ctl_wait(cc, 0);
	evtimer_del(cc->timer);		/* a trace runs until the client goes */
	cc->tracing = 1;
	log_info("control: uid %u traces %s", (unsigned)cc->uid, w->argv[0]);
	for (a = 0; a < q->ndeliverd; a++)
		if (q->deliverd[a] != NULL)
			ctl_to_deliverd(cc, a, "trace", w->argv[0]);
}

/*
 * resolve D: D is a recipient domain or a routing domain; queued
 * knows the routing domain and the queue config, the deliverd that
 * owns it the MX, the site and the egress path.
 */
static void
ctl_resolve(struct ctl_conn *cc, const struct wire_ctl *w)
{
	struct queue_config qc;
	char		 err[1024], rcpt[POLICY_DOMAIN_MAX + 8];
	int		 a;

	if (w->argc != 1 || w->argv[0][0] == '-' ||
	    strlen(w->argv[0]) >= POLICY_DOMAIN_MAX) {
		ctl_finish(cc, CTL_EXIT_USAGE, "usage: resolve DOMAIN");
		return;
	}
	snprintf(rcpt, sizeof(rcpt), "x@%s", w->argv[0]);
	if (sched_queue(rcpt, &qc, err, sizeof(err)) == -1) {
		ctl_finish(cc, CTL_EXIT_NOTFOUND, "%s: get_queue_config: %s",
		    w->argv[0], err);
		return;
	}
	cc->extra = json_pack("{s:s,s:s,s:I,s:I,s:I,s:o}", "domain",
	    w->argv[0], "routing_domain", qc.routing_domain,
	    "retry_interval", (json_int_t)qc.retry_interval,
	    "max_retry_interval", (json_int_t)qc.max_retry_interval,
	    "max_age", (json_int_t)qc.max_age, "suspended",
	    json_boolean(ctl_suspended(qc.routing_domain) != 0));
	a = owner_deliverd_for(qc.routing_domain);
	if (a < 0 || a >= q->ndeliverd || q->deliverd[a] == NULL) {
		ctl_finish(cc, CTL_EXIT_UNREACHABLE, "the deliverd for %s is "
		    "not running", qc.routing_domain);
		return;
	}
	ctl_wait(cc, 1);
	ctl_to_deliverd(cc, a, "resolve", qc.routing_domain);
}

/* A deliverd's answer to a forwarded request. */
int
ctl_deliverd_reply(int a, uint32_t id, struct mreader *r)
{
	struct ctl_conn	*cc;
	const char	*js, *err;
	uint8_t		 last, code;
	json_t		*j;
	json_error_t	 je;

	if (m_get_u8(r, &last) == -1 || m_get_u8(r, &code) == -1 ||
	    m_get_string(r, &js) == -1 || m_get_string(r, &err) == -1 ||
	    m_end(r) == -1)
		return -1;
	if ((cc = ctl_by_req(id)) == NULL) {
		/* the client went away: stop a trace it left */
		if (!last && q->deliverd[a] != NULL) {
			struct mbuf	 mb;

			m_create(&mb, IMSG_QUEUED_CTL_DELIVERD, id, -1);
			m_add_string(&mb, "untrace");
			m_add_string(&mb, "");
			chan_send(q->deliverd[a], &mb);
		}
		return 0;
	}
	j = *js ? json_loads(js, 0, &je) : NULL;
	if (cc->tracing) {
		if (j != NULL)
			ctl_send_json(cc, j);
		json_decref(j);
		/* a deliverd refused the trace (a bad name): say so, end */
		if (last && code != CTL_EXIT_OK)
			ctl_finish(cc, code, "%s", *err ? err : "refused");
		return 0;
	}
	if (cc->acc != NULL) {		/* stats */
		if (j != NULL)
			json_array_append(json_object_get(cc->acc, "deliverd"),
			    j);
		json_decref(j);
		if (last && --cc->nwait <= 0)
			ctl_reply(cc, json_incref(cc->acc));
		return 0;
	}
	if (cc->extra != NULL && j != NULL) {	/* resolve */
		json_object_set(j, "queue", cc->extra);
		ctl_send_json(cc, j);
	} else if (j != NULL)
		ctl_send_json(cc, j);
	json_decref(j);
	ctl_finish(cc, code, *err ? "%s" : NULL, err);
	return 0;
}

/* The master's answer to a forwarded request. */
int
ctl_master_reply(uint32_t id, struct mreader *r)
{
	struct ctl_conn	*cc;
	const char	*js, *err;
	uint8_t		 code;
	json_t		*j;
	json_error_t	 je;

	if (m_get_u8(r, &code) == -1 || m_get_string(r, &js) == -1 ||
	    m_get_string(r, &err) == -1 || m_end(r) == -1)
		return -1;
	if ((cc = ctl_by_req(id)) == NULL)
		return 0;
	j = *js ? json_loads(js, 0, &je) : NULL;
	if (cc->acc != NULL) {		/* stats: keysd's part */
		if (j != NULL)
			json_object_set(cc->acc, "keysd", j);
		json_decref(j);
		if (--cc->nwait <= 0)
			ctl_reply(cc, json_incref(cc->acc));
		return 0;
	}
	if (j != NULL)
		ctl_send_json(cc, j);
	json_decref(j);
	ctl_finish(cc, code, *err ? "%s" : NULL, err);
	return 0;
}

/* --- connections ---------------------------------------------------- */

static int
ctl_dispatch(struct chan *c, struct imsg *im)
{
	struct ctl_conn	*cc = c->arg;
	struct mreader	 r;
	struct wire_ctl	 w;
	const char	*cmd;

	if (im->hdr.type != IMSG_CTL_COMMAND || cc->busy) {
		log_warnx("control: %s: unexpected message type %u%s",
		    cc->name, im->hdr.type, cc->busy ? " (busy)" : "");
		return -1;
	}
	m_reader(&r, im);
	if (wire_ctl_get(&r, &w) == -1) {
		log_warnx("control: %s: a malformed command", cc->name);
		return -1;
	}
	cc->busy = 1;
	cmd = w.command;
	if (strcmp(cmd, "queue-summary") == 0 && w.argc == 0)
		ctl_queue_summary(cc);
	else if (strcmp(cmd, "inspect") == 0)
		ctl_inspect(cc, &w);
	else if (strcmp(cmd, "bounce") == 0)
		ctl_bounce(cc, &w);
	else if (strcmp(cmd, "suspend") == 0)
		ctl_suspend(cc, &w);
	else if (strcmp(cmd, "resume") == 0)
		ctl_resume(cc, &w);
	else if (strcmp(cmd, "retry") == 0)
		ctl_retry(cc, &w);
	else if (strcmp(cmd, "stats") == 0 && w.argc == 0)
		ctl_stats(cc);
	else if (strcmp(cmd, "trace") == 0)
		ctl_trace(cc, &w);
	else if (strcmp(cmd, "resolve") == 0)
		ctl_resolve(cc, &w);
	else if ((strcmp(cmd, "status") == 0 || strcmp(cmd, "reload") == 0) &&
	    w.argc == 0)
		ctl_to_master(cc, cmd);
	else if (strcmp(cmd, "keys") == 0 && w.argc == 1 &&
	    strcmp(w.argv[0], "flush") == 0)
		ctl_to_master(cc, "keys-flush");
	else
		ctl_finish(cc, CTL_EXIT_USAGE, "unknown command or wrong "
		    "arguments: %s (see petrelctl(8))", cmd);
	wire_ctl_clear(&w);
	return 0;
}

static void
ctl_closed(struct chan *c)
{
	struct ctl_conn	*cc = c->arg;
	struct mbuf	 mb;
	int		 a;

	if (cc->tracing)
		log_info("control: uid %u's trace ended", (unsigned)cc->uid);
	if (cc->tracing)
		for (a = 0; a < q->ndeliverd; a++) {
			if (q->deliverd[a] == NULL)
				continue;
			m_create(&mb, IMSG_QUEUED_CTL_DELIVERD, cc->reqid, -1);
			m_add_string(&mb, "untrace");
			m_add_string(&mb, "");
			chan_send(q->deliverd[a], &mb);
		}
	if (cc->walk != NULL) {
		cc->walk->cc = NULL;
		ctl_walk_free(cc->walk);
	}
	TAILQ_REMOVE(&ctl.conns, cc, entry);
	ctl.nconns--;
	json_decref(cc->acc);
	json_decref(cc->extra);
	if (cc->timer != NULL)
		event_free(cc->timer);
	free(cc);
}

static void
ctl_accept(evutil_socket_t fd, short ev, void *arg)
{
	struct ctl_conn	*cc;
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	int		 s;

	if ((s = accept4(ctl.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept");
		return;
	}
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		close(s);
		return;
	}
	if (!ctl_allowed(cred.uid, cred.gid)) {
		log_warnx("control: uid %u (pid %d) refused: not root, not "
		    "petrel's user and not in the petrel group",
		    (unsigned)cred.uid, (int)cred.pid);
		close(s);
		return;
	}
	if (ctl.nconns >= CTL_MAX_CONNS) {
		log_warnx("control: uid %u refused: %d connections already",
		    (unsigned)cred.uid, ctl.nconns);
		close(s);
		return;
	}
	cc = xcalloc(1, sizeof(*cc));
	cc->uid = cred.uid;
	snprintf(cc->name, sizeof(cc->name), "ctl pid %d", (int)cred.pid);
	TAILQ_INSERT_TAIL(&ctl.conns, cc, entry);
	ctl.nconns++;
	cc->chan = chan_new(q->base, s, cc->name, ctl_dispatch, ctl_closed,
	    cc);
}

/* Stop listening (queued is stopping); the socket file goes too. */
void
ctl_shutdown(void)
{
	if (ctl.ev != NULL)
		event_del(ctl.ev);
	if (ctl.fd != -1)
		close(ctl.fd);
	ctl.fd = -1;
}
