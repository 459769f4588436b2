/*
 * hsbench.c - what keeping the TLS key in keysd costs a handshake.
 *
 *	hsbench [-n handshakes] [-k rsa|ec] [-v 1.2|1.3]
 *
 * Runs the same server-side handshakes twice, in memory (a BIO pair,
 * client and server in this process), with the server's key
 *  - in process: an ordinary key, as Postfix and most servers hold it;
 *  - in keysd: a proxy key (lib/tlskey.c) whose signature goes over an
 *    imsg channel (chan_call) to a child process that answers as keysd
 *    does (wire_sign_req_get, tlskey_sign, wire_sign_reply_add);
 * and prints handshakes per second of each, the server's CPU time per
 * handshake, and the added latency per handshake; and between them the
 * proxy signing in this process, which tells OpenSSL's legacy key path
 * from the round trip.  A third line times
 * the signature alone: in process and over the channel.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <err.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "chan.h"
#include "imsg.h"
#include "tlskey.h"
#include "wire.h"
#include "wirecodec.h"

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_self(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds of a live process, from /proc/PID/stat (utime + stime) */
static double
cpu_of(pid_t pid)
{
	unsigned long	 ut = 0, st = 0;
	char		 path[64], buf[1024], *p;
	FILE		*f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL)
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
		    "%lu %lu", &ut, &st);
	fclose(f);
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static X509 *
selfsign(EVP_PKEY *k)
{
	X509		*x = X509_new();
	X509_NAME	*n;

	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"bench", -1, -1, 0);
	X509_set_issuer_name(x, n);
	if (X509_sign(x, k, EVP_sha256()) <= 0)
		errx(1, "X509_sign");
	return x;
}

/* The child: keysd's answer to IMSG_WORKER_SIGN, and nothing else. */
static void
signer(int fd, EVP_PKEY *k)
{
	struct imsgbuf	 ib;
	struct imsg	 im;
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	struct wire_sign_req req;
	struct wire_sign_reply rep;
	struct mreader	 r;
	struct mbuf	 m;
	uint8_t		 sig[TLSKEY_SIG_MAX];
	size_t		 siglen;
	char		 e[256];
	ssize_t		 n;

	imsgbuf_init(&ib, fd);
	for (;;) {
		if (poll(&pfd, 1, -1) == -1)
			continue;
		if ((n = imsg_read(&ib)) <= 0)
			_exit(0);
		while (imsg_get(&ib, &im) == 1) {
			m_reader(&r, &im);
			if (wire_sign_req_get(&r, &req) == -1)
				_exit(1);
			memset(&rep, 0, sizeof(rep));
			siglen = sizeof(sig);
			if (tlskey_sign(k, req.op, req.padding, req.in,
			    req.inlen, sig, &siglen, e, sizeof(e)) == -1) {
				rep.status = KEY_FAILED;
				rep.error = e;
			} else {
				rep.sig = sig;
				rep.siglen = siglen;
			}
			m_create(&m, IMSG_KEYSD_SIGN, im.hdr.peerid, -1);
			wire_sign_reply_add(&m, &rep);
			m_close(&m, &ib);
			if (imsg_flush(&ib) == -1)
				_exit(1);
		}
	}
}

/* A proxy that signs in this process: the proxy path without the trip. */
static int
local_sign(void *arg, const uint8_t id[TLSKEY_ID_LEN], int op, int padding,
    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	char	 e[256];

	return tlskey_sign(arg, op, padding, in, inlen, out, outlen, e,
	    sizeof(e));
}

static int
ignore(struct chan *c, struct imsg *im)
{
	return 0;
}

/* n handshakes; the server's CPU seconds in *server_cpu. */
static double
run(SSL_CTX *sctx, SSL_CTX *cctx, int n, double *server_cpu)
{
	double	 t0 = now(), s;
	int	 i, j, rc, rs, cdone, sdone;
	SSL	*c, *sv;
	BIO	*b1, *b2;

	*server_cpu = 0;
	for (i = 0; i < n; i++) {
		c = SSL_new(cctx);
		sv = SSL_new(sctx);
		if (BIO_new_bio_pair(&b1, 0, &b2, 0) != 1)
			errx(1, "BIO pair");
		SSL_set_bio(c, b1, b1);
		SSL_set_bio(sv, b2, b2);
		SSL_set_connect_state(c);
		SSL_set_accept_state(sv);
		for (j = cdone = sdone = 0; j < 20 && !(cdone && sdone); j++) {
			if (!cdone && (rc = SSL_do_handshake(c)) == 1)
				cdone = 1;
			s = cpu_self();
			if (!sdone && (rs = SSL_do_handshake(sv)) == 1)
				sdone = 1;
			*server_cpu += cpu_self() - s;
		}
		if (!cdone || !sdone)
			errx(1, "handshake %d failed: %s", i,
			    ERR_reason_error_string(ERR_get_error()));
		SSL_free(c);
		SSL_free(sv);
	}
	return now() - t0;
}

int
main(int argc, char *argv[])
{
	struct event_base *base;
	struct chan	*chan;
	SSL_CTX		*local, *remote, *viaproxy, *cctx;
	EVP_PKEY	*k, *proxy, *lproxy;
	X509		*x;
	uint8_t		 id[TLSKEY_ID_LEN], dg[32] = { 1 }, sig[TLSKEY_SIG_MAX];
	size_t		 siglen;
	const char	*kind = "rsa", *ver = "1.3";
	char		 e[256];
	double		 tl, tr, tp, cl, cr, cp, t0, sl, sr, kc;
	int		 n = 2000, ch, sp[2], i, version, op, pad, inlen;
	pid_t		 pid;

	while ((ch = getopt(argc, argv, "k:n:v:")) != -1)
		switch (ch) {
		case 'k': kind = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'v': ver = optarg; break;
		default:
			fprintf(stderr, "usage: hsbench [-n handshakes] "
			    "[-k rsa|ec] [-v 1.2|1.3]\n");
			return 1;
		}
	version = strcmp(ver, "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
	k = strcmp(kind, "ec") == 0 ?
	    EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") :
	    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (k == NULL)
		errx(1, "keygen");
	x = selfsign(k);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == -1)
		err(1, "socketpair");
	if ((pid = fork()) == 0) {
		close(sp[0]);
		signer(sp[1], k);
	}
	close(sp[1]);
	base = event_base_new();
	chan = chan_new(base, sp[0], "keysd", ignore, NULL, NULL);
	if ((proxy = tlskey_proxy(x, tlskey_keysd_sign, &chan, e,
	    sizeof(e))) == NULL)
		errx(1, "proxy: %s", e);

	if ((lproxy = tlskey_proxy(x, local_sign, k, e, sizeof(e))) == NULL)
		errx(1, "proxy: %s", e);
	local = SSL_CTX_new(TLS_server_method());
	remote = SSL_CTX_new(TLS_server_method());
	viaproxy = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_options(viaproxy, SSL_OP_NO_TICKET);
	SSL_CTX_set_min_proto_version(viaproxy, version);
	SSL_CTX_set_max_proto_version(viaproxy, version);
	SSL_CTX_set_cipher_list(viaproxy, tlskey_ciphers());
	if (SSL_CTX_use_certificate(viaproxy, x) != 1 ||
	    SSL_CTX_use_PrivateKey(viaproxy, lproxy) != 1)
		errx(1, "certificate and proxy key");
	cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_session_cache_mode(cctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(local, SSL_OP_NO_TICKET);
	SSL_CTX_set_options(remote, SSL_OP_NO_TICKET);
	SSL_CTX_set_min_proto_version(local, version);
	SSL_CTX_set_max_proto_version(local, version);
	SSL_CTX_set_min_proto_version(remote, version);
	SSL_CTX_set_max_proto_version(remote, version);
	SSL_CTX_set_cipher_list(local, tlskey_ciphers());
	SSL_CTX_set_cipher_list(remote, tlskey_ciphers());
	if (SSL_CTX_use_certificate(local, x) != 1 ||
	    SSL_CTX_use_PrivateKey(local, k) != 1 ||
	    SSL_CTX_use_certificate(remote, x) != 1 ||
	    SSL_CTX_use_PrivateKey(remote, proxy) != 1)
		errx(1, "certificate and key");

	/* warm up both, then measure */
	run(local, cctx, 20, &cl);
	run(remote, cctx, 20, &cr);
	run(viaproxy, cctx, 20, &cp);
	tl = run(local, cctx, n, &cl);
	tp = run(viaproxy, cctx, n, &cp);
	kc = cpu_of(pid);
	tr = run(remote, cctx, n, &cr);
	kc = cpu_of(pid) - kc;

	/* the signature alone */
	tlskey_id(k, id);
	op = strcmp(kind, "ec") == 0 ? TLSKEY_ECDSA_SIGN : TLSKEY_RSA_PRIV_ENC;
	pad = op == TLSKEY_ECDSA_SIGN ? 0 : 1;	/* RSA_PKCS1_PADDING */
	inlen = op == TLSKEY_ECDSA_SIGN ? 32 : 51;	/* SHA-256 DigestInfo */
	t0 = now();
	for (i = 0; i < n; i++) {
		siglen = sizeof(sig);
		if (tlskey_sign(k, op, pad, dg, inlen, sig, &siglen, e,
		    sizeof(e)) == -1)
			errx(1, "sign: %s", e);
	}
	sl = (now() - t0) / n;
	t0 = now();
	for (i = 0; i < n; i++) {
		siglen = sizeof(sig);
		if (tlskey_keysd_sign(&chan, id, op, pad, dg, inlen, sig,
		    &siglen) == -1)
			errx(1, "keysd sign failed");
	}
	sr = (now() - t0) / n;
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);

	printf("key %s, TLS %s, %d handshakes each (client and server in "
	    "one process)\n", kind, ver, n);
	printf("in-process key: %8.0f handshakes/s, server CPU %.3f ms per "
	    "handshake\n", n / tl, cl * 1000 / n);
	printf("proxy, no trip: %8.0f handshakes/s, server CPU %.3f ms per "
	    "handshake (OpenSSL's legacy key path alone)\n", n / tp,
	    cp * 1000 / n);
	printf("key in keysd:   %8.0f handshakes/s, server CPU %.3f ms per "
	    "handshake (+ keysd %.3f ms)\n", n / tr, cr * 1000 / n,
	    kc * 1000 / n);
	printf("ratio %.3f; added latency %.1f us per handshake\n", tl / tr,
	    (tr - tl) * 1e6 / n);
	printf("signature alone: in process %.1f us, over the channel %.1f "
	    "us (round trip +%.1f us)\n", sl * 1e6, sr * 1e6,
	    (sr - sl) * 1e6);
	return 0;
}
