/*
 * dns.h - asynchronous MX, A and AAAA resolution for deliverd, with
 * c-ares driven by the libevent loop.
 */
#ifndef PETREL_DNS_H
#define PETREL_DNS_H

#include <sys/socket.h>

#include <event2/event.h>

#define DNS_MAX_HOSTS	16
#define DNS_MAX_ADDRS	8

enum dns_status {
	DNS_OK,		/* hosts[] has at least one address */
	DNS_TEMPFAIL,	/* try again later (timeout, SERVFAIL, no address yet) */
	DNS_NXDOMAIN,	/* the domain does not exist: permanent */
	DNS_NULLMX,	/* RFC 7505 null MX: the domain takes no mail: permanent */
};

struct dns_host {
	char		 name[256];	/* MX host, or the domain (implicit MX), or the IP */
	int		 pref;
	int		 naddr;
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];	/* port set */
	socklen_t	 addrlens[DNS_MAX_ADDRS];
};

struct dns_result {
	enum dns_status	 status;
	char		 error[256];	/* why, when not DNS_OK */
	int		 implicit;	/* no MX: the domain's own A/AAAA */
	int		 literal;	/* [ip] or [ip]:port routing domain */
	int		 nhosts;
	struct dns_host	 hosts[DNS_MAX_HOSTS];	/* by preference, then name */
	char		 site_name[1024];	/* KumoMTA's MX rollup */
};

typedef void	(*dns_cb)(struct dns_result *, void *arg);

int	dns_init(struct event_base *, const char *resolver);
void	dns_resolve(const char *routing_domain, int default_port, dns_cb,
	    void *arg);
void	dns_shutdown(void);

#endif
