/* test_core_exactly.c: exactly-once from the replicated client table: a transferred
 * replica skips a re-proposed executed request like the others, a restarted replica
 * answers a retransmission from the app's table without executing it again, a request
 * no batch can hold is refused without a view change, and a replica alone in a higher
 * view still executes what the others commit in the older view. */
#include "tests/unit/test_core_harness.h"

static struct h H;

/* A REQUEST of client 0 with a given op, captured as it passes the network. */
static struct {
	const char *op;
	uint8_t bytes[512];
	size_t len;
	uint64_t ts;
} cap;

/* Replies to client 0 seen on the network, per replica. */
static struct {
	uint64_t ts;          /* timestamp counted */
	char result[64];      /* result expected */
	uint32_t matching[H_N];
	uint32_t other[H_N];
} rep;

static int isolate3;      /* drop replica traffic to and from replica 3 */

static void setup(void)
{
	h_init(&H);
	h_start_all(&H);
	memset(&cap, 0, sizeof(cap));
	memset(&rep, 0, sizeof(rep));
	isolate3 = 0;
}

static void teardown(void)
{
	h_fini(&H);
}

static int observe(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	if (dm->hdr.type == WIRE_REQUEST && m->from == WIRE_SENDER_CLIENT && cap.op &&
	    cap.len == 0 && memcmp(dm->u.request.client, h->keys.cli[0].pub, 32) == 0 &&
	    dm->u.request.op.len == strlen(cap.op) &&
	    memcmp(dm->u.request.op.p, cap.op, dm->u.request.op.len) == 0) {
		ck_assert_uint_le(m->len, sizeof(cap.bytes));
		memcpy(cap.bytes, m->p, m->len);
		cap.len = m->len;
		cap.ts = dm->u.request.timestamp;
	}
	if (dm->hdr.type == WIRE_REPLY && m->to == H_N && m->from < H_N && rep.ts &&
	    dm->u.reply.timestamp == rep.ts) {
		if (dm->u.reply.result.len == strlen(rep.result) &&
		    memcmp(dm->u.reply.result.p, rep.result, dm->u.reply.result.len) == 0)
			rep.matching[m->from]++;
		else
			rep.other[m->from]++;
	}
	if (isolate3 && m->from != WIRE_SENDER_CLIENT && m->to < H_N && (m->from == 3 || m->to == 3))
		return 1;
	return 0;
}

static void run_ops(uint32_t count, uint32_t first_client, uint32_t tag)
{
	char op[32];

	for (uint32_t k = 0; k < count; k++) {
		uint32_t c = first_client + k % (H_CLIENTS - first_client);
		snprintf(op, sizeof(op), "k%u=%u.%u", k % 7, tag, k);
		ck_assert_msg(h_do(&H, c, op, 0, 5000), "op %u did not complete", k);
	}
}

static uint64_t total_executed(void)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < H_N; i++)
		n += H.app[i].executed_requests;
	return n;
}

/* Client 0 runs op to completion; its REQUEST is captured. */
static void do_captured(const char *op)
{
	cap.op = op;
	cap.len = 0;
	ck_assert(h_do(&H, 0, op, 0, 5000));
	ck_assert_uint_gt(cap.len, 0);
}

/* The exact divergence the simulator found: replica 3 reaches a checkpoint by state
 * transfer, so it never executed client 0's request itself; a faulty primary then
 * proposes that request again. Every replica, 3 included, finds it in the replicated
 * client table and skips it. */
START_TEST(t_transfer_then_replayed_request_skipped)
{
	struct wire_msg pp, d;
	struct wire_buf b;
	uint64_t seq, before;
	uint8_t r1[32], r3[32];

	H.filter = observe;
	H.crashed[3] = 1;
	do_captured("x=1");
	ck_assert(h_do(&H, 1, "x=2", 0, 5000));
	run_ops(40, 1, 1); /* client 0's last request stays "x=1" */
	ck_assert_uint_ge(h_status(&H, 0).low_watermark, 40);
	h_start(&H, 3);
	h_advance(&H, 3000, 10);
	ck_assert_uint_eq(H.app[3].transfers, 1);
	seq = h_status(&H, 0).last_executed;
	ck_assert_uint_eq(h_status(&H, 3).last_executed, seq);
	ck_assert_str_eq(h_get(&H.app[3].st, "x"), "2");

	/* Primary 0 (view 0) proposes the request executed long ago at the next seq. */
	ck_assert_uint_eq(h_status(&H, 0).view, 0);
	ck_assert_int_eq(wire_decode(cap.bytes, cap.len, NULL, &d), 0);
	memset(&pp, 0, sizeof(pp));
	h_hdr(&pp.hdr, WIRE_PREPREPARE, 0);
	pp.u.preprepare.view = 0;
	pp.u.preprepare.seq = seq + 1;
	wire_buf_init(&b);
	wire_put_request(&b, &d.u.request);
	ck_assert(!wire_buf_error(&b));
	pp.u.preprepare.batch.time = H.wall;
	pp.u.preprepare.batch.count = 1;
	pp.u.preprepare.batch.reqs.p = b.p;
	pp.u.preprepare.batch.reqs.len = (uint32_t)b.len;
	wire_batch_digest(H_GROUP, H_EPOCH, &pp.u.preprepare.batch, pp.u.preprepare.digest);
	before = total_executed();
	{
		struct wire_buf enc;

		wire_buf_init(&enc);
		ck_assert_int_eq(wire_encode(&enc, &pp), 0);
		for (uint32_t i = 1; i < H_N; i++)
			h_enqueue(&H, 0, i, enc.p, enc.len);
		wire_buf_free(&enc);
	}
	wire_buf_free(&b);
	h_run(&H, 1000000);
	for (uint32_t i = 1; i < H_N; i++)
		ck_assert_uint_eq(h_status(&H, i).last_executed, seq + 1);
	ck_assert_uint_eq(total_executed(), before);
	{
		char line[96];

		snprintf(line, sizeof(line), "r3: seq %llu: 1 requests already executed -> skip them",
			 (unsigned long long)(seq + 1));
		ck_assert(h_traced(&H, line));
	}
	ck_assert_str_eq(h_get(&H.app[3].st, "x"), "2");
	h_root(&H.app[1].st, r1);
	h_root(&H.app[3].st, r3);
	ck_assert_mem_eq(r1, r3, 32);

	/* Its client retransmits: replica 3 answers from the transferred table. */
	rep.ts = cap.ts;
	snprintf(rep.result, sizeof(rep.result), "-");
	h_enqueue(&H, WIRE_SENDER_CLIENT, 3, cap.bytes, cap.len);
	h_run(&H, 1000000);
	ck_assert_uint_eq(rep.matching[3], 1);
	ck_assert_uint_eq(rep.other[3], 0);
	ck_assert_uint_eq(total_executed(), before);
}
END_TEST

/* A request queued at a replica before it transfers state, and executed inside the
 * transferred range, is dropped once the transfer ends: it is neither proposed nor
 * left waiting to blame the primary with a view change. */
START_TEST(t_transfer_drops_executed_pending)
{
	uint8_t r0[32], r3[32];

	H.filter = observe;
	H.crashed[3] = 1;
	do_captured("p=1");
	run_ops(40, 1, 2);
	h_start(&H, 3);
	/* Replica 3 learns of client 0's request before it has any state. */
	h_enqueue(&H, WIRE_SENDER_CLIENT, 3, cap.bytes, cap.len);
	h_run(&H, 1000000);
	for (uint32_t t = 0; t < 300 && H.app[3].transfers == 0; t++)
		h_advance(&H, 10, 10);
	ck_assert_uint_eq(H.app[3].transfers, 1);
	ck_assert(h_traced(&H, "r3: state transfer: 1 waiting requests executed in the new state -> drop them"));
	h_advance(&H, 6000, 10);
	ck_assert_uint_eq(h_status(&H, 3).view, 0);
	ck_assert(h_status(&H, 3).view_active);
	ck_assert_uint_eq(h_status(&H, 3).last_executed, h_status(&H, 0).last_executed);
	h_root(&H.app[0].st, r0);
	h_root(&H.app[3].st, r3);
	ck_assert_mem_eq(r0, r3, 32);
	ck_assert_str_eq(h_get(&H.app[3].st, "p"), "1");
}
END_TEST

/* Restarted from its records and its app state alone, a replica answers a client's
 * retransmission of its last executed request with the recorded reply, executes
 * nothing, and proposes nothing. */
START_TEST(t_restart_answers_retransmission)
{
	uint64_t before, seq;

	H.filter = observe;
	ck_assert(h_do(&H, 0, "y=0", 0, 5000));
	do_captured("y=1");
	run_ops(3, 1, 3);
	seq = h_status(&H, 0).last_executed;
	before = total_executed();
	for (uint32_t i = 0; i < H_N; i++)
		h_start(&H, i);
	rep.ts = cap.ts;
	snprintf(rep.result, sizeof(rep.result), "0"); /* the old value of y */
	for (uint32_t i = 0; i < H_N; i++)
		h_enqueue(&H, WIRE_SENDER_CLIENT, i, cap.bytes, cap.len);
	h_advance(&H, 3000, 10);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(rep.matching[i], 1);
		ck_assert_uint_eq(rep.other[i], 0);
		ck_assert_uint_eq(h_status(&H, i).last_executed, seq);
		ck_assert_uint_eq(h_status(&H, i).view, 0);
	}
	ck_assert_uint_eq(total_executed(), before);
	ck_assert_str_eq(h_get(&H.app[2].st, "y"), "1");
}
END_TEST

/* A REQUEST larger than batch_max_bytes (4096 here) can never be proposed: every
 * replica refuses it on arrival, no timer blames the primary, and the group serves the
 * other clients in view 0. */
START_TEST(t_oversized_request_refused)
{
	static char op[6000];
	uint64_t dropped[H_N];

	memset(op, 'a', sizeof(op) - 1);
	op[0] = 'b';
	op[1] = '=';
	for (uint32_t i = 0; i < H_N; i++)
		dropped[i] = h_status(&H, i).dropped;
	h_invoke(&H, 0, op, 0);
	h_advance(&H, 10000, 10); /* the client retransmits to every replica */
	ck_assert(!H.cdone[0]);
	for (uint32_t i = 0; i < H_N; i++) {
		struct pbft_status st = h_status(&H, i);

		ck_assert_uint_eq(st.view, 0);
		ck_assert(st.view_active);
		ck_assert_uint_gt(st.dropped, dropped[i]);
		ck_assert_uint_eq(st.last_executed, 0);
	}
	ck_assert_uint_eq(total_executed(), 0);
	ck_assert(h_do(&H, 1, "c=1", 0, 2000));
	ck_assert_uint_eq(h_status(&H, 0).view, 0);
}
END_TEST

/* Replica 3, cut off from the other replicas with a request waiting, escalates its view
 * change alone (it hears no STATUS, so nothing tells it the group is active below). Healed, it stays in its higher view but executes what the others
 * committed in view 0 from the retransmitted pre-prepares and COMMITs (2f+1 COMMITs
 * from distinct replicas are a commit certificate in any later view). */
START_TEST(t_lone_higher_view_accepts_commits)
{
	uint8_t r0[32], r3[32];

	H.filter = observe;
	isolate3 = 1;
	do_captured("z=1");
	h_enqueue(&H, WIRE_SENDER_CLIENT, 3, cap.bytes, cap.len);
	/* Hearing no STATUS, it arms its request timer only when its recovery wait
	 * (4 view-change timeouts after the start) is over: view 1 at ~5 s, 2 at ~7 s. */
	h_advance(&H, 8000, 10);
	ck_assert_uint_ge(h_status(&H, 3).view, 2);
	ck_assert_uint_eq(h_status(&H, 3).last_executed, 0);
	run_ops(2, 1, 4); /* seqs 2 and 3: below the first checkpoint (K = 4) */
	ck_assert_uint_eq(h_status(&H, 0).last_executed, 3);
	isolate3 = 0;
	h_advance(&H, 1000, 10);
	ck_assert_uint_eq(h_status(&H, 3).last_executed, 3);
	ck_assert_uint_gt(h_status(&H, 3).view, h_status(&H, 0).view);
	h_root(&H.app[0].st, r0);
	h_root(&H.app[3].st, r3);
	ck_assert_mem_eq(r0, r3, 32);
	ck_assert_uint_eq(H.app[3].transfers, 0);
}
END_TEST

static Suite *core_exactly_suite(void)
{
	Suite *s = suite_create("core_exactly");
	TCase *tc = tcase_create("exactly");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_transfer_then_replayed_request_skipped);
	tcase_add_test(tc, t_transfer_drops_executed_pending);
	tcase_add_test(tc, t_restart_answers_retransmission);
	tcase_add_test(tc, t_oversized_request_refused);
	tcase_add_test(tc, t_lone_higher_view_accepts_commits);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(core_exactly_suite)
