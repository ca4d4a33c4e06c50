/* test_wire_strict.c: wire_decode refuses everything that is not exactly a valid message,
 * with the precise error: truncations, trailing bytes, reserved bits, versions, types,
 * every limit (at it succeeds, one over fails), digest mismatches, bad nested messages,
 * huge counts, zero sequence numbers; and wire_encode's own refusals. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_wire_gen.h"
#include "tests/unit/unit.h"
#include "wire/wire.h"

#define GROUP 0x0102030405060708ull
#define EPOCH 9u

/* Limits that refuse nothing: each test then lowers the one limit it is about. */
static const struct wire_limits open_lim = {
	UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
	UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
	UINT32_MAX,
};

/* Decode from an exact-size heap copy, so that ASan sees any read past the end. */
static int dec(const uint8_t *p, size_t len, const struct wire_limits *lim)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	ck_assert_ptr_nonnull(copy);
	if (len > 0)
		memcpy(copy, p, len);
	struct wire_msg m;
	int err = wire_decode(copy, len, lim, &m);
	free(copy);
	return err;
}

static int dec_buf(const struct wire_buf *b, const struct wire_limits *lim)
{
	return dec(b->p, b->len, lim);
}

/* A valid sample of each type, every list and string non-empty, within g_tiny. */
static void sample(struct gen *g, uint8_t type, uint64_t seed, struct wire_buf *out)
{
	struct wire_msg m;
	gen_init(g, seed, &g_tiny, 1);
	gen_msg(g, type, &m);
	wire_buf_reset(out);
	ck_assert_int_eq(wire_encode(out, &m), 0);
}

/* ---------------------------------------------------------------- builders */
static struct wire_hdr hdr(uint8_t type)
{
	struct wire_hdr h = { WIRE_VERSION, type, 0, 1, GROUP, EPOCH };
	return h;
}

static struct wire_bytes bview(const struct wire_buf *b)
{
	struct wire_bytes v = { b->p, (uint32_t)b->len };
	return v;
}

static struct wire_bytes zeros(uint32_t n)
{
	static const uint8_t z[4096];
	ck_assert_uint_le(n, sizeof(z));
	struct wire_bytes v = { z, n };
	return v;
}

static void put_msg(struct wire_buf *out, const struct wire_msg *m)
{
	wire_buf_reset(out);
	ck_assert_int_eq(wire_encode(out, m), 0);
}

static void b_request(struct wire_buf *out, uint32_t oplen, uint32_t authlen, uint32_t unused)
{
	struct wire_msg m = { .hdr = hdr(WIRE_REQUEST) };
	m.u.request.timestamp = 1;
	m.u.request.op = zeros(oplen);
	m.u.request.auth = zeros(authlen);
	put_msg(out, &m);
}

static void b_reply(struct wire_buf *out, uint32_t result, uint32_t extra, uint32_t unused)
{
	struct wire_msg m = { .hdr = hdr(WIRE_REPLY) };
	m.u.reply.result = zeros(result);
	m.u.reply.extra = zeros(extra);
	put_msg(out, &m);
}

/* A batch of count requests with oplen-byte operations. */
static void make_batch(struct wire_buf *reqs, uint32_t count, uint32_t oplen, struct wire_batch *b)
{
	wire_buf_reset(reqs);
	for (uint32_t i = 0; i < count; i++) {
		struct wire_request r = { .timestamp = i + 1, .op = zeros(oplen) };
		wire_put_request(reqs, &r);
	}
	ck_assert_int_eq(wire_buf_error(reqs), 0);
	b->time = 1000;
	b->count = count;
	b->reqs = bview(reqs);
}

static void b_preprepare(struct wire_buf *out, uint32_t count, uint32_t oplen, uint32_t unused)
{
	struct wire_buf reqs;
	wire_buf_init(&reqs);
	struct wire_msg m = { .hdr = hdr(WIRE_PREPREPARE) };
	m.u.preprepare.view = 1;
	m.u.preprepare.seq = 1;
	make_batch(&reqs, count, oplen, &m.u.preprepare.batch);
	wire_batch_digest(GROUP, EPOCH, &m.u.preprepare.batch, m.u.preprepare.digest);
	put_msg(out, &m);
	wire_buf_free(&reqs);
}

/* VIEW-CHANGE with nproof proofs, np P items (batches of batch_count requests) and
 * nq Q items. */
static void vc_msg(struct wire_buf *out, uint32_t nproof, uint32_t np, uint32_t nq,
		   uint32_t batch_count)
{
	struct wire_buf proof, p, q, reqs;
	wire_buf_init(&proof);
	wire_buf_init(&p);
	wire_buf_init(&q);
	wire_buf_init(&reqs);
	struct wire_msg m = { .hdr = hdr(WIRE_VIEWCHANGE) };
	m.u.viewchange.new_view = 2;
	for (uint32_t i = 0; i < nproof; i++) {
		struct wire_proof_item it = { .replica = i };
		wire_put_proof(&proof, &it);
	}
	for (uint32_t i = 0; i < np; i++) {
		struct wire_pitem it = { .seq = i + 1, .view = 1 };
		make_batch(&reqs, batch_count, 1, &it.batch);
		wire_batch_digest(GROUP, EPOCH, &it.batch, it.digest);
		wire_put_pitem(&p, &it);
	}
	for (uint32_t i = 0; i < nq; i++) {
		struct wire_qitem it = { .seq = i + 1, .view = 1 };
		wire_put_qitem(&q, &it);
	}
	m.u.viewchange.proof = (struct wire_list){ nproof, bview(&proof) };
	m.u.viewchange.p = (struct wire_list){ np, bview(&p) };
	m.u.viewchange.q = (struct wire_list){ nq, bview(&q) };
	put_msg(out, &m);
	wire_buf_free(&proof);
	wire_buf_free(&p);
	wire_buf_free(&q);
	wire_buf_free(&reqs);
}

static void b_vc_proof(struct wire_buf *out, uint32_t n, uint32_t a, uint32_t b)
{
	vc_msg(out, n, 0, 0, 0);
}

static void b_vc_p(struct wire_buf *out, uint32_t n, uint32_t batch_count, uint32_t b)
{
	vc_msg(out, 0, n, 0, batch_count);
}

static void b_vc_q(struct wire_buf *out, uint32_t n, uint32_t a, uint32_t b)
{
	vc_msg(out, 0, 0, n, 0);
}

/* NEW-VIEW with nvcs VIEW-CHANGEs (each with one P item of batch_count requests) and
 * nitems items. */
static void b_newview(struct wire_buf *out, uint32_t nvcs, uint32_t nitems, uint32_t batch_count)
{
	struct wire_buf one, vcs, items;
	wire_buf_init(&one);
	wire_buf_init(&vcs);
	wire_buf_init(&items);
	vc_msg(&one, 1, 1, 1, batch_count);
	for (uint32_t i = 0; i < nvcs; i++)
		wire_put_vc(&vcs, one.p, one.len);
	for (uint32_t i = 0; i < nitems; i++) {
		struct wire_nvitem it = { .seq = i + 1 };
		wire_put_nvitem(&items, &it);
	}
	struct wire_msg m = { .hdr = hdr(WIRE_NEWVIEW) };
	m.u.newview.view = 2;
	m.u.newview.vcs = (struct wire_list){ nvcs, bview(&vcs) };
	m.u.newview.items = (struct wire_list){ nitems, bview(&items) };
	put_msg(out, &m);
	wire_buf_free(&one);
	wire_buf_free(&vcs);
	wire_buf_free(&items);
}

static void b_fetch(struct wire_buf *out, uint32_t keylen, uint32_t a, uint32_t b)
{
	struct wire_msg m = { .hdr = hdr(WIRE_FETCH) };
	m.u.fetch.start_key = zeros(keylen);
	put_msg(out, &m);
}

static void b_meta(struct wire_buf *out, uint32_t n, uint32_t a, uint32_t b)
{
	struct wire_buf kids;
	wire_buf_init(&kids);
	for (uint32_t i = 0; i < n; i++)
		wire_put_child(&kids, zeros(WIRE_DIGEST_LEN).p);
	struct wire_msg m = { .hdr = hdr(WIRE_META) };
	m.u.meta.children = (struct wire_list){ n, bview(&kids) };
	put_msg(out, &m);
	wire_buf_free(&kids);
}

static void b_data(struct wire_buf *out, uint32_t n, uint32_t keylen, uint32_t vallen)
{
	struct wire_buf ents;
	wire_buf_init(&ents);
	for (uint32_t i = 0; i < n; i++) {
		struct wire_data_item it = { zeros(keylen), zeros(vallen) };
		wire_put_data(&ents, &it);
	}
	struct wire_msg m = { .hdr = hdr(WIRE_DATA) };
	m.u.data.entries = (struct wire_list){ n, bview(&ents) };
	put_msg(out, &m);
	wire_buf_free(&ents);
}

/* ---------------------------------------------------------------- truncation, trailing */
START_TEST(test_every_truncation)
{
	uint8_t type = g_types[_i];
	struct gen g;
	struct wire_buf b;
	wire_buf_init(&b);
	for (uint64_t seed = 1; seed <= 3; seed++) {
		sample(&g, type, seed * 77 + _i, &b);
		ck_assert_int_eq(dec_buf(&b, &g_tiny), 0);
		for (size_t n = 0; n < b.len; n++) {
			int err = dec(b.p, n, &g_tiny);
			ck_assert_msg(err == WIRE_ERR_TRUNCATED, "%s cut to %zu of %zu: %s",
				      wire_type_name(type), n, b.len, wire_strerror(err));
		}
		gen_free(&g);
	}
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_trailing_byte)
{
	uint8_t type = g_types[_i];
	struct gen g;
	struct wire_buf b;
	wire_buf_init(&b);
	sample(&g, type, 5, &b);
	for (unsigned v = 0; v < 256; v += 85) {
		wire_put_u8(&b, (uint8_t)v);
		ck_assert_int_eq(dec_buf(&b, &g_tiny), WIRE_ERR_TRAILING);
		b.len--;
	}
	ck_assert_int_eq(dec_buf(&b, &g_tiny), 0);
	gen_free(&g);
	wire_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- header */
START_TEST(test_header_flags)
{
	uint8_t type = g_types[_i];
	struct gen g;
	struct wire_buf b;
	wire_buf_init(&b);
	sample(&g, type, 6, &b);
	for (int bit = 0; bit < 16; bit++) {
		uint16_t f = (uint16_t)(1u << bit);
		b.p[2] = (uint8_t)f;
		b.p[3] = (uint8_t)(f >> 8);
		ck_assert_int_eq(dec_buf(&b, &g_tiny), WIRE_ERR_FLAGS);
		struct wire_hdr h;
		struct wire_bytes body;
		ck_assert_int_eq(wire_decode_hdr(b.p, b.len, &h, &body), WIRE_ERR_FLAGS);
	}
	gen_free(&g);
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_version)
{
	struct wire_buf b;
	wire_buf_init(&b);
	b_request(&b, 3, 0, 0);
	static const uint8_t bad[] = { 0, 2, 3, 0x81, 255 };
	for (size_t i = 0; i < sizeof(bad); i++) {
		b.p[0] = bad[i];
		ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_VERSION);
		struct wire_hdr h;
		struct wire_bytes body;
		ck_assert_int_eq(wire_decode_hdr(b.p, b.len, &h, &body), WIRE_ERR_VERSION);
	}
	b.p[0] = WIRE_VERSION;
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_unknown_type)
{
	struct wire_buf b;
	wire_buf_init(&b);
	b_request(&b, 3, 0, 0);
	static const uint8_t bad[] = { 0, 13, 30, 31, 32, 63, 64, 127, 128, 191, 255 };
	for (size_t i = 0; i < sizeof(bad); i++) {
		b.p[1] = bad[i];
		ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TYPE);
		/* The header alone is accepted: other modules decode their own bodies. */
		struct wire_hdr h;
		struct wire_bytes body;
		ck_assert_int_eq(wire_decode_hdr(b.p, b.len, &h, &body), 0);
		ck_assert_uint_eq(h.type, bad[i]);
		ck_assert_uint_eq(h.group, GROUP);
		ck_assert_uint_eq(h.epoch, EPOCH);
		ck_assert_uint_eq(h.sender, 1);
		ck_assert_ptr_eq(body.p, b.p + WIRE_HDR_LEN);
		ck_assert_uint_eq(body.len, b.len - WIRE_HDR_LEN);
		ck_assert_str_eq(wire_type_name(bad[i]), "UNKNOWN");
	}
	struct wire_hdr h;
	struct wire_bytes body;
	ck_assert_int_eq(wire_decode_hdr(b.p, WIRE_HDR_LEN - 1, &h, &body), WIRE_ERR_TRUNCATED);
	ck_assert_int_eq(wire_decode_hdr(b.p, WIRE_HDR_LEN, &h, &body), 0);
	ck_assert_uint_eq(body.len, 0);
	wire_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- body flags */
/* Every bit of a 32-bit flags field at off other than allowed gives WIRE_ERR_FLAGS. */
static void check_flag_bits(struct wire_buf *b, size_t off, uint32_t allowed, const char *what)
{
	uint8_t save[4];
	memcpy(save, b->p + off, 4);
	for (int bit = 0; bit < 32; bit++) {
		uint32_t f = 1u << bit;
		b->p[off] = (uint8_t)f;
		b->p[off + 1] = (uint8_t)(f >> 8);
		b->p[off + 2] = (uint8_t)(f >> 16);
		b->p[off + 3] = (uint8_t)(f >> 24);
		int err = dec_buf(b, NULL);
		if (f & allowed)
			ck_assert_msg(err != WIRE_ERR_FLAGS, "%s bit %d refused", what, bit);
		else
			ck_assert_msg(err == WIRE_ERR_FLAGS, "%s bit %d: %s", what, bit, wire_strerror(err));
	}
	memcpy(b->p + off, save, 4);
	ck_assert_int_eq(dec_buf(b, NULL), 0);
}

START_TEST(test_body_flags)
{
	struct wire_buf b;
	wire_buf_init(&b);
	b_request(&b, 5, 16, 0);
	check_flag_bits(&b, WIRE_HDR_LEN + WIRE_KEY_LEN + 4 + 8, WIRE_REQ_READ_ONLY, "request");
	b_reply(&b, 5, 5, 0);
	check_flag_bits(&b, WIRE_HDR_LEN + 8 + 8 + WIRE_KEY_LEN + 4, WIRE_REPLY_READ_ONLY, "reply");
	struct wire_msg st = { .hdr = hdr(WIRE_STATUS) };
	put_msg(&b, &st);
	check_flag_bits(&b, WIRE_HDR_LEN + 4 * 8, WIRE_STATUS_VIEW_CHANGE, "status");
	b_data(&b, 1, 1, 1);
	check_flag_bits(&b, WIRE_HDR_LEN + 8 + 8, WIRE_DATA_MORE, "data");
	/* A request inside a pre-prepare's batch: the flags are refused before the digest
	 * (which the flipped bit also breaks) is compared; READ_ONLY only breaks the digest. */
	b_preprepare(&b, 1, 4, 0);
	size_t off = WIRE_HDR_LEN + 8 + 8 + WIRE_DIGEST_LEN + 8 + 4 + 4 + WIRE_KEY_LEN + 4 + 8;
	for (int bit = 1; bit < 32; bit++) {
		b.p[off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FLAGS);
		b.p[off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	b.p[off] ^= WIRE_REQ_READ_ONLY;
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	b.p[off] ^= WIRE_REQ_READ_ONLY;
	ck_assert_int_eq(dec_buf(&b, NULL), 0);

	/* Digest replies: a read-only request may ask for them and name its replier (any
	 * byte: the replica compares it with its id); a digest reply answers a read-only
	 * request with exactly a digest. */
	struct wire_msg m = { .hdr = hdr(WIRE_REQUEST) };
	struct wire_msg got;
	m.u.request.timestamp = 1;
	m.u.request.flags = WIRE_REQ_READ_ONLY | WIRE_REQ_DIGEST_REPLIES | (200u << WIRE_REQ_REPLIER_SHIFT);
	put_msg(&b, &m);
	ck_assert_int_eq(wire_decode(b.p, b.len, &wire_limits_default, &got), 0);
	ck_assert_uint_eq(WIRE_REQ_REPLIER(got.u.request.flags), 200);
	m.u.request.flags = WIRE_REQ_DIGEST_REPLIES | (1u << WIRE_REQ_REPLIER_SHIFT);
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_FLAGS); /* not read-only */
	m.u.request.flags = WIRE_REQ_READ_ONLY | (1u << WIRE_REQ_REPLIER_SHIFT);
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_FLAGS); /* a replier without digests */
	uint8_t dg[WIRE_DIGEST_LEN] = { 7 };
	m = (struct wire_msg){ .hdr = hdr(WIRE_REPLY) };
	m.u.reply.flags = WIRE_REPLY_READ_ONLY | WIRE_REPLY_DIGEST;
	m.u.reply.result = (struct wire_bytes){ dg, WIRE_DIGEST_LEN };
	put_msg(&b, &m);
	ck_assert_int_eq(wire_decode(b.p, b.len, &wire_limits_default, &got), 0);
	ck_assert_uint_eq(got.u.reply.result.len, WIRE_DIGEST_LEN);
	/* The result length field follows the flags: 31 bytes and the frame shortened. */
	size_t rlen_off = WIRE_HDR_LEN + 8 + 8 + WIRE_KEY_LEN + 4 + 4;
	b.p[rlen_off] = WIRE_DIGEST_LEN - 1;
	memmove(b.p + rlen_off + 4 + WIRE_DIGEST_LEN - 1, b.p + rlen_off + 4 + WIRE_DIGEST_LEN,
		b.len - (rlen_off + 4 + WIRE_DIGEST_LEN));
	b.len--;
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	m.u.reply.result.len = 5;
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_FLAGS);
	m.u.reply.flags = WIRE_REPLY_DIGEST;
	m.u.reply.result.len = WIRE_DIGEST_LEN;
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_FLAGS); /* not read-only */
	wire_buf_free(&b);
}
END_TEST

/* A lane at or above max_lanes is refused (WIRE_ERR_FIELD) in a REQUEST, a REPLY and a
 * request inside a batch; the last lane below it is accepted. */
static void set_lane(struct wire_buf *b, size_t off, uint32_t lane)
{
	b->p[off] = (uint8_t)lane;
	b->p[off + 1] = (uint8_t)(lane >> 8);
	b->p[off + 2] = (uint8_t)(lane >> 16);
	b->p[off + 3] = (uint8_t)(lane >> 24);
}

START_TEST(test_lane_limit)
{
	struct wire_limits lim = open_lim;
	struct wire_buf b;
	wire_buf_init(&b);
	lim.max_lanes = 3;
	b_request(&b, 5, 16, 0);
	set_lane(&b, WIRE_HDR_LEN + WIRE_KEY_LEN, 2);
	ck_assert_int_eq(dec_buf(&b, &lim), 0);
	set_lane(&b, WIRE_HDR_LEN + WIRE_KEY_LEN, 3);
	ck_assert_int_eq(dec_buf(&b, &lim), WIRE_ERR_FIELD);
	set_lane(&b, WIRE_HDR_LEN + WIRE_KEY_LEN, UINT32_MAX);
	ck_assert_int_eq(dec_buf(&b, &lim), WIRE_ERR_FIELD);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD); /* default: WIRE_MAX_LANES */
	set_lane(&b, WIRE_HDR_LEN + WIRE_KEY_LEN, WIRE_MAX_LANES - 1);
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	b_reply(&b, 5, 5, 0);
	set_lane(&b, WIRE_HDR_LEN + 8 + 8 + WIRE_KEY_LEN, 2);
	ck_assert_int_eq(dec_buf(&b, &lim), 0);
	set_lane(&b, WIRE_HDR_LEN + 8 + 8 + WIRE_KEY_LEN, 3);
	ck_assert_int_eq(dec_buf(&b, &lim), WIRE_ERR_FIELD);
	/* In a batch the lane is checked before the digest (which it also breaks). */
	b_preprepare(&b, 1, 4, 0);
	size_t off = WIRE_HDR_LEN + 8 + 8 + WIRE_DIGEST_LEN + 8 + 4 + 4 + WIRE_KEY_LEN;
	set_lane(&b, off, 3);
	ck_assert_int_eq(dec_buf(&b, &lim), WIRE_ERR_FIELD);
	set_lane(&b, off, 0);
	ck_assert_int_eq(dec_buf(&b, &lim), 0);
	wire_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- limits */
struct limit_case {
	const char *name;
	size_t field; /* offsetof(struct wire_limits, ...) */
	void (*build)(struct wire_buf *, uint32_t, uint32_t, uint32_t);
	uint32_t a, b, c;
	uint32_t at; /* the value of the limited quantity in the built message */
};

#define LIM(f) offsetof(struct wire_limits, f)
#define REQ_ENC(op) (4u + WIRE_KEY_LEN + 4u + 8u + 4u + 4u + (op) + 4u) /* no auth */
static const struct limit_case limit_cases[] = {
	{ "request op", LIM(max_op), b_request, 100, 0, 0, 100 },
	{ "request auth", LIM(max_auth), b_request, 0, 64, 0, 64 },
	{ "reply result", LIM(max_result), b_reply, 50, 10, 0, 50 },
	{ "reply extra", LIM(max_result), b_reply, 10, 50, 0, 50 },
	{ "batch count", LIM(max_batch_count), b_preprepare, 5, 1, 0, 5 },
	{ "batch bytes", LIM(max_batch_bytes), b_preprepare, 3, 10, 0, 3 * REQ_ENC(10) },
	{ "batch op", LIM(max_op), b_preprepare, 2, 33, 0, 33 },
	{ "proof count", LIM(max_replicas), b_vc_proof, 4, 0, 0, 4 },
	{ "P count", LIM(max_log), b_vc_p, 3, 1, 0, 3 },
	{ "P batch count", LIM(max_batch_count), b_vc_p, 1, 4, 0, 4 },
	{ "Q count", LIM(max_log), b_vc_q, 4, 0, 0, 4 },
	{ "vcs count", LIM(max_replicas), b_newview, 3, 0, 0, 3 },
	{ "nv items", LIM(max_log), b_newview, 0, 5, 0, 5 },
	{ "nested batch count", LIM(max_batch_count), b_newview, 2, 0, 3, 3 },
	{ "fetch key", LIM(max_key), b_fetch, 20, 0, 0, 20 },
	{ "meta children", LIM(max_children), b_meta, 7, 0, 0, 7 },
	{ "data entries", LIM(max_entries), b_data, 6, 1, 1, 6 },
	{ "data key", LIM(max_key), b_data, 2, 20, 1, 20 },
	{ "data value", LIM(max_value), b_data, 2, 1, 30, 30 },
};
#define N_LIMIT_CASES (int)(sizeof(limit_cases) / sizeof(limit_cases[0]))

START_TEST(test_limit_exact)
{
	const struct limit_case *lc = &limit_cases[_i];
	struct wire_buf b;
	wire_buf_init(&b);
	lc->build(&b, lc->a, lc->b, lc->c);
	struct wire_limits lim = open_lim;
	uint32_t *field = (uint32_t *)((char *)&lim + lc->field);
	*field = lc->at;
	ck_assert_msg(dec_buf(&b, &lim) == 0, "%s: at the limit refused", lc->name);
	*field = lc->at - 1;
	int err = dec_buf(&b, &lim);
	ck_assert_msg(err == WIRE_ERR_TOO_BIG, "%s: one over the limit gives %s", lc->name,
		      wire_strerror(err));
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_limit_message)
{
	struct wire_buf b;
	wire_buf_init(&b);
	b_request(&b, 10, 0, 0);
	struct wire_limits lim = open_lim;
	lim.max_message = (uint32_t)b.len;
	ck_assert_int_eq(dec_buf(&b, &lim), 0);
	lim.max_message--;
	ck_assert_int_eq(dec_buf(&b, &lim), WIRE_ERR_TOO_BIG);
	/* The whole length is checked first: even a cut header is TOO_BIG when too long. */
	lim.max_message = 3;
	ck_assert_int_eq(dec(b.p, 4, &lim), WIRE_ERR_TOO_BIG);
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_limit_defaults)
{
	const struct wire_limits *d = &wire_limits_default;
	ck_assert_uint_eq(d->max_message, 128u << 20);
	ck_assert_uint_eq(d->max_op, (1u << 20) + 4096);
	ck_assert_uint_eq(d->max_result, (1u << 20) + 4096);
	ck_assert_uint_eq(d->max_key, 4096);
	ck_assert_uint_eq(d->max_value, (1u << 20) + 4096);
	ck_assert_uint_eq(d->max_auth, 64u * WIRE_TAG_LEN);
	ck_assert_uint_eq(d->max_batch_count, 4096);
	ck_assert_uint_eq(d->max_replicas, 64);
	ck_assert_uint_eq(d->max_log, 1024);
	ck_assert_uint_eq(d->max_children, 256);
	ck_assert_uint_eq(d->max_entries, 65536);

	struct wire_buf b;
	wire_buf_init(&b);
	static uint8_t big[(1u << 20) + 4096 + 1];
	struct wire_msg m = { .hdr = hdr(WIRE_REQUEST) };
	m.u.request.op = (struct wire_bytes){ big, (1u << 20) + 4096 };
	put_msg(&b, &m);
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	m.u.request.op.len++;
	put_msg(&b, &m);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TOO_BIG);

	b_preprepare(&b, 4096, 0, 0);
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	b_preprepare(&b, 4097, 0, 0);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TOO_BIG);

	/* A whole message over 128 MiB is refused before a byte of it is read. */
	size_t n = (size_t)(128u << 20) + 1;
	uint8_t *huge = calloc(1, n);
	ck_assert_ptr_nonnull(huge);
	struct wire_msg out;
	ck_assert_int_eq(wire_decode(huge, n, NULL, &out), WIRE_ERR_TOO_BIG);
	free(huge);
	wire_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- digests and seqs */
START_TEST(test_digest_mismatch)
{
	struct wire_buf b;
	wire_buf_init(&b);
	b_preprepare(&b, 2, 8, 0);
	size_t dig = WIRE_HDR_LEN + 16;
	for (size_t i = 0; i < WIRE_DIGEST_LEN; i++) {
		b.p[dig + i] ^= 0x01;
		ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
		b.p[dig + i] ^= 0x01;
	}
	/* Any change to a request's digested fields breaks the batch digest; auth does not. */
	size_t req = dig + WIRE_DIGEST_LEN + 12 + 4; /* first request body */
	size_t digested[] = { req, req + WIRE_KEY_LEN - 1, req + WIRE_KEY_LEN /* lane */,
			      req + WIRE_KEY_LEN + 4 /* timestamp */,
			      req + WIRE_KEY_LEN + 4 + 8 + 4 + 4 /* op */ };
	for (size_t i = 0; i < sizeof(digested) / sizeof(digested[0]); i++) {
		b.p[digested[i]] ^= 0x80;
		ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
		b.p[digested[i]] ^= 0x80;
	}
	b.p[dig + WIRE_DIGEST_LEN] ^= 1; /* the batch time */
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	b.p[dig + WIRE_DIGEST_LEN] ^= 1;
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	/* Same group and epoch bytes in another header: the digest no longer matches. */
	b.p[8] ^= 1;
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	b.p[8] ^= 1;
	b.p[16] ^= 1;
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	b.p[16] ^= 1;

	/* A P item's digest. */
	vc_msg(&b, 0, 2, 0, 1);
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	size_t p0 = WIRE_HDR_LEN + 8 + 8 + WIRE_DIGEST_LEN + 4 + 4; /* first P item */
	b.p[p0 + 16 + 5] ^= 0x10;
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	b.p[p0 + 16 + 5] ^= 0x10;

	/* ... and inside a NEW-VIEW's nested VIEW-CHANGE. */
	b_newview(&b, 1, 0, 1);
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	size_t nested = WIRE_HDR_LEN + 8 + 4 + 4;
	size_t np0 = nested + WIRE_HDR_LEN + 8 + 8 + WIRE_DIGEST_LEN + 4 + (4 + WIRE_SIG_LEN) + 4;
	b.p[np0 + 16] ^= 0x01;
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	b.p[np0 + 16] ^= 0x01;
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	wire_buf_free(&b);
}
END_TEST

static void zero_u64(struct wire_buf *b, size_t off)
{
	memset(b->p + off, 0, 8);
}

START_TEST(test_seq_zero)
{
	struct wire_buf b;
	wire_buf_init(&b);
	b_preprepare(&b, 1, 1, 0);
	zero_u64(&b, WIRE_HDR_LEN + 8);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);

	uint8_t types[] = { WIRE_PREPARE, WIRE_COMMIT };
	for (int i = 0; i < 2; i++) {
		struct wire_msg m = { .hdr = hdr(types[i]) };
		m.u.prepare.seq = 1;
		put_msg(&b, &m);
		ck_assert_int_eq(dec_buf(&b, NULL), 0);
		zero_u64(&b, WIRE_HDR_LEN + 8);
		ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	}

	size_t lists = WIRE_HDR_LEN + 8 + 8 + WIRE_DIGEST_LEN;
	vc_msg(&b, 0, 1, 0, 0);
	zero_u64(&b, lists + 4 + 4);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	vc_msg(&b, 0, 0, 2, 0);
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	zero_u64(&b, lists + 4 + 4 + 4 + 48);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);

	b_newview(&b, 0, 3, 0);
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	zero_u64(&b, WIRE_HDR_LEN + 8 + 4 + 8 + WIRE_DIGEST_LEN + 4 + 2 * 40);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);

	/* A checkpoint may name seq 0 (the initial state). */
	struct wire_msg ck = { .hdr = hdr(WIRE_CHECKPOINT) };
	put_msg(&b, &ck);
	ck_assert_int_eq(dec_buf(&b, NULL), 0);
	wire_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- nesting */
/* A NEW-VIEW whose single nested message is the given bytes. */
static void nv_with(struct wire_buf *out, const uint8_t *nested, size_t len)
{
	struct wire_buf vcs;
	wire_buf_init(&vcs);
	wire_put_vc(&vcs, nested, len);
	struct wire_msg m = { .hdr = hdr(WIRE_NEWVIEW) };
	m.u.newview.vcs = (struct wire_list){ 1, bview(&vcs) };
	put_msg(out, &m);
	wire_buf_free(&vcs);
}

START_TEST(test_newview_nested)
{
	struct wire_buf b, inner;
	wire_buf_init(&b);
	wire_buf_init(&inner);

	vc_msg(&inner, 1, 1, 1, 2);
	nv_with(&b, inner.p, inner.len);
	ck_assert_int_eq(dec_buf(&b, NULL), 0);

	/* Not a VIEW-CHANGE: a PREPARE, a NEW-VIEW, an unknown type. */
	struct wire_msg pr = { .hdr = hdr(WIRE_PREPARE) };
	pr.u.prepare.seq = 1;
	put_msg(&inner, &pr);
	ck_assert_int_eq(dec_buf(&inner, NULL), 0);
	nv_with(&b, inner.p, inner.len);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	b_newview(&inner, 0, 0, 0);
	nv_with(&b, inner.p, inner.len);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	vc_msg(&inner, 0, 0, 0, 0);
	inner.p[1] = 99;
	nv_with(&b, inner.p, inner.len);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);

	/* Another group or epoch. */
	vc_msg(&inner, 0, 0, 0, 0);
	inner.p[8] ^= 1;
	nv_with(&b, inner.p, inner.len);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	inner.p[8] ^= 1;
	inner.p[16] ^= 1;
	nv_with(&b, inner.p, inner.len);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FIELD);
	inner.p[16] ^= 1;

	/* Nested version, flags, trailing and truncated bytes. */
	inner.p[0] = 2;
	nv_with(&b, inner.p, inner.len);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_VERSION);
	inner.p[0] = WIRE_VERSION;
	inner.p[3] = 0x80;
	nv_with(&b, inner.p, inner.len);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_FLAGS);
	inner.p[3] = 0;
	wire_put_u8(&inner, 0);
	nv_with(&b, inner.p, inner.len);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TRAILING);
	nv_with(&b, inner.p, inner.len - 2);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TRUNCATED);
	nv_with(&b, inner.p, WIRE_HDR_LEN - 1);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TRUNCATED);
	nv_with(&b, inner.p, 0);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TRUNCATED);

	/* The nested message is held to the same limits as the outer one. */
	vc_msg(&inner, 3, 0, 0, 0);
	nv_with(&b, inner.p, inner.len);
	struct wire_limits lim = open_lim;
	lim.max_replicas = 2;
	ck_assert_int_eq(dec_buf(&b, &lim), WIRE_ERR_TOO_BIG);
	lim.max_replicas = 3;
	ck_assert_int_eq(dec_buf(&b, &lim), 0);
	wire_buf_free(&b);
	wire_buf_free(&inner);
}
END_TEST

/* ---------------------------------------------------------------- huge counts */
/* A message of type whose body is prefix (the fixed fields) then a u32 count 0xffffffff
 * and nothing else: TOO_BIG under default limits, TRUNCATED (at the first item) under
 * open ones; both without any work proportional to the count. */
static void check_huge_count(uint8_t type, size_t prefix, const char *what)
{
	struct wire_buf b;
	wire_buf_init(&b);
	struct wire_hdr h = hdr(type);
	wire_put_hdr(&b, &h);
	for (size_t i = 0; i < prefix; i++)
		wire_put_u8(&b, type == WIRE_PREPREPARE && i == 8 ? 1 : 0); /* pp seq = 1 */
	wire_put_u32(&b, UINT32_MAX);
	ck_assert_msg(dec_buf(&b, NULL) == WIRE_ERR_TOO_BIG, "%s: defaults", what);
	ck_assert_msg(dec_buf(&b, &open_lim) == WIRE_ERR_TRUNCATED, "%s: open", what);
	wire_buf_free(&b);
}

START_TEST(test_huge_counts)
{
	size_t vc_fixed = 8 + 8 + WIRE_DIGEST_LEN;
	check_huge_count(WIRE_PREPREPARE, 8 + 8 + WIRE_DIGEST_LEN + 8, "batch count");
	check_huge_count(WIRE_VIEWCHANGE, vc_fixed, "proof count");
	check_huge_count(WIRE_VIEWCHANGE, vc_fixed + 4, "P count");
	check_huge_count(WIRE_VIEWCHANGE, vc_fixed + 4 + 4, "Q count");
	check_huge_count(WIRE_NEWVIEW, 8, "vcs count");
	check_huge_count(WIRE_NEWVIEW, 8 + 4 + 8 + WIRE_DIGEST_LEN, "items count");
	check_huge_count(WIRE_META, 8 + 4 + 8, "children count");
	check_huge_count(WIRE_DATA, 8 + 8 + 4, "entries count");

	/* Byte strings: a huge length is refused by its limit before the bytes are sought. */
	struct wire_buf b;
	wire_buf_init(&b);
	b_request(&b, 0, 0, 0);
	size_t oplen = WIRE_HDR_LEN + WIRE_KEY_LEN + 4 + 8 + 4;
	memset(b.p + oplen, 0xff, 4);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TOO_BIG);
	ck_assert_int_eq(dec_buf(&b, &open_lim), WIRE_ERR_TRUNCATED);
	wire_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- request bodies */
START_TEST(test_request_body_length)
{
	struct wire_buf reqs, b;
	wire_buf_init(&reqs);
	wire_buf_init(&b);
	/* One request whose u32 length claims one byte more than its fields use. */
	struct wire_request r = { .timestamp = 1, .op = zeros(3) };
	wire_put_request(&reqs, &r);
	uint32_t body = (uint32_t)reqs.len - 4;
	wire_buf_reset(&reqs);
	wire_put_u32(&reqs, body + 1);
	wire_put_fixed(&reqs, r.client, WIRE_KEY_LEN);
	wire_put_u32(&reqs, r.lane);
	wire_put_u64(&reqs, r.timestamp);
	wire_put_u32(&reqs, 0);
	wire_put_bytes(&reqs, r.op.p, r.op.len);
	wire_put_bytes(&reqs, NULL, 0);
	wire_put_u8(&reqs, 0);
	struct wire_msg m = { .hdr = hdr(WIRE_PREPREPARE) };
	m.u.preprepare.seq = 1;
	m.u.preprepare.batch = (struct wire_batch){ 5, 1, bview(&reqs) };
	put_msg(&b, &m);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TRAILING);
	/* ... or one byte less: the body ends inside its last field. */
	reqs.p[0] = (uint8_t)(body - 1);
	reqs.len -= 2;
	m.u.preprepare.batch.reqs = bview(&reqs);
	put_msg(&b, &m);
	ck_assert_int_eq(dec_buf(&b, NULL), WIRE_ERR_TRUNCATED);
	wire_buf_free(&reqs);
	wire_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- encoder refusals */
START_TEST(test_encode_refusals)
{
	struct wire_buf b;
	wire_buf_init(&b);
	wire_put_u8(&b, 7);
	struct wire_msg m = { .hdr = hdr(WIRE_REQUEST) };
	m.hdr.type = 13;
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_TYPE);
	m.hdr.type = WIRE_REQUEST;
	m.u.request.flags = 2;
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_FLAGS);
	m = (struct wire_msg){ .hdr = hdr(WIRE_REPLY) };
	m.u.reply.flags = 0x100;
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_FLAGS);
	m = (struct wire_msg){ .hdr = hdr(WIRE_STATUS) };
	m.u.status.flags = 2;
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_FLAGS);
	m = (struct wire_msg){ .hdr = hdr(WIRE_DATA) };
	m.u.data.flags = 0x80000000u;
	ck_assert_int_eq(wire_encode(&b, &m), WIRE_ERR_FLAGS);
	ck_assert_uint_eq(b.len, 1); /* nothing appended */
	ck_assert_int_eq(wire_buf_error(&b), 0);

	/* Version and header flags are always written as WIRE_VERSION and 0. */
	m = (struct wire_msg){ .hdr = hdr(WIRE_STATUS) };
	m.hdr.version = 0;
	m.hdr.flags = 0xffff;
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	ck_assert_uint_eq(b.p[1], WIRE_VERSION);
	ck_assert_uint_eq(b.p[3] | b.p[4], 0);
	ck_assert_int_eq(dec(b.p + 1, b.len - 1, NULL), 0);
	wire_buf_free(&b);
}
END_TEST

static Suite *wire_strict_suite(void)
{
	Suite *s = suite_create("wire_strict");
	TCase *tc = tcase_create("framing");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_every_truncation, 0, (int)G_NTYPES);
	tcase_add_loop_test(tc, test_trailing_byte, 0, (int)G_NTYPES);
	tcase_add_loop_test(tc, test_header_flags, 0, (int)G_NTYPES);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_unknown_type);
	tcase_add_test(tc, test_body_flags);
	tcase_add_test(tc, test_lane_limit);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_limit_exact, 0, N_LIMIT_CASES);
	tcase_add_test(tc, test_limit_message);
	tcase_add_test(tc, test_limit_defaults);
	tcase_add_test(tc, test_huge_counts);
	suite_add_tcase(s, tc);
	tc = tcase_create("fields");
	tcase_add_test(tc, test_digest_mismatch);
	tcase_add_test(tc, test_seq_zero);
	tcase_add_test(tc, test_newview_nested);
	tcase_add_test(tc, test_request_body_length);
	tcase_add_test(tc, test_encode_refusals);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(wire_strict_suite)
