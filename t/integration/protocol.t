#!/bin/bash
# Protocol conformance: each bad input gets its reply and the session
# goes on (checked with a NOOP or a full transaction afterwards).
. "$(dirname "$0")/lib.sh"
plan 61

RELAY_FROM=127.0.0.1/32 SYSLOG_SOCKET= write_conf "max_recipients = 3
max_message_size = 10K
timeout = 2s"
start_petrel; ok $? "petreld is up"

# case DESCRIPTION REGEX-FOR-LAST-REPLY-BEFORE-NOOP COMMANDS...
# The dialogue ends with NOOP, whose reply must be 250: the session went on.
case_() {
	desc=$1 want=$2; shift 2
	out=$(chat "$@" NOOP)
	last=$(printf '%s\n' "$out" | tail -n 1)
	bad=$(printf '%s\n' "$out" | tail -n 2 | head -n 1)
	if printf '%s' "$bad" | grep -Eq -- "$want" &&
	    printf '%s' "$last" | grep -q '^250 '; then
		ok 0 "$desc"
	else
		ok 1 "$desc"; printf '%s\n' "$out" | sed 's/^/#   /'
	fi
}
long=$(head -c 2000 /dev/zero | tr '\0' 'a')
textlong=$(head -c 1200 /dev/zero | tr '\0' 'b')

case_ "banner is 220 with the host name" '^220 petrel.test ESMTP' 
case_ "MAIL before HELO: 503 5.5.1" '^503 5\.5\.1' "MAIL FROM:<a@example.org>"
case_ "RCPT before MAIL: 503 5.5.1" '^503 5\.5\.1' "EHLO c.test" "RCPT TO:<b@example.net>"
case_ "DATA before RCPT: 503 5.5.1" '^503 5\.5\.1' "EHLO c.test" "MAIL FROM:<a@example.org>" "DATA"
case_ "DATA with an argument: 501 5.5.4" '^501 5\.5\.4' "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" "DATA now"
case_ "unknown command: 500 5.5.2" '^500 5\.5\.2' "EHLO c.test" "FROBNICATE"
case_ "EHLO without a name: 501 5.5.4" '^501 5\.5\.4' "EHLO"
case_ "HELO without a name: 501 5.5.4" '^501 5\.5\.4' "HELO"
case_ "EHLO with a quote or '=' (log forgery): 501 5.5.4" '^501 5\.5\.4' 'EHLO x"event=Delivery'
case_ "a control character in a quoted local part: 501 5.1.3" '^501 5\.1\.3' "EHLO c.test" $'@raw:MAIL FROM:<"a\\\x01b"@example.org>\r\n'
case_ "MAIL without angle brackets: 501 5.5.4" '^501 5\.5\.4' "EHLO c.test" "MAIL FROM:alice@example.org"
case_ "MAIL with broken address: 501 5.1.3" '^501 5\.1\.3' "EHLO c.test" "MAIL FROM:<alice@>"
case_ "MAIL without FROM: 501 5.5.4" '^501 5\.5\.4' "EHLO c.test" "MAIL <a@example.org>"
case_ "nested MAIL: 503 5.5.1" '^503 5\.5\.1' "EHLO c.test" "MAIL FROM:<a@example.org>" "MAIL FROM:<a@example.org>"
case_ "SIZE above the limit: 552 5.3.4" '^552 5\.3\.4' "EHLO c.test" "MAIL FROM:<a@example.org> SIZE=999999999"
case_ "unknown MAIL parameter: 555 5.5.4" '^555 5\.5\.4' "EHLO c.test" "MAIL FROM:<a@example.org> FOO=bar"
case_ "MAIL parameter after HELO: 555 5.5.4" '^555 5\.5\.4' "HELO c.test" "MAIL FROM:<a@example.org> BODY=8BITMIME"
case_ "RCPT with the null path: 501 5.1.3" '^501 5\.1\.3' "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<>"
case_ "RCPT with a bad domain: 501 5.1.3" '^501 5\.1\.3' "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b@-bad-.net>"
case_ "too many recipients: 452 4.5.3" '^452 4\.5\.3' "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b1@example.net>" "RCPT TO:<b2@example.net>" "RCPT TO:<b3@example.net>" "RCPT TO:<b4@example.net>"
case_ "command line too long: 500 5.5.2" '^500 5\.5\.2' "EHLO c.test" "MAIL FROM:<$long@example.org>"
case_ "NUL in a command: 500 5.5.2" '^500 5\.5\.2' "EHLO c.test" '@raw:NOOP\x00x\r\n'
case_ "message too big after DATA: 552 5.3.4" '^552 5\.3\.4' "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" "DATA" "@data:2000"
case_ "text line over 1000 octets: 500 5.5.6" '^500 5\.5\.6' "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" "DATA" "@send:Subject: x\r\n\r\n$textlong\r\n" "."
case_ "EXPN: 502 5.5.1" '^502 5\.5\.1' "EHLO c.test" "EXPN staff"
case_ "STARTTLS (not offered): 502 5.5.1" '^502 5\.5\.1' "EHLO c.test" "STARTTLS"
case_ "AUTH (not offered): 502 5.5.1" '^502 5\.5\.1' "EHLO c.test" "AUTH PLAIN AGFsaWNlAHNlY3JldA=="
case_ "VRFY: 252" '^252 2\.0\.0' "EHLO c.test" "VRFY bob"
case_ "HELP: 214" '^214 ' "HELP"
case_ "RSET with an argument: 501 5.5.4" '^501 5\.5\.4' "RSET x"

# SMTP smuggling: <LF>.<LF> does not end the text, so what follows it is
# text, not a second transaction
out=$(chat "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" "DATA" \
    "@send:Subject: smuggle\r\n\r\nhello\n.\nMAIL FROM:<admin@bank.example>\r\nRCPT TO:<b@example.net>\r\nDATA\r\nSubject: forged\r\n\r\nforged\r\n" \
    "." QUIT)
is "$(printf '%s\n' "$out" | grep -c 'queued as')" 1 "<LF>.<LF> does not end the message: one message, not two"
sid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9a-f]\{16\}\).*/\1/p')
grep -q $'^\\.\\.\r$' "$T/spool/queue/${sid:0:2}/$sid.msg" 2>/dev/null
ok $? "the lone dot after a bare LF is kept stuffed, harmless at the next hop"
out=$(chat "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" "DATA" \
    "@send:Subject: cr\r\n\r\nbare\rcr\r\n" "." NOOP)
like "$(printf '%s\n' "$out" | sed -n 6p)" '^554 5\.6\.0' "a bare CR in the text: 554 5.6.0"
like "$(printf '%s\n' "$out" | sed -n 7p)" '^250 ' "and the session goes on"

# a good transaction still works after errors in the same session
out=$(chat "EHLO c.test" "FROB" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" \
    "DATA" "@data:3" QUIT)
like "$(printf '%s\n' "$out" | sed -n 7p)" '^250 2\.0\.0 Ok: queued as [0-9a-f]{16}$' \
    "a message is accepted after an error in the same session"

# the reply to the too-long text line is given after the dot, and the
# rejected message was not queued
is "$(spool_count)" 2 "only the accepted messages are in the spool"

# relay control: a client outside relay_from may not relay
out=$(SRC_ADDR=127.0.0.3 chat "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" NOOP)
like "$(printf '%s\n' "$out" | sed -n 4p)" '^554 5\.7\.1 <b@example\.net>: Relay access denied' \
    "client outside relay_from: 554 5.7.1"
like "$(printf '%s\n' "$out" | sed -n 5p)" '^250 ' "and its session goes on"

# SMTPUTF8 (RFC 6531): offered; a UTF-8 address needs it, malformed
# UTF-8 is refused always
like "$(chat "EHLO c.test" | sed -n 2p)" '(^|\|)250-SMTPUTF8(\||$)' "EHLO offers SMTPUTF8"
case_ "UTF-8 MAIL without SMTPUTF8: 553 5.6.7" '^553 5\.6\.7' "EHLO c.test" '@raw:MAIL FROM:<j\xc3\xb6rg@example.org>\r\n'
case_ "UTF-8 RCPT without SMTPUTF8: 553 5.6.7" '^553 5\.6\.7' "EHLO c.test" "MAIL FROM:<a@example.org>" '@raw:RCPT TO:<b@b\xc3\xbccher.example>\r\n'
case_ "malformed UTF-8 with SMTPUTF8: 501 5.1.3" '^501 5\.1\.3' "EHLO c.test" '@raw:MAIL FROM:<j\xc3rg@example.org> SMTPUTF8\r\n'
case_ "malformed UTF-8 in RCPT: 501 5.1.3" '^501 5\.1\.3' "EHLO c.test" "MAIL FROM:<a@example.org> SMTPUTF8" '@raw:RCPT TO:<b@\xff.example>\r\n'
case_ "SMTPUTF8 with a value: 501 5.5.4" '^501 5\.5\.4' "EHLO c.test" "MAIL FROM:<a@example.org> SMTPUTF8=yes"
out=$(chat "EHLO c.test" '@raw:MAIL FROM:<j\xc3\xb6rg@example.org> SMTPUTF8\r\n' \
    '@raw:RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example>\r\n' DATA "@data:2" QUIT)
like "$(printf '%s\n' "$out" | sed -n 3,6p | cut -c1-3 | tr '\n' ' ')" '^250 250 354 250 $' \
    "a UTF-8 sender and recipient with SMTPUTF8 are accepted"
sid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9a-f]\{16\}\).*/\1/p')
env="$T/env.utf8"
spool_envelope "$sid" >"$env"
ok $(grep -qx 'smtputf8 1' "$env" && grep -qx $'from j\xc3\xb6rg@example.org' "$env" &&
    grep -qx $'rcpt \xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example' "$env"; echo $?) \
    "its envelope says smtputf8 and keeps the addresses as sent"
grep -q 'with UTF8SMTP id' "$T/spool/queue/${sid:0:2}/$sid.msg"
ok $? "its Received header says UTF8SMTP (RFC 6531 3.7.3)"

# RFC 5321 4.5.1: <Postmaster> without a domain, from any client
out=$(SRC_ADDR=127.0.0.3 chat "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<PostMaster>" DATA "@data:1" QUIT)
like "$(printf '%s\n' "$out" | sed -n 4,6p | cut -c1-3 | tr '\n' ' ')" '^250 354 250 $' \
    "RCPT TO:<Postmaster> is accepted from a client outside relay_from"
sid=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9a-f]\{16\}\).*/\1/p')
spool_envelope "$sid" | grep -qx 'rcpt postmaster@petrel.test'
ok $? "and qualified as postmaster@<hostname> in the envelope"

# hop count: more than 50 Received: lines in the header are a loop
hops() { for i in $(seq "$1"); do printf 'Received: from h%d by h%d\\r\\n' "$i" "$i"; done; }
out=$(chat "EHLO c.test" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" DATA \
    "@send:$(hops 51)Subject: loop\r\n\r\nbody\r\n" "." NOOP \
    "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" DATA \
    "@send:$(hops 50)Subject: far\r\n\r\nReceived: in the body\r\n" "." QUIT)
like "$(printf '%s\n' "$out" | sed -n 6p)" '^554 5\.4\.6 .*too many hops' "51 Received: headers: 554 5.4.6 too many hops"
like "$(printf '%s\n' "$out" | sed -n 7p)" '^250 ' "and the session goes on"
like "$(printf '%s\n' "$out" | sed -n 11p)" '^250 2\.0\.0 Ok: queued as' "50 Received: headers are accepted"
is "$(spool_count)" 5 "the looping message was not queued"

# junk commands: 100 between two messages are answered, the 101st ends it
junk() { for i in $(seq "$1"); do printf 'NOOP|'; done; }
out=$(chat "EHLO c.test" "@pipe:$(junk 99)RSET" "MAIL FROM:<a@example.org>" "RCPT TO:<b@example.net>" \
    DATA "@data:1" "@pipe:$(junk 99)HELP" NOOP "@expect-close")
is "$(printf '%s\n' "$out" | cut -c1-3 | uniq -c | tr -s ' \n' ' ')" \
    " 1 220 103 250 1 354 100 250 1 214 1 421 1 CLO " \
    "after a message the count starts again: the 101st junk command gets 421"
like "$(printf '%s\n' "$out" | tail -n 2 | head -n 1)" '^421 4\.7\.0 Error: too many junk commands, closing connection$' \
    "421 4.7.0 too many junk commands"
out=$(chat "@pipe:$(junk 100)NOOP" "@expect-close")
is "$(printf '%s\n' "$out" | tail -n 2 | tr '\n' ' ' | cut -c1-8)" "421 4.7." "a 101st NOOP in a row gets 421"
is "$(printf '%s\n' "$out" | tail -n 1)" "CLOSED" "and the connection is closed"

# idle timeout: 421 4.4.2, then the server closes
out=$("$PY" - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.settimeout(10)
f = s.makefile("rb")
f.readline()
start = time.time()
line = f.readline().decode().strip()
rest = f.readline()
print("%s|%s|%.0f" % (line, "CLOSED" if not rest else "OPEN", time.time() - start))
PY
)
like "$out" '^421 4\.4\.2 .*\|CLOSED\|[23]$' "idle client gets 421 4.4.2 after the timeout and is disconnected"

# too many errors end the session (as Postfix's hard error limit)
args=()
for i in $(seq 25); do args+=("BOGUS$i"); done
out=$(chat "${args[@]}")
like "$(printf '%s\n' "$out" | grep -m1 '^421')" '^421 4\.7\.0' "20 errors end the session with 421 4.7.0"

# max_sessions: one worker that takes two sessions; a third gets 421 4.3.2
stop_petrel
RELAY_FROM=127.0.0.1/32 SYSLOG_SOCKET= WORKERS=1 write_conf "max_sessions = 2"
start_petrel
out=$("$PY" - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
held = []
for _ in range(2):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(5)
    s.recv(512)
    held.append(s)
t = socket.create_connection(("127.0.0.1", port), 5)
t.settimeout(5)
print(t.recv(512).decode().strip())
PY
)
like "$out" '^421 4\.3\.2 ' "beyond max_sessions a client gets 421 4.3.2"
