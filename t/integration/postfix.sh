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
# SMTP AUTH (Cyrus SASL, sasldb), after postfix_init:
#   postfix_sasl USER PASS [MECHS] [TLS_AUTH_ONLY]
#                                  USER/PASS in $T/postfix/sasldb2; AUTH
#                                  offered with MECHS ("PLAIN LOGIN") and,
#                                  unless TLS_AUTH_ONLY is "no", only after
#                                  STARTTLS; only authenticated mail is
#                                  relayed (permit_sasl_authenticated,
#                                  reject); the Received header names the
#                                  user.  The TLS certificate is the
#                                  caller's (postfix_set smtpd_tls_*).
#   postfix_sasl_user USER PASS    one more user
#   postfix_sasl_conf NAME MECHS   another Cyrus config, sasl/NAME.conf, for
#                                  a listener with -o smtpd_sasl_path=NAME
#                                  (e.g. a LOGIN-only relay next to others)
#   pf_auth_failed [MECH]          how many AUTHs failed so far (logged at
#                                  once: "SASL MECH authentication failed")
#   pf_sasl_logins [USER]          how many messages Postfix took from a
#                                  client logged in (as USER): its
#                                  "client=..., sasl_method=M,
#                                  sasl_username=U" lines, one a message
#   pf_auth_attempts               AUTH commands in finished sessions, from
#                                  the "disconnect from ... auth=N/M" lines
#                                  (successes N of M; "auth=N" is N of N)
#   pf_auth_ok                     successful AUTHs, likewise
#   PFL=NAME pf_...                any counter, for one listener only: the
#                                  one with -o syslog_name=postfix/NAME
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

# postfix_sasl USER PASS [MECHS] [TLS_AUTH_ONLY]
# (smtpd_sasl_local_domain stays empty, so the user logs in as "scott" and
# is logged so; Cyrus looks it up in the realm of myhostname)
PF_SASL_REALM=postfix.test
postfix_sasl() {
	command -v saslpasswd2 >/dev/null || return 1
	postfix_sasl_conf smtpd "${3:-PLAIN LOGIN}" &&
	postfix_sasl_user "$1" "$2" &&
	postfix_set "smtpd_sasl_auth_enable = yes" \
	    "smtpd_tls_auth_only = ${4:-yes}" \
	    "smtpd_sasl_authenticated_header = yes" \
	    "smtpd_relay_restrictions = permit_sasl_authenticated, reject"
}

# postfix_sasl_user USER PASS: the password goes on stdin, never argv
postfix_sasl_user() {
	printf '%s' "$2" | saslpasswd2 -p -f "$PFD/sasldb2" -c \
	    -u "$PF_SASL_REALM" "$1" || return 1
	chown postfix "$PFD/sasldb2" && chmod 600 "$PFD/sasldb2"
}

# postfix_sasl_conf NAME MECHS
postfix_sasl_conf() {
	mkdir -p "$PFD/etc/sasl"
	cat >"$PFD/etc/sasl/$1.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: $2
sasldb_path: $PFD/sasldb2
EOF
}

# the maillog, or with PFL=NAME only the lines of listener NAME
_pf_log() {
	if [ -n "${PFL:-}" ]; then
		grep -F " postfix/$PFL/" "$PFD/maillog" 2>/dev/null
	else
		cat "$PFD/maillog" 2>/dev/null
	fi
}
pf_auth_failed() {
	_pf_log | grep -c "SASL ${1:-[A-Z0-9-]*} authentication failed"
}
pf_sasl_logins() {
	_pf_log | grep -c "client=.*, sasl_method=[A-Z0-9-]*, sasl_username=${1:-[^ ,]*}\$"
}
# the auth= counts of every finished session: "OK TOTAL" a line
_pf_auth_counts() {
	_pf_log | sed -n 's/.* disconnect from .* auth=\([0-9]*\)\(\/\([0-9]*\)\)\{0,1\} .*/\1 \3/p' |
	    awk '{ print $1, ($2 == "" ? $1 : $2) }'
}
pf_auth_attempts() { _pf_auth_counts | awk '{ n += $2 } END { print n + 0 }'; }
pf_auth_ok() { _pf_auth_counts | awk '{ n += $1 } END { print n + 0 }'; }
