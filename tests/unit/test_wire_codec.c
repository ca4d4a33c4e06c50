/* test_wire_codec.c: wire round trips: every type field by field, list items through
 * the iterators, and seeded property tests decode(encode(m)) == m and
 * encode(decode(b)) == b over thousands of random messages of every type. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/test_wire_gen.h"
#include "tests/unit/unit.h"
#include "wire/wire.h"

#define PROP_ROUNDS 2000
#define PROP_SEED 0x62756c7761726b00ull

static uint64_t prop_seed(void)
{
	const char *s = getenv("WIRE_SEED");
	return s != NULL ? strtoull(s, NULL, 0) : PROP_SEED;
}

/* One round trip of m under lim: decode, compare every field, walk every list,
 * re-encode byte for byte. NULL on success, else what failed. */
static const char *round_trip(const struct wire_msg *m, const struct wire_limits *lim,
			      struct wire_buf *e1, struct wire_buf *e2, struct wire_buf *tmp)
{
	struct wire_msg d;
	wire_buf_reset(e1);
	wire_buf_reset(e2);
	if (wire_encode(e1, m) != 0)
		return "encode";
	if (wire_decode(e1->p, e1->len, lim, &d) != 0)
		return "decode";
	const char *diff = msg_diff(m, &d);
	if (diff != NULL)
		return diff;
	if (d.raw.p != e1->p || d.raw.len != e1->len)
		return "raw";
	int sig = m->hdr.type == WIRE_CHECKPOINT || m->hdr.type == WIRE_VIEWCHANGE ||
		  m->hdr.type == WIRE_NEWVIEW;
	if (sig ? d.signed_part.p != e1->p || d.signed_part.len != e1->len - WIRE_SIG_LEN
		: d.signed_part.len != 0)
		return "signed_part";
	diff = list_walk(&d, lim, tmp);
	if (diff != NULL)
		return diff;
	if (wire_encode(e2, &d) != 0)
		return "re-encode";
	if (e2->len != e1->len || memcmp(e1->p, e2->p, e1->len) != 0)
		return "re-encoding differs";
	return NULL;
}

/* ---------------------------------------------------------------- fixed round trips */
START_TEST(test_roundtrip_every_type)
{
	uint8_t type = g_types[_i];
	struct gen g;
	struct wire_buf e1, e2, tmp;
	wire_buf_init(&e1);
	wire_buf_init(&e2);
	wire_buf_init(&tmp);
	gen_init(&g, 1000 + _i, &g_small, 1);
	for (int k = 0; k < 20; k++) {
		struct wire_msg m;
		gen_msg(&g, type, &m);
		const char *e = round_trip(&m, &g_small, &e1, &e2, &tmp);
		ck_assert_msg(e == NULL, "%s round %d: %s", wire_type_name(type), k, e);
		/* Every message within g_small is within the defaults as well. */
		e = round_trip(&m, NULL, &e1, &e2, &tmp);
		ck_assert_msg(e == NULL, "%s round %d (defaults): %s", wire_type_name(type), k, e);
		gen_release(&g);
	}
	gen_free(&g);
	wire_buf_free(&e1);
	wire_buf_free(&e2);
	wire_buf_free(&tmp);
}
END_TEST

static void fill(uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v + i);
}

static struct wire_bytes view(const struct wire_buf *b)
{
	struct wire_bytes v = { b->p, (uint32_t)b->len };
	return v;
}

/* Items come back from the iterators with the values they were built from. */
START_TEST(test_roundtrip_items)
{
	const uint64_t group = 0x1122334455667788ull, epoch = 42;
	struct wire_buf reqs, proof, p, q, one, vcs, items, enc, kids, ents;
	wire_buf_init(&reqs);
	wire_buf_init(&proof);
	wire_buf_init(&p);
	wire_buf_init(&q);
	wire_buf_init(&one);
	wire_buf_init(&vcs);
	wire_buf_init(&items);
	wire_buf_init(&enc);
	wire_buf_init(&kids);
	wire_buf_init(&ents);

	/* A batch of two requests. */
	static const uint8_t op0[] = "put k v", auth0[16] = { 1 }, op1[] = "get k";
	struct wire_request r0 = { .timestamp = 7, .flags = 0, .op = { op0, sizeof(op0) },
				   .auth = { auth0, sizeof(auth0) } };
	struct wire_request r1 = { .timestamp = 8, .flags = WIRE_REQ_READ_ONLY,
				   .op = { op1, sizeof(op1) }, .auth = { NULL, 0 } };
	fill(r0.client, WIRE_KEY_LEN, 0x10);
	fill(r1.client, WIRE_KEY_LEN, 0x20);
	wire_put_request(&reqs, &r0);
	wire_put_request(&reqs, &r1);
	struct wire_batch batch = { .time = 1700000000000ull, .count = 2, .reqs = view(&reqs) };

	/* A VIEW-CHANGE with one item of each list. */
	struct wire_proof_item pr = { .replica = 3 };
	fill(pr.sig, WIRE_SIG_LEN, 0x30);
	wire_put_proof(&proof, &pr);
	struct wire_pitem pi = { .seq = 11, .view = 2, .batch = batch };
	wire_batch_digest(group, epoch, &batch, pi.digest);
	wire_put_pitem(&p, &pi);
	struct wire_qitem qi = { .seq = 12, .view = 2 };
	fill(qi.digest, WIRE_DIGEST_LEN, 0x40);
	wire_put_qitem(&q, &qi);
	struct wire_msg vc = { .hdr = { WIRE_VERSION, WIRE_VIEWCHANGE, 0, 2, group, epoch } };
	vc.u.viewchange.new_view = 3;
	vc.u.viewchange.stable_seq = 10;
	fill(vc.u.viewchange.stable_digest, WIRE_DIGEST_LEN, 0x50);
	vc.u.viewchange.proof = (struct wire_list){ 1, view(&proof) };
	vc.u.viewchange.p = (struct wire_list){ 1, view(&p) };
	vc.u.viewchange.q = (struct wire_list){ 1, view(&q) };
	fill(vc.u.viewchange.sig, WIRE_SIG_LEN, 0x60);
	ck_assert_int_eq(wire_encode(&one, &vc), 0);

	/* A NEW-VIEW carrying it. */
	wire_put_vc(&vcs, one.p, one.len);
	struct wire_nvitem ni = { .seq = 11 };
	memcpy(ni.digest, pi.digest, WIRE_DIGEST_LEN);
	wire_put_nvitem(&items, &ni);
	ni.seq = 12;
	wire_null_digest(group, epoch, ni.digest);
	wire_put_nvitem(&items, &ni);
	struct wire_msg nv = { .hdr = { WIRE_VERSION, WIRE_NEWVIEW, 0, 3, group, epoch } };
	nv.u.newview.view = 3;
	nv.u.newview.vcs = (struct wire_list){ 1, view(&vcs) };
	nv.u.newview.min_s = 10;
	nv.u.newview.items = (struct wire_list){ 2, view(&items) };
	ck_assert_int_eq(wire_encode(&enc, &nv), 0);

	struct wire_msg d;
	ck_assert_int_eq(wire_decode(enc.p, enc.len, NULL, &d), 0);
	ck_assert_uint_eq(d.u.newview.view, 3);
	ck_assert_uint_eq(d.u.newview.min_s, 10);
	struct wire_iter it;
	struct wire_bytes vcenc;
	wire_iter_init(&it, &d.u.newview.vcs);
	ck_assert(wire_next_vc(&it, &vcenc));
	ck_assert(bytes_eq(vcenc, view(&one)));
	ck_assert(!wire_next_vc(&it, &vcenc));
	struct wire_nvitem got_ni;
	wire_iter_init(&it, &d.u.newview.items);
	ck_assert(wire_next_nvitem(&it, &got_ni));
	ck_assert_uint_eq(got_ni.seq, 11);
	ck_assert_mem_eq(got_ni.digest, pi.digest, WIRE_DIGEST_LEN);
	ck_assert(wire_next_nvitem(&it, &got_ni));
	ck_assert_uint_eq(got_ni.seq, 12);
	ck_assert_mem_eq(got_ni.digest, ni.digest, WIRE_DIGEST_LEN);
	ck_assert(!wire_next_nvitem(&it, &got_ni));
	ck_assert(!wire_next_nvitem(&it, &got_ni)); /* stays at the end */

	/* The nested VIEW-CHANGE, item by item. */
	struct wire_msg dv;
	ck_assert_int_eq(wire_decode(vcenc.p, vcenc.len, NULL, &dv), 0);
	ck_assert_uint_eq(dv.hdr.sender, 2);
	ck_assert_uint_eq(dv.u.viewchange.new_view, 3);
	ck_assert_uint_eq(dv.u.viewchange.stable_seq, 10);
	struct wire_proof_item got_pr;
	wire_iter_init(&it, &dv.u.viewchange.proof);
	ck_assert(wire_next_proof(&it, &got_pr));
	ck_assert_uint_eq(got_pr.replica, 3);
	ck_assert_mem_eq(got_pr.sig, pr.sig, WIRE_SIG_LEN);
	ck_assert(!wire_next_proof(&it, &got_pr));
	struct wire_pitem got_pi;
	wire_iter_init(&it, &dv.u.viewchange.p);
	ck_assert(wire_next_pitem(&it, &got_pi));
	ck_assert_uint_eq(got_pi.seq, 11);
	ck_assert_uint_eq(got_pi.view, 2);
	ck_assert_mem_eq(got_pi.digest, pi.digest, WIRE_DIGEST_LEN);
	ck_assert_uint_eq(got_pi.batch.time, batch.time);
	ck_assert_uint_eq(got_pi.batch.count, 2);
	ck_assert(!wire_next_pitem(&it, &got_pi));
	struct wire_iter ri;
	struct wire_request got_r;
	wire_iter_batch(&ri, &got_pi.batch);
	ck_assert(wire_next_request(&ri, &got_r));
	ck_assert(request_eq(&got_r, &r0));
	ck_assert(wire_next_request(&ri, &got_r));
	ck_assert(request_eq(&got_r, &r1));
	ck_assert(!wire_next_request(&ri, &got_r));
	struct wire_qitem got_q;
	wire_iter_init(&it, &dv.u.viewchange.q);
	ck_assert(wire_next_qitem(&it, &got_q));
	ck_assert_uint_eq(got_q.seq, 12);
	ck_assert_uint_eq(got_q.view, 2);
	ck_assert_mem_eq(got_q.digest, qi.digest, WIRE_DIGEST_LEN);
	ck_assert(!wire_next_qitem(&it, &got_q));

	/* META children and DATA entries. */
	uint8_t c0[WIRE_DIGEST_LEN], c1[WIRE_DIGEST_LEN];
	fill(c0, sizeof(c0), 0x70);
	fill(c1, sizeof(c1), 0x80);
	wire_put_child(&kids, c0);
	wire_put_child(&kids, c1);
	struct wire_msg meta = { .hdr = { WIRE_VERSION, WIRE_META, 0, 1, group, epoch } };
	meta.u.meta = (struct wire_meta){ .ckpt_seq = 20, .level = 1, .index = 5,
					  .children = { 2, view(&kids) } };
	wire_buf_reset(&enc);
	ck_assert_int_eq(wire_encode(&enc, &meta), 0);
	ck_assert_int_eq(wire_decode(enc.p, enc.len, NULL, &d), 0);
	ck_assert_uint_eq(d.u.meta.level, 1);
	ck_assert_uint_eq(d.u.meta.index, 5);
	const uint8_t *child;
	wire_iter_init(&it, &d.u.meta.children);
	ck_assert(wire_next_child(&it, &child));
	ck_assert_mem_eq(child, c0, WIRE_DIGEST_LEN);
	ck_assert(wire_next_child(&it, &child));
	ck_assert_mem_eq(child, c1, WIRE_DIGEST_LEN);
	ck_assert(!wire_next_child(&it, &child));

	static const uint8_t k0[] = "key0", v0[] = "value0", k1[] = "k1";
	struct wire_data_item e0 = { { k0, sizeof(k0) }, { v0, sizeof(v0) } };
	struct wire_data_item e1 = { { k1, sizeof(k1) }, { NULL, 0 } };
	wire_put_data(&ents, &e0);
	wire_put_data(&ents, &e1);
	struct wire_msg data = { .hdr = { WIRE_VERSION, WIRE_DATA, 0, 1, group, epoch } };
	data.u.data = (struct wire_data){ .ckpt_seq = 20, .partition = 9, .flags = WIRE_DATA_MORE,
					  .entries = { 2, view(&ents) } };
	wire_buf_reset(&enc);
	ck_assert_int_eq(wire_encode(&enc, &data), 0);
	ck_assert_int_eq(wire_decode(enc.p, enc.len, NULL, &d), 0);
	ck_assert_uint_eq(d.u.data.partition, 9);
	ck_assert_uint_eq(d.u.data.flags, WIRE_DATA_MORE);
	struct wire_data_item got_e;
	wire_iter_init(&it, &d.u.data.entries);
	ck_assert(wire_next_data(&it, &got_e));
	ck_assert(bytes_eq(got_e.key, e0.key) && bytes_eq(got_e.value, e0.value));
	ck_assert(wire_next_data(&it, &got_e));
	ck_assert(bytes_eq(got_e.key, e1.key) && got_e.value.len == 0);
	ck_assert(!wire_next_data(&it, &got_e));

	wire_buf_free(&reqs);
	wire_buf_free(&proof);
	wire_buf_free(&p);
	wire_buf_free(&q);
	wire_buf_free(&one);
	wire_buf_free(&vcs);
	wire_buf_free(&items);
	wire_buf_free(&enc);
	wire_buf_free(&kids);
	wire_buf_free(&ents);
}
END_TEST

/* Signing flow: encode, sign signed_part, patch, decode gives the signature back. */
START_TEST(test_roundtrip_patch_sig)
{
	struct wire_buf b;
	wire_buf_init(&b);
	wire_put_u32(&b, 0xdeadbeef); /* messages may follow other bytes in a buffer */
	struct wire_msg m = { .hdr = { WIRE_VERSION, WIRE_CHECKPOINT, 0, 1, 5, 6 } };
	m.u.checkpoint.seq = 128;
	fill(m.u.checkpoint.digest, WIRE_DIGEST_LEN, 9);
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	ck_assert_uint_eq(b.len, 4 + WIRE_HDR_LEN + 8 + WIRE_DIGEST_LEN + WIRE_SIG_LEN);
	uint8_t sig[WIRE_SIG_LEN];
	fill(sig, sizeof(sig), 0xa0);
	wire_patch_sig(&b, sig);
	struct wire_msg d;
	ck_assert_int_eq(wire_decode(b.p + 4, b.len - 4, NULL, &d), 0);
	ck_assert_mem_eq(d.u.checkpoint.sig, sig, WIRE_SIG_LEN);
	ck_assert_ptr_eq(d.signed_part.p, b.p + 4);
	ck_assert_uint_eq(d.signed_part.len, b.len - 4 - WIRE_SIG_LEN);
	wire_buf_free(&b);
}
END_TEST

/* The sizes docs/PROTOCOL.md gives for each message. */
static uint64_t documented_size(const struct wire_msg *m)
{
	struct wire_iter it;
	uint64_t n = 0;
	switch (m->hdr.type) {
	case WIRE_REQUEST:
		return 80u + m->u.request.op.len + m->u.request.auth.len;
	case WIRE_REPLY:
		return 88u + m->u.reply.result.len + m->u.reply.extra.len;
	case WIRE_PREPREPARE:
		return 84u + m->u.preprepare.batch.reqs.len;
	case WIRE_PREPARE:
	case WIRE_COMMIT:
		return 72;
	case WIRE_CHECKPOINT:
		return 128;
	case WIRE_VIEWCHANGE: {
		const struct wire_viewchange *vc = &m->u.viewchange;
		struct wire_pitem pi;
		n = 148u + 68u * vc->proof.count + 48u * vc->q.count;
		wire_iter_init(&it, &vc->p);
		while (wire_next_pitem(&it, &pi))
			n += 60u + pi.batch.reqs.len;
		return n;
	}
	case WIRE_NEWVIEW: {
		struct wire_bytes vc;
		n = 144u + 40u * m->u.newview.items.count;
		wire_iter_init(&it, &m->u.newview.vcs);
		while (wire_next_vc(&it, &vc))
			n += 4u + vc.len;
		return n;
	}
	case WIRE_STATUS:
		return 60;
	case WIRE_FETCH:
		return 48u + m->u.fetch.start_key.len;
	case WIRE_META:
		return 48u + 32u * m->u.meta.children.count;
	case WIRE_DATA: {
		struct wire_data_item di;
		n = 48;
		wire_iter_init(&it, &m->u.data.entries);
		while (wire_next_data(&it, &di))
			n += 8u + di.key.len + di.value.len;
		return n;
	}
	default:
		return 0;
	}
}

START_TEST(test_documented_sizes)
{
	uint8_t type = g_types[_i];
	struct gen g;
	struct wire_buf b;
	wire_buf_init(&b);
	gen_init(&g, 77 + _i, &g_small, 0);
	for (int k = 0; k < 50; k++) {
		struct wire_msg m, d;
		gen_msg(&g, type, &m);
		wire_buf_reset(&b);
		ck_assert_int_eq(wire_encode(&b, &m), 0);
		ck_assert_int_eq(wire_decode(b.p, b.len, &g_small, &d), 0);
		ck_assert_msg(documented_size(&d) == b.len, "%s: %zu bytes, documented %llu",
			      wire_type_name(type), b.len, (unsigned long long)documented_size(&d));
		gen_release(&g);
	}
	gen_free(&g);
	wire_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- properties */
START_TEST(test_property_every_type)
{
	uint8_t type = g_types[_i];
	uint64_t seed = prop_seed();
	struct gen g;
	struct wire_buf e1, e2, tmp;
	wire_buf_init(&e1);
	wire_buf_init(&e2);
	wire_buf_init(&tmp);
	for (int k = 0; k < PROP_ROUNDS; k++) {
		/* Each round has its own seed, so one failing round replays alone. */
		uint64_t s = seed ^ ((uint64_t)type << 48) ^ (uint64_t)k;
		struct wire_msg m;
		gen_init(&g, s, &g_small, k % 8 == 0);
		gen_msg(&g, type, &m);
		const char *e = round_trip(&m, &g_small, &e1, &e2, &tmp);
		ck_assert_msg(e == NULL, "%s: %s (WIRE_SEED=0x%016" PRIx64 " round %d, round seed 0x%016" PRIx64 ")",
			      wire_type_name(type), e, seed, k, s);
		gen_free(&g);
	}
	wire_buf_free(&e1);
	wire_buf_free(&e2);
	wire_buf_free(&tmp);
}
END_TEST

static Suite *wire_codec_suite(void)
{
	Suite *s = suite_create("wire_codec");
	TCase *tc = tcase_create("roundtrip");
	tcase_add_loop_test(tc, test_roundtrip_every_type, 0, (int)G_NTYPES);
	tcase_add_test(tc, test_roundtrip_items);
	tcase_add_test(tc, test_roundtrip_patch_sig);
	tcase_add_loop_test(tc, test_documented_sizes, 0, (int)G_NTYPES);
	suite_add_tcase(s, tc);
	tc = tcase_create("property");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_property_every_type, 0, (int)G_NTYPES);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(wire_codec_suite)
