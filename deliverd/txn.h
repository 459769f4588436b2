/*
 * txn.h - the order of one SMTP transaction on the client side and what
 * each reply means for each recipient: [RSET] MAIL RCPT... DATA, then
 * the message text and the final dot, pipelined (RFC 2920) or one
 * command at a time.  No I/O here: the caller sends what txn_next()
 * names, feeds every reply to txn_reply(), and reads the outcomes from
 * the status and response arrays it lent to txn_begin().
 */
#ifndef PETREL_TXN_H
#define PETREL_TXN_H

#include <stdint.h>

enum txn_cmd {
	TXN_NONE,	/* nothing to send now */
	TXN_RSET,
	TXN_MAIL,
	TXN_RCPT,	/* for recipient *rcpt */
	TXN_DATA,
	TXN_TEXT,	/* the message text and the final dot */
	TXN_DOT,	/* a lone dot: nobody to send the text to */
};

enum txn_result {
	TXN_MORE,	/* go on: send what txn_next() names, read on */
	TXN_DONE,	/* over; every recipient has its outcome */
	TXN_RETRY,	/* RSET refused: nothing happened, start the task
			   afresh elsewhere */
	TXN_ERROR,	/* protocol error: txn.error says which; the
			   recipients without an outcome get a temporary
			   failure from the caller, the connection closes */
};

struct txn_step {
	uint8_t		 cmd;
	int		 rcpt;
};

struct txn {
	int		 nrcpt;
	uint8_t		*status;	/* lent: RCPT_* per recipient */
	char		**response;	/* lent: NULL until decided */
	uint8_t		*accepted;	/* 250 to this recipient's RCPT */
	int		 pipelined;
	struct txn_step	*steps;		/* every command, in order */
	int		 nsteps;
	int		 sent;		/* steps handed out by txn_next() */
	int		 answered;	/* steps whose reply came */
	int		 naccepted;
	int		 mail_failed;
	int		 writing;	/* the text is being written */
	int		 done;
	int		 need_rset;	/* the session is in a transaction */
	int		 closing;	/* 421: the server ends the session */
	const char	*error;		/* for TXN_ERROR */
};

int		 txn_begin(struct txn *, int nrcpt, uint8_t *status,
		    char **response, int pipelined, int rset);
enum txn_cmd	 txn_next(struct txn *, int *rcpt);
enum txn_result	 txn_reply(struct txn *, int code, const char *text);
void		 txn_written(struct txn *);
enum txn_cmd	 txn_waiting(const struct txn *);
void		 txn_end(struct txn *);

#endif
