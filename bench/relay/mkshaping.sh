#!/bin/sh
# bench/relay/mkshaping.sh N FILE SMARTHOST -- a shaping.toml of N sections
# for the "petrel-shaping" system of bench/relay/run: a default, N - 2
# domain sections of the kinds operators write (rolled-up domains with
# limits and rates, routing domains with mx_rollup = false and AUTH from a
# key file or Vault, address literals, TLS settings), and the section of
# the benchmark's smart host, which says what bench/relay/policy.lua says.
set -eu
n=$1 out=$2 host=$3
awk -v n="$n" -v host="$host" 'BEGIN {
	print "[\"default\"]"
	print "connection_limit = 10"
	print "enable_tls = \"Opportunistic\""
	print ""
	for (i = 1; i <= n - 2; i++) {
		k = i % 5
		if (k == 0) {
			printf "[\"d%d.example\"]\nconnection_limit = %d\nmax_deliveries_per_connection = 100\nmax_message_rate = \"%d/s\"\n\n", i, i % 50 + 1, i % 100 + 1
		} else if (k == 1) {
			printf "[\"relay%d.example.net\"]\nmx_rollup = false\nenable_tls = \"Required\"\nsmtp_auth_plain_username = \"u%d\"\nsmtp_auth_plain_password = { vault_mount = \"secret\", vault_path = \"smtp/%d\" }\n\n", i, i, i
		} else if (k == 2) {
			printf "[\"10.%d.%d.%d\"]\nmx_rollup = false\nsmtp_auth_plain_username = \"u%d\"\nsmtp_auth_plain_password = { key_data = \"x\" }\n\n", int(i / 65536) % 256, int(i / 256) % 256, i % 256, i
		} else if (k == 3) {
			printf "[\"(mx1|mx2).d%d.example\"]\nconnection_limit = 3\nmax_connection_rate = \"10/min\"\nidle_timeout = \"30s\"\n\n", i
		} else {
			printf "[\"t%d.example.org\"]\nenable_tls = \"OpportunisticInsecure\"\nehlo_domain = \"out%d.example.com\"\nskip_hosts = [ \"192.0.2.%d/32\" ]\n\n", i, i, i % 256
		}
	}
	printf "[\"%s\"]\nmx_rollup = false\nenable_tls = \"OpportunisticInsecure\"\nconnection_limit = 32\nmax_deliveries_per_connection = 1024\nehlo_domain = \"bench.petrel.test\"\n", host
}' >"$out"
