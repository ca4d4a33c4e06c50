/* test_http_serve.c: the HTTP read plane end to end over real sockets: every route and
 * status code, ETag round trips, HEAD, byte ranges, hostile paths, source failures,
 * keep-alive, zero-copy bodies and the Prometheus text of /metrics. */
#include <ctype.h>
#include <math.h>

#include "tests/unit/test_http_harness.h"

static struct h_server srv;

static void setup(void)
{
	struct http_config cfg;

	h_config(&cfg);
	h_start(&srv, &cfg);
}

static void teardown(void)
{
	h_stop(&srv);
}

static void get(const char *method, const char *path, const char *extra, struct h_resp *r)
{
	h_request(srv.port, method, path, extra, r);
}

static void expect_header(const struct h_resp *r, const char *name, const char *value)
{
	char v[256];

	ck_assert_msg(h_header(r, name, v, sizeof(v)), "no %s in\n%s", name, r->head);
	ck_assert_msg(strcmp(v, value) == 0, "%s: '%s', want '%s'", name, v, value);
}

/* ------------------------------------------------------------------ channels */
START_TEST(channel_ok)
{
	struct h_resp r;

	get("GET", "/v1/channels/" H_CHANNEL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq((const char *)r.body, H_DOC);
	expect_header(&r, "Content-Type", "application/json");
	expect_header(&r, "ETag", "\"" H_ETAG "\"");
	expect_header(&r, "Cache-Control", "max-age=5");
	h_resp_free(&r);

	/* Percent-encoded name, and a query string, reach the same document. */
	get("GET", "/v1/channels/stable%2Flinux%2Damd64?nocache=1", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq((const char *)r.body, H_DOC);
	h_resp_free(&r);

	/* A source that hands over a copy (no release callback). */
	get("GET", "/v1/channels/copied", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq((const char *)r.body, H_COPIED_DOC);
	expect_header(&r, "ETag", "\"c1\"");
	h_resp_free(&r);
}
END_TEST

START_TEST(channel_etag_round_trip)
{
	char etag[128], line[200];
	struct h_resp r;

	get("GET", "/v1/channels/" H_CHANNEL, NULL, &r);
	ck_assert(h_header(&r, "ETag", etag, sizeof(etag)));
	h_resp_free(&r);

	/* The ETag handed back: 304, no body, validators and caching kept. */
	snprintf(line, sizeof(line), "If-None-Match: %s\r\n", etag);
	get("GET", "/v1/channels/" H_CHANNEL, line, &r);
	ck_assert_int_eq(r.status, 304);
	expect_header(&r, "ETag", etag);
	expect_header(&r, "Cache-Control", "max-age=5");
	char cl[32];
	ck_assert(!h_header(&r, "Content-Length", cl, sizeof(cl)) || strcmp(cl, "0") == 0);
	h_resp_free(&r);

	static const char *const match[] = {
		"If-None-Match: W/\"" H_ETAG "\"\r\n",
		"If-None-Match: \"old\", \"" H_ETAG "\"\r\n",
		"If-None-Match: *\r\n",
	};
	for (size_t i = 0; i < sizeof(match) / sizeof(match[0]); i++) {
		get("GET", "/v1/channels/" H_CHANNEL, match[i], &r);
		ck_assert_msg(r.status == 304, "%s: %d", match[i], r.status);
		h_resp_free(&r);
	}
	/* A changed document (different tag): the full body. */
	get("GET", "/v1/channels/" H_CHANNEL, "If-None-Match: \"v2-0000\"\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq((const char *)r.body, H_DOC);
	h_resp_free(&r);
	/* A malformed header is refused with the reason. */
	get("GET", "/v1/channels/" H_CHANNEL, "If-None-Match: " H_ETAG "\r\n", &r);
	h_expect_error(&r, 400, "If-None-Match: expected a quoted entity-tag at byte 0");
	h_resp_free(&r);
}
END_TEST

START_TEST(channel_head)
{
	struct h_resp r;
	char cl[32];

	get("HEAD", "/v1/channels/" H_CHANNEL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(h_header(&r, "Content-Length", cl, sizeof(cl)));
	ck_assert_uint_eq(strtoul(cl, NULL, 10), strlen(H_DOC));
	expect_header(&r, "ETag", "\"" H_ETAG "\"");
	expect_header(&r, "Content-Type", "application/json");
	h_resp_free(&r);

	/* Nothing follows the head: the next bytes on the connection are the next answer. */
	int fd = h_connect(srv.port);
	static const char two[] = "HEAD /v1/group HTTP/1.1\r\nHost: t\r\n\r\n"
				  "GET /v1/group HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	h_send(fd, two, sizeof(two) - 1);
	h_read(fd, &r, 1);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	h_read(fd, &r, 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq((const char *)r.body, H_GROUP_DOC);
	h_resp_free(&r);
	close(fd);
}
END_TEST

START_TEST(channel_errors)
{
	struct h_resp r;

	get("GET", "/v1/channels/no/such", NULL, &r);
	h_expect_error(&r, 404, "channel no/such not found");
	h_resp_free(&r);
	get("GET", "/v1/channels/busy", NULL, &r);
	h_expect_error(&r, 503, "channel busy temporarily unavailable");
	expect_header(&r, "Retry-After", "1");
	h_resp_free(&r);
	get("GET", "/v1/channels/broken", NULL, &r);
	h_expect_error(&r, 500, "channel broken: internal error of the source");
	h_resp_free(&r);
	get("GET", "/v1/channels/badtag", NULL, &r);
	h_expect_error(&r, 500, "invalid ETag");
	h_resp_free(&r);
	/* HEAD of an error: the head only. */
	get("HEAD", "/v1/channels/no/such", NULL, &r);
	ck_assert_int_eq(r.status, 404);
	h_resp_free(&r);
}
END_TEST

/* Hostile and malformed paths, sent as raw bytes: each gets 400 (or 404) with a precise
 * message, and the source is never asked. */
START_TEST(hostile_paths)
{
	static const struct {
		const char *path;
		int status;
		const char *why;
	} cases[] = {
		{"/v1/channels/", 400, "channel name: empty"},
		{"/v1/channels/../../etc/passwd", 400, "'..' segment at offset 0"},
		{"/v1/channels/a/%2e%2e/b", 400, "'..' segment at offset 2"},
		{"/v1/channels/a/./b", 400, "'.' segment at offset 2"},
		{"/v1/channels//a", 400, "empty segment at offset 0"},
		{"/v1/channels/a%2F%2Fb", 400, "empty segment at offset 2"},
		{"/v1/channels/a%00b", 400, "byte 0x00 at offset 1"},
		{"/v1/channels/a%0d%0aSet-Cookie:x", 400, "byte 0x0d at offset 1"},
		{"/v1/channels/%zz", 400, "'%' at byte 13 of the path is not followed by two hex"},
		{"/v1/channels/a%", 400, "'%' at byte 14"},
		{"/v1/channels/a%252e", 400, "byte 0x25 at offset 1"},
		{"/v1/channels/%22%5c%7f", 400, "byte 0x22 at offset 0"},
		{"/v1/channels/caf\xc3\xa9", 400, "byte 0xc3 at offset 3"},
		{"/v1/chunks/xyz", 400, "chunk id: not 64 lower-case hex digits (3 bytes)"},
		{"/v1/chunks/" H_CHUNK_HEX "/..", 400, "chunk id: longer than 64 bytes"},
		{"/v1/chunks/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", 400,
		 "byte 0x41 at offset 10"},
		{"/v1/../v1/group", 404, "no such path"},
		{"/v1/group/", 404, "no such path"},
		{"/", 404, "no such path"},
		{"/v1/channels", 404, "no such path"},
	};
	struct h_resp r;
	int before = atomic_load(&srv.fake.calls);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		get("GET", cases[i].path, NULL, &r);
		h_expect_error(&r, cases[i].status, cases[i].why);
		h_resp_free(&r);
	}
	ck_assert_int_eq(atomic_load(&srv.fake.calls), before);

	/* A 255-byte name is looked up; 256 bytes are refused before the source. */
	char path[400] = "/v1/channels/";
	memset(path + 13, 'n', 255);
	get("GET", path, NULL, &r);
	h_expect_error(&r, 404, "not found");
	h_resp_free(&r);
	path[13 + 255] = 'n';
	get("GET", path, NULL, &r);
	h_expect_error(&r, 400, "channel name: longer than 255 bytes");
	h_resp_free(&r);
}
END_TEST

START_TEST(too_long)
{
	struct h_resp r;
	char *path = malloc(3000);
	char *hdr = malloc(40000);

	ck_assert_ptr_nonnull(path);
	ck_assert_ptr_nonnull(hdr);
	strcpy(path, "/v1/channels/");
	memset(path + 13, 'a', 2000);
	path[2013] = '\0';
	get("GET", path, NULL, &r);
	h_expect_error(&r, 414, "request path longer than 1024 bytes");
	h_resp_free(&r);

	/* A head over max_header is refused by libmicrohttpd (not with our JSON). */
	strcpy(hdr, "X-Big: ");
	memset(hdr + 7, 'x', 30000);
	strcpy(hdr + 30007, "\r\n");
	get("GET", "/v1/group", hdr, &r);
	ck_assert_msg(r.status == 431 || r.status == 414 || r.status == 0, "status %d", r.status);
	h_resp_free(&r);
	free(path);
	free(hdr);

	get("GET", "/v1/group", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
}
END_TEST

START_TEST(methods)
{
	struct h_resp r;

	static const char *const paths[] = {"/v1/channels/" H_CHANNEL, "/v1/chunks/" H_CHUNK_HEX,
					    "/v1/group", "/metrics", "/v1/channels/%zz"};
	static const char *const verbs[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		for (size_t j = 0; j < sizeof(verbs) / sizeof(verbs[0]); j++) {
			get(verbs[j], paths[i], NULL, &r);
			h_expect_error(&r, 405, "not allowed; use GET or HEAD");
			expect_header(&r, "Allow", "GET, HEAD");
			h_resp_free(&r);
		}
	/* An unknown path is 404 whatever the method. */
	get("POST", "/v1/publish", NULL, &r);
	h_expect_error(&r, 404, "no such path");
	h_resp_free(&r);

	/* A POST with a body is answered at once, the body unread, the connection closed. */
	int fd = h_connect(srv.port);
	static const char post[] = "POST /v1/group HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nabc";
	h_send(fd, post, sizeof(post) - 1);
	h_read(fd, &r, 0);
	h_expect_error(&r, 405, "method POST not allowed");
	h_resp_free(&r);
	ck_assert(h_closed_within(fd, 2.0));
	close(fd);

	/* The method is echoed escaped and cut short. */
	get("M\"ETHOD\\", "/v1/group", NULL, &r);
	h_expect_error(&r, 405, "method M\\\"ETHOD\\\\ not allowed");
	h_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ chunks */
static void expect_chunk_bytes(const struct h_resp *r, size_t first, size_t n)
{
	ck_assert_uint_eq(r->body_len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(r->body[i], srv.fake.chunk[first + i]);
}

START_TEST(chunk_ok)
{
	struct h_resp r;

	get("GET", "/v1/chunks/" H_CHUNK_HEX, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	expect_chunk_bytes(&r, 0, H_CHUNK_LEN);
	expect_header(&r, "Content-Type", "application/octet-stream");
	expect_header(&r, "Cache-Control", "public, max-age=31536000, immutable");
	expect_header(&r, "ETag", "\"" H_CHUNK_HEX "\"");
	expect_header(&r, "Accept-Ranges", "bytes");
	expect_header(&r, "Content-Length", "1000");
	h_resp_free(&r);

	get("HEAD", "/v1/chunks/" H_CHUNK_HEX, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	expect_header(&r, "Content-Length", "1000");
	ck_assert_uint_eq(r.body_len, 0);
	h_resp_free(&r);

	get("GET", "/v1/chunks/" H_CHUNK_HEX, "If-None-Match: \"" H_CHUNK_HEX "\"\r\n", &r);
	ck_assert_int_eq(r.status, 304);
	expect_header(&r, "Cache-Control", "public, max-age=31536000, immutable");
	h_resp_free(&r);

	get("GET", "/v1/chunks/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, &r);
	h_expect_error(&r, 404,
		       "chunk aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa not found");
	h_resp_free(&r);

	/* A source that hands over more than max_chunk is a fault, not a response. */
	get("GET", "/v1/chunks/" H_HUGE_HEX, NULL, &r);
	h_expect_error(&r, 500, "above the limit of 10485760");
	h_resp_free(&r);
}
END_TEST

START_TEST(chunk_ranges)
{
	static const struct {
		const char *range;
		size_t first, last;
	} partial[] = {
		{"bytes=0-0", 0, 0},         /* first byte */
		{"bytes=999-999", 999, 999}, /* last byte */
		{"bytes=999-", 999, 999},
		{"bytes=-1", 999, 999},
		{"bytes=0-999", 0, 999},
		{"bytes=10-19", 10, 19},
		{"bytes=500-", 500, 999},
		{"bytes=-10", 990, 999},
		{"bytes=-5000", 0, 999},         /* suffix longer than the chunk */
		{"bytes=998-5000", 998, 999},    /* end clipped */
		{"bytes=1-18446744073709551615", 1, 999},
	};
	struct h_resp r;
	char hdr[128], cr[64];

	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
		snprintf(hdr, sizeof(hdr), "Range: %s\r\n", partial[i].range);
		get("GET", "/v1/chunks/" H_CHUNK_HEX, hdr, &r);
		ck_assert_msg(r.status == 206, "%s: %d", partial[i].range, r.status);
		snprintf(cr, sizeof(cr), "bytes %zu-%zu/1000", partial[i].first, partial[i].last);
		expect_header(&r, "Content-Range", cr);
		expect_chunk_bytes(&r, partial[i].first, partial[i].last - partial[i].first + 1);
		h_resp_free(&r);
	}

	/* HEAD with a range: 206 head, no body. */
	get("HEAD", "/v1/chunks/" H_CHUNK_HEX, "Range: bytes=10-19\r\n", &r);
	ck_assert_int_eq(r.status, 206);
	expect_header(&r, "Content-Length", "10");
	expect_header(&r, "Content-Range", "bytes 10-19/1000");
	h_resp_free(&r);

	static const char *const unsat[] = {"bytes=1000-", "bytes=1000-2000", "bytes=-0",
					    "bytes=99999999999999999999999-"};
	for (size_t i = 0; i < sizeof(unsat) / sizeof(unsat[0]); i++) {
		snprintf(hdr, sizeof(hdr), "Range: %s\r\n", unsat[i]);
		get("GET", "/v1/chunks/" H_CHUNK_HEX, hdr, &r);
		h_expect_error(&r, 416, "Range: not satisfiable for a chunk of 1000 bytes");
		expect_header(&r, "Content-Range", "bytes */1000");
		h_resp_free(&r);
	}

	/* Several ranges, another unit: the whole chunk. */
	static const char *const full[] = {"bytes=0-1,5-6", "bytes=0-0,-1", "items=0-1"};
	for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++) {
		snprintf(hdr, sizeof(hdr), "Range: %s\r\n", full[i]);
		get("GET", "/v1/chunks/" H_CHUNK_HEX, hdr, &r);
		ck_assert_msg(r.status == 200, "%s: %d", full[i], r.status);
		expect_chunk_bytes(&r, 0, H_CHUNK_LEN);
		h_resp_free(&r);
	}

	static const struct {
		const char *range, *why;
	} bad[] = {
		{"bytes=5-3", "Range: last byte 3 is before first byte 5"},
		{"bytes=abc", "Range: 'abc' is not first-last, first- or -suffix"},
		{"bytes=", "Range: no byte range after 'bytes='"},
		{"0-10", "Range: expected unit=ranges"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(hdr, sizeof(hdr), "Range: %s\r\n", bad[i].range);
		get("GET", "/v1/chunks/" H_CHUNK_HEX, hdr, &r);
		h_expect_error(&r, 400, bad[i].why);
		h_resp_free(&r);
	}

	/* If-Range: the chunk's own ETag keeps the range; anything else gets the whole. */
	get("GET", "/v1/chunks/" H_CHUNK_HEX,
	    "Range: bytes=0-9\r\nIf-Range: \"" H_CHUNK_HEX "\"\r\n", &r);
	ck_assert_int_eq(r.status, 206);
	expect_chunk_bytes(&r, 0, 10);
	h_resp_free(&r);
	get("GET", "/v1/chunks/" H_CHUNK_HEX, "Range: bytes=0-9\r\nIf-Range: \"other\"\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	expect_chunk_bytes(&r, 0, H_CHUNK_LEN);
	h_resp_free(&r);
	get("GET", "/v1/chunks/" H_CHUNK_HEX,
	    "Range: bytes=0-9\r\nIf-Range: Sat, 21 Nov 2026 00:00:00 GMT\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);

	/* Range on a channel document is ignored. */
	get("GET", "/v1/channels/" H_CHANNEL, "Range: bytes=0-1\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq((const char *)r.body, H_DOC);
	h_resp_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ group, keep-alive */
START_TEST(group_and_keepalive)
{
	struct h_resp r;
	int fd = h_connect(srv.port);
	static const char req[] = "GET /v1/group HTTP/1.1\r\nHost: t\r\n\r\n";

	/* Several requests on one connection, the last one closing it. */
	for (int i = 0; i < 5; i++) {
		h_send(fd, req, sizeof(req) - 1);
		h_read(fd, &r, 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq((const char *)r.body, H_GROUP_DOC);
		expect_header(&r, "Content-Type", "application/json");
		expect_header(&r, "Cache-Control", "max-age=5");
		h_resp_free(&r);
	}
	/* An error does not end a keep-alive connection either. */
	static const char bad[] = "GET /v1/chunks/x HTTP/1.1\r\nHost: t\r\n\r\n";
	h_send(fd, bad, sizeof(bad) - 1);
	h_read(fd, &r, 0);
	h_expect_error(&r, 400, "chunk id");
	h_resp_free(&r);
	h_send(fd, req, sizeof(req) - 1);
	h_read(fd, &r, 0);
	ck_assert_int_eq(r.status, 200);
	h_resp_free(&r);
	close(fd);
}
END_TEST

/* Every lent body came back exactly once, the ones never sent (304, errors) included. */
START_TEST(zero_copy_release)
{
	struct h_resp r;

	for (int i = 0; i < 3; i++) {
		get("GET", "/v1/channels/" H_CHANNEL, NULL, &r);
		h_resp_free(&r);
		get("GET", "/v1/channels/" H_CHANNEL, "If-None-Match: \"" H_ETAG "\"\r\n", &r);
		h_resp_free(&r);
		get("GET", "/v1/chunks/" H_CHUNK_HEX, "Range: bytes=1-2\r\n", &r);
		h_resp_free(&r);
		get("GET", "/v1/chunks/" H_CHUNK_HEX, "Range: bytes=2000-\r\n", &r);
		h_resp_free(&r);
		get("HEAD", "/v1/group", NULL, &r);
		h_resp_free(&r);
		get("GET", "/v1/channels/badtag", NULL, &r);
		h_resp_free(&r);
	}
	ck_assert_int_eq(h_wait_lent(&srv.fake, 0, 2.0), 0);
	ck_assert_int_eq(atomic_load(&srv.fake.released), 18);
}
END_TEST

/* ------------------------------------------------------------------ metrics */

/* Check one exposition line (text format 0.0.4); returns the metric name's length in
 * name (for sample lines) or 0 for comments. */
static void check_metric_line(const char *line, char *family, size_t cap)
{
	const char *p = line;

	ck_assert_msg(*p != '\0', "empty line");
	if (*p == '#') {
		char kw[8], name[128], type[32];
		ck_assert_msg(sscanf(line, "# %7s %127s", kw, name) == 2, "comment '%s'", line);
		ck_assert(strcmp(kw, "HELP") == 0 || strcmp(kw, "TYPE") == 0);
		if (strcmp(kw, "TYPE") == 0) {
			ck_assert(sscanf(line, "# TYPE %*s %31s", type) == 1);
			ck_assert_msg(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
					      strcmp(type, "histogram") == 0,
				      "type %s", type);
			snprintf(family, cap, "%s", name);
		}
		return;
	}
	/* name */
	ck_assert_msg(isalpha((unsigned char)*p) || *p == '_' || *p == ':', "'%s'", line);
	const char *n0 = p;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
		p++;
	/* The sample belongs to the family of the last TYPE line (histogram suffixes). */
	size_t fl = strlen(family);
	ck_assert_msg(fl > 0 && strncmp(n0, family, fl) == 0, "'%s' outside family %s", line, family);
	/* labels */
	if (*p == '{') {
		p++;
		while (*p != '}') {
			ck_assert_msg(isalpha((unsigned char)*p) || *p == '_', "label in '%s'", line);
			while (isalnum((unsigned char)*p) || *p == '_')
				p++;
			ck_assert_msg(*p == '=' && p[1] == '"', "label value in '%s'", line);
			p += 2;
			while (*p != '"') {
				ck_assert_msg(*p != '\0' && *p != '\n', "unterminated in '%s'", line);
				if (*p == '\\') {
					ck_assert(p[1] == '\\' || p[1] == '"' || p[1] == 'n');
					p++;
				}
				p++;
			}
			p++;
			if (*p == ',')
				p++;
			else
				ck_assert_msg(*p == '}', "labels in '%s'", line);
		}
		p++;
	}
	ck_assert_msg(*p == ' ', "no value in '%s'", line);
	p++;
	char *end;
	double v = strtod(p, &end);
	ck_assert_msg(end != p && (*end == '\0' || *end == ' '), "value in '%s'", line);
	ck_assert(!isnan(v));
}

static void check_exposition(const char *text)
{
	char line[1024], family[128] = "";
	const char *p = text;

	ck_assert_msg(text[0] != '\0' && text[strlen(text) - 1] == '\n', "no final newline");
	while (*p != '\0') {
		const char *e = strchr(p, '\n');
		size_t n = (size_t)(e - p);
		ck_assert_uint_lt(n, sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		check_metric_line(line, family, sizeof(family));
		p = e + 1;
	}
}

static unsigned long long metric_value(const char *text, const char *sample)
{
	char key[256];
	const char *at;

	snprintf(key, sizeof(key), "\n%s ", sample);
	at = strstr(text, key);
	ck_assert_msg(at != NULL, "no '%s' in\n%s", sample, text);
	return strtoull(at + strlen(key), NULL, 10);
}

START_TEST(metrics_text)
{
	struct h_resp r;

	for (int i = 0; i < 3; i++) {
		get("GET", "/v1/channels/" H_CHANNEL, NULL, &r);
		h_resp_free(&r);
	}
	get("GET", "/v1/channels/" H_CHANNEL, "If-None-Match: \"" H_ETAG "\"\r\n", &r);
	h_resp_free(&r);
	get("GET", "/v1/chunks/" H_CHUNK_HEX, "Range: bytes=0-9\r\n", &r);
	h_resp_free(&r);
	get("GET", "/nope", NULL, &r);
	h_resp_free(&r);
	get("DELETE", "/v1/group", NULL, &r);
	h_resp_free(&r);

	get("GET", "/metrics", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	expect_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	const char *t = (const char *)r.body;
	check_exposition(t);
	/* The daemon's lines come first, then the plane's. */
	ck_assert_ptr_eq(strstr(t, "# HELP bulwark_committed_seq"), t);
	ck_assert_uint_eq(metric_value(t, "bulwark_committed_seq"), 42);
	ck_assert_uint_eq(metric_value(t, "bulwark_http_requests_total{route=\"channel\",code=\"200\"}"), 3);
	ck_assert_uint_eq(metric_value(t, "bulwark_http_requests_total{route=\"channel\",code=\"304\"}"), 1);
	ck_assert_uint_eq(metric_value(t, "bulwark_http_requests_total{route=\"chunk\",code=\"206\"}"), 1);
	ck_assert_uint_eq(metric_value(t, "bulwark_http_requests_total{route=\"other\",code=\"404\"}"), 1);
	ck_assert_uint_eq(metric_value(t, "bulwark_http_requests_total{route=\"group\",code=\"405\"}"), 1);
	ck_assert_uint_eq(metric_value(t, "bulwark_http_request_duration_seconds_count"), 7);
	ck_assert_uint_eq(metric_value(t, "bulwark_http_request_duration_seconds_bucket{le=\"+Inf\"}"), 7);
	ck_assert_uint_eq(metric_value(t, "bulwark_http_connections"), 1); /* this request's */
	ck_assert_uint_eq(metric_value(t, "bulwark_http_connections_refused_total"), 0);
	/* 3 documents + 10 range bytes + the two error bodies. */
	unsigned long long sent = metric_value(t, "bulwark_http_bytes_sent_total");
	ck_assert_uint_gt(sent, 3 * strlen(H_DOC) + 10);
	ck_assert_uint_lt(sent, 3 * strlen(H_DOC) + 10 + 2 * 512);
	/* Buckets are cumulative. */
	unsigned long long prev = 0;
	for (const char *b = strstr(t, "_bucket{"); b != NULL; b = strstr(b + 1, "_bucket{")) {
		unsigned long long v = strtoull(strchr(b, ' ') + 1, NULL, 10);
		ck_assert_uint_ge(v, prev);
		prev = v;
	}
	h_resp_free(&r);

	get("HEAD", "/metrics", NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.body_len, 0);
	h_resp_free(&r);
}
END_TEST

static Suite *http_serve_suite(void)
{
	Suite *s = suite_create("http_serve");
	TCase *tc = tcase_create("serve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, channel_ok);
	tcase_add_test(tc, channel_etag_round_trip);
	tcase_add_test(tc, channel_head);
	tcase_add_test(tc, channel_errors);
	tcase_add_test(tc, hostile_paths);
	tcase_add_test(tc, too_long);
	tcase_add_test(tc, methods);
	tcase_add_test(tc, chunk_ok);
	tcase_add_test(tc, chunk_ranges);
	tcase_add_test(tc, group_and_keepalive);
	tcase_add_test(tc, zero_copy_release);
	tcase_add_test(tc, metrics_text);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(http_serve_suite)
