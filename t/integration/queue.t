#!/bin/bash
# The active queue limit and large queues (issue 13): with [queued]
# active_limit = 50 and 500 deferred messages, queued holds at most 50 in
# memory and reads the rest in from disk in turn; once the next hop is
# back all 500 are delivered, each once.  Restarted on a spool of 2,000,
# it accepts mail at once and still delivers them all.  kill -9 of
# queued while it recovers 2,000 messages loses none.
. "$(dirname "$0")/lib.sh"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
: "${PETRELCTL:=$SRCDIR/build/dev/ctl/petrelctl}"
[ -x "$PETRELCTL" ] || skip_all "no petrelctl at $PETRELCTL"
plan 32
N=500 M=2000

SP=$(free_port)
mkdir -p "$T/sink"
start_sink() {
	rm -f "$T/sink/ready"
	"$PY" "$SRCDIR/t/integration/sink.py" 127.0.0.6 "$SP" "$T/sink" \
	    >>"$T/sink.out" 2>&1 &
	SINK=$!
	track $SINK
	wait_for 20 test -e "$T/sink/ready"
}
stop_sink() {
	kill -TERM "$SINK"
	wait "$SINK" 2>/dev/null
	untrack "$SINK"
}
ctl() { "$PETRELCTL" -f "$T/petrel.conf" "$@"; }
stat_of() {	# stat_of KEY: of petrelctl stats' queued part
	ctl --json stats 2>/dev/null | "$PY" -c 'import json, sys
print(json.loads(sys.stdin.readline())["queued"][sys.argv[1]])' "$1"
}
arrived() {	# arrived PREFIX: "total unique" Message-IDs <PREFIX-i@test>
	cat "$T"/sink/*.eml 2>/dev/null | sed -n "s/^Message-ID: <\($1-[0-9]*\)@test>.*/\1/p" |
	    awk '{ n++; if (!s[$0]++) u++ } END { print n + 0, u + 0 }'
}
jq_n() {	# jq_n FILE KEY: KEY of the JSON answer in FILE
	"$PY" -c 'import json, sys
print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$1" "$2"
}
queued_pid() { petrel_children | awk '$2 == "queued" { print $1 }'; }

# --- at most active_limit in memory --------------------------------------
RELAYHOST="[127.0.0.6]:$SP" SYSLOG_SOCKET= QUEUED_EXTRA="active_limit = 50
retry_interval = 1s
max_retry_interval = 2s" write_conf
start_petrel; ok $? "petreld is up with active_limit = 50, the next hop down"
"$PY" "$SRCDIR/t/integration/loadclient.py" 127.0.0.1 "$PORT" "$N" 8 "$T" lim \
    >"$T/load.out" 2>&1
is "$(wc -l <"$T/ack")" "$N" "$N messages accepted"

tried() { grep -o 'id=[0-9a-f]* event=TransientFailure' "$T/petreld.out" | sort -u | wc -l; }
max=0 total=0
for _ in $(seq 900); do		# at most about 90 s
	a=$(stat_of active_messages) || a=0
	[ "$a" -gt "$max" ] && max=$a
	t=$(stat_of queued_messages) || t=0
	[ "$t" -gt "$total" ] && total=$t
	[ "$(tried)" -ge "$N" ] && break
	sleep 0.1
done
is "$(tried)" "$N" "each of the $N was read in from disk and tried"
# the deferral is a stamp on the message file: nanoseconds 999000000 + attempts
f=$(find "$T/spool/queue" -name '*.msg' | head -n 1)
like "$(stat -c %.9Y "$f")" '\.999[0-9]{6}$' "a deferral stamps the .msg's mtime (no .env written)"
ok $([ -z "$(find "$T/spool/queue" -name '*.env' | head -n 1)" ]; echo $?) \
    "no deferral wrote an envelope file"
diag "at most $max messages in memory, $total queued"
ok $([ "$max" -le 50 ] && [ "$max" -gt 0 ]; echo $?) \
    "never more than 50 in memory (saw $max)"
ok $([ "$total" -ge "$N" ]; echo $?) "stats count the ones on disk too ($total)"

start_sink; ok $? "the next hop is back"
wait_for 120 sh -c "[ \$(find '$T/spool/queue' -name '*.msg' | wc -l) = 0 ]"
ok $? "the queue empties"
is "$(arrived lim)" "$N $N" "each of the $N arrived, none twice"

# --- a restart on 2,000 queued messages ----------------------------------
stop_petrel
"$PY" "$SRCDIR/t/integration/mkspool.py" "$T/spool" "$M" many 0
: >"$T/petreld.out"
t0=$(date +%s%N)
start_petrel; ok $? "petreld restarts on $M queued messages"
swaks --server 127.0.0.1 --port "$PORT" --from a@example.org \
    --to first@example.net --header "Message-ID: <many-first@test>" \
    >"$T/swaks.out" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
diag "a new message was accepted $ms ms after the start"
ok $([ "$rc" = 0 ] && [ "$ms" -lt 5000 ]; echo $?) \
    "a new message is accepted at once ($ms ms from the start)"
wait_for 120 sh -c "[ \$(find '$T/spool/queue' -name '*.msg' | wc -l) = 0 ]"
ok $? "the queue empties"
grep -o 'spool: .*recovery took.*' "$T/petreld.out" | sed 's/^/# /'
is "$(arrived many)" "$M $M" "each of the $M arrived, none twice"

# --- kill -9 of queued while it recovers ----------------------------------
# 20,000 more, not due for an hour, make the scan long enough to be hit
stop_petrel
stop_sink
"$PY" "$SRCDIR/t/integration/mkspool.py" "$T/spool" "$M" kill 0
"$PY" "$SRCDIR/t/integration/mkspool.py" "$T/spool" 20000 pad 3600
: >"$T/petreld.out"
start_petrel; ok $? "petreld restarts on $((M + 20000)) queued messages, the next hop down"
kills=0 during=0
for k in 1 2 3; do
	# as soon as a (new) queued answers that it is recovering
	for _ in $(seq 200); do
		[ "$(stat_of recovering 2>/dev/null)" = True ] && break
		sleep 0.02
	done
	[ "$(stat_of recovering 2>/dev/null)" = True ] && during=$((during + 1))
	qp=$(queued_pid)
	[ -n "$qp" ] && kill -KILL "$qp" 2>/dev/null && kills=$((kills + 1))
	wait_for 10 sh -c "[ \"\$(grep -c 'queued (pid .*killed by signal 9' '$T/petreld.out')\" -ge $kills ]"
done
diag "queued killed $kills times, $during of them while recovering"
ok $([ "$kills" = 3 ]; echo $?) "queued was killed 3 times"
wait_for 60 grep -q 'recovery took' "$T/petreld.out"
ok $? "queued recovers after the kills"
grep -o 'spool: .*recovery took.*' "$T/petreld.out" | sed 's/^/# /'
is "$(find "$T/spool/queue" -name '*.msg' | wc -l) $(ls "$T/spool/corrupt" | wc -l)" \
    "$((M + 20000)) 0" "all $((M + 20000)) are still queued, none set aside"
start_sink
wait_for 180 sh -c "[ \"\$(cat '$T'/sink/*.eml | grep -c '^Message-ID: <kill-')\" -ge $M ]"
ok $? "the due ones are delivered once the next hop is back"
is "$(arrived kill)" "$M $M" "each of the $M arrived, none twice"
is "$(arrived pad)" "0 0" "the ones not due yet stay queued"
pad=$(grep -l '^Message-ID: <pad-' "$T"/spool/queue/00/*.msg | head -n 1)
pad=$(basename "$pad" .msg)
ctl inspect "$pad" >"$T/inspect.out" 2>&1
ok $? "petrelctl inspect reads one in from disk ($pad)"

# --- retry DOMAIN and bounce --domain reach the messages on disk -----------
# 300 for retry.test and 300 for bounce.test, not due for an hour, among the
# 20,000 pads: nearly all of them beyond the 50 in memory
stop_petrel
MKSPOOL_DOMAIN=retry.test "$PY" "$SRCDIR/t/integration/mkspool.py" "$T/spool" 300 rd 3600
MKSPOOL_DOMAIN=bounce.test "$PY" "$SRCDIR/t/integration/mkspool.py" "$T/spool" 300 bd 3600
: >"$T/petreld.out"
start_petrel
wait_for 60 grep -q 'recovery took' "$T/petreld.out"
ok $([ "$(stat_of active_messages)" -le 50 ]; echo $?) \
    "petreld restarts with at most 50 of the 20,600 messages in memory"
ctl --json retry retry.test >"$T/retry.json" 2>&1
is "$(jq_n "$T/retry.json" messages)" 300 "retry retry.test: all 300 due now, most of them read from disk"
wait_for 120 sh -c "[ \"\$(cat '$T'/sink/*.eml | grep -c '^Message-ID: <rd-')\" -ge 300 ]"
ok $? "and delivered"
is "$(arrived rd) $(arrived pad)" "300 300 0 0" "each once, and none of the pads"
ctl --json bounce --domain bounce.test --reason "soak test" >"$T/bounce.json" 2>&1
is "$(jq_n "$T/bounce.json" messages) $(jq_n "$T/bounce.json" recipients)" "300 300" \
    "bounce --domain bounce.test: all 300 returned, most of them read from disk"
wait_for 120 sh -c "[ \"\$(cat '$T'/sink/*.eml | grep -c '^Message-ID: <bd-')\" -ge 300 ]"
ok $? "their DSNs went to the sender"
is "$(grep -c 'event=Bounce .*rcpt=<b[0-9]*@bounce.test>' "$T/petreld.out") $(arrived pad)" "300 0 0" \
    "one Bounce line each; the pads stay queued"
# retry --all: those on disk are due now, not at the stamp on their file
ctl --json retry --all >"$T/retryall.json" 2>&1
ok $([ "$(jq_n "$T/retryall.json" messages)" -ge 20000 ]; echo $?) "retry --all: the 20,000 pads due now"
wait_for 240 sh -c "[ \"\$(cat '$T'/sink/*.eml | grep -c '^Message-ID: <pad-')\" -ge 20000 ]"
ok $? "and delivered, though their stamps said an hour"
is "$(arrived pad)" "20000 20000" "each once"
