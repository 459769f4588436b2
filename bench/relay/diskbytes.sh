#!/bin/bash
# bench/relay/diskbytes.sh SYSTEM -- bytes written to the disk per relayed message,
# with what the kernel writes back later counted too: smtp-source (5000 messages of
# 4 KiB, 20 clients, a new connection each) -> SYSTEM (petrel | postfix) -> smtp-sink,
# sectors written to DISK (from /proc/diskstats) from a sync before the run to the
# empty queue ("run"), and again after one more sync ("with-sync").  peers-relay.sh
# counts only its run's window, which leaves out what the kernel writes back after it.
#
# Environment: PETRELD (default build/run/master/petreld), N (5000), DISK (vda),
#   PF: a Postfix instance directory made by ../shared/tools/peers-relay.sh (its
#   work dir's postfix/, relaying to 127.0.0.1:2600 and listening on :2501).
# Run as root, petrel alone on ports 2505/2600; the spool under /tmp/diskbytes.
set -u
SYS=$1 N=${N:-5000} DISK=${DISK:-vda}
HERE=$(cd "$(dirname "$0")" && pwd)
PETRELD=${PETRELD:-$HERE/../../build/run/master/petreld}
W=/tmp/diskbytes
sectors() { awk -v d="$DISK" '$3 == d { print $10 }' /proc/diskstats; }
smtp-sink -u nobody 127.0.0.1:2600 1000 & SINK=$!
if [ "$SYS" = petrel ]; then
	rm -rf "$W"; mkdir -p "$W"
	cat >"$W/petrel.conf" <<CONF
[global]
hostname = bench.petrel.test
spool_dir = $W/spool
run_dir = $W/run
privsep = no
syslog_socket =
[smtpd]
listen = 127.0.0.1:2505
workers = 2
relay_from = 127.0.0.0/8
[queued]
relayhost = [127.0.0.1]:2600
[deliverd]
workers = 1
resolver = 127.0.0.1:9
CONF
	"$PETRELD" -d -f "$W/petrel.conf" >"$W/petreld.log" 2>&1 & P=$! PORT=2505
	queued() { find "$W/spool/queue" -name '*.msg' | wc -l; }
else
	: "${PF:?PF: a Postfix instance directory of peers-relay.sh}"
	mkdir -p "$PF/spool" && postfix -c "$PF/etc" check >/dev/null 2>&1
	postfix -c "$PF/etc" start >/dev/null 2>&1; PORT=2501
	queued() { find "$PF/spool/incoming" "$PF/spool/active" "$PF/spool/deferred" -type f | wc -l; }
fi
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
smtp-source -c -s 20 -m 200 -l 4096 -f a@x.test -t b@y.test 127.0.0.1:$PORT >/dev/null  # warm-up
for _ in $(seq 300); do [ "$(queued)" = 0 ] && break; sleep 0.1; done
sync; s0=$(sectors); t0=$(date +%s.%N)
smtp-source -c -s 20 -m "$N" -l 4096 -f a@x.test -t b@y.test 127.0.0.1:$PORT >/dev/null
for _ in $(seq 600); do [ "$(queued)" = 0 ] && break; sleep 0.05; done
t1=$(date +%s.%N); s1=$(sectors); sync; s2=$(sectors)
echo "$SYS secs $(echo "$t1 - $t0" | bc) KiB/msg run $(echo "scale=1; ($s1 - $s0) / 2 / $N" | bc) with-sync $(echo "scale=1; ($s2 - $s0) / 2 / $N" | bc)"
if [ "$SYS" = petrel ]; then kill "$P"; wait "$P"; else postfix -c "$PF/etc" stop >/dev/null 2>&1; fi
kill "$SINK"
