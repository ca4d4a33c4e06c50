/* test_http_parse.c: the HTTP read plane's pure parsers: request paths (routes, strict
 * percent-decoding, hostile channel names, chunk ids), Range and If-None-Match. */
#include <stdio.h>
#include <string.h>

#include "replica/http/http.h"
#include "tests/unit/unit.h"
#include "wire/upd.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

START_TEST(path_routes)
{
	struct http_route r;

	ck_assert_int_eq(http_parse_path("/v1/group", &r), 0);
	ck_assert_int_eq(r.kind, HTTP_ROUTE_GROUP);
	ck_assert_int_eq(http_parse_path("/metrics", &r), 0);
	ck_assert_int_eq(r.kind, HTTP_ROUTE_METRICS);
	ck_assert_int_eq(http_parse_path("/metrics?x=1", &r), 0);
	ck_assert_int_eq(r.kind, HTTP_ROUTE_METRICS);
	ck_assert_int_eq(http_parse_path("/v1/channels/stable/linux-amd64", &r), 0);
	ck_assert_int_eq(r.kind, HTTP_ROUTE_CHANNEL);
	ck_assert_str_eq(r.name, "stable/linux-amd64");
	ck_assert_uint_eq(r.name_len, 18);
	ck_assert_int_eq(http_parse_path("/v1/channels/a_b.C-9?since=3", &r), 0);
	ck_assert_str_eq(r.name, "a_b.C-9");
	ck_assert_int_eq(http_parse_path("/v1/chunks/" HEX64, &r), 0);
	ck_assert_int_eq(r.kind, HTTP_ROUTE_CHUNK);
	ck_assert_uint_eq(r.sha256[0], 0x01);
	ck_assert_uint_eq(r.sha256[1], 0x23);
	ck_assert_uint_eq(r.sha256[31], 0xef);

	/* Unknown paths are 404s, not parse errors. */
	static const char *const none[] = {"", "/", "/v1", "/v1/group/", "/v1/groups",
					   "/metrics/", "/METRICS", "/v1/channels",
					   "/v1/chunks", "/v2/channels/x", "v1/group",
					   "http://h/v1/group", "*", "/v1//group"};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		ck_assert_int_eq(http_parse_path(none[i], &r), 0);
		ck_assert_msg(r.kind == HTTP_ROUTE_NONE, "%s", none[i]);
	}
	ck_assert_int_eq(http_parse_path(NULL, &r), 0);
	ck_assert_int_eq(r.kind, HTTP_ROUTE_NONE);
}
END_TEST

START_TEST(path_percent)
{
	struct http_route r;

	ck_assert_int_eq(http_parse_path("/v1/channels/stable%2Flinux%2damd64", &r), 0);
	ck_assert_str_eq(r.name, "stable/linux-amd64");
	ck_assert_int_eq(http_parse_path("/v1/channels/%61%62%63", &r), 0);
	ck_assert_str_eq(r.name, "abc");
	ck_assert_int_eq(http_parse_path("/v1/chunks/%30123456789abcdef0123456789abcdef"
					 "0123456789abcdef0123456789abcdef", &r), 0);
	ck_assert_uint_eq(r.sha256[0], 0x01);

	/* Each malformed or hostile form, with what the message must say. */
	static const struct {
		const char *path, *why;
	} bad[] = {
		{"/v1/channels/", "empty"},
		{"/v1/channels/?x", "empty"},
		{"/v1/channels/%", "'%' at byte 13"},
		{"/v1/channels/a%4", "'%' at byte 14"},
		{"/v1/channels/a%zz", "not followed by two hex digits"},
		{"/v1/channels/a%%41", "'%' at byte 14"},
		{"/v1/channels/a%00b", "byte 0x00 at offset 1"},
		{"/v1/channels/a%20b", "byte 0x20 at offset 1"},
		{"/v1/channels/a b", "byte 0x20 at offset 1"},
		{"/v1/channels/a%252e", "byte 0x25 at offset 1"},
		{"/v1/channels/caf\xc3\xa9", "byte 0xc3 at offset 3"},
		{"/v1/channels/a\\b", "byte 0x5c"},
		{"/v1/channels/a#b", "byte 0x23"},
		{"/v1/channels//a", "empty segment at offset 0"},
		{"/v1/channels/a/", "empty segment at offset 2"},
		{"/v1/channels/a//b", "empty segment at offset 2"},
		{"/v1/channels/%2Fa", "empty segment at offset 0"},
		{"/v1/channels/..", "'..' segment at offset 0"},
		{"/v1/channels/a/../b", "'..' segment at offset 2"},
		{"/v1/channels/a/%2e%2E/b", "'..' segment at offset 2"},
		{"/v1/channels/a/.", "'.' segment at offset 2"},
		{"/v1/channels/./a", "'.' segment at offset 0"},
		{"/v1/chunks/", "(0 bytes)"},
		{"/v1/chunks/abc", "(3 bytes)"},
		{"/v1/chunks/" HEX64 "0", "longer than 64 bytes"},
		{"/v1/chunks/" HEX64 "/x", "longer than 64 bytes"},
		{"/v1/chunks/0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		 "byte 0x41 at offset 10"},
		{"/v1/chunks/g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		 "byte 0x67 at offset 0"},
		{"/v1/chunks/%zz", "'%' at byte 11"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(http_parse_path(bad[i].path, &r) == HTTP_ERR_BAD_PATH, "%s",
			      bad[i].path);
		ck_assert(r.kind == HTTP_ROUTE_CHANNEL || r.kind == HTTP_ROUTE_CHUNK);
		ck_assert_msg(strstr(r.why, bad[i].why) != NULL, "%s: '%s' lacks '%s'",
			      bad[i].path, r.why, bad[i].why);
	}
}
END_TEST

START_TEST(path_lengths)
{
	struct http_route r;
	char path[1200];

	/* 255 bytes is the longest name; 256 is refused; an escaped 255 is fine. */
	strcpy(path, "/v1/channels/");
	memset(path + 13, 'a', 255);
	path[13 + 255] = '\0';
	ck_assert_int_eq(http_parse_path(path, &r), 0);
	ck_assert_uint_eq(r.name_len, 255);
	ck_assert_uint_eq(strlen(r.name), 255);
	path[13 + 255] = 'a';
	path[13 + 256] = '\0';
	ck_assert_int_eq(http_parse_path(path, &r), HTTP_ERR_BAD_PATH);
	ck_assert_ptr_nonnull(strstr(r.why, "longer than 255 bytes"));
	strcpy(path, "/v1/channels/");
	for (int i = 0; i < 255; i++)
		memcpy(path + 13 + 3 * i, "%41", 3);
	path[13 + 3 * 255] = '\0';
	ck_assert_int_eq(http_parse_path(path, &r), 0);
	ck_assert_uint_eq(r.name_len, 255);
	ck_assert_int_eq(r.name[254], 'A');
}
END_TEST

/* Every name the path parser accepts is a valid channel name for wire/upd. */
START_TEST(path_agrees_with_wire)
{
	static const char *const names[] = {"a", "a/b", "a.b", "..a", "a..", "a/.b/c", "-",
					    "_/_", "A9", "x/y/z/w"};
	struct http_route r;
	char path[300];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "/v1/channels/%s", names[i]);
		ck_assert_msg(http_parse_path(path, &r) == 0, "%s: %s", names[i], r.why);
		ck_assert_int_eq(wire_upd_check_channel(r.name, r.name_len), 0);
	}
}
END_TEST

START_TEST(range_single)
{
	struct http_range g;
	char why[128];

	ck_assert_int_eq(http_parse_range(NULL, 100, &g, why, sizeof(why)), HTTP_RANGE_FULL);
	static const struct {
		const char *v;
		uint64_t size, first, last;
	} ok[] = {
		{"bytes=0-0", 100, 0, 0},
		{"bytes=99-99", 100, 99, 99},
		{"bytes=0-99", 100, 0, 99},
		{"bytes=0-100", 100, 0, 99},
		{"bytes=10-", 100, 10, 99},
		{"bytes=99-", 100, 99, 99},
		{"bytes=-1", 100, 99, 99},
		{"bytes=-100", 100, 0, 99},
		{"bytes=-1000", 100, 0, 99},
		{"bytes=5-99999999999999999999999", 100, 5, 99},
		{"bytes=-99999999999999999999999", 100, 0, 99},
		{"BYTES=1-2", 100, 1, 2},
		{" bytes= 1-2 ", 100, 1, 2},
		{"bytes=1-2,", 100, 1, 2},
		{"bytes=, 1-2 ,,", 100, 1, 2},
		{"bytes=0-0", 1, 0, 0},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(http_parse_range(ok[i].v, ok[i].size, &g, why, sizeof(why)) ==
				      HTTP_RANGE_PARTIAL,
			      "%s", ok[i].v);
		ck_assert_msg(g.first == ok[i].first && g.last == ok[i].last, "%s: %llu-%llu",
			      ok[i].v, (unsigned long long)g.first, (unsigned long long)g.last);
	}
}
END_TEST

START_TEST(range_other)
{
	struct http_range g;
	char why[128];

	static const char *const unsat[] = {"bytes=100-", "bytes=100-200", "bytes=-0",
					    "bytes=18446744073709551616-"};
	for (size_t i = 0; i < sizeof(unsat) / sizeof(unsat[0]); i++)
		ck_assert_msg(http_parse_range(unsat[i], 100, &g, why, sizeof(why)) ==
				      HTTP_RANGE_UNSATISFIABLE,
			      "%s", unsat[i]);
	ck_assert_int_eq(http_parse_range("bytes=0-0", 0, &g, why, sizeof(why)),
			 HTTP_RANGE_UNSATISFIABLE);
	ck_assert_int_eq(http_parse_range("bytes=-5", 0, &g, why, sizeof(why)),
			 HTTP_RANGE_UNSATISFIABLE);

	/* Several ranges, or another unit: the whole body. */
	static const char *const full[] = {"bytes=0-1,3-4", "bytes=0-1, -5", "bytes=200-,0-1",
					   "items=0-1", "pages=-"};
	for (size_t i = 0; i < sizeof(full) / sizeof(full[0]); i++)
		ck_assert_msg(http_parse_range(full[i], 100, &g, why, sizeof(why)) ==
				      HTTP_RANGE_FULL,
			      "%s", full[i]);

	static const struct {
		const char *v, *why;
	} bad[] = {
		{"bytes", "expected unit=ranges"},
		{"", "expected unit=ranges"},
		{"=0-1", "no unit"},
		{"bytes=", "no byte range"},
		{"bytes=,,", "no byte range"},
		{"bytes=-", "is not first-last"},
		{"bytes=abc", "'abc' is not first-last"},
		{"bytes=1", "is not first-last"},
		{"bytes=1-2-3", "is not first-last"},
		{"bytes=1 -2", "is not first-last"},
		{"bytes=+1-2", "is not first-last"},
		{"bytes=0x1-2", "is not first-last"},
		{"bytes=5-3", "last byte 3 is before first byte 5"},
		{"bytes=0-1,5-3", "last byte 3 is before first byte 5"},
		{"bytes=0-1,x", "'x' is not"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(http_parse_range(bad[i].v, 100, &g, why, sizeof(why)) ==
				      HTTP_RANGE_MALFORMED,
			      "%s", bad[i].v);
		ck_assert_msg(strstr(why, bad[i].why) != NULL, "%s: '%s'", bad[i].v, why);
	}
	/* No room for the reason is fine. */
	ck_assert_int_eq(http_parse_range("bytes=x", 100, &g, NULL, 0), HTTP_RANGE_MALFORMED);
}
END_TEST

START_TEST(etag_match)
{
	char why[128];

	static const struct {
		const char *v;
		int want;
	} cases[] = {
		{"\"v3\"", 1},
		{"W/\"v3\"", 1},
		{"\"v2\", \"v3\"", 1},
		{" \"v2\" ,W/\"v3\" ", 1},
		{"\"v2\",,\"v3\"", 1},
		{"*", 1},
		{" * ", 1},
		{"\"v2\"", 0},
		{"\"V3\"", 0},
		{"\"v3 \"", -1},
		{"\"\"", 0},
		{"\"v33\"", 0},
		{"\"\xe2\x82\xac\"", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = http_match_etag(cases[i].v, "v3", why, sizeof(why));
		if (cases[i].want < 0)
			ck_assert_msg(got == HTTP_ERR_BAD_HEADER, "%s: %d", cases[i].v, got);
		else
			ck_assert_msg(got == cases[i].want, "%s: %d (%s)", cases[i].v, got, why);
	}
	/* A resource without an ETag matches only "*". */
	ck_assert_int_eq(http_match_etag("\"\"", "", why, sizeof(why)), 0);
	ck_assert_int_eq(http_match_etag("*", "", why, sizeof(why)), 1);

	static const struct {
		const char *v, *why;
	} bad[] = {
		{"v3", "expected a quoted entity-tag at byte 0"},
		{"\"v3", "unterminated entity-tag at byte 0"},
		{"\"v2\" \"v3\"", "expected ',' after the entity-tag at byte 0"},
		{"\"v2\", v3", "expected a quoted entity-tag at byte 6"},
		{"w/\"v3\"", "expected a quoted entity-tag"},
		{"*, \"v3\"", "'*' must stand alone"},
		{"", "empty"},
		{" , ", "empty"},
		{"\"a\tb\"", "byte 0x09 inside the entity-tag"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(http_match_etag(bad[i].v, "v3", why, sizeof(why)) ==
				      HTTP_ERR_BAD_HEADER,
			      "%s", bad[i].v);
		ck_assert_msg(strstr(why, bad[i].why) != NULL, "%s: '%s'", bad[i].v, why);
	}
}
END_TEST

START_TEST(strerror_table)
{
	for (int e = 0; e >= HTTP_ERR_BAD_HEADER; e--) {
		ck_assert_ptr_nonnull(http_strerror(e));
		ck_assert_str_ne(http_strerror(e), "unknown http error");
	}
	ck_assert_str_eq(http_strerror(-100), "unknown http error");
	ck_assert_str_eq(http_strerror(1), "unknown http error");
}
END_TEST

static Suite *http_parse_suite(void)
{
	Suite *s = suite_create("http_parse");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, path_routes);
	tcase_add_test(tc, path_percent);
	tcase_add_test(tc, path_lengths);
	tcase_add_test(tc, path_agrees_with_wire);
	tcase_add_test(tc, range_single);
	tcase_add_test(tc, range_other);
	tcase_add_test(tc, etag_match);
	tcase_add_test(tc, strerror_table);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(http_parse_suite)
