#!/bin/bash
# deliverd against next hops that misbehave on purpose: a per-client
# connection limit, junk on an idle connection, a 354 to the final dot,
# a 421 to MAIL.  Nothing crashes, nothing is lost, nothing is counted
# delivered that was not.
. "$(dirname "$0")/lib.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
plan 12

DNSP=$(free_port) BP=$(free_port)
# two MX hosts for two.test, so a bad connection could move on
start_dnsmasq "$DNSP" \
    --mx-host=two.test,mxa.two.test,10 --mx-host=two.test,mxb.two.test,20 \
    --host-record=mxa.two.test,127.0.0.9 --host-record=mxb.two.test,127.0.0.10
ok $? "dnsmasq is up"
peer() {	# peer ADDR MODE
	d=$T/peer-$2; mkdir -p "$d"
	"$PY" "$SRCDIR/t/integration/badpeer.py" "$1" "$BP" "$d" "$2" >"$d.out" 2>&1 &
	track $!
	wait_for 20 test -e "$d/ready"
}
peer 127.0.0.11 connlimit; peer 127.0.0.9 idlejunk; peer 127.0.0.12 dot354
peer 127.0.0.13 mail421
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
