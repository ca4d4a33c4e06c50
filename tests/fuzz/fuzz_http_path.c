/* fuzz_http_path.c: libFuzzer target: the HTTP read plane's request parsers (path, Range,
 * If-None-Match) on arbitrary bytes; the first byte picks the parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "replica/http/http.h"
#include "wire/upd.h"

/* A message must be set, NUL-terminated within its buffer. */
static void check_why(const char *why, size_t cap)
{
	if (memchr(why, '\0', cap) == NULL || why[0] == '\0')
		abort();
}

static void fuzz_path(const char *s)
{
	struct http_route r;
	int rc = http_parse_path(s, &r);

	if (rc == 0) {
		if (r.kind == HTTP_ROUTE_CHANNEL &&
		    (r.name_len == 0 || r.name_len > HTTP_NAME_MAX || strlen(r.name) != r.name_len ||
		     wire_upd_check_channel(r.name, r.name_len) != 0))
			abort();
		if (r.kind > HTTP_ROUTE_METRICS)
			abort();
		return;
	}
	if (rc != HTTP_ERR_BAD_PATH || (r.kind != HTTP_ROUTE_CHANNEL && r.kind != HTTP_ROUTE_CHUNK))
		abort();
	check_why(r.why, sizeof(r.why));
}

static void fuzz_range(const char *s, uint64_t size)
{
	struct http_range g;
	char why[128];
	enum http_range_result rr = http_parse_range(s, size, &g, why, sizeof(why));

	switch (rr) {
	case HTTP_RANGE_PARTIAL:
		if (size == 0 || g.first > g.last || g.last >= size)
			abort();
		break;
	case HTTP_RANGE_MALFORMED:
		check_why(why, sizeof(why));
		break;
	case HTTP_RANGE_FULL:
	case HTTP_RANGE_UNSATISFIABLE:
		break;
	default:
		abort();
	}
}

static void fuzz_etag(const char *s)
{
	char why[128];
	int m = http_match_etag(s, "v3-5f1d", why, sizeof(why));

	if (m == HTTP_ERR_BAD_HEADER)
		check_why(why, sizeof(why));
	else if (m != 0 && m != 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	/* Byte 0: the parser; bytes 1-2: a body size for Range (0..65535, or 2^64 - 1 when
	 * both are 0xff); the rest: the text, cut at a NUL as the server would see it. */
	uint64_t body = (uint64_t)data[1] | (uint64_t)data[2] << 8;
	if (body == 0xffff)
		body = UINT64_MAX;
	char *s = malloc(size - 3 + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data + 3, size - 3);
	s[size - 3] = '\0';
	switch (data[0] % 3) {
	case 0:
		fuzz_path(s);
		break;
	case 1:
		fuzz_range(s, body);
		break;
	default:
		fuzz_etag(s);
		break;
	}
	free(s);
	return 0;
}
