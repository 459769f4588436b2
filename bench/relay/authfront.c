/*
 * authfront.c -- bench/relay's AUTH receiver: an SMTP front that demands
 * STARTTLS and then AUTH (PLAIN or LOGIN, one user and password), and
 * once logged in hands the session to smtp-sink over one plain connection
 * that lasts as long as the client's, so the sink counts every message and
 * a reused client connection stays one sink connection.  MAIL before
 * STARTTLS or before AUTH gets 530; a wrong password 535.
 *
 *	authfront -c CERT -k KEY -u USER -P PASSFILE -s SINKHOST:PORT
 *	    [-h HOSTNAME] -l ADDR:PORT=NAME[,plain] ...
 *
 * Every -l is a listener; NAME labels its log lines.  ",plain": no TLS and
 * no AUTH, the connection is spliced to the sink at once (petrel's plain
 * relay through the same receiver).  A thread serves each connection
 * (blocking I/O; after AUTH it only moves bytes), so the front costs a few
 * system calls a message.  At the end of each session one line goes to
 * stdout:
 *	close NAME tls=1 auth=PLAIN|LOGIN|none|failed user=U in=BYTES
 * "ready" is printed once every listener is bound.
 *
 * Bench code, not petrel: it trusts the local sink and serves loopback.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define MAXLISTEN	16
#define LINEMAX		4096
#define BUFSZ		(64 * 1024)

struct listener {
	int		 fd;
	char		 name[64];
	int		 plain;
};

struct conn {
	int		 fd;
	int		 sink;
	SSL		*ssl;
	struct listener	*l;
	char		 in[LINEMAX * 2];	/* unread bytes before the splice */
	size_t		 inlen;
	const char	*auth;
	unsigned long long bytes;
};

static SSL_CTX		*ctx;
static const char	*hostname = "recv.bench.test";
static const char	*user;
static char		 pass[256];
static struct sockaddr_in sinkaddr;
static struct listener	 listeners[MAXLISTEN];
static int		 nlisteners;

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "authfront: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static int
parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* raw I/O on the client: TLS once started */
static int
c_read(struct conn *c, char *buf, size_t len)
{
	if (c->ssl)
		return SSL_read(c->ssl, buf, len);
	return read(c->fd, buf, len);
}

static int
fd_write(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

static int
c_write(struct conn *c, const char *buf, size_t len)
{
	int n;

	if (c->ssl == NULL)
		return fd_write(c->fd, buf, len);
	while (len > 0) {
		if ((n = SSL_write(c->ssl, buf, len)) <= 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

static int
c_puts(struct conn *c, const char *s)
{
	return c_write(c, s, strlen(s));
}

/* one command line (CRLF cut), from the buffer or the client */
static int
c_getline(struct conn *c, char *line, size_t max)
{
	char *nl;
	size_t n;
	int r;

	for (;;) {
		if ((nl = memchr(c->in, '\n', c->inlen)) != NULL) {
			n = nl - c->in + 1;
			if (n >= max)
				return -1;
			memcpy(line, c->in, n);
			line[n] = '\0';
			while (n > 0 && (line[n - 1] == '\n' ||
			    line[n - 1] == '\r'))
				line[--n] = '\0';
			memmove(c->in, c->in + (nl - c->in + 1),
			    c->inlen - (nl - c->in + 1));
			c->inlen -= nl - c->in + 1;
			return 0;
		}
		if (c->inlen == sizeof(c->in))
			return -1;
		r = c_read(c, c->in + c->inlen, sizeof(c->in) - c->inlen);
		if (r <= 0)
			return -1;
		c->inlen += r;
		c->bytes += r;
	}
}

static int
cmd_is(const char *line, const char *cmd)
{
	size_t n = strlen(cmd);

	return strncasecmp(line, cmd, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ');
}

static int
b64dec(const char *in, unsigned char *out, size_t max)
{
	int n;
	size_t len = strlen(in);

	if (len == 0 || len / 4 * 3 + 3 > max)
		return -1;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, len);
	if (n < 0)
		return -1;
	if (len >= 1 && in[len - 1] == '=')
		n--;
	if (len >= 2 && in[len - 2] == '=')
		n--;
	out[n] = '\0';
	return n;
}

static int
check_plain(const char *b64)
{
	unsigned char buf[1024];
	const char *u, *p;
	int n;

	if ((n = b64dec(b64, buf, sizeof(buf))) < 0)
		return 0;
	/* authzid \0 authcid \0 password */
	u = memchr(buf, '\0', n);
	if (u == NULL)
		return 0;
	u++;
	p = memchr(u, '\0', n - ((const unsigned char *)u - buf));
	if (p == NULL)
		return 0;
	p++;
	return strcmp(u, user) == 0 && strcmp(p, pass) == 0;
}

/* AUTH: 1 logged in, 0 refused (reply sent), -1 connection lost */
static int
do_auth(struct conn *c, const char *args)
{
	char line[LINEMAX], u[512];
	unsigned char dec[512];
	const char *ir;
	int ok;

	if (strncasecmp(args, "PLAIN", 5) == 0 &&
	    (args[5] == '\0' || args[5] == ' ')) {
		ir = args[5] == ' ' ? args + 6 : NULL;
		if (ir == NULL || *ir == '\0') {
			if (c_puts(c, "334 \r\n") == -1 ||
			    c_getline(c, line, sizeof(line)) == -1)
				return -1;
			ir = line;
		}
		ok = check_plain(ir);
		c->auth = ok ? "PLAIN" : "failed";
	} else if (strcasecmp(args, "LOGIN") == 0) {
		if (c_puts(c, "334 VXNlcm5hbWU6\r\n") == -1 ||
		    c_getline(c, line, sizeof(line)) == -1)
			return -1;
		if (b64dec(line, dec, sizeof(dec)) < 0)
			dec[0] = '\0';
		snprintf(u, sizeof(u), "%s", dec);
		if (c_puts(c, "334 UGFzc3dvcmQ6\r\n") == -1 ||
		    c_getline(c, line, sizeof(line)) == -1)
			return -1;
		if (b64dec(line, dec, sizeof(dec)) < 0)
			dec[0] = '\0';
		ok = strcmp(u, user) == 0 && strcmp((char *)dec, pass) == 0;
		c->auth = ok ? "LOGIN" : "failed";
	} else {
		return c_puts(c, "504 5.5.4 Unrecognized authentication "
		    "type\r\n") == -1 ? -1 : 0;
	}
	if (!ok)
		return c_puts(c, "535 5.7.8 Error: authentication failed\r\n")
		    == -1 ? -1 : 0;
	return c_puts(c, "235 2.7.0 Authentication successful\r\n") == -1 ?
	    -1 : 1;
}

static int
sink_connect(void)
{
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sinkaddr, sizeof(sinkaddr))
	    == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* read one whole reply from the sink (its banner, its EHLO answer) */
static int
sink_reply(int fd)
{
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	char *p, *last;

	for (;;) {
		if (len == sizeof(buf))
			return -1;
		if ((n = read(fd, buf + len, sizeof(buf) - len)) <= 0)
			return -1;
		len += n;
		if (len < 2 || buf[len - 1] != '\n')
			continue;
		/* the last line of the reply has a space after the code */
		buf[len - 1] = '\0';
		last = buf;
		while ((p = strchr(last, '\n')) != NULL)
			last = p + 1;
		if (strlen(last) >= 4 && last[3] == ' ')
			return buf[0] == '2' ? 0 : -1;
		buf[len - 1] = '\n';
	}
}

/* move bytes both ways until either side closes */
static void
splice_sink(struct conn *c)
{
	struct pollfd pfd[2];
	char *buf;
	ssize_t n;

	if ((buf = malloc(BUFSZ)) == NULL)
		return;
	if (c->inlen > 0 && fd_write(c->sink, c->in, c->inlen) == -1)
		goto done;
	c->inlen = 0;
	pfd[0].fd = c->fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = c->sink;
	pfd[1].events = POLLIN;
	for (;;) {
		if (!(c->ssl && SSL_pending(c->ssl) > 0)) {
			if (poll(pfd, 2, -1) == -1) {
				if (errno == EINTR)
					continue;
				break;
			}
		} else
			pfd[0].revents = POLLIN, pfd[1].revents = 0;
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((n = read(c->sink, buf, BUFSZ)) <= 0)
				break;
			if (c_write(c, buf, n) == -1)
				break;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if ((n = c_read(c, buf, BUFSZ)) <= 0)
				break;
			c->bytes += n;
			if (fd_write(c->sink, buf, n) == -1)
				break;
		}
	}
done:
	free(buf);
}

static int
start_sink(struct conn *c)
{
	char ehlo[300];

	if ((c->sink = sink_connect()) == -1 || sink_reply(c->sink) == -1)
		return -1;
	snprintf(ehlo, sizeof(ehlo), "EHLO %s\r\n", hostname);
	if (fd_write(c->sink, ehlo, strlen(ehlo)) == -1 ||
	    sink_reply(c->sink) == -1)
		return -1;
	return 0;
}

static void
session(struct conn *c)
{
	char line[LINEMAX], reply[512];
	int r;

	if (c->l->plain) {
		/* the sink's own banner and replies go to the client */
		if ((c->sink = sink_connect()) != -1)
			splice_sink(c);
		c->auth = "none";
		return;
	}
	snprintf(reply, sizeof(reply), "220 %s ESMTP authfront\r\n", hostname);
	if (c_puts(c, reply) == -1)
		return;
	while (c_getline(c, line, sizeof(line)) == 0) {
		if (cmd_is(line, "EHLO") || cmd_is(line, "HELO")) {
			snprintf(reply, sizeof(reply), "250-%s\r\n"
			    "250-PIPELINING\r\n250-8BITMIME\r\n"
			    "250-ENHANCEDSTATUSCODES\r\n%s", hostname,
			    c->ssl ? "250 AUTH PLAIN LOGIN\r\n" :
			    "250 STARTTLS\r\n");
			r = c_puts(c, reply);
		} else if (cmd_is(line, "STARTTLS") && c->ssl == NULL) {
			if (c->inlen > 0) {
				c_puts(c, "503 5.5.1 Error: pipelined "
				    "STARTTLS\r\n");
				return;
			}
			if (c_puts(c, "220 2.0.0 Ready to start TLS\r\n") == -1)
				return;
			if ((c->ssl = SSL_new(ctx)) == NULL ||
			    SSL_set_fd(c->ssl, c->fd) != 1 ||
			    SSL_accept(c->ssl) != 1)
				return;
			r = 0;
		} else if (cmd_is(line, "AUTH") && c->ssl != NULL) {
			if ((r = do_auth(c, line + 5)) == 1) {
				if (start_sink(c) == -1) {
					c_puts(c, "421 4.3.0 sink not "
					    "available\r\n");
					return;
				}
				splice_sink(c);
				return;
			}
		} else if (cmd_is(line, "MAIL")) {
			r = c_puts(c, c->ssl ? "530 5.7.0 Authentication "
			    "required\r\n" : "530 5.7.0 Must issue a "
			    "STARTTLS command first\r\n");
		} else if (cmd_is(line, "RSET") || cmd_is(line, "NOOP")) {
			r = c_puts(c, "250 2.0.0 Ok\r\n");
		} else if (cmd_is(line, "QUIT")) {
			c_puts(c, "221 2.0.0 Bye\r\n");
			return;
		} else
			r = c_puts(c, "503 5.5.1 Error: STARTTLS and AUTH "
			    "first\r\n");
		if (r == -1)
			return;
	}
}

static void *
conn_main(void *arg)
{
	struct conn *c = arg;
	char log[512];
	int tls;

	c->sink = -1;
	c->auth = "none";
	session(c);
	tls = c->ssl != NULL;
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	if (c->sink != -1)
		close(c->sink);
	close(c->fd);
	/* one write(2): lines from threads never interleave */
	snprintf(log, sizeof(log), "close %s tls=%d auth=%s user=%s in=%llu\n",
	    c->l->name, tls, c->auth, strcmp(c->auth, "PLAIN") == 0 ||
	    strcmp(c->auth, "LOGIN") == 0 ? user : "-", c->bytes);
	fd_write(1, log, strlen(log));
	free(c);
	return NULL;
}

static void *
accept_main(void *arg)
{
	struct listener *l = arg;
	struct conn *c;
	pthread_t t;
	pthread_attr_t attr;
	int fd, one = 1;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (;;) {
		if ((fd = accept(l->fd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->l = l;
		if (pthread_create(&t, &attr, conn_main, c) != 0) {
			close(fd);
			free(c);
		}
	}
	return NULL;
}

static void
add_listener(const char *spec)
{
	struct listener *l;
	struct sockaddr_in sa;
	char addr[128], *eq, *comma;
	int one = 1;

	if (nlisteners == MAXLISTEN)
		die("too many listeners");
	l = &listeners[nlisteners++];
	if (strlen(spec) >= sizeof(addr) || (eq = strchr(spec, '=')) == NULL)
		die("bad listener %s", spec);
	memcpy(addr, spec, eq - spec);
	addr[eq - spec] = '\0';
	snprintf(l->name, sizeof(l->name), "%s", eq + 1);
	if ((comma = strchr(l->name, ',')) != NULL) {
		*comma = '\0';
		l->plain = strcmp(comma + 1, "plain") == 0;
	}
	if (parse_addr(addr, &sa) == -1)
		die("bad address %s", addr);
	if ((l->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket: %s", strerror(errno));
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(l->fd, 1024) == -1)
		die("%s: %s", addr, strerror(errno));
}

int
main(int argc, char *argv[])
{
	const char *cert = NULL, *key = NULL, *passfile = NULL;
	const char *sink = NULL;
	pthread_t t;
	FILE *f;
	int ch, i;

	while ((ch = getopt(argc, argv, "c:h:k:l:P:s:u:")) != -1) {
		switch (ch) {
		case 'c': cert = optarg; break;
		case 'h': hostname = optarg; break;
		case 'k': key = optarg; break;
		case 'l': add_listener(optarg); break;
		case 'P': passfile = optarg; break;
		case 's': sink = optarg; break;
		case 'u': user = optarg; break;
		default:
			die("usage: authfront -c CERT -k KEY -u USER -P PASSFILE "
			    "-s SINK -l ADDR:PORT=NAME[,plain] ...");
		}
	}
	if (!cert || !key || !user || !passfile || !sink || !nlisteners)
		die("-c, -k, -u, -P, -s and -l are required");
	if (parse_addr(sink, &sinkaddr) == -1)
		die("bad sink %s", sink);
	if ((f = fopen(passfile, "r")) == NULL ||
	    fgets(pass, sizeof(pass), f) == NULL)
		die("%s: cannot read the password", passfile);
	fclose(f);
	pass[strcspn(pass, "\r\n")] = '\0';
	signal(SIGPIPE, SIG_IGN);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		die("TLS setup failed");
	}
	for (i = 0; i < nlisteners; i++)
		if (pthread_create(&t, NULL, accept_main, &listeners[i]) != 0)
			die("pthread_create");
	fd_write(1, "ready\n", 6);
	pause();
	return 0;
}
