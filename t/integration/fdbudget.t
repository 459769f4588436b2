#!/bin/bash
# The descriptor budget: under the 1024 open files systemd gives a service,
# 3,000 deferred messages that fall due together are all delivered, with no
# child dying and no "Too many open files" anywhere (issue 6, item 2).
. "$(dirname "$0")/lib.sh"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 8
N=${FDBUDGET_N:-3000}

SP=$(free_port)	# the sink comes later, on this port
RELAYHOST="[127.0.0.6]:$SP" SYSLOG_SOCKET= QUEUED_EXTRA="retry_interval = 4s
max_retry_interval = 4s" write_conf
NOFILE=1024 start_petrel; ok $? "petreld is up under ulimit -n 1024"
like "$(grep -m1 'open files limit' "$T/petreld.out")" 'open files limit 1024' \
    "petreld logs the open files limit it runs with"

# the next hop is down: every message is deferred
"$PY" "$SRCDIR/t/integration/loadclient.py" 127.0.0.1 "$PORT" "$N" 16 "$T" fd \
    >"$T/load.out" 2>&1
ack=$(wc -l <"$T/ack")
is "$ack" "$N" "all $N messages accepted"
wait_for 60 sh -c "[ \$(grep -c 'event=TransientFailure' $T/petreld.out) -ge $N ]"
ok $? "every message was deferred (next hop down)"

# the next hop comes back; they fall due together within the retry jitter
mkdir -p "$T/sink"
"$PY" "$SRCDIR/t/integration/sink.py" 127.0.0.6 "$SP" "$T/sink" >"$T/sink.out" 2>&1 &
track $!
wait_for 20 test -e "$T/sink/ready"; ok $? "sink is up"
wait_for 240 sh -c "[ \$(find $T/spool/queue -name '*.msg' | wc -l) = 0 ]"
ok $? "the queue drained"
cat "$T"/sink/*.eml | sed -n 's/^Message-ID: \(<fd-[0-9]*@test>\)\r$/\1/p' |
    sort -u >"$T/got"
missing=$(sort "$T/ack" | comm -23 - "$T/got" | wc -l)
is "$missing" 0 "every accepted message arrived"
deaths=$(grep -c 'restarting in' "$T/petreld.out")
emfile=$(grep -c 'Too many open files' "$T/petreld.out")
is "$deaths/$emfile" "0/0" "no child died and nothing ran out of descriptors"
