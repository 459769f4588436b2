/*
 * driver.c - a main() for a fuzz target without libFuzzer: runs its
 * LLVMFuzzerTestOneInput() once over each file named, and over every
 * file in each directory named (not recursing), in name order.  This
 * is how make check replays the committed corpus in the ordinary
 * (gcc, ASan/UBSan) build: a crash found once stays fixed.
 *
 *	replay_NAME FILE|DIR...
 *
 * Prints "N inputs" on success; a crash is the sanitizer's report (or
 * the target's FUZZ_CHECK) and a non-zero exit.
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static int	 ninputs;

static int
run_file(const char *path)
{
	struct stat	 st;
	uint8_t		*buf;
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	/* a copy of exactly the file's size, so ASan sees a read past it */
	if ((buf = malloc(st.st_size > 0 ? st.st_size : 1)) == NULL) {
		fprintf(stderr, "%s: out of memory\n", path);
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		if ((n = read(fd, buf + off, st.st_size - off)) <= 0) {
			fprintf(stderr, "%s: %s\n", path,
			    n == 0 ? "short read" : strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		off += n;
	}
	close(fd);
	fprintf(stderr, "# %s\n", path);
	LLVMFuzzerTestOneInput(buf, off);
	free(buf);
	ninputs++;
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_dir(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	char		**names = NULL, *path;
	size_t		 n = 0, cap = 0, i;
	int		 rc = 0;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((names = realloc(names, cap * sizeof(*names))) ==
			    NULL) {
				fprintf(stderr, "out of memory\n");
				exit(2);
			}
		}
		if ((names[n++] = strdup(de->d_name)) == NULL) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		if (asprintf(&path, "%s/%s", dir, names[i]) == -1) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
		if (run_file(path) == -1)
			rc = -1;
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct stat	 st;
	int		 i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode) ? run_dir(argv[i]) == -1 :
		    run_file(argv[i]) == -1)
			rc = 1;
	}
	printf("%d inputs\n", ninputs);
	return rc;
}
