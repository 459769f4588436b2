#!/bin/bash
# petrelctl against a running petrel with queued mail (issue 10):
# status; suspend holds delivery to a domain and resume releases it;
# queue-summary and inspect (attempts, last response, --body) show the
# queue; bounce returns a message to its sender with a DSN; retry
# delivers a deferred message now, not at its next retry an hour away;
# trace streams the SMTP client dialogue of a relay that demands
# STARTTLS + AUTH, with AUTH masked and no message text; resolve shows the
# egress path with the password as a keysource description; stats (and
# --prometheus), keys flush and reload.  Every --json answer parses.
# Exit codes 0, 1 (not found), 2 (usage), 3 (unreachable); a user who
# is neither root nor in the petrel group is refused; garbage on the
# socket is refused and petrel goes on.  The password is in no answer
# and no log line.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/badpeer.sh"
. "$(dirname "$0")/postfix.sh"
: "${PETRELCTL:=$SRCDIR/build/dev/ctl/petrelctl}"
[ -x "$PETRELCTL" ] || skip_all "no petrelctl at $PETRELCTL"
command -v openssl >/dev/null || skip_all "openssl not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 56

SECRET=tiger-sekrit-4711
# sinks: 127.0.0.6 (sink.test, back.test), 127.0.0.9 (hold.test,
# bounce.test), 127.0.0.8 (r.test: down until the retry); the AUTH relay
# on 127.0.0.7 (auth.test)
run_sink 127.0.0.6; ok $? "the sink is up"
HP=$(free_port) RP=$(free_port) AP=$(free_port)
mkdir -p "$T/hold" "$T/late"
"$PY" "$SRCDIR/t/integration/sink.py" 127.0.0.9 "$HP" "$T/hold" >"$T/hold.out" 2>&1 &
track $!
wait_for 20 test -e "$T/hold/ready"; ok $? "the second sink is up"
make_ca ctlca && make_cert ctlca relay "IP:127.0.0.7"
mkdir -p "$T/relay"
AUTHRELAY_PASSWORD=$SECRET "$PY" -u "$SRCDIR/t/integration/authrelay.py" \
    --listen "127.0.0.7:$AP" --cert "$T/relay.crt" --key "$T/relay.key" \
    --user scott --dir "$T/relay" >"$T/relay.out" 2>&1 &
track $!
wait_for 20 test -e "$T/relay/ready"; ok $? "the AUTH relay is up (STARTTLS + AUTH)"

cat >"$T/policy.lua" <<LUA
local routes = {
  ['sink.test'] = '[127.0.0.6]:$SP', ['back.test'] = '[127.0.0.6]:$SP',
  ['hold.test'] = '[127.0.0.9]:$HP', ['bounce.test'] = '[127.0.0.9]:$HP',
  ['r.test'] = '[127.0.0.8]:$RP', ['auth.test'] = '[127.0.0.7]:$AP',
}
kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  return kumo.make_queue_config { routing_domain = routes[domain] or routing_domain,
    retry_interval = '1h' }
end)
kumo.on('get_egress_path_config', function(domain, site_name)
  if site_name:sub(1, 10) == '127.0.0.7:' then
    return kumo.make_egress_path { enable_tls = 'RequiredInsecure',
      allow_smtp_auth_plain_without_valid_certificate = true,
      smtp_auth_plain_username = 'scott',
      smtp_auth_plain_password = { key_data = '$SECRET' } }
  end
  return kumo.make_egress_path { }
end)
LUA
POLICY=$T/policy.lua RELAYHOST= SYSLOG_SOCKET= write_conf
start_petrel; ok $? "petreld is up"
SOCK=$T/run/control.sock
ctl() { "$PETRELCTL" -f "$T/petrel.conf" "$@"; }
# jget FILE EXPR: a Python expression over the JSON document j in FILE
jget() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
qid() {	# qid RCPT: the queue id of the last message for RCPT
	grep -a "event=Reception .*rcpt=<$1>" "$T/petreld.out" | tail -n 1 |
	    sed 's/.*id=\([^ ]*\) event=Reception.*/\1/'
}
logged_() { grep -aEq -- "$1" "$T/petreld.out"; }
arrived_in() { grep -lqs "^Message-ID: <$2@test>" "$1"/*.eml; }

# --- status ---------------------------------------------------------------
ctl --json status >"$T/status.json"
ok $? "status: exit 0"
is "$(jget "$T/status.json" "' '.join(sorted(set(p['process'] for p in j['processes'] if p['pid'] > 0)))")" \
    "deliverd keysd petreld queued smtpd" "status --json: every process with a pid"
like "$(ctl status)" 'queued +0 +[0-9]+ ' "status as text: a table of processes"

# --- suspend / resume -----------------------------------------------------------
ctl suspend hold.test >/dev/null; ok $? "suspend hold.test: exit 0"
sendmsg s@back.test u1@hold.test hold1 && sendmsg s@back.test u2@hold.test hold2
ok $? "two messages for hold.test accepted"
wait_for 10 sh -c "grep -ac 'event=Reception .*@hold.test>' $T/petreld.out | grep -qx 2"
ctl retry hold.test >/dev/null	# due now: held again, not sent
sendmsg s@back.test u@sink.test barrier1
wait_for 20 arrived_in "$T/sink" barrier1
ok $? "mail for other domains flows meanwhile"
ok $(! ls "$T/hold"/*.eml >/dev/null 2>&1; echo $?) "nothing reached hold.test's next hop while suspended"
ok $(! logged_ "event=TransientFailure .*@hold.test"; echo $?) "held, not failed: no TransientFailure"
ctl --json queue-summary >"$T/summary.json"; ok $? "queue-summary: exit 0"
is "$(jget "$T/summary.json" "[(d['messages'], d['suspended']) for d in j['domains'] if d['domain'] == '[127.0.0.9]:$HP']")" \
    "[(2, True)]" "queue-summary --json: 2 messages for hold.test's routing domain, suspended"
is "$(jget "$T/summary.json" "[s['domain'] for s in j['suspensions']]")" "['hold.test']" \
    "and the suspension itself"
like "$(ctl queue-summary)" "\[127\.0\.0\.9\]:$HP +2 +2 " "queue-summary as text"

H1=$(qid u1@hold.test)
ctl --json inspect "$H1" >"$T/inspect.json"; ok $? "inspect $H1: exit 0"
is "$(jget "$T/inspect.json" "(j['from'], [r['address'] for r in j['recipients']], [r['state'] for r in j['recipients']], j['attempts'])")" \
    "('s@back.test', ['u1@hold.test'], ['pending'], 0)" "inspect --json: sender, recipient, pending, no attempt"
ctl inspect "$H1" --body >"$T/body.out"
like "$(cat "$T/body.out")" 'Message-ID: <hold1@test>' "inspect --body shows the text"
ok $(grep -qE 'petrel-(envelope|tail)' "$T/body.out"; echo $((1 - $?))) \
    "and not the envelope that follows it in the spool file"
ctl inspect 0000000000000000000000000 >/dev/null 2>&1
is $? 1 "inspect of an unknown id: exit 1"

ctl resume hold.test >/dev/null; ok $? "resume hold.test: exit 0"
wait_for 20 sh -c "ls $T/hold/*.eml 2>/dev/null | wc -l | grep -qx 2"
ok $? "resumed: both messages delivered"
ctl resume hold.test >/dev/null 2>&1
is $? 1 "resume of a domain not suspended: exit 1"

# --- bounce ---------------------------------------------------------------------
ctl suspend bounce.test --duration 1h >/dev/null
sendmsg s@back.test u@bounce.test bounce1
wait_for 10 logged_ "event=Reception .*rcpt=<u@bounce.test>"
B=$(qid u@bounce.test)
ctl bounce "$B" --reason "test is over" >/dev/null; ok $? "bounce $B: exit 0"
dsn() { grep -ls "operator returned it" "$T/sink"/*.eml | xargs -r grep -lqs "operator: test is"; }
wait_for 20 dsn; ok $? "the DSN reached the sender (s@back.test), with the reason"
ok $(logged_ "id=$B event=Bounce .*operator_uid=$(id -u)"; echo $?) "the Bounce line names the operator's uid"
ctl inspect "$B" >/dev/null 2>&1
is $? 1 "the bounced message is gone from the queue"

# --- retry ---------------------------------------------------------------------
sendmsg s@back.test u@r.test late1
wait_for 20 logged_ "event=TransientFailure .*rcpt=<u@r.test>"
ok $? "r.test's next hop is down: deferred (next retry in an hour)"
R=$(qid u@r.test)
ctl --json inspect "$R" >"$T/inspect2.json"
is "$(jget "$T/inspect2.json" "(j['attempts'], bool(j['last_response']))")" "(1, True)" \
    "inspect shows the attempt and its response"
"$PY" "$SRCDIR/t/integration/sink.py" 127.0.0.8 "$RP" "$T/late" >"$T/late.out" 2>&1 &
track $!
wait_for 20 test -e "$T/late/ready"
ctl retry "$R" >/dev/null; ok $? "retry $R: exit 0"
wait_for 15 arrived_in "$T/late" late1; ok $? "delivered now, not in an hour"

# --- trace ---------------------------------------------------------------------
"$PETRELCTL" -f "$T/petrel.conf" trace "[127.0.0.7]:$AP" >"$T/trace.out" 2>&1 &
TRACE=$!
track $TRACE
wait_for 10 logged_ "control: uid [0-9]+ traces \[127.0.0.7\]:$AP"
sendmsg s@back.test u@auth.test traced1
wait_for 20 grep -q 'authenticated as scott' "$T/relay.out"
ok $? "the message reached the AUTH relay as scott"
wait_for 10 grep -q 'message text' "$T/trace.out"
kill "$TRACE" 2>/dev/null; wait "$TRACE" 2>/dev/null; untrack $TRACE
wait_for 10 logged_ "control: uid [0-9]+'s trace ended"
ok $? "petrelctl interrupted: the trace ends"
like "$(cat "$T/trace.out")" 'AUTH PLAIN \*\*\*\*' "trace shows AUTH PLAIN ****"
like "$(cat "$T/trace.out")" 'STARTTLS' "and the dialogue around it"
ok $(! grep -q "$SECRET" "$T/trace.out" && ! grep -q "$(printf '\0scott\0%s' "$SECRET" | base64)" "$T/trace.out"; echo $?) \
    "the password is not in the trace, plain or in base64"
ok $(! grep -q 'Message-ID: <traced1@test>' "$T/trace.out"; echo $?) "nor the message text"

# --- resolve -----------------------------------------------------------------
ctl --json resolve auth.test >"$T/resolve.json"; ok $? "resolve auth.test: exit 0"
is "$(jget "$T/resolve.json" "(j['queue']['routing_domain'], j['site'], j['egress']['smtp_auth_plain_username'], j['egress']['smtp_auth_plain_password'])")" \
    "('[127.0.0.7]:$AP', '127.0.0.7:$AP', 'scott', '<keysource key_data>')" \
    "resolve --json: routing domain, site, user, the password as a keysource description"
like "$(ctl resolve auth.test)" 'smtp_auth_plain_password +<keysource key_data>' "resolve as text"

# --- stats, keys flush, reload ---------------------------------------------
ctl --json stats >"$T/stats.json"; ok $? "stats: exit 0"
is "$(jget "$T/stats.json" "(j['queued']['received'] >= 6, j['queued']['delivered'] >= 5, j['queued']['bounced'] + j['queued']['deferred'] >= 1, 'cache_hits' in j['keysd'])")" \
    "(True, True, True, True)" "stats --json: received, delivered, deferred, keysd's cache"
like "$(ctl stats --prometheus)" $'petrel_received_total [0-9]+\n' "stats --prometheus: the text format"
ctl keys flush >/dev/null; ok $? "keys flush: exit 0"
wait_for 10 logged_ "keys flushed"; ok $? "keysd flushed its cache"
ndone=$(grep -ac "reload: done" "$T/petreld.out")
ctl reload >/dev/null; ok $? "reload: exit 0"
# every process runs the new configuration: queued's socket is new
wait_for 60 sh -c "[ \$(grep -ac 'reload: done' '$T/petreld.out') -gt $ndone ]"
wait_for 30 sh -c "'$PETRELCTL' -f '$T/petrel.conf' status >/dev/null 2>&1"
ok $? "after the reload petrelctl reaches petrel again"

cp "$T/petrel.conf" "$T/petrel.conf.good"
sed -i 's|^\[queued\]|[queued]\nbogus_key = 1|' "$T/petrel.conf"
ctl reload >/dev/null 2>"$T/reload.err"
is "$?" 1 "reload of a broken petrel.conf: refused, exit 1"
like "$(cat "$T/reload.err")" 'petrel.conf:[0-9]+: .*bogus_key' "and petrelctl says file, line and key"
cp "$T/petrel.conf.good" "$T/petrel.conf"

# --- usage, access, garbage ---------------------------------------------------
ctl frobnicate >/dev/null 2>&1; is $? 2 "an unknown command: exit 2"
"$PETRELCTL" -s "$T/nonexistent.sock" status >/dev/null 2>&1; is $? 3 "no petrel at the socket: exit 3"
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && ! id -nG nobody | grep -qw petrel; then
	chmod 711 "$T" "$T/run" 2>/dev/null
	runuser -u nobody -- "$PETRELCTL" -s "$SOCK" status >/dev/null 2>&1
	is $? 3 "nobody (not root, not in the petrel group) is refused"
else
	ok 0 "# SKIP not root, or nobody is in the petrel group"
fi
"$PY" - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"\xff" * 64 + b"garbage\r\n" * 10)
s.settimeout(5)
try:
    s.recv(100)
except OSError:
    pass
PY
ctl status >/dev/null; ok $? "garbage on the socket is refused and petrel goes on"

ok $(! grep -rqs "$SECRET" "$T/petreld.out" "$T"/*.json "$T/trace.out" "$T/spool"; echo $?) \
    "the password is in no log line, answer or spool file"
stop_petrel; ok $? "petreld stops"
