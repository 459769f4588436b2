/*
 * fuzz_egress.c - kumo.make_egress_path{} and kumo.make_queue_config{}
 * (lib/policy_egress.c: every field's check, the keysource tables
 * through lib/keysource.c, durations, rates, limits and networks
 * through lib/util.c) and what petrelctl resolve shows of the result
 * (policy_egress_json).
 *
 * Input: the table, one field a line, "name=value"; a first line
 * "queue" asks make_queue_config instead.  A value is true or false,
 * an integer, a number, {a,b} (a list of strings), {k=v;k=v} (a
 * table: a keysource), or else a string ("\0" in it is a NUL byte,
 * "\\" a backslash).  A name "[N]" is the integer key N.
 *
 * Checked: a refusal is an error string naming the function; what is
 * accepted comes back as the userdata; its JSON never depends on a
 * secret (key_data, vault_token): with every secret replaced the JSON
 * is the same, byte for byte.
 */
#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>

#include "conf.h"
#include "egress.h"
#include "fuzz.h"
#include "keysource.h"
#include "policy.h"
#include "policy_int.h"

static struct petrel_conf conf;
static struct policy	*pol;

/* s[0..n) with "\0" and "\\" decoded, pushed as a Lua string */
static void
push_text(lua_State *L, const char *s, size_t n)
{
	luaL_Buffer	 b;
	size_t		 i;

	luaL_buffinit(L, &b);
	for (i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n && (s[i + 1] == '0' ||
		    s[i + 1] == '\\')) {
			luaL_addchar(&b, s[i + 1] == '0' ? '\0' : '\\');
			i++;
		} else
			luaL_addchar(&b, s[i]);
	}
	luaL_pushresult(&b);
}

static void
push_value(lua_State *L, const char *s, size_t n)
{
	char		 num[64], *end;
	const char	*p, *e, *sep, *eq;
	long long	 ll;
	double		 d;
	lua_Integer	 i = 1;

	if (n == 4 && memcmp(s, "true", 4) == 0) {
		lua_pushboolean(L, 1);
		return;
	}
	if (n == 5 && memcmp(s, "false", 5) == 0) {
		lua_pushboolean(L, 0);
		return;
	}
	if (n > 0 && n < sizeof(num)) {
		memcpy(num, s, n);
		num[n] = '\0';
		errno = 0;
		ll = strtoll(num, &end, 0);
		if (*end == '\0' && errno == 0) {
			lua_pushinteger(L, ll);
			return;
		}
		d = strtod(num, &end);
		if (*end == '\0') {
			lua_pushnumber(L, d);
			return;
		}
	}
	if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
		lua_newtable(L);
		for (p = s + 1, e = s + n - 1; p < e; p = sep + 1) {
			if ((sep = memchr(p, memchr(s, ';', n) ? ';' : ',',
			    e - p)) == NULL)
				sep = e;
			if ((eq = memchr(p, '=', sep - p)) != NULL) {
				push_text(L, p, eq - p);
				push_value(L, eq + 1, sep - eq - 1);
				lua_settable(L, -3);
			} else {
				push_text(L, p, sep - p);
				lua_seti(L, -2, i++);
			}
		}
		return;
	}
	push_text(L, s, n);
}

/* A copy of ks whose secrets are other secrets. */
static struct keysource *
resecret(const struct keysource *ks)
{
	struct keysource *c = keysource_copy(ks);

	if (c == NULL)
		return NULL;
	if (c->data != NULL) {
		free(c->data);
		c->data = strdup("another secret altogether");
	}
	if (c->vault_token != NULL) {
		free(c->vault_token);
		c->vault_token = strdup("s.AnotherTokenAltogether");
	}
	return c;
}

static void
check_egress(const struct egress *eg)
{
	struct egress	 other;
	json_t		*j1, *j2;
	char		*s1, *s2;

	egress_copy(&other, eg);
	keysource_free(other.smtp_auth_plain_password);
	keysource_free(other.tls_certificate);
	keysource_free(other.tls_private_key);
	other.smtp_auth_plain_password = resecret(eg->smtp_auth_plain_password);
	other.tls_certificate = resecret(eg->tls_certificate);
	other.tls_private_key = resecret(eg->tls_private_key);
	j1 = policy_egress_json(eg);
	j2 = policy_egress_json(&other);
	FUZZ_CHECK(j1 != NULL && j2 != NULL);
	s1 = json_dumps(j1, JSON_COMPACT);
	s2 = json_dumps(j2, JSON_COMPACT);
	FUZZ_CHECK(s1 != NULL && s2 != NULL);
	FUZZ_CHECK(strcmp(s1, s2) == 0);
	free(s1);
	free(s2);
	json_decref(j1);
	json_decref(j2);
	egress_clear(&other);
	FUZZ_CHECK(eg->ehlo_domain[sizeof(eg->ehlo_domain) - 1] == '\0');
	FUZZ_CHECK(eg->smtp_port >= 1 && eg->smtp_port <= 65535);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf = (const char *)data, *end = buf + size, *p, *nl;
	const char	*eq, *fn = "make_egress_path";
	struct egress	 eg;
	struct queue_config qc;
	lua_State	*L;
	char		 err[1024];
	int		 r;

	if (pol == NULL) {
		int	 fd = memfd_create("petrel.conf", MFD_CLOEXEC);

		/* the defaults; a policy that only sets up the sandbox */
		if (fd == -1 || conf_load_fd(&conf, "fuzz", fd, err,
		    sizeof(err)) == -1)
			abort();
		if ((pol = policy_load("/dev/null", &conf, err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
		policy_quiet_warnings();
	}
	L = pol->L;
	pol->icount = 0;
	lua_settop(L, 0);

	p = buf;
	if (size >= 6 && memcmp(buf, "queue\n", 6) == 0) {
		fn = "make_queue_config";
		p += 6;
	}
	lua_getglobal(L, "kumo");
	lua_getfield(L, -1, fn);
	lua_newtable(L);
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if ((eq = memchr(p, '=', nl - p)) == NULL)
			continue;
		if (eq - p >= 3 && p[0] == '[' && eq[-1] == ']')
			lua_pushinteger(L, strtoll(p + 1, NULL, 10));
		else
			push_text(L, p, eq - p);
		push_value(L, eq + 1, nl - eq - 1);
		lua_settable(L, -3);
	}
	r = lua_pcall(L, 1, 1, 0);
	if (r != LUA_OK) {
		FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING);
		FUZZ_CHECK(strstr(lua_tostring(L, -1), fn) != NULL ||
		    r == LUA_ERRMEM);
	} else if (fn[5] == 'e') {
		FUZZ_CHECK(policy_egress_result(L, -1, &eg) == 0);
		check_egress(&eg);
		egress_clear(&eg);
	} else {
		FUZZ_CHECK(policy_queue_result(L, -1, &qc) == 0);
		FUZZ_CHECK(memchr(qc.routing_domain, '\0',
		    sizeof(qc.routing_domain)) != NULL);
		FUZZ_CHECK(qc.retry_interval >= 1 &&
		    qc.max_retry_interval >= qc.retry_interval);
		FUZZ_CHECK(qc.refresh_interval >= 1);
	}
	lua_settop(L, 0);
	return 0;
}
