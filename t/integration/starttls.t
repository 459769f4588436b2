#!/bin/bash
# STARTTLS on the server side (RFC 3207): offered only when a
# certificate is configured, works with swaks, the session starts over,
# and clear-text commands pipelined after STARTTLS are thrown away.
. "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || skip_all "openssl not installed"
plan 10

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=petrel.test" \
    -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1
ok $? "made a test certificate"
SYSLOG_SOCKET= write_conf "tls_certificate = $T/cert.pem
tls_private_key = $T/key.pem"
start_petrel; ok $? "petreld with a certificate is up"

out=$(chat "EHLO c.test" QUIT)
like "$out" '250-STARTTLS' "STARTTLS is offered"

out=$(swaks --server 127.0.0.1 --port "$PORT" --tls --from a@example.org \
    --to b@example.net --header "Message-ID: <tls-1@test>" 2>&1)
ok $? "swaks --tls delivers a message"
printf '%s\n' "$out" | grep -q 'TLS started'; ok $? "TLS was negotiated"
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9a-f]\{16\}\).*/\1/p')
grep -q "with ESMTPS id $id" "$T/spool/queue/${id:0:2}/$id.msg"
ok $? "Received header says ESMTPS"
grep -Eq "^	\(using TLSv1\.[23] with cipher [A-Z0-9_-]+ \([0-9]+/[0-9]+ bits\)\)" \
    "$T/spool/queue/${id:0:2}/$id.msg"
ok $? "and records the protocol and cipher, as Postfix does"

out=$("$PY" - "$PORT" <<'PY'
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.settimeout(5)
f = s.makefile("rb")
f.readline()
s.sendall(b"EHLO c.test\r\n")
while f.readline()[3:4] == b"-":
    pass
# injection attempt: RSET rides in the same packet as STARTTLS
s.sendall(b"STARTTLS\r\nRSET\r\n")
print(f.readline().decode().strip())
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(s, server_hostname="petrel.test")
g = t.makefile("rb")
t.sendall(b"MAIL FROM:<a@example.org>\r\n")
print(g.readline().decode().strip())
t.sendall(b"EHLO c.test\r\n")
lines = []
while True:
    l = g.readline().decode().strip()
    lines.append(l)
    if l[3:4] != "-":
        break
print("|".join(lines))
PY
)
like "$(printf '%s\n' "$out" | sed -n 1p)" '^220 2\.0\.0' "STARTTLS gets 220"
like "$(printf '%s\n' "$out" | sed -n 2p)" '^503 5\.5\.1' \
    "after TLS the session starts over (MAIL needs EHLO) and the injected RSET was dropped"
ok $(printf '%s\n' "$out" | sed -n 3p | grep -q STARTTLS; echo $((1 - $?))) \
    "STARTTLS is not offered again inside TLS"
