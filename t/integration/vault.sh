# t/integration/vault.sh - sourced after lib.sh: the Vault KV v2 stand-in
# (vaultkv.py) as a peer.
#
#   start_vault [ARGS...]        vaultkv.py on 127.0.0.1 and a free port,
#                                files in $T/vault (requests.jsonl, ...);
#                                the accepted token is in $T/vault.token
#                                (VAULT_TOKEN_VALUE), the address in
#                                VAULT_URL.  ARGS go to vaultkv.py
#                                (--cert/--key for HTTPS, --mount M).
#                                Waits until it listens.
#   vault_ctl ACTION [JSON]      a control request (see vaultkv.py):
#                                vault_ctl secret '{"mount":"secret",
#                                "path":"smtp-auth/x","data":{"key":"tiger"}}'
#   vault_put MOUNT PATH JSON    shorthand for the above
#   vault_requests [PATH]        how many /v1 requests (for PATH) it answered
#   vault_log                    its request log, one JSON object a line

VAULTKV=$SRCDIR/t/integration/vaultkv.py

start_vault() {
	mkdir -p "$T/vault"
	rm -f "$T/vault/ready" "$T/vault/port"
	VAULT_TOKEN_VALUE=${VAULT_TOKEN_VALUE:-hvs.test-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')}
	( umask 077; printf '%s\n' "$VAULT_TOKEN_VALUE" >"$T/vault.token" )
	"$PY" "$VAULTKV" --listen 127.0.0.1:0 --dir "$T/vault" \
	    --token-file "$T/vault.token" "$@" >"$T/vault.out" 2>&1 &
	VAULT_PID=$!
	track $VAULT_PID
	wait_for 20 test -e "$T/vault/ready" || return 1
	VAULT_PORT=$(cat "$T/vault/port")
	case " $* " in
	*" --cert "*) VAULT_URL=https://127.0.0.1:$VAULT_PORT ;;
	*) VAULT_URL=http://127.0.0.1:$VAULT_PORT ;;
	esac
}

vault_ctl() {
	local arg=${2:-}
	[ -n "$arg" ] || arg='{}'
	"$PY" "$VAULTKV" --ctl "$VAULT_URL" "$1" "$arg" >/dev/null
}

vault_put() {
	vault_ctl secret "{\"mount\":\"$1\",\"path\":\"$2\",\"data\":$3}"
}

vault_requests() {
	if [ -n "${1:-}" ]; then
		grep -c "\"path\": \"$1\"" "$T/vault/requests.jsonl"
	else
		grep -c . "$T/vault/requests.jsonl"
	fi
}

vault_log() { cat "$T/vault/requests.jsonl"; }
