#!/bin/bash
# SMTP smuggling, end to end: petreld relays to a naive next hop
# (naivesink.py ends DATA at any "." line, whatever ended the line
# before it).  Each message hides a second transaction from
# <x@bank.test> behind a fake end of data: <LF>.<CRLF>, <CR>.<CRLF>,
# <LF>.<LF>, and an over-long line ended by a bare LF before .<CRLF>.
# Neither petrel nor the next hop may see that second transaction.
. "$(dirname "$0")/lib.sh"
plan 14

SP=$(free_port)
mkdir -p "$T/sink"
"$PY" "$SRCDIR/t/integration/naivesink.py" 127.0.0.1 "$SP" "$T/sink" \
    >"$T/sink.out" 2>&1 &
SINK_PID=$!; track $SINK_PID
wait_for 20 test -e "$T/sink/ready"; ok $? "the naive sink is up"

RELAYHOST="[127.0.0.1]:$SP" SYSLOG_SOCKET= QUEUED_EXTRA="retry_interval = 1s
max_retry_interval = 2s" write_conf
start_petrel; ok $? "petreld is up"

# one line per case: NAME 354S QUEUED LAST-REPLY-TO-THE-TEXT
"$PY" - "$PORT" >"$T/client.out" <<'PY'
import socket, sys

port = int(sys.argv[1])
smuggled = (b"MAIL FROM:<x@bank.test>\r\nRCPT TO:<victim@example.net>\r\n"
            b"DATA\r\nSubject: smuggled\r\n\r\nforged\r\n.\r\n")
cases = [
    ("lf-dot-crlf", b"hello\n.\r\n" + smuggled),
    ("cr-dot-crlf", b"hello\r.\r\n" + smuggled),
    ("lf-dot-lf", b"hello\n.\n" + smuggled),
    ("long-lf-dot-crlf", b"a" * 1500 + b"\n.\r\n" + smuggled),
    ("plain", b"hello\r\n.\r\n"),
]

for name, text in cases:
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(15)
    f = s.makefile("rb")
    replies = [f.readline()]
    for cmd in (b"EHLO c.test", b"MAIL FROM:<a@example.org>",
                b"RCPT TO:<b@example.net>", b"DATA"):
        s.sendall(cmd + b"\r\n")
        while True:
            line = f.readline()
            replies.append(line)
            if line[3:4] != b"-":
                break
    s.sendall(b"Subject: " + name.encode() + b"\r\n\r\n" + text +
              b"QUIT\r\n")
    rest = f.read().splitlines()	# until petrel closes after QUIT
    replies += rest
    n354 = sum(1 for r in replies if r.startswith(b"354"))
    queued = sum(1 for r in replies if b"queued as" in r)
    print(name, n354, queued, rest[0].decode().split(" ")[0] if rest else "-")
PY
ok $? "the client ran every case"
sed 's/^/# /' "$T/client.out"

case_() {	# case_ NAME WANT-QUEUED WANT-REPLY-CODE
	set -- $(grep "^$1 " "$T/client.out") "$2" "$3"
	is "$2 $3 $4" "1 $5 $6" "$1: one transaction at petrel, reply $6"
}
case_ lf-dot-crlf 1 250
case_ cr-dot-crlf 0 554
case_ lf-dot-lf 1 250
case_ long-lf-dot-crlf 0 500
case_ plain 1 250
accepted=$(awk '{ n += $3 } END { print n }' "$T/client.out")

ends() { grep -c '^END$' "$T/sink/log" 2>/dev/null; }
wait_for 30 sh -c "[ \$(grep -c '^END\$' $T/sink/log) -ge $accepted ] &&
    [ \$(find $T/spool/queue -name '*.msg' | wc -l) = 0 ]"
ok $? "petrel relayed what it accepted and its queue is empty"
# deliverd closes its connections when petreld stops; then the sink has
# read every byte it was sent
stop_petrel
wait_for 10 sh -c "[ \$(grep -c '^OPEN\$' $T/sink/log) = \$(grep -c '^CLOSE\$' $T/sink/log) ]"
ok $? "the sink saw every connection close"
is "$(ends)" "$accepted" "the next hop saw one end of data per accepted message"
is "$(grep -c '^MAIL ' "$T/sink/log")" "$accepted" "and one MAIL per accepted message"
grep -q 'x@bank.test' "$T/sink/log"
ok $((! $?)) "the next hop never saw MAIL FROM:<x@bank.test>"
grep -q 'from=<x@bank.test>' "$T/petreld.out"
ok $((! $?)) "petrel never took a message from <x@bank.test>"
