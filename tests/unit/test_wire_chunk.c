/* test_wire_chunk.c: wire/chunk.c: CHUNK_PUT, CHUNK_RECEIPT, STATEMENT and CHUNK_GET
 * round trips, and strict refusals: another type, truncation at every length, trailing
 * bytes, oversize data, an unknown receipt status, a statement without its domain or
 * sent under another replica's id. */
#include "tests/unit/unit.h"

#include <stdlib.h>
#include <string.h>

#include "wire/chunk.h"

static void hdr(struct wire_hdr *h, uint32_t sender)
{
	memset(h, 0, sizeof(*h));
	h->sender = sender;
	h->group = 42;
	h->epoch = 7;
}

START_TEST(put_round_trip_and_refusals)
{
	struct wire_chunk_put m, d;
	struct wire_hdr h, dh;
	struct wire_buf b;
	uint8_t data[300];

	memset(data, 0xab, sizeof(data));
	hdr(&h, WIRE_SENDER_CLIENT);
	memset(m.sha256, 0x11, 32);
	m.data.p = data;
	m.data.len = sizeof(data);
	wire_buf_init(&b);
	ck_assert_int_eq(wire_chunk_put_encode(&b, &h, &m), 0);
	ck_assert_uint_eq(b.len, WIRE_CHUNK_PUT_OVERHEAD + sizeof(data));
	ck_assert_int_eq(wire_chunk_put_decode(b.p, b.len, 1024, &dh, &d), 0);
	ck_assert_uint_eq(dh.type, WIRE_CHUNK_PUT);
	ck_assert_uint_eq(dh.sender, WIRE_SENDER_CLIENT);
	ck_assert_uint_eq(dh.group, 42);
	ck_assert_mem_eq(d.sha256, m.sha256, 32);
	ck_assert_uint_eq(d.data.len, sizeof(data));
	ck_assert_mem_eq(d.data.p, data, sizeof(data));
	/* above the receiver's limit, truncated anywhere, trailing bytes */
	ck_assert_int_eq(wire_chunk_put_decode(b.p, b.len, 299, &dh, &d), WIRE_ERR_TOO_BIG);
	for (size_t n = 0; n < b.len; n++)
		ck_assert_int_ne(wire_chunk_put_decode(b.p, n, 1024, &dh, &d), 0);
	wire_put_u8(&b, 0);
	ck_assert_int_eq(wire_chunk_put_decode(b.p, b.len, 1024, &dh, &d), WIRE_ERR_TRAILING);
	ck_assert_ptr_null(d.data.p);
	/* the hard maximum cannot be encoded past */
	m.data.len = WIRE_CHUNK_HARD_MAX + 1;
	wire_buf_reset(&b);
	ck_assert_int_eq(wire_chunk_put_encode(&b, &h, &m), WIRE_ERR_TOO_BIG);
	ck_assert_uint_eq(b.len, 0);
	wire_buf_free(&b);
}
END_TEST

START_TEST(receipt_round_trip_and_status)
{
	struct wire_chunk_receipt r, d;
	struct wire_hdr h, dh;
	struct wire_buf b;

	memset(&r, 0, sizeof(r));
	memset(r.sha256, 0x22, 32);
	r.size = 262144;
	r.replica = 3;
	r.status = WIRE_CHUNK_HASH_MISMATCH;
	memset(r.sig, 0x33, 64);
	hdr(&h, 3);
	wire_buf_init(&b);
	ck_assert_int_eq(wire_chunk_receipt_encode(&b, &h, &r), 0);
	ck_assert_uint_eq(b.len, WIRE_CHUNK_RECEIPT_LEN);
	ck_assert_int_eq(wire_chunk_receipt_decode(b.p, b.len, &dh, &d), 0);
	ck_assert_int_eq(memcmp(&r, &d, sizeof(r)), 0);
	/* a receipt is not a put */
	struct wire_chunk_put p;
	ck_assert_int_eq(wire_chunk_put_decode(b.p, b.len, 1024, &dh, &p), WIRE_ERR_TYPE);
	/* unknown status */
	r.status = WIRE_CHUNK_STATUS_MAX + 1;
	wire_buf_reset(&b);
	ck_assert_int_eq(wire_chunk_receipt_encode(&b, &h, &r), 0);
	ck_assert_int_eq(wire_chunk_receipt_decode(b.p, b.len, &dh, &d), WIRE_ERR_FIELD);
	ck_assert_uint_eq(d.status, 0);
	ck_assert_str_eq(wire_chunk_status_name(WIRE_CHUNK_NOT_AUTHORIZED), "not authorized");
	ck_assert_str_eq(wire_chunk_status_name(99), "unknown chunk status");
	wire_buf_free(&b);
}
END_TEST

START_TEST(statement_round_trip_and_refusals)
{
	struct wire_statement_msg m, d;
	struct wire_hdr h, dh;
	struct wire_buf b;

	memset(&m, 0, sizeof(m));
	m.st.group = 42;
	m.st.epoch = 7;
	m.st.seq = 99;
	m.st.time_ms = 1700000000000ull;
	m.st.expires_ms = m.st.time_ms + 60000;
	memset(m.st.index_root, 0x44, 32);
	m.st.log_size = 5;
	memset(m.st.log_root, 0x55, 32);
	m.replica = 2;
	memset(m.sig, 0x66, 64);
	hdr(&h, 2);
	wire_buf_init(&b);
	ck_assert_int_eq(wire_statement_encode(&b, &h, &m), 0);
	ck_assert_uint_eq(b.len, WIRE_STATEMENT_MSG_LEN);
	ck_assert_int_eq(wire_statement_decode(b.p, b.len, &dh, &d), 0);
	ck_assert_int_eq(memcmp(&d.st, &m.st, sizeof(m.st)), 0);
	ck_assert_uint_eq(d.replica, 2);
	ck_assert_mem_eq(d.sig, m.sig, 64);
	/* the raw bytes are the signed statement */
	uint8_t raw[WIRE_UPD_STATEMENT_LEN];
	wire_upd_statement_encode(&m.st, raw);
	ck_assert_mem_eq(d.raw, raw, sizeof(raw));
	/* sent under another id */
	hdr(&h, 1);
	wire_buf_reset(&b);
	ck_assert_int_eq(wire_statement_encode(&b, &h, &m), 0);
	ck_assert_int_eq(wire_statement_decode(b.p, b.len, &dh, &d), WIRE_ERR_FIELD);
	/* the domain string altered */
	hdr(&h, 2);
	wire_buf_reset(&b);
	ck_assert_int_eq(wire_statement_encode(&b, &h, &m), 0);
	b.p[WIRE_HDR_LEN] ^= 1;
	ck_assert_int_eq(wire_statement_decode(b.p, b.len, &dh, &d), WIRE_ERR_FIELD);
	b.p[WIRE_HDR_LEN] ^= 1;
	for (size_t n = 0; n < b.len; n++)
		ck_assert_int_ne(wire_statement_decode(b.p, n, &dh, &d), 0);
	wire_buf_free(&b);
}
END_TEST

START_TEST(get_round_trip_and_refusals)
{
	uint8_t sha[32], got[32];
	struct wire_hdr h, dh;
	struct wire_buf b;

	memset(sha, 0x77, sizeof(sha));
	hdr(&h, 1);
	wire_buf_init(&b);
	ck_assert_int_eq(wire_chunk_get_encode(&b, &h, sha), 0);
	ck_assert_uint_eq(b.len, WIRE_CHUNK_GET_LEN);
	ck_assert_int_eq(wire_chunk_get_decode(b.p, b.len, &dh, got), 0);
	ck_assert_mem_eq(got, sha, 32);
	ck_assert_uint_eq(dh.type, WIRE_CHUNK_GET);
	ck_assert_int_eq(wire_chunk_get_decode(b.p, b.len - 1, &dh, got), WIRE_ERR_TRUNCATED);
	wire_put_u8(&b, 1);
	ck_assert_int_eq(wire_chunk_get_decode(b.p, b.len, &dh, got), WIRE_ERR_TRAILING);
	/* a version or flags the header decoder refuses */
	b.len--;
	b.p[0] = 9;
	ck_assert_int_ne(wire_chunk_get_decode(b.p, b.len, &dh, got), 0);
	wire_buf_free(&b);
}
END_TEST

static Suite *wire_chunk_suite(void)
{
	Suite *s = suite_create("wire_chunk");
	TCase *tc = tcase_create("chunk");

	tcase_add_test(tc, put_round_trip_and_refusals);
	tcase_add_test(tc, receipt_round_trip_and_status);
	tcase_add_test(tc, statement_round_trip_and_refusals);
	tcase_add_test(tc, get_round_trip_and_refusals);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(wire_chunk_suite)
