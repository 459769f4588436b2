#!/usr/bin/python3
"""authload.py - a direct load on an SMTP server that demands STARTTLS and
AUTH, to measure the ceiling of bench/relay's AUTH receiver (smtp-source and
swaks cannot do STARTTLS + AUTH with persistent connections).

    authload.py --server 127.0.0.1:2614 --ca CA.crt --user U --password P
                [-c CONNECTIONS] [-p PROCESSES] [-n MESSAGES] [-l SIZE]

CONNECTIONS sessions (spread over PROCESSES processes, each an asyncio loop)
each connect, EHLO, STARTTLS (the certificate verified against CA.crt and
the server's address), EHLO, AUTH PLAIN once, then send messages one after
another on the same connection (MAIL, RCPT and DATA pipelined, then the
SIZE-byte body) until MESSAGES are sent in all, then QUIT: what petrel's
deliverd does with a reused connection.  Prints one line:

    authload sent=N errors=E elapsed_s=T msg_per_s=R handshake_s=H cpu_s=C

elapsed_s runs from the first MAIL to the last 250 (after every session
logged in: handshakes are not in the rate), cpu_s is this client's own CPU
(user + system, all processes).  Exit 1 on any error."""
import argparse
import asyncio
import base64
import multiprocessing
import os
import resource
import ssl
import sys
import time


def body(size):
    head = (b"From: <sender@client.bench.test>\r\n"
            b"To: <rcpt@dest.bench.test>\r\n"
            b"Subject: authload\r\n\r\n")
    line = b"x" * 78 + b"\r\n"
    out = head
    while len(out) < size:
        out += line
    return out + b".\r\n"


async def reply(r):
    """One SMTP reply (all its lines): (code, text)."""
    lines = []
    while True:
        ln = await r.readline()
        if not ln:
            raise ConnectionError("connection closed")
        lines.append(ln)
        if len(ln) < 4 or ln[3:4] != b"-":
            return int(ln[:3]), b"".join(lines)


async def expect(r, code, what):
    c, t = await reply(r)
    if c != code:
        raise RuntimeError("%s: %r" % (what, t.strip()))
    return t


async def session(a, ctx, share, start, done):
    host, port = a.server.rsplit(":", 1)
    r, w = await asyncio.open_connection(host, int(port))
    await expect(r, 220, "banner")
    w.write(b"EHLO load.bench.test\r\n")
    await expect(r, 250, "EHLO")
    w.write(b"STARTTLS\r\n")
    await expect(r, 220, "STARTTLS")
    await w.start_tls(ctx, server_hostname=host)
    w.write(b"EHLO load.bench.test\r\n")
    t = await expect(r, 250, "EHLO after STARTTLS")
    if b"AUTH" not in t or b"PLAIN" not in t:
        raise RuntimeError("no AUTH PLAIN offered after STARTTLS")
    cred = base64.b64encode(b"\0" + a.user.encode() + b"\0" +
                            a.password.encode())
    w.write(b"AUTH PLAIN " + cred + b"\r\n")
    await expect(r, 235, "AUTH")
    done.append(1)
    await start.wait()
    msg = body(a.size)
    env = (b"MAIL FROM:<sender@client.bench.test>\r\n"
           b"RCPT TO:<rcpt@dest.bench.test>\r\nDATA\r\n")
    for i in range(share):
        if i:
            w.write(b"RSET\r\n" + env)
            await expect(r, 250, "RSET")
        else:
            w.write(env)
        await expect(r, 250, "MAIL")
        await expect(r, 250, "RCPT")
        await expect(r, 354, "DATA")
        w.write(msg)
        await expect(r, 250, "end of data")
    w.write(b"QUIT\r\n")
    await reply(r)
    w.close()
    return share


async def proc_main(a, conns, total, q):
    ctx = ssl.create_default_context(cafile=a.ca)
    start = asyncio.Event()
    done = []
    shares = [total // conns + (1 if i < total % conns else 0)
              for i in range(conns)]
    t0 = time.time()
    tasks = [asyncio.create_task(session(a, ctx, s, start, done))
             for s in shares]
    while len(done) < conns:
        await asyncio.sleep(0.005)
        for t in tasks:
            if t.done() and t.exception():
                raise t.exception()
    q.put(("ready", time.time() - t0))
    # all processes start together: wait for the parent's go
    await asyncio.get_running_loop().run_in_executor(None, a.go.wait)
    start.set()
    res = await asyncio.gather(*tasks, return_exceptions=True)
    errs = [x for x in res if isinstance(x, BaseException)]
    sent = sum(x for x in res if not isinstance(x, BaseException))
    q.put(("done", sent, len(errs), str(errs[0]) if errs else ""))


def child(a, conns, total, q):
    try:
        asyncio.run(proc_main(a, conns, total, q))
    except Exception as e:
        q.put(("error", str(e)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("-c", type=int, default=20, help="connections")
    ap.add_argument("-p", type=int, default=2, help="processes")
    ap.add_argument("-n", type=int, default=5000, help="messages")
    ap.add_argument("-l", dest="size", type=int, default=4096)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()
    a.go = multiprocessing.Event()
    q = multiprocessing.Queue()
    p = max(1, min(a.p, a.c))
    procs = []
    for i in range(p):
        conns = a.c // p + (1 if i < a.c % p else 0)
        total = a.n * conns // a.c
        if i == p - 1:
            total = a.n - sum(x[1] for x in procs)
        pr = multiprocessing.Process(target=child, args=(a, conns, total, q))
        pr.start()
        procs.append((pr, total))
    hs = 0.0
    for _ in procs:
        m = q.get(timeout=a.timeout)
        if m[0] != "ready":
            print("authload error: %s" % m[1], file=sys.stderr)
            for pr, _ in procs:
                pr.terminate()
            return 1
        hs = max(hs, m[1])
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.time()
    a.go.set()
    sent = errs = 0
    first = ""
    for _ in procs:
        m = q.get(timeout=a.timeout)
        if m[0] != "done":
            print("authload error: %s" % m[1], file=sys.stderr)
            errs += 1
            continue
        sent += m[1]
        errs += m[2]
        first = first or m[3]
    t1 = time.time()
    for pr, _ in procs:
        pr.join(10)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ch.ru_utime + ch.ru_stime
    el = t1 - t0
    print("authload sent=%d errors=%d elapsed_s=%.2f msg_per_s=%.0f "
          "handshake_s=%.2f cpu_s=%.2f" % (sent, errs, el, sent / el if el
                                           else 0, hs, cpu))
    if first:
        print("authload first error: %s" % first, file=sys.stderr)
    return 1 if errs or sent != a.n else 0


if __name__ == "__main__":
    sys.exit(main())
