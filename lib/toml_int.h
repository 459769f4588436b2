/*
 * toml_int.h - what the two halves of the TOML parser share: toml.c
 * (the document: keys, tables, arrays, the redefinition rules) and
 * toml_scalar.c (strings, numbers, booleans, date-times, UTF-8).
 */
#ifndef PETREL_TOML_INT_H
#define PETREL_TOML_INT_H

#include <stddef.h>

#include "toml.h"

struct toml_parser {
	const char	*buf, *p, *end;
	char		*err;
	size_t		 errlen;
	int		 failed;	/* err holds the first error */
};

/* A growable byte string for decoded strings and keys. */
struct toml_buf {
	char		*s;
	size_t		 len, cap;
};

/* Record the first error, at p; always -1. */
int	 toml_error(struct toml_parser *, const char *p, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	 toml_buf_add(struct toml_buf *, const char *, size_t);

/*
 * toml_scalar.c.  Each reads from P->p, advances it past what it read,
 * and returns -1 after toml_error() on bad input.
 */
int	 toml_check_utf8(struct toml_parser *);
int	 toml_read_string(struct toml_parser *, struct toml_buf *,
	    int multiline_ok);
struct toml_value *toml_read_scalar(struct toml_parser *, int depth);
struct toml_value *toml_value_new(enum toml_type, int depth);

#endif
