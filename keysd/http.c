/*
 * http.c - keysd's one libcurl multi handle, driven by libevent: Vault
 * (vault.c, approle.c) and OAuth2 token endpoints (oauth2.c) share it.
 * curl says which sockets to watch and when to wake it up; a finished
 * transfer is taken off the handle and goes to the callback its
 * request gave (struct http_call), which may start it again.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "secret.h"
#include "util.h"
#include "keysd.h"

/* What curl tells about one socket. */
struct hsock {
	struct event	*ev;
};

static struct {
	struct event_base *base;
	CURLM		*multi;
	struct event	*timer;
} h;

static void
http_check_done(void)
{
	struct http_call *call;
	CURLMsg		*msg;
	CURL		*e;
	CURLcode	 rc;
	int		 left;

	while ((msg = curl_multi_info_read(h.multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		e = msg->easy_handle;
		rc = msg->data.result;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&call);
		/* msg is gone once the handle is: nothing of it after this */
		curl_multi_remove_handle(h.multi, e);
		call->done(call->arg, rc);
	}
}

static void
http_event_cb(evutil_socket_t fd, short what, void *arg)
{
	int	 running, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h.multi, fd, action, &running);
	http_check_done();
}

static void
http_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	int	 running;

	curl_multi_socket_action(h.multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_check_done();
}

static int
http_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
	struct hsock	*hs = socketp;
	short		 kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL) {
			event_free(hs->ev);
			free(hs);
			curl_multi_assign(h.multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (hs == NULL) {
		hs = xcalloc(1, sizeof(*hs));
		curl_multi_assign(h.multi, s, hs);
	} else
		event_free(hs->ev);
	hs->ev = event_new(h.base, s, kind, http_event_cb, NULL);
	event_add(hs->ev, NULL);
	return 0;
}

static int
http_timer_set_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct timeval	 tv;

	if (timeout_ms < 0) {
		evtimer_del(h.timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(h.timer, &tv);
	return 0;
}

/* Before anything else of libcurl (vault_init, oauth2_init). */
void
http_init(struct event_base *base)
{
	h.base = base;
	/* curl's copies of token headers and of answers are wiped */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipe_malloc, wipe_free,
	    wipe_realloc, wipe_strdup, wipe_calloc) != CURLE_OK)
		fatalx("keysd: curl_global_init failed");
	if ((h.multi = curl_multi_init()) == NULL)
		fatalx("keysd: curl_multi_init failed");
	curl_multi_setopt(h.multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
	curl_multi_setopt(h.multi, CURLMOPT_TIMERFUNCTION, http_timer_set_cb);
	if ((h.timer = evtimer_new(base, http_timer_cb, NULL)) == NULL)
		fatalx("keysd: evtimer_new");
}

/* Start a transfer; call->done gets its outcome. */
void
http_add(CURL *easy, struct http_call *call)
{
	curl_easy_setopt(easy, CURLOPT_PRIVATE, call);
	curl_multi_add_handle(h.multi, easy);
}

/* Stop a transfer under way (harmless when there is none). */
void
http_remove(CURL *easy)
{
	if (h.multi != NULL)
		curl_multi_remove_handle(h.multi, easy);
}

/* After vault_shutdown() and oauth2_shutdown() dropped their requests. */
void
http_shutdown(void)
{
	if (h.multi != NULL)
		curl_multi_cleanup(h.multi);
	h.multi = NULL;
	if (h.timer != NULL)
		event_free(h.timer);
	h.timer = NULL;
	curl_global_cleanup();
}

/*
 * A libcurl write callback's part for Vault's and the token endpoint's
 * answers: append len bytes of p to the secret buffer *body (NUL
 * ended), at most max in all; past it *toobig is set and 0 returned
 * (CURLE_WRITE_ERROR), else len.
 */
size_t
http_body_add(char **body, size_t *blen, size_t *bcap, int *toobig,
    const char *p, size_t len, size_t max)
{
	if (len > max - *blen) {
		*toobig = 1;
		return 0;
	}
	secret_grow(body, *blen, bcap, len, max);
	memcpy(*body + *blen, p, len);
	*blen += len;
	(*body)[*blen] = '\0';
	return len;
}
