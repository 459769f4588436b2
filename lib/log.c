/*
 * log.c - one line per event to syslog, and to stderr with -d.
 *
 * petrel speaks to the syslog socket itself rather than through
 * syslog(3): the socket path is configurable (tests run their own
 * rsyslogd) and the socket must be connected before a process chroots.
 * Messages are RFC 3164 datagrams, the format every Debian syslogd
 * accepts on /dev/log.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char	 log_ident[64] = "petrel";
static int	 log_foreground = 1;
static int	 log_verbosity;
static int	 log_fd = -1;
static int	 log_facility = LOG_MAIL;
static struct sockaddr_un log_sun;

void
log_init(const char *proc, int foreground, int verbose)
{
	log_foreground = foreground;
	log_verbosity = verbose;
	log_setproc(proc);
}

void
log_setproc(const char *proc)
{
	if (proc == NULL || *proc == '\0')
		snprintf(log_ident, sizeof(log_ident), "petrel");
	else
		snprintf(log_ident, sizeof(log_ident), "petrel/%s", proc);
}

int
log_verbose(void)
{
	return log_verbosity;
}

/*
 * Connect to the syslog socket.  Called before chroot; the connected
 * socket survives it.  Returns -1 (and logs to stderr only) when the
 * socket cannot be reached: logging must never stop mail.
 */
int
log_open_syslog(const char *socketpath, int facility)
{
	log_facility = facility;
	if (log_fd != -1) {
		close(log_fd);
		log_fd = -1;
	}
	if (socketpath == NULL || *socketpath == '\0')
		return 0;
	memset(&log_sun, 0, sizeof(log_sun));
	log_sun.sun_family = AF_UNIX;
	if (strlen(socketpath) >= sizeof(log_sun.sun_path))
		return -1;
	strcpy(log_sun.sun_path, socketpath);
	if ((log_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(log_fd, (struct sockaddr *)&log_sun, sizeof(log_sun)) == -1) {
		int saved = errno;
		close(log_fd);
		log_fd = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

static void
log_emit(int pri, const char *fmt, va_list ap, int with_errno, int saved_errno)
{
	char	 msg[2048], line[2300];
	int	 n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		size_t	 l = strlen(msg);
		snprintf(msg + l, sizeof(msg) - l, ": %s", strerror(saved_errno));
	}
	if (log_foreground) {
		fprintf(stderr, "%s[%d]: %s\n", log_ident, (int)getpid(), msg);
		fflush(stderr);
	}
	if (log_fd != -1) {
		time_t	 now = time(NULL);
		struct tm tm;
		char	 ts[32];

		localtime_r(&now, &tm);
		strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "<%d>%s %s[%d]: %s",
		    log_facility | pri, ts, log_ident, (int)getpid(), msg);
		if (n > (int)sizeof(line) - 1)
			n = sizeof(line) - 1;
		if (send(log_fd, line, n, MSG_DONTWAIT | MSG_NOSIGNAL) == -1 &&
		    (errno == ECONNREFUSED || errno == ENOTCONN)) {
			/* syslogd restarted: reconnect (works unless chrooted) */
			if (connect(log_fd, (struct sockaddr *)&log_sun,
			    sizeof(log_sun)) == 0)
				(void)send(log_fd, line, n,
				    MSG_DONTWAIT | MSG_NOSIGNAL);
		}
	}
}

#define LOGFN(name, pri, err, cond)					\
void									\
name(const char *fmt, ...)						\
{									\
	va_list	 ap;							\
	int	 saved = errno;						\
	if (!(cond))							\
		return;							\
	va_start(ap, fmt);						\
	log_emit(pri, fmt, ap, err, saved);				\
	va_end(ap);							\
	errno = saved;							\
}

LOGFN(log_warn, LOG_WARNING, 1, 1)
LOGFN(log_warnx, LOG_WARNING, 0, 1)
LOGFN(log_info, LOG_INFO, 0, 1)
LOGFN(log_debug, LOG_DEBUG, 0, log_verbosity > 0)

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, 1, saved);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, 0, 0);
	va_end(ap);
	exit(1);
}

static const char *
log_escape(const char *s, char *buf, size_t len, const char *also)
{
	static const char hex[] = "0123456789abcdef";
	size_t		 o = 0, n;
	unsigned char	 c;

	if (len == 0)
		return "";
	for (n = 0; *s != '\0' && n < 400; s++, n++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			if (o + 3 > len)
				break;
			buf[o++] = '\\';
			buf[o++] = c;
		} else if (c < 0x20 || c == 0x7f || strchr(also, c) != NULL) {
			if (o + 5 > len)
				break;
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			if (o + 2 > len)
				break;
			buf[o++] = c;
		}
	}
	buf[o] = '\0';
	return buf;
}

/*
 * Text from the network (a remote reply, a DNS name) made safe for a
 * key="value" log field: a quote or backslash is escaped and a control
 * byte is written as \xNN, so a peer can neither end the field early and
 * forge another key=value nor split the line.  Bytes above 0x7f (UTF-8)
 * pass.  Truncated to fit buf (at most 400 bytes of input).
 */
const char *
log_quote(const char *s, char *buf, size_t len)
{
	return log_escape(s, buf, len, "");
}

/*
 * The same for a value logged without quotes, such as an address in
 * rcpt=<...> (a quoted local part may hold spaces, '=' and '>'): those
 * are written as \xNN too.
 */
const char *
log_token(const char *s, char *buf, size_t len)
{
	return log_escape(s, buf, len, " =<>");
}
