/*
 * keysd.c - the key server's life: set up, drop privileges (no chroot:
 * key files are read by absolute path), then answer the deliverd
 * workers' requests on the channels petreld hands over.
 * keysd_imsg() is where petreld's messages land, keysd_imsg_worker()
 * the workers'.  Every channel zeroes its buffers (imsgbuf.wipe).
 *
 * A reply carries a fingerprint of the secret (HMAC-SHA256 under a key
 * drawn at start), and the secret itself only when it was asked for.
 * Errors name the keysource, never a secret or token, and refusals and
 * failures are logged with the worker that asked.
 */
#include "config.h"

#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "chan.h"
#include "keysource.h"
#include "log.h"
#include "priv.h"
#include "proc.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"
#include "keysd.h"
#include "oauth2.h"

#define KEYSD_MAX_WORKERS	4096

struct petrel_conf *keysd_conf;

static struct event_base *base;
static struct chan *master;
static struct worker {
	struct chan	*chan;
	uint64_t	 gen;		/* bumped on each new channel */
	int		 kind;		/* PEER_DELIVERD or PEER_SMTPD */
	int		 index;
	char		 name[32];	/* "deliverd[j]": the channel's name */
} **workers, **sworkers;	/* each allocated once: the name stays */
static int	 nworkers, nsworkers;
static uint8_t	 hmac_key[32];
static uint64_t	 refused;	/* bad specs, vault_allow: for stats */

const char *
keysd_who(const struct kwaiter *w, char *buf, size_t len)
{
	snprintf(buf, len, "deliverd[%d] (pid %u)", w->worker, w->pid);
	return buf;
}

/* The first 16 bytes of HMAC-SHA256(secret), in lowercase hex. */
void
keysd_fingerprint(const char *secret, size_t len, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	int		 i;

	if (HMAC(EVP_sha256(), hmac_key, sizeof(hmac_key),
	    (const unsigned char *)secret, len, md, &mdlen) == NULL ||
	    mdlen < 16)
		fatalx("keysd: HMAC-SHA256 failed");
	for (i = 0; i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[32] = '\0';
	explicit_bzero(md, sizeof(md));
}

/*
 * Answer one request: the secret and its fingerprint, or the error.
 * A worker whose channel was replaced since it asked gets nothing.
 */
void
keysd_answer(const struct kwaiter *w, const char *secret,
    const char *fingerprint, const char *error)
{
	struct wire_key_reply r;
	struct mbuf	 m;
	struct chan	*c;

	if (w->done != NULL) {
		w->done(w->arg, secret, fingerprint, error);
		return;
	}
	if (w->worker >= nworkers || (c = workers[w->worker]->chan) == NULL ||
	    workers[w->worker]->gen != w->gen) {
		log_debug("deliverd[%d] went away: answer to request %u "
		    "dropped", w->worker, w->peerid);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.status = error == NULL ? KEY_OK : KEY_FAILED;
	r.fingerprint = error == NULL ? fingerprint : "";
	r.secret = error == NULL && w->want != KEY_WANT_FINGERPRINT ? secret :
	    "";
	r.error = error != NULL ? error : "";
	m_create(&m, IMSG_KEYSD_KEY, w->peerid, -1);
	wire_key_reply_add(&m, &r);
	if (chan_send(c, &m) == 0)
		return;
	m_discard(&m);
	memset(&r, 0, sizeof(r));
	r.status = KEY_FAILED;
	r.error = "the secret does not fit in a reply";
	m_create(&m, IMSG_KEYSD_KEY, w->peerid, -1);
	wire_key_reply_add(&m, &r);
	chan_send(c, &m);
}

/* Is a Vault keysource one keysd may read?  0, or -1 with why. */
static int
keysd_vault_refused(const struct keysource *ks, char *err, size_t errlen)
{
	char	 what[512], why[512];

	if (ks->vault_address != NULL && !vault_address_ok(ks->vault_address)) {
		/* not described: the address might hold a password */
		snprintf(err, errlen, "vault %s/%s#%s: vault_address is not "
		    "an http:// or https:// URL without user:password@: "
		    "refused", ks->vault_mount, ks->vault_path, ks->vault_key);
		return -1;
	}
	keysource_describe(ks, what, sizeof(what));
	if (vault_check_path(ks->vault_mount, ks->vault_path, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s: refused", what, why);
		return -1;
	}
	if (!vault_allowed(keysd_conf->keysd_vault_allow, ks->vault_mount,
	    ks->vault_path)) {
		snprintf(err, errlen, "%s: %s/%s matches no pattern of "
		    "vault_allow (%s): refused", what, ks->vault_mount,
		    ks->vault_path, keysd_conf->keysd_vault_allow);
		return -1;
	}
	return 0;
}

static int
keysd_request(int j, struct imsg *im)
{
	struct wire_key_req req;
	struct mreader	 r;
	struct kwaiter	 w;
	char		 err[1024], msg[1200], who[64];

	m_reader(&r, im);
	if (wire_key_req_get(&r, &req, err, sizeof(err)) == -1)
		return -1;
	memset(&w, 0, sizeof(w));
	w.worker = j;
	w.gen = workers[j]->gen;
	w.peerid = im->hdr.peerid;
	w.pid = im->hdr.pid;
	w.want = req.want;
	if (req.ks == NULL) {
		refused++;
		snprintf(msg, sizeof(msg), "bad keysource: %s", err);
		log_warnx("%s: %s", keysd_who(&w, who, sizeof(who)),
		    log_quote(msg, err, sizeof(err)));
		keysd_answer(&w, NULL, NULL, msg);
		return 0;
	}
	if ((req.ks->kind == KS_VAULT &&
	    keysd_vault_refused(req.ks, msg, sizeof(msg)) == -1) ||
	    (req.ks2 != NULL && req.ks2->kind == KS_VAULT &&
	    keysd_vault_refused(req.ks2, msg, sizeof(msg)) == -1)) {
		refused++;
		log_warnx("%s: %s", keysd_who(&w, who, sizeof(who)),
		    log_quote(msg, err, sizeof(err)));
		keysd_answer(&w, NULL, NULL, msg);
	} else if (req.want == KEY_WANT_TLS)
		sign_tls_request(req.ks, req.ks2, &w);
	else
		cache_request(req.ks, &w);
	keysource_free(req.ks2);
	keysource_free(req.ks);
	return 0;
}

static int
keysd_imsg_worker(struct chan *c, struct imsg *im)
{
	int	 j = ((struct worker *)c->arg)->index;

	switch (im->hdr.type) {
	case IMSG_DELIVERD_KEY:
		return keysd_request(j, im);
	case IMSG_WORKER_SIGN:
		return sign_request(c, im, 0);
	}
	log_warnx("%s: unexpected message type %u", c->name, im->hdr.type);
	return -1;
}

/* smtpd asks for nothing but signatures with its server key. */
static int
keysd_imsg_smtpd(struct chan *c, struct imsg *im)
{
	if (im->hdr.type == IMSG_WORKER_SIGN)
		return sign_request(c, im, 1);
	log_warnx("%s: unexpected message type %u", c->name, im->hdr.type);
	return -1;
}

static void
keysd_worker_closed(struct chan *c)
{
	struct worker	*w = c->arg;

	if (w->chan != c)
		return;
	w->chan = NULL;
	w->gen++;
	proc_peer_lost(master, c, w->kind, w->index);
}

/* The slot of worker j in *arr, made when new. */
static struct worker *
keysd_worker_slot(struct worker ***arr, int *n, int kind, uint32_t j)
{
	struct worker	**nw;

	if ((int)j >= *n) {
		if ((nw = reallocarray(*arr, j + 1, sizeof(*nw))) == NULL)
			fatal("keysd: reallocarray");
		for (; *n <= (int)j; (*n)++) {
			nw[*n] = xcalloc(1, sizeof(**nw));
			nw[*n]->kind = kind;
			nw[*n]->index = *n;
			snprintf(nw[*n]->name, sizeof(nw[*n]->name), "%s[%d]",
			    kind == PEER_SMTPD ? "smtpd" : "deliverd", *n);
		}
		*arr = nw;
	}
	return (*arr)[j];
}

/* A (new) channel to deliverd[j], or to smtpd[j] (its TLS signatures). */
static int
keysd_worker_new(struct imsg *im)
{
	uint32_t	 kind, j;
	struct worker	*w;

	if (chan_get_peer(im, 0, &kind, &j) == -1 ||
	    (kind != PEER_DELIVERD && kind != PEER_SMTPD) ||
	    j >= KEYSD_MAX_WORKERS)
		return -1;
	if (kind == PEER_SMTPD)
		w = keysd_worker_slot(&sworkers, &nsworkers, kind, j);
	else
		w = keysd_worker_slot(&workers, &nworkers, kind, j);
	chan_replace(&w->chan, base, im->fd, w->name, kind == PEER_SMTPD ?
	    keysd_imsg_smtpd : keysd_imsg_worker, keysd_worker_closed, w);
	im->fd = -1;
	w->chan->ibuf.wipe = 1;
	w->gen++;
	log_debug("channel to %s ready", w->name);
	return 0;
}

/*
 * petrelctl stats, through petreld: counters only, never what is
 * cached.  Any other command is a usage error.
 */
static int
keysd_ctl(struct imsg *im)
{
	struct keysd_stats st;
	uint64_t	 o2req, o2err, nsig, nsigfail, ntls;
	struct mreader	 r;
	struct mbuf	 m;
	const char	*cmd;
	json_t		*j = NULL;
	char		*doc = NULL;
	int		 code = CTL_EXIT_OK;

	m_reader(&r, im);
	if (m_get_string(&r, &cmd) == -1 || m_end(&r) == -1)
		return -1;
	if (strcmp(cmd, "stats") == 0) {
		memset(&st, 0, sizeof(st));
		st.refused = refused;
		cache_stats(&st);
		vault_stats(&st);
		file_stats(&st);
		oauth2_stats(&o2req, &o2err);
		sign_stats(&nsig, &nsigfail, &ntls);
		j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,"
		    "s:I,s:I,s:I}",
		    "cache_entries", (json_int_t)st.cache_entries,
		    "cache_hits", (json_int_t)st.cache_hits,
		    "cache_misses", (json_int_t)st.cache_misses,
		    "vault_requests", (json_int_t)st.vault_requests,
		    "vault_errors", (json_int_t)st.vault_errors,
		    "stale_served", (json_int_t)st.stale_served,
		    "refused", (json_int_t)st.refused,
		    "file_reads", (json_int_t)st.file_reads,
		    "oauth2_requests", (json_int_t)o2req,
		    "oauth2_errors", (json_int_t)o2err,
		    "tls_keys", (json_int_t)ntls,
		    "tls_signatures", (json_int_t)nsig,
		    "tls_signature_errors", (json_int_t)nsigfail);
		if (j == NULL || (doc = json_dumps(j, JSON_COMPACT)) == NULL)
			fatalx("keysd: stats: json");
	} else
		code = CTL_EXIT_USAGE;
	m_create(&m, IMSG_KEYSD_CTL_REPLY, im->hdr.peerid, -1);
	m_add_u8(&m, code);
	m_add_string(&m, doc != NULL ? doc : "");
	m_add_string(&m, code == CTL_EXIT_OK ? "" :
	    "keysd: unknown request (only \"stats\")");
	chan_send(master, &m);
	free(doc);
	json_decref(j);
	return 0;
}

static void
keysd_stop(void)
{
	event_base_loopexit(base, NULL);
}

static int
keysd_imsg(struct chan *c, struct imsg *im)
{
	size_t	 n;

	switch (im->hdr.type) {
	case IMSG_MASTER_PEER:
		return keysd_worker_new(im);
	case IMSG_MASTER_KEYS_FLUSH:
		n = cache_flush();
		sign_flush();
		vault_read_token();
		log_info("keys flushed: %zu cached secret%s forgotten", n,
		    n == 1 ? "" : "s");
		return 0;
	case IMSG_MASTER_TLS_KEY:
		return sign_server_key(im);
	case IMSG_MASTER_SHUTDOWN:
		keysd_stop();
		return 0;
	case IMSG_MASTER_CTL:
		return keysd_ctl(im);
	}
	log_warnx("master: unexpected message type %u", im->hdr.type);
	return -1;
}

static void
keysd_master_closed(struct chan *c)
{
	master = NULL;
	keysd_stop();
}

static void
keysd_test_hook(void)
{
	int	 j;

	for (j = 0; j < nworkers; j++)
		chan_test_garble(workers[j]->chan);
	for (j = 0; j < nsworkers; j++)
		chan_test_garble(sworkers[j]->chan);
}

void
keysd_main(struct proc_args *pa)
{
	struct petrel_conf *conf = pa->conf;
	int		 j;

	proc_child_init(pa, "key server");
	secret_hygiene();
	keysd_conf = conf;
	arc4random_buf(hmac_key, sizeof(hmac_key));
	(void)mlock(hmac_key, sizeof(hmac_key));

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	http_init(base);		/* curl_global_init, the multi handle */
	vault_init(base, conf);		/* $VAULT_* */
	oauth2_init(base, conf);	/* state_dir, made keysd's own */
	priv_drop("keysd", conf->privsep, conf->keysd_user, NULL);
	secret_hygiene();		/* a uid change resets dumpable */
	vault_read_token();		/* as keysd's own user */
	cache_init(base);

	proc_child_signals(base, keysd_stop);
	proc_test_hook(base, keysd_test_hook);
	master = chan_new(base, PROC_MASTER_FD, "master", keysd_imsg,
	    keysd_master_closed, NULL);
	master->ibuf.wipe = 1;
	chan_compose(master, IMSG_CHILD_READY, 0, -1, NULL, 0);
	event_base_dispatch(base);

	vault_shutdown();
	oauth2_shutdown();
	http_shutdown();
	cache_shutdown();
	sign_shutdown();
	for (j = 0; j < nworkers; j++) {
		chan_free(workers[j]->chan);
		free(workers[j]);
	}
	free(workers);
	for (j = 0; j < nsworkers; j++) {
		chan_free(sworkers[j]->chan);
		free(sworkers[j]);
	}
	free(sworkers);
	chan_free(master);
	explicit_bzero(hmac_key, sizeof(hmac_key));
	exit(0);
}
