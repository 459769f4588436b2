/*
 * dnsprobe - deliverd's resolver on its own, for t/integration/dns.t.
 *
 *	dnsprobe [-svx] [-r ADDRESS:PORT] [-p PORT] DOMAIN...
 *
 * Resolves every DOMAIN at once on one event loop, then prints one
 * line per DOMAIN, in argument order:
 *
 *	DOMAIN status=OK implicit=0 literal=0 site=SITE hosts=NAME/PREF=ADDR,ADDR;NAME/PREF=...
 *	DOMAIN status=NXDOMAIN implicit=0 literal=0 site=SITE error=WHY
 *
 * -r: the DNS server ("system" by default); -p: the default port (25).
 * -s: resolve each DOMAIN twice at once and once more after the first
 * answer; a line "DOMAIN answers differ" follows when the three do not
 * agree, and a last line "lookups=N" tells how many DNS requests went
 * out (sharing and caching keep it at one resolution's worth).
 * -x: shut the resolver down as soon as the requests are made, with
 * their queries in flight, and print "dropped=N" (no callback may run).
 * Exits 0 once every answer is in, 2 on a usage or resolver error.
 */
#include "config.h"

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "../deliverd/dns.h"
#include "log.h"
#include "util.h"

struct probe {
	const char	*domain;
	char		*line;
	int		 got;
	int		 differ;
};

static struct event_base *base;
static int		 outstanding;
static int		 port = 25;
static int		 sflag;
static int		 called;

static const char *
status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "OK";
	case DNS_TEMPFAIL:
		return "TEMPFAIL";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_NULLMX:
		return "NULLMX";
	}
	return "?";
}

static char *
format(const char *domain, const struct dns_result *r)
{
	char	*buf = NULL, addr[128];
	size_t	 len = 0;
	FILE	*f;
	int	 i, j;

	if ((f = open_memstream(&buf, &len)) == NULL)
		fatal("open_memstream");
	fprintf(f, "%s status=%s implicit=%d literal=%d site=%s", domain,
	    status_name(r->status), r->implicit, r->literal, r->site_name);
	if (r->status == DNS_OK) {
		fprintf(f, " hosts=");
		for (i = 0; i < r->nhosts; i++) {
			fprintf(f, "%s%s/%d=", i > 0 ? ";" : "",
			    r->hosts[i].name, r->hosts[i].pref);
			for (j = 0; j < r->hosts[i].naddr; j++)
				fprintf(f, "%s%s", j > 0 ? "," : "",
				    sa_to_hostport((const struct sockaddr *)
				    &r->hosts[i].addrs[j], addr, sizeof(addr)));
		}
	} else
		fprintf(f, " error=%s", r->error);
	if (fclose(f) != 0)
		fatal("open_memstream");
	return buf;
}

static void
answered(struct dns_result *r, void *arg)
{
	struct probe	*p = arg;
	char		*line;

	called++;
	line = format(p->domain, r);
	if (p->line == NULL)
		p->line = line;
	else {
		if (strcmp(p->line, line) != 0)
			p->differ = 1;
		free(line);
	}
	if (sflag && ++p->got == 1) {
		/* once more, now that the first answer is in */
		outstanding++;
		dns_resolve(p->domain, port, answered, p);
	}
	if (--outstanding == 0)
		event_base_loopbreak(base);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: dnsprobe [-svx] [-r address:port] [-p port] domain ...\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct probe	*probes;
	const char	*resolver = "system";
	char		*end;
	int		 ch, i, verbose = 0, xflag = 0;

	while ((ch = getopt(argc, argv, "p:r:svx")) != -1) {
		switch (ch) {
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port < 1 ||
			    port > 65535)
				usage();
			break;
		case 'r':
			resolver = optarg;
			break;
		case 's':
			sflag = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'x':
			xflag = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	log_init("dnsprobe", 1, verbose);

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (dns_init(base, resolver) == -1)
		exit(2);
	probes = xcalloc(argc, sizeof(*probes));
	for (i = 0; i < argc; i++) {
		probes[i].domain = argv[i];
		outstanding += sflag ? 2 : 1;
		dns_resolve(argv[i], port, answered, &probes[i]);
		if (sflag)
			dns_resolve(argv[i], port, answered, &probes[i]);
	}
	if (xflag) {
		dns_shutdown();
		event_base_loop(base, EVLOOP_NONBLOCK);
		printf("dropped=%d called=%d\n", outstanding, called);
		free(probes);
		event_base_free(base);
		return 0;
	}
	event_base_dispatch(base);

	for (i = 0; i < argc; i++) {
		printf("%s\n", probes[i].line != NULL ? probes[i].line :
		    "(no answer)");
		if (probes[i].differ)
			printf("%s answers differ\n", probes[i].domain);
		free(probes[i].line);
	}
	if (sflag)
		printf("lookups=%lu\n", dns_lookups());
	free(probes);
	dns_shutdown();
	event_base_free(base);
	return 0;
}
