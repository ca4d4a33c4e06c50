/* test_core_viewchange.c: view changes: a silent primary is replaced and the request
 * completes in the new view; a prepared request survives the view change and executes
 * once; forged VIEW-CHANGEs are rejected; f+1 VIEW-CHANGEs make a replica join; a
 * NEW-VIEW whose decisions do not follow from its VIEW-CHANGEs is rejected. */
#include "tests/unit/test_core_harness.h"

static struct h H;

static void setup(void)
{
	h_init(&H);
	h_start_all(&H);
}

static void teardown(void)
{
	h_fini(&H);
}

START_TEST(t_silent_primary_replaced)
{
	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	H.crashed[0] = 1;
	ck_assert(h_do(&H, 1, "a=2", 0, 10000));
	ck_assert_str_eq(h_result(&H, 1), "1");
	for (uint32_t i = 1; i < H_N; i++) {
		struct pbft_status st = h_status(&H, i);
		ck_assert_uint_eq(st.view, 1);
		ck_assert_int_eq(st.view_active, 1);
		ck_assert_uint_eq(st.primary, 1);
		ck_assert_uint_eq(st.last_executed, 2);
	}
	ck_assert(h_traced(&H, "send NEW-VIEW") || h_traced(&H, "enter view"));
	/* The client now talks to the new primary directly. */
	ck_assert(h_do(&H, 1, "a=3", 0, 2000));
	ck_assert_str_eq(h_result(&H, 1), "2");
	/* The old primary comes back and is brought into view 1 by STATUS. */
	h_start(&H, 0);
	h_advance(&H, 2000, 10);
	ck_assert_uint_eq(h_status(&H, 0).view, 1);
	ck_assert_uint_eq(h_status(&H, 0).last_executed, 3);
}
END_TEST

/* Primary 0 is down and primary 1 never gets its NEW-VIEW or PRE-PREPAREs out: view 1
 * fails, the timer doubles, and view 2's primary takes over. */
static int mute_replica1(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	return m->from == 1 && (dm->hdr.type == WIRE_NEWVIEW || dm->hdr.type == WIRE_PREPREPARE);
}

START_TEST(t_two_failed_views)
{
	uint64_t t0;

	H.crashed[0] = 1;
	H.filter = mute_replica1;
	t0 = H.now;
	ck_assert(h_do(&H, 2, "z=9", 0, 30000));
	for (uint32_t i = 1; i < H_N; i++) {
		ck_assert_uint_eq(h_status(&H, i).view, 2);
		ck_assert_int_eq(h_status(&H, i).view_active, 1);
	}
	ck_assert(h_traced(&H, "before NEW-VIEW -> view change to 2"));
	/* Client timeout 500 + view 1 timer 1000 + doubled view 2... at least 1500 ms. */
	ck_assert_uint_ge(H.now - t0, 1500);
}
END_TEST

static int drop_commits(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	(void)m;
	return dm->hdr.type == WIRE_COMMIT && dm->u.prepare.view == 0;
}

/* The request prepares everywhere but no COMMIT gets through; the primary then dies.
 * The new view must re-propose the prepared batch (TOCS rule A), not a null request,
 * and the request executes exactly once. */
START_TEST(t_prepared_survives_view_change)
{
	H.filter = drop_commits;
	h_invoke(&H, 0, "p=1", 0);
	h_run(&H, 1000000);
	for (uint32_t i = 0; i < H_N; i++)
		ck_assert_uint_eq(h_status(&H, i).last_executed, 0);
	H.crashed[0] = 1;
	h_advance(&H, 10000, 10);
	ck_assert(H.cdone[0]);
	ck_assert(h_traced(&H, "prepared"));
	for (uint32_t i = 1; i < H_N; i++) {
		ck_assert_uint_eq(h_status(&H, i).view, 1);
		ck_assert_uint_eq(H.app[i].executed_requests, 1);
		ck_assert_uint_eq(h_status(&H, i).last_executed, 1);
	}
	ck_assert_str_eq(h_result(&H, 0), "-");
	ck_assert(h_do(&H, 0, "p", 0, 3000));
	ck_assert_str_eq(h_result(&H, 0), "1");
}
END_TEST

/* Like the above, but every backup also crashes and restarts from its records before
 * the view change: the prepared certificates come back from PREPARED records. */
START_TEST(t_prepared_survives_restart)
{
	H.filter = drop_commits;
	h_invoke(&H, 0, "p=1", 0);
	h_run(&H, 1000000);
	H.crashed[0] = 1;
	for (uint32_t i = 1; i < H_N; i++) {
		h_start(&H, i);
		ck_assert_uint_eq(h_status(&H, i).last_executed, 0);
	}
	h_advance(&H, 10000, 10);
	ck_assert(H.cdone[0]);
	for (uint32_t i = 1; i < H_N; i++) {
		ck_assert_uint_eq(H.app[i].executed_requests, 1);
		ck_assert_uint_eq(h_status(&H, i).last_executed, 1);
	}
}
END_TEST

/* A replica that restarts in the middle of a view change stays in it (VIEW record) and
 * sends its VIEW-CHANGE again. */
START_TEST(t_restart_during_view_change)
{
	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	H.crashed[0] = 1;
	H.crashed[3] = 1;
	h_invoke(&H, 1, "a=2", 0);
	for (int k = 0; k < 1000 && h_status(&H, 2).view_active; k++)
		h_advance(&H, 10, 10);
	ck_assert_uint_eq(h_status(&H, 2).view, 1);
	ck_assert_int_eq(h_status(&H, 2).view_active, 0);
	h_start(&H, 2);
	ck_assert_uint_eq(h_status(&H, 2).view, 1);
	ck_assert_int_eq(h_status(&H, 2).view_active, 0);
	h_start(&H, 3);
	h_advance(&H, 20000, 10);
	ck_assert(H.cdone[1]);
	for (uint32_t i = 1; i < H_N; i++) {
		ck_assert_int_eq(h_status(&H, i).view_active, 1);
		ck_assert_uint_eq(h_status(&H, i).last_executed, 2);
	}
}
END_TEST

/* A VIEW-CHANGE for view v from `sender`, signed by key `signer`. */
static void make_vc(uint64_t view, uint32_t sender, uint32_t signer, struct wire_buf *out)
{
	struct wire_msg m;
	uint8_t sig[64];

	memset(&m, 0, sizeof(m));
	h_hdr(&m.hdr, WIRE_VIEWCHANGE, sender);
	m.u.viewchange.new_view = view;
	wire_buf_reset(out);
	ck_assert_int_eq(wire_encode(out, &m), 0);
	ck_assert_int_eq(crypto_ed25519_sign(&H.keys.rep[signer], out->p, out->len - 64, sig), 0);
	wire_patch_sig(out, sig);
}

START_TEST(t_forged_viewchange_rejected)
{
	struct wire_buf b;
	uint64_t d0 = h_status(&H, 1).dropped;

	wire_buf_init(&b);
	/* Two VIEW-CHANGEs claiming replicas 2 and 3, signed by replica 0's key. */
	make_vc(1, 2, 0, &b);
	h_enqueue(&H, 0, 1, b.p, b.len);
	make_vc(1, 3, 0, &b);
	h_enqueue(&H, 0, 1, b.p, b.len);
	h_run(&H, 1000000);
	ck_assert_uint_eq(h_status(&H, 1).dropped, d0 + 2);
	ck_assert_uint_eq(h_status(&H, 1).view, 0);
	ck_assert_int_eq(h_status(&H, 1).view_active, 1);
	ck_assert(h_traced(&H, "VIEW-CHANGE with a bad signature"));
	/* Genuine ones from f+1 = 2 replicas: replica 1 joins view 1. */
	make_vc(1, 2, 2, &b);
	h_enqueue(&H, 2, 1, b.p, b.len);
	h_run(&H, 1);
	ck_assert_uint_eq(h_status(&H, 1).view, 0);
	make_vc(1, 3, 3, &b);
	h_enqueue(&H, 3, 1, b.p, b.len);
	h_run(&H, 1);
	ck_assert_uint_eq(h_status(&H, 1).view, 1);
	ck_assert(h_traced(&H, "join view 1"));
	wire_buf_free(&b);
}
END_TEST

/* A VIEW-CHANGE whose stable checkpoint proof holds a forged signature is rejected. */
START_TEST(t_viewchange_bad_proof_rejected)
{
	struct wire_msg m;
	struct wire_buf b, proof;
	uint8_t sig[64];
	uint64_t d0 = h_status(&H, 1).dropped;

	wire_buf_init(&b);
	wire_buf_init(&proof);
	memset(&m, 0, sizeof(m));
	h_hdr(&m.hdr, WIRE_VIEWCHANGE, 2);
	m.u.viewchange.new_view = 1;
	m.u.viewchange.stable_seq = 4;
	memset(m.u.viewchange.stable_digest, 0xab, 32);
	for (uint32_t j = 0; j < 3; j++) {
		struct wire_proof_item pi = { .replica = j };
		memset(pi.sig, (int)j, 64);
		wire_put_proof(&proof, &pi);
	}
	m.u.viewchange.proof.count = 3;
	m.u.viewchange.proof.bytes.p = proof.p;
	m.u.viewchange.proof.bytes.len = (uint32_t)proof.len;
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	ck_assert_int_eq(crypto_ed25519_sign(&H.keys.rep[2], b.p, b.len - 64, sig), 0);
	wire_patch_sig(&b, sig);
	h_enqueue(&H, 2, 1, b.p, b.len);
	h_run(&H, 1000000);
	ck_assert_uint_eq(h_status(&H, 1).dropped, d0 + 1);
	wire_buf_free(&b);
	wire_buf_free(&proof);
}
END_TEST

/* Capture replica 1's NEW-VIEW for view 1 instead of delivering it. */
static struct wire_buf captured;
static int capture_nv(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	if (dm->hdr.type == WIRE_NEWVIEW) {
		if (captured.len == 0)
			wire_put_fixed(&captured, m->p, m->len);
		return 1;
	}
	return 0;
}

START_TEST(t_bad_newview_rejected)
{
	struct wire_msg nv;
	struct wire_buf items, b;
	struct wire_nvitem it = { .seq = 1 };
	uint8_t sig[64];

	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	wire_buf_init(&captured);
	wire_buf_init(&items);
	wire_buf_init(&b);
	H.filter = capture_nv;
	H.crashed[0] = 1;
	h_invoke(&H, 1, "a=2", 0);
	for (int k = 0; k < 1000 && captured.len == 0; k++)
		h_advance(&H, 10, 10);
	ck_assert_uint_gt(captured.len, 0);
	for (uint32_t i = 2; i < H_N; i++) {
		ck_assert_uint_eq(h_status(&H, i).view, 1);
		ck_assert_int_eq(h_status(&H, i).view_active, 0);
	}
	/* Replace the decisions by a null request at seq 1 (seq 1 is committed). */
	ck_assert_int_eq(wire_decode(captured.p, captured.len, NULL, &nv), 0);
	wire_null_digest(H_GROUP, H_EPOCH, it.digest);
	wire_put_nvitem(&items, &it);
	nv.u.newview.min_s = 0;
	memset(nv.u.newview.min_digest, 0, 32);
	nv.u.newview.items.count = 1;
	nv.u.newview.items.bytes.p = items.p;
	nv.u.newview.items.bytes.len = (uint32_t)items.len;
	ck_assert_int_eq(wire_encode(&b, &nv), 0);
	ck_assert_int_eq(crypto_ed25519_sign(&H.keys.rep[1], b.p, b.len - 64, sig), 0);
	wire_patch_sig(&b, sig);
	H.filter = NULL;
	h_enqueue(&H, 1, 2, b.p, b.len);
	h_run(&H, 1000000);
	ck_assert_uint_eq(h_status(&H, 2).view, 2);
	ck_assert_int_eq(h_status(&H, 2).view_active, 0);
	ck_assert(h_traced(&H, "differ from the recomputed ones"));
	/* The genuine one is accepted by replica 3. */
	h_enqueue(&H, 1, 3, captured.p, captured.len);
	h_run(&H, 1000000);
	ck_assert_uint_eq(h_status(&H, 3).view, 1);
	ck_assert_int_eq(h_status(&H, 3).view_active, 1);
	/* The group still finishes the request, in some later view. */
	h_advance(&H, 30000, 10);
	ck_assert(H.cdone[1]);
	wire_buf_free(&captured);
	wire_buf_free(&items);
	wire_buf_free(&b);
}
END_TEST

/* A VIEW-CHANGE for view 1 from `sender` (signed with its key) whose P set claims
 * (seq 1, view 0, batch of one request) and whose Q set has that entry if with_q. */
static void make_vc_with_p(uint32_t sender, int with_p, int with_q, struct wire_buf *out)
{
	struct wire_msg m;
	struct wire_buf reqs, lists;
	struct wire_request req;
	struct wire_pitem pi;
	struct wire_qitem qi;
	uint8_t sig[64], d[32];
	size_t poff;

	wire_buf_init(&reqs);
	wire_buf_init(&lists);
	memset(&req, 0, sizeof(req));
	memcpy(req.client, H.keys.cli[0].pub, 32);
	req.timestamp = 7;
	req.op.p = (const uint8_t *)"evil=1";
	req.op.len = 6;
	wire_request_digest(H_GROUP, H_EPOCH, &req, d);
	ck_assert_int_eq(crypto_ed25519_sign(&H.keys.cli[0], d, 32, sig), 0);
	req.auth.p = sig;
	req.auth.len = 64;
	wire_put_request(&reqs, &req);
	memset(&pi, 0, sizeof(pi));
	pi.seq = 1;
	pi.view = 0;
	pi.batch.time = H.wall;
	pi.batch.count = 1;
	pi.batch.reqs.p = reqs.p;
	pi.batch.reqs.len = (uint32_t)reqs.len;
	wire_batch_digest(H_GROUP, H_EPOCH, &pi.batch, pi.digest);
	if (with_p)
		wire_put_pitem(&lists, &pi);
	poff = lists.len;
	qi.seq = 1;
	qi.view = 0;
	memcpy(qi.digest, pi.digest, 32);
	if (with_q)
		wire_put_qitem(&lists, &qi);
	memset(&m, 0, sizeof(m));
	h_hdr(&m.hdr, WIRE_VIEWCHANGE, sender);
	m.u.viewchange.new_view = 1;
	m.u.viewchange.p.count = with_p ? 1 : 0;
	m.u.viewchange.p.bytes.p = lists.p;
	m.u.viewchange.p.bytes.len = (uint32_t)poff;
	m.u.viewchange.q.count = with_q ? 1 : 0;
	m.u.viewchange.q.bytes.p = lists.p + poff;
	m.u.viewchange.q.bytes.len = (uint32_t)(lists.len - poff);
	wire_buf_reset(out);
	ck_assert_int_eq(wire_encode(out, &m), 0);
	ck_assert_int_eq(crypto_ed25519_sign(&H.keys.rep[sender], out->p, out->len - 64, sig), 0);
	wire_patch_sig(out, sig);
	wire_buf_free(&reqs);
	wire_buf_free(&lists);
}

static struct wire_buf nv_seen;
static int catch_nv(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	if (dm->hdr.type == WIRE_NEWVIEW && nv_seen.len == 0)
		wire_put_fixed(&nv_seen, m->p, m->len);
	return 0;
}

/* TOCS rule A2: replica 3 claims a prepared certificate no one else pre-prepared. With
 * VIEW-CHANGEs from 1 (the new primary), 2 and 3 the claim cannot be chosen (A2 needs
 * f+1 Q entries) and a null cannot be chosen either (only 2 without P): the primary
 * waits. Replica 0's VIEW-CHANGE (no P) then makes it a null request. */
START_TEST(t_newview_rule_a2)
{
	struct wire_buf b;
	struct wire_msg nv;
	struct wire_iter it;
	struct wire_nvitem item;
	uint8_t null[32];

	wire_buf_init(&b);
	wire_buf_init(&nv_seen);
	H.filter = catch_nv;
	make_vc_with_p(3, 1, 1, &b);
	h_enqueue(&H, 3, 1, b.p, b.len);
	make_vc_with_p(2, 0, 0, &b);
	h_enqueue(&H, 2, 1, b.p, b.len);
	h_run(&H, 2); /* f+1 VIEW-CHANGEs: replica 1 joins view 1 with its own */
	ck_assert_uint_eq(h_status(&H, 1).view, 1);
	ck_assert_int_eq(h_status(&H, 1).view_active, 0);
	ck_assert_uint_eq(nv_seen.len, 0);
	ck_assert(h_traced(&H, "seq 1 not decided by 3 VIEW-CHANGEs -> wait for more"));
	/* Replica 0's VIEW-CHANGE, relayed by replica 2 (signed: any replica may relay). */
	make_vc_with_p(0, 0, 0, &b);
	h_enqueue(&H, 2, 1, b.p, b.len);
	h_run(&H, 1000000);
	ck_assert_uint_gt(nv_seen.len, 0);
	ck_assert_int_eq(h_status(&H, 1).view_active, 1);
	ck_assert_int_eq(wire_decode(nv_seen.p, nv_seen.len, NULL, &nv), 0);
	ck_assert_uint_eq(nv.u.newview.items.count, 1);
	wire_iter_init(&it, &nv.u.newview.items);
	ck_assert(wire_next_nvitem(&it, &item));
	wire_null_digest(H_GROUP, H_EPOCH, null);
	ck_assert_uint_eq(item.seq, 1);
	ck_assert_mem_eq(item.digest, null, 32);
	/* With a second Q entry (replica 2 pre-prepared it too) A2 holds: chosen. */
	h_fini(&H);
	h_init(&H);
	h_start_all(&H);
	wire_buf_reset(&nv_seen);
	H.filter = catch_nv;
	make_vc_with_p(3, 1, 1, &b);
	h_enqueue(&H, 3, 1, b.p, b.len);
	make_vc_with_p(2, 0, 1, &b);
	h_enqueue(&H, 2, 1, b.p, b.len);
	h_run(&H, 1000000);
	ck_assert_uint_gt(nv_seen.len, 0);
	ck_assert_int_eq(wire_decode(nv_seen.p, nv_seen.len, NULL, &nv), 0);
	wire_iter_init(&it, &nv.u.newview.items);
	ck_assert(wire_next_nvitem(&it, &item));
	ck_assert_mem_ne(item.digest, null, 32);
	wire_buf_free(&b);
	wire_buf_free(&nv_seen);
}
END_TEST

static Suite *core_viewchange_suite(void)
{
	Suite *s = suite_create("core_viewchange");
	TCase *tc = tcase_create("viewchange");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_silent_primary_replaced);
	tcase_add_test(tc, t_two_failed_views);
	tcase_add_test(tc, t_prepared_survives_view_change);
	tcase_add_test(tc, t_prepared_survives_restart);
	tcase_add_test(tc, t_restart_during_view_change);
	tcase_add_test(tc, t_forged_viewchange_rejected);
	tcase_add_test(tc, t_viewchange_bad_proof_rejected);
	tcase_add_test(tc, t_bad_newview_rejected);
	tcase_add_test(tc, t_newview_rule_a2);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(core_viewchange_suite)
