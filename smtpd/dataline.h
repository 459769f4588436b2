/*
 * dataline.h - the lines of an SMTP DATA text, one at a time: where
 * the text ends, what is stored for each line, and what is wrong with
 * it.  Pure: no event loop, no session.
 */
#ifndef PETREL_DATALINE_H
#define PETREL_DATALINE_H

#include <stddef.h>

#include "smtp.h"

#define DATALINE_OUT_MAX	(SMTP_LINE_MAX + 2)	/* out buffer size */

enum dataline_act {
	DATALINE_END,		/* <CRLF>.<CRLF>: the text is complete */
	DATALINE_STORE,		/* store out[0 .. *outlen) */
	DATALINE_SKIP,		/* nothing to store */
};

struct dataline {
	int	 crlf;		/* the previous line ended in CRLF */
	int	 inlong;	/* inside an over-long line */
	int	 lastcr;	/* its last byte so far was CR */
	int	 inheader;	/* still in the header section */
	int	 received;	/* Received: header lines seen */
	int	 longline;	/* a line was longer than SMTP_LINE_MAX */
	int	 barecr;	/* a CR not followed by LF */
};

void	 dataline_init(struct dataline *);
enum dataline_act dataline_take(struct dataline *, const char *raw,
	    size_t len, char *out, size_t *outlen);

#endif
