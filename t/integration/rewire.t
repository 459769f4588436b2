#!/bin/bash
# A channel between two live children that breaks (a garbled frame) is
# wired anew by petreld and mail flows again within seconds; nobody is
# restarted for it (issue 6, item 3).  The children's SIGUSR2 test hook
# (PETREL_TEST_HOOKS) writes a frame header with an impossible length
# onto their peer channels.
. "$(dirname "$0")/lib.sh"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
plan 12

run_sink; ok $? "sink is up"
RELAYHOST="[127.0.0.6]:$SP" SYSLOG_SOCKET= WORKERS=2 write_conf
export PETREL_TEST_HOOKS=1
start_petrel; ok $? "petreld is up"

# send N: one message with subject N; wait until the sink has it
send() {
	swaks --server 127.0.0.1:"$PORT" --from a@example.org \
	    --to "r$1@example.net" --header "Subject: rewire $1" \
	    --timeout 15 >"$T/swaks.$1" 2>&1 || return 1
	wait_for 15 sh -c "grep -qs 'Subject: rewire $1' $T/sink/*.eml"
}
child() { petrel_children | awk -v n="$1" '$2 == n { print $1 }'; }
garble() {	# garble NAME: SIGUSR2 to every child of that name
	for p in $(child "$1"); do kill -USR2 "$p"; done
}
rewired() {	# rewired N: at least N "wiring a new one" lines
	[ "$(grep -c 'wiring a new one' "$T/petreld.out")" -ge "$1" ]
}

send 1; ok $? "a message goes through"

garble deliverd
wait_for 10 rewired 1; ok $? "deliverd's channel to queued was garbled and rewired"
like "$(grep -m1 'wiring a new one' "$T/petreld.out")" \
    'queued and deliverd\[0\] lost \(reported by queued\)' "queued reported it"
send 2; ok $? "mail flows after deliverd's channel was rewired"

garble smtpd
wait_for 10 rewired 3; ok $? "both smtpd channels were rewired"
send 3; ok $? "mail is accepted and flows after smtpd's channels were rewired"

garble queued
wait_for 10 rewired 6; ok $? "queued garbled all three of its channels; all were rewired"
send 4; ok $? "mail flows after queued's channels were rewired"

is "$(grep -c 'restarting in' "$T/petreld.out")" 0 "no child was restarted"
n=$(grep -c 'Subject: rewire' "$T"/sink/*.eml | awk -F: '{ s += $2 } END { print s }')
is "$n" 4 "four messages, each delivered once"
