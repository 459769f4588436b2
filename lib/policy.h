/*
 * policy.h - the Lua policy (KumoMTA-compatible handlers), loaded
 * before a process chroots and asked through a cache:
 * get_egress_path_config per (routing domain, site) for deliverd,
 * get_queue_config per (domain, tenant, campaign, routing domain) for
 * queued.  Lua runs only when an answer is missing or older than its
 * refresh_interval, never once per message.  petrel-policy(5) is the
 * user's side of this.
 */
#ifndef PETREL_POLICY_H
#define PETREL_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct egress;
struct petrel_conf;
struct policy;

#define POLICY_DOMAIN_MAX	300	/* a routing domain, with ":PORT" */

/* What make_queue_config{} decides for one scheduled queue. */
struct queue_config {
	char		 routing_domain[POLICY_DOMAIN_MAX];
	int64_t		 retry_interval;	/* s */
	int64_t		 max_retry_interval;
	int64_t		 max_age;
	int		 refresh_interval;	/* s the answer is kept */
};

/*
 * The policy of a configuration: [global] policy, or none (every
 * answer the defaults) when the key is empty or the default file is
 * absent.  NULL with "file:line: message" in err on a syntax or
 * runtime error while loading, or when an explicitly named file is
 * missing.  The conf must outlive the policy (defaults come from it).
 */
struct policy *policy_open(const struct petrel_conf *, char *err,
	    size_t errlen);
/* One file (NULL: no policy). */
struct policy *policy_load(const char *file, const struct petrel_conf *,
	    char *err, size_t errlen);
void	 policy_free(struct policy *);
/* The file loaded, or NULL when there is no policy. */
const char *policy_file(const struct policy *);

/*
 * The egress path for a site reached through a routing domain: the
 * defaults, then the handler's fields.  0, or -1 with the Lua error
 * (file:line: ...) when the handler raises, runs past the instruction
 * limit or returns something that is not kumo.make_egress_path{}.
 * *out is owned by the caller (egress_clear()).
 */
int	 policy_egress(struct policy *, const char *routing_domain,
	    const char *site_name, struct egress *out, char *err,
	    size_t errlen);
/*
 * The queue config: petrel.conf's [queued] values and the given
 * routing domain, then the handler's fields.  tenant and campaign may
 * be NULL (Lua nil).  0, or -1 with the Lua error.
 */
int	 policy_queue(struct policy *, const char *domain, const char *tenant,
	    const char *campaign, const char *routing_domain,
	    struct queue_config *out, char *err, size_t errlen);
/*
 * petrelctl resolve: an egress path as a JSON object, every field of
 * make_egress_path by name; keysources as "<keysource ...>", never a
 * secret.  The caller owns the result (json_decref).
 */
struct json_t;
struct json_t *policy_egress_json(const struct egress *);

/*
 * petreld -n: every registered handler once, with the probe
 * destination example.com, so errors inside handlers show before
 * mail does.  0, or -1 with the error and the handler probed.
 */
int	 policy_probe(struct policy *, char *err, size_t errlen);

/* Warnings at load (unknown events) at debug level: for the children,
 * after petreld has warned once. */
void	 policy_quiet_warnings(void);

/* petrel-policy(5)'s field lists, in mdoc, from the tables the checks use. */
void	 policy_print_man(void);

#endif
