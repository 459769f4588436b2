# t/integration/badpeer.sh - sourced by deliverd's tests after lib.sh:
# start_peer runs badpeer.py (an SMTP server that misbehaves as told) on
# port $BP of one or more loopback addresses.

BP=$(free_port)

# start_peer ADDR[,ADDR...] MODE [NAME]: its files are in $T/peer-NAME
# (NAME defaults to MODE); waits until it listens.
start_peer() {
	local d=$T/peer-${3:-$2}
	mkdir -p "$d"
	"$PY" "$SRCDIR/t/integration/badpeer.py" "$1" "$BP" "$d" "$2" \
	    >"$d.out" 2>&1 &
	track $!
	wait_for 20 test -e "$d/ready"
}

# sendmsg FROM TO[,TO] MSGID [SIZE] [OPTION...]: one message into petrel
sendmsg() {
	"$PY" "$SRCDIR/t/integration/sendmsg.py" 127.0.0.1 "$PORT" "$@" \
	    >>"$T/send.out" 2>&1
}
