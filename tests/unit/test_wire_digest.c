/* test_wire_digest.c: the request, batch and null digests: pinned values (computed
 * independently from the preimages in docs/PROTOCOL.md), and that every digested
 * field changes the digest while the authenticator does not. */
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "tests/unit/unit.h"
#include "wire/wire.h"

#define GROUP 1u
#define EPOCH 2u

/* Pinned with Python's hashlib over the documented preimages: a change of format or
 * domain string must change these on purpose. */
static const char REQ_HEX[] = "3fe8411bef6d15d0bd3cddbdaf4a5aff0530ce17d8b55a409d1c7f229fde2569";
static const char REQ2_HEX[] = "df254aa9e9f59afba9c2e1eef80e6cac83b1d400c27e47d4b2b60216c12034e6";
static const char BATCH_HEX[] = "a8fe7a69ae01a773c24f36294a3b7287b64617568d2ebb1fc3776f216da417d2";
static const char NULL_HEX[] = "08465deb6612e509e46201bb7dd48e543a39f960a6636d1cd11624c0f0088903";

static void hex(const uint8_t d[WIRE_DIGEST_LEN], char out[2 * WIRE_DIGEST_LEN + 1])
{
	for (unsigned i = 0; i < WIRE_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static const uint8_t op_hello[] = { 'h', 'e', 'l', 'l', 'o' };
static const uint8_t auth16[16] = { 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
				    0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };

/* client 00..1f, lane 7, timestamp 0x0102030405060708, READ_ONLY, op "hello". */
static struct wire_request req1(void)
{
	struct wire_request r = { .lane = 7, .timestamp = 0x0102030405060708ull,
				  .flags = WIRE_REQ_READ_ONLY,
				  .op = { op_hello, sizeof(op_hello) }, .auth = { auth16, 16 } };
	for (unsigned i = 0; i < WIRE_KEY_LEN; i++)
		r.client[i] = (uint8_t)i;
	return r;
}

/* client ff..ff, lane 0, timestamp 9, no flags, empty op. */
static struct wire_request req2(void)
{
	struct wire_request r = { .timestamp = 9 };
	memset(r.client, 0xff, WIRE_KEY_LEN);
	return r;
}

static void check_hex(const uint8_t d[WIRE_DIGEST_LEN], const char *want)
{
	char got[2 * WIRE_DIGEST_LEN + 1];
	hex(d, got);
	ck_assert_str_eq(got, want);
}

START_TEST(test_request_pinned)
{
	struct wire_request r = req1();
	uint8_t d[WIRE_DIGEST_LEN];
	wire_request_digest(GROUP, EPOCH, &r, d);
	check_hex(d, REQ_HEX);
	r = req2();
	wire_request_digest(GROUP, EPOCH, &r, d);
	check_hex(d, REQ2_HEX);

	/* The same from the preimage assembled by hand with the one-shot hash. */
	struct wire_buf b;
	wire_buf_init(&b);
	r = req1();
	wire_put_fixed(&b, "bulwark/request/v1", 18);
	wire_put_u64(&b, GROUP);
	wire_put_u64(&b, EPOCH);
	wire_put_fixed(&b, r.client, WIRE_KEY_LEN);
	wire_put_u32(&b, r.lane);
	wire_put_u64(&b, r.timestamp);
	wire_put_u32(&b, r.flags);
	wire_put_bytes(&b, r.op.p, r.op.len);
	ck_assert_uint_eq(b.len, 18 + 8 + 8 + 32 + 4 + 8 + 4 + 4 + sizeof(op_hello));
	uint8_t want[WIRE_DIGEST_LEN];
	crypto_sha256(b.p, b.len, want);
	check_hex(want, REQ_HEX);
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_batch_pinned)
{
	struct wire_buf reqs;
	wire_buf_init(&reqs);
	struct wire_request r1 = req1(), r2 = req2();
	wire_put_request(&reqs, &r1);
	wire_put_request(&reqs, &r2);
	struct wire_batch b = { 1700000000000ull, 2, { reqs.p, (uint32_t)reqs.len } };
	uint8_t d[WIRE_DIGEST_LEN];
	wire_batch_digest(GROUP, EPOCH, &b, d);
	check_hex(d, BATCH_HEX);
	wire_buf_free(&reqs);
}
END_TEST

START_TEST(test_null_pinned)
{
	uint8_t d[WIRE_DIGEST_LEN], again[WIRE_DIGEST_LEN], other[WIRE_DIGEST_LEN];
	wire_null_digest(GROUP, EPOCH, d);
	check_hex(d, NULL_HEX);
	wire_null_digest(GROUP, EPOCH, again);
	ck_assert_mem_eq(d, again, WIRE_DIGEST_LEN);
	struct wire_batch empty = { 0, 0, { NULL, 0 } };
	wire_batch_digest(GROUP, EPOCH, &empty, again);
	ck_assert_mem_eq(d, again, WIRE_DIGEST_LEN);
	/* Bound to the group and the epoch. */
	wire_null_digest(GROUP + 1, EPOCH, other);
	ck_assert(memcmp(d, other, WIRE_DIGEST_LEN) != 0);
	wire_null_digest(GROUP, EPOCH + 1, other);
	ck_assert(memcmp(d, other, WIRE_DIGEST_LEN) != 0);
	/* An empty batch with a time is not the null request. */
	empty.time = 1;
	wire_batch_digest(GROUP, EPOCH, &empty, other);
	ck_assert(memcmp(d, other, WIRE_DIGEST_LEN) != 0);
}
END_TEST

/* A digest reply's result: SHA-256("bulwark/result/v1" || result), empty result too. */
START_TEST(test_result_digest)
{
	static const char dom[] = "bulwark/result/v1";
	uint8_t d[WIRE_DIGEST_LEN], want[WIRE_DIGEST_LEN], pre[sizeof(dom) - 1 + 40];
	uint8_t res[40];

	for (size_t i = 0; i < sizeof(res); i++)
		res[i] = (uint8_t)(3 * i + 1);
	memcpy(pre, dom, sizeof(dom) - 1);
	memcpy(pre + sizeof(dom) - 1, res, sizeof(res));
	wire_result_digest(res, sizeof(res), d);
	crypto_sha256(pre, sizeof(pre), want);
	ck_assert_mem_eq(d, want, WIRE_DIGEST_LEN);
	wire_result_digest(NULL, 0, d);
	crypto_sha256(pre, sizeof(dom) - 1, want);
	ck_assert_mem_eq(d, want, WIRE_DIGEST_LEN);
	res[39] ^= 1;
	wire_result_digest(res, sizeof(res), d);
	crypto_sha256(pre, sizeof(pre), want);
	ck_assert(memcmp(d, want, WIRE_DIGEST_LEN) != 0);
}
END_TEST

static int req_differs(uint64_t group, uint64_t epoch, const struct wire_request *r,
		       const uint8_t base[WIRE_DIGEST_LEN])
{
	uint8_t d[WIRE_DIGEST_LEN];
	wire_request_digest(group, epoch, r, d);
	return memcmp(d, base, WIRE_DIGEST_LEN) != 0;
}

START_TEST(test_request_every_field)
{
	struct wire_request r = req1(), m;
	uint8_t base[WIRE_DIGEST_LEN];
	wire_request_digest(GROUP, EPOCH, &r, base);

	ck_assert(req_differs(GROUP + 1, EPOCH, &r, base));
	ck_assert(req_differs(GROUP, EPOCH + 1, &r, base));
	ck_assert(req_differs((uint64_t)GROUP << 32, EPOCH, &r, base));
	for (unsigned i = 0; i < WIRE_KEY_LEN; i++) {
		m = r;
		m.client[i] ^= 0x01;
		ck_assert_msg(req_differs(GROUP, EPOCH, &m, base), "client byte %u", i);
	}
	for (unsigned bit = 0; bit < 32; bit++) {
		m = r;
		m.lane ^= 1u << bit;
		ck_assert_msg(req_differs(GROUP, EPOCH, &m, base), "lane bit %u", bit);
	}
	for (unsigned bit = 0; bit < 64; bit++) {
		m = r;
		m.timestamp ^= 1ull << bit;
		ck_assert_msg(req_differs(GROUP, EPOCH, &m, base), "timestamp bit %u", bit);
	}
	m = r;
	m.flags = 0;
	ck_assert(req_differs(GROUP, EPOCH, &m, base));
	uint8_t op[sizeof(op_hello) + 1];
	memcpy(op, op_hello, sizeof(op_hello));
	op[sizeof(op_hello)] = 0;
	for (unsigned i = 0; i < sizeof(op_hello); i++) {
		m = r;
		op[i] ^= 0x20;
		m.op.p = op;
		ck_assert_msg(req_differs(GROUP, EPOCH, &m, base), "op byte %u", i);
		op[i] ^= 0x20;
	}
	/* The length is digested: "hello" and "hello\0" differ, "hell" too. */
	m = r;
	m.op = (struct wire_bytes){ op, sizeof(op) };
	ck_assert(req_differs(GROUP, EPOCH, &m, base));
	m.op.len = sizeof(op_hello) - 1;
	ck_assert(req_differs(GROUP, EPOCH, &m, base));
	/* The authenticator is not digested: it is computed over the digest. */
	m = r;
	m.auth.len = 0;
	ck_assert(!req_differs(GROUP, EPOCH, &m, base));
	m.auth = (struct wire_bytes){ op_hello, sizeof(op_hello) };
	ck_assert(!req_differs(GROUP, EPOCH, &m, base));
}
END_TEST

static void batch_of(struct wire_buf *reqs, const struct wire_request *a, const struct wire_request *b,
		     uint64_t time, uint64_t group, uint64_t epoch, uint8_t out[WIRE_DIGEST_LEN])
{
	wire_buf_reset(reqs);
	wire_put_request(reqs, a);
	if (b != NULL)
		wire_put_request(reqs, b);
	struct wire_batch bt = { time, b != NULL ? 2u : 1u, { reqs->p, (uint32_t)reqs->len } };
	wire_batch_digest(group, epoch, &bt, out);
}

START_TEST(test_batch_every_field)
{
	struct wire_buf reqs;
	wire_buf_init(&reqs);
	struct wire_request r1 = req1(), r2 = req2();
	uint8_t base[WIRE_DIGEST_LEN], d[WIRE_DIGEST_LEN];
	batch_of(&reqs, &r1, &r2, 5, GROUP, EPOCH, base);

	batch_of(&reqs, &r1, &r2, 6, GROUP, EPOCH, d);
	ck_assert(memcmp(d, base, WIRE_DIGEST_LEN) != 0);
	batch_of(&reqs, &r1, &r2, 5, GROUP + 1, EPOCH, d);
	ck_assert(memcmp(d, base, WIRE_DIGEST_LEN) != 0);
	batch_of(&reqs, &r1, &r2, 5, GROUP, EPOCH + 1, d);
	ck_assert(memcmp(d, base, WIRE_DIGEST_LEN) != 0);
	batch_of(&reqs, &r2, &r1, 5, GROUP, EPOCH, d); /* order matters */
	ck_assert(memcmp(d, base, WIRE_DIGEST_LEN) != 0);
	batch_of(&reqs, &r1, NULL, 5, GROUP, EPOCH, d); /* count matters */
	ck_assert(memcmp(d, base, WIRE_DIGEST_LEN) != 0);
	struct wire_request m = r2;
	m.timestamp++;
	batch_of(&reqs, &r1, &m, 5, GROUP, EPOCH, d);
	ck_assert(memcmp(d, base, WIRE_DIGEST_LEN) != 0);
	m = r2;
	m.auth = (struct wire_bytes){ auth16, 16 }; /* not digested */
	batch_of(&reqs, &r1, &m, 5, GROUP, EPOCH, d);
	ck_assert_mem_eq(d, base, WIRE_DIGEST_LEN);

	/* The batch digest is over the request digests, as documented. */
	uint8_t d1[WIRE_DIGEST_LEN], d2[WIRE_DIGEST_LEN];
	wire_request_digest(GROUP, EPOCH, &r1, d1);
	wire_request_digest(GROUP, EPOCH, &r2, d2);
	struct wire_buf pre;
	wire_buf_init(&pre);
	wire_put_fixed(&pre, "bulwark/batch/v1", 16);
	wire_put_u64(&pre, GROUP);
	wire_put_u64(&pre, EPOCH);
	wire_put_u64(&pre, 5);
	wire_put_u32(&pre, 2);
	wire_put_fixed(&pre, d1, sizeof(d1));
	wire_put_fixed(&pre, d2, sizeof(d2));
	crypto_sha256(pre.p, pre.len, d);
	ck_assert_mem_eq(d, base, WIRE_DIGEST_LEN);
	wire_buf_free(&pre);
	wire_buf_free(&reqs);
}
END_TEST

/* The batch digest from known request digests equals the one computed from the batch. */
START_TEST(test_batch_digest_of)
{
	struct wire_buf reqs;
	wire_buf_init(&reqs);
	struct wire_request r1 = req1(), r2 = req2();
	uint8_t rd[2][WIRE_DIGEST_LEN], want[WIRE_DIGEST_LEN], got[WIRE_DIGEST_LEN];
	wire_put_request(&reqs, &r1);
	wire_put_request(&reqs, &r2);
	wire_request_digest(GROUP, EPOCH, &r1, rd[0]);
	wire_request_digest(GROUP, EPOCH, &r2, rd[1]);
	struct wire_batch b = { 1700000000000ull, 2, { reqs.p, (uint32_t)reqs.len } };
	wire_batch_digest(GROUP, EPOCH, &b, want);
	wire_batch_digest_of(GROUP, EPOCH, b.time, 2, (const uint8_t (*)[WIRE_DIGEST_LEN])rd, got);
	ck_assert_mem_eq(got, want, WIRE_DIGEST_LEN);
	check_hex(got, BATCH_HEX);
	/* Order, time and count are all bound. */
	uint8_t swapped[2][WIRE_DIGEST_LEN];
	memcpy(swapped[0], rd[1], WIRE_DIGEST_LEN);
	memcpy(swapped[1], rd[0], WIRE_DIGEST_LEN);
	wire_batch_digest_of(GROUP, EPOCH, b.time, 2, (const uint8_t (*)[WIRE_DIGEST_LEN])swapped, got);
	ck_assert(memcmp(got, want, WIRE_DIGEST_LEN) != 0);
	wire_batch_digest_of(GROUP, EPOCH, b.time + 1, 2, (const uint8_t (*)[WIRE_DIGEST_LEN])rd, got);
	ck_assert(memcmp(got, want, WIRE_DIGEST_LEN) != 0);
	wire_batch_digest_of(GROUP, EPOCH, b.time, 1, (const uint8_t (*)[WIRE_DIGEST_LEN])rd, got);
	ck_assert(memcmp(got, want, WIRE_DIGEST_LEN) != 0);
	/* No requests at time 0: the null digest. */
	wire_null_digest(GROUP, EPOCH, want);
	wire_batch_digest_of(GROUP, EPOCH, 0, 0, NULL, got);
	ck_assert_mem_eq(got, want, WIRE_DIGEST_LEN);
	wire_buf_free(&reqs);
}
END_TEST

/* wire_decode_digests keeps a PRE-PREPARE's request digests, and only when they are
 * right and fit. */
START_TEST(test_decode_digests)
{
	struct wire_buf reqs, msg;
	wire_buf_init(&reqs);
	wire_buf_init(&msg);
	struct wire_request r1 = req1(), r2 = req2();
	wire_put_request(&reqs, &r1);
	wire_put_request(&reqs, &r2);
	struct wire_msg m;
	memset(&m, 0, sizeof(m));
	m.hdr.type = WIRE_PREPREPARE;
	m.hdr.group = GROUP;
	m.hdr.epoch = EPOCH;
	m.u.preprepare.view = 1;
	m.u.preprepare.seq = 3;
	m.u.preprepare.batch = (struct wire_batch){ 42, 2, { reqs.p, (uint32_t)reqs.len } };
	wire_batch_digest(GROUP, EPOCH, &m.u.preprepare.batch, m.u.preprepare.digest);
	ck_assert_int_eq(wire_encode(&msg, &m), 0);

	uint8_t d[4][WIRE_DIGEST_LEN], want[WIRE_DIGEST_LEN];
	uint32_t n = 99;
	struct wire_msg out;
	ck_assert_int_eq(wire_decode_digests(msg.p, msg.len, NULL, &out, d, 4, &n), 0);
	ck_assert_uint_eq(n, 2);
	wire_request_digest(GROUP, EPOCH, &r1, want);
	ck_assert_mem_eq(d[0], want, WIRE_DIGEST_LEN);
	wire_request_digest(GROUP, EPOCH, &r2, want);
	ck_assert_mem_eq(d[1], want, WIRE_DIGEST_LEN);
	/* No room for the batch: decoded all the same, no digests. */
	n = 99;
	ck_assert_int_eq(wire_decode_digests(msg.p, msg.len, NULL, &out, d, 1, &n), 0);
	ck_assert_uint_eq(n, 0);
	n = 99;
	ck_assert_int_eq(wire_decode_digests(msg.p, msg.len, NULL, &out, NULL, 4, &n), 0);
	ck_assert_uint_eq(n, 0);
	/* A batch whose digest does not match: an error, and nothing kept. */
	msg.p[WIRE_HDR_LEN + 16] ^= 1;
	n = 99;
	ck_assert_int_eq(wire_decode_digests(msg.p, msg.len, NULL, &out, d, 4, &n), WIRE_ERR_FIELD);
	ck_assert_uint_eq(n, 0);
	msg.p[WIRE_HDR_LEN + 16] ^= 1;
	/* Trailing bytes after a good batch: an error, and nothing kept. */
	wire_put_u8(&msg, 0);
	n = 99;
	ck_assert_int_eq(wire_decode_digests(msg.p, msg.len, NULL, &out, d, 4, &n), WIRE_ERR_TRAILING);
	ck_assert_uint_eq(n, 0);
	/* Other types keep none. */
	wire_buf_reset(&msg);
	struct wire_msg st;
	memset(&st, 0, sizeof(st));
	st.hdr.type = WIRE_STATUS;
	ck_assert_int_eq(wire_encode(&msg, &st), 0);
	n = 99;
	ck_assert_int_eq(wire_decode_digests(msg.p, msg.len, NULL, &out, d, 4, &n), 0);
	ck_assert_uint_eq(n, 0);
	wire_buf_free(&reqs);
	wire_buf_free(&msg);
}
END_TEST

static Suite *wire_digest_suite(void)
{
	Suite *s = suite_create("wire_digest");
	TCase *tc = tcase_create("digest");
	tcase_add_test(tc, test_request_pinned);
	tcase_add_test(tc, test_batch_pinned);
	tcase_add_test(tc, test_null_pinned);
	tcase_add_test(tc, test_request_every_field);
	tcase_add_test(tc, test_batch_every_field);
	tcase_add_test(tc, test_batch_digest_of);
	tcase_add_test(tc, test_decode_digests);
	tcase_add_test(tc, test_result_digest);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(wire_digest_suite)
