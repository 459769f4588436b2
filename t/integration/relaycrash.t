#!/bin/bash
# At-least-once under crashes: 2,000 messages relayed to an aiosmtpd sink
# while kill -9 hits deliverd and queued at random moments; every message
# petrel accepted arrives at the sink at least once, and the queue drains.
. "$(dirname "$0")/lib.sh"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 7
N=${CRASH_N:-2000}

run_sink; ok $? "sink is up"

RELAYHOST="[127.0.0.6]:$SP" SYSLOG_SOCKET= QUEUED_EXTRA="retry_interval = 1s
max_retry_interval = 2s" write_conf
start_petrel; ok $? "petreld is up"

"$PY" "$SRCDIR/t/integration/loadclient.py" 127.0.0.1 "$PORT" "$N" 8 "$T" relay \
    >"$T/load.out" 2>&1 &
LOAD_PID=$!; track $LOAD_PID
kill_children_while $LOAD_PID 'queued|deliverd'
kills=$KILLS kq=$(killed queued) kd=$(killed deliverd)
wait $LOAD_PID; untrack $LOAD_PID
diag "kills: $kills ($kq queued, $kd deliverd); client: $(cat "$T/load.out")"
ok $([ "$kq" -ge 2 ] && [ "$kd" -ge 2 ]; echo $?) "queued and deliverd were each killed several times"
ack=$(wc -l <"$T/ack")
ok $([ "$ack" -ge $((N / 2)) ]; echo $?) "most messages were accepted ($ack of $N)"

wait_for 120 sh -c "[ \$(find $T/spool/queue -name '*.msg' | wc -l) = 0 ]"
ok $? "the queue drained"
cat "$T"/sink/*.eml | sed -n 's/^Message-ID: \(<relay-[0-9]*@test>\)\r$/\1/p' | sort >"$T/got"
missing=$(sort "$T/ack" | comm -23 - <(sort -u "$T/got") | wc -l)
is "$missing" 0 "every accepted message arrived at the sink at least once"
dups=$(( $(wc -l <"$T/got") - $(sort -u "$T/got" | wc -l) ))
diag "$dups duplicates (redelivered after a kill: allowed, at-least-once)"
kill -0 "$PETREL_PID"; ok $? "petreld itself survived"
