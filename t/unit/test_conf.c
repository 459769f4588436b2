/*
 * test_conf.c - petrel.conf: defaults, errors with file:line, paths.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf.h"

static char	 tmpdir[64];
static char	 errbuf[4096];

static void
setup(void)
{
	char	 tmpl[] = "/tmp/petrel-conf-XXXXXX";

	cr_assert_not_null(mkdtemp(tmpl));
	strlcpy(tmpdir, tmpl, sizeof(tmpdir));
	errbuf[0] = '\0';
}

static void
rmtree(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	char		 p[PATH_MAX];

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (unlink(p) == -1)
			rmtree(p);
	}
	closedir(d);
	rmdir(dir);
}

static void
teardown(void)
{
	if (*tmpdir)
		rmtree(tmpdir);
}

TestSuite(conf, .init = setup, .fini = teardown);

/* write text to tmpdir/name; returns the path (static buffer) */
static const char *
writeconf(const char *name, const char *text)
{
	static char	 path[PATH_MAX];
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	cr_assert_not_null(fp = fopen(path, "w"));
	cr_assert_eq(fputs(text, fp) >= 0, 1);
	cr_assert_eq(fclose(fp), 0);
	return path;
}

/*
 * The error line that starts with "file:line:"; NULL if none.  Copied
 * into a static buffer without its newline.
 */
static const char *
errline(const char *file, int line)
{
	static char	 out[1024];
	char		 pfx[PATH_MAX + 32];
	const char	*p = errbuf;
	size_t		 n;

	snprintf(pfx, sizeof(pfx), "%s:%d: ", file, line);
	while (*p) {
		n = strcspn(p, "\n");
		if (strncmp(p, pfx, strlen(pfx)) == 0) {
			snprintf(out, sizeof(out), "%.*s", (int)n, p);
			return out;
		}
		p += n;
		if (*p == '\n')
			p++;
	}
	return NULL;
}

static int
nlines(const char *s)
{
	int	 n = 0;

	for (; *s; s++)
		if (*s == '\n')
			n++;
	return n;
}

Test(conf, defaults)
{
	struct petrel_conf	 c;
	const char		*f;
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;

	f = writeconf("petrel.conf", "; nothing but a comment\n[global]\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), 0, "%s",
	    errbuf);
	cr_assert_str_empty(errbuf);
	cr_assert_str_eq(c.file, f);
	cr_assert_eq(c.smtpd_workers, 4);
	cr_assert_eq(c.smtpd_max_message_size, 35ULL * 1024 * 1024);
	cr_assert_eq(c.smtpd_max_recipients, 1000);
	cr_assert_eq(c.smtpd_max_sessions, 1000);
	cr_assert_eq(c.smtpd_timeout, 300);
	cr_assert_eq(c.queued_retry_interval, 1200);
	cr_assert_eq(c.queued_max_retry_interval, 8 * 3600);
	cr_assert_eq(c.queued_max_age, 604800);
	cr_assert_eq(c.keysd_cache_ttl, 300);
	cr_assert_eq(c.keysd_stale_ttl, 3600);
	cr_assert_eq(c.deliverd_workers, 1);
	cr_assert_eq(c.privsep, 1);
	cr_assert_eq(c.syslog_facility, LOG_MAIL);
	cr_assert_str_eq(c.spool_dir, "/var/spool/petrel");
	cr_assert_str_eq(c.run_dir, "/run/petrel");
	cr_assert_str_eq(c.syslog_socket, "/dev/log");
	cr_assert_str_eq(c.smtpd_user, "_petrel-smtpd");
	cr_assert_str_eq(c.deliverd_resolver, "system");
	cr_assert_str_eq(c.smtpd_tls_certificate, "");
	cr_assert_str_eq(c.keysd_vault_allow, "*");
	cr_assert_str_neq(c.hostname, "");

	cr_assert_eq(c.smtpd_nlisten, 2);
	sin = (struct sockaddr_in *)&c.smtpd_listen[0];
	cr_assert_eq(sin->sin_family, AF_INET);
	cr_assert_eq(ntohs(sin->sin_port), 25);
	cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	sin6 = (struct sockaddr_in6 *)&c.smtpd_listen[1];
	cr_assert_eq(sin6->sin6_family, AF_INET6);
	cr_assert_eq(ntohs(sin6->sin6_port), 25);
	cr_assert(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));
	cr_assert_eq(c.smtpd_listen_len[0], sizeof(struct sockaddr_in));
	cr_assert_eq(c.smtpd_listen_len[1], sizeof(struct sockaddr_in6));

	cr_assert_eq(c.smtpd_nrelay_from, 2);
	cr_assert_eq(c.smtpd_relay_from[0].family, AF_INET);
	cr_assert_eq(c.smtpd_relay_from[0].bits, 8);
	cr_assert_eq(c.smtpd_relay_from[1].family, AF_INET6);
	cr_assert_eq(c.smtpd_relay_from[1].bits, 128);
	conf_free(&c);
}

Test(conf, empty_file)
{
	struct petrel_conf	 c;
	const char		*f;

	f = writeconf("empty.conf", "");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), 0, "%s",
	    errbuf);
	cr_assert_eq(c.smtpd_workers, 4);
	cr_assert_eq(c.smtpd_nlisten, 2);
	conf_free(&c);
}

Test(conf, values)
{
	struct petrel_conf	 c;
	const char		*f;
	struct sockaddr_in	*sin;

	f = writeconf("petrel.conf",
	    "[global]\n"
	    "hostname = mx.example.org\n"
	    "privsep = no\n"
	    "syslog_facility = local3\n"
	    "syslog_socket =\n"
	    "\n"
	    "[smtpd]\n"
	    "listen = 127.0.0.1:2525\n"
	    "workers = 2\n"
	    "max_message_size = 10MB\n"
	    "relay_from = 10.0.0.0/8, 192.168.0.0/16 , ::1\n"
	    "timeout = 2 min\n"
	    "\n"
	    "[queued]\n"
	    "retry_interval = 90s\n"
	    "max_retry_interval = 1h 30m\n"
	    "max_age = 2d\n"
	    "\n"
	    "[deliverd]\n"
	    "resolver = 127.0.0.1:5353\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), 0, "%s",
	    errbuf);
	cr_assert_str_eq(c.hostname, "mx.example.org");
	cr_assert_eq(c.privsep, 0);
	cr_assert_eq(c.syslog_facility, LOG_LOCAL3);
	cr_assert_str_eq(c.syslog_socket, "");
	cr_assert_eq(c.smtpd_nlisten, 1);
	sin = (struct sockaddr_in *)&c.smtpd_listen[0];
	cr_assert_eq(sin->sin_family, AF_INET);
	cr_assert_eq(ntohs(sin->sin_port), 2525);
	cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_eq(c.smtpd_workers, 2);
	cr_assert_eq(c.smtpd_max_message_size, 10ULL * 1024 * 1024);
	cr_assert_eq(c.smtpd_nrelay_from, 3);
	cr_assert_eq(c.smtpd_relay_from[1].bits, 16);
	cr_assert_eq(c.smtpd_timeout, 120);
	cr_assert_eq(c.queued_retry_interval, 90);
	cr_assert_eq(c.queued_max_retry_interval, 5400);
	cr_assert_eq(c.queued_max_age, 2 * 86400);
	cr_assert_str_eq(c.deliverd_resolver, "127.0.0.1:5353");
	conf_free(&c);
}

Test(conf, unknown_key)
{
	struct petrel_conf	 c;
	const char		*f, *l;

	f = writeconf("petrel.conf",
	    "; line 1\n"
	    "[global]\n"
	    "hostname = x.example\n"
	    "\n"
	    "[smtpd]\n"
	    "bogus_key = 1\n"
	    "workers = 3\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	l = errline(f, 6);
	cr_assert_not_null(l, "no \"%s:6:\" in: %s", f, errbuf);
	cr_assert(strstr(l, "bogus_key") != NULL, "%s", l);
	cr_assert(strstr(l, "unknown key") != NULL, "%s", l);
	cr_assert_eq(nlines(errbuf), 1, "%s", errbuf);
	/* the rest of the file still applies */
	cr_assert_eq(c.smtpd_workers, 3);
	conf_free(&c);
}

Test(conf, key_in_wrong_section)
{
	struct petrel_conf	 c;
	const char		*f, *l;

	f = writeconf("petrel.conf",
	    "[global]\n"
	    "workers = 3\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	l = errline(f, 2);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "workers") != NULL, "%s", l);
	cr_assert(strstr(l, "global") != NULL, "%s", l);
	conf_free(&c);
}

Test(conf, unknown_section)
{
	struct petrel_conf	 c;
	const char		*f, *l;

	f = writeconf("petrel.conf",
	    "[global]\n"
	    "privsep = yes\n"
	    "[nosuch]\n"
	    "; a comment\n"
	    "foo = 1\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	l = errline(f, 5);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "nosuch") != NULL, "%s", l);
	cr_assert(strstr(l, "foo") != NULL, "%s", l);
	cr_assert_eq(nlines(errbuf), 1, "%s", errbuf);
	conf_free(&c);
}

Test(conf, key_before_section)
{
	struct petrel_conf	 c;
	const char		*f;

	f = writeconf("petrel.conf", "hostname = x\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	cr_assert_not_null(errline(f, 1), "%s", errbuf);
	conf_free(&c);
}

Test(conf, bad_values)
{
	struct petrel_conf	 c;
	const char		*f, *l;

	f = writeconf("petrel.conf",
	    "[smtpd]\n"
	    "workers = abc\n"
	    "max_message_size = 12Q\n"
	    "[queued]\n"
	    "retry_interval = soon\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);

	l = errline(f, 2);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "workers") != NULL, "%s", l);
	cr_assert(strstr(l, "abc") != NULL, "%s", l);

	l = errline(f, 3);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "max_message_size") != NULL, "%s", l);
	cr_assert(strstr(l, "12Q") != NULL, "%s", l);

	l = errline(f, 5);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "retry_interval") != NULL, "%s", l);
	cr_assert(strstr(l, "soon") != NULL, "%s", l);

	cr_assert_eq(nlines(errbuf), 3, "%s", errbuf);
	/* the defaults stay in place */
	cr_assert_eq(c.smtpd_workers, 4);
	cr_assert_eq(c.queued_retry_interval, 1200);
	conf_free(&c);
}

Test(conf, more_bad_values)
{
	static const char *const bad[] = {
		"[global]\nprivsep = maybe\n",
		"[global]\nsyslog_facility = kern\n",
		"[global]\nspool_dir = \n",
		"[smtpd]\nworkers = 0\n",
		"[smtpd]\nworkers = 1000001\n",
		"[smtpd]\nworkers = 4x\n",
		"[smtpd]\nmax_message_size = 0\n",
		"[smtpd]\nlisten = ::1:25\n",
		"[smtpd]\nlisten = 127.0.0.1:25, nowhere\n",
		"[smtpd]\nlisten =\n",
		"[smtpd]\nrelay_from = 10.0.0.0/33\n",
		"[smtpd]\ntls_certificate = /etc/c.pem\n",
		"[deliverd]\nresolver = 8.8.8.8:x\n",
		"[queued]\nretry_interval = 2h\nmax_retry_interval = 1h\n",
		NULL
	};
	int	 i;

	for (i = 0; bad[i] != NULL; i++) {
		struct petrel_conf	 c;
		const char		*f;

		f = writeconf("bad.conf", bad[i]);
		errbuf[0] = '\0';
		cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1,
		    "accepted: %s", bad[i]);
		cr_assert_str_not_empty(errbuf);
		cr_assert_eq(strncmp(errbuf, f, strlen(f)), 0, "%s", errbuf);
		conf_free(&c);
	}
}

Test(conf, missing_file)
{
	struct petrel_conf	 c;
	char			 f[PATH_MAX];

	snprintf(f, sizeof(f), "%s/does-not-exist.conf", tmpdir);
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	cr_assert(strstr(errbuf, "cannot open") != NULL, "%s", errbuf);
	cr_assert_eq(strncmp(errbuf, f, strlen(f)), 0, "%s", errbuf);
	conf_free(&c);
}

Test(conf, relative_paths)
{
	struct petrel_conf	 c;
	const char		*f;
	char			*real, want[PATH_MAX];

	f = writeconf("petrel.conf",
	    "[global]\n"
	    "spool_dir = spool\n"
	    "run_dir = ../run\n"
	    "policy = /etc/petrel/p.lua\n"
	    "[smtpd]\n"
	    "tls_certificate = certs/c.pem\n"
	    "tls_private_key = /abs/k.pem\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), 0, "%s",
	    errbuf);
	cr_assert_not_null(real = realpath(tmpdir, NULL));
	snprintf(want, sizeof(want), "%s/spool", real);
	cr_assert_str_eq(c.spool_dir, want);
	snprintf(want, sizeof(want), "%s/../run", real);
	cr_assert_str_eq(c.run_dir, want);
	snprintf(want, sizeof(want), "%s/certs/c.pem", real);
	cr_assert_str_eq(c.smtpd_tls_certificate, want);
	cr_assert_str_eq(c.smtpd_tls_private_key, "/abs/k.pem");
	cr_assert_str_eq(c.policy, "/etc/petrel/p.lua");
	/* CT_STRING values are not paths */
	cr_assert_str_eq(c.keysd_key_dirs, "/etc/petrel/keys");
	conf_free(&c);
	free(real);
}

Test(conf, relative_paths_relative_file)
{
	struct petrel_conf	 c;
	char			 sub[128], *real, want[PATH_MAX];
	FILE			*fp;

	/* tmpdir/sub/petrel.conf, loaded as "sub/../sub/petrel.conf" */
	snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(want, sizeof(want), "%s/petrel.conf", sub);
	cr_assert_not_null(fp = fopen(want, "w"));
	fputs("[global]\nspool_dir = q\n", fp);
	fclose(fp);
	cr_assert_eq(chdir(tmpdir), 0);
	cr_assert_eq(conf_load(&c, "sub/../sub/petrel.conf", errbuf,
	    sizeof(errbuf)), 0, "%s", errbuf);
	cr_assert_not_null(real = realpath(sub, NULL));
	snprintf(want, sizeof(want), "%s/q", real);
	cr_assert_str_eq(c.spool_dir, want);
	cr_assert_str_eq(c.file, "sub/../sub/petrel.conf");
	conf_free(&c);
	free(real);
}

Test(conf, inline_comments)
{
	struct petrel_conf	 c;
	const char		*f;

	f = writeconf("petrel.conf",
	    "# hash comment\n"
	    "; semicolon comment\n"
	    "[global]   ; section comment\n"
	    "hostname = mx.example ; the name\n"
	    "[smtpd]\n"
	    "workers = 6 ; six of them\n"
	    "   ; indented comment\n"
	    "max_message_size = 1G;no space: part of the value\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1,
	    "%s", errbuf);
	cr_assert_str_eq(c.hostname, "mx.example");
	cr_assert_eq(c.smtpd_workers, 6);
	/* ";" only starts a comment after whitespace */
	cr_assert_not_null(errline(f, 8), "%s", errbuf);
	cr_assert_eq(nlines(errbuf), 1, "%s", errbuf);
	conf_free(&c);
}

Test(conf, given_twice)
{
	struct petrel_conf	 c;
	const char		*f, *l;

	f = writeconf("petrel.conf",
	    "[smtpd]\n"
	    "workers = 2\n"
	    "\n"
	    "workers = 3\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	l = errline(f, 4);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "workers") != NULL, "%s", l);
	cr_assert(strstr(l, "twice") != NULL, "%s", l);
	cr_assert_eq(nlines(errbuf), 1, "%s", errbuf);
	conf_free(&c);
}

Test(conf, same_name_other_section)
{
	struct petrel_conf	 c;
	const char		*f;

	/* "user" in two sections is two different keys */
	f = writeconf("petrel.conf",
	    "[smtpd]\nuser = a\n[queued]\nuser = b\n[smtpd]\nworkers = 2\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), 0, "%s",
	    errbuf);
	cr_assert_str_eq(c.smtpd_user, "a");
	cr_assert_str_eq(c.queued_user, "b");
	cr_assert_eq(c.smtpd_workers, 2);
	conf_free(&c);
}

Test(conf, syntax_error_line)
{
	struct petrel_conf	 c;
	const char		*f, *l;

	f = writeconf("petrel.conf",
	    "[global]\n"
	    "\n"
	    "this line has no equals sign\n"
	    "privsep = no\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	l = errline(f, 3);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "syntax error") != NULL, "%s", l);
	cr_assert_eq(c.privsep, 0);
	conf_free(&c);
}

Test(conf, no_trailing_newline)
{
	struct petrel_conf	 c;
	const char		*f, *l;

	f = writeconf("petrel.conf", "[smtpd]\nworkers = 2\nnope = 1");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	l = errline(f, 3);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "nope") != NULL, "%s", l);
	conf_free(&c);
}

Test(conf, long_lines)
{
	struct petrel_conf	 c;
	const char		*f, *l;
	char			 text[2048], fill[400];

	/*
	 * inih reads lines into a 200 byte buffer.  A longer comment or
	 * value is one error on its own line, never parsed piecemeal, and
	 * the line numbers after it stay right.
	 */
	memset(fill, 'x', 300);
	fill[300] = '\0';
	snprintf(text, sizeof(text),
	    "; %s\n"
	    "[global]\n"
	    "hostname = %s ; trailing comment\n"
	    "[smtpd]\n"
	    "bogus = 1\n"
	    "workers = 5\n",
	    fill, fill);
	f = writeconf("petrel.conf", text);
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	l = errline(f, 1);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "too long") != NULL, "%s", l);
	l = errline(f, 3);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "too long") != NULL, "%s", l);
	l = errline(f, 5);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "bogus") != NULL, "%s", l);
	cr_assert_eq(nlines(errbuf), 3, "%s", errbuf);
	/* no truncated value was stored */
	cr_assert(strchr(c.hostname, 'x') == NULL, "%s", c.hostname);
	cr_assert_eq(c.smtpd_workers, 5);
	conf_free(&c);
}

Test(conf, longest_line)
{
	struct petrel_conf	 c;
	const char		*f;
	char			 text[1024], host[256];
	size_t			 n;

	/* a line of 199 characters still fits (with and without newline) */
	n = 199 - strlen("hostname = ");
	memset(host, 'h', n);
	host[n] = '\0';
	snprintf(text, sizeof(text), "[global]\nhostname = %s\n", host);
	f = writeconf("petrel.conf", text);
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), 0, "%s",
	    errbuf);
	cr_assert_str_eq(c.hostname, host);
	conf_free(&c);

	snprintf(text, sizeof(text), "[global]\nhostname = %s", host);
	f = writeconf("petrel.conf", text);
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), 0, "%s",
	    errbuf);
	cr_assert_str_eq(c.hostname, host);
	conf_free(&c);

	/* one more is refused */
	snprintf(text, sizeof(text), "[global]\nhostname = %sh\n", host);
	f = writeconf("petrel.conf", text);
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	cr_assert_not_null(errline(f, 2), "%s", errbuf);
	conf_free(&c);
}

Test(conf, small_errbuf)
{
	struct petrel_conf	 c;
	const char		*f;
	char			 small[24];

	f = writeconf("petrel.conf", "[x]\na = 1\nb = 2\nc = 3\n");
	memset(small, 'Z', sizeof(small));
	cr_assert_eq(conf_load(&c, f, small, sizeof(small)), -1);
	cr_assert_lt(strlen(small), sizeof(small));
	conf_free(&c);
}

Test(conf, man_table)
{
	int	 i, j;

	/* every key is unique within its section and has help text */
	for (i = 0; conf_keys[i].name != NULL; i++) {
		cr_assert_not_null(conf_keys[i].help);
		cr_assert_str_not_empty(conf_keys[i].help);
		cr_assert_str_neq(conf_type_name(conf_keys[i].type), "?");
		for (j = i + 1; conf_keys[j].name != NULL; j++)
			cr_assert(strcmp(conf_keys[i].section,
			    conf_keys[j].section) != 0 ||
			    strcmp(conf_keys[i].name, conf_keys[j].name) != 0,
			    "[%s] %s twice", conf_keys[i].section,
			    conf_keys[i].name);
	}
}

/* a list goes on over indented lines; other keys may not */
Test(conf, list_continuation)
{
	struct petrel_conf	 c;
	const char		*f, *l;

	f = writeconf("petrel.conf",
	    "[smtpd]\n"
	    "relay_from = 127.0.0.0/8,\n"
	    "    10.0.0.0/8\n"
	    "\t; an indented comment\n"
	    "    192.0.2.0/24\n"
	    "listen = 127.0.0.1:25\n"
	    "    127.0.0.2:25\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	cr_assert_eq(c.smtpd_nrelay_from, 3);
	cr_assert_eq(c.smtpd_relay_from[2].bits, 24);
	cr_assert_eq(c.smtpd_nlisten, 2);
	conf_free(&c);

	f = writeconf("petrel.conf",
	    "[smtpd]\n"
	    "workers = 2\n"
	    "   3\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	l = errline(f, 3);
	cr_assert_not_null(l, "%s", errbuf);
	cr_assert(strstr(l, "only a list may continue") != NULL, "%s", l);
	conf_free(&c);
}

Test(conf, vault_auth_approle_needs_its_two_files)
{
	struct petrel_conf	 c;
	const char		*f;

	f = writeconf("petrel.conf", "[keysd]\nvault_auth = approle\n"
	    "vault_role_id_file = /etc/petrel/role_id\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	cr_assert(strstr(errbuf, "vault_auth = approle needs "
	    "vault_role_id_file and vault_secret_id_file") != NULL, "%s",
	    errbuf);
	conf_free(&c);

	f = writeconf("petrel.conf", "[keysd]\nvault_auth = approle\n"
	    "vault_role_id_file = /etc/petrel/role_id\n"
	    "vault_secret_id_file = /etc/petrel/secret_id\n"
	    "vault_token_file = /etc/petrel/token\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	cr_assert(strstr(errbuf, "do not go together") != NULL, "%s", errbuf);
	conf_free(&c);

	f = writeconf("petrel.conf", "[keysd]\nvault_auth = approle\n"
	    "vault_role_id_file = /etc/petrel/role_id\n"
	    "vault_secret_id_file = secret_id\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), 0, "%s",
	    errbuf);
	cr_assert_str_eq(c.keysd_vault_auth, "approle");
	cr_assert_str_eq(c.keysd_vault_role_id_file, "/etc/petrel/role_id");
	cr_assert(c.keysd_vault_secret_id_file[0] == '/' &&
	    strstr(c.keysd_vault_secret_id_file, "/secret_id") != NULL);
	conf_free(&c);

	f = writeconf("petrel.conf", "[keysd]\nvault_auth = kubernetes\n");
	cr_assert_eq(conf_load(&c, f, errbuf, sizeof(errbuf)), -1);
	cr_assert(strstr(errbuf, "must be token or approle") != NULL, "%s",
	    errbuf);
	conf_free(&c);
}
