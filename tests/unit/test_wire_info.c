/* test_wire_info.c: the replica info query and answer: round trip, exact layout size,
 * and strict refusal of wrong types, senders, flags, truncation and trailing bytes. */
#include <stdint.h>
#include <string.h>

#include "tests/unit/unit.h"
#include "wire/info.h"
#include "wire/wire.h"

static const struct wire_hdr hdr7 = { WIRE_VERSION, 0, 0, 2, 7, 3 };

static struct wire_info sample(void)
{
	struct wire_info in;
	memset(&in, 0, sizeof(in));
	in.replica = 2;
	in.view = 5;
	in.primary = 1;
	in.flags = WIRE_INFO_VIEW_ACTIVE;
	in.low_watermark = 128;
	in.last_executed = 140;
	in.last_committed = 141;
	in.dropped = 9;
	for (unsigned i = 0; i < WIRE_DIGEST_LEN; i++)
		in.checkpoint_digest[i] = (uint8_t)(i * 7 + 1);
	in.uptime_ms = 123456789;
	return in;
}

START_TEST(test_info_roundtrip)
{
	struct wire_buf b;
	struct wire_info in = sample(), out;
	struct wire_hdr h;

	wire_buf_init(&b);
	ck_assert_int_eq(wire_info_encode(&b, &hdr7, &in), 0);
	ck_assert_uint_eq(b.len, WIRE_HDR_LEN + WIRE_INFO_BODY_LEN);
	ck_assert_int_eq(wire_info_decode(b.p, b.len, &h, &out), 0);
	ck_assert_uint_eq(h.type, WIRE_INFO);
	ck_assert_uint_eq(h.sender, 2);
	ck_assert_uint_eq(h.group, 7);
	ck_assert_uint_eq(h.epoch, 3);
	ck_assert_mem_eq(&in, &out, sizeof(in));
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_info_strict)
{
	struct wire_buf b;
	struct wire_info in = sample(), out;
	struct wire_hdr h;

	wire_buf_init(&b);
	ck_assert_int_eq(wire_info_encode(&b, &hdr7, &in), 0);
	/* every truncation is refused and zeroes the output */
	for (size_t n = 0; n < b.len; n++) {
		int err = wire_info_decode(b.p, n, &h, &out);
		ck_assert_int_eq(err, WIRE_ERR_TRUNCATED);
		ck_assert_uint_eq(out.replica, 0);
	}
	wire_put_u8(&b, 0);
	ck_assert_int_eq(wire_info_decode(b.p, b.len, &h, &out), WIRE_ERR_TRAILING);
	b.len--;
	b.p[1] = WIRE_REPLY; /* wrong type */
	ck_assert_int_eq(wire_info_decode(b.p, b.len, &h, &out), WIRE_ERR_TYPE);
	b.p[1] = WIRE_INFO;
	b.p[4] = 3; /* header sender no longer matches the replica field */
	ck_assert_int_eq(wire_info_decode(b.p, b.len, &h, &out), WIRE_ERR_FIELD);
	b.p[4] = 2;
	b.p[WIRE_HDR_LEN + 16] = 0x4; /* unknown flag bit */
	ck_assert_int_eq(wire_info_decode(b.p, b.len, &h, &out), WIRE_ERR_FLAGS);
	ck_assert_uint_eq(h.type, 0);
	b.p[WIRE_HDR_LEN + 16] = 0x1;
	b.p[0] = 9; /* version */
	ck_assert_int_eq(wire_info_decode(b.p, b.len, &h, &out), WIRE_ERR_VERSION);

	wire_buf_reset(&b);
	in.flags = 0x80;
	ck_assert_int_eq(wire_info_encode(&b, &hdr7, &in), WIRE_ERR_FLAGS);
	ck_assert_uint_eq(b.len, 0);
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_info_req)
{
	struct wire_buf b;
	struct wire_hdr h;

	wire_buf_init(&b);
	ck_assert_int_eq(wire_info_req_encode(&b, &hdr7), 0);
	ck_assert_uint_eq(b.len, WIRE_HDR_LEN);
	ck_assert_int_eq(wire_info_req_decode(b.p, b.len, &h), 0);
	ck_assert_uint_eq(h.type, WIRE_INFO_REQ);
	ck_assert_uint_eq(h.sender, WIRE_SENDER_CLIENT);
	ck_assert_uint_eq(h.group, 7);
	ck_assert_int_eq(wire_info_req_decode(b.p, b.len - 1, &h), WIRE_ERR_TRUNCATED);
	wire_put_u8(&b, 1);
	ck_assert_int_eq(wire_info_req_decode(b.p, b.len, &h), WIRE_ERR_TRAILING);
	b.len--;
	b.p[4] = 0; /* sender: a replica id */
	ck_assert_int_eq(wire_info_req_decode(b.p, b.len, &h), WIRE_ERR_FIELD);
	b.p[4] = 0xff;
	b.p[1] = WIRE_INFO;
	ck_assert_int_eq(wire_info_req_decode(b.p, b.len, &h), WIRE_ERR_TYPE);
	wire_buf_free(&b);
}
END_TEST

static Suite *wire_info_suite(void)
{
	Suite *s = suite_create("wire_info");
	TCase *tc = tcase_create("info");
	tcase_add_test(tc, test_info_roundtrip);
	tcase_add_test(tc, test_info_strict);
	tcase_add_test(tc, test_info_req);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(wire_info_suite)
