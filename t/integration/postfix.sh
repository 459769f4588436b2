# t/integration/postfix.sh - sourced after lib.sh: test certificates and
# a private Postfix instance as a next hop for deliverd's tests.
#
#   make_ca NAME                   $T/NAME.crt, $T/NAME.key: a test CA
#   make_cert CA NAME SAN          $T/NAME.crt, $T/NAME.key signed by CA,
#                                  SAN e.g. "DNS:mx.tls.test,IP:127.0.0.30"
#   postfix_init SINK              $T/postfix: config, queue and data
#                                  directories; every message is relayed
#                                  to SINK ("IP:PORT", e.g. run_sink's)
#   postfix_set "KEY = VALUE"...   more main.cf parameters (postconf -e)
#   postfix_listen ADDR:PORT [-o NAME=VALUE]...
#                                  an smtpd listener (master.cf), with its
#                                  own -o overrides (TLS level, wrapper mode,
#                                  SASL, ...)
#   postfix_start                  start it (postfix -c DIR start) and wait
#                                  until every listener answers; the log is
#                                  $T/postfix/maillog
#
# Postfix takes mail from 127.0.0.0/8 for any domain.  Nothing runs
# chrooted; DNS is off.  Cleanup (lib.sh's) stops it by its master's
# pid.  See TESTING-NOTES.md for why each setting is there.

PFD=$T/postfix
_pf_listeners=""

# make_ca NAME
make_ca() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$1" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    -keyout "$T/$1.key" -out "$T/$1.crt" >/dev/null 2>&1
}

# make_cert CA NAME SAN
make_cert() {
	openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$2" \
	    -keyout "$T/$2.key" -out "$T/$2.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName = %s\nextendedKeyUsage = serverAuth\n' "$3" \
	    >"$T/$2.ext" &&
	openssl x509 -req -in "$T/$2.csr" -CA "$T/$1.crt" -CAkey "$T/$1.key" \
	    -CAcreateserial -days 2 -extfile "$T/$2.ext" \
	    -out "$T/$2.crt" >/dev/null 2>&1 &&
	chmod 644 "$T/$2.key"	# postfix reads it as root, python as root
}

# postfix_init SINK
postfix_init() {
	command -v postfix >/dev/null || return 1
	mkdir -p "$PFD/etc" "$PFD/queue" "$PFD/data"
	chown postfix "$PFD/data"
	cat >"$PFD/etc/main.cf" <<EOF
compatibility_level = 3.6
myhostname = postfix.test
mydomain = postfix.test
mydestination =
queue_directory = $PFD/queue
data_directory = $PFD/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
default_transport = smtp:[${1%:*}]:${1##*:}
relay_transport = smtp:[${1%:*}]:${1##*:}
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
maillog_file = $PFD/maillog
maillog_file_prefixes = $T
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
EOF
	cat >"$PFD/etc/master.cf" <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# postfix_set "KEY = VALUE"...
postfix_set() {
	postconf -c "$PFD/etc" -e "$@"
}

# postfix_listen ADDR:PORT [-o NAME=VALUE]...
postfix_listen() {
	local addr=$1; shift
	printf '%s inet n - n - - smtpd %s\n' "$addr" "$*" >>"$PFD/etc/master.cf"
	_pf_listeners="$_pf_listeners $addr"
}

postfix_start() {
	local l
	# postfix check and start talk only to a terminal (script -qc)
	script -qec "postfix -c '$PFD/etc' check" /dev/null >"$PFD/check.out" 2>&1 ||
	    { cat "$PFD/check.out" >&2; return 1; }
	script -qec "postfix -c '$PFD/etc' start" /dev/null >"$PFD/start.out" 2>&1 ||
	    { cat "$PFD/start.out" >&2; return 1; }
	wait_for 20 test -s "$PFD/queue/pid/master.pid" || return 1
	PF_PID=$(tr -d ' \n' <"$PFD/queue/pid/master.pid")
	track "$PF_PID"
	for l in $_pf_listeners; do
		wait_for 20 port_open "${l%:*}" "${l##*:}" || return 1
	done
}

# postfix_stop: postfix -c DIR stop, waiting for the master to go
postfix_stop() {
	script -qec "postfix -c '$PFD/etc' stop" /dev/null >/dev/null 2>&1
	wait_for 20 sh -c "! kill -0 $PF_PID 2>/dev/null"
	untrack "$PF_PID"
}
