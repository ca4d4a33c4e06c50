/* test_wire_buf.c: the output buffer (byte order, growth, sticky errors), the input
 * cursor (bounds, sticky errors, limits before lengths), error and type names, and
 * iterators over bytes that were never validated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "wire/wire.h"

START_TEST(test_buf_little_endian)
{
	struct wire_buf b;
	wire_buf_init(&b);
	ck_assert_ptr_null(b.p);
	wire_put_u8(&b, 0x01);
	wire_put_u16(&b, 0x0302);
	wire_put_u32(&b, 0x07060504);
	wire_put_u64(&b, 0x0f0e0d0c0b0a0908ull);
	wire_put_fixed(&b, "\x10\x11", 2);
	wire_put_bytes(&b, "\x12", 1);
	wire_put_bytes(&b, NULL, 0);
	wire_put_fixed(&b, NULL, 0);
	static const uint8_t want[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
					0x10, 0x11, 1, 0, 0, 0, 0x12, 0, 0, 0, 0 };
	ck_assert_int_eq(wire_buf_error(&b), 0);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.p, want, sizeof(want));

	wire_buf_reset(&b);
	struct wire_hdr h = { WIRE_VERSION, WIRE_PREPARE, 0, 0x44332211u, 0x0807060504030201ull, 9 };
	wire_put_hdr(&b, &h);
	static const uint8_t hdr[WIRE_HDR_LEN] = { 1, WIRE_PREPARE, 0, 0, 0x11, 0x22, 0x33, 0x44,
						   1, 2, 3, 4, 5, 6, 7, 8, 9 };
	ck_assert_uint_eq(b.len, WIRE_HDR_LEN);
	ck_assert_mem_eq(b.p, hdr, WIRE_HDR_LEN);
	wire_buf_free(&b);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(test_buf_growth)
{
	struct wire_buf b;
	wire_buf_init(&b);
	size_t grows = 0, cap = 0;
	for (unsigned i = 0; i < 100000; i++) {
		wire_put_u8(&b, (uint8_t)i);
		if (b.cap != cap) {
			grows++;
			ck_assert_uint_ge(b.cap, 2 * cap); /* geometric */
			cap = b.cap;
		}
	}
	ck_assert_uint_le(grows, 12); /* 256 << 9 > 100000 */
	for (unsigned i = 0; i < 100000; i++)
		ck_assert_uint_eq(b.p[i], (uint8_t)i);
	/* Reset keeps the memory. */
	uint8_t *p = b.p;
	wire_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	wire_put_u64(&b, 1);
	ck_assert_ptr_eq(b.p, p);
	ck_assert_uint_eq(b.cap, cap);
	/* One large put grows to fit at once. */
	static uint8_t big[1 << 20];
	wire_put_fixed(&b, big, sizeof(big));
	ck_assert_uint_eq(b.len, 8 + sizeof(big));
	ck_assert_int_eq(wire_buf_error(&b), 0);
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_buf_sticky_errors)
{
	struct wire_buf b;
	wire_buf_init(&b);
	wire_put_u8(&b, 1);
	/* A length that cannot be represented: nothing is read from the source. */
	wire_put_vc(&b, NULL, (size_t)UINT32_MAX);
	ck_assert_int_eq(wire_buf_error(&b), WIRE_ERR_TOO_BIG);
	wire_put_u32(&b, 5);
	wire_put_request(&b, &(struct wire_request){ .timestamp = 1 });
	ck_assert_uint_eq(b.len, 1);
	struct wire_msg m = { .hdr = { WIRE_VERSION, WIRE_STATUS, 0, 0, 0, 0 } };
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_TOO_BIG);
	ck_assert_uint_eq(b.len, 1);
	wire_buf_reset(&b);
	ck_assert_int_eq(wire_buf_error(&b), 0);
	ck_assert_int_eq(wire_encode(&b, &m), 0);

	/* A size that overflows: WIRE_ERR_NOMEM without an allocation attempt. */
	wire_put_fixed(&b, NULL, SIZE_MAX);
	ck_assert_int_eq(wire_buf_error(&b), WIRE_ERR_NOMEM);
	size_t len = b.len;
	wire_put_u64(&b, 1);
	wire_put_hdr(&b, &m.hdr);
	ck_assert_uint_eq(b.len, len);
	uint8_t sig[WIRE_SIG_LEN] = { 0 };
	wire_patch_sig(&b, sig); /* no-op in error */

	/* Items whose length does not fit a u32 prefix. */
	wire_buf_reset(&b);
	struct wire_data_item it = { { NULL, UINT32_MAX }, { NULL, 1 } };
	wire_put_data(&b, &it);
	ck_assert_int_eq(wire_buf_error(&b), WIRE_ERR_TOO_BIG);
	wire_buf_reset(&b);
	struct wire_request r = { .op = { NULL, UINT32_MAX - 10 } };
	wire_put_request(&b, &r);
	ck_assert_int_eq(wire_buf_error(&b), WIRE_ERR_TOO_BIG);
	wire_buf_reset(&b);
	struct wire_pitem pi = { .batch = { 0, 1, { NULL, UINT32_MAX } } };
	wire_put_pitem(&b, &pi);
	ck_assert_int_eq(wire_buf_error(&b), WIRE_ERR_TOO_BIG);
	ck_assert_uint_eq(b.len, 0);

	/* Patching a buffer shorter than a signature does nothing. */
	wire_buf_reset(&b);
	wire_put_u32(&b, 0);
	memset(sig, 0xee, sizeof(sig));
	wire_patch_sig(&b, sig);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_uint_eq(b.p[0], 0);
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_cursor)
{
	static const uint8_t in[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xaa };
	struct wire_cursor c;
	wire_cursor_init(&c, in, 15);
	ck_assert_uint_eq(wire_get_u8(&c), 0x01);
	ck_assert_uint_eq(wire_get_u16(&c), 0x0302);
	ck_assert_uint_eq(wire_get_u32(&c), 0x07060504);
	ck_assert_int_eq(wire_cursor_end(&c), WIRE_ERR_TRAILING);
	ck_assert_uint_eq(wire_get_u64(&c), 0x0f0e0d0c0b0a0908ull);
	ck_assert_int_eq(wire_cursor_end(&c), 0);
	/* Reading past the end: zeros, a sticky TRUNCATED, never the byte after the end. */
	ck_assert_uint_eq(wire_get_u8(&c), 0);
	ck_assert_int_eq(c.err, WIRE_ERR_TRUNCATED);
	ck_assert_int_eq(wire_cursor_end(&c), WIRE_ERR_TRUNCATED);
	uint8_t out[4] = { 9, 9, 9, 9 };
	wire_get_fixed(&c, out, sizeof(out));
	ck_assert_uint_eq(out[0] | out[1] | out[2] | out[3], 0);

	/* A partial field is truncated too, and the error stays the first one. */
	wire_cursor_init(&c, in, 3);
	ck_assert_uint_eq(wire_get_u32(&c), 0);
	ck_assert_int_eq(c.err, WIRE_ERR_TRUNCATED);
	ck_assert_uint_eq(wire_get_u8(&c), 0);

	/* Empty input. */
	wire_cursor_init(&c, NULL, 0);
	ck_assert_int_eq(wire_cursor_end(&c), 0);
	ck_assert_uint_eq(wire_get_u16(&c), 0);
	ck_assert_int_eq(c.err, WIRE_ERR_TRUNCATED);
}
END_TEST

START_TEST(test_cursor_bytes)
{
	static const uint8_t in[] = { 3, 0, 0, 0, 'a', 'b', 'c', 0xff, 0xff, 0xff, 0x7f, 'x' };
	struct wire_cursor c;
	wire_cursor_init(&c, in, sizeof(in));
	struct wire_bytes v = wire_get_bytes(&c, 3);
	ck_assert_uint_eq(v.len, 3);
	ck_assert_ptr_eq(v.p, in + 4);
	/* The limit is checked before the length is compared with what is left. */
	v = wire_get_bytes(&c, 1000);
	ck_assert_int_eq(c.err, WIRE_ERR_TOO_BIG);
	ck_assert_ptr_null(v.p);
	ck_assert_uint_eq(v.len, 0);

	wire_cursor_init(&c, in, sizeof(in));
	wire_get_bytes(&c, 2);
	ck_assert_int_eq(c.err, WIRE_ERR_TOO_BIG);
	wire_cursor_init(&c, in + 7, 5);
	wire_get_bytes(&c, UINT32_MAX);
	ck_assert_int_eq(c.err, WIRE_ERR_TRUNCATED);
	wire_cursor_init(&c, in, 6);
	wire_get_bytes(&c, 3);
	ck_assert_int_eq(c.err, WIRE_ERR_TRUNCATED);
	/* Zero-length strings are fine. */
	static const uint8_t empty[] = { 0, 0, 0, 0 };
	wire_cursor_init(&c, empty, sizeof(empty));
	v = wire_get_bytes(&c, 0);
	ck_assert_int_eq(wire_cursor_end(&c), 0);
	ck_assert_uint_eq(v.len, 0);
}
END_TEST

START_TEST(test_names)
{
	static const int errs[] = { WIRE_OK, WIRE_ERR_TRUNCATED, WIRE_ERR_TRAILING, WIRE_ERR_VERSION,
				    WIRE_ERR_TYPE, WIRE_ERR_TOO_BIG, WIRE_ERR_FLAGS, WIRE_ERR_FIELD,
				    WIRE_ERR_NOMEM };
	const size_t n = sizeof(errs) / sizeof(errs[0]);
	const char *unknown = wire_strerror(-100);
	ck_assert_ptr_nonnull(unknown);
	ck_assert_ptr_eq(wire_strerror(1), unknown);
	for (size_t i = 0; i < n; i++) {
		const char *s = wire_strerror(errs[i]);
		ck_assert_ptr_nonnull(s);
		ck_assert_str_ne(s, unknown);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(s, wire_strerror(errs[j]));
	}
	static const char *types[] = { "REQUEST", "REPLY", "PRE-PREPARE", "PREPARE", "COMMIT",
				       "CHECKPOINT", "VIEW-CHANGE", "NEW-VIEW", "STATUS", "FETCH",
				       "META", "DATA" };
	for (unsigned t = 1; t <= 12; t++)
		ck_assert_str_eq(wire_type_name((uint8_t)t), types[t - 1]);
	ck_assert_str_eq(wire_type_name(0), "UNKNOWN");
	ck_assert_str_eq(wire_type_name(WIRE_PBFT_MAX), "UNKNOWN");
}
END_TEST

/* Iterators over bytes nobody validated: they stop, and never read outside the list. */
START_TEST(test_iter_unvalidated)
{
	struct wire_buf b;
	wire_buf_init(&b);
	struct wire_proof_item pr = { .replica = 5 };
	wire_put_proof(&b, &pr);
	wire_put_u32(&b, 6); /* a cut second item */
	uint8_t *copy = malloc(b.len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, b.p, b.len);
	struct wire_list l = { 3, { copy, (uint32_t)b.len } };
	struct wire_iter it;
	struct wire_proof_item got;
	wire_iter_init(&it, &l);
	ck_assert(wire_next_proof(&it, &got));
	ck_assert_uint_eq(got.replica, 5);
	ck_assert(!wire_next_proof(&it, &got));
	ck_assert(!wire_next_proof(&it, &got));
	free(copy);

	/* Requests with lengths that point past the end, or bodies that do not parse. */
	static const uint8_t bad_len[] = { 0xff, 0xff, 0, 0, 1, 2, 3 };
	static const uint8_t bad_body[] = { 4, 0, 0, 0, 1, 2, 3, 4 };
	const uint8_t *cases[] = { bad_len, bad_body };
	size_t lens[] = { sizeof(bad_len), sizeof(bad_body) };
	for (int i = 0; i < 2; i++) {
		copy = malloc(lens[i]);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, cases[i], lens[i]);
		struct wire_batch bt = { 0, 2, { copy, (uint32_t)lens[i] } };
		struct wire_request r;
		wire_iter_batch(&it, &bt);
		ck_assert(!wire_next_request(&it, &r));
		struct wire_list dl = { 2, { copy, (uint32_t)lens[i] } };
		struct wire_data_item di;
		struct wire_pitem pi;
		struct wire_bytes vc;
		wire_iter_init(&it, &dl);
		ck_assert(!wire_next_data(&it, &di));
		wire_iter_init(&it, &dl);
		ck_assert(!wire_next_pitem(&it, &pi));
		wire_iter_init(&it, &dl);
		ck_assert(!wire_next_vc(&it, &vc) || vc.len <= lens[i] - 4);
		free(copy);
	}

	/* An empty list, and a list whose count is 0 but has bytes. */
	struct wire_list empty = { 0, { NULL, 0 } };
	const uint8_t *d;
	wire_iter_init(&it, &empty);
	ck_assert(!wire_next_child(&it, &d));
	struct wire_list zero = { 0, { b.p, (uint32_t)b.len } };
	wire_iter_init(&it, &zero);
	ck_assert(!wire_next_proof(&it, &got));
	wire_buf_free(&b);
}
END_TEST

static Suite *wire_buf_suite(void)
{
	Suite *s = suite_create("wire_buf");
	TCase *tc = tcase_create("buf");
	tcase_add_test(tc, test_buf_little_endian);
	tcase_add_test(tc, test_buf_growth);
	tcase_add_test(tc, test_buf_sticky_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("cursor");
	tcase_add_test(tc, test_cursor);
	tcase_add_test(tc, test_cursor_bytes);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_iter_unvalidated);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(wire_buf_suite)
