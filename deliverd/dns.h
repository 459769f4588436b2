/*
 * dns.h - asynchronous MX, A and AAAA resolution for deliverd, with
 * c-ares driven by the libevent loop.
 *
 * dns_resolve() never calls its callback itself: every answer, even
 * an IP literal, a cached answer or an immediate failure, is delivered
 * from the event loop after dns_resolve() has returned.  The result
 * pointer is valid only during the callback.
 *
 * Answers are cached per lower-cased routing domain (OK for 60 s;
 * NXDOMAIN, null MX and answers with an MX host that failed
 * temporarily for 30 s; TEMPFAIL never), and requests for a domain
 * whose lookup is under way wait for that one lookup.
 *
 * Routing domains: "example.com", "example.com:2525", "[192.0.2.1]",
 * "[192.0.2.1]:2525", "[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]:2525"
 * and "[2001:db8::1]".  Addresses carry the port given in the routing
 * domain, or default_port.
 *
 * site_name is KumoMTA's MX rollup (factor_names() in its mailexchanger
 * crate): the MX host names in preference-then-name order, split into
 * labels and factored per label position from the right, e.g.
 * "(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com".  It is built
 * from every MX host, including those without an address.  For an
 * implicit MX it is the domain; for a literal, the bare IP, or
 * "IP:PORT" ("[IPV6]:PORT") when the literal gives a port; for a null
 * MX, "".
 *
 * dns_shutdown() drops every pending request: their callbacks are
 * never called.
 */
#ifndef PETREL_DNS_H
#define PETREL_DNS_H

#include <sys/socket.h>

#include <event2/event.h>

#define DNS_KEY_MAX	300	/* name (253) and ":PORT" */
#define DNS_LABELS_MAX	128
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

/* sitename.c: KumoMTA's MX rollup of names (sorted) for port */
void	dns_site_name(char **names, int n, int port, char *out, size_t);

/* for tests: DNS requests started since dns_init() (one per MX query, one
 * per A+AAAA lookup of a host) */
unsigned long	dns_lookups(void);

#endif
