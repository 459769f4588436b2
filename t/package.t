#!/bin/bash
# t/package.t - the Debian package as an operator gets it.  Builds it
# from `make distdir` with dpkg-buildpackage -b, installs it with
# apt-get install ./petrel_*.deb, checks the users, the directories and
# the conffiles, starts petreld as etc/petrel.service does (ExecStartPre
# petreld -n, ExecStart forking with its pid file in /run/petrel, under
# the unit's NoNewPrivileges and capability bounding set through
# setpriv) with a test petrel.conf that listens on a free loopback port
# and relays to an aiosmtpd sink, sends a message with swaks, reloads as
# ExecReload does (SIGHUP) and sends another, asks petrelctl status when
# it is installed, stops petreld, purges the package and checks that
# the users, the group, the spool and /etc/petrel are gone.  The spool,
# the policy and the users are the installed ones.
#
# Run by `make check-package` (or t/run with PETREL_SUITES=package),
# which sets BUILDDIR, PACKAGE_VERSION and MAKE.  Needs root,
# dpkg-buildpackage and debhelper.  Everything is built in
# BUILDDIR/pkg.XXXXXX, removed afterwards unless a test failed or KEEP
# is set.  If systemd runs here, the service the package starts is
# stopped and the test instance run beside it.  Users named like the
# package's that were here before (the integration tests make them) are
# made again after the purge, with the same ids; still, do not run it
# beside integration tests that need them.
: "${SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$SRCDIR/t/integration/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root (installs and purges a package)"
command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null ||
    skip_all "dpkg-buildpackage and debhelper not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
[ -n "${BUILDDIR:-}" ] && [ -n "${PACKAGE_VERSION:-}" ] ||
    skip_all "BUILDDIR and PACKAGE_VERSION not set (run make check-package)"
if dpkg-query -W -f='${Status}\n' petrel 2>/dev/null | grep -q ' installed$'; then
	skip_all "a petrel package is installed already: apt-get purge petrel first"
fi

USERS="_petrel-smtpd _petrel-queued _petrel-deliverd _petrel-keysd"
UNITFILE=
W=$(mktemp -d "$BUILDDIR/pkg.XXXXXX")
installed=
# The integration tests make these users too (lib.sh make_users): the
# ones that were here before come back after the purge, with their ids.
saved_users=$(for u in $USERS; do getent passwd "$u"; done)
saved_groups=$(for u in $USERS; do getent group "$u"; done)
restore_users() {
	local name x id gid rest
	printf '%s\n' "$saved_groups" | while IFS=: read -r name x gid rest; do
		[ -n "$name" ] || continue
		getent group "$name" >/dev/null || groupadd --system -g "$gid" "$name"
	done
	printf '%s\n' "$saved_users" | while IFS=: read -r name x id gid x home shell; do
		[ -n "$name" ] || continue
		getent passwd "$name" >/dev/null ||
		    useradd --system -u "$id" -g "$gid" -M -d "$home" -s "$shell" "$name"
	done
}
pkg_cleanup() {
	cleanup
	if [ -n "$installed" ]; then
		apt-get purge -y -q petrel >"$W/purge-cleanup.log" 2>&1 ||
		    echo "# apt-get purge petrel failed: see $W/purge-cleanup.log"
	fi
	restore_users
	if [ "$_tap_fail" = 0 ] && [ -z "${KEEP:-}" ]; then
		rm -rf "$W"
	else
		echo "# package build kept in $W"
	fi
}
trap pkg_cleanup EXIT
# the unit's value of KEY (the last one, as systemd takes it)
unit_get() { sed -n "s/^$1=//p" "$UNITFILE" | tail -n 1; }
owner_mode() { stat -c '%U %a' "$1" 2>&1; }

plan 22

# --- build -------------------------------------------------------------
src=$W/petrel-$PACKAGE_VERSION
${MAKE:-make} -s -C "$BUILDDIR" distdir distdir="$src" >"$W/distdir.log" 2>&1
ok $? "make distdir has everything the package build needs"
# a build of its own: nothing from this make or t/run leaks into it
(cd "$src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u PETREL_SUITES \
    -u PETREL_NO_SKIP -u SRCDIR -u BUILDDIR -u PETRELD -u UNIT -u TESTS \
    DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
    dpkg-buildpackage -us -uc -b) >"$W/build.log" 2>&1
rc=$?
deb=$(ls "$W"/petrel_"$PACKAGE_VERSION"-*_*.deb 2>/dev/null | head -n 1)
ok $(( rc != 0 || ${#deb} == 0 )) "dpkg-buildpackage -us -uc -b builds petrel_${PACKAGE_VERSION}-*.deb"
[ -n "$deb" ] || { tail -n 30 "$W/build.log" | sed 's/^/#   /'; exit 1; }
diag "$(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"

# --- install -----------------------------------------------------------
(cd "$W" && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "./$(basename "$deb")") >"$W/install.log" 2>&1
rc=$?
installed=yes
ok $rc "apt-get install ./$(basename "$deb")"
[ $rc = 0 ] || { tail -n 30 "$W/install.log" | sed 's/^/#   /'; exit 1; }
if [ -d /run/systemd/system ]; then
	diag "systemd runs here: stopping the petrel.service the package started"
	systemctl stop petrel.service
fi

missing=
for u in $USERS; do
	id "$u" >/dev/null 2>&1 || missing="$missing $u"
done
getent group petrel >/dev/null || missing="$missing group:petrel"
is "$missing" "" "postinst made the users and the group petrel"
is "$(owner_mode /etc/petrel/keys)" "_petrel-keysd 700" "/etc/petrel/keys is 0700, the keysd user's"
is "$(owner_mode /var/spool/petrel)" "_petrel-queued 700" "/var/spool/petrel is 0700, the queued user's"
conffiles=$(dpkg-query -W -f='${Conffiles}\n' petrel | awk 'NF { print $1 }' | sort | tr '\n' ' ')
is "$conffiles" "/etc/petrel/petrel.conf /etc/petrel/policy.lua /etc/petrel/shaping.toml " \
    "the files in /etc/petrel are conffiles"
UNITFILE=$(dpkg -L petrel | grep '/systemd/system/petrel\.service$' | head -n 1)
missing=
ctl=
[ ! -e /usr/sbin/petrelctl ] ||
    ctl="/usr/sbin/petrelctl /usr/share/man/man8/petrelctl.8.gz"
for f in /usr/sbin/petreld /usr/share/man/man8/petreld.8.gz \
    /usr/share/man/man5/petrel.conf.5.gz /usr/share/man/man5/petrel-policy.5.gz \
    $ctl "${UNITFILE:-petrel.service}"; do
	[ -f "$f" ] || missing="$missing $f"
done
is "$missing" "" "petreld, ${ctl:+petrelctl, }the man pages and the unit ($UNITFILE) are installed"

# the unit: reload by HUP, the open-files limit, hardening that privsep allows
got="$(unit_get ExecReload) | $(unit_get LimitNOFILE) | $(unit_get NoNewPrivileges) | $(unit_get ProtectSystem) | $(unit_get PrivateTmp)"
is "$got" '/bin/kill -HUP $MAINPID | 65536 | yes | full | yes' \
    "petrel.service: ExecReload sends HUP, LimitNOFILE, NoNewPrivileges, ProtectSystem, PrivateTmp"
if command -v systemd-analyze >/dev/null; then
	out=$(systemd-analyze verify --man=no "$UNITFILE" 2>&1)
	is "$out" "" "systemd-analyze verify petrel.service"
else
	ok 0 "systemd-analyze verify petrel.service # SKIP no systemd-analyze"
fi

out=$(/usr/sbin/petreld -n 2>&1)
is "$out" "configuration OK" "petreld -n: the installed petrel.conf and policy.lua are valid"

# --- run it as the unit does ------------------------------------------
# NoNewPrivileges and CapabilityBoundingSet as setpriv options
WRAP=
if command -v setpriv >/dev/null; then
	caps=$(unit_get CapabilityBoundingSet | tr 'A-Z' 'a-z' |
	    sed 's/cap_/+/g; s/ /,/g')
	WRAP="setpriv --no-new-privs --bounding-set=-all,$caps"
else
	diag "no setpriv: petreld runs without the unit's NoNewPrivileges"
fi
start_syslog || diag "no rsyslogd: petreld's log is lost"
run_sink
PORT=$(free_port)
cat >"$T/petrel.conf" <<CONF
; the installed defaults (spool, run_dir, policy, users, key_dirs) but
; for a loopback listener, a relay to the test sink and a private syslog
[global]
hostname = petrel.test
syslog_socket = $T/log.sock

[smtpd]
listen = 127.0.0.1:$PORT
workers = 1

[queued]
relayhost = [127.0.0.6]:$SP

[deliverd]
resolver = 127.0.0.1:9
CONF
pidfile=$(unit_get PIDFile)
out=$($WRAP /usr/sbin/petreld -n -f "$T/petrel.conf" 2>&1)
is "$out" "configuration OK" "ExecStartPre: petreld -n with the test config"
$WRAP /usr/sbin/petreld -f "$T/petrel.conf" >"$T/petreld.out" 2>&1
rc=$?
wait_for 10 test -s "$pidfile" && PETREL_PID=$(cat "$pidfile") && track "$PETREL_PID"
wait_for 20 banner_ok
up=$?
ok $(( rc != 0 || up != 0 )) "ExecStart: petreld forks, writes $pidfile and answers on 127.0.0.1:$PORT"
if [ -z "${PETREL_PID:-}" ]; then
	sed 's/^/#   /' "$T/petreld.out" "$T/maillog" 2>/dev/null | tail -n 20
	exit 1
fi

send() {	# send N: message N through petrel with swaks
	swaks --server "127.0.0.1:$PORT" --from sender@example.org \
	    --to "rcpt$1@example.net" --header "Subject: package test $1" \
	    --body "message $1 through the installed package" >"$T/swaks$1.out" 2>&1
}
send 1
ok $? "swaks: message 1 accepted"
wait_for 30 test -e "$T/sink/1.eml"
ok $? "message 1 arrived at the sink through the installed petreld"
grep -q '^Subject: package test 1' "$T/sink/1.eml" 2>/dev/null ||
    sed 's/^/#   /' "$T/maillog" 2>/dev/null | tail -n 20

# each child as the package's user for it (once it has set up: deliverd
# loads the policy as root first)
child_users() {
	petrel_children | while read -r pid name; do
		echo "$name:$(stat -c %U /proc/"$pid")"
	done | sort -u | tr '\n' ' '
}
want="deliverd:_petrel-deliverd keysd:_petrel-keysd queued:_petrel-queued smtpd:_petrel-smtpd "
wait_for 10 eval '[ "$(child_users)" = "$want" ]'
is "$(child_users)" "$want" "every child runs as its own user"

# ExecReload: the check, then HUP
out=$($WRAP /usr/sbin/petreld -n -f "$T/petrel.conf" 2>&1) &&
    kill -HUP "$PETREL_PID" && wait_for 20 banner_ok && send 2 &&
    wait_for 30 test -e "$T/sink/2.eml"
ok $? "after a reload (HUP) message 2 arrives too"

if [ -x /usr/sbin/petrelctl ]; then
	out=$(/usr/sbin/petrelctl -f "$T/petrel.conf" status 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/#   /'
	ok $(( rc != 0 )) "petrelctl status"
else
	ok 0 "petrelctl status # SKIP /usr/sbin/petrelctl not installed"
fi

kill -TERM "$PETREL_PID"
wait_for "$(unit_get TimeoutStopSec)" sh -c "! kill -0 $PETREL_PID 2>/dev/null"
ok $? "petreld stops on SIGTERM within TimeoutStopSec"
untrack "$PETREL_PID"

# --- purge -------------------------------------------------------------
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q petrel >"$W/purge.log" 2>&1
rc=$?
[ $rc != 0 ] || installed=
ok $rc "apt-get purge petrel"
[ $rc = 0 ] || tail -n 20 "$W/purge.log" | sed 's/^/#   /'
left=
for u in $USERS; do
	getent passwd "$u" >/dev/null && left="$left $u"
	getent group "$u" >/dev/null && left="$left group:$u"
done
getent group petrel >/dev/null && left="$left group:petrel"
is "$left" "" "purge removed the users and groups"
left=
for f in /var/spool/petrel /etc/petrel /usr/sbin/petreld /usr/sbin/petrelctl "$UNITFILE"; do
	[ -e "$f" ] && left="$left $f"
done
is "$left" "" "purge removed the spool, /etc/petrel, petreld and the unit"
restore_users
