/*
 * policy_shaping.c - require 'policy-extras.shaping', KumoMTA's
 * traffic shaping helper.  The module itself is Lua (lib/shaping.lua,
 * built into the binary as a string); this file puts it in
 * package.preload and hands it the few things Lua cannot do in the
 * sandbox: a warning through the policy's logger (quiet in the
 * children, as the policy's other load-time warnings are), a look at
 * a plain-string password path against [keysd] key_dirs, and the JSON
 * loader for shaping files (policy_json_load_lax: trailing commas).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "conf.h"
#include "policy_int.h"
#include "util.h"

static const char shaping_lua[] =
#include "lib/shaping_lua.h"
;

#define SHAPING_MODULE	"policy-extras.shaping"

/* H.warn(msg) */
static int
l_warn(lua_State *L)
{
	policy_warn("policy: shaping: %s", luaL_checkstring(L, 1));
	return 0;
}

/*
 * path lies below dir on a path-component boundary (/etc/petrel/keys2
 * is not below /etc/petrel/keys), both as real paths when they exist.
 */
static int
below(const char *path, const char *dir)
{
	char	 rd[PATH_MAX];
	size_t	 n;

	if (realpath(dir, rd) != NULL)
		dir = rd;
	n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' ||
	    (n == 1 && dir[0] == '/'));
}

/*
 * H.password_path(path): nil when the file exists below [keysd]
 * key_dirs (or cannot be looked at from here), else 'missing', or
 * 'outside' and the key_dirs.  Only a warning comes of it: keysd,
 * which reads the file as its own user, has the last word.
 */
static int
l_password_path(lua_State *L)
{
	const struct petrel_conf *c = policy_of(L)->conf;
	const char	*path = luaL_checkstring(L, 1);
	char		 rp[PATH_MAX], *dirs, *s, *d;
	int		 inside = 0;

	if (realpath(path, rp) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR) {
			lua_pushliteral(L, "missing");
			return 1;
		}
		return 0;
	}
	if (c == NULL || c->keysd_key_dirs == NULL)
		return 0;
	s = dirs = xstrdup(c->keysd_key_dirs);
	while (!inside && (d = strsep(&s, ", \t")) != NULL)
		if (*d != '\0' && below(rp, d))
			inside = 1;
	free(dirs);
	if (inside)
		return 0;
	lua_pushliteral(L, "outside");
	lua_pushstring(L, c->keysd_key_dirs);
	return 2;
}

/* package.preload's loader: run the module's chunk with its helpers. */
static int
l_load_shaping(lua_State *L)
{
	if (luaL_loadbufferx(L, shaping_lua, sizeof(shaping_lua) - 1,
	    "=policy-extras/shaping.lua", "t") != LUA_OK)
		return lua_error(L);
	lua_newtable(L);
	lua_pushcfunction(L, l_warn);
	lua_setfield(L, -2, "warn");
	lua_pushcfunction(L, l_password_path);
	lua_setfield(L, -2, "password_path");
	/* shaping JSON: strict but for trailing commas */
	lua_pushcfunction(L, policy_json_load_lax);
	lua_setfield(L, -2, "json_load");
	lua_call(L, 1, 1);
	return 1;
}

/* package.preload['policy-extras.shaping'], package at idx. */
void
policy_shaping_register(lua_State *L, int package)
{
	package = lua_absindex(L, package);
	if (lua_getfield(L, package, "preload") == LUA_TTABLE) {
		lua_pushcfunction(L, l_load_shaping);
		lua_setfield(L, -2, SHAPING_MODULE);
	}
	lua_pop(L, 1);
}
