#!/bin/bash
# Crash safety: a load of smtp-source and tracked clients while kill -9
# hits queued and the smtpd workers at random moments.  Afterwards every
# message that got a 250 is in the spool (by Message-ID) and none that
# was refused or never finished is; after a restart queued loads them all.
. "$(dirname "$0")/lib.sh"
plan 11
N=${CRASH_N:-2000}

SYSLOG_SOCKET= WORKERS=3 write_conf
start_petrel; ok $? "petreld is up"

# background load from smtp-source (it gives up on sessions that die)
smtp-source -s 10 -m "$N" -l 4096 -f load@example.org -t sink@example.net \
    127.0.0.1:"$PORT" >"$T/smtp-source.out" 2>&1 &
SRC_PID=$!; track $SRC_PID
"$PY" "$SRCDIR/t/integration/loadclient.py" 127.0.0.1 "$PORT" "$N" 4 "$T" crash \
    >"$T/load.out" 2>&1 &
LOAD_PID=$!; track $LOAD_PID

kill_children_while $LOAD_PID 'queued|smtpd'
kills=$KILLS kq=$(killed queued) ks=$(killed smtpd)
wait $LOAD_PID; untrack $LOAD_PID
wait_for 120 sh -c "! kill -0 $SRC_PID 2>/dev/null"; untrack $SRC_PID
diag "kills: $kills ($kq queued, $ks smtpd); client: $(cat "$T/load.out")"
ok $([ "$kq" -ge 3 ] && [ "$ks" -ge 3 ]; echo $?) "queued and smtpd were each killed several times"

ack=$(wc -l <"$T/ack")
ok $([ "$ack" -ge $((N / 4)) ]; echo $?) "a good share of messages was accepted ($ack of $N)"

kill -0 "$PETREL_PID" 2>/dev/null; ok $? "petreld itself survived every child's death"
n=$(grep -c 'killed by signal 9; restarting in' "$T/petreld.out")
is "$n" "$kills" "each kill was logged with its restart"
stop_petrel; ok $? "petreld stops"

# what the spool holds, by Message-ID
cat "$T"/spool/queue/*/*.msg 2>/dev/null | sed -n 's/^Message-ID: \(<crash-[0-9]*@test>\)\r$/\1/p' |
    sort >"$T/spooled"
sort -u "$T/spooled" >"$T/spooled.u"
missing=$(sort "$T/ack" | comm -23 - "$T/spooled.u" | wc -l)
is "$missing" 0 "every message that got a 250 is in the spool"
extra=$(sort "$T/nak" | comm -12 - "$T/spooled.u" | wc -l)
is "$extra" 0 "no refused or unfinished message is in the spool"
unk_in=$(sort "$T/unk" | comm -12 - "$T/spooled.u" | wc -l)
diag "$(wc -l <"$T/unk") messages lost their reply after the dot; $unk_in of them were committed"
ntail=0
for f in "$T"/spool/queue/*/*.msg; do
	[ -e "$f" ] || continue
	tail -c 38 "$f" | grep -q '^petrel-tail [0-9a-f]\{16\} [0-9a-f]\{8\}$' &&
	    ntail=$((ntail + 1))
done
is "$ntail" "$(spool_count)" "every message file in the queue ends with its envelope's trailer"

# restart: queued recovers exactly what is there
total=$(spool_count)
start_petrel; ok $? "petreld starts again on the crashed spool"
wait_for 10 grep -q "spool: $total messages queued" "$T/petreld.out"
ok $? "queued recovered all $total committed messages"
