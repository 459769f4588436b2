/*
 * smtpd.h - an SMTP server worker: accepts on the shared listeners,
 * runs many sessions on one event loop, streams DATA into spool files
 * lent by queued.
 */
#ifndef PETREL_SMTPD_H
#define PETREL_SMTPD_H

#include <bsd/sys/queue.h>
#include <bsd/sys/tree.h>
#include <sys/socket.h>
#include <stdint.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "chan.h"
#include "conf.h"
#include "dataline.h"
#include "envelope.h"
#include "limit.h"
#include "smtp.h"

enum sess_state {
	S_CMD,		/* reading commands */
	S_WAIT_OPEN,	/* DATA: waiting for queued's spool fd */
	S_DATA,		/* streaming message text */
	S_WAIT_COMMIT,	/* end of data: waiting for queued */
	S_CLOSING,	/* flushing the last reply */
};

struct session {
	RB_ENTRY(session) entry;
	TAILQ_ENTRY(session) wentry;	/* parked while queued is away */
	uint32_t	 id;
	struct bufferevent *bev;
	struct sockaddr_storage ss;
	char		 addr[64];
	enum sess_state	 state;
	int		 parked;
	int		 free_scheduled;
	int		 esmtp;
	int		 tls;		/* STARTTLS done */
	int		 relay_ok;
	int		 errors;
	int		 junk;		/* NOOP, RSET, ... since the last message */
	char		 helo[SMTP_DOMAIN_MAX + 1];

	/* transaction */
	int		 have_from;
	char		 from[SMTP_PATH_MAX + 1];
	int		 body8;
	int		 smtputf8;	/* MAIL FROM ... SMTPUTF8 */
	char		**rcpts;
	int		 nrcpt;

	/* message text */
	char		 msgid[MSGID_LEN + 1];
	int		 datafd;
	char		*obuf;
	size_t		 olen;
	uint64_t	 size;
	struct dataline	 dl;		/* where the text stands */
	int		 toobig;
	int		 writeerr;
	int		 discard_cmd;	/* inside an over-long command */
	int64_t		 arrival;
	int64_t		 since;		/* S_CMD: the command's start, S_DATA:
					   the 354 (smtpd_now(), ms) */
	struct limit_slot lslot;	/* counted in the shared table */
};

RB_HEAD(session_tree, session);
RB_PROTOTYPE(session_tree, session, entry, session_cmp);
TAILQ_HEAD(session_list, session);

struct smtpd {
	struct petrel_conf *conf;
	struct event_base *base;
	struct chan	*master;
	struct chan	*queue;
	int		 index;
	SSL_CTX		*tls_ctx;	/* NULL: no STARTTLS */
	struct chan	*keysd;		/* signs for tls_ctx; NULL: away */
	struct event	*listen_ev[CONF_MAX_LISTEN];
	int		 nlisten;
	int		 max_sessions;	/* max_sessions, or less: fd_budget() */
	int		 accept_paused;
	struct event	*accept_timer;	/* ends a pause */
	time_t		 pause_logged;
	unsigned int	 npaused;	/* pauses since the last log line */
	struct event	*sweep_timer;	/* deadlines, once a second */
	int		 stressed;	/* near a cap: stress_timeout */
	time_t		 refused_logged[2];	/* per client, in all */
	unsigned int	 nrefused[2];	/* since the last log line */
	struct session_tree sessions;
	struct session_list parked;
	uint32_t	 nextid;
	int		 nsessions;
	int		 shutdown;
};

extern struct smtpd *sd;

/* session.c */
void	 session_accept(int fd, struct sockaddr *, socklen_t);
void	 session_reply(struct session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 session_error(struct session *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 session_reset(struct session *);
void	 session_process(struct session *);
void	 session_shutdown(struct session *);
void	 session_check_deadline(struct session *, int64_t now_ms,
	    int64_t timeout_ms);
struct session *session_find(uint32_t);

/* message.c */
void	 message_request_open(struct session *);
void	 message_abort(struct session *);
int	 message_data(struct session *);
void	 message_opened(struct session *, int fd, const char *id,
	    const char *reason);
void	 message_committed(struct session *, const char *id, int ok,
	    const char *reason);
void	 message_queue_lost(struct session *);
void	 message_queue_back(struct session *);

/* smtpd.c */
int	 smtpd_queue_send(struct mbuf *);
void	 smtpd_session_gone(void);
int64_t	 smtpd_now(void);
void	 smtpd_refused(struct session *, enum limit_verdict);

#endif
