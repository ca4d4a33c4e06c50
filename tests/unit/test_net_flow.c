/* test_net_flow.c: connection lifetime under load and failure: a peer that never reads is
 * dropped at its queue limit while others keep flowing; a dial reconnects with backoff
 * after its listener goes away and comes back; idle clients are dropped; a replica's
 * newer connection replaces its older one and frames to it verify on the raw side. */
#include "tests/unit/test_net_harness.h"

#define SLOW_LIMIT (2u * 1024 * 1024)
#define SLOW_FRAME (16u * 1024)

struct pump {
	struct h_node *s;
	struct net_conn *slow, *good;
	int slow_dropped;
	int slow_rc;
	size_t slow_sent, max_slow_queued, max_total_queued;
	int good_sent, good_after_drop;
};

static void pump_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pump *p = w->data;
	static uint8_t buf[SLOW_FRAME];
	struct net_stats st;
	int i;

	for (i = 0; i < 8 && !p->slow_dropped; i++) {
		int rc = net_send(p->slow, buf, sizeof buf);
		if (rc != NET_OK) {
			p->slow_dropped = 1;
			p->slow_rc = rc;
			break;
		}
		p->slow_sent += sizeof buf;
		if (net_conn_queued(p->slow) > p->max_slow_queued)
			p->max_slow_queued = net_conn_queued(p->slow);
	}
	if (p->good_after_drop < 50) {
		h_fill(buf, 1000, (uint64_t)p->good_sent);
		ck_assert_int_eq(net_send(p->good, buf, 1000), NET_OK);
		p->good_sent++;
		if (p->slow_dropped)
			p->good_after_drop++;
	}
	net_get_stats(p->s->net, &st);
	if (st.queued > p->max_total_queued)
		p->max_total_queued = st.queued;
}

START_TEST(test_slow_peer_dropped)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node s, g;
	struct net_config cs, cg;
	struct crypto_ed25519_key k1;
	struct h_raw r;
	struct pump p;
	ev_timer t;
	uint16_t port;

	h_config(&s, &cs, NET_ROLE_REPLICA, 0);
	cs.limits.max_out_replica = SLOW_LIMIT;
	h_start(&s, loop, &cs);
	port = h_listen(&s);
	h_config(&g, &cg, NET_ROLE_REPLICA, 2);
	h_start(&g, loop, &cg);
	ck_assert_int_eq(net_connect(g.net, 0, "127.0.0.1", port), NET_OK);
	h_key(&k1, 1);
	h_raw_init(&r, &k1, NET_ROLE_REPLICA, 1);
	h_raw_connect(&r, port);
	h_raw_handshake(loop, &r, 0); /* and then never reads */
	ck_assert(h_run_until_count(loop, &s.ups, 2));
	ck_assert_ptr_nonnull(s.conn_of[1]);
	ck_assert_ptr_nonnull(s.conn_of[2]);

	memset(&p, 0, sizeof p);
	p.s = &s;
	p.slow = s.conn_of[1];
	p.good = s.conn_of[2];
	ev_timer_init(&t, pump_cb, 0.001, 0.001);
	t.data = &p;
	ev_timer_start(loop, &t);
	ck_assert(h_run_until_count(loop, &s.downs, 1));
	ck_assert(h_run_until_count(loop, &p.good_after_drop, 50));
	ev_timer_stop(loop, &t);
	ck_assert(h_run_until_count(loop, &g.frames, p.good_sent));

	ck_assert_int_eq(p.slow_rc, NET_ERR_SLOW);
	ck_assert_int_eq(s.last_down, NET_ERR_SLOW);
	ck_assert(h_log_has(&s, "reason=\"slow peer (output queue over limit)\""));
	/* The queue grew to the limit and no further: memory stayed bounded. */
	ck_assert_uint_gt(p.max_slow_queued, SLOW_LIMIT - SLOW_FRAME - 20);
	ck_assert_uint_le(p.max_slow_queued, SLOW_LIMIT);
	ck_assert_uint_le(p.max_total_queued, SLOW_LIMIT + 64 * 1024);
	/* The good peer saw every frame, in order, and never went down. */
	ck_assert_int_eq(g.frames, p.good_sent);
	ck_assert_int_eq(g.bad_payload, 0);
	ck_assert_int_eq(g.downs, 0);
	ck_assert_ptr_null(s.conn_of[1]);

	h_raw_close(&r);
	crypto_ed25519_free(&k1);
	h_stop(&g);
	h_stop(&s);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_reconnect_after_listener_restart)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node a, a2, b;
	struct net_config ca, cb;
	struct net_stats st0, st1;
	uint8_t msg[100];
	uint16_t port, port2 = 0;
	uint64_t attempts;

	h_config(&a, &ca, NET_ROLE_REPLICA, 0);
	h_start(&a, loop, &ca);
	port = h_listen(&a);
	h_config(&b, &cb, NET_ROLE_REPLICA, 1);
	h_start(&b, loop, &cb);
	ck_assert_int_eq(net_connect(b.net, 0, "127.0.0.1", port), NET_OK);
	ck_assert(h_run_until_up(loop, &a, &b));
	h_fill(msg, sizeof msg, 0);
	ck_assert_int_eq(net_send_replica(b.net, 0, msg, sizeof msg), NET_OK);
	ck_assert(h_run_until_count(loop, &a.frames, 1));

	/* The listening replica goes away. */
	h_stop(&a);
	ck_assert(h_run_until_count(loop, &b.downs, 1));
	ck_assert_int_eq(net_send_replica(b.net, 0, msg, sizeof msg), NET_ERR_NOPEER);
	net_get_stats(b.net, &st0);
	h_run(loop, 0.6, NULL, NULL);
	net_get_stats(b.net, &st1);
	/* Delays 50, 100, 200, 400 ms scaled by [0.5, 1): a few attempts, not a busy loop. */
	attempts = st1.dialled - st0.dialled;
	ck_assert_msg(attempts >= 2 && attempts <= 6, "%llu attempts in 0.6 s", (unsigned long long)attempts);
	ck_assert(h_log_has(&b, "Connection refused"));

	/* It comes back on the same port: b reconnects and traffic resumes. */
	h_config(&a2, &ca, NET_ROLE_REPLICA, 0);
	h_start(&a2, loop, &ca);
	ck_assert_int_eq(net_listen(a2.net, "127.0.0.1", port, &port2), NET_OK);
	ck_assert_uint_eq(port2, port);
	ck_assert(h_run_until_count(loop, &b.ups, 2));
	ck_assert(h_run_until_count(loop, &a2.ups, 1));
	ck_assert_int_eq(net_send_replica(b.net, 0, msg, sizeof msg), NET_OK);
	ck_assert_int_eq(net_send_replica(a2.net, 1, msg, sizeof msg), NET_OK);
	ck_assert(h_run_until_count(loop, &a2.frames, 1));
	ck_assert(h_run_until_count(loop, &b.frames, 1));
	ck_assert_int_eq(a2.bad_payload + b.bad_payload, 0);
	h_stop(&b);
	h_stop(&a2);
	ev_loop_destroy(loop);
}
END_TEST

struct chatter {
	struct h_node *c;
	int sent;
};

static void chatter_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct chatter *ch = w->data;
	uint8_t buf[16];

	if (ch->c->conn_of[0] == NULL)
		return;
	h_fill(buf, sizeof buf, (uint64_t)ch->sent);
	ck_assert_int_eq(net_send(ch->c->conn_of[0], buf, sizeof buf), NET_OK);
	ch->sent++;
}

START_TEST(test_idle_client_dropped)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node s, quiet, chatty;
	struct net_config cs, cc;
	struct chatter ch;
	ev_timer t;
	uint16_t port;

	h_config(&s, &cs, NET_ROLE_REPLICA, 0);
	cs.limits.idle_timeout_client = 0.3;
	h_start(&s, loop, &cs);
	port = h_listen(&s);
	h_config(&quiet, &cc, NET_ROLE_CLIENT, 0);
	h_start(&quiet, loop, &cc);
	h_config(&chatty, &cc, NET_ROLE_CLIENT, 0);
	h_start(&chatty, loop, &cc);
	ck_assert_int_eq(net_connect(quiet.net, 0, "127.0.0.1", port), NET_OK);
	ck_assert_int_eq(net_connect(chatty.net, 0, "127.0.0.1", port), NET_OK);
	ck_assert(h_run_until_count(loop, &s.ups, 2));
	ch.c = &chatty;
	ch.sent = 0;
	ev_timer_init(&t, chatter_cb, 0.05, 0.05);
	t.data = &ch;
	ev_timer_start(loop, &t);
	ck_assert(h_run_until_count(loop, &s.downs, 1));
	ck_assert_int_eq(s.last_down, NET_ERR_IDLE);
	ck_assert(h_log_has(&s, "reason=\"idle timeout\""));
	ck_assert(h_run_until_count(loop, &quiet.downs, 1));
	/* The chatty client outlives twice the idle limit (the quiet one, which redials,
	 * may be dropped again meanwhile). */
	h_run(loop, 0.6, NULL, NULL);
	ev_timer_stop(loop, &t);
	ck_assert_int_eq(s.last_down, NET_ERR_IDLE);
	ck_assert_int_eq(chatty.downs, 0);
	ck_assert_int_ge(ch.sent, 8);
	ck_assert(h_run_until_count(loop, &s.frames, ch.sent));
	h_stop(&quiet);
	h_stop(&chatty);
	h_stop(&s);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_newer_replica_connection_replaces)
{
	struct ev_loop *loop = ev_loop_new(0);
	struct h_node s;
	struct net_config cs;
	struct crypto_ed25519_key k1;
	struct h_raw old, cur;
	uint8_t msg[33], got[4 + NET_MSG_HDR + 33 + NET_FRAME_TAG], nonce[12];
	uint16_t port;

	h_config(&s, &cs, NET_ROLE_REPLICA, 0);
	h_start(&s, loop, &cs);
	port = h_listen(&s);
	h_key(&k1, 1);
	h_raw_init(&old, &k1, NET_ROLE_REPLICA, 1);
	h_raw_connect(&old, port);
	h_raw_handshake(loop, &old, 0);
	ck_assert(h_run_until_count(loop, &s.ups, 1));
	h_raw_init(&cur, &k1, NET_ROLE_REPLICA, 1);
	h_raw_connect(&cur, port);
	h_raw_handshake(loop, &cur, 0);
	ck_assert(h_run_until_count(loop, &s.ups, 2));
	ck_assert(h_run_until_count(loop, &s.downs, 1));
	ck_assert_int_eq(s.last_down, NET_ERR_REPLACED);
	ck_assert(h_run(loop, 5.0, h_raw_closed, &old));

	/* Frames to replica 1 now go to the newer connection and verify there. */
	h_fill(msg, sizeof msg, 5);
	ck_assert_int_eq(net_send_replica(s.net, 1, msg, sizeof msg), NET_OK);
	h_raw_recv(loop, cur.fd, got, sizeof got);
	ck_assert_uint_eq(got[0], NET_MSG_HDR + sizeof msg); /* one message in the frame */
	ck_assert_uint_eq(got[4], sizeof msg);
	ck_assert(memcmp(got + 4 + NET_MSG_HDR, msg, sizeof msg) == 0);
	h_frame_nonce(nonce, 0); /* first frame in this direction: counter 0 */
	ck_assert_int_eq(crypto_gmac_verify(&cur.mac_in, nonce, got, 4 + NET_MSG_HDR + sizeof msg,
					    NULL, 0, got + 4 + NET_MSG_HDR + sizeof msg), 0);
	h_raw_close(&old);
	h_raw_close(&cur);
	crypto_ed25519_free(&k1);
	h_stop(&s);
	ev_loop_destroy(loop);
}
END_TEST

static Suite *net_flow_suite(void)
{
	Suite *s = suite_create("net_flow");
	TCase *tc = tcase_create("flow");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_slow_peer_dropped);
	tcase_add_test(tc, test_reconnect_after_listener_restart);
	tcase_add_test(tc, test_idle_client_dropped);
	tcase_add_test(tc, test_newer_replica_connection_replaces);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(net_flow_suite)
