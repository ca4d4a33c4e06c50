/* test_core_client.c: the client machine (f+1 matching replies, a lone wrong reply
 * ignored, duplicates from one replica not counted, retransmission to all with a
 * doubling timeout) and read-only requests with their fallback to ordering. */
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

/* Feed client 0 a REPLY from replica `from`. Returns pbft_client_step's result. */
static int feed_reply(uint32_t from, uint64_t ts, uint32_t flags, const char *res, uint64_t view)
{
	return h_feed_reply(&H, H.c[0], from, view, ts, 0, flags, res);
}

START_TEST(t_client_f1_matching)
{
	uint64_t ts;

	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_invoke(H.c[0], H.now, (const uint8_t *)"op", 2, 0, &H.up), 0);
	/* One REQUEST to the primary of view 0. */
	ck_assert_uint_eq(H.up.nout, 1);
	ck_assert_int_eq(H.up.out[0].dest, PBFT_DEST_REPLICA);
	ck_assert_uint_eq(H.up.out[0].replica, 0);
	ck_assert_int_eq(pbft_client_invoke(H.c[0], H.now, (const uint8_t *)"op", 2, 0, &H.up),
			 PBFT_ERR_BUSY);
	ts = 100;
	ck_assert_int_eq(feed_reply(0, ts, 0, "bad", 0), 0);       /* lone wrong reply */
	ck_assert_int_eq(feed_reply(1, ts, 0, "good", 0), 0);
	ck_assert_int_eq(feed_reply(1, ts, 0, "good", 0), 0);      /* duplicate: not counted */
	ck_assert_int_eq(feed_reply(2, ts + 1, 0, "good", 0), 0);  /* other timestamp */
	ck_assert_int_eq(feed_reply(2, ts, WIRE_REPLY_READ_ONLY, "good", 0), 0); /* other mode */
	ck_assert_int_eq(feed_reply(7, ts, 0, "good", 0), 0);      /* not a replica */
	ck_assert_int_eq(feed_reply(3, ts, 0, "good", 5), 1);
	ck_assert_str_eq(h_result(&H, 0), "good");
	/* The view followed is the lowest of the matching replies (1 said 0). */
	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_invoke(H.c[0], H.now, (const uint8_t *)"op", 2, 0, &H.up), 0);
	ck_assert_uint_eq(H.up.out[0].replica, 0);
	ck_assert_int_eq(feed_reply(1, ts + 1, 0, "r", 5), 0);
	ck_assert_int_eq(feed_reply(2, ts + 1, 0, "r", 5), 1);
	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_invoke(H.c[0], H.now, (const uint8_t *)"op", 2, 0, &H.up), 0);
	ck_assert_uint_eq(H.up.out[0].replica, 1); /* view 5: primary 1 */
}
END_TEST

START_TEST(t_client_retransmits_to_all_with_backoff)
{
	struct pbft_event ev;
	uint64_t t = H.now, d1, d2;

	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_invoke(H.c[0], t, (const uint8_t *)"op", 2, 0, &H.up), 0);
	ck_assert_uint_eq(H.up.deadline, t + 500);
	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_TICK;
	ev.now = t + 500;
	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_step(H.c[0], &ev, &H.up), 0);
	ck_assert_uint_eq(H.up.nout, 1);
	ck_assert_int_eq(H.up.out[0].dest, PBFT_DEST_OTHERS);
	d1 = H.up.deadline - ev.now;
	ev.now = H.up.deadline;
	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_step(H.c[0], &ev, &H.up), 0);
	d2 = H.up.deadline - ev.now;
	ck_assert_uint_eq(d1, 1000);
	ck_assert_uint_eq(d2, 2000);
	for (int k = 0; k < 5; k++) {
		ev.now = H.up.deadline;
		pbft_update_reset(&H.up);
		ck_assert_int_eq(pbft_client_step(H.c[0], &ev, &H.up), 0);
	}
	ck_assert_uint_eq(H.up.deadline - ev.now, 4000); /* capped at 8x */
}
END_TEST

START_TEST(t_read_only)
{
	uint64_t ts0, ts1;
	uint64_t seqs;

	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	seqs = h_status(&H, 0).last_executed;
	pbft_client_result(H.c[0], &ts0);
	ck_assert(h_do(&H, 1, "a", 1, 2000));
	ck_assert_str_eq(h_result(&H, 1), "1");
	/* Not ordered: no new sequence number. */
	ck_assert_uint_eq(h_status(&H, 0).last_executed, seqs);
	ck_assert(h_traced(&H, "read-only request"));
	pbft_client_result(H.c[1], &ts1);
	ck_assert_uint_eq(ts1, 100);
}
END_TEST

static int drop_replies_of_2(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	return m->from == 2 && dm->hdr.type == WIRE_REPLY;
}

/* Replica 3 answers read-only requests from a diverged state and replica 2's replies
 * are lost: no 2f+1 agree, so after the timeout the client orders the same op. */
START_TEST(t_read_only_fallback_on_timeout)
{
	uint64_t ts;

	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	h_set(&H.app[3].st, "a", "forged");
	H.filter = drop_replies_of_2;
	ck_assert(h_do(&H, 1, "a", 1, 5000));
	ck_assert_str_eq(h_result(&H, 1), "1");
	pbft_client_result(H.c[1], &ts);
	ck_assert_uint_eq(ts, 101); /* the ordered retry has a new timestamp */
	ck_assert_uint_eq(h_status(&H, 0).last_executed, 2);
}
END_TEST

/* Two replicas answer differently from the other two: 2f+1 can no longer match, so the
 * client falls back at once, before any timeout. */
START_TEST(t_read_only_fallback_on_mismatch)
{
	uint64_t t0;

	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	h_set(&H.app[3].st, "a", "x");
	h_set(&H.app[2].st, "a", "y");
	t0 = H.now;
	h_invoke(&H, 1, "a", 1);
	h_run(&H, 1000000);
	ck_assert(H.cdone[1]);
	ck_assert_uint_eq(H.now, t0);
	ck_assert_uint_eq(h_status(&H, 0).last_executed, 2);
}
END_TEST

START_TEST(t_client_config_checked)
{
	struct pbft_client_config cc;
	struct pbft_client *c = NULL;

	memset(&cc, 0, sizeof(cc));
	cc.n = 4;
	cc.f = 2;
	cc.timeout_ms = 10;
	cc.auth.authenticate = h_client_auth;
	ck_assert_int_eq(pbft_client_new(&cc, &c), PBFT_ERR_ARG);
	cc.f = 1;
	cc.timeout_ms = 0;
	ck_assert_int_eq(pbft_client_new(&cc, &c), PBFT_ERR_ARG);
	ck_assert_ptr_null(c);
}
END_TEST

static Suite *core_client_suite(void)
{
	Suite *s = suite_create("core_client");
	TCase *tc = tcase_create("client");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_client_f1_matching);
	tcase_add_test(tc, t_client_retransmits_to_all_with_backoff);
	tcase_add_test(tc, t_read_only);
	tcase_add_test(tc, t_read_only_fallback_on_timeout);
	tcase_add_test(tc, t_read_only_fallback_on_mismatch);
	tcase_add_test(tc, t_client_config_checked);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(core_client_suite)
