/* test_net_frames.c: replicas and clients connect over loopback and exchange frames:
 * many frames both ways, scattered sends, the exact maximum frame and one byte over,
 * clients with fresh keys, accept_client refusal, configuration and argument checks. */
#include "tests/unit/test_net_harness.h"

#define MANY 3000

static void send_many(struct net_conn *c, int count, size_t maxlen)
{
	static uint8_t buf[4096];
	int i;

	for (i = 0; i < count; i++) {
		size_t len = (size_t)(i * 37) % maxlen;
		h_fill(buf, len, (uint64_t)i);
		if (i % 5 == 4 && len >= 20) {
			/* Same bytes as one frame from three pieces. */
			struct iovec iov[3] = {{buf, 8}, {buf + 8, 4}, {buf + 12, len - 12}};
			ck_assert_int_eq(net_sendv(c, iov, 3), NET_OK);
		} else {
			ck_assert_int_eq(net_send(c, buf, len), NET_OK);
		}
	}
}

START_TEST(test_replicas_exchange)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node a, b;
	struct net_config ca, cb;
	struct net_stats st;
	uint8_t one[64];
	uint16_t port;

	h_config(&a, &ca, NET_ROLE_REPLICA, 0);
	h_start(&a, loop, &ca);
	h_config(&b, &cb, NET_ROLE_REPLICA, 1);
	h_start(&b, loop, &cb);
	port = h_listen(&a);
	ck_assert_int_eq(net_connect(b.net, 0, "127.0.0.1", port), NET_OK);
	ck_assert(h_run_until_up(loop, &a, &b));

	/* Each side sees the other's authenticated identity and the same session key. */
	ck_assert_int_eq(a.last_peer.role, NET_ROLE_REPLICA);
	ck_assert_uint_eq(a.last_peer.replica_id, 1);
	ck_assert(memcmp(a.last_peer.pub, b.key.pub, CRYPTO_ED25519_PUB) == 0);
	ck_assert_uint_eq(b.last_peer.replica_id, 0);
	ck_assert(memcmp(b.last_peer.pub, a.key.pub, CRYPTO_ED25519_PUB) == 0);
	ck_assert_ptr_nonnull(a.conn_of[1]);
	ck_assert_ptr_nonnull(b.conn_of[0]);
	ck_assert(memcmp(net_conn_auth_key(a.conn_of[1]), net_conn_auth_key(b.conn_of[0]), NET_AUTH_KEY_LEN) == 0);

	send_many(a.conn_of[1], MANY, 4000);
	send_many(b.conn_of[0], MANY, 4000);
	ck_assert(h_run_until_count(loop, &a.frames, MANY));
	ck_assert(h_run_until_count(loop, &b.frames, MANY));
	ck_assert_int_eq(a.bad_payload, 0);
	ck_assert_int_eq(b.bad_payload, 0);

	/* By replica id: b dialled a (its own dial); a answers on the accepted connection. */
	h_fill(one, sizeof one, MANY);
	ck_assert_int_eq(net_send_replica(b.net, 0, one, sizeof one), NET_OK);
	ck_assert_int_eq(net_send_replica(a.net, 1, one, sizeof one), NET_OK);
	ck_assert_int_eq(net_send_replica(a.net, 2, one, sizeof one), NET_ERR_NOPEER);
	ck_assert_int_eq(net_send_replica(a.net, H_N, one, sizeof one), NET_ERR_ARG);
	ck_assert(h_run_until_count(loop, &a.frames, MANY + 1));
	ck_assert(h_run_until_count(loop, &b.frames, MANY + 1));
	ck_assert_int_eq(a.bad_payload + b.bad_payload, 0);

	net_get_stats(a.net, &st);
	/* Messages queued in one loop turn share frames. */
	ck_assert_uint_eq(st.msgs_in, MANY + 1);
	ck_assert_uint_eq(st.msgs_out, MANY + 1);
	ck_assert_uint_ge(st.frames_in, 2);
	ck_assert_uint_lt(st.frames_in, st.msgs_in);
	ck_assert_uint_ge(st.frames_out, 2);
	ck_assert_uint_lt(st.frames_out, st.msgs_out);
	ck_assert_uint_eq(st.handshakes_ok, 1);
	ck_assert_uint_eq(st.open, 1);
	ck_assert_uint_eq(st.queued, 0);
	ck_assert_uint_eq(st.unauth, 0);

	h_stop(&b);
	ck_assert(h_run_until_count(loop, &a.downs, 1));
	ck_assert_int_eq(a.last_down, NET_ERR_EOF);
	h_stop(&a);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_max_frame_and_one_over)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node a, b;
	struct net_config ca, cb;
	const size_t max = 32u * 1024 * 1024;
	uint8_t *big = malloc(max + 1);
	uint16_t port;

	ck_assert_ptr_nonnull(big);
	h_config(&a, &ca, NET_ROLE_REPLICA, 0);
	ck_assert_uint_eq(ca.limits.max_frame, max); /* the default */
	h_start(&a, loop, &ca);
	h_config(&b, &cb, NET_ROLE_REPLICA, 1);
	cb.limits.max_frame = max + 1; /* b may send what a must refuse */
	h_start(&b, loop, &cb);
	port = h_listen(&a);
	ck_assert_int_eq(net_connect(b.net, 0, "127.0.0.1", port), NET_OK);
	ck_assert(h_run_until_up(loop, &a, &b));

	/* a refuses to send one byte over its own maximum, and the connection stays up. */
	ck_assert_int_eq(net_send(a.conn_of[1], big, max + 1), NET_ERR_FRAME_SIZE);
	ck_assert_uint_eq(net_conn_queued(a.conn_of[1]), 0);

	h_fill(big, max, 0);
	ck_assert_int_eq(net_send(b.conn_of[0], big, max), NET_OK);
	ck_assert(h_run_until_count(loop, &a.frames, 1));
	ck_assert_uint_eq(a.bytes, max);
	ck_assert_int_eq(a.bad_payload, 0);

	h_fill(big, max + 1, 1);
	ck_assert_int_eq(net_send(b.conn_of[0], big, max + 1), NET_OK);
	ck_assert(h_run_until_count(loop, &a.downs, 1));
	ck_assert_int_eq(a.last_down, NET_ERR_FRAME_SIZE);
	ck_assert_int_eq(a.frames, 1);
	ck_assert(h_log_has(&a, "reason=\"frame too large\""));
	ck_assert(h_run_until_count(loop, &b.downs, 1));
	free(big);

	/* a keeps serving. */
	h_check_serving(loop, &a, port);
	h_stop(&b);
	h_stop(&a);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_client_fresh_key)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node s, c;
	struct net_config cs, cc;
	uint16_t port;

	h_config(&s, &cs, NET_ROLE_REPLICA, 2);
	h_start(&s, loop, &cs);
	h_config(&c, &cc, NET_ROLE_CLIENT, 0);
	h_start(&c, loop, &cc);
	port = h_listen(&s);
	ck_assert_int_eq(net_connect(c.net, 2, "127.0.0.1", port), NET_OK);
	ck_assert(h_run_until_up(loop, &s, &c));
	ck_assert_int_eq(s.accept_calls, 1);
	ck_assert_int_eq(s.last_peer.role, NET_ROLE_CLIENT);
	ck_assert(memcmp(s.last_peer.pub, c.key.pub, CRYPTO_ED25519_PUB) == 0);
	ck_assert_uint_eq(c.last_peer.replica_id, 2);
	ck_assert(memcmp(net_conn_auth_key(s.conn_of[H_CLIENT_SLOT]), net_conn_auth_key(c.conn_of[2]),
			 NET_AUTH_KEY_LEN) == 0);

	send_many(c.conn_of[2], 200, 1000);
	send_many(s.conn_of[H_CLIENT_SLOT], 200, 1000);
	ck_assert(h_run_until_count(loop, &s.frames, 200));
	ck_assert(h_run_until_count(loop, &c.frames, 200));
	ck_assert_int_eq(s.bad_payload + c.bad_payload, 0);

	/* A client does not listen. */
	ck_assert_int_eq(net_listen(c.net, "127.0.0.1", 0, NULL), NET_ERR_ARG);
	h_stop(&c);
	h_stop(&s);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_accept_client_refuses)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node s, c;
	struct net_config cs, cc;
	struct net_stats st;
	uint16_t port;

	h_config(&s, &cs, NET_ROLE_REPLICA, 0);
	h_start(&s, loop, &cs);
	s.refuse_clients = 1;
	h_config(&c, &cc, NET_ROLE_CLIENT, 0);
	h_start(&c, loop, &cc);
	port = h_listen(&s);
	ck_assert_int_eq(net_connect(c.net, 0, "127.0.0.1", port), NET_OK);
	ck_assert(h_run_until_log(loop, &s, "reason=\"client refused\""));
	ck_assert(h_log_has(&s, "refused by accept_client"));
	ck_assert_int_eq(s.accept_calls, 1);
	ck_assert_int_eq(s.ups, 0);
	net_get_stats(s.net, &st);
	ck_assert_uint_eq(st.handshakes_ok, 0);
	ck_assert_uint_ge(st.handshakes_failed, 1);
	/* The client had sent its signature and considered itself up; it then sees the close. */
	ck_assert(h_run_until_count(loop, &c.downs, 1));
	ck_assert_int_eq(c.last_down, NET_ERR_EOF);
	h_stop(&c);
	h_stop(&s);
	ev_loop_destroy(loop);
}
END_TEST

/* Send sizes[0..n) as messages numbered from *seq in one loop turn, run until a has them
 * all, and return the frames they took. */
static uint64_t turn_of_messages(struct ev_loop *loop, struct h_node *a, struct h_node *b,
				 const size_t *sizes, int n, uint64_t *seq)
{
	static uint8_t buf[NET_BUNDLE_MAX + 100];
	struct net_stats st0, st;
	int want = a->frames + n;

	net_get_stats(a->net, &st0);
	for (int i = 0; i < n; i++) {
		ck_assert_uint_le(sizes[i], sizeof buf);
		h_fill(buf, sizes[i], (*seq)++);
		ck_assert_int_eq(net_send(b->conn_of[0], buf, sizes[i]), NET_OK);
	}
	ck_assert(h_run_until_count(loop, &a->frames, want));
	ck_assert_int_eq(a->bad_payload, 0); /* whole and in order */
	net_get_stats(a->net, &st);
	ck_assert_uint_eq(st.msgs_in - st0.msgs_in, (uint64_t)n);
	return st.frames_in - st0.frames_in;
}

/* The messages of one loop turn to a peer share frames while the payload stays within
 * NET_BUNDLE_MAX; a message that does not fit starts a new frame, and one larger than
 * NET_BUNDLE_MAX has a frame of its own. */
START_TEST(test_messages_share_frames)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node a, b;
	struct net_config ca, cb;
	uint64_t seq = 0;
	size_t sizes[100];

	h_config(&a, &ca, NET_ROLE_REPLICA, 0);
	h_start(&a, loop, &ca);
	h_config(&b, &cb, NET_ROLE_REPLICA, 1);
	h_start(&b, loop, &cb);
	ck_assert_int_eq(net_connect(b.net, 0, "127.0.0.1", h_listen(&a)), NET_OK);
	ck_assert(h_run_until_up(loop, &a, &b));

	for (int i = 0; i < 100; i++)
		sizes[i] = 1000;
	ck_assert_uint_eq(turn_of_messages(loop, &a, &b, sizes, 3, &seq), 1);
	/* 65 messages of 1000 bytes (+ 4 each) fit in 64 KiB, 66 do not. */
	ck_assert_uint_eq(turn_of_messages(loop, &a, &b, sizes, 65, &seq), 1);
	ck_assert_uint_eq(turn_of_messages(loop, &a, &b, sizes, 66, &seq), 2);
	ck_assert_uint_eq(turn_of_messages(loop, &a, &b, sizes, 100, &seq), 2);
	/* small, one above NET_BUNDLE_MAX, small: three frames. */
	sizes[1] = NET_BUNDLE_MAX + 100;
	ck_assert_uint_eq(turn_of_messages(loop, &a, &b, sizes, 3, &seq), 3);
	h_stop(&b);
	h_stop(&a);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_close_inside_on_frame)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node a, b;
	struct net_config ca, cb;
	uint8_t p[300];
	uint16_t port;

	h_config(&a, &ca, NET_ROLE_REPLICA, 0);
	h_start(&a, loop, &ca);
	h_config(&b, &cb, NET_ROLE_REPLICA, 1);
	h_start(&b, loop, &cb);
	port = h_listen(&a);
	ck_assert_int_eq(net_connect(b.net, 0, "127.0.0.1", port), NET_OK);
	ck_assert(h_run_until_up(loop, &a, &b));
	a.close_on_frame = 1;
	h_fill(p, sizeof p, 0);
	ck_assert_int_eq(net_send(b.conn_of[0], p, sizeof p), NET_OK);
	ck_assert_int_eq(net_send(b.conn_of[0], p, sizeof p), NET_OK);
	ck_assert(h_run_until_count(loop, &a.downs, 1));
	ck_assert_int_eq(a.last_down, NET_ERR_SHUTDOWN);
	ck_assert_int_eq(a.frames, 1); /* nothing is delivered after the close, not even the
					* second message of the same frame */
	/* b's dial notices and reconnects. */
	ck_assert(h_run_until_count(loop, &b.ups, 2));
	h_stop(&b);
	h_stop(&a);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_config_and_arguments)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node n, other;
	struct net_config cfg, good;
	struct net *net = NULL;
	int e;

	h_config(&n, &cfg, NET_ROLE_REPLICA, 1);
	good = cfg;
	cfg.identity = NULL;
	ck_assert_int_eq(net_open(&net, loop, &cfg), NET_ERR_ARG);
	cfg = good;
	cfg.replica_id = H_N;
	ck_assert_int_eq(net_open(&net, loop, &cfg), NET_ERR_ARG);
	cfg = good;
	cfg.replica_id = 2; /* own key is not the table's key for id 2 */
	ck_assert_int_eq(net_open(&net, loop, &cfg), NET_ERR_ARG);
	cfg = good;
	cfg.n_replicas = 0;
	ck_assert_int_eq(net_open(&net, loop, &cfg), NET_ERR_ARG);
	cfg = good;
	cfg.limits.max_frame = 0;
	ck_assert_int_eq(net_open(&net, loop, &cfg), NET_ERR_ARG);
	cfg = good;
	cfg.limits.backoff_max = cfg.limits.backoff_min / 2;
	ck_assert_int_eq(net_open(&net, loop, &cfg), NET_ERR_ARG);
	cfg = good;
	cfg.role = (enum net_role)9;
	ck_assert_int_eq(net_open(&net, loop, &cfg), NET_ERR_ARG);
	ck_assert_ptr_null(net);

	h_start(&n, loop, &good);
	ck_assert_int_eq(net_connect(n.net, 1, "127.0.0.1", 9), NET_ERR_ARG); /* itself */
	ck_assert_int_eq(net_connect(n.net, H_N, "127.0.0.1", 9), NET_ERR_ARG);
	ck_assert_int_eq(net_connect(n.net, 0, "no.such.host.invalid", 9), NET_ERR_ADDR);
	ck_assert_int_eq(net_connect(n.net, 0, "127.0.0.1", 9), NET_OK);
	ck_assert_int_eq(net_connect(n.net, 0, "127.0.0.1", 9), NET_ERR_EXISTS);
	ck_assert_int_eq(net_send(NULL, "x", 1), NET_ERR_ARG);
	ck_assert_int_eq(net_send_replica(n.net, 0, "x", 1), NET_ERR_NOPEER);
	/* Port 9 (discard) is closed on loopback: the dial fails and is retried with backoff. */
	ck_assert(h_run_until_log(loop, &n, "event=reconnect_scheduled id=0"));

	/* Two listeners on one port: the second bind fails cleanly. */
	h_config(&other, &cfg, NET_ROLE_REPLICA, 0);
	h_start(&other, loop, &cfg);
	{
		uint16_t port = h_listen(&other);
		ck_assert_int_eq(net_listen(n.net, "127.0.0.1", port, NULL), NET_ERR_SYS);
	}
	h_stop(&other);

	for (e = 0; e >= NET_ERR_FRAME_BAD; e--)
		ck_assert_str_ne(net_strerror(e), "unknown net error");
	ck_assert_str_eq(net_strerror(NET_ERR_FRAME_BAD - 1), "unknown net error");
	ck_assert_str_eq(net_strerror(1), "unknown net error");
	h_stop(&n);
	net_close(NULL);
	ev_loop_destroy(loop);
}
END_TEST

static Suite *net_frames_suite(void)
{
	Suite *s = suite_create("net_frames");
	TCase *tc = tcase_create("frames");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_replicas_exchange);
	tcase_add_test(tc, test_max_frame_and_one_over);
	tcase_add_test(tc, test_client_fresh_key);
	tcase_add_test(tc, test_accept_client_refuses);
	tcase_add_test(tc, test_messages_share_frames);
	tcase_add_test(tc, test_close_inside_on_frame);
	tcase_add_test(tc, test_config_and_arguments);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(net_frames_suite)
