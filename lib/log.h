/*
 * log.h - logging for every petrel process: syslog with ident
 * "petrel/<process>", mirrored to stderr in the foreground (-d).
 */
#ifndef PETREL_LOG_H
#define PETREL_LOG_H

#include <stdarg.h>
#include <stddef.h>

void	log_init(const char *proc, int foreground, int verbose);
int	log_open_syslog(const char *socketpath, int facility);
void	log_setproc(const char *proc);
int	log_verbose(void);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
const char *log_quote(const char *, char *buf, size_t len);
const char *log_token(const char *, char *buf, size_t len);
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
