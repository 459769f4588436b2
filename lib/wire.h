/*
 * wire.h - every message that crosses a process boundary, in one place.
 *
 * Edges of the process graph (one socketpair each, made by petreld):
 *	master <-> smtpd[i], master <-> queued, master <-> deliverd[j],
 *	smtpd[i] <-> queued, deliverd[j] <-> queued
 *
 * Payloads are built with m_add_*() in the order listed and read back
 * with m_get_*() in the same order; anything else is a protocol error.
 */
#ifndef PETREL_WIRE_H
#define PETREL_WIRE_H

enum imsg_type {
	IMSG_NONE = 0,

	/* child -> master: set up, privileges dropped, serving.  (none) */
	IMSG_CHILD_READY,

	/*
	 * master -> child: a new channel (fd) to a peer.  To smtpd and
	 * deliverd: their channel to queued, at start and whenever queued
	 * is restarted.  To queued: a channel to smtpd[index] or
	 * deliverd[index] whenever that one is (re)started.
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
	 *   u32 nrcpt, nrcpt x string rcpt
	 */
	IMSG_QUEUED_DELIVER,

	/*
	 * deliverd -> queued: the outcome, recipient by recipient, in the
	 * order of the task.  peerid = task id.
	 *   string relay ("host[ip]:port" or ""), string tls ("" or
	 *   "TLSv1.3"), u32 nrcpt, nrcpt x (u8 RCPT_*, string response)
	 * The response is the SMTP reply that decided ("550 5.1.1 ...")
	 * or petrel's own reason with an enhanced code ("4.4.1 ...").
	 */
	IMSG_DELIVERD_RESULT,

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

enum peer_kind {
	PEER_QUEUED = 1,
	PEER_SMTPD,
	PEER_DELIVERD,
};

enum rcpt_status {
	RCPT_DELIVERED = 0,
	RCPT_TEMPFAIL,
	RCPT_PERMFAIL,
	RCPT_NOTTRIED,	/* deliverd stopped before trying: no attempt */
};

#endif
