/* test_core_normal.c: the PBFT core's normal case: commit, execute and reply at all four
 * replicas, the reply cache, exactly-once, pre-prepare validation, adaptive batching. */
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

START_TEST(t_commit_all_execute)
{
	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	ck_assert_str_eq(h_result(&H, 0), "-");
	for (uint32_t i = 0; i < H_N; i++) {
		struct pbft_status st = h_status(&H, i);
		ck_assert_uint_eq(H.app[i].last_executed, 1);
		ck_assert_uint_eq(H.app[i].executed_requests, 1);
		ck_assert_uint_eq(st.last_executed, 1);
		ck_assert_uint_eq(st.view, 0);
		ck_assert_uint_eq(st.dropped, 0);
	}
	ck_assert(h_do(&H, 0, "a=2", 0, 2000));
	ck_assert_str_eq(h_result(&H, 0), "1");
	ck_assert(h_do(&H, 1, "a", 0, 2000));
	ck_assert_str_eq(h_result(&H, 1), "2");
	ck_assert(h_traced(&H, "-> committed"));
	for (uint32_t i = 0; i < H_N; i++)
		ck_assert_uint_eq(H.app[i].executed_requests, 3);
}
END_TEST

/* Build client c's signed request (op, ts). */
static void make_request(uint32_t c, uint64_t ts, const char *op, struct wire_request *req,
			 uint8_t sig[64])
{
	uint8_t d[32];

	memset(req, 0, sizeof(*req));
	memcpy(req->client, H.keys.cli[c].pub, 32);
	req->timestamp = ts;
	req->op.p = (const uint8_t *)op;
	req->op.len = (uint32_t)strlen(op);
	wire_request_digest(H_GROUP, H_EPOCH, req, d);
	ck_assert_int_eq(crypto_ed25519_sign(&H.keys.cli[c], d, 32, sig), 0);
	req->auth.p = sig;
	req->auth.len = 64;
}

static uint32_t replies_seen;
static uint64_t reply_ts;
static int count_replies(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	if (dm->hdr.type == WIRE_REPLY && m->to == H_N + 0) {
		replies_seen++;
		reply_ts = dm->u.reply.timestamp;
	}
	return 0;
}

START_TEST(t_retransmit_gets_cached_reply)
{
	struct wire_msg m;
	uint8_t sig[64];
	uint64_t ts;

	ck_assert(h_do(&H, 0, "k=v", 0, 2000));
	pbft_client_result(H.c[0], &ts);
	H.filter = count_replies;
	replies_seen = 0;
	memset(&m, 0, sizeof(m));
	h_hdr(&m.hdr, WIRE_REQUEST, WIRE_SENDER_CLIENT);
	make_request(0, ts, "k=v", &m.u.request, sig);
	h_inject(&H, WIRE_SENDER_CLIENT, 2, &m);
	ck_assert_uint_eq(replies_seen, 1);
	ck_assert_uint_eq(reply_ts, ts);
	ck_assert_uint_eq(H.app[2].executed_requests, 1);
	ck_assert(h_traced(&H, "resend cached reply"));
	/* An older timestamp is dropped. */
	make_request(0, ts - 1, "k=w", &m.u.request, sig);
	h_inject(&H, WIRE_SENDER_CLIENT, 2, &m);
	ck_assert_uint_eq(replies_seen, 1);
	ck_assert_uint_eq(h_status(&H, 2).dropped, 1);
}
END_TEST

/* A faulty primary re-proposes an executed request: backups skip it deterministically
 * (no second execution) and answer with the cached reply. */
START_TEST(t_batch_with_old_request_not_reexecuted)
{
	struct wire_msg m;
	struct wire_buf reqs;
	uint8_t sig[64];
	uint64_t ts;

	ck_assert(h_do(&H, 0, "x=1", 0, 2000));
	pbft_client_result(H.c[0], &ts);
	wire_buf_init(&reqs);
	memset(&m, 0, sizeof(m));
	h_hdr(&m.hdr, WIRE_PREPREPARE, 0);
	{
		struct wire_request req;
		make_request(0, ts, "x=1", &req, sig);
		wire_put_request(&reqs, &req);
	}
	m.u.preprepare.view = 0;
	m.u.preprepare.seq = 2;
	m.u.preprepare.batch.time = H.wall;
	m.u.preprepare.batch.count = 1;
	m.u.preprepare.batch.reqs.p = reqs.p;
	m.u.preprepare.batch.reqs.len = (uint32_t)reqs.len;
	wire_batch_digest(H_GROUP, H_EPOCH, &m.u.preprepare.batch, m.u.preprepare.digest);
	H.filter = count_replies;
	replies_seen = 0;
	for (uint32_t j = 1; j < H_N; j++) {
		struct wire_buf b;
		wire_buf_init(&b);
		ck_assert_int_eq(wire_encode(&b, &m), 0);
		h_enqueue(&H, 0, j, b.p, b.len);
		wire_buf_free(&b);
	}
	h_run(&H, 1000000);
	for (uint32_t j = 1; j < H_N; j++) {
		ck_assert_uint_eq(h_status(&H, j).last_executed, 2);
		ck_assert_uint_eq(H.app[j].executed_requests, 1);
		ck_assert_uint_eq(H.app[j].batches, 2);
	}
	ck_assert_uint_eq(replies_seen, 3); /* cached replies from the three backups */
	ck_assert(h_traced(&H, "already executed -> skip them"));
	/* The primary learns seq 2 through STATUS retransmission and catches up. */
	h_advance(&H, 1000, 10);
	ck_assert_uint_eq(h_status(&H, 0).last_executed, 2);
	ck_assert_uint_eq(H.app[0].executed_requests, 1);
	wire_buf_free(&reqs);
}
END_TEST

static void make_pp(struct wire_msg *m, uint64_t view, uint64_t seq, uint64_t time,
		    struct wire_buf *reqs, uint32_t c, uint64_t ts, const char *op, int badsig)
{
	static uint8_t sig[64];
	struct wire_request req;

	memset(m, 0, sizeof(*m));
	h_hdr(&m->hdr, WIRE_PREPREPARE, (uint32_t)(view % H_N));
	make_request(c, ts, op, &req, sig);
	if (badsig)
		sig[0] ^= 1;
	wire_buf_reset(reqs);
	wire_put_request(reqs, &req);
	m->u.preprepare.view = view;
	m->u.preprepare.seq = seq;
	m->u.preprepare.batch.time = time;
	m->u.preprepare.batch.count = 1;
	m->u.preprepare.batch.reqs.p = reqs->p;
	m->u.preprepare.batch.reqs.len = (uint32_t)reqs->len;
	wire_batch_digest(H_GROUP, H_EPOCH, &m->u.preprepare.batch, m->u.preprepare.digest);
}

static uint32_t prepares_from1;
static int count_prepares(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	if (dm->hdr.type == WIRE_PREPARE && m->from == 1)
		prepares_from1++;
	return 0;
}

START_TEST(t_bad_preprepares_dropped)
{
	struct wire_msg m;
	struct wire_buf reqs, enc;
	struct wire_msg dec;
	uint64_t d0;

	wire_buf_init(&reqs);
	wire_buf_init(&enc);
	H.filter = count_prepares;
	prepares_from1 = 0;

	/* A digest that does not match the batch never decodes. */
	make_pp(&m, 0, 1, H.wall, &reqs, 1, 500, "q=1", 0);
	m.u.preprepare.digest[0] ^= 1;
	ck_assert_int_eq(wire_encode(&enc, &m), 0);
	ck_assert_int_ne(wire_decode(enc.p, enc.len, NULL, &dec), 0);

	d0 = h_status(&H, 1).dropped;
	/* Outside the window (low 0, L 16). */
	make_pp(&m, 0, 17, H.wall, &reqs, 1, 500, "q=1", 0);
	h_inject(&H, 0, 1, &m);
	ck_assert_uint_eq(h_status(&H, 1).dropped, d0 + 1);
	/* From replica 0 but for view 4 (0 is its primary too; not our view): dropped. */
	make_pp(&m, 4, 1, H.wall, &reqs, 1, 500, "q=1", 0);
	m.hdr.sender = 0;
	h_inject(&H, 0, 1, &m);
	ck_assert_uint_eq(h_status(&H, 1).dropped, d0 + 2);
	/* From a backup claiming to be primary. */
	make_pp(&m, 0, 1, H.wall, &reqs, 1, 500, "q=1", 0);
	h_inject(&H, 2, 1, &m);
	/* Time outside the skew. */
	make_pp(&m, 0, 1, H.wall + 60000, &reqs, 1, 500, "q=1", 0);
	h_inject(&H, 0, 1, &m);
	ck_assert_uint_eq(h_status(&H, 1).dropped, d0 + 3);
	/* An unauthenticated request inside. */
	make_pp(&m, 0, 1, H.wall, &reqs, 1, 500, "q=1", 1);
	h_inject(&H, 0, 1, &m);
	ck_assert_uint_eq(h_status(&H, 1).dropped, d0 + 4);
	ck_assert_uint_eq(prepares_from1, 0);
	/* A valid one is accepted (PREPARE to the three others) ... */
	make_pp(&m, 0, 1, H.wall, &reqs, 1, 500, "q=1", 0);
	h_inject(&H, 0, 1, &m);
	ck_assert_uint_eq(prepares_from1, 3);
	/* ... and an equivocating second one for (0, 1) is refused. */
	make_pp(&m, 0, 1, H.wall, &reqs, 1, 501, "q=2", 0);
	h_inject(&H, 0, 1, &m);
	ck_assert_uint_eq(prepares_from1, 3);
	ck_assert_uint_eq(h_status(&H, 1).dropped, d0 + 5);
	ck_assert(h_traced(&H, "conflicts with the one accepted"));
	wire_buf_free(&reqs);
	wire_buf_free(&enc);
}
END_TEST

/* With a pipeline of 1 the primary proposes the first request alone and batches the
 * requests that arrive meanwhile. */
START_TEST(t_adaptive_batching)
{
	h_fini(&H);
	h_init(&H);
	for (uint32_t i = 0; i < H_N; i++)
		H.cfg[i].pipeline = 1;
	h_start_all(&H);
	for (uint32_t c = 0; c < H_CLIENTS; c++)
		h_invoke(&H, c, c % 2 ? "b=2" : "a=1", 0);
	h_advance(&H, 2000, 10);
	for (uint32_t c = 0; c < H_CLIENTS; c++)
		ck_assert(H.cdone[c]);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(H.app[i].executed_requests, H_CLIENTS);
		ck_assert_uint_eq(H.app[i].batches, 2);
	}
}
END_TEST

START_TEST(t_many_requests_pipelined)
{
	char op[32];

	for (uint32_t k = 0; k < 40; k++) {
		for (uint32_t c = 0; c < H_CLIENTS; c++) {
			snprintf(op, sizeof(op), "k%u=%u", c, k);
			h_invoke(&H, c, op, 0);
		}
		h_run(&H, 1000000);
		for (uint32_t c = 0; c < H_CLIENTS; c++)
			ck_assert_msg(H.cdone[c], "round %u client %u", k, c);
	}
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(H.app[i].executed_requests, 40 * H_CLIENTS);
		ck_assert_uint_eq(h_status(&H, i).dropped, 0);
	}
}
END_TEST

/* A replica flooding PREPARE/COMMIT far above the window makes the others allocate
 * nothing: dropped and counted. */
START_TEST(t_flood_above_watermark)
{
	struct wire_msg m;
	size_t mem0 = h_status(&H, 1).memory;
	uint64_t d0 = h_status(&H, 1).dropped;

	for (uint32_t k = 0; k < 500; k++) {
		memset(&m, 0, sizeof(m));
		h_hdr(&m.hdr, k % 2 ? WIRE_COMMIT : WIRE_PREPARE, 3);
		m.u.prepare.view = 0;
		m.u.prepare.seq = 17 + (uint64_t)k * 7919;
		memset(m.u.prepare.digest, (int)k, 32);
		h_inject(&H, 3, 1, &m);
	}
	ck_assert_uint_eq(h_status(&H, 1).dropped, d0 + 500);
	ck_assert_uint_eq(h_status(&H, 1).memory, mem0);
	/* A PREPARE that claims another sender than its channel is dropped too. */
	memset(&m, 0, sizeof(m));
	h_hdr(&m.hdr, WIRE_PREPARE, 2);
	m.u.prepare.seq = 1;
	h_inject(&H, 3, 1, &m);
	ck_assert_uint_eq(h_status(&H, 1).dropped, d0 + 501);
	/* The group still works. */
	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
}
END_TEST

START_TEST(t_config_checked)
{
	struct pbft_config c = H.cfg[0];
	struct pbft *r = NULL;

	c.n = 5;
	ck_assert_int_eq(pbft_new(&c, NULL, NULL, 0, 0, 0, &r), PBFT_ERR_ARG);
	c = H.cfg[0];
	c.log_window = 6; /* not a multiple of K = 4 */
	ck_assert_int_eq(pbft_new(&c, NULL, NULL, 0, 0, 0, &r), PBFT_ERR_ARG);
	c = H.cfg[0];
	c.id = 4;
	ck_assert_int_eq(pbft_new(&c, NULL, NULL, 0, 0, 0, &r), PBFT_ERR_ARG);
	c = H.cfg[0];
	c.crypto.verify = NULL;
	ck_assert_int_eq(pbft_new(&c, NULL, NULL, 0, 0, 0, &r), PBFT_ERR_ARG);
	c = H.cfg[0];
	c.max_clients = 4; /* below batch_max_requests = 8 */
	ck_assert_int_eq(pbft_new(&c, NULL, NULL, 0, 0, 0, &r), PBFT_ERR_ARG);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(pbft_strerror(PBFT_ERR_RECORD), "malformed durable record");
}
END_TEST

static int drop_commits_once(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)m;
	return h->delivered < 40 && dm->hdr.type == WIRE_COMMIT;
}

/* Every COMMIT of the first round is lost: the request is prepared everywhere but
 * committed nowhere. STATUS rounds make the replicas resend what they sent, and it
 * commits in view 0, without a view change. */
START_TEST(t_lost_commits_recovered_by_status)
{
	H.filter = drop_commits_once;
	h_invoke(&H, 0, "s=1", 0);
	h_run(&H, 1000000);
	for (uint32_t i = 0; i < H_N; i++)
		ck_assert_uint_eq(h_status(&H, i).last_executed, 0);
	h_advance(&H, 900, 10);
	ck_assert(H.cdone[0]);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(h_status(&H, i).last_executed, 1);
		ck_assert_uint_eq(h_status(&H, i).view, 0);
	}
	ck_assert(h_traced(&H, "-> retransmit"));
}
END_TEST

static Suite *core_normal_suite(void)
{
	Suite *s = suite_create("core_normal");
	TCase *tc = tcase_create("normal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_commit_all_execute);
	tcase_add_test(tc, t_retransmit_gets_cached_reply);
	tcase_add_test(tc, t_batch_with_old_request_not_reexecuted);
	tcase_add_test(tc, t_bad_preprepares_dropped);
	tcase_add_test(tc, t_adaptive_batching);
	tcase_add_test(tc, t_many_requests_pipelined);
	tcase_add_test(tc, t_flood_above_watermark);
	tcase_add_test(tc, t_lost_commits_recovered_by_status);
	tcase_add_test(tc, t_config_checked);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(core_normal_suite)
