#!/bin/bash
# Every log line goes to syslog, on the socket syslog_socket names, with
# ident petrel/<process> and the facility syslog_facility: a private
# rsyslogd prints each line's facility and program name
# ($T/syslog.tagged).  The event lines of smtpd, queued and deliverd,
# keysd's and petreld's own arrive so, and a changed syslog_facility
# takes effect in every process on reload.
. "$(dirname "$0")/lib.sh"
command -v rsyslogd >/dev/null || skip_all "rsyslogd not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 22

start_syslog; ok $? "a private rsyslogd is up"
run_sink; ok $? "sink is up"
P=$T/policy.lua
cat >"$P" <<LUA
kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  if domain == 'dead.test' then
    return kumo.make_queue_config { routing_domain = '[127.0.0.1]:1' }
  end
  return kumo.make_queue_config { routing_domain = '[127.0.0.6]:$SP' }
end)
LUA
POLICY=$P RELAYHOST= RELAY_FROM=127.0.0.1/32 write_conf
start_petrel; ok $? "petreld is up, logging to $T/log.sock"

# round N: a message delivered, one deferred, one refused by smtpd
round() {
	"$PY" "$SRCDIR/t/integration/sendmsg.py" 127.0.0.1 "$PORT" a@example.org \
	    "s$1@example.net" "s$1" &&
	"$PY" "$SRCDIR/t/integration/sendmsg.py" 127.0.0.1 "$PORT" a@example.org \
	    "d$1@dead.test" "d$1" &&
	SRC_ADDR=127.0.0.2 chat "EHLO client.test" "MAIL FROM:<a@example.org>" \
	    "RCPT TO:<r$1@example.net>" QUIT >"$T/chat.$1" &&
	grep -q '^554 5.7.1' "$T/chat.$1"
}
# seen FACILITY PROCESS REGEX: a line from petrel/PROCESS with that
# facility, its ident also as rsyslog's program name
seen() {
	grep -qE "^$1 petrel/$2 petrel/$2\[[0-9]+\]: $3" "$T/syslog.tagged"
}
reloads() { grep -c 'reload: done' "$T/petreld.out"; }
hup() {
	_n=$(( $(reloads) + 1 ))
	kill -HUP "$PETREL_PID"
	wait_for 60 sh -c "[ \$(grep -c 'reload: done' '$T/petreld.out') -ge $_n ]"
}

round 1; ok $? "mail sent: one to the sink, one to a dead host, one refused"
wait_for 20 seen mail queued "id=[0-9a-f]+ event=Delivery from=<a@example.org> rcpt=<s1@example.net> "
ok $? "queued's Delivery line: facility mail, ident petrel/queued"
seen mail queued "id=[0-9a-f]+ event=Reception from=<a@example.org> rcpt=<s1@example.net> "
ok $? "and its Reception line"
wait_for 20 seen mail deliverd "site=127.0.0.1:1 event=Unreachable "
ok $? "deliverd's Unreachable line: ident petrel/deliverd"
seen mail smtpd 'smtp client=\[127.0.0.2\] event=Rejection rcpt=<r1@example.net> reason="relay access denied"'
ok $? "smtpd's Rejection line: ident petrel/smtpd"
seen mail master "petrel .* starting: 2 smtpd and 1 deliverd workers"
ok $? "petreld's own lines: ident petrel/master"
hup; ok $? "a reload with the same configuration"
wait_for 10 seen mail keysd "keys flushed"
ok $? "keysd's line: ident petrel/keysd"

# every line petreld -d wrote to stderr reached syslog, word for word
same() {
	grep '^petrel/' "$T/petreld.out" | sort >"$T/stderr.lines"
	sed 's/^[a-z0-9]* [^ ]* //' "$T/syslog.tagged" | sort >"$T/syslog.lines"
	[ -z "$(comm -23 "$T/stderr.lines" "$T/syslog.lines")" ]
}
wait_for 10 same
ok $? "every log line also went to syslog ($(wc -l <"$T/stderr.lines") lines)"
[ $? = 0 ] || comm -23 "$T/stderr.lines" "$T/syslog.lines" | head -n 5 | sed 's/^/#   /'

# a new facility: every process uses it once the reload is done
sed -i 's/^\[global\]$/[global]\nsyslog_facility = local3/' "$T/petrel.conf"
hup; ok $? "a reload with syslog_facility = local3"
round 2; ok $? "mail sent again"
wait_for 20 seen local3 queued "id=[0-9a-f]+ event=Delivery from=<a@example.org> rcpt=<s2@example.net> "
ok $? "queued logs with facility local3"
seen local3 queued "id=[0-9a-f]+ event=Reception from=<a@example.org> rcpt=<s2@example.net> "
ok $? "its Reception line too"
wait_for 20 seen local3 deliverd "site=127.0.0.1:1 event=Unreachable "
ok $? "deliverd logs with local3"
seen local3 smtpd 'smtp client=\[127.0.0.2\] event=Rejection rcpt=<r2@example.net> '
ok $? "smtpd logs with local3"
seen local3 master "reload: done"
ok $? "petreld logs with local3"
hup; wait_for 10 seen local3 keysd "keys flushed"
ok $? "keysd logs with local3"
is "$(grep -E '<[sdr]2@' "$T/syslog.tagged" | grep -v '^local3 ' | head -n 3)" "" \
    "no line about the mail sent after the reload came with another facility"
grep -q "event=Delivery .*rcpt=<s2@example.net>" "$T/maillog"
ok $([ $? != 0 ]; echo $?) "nor in the mail facility's file"
