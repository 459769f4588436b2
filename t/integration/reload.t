#!/bin/bash
# SIGHUP reloads the policy: the next message goes out with the new one;
# a broken policy is refused with its error and the running one stays;
# nothing is lost or sent twice.
. "$(dirname "$0")/lib.sh"
command -v swaks >/dev/null || skip_all "swaks not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 12

run_sink; ok $? "sink is up"
P=$T/policy.lua
policy() {	# policy EHLO-NAME: route to the sink, say EHLO-NAME
	cat >"$P" <<LUA
kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  return kumo.make_queue_config { routing_domain = '[127.0.0.6]:$SP' }
end)
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path { ehlo_domain = '$1' }
end)
LUA
}
policy first.petrel.test
POLICY=$P RELAYHOST= SYSLOG_SOCKET= write_conf
start_petrel; ok $? "petreld is up with the first policy"

send() {	# send N: a message with subject "reload N"
	swaks --server 127.0.0.1:"$PORT" --from a@example.org \
	    --to "r$1@example.net" --header "Subject: reload $1" \
	    --timeout 15 >"$T/swaks.$1" 2>&1
}
arrived() { grep -qs "Subject: reload $1" "$T"/sink/*.eml; }
send 1 && wait_for 15 arrived 1
ok $? "a message goes out"
grep -q '^EHLO first.petrel.test$' "$T/sink/log"; ok $? "with the first policy's EHLO"

policy second.petrel.test
kill -HUP "$PETREL_PID"
wait_for 20 grep -q 'reload: starting the queue manager' "$T/petreld.out"
ok $? "SIGHUP: the new policy is checked and the processes restarted"
send 2 && wait_for 20 arrived 2
ok $? "the next message goes out"
grep -q '^EHLO second.petrel.test$' "$T/sink/log"; ok $? "with the new policy's EHLO"

cat >"$P" <<'LUA'
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path { ehlo_domian = 'typo.petrel.test' }
end)
LUA
n=$(grep -c 'reload: starting' "$T/petreld.out")
kill -HUP "$PETREL_PID"
wait_for 10 grep -q "reload: policy: $P:2: .*unknown field 'ehlo_domian'.*; the running policy stays" \
    "$T/petreld.out"
ok $? "a broken policy is refused, naming the field"
is "$(grep -c 'reload: starting' "$T/petreld.out")" "$n" "and nothing was restarted"
send 3 && wait_for 15 arrived 3
ok $? "mail still flows"
is "$(grep '^EHLO' "$T/sink/log" | tail -n 1)" "EHLO second.petrel.test" \
    "with the policy that was running (no EHLO from the broken one)"
n=$(cat "$T"/sink/*.eml | grep -c '^Subject: reload')
is "$n" 3 "three messages, each delivered once"
