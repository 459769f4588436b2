#!/usr/bin/python3
"""oauth2srv.py - a strict OAuth 2.0 token endpoint (RFC 6749) for keysd's
tests: the client-credentials and refresh-token grants.

    oauth2srv.py --dir DIR [--listen 127.0.0.1:0] [--cert CRT --key KEY]
                 --client-id ID --client-secret-file FILE
                 [--refresh-token-file FILE] [--rotate]
                 [--expires-in N] [--client-auth basic|body|any]

POST /token, application/x-www-form-urlencoded, as RFC 6749 3.2 and 4.4 /
6 say:
  grant_type=client_credentials[&scope=S]
  grant_type=refresh_token&refresh_token=R[&scope=S]
client authentication (2.3.1) by HTTP Basic (form-encoded id:secret) or
by client_id and client_secret in the body, never both (invalid_request);
--client-auth restricts it.  A public client (no secret) is refused.

  200 {"access_token": "at-<hex>", "token_type": "Bearer",
       "expires_in": N[, "refresh_token": R'][, "scope": S]}
       Cache-Control: no-store, Pragma: no-cache
  400 {"error": "invalid_request" | "invalid_grant" | "unsupported_grant_type"
       | "invalid_client", "error_description": ...}
  401 {"error": "invalid_client", ...} with WWW-Authenticate: Basic when
       Basic was tried (5.2)
  and DIR/fail holding a status (500, 503) answers that, for outages.

expires_in is DIR/expires_in when that file exists (read at each
request), else --expires-in (3600).  The client secret is re-read from
its file at each request.  The refresh tokens that are valid are
DIR/refresh_tokens (the file given seeds it); with --rotate every
refresh-token grant returns a new one and the old one stops working.
Each access token issued is appended to DIR/tokens as "TOKEN EXPIRY"
(epoch seconds): authrelay.py --bearer-check DIR/tokens accepts them.

Every request is appended to DIR/requests.jsonl: {"time", "method", "path",
"grant_type", "client_auth": "basic"|"body"|"none", "client_id",
"scope", "status", "error"} - never a secret, refresh token or access
token.  Readiness: DIR/port, then DIR/ready."""
import argparse
import base64
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--dir", required=True)
ap.add_argument("--listen", default="127.0.0.1:0")
ap.add_argument("--cert")
ap.add_argument("--key")
ap.add_argument("--client-id", required=True)
ap.add_argument("--client-secret-file", required=True)
ap.add_argument("--refresh-token-file")
ap.add_argument("--rotate", action="store_true")
ap.add_argument("--expires-in", type=int, default=3600)
ap.add_argument("--client-auth", default="any", choices=("basic", "body", "any"))
opts = ap.parse_args()

lock = threading.RLock()
D = opts.dir


def path(name):
    return os.path.join(D, name)


def read(name, default=None):
    try:
        with open(name) as f:
            return f.read().strip()
    except OSError:
        return default


def refresh_tokens():
    return set((read(path("refresh_tokens"), "") or "").split())


def write_refresh_tokens(toks):
    with open(path("refresh_tokens") + ".tmp", "w") as f:
        f.write("".join(t + "\n" for t in sorted(toks)))
    os.rename(path("refresh_tokens") + ".tmp", path("refresh_tokens"))


if opts.refresh_token_file and not os.path.exists(path("refresh_tokens")):
    write_refresh_tokens({read(opts.refresh_token_file)})


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, obj, rec, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Pragma", "no-cache")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        rec["status"] = status
        rec["error"] = obj.get("error")
        with lock, open(path("requests.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")

    def error(self, status, code, desc, rec, basic=False):
        self.answer(status, {"error": code, "error_description": desc}, rec,
                    [("WWW-Authenticate", 'Basic realm="oauth2srv"')]
                    if basic else ())

    def do_GET(self):
        rec = {"time": time.time(), "method": "GET", "path": self.path,
               "grant_type": None, "client_auth": "none", "client_id": None,
               "scope": None}
        self.error(405, "invalid_request", "use POST", rec)

    def do_POST(self):
        rec = {"time": time.time(), "method": "POST", "path": self.path,
               "grant_type": None, "client_auth": "none", "client_id": None,
               "scope": None}
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if self.path != "/token":
            return self.error(404, "invalid_request", "no such endpoint", rec)
        fail = read(path("fail"))
        if fail:
            return self.answer(int(fail), {"error": "server_error"}, rec)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/x-www-form-urlencoded":
            return self.error(400, "invalid_request",
                              "expected application/x-www-form-urlencoded", rec)
        try:
            form = urllib.parse.parse_qs(raw.decode("ascii"), keep_blank_values=True,
                                         strict_parsing=bool(raw))
        except (ValueError, UnicodeDecodeError):
            return self.error(400, "invalid_request", "malformed form", rec)
        if any(len(v) > 1 for v in form.values()):
            return self.error(400, "invalid_request", "a parameter repeated", rec)
        form = {k: v[0] for k, v in form.items()}
        rec["grant_type"] = form.get("grant_type")
        rec["scope"] = form.get("scope")
        auth = self.headers.get("Authorization")
        basic = auth is not None
        if basic and "client_secret" in form:
            return self.error(400, "invalid_request",
                              "more than one client authentication", rec)
        if basic:
            rec["client_auth"] = "basic"
            try:
                scheme, _, b = auth.partition(" ")
                assert scheme.lower() == "basic"
                cid, _, sec = base64.b64decode(b, validate=True).decode().partition(":")
                cid = urllib.parse.unquote_plus(cid)
                sec = urllib.parse.unquote_plus(sec)
            except Exception:
                return self.error(401, "invalid_client", "bad Basic header", rec, True)
        elif "client_secret" in form:
            rec["client_auth"] = "body"
            cid, sec = form.get("client_id"), form["client_secret"]
        else:
            rec["client_id"] = form.get("client_id")
            return self.error(401, "invalid_client", "client authentication failed",
                              rec)
        rec["client_id"] = cid
        if opts.client_auth != "any" and rec["client_auth"] != opts.client_auth:
            return self.error(401 if basic else 400, "invalid_client",
                              "use %s client authentication" % opts.client_auth,
                              rec, basic)
        if cid != opts.client_id or sec != read(opts.client_secret_file):
            return self.error(401 if basic else 400, "invalid_client",
                              "client authentication failed", rec, basic)
        g = form.get("grant_type")
        if g is None:
            return self.error(400, "invalid_request", "grant_type missing", rec)
        new_rt = None
        with lock:
            if g == "refresh_token":
                rt = form.get("refresh_token")
                if not rt:
                    return self.error(400, "invalid_request",
                                      "refresh_token missing", rec)
                toks = refresh_tokens()
                if rt not in toks:
                    return self.error(400, "invalid_grant",
                                      "the refresh token is invalid or expired", rec)
                if opts.rotate:
                    new_rt = "rt-" + secrets.token_hex(16)
                    toks.discard(rt)
                    toks.add(new_rt)
                    write_refresh_tokens(toks)
            elif g != "client_credentials":
                return self.error(400, "unsupported_grant_type",
                                  "grant_type %s is not supported" % g, rec)
            exp = int(read(path("expires_in"), opts.expires_in))
            tok = "at-" + secrets.token_hex(16)
            with open(path("tokens"), "a") as f:
                f.write("%s %.3f\n" % (tok, time.time() + exp))
        out = {"access_token": tok, "token_type": "Bearer", "expires_in": exp}
        if new_rt:
            out["refresh_token"] = new_rt
        if form.get("scope"):
            out["scope"] = form["scope"]
        self.answer(200, out, rec)


host, _, port = opts.listen.rpartition(":")
srv = ThreadingHTTPServer((host.strip("[]"), int(port)), H)
if opts.cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(path("port"), "w") as f:
    f.write("%d\n" % srv.server_address[1])
open(path("ready"), "w").close()
print("ready %d" % srv.server_address[1])
sys.stdout.flush()
srv.serve_forever()
