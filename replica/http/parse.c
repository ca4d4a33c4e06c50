/* parse.c: the pure parsers of the HTTP read plane: request paths, Range, If-None-Match. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "replica/http/http.h"
#include "wire/upd.h"

_Static_assert(HTTP_NAME_MAX == WIRE_UPD_MAX_CHANNEL, "channel names as in wire/upd.h");

#define CHANNELS_PREFIX "/v1/channels/"
#define CHUNKS_PREFIX   "/v1/chunks/"

__attribute__((format(printf, 3, 4)))
static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int name_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '/';
}

/* Decode the percent-escapes of s[0..n) into out (cap bytes). Returns the decoded
 * length, or -1 with why set. what names the thing decoded; base is the offset of s in
 * the request path, for the message. */
static long pct_decode(const char *s, size_t n, char *out, size_t cap, const char *what,
		       size_t base, char *why, size_t whylen)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int hi = i + 1 < n ? hex_value((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_value((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				set_why(why, whylen,
					"%s: '%%' at byte %zu of the path is not followed by two hex digits",
					what, base + i);
				return -1;
			}
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (len == cap) {
			set_why(why, whylen, "%s: longer than %zu bytes", what, cap);
			return -1;
		}
		out[len++] = (char)c;
	}
	return (long)len;
}

static int parse_channel(const char *s, size_t n, size_t base, struct http_route *out)
{
	char *why = out->why;
	size_t whylen = sizeof(out->why);

	if (n == 0) {
		set_why(why, whylen, "channel name: empty");
		return HTTP_ERR_BAD_PATH;
	}
	long dl = pct_decode(s, n, out->name, HTTP_NAME_MAX, "channel name", base, why, whylen);
	if (dl < 0)
		return HTTP_ERR_BAD_PATH;
	size_t len = (size_t)dl;
	out->name[len] = '\0';
	if (len == 0) {
		set_why(why, whylen, "channel name: empty");
		return HTTP_ERR_BAD_PATH;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out->name[i];
		if (!name_byte_ok(c)) {
			set_why(why, whylen,
				"channel name: byte 0x%02x at offset %zu is not one of [A-Za-z0-9._-/]",
				c, i);
			return HTTP_ERR_BAD_PATH;
		}
	}
	size_t seg = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && out->name[i] != '/')
			continue;
		size_t sl = i - seg;
		if (sl == 0) {
			set_why(why, whylen,
				"channel name: empty segment at offset %zu (leading, trailing or doubled '/')",
				seg);
			return HTTP_ERR_BAD_PATH;
		}
		if (sl == 1 && out->name[seg] == '.') {
			set_why(why, whylen, "channel name: '.' segment at offset %zu", seg);
			return HTTP_ERR_BAD_PATH;
		}
		if (sl == 2 && out->name[seg] == '.' && out->name[seg + 1] == '.') {
			set_why(why, whylen, "channel name: '..' segment at offset %zu", seg);
			return HTTP_ERR_BAD_PATH;
		}
		seg = i + 1;
	}
	out->name_len = len;
	return 0;
}

static int parse_chunk(const char *s, size_t n, size_t base, struct http_route *out)
{
	char hex[64];
	long dl = pct_decode(s, n, hex, sizeof(hex), "chunk id", base, out->why, sizeof(out->why));

	if (dl < 0)
		return HTTP_ERR_BAD_PATH;
	if (dl != 64) {
		set_why(out->why, sizeof(out->why),
			"chunk id: not 64 lower-case hex digits (%ld bytes)", dl);
		return HTTP_ERR_BAD_PATH;
	}
	for (size_t i = 0; i < 64; i++) {
		unsigned char c = (unsigned char)hex[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			set_why(out->why, sizeof(out->why),
				"chunk id: byte 0x%02x at offset %zu is not a lower-case hex digit",
				c, i);
			return HTTP_ERR_BAD_PATH;
		}
	}
	for (size_t i = 0; i < 32; i++)
		out->sha256[i] = (uint8_t)(hex_value((unsigned char)hex[2 * i]) << 4 |
					   hex_value((unsigned char)hex[2 * i + 1]));
	return 0;
}

int http_parse_path(const char *url, struct http_route *out)
{
	out->kind = HTTP_ROUTE_NONE;
	out->name[0] = '\0';
	out->name_len = 0;
	memset(out->sha256, 0, sizeof(out->sha256));
	out->why[0] = '\0';
	if (url == NULL)
		return 0;

	size_t n = strcspn(url, "?");
	size_t pc = sizeof(CHANNELS_PREFIX) - 1, pk = sizeof(CHUNKS_PREFIX) - 1;
	if (n >= pc && memcmp(url, CHANNELS_PREFIX, pc) == 0) {
		out->kind = HTTP_ROUTE_CHANNEL;
		return parse_channel(url + pc, n - pc, pc, out);
	}
	if (n >= pk && memcmp(url, CHUNKS_PREFIX, pk) == 0) {
		out->kind = HTTP_ROUTE_CHUNK;
		return parse_chunk(url + pk, n - pk, pk, out);
	}
	if (n == strlen("/v1/group") && memcmp(url, "/v1/group", n) == 0)
		out->kind = HTTP_ROUTE_GROUP;
	else if (n == strlen("/metrics") && memcmp(url, "/metrics", n) == 0)
		out->kind = HTTP_ROUTE_METRICS;
	return 0;
}

/* ---------------------------------------------------------------- Range */

static int is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* 1*DIGIT at *p, saturating at UINT64_MAX; returns the digits read. */
static size_t read_pos(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	while (s < end && *s >= '0' && *s <= '9') {
		unsigned d = (unsigned)(*s - '0');
		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
		s++;
	}
	*v = x;
	size_t nd = (size_t)(s - *p);
	*p = s;
	return nd;
}

/* Check one range-spec s[0..n) (no surrounding OWS) and, if valid, interpret it. */
static enum http_range_result range_spec(const char *s, size_t n, uint64_t size,
					 struct http_range *out, char *why, size_t whylen)
{
	const char *p = s, *end = s + n;
	uint64_t a = 0, b = 0;
	int has_a, has_b;

	has_a = read_pos(&p, end, &a) > 0;
	if (p == end || *p != '-') {
		set_why(why, whylen, "Range: '%.*s' is not first-last, first- or -suffix",
			(int)(n > 40 ? 40 : n), s);
		return HTTP_RANGE_MALFORMED;
	}
	p++;
	has_b = read_pos(&p, end, &b) > 0;
	if (p != end || (!has_a && !has_b)) {
		set_why(why, whylen, "Range: '%.*s' is not first-last, first- or -suffix",
			(int)(n > 40 ? 40 : n), s);
		return HTTP_RANGE_MALFORMED;
	}
	if (has_a && has_b && b < a) {
		set_why(why, whylen, "Range: last byte %llu is before first byte %llu",
			(unsigned long long)b, (unsigned long long)a);
		return HTTP_RANGE_MALFORMED;
	}
	if (size == 0)
		return HTTP_RANGE_UNSATISFIABLE;
	if (!has_a) { /* suffix: the last b bytes */
		if (b == 0)
			return HTTP_RANGE_UNSATISFIABLE;
		out->first = b >= size ? 0 : size - b;
		out->last = size - 1;
		return HTTP_RANGE_PARTIAL;
	}
	if (a >= size)
		return HTTP_RANGE_UNSATISFIABLE;
	out->first = a;
	out->last = (!has_b || b >= size) ? size - 1 : b;
	return HTTP_RANGE_PARTIAL;
}

enum http_range_result http_parse_range(const char *value, uint64_t size,
					struct http_range *out, char *why, size_t whylen)
{
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	out->first = 0;
	out->last = 0;
	if (value == NULL)
		return HTTP_RANGE_FULL;

	const char *p = value;
	while (is_ows(*p))
		p++;
	const char *eq = strchr(p, '=');
	if (eq == NULL) {
		set_why(why, whylen, "Range: expected unit=ranges");
		return HTTP_RANGE_MALFORMED;
	}
	size_t ul = (size_t)(eq - p);
	if (ul == 0) {
		set_why(why, whylen, "Range: no unit before '='");
		return HTTP_RANGE_MALFORMED;
	}
	if (ul != 5 || strncasecmp(p, "bytes", 5) != 0)
		return HTTP_RANGE_FULL; /* a unit we do not serve: ignored (RFC 9110 14.2) */

	/* range-set = 1#range-spec: elements split by ',', OWS around, empty ones skipped. */
	struct http_range r = {0, 0};
	enum http_range_result first = HTTP_RANGE_FULL;
	unsigned count = 0;
	const char *s = eq + 1;
	for (;;) {
		const char *e = strchr(s, ',');
		if (e == NULL)
			e = s + strlen(s);
		const char *a = s, *b = e;
		while (a < b && is_ows(*a))
			a++;
		while (b > a && is_ows(b[-1]))
			b--;
		if (a < b) {
			struct http_range tmp;
			enum http_range_result rr =
				range_spec(a, (size_t)(b - a), size, &tmp, why, whylen);
			if (rr == HTTP_RANGE_MALFORMED)
				return rr;
			if (count++ == 0) {
				first = rr;
				r = tmp;
			}
		}
		if (*e == '\0')
			break;
		s = e + 1;
	}
	if (count == 0) {
		set_why(why, whylen, "Range: no byte range after 'bytes='");
		return HTTP_RANGE_MALFORMED;
	}
	if (count > 1)
		return HTTP_RANGE_FULL; /* several ranges: the whole body, documented in http.h */
	if (first == HTTP_RANGE_PARTIAL)
		*out = r;
	return first;
}

/* ---------------------------------------------------------------- If-None-Match */

int http_match_etag(const char *value, const char *etag, char *why, size_t whylen)
{
	const char *p = value;
	size_t elen = strlen(etag);
	int match = 0;
	unsigned count = 0;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	while (is_ows(*p))
		p++;
	if (*p == '*') {
		const char *q = p + 1;
		while (is_ows(*q))
			q++;
		if (*q == '\0')
			return 1;
		set_why(why, whylen, "If-None-Match: '*' must stand alone");
		return HTTP_ERR_BAD_HEADER;
	}
	for (;;) {
		while (is_ows(*p) || *p == ',')
			p++;
		if (*p == '\0')
			break;
		size_t at = (size_t)(p - value);
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		if (*p != '"') {
			set_why(why, whylen,
				"If-None-Match: expected a quoted entity-tag at byte %zu", at);
			return HTTP_ERR_BAD_HEADER;
		}
		const char *tag = ++p;
		while (*p != '\0' && *p != '"') {
			unsigned char c = (unsigned char)*p;
			if (c < 0x21 || c == 0x7f) {
				set_why(why, whylen,
					"If-None-Match: byte 0x%02x inside the entity-tag at byte %zu",
					c, at);
				return HTTP_ERR_BAD_HEADER;
			}
			p++;
		}
		if (*p != '"') {
			set_why(why, whylen, "If-None-Match: unterminated entity-tag at byte %zu", at);
			return HTTP_ERR_BAD_HEADER;
		}
		if (elen > 0 && (size_t)(p - tag) == elen && memcmp(tag, etag, elen) == 0)
			match = 1;
		p++;
		count++;
		while (is_ows(*p))
			p++;
		if (*p != ',' && *p != '\0') {
			set_why(why, whylen, "If-None-Match: expected ',' after the entity-tag at byte %zu",
				at);
			return HTTP_ERR_BAD_HEADER;
		}
	}
	if (count == 0) {
		set_why(why, whylen, "If-None-Match: empty");
		return HTTP_ERR_BAD_HEADER;
	}
	return match;
}
