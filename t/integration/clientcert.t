#!/bin/bash
# TLS client certificates on deliverd's side (issue 12): make_egress_path's
# tls_certificate (the leaf, then the intermediate) and tls_private_key,
# both key files under [keysd] key_dirs, the key also matching [keysd]
# tls_key_files.  The relay is tlspeer.py (mode ccert), which requires a client
# certificate and trusts only the test root CA: the leaves are signed by
# an intermediate, so the intermediate must be sent.  Each domain has an
# MX of its own (127.0.0.81...), so that one host's failure never delays
# another's delivery.
#
# Delivered with an RSA and with an ECDSA P-256 certificate (the relay
# logs the CN and serial it verified).  TransientFailure, the message kept
# in the spool, and a log line naming the key file, for: no certificate
# (the relay refuses the handshake), the leaf without its intermediate, a
# key that does not match its certificate, a key file that matches no
# pattern of tls_key_files, a world-readable key file, a missing key
# file, an Ed25519 key (unsupported), key_data as tls_private_key.
# petreld -n refuses key_data and a tls_certificate without
# tls_private_key.  After the certificate and key files are replaced by
# a renewed pair and petreld reloads, the relay sees the new serial.
# Both keysources may also be Vault secrets (vaultkv.py, the stand-in).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/authlib.sh"
. "$(dirname "$0")/tlscerts.sh"
. "$(dirname "$0")/vault.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
plan 68

P=$(free_port)
SYSLOG_SOCKET=
# domain:relay address, one address a domain
HOSTS="rsa:81 ec:82 nocert:83 leafonly:84 mismatch:85 notallowed:86
world:87 missing:88 ed:89 keydata:90 renew:91 renew2:92 vault:93"
addr() { for h in $HOSTS; do [ "${h%%:*}" = "$1" ] && echo "127.0.0.${h#*:}"; done; }
ADDRS=$(for h in $HOSTS; do printf '127.0.0.%s,' "${h#*:}"; done); ADDRS=${ADDRS%,}

# --- certificates ------------------------------------------------------------
sans="DNS:localhost,IP:127.0.0.1"
for h in $HOSTS; do sans="$sans,DNS:mx.${h%%:*}.test,IP:127.0.0.${h#*:}"; done
tls_pki && tls_leaf client-rsa rsa 1201 && tls_leaf client-ec ec 1202 &&
    tls_leaf client-ed ed25519 1203 && tls_leaf renewed-rsa rsa 1301 &&
    tls_leaf client-vault ec 1401 &&
    tls_key mismatch rsa && tls_server relay "$sans"
ok $? "a root CA, an intermediate, RSA, EC and Ed25519 client leaves, a renewed one, the relay's certificate"
! openssl verify -CAfile "$TLSDIR/root.crt" "$TLSDIR/client-rsa.crt" >/dev/null 2>&1
ok $? "(the leaf alone does not verify against the root: the intermediate is needed)"
cp "$TLSDIR/root.crt" "$T/testca.crt"	# deliverd's ca_file (authlib.sh)

# the keysources: certificates and keys under key_dirs
K=$T/keys
mkdir -p "$K" && chmod 700 "$K" &&
cp "$TLSDIR/client-rsa.chain" "$K/rsa.chain" &&
cp "$TLSDIR/client-rsa.crt" "$K/rsa-leaf.crt" &&
cp "$TLSDIR/client-rsa.key" "$K/tls-rsa.key" &&
cp "$TLSDIR/client-ec.chain" "$K/ec.chain" &&
cp "$TLSDIR/client-ec.key" "$K/tls-ec.key" &&
cp "$TLSDIR/client-ed.chain" "$K/ed.chain" &&
cp "$TLSDIR/client-ed.key" "$K/tls-ed.key" &&
cp "$TLSDIR/mismatch.key" "$K/tls-mismatch.key" &&
cp "$TLSDIR/client-rsa.key" "$K/other-rsa.key" &&
cp "$TLSDIR/client-rsa.key" "$K/tls-world.key" &&
cp "$TLSDIR/client-rsa.chain" "$K/renew.chain" &&
cp "$TLSDIR/client-rsa.key" "$K/tls-renew.key" &&
chmod 600 "$K"/*.key && chmod 644 "$K"/*.chain "$K"/*.crt "$K/tls-world.key"
ok $? "the certificate chains and keys in key_dirs (keys 0600; one 0644)"

# --- peers -------------------------------------------------------------------
DNSP=$(free_port)
# shellcheck disable=SC2046
start_dnsmasq "$DNSP" $(for h in $HOSTS; do mx_args "127.0.0.${h#*:}" "${h%%:*}"; done)
ok $? "dnsmasq is up"
R=$T/sink	# authlib.sh's arrived/eml look there
mkdir -p "$R"
"$PY" "$SRCDIR/t/integration/tlspeer.py" "$ADDRS" "$P" "$R" \
    "$TLSDIR/relay.crt" "$TLSDIR/relay.key" ccert "$TLSDIR/root.crt" >"$T/relay.out" 2>&1 &
RELAY_PID=$!; track $RELAY_PID
wait_for 20 test -e "$R/ready"; ok $? "tlspeer.py (ccert) is up (client certificate required, trusts only the root)"
jsonkey() { "$PY" -c 'import json, sys; print(json.dumps({"key": open(sys.argv[1]).read()}))' "$1"; }
start_vault &&
vault_put secret tls/client-vault.chain "$(jsonkey "$TLSDIR/client-vault.chain")" &&
vault_put secret tls/client-vault.key "$(jsonkey "$TLSDIR/client-vault.key")"
ok $? "vaultkv.py is up with a certificate chain and its key at secret/tls/"

# --- policy -------------------------------------------------------------------
KEYPEM=$(cat "$TLSDIR/client-rsa.key")
cat >"$T/policy.lua" <<LUA
local kumo = require 'kumo'
local K = '$K/'

local files = {
  ['rsa.test'] = { 'rsa.chain', 'tls-rsa.key' },
  ['ec.test'] = { 'ec.chain', 'tls-ec.key' },
  ['leafonly.test'] = { 'rsa-leaf.crt', 'tls-rsa.key' },
  ['mismatch.test'] = { 'rsa.chain', 'tls-mismatch.key' },
  ['notallowed.test'] = { 'rsa.chain', 'other-rsa.key' },
  ['world.test'] = { 'rsa.chain', 'tls-world.key' },
  ['missing.test'] = { 'rsa.chain', 'tls-missing.key' },
  ['ed.test'] = { 'ed.chain', 'tls-ed.key' },
  ['renew.test'] = { 'renew.chain', 'tls-renew.key' },
  ['renew2.test'] = { 'renew.chain', 'tls-renew.key' },
}

kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  local p = { enable_tls = 'Required' }
  local f = files[domain]
  if f then
    p.tls_certificate = { key_file = K .. f[1] }
    p.tls_private_key = { key_file = K .. f[2] }
    if domain:find('^renew') then
      -- a new connection, so a new handshake, for every message
      p.max_deliveries_per_connection = 1
    end
  elseif domain == 'vault.test' then
    p.tls_certificate = { vault_mount = 'secret', vault_path = 'tls/client-vault.chain' }
    p.tls_private_key = { vault_mount = 'secret', vault_path = 'tls/client-vault.key' }
  elseif domain == 'keydata.test' then
    p.tls_certificate = { key_file = K .. 'rsa.chain' }
    p.tls_private_key = { key_data = [[$KEYPEM]] }
  end
  return kumo.make_egress_path(p)
end)
LUA
auth_conf "$T/policy.lua" "key_dirs = $K
tls_key_files = $K/tls-*.key, $K/nothing-here.pem
vault_address = $VAULT_URL
vault_token_file = $T/vault.token
vault_allow = secret/tls/*"
check() { out=$("$PETRELD" -n -f "$1" 2>&1); rc=$?; }
check "$T/petrel.conf"
is "$rc" 0 "petreld -n accepts the policy and tls_key_files"
[ "$rc" = 0 ] || diag "$out"
start_petrel; ok $? "petreld is up"

queued_id() { sed -n 's/.*queued as \([0-9a-f]\{16\}\).*/\1/p' "$T/swaks.$1" | head -n 1; }
in_spool() {	# in_spool ID: the message sent as Message-ID ID is still queued
	local id
	id=$(queued_id "$1")
	[ -n "$id" ] && [ -e "$T/spool/queue/${id:0:2}/$id.msg" ]
}
# relay_tls ADDR: the relay's last "tls"/"tlsfail" line for sessions on
# ADDR (sessions run at once: their lines interleave), without " on ADDR"
relay_tls() {
	grep -F " on $1" "$R/log" | grep -E "^tls(fail)? .* on ${1//./\\.}\$" |
	    tail -n 1 | sed 's/ on [0-9.]*$//'
}

# --- delivered -------------------------------------------------------------------
send u@rsa.test rsa1; ok $? "accepted for rsa.test"
wait_for 30 arrived rsa1; ok $? "RSA client certificate (TLS 1.3: RSA-PSS): delivered"
like "$(relay_tls "$(addr rsa)")" "^tls TLSv1\.[23] cn=client-rsa serial=1201$" \
    "the relay verified client-rsa, serial 1201, through the intermediate"
like "$(line 'event=Delivery .*rcpt=<u@rsa.test>')" ' tls=TLSv1\.[23] .*response="250 2\.0\.0 stored"' \
    "the Delivery line"

send u@ec.test ec1; ok $? "accepted for ec.test"
wait_for 30 arrived ec1; ok $? "ECDSA P-256 client certificate: delivered"
like "$(relay_tls "$(addr ec)")" "^tls TLSv1\.[23] cn=client-ec serial=1202$" \
    "the relay verified client-ec, serial 1202"

send u@renew.test renew1; ok $? "accepted for renew.test"
wait_for 30 arrived renew1; ok $? "renew.test (the certificate before renewal): delivered"
like "$(relay_tls "$(addr renew)")" "serial=1201$" "with serial 1201"

send u@vault.test vault1; ok $? "accepted for vault.test"
wait_for 30 arrived vault1; ok $? "certificate chain and key from Vault: delivered"
like "$(relay_tls "$(addr vault)")" "^tls TLSv1\.[23] cn=client-vault serial=1401$" \
    "the relay verified client-vault, serial 1401"
ok $([ "$(vault_requests /v1/secret/data/tls/client-vault.key)" -ge 1 ]; echo $?) \
    "keysd fetched the key from Vault"

# --- refused --------------------------------------------------------------------------
# failed DOMAIN ID: the TransientFailure line for u@DOMAIN
failed() { line "event=TransientFailure .*rcpt=<u@$1>"; }
# refused DOMAIN ID WHAT: TransientFailure, still in the spool, not delivered
refused() {
	wait_for 30 logged "event=TransientFailure .*rcpt=<u@$1>"
	ok $? "$3: TransientFailure"
	diag "$(failed "$1")"
	ok $(in_spool "$2" && ! arrived "$2"; echo $?) "$3: the message is still queued, not delivered"
}
# names FILE WHAT: some log line names FILE (printed for the report)
names() {
	wait_for 10 grep -qF -- "$1" "$T/petreld.out"
	ok $? "$2: a log line names $1"
	grep -F -- "$1" "$T/petreld.out" | grep -v 'event=TransientFailure' | head -n 2 |
	    while IFS= read -r l; do diag "$l"; done
}

for d in nocert leafonly mismatch notallowed world missing ed keydata; do
	send "u@$d.test" "${d}1"
done
ok $? "accepted for the domains that must fail"

refused nocert.test nocert1 "no tls_certificate"
like "$(relay_tls "$(addr nocert)")" '^tlsfail .*(did not return a certificate|certificate required)' \
    "no tls_certificate: the relay refused the handshake for want of a certificate"

refused leafonly.test leafonly1 "only the leaf, no intermediate"
like "$(relay_tls "$(addr leafonly)")" '^tlsfail .*unable to get local issuer certificate' \
    "only the leaf: the relay could not verify it (so with the chain, the intermediate was sent)"

refused mismatch.test mismatch1 "a key that does not match its certificate"
names "$K/tls-mismatch.key" "a mismatched key"
like "$(grep -F "$K/tls-mismatch.key" "$T/petreld.out" | grep -iv 'event=TransientFailure' | tail -n 1)" \
    '[Mm]atch|[Cc]ertificate' "a mismatched key: the line says it does not match the certificate"
ok $(relay_tls "$(addr mismatch)" | grep -q '^tls '; echo $((1 - $?))) \
    "a mismatched key: no TLS session was established with it"

refused notallowed.test notallowed1 "a key file that matches no pattern of tls_key_files"
names "$K/other-rsa.key" "a key file outside tls_key_files"
ok $(relay_tls "$(addr notallowed)" | grep -q '^tls '; echo $((1 - $?))) \
    "outside tls_key_files: no TLS session with the certificate"

refused world.test world1 "a world-readable key file"
names "$K/tls-world.key" "a world-readable key file"

refused missing.test missing1 "a missing key file"
names "$K/tls-missing.key" "a missing key file"

refused ed.test ed1 "an Ed25519 key (unsupported)"
names "$K/tls-ed.key" "an Ed25519 key"

refused keydata.test keydata1 "key_data as tls_private_key"
like "$(failed keydata.test)" 'tls_private_key' "key_data: the TransientFailure names tls_private_key"

like "$(failed mismatch.test)" '[Cc]ertificate' "the TransientFailure of a mismatched key speaks of the certificate"
ok $(grep -qF -e 'BEGIN PRIVATE KEY' -e "$(key_pem_needle "$TLSDIR/client-rsa.key")" \
    "$T/petreld.out"; echo $((1 - $?))) "no key material in petrel's log"
logged 'event=(Bounce|Expiration) '; ok $((1 - $?)) "nothing bounced"
ok $(grep -q '^stored' "$R/log" && [ "$(cat "$R/count")" = 4 ]; echo $?) \
    "the relay stored exactly the four messages (rsa, ec, renew, vault)"

# --- renewal and reload ------------------------------------------------------------
cp "$TLSDIR/renewed-rsa.chain" "$K/renew.chain.new" &&
cp "$TLSDIR/renewed-rsa.key" "$K/tls-renew.key.new" && chmod 600 "$K/tls-renew.key.new" &&
mv "$K/renew.chain.new" "$K/renew.chain" && mv "$K/tls-renew.key.new" "$K/tls-renew.key"
ok $? "renew.chain and tls-renew.key replaced by a renewed pair (serial 1301), as ACME does"
nreload=$(grep -c 'reload: done' "$T/petreld.out")
kill -HUP "$PETREL_PID"
wait_for 30 sh -c "[ \$(grep -c 'reload: done' '$T/petreld.out') -gt $nreload ]"
ok $? "petreld reloaded (SIGHUP; 'reload: done')"
send u@renew2.test renew2; ok $? "accepted for renew2.test (same key files, a new connection)"
wait_for 30 arrived renew2; ok $? "delivered after the renewal"
like "$(relay_tls "$(addr renew2)")" "cn=renewed-rsa serial=1301$" \
    "the relay verified the renewed certificate, serial 1301"
send v@renew.test renew3
wait_for 30 arrived renew3; ok $? "renew.test again after the reload: delivered"
like "$(relay_tls "$(addr renew)")" "serial=1301$" \
    "with the renewed certificate (a new handshake after the reload)"

# --- petreld -n ------------------------------------------------------------------
n=0
for m in nocert1 leafonly1 mismatch1 notallowed1; do in_spool $m && n=$((n + 1)); done
is "$n" 4 "the failed messages are still queued while petreld runs"
stop_petrel; ok $? "petreld stops"

cat >"$T/keydata.lua" <<LUA
kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  return kumo.make_egress_path {
    enable_tls = 'Required',
    tls_certificate = { key_file = '$K/rsa.chain' },
    tls_private_key = { key_data = [[$KEYPEM]] },
  }
end)
LUA
sed "s|^policy = .*|policy = $T/keydata.lua|" "$T/petrel.conf" >"$T/keydata.conf"
check "$T/keydata.conf"
ok $([ "$rc" != 0 ]; echo $?) "petreld -n refuses key_data as tls_private_key"
like "$out" 'tls_private_key' "and names the field"
diag "$out"
ok $(echo "$out" | grep -qF "$(key_pem_needle "$TLSDIR/client-rsa.key")"; echo $((1 - $?))) \
    "without printing the key"

cat >"$T/halfpair.lua" <<LUA
kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  return kumo.make_egress_path {
    enable_tls = 'Required',
    tls_certificate = { key_file = '$K/rsa.chain' },
  }
end)
LUA
sed "s|^policy = .*|policy = $T/halfpair.lua|" "$T/petrel.conf" >"$T/halfpair.conf"
check "$T/halfpair.conf"
ok $([ "$rc" != 0 ]; echo $?) "petreld -n refuses tls_certificate without tls_private_key"
like "$out" 'tls_private_key' "and says which field is missing"
diag "$out"

kill -TERM "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null; untrack "$RELAY_PID"
