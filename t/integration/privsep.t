#!/bin/bash
# Privilege separation is real: as root, each child runs as its own user
# (checked in /proc), smtpd is chrooted, queued is chrooted in the spool,
# and mail still flows.  Unprivileged, petreld says once that it runs
# without privilege separation.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root to create users and drop privileges"
plan 22

make_users
SMTPD_UID=$(id -u _petrel-smtpd) QUEUED_UID=$(id -u _petrel-queued)
DELIVERD_UID=$(id -u _petrel-deliverd) KEYSD_UID=$(id -u _petrel-keysd)
SMTPD_GID=$(id -g _petrel-smtpd)

PRIVSEP=yes SYSLOG_SOCKET= write_conf
start_petrel; ok $? "petreld with privsep = yes is up"

uids() { awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/"$1"/status; }
gids() { awk '/^Gid:/ { print $2, $3, $4, $5 }' /proc/"$1"/status; }
# wait until all five children run and have set themselves up (the
# banner only says one smtpd worker is ready)
all_up() {
	local n=0 k
	while read -r k; do
		[ "$(uids "${k%% *}" | cut -d' ' -f1)" != 0 ] && n=$((n + 1))
	done < <(petrel_children)
	[ "$n" = 5 ]
}
for _ in $(seq 200); do all_up && break; sleep 0.05; done
mapfile -t kids < <(petrel_children)
nq=0 ns=0 nd=0 nk=0
for k in "${kids[@]}"; do
	pid=${k%% *} name=${k#* }
	case "$name" in
	queued)
		nq=$((nq + 1))
		is "$(uids "$pid")" "$QUEUED_UID $QUEUED_UID $QUEUED_UID $QUEUED_UID" \
		    "queued runs as _petrel-queued (real, effective, saved, fs)"
		is "$(readlink /proc/"$pid"/root)" "$T/spool" "queued is chrooted in the spool"
		;;
	smtpd)
		ns=$((ns + 1))
		is "$(uids "$pid")" "$SMTPD_UID $SMTPD_UID $SMTPD_UID $SMTPD_UID" \
		    "smtpd worker $ns runs as _petrel-smtpd"
		is "$(gids "$pid")" "$SMTPD_GID $SMTPD_GID $SMTPD_GID $SMTPD_GID" \
		    "smtpd worker $ns has the group of _petrel-smtpd"
		is "$(awk '/^Groups:/ { print $2 $3 }' /proc/"$pid"/status)" "$SMTPD_GID" \
		    "smtpd worker $ns has no supplementary groups"
		is "$(readlink /proc/"$pid"/root)" "$T/empty" "smtpd worker $ns is chrooted"
		;;
	deliverd)
		nd=$((nd + 1))
		is "$(uids "$pid")" "$DELIVERD_UID $DELIVERD_UID $DELIVERD_UID $DELIVERD_UID" \
		    "deliverd runs as _petrel-deliverd"
		is "$(readlink /proc/"$pid"/root)" "$T/empty" "deliverd is chrooted"
		;;
	keysd)
		nk=$((nk + 1))
		is "$(uids "$pid")" "$KEYSD_UID $KEYSD_UID $KEYSD_UID $KEYSD_UID" \
		    "keysd runs as _petrel-keysd"
		is "$(awk '/^Groups:/ { print $2 $3 }' /proc/"$pid"/status)" \
		    "$(id -g _petrel-keysd)" "keysd has no supplementary groups"
		;;
	esac
done
is "$nq $ns $nd $nk" "1 2 1 1" "one queued, two smtpd, one deliverd worker and one keysd found"
is "$(uids "$PETREL_PID" | cut -d' ' -f2)" 0 "the parent (no network input) stays root"
is "$(stat -c '%U %a' "$T/spool")" "_petrel-queued 700" "spool_dir belongs to the queued user, mode 700"

out=$(swaks --server 127.0.0.1 --port "$PORT" --from a@example.org --to b@example.net 2>&1)
id=$(printf '%s\n' "$out" | sed -n 's/.*queued as \([0-9a-f]\{16\}\).*/\1/p')
like "$id" '^[0-9a-f]{16}$' "a message is accepted with privilege separation"
is "$(stat -c %U "$T/spool/queue/${id:0:2}/$id.msg" 2>/dev/null)" _petrel-queued \
    "its spool file belongs to the queued user"
stop_petrel

# unprivileged: runs as the invoking user and says so once
mkdir -p "$T/nr"; chown nobody "$T/nr"
sed -e "s|$T/spool|$T/nr/spool|; s|$T/run|$T/nr/run|; s|privsep = yes|privsep = yes|" \
    "$T/petrel.conf" >"$T/nr/petrel.conf"
chmod 644 "$T/nr/petrel.conf"
PORT2=$(free_port); sed -i "s|127.0.0.1:$PORT|127.0.0.1:$PORT2|" "$T/nr/petrel.conf"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$PETRELD" -d -f "$T/nr/petrel.conf" \
    >"$T/nr/out" 2>&1 &
NR_PID=$!; track $NR_PID
PORT=$PORT2 wait_for 20 banner_ok
ok $? "petreld runs as an unprivileged user"
is "$(grep -c 'privilege separation is off' "$T/nr/out")" 1 "and says once that privilege separation is off"
kill -TERM $NR_PID; wait $NR_PID; untrack $NR_PID
