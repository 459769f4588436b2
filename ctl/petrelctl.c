/*
 * petrelctl - the operator's tool: talks to queued's control socket
 * (run_dir/control.sock, from petrel.conf) in petrel's imsg framing,
 * one command a connection.  Every answer comes as JSON documents;
 * --json prints them as they are (one a line), otherwise they are
 * rendered as text for people.
 *
 * Exit codes: 0 done, 1 not found, 2 usage, 3 petrel not reachable.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>
#include <jansson.h>

#include "conf.h"
#include "imsg.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"

#define DEFAULT_CONF	CONF_DEFAULT_FILE

static int	 json_out;
static const char *command;
static int	 prometheus;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: petrelctl [-f file] [-s socket] [--json] command [args]\n"
	    "commands:\n"
	    "  status                       processes, pids, users, uptime\n"
	    "  queue-summary                per routing domain\n"
	    "  inspect ID [--body]          a message's envelope and attempts\n"
	    "  bounce ID | --domain D [--reason TEXT]\n"
	    "  suspend D [--duration 1h]    hold delivery to D\n"
	    "  resume D\n"
	    "  retry ID | D | --all         deliver now\n"
	    "  reload                       re-read petrel.conf and the policy\n"
	    "  keys flush                   drop keysd's cache\n"
	    "  trace D                      the SMTP client dialogue for D\n"
	    "  resolve D                    routing, MX, site, egress path\n"
	    "  stats [--prometheus]         counters since start\n");
	exit(CTL_EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "petrelctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* --- rendering ------------------------------------------------------ */

static const char *
s_of(json_t *o, const char *k)
{
	const char	*s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static json_int_t
i_of(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static const char *
when(json_t *v, char *buf, size_t len)
{
	time_t		 t;
	struct tm	 tm;

	if (!json_is_integer(v))
		return "-";
	t = (time_t)json_integer_value(v);
	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static const char *
dur(json_int_t s, char *buf, size_t len)
{
	if (s < 120)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", (long long)s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%lldh%02lldm", (long long)s / 3600,
		    (long long)(s % 3600) / 60);
	else
		snprintf(buf, len, "%lldd%02lldh", (long long)s / 86400,
		    (long long)(s % 86400) / 3600);
	return buf;
}

static void
show_status(json_t *j)
{
	json_t	*p;
	size_t	 i;
	char	 b[32];

	printf("%-10s %5s %8s %-18s %9s %8s\n", "PROCESS", "INDEX", "PID",
	    "USER", "UPTIME", "RESTARTS");
	json_array_foreach(json_object_get(j, "processes"), i, p) {
		printf("%-10s %5lld %8lld %-18s %9s %8lld%s\n",
		    s_of(p, "process"), (long long)i_of(p, "index"),
		    (long long)i_of(p, "pid"), s_of(p, "user"),
		    json_is_integer(json_object_get(p, "uptime")) ?
		    dur(i_of(p, "uptime"), b, sizeof(b)) : "down",
		    (long long)i_of(p, "restarts"),
		    json_is_true(json_object_get(p, "ready")) ? "" :
		    "  (starting)");
	}
	if (json_is_true(json_object_get(j, "reloading")))
		printf("a reload is under way\n");
}

static void
show_summary(json_t *j)
{
	json_t	*d;
	size_t	 i;
	char	 b1[32], b2[32], b3[32];

	printf("%-32s %8s %6s %-19s %-19s %s\n", "ROUTING DOMAIN", "MESSAGES",
	    "RCPTS", "OLDEST", "NEXT ATTEMPT", "SUSPENDED");
	json_array_foreach(json_object_get(j, "domains"), i, d) {
		const char	*next;

		if (i_of(d, "in_flight") > 0 &&
		    !json_is_integer(json_object_get(d, "next_attempt")))
			next = "in flight";
		else
			next = when(json_object_get(d, "next_attempt"), b2,
			    sizeof(b2));
		printf("%-32s %8lld %6lld %-19s %-19s %s\n", s_of(d, "domain"),
		    (long long)i_of(d, "messages"),
		    (long long)i_of(d, "recipients"),
		    when(json_object_get(d, "oldest"), b1, sizeof(b1)), next,
		    !json_is_true(json_object_get(d, "suspended")) ? "no" :
		    json_is_integer(json_object_get(d, "suspended_until")) ?
		    when(json_object_get(d, "suspended_until"), b3,
		    sizeof(b3)) : "until resumed");
	}
	printf("%lld message(s) in the queue\n",
	    (long long)i_of(j, "messages"));
	json_array_foreach(json_object_get(j, "suspensions"), i, d)
		printf("suspended by the operator: %s %s\n", s_of(d, "domain"),
		    json_is_integer(json_object_get(d, "until")) ?
		    when(json_object_get(d, "until"), b3, sizeof(b3)) :
		    "until resumed");
}

static void
show_inspect(json_t *j)
{
	json_t	*r;
	size_t	 i;
	char	 b[32];

	if (json_object_get(j, "text") != NULL) {
		fputs(s_of(j, "text"), stdout);
		return;
	}
	printf("id:            %s\n", s_of(j, "id"));
	printf("arrival:       %s\n", when(json_object_get(j, "arrival"), b,
	    sizeof(b)));
	printf("from:          <%s>\n", s_of(j, "from"));
	printf("client:        [%s] helo=%s\n", s_of(j, "client"),
	    s_of(j, "helo"));
	printf("size:          %lld (%s%s)\n", (long long)i_of(j, "size"),
	    s_of(j, "body"), json_is_true(json_object_get(j, "smtputf8")) ?
	    ", SMTPUTF8" : "");
	printf("attempts:      %lld\n", (long long)i_of(j, "attempts"));
	printf("next attempt:  %s\n", json_is_true(json_object_get(j,
	    "in_flight")) ? "in flight" : when(json_object_get(j,
	    "next_attempt"), b, sizeof(b)));
	printf("last response: %s\n", json_is_string(json_object_get(j,
	    "last_response")) ? s_of(j, "last_response") : "-");
	printf("recipients:\n");
	json_array_foreach(json_object_get(j, "recipients"), i, r)
		printf("  <%s>  %s  (routing domain %s)\n", s_of(r, "address"),
		    s_of(r, "state"), s_of(r, "routing_domain"));
}

static void
show_trace(json_t *j)
{
	char		 b[32];
	time_t		 t = (time_t)json_real_value(json_object_get(j, "time"));
	struct tm	 tm;

	localtime_r(&t, &tm);
	strftime(b, sizeof(b), "%H:%M:%S", &tm);
	printf("%s %s conn %lld %s %s %s\n", b, s_of(j, "site"),
	    (long long)i_of(j, "conn"), s_of(j, "relay"), s_of(j, "dir"),
	    s_of(j, "line"));
	fflush(stdout);
}

static void
show_value(const char *indent, const char *k, json_t *v)
{
	char	*s;

	if (json_is_string(v))
		printf("%s%-48s %s\n", indent, k, json_string_value(v));
	else {
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%s%-48s %s\n", indent, k, s ? s : "?");
		free(s);
	}
}

static int
keycmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void
show_resolve(json_t *j)
{
	json_t		*mx, *v, *qc = json_object_get(j, "queue");
	const char	*k;
	size_t		 i, n;
	const char	**keys;

	if (qc != NULL) {
		printf("domain:          %s\n", s_of(qc, "domain"));
		printf("routing domain:  %s%s\n", s_of(qc, "routing_domain"),
		    json_is_true(json_object_get(qc, "suspended")) ?
		    " (suspended by the operator)" : "");
	}
	if (json_is_string(json_object_get(j, "error")))
		printf("error:           %s\n", s_of(j, "error"));
	printf("site:            %s\n", s_of(j, "site"));
	printf("deliverd:        %lld (owner %lld)\n",
	    (long long)i_of(j, "deliverd"), (long long)i_of(j, "owner"));
	json_array_foreach(json_object_get(j, "mx"), i, mx) {
		char	*a = json_dumps(json_object_get(mx, "addresses"),
		    JSON_COMPACT);

		printf("mx:              %lld %s %s\n",
		    (long long)i_of(mx, "preference"), s_of(mx, "host"),
		    a ? a : "");
		free(a);
	}
	v = json_object_get(j, "egress");
	if (!json_is_object(v))
		return;
	/* the fields in name order, as petrel-policy(5) lists them */
	n = json_object_size(v);
	keys = calloc(n ? n : 1, sizeof(*keys));
	i = 0;
	json_object_foreach(v, k, mx)
		keys[i++] = k;
	qsort(keys, n, sizeof(*keys), keycmp);
	printf("egress path:\n");
	for (i = 0; i < n; i++)
		show_value("  ", keys[i], json_object_get(v, keys[i]));
	free(keys);
}

static void
prom(const char *name, const char *help, const char *type, json_int_t v)
{
	printf("# HELP %s %s\n# TYPE %s %s\n%s %lld\n", name, help, name,
	    type, name, (long long)v);
}

static void
show_stats(json_t *j)
{
	json_t	*qd = json_object_get(j, "queued"), *k, *d, *s;
	size_t	 i, l;

	k = json_object_get(j, "keysd");
	if (prometheus) {
		prom("petrel_received_total", "Messages accepted.", "counter",
		    i_of(qd, "received"));
		prom("petrel_delivered_total", "Recipients delivered.",
		    "counter", i_of(qd, "delivered"));
		prom("petrel_deferred_total", "Temporary failures.",
		    "counter", i_of(qd, "deferred"));
		prom("petrel_bounced_total", "Recipients bounced.", "counter",
		    i_of(qd, "bounced"));
		prom("petrel_expired_total", "Recipients expired.", "counter",
		    i_of(qd, "expired"));
		prom("petrel_queue_messages", "Messages in the queue.",
		    "gauge", i_of(qd, "queued_messages"));
		prom("petrel_start_time_seconds", "When queued started.",
		    "gauge", i_of(qd, "since"));
		if (json_is_object(k)) {
			prom("petrel_keysd_cache_hits_total",
			    "keysd cache hits.", "counter",
			    i_of(k, "cache_hits"));
			prom("petrel_keysd_cache_misses_total",
			    "keysd cache misses.", "counter",
			    i_of(k, "cache_misses"));
			prom("petrel_keysd_vault_requests_total",
			    "Requests keysd made to Vault.", "counter",
			    i_of(k, "vault_requests"));
			prom("petrel_keysd_oauth2_requests_total",
			    "Requests keysd made to OAuth2 token endpoints.",
			    "counter", i_of(k, "oauth2_requests"));
			prom("petrel_keysd_stale_served_total",
			    "Stale secrets served during an outage.",
			    "counter", i_of(k, "stale_served"));
			prom("petrel_keysd_tls_signatures_total",
			    "TLS handshake signatures keysd made.", "counter",
			    i_of(k, "tls_signatures"));
			prom("petrel_keysd_tls_signature_errors_total",
			    "TLS signatures keysd refused or failed.",
			    "counter", i_of(k, "tls_signature_errors"));
		}
		printf("# HELP petrel_site_connections Open connections per "
		    "site.\n# TYPE petrel_site_connections gauge\n");
		json_array_foreach(json_object_get(j, "deliverd"), i, d)
			json_array_foreach(json_object_get(d, "sites"), l, s) {
				char	*n = json_dumps(json_object_get(s,
				    "site"), JSON_ENCODE_ANY);

				/* a JSON string is a valid label value */
				printf("petrel_site_connections{site=%s} "
				    "%lld\n", n ? n : "\"\"",
				    (long long)i_of(s, "connections"));
				free(n);
			}
		return;
	}
	printf("received       %lld\n", (long long)i_of(qd, "received"));
	printf("delivered      %lld\n", (long long)i_of(qd, "delivered"));
	printf("deferred       %lld\n", (long long)i_of(qd, "deferred"));
	printf("bounced        %lld\n", (long long)i_of(qd, "bounced"));
	printf("expired        %lld\n", (long long)i_of(qd, "expired"));
	printf("in the queue   %lld\n", (long long)i_of(qd,
	    "queued_messages"));
	if (json_is_object(k)) {
		printf("keysd          %lld cache hits, %lld misses, %lld "
		    "Vault requests, %lld OAuth2 token requests, %lld "
		    "stale\n",
		    (long long)i_of(k, "cache_hits"),
		    (long long)i_of(k, "cache_misses"),
		    (long long)i_of(k, "vault_requests"),
		    (long long)i_of(k, "oauth2_requests"),
		    (long long)i_of(k, "stale_served"));
		printf("keysd TLS      %lld keys, %lld signatures, %lld "
		    "refused or failed\n", (long long)i_of(k, "tls_keys"),
		    (long long)i_of(k, "tls_signatures"),
		    (long long)i_of(k, "tls_signature_errors"));
	}
	json_array_foreach(json_object_get(j, "deliverd"), i, d)
		json_array_foreach(json_object_get(d, "sites"), l, s)
			printf("site %s: %lld connection(s), %lld idle, %lld "
			    "waiting\n", s_of(s, "site"),
			    (long long)i_of(s, "connections"),
			    (long long)i_of(s, "idle"),
			    (long long)i_of(s, "ready"));
	if (json_is_true(json_object_get(j, "incomplete")))
		printf("(some processes did not answer)\n");
}

static void
show(json_t *j)
{
	const char	*k;
	json_t		*v;

	if (strcmp(command, "status") == 0)
		show_status(j);
	else if (strcmp(command, "queue-summary") == 0)
		show_summary(j);
	else if (strcmp(command, "inspect") == 0)
		show_inspect(j);
	else if (strcmp(command, "trace") == 0)
		show_trace(j);
	else if (strcmp(command, "resolve") == 0)
		show_resolve(j);
	else if (strcmp(command, "stats") == 0)
		show_stats(j);
	else
		json_object_foreach(j, k, v)
			show_value("", k, v);
}

/* --- the conversation ----------------------------------------------- */

/* inih's handler for run_dir_of(): [global] run_dir, an absolute path */
static int
run_dir_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	char	*dir = arg;

	if (strcmp(section, "global") == 0 && strcmp(name, "run_dir") == 0 &&
	    value[0] == '/')
		strlcpy(dir, value, PATH_MAX - 16);
	return 1;
}

/*
 * run_dir of a petrel.conf that does not load (a reload of it is
 * about to be refused, with its errors): inih reads past the errors,
 * so [global] run_dir still counts; else the default.
 */
static int
run_dir_of(const char *file, char *out, size_t len)
{
	char	 dir[PATH_MAX - 16] = "/run/petrel";

	if (ini_parse(file, run_dir_handler, dir) == -1)
		return -1;	/* cannot be opened */
	if ((size_t)snprintf(out, len, "%s/control.sock", dir) >= len)
		return -1;
	return 0;
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un sun;
	int		 s;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		die(CTL_EXIT_USAGE, "%s: path too long", path);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die(CTL_EXIT_UNREACHABLE, "socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die(CTL_EXIT_UNREACHABLE, "cannot reach petrel at %s: %s%s",
		    path, strerror(errno), errno == EACCES ? " (root and the "
		    "petrel group may use it)" : errno == ENOENT ||
		    errno == ECONNREFUSED ? " (is petreld running?)" : "");
	return s;
}

int
main(int argc, char *argv[])
{
	static struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct petrel_conf conf;
	struct imsgbuf	 ibuf;
	struct imsg	 im;
	struct mreader	 r;
	struct mbuf	 mb;
	struct wire_ctl	 w;
	const char	*conffile = NULL, *sock = NULL, *js, *err;
	char		 path[PATH_MAX], errbuf[2048];
	json_error_t	 je;
	json_t		*j;
	ssize_t		 n;
	uint8_t		 code;
	int		 ch, s, i;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "+f:s:h", longopts, NULL)) != -1)
		switch (ch) {
		case 'f':
			conffile = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			json_out = 1;
			break;
		default:
			usage();
		}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	command = argv[0];
	argc--, argv++;
	/* --json may come after the command too */
	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0) {
			json_out = 1;
			memmove(&argv[i], &argv[i + 1],
			    (argc - i) * sizeof(*argv));
			argc--, i--;
		}
	if (strcmp(command, "stats") == 0 && argc == 1 &&
	    strcmp(argv[0], "--prometheus") == 0) {
		prometheus = 1;
		argc = 0;
	}
	if (argc > CTL_MAX_ARGS)
		usage();

	if (sock == NULL) {
		if (conffile == NULL && access(DEFAULT_CONF, R_OK) == -1)
			snprintf(path, sizeof(path), "/run/petrel/control.sock");
		else {
			const char *f = conffile ? conffile : DEFAULT_CONF;

			memset(&conf, 0, sizeof(conf));
			if (conf_load(&conf, f, errbuf, sizeof(errbuf)) == 0) {
				snprintf(path, sizeof(path), "%s/control.sock",
				    conf.run_dir);
				conf_free(&conf);
			} else {
				conf_free(&conf);
				if (run_dir_of(f, path, sizeof(path)) == -1)
					die(CTL_EXIT_USAGE, "%s", errbuf);
			}
			/* a broken file still says where petrel runs, and a
			   reload of it must get to petreld to be refused */
		}
		sock = path;
	}
	s = ctl_connect(sock);
	imsgbuf_init(&ibuf, s);
	memset(&w, 0, sizeof(w));
	w.command = command;
	w.argc = argc;
	w.argv = (const char **)argv;
	m_create(&mb, IMSG_CTL_COMMAND, 0, -1);
	wire_ctl_add(&mb, &w);
	if (m_close(&mb, &ibuf) == -1 || imsg_flush(&ibuf) == -1)
		die(CTL_EXIT_UNREACHABLE, "cannot send the command: %s",
		    strerror(errno));
	for (;;) {
		if ((n = imsg_read(&ibuf)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die(CTL_EXIT_UNREACHABLE, "read: %s", strerror(errno));
		}
		if (n == 0)
			die(CTL_EXIT_UNREACHABLE, "petrel closed the connection "
			    "(refused, or queued restarted: its log says which)");
		for (;;) {
			if ((i = imsg_get(&ibuf, &im)) == -1)
				die(CTL_EXIT_UNREACHABLE, "a garbled answer");
			if (i == 0)
				break;
			m_reader(&r, &im);
			if (im.hdr.type == IMSG_CTL_DATA) {
				if (m_get_string(&r, &js) == -1 ||
				    m_end(&r) == -1)
					die(CTL_EXIT_UNREACHABLE, "a garbled "
					    "answer");
				if (json_out) {
					printf("%s\n", js);
					fflush(stdout);
				} else if ((j = json_loads(js, 0, &je)) != NULL) {
					show(j);
					json_decref(j);
				}
			} else if (im.hdr.type == IMSG_CTL_END) {
				if (m_get_u8(&r, &code) == -1 ||
				    m_get_string(&r, &err) == -1 ||
				    m_end(&r) == -1)
					die(CTL_EXIT_UNREACHABLE, "a garbled "
					    "answer");
				if (*err)
					fprintf(stderr, "petrelctl: %s\n", err);
				fflush(stdout);
				imsgbuf_clear(&ibuf);
				close(s);
				return code;
			} else
				die(CTL_EXIT_UNREACHABLE, "an unexpected answer "
				    "(type %u)", im.hdr.type);
		}
	}
}
