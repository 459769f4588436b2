/*
 * test_oauth2.c - OAuth2 keysources: the parser's oauth2_* fields and
 * their nested keysources, the way they travel from deliverd to keysd,
 * and the SASL initial responses of XOAUTH2 and OAUTHBEARER.
 */
#include "config.h"

#include <string.h>

#include <criterion/criterion.h>

#include "keysource.h"
#include "sasl.h"
#include "secret.h"
#include "wire.h"
#include "wirecodec.h"

static char	 e[512];

/* A keysource from name/value pairs; -1 (and e) at the first refusal. */
static int
build(struct keysource **out, const char *const *kv)
{
	struct keysource *ks = keysource_new();

	e[0] = '\0';
	*out = ks;
	for (; kv[0] != NULL; kv += 2)
		if (keysource_set(ks, kv[0], kv[1], strlen(kv[1]), e,
		    sizeof(e)) == -1)
			return -1;
	return keysource_check(ks, e, sizeof(e));
}

#define URL	"https://login.example/tenant/oauth2/v2.0/token"

Test(oauth2, client_credentials)
{
	static const char *const kv[] = {
		"oauth2_token_url", URL, "oauth2_client_id", "app-1",
		"oauth2_client_secret.key_data", "s3cret-cs",
		"oauth2_scope", "https://outlook.office365.com/.default", NULL };
	struct keysource *ks, *c;
	char		 d[600];

	cr_assert_eq(build(&ks, kv), 0, "%s", e);
	cr_assert_eq(ks->kind, KS_OAUTH2);
	cr_assert_str_eq(ks->oauth2_grant, "client_credentials");
	cr_assert_str_eq(ks->oauth2_client_auth, "basic");
	cr_assert_not_null(ks->oauth2_client_secret);
	cr_assert_eq(ks->oauth2_client_secret->kind, KS_DATA);
	cr_assert_str_eq(ks->oauth2_client_secret->data, "s3cret-cs");
	cr_assert_null(ks->oauth2_refresh_token);
	cr_assert_str_eq(keysource_describe(ks, d, sizeof(d)),
	    "oauth2 client_credentials client app-1 at " URL);
	cr_assert_str_eq(keysource_label(ks, d, sizeof(d)),
	    "<keysource oauth2 client_credentials client app-1 at " URL ">");
	c = keysource_copy(ks);
	cr_assert_eq(c->kind, KS_OAUTH2);
	cr_assert_str_eq(c->oauth2_client_secret->data, "s3cret-cs");
	cr_assert_neq(c->oauth2_client_secret, ks->oauth2_client_secret);
	keysource_free(c);
	keysource_free(ks);
}

Test(oauth2, refresh_token_nested_vault_and_file)
{
	static const char *const kv[] = {
		"oauth2_token_url", "https://u:pw@idp.test/token",
		"oauth2_client_id", "app-2",
		"oauth2_client_secret", "/etc/petrel/keys/cs",
		"oauth2_grant", "refresh_token",
		"oauth2_refresh_token.vault_mount", "secret",
		"oauth2_refresh_token.vault_path", "smtp/rt",
		"oauth2_client_auth", "body", NULL };
	struct keysource *ks;
	char		 d[600];

	cr_assert_eq(build(&ks, kv), 0, "%s", e);
	cr_assert_eq(ks->oauth2_client_secret->kind, KS_FILE);
	cr_assert_str_eq(ks->oauth2_client_secret->path, "/etc/petrel/keys/cs");
	cr_assert_eq(ks->oauth2_refresh_token->kind, KS_VAULT);
	cr_assert_str_eq(ks->oauth2_refresh_token->vault_key, "key");
	cr_assert_str_eq(ks->oauth2_client_auth, "body");
	/* never the userinfo of the token URL */
	cr_assert_str_eq(keysource_describe(ks, d, sizeof(d)),
	    "oauth2 refresh_token client app-2 at https://idp.test/token");
	keysource_free(ks);
}

Test(oauth2, refusals)
{
	static const struct {
		const char	*kv[16];
		const char	*want;
	} bad[] = {
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_client_secret.key_data", "x", "oauth2_scop", "s",
		    NULL }, "unknown key 'oauth2_scop'" },
		{ { "oauth2_client_id", "a", "oauth2_client_secret.key_data",
		    "x", NULL }, "oauth2_token_url missing" },
		{ { "oauth2_token_url", URL, "oauth2_client_secret.key_data",
		    "x", NULL }, "oauth2_client_id missing" },
		{ { "oauth2_token_url", "ftp://x/token", "oauth2_client_id",
		    "a", "oauth2_client_secret.key_data", "x", NULL },
		    "oauth2_token_url: expected an http:// or https:// URL" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a", NULL },
		    "oauth2_client_secret missing" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_client_secret.key_data", "x", "oauth2_grant",
		    "password", NULL }, "oauth2_grant: expected "
		    "'client_credentials' or 'refresh_token', got 'password'" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_client_secret.key_data", "x", "oauth2_client_auth",
		    "jwt", NULL }, "oauth2_client_auth: expected 'basic' or "
		    "'body'" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_grant", "refresh_token", NULL },
		    "oauth2_refresh_token missing" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_client_secret.key_data", "x",
		    "oauth2_refresh_token.key_data", "r", NULL },
		    "oauth2_refresh_token: only with oauth2_grant = "
		    "'refresh_token'" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_client_secret.oauth2_token_url", URL, NULL },
		    "a nested keysource is key_data, key_file or vault_*, "
		    "not OAuth2" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_client_secret.vault_mount", "m", NULL },
		    "oauth2_client_secret: vault_path missing" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_client_secret.key_dat", "x", NULL },
		    "oauth2_client_secret: unknown key 'key_dat'" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_client_secret", "relative/cs", NULL },
		    "must be an absolute path" },
		{ { "oauth2_token_url", URL, "oauth2_client_id", "a",
		    "oauth2_client_secret", "/k/cs",
		    "oauth2_client_secret.key_data", "x", NULL },
		    "oauth2_client_secret: given twice" },
		{ { "key_data", "pw", "oauth2_token_url", URL,
		    "oauth2_client_id", "a", NULL },
		    "key_data and oauth2_* do not go together" },
	};
	struct keysource *ks;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(build(&ks, bad[i].kv), -1, "case %zu accepted",
		    i);
		cr_assert(strstr(e, bad[i].want) != NULL,
		    "case %zu: '%s' lacks '%s'", i, e, bad[i].want);
		/* no secret value echoed */
		cr_assert(strstr(e, "s3cret") == NULL);
		keysource_free(ks);
	}
}

/* The spec travels key by key, the nested ones too, and comes back whole. */
Test(oauth2, wire_roundtrip)
{
	static const char *const kv[] = {
		"oauth2_token_url", URL, "oauth2_client_id", "app-3",
		"oauth2_client_secret.vault_mount", "kv",
		"oauth2_client_secret.vault_path", "cs",
		"oauth2_client_secret.vault_token", "hvs.tok",
		"oauth2_grant", "refresh_token",
		"oauth2_refresh_token.key_file", "/etc/petrel/keys/rt",
		"oauth2_scope", "a b", NULL };
	struct keysource *ks;
	struct wire_key_req w, g;
	struct mbuf	 m;
	struct mreader	 r;
	struct imsg	 im;
	char		 err[256] = "";

	cr_assert_eq(build(&ks, kv), 0, "%s", e);
	w.want = KEY_WANT_SECRET;
	w.ks = ks;
	m_create(&m, IMSG_DELIVERD_KEY, 7, -1);
	wire_key_req_add(&m, &w);
	cr_assert_eq(m.wipe, 1);
	memset(&im, 0, sizeof(im));
	im.data = m.buf;
	im.datalen = m.len;
	im.fd = -1;
	m_reader(&r, &im);
	cr_assert_eq(wire_key_req_get(&r, &g, err, sizeof(err)), 0);
	m_discard(&m);
	cr_assert_not_null(g.ks, "%s", err);
	cr_assert_eq(g.ks->kind, KS_OAUTH2);
	cr_assert_str_eq(g.ks->oauth2_client_id, "app-3");
	cr_assert_str_eq(g.ks->oauth2_scope, "a b");
	cr_assert_str_eq(g.ks->oauth2_grant, "refresh_token");
	cr_assert_eq(g.ks->oauth2_client_secret->kind, KS_VAULT);
	cr_assert_str_eq(g.ks->oauth2_client_secret->vault_token, "hvs.tok");
	cr_assert_eq(g.ks->oauth2_refresh_token->kind, KS_FILE);
	cr_assert_str_eq(g.ks->oauth2_refresh_token->path,
	    "/etc/petrel/keys/rt");
	keysource_free(g.ks);
	keysource_free(ks);
}

Test(oauth2, sasl_xoauth2)
{
	size_t	 n;
	char	*p = sasl_xoauth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", &n);
	static const char want[] = "user=someuser@example.com\001auth=Bearer "
	    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001";

	cr_assert_eq(n, sizeof(want) - 1);
	cr_assert_eq(memcmp(p, want, n), 0);
	secret_free(p, n + 1);
}

/* RFC 7628 section 4.1's example, and the saslname escapes. */
Test(oauth2, sasl_oauthbearer)
{
	size_t	 n;
	char	*p = sasl_oauthbearer("user@example.com", "server.example.com",
	    143, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", &n);
	static const char want[] = "n,a=user@example.com,\001"
	    "host=server.example.com\001port=143\001"
	    "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\001\001";
	static const char want2[] = "n,a=a=3Db=2Cc,\001host=h\001port=587\001"
	    "auth=Bearer t\001\001";

	cr_assert_eq(n, sizeof(want) - 1);
	cr_assert_eq(memcmp(p, want, n), 0);
	secret_free(p, n + 1);
	p = sasl_oauthbearer("a=b,c", "h", 587, "t", &n);
	cr_assert_eq(n, sizeof(want2) - 1);
	cr_assert_eq(memcmp(p, want2, n), 0);
	secret_free(p, n + 1);
}
