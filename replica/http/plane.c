/* plane.c: the HTTP read plane: libmicrohttpd in external epoll mode driven by the daemon's
 * libev loop (an ev_io on MHD's epoll fd, an ev_timer from MHD_get_timeout), the routes
 * and their responses. */
#include <errno.h>
#include <ev.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "replica/http/http_int.h"
#include "wire/upd.h"

#define HTTP_CHUNK_CACHE "public, max-age=31536000, immutable"
#define HTTP_ALLOW "GET, HEAD"
#define HTTP_JSON "application/json"
/* Connections accepted per loop turn, and the pause after running out of descriptors. */
#define HTTP_ACCEPT_BATCH 64
#define HTTP_ACCEPT_PAUSE 0.1
/* Longest error body: {"error":"..."} and a newline. */
#define HTTP_ERROR_MAX 512u

/* Per TCP connection, from MHD_CONNECTION_NOTIFY_STARTED to _CLOSED: the request being
 * answered on it (one at a time). */
struct http_conn {
	double start;               /* monotonic seconds when the request head was read */
	enum http_route_kind route;
	unsigned code;              /* 0 until a response is queued */
	uint64_t body;              /* body bytes of that response (0 for HEAD) */
};

struct http_plane {
	struct ev_loop *loop;
	struct MHD_Daemon *mhd;
	int listen_fd;
	ev_io listen_io;   /* new connections: accepted here, handed to MHD or refused */
	ev_timer pause;    /* accepting paused after EMFILE and the like */
	ev_io io;          /* MHD's epoll fd readable */
	ev_timer timer;    /* MHD_get_timeout */
	uint16_t port;
	struct http_config cfg;
	struct http_source src;
	char doc_cache[32]; /* "max-age=N" */
	double log_last;    /* rate limit of libmicrohttpd's messages */
	unsigned log_dropped;
	struct http__metrics m;
};

static const char *const http_errors[] = {
	[0] = "success",
	[1] = "not found",
	[2] = "temporarily unavailable",
	[3] = "internal error of the source",
	[4] = "bad argument or configuration",
	[5] = "out of memory",
	[6] = "listen address does not resolve",
	[7] = "socket, bind or listen failed",
	[8] = "libmicrohttpd failed to start",
	[9] = "malformed request path",
	[10] = "malformed request header",
};

const char *http_strerror(int err)
{
	if (err > 0 || (size_t)-err >= sizeof(http_errors) / sizeof(http_errors[0]))
		return "unknown http error";
	return http_errors[-err];
}

void http_config_init(struct http_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->host = "127.0.0.1";
	cfg->port = 0;
	cfg->max_connections = 1024;
	cfg->max_per_ip = 64;
	cfg->timeout_s = 10;
	cfg->max_url = 1024;
	cfg->max_header = 16384;
	cfg->max_chunk = WIRE_UPD_MAX_CHUNK;
	cfg->max_age_s = 5;
}

uint16_t http_port(const struct http_plane *plane)
{
	return plane->port;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- loop glue */

static void plane_arm(struct http_plane *p)
{
	MHD_UNSIGNED_LONG_LONG ms;

	ev_timer_stop(p->loop, &p->timer);
	if (MHD_get_timeout(p->mhd, &ms) == MHD_YES) {
		ev_timer_set(&p->timer, (double)ms / 1000.0, 0.0);
		ev_timer_start(p->loop, &p->timer);
	}
}

static void plane_drive(struct http_plane *p)
{
	MHD_run(p->mhd);
	plane_arm(p);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	plane_drive(w->data);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	plane_drive(w->data);
}

/* Accept what is pending (a bounded batch per loop turn). Over max_connections a new
 * connection is closed at once, so a client learns "full" now instead of waiting in the
 * backlog; MHD refuses (and closes) one over max_per_ip. */
static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct http_plane *p = w->data;

	for (int i = 0; i < HTTP_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(p->listen_fd, (struct sockaddr *)&ss, &sl,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of descriptors: retry in a moment instead of spinning. */
				log_warn("http", "accept paused", "error=%s", strerror(errno));
				ev_io_stop(loop, &p->listen_io);
				ev_timer_set(&p->pause, HTTP_ACCEPT_PAUSE, 0.0);
				ev_timer_start(loop, &p->pause);
			}
			break;
		}
		if (p->m.connections >= p->cfg.max_connections) {
			close(fd);
			p->m.refused++;
			continue;
		}
		if (MHD_add_connection(p->mhd, fd, (struct sockaddr *)&ss, sl) != MHD_YES)
			p->m.refused++; /* per-address limit or no memory; MHD closed fd */
	}
	plane_drive(p);
}

static void on_pause_end(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct http_plane *p = w->data;

	ev_io_start(loop, &p->listen_io);
}

/* libmicrohttpd's own messages, at most one a second (a flood of refused connections
 * must not flood the log). */
__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct http_plane *p = cls;
	char line[256];
	double now = mono_now();

	if (now - p->log_last < 1.0) {
		p->log_dropped++;
		return;
	}
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\r\n")] = '\0';
	log_warn("http", "libmicrohttpd", "detail=%s suppressed=%u", line, p->log_dropped);
	p->log_last = now;
	p->log_dropped = 0;
}

/* The path is decoded by http_parse_path, strictly; MHD must leave it as sent. */
static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

/* ---------------------------------------------------------------- responses */

/* {"error":"msg"} and a newline into out (HTTP_ERROR_MAX bytes); msg may hold any bytes:
 * quote, backslash, control and non-ASCII bytes are escaped. Returns the length. */
static size_t json_error(char *out, const char *msg)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 10;

	memcpy(out, "{\"error\":\"", n);
	for (const unsigned char *s = (const unsigned char *)msg; *s != '\0'; s++) {
		if (n + 6 + 3 > HTTP_ERROR_MAX) /* room for one escape and the closing "}\n */
			break;
		if (*s == '"' || *s == '\\') {
			out[n++] = '\\';
			out[n++] = (char)*s;
		} else if (*s < 0x20 || *s >= 0x7f) {
			memcpy(out + n, "\\u00", 4);
			out[n + 4] = hex[*s >> 4];
			out[n + 5] = hex[*s & 15];
			n += 6;
		} else {
			out[n++] = (char)*s;
		}
	}
	memcpy(out + n, "\"}\n", 3);
	return n + 3;
}

static void body_done(const struct http_body *b)
{
	if (b->release != NULL)
		b->release(b->release_ctx);
}

/* A response over b's bytes [off, off + len): zero-copy when b has a release callback
 * (which then runs when MHD destroys the response), else copied. On failure b is
 * released and NULL returned. */
static struct MHD_Response *body_response(const struct http_body *b, size_t off, size_t len)
{
	static char empty[1];
	void *data = b->data != NULL ? (void *)(b->data + off) : empty;
	struct MHD_Response *r;

	if (b->release == NULL)
		return MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_COPY);
	r = MHD_create_response_from_buffer_with_free_callback_cls(len, data, b->release,
								    b->release_ctx);
	if (r == NULL)
		b->release(b->release_ctx);
	return r;
}

/* Add name: value pairs (NULL-terminated list) to r. 0, or -1 out of memory. */
static int add_headers(struct MHD_Response *r, ...)
{
	va_list ap;
	const char *name;
	int rc = 0;

	va_start(ap, r);
	while ((name = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		if (MHD_add_response_header(r, name, value) != MHD_YES)
			rc = -1;
	}
	va_end(ap);
	return rc;
}

/* Queue r (consumed) with code; body is what reaches the client unless it is HEAD. */
static enum MHD_Result queue(struct MHD_Connection *c, struct http_conn *hc, unsigned code,
			     struct MHD_Response *r, uint64_t body, int head)
{
	enum MHD_Result ret;

	hc->code = code;
	hc->body = head ? 0 : body;
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* An error: one line of JSON, never cached. extra_name/extra_value (may be NULL) is one
 * more header (Allow, Content-Range, Retry-After). */
static enum MHD_Result send_error(struct MHD_Connection *c, struct http_conn *hc, int head,
				  unsigned code, const char *msg, const char *extra_name,
				  const char *extra_value)
{
	char body[HTTP_ERROR_MAX];
	size_t n = json_error(body, msg);
	struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_COPY);

	if (r == NULL)
		return MHD_NO;
	if (add_headers(r, MHD_HTTP_HEADER_CONTENT_TYPE, HTTP_JSON,
			MHD_HTTP_HEADER_CACHE_CONTROL, "no-store", NULL) != 0 ||
	    (extra_name != NULL && add_headers(r, extra_name, extra_value, NULL) != 0)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue(c, hc, code, r, n, head);
}

/* The answer to a source callback that returned an error. */
static enum MHD_Result send_source_error(struct MHD_Connection *c, struct http_conn *hc,
					 int head, int rc, const char *what)
{
	char msg[384];

	switch (rc) {
	case HTTP_ERR_NOT_FOUND:
		snprintf(msg, sizeof(msg), "%s not found", what);
		return send_error(c, hc, head, MHD_HTTP_NOT_FOUND, msg, NULL, NULL);
	case HTTP_ERR_UNAVAILABLE:
		snprintf(msg, sizeof(msg), "%s temporarily unavailable", what);
		return send_error(c, hc, head, MHD_HTTP_SERVICE_UNAVAILABLE, msg,
				  MHD_HTTP_HEADER_RETRY_AFTER, "1");
	default:
		snprintf(msg, sizeof(msg), "%s: %s", what, http_strerror(rc));
		return send_error(c, hc, head, MHD_HTTP_INTERNAL_SERVER_ERROR, msg, NULL, NULL);
	}
}

static int etag_valid(const char *etag)
{
	size_t n = 0;

	for (const unsigned char *s = (const unsigned char *)etag; *s != '\0'; s++, n++)
		if (*s < 0x21 || *s == '"' || *s > 0x7e || n == HTTP_ETAG_MAX)
			return 0;
	return 1;
}

/* 304 with the validators and caching headers a 200 would carry, no body. */
static enum MHD_Result send_not_modified(struct MHD_Connection *c, struct http_conn *hc,
					 const char *quoted_etag, const char *cache_control)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);

	if (r == NULL)
		return MHD_NO;
	if (add_headers(r, MHD_HTTP_HEADER_CACHE_CONTROL, cache_control, NULL) != 0 ||
	    (quoted_etag[0] != '\0' &&
	     add_headers(r, MHD_HTTP_HEADER_ETAG, quoted_etag, NULL) != 0)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue(c, hc, MHD_HTTP_NOT_MODIFIED, r, 0, 1);
}

/* Evaluate If-None-Match against etag ("" = none). 1: answer 304; 0: go on; -1: the
 * header is malformed, why filled. */
static int if_none_match(struct MHD_Connection *c, const char *etag, char *why, size_t whylen)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	int m;

	if (v == NULL)
		return 0;
	m = http_match_etag(v, etag, why, whylen);
	return m < 0 ? -1 : m;
}

/* A JSON document from the source (channel, group): ETag, If-None-Match, max-age. */
static enum MHD_Result serve_document(struct http_plane *p, struct MHD_Connection *c,
				      struct http_conn *hc, int head, const struct http_body *b)
{
	char quoted[HTTP_ETAG_MAX + 3] = "";
	char why[160];
	struct MHD_Response *r;

	if (!etag_valid(b->etag) || (b->data == NULL && b->len != 0)) {
		body_done(b);
		return send_error(c, hc, head, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  b->data == NULL && b->len != 0 ? "the source gave a body without data"
								 : "the source gave an invalid ETag",
				  NULL, NULL);
	}
	if (b->etag[0] != '\0')
		snprintf(quoted, sizeof(quoted), "\"%s\"", b->etag);
	switch (if_none_match(c, b->etag, why, sizeof(why))) {
	case 1:
		body_done(b);
		return send_not_modified(c, hc, quoted, p->doc_cache);
	case -1:
		body_done(b);
		return send_error(c, hc, head, MHD_HTTP_BAD_REQUEST, why, NULL, NULL);
	default:
		break;
	}
	r = body_response(b, 0, b->len);
	if (r == NULL)
		return MHD_NO;
	if (add_headers(r, MHD_HTTP_HEADER_CONTENT_TYPE, HTTP_JSON,
			MHD_HTTP_HEADER_CACHE_CONTROL, p->doc_cache, NULL) != 0 ||
	    (quoted[0] != '\0' && add_headers(r, MHD_HTTP_HEADER_ETAG, quoted, NULL) != 0)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue(c, hc, MHD_HTTP_OK, r, b->len, head);
}

static enum MHD_Result serve_channel(struct http_plane *p, struct MHD_Connection *c,
				     struct http_conn *hc, int head, const struct http_route *rt)
{
	struct http_body b;
	char what[HTTP_NAME_MAX + 16];
	int rc;

	memset(&b, 0, sizeof(b));
	rc = p->src.channel(p->src.ctx, rt->name, &b);
	if (rc != 0) {
		snprintf(what, sizeof(what), "channel %s", rt->name);
		return send_source_error(c, hc, head, rc, what);
	}
	return serve_document(p, c, hc, head, &b);
}

static enum MHD_Result serve_group(struct http_plane *p, struct MHD_Connection *c,
				   struct http_conn *hc, int head)
{
	struct http_body b;
	int rc;

	memset(&b, 0, sizeof(b));
	rc = p->src.group(p->src.ctx, &b);
	if (rc != 0)
		return send_source_error(c, hc, head, rc, "group document");
	return serve_document(p, c, hc, head, &b);
}

static enum MHD_Result serve_chunk(struct http_plane *p, struct MHD_Connection *c,
				   struct http_conn *hc, int head, const struct http_route *rt)
{
	static const char hex[] = "0123456789abcdef";
	char id[65], quoted[67], what[80], why[160], crange[96];
	struct http_body b;
	struct http_range rg;
	struct MHD_Response *r;
	const char *range, *if_range;
	unsigned code = MHD_HTTP_OK;
	size_t off = 0, len;
	int rc;

	for (size_t i = 0; i < 32; i++) {
		id[2 * i] = hex[rt->sha256[i] >> 4];
		id[2 * i + 1] = hex[rt->sha256[i] & 15];
	}
	id[64] = '\0';
	snprintf(quoted, sizeof(quoted), "\"%s\"", id);
	snprintf(what, sizeof(what), "chunk %s", id);

	memset(&b, 0, sizeof(b));
	rc = p->src.chunk(p->src.ctx, rt->sha256, &b);
	if (rc != 0)
		return send_source_error(c, hc, head, rc, what);
	if (b.len > p->cfg.max_chunk || (b.data == NULL && b.len != 0)) {
		body_done(&b);
		if (b.data == NULL)
			snprintf(why, sizeof(why), "%s: the source gave a body without data", what);
		else
			snprintf(why, sizeof(why), "%s: the source gave %zu bytes, above the limit of %zu",
				 what, b.len, p->cfg.max_chunk);
		return send_error(c, hc, head, MHD_HTTP_INTERNAL_SERVER_ERROR, why, NULL, NULL);
	}
	switch (if_none_match(c, id, why, sizeof(why))) {
	case 1:
		body_done(&b);
		return send_not_modified(c, hc, quoted, HTTP_CHUNK_CACHE);
	case -1:
		body_done(&b);
		return send_error(c, hc, head, MHD_HTTP_BAD_REQUEST, why, NULL, NULL);
	default:
		break;
	}

	range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
	if_range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_RANGE);
	if (range != NULL && if_range != NULL && strcmp(if_range, quoted) != 0)
		range = NULL; /* the client's copy is not this chunk: send it whole */
	len = b.len;
	switch (http_parse_range(range, b.len, &rg, why, sizeof(why))) {
	case HTTP_RANGE_MALFORMED:
		body_done(&b);
		return send_error(c, hc, head, MHD_HTTP_BAD_REQUEST, why, NULL, NULL);
	case HTTP_RANGE_UNSATISFIABLE:
		body_done(&b);
		snprintf(crange, sizeof(crange), "bytes */%zu", b.len);
		snprintf(why, sizeof(why), "Range: not satisfiable for a chunk of %zu bytes", b.len);
		return send_error(c, hc, head, MHD_HTTP_RANGE_NOT_SATISFIABLE, why,
				  MHD_HTTP_HEADER_CONTENT_RANGE, crange);
	case HTTP_RANGE_PARTIAL:
		off = (size_t)rg.first;
		len = (size_t)(rg.last - rg.first + 1);
		code = MHD_HTTP_PARTIAL_CONTENT;
		snprintf(crange, sizeof(crange), "bytes %llu-%llu/%zu",
			 (unsigned long long)rg.first, (unsigned long long)rg.last, b.len);
		break;
	default:
		break;
	}
	r = body_response(&b, off, len);
	if (r == NULL)
		return MHD_NO;
	if (add_headers(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream",
			MHD_HTTP_HEADER_CACHE_CONTROL, HTTP_CHUNK_CACHE,
			MHD_HTTP_HEADER_ETAG, quoted,
			MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes", NULL) != 0 ||
	    (code == MHD_HTTP_PARTIAL_CONTENT &&
	     add_headers(r, MHD_HTTP_HEADER_CONTENT_RANGE, crange, NULL) != 0)) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue(c, hc, code, r, len, head);
}

static enum MHD_Result serve_metrics(struct http_plane *p, struct MHD_Connection *c,
				     struct http_conn *hc, int head)
{
	struct wire_buf out;
	struct MHD_Response *r;
	int rc;

	wire_buf_init(&out);
	rc = p->src.metrics(p->src.ctx, &out);
	if (rc != 0) {
		wire_buf_free(&out);
		return send_source_error(c, hc, head, rc, "metrics");
	}
	http__metrics_render(&p->m, &out);
	if (wire_buf_error(&out) != 0) {
		wire_buf_free(&out);
		return send_error(c, hc, head, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "metrics: out of memory", NULL, NULL);
	}
	/* The buffer passes to MHD, which frees it with the response. */
	r = MHD_create_response_from_buffer_with_free_callback(out.len, out.p != NULL ? out.p : (void *)"",
								out.p != NULL ? free : NULL);
	if (r == NULL) {
		wire_buf_free(&out);
		return MHD_NO;
	}
	if (add_headers(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8",
			MHD_HTTP_HEADER_CACHE_CONTROL, "no-store", NULL) != 0) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return queue(c, hc, MHD_HTTP_OK, r, out.len, head);
}

/* ---------------------------------------------------------------- MHD callbacks */

/* Route the request and queue its answer. */
static enum MHD_Result answer(struct http_plane *p, struct MHD_Connection *c,
			      struct http_conn *hc, const char *url, const char *method)
{
	struct http_route rt;
	char msg[160];
	int head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	int get_or_head = head || strcmp(method, MHD_HTTP_METHOD_GET) == 0;
	int rc;

	if (strlen(url) > p->cfg.max_url) {
		snprintf(msg, sizeof(msg), "request path longer than %zu bytes", p->cfg.max_url);
		return send_error(c, hc, head, MHD_HTTP_URI_TOO_LONG, msg, NULL, NULL);
	}
	rc = http_parse_path(url, &rt);
	hc->route = rt.kind;
	if (rt.kind == HTTP_ROUTE_NONE)
		return send_error(c, hc, head, MHD_HTTP_NOT_FOUND,
				  "no such path; the routes are /v1/channels/{name}, "
				  "/v1/chunks/{sha256}, /v1/group and /metrics",
				  NULL, NULL);
	if (!get_or_head) {
		snprintf(msg, sizeof(msg), "method %.32s not allowed; use GET or HEAD", method);
		return send_error(c, hc, 0, MHD_HTTP_METHOD_NOT_ALLOWED, msg,
				  MHD_HTTP_HEADER_ALLOW, HTTP_ALLOW);
	}
	if (rc != 0)
		return send_error(c, hc, head, MHD_HTTP_BAD_REQUEST, rt.why, NULL, NULL);
	switch (rt.kind) {
	case HTTP_ROUTE_CHANNEL:
		return serve_channel(p, c, hc, head, &rt);
	case HTTP_ROUTE_CHUNK:
		return serve_chunk(p, c, hc, head, &rt);
	case HTTP_ROUTE_GROUP:
		return serve_group(p, c, hc, head);
	default:
		return serve_metrics(p, c, hc, head);
	}
}

/* MHD calls this once when a request head is read, then again for each piece of a body
 * and once at its end. A GET or HEAD without a body is answered at that end call, which
 * keeps the connection alive for the next request. A request that carries a body, or any
 * other method, is answered at once without reading the body, and the connection then
 * closes: no client can hold one open by trickling a body we do not want. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size, void **req_cls)
{
	struct http_plane *p = cls;
	struct http_conn *hc = *req_cls;

	if (hc == NULL) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		hc = ci != NULL ? ci->socket_context : NULL;
		if (hc == NULL)
			return MHD_NO; /* its record could not be allocated: close */
		*req_cls = hc;
		hc->start = mono_now();
		hc->route = HTTP_ROUTE_NONE;
		hc->code = 0;
		hc->body = 0;
		int bodiless = (strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
				strcmp(method, MHD_HTTP_METHOD_HEAD) == 0) &&
			       MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							   MHD_HTTP_HEADER_TRANSFER_ENCODING) == NULL;
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strcmp(cl, "0") != 0)
			bodiless = 0;
		if (bodiless)
			return MHD_YES; /* answered at the end call */
		return answer(p, c, hc, url, method);
	}
	if (hc->code != 0 || *upload_data_size != 0) {
		*upload_data_size = 0; /* already answered, or body of a bodiless request */
		return MHD_YES;
	}
	return answer(p, c, hc, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_plane *p = cls;
	struct http_conn *hc = *req_cls;

	if (hc == NULL)
		return;
	*req_cls = NULL;
	if (hc->code != 0)
		http__metrics_observe(&p->m, hc->route, hc->code, mono_now() - hc->start,
				      toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? hc->body : 0);
	hc->code = 0;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_plane *p = cls;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = calloc(1, sizeof(struct http_conn));
		p->m.connections++;
	} else {
		free(*socket_context);
		*socket_context = NULL;
		p->m.connections--;
	}
}

/* ---------------------------------------------------------------- start, stop */

__attribute__((format(printf, 3, 4)))
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Bind and listen on host:port; returns the socket (non-blocking) or -1 with err set. */
static int listen_on(const char *host, uint16_t port, int *family, uint16_t *bound,
		     char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char service[8];
	int fd = -1, e = 0, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	int gai = getaddrinfo(host, service, &hints, &res);
	if (gai != 0) {
		set_err(err, errlen, "http: listen address %s: %s", host, gai_strerror(gai));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
			*family = ai->ai_family;
			break;
		}
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		set_err(err, errlen, "http: cannot listen on %s port %u: %s", host, (unsigned)port,
			strerror(e));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		set_err(err, errlen, "http: getsockname: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						: ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

struct http_plane *http_start(struct ev_loop *loop, const struct http_config *cfg,
			      const struct http_source *src, char *err, size_t errlen)
{
	struct http_plane *p;
	const union MHD_DaemonInfo *di;
	int family = AF_INET;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG;

	set_err(err, errlen, "%s", "");
	if (loop == NULL || cfg == NULL || src == NULL || src->channel == NULL ||
	    src->chunk == NULL || src->group == NULL || src->metrics == NULL) {
		set_err(err, errlen, "http: loop, config and every source callback are required");
		return NULL;
	}
	if (cfg->host == NULL || cfg->host[0] == '\0' || cfg->max_connections == 0 ||
	    cfg->timeout_s == 0 || cfg->max_url < 16 || cfg->max_header < 1024 ||
	    cfg->max_chunk == 0) {
		set_err(err, errlen,
			"http: bad config (need a host, max_connections >= 1, timeout_s >= 1, "
			"max_url >= 16, max_header >= 1024, max_chunk >= 1)");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		set_err(err, errlen, "http: out of memory");
		return NULL;
	}
	p->loop = loop;
	p->cfg = *cfg;
	p->cfg.host = NULL; /* borrowed for this call only */
	p->src = *src;
	p->log_last = -1e9;
	snprintf(p->doc_cache, sizeof(p->doc_cache), "max-age=%u", cfg->max_age_s);

	p->listen_fd = listen_on(cfg->host, cfg->port, &family, &p->port, err, errlen);
	if (p->listen_fd < 0)
		goto err_after_alloc;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	p->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, p,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, p,
				  MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_per_ip,
				  MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->max_header,
				  MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, p,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, p,
				  MHD_OPTION_NOTIFY_CONNECTION, on_connection, p,
				  MHD_OPTION_END);
	if (p->mhd == NULL) {
		set_err(err, errlen, "http: libmicrohttpd refused to start on port %u",
			(unsigned)p->port);
		goto err_after_listen;
	}
	di = MHD_get_daemon_info(p->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (di == NULL || di->epoll_fd < 0) {
		set_err(err, errlen, "http: libmicrohttpd has no epoll descriptor");
		goto err_after_mhd;
	}
	ev_io_init(&p->io, on_io, di->epoll_fd, EV_READ);
	p->io.data = p;
	ev_init(&p->timer, on_timer);
	p->timer.data = p;
	ev_io_init(&p->listen_io, on_accept, p->listen_fd, EV_READ);
	p->listen_io.data = p;
	ev_init(&p->pause, on_pause_end);
	p->pause.data = p;
	ev_io_start(loop, &p->io);
	ev_io_start(loop, &p->listen_io);
	plane_arm(p);
	log_info("http", "listening", "port=%u max_connections=%u timeout_s=%u",
		 (unsigned)p->port, cfg->max_connections, cfg->timeout_s);
	return p;

err_after_mhd:
	MHD_stop_daemon(p->mhd);
err_after_listen:
	close(p->listen_fd);
err_after_alloc:
	free(p);
	return NULL;
}

void http_stop(struct http_plane *plane)
{
	if (plane == NULL)
		return;
	ev_io_stop(plane->loop, &plane->listen_io);
	ev_timer_stop(plane->loop, &plane->pause);
	ev_io_stop(plane->loop, &plane->io);
	ev_timer_stop(plane->loop, &plane->timer);
	MHD_stop_daemon(plane->mhd);
	close(plane->listen_fd);
	free(plane);
}
