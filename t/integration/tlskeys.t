#!/bin/bash
# TLS private keys never leave keysd (issue 12), as root with privilege
# separation: smtpd's server key ([smtpd] tls_private_key) and deliverd's
# client keys (make_egress_path's tls_private_key, an RSA and an ECDSA
# one) are used by keysd alone.
#
# swaks --tls to smtpd works and openssl s_client sees the configured
# certificate, verified through the intermediate smtpd sends; deliverd
# presents both client certificates to tlspeer.py (mode ccert).  Afterwards the
# users of smtpd and deliverd cannot open any of the key files, and the
# memory of every smtpd and deliverd process (/proc/PID/mem) holds no
# private-key bytes: neither a line of the PEM text nor the private scalar
# (EC's private key, RSA's d; big-endian as in DER, and byte-reversed as
# in an OpenSSL BIGNUM), while keysd's memory does hold the scalars (so
# the search can fail).  petreld -n refuses an [smtpd] key that does not
# match the certificate, naming the file.  After the certificate and key
# files are replaced and petreld reloads, s_client sees the new serial
# and smtpd's memory holds none of the new key either.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/authlib.sh"
. "$(dirname "$0")/tlscerts.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root to create users and drop privileges"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
command -v setpriv >/dev/null || skip_all "setpriv (util-linux) not installed"
plan 47

make_users
as_user() {	# as_user USER COMMAND...: COMMAND as USER with USER's group only
	setpriv --reuid="$(id -u "$1")" --regid="$(id -g "$1")" --clear-groups \
	    "${@:2}"
}
MEMGREP="/usr/bin/python3 $SRCDIR/t/integration/memgrep.py"
SYSLOG_SOCKET=
P=$(free_port)
ECA=127.0.0.101 RSAA=127.0.0.102

# --- certificates and keys -------------------------------------------------------
tls_pki &&
tls_leaf petrel.test rsa 2101 "DNS:petrel.test,DNS:localhost,IP:127.0.0.1" serverAuth &&
tls_leaf petrel2.test rsa 2102 "DNS:petrel.test,DNS:localhost,IP:127.0.0.1" serverAuth &&
tls_leaf client-ec ec 1202 && tls_leaf client-rsa rsa 1201 &&
tls_key mismatch rsa &&
tls_server relay "DNS:mx.ec.test,DNS:mx.rsa.test,IP:$ECA,IP:$RSAA"
ok $? "a root CA, an intermediate, smtpd's certificate (and a renewed one), RSA and EC client certificates"
cp "$TLSDIR/root.crt" "$T/testca.crt"

# key_dirs: keysd's alone; the server's certificate chain is public
K=$T/keys C=$T/certs
mkdir -p "$K" "$C" &&
cp "$TLSDIR/petrel.test.chain" "$C/smtpd.chain" &&
cp "$TLSDIR/petrel.test.key" "$K/tls-smtpd.key" &&
cp "$TLSDIR/client-ec.chain" "$K/ec.chain" &&
cp "$TLSDIR/client-ec.key" "$K/tls-ec.key" &&
cp "$TLSDIR/client-rsa.chain" "$K/rsa.chain" &&
cp "$TLSDIR/client-rsa.key" "$K/tls-rsa.key" &&
cp "$TLSDIR/mismatch.key" "$K/tls-mismatch.key" &&
chown -R _petrel-keysd: "$K" && chmod 700 "$K" && chmod 600 "$K"/*.key &&
chmod 644 "$K"/*.chain "$C/smtpd.chain"
ok $? "key_dirs belongs to _petrel-keysd (0700, keys 0600)"

# the secrets to look for: per key, a PEM line, the scalar, reversed
needles() {	# needles KEYFILE: memgrep.py arguments for the key
	local be
	be=$(key_scalar_hex "$1")
	echo "$(key_pem_needle "$1") hex:$be hex:$(hex_reverse "$be")"
}
scalar() { local be; be=$(key_scalar_hex "$1"); echo "hex:$be hex:$(hex_reverse "$be")"; }
N_SMTPD=$(needles "$TLSDIR/petrel.test.key")
N_EC=$(needles "$TLSDIR/client-ec.key")
N_RSA=$(needles "$TLSDIR/client-rsa.key")
like "$N_SMTPD $N_EC $N_RSA" '^([A-Za-z0-9+/]{48} hex:[0-9a-f]{64} hex:[0-9a-f]{64} ?){3}$' \
    "needles for the three keys: a PEM line of 48 characters, 32 bytes of scalar both ways"

# --- peers ------------------------------------------------------------------------
DNSP=$(free_port)
# shellcheck disable=SC2046
start_dnsmasq "$DNSP" $(mx_args $ECA ec) $(mx_args $RSAA rsa); ok $? "dnsmasq is up"
R=$T/sink
mkdir -p "$R"
"$PY" "$SRCDIR/t/integration/tlspeer.py" "$ECA,$RSAA" "$P" "$R" \
    "$TLSDIR/relay.crt" "$TLSDIR/relay.key" ccert "$TLSDIR/root.crt" >"$T/relay.out" 2>&1 &
RELAY_PID=$!; track $RELAY_PID
wait_for 20 test -e "$R/ready"; ok $? "tlspeer.py (ccert) is up"

# --- petrel -------------------------------------------------------------------------
cat >"$T/policy.lua" <<LUA
local kumo = require 'kumo'
local K = '$K/'
local files = {
  ['ec.test'] = { 'ec.chain', 'tls-ec.key' },
  ['rsa.test'] = { 'rsa.chain', 'tls-rsa.key' },
}
kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  local p = { enable_tls = 'Required' }
  local f = files[domain]
  if f then
    p.tls_certificate = { key_file = K .. f[1] }
    p.tls_private_key = { key_file = K .. f[2] }
  end
  return kumo.make_egress_path(p)
end)
LUA
KEYSD="key_dirs = $K
tls_key_files = $K/tls-*.key"
PRIVSEP=yes POLICY=$T/policy.lua RELAYHOST= RESOLVER=127.0.0.1:$DNSP \
    QUEUED_EXTRA="retry_interval = 1s
max_retry_interval = 1s" DELIVERD_EXTRA="smtp_port = $P
ca_file = $T/testca.crt" write_conf "tls_certificate = $C/smtpd.chain
tls_private_key = $K/tls-smtpd.key"
printf '\n[keysd]\n%s\n' "$KEYSD" >>"$T/petrel.conf"
out=$("$PETRELD" -n -f "$T/petrel.conf" 2>&1)
ok $? "petreld -n accepts [smtpd] tls_certificate/tls_private_key and [keysd] tls_key_files"
[ -z "$out" ] || diag "$out"
start_petrel; ok $? "petreld with privsep = yes and smtpd TLS is up"

# --- smtpd's side: STARTTLS with the key in keysd ----------------------------------
like "$(chat "EHLO c.test" QUIT)" '250-STARTTLS' "smtpd offers STARTTLS"
out=$(swaks --server 127.0.0.1 --port "$PORT" --tls --from a@example.org \
    --to b@example.net --header "Message-ID: <tls-1@test>" 2>&1)
ok $? "swaks --tls delivers a message to smtpd"
like "$out" 'TLS started' "TLS was negotiated"
like "$out" 'queued as [0-9a-f]{16}' "and the message was queued"
for i in 2 3 4; do	# more handshakes, likely on every smtpd worker
	swaks --server 127.0.0.1 --port "$PORT" --tls --quit-after EHLO >/dev/null 2>&1
done
srv() {	# srv: s_client's view of smtpd's certificate (verified: the
	# root alone is trusted, so smtpd must send the intermediate)
	openssl s_client -connect "127.0.0.1:$PORT" -starttls smtp \
	    -CAfile "$TLSDIR/root.crt" -verify_return_error </dev/null 2>"$T/s_client.err" |
	    tee "$T/s_client.out"
}
srv_serial() { srv | openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//'; }
is "$(srv_serial)" 2101 "openssl s_client -starttls smtp: smtpd's certificate (serial 2101)"
grep -q 'Verify return code: 0 (ok)' "$T/s_client.out"
ok $? "verified against the root alone: smtpd sent the intermediate"
like "$(grep -m1 '^subject=' "$T/s_client.out")" 'CN ?= ?petrel\.test' "subject CN=petrel.test"

# --- deliverd's side: client certificates through keysd ----------------------------
send u@ec.test ec1; send u@rsa.test rsa1
wait_for 30 arrived ec1; ok $? "delivered to ec.test with the ECDSA client certificate"
wait_for 30 arrived rsa1; ok $? "delivered to rsa.test with the RSA client certificate"
grep -q "^tls TLSv1\.[23] cn=client-ec serial=1202 on $ECA\$" "$R/log"
ok $? "the relay verified client-ec"
grep -q "^tls TLSv1\.[23] cn=client-rsa serial=1201 on $RSAA\$" "$R/log"
ok $? "the relay verified client-rsa"

# --- who can open the key files --------------------------------------------------------
for u in _petrel-smtpd _petrel-deliverd; do
	for f in tls-smtpd.key tls-ec.key tls-rsa.key; do
		like "$(as_user "$u" cat "$K/$f" 2>&1 >/dev/null)" 'Permission denied' \
		    "$u cannot open $f"
	done
done
as_user _petrel-keysd cat "$K/tls-ec.key" >/dev/null 2>&1
ok $? "_petrel-keysd can (the control)"

# --- nobody else holds the keys: /proc/PID/mem -------------------------------------
procs() { petrel_children | awk -v k="$1" '$2 == k { print $1 }'; }
# memclean NAME...: every process of those kinds holds none of the
# needles; sets NPROC (processes searched) and says which leaked
memclean() {
	local k pid rc bad=0
	NPROC=0
	for k in "$@"; do
		for pid in $(procs "$k"); do
			# shellcheck disable=SC2086
			$MEMGREP "$pid" $N_SMTPD $N_EC $N_RSA >"$T/memgrep.out" 2>&1
			rc=$?
			NPROC=$((NPROC + 1))
			case $rc in
			1) ;;
			0) bad=1; diag "$k $pid holds key bytes:" \
			    "$(tr '\n' ';' <"$T/memgrep.out")" \
			    "(needles: 1-3 smtpd's key, 4-6 client-ec's, 7-9 client-rsa's;" \
			    "PEM line, scalar, reversed scalar)" ;;
			*) bad=1; diag "$k $pid: memory not read: $(cat "$T/memgrep.out")" ;;
			esac
		done
	done
	return $bad
}
memclean smtpd; ok $? "no smtpd process holds private-key bytes (PEM text or scalar)"
ok $([ "$NPROC" -ge 2 ]; echo $?) "(all $NPROC smtpd processes were searched)"
memclean deliverd; ok $? "no deliverd process holds private-key bytes"
ok $([ "$NPROC" -ge 1 ]; echo $?) "(all $NPROC deliverd processes were searched)"
# controls: the same search finds the (public) certificates they use
n=0
for pid in $(procs smtpd); do
	$MEMGREP "$pid" "hex:$(cert_der_hex "$TLSDIR/petrel.test.crt")" >/dev/null 2>&1 &&
	    n=$((n + 1))
done
ok $([ "$n" -ge 1 ]; echo $?) "the search does find smtpd's certificate in $n smtpd process(es) (a control)"
$MEMGREP "$(procs deliverd | head -n 1)" "hex:$(cert_der_hex "$TLSDIR/client-ec.crt")" \
    "hex:$(cert_der_hex "$TLSDIR/client-rsa.crt")" >"$T/memgrep.out" 2>&1
ok $? "and the client certificates in deliverd's memory (a control)"
diag "$(tr '\n' ';' <"$T/memgrep.out")"
KPID=$(procs keysd | head -n 1)
for key in petrel.test client-ec client-rsa; do
	# shellcheck disable=SC2046
	$MEMGREP "$KPID" $(scalar "$TLSDIR/$key.key") >"$T/memgrep.out" 2>&1
	ok $? "keysd's memory does hold $key's private scalar (the search can find it)"
	diag "$(tr '\n' ';' <"$T/memgrep.out")"
done
# shellcheck disable=SC2046
$MEMGREP "$KPID" $(key_pem_needle "$TLSDIR/petrel.test.key") \
    $(key_pem_needle "$TLSDIR/client-ec.key") $(key_pem_needle "$TLSDIR/client-rsa.key") \
    >"$T/memgrep.out" 2>&1
diag "keysd and the PEM lines (not a test; 1 smtpd, 2 client-ec, 3 client-rsa; exit $?): $(tr '\n' ';' <"$T/memgrep.out")"
# shellcheck disable=SC2086
$MEMGREP "$PETREL_PID" $N_SMTPD >"$T/memgrep.out" 2>&1
is "$?" 1 "petreld (the parent, which read smtpd's key for keysd) holds none of it: it checks the key in a child"
[ -s "$T/memgrep.out" ] && diag "$(tr '\n' ';' <"$T/memgrep.out")"

# --- petreld -n: a key that does not match the certificate -------------------------
sed "s|^tls_private_key = .*|tls_private_key = $K/tls-mismatch.key|" "$T/petrel.conf" \
    >"$T/mismatch.conf"
out=$("$PETRELD" -n -f "$T/mismatch.conf" 2>&1); rc=$?
ok $([ "$rc" != 0 ]; echo $?) "petreld -n refuses an [smtpd] tls_private_key that does not match tls_certificate"
like "$out" "$K/tls-mismatch\.key" "and names the key file"
diag "$out"

# --- renewal: new files, a reload ---------------------------------------------------------
cp "$TLSDIR/petrel2.test.chain" "$C/smtpd.chain.new" &&
cp "$TLSDIR/petrel2.test.key" "$K/tls-smtpd.key.new" &&
chown _petrel-keysd: "$K/tls-smtpd.key.new" && chmod 600 "$K/tls-smtpd.key.new" &&
chmod 644 "$C/smtpd.chain.new" &&
mv "$C/smtpd.chain.new" "$C/smtpd.chain" && mv "$K/tls-smtpd.key.new" "$K/tls-smtpd.key"
ok $? "smtpd's certificate and key replaced by a renewed pair (serial 2102)"
nreload=$(grep -c 'reload: done' "$T/petreld.out")
kill -HUP "$PETREL_PID"
wait_for 30 sh -c "[ \$(grep -c 'reload: done' '$T/petreld.out') -gt $nreload ]"
ok $? "petreld reloaded (SIGHUP; 'reload: done')"
is "$(srv_serial)" 2102 "s_client now sees the renewed certificate (serial 2102), without a restart"
out=$(swaks --server 127.0.0.1 --port "$PORT" --tls --from a@example.org \
    --to b@example.net --header "Message-ID: <tls-2@test>" 2>&1)
like "$out" 'queued as [0-9a-f]{16}' "swaks --tls still delivers after the reload"
N_SMTPD=$(needles "$TLSDIR/petrel2.test.key")
memclean smtpd; ok $? "no smtpd process holds the renewed key's bytes either"
for s in smtpd deliverd; do
	like "$(as_user "_petrel-$s" cat "$K/tls-smtpd.key" 2>&1 >/dev/null)" \
	    'Permission denied' "_petrel-$s cannot open the renewed key file"
done
KPID=$(procs keysd | head -n 1)
# shellcheck disable=SC2046
$MEMGREP "$KPID" $(scalar "$TLSDIR/petrel2.test.key") >/dev/null 2>&1
ok $? "keysd holds the renewed key"

stop_petrel; ok $? "petreld stops"
ok $(grep -qF -e 'PRIVATE KEY' "$T/petreld.out"; echo $((1 - $?))) "no key in petrel's log"
kill -TERM "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null; untrack "$RELAY_PID"
