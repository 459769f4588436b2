#!/usr/bin/python3
"""naivesink.py HOST PORT DIR - an SMTP receiver that parses the way a
careless next hop does, for the smuggling test: input is split into
lines at every LF, and in DATA any line that is "." before its CR/LF
ends the message, whatever ended the line before it.  Whatever follows
is read as commands, so a smuggled "MAIL FROM:" after a fake end of
data shows up as a transaction of its own.

DIR/log gets "OPEN" and "CLOSE" for each connection, "MAIL <sender>"
for every MAIL command and "END" for every end of data; DIR/raw.N the
bytes of connection N.  DIR/ready is created
once the server listens."""
import os
import socketserver
import sys
import threading

host, port, outdir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
conns = [0]
log = open(os.path.join(outdir, "log"), "a", buffering=1)


def record(line):
    with lock:
        log.write(line + "\n")


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        record("OPEN")
        try:
            self.converse()
        finally:
            record("CLOSE")

    def converse(self):
        with lock:
            conns[0] += 1
            n = conns[0]
        raw = open(os.path.join(outdir, "raw.%d" % n), "wb", buffering=0)
        out = self.wfile
        out.write(b"220 naive.test ESMTP\r\n")
        indata = False
        for line in self.rfile:		# split at LF only
            raw.write(line)
            if indata:
                if line.rstrip(b"\r\n") == b".":
                    indata = False
                    record("END")
                    out.write(b"250 2.0.0 Ok\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                out.write(b"250-naive.test\r\n250-8BITMIME\r\n"
                          b"250 PIPELINING\r\n")
            elif verb == b"HELO":
                out.write(b"250 naive.test\r\n")
            elif verb == b"MAIL":
                addr = line.split(b":", 1)[-1].split(b">", 1)[0]
                record("MAIL " + addr.lstrip(b" <").decode("latin-1"))
                out.write(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                out.write(b"250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                indata = True
                out.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                out.write(b"221 2.0.0 Bye\r\n")
                break
            else:
                out.write(b"250 2.0.0 Ok\r\n")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


srv = Server((host, port), Handler)
open(os.path.join(outdir, "ready"), "w").close()
srv.serve_forever()
