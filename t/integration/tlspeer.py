#!/usr/bin/python3
"""tlspeer.py HOST[,HOST...] PORT DIR CERT KEY MODE [CAFILE] - an SMTP
server that offers STARTTLS and misbehaves around it, or insists on a
client certificate, for deliverd's TLS tests.  It listens on PORT of
each HOST (so that each test domain can have a host of its own).  MODE:
  junk     sends "220 2.0.0 Ready to start TLS" and, in the same write,
           a clear-text reply that must never be read as one (client
           side of CVE-2011-0411); then TLS as usual
  stall    answers STARTTLS with 220, then never answers the handshake
           (KumoMTA #539); a session that does not say STARTTLS goes on
           in clear text
  refuse   answers STARTTLS with 454
  ccert    takes no mail before STARTTLS (530), and the handshake
           requires a client certificate (ssl.CERT_REQUIRED) that
           verifies against CAFILE alone: with CAFILE the root CA and a
           leaf signed by an intermediate, the client must send the
           intermediate too
Inside TLS (or in clear text) the session takes mail as a plain server.
DIR/ready when listening; DIR/N.eml each message taken (dot-stuffing
undone) and DIR/count how many; DIR/log one line per session ("session
ADDR", the address it came in on), per TLS session ("tls VERSION", then
" cn=CN serial=SERIAL" for a verified client certificate, " on ADDR"),
per failed handshake ("tlsfail REASON on ADDR"), per command ("cmd ...")
and per message ("stored")."""
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
if mode == "ccert":
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=sys.argv[7])
JUNK = b"554 5.7.1 junk after 220 read as a reply\r\n"
NOTLS = b"530 5.7.0 Must issue a STARTTLS command first\r\n"


def note(s):
    with lock:
        log.write(s + "\n")


def stored(data):
    with lock:
        count[0] += 1
        n = count[0]
        tmp = os.path.join(outdir, "%d.eml.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(outdir, "%d.eml" % n))
        with open(os.path.join(outdir, "count"), "w") as f:
            f.write("%d\n" % n)


def subject_cn(c):
    for rdn in c.get("subject", ()):
        for k, v in rdn:
            if k == "commonName":
                return v
    return "?"


class Session(socketserver.StreamRequestHandler):
    timeout = 60

    def reply(self, b):
        self.wfile.write(b)
        self.wfile.flush()

    def starttls(self):
        """The 220 and the handshake: False when the session is over."""
        if mode == "refuse":
            self.reply(b"454 4.7.0 TLS not available now\r\n")
            return True
        if mode == "stall":
            self.reply(b"220 2.0.0 Ready to start TLS\r\n")
            time.sleep(3600)
            return False
        # junk: one write, the junk rides in the 220's packet
        self.connection.sendall(b"220 2.0.0 Ready to start TLS\r\n" +
                                (JUNK if mode == "junk" else b""))
        try:
            s = ctx.wrap_socket(self.connection, server_side=True)
        except (OSError, ssl.SSLError) as e:
            note("tlsfail %s on %s" % (e, self.addr))
            return False
        c = s.getpeercert()
        who = (" cn=%s serial=%s" % (subject_cn(c), c.get("serialNumber",
                                                          "?"))
               if c else "")
        note("tls %s%s on %s" % (s.version(), who, self.addr))
        self.connection = s
        self.rfile = s.makefile("rb")
        self.wfile = s.makefile("wb")
        self.tls = True
        return True

    def data(self):
        self.reply(b"354 go ahead\r\n")
        lines = []
        while True:
            line = self.rfile.readline()
            if not line:
                return False
            if line == b".\r\n":
                break
            lines.append(line[1:] if line.startswith(b".") else line)
        stored(b"".join(lines))
        note("stored")
        self.reply(b"250 2.0.0 stored\r\n")
        return True

    def handle(self):
        self.addr = self.connection.getsockname()[0]
        note("session %s" % self.addr)
        self.tls = False
        self.reply(b"220 tlspeer.test ESMTP\r\n")
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
            mail = ucmd.startswith(("MAIL", "RCPT")) or ucmd == "DATA"
            if mail and mode == "ccert" and not self.tls:
                self.reply(NOTLS)
            elif ucmd.startswith("EHLO"):
                ext = b"" if self.tls else b"250-STARTTLS\r\n"
                self.reply(b"250-tlspeer.test\r\n" + ext +
                           b"250 8BITMIME\r\n")
            elif ucmd == "STARTTLS" and not self.tls:
                if not self.starttls():
                    return
            elif ucmd.startswith(("MAIL", "RCPT", "RSET", "HELO", "NOOP")):
                self.reply(b"250 2.0.0 ok\r\n")
            elif ucmd == "DATA":
                if not self.data():
                    return
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
