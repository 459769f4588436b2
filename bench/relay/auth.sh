# bench/relay/auth.sh -- sourced by bench/relay/run for --auth: the AUTH
# receiver, its ceiling, the systems that relay to it, and the summary.
# Expects WORK (the run's directory), HERE (bench/relay), PETRELD, PY.
#
#   auth_certs             WORK/ca.crt, WORK/recv.crt + .key (SAN
#                          IP:127.0.0.1), WORK/vault.crt + .key (the same)
#   front_start            builds and starts authfront.c (the receiver:
#                          STARTTLS + AUTH demanded, then each session spliced
#                          to smtp-sink at 127.0.0.1:2600), one listener per
#                          system (ports below), and a sampler of its CPU
#   front_stop
#   recv_ceiling           the receiver's own ceiling: a sink of its own on
#                          2600 (before peers-relay.sh starts), authload.py
#                          into the load listener; prints one line
#   vault_start            t/integration/vaultkv.py over HTTPS, the secret
#                          secret/smtp-auth/bench = {key: benchpw}
#   petrel_conf NAME PORT POLICY    WORK/NAME.conf + WORK/NAME.sh
#   pfauth_init NAME PORT RPORT [stock]
#                          "postfix-auth": peers-relay.sh's Postfix relaying
#                          with SASL + TLS (encrypt); WORK/NAME/run.sh runs it
#                          in the foreground (postfix start-fg)
#   auth_summary TOOLWORK ROUND VAULTGETS    a round's AUTH table (stdout)
#   auth_medians           the median of each column over the rounds
#
# Receiver ports: 2610 petrel-auth, 2611 petrel-recv (plain splice, no TLS
# or AUTH), 2612 petrel-auth-vault, 2613 postfix-auth, 2614 the direct
# load, 2615 postfix-auth-stock.  MTA ports: 2507 petrel-recv, 2508
# petrel-auth, 2509 petrel-auth-vault, 2510 postfix-auth, 2520
# postfix-auth-stock (peers-relay.sh has 2501-2504, bench/relay/run 2505
# and 2506, bench/ingress 2511-2519).

AUTH_USER=bench
AUTH_PASS=benchpw
RECV_HOST=recv.bench.test
FRONT_PID=""
SAMPLER_PID=""
VAULT_PID=""

port_free() { [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# wait_listen PORT PID: up to 20 s for PORT, while PID lives
wait_listen() {
	local i
	for ((i = 0; i < 200; i++)); do
		port_free "$1" || return 0
		[ -d "/proc/$2" ] || return 1
		sleep 0.1
	done
	return 1
}

# cert NAME: WORK/NAME.crt + .key, signed by WORK/ca, for 127.0.0.1
auth_cert() {
	openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$RECV_HOST" \
	    -keyout "$WORK/$1.key" -out "$WORK/$1.csr" >/dev/null 2>&1 &&
	printf 'subjectAltName = IP:127.0.0.1,DNS:%s\nextendedKeyUsage = serverAuth\n' \
	    "$RECV_HOST" >"$WORK/$1.ext" &&
	openssl x509 -req -in "$WORK/$1.csr" -CA "$WORK/ca.crt" \
	    -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
	    -extfile "$WORK/$1.ext" -out "$WORK/$1.crt" >/dev/null 2>&1 &&
	chmod 644 "$WORK/$1.crt" && chmod 600 "$WORK/$1.key"
}

auth_certs() {
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bench CA" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    -keyout "$WORK/ca.key" -out "$WORK/ca.crt" >/dev/null 2>&1 &&
	chmod 644 "$WORK/ca.crt" && auth_cert recv && auth_cert vault
}

front_start() {
	local p
	cc -O2 -Wall -o "$WORK/authfront" "$HERE/authfront.c" -lssl -lcrypto \
	    -lpthread || return 1
	( umask 077; printf '%s\n' "$AUTH_PASS" >"$WORK/recv.pass" )
	# appended to (O_APPEND) by the receiver and by auth_summary's marks
	: >"$WORK/front.log"
	for p in 2610 2611 2612 2613 2614 2615; do
		port_free $p || { echo "port $p busy" >&2; return 1; }
	done
	"$WORK/authfront" -c "$WORK/recv.crt" -k "$WORK/recv.key" \
	    -u "$AUTH_USER" -P "$WORK/recv.pass" -s 127.0.0.1:2600 \
	    -h "$RECV_HOST" \
	    -l 127.0.0.1:2610=petrel-auth -l 127.0.0.1:2611=petrel-recv,plain \
	    -l 127.0.0.1:2612=petrel-auth-vault -l 127.0.0.1:2613=postfix-auth \
	    -l 127.0.0.1:2614=load -l 127.0.0.1:2615=postfix-auth-stock \
	    >>"$WORK/front.log" 2>&1 &
	FRONT_PID=$!
	wait_listen 2615 "$FRONT_PID" || { cat "$WORK/front.log" >&2; return 1; }
	# the receiver's CPU (user + system, all threads) every 0.1 s, so each
	# phase's share can be cut out by its start and end times
	"$PY" - "$FRONT_PID" "$WORK/front.cpu" <<'PY' &
import os, sys, time
pid, out = sys.argv[1], open(sys.argv[2], "w", buffering=1)
hz = os.sysconf("SC_CLK_TCK")
while True:
    try:
        with open("/proc/%s/stat" % pid) as f:
            s = f.read()
    except OSError:
        break
    fl = s[s.rindex(")") + 2:].split()
    out.write("%.3f %.2f\n" % (time.time(), (int(fl[11]) + int(fl[12])) / hz))
    time.sleep(0.1)
PY
	SAMPLER_PID=$!
}

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL
stop_pid() {
	local i
	[ -n "$1" ] && [ -d "/proc/$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		[ -d "/proc/$1" ] || break
		sleep 0.1
	done
	[ -d "/proc/$1" ] && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

front_stop() {
	stop_pid "$SAMPLER_PID"; SAMPLER_PID=""
	stop_pid "$FRONT_PID"; FRONT_PID=""
}

# front_cpu: the receiver's CPU seconds now
front_cpu() {
	awk '{ sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' \
	    hz="$(getconf CLK_TCK)" "/proc/$FRONT_PID/stat"
}

# recv_ceiling N C: smtp-sink of its own on 2600, authload.py with C
# connections (2 processes) and N messages into the load listener
recv_ceiling() {
	local n=$1 c=$2 sink s0 s1 f0 f1 k0 k1 out rc
	port_free 2600 || { echo "port 2600 busy" >&2; return 1; }
	smtp-sink -u nobody -c -h sink.bench.test -m 512 127.0.0.1:2600 1024 \
	    >"$WORK/ceiling-sink.out" 2>&1 &
	sink=$!
	wait_listen 2600 "$sink" || { stop_pid "$sink"; return 1; }
	s0=$(head -1 /proc/stat); f0=$(front_cpu)
	k0=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$sink/stat")
	out=$(timeout 300 "$PY" "$HERE/authload.py" --server 127.0.0.1:2614 \
	    --ca "$WORK/ca.crt" --user "$AUTH_USER" --password "$AUTH_PASS" \
	    -c "$c" -p 2 -n "$n" 2>&1); rc=$?
	s1=$(head -1 /proc/stat); f1=$(front_cpu)
	k1=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$sink/stat")
	stop_pid "$sink"
	[ $rc = 0 ] || { echo "authload failed: $out" >&2; return 1; }
	printf '%s\n%s\n' "$s0" "$s1" | awk -v out="$out" -v n="$n" \
	    -v f="$(awk -v a="$f0" -v b="$f1" 'BEGIN { print b - a }')" \
	    -v k="$(( k1 - k0 ))" -v hz="$(getconf CLK_TCK)" '
	    { t = 0; for (i = 2; i <= NF; i++) t += $i; tot[NR] = t; idle[NR] = $5 + $6 }
	    END { sub(/^authload /, "", out)
		  printf "%s recv_cpu_s=%.2f recv_ms_per_msg=%.3f sink_cpu_s=%.2f machine_busy_pct=%.0f\n",
		      out, f, 1000 * f / n, k / hz,
		      100 * (1 - (idle[2] - idle[1]) / (tot[2] - tot[1])) }'
}

VAULT_URL=""
vault_start() {
	local v=$WORK/vault
	mkdir -p "$v"
	( umask 077
	  printf 'hvs.bench-%s\n' "$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" \
	      >"$WORK/vault.token" )
	"$PY" "$ROOT/t/integration/vaultkv.py" --listen 127.0.0.1:0 --dir "$v" \
	    --token-file "$WORK/vault.token" --cert "$WORK/vault.crt" \
	    --key "$WORK/vault.key" >"$v/out" 2>&1 &
	VAULT_PID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		[ -e "$v/ready" ] && break
		[ -d "/proc/$VAULT_PID" ] || break
		sleep 0.1
	done
	[ -e "$v/ready" ] || { cat "$v/out" >&2; return 1; }
	VAULT_URL=https://127.0.0.1:$(cat "$v/port")
	"$PY" "$ROOT/t/integration/vaultkv.py" --ctl "$VAULT_URL" secret \
	    "{\"mount\":\"secret\",\"path\":\"smtp-auth/bench\",\"data\":{\"key\":\"$AUTH_PASS\"}}" \
	    >/dev/null
}

vault_stop() { stop_pid "$VAULT_PID"; VAULT_PID=""; }

# vault_gets: GETs of the secret so far (vaultkv.py logs every request)
vault_gets() {
	grep -c '"path": "/v1/secret/data/smtp-auth/bench"' \
	    "$WORK/vault/requests.jsonl" 2>/dev/null || true
}

# auth_policy FILE RPORT MODE: bench/relay/policy.lua with the receiver's
# port RPORT as the smart host, and by MODE: plain (enable_tls Disabled),
# auth (Required, AUTH PLAIN as bench, key_data) or vault (the same, the
# password from Vault)
auth_policy() {
	local tls=Required
	case $3 in
	plain) tls=Disabled; : >"$1.auth" ;;
	auth) printf "    smtp_auth_plain_username = '%s',\n    smtp_auth_plain_password = { key_data = '%s' },\n" \
	          "$AUTH_USER" "$AUTH_PASS" >"$1.auth" ;;
	vault) printf "    smtp_auth_plain_username = '%s',\n    smtp_auth_plain_password = {\n      vault_mount = 'secret',\n      vault_path = 'smtp-auth/%s',\n    },\n" \
	          "$AUTH_USER" "$AUTH_USER" >"$1.auth" ;;
	esac
	sed -e "1i -- generated by bench/relay/auth.sh ($3) from this file:" \
	    -e "s/'\[127\.0\.0\.1\]:2600'/'[127.0.0.1]:$2'/" \
	    -e "s/enable_tls = '[A-Za-z]*'/enable_tls = '$tls'/" \
	    -e "/ehlo_domain = /r $1.auth" "$HERE/policy.lua" >"$1" &&
	grep -q "127.0.0.1\]:$2'" "$1" && grep -q "enable_tls = '$tls'" "$1"
}

# petrel_conf NAME PORT RPORT MODE
petrel_conf() {
	local name=$1 port=$2
	auth_policy "$WORK/$name.lua" "$3" "$4"
	cat >"$WORK/$name.conf" <<CONF
[global]
hostname = bench.petrel.test
spool_dir = $WORK/$name/spool
run_dir = $WORK/$name/run
privsep = no
policy = $WORK/$name.lua
syslog_socket =

[smtpd]
listen = 127.0.0.1:$port
workers = 2
relay_from = 127.0.0.0/8

[deliverd]
workers = 1
resolver = 127.0.0.1:9
ca_file = $WORK/ca.crt

[keysd]
vault_address = ${VAULT_URL:-https://127.0.0.1:9}
vault_token_file = $WORK/vault.token
vault_ca_file = $WORK/ca.crt
CONF
	mkdir -p "$WORK/$name"
	cat >"$WORK/$name.sh" <<SH
#!/bin/sh
rm -rf "$WORK/$name/spool" "$WORK/$name/run"
exec "$PETRELD" -d -f "$WORK/$name.conf"
SH
	chmod +x "$WORK/$name.sh"
	"$PETRELD" -n -f "$WORK/$name.conf" >/dev/null
}

# pfauth_init NAME PORT RPORT [stock]
pfauth_init() {
	local P=$WORK/$1 port=$2 rport=$3 mode=${4:-reuse}
	mkdir -p "$P/etc" "$P/spool" "$P/data"
	chown postfix "$P/data"
	cat >"$P/etc/main.cf" <<EOF
# bench/relay "$1": peers-relay.sh's Postfix, relaying with SMTP AUTH
# over STARTTLS to the receiver
compatibility_level = 3.6
queue_directory = $P/spool
data_directory = $P/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay-$1.bench.test
mydomain = bench.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 local delivery disabled
alias_maps =
alias_database =
relay_domains =
relayhost = [127.0.0.1]:$rport
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_tls_security_level = none
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $WORK/ca.crt
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:$P/etc/sasl_passwd
smtp_sasl_security_options = noanonymous
default_destination_concurrency_limit = 20
smtp_destination_concurrency_limit = 20
disable_dns_lookups = yes
smtp_dns_support_level = disabled
append_dot_mydomain = no
biff = no
maillog_file = $P/maillog
maillog_file_prefixes = /var, /dev/stdout, /tmp
EOF
	# Postfix caches plain connections to a busy relayhost by default, but
	# not TLS ones: that takes smtp_tls_connection_reuse (tlsproxy, 3.4+)
	[ "$mode" = stock ] ||
	    echo "smtp_tls_connection_reuse = yes" >>"$P/etc/main.cf"
	( umask 077
	  printf '[127.0.0.1]:%s %s:%s\n' "$rport" "$AUTH_USER" "$AUTH_PASS" \
	      >"$P/etc/sasl_passwd" )
	# Debian's stock master.cf, nothing chrooted, the listener on PORT
	# instead of port 25, and tlsproxy on for the TLS connection reuse
	cp /usr/share/postfix/master.cf.dist "$P/etc/master.cf" &&
	postconf -c "$P/etc" -MX smtp/inet &&
	postconf -c "$P/etc" -Me "127.0.0.1:$port/inet = 127.0.0.1:$port inet n - n - - smtpd" \
	    "tlsproxy/unix = tlsproxy unix - - n - 0 tlsproxy" &&
	postconf -c "$P/etc" -F '*/*/chroot = n' || return 1
	script -qec "postfix -c '$P/etc' check" /dev/null >"$P/check.out" 2>&1 ||
	    { cat "$P/check.out" >&2; return 1; }
	# a fresh queue at every start; the master stays in the foreground
	# (start-fg), so peers-relay.sh measures and stops its whole tree
	cat >"$P/run.sh" <<SH
#!/bin/sh
rm -rf "$P/spool"; mkdir -p "$P/spool"
postfix -c "$P/etc" check || exit 1
exec postfix -c "$P/etc" start-fg
SH
	chmod +x "$P/run.sh"
}

# auth_summary TOOLWORK ROUND VAULTGETS: one row a system of the round,
# from peers-relay.sh's rows and per-phase files, the receiver's log and
# CPU samples; the same rows go to WORK/rows.tsv for auth_medians.
# VAULTGETS: the GETs of the secret during the round (only
# petrel-auth-vault asks Vault)
auth_summary() {
	local tw=$1 round=$2 gets=$3 sys rate base plain mcpu t0 t1 rcpu sess
	local logins total vg vm row
	base=$(awk -F'\t' '$1 == "petrel" { print $6 }' "$tw/results.tsv")
	plain=$(awk -F'\t' '$1 == "petrel-recv" { print $6 }' "$tw/results.tsv")
	total=$(( ${WARMUP:-200} + N_MSGS ))
	printf '%-18s %7s %9s %9s %10s %11s %7s %7s %9s %s\n' system msg/s \
	    vs_petrel vs_p-recv mta_ms/msg recv_ms/msg sess/1k auth/1k \
	    vault/1k status
	while IFS=$'\t' read -r sys _ _ _ _ rate mcpu _ _ _ _ _ _ _ _ status _; do
		t0=$(sed -n 's/^t_begin=//p' "$tw/$sys/run.kv" 2>/dev/null)
		t1=$(sed -n 's/^t_end=//p' "$tw/$sys/run.kv" 2>/dev/null)
		rcpu=-
		if [ -n "$t0" ] && [ -s "$WORK/front.cpu" ]; then
			rcpu=$(awk -v a="$t0" -v b="$t1" -v n="$N_MSGS" '
			    $1 <= a { c0 = $2 } $1 <= b { c1 = $2 }
			    END { printf "%.3f", 1000 * (c1 - c0) / n }' \
			    "$WORK/front.cpu")
		fi
		# this round's sessions: the receiver logs each at its end,
		# and the tool stops every system before the next starts
		read -r sess logins < <(awk -v n="$sys" -v r="$round" '
		    BEGIN { cur = 1 }
		    $1 == "round" { cur = $2 }
		    cur == r && $1 == "close" && $2 == n {
			s++; if ($4 ~ /^auth=(PLAIN|LOGIN)/) a++ }
		    END { print s + 0, a + 0 }' "$WORK/front.log")
		vg=-
		# GETs per 1000 messages, and in brackets those during the
		# measured phase
		if [ "$sys" = petrel-auth-vault ]; then
			vm=$(awk -v a="$t0" -v b="$t1" '
			    /"path": "\/v1\/secret\/data\/smtp-auth\/bench"/ {
				sub(/^\{"time": /, "")
				if ($1 + 0 >= a && $1 + 0 <= b) m++ }
			    END { print m + 0 }' "$WORK/vault/requests.jsonl")
			vg=$(awk -v g="$gets" -v t="$total" -v m="$vm" \
			    'BEGIN { printf "%.2f(%d)", 1000 * g / t, m }')
		fi
		case $sys in
		sink|postfix|petrel) sess=-; logins=- ;;
		*) sess=$(auth_per1k "$sess"); logins=$(auth_per1k "$logins") ;;
		esac
		[ "$sys" = sink ] && { rcpu=-; mcpu=-; }
		row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$sys" \
		    "$rate" "$(auth_ratio "$rate" "$base")" \
		    "$(auth_ratio "$rate" "$plain")" \
		    "$(awk -v c="$mcpu" -v n="$N_MSGS" 'BEGIN { if (c + 0 > 0) printf "%.3f", 1000 * c / n; else printf "-" }')" \
		    "$rcpu" "$sess" "$logins" "$vg" "$status")
		printf '%s\t%s\n' "$round" "$row" >>"$WORK/rows.tsv"
		printf '%s\n' "$row" | awk -F'\t' '{ s = $1 == "sink"
		    printf "%-18s %7s %9s %9s %10s %11s %7s %7s %9s %s\n", $1, $2,
			s ? "-" : $3, s ? "-" : $4, $5, $6, $7, $8, $9, $10 }'
	done <"$tw/results.tsv"
	# the next round's sessions start here in the receiver's log
	echo "round $(( round + 1 ))" >>"$WORK/front.log"
}

auth_ratio() {
	awk -v r="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && r + 0 > 0)
	    printf "%.2f", r / b; else printf "-" }'
}

auth_per1k() {
	awk -v s="$1" -v t="$total" 'BEGIN { printf "%.1f", 1000 * s / t }'
}

# auth_medians: the median of each numeric column over the rounds
auth_medians() {
	"$PY" - "$WORK/rows.tsv" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
order, cols = [], {}
for r in rows:
    if r[1] not in cols:
        order.append(r[1])
        cols[r[1]] = []
    cols[r[1]].append(r[2:])
print("median over %d rounds:" % len({r[0] for r in rows}))
print("%-18s %7s %9s %9s %10s %11s %7s %7s %s" % ("system", "msg/s",
      "vs_petrel", "vs_p-recv", "mta_ms/msg", "recv_ms/msg", "sess/1k",
      "auth/1k", "rounds ok"))


def med(vals, fmt):
    v = [float(x) for x in vals if x not in ("-", "") and "*" not in x]
    return fmt % statistics.median(v) if v else "-"


for name in order:
    c = list(zip(*cols[name]))
    ok = sum(1 for s in c[8] if s.startswith("ok("))
    sink = name == "sink"
    print("%-18s %7s %9s %9s %10s %11s %7s %7s %d/%d" % (
        name, med(c[0], "%.0f"), "-" if sink else med(c[1], "%.2f"),
        "-" if sink else med(c[2], "%.2f"), med(c[3], "%.3f"),
        med(c[4], "%.3f"), med(c[5], "%.1f"), med(c[6], "%.1f"),
        ok, len(c[8])))
PY
}
