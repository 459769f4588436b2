/*
 * loop.c - the loop guard: is a next hop one of our own listeners?
 * Then mail would loop back to myself (Postfix's words), and deliverd
 * defers it instead of connecting.  The host's addresses are read
 * once, before the chroot.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ifaddrs.h>
#include <string.h>

#include "log.h"
#include "deliverd.h"
#include "util.h"

static struct sockaddr_storage self_addrs[64];
static int	nself;

/* This host's addresses, read before the chroot. */
void
conn_init_self(void)
{
	struct ifaddrs	*ifa, *i;

	if (getifaddrs(&ifa) == -1) {
		log_warn("getifaddrs");
		return;
	}
	for (i = ifa; i != NULL && nself < 64; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		memcpy(&self_addrs[nself++], i->ifa_addr,
		    i->ifa_addr->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	}
	freeifaddrs(ifa);
}

static int
addr_is_local(const struct sockaddr *sa)
{
	int	 i;

	if (sa->sa_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127)
		return 1;
	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)sa)->sin6_addr))
		return 1;
	for (i = 0; i < nself; i++) {
		const struct sockaddr *s = (struct sockaddr *)&self_addrs[i];

		if (s->sa_family != sa->sa_family)
			continue;
		if (sa->sa_family == AF_INET &&
		    ((const struct sockaddr_in *)s)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)sa)->sin_addr.s_addr)
			return 1;
		if (sa->sa_family == AF_INET6 &&
		    !memcmp(&((const struct sockaddr_in6 *)s)->sin6_addr,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, 16))
			return 1;
	}
	return 0;
}

/* Is this next hop one of our own listeners?  (Postfix: "loops back") */
int
conn_is_self(const struct sockaddr *sa)
{
	struct petrel_conf *cf = dd->conf;
	int		 i;

	for (i = 0; i < cf->smtpd_nlisten; i++) {
		const struct sockaddr *l = (struct sockaddr *)&cf->smtpd_listen[i];
		int		 wild = 0;
		in_port_t	 lp, p;

		if (l->sa_family == AF_INET) {
			lp = ((const struct sockaddr_in *)l)->sin_port;
			wild = ((const struct sockaddr_in *)l)->sin_addr.s_addr ==
			    htonl(INADDR_ANY);
		} else {
			lp = ((const struct sockaddr_in6 *)l)->sin6_port;
			wild = IN6_IS_ADDR_UNSPECIFIED(
			    &((const struct sockaddr_in6 *)l)->sin6_addr);
		}
		p = sa->sa_family == AF_INET ?
		    ((const struct sockaddr_in *)sa)->sin_port :
		    ((const struct sockaddr_in6 *)sa)->sin6_port;
		if (p != lp)
			continue;
		if (wild ? addr_is_local(sa) : sa_equal(l, sa))
			return 1;
	}
	return 0;
}
