#!/bin/bash
# The Vault KV v2 stand-in (vaultkv.py) is faithful where keysd's tests
# rely on it: a real Vault client, hvac (python3-hvac), reads a secret
# from it, and gets the exception it gets from Vault for each error
# answer (403 Forbidden, 404 InvalidPath, 503 VaultDown, 429, 500, 412).
# The raw bodies are checked against Vault's documented shapes, the
# request log against what was sent (never the token itself), and the
# namespace and HTTPS modes against hvac too; so are AppRole login and
# renew-self (hvac's approle.login and token.renew_self), token expiry,
# the max TTL cap and the refusals (a wrong secret_id, a token that is
# not renewable).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vault.sh"
. "$(dirname "$0")/postfix.sh"
"$PY" -c 'import hvac' 2>/dev/null || skip_all "python3-hvac not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
plan 46

start_vault; ok $? "vaultkv.py is up on $VAULT_URL"
vault_put secret smtp-auth/example.net '{"key":"tiger","user":"scott"}'
ok $? "a secret is written through the control interface"

# hv CODE: run Python CODE with c = an hvac client on the stand-in
hv() {
	"$PY" - "$VAULT_URL" "$VAULT_TOKEN_VALUE" "$@" 2>&1 <<'PY'
import json, sys, hvac
url, token, code = sys.argv[1], sys.argv[2], sys.argv[3]
c = hvac.Client(url=url, token=token, **json.loads(sys.argv[4] if len(sys.argv) > 4 else "{}"))
def read(path, mount="secret", **kw):
    return c.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, **kw)
def raises(fn):
    try:
        fn()
    except Exception as e:
        return "%s %s" % (type(e).__name__, json.dumps(e.errors))
    return "no exception"
print(eval(code))
PY
}

r=$(hv 'read("smtp-auth/example.net")["data"]["data"]["key"]')
is "$r" tiger "hvac reads the secret (data.data.key)"
r=$(hv 'read("smtp-auth/example.net")["data"]["metadata"]["version"]')
is "$r" 1 "metadata.version is 1"
r=$(hv 'sorted(read("smtp-auth/example.net").keys())')
is "$r" "['auth', 'data', 'lease_duration', 'lease_id', 'renewable', 'request_id', 'warnings', 'wrap_info']" \
    "the envelope has Vault's keys"
r=$(hv 'sorted(read("smtp-auth/example.net")["data"]["metadata"].keys())')
is "$r" "['created_time', 'custom_metadata', 'deletion_time', 'destroyed', 'version']" \
    "metadata has Vault's keys"
r=$(hv 'read("smtp-auth/example.net")["data"]["metadata"]["created_time"]')
like "$r" '^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-9:]{8}\.[0-9]{9}Z$' \
    "created_time is RFC 3339 with nanoseconds, as Vault writes it"

# raw bodies, as a C client (keysd's libcurl) sees them
raw() {	# raw PATH [TOKEN] [HEADER...]: "STATUS CONTENT-TYPE BODY"
	"$PY" - "$VAULT_URL" "$@" <<'PY'
import sys, urllib.request, urllib.error
url, path = sys.argv[1], sys.argv[2]
h = {"X-Vault-Request": "true"}
if len(sys.argv) > 3 and sys.argv[3]:
    h["X-Vault-Token"] = sys.argv[3]
for x in sys.argv[4:]:
    k, v = x.split(": ", 1)
    h[k] = v
try:
    r = urllib.request.urlopen(urllib.request.Request(url + path, headers=h), timeout=10)
    st, ct, body = r.status, r.headers["Content-Type"], r.read()
except urllib.error.HTTPError as e:
    st, ct, body = e.code, e.headers["Content-Type"], e.read()
print(st, ct, body.decode().strip())
PY
}
TOK=$VAULT_TOKEN_VALUE
is "$(raw /v1/secret/data/smtp-auth/example.net)" \
    '403 application/json {"errors":["permission denied"]}' "no token: 403 permission denied"
is "$(raw /v1/secret/data/smtp-auth/example.net hvs.wrong)" \
    '403 application/json {"errors":["permission denied"]}' "a wrong token: 403 permission denied"
is "$(raw /v1/secret/data/nothing/here "$TOK")" \
    '404 application/json {"errors":[]}' "no such path: 404 with an empty errors list"
is "$(raw /v1/nomount/data/x "$TOK")" \
    '404 application/json {"errors":["no handler for route \"nomount/data/x\". route entry not found."]}' \
    "no such mount: 404 no handler for route"

r=$(hv 'raises(lambda: hvac.Client(url=c.url, token="hvs.wrong").secrets.kv.v2.read_secret_version(path="smtp-auth/example.net"))')
is "$r" 'Forbidden ["permission denied"]' "hvac: a wrong token raises Forbidden"
r=$(hv 'raises(lambda: read("nothing/here"))')
is "$r" 'InvalidPath []' "hvac: a missing path raises InvalidPath"

# soft delete and destroy of the latest version: 404 with metadata
vault_put secret deleted '{"key":"old"}' && vault_put secret deleted '{"key":"new"}' &&
    vault_ctl delete '{"mount":"secret","path":"deleted"}'
ok $? "version 2 of secret/deleted is soft-deleted"
b=$(raw /v1/secret/data/deleted "$TOK")
like "$b" '^404 application/json \{"request_id":"[0-9a-f-]{36}","lease_id":"","renewable":false,"lease_duration":0,"data":\{"data":null,"metadata":\{"created_time":"[^"]+","custom_metadata":null,"deletion_time":"20[^"]+","destroyed":false,"version":2\}\},"wrap_info":null,"warnings":null,"auth":null\}$' \
    "soft-deleted: 404, data null, deletion_time set, destroyed false"
r=$(hv 'raises(lambda: read("deleted"))')
like "$r" '^InvalidPath ' "hvac: a deleted version raises InvalidPath"
r=$(hv 'read("deleted", version=1)["data"]["data"]["key"]')
is "$r" old "an older version is still read with ?version=1"
vault_ctl destroy '{"mount":"secret","path":"deleted"}'
b=$(raw /v1/secret/data/deleted "$TOK")
like "$b" '^404 .*"data":\{"data":null,"metadata":\{[^}]*"destroyed":true,"version":2\}\}' \
    "destroyed: 404, data null, destroyed true"

# sealed, then the failures on demand
vault_ctl seal
is "$(raw /v1/secret/data/smtp-auth/example.net "$TOK")" \
    '503 application/json {"errors":["Vault is sealed"]}' "sealed: 503 Vault is sealed"
r=$(hv 'raises(lambda: read("smtp-auth/example.net"))')
is "$r" 'VaultDown ["Vault is sealed"]' "hvac: sealed raises VaultDown"
vault_ctl unseal
r=$(hv 'read("smtp-auth/example.net")["data"]["data"]["key"]')
is "$r" tiger "unsealed: read again"

vault_ctl fail '{"status":429,"count":1}' && vault_ctl fail '{"status":500,"count":1}' &&
    vault_ctl fail '{"status":412,"count":1}'
r=$(hv 'raises(lambda: read("smtp-auth/example.net"))')
is "$r" 'RateLimitExceeded ["request path \"secret/data/smtp-auth/example.net\": rate limit quota exceeded"]' \
    "fail 429: RateLimitExceeded, with Vault's quota text"
r=$(hv 'raises(lambda: read("smtp-auth/example.net"))')
is "$r" 'InternalServerError ["internal error"]' "then 500: InternalServerError"
is "$(raw /v1/secret/data/smtp-auth/example.net "$TOK" | cut -c1-3)" 412 "then 412"
r=$(hv 'read("smtp-auth/example.net")["data"]["data"]["key"]')
is "$r" tiger "and then the secret again"

# namespaces: the token belongs to ns1/team
vault_ctl namespace '{"namespace":"ns1/team"}'
r=$(hv 'read("smtp-auth/example.net")["data"]["data"]["key"]' '{"namespace":"ns1/team"}')
is "$r" tiger "a namespace: hvac with namespace=ns1/team reads"
r=$(hv 'raises(lambda: read("smtp-auth/example.net"))')
is "$r" 'Forbidden ["permission denied"]' "without X-Vault-Namespace: Forbidden"
r=$(hv 'raises(lambda: read("smtp-auth/example.net"))' '{"namespace":"ns2"}')
is "$r" 'Forbidden ["permission denied"]' "with another namespace: Forbidden"
vault_ctl namespace '{"namespace":null}'

# slow answers
vault_ctl slow '{"seconds":2}'
r=$(hv 'raises(lambda: read("smtp-auth/example.net"))' '{"timeout":1}')
like "$r" '^(ReadTimeout|ConnectionError|Timeout)' "slow 2 s: a client with a 1 s timeout gives up"
vault_ctl slow '{"seconds":0}'

# the request log
log=$(vault_log)
ok $(echo "$log" | grep -q "$TOK"; echo $((1 - $?))) "the token never appears in the request log"
n=$(vault_requests /v1/secret/data/smtp-auth/example.net)
ok $([ "$n" -ge 10 ]; echo $?) "requests are counted per path ($n)"
like "$(echo "$log" | grep '"namespace": "ns2"' | head -n 1)" \
    '"token": "ok", "x_vault_request": true, "namespace": "ns2", "status": 403' \
    "each line says token ok/bad/missing, X-Vault-Request and the namespace sent"

# AppRole login and renew-self, through hvac's own methods
vault_ctl approle '{"role_id":"role-4711","secret_id":"sid-0815","ttl":3,"max_ttl":5}'
ok $? "an AppRole role (ttl 3 s, max_ttl 5 s) through the control interface"
r=$(hv 'sorted(c.auth.approle.login(role_id="role-4711", secret_id="sid-0815")["auth"].keys())')
is "$r" "['accessor', 'client_token', 'entity_id', 'lease_duration', 'metadata', 'mfa_requirement', 'num_uses', 'orphan', 'policies', 'renewable', 'token_policies', 'token_type']" \
    "hvac: approle.login answers with Vault's auth block"
r=$(hv '(lambda a: (a["lease_duration"], a["renewable"], a["client_token"][:4], c.token == a["client_token"]))(c.auth.approle.login(role_id="role-4711", secret_id="sid-0815")["auth"])')
is "$r" "(3, True, 'hvs.', True)" "lease_duration 3, renewable, an hvs. token hvac then uses"
r=$(hv '(c.auth.approle.login(role_id="role-4711", secret_id="sid-0815"), read("smtp-auth/example.net")["data"]["data"]["key"])[1]')
is "$r" tiger "hvac reads a secret with the token from the login"
r=$(hv '(c.auth.approle.login(role_id="role-4711", secret_id="sid-0815"), c.auth.token.renew_self()["auth"]["lease_duration"])[1]')
is "$r" 3 "hvac: token.renew_self renews for the role's TTL"
r=$(hv '(c.auth.approle.login(role_id="role-4711", secret_id="sid-0815"), __import__("time").sleep(2.2), c.auth.token.renew_self())[2]["warnings"]')
like "$r" 'exceeded the effective max_ttl' "a renewal near the max TTL is capped, with Vault's warning"
r=$(hv 'raises(lambda: c.auth.approle.login(role_id="role-4711", secret_id="wrong"))')
is "$r" 'InvalidRequest ["invalid role or secret ID"]' "hvac: a wrong secret_id raises InvalidRequest"
r=$(hv 'raises(lambda: c.auth.token.renew_self())')
is "$r" 'InvalidRequest ["lease is not renewable"]' "hvac: renew_self of a token without a lease: lease is not renewable"
r=$(hv '(c.auth.approle.login(role_id="role-4711", secret_id="sid-0815"), __import__("time").sleep(3.2), raises(lambda: read("smtp-auth/example.net")))[2]')
is "$r" 'Forbidden ["permission denied"]' "an expired token: Forbidden"
vault_ctl approle '{"role_id":"role-4711","secret_id":"sid-0815","ttl":3,"renewable":false}'
r=$(hv '(c.auth.approle.login(role_id="role-4711", secret_id="sid-0815"), raises(lambda: c.auth.token.renew_self()))[1]')
is "$r" 'InvalidRequest ["lease is not renewable"]' "a role with renewable false: renew_self is refused"
is "$(vault_requests /v1/auth/approle/login)" 8 "the request log counts the logins (8)"
is "$(vault_requests /v1/auth/token/renew-self)" 4 "and the renewals (4)"
ok $(vault_log | grep -q 'sid-0815\|role-4711\|hvs\.'; echo $((1 - $?))) \
    "neither ids nor issued tokens appear in the request log"

# HTTPS, verified against a CA
make_ca vaultca && make_cert vaultca vault "IP:127.0.0.1,DNS:localhost"
VAULT_TOKEN_VALUE=$TOK start_vault --cert "$T/vault.crt" --key "$T/vault.key" &&
    vault_put secret smtp-auth/example.net '{"key":"tiger"}'
r=$(hv 'read("smtp-auth/example.net")["data"]["data"]["key"]' "{\"verify\":\"$T/vaultca.crt\"}")
is "$r" tiger "over HTTPS, verified against the test CA"
