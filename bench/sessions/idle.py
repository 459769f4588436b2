#!/usr/bin/env python3
"""bench/sessions/idle.py - hold many idle SMTP sessions open.

usage: idle.py PORT N DIR [--ehlo] [--from-net A.B] [--trickle SECS]

Opens N connections to 127.0.0.1:PORT, each from its own loopback
source address (127.A.B.x, 127.A.B+1.x, ...: one client per address,
so no per-client limit is hit), reads the banner and, with --ehlo,
says EHLO and reads the whole reply.  Then it writes DIR/held with a
count of first replies ("220=4990 421=10") and holds the sessions
until DIR/go exists.  With --trickle SECS each session, once held,
sends one byte of "NOOP" every SECS seconds instead of idling, and
DIR/closed gets how many the server closed and after how long.
"""
import os
import selectors
import socket
import sys
import time


def main():
    args = sys.argv[1:]
    port, n, d = int(args[0]), int(args[1]), args[2]
    ehlo = "--ehlo" in args
    net = "1.0"
    trickle = 0.0
    if "--from-net" in args:
        net = args[args.index("--from-net") + 1]
    if "--trickle" in args:
        trickle = float(args[args.index("--trickle") + 1])
    a, b = (int(x) for x in net.split("."))
    sel = selectors.EpollSelector()
    state = {}      # sock -> [phase, inbuf, first]
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.bind(("127.%d.%d.%d" % (a, b + i // 250, 1 + i % 250), 0))
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_READ)
        state[s] = ["banner", b"", None]
        socks.append(s)
    pending = n
    deadline = time.time() + 60 + n / 100
    while pending and time.time() < deadline:
        for key, _ in sel.select(0.5):
            s = key.fileobj
            st = state[s]
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                st[2] = st[2] or "EOF"
                sel.unregister(s)
                pending -= 1
                continue
            st[1] += data
            if st[0] == "banner" and st[1].endswith(b"\r\n"):
                st[2] = st[1][:3].decode()
                if ehlo and st[2] == "220":
                    st[0], st[1] = "ehlo", b""
                    s.sendall(b"EHLO idle.test\r\n")
                    continue
                sel.unregister(s)
                pending -= 1
            elif st[0] == "ehlo" and b"\r\n250 " in b"\r\n" + st[1]:
                sel.unregister(s)
                pending -= 1
    counts = {}
    for s in socks:
        v = state[s][2] or "none"
        counts[v] = counts.get(v, 0) + 1
    with open(os.path.join(d, "held.tmp"), "w") as f:
        f.write(" ".join("%s=%d" % kv for kv in sorted(counts.items())) + "\n")
    os.rename(os.path.join(d, "held.tmp"), os.path.join(d, "held"))

    live = [s for s in socks if state[s][2] == "220"]
    for s in live:
        sel.register(s, selectors.EVENT_READ)
    start = time.time()
    closed = {}
    pos = 0
    nextsend = start + trickle if trickle else None
    while not os.path.exists(os.path.join(d, "go")):
        for key, _ in sel.select(0.1):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed[s] = time.time() - start
                sel.unregister(s)
        if nextsend and time.time() >= nextsend:
            c = b"NOOP"[pos % 4:pos % 4 + 1]
            pos += 1
            for s in live:
                if s not in closed:
                    try:
                        s.send(c)
                    except OSError:
                        pass
            nextsend += trickle
        if trickle:
            with open(os.path.join(d, "closed.tmp"), "w") as f:
                f.write("%d %.1f\n" % (len(closed),
                        max(closed.values()) if closed else 0))
            os.rename(os.path.join(d, "closed.tmp"),
                      os.path.join(d, "closed"))
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
