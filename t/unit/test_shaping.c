/*
 * test_shaping.c - require 'policy-extras.shaping': names with and
 * without brackets and port, MX rollup (a section learned for a site,
 * a section keyed by the site name), the merge order default -> provider
 * -> site -> domain -> sources, files merged in order and replace_base,
 * provider blocks (MXSuffix, DomainSuffix, HostName), the checks at
 * setup and their messages, and the site names read back to MX hosts.
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
#include "log.h"
#include "policy.h"
#include "util.h"

static char	 dir[64], file[PATH_MAX], err[2048];
static struct petrel_conf conf;
static struct policy *pol;
static int	 nfiles;

static void
setup(void)
{
	char	 tmpl[] = "/tmp/petrel-shaping-XXXXXX";

	log_init("unit", 0, 0);
	cr_assert_not_null(mkdtemp(tmpl));
	strlcpy(dir, tmpl, sizeof(dir));
	snprintf(file, sizeof(file), "%s/policy.lua", dir);
	memset(&conf, 0, sizeof(conf));
	conf.file = "/etc/petrel/petrel.conf";
	conf.hostname = "mx.petrel.test";
	conf.deliverd_smtp_port = 25;
	conf.keysd_key_dirs = dir;
	err[0] = '\0';
	pol = NULL;
	nfiles = 0;
}

static void
teardown(void)
{
	char	 p[PATH_MAX + 16];
	int	 i;

	policy_free(pol);
	unlink(file);
	for (i = 1; i <= nfiles; i++) {
		snprintf(p, sizeof(p), "%s/s%d.json", dir, i);
		unlink(p);
	}
	rmdir(dir);
}

TestSuite(shaping, .init = setup, .fini = teardown);

/* Write shaping file sN.json (N from 1) with the JSON text. */
static void
data(const char *json)
{
	char	 p[PATH_MAX + 16];
	FILE	*f;

	snprintf(p, sizeof(p), "%s/s%d.json", dir, ++nfiles);
	cr_assert_not_null(f = fopen(p, "w"));
	fputs(json, f);
	fclose(f);
}

/* A policy of the handler over every file written so far. */
static struct policy *
load(void)
{
	FILE	*f;
	int	 i;

	cr_assert_not_null(f = fopen(file, "w"));
	fprintf(f, "local shaping = require 'policy-extras.shaping'\n"
	    "kumo.on('get_egress_path_config', shaping:setup {");
	for (i = 1; i <= nfiles; i++)
		fprintf(f, " '%s/s%d.json',", dir, i);
	fprintf(f, " })\n");
	fclose(f);
	policy_free(pol);
	pol = policy_load(file, &conf, err, sizeof(err));
	return pol;
}

static void
load_ok(void)
{
	cr_assert_not_null(load(), "load: %s", err);
}

/* The path for (routing domain, site). */
static struct egress *
path(const char *rd, const char *site)
{
	static struct egress eg;

	egress_clear(&eg);
	cr_assert_eq(policy_egress(pol, rd, site, &eg, err, sizeof(err)), 0,
	    "%s %s: %s", rd, site, err);
	return &eg;
}

static int
limit(const char *rd, const char *site)
{
	return path(rd, site)->connection_limit;
}

static void
load_bad(const char *want)
{
	cr_assert_null(load(), "accepted; wanted '%s'", want);
	cr_assert(strstr(err, want) != NULL, "'%s' does not say '%s'", err,
	    want);
}

Test(shaping, brackets_and_ports)
{
	struct egress	*eg;

	data("{ \"default\": { \"connection_limit\": 10 },\n"
	    "  \"192.0.2.10\": { \"mx_rollup\": false,\n"
	    "    \"smtp_auth_plain_username\": \"scott\",\n"
	    "    \"smtp_auth_plain_password\": { \"vault_mount\": \"secret\",\n"
	    "      \"vault_path\": \"smtp-auth/local\" } },\n"
	    "  \"[192.0.2.10]:587\": { \"mx_rollup\": false,\n"
	    "    \"connection_limit\": 2 },\n"
	    "  \"Relay.Example.NET.\": { \"mx_rollup\": false,\n"
	    "    \"connection_limit\": 4 } }\n");
	load_ok();
	eg = path("[192.0.2.10]", "192.0.2.10");
	cr_assert_str_eq(eg->smtp_auth_plain_username, "scott");
	cr_assert_eq(eg->connection_limit, 10);
	eg = path("[192.0.2.10]:587", "192.0.2.10:587");
	cr_assert_str_eq(eg->smtp_auth_plain_username, "scott");
	cr_assert_eq(eg->connection_limit, 2, "the port's section on top");
	cr_assert_str_eq(path("192.0.2.10", "192.0.2.10")->
	    smtp_auth_plain_username, "scott");
	cr_assert_null(path("[192.0.2.11]", "192.0.2.11")->
	    smtp_auth_plain_username);
	cr_assert_eq(limit("relay.example.net", "mx.example.net"), 4);
	cr_assert_eq(limit("relay.example.net.", "mx.example.net"), 4);
	cr_assert_eq(limit("example.net", "mx.example.net"), 10);
}

Test(shaping, rollup_learned_and_by_site_name)
{
	data("{ \"default\": { \"connection_limit\": 10 },\n"
	    "  \"a.test\": { \"connection_limit\": 3 },\n"
	    "  \"mx.other.test\": { \"connection_limit\": 7 },\n"
	    "  \"solo.test\": { \"mx_rollup\": false, \"connection_limit\": 5 },\n"
	    "  \"[192.0.2.20]\": { \"connection_limit\": 6 } }\n");
	load_ok();
	cr_assert_eq(limit("b.test", "mx.shared.test"), 10,
	    "a.test's site not known yet");
	cr_assert_eq(limit("a.test", "mx.shared.test"), 3);
	cr_assert_eq(limit("c.test", "mx.shared.test"), 3,
	    "another domain on a.test's site shares it");
	cr_assert_eq(limit("x.test", "mx.other.test"), 7, "keyed by site name");
	cr_assert_eq(limit("solo.test", "mx.shared2.test"), 5);
	cr_assert_eq(limit("d.test", "mx.shared2.test"), 10,
	    "mx_rollup = false stays with its domain");
	cr_assert_eq(limit("[192.0.2.20]", "192.0.2.20"), 6,
	    "an address's rollup section is its site's");
	/* a.test moves: its section follows it */
	cr_assert_eq(limit("a.test", "mx.new.test"), 3);
	cr_assert_eq(limit("e.test", "mx.new.test"), 3);
	cr_assert_eq(limit("f.test", "mx.shared.test"), 10);
}

Test(shaping, merge_order)
{
	struct egress	*eg;

	data("{ \"default\": { \"connection_limit\": 10,\n"
	    "    \"max_deliveries_per_connection\": 100,\n"
	    "    \"enable_tls\": \"Required\" },\n"
	    "  \"mx.d.test\": { \"connection_limit\": 5, \"smtp_port\": 2525,\n"
	    "    \"sources\": { \"unspecified\": { \"smtp_port\": 2526 } } },\n"
	    "  \"d.test\": { \"mx_rollup\": false,\n"
	    "    \"max_deliveries_per_connection\": 7, \"connection_limit\": 4,\n"
	    "    \"sources\": { \"other\": { \"connection_limit\": 1 } } } }\n");
	load_ok();
	eg = path("d.test", "mx.d.test");
	cr_assert_eq(eg->enable_tls, TLS_REQUIRED, "from default");
	cr_assert_eq(eg->connection_limit, 4, "domain over site");
	cr_assert_eq(eg->max_deliveries_per_connection, 7);
	cr_assert_eq(eg->smtp_port, 2526, "the source's over all");
	eg = path("e.test", "mx.d.test");
	cr_assert_eq(eg->connection_limit, 5, "site over default");
	cr_assert_eq(eg->max_deliveries_per_connection, 100);
}

Test(shaping, files_merge_and_replace_base)
{
	struct egress	*eg;

	data("{ \"x.test\": { \"mx_rollup\": false, \"connection_limit\": 3,\n"
	    "    \"max_deliveries_per_connection\": 4 },\n"
	    "  \"y.test\": { \"mx_rollup\": false, \"connection_limit\": 3,\n"
	    "    \"max_deliveries_per_connection\": 4 } }\n");
	data("{ \"x.test\": { \"mx_rollup\": false, \"connection_limit\": 6 },\n"
	    "  \"y.test\": { \"mx_rollup\": false, \"replace_base\": true,\n"
	    "    \"connection_limit\": 6 } }\n");
	load_ok();
	eg = path("x.test", "mx.x.test");
	cr_assert_eq(eg->connection_limit, 6, "the later file's value");
	cr_assert_eq(eg->max_deliveries_per_connection, 4, "merged key by key");
	eg = path("y.test", "mx.y.test");
	cr_assert_eq(eg->connection_limit, 6);
	cr_assert_eq(eg->max_deliveries_per_connection, 1024,
	    "replace_base drops the earlier file's keys");
}

Test(shaping, provider_match)
{
	data("{ \"default\": { \"connection_limit\": 10 },\n"
	    "  \"provider\": {\n"
	    "    \"google\": { \"match\": [ { \"MXSuffix\": \".google.com\" } ],\n"
	    "      \"connection_limit\": 3,\n"
	    "      \"sources\": { \"unspecified\": { \"smtp_port\": 2525 } } },\n"
	    "    \"corp\": { \"match\": [ { \"DomainSuffix\": \".corp.test\" } ],\n"
	    "      \"connection_limit\": 4 },\n"
	    "    \"one\": { \"match\": [ { \"HostName\": \"mx.one.test\" } ],\n"
	    "      \"connection_limit\": 5 } },\n"
	    "  \"gmail.com\": { \"mx_rollup\": false,\n"
	    "    \"max_deliveries_per_connection\": 9 } }\n");
	load_ok();
	cr_assert_eq(limit("gmail.com",
	    "(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com"), 3);
	cr_assert_eq(path("gmail.com",
	    "(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com")->smtp_port,
	    2525, "the provider's source");
	cr_assert_eq(limit("vanity.test", "(aspmx.l.google|mx.other).com"),
	    10, "every MX host must match");
	cr_assert_eq(limit("a.corp.test", "mx.a.corp.test"), 4);
	cr_assert_eq(limit("corp.test", "mx.corp.test"), 10,
	    "a suffix is a suffix of the text");
	cr_assert_eq(limit("z.test", "mx.one.test"), 5);
	cr_assert_eq(limit("[192.0.2.1]", "192.0.2.1"), 10);
}

Test(shaping, automation_and_sources_accepted)
{
	data("{ \"default\": { \"connection_limit\": 10,\n"
	    "    \"automation\": [ { \"regex\": \"4\\\\.7\\\\.1\",\n"
	    "      \"action\": \"Suspend\", \"duration\": \"1h\" } ] },\n"
	    "  \"s.test\": { \"sources\": { \"ip-1\": { \"connection_limit\": 2"
	    " } } } }\n");
	load_ok();
	cr_assert_eq(limit("s.test", "mx.s.test"), 10,
	    "another source's settings are not petrel's");
}

Test(shaping, errors_name_file_section_key)
{
	char	 want[PATH_MAX + 128];

	data("{ \"x.test\": { \"enable_tsl\": \"Required\" } }\n");
	snprintf(want, sizeof(want), "%s/s1.json: [x.test] enable_tsl: "
	    "unknown key", dir);
	load_bad(want);
}

Test(shaping, errors_type_keysource_json)
{
	data("{ \"x.test\": { \"connection_limit\": \"lots\" } }\n");
	load_bad("s1.json: [x.test] connection_limit: expected a number");
	nfiles = 0;
	data("{ \"x.test\": { \"smtp_auth_plain_password\": { \"vault_mount\":"
	    " \"secret\", \"vault_pth\": \"a\" } } }\n");
	load_bad("s1.json: [x.test] smtp_auth_plain_password: unknown key "
	    "'vault_pth'");
	nfiles = 0;
	data("{ \"x.test\": { \"mx_rollup\": \"no\" } }\n");
	load_bad("[x.test] mx_rollup: expected true or false, got 'no'");
	nfiles = 0;
	data("{ \"x.test\": { \"sources\": { \"s\": { \"foo\": 1 } } } }\n");
	load_bad("[x.test] sources.s foo: unknown key");
	nfiles = 0;
	data("{ \"provider\": { \"p\": { \"match\": [ { \"MXSufix\": \".x\" } ]"
	    " } } }\n");
	load_bad("[provider.p] match: item 1: expected one of");
	nfiles = 0;
	data("{ \"x.test\": {\n  \"connection_limit\": 1\n  \"b\": 2 } }\n");
	load_bad("line 3, column");
	nfiles = 0;
	data("{ \"x.test\": { \"smtp_auth_plain_password\": \"hunter2\" } }\n");
	load_bad("must be an absolute path");
	cr_assert(strstr(err, "hunter2") == NULL, "the password is echoed");
}

/*
 * JSON blocks copied from KumoMTA's documentation end objects with a
 * comma; shaping files take them (and only them), a comma inside a
 * string stays, and any other mistake still names line and column.
 */
Test(shaping, json_trailing_commas)
{
	struct egress	*eg;

	data("{\n  \"x.test\": {\n    \"connection_limit\": 3,\n"
	    "    \"smtp_auth_plain_username\": \"a,}\",\n  },\n"
	    "  \"y.test\": { \"skip_hosts\": [ \"10.0.0.1\", ], },\n}\n");
	load_ok();
	eg = path("x.test", "x.test");
	cr_assert_eq(eg->connection_limit, 3);
	cr_assert_str_eq(eg->smtp_auth_plain_username, "a,}");
	nfiles = 0;
	data("{ \"x.test\": { \"connection_limit\": 3,, } }\n");
	load_bad("line 1, column");
	nfiles = 0;
	data("[ 1, 2 ],\n");
	load_bad("s1.json");
	/* a comma that follows no value is no trailing comma */
	nfiles = 0;
	data("{ \"x.test\": { \"skip_hosts\": [ , ] } }\n");
	load_bad("line 1, column");
	nfiles = 0;
	data("{ \"x.test\": { , } }\n");
	load_bad("line 1, column");
}

/*
 * provider_source_selection_rate belongs to a provider's sources; in a
 * domain's sources it is an unknown key like any other.  Providers
 * merge by name, the same in every process.
 */
Test(shaping, provider_keys_and_order)
{
	data("{ \"x.test\": { \"sources\": { \"unspecified\": "
	    "{ \"provider_source_selection_rate\": \"5/s\" } } } }\n");
	load_bad("provider_source_selection_rate");
	nfiles = 0;
	data("{ \"provider\": { \"a\": { \"match\": [ { \"DomainSuffix\": "
	    "\".test\" } ], \"sources\": { \"unspecified\": "
	    "{ \"provider_source_selection_rate\": 5 } } } } }\n");
	load_bad("expected a rate string");
	/* four providers match: the last by name wins, every time */
	nfiles = 0;
	data("{ \"provider\": {\n"
	    "  \"p3\": { \"match\": [ { \"DomainSuffix\": \".test\" } ], "
	    "\"connection_limit\": 3 },\n"
	    "  \"p1\": { \"match\": [ { \"DomainSuffix\": \".test\" } ], "
	    "\"connection_limit\": 1 },\n"
	    "  \"p4\": { \"match\": [ { \"DomainSuffix\": \".test\" } ], "
	    "\"connection_limit\": 4 },\n"
	    "  \"p2\": { \"match\": [ { \"DomainSuffix\": \".test\" } ], "
	    "\"connection_limit\": 2 } } }\n");
	load_ok();
	cr_assert_eq(limit("x.test", "mx.x.test"), 4);
}

Test(shaping, plain_string_password_is_a_path)
{
	/* warnings only: the policy loads */
	data("{ \"x.test\": { \"smtp_auth_plain_password\": "
	    "\"/nonexistent/pw\" },\n"
	    "  \"y.test\": { \"smtp_auth_plain_password\": \"/etc/hostname\" }"
	    " }\n");
	load_ok();
}

Test(shaping, site_names_read_back)
{
	FILE	*f;

	cr_assert_not_null(f = fopen(file, "w"));
	fputs("local s = require 'policy-extras.shaping'\n"
	    "local function same(site, want)\n"
	    "  local got = s._expand_site(site)\n"
	    "  table.sort(got)\n"
	    "  table.sort(want)\n"
	    "  local a, b = table.concat(got, ' '), table.concat(want, ' ')\n"
	    "  if a ~= b then error(site .. ': ' .. a .. ' ~= ' .. b, 0) end\n"
	    "end\n"
	    "same('mx.example.com', { 'mx.example.com' })\n"
	    "same('(mta5|mta6).am0.yahoodns.net',\n"
	    "  { 'mta5.am0.yahoodns.net', 'mta6.am0.yahoodns.net' })\n"
	    "same('(alt1|alt2)?.aspmx.l.google.com', { 'aspmx.l.google.com',\n"
	    "  'alt1.aspmx.l.google.com', 'alt2.aspmx.l.google.com' })\n"
	    "same('mx.example.com:2525', { 'mx.example.com' })\n"
	    "assert(s._name_key('[IPv6:2001:db8::1]:25') == '2001:db8::1 25')\n"
	    "assert(s._name_key('[192.0.2.1]') == '192.0.2.1')\n"
	    "assert(s._name_key('192.0.2.1:587') == '192.0.2.1 587')\n"
	    "assert(s._name_key('Example.COM.') == 'example.com')\n", f);
	fclose(f);
	pol = policy_load(file, &conf, err, sizeof(err));
	cr_assert_not_null(pol, "%s", err);
}

Test(shaping, ten_thousand_sections_looked_up)
{
	char	*json, *p, rd[64];
	size_t	 len = 10000 * 80 + 64;
	int	 i;

	p = json = xcalloc(1, len);
	p += sprintf(p, "{ \"default\": { \"connection_limit\": 10 }");
	for (i = 0; i < 10000; i++)
		p += sprintf(p, ",\n \"d%d.test\": { \"mx_rollup\": false, "
		    "\"connection_limit\": %d }", i, i % 100 + 1);
	strlcpy(p, " }\n", len - (p - json));
	data(json);
	free(json);
	load_ok();
	for (i = 0; i < 10000; i += 997) {
		snprintf(rd, sizeof(rd), "d%d.test", i);
		cr_assert_eq(limit(rd, "mx.test"), i % 100 + 1);
	}
}
