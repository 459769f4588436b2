# t/integration/tlscerts.sh - sourced after lib.sh: a small PKI made with
# the openssl CLI for the TLS client-certificate and server-key tests
# (clientcert.t, tlskeys.t).  Everything lands in $TLSDIR (default
# $T/tls); keys are written mode 0600.
#
#   tls_pki                   root.crt/.key (a self-signed root CA) and
#                             inter.crt/.key (an intermediate CA signed by
#                             the root)
#   tls_leaf NAME TYPE SERIAL [SAN] [EKU]
#                             NAME.key (TYPE: rsa = RSA-2048, ec = ECDSA
#                             P-256, ed25519), NAME.crt signed by the
#                             intermediate with serial SERIAL (hex, e.g.
#                             1201; an even number of digits, so that
#                             openssl and python print it alike), subject
#                             CN=NAME; NAME.chain = the leaf, then the
#                             intermediate (what a server or client sends).
#                             EKU defaults to clientAuth; SAN optional.
#   tls_server NAME SAN       NAME.crt/.key for a test peer, signed by the
#                             root directly (serverAuth, SAN e.g.
#                             "DNS:localhost,IP:127.0.0.1")
#   tls_key NAME TYPE         NAME.key alone (a key no certificate matches)
#   tls_serial CERT           the certificate's serial, as "1201"
#   tls_cn CERT               the certificate's subject CN
#   key_pem_needle KEY        48 characters of the middle line of the PEM
#                             base64 body of KEY (a private key's bytes as
#                             text, for memgrep.py)
#   key_scalar_hex KEY        the private scalar, big-endian hex: the whole
#                             32-byte EC private key, or the most
#                             significant 32 bytes of RSA's private
#                             exponent d (without the DER sign byte)
#   cert_der_hex CERT         the last 32 bytes (hex) of the certificate's
#                             DER (public: a positive control for memgrep,
#                             since a process using the certificate holds it)
#   hex_reverse HEX           HEX byte by byte in reverse order: how
#                             OpenSSL's BIGNUM limbs hold the same bytes in
#                             memory on a little-endian machine

: "${TLSDIR:=$T/tls}"

_tls_ossl() {	# run openssl quietly, its errors into $TLSDIR/openssl.err
	openssl "$@" >>"$TLSDIR/openssl.out" 2>>"$TLSDIR/openssl.err"
}

_tls_newkey() {	# _tls_newkey FILE TYPE
	case $2 in
	rsa) _tls_ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$1" ;;
	ec) _tls_ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -pkeyopt ec_param_enc:named_curve -out "$1" ;;
	ed25519) _tls_ossl genpkey -algorithm ED25519 -out "$1" ;;
	*) echo "tlscerts.sh: unknown key type $2" >&2; return 1 ;;
	esac && chmod 600 "$1"
}

tls_pki() {
	mkdir -p "$TLSDIR" || return 1
	cat >"$TLSDIR/ca.ext" <<'EXT'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EXT
	_tls_newkey "$TLSDIR/root.key" rsa &&
	_tls_ossl req -x509 -new -key "$TLSDIR/root.key" -days 2 \
	    -subj "/CN=petrel test root CA" -set_serial 0x0100 \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign \
	    -out "$TLSDIR/root.crt" &&
	_tls_newkey "$TLSDIR/inter.key" rsa &&
	_tls_ossl req -new -key "$TLSDIR/inter.key" \
	    -subj "/CN=petrel test intermediate CA" -out "$TLSDIR/inter.csr" &&
	_tls_ossl x509 -req -in "$TLSDIR/inter.csr" -CA "$TLSDIR/root.crt" \
	    -CAkey "$TLSDIR/root.key" -set_serial 0x0200 -days 2 \
	    -extfile "$TLSDIR/ca.ext" -out "$TLSDIR/inter.crt"
}

tls_leaf() {	# tls_leaf NAME TYPE SERIAL [SAN] [EKU]
	local n=$TLSDIR/$1
	{
		echo "basicConstraints = critical, CA:FALSE"
		echo "extendedKeyUsage = ${5:-clientAuth}"
		echo "authorityKeyIdentifier = keyid"
		[ -z "${4:-}" ] || echo "subjectAltName = $4"
	} >"$n.ext"
	_tls_newkey "$n.key" "$2" &&
	_tls_ossl req -new -key "$n.key" -subj "/CN=$1" -out "$n.csr" &&
	_tls_ossl x509 -req -in "$n.csr" -CA "$TLSDIR/inter.crt" \
	    -CAkey "$TLSDIR/inter.key" -set_serial "0x$3" -days 2 \
	    -extfile "$n.ext" -out "$n.crt" &&
	cat "$n.crt" "$TLSDIR/inter.crt" >"$n.chain"
}

tls_server() {	# tls_server NAME SAN
	local n=$TLSDIR/$1
	printf 'subjectAltName = %s\nextendedKeyUsage = serverAuth\n' "$2" >"$n.ext"
	_tls_newkey "$n.key" rsa &&
	_tls_ossl req -new -key "$n.key" -subj "/CN=$1" -out "$n.csr" &&
	_tls_ossl x509 -req -in "$n.csr" -CA "$TLSDIR/root.crt" \
	    -CAkey "$TLSDIR/root.key" -set_serial 0x0300 -days 2 \
	    -extfile "$n.ext" -out "$n.crt"
}

tls_key() { mkdir -p "$TLSDIR" && _tls_newkey "$TLSDIR/$1.key" "$2"; }

tls_serial() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }
tls_cn() {
	openssl x509 -in "$1" -noout -subject -nameopt multiline |
	    sed -n 's/^ *commonName *= *//p'
}

key_pem_needle() {
	# the middle full line of the PEM body (64 characters: for RSA in
	# the private part, for EC the private scalar's end and more), 48 of
	# them; the first line would be the same for every key of a type
	local body n
	body=$(sed -n '/^-----BEGIN/,/^-----END/{/^-----/d;p}' "$1")
	n=$(printf '%s\n' "$body" | wc -l)
	printf '%s\n' "$body" | sed -n "$(( (n + 1) / 2 ))p" | cut -c9-56
}

key_scalar_hex() {
	openssl pkey -in "$1" -noout -text 2>/dev/null | awk '
		/^priv:$/ || /^privateExponent:$/ { on = 1; next }
		on && /^[^ ]/ { exit }
		on { gsub(/[ :]/, ""); printf "%s", $0 }' |
	    sed 's/^00//' | cut -c1-64
}

cert_der_hex() {
	# the last 32 bytes: the end of the issuer's signature, unique
	openssl x509 -in "$1" -outform DER | tail -c 32 | od -An -v -tx1 |
	    tr -d ' \n'
}

hex_reverse() { echo "$1" | fold -w2 | tac | tr -d '\n'; }
