/*
 * limit.h - the session counts every smtpd worker shares, for
 * max_sessions_per_client and max_sessions_total: what Postfix's
 * anvil counts, without a server to ask.  petreld creates the table
 * before it starts the workers and hands it to each on SMTPD_LIMIT_FD.
 */
#ifndef PETREL_SMTPD_LIMIT_H
#define PETREL_SMTPD_LIMIT_H

#include <sys/socket.h>
#include <stdint.h>

#include "proc.h"

/* the table, in an smtpd worker: past the configuration */
#define SMTPD_LIMIT_FD	(PROC_CONF_FD + 1)

enum limit_verdict {
	LIMIT_OK,
	LIMIT_CLIENT,	/* max_sessions_per_client */
	LIMIT_TOTAL,	/* max_sessions_total */
};

/* where a session is counted, for limit_release() */
struct limit_slot {
	uint16_t	 b[2];	/* its client's buckets */
	uint8_t		 counted;
	uint8_t		 client;	/* in the buckets (not exempt) */
};

int	 limit_table_create(int workers, int minfd);
void	 limit_attach(int fd, int index);
enum limit_verdict limit_admit(const struct sockaddr *, int exempt,
	    int max_client, int max_total, struct limit_slot *);
void	 limit_release(struct limit_slot *);
int	 limit_total(void);

#endif
