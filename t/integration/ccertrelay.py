#!/usr/bin/python3
"""ccertrelay.py HOST[,HOST...] PORT DIR CERT KEY CAFILE - an SMTP relay
that wants a TLS client certificate, for deliverd's client-certificate
tests.  It listens on PORT of each HOST (so that each test domain can
have a host of its own).

It offers STARTTLS and takes no mail before it (530).  The handshake
requires a client certificate (ssl.CERT_REQUIRED) that verifies against
CAFILE alone: with CAFILE the root CA and the client's leaf signed by an
intermediate, the client must send the intermediate too.

DIR/ready when listening; DIR/N.eml for each message taken; DIR/count
how many; DIR/log one line per session ("session ADDR", the address it came in on), per TLS session
("tls VERSION cn=CN serial=SERIAL on ADDR", the verified client
certificate's subject CN and serial as hex), per failed handshake
("tlsfail REASON on ADDR"),
per command ("cmd ...") and per message ("stored")."""
import os
import socketserver
import ssl
import sys
import threading

host, port, outdir, cert, key, cafile = sys.argv[1:7]
port = int(port)
lock = threading.Lock()
count = [0]
log = open(os.path.join(outdir, "log"), "a", buffering=1)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(cafile=cafile)


def note(s):
    with lock:
        log.write(s + "\n")


def stored(data):
    with lock:
        count[0] += 1
        n = count[0]
        with open(os.path.join(outdir, "%d.eml.tmp" % n), "wb") as f:
            f.write(data)
        os.rename(os.path.join(outdir, "%d.eml.tmp" % n),
                  os.path.join(outdir, "%d.eml" % n))
        with open(os.path.join(outdir, "count"), "w") as f:
            f.write("%d\n" % n)


def subject_cn(cert):
    for rdn in cert.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return "?"


class Session(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, b):
        self.wfile.write(b)
        self.wfile.flush()

    def handle(self):
        self.addr = self.connection.getsockname()[0]
        note("session %s" % self.addr)
        self.tls = False
        self.reply(b"220 ccertrelay.test ESMTP\r\n")
        while True:
            try:
                line = self.rfile.readline()
            except (OSError, ssl.SSLError) as e:
                note("error %s" % e)
                return
            if not line:
                return
            cmd = line.decode("utf-8", "replace").strip()
            ucmd = cmd.upper()
            note("cmd %s" % cmd)
            if ucmd.startswith("EHLO"):
                ext = b"" if self.tls else b"250-STARTTLS\r\n"
                self.reply(b"250-ccertrelay.test\r\n" + ext +
                           b"250 8BITMIME\r\n")
            elif ucmd.startswith("HELO"):
                self.reply(b"250 ccertrelay.test\r\n")
            elif ucmd == "STARTTLS" and not self.tls:
                self.reply(b"220 2.0.0 Ready to start TLS\r\n")
                try:
                    s = ctx.wrap_socket(self.connection, server_side=True)
                except (OSError, ssl.SSLError) as e:
                    note("tlsfail %s on %s" % (e, self.addr))
                    return
                c = s.getpeercert()
                note("tls %s cn=%s serial=%s on %s" % (
                    s.version(), subject_cn(c), c.get("serialNumber", "?"),
                    self.addr))
                self.connection = s
                self.rfile = s.makefile("rb")
                self.wfile = s.makefile("wb")
                self.tls = True
            elif ucmd.startswith(("MAIL", "RCPT")) and not self.tls:
                self.reply(b"530 5.7.0 Must issue a STARTTLS command first\r\n")
            elif ucmd.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                self.reply(b"250 2.0.0 ok\r\n")
            elif ucmd == "DATA":
                if not self.tls:
                    self.reply(b"530 5.7.0 Must issue a STARTTLS command first\r\n")
                    continue
                self.reply(b"354 go ahead\r\n")
                data = []
                while True:
                    l = self.rfile.readline()
                    if not l:
                        return
                    if l == b".\r\n":
                        break
                    if l.startswith(b"."):
                        l = l[1:]
                    data.append(l)
                stored(b"".join(data))
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


servers = [Server((h, port), Session) for h in host.split(",")]
for srv in servers[1:]:
    threading.Thread(target=srv.serve_forever, daemon=True).start()
open(os.path.join(outdir, "ready"), "w").close()
servers[0].serve_forever()
