/*
 * toml-decode - TOML on stdin, toml-test's tagged JSON on stdout: each
 * scalar as {"type": "...", "value": "..."} (the value always a
 * string: integers in decimal, floats as "inf", "-inf", "nan" or their
 * shortest round-tripping decimal), tables as objects in file order,
 * arrays as arrays.  Invalid TOML: the message on stderr, exit 1.  Any
 * TOML conformance suite that speaks toml-test's decoder interface can
 * drive lib/toml.c through it.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "toml.h"

#define MAX_INPUT	(64 * 1024 * 1024)

static json_t	*tagged(const struct toml_value *);

static json_t *
tag(const char *type, const char *value, size_t len)
{
	return json_pack("{s:s, s:s%}", "type", type, "value", value, len);
}

/* The shortest %g form that reads back as the same double. */
static void
format_float(double f, char *buf, size_t len)
{
	int	 prec;

	if (isnan(f)) {
		snprintf(buf, len, "nan");
		return;
	}
	if (isinf(f)) {
		snprintf(buf, len, f < 0 ? "-inf" : "inf");
		return;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, f);
		if (strtod(buf, NULL) == f)
			break;
	}
	if (strpbrk(buf, ".e") == NULL)
		strlcat(buf, ".0", len);
}

static json_t *
tagged(const struct toml_value *v)
{
	json_t	*j;
	char	 num[64];
	size_t	 i;

	switch (v->type) {
	case TOML_TABLE:
		j = json_object();
		for (i = 0; i < v->n; i++)
			json_object_setn_new_nocheck(j, v->keys[i],
			    v->keylens[i], tagged(v->items[i]));
		return j;
	case TOML_ARRAY:
		j = json_array();
		for (i = 0; i < v->n; i++)
			json_array_append_new(j, tagged(v->items[i]));
		return j;
	case TOML_INTEGER:
		snprintf(num, sizeof(num), "%lld", (long long)v->i);
		return tag("integer", num, strlen(num));
	case TOML_FLOAT:
		format_float(v->f, num, sizeof(num));
		return tag("float", num, strlen(num));
	case TOML_BOOL:
		return tag("bool", v->b ? "true" : "false", v->b ? 4 : 5);
	default:
		return tag(toml_type_name(v->type), v->str, v->len);
	}
}

int
main(void)
{
	struct toml_value	*doc;
	json_t			*j;
	char			*buf, err[512];
	size_t			 len = 0, n;

	if ((buf = malloc(MAX_INPUT)) == NULL) {
		perror("malloc");
		return 2;
	}
	while ((n = fread(buf + len, 1, MAX_INPUT - len, stdin)) > 0)
		len += n;
	if (ferror(stdin) || len == MAX_INPUT) {
		fprintf(stderr, "toml-decode: cannot read the input, or it "
		    "is larger than %d bytes\n", MAX_INPUT - 1);
		return 2;
	}
	if ((doc = toml_parse(buf, len, err, sizeof(err))) == NULL) {
		fprintf(stderr, "toml-decode: %s\n", err);
		free(buf);
		return 1;
	}
	free(buf);
	j = tagged(doc);
	toml_free(doc);
	if (json_dumpf(j, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY) == -1 || putchar('\n') == EOF ||
	    fflush(stdout) == EOF) {
		perror("toml-decode: stdout");
		return 2;
	}
	json_decref(j);
	return 0;
}
