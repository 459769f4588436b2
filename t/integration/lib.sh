# t/integration/lib.sh - shared by the integration tests: TAP output,
# a private rsyslogd, petreld with a generated config, and cleanup of
# everything started (by pid, never by name).
#
# Sourced by each t/integration/*.t; needs PETRELD and SRCDIR (t/run
# sets them).

set -u
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
: "${SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${PETRELD:=$SRCDIR/master/petreld}"
T=$(mktemp -d /tmp/petrel-test.XXXXXX)
chmod 755 "$T"
_tap_n=0
_tap_fail=0
_pids=""

plan() { echo "1..$1"; }
ok() {		# ok COND-EXIT-STATUS DESCRIPTION
	_tap_n=$((_tap_n + 1))
	if [ "$1" = 0 ]; then echo "ok $_tap_n - $2"
	else echo "not ok $_tap_n - $2"; _tap_fail=$((_tap_fail + 1)); fi
}
is() {		# is GOT WANT DESCRIPTION
	if [ "$1" = "$2" ]; then ok 0 "$3"
	else ok 1 "$3"; echo "#   got:  '$1'"; echo "#   want: '$2'"; fi
}
like() {	# like GOT REGEX DESCRIPTION
	if printf '%s' "$1" | grep -Eq -- "$2"; then ok 0 "$3"
	else ok 1 "$3"; echo "#   got:  '$1'"; echo "#   want: /$2/"; fi
}
skip_all() { echo "1..0 # SKIP $1"; exit 0; }
diag() { echo "# $*"; }

cleanup() {
	# a sanitizer report from any daemon fails the test
	if grep -qs 'ERROR: AddressSanitizer\|runtime error:\|ERROR: LeakSanitizer' \
	    "$T"/*.out "$T"/*/*.out 2>/dev/null; then
		echo "not ok - sanitizer report in $(grep -ls 'Sanitizer\|runtime error:' "$T"/*.out "$T"/*/*.out | head -n 1)"
		_tap_fail=$((_tap_fail + 1))
	fi
	for p in $_pids; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $_pids; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
	done
	if [ "$_tap_fail" = 0 ] && [ -z "${KEEP:-}" ]; then
		rm -rf "$T"
	else
		echo "# test files kept in $T"
	fi
}
trap cleanup EXIT

track() { _pids="$_pids $1"; }
untrack() { _pids=$(echo "$_pids" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' '); }

# wait_for SECONDS COMMAND...: poll (every 50 ms) until COMMAND succeeds
wait_for() {
	_limit=$(( $1 * 20 )); shift
	_i=0
	while [ $_i -lt $_limit ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port_open() {	# port_open HOST PORT
	"$PY" -c 'import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()' "$1" "$2"
}

# A private rsyslogd on $T/log.sock writing mail.* to $T/maillog, and
# every line of any facility to $T/syslog.tagged as "FACILITY PROGRAM
# TAG MESSAGE" (PROGRAM with its slash: petrel/queued).
start_syslog() {
	command -v rsyslogd >/dev/null || return 1
	cat >"$T/rsyslog.conf" <<RS
global(parser.permitSlashInProgramname="on")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="$T/log.sock" CreatePath="on")
\$WorkDirectory $T
template(name="tagged" type="string"
    string="%syslogfacility-text% %programname% %syslogtag%%msg%\n")
mail.*	$T/maillog
*.*	action(type="omfile" file="$T/syslog.tagged" template="tagged")
RS
	: >"$T/maillog"
	rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rsyslog.pid" >"$T/rsyslog.out" 2>&1 &
	SYSLOG_PID=$!
	track $SYSLOG_PID
	wait_for 10 test -S "$T/log.sock"
}

# write_conf [EXTRA-SMTPD-LINES]: $T/petrel.conf for a test instance on $PORT.
# Unless RELAYHOST says otherwise, mail is relayed to a closed port and
# stays queued (deferred); RESOLVER defaults to a dead loopback address so
# no DNS query ever leaves the machine.  QUEUED_EXTRA and DELIVERD_EXTRA
# add lines to those sections.  POLICY is the Lua policy file (default:
# none, whatever /etc/petrel holds).
write_conf() {
	PORT=${PORT:-$(free_port)}
	cat >"$T/petrel.conf" <<CONF
[global]
hostname = petrel.test
spool_dir = $T/spool
run_dir = $T/run
privsep = ${PRIVSEP:-no}
syslog_socket = ${SYSLOG_SOCKET-$T/log.sock}
policy = ${POLICY:-}

[smtpd]
listen = 127.0.0.1:$PORT
workers = ${WORKERS:-2}
relay_from = ${RELAY_FROM:-127.0.0.0/8, ::1}
chroot = $T/empty
${1:-}

[queued]
relayhost = ${RELAYHOST-[127.0.0.1]:1}
${QUEUED_EXTRA:-}

[deliverd]
chroot = $T/empty
resolver = ${RESOLVER:-127.0.0.1:9}
${DELIVERD_EXTRA:-}
CONF
}

# start_petrel: petreld -d in the background; waits for a banner.  It runs
# with the 1024 open files systemd gives a service (NOFILE overrides), both
# soft and hard, so a descriptor leak or an unbounded pool shows here.
# PETREL_WRAP is a command to run it under (strace).
start_petrel() {
	({ if [ -n "${NOFILE:-}" ]; then ulimit -n "$NOFILE"; else ulimit -n 1024; fi; } &&
	    exec ${PETREL_WRAP:-} "$PETRELD" -d ${VERBOSE:+-v} -f "$T/petrel.conf") \
	    >>"$T/petreld.out" 2>&1 &
	PETREL_PID=$!
	track $PETREL_PID
	wait_for 20 banner_ok
}
banner_ok() {
	"$PY" - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
s.settimeout(2)
ok = s.recv(512).startswith(b"220 ")
s.sendall(b"QUIT\r\n")
s.close()
sys.exit(0 if ok else 1)
PY
}
stop_petrel() {
	kill -TERM "$PETREL_PID" 2>/dev/null
	wait_for 20 sh -c "! kill -0 $PETREL_PID 2>/dev/null"
	_rc=$?
	wait "$PETREL_PID" 2>/dev/null
	PETREL_RC=$?
	untrack $PETREL_PID
	return $_rc
}

# children of petreld: "PID NAME" per line (NAME: queued, smtpd[N]),
# told apart by the process titles they set
# make_users: as root, the users privsep = yes runs the children as
make_users() {
	local u
	for u in _petrel-smtpd _petrel-queued _petrel-deliverd _petrel-keysd; do
		id "$u" >/dev/null 2>&1 ||
		    useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin "$u" || return 1
	done
}

petrel_children() {
	for c in $(cat /proc/"$PETREL_PID"/task/*/children 2>/dev/null); do
		case "$(tr '\0' ' ' </proc/"$c"/cmdline 2>/dev/null)" in
		*"queue manager"*) echo "$c queued" ;;
		*"smtp server "*) echo "$c smtpd" ;;
		*"smtp client "*) echo "$c deliverd" ;;
		*"key server"*) echo "$c keysd" ;;
		esac
	done
}

# start_dnsmasq PORT RECORD-OPTIONS...: a private dnsmasq on 127.0.0.1:PORT
# answering only from its options; NXDOMAIN (not REFUSED) for unknown names
# under .test, .com and .net.  Waits until it listens.
start_dnsmasq() {
	local port=$1; shift
	dnsmasq --no-daemon --port "$port" --listen-address=127.0.0.1 \
	    --bind-interfaces --no-resolv --no-hosts --local=/test/com/net/ \
	    --pid-file="$T/dnsmasq.pid" "$@" >"$T/dnsmasq.out" 2>&1 &
	track $!
	wait_for 10 sh -c "ss -Hlun 'sport = :$port' | grep -q ."
}

# kill_children_while PID REGEX: while PID lives, every 0-0.19 s kill -9 a
# random child of petreld whose name matches REGEX (each kind equally
# often).  Sets KILLS (total)
# and KILLED (the names, one per kill).
kill_children_while() {
	local pid=$1 re=$2 kids kinds kind victim
	KILLS=0 KILLED=""
	while kill -0 "$pid" 2>/dev/null; do
		sleep "0.$(( RANDOM % 2 ))$(( RANDOM % 10 ))"
		# a random kind first, then a random process of that kind, so
		# one queued among many smtpd workers is hit as often as they
		mapfile -t kinds < <(petrel_children | grep -E " ($re)\$" |
		    cut -d' ' -f2 | sort -u)
		[ ${#kinds[@]} -gt 0 ] || continue
		kind=${kinds[RANDOM % ${#kinds[@]}]}
		mapfile -t kids < <(petrel_children | grep " $kind\$")
		[ ${#kids[@]} -gt 0 ] || continue
		victim=${kids[RANDOM % ${#kids[@]}]}
		# a zombie would take the signal without dying again
		grep -q '^State:.*Z' /proc/"${victim%% *}"/status 2>/dev/null &&
		    continue
		kill -KILL "${victim%% *}" 2>/dev/null || continue
		KILLS=$((KILLS + 1))
		KILLED="$KILLED ${victim#* }"
	done
}
killed() { echo "$KILLED" | tr ' ' '\n' | grep -c "^$1\$"; }

# run_sink [ADDRESS]: t/integration/sink.py (aiosmtpd) on ADDRESS
# (127.0.0.6) and a free port SP, writing to $T/sink; waits until it listens.
run_sink() {
	SP=$(free_port)
	mkdir -p "$T/sink"
	"$PY" "$SRCDIR/t/integration/sink.py" "${1:-127.0.0.6}" "$SP" "$T/sink" \
	    >"$T/sink.out" 2>&1 &
	track $!
	wait_for 20 test -e "$T/sink/ready"
}

# chat LINES...: an SMTP dialogue, one reply per line sent (banner first)
chat() { "$PY" "$SRCDIR/t/integration/smtpchat.py" 127.0.0.1 "$PORT" "$@"; }

spool_count() { find "$T/spool/queue" -name '*.msg' 2>/dev/null | wc -l; }
# spool_envelope ID: a queued message's envelope: its .env if it has one,
# else the one at the end of its .msg (the trailer says how long it is)
spool_envelope() {
	local f="$T/spool/queue/${1:0:2}/$1" t
	if [ -f "$f.env" ]; then cat "$f.env"; return; fi
	t=$(tail -c 38 "$f.msg" 2>/dev/null) || return 1
	case $t in "petrel-tail "*) ;; *) return 1 ;; esac
	set -- $t
	tail -c $((0x$3 + 38)) "$f.msg" | head -c $((0x$3))
}
