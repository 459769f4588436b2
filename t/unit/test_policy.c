/*
 * test_policy.c - the Lua policy engine: durations, rates, limits,
 * every kind of make_egress_path error, keysources, make_queue_config,
 * the two get_egress_path_config signatures, caching, the instruction
 * limit, the sandbox and the kumo module.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf.h"
#include "egress.h"
#include "keysource.h"
#include "log.h"
#include "policy.h"
#include "util.h"

static char	 dir[64], file[PATH_MAX], err[2048];
static struct petrel_conf conf;
static struct policy *pol;

static void
setup(void)
{
	char	 tmpl[] = "/tmp/petrel-policy-XXXXXX";

	log_init("unit", 0, 0);		/* the policy's warnings: not here */
	cr_assert_not_null(mkdtemp(tmpl));
	strlcpy(dir, tmpl, sizeof(dir));
	snprintf(file, sizeof(file), "%s/policy.lua", dir);
	memset(&conf, 0, sizeof(conf));
	conf.file = "/etc/petrel/petrel.conf";
	conf.hostname = "mx.petrel.test";
	conf.deliverd_smtp_port = 25;
	conf.deliverd_data_timeout = 30;
	conf.deliverd_data_dot_timeout = 60;
	conf.queued_retry_interval = 1200;
	conf.queued_max_retry_interval = 28800;
	conf.queued_max_age = 604800;
	err[0] = '\0';
	pol = NULL;
}

static void
teardown(void)
{
	char	 p[PATH_MAX + 16];

	policy_free(pol);
	unlink(file);
	snprintf(p, sizeof(p), "%s/data.json", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/helper.lua", dir);
	unlink(p);
	rmdir(dir);
}

TestSuite(policy, .init = setup, .fini = teardown);

static void
write_policy(const char *fmt, ...)
{
	FILE	*f;
	va_list	 ap;

	cr_assert_not_null(f = fopen(file, "w"));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

/* Load a policy from its text; NULL (and err) when it does not load. */
static struct policy *
load(const char *text)
{
	write_policy("%s", text);
	policy_free(pol);
	pol = policy_load(file, &conf, err, sizeof(err));
	return pol;
}

/* A policy whose egress handler returns make_egress_path{FIELDS}. */
static int
egress_with(const char *fields, struct egress *eg)
{
	char	 text[4096];

	snprintf(text, sizeof(text),
	    "kumo.on('get_egress_path_config', function(domain, site)\n"
	    "  return kumo.make_egress_path{ %s }\n"
	    "end)\n", fields);
	cr_assert_not_null(load(text), "load: %s", err);
	return policy_egress(pol, "example.com", "mx.example.com", eg, err,
	    sizeof(err));
}

static void
egress_ok(const char *fields, struct egress *eg)
{
	cr_assert_eq(egress_with(fields, eg), 0, "%s: %s", fields, err);
}

/* The field is refused with a message containing want (and file:2:). */
static void
egress_bad(const char *fields, const char *want)
{
	struct egress	 eg;
	char		 where[PATH_MAX + 8];

	cr_assert_eq(egress_with(fields, &eg), -1, "%s accepted", fields);
	cr_assert(strstr(err, want) != NULL, "%s: '%s' does not say '%s'",
	    fields, err, want);
	snprintf(where, sizeof(where), "%s:2: ", file);
	cr_assert(strncmp(err, where, strlen(where)) == 0,
	    "'%s' does not start with %s", err, where);
}

Test(policy, defaults_without_a_handler)
{
	struct egress	 eg;

	cr_assert_not_null(load("-- nothing\n"));
	cr_assert_eq(policy_egress(pol, "example.com", "example.com", &eg, err,
	    sizeof(err)), 0);
	cr_assert_eq(eg.enable_tls, TLS_OPPORTUNISTIC);
	cr_assert_eq(eg.smtp_port, 25);
	cr_assert_str_eq(eg.ehlo_domain, "mx.petrel.test");
	cr_assert_eq(eg.connection_limit, 32);
	cr_assert_eq(eg.max_deliveries_per_connection, 1024);
	cr_assert_eq(eg.enable_pipelining, 1);
	cr_assert_eq(eg.data_timeout, 30);
	cr_assert_eq(eg.refresh_interval, 60);
	egress_clear(&eg);
}

Test(policy, no_policy_file)
{
	struct egress	 eg;
	struct queue_config qc;

	pol = policy_load(NULL, &conf, err, sizeof(err));
	cr_assert_not_null(pol);
	cr_assert_null(policy_file(pol));
	cr_assert_eq(policy_egress(pol, "a.test", "a.test", &eg, err,
	    sizeof(err)), 0);
	cr_assert_eq(eg.connect_timeout, 60);
	egress_clear(&eg);
	cr_assert_eq(policy_queue(pol, "a.test", NULL, NULL, "[127.0.0.1]:26",
	    &qc, err, sizeof(err)), 0);
	cr_assert_str_eq(qc.routing_domain, "[127.0.0.1]:26");
	cr_assert_eq(qc.retry_interval, 1200);
	cr_assert_eq(qc.max_age, 604800);
	cr_assert_eq(policy_probe(pol, err, sizeof(err)), 0);
}

Test(policy, open_default_absent_explicit_missing)
{
	char	 missing[PATH_MAX + 16];

	snprintf(missing, sizeof(missing), "%s/none.lua", dir);
	conf.policy = missing;
	conf.policy_given = 0;
	pol = policy_open(&conf, err, sizeof(err));
	cr_assert_not_null(pol, "an absent default is no policy: %s", err);
	cr_assert_null(policy_file(pol));
	policy_free(pol);
	conf.policy_given = 1;
	pol = policy_open(&conf, err, sizeof(err));
	cr_assert_null(pol, "a missing file named in petrel.conf is an error");
	cr_assert(strstr(err, "[global] policy = ") != NULL, "%s", err);
	cr_assert(strstr(err, "No such file") != NULL, "%s", err);
	conf.policy = "";
	pol = policy_open(&conf, err, sizeof(err));
	cr_assert_not_null(pol);
	cr_assert_null(policy_file(pol));
}

Test(policy, durations)
{
	static const struct { const char *v; int secs; } ok[] = {
		{ "30", 30 }, { "'60s'", 60 }, { "'5 min'", 300 },
		{ "'1h'", 3600 }, { "'2 days'", 172800 }, { "'1h 30m'", 5400 },
		{ "1.5", 2 }, { "'90 seconds'", 90 }, { "'1 week'", 604800 },
	};
	static const char *bad[] = {
		"'soon'", "-1", "0", "true", "'8 days'", "'5 parsecs'", "{}",
		"'1.5h'",
	};
	struct egress	 eg;
	char		 f[128];
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(f, sizeof(f), "connect_timeout = %s", ok[i].v);
		egress_ok(f, &eg);
		cr_assert_eq(eg.connect_timeout, ok[i].secs, "%s: %d", f,
		    eg.connect_timeout);
		egress_clear(&eg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(f, sizeof(f), "idle_timeout = %s", bad[i]);
		egress_bad(f, "make_egress_path: idle_timeout: expected a "
		    "duration");
	}
}

Test(policy, duration_words_util)
{
	int64_t	 v;

	cr_assert_eq(parse_duration("1 year", &v), 0);
	cr_assert_eq(v, 31557600);
	cr_assert_eq(parse_duration("2 months", &v), 0);
	cr_assert_eq(v, 2 * 2630016);
	cr_assert_eq(parse_duration("3wks", &v), 0);
	cr_assert_eq(v, 3 * 604800);
	cr_assert_eq(parse_duration("300000000000 years", &v), -1);
}

Test(policy, rates)
{
	static const struct {
		const char *s;
		uint64_t n, period, burst;
	} ok[] = {
		{ "100/s", 100, 1, 0 }, { "5000/h", 5000, 3600, 0 },
		{ "10/minute", 10, 60, 0 }, { "1,000/hr", 1000, 3600, 0 },
		{ "1_000/day", 1000, 86400, 0 }, { "local:5/10min", 5, 600, 0 },
		{ "100/s,max_burst=20", 100, 1, 20 }, { "7/sec", 7, 1, 0 },
	};
	static const char *bad[] = {
		"100", "100/fortnight", "0/s", "/s", "x/s", "100/", "100/0s",
		"-5/s", "100/s,max_burst=", "",
	};
	uint64_t	 n, period, burst;
	size_t		 i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(parse_rate(ok[i].s, &n, &period, &burst), 0,
		    "%s", ok[i].s);
		cr_assert_eq(n, ok[i].n, "%s", ok[i].s);
		cr_assert_eq(period, ok[i].period, "%s", ok[i].s);
		cr_assert_eq(burst, ok[i].burst, "%s", ok[i].s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(parse_rate(bad[i], &n, &period, &burst), -1,
		    "'%s' accepted", bad[i]);
}

Test(policy, rates_and_limits_in_lua)
{
	struct egress	 eg;

	egress_ok("max_message_rate = '100/s', max_connection_rate = "
	    "'10/minute', connection_limit = '1_000'", &eg);
	cr_assert_eq(eg.max_message_rate.n, 100);
	cr_assert_eq(eg.max_message_rate.period, 1);
	cr_assert_eq(eg.max_connection_rate.n, 10);
	cr_assert_eq(eg.max_connection_rate.period, 60);
	cr_assert_eq(eg.connection_limit, 1000);
	egress_clear(&eg);
	egress_ok("connection_limit = 'local:10', max_deliveries_per_connection"
	    " = 5.0", &eg);
	cr_assert_eq(eg.connection_limit, 10);
	cr_assert_eq(eg.max_deliveries_per_connection, 5);
	egress_clear(&eg);
	egress_bad("max_message_rate = '100'", "make_egress_path: "
	    "max_message_rate: expected a rate \"N/period\"");
	egress_bad("max_message_rate = 100", "max_message_rate: expected a rate");
	egress_bad("connection_limit = 0", "make_egress_path: connection_limit: "
	    "expected a number from 1 to 1000000, got 0");
	egress_bad("connection_limit = -5", "connection_limit: expected a number");
	egress_bad("connection_limit = 'many'", "got 'many'");
	egress_bad("max_deliveries_per_connection = 2.5",
	    "max_deliveries_per_connection: expected a number");
}

Test(policy, every_field)
{
	struct egress	 eg;

	egress_ok("enable_tls = 'Required', implicit_tls = true, "
	    "smtp_auth_plain_username = 'joe', "
	    "smtp_auth_plain_password = '/etc/petrel/keys/joe', "
	    "allow_smtp_auth_plain_without_tls = true, "
	    "allow_smtp_auth_plain_without_valid_certificate = true, "
	    "smtp_auth_mechanisms = { 'LOGIN' }, "
	    "tls_certificate = { key_file = '/etc/petrel/keys/c.pem' }, "
	    "tls_private_key = { vault_mount = 'secret', vault_path = 'k' }, "
	    "smtp_port = 2525, ehlo_domain = 'out.example.net', "
	    "connection_limit = 3, max_deliveries_per_connection = 7, "
	    "enable_pipelining = false, enable_rset = false, "
	    "connect_timeout = 1, banner_timeout = 2, ehlo_timeout = 3, "
	    "starttls_timeout = 4, auth_timeout = 5, mail_from_timeout = 6, "
	    "rcpt_to_timeout = 7, data_timeout = 8, data_dot_timeout = 9, "
	    "idle_timeout = 10, prohibited_hosts = { '10.0.0.0/8', '::1' }, "
	    "skip_hosts = { '192.0.2.1' }, suspended = true, "
	    "refresh_interval = '5m'", &eg);
	cr_assert_eq(eg.enable_tls, TLS_REQUIRED);
	cr_assert_eq(eg.implicit_tls, 1);
	cr_assert_str_eq(eg.smtp_auth_plain_username, "joe");
	cr_assert_eq(eg.smtp_auth_plain_password->kind, KS_FILE);
	cr_assert_str_eq(eg.smtp_auth_plain_password->path,
	    "/etc/petrel/keys/joe");
	cr_assert_eq(eg.allow_smtp_auth_plain_without_tls, 1);
	cr_assert_eq(eg.allow_smtp_auth_plain_without_valid_certificate, 1);
	cr_assert_str_eq(eg.smtp_auth_mechanisms[0], "LOGIN");
	cr_assert_null(eg.smtp_auth_mechanisms[1]);
	cr_assert_eq(eg.tls_certificate->kind, KS_FILE);
	cr_assert_eq(eg.tls_private_key->kind, KS_VAULT);
	cr_assert_str_eq(eg.tls_private_key->vault_key, "key");
	cr_assert_eq(eg.smtp_port, 2525);
	cr_assert_str_eq(eg.ehlo_domain, "out.example.net");
	cr_assert_eq(eg.connection_limit, 3);
	cr_assert_eq(eg.max_deliveries_per_connection, 7);
	cr_assert_eq(eg.enable_pipelining, 0);
	cr_assert_eq(eg.enable_rset, 0);
	cr_assert_eq(eg.connect_timeout + eg.banner_timeout + eg.ehlo_timeout +
	    eg.starttls_timeout + eg.auth_timeout + eg.mail_from_timeout +
	    eg.rcpt_to_timeout + eg.data_timeout + eg.data_dot_timeout +
	    eg.idle_timeout, 55);
	cr_assert_eq(eg.data_dot_timeout, 9);
	cr_assert_str_eq(eg.prohibited_hosts[1], "::1");
	cr_assert_null(eg.prohibited_hosts[2]);
	cr_assert_str_eq(eg.skip_hosts[0], "192.0.2.1");
	cr_assert_eq(eg.suspended, 1);
	cr_assert_eq(eg.refresh_interval, 300);
	egress_clear(&eg);
}

Test(policy, make_egress_path_errors)
{
	egress_bad("enable_tsl = 'Required'",
	    "make_egress_path: unknown field 'enable_tsl'");
	egress_bad("enable_tls = 'Sometimes'", "make_egress_path: enable_tls: "
	    "expected one of 'Opportunistic', 'OpportunisticInsecure', "
	    "'Required', 'RequiredInsecure', 'Disabled', got 'Sometimes'");
	egress_bad("enable_tls = 'required'", "got 'required'");
	egress_bad("enable_tls = true", "enable_tls: expected one of");
	egress_bad("enable_pipelining = 'yes'", "make_egress_path: "
	    "enable_pipelining: expected true or false, got 'yes'");
	egress_bad("smtp_port = 'x'", "smtp_port: expected a port number");
	egress_bad("smtp_port = 70000", "smtp_port: expected a port number "
	    "from 1 to 65535, got 70000");
	egress_bad("ehlo_domain = 'not a name'", "ehlo_domain: expected a "
	    "domain name");
	egress_bad("ehlo_domain = 42", "ehlo_domain: expected a domain name");
	egress_bad("smtp_auth_plain_username = ''",
	    "smtp_auth_plain_username: expected a non-empty string");
	egress_bad("smtp_auth_plain_username = {}",
	    "smtp_auth_plain_username: expected a non-empty string, got a table");
	egress_bad("smtp_auth_mechanisms = { 'CRAM-MD5' }",
	    "smtp_auth_mechanisms: item 1: expected 'PLAIN'");
	egress_bad("smtp_auth_mechanisms = 'PLAIN'",
	    "smtp_auth_mechanisms: expected a list");
	egress_bad("prohibited_hosts = { '10.0.0.0/33' }",
	    "prohibited_hosts: item 1: expected a network");
	egress_bad("skip_hosts = { 'example.com' }", "skip_hosts: item 1");
	egress_bad("max_message_rate = '5/fortnight'", "max_message_rate");
	egress_bad("suspended = 1", "suspended: expected true or false");
	egress_bad("[1] = 'x'", "make_egress_path: field names are strings, "
	    "got 1");
	egress_bad("tls_certificate = 42", "tls_certificate: expected a "
	    "keysource");
	/* a client certificate is a pair, its key never inline */
	egress_bad("tls_certificate = '/k/c.pem'", "make_egress_path: "
	    "tls_certificate: set with tls_private_key, or neither");
	egress_bad("tls_private_key = '/k/k.pem'", "make_egress_path: "
	    "tls_private_key: set with tls_certificate, or neither");
	egress_bad("tls_certificate = '/k/c.pem', tls_private_key = "
	    "{ key_data = 'x' }", "tls_private_key: key_data would put the "
	    "private key in the policy");
	egress_bad("tls_certificate = { oauth2_token_url = 'https://t/', "
	    "oauth2_client_id = 'i', oauth2_client_secret = '/k/s' }, "
	    "tls_private_key = '/k/k.pem'", "tls_certificate: an OAuth2 "
	    "token is no certificate or key");
}

Test(policy, make_egress_path_not_a_table)
{
	struct egress	 eg;

	cr_assert_not_null(load("kumo.on('get_egress_path_config', "
	    "function(d, s)\n  return kumo.make_egress_path('fast')\nend)\n"));
	cr_assert_eq(policy_egress(pol, "a.test", "a.test", &eg, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, ":2: bad argument #1 to 'make_egress_path' "
	    "(table expected, got string)") != NULL, "%s", err);
}

Test(policy, kumo_fields_ignored)
{
	struct egress	 eg;

	egress_ok("enable_mta_sts = false, max_ready = 80, "
	    "rset_timeout = '5s', enable_tls = 'Disabled'", &eg);
	cr_assert_eq(eg.enable_tls, TLS_DISABLED);
	egress_clear(&eg);
}

Test(policy, keysource_parser)
{
	struct keysource *ks;
	char		 e[256], d[256];

	ks = keysource_file("/etc/petrel/keys/pw", e, sizeof(e));
	cr_assert_not_null(ks);
	cr_assert_eq(ks->kind, KS_FILE);
	cr_assert_str_eq(keysource_describe(ks, d, sizeof(d)),
	    "file /etc/petrel/keys/pw");
	keysource_free(ks);
	cr_assert_null(keysource_file("keys/pw", e, sizeof(e)));
	cr_assert(strstr(e, "absolute path") != NULL, "%s", e);

	ks = keysource_new();
	cr_assert_eq(keysource_set(ks, "key_data", "s3cret", 6, e,
	    sizeof(e)), 0);
	cr_assert_eq(keysource_check(ks, e, sizeof(e)), 0);
	cr_assert_eq(ks->kind, KS_DATA);
	keysource_describe(ks, d, sizeof(d));
	cr_assert(strstr(d, "s3cret") == NULL, "a description shows the "
	    "secret: %s", d);
	keysource_free(ks);

	ks = keysource_new();
	cr_assert_eq(keysource_set(ks, "vault_mount", "secret", 6, e,
	    sizeof(e)), 0);
	cr_assert_eq(keysource_set(ks, "vault_path", "smtp/relay", 10, e,
	    sizeof(e)), 0);
	cr_assert_eq(keysource_set(ks, "vault_token", "hvs.x", 5, e,
	    sizeof(e)), 0);
	cr_assert_eq(keysource_set(ks, "vault_namespace", "ns1", 3, e,
	    sizeof(e)), 0);
	cr_assert_eq(keysource_check(ks, e, sizeof(e)), 0, "%s", e);
	cr_assert_eq(ks->kind, KS_VAULT);
	cr_assert_str_eq(ks->vault_key, "key");
	{
		struct keysource *c = keysource_copy(ks);

		cr_assert_str_eq(c->vault_path, "smtp/relay");
		cr_assert_str_eq(c->vault_token, "hvs.x");
		cr_assert_neq(c->vault_token, ks->vault_token);
		keysource_free(c);
	}
	keysource_describe(ks, d, sizeof(d));
	cr_assert_str_eq(d, "vault secret/smtp/relay#key namespace ns1");
	keysource_free(ks);

	/* a password in the address's userinfo is never described */
	ks = keysource_new();
	cr_assert_eq(keysource_set(ks, "vault_mount", "kv", 2, e,
	    sizeof(e)), 0);
	cr_assert_eq(keysource_set(ks, "vault_path", "p", 1, e, sizeof(e)), 0);
	cr_assert_eq(keysource_set(ks, "vault_address",
	    "https://u:pw9@vault.test:8200/x@y", 33, e, sizeof(e)), 0);
	cr_assert_eq(keysource_check(ks, e, sizeof(e)), 0, "%s", e);
	keysource_describe(ks, d, sizeof(d));
	cr_assert_str_eq(d, "vault kv/p#key at https://vault.test:8200/x@y");
	keysource_free(ks);

	ks = keysource_new();
	cr_assert_eq(keysource_set(ks, "vault_pth", "x", 1, e, sizeof(e)), -1);
	cr_assert(strstr(e, "unknown key 'vault_pth'") != NULL, "%s", e);
	cr_assert_eq(keysource_set(ks, "key_file", "", 0, e, sizeof(e)), -1);
	cr_assert(strstr(e, "key_file: empty") != NULL, "%s", e);
	cr_assert_eq(keysource_set(ks, "key_data", "a\0b", 3, e, sizeof(e)),
	    -1);
	cr_assert_eq(keysource_check(ks, e, sizeof(e)), -1);
	cr_assert(strstr(e, "empty keysource") != NULL, "%s", e);
	cr_assert_eq(keysource_set(ks, "key_data", "x", 1, e, sizeof(e)), 0);
	cr_assert_eq(keysource_set(ks, "key_data", "y", 1, e, sizeof(e)), -1);
	cr_assert(strstr(e, "given twice") != NULL, "%s", e);
	cr_assert_eq(keysource_set(ks, "key_file", "/k", 2, e, sizeof(e)), 0);
	cr_assert_eq(keysource_check(ks, e, sizeof(e)), -1);
	cr_assert(strstr(e, "key_data and key_file do not go together") !=
	    NULL, "%s", e);
	keysource_free(ks);

	ks = keysource_new();
	cr_assert_eq(keysource_set(ks, "vault_mount", "m", 1, e, sizeof(e)), 0);
	cr_assert_eq(keysource_check(ks, e, sizeof(e)), -1);
	cr_assert(strstr(e, "vault_path missing") != NULL, "%s", e);
	keysource_free(ks);

	ks = keysource_new();
	cr_assert_eq(keysource_set(ks, "vault_mount", "m", 1, e, sizeof(e)), 0);
	cr_assert_eq(keysource_set(ks, "vault_path", "p", 1, e, sizeof(e)), 0);
	cr_assert_eq(keysource_set(ks, "vault_address", "vault:8200", 10, e,
	    sizeof(e)), 0);
	cr_assert_eq(keysource_check(ks, e, sizeof(e)), -1);
	cr_assert(strstr(e, "vault_address: expected an http") != NULL, "%s", e);
	keysource_free(ks);

	ks = keysource_new();
	cr_assert_eq(keysource_set(ks, "key_file", "rel/x", 5, e, sizeof(e)), 0);
	cr_assert_eq(keysource_check(ks, e, sizeof(e)), -1);
	cr_assert(strstr(e, "key_file: must be an absolute path") != NULL,
	    "%s", e);
	keysource_free(ks);
}

Test(policy, keysources_in_lua)
{
	struct egress	 eg;

	egress_ok("smtp_auth_plain_password = { key_data = 'pw' }", &eg);
	cr_assert_eq(eg.smtp_auth_plain_password->kind, KS_DATA);
	cr_assert_str_eq(eg.smtp_auth_plain_password->data, "pw");
	egress_clear(&eg);
	egress_ok("smtp_auth_plain_password = { vault_mount = 'secret', "
	    "vault_path = 'smtp', vault_key = 'password', vault_address = "
	    "'http://127.0.0.1:8200', vault_token = 't' }", &eg);
	cr_assert_eq(eg.smtp_auth_plain_password->kind, KS_VAULT);
	cr_assert_str_eq(eg.smtp_auth_plain_password->vault_key, "password");
	cr_assert_str_eq(eg.smtp_auth_plain_password->vault_address,
	    "http://127.0.0.1:8200");
	egress_clear(&eg);
	egress_bad("smtp_auth_plain_password = { vault_mount = 'secret', "
	    "vault_pth = 'smtp' }", "make_egress_path: "
	    "smtp_auth_plain_password: unknown key 'vault_pth'");
	egress_bad("smtp_auth_plain_password = { key_data = 42 }",
	    "smtp_auth_plain_password: key_data: expected a string, got a number");
	egress_bad("tls_private_key = { [1] = 'x' }", "tls_private_key: "
	    "keysource keys are names");
	egress_bad("tls_private_key = {}", "tls_private_key: empty keysource");
	egress_bad("smtp_auth_plain_password = 'tiger'",
	    "smtp_auth_plain_password: a keysource file must be an absolute path");
	cr_assert(strstr(err, "tiger") == NULL, "a password given as a string "
	    "is not echoed: %s", err);
}

Test(policy, two_handler_signatures)
{
	struct egress	 eg;

	/* KumoMTA's older docs: (domain, site_name) */
	cr_assert_not_null(load(
	    "kumo.on('get_egress_path_config', function(domain, site_name)\n"
	    "  return kumo.make_egress_path { ehlo_domain = site_name }\n"
	    "end)\n"));
	cr_assert_eq(policy_egress(pol, "example.com", "mx.example.net", &eg,
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(eg.ehlo_domain, "mx.example.net");
	egress_clear(&eg);
	/* newer: (routing_domain, egress_source, site_name) */
	cr_assert_not_null(load(
	    "kumo.on('get_egress_path_config', function(routing_domain, "
	    "egress_source, site_name)\n"
	    "  return kumo.make_egress_path { ehlo_domain = egress_source .. "
	    "'.' .. routing_domain, smtp_port = #site_name }\n"
	    "end)\n"));
	cr_assert_eq(policy_egress(pol, "example.com", "mx.example.net", &eg,
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(eg.ehlo_domain, "unspecified.example.com");
	cr_assert_eq(eg.smtp_port, 14);
	egress_clear(&eg);
}

Test(policy, caching)
{
	struct egress	 eg;

	cr_assert_not_null(load(
	    "calls = 0\n"
	    "kumo.on('get_egress_path_config', function(d, s)\n"
	    "  calls = calls + 1\n"
	    "  if d == 'bad.test' then error('no route for ' .. d) end\n"
	    "  return kumo.make_egress_path { connection_limit = calls,\n"
	    "    refresh_interval = 1 }\n"
	    "end)\n"));
	cr_assert_eq(policy_egress(pol, "a.test", "mx.a.test", &eg, err,
	    sizeof(err)), 0);
	cr_assert_eq(eg.connection_limit, 1);
	egress_clear(&eg);
	cr_assert_eq(policy_egress(pol, "a.test", "mx.a.test", &eg, err,
	    sizeof(err)), 0);
	cr_assert_eq(eg.connection_limit, 1, "answered from the cache");
	egress_clear(&eg);
	cr_assert_eq(policy_egress(pol, "b.test", "mx.a.test", &eg, err,
	    sizeof(err)), 0);
	cr_assert_eq(eg.connection_limit, 2, "another routing domain: asked");
	egress_clear(&eg);
	cr_assert_eq(policy_egress(pol, "a.test", "mx.b.test", &eg, err,
	    sizeof(err)), 0);
	cr_assert_eq(eg.connection_limit, 3, "another site: asked");
	egress_clear(&eg);
	/* an error is kept too */
	cr_assert_eq(policy_egress(pol, "bad.test", "x", &eg, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "policy.lua:4: no route for bad.test") != NULL,
	    "%s", err);
	err[0] = '\0';
	cr_assert_eq(policy_egress(pol, "bad.test", "x", &eg, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "no route for bad.test") != NULL, "%s", err);
	usleep(1100000);
	cr_assert_eq(policy_egress(pol, "a.test", "mx.a.test", &eg, err,
	    sizeof(err)), 0);
	cr_assert_eq(eg.connection_limit, 5,
	    "after refresh_interval: asked again (once for bad.test before)");
	egress_clear(&eg);
}

Test(policy, queue_caching)
{
	struct queue_config qc;

	cr_assert_not_null(load(
	    "n = 0\n"
	    "kumo.on('get_queue_config', function(domain, tenant, campaign, rd)\n"
	    "  n = n + 1\n"
	    "  return kumo.make_queue_config { retry_interval = n }\n"
	    "end)\n"));
	cr_assert_eq(policy_queue(pol, "a.test", NULL, NULL, "a.test", &qc,
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(qc.retry_interval, 1);
	cr_assert_eq(policy_queue(pol, "a.test", NULL, NULL, "a.test", &qc,
	    err, sizeof(err)), 0);
	cr_assert_eq(qc.retry_interval, 1, "cached");
	cr_assert_eq(policy_queue(pol, "a.test", "t1", NULL, "a.test", &qc,
	    err, sizeof(err)), 0);
	cr_assert_eq(qc.retry_interval, 2, "a tenant is another queue");
	cr_assert_eq(policy_queue(pol, "a.test", NULL, NULL, "[127.0.0.1]",
	    &qc, err, sizeof(err)), 0);
	cr_assert_eq(qc.retry_interval, 3, "a routing domain is another queue");
	cr_assert_str_eq(qc.routing_domain, "[127.0.0.1]",
	    "no routing_domain set: the one given");
}

Test(policy, queue_config)
{
	struct queue_config qc;

	cr_assert_not_null(load(
	    "kumo.on('get_queue_config', function(domain, tenant, campaign, "
	    "routing_domain)\n"
	    "  assert(tenant == nil and campaign == nil)\n"
	    "  if domain == 'v6.test' then\n"
	    "    return kumo.make_queue_config { routing_domain = '[IPv6:::1]' }\n"
	    "  elseif domain == 'name.test' then\n"
	    "    return kumo.make_queue_config { routing_domain = "
	    "'relay.example.net', max_age = '2d' }\n"
	    "  end\n"
	    "  return kumo.make_queue_config { routing_domain = "
	    "'[127.0.0.1]:2526', retry_interval = '1m', max_age = '1 hour' }\n"
	    "end)\n"));
	cr_assert_eq(policy_queue(pol, "a.test", NULL, NULL, "a.test", &qc,
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(qc.routing_domain, "[127.0.0.1]:2526");
	cr_assert_eq(qc.retry_interval, 60);
	cr_assert_eq(qc.max_retry_interval, 28800, "petrel.conf's");
	cr_assert_eq(qc.max_age, 3600);
	cr_assert_eq(policy_queue(pol, "v6.test", NULL, NULL, "v6.test", &qc,
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(qc.routing_domain, "[IPv6:::1]");
	cr_assert_eq(qc.retry_interval, 1200, "petrel.conf's");
	cr_assert_eq(policy_queue(pol, "name.test", NULL, NULL, "name.test",
	    &qc, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(qc.routing_domain, "relay.example.net");
	cr_assert_eq(qc.max_age, 172800);
	cr_assert_eq(policy_probe(pol, err, sizeof(err)), 0, "%s", err);
}

static void
queue_bad(const char *fields, const char *want)
{
	struct queue_config qc;
	char		 text[1024];

	snprintf(text, sizeof(text),
	    "kumo.on('get_queue_config', function(d, t, c, r)\n"
	    "  return kumo.make_queue_config { %s }\n"
	    "end)\n", fields);
	cr_assert_not_null(load(text), "%s", err);
	cr_assert_eq(policy_queue(pol, "a.test", NULL, NULL, "a.test", &qc,
	    err, sizeof(err)), -1, "%s accepted", fields);
	cr_assert(strstr(err, want) != NULL, "%s: '%s' does not say '%s'",
	    fields, err, want);
	cr_assert(strstr(err, "policy.lua:2: ") != NULL, "%s", err);
}

Test(policy, make_queue_config_errors)
{
	queue_bad("routing_domain = 'not a host'", "make_queue_config: "
	    "routing_domain: expected '[ADDR]', '[ADDR]:PORT', '[IPv6:ADDR]' "
	    "or a domain name, got 'not a host'");
	queue_bad("routing_domain = '[127.0.0.1]:99999'", "routing_domain:");
	queue_bad("routing_domain = '[localhost]'", "routing_domain:");
	queue_bad("retry_interval = 'often'", "make_queue_config: "
	    "retry_interval: expected a duration");
	queue_bad("max_age = 0", "max_age: expected a duration");
	queue_bad("retry_interval = '1h', max_retry_interval = '10m'",
	    "max_retry_interval is shorter than retry_interval");
	queue_bad("retry_interal = '1h'", "make_queue_config: unknown field "
	    "'retry_interal'");
	queue_bad("protocol = { smtp = { mx_list = { 'relay' } } }",
	    "make_queue_config: protocol: not supported");
}

Test(policy, queue_retry_beyond_conf_max)
{
	struct queue_config qc;

	cr_assert_not_null(load("kumo.on('get_queue_config', function()\n"
	    "  return kumo.make_queue_config { retry_interval = '12h', "
	    "egress_pool = 'pool0' }\nend)\n"));
	cr_assert_eq(policy_queue(pol, "a.test", NULL, NULL, "a.test", &qc,
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(qc.retry_interval, 43200);
	cr_assert_eq(qc.max_retry_interval, 43200,
	    "a longer retry_interval lifts petrel.conf's maximum");
}

Test(policy, instruction_limit)
{
	struct egress	 eg;
	struct queue_config qc;

	cr_assert_not_null(load(
	    "kumo.on('get_egress_path_config', function(d, s)\n"
	    "  while true do end\n"
	    "end)\n"));
	cr_assert_eq(policy_egress(pol, "a.test", "a.test", &eg, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "policy.lua:2: instruction limit exceeded in "
	    "get_egress_path_config") != NULL, "%s", err);
	/* a pcall inside cannot keep it going */
	cr_assert_not_null(load(
	    "kumo.on('get_egress_path_config', function(d, s)\n"
	    "  while true do pcall(function() while true do end end) end\n"
	    "end)\n"));
	cr_assert_eq(policy_egress(pol, "a.test", "a.test", &eg, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "instruction limit exceeded in "
	    "get_egress_path_config") != NULL, "%s", err);
	/* the state is still good for the next call */
	cr_assert_not_null(load(
	    "kumo.on('get_queue_config', function(d)\n"
	    "  if d == 'loop.test' then while true do end end\n"
	    "  return kumo.make_queue_config {}\n"
	    "end)\n"));
	cr_assert_eq(policy_queue(pol, "loop.test", NULL, NULL, "x", &qc,
	    err, sizeof(err)), -1);
	cr_assert(strstr(err, "instruction limit exceeded in get_queue_config")
	    != NULL, "%s", err);
	cr_assert_eq(policy_queue(pol, "ok.test", NULL, NULL, "x", &qc,
	    err, sizeof(err)), 0, "%s", err);
}

Test(policy, load_errors)
{
	char	 want[PATH_MAX + 32];

	cr_assert_null(load("kumo.on('get_egress_path_config', function(d, s)\n"
	    "  return kumo.make_egress_path { = }\nend)\n"));
	snprintf(want, sizeof(want), "%s:2: ", file);
	cr_assert(strncmp(err, want, strlen(want)) == 0, "syntax: %s", err);
	cr_assert_null(load("local x = 1\nerror('refused at load')\n"));
	snprintf(want, sizeof(want), "%s:2: refused at load", file);
	cr_assert_str_eq(err, want);
	cr_assert_null(load("\n\nwhile true do end\n"));
	cr_assert(strstr(err, ":3: instruction limit exceeded in the main "
	    "chunk") != NULL, "%s", err);
	cr_assert_null(load("kumo.on('get_queue_config', 42)\n"));
	cr_assert(strstr(err, ":1: bad argument #2 to 'on'") != NULL, "%s",
	    err);
	cr_assert_null(load("kumo.on('get_queue_config', function() end)\n"
	    "kumo.on('get_queue_config', function() end)\n"));
	cr_assert(strstr(err, ":2: get_queue_config event already has a "
	    "handler defined at ") != NULL, "%s", err);
	cr_assert(strstr(err, "policy.lua:1") != NULL, "%s", err);
	cr_assert_null(load("kumo.no_such_function()\n"));
	cr_assert(strstr(err, ":1: attempt to call a nil value (field "
	    "'no_such_function')") != NULL, "%s", err);
	policy_free(pol);
	snprintf(want, sizeof(want), "%s/none.lua", dir);
	pol = policy_load(want, &conf, err, sizeof(err));
	cr_assert_null(pol);
	cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
}

Test(policy, handler_errors)
{
	struct egress	 eg;

	cr_assert_not_null(load(
	    "kumo.on('get_egress_path_config', function(d, s)\n"
	    "  if d == 'raise.test' then error('nope') end\n"
	    "  if d == 'table.test' then error({}) end\n"
	    "  if d == 'plain.test' then return { enable_tls = 'Required' } end\n"
	    "  if d == 'on.test' then kumo.on('get_queue_config', print) end\n"
	    "end)\n"));
	cr_assert_eq(policy_egress(pol, "raise.test", "x", &eg, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "policy.lua:2: nope") != NULL, "%s", err);
	cr_assert_eq(policy_egress(pol, "table.test", "x", &eg, err,
	    sizeof(err)), -1);
	cr_assert_str_eq(err, "(error object is a table value)");
	cr_assert_eq(policy_egress(pol, "plain.test", "x", &eg, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "policy.lua:1: get_egress_path_config returned "
	    "table, not kumo.make_egress_path{...}") != NULL, "%s", err);
	cr_assert_eq(policy_egress(pol, "nil.test", "x", &eg, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "returned nil, not") != NULL, "%s", err);
	cr_assert_eq(policy_egress(pol, "on.test", "x", &eg, err,
	    sizeof(err)), -1);
	cr_assert(strstr(err, "kumo.on('get_queue_config', ...) called from "
	    "within the get_egress_path_config handler") != NULL, "%s", err);
	cr_assert_eq(policy_probe(pol, err, sizeof(err)), -1);
	cr_assert(strstr(err, "returned nil") != NULL, "%s", err);
	cr_assert(strstr(err, "(probing get_egress_path_config for routing "
	    "domain example.com, site example.com)") != NULL, "%s", err);
}

Test(policy, sandbox)
{
	struct egress	 eg;

	cr_assert_not_null(load(
	    "assert(io == nil and os == nil and debug == nil)\n"
	    "assert(dofile == nil and loadfile == nil)\n"
	    "assert(string and table and math and utf8)\n"
	    "assert(require('kumo') == kumo)\n"
	    "local f = load('return 1 + 1')\n"
	    "assert(f() == 2)\n"
	    "local ok, e = pcall(load, string.dump(function() end))\n"
	    "local g, e2 = load(string.dump(function() end))\n"
	    "assert(g == nil and e2:find('binary'), tostring(e2))\n"
	    "local ok2, e3 = pcall(require, 'nosuchmodule')\n"
	    "assert(not ok2 and e3:find(\"module 'nosuchmodule' not found\"))\n"
	    "kumo.on('init', function() error('never called') end)\n"
	    "kumo.on('smtp_server_message_received', function() end)\n"
	    "kumo.log_info('loaded', 1, true)\n"
	    "kumo.on('get_egress_path_config', function(d, s)\n"
	    "  return kumo.make_egress_path {}\n"
	    "end)\n"), "%s", err);
	cr_assert_eq(policy_egress(pol, "a.test", "a.test", &eg, err,
	    sizeof(err)), 0, "%s", err);
	egress_clear(&eg);
	cr_assert_eq(policy_probe(pol, err, sizeof(err)), 0, "%s", err);
}

Test(policy, require_a_file)
{
	char		 p[PATH_MAX + 16];
	FILE		*f;
	struct egress	 eg;

	snprintf(p, sizeof(p), "%s/helper.lua", dir);
	cr_assert_not_null(f = fopen(p, "w"));
	fprintf(f, "local M = {}\nfunction M.ehlo() return 'helper.test' end\n"
	    "return M\n");
	fclose(f);
	cr_assert_not_null(load(
	    "local h = require 'helper'\n"
	    "assert(require('helper') == h)\n"
	    "kumo.on('get_egress_path_config', function(d, s)\n"
	    "  return kumo.make_egress_path { ehlo_domain = h.ehlo() }\n"
	    "end)\n"), "%s", err);
	cr_assert_eq(policy_egress(pol, "a.test", "a.test", &eg, err,
	    sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(eg.ehlo_domain, "helper.test");
	egress_clear(&eg);
}

Test(policy, json)
{
	char		 p[PATH_MAX + 16];
	FILE		*f;
	struct egress	 eg;

	snprintf(p, sizeof(p), "%s/data.json", dir);
	cr_assert_not_null(f = fopen(p, "w"));
	fprintf(f, "{\"example.com\": {\"connection_limit\": 3, "
	    "\"enable_tls\": \"Required\", \"skip\": null}, "
	    "\"list\": [1, 2.5, \"x\", true]}\n");
	fclose(f);
	write_policy(
	    "local data = kumo.json_load('%s')\n"
	    "assert(data.list[2] == 2.5 and data.list[4] == true)\n"
	    "assert(data['example.com'].skip == nil)\n"
	    "local t = kumo.json_parse('{\"a\": [1, {\"b\": false}]}')\n"
	    "assert(t.a[2].b == false)\n"
	    "assert(kumo.json_encode({1, 2, 'x'}) == '[1,2,\"x\"]')\n"
	    "assert(kumo.json_encode({a = 1}) == '{\"a\":1}')\n"
	    "assert(kumo.json_encode({}) == '{}')\n"
	    "assert(kumo.json_encode('s') == '\"s\"')\n"
	    "local ok, e = pcall(kumo.json_parse, '{bad')\n"
	    "assert(not ok and e:find('json_parse'), e)\n"
	    "local cyc = {} cyc.self = cyc\n"
	    "ok, e = pcall(kumo.json_encode, cyc)\n"
	    "assert(not ok and e:find('nested deeper'), e)\n"
	    "ok, e = pcall(kumo.json_encode, {[true] = 1})\n"
	    "assert(not ok and e:find('keys must be strings'), e)\n"
	    "kumo.on('get_egress_path_config', function(d, s)\n"
	    "  return kumo.make_egress_path(data[d])\n"
	    "end)\n", p);
	pol = policy_load(file, &conf, err, sizeof(err));
	cr_assert_not_null(pol, "%s", err);
	cr_assert_eq(policy_egress(pol, "example.com", "x", &eg, err,
	    sizeof(err)), 0, "a null is nil, so 'skip' is no field: %s", err);
	cr_assert_eq(eg.connection_limit, 3);
	cr_assert_eq(eg.enable_tls, TLS_REQUIRED);
	egress_clear(&eg);
	policy_free(pol);
	write_policy("local data = kumo.json_load('%s/nonexistent.json')\n",
	    dir);
	pol = policy_load(file, &conf, err, sizeof(err));
	cr_assert_null(pol);
	cr_assert(strstr(err, ":1: json_load ") != NULL, "%s", err);
}

/* An OAuth2 keysource in the policy, its secrets as nested keysources. */
Test(policy, oauth2_keysource)
{
	struct egress	 eg;

	egress_ok("smtp_auth_plain_username = 'u', smtp_auth_plain_password = "
	    "{ oauth2_token_url = 'https://idp.test/token', "
	    "oauth2_client_id = 'app', "
	    "oauth2_client_secret = { vault_mount = 'kv', vault_path = 'cs' }, "
	    "oauth2_grant = 'refresh_token', "
	    "oauth2_refresh_token = '/etc/petrel/keys/rt' }, "
	    "smtp_auth_mechanisms = { 'OAUTHBEARER' }", &eg);
	cr_assert_eq(eg.smtp_auth_plain_password->kind, KS_OAUTH2);
	cr_assert_eq(eg.smtp_auth_plain_password->oauth2_client_secret->kind,
	    KS_VAULT);
	cr_assert_eq(eg.smtp_auth_plain_password->oauth2_refresh_token->kind,
	    KS_FILE);
	egress_clear(&eg);
	egress_bad("smtp_auth_plain_password = { oauth2_token_url = "
	    "'https://idp.test/token', oauth2_client_id = 'app', "
	    "oauth2_client_secret = { oauth2_token_url = 'https://x/t' } }",
	    "a nested keysource is key_data, key_file or vault_*, not OAuth2");
	egress_bad("smtp_auth_plain_password = { oauth2_token_url = "
	    "'https://idp.test/token', oauth2_client_id = 'app', "
	    "oauth2_client_secret = { key_data = { 'x' } } }",
	    "oauth2_client_secret.key_data: expected a string, got a table");
	egress_bad("smtp_auth_plain_password = { oauth2_token_url = "
	    "'https://idp.test/token', oauth2_client_id = 'app', "
	    "oauth2_client_secret = { key_data = 'x' }, oauth2_secret = 'y' }",
	    "unknown key 'oauth2_secret'");
}
