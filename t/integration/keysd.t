#!/bin/bash
# keysd, the only reader of keysources, with privilege separation (as
# root): it reads a key file under key_dirs (as a { key_file } table and
# as a bare path string, KumoMTA's form) and a Vault secret with the token
# from vault_token_file, and deliverd logs in with them to Postfix (SASL);
# yet deliverd's user can open neither the key file nor the token file.
# keysd refuses, naming the file and the worker that asked, a key file
# outside key_dirs, also through a symbolic link or "..", and a Vault path
# outside vault_allow.  Afterwards the password and the Vault token are in
# no log, nowhere in the spool and in no process title of petrel's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix.sh"
. "$(dirname "$0")/vault.sh"
. "$(dirname "$0")/authlib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root to create users and drop privileges"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v postfix >/dev/null || skip_all "postfix not installed"
command -v saslpasswd2 >/dev/null || skip_all "sasl2-bin not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
command -v rsyslogd >/dev/null || skip_all "rsyslog not installed"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 34

make_users
# as_user USER COMMAND...: COMMAND as USER with USER's group only
as_user() {
	setpriv --reuid="$(id -u "$1")" --regid="$(id -g "$1")" --clear-groups \
	    "${@:2}"
}

P=$(free_port)
RELAY=127.0.0.70
DOMAINS="good str out link dotdot vgood vdeny"
# the password and the token: random, so a hit anywhere is a leak
PW=pw-$(od -An -N9 -tx1 /dev/urandom | tr -d ' \n')
VAULT_TOKEN_VALUE=hvs.tok-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

# --- peers -----------------------------------------------------------------
make_ca testca && make_cert testca relay "$(mx_names $DOMAINS)"
ok $? "a test CA and the relay's certificate"
DNSP=$(free_port)
# shellcheck disable=SC2046
start_dnsmasq "$DNSP" $(mx_args $RELAY $DOMAINS); ok $? "dnsmasq is up"
run_sink 127.0.0.6
postfix_init "127.0.0.6:$SP" &&
postfix_set "smtpd_tls_cert_file = $T/relay.crt" "smtpd_tls_key_file = $T/relay.key" \
    "smtpd_tls_security_level = may" &&
postfix_sasl scott "$PW" &&
postfix_listen "$RELAY:$P" &&
postfix_start
ok $? "Postfix with SASL is up (STARTTLS + AUTH)"
start_vault &&
vault_put secret smtp-auth/vgood.test "{\"key\":\"$PW\"}" &&
vault_put other vdeny.test "{\"key\":\"$PW\"}"
ok $? "vaultkv.py is up with the password at secret/smtp-auth/vgood.test and other/vdeny.test"
start_syslog; ok $? "a private rsyslogd is up"

# --- the key files and the token, readable by keysd's user only -----------
K=$T/keys O=$T/outside
mkdir -p "$K" "$O"
printf '%s' "$PW" >"$K/good.pw"
printf '%s' "$PW" >"$O/pw"
ln -s "$O/pw" "$K/link.pw"
chown -R _petrel-keysd: "$K" "$T/vault.token" && chmod 700 "$K" &&
chmod 400 "$K/good.pw" "$T/vault.token" && chmod 644 "$O/pw"
ok $? "key_dirs and the token file belong to _petrel-keysd (0700, 0400)"

cat >"$T/policy.lua" <<LUA
local kumo = require 'kumo'

local passwords = {
  ['good.test'] = { key_file = '$K/good.pw' },
  ['str.test'] = '$K/good.pw',
  ['out.test'] = { key_file = '$O/pw' },
  ['link.test'] = { key_file = '$K/link.pw' },
  ['dotdot.test'] = { key_file = '$K/../outside/pw' },
  ['vgood.test'] = { vault_mount = 'secret', vault_path = 'smtp-auth/vgood.test' },
  ['vdeny.test'] = { vault_mount = 'other', vault_path = 'vdeny.test' },
}

kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  return kumo.make_egress_path {
    enable_tls = 'Required',
    smtp_auth_plain_username = 'scott',
    smtp_auth_plain_password = passwords[domain],
  }
end)
LUA
PRIVSEP=yes auth_conf "$T/policy.lua" "key_dirs = $K
vault_address = $VAULT_URL
vault_token_file = $T/vault.token
vault_allow = secret/smtp-auth/*"
# $VAULT_TOKEN in petreld's environment too: only keysd may get it
VAULT_TOKEN=$VAULT_TOKEN_VALUE start_petrel; ok $? "petreld is up with privsep = yes"

# --- delivery with each form ------------------------------------------------
for d in good str vgood out link dotdot vdeny; do send u@$d.test ${d}1; done
wait_for 20 arrived good1; ok $? "{ key_file } under key_dirs: delivered"
wait_for 20 arrived str1; ok $? "a bare path string (KumoMTA's file form): delivered"
wait_for 20 arrived vgood1; ok $? "Vault with the token from vault_token_file: delivered"
is "$(pf_sasl_logins scott)" 3 "each time after AUTH as scott"

# --- refusals ----------------------------------------------------------------
wait_for 20 logged "deliverd\[[0-9]+\] \(pid [0-9]+\): key file $O/pw is outside key_dirs \($K\): refused"
ok $? "a key file outside key_dirs: refused, naming the file and the worker"
like "$(line "event=TransientFailure .*rcpt=<u@out.test>")" "key file $O/pw is outside key_dirs" \
    "and the message is deferred, saying why"
wait_for 20 logged "key file $K/link.pw \(really $O/pw\) is outside key_dirs"
ok $? "a symbolic link from key_dirs to outside: refused, naming both"
wait_for 20 logged "key file $K/\.\./outside/pw \(really $O/pw\) is outside key_dirs"
ok $? "a path through '..': refused"
wait_for 20 logged "other/vdeny\.test.* matches no pattern of vault_allow"
ok $? "a Vault path outside vault_allow: refused"
is "$(grep -c '"path": "/v1/other/data/vdeny.test"' "$T/vault/requests.jsonl")" 0 \
    "without asking Vault"
ok $(arrived out1 || arrived link1 || arrived dotdot1 || arrived vdeny1; echo $((1 - $?))) \
    "none of those was delivered"
ok $(logged 'event=(Bounce|Expiration) '; echo $((1 - $?))) "nor bounced"

# --- who can read what ---------------------------------------------------------
ok $(as_user _petrel-deliverd cat "$K/good.pw" >/dev/null 2>&1; echo $((1 - $?))) \
    "_petrel-deliverd cannot open the key file"
ok $(as_user _petrel-deliverd cat "$T/vault.token" >/dev/null 2>&1; echo $((1 - $?))) \
    "_petrel-deliverd cannot open the Vault token file"
ok $(as_user _petrel-smtpd cat "$K/good.pw" >/dev/null 2>&1; echo $((1 - $?))) \
    "_petrel-smtpd cannot either"
is "$(as_user _petrel-keysd cat "$K/good.pw")" "$PW" "_petrel-keysd can"
DELIVERD_UID=$(id -u _petrel-deliverd) KEYSD_UID=$(id -u _petrel-keysd)
ruid() { awk '/^Uid:/ { print $2 }' /proc/"$1"/status; }
nd=0 nk=0
for c in $(cat /proc/"$PETREL_PID"/task/*/children); do
	case "$(ruid "$c")" in
	"$DELIVERD_UID") nd=$((nd + 1)) ;;
	"$KEYSD_UID") nk=$((nk + 1)) ;;
	esac
done
is "$nd $nk" "1 1" "one deliverd runs as _petrel-deliverd, one keysd as _petrel-keysd"

# --- secrets never leak ----------------------------------------------------------
titles=$(for c in "$PETREL_PID" $(cat /proc/"$PETREL_PID"/task/*/children); do
	tr '\0' ' ' </proc/"$c"/cmdline; echo; done)
like "$titles" 'smtp client' "the process titles were read"
ok $(echo "$titles" | grep -qF -e "$PW" -e "$VAULT_TOKEN_VALUE"; echo $((1 - $?))) \
    "no process title holds the password or the token"
# the memory itself (as root: the children are not dumpable), after three
# logins: the token only in keysd; the password, raw or as the AUTH PLAIN
# line, nowhere but keysd (deliverd wiped what it held)
plain=$(printf '\0scott\0%s' "$PW" | base64 -w0)
tokmem=0 pwmem=0 nmem=0
for k in $(petrel_children | awk '$2 != "keysd" { print $1 }'); do
	nmem=$((nmem + 1))
	/usr/bin/python3 "$SRCDIR/t/integration/memgrep.py" "$k" \
	    "$VAULT_TOKEN_VALUE" >&2 && tokmem=$((tokmem + 1))
	/usr/bin/python3 "$SRCDIR/t/integration/memgrep.py" "$k" "$PW" \
	    "$plain" >&2 && pwmem=$((pwmem + 1))
done
is "$nmem $tokmem" "4 0" "the Vault token is in the memory of none of queued, smtpd and deliverd (\$VAULT_TOKEN was set for petreld)"
is "$pwmem" 0 "nor the password, raw or base64 in an AUTH PLAIN line"
dpid=$(petrel_children | awk '$2 == "deliverd" { print $1 }')
/usr/bin/python3 "$SRCDIR/t/integration/memgrep.py" "$dpid" "AUTH PLAIN" >/dev/null
ok $? "the search does read deliverd's memory (it finds the string AUTH PLAIN)"
stop_petrel; ok $? "petreld stops"
leaks() {	# leaks FILE...: the files that hold the password or the token
	grep -lrF -e "$PW" -e "$VAULT_TOKEN_VALUE" "$@" 2>/dev/null
}
is "$(leaks "$T/spool")" "" "the spool holds neither"
grep -q 'petrel/keysd' "$T/maillog"; ok $? "petrel's log lines reached syslog too"
is "$(leaks "$T/petreld.out" "$T/maillog" "$PFD/maillog" "$T/vault/requests.jsonl" \
    "$T/vault.out")" "" "no log does (petrel's stderr and syslog, Postfix's, Vault's)"
postfix_stop; ok $? "Postfix stops"
