/* log.h: one line per event, `ts level component msg=... key=value ...`, for the daemon and CLI. */
#ifndef BULWARK_COMMON_LOG_H
#define BULWARK_COMMON_LOG_H

#include <stdatomic.h>
#include <stddef.h>

/* Severity, lowest first. The LOG_LEVEL_ prefix keeps clear of <syslog.h>'s LOG_INFO. */
enum log_level {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_WARN = 2,
	LOG_LEVEL_ERROR = 3
};

/* Error codes (negative); 0 is success. */
enum log_err {
	LOG_OK = 0,
	LOG_ERR_ARG = -1,  /* bad argument (NULL, unknown level name, path too long) */
	LOG_ERR_OPEN = -2, /* the log file could not be opened; errno is kept */
	LOG_ERR_NOFILE = -3 /* log_reopen() without a log file */
};

/* Longest line written, newline included; longer lines are cut and end in "...".
 * PIPE_BUF-sized so that one write(2) of a line is atomic on pipes. */
#define LOG_LINE_MAX 4096u

const char *log_strerror(int err);

/* Messages below this level are dropped before any formatting. Default: info. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "debug", "info", "warn" (or "warning"), "error" -> *out. LOG_ERR_ARG otherwise. */
int log_parse_level(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Send lines to fd (borrowed: never closed by the logger). Default: 2 (stderr).
 * Forgets any file set with log_open_file() (and closes it). Used by tests too. */
void log_set_fd(int fd);
/* Append lines to path (created 0640 if missing; path copied). Replaces the current
 * sink only on success. */
int log_open_file(const char *path);
/* Reopen the file given to log_open_file() (after rotation, on SIGHUP). The new
 * descriptor replaces the old one atomically (dup2), so concurrent writers never
 * see a closed sink. LOG_ERR_NOFILE when logging to a plain fd. */
int log_reopen(void);

/* Write one line. msg is a fixed description (quoted when needed). fields, which may
 * be NULL, is a printf format of space-separated key=value pairs, e.g.
 * "view=%llu primary=%u". Every %s and %c argument is escaped as a value of its own:
 * wrapped in double quotes when empty or when it holds a space, '"', '=', '\' or a
 * byte outside printable ASCII, with '"' '\' \n \r \t as \" \\ \n \r \t and other
 * bytes as \xHH. Supported conversions: d i u x X o c s p with the length modifiers
 * hh h l ll z j t; a precision limits %s; flags and width are accepted and ignored
 * (values are written in full). Any other conversion prints "%!" and ends the
 * fields. One write(2) per line; safe to call from several threads.
 * Call through the macros below, which skip everything when the level is filtered. */
void log__write(enum log_level level, const char *component, const char *msg,
		const char *fields, ...) __attribute__((format(printf, 4, 5)));

extern atomic_int log__level;

static inline int log_enabled(enum log_level level)
{
	return (int)level >= atomic_load_explicit(&log__level, memory_order_relaxed);
}

#define log_msg(level, component, msg, ...)                                    \
	do {                                                                   \
		if (log_enabled(level))                                        \
			log__write((level), (component), (msg), __VA_ARGS__);  \
	} while (0)

#define log_debug(component, msg, ...) log_msg(LOG_LEVEL_DEBUG, component, msg, __VA_ARGS__)
#define log_info(component, msg, ...)  log_msg(LOG_LEVEL_INFO, component, msg, __VA_ARGS__)
#define log_warn(component, msg, ...)  log_msg(LOG_LEVEL_WARN, component, msg, __VA_ARGS__)
#define log_error(component, msg, ...) log_msg(LOG_LEVEL_ERROR, component, msg, __VA_ARGS__)

/* Escape one value the way log__write() does into out (always NUL-terminated when
 * outlen > 0). Returns the length the full escaped value needs, like snprintf. */
size_t log_escape_value(char *out, size_t outlen, const char *value);

#endif
