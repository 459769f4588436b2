#!/usr/bin/python3
"""authrelay.py - a small SMTP relay that demands STARTTLS and AUTH, on
aiosmtpd: the next hop of `./quickstart run`'s demo, and a peer for tests.

    authrelay.py --listen 127.0.0.1:2526 --cert CRT --key KEY
                 [--user scott --password tiger] [--mechs "PLAIN LOGIN"]
                 [--no-tls] [--dir DIR]

AUTH is offered only after STARTTLS (aiosmtpd's auth_require_tls), with the
mechanisms --mechs names (PLAIN, LOGIN or both); MAIL before a good AUTH
gets 530, a wrong login 535.  --no-tls offers no STARTTLS and AUTH in
clear text instead (for a client's "no AUTH without TLS" gate).  The
password may also come from the environment (AUTHRELAY_PASSWORD) or a file
(--password-file), to keep it off the command line.

It prints, unbuffered, one line a session event and each message:
  authrelay: listening on HOST:PORT (...)       once it is ready
  AUTH PLAIN as scott: ok | failed              each AUTH attempt
  ----- message N from <a> to <b> -----
  <the message as received>
  authenticated as scott
With --dir, each message is also written to DIR/N.eml and DIR/ready is
created once it listens."""
import argparse
import logging
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--listen", default="127.0.0.1:2526")
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--user", default="scott")
ap.add_argument("--password", default=os.environ.get("AUTHRELAY_PASSWORD", "tiger"))
ap.add_argument("--password-file")
ap.add_argument("--mechs", default="PLAIN LOGIN")
ap.add_argument("--no-tls", action="store_true")
ap.add_argument("--dir")
ap.add_argument("--hostname", default="authrelay.localdomain")
opts = ap.parse_args()
if opts.password_file:
    with open(opts.password_file) as f:
        opts.password = f.read().rstrip("\n")
mechs = [m.upper() for m in opts.mechs.replace(",", " ").split()]
if not mechs or any(m not in ("PLAIN", "LOGIN") for m in mechs):
    ap.error("--mechs: PLAIN and/or LOGIN")
if not opts.no_tls and not (opts.cert and opts.key):
    ap.error("--cert and --key are needed (or --no-tls)")

host, _, port = opts.listen.rpartition(":")
host = host.strip("[]")
count = [0]


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def authenticator(server, session, envelope, mechanism, auth_data):
    login = auth_data.login.decode("utf-8", "replace")
    good = (login == opts.user and
            auth_data.password == opts.password.encode())
    say("AUTH %s as %s: %s" % (mechanism, login, "ok" if good else "failed"))
    if not good:    # handled=False: aiosmtpd answers 535 itself
        return AuthResult(success=False, handled=False)
    return AuthResult(success=True, auth_data=login)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        count[0] += 1
        text = envelope.original_content.decode("utf-8", "replace")
        text = text.replace("\r\n", "\n")
        say("----- message %d from <%s> to %s -----" % (
            count[0], envelope.mail_from,
            ", ".join("<%s>" % r for r in envelope.rcpt_tos)))
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        say("authenticated as %s" % session.auth_data)
        if opts.dir:
            path = os.path.join(opts.dir, "%d.eml" % count[0])
            with open(path + ".tmp", "wb") as f:
                f.write(envelope.original_content)
            os.rename(path + ".tmp", path)
        return "250 2.0.0 Ok: queued as %d" % count[0]


tls = None
if not opts.no_tls:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(opts.cert, opts.key)


class Ctl(Controller):
    def factory(self):
        return SMTP(self.handler, hostname=opts.hostname, decode_data=False,
                    tls_context=tls, require_starttls=False,
                    auth_required=True, auth_require_tls=not opts.no_tls,
                    auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN")
                                            if m not in mechs],
                    authenticator=authenticator)


# aiosmtpd warns when AUTH is allowed without TLS: that is --no-tls's point
import warnings  # noqa: E402
warnings.filterwarnings("ignore", message=".*AUTH.*TLS.*")
# aiosmtpd 1.4 logs a deprecation of its own (Session.login_data) at each AUTH
logging.getLogger("mail.log").addFilter(
    lambda r: "login_data is deprecated" not in r.getMessage())

ctl = Ctl(Handler(), hostname=host, port=int(port))
ctl.start()
say("authrelay: listening on %s:%s (%s, AUTH %s, user %s)" % (
    host, port, "AUTH in clear text, no STARTTLS" if opts.no_tls
    else "STARTTLS, then AUTH", " ".join(mechs), opts.user))
if opts.dir:
    open(os.path.join(opts.dir, "ready"), "w").close()


def stop(signum, frame):
    ctl.stop()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
signal.pause()
