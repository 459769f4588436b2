/*
 * keysource.h - a keysource *spec*: where a secret lives (KumoMTA's
 * keysource: a file path, inline key_data, key_file, or a Vault KV v2
 * secret).  Parsed and validated in lib/ (the policy's make_egress_path
 * uses it; keysd will evaluate it); the secret itself is never read
 * here.
 */
#ifndef PETREL_KEYSOURCE_H
#define PETREL_KEYSOURCE_H

enum keysource_kind {
	KS_FILE = 1,		/* a string, or { key_file = ... } */
	KS_DATA,		/* { key_data = ... } */
	KS_VAULT,		/* { vault_mount, vault_path, ... } */
};

struct keysource {
	enum keysource_kind kind;
	char		*path;		/* KS_FILE */
	char		*data;		/* KS_DATA: inline; wiped when freed */
	char		*vault_mount, *vault_path, *vault_key;
	char		*vault_address, *vault_token, *vault_namespace;
};

void	 keysource_free(struct keysource *);

#endif
