/*
 * egress.h - how petrel sends to one destination (KumoMTA's "egress
 * path"): the fields of kumo.make_egress_path{} with KumoMTA's names and
 * defaults (DESIGN.md, Lua policy), filled by the policy (lib/policy.c)
 * and used by deliverd.  Secrets are never here: a password or key is a
 * keysource *spec* that only keysd evaluates.
 */
#ifndef PETREL_EGRESS_H
#define PETREL_EGRESS_H

#include <stdint.h>

struct petrel_conf;
struct keysource;

enum tls_mode {
	TLS_OPPORTUNISTIC = 0,		/* KumoMTA's default */
	TLS_OPPORTUNISTIC_INSECURE,
	TLS_REQUIRED,
	TLS_REQUIRED_INSECURE,
	TLS_DISABLED,
};

/* "N/period": at most n per period seconds; n == 0: no limit */
struct egress_rate {
	uint64_t	 n;
	double		 period;
	uint64_t	 max_burst;	/* ",max_burst=N"; 0: not given */
};

#define EGRESS_MAX_HOSTS	64
#define EGRESS_MAX_MECHS	8

struct egress {
	enum tls_mode	 enable_tls;
	int		 implicit_tls;		/* petrel: TLS from the first byte */
	char		*smtp_auth_plain_username;	/* NULL: no AUTH */
	struct keysource *smtp_auth_plain_password;	/* spec, not secret */
	int		 allow_smtp_auth_plain_without_tls;
	int		 allow_smtp_auth_plain_without_valid_certificate;
	char		*smtp_auth_mechanisms[EGRESS_MAX_MECHS];	/* NULL-ended;
						   all NULL: PLAIN, LOGIN */
	struct keysource *tls_certificate;	/* client certificate */
	struct keysource *tls_private_key;
	int		 smtp_port;
	char		 ehlo_domain[256];
	int		 connection_limit;
	int		 max_deliveries_per_connection;
	struct egress_rate max_message_rate;
	struct egress_rate max_connection_rate;
	int		 enable_pipelining;
	int		 enable_rset;
	/* seconds */
	int		 connect_timeout;
	int		 banner_timeout;
	int		 ehlo_timeout;
	int		 starttls_timeout;
	int		 auth_timeout;
	int		 mail_from_timeout;
	int		 rcpt_to_timeout;
	int		 data_timeout;
	int		 data_dot_timeout;
	int		 idle_timeout;
	char		*prohibited_hosts[EGRESS_MAX_HOSTS];	/* CIDRs, NULL-ended */
	char		*skip_hosts[EGRESS_MAX_HOSTS];
	int		 suspended;
	int		 refresh_interval;	/* s the policy's answer is kept */
};

struct sockaddr;
/* Is the address in one of the CIDR lists (prohibited_hosts, skip_hosts)? */
int	 egress_hosts_match(char *const *list, const struct sockaddr *);

/* KumoMTA's defaults, with petrel.conf's where it has a key for one. */
void	 egress_defaults(struct egress *, const struct petrel_conf *);
/* Free what an egress owns (strings, keysource specs); all zero again. */
void	 egress_clear(struct egress *);
/* A deep copy into dst (which owns nothing yet). */
void	 egress_copy(struct egress *dst, const struct egress *src);

#endif
