#!/bin/bash
# Slow clients (issue 13): a command line must be complete within
# timeout however its bytes trickle in; the message text must come at
# min_data_rate, and a slow but steady one still gets through; and
# with a worker's sessions filled by clients that trickle a byte a
# second, stress_timeout lets them go within seconds, so a real client
# gets its message in within a bounded time.
. "$(dirname "$0")/lib.sh"
command -v swaks >/dev/null || skip_all "swaks not installed"
plan 11

RELAY_FROM=127.0.0.1/32 SYSLOG_SOCKET= WORKERS=1 write_conf "timeout = 3s
min_data_rate = 1000"
start_petrel; ok $? "petreld is up (timeout 3s, min_data_rate 1000)"

# slow.py MODE: what the server did to a slow client, and when
"$PY" - "$PORT" >"$T/slow.out" 2>&1 <<'PY'
import socket, sys, time
port = int(sys.argv[1])

def reply(s, wait):
    """The next reply line (continuations skipped), or None after WAIT s."""
    s.settimeout(wait)
    buf = b""
    try:
        while True:
            b = s.recv(1)
            if not b:
                return buf.decode() or "EOF"
            buf += b
            if buf.endswith(b"\n"):
                if buf[3:4] != b"-":
                    return buf.decode()
                buf = b""
    except socket.timeout:
        return None if not buf else buf.decode()
    except OSError as e:
        return "ERR %s" % e

def session(hello=True):
    s = socket.create_connection(("127.0.0.1", port), 5)
    reply(s, 5)
    if hello:
        for c in (b"EHLO slow.test", b"MAIL FROM:<a@example.org>",
                  b"RCPT TO:<b@example.net>", b"DATA"):
            s.sendall(c + b"\r\n")
            reply(s, 5)
    return s

def trickle(s, data, chunk, every):
    t0 = time.time()
    for i in range(0, len(data), chunk):
        try:
            s.send(data[i:i + chunk])
        except OSError:
            break
        r = reply(s, every)
        if r is not None:
            return "%s after %.1f s" % (r[:9], time.time() - t0)
    r = reply(s, 15) or "nothing"
    return "%s after %.1f s" % (r[:9], time.time() - t0)

# 1. a command trickled a byte every half second: 9.5 s for the line
print("trickle:", trickle(session(False), b"EHLO trickle.test\r\n", 1, 0.5),
      flush=True)
# 2. message text at 40 bytes a second, far below min_data_rate
print("slowdata:", trickle(session(), b"0123456789" * 60, 10, 0.25),
      flush=True)
# 3. 4000 bytes a second for 5 s: longer than timeout, above the rate
s = session()
t0 = time.time()
while time.time() - t0 < 5:
    s.sendall((b"x" * 78 + b"\r\n") * 10)
    time.sleep(0.2)
s.sendall(b".\r\n")
print("steady: %s after %.1f s" % ((reply(s, 15) or "nothing")[:9],
      time.time() - t0), flush=True)
PY
diag "$(tr '\n' ';' <"$T/slow.out")"
trickle=$(sed -n 's/^trickle: //p' "$T/slow.out")
like "$trickle" '^421 4\.4\.2 after [345]\.' \
    "a command line trickled in gets 421 4.4.2 at its deadline, not a timeout per byte"
slowdata=$(sed -n 's/^slowdata: //p' "$T/slow.out")
like "$slowdata" '^421 4\.4\.2 after [345]\.' \
    "message text below min_data_rate gets 421 4.4.2"
like "$(sed -n 's/^steady: //p' "$T/slow.out")" '^250 2\.0\.0 after [56]\.' \
    "slow but steady message text, longer than timeout, is accepted"
grep -q 'event=Timeout state=0' "$T/petreld.out" &&
    grep -q 'event=Timeout state=2' "$T/petreld.out"
ok $? "both timeouts are logged"
stop_petrel

# A worker under ulimit -n 1024 holds 480 sessions.  490 clients (from
# 127.1.0.1 on, one each) say EHLO and then trickle "NOOP" a byte a
# second, never ending the line: the worker is full and under stress.
RELAY_FROM=127.0.0.1/32 SYSLOG_SOCKET= WORKERS=1 write_conf "stress_timeout = 3s"
start_petrel; ok $? "petreld is up again (timeout 5m, stress_timeout 3s)"
"$PY" "$SRCDIR/bench/sessions/idle.py" "$PORT" 490 "$T" --ehlo --trickle 1 \
    >"$T/idle.out" 2>&1 &
IDLE=$!; track $IDLE
wait_for 60 test -e "$T/held"
diag "first replies of the trickling clients: $(cat "$T/held")"
n220=$(sed -n 's/.*220=\([0-9]*\).*/\1/p' "$T/held")
ok $([ "${n220:-0}" -ge 470 ]; echo $?) "the worker filled up (${n220:-0} sessions)"

# a real client: tries every half second until its message is taken
t0=$(date +%s%N)
for i in $(seq 40); do
	swaks --server 127.0.0.1 --port "$PORT" --from alice@example.org \
	    --to bob@example.net --body "through the crowd" >"$T/swaks.out" 2>&1 && break
	sleep 0.5
done
took=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q '250 2.0.0 Ok: queued as' "$T/swaks.out"
ok $? "swaks delivers while the clients trickle (after $took ms, $i tries)"
ok $([ "$took" -lt 10000 ]; echo $?) "within 10 s (stress_timeout 3s)"
wait_for 10 sh -c "[ \"\$(cut -d' ' -f1 $T/closed)\" -ge 240 ]"
rc=$?
diag "trickling sessions closed by the server, and the last after: $(cat "$T/closed") s"
ok $rc "at least half of them were let go within seconds, not kept for the 5 minutes of timeout"
grep -q 'under stress' "$T/petreld.out"
ok $? "the stress is logged"
touch "$T/go"; wait $IDLE; untrack $IDLE
