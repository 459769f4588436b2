#!/bin/bash
# OAuth 2.0 access tokens as a keysource: keysd fetches them from
# oauth2srv.py (a strict RFC 6749 token endpoint) and deliverd logs in with
# XOAUTH2 or OAUTHBEARER to authrelay.py (aiosmtpd, STARTTLS then AUTH,
# checking the bearer token against the tokens oauth2srv.py issued), MX
# from dnsmasq.
#
# - client_credentials with HTTP Basic: delivered via XOAUTH2; 20
#   messages make one token request (cached); expires_in = 601 leaves
#   under 10 minutes: the next use fetches a new token first, nothing
#   is deferred.
# - a relay offering only OAUTHBEARER: OAUTHBEARER; smtp_auth_mechanisms
#   = {'OAUTHBEARER'} forces it on a relay offering both.
# - a token the relay does not accept: the 334 error challenge is answered
#   with an empty line, the relay says 535, the message is deferred.
# - refresh_token grant with client auth in the body and a rotating
#   refresh token: the rotated one is saved in state_dir (0600), and after
#   kill -9 of keysd the new keysd uses it (the first is no longer valid).
# - invalid_client: deferred with a clear log line, delivered once the
#   client secret is fixed.
# - no client secret, refresh token or access token in petrel's log, the
#   spool or petrelctl output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix.sh"
. "$(dirname "$0")/authlib.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 40
: "${PETRELCTL:=$SRCDIR/build/dev/ctl/petrelctl}"
[ -x "$PETRELCTL" ] || skip_all "no petrelctl at $PETRELCTL"

P=$(free_port)
XOA=127.0.0.70 OBA=127.0.0.71 BOTHA=127.0.0.72 BADA=127.0.0.73
O="$T/oauth2"
mkdir -p "$O" "$T/keys" "$T/state"
arrived() { grep -lqs "^Message-ID: <$1@test>" "$T"/sink-*/*.eml; }
treqs() { grep -c '"path": "/token"' "$O/requests.jsonl" 2>/dev/null || echo 0; }
treqs_ok() { grep -c '"status": 200' "$O/requests.jsonl" 2>/dev/null || echo 0; }

# --- certificates, DNS, the token endpoint, the relays -------------------
make_ca testca &&
make_cert testca relay "$(mx_names xo ob both rt bad tls)" &&
make_cert testca idp "IP:127.0.0.1"
ok $? "a test CA, the relays' and the HTTPS token endpoint's certificates"

DNSP=$(free_port)
start_dnsmasq "$DNSP" $(mx_args $XOA xo rt tls) $(mx_args $OBA ob) \
    $(mx_args $BOTHA both) $(mx_args $BADA bad)
ok $? "dnsmasq is up"

SECRET="cs-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
RTOKEN="rt-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$SECRET" >"$O/client.secret"
printf '%s\n' "$RTOKEN" >"$O/refresh.seed"
printf '%s\n' "$SECRET" >"$T/keys/client.secret"
printf '%s\n' "$RTOKEN" >"$T/keys/refresh.token"
"$PY" "$SRCDIR/t/integration/oauth2srv.py" --dir "$O" \
    --client-id petrel-app --client-secret-file "$O/client.secret" \
    --refresh-token-file "$O/refresh.seed" --rotate >"$T/oauth2srv.out" 2>&1 &
track $!
wait_for 20 test -e "$O/ready"
ok $? "oauth2srv.py is up"
OP=$(cat "$O/port")
OPS=$(free_port)	# the HTTPS one, started later

start_authrelay() {	# NAME ADDR MECHS [TOKENS]
	mkdir -p "$T/sink-$1"
	"$PY" -u "$SRCDIR/t/integration/authrelay.py" --listen "$2:$P" \
	    --cert "$T/relay.crt" --key "$T/relay.key" --user scott \
	    --mechs "$3" --bearer-check "${4:-$O/tokens}" --dir "$T/sink-$1" \
	    >"$T/ar-$1.out" 2>&1 &
	track $!
	wait_for 20 test -e "$T/sink-$1/ready"
}
start_authrelay xo $XOA XOAUTH2 &&
start_authrelay ob $OBA OAUTHBEARER &&
start_authrelay both $BOTHA "XOAUTH2 OAUTHBEARER" &&
start_authrelay bad $BADA XOAUTH2 "$T/no-tokens"
ok $? "authrelay.py: XOAUTH2 only, OAUTHBEARER only, both, one that accepts no token"

cat >"$T/policy.lua" <<LUA
local kumo = require 'kumo'
local cc = {
  oauth2_token_url = 'http://127.0.0.1:$OP/token',
  oauth2_client_id = 'petrel-app',
  oauth2_client_secret = { key_file = '$T/keys/client.secret' },
  oauth2_scope = 'https://outlook.office365.com/.default',
}
local rt = {
  oauth2_token_url = 'http://127.0.0.1:$OP/token',
  oauth2_client_id = 'petrel-app',
  oauth2_client_secret = { key_file = '$T/keys/client.secret' },
  oauth2_grant = 'refresh_token',
  oauth2_refresh_token = { key_file = '$T/keys/refresh.token' },
  oauth2_client_auth = 'body',
}
kumo.on('get_egress_path_config', function(domain, site)
  -- a connection a message: each asks keysd for the token
  local t = { enable_tls = 'Required', smtp_auth_plain_username = 'scott',
              smtp_auth_plain_password = cc,
              max_deliveries_per_connection = 1 }
  if domain == 'rt.test' then t.smtp_auth_plain_password = rt end
  if domain == 'tls.test' then
    t.smtp_auth_plain_password = {
      oauth2_token_url = 'https://127.0.0.1:$OPS/token',
      oauth2_client_id = 'petrel-app',
      oauth2_client_secret = '$T/keys/client.secret',
      oauth2_client_auth = 'body' }
  end
  if domain == 'both.test' then t.smtp_auth_mechanisms = { 'OAUTHBEARER' } end
  return kumo.make_egress_path(t)
end)
LUA
SYSLOG_SOCKET=
auth_conf "$T/policy.lua" "key_dirs = $T/keys
state_dir = $T/state
vault_ca_file = $T/testca.crt"
"$PETRELD" -n -f "$T/petrel.conf" >"$T/check.out" 2>&1
ok $? "petreld -n accepts the OAuth2 keysources"

start_petrel; ok $? "petreld is up"

# --- client_credentials, XOAUTH2, the cache ------------------------------
send u@xo.test xo1; wait_for 20 arrived xo1
ok $? "client_credentials + XOAUTH2: delivered"
grep -q '^AUTH XOAUTH2 as scott: ok' "$T/ar-xo.out"; ok $? "the relay saw XOAUTH2 as scott with a valid token"
like "$(line 'event=Auth .*mechanism=')" 'mechanism=XOAUTH2' "petrel logged mechanism=XOAUTH2"
grep -q '"client_auth": "basic".*"scope": "https://outlook.office365.com/.default", "status": 200' "$O/requests.jsonl"
ok $? "the token request: HTTP Basic client auth, the scope, 200"
for i in $(seq 2 20); do send u$i@xo.test xo$i; done
all=0; for i in $(seq 2 20); do wait_for 20 arrived xo$i || all=1; done
ok $all "19 more messages delivered, a connection each"
is "$(treqs)" 1 "20 messages, one token request (cached)"

# --- expires_in = 601: under 10 minutes left, refreshed before use -------
printf 601 >"$O/expires_in"
"$PETRELCTL" -f "$T/petrel.conf" keys flush >"$T/ctl-flush.out" 2>&1
send u@xo.test ex1; wait_for 20 arrived ex1
ok $? "a token of 601 s: delivered"
n=$(treqs)
send u@xo.test ex2; wait_for 20 arrived ex2
ok $? "the next message: delivered"
is "$(treqs)" $((n + 1)) "with a new token request first (601 s leaves under 10 minutes)"
is "$(nlogged 'event=TransientFailure .*@xo\.test>')" 0 "nothing to xo.test was deferred"
rm -f "$O/expires_in"

# --- OAUTHBEARER -----------------------------------------------------------
send u@ob.test ob1; wait_for 20 arrived ob1
ok $? "a relay offering only OAUTHBEARER: delivered"
grep -q '^AUTH OAUTHBEARER as scott: ok' "$T/ar-ob.out"; ok $? "with OAUTHBEARER"
send u@both.test bo1; wait_for 20 arrived bo1
ok $? "smtp_auth_mechanisms = {'OAUTHBEARER'} on a relay offering both: delivered"
grep -q '^AUTH OAUTHBEARER as scott: ok' "$T/ar-both.out" &&
! grep -q '^AUTH XOAUTH2' "$T/ar-both.out"
ok $? "with OAUTHBEARER, not XOAUTH2"

# --- a token the relay refuses: 334 error challenge, empty line, 535 -------
send u@bad.test bad1
wait_for 20 logged 'AUTH XOAUTH2 as scott to .*failed: 535.*the server said: .*status.*401'
ok $? "a refused token: the 334 error is answered, 535, logged with the server's error"
grep -q '^AUTH XOAUTH2 error challenge answered: empty' "$T/ar-bad.out"
ok $? "the relay got an empty line for its error challenge"
wait_for 10 logged 'event=TransientFailure .*rcpt=<u@bad.test>'
ok $? "the message is deferred (TransientFailure)"

# --- refresh_token grant, rotation, persistence ----------------------------
send u@rt.test rt1; wait_for 20 arrived rt1
ok $? "refresh_token grant (client auth in the body): delivered"
grep -q '"grant_type": "refresh_token", "client_auth": "body".*"status": 200' "$O/requests.jsonl"
ok $? "the token request: grant_type refresh_token, body client auth, 200"
sf=$(ls "$T/state"/oauth2-*.refresh 2>/dev/null | head -n 1)
[ -n "$sf" ] && [ "$(stat -c %a "$sf")" = 600 ]
ok $? "the rotated refresh token is saved in state_dir, mode 0600"
newrt=$(cat "$O/refresh_tokens")
grep -q "^token $newrt\$" "$sf" 2>/dev/null
ok $? "and it is the one the endpoint issued"
kpid=$(petrel_children | awk '$2 == "keysd" { print $1 }')
newkeysd() { petrel_children | awk -v k="$kpid" '$2 == "keysd" && $1 != k' | grep -q .; }
kill -KILL "$kpid"
wait_for 20 newkeysd
ok $? "keysd killed (-9) and restarted"
n=$(grep -c '"grant_type": "refresh_token"' "$O/requests.jsonl")
send u@rt.test rt2; wait_for 30 arrived rt2
ok $? "after the restart: delivered"
grep '"grant_type": "refresh_token"' "$O/requests.jsonl" | tail -n 1 | grep -q '"status": 200'
ok $? "the new keysd refreshed with the saved token (the first one is invalid now)"
is "$(grep -c '"grant_type": "refresh_token"' "$O/requests.jsonl")" $((n + 1)) "with one request"

# --- invalid_client, then fixed -----------------------------------------
printf 'wrong-secret\n' >"$T/keys/client.secret"
"$PETRELCTL" -f "$T/petrel.conf" keys flush >>"$T/ctl-flush.out" 2>&1
send w@xo.test ic1
wait_for 20 logged 'event=TransientFailure .*rcpt=<w@xo.test>'
ok $? "invalid_client: the message is deferred"
like "$(line 'token endpoint answered 401 invalid_client')" 'oauth2 client_credentials client petrel-app at http://127.0.0.1:[0-9]+/token: token endpoint answered 401 invalid_client' \
    "with a clear log line naming the client and the endpoint's error"
printf '%s\n' "$SECRET" >"$T/keys/client.secret"
wait_for 30 arrived ic1
ok $? "delivered once the client secret is fixed"

# --- a token endpoint over HTTPS (verified against vault_ca_file) ------------
rm -f "$O/ready"
"$PY" "$SRCDIR/t/integration/oauth2srv.py" --dir "$O" --listen "127.0.0.1:$OPS" \
    --cert "$T/idp.crt" --key "$T/idp.key" --client-auth body \
    --client-id petrel-app --client-secret-file "$O/client.secret" \
    >"$T/oauth2srv-https.out" 2>&1 &
track $!
wait_for 20 test -e "$O/ready"
ok $? "oauth2srv.py is up over HTTPS"
send u@tls.test tls1; wait_for 20 arrived tls1
ok $? "a token from an HTTPS endpoint (string-form client secret, body auth): delivered"

# --- no secrets anywhere ------------------------------------------------------
"$PETRELCTL" -f "$T/petrel.conf" resolve xo.test >"$T/ctl-resolve.out" 2>&1
"$PETRELCTL" -f "$T/petrel.conf" --json resolve rt.test >>"$T/ctl-resolve.out" 2>&1
grep -q 'oauth2' "$T/ctl-resolve.out"; ok $? "petrelctl resolve shows the OAuth2 keysource by its label"
"$PETRELCTL" -f "$T/petrel.conf" --json stats >"$T/ctl-stats.json" 2>&1
"$PY" -c 'import json,sys; k=json.load(open(sys.argv[1]))["keysd"]; sys.exit(0 if k["oauth2_requests"] >= 2 and k["oauth2_errors"] >= 1 else 1)' "$T/ctl-stats.json"
ok $? "petrelctl stats counts the new keysd's token requests and errors"
leaks=0
for s in "$SECRET" "$RTOKEN" $(cat "$O/refresh_tokens") $(awk '{ print $1 }' "$O/tokens"); do
	grep -rqsF -- "$s" "$T/petreld.out" "$T/spool" "$T"/ctl-*.out "$T"/oauth2srv*.out "$O/requests.jsonl" && {
		diag "leaked: ${s:0:5}..."; leaks=$((leaks + 1)); }
done
is "$leaks" 0 "no client secret, refresh token or access token in the log, the spool, petrelctl output or the endpoint's log"
stop_petrel; ok $? "petreld stops"
