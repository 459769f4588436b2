#!/usr/bin/env python3
"""t/integration/hold.py - hold SMTP sessions open from one address.

usage: hold.py PORT SRC N DIR NAME

Opens N connections to 127.0.0.1:PORT from the address SRC, one after
the other, each waiting for its first reply line; writes those lines
to DIR/NAME.out (one a line, "none" when nothing came in 5 s), then,
if any session was let in (220), holds them all until DIR/NAME.go
exists.
"""
import os
import socket
import sys
import time

port, src, n, d, name = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                         sys.argv[4], sys.argv[5])
socks, lines = [], []
for _ in range(n):
    s = socket.socket()
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    buf = b""
    try:
        while not buf.endswith(b"\n"):
            b = s.recv(512)
            if not b:
                break
            buf += b
    except OSError:
        pass
    lines.append(buf.decode(errors="replace").strip() or "none")
    socks.append(s)
with open(os.path.join(d, name + ".tmp"), "w") as f:
    f.write("\n".join(lines) + "\n")
os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name + ".out"))
if any(l.startswith("220") for l in lines):
    while not os.path.exists(os.path.join(d, name + ".go")):
        time.sleep(0.05)
for s in socks:
    s.close()
