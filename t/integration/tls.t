#!/bin/bash
# TLS on deliverd's side, against a private Postfix (STARTTLS with a test
# CA, without STARTTLS, with a certificate from another CA, implicit TLS
# in wrapper mode) and tlspeer.py (junk after the 220 to STARTTLS, a
# handshake that stalls).  dnsmasq gives each case its own MX host.
#
# First the default enable_tls (Opportunistic): TLS when offered, the
# certificate verified against [deliverd] ca_file and the MX name (or
# the address of an IP literal).  Then enable_tls and implicit_tls set
# by a KumoMTA get_egress_path_config handler, one domain per mode.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v postfix >/dev/null || skip_all "postfix not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 67

P=$(free_port)
GOOD=127.0.0.30 CLEAR=127.0.0.31 ROGUE=127.0.0.32 WRAP=127.0.0.33
JUNK=127.0.0.34 STALL=127.0.0.35 REFUSE=127.0.0.36 WRAPROGUE=127.0.0.37

# --- certificates: the CA deliverd trusts, and one it does not know -----
names() { local n s=""; for n; do s="$s,DNS:$n"; done; echo "${s#,}"; }
make_ca testca && make_ca rogueca &&
make_cert testca good "$(names mx.tls.test mx2.stall.test mx.req.test \
    mx.disabled.test mx.implicit.test),IP:$GOOD,IP:$WRAP" &&
make_cert rogueca rogue "$(names mx.rogue.test mx.reqrogue.test \
    mx.insecure.test mx.implrogue.test mx.implins.test),IP:$ROGUE" &&
make_cert testca peer "$(names mx.junk.test mx1.stall.test \
    mx.oppins.test mx.refuse.test mx.reqrefuse.test)"
ok $? "a test CA, a rogue CA and their server certificates"

# --- peers ----------------------------------------------------------------
DNSP=$(free_port)
mx() { echo "--mx-host=$1,$2,${4:-10} --host-record=$2,$3"; }
start_dnsmasq "$DNSP" $(mx tls.test mx.tls.test $GOOD) \
    $(mx clear.test mx.clear.test $CLEAR) $(mx rogue.test mx.rogue.test $ROGUE) \
    $(mx wrong.test mx.wrong.test $GOOD) $(mx junk.test mx.junk.test $JUNK) \
    $(mx stall.test mx1.stall.test $STALL 10) \
    $(mx stall.test mx2.stall.test $GOOD 20) \
    $(mx refuse.test mx.refuse.test $REFUSE) \
    $(mx req.test mx.req.test $GOOD) $(mx reqclear.test mx.reqclear.test $CLEAR) \
    $(mx reqrogue.test mx.reqrogue.test $ROGUE) \
    $(mx insecure.test mx.insecure.test $ROGUE) \
    $(mx opp.test mx.opp.test $CLEAR) $(mx disabled.test mx.disabled.test $GOOD) \
    $(mx implicit.test mx.implicit.test $WRAP) \
    $(mx oppins.test mx.oppins.test $STALL) \
    $(mx reqrefuse.test mx.reqrefuse.test $REFUSE) \
    $(mx implrogue.test mx.implrogue.test $WRAPROGUE) \
    $(mx implins.test mx.implins.test $WRAPROGUE)
ok $? "dnsmasq is up"

run_sink 127.0.0.6
postfix_init "127.0.0.6:$SP" &&
postfix_set "smtpd_tls_cert_file = $T/good.crt" \
    "smtpd_tls_key_file = $T/good.key" "smtpd_tls_security_level = may" &&
postfix_listen "$GOOD:$P" &&
postfix_listen "$CLEAR:$P" -o smtpd_tls_security_level=none &&
postfix_listen "$ROGUE:$P" -o "smtpd_tls_cert_file=$T/rogue.crt" \
    -o "smtpd_tls_key_file=$T/rogue.key" &&
postfix_listen "$WRAP:$P" -o smtpd_tls_wrappermode=yes &&
postfix_listen "$WRAPROGUE:$P" -o smtpd_tls_wrappermode=yes \
    -o "smtpd_tls_cert_file=$T/rogue.crt" -o "smtpd_tls_key_file=$T/rogue.key" &&
postfix_start
ok $? "Postfix is up: STARTTLS, none, a rogue certificate, wrapper mode (twice)"

start_tlspeer() {	# start_tlspeer ADDR MODE: files in $T/peer-MODE
	local d=$T/peer-$2
	mkdir -p "$d"
	"$PY" "$SRCDIR/t/integration/tlspeer.py" "$1" "$P" "$d" "$T/peer.crt" \
	    "$T/peer.key" "$2" >"$d.out" 2>&1 &
	track $!
	wait_for 20 test -e "$d/ready"
}
start_tlspeer $JUNK junk && start_tlspeer $STALL stall &&
    start_tlspeer $REFUSE refuse
ok $? "the TLS test peers are up (junk, stall, refuse)"

# --- petrel -----------------------------------------------------------------
cat >"$T/policy.lua" <<'LUA'
local kumo = require 'kumo'

local paths = {
  ['req.test'] = { enable_tls = 'Required' },
  ['reqclear.test'] = { enable_tls = 'Required' },
  ['reqrogue.test'] = { enable_tls = 'Required' },
  ['reqrefuse.test'] = { enable_tls = 'Required' },
  ['insecure.test'] = { enable_tls = 'RequiredInsecure' },
  ['opp.test'] = { enable_tls = 'Opportunistic' },
  ['disabled.test'] = { enable_tls = 'Disabled' },
  ['implicit.test'] = { implicit_tls = true },
  ['implrogue.test'] = { implicit_tls = true },
  ['implins.test'] = { implicit_tls = true, enable_tls = 'RequiredInsecure' },
  ['oppins.test'] = { enable_tls = 'OpportunisticInsecure',
                      starttls_timeout = '2s' },
}

kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path(paths[domain] or {})
end)
LUA
POLICY=$T/policy.lua RELAYHOST= RESOLVER=127.0.0.1:$DNSP SYSLOG_SOCKET= \
    QUEUED_EXTRA="retry_interval = 1s
max_retry_interval = 1s" DELIVERD_EXTRA="smtp_port = $P
ca_file = $T/testca.crt" write_conf
start_petrel; ok $? "petreld is up, ca_file = the test CA"

send() {	# send TO MESSAGE-ID
	swaks --server 127.0.0.1 --port "$PORT" --from s@petrel.test \
	    --to "$1" --header "Message-ID: <$2@test>" >"$T/swaks.$2" 2>&1
}
arrived() { grep -lqs "^Message-ID: <$1@test>" "$T/sink"/*.eml; }
eml() { grep -ls "^Message-ID: <$1@test>" "$T/sink"/*.eml | head -n 1; }
logged() { grep -Eq -- "$1" "$T/petreld.out"; }
line() { grep -E -- "$1" "$T/petreld.out" | tail -n 1; }
# the Received header Postfix wrote, on one line
received() { sed -n '/^Received: /,/^[^ \t]/p' "$(eml "$1")" | sed '$d' | tr -d '\r\n\t'; }

# --- the default: Opportunistic ---------------------------------------------
send u@tls.test opp1; ok $? "accepted for tls.test (STARTTLS, test CA)"
wait_for 20 arrived opp1; ok $? "Opportunistic: delivered through Postfix"
like "$(received opp1)" 'using TLSv1\.[23] with cipher .* with ESMTPS' \
    "Postfix took it under TLS (ESMTPS)"
like "$(line 'event=Delivery .*rcpt=<u@tls.test>')" \
    ' relay=mx\.tls\.test\[127\.0\.0\.30\]:[0-9]+ tls=TLSv1\.3 cipher=TLS_[A-Z0-9_]+ response="250 ' \
    "the Delivery line has tls= and cipher="
like "$(line 'relay=mx\.tls\.test.* event=TLS ')" 'version=TLSv1\.3 cipher=TLS_[A-Z0-9_]+ verify=ok' \
    "deliverd logs the TLS session as verified"

send 'u@[127.0.0.30]' literal1; ok $? "accepted for [127.0.0.30]"
wait_for 20 arrived literal1
ok $? "an IP literal: the certificate's IP address verifies"
like "$(line 'event=Delivery .*rcpt=<u@\[127\.0\.0\.30\]>')" ' tls=TLSv1\.3 cipher=' \
    "and it went under TLS"

send u@clear.test clear1
wait_for 20 arrived clear1; ok $? "Opportunistic to a server without STARTTLS: delivered"
like "$(received clear1)" 'by postfix\.test \(Postfix\) with ESMTP id' "in clear text (ESMTP)"
ok $(line 'event=Delivery .*rcpt=<u@clear.test>' | grep -qv ' tls=' ; echo $?) \
    "the Delivery line has no tls="

send u@rogue.test rogue1
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@rogue.test> .*response="4\.7\.5 TLS with mx\.rogue\.test\[127\.0\.0\.32\]:[0-9]+: certificate verify failed: unable to get local issuer certificate"'
ok $? "Opportunistic, a certificate from an unknown CA: TransientFailure saying why"
ok $(arrived rogue1; echo $((1 - $?))) "and nothing was sent"

send u@wrong.test wrong1
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@wrong.test> .*certificate verify failed: [Hh]ostname mismatch'
ok $? "a certificate for another name: TransientFailure (hostname mismatch)"
ok $(arrived wrong1; echo $((1 - $?))) "and nothing was sent"

# junk in the 220's packet: dropped unread, TLS goes on
send u@junk.test junk1
wait_for 20 sh -c "grep -qs stored $T/peer-junk/log"
ok $? "junk after 220 to STARTTLS: the message was delivered"
like "$(grep -E '^(cmd|tls)' "$T/peer-junk/log" | cut -c1-8 | tr '\n' ' ')" \
    '^cmd EHLO cmd STAR tls TLSv cmd EHLO cmd MAIL cmd RCPT cmd DATA ' \
    "EHLO, STARTTLS, the handshake, EHLO again, then the transaction"
like "$(line 'event=Delivery .*rcpt=<u@junk.test>')" ' tls=TLSv1\.[23] .*response="250 2\.0\.0 stored"' \
    "the Delivery line has TLS and the server's real reply"
ok $(! grep -q 'junk after 220' "$T/petreld.out"; echo $?) "the junk never shows as a reply"

# a handshake that stalls: starttls_timeout (5 s by default), next MX
send u@stall.test stall1
wait_for 20 arrived stall1; ok $? "a stalled handshake: delivered through the second MX"
logged 'relay=mx1\.stall\.test\[127\.0\.0\.35\]:[0-9]+ event=TLSError reason="4\.7\.5 TLS handshake with mx1\.stall\.test\[127\.0\.0\.35\]:[0-9]+ failed: timed out after 5 s"'
ok $? "the first MX failed: the handshake timed out after starttls_timeout"
like "$(line 'event=Delivery .*rcpt=<u@stall.test>')" ' relay=mx2\.stall\.test\[127\.0\.0\.30\]:[0-9]+ tls=TLSv1\.3 ' \
    "the Delivery line names the second MX"
ok $(! grep -q stored "$T/peer-stall/log"; echo $?) "the stalling server got nothing"

# STARTTLS refused (454): Opportunistic goes on in clear text
send u@refuse.test refuse1
wait_for 20 sh -c "grep -qs stored $T/peer-refuse/log"
ok $? "STARTTLS answered 454: Opportunistic delivers in clear text"
ok $(grep -E '^(cmd|tls)' "$T/peer-refuse/log" | grep -q '^tls'; echo $((1 - $?))) \
    "(no TLS session was started)"

# a reused connection stays under TLS
send v@tls.test opp2
wait_for 20 arrived opp2; ok $? "a second message to tls.test is delivered"
like "$(received opp2)" ' with ESMTPS ' "under TLS"
is "$(grep -c 'site=mx\.tls\.test .*event=TLS ' "$T/petreld.out")" 1 \
    "over the same connection: one handshake for both"

# the text of a large message goes through the TLS filter as it lies
"$PY" "$SRCDIR/t/integration/sendmsg.py" 127.0.0.1 "$PORT" s@petrel.test \
    w@tls.test big1 8M >"$T/send.out" 2>&1
ok $? "an 8 MB message accepted for tls.test"
wait_for 30 arrived big1; ok $? "and delivered under TLS"
n=$(grep -c '^x\{74\}' "$(eml big1)")
ok $([ "$n" -gt $(( 8 * 1024 * 1024 / 76 - 10 )) ]; echo $?) \
    "every line of its text arrived ($n)"

# --- enable_tls and implicit_tls from the policy ----------------------------
send u@req.test req1
wait_for 20 arrived req1; ok $? "Required, STARTTLS and the test CA: delivered"
like "$(received req1)" 'using TLSv1\.[23] .* with ESMTPS ' "under TLS"
like "$(line 'event=Delivery .*rcpt=<u@req.test>')" ' tls=TLSv1\.3 cipher=TLS_' "tls= logged"

send u@reqclear.test reqclear1
wait_for 20 logged "event=TransientFailure .*rcpt=<u@reqclear.test> .*response=\"4\.7\.5 TLS required but STARTTLS not offered by mx\.reqclear\.test\[127\.0\.0\.31\]:$P\""
ok $? "Required, no STARTTLS: TransientFailure, saying why"
ok $(grep -q 'reqclear\.test' "$PFD/maillog"; echo $((1 - $?))) \
    "nothing was sent (Postfix never saw the recipient)"

send u@reqrogue.test reqrogue1
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@reqrogue.test> .*response="4\.7\.5 TLS with mx\.reqrogue\.test\[127\.0\.0\.32\]:[0-9]+: certificate verify failed: unable to get local issuer certificate"'
ok $? "Required, a certificate from an unknown CA: TransientFailure, saying why"
ok $(grep -q 'reqrogue\.test' "$PFD/maillog"; echo $((1 - $?))) "nothing was sent"

send u@reqrefuse.test reqrefuse1
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@reqrefuse.test> .*response="4\.7\.5 TLS required but mx\.reqrefuse\.test\[127\.0\.0\.36\]:[0-9]+ refused STARTTLS: 454 4\.7\.0 TLS not available now"'
ok $? "Required, STARTTLS answered 454: TransientFailure"
is "$(grep -c '^cmd MAIL' "$T/peer-refuse/log")" 1 \
    "and no MAIL was sent for it (only refuse1's)"

send u@insecure.test insecure1
wait_for 20 arrived insecure1; ok $? "RequiredInsecure, an unknown CA: delivered"
like "$(line 'event=Delivery .*rcpt=<u@insecure.test>')" ' tls=TLSv1\.3 cipher=TLS_' "under TLS"
like "$(line 'site=mx\.insecure\.test .*event=TLS ')" 'verify=failed reason="unable to get local issuer certificate"' \
    "logged as not verified"

send u@opp.test opp3
wait_for 20 arrived opp3; ok $? "Opportunistic to a server without STARTTLS: delivered"
like "$(received opp3)" ' with ESMTP id ' "in clear text"

send u@disabled.test disabled1
wait_for 20 arrived disabled1; ok $? "Disabled, to a server that offers STARTTLS: delivered"
like "$(received disabled1)" 'by postfix\.test \(Postfix\) with ESMTP id' "in clear text: no STARTTLS was sent"
ok $(grep -q 'site=mx\.disabled\.test .*event=TLS' "$T/petreld.out"; echo $((1 - $?))) \
    "deliverd never started TLS with it"
ok $(line 'event=Delivery .*rcpt=<u@disabled.test>' | grep -q ' tls='; echo $((1 - $?))) \
    "the Delivery line has no tls="

send u@implicit.test implicit1
wait_for 20 arrived implicit1; ok $? "implicit_tls against Postfix in wrapper mode: delivered"
like "$(received implicit1)" 'using TLSv1\.[23] .* with ESMTPS ' "under TLS from the first byte"
like "$(line 'event=Delivery .*rcpt=<u@implicit.test>')" \
    " relay=mx\.implicit\.test\[127\.0\.0\.33\]:$P tls=TLSv1\.3 cipher=TLS_" "tls= logged"

send u@implrogue.test implrogue1
wait_for 20 logged 'event=TransientFailure .*rcpt=<u@implrogue.test> .*response="4\.7\.5 TLS with mx\.implrogue\.test\[127\.0\.0\.37\]:[0-9]+: certificate verify failed: unable to get local issuer certificate"'
ok $? "implicit_tls, a certificate from an unknown CA: TransientFailure (Required's rules)"
ok $(grep -q 'implrogue\.test' "$PFD/maillog"; echo $((1 - $?))) "nothing was sent"

send u@implins.test implins1
wait_for 20 arrived implins1
ok $? "implicit_tls with RequiredInsecure, an unknown CA: delivered"
like "$(line 'event=Delivery .*rcpt=<u@implins.test>')" ' tls=TLSv1\.3 cipher=TLS_' "under TLS"

# OpportunisticInsecure: the handshake stalls, the same host in clear text
send u@oppins.test oppins1
wait_for 20 sh -c "grep -qs stored $T/peer-stall/log"
ok $? "OpportunisticInsecure, a stalled handshake: delivered to the same host"
logged 'relay=mx\.oppins\.test\[127\.0\.0\.35\]:[0-9]+ event=TLSError reason="4\.7\.5 TLS handshake with .* failed: timed out after 2 s; trying again in clear text"'
ok $? "after starttls_timeout (2 s from the policy)"
like "$(sed -n '/^session/h; /^session/!H; ${x;p}' "$T/peer-stall/log" | grep -c STARTTLS)" '^0$' \
    "the second session did not say STARTTLS"
ok $(line 'event=Delivery .*rcpt=<u@oppins.test>' | grep -q ' tls='; echo $((1 - $?))) \
    "the Delivery line has no tls="

postfix_stop; ok $? "Postfix stops"
stop_petrel; ok $? "petreld stops"
