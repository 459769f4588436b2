#!/bin/bash
# queued waits, it does not spin, when due messages have no delivery agent
# to go to (issue 6, item 4): with petreld stopped and deliverd killed, so
# it cannot come back, 1,000 due messages cost queued almost no CPU; once
# deliverd is back they are delivered.
. "$(dirname "$0")/lib.sh"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 7
N=1000

run_sink; ok $? "sink is up"
RELAYHOST="[127.0.0.6]:$SP" SYSLOG_SOCKET= write_conf
start_petrel; ok $? "petreld is up"

child() { petrel_children | awk -v n="$1" '$2 == n { print $1 }'; }
cpu() {		# utime + stime of a process, in clock ticks
	awk '{ print $14 + $15 }' /proc/"$1"/stat
}
QUEUED=$(child queued)
DELIVERD=$(child deliverd)
kill -STOP "$PETREL_PID"	# nobody restarts deliverd now
kill -KILL "$DELIVERD"
wait_for 10 sh -c "! kill -0 $DELIVERD 2>/dev/null || grep -q '^State:.*Z' /proc/$DELIVERD/status"
ok $? "deliverd is gone and stays gone"

"$PY" "$SRCDIR/t/integration/loadclient.py" 127.0.0.1 "$PORT" "$N" 8 "$T" wait \
    >"$T/load.out" 2>&1
is "$(wc -l <"$T/ack")" "$N" "$N messages accepted, all due at once"

before=$(cpu "$QUEUED")
sleep 5		# the measurement window itself, not a synchronisation
used=$(( $(cpu "$QUEUED") - before ))
hz=$(getconf CLK_TCK)
diag "queued used $used ticks (of $hz per second) in 5 s"
ok $([ $((used * 100 / hz)) -lt 20 ]; echo $?) \
    "queued used under 0.2 s of CPU in 5 s with no agent to send to"

kill -CONT "$PETREL_PID"
wait_for 60 sh -c "[ \$(find $T/spool/queue -name '*.msg' | wc -l) = 0 ]"
ok $? "deliverd came back and the waiting messages were delivered"
n=$(cat "$T"/sink/*.eml | grep -c '^Message-ID: <wait-')
is "$n" "$N" "each of them arrived"
