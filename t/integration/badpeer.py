#!/usr/bin/python3
"""badpeer.py HOST PORT DIR MODE - an SMTP server that misbehaves on
purpose, for deliverd's tests.  MODE:
  connlimit  at most 2 sessions at once; a third gets 421 at the banner
  idlejunk   after each accepted message, a garbage line on the session
  dot354     answers 354 (not 250) to the final dot
  mail421    answers 421 to MAIL (and then closes)
Accepted messages are counted in DIR/count; DIR/ready when listening;
DIR/log has one line per session event."""
import asyncio
import os
import sys

host, port, outdir, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
active = [0]
count = [0]
log = open(os.path.join(outdir, "log"), "a", buffering=1)


async def session(reader, writer):
    if mode == "connlimit" and active[0] >= 2:
        log.write("refused\n")
        writer.write(b"421 4.7.0 too many connections from you\r\n")
        await writer.drain()
        writer.close()
        return
    active[0] += 1
    log.write("session\n")
    try:
        writer.write(b"220 bad.test ESMTP\r\n")
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = line.decode("latin-1").strip().upper()
            if cmd.startswith("EHLO"):
                writer.write(b"250-bad.test\r\n250 8BITMIME\r\n")
            elif cmd.startswith("HELO") or cmd.startswith("RSET") or \
                    cmd.startswith("NOOP") or cmd.startswith("RCPT"):
                writer.write(b"250 2.0.0 ok\r\n")
            elif cmd.startswith("MAIL"):
                if mode == "mail421":
                    writer.write(b"421 4.3.2 closing, come back later\r\n")
                    await writer.drain()
                    log.write("mail421\n")
                    break
                writer.write(b"250 2.1.0 ok\r\n")
            elif cmd.startswith("DATA"):
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                while True:
                    l = await reader.readline()
                    if not l or l == b".\r\n":
                        break
                if mode == "dot354":
                    writer.write(b"354 what?\r\n")
                else:
                    count[0] += 1
                    with open(os.path.join(outdir, "count"), "w") as f:
                        f.write("%d\n" % count[0])
                    writer.write(b"250 2.0.0 stored\r\n")
                    if mode == "idlejunk":
                        await writer.drain()
                        await asyncio.sleep(0.2)
                        writer.write(b"garbage line\r\n")
                        log.write("junk\n")
            elif cmd.startswith("QUIT"):
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
        writer.close()


async def main():
    server = await asyncio.start_server(session, host, port)
    open(os.path.join(outdir, "ready"), "w").close()
    async with server:
        await server.serve_forever()

asyncio.run(main())
