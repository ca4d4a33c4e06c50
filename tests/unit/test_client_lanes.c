/* test_client_lanes.c: lanes of one client key (bulwark_client_lane) against an
 * in-process group of four real PBFT replicas (test_client_harness.h): operations
 * outstanding on several lanes at once over one connection per replica, replies routed
 * by lane, late replies to closed lanes dropped, lane numbers reused safely, the lane
 * limit, and lanes outliving the client they were opened from. */
#include "tests/unit/test_client_harness.h"

#define FAST_CLIENT "timeout_ms = 100\nread_quorum = 2f+1\n"

static struct ch h;

static struct bulwark_client *open_lane(struct bulwark_client *c)
{
	struct bulwark_client *l = NULL;
	int rc = bulwark_client_lane(c, &l);

	ck_assert_msg(rc == BULWARK_OK, "lane: %s", bulwark_strerror(rc));
	ck_assert_ptr_nonnull(l);
	return l;
}

static void setup_macs(void)
{
	ch_start(&h, 0, FAST_CLIENT);
}

static void setup_sigs(void)
{
	ch_start(&h, 1, FAST_CLIENT);
}

static void teardown(void)
{
	ch_stop(&h);
}

/* One asynchronous operation's outcome. */
struct op_rec {
	int pending;
	int calls;
	int status;
	uint64_t version;
	char value[32];
	size_t value_len;
	int *running;    /* decremented on completion, if set */
};

static void op_done(void *arg, const struct bulwark_result *res)
{
	struct op_rec *r = arg;

	r->calls++;
	r->pending = 0;
	r->status = res->status;
	r->version = res->version;
	r->value_len = 0;
	if (res->status == BULWARK_OK && res->value) {
		ck_assert_uint_lt(res->value_len, sizeof(r->value));
		memcpy(r->value, res->value, res->value_len);
		r->value_len = res->value_len;
	}
	if (r->running)
		(*r->running)--;
}

static void submit(struct bulwark_client *c, int type, const char *key, const char *value,
		   struct op_rec *r, int *running)
{
	struct bulwark_op op;

	memset(r, 0, sizeof(*r));
	memset(&op, 0, sizeof(op));
	op.type = type;
	op.key = key;
	op.key_len = strlen(key);
	op.value = value;
	op.value_len = value ? strlen(value) : 0;
	r->pending = 1;
	r->status = 1;
	r->running = running;
	ck_assert_int_eq(bulwark_submit(c, &op, op_done, r), BULWARK_OK);
}

/* Client connections replica i has open now. */
static unsigned client_conns(uint32_t i)
{
	unsigned n = 0;

	for (uint32_t k = 0; k < 64; k++)
		n += h.r[i].cli[k].conn != NULL;
	return n;
}

/* ---------------------------------------------------------------- two lanes */
START_TEST(two_lanes_at_once)
{
	struct bulwark_client *c = ch_open_client(&h, NULL), *l;
	struct op_rec a, b;
	uint8_t pc[32], pl[32];
	int running;

	ck_assert_int_eq(bulwark_client_lane(NULL, &l), BULWARK_ERR_ARG);
	ck_assert_int_eq(bulwark_client_lane(c, NULL), BULWARK_ERR_ARG);
	l = open_lane(c);
	bulwark_client_public_key(c, pc);
	bulwark_client_public_key(l, pl);
	ck_assert_mem_eq(pc, pl, 32);
	ck_assert_uint_eq(bulwark_client_replicas(l), CH_N);
	ck_assert_uint_eq(bulwark_client_faults(l), CH_F);

	/* One write outstanding on each lane at the same time. */
	running = 2;
	submit(c, BULWARK_OP_PUT, "a", "from lane 0", &a, &running);
	submit(l, BULWARK_OP_PUT, "b", "from lane 1", &b, &running);
	ck_assert_int_eq(bulwark_client_busy(c), 1);
	ck_assert_int_eq(bulwark_client_busy(l), 1);
	ck_assert(ch_run_until(&h, &running, 5000));
	ck_assert_int_eq(a.status, BULWARK_OK);
	ck_assert_int_eq(b.status, BULWARK_OK);
	ck_assert_uint_eq(a.version, 1);
	ck_assert_uint_eq(b.version, 1);

	/* Two reads at once, each answered with its own key's value: every reply reaches
	 * the lane it names (a lane's machine ignores replies naming another lane, so a
	 * misrouted reply would leave its operation waiting). */
	running = 2;
	submit(c, BULWARK_OP_GET, "b", NULL, &a, &running);
	submit(l, BULWARK_OP_GET, "a", NULL, &b, &running);
	ck_assert(ch_run_until(&h, &running, 5000));
	ck_assert_int_eq(a.status, BULWARK_OK);
	ck_assert_int_eq(b.status, BULWARK_OK);
	ck_assert_uint_eq(a.value_len, strlen("from lane 1"));
	ck_assert_mem_eq(a.value, "from lane 1", a.value_len);
	ck_assert_uint_eq(b.value_len, strlen("from lane 0"));
	ck_assert_mem_eq(b.value, "from lane 0", b.value_len);

	/* Both lanes write one key at once: each write is executed once. */
	running = 2;
	submit(c, BULWARK_OP_PUT, "k", "x", &a, &running);
	submit(l, BULWARK_OP_PUT, "k", "y", &b, &running);
	ck_assert(ch_run_until(&h, &running, 5000));
	ck_assert_int_eq(a.status, BULWARK_OK);
	ck_assert_int_eq(b.status, BULWARK_OK);
	ck_assert((a.version == 1 && b.version == 2) || (a.version == 2 && b.version == 1));

	/* One connection per replica for the key, whatever the number of lanes. */
	for (uint32_t i = 0; i < CH_N; i++)
		ck_assert_uint_eq(client_conns(i), 1);
	bulwark_client_close(l);
	bulwark_client_close(c);
}
END_TEST

/* ---------------------------------------------------------------- many lanes */
struct lane_worker {
	struct bulwark_client *c;
	char key[16];
	int left, ok;
	uint64_t last_version;
	int *running;
};

static void worker_done(void *arg, const struct bulwark_result *res);

static void worker_next(struct lane_worker *w)
{
	struct bulwark_op op = {BULWARK_OP_PUT, w->key, strlen(w->key), "v", 1, 0};

	ck_assert_int_eq(bulwark_submit(w->c, &op, worker_done, w), BULWARK_OK);
	ck_assert_int_eq(bulwark_submit(w->c, &op, worker_done, w), BULWARK_ERR_BUSY);
}

static void worker_done(void *arg, const struct bulwark_result *res)
{
	struct lane_worker *w = arg;

	ck_assert_int_eq(res->status, BULWARK_OK);
	ck_assert_uint_eq(res->version, w->last_version + 1);
	w->last_version = res->version;
	w->ok++;
	if (--w->left > 0)
		worker_next(w);
	else
		(*w->running)--;
}

START_TEST(many_lanes_one_connection_each)
{
	enum { W = 32, OPS = 10 };
	struct lane_worker w[W];
	struct bulwark_client *c = ch_open_client(&h, NULL);
	int running = W;

	for (int i = 0; i < W; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].c = i == 0 ? c : open_lane(c);
		snprintf(w[i].key, sizeof(w[i].key), "w%d", i);
		w[i].left = OPS;
		w[i].running = &running;
		worker_next(&w[i]);
	}
	ck_assert_msg(ch_run_until(&h, &running, 20000), "%d lanes unfinished", running);
	for (uint32_t i = 0; i < CH_N; i++)
		ck_assert_uint_eq(client_conns(i), 1);
	for (int i = W; i-- > 0;) {
		ck_assert_int_eq(w[i].ok, OPS);
		bulwark_client_close(w[i].c);
	}
}
END_TEST

/* ---------------------------------------------------------------- late replies */
/* A reply from replica `from` for (the client's key, lane) with timestamp ts, sent on
 * that replica's authenticated connection to the client. */
static void send_reply(uint32_t from, const uint8_t pub[32], uint32_t lane, uint64_t ts)
{
	struct ch_cli *cl = ch_cli_find(&h.r[from], pub);
	struct wire_msg m;
	struct wire_buf b;

	ck_assert_ptr_nonnull(cl);
	memset(&m, 0, sizeof(m));
	m.hdr.version = WIRE_VERSION;
	m.hdr.type = WIRE_REPLY;
	m.hdr.sender = from;
	m.hdr.group = CH_GROUP;
	m.hdr.epoch = CH_EPOCH;
	m.u.reply.timestamp = ts;
	memcpy(m.u.reply.client, pub, 32);
	m.u.reply.lane = lane;
	wire_buf_init(&b);
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	ck_assert_int_eq(net_send(cl->conn, b.p, b.len), 0);
	wire_buf_free(&b);
}

START_TEST(closed_lane_late_reply_dropped)
{
	struct bulwark_client *c = ch_open_client(&h, NULL), *l, *l2, *l3;
	struct op_rec a, b, d;
	uint8_t pub[32];
	uint64_t ver;
	int running;

	/* Connected first, so that requests leave at once. */
	ck_assert_int_eq(bulwark_put(c, "x", 1, "0", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 1);
	bulwark_client_public_key(c, pub);

	/* Lane 1 sends a write and is closed before the group answers: cancelled. Its
	 * number goes to the next lane at once, which writes the same key while the group's
	 * replies to the old lane 1 are still on their way: the new lane's timestamps are
	 * above the old one's, so the group executes both and the new lane ignores the old
	 * replies. */
	l = open_lane(c);
	submit(l, BULWARK_OP_PUT, "x", "old", &a, NULL);
	bulwark_client_close(l);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.status, BULWARK_ERR_CANCELLED);
	l2 = open_lane(c);
	running = 1;
	submit(l2, BULWARK_OP_PUT, "x", "new", &b, &running);
	ck_assert(ch_run_until(&h, &running, 5000));
	ck_assert_int_eq(b.status, BULWARK_OK);
	ck_assert_uint_eq(b.version, 3); /* the cancelled write was executed too, first */
	ck_assert_int_eq(a.calls, 1);

	/* Lane 2 is closed with a write outstanding and not reopened: its replies find no
	 * lane and are dropped, while lane 0's read proceeds. */
	l3 = open_lane(c);
	submit(l3, BULWARK_OP_PUT, "y", "gone", &d, NULL);
	bulwark_client_close(l3);
	ck_assert_int_eq(d.status, BULWARK_ERR_CANCELLED);
	running = 1;
	submit(c, BULWARK_OP_GET, "x", NULL, &a, &running);
	ck_assert(ch_run_until(&h, &running, 5000));
	ck_assert_int_eq(a.status, BULWARK_OK);
	ck_assert_uint_eq(a.version, 3);
	ck_assert_mem_eq(a.value, "new", 3);
	ch_run_for(&h, 50);
	ck_assert_int_eq(d.calls, 1);

	/* Replies from every replica naming a closed lane, a lane never opened, one above
	 * the lane table and one above the group's limit: all dropped without harm. */
	for (uint32_t i = 0; i < CH_N; i++) {
		send_reply(i, pub, 2, 1);
		send_reply(i, pub, 5, 1);
		send_reply(i, pub, 1000, 1);
		send_reply(i, pub, BULWARK_MAX_LANES, 1);
	}
	ch_run_for(&h, 50);
	ch_expect_get(l2, "y", "gone", 1);
	bulwark_client_close(l2);
	bulwark_client_close(c);
}
END_TEST

/* ---------------------------------------------------------------- closing */
START_TEST(lane_outlives_its_base)
{
	struct bulwark_client *c = ch_open_client(&h, NULL), *l, *l2;
	struct bulwark_replica_status st[CH_N];
	struct op_rec a;
	uint8_t pc[32], pl[32];
	uint64_t ver;
	size_t n;

	ck_assert_int_eq(bulwark_client_set_timeout(c, 4000), BULWARK_OK);
	l = open_lane(c); /* inherits the timeout */
	bulwark_client_public_key(c, pc);
	ck_assert_int_eq(bulwark_put(c, "b", 1, "base", 4, &ver), BULWARK_OK);
	/* The base closes with an operation outstanding (cancelled), the lane goes on. */
	submit(c, BULWARK_OP_PUT, "b", "late", &a, NULL);
	bulwark_client_close(c);
	ck_assert_int_eq(a.status, BULWARK_ERR_CANCELLED);
	bulwark_client_public_key(l, pl);
	ck_assert_mem_eq(pc, pl, 32);
	ck_assert_int_eq(bulwark_put(l, "b", 1, "lane", 4, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 3);
	ch_expect_get(l, "b", "lane", 3);
	ck_assert_int_eq(bulwark_status(l, 2000, st, CH_N, &n), BULWARK_OK);
	ck_assert_uint_eq(n, CH_N);
	for (uint32_t i = 0; i < CH_N; i++)
		ck_assert_int_eq(st[i].up, 1);
	/* A lane opened from a lane (it takes number 0, free again). */
	l2 = open_lane(l);
	ck_assert_int_eq(bulwark_del(l2, "b", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 3);
	ck_assert_int_eq(bulwark_put(l, "b", 1, "again", 5, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 1);
	for (uint32_t i = 0; i < CH_N; i++)
		ck_assert_uint_eq(client_conns(i), 1);
	/* The connections close with the last lane. */
	bulwark_client_close(l);
	ck_assert_int_eq(bulwark_put(l2, "b", 1, "last", 4, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 2);
	bulwark_client_close(l2);
	ch_run_for(&h, 100);
	for (uint32_t i = 0; i < CH_N; i++)
		ck_assert_uint_eq(client_conns(i), 0);
}
END_TEST

/* Close the lane from inside its own callback while another lane keeps working. */
struct close_rec {
	struct bulwark_client *close_me;
	int pending;
	int status;
};

static void close_done(void *arg, const struct bulwark_result *res)
{
	struct close_rec *r = arg;

	r->pending = 0;
	r->status = res->status;
	bulwark_client_close(r->close_me);
}

START_TEST(close_lane_in_callback)
{
	struct bulwark_client *c = ch_open_client(&h, NULL), *l = open_lane(c);
	struct bulwark_op op = {BULWARK_OP_PUT, "cb", 2, "1", 1, 0};
	struct close_rec r = {NULL, 1, 1};

	r.close_me = l;
	ck_assert_int_eq(bulwark_submit(l, &op, close_done, &r), BULWARK_OK);
	ck_assert(ch_run_until(&h, &r.pending, 5000));
	ck_assert_int_eq(r.status, BULWARK_OK);
	/* The lane's own callback closed it; now the base, the key's last lane, does the
	 * same: the connections close from inside the callback's return. */
	r.close_me = c;
	r.pending = 1;
	ck_assert_int_eq(bulwark_submit(c, &op, close_done, &r), BULWARK_OK);
	ck_assert(ch_run_until(&h, &r.pending, 5000));
	ck_assert_int_eq(r.status, BULWARK_OK);
	ch_run_for(&h, 50);
	for (uint32_t i = 0; i < CH_N; i++)
		ck_assert_uint_eq(client_conns(i), 0);
}
END_TEST

/* ---------------------------------------------------------------- the limit */
START_TEST(lane_limit_and_reuse)
{
	struct bulwark_client *c = ch_open_client(&h, NULL), *l;
	struct bulwark_client **lanes = calloc(BULWARK_MAX_LANES, sizeof(*lanes));
	uint64_t ver;

	ck_assert_ptr_nonnull(lanes);
	lanes[0] = c;
	for (uint32_t i = 1; i < BULWARK_MAX_LANES; i++)
		lanes[i] = open_lane(c);
	ck_assert_int_eq(bulwark_client_lane(c, &l), BULWARK_ERR_LANES);
	ck_assert_ptr_null(l);
	/* The highest lane number works. */
	ck_assert_int_eq(bulwark_put(lanes[BULWARK_MAX_LANES - 1], "top", 3, "1", 1, &ver),
			 BULWARK_OK);
	ck_assert_uint_eq(ver, 1);
	/* A closed lane's number is given out again, and works. */
	bulwark_client_close(lanes[77]);
	lanes[77] = open_lane(c);
	ck_assert_int_eq(bulwark_client_lane(c, &l), BULWARK_ERR_LANES);
	ck_assert_int_eq(bulwark_put(lanes[77], "top", 3, "2", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 2);
	for (uint32_t i = BULWARK_MAX_LANES; i-- > 0;)
		bulwark_client_close(lanes[i]);
	free(lanes);
}
END_TEST

/* ---------------------------------------------------------------- robust mode */
START_TEST(lanes_with_signatures)
{
	struct bulwark_client *c = ch_open_client(&h, NULL), *l = open_lane(c);
	struct op_rec a, b;
	int running = 2;

	submit(c, BULWARK_OP_PUT, "s0", "zero", &a, &running);
	submit(l, BULWARK_OP_PUT, "s1", "one", &b, &running);
	ck_assert(ch_run_until(&h, &running, 5000));
	ck_assert_int_eq(a.status, BULWARK_OK);
	ck_assert_int_eq(b.status, BULWARK_OK);
	ch_expect_get(c, "s1", "one", 1);
	ch_expect_get(l, "s0", "zero", 1);
	bulwark_client_close(c);
	bulwark_client_close(l);
}
END_TEST

static Suite *client_lanes_suite(void)
{
	Suite *s = suite_create("client_lanes");
	TCase *tc = tcase_create("macs");
	TCase *ts = tcase_create("signatures");

	tcase_add_checked_fixture(tc, setup_macs, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, two_lanes_at_once);
	tcase_add_test(tc, many_lanes_one_connection_each);
	tcase_add_test(tc, closed_lane_late_reply_dropped);
	tcase_add_test(tc, lane_outlives_its_base);
	tcase_add_test(tc, close_lane_in_callback);
	tcase_add_test(tc, lane_limit_and_reuse);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(ts, setup_sigs, teardown);
	tcase_set_timeout(ts, 60);
	tcase_add_test(ts, lanes_with_signatures);
	suite_add_tcase(s, ts);
	return s;
}

UNIT_MAIN(client_lanes_suite)
