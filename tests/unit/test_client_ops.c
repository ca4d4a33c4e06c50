/* test_client_ops.c: libbulwark's group client against an in-process group of four real
 * PBFT replicas (test_client_harness.h): KV semantics, blocking and event-loop APIs,
 * f+1 / 2f+1 acceptance with silent and lying replicas, view change after the primary
 * stops, timeouts, keys, signatures mode, close and the status query. */
#include <sys/stat.h>

#include "tests/unit/test_client_harness.h"

#define FAST_CLIENT "timeout_ms = 100\nread_quorum = 2f+1\n"

static struct ch h;

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

/* ---------------------------------------------------------------- semantics */
START_TEST(kv_semantics)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	uint64_t ver = 99;
	uint8_t *v = NULL;
	size_t vl = 7;

	ck_assert_int_eq(bulwark_put(c, "k", 1, "one", 3, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 1);
	ck_assert_int_eq(bulwark_put(c, "k", 1, "two", 3, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 2);
	ch_expect_get(c, "k", "two", 2);
	/* CAS on a stale version fails and reports the current one; on the right one wins. */
	ck_assert_int_eq(bulwark_cas(c, "k", 1, 1, "x", 1, &ver), BULWARK_ERR_CAS_MISMATCH);
	ck_assert_uint_eq(ver, 2);
	ch_expect_get(c, "k", "two", 2);
	ck_assert_int_eq(bulwark_cas(c, "k", 1, 2, "three", 5, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 3);
	ch_expect_get(c, "k", "three", 3);
	/* DEL reports the version removed; the key is gone afterwards. */
	ck_assert_int_eq(bulwark_del(c, "k", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 3);
	ck_assert_int_eq(bulwark_get(c, "k", 1, &v, &vl, &ver), BULWARK_ERR_NOT_FOUND);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(vl, 0);
	ck_assert_int_eq(bulwark_del(c, "k", 1, &ver), BULWARK_ERR_NOT_FOUND);
	/* CAS with expected version 0 creates; a second one finds it existing. */
	ck_assert_int_eq(bulwark_cas(c, "k", 1, 0, "new", 3, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 1);
	ck_assert_int_eq(bulwark_cas(c, "k", 1, 0, "again", 5, &ver), BULWARK_ERR_CAS_MISMATCH);
	ck_assert_uint_eq(ver, 1);
	ch_expect_get(c, "k", "new", 1);
	/* Empty values and binary keys round-trip. */
	ck_assert_int_eq(bulwark_put(c, "\0\xff", 2, "", 0, &ver), BULWARK_OK);
	ck_assert_int_eq(bulwark_get(c, "\0\xff", 2, &v, &vl, &ver), BULWARK_OK);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(vl, 0);
	ck_assert_uint_eq(ver, 1);
	free(v);
	bulwark_client_close(c);
}
END_TEST

START_TEST(too_big_and_bad_arguments)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	static uint8_t big[BULWARK_MAX_VALUE + 1];
	uint8_t key[BULWARK_MAX_KEY + 1];
	uint64_t ver;
	uint8_t *v;
	size_t vl;

	memset(key, 'k', sizeof(key));
	ck_assert_int_eq(bulwark_put(c, key, sizeof(key), "v", 1, &ver), BULWARK_ERR_TOO_BIG);
	ck_assert_int_eq(bulwark_put(c, "k", 1, big, sizeof(big), &ver), BULWARK_ERR_TOO_BIG);
	ck_assert_int_eq(bulwark_put(c, NULL, 1, "v", 1, &ver), BULWARK_ERR_ARG);
	ck_assert_int_eq(bulwark_put(c, "k", 1, NULL, 1, &ver), BULWARK_ERR_ARG);
	ck_assert_int_eq(bulwark_get(c, "k", 1, NULL, &vl, &ver), BULWARK_ERR_ARG);
	ck_assert_int_eq(bulwark_put(NULL, "k", 1, "v", 1, &ver), BULWARK_ERR_ARG);
	{
		struct bulwark_op op = {99, "k", 1, NULL, 0, 0};
		ck_assert_int_eq(bulwark_submit(c, &op, NULL, NULL), BULWARK_ERR_ARG);
	}
	/* Nothing above went out: the client is idle and works. */
	ck_assert_int_eq(bulwark_client_busy(c), 0);
	ck_assert_int_eq(bulwark_put(c, "k", 1, "v", 1, &ver), BULWARK_OK);
	ck_assert_int_eq(bulwark_get(c, "k", 1, &v, &vl, &ver), BULWARK_OK);
	free(v);
	/* The largest key with the largest value goes through and reads back (megabyte
	 * messages through four replicas on one thread: allow for a loaded machine). */
	ck_assert_int_eq(bulwark_client_set_timeout(c, 30000), BULWARK_OK);
	memset(big, 'b', sizeof(big));
	ck_assert_int_eq(bulwark_put(c, key, BULWARK_MAX_KEY, big, BULWARK_MAX_VALUE, &ver),
			 BULWARK_OK);
	ck_assert_int_eq(bulwark_get(c, key, BULWARK_MAX_KEY, &v, &vl, &ver), BULWARK_OK);
	ck_assert_uint_eq(vl, BULWARK_MAX_VALUE);
	ck_assert_mem_eq(v, big, vl);
	free(v);
	bulwark_client_close(c);
	/* A request above the group's batch_max_bytes is refused before it is sent. */
	ch_write_config(&h, 1024, FAST_CLIENT);
	c = ch_open_client(&h, NULL);
	ck_assert_int_eq(bulwark_put(c, "k", 1, big, 1000, &ver), BULWARK_ERR_TOO_BIG);
	ck_assert_int_eq(bulwark_put(c, "k", 1, big, 800, &ver), BULWARK_OK);
	bulwark_client_close(c);
}
END_TEST

/* ---------------------------------------------------------------- the async API */
struct async_worker {
	struct bulwark_client *c;
	char key[16];
	int left, ok, failed;
	uint64_t last_version;
	int *running;
};

static void async_done(void *arg, const struct bulwark_result *res);

static void async_next(struct async_worker *w)
{
	char val[32];
	struct bulwark_op op;

	snprintf(val, sizeof(val), "v%d", w->left);
	memset(&op, 0, sizeof(op));
	op.type = BULWARK_OP_PUT;
	op.key = w->key;
	op.key_len = strlen(w->key);
	op.value = val;
	op.value_len = strlen(val);
	ck_assert_int_eq(bulwark_submit(w->c, &op, async_done, w), BULWARK_OK);
	/* One outstanding operation per client. */
	ck_assert_int_eq(bulwark_submit(w->c, &op, async_done, w), BULWARK_ERR_BUSY);
	ck_assert_int_eq(bulwark_client_busy(w->c), 1);
}

static void async_done(void *arg, const struct bulwark_result *res)
{
	struct async_worker *w = arg;

	ck_assert_int_eq(bulwark_client_busy(w->c), 0);
	if (res->status == BULWARK_OK) {
		w->ok++;
		ck_assert_uint_eq(res->version, w->last_version + 1);
		w->last_version = res->version;
	} else {
		w->failed++;
	}
	/* Blocking calls from inside a callback of the loop are refused. */
	ck_assert_int_eq(bulwark_put(w->c, "x", 1, "y", 1, NULL), BULWARK_ERR_LOOP);
	if (--w->left > 0)
		async_next(w);
	else
		(*w->running)--;
}

START_TEST(many_clients_on_one_loop)
{
	enum { W = 8, OPS = 15 };
	struct async_worker w[W];
	int running = W;

	for (int i = 0; i < W; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].c = ch_open_client(&h, NULL);
		snprintf(w[i].key, sizeof(w[i].key), "w%d", i);
		w[i].left = OPS;
		w[i].running = &running;
		async_next(&w[i]);
	}
	ck_assert_msg(ch_run_until(&h, &running, 20000), "%d workers unfinished", running);
	for (int i = 0; i < W; i++) {
		ck_assert_int_eq(w[i].ok, OPS);
		ck_assert_int_eq(w[i].failed, 0);
		/* The last write of each worker (left = 1) is what every key holds. */
		ch_expect_get(w[i].c, w[i].key, "v1", OPS);
		bulwark_client_close(w[i].c);
	}
}
END_TEST

/* ---------------------------------------------------------------- faults */
START_TEST(silent_backup)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	uint64_t ver;

	ck_assert_int_eq(bulwark_put(c, "a", 1, "1", 1, &ver), BULWARK_OK);
	h.r[3].silent = 1;
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(bulwark_put(c, "a", 1, "2", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 6);
	/* 2f+1 = 3 read-only replies still come from replicas 0..2. */
	ch_expect_get(c, "a", "2", 6);
	bulwark_client_close(c);
}
END_TEST

START_TEST(lying_replica_is_outvoted)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	uint64_t ver;

	h.r[2].lie = 1;
	ck_assert_int_eq(bulwark_put(c, "a", 1, "truth", 5, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 1);
	ch_expect_get(c, "a", "truth", 1);
	/* A liar plus a silent replica: no 2f+1 read-only quorum, so GET falls back to an
	 * ordered request, accepted on the f+1 correct matching replies. */
	h.r[3].silent = 1;
	ch_expect_get(c, "a", "truth", 1);
	ck_assert_int_eq(bulwark_put(c, "a", 1, "again", 5, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 2);
	bulwark_client_close(c);
}
END_TEST

START_TEST(malformed_replies_are_ignored)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	struct bulwark_replica_status st[CH_N];
	uint64_t ver;

	h.r[1].junk = 1;
	ck_assert_int_eq(bulwark_put(c, "j", 1, "1", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 1);
	ch_expect_get(c, "j", "1", 1);
	ck_assert_int_eq(bulwark_del(c, "j", 1, &ver), BULWARK_OK);
	/* Replica 1's INFO in replica 2's name (view 999) is dropped; 2's own counts. */
	ck_assert_int_eq(bulwark_status(c, 2000, st, CH_N, NULL), BULWARK_OK);
	for (uint32_t i = 0; i < CH_N; i++) {
		ck_assert_int_eq(st[i].up, 1);
		ck_assert_uint_eq(st[i].id, i);
		ck_assert_uint_eq(st[i].view, 0);
	}
	bulwark_client_close(c);
}
END_TEST

START_TEST(primary_stopped_view_change)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	struct bulwark_replica_status st[CH_N];
	uint64_t ver;
	size_t n;

	ck_assert_int_eq(bulwark_put(c, "p", 1, "before", 6, &ver), BULWARK_OK);
	ch_replica_stop(&h, 0);
	ck_assert_int_eq(bulwark_put(c, "p", 1, "after", 5, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 2);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(bulwark_put(c, "p", 1, "more", 4, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 7);
	ch_expect_get(c, "p", "more", 7);
	ck_assert_int_eq(bulwark_status(c, 2000, st, CH_N, &n), BULWARK_OK);
	ck_assert_uint_eq(n, CH_N);
	ck_assert_int_eq(st[0].up, 0);
	for (uint32_t i = 1; i < CH_N; i++) {
		ck_assert_int_eq(st[i].up, 1);
		ck_assert_uint_ge(st[i].view, 1);
		ck_assert_uint_eq(st[i].primary, st[i].view % CH_N);
		ck_assert_uint_ne(st[i].primary, 0);
	}
	bulwark_client_close(c);
}
END_TEST

START_TEST(silent_primary_view_change)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	uint64_t ver;

	ck_assert_int_eq(bulwark_put(c, "q", 1, "1", 1, &ver), BULWARK_OK);
	/* Connected but mute: the client retransmits to all, the backups time out on it. */
	h.r[0].silent = 1;
	ck_assert_int_eq(bulwark_put(c, "q", 1, "2", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 2);
	ck_assert_int_eq(bulwark_cas(c, "q", 1, 2, "3", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 3);
	ch_expect_get(c, "q", "3", 3);
	bulwark_client_close(c);
}
END_TEST

START_TEST(whole_group_down_times_out)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	uint64_t ver, t0;
	uint8_t *v;
	size_t vl;

	ck_assert_int_eq(bulwark_put(c, "a", 1, "1", 1, &ver), BULWARK_OK);
	for (uint32_t i = 0; i < CH_N; i++)
		ch_replica_stop(&h, i);
	ck_assert_int_eq(bulwark_client_set_timeout(c, 600), BULWARK_OK);
	t0 = ch_now();
	ck_assert_int_eq(bulwark_put(c, "a", 1, "2", 1, &ver), BULWARK_ERR_TIMEOUT);
	ck_assert_uint_ge(ch_now() - t0, 590);
	ck_assert_uint_lt(ch_now() - t0, 3000);
	ck_assert_int_eq(bulwark_client_busy(c), 0);
	/* The client is usable again (a new request, not BUSY), and reads time out too. */
	ck_assert_int_eq(bulwark_get(c, "a", 1, &v, &vl, &ver), BULWARK_ERR_TIMEOUT);
	ck_assert_int_eq(bulwark_del(c, "a", 1, &ver), BULWARK_ERR_TIMEOUT);
	bulwark_client_close(c);
}
END_TEST

START_TEST(two_silent_replicas_block_writes)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	uint64_t ver;

	/* More than f faulty: no quorum, so no answer may be accepted. */
	h.r[2].silent = 1;
	h.r[3].silent = 1;
	ck_assert_int_eq(bulwark_client_set_timeout(c, 500), BULWARK_OK);
	ck_assert_int_eq(bulwark_put(c, "a", 1, "1", 1, &ver), BULWARK_ERR_TIMEOUT);
	/* Back to f silent: the same client completes. */
	h.r[2].silent = 0;
	ck_assert_int_eq(bulwark_client_set_timeout(c, 10000), BULWARK_OK);
	ck_assert_int_eq(bulwark_put(c, "b", 1, "1", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 1);
	bulwark_client_close(c);
}
END_TEST

/* ---------------------------------------------------------------- close */
struct cancel_rec {
	int calls;
	int pending;
	int status;
	struct bulwark_client *close_me;
};

static void cancel_done(void *arg, const struct bulwark_result *res)
{
	struct cancel_rec *r = arg;

	r->calls++;
	r->pending = 0;
	r->status = res->status;
	if (r->close_me)
		bulwark_client_close(r->close_me);
}

START_TEST(close_cancels_and_close_in_callback)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	struct cancel_rec rec = {0, 1, 1, NULL};
	struct bulwark_op op = {BULWARK_OP_PUT, "k", 1, "v", 1, 0};

	ck_assert_int_eq(bulwark_submit(c, &op, cancel_done, &rec), BULWARK_OK);
	ck_assert_int_eq(rec.calls, 0); /* never from inside submit */
	bulwark_client_close(c);
	ck_assert_int_eq(rec.calls, 1);
	ck_assert_int_eq(rec.status, BULWARK_ERR_CANCELLED);

	/* Closing from inside the completion callback is safe (ASan checks the rest). */
	c = ch_open_client(&h, NULL);
	memset(&rec, 0, sizeof(rec));
	rec.status = 1;
	rec.pending = 1;
	rec.close_me = c;
	ck_assert_int_eq(bulwark_submit(c, &op, cancel_done, &rec), BULWARK_OK);
	ck_assert(ch_run_until(&h, &rec.pending, 5000));
	ck_assert_int_eq(rec.calls, 1);
	ck_assert_int_eq(rec.status, BULWARK_OK);
	ch_run_for(&h, 20);
}
END_TEST

/* ---------------------------------------------------------------- keys and config */
START_TEST(keys_file_and_ephemeral)
{
	struct bulwark_client *a, *b, *c = NULL;
	uint8_t pub[32], pa[32], pb[32];
	char keyp[160], err[512];
	uint64_t ver;

	ck_assert_int_eq(bulwark_keygen(h.dir, "me", 0, pub, NULL, 0), BULWARK_OK);
	snprintf(keyp, sizeof(keyp), "%s/me.key", h.dir);
	a = ch_open_client(&h, keyp);
	bulwark_client_public_key(a, pa);
	ck_assert_mem_eq(pa, pub, 32);
	ck_assert_uint_eq(bulwark_client_replicas(a), CH_N);
	ck_assert_uint_eq(bulwark_client_faults(a), CH_F);
	ck_assert_int_eq(bulwark_put(a, "f", 1, "1", 1, &ver), BULWARK_OK);
	bulwark_client_close(a);
	/* The same key file in a new client: timestamps continue above the old ones. */
	a = ch_open_client(&h, keyp);
	ck_assert_int_eq(bulwark_put(a, "f", 1, "2", 1, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 2);
	bulwark_client_close(a);
	/* Two ephemeral clients have different keys. */
	a = ch_open_client(&h, NULL);
	b = ch_open_client(&h, NULL);
	bulwark_client_public_key(a, pa);
	bulwark_client_public_key(b, pb);
	ck_assert_int_ne(memcmp(pa, pb, 32), 0);
	ck_assert_int_ne(memcmp(pa, pub, 32), 0);
	bulwark_client_close(a);
	bulwark_client_close(b);
	/* A key readable by others, a missing key, a public key instead of a private one. */
	ck_assert_int_eq(chmod(keyp, 0644), 0);
	ck_assert_int_eq(bulwark_client_open(h.config, keyp, h.loop, &c, err, sizeof(err)),
			 BULWARK_ERR_KEY);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(err, "me.key"));
	snprintf(keyp, sizeof(keyp), "%s/none.key", h.dir);
	ck_assert_int_eq(bulwark_client_open(h.config, keyp, h.loop, &c, err, sizeof(err)),
			 BULWARK_ERR_KEY);
	snprintf(keyp, sizeof(keyp), "%s/me.pub", h.dir);
	ck_assert_int_eq(bulwark_client_open(h.config, keyp, h.loop, &c, err, sizeof(err)),
			 BULWARK_ERR_KEY);
}
END_TEST

START_TEST(bad_config)
{
	struct bulwark_client *c = NULL;
	char path[160], err[512] = "";

	snprintf(path, sizeof(path), "%s/missing.ini", h.dir);
	ck_assert_int_eq(bulwark_client_open(path, NULL, h.loop, &c, err, sizeof(err)),
			 BULWARK_ERR_CONFIG);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(err, "missing.ini"));
	snprintf(path, sizeof(path), "%s/bad.ini", h.dir);
	ch_write_file(path, "[group]\nid = 1\nf = 1\nadmin_key = admin.pub\nbogus = 3\n");
	ck_assert_int_eq(bulwark_client_open(path, NULL, h.loop, &c, err, sizeof(err)),
			 BULWARK_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err, "bad.ini:"));
	ck_assert_int_eq(bulwark_client_open(NULL, NULL, h.loop, &c, err, sizeof(err)),
			 BULWARK_ERR_ARG);
	ck_assert_str_eq(bulwark_strerror(BULWARK_ERR_TIMEOUT),
			 "timed out waiting for matching replies from the group");
	for (int e = BULWARK_ERR_CANCELLED; e <= 0; e++)
		ck_assert_str_ne(bulwark_strerror(e), "unknown error");
	ck_assert_str_eq(bulwark_strerror(-1000), "unknown error");
}
END_TEST

START_TEST(private_loop_blocking)
{
	/* A client with its own loop cannot reach the harness replicas (they run on
	 * h.loop): the blocking call must time out cleanly, not hang. */
	struct bulwark_client *c = NULL;
	char err[256];
	uint64_t ver;

	ck_assert_int_eq(bulwark_client_open(h.config, NULL, NULL, &c, err, sizeof(err)), BULWARK_OK);
	ck_assert_int_eq(bulwark_client_set_timeout(c, 300), BULWARK_OK);
	ck_assert_int_eq(bulwark_put(c, "a", 1, "1", 1, &ver), BULWARK_ERR_TIMEOUT);
	bulwark_client_close(c);
}
END_TEST

/* ---------------------------------------------------------------- status */
START_TEST(status_reports_each_replica)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	struct bulwark_replica_status st[CH_N];
	uint64_t ver;
	size_t n = 0;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(bulwark_put(c, "s", 1, "1", 1, &ver), BULWARK_OK);
	ck_assert_int_eq(bulwark_status(c, 2000, st, CH_N, &n), BULWARK_OK);
	ck_assert_uint_eq(n, CH_N);
	for (uint32_t i = 0; i < CH_N; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "127.0.0.1:%u", h.r[i].port);
		ck_assert_str_eq(st[i].address, addr);
		ck_assert_uint_eq(st[i].id, i);
		ck_assert_int_eq(st[i].up, 1);
		ck_assert_uint_eq(st[i].view, 0);
		ck_assert_uint_eq(st[i].primary, 0);
		ck_assert_int_eq(st[i].view_active, 1);
		ck_assert_uint_ge(st[i].last_committed, st[i].last_executed);
	}
	/* Everyone executes the three writes; the primary replied after executing them. */
	ck_assert_uint_ge(st[0].last_executed, 1);
	/* A stopped replica is down (not connected), a silent one is down (no answer). */
	ch_replica_stop(&h, 3);
	h.r[2].silent = 1;
	ck_assert_int_eq(bulwark_status(c, 500, st, 2, &n), BULWARK_OK);
	ck_assert_uint_eq(n, CH_N);
	ck_assert_int_eq(st[0].up, 1);
	ck_assert_int_eq(st[1].up, 1);
	ck_assert_int_eq(bulwark_status(c, 500, st, CH_N, &n), BULWARK_OK);
	ck_assert_int_eq(st[2].up, 0);
	ck_assert_int_eq(st[2].error, BULWARK_ERR_TIMEOUT);
	ck_assert_int_eq(st[3].up, 0);
	ck_assert_int_eq(st[3].error, BULWARK_ERR_NET);
	ck_assert_int_eq(bulwark_status(c, 500, NULL, 1, &n), BULWARK_ERR_ARG);
	bulwark_client_close(c);
}
END_TEST

/* ---------------------------------------------------------------- robust mode */
START_TEST(signatures_mode)
{
	struct bulwark_client *c = ch_open_client(&h, NULL);
	uint64_t ver;

	ck_assert_int_eq(bulwark_put(c, "sig", 3, "ned", 3, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 1);
	ch_expect_get(c, "sig", "ned", 1);
	h.r[1].silent = 1;
	ck_assert_int_eq(bulwark_cas(c, "sig", 3, 1, "two", 3, &ver), BULWARK_OK);
	ck_assert_uint_eq(ver, 2);
	bulwark_client_close(c);
}
END_TEST

static Suite *client_ops_suite(void)
{
	Suite *s = suite_create("client_ops");
	TCase *tc = tcase_create("macs");
	TCase *ts = tcase_create("signatures");

	tcase_add_checked_fixture(tc, setup_macs, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, kv_semantics);
	tcase_add_test(tc, too_big_and_bad_arguments);
	tcase_add_test(tc, many_clients_on_one_loop);
	tcase_add_test(tc, silent_backup);
	tcase_add_test(tc, lying_replica_is_outvoted);
	tcase_add_test(tc, malformed_replies_are_ignored);
	tcase_add_test(tc, primary_stopped_view_change);
	tcase_add_test(tc, silent_primary_view_change);
	tcase_add_test(tc, whole_group_down_times_out);
	tcase_add_test(tc, two_silent_replicas_block_writes);
	tcase_add_test(tc, close_cancels_and_close_in_callback);
	tcase_add_test(tc, keys_file_and_ephemeral);
	tcase_add_test(tc, bad_config);
	tcase_add_test(tc, private_loop_blocking);
	tcase_add_test(tc, status_reports_each_replica);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(ts, setup_sigs, teardown);
	tcase_set_timeout(ts, 60);
	tcase_add_test(ts, signatures_mode);
	suite_add_tcase(s, ts);
	return s;
}

UNIT_MAIN(client_ops_suite)
