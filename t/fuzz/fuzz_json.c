/*
 * fuzz_json.c - the JSON side of the policy (lib/policy_json.c): the
 * shaping loader that allows trailing commas (policy_json_load_lax,
 * the shaping helper's json_load), the strict kumo.json_parse, and
 * kumo.json_encode of what they return, in a bare Lua state (the
 * shaping helper's Lua above them is not what is fuzzed here).
 *
 * Checked: whatever strict json_parse takes, the lax loader takes and
 * reads the same (it only forgives); whatever either returns, encodes
 * (or fails with an error, never a crash) to JSON that json_parse
 * reads back.
 */
#include "config.h"

#include <sys/mman.h>

#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "fuzz.h"
#include "policy_int.h"

static lua_State *L;
static char	  path[64];
static int	  fd = -1;

/* kumo.NAME(arg at top): 1 with the result pushed, 0 with the error */
static int
call(const char *name, int arg)
{
	arg = lua_absindex(L, arg);
	lua_getglobal(L, "kumo");
	lua_getfield(L, -1, name);
	lua_remove(L, -2);
	lua_pushvalue(L, arg);
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING);
		lua_pop(L, 1);
		return 0;
	}
	return 1;
}

/* encode the value at top; if that works, parse it back */
static void
roundtrip(void)
{
	if (!call("json_encode", -1))
		return;
	FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING);
	FUZZ_CHECK(call("json_parse", -1));
	lua_pop(L, 2);
	if (call("json_encode_pretty", -1))
		lua_pop(L, 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int	 strict, lax;

	if (L == NULL) {
		if ((L = luaL_newstate()) == NULL)
			abort();
		luaL_openlibs(L);
		lua_newtable(L);
		policy_json_register(L, -1);
		lua_pushcfunction(L, policy_json_load_lax);
		lua_setfield(L, -2, "json_load_lax");
		lua_setglobal(L, "kumo");
		if ((fd = memfd_create("shaping.json", MFD_CLOEXEC)) == -1)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	lua_settop(L, 0);
	if (ftruncate(fd, 0) == -1 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();

	lua_pushlstring(L, (const char *)data, size);	/* 1 */
	strict = call("json_parse", 1);			/* 2 */
	if (strict)
		roundtrip();
	lua_pushstring(L, path);
	lax = call("json_load_lax", -1);
	if (lax)
		roundtrip();
	FUZZ_CHECK(!strict || lax);
	if (strict && lax && lua_type(L, 2) == LUA_TTABLE) {
		/* the same value: the same encoding (or the same refusal) */
		int	 top = lua_gettop(L), e1, e2;

		e1 = call("json_encode", 2);
		e2 = call("json_encode", top);
		FUZZ_CHECK(e1 == e2);
		if (e1)
			FUZZ_CHECK(strcmp(lua_tostring(L, -1),
			    lua_tostring(L, -2)) == 0);
	}
	lua_settop(L, 0);
	return 0;
}
