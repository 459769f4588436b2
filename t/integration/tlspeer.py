#!/usr/bin/python3
"""tlspeer.py HOST PORT DIR CERT KEY MODE - an SMTP server that offers
STARTTLS and misbehaves around it, for deliverd's TLS tests.  MODE:
  junk     sends "220 2.0.0 Ready to start TLS" and, in the same write,
           a clear-text reply that must never be read as one (client
           side of CVE-2011-0411); then TLS as usual
  stall    answers STARTTLS with 220, then never answers the handshake
           (KumoMTA #539); a session that does not say STARTTLS goes on
           in clear text
  refuse   answers STARTTLS with 454
Inside TLS (or in clear text) the session takes mail as a plain server.
DIR/ready when listening; DIR/count the messages taken; DIR/log one line
per session ("session"), per TLS session ("tls VERSION"), per command
("cmd ...") and per message ("stored")."""
import os
import socketserver
import ssl
import sys
import threading
import time

host, port, outdir, cert, key, mode = sys.argv[1:7]
port = int(port)
lock = threading.Lock()
count = [0]
log = open(os.path.join(outdir, "log"), "a", buffering=1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
JUNK = b"554 5.7.1 junk after 220 read as a reply\r\n"


def note(s):
    with lock:
        log.write(s + "\n")


def stored():
    with lock:
        count[0] += 1
        with open(os.path.join(outdir, "count"), "w") as f:
            f.write("%d\n" % count[0])


class Session(socketserver.StreamRequestHandler):
    def reply(self, b):
        self.wfile.write(b)
        self.wfile.flush()

    def handle(self):
        note("session")
        self.tls = False
        self.reply(b"220 tlspeer.test ESMTP\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").strip()
            ucmd = cmd.upper()
            note("cmd %s" % cmd)
            if ucmd.startswith("EHLO"):
                ext = b"" if self.tls else b"250-STARTTLS\r\n"
                self.reply(b"250-tlspeer.test\r\n" + ext +
                           b"250 8BITMIME\r\n")
            elif ucmd == "STARTTLS" and not self.tls:
                if mode == "refuse":
                    self.reply(b"454 4.7.0 TLS not available now\r\n")
                    continue
                if mode == "stall":
                    self.reply(b"220 2.0.0 Ready to start TLS\r\n")
                    time.sleep(3600)
                    return
                # one write: the junk rides in the 220's packet
                self.connection.sendall(b"220 2.0.0 Ready to start TLS\r\n"
                                        + JUNK)
                s = ctx.wrap_socket(self.connection, server_side=True)
                note("tls %s" % s.version())
                self.connection = s
                self.rfile = s.makefile("rb")
                self.wfile = s.makefile("wb")
                self.tls = True
            elif ucmd.startswith(("MAIL", "RCPT", "RSET", "HELO", "NOOP")):
                self.reply(b"250 2.0.0 ok\r\n")
            elif ucmd == "DATA":
                self.reply(b"354 go ahead\r\n")
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                stored()
                note("stored")
                self.reply(b"250 2.0.0 stored\r\n")
            elif ucmd == "QUIT":
                self.reply(b"221 2.0.0 bye\r\n")
                return
            else:
                self.reply(b"502 5.5.2 what\r\n")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


srv = Server((host, port), Session)
open(os.path.join(outdir, "ready"), "w").close()
srv.serve_forever()
