#!/bin/bash
# deliverd's descriptor budget (issue 6, item 2): its connections, all
# sites together, stay within fd_budget()/2; at the limit an idle
# connection of another site is closed to make room.  Running out of
# descriptors (EMFILE) is a pause and a retry, never a host failure,
# never a failed task, never a crash.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badpeer.sh"
command -v prlimit >/dev/null || skip_all "prlimit not installed"
plan 13

# three sites (one per address) on one server that counts the sessions
# open at once on all of them; it answers the dot after half a second
start_peer 127.0.0.51,127.0.0.52,127.0.0.53 slow three
start_peer 127.0.0.54 ok one
ok $? "the next hops are up"

# ulimit -n 128: fd_budget() is 64, so at most 32 connections
RELAYHOST= SYSLOG_SOCKET= DELIVERD_EXTRA="smtp_port = $BP" QUEUED_EXTRA="retry_interval = 1s
max_retry_interval = 1s" write_conf
NOFILE=128 start_petrel; ok $? "petreld is up under ulimit -n 128"
logged() { grep -aEq -- "$1" "$T/petreld.out"; }
burst() {	# burst ADDR N: N messages at once, one recipient each
	local pids="" i
	for i in $(seq "$2"); do
		sendmsg s@back.test "u$i@[$1]" "b-$1-$i" &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
}
# each burst leaves its connections idle (idle_timeout is 60s); the
# next site needs room
burst 127.0.0.51 30
wait_for 60 sh -c "[ \$(cat $T/peer-three/count 2>/dev/null || echo 0) -ge 30 ]"
ok $? "30 messages to the first site delivered"
burst 127.0.0.52 30
wait_for 60 sh -c "[ \$(cat $T/peer-three/count 2>/dev/null || echo 0) -ge 60 ]"
ok $? "30 to the second"
burst 127.0.0.53 30
wait_for 60 sh -c "[ \$(cat $T/peer-three/count 2>/dev/null || echo 0) -ge 90 ]"
ok $? "30 to the third"
max=$(cat "$T/peer-three/maxactive")
diag "at most $max sessions at once"
# 32, plus a session or two the server has not yet seen end when the
# next one starts (deliverd closes first)
ok $([ "$max" -le 34 ]; echo $?) "at most 32 connections at once, all sites together (saw $max)"
ok $([ "$(grep -c quit "$T/peer-three/log")" -gt 0 ]; echo $?) \
    "idle connections were closed (QUIT) to make room"
ok $(! logged "event=TransientFailure"; echo $?) "no message was deferred for it"

# EMFILE: lower deliverd's own limit to leave room for one spool fd but
# not for a socket
stop_petrel
start_petrel; ok $? "petreld restarted"
dpid=""
for _ in $(seq 100); do
	dpid=$(petrel_children | awk '$2 == "deliverd" { print $1 }')
	[ -n "$dpid" ] && break; sleep 0.05
done
sleep 0.5	# let it settle
# the second-lowest free descriptor number becomes the soft limit
lim=$(ls /proc/"$dpid"/fd | sort -n | "$PY" -c '
import sys
used = set(int(l) for l in sys.stdin)
free = [n for n in range(4096) if n not in used]
print(free[1])')
prlimit --pid "$dpid" --nofile="$lim:"
sendmsg s@back.test 'e@[127.0.0.54]' emfile
wait_for 20 logged "deliverd.*out of file descriptors"
ok $? "deliverd out of descriptors: a warning"
sleep 2
ok $(! logged "event=(TransientFailure|Bounce) .*rcpt=<e@"; echo $?) \
    "the message is not failed for it (no TransientFailure) while it waits"
prlimit --pid "$dpid" --nofile=1024:
wait_for 20 logged "event=Delivery .*rcpt=<e@\[127.0.0.54\]>"
ok $? "with descriptors back, it is delivered"
is "$(petrel_children | awk '$2 == "deliverd" { print $1 }')" "$dpid" "deliverd did not die"
