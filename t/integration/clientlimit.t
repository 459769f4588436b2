#!/bin/bash
# max_sessions_per_client and max_sessions_total hold across the smtpd
# workers (separate processes sharing one table petreld made): a
# client's sessions on two workers add up, the one past the limit gets
# 421 4.7.0 (past the total: 421 4.3.2), other clients still get in, a
# refusal is logged once per period rather than once per connection, a
# session that ends frees its place, and a worker killed with its
# sessions leaves no count behind once it is restarted.
. "$(dirname "$0")/lib.sh"
command -v ss >/dev/null || skip_all "ss (iproute2) not installed"
plan 13

# 127.0.0.1 must not relay: relay_from is exempt from the per-client limit
RELAY_FROM=127.0.0.9/32 SYSLOG_SOCKET= WORKERS=2 write_conf "max_sessions_per_client = 6
max_sessions_total = 10"
start_petrel; ok $? "petreld is up with two smtpd workers"
set -- $(petrel_children | sed -n 's/ smtpd$//p' | sort -n)
A=$1 B=$2

hold() {	# hold NAME SRC N: N sessions from SRC, first replies in $T/NAME.out
	"$PY" "$SRCDIR/t/integration/hold.py" "$PORT" "$2" "$3" "$T" "$1" &
	track $!
	eval "HOLD_$1=$!"
	wait_for 30 test -e "$T/$1.out"
}
release() {	# release NAME: its sessions end; wait until the server saw it
	local p
	touch "$T/$1.go"
	eval "p=\$HOLD_$1"
	wait "$p" 2>/dev/null
	sleep 0.5
}
replies() {	# replies NAME: "220 x3", "421 4.7.0 x8"
	awk '{ print $1 == "220" ? "220" : $1 " " $2 }' "$T/$1.out" | sort |
	    uniq -c | awk '{ $0 = $0; n = $1; $1 = ""; printf "%s%s x%s", s, substr($0, 2), n; s = ", " }'
}
owned() {	# owned PID: established sessions on $PORT that PID holds
	ss -Htnp state established "( sport = :$PORT )" | grep -c "pid=$1,"
}

# three sessions land on each worker: the other one is stopped meanwhile
kill -STOP "$B"; hold a1 127.0.0.1 3; kill -CONT "$B"
kill -STOP "$A"; hold b1 127.0.0.1 3; kill -CONT "$A"
is "$(replies a1)/$(replies b1)" "220 x3/220 x3" "six sessions from 127.0.0.1 let in"
is "$(owned "$A")/$(owned "$B")" "3/3" "three on each worker"

hold x1 127.0.0.1 1
like "$(cat "$T/x1.out")" '^421 4\.7\.0 .*too many connections' \
    "the seventh from 127.0.0.1 gets 421 4.7.0 (across workers)"
hold c1 127.0.0.2 1
like "$(cat "$T/c1.out")" '^220 ' "127.0.0.2 still gets in"

# a client hammering the limit: each refused, the log says it once
hold x3 127.0.0.1 8
is "$(replies x3)" "421 4.7.0 x8" "eight more from 127.0.0.1 all refused"
n=$(grep -c 'max_sessions_per_client 6' "$T/petreld.out")
ok $([ "$n" -ge 1 ] && [ "$n" -le 2 ]; echo $?) \
    "nine refusals logged once per worker at most ($n lines)"

# 7 sessions open; 3 more reach max_sessions_total = 10
hold d1 127.0.0.3 3
is "$(replies d1)" "220 x3" "three from 127.0.0.3 bring the total to 10"
hold x2 127.0.0.4 1
like "$(cat "$T/x2.out")" '^421 4\.3\.2 ' "the eleventh session in all gets 421 4.3.2"


# sessions that end free their places
release d1; release c1; release a1
hold a2 127.0.0.1 3
is "$(replies a2)" "220 x3" "three places freed for 127.0.0.1"
release a2

# worker B dies with its three sessions from 127.0.0.1; its successor
# starts from zero, so all six places are free again
kill -KILL "$B"
wait_for 20 sh -c "[ \$(cat /proc/$PETREL_PID/task/*/children | wc -w) -ge 5 ] &&
    ! kill -0 $B 2>/dev/null"
wait_for 20 banner_ok
release b1
set -- $(petrel_children | sed -n 's/ smtpd$//p' | sort -n)
ok $([ "$#" = 2 ] && [ "$1" != "$B" ] && [ "$2" != "$B" ]; echo $?) \
    "the killed worker was restarted"
hold e1 127.0.0.1 6
is "$(replies e1)" "220 x6" "after the crash 127.0.0.1 has all six places"
hold x4 127.0.0.1 1
like "$(cat "$T/x4.out")" '^421 4\.7\.0 ' "and not a seventh"
release e1
