/*
 * util.c - durations, sizes, addresses and networks, parsed once for
 * the config file, the Lua policy and the control tool alike.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void *
xcalloc(size_t n, size_t sz)
{
	void	*p;

	if ((p = calloc(n, sz)) == NULL)
		fatal("calloc");
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return p;
}

char *
str_trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * A duration: "90", "90s", "20m", "8h", "7d", "1w", also spelled out
 * the way KumoMTA accepts them ("5 min", "2 hours", "1 day", "1 year";
 * a month is 30.44 days and a year 365.25, as KumoMTA's humantime has
 * them).  Whole seconds only.
 */
int
parse_duration(const char *s, int64_t *out)
{
	static const struct { const char *name; int64_t mult; } units[] = {
		{ "", 1 }, { "s", 1 }, { "sec", 1 }, { "secs", 1 },
		{ "second", 1 }, { "seconds", 1 },
		{ "m", 60 }, { "min", 60 }, { "mins", 60 }, { "minute", 60 },
		{ "minutes", 60 },
		{ "h", 3600 }, { "hr", 3600 }, { "hrs", 3600 }, { "hour", 3600 },
		{ "hours", 3600 },
		{ "d", 86400 }, { "day", 86400 }, { "days", 86400 },
		{ "w", 604800 }, { "week", 604800 }, { "weeks", 604800 },
		{ "wk", 604800 }, { "wks", 604800 },
		{ "month", 2630016 }, { "months", 2630016 },
		{ "y", 31557600 }, { "yr", 31557600 }, { "yrs", 31557600 },
		{ "year", 31557600 }, { "years", 31557600 },
	};
	int64_t		 total = 0;
	const char	*p = s;
	int		 any = 0;

	while (*p) {
		char		*end;
		long long	 v;
		char		 unit[16];
		size_t		 n = 0, i;

		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			break;
		if (!isdigit((unsigned char)*p))
			return -1;
		errno = 0;
		v = strtoll(p, &end, 10);
		if (errno || v < 0 || v > INT64_MAX / 604800)
			return -1;
		p = end;
		while (isspace((unsigned char)*p))
			p++;
		while (isalpha((unsigned char)*p) && n < sizeof(unit) - 1)
			unit[n++] = tolower((unsigned char)*p++);
		unit[n] = '\0';
		if (isalpha((unsigned char)*p))
			return -1;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (strcmp(unit, units[i].name) == 0)
				break;
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		if (v > INT64_MAX / units[i].mult ||
		    v * units[i].mult > INT64_MAX - total)
			return -1;
		total += v * units[i].mult;
		any = 1;
	}
	if (!any)
		return -1;
	*out = total;
	return 0;
}

/* A number with KumoMTA's optional separators: "1000", "1_000", "1,000". */
static int
parse_separated(const char *s, size_t len, uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 i;
	int		 digits = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '_' || s[i] == ',')
			continue;
		if (!isdigit((unsigned char)s[i]) ||
		    v > (UINT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
		digits++;
	}
	if (digits == 0)
		return -1;
	*out = v;
	return 0;
}

/*
 * A limit as KumoMTA writes one: a positive number, "1_000", or with
 * its "local:" prefix (petrel is one node: local is all there is).
 */
int
parse_limit(const char *s, uint64_t *out)
{
	uint64_t	 v;

	if (strncmp(s, "local:", 6) == 0)
		s += 6;
	if (parse_separated(s, strlen(s), &v) == -1 || v == 0)
		return -1;
	*out = v;
	return 0;
}

/*
 * A rate as KumoMTA's ThrottleSpec: "LIMIT/PERIOD" with PERIOD s, sec,
 * second, m, min, minute, h, hr, hour, d or day, optionally with a
 * count before it ("100/10min"); "local:" before it and
 * ",max_burst=N" after it are taken too.  LIMIT may carry _ or ,.
 */
int
parse_rate(const char *s, uint64_t *limit, uint64_t *period,
    uint64_t *max_burst)
{
	static const struct { const char *name; uint64_t secs; } periods[] = {
		{ "s", 1 }, { "sec", 1 }, { "second", 1 }, { "seconds", 1 },
		{ "m", 60 }, { "min", 60 }, { "minute", 60 }, { "minutes", 60 },
		{ "h", 3600 }, { "hr", 3600 }, { "hour", 3600 },
		{ "hours", 3600 },
		{ "d", 86400 }, { "day", 86400 }, { "days", 86400 },
	};
	const char	*slash, *burst, *end, *p;
	uint64_t	 n, scale = 1, b = 0;
	size_t		 i, len;

	if (strncmp(s, "local:", 6) == 0)
		s += 6;
	end = s + strlen(s);
	if ((burst = strstr(s, ",max_burst=")) != NULL) {
		if (parse_separated(burst + 11, strlen(burst + 11), &b) == -1)
			return -1;
		end = burst;
	}
	if ((slash = memchr(s, '/', end - s)) == NULL ||
	    parse_separated(s, slash - s, &n) == -1 || n == 0)
		return -1;
	p = slash + 1;
	if (isdigit((unsigned char)*p)) {
		for (scale = 0; isdigit((unsigned char)*p); p++) {
			if (scale > (UINT64_MAX - (*p - '0')) / 10)
				return -1;
			scale = scale * 10 + (*p - '0');
		}
		if (scale == 0)
			return -1;
	}
	len = end - p;
	for (i = 0; i < sizeof(periods) / sizeof(periods[0]); i++)
		if (strlen(periods[i].name) == len &&
		    strncmp(p, periods[i].name, len) == 0)
			break;
	if (i == sizeof(periods) / sizeof(periods[0]) ||
	    scale > UINT64_MAX / periods[i].secs)
		return -1;
	*limit = n;
	*period = scale * periods[i].secs;
	*max_burst = b;
	return 0;
}

/* A size: "35M", "512k", "1G", "1000" (bytes); K = 1024. */
int
parse_size(const char *s, uint64_t *out)
{
	char			*end;
	unsigned long long	 v;
	uint64_t		 mult = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'k':
		mult = 1024;
		end++;
		break;
	case 'm':
		mult = 1024 * 1024;
		end++;
		break;
	case 'g':
		mult = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (tolower((unsigned char)*end) == 'b')
		end++;
	if (*end != '\0' || v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

/*
 * "127.0.0.1:25", "[::1]:25", "[IPv6:::1]:25", "0.0.0.0" (defport),
 * "*:25" (all IPv4).  Numeric only: listeners and next hops given in
 * config never depend on DNS.
 */
int
parse_hostport(const char *s, int defport, struct sockaddr_storage *ss,
    socklen_t *slen)
{
	char		 host[256];
	const char	*port = NULL, *p;
	long		 portnum = defport;
	struct sockaddr_in  *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		if ((p = strchr(s, ']')) == NULL ||
		    (size_t)(p - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, p - s - 1);
		host[p - s - 1] = '\0';
		if (p[1] == ':')
			port = p + 2;
		else if (p[1] != '\0')
			return -1;
	} else {
		p = strrchr(s, ':');
		if (p != NULL && strchr(s, ':') != p)
			return -1;	/* bare IPv6 needs brackets */
		if (p != NULL) {
			port = p + 1;
			if ((size_t)(p - s) >= sizeof(host))
				return -1;
			memcpy(host, s, p - s);
			host[p - s] = '\0';
		} else {
			if (strlen(s) >= sizeof(host))
				return -1;
			strcpy(host, s);
		}
	}
	if (port != NULL) {
		char	*end;

		errno = 0;
		portnum = strtol(port, &end, 10);
		if (errno || *end || end == port || portnum < 1 ||
		    portnum > 65535)
			return -1;
	}
	if (portnum < 0)
		return -1;
	p = host;
	if (strncasecmp(p, "IPv6:", 5) == 0)
		p += 5;
	if (strcmp(p, "*") == 0)
		p = "0.0.0.0";
	if (inet_pton(AF_INET, p, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(portnum);
		*slen = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, p, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(portnum);
		*slen = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/* "127.0.0.0/8", "::1", "10.1.2.3" (a host) */
int
parse_netmask(const char *s, struct netmask *nm)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash;
	int		 max;

	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return -1;
	memset(nm, 0, sizeof(*nm));
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, nm->addr) == 1) {
		nm->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, nm->addr) == 1) {
		nm->family = AF_INET6;
		max = 128;
	} else
		return -1;
	nm->bits = max;
	if (slash != NULL) {
		char	*end;
		long	 b;

		errno = 0;
		b = strtol(slash, &end, 10);
		if (errno || *end || end == slash || b < 0 || b > max)
			return -1;
		nm->bits = b;
	}
	return 0;
}

int
netmask_match(const struct netmask *nm, const struct sockaddr *sa)
{
	const uint8_t	*a;
	uint8_t		 v4[4];
	int		 full, rest;

	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		a = s6->sin6_addr.s6_addr;
		if (nm->family == AF_INET &&
		    IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memcpy(v4, a + 12, 4);
			a = v4;
			goto cmp;
		}
	} else
		return 0;
	if (sa->sa_family != nm->family)
		return 0;
cmp:
	full = nm->bits / 8;
	rest = nm->bits % 8;
	if (memcmp(a, nm->addr, full) != 0)
		return 0;
	if (rest && ((a[full] ^ nm->addr[full]) & (0xff << (8 - rest))))
		return 0;
	return 1;
}

const char *
sa_to_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const void	*a;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else {
		strlcpy(buf, "local", len);
		return buf;
	}
	if (inet_ntop(sa->sa_family, a, buf, len) == NULL)
		strlcpy(buf, "?", len);
	return buf;
}

/* "127.0.0.1:25" or "[::1]:25" */
const char *
sa_to_hostport(const struct sockaddr *sa, char *buf, size_t len)
{
	char		 a[INET6_ADDRSTRLEN];
	unsigned	 port = 0;

	sa_to_text(sa, a, sizeof(a));
	if (sa->sa_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	else if (sa->sa_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	    a, port);
	return buf;
}

int
sa_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return 0;
}

/*
 * The descriptors this process may spend on its work (sessions, spool
 * files, connections): the soft RLIMIT_NOFILE less FD_RESERVE.  Every
 * process sizes its limits from this, so the 1024 that systemd gives a
 * service by default is never exceeded (petreld raises the soft limit
 * to the hard one before it starts anyone).
 */
int
fd_budget(void)
{
	struct rlimit	 rl;
	rlim_t		 n;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		n = 1024;
	else
		n = rl.rlim_cur;
	if (n > 1 << 20)
		n = 1 << 20;
	return n > 2 * FD_RESERVE ? (int)(n - FD_RESERVE) : FD_RESERVE;
}

/*
 * The one durable write of a small file: dir/.name.tmp (mode 0600),
 * fsync, rename over dir/name, fsync the directory.  On failure why is
 * in err and dir/name is as it was.
 */
int
durable_write(const char *dir, const char *name, const char *data,
    size_t len, char *err, size_t errlen)
{
	char		 tmp[1200], path[1200];
	int		 fd, dfd;
	ssize_t		 w;
	size_t		 off = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	while (off < len) {
		if ((w = write(fd, data + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto bad;
		}
		off += w;
	}
	if (fsync(fd) == -1)
		goto bad;
	if (close(fd) == -1) {
		fd = -1;
		goto bad;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto bad;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
bad:
	snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	return -1;
}

/*
 * Does s match one of the comma-separated fnmatch(3) patterns of list
 * (vault_allow, tls_key_files)?  Without FNM_PATHNAME: a '*' spans '/'.
 */
int
list_fnmatch(const char *list, const char *s)
{
	char	*copy, *p, *pat;
	int	 ok = 0;

	p = copy = xstrdup(list);
	while (!ok && (pat = strsep(&p, ",")) != NULL) {
		pat = str_trim(pat);
		if (*pat != '\0' && fnmatch(pat, s, 0) == 0)
			ok = 1;
	}
	free(copy);
	return ok;
}

/* qsort(3) and bsearch(3) order of uint64_t */
int
cmp_u64(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}
