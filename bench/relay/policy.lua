-- bench/relay/policy.lua: the policy of the "petrel-policy" system in
-- bench/relay/run.  Both handlers are consulted for every message's queue
-- and site; petrel caches their answers (refresh_interval), so this run
-- must stay within 10 % of plain "petrel" in the same run.
local kumo = require 'kumo'

kumo.on('get_queue_config', function(domain, tenant, campaign, routing_domain)
  return kumo.make_queue_config {
    routing_domain = '[127.0.0.1]:2600',
    retry_interval = '20m',
    max_age = '7d',
  }
end)

kumo.on('get_egress_path_config', function(routing_domain, egress_source, site_name)
  return kumo.make_egress_path {
    enable_tls = 'OpportunisticInsecure',
    connection_limit = 32,
    max_deliveries_per_connection = 1024,
    ehlo_domain = 'bench.petrel.test',
  }
end)
