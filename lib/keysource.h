/*
 * keysource.h - a keysource *spec*: where a secret lives (KumoMTA's
 * keysource: a file path, inline key_data, key_file, or a Vault KV v2
 * secret; and petrel's OAuth2 access token, whose client secret and
 * refresh token are keysources themselves).  Parsed and validated here, once: the policy's
 * make_egress_path gives the parts of its Lua tables to it, and keysd
 * will give it the parts of its requests.  The secret itself is never
 * read here.
 */
#ifndef PETREL_KEYSOURCE_H
#define PETREL_KEYSOURCE_H

#include <stddef.h>

enum keysource_kind {
	KS_FILE = 1,		/* a string, or { key_file = ... } */
	KS_DATA,		/* { key_data = ... } */
	KS_VAULT,		/* { vault_mount, vault_path, ... } */
	KS_OAUTH2,		/* { oauth2_token_url, ... }: an access token */
};

struct keysource {
	enum keysource_kind kind;
	char		*path;		/* KS_FILE */
	char		*data;		/* KS_DATA: inline; wiped when freed */
	char		*vault_mount, *vault_path, *vault_key;
	char		*vault_address, *vault_token, *vault_namespace;
	/* KS_OAUTH2 */
	char		*oauth2_token_url, *oauth2_client_id, *oauth2_scope;
	char		*oauth2_grant;		/* client_credentials (default) */
	char		*oauth2_client_auth;	/* basic (default) or body */
	/* keysources themselves, never KS_OAUTH2 */
	struct keysource *oauth2_client_secret, *oauth2_refresh_token;
};

/* The string form: a file path (absolute: petrel's processes chroot). */
struct keysource *keysource_file(const char *path, char *err, size_t errlen);
/*
 * The table form, one key at a time: keysource_set() refuses an unknown
 * key, a repeated one or an empty or NUL-bearing value, naming it;
 * keysource_check() then refuses a combination that is no keysource
 * and fills in vault_key's default ("key").  -1 with err set.
 */
struct keysource *keysource_new(void);
int	 keysource_set(struct keysource *, const char *key, const char *value,
	    size_t len, char *err, size_t errlen);
int	 keysource_check(struct keysource *, char *err, size_t errlen);
struct keysource *keysource_copy(const struct keysource *);
/*
 * The OAuth2 form's nested keysources (oauth2_client_secret,
 * oauth2_refresh_token) go through keysource_set() as
 * "oauth2_client_secret.key_data" and so on, one key at a time; the
 * bare name with a string value is the string form (a file path).
 * keysource_check() checks them too and refuses an OAuth2 one.
 */
/*
 * The table form's keys one by one, for the wire (wirecodec.c): the
 * name of key i and its value in *value (NULL: not set); NULL past the
 * last key.  A string-form keysource shows as key_file; the nested
 * keysources' keys come as "oauth2_client_secret.key_file" and so on.
 */
const char *keysource_key(const struct keysource *, size_t i,
	    const char **value);
/* For logs and petrelctl: where, never what ("vault kv/smtp#password"). */
const char *keysource_describe(const struct keysource *, char *buf,
	    size_t len);
/*
 * For petrelctl resolve: "<keysource vault MOUNT/PATH#KEY>",
 * "<keysource key_data>", "<keysource file /path>".  Never key_data or
 * vault_token, nor vault_address (it may carry user:password@).
 */
const char *keysource_label(const struct keysource *, char *buf,
	    size_t len);
void	 keysource_free(struct keysource *);

#endif
