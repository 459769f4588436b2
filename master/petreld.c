/*
 * petreld.c - the parent: reads the config, binds the listeners,
 * creates one socketpair per edge of the process graph, starts each
 * child by re-executing itself, restarts a child that dies, and on
 * SIGTERM stops them in order.  It never parses network input.
 *
 * The same binary is every child: "petreld -x smtpd -i 0 -f FILE".
 */
#include "config.h"

#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "chan.h"
#include "conf.h"
#include "log.h"
#include "policy.h"
#include "priv.h"
#include "proc.h"
#include "util.h"
#include "secret.h"
#include "tlskey.h"
#include "wire.h"
#include "../smtpd/limit.h"

#define MAX_SMTPD		64
#define MAX_DELIVERD		64
#define LISTEN_FD_BASE		64	/* listeners live above child fds */
#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		10000
#define RESTART_WINDOW_S	10
#define RESTARTS_PER_WINDOW	20
#define STOP_GRACE_S		15
#define RELOAD_GRACE_S		120	/* deliveries under way may finish */

extern char **environ;

struct child {
	const char	*name;		/* "queued", "smtpd", "deliverd", "keysd" */
	int		 index;
	int		 kind;		/* PEER_* for wiring */
	char		 label[24];
	pid_t		 pid;
	struct chan	*chan;
	int		 ready;
	int		 ready_seen;	/* since the last start */
	int		 backoff_ms;
	time_t		 started;	/* this pid's start (petrelctl status) */
	int		 restarts;	/* after a death, since petreld began */
	time_t		 window_start;	/* of the deaths counted */
	int		 deaths;
	struct event	*restart_ev;
};

static struct {
	struct petrel_conf *conf;
	struct event_base *base;
	char		 self[PATH_MAX];
	const char	*conffile;
	int		 foreground, verbose;
	int		 listen_fds[CONF_MAX_LISTEN];
	int		 nlisten;
	struct child	 queued;
	struct child	 keysd;
	struct child	 smtpd[MAX_SMTPD];
	int		 nsmtpd;
	struct child	 deliverd[MAX_DELIVERD];
	int		 ndeliverd;
	int		 stopping;
	int		 reloading;	/* 1: deliverd draining, 2: queued
					   (and keysd), 3: smtpd one by one */
	int		 reload_pausing;	/* 1: waiting for queued's PAUSED */
	struct event	*reload_timer;
	int		 conffd;	/* the running config, for children */
	int		 limitfd;	/* the smtpd workers' shared counts */
	struct petrel_conf *newconf;	/* a reload's, running from step 2 */
	int		 newconffd;
	int		 reload_smtpd;	/* its config changed: restart it */
	int		 reload_keysd;
	uint8_t		 tls_digest[32];	/* smtpd's certificate and key */
	int		 roll;		/* step 3: the smtpd being replaced */
	int		 roll_phase;
	pid_t		 roll_pid;	/* its old process */
	struct event	*stop_timer;
	int		 pidfd;
	char		 pidfile[PATH_MAX];
	time_t		 started;
} m;

static void	child_spawn(struct child *);
static void	master_check_stopped(void);
static void	master_reload_step(void);
static void	master_reload_stop_deliverd(void);
static int	master_reload(char *, size_t);
static int	master_check_users(struct petrel_conf *, char *, size_t);
static int	master_check_tls(struct petrel_conf *, char *, size_t);
static int	master_check_policy(struct petrel_conf *, int, char *, size_t);

static void
usage(void)
{
	fprintf(stderr, "usage: petreld [-dnv] [-f file]\n");
	exit(1);
}

/*
 * A fresh socketpair between two children: a gets one end as a channel
 * to (akind, aindex), b the other as a channel to (bkind, bindex).
 */
static void
master_pair(struct chan *a, uint32_t akind, uint32_t aindex, struct chan *b,
    uint32_t bkind, uint32_t bindex)
{
	struct mbuf	 mb;
	int		 sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("socketpair");
		return;
	}
	m_create(&mb, IMSG_MASTER_PEER, 0, sp[0]);
	m_add_u32(&mb, akind);
	m_add_u32(&mb, aindex);
	chan_send(a, &mb);
	m_create(&mb, IMSG_MASTER_PEER, 0, sp[1]);
	m_add_u32(&mb, bkind);
	m_add_u32(&mb, bindex);
	chan_send(b, &mb);
}

/* Give a worker (smtpd or deliverd) and queued a fresh channel. */
static void
master_wire(struct child *ch)
{
	if (!m.queued.ready || !ch->ready || m.stopping ||
	    m.queued.chan == NULL || ch->chan == NULL)
		return;
	master_pair(m.queued.chan, ch->kind, ch->index, ch->chan, PEER_QUEUED,
	    0);
}

/*
 * Give deliverd[j] and keysd a fresh channel (deliverd asks keysd for
 * the secrets of its AUTH logins and its client certificates), or
 * smtpd[i] and keysd when smtpd offers TLS (keysd makes its
 * signatures).
 */
static void
master_wire_keys(struct child *w)
{
	if (!m.keysd.ready || !w->ready || m.stopping ||
	    m.keysd.chan == NULL || w->chan == NULL)
		return;
	if (w->kind == PEER_SMTPD && *m.conf->smtpd_tls_certificate == '\0')
		return;
	master_pair(m.keysd.chan, w->kind, w->index, w->chan, PEER_KEYSD, 0);
}

/*
 * [smtpd] tls_certificate and tls_private_key, checked as petreld -n
 * does: 0, or -1 with why (naming file and key) in err.
 */
static int
master_check_tls(struct petrel_conf *c, char *err, size_t errlen)
{
	char	 why[1024] = "";
	ssize_t	 n;
	size_t	 got = 0;
	pid_t	 pid;
	int	 p[2], status;

	if (*c->smtpd_tls_certificate == '\0')
		return 0;
	/*
	 * In a child that exits: OpenSSL's parse of the key leaves pieces
	 * of it in freed memory it does not clear, and petreld lives on.
	 */
	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1)
		fatal("checking the TLS key");
	if (pid == 0) {
		close(p[0]);
		if (tlskey_check_files(c->smtpd_tls_certificate,
		    c->smtpd_tls_private_key, why, sizeof(why)) == 0)
			_exit(0);
		(void)write(p[1], why, strlen(why));
		_exit(1);
	}
	close(p[1]);
	while (got < sizeof(why) - 1 && ((n = read(p[0], why + got,
	    sizeof(why) - 1 - got)) > 0 || (n == -1 && errno == EINTR)))
		got += n > 0 ? n : 0;
	why[got] = '\0';
	close(p[0]);
	while ((n = waitpid(pid, &status, 0)) == -1 && errno == EINTR)
		;
	/* reaped by the SIGCHLD handler already: its words decide */
	if (n == -1 ? *why == '\0' :
	    WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	snprintf(err, errlen, "%s: [smtpd] tls_private_key: %s", c->file,
	    *why ? why : "the check failed");
	return -1;
}

/*
 * What smtpd's certificate and key files hold, hashed: a reload that
 * finds them changed (a renewal) restarts the smtp servers.
 */
static void
master_tls_digest(struct petrel_conf *c, uint8_t digest[32])
{
	const char	*files[2] = { c->smtpd_tls_certificate,
			    c->smtpd_tls_private_key };
	EVP_MD_CTX	*md;
	char		*text, err[512];
	size_t		 len;
	int		 i;

	memset(digest, 0, 32);
	if (*c->smtpd_tls_certificate == '\0')
		return;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		fatalx("SHA-256");
	for (i = 0; i < 2; i++) {
		if (file_read_secret("file", files[i], 0, &text, &len, err,
		    sizeof(err)) == -1)
			continue;	/* master_check_tls() said why */
		EVP_DigestUpdate(md, text, len);
		secret_free_str(text);
	}
	EVP_DigestFinal_ex(md, digest, NULL);
	EVP_MD_CTX_free(md);
}

/*
 * smtpd's private key to keysd.  petreld reads it (it may be readable
 * by root only); smtpd never opens it, and keysd makes the signatures.
 */
static void
master_tls_key_send(struct petrel_conf *c)
{
	struct mbuf	 mb;
	char		*pem, err[1024];
	size_t		 len;

	if (*c->smtpd_tls_private_key == '\0' || m.keysd.chan == NULL ||
	    !m.keysd.ready)
		return;
	if (tlskey_read_file(c->smtpd_tls_private_key, &pem, &len, err,
	    sizeof(err)) == -1) {
		log_warnx("tls: %s; STARTTLS will fail", err);
		return;
	}
	m_create(&mb, IMSG_MASTER_TLS_KEY, 0, -1);
	m_wipe(&mb);
	m_add_string(&mb, c->smtpd_tls_private_key);
	m_add_string(&mb, pem);
	secret_free_str(pem);
	chan_send(m.keysd.chan, &mb);
}

/* Every worker, smtpd then deliverd, for loops over all of them. */
static struct child *
master_worker(int i)
{
	if (i < m.nsmtpd)
		return &m.smtpd[i];
	if (i < m.nsmtpd + m.ndeliverd)
		return &m.deliverd[i - m.nsmtpd];
	return NULL;
}

/* The user a child runs as (as petreld -n would make it). */
static const char *
master_child_user(const struct child *ch)
{
	static char	 self[64];
	struct passwd	*pw;

	if (m.conf->privsep && geteuid() == 0) {
		if (ch == &m.queued)
			return m.conf->queued_user;
		if (ch == &m.keysd)
			return m.conf->keysd_user;
		if (ch->kind == PEER_DELIVERD)
			return m.conf->deliverd_user;
		if (ch->kind == PEER_SMTPD)
			return m.conf->smtpd_user;
	}
	pw = getpwuid(geteuid());
	snprintf(self, sizeof(self), "%s", pw ? pw->pw_name : "?");
	return self;
}

static json_t *
master_child_json(const struct child *ch, time_t now)
{
	return json_pack("{s:s,s:i,s:i,s:s,s:o,s:i,s:b}", "process", ch->name,
	    "index", ch->index, "pid", (int)ch->pid, "user",
	    master_child_user(ch), "uptime", ch->pid ?
	    json_integer(now - ch->started) : json_null(), "restarts",
	    ch->restarts, "ready", ch->ready);
}

static void
master_ctl_reply(uint32_t id, int code, json_t *j, const char *err)
{
	struct mbuf	 mb;
	char		*s = NULL;

	if (m.queued.chan == NULL) {
		json_decref(j);
		return;
	}
	if (j != NULL && (s = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	json_decref(j);
	m_create(&mb, IMSG_MASTER_CTL_REPLY, id, -1);
	m_add_u8(&mb, code);
	m_add_string(&mb, s ? s : "");
	m_add_string(&mb, err);
	chan_send(m.queued.chan, &mb);
	free(s);
}

/*
 * A petrelctl request that queued passes on: status, reload, keys
 * flush, keysd's counters.  The operator's uid goes into the log.
 */
static int
master_ctl(struct imsg *im)
{
	struct mreader	 r;
	struct mbuf	 mb;
	const char	*cmd;
	uint32_t	 uid;
	json_t		*procs;
	time_t		 now = time(NULL);
	struct child	*w;
	int		 i;

	m_reader(&r, im);
	if (m_get_string(&r, &cmd) == -1 || m_get_u32(&r, &uid) == -1 ||
	    m_end(&r) == -1)
		return -1;
	if (strcmp(cmd, "status") == 0) {
		procs = json_array();
		json_array_append_new(procs, json_pack("{s:s,s:i,s:i,s:s,"
		    "s:I,s:i,s:b}", "process", "petreld", "index", 0, "pid",
		    (int)getpid(), "user", geteuid() == 0 ? "root" :
		    master_child_user(&m.queued), "uptime",
		    (json_int_t)(now - m.started), "restarts", 0, "ready", 1));
		json_array_append_new(procs, master_child_json(&m.queued, now));
		json_array_append_new(procs, master_child_json(&m.keysd, now));
		for (i = 0; (w = master_worker(i)) != NULL; i++)
			json_array_append_new(procs, master_child_json(w, now));
		master_ctl_reply(im->hdr.peerid, CTL_EXIT_OK, json_pack(
		    "{s:o,s:b,s:s}", "processes", procs, "reloading",
		    m.reloading != 0, "config", m.conffile), "");
	} else if (strcmp(cmd, "reload") == 0) {
		char	 err[2048];

		log_info("control: uid %u asked for a reload", uid);
		/* the same as SIGHUP: checked as petreld -n, then a roll */
		if (master_reload(err, sizeof(err)) == -1)
			master_ctl_reply(im->hdr.peerid, CTL_EXIT_NOTFOUND,
			    NULL, err);
		else
			master_ctl_reply(im->hdr.peerid, CTL_EXIT_OK,
			    json_pack("{s:s}", "reload", "checked and started; "
			    "the log says \"reload: done\" when every process "
			    "runs the new configuration"), "");
	} else if (strcmp(cmd, "keys-flush") == 0) {
		log_info("control: uid %u flushed keysd's cache", uid);
		if (m.keysd.chan == NULL || !m.keysd.ready) {
			master_ctl_reply(im->hdr.peerid, CTL_EXIT_UNREACHABLE,
			    NULL, "keysd is not running");
			return 0;
		}
		m_create(&mb, IMSG_MASTER_KEYS_FLUSH, 0, -1);
		chan_send(m.keysd.chan, &mb);
		master_ctl_reply(im->hdr.peerid, CTL_EXIT_OK, json_pack(
		    "{s:b}", "flushed", 1), "");
	} else if (strcmp(cmd, "keys-stats") == 0) {
		if (m.keysd.chan == NULL || !m.keysd.ready) {
			master_ctl_reply(im->hdr.peerid, CTL_EXIT_UNREACHABLE,
			    NULL, "keysd is not running");
			return 0;
		}
		m_create(&mb, IMSG_MASTER_CTL, im->hdr.peerid, -1);
		m_add_string(&mb, "stats");
		chan_send(m.keysd.chan, &mb);
	} else
		master_ctl_reply(im->hdr.peerid, CTL_EXIT_USAGE, NULL,
		    "unknown request");
	return 0;
}

static int
master_imsg(struct chan *c, struct imsg *im)
{
	struct child	*ch = c->arg;
	int		 i;

	switch (im->hdr.type) {
	case IMSG_CHILD_READY:
		if (im->datalen != 0 || ch->ready)
			return -1;
		ch->ready = ch->ready_seen = 1;
		log_debug("%s (pid %d) ready", ch->label, (int)ch->pid);
		if (m.reloading == 3)	/* the next smtpd may go */
			master_reload_step();
		if (ch == &m.keysd) {
			struct child	*w;

			master_tls_key_send(m.conf);
			for (i = 0; (w = master_worker(i)) != NULL; i++)
				master_wire_keys(w);
			return 0;
		}
		if (ch->kind == PEER_DELIVERD || ch->kind == PEER_SMTPD)
			master_wire_keys(ch);
		if (ch == &m.queued) {
			struct child	*w;

			for (i = 0; (w = master_worker(i)) != NULL; i++) {
				if (w->pid == 0 && !m.stopping &&
				    !evtimer_pending(w->restart_ev, NULL))
					child_spawn(w);
				else
					master_wire(w);
			}
		} else
			master_wire(ch);
		return 0;
	case IMSG_QUEUED_CTL:
		if (ch != &m.queued)
			break;
		return master_ctl(im);
	case IMSG_QUEUED_PAUSED:
		if (ch != &m.queued || im->datalen != 0)
			break;
		if (m.reloading == 1 && m.reload_pausing) {
			master_reload_stop_deliverd();
			master_reload_step();
		}
		return 0;
	case IMSG_KEYSD_CTL_REPLY: {
		struct mreader	 r;
		struct mbuf	 mb;
		const char	*js, *err;
		uint8_t		 code;

		if (ch != &m.keysd)
			break;
		m_reader(&r, im);
		if (m_get_u8(&r, &code) == -1 || m_get_string(&r, &js) == -1 ||
		    m_get_string(&r, &err) == -1 || m_end(&r) == -1)
			return -1;
		if (m.queued.chan == NULL)
			return 0;
		m_create(&mb, IMSG_MASTER_CTL_REPLY, im->hdr.peerid, -1);
		m_add_u8(&mb, code);
		m_add_string(&mb, js);
		m_add_string(&mb, err);
		chan_send(m.queued.chan, &mb);
		return 0;
	}
	case IMSG_CHILD_PEER_LOST: {
		struct mreader	 r;
		struct child	*w = ch;
		uint32_t	 kind, index;

		m_reader(&r, im);
		if (m_get_u32(&r, &kind) == -1 ||
		    m_get_u32(&r, &index) == -1 || m_end(&r) == -1)
			return -1;
		if (ch == &m.keysd || kind == PEER_KEYSD) {
			if (ch == &m.keysd) {
				if (kind == PEER_DELIVERD &&
				    index < (uint32_t)m.ndeliverd)
					w = &m.deliverd[index];
				else if (kind == PEER_SMTPD &&
				    index < (uint32_t)m.nsmtpd)
					w = &m.smtpd[index];
				else
					return -1;
			} else if (ch->kind != PEER_DELIVERD &&
			    ch->kind != PEER_SMTPD)
				return -1;
			log_warnx("channel between keysd and %s lost (reported "
			    "by %s); wiring a new one", w->label, ch->label);
			master_wire_keys(w);
			return 0;
		}
		if (ch == &m.queued) {
			if (kind == PEER_SMTPD && index < (uint32_t)m.nsmtpd)
				w = &m.smtpd[index];
			else if (kind == PEER_DELIVERD &&
			    index < (uint32_t)m.ndeliverd)
				w = &m.deliverd[index];
			else
				return -1;
		} else if (kind != PEER_QUEUED)
			return -1;
		/* both sides live: a new pair (a dead one is rewired at restart) */
		log_warnx("channel between queued and %s lost (reported by "
		    "%s); wiring a new one", w->label, ch->label);
		master_wire(w);
		return 0;
	}
	}
	log_warnx("%s: unexpected message type %u", ch->label, im->hdr.type);
	return -1;
}

static void
master_child_closed(struct chan *c)
{
	struct child	*ch = c->arg;

	/* the child is dying; SIGCHLD will tell how and restart it */
	if (ch->chan == c) {
		ch->chan = NULL;
		ch->ready = 0;
	}
}

/* Out of descriptors or processes: a logged back-off, never fatal. */
static void
child_retry_later(struct child *ch)
{
	struct timeval	 tv = { 1, 0 };

	evtimer_add(ch->restart_ev, &tv);
}

static void
child_spawn(struct child *ch)
{
	char	*argv[16], idx[16];
	int	 sp[2], argc = 0, i;
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		log_warn("cannot start %s: socketpair", ch->label);
		child_retry_later(ch);
		return;
	}
	argv[argc++] = "petreld";
	argv[argc++] = "-x";
	argv[argc++] = (char *)ch->name;
	snprintf(idx, sizeof(idx), "%d", ch->index);
	argv[argc++] = "-i";
	argv[argc++] = idx;
	argv[argc++] = "-f";
	argv[argc++] = (char *)m.conffile;
	argv[argc++] = "-C";
	if (m.foreground)
		argv[argc++] = "-d";
	if (m.verbose)
		argv[argc++] = "-v";
	argv[argc] = NULL;

	switch ((pid = fork())) {
	case -1:
		log_warn("cannot start %s: fork", ch->label);
		close(sp[0]);
		close(sp[1]);
		child_retry_later(ch);
		return;
	case 0:
		signal(SIGCHLD, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		if (dup2(sp[1], PROC_MASTER_FD) == -1)
			_exit(1);
		if (sp[1] == PROC_MASTER_FD)
			fcntl(PROC_MASTER_FD, F_SETFD, 0);
		/* the config petreld runs with, not the file as it is now */
		if (dup2(m.conffd, PROC_CONF_FD) == -1)
			_exit(1);
		i = 0;
		if (strcmp(ch->name, "smtpd") == 0)
			for (; i < m.nlisten; i++)
				if (dup2(m.listen_fds[i], PROC_LISTEN_FD + i) == -1)
					_exit(1);
		for (i += PROC_LISTEN_FD; i < PROC_CONF_FD; i++)
			close(i);
		/* the session counts all smtpd workers share */
		if (strcmp(ch->name, "smtpd") == 0) {
			if (dup2(m.limitfd, SMTPD_LIMIT_FD) == -1)
				_exit(1);
			closefrom(SMTPD_LIMIT_FD + 1);
		} else
			closefrom(PROC_CONF_FD + 1);
		/* the Vault token is keysd's alone (petreld is one thread) */
		if (ch != &m.keysd)
			unsetenv("VAULT_TOKEN");
		execve(m.self, argv, environ);
		_exit(127);
	}
	close(sp[1]);
	ch->pid = pid;
	ch->started = time(NULL);
	ch->ready = 0;
	ch->chan = chan_new(m.base, sp[0], ch->label, master_imsg,
	    master_child_closed, ch);
	/* smtpd's private key goes to keysd on it */
	ch->chan->ibuf.wipe = ch == &m.keysd;
	log_debug("started %s (pid %d)", ch->label, (int)pid);
}

static void
child_restart_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct child	*ch = arg;

	if (m.stopping)
		return;
	/* the workers wait for queued: they are useless without it */
	if (ch != &m.queued && ch != &m.keysd && !m.queued.ready)
		return;
	child_spawn(ch);
}

static struct child *
child_by_pid(pid_t pid)
{
	struct child	*w;
	int		 i;

	if (m.queued.pid == pid)
		return &m.queued;
	if (m.keysd.pid == pid)
		return &m.keysd;
	for (i = 0; (w = master_worker(i)) != NULL; i++)
		if (w->pid == pid)
			return w;
	return NULL;
}

/* A death the reload asked for: not a crash, no back-off. */
static int
master_reload_owns(struct child *ch, pid_t pid)
{
	switch (m.reloading) {
	case 1:
		return ch == &m.queued || ch->kind == PEER_DELIVERD;
	case 2:
		return ch == &m.queued || ch->kind == PEER_DELIVERD ||
		    (ch == &m.keysd && m.reload_keysd);
	case 3:
		return m.roll >= 0 && ch == &m.smtpd[m.roll] && pid == m.roll_pid;
	}
	return 0;
}

static void
master_sigchld(evutil_socket_t sig, short ev, void *arg)
{
	struct child	*ch;
	struct timeval	 tv;
	pid_t		 pid;
	int		 status;
	char		 how[64];

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((ch = child_by_pid(pid)) == NULL)
			continue;
		if (WIFSIGNALED(status))
			snprintf(how, sizeof(how), "killed by signal %d",
			    WTERMSIG(status));
		else
			snprintf(how, sizeof(how), "exited with status %d",
			    WEXITSTATUS(status));
		ch->pid = 0;
		ch->ready = 0;
		if (ch->chan != NULL) {
			chan_free(ch->chan);
			ch->chan = NULL;
		}
		if (m.stopping) {
			log_debug("%s (pid %d) %s", ch->label, (int)pid, how);
			continue;
		}
		if (master_reload_owns(ch, pid)) {
			/* master_reload_step() starts them again */
			log_debug("%s (pid %d) %s for the reload", ch->label,
			    (int)pid, how);
			continue;
		}
		/*
		 * A child that died after it was serving (a crash, kill -9)
		 * comes back at once, unless it keeps dying: more than
		 * RESTARTS_PER_WINDOW deaths in RESTART_WINDOW_S, or dying
		 * before it is ready, doubles the delay (a poison message
		 * must not become a restart storm).
		 */
		if (time(NULL) - ch->window_start >= RESTART_WINDOW_S) {
			ch->window_start = time(NULL);
			ch->deaths = 0;
		}
		ch->deaths++;
		ch->restarts++;
		if (ch->ready_seen && ch->deaths <= RESTARTS_PER_WINDOW)
			ch->backoff_ms = BACKOFF_MIN_MS;
		else if (ch->backoff_ms == 0)
			ch->backoff_ms = BACKOFF_MIN_MS;
		else if ((ch->backoff_ms *= 2) > BACKOFF_MAX_MS)
			ch->backoff_ms = BACKOFF_MAX_MS;
		ch->ready_seen = 0;
		log_warnx("%s (pid %d) %s; restarting in %d ms", ch->label,
		    (int)pid, how, ch->backoff_ms);
		tv.tv_sec = ch->backoff_ms / 1000;
		tv.tv_usec = (ch->backoff_ms % 1000) * 1000;
		evtimer_add(ch->restart_ev, &tv);
	}
	if (m.stopping)
		master_check_stopped();
	else if (m.reloading)
		master_reload_step();
}

static void
master_signal_children(struct child *list, int n, int sig)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (list[i].pid > 0)
			kill(list[i].pid, sig);
}

static int
children_alive(struct child *list, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (list[i].pid > 0)
			return 1;
	return 0;
}

/*
 * Stop order: the smtpd workers first (they finish the commits under
 * way), then deliverd (it finishes the deliveries under way and reports
 * them; it may still need keysd for that), then queued and keysd.
 */
static void
master_check_stopped(void)
{
	if (children_alive(m.smtpd, m.nsmtpd))
		return;
	if (m.stopping == 1) {
		m.stopping = 2;
		master_signal_children(m.deliverd, m.ndeliverd, SIGTERM);
	}
	if (children_alive(m.deliverd, m.ndeliverd))
		return;
	if (m.stopping == 2) {
		m.stopping = 3;
		master_signal_children(&m.queued, 1, SIGTERM);
		master_signal_children(&m.keysd, 1, SIGTERM);
	}
	if (m.queued.pid > 0 || m.keysd.pid > 0)
		return;
	event_base_loopexit(m.base, NULL);
}

static void
master_stop_timeout(evutil_socket_t fd, short ev, void *arg)
{
	log_warnx("children did not stop within %d s; killing them",
	    STOP_GRACE_S);
	master_signal_children(m.smtpd, m.nsmtpd, SIGKILL);
	master_signal_children(m.deliverd, m.ndeliverd, SIGKILL);
	master_signal_children(&m.queued, 1, SIGKILL);
	master_signal_children(&m.keysd, 1, SIGKILL);
}

static void
master_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	struct timeval	 tv = { STOP_GRACE_S, 0 };
	int		 i;

	if (m.stopping)
		return;
	log_info("received %s, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	m.stopping = 1;
	if (m.reload_timer != NULL)
		evtimer_del(m.reload_timer);
	for (i = 0; master_worker(i) != NULL; i++)
		evtimer_del(master_worker(i)->restart_ev);
	evtimer_del(m.queued.restart_ev);
	evtimer_del(m.keysd.restart_ev);
	master_signal_children(m.smtpd, m.nsmtpd, SIGTERM);
	m.stop_timer = evtimer_new(m.base, master_stop_timeout, NULL);
	evtimer_add(m.stop_timer, &tv);
	master_check_stopped();
}

/*
 * The configuration the children run with (conf_load_fd()), in a
 * memory file: what petreld checked, with the keys a reload kept.  It
 * is sealed, so no child can change what the next one starts with.
 * Returns the descriptor, kept above the ones children get by number,
 * or -1.
 */
static int
master_conf_fd(struct petrel_conf *c)
{
	FILE	*fp;
	char	*text = NULL;
	size_t	 len = 0, off;
	ssize_t	 n;
	int	 fd, hi, rc, saved;

	if ((fp = open_memstream(&text, &len)) == NULL)
		return -1;
	rc = conf_write(c, fp);
	if (fclose(fp) == EOF || rc == -1) {
		free(text);
		return -1;
	}
	if ((fd = memfd_create("petrel.conf", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1) {
		free(text);
		return -1;
	}
	for (off = 0; off < len; off += n)
		if ((n = write(fd, text + off, len - off)) == -1)
			break;
	free(text);
	if (off < len || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == -1 ||
	    (hi = fcntl(fd, F_DUPFD_CLOEXEC, LISTEN_FD_BASE +
	    CONF_MAX_LISTEN)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	close(fd);
	return hi;
}

/* The reload's configuration becomes the running one (step 2). */
static void
master_reload_swap(void)
{
	/* in place: master_main() and the rest hold m.conf */
	conf_free(m.conf);
	*m.conf = *m.newconf;
	free(m.newconf);
	m.newconf = NULL;
	close(m.conffd);
	m.conffd = m.newconffd;
	m.newconffd = -1;
	if (log_open_syslog(m.conf->syslog_socket,
	    m.conf->syslog_facility) == -1)
		log_warn("cannot reach syslog at %s", m.conf->syslog_socket);
}

static void
master_reload_done(void)
{
	m.reloading = 0;
	evtimer_del(m.reload_timer);
	log_info("reload: done");
}

#define ROLL_SKIP	0	/* not running: it starts with the new config */
#define ROLL_DRAIN	1	/* told to stop, finishing its sessions */
#define ROLL_START	2	/* started again, not ready yet */

/* Step 3 for m.smtpd[m.roll]: 1 once it runs with the new config. */
static int
master_roll_done(void)
{
	struct child	*sw = &m.smtpd[m.roll];

	switch (m.roll_phase) {
	case ROLL_SKIP:
		return 1;
	case ROLL_DRAIN:
		if (sw->pid == m.roll_pid)
			return 0;
		m.roll_phase = ROLL_START;
		/* queued's ready may have started it already */
		if (sw->pid == 0 && !evtimer_pending(sw->restart_ev, NULL))
			child_spawn(sw);
		return 0;
	}
	return sw->ready;
}

/*
 * The reload, step by step (m.reloading).  queued and deliverd load
 * the policy before their chroot, so they are restarted, in the order
 * that neither loses nor repeats a delivery:
 *  1. queued stops handing out work; deliverd finishes the deliveries
 *     under way and reports them (what it had not started comes back
 *     untried) and exits;
 *  2. queued finishes its commits and exits, and so does keysd if its
 *     configuration changed; the new configuration becomes the running
 *     one, and they start again with it; queued starts deliverd when it
 *     is ready;
 *  3. if the smtp servers' configuration changed, they are replaced one
 *     at a time, once queued is ready: one finishes its transactions
 *     and exits, a new one starts, and the next goes only when that one
 *     is ready, so the others go on accepting (and a connection that
 *     comes while none does waits in the listen queue).
 * smtpd keeps serving throughout: a DATA during step 2 waits for queued.
 */
static void
master_reload_step(void)
{
	struct timeval	 grace = { RELOAD_GRACE_S, 0 };
	struct child	*sw;

	if (m.reloading == 1) {
		/* queued died before it said it paused: stop deliverd now */
		if (m.reload_pausing && m.queued.pid == 0)
			master_reload_stop_deliverd();
		if (m.reload_pausing ||
		    children_alive(m.deliverd, m.ndeliverd))
			return;
		m.reloading = 2;
		evtimer_add(m.reload_timer, &grace);
		evtimer_del(m.queued.restart_ev);
		if (m.queued.pid > 0)
			kill(m.queued.pid, SIGTERM);
		if (m.reload_keysd) {
			evtimer_del(m.keysd.restart_ev);
			if (m.keysd.pid > 0)
				kill(m.keysd.pid, SIGTERM);
		}
	}
	if (m.reloading == 2) {
		if (m.queued.pid > 0 || (m.reload_keysd && m.keysd.pid > 0))
			return;
		master_reload_swap();
		log_info("reload: starting the queue manager%s and the smtp "
		    "clients with the new configuration and policy",
		    m.reload_keysd ? ", the key server" : "");
		child_spawn(&m.queued);
		if (m.reload_keysd)
			child_spawn(&m.keysd);
		if (!m.reload_smtpd) {
			master_reload_done();
			return;
		}
		m.reloading = 3;
		m.roll = -1;
	}
	if (m.reloading != 3 || !m.queued.ready)
		return;
	for (;;) {
		if (m.roll >= 0 && !master_roll_done())
			return;
		if (++m.roll >= m.nsmtpd)
			break;
		sw = &m.smtpd[m.roll];
		if (sw->pid == 0) {
			m.roll_phase = ROLL_SKIP;
			continue;
		}
		if (m.roll == 0)
			log_info("reload: restarting the smtp servers one at a "
			    "time with the new configuration");
		m.roll_phase = ROLL_DRAIN;
		m.roll_pid = sw->pid;
		evtimer_add(m.reload_timer, &grace);
		kill(sw->pid, SIGTERM);
		return;
	}
	master_reload_done();
}

/* A reload that does not finish (a process that does not stop) is forced. */
static void
master_reload_timeout(evutil_socket_t fd, short ev, void *arg)
{
	switch (m.reloading) {
	case 1:
		log_warnx("reload: %s did not stop within %d s; killing it",
		    m.reload_pausing ? "queued did not pause and deliverd" :
		    "deliverd", RELOAD_GRACE_S);
		m.reload_pausing = 0;
		master_signal_children(m.deliverd, m.ndeliverd, SIGKILL);
		break;
	case 2:
		log_warnx("reload: queued%s did not stop within %d s; "
		    "killing it", m.reload_keysd ? " or keysd" : "",
		    RELOAD_GRACE_S);
		master_signal_children(&m.queued, 1, SIGKILL);
		if (m.reload_keysd)
			master_signal_children(&m.keysd, 1, SIGKILL);
		break;
	case 3:
		if (m.roll_phase == ROLL_DRAIN) {
			log_warnx("reload: %s did not finish its sessions "
			    "within %d s; killing it", m.smtpd[m.roll].label,
			    RELOAD_GRACE_S);
			kill(m.roll_pid, SIGKILL);
			break;
		}
		/* a new config it cannot start with: keep the others */
		log_warnx("reload: %s is not ready with the new "
		    "configuration after %d s; the other smtp servers keep "
		    "the one they started with", m.smtpd[m.roll].label,
		    RELOAD_GRACE_S);
		master_reload_done();
		break;
	}
}

/* Log each line of a multi-line error, and join them into err. */
static void
master_reload_refuse(const char *what, char *lines, char *err,
    size_t errlen)
{
	char	*line, *next;
	size_t	 l;

	*err = '\0';
	for (line = lines; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		log_warnx("reload: %s%s; the running %s stays", what, line,
		    *what ? "policy" : "configuration");
		if ((l = strlen(err)) > 0 && l + 2 < errlen)
			strlcat(err, "; ", errlen);
		strlcat(err, line, errlen);
	}
}

/*
 * Reload (SIGHUP, petrelctl reload): read petrel.conf, the policy and
 * the shaping files again, and check them as petreld -n does.  A key
 * that only a restart can change (CK_RESTART) keeps its running value,
 * with a warning naming it.  Then restart the children in the order of
 * master_reload_step(), each with the new configuration.
 *
 * Returns 0 when the reload has started (the log says "reload: done"
 * when every child runs with the new configuration), or -1 when it is
 * refused, with why in err (errors joined by "; "), already logged:
 * then nothing was restarted and the running configuration and policy
 * stay.  Refused as well while a reload is under way or petreld stops.
 */
static int
master_reload(char *err, size_t errlen)
{
	struct petrel_conf *nc;
	struct timeval	 grace = { RELOAD_GRACE_S, 0 };
	struct mbuf	 mb;
	uint8_t		 digest[32];
	char		 buf[8192];
	int		 i, fd;

	if (m.stopping || m.reloading) {
		snprintf(err, errlen, "%s", m.stopping ? "petreld is "
		    "stopping" : "a reload is already under way");
		log_warnx("reload: refused: %s", err);
		return -1;
	}
	nc = xcalloc(1, sizeof(*nc));
	if (conf_load(nc, m.conffile, buf, sizeof(buf)) == -1) {
		master_reload_refuse("", buf, err, errlen);
		goto fail;
	}
	*buf = '\0';
	if (master_check_users(nc, buf, sizeof(buf)) > 0) {
		master_reload_refuse("", buf, err, errlen);
		goto fail;
	}
	for (i = 0; conf_keys[i].name != NULL; i++) {
		if (!(conf_keys[i].flags & CK_RESTART) ||
		    conf_key_equal(nc, m.conf, i))
			continue;
		log_warnx("reload: [%s] %s = %s takes effect only when "
		    "petreld restarts; until then it stays %s",
		    conf_keys[i].section, conf_keys[i].name,
		    conf_key_text(nc, i), conf_key_text(m.conf, i));
		if (conf_keep(nc, m.conf, i) == -1)
			fatalx("reload: cannot keep [%s] %s",
			    conf_keys[i].section, conf_keys[i].name);
	}
	if (master_check_policy(nc, 0, buf, sizeof(buf)) == -1) {
		master_reload_refuse("policy: ", buf, err, errlen);
		goto fail;
	}
	if (master_check_tls(nc, buf, sizeof(buf)) == -1) {
		master_reload_refuse("", buf, err, errlen);
		goto fail;
	}
	if ((fd = master_conf_fd(nc)) == -1) {
		snprintf(err, errlen, "cannot pass the configuration on: %s",
		    strerror(errno));
		log_warnx("reload: %s; the running configuration stays", err);
		goto fail;
	}
	/* who sees a changed key: smtpd and keysd restart only for those */
	m.reload_smtpd = m.reload_keysd = 0;
	for (i = 0; conf_keys[i].name != NULL; i++) {
		if (conf_key_equal(nc, m.conf, i))
			continue;
		if (strcmp(conf_keys[i].section, "keysd") != 0)
			m.reload_smtpd |= strcmp(conf_keys[i].section,
			    "smtpd") == 0 || strcmp(conf_keys[i].section,
			    "global") == 0;
		if (strcmp(conf_keys[i].section, "smtpd") != 0)
			m.reload_keysd |= strcmp(conf_keys[i].section,
			    "keysd") == 0 || strcmp(conf_keys[i].section,
			    "global") == 0;
	}
	/* a renewed certificate (same files, new contents): new smtp servers */
	master_tls_digest(nc, digest);
	if (memcmp(digest, m.tls_digest, sizeof(digest)) != 0) {
		memcpy(m.tls_digest, digest, sizeof(digest));
		m.reload_smtpd = 1;
		log_info("reload: smtpd's certificate or key changed");
		/* a keysd that restarts gets it when ready */
		if (!m.reload_keysd)
			master_tls_key_send(nc);
	}
	m.newconf = nc;
	m.newconffd = fd;
	log_info("reload: %s and the policy %s are good; restarting the smtp "
	    "clients, then the queue manager%s%s", m.conffile,
	    *nc->policy ? nc->policy : "(none)",
	    m.reload_keysd ? " and the key server" : "",
	    m.reload_smtpd ? ", then the smtp servers" : "");
	/* secrets are fetched afresh: a corrected password takes effect */
	if (m.keysd.chan != NULL && !m.reload_keysd) {
		m_create(&mb, IMSG_MASTER_KEYS_FLUSH, 0, -1);
		chan_send(m.keysd.chan, &mb);
	}
	m.reloading = 1;
	if (m.reload_timer == NULL)
		m.reload_timer = evtimer_new(m.base, master_reload_timeout, NULL);
	evtimer_add(m.reload_timer, &grace);
	for (i = 0; i < m.ndeliverd; i++)
		evtimer_del(m.deliverd[i].restart_ev);
	*err = '\0';
	if (m.queued.chan != NULL && m.queued.ready) {
		/*
		 * deliverd stops once queued says it sends no more: tasks
		 * in flight to a stopping deliverd then count as not
		 * tried, not as failed attempts (IMSG_QUEUED_PAUSED).
		 */
		m.reload_pausing = 1;
		m_create(&mb, IMSG_MASTER_PAUSE, 0, -1);
		chan_send(m.queued.chan, &mb);
		return 0;
	}
	master_reload_stop_deliverd();
	master_reload_step();
	*err = '\0';
	return 0;
fail:
	conf_free(nc);
	free(nc);
	return -1;
}

/* The reload's first step: the deliverd workers drain and stop. */
static void
master_reload_stop_deliverd(void)
{
	int	 i;

	m.reload_pausing = 0;
	for (i = 0; i < m.ndeliverd; i++)
		if (m.deliverd[i].pid > 0)
			kill(m.deliverd[i].pid, SIGTERM);
}

static void
master_sighup(evutil_socket_t sig, short ev, void *arg)
{
	char	 err[1024];

	log_info("received SIGHUP, reloading");
	(void)master_reload(err, sizeof(err));	/* it logs how it went */
}

static void
master_bind(struct petrel_conf *c)
{
	int	 i, fd, on = 1;
	char	 buf[80];

	for (i = 0; i < c->smtpd_nlisten; i++) {
		struct sockaddr *sa = (struct sockaddr *)&c->smtpd_listen[i];

		sa_to_hostport(sa, buf, sizeof(buf));
		if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0)) == -1)
			fatal("socket for %s", buf);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (sa->sa_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on));
		if (bind(fd, sa, c->smtpd_listen_len[i]) == -1)
			fatal("bind %s", buf);
		if (listen(fd, SOMAXCONN) == -1)
			fatal("listen %s", buf);
		/* out of the way of the fds children get by number */
		if ((m.listen_fds[i] = fcntl(fd, F_DUPFD_CLOEXEC,
		    LISTEN_FD_BASE)) == -1)
			fatal("fcntl");
		close(fd);
		log_info("listening on %s", buf);
	}
	m.nlisten = c->smtpd_nlisten;
}

static void
master_mkdir(const char *path, mode_t mode, const char *owner)
{
	uid_t	 uid;
	gid_t	 gid;

	char	 parent[PATH_MAX], *slash;

	/* parents as root-owned 0755, like mkdir -p */
	strlcpy(parent, path, sizeof(parent));
	for (slash = strchr(parent + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(parent, 0755) == -1 && errno != EEXIST)
			fatal("mkdir %s", parent);
		*slash = '/';
	}
	if (mkdir(path, mode) == -1 && errno != EEXIST)
		fatal("mkdir %s", path);
	if (owner != NULL) {
		if (priv_lookup(owner, &uid, &gid) == -1)
			fatalx("unknown user %s", owner);
		if (chown(path, uid, gid) == -1)
			fatal("chown %s", path);
		if (chmod(path, mode) == -1)
			fatal("chmod %s", path);
	}
}

static void
master_pidfile(struct petrel_conf *c)
{
	char	 buf[32];
	int	 n;

	snprintf(m.pidfile, sizeof(m.pidfile), "%s/petreld.pid", c->run_dir);
	m.pidfd = open(m.pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (m.pidfd == -1)
		fatal("open %s", m.pidfile);
	if (flock(m.pidfd, LOCK_EX | LOCK_NB) == -1) {
		n = read(m.pidfd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		fatalx("another petreld is running (pid %s, %s)",
		    *buf ? strtok(buf, "\n") : "?", m.pidfile);
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(m.pidfd, 0) == -1 || pwrite(m.pidfd, buf, n, 0) != n)
		fatal("write %s", m.pidfile);
}

/*
 * As root with privsep: every child's user must exist.  Returns how
 * many do not, with a line for each appended to err.
 */
static int
master_check_users(struct petrel_conf *c, char *err, size_t errlen)
{
	const char	*users[4][2] = {
		{ "smtpd", c->smtpd_user }, { "queued", c->queued_user },
		{ "deliverd", c->deliverd_user }, { "keysd", c->keysd_user },
	};
	uid_t		 uid;
	gid_t		 gid;
	int		 i, bad = 0;
	size_t		 l;

	if (!c->privsep || geteuid() != 0)
		return 0;
	for (i = 0; i < 4; i++) {
		uid = 1;
		if (priv_lookup(users[i][1], &uid, &gid) == 0 && uid != 0)
			continue;
		bad++;
		if ((l = strlen(err)) < errlen)
			snprintf(err + l, errlen - l, "%s: [%s] user: %s %s "
			    "(create it, e.g. adduser --system %s, or set "
			    "privsep = no)\n", c->file, users[i][0],
			    users[i][1], uid == 0 ? "is root" :
			    "does not exist", users[i][1]);
	}
	return bad;
}

/*
 * systemd starts a service with a soft RLIMIT_NOFILE of 1024 and a
 * hard one far above.  Take what the hard limit allows; every process
 * sizes its work from the result (fd_budget()), so petrel runs within
 * whatever it gets.
 */
static void
master_raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit");
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t	 was = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			log_warn("setrlimit RLIMIT_NOFILE %llu",
			    (unsigned long long)rl.rlim_max);
			rl.rlim_cur = was;
		}
	}
	log_info("open files limit %llu: %d for sessions, files and "
	    "connections per process", (unsigned long long)rl.rlim_cur,
	    fd_budget());
}

/*
 * The policy, loaded as queued and deliverd will load it, and each of
 * its handlers called once with the probe destination example.com
 * (policy_probe()), so an error inside a handler shows now rather than
 * with the first message.  0, or -1 with "file:line: ..." in err.
 */
static int
master_check_policy(struct petrel_conf *c, int report_absent, char *err,
    size_t errlen)
{
	struct policy	*p;
	int		 rc;

	if ((p = policy_open(c, err, errlen)) == NULL)
		return -1;
	rc = policy_probe(p, err, errlen);
	if (rc == 0 && report_absent && policy_file(p) == NULL)
		log_info("no policy%s%s: every destination gets the defaults",
		    *c->policy ? " file " : "", c->policy);
	policy_free(p);
	return rc;
}

static void
master_main(struct petrel_conf *c)
{
	struct event	*ev_chld, *ev_term, *ev_int, *ev_hup;
	ssize_t		 n;
	int		 i, privsep = c->privsep && geteuid() == 0;

	if ((n = readlink("/proc/self/exe", m.self, sizeof(m.self) - 1)) == -1)
		fatal("readlink /proc/self/exe");
	m.self[n] = '\0';
	{
		char	 err[2048] = "";

		if (master_check_users(c, err, sizeof(err)) > 0) {
			fputs(err, stderr);
			exit(1);
		}
		if (master_check_policy(c, 1, err, sizeof(err)) == -1)
			fatalx("policy: %s", err);
		if (master_check_tls(c, err, sizeof(err)) == -1)
			fatalx("%s", err);
		master_tls_digest(c, m.tls_digest);
	}
	if (!privsep)
		log_info("running as uid %d %s: privilege separation is off, "
		    "every process runs as this user", (int)getuid(),
		    geteuid() != 0 ? "(not root)" : "(privsep = no)");

	master_raise_nofile();
	master_mkdir(c->run_dir, 0755, NULL);
	master_mkdir(c->spool_dir, 0700, privsep ? c->queued_user : NULL);
	if (privsep) {
		master_mkdir(c->smtpd_chroot, 0755, NULL);
		if (chown(c->smtpd_chroot, 0, 0) == -1)
			fatal("chown %s", c->smtpd_chroot);
		master_mkdir(c->deliverd_chroot, 0755, NULL);
		if (chown(c->deliverd_chroot, 0, 0) == -1)
			fatal("chown %s", c->deliverd_chroot);
	}
	master_bind(c);
	if (!m.foreground && daemon(0, 0) == -1)
		fatal("daemon");
	master_pidfile(c);
	setproctitle("master");

	m.started = time(NULL);
	if ((m.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	signal(SIGPIPE, SIG_IGN);
	ev_chld = evsignal_new(m.base, SIGCHLD, master_sigchld, NULL);
	ev_term = evsignal_new(m.base, SIGTERM, master_sigterm, NULL);
	ev_int = evsignal_new(m.base, SIGINT, master_sigterm, NULL);
	ev_hup = evsignal_new(m.base, SIGHUP, master_sighup, NULL);
	evsignal_add(ev_chld, NULL);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_hup, NULL);

	m.queued.name = "queued";
	strlcpy(m.queued.label, "queued", sizeof(m.queued.label));
	m.queued.restart_ev = evtimer_new(m.base, child_restart_cb, &m.queued);
	m.nsmtpd = c->smtpd_workers > MAX_SMTPD ? MAX_SMTPD : c->smtpd_workers;
	for (i = 0; i < m.nsmtpd; i++) {
		m.smtpd[i].name = "smtpd";
		m.smtpd[i].index = i;
		snprintf(m.smtpd[i].label, sizeof(m.smtpd[i].label),
		    "smtpd[%d]", i);
		m.smtpd[i].kind = PEER_SMTPD;
		m.smtpd[i].restart_ev = evtimer_new(m.base, child_restart_cb,
		    &m.smtpd[i]);
	}
	m.ndeliverd = c->deliverd_workers > MAX_DELIVERD ? MAX_DELIVERD :
	    c->deliverd_workers;
	for (i = 0; i < m.ndeliverd; i++) {
		m.deliverd[i].name = "deliverd";
		m.deliverd[i].index = i;
		m.deliverd[i].kind = PEER_DELIVERD;
		snprintf(m.deliverd[i].label, sizeof(m.deliverd[i].label),
		    "deliverd[%d]", i);
		m.deliverd[i].restart_ev = evtimer_new(m.base,
		    child_restart_cb, &m.deliverd[i]);
	}
	m.keysd.name = "keysd";
	strlcpy(m.keysd.label, "keysd", sizeof(m.keysd.label));
	m.keysd.kind = PEER_KEYSD;
	m.keysd.restart_ev = evtimer_new(m.base, child_restart_cb, &m.keysd);
	if ((m.conffd = master_conf_fd(c)) == -1)
		fatal("the configuration for the children");
	if ((m.limitfd = limit_table_create(m.nsmtpd, LISTEN_FD_BASE +
	    CONF_MAX_LISTEN)) == -1)
		fatal("the smtp servers' session table");
	/* queued first; the workers start once it is ready */
	child_spawn(&m.queued);
	child_spawn(&m.keysd);
	log_info("petrel %s starting: %d smtpd and %d deliverd workers, "
	    "spool %s", PACKAGE_VERSION, m.nsmtpd, m.ndeliverd, c->spool_dir);
	event_base_dispatch(m.base);

	unlink(m.pidfile);
	for (i = 0; i < m.nlisten; i++)
		close(m.listen_fds[i]);
	log_info("stopped");
	exit(0);
}

int
main(int argc, char *argv[])
{
	struct petrel_conf conf;
	struct proc_args pa;
	char		 errbuf[8192];
	const char	*xproc = NULL;
	int		 ch, nflag = 0, index = 0, cflag = 0, rc;

	setproctitle_init(argc, argv, environ);
	m.conffile = CONF_DEFAULT_FILE;
	while ((ch = getopt(argc, argv, "Cdf:i:nvx:")) != -1) {
		switch (ch) {
		case 'C':
			/* a child: the config petreld checked is on a fd */
			cflag = 1;
			break;
		case 'd':
			m.foreground = 1;
			break;
		case 'f':
			m.conffile = optarg;
			break;
		case 'i':
			index = atoi(optarg);
			break;
		case 'n':
			nflag = 1;
			break;
		case 'v':
			m.verbose++;
			break;
		case 'x':
			xproc = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (xproc != NULL && strcmp(xproc, "conf-man") == 0) {
		/* the key list of petrel.conf(5), from the one table */
		conf_print_man();
		exit(0);
	}
	if (xproc != NULL && strcmp(xproc, "policy-man") == 0) {
		/* the field lists of petrel-policy(5), from the tables */
		policy_print_man();
		exit(0);
	}

	log_init(xproc ? xproc : "master", m.foreground || nflag, m.verbose);
	if (xproc != NULL && cflag) {
		rc = conf_load_fd(&conf, m.conffile, PROC_CONF_FD, errbuf,
		    sizeof(errbuf));
		close(PROC_CONF_FD);
	} else
		rc = conf_load(&conf, m.conffile, errbuf, sizeof(errbuf));
	if (rc == -1) {
		if (nflag) {
			fputs(errbuf, stderr);
			exit(1);
		}
		fatalx("configuration errors:\n%s", errbuf);
	}
	if (nflag) {
		errbuf[0] = '\0';
		if (master_check_users(&conf, errbuf, sizeof(errbuf)) > 0) {
			fputs(errbuf, stderr);
			exit(1);
		}
		if (master_check_policy(&conf, 0, errbuf, sizeof(errbuf)) ==
		    -1 || master_check_tls(&conf, errbuf, sizeof(errbuf)) ==
		    -1) {
			fprintf(stderr, "%s\n", errbuf);
			exit(1);
		}
		printf("configuration OK\n");
		exit(0);
	}
	if (log_open_syslog(conf.syslog_socket, conf.syslog_facility) == -1)
		log_warn("cannot reach syslog at %s", conf.syslog_socket);
	m.conf = &conf;

	if (xproc != NULL) {
		/* petreld has warned about the policy already */
		policy_quiet_warnings();
		memset(&pa, 0, sizeof(pa));
		pa.name = xproc;
		pa.index = index;
		pa.foreground = m.foreground;
		pa.verbose = m.verbose;
		pa.conf = &conf;
		if (strcmp(xproc, "smtpd") == 0)
			smtpd_main(&pa);
		if (strcmp(xproc, "queued") == 0)
			queued_main(&pa);
		if (strcmp(xproc, "deliverd") == 0)
			deliverd_main(&pa);
		if (strcmp(xproc, "keysd") == 0)
			keysd_main(&pa);
		fatalx("unknown process %s", xproc);
	}
	master_main(&conf);
	return 0;
}
