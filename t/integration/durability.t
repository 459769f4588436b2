#!/bin/bash
# 250 only after the message is on stable storage (DESIGN invariant 1).
# kill -9 keeps the page cache, so a crash test cannot see a missing sync;
# strace can.  For every accepted message: its envelope is renamed into the
# queue, then a syncfs (or fsync) starts after that rename and returns
# before smtpd writes the 250 that names the message.  Removing the sync
# makes this fail.
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip_all "strace not installed"
strace -f -o /dev/null true 2>/dev/null || skip_all "ptrace is not allowed here"
plan 4
N=20

SYSLOG_SOCKET= write_conf
mkdir -p "$T/st"
PETREL_WRAP="strace -ff -ttt -T -s 200 -o $T/st/tr -e trace=rename,renameat,renameat2,syncfs,fsync,fdatasync,sync,write,writev,sendmsg,sendto" \
    start_petrel; ok $? "petreld is up under strace"
"$PY" "$SRCDIR/t/integration/loadclient.py" 127.0.0.1 "$PORT" "$N" 4 "$T" dur \
    >"$T/load.out" 2>&1
is "$(wc -l <"$T/ack")" "$N" "$N messages accepted"
# the real petreld (strace is the tracked parent): stop it, strace follows
kill -TERM "$(cat "$T/run/petreld.pid")"
wait_for 30 sh -c "! kill -0 $PETREL_PID 2>/dev/null"

"$PY" - "$T/st" >"$T/order.out" 2>&1 <<'PY'
import glob, re, sys
ev = []	# (time, kind, text)
call = re.compile(r'^(\d+\.\d+) (\w+)\((.*)\) += (-?\d+).*<(\d+\.\d+)>$')
for f in glob.glob(sys.argv[1] + "/tr.*"):
    for line in open(f, errors="replace"):
        m = call.match(line.strip())
        if not m or int(m.group(4)) < 0:
            continue
        t0, name, args = float(m.group(1)), m.group(2), m.group(3)
        t1 = t0 + float(m.group(5))
        if name.startswith("rename"):
            r = re.search(r'queue/[0-9a-f]{2}/([0-9a-f]{16})\.env"', args)
            if r:
                ev.append((t1, "commit", r.group(1)))
        elif name in ("syncfs", "fsync", "fdatasync", "sync"):
            ev.append((t0, "sync", t1))
        else:
            r = re.search(r'250 2\.0\.0 Ok: queued as ([0-9a-f]{16})', args)
            if r:
                ev.append((t0, "reply", r.group(1)))
ev.sort()
commit = {}	# the first rename: later ones are retries' updates
for t, kind, mid in ev:
    if kind == "commit":
        commit.setdefault(mid, t)
syncs = [(t0, t1) for t0, kind, t1 in ev if kind == "sync"]
bad = n = 0
for t, kind, mid in ev:
    if kind != "reply":
        continue
    n += 1
    c = commit.get(mid)
    if c is None or not any(c <= s0 and s1 <= t for s0, s1 in syncs):
        bad += 1
        print("not durable before its 250:", mid)
print("replies=%d bad=%d" % (n, bad))
PY
cat "$T/order.out" | sed 's/^/# /'
like "$(tail -n 1 "$T/order.out")" "^replies=$N bad=0\$" \
    "every 250 came after a sync that started after its envelope's rename"
grep -q 'syncfs\|fsync' "$T"/st/tr.*; ok $? "the trace saw the syncs"
