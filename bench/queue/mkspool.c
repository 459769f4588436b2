/*
 * mkspool - fill a petrel spool with N committed messages, without
 * SMTP, for bench/queue/run and t/integration/queue.t.
 *
 *	mkspool [-a attempts] [-n count] [-r rcpt] [-s spread] [-t next]
 *	    -d spool_dir
 *
 * Each message is what queued itself would have left after
 * deferring it: queue/<xx>/<id>.msg, a small text with a Message-ID
 * of <mkspool-I@bench>, then the envelope written by lib/envelope.c
 * with attempts and next attempt (-t: seconds from now, 0: due at
 * once; -s: the messages' next attempts spread evenly over that many
 * seconds more, so that they come due one by one) and the trailer
 * line; its mtime the retry stamp queued/spool.c reads (seconds: next
 * attempt, nanoseconds: 999000000 + attempts).  The ids' first byte
 * (the directory) is random, as in a queue that built up over hours:
 * msgid_new() would put a run this fast into one directory.  Nothing
 * is synced: run sync(1) after it when a crash must not lose them.
 */
#include "config.h"

#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envelope.h"

#define STAMP_NSEC	999000000L	/* as queued/spool.c */

static void
mkspool_dirs(void)
{
	char	 path[32];
	int	 i;

	if (mkdir("incoming", 0700) == -1 && errno != EEXIST)
		err(1, "mkdir incoming");
	if (mkdir("queue", 0700) == -1 && errno != EEXIST)
		err(1, "mkdir queue");
	if (mkdir("corrupt", 0700) == -1 && errno != EEXIST)
		err(1, "mkdir corrupt");
	for (i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "queue/%02x", i);
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			err(1, "mkdir %s", path);
	}
}

static void
mkspool_file(const char *path, const char *buf, size_t len,
    const struct timespec *mtime)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
		err(1, "%s", path);
	if (write(fd, buf, len) != (ssize_t)len)
		err(1, "write %s", path);
	if (mtime != NULL && futimens(fd, mtime) == -1)
		err(1, "futimens %s", path);
	if (close(fd) == -1)
		err(1, "close %s", path);
}

static void
mkspool_one(unsigned long i, const char *rcpt, uint32_t attempts,
    int64_t next)
{
	struct envelope	 env;
	struct timespec	 mtime[2];
	static const char hex[] = "0123456789abcdef";
	char		 path[64], text[512], *etext, *buf;
	char		 tail[MSGFILE_TRAILER_LEN + 1];
	size_t		 elen;
	int		 tlen;

	memset(&env, 0, sizeof(env));
	msgid_new(env.id);
	env.arrival = time(NULL);
	env.helo = strdup("mkspool.bench");
	env.client = strdup("127.0.0.1");
	env.from = strdup("sender@bench.example");
	env.body = strdup("7BIT");
	env.attempts = attempts;
	env.next_try = next;
	if (env.helo == NULL || env.client == NULL || env.from == NULL ||
	    env.body == NULL || envelope_add_rcpt(&env, rcpt, 0) == -1)
		err(1, "envelope");
	tlen = snprintf(text, sizeof(text), "Received: from mkspool.bench\r\n"
	    "From: <sender@bench.example>\r\nTo: <%s>\r\n"
	    "Subject: queued message %lu\r\n"
	    "Message-ID: <mkspool-%lu@bench>\r\n\r\nA queued message.\r\n",
	    rcpt, i, i);
	env.size = tlen;
	snprintf(env.id, 3, "%02x", (unsigned)arc4random_uniform(256));
	env.id[2] = hex[arc4random_uniform(16)];	/* snprintf's NUL */
	if (envelope_encode(&env, &etext, &elen) == -1)
		errx(1, "envelope_encode");
	msgfile_trailer(tail, tlen, elen);
	if ((buf = malloc(tlen + elen + MSGFILE_TRAILER_LEN)) == NULL)
		err(1, NULL);
	memcpy(buf, text, tlen);
	memcpy(buf + tlen, etext, elen);
	memcpy(buf + tlen + elen, tail, MSGFILE_TRAILER_LEN);
	mtime[0].tv_sec = 0;
	mtime[0].tv_nsec = UTIME_OMIT;
	mtime[1].tv_sec = next ? next : env.arrival;
	mtime[1].tv_nsec = next ? STAMP_NSEC + attempts : 0;
	snprintf(path, sizeof(path), "queue/%.2s/%s.msg", env.id, env.id);
	mkspool_file(path, buf, tlen + elen + MSGFILE_TRAILER_LEN, mtime);
	free(buf);
	free(etext);
	envelope_clear(&env);
}

static void
usage(void)
{
	fprintf(stderr, "usage: mkspool [-a attempts] [-n count] [-r rcpt] "
	    "[-s spread] [-t next] -d spool_dir\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	const char	*dir = NULL, *rcpt = "rcpt@bench.example";
	unsigned long	 n = 1000, i;
	long		 t = 3600, spread = 0;
	uint32_t	 attempts = 1;
	int64_t		 next;
	int		 ch;

	while ((ch = getopt(argc, argv, "a:d:n:r:s:t:")) != -1) {
		switch (ch) {
		case 'a':
			attempts = strtoul(optarg, NULL, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rcpt = optarg;
			break;
		case 's':
			spread = strtol(optarg, NULL, 10);
			break;
		case 't':
			t = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (dir == NULL || argc != optind)
		usage();
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		err(1, "mkdir %s", dir);
	if (chdir(dir) == -1)
		err(1, "chdir %s", dir);
	mkspool_dirs();
	for (i = 0; i < n; i++) {
		next = t > 0 || spread > 0 ? (int64_t)time(NULL) + t +
		    (int64_t)(i * spread / n) : 0;
		mkspool_one(i, rcpt, next ? attempts : 0, next);
	}
	return 0;
}
