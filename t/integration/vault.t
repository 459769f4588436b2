#!/bin/bash
# The password from HashiCorp Vault (KV version 2), through keysd, against
# Postfix with Cyrus SASL demanding STARTTLS + AUTH, MX from dnsmasq, and
# vaultkv.py, a strict stand-in for Vault (checked against hvac in
# vaultkv.t).  Four runs of petreld:
#
# 1. KumoMTA's Vault snippet, verbatim but for the user name (vault_mount =
#    'secret', vault_path = 'smtp-auth/' .. domain): delivered as scott,
#    one Vault request with the token, X-Vault-Request and no namespace.
# 2. The cache: 100 messages over 10 connections (max_deliveries_per_
#    connection = 10) to one relay make one Vault request (cache_ttl 5m,
#    Vault answering slowly so the 10 asks overlap: single-flight).
# 3. Each failure defers the message (never bounced) with its own reason
#    naming mount and path: 404 no such path, a soft-deleted and a
#    destroyed latest version, 403, no key, a value that is not a string,
#    a slow Vault (vault_timeout), 503 sealed; 429 and 500 are retried
#    within the fetch; a value fetched before Vault was sealed is served
#    stale, with a warning; a wrong password in Vault backs off (no second
#    AUTH while it is unchanged) and is delivered once Vault has the
#    right one and cache_ttl (2 s) has passed; a keysource naming another
#    vault_address without a vault_token of its own is refused there and
#    then (keysd's token goes only to keysd's Vault).
# 4. Namespaces: X-Vault-Namespace from the keysource's vault_namespace,
#    else from [keysd] vault_namespace.
# Throughout: the Vault token never shows in petrel's log or the spool.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix.sh"
. "$(dirname "$0")/vault.sh"
. "$(dirname "$0")/authlib.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v postfix >/dev/null || skip_all "postfix not installed"
command -v smtp-source >/dev/null || skip_all "smtp-source (postfix) not installed"
command -v saslpasswd2 >/dev/null || skip_all "sasl2-bin not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 62

P=$(free_port)
RELAY=127.0.0.60 CACHERELAY=127.0.0.61
DOMAINS="good missing deleted destroyed forbidden nokey notstring slow
sealed stale retry wrongpw nsspec nsconf elsewhere"

# --- certificates, DNS (cache.test has a listener of its own), Postfix, Vault
make_ca testca && make_cert testca relay "$(mx_names $DOMAINS cache)"
ok $? "a test CA and the relay's certificate"

DNSP=$(free_port)
# shellcheck disable=SC2046
start_dnsmasq "$DNSP" $(mx_args $RELAY $DOMAINS) $(mx_args $CACHERELAY cache)
ok $? "dnsmasq is up"

run_sink 127.0.0.6
postfix_init "127.0.0.6:$SP" &&
postfix_set "smtpd_tls_cert_file = $T/relay.crt" "smtpd_tls_key_file = $T/relay.key" \
    "smtpd_tls_security_level = may" &&
postfix_sasl scott tiger &&
postfix_listen "$RELAY:$P" -o syslog_name=postfix/relay &&
postfix_listen "$CACHERELAY:$P" -o syslog_name=postfix/cache &&
postfix_start
ok $? "Postfix with SASL is up (STARTTLS + AUTH)"

start_vault; ok $? "vaultkv.py is up"
TOKEN=$VAULT_TOKEN_VALUE
put() { vault_put secret "smtp-auth/$1" "$2"; }
for d in good cache sealed slow stale retry nsspec nsconf forbidden; do
	put $d.test '{"key":"tiger"}' || break
done &&
put deleted.test '{"key":"tiger"}' &&
vault_ctl delete '{"mount":"secret","path":"smtp-auth/deleted.test"}' &&
put destroyed.test '{"key":"tiger"}' &&
vault_ctl destroy '{"mount":"secret","path":"smtp-auth/destroyed.test"}' &&
put nokey.test '{"password":"tiger"}' &&
put notstring.test '{"key":12345}' &&
put wrongpw.test '{"key":"lion"}'
ok $? "the secrets are in Vault (some deleted, destroyed, without 'key', ...)"

vpath() { echo "/v1/secret/data/smtp-auth/$1.test"; }
# the request log's lines for a path
vlog() { grep -F "\"path\": \"$(vpath "$1")\"" "$T/vault/requests.jsonl"; }
# conf POLICY KEYSD-LINES: petrel.conf for this run, keysd with Vault
conf() { auth_conf "$1" "vault_address = $VAULT_URL
vault_token_file = $T/vault.token
$2"; }
SYSLOG_SOCKET=
# deferred DOMAIN REGEX: a TransientFailure for u@DOMAIN.test whose reason
# names the secret's mount and path and matches REGEX
deferred() {
	wait_for 20 logged "event=TransientFailure .*rcpt=<u@$1\.test> .*secret/smtp-auth/$1\.test.*$2"
}

# --- 1: KumoMTA's snippet, verbatim ------------------------------------------
cat >"$T/snippet.lua" <<'LUA'
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path {
    enable_tls = 'Required',
    smtp_auth_plain_username = 'scott',
    -- The password can be any keysource value.
    -- Here we are loading the credential for the domain
    -- from HashiCorp vault
    smtp_auth_plain_password = {
      vault_mount = 'secret',
      vault_path = 'smtp-auth/' .. domain,
      -- Optional: specify a custom key name (defaults to "key")
      -- vault_key = "password"
    },
  }
end)
LUA
conf "$T/snippet.lua" ""
start_petrel; ok $? "petreld is up with KumoMTA's Vault snippet as its policy"
send u@good.test good1
wait_for 20 arrived good1; ok $? "the password from Vault: delivered through Postfix"
grep -q '(Authenticated sender: scott)' "$(eml good1)"
ok $? "Postfix's Received header says: Authenticated sender: scott"
is "$(PFL=relay pf_sasl_logins scott)" 1 "the maillog has sasl_username=scott"
like "$(line 'event=Delivery .*rcpt=<u@good.test>')" ' tls=TLSv1\.3 .*auth=scott ' \
    "the Delivery line has auth=scott"
is "$(vlog good | wc -l)" 1 "one Vault request for secret/smtp-auth/good.test"
like "$(vlog good)" '"method": "GET", .*"token": "ok", "x_vault_request": true, "namespace": null, "status": 200' \
    "a GET with the token from vault_token_file, X-Vault-Request, no namespace"
stop_petrel; ok $? "petreld stops"

# --- the policy of runs 2 to 4 -------------------------------------------------
cat >"$T/policy.lua" <<'LUA'
local kumo = require 'kumo'

-- per domain: egress fields, and vault_* fields for its keysource
local extra = {
  ['cache.test'] = { max_deliveries_per_connection = 10, connection_limit = 10 },
  ['stale.test'] = { max_deliveries_per_connection = 1 },
  ['forbidden.test'] = { vault_token = 'hvs.not-the-token' },
  ['nsspec.test'] = { vault_namespace = 'ns1/team' },
  ['elsewhere.test'] = { vault_address = 'ELSEWHERE_URL' },
}

kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  local ks = { vault_mount = 'secret', vault_path = 'smtp-auth/' .. domain }
  local path = {
    enable_tls = 'Required',
    smtp_auth_plain_username = 'scott',
    smtp_auth_plain_password = ks,
  }
  for k, v in pairs(extra[domain] or {}) do
    if k:match('^vault_') then ks[k] = v else path[k] = v end
  end
  return kumo.make_egress_path(path)
end)
LUA
# the same Vault spelt otherwise: not keysd's address as configured
sed -i "s|ELSEWHERE_URL|${VAULT_URL/127.0.0.1/localhost}|" "$T/policy.lua"

# --- 2: the cache ------------------------------------------------------------
conf "$T/policy.lua" "cache_ttl = 5m"
start_petrel; ok $? "petreld is up, cache_ttl = 5m"
vault_ctl slow '{"seconds":0.5}'
smtp-source -s 10 -m 100 -f s@petrel.test -t u@cache.test "127.0.0.1:$PORT" \
    >"$T/smtp-source.out" 2>&1
ok $? "100 messages for cache.test accepted over 10 sessions"
cached() { grep -l '^X-Sink-To: <u@cache.test>' "$T"/sink/*.eml 2>/dev/null | wc -l; }
wait_for 60 atleast 100 cached; ok $? "all 100 delivered through the relay"
vault_ctl slow '{"seconds":0}'
is "$(vlog cache | wc -l)" 1 "one Vault request for all of them"
n=$(PFL=cache pf_sasl_logins scott)
is "$n" 100 "Postfix took the 100 from scott"
n=$(PFL=cache _pf_log | grep -c ' connect from ')
ok $([ "$n" -ge 10 ]; echo $?) "over $n connections (max_deliveries_per_connection = 10)"
stop_petrel; ok $? "petreld stops"

# --- 3: failures ---------------------------------------------------------------
conf "$T/policy.lua" "cache_ttl = 2s
stale_ttl = 1h
vault_timeout = 2s"
start_petrel; ok $? "petreld is up, cache_ttl = 2s, vault_timeout = 2s"
for d in missing deleted destroyed forbidden nokey notstring; do
	send u@$d.test ${d}1
done
deferred missing 'no such path'
ok $? "404 {\"errors\":[]}: deferred, no such path"
deferred deleted 'deleted'
ok $? "404, the latest version soft-deleted: deferred, deleted"
deferred destroyed 'destroyed'
ok $? "404, the latest version destroyed: deferred, destroyed"
deferred forbidden 'permission denied'
ok $? "403 (a token Vault does not know): deferred, permission denied"
deferred nokey "no key 'key'"
ok $? "a secret without 'key': deferred, no key 'key'"
deferred notstring 'not a string'
ok $? "a value that is not a string: deferred, not a string"
is "$(vlog forbidden | grep -c '"token": "bad"')" "$(vlog forbidden | wc -l)" \
    "the keysource's vault_token was sent for forbidden.test"
send u@elsewhere.test elsewhere1
deferred elsewhere "not keysd's Vault"
ok $? "vault_address elsewhere, no vault_token: deferred, keysd's token is not sent there"
is "$(vlog elsewhere | wc -l)" 0 "no request for it reached any Vault"

send u@stale.test stale1
wait_for 20 arrived stale1; ok $? "stale.test: delivered while Vault is up"

vault_ctl fail "{\"status\":429,\"path\":\"$(vpath retry)\"}" &&
    vault_ctl fail "{\"status\":500,\"path\":\"$(vpath retry)\"}"
send u@retry.test retry1
wait_for 20 arrived retry1; ok $? "429, then 500, then 200: delivered at the first attempt"
like "$(vlog retry | sed 's/.*"status": \([0-9]*\).*/\1/' | tr '\n' ' ')" '^429 500 200 $' \
    "three requests within one fetch (retried with back-off)"
is "$(nlogged 'event=TransientFailure .*rcpt=<u@retry.test>')" 0 "no TransientFailure for it"

# a wrong password in Vault: one AUTH, then back-off until it changes
send u@wrongpw.test wrongpw1
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@wrongpw.test> .*535 5\.7\.8'
ok $? "a wrong password from Vault: TransientFailure with the relay's 535"
wait_for 20 atleast 2 eval 'vlog wrongpw | wc -l'
ok $? "cache_ttl passed: keysd asked Vault again (the same password)"
wait_for 20 atleast 3 nlogged 'event=TransientFailure .*rcpt=<u@wrongpw.test> .*not trying again'
ok $? "the retries are held back without a connection"
is "$(PFL=relay pf_auth_failed)" 1 "the relay saw exactly one failed AUTH"
put wrongpw.test '{"key":"tiger"}'
wait_for 20 arrived wrongpw1; ok $? "Vault has the right password: delivered at a retry"
is "$(PFL=relay pf_auth_failed)" 1 "after one more AUTH, which succeeded"

# slow: vault_timeout
vault_ctl slow '{"seconds":4}'
send u@slow.test slow1
deferred slow 'timed out'
ok $? "Vault answering after 4 s, vault_timeout 2 s: deferred, timed out"
# sealed, and stale-on-outage.  Seal before Vault is quick again: slow1 is
# retried every second, and a retry between the two would deliver it.
vault_ctl seal
vault_ctl slow '{"seconds":0}'
send u@sealed.test sealed1
deferred sealed 'Vault is sealed'
ok $? "503 sealed: deferred, Vault is sealed"
send u@stale.test stale2
wait_for 20 arrived stale2
ok $? "sealed, but stale.test's password was fetched before: delivered"
like "$(line 'serving the value of .*secret/smtp-auth/stale\.test')" \
    'fetched [0-9]+ s ago \(stale_ttl 3600 s\): .*sealed' \
    "with a warning that the value is stale and why"
nstale=$(vlog stale | wc -l)
send u@stale.test stale3
wait_for 20 arrived stale3
ok $? "sealed: the next message for stale.test is delivered too"
is "$(vlog stale | wc -l)" "$nstale" \
    "within the hold-off after an outage keysd serves it without asking Vault"
like "$(line 'serving the value of .*smtp-auth/stale\.test.*not asking again')" \
    'sealed; not asking again for a while' "and says so"
is "$(nlogged 'serving the value of .*smtp-auth/forbidden\.test')" 0 \
    "a 403 is an answer, not an outage: nothing stale is served for it"
waiting() {	# waiting DOMAIN...: u@DOMAIN.test not delivered, in the spool
	local d
	for d; do
		! arrived "${d}1" && grep -rlq "u@$d.test" "$T/spool/queue" ||
		    return 1
	done
}
waiting missing deleted destroyed forbidden nokey notstring slow sealed elsewhere
ok $? "the deferred messages are not delivered and wait in the spool"
vault_ctl unseal
wait_for 20 arrived sealed1 && wait_for 20 arrived slow1
ok $? "Vault unsealed and quick again: those two are delivered at a retry"
ok $(logged 'event=(Bounce|Expiration) '; echo $((1 - $?))) "nothing was bounced"
stop_petrel; ok $? "petreld stops"

# --- 4: namespaces -----------------------------------------------------------------
vault_ctl namespace '{"namespace":"ns1/team"}'
conf "$T/policy.lua" "vault_namespace = ns-conf"
start_petrel; ok $? "petreld is up, [keysd] vault_namespace = ns-conf"
send u@nsspec.test nsspec1
wait_for 20 arrived nsspec1
ok $? "vault_namespace = 'ns1/team' in the keysource: delivered"
like "$(vlog nsspec | tail -n 1)" '"namespace": "ns1/team", "status": 200' \
    "X-Vault-Namespace: ns1/team was sent"
send u@nsconf.test nsconf1
deferred nsconf 'permission denied'
ok $? "no vault_namespace in the keysource: [keysd]'s, which Vault refuses here"
like "$(vlog nsconf | tail -n 1)" '"namespace": "ns-conf", "status": 403' \
    "X-Vault-Namespace: ns-conf was sent"
stop_petrel; ok $? "petreld stops"
vault_ctl namespace '{"namespace":null}'

# --- the token ----------------------------------------------------------------------
ok $(grep -qF "$TOKEN" "$T/petreld.out"; echo $((1 - $?))) "the Vault token is not in petrel's log"
ok $(grep -rqF "$TOKEN" "$T/spool"; echo $((1 - $?))) "nor in the spool"
ok $(grep -qE 'tiger|lion' "$T/petreld.out"; echo $((1 - $?))) "nor any password"
postfix_stop; ok $? "Postfix stops"
