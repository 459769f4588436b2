#!/bin/bash
# A large message to a slow next hop (issue 6, item 6): data_dot_timeout
# does not bound the whole transfer of the text, only the wait for the
# reply to the final dot once the text is out; while the text is being
# written, only a stall of data_timeout (no byte leaves) fails it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badpeer.sh"
plan 8

start_peer 127.0.0.41 slowread; start_peer 127.0.0.42 stall
ok $? "a slow reader and a peer that stops reading are up"

# data_dot_timeout 2s: the transfer below takes several times that
RELAYHOST= SYSLOG_SOCKET= DELIVERD_EXTRA="smtp_port = $BP
data_timeout = 3s
data_dot_timeout = 2s" QUEUED_EXTRA="retry_interval = 1h
max_retry_interval = 1h" write_conf
start_petrel; ok $? "petreld is up (data_timeout 3s, data_dot_timeout 2s)"
logged() { grep -aEq -- "$1" "$T/petreld.out"; }
ev() { sed -n "s/^$2 //p" "$T/peer-$1/events" | head -n 1; }

sendmsg s@back.test 'u@[127.0.0.41]' slow 30M; ok $? "a 30 MB message accepted"
wait_for 120 logged "event=(Delivery|TransientFailure) .*rcpt=<u@\[127.0.0.41\]>"
logged "event=Delivery .*rcpt=<u@\[127.0.0.41\]>"
ok $? "delivered through a next hop that reads it slowly"
took=$("$PY" -c 'import sys; print(int(float(sys.argv[2]) - float(sys.argv[1])))' \
    "$(ev slowread 354)" "$(ev slowread dot)")
ok $([ "${took:-0}" -ge 6 ]; echo $?) "the text took ${took}s to go, over three times data_dot_timeout"

sendmsg s@back.test 'u@[127.0.0.42]' stall 30M; ok $? "another 30 MB message accepted"
wait_for 60 logged "event=TransientFailure .*rcpt=<u@\[127.0.0.42\]>"
failed=$(date +%s.%N)
logged "event=TransientFailure .*rcpt=<u@\[127.0.0.42\]> .*response=\"4.4.2 conversation with .*: timed out while sending the message text \(nothing could be written for 3 s\)"
ok $? "a next hop that stops reading: a TransientFailure that says so"
took=$("$PY" -c 'import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))' \
    "$(ev stall 354)" "$failed")
ok $("$PY" -c 'import sys; sys.exit(not 2.5 <= float(sys.argv[1]) <= 8)' "$took"; echo $?) \
    "after about data_timeout (${took}s after the 354)"
