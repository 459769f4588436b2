/*
 * keysource.c - keysource specs (see keysource.h): the one parser of
 * KumoMTA's keysource forms, with petrel's key_file and
 * vault_namespace.  Secrets (key_data, vault_token) are copied only
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
};
#define NKEYS	(sizeof(ks_keys) / sizeof(ks_keys[0]))

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
	size_t	 i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(key, ks_keys[i].name) == 0)
			break;
	if (i == NKEYS) {
		snprintf(err, errlen, "unknown key '%s' (a keysource is a "
		    "path, {key_data}, {key_file} or {vault_mount, "
		    "vault_path, ...})", key);
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

int
keysource_check(struct keysource *ks, char *err, size_t errlen)
{
	int	 vault = ks->vault_mount || ks->vault_path || ks->vault_key ||
	    ks->vault_address || ks->vault_token || ks->vault_namespace;

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
		    "key_file, or vault_mount and vault_path)");
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
	return c;
}

const char *
keysource_key(const struct keysource *ks, size_t i, const char **value)
{
	if (i >= NKEYS)
		return NULL;
	*value = *(char *const *)((const char *)ks + ks_keys[i].off);
	return ks_keys[i].name;
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
		const char	*a = ks->vault_address, *host = a, *at;
		int		 scheme = 0;

		/*
		 * "https://user:pass@host": never the userinfo, which ends
		 * at the authority's last '@' ("https://u:p@ss@host" must
		 * not show "ss@host")
		 */
		if (a != NULL && (host = strstr(a, "://")) != NULL) {
			scheme = host + 3 - a;
			host += 3;
			for (at = host + strcspn(host, "/?#"); at > host &&
			    at[-1] != '@'; at--)
				;
			host = at;
		} else
			host = a;
		snprintf(buf, len, "vault %s/%s#%s%s%.*s%s%s%s",
		    ks->vault_mount, ks->vault_path, ks->vault_key,
		    a ? " at " : "", scheme, a ? a : "", host ? host : "",
		    ks->vault_namespace ? " namespace " : "",
		    ks->vault_namespace ? ks->vault_namespace : "");
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
	else
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
	free(ks);
}
