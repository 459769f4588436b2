/*
 * wire.h - every message that crosses a process boundary, in one place.
 *
 * Edges of the process graph (one socketpair each, made by petreld):
 *	master <-> smtpd[i], master <-> queued, master <-> deliverd[j],
 *	master <-> keysd, smtpd[i] <-> queued, deliverd[j] <-> queued,
 *	deliverd[j] <-> keysd, smtpd[i] <-> keysd (only with TLS)
 * and queued's control socket: petrelctl <-> queued (IMSG_CTL_*).
 *
 * keysd talks to petreld and to the workers only (smtpd only to have
 * its TLS signatures made); its channels zero every buffer that held a
 * frame (imsgbuf.wipe).
 *
 * Payloads are built with m_add_*() in the order listed and read back
 * with m_get_*() in the same order; anything else is a protocol error.
 */
#ifndef PETREL_WIRE_H
#define PETREL_WIRE_H

#include <ctype.h>
#include <stdint.h>

enum imsg_type {
	IMSG_NONE = 0,

	/* child -> master: set up, privileges dropped, serving.  (none) */
	IMSG_CHILD_READY,

	/*
	 * master -> child: a new channel (fd) to a peer.  To smtpd and
	 * deliverd: their channel to queued, at start and whenever queued
	 * is restarted.  To queued: a channel to smtpd[index] or
	 * deliverd[index] whenever that one is (re)started.  To deliverd
	 * (kind PEER_KEYSD) and to keysd (kind PEER_DELIVERD, index j):
	 * the channel between deliverd[j] and keysd, whenever either is
	 * (re)started; likewise smtpd (PEER_KEYSD) and keysd (PEER_SMTPD,
	 * index i) when smtpd offers TLS.
	 * u32 kind (PEER_*), u32 index.
	 */
	IMSG_MASTER_PEER,

	/* master -> child: stop accepting work and exit when idle. (none) */
	IMSG_MASTER_SHUTDOWN,

	/*
	 * master -> queued: hand out no more deliveries; deliverd and then
	 * queued itself are about to be restarted (a reload).  (none)
	 */
	IMSG_MASTER_PAUSE,

	/*
	 * queued -> master: paused; no task goes to deliverd any more, so
	 * petreld may stop the deliverd workers now.  (none)
	 */
	IMSG_QUEUED_PAUSED,

	/*
	 * child -> master: this child closed its channel to a live peer
	 * for an error (a garbled frame, a descriptor it could not take);
	 * petreld wires the pair anew.  u32 kind (PEER_*), u32 index.
	 */
	IMSG_CHILD_PEER_LOST,

	/*
	 * smtpd -> queued: open a spool file for a new message.
	 *   peerid = session id.  (no payload)
	 * queued -> smtpd: IMSG_QUEUED_MSG_FD, peerid = session id,
	 *   fd = spool data file, string message id.
	 *   Without an fd: string "" + string reason (temporary failure).
	 */
	IMSG_SMTPD_MSG_OPEN,
	IMSG_QUEUED_MSG_FD,

	/*
	 * smtpd -> queued: the data file is written; commit it with this
	 * envelope.  peerid = session id.
	 *   string id, string helo, string client address, string from,
	 *   string body ("7BIT" or "8BITMIME"), u8 smtputf8 (RFC 6531),
	 *   u64 size, i64 arrival,
	 *   u32 nrcpt, nrcpt x string rcpt
	 * queued -> smtpd: IMSG_QUEUED_COMMIT, peerid = session id,
	 *   string id, u8 ok (1 = durable), string reason
	 */
	IMSG_SMTPD_MSG_COMMIT,
	IMSG_QUEUED_COMMIT,

	/* smtpd -> queued: drop an open message.  string id */
	IMSG_SMTPD_MSG_ABORT,

	/*
	 * smtpd -> queued after queued was restarted under a session that
	 * was waiting for its commit: was this message committed?
	 *   peerid = session id, string id
	 * The answer is an IMSG_QUEUED_COMMIT as above.
	 */
	IMSG_SMTPD_MSG_STATUS,

	/*
	 * queued -> deliverd: deliver one message to the recipients of one
	 * routing domain.  peerid = task id, fd = the message text, read
	 * only, in SMTP wire form (CRLF, dot-stuffed, no final dot).
	 *   string message id, string routing domain, string from,
	 *   string body ("7BIT" or "8BITMIME"), u8 smtputf8, u64 size,
	 *   u32 nrcpt, nrcpt x string rcpt, u8 final (1: the task was
	 *   redirected once already; deliver it here, never redirect)
	 */
	IMSG_QUEUED_DELIVER,

	/*
	 * deliverd -> queued: the outcome, recipient by recipient, in the
	 * order of the task.  peerid = task id.
	 *   string relay ("host[ip]:port" or ""), string tls ("" or
	 *   "TLSv1.3"), string cipher, string auth (the user it logged
	 *   in as, or ""), u32 nrcpt, nrcpt x (u8 RCPT_*, string response)
	 * The response is the SMTP reply that decided ("550 5.1.1 ...")
	 * or petrel's own reason with an enhanced code ("4.4.1 ...").
	 */
	IMSG_DELIVERD_RESULT,

	/*
	 * deliverd -> queued: this task's routing domain resolved to a
	 * site another worker owns (wire_deliverd_for() of the site's
	 * name); nothing was tried.  queued sends the task to that worker
	 * (marked final) and sends the routing domain's later tasks there
	 * directly.  peerid = task id.
	 *   u32 worker
	 */
	IMSG_DELIVERD_REDIRECT,

	/*
	 * deliverd -> keysd: what does this keysource hold?  peerid =
	 * request id.  Payload: wire_key_req (wirecodec.h): u8 want
	 * (KEY_WANT_*), then the keysource spec, field by field: u32 n
	 * (at most 64), n times string name, string value; an OAuth2
	 * keysource's nested ones as "oauth2_client_secret.key_file" ...
	 * keysd -> deliverd: IMSG_KEYSD_KEY, peerid = the request's id.
	 * Payload: wire_key_reply: u8 status (KEY_*), string fingerprint
	 * (a keyed hash of the secret: equal secrets, equal fingerprints,
	 * within one keysd's life), string secret ("" unless KEY_OK and
	 * KEY_WANT_SECRET), string error ("" when KEY_OK; else why, naming
	 * the keysource, never a secret or token).  This reply is the only
	 * frame that ever carries a secret.
	 */
	IMSG_DELIVERD_KEY,
	IMSG_KEYSD_KEY,

	/*
	 * master -> keysd: forget every cached secret (reload, petrelctl
	 * keys flush).  (none)
	 */
	IMSG_MASTER_KEYS_FLUSH,

	/*
	 * petrelctl -> queued, over run_dir/control.sock: one command.
	 *   peerid = 0.  wire_ctl (wirecodec.h): string command
	 *   ("status", "queue-summary", ...), u32 argc, argc x string.
	 * queued -> petrelctl: any number of IMSG_CTL_DATA, each one JSON
	 *   document (string): the answer, or one line of a trace; then
	 *   IMSG_CTL_END: u8 exit code (CTL_EXIT_*), string error ("" on
	 *   success).  A malformed command gets an IMSG_CTL_END with
	 *   CTL_EXIT_USAGE, or the connection is closed; never a crash.
	 */
	IMSG_CTL_COMMAND,
	IMSG_CTL_DATA,
	IMSG_CTL_END,

	/*
	 * queued -> master: a control request that petreld answers
	 *   (status, reload, keys flush, keysd's counters).
	 *   peerid = request id.  string command ("status", "reload",
	 *   "keys-flush", "keys-stats"), u32 uid (of the operator, for
	 *   the log).
	 * master -> queued: IMSG_MASTER_CTL_REPLY, peerid = request id,
	 *   u8 exit code, string json ("" without), string error.
	 * master -> keysd: IMSG_MASTER_CTL, peerid = request id, string
	 *   command ("stats").  keysd -> master: IMSG_KEYSD_CTL_REPLY,
	 *   peerid, u8 exit code, string json, string error.
	 */
	IMSG_QUEUED_CTL,
	IMSG_MASTER_CTL_REPLY,
	IMSG_MASTER_CTL,
	IMSG_KEYSD_CTL_REPLY,

	/*
	 * queued -> deliverd: a control request about destinations.
	 *   peerid = request id.  string command, string argument:
	 *   "trace" D (stream the SMTP client dialogue of routing domain
	 *   or site D until "untrace" with the same request id), "untrace"
	 *   "", "resolve" D (MX hosts, site, effective egress path), "stats"
	 *   "" (connections per site).
	 * deliverd -> queued: IMSG_DELIVERD_CTL_REPLY, peerid = request
	 *   id, u8 last (0: more follow, as for a trace), u8 exit code,
	 *   string json, string error.
	 */
	IMSG_QUEUED_CTL_DELIVERD,
	IMSG_DELIVERD_CTL_REPLY,
	/*
	 * smtpd or deliverd -> keysd: a TLS signature with a private key
	 * keysd holds (lib/tlskey.h), asked in the middle of a handshake
	 * and waited for (chan_call).  peerid = request id.
	 *   blob key id (SHA-256 of the public key), u8 op (TLSKEY_*),
	 *   u32 padding (RSA_*), blob input (a digest, or a padded block)
	 * keysd -> the asker: IMSG_KEYSD_SIGN, peerid = the request's id.
	 *   u8 status (KEY_*), blob signature, string error
	 * smtpd may use only [smtpd] tls_private_key, deliverd only the
	 * keys of the egress paths it asked for (KEY_WANT_TLS).
	 */
	IMSG_WORKER_SIGN,
	IMSG_KEYSD_SIGN,
	/*
	 * master -> keysd: smtpd's key ([smtpd] tls_private_key), read by
	 * petreld at start and on reload (it may be readable by root
	 * only), checked against the certificate already.  keysd keeps the
	 * one before as well, for smtp servers that still serve with it.
	 *   string file (for the log), string PEM (a secret: m_wipe)
	 */
	IMSG_MASTER_TLS_KEY,

	IMSG_TYPE_MAX
};

/*
 * The frame types that may carry a descriptor.  A descriptor on any
 * other frame is closed and the frame refused as a protocol error.
 */
static inline int
wire_takes_fd(int type)
{
	return type == IMSG_MASTER_PEER || type == IMSG_QUEUED_MSG_FD ||
	    type == IMSG_QUEUED_DELIVER;
}

/* deliverd workers at most (petreld starts no more) */
#define WIRE_MAX_DELIVERD	64

/*
 * The deliverd worker, of n, that owns a name (FNV-1a of it, case
 * folded): queued's first guess for a routing domain, and deliverd's
 * rule for a site, so that a site's connections and rates live in one
 * process.
 */
static inline int
wire_deliverd_for(const char *name, int n)
{
	uint32_t	 h = 2166136261u;

	for (; *name; name++)
		h = (h ^ (unsigned char)tolower((unsigned char)*name)) *
		    16777619u;
	return n > 1 ? (int)(h % (uint32_t)n) : 0;
}

enum peer_kind {
	PEER_QUEUED = 1,
	PEER_SMTPD,
	PEER_DELIVERD,
	PEER_KEYSD,
};

enum key_want {
	KEY_WANT_SECRET = 1,	/* the secret and its fingerprint */
	KEY_WANT_FINGERPRINT,	/* only the fingerprint (has it changed?) */
	/*
	 * A client certificate: the request's keysource is tls_certificate,
	 * a second one tls_private_key; the reply's secret is the chain
	 * (PEM) and its fingerprint the key's id in hex, for IMSG_WORKER_SIGN.
	 */
	KEY_WANT_TLS,
};

enum key_status {
	KEY_OK = 0,
	KEY_FAILED,		/* an error or a refusal: see the text */
};

/* petrelctl's exit codes, which the control replies carry */
enum ctl_exit {
	CTL_EXIT_OK = 0,
	CTL_EXIT_NOTFOUND = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_UNREACHABLE = 3,	/* petrel (or a part of it) did not answer */
};

#define CTL_MAX_ARGS	64

enum rcpt_status {
	RCPT_DELIVERED = 0,
	RCPT_TEMPFAIL,
	RCPT_PERMFAIL,
	RCPT_NOTTRIED,	/* deliverd stopped before trying: no attempt */
};

#endif
