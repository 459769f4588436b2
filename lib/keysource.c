/*
 * keysource.c - keysource specs (see keysource.h): the one parser of
 * KumoMTA's keysource forms, with petrel's key_file, vault_namespace
 * and OAuth2 access tokens (whose client secret and refresh token are
 * keysources in turn, one level deep).  Secrets (key_data, vault_token) are copied only
 * into memory that is wiped when freed, and never printed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keysource.h"
#include "util.h"

#define KS_OFF(f)	offsetof(struct keysource, f)

/* The keys of the table form; secret ones are wiped when freed. */
static const struct {
	const char	*name;
	size_t		 off;
	int		 secret;
} ks_keys[] = {
	{ "key_data", KS_OFF(data), 1 },
	{ "key_file", KS_OFF(path), 0 },
	{ "vault_mount", KS_OFF(vault_mount), 0 },
	{ "vault_path", KS_OFF(vault_path), 0 },
	{ "vault_key", KS_OFF(vault_key), 0 },
	{ "vault_address", KS_OFF(vault_address), 0 },
	{ "vault_token", KS_OFF(vault_token), 1 },
	{ "vault_namespace", KS_OFF(vault_namespace), 0 },
	{ "oauth2_token_url", KS_OFF(oauth2_token_url), 0 },
	{ "oauth2_client_id", KS_OFF(oauth2_client_id), 0 },
	{ "oauth2_scope", KS_OFF(oauth2_scope), 0 },
	{ "oauth2_grant", KS_OFF(oauth2_grant), 0 },
	{ "oauth2_client_auth", KS_OFF(oauth2_client_auth), 0 },
};
#define NKEYS	(sizeof(ks_keys) / sizeof(ks_keys[0]))
#define NBASE	8	/* the first ones: a nested keysource's keys */

/* The nested keysources, and their keys' names on the wire. */
static const struct {
	const char	*name;
	size_t		 off;
	const char	*keys[NBASE];
} ks_nested[] = {
	{ "oauth2_client_secret", KS_OFF(oauth2_client_secret), {
	    "oauth2_client_secret.key_data", "oauth2_client_secret.key_file",
	    "oauth2_client_secret.vault_mount",
	    "oauth2_client_secret.vault_path",
	    "oauth2_client_secret.vault_key",
	    "oauth2_client_secret.vault_address",
	    "oauth2_client_secret.vault_token",
	    "oauth2_client_secret.vault_namespace" } },
	{ "oauth2_refresh_token", KS_OFF(oauth2_refresh_token), {
	    "oauth2_refresh_token.key_data", "oauth2_refresh_token.key_file",
	    "oauth2_refresh_token.vault_mount",
	    "oauth2_refresh_token.vault_path",
	    "oauth2_refresh_token.vault_key",
	    "oauth2_refresh_token.vault_address",
	    "oauth2_refresh_token.vault_token",
	    "oauth2_refresh_token.vault_namespace" } },
};
#define NNESTED	(sizeof(ks_nested) / sizeof(ks_nested[0]))

static struct keysource **
ks_sub(struct keysource *ks, size_t i)
{
	return (struct keysource **)((char *)ks + ks_nested[i].off);
}

static const struct keysource *
ks_csub(const struct keysource *ks, size_t i)
{
	return *(struct keysource *const *)((const char *)ks +
	    ks_nested[i].off);
}

static char **
ks_field(struct keysource *ks, size_t i)
{
	return (char **)((char *)ks + ks_keys[i].off);
}

static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

struct keysource *
keysource_new(void)
{
	return xcalloc(1, sizeof(struct keysource));
}

struct keysource *
keysource_file(const char *path, char *err, size_t errlen)
{
	struct keysource *ks;

	if (*path != '/') {
		/* not echoed: it may be a password given as a string */
		snprintf(err, errlen, "a keysource file must be an absolute "
		    "path (a string is a file name, as in KumoMTA; the secret "
		    "itself goes in { key_data = ... })");
		return NULL;
	}
	ks = keysource_new();
	ks->kind = KS_FILE;
	ks->path = xstrdup(path);
	return ks;
}

int
keysource_set(struct keysource *ks, const char *key, const char *value,
    size_t len, char *err, size_t errlen)
{
	char	**f, *v;
	size_t	 i, n;

	for (i = 0; i < NNESTED; i++) {
		n = strlen(ks_nested[i].name);
		if (strncmp(key, ks_nested[i].name, n) != 0 ||
		    (key[n] != '\0' && key[n] != '.'))
			continue;
		if (key[n] == '\0') {
			/* the string form: a file path */
			if (*ks_sub(ks, i) != NULL) {
				snprintf(err, errlen, "%s: given twice", key);
				return -1;
			}
			if (len == 0 || memchr(value, '\0', len) != NULL ||
			    *value != '/') {
				snprintf(err, errlen, "%s: a string is a file "
				    "name and must be an absolute path (the "
				    "secret itself goes in { key_data = ... })",
				    key);
				return -1;
			}
			v = xcalloc(1, len + 1);
			memcpy(v, value, len);
			v[len] = '\0';
			*ks_sub(ks, i) = keysource_file(v, err, errlen);
			free(v);
			return *ks_sub(ks, i) == NULL ? -1 : 0;
		}
		if (strncmp(key + n + 1, "oauth2_", 7) == 0) {
			snprintf(err, errlen, "%s: a nested keysource is "
			    "key_data, key_file or vault_*, not OAuth2", key);
			return -1;
		}
		if (*ks_sub(ks, i) == NULL)
			*ks_sub(ks, i) = keysource_new();
		else if ((*ks_sub(ks, i))->kind != 0) {
			snprintf(err, errlen, "%s: given twice", ks_nested[i].name);
			return -1;
		}
		if (keysource_set(*ks_sub(ks, i), key + n + 1, value, len,
		    err, errlen) == -1) {
			/* name the outer key too */
			char	 e[512];

			strlcpy(e, err, sizeof(e));
			snprintf(err, errlen, "%s: %s", ks_nested[i].name, e);
			return -1;
		}
		return 0;
	}
	for (i = 0; i < NKEYS; i++)
		if (strcmp(key, ks_keys[i].name) == 0)
			break;
	if (i == NKEYS) {
		snprintf(err, errlen, "unknown key '%s' (a keysource is a "
		    "path, {key_data}, {key_file}, {vault_mount, "
		    "vault_path, ...} or {oauth2_token_url, ...})", key);
		return -1;
	}
	f = ks_field(ks, i);
	if (*f != NULL) {
		snprintf(err, errlen, "%s: given twice", key);
		return -1;
	}
	if (len == 0 || memchr(value, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: %s", key, len == 0 ? "empty" :
		    "contains a NUL byte");
		return -1;
	}
	if ((v = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(v, value, len);
	v[len] = '\0';
	*f = v;
	return 0;
}

static int
url_ok(const char *u)
{
	return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

/*
 * A URL to show: *scheme is the length of its "scheme://", and the
 * result the rest after any userinfo, which ends at the authority's
 * last '@' ("https://u:p@ss@host" must not show "ss@host").  No
 * scheme: the URL as it is, *scheme 0.
 */
static const char *
url_host(const char *url, int *scheme)
{
	const char	*host, *at;

	*scheme = 0;
	if ((host = strstr(url, "://")) == NULL)
		return url;
	*scheme = host + 3 - url;
	host += 3;
	for (at = host + strcspn(host, "/?#"); at > host && at[-1] != '@';
	    at--)
		;
	return at;
}

/* The OAuth2 form: what it needs, its choices, its nested keysources. */
static int
oauth2_check(struct keysource *ks, char *err, size_t errlen)
{
	struct keysource *sub;
	char		 e[512];
	size_t		 i;

	if (ks->oauth2_token_url == NULL || ks->oauth2_client_id == NULL) {
		snprintf(err, errlen, "%s missing (an OAuth2 keysource needs "
		    "oauth2_token_url and oauth2_client_id)",
		    ks->oauth2_token_url == NULL ? "oauth2_token_url" :
		    "oauth2_client_id");
		return -1;
	}
	if (!url_ok(ks->oauth2_token_url)) {
		/* not repeated: it might hold a password */
		snprintf(err, errlen, "oauth2_token_url: expected an http:// "
		    "or https:// URL");
		return -1;
	}
	if (ks->oauth2_grant == NULL)
		ks->oauth2_grant = xstrdup("client_credentials");
	if (strcmp(ks->oauth2_grant, "client_credentials") != 0 &&
	    strcmp(ks->oauth2_grant, "refresh_token") != 0) {
		snprintf(err, errlen, "oauth2_grant: expected "
		    "'client_credentials' or 'refresh_token', got '%s'",
		    ks->oauth2_grant);
		return -1;
	}
	if (ks->oauth2_client_auth == NULL)
		ks->oauth2_client_auth = xstrdup("basic");
	if (strcmp(ks->oauth2_client_auth, "basic") != 0 &&
	    strcmp(ks->oauth2_client_auth, "body") != 0) {
		snprintf(err, errlen, "oauth2_client_auth: expected 'basic' or "
		    "'body', got '%s'", ks->oauth2_client_auth);
		return -1;
	}
	if (strcmp(ks->oauth2_grant, "refresh_token") == 0) {
		if (ks->oauth2_refresh_token == NULL) {
			snprintf(err, errlen, "oauth2_refresh_token missing "
			    "(oauth2_grant = 'refresh_token' needs it)");
			return -1;
		}
	} else {
		if (ks->oauth2_refresh_token != NULL) {
			snprintf(err, errlen, "oauth2_refresh_token: only with "
			    "oauth2_grant = 'refresh_token'");
			return -1;
		}
		if (ks->oauth2_client_secret == NULL) {
			snprintf(err, errlen, "oauth2_client_secret missing "
			    "(the client_credentials grant needs it)");
			return -1;
		}
	}
	for (i = 0; i < NNESTED; i++) {
		if ((sub = *ks_sub(ks, i)) == NULL || sub->kind == KS_FILE)
			continue;
		if (keysource_check(sub, e, sizeof(e)) == -1) {
			snprintf(err, errlen, "%s: %s", ks_nested[i].name, e);
			return -1;
		}
		if (sub->kind == KS_OAUTH2) {
			snprintf(err, errlen, "%s: a nested keysource is "
			    "key_data, key_file or vault_*, not OAuth2",
			    ks_nested[i].name);
			return -1;
		}
	}
	ks->kind = KS_OAUTH2;
	return 0;
}

int
keysource_check(struct keysource *ks, char *err, size_t errlen)
{
	int	 vault = ks->vault_mount || ks->vault_path || ks->vault_key ||
	    ks->vault_address || ks->vault_token || ks->vault_namespace;
	int	 oauth2 = ks->oauth2_token_url || ks->oauth2_client_id ||
	    ks->oauth2_scope || ks->oauth2_grant || ks->oauth2_client_auth ||
	    ks->oauth2_client_secret || ks->oauth2_refresh_token;

	if (oauth2) {
		if (ks->data != NULL || ks->path != NULL || vault) {
			snprintf(err, errlen, "%s and oauth2_* do not go "
			    "together in one keysource (the client secret and "
			    "refresh token are keysources of their own)",
			    ks->data != NULL ? "key_data" : ks->path != NULL ?
			    "key_file" : "vault_*");
			return -1;
		}
		return oauth2_check(ks, err, errlen);
	}
	if ((ks->data != NULL) + (ks->path != NULL) + vault > 1) {
		snprintf(err, errlen, "%s do not go together in one keysource",
		    ks->data == NULL ? "key_file and vault_*" :
		    ks->path == NULL ? "key_data and vault_*" :
		    "key_data and key_file");
		return -1;
	}
	if (ks->data != NULL)
		ks->kind = KS_DATA;
	else if (ks->path != NULL) {
		if (*ks->path != '/') {
			snprintf(err, errlen, "key_file: must be an absolute "
			    "path, got '%s'", ks->path);
			return -1;
		}
		ks->kind = KS_FILE;
	} else if (vault) {
		if (ks->vault_mount == NULL || ks->vault_path == NULL) {
			snprintf(err, errlen, "%s missing (a Vault keysource "
			    "needs vault_mount and vault_path)",
			    ks->vault_mount == NULL ? "vault_mount" :
			    "vault_path");
			return -1;
		}
		if (ks->vault_address != NULL &&
		    strncmp(ks->vault_address, "http://", 7) != 0 &&
		    strncmp(ks->vault_address, "https://", 8) != 0) {
			/* not repeated: it might hold a password */
			snprintf(err, errlen, "vault_address: expected an "
			    "http:// or https:// URL");
			return -1;
		}
		if (ks->vault_key == NULL)
			ks->vault_key = xstrdup("key");
		ks->kind = KS_VAULT;
	} else {
		snprintf(err, errlen, "empty keysource (expected key_data, "
		    "key_file, vault_mount and vault_path, or oauth2_*)");
		return -1;
	}
	return 0;
}

struct keysource *
keysource_copy(const struct keysource *ks)
{
	struct keysource *c;
	size_t		 i;
	char		*const *f;

	if (ks == NULL)
		return NULL;
	c = keysource_new();
	c->kind = ks->kind;
	for (i = 0; i < NKEYS; i++) {
		f = (char *const *)((const char *)ks + ks_keys[i].off);
		if (*f != NULL)
			*ks_field(c, i) = xstrdup(*f);
	}
	for (i = 0; i < NNESTED; i++)
		*ks_sub(c, i) = keysource_copy(ks_csub(ks, i));
	return c;
}

const char *
keysource_key(const struct keysource *ks, size_t i, const char **value)
{
	const struct keysource *sub;
	size_t		 n;

	if (i < NKEYS) {
		*value = *(char *const *)((const char *)ks + ks_keys[i].off);
		return ks_keys[i].name;
	}
	i -= NKEYS;
	if ((n = i / NBASE) >= NNESTED)
		return NULL;
	sub = ks_csub(ks, n);
	*value = sub == NULL ? NULL :
	    *(char *const *)((const char *)sub + ks_keys[i % NBASE].off);
	return ks_nested[n].keys[i % NBASE];
}

const char *
keysource_describe(const struct keysource *ks, char *buf, size_t len)
{
	if (ks == NULL)
		snprintf(buf, len, "none");
	else if (ks->kind == KS_FILE)
		snprintf(buf, len, "file %s", ks->path);
	else if (ks->kind == KS_DATA)
		snprintf(buf, len, "inline key_data");
	else if (ks->kind == KS_VAULT) {
		const char	*a = ks->vault_address, *host = NULL;
		int		 scheme = 0;

		if (a != NULL)
			host = url_host(a, &scheme);
		snprintf(buf, len, "vault %s/%s#%s%s%.*s%s%s%s",
		    ks->vault_mount, ks->vault_path, ks->vault_key,
		    a ? " at " : "", scheme, a ? a : "", host ? host : "",
		    ks->vault_namespace ? " namespace " : "",
		    ks->vault_namespace ? ks->vault_namespace : "");
	} else if (ks->kind == KS_OAUTH2) {
		const char	*a = ks->oauth2_token_url, *host;
		int		 scheme;

		host = url_host(a, &scheme);
		snprintf(buf, len, "oauth2 %s client %s at %.*s%s",
		    ks->oauth2_grant ? ks->oauth2_grant : "client_credentials",
		    ks->oauth2_client_id, scheme, a, host);
	} else
		snprintf(buf, len, "incomplete keysource");
	return buf;
}

/*
 * The angle brackets make it plain, in JSON or to a reader, that this
 * is where a secret lives and not the secret.
 */
const char *
keysource_label(const struct keysource *ks, char *buf, size_t len)
{
	if (ks == NULL)
		snprintf(buf, len, "<keysource none>");
	else if (ks->kind == KS_FILE)
		snprintf(buf, len, "<keysource file %s>", ks->path);
	else if (ks->kind == KS_DATA)
		snprintf(buf, len, "<keysource key_data>");
	else if (ks->kind == KS_VAULT && ks->vault_mount != NULL &&
	    ks->vault_path != NULL)
		snprintf(buf, len, "<keysource vault %s/%s#%s>",
		    ks->vault_mount, ks->vault_path,
		    ks->vault_key != NULL ? ks->vault_key : "key");
	else if (ks->kind == KS_OAUTH2 && ks->oauth2_client_id != NULL) {
		char	 d[600];

		snprintf(buf, len, "<keysource %s>",
		    keysource_describe(ks, d, sizeof(d)));
	} else
		snprintf(buf, len, "<keysource incomplete>");
	return buf;
}

void
keysource_free(struct keysource *ks)
{
	size_t	 i;

	if (ks == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		if (ks_keys[i].secret)
			free_secret(*ks_field(ks, i));
		else
			free(*ks_field(ks, i));
	}
	for (i = 0; i < NNESTED; i++)
		keysource_free(*ks_sub(ks, i));
	free(ks);
}
