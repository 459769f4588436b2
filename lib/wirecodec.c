/*
 * wirecodec.c - the frames with an envelope or a list of recipients,
 * built and read in one place each.  See wirecodec.h and wire.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "keysource.h"
#include "wirecodec.h"
#include "tlskey.h"

static int
body_ok(const char *b)
{
	return strcmp(b, "7BIT") == 0 || strcmp(b, "8BITMIME") == 0;
}

/* n strings into a new array; -1 on a short frame or a bad count. */
static int
get_strings(struct mreader *r, uint32_t n, const char ***out)
{
	const char	**v;
	uint32_t	  i;

	*out = NULL;
	if (n == 0 || n > WIRE_MAX_RCPT)
		return -1;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (m_get_string(r, &v[i]) == -1) {
			free(v);
			return -1;
		}
	*out = v;
	return 0;
}

void
wire_commit_add(struct mbuf *m, const struct wire_commit *w)
{
	uint32_t	 i;

	m_add_string(m, w->id);
	m_add_string(m, w->helo);
	m_add_string(m, w->client);
	m_add_string(m, w->from);
	m_add_string(m, w->body);
	m_add_u8(m, w->smtputf8 != 0);
	m_add_u64(m, w->size);
	m_add_i64(m, w->arrival);
	m_add_u32(m, w->nrcpt);
	for (i = 0; i < w->nrcpt; i++)
		m_add_string(m, w->rcpts[i]);
}

int
wire_commit_get(struct mreader *r, struct wire_commit *w)
{
	uint8_t	 u8;

	memset(w, 0, sizeof(*w));
	if (m_get_string(r, &w->id) == -1 || m_get_string(r, &w->helo) == -1 ||
	    m_get_string(r, &w->client) == -1 ||
	    m_get_string(r, &w->from) == -1 ||
	    m_get_string(r, &w->body) == -1 || !body_ok(w->body) ||
	    m_get_u8(r, &u8) == -1 || u8 > 1 ||
	    m_get_u64(r, &w->size) == -1 || m_get_i64(r, &w->arrival) == -1 ||
	    m_get_u32(r, &w->nrcpt) == -1 ||
	    get_strings(r, w->nrcpt, &w->rcpts) == -1)
		return -1;
	w->smtputf8 = u8;
	if (m_end(r) == -1) {
		wire_commit_clear(w);
		return -1;
	}
	return 0;
}

void
wire_commit_clear(struct wire_commit *w)
{
	free(w->rcpts);
	w->rcpts = NULL;
}

void
wire_ctl_add(struct mbuf *m, const struct wire_ctl *w)
{
	uint32_t	 i;

	m_add_string(m, w->command);
	m_add_u32(m, w->argc);
	for (i = 0; i < w->argc; i++)
		m_add_string(m, w->argv[i]);
}

int
wire_ctl_get(struct mreader *r, struct wire_ctl *w)
{
	memset(w, 0, sizeof(*w));
	if (m_get_string(r, &w->command) == -1 ||
	    m_get_u32(r, &w->argc) == -1 || w->argc > CTL_MAX_ARGS ||
	    (w->argc > 0 && get_strings(r, w->argc, &w->argv) == -1))
		return -1;
	if (m_end(r) == -1) {
		wire_ctl_clear(w);
		return -1;
	}
	return 0;
}

void
wire_ctl_clear(struct wire_ctl *w)
{
	free(w->argv);
	w->argv = NULL;
}

void
wire_deliver_add(struct mbuf *m, const struct wire_deliver *w)
{
	uint32_t	 i;

	m_add_string(m, w->id);
	m_add_string(m, w->domain);
	m_add_string(m, w->from);
	m_add_string(m, w->body);
	m_add_u8(m, w->smtputf8 != 0);
	m_add_u64(m, w->size);
	m_add_u32(m, w->nrcpt);
	for (i = 0; i < w->nrcpt; i++)
		m_add_string(m, w->rcpts[i]);
	m_add_u8(m, w->final != 0);
}

int
wire_deliver_get(struct mreader *r, struct wire_deliver *w)
{
	uint8_t	 u8;

	memset(w, 0, sizeof(*w));
	if (m_get_string(r, &w->id) == -1 ||
	    m_get_string(r, &w->domain) == -1 ||
	    m_get_string(r, &w->from) == -1 ||
	    m_get_string(r, &w->body) == -1 || !body_ok(w->body) ||
	    m_get_u8(r, &u8) == -1 || u8 > 1 ||
	    m_get_u64(r, &w->size) == -1 || m_get_u32(r, &w->nrcpt) == -1 ||
	    get_strings(r, w->nrcpt, &w->rcpts) == -1)
		return -1;
	w->smtputf8 = u8;
	if (m_get_u8(r, &u8) == -1 || u8 > 1 || m_end(r) == -1) {
		wire_deliver_clear(w);
		return -1;
	}
	w->final = u8;
	return 0;
}

void
wire_deliver_clear(struct wire_deliver *w)
{
	free(w->rcpts);
	w->rcpts = NULL;
}

void
wire_result_add(struct mbuf *m, const struct wire_result *w)
{
	uint32_t	 i;

	m_add_string(m, w->relay);
	m_add_string(m, w->tls);
	m_add_string(m, w->cipher);
	m_add_string(m, w->auth);
	m_add_u32(m, w->nrcpt);
	for (i = 0; i < w->nrcpt; i++) {
		m_add_u8(m, w->status[i]);
		m_add_string(m, w->response[i]);
	}
}

int
wire_result_get(struct mreader *r, struct wire_result *w)
{
	uint32_t	 i;

	memset(w, 0, sizeof(*w));
	if (m_get_string(r, &w->relay) == -1 || m_get_string(r, &w->tls) == -1 ||
	    m_get_string(r, &w->cipher) == -1 ||
	    m_get_string(r, &w->auth) == -1 ||
	    m_get_u32(r, &w->nrcpt) == -1 || w->nrcpt == 0 ||
	    w->nrcpt > WIRE_MAX_RCPT)
		return -1;
	if ((w->status = calloc(w->nrcpt, 1)) == NULL ||
	    (w->response = calloc(w->nrcpt, sizeof(char *))) == NULL)
		goto bad;
	for (i = 0; i < w->nrcpt; i++)
		if (m_get_u8(r, &w->status[i]) == -1 ||
		    w->status[i] > RCPT_NOTTRIED ||
		    m_get_string(r, &w->response[i]) == -1)
			goto bad;
	if (m_end(r) == -1)
		goto bad;
	return 0;
bad:
	wire_result_clear(w);
	return -1;
}

void
wire_result_clear(struct wire_result *w)
{
	free(w->status);
	free(w->response);
	w->status = NULL;
	w->response = NULL;
}

/* A keysource spec, field by field: u32 n (at most 64), n x (name, value). */
static void
wire_keysource_add(struct mbuf *m, const struct keysource *ks)
{
	const char	*name, *value;
	uint32_t	 n = 0;
	size_t		 i;

	for (i = 0; keysource_key(ks, i, &value) != NULL; i++)
		n += value != NULL;
	m_add_u32(m, n);
	for (i = 0; (name = keysource_key(ks, i, &value)) != NULL; i++)
		if (value != NULL) {
			m_add_string(m, name);
			m_add_string(m, value);
		}
}

/*
 * -1: malformed.  0 with *out NULL and err set: well-formed, but the
 * keysource parser refuses it; else *out.
 */
static int
wire_keysource_get(struct mreader *r, struct keysource **out, char *err,
    size_t errlen)
{
	struct keysource *ks;
	const char	*name, *value;
	uint32_t	 n, i;
	int		 bad = 0;

	*out = NULL;
	if (m_get_u32(r, &n) == -1 || n > 64)
		return -1;
	ks = keysource_new();
	for (i = 0; i < n; i++) {
		if (m_get_string(r, &name) == -1 ||
		    m_get_string(r, &value) == -1) {
			keysource_free(ks);
			return -1;
		}
		if (!bad && keysource_set(ks, name, value, strlen(value), err,
		    errlen) == -1)
			bad = 1;
	}
	if (bad || keysource_check(ks, err, errlen) == -1) {
		keysource_free(ks);
		return 0;
	}
	*out = ks;
	return 0;
}

void
wire_key_req_add(struct mbuf *m, const struct wire_key_req *w)
{
	/* key_data or an inline vault_token: the request holds a secret */
	m_wipe(m);
	m_add_u8(m, w->want);
	wire_keysource_add(m, w->ks);
	if (w->want == KEY_WANT_TLS)
		wire_keysource_add(m, w->ks2);
}

int
wire_key_req_get(struct mreader *r, struct wire_key_req *w, char *err,
    size_t errlen)
{
	struct keysource *ks = NULL, *ks2 = NULL;
	uint8_t		 want;
	char		 err2[512];

	memset(w, 0, sizeof(*w));
	if (m_get_u8(r, &want) == -1 || (want != KEY_WANT_SECRET &&
	    want != KEY_WANT_FINGERPRINT && want != KEY_WANT_TLS) ||
	    wire_keysource_get(r, &ks, err, errlen) == -1)
		return -1;
	if (want == KEY_WANT_TLS &&
	    wire_keysource_get(r, &ks2, err2, sizeof(err2)) == -1) {
		keysource_free(ks);
		return -1;
	}
	if (m_end(r) == -1) {
		keysource_free(ks);
		keysource_free(ks2);
		return -1;
	}
	w->want = want;
	if (want == KEY_WANT_TLS && (ks == NULL || ks2 == NULL)) {
		if (ks != NULL)		/* the second one's error, named */
			snprintf(err, errlen, "tls_private_key: %s", err2);
		keysource_free(ks);
		keysource_free(ks2);
		return 0;
	}
	w->ks = ks;
	w->ks2 = ks2;
	return 0;
}

void
wire_key_reply_add(struct mbuf *m, const struct wire_key_reply *w)
{
	if (w->secret != NULL && *w->secret != '\0')
		m_wipe(m);
	m_add_u8(m, w->status);
	m_add_string(m, w->fingerprint ? w->fingerprint : "");
	m_add_string(m, w->secret ? w->secret : "");
	m_add_string(m, w->error ? w->error : "");
}

int
wire_key_reply_get(struct mreader *r, struct wire_key_reply *w)
{
	uint8_t		 status;

	memset(w, 0, sizeof(*w));
	if (m_get_u8(r, &status) == -1 || status > KEY_FAILED ||
	    m_get_string(r, &w->fingerprint) == -1 ||
	    m_get_string(r, &w->secret) == -1 ||
	    m_get_string(r, &w->error) == -1 || m_end(r) == -1)
		return -1;
	w->status = status;
	return 0;
}

void
wire_sign_req_add(struct mbuf *m, const struct wire_sign_req *w)
{
	m_add_blob(m, w->id, TLSKEY_ID_LEN);
	m_add_u8(m, w->op);
	m_add_u32(m, w->padding);
	m_add_blob(m, w->in, w->inlen);
}

int
wire_sign_req_get(struct mreader *r, struct wire_sign_req *w)
{
	const void	*id;
	size_t		 idlen;
	uint8_t		 op;

	memset(w, 0, sizeof(*w));
	if (m_get_blob(r, &id, &idlen) == -1 || idlen != TLSKEY_ID_LEN ||
	    m_get_u8(r, &op) == -1 || m_get_u32(r, &w->padding) == -1 ||
	    m_get_blob(r, (const void **)&w->in, &w->inlen) == -1 ||
	    m_end(r) == -1 || w->inlen > TLSKEY_IN_MAX)
		return -1;
	memcpy(w->id, id, TLSKEY_ID_LEN);
	w->op = op;
	return 0;
}

void
wire_sign_reply_add(struct mbuf *m, const struct wire_sign_reply *w)
{
	m_add_u8(m, w->status);
	m_add_blob(m, w->sig, w->siglen);
	m_add_string(m, w->error ? w->error : "");
}

int
wire_sign_reply_get(struct mreader *r, struct wire_sign_reply *w)
{
	uint8_t		 status;

	memset(w, 0, sizeof(*w));
	if (m_get_u8(r, &status) == -1 || status > KEY_FAILED ||
	    m_get_blob(r, (const void **)&w->sig, &w->siglen) == -1 ||
	    m_get_string(r, &w->error) == -1 || m_end(r) == -1 ||
	    w->siglen > TLSKEY_SIG_MAX)
		return -1;
	w->status = status;
	return 0;
}
