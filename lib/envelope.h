/*
 * envelope.h - the envelope of a spooled message and its on-disk text
 * form.  The file is line oriented ("key value"), begins with a
 * version line and ends with "end", so a torn or truncated write is
 * recognised as corrupt rather than read as a shorter envelope.
 * A recipient still to be delivered is a "rcpt" line, one that is
 * finished (delivered or bounced) a "done" line.
 */
#ifndef PETREL_ENVELOPE_H
#define PETREL_ENVELOPE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_VERSION	1
#define MSGID_LEN		16	/* hex digits */

struct envelope {
	char		 id[MSGID_LEN + 1];
	int64_t		 arrival;	/* unix time */
	char		*helo;
	char		*client;
	char		*from;		/* "" is the null sender */
	char		*body;		/* "7BIT" or "8BITMIME" */
	int		 smtputf8;	/* MAIL FROM had SMTPUTF8 (RFC 6531) */
	uint64_t	 size;
	int		 nrcpt;
	char		**rcpts;
	uint8_t		*done;		/* per recipient: delivered or bounced */
	uint32_t	 attempts;	/* delivery attempts so far */
	int64_t		 next_try;	/* unix time; 0: as soon as possible */
};

int	 envelope_add_rcpt(struct envelope *, const char *, int done);

int	 envelope_encode(const struct envelope *, char **out, size_t *len);
int	 envelope_decode(struct envelope *, const char *buf, size_t len,
	    const char **err);
void	 envelope_clear(struct envelope *);
int	 msgid_valid(const char *);
void	 msgid_new(char out[MSGID_LEN + 1]);

/* "petrel-tail <16 hex: text length> <8 hex: envelope length>\n" */
#define MSGFILE_TRAILER_LEN	38
#define MSGFILE_ENVELOPE_MAX	(16 * 1024 * 1024)
void	 msgfile_trailer(char buf[MSGFILE_TRAILER_LEN + 1], uint64_t,
	    size_t);
int	 msgfile_trailer_parse(const char *, uint64_t, uint64_t *, size_t *);
int	 msgfile_tail(int, off_t, uint64_t *, size_t *);
off_t	 msgfile_text_length(int);
int	 msgid_dir(const char *);

#endif
