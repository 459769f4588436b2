#!/bin/bash
# Spool recovery at start: half-received files are removed, a message file
# without its envelope (an unfinished commit) is removed, an envelope without
# its message (a removal a crash broke off) is removed, a corrupt envelope is
# moved aside to corrupt/ with a log line, good messages are loaded, those
# of an earlier version's spool (text and envelope in two files) too.
. "$(dirname "$0")/lib.sh"
plan 13

SYSLOG_SOCKET= write_conf
start_petrel; ok $? "petreld is up"
for i in 1 2 3 4; do
	swaks --server 127.0.0.1 --port "$PORT" --from a@example.org --to b$i@example.net \
	    --header "Message-ID: <spool-$i@test>" >/dev/null 2>&1
done
is "$(spool_count)" 4 "four messages committed"
stop_petrel

# damage the spool as a crash or a bad disk would
msgs=($(ls "$T"/spool/queue/*/*.msg))
bad=$(basename "${msgs[0]}" .msg)
spool_envelope "$bad" >"$T/bad.env" &&				# torn replaced envelope
    head -c 40 "$T/bad.env" >"${msgs[0]%.msg}.env"
gone=$(basename "${msgs[1]}" .msg)
n=$(stat -c %s "${msgs[1]}")
truncate -s $((n - 60)) "${msgs[1]}"				# unfinished commit
orphan=$(basename "${msgs[2]}" .msg)
spool_envelope "$orphan" >"$T/orphan.env" &&			# broken-off removal
    mv "$T/orphan.env" "${msgs[2]%.msg}.env" && rm "${msgs[2]}"
echo "partial" >"$T/spool/incoming/0123456789abcdef"		# half received
good=$(basename "${msgs[3]}" .msg)
MKSPOOL_FORMAT=old "$PY" "$SRCDIR/t/integration/mkspool.py" "$T/spool" 1 oldformat
old=$(basename "$(grep -l '^Message-ID: <oldformat-0@test>' "$T"/spool/queue/*/*.msg)" .msg)

start_petrel; ok $? "petreld starts on the damaged spool"
wait_for 10 grep -q "spool: 2 messages queued, 1 partial receptions removed" "$T/petreld.out"
ok $? "queued reports what it loaded and removed"
grep -q "id=$bad event=Corrupt reason=\"truncated (no final newline)\" moved to $T/spool/corrupt/" "$T/petreld.out"
ok $? "the torn envelope is reported with its id and reason"
ok $([ -f "$T/spool/corrupt/$bad.env" ] && [ -f "$T/spool/corrupt/$bad.msg" ]; echo $?) \
    "its envelope and message file are kept in corrupt/"
ok $([ ! -e "$T/spool/queue/${gone:0:2}/$gone.msg" ] &&
    grep -q "id=$gone: removed data of an unfinished commit" "$T/petreld.out"; echo $?) \
    "a message file without its envelope was removed, with a log line"
ok $([ ! -e "$T/spool/queue/${orphan:0:2}/$orphan.env" ] &&
    grep -q "id=$orphan: removed the envelope of a finished message" "$T/petreld.out"; echo $?) \
    "an envelope without its message was removed, with a log line"
ok $([ ! -e "$T/spool/incoming/0123456789abcdef" ]; echo $?) "the half-received file was removed"
ok $([ -f "$T/spool/queue/${good:0:2}/$good.msg" ]; echo $?) "the good message is still queued"
"$PETRELCTL" -f "$T/petrel.conf" --json inspect "$old" >"$T/old.json" 2>&1
grep -q '"address": *"b0@example.net"' "$T/old.json"
ok $? "the message in an earlier version's two files is queued with its envelope"

# a new message still goes in after recovery
swaks --server 127.0.0.1 --port "$PORT" --from a@example.org --to c@example.net >/dev/null 2>&1
ok $? "a new message is accepted after recovery"
is "$(spool_count)" 3 "the spool holds the good one, the old-format one and the new one"
