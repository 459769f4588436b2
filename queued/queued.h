/*
 * queued.h - the queue manager: owns the spool, commits messages,
 * schedules deliveries and retries, bounces and expires.
 */
#ifndef PETREL_QUEUED_H
#define PETREL_QUEUED_H

#include <bsd/sys/queue.h>
#include <bsd/sys/tree.h>
#include <stdint.h>
#include <pthread.h>

#include "chan.h"
#include "envelope.h"

#define QUEUED_MAX_WORKERS	256
#define QUEUED_MAX_DELIVERD	64

/* A message being received: its data file is open in an smtpd. */
struct inmsg {
	RB_ENTRY(inmsg)	 entry;
	char		 id[MSGID_LEN + 1];
	int		 smtpd;		/* the smtpd process receiving it */
	uint64_t	 gen;		/* of its channel */
	int		 committing;
};

/* A failed recipient waiting for its DSN. */
struct qbounce {
	int		 rcpt;		/* index in env.rcpts */
	char		 status[16];
	char		*diagnostic;
	char		*remote_mta;
};

/* A committed message in the queue. */
struct qmsg {
	RB_ENTRY(qmsg)	 entry;
	RB_ENTRY(qmsg)	 sentry;	/* in q->schedule while waiting */
	int		 scheduled;
	TAILQ_ENTRY(qmsg) wentry;	/* due, on a deliverd's wait list */
	int		 waiting;	/* that deliverd + 1, or 0 */
	struct envelope	 env;
	int		 inflight;	/* delivery tasks out */
	int		 tempfail;	/* some recipient failed temporarily */
	int		 nottried;	/* some recipient was not tried */
	int		 tried;		/* and some was, this round */
	char		*last_error;	/* the latest temporary failure */
	struct qbounce	*bounces;
	int		 nbounce;
	int		 operator_bounce;	/* petrelctl bounce: the DSN says so */
	int		 dirty;		/* a recipient finished since the
					   envelope was last written */
	int		 persisting;	/* rewrites of it not yet done */
};

/*
 * A committed message waiting on disk, not in memory: all queue.c keeps
 * of it beyond the active limit.  The id is the 16 hex digits as a
 * number, so an entry is 16 bytes.
 */
struct qdisk {
	uint64_t	 id;
	int64_t		 next;		/* next attempt, at least */
};

/* One delivery: the recipients of one message for one routing domain. */
struct task {
	RB_ENTRY(task)	 entry;
	uint32_t	 id;
	struct qmsg	*msg;
	int		 deliverd;	/* the deliverd process it went to */
	uint64_t	 gen;
	int		 fd;		/* the text, until sent */
	char		*domain;
	int		 nrcpt;
	int		*rcpts;		/* indices in msg->env.rcpts */
	int		 final;		/* redirected once: no more */
};

/* One piece of work for the commit thread. */
enum job_kind {
	JOB_RECEIVED,	/* envelope + rename data into the queue */
	JOB_UPDATE,	/* rewrite the envelope of a queued message */
	JOB_REMOVE,	/* delete a finished message */
	JOB_STAMP,	/* record a deferral in the message file's mtime */
};

struct commit_job {
	TAILQ_ENTRY(commit_job) entry;
	enum job_kind	 kind;
	char		 id[MSGID_LEN + 1];
	char		*envtext;
	size_t		 envlen;
	int		 ok;
	char		 reason[128];
	void		(*done)(struct commit_job *);	/* in the event loop */
	/* JOB_UPDATE and JOB_STAMP: the retry state */
	int64_t		 next;
	uint32_t	 attempts;
	/* JOB_RECEIVED from an smtpd session */
	int		 smtpd;
	uint64_t	 gen;
	uint32_t	 sessid;
	struct envelope	 env;
	/* JOB_RECEIVED of a DSN: the message it reports on */
	char		 parent[MSGID_LEN + 1];
};
TAILQ_HEAD(commit_list, commit_job);

RB_HEAD(inmsg_tree, inmsg);
RB_HEAD(qmsg_tree, qmsg);
RB_HEAD(sched_tree, qmsg);
RB_HEAD(task_tree, task);
RB_PROTOTYPE(inmsg_tree, inmsg, entry, inmsg_cmp);
RB_PROTOTYPE(qmsg_tree, qmsg, entry, qmsg_cmp);
RB_PROTOTYPE(sched_tree, qmsg, sentry, sched_cmp);
RB_PROTOTYPE(task_tree, task, entry, task_cmp);

struct queued {
	struct petrel_conf *conf;
	struct event_base *base;
	struct chan	*master;
	struct chan	*smtpd[QUEUED_MAX_WORKERS];
	uint64_t	 smtpd_gens[QUEUED_MAX_WORKERS];
	struct chan	*deliverd[QUEUED_MAX_DELIVERD];
	uint64_t	 deliverd_gens[QUEUED_MAX_DELIVERD];
	int		 deliverd_load[QUEUED_MAX_DELIVERD];
	TAILQ_HEAD(qmsg_wait, qmsg) waiting[QUEUED_MAX_DELIVERD];
	int		 deliverd_max;	/* tasks in flight per deliverd */
	int		 ndeliverd;
	uint64_t	 nextgen;
	struct inmsg_tree incoming;
	struct qmsg_tree messages;
	struct sched_tree schedule;
	struct task_tree tasks;
	uint32_t	 nexttask;
	struct event	*sched_ev;
	struct policy	*policy;	/* get_queue_config, loaded before chroot */
	int		 shutdown;
	int		 paused;	/* no deliveries: a reload is coming */
	int		 recovering;	/* the spool scan is still running */
};

extern struct queued *q;

/* spool.c */
void	 spool_init(const char *dir, int chrooted);
void	 spool_recover(void);
int	 spool_load(const char *id, struct envelope *);
int	 spool_exists(const char *id);
int	 spool_stamp(const char *id, int64_t next, uint32_t attempts);
int	 spool_open_message(char id[MSGID_LEN + 1]);
int	 spool_open_data(const char *id);
void	 spool_abort_message(const char *id);
int	 spool_commit_files(const char *id, const char *env, size_t len);
int	 spool_update_envelope(const char *id, const char *env, size_t len,
	    int64_t next, uint32_t attempts);
void	 spool_remove_message(const char *id);
int	 spool_recycle_message(const char *id, char newid[MSGID_LEN + 1]);
void	 spool_undo_commit(const char *id);
int	 spool_sync(void);
void	 spool_sync_init(void);
int	 spool_sync_batch(const struct commit_list *);
void	 spool_path(char *buf, size_t len, const char *id, const char *ext);
int	 spool_write_state(const char *name, const char *buf, size_t len);

/* commit.c */
void	 commit_init(void);
void	 commit_submit(struct commit_job *);
int	 commit_take_file(char id[MSGID_LEN + 1]);
void	 commit_drop_pool(void);
int	 commit_busy(void);

/* queue.c */
size_t	 ctl_queue_size(void);
size_t	 queue_active_count(void);
size_t	 queue_disk_count(void);
struct qmsg *queue_insert(struct envelope *);
struct qmsg *queue_find(const char *id);
struct qmsg *queue_find_load(const char *id);
int	 queue_known(const char *id);
void	 queue_remove(struct qmsg *);
void	 queue_disk_add(const char *id, int64_t next);
void	 queue_disk_due_all(void);
size_t	 queue_disk_retry(const uint64_t *, size_t);
size_t	 queue_disk_ids(uint64_t **);
int64_t	 queue_disk_wake(int64_t now);
int	 queue_balance(int64_t now);

/* sched.c */
void	 sched_add(struct qmsg *, int64_t when);
void	 sched_unschedule(struct qmsg *);
void	 sched_kick(void);
int	 sched_result(int deliverd, uint32_t task, struct mreader *);
int	 sched_redirect(int deliverd, uint32_t task, struct mreader *);
void	 sched_deliverd_lost(int deliverd, uint64_t gen);
void	 sched_deliverd_back(int deliverd);
void	 sched_init(void);
void	 sched_persist(struct qmsg *);
void	 sched_stamp(struct qmsg *);
void	 sched_finish(struct qmsg *);
double	 sched_now(void);
struct queue_config;
int	 sched_queue(const char *rcpt, struct queue_config *, char *err,
	    size_t errlen);
int64_t	 sched_max_age(struct qmsg *);

/* owner.c */
int	 owner_deliverd_for(const char *domain);
void	 owner_learn(const char *domain, int deliverd);

/* bounce.c */
void	 bounce_add(struct qmsg *, int rcpt, const char *status,
	    const char *diagnostic, const char *remote_mta);
void	 bounce_expire(struct qmsg *, const char *last);
void	 bounce_send(struct qmsg *);

/* control.c: petrelctl's socket */
struct petrel_conf;
struct ctl_counters {
	uint64_t	 received, delivered, deferred, bounced, expired;
	int64_t		 since;		/* queued's start, unix time */
};
extern struct ctl_counters *ctl_counter;
void	 ctl_init(const struct petrel_conf *);
void	 ctl_start(void);
void	 ctl_shutdown(void);
void	 ctl_suspend_load(void);
int64_t	 ctl_suspended(const char *domain);
int64_t	 ctl_held(const char *rcpt, const char *routing_domain);
int	 ctl_deliverd_reply(int deliverd, uint32_t id, struct mreader *);
int	 ctl_master_reply(uint32_t id, struct mreader *);

#endif
