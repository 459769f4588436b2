/*
 * file.c - key files.  A key file is read only when its real path
 * (symbolic links and ".." resolved) lies below the real path of one
 * of key_dirs, on a path-component boundary: /etc/petrel/keys2/x is not
 * below /etc/petrel/keys.  The resolved path is opened with O_NOFOLLOW,
 * must be a regular file of at most 64 KiB, and loses one trailing
 * "\n" or "\r\n" (so `echo tiger > file` holds "tiger"); an empty file
 * or one with a NUL byte is refused.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keysd.h"
#include "util.h"

static uint64_t	 reads, refused;	/* petrelctl stats */

/* Is the real path rp strictly below the real directory dir? */
static int
path_below(const char *rp, const char *dir)
{
	size_t	 n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(rp, dir, n) == 0 && rp[n] == '/';
}

/*
 * The real path of a key file that lies below one of key_dirs, to be
 * freed by the caller; NULL with the reason otherwise.
 */
char *
file_resolve(const char *path, const char *key_dirs, char *err,
    size_t errlen)
{
	char	*rp, *dirs, *s, *d, *rd;
	int	 ok = 0;

	if ((rp = realpath(path, NULL)) == NULL) {
		snprintf(err, errlen, "key file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	s = dirs = xstrdup(key_dirs);
	while (!ok && (d = strsep(&s, ",")) != NULL) {
		d = str_trim(d);
		if (*d == '\0' || (rd = realpath(d, NULL)) == NULL)
			continue;
		ok = path_below(rp, rd);
		free(rd);
	}
	free(dirs);
	if (ok)
		return rp;
	refused++;
	if (strcmp(rp, path) != 0)
		snprintf(err, errlen, "key file %s (really %s) is outside "
		    "key_dirs (%s): refused", path, rp, key_dirs);
	else
		snprintf(err, errlen, "key file %s is outside key_dirs (%s): "
		    "refused", path, key_dirs);
	free(rp);
	return NULL;
}

/* A key file of a keysource: below key_dirs, then read. */
int
file_read_key(const char *path, const char *key_dirs, char **value,
    size_t *len, char *err, size_t errlen)
{
	char	*rp;
	int	 r;

	*value = NULL;
	*len = 0;
	if ((rp = file_resolve(path, key_dirs, err, errlen)) == NULL)
		return -1;
	reads++;
	r = file_read_secret("key file", rp, 1, value, len, err, errlen);
	if (r == -1 && strcmp(rp, path) != 0) {
		/* name the file as the keysource did */
		char	 tmp[1024];

		snprintf(tmp, sizeof(tmp), "%s (named %s)", err, path);
		strlcpy(err, tmp, errlen);
	}
	free(rp);
	return r;
}

/* Key files read, and refused for lying outside key_dirs. */
void
file_stats(struct keysd_stats *st)
{
	st->file_reads = reads;
	st->refused += refused;
}
