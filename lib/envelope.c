/*
 * envelope.c - encode and strictly decode envelope files.
 */
#include "config.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"

void
msgid_new(char out[MSGID_LEN + 1])
{
	uint64_t	 v;

	/*
	 * The first byte, which names the queue directory (queue/<xx>/),
	 * is the time in 64 s steps: messages received together share a
	 * directory, so the sync of a commit batch writes one directory
	 * block instead of one per message (bench/RESULTS.md).  Over a
	 * 4.5-hour cycle a large queue still spreads over all 256.  The
	 * other 56 bits are random.
	 */
	arc4random_buf(&v, sizeof(v));
	v = (v & ~(UINT64_C(0xff) << 56)) |
	    ((uint64_t)((time(NULL) >> 6) & 0xff) << 56);
	snprintf(out, MSGID_LEN + 1, "%016" PRIx64, v);
}

int
msgid_valid(const char *id)
{
	int	 i;

	for (i = 0; i < MSGID_LEN; i++)
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			return 0;
	return id[MSGID_LEN] == '\0';
}

static int
value_ok(const char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			return 0;
	return 1;
}

int
envelope_encode(const struct envelope *e, char **out, size_t *len)
{
	FILE	*fp;
	int	 i;

	if (!value_ok(e->helo) || !value_ok(e->client) || !value_ok(e->from) ||
	    !value_ok(e->body))
		return -1;
	for (i = 0; i < e->nrcpt; i++)
		if (!value_ok(e->rcpts[i]))
			return -1;
	if ((fp = open_memstream(out, len)) == NULL)
		return -1;
	fprintf(fp, "petrel-envelope %d\nid %s\narrival %" PRId64 "\n"
	    "helo %s\nclient %s\nfrom %s\nbody %s\nsize %" PRIu64 "\n",
	    ENVELOPE_VERSION, e->id, e->arrival, e->helo, e->client, e->from,
	    e->body, e->size);
	if (e->smtputf8)
		fprintf(fp, "smtputf8 1\n");
	if (e->attempts > 0 || e->next_try > 0)
		fprintf(fp, "attempts %" PRIu32 "\nnext %" PRId64 "\n",
		    e->attempts, e->next_try);
	for (i = 0; i < e->nrcpt; i++)
		fprintf(fp, "%s %s\n", e->done && e->done[i] ? "done" : "rcpt",
		    e->rcpts[i]);
	fprintf(fp, "end\n");
	if (fclose(fp) != 0)
		return -1;
	return 0;
}

void
envelope_clear(struct envelope *e)
{
	int	 i;

	free(e->helo);
	free(e->client);
	free(e->from);
	free(e->body);
	for (i = 0; i < e->nrcpt; i++)
		free(e->rcpts[i]);
	free(e->rcpts);
	free(e->done);
	memset(e, 0, sizeof(*e));
}

int
envelope_add_rcpt(struct envelope *e, const char *rcpt, int done)
{
	char	**n;
	uint8_t	*d;

	if ((n = reallocarray(e->rcpts, e->nrcpt + 1, sizeof(*n))) == NULL)
		return -1;
	e->rcpts = n;
	if ((d = realloc(e->done, e->nrcpt + 1)) == NULL)
		return -1;
	e->done = d;
	if ((e->rcpts[e->nrcpt] = strdup(rcpt)) == NULL)
		return -1;
	e->done[e->nrcpt] = done != 0;
	e->nrcpt++;
	return 0;
}

static int
setstr(char **dst, const char *v, size_t n)
{
	if (*dst != NULL)
		return -1;	/* given twice */
	if ((*dst = strndup(v, n)) == NULL)
		return -1;
	return 0;
}

int
envelope_decode(struct envelope *e, const char *buf, size_t len,
    const char **err)
{
	const char	*p = buf, *end = buf + len, *nl, *sp, *v;
	size_t		 klen, vlen;
	int		 lineno = 0, ended = 0, have_id = 0, have_arrival = 0;
	int		 have_size = 0, have_attempts = 0, have_next = 0;
	char		 num[32];

	memset(e, 0, sizeof(*e));
	*err = NULL;
	if (memchr(buf, '\0', len) != NULL) {
		*err = "NUL byte";
		goto bad;
	}
	while (p < end) {
		if ((nl = memchr(p, '\n', end - p)) == NULL) {
			*err = "truncated (no final newline)";
			goto bad;
		}
		lineno++;
		if (ended) {
			*err = "data after end";
			goto bad;
		}
		sp = memchr(p, ' ', nl - p);
		klen = (sp ? sp : nl) - p;
		v = sp ? sp + 1 : nl;
		vlen = nl - v;
		if (lineno == 1) {
			if (klen != 15 || memcmp(p, "petrel-envelope", 15) ||
			    vlen != 1 || *v != '0' + ENVELOPE_VERSION) {
				*err = "not a version 1 envelope";
				goto bad;
			}
		} else if (klen == 3 && !memcmp(p, "end", 3) && !sp) {
			ended = 1;
		} else if (klen == 2 && !memcmp(p, "id", 2)) {
			if (have_id)
				goto dup;
			if (vlen != MSGID_LEN) {
				*err = "bad id";
				goto bad;
			}
			memcpy(e->id, v, MSGID_LEN);
			e->id[MSGID_LEN] = '\0';
			if (!msgid_valid(e->id)) {
				*err = "bad id";
				goto bad;
			}
			have_id = 1;
		} else if ((klen == 7 && !memcmp(p, "arrival", 7)) ||
		    (klen == 4 && !memcmp(p, "size", 4)) ||
		    (klen == 8 && !memcmp(p, "attempts", 8)) ||
		    (klen == 4 && !memcmp(p, "next", 4))) {
			char		*ep;
			int		*have;
			uint64_t	 val;

			have = klen == 7 ? &have_arrival :
			    klen == 8 ? &have_attempts :
			    p[0] == 's' ? &have_size : &have_next;
			if (*have)
				goto dup;
			if (vlen == 0 || vlen >= sizeof(num)) {
				*err = "bad number";
				goto bad;
			}
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			errno = 0;
			val = strtoull(num, &ep, 10);
			if (errno || *ep || !isdigit((unsigned char)num[0]) ||
			    (have != &have_size && val > INT64_MAX) ||
			    (have == &have_attempts && val > UINT32_MAX)) {
				*err = "bad number";
				goto bad;
			}
			*have = 1;
			if (have == &have_size)
				e->size = val;
			else if (have == &have_arrival)
				e->arrival = (int64_t)val;
			else if (have == &have_attempts)
				e->attempts = (uint32_t)val;
			else
				e->next_try = (int64_t)val;
		} else if (klen == 4 && !memcmp(p, "helo", 4)) {
			if (setstr(&e->helo, v, vlen) == -1)
				goto dup;
		} else if (klen == 6 && !memcmp(p, "client", 6)) {
			if (setstr(&e->client, v, vlen) == -1)
				goto dup;
		} else if (klen == 4 && !memcmp(p, "from", 4)) {
			if (setstr(&e->from, v, vlen) == -1)
				goto dup;
		} else if (klen == 8 && !memcmp(p, "smtputf8", 8)) {
			if (e->smtputf8)
				goto dup;
			if (vlen != 1 || *v != '1') {
				*err = "bad smtputf8";
				goto bad;
			}
			e->smtputf8 = 1;
		} else if (klen == 4 && !memcmp(p, "body", 4)) {
			if (setstr(&e->body, v, vlen) == -1)
				goto dup;
		} else if (klen == 4 && (!memcmp(p, "rcpt", 4) ||
		    !memcmp(p, "done", 4))) {
			char	 addr[1024];

			if (vlen == 0 || vlen >= sizeof(addr)) {
				*err = vlen ? "recipient too long" :
				    "empty recipient";
				goto bad;
			}
			memcpy(addr, v, vlen);
			addr[vlen] = '\0';
			if (envelope_add_rcpt(e, addr, p[0] == 'd') == -1)
				goto nomem;
		} else {
			*err = "unknown key";
			goto bad;
		}
		p = nl + 1;
	}
	if (!ended) {
		*err = "truncated (no end line)";
		goto bad;
	}
	if (!have_id || !have_arrival || !have_size || e->from == NULL ||
	    e->helo == NULL || e->client == NULL || e->body == NULL) {
		*err = "missing field";
		goto bad;
	}
	if (e->nrcpt == 0) {
		*err = "no recipients";
		goto bad;
	}
	return 0;
dup:
	*err = "field given twice";
	goto bad;
nomem:
	*err = "out of memory";
bad:
	envelope_clear(e);
	return -1;
}

/*
 * The tail of a spool message file: the text (D bytes), the envelope
 * (E bytes), then this fixed-length line saying both lengths.  One
 * file per message: a separate envelope file would cost an inode, a
 * data block and two directory entries per message.
 */
void
msgfile_trailer(char buf[MSGFILE_TRAILER_LEN + 1], uint64_t textlen,
    size_t envlen)
{
	snprintf(buf, MSGFILE_TRAILER_LEN + 1, "petrel-tail %016" PRIx64
	    " %08zx\n", textlen, envlen);
}

static int
hexfield(const char *p, size_t n, uint64_t *v)
{
	size_t	 i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)p[i]) ||
		    isupper((unsigned char)p[i]))
			return -1;
		*v = *v << 4 | (uint64_t)(isdigit((unsigned char)p[i]) ?
		    p[i] - '0' : p[i] - 'a' + 10);
	}
	return 0;
}

/*
 * Parse a trailer read from the end of a file of filesize bytes.
 * 0 when it is one and its lengths add up to the file's.
 */
int
msgfile_trailer_parse(const char *buf, uint64_t filesize, uint64_t *textlen,
    size_t *envlen)
{
	uint64_t	 t, e;

	if (filesize < MSGFILE_TRAILER_LEN ||
	    memcmp(buf, "petrel-tail ", 12) != 0 || buf[28] != ' ' ||
	    buf[MSGFILE_TRAILER_LEN - 1] != '\n' ||
	    hexfield(buf + 12, 16, &t) == -1 || hexfield(buf + 29, 8, &e) == -1)
		return -1;
	if (e > MSGFILE_ENVELOPE_MAX || t > filesize ||
	    filesize - t != e + MSGFILE_TRAILER_LEN)
		return -1;
	*textlen = t;
	*envlen = e;
	return 0;
}

/*
 * The trailer of a message file of size bytes: 0 with the lengths, 1
 * when it has none, -1 when it cannot be read.
 */
int
msgfile_tail(int fd, off_t size, uint64_t *textlen, size_t *envlen)
{
	char	 buf[MSGFILE_TRAILER_LEN];

	if (size < MSGFILE_TRAILER_LEN)
		return 1;
	if (pread(fd, buf, sizeof(buf), size - MSGFILE_TRAILER_LEN) !=
	    (ssize_t)sizeof(buf))
		return -1;
	return msgfile_trailer_parse(buf, size, textlen, envlen) == 0 ? 0 : 1;
}

/*
 * How much of a spool message file is the message text: all of it
 * before its envelope.  A file without a trailer is all text (a bounce
 * being written, a spool from before the envelope moved in).
 */
off_t
msgfile_text_length(int fd)
{
	struct stat	 st;
	uint64_t	 t;
	size_t		 e;

	if (fstat(fd, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = ESPIPE;		/* as pread(2) on a pipe */
		return -1;
	}
	return msgfile_tail(fd, st.st_size, &t, &e) == 0 ? (off_t)t :
	    st.st_size;
}

/* The queue directory of an id: its first two hex digits. */
int
msgid_dir(const char *id)
{
	uint64_t	 v;

	return hexfield(id, 2, &v) == 0 ? (int)v : -1;
}
