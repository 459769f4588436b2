#!/usr/bin/python3
"""vaultkv.py - a strict stand-in for HashiCorp Vault's KV version 2 secrets
engine, for keysd's tests (Vault itself cannot be installed here).

    vaultkv.py --dir DIR [--listen 127.0.0.1:PORT] [--token-file FILE]
               [--mount secret ...] [--cert CRT --key KEY]
    vaultkv.py --ctl URL ACTION [JSON]      (the control client, below)

It answers GET /v1/<mount>/data/<path>[?version=N] as Vault does, byte for
byte where it matters to a client (status, Content-Type, the JSON bodies):

  200  {"request_id": ..., "lease_id": "", "renewable": false,
        "lease_duration": 0, "data": {"data": {...}, "metadata":
        {"created_time", "custom_metadata": null, "deletion_time": "",
        "destroyed": false, "version": N}}, "wrap_info": null,
        "warnings": null, "auth": null}
  403  {"errors":["permission denied"]}   token missing or not accepted (also
       a namespace-bound token sent without or with another
       X-Vault-Namespace: Vault then looks the token up in the wrong
       namespace and does not find it)
  404  {"errors":[]}                      no secret at that path (or version)
  404  {"errors":["no handler for route \"M/data/P\". route entry not found."]}
                                          no such mount (as Vault answers a
                                          root token; others get 403)
  404  the whole 200 envelope with data.data null and metadata.deletion_time
       set (soft-deleted) or destroyed true (destroyed): the latest version
  503  {"errors":["Vault is sealed"]}     sealed (before any token check)
  and on demand 412, 429, 500, 502 with Vault's texts for them.

and, as Vault's AppRole auth method (mounted at auth/approle) and token
store do:

  POST /v1/auth/approle/login  {"role_id": R, "secret_id": S}
       200 {"request_id", "lease_id": "", "renewable": false,
            "lease_duration": 0, "data": null, "wrap_info": null,
            "warnings": null, "auth": {"client_token": "hvs.<24>",
            "accessor", "policies", "token_policies", "metadata":
            {"role_name"}, "lease_duration": TTL, "renewable": B,
            "entity_id", "token_type": "service", "orphan": true,
            "mfa_requirement": null, "num_uses": 0}}
       400 {"errors":["missing role_id"]}, {"errors":["invalid role or
            secret ID"]}; 404 no handler when no role is configured
  POST /v1/auth/token/renew-self  (X-Vault-Token) [{"increment": N|"Ns"}]
       200 the same auth block, lease_duration the role's TTL (or the
           increment), capped at what is left of the max TTL (with
           Vault's warning); 400 {"errors":["lease is not renewable"]}
           for a token that is not, or one without a lease (the
           --token-file token); 403 for an unknown, expired or revoked
           token
  Issued tokens expire after their lease: then every request with them
  gets 403 permission denied.

Every /v1 request is appended to DIR/requests.jsonl, one JSON object a
line: {"time", "method", "path", "query", "token": "ok"|"bad"|"missing",
"x_vault_request": true|false, "namespace": VALUE|null, "status": N}.
The token's value is never written anywhere.

Readiness: once it listens it writes DIR/port (the port, useful with
--listen 127.0.0.1:0) and then DIR/ready, and prints "ready PORT".

The test-only control interface lives outside /v1, as POST /_test/<action>
with a JSON body (answer: 200 {"ok": true, ...}, or 400 with a reason):

  secret   {"mount", "path", "data": {...}, "custom_metadata"?}
           writes a new version (mounts are created as needed)
  delete   {"mount", "path"}   soft-delete the latest version
  undelete {"mount", "path"}   undo that
  destroy  {"mount", "path"}   destroy the latest version
  remove   {"mount", "path"}   forget the secret (metadata delete)
  seal / unseal                 {}
  slow     {"seconds": N}       every /v1 answer waits N seconds first (0: off)
  fail     {"status": 429|412|500|502|503, "count": N, "path": P?}
                                the next N /v1 answers (for the request path
                                P, e.g. "/v1/secret/data/x", if given) have
                                that status
  namespace {"namespace": "ns1/team" | null}
                                tokens are bound to that namespace: a request
                                must carry exactly that X-Vault-Namespace
                                (trailing "/" ignored, as Vault does)
  token    {"token": "...", "replace": false}  accept this token too (or only it)
  clearlog {}                   empty DIR/requests.jsonl
  approle  {"role_id", "secret_id", "ttl": 3, "max_ttl": 60,
            "renewable": true, "role_name"?}
                                the AppRole role (one); TTLs in seconds;
                                tokens issued later follow it
  revoke   {}                   revoke every token issued by a login
  GET /_test/tokens             -> {"tokens": [...]} every token a login
                                issued (for tests that grep logs for them)
  GET /_test/count?path=/v1/secret/data/x  -> {"count": N} (requests so far)

--ctl URL ACTION [JSON] posts one of these and prints the answer (exit 1 on
an error), so shell tests need no curl."""
import argparse
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def ctl_main(argv):
    url, action = argv[0].rstrip("/"), argv[1]
    body = (argv[2] if len(argv) > 2 else "{}").encode()
    req = urllib.request.Request(url + "/_test/" + action, data=body,
                                 method="POST",
                                 headers={"Content-Type": "application/json"})
    ctx = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            print(r.read().decode().strip())
            return 0
    except urllib.error.HTTPError as e:
        print(e.read().decode().strip(), file=sys.stderr)
        return 1


if len(sys.argv) > 1 and sys.argv[1] == "--ctl":
    sys.exit(ctl_main(sys.argv[2:]))

ap = argparse.ArgumentParser(description="Vault KV v2 stand-in")
ap.add_argument("--listen", default="127.0.0.1:8200")
ap.add_argument("--dir", required=True)
ap.add_argument("--token-file", help="a file holding the one accepted token")
ap.add_argument("--mount", action="append", default=[],
                help="a KV v2 mount that exists from the start")
ap.add_argument("--cert")
ap.add_argument("--key")
opts = ap.parse_args()

lock = threading.Lock()
state = {
    "mounts": {m.strip("/"): {} for m in (opts.mount or ["secret"])},
    "tokens": set(),
    "sealed": False,
    "slow": 0.0,
    "fail": [],            # (status, path or None) for the next answers
    "namespace": None,
    "role": None,          # the AppRole role: role_id, secret_id, ttl, ...
    "leases": {},          # issued token -> its lease
    "issued": [],          # every token a login issued
}
if opts.token_file:
    with open(opts.token_file) as f:
        state["tokens"].add(f.read().strip())
logf = open(os.path.join(opts.dir, "requests.jsonl"), "a", buffering=1)


def now():
    # Vault's timestamps: RFC 3339 with nanoseconds, UTC, "Z"
    t = time.time_ns()
    return (datetime.fromtimestamp(t // 10**9, timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (t % 10**9))


def envelope(data):
    return {"request_id": str(uuid.uuid4()), "lease_id": "",
            "renewable": False, "lease_duration": 0, "data": data,
            "wrap_info": None, "warnings": None, "auth": None}


def metadata(v):
    return {"created_time": v["created_time"],
            "custom_metadata": v["custom_metadata"],
            "deletion_time": v["deletion_time"],
            "destroyed": v["destroyed"], "version": v["version"]}


FAIL_TEXT = {
    412: "required index state not present",
    429: None,          # filled in with the path, as Vault's quota error
    500: "internal error",
    502: "bad gateway",
    503: "Vault is sealed",
}


def token_ok(token):
    """Is this token good now (a --token-file one, or a live lease)?"""
    if not token:
        return False
    if token in state["tokens"]:
        return True
    le = state["leases"].get(token)
    if le is None:
        return False
    if time.time() >= le["expires"]:
        # expired tokens are revoked, as Vault's expiration manager does
        del state["leases"][token]
        return False
    return True


def new_token():
    alphabet = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                "0123456789")
    raw = os.urandom(24)
    return "hvs." + "".join(alphabet[b % len(alphabet)] for b in raw)


def auth_block(token, le, ttl):
    return {"client_token": token, "accessor": le["accessor"],
            "policies": ["default", "petrel"],
            "token_policies": ["default", "petrel"],
            "metadata": {"role_name": le["role_name"]},
            "lease_duration": ttl, "renewable": le["renewable"],
            "entity_id": le["entity_id"], "token_type": "service",
            "orphan": True, "mfa_requirement": None, "num_uses": 0}


def duration(v):
    """An increment: seconds as a number, or "30s", "5m", "1h"."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return int(v)
    v = str(v).strip()
    mult = {"s": 1, "m": 60, "h": 3600}
    if v and v[-1] in mult:
        return int(v[:-1]) * mult[v[-1]]
    return int(v)


def norm_ns(ns):
    if ns is None:
        return None
    ns = ns.strip().strip("/")
    return ns or None


class Handler(BaseHTTPRequestHandler):
    server_version = ""
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def version_string(self):
        return ""

    def send_json(self, status, obj):
        body = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        self.send_response(status)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Type", "application/json")
        self.send_header("Strict-Transport-Security",
                         "max-age=31536000; includeSubDomains")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # ------------------------------------------------------------ Vault
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path.startswith("/_test/"):
            return self.control_get(u)
        if not u.path.startswith("/v1/"):
            return self.send_json(404, {"errors": []})
        token = self.headers.get("X-Vault-Token")
        ns = self.headers.get("X-Vault-Namespace")
        with lock:
            slow = state["slow"]
        if slow > 0:
            time.sleep(slow)
        status, obj = self.answer(u, token, ns)
        entry = {"time": time.time(), "method": "GET", "path": u.path,
                 "query": u.query,
                 "token": ("missing" if not token else
                           "ok" if token_ok(token) else "bad"),
                 "x_vault_request": self.headers.get("X-Vault-Request") is not None,
                 "namespace": ns, "status": status}
        with lock:
            logf.write(json.dumps(entry) + "\n")
        self.send_json(status, obj)

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path.startswith("/_test/"):
            return self.control(u)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        token = self.headers.get("X-Vault-Token")
        ns = self.headers.get("X-Vault-Namespace")
        with lock:
            slow = state["slow"]
        if slow > 0:
            time.sleep(slow)
        with lock:
            # the check before the answer: a renewal may not revive it
            tstate = ("missing" if not token else
                      "ok" if token_ok(token) else "bad")
            status, obj = self.answer_post(u, token, raw)
        entry = {"time": time.time(), "method": "POST", "path": u.path,
                 "query": u.query, "token": tstate,
                 "x_vault_request": self.headers.get("X-Vault-Request") is not None,
                 "namespace": ns, "status": status}
        with lock:
            logf.write(json.dumps(entry) + "\n")
        self.send_json(status, obj)

    def answer_post(self, u, token, raw):
        """POSTs under the lock: AppRole login and renew-self."""
        rest = u.path[len("/v1/"):] if u.path.startswith("/v1/") else None
        if rest is None:
            return 404, {"errors": []}
        if state["sealed"]:
            return 503, {"errors": ["Vault is sealed"]}
        st = next((f for f in state["fail"]
                   if f[1] is None or f[1] == u.path), None)
        if st is not None:
            state["fail"].remove(st)
            st = st[0]
            text = FAIL_TEXT.get(st) or (
                'request path "%s": rate limit quota exceeded' % rest)
            return st, {"errors": [text]}
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return 400, {"errors": ["failed to parse JSON input: invalid "
                                    "character looking for beginning of "
                                    "value"]}
        if not isinstance(body, dict):
            return 400, {"errors": ["failed to parse JSON input: json: "
                                    "cannot unmarshal into Go value of "
                                    "type map[string]interface {}"]}
        if rest == "auth/approle/login":
            role = state["role"]
            if role is None:
                return 404, {"errors": ['no handler for route "%s". route '
                                        'entry not found.' % rest]}
            rid, sid = body.get("role_id"), body.get("secret_id")
            if not rid:
                return 400, {"errors": ["missing role_id"]}
            if rid != role["role_id"] or sid != role["secret_id"]:
                return 400, {"errors": ["invalid role or secret ID"]}
            tok = new_token()
            ttl = int(role["ttl"])
            now_ = time.time()
            le = {"expires": now_ + ttl, "max_end": now_ + int(role["max_ttl"]),
                  "renewable": bool(role["renewable"]), "ttl": ttl,
                  "accessor": new_token()[4:], "role_name": role["role_name"],
                  "entity_id": str(uuid.uuid4())}
            state["leases"][tok] = le
            state["issued"].append(tok)
            out = envelope(None)
            out["auth"] = auth_block(tok, le, ttl)
            return 200, out
        if rest == "auth/token/renew-self":
            if not token_ok(token):
                return 403, {"errors": ["permission denied"]}
            le = state["leases"].get(token)
            if le is None or not le["renewable"]:
                return 400, {"errors": ["lease is not renewable"]}
            want = le["ttl"]
            if body.get("increment") not in (None, "", 0):
                try:
                    want = duration(body["increment"])
                except ValueError:
                    return 400, {"errors": ["invalid increment"]}
            now_ = time.time()
            left = int(le["max_end"] - now_)
            warnings = None
            ttl = want
            if ttl > left:
                ttl = max(left, 0)
                warnings = ['TTL of "%ds" exceeded the effective max_ttl of '
                            '"%ds"; TTL value is capped accordingly'
                            % (want, ttl)]
            le["expires"] = now_ + ttl
            out = envelope(None)
            out["warnings"] = warnings
            out["auth"] = auth_block(token, le, ttl)
            return 200, out
        # Vault itself would write a secret here; tests use /_test/secret
        return 405, {"errors": ["1 error occurred:\n\t* unsupported operation\n\n"]}

    def answer(self, u, token, ns):
        rest = u.path[len("/v1/"):]
        with lock:
            if state["sealed"]:
                return 503, {"errors": ["Vault is sealed"]}
            st = next((f for f in state["fail"]
                       if f[1] is None or f[1] == u.path), None)
            if st is not None:
                state["fail"].remove(st)
                st = st[0]
                text = FAIL_TEXT.get(st) or (
                    'request path "%s": rate limit quota exceeded' % rest)
                return st, {"errors": [text]}
            if not token_ok(token):
                return 403, {"errors": ["permission denied"]}
            if norm_ns(ns) != state["namespace"]:
                # the token lives in state["namespace"]; looked up anywhere
                # else it does not exist
                return 403, {"errors": ["permission denied"]}
            mount, sep, after = rest.partition("/data/")
            if not sep or mount not in state["mounts"]:
                return 404, {"errors": ['no handler for route "%s". route '
                                        'entry not found.' % rest]}
            path = after.strip("/")
            versions = state["mounts"][mount].get(path)
            if not versions:
                return 404, {"errors": []}
            q = urllib.parse.parse_qs(u.query)
            want = q.get("version", ["0"])[0]
            try:
                want = int(want)
            except ValueError:
                return 400, {"errors": ["error converting input %s for field "
                                        "\"version\": strconv.ParseInt: "
                                        "parsing \"%s\": invalid syntax"
                                        % (want, want)]}
            v = versions[-1] if want == 0 else next(
                (x for x in versions if x["version"] == want), None)
            if v is None:
                return 404, {"errors": []}
            md = metadata(v)
            if v["deletion_time"] or v["destroyed"]:
                return 404, envelope({"data": None, "metadata": md})
            return 200, envelope({"data": v["data"], "metadata": md})

    # ---------------------------------------------------------- control
    def control_get(self, u):
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/_test/tokens":
            with lock:
                return self.send_json(200, {"tokens": list(state["issued"])})
        if u.path == "/_test/count":
            want = q.get("path", [None])[0]
            n = 0
            with lock, open(logf.name) as f:
                for line in f:
                    if want is None or json.loads(line)["path"] == want:
                        n += 1
            return self.send_json(200, {"count": n})
        self.send_json(404, {"error": "no such control"})

    def control(self, u):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            arg = json.loads(self.rfile.read(n) or b"{}")
        except ValueError as e:
            return self.send_json(400, {"error": "bad JSON: %s" % e})
        action = u.path[len("/_test/"):]
        try:
            with lock:
                extra = self.act(action, arg)
        except (KeyError, TypeError, ValueError) as e:
            return self.send_json(400, {"error": "%s: %r" % (action, e)})
        out = {"ok": True}
        out.update(extra or {})
        self.send_json(200, out)

    def act(self, action, arg):
        def versions(create=False):
            mount = arg["mount"].strip("/")
            if create:
                state["mounts"].setdefault(mount, {})
            vs = state["mounts"][mount].setdefault(arg["path"].strip("/"), [])
            if not vs and not create:
                raise KeyError("no secret at %s/%s" % (mount, arg["path"]))
            return vs

        if action == "secret":
            if not isinstance(arg["data"], dict):
                raise TypeError("data must be an object")
            vs = versions(create=True)
            vs.append({"data": arg["data"], "created_time": now(),
                       "custom_metadata": arg.get("custom_metadata"),
                       "deletion_time": "", "destroyed": False,
                       "version": len(vs) + 1})
            return {"version": len(vs)}
        if action == "delete":
            versions()[-1]["deletion_time"] = now()
        elif action == "undelete":
            versions()[-1]["deletion_time"] = ""
        elif action == "destroy":
            v = versions()[-1]
            v["destroyed"] = True
            v["data"] = None
        elif action == "remove":
            state["mounts"][arg["mount"].strip("/")].pop(arg["path"].strip("/"))
        elif action == "seal":
            state["sealed"] = True
        elif action == "unseal":
            state["sealed"] = False
        elif action == "slow":
            state["slow"] = float(arg["seconds"])
        elif action == "fail":
            st = int(arg["status"])
            if st not in (412, 429, 500, 502, 503):
                raise ValueError("status %d" % st)
            state["fail"].extend([(st, arg.get("path"))] *
                                 int(arg.get("count", 1)))
        elif action == "namespace":
            state["namespace"] = norm_ns(arg.get("namespace"))
        elif action == "token":
            if arg.get("replace"):
                state["tokens"].clear()
            state["tokens"].add(str(arg["token"]))
        elif action == "approle":
            state["role"] = {"role_id": str(arg["role_id"]),
                             "secret_id": str(arg["secret_id"]),
                             "ttl": int(arg.get("ttl", 3)),
                             "max_ttl": int(arg.get("max_ttl", 60)),
                             "renewable": bool(arg.get("renewable", True)),
                             "role_name": str(arg.get("role_name", "petrel"))}
        elif action == "revoke":
            state["leases"].clear()
        elif action == "clearlog":
            logf.truncate(0)
        else:
            raise KeyError("no such control")
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls = None

    def finish_request(self, request, client_address):
        # the TLS handshake runs in the connection's own thread
        if self.tls:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            try:
                super().finish_request(request, client_address)
            finally:
                request.close()
            return
        super().finish_request(request, client_address)


host, _, port = opts.listen.rpartition(":")
srv = Server((host.strip("[]"), int(port)), Handler)
if opts.cert:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.cert, opts.key)
    srv.tls = ctx
real_port = srv.server_address[1]
with open(os.path.join(opts.dir, "port.tmp"), "w") as f:
    f.write("%d\n" % real_port)
os.rename(os.path.join(opts.dir, "port.tmp"), os.path.join(opts.dir, "port"))
open(os.path.join(opts.dir, "ready"), "w").close()
print("ready %d" % real_port, flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    pass
