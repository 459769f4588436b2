# t/integration/authlib.sh - sourced after lib.sh by the SMTP AUTH tests
# (auth.t, vault.t, keysd.t): sending through petrel and looking at what
# arrived (run_sink's directory) and what petrel logged.
#
#   send TO ID              swaks to petrel, Message-ID <ID@test>
#   arrived ID / eml ID     did it reach the sink / its file there
#   logged ERE / nlogged ERE / line ERE
#                           petreld.out has a line matching ERE / how many /
#                           the last one
#   atleast N COMMAND...    COMMAND prints a number >= N (for wait_for)
#   mx_names DOMAIN...      "DNS:mx.D1.test,DNS:mx.D2.test,..." (make_cert)
#   mx_args ADDR DOMAIN...  dnsmasq options: D.test's MX is mx.D.test at ADDR
#   auth_conf POLICY [KEYSD-LINES]
#                           $T/petrel.conf for MX delivery through dnsmasq
#                           on $DNSP to port $P, ca_file $T/testca.crt,
#                           retries every second, and a [keysd] section

send() {
	swaks --server 127.0.0.1 --port "$PORT" --from s@petrel.test \
	    --to "$1" --header "Message-ID: <$2@test>" >"$T/swaks.$2" 2>&1
}
arrived() { grep -lqs "^Message-ID: <$1@test>" "$T/sink"/*.eml; }
eml() { grep -ls "^Message-ID: <$1@test>" "$T/sink"/*.eml | head -n 1; }
logged() { grep -Eq -- "$1" "$T/petreld.out"; }
nlogged() { grep -Ec -- "$1" "$T/petreld.out"; }
line() { grep -E -- "$1" "$T/petreld.out" | tail -n 1; }
atleast() { [ "$("${@:2}")" -ge "$1" ]; }

mx_names() { local d s=""; for d; do s="$s,DNS:mx.$d.test"; done; echo "${s#,}"; }
mx_args() {
	local a=$1 d
	shift
	for d; do
		printf ' --mx-host=%s.test,mx.%s.test,10 --host-record=mx.%s.test,%s' \
		    "$d" "$d" "$d" "$a"
	done
}

auth_conf() {
	POLICY=$1 RELAYHOST= RESOLVER=127.0.0.1:$DNSP \
	    QUEUED_EXTRA="retry_interval = 1s
max_retry_interval = 1s" DELIVERD_EXTRA="smtp_port = $P
ca_file = $T/testca.crt" write_conf
	printf '\n[keysd]\n%s\n' "${2:-}" >>"$T/petrel.conf"
}
