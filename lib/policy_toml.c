/*
 * policy_toml.c - kumo.toml_load(path) and kumo.toml_parse(text): a
 * TOML document (lib/toml.c) as Lua tables.  Integers are Lua
 * integers, floats floats, date-times strings in RFC 3339 form.
 * toml_load reads the file when it is called: at load time, before the
 * process chroots.  A syntax error is raised as "PATH: line L, column
 * C: what" (toml_parse: "toml_parse: line L, column C: what").
 */
#include "config.h"

#include <stdio.h>

#include <lauxlib.h>
#include <lua.h>

#include "policy_int.h"
#include "toml.h"

/* A shaping file of 10,000 destinations is about 1 MB. */
#define TOML_MAX_FILE	(64 * 1024 * 1024)

/* The tree's depth is bounded by TOML_MAX_DEPTH, so is this recursion. */
static int
push_toml(lua_State *L, const struct toml_value *v)
{
	size_t	 i;

	if (!lua_checkstack(L, 3))
		return -1;
	switch (v->type) {
	case TOML_TABLE:
		lua_createtable(L, 0, v->n);
		for (i = 0; i < v->n; i++) {
			lua_pushlstring(L, v->keys[i], v->keylens[i]);
			if (push_toml(L, v->items[i]) == -1)
				return -1;
			lua_rawset(L, -3);
		}
		break;
	case TOML_ARRAY:
		lua_createtable(L, v->n, 0);
		for (i = 0; i < v->n; i++) {
			if (push_toml(L, v->items[i]) == -1)
				return -1;
			lua_rawseti(L, -2, i + 1);
		}
		break;
	case TOML_INTEGER:
		lua_pushinteger(L, v->i);
		break;
	case TOML_FLOAT:
		lua_pushnumber(L, v->f);
		break;
	case TOML_BOOL:
		lua_pushboolean(L, v->b);
		break;
	default:		/* strings and the date-times */
		lua_pushlstring(L, v->str, v->len);
		break;
	}
	return 0;
}

/* Push the document, or raise err (the document, if any, is freed). */
static int
push_document(lua_State *L, struct toml_value *doc, const char *err)
{
	int	 top = lua_gettop(L), r;

	if (doc == NULL) {
		lua_pushstring(L, err);
		return lua_error(L);
	}
	r = push_toml(L, doc);
	toml_free(doc);
	if (r == -1) {
		lua_settop(L, top);
		return luaL_error(L, "toml: nested too deep for Lua");
	}
	return 1;
}

static int
l_toml_load(lua_State *L)
{
	const char	*path = luaL_checkstring(L, 1);
	char		 err[1024];

	return push_document(L, toml_load(path, TOML_MAX_FILE, err,
	    sizeof(err)), err);
}

static int
l_toml_parse(lua_State *L)
{
	size_t		 len;
	const char	*s = luaL_checklstring(L, 1, &len);
	char		 err[512], msg[600] = "";
	struct toml_value *doc;

	if ((doc = toml_parse(s, len, err, sizeof(err))) == NULL)
		snprintf(msg, sizeof(msg), "toml_parse: %s", err);
	return push_document(L, doc, msg);
}

void
policy_toml_register(lua_State *L, int kumo)
{
	kumo = lua_absindex(L, kumo);
	lua_pushcfunction(L, l_toml_load);
	lua_setfield(L, kumo, "toml_load");
	lua_pushcfunction(L, l_toml_parse);
	lua_setfield(L, kumo, "toml_parse");
}
