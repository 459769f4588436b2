#!/bin/bash
# 8BITMIME and SMTPUTF8 at the next hop (issue 6, item 7): BODY=8BITMIME
# and SMTPUTF8 go on MAIL FROM when the message has them and the server
# offers them; a non-ASCII address never goes to a server without
# SMTPUTF8 (5.6.7, RFC 6531 3.4); an ASCII envelope goes without it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badpeer.sh"
plan 18

# utf8 offers 8BITMIME and SMTPUTF8, plain offers nothing, ok (the
# senders' host, where DSNs go) 8BITMIME
start_peer 127.0.0.31 utf8; start_peer 127.0.0.32 plain
start_peer 127.0.0.33 ok
ok $? "next hops with and without the extensions are up"
RELAYHOST= SYSLOG_SOCKET= DELIVERD_EXTRA="smtp_port = $BP" QUEUED_EXTRA="retry_interval = 1h
max_retry_interval = 1h" write_conf
start_petrel; ok $? "petreld is up"
logged() { grep -aEq -- "$1" "$T/petreld.out"; }
send() {	# send FROM TO[,TO] MSGID OPTION...
	local f=$1 t=$2 id=$3; shift 3
	sendmsg "$f" "$t" "$id" 0 "$@"
}
mail_of() {	# mail_of PEER SENDER-PREFIX: the MAIL commands it saw
	grep -a "^cmd MAIL FROM:<$2@" "$T/peer-$1/log"
}
S='[127.0.0.33]'

send "s1@$S" 'u1@[127.0.0.31]' m1 8bit; ok $? "an 8-bit message accepted"
wait_for 20 logged "event=Delivery .*rcpt=<u1@"; ok $? "delivered"
is "$(mail_of utf8 s1)" "cmd MAIL FROM:<s1@$S> BODY=8BITMIME" \
    "BODY=8BITMIME to a next hop that offers 8BITMIME"

send "s2@$S" 'u2@[127.0.0.32]' m2 8bit
wait_for 20 logged "event=Delivery .*rcpt=<u2@"; ok $? "an 8-bit message delivered to a next hop without 8BITMIME"
is "$(mail_of plain s2)" "cmd MAIL FROM:<s2@$S>" "without the parameter"

send "sü3@$S" 'u3@[127.0.0.31]' m3 smtputf8; ok $? "a UTF-8 sender accepted with SMTPUTF8"
wait_for 20 logged "event=Delivery .*rcpt=<u3@"; ok $? "delivered to a next hop that offers SMTPUTF8"
is "$(mail_of utf8 sü3)" "cmd MAIL FROM:<sü3@$S> SMTPUTF8" "with SMTPUTF8 on MAIL FROM"

send "s4@$S" 'ü4@[127.0.0.32],a4@[127.0.0.32]' m4 smtputf8
wait_for 20 logged "event=Bounce .*4@\[127.0.0.32\]> .*response=\"5.6.7 SMTPUTF8 not offered by 127.0.0.32\[127.0.0.32\]:$BP\""
ok $? "a UTF-8 recipient, next hop without SMTPUTF8: 5.6.7, permanent"
wait_for 20 logged "event=Delivery .*rcpt=<a4@"; ok $? "the ASCII recipient of the same message is delivered"
is "$(mail_of plain s4)" "cmd MAIL FROM:<s4@$S>" "with an ASCII sender and no SMTPUTF8 parameter"
ok $(! grep -aq '^cmd RCPT TO:<ü4@' "$T/peer-plain/log"; echo $?) "the UTF-8 address never reached that next hop"

send "sü5@$S" 'u5@[127.0.0.32]' m5 smtputf8
wait_for 20 logged "event=Bounce .*rcpt=<u5@\[127.0.0.32\]> .*response=\"5.6.7 SMTPUTF8 not offered"
ok $? "a UTF-8 sender, next hop without SMTPUTF8: every recipient fails with 5.6.7"
is "$(mail_of plain sü5)" "" "no MAIL FROM was sent for it"

# SMTPUTF8 on an ASCII envelope (the headers may hold UTF-8: not looked at)
send "s6@$S" 'u6@[127.0.0.32]' m6 smtputf8
wait_for 20 logged "event=Delivery .*rcpt=<u6@"
is "$(mail_of plain s6)" "cmd MAIL FROM:<s6@$S>" "an ASCII envelope goes without SMTPUTF8 to a next hop that lacks it"
send "s7@$S" 'u7@[127.0.0.31]' m7 smtputf8
wait_for 20 logged "event=Delivery .*rcpt=<u7@"
is "$(mail_of utf8 s7)" "cmd MAIL FROM:<s7@$S> SMTPUTF8" "and with it to a next hop that offers it"
