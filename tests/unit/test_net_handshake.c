/* test_net_handshake.c: handshake refusals, each with its precise logged reason: unknown
 * replica key or id, wrong group, wrong epoch, unsupported version, bad signatures from
 * either side, the wrong replica answering, handshake timeout, and the cap on connections
 * still in handshake. After each, the listener keeps serving a good peer. */
#include "tests/unit/test_net_harness.h"

struct fixture {
	struct ev_loop *loop;
	struct h_node s; /* replica 0, listening */
	uint16_t port;
};

static void fixture_open(struct fixture *f, double hs_timeout, unsigned max_unauth)
{
	struct net_config cfg;

	f->loop = ev_loop_new(0);
	h_config(&f->s, &cfg, NET_ROLE_REPLICA, 0);
	if (hs_timeout > 0)
		cfg.limits.handshake_timeout = hs_timeout;
	if (max_unauth > 0)
		cfg.limits.max_unauth = max_unauth;
	h_start(&f->s, f->loop, &cfg);
	f->port = h_listen(&f->s);
}

static void fixture_close(struct fixture *f)
{
	struct net_stats st;

	h_check_serving(f->loop, &f->s, f->port);
	net_get_stats(f->s.net, &st);
	ck_assert_uint_ge(st.handshakes_failed, 1);
	h_stop(&f->s);
	ev_loop_destroy(f->loop);
}

/* A net peer with config tweaked by the test dials the fixture; the fixture must refuse it
 * with `reason` in its log and never report it up. */
static void refused_net_peer(struct fixture *f, struct h_node *p, struct net_config *cfg,
			     const char *reason)
{
	h_start(p, f->loop, cfg);
	ck_assert_int_eq(net_connect(p->net, 0, "127.0.0.1", f->port), NET_OK);
	ck_assert_msg(h_run_until_log(f->loop, &f->s, reason), "no %s in:\n%s", reason, f->s.log);
	ck_assert_int_eq(f->s.ups, 0);
	h_stop(p);
}

START_TEST(test_unknown_key_for_replica_id)
{
	struct fixture f;
	struct h_node p;
	struct net_config cfg;

	fixture_open(&f, 0, 0);
	/* Claims replica 1 but holds replica 3's key (its own table says so, ours does not). */
	h_config(&p, &cfg, NET_ROLE_REPLICA, 1);
	crypto_ed25519_free(&p.key);
	h_key(&p.key, 3);
	memcpy(p.table[1], p.key.pub, CRYPTO_ED25519_PUB);
	refused_net_peer(&f, &p, &cfg, "reason=\"unknown replica key\" detail=\"key presented for replica 1 is not its configured key\"");
	fixture_close(&f);
}
END_TEST

START_TEST(test_unknown_replica_id)
{
	struct fixture f;
	struct crypto_ed25519_key k;
	struct h_raw r;

	fixture_open(&f, 0, 0);
	h_key(&k, 9);
	h_raw_init(&r, &k, NET_ROLE_REPLICA, 9);
	h_raw_connect(&r, f.port);
	h_raw_build_hello(&r);
	h_raw_send(&r, r.hello, NET_HELLO_LEN);
	ck_assert(h_run(f.loop, 5.0, h_raw_closed, &r));
	ck_assert(h_log_has(&f.s, "reason=\"unknown replica key\" detail=\"replica id 9, table has 4\""));
	h_raw_close(&r);
	crypto_ed25519_free(&k);
	fixture_close(&f);
}
END_TEST

START_TEST(test_wrong_group)
{
	struct fixture f;
	struct h_node p;
	struct net_config cfg;

	fixture_open(&f, 0, 0);
	h_config(&p, &cfg, NET_ROLE_CLIENT, 0);
	cfg.group_id = H_GROUP + 1;
	refused_net_peer(&f, &p, &cfg, "reason=\"wrong group id\" detail=\"peer group 8, ours 7\"");
	fixture_close(&f);
}
END_TEST

START_TEST(test_wrong_epoch)
{
	struct fixture f;
	struct h_node p;
	struct net_config cfg;

	fixture_open(&f, 0, 0);
	h_config(&p, &cfg, NET_ROLE_REPLICA, 2);
	cfg.epoch = H_EPOCH - 1;
	refused_net_peer(&f, &p, &cfg, "reason=\"wrong ring epoch\" detail=\"peer epoch 2, ours 3\"");
	fixture_close(&f);
}
END_TEST

START_TEST(test_unsupported_version_and_bad_role)
{
	struct fixture f;
	struct crypto_ed25519_key k;
	struct h_raw r;

	fixture_open(&f, 0, 0);
	ck_assert_int_eq(crypto_ed25519_generate(&k), 0);

	h_raw_init(&r, &k, NET_ROLE_CLIENT, 0);
	h_raw_connect(&r, f.port);
	h_raw_build_hello(&r);
	r.hello[4] = 2; /* the previous version: frames tagged with HMAC-SHA256 */
	h_raw_send(&r, r.hello, NET_HELLO_LEN);
	ck_assert(h_run(f.loop, 5.0, h_raw_closed, &r));
	ck_assert(h_log_has(&f.s, "reason=\"unsupported protocol version\" detail=\"peer version 2, supported 3\""));
	h_raw_close(&r);

	h_raw_init(&r, &k, 3, 0); /* no such role */
	h_raw_connect(&r, f.port);
	h_raw_build_hello(&r);
	h_raw_send(&r, r.hello, NET_HELLO_LEN);
	ck_assert(h_run(f.loop, 5.0, h_raw_closed, &r));
	ck_assert(h_log_has(&f.s, "reason=\"malformed hello\" detail=\"role byte 3"));
	h_raw_close(&r);

	/* An all-zero (low-order) ephemeral key gives no shared secret. */
	h_raw_init(&r, &k, NET_ROLE_CLIENT, 0);
	h_raw_connect(&r, f.port);
	h_raw_build_hello(&r);
	memset(r.hello + 28, 0, CRYPTO_X25519_LEN);
	h_raw_send(&r, r.hello, NET_HELLO_LEN);
	ck_assert(h_run(f.loop, 5.0, h_raw_closed, &r));
	ck_assert(h_log_has(&f.s, "reason=\"malformed hello\" detail=\"low-order ephemeral X25519 key\""));
	h_raw_close(&r);
	crypto_ed25519_free(&k);
	fixture_close(&f);
}
END_TEST

START_TEST(test_bad_initiator_signature)
{
	struct fixture f;
	struct crypto_ed25519_key k;
	struct h_raw r;

	fixture_open(&f, 0, 0);
	h_key(&k, 1);
	h_raw_init(&r, &k, NET_ROLE_REPLICA, 1);
	h_raw_connect(&r, f.port);
	h_raw_handshake(f.loop, &r, 1);
	ck_assert(h_run(f.loop, 5.0, h_raw_closed, &r));
	ck_assert(h_log_has(&f.s, "reason=\"bad handshake signature\" detail=\"transcript signature of the initiator\""));
	ck_assert_int_eq(f.s.ups, 0);
	h_raw_close(&r);

	/* The same peer with a good signature gets in: the refusal was the signature alone. */
	h_raw_init(&r, &k, NET_ROLE_REPLICA, 1);
	h_raw_connect(&r, f.port);
	h_raw_handshake(f.loop, &r, 0);
	ck_assert(h_run_until_count(f.loop, &f.s.ups, 1));
	ck_assert(memcmp(net_conn_auth_key(f.s.conn_of[1]), r.auth, NET_AUTH_KEY_LEN) == 0);
	h_raw_close(&r);
	crypto_ed25519_free(&k);
	fixture_close(&f);
}
END_TEST

/* A raw listener answers a net dial as replica 0, optionally with a bad signature. */
static void raw_respond(struct ev_loop *loop, struct h_node *dialer, int corrupt, const char *reason)
{
	struct crypto_ed25519_key k0;
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	struct h_avail a;
	struct h_raw r;
	uint8_t hello_i[NET_HELLO_LEN], sig[NET_SIG_LEN];
	int lfd, one = 1;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_eq(net_connect(dialer->net, 0, "127.0.0.1", ntohs(sin.sin_port)), NET_OK);

	h_key(&k0, 0);
	h_raw_init(&r, &k0, NET_ROLE_REPLICA, 0);
	r.fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(r.fd, 0);
	a.fd = r.fd;
	a.n = NET_HELLO_LEN;
	ck_assert(h_run(loop, 5.0, h_pred_avail, &a));
	ck_assert_int_eq(recv(r.fd, hello_i, sizeof hello_i, MSG_WAITALL), (ssize_t)sizeof hello_i);
	h_raw_build_hello(&r);
	h_raw_derive(&r, hello_i, r.hello, hello_i + 28, 0);
	h_sign_ctx(&k0, "bulwark-net-v1 responder", r.th, sig);
	if (corrupt)
		sig[63] ^= 0x80;
	h_raw_send(&r, r.hello, NET_HELLO_LEN);
	h_raw_send(&r, sig, sizeof sig);
	ck_assert_msg(h_run_until_log(loop, dialer, reason), "no %s in:\n%s", reason, dialer->log);
	ck_assert_int_eq(dialer->ups, 0);
	h_raw_close(&r);
	close(lfd);
	crypto_ed25519_free(&k0);
}

START_TEST(test_bad_responder_signature)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node d;
	struct net_config cfg;

	h_config(&d, &cfg, NET_ROLE_REPLICA, 1);
	h_start(&d, loop, &cfg);
	raw_respond(loop, &d, 1, "reason=\"bad handshake signature\" detail=\"transcript signature of the responder\"");
	h_stop(&d);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_wrong_replica_answers)
{
	struct fixture f;
	struct h_node d;
	struct net_config cfg;

	fixture_open(&f, 0, 0); /* replica 0 listens, but d believes replica 2 lives there */
	h_config(&d, &cfg, NET_ROLE_REPLICA, 1);
	h_start(&d, f.loop, &cfg);
	ck_assert_int_eq(net_connect(d.net, 2, "127.0.0.1", f.port), NET_OK);
	ck_assert(h_run_until_log(f.loop, &d, "reason=\"responder is not the replica dialled\" detail=\"dialled replica 2, responder is replica 0\""));
	ck_assert_int_eq(d.ups, 0);
	h_stop(&d);
	fixture_close(&f);
}
END_TEST

START_TEST(test_handshake_timeout)
{
	struct fixture f;
	struct crypto_ed25519_key k;
	struct h_raw silent, partial;

	fixture_open(&f, 0.2, 0);
	ck_assert_int_eq(crypto_ed25519_generate(&k), 0);
	h_raw_init(&silent, &k, NET_ROLE_CLIENT, 0);
	h_raw_connect(&silent, f.port);
	h_raw_init(&partial, &k, NET_ROLE_CLIENT, 0);
	h_raw_connect(&partial, f.port);
	h_raw_build_hello(&partial);
	h_raw_send(&partial, partial.hello, 60);
	ck_assert(h_run(f.loop, 5.0, h_raw_closed, &silent));
	ck_assert(h_run(f.loop, 5.0, h_raw_closed, &partial));
	ck_assert(h_log_has(&f.s, "reason=\"handshake timeout\" detail=\"no complete handshake after 0.2s (0 bytes"));
	ck_assert(h_log_has(&f.s, "reason=\"handshake timeout\" detail=\"no complete handshake after 0.2s (60 bytes"));
	h_raw_close(&silent);
	h_raw_close(&partial);
	crypto_ed25519_free(&k);
	fixture_close(&f);
}
END_TEST

START_TEST(test_handshake_cap)
{
	struct fixture f;
	struct crypto_ed25519_key k;
	struct h_raw r[3];
	struct net_stats st;
	int i;

	fixture_open(&f, 0.3, 2);
	ck_assert_int_eq(crypto_ed25519_generate(&k), 0);
	for (i = 0; i < 3; i++) {
		h_raw_init(&r[i], &k, NET_ROLE_CLIENT, 0);
		h_raw_connect(&r[i], f.port);
	}
	/* The third is closed at once; the first two wait for the timeout. */
	ck_assert(h_run(f.loop, 0.25, h_raw_closed, &r[2]));
	ck_assert(!h_raw_closed(&r[0]) && !h_raw_closed(&r[1]));
	ck_assert(h_log_has(&f.s, "reason=\"too many connections in handshake\""));
	net_get_stats(f.s.net, &st);
	ck_assert_uint_eq(st.unauth, 2);
	ck_assert_uint_eq(st.accepted, 3);
	ck_assert(h_run(f.loop, 5.0, h_raw_closed, &r[0]));
	ck_assert(h_run(f.loop, 5.0, h_raw_closed, &r[1]));
	net_get_stats(f.s.net, &st);
	ck_assert_uint_eq(st.unauth, 0);
	for (i = 0; i < 3; i++)
		h_raw_close(&r[i]);
	crypto_ed25519_free(&k);
	fixture_close(&f);
}
END_TEST

static Suite *net_handshake_suite(void)
{
	Suite *s = suite_create("net_handshake");
	TCase *tc = tcase_create("handshake");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_unknown_key_for_replica_id);
	tcase_add_test(tc, test_unknown_replica_id);
	tcase_add_test(tc, test_wrong_group);
	tcase_add_test(tc, test_wrong_epoch);
	tcase_add_test(tc, test_unsupported_version_and_bad_role);
	tcase_add_test(tc, test_bad_initiator_signature);
	tcase_add_test(tc, test_bad_responder_signature);
	tcase_add_test(tc, test_wrong_replica_answers);
	tcase_add_test(tc, test_handshake_timeout);
	tcase_add_test(tc, test_handshake_cap);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(net_handshake_suite)
