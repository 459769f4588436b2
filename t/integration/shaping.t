#!/bin/bash
# require 'policy-extras.shaping' with real peers: the outbound_auth
# page's shaping block (KumoMTA's docs) verbatim but for the address
# (127.0.0.6) and the user (scott), routed by get_queue_config to
# [127.0.0.6], where Postfix with Cyrus SASL demands STARTTLS + AUTH; the
# password comes from Vault (vaultkv.py).  Once as TOML, once as the
# same block in JSON, trailing commas and all, as users copy it.  Mail
# reaches the relay as scott both times.
#
# Then the files petreld -n must refuse, each with a message naming the
# file and the line and column, or the section and the key: a TOML syntax
# error, a JSON one, an unknown key, a wrong type, a bad keysource; a
# plain-string password that is no file is only a warning, which does not
# show the string.  Last, a reload with a broken shaping file keeps the
# old policy running: the log says why and mail still flows as scott.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix.sh"
. "$(dirname "$0")/vault.sh"
. "$(dirname "$0")/authlib.sh"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v postfix >/dev/null || skip_all "postfix not installed"
command -v saslpasswd2 >/dev/null || skip_all "sasl2-bin not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
plan 25

P=$(free_port)
DNSP=$(free_port)	# no DNS: the routing domain is an address literal

make_ca testca && make_cert testca relay "IP:127.0.0.6"
ok $? "a test CA and the relay's certificate for IP 127.0.0.6"

run_sink 127.0.0.7
postfix_init "127.0.0.7:$SP" &&
postfix_set "smtpd_tls_cert_file = $T/relay.crt" "smtpd_tls_key_file = $T/relay.key" \
    "smtpd_tls_security_level = may" &&
postfix_sasl scott tiger &&
postfix_listen "127.0.0.6:$P" -o syslog_name=postfix/shaping &&
postfix_start
ok $? "Postfix with SASL on 127.0.0.6 (STARTTLS + AUTH)"

start_vault && vault_put secret smtp-auth/local '{"key":"tiger"}'
ok $? "vaultkv.py is up with secret/smtp-auth/local"

SYSLOG_SOCKET=
# policy FILE: the two-line use of the helper, and the smart host
policy() {
	cat >"$T/policy.lua" <<LUA
local shaping = require 'policy-extras.shaping'
kumo.on('get_egress_path_config', shaping:setup { '$1' })

kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  return kumo.make_queue_config { routing_domain = '[127.0.0.6]' }
end)
LUA
	auth_conf "$T/policy.lua" "vault_address = $VAULT_URL
vault_token_file = $T/vault.token
key_dirs = $T/keys"
}
check() { "$PETRELD" -n -f "$T/petrel.conf" >"$T/check.out" 2>&1; }
mkdir -p "$T/keys"

# --- the seed, as TOML --------------------------------------------------------
cat >"$T/shaping.toml" <<'TOML'
["127.0.0.6"]
mx_rollup = false
smtp_auth_plain_username = "scott"
smtp_auth_plain_password = { vault_mount = "secret", vault_path = "smtp-auth/local" }
TOML
policy "$T/shaping.toml"
check; rc=$?
ok $rc "petreld -n: the policy and shaping.toml are good"
[ $rc = 0 ] || sed 's/^/#   /' "$T/check.out"
is "$(cat "$T/check.out")" "configuration OK" "without a warning"
start_petrel; ok $? "petreld is up with shaping.toml"
send u@shaping.test t1
wait_for 20 arrived t1; ok $? "TOML: delivered through Postfix on [127.0.0.6]"
grep -q '(Authenticated sender: scott)' "$(eml t1)"
ok $? "as scott (the Received header), the password from Vault"
like "$(line 'event=Delivery .*rcpt=<u@shaping.test>')" \
    ' relay=127\.0\.0\.6\[127\.0\.0\.6\]:[0-9]+ tls=TLS.* auth=scott ' \
    "the Delivery line has tls= and auth=scott"
stop_petrel; ok $? "petreld stops"

# --- the same, as JSON with trailing commas -----------------------------------
cat >"$T/shaping.json" <<'JSON'
{
  "127.0.0.6": {
    "mx_rollup": false,
    "smtp_auth_plain_username": "scott",
    "smtp_auth_plain_password": {
      "vault_mount": "secret",
      "vault_path": "smtp-auth/local",
    },
  },
}
JSON
policy "$T/shaping.json"
check; rc=$?
ok $rc "petreld -n: shaping.json with its trailing commas is good"
[ $rc = 0 ] || sed 's/^/#   /' "$T/check.out"
start_petrel; ok $? "petreld is up with shaping.json"
send v@shaping.test j1
wait_for 20 arrived j1; ok $? "JSON: delivered through Postfix on [127.0.0.6]"
grep -q '(Authenticated sender: scott)' "$(eml j1)"
ok $? "as scott"

# --- files petreld -n refuses -------------------------------------------------
# bad NAME.EXT 'CONTENT' REGEX DESCRIPTION: petreld -n exits 1 with REGEX
bad() {
	printf '%s\n' "$2" >"$T/$1"
	policy "$T/$1"
	check
	local rc=$?
	like "$rc $(cat "$T/check.out")" "^1 .*$3" "$4"
	[ "$rc" = 1 ] || sed 's/^/#   /' "$T/check.out"
}
bad syntax.toml '["127.0.0.6"]
mx_rollup = false
smtp_auth_plain_username = scott' \
    "$T/syntax\\.toml: line 3, column [0-9]+" \
    "a TOML syntax error: file, line and column"
bad syntax.json '{ "127.0.0.6": {
  "mx_rollup": false
  "smtp_auth_plain_username": "scott" } }' \
    "$T/syntax\\.json.*line 3, column [0-9]+" \
    "a JSON syntax error (not a trailing comma): file, line and column"
bad unknown.toml '["127.0.0.6"]
mx_rollup = false
smtp_auth_plain_usernme = "scott"' \
    "$T/unknown\\.toml: \\[127\\.0\\.0\\.6\\] smtp_auth_plain_usernme: unknown key" \
    "an unknown key: file, section and key"
bad type.toml '["default"]
connection_limit = "lots"' \
    "$T/type\\.toml: \\[default\\] connection_limit: expected a number" \
    "a wrong type: file, section and key"
bad keysource.toml '["127.0.0.6"]
mx_rollup = false
smtp_auth_plain_username = "scott"
smtp_auth_plain_password = { vault_mount = "secret", vault_pth = "smtp-auth/local" }' \
    "$T/keysource\\.toml: \\[127\\.0\\.0\\.6\\] smtp_auth_plain_password: unknown key 'vault_pth'" \
    "a bad keysource: file, section and key"

cat >"$T/plain.toml" <<'TOML'
["127.0.0.6"]
mx_rollup = false
smtp_auth_plain_username = "scott"
smtp_auth_plain_password = "/tiger-is-not-a-file"
TOML
policy "$T/plain.toml"
check
like "$? $(cat "$T/check.out")" \
    "^0 .*a plain string smtp_auth_plain_password in $T/plain\\.toml \\[127\\.0\\.0\\.6\\] is a file path that does not exist \\(write \\{ key_data = \\.\\.\\. \\} for an inline password\\)" \
    "a plain-string password that is no file: a warning, petreld -n passes"
ok $(grep -q tiger-is-not "$T/check.out"; echo $((1 - $?))) \
    "the warning does not show the string"

# --- a reload with a broken file keeps the running policy ----------------------
printf '{ "127.0.0.6": { "mx_rollup": false, "smtp_auth_plain_usernme": "scott" } }\n' \
    >"$T/shaping.json"
policy "$T/shaping.json"
kill -HUP "$PETREL_PID"
wait_for 20 logged "reload: policy: $T/shaping\\.json: \\[127\\.0\\.0\\.6\\] smtp_auth_plain_usernme: unknown key.*the running policy stays"
ok $? "SIGHUP with a broken shaping file: the log says why, the running policy stays"
send w@shaping.test r1
wait_for 20 arrived r1; ok $? "mail still flows"
grep -q '(Authenticated sender: scott)' "$(eml r1)"
ok $? "as scott, with the old shaping data"
stop_petrel; ok $? "petreld stops"
