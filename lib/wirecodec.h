/*
 * wirecodec.h - each frame of wire.h that carries more than a field or
 * two is built by one function and read back by one, over the typed
 * codec (as OpenSMTPD's m_add_envelope/m_get_envelope), so its layout
 * lives in one place and its reader checks everything.
 *
 * A reader fills a struct whose strings point into the frame (valid
 * until the next read on the channel) and whose arrays are allocated;
 * wire_*_clear() frees them.  It returns -1 on anything malformed,
 * including bytes left over: a protocol error.
 */
#ifndef PETREL_WIRECODEC_H
#define PETREL_WIRECODEC_H

#include <stdint.h>

#include "imsg.h"

#define WIRE_MAX_RCPT	100000

/* IMSG_SMTPD_MSG_COMMIT */
struct wire_commit {
	const char	 *id, *helo, *client, *from;
	const char	 *body;		/* "7BIT" or "8BITMIME" */
	int		  smtputf8;
	uint64_t	  size;
	int64_t		  arrival;
	uint32_t	  nrcpt;
	const char	**rcpts;
};

/* IMSG_QUEUED_DELIVER */
struct wire_deliver {
	const char	 *id, *domain, *from;
	const char	 *body;
	int		  smtputf8;
	uint64_t	  size;
	uint32_t	  nrcpt;
	const char	**rcpts;
	int		  final;	/* redirected once: deliver here */
};

/* IMSG_DELIVERD_RESULT */
struct wire_result {
	const char	 *relay;
	const char	 *tls;		/* "TLSv1.3"; "" in clear text */
	const char	 *cipher;	/* "TLS_AES_256_GCM_SHA384" */
	const char	 *auth;		/* the AUTH user; "" without AUTH */
	uint32_t	  nrcpt;
	uint8_t		 *status;	/* RCPT_* */
	const char	**response;
};

/* IMSG_DELIVERD_KEY: the spec goes field by field, checked on arrival */
struct keysource;
struct wire_key_req {
	int		  want;		/* KEY_WANT_* */
	struct keysource *ks;		/* get: allocated; caller frees */
	struct keysource *ks2;		/* KEY_WANT_TLS: tls_private_key */
};

/* IMSG_KEYSD_KEY */
struct wire_key_reply {
	int		  status;	/* KEY_* */
	const char	 *fingerprint;
	const char	 *secret;	/* in the frame: wiped after dispatch */
	const char	 *error;
};

void	 wire_key_req_add(struct mbuf *, const struct wire_key_req *);
/*
 * -1: malformed (a protocol error).  A well-formed frame whose spec
 * the keysource parser refuses gives 0 with ks NULL and the parser's
 * text in err.
 */
int	 wire_key_req_get(struct mreader *, struct wire_key_req *,
	    char *err, size_t errlen);
/* m_wipe()s the frame when it carries a secret */
void	 wire_key_reply_add(struct mbuf *, const struct wire_key_reply *);
int	 wire_key_reply_get(struct mreader *, struct wire_key_reply *);

/* IMSG_WORKER_SIGN */
struct wire_sign_req {
	uint8_t		  id[32];	/* TLSKEY_ID_LEN */
	int		  op;		/* TLSKEY_* */
	uint32_t	  padding;
	const uint8_t	 *in;
	size_t		  inlen;
};

/* IMSG_KEYSD_SIGN */
struct wire_sign_reply {
	int		  status;	/* KEY_* */
	const uint8_t	 *sig;
	size_t		  siglen;
	const char	 *error;
};

void	 wire_sign_req_add(struct mbuf *, const struct wire_sign_req *);
int	 wire_sign_req_get(struct mreader *, struct wire_sign_req *);
void	 wire_sign_reply_add(struct mbuf *, const struct wire_sign_reply *);
int	 wire_sign_reply_get(struct mreader *, struct wire_sign_reply *);

/* IMSG_CTL_COMMAND */
struct wire_ctl {
	const char	 *command;
	uint32_t	  argc;		/* at most CTL_MAX_ARGS */
	const char	**argv;
};

void	 wire_ctl_add(struct mbuf *, const struct wire_ctl *);
int	 wire_ctl_get(struct mreader *, struct wire_ctl *);
void	 wire_ctl_clear(struct wire_ctl *);

void	 wire_commit_add(struct mbuf *, const struct wire_commit *);
int	 wire_commit_get(struct mreader *, struct wire_commit *);
void	 wire_commit_clear(struct wire_commit *);
void	 wire_deliver_add(struct mbuf *, const struct wire_deliver *);
int	 wire_deliver_get(struct mreader *, struct wire_deliver *);
void	 wire_deliver_clear(struct wire_deliver *);
void	 wire_result_add(struct mbuf *, const struct wire_result *);
int	 wire_result_get(struct mreader *, struct wire_result *);
void	 wire_result_clear(struct wire_result *);

#endif
