/* test_core_ckpt.c: checkpoints, stable checkpoints and log truncation, bounded memory,
 * restart from durable records, and state transfer of a replica that fell behind. */
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

static void run_ops(uint32_t count, uint32_t tag)
{
	char op[32];

	for (uint32_t k = 0; k < count; k++) {
		uint32_t c = k % H_CLIENTS;
		snprintf(op, sizeof(op), "k%u=%u.%u", k % 7, tag, k);
		ck_assert_msg(h_do(&H, c, op, 0, 5000), "op %u did not complete", k);
	}
}

static size_t count_records(uint32_t i, uint8_t kind, uint64_t at_or_below)
{
	size_t n = 0;

	for (size_t k = 0; k < H.store[i].n; k++)
		if (H.store[i].r[k].kind == kind && H.store[i].r[k].key <= at_or_below)
			n++;
	return n;
}

START_TEST(t_checkpoints_stable_and_log_truncated)
{
	/* K = 4, L = 16: one request per batch here. */
	run_ops(10, 1);
	for (uint32_t i = 0; i < H_N; i++) {
		struct pbft_status st = h_status(&H, i);
		ck_assert_uint_eq(st.last_executed, 10);
		ck_assert_uint_eq(st.low_watermark, 8);
		/* Pre-prepare (kind 2) and prepared (kind 3) records <= 8 are deleted. */
		ck_assert_uint_eq(count_records(i, 2, 8), 0);
		ck_assert_uint_eq(count_records(i, 3, 8), 0);
		ck_assert_uint_gt(count_records(i, 2, 10), 0);
		ck_assert_uint_eq(count_records(i, 4, 0), 1); /* the stable checkpoint */
	}
	ck_assert(h_traced(&H, "-> stable, low watermark 8"));
}
END_TEST

START_TEST(t_memory_bounded)
{
	size_t m1, m2;

	run_ops(60, 1);
	m1 = h_status(&H, 1).memory;
	run_ops(120, 2);
	m2 = h_status(&H, 1).memory;
	ck_assert_uint_gt(m1, 0);
	/* Same shape of traffic: no growth beyond buffer rounding. */
	ck_assert_msg(m2 <= m1 + m1 / 10, "memory grew from %zu to %zu", m1, m2);
	ck_assert_uint_eq(h_status(&H, 1).low_watermark, 180);
	ck_assert_uint_le(H.store[1].n, 40); /* records stay bounded too */
}
END_TEST

START_TEST(t_restart_from_records)
{
	run_ops(6, 1);
	/* Crash replica 2 and bring it back from its records and app state. */
	H.crashed[2] = 1;
	run_ops(3, 2);
	h_start(&H, 2);
	{
		struct pbft_status st = h_status(&H, 2);
		ck_assert_uint_eq(st.view, 0);
		ck_assert_int_eq(st.view_active, 1);
		ck_assert_uint_eq(st.low_watermark, 4);
		ck_assert_uint_eq(st.last_executed, 6);
	}
	/* It is below the others' stable checkpoint 8: it fetches that state, then gets
	 * seq 9 by STATUS retransmission, and keeps participating. */
	h_advance(&H, 1000, 10);
	ck_assert_uint_eq(h_status(&H, 2).last_executed, 9);
	ck_assert_uint_eq(H.app[2].transfers, 1);
	run_ops(4, 3);
	for (uint32_t i = 0; i < H_N; i++) {
		uint8_t a[32], b[32];
		ck_assert_uint_eq(h_status(&H, i).last_executed, 13);
		h_root(&H.app[0].st, a);
		h_root(&H.app[i].st, b);
		ck_assert_mem_eq(a, b, 32);
	}
	/* The restarted replica counts for quorums: with replica 3 down, 0, 1, 2 commit. */
	H.crashed[3] = 1;
	run_ops(2, 4);
	ck_assert_uint_eq(h_status(&H, 2).last_executed, 15);
}
END_TEST

START_TEST(t_restart_rejects_bad_records)
{
	struct pbft_record rec;
	struct pbft *r = NULL;
	const uint8_t junk[5] = { 1, 2, 3, 4, 5 };

	memset(&rec, 0, sizeof(rec));
	rec.kind = 1; /* VIEW, truncated */
	rec.len = sizeof(junk);
	ck_assert_int_eq(pbft_new(&H.cfg[0], &rec, junk, 1, 0, H.now, &r), PBFT_ERR_RECORD);
	ck_assert_ptr_null(r);
	rec.kind = 99;
	rec.len = 0;
	ck_assert_int_eq(pbft_new(&H.cfg[0], &rec, junk, 1, 0, H.now, &r), PBFT_ERR_RECORD);
	rec.kind = 2; /* PP with a garbage batch */
	rec.key = 3;
	rec.len = sizeof(junk);
	ck_assert_int_eq(pbft_new(&H.cfg[0], &rec, junk, 1, 0, H.now, &r), PBFT_ERR_RECORD);
}
END_TEST

/* A VIEW record: view, active, last active view, the view's NEW-VIEW max-s. */
static size_t view_rec(uint8_t out[25], uint64_t view, uint8_t active, uint64_t max_s)
{
	struct wire_buf b;

	wire_buf_init(&b);
	wire_put_u64(&b, view);
	wire_put_u8(&b, active);
	wire_put_u64(&b, view);
	wire_put_u64(&b, max_s);
	ck_assert_uint_eq(b.len, 25);
	memcpy(out, b.p, b.len);
	wire_buf_free(&b);
	return 25;
}

/* A primary restarted in the view its NEW-VIEW started proposes above that NEW-VIEW's
 * max-s, even with no PP record of it (those seqs were beyond its window then); a
 * backup, or a replica still changing views, takes nothing from it. */
START_TEST(t_restart_primary_above_newview)
{
	struct pbft_record rec;
	struct pbft_status st;
	struct pbft *r = NULL;
	uint8_t v[25];

	memset(&rec, 0, sizeof(rec));
	rec.kind = 1;
	rec.len = view_rec(v, 4, 1, 9); /* view 4: replica 0 is its primary (n = 4) */
	ck_assert_int_eq(pbft_new(&H.cfg[0], &rec, v, 1, 0, H.now, &r), 0);
	pbft_get_status(r, &st);
	ck_assert_uint_eq(st.view, 4);
	ck_assert_uint_eq(st.last_proposed, 9);
	pbft_free(r);
	r = NULL;
	ck_assert_int_eq(pbft_new(&H.cfg[1], &rec, v, 1, 0, H.now, &r), 0);
	pbft_get_status(r, &st);
	ck_assert_uint_eq(st.last_proposed, 0); /* replica 1 is a backup of view 4 */
	pbft_free(r);
	r = NULL;
	rec.len = view_rec(v, 4, 0, 9); /* changing to view 4: no NEW-VIEW yet */
	ck_assert_int_eq(pbft_new(&H.cfg[0], &rec, v, 1, 0, H.now, &r), PBFT_ERR_RECORD);
	ck_assert_ptr_null(r);
	rec.len = 17; /* the record without the field */
	ck_assert_int_eq(pbft_new(&H.cfg[0], &rec, v, 1, 0, H.now, &r), PBFT_ERR_RECORD);
}
END_TEST

/* A replica down for more than a log window comes back below everyone's low watermark:
 * it learns the stable checkpoint, fetches only the differing partitions, and rejoins. */
START_TEST(t_state_transfer)
{
	uint8_t r0[32], r3[32];

	run_ops(3, 1);
	H.crashed[3] = 1;
	run_ops(40, 2);
	ck_assert_uint_ge(h_status(&H, 0).low_watermark, 40);
	h_start(&H, 3);
	h_advance(&H, 3000, 10);
	ck_assert_uint_eq(H.app[3].transfers, 1);
	ck_assert_uint_eq(h_status(&H, 3).last_executed, 43);
	ck_assert_uint_eq(h_status(&H, 3).low_watermark, h_status(&H, 0).low_watermark);
	h_root(&H.app[0].st, r0);
	h_root(&H.app[3].st, r3);
	ck_assert_mem_eq(r0, r3, 32);
	ck_assert(h_traced(&H, "state transfer") || H.app[3].transfers == 1);
	/* It takes part again: with replica 0 down, 1, 2, 3 commit. */
	run_ops(2, 3);
	ck_assert_uint_eq(h_status(&H, 3).last_executed, 45);
}
END_TEST

/* A server answering with a wrong META is detected by the digest check and another
 * replica is asked. */
static int corrupt_meta(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	if (dm->hdr.type == WIRE_META && m->from == 0 && dm->u.meta.children.count > 0) {
		m->p[m->len - 1] ^= 1; /* last child digest byte */
		return 0;
	}
	return 0;
}

START_TEST(t_state_transfer_bad_server)
{
	uint8_t r0[32], r3[32];

	run_ops(3, 1);
	H.crashed[3] = 1;
	run_ops(40, 2);
	H.filter = corrupt_meta;
	h_start(&H, 3);
	h_advance(&H, 6000, 10);
	ck_assert_uint_eq(h_status(&H, 3).last_executed, 43);
	h_root(&H.app[0].st, r0);
	h_root(&H.app[3].st, r3);
	ck_assert_mem_eq(r0, r3, 32);
}
END_TEST

/* ---------------------------------------------------------------- durable_async */
static void async_all(void)
{
	for (uint32_t i = 0; i < H_N; i++) {
		H.cfg[i].durable_async = 1;
		h_start(&H, i);
	}
}

static void durable(uint32_t i, uint64_t seq)
{
	struct pbft_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_DURABLE;
	ev.now = H.now;
	ev.wall = H.wall;
	ev.durable = seq;
	h_step_replica(&H, i, &ev);
}

/* A proven checkpoint waits for the replica's own state at it to be durable; the
 * report makes it stable, and its record then needs no sync. */
START_TEST(t_stable_waits_for_durable_state)
{
	struct pbft_status st;
	uint64_t dropped;

	async_all();
	run_ops(5, 1); /* K = 4: checkpoint 4 proven everywhere */
	for (uint32_t i = 0; i < H_N; i++) {
		st = h_status(&H, i);
		ck_assert_uint_eq(st.last_executed, 5);
		ck_assert_uint_eq(st.low_watermark, 0);
		ck_assert_uint_eq(st.stable_waiting, 4);
		ck_assert_uint_eq(st.durable, 0);
		ck_assert_uint_eq(count_records(i, 4, 0), 0);
		ck_assert_uint_gt(count_records(i, 2, 4), 0);
	}
	ck_assert(h_traced(&H, "-> stable once durable"));
	/* Below the checkpoint: not yet. */
	durable(0, 3);
	ck_assert_uint_eq(h_status(&H, 0).low_watermark, 0);
	ck_assert_uint_eq(h_status(&H, 0).durable, 3);
	durable(0, 4);
	st = h_status(&H, 0);
	ck_assert_uint_eq(st.low_watermark, 4);
	ck_assert_uint_eq(st.stable_waiting, 0);
	ck_assert_uint_eq(st.durable, 4);
	ck_assert_uint_gt(H.up.nrec, 0);
	ck_assert_int_eq(H.up.sync, 0);
	ck_assert_uint_eq(count_records(0, 4, 0), 1);
	ck_assert_uint_eq(count_records(0, 2, 4), 0);
	ck_assert_uint_eq(count_records(0, 3, 4), 0);
	/* A report above what was executed is dropped and changes nothing. */
	dropped = h_status(&H, 1).dropped;
	durable(1, 6);
	st = h_status(&H, 1);
	ck_assert_uint_eq(st.dropped, dropped + 1);
	ck_assert_uint_eq(st.durable, 0);
	ck_assert_uint_eq(st.low_watermark, 0);
	ck_assert_uint_eq(st.stable_waiting, 4);
	/* The group goes on; a later report covers the newest proven checkpoint. */
	run_ops(4, 2);
	ck_assert_uint_eq(h_status(&H, 2).low_watermark, 0);
	ck_assert_uint_eq(h_status(&H, 2).stable_waiting, 8);
	durable(2, 9);
	ck_assert_uint_eq(h_status(&H, 2).low_watermark, 8);
	for (uint32_t i = 0; i < H_N; i++)
		ck_assert_uint_eq(H.app[i].syncs, 0);
}
END_TEST

/* An event of this type is refused by replica 0 before it does anything: nothing sent,
 * nothing recorded. */
static void expect_refused(enum pbft_event_type type)
{
	struct pbft_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.now = H.now;
	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_step(H.r[0], &ev, &H.up), PBFT_ERR_ARG);
	ck_assert_uint_eq(H.up.nout, 0);
	ck_assert_uint_eq(H.up.nrec, 0);
}

/* Without durable_async the event is refused, and durable_async needs app.sync. */
START_TEST(t_durable_event_needs_async)
{
	struct pbft_config c;
	struct pbft *r = NULL;

	expect_refused(PBFT_EV_DURABLE);
	c = H.cfg[0];
	c.durable_async = 1;
	c.app.sync = NULL;
	ck_assert_int_eq(pbft_new(&c, NULL, NULL, 0, 0, H.now, &r), PBFT_ERR_ARG);
	ck_assert_ptr_null(r);
}
END_TEST

/* A NEW-VIEW moves the window past a checkpoint whose state the driver has not yet
 * reported durable: the app syncs it at once. */
START_TEST(t_new_view_syncs_undurable_checkpoint)
{
	async_all();
	run_ops(5, 1);
	durable(1, 4); /* only the next primary's stable checkpoint is 4 */
	H.crashed[0] = 1;
	ck_assert(h_do(&H, 1, "x=1", 0, 10000));
	for (uint32_t i = 1; i < H_N; i++) {
		struct pbft_status st = h_status(&H, i);
		ck_assert_uint_eq(st.view, 1);
		ck_assert_uint_ge(st.low_watermark, 4);
		ck_assert_uint_ge(st.durable, 4);
	}
	ck_assert_uint_eq(H.app[1].syncs, 0);
	ck_assert_uint_eq(H.app[2].syncs, 1);
	ck_assert_uint_eq(H.app[3].syncs, 1);
	ck_assert(h_traced(&H, "stable before our state is durable"));
}
END_TEST

/* ---------------------------------------------------------------- idle_verify */
static void idle(uint32_t i)
{
	h_step_type(&H, i, PBFT_EV_IDLE);
}

/* Replica `claimed`'s CHECKPOINT(seq, digest) relayed by `from` to replica 0, signed
 * with claimed's key or (forged) with random bytes. */
static void inject_ckpt(uint32_t from, uint32_t claimed, uint64_t seq, const uint8_t *digest,
			int forged)
{
	struct wire_msg m;
	struct wire_buf b;
	uint8_t sig[WIRE_SIG_LEN];
	static uint8_t forgeries;

	memset(&m, 0, sizeof(m));
	h_hdr(&m.hdr, WIRE_CHECKPOINT, claimed);
	m.u.checkpoint.seq = seq;
	memcpy(m.u.checkpoint.digest, digest, WIRE_DIGEST_LEN);
	wire_buf_init(&b);
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	if (forged) {
		memset(sig, 0x5a, sizeof(sig));
		sig[0] = forgeries++; /* each forgery its own signature bytes */
	} else {
		ck_assert_int_eq(crypto_ed25519_sign(&H.keys.rep[claimed], b.p, b.len - WIRE_SIG_LEN, sig), 0);
	}
	wire_patch_sig(&b, sig);
	h_enqueue(&H, from, 0, b.p, b.len);
	wire_buf_free(&b);
	h_run(&H, 1000000);
}

/* CHECKPOINT signatures wait for idle steps, and only the 2f a quorum needs (with the
 * replica's own) are checked. Forgeries relayed by a faulty replica, even ahead of the
 * real ones and making a quorum by count with its own, prove nothing and do not keep
 * the real ones out. */
START_TEST(t_idle_verify_checks_what_a_quorum_needs)
{
	uint8_t bogus[WIRE_DIGEST_LEN];
	struct pbft_status st;
	uint64_t dropped;
	int steps;

	for (uint32_t i = 0; i < H_N; i++) {
		H.cfg[i].idle_verify = 1;
		h_start(&H, i);
	}
	run_ops(5, 1);
	ck_assert_uint_eq(h_status(&H, 0).low_watermark, 0);
	ck_assert_uint_eq(H.cctx[0].verifies, 0);
	ck_assert_int_eq(H.up.idle, 1);
	for (steps = 0; steps < 8 && h_status(&H, 0).low_watermark < 4; steps++)
		idle(0);
	ck_assert_uint_eq(h_status(&H, 0).low_watermark, 4);
	ck_assert_uint_eq(H.cctx[0].verifies, 2);
	ck_assert_int_eq(steps, 2);
	idle(0); /* nothing left: the core says so */
	ck_assert_int_eq(H.up.idle, 0);
	ck_assert_uint_eq(H.cctx[0].verifies, 2);

	/* Ahead of checkpoint 8: replica 3 signs a bogus digest and relays it in the names
	 * of 1 and 2 with made-up signatures. */
	memset(bogus, 0xb0, sizeof(bogus));
	dropped = h_status(&H, 0).dropped;
	inject_ckpt(3, 3, 8, bogus, 0);
	inject_ckpt(3, 1, 8, bogus, 1);
	inject_ckpt(3, 2, 8, bogus, 1);
	ck_assert_uint_eq(H.cctx[0].verifies, 2);
	/* Another signature in 1's name: the unchecked one held is checked first. */
	inject_ckpt(3, 1, 8, bogus, 1);
	ck_assert_uint_eq(H.cctx[0].verifies, 3);
	ck_assert_uint_eq(h_status(&H, 0).dropped, dropped + 1);
	for (int k = 0; k < 4; k++)
		idle(0);
	st = h_status(&H, 0);
	ck_assert_uint_eq(st.low_watermark, 4);
	/* One more forgery checked fails; the two left are no quorum: not checked. */
	ck_assert_uint_eq(st.dropped, dropped + 2);
	ck_assert_uint_eq(H.cctx[0].verifies, 4);
	ck_assert_int_eq(H.up.idle, 0);
	/* The real checkpoint 8 still becomes stable, with the state's digest. */
	run_ops(4, 2);
	for (steps = 0; steps < 8 && h_status(&H, 0).low_watermark < 8; steps++)
		idle(0);
	st = h_status(&H, 0);
	ck_assert_uint_eq(st.low_watermark, 8);
	ck_assert(memcmp(st.stable_digest, bogus, WIRE_DIGEST_LEN) != 0);
	for (uint32_t i = 1; i < H_N; i++) {
		for (steps = 0; steps < 8 && h_status(&H, i).low_watermark < 8; steps++)
			idle(i);
		ck_assert_mem_eq(h_status(&H, i).stable_digest, st.stable_digest, WIRE_DIGEST_LEN);
	}
}
END_TEST

/* Without idle_verify the event is refused, as is a type that does not exist. */
START_TEST(t_idle_event_needs_idle_verify)
{
	expect_refused(PBFT_EV_IDLE);
	expect_refused((enum pbft_event_type)99); /* no such event */
}
END_TEST

static Suite *core_ckpt_suite(void)
{
	Suite *s = suite_create("core_ckpt");
	TCase *tc = tcase_create("ckpt");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_checkpoints_stable_and_log_truncated);
	tcase_add_test(tc, t_memory_bounded);
	tcase_add_test(tc, t_restart_from_records);
	tcase_add_test(tc, t_restart_rejects_bad_records);
	tcase_add_test(tc, t_restart_primary_above_newview);
	tcase_add_test(tc, t_state_transfer);
	tcase_add_test(tc, t_state_transfer_bad_server);
	tcase_add_test(tc, t_stable_waits_for_durable_state);
	tcase_add_test(tc, t_durable_event_needs_async);
	tcase_add_test(tc, t_new_view_syncs_undurable_checkpoint);
	tcase_add_test(tc, t_idle_verify_checks_what_a_quorum_needs);
	tcase_add_test(tc, t_idle_event_needs_idle_verify);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(core_ckpt_suite)
