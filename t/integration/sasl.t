#!/bin/bash
# The SMTP AUTH relays the AUTH tests deliver to, checked with swaks
# before petrel is trusted with them: Postfix with Cyrus SASL (sasldb)
# from postfix.sh's postfix_sasl, demanding STARTTLS before AUTH; a
# LOGIN-only listener; a listener offering AUTH in clear text; and
# authrelay.py (aiosmtpd) with the same three set-ups.  Also the log
# counters the AUTH tests use (pf_auth_failed, pf_sasl_logins,
# pf_auth_attempts).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix.sh"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v postfix >/dev/null || skip_all "postfix not installed"
command -v saslpasswd2 >/dev/null || skip_all "sasl2-bin not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 40

P=$(free_port)
TLSA=127.0.0.40 LOGINA=127.0.0.41 CLEARA=127.0.0.42

make_ca saslca && make_cert saslca relay "DNS:localhost,IP:$TLSA,IP:$LOGINA,IP:$CLEARA,IP:127.0.0.1"
ok $? "a test CA and the relay's certificate"

run_sink 127.0.0.6
postfix_init "127.0.0.6:$SP" &&
postfix_set "smtpd_tls_cert_file = $T/relay.crt" "smtpd_tls_key_file = $T/relay.key" \
    "smtpd_tls_security_level = may" &&
postfix_sasl scott tiger &&
postfix_sasl_conf smtpd-login LOGIN &&
postfix_listen "$TLSA:$P" &&
postfix_listen "$LOGINA:$P" -o smtpd_sasl_path=smtpd-login &&
postfix_listen "$CLEARA:$P" -o smtpd_tls_security_level=none -o smtpd_tls_auth_only=no &&
postfix_start
ok $? "Postfix with SASL is up: STARTTLS + AUTH, LOGIN only, AUTH in clear text"

sw() {	# sw ADDR:PORT NAME SWAKS-ARGS...: output in $T/sw.NAME
	local srv=$1 name=$2; shift 2
	swaks --server "$srv" --from s@petrel.test --to u@example.net \
	    --header "Message-ID: <$name@test>" "$@" >"$T/sw.$name" 2>&1
}
arrived() { grep -lqs "^Message-ID: <$1@test>" "$T/sink"/*.eml; }
eml() { grep -ls "^Message-ID: <$1@test>" "$T/sink"/*.eml | head -n 1; }
ehlo_auth() { grep -E '^<[-~]  250[- ]AUTH ' "$T/sw.$1" | sed 's/^<[-~]  250[- ]//'; }

# --- Postfix: STARTTLS, then AUTH PLAIN / LOGIN -----------------------------
sw "$TLSA:$P" plain1 --tls --auth PLAIN --auth-user scott --auth-password tiger
ok $? "swaks --tls --auth PLAIN scott/tiger: accepted"
grep -q '^<~  235 ' "$T/sw.plain1"; ok $? "235 to AUTH PLAIN"
wait_for 20 arrived plain1; ok $? "relayed to the sink"
grep -q '(Authenticated sender: scott)' "$(eml plain1)"
ok $? "the Received header says: Authenticated sender: scott"
is "$(pf_sasl_logins scott)" 1 "the maillog has sasl_username=scott once"

sw "$TLSA:$P" login1 --tls --auth LOGIN --auth-user scott --auth-password tiger
ok $? "swaks --tls --auth LOGIN: accepted"
wait_for 20 arrived login1; ok $? "relayed to the sink"
grep -q 'sasl_method=LOGIN, sasl_username=scott$' "$PFD/maillog"
ok $? "the maillog says sasl_method=LOGIN"

sw "$TLSA:$P" wrong1 --tls --auth PLAIN --auth-user scott --auth-password lion
ok $([ $? != 0 ]; echo $?) "a wrong password: swaks fails"
grep -q '^<~\* 535 5\.7\.8 ' "$T/sw.wrong1"; ok $? "with 535 5.7.8"
wait_for 10 sh -c '[ "$(grep -c "SASL PLAIN authentication failed" '"$PFD"'/maillog)" = 1 ]'
is "$(pf_auth_failed PLAIN)" 1 "pf_auth_failed PLAIN counts it"
sw "$TLSA:$P" wrong2 --tls --auth LOGIN --auth-user scott --auth-password lion
wait_for 10 sh -c '[ "$(grep -c "SASL LOGIN authentication failed" '"$PFD"'/maillog)" = 1 ]'
is "$(pf_auth_failed LOGIN)" 1 "pf_auth_failed LOGIN counts a LOGIN failure"
is "$(pf_auth_failed)" 2 "pf_auth_failed counts both"

sw "$TLSA:$P" ehlo1 --quit-after EHLO
is "$(ehlo_auth ehlo1)" "" "before STARTTLS no AUTH is offered"
sw "$TLSA:$P" ehlo2 --tls --quit-after EHLO
is "$(ehlo_auth ehlo2)" "AUTH PLAIN LOGIN" "after STARTTLS: AUTH PLAIN LOGIN"

sw "$TLSA:$P" noauth1 --tls
ok $([ $? != 0 ]; echo $?) "without AUTH: swaks fails"
grep -q '^<~\* 554 5\.7\.1 <u@example.net>: Recipient address rejected: Access denied' "$T/sw.noauth1"
ok $? "RCPT gets 554 5.7.1 (relaying needs AUTH)"

# the sessions are over: disconnect lines carry auth=N/M
wait_for 10 sh -c '[ "$(grep -c " disconnect from " '"$PFD"'/maillog)" -ge 6 ]'
is "$(pf_auth_attempts) $(pf_auth_ok)" "4 2" "pf_auth_attempts / pf_auth_ok: 4 AUTHs, 2 good"

# --- a LOGIN-only listener ----------------------------------------------------
sw "$LOGINA:$P" ehlo3 --tls --quit-after EHLO
is "$(ehlo_auth ehlo3)" "AUTH LOGIN" "the LOGIN-only listener offers AUTH LOGIN only"
sw "$LOGINA:$P" login2 --tls --auth LOGIN --auth-user scott --auth-password tiger
ok $? "swaks --auth LOGIN: accepted"
wait_for 20 arrived login2; ok $? "relayed"
sw "$LOGINA:$P" plain2 --tls --auth PLAIN --auth-user scott --auth-password tiger
ok $([ $? != 0 ]; echo $?) "swaks --auth PLAIN: refused (not offered)"
ok $(arrived plain2; echo $((1 - $?))) "and nothing relayed"

# --- AUTH offered in clear text -----------------------------------------------
sw "$CLEARA:$P" ehlo4 --quit-after EHLO
is "$(ehlo_auth ehlo4)" "AUTH PLAIN LOGIN" "the clear-text listener offers AUTH without TLS"
grep -q '^<-  250-STARTTLS' "$T/sw.ehlo4"
ok $((1 - $?)) "and no STARTTLS"
sw "$CLEARA:$P" clear1 --auth PLAIN --auth-user scott --auth-password tiger
ok $? "AUTH PLAIN in clear text: accepted"
wait_for 20 arrived clear1; ok $? "relayed"

# --- authrelay.py ---------------------------------------------------------
start_authrelay() {	# start_authrelay NAME ARGS...: log in $T/ar-NAME.out
	local name=$1; shift
	AP=$(free_port)
	"$PY" -u "$SRCDIR/t/integration/authrelay.py" --listen "127.0.0.1:$AP" \
	    --user scott --password tiger "$@" >"$T/ar-$name.out" 2>&1 &
	track $!
	wait_for 20 grep -q '^authrelay: listening' "$T/ar-$name.out"
}
start_authrelay tls --cert "$T/relay.crt" --key "$T/relay.key"
ok $? "authrelay.py is up with STARTTLS"
sw "127.0.0.1:$AP" ar1 --tls --auth PLAIN --auth-user scott --auth-password tiger
ok $? "swaks --tls --auth PLAIN: accepted"
grep -q '^authenticated as scott$' "$T/ar-tls.out"; ok $? "it prints: authenticated as scott"
grep -q '^Message-ID: <ar1@test>' "$T/ar-tls.out"; ok $? "and the message"
sw "127.0.0.1:$AP" ar2 --tls --auth LOGIN --auth-user scott --auth-password tiger
ok $? "swaks --tls --auth LOGIN: accepted"
sw "127.0.0.1:$AP" ar3 --tls --auth PLAIN --auth-user scott --auth-password lion
grep -q '^<~\* 535 5\.7\.8 ' "$T/sw.ar3"; ok $? "a wrong password: 535"
sw "127.0.0.1:$AP" ar4 --tls
grep -q '^<~\* 530 5\.7\.0 ' "$T/sw.ar4"; ok $? "MAIL without AUTH: 530"
sw "127.0.0.1:$AP" ar5 --quit-after EHLO
is "$(ehlo_auth ar5)" "" "no AUTH before STARTTLS"

start_authrelay clear --no-tls --mechs LOGIN
sw "127.0.0.1:$AP" ar6 --auth LOGIN --auth-user scott --auth-password tiger
ok $? "--no-tls --mechs LOGIN: AUTH LOGIN in clear text accepted"
is "$(ehlo_auth ar6)" "AUTH LOGIN" "and only LOGIN offered"

postfix_stop; ok $? "Postfix stops"
