/*
 * smtp.h - the SMTP grammar both sides of petrel speak: command
 * parsing and mailbox syntax for smtpd, reply parsing for deliverd.
 * One implementation, RFC 5321.
 */
#ifndef PETREL_SMTP_H
#define PETREL_SMTP_H

#include <stdarg.h>
#include <stddef.h>

struct evbuffer;

#define SMTP_LINE_MAX		1000	/* text line, CRLF included (4.5.3.1.6) */
#define SMTP_CMDLINE_MAX	1024	/* 512 + room for ESMTP parameters */
#define SMTP_PATH_MAX		256	/* 4.5.3.1.3 */
#define SMTP_DOMAIN_MAX		255

enum smtp_cmd {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO, SMTP_CMD_EHLO, SMTP_CMD_MAIL, SMTP_CMD_RCPT,
	SMTP_CMD_DATA, SMTP_CMD_RSET, SMTP_CMD_NOOP, SMTP_CMD_QUIT,
	SMTP_CMD_VRFY, SMTP_CMD_EXPN, SMTP_CMD_HELP, SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH, SMTP_CMD_BDAT,
};

struct smtp_param {
	char	*key;
	char	*value;		/* NULL when the parameter has none */
};

#define SMTP_MAX_PARAMS	8

/* A reply being read line by line (deliverd; see smtp_reply_add()). */
#define SMTP_REPLY_LINES_MAX	100
#define SMTP_REPLY_TEXT_MAX	1024

enum { SMTP_REPLY_BAD = -1, SMTP_REPLY_MORE = 0, SMTP_REPLY_DONE = 1 };

struct smtp_reply {
	int	 code;		/* of the first line */
	int	 nlines;	/* lines so far */
	int	 done;		/* the last line came */
	size_t	 len;
	char	 text[SMTP_REPLY_TEXT_MAX];	/* "250 first line next..." */
};

enum smtp_cmd	 smtp_parse_verb(char *line, char **args);
const char	*smtp_cmd_name(enum smtp_cmd);
int		 smtp_parse_domain(const char *, int allow_literal);
int		 smtp_parse_routing_domain(const char *);
int		 smtp_parse_mailbox(const char *);
int		 smtp_utf8_check(const char *);
int		 smtp_parse_path(char *args, const char *prefix, char *path,
		    size_t pathlen, struct smtp_param *, int *nparams,
		    const char **err);
int		 smtp_parse_reply_line(const char *line, int *code,
		    int *more, const char **text);
int		 smtp_reply_add(struct smtp_reply *, const char *line,
		    const char **linetext);
void		 smtp_reply_reset(struct smtp_reply *);
int		 smtp_parse_enhanced(const char *text, char *out, size_t);
void		 smtp_vline(struct evbuffer *, const char *fmt, va_list);

#endif
