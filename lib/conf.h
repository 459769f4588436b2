/*
 * conf.h - petrel.conf: one table of known keys (section, name, type,
 * default, help) drives the parser, `petreld -n`, the defaults and the
 * key list in petrel.conf(5).
 */
#ifndef PETREL_CONF_H
#define PETREL_CONF_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util.h"

#define CONF_DEFAULT_FILE	"/etc/petrel/petrel.conf"
#define CONF_MAX_LISTEN		16
#define CONF_MAX_NETS		64

struct petrel_conf {
	char		*file;
	char		*basedir;	/* relative paths start here */
	char		**given;	/* by conf_keys index: the value set, as
					   text (paths made absolute); NULL:
					   the default */

	/* [global] */
	char		*hostname;
	char		*spool_dir;
	char		*run_dir;
	char		*policy;
	int		 policy_given;	/* named in the file: must exist */
	int		 privsep;
	int		 syslog_facility;
	char		*syslog_socket;

	/* [smtpd] */
	char		*smtpd_user;
	char		*smtpd_chroot;
	struct sockaddr_storage smtpd_listen[CONF_MAX_LISTEN];
	socklen_t	 smtpd_listen_len[CONF_MAX_LISTEN];
	int		 smtpd_nlisten;
	int		 smtpd_workers;
	uint64_t	 smtpd_max_message_size;
	int		 smtpd_max_recipients;
	int		 smtpd_max_sessions;
	int		 smtpd_max_sessions_per_client;
	int		 smtpd_max_sessions_total;
	struct netmask	 smtpd_relay_from[CONF_MAX_NETS];
	int		 smtpd_nrelay_from;
	int64_t		 smtpd_timeout;
	int64_t		 smtpd_stress_timeout;	/* timeout when busy */
	int		 smtpd_min_data_rate;	/* bytes/s in DATA */
	char		*smtpd_tls_certificate;
	char		*smtpd_tls_private_key;

	/* [queued] */
	char		*queued_user;
	int64_t		 queued_retry_interval;
	int64_t		 queued_max_retry_interval;
	int64_t		 queued_max_age;
	int		 queued_active_limit;
	char		*queued_relayhost;

	/* [deliverd] */
	char		*deliverd_user;
	int		 deliverd_workers;
	char		*deliverd_chroot;
	int		 deliverd_smtp_port;
	char		*deliverd_resolver;
	char		*deliverd_ca_file;
	int64_t		 deliverd_data_timeout;
	int64_t		 deliverd_data_dot_timeout;

	/* [keysd] */
	char		*keysd_user;
	char		*keysd_key_dirs;
	char		*keysd_vault_address;
	char		*keysd_vault_token_file;
	char		*keysd_vault_ca_file;
	char		*keysd_vault_allow;
	char		*keysd_tls_key_files;
	char		*keysd_vault_namespace;
	char		*keysd_vault_auth;
	char		*keysd_vault_role_id_file;
	char		*keysd_vault_secret_id_file;
	int64_t		 keysd_vault_connect_timeout;
	int64_t		 keysd_vault_timeout;
	int64_t		 keysd_cache_ttl;
	int64_t		 keysd_stale_ttl;
	char		*keysd_state_dir;	/* rotated OAuth2 refresh tokens */
};

enum conf_type {
	CT_STRING,	/* free text */
	CT_LIST,	/* comma-separated words */
	CT_PATH,	/* absolute path or empty */
	CT_BOOL,	/* yes/no/true/false/on/off/1/0 */
	CT_INT,		/* positive decimal */
	CT_SIZE,	/* bytes with optional K/M/G suffix */
	CT_DURATION,	/* seconds or "20m", "8h", "7d", "5 min" */
	CT_LISTEN,	/* list of ADDR:PORT / [ADDR]:PORT */
	CT_NETS,	/* list of CIDR networks */
	CT_FACILITY,	/* syslog facility name */
	CT_RESOLVER,	/* "system" or HOST:PORT */
};

struct conf_key {
	const char	*section;
	const char	*name;
	enum conf_type	 type;
	const char	*def;
	size_t		 off;
	int		 flags;
	const char	*help;
};

/*
 * A reload keeps the running value: petreld bound, created or chose
 * these before the children started (sockets, users, directories, the
 * channel graph), so only a restart can change them.
 */
#define CK_RESTART	0x01

extern const struct conf_key conf_keys[];

/* errors are appended to errbuf, one "file:line: ..." per line */
int	 conf_load(struct petrel_conf *, const char *file, char *errbuf,
	    size_t errlen);
int	 conf_load_fd(struct petrel_conf *, const char *file, int fd,
	    char *errbuf, size_t errlen);
int	 conf_write(const struct petrel_conf *, FILE *);
int	 conf_key_equal(const struct petrel_conf *, const struct petrel_conf *,
	    int);
const char *conf_key_text(const struct petrel_conf *, int);
int	 conf_keep(struct petrel_conf *, const struct petrel_conf *, int);
void	 conf_free(struct petrel_conf *);
void	 conf_print_man(void);
const char *conf_type_name(enum conf_type);

#endif
