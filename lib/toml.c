/*
 * toml.c - a TOML 1.0.0 document: keys, [tables], [[arrays of
 * tables]], arrays, inline tables, and the rules that say what may be
 * defined where and how often.  The leaves (strings, numbers,
 * date-times) are in toml_scalar.c.
 *
 * Every table remembers how it came to be (the F_ flags below), since
 * that and nothing else decides whether a later header or dotted key
 * may add to it.  Every value knows its depth, and nothing deeper than
 * TOML_MAX_DEPTH is made, so the recursion here and in every reader of
 * the tree is bounded whatever the input.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "toml_int.h"
#include "util.h"

#define F_IMPLICIT	0x01	/* a, a.b made by [a.b.c]: [a] may follow */
#define F_HEADER	0x02	/* defined by its own [header] or [[header]] */
#define F_DOTTED	0x04	/* made or extended by a dotted key */
#define F_INLINE	0x08	/* { ... }: nothing may add to it afterwards */
#define F_AOT		0x10	/* an array made by [[header]]: may grow */

#define HASH_FROM	8	/* tables this large get an index */

/* A dotted key as read, one decoded part each. */
struct toml_key {
	struct toml_buf	*part;
	const char	**at;		/* where each part starts, for errors */
	int		 n, cap;
};

static struct toml_value *parse_value(struct toml_parser *, int depth);
static int	 parse_keyval(struct toml_parser *, struct toml_value *);

int
toml_error(struct toml_parser *P, const char *at, const char *fmt, ...)
{
	const char	*s, *linestart = P->buf;
	va_list		 ap;
	char		 what[256];
	int		 line = 1, col = 1;

	if (P->failed)
		return -1;
	P->failed = 1;
	for (s = P->buf; s < at && s < P->end; s++)
		if (*s == '\n') {
			line++;
			linestart = s + 1;
		}
	/* columns count characters, not bytes: skip continuation bytes */
	for (s = linestart; s < at && s < P->end; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			col++;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(P->err, P->errlen, "line %d, column %d: %s", line, col, what);
	return -1;
}

const char *
toml_type_name(enum toml_type t)
{
	static const char *names[] = { "string", "integer", "float", "bool",
	    "datetime", "datetime-local", "date-local", "time-local",
	    "array", "table" };

	return names[t];
}

void
toml_free(struct toml_value *v)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n; i++) {
		toml_free(v->items[i]);
		if (v->keys != NULL)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->keylens);
	free(v->hash);
	free(v->str);
	free(v);
}

/* FNV-1a: short keys, no adversary worth more here. */
static uint32_t
key_hash(const char *k, size_t len)
{
	uint32_t	 h = 2166136261u;

	while (len-- > 0)
		h = (h ^ (unsigned char)*k++) * 16777619u;
	return h;
}

/* Index item i of table t (hash slots hold i + 1; 0 is empty). */
static void
hash_insert(struct toml_value *t, size_t i)
{
	size_t	 slot = key_hash(t->keys[i], t->keylens[i]) & (t->hashcap - 1);

	while (t->hash[slot] != 0)
		slot = (slot + 1) & (t->hashcap - 1);
	t->hash[slot] = i + 1;
}

/* Rebuild the index at twice the room the keys need. */
static void
hash_grow(struct toml_value *t)
{
	size_t	 i;

	free(t->hash);
	t->hashcap = t->hashcap ? t->hashcap * 2 : 4 * HASH_FROM;
	t->hash = xcalloc(t->hashcap, sizeof(*t->hash));
	for (i = 0; i < t->n; i++)
		hash_insert(t, i);
}

static ssize_t
table_find(const struct toml_value *t, const char *key, size_t len)
{
	size_t	 i, slot;

	if (t->hash == NULL) {
		for (i = 0; i < t->n; i++)
			if (t->keylens[i] == len &&
			    memcmp(t->keys[i], key, len) == 0)
				return i;
		return -1;
	}
	slot = key_hash(key, len) & (t->hashcap - 1);
	for (; t->hash[slot] != 0; slot = (slot + 1) & (t->hashcap - 1)) {
		i = t->hash[slot] - 1;
		if (t->keylens[i] == len && memcmp(t->keys[i], key, len) == 0)
			return i;
	}
	return -1;
}

struct toml_value *
toml_get(const struct toml_value *t, const char *key, size_t len)
{
	ssize_t	 i;

	if (t == NULL || t->type != TOML_TABLE ||
	    (i = table_find(t, key, len)) == -1)
		return NULL;
	return t->items[i];
}

/* Room for one more item (and key, in a table). */
static void
grow(struct toml_value *v)
{
	size_t	 cap;

	if (v->n < v->cap)
		return;
	cap = v->cap ? v->cap * 2 : 4;
	if ((v->items = reallocarray(v->items, cap, sizeof(*v->items))) ==
	    NULL)
		fatal("reallocarray");
	if (v->type == TOML_TABLE) {
		if ((v->keys = reallocarray(v->keys, cap, sizeof(*v->keys))) ==
		    NULL || (v->keylens = reallocarray(v->keylens, cap,
		    sizeof(*v->keylens))) == NULL)
			fatal("reallocarray");
	}
	v->cap = cap;
}

static void
array_add(struct toml_value *a, struct toml_value *v)
{
	grow(a);
	a->items[a->n++] = v;
}

/* Add key (a copy) to t; the caller checked it is not there. */
static void
table_add(struct toml_value *t, const struct toml_buf *key,
    struct toml_value *v)
{
	char	*k = xcalloc(1, key->len + 1);

	memcpy(k, key->s, key->len);
	grow(t);
	t->keys[t->n] = k;
	t->keylens[t->n] = key->len;
	t->items[t->n++] = v;
	if (t->n >= HASH_FROM) {
		if (t->n * 2 > t->hashcap)
			hash_grow(t);
		else
			hash_insert(t, t->n - 1);
	}
}

/* What v is, for messages: "an inline table", "a string". */
static const char *
kind(const struct toml_value *v)
{
	static const char *names[] = { "a string", "an integer", "a float",
	    "a boolean", "a date-time", "a local date-time", "a local date",
	    "a local time", "an array", "a table" };

	if (v->type == TOML_TABLE && (v->flags & F_INLINE))
		return "an inline table";
	if (v->type == TOML_ARRAY && (v->flags & F_AOT))
		return "an array of tables";
	return names[v->type];
}

/* A new table or array one level below parent, or NULL if too deep. */
static struct toml_value *
child_new(struct toml_parser *P, const struct toml_value *parent,
    enum toml_type type, int flags, const char *at)
{
	struct toml_value	*v;

	if (parent->depth + 1 > TOML_MAX_DEPTH) {
		toml_error(P, at, "nested deeper than %d", TOML_MAX_DEPTH);
		return NULL;
	}
	v = toml_value_new(type, parent->depth + 1);
	v->flags = flags;
	return v;
}

/* --- white space, comments, newlines --------------------------------- */

static void
skip_ws(struct toml_parser *P)
{
	while (P->p < P->end && (*P->p == ' ' || *P->p == '\t'))
		P->p++;
}

/* A newline at P->p: LF or CRLF.  Its length, or 0. */
static int
newline_at(const struct toml_parser *P)
{
	if (P->p < P->end && *P->p == '\n')
		return 1;
	if (P->end - P->p >= 2 && P->p[0] == '\r' && P->p[1] == '\n')
		return 2;
	return 0;
}

/* A comment from '#' to the end of the line: no control characters. */
static int
skip_comment(struct toml_parser *P)
{
	unsigned char	 c;

	for (P->p++; P->p < P->end && !newline_at(P); P->p++) {
		c = *P->p;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return toml_error(P, P->p, "control character U+%04X "
			    "in a comment", c);
	}
	return 0;
}

/* White space, newlines and comments, as between array values. */
static int
skip_ws_nl(struct toml_parser *P)
{
	int	 n;

	for (;;) {
		skip_ws(P);
		if ((n = newline_at(P)) != 0)
			P->p += n;
		else if (P->p < P->end && *P->p == '#') {
			if (skip_comment(P) == -1)
				return -1;
		} else
			return 0;
	}
}

/* After a key/value pair or header: a comment, then the line's end. */
static int
expect_eol(struct toml_parser *P)
{
	int	 n;

	skip_ws(P);
	if (P->p < P->end && *P->p == '#' && skip_comment(P) == -1)
		return -1;
	if (P->p >= P->end)
		return 0;
	if ((n = newline_at(P)) == 0)
		return toml_error(P, P->p, *P->p == '\r' ? "carriage return "
		    "without a newline" : "expected the end of the line");
	P->p += n;
	return 0;
}

/* --- keys ------------------------------------------------------------ */

static void
key_free(struct toml_key *k)
{
	int	 i;

	for (i = 0; i < k->cap; i++)
		free(k->part[i].s);
	free(k->part);
	free(k->at);
}

static int
is_bare(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* One part of a key: bare, or a one-line basic or literal string. */
static int
read_key_part(struct toml_parser *P, struct toml_buf *b)
{
	const char	*start = P->p;

	b->len = 0;
	if (P->p < P->end && (*P->p == '"' || *P->p == '\'')) {
		if (P->end - P->p >= 3 && P->p[1] == *P->p &&
		    P->p[2] == *P->p)
			return toml_error(P, P->p, "a key cannot be a "
			    "multi-line string");
		return toml_read_string(P, b, 0);
	}
	while (P->p < P->end && is_bare(*P->p))
		P->p++;
	if (P->p == start)
		return toml_error(P, P->p, "expected a key");
	toml_buf_add(b, start, P->p - start);
	return 0;
}

/* A key, dotted or not, with white space around the dots. */
static int
read_key(struct toml_parser *P, struct toml_key *k)
{
	for (k->n = 0;; k->n++) {
		if (k->n == TOML_MAX_DEPTH)
			return toml_error(P, P->p, "a key of more than %d "
			    "parts", TOML_MAX_DEPTH);
		if (k->n == k->cap) {
			k->cap = k->cap ? k->cap * 2 : 4;
			k->part = reallocarray(k->part, k->cap,
			    sizeof(*k->part));
			k->at = reallocarray(k->at, k->cap, sizeof(*k->at));
			if (k->part == NULL || k->at == NULL)
				fatal("reallocarray");
			memset(k->part + k->n, 0, (k->cap - k->n) *
			    sizeof(*k->part));
		}
		skip_ws(P);
		k->at[k->n] = P->p;
		if (read_key_part(P, &k->part[k->n]) == -1)
			return -1;
		skip_ws(P);
		if (P->p >= P->end || *P->p != '.') {
			k->n++;
			return 0;
		}
		P->p++;
	}
}

/* --- tables ---------------------------------------------------------- */

/*
 * Step from t into key on the way to a [header]'s table (dotted 0) or
 * for a dotted key, a.b = 1 (dotted 1).  A missing table is made: by a
 * header implicitly (a later [key] may still define it), by a dotted
 * key as defined.  A header steps into the last table of an array of
 * tables; nothing steps into an inline table, and dotted keys cannot
 * extend a table that a [header] defined.
 */
static struct toml_value *
key_step(struct toml_parser *P, struct toml_value *t,
    const struct toml_buf *key, const char *at, int dotted)
{
	struct toml_value	*v;
	ssize_t			 i;

	if ((i = table_find(t, key->s, key->len)) == -1) {
		if ((v = child_new(P, t, TOML_TABLE, dotted ? F_DOTTED :
		    F_IMPLICIT, at)) != NULL)
			table_add(t, key, v);
		return v;
	}
	v = t->items[i];
	if (!dotted && v->type == TOML_ARRAY && (v->flags & F_AOT))
		return v->items[v->n - 1];
	if (v->type != TOML_TABLE)
		toml_error(P, at, "'%s' is %s, not a table", key->s, kind(v));
	else if (v->flags & F_INLINE)
		toml_error(P, at, "'%s' is an inline table: it cannot be "
		    "extended", key->s);
	else if (dotted && (v->flags & F_HEADER))
		toml_error(P, at, "table '%s' is defined by a [header]: "
		    "dotted keys cannot extend it", key->s);
	else {
		if (dotted)
			v->flags |= F_DOTTED;
		return v;
	}
	return NULL;
}

/* [key]: a table defined once, unless [a.b] only implied it before. */
static struct toml_value *
header_table(struct toml_parser *P, struct toml_value *t,
    const struct toml_buf *key, const char *at)
{
	struct toml_value	*v;
	ssize_t			 i;

	if ((i = table_find(t, key->s, key->len)) == -1) {
		if ((v = child_new(P, t, TOML_TABLE, F_HEADER, at)) != NULL)
			table_add(t, key, v);
		return v;
	}
	v = t->items[i];
	if (v->type == TOML_TABLE && v->flags == F_IMPLICIT) {
		v->flags |= F_HEADER;
		return v;
	}
	if (v->type != TOML_TABLE || (v->flags & F_AOT))
		toml_error(P, at, "'%s' is already defined as %s", key->s,
		    kind(v));
	else if (v->flags & F_DOTTED)
		toml_error(P, at, "table '%s' is already defined by dotted "
		    "keys", key->s);
	else
		toml_error(P, at, "table '%s' is defined twice", key->s);
	return NULL;
}

/* [[key]]: a new table at the end of an array of tables. */
static struct toml_value *
header_array(struct toml_parser *P, struct toml_value *t,
    const struct toml_buf *key, const char *at)
{
	struct toml_value	*a, *v;
	ssize_t			 i;

	if ((i = table_find(t, key->s, key->len)) == -1) {
		if ((a = child_new(P, t, TOML_ARRAY, F_AOT, at)) == NULL)
			return NULL;
		table_add(t, key, a);
	} else if ((a = t->items[i])->type != TOML_ARRAY ||
	    !(a->flags & F_AOT)) {
		toml_error(P, at, "'%s' is already defined as %s: [[%s]] "
		    "cannot add to it", key->s, kind(a), key->s);
		return NULL;
	}
	if ((v = child_new(P, a, TOML_TABLE, F_HEADER, at)) != NULL)
		array_add(a, v);
	return v;
}

/* A [table] or [[array of tables]] line; sets *cur to its table. */
static int
parse_header(struct toml_parser *P, struct toml_value *root,
    struct toml_value **cur)
{
	struct toml_key		 k = { NULL, NULL, 0, 0 };
	struct toml_value	*t = root;
	int			 aot, i, r = -1;

	aot = P->end - P->p >= 2 && P->p[1] == '[';
	P->p += aot ? 2 : 1;
	if (read_key(P, &k) == -1)
		goto done;
	if (P->p >= P->end || *P->p != ']' ||
	    (aot && (P->end - P->p < 2 || P->p[1] != ']'))) {
		toml_error(P, P->p, "expected '%s' after the table name",
		    aot ? "]]" : "]");
		goto done;
	}
	P->p += aot ? 2 : 1;
	for (i = 0; i < k.n - 1 && t != NULL; i++)
		t = key_step(P, t, &k.part[i], k.at[i], 0);
	if (t != NULL)
		t = (aot ? header_array : header_table)(P, t, &k.part[i],
		    k.at[i]);
	if (t != NULL) {
		*cur = t;
		r = 0;
	}
done:
	key_free(&k);
	return r;
}

/* key = value, into table t. */
static int
parse_keyval(struct toml_parser *P, struct toml_value *t)
{
	struct toml_key		 k = { NULL, NULL, 0, 0 };
	struct toml_value	*v;
	int			 i, r = -1;

	if (read_key(P, &k) == -1)
		goto done;
	if (P->p >= P->end || *P->p != '=') {
		toml_error(P, P->p, "expected '=' after a key");
		goto done;
	}
	P->p++;
	skip_ws(P);
	for (i = 0; i < k.n - 1 && t != NULL; i++)
		t = key_step(P, t, &k.part[i], k.at[i], 1);
	if (t == NULL)
		goto done;
	if (table_find(t, k.part[i].s, k.part[i].len) != -1) {
		toml_error(P, k.at[i], "key '%s' is defined twice",
		    k.part[i].s);
		goto done;
	}
	if ((v = parse_value(P, t->depth + 1)) != NULL) {
		table_add(t, &k.part[i], v);
		r = 0;
	}
done:
	key_free(&k);
	return r;
}

/* --- arrays and inline tables ---------------------------------------- */

/* [ v, v, ... ] over any number of lines, a trailing comma allowed. */
static struct toml_value *
parse_array(struct toml_parser *P, int depth)
{
	struct toml_value	*a = toml_value_new(TOML_ARRAY, depth), *v;

	for (P->p++;;) {
		if (skip_ws_nl(P) == -1)
			goto fail;
		if (P->p < P->end && *P->p == ']')
			break;
		if ((v = parse_value(P, depth + 1)) == NULL)
			goto fail;
		array_add(a, v);
		if (skip_ws_nl(P) == -1)
			goto fail;
		if (P->p < P->end && *P->p == ',') {
			P->p++;
			continue;
		}
		if (P->p >= P->end || *P->p != ']') {
			toml_error(P, P->p, "expected ',' or ']' in an array");
			goto fail;
		}
		break;
	}
	P->p++;
	return a;
fail:
	toml_free(a);
	return NULL;
}

/* { k = v, ... } on one line, no trailing comma; closed once read. */
static struct toml_value *
parse_inline_table(struct toml_parser *P, int depth)
{
	struct toml_value	*t = toml_value_new(TOML_TABLE, depth);

	t->flags = F_INLINE;
	P->p++;
	skip_ws(P);
	if (P->p < P->end && *P->p == '}') {
		P->p++;
		return t;
	}
	for (;;) {
		if (parse_keyval(P, t) == -1)
			goto fail;
		skip_ws(P);
		if (P->p < P->end && *P->p == '}')
			break;
		if (P->p >= P->end || *P->p != ',') {
			toml_error(P, P->p, newline_at(P) ? "newline in an "
			    "inline table" : "expected ',' or '}' in an inline "
			    "table");
			goto fail;
		}
		P->p++;
		skip_ws(P);
		if (P->p < P->end && *P->p == '}') {
			toml_error(P, P->p, "trailing comma in an inline "
			    "table");
			goto fail;
		}
	}
	P->p++;
	return t;
fail:
	toml_free(t);
	return NULL;
}

static struct toml_value *
parse_value(struct toml_parser *P, int depth)
{
	struct toml_value	*v;
	struct toml_buf		 b = { NULL, 0, 0 };

	if (depth > TOML_MAX_DEPTH) {
		toml_error(P, P->p, "nested deeper than %d", TOML_MAX_DEPTH);
		return NULL;
	}
	if (P->p >= P->end || newline_at(P) || *P->p == '#') {
		toml_error(P, P->p, "expected a value");
		return NULL;
	}
	switch (*P->p) {
	case '"':
	case '\'':
		if (toml_read_string(P, &b, 1) == -1) {
			free(b.s);
			return NULL;
		}
		v = toml_value_new(TOML_STRING, depth);
		v->str = b.s;
		v->len = b.len;
		return v;
	case '[':
		return parse_array(P, depth);
	case '{':
		return parse_inline_table(P, depth);
	}
	return toml_read_scalar(P, depth);
}

/* --- the document ---------------------------------------------------- */

struct toml_value *
toml_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	struct toml_parser	 P = { buf, buf, buf + len, err, errlen, 0 };
	struct toml_value	*root = toml_value_new(TOML_TABLE, 0), *cur;
	int			 n, r = 0;

	/*
	 * "A valid UTF-8 encoded Unicode document" may open with a byte
	 * order mark (toml-lang/toml#437), as editors on Windows write
	 * it.  One, at the start, and not a column of line 1.
	 */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		P.buf = P.p = buf + 3;
	if (toml_check_utf8(&P) == -1)
		goto fail;
	for (cur = root; r == 0;) {
		skip_ws(&P);
		if (P.p >= P.end)
			return root;
		if ((n = newline_at(&P)) != 0)
			P.p += n;
		else if (*P.p == '#')
			r = skip_comment(&P);
		else if (*P.p == '[')
			r = parse_header(&P, root, &cur) == -1 ? -1 :
			    expect_eol(&P);
		else
			r = parse_keyval(&P, cur) == -1 ? -1 : expect_eol(&P);
	}
fail:
	toml_free(root);
	return NULL;
}

struct toml_value *
toml_load(const char *path, size_t maxsize, char *err, size_t errlen)
{
	struct toml_value	*v;
	struct stat		 st;
	char			*buf, e[256];
	ssize_t			 n;
	size_t			 got = 0;
	int			 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > maxsize) {
		snprintf(err, errlen, "%s: %s", path, S_ISREG(st.st_mode) ?
		    "file too large" : "not a regular file");
		close(fd);
		return NULL;
	}
	buf = xcalloc(1, st.st_size + 1);
	while (got < (size_t)st.st_size && (n = read(fd, buf + got,
	    st.st_size - got)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			free(buf);
			return NULL;
		}
		got += n;
	}
	close(fd);
	if ((v = toml_parse(buf, got, e, sizeof(e))) == NULL)
		snprintf(err, errlen, "%s: %s", path, e);
	free(buf);
	return v;
}
