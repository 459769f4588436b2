/*
 * keysource.c - keysource specs (see keysource.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "keysource.h"

static void
free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
keysource_free(struct keysource *ks)
{
	if (ks == NULL)
		return;
	free(ks->path);
	free_secret(ks->data);
	free(ks->vault_mount);
	free(ks->vault_path);
	free(ks->vault_key);
	free(ks->vault_address);
	free_secret(ks->vault_token);
	free(ks->vault_namespace);
	free(ks);
}
