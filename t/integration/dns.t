#!/bin/bash
# deliverd's resolver (deliverd/dns.c) through t/dnsprobe against a
# private dnsmasq on 127.0.0.1: MX order, addresses and ports, implicit
# MX, NXDOMAIN, null MX, hosts without an address, IP literals,
# KumoMTA's site_name rollup (its own examples), the cache and the
# sharing of one lookup, timeouts, and shutdown with queries in flight.
. "$(dirname "$0")/lib.sh"
: "${DNSPROBE:=$SRCDIR/build/test/t/dnsprobe}"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
[ -x "$DNSPROBE" ] || skip_all "no dnsprobe at $DNSPROBE"
plan 50

DP=$(free_port)
R=127.0.0.1:$DP
# --local: dnsmasq answers NXDOMAIN for names it does not know under
# these domains (instead of REFUSED, having no upstream server)
dnsmasq --no-daemon --port "$DP" --listen-address=127.0.0.1 \
    --bind-interfaces --no-resolv --no-hosts --pid-file="$T/dnsmasq.pid" \
    --local=/test/com/net/ \
    --mx-host=example.test,mx1.example.test,10 \
    --mx-host=example.test,mx2.example.test,20 \
    --host-record=mx1.example.test,127.0.0.5 \
    --host-record=mx2.example.test,127.0.0.6,::1 \
    --mx-host=eq.test,B.eq.test,10 --mx-host=eq.test,a.eq.test,10 \
    --mx-host=eq.test,c.eq.test,5 \
    --host-record=a.eq.test,127.0.0.11 --host-record=b.eq.test,127.0.0.12 \
    --host-record=c.eq.test,127.0.0.13 \
    --host-record=implicit.test,127.0.0.7 \
    --cname=alias.test,implicit.test \
    --txt-record=txtonly.test,hello \
    --mx-host=nullmx.test,.,0 \
    --mx-host=noaddr.test,ghost.noaddr.test,10 \
    --mx-host=partial.test,ghost.partial.test,5 \
    --mx-host=partial.test,mx1.example.test,10 \
    --mx-host=ipmx.test,127.0.0.9,10 \
    --mx-host=gmail.com,gmail-smtp-in.l.google.com,5 \
    --mx-host=gmail.com,alt1.gmail-smtp-in.l.google.com,10 \
    --mx-host=gmail.com,alt2.gmail-smtp-in.l.google.com,20 \
    --mx-host=gmail.com,alt3.gmail-smtp-in.l.google.com,30 \
    --mx-host=gmail.com,alt4.gmail-smtp-in.l.google.com,40 \
    --host-record=gmail-smtp-in.l.google.com,127.0.1.1 \
    --host-record=alt1.gmail-smtp-in.l.google.com,127.0.1.2 \
    --host-record=alt2.gmail-smtp-in.l.google.com,127.0.1.3 \
    --host-record=alt3.gmail-smtp-in.l.google.com,127.0.1.4 \
    --host-record=alt4.gmail-smtp-in.l.google.com,127.0.1.5 \
    --mx-host=yahoo.test,mta6.am0.yahoodns.net,1 \
    --mx-host=yahoo.test,mta7.am0.yahoodns.net,1 \
    --mx-host=yahoo.test,mta5.am0.yahoodns.net,1 \
    --mx-host=yahoocase.test,mta5.AM0.yahoodns.net,1 \
    --mx-host=yahoocase.test,mta6.am0.yAHOodns.net,1 \
    --mx-host=yahoocase.test,mta7.am0.yahoodns.net,1 \
    --host-record=mta5.am0.yahoodns.net,127.0.2.5 \
    --host-record=mta6.am0.yahoodns.net,127.0.2.6 \
    --host-record=mta7.am0.yahoodns.net,127.0.2.7 \
    --mx-host=order1.test,example-com.mail.protection.outlook.com,10 \
    --mx-host=order1.test,mx-biz.mail.am0.yahoodns.net,20 \
    --mx-host=order2.test,mx-biz.mail.am0.yahoodns.net,10 \
    --mx-host=order2.test,example-com.mail.protection.outlook.com,20 \
    --host-record=example-com.mail.protection.outlook.com,127.0.3.1 \
    --host-record=mx-biz.mail.am0.yahoodns.net,127.0.3.2 \
    --mx-host=do.havedane.net,do.havedane.net,10 \
    --host-record=do.havedane.net,127.0.4.1 \
    --host-record=www.example.com,127.0.4.2 \
    --mx-host=example.com,.,0 \
    >"$T/dnsmasq.out" 2>&1 &
DNSMASQ_PID=$!
track $DNSMASQ_PID

probe() { "$DNSPROBE" "$@" 2>>"$T/dnsprobe.out"; }
dns_ready() { probe -r "$R" implicit.test | grep -q 'status=OK'; }
wait_for 10 dns_ready
ok $? "dnsmasq answers on 127.0.0.1:$DP"

# every domain at once, on one event loop
ALL=$(probe -r "$R" example.test eq.test implicit.test alias.test \
    txtonly.test nosuch.test nullmx.test noaddr.test partial.test \
    ipmx.test other.example gmail.com yahoo.test yahoocase.test \
    yahoo.test:123 order1.test order2.test do.havedane.net \
    www.example.com example.com Example.Test.:2600 \
    '[127.0.0.1]:2526' '[IPv6:::1]' '[IPv6:::1]:2526' '[::1]' \
    '[127.0.0.1]' '[1.2.3]')
line() { printf '%s\n' "$ALL" | awk -v d="$1" '$1 == d'; }
is "$(printf '%s\n' "$ALL" | wc -l)" 27 "one line per domain"

# MX order and addresses
l=$(line example.test)
like "$l" '^example\.test status=OK implicit=0 literal=0 site=\(mx1\|mx2\)\.example\.test hosts=mx1\.example\.test/10=127\.0\.0\.5:25;mx2\.example\.test/20=' \
    "example.test: MX hosts by preference, rolled-up site"
like "$l" 'mx2\.example\.test/20=(127\.0\.0\.6:25,\[::1\]:25|\[::1\]:25,127\.0\.0\.6:25)$' \
    "example.test: A and AAAA of mx2, with the default port"
like "$(probe -r "$R" -p 2526 example.test)" \
    'mx1\.example\.test/10=127\.0\.0\.5:2526;mx2\.example\.test/20=.*127\.0\.0\.6:2526' \
    "-p 2526: addresses get the default port given"
like "$(line Example.Test.:2600)" \
    '^Example\.Test\.:2600 status=OK .* site=\(mx1\|mx2\)\.example\.test:2600 hosts=mx1\.example\.test/10=127\.0\.0\.5:2600;' \
    "DOMAIN:PORT: the routing domain's port, case and trailing dot ignored, port in the site (as KumoMTA)"
is "$(line eq.test)" \
    "eq.test status=OK implicit=0 literal=0 site=(c|a|b).eq.test hosts=c.eq.test/5=127.0.0.13:25;a.eq.test/10=127.0.0.11:25;b.eq.test/10=127.0.0.12:25" \
    "equal preference: by name, case-insensitively (B.eq.test after a.eq.test)"

# implicit MX, NXDOMAIN, null MX
is "$(line implicit.test)" \
    "implicit.test status=OK implicit=1 literal=0 site=implicit.test hosts=implicit.test/0=127.0.0.7:25" \
    "no MX: the domain's own address, implicit=1, pref 0"
is "$(line alias.test)" \
    "alias.test status=OK implicit=1 literal=0 site=alias.test hosts=alias.test/0=127.0.0.7:25" \
    "no MX behind a CNAME: implicit MX through the CNAME"
like "$(line txtonly.test)" '^txtonly\.test status=TEMPFAIL implicit=1 .*error=domain txtonly\.test has no MX and no address' \
    "no MX and no address: TEMPFAIL"
is "$(line nosuch.test)" \
    "nosuch.test status=NXDOMAIN implicit=0 literal=0 site= error=domain nosuch.test not found" \
    "unknown domain: NXDOMAIN"
is "$(line nullmx.test)" \
    "nullmx.test status=NULLMX implicit=0 literal=0 site= error=domain nullmx.test accepts no mail (null MX)" \
    "MX 0 \".\": null MX (RFC 7505), empty site"

# hosts without an address
like "$(line noaddr.test)" '^noaddr\.test status=TEMPFAIL .*error=no address for the MX hosts of noaddr\.test: ghost\.noaddr\.test \(Domain name not found\)$' \
    "the only MX host has no address: TEMPFAIL naming it"
is "$(line partial.test)" \
    "partial.test status=OK implicit=0 literal=0 site=(ghost|mx1).(partial|example).test hosts=mx1.example.test/10=127.0.0.5:25" \
    "an MX host without address is dropped (and still counts in the site)"
is "$(line ipmx.test)" \
    "ipmx.test status=OK implicit=0 literal=0 site=127.0.0.9 hosts=127.0.0.9/10=127.0.0.9:25" \
    "an IP address as MX host name is used as it is"
like "$(line other.example)" '^other\.example status=TEMPFAIL .*error=MX lookup for other\.example: ' \
    "REFUSED by the server: TEMPFAIL with the c-ares error"

# IP literals
is "$(line '[127.0.0.1]:2526')" \
    "[127.0.0.1]:2526 status=OK implicit=0 literal=1 site=127.0.0.1:2526 hosts=127.0.0.1/0=127.0.0.1:2526" \
    "[127.0.0.1]:2526: direct, its port"
is "$(line '[IPv6:::1]')" \
    "[IPv6:::1] status=OK implicit=0 literal=1 site=::1 hosts=::1/0=[::1]:25" \
    "[IPv6:::1]: direct, default port, site the bare IP"
is "$(line '[IPv6:::1]:2526')" \
    "[IPv6:::1]:2526 status=OK implicit=0 literal=1 site=[::1]:2526 hosts=::1/0=[::1]:2526" \
    "[IPv6:::1]:2526: direct, its port"
is "$(line '[::1]')" \
    "[::1] status=OK implicit=0 literal=1 site=::1 hosts=::1/0=[::1]:25" \
    "[::1] (no IPv6: tag) is taken too, as KumoMTA does"
is "$(line '[127.0.0.1]')" \
    "[127.0.0.1] status=OK implicit=0 literal=1 site=127.0.0.1 hosts=127.0.0.1/0=127.0.0.1:25" \
    "[127.0.0.1]: site the bare IP"
like "$(line '[1.2.3]')" '^\[1\.2\.3\] status=NXDOMAIN .*error=invalid address literal' \
    "a malformed literal is refused"

# KumoMTA's own site_name examples (crates/mailexchanger/src/lib.rs tests)
is "$(line gmail.com)" \
    "gmail.com status=OK implicit=0 literal=0 site=(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com hosts=gmail-smtp-in.l.google.com/5=127.0.1.1:25;alt1.gmail-smtp-in.l.google.com/10=127.0.1.2:25;alt2.gmail-smtp-in.l.google.com/20=127.0.1.3:25;alt3.gmail-smtp-in.l.google.com/30=127.0.1.4:25;alt4.gmail-smtp-in.l.google.com/40=127.0.1.5:25" \
    "KumoMTA lookup_gmail_mx: (alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com"
like "$(line yahoo.test)" ' site=\(mta5\|mta6\|mta7\)\.am0\.yahoodns\.net hosts=mta5\.' \
    "KumoMTA name_factoring: (mta5|mta6|mta7).am0.yahoodns.net"
like "$(line yahoocase.test)" ' site=\(mta5\|mta6\|mta7\)\.am0\.yahoodns\.net hosts=' \
    "KumoMTA name_factoring: case is normalised"
like "$(line yahoo.test:123)" ' site=\(mta5\|mta6\|mta7\)\.am0\.yahoodns\.net:123 hosts=mta5\.am0\.yahoodns\.net/1=127\.0\.2\.5:123;' \
    "KumoMTA name_factoring: (mta5|mta6|mta7).am0.yahoodns.net:123"
like "$(line order1.test)" ' site=\(example-com\|mx-biz\)\.mail\.\(protection\|am0\)\.\(outlook\|yahoodns\)\.\(com\|net\) ' \
    "KumoMTA mx_order_name_factor, outlook first"
like "$(line order2.test)" ' site=\(mx-biz\|example-com\)\.mail\.\(am0\|protection\)\.\(yahoodns\|outlook\)\.\(net\|com\) ' \
    "KumoMTA mx_order_name_factor, yahoo first: another site"
is "$(line do.havedane.net)" \
    "do.havedane.net status=OK implicit=0 literal=0 site=do.havedane.net hosts=do.havedane.net/10=127.0.4.1:25" \
    "KumoMTA lookup_single_mx: do.havedane.net"
is "$(line www.example.com)" \
    "www.example.com status=OK implicit=1 literal=0 site=www.example.com hosts=www.example.com/0=127.0.4.2:25" \
    "KumoMTA mx_lookup_no_mx_falls_back_to_a: www.example.com"
like "$(line example.com)" '^example\.com status=NULLMX implicit=0 literal=0 site= error=' \
    "KumoMTA lookup_null_mx: empty site"

# sharing and caching: two at once, a third after the first answer
out=$(probe -s -r "$R" example.test)
like "$out" '^example\.test status=OK .*mx2\.example\.test/20=' "-s example.test answers"
is "$(printf '%s\n' "$out" | grep -c 'answers differ')" 0 "-s: the three answers agree"
is "$(printf '%s\n' "$out" | tail -n 1)" "lookups=3" \
    "-s: one MX query and two host lookups for three requests"
out=$(probe -s -r "$R" gmail.com eq.test)
is "$(printf '%s\n' "$out" | tail -n 1)" "lookups=10" \
    "-s on two domains at once: 1+5 and 1+3 lookups"
out=$(probe -s -r "$R" nosuch.test)
is "$(printf '%s\n' "$out" | tail -n 1)" "lookups=1" "NXDOMAIN is cached"
out=$(probe -s -r "$R" nullmx.test)
is "$(printf '%s\n' "$out" | tail -n 1)" "lookups=1" "null MX is cached"
out=$(probe -s -r "$R" other.example)
is "$(printf '%s\n' "$out" | tail -n 1)" "lookups=2" \
    "TEMPFAIL is shared while in flight but not cached"
out=$(probe -s -r "$R" '[127.0.0.1]:2526')
is "$(printf '%s\n' "$out" | tail -n 1)" "lookups=0" "a literal needs no lookup"

# shutdown with queries in flight: no callback
is "$(probe -x -r "$R" example.test gmail.com '[::1]')" "dropped=3 called=0" \
    "dns_shutdown drops pending requests without calling back"

# resolver strings
"$DNSPROBE" -r 127.0.0.1:99999 example.test >/dev/null 2>"$T/bad.err"
is $? 2 "bad resolver HOST:PORT: dns_init fails"
like "$(cat "$T/bad.err")" 'bad resolver "127\.0\.0\.1:99999"' "... saying why"
"$DNSPROBE" -r no.such.host:53 example.test >/dev/null 2>"$T/bad.err"
is $? 2 "a host name as resolver is refused"
like "$(probe -r "[::1]:$DP" '[127.0.0.1]')" '^\[127\.0\.0\.1\] status=OK' \
    "[::1]:PORT is a valid resolver"

# a server that never answers: c-ares timeouts through the libevent timer
SP=$(free_port)
"$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
time.sleep(120)
' "$SP" >"$T/silent.log" 2>&1 &
SILENT_PID=$!
track $SILENT_PID
wait_for 10 grep -q ready "$T/silent.log"
ok $? "a silent DNS server listens"
start=$(date +%s)
out=$(probe -r "127.0.0.1:$SP" example.test '[127.0.0.1]')
took=$(( $(date +%s) - start ))
like "$(printf '%s\n' "$out" | sed -n 1p)" \
    '^example\.test status=TEMPFAIL .*error=MX lookup for example\.test: Timeout while contacting DNS servers$' \
    "no answer: TEMPFAIL with the c-ares timeout"
like "$(printf '%s\n' "$out" | sed -n 2p)" '^\[127\.0\.0\.1\] status=OK' \
    "the literal beside it was not held up"
ok $([ "$took" -ge 5 ] && [ "$took" -le 30 ]; echo $?) \
    "the timeout took a bounded time (${took} s: 3 s, then 6 s)"

# no sanitizer report from the probe (cleanup checks $T/*.out too)
ok $(! grep -q 'Sanitizer\|runtime error:' "$T/dnsprobe.out"; echo $?) \
    "no sanitizer report from dnsprobe"
kill -0 "$DNSMASQ_PID" 2>/dev/null
ok $? "dnsmasq still running"
