-- /etc/petrel/policy.lua - the Lua policy, KumoMTA-compatible; see
-- petrel-policy(5).  As installed it changes nothing: every destination
-- gets the defaults until the tables below say otherwise.
--
-- petrel runs KumoMTA's get_egress_path_config and get_queue_config
-- handlers.  This file is read when petrel starts, before its processes
-- chroot: read any data the handlers need here, at the top level, not
-- inside a handler.  Check a change with `petreld -n`, which also calls
-- each handler once for example.com; restart petreld to apply it.

local kumo = require 'kumo'

-- How to send, by site name (the MX rollup) or by routing domain: any
-- field make_egress_path takes.  To keep this in a KumoMTA shaping file
-- instead (etc/shaping.toml, petrel-policy(5) SHAPING), replace the
-- get_egress_path_config handler at the end with:
--   local shaping = require 'policy-extras.shaping'
--   kumo.on('get_egress_path_config', shaping:setup { '/etc/petrel/shaping.toml' })
local SHAPING = {
  -- ['(alt1|alt2|alt3|alt4)?.gmail-smtp-in.l.google.com'] = {
  --   connection_limit = 5,
  --   max_deliveries_per_connection = 50,
  -- },
  -- ['example.net'] = { enable_tls = 'Required' },
}

-- Smart hosts, by recipient domain: an IP literal ('[192.0.2.25]:587')
-- is connected to directly, a name is resolved by MX.  Domains not
-- listed go to [queued] relayhost if set, else by MX.
local SMART_HOST = {
  -- ['example.org'] = '[192.0.2.25]:587',
}

-- Per smart host (its site name: the bare IP, ':PORT' when given),
-- e.g. a login kept in Vault, read by keysd only.
local RELAY_LOGIN = {
  -- ['192.0.2.25:587'] = {
  --   enable_tls = 'Required',
  --   smtp_auth_plain_username = 'relay-user',
  --   smtp_auth_plain_password = {
  --     vault_mount = 'secret',
  --     vault_path = 'smtp/relay',
  --     vault_key = 'password',
  --   },
  -- },
}

kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  if SMART_HOST[domain] then
    return kumo.make_queue_config {
      routing_domain = SMART_HOST[domain],
      retry_interval = '5 min',
    }
  end
  return kumo.make_queue_config {}
end)

kumo.on('get_egress_path_config', function(routing_domain, egress_source, site_name)
  local params = {}
  for k, v in pairs(RELAY_LOGIN[site_name] or SHAPING[site_name]
      or SHAPING[routing_domain] or {}) do
    params[k] = v
  end
  return kumo.make_egress_path(params)
end)
