#!/bin/bash
# SMTP AUTH on deliverd's side against a real relay that demands it:
# Postfix with Cyrus SASL (postfix.sh's postfix_sasl), MX records from
# dnsmasq, one listener a case (each with its own syslog_name, so AUTH
# attempts are counted per listener from the maillog).
#
# First KumoMTA's SMTP AUTH snippet, verbatim but for the user name
# (enable_tls = 'Required', scott, { key_data = 'tiger' }), as the whole
# policy: etc/policy.dev.lua, the policy of ./quickstart run.  Then one policy with a path a case: a LOGIN-only relay; a relay
# that offers AUTH only in clear text (refused unless
# allow_smtp_auth_plain_without_tls); RequiredInsecure against a
# certificate that does not verify (refused unless
# allow_smtp_auth_plain_without_valid_certificate); a wrong password in a
# key file: TransientFailure, the message waits (never bounced), no
# second AUTH reaches the relay while the password is unchanged, and once
# the file holds the right one (keysd's cache_ttl is 2 s) it is delivered.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix.sh"
. "$(dirname "$0")/authlib.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v postfix >/dev/null || skip_all "postfix not installed"
command -v saslpasswd2 >/dev/null || skip_all "sasl2-bin not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 48

P=$(free_port)
KEYDATA=127.0.0.50 LOGINA=127.0.0.51 CLEARA=127.0.0.52 ROGUEA=127.0.0.53
WRONGA=127.0.0.54

# --- certificates, DNS, the relays --------------------------------------
names() { local n s=""; for n; do s="$s,DNS:$n"; done; echo "${s#,}"; }
make_ca testca && make_ca rogueca &&
make_cert testca relay "$(names mx.keydata.test mx.login.test mx.wrong.test)" &&
make_cert rogueca rogue "$(names mx.insecure.test mx.insecureok.test)"
ok $? "a test CA, a rogue CA and the relays' certificates"

DNSP=$(free_port)
mx() { echo "--mx-host=$1,$2,10 --host-record=$2,$3"; }
start_dnsmasq "$DNSP" $(mx keydata.test mx.keydata.test $KEYDATA) \
    $(mx login.test mx.login.test $LOGINA) \
    $(mx clear.test mx.clear.test $CLEARA) \
    $(mx clearopp.test mx.clearopp.test $CLEARA) \
    $(mx clearok.test mx.clearok.test $CLEARA) \
    $(mx insecure.test mx.insecure.test $ROGUEA) \
    $(mx insecureok.test mx.insecureok.test $ROGUEA) \
    $(mx wrong.test mx.wrong.test $WRONGA)
ok $? "dnsmasq is up"

run_sink 127.0.0.6
postfix_init "127.0.0.6:$SP" &&
postfix_set "smtpd_tls_cert_file = $T/relay.crt" "smtpd_tls_key_file = $T/relay.key" \
    "smtpd_tls_security_level = may" &&
postfix_sasl scott tiger &&
postfix_sasl_conf smtpd-login LOGIN &&
postfix_listen "$KEYDATA:$P" -o syslog_name=postfix/keydata &&
postfix_listen "$LOGINA:$P" -o smtpd_sasl_path=smtpd-login -o syslog_name=postfix/login &&
postfix_listen "$CLEARA:$P" -o smtpd_tls_security_level=none \
    -o smtpd_tls_auth_only=no -o syslog_name=postfix/clear &&
postfix_listen "$ROGUEA:$P" -o "smtpd_tls_cert_file=$T/rogue.crt" \
    -o "smtpd_tls_key_file=$T/rogue.key" -o syslog_name=postfix/rogue &&
postfix_listen "$WRONGA:$P" -o syslog_name=postfix/wrong &&
postfix_start
ok $? "Postfix with SASL is up: STARTTLS + AUTH, LOGIN only, AUTH in clear text, a rogue certificate"

# SMTP sessions a listener has seen begin and end (postfix_start's
# readiness probe, a connection closed at once, does not count)
connects() {
	echo $(( $(PFL=$1 _pf_log | grep -c ' connect from ') -
	    $(PFL=$1 _pf_log | grep -c ' lost connection after CONNECT ') ))
}
ended() { PFL=$1 _pf_log | grep -c ' disconnect from .* ehlo='; }
conf() { auth_conf "$1" "key_dirs = $T/keys
cache_ttl = 2s"; }
SYSLOG_SOCKET=
mkdir -p "$T/keys"

# --- KumoMTA's snippet, verbatim ---------------------------------------------
# etc/policy.dev.lua (./quickstart run's policy) is that snippet and nothing
# else but comments
conf "$SRCDIR/etc/policy.dev.lua"
start_petrel; ok $? "petreld is up with KumoMTA's SMTP AUTH snippet as its policy"
send u@keydata.test kd1; ok $? "accepted for keydata.test"
wait_for 20 arrived kd1; ok $? "Required + AUTH PLAIN with { key_data = 'tiger' }: delivered through Postfix"
grep -q '(Authenticated sender: scott)' "$(eml kd1)"
ok $? "Postfix's Received header says: Authenticated sender: scott"
is "$(PFL=keydata pf_sasl_logins scott)" 1 "the maillog has sasl_method=PLAIN, sasl_username=scott"
grep -q 'postfix/keydata/smtpd.*sasl_method=PLAIN, sasl_username=scott$' "$PFD/maillog"
ok $? "with AUTH PLAIN"
like "$(line 'event=Delivery .*rcpt=<u@keydata.test>')" \
    ' relay=mx\.keydata\.test\[127\.0\.0\.50\]:[0-9]+ tls=TLSv1\.3 .*auth=scott response="250 ' \
    "the Delivery line has tls= and auth=scott"
ok $(grep -q tiger "$T/petreld.out"; echo $((1 - $?))) "the password is not in petrel's log"
send v@keydata.test kd2
wait_for 20 arrived kd2; ok $? "a second message to keydata.test is delivered"
is "$(PFL=keydata pf_auth_failed) $(connects keydata)" "0 1" \
    "over the same connection (one connect, no failed AUTH)"
is "$(PFL=keydata pf_sasl_logins scott)" 2 "both as scott"
stop_petrel; ok $? "petreld stops"

# --- one path a case ----------------------------------------------------------
printf lion >"$T/keys/wrong.pw"
cat >"$T/policy.lua" <<LUA
local kumo = require 'kumo'

local function auth(t)
  t.smtp_auth_plain_username = 'scott'
  t.smtp_auth_plain_password = t.smtp_auth_plain_password or { key_data = 'tiger' }
  return t
end
local paths = {
  ['login.test'] = auth { enable_tls = 'Required' },
  ['clear.test'] = auth { enable_tls = 'Disabled' },
  ['clearopp.test'] = auth { enable_tls = 'Opportunistic' },
  ['clearok.test'] = auth { enable_tls = 'Disabled',
                            allow_smtp_auth_plain_without_tls = true },
  ['insecure.test'] = auth { enable_tls = 'RequiredInsecure' },
  ['insecureok.test'] = auth { enable_tls = 'RequiredInsecure',
      allow_smtp_auth_plain_without_valid_certificate = true },
  ['wrong.test'] = auth { enable_tls = 'Required',
      smtp_auth_plain_password = { key_file = '$T/keys/wrong.pw' } },
}

kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  return kumo.make_egress_path(paths[domain] or {})
end)
LUA
conf "$T/policy.lua"
"$PETRELD" -n -f "$T/petrel.conf" >"$T/check.out" 2>&1
ok $? "petreld -n: the policy with a path a case is fine"
start_petrel; ok $? "petreld is up with it"

# a LOGIN-only relay
send u@login.test login1
wait_for 20 arrived login1; ok $? "a relay that offers only AUTH LOGIN: delivered"
grep -q 'postfix/login/smtpd.*sasl_method=LOGIN, sasl_username=scott$' "$PFD/maillog"
ok $? "Postfix saw AUTH LOGIN as scott"
is "$(PFL=login pf_auth_failed)" 0 "no AUTH failed there (PLAIN was not tried)"
like "$(line 'event=Delivery .*rcpt=<u@login.test>')" ' auth=scott ' "the Delivery line has auth=scott"

# AUTH offered only in clear text
send u@clear.test clear1
send u@clearopp.test clearopp1
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@clear.test> .*AUTH to .* not attempted: the session is not under TLS'
ok $? "Disabled, AUTH in clear text offered: TransientFailure, AUTH not attempted (not under TLS)"
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@clearopp.test> .*not under TLS'
ok $? "Opportunistic to a relay without STARTTLS: the same"
wait_for 20 atleast 2 ended clear
is "$(PFL=clear pf_auth_attempts)" 0 "the clear-text relay saw no AUTH command"
ok $(arrived clear1 || arrived clearopp1; echo $((1 - $?))) "and nothing was sent"
send u@clearok.test clearok1
wait_for 20 arrived clearok1; ok $? "with allow_smtp_auth_plain_without_tls = true: delivered"
is "$(PFL=clear pf_sasl_logins scott)" 1 "after AUTH as scott in clear text"

# RequiredInsecure and a certificate that does not verify
send u@insecure.test insecure1
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@insecure.test> .*AUTH to .* not attempted: its TLS certificate was not verified'
ok $? "RequiredInsecure, an unknown CA: TransientFailure, AUTH not attempted"
wait_for 20 atleast 1 ended rogue
is "$(PFL=rogue pf_auth_attempts)" 0 "the relay saw no AUTH command"
ok $(arrived insecure1; echo $((1 - $?))) "and nothing was sent"
send u@insecureok.test insecureok1
wait_for 20 arrived insecureok1
ok $? "with allow_smtp_auth_plain_without_valid_certificate = true: delivered"
is "$(PFL=rogue pf_sasl_logins scott)" 1 "after AUTH as scott"

# a wrong password: TransientFailure, back-off, then the right one
send u@wrong.test wrong1
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@wrong.test> .*535 5\.7\.8'
ok $? "a wrong password (key file): TransientFailure with the relay's 535"
is "$(PFL=wrong pf_auth_failed PLAIN)" 1 "Postfix saw one failed AUTH PLAIN"
like "$(line 'event=AuthFailed user=scott')" 'mx\.wrong\.test.*535 5\.7\.8' \
    "deliverd logs the bad login once, naming user and host"
# queued retries every second: each retry is held back without a connection
wait_for 20 atleast 3 nlogged 'event=TransientFailure .*rcpt=<u@wrong.test> .*not trying again'
ok $? "three retries later, each held back (\"not trying again\")"
is "$(PFL=wrong pf_auth_failed) $(connects wrong)" "1 1" \
    "the relay still saw one AUTH in one connection"
ok $(logged 'event=(Bounce|Expiration) '; echo $((1 - $?))) "nothing was bounced"
ok $(arrived wrong1; echo $((1 - $?))) "it was not delivered"
grep -rlq 'u@wrong.test' "$T/spool/queue"; ok $? "it waits in the spool"
is "$(nlogged 'event=AuthFailed ')" 1 "and the bad login was logged once"

printf tiger >"$T/keys/wrong.pw"
wait_for 20 arrived wrong1; ok $? "the key file corrected (cache_ttl 2 s): delivered at a retry"
is "$(PFL=wrong pf_auth_failed) $(PFL=wrong pf_sasl_logins scott)" "1 1" \
    "after one more AUTH, which succeeded"
like "$(line 'event=Delivery .*rcpt=<u@wrong.test>')" ' auth=scott .*attempts=([4-9]|[1-9][0-9])' \
    "the Delivery line counts the attempts"

ok $(grep -Eq 'tiger|lion' "$T/petreld.out"; echo $((1 - $?))) "no password in petrel's log"
ok $(grep -rqE 'tiger|lion' "$T/spool"; echo $((1 - $?))) "nor in the spool"
stop_petrel; ok $? "petreld stops"
postfix_stop; ok $? "Postfix stops"
