#!/bin/bash
# deliverd against next hops that misbehave on purpose: a per-client
# connection limit, junk on an idle connection, a 354 to the final dot,
# a 421 to MAIL, DATA answered with 250 or 554, replies that shift, a
# reply to the dot while the text is still being written, an extra
# reply, a multi-line reply whose code changes, reply text that tries to
# forge log fields.  Nothing crashes, nothing is lost, nothing is
# counted delivered that was not.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badpeer.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
plan 31

DNSP=$(free_port)
# two MX hosts for two.test, so a bad connection could move on
start_dnsmasq "$DNSP" \
    --mx-host=two.test,mxa.two.test,10 --mx-host=two.test,mxb.two.test,20 \
    --host-record=mxa.two.test,127.0.0.9 --host-record=mxb.two.test,127.0.0.10
ok $? "dnsmasq is up"
start_peer 127.0.0.11 connlimit; start_peer 127.0.0.9 idlejunk
start_peer 127.0.0.12 dot354; start_peer 127.0.0.13 mail421
start_peer 127.0.0.14 data250; start_peer 127.0.0.15 data554
start_peer 127.0.0.16 mailtwice; start_peer 127.0.0.17 earlydot
start_peer 127.0.0.18 dotextra; start_peer 127.0.0.19 badcont
start_peer 127.0.0.20 evilbanner
ok $? "the misbehaving peers are up"

RELAYHOST= RESOLVER=127.0.0.1:$DNSP SYSLOG_SOCKET= DELIVERD_EXTRA="smtp_port = $BP" \
    QUEUED_EXTRA="retry_interval = 1s
max_retry_interval = 1s" write_conf
start_petrel; ok $? "petreld is up"
deliverd_pid() { petrel_children | awk '$2 == "deliverd" { print $1 }'; }
for _ in $(seq 200); do dpid=$(deliverd_pid); [ -n "$dpid" ] && break; sleep 0.05; done

send() { swaks --server 127.0.0.1 --port "$PORT" --from s@back.test --to "$1" \
    --header "Message-ID: <$2@test>" >/dev/null 2>&1; }
logged() { grep -Eq -- "$1" "$T/petreld.out"; }

# 20 messages to a server that takes two sessions at a time
spids=""
for i in $(seq 20); do send "u$i@[127.0.0.11]" "limit-$i" & spids="$spids $!"; done
for p in $spids; do wait "$p"; done
wait_for 30 sh -c "[ \"\$(cat $T/peer-connlimit/count 2>/dev/null)\" = 20 ]"
ok $? "a per-client connection limit: all 20 delivered over the sessions it allows"
grep -q refused "$T/peer-connlimit/log"; ok $? "(the server did refuse extra sessions)"
ok $(! logged "event=TransientFailure .*rcpt=<u[0-9]*@\[127.0.0.11\]>"; echo $?) \
    "no message was deferred for it: they waited for a working session"

# junk on an idle connection of a site with two MX hosts
send u@two.test junk
wait_for 20 logged "event=Delivery .*rcpt=<u@two.test>"; ok $? "delivered to two.test"
wait_for 10 grep -q junk "$T/peer-idlejunk/log"; ok $? "(the server sent junk on the idle connection)"
sleep 0.5	# let deliverd read the junk line (no event to wait for)
is "$(deliverd_pid)" "$dpid" "junk on an idle connection closes it; deliverd does not crash"

# a 354 to the final dot is not a delivery
send u@[127.0.0.12] dot354
wait_for 20 logged "event=TransientFailure .*rcpt=<u@\[127.0.0.12\]> .*response=\"354 "
ok $? "a 354 to the final dot is a temporary failure, not a delivery"
ok $(! logged "event=Delivery .*rcpt=<u@\[127.0.0.12\]>"; echo $?) "and never logged as delivered"

# a 421 to MAIL ends the session: the next message opens a new one
send a@[127.0.0.13] m421a
wait_for 20 logged "event=TransientFailure .*rcpt=<a@\[127.0.0.13\]> .*response=\"421 "
ok $? "a 421 to MAIL is a temporary failure"

# any reply to DATA but 354 is a failure, never a delivery
send u@[127.0.0.14] data250
wait_for 20 logged "event=TransientFailure .*rcpt=<u@\[127.0.0.14\]> .*response=\"250 2.0.0 ok, but where is 354"
ok $? "DATA answered 250: a temporary failure"
ok $(! logged "event=Delivery .*rcpt=<u@\[127.0.0.14\]>"; echo $?) "and never a delivery"
send u@[127.0.0.15] data554
wait_for 20 logged "event=Bounce .*rcpt=<u@\[127.0.0.15\]> .*response=\"554 5.7.1 no data"
ok $? "DATA answered 554: a permanent failure"

# a server that answers MAIL twice: the replies shift, DATA gets a 250
send u@[127.0.0.16] twice
wait_for 20 logged "event=TransientFailure .*rcpt=<u@\[127.0.0.16\]>"
ok $? "replies out of step (MAIL answered twice): a temporary failure"
ok $(! logged "event=Delivery .*rcpt=<u@\[127.0.0.16\]>"; echo $?) \
    "and not a delivery of a message whose text was never sent"

# a next hop that ends DATA early, while the text is still being written
sendmsg s@back.test 'u@[127.0.0.17]' early 20M
ok $? "a 20 MB message accepted"
wait_for 30 logged "event=TransientFailure .*rcpt=<u@\[127.0.0.17\]> .*protocol error: a reply to the final dot before the end of the message text"
ok $? "a reply to the dot before the text was written: protocol error, temporary failure"
ok $(! logged "event=Delivery .*rcpt=<u@\[127.0.0.17\]>"; echo $?) "and never a delivery"
grep -q early "$T/peer-earlydot/log"; ok $? "(the server did answer early)"

# an extra reply after the dot: delivered, then the session is not trusted
send u@[127.0.0.18] extra1
wait_for 20 logged "event=Delivery .*rcpt=<u@\[127.0.0.18\]>"
ok $? "the dot answered twice: the first answer delivers"
wait_for 10 logged "relay=[^ ]*127.0.0.18[^ ]*: protocol error, closing: reason=\"4.5.0 .*a reply with no command outstanding"
ok $? "the extra reply is a protocol error: the connection is closed"
send v@[127.0.0.18] extra2
wait_for 20 logged "event=Delivery .*rcpt=<v@\[127.0.0.18\]>"
ok $? "the next message is delivered"
is "$(grep -c session "$T/peer-dotextra/log")" 2 "over a new connection"

# a multi-line reply whose code changes is malformed
send u@[127.0.0.19] badcont
wait_for 20 logged "event=TransientFailure .*rcpt=<u@\[127.0.0.19\]> .*malformed reply: 251 2.1.5 forwarded"
ok $? "250- then 251: a malformed reply, a temporary failure"
ok $(! logged "event=Delivery .*rcpt=<u@\[127.0.0.19\]>"; echo $?) "and not a delivery"

# reply text cannot forge log fields
send u@[127.0.0.20] evil
wait_for 20 logged "event=TransientFailure .*rcpt=<u@\[127.0.0.20\]>"
ok $? "a banner with quotes and a control character: a temporary failure"
ok $(! grep -aEq '(^|[^\\])" event=Delivery rcpt=<x>' "$T/petreld.out"; echo $?) \
    "no log line carries the peer's text unescaped"
grep -aF 'event=Unreachable reason="554 5.7.1 no \" event=Delivery rcpt=<x>\x01 here"' "$T/petreld.out" >/dev/null
ok $? "deliverd's own line has it escaped (quote and \\x01)"
grep -aF 'response="554 5.7.1 no \" event=Delivery rcpt=<x>\x01 here"' "$T/petreld.out" >/dev/null
ok $? "the TransientFailure line has it escaped too"
