/*
 * secret.h - memory that holds a secret (a password, a token): locked
 * into RAM where the limits allow and zeroed before it is freed; and
 * allocators that zero what they free, for libraries (jansson, libcurl)
 * that copy secrets around.  Used by keysd and by deliverd's AUTH.
 */
#ifndef PETREL_SECRET_H
#define PETREL_SECRET_H

#include <stddef.h>

/* No core dump, no ptrace; jansson's strings zeroed when freed. */
void	 secret_hygiene(void);
void	*secret_alloc(size_t);
char	*secret_strndup(const char *, size_t);
void	 secret_free(void *, size_t);
void	 secret_free_str(char *);
void	 secret_grow(char **buf, size_t len, size_t *cap, size_t more,
	    size_t max);
void	 wipe_free(void *);
void	*wipe_malloc(size_t);
void	*wipe_realloc(void *, size_t);
char	*wipe_strdup(const char *);
void	*wipe_calloc(size_t, size_t);

#define KEY_FILE_MAX	(64 * 1024)	/* a key file's size at most */
/*
 * Read a small file that holds one secret (a key file, a token file;
 * one final newline dropped), what naming it in errors.  0 with
 * *value (a secret buffer, NUL-terminated) and *len; -1 with why.
 */
int	 file_read_secret(const char *what, const char *path, int nofollow,
	    char **value, size_t *len, char *err, size_t errlen);

#endif
