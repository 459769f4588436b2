#!/usr/bin/python3
"""sink.py HOST PORT DIR - a scriptable SMTP receiver on aiosmtpd for
the delivery tests.  Every accepted message is written to DIR/N.eml with
its envelope as the first lines ("X-Sink-From: ...", "X-Sink-To: ...").
Recipients steer it by their local part:
  reject...      550 5.1.1 at RCPT (permanent)
  defer...       451 4.3.0 at RCPT, always (temporary)
  deferonce...   451 4.3.0 at RCPT the first time this address is seen
DIR/ready is created once the server listens; DIR/log gets one line per
command the sink answered."""
import os
import signal
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

host, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seen = set()
count = [0]
log = open(os.path.join(outdir, "log"), "a", buffering=1)


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        log.write("EHLO %s\n" % hostname)
        return responses

    async def handle_RSET(self, server, session, envelope):
        log.write("RSET\n")
        return "250 2.0.0 OK"

    async def handle_MAIL(self, server, session, envelope, address, options):
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        log.write("MAIL %s\n" % address)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        local = address.split("@")[0].lower()
        log.write("RCPT %s\n" % address)
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: no such user here" % address
        if local.startswith("deferonce"):
            if address not in seen:
                seen.add(address)
                return "451 4.3.0 <%s>: try again later" % address
        elif local.startswith("defer"):
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        count[0] += 1
        path = os.path.join(outdir, "%d.eml" % count[0])
        with open(path + ".tmp", "wb") as f:
            sender = envelope.mail_from.strip("<>")
            f.write(b"X-Sink-From: <%s>\r\n" % sender.encode())
            for r in envelope.rcpt_tos:
                f.write(b"X-Sink-To: <%s>\r\n" % r.encode())
            f.write(envelope.original_content)
        os.rename(path + ".tmp", path)
        log.write("DATA %d\n" % count[0])
        return "250 2.0.0 Ok: stored as %d" % count[0]


class Ctl(Controller):
    def factory(self):
        return SMTP(self.handler, enable_SMTPUTF8=False,
                    decode_data=False, hostname="sink.test")


ctl = Ctl(Handler(), hostname=host, port=port)
ctl.start()
open(os.path.join(outdir, "ready"), "w").close()
signal.pause()
