/*
 * test_keysd_file.c - keysd's key files (keysd/file.c) in real
 * temporary directories: only below key_dirs on a path-component
 * boundary, after symbolic links and ".." are resolved; one trailing
 * newline stripped; empty, NUL-bearing, oversized and special files
 * refused.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../keysd/keysd.h"

static char	 top[PATH_MAX], keys[PATH_MAX + 16], err[2048];

static void
setup(void)
{
	char	 p[PATH_MAX + 64];

	strcpy(top, "/tmp/petrel-keysd-XXXXXX");
	cr_assert_not_null(mkdtemp(top));
	snprintf(keys, sizeof(keys), "%s/keys", top);
	cr_assert_eq(mkdir(keys, 0700), 0);
	snprintf(p, sizeof(p), "%s/keys2", top);
	cr_assert_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/outside", top);
	cr_assert_eq(mkdir(p, 0700), 0);
}

static void
teardown(void)
{
	char	 cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", top);
}

TestSuite(keysd_file, .init = setup, .fini = teardown);

/* top/rel with these bytes; returns the full path (static). */
static const char *
put(const char *rel, const char *data, size_t len)
{
	static char	 p[PATH_MAX + 64];
	FILE		*f;

	snprintf(p, sizeof(p), "%s/%s", top, rel);
	cr_assert_not_null(f = fopen(p, "w"));
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	return p;
}

/* top/rel; two may be used in one call */
static const char *
at(const char *rel)
{
	static char	 p[2][PATH_MAX + 64];
	static int	 i;

	i = !i;
	snprintf(p[i], sizeof(p[i]), "%s/%s", top, rel);
	return p[i];
}

static int
readkey(const char *path, const char *dirs, char **v, size_t *len)
{
	err[0] = '\0';
	return file_read_key(path, dirs, v, len, err, sizeof(err));
}

Test(keysd_file, inside_key_dirs_is_read_and_one_newline_stripped)
{
	char	*v;
	size_t	 len;

	cr_assert_eq(readkey(put("keys/a", "tiger\n", 6), keys, &v, &len), 0);
	cr_assert_str_eq(v, "tiger");
	cr_assert_eq(len, 5);
	secret_free(v, len);
	cr_assert_eq(readkey(put("keys/b", "tiger\r\n", 7), keys, &v, &len),
	    0);
	cr_assert_str_eq(v, "tiger");
	secret_free(v, len);
	cr_assert_eq(readkey(put("keys/c", "tiger", 5), keys, &v, &len), 0);
	cr_assert_str_eq(v, "tiger");
	secret_free(v, len);
	/* only one: the second newline is part of the secret */
	cr_assert_eq(readkey(put("keys/d", "tiger\n\n", 7), keys, &v, &len),
	    0);
	cr_assert_str_eq(v, "tiger\n");
	cr_assert_eq(len, 6);
	secret_free(v, len);
}

Test(keysd_file, second_of_several_key_dirs_and_trailing_slash)
{
	char	 dirs[3 * PATH_MAX], *v;
	size_t	 len;

	snprintf(dirs, sizeof(dirs), "/nonexistent/dir, %s/outside, %s/", top,
	    keys);
	cr_assert_eq(readkey(put("keys/a", "x\n", 2), dirs, &v, &len), 0,
	    "%s", err);
	cr_assert_str_eq(v, "x");
	secret_free(v, len);
}

Test(keysd_file, outside_key_dirs_is_refused)
{
	char	*v = (char *)1;
	size_t	 len;
	char	 want[PATH_MAX * 4];

	cr_assert_eq(readkey(put("outside/x", "tiger\n", 6), keys, &v, &len),
	    -1);
	cr_assert_null(v);
	snprintf(want, sizeof(want), "key file %s/outside/x is outside "
	    "key_dirs (%s): refused", top, keys);
	cr_assert_str_eq(err, want);
	cr_assert_null(strstr(err, "tiger"));
}

Test(keysd_file, symlink_leading_outside_is_refused)
{
	char	*v;
	size_t	 len;

	put("outside/x", "tiger\n", 6);
	cr_assert_eq(symlink(at("outside/x"), at("keys/link")), 0);
	cr_assert_eq(readkey(at("keys/link"), keys, &v, &len), -1);
	cr_assert(strstr(err, "is outside key_dirs") != NULL, "%s", err);
	cr_assert(strstr(err, "really") != NULL, "%s", err);
	/* a directory symlink in the middle is resolved too */
	cr_assert_eq(symlink(at("outside"), at("keys/dir")), 0);
	cr_assert_eq(readkey(at("keys/dir/x"), keys, &v, &len), -1);
	cr_assert(strstr(err, "is outside key_dirs") != NULL, "%s", err);
}

Test(keysd_file, symlink_staying_inside_is_read)
{
	char	*v;
	size_t	 len;

	put("keys/real", "tiger\n", 6);
	cr_assert_eq(symlink("real", at("keys/link")), 0);
	cr_assert_eq(readkey(at("keys/link"), keys, &v, &len), 0, "%s", err);
	cr_assert_str_eq(v, "tiger");
	secret_free(v, len);
}

Test(keysd_file, dotdot_leading_outside_is_refused)
{
	char	*v;
	size_t	 len;

	put("outside/x", "tiger\n", 6);
	cr_assert_eq(readkey(at("keys/../outside/x"), keys, &v, &len), -1);
	cr_assert(strstr(err, "is outside key_dirs") != NULL, "%s", err);
}

Test(keysd_file, prefix_but_not_component_is_refused)
{
	char	*v;
	size_t	 len;

	/* top/keys2/x starts with top/keys but is not below it */
	cr_assert_eq(readkey(put("keys2/x", "tiger\n", 6), keys, &v, &len),
	    -1);
	cr_assert(strstr(err, "is outside key_dirs") != NULL, "%s", err);
	/* nor is key_dirs itself a key file */
	cr_assert_eq(readkey(keys, keys, &v, &len), -1);
	cr_assert(strstr(err, "is outside key_dirs") != NULL, "%s", err);
}

Test(keysd_file, empty_and_newline_only_files_are_refused)
{
	char	*v;
	size_t	 len;

	cr_assert_eq(readkey(put("keys/e", "", 0), keys, &v, &len), -1);
	cr_assert(strstr(err, "is empty: refused") != NULL, "%s", err);
	cr_assert_eq(readkey(put("keys/n", "\n", 1), keys, &v, &len), -1);
	cr_assert(strstr(err, "is empty: refused") != NULL, "%s", err);
	cr_assert_eq(readkey(put("keys/rn", "\r\n", 2), keys, &v, &len), -1);
	cr_assert(strstr(err, "is empty: refused") != NULL, "%s", err);
}

Test(keysd_file, nul_byte_is_refused)
{
	char	*v;
	size_t	 len;

	cr_assert_eq(readkey(put("keys/z", "ti\0ger\n", 7), keys, &v, &len),
	    -1);
	cr_assert(strstr(err, "contains a NUL byte") != NULL, "%s", err);
}

Test(keysd_file, larger_than_64k_is_refused)
{
	char	*big, *v;
	size_t	 len;

	big = malloc(KEY_FILE_MAX + 1);
	memset(big, 'a', KEY_FILE_MAX + 1);
	cr_assert_eq(readkey(put("keys/exact", big, KEY_FILE_MAX), keys, &v,
	    &len), 0, "%s", err);
	cr_assert_eq(len, KEY_FILE_MAX);
	secret_free(v, len);
	cr_assert_eq(readkey(put("keys/big", big, KEY_FILE_MAX + 1), keys, &v,
	    &len), -1);
	cr_assert(strstr(err, "larger than 64 KiB") != NULL, "%s", err);
	free(big);
}

Test(keysd_file, missing_directory_and_fifo_are_refused)
{
	char	*v;
	size_t	 len;

	cr_assert_eq(readkey(at("keys/none"), keys, &v, &len), -1);
	cr_assert(strstr(err, "No such file") != NULL, "%s", err);
	cr_assert_eq(mkdir(at("keys/sub"), 0700), 0);
	cr_assert_eq(readkey(at("keys/sub"), keys, &v, &len), -1);
	cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
	/* a FIFO neither blocks the reader nor passes */
	cr_assert_eq(mkfifo(at("keys/fifo"), 0600), 0);
	cr_assert_eq(readkey(at("keys/fifo"), keys, &v, &len), -1);
	cr_assert(strstr(err, "not a regular file") != NULL, "%s", err);
}

Test(keysd_file, token_file_follows_symlinks_and_strips_newline)
{
	char	*v;
	size_t	 len;

	put("outside/token", "s.abc\n", 6);
	cr_assert_eq(symlink(at("outside/token"), at("keys/tok")), 0);
	cr_assert_eq(file_read_secret("vault_token_file", at("keys/tok"), 0,
	    &v, &len, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(v, "s.abc");
	secret_free(v, len);
	/* with nofollow the same link is not opened */
	cr_assert_eq(file_read_secret("key file", at("keys/tok"), 1, &v,
	    &len, err, sizeof(err)), -1);
	cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
}
