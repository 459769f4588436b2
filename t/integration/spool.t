#!/bin/bash
# Spool recovery at start: half-received files are removed, data without
# an envelope (an unfinished commit) is removed, a corrupt envelope is
# moved aside to corrupt/ with a log line, good messages are loaded.
. "$(dirname "$0")/lib.sh"
plan 11

SYSLOG_SOCKET= write_conf
start_petrel; ok $? "petreld is up"
for i in 1 2 3; do
	swaks --server 127.0.0.1 --port "$PORT" --from a@example.org --to b$i@example.net \
	    --header "Message-ID: <spool-$i@test>" >/dev/null 2>&1
done
is "$(spool_count)" 3 "three messages committed"
stop_petrel

# damage the spool as a crash or a bad disk would
envs=($(ls "$T"/spool/queue/*/*.env))
bad=$(basename "${envs[0]}" .env)
head -c 40 "${envs[0]}" >"$T/trunc" && cat "$T/trunc" >"${envs[0]}"	# torn envelope
gone=$(basename "${envs[1]}" .env)
rm "${envs[1]}"							# unfinished commit
echo "partial" >"$T/spool/incoming/0123456789abcdef"		# half received
good=$(basename "${envs[2]}" .env)

start_petrel; ok $? "petreld starts on the damaged spool"
wait_for 10 grep -q "spool: 1 messages queued, 1 partial receptions and 1 unfinished commits removed" \
    "$T/petreld.out"
ok $? "queued reports what it loaded and removed"
grep -q "id=$bad event=Corrupt reason=\"truncated (no final newline)\" moved to $T/spool/corrupt/" "$T/petreld.out"
ok $? "the torn envelope is reported with its id and reason"
ok $([ -f "$T/spool/corrupt/$bad.env" ] && [ -f "$T/spool/corrupt/$bad.msg" ]; echo $?) \
    "its envelope and data are kept in corrupt/"
ok $([ ! -e "$T/spool/queue/${gone:0:2}/$gone.msg" ]; echo $?) "data without an envelope was removed"
ok $([ ! -e "$T/spool/incoming/0123456789abcdef" ]; echo $?) "the half-received file was removed"
ok $([ -f "$T/spool/queue/${good:0:2}/$good.env" ]; echo $?) "the good message is still queued"

# a new message still goes in after recovery
swaks --server 127.0.0.1 --port "$PORT" --from a@example.org --to c@example.net >/dev/null 2>&1
ok $? "a new message is accepted after recovery"
is "$(spool_count)" 2 "the spool holds the good old one and the new one"
