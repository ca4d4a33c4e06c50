/* test_http_harness.h: shared helpers of the HTTP read plane tests: a fake source that
 * counts the bodies it lends, the plane on a libev loop in a server thread, and a raw-socket
 * HTTP client (so tests can send exactly the bytes they mean, hostile paths included). */
#ifndef BULWARK_TEST_HTTP_HARNESS_H
#define BULWARK_TEST_HTTP_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "replica/http/http.h"
#include "tests/unit/unit.h"

/* ------------------------------------------------------------------ fake source */
#define H_CHANNEL "stable/linux-amd64"
#define H_DOC "{\"channel\":\"stable/linux-amd64\",\"version\":3}"
#define H_ETAG "v3-5f1d"
#define H_COPIED_DOC "{\"channel\":\"copied\",\"version\":1}"
#define H_GROUP_DOC "{\"group\":\"7\",\"epoch\":1,\"f\":1,\"replicas\":[]}"
#define H_CHUNK_HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define H_HUGE_HEX  "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define H_BIG_HEX   "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define H_CHUNK_LEN 1000u
#define H_BIG_LEN   (8u * 1024u * 1024u)  /* for a client that stops reading */
#define H_MAX_CHUNK (10u * 1024u * 1024u) /* the tests' max_chunk; H_HUGE is above it */

struct h_fake {
	atomic_int lent;      /* bodies lent and not yet released */
	atomic_int released;  /* release calls */
	atomic_int calls;     /* source calls */
	uint8_t chunk[H_CHUNK_LEN];
	char scratch[64];     /* copy-mode bodies */
	uint8_t *big;         /* H_BIG_LEN bytes, also lent as the H_HUGE chunk (longer) */
};

static inline void h_release(void *ctx)
{
	struct h_fake *f = ctx;

	atomic_fetch_sub(&f->lent, 1);
	atomic_fetch_add(&f->released, 1);
}

static inline void h_lend(struct h_fake *f, struct http_body *out, const void *p, size_t n)
{
	out->data = p;
	out->len = n;
	out->release = h_release;
	out->release_ctx = f;
	atomic_fetch_add(&f->lent, 1);
}

static inline int h_src_channel(void *ctx, const char *name, struct http_body *out)
{
	struct h_fake *f = ctx;

	atomic_fetch_add(&f->calls, 1);
	if (strcmp(name, H_CHANNEL) == 0) {
		h_lend(f, out, H_DOC, strlen(H_DOC));
		strcpy(out->etag, H_ETAG);
		return 0;
	}
	if (strcmp(name, "copied") == 0) {
		/* Copy mode: a scratch buffer, overwritten once the plane has copied it. */
		strcpy(f->scratch, H_COPIED_DOC);
		out->data = (const uint8_t *)f->scratch;
		out->len = strlen(f->scratch);
		strcpy(out->etag, "c1");
		return 0;
	}
	if (strcmp(name, "badtag") == 0) {
		h_lend(f, out, H_DOC, strlen(H_DOC));
		strcpy(out->etag, "has space");
		return 0;
	}
	if (strcmp(name, "busy") == 0)
		return HTTP_ERR_UNAVAILABLE;
	if (strcmp(name, "broken") == 0)
		return HTTP_ERR_INTERNAL;
	return HTTP_ERR_NOT_FOUND;
}

static inline void h_unhex(const char *hex, uint8_t out[32])
{
	for (int i = 0; i < 32; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static inline int h_src_chunk(void *ctx, const uint8_t sha256[32], struct http_body *out)
{
	struct h_fake *f = ctx;
	uint8_t want[32];

	atomic_fetch_add(&f->calls, 1);
	h_unhex(H_CHUNK_HEX, want);
	if (memcmp(sha256, want, 32) == 0) {
		h_lend(f, out, f->chunk, sizeof(f->chunk));
		return 0;
	}
	h_unhex(H_BIG_HEX, want);
	if (memcmp(sha256, want, 32) == 0) {
		h_lend(f, out, f->big, H_BIG_LEN);
		return 0;
	}
	h_unhex(H_HUGE_HEX, want);
	if (memcmp(sha256, want, 32) == 0) {
		h_lend(f, out, f->big, H_MAX_CHUNK + 1); /* big holds H_MAX_CHUNK + 1 bytes */
		return 0;
	}
	return HTTP_ERR_NOT_FOUND;
}

static inline int h_src_group(void *ctx, struct http_body *out)
{
	struct h_fake *f = ctx;

	atomic_fetch_add(&f->calls, 1);
	h_lend(f, out, H_GROUP_DOC, strlen(H_GROUP_DOC));
	return 0;
}

static inline int h_src_metrics(void *ctx, struct wire_buf *out)
{
	static const char text[] = "# HELP bulwark_committed_seq Last committed sequence number.\n"
				   "# TYPE bulwark_committed_seq gauge\n"
				   "bulwark_committed_seq 42\n";
	struct h_fake *f = ctx;

	atomic_fetch_add(&f->calls, 1);
	wire_put_fixed(out, text, sizeof(text) - 1);
	return wire_buf_error(out);
}

/* ------------------------------------------------------------------ server thread */
struct h_server {
	struct ev_loop *loop;
	struct http_plane *plane;
	ev_async quit;
	pthread_t th;
	uint16_t port;
	struct h_fake fake;
};

static inline void h_on_quit(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static inline void *h_thread(void *arg)
{
	struct h_server *s = arg;

	ev_run(s->loop, 0);
	return NULL;
}

/* The tests' configuration: defaults, max_chunk H_MAX_CHUNK. */
static inline void h_config(struct http_config *cfg)
{
	http_config_init(cfg);
	cfg->max_chunk = H_MAX_CHUNK;
}

static inline void h_start(struct h_server *s, const struct http_config *cfg)
{
	struct http_source src = {&s->fake, h_src_channel, h_src_chunk, h_src_group, h_src_metrics};
	char err[256];

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < H_CHUNK_LEN; i++)
		s->fake.chunk[i] = (uint8_t)(i * 7 + 1);
	s->fake.big = malloc(H_MAX_CHUNK + 1);
	ck_assert_ptr_nonnull(s->fake.big);
	memset(s->fake.big, 'b', H_MAX_CHUNK + 1);
	s->loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(s->loop);
	s->plane = http_start(s->loop, cfg, &src, err, sizeof(err));
	ck_assert_msg(s->plane != NULL, "http_start: %s", err);
	s->port = http_port(s->plane);
	ck_assert_uint_ne(s->port, 0);
	ev_async_init(&s->quit, h_on_quit);
	ev_async_start(s->loop, &s->quit);
	ck_assert_int_eq(pthread_create(&s->th, NULL, h_thread, s), 0);
}

/* Stop the loop, stop the plane; every lent body must have come back exactly once. */
static inline void h_stop(struct h_server *s)
{
	ev_async_send(s->loop, &s->quit);
	ck_assert_int_eq(pthread_join(s->th, NULL), 0);
	http_stop(s->plane);
	ck_assert_int_eq(atomic_load(&s->fake.lent), 0);
	ev_async_stop(s->loop, &s->quit);
	ev_loop_destroy(s->loop);
	free(s->fake.big);
}

/* ------------------------------------------------------------------ raw client */
static inline int h_connect(uint16_t port)
{
	struct sockaddr_in a;
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static inline void h_send(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		ck_assert_int_gt(w, 0);
		s += w;
		n -= (size_t)w;
	}
}

struct h_resp {
	int status;          /* 0 if the connection closed before a status line */
	char head[16384];    /* status line and headers, NUL-terminated */
	uint8_t *body;       /* malloc'd, NUL-terminated (not counted in body_len) */
	size_t body_len;
};

/* The value of header name (case-insensitive) in r, copied to out; 1 if present. */
static inline int h_header(const struct h_resp *r, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = strstr(r->head, "\r\n");

	while (p != NULL && p[2] != '\0') {
		p += 2;
		const char *e = strstr(p, "\r\n");
		if (e == NULL)
			break;
		if ((size_t)(e - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(e - v);
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 1;
		}
		p = e;
	}
	return 0;
}

/* Read one response from fd. no_body: the request was HEAD (or a 304 is expected):
 * read no body whatever Content-Length says. Without Content-Length, read to EOF. */
static inline void h_read(int fd, struct h_resp *r, int no_body)
{
	size_t hl = 0;
	char *end = NULL;
	char cl[32];

	memset(r, 0, sizeof(*r));
	/* Byte by byte up to the blank line, so nothing of the body or a next response is
	 * consumed here. */
	while (hl + 1 < sizeof(r->head)) {
		ssize_t n = recv(fd, r->head + hl, 1, 0);
		if (n <= 0)
			break;
		hl++;
		r->head[hl] = '\0';
		if (hl >= 4 && memcmp(r->head + hl - 4, "\r\n\r\n", 4) == 0) {
			end = r->head + hl;
			break;
		}
	}
	r->body = calloc(1, 1);
	if (end == NULL)
		return;
	sscanf(r->head, "HTTP/1.%*c %d", &r->status);
	if (no_body || r->status == 304)
		return;
	size_t want = SIZE_MAX;
	if (h_header(r, "Content-Length", cl, sizeof(cl)))
		want = (size_t)strtoull(cl, NULL, 10);
	size_t cap = want == SIZE_MAX ? 65536 : want + 1;
	free(r->body);
	r->body = malloc(cap);
	ck_assert_ptr_nonnull(r->body);
	while (r->body_len < want) {
		if (r->body_len + 1 >= cap) {
			cap *= 2;
			r->body = realloc(r->body, cap);
			ck_assert_ptr_nonnull(r->body);
		}
		ssize_t n = recv(fd, r->body + r->body_len, cap - 1 - r->body_len, 0);
		if (n <= 0)
			break;
		r->body_len += (size_t)n;
	}
	r->body[r->body_len] = '\0';
}

static inline void h_resp_free(struct h_resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* One request on a fresh connection with "Connection: close"; extra is more header
 * lines, each ending in \r\n (may be NULL). */
static inline void h_request(uint16_t port, const char *method, const char *path,
			     const char *extra, struct h_resp *r)
{
	size_t cap = strlen(path) + (extra != NULL ? strlen(extra) : 0) + 256;
	char *req = malloc(cap);
	int fd = h_connect(port);

	ck_assert_ptr_nonnull(req);
	int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s\r\n",
			 method, path, extra != NULL ? extra : "");
	h_send(fd, req, (size_t)n);
	h_read(fd, r, strcmp(method, "HEAD") == 0);
	close(fd);
	free(req);
}

/* Expect status and, for an error, the one-line JSON body {"error":"...<substring>..."}. */
static inline void h_expect_error(const struct h_resp *r, int status, const char *substring)
{
	char ct[64], cc[64];

	ck_assert_msg(r->status == status, "status %d, want %d: %s", r->status, status,
		      (const char *)r->body);
	ck_assert(h_header(r, "Content-Type", ct, sizeof(ct)));
	ck_assert_str_eq(ct, "application/json");
	ck_assert(h_header(r, "Cache-Control", cc, sizeof(cc)));
	ck_assert_str_eq(cc, "no-store");
	ck_assert_msg(strncmp((const char *)r->body, "{\"error\":\"", 10) == 0, "body %s", r->body);
	ck_assert_uint_gt(r->body_len, 13);
	ck_assert(memcmp(r->body + r->body_len - 3, "\"}\n", 3) == 0);
	ck_assert(memchr(r->body, '\n', r->body_len) == r->body + r->body_len - 1);
	ck_assert_msg(strstr((const char *)r->body, substring) != NULL, "body %s lacks '%s'",
		      r->body, substring);
}

/* Is the connection closed by the server within secs (EOF or reset)? Waits with poll. */
static inline int h_closed_within(int fd, double secs)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	char b[256];

	if (poll(&pfd, 1, (int)(secs * 1000)) <= 0)
		return 0;
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static inline double h_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait up to secs for the fake source to have want bodies out; returns the last count. */
static inline int h_wait_lent(struct h_fake *f, int want, double secs)
{
	double t0 = h_now();
	int n;

	while ((n = atomic_load(&f->lent)) != want && h_now() - t0 < secs)
		usleep(10 * 1000);
	return n;
}

#endif
