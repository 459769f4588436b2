/*
 * fuzz_keysource.c - the keysource spec parser (lib/keysource.c): the
 * string form (keysource_file) and the table form one key at a time
 * (keysource_set, keysource_check), as make_egress_path and keysd's
 * requests use it, then what logs and petrelctl show of it.
 *
 * Input: a string-form keysource when it starts with '/'; else the
 * table, "key=value" a line (the value may hold any byte but LF).
 *
 * Checked: a refusal has a reason; a copy is equal key by key;
 * keysource_describe() and keysource_label() never depend on a
 * secret (key_data, vault_token, an OAuth2 keysource's nested ones) nor
 * on the user:password of a vault_address or oauth2_token_url: with
 * those replaced, they print the same.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "keysource.h"

/* "scheme://USERINFO@host/..." with USERINFO replaced by "u" */
static char *
other_userinfo(const char *a)
{
	const char	*auth, *at, *end;
	char		*s;

	if ((auth = strstr(a, "://")) == NULL)
		return strdup(a);
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	for (at = end; at > auth && at[-1] != '@'; at--)
		;
	if (at == auth)
		return strdup(a);	/* no userinfo */
	if (asprintf(&s, "%.*su@%s", (int)(auth - a), a, at) == -1)
		abort();
	return s;
}

static void
other_secrets(struct keysource *o)
{
	char	*a;

	if (o == NULL)
		return;
	if (o->data != NULL) {
		free(o->data);
		o->data = strdup("another secret");
	}
	if (o->vault_token != NULL) {
		free(o->vault_token);
		o->vault_token = strdup("s.AnotherToken");
	}
	if (o->vault_address != NULL) {
		a = other_userinfo(o->vault_address);
		free(o->vault_address);
		o->vault_address = a;
	}
}

static void
check_shown(const struct keysource *ks)
{
	struct keysource *o;
	char		 d1[1024], d2[1024], l1[1024], l2[1024];
	char		*a;

	o = keysource_copy(ks);
	other_secrets(o->oauth2_client_secret);
	other_secrets(o->oauth2_refresh_token);
	if (o->oauth2_token_url != NULL) {
		a = other_userinfo(o->oauth2_token_url);
		free(o->oauth2_token_url);
		o->oauth2_token_url = a;
	}
	if (o->data != NULL) {
		free(o->data);
		o->data = strdup("another secret");
	}
	if (o->vault_token != NULL) {
		free(o->vault_token);
		o->vault_token = strdup("s.AnotherToken");
	}
	if (o->vault_address != NULL) {
		a = other_userinfo(o->vault_address);
		free(o->vault_address);
		o->vault_address = a;
	}
	keysource_describe(ks, d1, sizeof(d1));
	keysource_describe(o, d2, sizeof(d2));
	keysource_label(ks, l1, sizeof(l1));
	keysource_label(o, l2, sizeof(l2));
	if (strcmp(d1, d2) != 0)
		fprintf(stderr, "describe: '%s' / '%s'\n", d1, d2);
	FUZZ_CHECK(strcmp(d1, d2) == 0);
	FUZZ_CHECK(strcmp(l1, l2) == 0);
	keysource_free(o);
}

static void
check_copy(const struct keysource *ks)
{
	struct keysource *c = keysource_copy(ks);
	const char	*n1, *n2, *v1, *v2;
	size_t		 i;

	FUZZ_CHECK(c->kind == ks->kind);
	for (i = 0; (n1 = keysource_key(ks, i, &v1)) != NULL; i++) {
		n2 = keysource_key(c, i, &v2);
		FUZZ_CHECK(n2 != NULL && strcmp(n1, n2) == 0);
		FUZZ_CHECK((v1 == NULL) == (v2 == NULL));
		FUZZ_CHECK(v1 == NULL || strcmp(v1, v2) == 0);
	}
	keysource_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf = (const char *)data, *end = buf + size, *p, *nl;
	const char	*eq;
	struct keysource *ks;
	char		 err[1024], key[256], *s;
	int		 bad = 0;

	err[0] = '\0';
	if (size > 0 && buf[0] == '/') {
		if ((s = strndup(buf, size)) == NULL)
			abort();
		ks = keysource_file(s, err, sizeof(err));
		FUZZ_CHECK(ks != NULL && ks->kind == KS_FILE);
		free(s);
		check_copy(ks);
		check_shown(ks);
		keysource_free(ks);
		return 0;
	}
	ks = keysource_new();
	for (p = buf; p < end && !bad; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if ((eq = memchr(p, '=', nl - p)) == NULL ||
		    (size_t)(eq - p) >= sizeof(key))
			continue;
		memcpy(key, p, eq - p);
		key[eq - p] = '\0';
		if (keysource_set(ks, key, eq + 1, nl - eq - 1, err,
		    sizeof(err)) == -1) {
			FUZZ_CHECK(err[0] != '\0');
			bad = 1;
		}
	}
	if (!bad) {
		if (keysource_check(ks, err, sizeof(err)) == -1)
			FUZZ_CHECK(err[0] != '\0');
		else {
			FUZZ_CHECK(ks->kind == KS_FILE || ks->kind == KS_DATA ||
			    ks->kind == KS_VAULT || ks->kind == KS_OAUTH2);
			if (ks->kind == KS_OAUTH2)
				FUZZ_CHECK(ks->oauth2_token_url != NULL &&
				    ks->oauth2_client_id != NULL &&
				    ks->oauth2_grant != NULL &&
				    ks->oauth2_client_auth != NULL &&
				    (ks->oauth2_client_secret == NULL ||
				    ks->oauth2_client_secret->kind !=
				    KS_OAUTH2) &&
				    (ks->oauth2_refresh_token == NULL ||
				    ks->oauth2_refresh_token->kind !=
				    KS_OAUTH2));
			if (ks->kind == KS_VAULT)
				FUZZ_CHECK(ks->vault_mount != NULL &&
				    ks->vault_path != NULL &&
				    ks->vault_key != NULL);
		}
	}
	check_copy(ks);
	check_shown(ks);
	keysource_free(ks);
	return 0;
}
