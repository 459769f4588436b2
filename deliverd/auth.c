/*
 * auth.c - SMTP AUTH on an outgoing connection (RFC 4954), once per
 * connection after the last EHLO and before the first MAIL; a reused
 * connection stays authenticated.
 *
 * Before anything is sent: the session must be under TLS (unless
 * allow_smtp_auth_plain_without_tls) with a verified certificate
 * (unless allow_smtp_auth_plain_without_valid_certificate), and the
 * server must offer a mechanism we may use: the first of
 * smtp_auth_mechanisms (default PLAIN, LOGIN; Postfix's mechanism
 * filter) that its EHLO AUTH list names.  PLAIN goes with an initial
 * response (RFC 4616, empty authzid); LOGIN is the username and the
 * password in answer to two 334 challenges (Microsoft 365 refuses
 * PLAIN and takes LOGIN).
 *
 * When the password keysource is an OAuth2 one, keysd answers with an
 * access token and the mechanism is XOAUTH2 or, when only that is
 * offered, OAUTHBEARER (RFC 7628), each with an initial response (the
 * default list is then XOAUTH2, OAUTHBEARER; smtp_auth_mechanisms may
 * force either).  A 334 there carries the server's error: XOAUTH2 is
 * answered with an empty line, OAUTHBEARER with the %x01 RFC 7628
 * asks for, the server then fails the exchange, and so does this host.
 *
 * The password comes from keysd (keys.c) when it is needed, while the
 * connection waits; it is held only until the last line carrying it is
 * queued, in memory that is wiped, and the line itself goes out of a
 * buffer that is wiped once written (conn_send_secret).
 *
 * Any failure fails this host and the next is tried; when none is
 * left the messages are deferred (conn_exhausted), never bounced.  A
 * 535 is remembered per (host, user, fingerprint of the secret), as
 * Postfix's smtp_sasl_auth_cache does: until a back-off (1 min
 * doubling to 1 h) ends, or keysd's answer for the password changes,
 * that host is not even connected to.
 */
#include "config.h"

#include <bsd/sys/queue.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <openssl/evp.h>

#include "log.h"
#include "deliverd.h"
#include "conn.h"
#include "keys.h"
#include "keysource.h"
#include "sasl.h"
#include "secret.h"
#include "trace.h"
#include "util.h"
#include "wire.h"
#include "wirecodec.h"

#define AUTH_BACKOFF_MIN	60
#define AUTH_BACKOFF_MAX	3600
#define AUTH_BAD_MAX		1024	/* remembered bad logins */

enum { MECH_PLAIN = 1, MECH_LOGIN = 2, MECH_XOAUTH2 = 4,
    MECH_OAUTHBEARER = 8 };

static const struct {
	const char	*name;
	int		 bit;
} mechs[] = {
	{ "PLAIN", MECH_PLAIN }, { "LOGIN", MECH_LOGIN },
	{ "XOAUTH2", MECH_XOAUTH2 }, { "OAUTHBEARER", MECH_OAUTHBEARER },
};
#define NMECHS	(sizeof(mechs) / sizeof(mechs[0]))

/* A 535 from host (name:port) for user with the secret fingerprinted. */
struct badlogin {
	TAILQ_ENTRY(badlogin) entry;
	char		*host;
	char		*user;
	char		 fp[65];
	time_t		 until;
	int		 backoff;
	char		 reply[256];
};
static TAILQ_HEAD(, badlogin) bad = TAILQ_HEAD_INITIALIZER(bad);
static int	nbad;

static const char *
mech_name(int bit)
{
	size_t	 i;

	for (i = 0; i < NMECHS; i++)
		if (mechs[i].bit == bit)
			return mechs[i].name;
	return "?";
}

/* The EHLO keyword "AUTH PLAIN LOGIN" (or the old "AUTH=PLAIN LOGIN"). */
void
auth_ehlo_line(struct conn *c, const char *text)
{
	char	 word[32];
	size_t	 i, n;

	if (strncasecmp(text, "AUTH", 4) != 0 ||
	    (text[4] != ' ' && text[4] != '='))
		return;
	for (text += 5; *text != '\0'; text += n) {
		text += strspn(text, " ");
		n = strcspn(text, " ");
		if (n == 0 || n >= sizeof(word))
			continue;
		memcpy(word, text, n);
		word[n] = '\0';
		for (i = 0; i < NMECHS; i++)
			if (strcasecmp(word, mechs[i].name) == 0)
				c->ext_auth |= mechs[i].bit;
	}
	c->ext_auth_seen = 1;
}

/* The egress path logs in. */
int
auth_wanted(struct conn *c)
{
	return c->site->eg.smtp_auth_plain_username != NULL;
}

/* What AUTH costs the connection: the request, the secret, the user. */
void
auth_end(struct conn *c)
{
	if (c->key_req != 0) {
		keys_cancel(c->key_req);
		c->key_req = 0;
	}
	secret_free_str(c->auth_secret);
	c->auth_secret = NULL;
	free(c->auth_user);
	c->auth_user = NULL;
	c->authed = 0;
	c->auth_step = 0;
}

/* A line that holds a secret goes out of a buffer wiped once written. */
static void
secret_cleanup(const void *data, size_t len, void *arg)
{
	secret_free((void *)data, (size_t)arg);
}

/*
 * prefix (may be "") then base64(in), CRLF.  RFC 4954 allows 12,288
 * octets for the line: no command-length cap here.
 */
static void
conn_send_secret(struct conn *c, const char *prefix, const void *in,
    size_t inlen)
{
	size_t		 plen = strlen(prefix), n, size;
	unsigned char	*buf;

	/* the tracer sees what comes before the credential, and masks */
	TRACE_SENT(c, prefix, 1);
	size = plen + 4 * ((inlen + 2) / 3) + 3;
	buf = secret_alloc(size);
	memcpy(buf, prefix, plen);
	n = plen + EVP_EncodeBlock(buf + plen, in, inlen);
	buf[n++] = '\r';
	buf[n++] = '\n';
	if (evbuffer_add_reference(bufferevent_get_output(c->bev), buf, n,
	    secret_cleanup, (void *)size) == -1)
		fatalx("evbuffer_add_reference");
}

static struct badlogin *
bad_find(const char *host, const char *user)
{
	struct badlogin	*b;

	TAILQ_FOREACH(b, &bad, entry)
		if (strcmp(b->host, host) == 0 && strcmp(b->user, user) == 0)
			return b;
	return NULL;
}

static void
bad_free(struct badlogin *b)
{
	TAILQ_REMOVE(&bad, b, entry);
	nbad--;
	free(b->host);
	free(b->user);
	free(b);
}

/* A 535: back off from this host for this user and this secret. */
static void
bad_record(struct conn *c, const char *reply)
{
	struct badlogin	*b;
	char		 q1[512], q2[512], q3[512];

	if ((b = bad_find(c->auth_host, c->auth_user)) != NULL &&
	    strcmp(b->fp, c->auth_fp) == 0) {
		b->backoff *= 2;
		if (b->backoff > AUTH_BACKOFF_MAX)
			b->backoff = AUTH_BACKOFF_MAX;
		TAILQ_REMOVE(&bad, b, entry);
		nbad--;
	} else {
		if (b != NULL)
			bad_free(b);
		if (nbad >= AUTH_BAD_MAX)
			bad_free(TAILQ_FIRST(&bad));
		b = xcalloc(1, sizeof(*b));
		b->host = xstrdup(c->auth_host);
		b->user = xstrdup(c->auth_user);
		strlcpy(b->fp, c->auth_fp, sizeof(b->fp));
		b->backoff = AUTH_BACKOFF_MIN;
	}
	b->until = time(NULL) + b->backoff;
	strlcpy(b->reply, reply, sizeof(b->reply));
	TAILQ_INSERT_TAIL(&bad, b, entry);
	nbad++;
	log_warnx("site=%s relay=%s event=AuthFailed user=%s reason=\"%s\": "
	    "not logging in to %s as this user again for %d s, unless its "
	    "password changes", log_quote(c->site->name, q1, sizeof(q1)),
	    c->relay, log_token(c->auth_user, q2, sizeof(q2)),
	    log_quote(reply, q3, sizeof(q3)), c->auth_host, b->backoff);
}

static void
auth_fail(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* This host fails, with a reason; the next one is tried. */
static void
auth_fail(struct conn *c, const char *fmt, ...)
{
	char	 why[sizeof(c->last_error)], q1[512], q2[600];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_info("site=%s relay=%s event=AuthError reason=\"%s\"",
	    log_quote(c->site->name, q1, sizeof(q1)), c->relay,
	    log_quote(why, q2, sizeof(q2)));
	conn_say_quit(c);
	conn_advance(c, "%s", why);
}

/* The mechanism: the first allowed one the server offers; 0: none. */
static int
auth_choose(struct conn *c)
{
	char *const	*list = c->site->eg.smtp_auth_mechanisms;
	static char	*dflt[] = { "PLAIN", "LOGIN", NULL };
	static char	*dflt_oauth2[] = { "XOAUTH2", "OAUTHBEARER", NULL };
	const struct keysource *ks = c->site->eg.smtp_auth_plain_password;
	int		 oauth2 = ks != NULL && ks->kind == KS_OAUTH2;
	int		 usable = oauth2 ? MECH_XOAUTH2 | MECH_OAUTHBEARER :
	    MECH_PLAIN | MECH_LOGIN;
	size_t		 i, j;

	if (list[0] == NULL)
		list = oauth2 ? dflt_oauth2 : dflt;
	for (i = 0; list[i] != NULL; i++)
		for (j = 0; j < NMECHS; j++)
			/*
			 * XOAUTH2 and OAUTHBEARER need an OAuth2 keysource,
			 * and an access token is no password
			 */
			if (strcasecmp(list[i], mechs[j].name) == 0 &&
			    (mechs[j].bit & usable) &&
			    (c->ext_auth & mechs[j].bit))
				return mechs[j].bit;
	return 0;
}

static void	auth_key(void *, const struct wire_key_reply *);

/*
 * The last EHLO was answered (c->tls says how the session is
 * protected): the gates, the mechanism, then the password from keysd.
 */
void
auth_start(struct conn *c)
{
	struct egress	*eg = &c->site->eg;
	char		 offered[64] = "", q[512];
	size_t		 i;

	if (!c->tls && !eg->allow_smtp_auth_plain_without_tls) {
		auth_fail(c, "4.7.0 AUTH to %s not attempted: the session is "
		    "not under TLS (allow_smtp_auth_plain_without_tls is "
		    "false)", c->relay);
		return;
	}
	if (c->tls && !c->tls_verified &&
	    !eg->allow_smtp_auth_plain_without_valid_certificate) {
		auth_fail(c, "4.7.0 AUTH to %s not attempted: its TLS "
		    "certificate was not verified "
		    "(allow_smtp_auth_plain_without_valid_certificate is "
		    "false)", c->relay);
		return;
	}
	if (!c->ext_auth_seen) {
		auth_fail(c, "4.7.0 %s offers no AUTH; the egress path logs "
		    "in as %s", c->relay, log_token(eg->smtp_auth_plain_username,
		    q, sizeof(q)));
		return;
	}
	if ((c->auth_mech = auth_choose(c)) == 0) {
		for (i = 0; i < NMECHS; i++)
			if (c->ext_auth & mechs[i].bit) {
				strlcat(offered, " ", sizeof(offered));
				strlcat(offered, mechs[i].name,
				    sizeof(offered));
			}
		auth_fail(c, "4.7.0 %s offers no AUTH mechanism petrel may "
		    "use (offered:%s; smtp_auth_mechanisms allows PLAIN and "
		    "LOGIN, or XOAUTH2 and OAUTHBEARER for an OAuth2 "
		    "keysource, unless it says otherwise)", c->relay,
		    *offered ? offered : " none petrel knows");
		return;
	}
	if (eg->smtp_auth_plain_password == NULL) {
		auth_fail(c, "4.7.0 AUTH to %s: the egress path has "
		    "smtp_auth_plain_username but no "
		    "smtp_auth_plain_password", c->relay);
		return;
	}
	c->auth_user = xstrdup(eg->smtp_auth_plain_username);
	c->state = C_AUTHKEY;
	conn_timeout(c, eg->auth_timeout);
	c->key_req = keys_ask(eg->smtp_auth_plain_password, KEY_WANT_SECRET,
	    eg->auth_timeout, auth_key, c);
}

/* keysd answered with the password (or why not). */
static void
auth_key(void *arg, const struct wire_key_reply *w)
{
	struct conn	*c = arg;
	struct badlogin	*b;
	char		*plain;
	size_t		 ulen, plen, n;

	c->key_req = 0;
	if (w->status != KEY_OK) {
		auth_fail(c, "4.7.0 AUTH as %s to %s: no password: %s",
		    c->auth_user, c->relay, w->error);
		return;
	}
	strlcpy(c->auth_fp, w->fingerprint, sizeof(c->auth_fp));
	/*
	 * A bad login with this host may have been remembered since this
	 * connection began (another one got the 535): the same password is
	 * not tried again before its back-off ends.
	 */
	if ((b = bad_find(c->auth_host, c->auth_user)) != NULL) {
		if (strcmp(b->fp, c->auth_fp) != 0)
			bad_free(b);	/* the password changed */
		else if (time(NULL) < b->until) {
			auth_fail(c, "4.7.8 AUTH as %s to %s failed with this "
			    "password (%s); not trying again for now",
			    c->auth_user, c->relay, b->reply);
			return;
		}
	}
	c->state = C_AUTH;
	conn_timeout(c, c->site->eg.auth_timeout);
	if (c->auth_mech == MECH_XOAUTH2 || c->auth_mech == MECH_OAUTHBEARER) {
		char	 host[256], *colon;
		int	 port = 0;

		/* auth_host is "name:port" */
		strlcpy(host, c->auth_host, sizeof(host));
		if ((colon = strrchr(host, ':')) != NULL) {
			*colon = '\0';
			port = atoi(colon + 1);
		}
		if (c->auth_mech == MECH_XOAUTH2) {
			plain = sasl_xoauth2(c->auth_user, w->secret, &n);
			conn_send_secret(c, "AUTH XOAUTH2 ", plain, n);
		} else {
			plain = sasl_oauthbearer(c->auth_user, host, port,
			    w->secret, &n);
			conn_send_secret(c, "AUTH OAUTHBEARER ", plain, n);
		}
		secret_free(plain, n + 1);
		c->auth_step = 2;
		return;
	}
	if (c->auth_mech == MECH_LOGIN) {
		c->auth_secret = secret_strndup(w->secret, strlen(w->secret));
		c->auth_step = 0;
		conn_send(c, "AUTH LOGIN");
		return;
	}
	/* PLAIN: authzid NUL authcid NUL passwd, the authzid empty */
	ulen = strlen(c->auth_user);
	plen = strlen(w->secret);
	n = 1 + ulen + 1 + plen;
	plain = secret_alloc(n);
	plain[0] = '\0';
	memcpy(plain + 1, c->auth_user, ulen);
	plain[1 + ulen] = '\0';
	memcpy(plain + 2 + ulen, w->secret, plen);
	conn_send_secret(c, "AUTH PLAIN ", plain, n);
	secret_free(plain, n);
	c->auth_step = 2;
}

/*
 * An OAuth2 mechanism's 334: the server's JSON error, decoded for the
 * logs ({"status":"401","schemes":"bearer",...}: no secret in it).
 */
static void
auth_challenge(struct conn *c, const char *reply)
{
	unsigned char	 out[sizeof(c->auth_err)];
	size_t		 i, n;
	int		 len;

	reply += strspn(reply, "0123456789 .");
	n = strlen(reply);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 >= sizeof(out) ||
	    (len = EVP_DecodeBlock(out, (const unsigned char *)reply, n)) < 0) {
		strlcpy(c->auth_err, "an undecodable challenge",
		    sizeof(c->auth_err));
		return;
	}
	while (len > 0 && out[len - 1] == '\0')
		len--;
	for (i = 0; i < (size_t)len && i < sizeof(c->auth_err) - 1; i++)
		c->auth_err[i] = out[i] >= 0x20 && out[i] < 0x7f ? out[i] : '?';
	c->auth_err[i] = '\0';
}

/* A reply to AUTH, or to one of LOGIN's answers. */
void
auth_reply(struct conn *c, int code, const char *reply)
{
	char	 q1[512];

	if (code == 334 && c->auth_mech == MECH_LOGIN && c->auth_step < 2) {
		if (c->auth_step == 0)
			conn_send_secret(c, "", c->auth_user,
			    strlen(c->auth_user));
		else {
			conn_send_secret(c, "", c->auth_secret,
			    strlen(c->auth_secret));
			secret_free_str(c->auth_secret);
			c->auth_secret = NULL;
		}
		c->auth_step++;
		return;
	}
	if (code == 334 && c->auth_step == 2 &&
	    (c->auth_mech == MECH_XOAUTH2 || c->auth_mech == MECH_OAUTHBEARER)) {
		/*
		 * The server's error (base64 JSON, no secret in it): an
		 * empty response for XOAUTH2, %x01 for OAUTHBEARER (RFC
		 * 7628 3.2.3); its final reply fails the exchange.
		 */
		auth_challenge(c, reply);
		if (c->auth_mech == MECH_XOAUTH2)
			conn_send(c, "%s", "");
		else
			conn_send(c, "%s", "AQ==");
		c->auth_step = 3;
		return;
	}
	if (code == 334) {
		/* a challenge we have no answer for: cancel (RFC 4954 4) */
		conn_send(c, "*");
		auth_fail(c, "4.7.0 AUTH %s to %s: unexpected challenge: %s",
		    mech_name(c->auth_mech), c->relay, reply);
		return;
	}
	secret_free_str(c->auth_secret);
	c->auth_secret = NULL;
	if (code == 235) {
		c->authed = 1;
		log_info("site=%s relay=%s event=Auth user=%s mechanism=%s",
		    log_quote(c->site->name, q1, sizeof(q1)), c->relay,
		    c->auth_user, mech_name(c->auth_mech));
		conn_run(c);
		return;
	}
	if (code == 535)
		bad_record(c, reply);
	auth_fail(c, "4.7.%d AUTH %s as %s to %s failed: %s%s%s%s",
	    code == 535 ? 8 : 0, mech_name(c->auth_mech), c->auth_user,
	    c->relay, reply, c->auth_step == 3 ? " (the server said: " : "",
	    c->auth_step == 3 ? c->auth_err : "", c->auth_step == 3 ? ")" : "");
}

static void	auth_checked(void *, const struct wire_key_reply *);

/*
 * Before connecting to a host: a bad login with it is remembered and
 * its back-off has not ended.  Then whether the password is still the
 * same decides (keysd's fingerprint; no secret is fetched): 1, the
 * connection waits for that answer (state C_AUTHCHECK); 0, go on.
 */
int
auth_precheck(struct conn *c, const char *host, int port)
{
	struct egress	*eg = &c->site->eg;
	struct badlogin	*b;

	snprintf(c->auth_host, sizeof(c->auth_host), "%s:%d", host, port);
	if (eg->smtp_auth_plain_username == NULL ||
	    eg->smtp_auth_plain_password == NULL ||
	    (b = bad_find(c->auth_host, eg->smtp_auth_plain_username)) ==
	    NULL || time(NULL) >= b->until)
		return 0;
	c->state = C_AUTHCHECK;
	c->key_req = keys_ask(eg->smtp_auth_plain_password,
	    KEY_WANT_FINGERPRINT, eg->auth_timeout, auth_checked, c);
	return 1;
}

static void
auth_checked(void *arg, const struct wire_key_reply *w)
{
	struct conn	*c = arg;
	struct badlogin	*b;
	const char	*user = c->site->eg.smtp_auth_plain_username;
	char		 when[16];
	struct tm	 tm;

	c->key_req = 0;
	if (w->status != KEY_OK) {
		snprintf(c->last_error, sizeof(c->last_error), "4.7.0 AUTH as "
		    "%s to %s: no password: %s", user, c->auth_host, w->error);
		conn_skip_host(c);
		return;
	}
	if (user != NULL &&
	    (b = bad_find(c->auth_host, user)) != NULL) {
		if (strcmp(b->fp, w->fingerprint) != 0)
			bad_free(b);	/* a new password: try it */
		else if (time(NULL) < b->until) {
			localtime_r(&b->until, &tm);
			strftime(when, sizeof(when), "%H:%M:%S", &tm);
			snprintf(c->last_error, sizeof(c->last_error), "4.7.8 "
			    "AUTH as %.80s to %.150s failed with this password "
			    "(%.120s); not trying again before %s unless it "
			    "changes", user, c->auth_host, b->reply, when);
			conn_skip_host(c);
			return;
		}
	}
	conn_connect_checked(c);
}
