#!/usr/bin/python3
"""smtpchat.py HOST PORT LINE... - send each LINE (CRLF added) and print
the reply it gets, one reply per output line (multi-line replies joined
with '|').  The banner is printed first.  A LINE of the form
'@raw:TEXT' sends TEXT with Python escapes interpreted and no CRLF
added, then reads a reply; '@send:TEXT' the same without reading one; '@data:N' sends N lines of message text and
the final dot, then prints the reply; '@pipe:A|B|C' sends A, B and C in
one write and prints one reply for each; '@expect-close' prints
'CLOSED' if the server closed the connection."""
import os
import socket
import sys


def read_reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            return "CLOSED" if not lines else "|".join(lines)
        line = line.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return "|".join(lines)


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    src = os.environ.get("SRC_ADDR")
    s = socket.create_connection((host, port), 5,
                                 source_address=(src, 0) if src else None)
    s.settimeout(15)
    f = s.makefile("rb")
    print(read_reply(f), flush=True)
    for arg in sys.argv[3:]:
        if arg.startswith("@send:"):
            s.sendall(arg[6:].encode().decode("unicode_escape").encode("latin-1"))
            continue
        if arg.startswith("@raw:"):
            s.sendall(arg[5:].encode().decode("unicode_escape").encode("latin-1"))
        elif arg.startswith("@data:"):
            n = int(arg[6:])
            body = b"Subject: t\r\n\r\n" + b"".join(
                b"line %d\r\n" % i for i in range(n)) + b".\r\n"
            s.sendall(body)
        elif arg.startswith("@pipe:"):
            cmds = arg[6:].split("|")
            s.sendall("".join(c + "\r\n" for c in cmds).encode())
            for _ in cmds[:-1]:
                print(read_reply(f), flush=True)
        elif arg == "@expect-close":
            try:
                data = s.recv(1)
                print("CLOSED" if not data else "OPEN")
            except OSError:
                print("CLOSED")
            continue
        else:
            try:
                s.sendall(arg.encode("latin-1") + b"\r\n")
            except OSError:
                print("CLOSED", flush=True)
                return
        try:
            print(read_reply(f), flush=True)
        except OSError as e:
            print("ERROR %s" % e, flush=True)
            return


main()
