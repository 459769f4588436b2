#!/bin/bash
# Delivery with real peers: dnsmasq serves MX and A records, aiosmtpd
# sinks receive, swaks injects.  MX preference and fallback, implicit MX,
# IP-literal routing, 4xx then success, 5xx on one of two recipients with
# a DSN back to the sender, NXDOMAIN, no DSN to the null sender,
# expiration, the loop guard, and a restart of petreld mid-queue.
. "$(dirname "$0")/lib.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 38

DNSP=$(free_port) SP=$(free_port)
start_dnsmasq "$DNSP" \
    --mx-host=mx.test,mx1.mx.test,10 --mx-host=mx.test,mx2.mx.test,20 \
    --host-record=mx1.mx.test,127.0.0.5 --host-record=mx2.mx.test,127.0.0.6 \
    --host-record=implicit.test,127.0.0.7 --host-record=back.test,127.0.0.6 \
    --mx-host=one.test,mx.c.test,10 --mx-host=two.test,mx.c.test,10 \
    --host-record=mx.c.test,127.0.0.8
ok $? "dnsmasq is up"
start_sink() {	# start_sink NAME ADDR
	mkdir -p "$T/$1"; rm -f "$T/$1/ready"
	"$PY" "$SRCDIR/t/integration/sink.py" "$2" "$SP" "$T/$1" >"$T/$1.out" 2>&1 &
	eval "SINK_$1=$!"; track $!
	wait_for 20 test -e "$T/$1/ready"
}
stop_sink() { eval "p=\$SINK_$1"; kill "$p"; wait "$p" 2>/dev/null; untrack "$p"; }
start_sink A 127.0.0.6; ok $? "sink A (mx2.mx.test, back.test) is up"
start_sink B 127.0.0.7; ok $? "sink B (implicit.test) is up"
start_sink C 127.0.0.8; ok $? "sink C (mx.c.test, MX of one.test and two.test) is up"

RELAYHOST= RESOLVER=127.0.0.1:$DNSP SYSLOG_SOCKET= \
QUEUED_EXTRA="retry_interval = 1s
max_retry_interval = 2s
max_age = 6s" DELIVERD_EXTRA="smtp_port = $SP" write_conf
start_petrel; ok $? "petreld is up"

send() {	# send FROM TO MESSAGE-ID
	swaks --server 127.0.0.1 --port "$PORT" --from "$1" --to "$2" \
	    --header "Message-ID: <$3@test>" >"$T/swaks.$3" 2>&1
}
arrived() { grep -lqs "^Message-ID: <$2@test>" "$T/$1"/*.eml; }
logged() { grep -Eq -- "$1" "$T/petreld.out"; }

send s@back.test u1@mx.test mx; ok $? "accepted for mx.test"
send s@back.test u2@implicit.test implicit; ok $? "accepted for implicit.test"
send s@back.test 'u3@[127.0.0.7]' literal; ok $? "accepted for an IP literal"
send s@back.test deferonce@mx.test retry; ok $? "accepted for a recipient that defers once"
send s@back.test 'ok2@mx.test,reject@mx.test' half; ok $? "accepted for two recipients, one of them refused"
send s@back.test u4@nosuch.test nx; ok $? "accepted for a domain that does not exist"
send '<>' reject@mx.test nullsender; ok $? "accepted from the null sender"
send s@back.test defer@mx.test expire; ok $? "accepted for a recipient that always defers"

wait_for 20 arrived A mx; ok $? "MX: the message arrived at the second MX when the first refused"
logged "event=Delivery from=<s@back.test> rcpt=<u1@mx.test> relay=mx2.mx.test\[127.0.0.6\]:$SP response=\"250 "
ok $? "Delivery is logged with the relay that took it"
wait_for 20 arrived B implicit; ok $? "implicit MX: delivered to the domain's A record"
wait_for 20 arrived B literal; ok $? "IP literal: delivered to the address itself"

wait_for 20 arrived A retry; ok $? "4xx then success: delivered on retry"
logged "event=TransientFailure from=<s@back.test> rcpt=<deferonce@mx.test> .*response=\"451 4.3.0 .*attempts=1"
ok $? "the 4xx is logged as TransientFailure"
logged "event=Delivery from=<s@back.test> rcpt=<deferonce@mx.test> .*attempts=2"
ok $? "the retry is logged as Delivery with attempts=2"

wait_for 20 arrived A half; ok $? "5xx on one of two: the other recipient got it"
logged "event=Bounce from=<s@back.test> rcpt=<reject@mx.test> .*response=\"550 5.1.1 "
ok $? "the refused recipient is logged as Bounce"
dsn_for() {	# the DSN file at sink A that reports on RCPT
	grep -ls "^Final-Recipient: rfc822; $1" "$T/A"/*.eml | head -n 1
}
wait_for 20 sh -c "grep -qs '^Final-Recipient: rfc822; reject@mx.test' $T/A/*.eml"
dsn=$(dsn_for reject@mx.test)
ok $([ -n "$dsn" ] && grep -q '^X-Sink-From: <>' "$dsn" && grep -q '^X-Sink-To: <s@back.test>' "$dsn"; echo $?) \
    "a DSN went from the null sender to the original sender"
ok $(grep -q '^Status: 5.1.1' "$dsn" && grep -q 'Content-Type: multipart/report; report-type=delivery-status' "$dsn" &&
    grep -q '^Message-ID: <half@test>' "$dsn" && ! grep -q 'Final-Recipient: rfc822; ok2@mx.test' "$dsn"; echo $?) \
    "the DSN is a multipart/report naming only the refused recipient, with the original headers"

wait_for 20 logged "event=Bounce from=<s@back.test> rcpt=<u4@nosuch.test> .*response=\"5.1.2 "
ok $? "NXDOMAIN is a permanent failure (5.1.2)"
wait_for 20 sh -c "grep -qs '^Final-Recipient: rfc822; u4@nosuch.test' $T/A/*.eml"
ok $? "and its DSN reached the sender"

logged "id=[0-9a-f]+: no DSN for a message from the null sender"
ok $? "a failure of a null-sender message makes no DSN"

wait_for 30 logged "event=Expiration from=<s@back.test> rcpt=<defer@mx.test> response=\"551 5.4.7 "
ok $? "a message deferred past max_age expires (5.4.7)"
wait_for 20 sh -c "grep -qs '^Final-Recipient: rfc822; defer@mx.test' $T/A/*.eml"
ok $(grep -q '^Status: 5.4.7' "$(dsn_for defer@mx.test)"; echo $?) "and its DSN says 5.4.7"
tr -d '\r\n' <"$(dsn_for defer@mx.test)" | grep -q 'last error: 451 4.3.0'
ok $? "with the last temporary error that kept it back"

# one.test and two.test share their MX: one site, one connection
send s@back.test u@one.test site1
wait_for 20 arrived C site1; ok $? "delivered to one.test"
send s@back.test u@two.test site2
wait_for 20 arrived C site2; ok $? "delivered to two.test"
is "$(grep -c '^EHLO' "$T/C/log")" 1 "both went over one connection: domains with the same MX share a site"
is "$(grep -E '^(EHLO|MAIL|RSET)' "$T/C/log" | tr '\n' ' ')" "EHLO petrel.test MAIL s@back.test RSET MAIL s@back.test " \
    "the reused connection sends RSET before the next transaction"
logged "event=Delivery from=<s@back.test> rcpt=<u@two.test> relay=mx.c.test\[127.0.0.8\]:$SP"
ok $? "the second delivery names the shared relay"

# restart mid-queue: sink B is down, 20 messages wait; petreld restarts,
# sink B comes back; all 20 arrive
stop_sink B
for i in $(seq 20); do send s@back.test "r$i@implicit.test" "restart-$i"; done
wait_for 20 logged "event=TransientFailure from=<s@back.test> rcpt=<r20@implicit.test>"
ok $? "with sink B down the messages are deferred"
stop_petrel
start_sink B 127.0.0.7
start_petrel; ok $? "petreld restarts with the messages queued"
n=0; for _ in $(seq 200); do
	n=$(grep -ls '^Message-ID: <restart-' "$T/B"/*.eml 2>/dev/null | wc -l)
	[ "$n" -ge 20 ] && break; sleep 0.1
done
is "$n" 20 "all 20 messages arrived after the restart"
wait_for 20 sh -c "[ \$(find $T/spool/queue -name '*.msg' | wc -l) = 0 ]"
ok $? "the spool is empty: every message was delivered or bounced"

# the loop guard: a next hop that is our own listener
stop_petrel
RELAYHOST="[127.0.0.1]:$PORT" RESOLVER=127.0.0.1:$DNSP SYSLOG_SOCKET= \
DELIVERD_EXTRA="smtp_port = $SP" write_conf
start_petrel
send s@back.test u5@mx.test loop
wait_for 20 logged "event=TransientFailure from=<s@back.test> rcpt=<u5@mx.test> .*loops back to myself"
ok $? "mail to our own listener is deferred: loops back to myself"
