/*
 * test_vault.c - keysd's Vault client, its pure parts (vaultparse.c):
 * the request URL, the vault_allow check, and what each of Vault's
 * answers means.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "../../keysd/keysd.h"

Test(vault, url_escapes_all_but_slash_and_trims_the_address)
{
	char	*u;

	u = vault_url("https://vault.example:8200/", "secret",
	    "smtp-auth/example.com");
	cr_assert_str_eq(u, "https://vault.example:8200/v1/secret/data/"
	    "smtp-auth/example.com");
	free(u);
	u = vault_url("http://127.0.0.1:8200//", "kv v2", "a b/c?d#e%f&g");
	cr_assert_str_eq(u, "http://127.0.0.1:8200/v1/kv%20v2/data/"
	    "a%20b/c%3Fd%23e%25f%26g");
	free(u);
}

Test(vault, allow_patterns_span_slashes)
{
	cr_assert(vault_allowed("*", "secret", "a/b/c"));
	cr_assert(vault_allowed("secret/smtp-auth/*", "secret",
	    "smtp-auth/example.com"));
	cr_assert(vault_allowed("secret/smtp-auth/*", "secret",
	    "smtp-auth/deep/er"));
	cr_assert_not(vault_allowed("secret/smtp-auth/*", "secret",
	    "other/x"));
	cr_assert_not(vault_allowed("secret/smtp-auth/*", "kv",
	    "smtp-auth/x"));
	/* the second pattern of a list, blanks around it */
	cr_assert(vault_allowed("kv/a , secret/b*", "secret", "b/c"));
	cr_assert_not(vault_allowed("", "secret", "b"));
}

Test(vault, dot_segments_and_header_values_are_refused)
{
	char	 err[256];

	cr_assert_eq(vault_check_path("secret", "smtp-auth/x", err,
	    sizeof(err)), 0);
	cr_assert_eq(vault_check_path("secret", "a/../admin", err,
	    sizeof(err)), -1);
	cr_assert_eq(vault_check_path("secret", "./a", err, sizeof(err)), -1);
	cr_assert_eq(vault_check_path("secret", "a/..", err, sizeof(err)),
	    -1);
	cr_assert_eq(vault_check_path("..", "a", err, sizeof(err)), -1);
	cr_assert_eq(vault_check_path("secret/", "a", err, sizeof(err)), -1);
	/* dots inside a name are fine */
	cr_assert_eq(vault_check_path("secret", "a/..b/c.d/...", err,
	    sizeof(err)), 0);
	cr_assert(vault_address_ok("https://vault.example:8200"));
	cr_assert(vault_address_ok("http://127.0.0.1:8200/"));
	cr_assert(vault_address_ok("http://v.example/prefix@x"));
	cr_assert_not(vault_address_ok("http://u:pw@v.example"));
	cr_assert_not(vault_address_ok("ftp://v.example"));
	cr_assert_not(vault_address_ok("http://"));
	cr_assert_not(vault_address_ok("http://v.example /x"));
	cr_assert_not(vault_address_ok("http://v.example\r\nX: 1"));
	cr_assert(vault_header_ok("s.abcDEF123"));
	cr_assert_not(vault_header_ok("s.abc\r\nX-Evil: 1"));
	cr_assert_not(vault_header_ok(""));
	cr_assert_not(vault_header_ok("tab\there"));
}

/* Vault 1.15's answers, byte for byte but for ids and times. */
#define ENVELOPE(data) "{\"request_id\":\"bb1f2b93-9f8a-d8b5-9a0c-" \
	"2f0b5b1c7c38\",\"lease_id\":\"\",\"renewable\":false," \
	"\"lease_duration\":0,\"data\":" data ",\"wrap_info\":null," \
	"\"warnings\":null,\"auth\":null,\"mount_type\":\"kv\"}\n"
#define METADATA(del, destroyed, ver) "\"metadata\":{\"created_time\":" \
	"\"2024-05-01T10:00:00.123456Z\",\"custom_metadata\":null," \
	"\"deletion_time\":\"" del "\",\"destroyed\":" destroyed \
	",\"version\":" ver "}"

static const char good[] = ENVELOPE("{\"data\":{\"password\":\"tiger\","
    "\"username\":\"scott\"}," METADATA("", "false", "2") "}");
static const char number[] = ENVELOPE("{\"data\":{\"password\":12345},"
    METADATA("", "false", "1") "}");
static const char deleted[] = ENVELOPE("{\"data\":null,"
    METADATA("2024-05-02T08:30:00.654321Z", "false", "3") "}");
static const char destroyed[] = ENVELOPE("{\"data\":null,"
    METADATA("", "true", "4") "}");

static enum vault_class
parse(long status, const char *body, const char *key,
    struct vault_answer *a)
{
	return vault_parse(status, body, body ? strlen(body) : 0, key, a);
}

Test(vault, ok_200_gives_the_value)
{
	struct vault_answer a;

	cr_assert_eq(parse(200, good, "password", &a), VC_OK);
	cr_assert_str_eq(a.value, "tiger");
	cr_assert_eq(a.len, 5);
	cr_assert_eq(vault_class_result(a.cls), KR_OK);
	secret_free(a.value, a.len);
	cr_assert_eq(parse(200, good, "username", &a), VC_OK);
	cr_assert_str_eq(a.value, "scott");
	secret_free(a.value, a.len);
}

Test(vault, no_key_200_names_the_key_and_what_there_is)
{
	struct vault_answer a;

	cr_assert_eq(parse(200, good, "key", &a), VC_NOKEY);
	cr_assert_null(a.value);
	cr_assert_str_eq(a.why, "no key 'key' in the secret (it has "
	    "password, username)");
	cr_assert_null(strstr(a.why, "tiger"));
	cr_assert_eq(vault_class_result(a.cls), KR_FAILED);
	cr_assert_eq(parse(200, ENVELOPE("{\"data\":{}," METADATA("", "false",
	    "1") "}"), "password", &a), VC_NOKEY);
	cr_assert_str_eq(a.why, "no key 'password' in the secret (it is "
	    "empty)");
}

Test(vault, not_a_string_200_never_shows_the_value)
{
	struct vault_answer a;

	cr_assert_eq(parse(200, number, "password", &a), VC_NOTSTRING);
	cr_assert_null(a.value);
	cr_assert_str_eq(a.why, "the value of 'password' is not a string but "
	    "a number");
	cr_assert_null(strstr(a.why, "12345"));
	cr_assert_eq(vault_class_result(a.cls), KR_FAILED);
	cr_assert_eq(parse(200, ENVELOPE("{\"data\":{\"password\":{\"a\":1}}}"),
	    "password", &a), VC_NOTSTRING);
	cr_assert_str_eq(a.why, "the value of 'password' is not a string but "
	    "an object");
	cr_assert_eq(parse(200, ENVELOPE("{\"data\":{\"password\":true}}"),
	    "password", &a), VC_NOTSTRING);
	cr_assert_eq(parse(200, ENVELOPE("{\"data\":{\"password\":\"\"}}"),
	    "password", &a), VC_NOTSTRING);
	cr_assert_str_eq(a.why, "the value of 'password' is an empty string");
	cr_assert_eq(parse(200, ENVELOPE("{\"data\":{\"password\":"
	    "\"ti\\u0000ger\"}}"), "password", &a), VC_NOTSTRING);
	cr_assert_str_eq(a.why, "the value of 'password' contains a NUL byte");
}

Test(vault, no_such_path_404)
{
	struct vault_answer a;

	cr_assert_eq(parse(404, "{\"errors\":[]}\n", "password", &a),
	    VC_NOPATH);
	cr_assert_str_eq(a.why, "no such path");
	cr_assert_eq(vault_class_result(a.cls), KR_FAILED);
	/* a mount that does not exist: Vault says why */
	cr_assert_eq(parse(404, "{\"errors\":[\"no handler for route "
	    "\\\"nope/data/x\\\". route entry not found.\"]}", "password", &a),
	    VC_NOPATH);
	cr_assert_str_eq(a.why, "no such path (Vault: no handler for route "
	    "\"nope/data/x\". route entry not found.)");
}

Test(vault, deleted_latest_version_404)
{
	struct vault_answer a;

	cr_assert_eq(parse(404, deleted, "password", &a), VC_DELETED);
	cr_assert_str_eq(a.why, "the latest version is deleted (version 3, "
	    "deleted at 2024-05-02T08:30:00.654321Z)");
	cr_assert_eq(vault_class_result(a.cls), KR_FAILED);
}

Test(vault, destroyed_latest_version_404)
{
	struct vault_answer a;

	cr_assert_eq(parse(404, destroyed, "password", &a), VC_DESTROYED);
	cr_assert_str_eq(a.why, "the latest version is destroyed (version 4)");
	cr_assert_eq(vault_class_result(a.cls), KR_FAILED);
}

Test(vault, permission_denied_403)
{
	struct vault_answer a;

	cr_assert_eq(parse(403, "{\"errors\":[\"1 error occurred:\\n\\t* "
	    "permission denied\\n\\n\"]}\n", "password", &a), VC_DENIED);
	cr_assert_str_eq(a.why, "permission denied (check the token and its "
	    "policy)");
	cr_assert_eq(vault_class_result(a.cls), KR_FAILED);
}

Test(vault, sealed_503_is_an_outage)
{
	struct vault_answer a;

	cr_assert_eq(parse(503, "{\"errors\":[\"Vault is sealed\"]}\n",
	    "password", &a), VC_SEALED);
	cr_assert_str_eq(a.why, "Vault is sealed");
	cr_assert_eq(vault_class_result(a.cls), KR_OUTAGE);
	/* whatever the body */
	cr_assert_eq(parse(503, "", "password", &a), VC_SEALED);
}

Test(vault, retry_on_429_412_and_other_5xx)
{
	struct vault_answer a;

	cr_assert_eq(parse(429, "{\"errors\":[\"request path \\\"secret/data/"
	    "x\\\": rate limit quota exceeded\"]}\n", "password", &a),
	    VC_RETRY);
	cr_assert_str_eq(a.why, "Vault answered HTTP 429: request path "
	    "\"secret/data/x\": rate limit quota exceeded");
	cr_assert_eq(vault_class_result(a.cls), KR_OUTAGE);
	cr_assert_eq(parse(412, "{\"errors\":[\"required index state not "
	    "present\"]}\n", "password", &a), VC_RETRY);
	cr_assert_str_eq(a.why, "Vault answered HTTP 412: required index "
	    "state not present");
	cr_assert_eq(parse(500, "{\"errors\":[\"internal error\"]}\n",
	    "password", &a), VC_RETRY);
	cr_assert_str_eq(a.why, "Vault answered HTTP 500: internal error");
	cr_assert_eq(parse(502, "<html>Bad Gateway</html>", "password", &a),
	    VC_RETRY);
	cr_assert_str_eq(a.why, "Vault answered HTTP 502");
}

Test(vault, garbage_json_is_unexpected_and_not_quoted)
{
	struct vault_answer a;

	cr_assert_eq(parse(200, "{\"data\": {\"data\": {\"password\": "
	    "\"tiger\"", "password", &a), VC_UNEXPECTED);
	cr_assert_str_eq(a.why, "unexpected answer from Vault: HTTP 200 with "
	    "a body that is not JSON");
	cr_assert_null(a.value);
	cr_assert_eq(vault_class_result(a.cls), KR_FAILED);
	cr_assert_eq(parse(404, "<html>404 page not found</html>", "password",
	    &a), VC_UNEXPECTED);
	cr_assert_str_eq(a.why, "unexpected answer from Vault: HTTP 404 with "
	    "a body that is not JSON");
	/* KV version 1 answers without data.data */
	cr_assert_eq(parse(200, ENVELOPE("{\"password\":\"tiger\"}"),
	    "password", &a), VC_UNEXPECTED);
	cr_assert_str_eq(a.why, "unexpected answer from Vault: HTTP 200 "
	    "without data.data (not a KV version 2 secret?)");
	cr_assert_eq(parse(200, "[1,2]", "password", &a), VC_UNEXPECTED);
	cr_assert_eq(parse(404, "{\"data\":1}", "password", &a),
	    VC_UNEXPECTED);
	cr_assert_str_eq(a.why, "unexpected answer from Vault: HTTP 404 "
	    "without errors or metadata");
}

Test(vault, empty_body_is_unexpected)
{
	struct vault_answer a;

	cr_assert_eq(parse(200, "", "password", &a), VC_UNEXPECTED);
	cr_assert_str_eq(a.why, "unexpected answer from Vault: HTTP 200 with "
	    "an empty body");
	cr_assert_eq(vault_parse(200, NULL, 0, "password", &a),
	    VC_UNEXPECTED);
}

Test(vault, other_statuses_are_unexpected)
{
	struct vault_answer a;

	cr_assert_eq(parse(301, "", "password", &a), VC_UNEXPECTED);
	cr_assert_str_eq(a.why, "unexpected answer from Vault: HTTP 301");
	cr_assert_eq(parse(400, "{\"errors\":[\"missing client token\"]}",
	    "password", &a), VC_UNEXPECTED);
	cr_assert_str_eq(a.why, "unexpected answer from Vault: HTTP 400: "
	    "missing client token");
	cr_assert_eq(vault_class_result(a.cls), KR_FAILED);
}

Test(vault, huge_bodies)
{
	struct vault_answer a;
	size_t		 n = 2 * VAULT_BODY_MAX, pad = VAULT_BODY_MAX - 200;
	char		*big;
	int		 o;

	/* over 1 MiB: refused before it is parsed */
	big = malloc(n + 1);
	memset(big, ' ', n);
	big[n] = '\0';
	memcpy(big, good, strlen(good));
	cr_assert_eq(vault_parse(200, big, n, "password", &a), VC_UNEXPECTED);
	cr_assert_str_eq(a.why, "unexpected answer from Vault: HTTP 200 with "
	    "a body larger than 1024 KiB");
	/* just under: parsed, padding and all */
	o = snprintf(big, n, "{\"data\":{\"data\":{\"password\":\"tiger\","
	    "\"pad\":\"");
	memset(big + o, 'x', pad);
	strcpy(big + o + pad, "\"}}}");
	cr_assert_eq(vault_parse(200, big, strlen(big), "password", &a),
	    VC_OK);
	cr_assert_str_eq(a.value, "tiger");
	secret_free(a.value, a.len);
	/* a value over 64 KiB does not fit a reply */
	o = snprintf(big, n, "{\"data\":{\"data\":{\"password\":\"");
	memset(big + o, 'x', KEY_FILE_MAX + 1);
	strcpy(big + o + KEY_FILE_MAX + 1, "\"}}}");
	cr_assert_eq(vault_parse(200, big, strlen(big), "password", &a),
	    VC_NOTSTRING);
	cr_assert_str_eq(a.why, "the value of 'password' is longer than 64 "
	    "KiB");
	free(big);
}

/* The auth block of an AppRole login or a renew-self, as Vault sends it. */
#define AUTH_OK	"{\"request_id\":\"6f1f5d1e-0000-4000-8000-000000000001\"," \
	"\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0," \
	"\"data\":null,\"wrap_info\":null,\"warnings\":null,\"auth\":" \
	"{\"client_token\":\"hvs.CAESIabc\",\"accessor\":\"x\"," \
	"\"policies\":[\"default\"],\"token_policies\":[\"default\"]," \
	"\"metadata\":{\"role_name\":\"petrel\"},\"lease_duration\":1200," \
	"\"renewable\":true,\"entity_id\":\"e\",\"token_type\":\"service\"," \
	"\"orphan\":true,\"mfa_requirement\":null,\"num_uses\":0}}"

Test(vault, auth_block_gives_token_lease_and_renewable)
{
	char	*tok, why[256];
	int64_t	 lease;
	int	 ren;

	cr_assert_eq(vault_parse_auth(AUTH_OK, strlen(AUTH_OK), &tok, &lease,
	    &ren, why, sizeof(why)), 0);
	cr_assert_str_eq(tok, "hvs.CAESIabc");
	cr_assert_eq(lease, 1200);
	cr_assert_eq(ren, 1);
	secret_free_str(tok);
}

Test(vault, auth_block_missing_or_mistyped_is_refused_without_the_token)
{
	static const char *bad[] = {
		"",
		"not json",
		"{\"auth\":null}",
		"{\"auth\":{\"client_token\":\"hvs.secret1\",\"renewable\":true}}",
		"{\"auth\":{\"client_token\":\"hvs.secret1\",\"lease_duration\":\"5\",\"renewable\":true}}",
		"{\"auth\":{\"client_token\":\"hvs.secret1\",\"lease_duration\":-1,\"renewable\":true}}",
		"{\"auth\":{\"client_token\":\"hvs.secret1\",\"lease_duration\":5,\"renewable\":\"yes\"}}",
		"{\"auth\":{\"client_token\":7,\"lease_duration\":5,\"renewable\":true}}",
		"{\"auth\":{\"client_token\":\"hvs.a\\r\\nX: y\",\"lease_duration\":5,\"renewable\":true}}",
	};
	char	*tok, why[256];
	int64_t	 lease;
	int	 ren;
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(vault_parse_auth(bad[i], strlen(bad[i]), &tok,
		    &lease, &ren, why, sizeof(why)), -1, "case %zu", i);
		cr_assert_null(tok);
		cr_assert_null(strstr(why, "secret1"), "case %zu: %s", i, why);
		cr_assert_neq(why[0], '\0');
	}
}
