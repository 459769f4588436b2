/*
 * dataline.c - the text of an SMTP DATA command, line by line (RFC
 * 5321 4.1.1.4, 4.5.2), as a small state machine the session feeds.
 *
 * The caller hands over the raw bytes of one line up to and including
 * its LF or, for a line already longer than SMTP_LINE_MAX, a piece of
 * it without the LF.  Only "." between two real CRLFs ends the text.
 * Each stored line ends in CRLF; one that ended in a bare LF gets its
 * CR.  A lone "." that is not the terminator (after a line that ended
 * in a bare LF, or itself ended by one) is stored stuffed as "..", so
 * neither petrel nor a next hop that splits lines another way can take
 * it for the end of the text (SMTP smuggling).  An over-long line is
 * dropped but keeps its real ending, for the same reason.  Received:
 * lines of the header section are counted for the hop limit.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "dataline.h"

void
dataline_init(struct dataline *dl)
{
	memset(dl, 0, sizeof(*dl));
	dl->crlf = 1;		/* the 354 reply ended a line */
	dl->inheader = 1;
}

/*
 * Take one raw line (or a piece of an over-long one).  For
 * DATALINE_STORE, out (DATALINE_OUT_MAX bytes) holds *outlen bytes of
 * text in wire form to store.
 */
enum dataline_act
dataline_take(struct dataline *dl, const char *raw, size_t len, char *out,
    size_t *outlen)
{
	size_t	 n;
	int	 crlf;

	*outlen = 0;
	if (len == 0)
		return DATALINE_SKIP;
	if (raw[len - 1] != '\n') {
		dl->inlong = dl->longline = 1;
		dl->lastcr = raw[len - 1] == '\r';
		return DATALINE_SKIP;
	}
	n = len - 1;
	if (n > 0)
		crlf = raw[n - 1] == '\r';
	else
		crlf = dl->inlong && dl->lastcr;  /* the CR came in a piece */
	if (dl->inlong || len > SMTP_LINE_MAX) {
		dl->inlong = dl->lastcr = 0;
		dl->longline = 1;
		dl->crlf = crlf;
		return DATALINE_SKIP;
	}
	if (crlf)
		n--;
	if (n == 1 && raw[0] == '.') {
		if (crlf && dl->crlf)
			return DATALINE_END;
		dl->crlf = crlf;
		memcpy(out, "..\r\n", 4);
		*outlen = 4;
		return DATALINE_STORE;
	}
	if (memchr(raw, '\r', n) != NULL)
		dl->barecr = 1;
	if (dl->inheader) {
		if (n == 0)
			dl->inheader = 0;
		else if (n >= 9 && strncasecmp(raw, "Received:", 9) == 0)
			dl->received++;
	}
	dl->crlf = crlf;
	memcpy(out, raw, n);
	out[n] = '\r';
	out[n + 1] = '\n';
	*outlen = n + 2;
	return DATALINE_STORE;
}
