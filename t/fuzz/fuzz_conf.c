/*
 * fuzz_conf.c - the petrel.conf parser (lib/conf.c conf_load: inih
 * and petrel's handler, every key type's parser in lib/util.c), and
 * the form petreld hands its children (conf_write, conf_load_fd).
 *
 * Input: a petrel.conf; or, after a first byte 0x01, what a child
 * would read from petreld (conf_load_fd's "section.key=value" lines).
 *
 * Checked: an error is reported as text; a file that loads is written
 * with conf_write() and read back with conf_load_fd(), which must
 * succeed with every key equal (conf_key_equal), as a child's view of
 * the configuration must be petreld's.
 */
#include "config.h"

#include <sys/mman.h>

#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "fuzz.h"

static int
memfd(const char *name)
{
	int	 fd;

	if ((fd = memfd_create(name, MFD_CLOEXEC)) == -1)
		abort();
	return fd;
}

static void
fill(int fd, const void *p, size_t n)
{
	if (ftruncate(fd, 0) == -1 ||
	    (n > 0 && pwrite(fd, p, n, 0) != (ssize_t)n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 in = -1, out = -1;
	static char		 path[64];
	struct petrel_conf	 c, c2;
	char			 err[4096], err2[4096], *w = NULL;
	size_t			 wlen = 0;
	FILE			*fp;
	int			 i, r;

	if (in == -1) {
		in = memfd("petrel.conf");
		out = memfd("petrel.conf.child");
		snprintf(path, sizeof(path), "/proc/self/fd/%d", in);
	}
	if (size > 0 && data[0] == 0x01) {
		fill(in, data + 1, size - 1);
		r = conf_load_fd(&c, "fuzz.conf", in, err, sizeof(err));
		FUZZ_CHECK(r == 0 || err[0] != '\0');
		conf_free(&c);
		return 0;
	}
	fill(in, data, size);
	if (conf_load(&c, path, err, sizeof(err)) == -1) {
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(strlen(err) < sizeof(err));
		conf_free(&c);
		return 0;
	}
	FUZZ_CHECK(err[0] == '\0');

	/* petreld's view, handed to a child */
	if ((fp = open_memstream(&w, &wlen)) == NULL)
		abort();
	FUZZ_CHECK(conf_write(&c, fp) == 0);
	fclose(fp);
	fill(out, w, wlen);
	r = conf_load_fd(&c2, "child", out, err2, sizeof(err2));
	if (r != 0)
		fprintf(stderr, "conf_load_fd: %s\n", err2);
	FUZZ_CHECK(r == 0);
	for (i = 0; conf_keys[i].name != NULL; i++) {
		if (!conf_key_equal(&c, &c2, i))
			fprintf(stderr, "[%s] %s differs\n",
			    conf_keys[i].section, conf_keys[i].name);
		FUZZ_CHECK(conf_key_equal(&c, &c2, i));
	}
	free(w);
	conf_free(&c2);
	conf_free(&c);
	return 0;
}
