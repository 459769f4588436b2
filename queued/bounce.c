/*
 * bounce.c - failed recipients and their reports: a permanent failure
 * or an expired message becomes an RFC 3464 DSN to the envelope
 * sender (never to the null sender), committed like any received
 * message; only once it is durable are the recipients marked done.
 */
#include "config.h"

#include <sys/stat.h>

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
#include "util.h"

void
bounce_add(struct qmsg *m, int rcpt, const char *status,
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
bounce_clear(struct qmsg *m, int mark_done)
{
	int	 i;

	for (i = 0; i < m->nbounce; i++) {
		if (mark_done) {
			m->env.done[m->bounces[i].rcpt] = 1;
			m->dirty = 1;
		}
		free(m->bounces[i].diagnostic);
		free(m->bounces[i].remote_mta);
	}
	free(m->bounces);
	m->bounces = NULL;
	m->nbounce = 0;
}

static int
bounce_has(struct qmsg *m, int rcpt)
{
	int	 i;

	for (i = 0; i < m->nbounce; i++)
		if (m->bounces[i].rcpt == rcpt)
			return 1;
	return 0;
}

/* Every recipient still pending has run out of time: 5.4.7. */
void
bounce_expire(struct qmsg *m, const char *last)
{
	char		 diag[512], buf[512], f[1024], r[1024];
	double		 delay = sched_now() - m->env.arrival;
	int		 i;

	for (i = 0; i < m->env.nrcpt; i++) {
		if (m->env.done[i] || bounce_has(m, i))
			continue;
		snprintf(diag, sizeof(diag), "551 5.4.7 delivery time expired "
		    "after %.0f s%s%s", delay, last ? "; last error: " : "",
		    last ? last : "");
		ctl_counter->expired++;
		log_info("id=%s event=Expiration from=<%s> rcpt=<%s> "
		    "response=\"%s\" delay=%.1fs attempts=%" PRIu32,
		    m->env.id, log_token(m->env.from, f, sizeof(f)),
		    log_token(m->env.rcpts[i], r, sizeof(r)),
		    log_quote(diag, buf, sizeof(buf)), delay, m->env.attempts);
		bounce_add(m, i, "5.4.7", diag, NULL);
	}
}

static void
bounce_dsn_done(struct commit_job *j)
{
	struct qmsg	*m = queue_find(j->parent), *dm;

	if (j->ok) {
		char	 r[1024];

		log_info("id=%s event=Reception from=<> rcpt=<%s> nrcpt=1 "
		    "size=%" PRIu64 " client=[local] helo=%s dsn_for=%s",
		    j->id, log_token(j->env.rcpts[0], r, sizeof(r)),
		    j->env.size, q->conf->hostname, j->parent);
		if ((dm = queue_insert(&j->env)) != NULL)
			sched_add(dm, 0);
	} else {
		log_warnx("id=%s: DSN for %s not committed: %s", j->id,
		    j->parent, j->reason);
		spool_abort_message(j->id);
	}
	if (m != NULL) {
		bounce_clear(m, j->ok);
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
void
bounce_send(struct qmsg *m)
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
		bounce_clear(m, 1);
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
	if (m->operator_bounce)
		strlcpy(reason, "The mail system's operator returned it.",
		    sizeof(reason));
	else
		snprintf(reason, sizeof(reason), expired ?
		    "It could not be delivered within %" PRId64 " hours." :
		    "The receiving side refused it permanently.",
		    sched_max_age(m) / 3600);
	m->operator_bounce = 0;
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
	j->done = bounce_dsn_done;
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
		bounce_clear(m, 0);
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

