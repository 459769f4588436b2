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
#include "envelope.h"

/*
 * Egress settings, with KumoMTA's names and defaults; until the policy
 * lands they are the same for every destination.
 */
struct egress {
	int		 smtp_port;
	int		 connection_limit;
	int		 max_deliveries_per_connection;
	int		 enable_pipelining;
	int		 enable_rset;
	int		 connect_timeout;
	int		 banner_timeout;
	int		 ehlo_timeout;
	int		 mail_from_timeout;
	int		 rcpt_to_timeout;
	int		 data_timeout;
	int		 data_dot_timeout;
	int		 idle_timeout;
	char		 ehlo_domain[256];
};

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
	uint8_t		*accepted;	/* 250 to RCPT in this transaction */
};
TAILQ_HEAD(dtask_list, dtask);

enum conn_state {
	C_CONNECTING, C_BANNER, C_EHLO, C_HELO, C_RSET, C_TRANSACTION,
	C_IDLE, C_QUIT,
};

struct conn {
	TAILQ_ENTRY(conn) entry;
	struct site	*site;
	struct bufferevent *bev;
	enum conn_state	 state;
	int		 host, addr;	/* position in site->res */
	char		 relay[320];	/* host[ip]:port */
	int		 pipelining, size_ext;
	int		 deliveries;
	int		 need_rset;	/* the last transaction broke off */
	int		 rset_done;	/* RSET answered for this one */
	int		 closing;	/* the server said 421 */
	int		 in_read;	/* inside conn_read_cb: free later */
	int		 dead;
	struct dtask	*task;
	/* the transaction: replies expected, in order */
	int		 phase;		/* -1 RSET, 0 MAIL, 1..n RCPT, n+1 DATA, n+2 dot */
	int		 mail_failed;
	int		 naccepted;
	/* the reply being read */
	char		 reply[1024];
	int		 replylen;
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
	struct egress	 eg;
	struct dtask_list ready;
	int		 nready;
	struct conn_list conns;
	int		 nconn;
	int		 cap;		/* fewer connections for a while: the
					   server refused more (0: no cap) */
	time_t		 cap_time;
	struct dns_result res;		/* the latest resolution */
};
RB_HEAD(site_tree, site);
RB_PROTOTYPE(site_tree, site, entry, site_cmp);

/* A routing domain: tasks wait here until it is resolved to a site. */
struct dest {
	RB_ENTRY(dest)	 entry;
	char		*name;
	struct dtask_list pending;
	int		 npending;
	int		 resolving;
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
	struct dest_tree dests;
	struct site_tree sites;
	int		 ntasks;
	int		 shutdown;
};

extern struct deliverd *dd;

/* deliverd.c */
void	 site_kick(struct site *);
void	 task_finish(struct dtask *, const char *relay);
void	 task_fail_all(struct dtask *, int status, const char *why);
void	 deliverd_maybe_exit(void);

/* client.c */
struct conn *conn_new(struct site *, struct dtask *);
void	 conn_take(struct conn *, struct dtask *);
void	 conn_close(struct conn *);
int	 conn_is_self(const struct sockaddr *);
void	 conn_init_self(void);

#endif
