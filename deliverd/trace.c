/*
 * trace.c - petrelctl trace on deliverd's side: the SMTP client
 * dialogue of every connection whose routing domain or site is the
 * traced name, one IMSG_DELIVERD_CTL_REPLY (last = 0) per line or
 * event, as it happens:
 *
 *	{"time": 1712345678.123, "domain": "example.com",
 *	 "site": "mx.example.com", "relay": "mx.example.com[192.0.2.1]:25",
 *	 "conn": 7, "dir": ">", "line": "MAIL FROM:<a@example.net>"}
 *
 * dir is ">" sent, "<" received, "-" an event (connecting, TLS, an
 * error, closed, the size of the message text).  tracemask.c decides
 * what of a line may be shown.  "domain" is that of the connection's
 * task, or of its last one ("" before it had any that a trace saw).
 *
 * Several traces (request ids) may run at once; ctl.c starts and stops
 * them, and all stop when the channel to queued goes.  While nobody
 * traces, each hook is one test of trace_active.  The channel is
 * shared with results: past TRACE_QUEUE_MAX bytes waiting on it, trace
 * lines are dropped and counted, and the next one that fits is
 * preceded by {"time": ..., "dir": "-", "line": "N lines dropped"}.
 */
#include "config.h"

#include <bsd/sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "deliverd.h"
#include "trace.h"
#include "util.h"
#include "wire.h"

#define TRACE_QUEUE_MAX	(256 * 1024)	/* bytes waiting to go */

struct trace {
	TAILQ_ENTRY(trace) entry;
	uint32_t	 id;
	struct trace_name name;
	uint64_t	 dropped;
};

static TAILQ_HEAD(, trace) traces = TAILQ_HEAD_INITIALIZER(traces);
int		 trace_active;

void
trace_start(uint32_t id, const char *name)
{
	struct trace	*t;

	trace_stop(id);		/* the same id again: the new name */
	t = xcalloc(1, sizeof(*t));
	t->id = id;
	trace_name_parse(name, &t->name);
	TAILQ_INSERT_TAIL(&traces, t, entry);
	trace_active++;
}

/* 0, or -1 when no trace has that id. */
int
trace_stop(uint32_t id)
{
	struct trace	*t;

	TAILQ_FOREACH(t, &traces, entry)
		if (t->id == id)
			break;
	if (t == NULL)
		return -1;
	TAILQ_REMOVE(&traces, t, entry);
	free(t);
	trace_active--;
	return 0;
}

/* The channel to queued went: nobody is there to read a trace. */
void
trace_stop_all(void)
{
	struct trace	*t;

	while ((t = TAILQ_FIRST(&traces)) != NULL) {
		TAILQ_REMOVE(&traces, t, entry);
		free(t);
	}
	trace_active = 0;
}

static double
trace_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* milliseconds are plenty, and print short */
	return ts.tv_sec + (ts.tv_nsec / 1000000) / 1e3;
}

static void
trace_send(uint32_t id, json_t *o)
{
	struct mbuf	 m;
	char		*doc;

	if ((doc = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(13))) ==
	    NULL)
		return;
	m_create(&m, IMSG_DELIVERD_CTL_REPLY, id, -1);
	m_add_u8(&m, 0);
	m_add_u8(&m, CTL_EXIT_OK);
	m_add_string(&m, doc);
	m_add_string(&m, "");
	chan_send(dd->queue, &m);
	free(doc);
}

/* The routing domain of what the connection carries, or carried last. */
static const char *
trace_domain(struct conn *c)
{
	if (c->task != NULL && c->task->domain != NULL)
		strlcpy(c->trace_domain, c->task->domain,
		    sizeof(c->trace_domain));
	return c->trace_domain;
}

/* Any name as a JSON string (one that is no UTF-8 makes none). */
static json_t *
trace_string(const char *s)
{
	char	 buf[1100];

	trace_clean(s, buf, sizeof(buf));
	return json_string(buf);
}

/* One line (already masked) to every trace that wants this connection. */
static void
trace_emit(struct conn *c, const char *dir, const char *line)
{
	struct trace	*t;
	json_t		*o = NULL, *drop;
	const char	*domain = trace_domain(c);
	struct trace_name site, dom;
	char		 text[64];

	trace_name_parse(c->site->name, &site);
	trace_name_parse(domain, &dom);
	TAILQ_FOREACH(t, &traces, entry) {
		if (!trace_name_match(&t->name, &site) &&
		    !trace_name_match(&t->name, &dom))
			continue;
		if (dd->queue == NULL)
			break;
		if (dd->queue->ibuf.wqueued > TRACE_QUEUE_MAX) {
			t->dropped++;
			continue;
		}
		if (t->dropped > 0) {
			snprintf(text, sizeof(text), "%llu lines dropped",
			    (unsigned long long)t->dropped);
			drop = json_pack("{s:f,s:s,s:s}", "time", trace_now(),
			    "dir", "-", "line", text);
			if (drop != NULL)
				trace_send(t->id, drop);
			json_decref(drop);
			t->dropped = 0;
		}
		if (o == NULL && (o = json_object()) != NULL) {
			json_object_set_new(o, "time", json_real(trace_now()));
			json_object_set_new(o, "domain", trace_string(domain));
			json_object_set_new(o, "site",
			    trace_string(c->site->name));
			json_object_set_new(o, "relay", trace_string(c->relay));
			json_object_set_new(o, "conn",
			    json_integer(c->serial));
			json_object_set_new(o, "dir", json_string(dir));
			json_object_set_new(o, "line", json_string(line));
		}
		if (o != NULL)
			trace_send(t->id, o);
	}
	json_decref(o);
}

void
trace_sent(struct conn *c, const char *line, int secret)
{
	char	 out[TRACE_LINE_MAX + 1];

	if (trace_mask_sent(&c->tmask, line, secret, out, sizeof(out)))
		trace_emit(c, ">", out);
}

void
trace_vsent(struct conn *c, const char *fmt, va_list ap)
{
	char	 line[TRACE_LINE_MAX + 1];

	vsnprintf(line, sizeof(line), fmt, ap);
	trace_sent(c, line, 0);
}

void
trace_received(struct conn *c, const char *line)
{
	char	 out[TRACE_LINE_MAX + 1];

	/* every connection's state moves on, traced or not yet */
	trace_mask_received(&c->tmask, line);
	trace_clean(line, out, sizeof(out));
	trace_emit(c, "<", out);
}

void
trace_event(struct conn *c, const char *fmt, ...)
{
	char	 line[TRACE_LINE_MAX + 1], out[TRACE_LINE_MAX + 1];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	trace_clean(line, out, sizeof(out));
	trace_emit(c, "-", out);
}
