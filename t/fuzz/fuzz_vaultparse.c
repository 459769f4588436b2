/*
 * fuzz_vaultparse.c - libFuzzer target for keysd's reading of Vault's
 * answers (keysd/vaultparse.c): the first byte picks the HTTP status,
 * the rest is the body, read as a KV v2 answer and as the auth block of
 * an AppRole login or renewal.  Built by make fuzz-targets (configure
 * --enable-fuzz CC=clang) as t/fuzz/fuzz_vaultparse, and by make check
 * as t/fuzz/replay_vaultparse; see t/fuzz/RESULTS.md.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../keysd/keysd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const long statuses[] = { 200, 404, 403, 503, 429, 412, 500,
	    301, 400 };
	struct vault_answer a;
	char		*tok, why[256];
	int64_t		 lease;
	int		 renewable;

	if (len < 1)
		return 0;
	vault_parse(statuses[data[0] % 9], (const char *)data + 1, len - 1,
	    "password", &a);
	if (a.cls == VC_OK) {
		if (a.len == 0 || strlen(a.value) != a.len)
			__builtin_trap();
		secret_free(a.value, a.len);
	} else if (a.value != NULL || memchr(a.why, '\0', sizeof(a.why)) ==
	    NULL)
		__builtin_trap();
	/* the same body as the auth block of an AppRole login or renewal */
	if (vault_parse_auth((const char *)data + 1, len - 1, &tok, &lease,
	    &renewable, why, sizeof(why)) == 0) {
		if (tok == NULL || !vault_header_ok(tok) || lease < 0)
			__builtin_trap();
		secret_free_str(tok);
	} else if (tok != NULL || memchr(why, '\0', sizeof(why)) == NULL)
		__builtin_trap();
	return 0;
}
