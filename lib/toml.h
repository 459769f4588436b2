/*
 * toml.h - a TOML 1.0.0 parser: text in, a tree of values out.
 *
 * Tables keep their keys in file order (shaping files merge key by
 * key, and people expect to see their own order back).  Date-times are
 * kept as text in RFC 3339 form ('T' and 'Z' upper case, the fraction
 * as written), since nothing here does arithmetic on them.
 */
#ifndef PETREL_TOML_H
#define PETREL_TOML_H

#include <stddef.h>
#include <stdint.h>

/* Values nest no deeper than this (keys, tables, arrays together). */
#define TOML_MAX_DEPTH	128

enum toml_type {
	TOML_STRING,
	TOML_INTEGER,
	TOML_FLOAT,
	TOML_BOOL,
	TOML_DATETIME,		/* offset date-time */
	TOML_DATETIME_LOCAL,
	TOML_DATE_LOCAL,
	TOML_TIME_LOCAL,
	TOML_ARRAY,
	TOML_TABLE
};

struct toml_value {
	enum toml_type	 type;
	int		 flags;		/* the parser's: how it was defined */
	int		 depth;		/* 0: the document */
	/* TOML_STRING and the date-times: NUL-terminated, may hold NULs */
	char		*str;
	size_t		 len;
	int64_t		 i;		/* TOML_INTEGER */
	double		 f;		/* TOML_FLOAT */
	int		 b;		/* TOML_BOOL */
	/* TOML_ARRAY and TOML_TABLE: n items (and keys, for tables) */
	size_t		 n, cap;
	struct toml_value **items;
	char		**keys;		/* NUL-terminated, may hold NULs */
	size_t		*keylens;
	uint32_t	*hash;		/* index of a large table, or NULL */
	size_t		 hashcap;
};

/*
 * Parse len bytes.  NULL on error, with "line L, column C: what"
 * (1-based, columns in characters) in err.
 */
struct toml_value *toml_parse(const char *, size_t len, char *err,
	    size_t errlen);
/*
 * Read and parse a file of at most maxsize bytes; errors are
 * "PATH: line L, column C: what", or "PATH: why" when it is unreadable.
 */
struct toml_value *toml_load(const char *path, size_t maxsize, char *err,
	    size_t errlen);
void	 toml_free(struct toml_value *);

/* The value under key in a table, or NULL. */
struct toml_value *toml_get(const struct toml_value *, const char *key,
	    size_t keylen);
const char *toml_type_name(enum toml_type);

#endif
