#!/bin/bash
# The Lua policy: petreld -n names the file, the line and the field of
# every kind of bad policy and exits 1; KumoMTA's snippets run as they
# are; get_egress_path_config in both signatures changes what the next
# hop sees; get_queue_config makes a smart host of an IP literal with a
# port and of a name dnsmasq resolves; a handler that fails at run time
# defers the mail with the Lua error in the log line, and loses nothing.
. "$(dirname "$0")/lib.sh"
command -v dnsmasq >/dev/null || skip_all "dnsmasq not installed"
command -v swaks >/dev/null || skip_all "swaks not installed"
"$PY" -c 'import aiosmtpd' 2>/dev/null || skip_all "python3-aiosmtpd not installed"
plan 50

P=$T/policy.lua
policy() { cat >"$P"; }
check() { out=$("$PETRELD" -n -f "$T/petrel.conf" 2>&1); rc=$?; }
# bad "DESCRIPTION" REGEX: petreld -n refuses the policy with REGEX
bad() {
	check
	is "$rc" 1 "$1: petreld -n exits 1"
	like "$out" "$2" "$1: the message names it"
}

POLICY=$P RELAYHOST= SYSLOG_SOCKET= write_conf

policy <<'LUA'
kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  return kumo.make_egress_path {
    enable_tsl = 'Required',
  }
end)
LUA
bad "unknown field" "^$P:2: make_egress_path: unknown field 'enable_tsl'"

policy <<'LUA'
kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  return kumo.make_egress_path {
    smtp_port = 'twenty-five',
  }
end)
LUA
bad "wrong type" "^$P:2: make_egress_path: smtp_port: expected a port number from 1 to 65535, got 'twenty-five'"

policy <<'LUA'
kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  return kumo.make_egress_path { enable_tls = 'Sometimes' }
end)
LUA
bad "bad enum" "^$P:2: make_egress_path: enable_tls: expected one of 'Opportunistic', 'OpportunisticInsecure', 'Required', 'RequiredInsecure', 'Disabled', got 'Sometimes'"

policy <<'LUA'
kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  return kumo.make_queue_config {
    max_age = 'a fortnight',
  }
end)
LUA
bad "bad duration" "^$P:2: make_queue_config: max_age: expected a duration .*got 'a fortnight'"

policy <<'LUA'
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path {
    smtp_auth_plain_username = 'daniel',
    smtp_auth_plain_password = {
      vault_mount = 'secret',
      vault_pth = 'smtp/relay',
    },
  }
end)
LUA
bad "unknown keysource key" "^$P:2: make_egress_path: smtp_auth_plain_password: unknown key 'vault_pth'"

policy <<'LUA'
local routes = {}
kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  local r = routes[domain] or error('no route for ' .. domain)
  return kumo.make_egress_path(r)
end)
LUA
bad "a handler that raises" "^$P:3: no route for example.com \(probing get_egress_path_config for routing domain example.com, site example.com\)"

policy <<'LUA'
kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  local n = 0
  while true do n = n + 1 end
end)
LUA
bad "a handler that loops" "^$P:3: instruction limit exceeded in get_queue_config"

policy <<'LUA'
kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  return kumo.make_egress_path {
    connection_limit = 32
    enable_tls = 'Required',
  }
end)
LUA
bad "a syntax error" "^$P:4: '}' expected \(to close '\{' at line 2\) near 'enable_tls'"

policy <<'LUA'
kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  return kumo.make_queue_config { routing_domain = 'smart host' }
end)
LUA
bad "a bad smart host" "^$P:2: make_queue_config: routing_domain: expected '\[ADDR\]', '\[ADDR\]:PORT', '\[IPv6:ADDR\]' or a domain name, got 'smart host'"

POLICY=$T/missing.lua RELAYHOST= SYSLOG_SOCKET= write_conf
bad "a policy file named in petrel.conf that is missing" "petrel.conf: \[global\] policy = $T/missing.lua: No such file or directory"
POLICY=$P RELAYHOST= SYSLOG_SOCKET= write_conf

# KumoMTA's documentation snippets, as they are, with its other events
policy <<'LUA'
kumo.on('init', function()
  kumo.start_esmtp_listener { listen = '0.0.0.0:25' }
end)

kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path {
    enable_tls = 'Required',
    smtp_auth_plain_username = 'daniel',
    -- The password can be any keysource value
    smtp_auth_plain_password = {
      key_data = 'tiger',
    },
  }
end)

kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  return kumo.make_queue_config {
    max_age = '5 minutes',
  }
end)
LUA
check
is "$rc" 0 "KumoMTA's snippets: petreld -n exits 0"
like "$out" "configuration OK$" "KumoMTA's snippets: configuration OK"
like "$out" "kumo.on\(init\): petrel has no such event; the handler is never called" \
    "an event petrel does not have is named in a warning"
ok $(echo "$out" | grep -q tiger; [ $? = 1 ]; echo $?) "the key_data is not printed"

# --- delivery ------------------------------------------------------------
DNSP=$(free_port)
run_sink 127.0.0.6; ok $? "the sink listens on 127.0.0.6:$SP"
start_dnsmasq "$DNSP" \
    --mx-host=two.test,mx.two.test,10 --host-record=mx.two.test,127.0.0.6 \
    --mx-host=three.test,mx.three.test,10 --host-record=mx.three.test,127.0.0.6 \
    --mx-host=relay.test,mx.relay.test,10 --host-record=mx.relay.test,127.0.0.6 \
    --host-record=suspended.test,127.0.0.6 --host-record=efail.test,127.0.0.6
ok $? "dnsmasq is up"

send() {	# send TO MESSAGE-ID
	swaks --server 127.0.0.1 --port "$PORT" --from s@petrel.test --to "$1" \
	    --header "Message-ID: <$2@test>" >"$T/swaks.$2" 2>&1
}
arrived() { grep -lqs "^Message-ID: <$1@test>" "$T/sink"/*.eml; }
logged() { grep -Eq -- "$1" "$T/petreld.out"; }

# the older two-argument signature (domain, site_name)
policy <<LUA
kumo.on('get_egress_path_config', function(domain, site_name)
  return kumo.make_egress_path {
    ehlo_domain = 'two-args.' .. site_name,
    smtp_port = $SP,
  }
end)
LUA
POLICY=$P RELAYHOST= RESOLVER=127.0.0.1:$DNSP SYSLOG_SOCKET= write_conf
start_petrel; ok $? "petreld is up with a two-argument get_egress_path_config"
send u@two.test two; ok $? "accepted for two.test"
wait_for 20 arrived two; ok $? "delivered to two.test's MX on the policy's smtp_port"
grep -q '^EHLO two-args.mx.two.test$' "$T/sink/log"
ok $? "the sink saw the policy's ehlo_domain, made of site_name, the second argument"
stop_petrel

# the newer three-argument signature, and get_queue_config
policy <<LUA
local kumo = require 'kumo'

kumo.on('get_egress_path_config', function(domain, source_name, site_name)
  if domain == 'suspended.test' then
    return kumo.make_egress_path { suspended = true }
  end
  if domain == 'efail.test' then
    error('no egress path for ' .. domain)
  end
  if source_name ~= 'unspecified' then
    error('egress source ' .. tostring(source_name))
  end
  return kumo.make_egress_path {
    connection_limit = '1,000',
    ehlo_domain = 'three-args.petrel.test',
    smtp_port = $SP,
  }
end)

kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  if domain == 'literal.test' then
    return kumo.make_queue_config { routing_domain = '[127.0.0.6]:$SP' }
  elseif domain == 'smarthost.test' then
    return kumo.make_queue_config { routing_domain = 'relay.test' }
  elseif domain == 'qfail.test' then
    error('no queue for ' .. domain)
  end
  return kumo.make_queue_config {}
end)
LUA
: >"$T/sink/log"
start_petrel; ok $? "petreld is up with a three-argument handler and get_queue_config"
send u@three.test three; ok $? "accepted for three.test"
wait_for 20 arrived three; ok $? "delivered to three.test"
grep -q '^EHLO three-args.petrel.test$' "$T/sink/log"
ok $? "the sink saw the three-argument handler's ehlo_domain"

send u@literal.test literal; ok $? "accepted for literal.test (no such domain in DNS)"
wait_for 20 arrived literal; ok $? "get_queue_config's IP literal with a port is the smart host"
logged "event=Delivery from=<s@petrel.test> rcpt=<u@literal.test> relay=127.0.0.6\[127.0.0.6\]:$SP "
ok $? "the Delivery line names the literal smart host"

send u@smarthost.test smarthost; ok $? "accepted for smarthost.test (not in DNS either)"
wait_for 20 arrived smarthost; ok $? "get_queue_config's name is resolved by dnsmasq: MX, then A"
logged "event=Delivery from=<s@petrel.test> rcpt=<u@smarthost.test> relay=mx.relay.test\[127.0.0.6\]:$SP "
ok $? "the Delivery line names the MX of the smart host"

send u@suspended.test suspended; ok $? "accepted for suspended.test"
wait_for 20 logged "domain=suspended.test: suspended by policy; 1 message\(s\) held"
ok $? "a suspended path holds its mail (untried, as KumoMTA does)"

send u@efail.test efail; ok $? "accepted for efail.test"
wait_for 20 logged "event=TransientFailure from=<s@petrel.test> rcpt=<u@efail.test> .*response=\"4.3.0 policy error: $P:8: no egress path for efail.test\""
ok $? "an egress handler that raises defers with the Lua error and its line"

send u@qfail.test qfail; ok $? "accepted for qfail.test"
wait_for 20 logged "event=TransientFailure from=<s@petrel.test> rcpt=<u@qfail.test> .*response=\"4.3.0 policy error: $P:26: no queue for qfail.test\""
ok $? "a queue handler that raises defers with the Lua error and its line"

is "$(spool_count)" 3 "the three deferred messages wait in the spool"
for m in three literal smarthost; do
	grep -ls "^Message-ID: <$m@test>" "$T/sink"/*.eml
done | sort -u | wc -l | grep -qx 3
ok $? "each delivered message arrived once"
logged "event=Delivery .*rcpt=<u@(suspended|efail|qfail).test>"
ok $([ $? = 1 ]; echo $?) "nothing was sent for the deferred ones"

stop_petrel; ok $? "petreld stops"
