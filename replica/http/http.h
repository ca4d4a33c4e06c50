/* http.h: the replica's HTTP read plane: plain GETs for channels, chunks, the group and
 * metrics, served by libmicrohttpd from the daemon's libev loop (single-threaded).
 *
 * Routes (GET and HEAD; any other method on them is 405 with "Allow: GET, HEAD"):
 *   /v1/channels/{name}  the channel's response document (application/json) with an ETag;
 *                        If-None-Match matching it -> 304 without a body (the cheap
 *                        unchanged poll); Cache-Control: max-age=<max_age_s>.
 *   /v1/chunks/{sha256}  the chunk bytes (application/octet-stream), ETag "<sha256 hex>",
 *                        Cache-Control: public, max-age=31536000, immutable; one byte range
 *                        (Range: bytes=a-b | a- | -n) -> 206 with Content-Range; a range
 *                        starting past the end or a zero suffix -> 416 with a
 *                        Content-Range stating the size; several ranges -> 200 with the whole
 *                        chunk (allowed by RFC 9110 14.2; serving multipart would let one
 *                        request multiply its response); a unit other than "bytes" is
 *                        ignored (200); If-Range other than the chunk's exact ETag -> 200.
 *   /v1/group            the group document (application/json), max-age=<max_age_s>.
 *   /metrics             Prometheus text (text/plain; version=0.0.4): the daemon's lines,
 *                        then bulwark_http_requests_total{route,code},
 *                        bulwark_http_request_duration_seconds (histogram),
 *                        bulwark_http_connections, bulwark_http_bytes_sent_total.
 * Anything else is 404. The query string is ignored. Every error body is one line of JSON,
 * {"error":"..."}, with Cache-Control: no-store. Malformed input gets 400 with the reason:
 * a bad channel name or chunk id, a malformed Range or If-None-Match; a request target
 * longer than max_url is 414. Request heads larger than max_header are refused by
 * libmicrohttpd itself (its own 431/414 page, not JSON, not counted in the metrics).
 *
 * Resources: at most max_connections connections (more are accepted and closed at once),
 * max_per_ip from one address, each closed after timeout_s idle seconds; responses are
 * sent straight from the source's memory (no per-connection copy of a body), and the only
 * per-connection memory is libmicrohttpd's pool of max_header bytes plus a small record.
 */
#ifndef BULWARK_HTTP_H
#define BULWARK_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

struct ev_loop;
struct http_plane;

/* Errors (negative). The source callbacks return 0 or one of the first three. */
enum http_err {
	HTTP_OK = 0,
	HTTP_ERR_NOT_FOUND = -1,   /* source: no such channel or chunk, or no document -> 404 */
	HTTP_ERR_UNAVAILABLE = -2, /* source: cannot answer yet (no certificate, ...) -> 503 */
	HTTP_ERR_INTERNAL = -3,    /* source: failed (read error, ...) -> 500 */
	HTTP_ERR_ARG = -4,         /* bad configuration or argument */
	HTTP_ERR_NOMEM = -5,
	HTTP_ERR_ADDR = -6,        /* the listen host does not resolve */
	HTTP_ERR_SYS = -7,         /* socket, bind or listen failed */
	HTTP_ERR_MHD = -8,         /* libmicrohttpd refused to start */
	HTTP_ERR_BAD_PATH = -9,    /* http_parse_path: malformed channel name or chunk id */
	HTTP_ERR_BAD_HEADER = -10  /* malformed Range or If-None-Match */
};

/* A static, human-readable string for an http_err. Never NULL. */
const char *http_strerror(int err);

/* Longest ETag a source may give (opaque-tag without the quotes). */
#define HTTP_ETAG_MAX 96u
/* Longest channel name (decoded), as in wire/upd.h. */
#define HTTP_NAME_MAX 255u

/* A response body handed over by the source.
 * Zero-copy: with release set, data stays valid and unchanged until the plane calls
 * release(release_ctx), exactly once, from the loop thread: after the response was sent,
 * when the client went away, when no body is needed (304, an error) or from http_stop.
 * A refcounted document (the daemon keeps the current one, each response holds a
 * reference) fits this directly. With release NULL, the plane copies the bytes before
 * it returns to the loop: data must stay valid until then (a scratch buffer in ctx that
 * the next callback overwrites will do; the callback's own stack will not).
 * etag: the opaque-tag without quotes (bytes 0x21, 0x23-0x7e), "" for none; the plane
 * sends it quoted as a strong ETag. Ignored for chunks (their ETag is their hash). */
struct http_body {
	const uint8_t *data;
	size_t len;
	void (*release)(void *release_ctx);
	void *release_ctx;
	char etag[HTTP_ETAG_MAX + 1];
};

/* The daemon's side, called synchronously from the loop thread. Each returns 0 with *out
 * filled (out arrives zeroed), or HTTP_ERR_NOT_FOUND / HTTP_ERR_UNAVAILABLE /
 * HTTP_ERR_INTERNAL with *out ignored (release is not called). */
struct http_source {
	void *ctx; /* passed to every callback */
	/* The response document of channel name (NUL-terminated, valid per wire/upd.h,
	 * borrowed for the call), with its ETag. */
	int (*channel)(void *ctx, const char *name, struct http_body *out);
	/* The bytes of the chunk whose SHA-256 is sha256 (borrowed for the call). */
	int (*chunk)(void *ctx, const uint8_t sha256[32], struct http_body *out);
	/* The group document: group id, epoch, f, replicas (id, host, port, http port,
	 * public key hex). An ETag, if given, is honoured like a channel's. */
	int (*group)(void *ctx, struct http_body *out);
	/* Append the daemon's Prometheus lines to out (committed seq, view, ...); the plane
	 * appends its own after them. Return 0 or an error (-> 500). */
	int (*metrics)(void *ctx, struct wire_buf *out);
};

struct http_config {
	const char *host;         /* listen address, numeric or resolvable; borrowed for
				   * http_start; default "127.0.0.1" */
	uint16_t port;            /* 0 picks a free port (see http_port) */
	unsigned max_connections; /* open connections at once; default 1024 */
	unsigned max_per_ip;      /* from one client address; default 64; 0 = no limit */
	unsigned timeout_s;       /* idle seconds before a connection is closed; default 10 */
	size_t max_url;           /* request path bytes, else 414; default 1024 */
	size_t max_header;        /* libmicrohttpd's per-connection memory: request line and
				   * headers must fit; default 16384 */
	size_t max_chunk;         /* a chunk body above this is a source fault (500), bounding
				   * what one response can hold; default WIRE_UPD_MAX_CHUNK */
	unsigned max_age_s;       /* Cache-Control max-age of channel and group documents;
				   * default 5 (the certificate's expiry bounds freshness) */
};

/* Fill cfg with the defaults above (port 0). */
void http_config_init(struct http_config *cfg);

/* Listen and serve on loop (borrowed; must outlive the plane). cfg is copied; src is
 * copied (src->ctx stays borrowed and must outlive the plane). Every callback of src must
 * be set. On failure returns NULL and writes a one-line reason to err (errlen bytes,
 * NUL-terminated; may be NULL when errlen is 0). Call from the loop's thread. */
struct http_plane *http_start(struct ev_loop *loop, const struct http_config *cfg,
			      const struct http_source *src, char *err, size_t errlen);

/* Close every connection and the listener, release every body still held (release
 * callbacks run inside this call) and free the plane. NULL is a no-op. Not from inside a
 * source callback. */
void http_stop(struct http_plane *plane);

/* The TCP port the plane listens on. */
uint16_t http_port(const struct http_plane *plane);

/* ---------------------------------------------------------------- pure parsers
 * Exposed for the fuzz targets and tests; they allocate nothing and never fail on input. */

enum http_route_kind {
	HTTP_ROUTE_NONE = 0,  /* no such path: 404 */
	HTTP_ROUTE_CHANNEL,
	HTTP_ROUTE_CHUNK,
	HTTP_ROUTE_GROUP,
	HTTP_ROUTE_METRICS
};

struct http_route {
	enum http_route_kind kind;
	char name[HTTP_NAME_MAX + 1]; /* CHANNEL: the decoded name, NUL-terminated */
	size_t name_len;
	uint8_t sha256[32];           /* CHUNK */
	char why[128];                /* on HTTP_ERR_BAD_PATH: what is wrong, for the 400 body */
};

/* Parse a request path (NUL-terminated; anything from a '?' on is ignored). Percent-
 * escapes are decoded strictly: '%' must be followed by two hex digits, and the decoded
 * bytes are checked as if they had been sent raw ("%2F" is a '/').
 * Returns 0 with out->kind set (HTTP_ROUTE_NONE for an unknown path), or
 * HTTP_ERR_BAD_PATH with out->kind the route it was meant for and out->why saying why:
 * a channel name must decode to 1..255 bytes of [A-Za-z0-9._-] and '/', without empty,
 * "." or ".." segments; a chunk id to exactly 64 lower-case hex digits. */
int http_parse_path(const char *url, struct http_route *out);

/* An inclusive byte range within a body. */
struct http_range {
	uint64_t first, last;
};

enum http_range_result {
	HTTP_RANGE_FULL = 0,          /* no single byte range to honour: send everything (200) */
	HTTP_RANGE_PARTIAL = 1,       /* *out is the range to send (206) */
	HTTP_RANGE_UNSATISFIABLE = 2, /* 416 */
	HTTP_RANGE_MALFORMED = 3      /* 400; why says what */
};

/* Interpret a Range header value (NULL = absent) against a body of size bytes.
 * "bytes=a-b" (b clipped to size - 1), "bytes=a-", "bytes=-n" (the last n bytes);
 * unit names are case-insensitive; empty list elements are skipped. Several ranges, or
 * another unit, give HTTP_RANGE_FULL. b < a, missing or non-digit positions, or no range
 * at all are HTTP_RANGE_MALFORMED. a >= size, a zero suffix or an empty body are
 * HTTP_RANGE_UNSATISFIABLE. Positions too large for 64 bits saturate (so they are simply
 * past the end). why (whylen bytes, may be NULL if 0) gets the reason for MALFORMED. */
enum http_range_result http_parse_range(const char *value, uint64_t size,
					struct http_range *out, char *why, size_t whylen);

/* Does an If-None-Match value list etag (an opaque-tag without quotes) under the weak
 * comparison of RFC 9110 13.1.2, or is it "*"? Returns 1 (yes), 0 (no), or
 * HTTP_ERR_BAD_HEADER when value is not "*" or a comma-separated list of
 * [W/]"etagc*" entity-tags; why (may be NULL if whylen is 0) then says what. */
int http_match_etag(const char *value, const char *etag, char *why, size_t whylen);

#endif
