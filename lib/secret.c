/*
 * secret.c - memory that holds a secret.  A secret buffer is locked
 * into RAM where the limits allow (a failure is ignored: core dumps
 * are off anyway) and zeroed before it is freed.  The wipe_*()
 * allocators are handed to jansson and libcurl, so their own copies
 * of a Vault answer or of the token header are zeroed as they go.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "secret.h"

/*
 * No core dump, no ptrace by the same user, and jansson's strings
 * (a parsed Vault answer holds the secret) zeroed when freed.
 */
void
secret_hygiene(void)
{
	struct rlimit	 rl = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		log_warn("setrlimit(RLIMIT_CORE)");
	json_set_alloc_funcs(wipe_malloc, wipe_free);
}

void *
secret_alloc(size_t n)
{
	void	*p;

	if ((p = calloc(1, n ? n : 1)) == NULL)
		fatal("calloc");
	/*
	 * Never unlocked: the page may hold another secret still in use.
	 * Over RLIMIT_MEMLOCK this fails, which is fine.
	 */
	(void)mlock(p, n ? n : 1);
	return p;
}

/* A copy of s[0..len) with a NUL after it. */
char *
secret_strndup(const char *s, size_t len)
{
	char	*p = secret_alloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void
secret_free(void *p, size_t n)
{
	if (p == NULL)
		return;
	explicit_bzero(p, n);
	free(p);
}

void
secret_free_str(char *s)
{
	if (s != NULL)
		secret_free(s, strlen(s));
}

/* The allocators for libraries that copy secrets around. */
void *
wipe_malloc(size_t n)
{
	return malloc(n);
}

void *
wipe_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

void
wipe_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/* realloc() would free the old block unwiped: move by hand. */
void *
wipe_realloc(void *p, size_t n)
{
	size_t	 old;
	void	*q;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		wipe_free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	if (n <= old)
		return p;
	if ((q = malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, old);
	wipe_free(p);
	return q;
}

char *
wipe_strdup(const char *s)
{
	size_t	 n = strlen(s) + 1;
	char	*p;

	if ((p = malloc(n)) != NULL)
		memcpy(p, s, n);
	return p;
}

/*
 * Room for more bytes and a NUL after the len used of a growing secret
 * buffer (*buf, *cap allocated; both 0 at first): a buffer twice as big
 * (from 4 KiB, at most max + 1 when max is not 0) takes the text and
 * the old one is wiped and freed; never realloc(3), which could leave
 * a copy behind.  The caller keeps len + more within max.
 */
void
secret_grow(char **buf, size_t len, size_t *cap, size_t more, size_t max)
{
	size_t	 ncap;
	char	*nb;

	if (len + more + 1 <= *cap)
		return;
	for (ncap = *cap ? *cap * 2 : 4096; ncap < len + more + 1; ncap *= 2)
		;
	if (max != 0 && ncap > max + 1 && len + more + 1 <= max + 1)
		ncap = max + 1;
	nb = secret_alloc(ncap);
	if (len > 0)
		memcpy(nb, *buf, len);
	secret_free(*buf, *cap);
	*buf = nb;
	*cap = ncap;
}

/*
 * Read a small file that holds one secret, what naming it in errors
 * ("key file", "vault_token_file").  0 with *value (a secret buffer)
 * and *len; -1 with the reason.
 */
int
file_read_secret(const char *what, const char *path, int nofollow,
    char **value, size_t *len, char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd, ret = -1;

	*value = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    (nofollow ? O_NOFOLLOW : 0));
	if (fd == -1) {
		snprintf(err, errlen, "%s %s: cannot open: %s", what, path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s is not a regular file", what,
		    path);
		close(fd);
		return -1;
	}
	buf = secret_alloc(KEY_FILE_MAX + 1);
	while (n <= KEY_FILE_MAX) {
		r = read(fd, buf + n, KEY_FILE_MAX + 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "%s %s: read: %s", what, path,
			    strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		n += r;
	}
	if (n > KEY_FILE_MAX) {
		snprintf(err, errlen, "%s %s is larger than %d KiB: refused",
		    what, path, KEY_FILE_MAX / 1024);
		goto done;
	}
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s %s is empty: refused", what, path);
		goto done;
	}
	if (memchr(buf, '\0', n) != NULL) {
		snprintf(err, errlen, "%s %s contains a NUL byte: refused",
		    what, path);
		goto done;
	}
	*value = secret_strndup(buf, n);
	*len = n;
	ret = 0;
done:
	secret_free(buf, KEY_FILE_MAX + 1);
	close(fd);
	return ret;
}
