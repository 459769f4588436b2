/*
 * dns.c - deliverd's resolver: MX, then A and AAAA of every MX host,
 * with c-ares on the libevent loop.
 *
 * c-ares tells us through its socket state callback which sockets to
 * watch; each gets a persistent libevent event that hands readiness
 * to ares_process_fd(), and one timer follows ares_timeout().
 *
 * A lookup belongs to a cache entry keyed by the lower-cased routing
 * domain; callers of dns_resolve() are waiters on that entry.  When
 * the lookup ends, its answer (reference counted, ports unset) is
 * kept by the entry and handed to each waiter, and the waiters move
 * to a ready queue that one event drains: callbacks always run from
 * the loop, never from inside dns_resolve() or c-ares.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bsd/sys/queue.h>

#include <ares.h>
#include <event2/event.h>

#include "dns.h"
#include "log.h"
#include "smtp.h"
#include "util.h"

#define DNS_TTL		60	/* seconds an answer is kept */
#define DNS_NEG_TTL	30	/* NXDOMAIN, null MX, partial answers */
#define DNS_CACHE_MAX	4096	/* entries */
#define DNS_BUCKETS	256
#define DNS_TIMEOUT_MS	3000	/* per try; c-ares doubles it per round */
#define DNS_TRIES	2

#define DNS_CLASS_IN	1
#define DNS_TYPE_MX	15

struct answer {
	int			 refs;
	struct dns_result	 res;	/* ports are the waiter's to set */
};

struct waiter {
	TAILQ_ENTRY(waiter)	 entry;
	dns_cb			 cb;
	void			*arg;
	int			 port;
	struct answer		*ans;	/* once answered */
};
TAILQ_HEAD(waiter_list, waiter);

struct lookup;

struct entry {
	TAILQ_ENTRY(entry)	 bucket;
	TAILQ_ENTRY(entry)	 age;
	unsigned		 hash;
	char			 key[DNS_KEY_MAX];
	struct lookup		*lk;	/* while in flight */
	struct waiter_list	 waiters;
	struct answer		*ans;	/* once answered */
	time_t			 expires;
};
TAILQ_HEAD(entry_list, entry);

struct mxhost {
	struct lookup		*lk;
	char			 name[256];
	int			 pref;
	int			 status;	/* of its address lookup */
	int			 naddr;
	struct sockaddr_storage	 addrs[DNS_MAX_ADDRS];
	socklen_t		 addrlens[DNS_MAX_ADDRS];
};

struct lookup {
	struct entry		*e;
	char			 name[256];	/* the domain queried */
	int			 port;		/* explicit ":PORT", or 0 */
	int			 pending;	/* c-ares requests, and holds */
	enum dns_status		 status;
	int			 failed;	/* status and error are set */
	char			 error[256];
	int			 implicit;
	int			 nhosts;
	struct mxhost		*hosts;
	char			 site_name[1024];
};

struct sockev {
	TAILQ_ENTRY(sockev)	 entry;
	ares_socket_t		 fd;
	struct event		*ev;
};
TAILQ_HEAD(sockev_list, sockev);

static struct {
	int			 up;
	int			 shutting;
	unsigned		 generation;
	struct event_base	*base;
	ares_channel		 channel;
	struct event		*timer;
	struct event		*deliver;
	struct sockev_list	 socks;
	struct entry_list	 buckets[DNS_BUCKETS];
	struct entry_list	 byage;
	int			 nentries;
	struct waiter_list	 ready;
	unsigned long		 lookups;
} dns;

static void	 sock_state_cb(void *, ares_socket_t, int, int);
static void	 sock_cb(evutil_socket_t, short, void *);
static void	 timer_cb(evutil_socket_t, short, void *);
static void	 deliver_cb(evutil_socket_t, short, void *);
static void	 rearm(void);
static void	 mx_cb(void *, int, int, unsigned char *, int);
static void	 addr_cb(void *, int, int, struct ares_addrinfo *);
static void	 start_addr(struct mxhost *);
static void	 lookup_fail(struct lookup *, enum dns_status, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 lookup_release(struct lookup *);
static void	 lookup_finish(struct lookup *);
static void	 lookup_free(struct lookup *);
static struct answer *answer_new(void);
static void	 answer_unref(struct answer *);
static void	 ready(struct waiter *, struct answer *);
static struct entry *cache_get(const char *);
static struct entry *cache_new(const char *);
static void	 cache_remove(struct entry *);
static time_t	 now(void);
static int	 name_cmp(const char *, const char *);
static int	 mx_cmp(const void *, const void *);

/*
 * The event loop side of c-ares.
 */
static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct sockev	*s;
	short		 what = EV_PERSIST;

	TAILQ_FOREACH(s, &dns.socks, entry)
		if (s->fd == fd)
			break;
	if (!readable && !writable) {
		if (s != NULL) {
			TAILQ_REMOVE(&dns.socks, s, entry);
			event_free(s->ev);
			free(s);
		}
		return;
	}
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		TAILQ_INSERT_TAIL(&dns.socks, s, entry);
	} else
		event_free(s->ev);
	if (readable)
		what |= EV_READ;
	if (writable)
		what |= EV_WRITE;
	if ((s->ev = event_new(dns.base, fd, what, sock_cb, NULL)) == NULL ||
	    event_add(s->ev, NULL) == -1)
		fatalx("dns: cannot watch a resolver socket");
}

static void
sock_cb(evutil_socket_t fd, short what, void *arg)
{
	/* may free this very event, through sock_state_cb */
	ares_process_fd(dns.channel,
	    (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	rearm();
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	ares_process_fd(dns.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm();
}

static void
rearm(void)
{
	struct timeval	 tv, *tvp;

	if (!dns.up || dns.shutting)
		return;
	if ((tvp = ares_timeout(dns.channel, NULL, &tv)) == NULL)
		evtimer_del(dns.timer);
	else
		evtimer_add(dns.timer, tvp);
}

/*
 * Answers.
 */
static struct answer *
answer_new(void)
{
	struct answer	*a;

	a = xcalloc(1, sizeof(*a));
	a->refs = 1;
	return a;
}

static void
answer_unref(struct answer *a)
{
	if (a != NULL && --a->refs == 0)
		free(a);
}

static struct answer *
answer_fail(enum dns_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct answer *
answer_fail(enum dns_status status, const char *fmt, ...)
{
	struct answer	*a;
	va_list		 ap;

	a = answer_new();
	a->res.status = status;
	va_start(ap, fmt);
	vsnprintf(a->res.error, sizeof(a->res.error), fmt, ap);
	va_end(ap);
	return a;
}

/* Queue w for its callback with a reference to a, taken over from the caller. */
static void
ready(struct waiter *w, struct answer *a)
{
	w->ans = a;
	TAILQ_INSERT_TAIL(&dns.ready, w, entry);
	event_active(dns.deliver, EV_TIMEOUT, 0);
}

static void
deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter_list	 list;
	struct waiter		*w;
	struct dns_result	*res;
	unsigned		 gen = dns.generation;
	int			 i, j;

	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &dns.ready, entry);
	res = xcalloc(1, sizeof(*res));
	while ((w = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, w, entry);
		/* a callback may have called dns_shutdown() */
		if (gen == dns.generation) {
			memcpy(res, &w->ans->res, sizeof(*res));
			for (i = 0; i < res->nhosts; i++) {
				for (j = 0; j < res->hosts[i].naddr; j++) {
					struct sockaddr *sa = (struct sockaddr *)
					    &res->hosts[i].addrs[j];

					if (sa->sa_family == AF_INET)
						((struct sockaddr_in *)sa)->
						    sin_port = htons(w->port);
					else if (sa->sa_family == AF_INET6)
						((struct sockaddr_in6 *)sa)->
						    sin6_port = htons(w->port);
				}
			}
			w->cb(res, w->arg);
		}
		answer_unref(w->ans);
		free(w);
	}
	free(res);
}

/*
 * The cache.
 */
static time_t
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static unsigned
hash(const char *s)
{
	uint32_t	 h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void
cache_remove(struct entry *e)
{
	struct waiter	*w;

	TAILQ_REMOVE(&dns.buckets[e->hash % DNS_BUCKETS], e, bucket);
	TAILQ_REMOVE(&dns.byage, e, age);
	dns.nentries--;
	while ((w = TAILQ_FIRST(&e->waiters)) != NULL) {
		TAILQ_REMOVE(&e->waiters, w, entry);
		free(w);
	}
	answer_unref(e->ans);
	free(e);
}

/* The entry for key, in flight or fresh; an expired one is dropped. */
static struct entry *
cache_get(const char *key)
{
	struct entry	*e;
	unsigned	 h = hash(key);

	TAILQ_FOREACH(e, &dns.buckets[h % DNS_BUCKETS], bucket)
		if (e->hash == h && strcmp(e->key, key) == 0)
			break;
	if (e != NULL && e->lk == NULL && e->expires <= now()) {
		cache_remove(e);
		e = NULL;
	}
	return e;
}

static struct entry *
cache_new(const char *key)
{
	struct entry	*e, *old, *next;
	time_t		 t = now();

	/* drop expired entries from the old end, and the oldest if full */
	for (old = TAILQ_FIRST(&dns.byage); old != NULL; old = next) {
		next = TAILQ_NEXT(old, age);
		if (old->lk != NULL)
			continue;
		if (old->expires <= t || dns.nentries >= DNS_CACHE_MAX)
			cache_remove(old);
		else
			break;
	}
	e = xcalloc(1, sizeof(*e));
	strlcpy(e->key, key, sizeof(e->key));
	e->hash = hash(key);
	TAILQ_INIT(&e->waiters);
	TAILQ_INSERT_TAIL(&dns.buckets[e->hash % DNS_BUCKETS], e, bucket);
	TAILQ_INSERT_TAIL(&dns.byage, e, age);
	dns.nentries++;
	return e;
}

/*
 * Lookups.
 */
static void
lookup_fail(struct lookup *lk, enum dns_status status, const char *fmt, ...)
{
	va_list		 ap;

	if (lk->failed)
		return;
	lk->failed = 1;
	lk->status = status;
	va_start(ap, fmt);
	vsnprintf(lk->error, sizeof(lk->error), fmt, ap);
	va_end(ap);
}

static void
lookup_free(struct lookup *lk)
{
	free(lk->hosts);
	free(lk);
}

static void
lookup_release(struct lookup *lk)
{
	if (--lk->pending > 0)
		return;
	if (dns.shutting)
		lookup_free(lk);	/* its entry is being freed */
	else
		lookup_finish(lk);
}

static int
temporary(int status)
{
	return status != ARES_SUCCESS && status != ARES_ENOTFOUND &&
	    status != ARES_ENODATA && status != ARES_EBADNAME;
}

static void
lookup_finish(struct lookup *lk)
{
	struct entry	*e = lk->e;
	struct answer	*a;
	struct waiter	*w;
	struct mxhost	*h;
	struct dns_host	*dh;
	size_t		 len;
	int		 i, ttl = DNS_TTL;
	char		 q1[512], q2[1100];

	a = answer_new();
	a->res.implicit = lk->implicit;
	strlcpy(a->res.site_name, lk->site_name, sizeof(a->res.site_name));
	for (i = 0; !lk->failed && i < lk->nhosts; i++) {
		h = &lk->hosts[i];
		if (h->naddr == 0) {
			if (temporary(h->status))
				ttl = DNS_NEG_TTL;
			continue;
		}
		dh = &a->res.hosts[a->res.nhosts++];
		strlcpy(dh->name, h->name, sizeof(dh->name));
		dh->pref = h->pref;
		dh->naddr = h->naddr;
		memcpy(dh->addrs, h->addrs, sizeof(dh->addrs));
		memcpy(dh->addrlens, h->addrlens, sizeof(dh->addrlens));
	}
	if (!lk->failed && a->res.nhosts == 0) {
		if (lk->implicit && lk->hosts[0].status == ARES_ENOTFOUND)
			lookup_fail(lk, DNS_NXDOMAIN, "domain %s not found",
			    lk->name);
		else if (lk->implicit)
			lookup_fail(lk, DNS_TEMPFAIL,
			    "domain %s has no MX and no address (%s)",
			    lk->name, ares_strerror(lk->hosts[0].status));
		else {
			lookup_fail(lk, DNS_TEMPFAIL,
			    "no address for the MX hosts of %s:", lk->name);
			for (i = 0; i < lk->nhosts; i++) {
				len = strlen(lk->error);
				snprintf(lk->error + len,
				    sizeof(lk->error) - len, "%s %s (%s)",
				    i > 0 ? "," : "", lk->hosts[i].name,
				    ares_strerror(lk->hosts[i].status));
			}
		}
	}
	if (lk->failed) {
		a->res.status = lk->status;
		a->res.nhosts = 0;
		strlcpy(a->res.error, lk->error, sizeof(a->res.error));
		ttl = lk->status == DNS_TEMPFAIL ? 0 : DNS_NEG_TTL;
	}
	if (a->res.status == DNS_OK)
		log_debug("dns: %s: %d hosts, site %s",
		    log_quote(e->key, q1, sizeof(q1)), a->res.nhosts,
		    log_quote(a->res.site_name, q2, sizeof(q2)));
	else
		log_debug("dns: %s: reason=\"%s\"",
		    log_quote(e->key, q1, sizeof(q1)),
		    log_quote(a->res.error, q2, sizeof(q2)));

	e->lk = NULL;
	lookup_free(lk);
	while ((w = TAILQ_FIRST(&e->waiters)) != NULL) {
		TAILQ_REMOVE(&e->waiters, w, entry);
		a->refs++;
		ready(w, a);
	}
	if (ttl > 0) {
		e->ans = a;
		e->expires = now() + ttl;
	} else {
		cache_remove(e);
		answer_unref(a);
	}
}

static void
start_addr(struct mxhost *h)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	h->lk->pending++;
	dns.lookups++;
	/* may call addr_cb at once (an IP address as MX host name) */
	ares_getaddrinfo(dns.channel, h->name, NULL, &hints, addr_cb, h);
}

static void
addr_cb(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct mxhost			*h = arg;
	struct ares_addrinfo_node	*n;
	int				 i;

	h->status = status;
	if (status == ARES_SUCCESS && ai != NULL) {
		for (n = ai->nodes; n != NULL; n = n->ai_next) {
			if (h->naddr == DNS_MAX_ADDRS)
				break;
			if ((n->ai_family != AF_INET &&
			    n->ai_family != AF_INET6) ||
			    n->ai_addrlen > sizeof(h->addrs[0]))
				continue;
			for (i = 0; i < h->naddr; i++)
				if (sa_equal((struct sockaddr *)&h->addrs[i],
				    n->ai_addr))
					break;
			if (i < h->naddr)
				continue;
			memcpy(&h->addrs[h->naddr], n->ai_addr,
			    n->ai_addrlen);
			h->addrlens[h->naddr++] = n->ai_addrlen;
		}
	}
	if (status == ARES_SUCCESS && h->naddr == 0)
		h->status = ARES_ENODATA;
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	lookup_release(h->lk);
}

static void
mx_hosts(struct lookup *lk, struct ares_mx_reply *mx)
{
	struct ares_mx_reply	*m;
	struct mxhost		*all;
	char			**names;
	int			 n = 0, nnull = 0, i, j;

	for (m = mx; m != NULL; m = m->next)
		n++;
	all = xcalloc(n, sizeof(*all));
	names = xcalloc(n, sizeof(*names));
	for (i = 0, m = mx; m != NULL; m = m->next) {
		char	*p;

		if (m->host[0] == '\0' || strcmp(m->host, ".") == 0) {
			nnull++;	/* RFC 7505 null MX: "." */
			continue;
		}
		if (strlcpy(all[i].name, m->host, sizeof(all[i].name)) >=
		    sizeof(all[i].name))
			continue;
		for (p = all[i].name; *p != '\0'; p++)
			*p = tolower((unsigned char)*p);
		if ((p = strchr(all[i].name, '\0')) > all[i].name &&
		    p[-1] == '.')
			p[-1] = '\0';
		/*
		 * An MX names a host: anything but letters, digits and
		 * hyphens is malformed and skipped, as Postfix does.  So
		 * no odd byte from DNS reaches a relay name or a log.
		 */
		if (smtp_parse_domain(all[i].name, 0) == -1) {
			char	 q1[512], q2[512];

			log_warnx("dns: %s: malformed MX host name \"%s\" "
			    "skipped", log_quote(lk->name, q1, sizeof(q1)),
			    log_quote(all[i].name, q2, sizeof(q2)));
			continue;
		}
		all[i].pref = m->priority;
		i++;
	}
	n = i;
	if (n == 0 && nnull > 0) {
		lookup_fail(lk, DNS_NULLMX,
		    "domain %s accepts no mail (null MX)", lk->name);
		goto done;
	}
	if (n == 0) {
		lookup_fail(lk, DNS_TEMPFAIL, "MX lookup for %s: %s",
		    lk->name, "no usable MX record");
		goto done;
	}
	/* a "." beside real MX hosts is malformed: it is ignored */
	qsort(all, n, sizeof(*all), mx_cmp);
	for (i = 0; i < n; i++)
		names[i] = all[i].name;
	dns_site_name(names, n, lk->port, lk->site_name, sizeof(lk->site_name));

	lk->hosts = xcalloc(n < DNS_MAX_HOSTS ? n : DNS_MAX_HOSTS,
	    sizeof(*lk->hosts));
	for (i = 0; i < n && lk->nhosts < DNS_MAX_HOSTS; i++) {
		for (j = 0; j < lk->nhosts; j++)
			if (strcmp(lk->hosts[j].name, all[i].name) == 0)
				break;
		if (j < lk->nhosts)
			continue;	/* the same host at a worse preference */
		lk->hosts[lk->nhosts] = all[i];
		lk->hosts[lk->nhosts].lk = lk;
		lk->nhosts++;
	}
	for (i = 0; i < lk->nhosts; i++)
		start_addr(&lk->hosts[i]);
 done:
	free(names);
	free(all);
}

static void
mx_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct lookup		*lk = arg;
	struct ares_mx_reply	*mx = NULL;
	char			*name;

	if (status == ARES_EDESTRUCTION || dns.shutting) {
		lookup_release(lk);
		return;
	}
	if (status == ARES_SUCCESS &&
	    (status = ares_parse_mx_reply(abuf, alen, &mx)) != ARES_SUCCESS)
		mx = NULL;
	if (status == ARES_SUCCESS && mx == NULL)
		status = ARES_ENODATA;	/* a CNAME, say, and no MX */
	switch (status) {
	case ARES_SUCCESS:
		mx_hosts(lk, mx);
		break;
	case ARES_ENODATA:
		/* the domain exists but has no MX: its own A and AAAA */
		lk->implicit = 1;
		lk->nhosts = 1;
		lk->hosts = xcalloc(1, sizeof(*lk->hosts));
		lk->hosts[0].lk = lk;
		strlcpy(lk->hosts[0].name, lk->name,
		    sizeof(lk->hosts[0].name));
		name = lk->name;
		dns_site_name(&name, 1, lk->port, lk->site_name,
		    sizeof(lk->site_name));
		start_addr(&lk->hosts[0]);
		break;
	case ARES_ENOTFOUND:
		lookup_fail(lk, DNS_NXDOMAIN, "domain %s not found", lk->name);
		break;
	case ARES_EBADNAME:
		lookup_fail(lk, DNS_NXDOMAIN, "invalid domain name %s",
		    lk->name);
		break;
	default:
		lookup_fail(lk, DNS_TEMPFAIL, "MX lookup for %s: %s",
		    lk->name, ares_strerror(status));
		break;
	}
	if (mx != NULL)
		ares_free_data(mx);
	lookup_release(lk);	/* the MX query's hold */
}

/*
 * Ordering and naming of MX hosts.
 */

/* Names (lower-cased, no trailing dot) ordered as KumoMTA orders them:
 * bytewise, as fully qualified names ("a.example." before "a-b.example."
 * is not the same as without the dots). */
static int
name_cmp(const char *a, const char *b)
{
	unsigned char	 ca, cb;

	for (;; a++, b++) {
		ca = *a != '\0' ? (unsigned char)*a : '.';
		cb = *b != '\0' ? (unsigned char)*b : '.';
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (*a == '\0' || *b == '\0')
			return (*b == '\0') - (*a == '\0');
	}
}

static int
mx_cmp(const void *va, const void *vb)
{
	const struct mxhost	*a = va, *b = vb;

	if (a->pref != b->pref)
		return a->pref < b->pref ? -1 : 1;
	return name_cmp(a->name, b->name);
}

/*
 * The interface.
 */

/* "[IP]", "[IP]:PORT", "[IPv6:IP6]", "[IPv6:IP6]:PORT" */
static struct answer *
literal(const char *rd, int default_port, int *port)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct answer		*a;
	struct dns_host		*h;
	const char		*close;

	if ((close = strchr(rd, ']')) == NULL ||
	    parse_hostport(rd, default_port, &ss, &sslen) == -1 ||
	    strncmp(rd, "[*]", 3) == 0 ||
	    (strncasecmp(rd + 1, "IPv6:", 5) == 0 && ss.ss_family != AF_INET6))
		return answer_fail(DNS_NXDOMAIN, "invalid address literal %s",
		    rd);
	*port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	a = answer_new();
	a->res.literal = 1;
	a->res.nhosts = 1;
	h = &a->res.hosts[0];
	sa_to_text((struct sockaddr *)&ss, h->name, sizeof(h->name));
	h->naddr = 1;
	memcpy(&h->addrs[0], &ss, sslen);
	h->addrlens[0] = sslen;
	/* KumoMTA: the address, with its port when the literal gives one */
	if (close[1] == ':')
		sa_to_hostport((struct sockaddr *)&ss, a->res.site_name,
		    sizeof(a->res.site_name));
	else
		strlcpy(a->res.site_name, h->name, sizeof(a->res.site_name));
	return a;
}

void
dns_resolve(const char *routing_domain, int default_port, dns_cb cb,
    void *arg)
{
	struct waiter	*w;
	struct entry	*e;
	struct lookup	*lk;
	char		 name[256], key[DNS_KEY_MAX], *p, *end;
	const char	*colon;
	size_t		 len;
	long		 port = 0;

	if (!dns.up)
		fatalx("dns_resolve: resolver not initialised");
	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	w->port = default_port;

	if (routing_domain[0] == '[') {
		struct answer	*a;

		a = literal(routing_domain, default_port, &w->port);
		ready(w, a);
		return;
	}

	/* NAME or NAME:PORT */
	len = strlen(routing_domain);
	if ((colon = strchr(routing_domain, ':')) != NULL) {
		if (!isdigit((unsigned char)colon[1]))
			goto bad;
		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535)
			goto bad;
		len = colon - routing_domain;
		w->port = port;
	}
	if (len > 0 && routing_domain[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		goto bad;
	memcpy(name, routing_domain, len);
	name[len] = '\0';
	for (p = name; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	if (port > 0)
		snprintf(key, sizeof(key), "%s:%ld", name, port);
	else
		strlcpy(key, name, sizeof(key));

	if ((e = cache_get(key)) != NULL && e->ans != NULL) {
		e->ans->refs++;
		ready(w, e->ans);
		return;
	}
	if (e != NULL) {
		TAILQ_INSERT_TAIL(&e->waiters, w, entry);
		return;
	}
	e = cache_new(key);
	TAILQ_INSERT_TAIL(&e->waiters, w, entry);
	lk = xcalloc(1, sizeof(*lk));
	lk->e = e;
	e->lk = lk;
	strlcpy(lk->name, name, sizeof(lk->name));
	lk->port = port;
	lk->pending = 1;
	dns.lookups++;
	/* may call mx_cb at once, which may end the lookup */
	ares_query(dns.channel, lk->name, DNS_CLASS_IN, DNS_TYPE_MX, mx_cb, lk);
	rearm();
	return;
 bad:
	ready(w, answer_fail(DNS_NXDOMAIN, "invalid routing domain %s",
	    routing_domain));
}

int
dns_init(struct event_base *base, const char *resolver)
{
	static char		 lookups[] = "b";	/* DNS, not /etc/hosts */
	struct ares_options	 opts;
	struct ares_addr_port_node srv;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	int			 system, r, i;

	if (dns.up)
		dns_shutdown();
	if (resolver == NULL)
		resolver = "system";
	system = strcmp(resolver, "system") == 0;
	if (!system && (parse_hostport(resolver, 53, &ss, &sslen) == -1 ||
	    strchr(resolver, '*') != NULL)) {
		log_warnx("dns: bad resolver \"%s\": want \"system\" or "
		    "ADDRESS:PORT, like 127.0.0.1:53 or [::1]:53", resolver);
		return -1;
	}
	if ((r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_warnx("dns: c-ares: %s", ares_strerror(r));
		return -1;
	}

	memset(&opts, 0, sizeof(opts));
	opts.flags = ARES_FLAG_NOSEARCH;
	opts.timeout = DNS_TIMEOUT_MS;
	opts.tries = DNS_TRIES;
	opts.domains = NULL;		/* routing domains are absolute */
	opts.ndomains = 0;
	opts.lookups = lookups;
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = NULL;
	if ((r = ares_init_options(&dns.channel, &opts, ARES_OPT_FLAGS |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_DOMAINS |
	    ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB)) != ARES_SUCCESS) {
		log_warnx("dns: c-ares: %s", ares_strerror(r));
		ares_library_cleanup();
		return -1;
	}
	if (!system) {
		memset(&srv, 0, sizeof(srv));
		srv.family = ss.ss_family;
		if (ss.ss_family == AF_INET) {
			memcpy(&srv.addr.addr4,
			    &((struct sockaddr_in *)&ss)->sin_addr,
			    sizeof(srv.addr.addr4));
			srv.udp_port = srv.tcp_port =
			    ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else {
			memcpy(&srv.addr.addr6,
			    &((struct sockaddr_in6 *)&ss)->sin6_addr,
			    sizeof(srv.addr.addr6));
			srv.udp_port = srv.tcp_port =
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
		if ((r = ares_set_servers_ports(dns.channel, &srv)) !=
		    ARES_SUCCESS) {
			log_warnx("dns: resolver %s: %s", resolver,
			    ares_strerror(r));
			ares_destroy(dns.channel);
			ares_library_cleanup();
			return -1;
		}
	}

	dns.base = base;
	TAILQ_INIT(&dns.socks);
	TAILQ_INIT(&dns.byage);
	TAILQ_INIT(&dns.ready);
	for (i = 0; i < DNS_BUCKETS; i++)
		TAILQ_INIT(&dns.buckets[i]);
	dns.nentries = 0;
	dns.lookups = 0;
	if ((dns.timer = evtimer_new(base, timer_cb, NULL)) == NULL ||
	    (dns.deliver = event_new(base, -1, 0, deliver_cb, NULL)) == NULL)
		fatalx("dns: event_new");
	dns.generation++;
	dns.up = 1;
	log_debug("dns: resolver %s", resolver);
	return 0;
}

void
dns_shutdown(void)
{
	struct sockev	*s;
	struct entry	*e;
	struct waiter	*w;

	if (!dns.up)
		return;
	dns.shutting = 1;
	dns.generation++;
	/* pending requests end with ARES_EDESTRUCTION; lookups free
	 * themselves */
	ares_destroy(dns.channel);
	while ((s = TAILQ_FIRST(&dns.socks)) != NULL) {
		TAILQ_REMOVE(&dns.socks, s, entry);
		event_free(s->ev);
		free(s);
	}
	while ((e = TAILQ_FIRST(&dns.byage)) != NULL)
		cache_remove(e);
	while ((w = TAILQ_FIRST(&dns.ready)) != NULL) {
		TAILQ_REMOVE(&dns.ready, w, entry);
		answer_unref(w->ans);
		free(w);
	}
	event_free(dns.timer);
	event_free(dns.deliver);
	ares_library_cleanup();
	dns.timer = dns.deliver = NULL;
	dns.base = NULL;
	dns.shutting = 0;
	dns.up = 0;
}

unsigned long
dns_lookups(void)
{
	return dns.lookups;
}
