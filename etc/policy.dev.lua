-- policy.dev.lua - the policy of `./quickstart run` (etc/petrel.conf.dev).
--
-- This is the first SMTP AUTH example of KumoMTA's documentation ("Delivering
-- Messages Using SMTP AUTH"), as it is there but for the user name: every
-- message leaves under verified TLS and with AUTH PLAIN as scott.  The dev
-- config relays everything to 127.0.0.1:2526 ([queued] relayhost), where
-- `./quickstart run` starts a demo relay (t/integration/authrelay.py) that
-- demands STARTTLS and then AUTH as scott/tiger, with a certificate from a
-- demo CA under ./var/demo ([deliverd] ca_file), so 'Required' verifies.
--
-- An inline password is for a demo only: in production keep it where only
-- keysd can read it, a key file under [keysd] key_dirs or Vault, e.g.
--   smtp_auth_plain_password = {
--     vault_mount = 'secret',
--     vault_path = 'smtp-auth/' .. routing_domain,
--   },
-- (see petrel-policy(5) and etc/policy.lua).

kumo.on(
  'get_egress_path_config',
  function(routing_domain, egress_source, site_name)
    return kumo.make_egress_path {
      enable_tls = 'Required',
      smtp_auth_plain_username = 'scott',
      -- The password can be any keysource value
      smtp_auth_plain_password = {
        key_data = 'tiger',
      },
    }
  end
)
