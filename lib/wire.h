/*
 * wire.h - every message that crosses a process boundary, in one place.
 *
 * Edges of the process graph (one socketpair each, made by petreld):
 *	master <-> smtpd[i], master <-> queued, smtpd[i] <-> queued
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
	 * master -> smtpd, master -> queued: a new smtpd<->queued channel
	 * (fd).  Sent to smtpd at start and whenever queued is restarted,
	 * to queued whenever an smtpd worker is (re)started.
	 * u32 worker index.
	 */
	IMSG_MASTER_PEER,

	/* master -> child: stop accepting work and exit when idle. (none) */
	IMSG_MASTER_SHUTDOWN,

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
	 *   string body ("7BIT" or "8BITMIME"), u64 size, i64 arrival,
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

	IMSG_TYPE_MAX
};

#endif
