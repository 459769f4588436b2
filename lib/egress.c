/*
 * egress.c - an egress path's defaults and its clean-up (egress.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "egress.h"
#include "keysource.h"
#include "util.h"

void
egress_defaults(struct egress *eg, const struct petrel_conf *conf)
{
	memset(eg, 0, sizeof(*eg));
	eg->enable_tls = TLS_OPPORTUNISTIC;
	eg->smtp_port = conf->deliverd_smtp_port;
	strlcpy(eg->ehlo_domain, conf->hostname, sizeof(eg->ehlo_domain));
	eg->connection_limit = 32;
	eg->max_deliveries_per_connection = 1024;
	eg->enable_pipelining = 1;
	eg->enable_rset = 1;
	eg->connect_timeout = 60;
	eg->banner_timeout = 60;
	eg->ehlo_timeout = 300;
	eg->starttls_timeout = 5;
	eg->auth_timeout = 60;
	eg->mail_from_timeout = 300;
	eg->rcpt_to_timeout = 300;
	eg->data_timeout = conf->deliverd_data_timeout;
	eg->data_dot_timeout = conf->deliverd_data_dot_timeout;
	eg->idle_timeout = 60;
	eg->refresh_interval = 60;
}

static void
free_list(char **v, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
}

void
egress_clear(struct egress *eg)
{
	free(eg->smtp_auth_plain_username);
	keysource_free(eg->smtp_auth_plain_password);
	keysource_free(eg->tls_certificate);
	keysource_free(eg->tls_private_key);
	free_list(eg->smtp_auth_mechanisms, EGRESS_MAX_MECHS);
	free_list(eg->prohibited_hosts, EGRESS_MAX_HOSTS);
	free_list(eg->skip_hosts, EGRESS_MAX_HOSTS);
	memset(eg, 0, sizeof(*eg));
}

static void
copy_list(char **dst, char *const *src, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		dst[i] = src[i] != NULL ? xstrdup(src[i]) : NULL;
}

void
egress_copy(struct egress *dst, const struct egress *src)
{
	*dst = *src;
	if (src->smtp_auth_plain_username != NULL)
		dst->smtp_auth_plain_username =
		    xstrdup(src->smtp_auth_plain_username);
	dst->smtp_auth_plain_password =
	    keysource_copy(src->smtp_auth_plain_password);
	dst->tls_certificate = keysource_copy(src->tls_certificate);
	dst->tls_private_key = keysource_copy(src->tls_private_key);
	copy_list(dst->smtp_auth_mechanisms, src->smtp_auth_mechanisms,
	    EGRESS_MAX_MECHS);
	copy_list(dst->prohibited_hosts, src->prohibited_hosts,
	    EGRESS_MAX_HOSTS);
	copy_list(dst->skip_hosts, src->skip_hosts, EGRESS_MAX_HOSTS);
}

/* The lists were checked by make_egress_path; an entry that does not parse
 * (it cannot) matches nothing. */
int
egress_hosts_match(char *const *list, const struct sockaddr *sa)
{
	struct netmask	 nm;
	int		 i;

	for (i = 0; i < EGRESS_MAX_HOSTS && list[i] != NULL; i++)
		if (parse_netmask(list[i], &nm) == 0 && netmask_match(&nm, sa))
			return 1;
	return 0;
}
