/* test_net_attack.c: a raw socket misbehaves against a listening replica: garbage bytes,
 * a truncated hello, an oversized length prefix, a frame with a flipped MAC or payload bit,
 * a replayed frame, reordered frames, authentic frames whose messages do not fill them.
 * Each closes that connection with the right reason, and the replica keeps serving a good
 * peer afterwards. */
#include "tests/unit/test_net_harness.h"

struct fixture {
	struct ev_loop *loop;
	struct h_node s; /* replica 0, listening */
	uint16_t port;
	struct crypto_ed25519_key k;
	struct h_raw r;
};

/* max_client: the replica's message limit for clients, 0 for the default. */
static void fixture_open_limit(struct fixture *f, size_t max_client)
{
	struct net_config cfg;

	f->loop = ev_loop_new(0);
	h_config(&f->s, &cfg, NET_ROLE_REPLICA, 0);
	if (max_client != 0)
		cfg.limits.max_frame_client = max_client;
	h_start(&f->s, f->loop, &cfg);
	f->port = h_listen(&f->s);
	ck_assert_int_eq(crypto_ed25519_generate(&f->k), 0);
	h_raw_init(&f->r, &f->k, NET_ROLE_CLIENT, 0);
	h_raw_connect(&f->r, f->port);
}

static void fixture_open(struct fixture *f)
{
	fixture_open_limit(f, 0);
}

/* The raw connection is closed by the replica, which logged `reason`; a good peer then
 * gets through. */
static void fixture_close(struct fixture *f, const char *reason)
{
	ck_assert(h_run(f->loop, 5.0, h_raw_closed, &f->r));
	ck_assert_msg(h_log_has(&f->s, reason), "no %s in:\n%s", reason, f->s.log);
	h_raw_close(&f->r);
	h_check_serving(f->loop, &f->s, f->port);
	h_stop(&f->s);
	crypto_ed25519_free(&f->k);
	ev_loop_destroy(f->loop);
}

/* Handshake as a client and deliver one good frame, so the stream is known to work. */
static void open_and_prove(struct fixture *f)
{
	uint8_t p[50], fr[50 + 24];
	size_t n;

	h_raw_handshake(f->loop, &f->r, 0);
	ck_assert(h_run_until_count(f->loop, &f->s.ups, 1));
	h_fill(p, sizeof p, 0);
	n = h_raw_frame(&f->r, p, sizeof p, fr);
	h_raw_send(&f->r, fr, n);
	ck_assert(h_run_until_count(f->loop, &f->s.frames, 1));
	ck_assert_int_eq(f->s.bad_payload, 0);
}

START_TEST(test_garbage_bytes)
{
	struct fixture f;
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	fixture_open(&f);
	h_raw_send(&f.r, junk, sizeof junk - 1);
	fixture_close(&f, "reason=\"bad magic (not a bulwark hello)\" detail=\"first bytes 47455420\"");
}
END_TEST

START_TEST(test_truncated_hello)
{
	struct fixture f;

	fixture_open(&f);
	h_raw_build_hello(&f.r);
	h_raw_send(&f.r, f.r.hello, 50);
	ck_assert_int_eq(shutdown(f.r.fd, SHUT_WR), 0);
	fixture_close(&f, "reason=\"peer closed in the middle of a message\" detail=\"closed after 50 of 124 handshake bytes\"");
}
END_TEST

START_TEST(test_oversized_length_prefix)
{
	struct fixture f;
	static const uint8_t hdr[4] = {0xff, 0xff, 0xff, 0xff};

	fixture_open(&f);
	open_and_prove(&f);
	h_raw_send(&f.r, hdr, sizeof hdr);
	ck_assert(h_run_until_count(f.loop, &f.s.downs, 1));
	ck_assert_int_eq(f.s.last_down, NET_ERR_FRAME_SIZE);
	fixture_close(&f, "reason=\"frame too large\" detail=\"frame #1 length 4294967295, limit 2097156\"");
}
END_TEST

static void tampered_frame(size_t bit_byte)
{
	struct fixture f;
	uint8_t p[64], fr[64 + 24];
	size_t n;

	fixture_open(&f);
	open_and_prove(&f);
	h_fill(p, sizeof p, 1);
	n = h_raw_frame(&f.r, p, sizeof p, fr);
	fr[bit_byte] ^= 0x04;
	h_raw_send(&f.r, fr, n);
	ck_assert(h_run_until_count(f.loop, &f.s.downs, 1));
	ck_assert_int_eq(f.s.last_down, NET_ERR_MAC);
	ck_assert_int_eq(f.s.frames, 1);
	fixture_close(&f, "reason=\"bad frame MAC (altered, replayed, reordered or deleted frame)\" detail=\"frame #1 length 68\"");
}

START_TEST(test_flipped_mac_bit)
{
	tampered_frame(4 + 4 + 64 + 7); /* a tag byte */
}
END_TEST

START_TEST(test_flipped_payload_bit)
{
	tampered_frame(4 + 4 + 20);
}
END_TEST

START_TEST(test_replayed_frame)
{
	struct fixture f;
	uint8_t p[50], fr[50 + 24];
	size_t n;

	fixture_open(&f);
	h_raw_handshake(f.loop, &f.r, 0);
	h_fill(p, sizeof p, 0);
	n = h_raw_frame(&f.r, p, sizeof p, fr);
	h_raw_send(&f.r, fr, n);
	h_raw_send(&f.r, fr, n); /* the same bytes again */
	ck_assert(h_run_until_count(f.loop, &f.s.downs, 1));
	ck_assert_int_eq(f.s.last_down, NET_ERR_MAC);
	ck_assert_int_eq(f.s.frames, 1);
	fixture_close(&f, "reason=\"bad frame MAC (altered, replayed, reordered or deleted frame)\" detail=\"frame #1 length 54\"");
}
END_TEST

START_TEST(test_reordered_frames)
{
	struct fixture f;
	uint8_t p[40], fr0[40 + 24], fr1[40 + 24];
	size_t n0, n1;

	fixture_open(&f);
	h_raw_handshake(f.loop, &f.r, 0);
	h_fill(p, sizeof p, 0);
	n0 = h_raw_frame(&f.r, p, sizeof p, fr0);
	h_fill(p, sizeof p, 1);
	n1 = h_raw_frame(&f.r, p, sizeof p, fr1);
	h_raw_send(&f.r, fr1, n1);
	h_raw_send(&f.r, fr0, n0);
	ck_assert(h_run_until_count(f.loop, &f.s.downs, 1));
	ck_assert_int_eq(f.s.last_down, NET_ERR_MAC);
	ck_assert_int_eq(f.s.frames, 0);
	fixture_close(&f, "detail=\"frame #0 length 44\"");
}
END_TEST

START_TEST(test_truncated_frame)
{
	struct fixture f;
	uint8_t p[200], fr[200 + 24];
	size_t n;

	fixture_open(&f);
	open_and_prove(&f);
	h_fill(p, sizeof p, 1);
	n = h_raw_frame(&f.r, p, sizeof p, fr);
	h_raw_send(&f.r, fr, n - 30);
	ck_assert_int_eq(shutdown(f.r.fd, SHUT_WR), 0);
	ck_assert(h_run_until_count(f.loop, &f.s.downs, 1));
	ck_assert_int_eq(f.s.last_down, NET_ERR_TRUNCATED);
	ck_assert_int_eq(f.s.frames, 1);
	fixture_close(&f, "reason=\"peer closed in the middle of a message\" detail=\"closed with 194 bytes of a frame\"");
}
END_TEST

/* An authentic frame (right counter, right tag) whose payload is not a whole number of
 * messages, or holds one above the client limit: the connection closes with reason and
 * none of the frame's messages is delivered, not even the good ones before the bad. */
static void bad_bundle(size_t max_client, const uint8_t *payload, uint32_t len, int reason,
		       const char *detail)
{
	struct fixture f;
	uint8_t *fr = malloc((size_t)len + 20);
	size_t n;

	ck_assert_ptr_nonnull(fr);
	fixture_open_limit(&f, max_client);
	open_and_prove(&f);
	n = h_raw_frame_payload(&f.r, payload, len, fr);
	h_raw_send(&f.r, fr, n);
	free(fr);
	ck_assert(h_run_until_count(f.loop, &f.s.downs, 1));
	ck_assert_int_eq(f.s.last_down, reason);
	ck_assert_int_eq(f.s.frames, 1); /* open_and_prove's message only */
	fixture_close(&f, detail);
}

START_TEST(test_bundle_length_past_frame)
{
	static const uint8_t p[] = { 3, 0, 0, 0, 'a', 'b', 'c', 10, 0, 0, 0, 'x', 'y' };

	bad_bundle(0, p, sizeof p, NET_ERR_FRAME_BAD,
		   "reason=\"malformed frame (its messages do not fill it exactly)\" "
		   "detail=\"frame #1: message at byte 7: length 10, frame 13 bytes, limit 2097152\"");
}
END_TEST

START_TEST(test_bundle_short_tail)
{
	static const uint8_t p[] = { 1, 0, 0, 0, 'a', 0, 0 };

	bad_bundle(0, p, sizeof p, NET_ERR_FRAME_BAD,
		   "detail=\"frame #1: message at byte 5: length 0, frame 7 bytes, limit 2097152\"");
}
END_TEST

START_TEST(test_empty_frame)
{
	bad_bundle(0, (const uint8_t *)"", 0, NET_ERR_FRAME_BAD,
		   "reason=\"malformed frame (its messages do not fill it exactly)\" "
		   "detail=\"frame #1 holds no message\"");
}
END_TEST

/* Below NET_BUNDLE_MAX a frame can carry a message above a small client limit. */
START_TEST(test_bundled_message_over_limit)
{
	uint8_t p[2 * NET_MSG_HDR + 10 + 1500];

	memset(p, 'm', sizeof p);
	memcpy(p, "\x0a\x00\x00\x00", 4);
	memcpy(p + 14, "\xdc\x05\x00\x00", 4); /* 1500 */
	bad_bundle(1000, p, sizeof p, NET_ERR_FRAME_SIZE,
		   "reason=\"frame too large\" "
		   "detail=\"frame #1: message at byte 14: length 1500, frame 1518 bytes, limit 1000\"");
}
END_TEST

/* Hellos with random bytes changed: each connection is refused or left waiting for a
 * signature that never comes; none gets up, none lingers, the replica keeps serving. */
START_TEST(test_mutated_hellos)
{
	struct fixture f;
	struct net_stats st;
	int i;

	fixture_open(&f);
	h_raw_close(&f.r);
	for (i = 0; i < 100; i++) {
		uint8_t rnd[4];
		ck_assert_int_eq(crypto_random(rnd, sizeof rnd), 0);
		h_raw_init(&f.r, &f.k, i % 2 ? NET_ROLE_CLIENT : NET_ROLE_REPLICA, i % 2 ? 0 : 1);
		h_raw_connect(&f.r, f.port);
		h_raw_build_hello(&f.r);
		f.r.hello[rnd[0] % NET_HELLO_LEN] ^= (uint8_t)(rnd[1] | 1);
		if (rnd[2] & 1)
			f.r.hello[rnd[3] % NET_HELLO_LEN] ^= 0x80;
		h_raw_send(&f.r, f.r.hello, NET_HELLO_LEN);
		ck_assert_int_eq(shutdown(f.r.fd, SHUT_WR), 0);
		ck_assert(h_run(f.loop, 5.0, h_raw_closed, &f.r));
		h_raw_close(&f.r);
	}
	ck_assert_int_eq(f.s.ups, 0);
	net_get_stats(f.s.net, &st);
	ck_assert_uint_eq(st.handshakes_ok, 0);
	ck_assert_uint_eq(st.accepted, 101); /* with the fixture's own, closed at once */
	ck_assert_uint_eq(st.handshakes_failed, 101);
	ck_assert_uint_eq(st.unauth, 0);
	/* fixture_close wants a raw connection that the replica closes: one more bad one. */
	h_raw_init(&f.r, &f.k, NET_ROLE_CLIENT, 0);
	h_raw_connect(&f.r, f.port);
	h_raw_send(&f.r, "XXXX", 4);
	fixture_close(&f, "reason=\"bad magic (not a bulwark hello)\" detail=\"first bytes 58585858\"");
}
END_TEST

/* A hello whose static key has small order is refused before any signature is checked:
 * OpenSSL's cofactorless Ed25519 verification accepts forged signatures under such keys
 * (found by fuzz_net_hello). Neither can a net be configured with one. */
START_TEST(test_small_order_key)
{
	struct fixture f;
	struct h_node n;
	struct net_config cfg;
	struct net *net = NULL;
	struct ev_loop *loop;

	fixture_open(&f);
	h_raw_build_hello(&f.r);
	memset(f.r.hello + 60, 0, CRYPTO_ED25519_PUB); /* y = 0: a point of order 4 */
	h_raw_send(&f.r, f.r.hello, NET_HELLO_LEN);
	fixture_close(&f, "reason=\"malformed hello\" detail=\"static key of small order\"");

	loop = ev_loop_new(0);
	h_config(&n, &cfg, NET_ROLE_REPLICA, 0);
	memset(n.table[2], 0xff, CRYPTO_ED25519_PUB);
	n.table[2][0] = 0xee; /* p + 1 with the sign bit set: a non-canonical encoding of y = 1 */
	ck_assert_int_eq(net_open(&net, loop, &cfg), NET_ERR_ARG);
	ck_assert_ptr_null(net);
	crypto_ed25519_free(&n.key);
	ev_loop_destroy(loop);
}
END_TEST

static Suite *net_attack_suite(void)
{
	Suite *s = suite_create("net_attack");
	TCase *tc = tcase_create("attack");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_garbage_bytes);
	tcase_add_test(tc, test_truncated_hello);
	tcase_add_test(tc, test_oversized_length_prefix);
	tcase_add_test(tc, test_flipped_mac_bit);
	tcase_add_test(tc, test_flipped_payload_bit);
	tcase_add_test(tc, test_replayed_frame);
	tcase_add_test(tc, test_reordered_frames);
	tcase_add_test(tc, test_truncated_frame);
	tcase_add_test(tc, test_bundle_length_past_frame);
	tcase_add_test(tc, test_bundle_short_tail);
	tcase_add_test(tc, test_empty_frame);
	tcase_add_test(tc, test_bundled_message_over_limit);
	tcase_add_test(tc, test_mutated_hellos);
	tcase_add_test(tc, test_small_order_key);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(net_attack_suite)
