#!/bin/bash
# max_message_rate and max_connection_rate (issue 9): token buckets per
# site in deliverd, a burst of 1 unless max_burst says more.  At the
# sink, "5/s" means no more than 5 transactions in any one second, and
# every message arrives, over one session (a message rate opens no
# connection that could only wait); "2/s" on connections means no more
# than 2 new sessions in any one second.  Waiting for a token is no failure.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badpeer.sh"
plan 10

start_peer 127.0.0.63 ok msg && start_peer 127.0.0.64 ok conn
ok $? "the next hops are up"

P=$T/policy.lua
cat >"$P" <<'LUA'
kumo.on('get_egress_path_config', function(domain, site_name)
  if site_name == '127.0.0.64' then
    return kumo.make_egress_path { connection_limit = 10,
      max_deliveries_per_connection = 1, max_connection_rate = '2/s' }
  end
  return kumo.make_egress_path { connection_limit = 4,
    max_message_rate = '5/s' }
end)
LUA
POLICY=$P RELAYHOST= SYSLOG_SOCKET= DELIVERD_EXTRA="smtp_port = $BP" write_conf
start_petrel; ok $? "petreld is up"
logged() { grep -aEq -- "$1" "$T/petreld.out"; }

# most events of one kind in any window [t, t + 1 s) at the sink, and
# the time from the first to the last.  deliverd spaces them at least
# 200 ms (500 ms) apart; the sink's clock sees each a few ms early or
# late (asyncio, several sessions; on a loaded machine the first
# session's start was seen 29 ms late), so a window is 50 ms short of a
# second: without the limit 20 messages take well under a second, with
# a burst of 2 the first second would hold 6.
window() {	# window DIR KIND
	"$PY" - "$T/peer-$1/events" "$2" <<'PY'
import sys
ts = sorted(float(t) for k, t in (l.split() for l in open(sys.argv[1]))
            if k == sys.argv[2])
most = max(sum(1 for u in ts if t <= u < t + 0.95) for t in ts)
print(most, "%.2f" % (ts[-1] - ts[0]))
PY
}

N=20
pids=""
for i in $(seq $N); do
	sendmsg s@back.test "m$i@[127.0.0.63]" "msg-$i" & pids="$pids $!"
done
for p in $pids; do wait "$p"; done
wait_for 30 sh -c "[ \$(cat $T/peer-msg/count 2>/dev/null || echo 0) -ge $N ]"
ok $? "all $N messages arrived"
read -r most span < <(window msg mail)
diag "max_message_rate = 5/s: at most $most transactions in one second; $N took $span s"
ok $([ "$most" -le 5 ]; echo $?) "no more than 5 transactions (MAIL) in any one second at the sink, 50 ms allowed for its timing (saw $most)"
ok $("$PY" -c "import sys; sys.exit(not $span >= 3.6)"; echo $?) \
    "$N messages spread over at least 3.6 s (took $span s)"
ok $(! logged "event=TransientFailure"; echo $?) "waiting for a token is not a failure"
sessions=$(awk '$1 == "start"' "$T/peer-msg/events" | wc -l)
is "$sessions" 1 "one session carried them: a connection being set up holds the only token, so no other is opened to go idle (connection_limit 4)"

M=8
pids=""
for i in $(seq $M); do
	sendmsg s@back.test "c$i@[127.0.0.64]" "conn-$i" & pids="$pids $!"
done
for p in $pids; do wait "$p"; done
wait_for 30 sh -c "[ \$(cat $T/peer-conn/count 2>/dev/null || echo 0) -ge $M ]"
ok $? "all $M messages arrived, one connection each"
read -r most span < <(window conn start)
diag "max_connection_rate = 2/s: at most $most new sessions in one second; $M took $span s"
ok $([ "$most" -le 2 ]; echo $?) "no more than 2 new connections in any one second at the sink, 50 ms allowed for its timing (saw $most)"
ok $("$PY" -c "import sys; sys.exit(not $span >= 3.2)"; echo $?) \
    "$M connections spread over at least 3.2 s (took $span s)"
