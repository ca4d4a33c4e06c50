/* test_app_null.c: the null op of the combined application (replica/app/app.c): an
 * empty op executes as an ordered no-op with an empty result, alone or mixed with kv
 * operations, read-only too; it leaves the service state alone (only the client's
 * exactly-once entry records it) and is deterministic across replicas. */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/app/app.h"
#include "wire/kv.h"

#define T_MS 1750000000000ull

struct replica {
	struct store *store;
	struct app app;
	struct pbft_app_ops ops;
	uint64_t seq;
};

static void replica_open(struct replica *r, const char *name)
{
	struct store_config sc = { .fanout = 4, .levels = 2, .create = 1 };
	struct updates_config uc;
	struct crypto_ed25519_key k;
	uint8_t seed[32];
	char path[320], err[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	sc.path = path;
	ck_assert_msg(store_open(&sc, &r->store, err, sizeof(err)) == 0, "store_open: %s", err);
	updates_config_default(&uc);
	uc.group = 7;
	uc.epoch = 1;
	uc.n = 4;
	uc.f = 1;
	for (uint32_t i = 0; i < 5; i++) {
		memset(seed, (int)(i + 1), sizeof(seed));
		ck_assert_int_eq(crypto_ed25519_from_seed(&k, seed), 0);
		memcpy(i < 4 ? uc.replica_keys[i] : uc.admin_key, k.pub, 32);
		crypto_ed25519_free(&k);
	}
	ck_assert_int_eq(app_init(&r->app, r->store, NULL, &uc), 0);
	app_ops(&r->app, &r->ops);
	r->seq = store_last_executed(r->store);
}

static void replica_close(struct replica *r)
{
	app_free(&r->app);
	store_close(r->store);
}

/* Execute ops[0..n) (each op's bytes and length) as the next sequence number. */
static void run_ops(struct replica *r, const struct wire_buf *ops, int n, struct pbft_results *res)
{
	struct wire_buf reqs;
	struct wire_batch wb;
	int rc;

	memset(res, 0, sizeof(*res));
	wire_buf_init(&res->data);
	wire_buf_init(&reqs);
	for (int i = 0; i < n; i++) {
		struct wire_request q;
		memset(&q, 0, sizeof(q));
		memset(q.client, 0xc1, sizeof(q.client));
		q.timestamp = r->seq * 100 + (uint64_t)i + 1;
		q.op = (struct wire_bytes){ ops[i].p, (uint32_t)ops[i].len };
		wire_put_request(&reqs, &q);
	}
	ck_assert_int_eq(wire_buf_error(&reqs), 0);
	wb.time = T_MS;
	wb.count = (uint32_t)n;
	wb.reqs = (struct wire_bytes){ reqs.p, (uint32_t)reqs.len };
	rc = r->ops.execute(r->ops.ctx, r->seq + 1, &wb, res);
	ck_assert_msg(rc == 0, "execute: %s", app_last_error(&r->app));
	r->seq++;
	ck_assert_uint_eq(res->count, (uint32_t)n);
	wire_buf_free(&reqs);
}

static void results_free(struct pbft_results *res)
{
	wire_buf_free(&res->data);
	free(res->len);
}

static void op_put(struct wire_buf *b, const char *key, const char *value)
{
	struct wire_kv_op op;

	memset(&op, 0, sizeof(op));
	op.type = WIRE_KV_PUT;
	op.key = (struct wire_bytes){ (const uint8_t *)key, (uint32_t)strlen(key) };
	op.value = (struct wire_bytes){ (const uint8_t *)value, (uint32_t)strlen(value) };
	ck_assert_int_eq(wire_kv_encode_op(b, &op), 0);
}

START_TEST(null_batch_is_ordered_noop)
{
	struct replica r;
	struct pbft_results res;
	struct wire_buf ops[3], reply, out;
	struct wire_request q;
	struct wire_kv_result kr;
	uint8_t client[WIRE_KEY_LEN];
	uint64_t ts = 0;

	replica_open(&r, "a");
	for (int i = 0; i < 3; i++)
		wire_buf_init(&ops[i]);
	wire_buf_init(&reply);
	wire_buf_init(&out);
	op_put(&ops[0], "k", "v");
	run_ops(&r, ops, 1, &res);
	results_free(&res);

	/* A batch of three null ops: three empty results, the sequence number executed. */
	wire_buf_reset(&ops[0]);
	run_ops(&r, ops, 3, &res);
	ck_assert_uint_eq(res.len[0], 0);
	ck_assert_uint_eq(res.len[1], 0);
	ck_assert_uint_eq(res.len[2], 0);
	ck_assert_uint_eq(res.data.len, 0);
	results_free(&res);
	ck_assert_uint_eq(store_last_executed(r.store), 2);

	/* Exactly-once still holds: the client's entry is the last null op, empty reply. */
	memset(client, 0xc1, sizeof(client));
	wire_put_u8(&reply, 0x5a); /* appended to: an empty reply adds nothing */
	ck_assert_int_eq(store_client_last(r.store, client, 0, &ts, &reply), 0);
	ck_assert_uint_eq(ts, 103); /* run_ops: seq 1 * 100 + the third request */
	ck_assert_uint_eq(reply.len, 1);

	/* The service state is untouched: k still holds v at version 1. */
	wire_buf_reset(&ops[0]);
	{
		struct wire_kv_op get;
		memset(&get, 0, sizeof(get));
		get.type = WIRE_KV_GET;
		get.key = (struct wire_bytes){ (const uint8_t *)"k", 1 };
		ck_assert_int_eq(wire_kv_encode_op(&ops[0], &get), 0);
	}
	memset(&q, 0, sizeof(q));
	q.flags = WIRE_REQ_READ_ONLY;
	q.op = (struct wire_bytes){ ops[0].p, (uint32_t)ops[0].len };
	ck_assert_int_eq(r.ops.execute_ro(r.ops.ctx, &q, &out, NULL), 0);
	ck_assert_int_eq(wire_kv_decode_result(out.p, out.len, UINT32_MAX, &kr), 0);
	ck_assert_uint_eq(kr.status, WIRE_KV_OK);
	ck_assert_uint_eq(kr.version, 1);
	ck_assert_uint_eq(kr.value.len, 1);
	ck_assert(kr.value.p[0] == 'v');

	for (int i = 0; i < 3; i++)
		wire_buf_free(&ops[i]);
	wire_buf_free(&reply);
	wire_buf_free(&out);
	replica_close(&r);
}
END_TEST

START_TEST(null_mixed_with_kv)
{
	struct replica a, b;
	struct pbft_results ra, rb;
	struct wire_buf ops[3];
	struct wire_kv_result kr;
	uint8_t da[WIRE_DIGEST_LEN], db[WIRE_DIGEST_LEN];

	replica_open(&a, "a");
	replica_open(&b, "b");
	for (int i = 0; i < 3; i++)
		wire_buf_init(&ops[i]);
	op_put(&ops[1], "key", "value");
	/* ops[0] and ops[2] stay empty: null, PUT, null in one batch. */
	run_ops(&a, ops, 3, &ra);
	run_ops(&b, ops, 3, &rb);
	ck_assert_uint_eq(ra.len[0], 0);
	ck_assert_uint_eq(ra.len[2], 0);
	ck_assert_int_eq(wire_kv_decode_result(ra.data.p, ra.len[1], UINT32_MAX, &kr), 0);
	ck_assert_uint_eq(kr.status, WIRE_KV_OK);
	ck_assert_uint_eq(kr.version, 1);
	/* Deterministic: the same results and the same state on both replicas. */
	ck_assert_uint_eq(ra.data.len, rb.data.len);
	ck_assert(memcmp(ra.data.p, rb.data.p, ra.data.len) == 0);
	ck_assert_int_eq(a.ops.checkpoint(a.ops.ctx, 1, da), 0);
	ck_assert_int_eq(b.ops.checkpoint(b.ops.ctx, 1, db), 0);
	ck_assert(memcmp(da, db, sizeof(da)) == 0);
	results_free(&ra);
	results_free(&rb);
	for (int i = 0; i < 3; i++)
		wire_buf_free(&ops[i]);
	replica_close(&a);
	replica_close(&b);
}
END_TEST

START_TEST(null_read_only)
{
	struct replica r;
	struct wire_request q;
	struct wire_buf out;

	replica_open(&r, "a");
	wire_buf_init(&out);
	wire_put_u8(&out, 0x5a); /* the result replaces nothing the caller put before */
	memset(&q, 0, sizeof(q));
	q.flags = WIRE_REQ_READ_ONLY;
	ck_assert_int_eq(r.ops.execute_ro(r.ops.ctx, &q, &out, NULL), 0);
	ck_assert_uint_eq(out.len, 1);
	ck_assert_uint_eq(store_last_executed(r.store), 0);
	wire_buf_free(&out);
	replica_close(&r);
}
END_TEST

static Suite *app_null_suite(void)
{
	Suite *s = suite_create("app_null");
	TCase *tc = tcase_create("null");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, null_batch_is_ordered_noop);
	tcase_add_test(tc, null_mixed_with_kv);
	tcase_add_test(tc, null_read_only);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(app_null_suite)
