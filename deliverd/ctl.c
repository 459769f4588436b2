/*
 * ctl.c - petrelctl's questions about destinations, as queued passes
 * them on (IMSG_QUEUED_CTL_DELIVERD, lib/wire.h); each is answered
 * with IMSG_DELIVERD_CTL_REPLY under the same request id.
 *
 *   trace D	trace.c streams the dialogue of D's connections (last =
 *		0 each) until "untrace" with the same id, answered with
 *		last = 1, exit OK, no JSON (NOTFOUND for an id that does
 *		not trace), or until the channel to queued goes.
 *   resolve D	what a delivery would do up to connecting: MX (dns.c,
 *		and its cache), the site, the egress path from the
 *		policy's cache; one answer (below).
 *   stats	connections per site; one answer.
 *
 * resolve's answer:
 *	{"routing_domain": D, "mx": [{"host": h, "preference": n,
 *	  "addresses": ["192.0.2.1", ...]}, ...], "site": name,
 *	 "deliverd": this worker, "owner": the worker that owns the site,
 *	 "egress": {every make_egress_path field: value}}
 * Keysources show as "<keysource ...>", never their secret.  When it
 * cannot all be known, "error" says why and what is unknown is null:
 *   - the domain does not exist, takes no mail (null MX) or is no
 *     valid literal: exit CTL_EXIT_NOTFOUND, the error also in the
 *     reply's error string, as a delivery would fail it for good;
 *   - DNS failed for now, or the policy raised an error: exit
 *     CTL_EXIT_OK with "error" (a delivery would be deferred: the
 *     domain is not "not found");
 *   - DNS did not answer within RESOLVE_TIMEOUT: exit OK, "error"
 *     (queued waits 30 s for a deliverd; c-ares may take longer).
 */
#include "config.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "policy.h"
#include "deliverd.h"
#include "trace.h"
#include "util.h"
#include "wire.h"

#define RESOLVE_TIMEOUT	20	/* s, within queued's 30 */

/* A resolve under way: dns.c cannot cancel, so it lives until answered. */
struct resolve {
	uint32_t	 id;
	uint64_t	 gen;		/* of queued's channel then */
	char		 name[DNS_KEY_MAX];
	int		 port;
	int		 dns_wait;	/* a dns.c callback will come */
	int		 answered;
	int		 again;		/* asked again: smtp_port */
	struct event	*timer;
};

static void
ctl_reply(uint32_t id, int last, int code, json_t *j, const char *error)
{
	struct mbuf	 m;
	char		*doc = NULL;

	if (dd->queue == NULL)
		return;
	if (j != NULL && (doc = json_dumps(j, JSON_COMPACT)) == NULL)
		log_warnx("control request %u: answer not encoded", id);
	m_create(&m, IMSG_DELIVERD_CTL_REPLY, id, -1);
	m_add_u8(&m, last);
	m_add_u8(&m, code);
	m_add_string(&m, doc != NULL ? doc : "");
	m_add_string(&m, error != NULL ? error : "");
	if (chan_send(dd->queue, &m) == -1)
		log_warnx("control request %u: answer not sent", id);
	free(doc);
}

static void
ctl_stats(uint32_t id)
{
	struct site	*s;
	struct conn	*c;
	json_t		*sites = json_array(), *o;
	char		 name[1100];
	int		 idle;

	RB_FOREACH(s, site_tree, &dd->sites) {
		idle = 0;
		TAILQ_FOREACH(c, &s->conns, entry)
			if (c->state == C_IDLE)
				idle++;
		trace_clean(s->name, name, sizeof(name));
		o = json_pack("{s:s,s:i,s:i,s:i,s:i}", "site", name,
		    "connections", s->nconn, "idle", idle, "ready", s->nready,
		    "connection_limit", s->eg.connection_limit);
		if (o != NULL)
			json_array_append_new(sites, o);
	}
	o = json_pack("{s:i,s:i,s:o}", "deliverd", dd->index, "connections",
	    dd->nconn, "sites", sites);
	ctl_reply(id, 1, CTL_EXIT_OK, o, "");
	json_decref(o);
}

static void
resolve_free(struct resolve *r)
{
	if (r->timer != NULL)
		event_free(r->timer);
	free(r);
}

/* Whoever asked still listens on this channel. */
static int
resolve_wanted(struct resolve *r)
{
	return !r->answered && dd->queue != NULL && r->gen == dd->queue_gen;
}

static void
resolve_answer(struct resolve *r, int code, json_t *j, const char *error)
{
	r->answered = 1;
	ctl_reply(r->id, 1, code, j, error);
	json_decref(j);
	evtimer_del(r->timer);
}

/* Text from DNS, the policy or queued as a JSON string, whatever bytes. */
static json_t *
ctl_string(const char *s)
{
	char	 buf[2048];

	trace_clean(s, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
resolve_mx(const struct dns_result *res)
{
	json_t		*mx = json_array(), *addrs;
	char		 ip[INET6_ADDRSTRLEN];
	int		 h, a;

	for (h = 0; h < res->nhosts; h++) {
		addrs = json_array();
		for (a = 0; a < res->hosts[h].naddr; a++)
			json_array_append_new(addrs, json_string(sa_to_text(
			    (const struct sockaddr *)&res->hosts[h].addrs[a],
			    ip, sizeof(ip))));
		json_array_append_new(mx, json_pack("{s:o,s:i,s:o}", "host",
		    ctl_string(res->hosts[h].name), "preference",
		    res->hosts[h].pref, "addresses", addrs));
	}
	return mx;
}

static void	resolve_dns(struct dns_result *, void *);

static void
resolve_done(struct resolve *r, struct dns_result *res)
{
	struct egress	 eg;
	json_t		*o;
	char		 err[1024], why[1200];
	int		 code = CTL_EXIT_OK;

	o = json_pack("{s:o,s:o,s:o,s:i,s:n,s:n}", "routing_domain",
	    ctl_string(r->name), "mx", resolve_mx(res), "site",
	    ctl_string(res->site_name), "deliverd", dd->index, "owner",
	    "egress");
	if (o == NULL) {
		resolve_answer(r, CTL_EXIT_OK, NULL, "the answer could not "
		    "be encoded");
		return;
	}
	switch (res->status) {
	case DNS_OK:
		break;
	case DNS_NXDOMAIN:
	case DNS_NULLMX:
		code = CTL_EXIT_NOTFOUND;
		/* FALLTHROUGH */
	case DNS_TEMPFAIL:
		json_object_set_new(o, "error", ctl_string(res->error));
		resolve_answer(r, code, o, code == CTL_EXIT_OK ? "" :
		    res->error);
		return;
	}
	json_object_set_new(o, "owner", json_integer(
	    wire_deliverd_for(res->site_name, dd->nworkers)));
	/* as dest_kick() and site_egress() ask: the same policy cache */
	if (policy_egress(dd->policy, r->name, res->site_name, &eg, err,
	    sizeof(err)) == -1) {
		snprintf(why, sizeof(why), "policy error: %s", err);
		json_object_set_new(o, "error", ctl_string(why));
		resolve_answer(r, CTL_EXIT_OK, o, "");
		return;
	}
	if (eg.smtp_port != r->port && !r->again) {
		/* the addresses carry the port: ask again (from the cache) */
		egress_clear(&eg);
		json_decref(o);
		r->port = eg.smtp_port;
		r->again = 1;
		r->dns_wait = 1;
		dns_resolve(r->name, r->port, resolve_dns, r);
		return;
	}
	json_object_set_new(o, "egress", policy_egress_json(&eg));
	egress_clear(&eg);
	resolve_answer(r, CTL_EXIT_OK, o, "");
}

static void
resolve_dns(struct dns_result *res, void *arg)
{
	struct resolve	*r = arg;

	r->dns_wait = 0;
	if (resolve_wanted(r))
		resolve_done(r, res);
	if (!r->dns_wait)
		resolve_free(r);
}

static void
resolve_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct resolve	*r = arg;
	char		 why[128];

	if (!resolve_wanted(r))
		return;
	snprintf(why, sizeof(why), "DNS did not answer within %d s",
	    RESOLVE_TIMEOUT);
	/* the callback still comes, and frees it */
	resolve_answer(r, CTL_EXIT_OK, json_pack("{s:o,s:[],s:n,s:i,s:n,"
	    "s:n,s:s}", "routing_domain", ctl_string(r->name), "mx", "site",
	    "deliverd", dd->index, "owner", "egress", "error", why), "");
}

static void
ctl_resolve(uint32_t id, const char *arg)
{
	struct resolve	*r;
	struct timeval	 tv = { RESOLVE_TIMEOUT, 0 };
	struct in6_addr	 a6;
	char		*p;

	r = xcalloc(1, sizeof(*r));
	r->id = id;
	r->gen = dd->queue_gen;
	/* a bare address is meant as its literal */
	if (inet_pton(AF_INET, arg, &a6) == 1)
		snprintf(r->name, sizeof(r->name), "[%s]", arg);
	else if (inet_pton(AF_INET6, arg, &a6) == 1)
		snprintf(r->name, sizeof(r->name), "[IPv6:%s]", arg);
	else
		strlcpy(r->name, arg, sizeof(r->name));
	/* as deliverd_task() names its destinations */
	for (p = r->name; *p != '\0'; p++)
		*p = tolower((unsigned char)*p);
	r->port = dd->conf->deliverd_smtp_port;
	if ((r->timer = evtimer_new(dd->base, resolve_timeout, r)) == NULL)
		fatalx("ctl: evtimer_new");
	evtimer_add(r->timer, &tv);
	r->dns_wait = 1;
	dns_resolve(r->name, r->port, resolve_dns, r);
}

/* The channel to queued went: traces stop, answers go nowhere. */
void
ctl_queue_closed(void)
{
	trace_stop_all();
}

int
ctl_imsg(struct imsg *im)
{
	struct mreader	 r;
	const char	*cmd, *arg;
	char		 err[128], name[41];
	uint32_t	 id = im->hdr.peerid;

	m_reader(&r, im);
	if (m_get_string(&r, &cmd) == -1 || m_get_string(&r, &arg) == -1 ||
	    m_end(&r) == -1)
		return -1;
	if (strcmp(cmd, "stats") == 0 && *arg == '\0')
		ctl_stats(id);
	else if (strcmp(cmd, "resolve") == 0 && *arg != '\0' &&
	    strlen(arg) < DNS_KEY_MAX - 8)
		ctl_resolve(id, arg);
	else if (strcmp(cmd, "trace") == 0 && *arg != '\0' &&
	    strlen(arg) < DNS_KEY_MAX) {
		trace_start(id, arg);
		log_debug("control request %u: tracing %s", id, arg);
	} else if (strcmp(cmd, "untrace") == 0) {
		log_debug("control request %u: trace ended", id);
		if (trace_stop(id) == -1)
			ctl_reply(id, 1, CTL_EXIT_NOTFOUND, NULL,
			    "no trace with this id");
		else
			ctl_reply(id, 1, CTL_EXIT_OK, NULL, "");
	} else if (strcmp(cmd, "stats") == 0 ||
	    strcmp(cmd, "resolve") == 0 || strcmp(cmd, "trace") == 0) {
		snprintf(err, sizeof(err), "usage: %s%s", cmd,
		    strcmp(cmd, "stats") == 0 ? "" : " DOMAIN");
		ctl_reply(id, 1, CTL_EXIT_USAGE, NULL, err);
	} else {
		trace_clean(cmd, name, sizeof(name));
		snprintf(err, sizeof(err), "deliverd: unknown request \"%s\"",
		    name);
		ctl_reply(id, 1, CTL_EXIT_USAGE, NULL, err);
	}
	return 0;
}
