/*
 * policy_int.h - what the pieces of the policy engine share: policy.c
 * (the Lua state, the kumo module, handlers and caches),
 * policy_egress.c (make_egress_path and make_queue_config, their field
 * tables and checks), policy_json.c (kumo.json_*) and policy_shaping.c
 * (the shaping helper).
 */
#ifndef PETREL_POLICY_INT_H
#define PETREL_POLICY_INT_H

#include <bsd/sys/tree.h>
#include <stdint.h>

#include <lua.h>

#include "egress.h"
#include "policy.h"

enum policy_event {
	EV_EGRESS,		/* get_egress_path_config */
	EV_QUEUE,		/* get_queue_config */
	EV_MAX
};

/* One cached answer: a result, or the error the handler raised. */
struct pcache {
	RB_ENTRY(pcache) entry;
	char		*key;
	int64_t		 expires;	/* monotonic s */
	char		*error;		/* NULL: ok */
	struct egress	 eg;		/* EV_EGRESS */
	struct queue_config qc;		/* EV_QUEUE */
};
RB_HEAD(pcache_tree, pcache);
RB_PROTOTYPE(pcache_tree, pcache, entry, pcache_cmp);

struct policy {
	lua_State	*L;
	const struct petrel_conf *conf;
	char		*file;		/* NULL: no policy */
	char		*dir;		/* of file, for require */
	int		 handler[EV_MAX];	/* registry refs, or LUA_NOREF */
	int		 egress_nparams;	/* 2: (domain, site_name) */
	const char	*running;	/* the event being handled */
	int		 probing;	/* policy_probe(): it reports errors */
	uint64_t	 icount, ilimit;	/* instructions, this call */
	size_t		 mem, memlimit;	/* bytes the Lua state holds */
	struct pcache_tree cache[EV_MAX];
	int		 ncache[EV_MAX];
};

#define EGRESS_MT	"petrel.egress_path"
#define QUEUE_MT	"petrel.queue_config"

struct policy *policy_of(lua_State *);
/* A load-time warning (debug level in the children): fmt has one %s. */
void	 policy_warn(const char *fmt, const char *a);

/* policy_egress.c: kumo.make_egress_path and kumo.make_queue_config */
void	 policy_egress_register(lua_State *, int kumo);
int	 policy_egress_result(lua_State *, int idx, struct egress *);
int	 policy_queue_result(lua_State *, int idx, struct queue_config *);

/* policy_json.c: kumo.json_load, json_parse, json_encode(_pretty) */
void	 policy_json_register(lua_State *, int kumo);
int	 policy_json_load_lax(lua_State *);

/* policy_toml.c: kumo.toml_load, toml_parse */
void	 policy_toml_register(lua_State *, int kumo);

/* policy_shaping.c: package.preload['policy-extras.shaping'] */
void	 policy_shaping_register(lua_State *, int package);

#endif
