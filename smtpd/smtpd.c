/*
 * smtpd.c - an SMTP server worker's life: chroot and drop privileges,
 * accept on the listeners petreld bound, and take queued's answers.
 * smtpd_imsg() and smtpd_imsg_queue() are where messages land.
 */
#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "log.h"
#include "priv.h"
#include "proc.h"
#include "smtpd.h"
#include "tlskey.h"
#include "wire.h"

#define SMTPD_OVERFLOW		16	/* sessions told 421 beyond the cap */
#define SMTPD_PAUSE_MS		250	/* accepting pauses this long */
#define SMTPD_PAUSE_LOG_S	10	/* a pause is said at most this often */
#define SMTPD_REFUSED_LOG_S	10	/* so is a refusal for a limit */

struct smtpd	*sd;

int
smtpd_queue_send(struct mbuf *m)
{
	if (sd->queue == NULL) {
		m_discard(m);
		return -1;
	}
	return chan_send(sd->queue, m);
}

static void
smtpd_maybe_exit(void)
{
	if (sd->shutdown && sd->nsessions == 0)
		event_base_loopexit(sd->base, NULL);
}

/*
 * Accepting pauses when no descriptor is left (EMFILE, ENFILE) or
 * when the sessions that are only being told 421 pile up: the
 * listeners are left alone until a session ends or a short timer
 * fires, so a waiting connection cannot make the loop spin.  Other
 * workers go on accepting.
 */
static void
smtpd_accept_pause(const char *why)
{
	struct timeval	 tv = { 0, SMTPD_PAUSE_MS * 1000 };
	time_t		 now = time(NULL);
	int		 i;

	if (sd->accept_paused)
		return;
	sd->accept_paused = 1;
	for (i = 0; i < sd->nlisten; i++)
		event_del(sd->listen_ev[i]);
	evtimer_add(sd->accept_timer, &tv);
	sd->npaused++;
	if (now - sd->pause_logged >= SMTPD_PAUSE_LOG_S) {
		log_warnx("smtpd[%d]: not accepting for a moment: %s "
		    "(%d sessions; %u pauses since the last report)",
		    sd->index, why, sd->nsessions, sd->npaused);
		sd->pause_logged = now;
		sd->npaused = 0;
	}
}

static void
smtpd_accept_resume(void)
{
	int	 i;

	if (!sd->accept_paused || sd->shutdown)
		return;
	sd->accept_paused = 0;
	evtimer_del(sd->accept_timer);
	for (i = 0; i < sd->nlisten; i++)
		event_add(sd->listen_ev[i], NULL);
}

static void
smtpd_accept_timer(evutil_socket_t fd, short ev, void *arg)
{
	smtpd_accept_resume();
}

static void
smtpd_accept_cb(evutil_socket_t lfd, short ev, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t	 len;
	int		 fd, n;

	/* take what is waiting, but let other workers have a share */
	for (n = 0; n < 32; n++) {
		if (sd->nsessions >= sd->max_sessions + SMTPD_OVERFLOW) {
			smtpd_accept_pause("too many sessions");
			return;
		}
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EAGAIN:
			case ECONNABORTED:
			case EINTR:
				break;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				smtpd_accept_pause(strerror(errno));
				break;
			default:
				log_warn("accept");
				break;
			}
			return;
		}
		session_accept(fd, (struct sockaddr *)&ss, len);
	}
}

/* Milliseconds that only go forward, for the sessions' deadlines. */
int64_t
smtpd_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A client refused for max_sessions_per_client or max_sessions_total.
 * Said at most once in SMTPD_REFUSED_LOG_S per limit, with how many
 * were refused meanwhile: a client hammering a limit must not flood
 * the log.
 */
void
smtpd_refused(struct session *s, enum limit_verdict v)
{
	time_t		 now = time(NULL);
	int		 k = v == LIMIT_CLIENT ? 0 : 1;

	sd->nrefused[k]++;
	if (now - sd->refused_logged[k] < SMTPD_REFUSED_LOG_S)
		return;
	if (k == 0)
		log_info("smtp client=[%s] event=Rejection reason=\"too many "
		    "connections from this client (max_sessions_per_client "
		    "%d)\" refused=%u", s->addr,
		    sd->conf->smtpd_max_sessions_per_client, sd->nrefused[k]);
	else
		log_info("smtp client=[%s] event=Rejection reason=\"too many "
		    "sessions in all (max_sessions_total %d)\" refused=%u",
		    s->addr, sd->conf->smtpd_max_sessions_total,
		    sd->nrefused[k]);
	sd->refused_logged[k] = now;
	sd->nrefused[k] = 0;
}

/*
 * Once a second: each session's deadline.  A worker holding three
 * quarters of its sessions, or all workers three quarters of
 * max_sessions_total, is under stress (until below half) and gives
 * every session stress_timeout instead of timeout (Postfix's
 * stress-dependent smtpd_timeout), sessions already open too: idle and
 * trickling clients are let go within seconds, and the room goes to
 * clients that send mail.
 */
static void
smtpd_sweep(evutil_socket_t fd, short ev, void *arg)
{
	struct session	*s, *next;
	int64_t		 now = smtpd_now(), timeout;
	int		 stressed, total, max_total;

	/* on at three quarters, off below half: the sessions it lets go
	   at once must not end it half-way */
	total = limit_total();
	max_total = sd->conf->smtpd_max_sessions_total;
	if (!sd->stressed)
		stressed = sd->nsessions >= sd->max_sessions -
		    sd->max_sessions / 4 || total >= max_total - max_total / 4;
	else
		stressed = sd->nsessions >= sd->max_sessions / 2 ||
		    total >= max_total / 2;
	timeout = sd->conf->smtpd_timeout;
	if (stressed && sd->conf->smtpd_stress_timeout < timeout)
		timeout = sd->conf->smtpd_stress_timeout;
	if (stressed != sd->stressed)
		log_info("smtpd[%d]: %s stress (%d sessions here, %d in all): "
		    "timeout %llds", sd->index, stressed ? "under" :
		    "no longer under", sd->nsessions, total,
		    (long long)timeout);
	sd->stressed = stressed;
	RB_FOREACH_SAFE(s, session_tree, &sd->sessions, next)
		session_check_deadline(s, now, timeout * 1000);
}

/* A session ended: room for another, and maybe the last one gone. */
void
smtpd_session_gone(void)
{
	smtpd_accept_resume();
	smtpd_maybe_exit();
}

static int
smtpd_imsg_queue(struct chan *c, struct imsg *im)
{
	struct mreader	 r;
	struct session	*s;
	const char	*id, *reason;
	uint8_t		 ok;

	m_reader(&r, im);
	switch (im->hdr.type) {
	case IMSG_QUEUED_MSG_FD:
		if (m_get_string(&r, &id) == -1 ||
		    m_get_string(&r, &reason) == -1 || m_end(&r) == -1)
			return -1;
		if ((s = session_find(im->hdr.peerid)) == NULL) {
			/* the client left while we waited */
			struct mbuf m;

			if (*id) {
				m_create(&m, IMSG_SMTPD_MSG_ABORT, 0, -1);
				m_add_string(&m, id);
				smtpd_queue_send(&m);
			}
			return 0;
		}
		if ((im->fd == -1) != (*id == '\0'))
			return -1;
		message_opened(s, im->fd, id, reason);
		im->fd = -1;
		return 0;
	case IMSG_QUEUED_COMMIT:
		if (m_get_string(&r, &id) == -1 || m_get_u8(&r, &ok) == -1 ||
		    m_get_string(&r, &reason) == -1 || m_end(&r) == -1)
			return -1;
		if ((s = session_find(im->hdr.peerid)) != NULL)
			message_committed(s, id, ok, reason);
		return 0;
	}
	log_warnx("queued: unexpected message type %u", im->hdr.type);
	return -1;
}

static void
smtpd_queue_closed(struct chan *c)
{
	struct session	*s;

	if (sd->queue != c)
		return;
	sd->queue = NULL;
	proc_peer_lost(sd->master, c, PEER_QUEUED, 0);
	log_debug("smtpd[%d]: lost queued; parking sessions", sd->index);
	RB_FOREACH(s, session_tree, &sd->sessions)
		message_queue_lost(s);
}

/*
 * keysd answers only inside chan_call(); what comes here is an answer
 * that came too late (its handshake failed already).
 */
static int
smtpd_imsg_keysd(struct chan *c, struct imsg *im)
{
	if (im->hdr.type == IMSG_KEYSD_SIGN)
		return 0;
	log_warnx("keysd: unexpected message type %u", im->hdr.type);
	return -1;
}

static void
smtpd_keysd_closed(struct chan *c)
{
	if (sd->keysd != c)
		return;
	sd->keysd = NULL;
	proc_peer_lost(sd->master, c, PEER_KEYSD, 0);
}

static int
smtpd_imsg(struct chan *c, struct imsg *im)
{
	struct session	*s;
	uint32_t	 kind, w;

	switch (im->hdr.type) {
	case IMSG_MASTER_PEER:
		if (chan_get_peer(im, 0, &kind, &w) == -1)
			return -1;
		if (kind == PEER_KEYSD && sd->tls_ctx != NULL) {
			chan_replace(&sd->keysd, sd->base, im->fd, "keysd",
			    smtpd_imsg_keysd, smtpd_keysd_closed, NULL);
			im->fd = -1;
			return 0;
		}
		if (kind != PEER_QUEUED)
			return -1;
		chan_replace(&sd->queue, sd->base, im->fd, "queued",
		    smtpd_imsg_queue, smtpd_queue_closed, NULL);
		im->fd = -1;
		while ((s = TAILQ_FIRST(&sd->parked)) != NULL) {
			TAILQ_REMOVE(&sd->parked, s, wentry);
			message_queue_back(s);
		}
		return 0;
	}
	log_warnx("master: unexpected message type %u", im->hdr.type);
	return -1;
}

static void
smtpd_stop(void)
{
	struct session	*s, *next;
	int		 i;

	if (sd->shutdown)
		return;
	sd->shutdown = 1;
	evtimer_del(sd->accept_timer);
	for (i = 0; i < sd->nlisten; i++) {
		event_del(sd->listen_ev[i]);
		close(event_get_fd(sd->listen_ev[i]));
	}
	RB_FOREACH_SAFE(s, session_tree, &sd->sessions, next)
		session_shutdown(s);
	smtpd_maybe_exit();
}

static void
smtpd_test_hook(void)
{
	chan_test_garble(sd->queue);
	chan_test_garble(sd->keysd);
}

static void
smtpd_master_closed(struct chan *c)
{
	sd->master = NULL;
	smtpd_stop();
}


/*
 * The certificate chain is public and read here, before the chroot;
 * the private key is not: smtpd holds a proxy of it, and keysd (which
 * petreld gave the key) makes each handshake's signature.
 */
static SSL_CTX *
smtpd_tls_init(struct petrel_conf *conf)
{
	SSL_CTX		*ctx;
	EVP_PKEY	*pk;
	char		 err[256];

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("smtpd: SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_cipher_list(ctx, tlskey_ciphers()) != 1)
		fatalx("smtpd: no TLS 1.2 cipher suites left");
	if (SSL_CTX_use_certificate_chain_file(ctx,
	    conf->smtpd_tls_certificate) != 1) {
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		fatalx("smtpd: tls_certificate %s: %s",
		    conf->smtpd_tls_certificate, err);
	}
	if ((pk = tlskey_proxy(SSL_CTX_get0_certificate(ctx),
	    tlskey_keysd_sign, &sd->keysd, err, sizeof(err))) == NULL)
		fatalx("smtpd: tls_certificate %s: %s",
		    conf->smtpd_tls_certificate, err);
	if (SSL_CTX_use_PrivateKey(ctx, pk) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_error_string_n(ERR_get_error(), err, sizeof(err));
		fatalx("smtpd: tls_certificate %s: %s",
		    conf->smtpd_tls_certificate, err);
	}
	EVP_PKEY_free(pk);	/* the context holds it */
	return ctx;
}

/*
 * A session holds its socket and, during DATA, a spool file: the
 * sessions run at once fit in half the descriptor budget, so the
 * file queued lends always arrives (a descriptor that cannot be
 * received would break the channel).
 */
static void
smtpd_session_cap(struct petrel_conf *conf)
{
	int	 cap = fd_budget() / 2;

	sd->max_sessions = conf->smtpd_max_sessions;
	if (cap >= sd->max_sessions)
		return;
	sd->max_sessions = cap;
	if (sd->index == 0)
		log_info("smtpd: at most %d sessions per worker, not "
		    "max_sessions = %d: the open files limit allows no more",
		    cap, conf->smtpd_max_sessions);
}

void
smtpd_main(struct proc_args *pa)
{
	struct petrel_conf *conf = pa->conf;
	struct timeval	 sweep_tv = { 1, 0 };
	char		 title[32];
	int		 i;

	snprintf(title, sizeof(title), "smtp server %d", pa->index);
	proc_child_init(pa, title);
	sd = xcalloc(1, sizeof(*sd));
	sd->conf = conf;
	sd->index = pa->index;
	RB_INIT(&sd->sessions);
	TAILQ_INIT(&sd->parked);

	/* the chain is read before the chroot; the key stays in keysd */
	if (*conf->smtpd_tls_certificate != '\0')
		sd->tls_ctx = smtpd_tls_init(conf);
	priv_drop("smtpd", conf->privsep, conf->smtpd_user,
	    conf->smtpd_chroot);

	if ((sd->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	proc_child_signals(sd->base, smtpd_stop);
	proc_test_hook(sd->base, smtpd_test_hook);

	smtpd_session_cap(conf);
	limit_attach(SMTPD_LIMIT_FD, sd->index);
	sd->accept_timer = evtimer_new(sd->base, smtpd_accept_timer, NULL);
	sd->sweep_timer = event_new(sd->base, -1, EV_PERSIST, smtpd_sweep,
	    NULL);
	event_add(sd->sweep_timer, &sweep_tv);
	sd->nlisten = conf->smtpd_nlisten;
	for (i = 0; i < sd->nlisten; i++) {
		int	 fd = PROC_LISTEN_FD + i;

		evutil_make_socket_nonblocking(fd);
		sd->listen_ev[i] = event_new(sd->base, fd, EV_READ | EV_PERSIST,
		    smtpd_accept_cb, NULL);
		event_add(sd->listen_ev[i], NULL);
	}
	sd->master = chan_new(sd->base, PROC_MASTER_FD, "master", smtpd_imsg,
	    smtpd_master_closed, NULL);
	chan_compose(sd->master, IMSG_CHILD_READY, 0, -1, NULL, 0);
	event_base_dispatch(sd->base);
	exit(0);
}
