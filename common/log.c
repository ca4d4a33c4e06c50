/* log.c: the line logger: timestamp, level, component, escaped msg and key=value fields. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

atomic_int log__level = LOG_LEVEL_INFO;

/* The sink. log_fd is read without the lock by writers; the lock serialises changes. */
static atomic_int log_fd = 2;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_path[PATH_MAX]; /* non-empty while logging to a file we opened */
static int log_own_fd = -1;     /* that file's descriptor */

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

const char *log_strerror(int err)
{
	switch (err) {
	case LOG_OK: return "success";
	case LOG_ERR_ARG: return "invalid argument";
	case LOG_ERR_OPEN: return "cannot open log file";
	case LOG_ERR_NOFILE: return "not logging to a file";
	default: return "unknown log error";
	}
}

void log_set_level(enum log_level level)
{
	if ((int)level < LOG_LEVEL_DEBUG || (int)level > LOG_LEVEL_ERROR)
		return;
	atomic_store(&log__level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log__level);
}

int log_parse_level(const char *name, enum log_level *out)
{
	if (name == NULL || out == NULL)
		return LOG_ERR_ARG;
	for (int i = 0; i <= LOG_LEVEL_ERROR; i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return LOG_OK;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return LOG_OK;
	}
	return LOG_ERR_ARG;
}

const char *log_level_name(enum log_level level)
{
	if ((int)level < LOG_LEVEL_DEBUG || (int)level > LOG_LEVEL_ERROR)
		return "unknown";
	return log_level_names[level];
}

void log_set_fd(int fd)
{
	pthread_mutex_lock(&log_lock);
	atomic_store(&log_fd, fd);
	if (log_own_fd >= 0 && log_own_fd != fd)
		close(log_own_fd);
	log_own_fd = -1;
	log_path[0] = '\0';
	pthread_mutex_unlock(&log_lock);
}

static int log_open_path(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int log_open_file(const char *path)
{
	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(log_path))
		return LOG_ERR_ARG;
	int fd = log_open_path(path);
	if (fd < 0)
		return LOG_ERR_OPEN;
	pthread_mutex_lock(&log_lock);
	if (log_own_fd >= 0) {
		/* Keep the descriptor number: writers holding it keep a valid sink. */
		if (dup2(fd, log_own_fd) < 0) {
			int saved = errno;
			pthread_mutex_unlock(&log_lock);
			close(fd);
			errno = saved;
			return LOG_ERR_OPEN;
		}
		close(fd);
	} else {
		log_own_fd = fd;
		atomic_store(&log_fd, fd);
	}
	memcpy(log_path, path, strlen(path) + 1);
	pthread_mutex_unlock(&log_lock);
	return LOG_OK;
}

int log_reopen(void)
{
	int rc = LOG_OK;
	pthread_mutex_lock(&log_lock);
	if (log_path[0] == '\0' || log_own_fd < 0) {
		rc = LOG_ERR_NOFILE;
		goto out;
	}
	int fd = log_open_path(log_path);
	if (fd < 0) {
		rc = LOG_ERR_OPEN;
		goto out;
	}
	if (dup2(fd, log_own_fd) < 0)
		rc = LOG_ERR_OPEN;
	int saved = errno;
	close(fd);
	errno = saved;
out:
	pthread_mutex_unlock(&log_lock);
	return rc;
}

/* ---------------------------------------------------------------- formatting */

/* A line under construction. Content is capped at LOG_LINE_MAX - 1 bytes so that
 * the newline always fits; overflow sets cut. */
struct log_line {
	char b[LOG_LINE_MAX];
	size_t len;
	int cut;
};

static void line_put(struct log_line *l, const char *s, size_t n)
{
	size_t room = LOG_LINE_MAX - 1 - l->len;
	if (n > room) {
		n = room;
		l->cut = 1;
	}
	memcpy(l->b + l->len, s, n);
	l->len += n;
}

static void line_puts(struct log_line *l, const char *s)
{
	line_put(l, s, strlen(s));
}

static int esc_needs_quotes(const char *s, size_t n)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c >= 0x7f || c == '"' || c == '=' || c == '\\')
			return 1;
	}
	return 0;
}

/* Writes the escaped form of s[0..n) into out, at most room bytes and no NUL;
 * returns the full length it needs. */
static size_t esc(char *out, size_t room, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t w = 0;
	char tmp[4];
	int quote = esc_needs_quotes(s, n);

#define ESC_EMIT(p, k)                                              \
	do {                                                        \
		for (size_t j_ = 0; j_ < (k); j_++, w++)            \
			if (w < room)                               \
				out[w] = (p)[j_];                   \
	} while (0)

	if (quote)
		ESC_EMIT("\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			ESC_EMIT(tmp, 2);
		} else if (c == '\n') {
			ESC_EMIT("\\n", 2);
		} else if (c == '\r') {
			ESC_EMIT("\\r", 2);
		} else if (c == '\t') {
			ESC_EMIT("\\t", 2);
		} else if (c < ' ' || c >= 0x7f) {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[c >> 4];
			tmp[3] = hex[c & 15];
			ESC_EMIT(tmp, 4);
		} else {
			tmp[0] = (char)c;
			ESC_EMIT(tmp, 1);
		}
	}
	if (quote)
		ESC_EMIT("\"", 1);
#undef ESC_EMIT
	return w;
}

size_t log_escape_value(char *out, size_t outlen, const char *value)
{
	if (value == NULL)
		value = "(null)";
	size_t n = strlen(value);
	if (out == NULL || outlen == 0)
		return esc(NULL, 0, value, n);
	size_t w = esc(out, outlen - 1, value, n);
	out[w < outlen - 1 ? w : outlen - 1] = '\0';
	return w;
}

static void line_put_escaped(struct log_line *l, const char *s, size_t n)
{
	size_t room = LOG_LINE_MAX - 1 - l->len;
	size_t w = esc(l->b + l->len, room, s, n);
	if (w > room) {
		w = room;
		l->cut = 1;
	}
	l->len += w;
}

/* Largest precision honoured for %s; a bigger one ends the fields with "%!". */
#define LOG_MAX_PRECISION 4096

/* Formats fields into l, escaping %s and %c values; see log.h for the subset. */
static void line_put_fields(struct log_line *l, const char *fmt, va_list ap)
{
	const char *p = fmt;
	while (*p != '\0') {
		if (*p != '%') {
			const char *q = strchr(p, '%');
			size_t n = q ? (size_t)(q - p) : strlen(p);
			line_put(l, p, n);
			p += n;
			continue;
		}
		p++;
		if (*p == '%') {
			line_put(l, "%", 1);
			p++;
			continue;
		}
		/* Flags and width are accepted and ignored: values are written in full. */
		while (*p != '\0' && strchr("-+ #0", *p) != NULL)
			p++;
		if (*p == '*') {
			(void)va_arg(ap, int);
			p++;
		} else {
			while (*p >= '0' && *p <= '9')
				p++;
		}
		int prec = -1;
		if (*p == '.') {
			p++;
			prec = 0;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			} else {
				while (*p >= '0' && *p <= '9' && prec <= LOG_MAX_PRECISION)
					prec = prec * 10 + (*p++ - '0');
			}
		}
		if (prec > LOG_MAX_PRECISION)
			goto bad;
		char len = '\0'; /* 'H' for hh, 'L' for ll */
		if (p[0] == 'h' && p[1] == 'h') {
			len = 'H';
			p += 2;
		} else if (p[0] == 'l' && p[1] == 'l') {
			len = 'L';
			p += 2;
		} else if (*p != '\0' && strchr("hlzjt", *p) != NULL) {
			len = *p++;
		}
		char conv = *p;
		if (conv == '\0')
			goto bad;
		p++;

		char num[64];
		int nw;
		if (conv == 's' && len == '\0') {
			const char *s = va_arg(ap, const char *);
			if (s == NULL)
				s = "(null)";
			size_t n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
			line_put_escaped(l, s, n);
			continue;
		} else if (conv == 'c' && len == '\0') {
			char c = (char)va_arg(ap, int);
			line_put_escaped(l, &c, 1);
			continue;
		} else if (conv == 'p' && len == '\0') {
			nw = snprintf(num, sizeof(num), "%p", va_arg(ap, void *));
		} else if (conv == 'd' || conv == 'i') {
			intmax_t v;
			switch (len) {
			case '\0': v = va_arg(ap, int); break;
			case 'H': v = (signed char)va_arg(ap, int); break;
			case 'h': v = (short)va_arg(ap, int); break;
			case 'l': v = va_arg(ap, long); break;
			case 'L': v = va_arg(ap, long long); break;
			case 'z': v = va_arg(ap, ssize_t); break;
			case 'j': v = va_arg(ap, intmax_t); break;
			case 't': v = va_arg(ap, ptrdiff_t); break;
			default: goto bad;
			}
			nw = snprintf(num, sizeof(num), "%jd", v);
		} else if (conv == 'u' || conv == 'x' || conv == 'X' || conv == 'o') {
			uintmax_t v;
			switch (len) {
			case '\0': v = va_arg(ap, unsigned); break;
			case 'H': v = (unsigned char)va_arg(ap, unsigned); break;
			case 'h': v = (unsigned short)va_arg(ap, unsigned); break;
			case 'l': v = va_arg(ap, unsigned long); break;
			case 'L': v = va_arg(ap, unsigned long long); break;
			case 'z': v = va_arg(ap, size_t); break;
			case 'j': v = va_arg(ap, uintmax_t); break;
			case 't': v = (uintmax_t)va_arg(ap, ptrdiff_t); break;
			default: goto bad;
			}
			if (conv == 'u')
				nw = snprintf(num, sizeof(num), "%ju", v);
			else if (conv == 'x')
				nw = snprintf(num, sizeof(num), "%jx", v);
			else if (conv == 'X')
				nw = snprintf(num, sizeof(num), "%jX", v);
			else
				nw = snprintf(num, sizeof(num), "%jo", v);
		} else {
			goto bad;
		}
		if (nw < 0)
			goto bad;
		line_put(l, num, (size_t)nw < sizeof(num) ? (size_t)nw : sizeof(num) - 1);
	}
	return;
bad:
	/* The argument list can no longer be trusted to line up: stop here. */
	line_puts(l, "%!");
}

static void line_put_timestamp(struct log_line *l)
{
	struct timespec ts;
	struct tm tm;
	char b[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(b, sizeof(b), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (long)(ts.tv_nsec / 1000000));
	if (n > 0)
		line_put(l, b, (size_t)n < sizeof(b) ? (size_t)n : sizeof(b) - 1);
}

void log__write(enum log_level level, const char *component, const char *msg,
		const char *fields, ...)
{
	struct log_line l;
	l.len = 0;
	l.cut = 0;
	int saved_errno = errno;

	line_put_timestamp(&l);
	line_puts(&l, " ");
	line_puts(&l, log_level_name(level));
	line_puts(&l, " ");
	const char *comp = component ? component : "-";
	line_put_escaped(&l, comp, strlen(comp));
	line_puts(&l, " msg=");
	const char *m = msg ? msg : "";
	line_put_escaped(&l, m, strlen(m));
	if (fields != NULL && fields[0] != '\0') {
		va_list ap;
		line_puts(&l, " ");
		va_start(ap, fields);
		line_put_fields(&l, fields, ap);
		va_end(ap);
	}
	if (l.cut)
		memcpy(l.b + LOG_LINE_MAX - 4, "...", 3);
	l.b[l.len++] = '\n';

	int fd = atomic_load(&log_fd);
	size_t off = 0;
	while (off < l.len) {
		ssize_t w = write(fd, l.b + off, l.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break; /* nowhere left to report it */
		off += (size_t)w;
	}
	errno = saved_errno;
}
