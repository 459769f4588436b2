#!/bin/bash
# connection_limit per site holds across deliverd workers (issue 9,
# "limits enforced for real"): two routing domains with the same MX host
# are one site (KumoMTA's MX rollup).  queued's first guess shards by
# domain, so with 2 workers ra.test goes to deliverd[0] and rb.test to
# deliverd[1]; the site's owner takes both (IMSG_DELIVERD_REDIRECT), and
# the server sees at most connection_limit = 2 sessions at once.  Before
# the owner rule each worker allowed 2: the sink saw 4.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badpeer.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
plan 7

# the dot is answered after half a second: sessions stay busy, so every
# connection the limits allow is opened
start_peer 127.0.0.61 slow roll
ok $? "the MX host is up (answers the dot after 0.5 s)"

DNSP=$(free_port)
start_dnsmasq "$DNSP" \
    --mx-host=ra.test,mx1.roll.test,10 --mx-host=rb.test,mx1.roll.test,10 \
    --host-record=mx1.roll.test,127.0.0.61
ok $? "dnsmasq: ra.test and rb.test share the MX mx1.roll.test"

P=$T/policy.lua
cat >"$P" <<'LUA'
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path { connection_limit = 2 }
end)
LUA
POLICY=$P RELAYHOST= RESOLVER=127.0.0.1:$DNSP SYSLOG_SOCKET= \
    DELIVERD_EXTRA="workers = 2
smtp_port = $BP" write_conf
VERBOSE=1 start_petrel; ok $? "petreld is up with 2 deliverd workers"
logged() { grep -aEq -- "$1" "$T/petreld.out"; }

N=15
pids=""
for i in $(seq $N); do
	sendmsg s@back.test "a$i@ra.test" "ra-$i" & pids="$pids $!"
	sendmsg s@back.test "b$i@rb.test" "rb-$i" & pids="$pids $!"
done
for p in $pids; do wait "$p"; done
wait_for 50 sh -c "[ \$(cat $T/peer-roll/count 2>/dev/null || echo 0) -ge $((2 * N)) ]"
ok $? "all $((2 * N)) messages to both domains delivered"

max=$(cat "$T/peer-roll/maxactive")
diag "at most $max sessions at once at the sink"
ok $([ "$max" -le 2 ]; echo $?) "never more than connection_limit = 2 sessions at once (saw $max)"
ok $([ "$max" -eq 2 ]; echo $?) "and the limit was reached: 2 at once"
logged 'redirected to deliverd\[[01]\]'
ok $? "the non-owner handed its domain's tasks to the site's owner"
