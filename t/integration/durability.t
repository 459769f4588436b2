#!/bin/bash
# 250 only after the message is on stable storage (DESIGN invariant 1).
# kill -9 keeps the page cache, so a crash test cannot see a missing sync;
# strace can.  For every accepted message: its file is renamed into the
# queue, then, starting after that rename and returning before smtpd writes
# the 250 that names the message, an fdatasync or fsync of that file and an
# fsync of its queue directory (or a syncfs, which covers both).  Removing
# either sync makes this fail.
. "$(dirname "$0")/lib.sh"
command -v strace >/dev/null || skip_all "strace not installed"
strace -f -o /dev/null true 2>/dev/null || skip_all "ptrace is not allowed here"
plan 4
N=20

SYSLOG_SOCKET= write_conf
mkdir -p "$T/st"
PETREL_WRAP="strace -ff -ttt -T -y -s 200 -o $T/st/tr -e trace=rename,renameat,renameat2,syncfs,fsync,fdatasync,sync,write,writev,sendmsg,sendto" \
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
            r = re.search(r'queue/[0-9a-f]{2}/([0-9a-f]{16})\.msg"', args)
            if r:
                ev.append((t1, "commit", r.group(1)))
        elif name == "syncfs" or name == "sync":
            ev.append((t0, "syncall", t1))
        elif name in ("fsync", "fdatasync"):
            r = re.search(r'<[^>]*/queue/([0-9a-f]{2})(?:/([0-9a-f]{16})\.msg)?>', args)
            if r and r.group(2):
                ev.append((t0, "syncfile", (t1, r.group(2))))
            elif r:
                ev.append((t0, "syncdir", (t1, r.group(1))))
        else:
            r = re.search(r'250 2\.0\.0 Ok: queued as ([0-9a-f]{16})', args)
            if r:
                ev.append((t0, "reply", r.group(1)))
ev.sort(key=lambda e: e[0])
commit = {}	# the first rename
for t, kind, mid in ev:
    if kind == "commit":
        commit.setdefault(mid, t)
syncall = [(t0, x) for t0, kind, x in ev if kind == "syncall"]
files = [(t0, x[0], x[1]) for t0, kind, x in ev if kind == "syncfile"]
dirs = [(t0, x[0], x[1]) for t0, kind, x in ev if kind == "syncdir"]
bad = n = 0
for t, kind, mid in ev:
    if kind != "reply":
        continue
    n += 1
    c = commit.get(mid)
    ok = c is not None and (
        any(c <= s0 and s1 <= t for s0, s1 in syncall) or
        (any(c <= s0 and s1 <= t and m == mid for s0, s1, m in files) and
         any(c <= s0 and s1 <= t and d == mid[:2] for s0, s1, d in dirs)))
    if not ok:
        bad += 1
        print("not durable before its 250:", mid)
print("replies=%d bad=%d" % (n, bad))
PY
cat "$T/order.out" | sed 's/^/# /'
like "$(tail -n 1 "$T/order.out")" "^replies=$N bad=0\$" \
    "every 250 came after syncs of its file and directory that started after its rename"
grep -q 'syncfs\|fsync' "$T"/st/tr.*; ok $? "the trace saw the syncs"
