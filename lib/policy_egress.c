/*
 * policy_egress.c - kumo.make_egress_path{} and kumo.make_queue_config{}:
 * every field petrel implements, in one table each with its type,
 * default and help text (petrel-policy(5) is printed from them), and
 * the checks that turn a Lua table into a struct egress or a struct
 * queue_config.  An unknown or mistyped field is an error naming it;
 * KumoMTA's fields that petrel does not implement are accepted with
 * one warning each, so KumoMTA's examples run unchanged.
 *
 * The result is a userdata that owns its C struct (freed by __gc), so
 * an error raised half-way through a table leaks nothing.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "conf.h"
#include "egress.h"
#include "keysource.h"
#include "log.h"
#include "policy_int.h"
#include "smtp.h"
#include "util.h"

#define DUR_MAX		(7 * 86400)	/* timeouts, refresh_interval */
#define DUR_MAX64	(10 * 31557600LL)	/* retries, max_age */

enum ftype {
	F_TLS, F_BOOL, F_STRING, F_DOMAIN, F_KEYSOURCE, F_PORT, F_LIMIT,
	F_COUNT, F_RATE, F_DURATION, F_DURATION64, F_MECHS, F_HOSTS,
	F_ROUTING,
};

struct field {
	const char	*name;
	enum ftype	 type;
	size_t		 off;
	const char	*def;
	const char	*help;
};

#define E(f)	offsetof(struct egress, f)
#define Q(f)	offsetof(struct queue_config, f)

static const struct field egress_fields[] = {
	{ "enable_tls", F_TLS, E(enable_tls), "Opportunistic",
	  "STARTTLS: Opportunistic (if offered; the certificate must verify), OpportunisticInsecure (if offered, not verified; clear text if the handshake fails), Required (must be offered and verify against [deliverd] ca_file and the host name), RequiredInsecure (must be offered, not verified) or Disabled. A failed handshake or verification fails that host and the next MX is tried (OpportunisticInsecure: the same host again in clear text; KumoMTA's opportunistic_tls_reconnect_on_failed_handshake is accepted and ignored)." },
	{ "implicit_tls", F_BOOL, E(implicit_tls), "false",
	  "petrel's own: TLS from the first byte (the port 465 smtps style), with the certificate rules of Required; not verified when enable_tls is RequiredInsecure or OpportunisticInsecure." },
	{ "smtp_auth_plain_username", F_STRING, E(smtp_auth_plain_username),
	  "none", "User name for SMTP AUTH; none: no AUTH." },
	{ "smtp_auth_plain_password", F_KEYSOURCE, E(smtp_auth_plain_password),
	  "none", "Keysource of the AUTH password (see KEYSOURCES); only keysd reads it." },
	{ "allow_smtp_auth_plain_without_tls", F_BOOL,
	  E(allow_smtp_auth_plain_without_tls), "false",
	  "Send AUTH on a connection without TLS." },
	{ "allow_smtp_auth_plain_without_valid_certificate", F_BOOL,
	  E(allow_smtp_auth_plain_without_valid_certificate), "false",
	  "Send AUTH under TLS whose certificate was not verified." },
	{ "smtp_auth_mechanisms", F_MECHS, E(smtp_auth_mechanisms),
	  "{'PLAIN', 'LOGIN'}",
	  "petrel's own: the AUTH mechanisms it may use, of PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER." },
	{ "tls_certificate", F_KEYSOURCE, E(tls_certificate), "none",
	  "Keysource of a TLS client certificate (PEM: the certificate, then its intermediates), presented when the next hop asks for one; set with tls_private_key." },
	{ "tls_private_key", F_KEYSOURCE, E(tls_private_key), "none",
	  "Keysource of the client certificate's private key (RSA or ECDSA): key_file, allowed by [keysd] tls_key_files, or Vault; never key_data. It stays in keysd, which makes the handshake's signature." },
	{ "smtp_port", F_PORT, E(smtp_port), "[deliverd] smtp_port (25)",
	  "Port of the next hops found by MX or named by a routing domain without a port." },
	{ "ehlo_domain", F_DOMAIN, E(ehlo_domain), "[global] hostname",
	  "Name sent with EHLO (or HELO)." },
	{ "connection_limit", F_LIMIT, E(connection_limit), "32",
	  "Connections open at once to the site; a number, or KumoMTA's strings (\"1_000\", \"local:10\")." },
	{ "max_deliveries_per_connection", F_COUNT,
	  E(max_deliveries_per_connection), "1024",
	  "Messages sent over one connection before it is closed." },
	{ "max_message_rate", F_RATE, E(max_message_rate), "none",
	  "Messages per period to the site, \"N/period\" (\"100/s\", \"5000/h\", \"10/minute\"), "
	  "a token bucket holding \",max_burst=N\" tokens (1 when not given): \"5/s\" starts a "
	  "transaction at most every 200 ms. A message waits for its token; waiting is not a failure." },
	{ "max_connection_rate", F_RATE, E(max_connection_rate), "none",
	  "New connections per period to the site, \"N/period\", a token bucket like "
	  "max_message_rate's; reusing a connection takes no token." },
	{ "enable_pipelining", F_BOOL, E(enable_pipelining), "true",
	  "Use PIPELINING when the next hop offers it." },
	{ "enable_rset", F_BOOL, E(enable_rset), "true",
	  "Send RSET between messages on a connection." },
	{ "connect_timeout", F_DURATION, E(connect_timeout), "60s",
	  "Wait for the TCP connection." },
	{ "banner_timeout", F_DURATION, E(banner_timeout), "60s",
	  "Wait for the 220 banner." },
	{ "ehlo_timeout", F_DURATION, E(ehlo_timeout), "300s",
	  "Wait for the reply to EHLO (or HELO)." },
	{ "starttls_timeout", F_DURATION, E(starttls_timeout), "5s",
	  "Wait for the reply to STARTTLS and for the TLS handshake." },
	{ "auth_timeout", F_DURATION, E(auth_timeout), "60s",
	  "Wait for each reply of the AUTH exchange." },
	{ "mail_from_timeout", F_DURATION, E(mail_from_timeout), "300s",
	  "Wait for the reply to MAIL FROM." },
	{ "rcpt_to_timeout", F_DURATION, E(rcpt_to_timeout), "300s",
	  "Wait for the reply to RCPT TO." },
	{ "data_timeout", F_DURATION, E(data_timeout),
	  "[deliverd] data_timeout (30s)",
	  "Wait for the reply to DATA, and longest time no byte of the text can be written." },
	{ "data_dot_timeout", F_DURATION, E(data_dot_timeout),
	  "[deliverd] data_dot_timeout (60s)",
	  "Wait for the reply to the final dot, from when the whole text has been written." },
	{ "idle_timeout", F_DURATION, E(idle_timeout), "60s",
	  "Keep an idle connection this long for the next message." },
	{ "prohibited_hosts", F_HOSTS, E(prohibited_hosts), "{}",
	  "Networks (CIDR strings) that must not be next hops: when the destination's MX has an address in one, its mail fails for good with 550 5.4.4 (as in KumoMTA). Empty by default: petrel refuses its own listeners instead (\"mail loops back to myself\", deferred)." },
	{ "skip_hosts", F_HOSTS, E(skip_hosts), "{}",
	  "Networks (CIDR strings) of MX addresses never to connect to; the next address or MX is used, and an MX of skipped hosts only is a TransientFailure 4.4.4 (KumoMTA's newer behaviour). { '::/0' } keeps delivery off IPv6." },
	{ "suspended", F_BOOL, E(suspended), "false",
	  "Send nothing: messages for the site are held, as KumoMTA holds them: no attempt is "
	  "counted and no TransientFailure logged; they are offered again every 10 s until the "
	  "path is no longer suspended (or max_age passes)." },
	{ "refresh_interval", F_DURATION, E(refresh_interval), "60s",
	  "How long this answer is kept before the handler is asked again." },
	{ NULL, 0, 0, NULL, NULL }
};

static const struct field queue_fields[] = {
	{ "routing_domain", F_ROUTING, Q(routing_domain),
	  "[queued] relayhost, else the recipient's domain",
	  "Where the queue's mail goes: an IP literal ('[192.0.2.1]', '[192.0.2.1]:2526', '[IPv6:::1]') is connected to directly; a name is resolved by MX, then A/AAAA. This is the smart host." },
	{ "retry_interval", F_DURATION64, Q(retry_interval),
	  "[queued] retry_interval (20m)",
	  "First retry delay after a temporary failure; doubles with each attempt." },
	{ "max_retry_interval", F_DURATION64, Q(max_retry_interval),
	  "[queued] max_retry_interval (8h)", "Upper bound of the retry delay." },
	{ "max_age", F_DURATION64, Q(max_age), "[queued] max_age (7d)",
	  "Time after which an undeliverable message expires and is bounced." },
	{ "refresh_interval", F_DURATION, Q(refresh_interval), "60s",
	  "How long this answer is kept before the handler is asked again." },
	{ NULL, 0, 0, NULL, NULL }
};

/* KumoMTA's fields petrel does not implement: accepted, warned about once. */
static const char *egress_ignored[] = {
	"additional_connection_limits", "enable_mta_sts", "enable_dane",
	"tls_prefer_openssl", "openssl_cipher_list", "openssl_cipher_suites",
	"openssl_options", "rustls_cipher_suites", "system_shutdown_timeout",
	"max_ready", "consecutive_connection_failures_before_delay",
	"max_recipients_per_batch", "additional_message_rate_throttles",
	"source_selection_rate", "additional_source_selection_rates",
	"ip_lookup_strategy", "aggressive_connection_opening",
	"refresh_strategy", "dispatcher_wakeup_strategy",
	"maintainer_wakeup_strategy", "provider_name", "remember_broken_tls",
	"opportunistic_tls_reconnect_on_failed_handshake", "use_lmtp",
	"reconnect_strategy", "readyq_pool_name",
	"low_memory_reduction_policy", "no_memory_reduction_policy",
	"try_next_host_on_transport_error", "ignore_8bit_checks",
	"dispatcher_progress_watchdog_timeout", "rset_timeout", NULL
};
static const char *queue_ignored[] = {
	"egress_pool", "max_message_rate", "reap_interval",
	"timerwheel_tick_interval", "strategy", "refresh_strategy",
	"provider_name", "shrink_policy", NULL
};

static const char *tls_modes[] = {
	[TLS_OPPORTUNISTIC] = "Opportunistic",
	[TLS_OPPORTUNISTIC_INSECURE] = "OpportunisticInsecure",
	[TLS_REQUIRED] = "Required",
	[TLS_REQUIRED_INSECURE] = "RequiredInsecure",
	[TLS_DISABLED] = "Disabled",
};

static const char *auth_mechs[] = {
	"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", NULL
};

/* A value for an error message: 'text', a number, or its type. */
static const char *
describe(lua_State *L, int idx, char *buf, size_t len)
{
	switch (lua_type(L, idx)) {
	case LUA_TSTRING:
		snprintf(buf, len, "'%.60s%s'", lua_tostring(L, idx),
		    lua_rawlen(L, idx) > 60 ? "..." : "");
		break;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			snprintf(buf, len, "%lld",
			    (long long)lua_tointeger(L, idx));
		else
			snprintf(buf, len, "%g", lua_tonumber(L, idx));
		break;
	case LUA_TBOOLEAN:
		snprintf(buf, len, "%s", lua_toboolean(L, idx) ? "true" :
		    "false");
		break;
	default:
		snprintf(buf, len, "a %s", luaL_typename(L, idx));
	}
	return buf;
}

/* A duration: seconds (a number) or a string ("60s", "5 min", "1h"). */
static int
get_duration(lua_State *L, int idx, int64_t max, int64_t *out, char *err,
    size_t errlen)
{
	char		 d[128];
	int64_t		 v = -1;
	lua_Number	 n;

	if (lua_type(L, idx) == LUA_TNUMBER) {
		if (lua_isinteger(L, idx))
			v = lua_tointeger(L, idx);
		else if (isfinite(n = lua_tonumber(L, idx)) && n >= 0 &&
		    n < (lua_Number)max + 1)
			v = (int64_t)ceil(n);
	} else if (lua_type(L, idx) == LUA_TSTRING) {
		if (parse_duration(lua_tostring(L, idx), &v) == -1)
			v = -1;
	}
	if (v < 1 || v > max) {
		snprintf(err, errlen, "expected a duration from 1s to %llds "
		    "(seconds, or a string such as \"60s\", \"5 min\", "
		    "\"1h\", \"2 days\"), got %s", (long long)max,
		    describe(L, idx, d, sizeof(d)));
		return -1;
	}
	*out = v;
	return 0;
}

/*
 * An OAuth2 keysource's nested one (oauth2_client_secret = { ... }),
 * the table at -1: each key as "name.key", so keysource.c checks it
 * (and refuses another table inside).
 */
static int
set_nested(lua_State *L, struct keysource *ks, const char *name, char *err,
    size_t errlen)
{
	const char	*v;
	size_t		 len;
	int		 idx = lua_absindex(L, -1);
	char		 k[128], d[128];

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			snprintf(err, errlen, "%s: keysource keys are names, "
			    "got %s", name, describe(L, -2, d, sizeof(d)));
			lua_pop(L, 2);
			return -1;
		}
		if (lua_type(L, -1) != LUA_TSTRING) {
			snprintf(err, errlen, "%s.%s: expected a string, got "
			    "a %s", name, lua_tostring(L, -2),
			    luaL_typename(L, -1));
			lua_pop(L, 2);
			return -1;
		}
		snprintf(k, sizeof(k), "%s.%s", name, lua_tostring(L, -2));
		v = lua_tolstring(L, -1, &len);
		if (keysource_set(ks, k, v, len, err, errlen) == -1) {
			lua_pop(L, 2);
			return -1;
		}
		lua_pop(L, 1);
	}
	return 0;
}

/* The table form of a keysource, through keysource.c's one parser. */
static struct keysource *
get_keysource(lua_State *L, int idx, char *err, size_t errlen)
{
	struct keysource *ks;
	const char	*v;
	size_t		 len;
	char		 d[128];

	if (lua_type(L, idx) == LUA_TSTRING)
		return keysource_file(lua_tostring(L, idx), err, errlen);
	if (lua_type(L, idx) != LUA_TTABLE) {
		snprintf(err, errlen, "expected a keysource (a file path or "
		    "a table), got %s", describe(L, idx, d, sizeof(d)));
		return NULL;
	}
	ks = keysource_new();
	idx = lua_absindex(L, idx);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			snprintf(err, errlen, "keysource keys are names, got "
			    "%s", describe(L, -2, d, sizeof(d)));
			goto bad;
		}
		if (lua_type(L, -1) == LUA_TTABLE &&
		    strncmp(lua_tostring(L, -2), "oauth2_", 7) == 0) {
			/* a nested keysource: its keys one by one */
			if (set_nested(L, ks, lua_tostring(L, -2), err,
			    errlen) == -1)
				goto bad;
			lua_pop(L, 1);
			continue;
		}
		if (lua_type(L, -1) != LUA_TSTRING) {
			/* never echo a value: it may be a secret */
			snprintf(err, errlen, "%s: expected a string, got a %s",
			    lua_tostring(L, -2), luaL_typename(L, -1));
			goto bad;
		}
		v = lua_tolstring(L, -1, &len);
		if (keysource_set(ks, lua_tostring(L, -2), v, len, err,
		    errlen) == -1)
			goto bad;
		lua_pop(L, 1);
	}
	if (keysource_check(ks, err, errlen) == -1) {
		keysource_free(ks);
		return NULL;
	}
	return ks;
bad:
	lua_pop(L, 2);
	keysource_free(ks);
	return NULL;
}

/* An array of strings, each checked by ok(); stored NULL-ended. */
static int
get_list(lua_State *L, int idx, char **out, int max,
    int (*ok)(const char *), const char *what, char *err, size_t errlen)
{
	char		 d[128];
	lua_Integer	 i, n;

	if (lua_type(L, idx) != LUA_TTABLE) {
		snprintf(err, errlen, "expected a list of %s, got %s", what,
		    describe(L, idx, d, sizeof(d)));
		return -1;
	}
	n = luaL_len(L, idx);
	if (n > max - 1) {
		snprintf(err, errlen, "at most %d %s", max - 1, what);
		return -1;
	}
	for (i = 1; i <= n; i++) {
		lua_geti(L, idx, i);
		if (lua_type(L, -1) != LUA_TSTRING || !ok(lua_tostring(L, -1))) {
			snprintf(err, errlen, "item %lld: expected %s, got %s",
			    (long long)i, what, describe(L, -1, d, sizeof(d)));
			lua_pop(L, 1);
			return -1;
		}
		out[i - 1] = xstrdup(lua_tostring(L, -1));
		lua_pop(L, 1);
	}
	return 0;
}

static int
is_mech(const char *s)
{
	int	 i;

	for (i = 0; auth_mechs[i] != NULL; i++)
		if (strcmp(s, auth_mechs[i]) == 0)
			return 1;
	return 0;
}

static int
is_cidr(const char *s)
{
	struct netmask	 nm;

	return parse_netmask(s, &nm) == 0;
}

static int
is_positive_int(lua_State *L, int idx, lua_Integer max, lua_Integer *out)
{
	lua_Integer	 v;

	if (!lua_isinteger(L, idx)) {
		if (lua_type(L, idx) != LUA_TNUMBER)
			return 0;
		/* 32.0 is 32 */
		if (!lua_numbertointeger(floor(lua_tonumber(L, idx)), &v) ||
		    (lua_Number)v != lua_tonumber(L, idx))
			return 0;
	} else
		v = lua_tointeger(L, idx);
	if (v < 1 || v > max)
		return 0;
	*out = v;
	return 1;
}

/* The value at idx into the field's place in base; -1 with err. */
static int
field_set(lua_State *L, int idx, const struct field *f, void *base,
    char *err, size_t errlen)
{
	void		*dst = (char *)base + f->off;
	char		 d[128];
	lua_Integer	 iv;
	int64_t		 dv;
	uint64_t	 n, period, burst;
	int		 i;

	switch (f->type) {
	case F_TLS:
		if (lua_type(L, idx) == LUA_TSTRING)
			for (i = 0; i < (int)(sizeof(tls_modes) /
			    sizeof(tls_modes[0])); i++)
				if (strcmp(lua_tostring(L, idx),
				    tls_modes[i]) == 0) {
					*(enum tls_mode *)dst = i;
					return 0;
				}
		snprintf(err, errlen, "expected one of 'Opportunistic', "
		    "'OpportunisticInsecure', 'Required', 'RequiredInsecure', "
		    "'Disabled', got %s", describe(L, idx, d, sizeof(d)));
		return -1;
	case F_BOOL:
		if (lua_type(L, idx) != LUA_TBOOLEAN) {
			snprintf(err, errlen, "expected true or false, got %s",
			    describe(L, idx, d, sizeof(d)));
			return -1;
		}
		*(int *)dst = lua_toboolean(L, idx);
		return 0;
	case F_STRING:
		if (lua_type(L, idx) != LUA_TSTRING || lua_rawlen(L, idx) == 0 ||
		    lua_rawlen(L, idx) != strlen(lua_tostring(L, idx))) {
			snprintf(err, errlen, "expected a non-empty string, "
			    "got %s", describe(L, idx, d, sizeof(d)));
			return -1;
		}
		*(char **)dst = xstrdup(lua_tostring(L, idx));
		return 0;
	case F_DOMAIN:
		if (lua_type(L, idx) != LUA_TSTRING ||
		    lua_rawlen(L, idx) >= sizeof(((struct egress *)0)->ehlo_domain) ||
		    smtp_parse_domain(lua_tostring(L, idx), 1) == -1) {
			snprintf(err, errlen, "expected a domain name or an "
			    "address literal, got %s",
			    describe(L, idx, d, sizeof(d)));
			return -1;
		}
		strlcpy(dst, lua_tostring(L, idx),
		    sizeof(((struct egress *)0)->ehlo_domain));
		return 0;
	case F_ROUTING:
		if (lua_type(L, idx) != LUA_TSTRING ||
		    lua_rawlen(L, idx) >= POLICY_DOMAIN_MAX ||
		    smtp_parse_routing_domain(lua_tostring(L, idx)) == -1) {
			snprintf(err, errlen, "expected '[ADDR]', "
			    "'[ADDR]:PORT', '[IPv6:ADDR]' or a domain name, "
			    "got %s", describe(L, idx, d, sizeof(d)));
			return -1;
		}
		strlcpy(dst, lua_tostring(L, idx), POLICY_DOMAIN_MAX);
		return 0;
	case F_KEYSOURCE:
		return (*(struct keysource **)dst = get_keysource(L, idx, err,
		    errlen)) == NULL ? -1 : 0;
	case F_LIMIT:
		if (lua_type(L, idx) == LUA_TSTRING &&
		    parse_limit(lua_tostring(L, idx), &n) == 0 &&
		    n <= 1000000) {
			*(int *)dst = n;
			return 0;
		}
		/* FALLTHROUGH */
	case F_PORT:
	case F_COUNT:
		iv = f->type == F_PORT ? 65535 : 1000000;
		if (!is_positive_int(L, idx, iv, &iv)) {
			snprintf(err, errlen, "expected a %s from 1 to %d, "
			    "got %s", f->type == F_PORT ? "port number" :
			    "number", f->type == F_PORT ? 65535 : 1000000,
			    describe(L, idx, d, sizeof(d)));
			return -1;
		}
		*(int *)dst = iv;
		return 0;
	case F_RATE:
		if (lua_type(L, idx) != LUA_TSTRING ||
		    parse_rate(lua_tostring(L, idx), &n, &period, &burst) == -1) {
			snprintf(err, errlen, "expected a rate \"N/period\" "
			    "such as \"100/s\", \"5000/h\" or \"10/minute\", "
			    "got %s", describe(L, idx, d, sizeof(d)));
			return -1;
		}
		((struct egress_rate *)dst)->n = n;
		((struct egress_rate *)dst)->period = period;
		((struct egress_rate *)dst)->max_burst = burst;
		return 0;
	case F_DURATION:
		if (get_duration(L, idx, DUR_MAX, &dv, err, errlen) == -1)
			return -1;
		*(int *)dst = dv;
		return 0;
	case F_DURATION64:
		return get_duration(L, idx, DUR_MAX64, dst, err, errlen);
	case F_MECHS:
		return get_list(L, idx, dst, EGRESS_MAX_MECHS, is_mech,
		    "'PLAIN', 'LOGIN', 'XOAUTH2' or 'OAUTHBEARER'", err,
		    errlen);
	case F_HOSTS:
		return get_list(L, idx, dst, EGRESS_MAX_HOSTS, is_cidr,
		    "a network (CIDR)", err, errlen);
	}
	snprintf(err, errlen, "unknown field type");
	return -1;
}

/* Once per process and name: "it is KumoMTA's, petrel ignores it". */
static int
ignored(const char *what, const char **list, const char *name)
{
	static unsigned char warned[2][64];
	int	 i, w = list == queue_ignored;

	for (i = 0; list[i] != NULL; i++) {
		if (strcmp(list[i], name) != 0)
			continue;
		if (i < 64 && !warned[w][i]) {
			warned[w][i] = 1;
			log_warnx("policy: %s: '%s' is a KumoMTA field petrel "
			    "does not implement; ignored", what, name);
		}
		return 1;
	}
	return 0;
}

/*
 * Fill base from the table at index 1, field by field; raises the
 * first error as "what: field: problem".
 */
static void
fill(lua_State *L, const char *what, const struct field *fields,
    const char **skip, void *base)
{
	const struct field *f;
	char		 err[512], d[128];
	const char	*name;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_pushnil(L);
	while (lua_next(L, 1) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING)
			luaL_error(L, "%s: field names are strings, got %s",
			    what, describe(L, -2, d, sizeof(d)));
		name = lua_tostring(L, -2);
		/* "smtp_port\0x" is not smtp_port (nor set it twice) */
		if (strlen(name) != lua_rawlen(L, -2))
			luaL_error(L, "%s: unknown field '%s' (with a NUL "
			    "byte)", what, name);
		for (f = fields; f->name != NULL; f++)
			if (strcmp(f->name, name) == 0)
				break;
		if (f->name == NULL) {
			if (strcmp(what, "make_queue_config") == 0 &&
			    strcmp(name, "protocol") == 0)
				luaL_error(L, "%s: protocol: not supported by "
				    "petrel (set routing_domain to the smart "
				    "host)", what);
			if (!ignored(what, skip, name))
				luaL_error(L, "%s: unknown field '%s'", what,
				    name);
		} else {
			if (field_set(L, lua_gettop(L), f, base, err,
			    sizeof(err)) == -1)
				luaL_error(L, "%s: %s: %s", what, name, err);
		}
		lua_pop(L, 1);
	}
}

static int
egress_gc(lua_State *L)
{
	egress_clear(luaL_checkudata(L, 1, EGRESS_MT));
	return 0;
}

static int
l_make_egress_path(lua_State *L)
{
	struct egress	*eg;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	eg = lua_newuserdatauv(L, sizeof(*eg), 0);
	egress_defaults(eg, policy_of(L)->conf);
	luaL_setmetatable(L, EGRESS_MT);
	fill(L, "make_egress_path", egress_fields, egress_ignored, eg);
	/*
	 * A client certificate is a pair.  Its key may not be inline: the
	 * policy is read by every process, and the key is keysd's alone.
	 */
	if ((eg->tls_certificate == NULL) != (eg->tls_private_key == NULL))
		luaL_error(L, "make_egress_path: %s: set with %s, or neither",
		    eg->tls_certificate ? "tls_certificate" : "tls_private_key",
		    eg->tls_certificate ? "tls_private_key" : "tls_certificate");
	if (eg->tls_private_key != NULL &&
	    eg->tls_private_key->kind == KS_DATA)
		luaL_error(L, "make_egress_path: tls_private_key: key_data "
		    "would put the private key in the policy, which every "
		    "process reads (use key_file or Vault)");
	if ((eg->tls_private_key != NULL &&
	    eg->tls_private_key->kind == KS_OAUTH2) ||
	    (eg->tls_certificate != NULL &&
	    eg->tls_certificate->kind == KS_OAUTH2))
		luaL_error(L, "make_egress_path: %s: an OAuth2 token is no "
		    "certificate or key", eg->tls_certificate->kind ==
		    KS_OAUTH2 ? "tls_certificate" : "tls_private_key");
	return 1;
}

static int
l_make_queue_config(lua_State *L)
{
	const struct petrel_conf *conf = policy_of(L)->conf;
	struct queue_config *qc;

	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	qc = lua_newuserdatauv(L, sizeof(*qc), 0);
	memset(qc, 0, sizeof(*qc));
	qc->retry_interval = conf->queued_retry_interval;
	qc->max_retry_interval = conf->queued_max_retry_interval;
	qc->max_age = conf->queued_max_age;
	qc->refresh_interval = 60;
	luaL_setmetatable(L, QUEUE_MT);
	fill(L, "make_queue_config", queue_fields, queue_ignored, qc);
	if (qc->max_retry_interval < qc->retry_interval) {
		if (lua_getfield(L, 1, "max_retry_interval") != LUA_TNIL)
			luaL_error(L, "make_queue_config: max_retry_interval "
			    "is shorter than retry_interval");
		lua_pop(L, 1);
		qc->max_retry_interval = qc->retry_interval;
	}
	return 1;
}

static int
l_tostring(lua_State *L)
{
	lua_pushstring(L, luaL_testudata(L, 1, EGRESS_MT) ?
	    "EgressPathConfig" : "QueueConfig");
	return 1;
}

void
policy_egress_register(lua_State *L, int kumo)
{
	kumo = lua_absindex(L, kumo);
	luaL_newmetatable(L, EGRESS_MT);
	lua_pushcfunction(L, egress_gc);
	lua_setfield(L, -2, "__gc");
	lua_pushcfunction(L, l_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushliteral(L, "EgressPathConfig");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
	luaL_newmetatable(L, QUEUE_MT);
	lua_pushcfunction(L, l_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushliteral(L, "QueueConfig");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
	lua_pushcfunction(L, l_make_egress_path);
	lua_setfield(L, kumo, "make_egress_path");
	lua_pushcfunction(L, l_make_queue_config);
	lua_setfield(L, kumo, "make_queue_config");
}

/* A handler's result: 0 and a copy in *out, or -1 when it is none. */
int
policy_egress_result(lua_State *L, int idx, struct egress *out)
{
	struct egress	*eg;

	if ((eg = luaL_testudata(L, idx, EGRESS_MT)) == NULL)
		return -1;
	egress_copy(out, eg);
	return 0;
}

int
policy_queue_result(lua_State *L, int idx, struct queue_config *out)
{
	struct queue_config *qc;

	if ((qc = luaL_testudata(L, idx, QUEUE_MT)) == NULL)
		return -1;
	*out = *qc;
	return 0;
}

/* A rate as make_egress_path takes it: "100/s", "10/5min,max_burst=3". */
static json_t *
rate_json(const struct egress_rate *r)
{
	static const struct { const char *name; uint64_t secs; } units[] = {
		{ "d", 86400 }, { "h", 3600 }, { "min", 60 }, { "s", 1 },
	};
	char		 buf[128], burst[48] = "", scale[24] = "";
	uint64_t	 p = r->period > 1 ? (uint64_t)r->period : 1;
	size_t		 i;

	if (r->n == 0)
		return json_null();
	for (i = 0; p % units[i].secs != 0; i++)
		;
	if (p / units[i].secs != 1)
		snprintf(scale, sizeof(scale), "%llu",
		    (unsigned long long)(p / units[i].secs));
	if (r->max_burst > 0)
		snprintf(burst, sizeof(burst), ",max_burst=%llu",
		    (unsigned long long)r->max_burst);
	snprintf(buf, sizeof(buf), "%llu/%s%s%s", (unsigned long long)r->n,
	    scale, units[i].name, burst);
	return json_string(buf);
}

static json_t *
list_json(char *const *list, int max)
{
	json_t	*a = json_array();
	int	 i;

	for (i = 0; i < max && list[i] != NULL; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

/*
 * Every field of the table with its value, for petrel resolve:
 * durations in seconds, rates as strings, keysources as
 * keysource_label() (never the secret), an unset one as null.  Walks
 * the same table as make_egress_path, so a new field shows up here by
 * itself.
 */
json_t *
policy_egress_json(const struct egress *eg)
{
	static char	*dflt_mechs[] = { "PLAIN", "LOGIN", NULL };
	const struct field *f;
	const void	*v;
	const struct keysource *ks;
	json_t		*o = json_object(), *j;
	char		 buf[1024];

	for (f = egress_fields; f->name != NULL; f++) {
		v = (const char *)eg + f->off;
		switch (f->type) {
		case F_TLS:
			j = json_string(tls_modes[*(const enum tls_mode *)v]);
			break;
		case F_BOOL:
			j = json_boolean(*(const int *)v);
			break;
		case F_STRING:
			j = *(char *const *)v != NULL ?
			    json_string(*(char *const *)v) : json_null();
			break;
		case F_DOMAIN:
		case F_ROUTING:
			j = json_string(v);
			break;
		case F_KEYSOURCE:
			ks = *(struct keysource *const *)v;
			j = ks == NULL ? json_null() :
			    json_string(keysource_label(ks, buf, sizeof(buf)));
			break;
		case F_PORT:
		case F_LIMIT:
		case F_COUNT:
		case F_DURATION:
			j = json_integer(*(const int *)v);
			break;
		case F_DURATION64:
			j = json_integer(*(const int64_t *)v);
			break;
		case F_RATE:
			j = rate_json(v);
			break;
		case F_MECHS:
			/* none given: what auth.c then allows */
			j = list_json(*(char *const *)v != NULL ? v :
			    (void *)dflt_mechs, EGRESS_MAX_MECHS);
			break;
		case F_HOSTS:
			j = list_json(v, EGRESS_MAX_HOSTS);
			break;
		default:
			j = json_null();
			break;
		}
		/* a string that is no UTF-8 (a path) makes no JSON string */
		json_object_set_new(o, f->name, j != NULL ? j : json_null());
	}
	return o;
}

static const char *
ftype_name(enum ftype t)
{
	switch (t) {
	case F_TLS:		return "string";
	case F_BOOL:		return "boolean";
	case F_STRING:		return "string";
	case F_DOMAIN:		return "string";
	case F_KEYSOURCE:	return "keysource";
	case F_PORT:		return "port";
	case F_LIMIT:		return "limit";
	case F_COUNT:		return "number";
	case F_RATE:		return "rate";
	case F_DURATION:
	case F_DURATION64:	return "duration";
	case F_MECHS:		return "list";
	case F_HOSTS:		return "list";
	case F_ROUTING:		return "string";
	}
	return "?";
}

static void
print_fields(const char *title, const struct field *fields,
    const char **skip)
{
	const struct field *f;
	int		 i;

	printf(".Ss %s\n.Bl -tag -width Ds\n", title);
	for (f = fields; f->name != NULL; f++)
		printf(".It Ic %s Ar %s\n%s\nDefault: %s.\n", f->name,
		    ftype_name(f->type), f->help, f->def);
	printf(".El\n.Pp\nAccepted and ignored, with one warning each "
	    "(KumoMTA's, not implemented by petrel):\n");
	for (i = 0; skip[i] != NULL; i++)
		printf(".Ic %s%s\n", skip[i], skip[i + 1] != NULL ? " ," : " .");
}

/* The FIELDS section of petrel-policy(5), from the same tables. */
void
policy_print_man(void)
{
	print_fields("kumo.make_egress_path", egress_fields, egress_ignored);
	print_fields("kumo.make_queue_config", queue_fields, queue_ignored);
}
