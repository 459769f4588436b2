/*
 * conf.c - petrel.conf, parsed with inih against one table of keys.
 *
 * inih does not report line numbers in this Debian build, so the
 * reader callback counts them: inih asks for one line at a time.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <ini.h>

#include "conf.h"
#include "log.h"
#include "smtp.h"

#define O(f)	offsetof(struct petrel_conf, f)
#define CONF_NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]) - 1)

const struct conf_key conf_keys[] = {
	{ "global", "hostname", CT_STRING, "", O(hostname), 0,
	  "Name used in the SMTP banner, EHLO and Received headers; empty: the machine's host name." },
	{ "global", "spool_dir", CT_PATH, "/var/spool/petrel", O(spool_dir), CK_RESTART,
	  "Queue directory, owned by the queued user." },
	{ "global", "run_dir", CT_PATH, "/run/petrel", O(run_dir), CK_RESTART,
	  "Directory for control.sock and petreld.pid." },
	{ "global", "policy", CT_PATH, "/etc/petrel/policy.lua", O(policy), 0,
	  "Lua policy file, KumoMTA-compatible (petrel-policy(5)), read before the processes chroot. When not set and the default file is absent: no policy; a file named here must exist. Empty: no policy." },
	{ "global", "privsep", CT_BOOL, "yes", O(privsep), CK_RESTART,
	  "Run each child as its own user, chrooted (smtpd, deliverd in their chroot, queued in spool_dir). no: every process stays the invoking user." },
	{ "global", "syslog_facility", CT_FACILITY, "mail", O(syslog_facility), 0,
	  "Syslog facility for all processes." },
	{ "global", "syslog_socket", CT_PATH, "/dev/log", O(syslog_socket), 0,
	  "Datagram socket of the syslog daemon; empty: no syslog. Each process connects to it before it chroots, so a reload that changes it (or the facility) restarts every process." },

	{ "smtpd", "user", CT_STRING, "_petrel-smtpd", O(smtpd_user), CK_RESTART,
	  "User the SMTP server workers run as." },
	{ "smtpd", "chroot", CT_PATH, "/var/empty", O(smtpd_chroot), CK_RESTART,
	  "Directory the SMTP server workers chroot into (created if missing)." },
	{ "smtpd", "listen", CT_LISTEN, "0.0.0.0:25, [::]:25", O(smtpd_listen), CK_RESTART,
	  "Addresses to accept SMTP on: ADDR:PORT or [ADDR]:PORT, comma separated." },
	{ "smtpd", "workers", CT_INT, "4", O(smtpd_workers), CK_RESTART,
	  "Number of pre-forked SMTP server processes; each serves many sessions." },
	{ "smtpd", "max_message_size", CT_SIZE, "35M", O(smtpd_max_message_size), 0,
	  "Largest message accepted (announced with SIZE); larger gets 552 5.3.4." },
	{ "smtpd", "max_recipients", CT_INT, "1000", O(smtpd_max_recipients), 0,
	  "Recipients per message (at most 1000); more get 452 4.5.3." },
	{ "smtpd", "max_sessions", CT_INT, "1000", O(smtpd_max_sessions), 0,
	  "Concurrent sessions per worker, at most half the open files budget "
	  "(see Sessions); above it new clients get 421 4.3.2." },
	{ "smtpd", "max_sessions_per_client", CT_INT, "50", O(smtpd_max_sessions_per_client), 0,
	  "Sessions one client address may have open at once, across all workers "
	  "(an IPv6 client counts by its /64), as Postfix's "
	  "smtpd_client_connection_count_limit; more get 421 4.7.0. Clients in "
	  "relay_from are exempt, as Postfix exempts mynetworks." },
	{ "smtpd", "max_sessions_total", CT_INT, "10000", O(smtpd_max_sessions_total), 0,
	  "Sessions open at once across all workers, whatever max_sessions and "
	  "workers allow; more get 421 4.3.2." },
	{ "smtpd", "relay_from", CT_NETS, "127.0.0.0/8, ::1", O(smtpd_relay_from), 0,
	  "Networks allowed to relay (send to any recipient); others get 554 5.7.1." },
	{ "smtpd", "timeout", CT_DURATION, "5m", O(smtpd_timeout), 0,
	  "Time allowed for each client command line, counted from the end of the "
	  "previous one however its bytes trickle in (a deadline per command, not "
	  "per read), and the grace before min_data_rate counts; then 421 4.4.2." },
	{ "smtpd", "stress_timeout", CT_DURATION, "10s", O(smtpd_stress_timeout), 0,
	  "What timeout becomes (if shorter) for every session of a worker while it "
	  "holds three quarters of its max_sessions, or all workers three quarters "
	  "of max_sessions_total, as Postfix's stress-dependent smtpd_timeout: idle "
	  "and trickling clients make room for others." },
	{ "smtpd", "min_data_rate", CT_INT, "500", O(smtpd_min_data_rate), 0,
	  "Bytes per second the message text must average after the 354, as "
	  "Postfix's smtpd_min_data_rate: each byte adds 1/min_data_rate seconds to "
	  "the timeout the text starts with; then 421 4.4.2." },
	{ "smtpd", "tls_certificate", CT_PATH, "", O(smtpd_tls_certificate), 0,
	  "PEM certificate chain for STARTTLS (the certificate, then its intermediates); empty: STARTTLS not offered. Read by smtpd at start; a reload that finds it or the key changed (a renewal) restarts the smtp servers one at a time." },
	{ "smtpd", "tls_private_key", CT_PATH, "", O(smtpd_tls_private_key), 0,
	  "PEM private key (RSA or ECDSA) for STARTTLS. Read by petreld, which may be the only one able to (root), and handed to keysd, which makes each handshake's signature: smtpd never opens it. Refused when it does not match tls_certificate or any user may read it." },

	{ "queued", "user", CT_STRING, "_petrel-queued", O(queued_user), CK_RESTART,
	  "User the queue manager runs as; owns spool_dir." },
	{ "queued", "retry_interval", CT_DURATION, "20m", O(queued_retry_interval), 0,
	  "First retry delay after a temporary failure; doubles each attempt." },
	{ "queued", "max_retry_interval", CT_DURATION, "8h", O(queued_max_retry_interval), 0,
	  "Upper bound of the retry delay." },
	{ "queued", "max_age", CT_DURATION, "7d", O(queued_max_age), 0,
	  "Time after which an undeliverable message expires and is bounced." },
	{ "queued", "active_limit", CT_INT, "20000", O(queued_active_limit), 0,
	  "Messages held in memory in full (envelope and recipients), like Postfix's qmgr_message_active_limit; the rest wait on disk, indexed by id and next attempt (16 bytes each), and are read in, soonest first, as room frees." },
	{ "queued", "relayhost", CT_STRING, "", O(queued_relayhost), 0,
	  "Send all mail through this host instead of the recipients' MX: [ADDR], [ADDR]:PORT (connect directly) or a domain (its MX). Empty: deliver by MX. The policy's get_queue_config overrides it." },

	{ "deliverd", "user", CT_STRING, "_petrel-deliverd", O(deliverd_user), CK_RESTART,
	  "User the SMTP client runs as." },
	{ "deliverd", "workers", CT_INT, "1", O(deliverd_workers), CK_RESTART,
	  "Number of SMTP client processes; each owns a share of the destinations." },
	{ "deliverd", "chroot", CT_PATH, "/var/empty", O(deliverd_chroot), CK_RESTART,
	  "Directory the SMTP client processes chroot into." },
	{ "deliverd", "smtp_port", CT_INT, "25", O(deliverd_smtp_port), 0,
	  "Port of next hops found by MX or given without a port; the policy's smtp_port overrides it." },
	{ "deliverd", "resolver", CT_RESOLVER, "system", O(deliverd_resolver), 0,
	  "DNS server for MX/A/AAAA: system (/etc/resolv.conf) or HOST:PORT." },
	{ "deliverd", "ca_file", CT_PATH, "/etc/ssl/certs/ca-certificates.crt", O(deliverd_ca_file), 0,
	  "CA bundle used to verify next-hop certificates, read at start before the chroot; if it cannot be read that is logged and no certificate verifies." },
	{ "deliverd", "data_timeout", CT_DURATION, "30s", O(deliverd_data_timeout), 0,
	  "Wait for the reply to DATA, and longest time no byte of the message text can be written to a slow next hop; then a TransientFailure. The default of KumoMTA's egress field data_timeout, which the policy may set per path." },
	{ "deliverd", "data_dot_timeout", CT_DURATION, "60s", O(deliverd_data_dot_timeout), 0,
	  "Wait for the reply to the final dot, counted from when the whole message text has been written (not from its start). The default of KumoMTA's egress field data_dot_timeout, which the policy may set per path." },

	{ "keysd", "user", CT_STRING, "_petrel-keysd", O(keysd_user), CK_RESTART,
	  "User of the key server, the only reader of keysources." },
	{ "keysd", "key_dirs", CT_LIST, "/etc/petrel/keys", O(keysd_key_dirs), 0,
	  "Directories key files may be read from (comma separated). A key file must resolve (symbolic links and .. followed) to a path below one of them." },
	{ "keysd", "tls_key_files", CT_LIST, "", O(keysd_tls_key_files), 0,
	  "Private key files keysd may sign with for an egress path's tls_private_key (comma separated fnmatch(3) patterns of the resolved path; * also spans /). Such a file must lie under key_dirs as well, and no other user may read it. Empty: none. [smtpd] tls_private_key needs no pattern: petreld reads it and hands it to keysd." },
	{ "keysd", "vault_address", CT_STRING, "", O(keysd_vault_address), 0,
	  "Vault base URL, used when a keysource has no vault_address; empty: $VAULT_ADDR." },
	{ "keysd", "vault_token_file", CT_PATH, "", O(keysd_vault_token_file), 0,
	  "File holding the Vault token, used when a keysource has no vault_token; read as the keysd user, again on reload. Empty: $VAULT_TOKEN." },
	{ "keysd", "vault_ca_file", CT_PATH, "", O(keysd_vault_ca_file), 0,
	  "CA bundle for Vault's certificate; empty: the system's." },
	{ "keysd", "vault_allow", CT_LIST, "*", O(keysd_vault_allow), 0,
	  "Mount/path patterns keysd will read from Vault (comma separated, fnmatch(3): * also spans /)." },
	{ "keysd", "vault_auth", CT_STRING, "token", O(keysd_vault_auth), 0,
	  "How keysd gets its Vault token: token (vault_token_file, else $VAULT_TOKEN) or approle (it logs in with vault_role_id_file and vault_secret_id_file at POST /v1/auth/approle/login, renews the token with /v1/auth/token/renew-self at two thirds of its lease, and logs in again when it cannot be renewed, nears its max TTL, is refused, or on reload). The token lives only in keysd's memory. While a login fails, cached secrets are served within stale_ttl." },
	{ "keysd", "vault_role_id_file", CT_PATH, "", O(keysd_vault_role_id_file), 0,
	  "With vault_auth = approle: file holding the AppRole role_id, read as the keysd user at each login." },
	{ "keysd", "vault_secret_id_file", CT_PATH, "", O(keysd_vault_secret_id_file), 0,
	  "With vault_auth = approle: file holding the AppRole secret_id, read as the keysd user at each login; never logged." },
	{ "keysd", "vault_namespace", CT_STRING, "", O(keysd_vault_namespace), 0,
	  "Vault namespace (X-Vault-Namespace), used when a keysource has no vault_namespace; empty: $VAULT_NAMESPACE." },
	{ "keysd", "vault_connect_timeout", CT_DURATION, "5s", O(keysd_vault_connect_timeout), 0,
	  "Longest wait for a connection to Vault." },
	{ "keysd", "vault_timeout", CT_DURATION, "10s", O(keysd_vault_timeout), 0,
	  "Longest time one Vault fetch may take in all, retries included; then Vault counts as down." },
	{ "keysd", "cache_ttl", CT_DURATION, "5m", O(keysd_cache_ttl), 0,
	  "How long a fetched secret is reused; many connections asking at once cause one fetch. SIGHUP empties the cache." },
	{ "keysd", "stale_ttl", CT_DURATION, "1h", O(keysd_stale_ttl), 0,
	  "How long (from when it was fetched) the last good secret is served while its source is down (unreachable, timing out, sealed, 5xx), with a warning each time; meanwhile Vault is asked again only after 10 s, doubling to 2 min. Not on an answer such as 403 or 404." },
	{ "keysd", "state_dir", CT_PATH, "/var/lib/petrel/keysd", O(keysd_state_dir), 0,
	  "keysd's own state: rotated OAuth2 refresh tokens, one file each (mode 0600, written durably). Created (0700, owned by keysd's user) at start when missing. Empty: a rotated refresh token is not kept (with a warning), and the next refresh uses the keysource's own, which a rotating provider has revoked." },
	{ NULL, NULL, 0, NULL, 0, 0, NULL }
};

static const struct { const char *name; int value; } facilities[] = {
	{ "mail", LOG_MAIL }, { "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

struct conf_parse {
	struct petrel_conf *conf;
	const char	*file;
	FILE		*fp;
	int		 lineno;
	int		 nerr;
	char		*err;
	size_t		 errlen;
	unsigned char	 seen[sizeof(conf_keys) / sizeof(conf_keys[0])];
	int		 indented;	/* this line starts with blanks */
	int		 last;		/* key of the previous value line */
	char		 lastval[2048];	/* its value, for continuations */
};

const char *
conf_type_name(enum conf_type t)
{
	switch (t) {
	case CT_STRING:		return "string";
	case CT_LIST:		return "list";
	case CT_PATH:		return "path";
	case CT_BOOL:		return "yes|no";
	case CT_INT:		return "number";
	case CT_SIZE:		return "size";
	case CT_DURATION:	return "duration";
	case CT_LISTEN:		return "address list";
	case CT_NETS:		return "network list";
	case CT_FACILITY:	return "facility";
	case CT_RESOLVER:	return "system|HOST:PORT";
	}
	return "?";
}

static void
conf_error(struct conf_parse *p, int line, const char *fmt, ...)
{
	size_t	 l = strlen(p->err);
	va_list	 ap;

	p->nerr++;
	if (l + 1 >= p->errlen)
		return;
	if (line > 0)
		l += snprintf(p->err + l, p->errlen - l, "%s:%d: ", p->file, line);
	else
		l += snprintf(p->err + l, p->errlen - l, "%s: ", p->file);
	if (l >= p->errlen)
		return;
	va_start(ap, fmt);
	l += vsnprintf(p->err + l, p->errlen - l, fmt, ap);
	va_end(ap);
	if (l + 1 < p->errlen)
		strcat(p->err, "\n");
}

/* Split a comma-separated list in place; returns the item count. */
static int
conf_split(char *s, char **items, int max)
{
	int	 n = 0;
	char	*tok;

	while ((tok = strsep(&s, ",")) != NULL) {
		tok = str_trim(tok);
		if (*tok == '\0')
			continue;
		if (n == max)
			return -1;
		items[n++] = tok;
	}
	return n;
}

/* Store one value; returns an error text or NULL. */
static const char *
conf_set(struct petrel_conf *c, const struct conf_key *k, const char *value)
{
	void		*f = (char *)c + k->off;
	char		 buf[4096], *items[CONF_MAX_NETS];
	int		 n, i;
	int64_t		 d;
	uint64_t	 sz;
	long		 l;
	char		*end;

	switch (k->type) {
	case CT_PATH:
		if (*value != '\0' && *value != '/' && c->basedir != NULL) {
			/* relative to the directory of the config file */
			char	*abs;

			if (asprintf(&abs, "%s/%s", c->basedir, value) == -1)
				return "out of memory";
			free(*(char **)f);
			*(char **)f = abs;
			return NULL;
		}
		if (*value != '\0' && *value != '/')
			return "must be an absolute path";
		/* FALLTHROUGH */
	case CT_STRING:
	case CT_LIST:
		free(*(char **)f);
		*(char **)f = xstrdup(value);
		return NULL;
	case CT_BOOL:
		if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") ||
		    !strcasecmp(value, "on") || !strcmp(value, "1"))
			*(int *)f = 1;
		else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") ||
		    !strcasecmp(value, "off") || !strcmp(value, "0"))
			*(int *)f = 0;
		else
			return "must be yes or no";
		return NULL;
	case CT_INT:
		errno = 0;
		l = strtol(value, &end, 10);
		if (errno || *end || end == value || l < 1 || l > 1000000)
			return "must be a number from 1 to 1000000";
		*(int *)f = l;
		return NULL;
	case CT_SIZE:
		if (parse_size(value, &sz) == -1 || sz == 0)
			return "must be a size such as 35M, 512K or 1048576";
		*(uint64_t *)f = sz;
		return NULL;
	case CT_DURATION:
		if (parse_duration(value, &d) == -1)
			return "must be a duration such as 90s, 20m, 8h or 7d";
		*(int64_t *)f = d;
		return NULL;
	case CT_FACILITY:
		for (i = 0; i < (int)(sizeof(facilities) / sizeof(facilities[0])); i++)
			if (strcasecmp(value, facilities[i].name) == 0) {
				*(int *)f = facilities[i].value;
				return NULL;
			}
		return "must be a syslog facility (mail, daemon, local0..local7)";
	case CT_RESOLVER: {
		struct sockaddr_storage ss;
		socklen_t	 sl;

		if (strcmp(value, "system") != 0 &&
		    parse_hostport(value, 53, &ss, &sl) == -1)
			return "must be system or ADDR:PORT";
		free(*(char **)f);
		*(char **)f = xstrdup(value);
		return NULL;
	}
	case CT_LISTEN:
		if (strlcpy(buf, value, sizeof(buf)) >= sizeof(buf))
			return "too long";
		if ((n = conf_split(buf, items, CONF_MAX_LISTEN)) == -1)
			return "too many addresses";
		for (i = 0; i < n; i++)
			if (parse_hostport(items[i], 25, &c->smtpd_listen[i],
			    &c->smtpd_listen_len[i]) == -1)
				return "must be ADDR:PORT or [ADDR]:PORT items";
		c->smtpd_nlisten = n;
		return NULL;
	case CT_NETS:
		if (strlcpy(buf, value, sizeof(buf)) >= sizeof(buf))
			return "too long";
		if ((n = conf_split(buf, items, CONF_MAX_NETS)) == -1)
			return "too many networks";
		for (i = 0; i < n; i++)
			if (parse_netmask(items[i], &c->smtpd_relay_from[i]) == -1)
				return "must be a list of networks such as 127.0.0.0/8, ::1";
		c->smtpd_nrelay_from = n;
		return NULL;
	}
	return "unknown type";
}

/*
 * Remember a value set as text, the way conf_write() hands it to the
 * children: a path as the absolute one it became, since they have no
 * directory to resolve it against.
 */
static void
conf_given(struct petrel_conf *c, int i, const char *value)
{
	const struct conf_key *k = &conf_keys[i];

	free(c->given[i]);
	if (k->type == CT_PATH)
		value = *(char **)((char *)c + k->off);
	c->given[i] = xstrdup(value);
}

static int
conf_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct conf_parse	*p = user;
	const char		*err;
	int			 i, known_section = 0;
	char			 v[4096];

	for (i = 0; conf_keys[i].name != NULL; i++) {
		if (strcmp(conf_keys[i].section, section) != 0)
			continue;
		known_section = 1;
		if (strcmp(conf_keys[i].name, name) == 0)
			break;
	}
	if (!known_section) {
		conf_error(p, p->lineno, "unknown section [%s] (key %s)",
		    section, name);
		return 1;
	}
	if (conf_keys[i].name == NULL) {
		conf_error(p, p->lineno, "[%s] unknown key '%s'", section, name);
		return 1;
	}
	/*
	 * inih hands an indented line after a key to us as another value
	 * of that key: for lists, that continues the list.
	 */
	if (p->indented && p->last == i) {
		if (conf_keys[i].type != CT_LISTEN &&
		    conf_keys[i].type != CT_NETS &&
		    conf_keys[i].type != CT_LIST) {
			conf_error(p, p->lineno, "[%s] %s: only a list may "
			    "continue on an indented line", section, name);
			return 1;
		}
		if ((size_t)snprintf(v, sizeof(v), "%s, %s", p->lastval,
		    value) >= sizeof(v)) {
			conf_error(p, p->lineno, "[%s] %s: list too long",
			    section, name);
			return 1;
		}
	} else {
		if (p->seen[i])
			conf_error(p, p->lineno, "[%s] %s: given twice",
			    section, name);
		p->seen[i] = 1;
		strlcpy(v, value, sizeof(v));
	}
	p->last = i;
	strlcpy(p->lastval, v, sizeof(p->lastval));
	if (conf_keys[i].off == O(policy))
		p->conf->policy_given = 1;
	if (conf_keys[i].off == O(keysd_vault_auth) &&
	    strcmp(str_trim(v), "token") != 0 &&
	    strcmp(str_trim(v), "approle") != 0) {
		conf_error(p, p->lineno, "[%s] %s = %s: must be token or "
		    "approle", section, name, value);
		return 1;
	}
	if ((err = conf_set(p->conf, &conf_keys[i], str_trim(v))) != NULL)
		conf_error(p, p->lineno, "[%s] %s = %s: %s", section, name,
		    value, err);
	else
		conf_given(p->conf, i, str_trim(v));
	return 1;
}

static char *
conf_reader(char *buf, int size, void *stream)
{
	struct conf_parse	*p = stream;
	size_t			 l;
	int			 ch;

	if (fgets(buf, size, p->fp) == NULL)
		return NULL;
	p->lineno++;
	p->indented = (buf[0] == ' ' || buf[0] == '\t') &&
	    buf[strspn(buf, " \t")] != '\n' && buf[strspn(buf, " \t")] != '\0';
	if (!p->indented)
		p->last = -1;
	l = strlen(buf);
	if (size < 2 || l != (size_t)size - 1 || buf[l - 1] == '\n')
		return buf;
	/* inih's buffer is full: fine if only the newline is left */
	if ((ch = getc(p->fp)) == EOF || ch == '\n')
		return buf;
	/*
	 * Longer than inih's line buffer, which would parse the rest as
	 * a line of its own: refuse the line and hand inih a blank one.
	 */
	conf_error(p, p->lineno, "line too long (more than %d characters)",
	    size - 1);
	while ((ch = getc(p->fp)) != EOF && ch != '\n')
		;
	buf[0] = '\0';
	return buf;
}

static void
conf_defaults(struct petrel_conf *c)
{
	int	 i;

	for (i = 0; conf_keys[i].name != NULL; i++)
		if (conf_set(c, &conf_keys[i], conf_keys[i].def) != NULL)
			fatalx("bad built-in default for %s", conf_keys[i].name);
}

static void
conf_init(struct petrel_conf *c, struct conf_parse *p, const char *file,
    char *errbuf, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	memset(p, 0, sizeof(*p));
	errbuf[0] = '\0';
	c->file = xstrdup(file);
	c->given = xcalloc(CONF_NKEYS, sizeof(*c->given));
	conf_defaults(c);
	p->conf = c;
	p->last = -1;
	p->file = file;
	p->err = errbuf;
	p->errlen = errlen;
}

/* What no single key can say: empty or missing values, pairs. */
static int
conf_check(struct petrel_conf *c, struct conf_parse *p)
{
	if (*c->hostname == '\0') {
		char	 h[256];

		if (gethostname(h, sizeof(h)) == -1 || *h == '\0')
			strlcpy(h, "localhost", sizeof(h));
		h[sizeof(h) - 1] = '\0';
		free(c->hostname);
		c->hostname = xstrdup(h);
	}
	if (*c->spool_dir == '\0')
		conf_error(p, 0, "[global] spool_dir: must not be empty");
	if (*c->run_dir == '\0')
		conf_error(p, 0, "[global] run_dir: must not be empty");
	if (c->smtpd_nlisten == 0)
		conf_error(p, 0, "[smtpd] listen: at least one address needed");
	if ((*c->smtpd_tls_certificate == '\0') !=
	    (*c->smtpd_tls_private_key == '\0'))
		conf_error(p, 0, "[smtpd] tls_certificate and tls_private_key "
		    "go together");
	if (*c->queued_relayhost != '\0' &&
	    smtp_parse_routing_domain(c->queued_relayhost) == -1)
		conf_error(p, 0, "[queued] relayhost = %s: must be "
		    "[ADDR], [ADDR]:PORT or a domain", c->queued_relayhost);
	if (c->smtpd_max_recipients > 1000)
		conf_error(p, 0, "[smtpd] max_recipients: at most 1000 "
		    "(a message's envelope travels in one frame)");
	if (c->smtpd_timeout < 1 || c->smtpd_stress_timeout < 1)
		conf_error(p, 0, "[smtpd] timeout and stress_timeout: at least "
		    "1s");
	if (c->deliverd_smtp_port > 65535)
		conf_error(p, 0, "[deliverd] smtp_port: must be a port number");
	if (c->deliverd_data_timeout < 1 || c->deliverd_data_timeout > 86400)
		conf_error(p, 0, "[deliverd] data_timeout: from 1s to 1d");
	if (c->deliverd_data_dot_timeout < 1 ||
	    c->deliverd_data_dot_timeout > 86400)
		conf_error(p, 0, "[deliverd] data_dot_timeout: from 1s to 1d");
	if (c->keysd_vault_connect_timeout < 1 ||
	    c->keysd_vault_connect_timeout > 3600)
		conf_error(p, 0, "[keysd] vault_connect_timeout: from 1s "
		    "to 1h");
	if (c->keysd_vault_timeout < 1 || c->keysd_vault_timeout > 3600)
		conf_error(p, 0, "[keysd] vault_timeout: from 1s to 1h");
	if (strcmp(c->keysd_vault_auth, "approle") == 0 &&
	    (*c->keysd_vault_role_id_file == '\0' ||
	    *c->keysd_vault_secret_id_file == '\0'))
		conf_error(p, 0, "[keysd] vault_auth = approle needs "
		    "vault_role_id_file and vault_secret_id_file");
	if (strcmp(c->keysd_vault_auth, "approle") == 0 &&
	    *c->keysd_vault_token_file != '\0')
		conf_error(p, 0, "[keysd] vault_token_file and vault_auth = "
		    "approle do not go together (approle logs in for its "
		    "token)");
	if (c->queued_max_retry_interval < c->queued_retry_interval)
		conf_error(p, 0, "[queued] max_retry_interval is shorter than "
		    "retry_interval");
	return p->nerr ? -1 : 0;
}

int
conf_load(struct petrel_conf *c, const char *file, char *errbuf,
    size_t errlen)
{
	struct conf_parse	 p;
	char			*rp, *slash;
	int			 r;

	conf_init(c, &p, file, errbuf, errlen);
	if ((rp = realpath(file, NULL)) != NULL) {
		if ((slash = strrchr(rp, '/')) != NULL)
			*(slash == rp ? slash + 1 : slash) = '\0';
		c->basedir = rp;
	}
	if ((p.fp = fopen(file, "r")) == NULL) {
		conf_error(&p, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	r = ini_parse_stream(conf_reader, &p, conf_handler, &p);
	fclose(p.fp);
	if (r > 0)
		conf_error(&p, r, "syntax error (expected [section] or key = value)");
	else if (r < 0)
		conf_error(&p, 0, "cannot parse (out of memory?)");
	return conf_check(c, &p);
}

/*
 * The configuration petreld runs with, as conf_write() wrote it, from
 * the sealed memory file it hands each child: the child runs with what
 * petreld checked and kept (a reload keeps the CK_RESTART keys), not
 * with whatever the file says by the time it starts.  FILE is only
 * named in messages.  pread: the children share the file offset.
 */
int
conf_load_fd(struct petrel_conf *c, const char *file, int fd, char *errbuf,
    size_t errlen)
{
	struct conf_parse	 p;
	char			*buf = NULL, *line, *next, *eq, *dot;
	size_t			 len = 0, size = 0;
	ssize_t			 n;
	const char		*err;
	int			 i, lineno = 0;

	conf_init(c, &p, file, errbuf, errlen);
	for (;;) {
		if (size - len < 4096) {
			if ((buf = reallocarray(buf, 1, size += 16384)) == NULL)
				fatal("conf_load_fd");
		}
		if ((n = pread(fd, buf + len, size - len - 1, len)) == -1) {
			if (errno == EINTR)
				continue;
			conf_error(&p, 0, "cannot read the configuration from "
			    "petreld: %s", strerror(errno));
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if ((eq = strchr(line, '=')) == NULL ||
		    (dot = memchr(line, '.', eq - line)) == NULL) {
			conf_error(&p, 0, "garbled configuration from petreld "
			    "(line %d)", lineno);
			continue;
		}
		*dot = *eq = '\0';
		for (i = 0; conf_keys[i].name != NULL; i++)
			if (strcmp(conf_keys[i].section, line) == 0 &&
			    strcmp(conf_keys[i].name, dot + 1) == 0)
				break;
		if (conf_keys[i].name == NULL) {
			conf_error(&p, 0, "[%s] unknown key '%s' (from petreld)",
			    line, dot + 1);
			continue;
		}
		if (conf_keys[i].off == O(policy))
			c->policy_given = 1;
		if ((err = conf_set(c, &conf_keys[i], eq + 1)) != NULL)
			conf_error(&p, 0, "[%s] %s = %s: %s", line, dot + 1,
			    eq + 1, err);
		else
			conf_given(c, i, eq + 1);
	}
	free(buf);
	return conf_check(c, &p);
}

/*
 * The keys set, one "section.name=value" a line, for conf_load_fd().
 * A value never holds a newline: inih ends it there.
 */
int
conf_write(const struct petrel_conf *c, FILE *fp)
{
	int	 i;

	for (i = 0; conf_keys[i].name != NULL; i++)
		if (c->given[i] != NULL)
			fprintf(fp, "%s.%s=%s\n", conf_keys[i].section,
			    conf_keys[i].name, c->given[i]);
	return ferror(fp) ? -1 : 0;
}

/* Key i's value as set or by default, for messages. */
const char *
conf_key_text(const struct petrel_conf *c, int i)
{
	return c->given[i] != NULL ? c->given[i] : conf_keys[i].def;
}

/* 1 when key i has the same value in both (however it was written). */
int
conf_key_equal(const struct petrel_conf *a, const struct petrel_conf *b,
    int i)
{
	const struct conf_key *k = &conf_keys[i];
	const void	*fa = (const char *)a + k->off;
	const void	*fb = (const char *)b + k->off;
	int		 j;

	switch (k->type) {
	case CT_STRING:
	case CT_LIST:
	case CT_PATH:
	case CT_RESOLVER:
		return strcmp(*(char * const *)fa, *(char * const *)fb) == 0;
	case CT_BOOL:
	case CT_INT:
	case CT_FACILITY:
		return *(const int *)fa == *(const int *)fb;
	case CT_SIZE:
		return *(const uint64_t *)fa == *(const uint64_t *)fb;
	case CT_DURATION:
		return *(const int64_t *)fa == *(const int64_t *)fb;
	case CT_LISTEN:
		/* parse_hostport() zeroes each address first */
		if (a->smtpd_nlisten != b->smtpd_nlisten)
			return 0;
		for (j = 0; j < a->smtpd_nlisten; j++)
			if (a->smtpd_listen_len[j] != b->smtpd_listen_len[j] ||
			    memcmp(&a->smtpd_listen[j], &b->smtpd_listen[j],
			    a->smtpd_listen_len[j]) != 0)
				return 0;
		return 1;
	case CT_NETS:
		return a->smtpd_nrelay_from == b->smtpd_nrelay_from &&
		    memcmp(a->smtpd_relay_from, b->smtpd_relay_from,
		    a->smtpd_nrelay_from * sizeof(a->smtpd_relay_from[0])) == 0;
	}
	return 0;
}

/* Key i of c takes its value from old (a reload keeping a CK_RESTART key). */
int
conf_keep(struct petrel_conf *c, const struct petrel_conf *old, int i)
{
	if (conf_set(c, &conf_keys[i], conf_key_text(old, i)) != NULL)
		return -1;
	free(c->given[i]);
	c->given[i] = old->given[i] != NULL ? xstrdup(old->given[i]) : NULL;
	return 0;
}

void
conf_free(struct petrel_conf *c)
{
	int	 i;

	for (i = 0; conf_keys[i].name != NULL; i++)
		if (conf_keys[i].type == CT_STRING ||
		    conf_keys[i].type == CT_LIST ||
		    conf_keys[i].type == CT_PATH ||
		    conf_keys[i].type == CT_RESOLVER)
			free(*(char **)((char *)c + conf_keys[i].off));
	if (c->given != NULL)
		for (i = 0; i < (int)CONF_NKEYS; i++)
			free(c->given[i]);
	free(c->given);
	free(c->file);
	free(c->basedir);
	memset(c, 0, sizeof(*c));
}

/* The KEYS section of petrel.conf(5), in mdoc, from the same table. */
void
conf_print_man(void)
{
	const char	*section = "";
	int		 i;

	for (i = 0; conf_keys[i].name != NULL; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (strcmp(section, k->section) != 0) {
			if (*section)
				printf(".El\n");
			section = k->section;
			printf(".Ss [%s]\n.Bl -tag -width Ds\n", section);
		}
		printf(".It Ic %s Ar %s\n%s\n", k->name,
		    conf_type_name(k->type), k->help);
		if (*k->def)
			printf("Default:\n.Ql %s .\n", k->def);
		else
			printf("Default: empty.\n");
		if (k->flags & CK_RESTART)
			printf("A reload keeps the running value; only a "
			    "restart of\n.Xr petreld 8\nchanges it.\n");
	}
	printf(".El\n");
}
