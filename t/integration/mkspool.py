#!/usr/bin/python3
"""mkspool.py SPOOL_DIR N PREFIX [NEXT]

Writes N committed messages into a stopped petrel's spool, as queued
leaves them (bench/queue/mkspool does the same in C, for millions):
queue/<xx>/<id>.msg with 'Message-ID: <PREFIX-i@test>', then the
envelope and the trailer line "petrel-tail <text length, 16 hex>
<envelope length, 8 hex>".  With MKSPOOL_FORMAT=old, as petrel 0.1
wrote them: the .msg holds the text alone, queue/<xx>/<id>.env the
envelope.  NEXT (seconds from now, default 0: due at once) > 0 makes
them deferred once: the envelope says attempts 1 and the mtime of the
file holding it carries queued's retry stamp (seconds: next attempt,
nanoseconds: 999000000 + attempts).  MKSPOOL_DOMAIN (example.net): the
recipients' domain."""
import os
import secrets
import sys
import time

STAMP_NSEC = 999000000

spool, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
delay = int(sys.argv[4]) if len(sys.argv) > 4 else 0
old = os.environ.get("MKSPOOL_FORMAT") == "old"
domain = os.environ.get("MKSPOOL_DOMAIN", "example.net")
now = int(time.time())
nxt = now + delay if delay > 0 else 0
for d in ["incoming", "queue", "corrupt"] + ["queue/%02x" % i
                                              for i in range(256)]:
    os.makedirs(os.path.join(spool, d), exist_ok=True)
for i in range(n):
    mid = secrets.token_hex(8)
    base = os.path.join(spool, "queue", mid[:2], mid)
    text = ("From: <a@example.org>\r\nTo: <b@example.net>\r\n"
            "Subject: queued %d\r\nMessage-ID: <%s-%d@test>\r\n\r\n"
            "a queued message\r\n" % (i, prefix, i)).encode()
    env = ("petrel-envelope 1\nid %s\narrival %d\nhelo mkspool.test\n"
           "client 127.0.0.1\nfrom a@example.org\nbody 7BIT\nsize %d\n"
           % (mid, now, len(text)))
    if nxt:
        env += "attempts 1\nnext %d\n" % nxt
    env += "rcpt b%d@%s\nend\n" % (i, domain)
    if old:
        with open(base + ".msg", "wb") as f:
            f.write(text)
        with open(base + ".env", "w") as f:
            f.write(env)
        holder = base + ".env"
    else:
        with open(base + ".msg", "wb") as f:
            f.write(text + env.encode() +
                    b"petrel-tail %016x %08x\n" % (len(text), len(env)))
        holder = base + ".msg"
    mtime = nxt * 10**9 + STAMP_NSEC + 1 if nxt else now * 10**9
    os.utime(holder, ns=(mtime, mtime))
