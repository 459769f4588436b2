/*
 * fuzz_toml.c - the TOML decoder (lib/toml.c, lib/toml_scalar.c),
 * which reads shaping.toml files: toml_parse() on any bytes.
 *
 * Checked: an error says where ("line L, column C: ..."); a document
 * is a table; nothing is deeper than TOML_MAX_DEPTH; every string is
 * NUL-terminated at its length; a table's keys are distinct and each
 * is found by toml_get() (which uses the table's index once it is
 * large) at its own value.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "toml.h"

static void
walk(const struct toml_value *v, int depth)
{
	size_t	 i;

	FUZZ_CHECK(depth <= TOML_MAX_DEPTH);
	FUZZ_CHECK(v->depth == depth);
	switch (v->type) {
	case TOML_STRING:
	case TOML_DATETIME:
	case TOML_DATETIME_LOCAL:
	case TOML_DATE_LOCAL:
	case TOML_TIME_LOCAL:
		FUZZ_CHECK(v->str != NULL && v->str[v->len] == '\0');
		if (v->type != TOML_STRING)
			FUZZ_CHECK(strlen(v->str) == v->len && v->len >= 8);
		break;
	case TOML_INTEGER:
	case TOML_FLOAT:
	case TOML_BOOL:
		FUZZ_CHECK(v->type != TOML_BOOL || v->b == 0 || v->b == 1);
		break;
	case TOML_ARRAY:
		FUZZ_CHECK(v->n <= v->cap || v->n == 0);
		for (i = 0; i < v->n; i++)
			walk(v->items[i], depth + 1);
		break;
	case TOML_TABLE:
		for (i = 0; i < v->n; i++) {
			FUZZ_CHECK(v->keys[i][v->keylens[i]] == '\0');
			FUZZ_CHECK(toml_get(v, v->keys[i], v->keylens[i]) ==
			    v->items[i]);
			walk(v->items[i], depth + 1);
		}
		break;
	default:
		FUZZ_CHECK(!"a value of no type");
	}
	(void)toml_type_name(v->type);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct toml_value *doc;
	char		 err[512];

	err[0] = '\0';
	if ((doc = toml_parse((const char *)data, size, err,
	    sizeof(err))) == NULL) {
		FUZZ_CHECK(strncmp(err, "line ", 5) == 0);
		return 0;
	}
	FUZZ_CHECK(doc->type == TOML_TABLE && doc->depth == 0);
	walk(doc, 0);
	toml_free(doc);
	return 0;
}
