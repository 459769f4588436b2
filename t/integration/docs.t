#!/bin/bash
# The key list in petrel.conf(5) is generated from the same table the
# parser uses; it must not drift from it.  The example config lists
# every key too.  So are the field lists of petrel-policy(5), and the
# example policy passes petreld -n, as does etc/shaping.toml through the
# shaping helper, as installed and with every example section
# uncommented.
. "$(dirname "$0")/lib.sh"
plan 6
"$PETRELD" -x conf-man >"$T/keys.man"
awk '/^\.Sh KEYS/ { on = 1; next } on && /^\.Ss \[/ { keep = 1 } /^\.Sh FILES/ { on = 0; keep = 0 } keep' \
    "$SRCDIR/doc/petrel.conf.5" >"$T/doc.man"
diff -u "$T/keys.man" "$T/doc.man" >"$T/diff" 2>&1
ok $? "doc/petrel.conf.5 lists exactly the keys petreld knows (regenerate with petreld -x conf-man)"
[ $? = 0 ] || sed 's/^/#   /' "$T/diff" | head -20
missing=$(sed -n 's/^\.It Ic \([a-z_]*\) .*/\1/p' "$T/keys.man" | sort -u | while read -r k; do
	grep -q "^;$k = \|^;$k =$" "$SRCDIR/etc/petrel.conf" || echo "$k"; done)
is "$missing" "" "etc/petrel.conf shows every key"
sed 's/^;\([a-z_]* =\)/\1/' "$SRCDIR/etc/petrel.conf" | sed 's/^\(user = \).*/\1root/' |
    sed 's/^privsep = yes/privsep = no/' |
    sed "s|^policy = .*|policy = $SRCDIR/etc/policy.lua|" >"$T/all.conf"
out=$("$PETRELD" -n -f "$T/all.conf" 2>&1)
is "$out" "configuration OK" "etc/petrel.conf with every key uncommented (and etc/policy.lua) is valid"

"$PETRELD" -x policy-man >"$T/fields.man"
awk '/^\.Sh FIELDS/ { on = 1; next } on && /^\.Sh / { on = 0 } on' \
    "$SRCDIR/doc/petrel-policy.5" >"$T/pdoc.man"
diff -u "$T/fields.man" "$T/pdoc.man" >"$T/pdiff" 2>&1
ok $? "doc/petrel-policy.5 lists exactly the fields make_egress_path and make_queue_config know (regenerate with petreld -x policy-man)"
[ $? = 0 ] || sed 's/^/#   /' "$T/pdiff" | head -20

# etc/shaping.toml through the helper, as shipped and with its examples on
shaping_check() {
	cat >"$T/shaping.lua" <<LUA
local shaping = require 'policy-extras.shaping'
kumo.on('get_egress_path_config', shaping:setup { '$1' })
LUA
	sed "s|^policy = .*|policy = $T/shaping.lua|" "$T/all.conf" >"$T/shaping.conf"
	"$PETRELD" -n -f "$T/shaping.conf" 2>&1
}
is "$(shaping_check "$SRCDIR/etc/shaping.toml")" "configuration OK" \
    "etc/shaping.toml as installed passes petreld -n"
sed 's/^# \(\[\|[a-z_]* = \|match\)/\1/' "$SRCDIR/etc/shaping.toml" >"$T/shaping.toml"
n=$(grep -c '^\[' "$T/shaping.toml")
out=$(shaping_check "$T/shaping.toml")
is "$n $out" "5 configuration OK" \
    "etc/shaping.toml with its 5 sections uncommented passes petreld -n"
