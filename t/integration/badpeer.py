#!/usr/bin/python3
"""badpeer.py HOST[,HOST...] PORT DIR MODE - an SMTP server that
misbehaves on purpose, for deliverd's tests.  MODE:
  connlimit  at most 2 sessions at once; a third gets 421 at the banner
  idlejunk   after each accepted message, a garbage line on the session
  dot354     answers 354 (not 250) to the final dot
  mail421    answers 421 to MAIL (and then closes)
  data250    answers 250 (not 354) to DATA
  data554    answers 554 to DATA
  mailtwice  answers MAIL twice (no PIPELINING offered, so the replies
             shift: RCPT gets MAIL's second, DATA gets RCPT's 250)
  earlydot   after 354 reads one line of text, answers 250 at once (a
             naive hop that ended DATA early), then reads no more
  dotextra   answers the final dot twice
  badcont    answers RCPT "250-..." then "251 ..." (the code changes)
  evilbanner a 554 banner whose text tries to forge log fields
  slowread   reads the text 64 KiB at a time, pausing 20 ms between
  slow       answers the final dot after half a second
  stall      after 354 reads nothing more
  plain      offers no extension at all
  utf8       offers 8BITMIME and SMTPUTF8
The others offer 8BITMIME only.  Accepted messages are counted in
DIR/count; DIR/ready when listening; DIR/log has one line per session
event and every MAIL and RCPT command as received ("cmd MAIL FROM:<...>
..."); DIR/events has "start|mail|354|dot|end TIME" lines; DIR/maxactive the
most sessions open at once (on all addresses together)."""
import asyncio
import os
import sys
import time

hosts, port, outdir, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
active = [0]
maxactive = [0]
count = [0]
log = open(os.path.join(outdir, "log"), "a", buffering=1)
events = open(os.path.join(outdir, "events"), "a", buffering=1)
EVIL = b'554 5.7.1 no " event=Delivery rcpt=<x>\x01 here\r\n'


def stored():
    count[0] += 1
    with open(os.path.join(outdir, "count"), "w") as f:
        f.write("%d\n" % count[0])


async def read_text(reader, writer):
    """The message text up to the final dot; the way the mode says."""
    if mode == "earlydot":
        await reader.readline()
        writer.write(b"250 2.0.0 stored (early)\r\n")
        await writer.drain()
        log.write("early\n")
        await asyncio.sleep(3600)
    if mode == "stall":
        await asyncio.sleep(3600)
    if mode == "slowread":
        tail = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return False
            tail = (tail + chunk)[-5:]
            if tail == b"\r\n.\r\n":
                return True
            await asyncio.sleep(0.02)
    while True:
        l = await reader.readline()
        if not l:
            return False
        if l == b".\r\n":
            return True


async def session(reader, writer):
    if mode == "connlimit" and active[0] >= 2:
        log.write("refused\n")
        writer.write(b"421 4.7.0 too many connections from you\r\n")
        await writer.drain()
        writer.close()
        return
    active[0] += 1
    if active[0] > maxactive[0]:
        maxactive[0] = active[0]
        with open(os.path.join(outdir, "maxactive"), "w") as f:
            f.write("%d\n" % maxactive[0])
    log.write("session\n")
    events.write("start %f\n" % time.time())
    try:
        if mode == "evilbanner":
            writer.write(EVIL)
            await writer.drain()
            return
        writer.write(b"220 bad.test ESMTP\r\n")
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = line.decode("utf-8", "replace").strip()
            ucmd = cmd.upper()
            if ucmd.startswith("EHLO"):
                if mode == "plain":
                    writer.write(b"250 bad.test\r\n")
                elif mode == "utf8":
                    writer.write(b"250-bad.test\r\n250-8BITMIME\r\n"
                                 b"250 SMTPUTF8\r\n")
                else:
                    writer.write(b"250-bad.test\r\n250 8BITMIME\r\n")
            elif ucmd.startswith("RCPT") and mode == "badcont":
                log.write("cmd %s\n" % cmd)
                writer.write(b"250-2.1.5 ok\r\n251 2.1.5 forwarded\r\n")
            elif ucmd.startswith("HELO") or ucmd.startswith("RSET") or \
                    ucmd.startswith("NOOP") or ucmd.startswith("RCPT"):
                if ucmd.startswith("RCPT"):
                    log.write("cmd %s\n" % cmd)
                writer.write(b"250 2.0.0 ok\r\n")
            elif ucmd.startswith("MAIL"):
                log.write("cmd %s\n" % cmd)
                events.write("mail %f\n" % time.time())
                if mode == "mail421":
                    writer.write(b"421 4.3.2 closing, come back later\r\n")
                    await writer.drain()
                    log.write("mail421\n")
                    break
                writer.write(b"250 2.1.0 ok\r\n")
                if mode == "mailtwice":
                    writer.write(b"250 2.1.0 ok again\r\n")
            elif ucmd.startswith("DATA"):
                if mode == "data250":
                    writer.write(b"250 2.0.0 ok, but where is 354?\r\n")
                    await writer.drain()
                    continue
                if mode == "data554":
                    writer.write(b"554 5.7.1 no data for you\r\n")
                    await writer.drain()
                    continue
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                events.write("354 %f\n" % time.time())
                if not await read_text(reader, writer):
                    break
                events.write("dot %f\n" % time.time())
                if mode == "slow":
                    await asyncio.sleep(0.5)
                if mode == "dot354":
                    writer.write(b"354 what?\r\n")
                else:
                    stored()
                    writer.write(b"250 2.0.0 stored\r\n")
                    if mode == "dotextra":
                        writer.write(b"250 2.0.0 stored again\r\n")
                    if mode == "idlejunk":
                        await writer.drain()
                        await asyncio.sleep(0.2)
                        writer.write(b"garbage line\r\n")
                        log.write("junk\n")
            elif ucmd.startswith("QUIT"):
                log.write("quit\n")
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"500 what\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        active[0] -= 1
        events.write("end %f\n" % time.time())
        writer.close()


async def main():
    servers = [await asyncio.start_server(session, h, port)
               for h in hosts.split(",")]
    open(os.path.join(outdir, "ready"), "w").close()
    await asyncio.gather(*(s.serve_forever() for s in servers))

asyncio.run(main())
