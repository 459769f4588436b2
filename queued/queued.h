/*
 * queued.h - the queue manager: owns the spool, commits messages,
 * keeps the in-memory queue.
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

/* A message being received: its data file is open in an smtpd. */
struct inmsg {
	RB_ENTRY(inmsg)	 entry;
	char		 id[MSGID_LEN + 1];
	int		 worker;
	uint64_t	 gen;		/* of that worker's channel */
	int		 committing;
};

/* A committed message in the queue. */
struct qmsg {
	RB_ENTRY(qmsg)	 entry;
	TAILQ_ENTRY(qmsg) dentry;
	struct envelope	 env;
	struct qdomain	*domain;
};

/*
 * The scheduled queue of one routing domain (the first recipient's
 * domain until policy decides otherwise): the seam where delivery
 * scheduling attaches.
 */
struct qdomain {
	RB_ENTRY(qdomain) entry;
	char		*name;
	TAILQ_HEAD(, qmsg) msgs;
	size_t		 count;
};

/* One message in a group commit. */
struct commit_job {
	TAILQ_ENTRY(commit_job) entry;
	char		 id[MSGID_LEN + 1];
	int		 worker;
	uint64_t	 gen;
	uint32_t	 sessid;
	char		*envtext;
	size_t		 envlen;
	struct envelope	 env;
	int		 ok;
	char		 reason[128];
};
TAILQ_HEAD(commit_list, commit_job);

RB_HEAD(inmsg_tree, inmsg);
RB_HEAD(qmsg_tree, qmsg);
RB_HEAD(qdomain_tree, qdomain);
RB_PROTOTYPE(inmsg_tree, inmsg, entry, inmsg_cmp);
RB_PROTOTYPE(qmsg_tree, qmsg, entry, qmsg_cmp);
RB_PROTOTYPE(qdomain_tree, qdomain, entry, qdomain_cmp);

struct queued {
	struct petrel_conf *conf;
	struct event_base *base;
	struct chan	*master;
	struct chan	*workers[QUEUED_MAX_WORKERS];
	uint64_t	 gens[QUEUED_MAX_WORKERS];
	uint64_t	 nextgen;
	struct inmsg_tree incoming;
	struct qmsg_tree messages;
	struct qdomain_tree domains;
	size_t		 nmessages;
	int		 shutdown;
};

extern struct queued *q;

/* spool.c */
void	 spool_init(const char *dir, int chrooted);
void	 spool_recover(void);
int	 spool_open_message(char id[MSGID_LEN + 1]);
void	 spool_abort_message(const char *id);
int	 spool_commit_files(const char *id, const char *env, size_t len);
void	 spool_undo_commit(const char *id);
int	 spool_sync(void);
int	 spool_is_committed(const char *id);
void	 spool_path(char *buf, size_t len, const char *id, const char *ext);

/* commit.c */
void	 commit_init(void);
void	 commit_submit(struct commit_job *);
int	 commit_busy(void);
void	 commit_drain(void);

/* queue.c */
void	 queue_insert(struct envelope *);
struct qmsg *queue_find(const char *id);

#endif
