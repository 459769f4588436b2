/*
 * trace.h - petrelctl trace: the SMTP client dialogue of chosen
 * destinations, streamed to queued as it happens, with credentials
 * and message text never shown.  ctl.c starts and ends traces; the
 * dialogue (conn.c, client.c, auth.c) calls the hooks below, each one
 * test of trace_active while nobody traces.
 */
#ifndef PETREL_DELIVERD_TRACE_H
#define PETREL_DELIVERD_TRACE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct conn;

/*
 * tracemask.c: what of a dialogue may be shown.  One per connection,
 * fed every line either way while a trace runs.
 */
struct trace_mask {
	int	 challenge;	/* a 334 came: the next line answers it */
	int	 text;		/* a 354 came: the message text follows */
};

#define TRACE_LINE_MAX	1000	/* of a line shown; the rest is cut */

/*
 * A line sent (no CRLF).  secret: the caller knows a credential follows
 * line (line is then only what comes before it: "AUTH PLAIN ", "").
 * 1 with what to show in out: the line, "AUTH MECH ****" for any AUTH
 * command, "****" for an answer to a 334 challenge; 0: nothing at all
 * (the message text).
 */
int	 trace_mask_sent(struct trace_mask *, const char *line, int secret,
	    char *out, size_t outlen);
/* A line received: shown as it is; it moves the state on. */
void	 trace_mask_received(struct trace_mask *, const char *line);
/*
 * A line made fit for a JSON string and a terminal: control bytes, and
 * every byte beyond ASCII when it is no UTF-8, become '?'; cut at
 * outlen - 1 bytes (on a character boundary).
 */
void	 trace_clean(const char *in, char *out, size_t outlen);
/*
 * A routing domain or site as traces compare them: the host without
 * brackets or an "IPv6:" tag, lower-cased, and the port apart, so
 * "[192.0.2.1]", "192.0.2.1" and the site "192.0.2.1" are one name.
 */
struct trace_name {
	char	 host[1024];
	int	 port;		/* 0: none given */
};

void	 trace_name_parse(const char *, struct trace_name *);
/* The traced name matches: the same host, and the port if it gives one. */
int	 trace_name_match(const struct trace_name *want,
	    const struct trace_name *have);

/* trace.c */
extern int	 trace_active;	/* traces running */
void	 trace_start(uint32_t id, const char *name);
int	 trace_stop(uint32_t id);
void	 trace_stop_all(void);
void	 trace_sent(struct conn *, const char *line, int secret);
void	 trace_vsent(struct conn *, const char *fmt, va_list);
void	 trace_received(struct conn *, const char *line);
void	 trace_event(struct conn *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define TRACE_SENT(c, line, secret) do {				\
	if (trace_active)						\
		trace_sent((c), (line), (secret));			\
} while (0)
#define TRACE_RECEIVED(c, line) do {					\
	if (trace_active)						\
		trace_received((c), (line));				\
} while (0)
#define TRACE_EVENT(c, ...) do {					\
	if (trace_active)						\
		trace_event((c), __VA_ARGS__);				\
} while (0)

#endif
