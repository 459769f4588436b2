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
#include "txn.h"


/* One message for the recipients of one routing domain (from queued). */
struct dtask {
	TAILQ_ENTRY(dtask) entry;
	uint32_t	 id;
	uint64_t	 gen;		/* of the queued channel it came on */
	char		 msgid[MSGID_LEN + 1];
	char		*from;
	int		 body8;		/* BODY=8BITMIME at the next hop */
	int		 smtputf8;	/* needs SMTPUTF8 at the next hop */
	uint64_t	 size;
	int		 fd;
	int		 nrcpt;
	char		**rcpts;
	uint8_t		*status;	/* RCPT_* */
	char		**response;
	char		 tls[16];	/* of the session it went over: */
	char		 cipher[64];	/* "" in clear text */
};
TAILQ_HEAD(dtask_list, dtask);

enum conn_state {
	C_CONNECTING, C_TLS, C_BANNER, C_EHLO, C_HELO, C_STARTTLS,
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
	int		 need_rset;	/* the last transaction broke off */
	int		 closing;	/* the server said 421 */
	int		 in_read;	/* inside conn_read_cb: free later */
	int		 dead;
	struct dtask	*task;
	struct txn	 txn;		/* of the task, in C_TRANSACTION */
	struct smtp_reply reply;	/* the reply being read */
	char		 last_error[512];
};
TAILQ_HEAD(conn_list, conn);

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

/* conn.c */
struct conn *conn_new(struct site *, struct dtask *);
void	 conn_close(struct conn *);
void	 conn_drop(struct conn *);

/* client.c */
void	 conn_take(struct conn *, struct dtask *);

/* loop.c */
int	 conn_is_self(const struct sockaddr *);
void	 conn_init_self(void);

#endif
