/*
 * policy_json.c - kumo.json_load(path), kumo.json_parse(text),
 * kumo.json_encode(value) and kumo.json_encode_pretty(value), with
 * jansson.  JSON null is Lua nil (a key with null is left out);
 * a table whose keys are 1..n is an array, any other an object with
 * string keys (an empty table is {}).  json_load reads the file when
 * it is called: at load time, before the process chroots.
 *
 * Shaping files get one leniency (policy_json_load_lax): a comma
 * before a closing } or ], as in the JSON blocks users copy from
 * KumoMTA's documentation.  Everything else stays strict.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "policy_int.h"

#define JSON_DEPTH	128

/* -1 when nested too deep; the caller resets the stack. */
static int
push_json(lua_State *L, json_t *j, int depth)
{
	const char	*k;
	json_t		*v;
	size_t		 i;

	if (depth > JSON_DEPTH || !lua_checkstack(L, 3))
		return -1;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		lua_createtable(L, 0, json_object_size(j));
		json_object_foreach(j, k, v) {
			if (json_is_null(v))
				continue;
			if (push_json(L, v, depth + 1) == -1)
				return -1;
			lua_setfield(L, -2, k);
		}
		break;
	case JSON_ARRAY:
		lua_createtable(L, json_array_size(j), 0);
		json_array_foreach(j, i, v) {
			if (json_is_null(v))
				continue;
			if (push_json(L, v, depth + 1) == -1)
				return -1;
			lua_seti(L, -2, i + 1);
		}
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(j), json_string_length(j));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, json_integer_value(j));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(j));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	case JSON_NULL:
		lua_pushnil(L);
		break;
	}
	return 0;
}

/* Push the decoded value, or raise the decoder's error with where. */
static int
push_decoded(lua_State *L, json_t *j, json_error_t *e, const char *what)
{
	int	 top = lua_gettop(L);

	if (j == NULL)
		return luaL_error(L, "%s: %s at line %d, column %d", what,
		    e->text, e->line, e->column);
	if (push_json(L, j, 0) == -1) {
		lua_settop(L, top);
		json_decref(j);
		return luaL_error(L, "%s: nested deeper than %d", what,
		    JSON_DEPTH);
	}
	json_decref(j);
	return 1;
}

static int
l_json_load(lua_State *L)
{
	const char	*path = luaL_checkstring(L, 1);
	json_error_t	 e;
	json_t		*j;
	char		 what[300];

	j = json_load_file(path, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	snprintf(what, sizeof(what), "json_load %s", path);
	if (j == NULL && e.line == -1)
		return luaL_error(L, "%s: %s", what, e.text);
	return push_decoded(L, j, &e, what);
}

/*
 * Blank out each comma after a value that only whitespace separates from a closing
 * } or ], outside strings.  The comma becomes a space, so the line
 * and column jansson reports for any other error stay true.
 */
static void
drop_trailing_commas(char *s, size_t len)
{
	size_t	 i, j;
	int	 instr = 0;
	char	 prev = '\0';	/* the last byte outside white space */

	for (i = 0; i < len; i++) {
		if (instr) {
			if (s[i] == '\\' && i + 1 < len)
				i++;
			else if (s[i] == '"') {
				instr = 0;
				prev = '"';
			}
			continue;
		}
		if (s[i] == '"') {
			instr = 1;
			continue;
		}
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
			continue;
		if (s[i] != ',' || prev == '\0' || prev == '[' || prev == '{' ||
		    prev == ',') {
			/* only a comma after a value may trail: "[,]" stays */
			prev = s[i];
			continue;
		}
		prev = s[i];
		for (j = i + 1; j < len && (s[j] == ' ' || s[j] == '\t' ||
		    s[j] == '\n' || s[j] == '\r'); j++)
			;
		if (j < len && (s[j] == '}' || s[j] == ']'))
			s[i] = ' ';
	}
}

/* H.json_load(path) for shaping files: trailing commas allowed. */
int
policy_json_load_lax(lua_State *L)
{
	const char	*path = luaL_checkstring(L, 1);
	json_error_t	 e;
	json_t		*j;
	FILE		*fp;
	char		*buf = NULL, what[300];
	size_t		 len = 0, cap = 0, n;
	int		 err;

	snprintf(what, sizeof(what), "json_load %s", path);
	if ((fp = fopen(path, "r")) == NULL)
		return luaL_error(L, "%s: %s", what, strerror(errno));
	for (;;) {
		if (cap - len < 8192) {
			char	*nb;

			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(fp);
				return luaL_error(L, "%s: out of memory", what);
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	err = ferror(fp);
	fclose(fp);
	if (err) {
		free(buf);
		return luaL_error(L, "%s: read error", what);
	}
	drop_trailing_commas(buf, len);
	j = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	free(buf);
	return push_decoded(L, j, &e, what);
}

static int
l_json_parse(lua_State *L)
{
	size_t		 len;
	const char	*s = luaL_checklstring(L, 1, &len);
	json_error_t	 e;

	return push_decoded(L, json_loadb(s, len,
	    JSON_DECODE_ANY | JSON_ALLOW_NUL, &e), &e, "json_parse");
}

/* The table at idx is an array when its keys are exactly 1..#t (#t > 0). */
static int
is_array(lua_State *L, int idx)
{
	lua_Integer	 n = luaL_len(L, idx), count = 0;

	if (n == 0)
		return 0;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
		    lua_tointeger(L, -1) > n) {
			lua_pop(L, 1);
			return 0;
		}
		count++;
	}
	return count == n;
}

static json_t	*to_json(lua_State *, int idx, int depth, char *err,
		    size_t errlen);

static json_t *
table_to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
	json_t		*j, *v;
	lua_Integer	 i, n;

	if (is_array(L, idx)) {
		j = json_array();
		n = luaL_len(L, idx);
		for (i = 1; i <= n; i++) {
			lua_geti(L, idx, i);
			v = to_json(L, lua_gettop(L), depth + 1, err, errlen);
			lua_pop(L, 1);
			if (v == NULL) {
				json_decref(j);
				return NULL;
			}
			json_array_append_new(j, v);
		}
		return j;
	}
	j = json_object();
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			snprintf(err, errlen, "json_encode: object keys must "
			    "be strings, got a %s", luaL_typename(L, -2));
			lua_pop(L, 2);
			json_decref(j);
			return NULL;
		}
		v = to_json(L, lua_gettop(L), depth + 1, err, errlen);
		if (v == NULL) {
			lua_pop(L, 2);
			json_decref(j);
			return NULL;
		}
		json_object_setn_new(j, lua_tostring(L, -2),
		    lua_rawlen(L, -2), v);
		lua_pop(L, 1);
	}
	return j;
}

/* NULL with err set; never raises, so nothing built is lost. */
static json_t *
to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
	lua_Number	 n;
	const char	*s;
	size_t		 len;
	json_t		*j;

	if (depth > JSON_DEPTH) {
		snprintf(err, errlen, "json_encode: nested deeper than %d "
		    "(a table that contains itself?)", JSON_DEPTH);
		return NULL;
	}
	if (!lua_checkstack(L, 4)) {
		snprintf(err, errlen, "json_encode: too deep");
		return NULL;
	}
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer(lua_tointeger(L, idx));
		if (!isfinite(n = lua_tonumber(L, idx))) {
			snprintf(err, errlen, "json_encode: %g has no JSON "
			    "form", n);
			return NULL;
		}
		return json_real(n);
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		if ((j = json_stringn(s, len)) == NULL)
			snprintf(err, errlen, "json_encode: a string that is "
			    "not UTF-8");
		return j;
	case LUA_TTABLE:
		return table_to_json(L, idx, depth, err, errlen);
	}
	snprintf(err, errlen, "json_encode: a %s has no JSON form",
	    luaL_typename(L, idx));
	return NULL;
}

static int
encode(lua_State *L, size_t flags)
{
	json_t		*j;
	char		 err[256], *s;

	luaL_checkany(L, 1);
	lua_settop(L, 1);
	if ((j = to_json(L, 1, 0, err, sizeof(err))) == NULL)
		return luaL_error(L, "%s", err);
	s = json_dumps(j, flags | JSON_ENCODE_ANY);
	json_decref(j);
	if (s == NULL)
		return luaL_error(L, "json_encode: out of memory");
	lua_pushstring(L, s);
	free(s);
	return 1;
}

static int
l_json_encode(lua_State *L)
{
	return encode(L, JSON_COMPACT);
}

static int
l_json_encode_pretty(lua_State *L)
{
	return encode(L, JSON_INDENT(2));
}

void
policy_json_register(lua_State *L, int kumo)
{
	static const luaL_Reg fns[] = {
		{ "json_load", l_json_load },
		{ "json_parse", l_json_parse },
		{ "json_encode", l_json_encode },
		{ "json_encode_pretty", l_json_encode_pretty },
		{ NULL, NULL }
	};

	kumo = lua_absindex(L, kumo);
	lua_pushvalue(L, kumo);
	luaL_setfuncs(L, fns, 0);
	lua_pop(L, 1);
}
