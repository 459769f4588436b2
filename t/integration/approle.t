#!/bin/bash
# keysd logs in to Vault with AppRole (vault_auth = approle) and keeps its
# token alive (issue 11), against vaultkv.py (a strict Vault stand-in,
# checked against hvac in vaultkv.t) and authrelay.py (aiosmtpd demanding
# STARTTLS + AUTH), the password in Vault KV v2:
#  - delivered with the password read with the token of an AppRole login;
#  - tokens of 3 s: renewed with renew-self (no second login while they
#    are renewable) while mail keeps flowing (cache_ttl 1 s: a fetch a
#    message);
#  - a revoked token: Vault's 403 (to a read, which is then asked again,
#    or to the renewal), a new login;
#  - petrelctl keys flush: a new login;
#  - a role whose tokens are not renewable: new logins, no renew-self;
#  - a renewal capped by the max TTL: a new login;
#  - Vault sealed across a renewal: the cached password is served within
#    stale_ttl, with a warning, and the failed renewal and login are
#    logged;
#  - a wrong secret_id: deferred with a clear line, delivered once the
#    file is right (it is read again at each login);
#  - neither role_id, secret_id nor any token issued is in petrel's log,
#    the spool or the relay's output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix.sh"
. "$(dirname "$0")/vault.sh"
: "${PETRELCTL:=$SRCDIR/build/dev/ctl/petrelctl}"
[ -x "$PETRELCTL" ] || skip_all "no petrelctl at $PETRELCTL"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 39

rnd() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
PASS=tiger-$(rnd)
ROLE=role-$(rnd) SID=sid-$(rnd) WRONGSID=sid-$(rnd)

# --- the relay, Vault --------------------------------------------------------
make_ca arca && make_cert arca relay "IP:127.0.0.7"
AP=$(free_port)
mkdir -p "$T/relay"
AUTHRELAY_PASSWORD=$PASS "$PY" -u "$SRCDIR/t/integration/authrelay.py" \
    --listen "127.0.0.7:$AP" --cert "$T/relay.crt" --key "$T/relay.key" \
    --user scott --dir "$T/relay" >"$T/relay.out" 2>&1 &
track $!
wait_for 20 test -e "$T/relay/ready"; ok $? "the AUTH relay is up (STARTTLS + AUTH)"

start_vault; ok $? "vaultkv.py is up"
role() {	# role TTL MAX_TTL RENEWABLE
	vault_ctl approle "{\"role_id\":\"$ROLE\",\"secret_id\":\"$SID\",\"ttl\":$1,\"max_ttl\":$2,\"renewable\":$3}"
}
role 3 600 true && vault_put secret smtp-auth/relay.test "{\"key\":\"$PASS\"}"
ok $? "an AppRole role (tokens of 3 s, renewable) and the password in Vault"
( umask 077; printf '%s\n' "$ROLE" >"$T/role_id"; printf '%s\n' "$SID" >"$T/secret_id" )

cat >"$T/policy.lua" <<LUA
kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  return kumo.make_queue_config { routing_domain = '[127.0.0.7]:$AP' }
end)
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path { enable_tls = 'RequiredInsecure',
    allow_smtp_auth_plain_without_valid_certificate = true,
    max_deliveries_per_connection = 1,
    smtp_auth_plain_username = 'scott',
    smtp_auth_plain_password = { vault_mount = 'secret',
      vault_path = 'smtp-auth/relay.test' } }
end)
LUA
POLICY=$T/policy.lua RELAYHOST= SYSLOG_SOCKET= QUEUED_EXTRA="retry_interval = 1s
max_retry_interval = 1s" write_conf
cat >>"$T/petrel.conf" <<CONF

[keysd]
vault_address = $VAULT_URL
vault_auth = approle
vault_role_id_file = $T/role_id
vault_secret_id_file = $T/secret_id
cache_ttl = 1s
stale_ttl = 1h
vault_timeout = 2s
CONF

send() {
	swaks --server 127.0.0.1 --port "$PORT" --from s@petrel.test \
	    --to "u@relay.test" --header "Message-ID: <$1@test>" >"$T/swaks.$1" 2>&1
}
arrived() { grep -lqs "^Message-ID: <$1@test>" "$T/relay"/*.eml; }
all_arrived() { local m; for m; do arrived "$m" || return 1; done; }
logged() { grep -Eq -- "$1" "$T/petreld.out"; }
nlogged() { grep -Ec -- "$1" "$T/petreld.out"; }
logins() { vault_requests /v1/auth/approle/login; }
renewals() { vault_requests /v1/auth/token/renew-self; }
ctl() { "$PETRELCTL" -f "$T/petrel.conf" "$@"; }
SECRET_PATH=/v1/secret/data/smtp-auth/relay.test

"$PETRELD" -n -f "$T/petrel.conf" >"$T/check.out" 2>&1
ok $? "petreld -n accepts vault_auth = approle with its two files"

# --- login, then renewal --------------------------------------------------------
start_petrel; ok $? "petreld is up, vault_auth = approle"
send m1
wait_for 20 arrived m1; ok $? "the password from Vault, with an AppRole login: delivered"
grep -q '^authenticated as scott' "$T/relay.out"; ok $? "the relay took AUTH from scott"
is "$(logins)" 1 "one login"
like "$(grep -F "\"path\": \"/v1/auth/approle/login\"" "$T/vault/requests.jsonl")" \
    '"method": "POST", .*"token": "missing", "x_vault_request": true, .*"status": 200' \
    "a POST to /v1/auth/approle/login, no token, X-Vault-Request, 200"
like "$(grep -F "\"path\": \"$SECRET_PATH\"" "$T/vault/requests.jsonl" | head -n 1)" \
    '"method": "GET", .*"token": "ok", .*"status": 200' "the secret read with the token from the login"
logged 'logged in to Vault at .* with AppRole .*valid for 3 s, renewable'
ok $? "keysd logs the login: valid for 3 s, renewable"

for i in 2 3 4 5 6 7 8; do send m$i; sleep 1; done
wait_for 20 all_arrived m2 m3 m4 m5 m6 m7 m8
ok $? "7 more messages over 7 s (tokens of 3 s, cache_ttl 1 s): all delivered"
r=$(renewals)
ok $([ "$r" -ge 2 ]; echo $?) "the token was renewed with renew-self ($r times)"
is "$(logins)" 1 "and no second login while it is renewable"
is "$(grep -F "\"path\": \"$SECRET_PATH\"" "$T/vault/requests.jsonl" | grep -vc '"token": "ok", .*"status": 200')" 0 \
    "every read of the secret had a good token"
is "$(nlogged 'event=TransientFailure')" 0 "nothing was deferred"

# --- a revoked token -------------------------------------------------------------
vault_ctl revoke; sleep 1.2
send m9
wait_for 20 arrived m9; ok $? "the token revoked in Vault: delivered"
is "$(logins)" 2 "after a second login"
logged "refused keysd's token \\(403\\): logging in again|renewal \\(renew-self\\) at .* failed: HTTP 403: permission denied; logging in again"
ok $? "keysd says Vault refused its token (a read or the renewal) and it logs in again"

# --- keys flush, tokens that are not renewable -------------------------------------
role 3 600 false
ctl keys flush >/dev/null; ok $? "petrelctl keys flush"
send m10
wait_for 20 arrived m10; ok $? "after the flush: delivered"
is "$(logins)" 3 "with a new login"
r0=$(renewals)
send m11; sleep 4.5; send m12
wait_for 20 all_arrived m11 m12; ok $? "tokens that are not renewable: mail keeps flowing"
r=$(logins)
ok $([ "$r" -ge 5 ]; echo $?) "keysd logged in again before they expired ($r logins so far)"
is "$(renewals)" "$r0" "and asked for no renewal"
logged 'not renewable: logging in again at two thirds'; ok $? "and says why"

# --- the max TTL -------------------------------------------------------------------
role 3 4 true
ctl keys flush >/dev/null
send m13
wait_for 20 arrived m13; ok $? "tokens of 3 s with a max TTL of 4 s: delivered"
wait_for 10 logged 'only for [0-9]+ s \(it nears its max TTL\): logging in again'
ok $? "a renewal capped by the max TTL: keysd logs in again"

# --- Vault down across a renewal -----------------------------------------------------
role 3 600 true
ctl keys flush >/dev/null
send m14
wait_for 20 arrived m14; ok $? "a fresh login, delivered"
vault_ctl seal; sleep 4.5
send m15
wait_for 20 arrived m15; ok $? "Vault sealed for longer than the token lives: delivered"
logged 'Vault token renewal \(renew-self\) at .* failed: HTTP 503'
ok $? "the failed renewal is logged"
logged 'Vault login \(AppRole\) at .* refused: HTTP 503: Vault is sealed'
ok $? "so is the failed login"
logged 'serving the value of vault secret/smtp-auth/relay\.test.* fetched [0-9]+ s ago \(stale_ttl 3600 s\): .*Vault'
ok $? "the cached password was served within stale_ttl, with a warning"
vault_ctl unseal
stop_petrel; ok $? "petreld stops"

# --- a wrong secret_id ---------------------------------------------------------------
printf '%s\n' "$WRONGSID" >"$T/secret_id"
start_petrel
send m16
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@relay\.test> .*secret/smtp-auth/relay\.test.*Vault login \(AppRole\) at .* refused: HTTP 400: invalid role or secret ID \(check vault_role_id_file and vault_secret_id_file\)'
ok $? "a wrong secret_id: deferred, the login refused, the files named"
printf '%s\n' "$SID" >"$T/secret_id"
wait_for 40 arrived m16; ok $? "the file right again: delivered at a retry"
stop_petrel

# --- nothing leaked ---------------------------------------------------------------------
TOKENS=$(curl -s "$VAULT_URL/_test/tokens" 2>/dev/null ||
    "$PY" -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$VAULT_URL/_test/tokens")
TOKENS=$(printf '%s' "$TOKENS" | grep -o 'hvs\.[A-Za-z0-9]*')
n=$(printf '%s\n' "$TOKENS" | grep -c .)
ok $([ "$n" -ge 6 ]; echo $?) "Vault issued $n tokens"
leaks() {
	local s
	for s in "$ROLE" "$SID" "$WRONGSID" $TOKENS; do
		grep -rlF -- "$s" "$T/petreld.out" "$T/spool" "$T/relay.out" "$T/check.out" 2>/dev/null
	done | wc -l
}
is "$(leaks)" 0 "no role_id, secret_id or token in petrel's log, the spool or the relay's output"
ok $(grep -qF "$PASS" "$T/petreld.out"; echo $((1 - $?))) "nor the password in petrel's log"
