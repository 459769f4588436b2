/*
 * util.h - small parsers every process shares: durations, sizes,
 * limits and rates, socket addresses, networks.
 */
#ifndef PETREL_UTIL_H
#define PETREL_UTIL_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

/* Descriptors kept back from fd_budget() for channels, logs, DNS. */
#define FD_RESERVE	64

struct netmask {
	int		 family;
	uint8_t		 addr[16];
	int		 bits;
};

int	 parse_duration(const char *, int64_t *secs);
int	 parse_size(const char *, uint64_t *bytes);
int	 parse_limit(const char *, uint64_t *);
int	 parse_rate(const char *, uint64_t *limit, uint64_t *period_secs,
	    uint64_t *max_burst);
int	 parse_hostport(const char *, int defport, struct sockaddr_storage *,
	    socklen_t *);
int	 parse_netmask(const char *, struct netmask *);
int	 netmask_match(const struct netmask *, const struct sockaddr *);
const char *sa_to_text(const struct sockaddr *, char *, size_t);
const char *sa_to_hostport(const struct sockaddr *, char *, size_t);
int	 sa_equal(const struct sockaddr *, const struct sockaddr *);
char	*str_trim(char *);
int	 fd_budget(void);
void	*xcalloc(size_t, size_t);
char	*xstrdup(const char *);

int	 durable_write(const char *dir, const char *name, const char *data,
	    size_t len, char *err, size_t errlen);

int	 list_fnmatch(const char *list, const char *s);
int	 cmp_u64(const void *, const void *);

#endif
