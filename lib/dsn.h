/*
 * dsn.h - delivery status notifications (RFC 3464): the bounce queued
 * sends to the envelope sender when recipients fail for good or expire.
 */
#ifndef PETREL_DSN_H
#define PETREL_DSN_H

#include <stdint.h>

struct dsn_rcpt {
	const char	*rcpt;		/* original recipient, bare address */
	const char	*status;	/* enhanced status code, "5.1.1" */
	const char	*diagnostic;	/* "550 5.1.1 <x>: no such user", or local text */
	const char	*remote_mta;	/* host name of the MTA that said so, or NULL */
};

struct dsn_info {
	const char	*reporting_mta;	/* our host name */
	const char	*msgid;		/* queue id of the original */
	const char	*from;		/* the original envelope sender: the DSN goes there */
	int64_t		 arrival;	/* when the original arrived (unix time) */
	int64_t		 now;		/* Date: of the DSN */
	const char	*reason;	/* one line for people, e.g. "expired after 7 days in the queue" */
	const struct dsn_rcpt *rcpts;
	int		 nrcpt;
};

int	dsn_write(int outfd, int origfd, const struct dsn_info *);

#endif
