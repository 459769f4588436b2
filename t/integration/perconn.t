#!/bin/bash
# max_deliveries_per_connection and idle_timeout (issue 9): with
# max_deliveries_per_connection = 3 and one connection at a time, 10
# messages use 4 connections (3 + 3 + 3 + 1), each ended with QUIT and
# the next opened; the last one, idle, says QUIT after idle_timeout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badpeer.sh"
plan 6

start_peer 127.0.0.62 ok pc
ok $? "the next hop is up"

P=$T/policy.lua
cat >"$P" <<'LUA'
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path { connection_limit = 1,
    max_deliveries_per_connection = 3, idle_timeout = '3s' }
end)
LUA
POLICY=$P RELAYHOST= SYSLOG_SOCKET= DELIVERD_EXTRA="smtp_port = $BP" write_conf
start_petrel; ok $? "petreld is up"

pids=""
for i in $(seq 10); do
	sendmsg s@back.test "u$i@[127.0.0.62]" "pc-$i" & pids="$pids $!"
done
for p in $pids; do wait "$p"; done
wait_for 30 sh -c "[ \$(cat $T/peer-pc/count 2>/dev/null || echo 0) -ge 10 ]"
ok $? "10 messages delivered"
# the idle one ends after idle_timeout
wait_for 15 sh -c "[ \$(grep -c '^end' $T/peer-pc/events) -ge 4 ]"
sessions=$(grep -c '^start' "$T/peer-pc/events")
diag "$sessions connections for 10 messages"
is "$sessions" 4 "max_deliveries_per_connection = 3: 10 messages over 4 connections"
is "$(grep -c '^quit' "$T/peer-pc/log")" 4 "each ended with QUIT (3 full, 1 idle)"
idle=$("$PY" - "$T/peer-pc/events" <<'PY'
import sys
ev = [l.split() for l in open(sys.argv[1])]
dots = [float(t) for k, t in ev if k == "dot"]
ends = [float(t) for k, t in ev if k == "end"]
print("%.1f" % (max(ends) - max(dots)))
PY
)
diag "the last connection closed ${idle} s after its last message"
ok $("$PY" -c "import sys; sys.exit(not 2.5 <= $idle <= 8)"; echo $?) \
    "idle_timeout = 3s: the idle connection ended about 3 s after its last message (${idle} s)"
