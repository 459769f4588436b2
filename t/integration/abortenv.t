#!/bin/bash
# A spool file recycled from a delivered message goes back into the pool in
# incoming/ emptied, its envelope (at its end, or an .env) gone with it; a
# message refused at the end of its text must leave nothing behind
# (issue 6, item 8).
. "$(dirname "$0")/lib.sh"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
plan 6

run_sink; ok $? "sink is up"
RELAYHOST="[127.0.0.6]:$SP" SYSLOG_SOCKET= WORKERS=1 write_conf
start_petrel; ok $? "petreld is up"
# queued fills its pool of spool files (1024 open files: 120) at start;
# from then on a delivered message's files go back into it
wait_for 10 sh -c "[ \$(ls $T/spool/incoming | wc -l) -ge 120 ]"

swaks --server 127.0.0.1:"$PORT" --from a@example.org --to secret@example.net \
    >"$T/swaks.out" 2>&1
did=$(wait_for 15 grep -q 'event=Delivery' "$T/petreld.out" && sed -n 's/.*id=\([0-9a-f]\{16\}\) event=Delivery.*/\1/p' \
    "$T/petreld.out" | head -n 1)
# (the recycled file is emptied just after its rename into incoming/)
wait_for 15 sh -c "[ -n '$did' ] && [ ! -e $T/spool/queue/${did:0:2}/$did.msg ] &&
    [ -z \"\$(find $T/spool/incoming -type f -size +0 -o -name '*.env' | head -n 1)\" ]"
ok $? "the delivered message's file was recycled, emptied, no envelope beside it"

out=$(chat "EHLO c" "MAIL FROM:<b@example.org>" "RCPT TO:<c@example.net>" DATA \
    "@send:Subject: cr\r\n\r\nbare\rcr\r\n" "." QUIT)
like "$(printf '%s\n' "$out" | sed -n 6p)" '^554 5\.6\.0' "the next message is refused at its end"
id=$(sed -n 's/.*id=\([0-9a-f]\{16\}\) client=.*event=Rejection.*5\.6\.0.*/\1/p' \
    "$T/petreld.out" | tail -n 1)
like "$id" '^[0-9a-f]{16}$' "its id is logged with the rejection"
wait_for 5 sh -c "! ls $T/spool/incoming/$id* >/dev/null 2>&1"
ok $? "neither its file nor the recycled envelope is left in incoming/"
