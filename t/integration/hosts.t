#!/bin/bash
# make_egress_path's skip_hosts and prohibited_hosts, as KumoMTA has them:
# a skipped MX address is never connected to and the next one is used; an
# MX made only of skipped hosts is a TransientFailure (4.4.4); an MX that
# includes a prohibited address fails the mail for good (5.4.4).
. "$(dirname "$0")/lib.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 9

run_sink 127.0.0.6; ok $? "sink A is up on 127.0.0.6"
mkdir -p "$T/sinkb"
"$PY" "$SRCDIR/t/integration/sink.py" 127.0.0.7 "$SP" "$T/sinkb" >"$T/sinkb.out" 2>&1 &
track $!
wait_for 20 test -e "$T/sinkb/ready"; ok $? "sink B is up on 127.0.0.7, same port"

DNSP=$(free_port)
start_dnsmasq "$DNSP" \
    --mx-host=skip.test,mx1.skip.test,10 --mx-host=skip.test,mx2.skip.test,20 \
    --host-record=mx1.skip.test,127.0.0.7 --host-record=mx2.skip.test,127.0.0.6 \
    --mx-host=only.test,mx1.skip.test,10 \
    --mx-host=bad.test,mx2.skip.test,10
ok $? "dnsmasq is up"

P=$T/policy.lua
cat >"$P" <<LUA
kumo.on('get_egress_path_config', function(domain, site_name)
  if domain == 'bad.test' then
    return kumo.make_egress_path { smtp_port = $SP, prohibited_hosts = { '127.0.0.6/32' } }
  end
  return kumo.make_egress_path { smtp_port = $SP, skip_hosts = { '127.0.0.7' } }
end)
LUA
POLICY=$P RELAYHOST= RESOLVER=127.0.0.1:$DNSP SYSLOG_SOCKET= write_conf
start_petrel; ok $? "petreld is up"

send() { swaks --server 127.0.0.1:"$PORT" --from a@example.org --to "$1" \
    --timeout 15 >"$T/swaks.out" 2>&1; }
logged() { grep -Eq -- "$1" "$T/petreld.out"; }

send r@skip.test
wait_for 15 logged 'event=Delivery .*rcpt=<r@skip.test> relay=mx2.skip.test'
ok $? "skip.test: the skipped first MX is passed over, the second takes it"
! grep -qs 'r@skip.test' "$T"/sinkb/*.eml
ok $? "sink B (the skipped host) never saw it"

send r@only.test
wait_for 15 logged 'event=TransientFailure .*rcpt=<r@only.test> .*4\.4\.4 MX consisted solely of hosts on the skip_hosts list'
ok $? "only.test: an MX of skipped hosts only is a TransientFailure 4.4.4"

send r@bad.test
wait_for 15 logged 'event=Bounce .*rcpt=<r@bad.test> .*5\.4\.4 MX of bad.test includes mx2.skip.test\[127.0.0.6\], which is in prohibited_hosts'
ok $? "bad.test: a prohibited MX address fails it for good (5.4.4)"
! grep -qs 'r@bad.test' "$T"/sink/*.eml
ok $? "and nothing was sent to it"
