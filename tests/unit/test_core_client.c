/* test_core_client.c: the client machine (f+1 matching replies, a lone wrong reply
 * ignored, duplicates from one replica not counted, retransmission to all with a
 * doubling timeout), read-only requests with their fallback to ordering, and digest
 * replies (one replica sends the result, the others its digest). */
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
	ck_assert_uint_eq(pbft_client_last_timestamp(H.c[0]), 0); /* none sent yet */
	ck_assert_int_eq(pbft_client_invoke(H.c[0], H.now, (const uint8_t *)"op", 2, 0, &H.up), 0);
	ck_assert_uint_eq(pbft_client_last_timestamp(H.c[0]), 100); /* the REQUEST's */
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
	ck_assert_uint_eq(pbft_client_last_timestamp(H.c[0]), ts + 1);
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

/* ---------------------------------------------------------------- digest replies */
#define LONG_VALUE "0123456789abcdefghijklmnopqrstuvwxyzABCDEF" /* 42 bytes: digested */

/* Client 0 again, asking read-only requests for digest replies if on. Returns the
 * replica it names first (from its key and lane 0). */
static uint32_t make_client0(int on)
{
	struct pbft_client_config cc;
	const uint8_t *k = H.keys.cli[0].pub;

	pbft_client_free(H.c[0]);
	h_client_config(&H, 0, &cc);
	cc.digest_replies = on;
	ck_assert_int_eq(pbft_client_new(&cc, &H.c[0]), 0);
	return ((uint32_t)k[0] | (uint32_t)k[1] << 8) % H_N;
}

static uint32_t digest_client(void)
{
	return make_client0(1);
}

/* What the filter saw: read-only requests' named repliers, digest and full replies. */
static struct {
	uint32_t replier[16], nreq;
	uint32_t digests, fulls;
	uint32_t drop_from; /* drop the replies of this replica (H_N: none) */
} seen;

static int watch(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	if (dm->hdr.type == WIRE_REQUEST && (dm->u.request.flags & WIRE_REQ_DIGEST_REPLIES) &&
	    m->from == WIRE_SENDER_CLIENT && m->to == 0 && seen.nreq < 16)
		seen.replier[seen.nreq++] = WIRE_REQ_REPLIER(dm->u.request.flags);
	if (dm->hdr.type != WIRE_REPLY || !(dm->u.reply.flags & WIRE_REPLY_READ_ONLY))
		return 0;
	if (m->from == seen.drop_from)
		return 1;
	if (dm->u.reply.flags & WIRE_REPLY_DIGEST)
		seen.digests++;
	else
		seen.fulls++;
	return 0;
}

static void watch_start(uint32_t drop_from)
{
	memset(&seen, 0, sizeof(seen));
	seen.drop_from = drop_from;
	H.filter = watch;
}

/* The named replier sends the result, the three others its digest; a short result is
 * sent whole by all. Reads stay unordered. */
START_TEST(t_digest_replies)
{
	uint32_t rep = digest_client();
	uint64_t seqs, ts;

	ck_assert(h_do(&H, 0, "k=" LONG_VALUE, 0, 2000));
	ck_assert(h_do(&H, 0, "s=short", 0, 2000));
	seqs = h_status(&H, 0).last_executed;
	watch_start(H_N);
	ck_assert(h_do(&H, 0, "k", 1, 2000));
	ck_assert_str_eq(h_result(&H, 0), LONG_VALUE);
	ck_assert_uint_eq(seen.nreq, 1);
	ck_assert_uint_eq(seen.replier[0], rep);
	ck_assert_uint_eq(seen.fulls, 1);
	ck_assert_uint_ge(seen.digests, 2);
	ck_assert_uint_eq(h_status(&H, 0).last_executed, seqs);
	pbft_client_result(H.c[0], &ts);
	ck_assert_uint_eq(ts, 102);
	watch_start(H_N);
	ck_assert(h_do(&H, 0, "s", 1, 2000));
	ck_assert_str_eq(h_result(&H, 0), "short");
	ck_assert_uint_eq(seen.digests, 0);
	ck_assert_uint_eq(h_status(&H, 0).last_executed, seqs);
}
END_TEST

/* The named replier answers from a forged state: the others' digests agree with each
 * other, not with its result. The client orders the read at once (the right value) and
 * names the next replica from then on. */
START_TEST(t_digest_replier_lies)
{
	uint32_t rep = digest_client();
	uint64_t t0, ts;

	ck_assert(h_do(&H, 0, "k=" LONG_VALUE, 0, 2000));
	h_set(&H.app[rep].st, "k", "forged-forged-forged-forged-forged-forged");
	watch_start(H_N);
	t0 = H.now;
	h_invoke(&H, 0, "k", 1);
	h_run(&H, 1000000);
	ck_assert(H.cdone[0]);
	ck_assert_uint_eq(H.now, t0); /* no timeout waited */
	ck_assert_str_eq(h_result(&H, 0), LONG_VALUE);
	pbft_client_result(H.c[0], &ts);
	ck_assert_uint_eq(ts, 102); /* the ordered retry */
	h_set(&H.app[rep].st, "k", LONG_VALUE);
	ck_assert(h_do(&H, 0, "k", 1, 2000));
	ck_assert_uint_eq(seen.nreq, 2);
	ck_assert_uint_eq(seen.replier[1], (rep + 1) % H_N);
}
END_TEST

/* Digests the app gives with its result (kept from an unchanged earlier one) are sent
 * as they are: right ones answer the read unordered; wrong ones from two of the three
 * other replicas leave the replier's result without a quorum, and the read is ordered. */
START_TEST(t_digest_from_app)
{
	uint32_t rep = digest_client();
	uint64_t seqs;

	ck_assert(h_do(&H, 0, "k=" LONG_VALUE, 0, 2000));
	seqs = h_status(&H, 0).last_executed;
	for (uint32_t i = 0; i < H_N; i++)
		H.app[i].ro_digest = 1;
	watch_start(H_N);
	ck_assert(h_do(&H, 0, "k", 1, 2000));
	ck_assert_str_eq(h_result(&H, 0), LONG_VALUE);
	ck_assert_uint_eq(seen.fulls, 1);
	ck_assert_uint_ge(seen.digests, 2);
	ck_assert_uint_eq(h_status(&H, 0).last_executed, seqs);
	H.app[(rep + 1) % H_N].ro_digest = 2;
	H.app[(rep + 2) % H_N].ro_digest = 2;
	ck_assert(h_do(&H, 0, "k", 1, 2000));
	ck_assert_str_eq(h_result(&H, 0), LONG_VALUE);
	ck_assert_uint_gt(h_status(&H, 0).last_executed, seqs); /* ordered */
}
END_TEST

/* The named replier is silent: a quorum of digests is not a result. After the timeout
 * the read is ordered, and the next read names the next replica. */
START_TEST(t_digest_replier_silent)
{
	uint32_t rep = digest_client();
	uint64_t ts;

	ck_assert(h_do(&H, 0, "k=" LONG_VALUE, 0, 2000));
	watch_start(rep);
	ck_assert(h_do(&H, 0, "k", 1, 5000));
	ck_assert_str_eq(h_result(&H, 0), LONG_VALUE);
	pbft_client_result(H.c[0], &ts);
	ck_assert_uint_eq(ts, 102);
	ck_assert_uint_eq(seen.fulls, 0);
	ck_assert_uint_ge(seen.digests, 3);
	watch_start(H_N);
	ck_assert(h_do(&H, 0, "k", 1, 2000));
	ck_assert_uint_eq(seen.replier[0], (rep + 1) % H_N);
	ck_assert_uint_eq(seen.fulls, 1);
}
END_TEST

/* Crafted replies: a digest never stands for a result too short to be digested, nor for
 * a result it is not the digest of; a full reply from any replica completes the quorum. */
static int feed_digest(uint32_t from, uint64_t ts, const uint8_t dg[WIRE_DIGEST_LEN])
{
	return h_feed_reply_bytes(&H, H.c[0], from, 0, ts, 0, WIRE_REPLY_READ_ONLY | WIRE_REPLY_DIGEST,
				  dg, WIRE_DIGEST_LEN);
}

START_TEST(t_digest_matching_rules)
{
	uint8_t dg[WIRE_DIGEST_LEN], shortdg[WIRE_DIGEST_LEN], wrong[WIRE_DIGEST_LEN];
	uint64_t ts = 100;


	(void)digest_client();
	wire_result_digest((const uint8_t *)LONG_VALUE, strlen(LONG_VALUE), dg);
	wire_result_digest((const uint8_t *)"short", 5, shortdg);
	memcpy(wrong, dg, sizeof(wrong));
	wrong[0] ^= 1;
	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_invoke(H.c[0], H.now, (const uint8_t *)"k", 1, 1, &H.up), 0);
	/* A digest of "short" (no replica may digest it) and "short" itself: no match
	 * (2 groups of one, and two replies still to come: not given up yet). */
	ck_assert_int_eq(feed_digest(0, ts, shortdg), 0);
	ck_assert_int_eq(feed_reply(1, ts, WIRE_REPLY_READ_ONLY, "short", 0), 0);
	/* 0 changes its answer to LONG_VALUE's digest, 2 agrees, 3 sends the value: 2f+1 = 3
	 * agree and one of them is the value. */
	ck_assert_int_eq(feed_digest(0, ts, dg), 0);
	ck_assert_int_eq(feed_digest(2, ts, dg), 0);
	ck_assert_int_eq(feed_reply(3, ts, WIRE_REPLY_READ_ONLY, LONG_VALUE, 0), 1);
	ck_assert_str_eq(h_result(&H, 0), LONG_VALUE);
	/* A digest that is not the value's does not count for it: 1, 2, 3 agree again only
	 * once 1 sends the right one. */
	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_invoke(H.c[0], H.now, (const uint8_t *)"k", 1, 1, &H.up), 0);
	ck_assert_int_eq(feed_digest(1, ts + 1, wrong), 0);
	ck_assert_int_eq(feed_digest(2, ts + 1, dg), 0);
	ck_assert_int_eq(feed_reply(3, ts + 1, WIRE_REPLY_READ_ONLY, LONG_VALUE, 0), 0);
	ck_assert_int_eq(feed_digest(1, ts + 1, dg), 1);
	/* A client that did not ask for digest replies does not count one at all. */
	(void)make_client0(0);
	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_invoke(H.c[0], H.now, (const uint8_t *)"k", 1, 1, &H.up), 0);
	ck_assert_int_eq(feed_digest(0, ts, dg), 0);
	ck_assert_int_eq(feed_reply(1, ts, WIRE_REPLY_READ_ONLY, LONG_VALUE, 0), 0);
	ck_assert_int_eq(feed_reply(2, ts, WIRE_REPLY_READ_ONLY, LONG_VALUE, 0), 0);
	ck_assert_int_eq(feed_reply(3, ts, WIRE_REPLY_READ_ONLY, LONG_VALUE, 0), 1);
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
	tcase_add_test(tc, t_digest_replies);
	tcase_add_test(tc, t_digest_replier_lies);
	tcase_add_test(tc, t_digest_from_app);
	tcase_add_test(tc, t_digest_replier_silent);
	tcase_add_test(tc, t_digest_matching_rules);
	tcase_add_test(tc, t_client_config_checked);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(core_client_suite)
