#!/bin/bash
# SIGHUP reloads the policy: the next message goes out with the new one;
# a broken policy is refused with its error and the running one stays;
# nothing is lost or sent twice.  It reloads petrel.conf too: a changed
# key takes effect, a key that needs a restart is named and kept, a
# broken file is refused with file, line and key; a child restarted
# after a crash runs with what petreld runs, not with the edited file.
# Under a load of 500 messages and several reloads, every Message-ID
# arrives exactly once.
. "$(dirname "$0")/lib.sh"
command -v swaks >/dev/null || skip_all "swaks not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 38

run_sink; ok $? "sink is up"
P=$T/policy.lua
policy() {	# policy EHLO-NAME: route to the sink, say EHLO-NAME
	cat >"$P" <<LUA
kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  return kumo.make_queue_config { routing_domain = '[127.0.0.6]:$SP' }
end)
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path { ehlo_domain = '$1' }
end)
LUA
}
policy first.petrel.test
# a retry soon after a deferral, so a deferred message shows within the test
POLICY=$P RELAYHOST= SYSLOG_SOCKET= QUEUED_EXTRA="retry_interval = 1s" \
    write_conf "max_message_size = 35M"
start_petrel; ok $? "petreld is up with the first policy"

send() {	# send N: a message with subject "reload N"
	swaks --server 127.0.0.1:"$PORT" --from a@example.org \
	    --to "r$1@example.net" --header "Subject: reload $1" \
	    --timeout 15 >"$T/swaks.$1" 2>&1
}
arrived() { grep -qs "Subject: reload $1" "$T"/sink/*.eml; }
send 1 && wait_for 15 arrived 1
ok $? "a message goes out"
grep -q '^EHLO first.petrel.test$' "$T/sink/log"; ok $? "with the first policy's EHLO"

policy second.petrel.test
kill -HUP "$PETREL_PID"
wait_for 20 grep -q 'reload: starting the queue manager' "$T/petreld.out"
ok $? "SIGHUP: the new policy is checked and the processes restarted"
send 2 && wait_for 20 arrived 2
ok $? "the next message goes out"
grep -q '^EHLO second.petrel.test$' "$T/sink/log"; ok $? "with the new policy's EHLO"

cat >"$P" <<'LUA'
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path { ehlo_domian = 'typo.petrel.test' }
end)
LUA
n=$(grep -c 'reload: starting' "$T/petreld.out")
kill -HUP "$PETREL_PID"
wait_for 10 grep -q "reload: policy: $P:2: .*unknown field 'ehlo_domian'.*; the running policy stays" \
    "$T/petreld.out"
ok $? "a broken policy is refused, naming the field"
is "$(grep -c 'reload: starting' "$T/petreld.out")" "$n" "and nothing was restarted"
send 3 && wait_for 15 arrived 3
ok $? "mail still flows"
is "$(grep '^EHLO' "$T/sink/log" | tail -n 1)" "EHLO second.petrel.test" \
    "with the policy that was running (no EHLO from the broken one)"
n=$(cat "$T"/sink/*.eml | grep -c '^Subject: reload')
is "$n" 3 "three messages, each delivered once"

# --- petrel.conf -----------------------------------------------------------
C=$T/petrel.conf
setkey() {	# setkey KEY VALUE: change a key that is in the file
	sed -i "s|^$1 = .*|$1 = $2|" "$C"
}
reloaded() {	# reloaded N: the Nth "reload: done" is logged
	[ "$(grep -c 'reload: done' "$T/petreld.out")" -ge "$1" ]
}
hup() {		# hup: SIGHUP and wait for the reload to finish
	_n=$(( $(grep -c 'reload: done' "$T/petreld.out") + 1 ))
	kill -HUP "$PETREL_PID"
	wait_for 60 reloaded "$_n"
}
banner() { chat QUIT | sed -n 1p; }
ehlo_size() { chat "EHLO t.test" QUIT | sed -n 2p | tr '|' '\n' | sed -n 's/^250.SIZE //p'; }

policy second.petrel.test
setkey hostname two.petrel.test
setkey max_message_size 1M
hup; ok $? "SIGHUP with a changed petrel.conf: the reload finishes"
like "$(banner)" "^220 two.petrel.test " "the smtp servers greet with the new hostname"
is "$(ehlo_size)" 1048576 "and announce the new max_message_size"
send 4 && wait_for 20 arrived 4
ok $? "mail flows after the reload"
grep -l "Subject: reload 4" "$T"/sink/*.eml | xargs grep -q "by two.petrel.test"
ok $? "its Received header names the new hostname"

# keys only a restart changes: named, and kept
P2=$(free_port)
setkey listen "127.0.0.1:$P2"
setkey workers 3
hup; ok $? "a reload with changed listen and workers finishes"
grep -q "reload: \[smtpd\] listen = 127.0.0.1:$P2 takes effect only when petreld restarts; until then it stays 127.0.0.1:$PORT" "$T/petreld.out"
ok $? "the changed listen address is named in a warning"
grep -q "reload: \[smtpd\] workers = 3 takes effect only when petreld restarts; until then it stays 2" "$T/petreld.out"
ok $? "so is the changed number of workers"
port_open 127.0.0.1 "$PORT"; ok $? "the old address still accepts"
port_open 127.0.0.1 "$P2" 2>/dev/null; ok $([ $? != 0 ]; echo $?) "the new one is not bound"
is "$(petrel_children | grep -c ' smtpd$')" 2 "still 2 smtp servers"

# an edited file reaches no child until it is reloaded
setkey hostname edited.petrel.test
victim=$(petrel_children | grep ' smtpd$' | head -n 1 | cut -d' ' -f1)
kill -KILL "$victim"
wait_for 20 sh -c "grep -q '(pid $victim) killed by signal 9' '$T/petreld.out' &&
    [ \$(cat /proc/$PETREL_PID/task/*/children | wc -w) -ge 5 ]" && wait_for 20 banner_ok
ok $? "a killed smtp server is restarted"
b=""
for _ in 1 2 3 4 5 6 7 8; do b="$b $(banner | cut -d' ' -f2)"; done
is "$(echo $b | tr ' ' '\n' | sort -u | tr '\n' ' ')" "two.petrel.test " \
    "every smtp server, the restarted one too, runs with the reloaded hostname, not the edited file"

# a broken petrel.conf: refused with file, line and key; nothing restarts
setkey hostname two.petrel.test
setkey listen "127.0.0.1:$PORT"
setkey workers 2
sed -i "s|^\[queued\]|[queued]\nmax_retry_interval = soon|" "$C"
line=$(grep -n '^max_retry_interval = soon' "$C" | cut -d: -f1)
n=$(grep -c 'reload: starting' "$T/petreld.out")
kill -HUP "$PETREL_PID"
wait_for 10 grep -q "reload: $C:$line: \[queued\] max_retry_interval = soon: must be a duration.*; the running configuration stays" "$T/petreld.out"
ok $? "a broken petrel.conf is refused with file, line and key"
is "$(grep -c 'reload: starting' "$T/petreld.out")" "$n" "and nothing was restarted"
send 5 && wait_for 20 arrived 5
ok $? "mail still flows"
like "$(banner)" "^220 two.petrel.test " "with the running configuration"
"$PETRELD" -n -f "$C" >"$T/n.out" 2>&1
grep -q "$C:$line: \[queued\] max_retry_interval = soon" "$T/n.out"
ok $? "petreld -n reports the same error"
sed -i "/^max_retry_interval = soon/d" "$C"

# --- under load: 500 messages, several reloads, each message once ---------
N=500
"$PY" "$SRCDIR/t/integration/loadclient.py" 127.0.0.1 "$PORT" "$N" 4 "$T" rl \
    >"$T/load.out" 2>&1 &
LOAD_PID=$!; track $LOAD_PID
hups=0 good=0 refused=0
while kill -0 "$LOAD_PID" 2>/dev/null && [ $hups -lt 6 ]; do
	hups=$((hups + 1))
	case $hups in
	3)	# a broken one in between
		sed -i "s|^\[queued\]|[queued]\nmax_age = forever|" "$C"
		kill -HUP "$PETREL_PID"
		wait_for 10 grep -q "reload: $C:[0-9]*: \[queued\] max_age = forever" \
		    "$T/petreld.out" && refused=$((refused + 1))
		sed -i "/^max_age = forever/d" "$C"
		continue ;;
	*)	setkey hostname "h$hups.petrel.test"
		sed -i "s|^retry_interval = .*|retry_interval = ${hups}s|" "$C" ;;
	esac
	hup && good=$((good + 1))
done
wait "$LOAD_PID"; untrack $LOAD_PID
diag "client: $(cat "$T/load.out"); $hups reloads while it ran"
ok $([ "$good" -ge 3 ] && [ "$refused" = 1 ]; echo $?) \
    "several reloads with changed config finished during the load, a broken one was refused ($good good, $refused refused)"
is "$(wc -l <"$T/unk")" 0 "no session lost its reply after the dot"
# what a restarting smtp server told an idle client 421 is sent again, as
# a client MTA would
while read -r mid; do
	id=${mid#<}; id=${id%@test>}
	"$PY" "$SRCDIR/t/integration/sendmsg.py" 127.0.0.1 "$PORT" a@example.org \
	    sink@example.net "$id" >/dev/null 2>&1 || echo "$mid" >>"$T/unsent"
done <"$T/nak"
diag "$(wc -l <"$T/nak") refused with 421 by a restarting smtp server or 451 by a stopping queue manager, sent again"
is "$(grep -c 'event=TransientFailure .*delivery agent stopped' "$T/petreld.out")" 0 \
    "a reload defers nothing: what a stopping deliverd had not answered goes again, untried"
is "$(cat "$T/unsent" 2>/dev/null | wc -l)" 0 "every message was accepted"
ids() { cat "$T"/sink/*.eml | sed -n 's/^Message-ID: <\(rl-[0-9]*\)@test>\r*$/\1/p'; }
wait_for 60 sh -c "[ \$(cat '$T'/sink/*.eml | grep -c '^Message-ID: <rl-') -ge $N ]"
ok $? "all $N messages reached the sink"
is "$(ids | sort -u | wc -l)" "$N" "each of the $N Message-IDs arrived"
is "$(ids | sort | uniq -d | wc -l)" 0 "none arrived twice"
like "$(banner)" "^220 h[0-9].petrel.test " "the last good reload's hostname is in force"
