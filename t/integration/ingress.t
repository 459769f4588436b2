#!/bin/bash
# Mail comes in and stays in: swaks sends plain and pipelined sessions;
# the spool holds exactly what was accepted; Reception lines reach syslog.
. "$(dirname "$0")/lib.sh"
command -v swaks >/dev/null || skip_all "swaks not installed"
plan 23

start_syslog; ok $? "private rsyslogd is up"
write_conf
start_petrel; ok $? "petreld answers with a banner"

out=$(swaks --server 127.0.0.1 --port "$PORT" --from alice@example.org \
    --to bob@example.net --header "Message-ID: <plain-1@test>" \
    --body "hello plain" 2>&1)
ok $? "swaks plain session succeeds"
id=$(printf '%s\n' "$out" | sed -n 's/.*250 2.0.0 Ok: queued as \([0-9a-f]\{16\}\).*/\1/p')
like "$id" '^[0-9a-f]{16}$' "250 reply names the queue id"

msg=$T/spool/queue/${id:0:2}/$id.msg
env=$T/env.plain
spool_envelope "$id" >"$env"
ok $([ -f "$msg" ] && [ -s "$env" ] &&
    [ ! -e "$T/spool/queue/${id:0:2}/$id.env" ]; echo $?) \
    "one file in the spool: the text, then the envelope"
grep -q '^Message-ID: <plain-1@test>' "$msg"; ok $? "data holds the message"
grep -q "^Received: from .* (\[127.0.0.1\])" "$msg"; ok $? "a Received header was prepended"
head -n 1 "$msg" | grep -q '^Received:'; ok $? "Received is the first header"
grep -qx 'from alice@example.org' "$env"; ok $? "envelope has the sender"
grep -qx 'rcpt bob@example.net' "$env"; ok $? "envelope has the recipient"

out=$(swaks --server 127.0.0.1 --port "$PORT" --pipeline --from carol@example.org \
    --to 'dave@example.net,erin@example.com' \
    --header "Message-ID: <pipe-1@test>" 2>&1)
ok $? "swaks pipelined session with two recipients succeeds"
printf '%s\n' "$out" | grep -q 'PIPELINING'; ok $? "PIPELINING is offered"
pid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9a-f]\{16\}\).*/\1/p')
is "$(spool_envelope "$pid" | grep -c '^rcpt ')" 2 "both recipients are in the envelope"

# null sender (a bounce) is accepted
out=$(swaks --server 127.0.0.1 --port "$PORT" --from '<>' --to frank@example.net \
    --header "Message-ID: <null-1@test>" 2>&1)
ok $? "null sender accepted"
nid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9a-f]\{16\}\).*/\1/p')
spool_envelope "$nid" | grep -qx 'from '; ok $? "the envelope keeps the null sender"

# a message rejected after DATA (too big) must not be in the spool
stop_petrel
write_conf "max_message_size = 2K"
start_petrel
big=$(head -c 6000 /dev/zero | tr '\0' 'x' | fold -w 70)
out=$(swaks --server 127.0.0.1 --port "$PORT" --from a@example.org --to b@example.net \
    --header "Message-ID: <big-1@test>" --body "$big" 2>&1)
printf '%s\n' "$out" | grep -q '552 5.3.4'; ok $? "oversized message gets 552 5.3.4"
! grep -rqs 'big-1@test' "$T/spool/queue"; ok $? "rejected message is not in the spool"
is "$(find "$T/spool/incoming" -type f -size +0 | wc -l)" 0 "no leftovers in incoming/ (only empty files of the pool)"

# exactly what was accepted: three messages, by Message-ID
n=$(cat "$T"/spool/queue/*/*.msg | grep -c '^Message-ID: <')
is "$n" 3 "the spool holds exactly the three accepted messages"

wait_for 5 grep -q "event=Reception.*from=<alice@example.org>" "$T/maillog"
ok $? "Reception line for the plain message in syslog"
line=$(grep "id=$id event=Reception" "$T/maillog")
like "$line" "petrel/queued\[[0-9]+\]: id=$id event=Reception from=<alice@example.org> rcpt=<bob@example.net> nrcpt=1 size=[0-9]+ " \
    "Reception line has the key=value fields"
grep -q "id=$pid event=Reception .*rcpt=<dave@example.net>,<erin@example.com> nrcpt=2" "$T/maillog"
ok $? "Reception line lists both recipients"

stop_petrel; is "$PETREL_RC" 0 "SIGTERM stops petreld with status 0"
