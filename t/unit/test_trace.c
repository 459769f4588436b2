/*
 * test_trace.c - what petrelctl may see: the masking of a traced SMTP
 * client dialogue (deliverd/tracemask.c: AUTH PLAIN and XOAUTH2 with
 * their initial responses, AUTH LOGIN's answers to 334, the message
 * text never), and keysources as resolve shows them (keysource_label,
 * policy_egress_json: never the secret).
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "conf.h"
#include "egress.h"
#include "keysource.h"
#include "log.h"
#include "policy.h"
#include "util.h"
#include "../../deliverd/trace.h"

static struct trace_mask m;
static char	 out[TRACE_LINE_MAX + 1];

static void
mask_setup(void)
{
	memset(&m, 0, sizeof(m));
	out[0] = '\0';
}

TestSuite(trace, .init = mask_setup);

/* A line sent is shown as want. */
static void
sent(const char *line, int secret, const char *want)
{
	cr_assert_eq(trace_mask_sent(&m, line, secret, out, sizeof(out)), 1,
	    "'%s' not shown", line);
	cr_assert_str_eq(out, want, "'%s' shown as '%s', not '%s'", line, out,
	    want);
}

/* A line sent is not shown at all. */
static void
hidden(const char *line)
{
	cr_assert_eq(trace_mask_sent(&m, line, 0, out, sizeof(out)), 0,
	    "'%s' shown as '%s'", line, out);
}

static void
received(const char *line)
{
	trace_mask_received(&m, line);
}

Test(trace, plain_commands_shown)
{
	received("220 mx.example.com ESMTP");
	sent("EHLO petrel.test", 0, "EHLO petrel.test");
	received("250-mx.example.com");
	received("250-AUTH PLAIN LOGIN");
	received("250 PIPELINING");
	sent("MAIL FROM:<a@example.net> SIZE=123", 0,
	    "MAIL FROM:<a@example.net> SIZE=123");
	sent("RCPT TO:<b@example.com>", 0, "RCPT TO:<b@example.com>");
}

Test(trace, auth_plain_initial_response)
{
	/* "\0user\0hunter2" */
	sent("AUTH PLAIN AHVzZXIAaHVudGVyMg==", 0, "AUTH PLAIN ****");
	cr_assert_null(strstr(out, "AHVz"));
	/* as auth.c hands it over: the part before the credential */
	mask_setup();
	sent("AUTH PLAIN ", 1, "AUTH PLAIN ****");
	/* any case, any spacing */
	sent("auth  plain AHVzZXIAaHVudGVyMg==", 0, "AUTH PLAIN ****");
	received("235 2.7.0 Authentication successful");
	sent("MAIL FROM:<>", 0, "MAIL FROM:<>");
}

Test(trace, auth_login_answers)
{
	sent("AUTH LOGIN", 0, "AUTH LOGIN ****");
	received("334 VXNlcm5hbWU6");
	sent("dXNlcg==", 0, "****");
	received("334 UGFzc3dvcmQ6");
	sent("aHVudGVyMg==", 0, "****");
	received("235 2.7.0 ok");
	sent("MAIL FROM:<a@example.net>", 0, "MAIL FROM:<a@example.net>");
}

Test(trace, auth_login_with_initial_user)
{
	sent("AUTH LOGIN dXNlcg==", 0, "AUTH LOGIN ****");
	received("334 UGFzc3dvcmQ6");
	sent("aHVudGVyMg==", 0, "****");
	received("535 5.7.8 Authentication credentials invalid");
	sent("QUIT", 0, "QUIT");
}

Test(trace, secret_line_without_a_challenge_seen)
{
	/* a trace that started after the 334: the caller knows */
	sent("", 1, "****");
	sent("anything", 1, "****");
}

Test(trace, multiline_challenge)
{
	sent("AUTH LOGIN", 0, "AUTH LOGIN ****");
	received("334-VXNlcm5hbWU6");
	received("334 VXNlcm5hbWU6");
	sent("dXNlcg==", 0, "****");
}

Test(trace, xoauth2)
{
	sent("AUTH XOAUTH2 dXNlcj11c2VyAWF1dGg9QmVhcmVyIHlhMjkuc2VjcmV0AQE=",
	    0, "AUTH XOAUTH2 ****");
	cr_assert_null(strstr(out, "dXNl"));
	/* the error challenge: the client's empty answer is masked too */
	received("334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=");
	sent("", 0, "****");
	received("535 5.7.8 Username and Password not accepted");
	sent("QUIT", 0, "QUIT");
	/* OAUTHBEARER likewise */
	sent("AUTH OAUTHBEARER bixhPXVzZXJAZXhhbXBsZS5jb20s", 0,
	    "AUTH OAUTHBEARER ****");
}

Test(trace, cancel_after_challenge)
{
	sent("AUTH PLAIN", 0, "AUTH PLAIN ****");
	received("334 ");
	sent("*", 0, "****");
	received("501 5.7.0 cancelled");
	sent("QUIT", 0, "QUIT");
}

Test(trace, odd_mechanism_name_not_echoed)
{
	sent("AUTH PL\001AIN secret", 0, "AUTH PL ****");
	sent("AUTH", 0, "AUTH ****");
	sent("AUTHX foo", 0, "AUTHX foo");	/* not the AUTH command */
}

Test(trace, data_text_never_shown)
{
	sent("DATA", 0, "DATA");
	received("354 End data with <CR><LF>.<CR><LF>");
	hidden("Subject: the secret plans");
	hidden("");
	hidden("AUTH PLAIN AHVzZXIAaHVudGVyMg==");
	hidden(".");
	received("250 2.0.0 Ok: queued as 1234");
	sent("RSET", 0, "RSET");
	/* pipelined: DATA refused, nothing follows */
	sent("DATA", 0, "DATA");
	received("554 5.5.1 No valid recipients");
	sent("QUIT", 0, "QUIT");
}

Test(trace, clean)
{
	char	 buf[16];

	trace_clean("250 ok\r\x1b[2J", out, sizeof(out));
	cr_assert_str_eq(out, "250 ok??[2J");
	/* UTF-8 stays; bytes that are none become '?' */
	trace_clean("250 gr\xc3\xbc\xc3\x9f", out, sizeof(out));
	cr_assert_str_eq(out, "250 gr\xc3\xbc\xc3\x9f");
	trace_clean("250 \xff\xc3\xbc", out, sizeof(out));
	cr_assert_str_eq(out, "250 ???");
	/* cut on a character boundary */
	trace_clean("0123456789abc\xc3\xbc", buf, 15);
	cr_assert_str_eq(buf, "0123456789abc");
	trace_clean("0123456789abcd\xc3\xbc", buf, 15);
	cr_assert_str_eq(buf, "0123456789abcd");
	/* a long line is cut at the limit, and JSON takes the result */
	{
		char	 big[3000];
		json_t	*j;

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		trace_clean(big, out, sizeof(out));
		cr_assert_eq(strlen(out), TRACE_LINE_MAX);
		cr_assert_not_null(j = json_string(out));
		json_decref(j);
	}
}

/* Does a trace of want follow a connection to routing domain or site have? */
static int
matches(const char *want, const char *have)
{
	struct trace_name w, h;

	trace_name_parse(want, &w);
	trace_name_parse(have, &h);
	return trace_name_match(&w, &h);
}

Test(trace, names)
{
	struct trace_name n;

	trace_name_parse("[IPv6:2001:DB8::1]:2525", &n);
	cr_assert_str_eq(n.host, "2001:db8::1");
	cr_assert_eq(n.port, 2525);
	trace_name_parse("Example.COM.", &n);
	cr_assert_str_eq(n.host, "example.com");
	cr_assert_eq(n.port, 0);

	/* with or without brackets, routing domain or site */
	cr_assert(matches("[192.0.2.1]", "192.0.2.1"));
	cr_assert(matches("192.0.2.1", "[192.0.2.1]"));
	cr_assert(matches("[192.0.2.1]:2525", "192.0.2.1:2525"));
	cr_assert(matches("[IPv6:2001:db8::1]", "2001:DB8::1"));
	cr_assert(matches("2001:db8::1", "[IPv6:2001:db8::1]"));
	cr_assert(matches("[2001:db8::1]:2525", "[2001:db8::1]:2525"));
	/* no port given: any port */
	cr_assert(matches("192.0.2.1", "[192.0.2.1]:2525"));
	cr_assert(matches("example.com", "example.com:2525"));
	/* a port given: that port */
	cr_assert(!matches("192.0.2.1:25", "[192.0.2.1]:2525"));
	cr_assert(!matches("[192.0.2.1]:25", "192.0.2.1"));
	/* names: whole, any case, no prefix or suffix match */
	cr_assert(matches("EXAMPLE.com", "example.com."));
	cr_assert(!matches("example.com", "mail.example.com"));
	cr_assert(!matches("example.co", "example.com"));
	cr_assert(!matches("", ""));
	cr_assert(matches("(alt1|alt2)?.gmail-smtp-in.l.google.com",
	    "(alt1|alt2)?.gmail-smtp-in.l.google.com"));
	cr_assert(matches("(mx1|mx2).mx.test", "(mx1|mx2).mx.test:2525"));
}

/* --- keysources as petrelctl resolve shows them --------------------- */

static struct keysource *
ks_make(const char *const *kv)
{
	struct keysource *ks = keysource_new();
	char		 e[256];

	for (; kv[0] != NULL; kv += 2)
		cr_assert_eq(keysource_set(ks, kv[0], kv[1], strlen(kv[1]), e,
		    sizeof(e)), 0, "%s: %s", kv[0], e);
	cr_assert_eq(keysource_check(ks, e, sizeof(e)), 0, "%s", e);
	return ks;
}

Test(keysource_label, never_the_secret)
{
	static const char *data[] = { "key_data", "hunter2", NULL };
	static const char *vault[] = { "vault_mount", "kv", "vault_path",
	    "smtp/relay", "vault_key", "password", "vault_token",
	    "hvs.TOPSECRETTOKEN", "vault_address",
	    "https://admin:pw0rd@vault.example:8200", "vault_namespace",
	    "team", NULL };
	static const char *vdef[] = { "vault_mount", "secret", "vault_path",
	    "relay", NULL };
	struct keysource *ks;
	char		 buf[512], e[256];

	ks = ks_make(data);
	cr_assert_str_eq(keysource_label(ks, buf, sizeof(buf)),
	    "<keysource key_data>");
	keysource_free(ks);

	ks = ks_make(vault);
	keysource_label(ks, buf, sizeof(buf));
	cr_assert_str_eq(buf, "<keysource vault kv/smtp/relay#password>");
	cr_assert_null(strstr(buf, "TOPSECRET"));
	cr_assert_null(strstr(buf, "pw0rd"));
	keysource_free(ks);

	ks = ks_make(vdef);
	cr_assert_str_eq(keysource_label(ks, buf, sizeof(buf)),
	    "<keysource vault secret/relay#key>");
	keysource_free(ks);

	cr_assert_not_null(ks = keysource_file("/etc/petrel/keys/relay.pw", e,
	    sizeof(e)));
	cr_assert_str_eq(keysource_label(ks, buf, sizeof(buf)),
	    "<keysource file /etc/petrel/keys/relay.pw>");
	keysource_free(ks);
}

/* The whole egress path as resolve sends it, from a real policy. */
Test(keysource_label, egress_json_has_no_secret)
{
	struct petrel_conf conf;
	struct policy	*pol;
	struct egress	 eg;
	char		 dir[] = "/tmp/petrel-trace-XXXXXX", file[PATH_MAX];
	char		 err[2048], *doc;
	json_t		*j, *v;
	FILE		*f;
	uint64_t	 n, period, burst;

	log_init("unit", 0, 0);
	memset(&conf, 0, sizeof(conf));
	conf.file = "/etc/petrel/petrel.conf";
	conf.hostname = "mx.petrel.test";
	conf.deliverd_smtp_port = 25;
	conf.deliverd_data_timeout = 30;
	conf.deliverd_data_dot_timeout = 60;
	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/policy.lua", dir);
	cr_assert_not_null(f = fopen(file, "w"));
	fprintf(f, "kumo.on('get_egress_path_config', function(d, s)\n"
	    "  return kumo.make_egress_path{\n"
	    "    smtp_auth_plain_username = 'relayuser',\n"
	    "    smtp_auth_plain_password = { key_data = 'hunter2' },\n"
	    "    tls_certificate = '/etc/petrel/keys/client.pem',\n"
	    "    tls_private_key = { vault_mount = 'kv', vault_path = 'tls',\n"
	    "      vault_token = 'hvs.TOPSECRETTOKEN' },\n"
	    "    enable_tls = 'Required', connect_timeout = '2 min',\n"
	    "    max_message_rate = '10/5min,max_burst=3',\n"
	    "    max_connection_rate = '100/s',\n"
	    "    smtp_auth_mechanisms = { 'LOGIN' },\n"
	    "    skip_hosts = { '::/0' },\n"
	    "  }\n"
	    "end)\n");
	fclose(f);
	cr_assert_not_null(pol = policy_load(file, &conf, err, sizeof(err)),
	    "%s", err);
	cr_assert_eq(policy_egress(pol, "example.com", "mx.example.com", &eg,
	    err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(j = policy_egress_json(&eg));
	cr_assert_not_null(doc = json_dumps(j, JSON_COMPACT));
	cr_assert_null(strstr(doc, "hunter2"), "%s", doc);
	cr_assert_null(strstr(doc, "TOPSECRET"), "%s", doc);
	cr_assert_null(strchr(doc, '\n'));
	cr_assert_str_eq(json_string_value(json_object_get(j,
	    "smtp_auth_plain_password")), "<keysource key_data>");
	cr_assert_str_eq(json_string_value(json_object_get(j,
	    "tls_private_key")), "<keysource vault kv/tls#key>");
	cr_assert_str_eq(json_string_value(json_object_get(j,
	    "tls_certificate")), "<keysource file /etc/petrel/keys/client.pem>");
	cr_assert_str_eq(json_string_value(json_object_get(j,
	    "smtp_auth_plain_username")), "relayuser");
	cr_assert_str_eq(json_string_value(json_object_get(j, "enable_tls")),
	    "Required");
	cr_assert_eq(json_integer_value(json_object_get(j, "connect_timeout")),
	    120);
	cr_assert_eq(json_integer_value(json_object_get(j, "smtp_port")), 25);
	cr_assert(json_is_false(json_object_get(j, "implicit_tls")));
	cr_assert_str_eq(json_string_value(json_object_get(j, "ehlo_domain")),
	    "mx.petrel.test");
	/* a rate as the policy can take it back */
	v = json_object_get(j, "max_message_rate");
	cr_assert_str_eq(json_string_value(v), "10/5min,max_burst=3");
	cr_assert_eq(parse_rate(json_string_value(v), &n, &period, &burst), 0);
	cr_assert(n == 10 && period == 300 && burst == 3);
	cr_assert_str_eq(json_string_value(json_object_get(j,
	    "max_connection_rate")), "100/s");
	cr_assert_eq(json_array_size(json_object_get(j,
	    "smtp_auth_mechanisms")), 1);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j,
	    "skip_hosts"), 0)), "::/0");
	cr_assert_eq(json_array_size(json_object_get(j, "prohibited_hosts")),
	    0);
	cr_assert(json_is_true(json_object_get(j, "enable_pipelining")));
	cr_assert_not_null(json_object_get(j, "refresh_interval"));
	cr_assert_not_null(json_object_get(j, "suspended"));
	free(doc);
	json_decref(j);
	egress_clear(&eg);

	/* the defaults: no rate is null; the mechanisms auth.c would use */
	egress_defaults(&eg, &conf);
	j = policy_egress_json(&eg);
	cr_assert(json_is_null(json_object_get(j, "max_message_rate")));
	cr_assert(json_is_null(json_object_get(j,
	    "smtp_auth_plain_password")));
	cr_assert_eq(json_array_size(json_object_get(j,
	    "smtp_auth_mechanisms")), 2);
	json_decref(j);
	egress_clear(&eg);
	policy_free(pol);
	unlink(file);
	rmdir(dir);
}
