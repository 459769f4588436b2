#!/bin/bash
# make_egress_path's suspended (issue 9): KumoMTA does not use a
# suspended path to send mail; its messages are held, not failed.
# Nothing reaches the next hop, no attempt is counted and no
# TransientFailure logged while it lasts (queued offers them again every
# 10 s and deliverd holds them again); after a reload without it they
# are delivered, on the first attempt.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badpeer.sh"
plan 7

start_peer 127.0.0.65 ok susp
ok $? "the next hop is up"

P=$T/policy.lua
policy() {	# policy true|false
	cat >"$P" <<LUA
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path { suspended = $1 }
end)
LUA
}
policy true
POLICY=$P RELAYHOST= SYSLOG_SOCKET= DELIVERD_EXTRA="smtp_port = $BP" write_conf
start_petrel; ok $? "petreld is up, the path suspended"

sendmsg s@back.test 'h1@[127.0.0.65],h2@[127.0.0.65]' susp-1
sendmsg s@back.test 'h3@[127.0.0.65]' susp-2
wait_for 15 grep -aq 'suspended by policy' "$T/petreld.out"
ok $? "deliverd holds the messages: suspended by policy"
# offered again after 10 s, and held again
wait_for 25 sh -c "[ \$(grep -ac 'suspended by policy' $T/petreld.out) -ge 3 ]"
ok $? "offered again and held again"
ok $([ ! -e "$T/peer-susp/log" ] || ! grep -q session "$T/peer-susp/log"; echo $?) \
    "nothing was sent while suspended (no session at the next hop)"
ok $(! grep -aEq "event=(TransientFailure|Bounce)" "$T/petreld.out"; echo $?) \
    "no TransientFailure, no bounce: held, not failed"

policy false
kill -HUP "$PETREL_PID"
wait_for 30 sh -c "[ \$(cat $T/peer-susp/count 2>/dev/null || echo 0) -ge 2 ] &&
    [ \$(grep -ac 'event=Delivery .*attempts=1\$' $T/petreld.out) -eq 3 ]"
ok $? "after a reload without suspended: delivered, all 3 recipients on attempt 1"
