/*
 * policy.c - the Lua policy engine: a sandboxed Lua 5.4 state per
 * policy file, the kumo module (kumo.on, the log functions; the
 * make_* constructors are policy_egress.c's, the JSON functions
 * policy_json.c's; require 'policy-extras.shaping' is
 * policy_shaping.c's), the handlers' calls under an instruction limit,
 * and the caches in front of them.
 *
 * The state sees the base library without dofile and loadfile (load
 * takes text only), string, table, math and utf8; no io, os or debug.
 * require finds kumo, then Lua files along package.path (the policy's
 * directory), read when required: at load time, before the chroot.
 *
 * Answers are cached per key for their refresh_interval (an error for
 * ERROR_TTL), so Lua runs once per destination and interval, never per
 * message.  A new policy is a new struct policy: its caches start empty.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "conf.h"
#include "egress.h"
#include "log.h"
#include "policy_int.h"
#include "util.h"

#define LOAD_ILIMIT	100000000ULL	/* instructions for the main chunk */
#define CALL_ILIMIT	10000000ULL	/* and for one handler call */
#define HOOK_EVERY	1000
#define MEM_LIMIT	((size_t)512 << 20)
#define CACHE_MAX	10000		/* answers kept per event */
#define ERROR_TTL	60		/* s a handler's error is kept */
#define MAIN_CHUNK	"the main chunk"
#define EGRESS_SOURCE	"unspecified"	/* KumoMTA's default source */
#define NIL_KEY		"\x1e"		/* a nil argument, in cache keys */

static const char *event_names[EV_MAX] = {
	[EV_EGRESS] = "get_egress_path_config",
	[EV_QUEUE] = "get_queue_config",
};

static int	 policy_quiet;	/* load-time warnings at debug level */

static int
pcache_cmp(struct pcache *a, struct pcache *b)
{
	return strcmp(a->key, b->key);
}
RB_GENERATE(pcache_tree, pcache, entry, pcache_cmp);

struct policy *
policy_of(lua_State *L)
{
	return *(struct policy **)lua_getextraspace(L);
}

void
policy_quiet_warnings(void)
{
	policy_quiet = 1;
}

/* A load-time warning: fmt has one %s, a, quoted. */
void
policy_warn(const char *fmt, const char *a)
{
	char	 q[512];

	log_quote(a, q, sizeof(q));
	if (policy_quiet)
		log_debug(fmt, q);
	else
		log_warnx(fmt, q);
}

static int64_t
mono_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* lua_Alloc with a ceiling: a runaway table fails, not the process. */
static void *
policy_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct policy	*p = ud;
	size_t		 old = ptr != NULL ? osize : 0;
	void		*n;

	if (nsize == 0) {
		free(ptr);
		p->mem -= old;
		return NULL;
	}
	if (nsize > old && p->mem + (nsize - old) > p->memlimit)
		return NULL;
	if ((n = realloc(ptr, nsize)) != NULL)
		p->mem = p->mem - old + nsize;
	return n;
}

/*
 * Every HOOK_EVERY instructions: past the limit, raise where the code
 * is, and on every instruction after that, so a pcall in the handler
 * cannot swallow it for long.
 */
static void
policy_hook(lua_State *L, lua_Debug *ar)
{
	struct policy	*p = policy_of(L);

	p->icount += HOOK_EVERY;
	if (p->icount <= p->ilimit)
		return;
	lua_sethook(L, policy_hook, LUA_MASKCOUNT, 1);
	luaL_where(L, 0);
	lua_pushfstring(L, "instruction limit exceeded in %s",
	    p->running != NULL ? p->running : "the policy");
	lua_concat(L, 2);
	lua_error(L);
}

static void
limit_reset(struct policy *p, const char *running, uint64_t limit)
{
	p->running = running;
	p->icount = 0;
	p->ilimit = limit;
	lua_sethook(p->L, policy_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

/* The error at the top of the stack as text. */
static void
error_text(lua_State *L, char *err, size_t errlen)
{
	const char	*s = lua_tostring(L, -1);

	if (s != NULL)
		strlcpy(err, s, errlen);
	else
		snprintf(err, errlen, "(error object is a %s value)",
		    luaL_typename(L, -1));
}

/* Arguments joined by spaces, as KumoMTA's log functions print them. */
static const char *
args_text(lua_State *L, int first, char *buf, size_t len)
{
	luaL_Buffer	 b;
	int		 i, n = lua_gettop(L);
	const char	*s;

	luaL_buffinit(L, &b);
	luaL_where(L, 1);
	luaL_addvalue(&b);
	for (i = first; i <= n; i++) {
		if (i > first)
			luaL_addchar(&b, ' ');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	s = lua_tostring(L, -1);
	log_quote(s, buf, len);
	lua_pop(L, 1);
	return buf;
}

/*
 * kumo.log_error, log_warn and log_info (and print, as log_info): the
 * level is the closure's upvalue.
 */
static int
l_log(lua_State *L)
{
	char	 buf[2048];

	switch (lua_tointeger(L, lua_upvalueindex(1))) {
	case 0:
		log_warnx("policy error: %s", args_text(L, 1, buf, sizeof(buf)));
		break;
	case 1:
		log_warnx("policy: %s", args_text(L, 1, buf, sizeof(buf)));
		break;
	default:
		log_info("policy: %s", args_text(L, 1, buf, sizeof(buf)));
	}
	return 0;
}

static void
push_log(lua_State *L, int level)
{
	lua_pushinteger(L, level);
	lua_pushcclosure(L, l_log, 1);
}

/*
 * kumo.on(event, fn).  petrel's two events take one handler each, as
 * in KumoMTA; any other event (init, smtp_server_message_received...)
 * is accepted with a warning and its handler never runs.
 */
static int
l_on(lua_State *L)
{
	struct policy	*p = policy_of(L);
	const char	*name = luaL_checkstring(L, 1);
	lua_Debug	 ar;
	int		 ev;

	luaL_checktype(L, 2, LUA_TFUNCTION);
	if (p->running != NULL && strcmp(p->running, MAIN_CHUNK) != 0)
		return luaL_error(L, "kumo.on('%s', ...) called from within "
		    "the %s handler: register handlers when the policy "
		    "loads", name, p->running);
	for (ev = 0; ev < EV_MAX; ev++)
		if (strcmp(name, event_names[ev]) == 0)
			break;
	if (ev == EV_MAX) {
		policy_warn("policy: kumo.on(%s): petrel has no such event; "
		    "the handler is never called", name);
		return 0;
	}
	if (p->handler[ev] != LUA_NOREF) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, p->handler[ev]);
		lua_getinfo(L, ">S", &ar);
		return luaL_error(L, "%s event already has a handler defined "
		    "at %s:%d", name, ar.short_src, ar.linedefined);
	}
	if (ev == EV_EGRESS) {
		lua_pushvalue(L, 2);
		lua_getinfo(L, ">u", &ar);
		p->egress_nparams = ar.nparams;
	}
	lua_pushvalue(L, 2);
	p->handler[ev] = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* load() with text chunks only: no binary chunk gets in. */
static int
l_load(lua_State *L)
{
	int	 n = lua_gettop(L);

	if (n < 3)
		lua_settop(L, 3);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n < 3 ? 3 : n, LUA_MULTRET);
	return lua_gettop(L);
}

/*
 * require(name): package.loaded, then package.preload, then a text
 * file along package.path ("?" is the name with dots as slashes).
 */
static int
l_require(lua_State *L)
{
	const char	*name = luaL_checkstring(L, 1);
	const char	*path, *e;
	luaL_Buffer	 b;
	char		 file[1024], *mod;
	size_t		 i;

	lua_settop(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);	/* 2 */
	if (lua_getfield(L, 2, name) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	lua_getglobal(L, "package");					/* 3 */
	if (lua_type(L, 3) == LUA_TTABLE &&
	    lua_getfield(L, 3, "preload") == LUA_TTABLE &&
	    lua_getfield(L, -1, name) == LUA_TFUNCTION) {
		lua_pushvalue(L, 1);
		lua_pushliteral(L, ":preload:");
		lua_call(L, 2, 1);
		goto loaded;
	}
	lua_settop(L, 3);
	mod = xstrdup(name);
	for (i = 0; mod[i] != '\0'; i++)
		if (mod[i] == '.')
			mod[i] = '/';
	path = "";
	if (lua_type(L, 3) == LUA_TTABLE &&
	    lua_getfield(L, 3, "path") == LUA_TSTRING)
		path = lua_tostring(L, -1);
	luaL_buffinit(L, &b);
	for (; *path != '\0'; path = *e ? e + 1 : e) {
		e = path + strcspn(path, ";");
		snprintf(file, sizeof(file), "%.*s", (int)(e - path), path);
		luaL_gsub(L, file, "?", mod);
		strlcpy(file, lua_tostring(L, -1), sizeof(file));
		lua_pop(L, 1);
		if (access(file, R_OK) == 0)
			break;
		luaL_addstring(&b, "\n\tno file '");
		luaL_addstring(&b, file);
		luaL_addstring(&b, "'");
	}
	free(mod);
	if (*path == '\0') {
		luaL_pushresult(&b);
		return luaL_error(L, "module '%s' not found (petrel provides "
		    "'kumo'; other modules are Lua files):%s", name,
		    lua_tostring(L, -1));
	}
	luaL_pushresult(&b);
	lua_pop(L, 1);
	if (luaL_loadfilex(L, file, "t") != LUA_OK)
		return lua_error(L);
	lua_pushvalue(L, 1);
	lua_pushstring(L, file);
	lua_call(L, 2, 1);
loaded:
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, 2, name);
	return 1;
}

/* The globals a policy sees. */
static void
policy_sandbox(struct policy *p)
{
	lua_State	*L = p->L;
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base },
		{ LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table },
		{ LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 },
		{ NULL, NULL }
	};
	static const luaL_Reg kumo_fns[] = {
		{ "on", l_on },
		{ NULL, NULL }
	};
	static const char *log_fns[] = { "log_error", "log_warn", "log_info" };
	const luaL_Reg	*l;
	char		*path;
	int		 i;

	for (l = libs; l->name != NULL; l++) {
		luaL_requiref(L, l->name, l->func, 1);
		lua_pop(L, 1);
	}
	lua_pushnil(L);
	lua_setglobal(L, "dofile");
	lua_pushnil(L);
	lua_setglobal(L, "loadfile");
	lua_getglobal(L, "load");
	lua_pushcclosure(L, l_load, 1);
	lua_setglobal(L, "load");
	push_log(L, 2);
	lua_setglobal(L, "print");
	lua_pushcfunction(L, l_require);
	lua_setglobal(L, "require");

	lua_newtable(L);			/* package */
	lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_setfield(L, -2, "loaded");
	lua_newtable(L);
	lua_setfield(L, -2, "preload");
	if (asprintf(&path, "%s/?.lua;%s/?/init.lua", p->dir, p->dir) == -1)
		fatal("asprintf");
	lua_pushstring(L, path);
	free(path);
	lua_setfield(L, -2, "path");
	policy_shaping_register(L, -1);
	lua_setglobal(L, "package");

	luaL_newlib(L, kumo_fns);		/* kumo */
	for (i = 0; i < 3; i++) {
		push_log(L, i);
		lua_setfield(L, -2, log_fns[i]);
	}
	policy_egress_register(L, -1);
	policy_json_register(L, -1);
	policy_toml_register(L, -1);
	lua_pushvalue(L, -1);
	lua_setglobal(L, "kumo");
	luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
	lua_insert(L, -2);
	lua_setfield(L, -2, "kumo");
	lua_pop(L, 1);
}

struct policy *
policy_load(const char *file, const struct petrel_conf *conf, char *err,
    size_t errlen)
{
	struct policy	*p;
	char		*slash;
	int		 ev;

	p = xcalloc(1, sizeof(*p));
	p->conf = conf;
	for (ev = 0; ev < EV_MAX; ev++) {
		p->handler[ev] = LUA_NOREF;
		RB_INIT(&p->cache[ev]);
	}
	if (file == NULL)
		return p;
	p->file = xstrdup(file);
	p->dir = xstrdup(file);
	if ((slash = strrchr(p->dir, '/')) == NULL)
		strlcpy(p->dir, ".", strlen(p->dir) + 1);
	else
		*(slash == p->dir ? slash + 1 : slash) = '\0';
	p->memlimit = MEM_LIMIT;
	if ((p->L = lua_newstate(policy_alloc, p)) == NULL) {
		snprintf(err, errlen, "%s: cannot create a Lua state", file);
		policy_free(p);
		return NULL;
	}
	*(struct policy **)lua_getextraspace(p->L) = p;
	policy_sandbox(p);
	limit_reset(p, MAIN_CHUNK, LOAD_ILIMIT);
	if (luaL_loadfilex(p->L, file, "t") != LUA_OK ||
	    lua_pcall(p->L, 0, 0, 0) != LUA_OK) {
		error_text(p->L, err, errlen);
		policy_free(p);
		return NULL;
	}
	limit_reset(p, NULL, CALL_ILIMIT);
	return p;
}

struct policy *
policy_open(const struct petrel_conf *conf, char *err, size_t errlen)
{
	const char	*file = conf->policy;

	if (file == NULL || *file == '\0')
		return policy_load(NULL, conf, err, errlen);
	if (access(file, F_OK) == -1) {
		if (errno == ENOENT && !conf->policy_given)
			return policy_load(NULL, conf, err, errlen);
		snprintf(err, errlen, "%s: [global] policy = %s: %s",
		    conf->file, file, strerror(errno));
		return NULL;
	}
	return policy_load(file, conf, err, errlen);
}

const char *
policy_file(const struct policy *p)
{
	return p->file;
}

static void
cache_drop(struct policy *p, int ev, struct pcache *e)
{
	RB_REMOVE(pcache_tree, &p->cache[ev], e);
	p->ncache[ev]--;
	egress_clear(&e->eg);
	free(e->error);
	free(e->key);
	free(e);
}

void
policy_free(struct policy *p)
{
	struct pcache	*e, *next;
	int		 ev;

	if (p == NULL)
		return;
	for (ev = 0; ev < EV_MAX; ev++)
		RB_FOREACH_SAFE(e, pcache_tree, &p->cache[ev], next)
			cache_drop(p, ev, e);
	if (p->L != NULL)
		lua_close(p->L);
	free(p->file);
	free(p->dir);
	free(p);
}

static struct pcache *
cache_find(struct policy *p, int ev, const char *key, int64_t now)
{
	struct pcache	 k, *e;

	k.key = (char *)key;
	if ((e = RB_FIND(pcache_tree, &p->cache[ev], &k)) != NULL &&
	    e->expires > now)
		return e;
	return NULL;
}

/* A fresh entry for key (an old one is emptied); the cache stays bounded. */
static struct pcache *
cache_put(struct policy *p, int ev, const char *key, int64_t now)
{
	struct pcache	 k, *e, *next;

	k.key = (char *)key;
	if ((e = RB_FIND(pcache_tree, &p->cache[ev], &k)) != NULL) {
		egress_clear(&e->eg);
		free(e->error);
		e->error = NULL;
		return e;
	}
	if (p->ncache[ev] >= CACHE_MAX) {
		RB_FOREACH_SAFE(e, pcache_tree, &p->cache[ev], next)
			if (e->expires <= now)
				cache_drop(p, ev, e);
		if (p->ncache[ev] >= CACHE_MAX)
			RB_FOREACH_SAFE(e, pcache_tree, &p->cache[ev], next)
				cache_drop(p, ev, e);
	}
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	RB_INSERT(pcache_tree, &p->cache[ev], e);
	p->ncache[ev]++;
	return e;
}

/*
 * Call the handler of ev with nargs string arguments (NULL: nil); its
 * one result is left on the stack.  -1 with the error in err.
 */
static int
policy_call(struct policy *p, int ev, const char **args, int nargs,
    char *err, size_t errlen)
{
	lua_State	*L = p->L;
	int		 i, rc;

	lua_rawgeti(L, LUA_REGISTRYINDEX, p->handler[ev]);
	for (i = 0; i < nargs; i++) {
		if (args[i] != NULL)
			lua_pushstring(L, args[i]);
		else
			lua_pushnil(L);
	}
	limit_reset(p, event_names[ev], CALL_ILIMIT);
	rc = lua_pcall(L, nargs, 1, 0);
	limit_reset(p, NULL, CALL_ILIMIT);
	if (rc != LUA_OK) {
		error_text(L, err, errlen);
		lua_pop(L, 1);
		return -1;
	}
	return 0;
}

/* "file:line: get_egress_path_config returned nil, not ..." */
static void
bad_result(struct policy *p, int ev, const char *want, char *err,
    size_t errlen)
{
	lua_State	*L = p->L;
	lua_Debug	 ar;
	const char	*type = luaL_typename(L, -1);

	lua_rawgeti(L, LUA_REGISTRYINDEX, p->handler[ev]);
	lua_getinfo(L, ">S", &ar);
	snprintf(err, errlen, "%s:%d: %s returned %s, not %s", ar.short_src,
	    ar.linedefined, event_names[ev], type, want);
}

static void
log_failure(struct policy *p, int ev, const char *what, const char *err)
{
	char	 q1[512], q2[1024];

	if (!p->probing)
		log_warnx("policy: %s(%s) failed: %s", event_names[ev],
		    log_quote(what, q1, sizeof(q1)),
		    log_quote(err, q2, sizeof(q2)));
}

int
policy_egress(struct policy *p, const char *routing_domain,
    const char *site_name, struct egress *out, char *err, size_t errlen)
{
	struct pcache	*e;
	const char	*args[3];
	char		 key[2048], what[1400];
	int64_t		 now;
	int		 nargs;

	if (p->handler[EV_EGRESS] == LUA_NOREF) {
		egress_defaults(out, p->conf);
		return 0;
	}
	if ((size_t)snprintf(key, sizeof(key), "%s\x1f%s", routing_domain,
	    site_name) >= sizeof(key)) {
		snprintf(err, errlen, "routing domain or site name too long");
		return -1;
	}
	now = mono_now();
	if ((e = cache_find(p, EV_EGRESS, key, now)) == NULL) {
		e = cache_put(p, EV_EGRESS, key, now);
		nargs = 0;
		args[nargs++] = routing_domain;
		if (p->egress_nparams != 2)
			args[nargs++] = EGRESS_SOURCE;
		args[nargs++] = site_name;
		if (policy_call(p, EV_EGRESS, args, nargs, err, errlen) == 0) {
			if (policy_egress_result(p->L, -1, &e->eg) == -1)
				bad_result(p, EV_EGRESS,
				    "kumo.make_egress_path{...}", err, errlen);
			lua_pop(p->L, 1);
		}
		if (e->eg.refresh_interval > 0)
			e->expires = now + e->eg.refresh_interval;
		else {
			e->error = xstrdup(err);
			e->expires = now + ERROR_TTL;
			snprintf(what, sizeof(what), "%s, %s", routing_domain,
			    site_name);
			log_failure(p, EV_EGRESS, what, err);
		}
	}
	if (e->error != NULL) {
		strlcpy(err, e->error, errlen);
		return -1;
	}
	egress_copy(out, &e->eg);
	return 0;
}

int
policy_queue(struct policy *p, const char *domain, const char *tenant,
    const char *campaign, const char *routing_domain,
    struct queue_config *out, char *err, size_t errlen)
{
	const struct petrel_conf *c = p->conf;
	struct pcache	*e;
	const char	*args[4] = { domain, tenant, campaign, routing_domain };
	char		 key[1400];
	int64_t		 now;

	if (p->handler[EV_QUEUE] == LUA_NOREF) {
		memset(out, 0, sizeof(*out));
		strlcpy(out->routing_domain, routing_domain ? routing_domain :
		    "", sizeof(out->routing_domain));
		out->retry_interval = c->queued_retry_interval;
		out->max_retry_interval = c->queued_max_retry_interval;
		out->max_age = c->queued_max_age;
		out->refresh_interval = 60;
		return 0;
	}
	if ((size_t)snprintf(key, sizeof(key), "%s\x1f%s\x1f%s\x1f%s", domain,
	    tenant ? tenant : NIL_KEY, campaign ? campaign : NIL_KEY,
	    routing_domain ? routing_domain : NIL_KEY) >= sizeof(key)) {
		snprintf(err, errlen, "domain, tenant or campaign too long");
		return -1;
	}
	now = mono_now();
	if ((e = cache_find(p, EV_QUEUE, key, now)) == NULL) {
		e = cache_put(p, EV_QUEUE, key, now);
		memset(&e->qc, 0, sizeof(e->qc));
		if (policy_call(p, EV_QUEUE, args, 4, err, errlen) == 0) {
			if (policy_queue_result(p->L, -1, &e->qc) == -1)
				bad_result(p, EV_QUEUE,
				    "kumo.make_queue_config{...}", err, errlen);
			lua_pop(p->L, 1);
		}
		if (e->qc.refresh_interval > 0) {
			if (e->qc.routing_domain[0] == '\0')
				strlcpy(e->qc.routing_domain, routing_domain ?
				    routing_domain : "",
				    sizeof(e->qc.routing_domain));
			e->expires = now + e->qc.refresh_interval;
		} else {
			e->error = xstrdup(err);
			e->expires = now + ERROR_TTL;
			log_failure(p, EV_QUEUE, domain, err);
		}
	}
	if (e->error != NULL) {
		strlcpy(err, e->error, errlen);
		return -1;
	}
	*out = e->qc;
	return 0;
}

int
policy_probe(struct policy *p, char *err, size_t errlen)
{
	struct egress		 eg;
	struct queue_config	 qc;
	char			 e[1024];
	int			 rc = -1;

	p->probing = 1;
	if (p->handler[EV_QUEUE] != LUA_NOREF &&
	    policy_queue(p, "example.com", NULL, NULL, "example.com", &qc, e,
	    sizeof(e)) == -1)
		snprintf(err, errlen, "%s (probing get_queue_config("
		    "'example.com', nil, nil, 'example.com'))", e);
	else if (p->handler[EV_EGRESS] != LUA_NOREF &&
	    policy_egress(p, "example.com", "example.com", &eg, e,
	    sizeof(e)) == -1)
		snprintf(err, errlen, "%s (probing get_egress_path_config for "
		    "routing domain example.com, site example.com)", e);
	else {
		if (p->handler[EV_EGRESS] != LUA_NOREF)
			egress_clear(&eg);
		rc = 0;
	}
	p->probing = 0;
	return rc;
}
