#!/bin/bash
# smtpd's descriptor budget: under ulimit -n 256 a worker runs at most
# half the budget (256 - 64 reserved, halved: 96) sessions at once, so
# the spool file queued lends for DATA always fits.  600 idle clients,
# far above it, get 220 up to the cap and 421 4.3.2 beyond it; the
# workers neither die nor spin on EMFILE, and once the clients leave a
# message is accepted.
. "$(dirname "$0")/lib.sh"
plan 10

RELAY_FROM=127.0.0.1/32 SYSLOG_SOCKET= WORKERS=2 write_conf
NOFILE=256 start_petrel; ok $? "petreld is up under ulimit -n 256"
wait_for 10 grep -q 'sessions per worker' "$T/petreld.out"
like "$(grep -m1 'sessions per worker' "$T/petreld.out")" \
    'at most 96 sessions per worker, not max_sessions = 1000' \
    "the session cap from the open files limit is logged"
smtpds=$(petrel_children | sed -n 's/ smtpd$//p' | sort | tr '\n' ' ')
is "$(echo $smtpds | wc -w)" 2 "two smtpd workers"

cpu() {		# user+system clock ticks of the smtpd workers
	local t=0 p
	for p in $smtpds; do
		t=$((t + $(awk '{ print $14 + $15 }' /proc/"$p"/stat)))
	done
	echo $t
}

# 600 clients connect and stay; each says what it got first, then they
# wait until told to go (the file "go")
"$PY" - "$PORT" "$T" >"$T/clients.out" 2>&1 <<'PY' &
import os, selectors, socket, sys, time
port, t = int(sys.argv[1]), sys.argv[2]
sel = selectors.EpollSelector()
socks = []
for _ in range(600):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    sel.register(s, selectors.EVENT_READ)
    socks.append(s)
got = {}
deadline = time.time() + 20
while len(got) < len(socks) and time.time() < deadline:
    for key, _ in sel.select(0.5):
        try:
            got[key.fileobj] = key.fileobj.recv(512)[:3].decode() or "EOF"
        except OSError:
            got[key.fileobj] = "ERR"
        sel.unregister(key.fileobj)
counts = {}
for s in socks:
    v = got.get(s, "none")
    counts[v] = counts.get(v, 0) + 1
print(" ".join("%s=%d" % kv for kv in sorted(counts.items())), flush=True)
open(os.path.join(t, "held"), "w").close()
while not os.path.exists(os.path.join(t, "go")):
    time.sleep(0.05)
for s in socks:
    s.close()
PY
CLIENTS=$!; track $CLIENTS
wait_for 30 test -e "$T/held"; ok $? "600 clients connected"
diag "first replies: $(cat "$T/clients.out")"
n220=$(sed -n 's/.*220=\([0-9]*\).*/\1/p' "$T/clients.out")
n421=$(sed -n 's/.*421=\([0-9]*\).*/\1/p' "$T/clients.out")
ok $([ "${n220:-0}" -le 192 ] && [ "${n220:-0}" -ge 96 ]; echo $?) \
    "at most 96 sessions per worker got a banner (${n220:-0})"
ok $([ $(( ${n220:-0} + ${n421:-0} )) -ge 590 ]; echo $?) \
    "the others were told 421 4.3.2, not left hanging (${n421:-0})"

# idle clients held open: the workers must be quiet
c0=$(cpu); sleep 3; c1=$(cpu)
diag "smtpd CPU over 3 s with 600 clients held: $((c1 - c0)) ticks"
ok $([ $((c1 - c0)) -le 30 ]; echo $?) "the workers do not spin (at most 0.3 s CPU in 3 s)"

touch "$T/go"; wait $CLIENTS; untrack $CLIENTS
is "$(petrel_children | sed -n 's/ smtpd$//p' | sort | tr '\n' ' ')" "$smtpds" \
    "the same smtpd workers still run"
grep -q 'restarting in' "$T/petreld.out"
ok $((! $?)) "no child was restarted"
out=$(chat "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" DATA "@data:3" QUIT)
like "$(printf '%s\n' "$out" | sed -n 6p)" '^250 2\.0\.0 Ok: queued as' \
    "after the clients left a message is accepted"
