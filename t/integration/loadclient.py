#!/usr/bin/python3
"""loadclient.py HOST PORT N CONC OUTDIR [PREFIX]

Sends N messages (one connection each) from CONC threads, each with the
header 'Message-ID: <PREFIX-i@test>', and records what the client saw:
  OUTDIR/ack  250 after the final dot
  OUTDIR/nak  an explicit refusal, or the session died before the dot
              was sent (such a message cannot have been committed)
  OUTDIR/unk  the dot was sent but no reply came (either outcome is
              allowed: the classic duplicate window of every MTA)
one Message-ID per line."""
import os
import socket
import sys
import threading

host, port, total, conc, outdir = (sys.argv[1], int(sys.argv[2]),
                                   int(sys.argv[3]), int(sys.argv[4]),
                                   sys.argv[5])
prefix = sys.argv[6] if len(sys.argv) > 6 else "load"
lock = threading.Lock()
counter = [0]
results = {"ack": [], "nak": [], "unk": []}
body = b"".join(b"line %04d of the body, padding padding padding padding\r\n"
                % i for i in range(64))


def reply(f):
    while True:
        line = f.readline()
        if not line:
            raise ConnectionError("closed")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3])


def one(i):
    mid = "<%s-%d@test>" % (prefix, i)
    dot_sent = False
    try:
        s = socket.create_connection((host, port), 10)
        s.settimeout(20)
        f = s.makefile("rb")
        if reply(f) != 220:
            return "nak", mid
        for cmd, want in ((b"EHLO load.test", 250),
                          (b"MAIL FROM:<load@example.org>", 250),
                          (b"RCPT TO:<sink@example.net>", 250),
                          (b"DATA", 354)):
            s.sendall(cmd + b"\r\n")
            if reply(f) != want:
                return "nak", mid
        s.sendall(b"Message-ID: " + mid.encode() + b"\r\nSubject: load\r\n\r\n"
                  + body + b".\r\n")
        dot_sent = True
        code = reply(f)
        try:
            s.sendall(b"QUIT\r\n")
            s.close()
        except OSError:
            pass
        return ("ack" if code == 250 else "nak"), mid
    except (OSError, ConnectionError, ValueError):
        return ("unk" if dot_sent else "nak"), mid


def worker():
    while True:
        with lock:
            if counter[0] >= total:
                return
            counter[0] += 1
            i = counter[0]
        kind, mid = one(i)
        with lock:
            results[kind].append(mid)


threads = [threading.Thread(target=worker) for _ in range(conc)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for kind, ids in results.items():
    with open(os.path.join(outdir, kind), "w") as fp:
        fp.write("".join(m + "\n" for m in ids))
print("ack=%d nak=%d unk=%d" % tuple(len(results[k]) for k in ("ack", "nak", "unk")))
