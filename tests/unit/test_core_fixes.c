/* test_core_fixes.c: defects found by running bulwarkd: retransmitted pre-prepares
 * outside the clock skew still complete a commit certificate; a restarted replica that
 * lags does not blame a live primary; a replica alone in a higher view stops escalating
 * while the group is active below it and rejoins at the group's next view change; a
 * replica restarted with a half-transferred state fetches a checkpoint before it
 * executes; pbft_status exposes the stable checkpoint's digest. */
#include "tests/unit/test_core_harness.h"

static struct h H;

/* ---------------------------------------------------------------- the network */
static struct {
	int pp_primary_only;   /* PRE-PREPAREs to replica 3 only from the view's primary */
	int block3_log;        /* drop PRE-PREPARE and COMMIT to replica 3 */
	int c0_only_to3;       /* client 0's requests reach replica 3 only */
	uint32_t vc_from3;     /* VIEW-CHANGEs replica 3 sent */
	uint32_t pp_to3_from_primary; /* PRE-PREPAREs of the view's primary delivered to 3 */
} net;

static int fx_filter(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	if (dm->hdr.type == WIRE_VIEWCHANGE && m->from == 3 && m->to == 0)
		net.vc_from3++;
	if (m->to == 3 && dm->hdr.type == WIRE_PREPREPARE) {
		uint32_t primary = (uint32_t)(dm->u.preprepare.view % H_N);
		if (net.block3_log || (net.pp_primary_only && m->from != primary))
			return 1;
		net.pp_to3_from_primary++;
	}
	if (net.block3_log && m->to == 3 && dm->hdr.type == WIRE_COMMIT)
		return 1;
	if (net.c0_only_to3 && dm->hdr.type == WIRE_REQUEST && m->to < H_N && m->to != 3 &&
	    memcmp(dm->u.request.client, H.keys.cli[0].pub, 32) == 0)
		return 1;
	return 0;
}

/* ---------------------------------------------------------------- the app */
/* An interrupted state transfer, as the store leaves it: the state is partly copied,
 * executing is refused until a transfer finishes (store_txn_begin returns
 * STORE_ERR_TRANSFER). */
static int fx_pending[H_N];

static uint32_t fx_index(void *ctx)
{
	return (uint32_t)((struct h_app *)ctx - H.app);
}

static int fx_execute(void *ctx, uint64_t seq, const struct wire_batch *b, struct pbft_results *res)
{
	if (fx_pending[fx_index(ctx)])
		return -1;
	return h_execute(ctx, seq, b, res);
}

static int fx_checkpoint(void *ctx, uint64_t seq, uint8_t digest[32])
{
	if (fx_pending[fx_index(ctx)])
		return -1;
	return h_checkpoint(ctx, seq, digest);
}

static int fx_finish_transfer(void *ctx, uint64_t ckpt, const uint8_t digest[32])
{
	int rc = h_finish_transfer(ctx, ckpt, digest);

	if (rc == 0)
		fx_pending[fx_index(ctx)] = 0;
	return rc;
}

static void setup(void)
{
	h_init(&H);
	memset(&net, 0, sizeof(net));
	memset(fx_pending, 0, sizeof(fx_pending));
	for (uint32_t i = 0; i < H_N; i++) {
		H.cfg[i].app.execute = fx_execute;
		H.cfg[i].app.checkpoint = fx_checkpoint;
		H.cfg[i].app.finish_transfer = fx_finish_transfer;
	}
	h_start_all(&H);
	H.filter = fx_filter;
}

static void teardown(void)
{
	h_fini(&H);
}

/* count ordered ops, one batch each, from clients first.. (round robin over the rest). */
static void run_ops(uint32_t count, uint32_t first, uint32_t tag)
{
	char op[32];

	for (uint32_t k = 0; k < count; k++) {
		uint32_t c = first + k % (H_CLIENTS - first);
		snprintf(op, sizeof(op), "k%u=%u.%u", k % 5, tag, k);
		ck_assert_msg(h_do(&H, c, op, 0, 5000), "op %u did not complete", k);
	}
}

static void assert_same_state(uint32_t a, uint32_t b)
{
	uint8_t ra[32], rb[32];

	ck_assert_uint_eq(h_status(&H, a).last_executed, h_status(&H, b).last_executed);
	h_root(&H.app[a].st, ra);
	h_root(&H.app[b].st, rb);
	ck_assert_mem_eq(ra, rb, 32);
}

/* ---------------------------------------------------------------- 1. clock skew */
/* Replica 3 restarts after the group committed seqs 1..3, its clock a minute past the
 * batches' times. The batches reach it only as the primary's retransmitted
 * PRE-PREPAREs (the other replicas' copies are lost): each comes with 2f+1 COMMITs, so
 * it is executed although its time is far outside the skew. No PREPARE is sent for it. */
START_TEST(t_skew_not_applied_to_commit_certificates)
{
	H.crashed[3] = 1;
	run_ops(3, 0, 1);
	ck_assert_uint_eq(h_status(&H, 0).last_executed, 3);
	H.wall += 60000;
	net.pp_primary_only = 1;
	h_start(&H, 3);
	h_advance(&H, 2000, 10);
	ck_assert_uint_gt(net.pp_to3_from_primary, 0);
	assert_same_state(3, 0);
	ck_assert_uint_eq(H.app[3].transfers, 0);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(h_status(&H, i).view, 0);
		ck_assert(h_status(&H, i).view_active);
	}
	/* Fresh proposals (times from the clock everyone shares) are prepared by all. */
	net.pp_primary_only = 0;
	H.crashed[1] = 1; /* so replica 3's PREPARE and COMMIT are needed */
	run_ops(2, 1, 2);
	assert_same_state(3, 0);
}
END_TEST

/* ---------------------------------------------------------------- 2. lone view change */
/* Replica 3 restarts behind the group and receives a client's retransmission of a
 * request the group executed long ago. Its catch-up is slow (the log retransmissions
 * are lost for 7 s). Its peers' STATUS show f+1 replicas of its view ahead of it: it
 * waits for its catch-up instead of blaming the live primary, and once caught up the
 * request is found executed and the timer stops. */
START_TEST(t_restart_lagging_no_view_change)
{
	const char *op = "k9=late";
	uint8_t req[512];
	size_t len = 0;

	H.crashed[3] = 1;
	run_ops(2, 1, 1); /* seqs 1, 2; with client 0's below: 3, under checkpoint 4 */
	/* Capture client 0's request as the primary receives it. */
	h_invoke(&H, 0, op, 0);
	for (size_t k = 0; k < H.qn; k++) {
		const struct h_msg *m = &H.q[H.qhead + k];
		if (m->from == WIRE_SENDER_CLIENT && m->to == 0) {
			ck_assert_uint_le(m->len, sizeof(req));
			memcpy(req, m->p, m->len);
			len = m->len;
		}
	}
	ck_assert_uint_gt(len, 0);
	h_run(&H, 1000000);
	while (!H.cdone[0])
		h_advance(&H, 10, 10);
	ck_assert_uint_eq(h_status(&H, 0).last_executed, 3);

	net.block3_log = 1;
	h_start(&H, 3);
	h_enqueue(&H, WIRE_SENDER_CLIENT, 3, req, len); /* the client's retransmission */
	h_advance(&H, 7000, 10);
	ck_assert_uint_eq(net.vc_from3, 0);
	ck_assert_uint_eq(h_status(&H, 3).view, 0);
	ck_assert(h_status(&H, 3).view_active);
	ck_assert_uint_eq(h_status(&H, 3).last_executed, 0);

	net.block3_log = 0;
	h_advance(&H, 3000, 10);
	assert_same_state(3, 0);
	ck_assert_uint_eq(net.vc_from3, 0);
	ck_assert_uint_eq(h_status(&H, 3).view, 0);
	/* Caught up, its request timer is quiet: ten more seconds bring no view change. */
	h_advance(&H, 10000, 10);
	ck_assert_uint_eq(net.vc_from3, 0);
	for (uint32_t i = 0; i < H_N; i++)
		ck_assert_uint_eq(h_status(&H, i).view, 0);
}
END_TEST

/* Replica 3 alone holds a request (the others never see it) and starts a view change
 * to view 1 alone. The others stay active in view 0 and say so in their STATUS: replica
 * 3 stops escalating (view 1, not 1 + log2 of the time). Meanwhile it executes what
 * the group commits in view 0 (commit certificates). When the group changes view
 * (its primary crashes), view 1 is the one it reaches, and replica 3 rejoins. */
START_TEST(t_lone_view_change_capped_and_rejoins)
{
	net.c0_only_to3 = 1;
	h_advance(&H, 1000, 10); /* STATUS rounds: everyone has heard everyone */
	h_invoke(&H, 0, "k1=lonely", 0);
	h_advance(&H, 3000, 10);
	ck_assert_uint_eq(h_status(&H, 3).view, 1);
	ck_assert(!h_status(&H, 3).view_active);
	ck_assert_uint_gt(net.vc_from3, 0);

	/* The group goes on in view 0; replica 3 executes what it commits. */
	run_ops(5, 1, 1);
	h_advance(&H, 20000, 10);
	ck_assert_uint_eq(h_status(&H, 3).view, 1);
	ck_assert(!h_status(&H, 3).view_active);
	for (uint32_t i = 0; i < 3; i++) {
		ck_assert_uint_eq(h_status(&H, i).view, 0);
		ck_assert(h_status(&H, i).view_active);
	}
	ck_assert_uint_eq(h_status(&H, 0).last_executed, 5);
	assert_same_state(3, 0);

	/* The primary crashes: the group's next view is 1, and replica 3 is in it. */
	H.crashed[0] = 1;
	net.c0_only_to3 = 0;
	ck_assert(h_do(&H, 1, "k2=after", 0, 20000));
	for (uint32_t i = 1; i < H_N; i++) {
		ck_assert_uint_eq(h_status(&H, i).view, 1);
		ck_assert(h_status(&H, i).view_active);
	}
	h_advance(&H, 5000, 10);
	ck_assert(H.cdone[0]);
	assert_same_state(3, 1);
	assert_same_state(3, 2);
}
END_TEST

/* ---------------------------------------------------------------- 3. interrupted transfer */
/* Replica 3 crashed in the middle of a state transfer: its state is partly copied and
 * the app refuses to execute. Restarted with state_incomplete, it executes nothing,
 * fetches its last stable checkpoint first, then catches up with the group's log. */
START_TEST(t_restart_with_incomplete_state)
{
	struct pbft_status st;

	run_ops(10, 0, 1); /* checkpoints 4 and 8 stable everywhere */
	ck_assert_uint_eq(h_status(&H, 3).low_watermark, 8);
	H.crashed[3] = 1;
	h_set(&H.app[3].st, "k0", "half-copied");
	h_set(&H.app[3].st, "zz", "stale");
	fx_pending[3] = 1;
	H.cfg[3].state_incomplete = 1;
	h_start(&H, 3);
	st = h_status(&H, 3);
	ck_assert(st.transferring);
	run_ops(3, 1, 2);
	h_advance(&H, 3000, 10);
	ck_assert_int_eq(fx_pending[3], 0);
	/* Checkpoint 8 first; checkpoint 12, stable meanwhile, may be fetched too. */
	ck_assert_uint_ge(H.app[3].transfers, 1);
	st = h_status(&H, 3);
	ck_assert(!st.transferring);
	ck_assert_uint_eq(st.last_executed, 13);
	assert_same_state(3, 0);
	ck_assert_ptr_null(h_get(&H.app[3].st, "zz"));
	ck_assert_str_eq(h_get(&H.app[3].st, "k0"), h_get(&H.app[0].st, "k0"));
	/* And it takes part again: with replica 0 down, 3 is needed for a quorum. */
	H.crashed[0] = 1;
	ck_assert(h_do(&H, 2, "k3=quorum", 0, 20000));
	assert_same_state(3, 1);
}
END_TEST

/* Without any stable checkpoint of its own, the replica waits for one its peers prove
 * (their STATUS answers ours with the proof) and fetches it. */
START_TEST(t_restart_incomplete_without_own_checkpoint)
{
	H.crashed[3] = 1;
	run_ops(6, 0, 1); /* checkpoint 4 stable at 0..2; replica 3 has none */
	fx_pending[3] = 1;
	h_set(&H.app[3].st, "k1", "partial");
	H.cfg[3].state_incomplete = 1;
	h_start(&H, 3);
	ck_assert_uint_eq(h_status(&H, 3).low_watermark, 0);
	h_advance(&H, 3000, 10);
	ck_assert_int_eq(fx_pending[3], 0);
	ck_assert_uint_eq(H.app[3].transfers, 1);
	assert_same_state(3, 0);
	ck_assert_uint_eq(h_status(&H, 3).low_watermark, 4);
}
END_TEST

/* ---------------------------------------------------------------- 4. status */
START_TEST(t_status_stable_digest)
{
	static const uint8_t zero[32];
	struct pbft_status st = h_status(&H, 1);
	struct h_snap *snap;
	uint8_t want[32];

	ck_assert_mem_eq(st.stable_digest, zero, 32);
	run_ops(5, 0, 1);
	for (uint32_t i = 0; i < H_N; i++) {
		st = h_status(&H, i);
		ck_assert_uint_eq(st.low_watermark, 4);
		snap = h_snap_find(&H.app[i], 4);
		ck_assert_ptr_nonnull(snap);
		h_root(&snap->st, want);
		ck_assert_mem_eq(st.stable_digest, want, 32);
		/* The live state moved on past the checkpoint: not its digest. */
		h_root(&H.app[i].st, want);
		ck_assert_mem_ne(st.stable_digest, want, 32);
	}
}
END_TEST

static Suite *core_fixes_suite(void)
{
	Suite *s = suite_create("core_fixes");
	TCase *tc = tcase_create("fixes");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_skew_not_applied_to_commit_certificates);
	tcase_add_test(tc, t_restart_lagging_no_view_change);
	tcase_add_test(tc, t_lone_view_change_capped_and_rejoins);
	tcase_add_test(tc, t_restart_with_incomplete_state);
	tcase_add_test(tc, t_restart_incomplete_without_own_checkpoint);
	tcase_add_test(tc, t_status_stable_digest);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(core_fixes_suite)
