#!/usr/bin/python3
"""authrelay.py - a small SMTP relay that demands STARTTLS and AUTH, on
aiosmtpd: the next hop of `./quickstart run`'s demo, and a peer for tests.

    authrelay.py --listen 127.0.0.1:2526 --cert CRT --key KEY
                 [--user scott --password tiger] [--mechs "PLAIN LOGIN"]
                 [--no-tls] [--dir DIR]
                 [--mechs "XOAUTH2 OAUTHBEARER" --bearer-check FILE|URL]

AUTH is offered only after STARTTLS (aiosmtpd's auth_require_tls), with the
mechanisms --mechs names (PLAIN, LOGIN or both); MAIL before a good AUTH
gets 530, a wrong login 535.  --no-tls offers no STARTTLS and AUTH in
clear text instead (for a client's "no AUTH without TLS" gate).  The
password may also come from the environment (AUTHRELAY_PASSWORD) or a file
(--password-file), to keep it off the command line.

XOAUTH2 and OAUTHBEARER (RFC 7628) check the bearer token with
--bearer-check: a file of valid tokens ("TOKEN [EXPIRY-EPOCH]" a line, as
oauth2srv.py writes them; read at each AUTH) or an http URL that answers
200 to a POST of token=T (an introspection-like check).  The user must be
--user.  A bad token gets the mechanism's 334 error challenge (base64
JSON {"status":"401",...}); whatever the client answers, then 535.  The
token itself is never printed.

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
ap.add_argument("--bearer-check")
opts = ap.parse_args()
if opts.password_file:
    with open(opts.password_file) as f:
        opts.password = f.read().rstrip("\n")
mechs = [m.upper() for m in opts.mechs.replace(",", " ").split()]
ALL_MECHS = ("PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER")
if not mechs or any(m not in ALL_MECHS for m in mechs):
    ap.error("--mechs: of PLAIN, LOGIN, XOAUTH2, OAUTHBEARER")
if any(m in ("XOAUTH2", "OAUTHBEARER") for m in mechs) and not opts.bearer_check:
    ap.error("--bearer-check is needed for XOAUTH2 and OAUTHBEARER")
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


def bearer_ok(token):
    """Is token a valid access token, by --bearer-check?"""
    chk = opts.bearer_check
    if chk.startswith("http://") or chk.startswith("https://"):
        import urllib.parse
        import urllib.request
        data = urllib.parse.urlencode({"token": token}).encode()
        try:
            with urllib.request.urlopen(chk, data, timeout=5) as r:
                return r.status == 200
        except Exception:
            return False
    import time
    try:
        with open(chk) as f:
            for line in f:
                w = line.split()
                if w and w[0] == token and (len(w) < 2 or
                                            float(w[1]) > time.time()):
                    return True
    except OSError:
        pass
    return False


def parse_xoauth2(blob):
    """user=U^Aauth=Bearer T^A^A -> (U, T) or None"""
    if not blob.endswith(b"\x01\x01"):
        return None
    kv = dict(p.split(b"=", 1) for p in blob[:-2].split(b"\x01") if b"=" in p)
    auth = kv.get(b"auth", b"")
    if b"user" not in kv or not auth.startswith(b"Bearer "):
        return None
    return kv[b"user"].decode("utf-8", "replace"), auth[7:].decode("ascii", "replace")


def parse_oauthbearer(blob):
    """n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A -> (U, T) or None"""
    head, _, rest = blob.partition(b"\x01")
    gs2 = head.split(b",")
    if len(gs2) < 3 or gs2[0] not in (b"n", b"y") or not rest.endswith(b"\x01\x01"):
        return None
    user = ""
    for g in gs2[1:]:
        if g.startswith(b"a="):
            user = g[2:].replace(b"=2C", b",").replace(b"=3D", b"=").decode()
    kv = dict(p.split(b"=", 1) for p in rest[:-2].split(b"\x01") if b"=" in p)
    auth = kv.get(b"auth", b"")
    if not auth.startswith(b"Bearer ") or b"host" not in kv or b"port" not in kv:
        return None
    return user, auth[7:].decode("ascii", "replace")


async def bearer_auth(server, args, mech, parse):
    import json
    from aiosmtpd.smtp import MISSING
    if len(args) == 2:
        try:
            import base64
            blob = base64.b64decode(args[1], validate=True)
        except Exception:
            return AuthResult(success=False, handled=False)
    else:
        blob = await server.challenge_auth("")
        if blob is MISSING:
            return AuthResult(success=False, handled=True)
    got = parse(blob)
    if got is None:
        say("AUTH %s: malformed" % mech)
        return AuthResult(success=False, handled=False)
    user, token = got
    good = user == opts.user and bearer_ok(token)
    say("AUTH %s as %s: %s" % (mech, user, "ok" if good else "failed"))
    if good:
        return AuthResult(success=True, auth_data=user)
    err = {"status": "401", "schemes": "bearer"}
    if mech == "XOAUTH2":
        err["scope"] = "https://mail.example/"
    else:
        err["scope"] = "smtp"
    answer = await server.challenge_auth(json.dumps(err))
    say("AUTH %s error challenge answered: %s" % (
        mech, "empty" if answer == b"" else "%x01" if answer == b"\x01"
        else "aborted" if answer is MISSING else "other"))
    if answer is MISSING:
        return AuthResult(success=False, handled=True)
    return AuthResult(success=False, handled=False)


class Handler:
    async def auth_XOAUTH2(self, server, args):
        return await bearer_auth(server, args, "XOAUTH2", parse_xoauth2)

    async def auth_OAUTHBEARER(self, server, args):
        return await bearer_auth(server, args, "OAUTHBEARER", parse_oauthbearer)

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
                    auth_exclude_mechanism=[m for m in ALL_MECHS
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
