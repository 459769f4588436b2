/*
 * deliverd.h - the SMTP client: routing, connections per destination,
 * the client side of the SMTP dialogue.
 */
#ifndef PETREL_DELIVERD_H
#define PETREL_DELIVERD_H

#include <bsd/sys/queue.h>
#include <bsd/sys/tree.h>
#include <sys/socket.h>
#include <stdint.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "chan.h"
#include "conf.h"
#include "dns.h"
#include "egress.h"
#include "envelope.h"
#include "smtp.h"
#include "trace.h"
#include "txn.h"


/* One message for the recipients of one routing domain (from queued). */
struct dtask {
	TAILQ_ENTRY(dtask) entry;
	uint32_t	 id;
	uint64_t	 gen;		/* of the queued channel it came on */
	char		 msgid[MSGID_LEN + 1];
	char		*domain;	/* its routing domain, for traces */
	char		*from;
	int		 body8;		/* BODY=8BITMIME at the next hop */
	int		 smtputf8;	/* needs SMTPUTF8 at the next hop */
	uint64_t	 size;
	int		 final;		/* redirected once: deliver here */
	int		 fd;
	int		 nrcpt;
	char		**rcpts;
	uint8_t		*status;	/* RCPT_* */
	char		**response;
	char		 tls[16];	/* of the session it went over: */
	char		 cipher[64];	/* "" in clear text */
	char		 auth[256];	/* the user it logged in as, or "" */
};
TAILQ_HEAD(dtask_list, dtask);

enum conn_state {
	C_AUTHCHECK,		/* before connecting: a bad login remembered */
	C_CONNECTING, C_TLS, C_BANNER, C_EHLO, C_HELO, C_STARTTLS,
	C_AUTHKEY,		/* waiting for keysd's password */
	C_TLSKEY,		/* waiting for keysd's client certificate */
	C_AUTH,			/* AUTH sent */
	C_TRANSACTION, C_IDLE, C_QUIT,
};

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct site	*site;
	struct bufferevent *bev;	/* under TLS: the OpenSSL filter */
	enum conn_state	 state;
	int		 host, addr;	/* position in site->res */
	char		 relay[320];	/* host[ip]:port */
	/* EHLO keywords (forgotten when TLS starts) */
	int		 pipelining, size_ext, ext_8bitmime, ext_smtputf8;
	int		 ext_starttls;
	int		 ext_auth;	/* mechanisms offered (auth.c's bits) */
	int		 ext_auth_seen;	/* an AUTH keyword came */
	/* AUTH (auth.c) */
	int		 authed;	/* for the rest of the connection */
	int		 auth_mech, auth_step;
	int		 auth_checked;	/* the pre-connect check was done */
	char		*auth_user;
	char		*auth_secret;	/* LOGIN, between its two steps */
	char		 auth_fp[65];	/* keysd's fingerprint of it */
	char		 auth_host[300];	/* "name:port", the 535 memory's key */
	char		 auth_err[256];	/* XOAUTH2/OAUTHBEARER: the 334 error */
	uint32_t	 key_req;	/* a request to keysd under way */
	/* TLS: the egress path's wish when the connection began ... */
	enum tls_mode	 tls_mode;
	int		 implicit_tls;
	int		 tls_clear;	/* OpportunisticInsecure: the handshake
					   with this host failed; in clear now */
	/* ... and what came of it */
	int		 tls;		/* the session is under TLS */
	int		 tls_verified;	/* its certificate verified */
	char		 tls_version[16];	/* "TLSv1.3" */
	char		 tls_cipher[64];
	int		 deliveries;
	int		 conn_token;	/* a max_connection_rate token taken
					   for it, no socket made yet */
	int		 need_rset;	/* the last transaction broke off */
	int		 closing;	/* the server said 421 */
	int		 in_read;	/* inside conn_read_cb: free later */
	int		 dead;
	struct dtask	*task;
	struct txn	 txn;		/* of the task, in C_TRANSACTION */
	struct smtp_reply reply;	/* the reply being read */
	char		 last_error[512];
	/* petrelctl trace (trace.c): the connection's number, what its
	   dialogue may show, the routing domain of its last task */
	uint32_t	 serial;
	struct trace_mask tmask;
	char		 trace_domain[DNS_KEY_MAX];
};
TAILQ_HEAD(conn_list, conn);

/* A token bucket (rate.c): max_message_rate, max_connection_rate. */
struct rate_bucket {
	int		 primed;	/* tokens and last are set */
	double		 tokens;
	double		 last;		/* CLOCK_MONOTONIC, s */
};

/*
 * A site: the set of next hops one or more routing domains share (its
 * name is KumoMTA's MX rollup).  Connections and their limit belong to
 * the site, so two domains hosted on the same MX share them.
 */
struct site {
	RB_ENTRY(site)	 entry;
	char		*name;		/* site_name */
	struct egress	 eg;		/* from the policy, see site_egress() */
	time_t		 eg_expires;	/* then the policy is asked again */
	struct dtask_list ready;
	int		 nready;
	struct conn_list conns;
	int		 nconn;
	int		 cap;		/* fewer connections for a while: the
					   server refused more (0: no cap) */
	time_t		 cap_time;
	struct dns_result res;		/* the latest resolution */
	TAILQ_ENTRY(site) wait_entry;
	int		 budget_wait;	/* on dd->budget_wait */
	/* rates: a transaction takes a message token, a new connection
	   a connection token; without one the site waits for rate_ev */
	struct rate_bucket msg_rate, conn_rate;
	struct event	*rate_ev;
	double		 rate_due;	/* when rate_ev fires (monotonic) */
};
RB_HEAD(site_tree, site);
TAILQ_HEAD(site_list, site);
RB_PROTOTYPE(site_tree, site, entry, site_cmp);

/* A routing domain: tasks wait here until it is resolved to a site. */
struct dest {
	RB_ENTRY(dest)	 entry;
	char		*name;
	struct dtask_list pending;
	int		 npending;
	int		 resolving;
	int		 port;		/* the default port it was resolved with */
	int		 have_res;
	time_t		 res_time;
	struct dns_result res;
};
RB_HEAD(dest_tree, dest);
RB_PROTOTYPE(dest_tree, dest, entry, dest_cmp);

struct deliverd {
	struct petrel_conf *conf;
	struct event_base *base;
	struct chan	*master;
	struct chan	*queue;
	uint64_t	 queue_gen;
	int		 index;
	int		 nworkers;	/* deliverd workers in all; a site
					   belongs to wire_deliverd_for() */
	struct policy	*policy;	/* get_egress_path_config, loaded
					   before chroot */
	struct dest_tree dests;
	struct site_tree sites;
	int		 ntasks;
	/*
	 * Descriptor budget: connections of all sites together stay
	 * within maxconn (fd_budget() / 2; queued's tasks, each with a
	 * spool fd, take the other half).  Sites with tasks but no room
	 * wait in budget_wait; after EMFILE no connection opens until
	 * fd_ev fires.
	 */
	int		 nconn;
	int		 maxconn;
	struct site_list budget_wait;
	struct event	*budget_ev;
	int		 fd_pause;
	struct event	*fd_ev;
	int		 shutdown;
};

extern struct deliverd *dd;

/* deliverd.c */
void	 site_kick(struct site *);
void	 task_finish(struct dtask *, const char *relay);
void	 task_fail_all(struct dtask *, int status, const char *why,
	    const char *relay);
void	 deliverd_maybe_exit(void);
void	 deliverd_conn_closed(void);
void	 deliverd_fd_shortage(const char *what);

/* ctl.c: petrelctl's requests, from queued */
int	 ctl_imsg(struct imsg *);
void	 ctl_queue_closed(void);

/* rate.c */
double	 rate_check(struct rate_bucket *, const struct egress_rate *,
	    int take);
int	 rate_full(struct rate_bucket *, const struct egress_rate *);
int	 rate_whole(struct rate_bucket *, const struct egress_rate *);
void	 rate_return(struct rate_bucket *, const struct egress_rate *);
int	 site_rate_ok(struct site *, struct rate_bucket *,
	    const struct egress_rate *, int take);
void	 site_rate_init(struct site *);
void	 site_rate_clear(struct site *);

/* conn.c */
struct conn *conn_new(struct site *, struct dtask *);
void	 conn_close(struct conn *);
void	 conn_drop(struct conn *);

/* client.c */
void	 conn_take(struct conn *, struct dtask *);

/* auth.c */
int	 auth_wanted(struct conn *);
void	 auth_start(struct conn *);
void	 auth_reply(struct conn *, int code, const char *reply);
void	 auth_ehlo_line(struct conn *, const char *text);
int	 auth_precheck(struct conn *, const char *host, int port);
void	 auth_end(struct conn *);

/* loop.c */
int	 conn_is_self(const struct sockaddr *);
void	 conn_init_self(void);

#endif
