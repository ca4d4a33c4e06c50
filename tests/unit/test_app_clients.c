/* test_app_clients.c: the KV service's part of exactly-once: execute records each
 * request's (timestamp, result) in the replicated client table, client_last reads it
 * back (also after a reopen), it is digested, and state transfer copies it. */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/app/kv.h"

struct replica {
	struct store *store;
	struct kv_app kv;
	struct pbft_app_ops ops;
	uint64_t seq;
};

static void replica_open(struct replica *r, const char *name)
{
	char path[320];
	struct store_config sc = { .path = path, .fanout = 4, .levels = 2, .create = 1 };
	char err[256];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = store_open(&sc, &r->store, err, sizeof(err));
	ck_assert_msg(rc == 0, "store_open: %s", err);
	ck_assert_int_eq(kv_app_init(&r->kv, r->store, NULL), 0);
	kv_app_ops(&r->kv, &r->ops);
	ck_assert_ptr_nonnull(r->ops.client_last);
	r->seq = store_last_executed(r->store);
}

static void replica_close(struct replica *r)
{
	kv_app_free(&r->kv);
	store_close(r->store);
}

/* One request of a batch: client (its key is 32 bytes of `client`), timestamp, and a
 * PUT of key = val. */
struct req {
	uint8_t client;
	uint64_t ts;
	const char *key, *val;
};

/* Execute reqs as the next seq; results into res (freed by the caller). */
static void run(struct replica *r, const struct req *q, int n, struct pbft_results *res)
{
	struct wire_buf reqs, ops[8];
	struct wire_batch wb;

	ck_assert_int_le(n, 8);
	memset(res, 0, sizeof(*res));
	wire_buf_init(&res->data);
	wire_buf_init(&reqs);
	for (int i = 0; i < n; i++) {
		struct wire_kv_op op = { .type = WIRE_KV_PUT };
		struct wire_request w;

		op.key = (struct wire_bytes){ (const uint8_t *)q[i].key, (uint32_t)strlen(q[i].key) };
		op.value = (struct wire_bytes){ (const uint8_t *)q[i].val, (uint32_t)strlen(q[i].val) };
		wire_buf_init(&ops[i]);
		ck_assert_int_eq(wire_kv_encode_op(&ops[i], &op), 0);
		memset(&w, 0, sizeof(w));
		memset(w.client, q[i].client, sizeof(w.client));
		w.timestamp = q[i].ts;
		w.op = (struct wire_bytes){ ops[i].p, (uint32_t)ops[i].len };
		wire_put_request(&reqs, &w);
	}
	ck_assert_int_eq(wire_buf_error(&reqs), 0);
	wb.time = 1700000000000ull;
	wb.count = (uint32_t)n;
	wb.reqs = (struct wire_bytes){ reqs.p, (uint32_t)reqs.len };
	ck_assert_int_eq(r->ops.execute(r->ops.ctx, r->seq + 1, &wb, res), 0);
	r->seq++;
	ck_assert_uint_eq(res->count, (uint32_t)n);
	for (int i = 0; i < n; i++)
		wire_buf_free(&ops[i]);
	wire_buf_free(&reqs);
}

static void results_free(struct pbft_results *res)
{
	wire_buf_free(&res->data);
	free(res->len);
}

/* Result i of res as bytes. */
static struct wire_bytes result_at(const struct pbft_results *res, uint32_t i)
{
	size_t off = 0;

	ck_assert_uint_lt(i, res->count);
	for (uint32_t j = 0; j < i; j++)
		off += res->len[j];
	return (struct wire_bytes){ res->data.p + off, res->len[i] };
}

/* Expect client's entry in r: timestamp ts and, if want is not NULL, its bytes. */
static void expect_last(struct replica *r, uint8_t client, uint64_t ts, const struct wire_bytes *want)
{
	uint8_t k[WIRE_KEY_LEN];
	struct wire_buf reply;
	uint64_t got = 99;

	memset(k, client, sizeof(k));
	wire_buf_init(&reply);
	ck_assert_int_eq(r->ops.client_last(r->ops.ctx, k, 0, &got, &reply), 0);
	ck_assert_uint_eq(got, ts);
	if (want) {
		ck_assert_uint_eq(reply.len, want->len);
		ck_assert(memcmp(reply.p, want->p, want->len) == 0);
	} else {
		ck_assert_uint_eq(reply.len, 0);
	}
	got = 99;
	ck_assert_int_eq(r->ops.client_last(r->ops.ctx, k, 0, &got, NULL), 0);
	ck_assert_uint_eq(got, ts);
	wire_buf_free(&reply);
}

/* Each executed request's (timestamp, result) lands in the table with the batch; a
 * later request of the same client in the batch wins; it survives a reopen. */
START_TEST(execute_records_client_table)
{
	static const struct req b1[] = {
		{ 0xa1, 10, "x", "1" }, { 0xb2, 50, "y", "1" }, { 0xa1, 11, "x", "2" },
	};
	struct replica r;
	struct pbft_results res;
	struct wire_bytes want_a, want_b;
	uint8_t save_a[64], save_b[64];

	replica_open(&r, "a");
	expect_last(&r, 0xa1, 0, NULL);
	run(&r, b1, 3, &res);
	want_a = result_at(&res, 2);
	want_b = result_at(&res, 1);
	ck_assert_uint_le(want_a.len, sizeof(save_a));
	ck_assert_uint_le(want_b.len, sizeof(save_b));
	expect_last(&r, 0xa1, 11, &want_a);
	expect_last(&r, 0xb2, 50, &want_b);
	expect_last(&r, 0xc3, 0, NULL);
	memcpy(save_a, want_a.p, want_a.len);
	memcpy(save_b, want_b.p, want_b.len);
	want_a.p = save_a;
	want_b.p = save_b;
	results_free(&res);
	replica_close(&r);

	replica_open(&r, "a");
	ck_assert_uint_eq(r.seq, 1);
	expect_last(&r, 0xa1, 11, &want_a);
	expect_last(&r, 0xb2, 50, &want_b);
	replica_close(&r);
}
END_TEST

/* The same operations from different clients (or timestamps) give different roots:
 * the table is part of the checkpoint digest. A transferred replica has the table of
 * the checkpoint it copied. */
START_TEST(client_table_digested_and_transferred)
{
	static const struct req ba[] = { { 0xa1, 10, "x", "1" }, { 0xb2, 20, "y", "2" } };
	static const struct req bb[] = { { 0xa1, 10, "x", "1" }, { 0xb2, 21, "y", "2" } };
	struct replica a, b;
	struct pbft_results res;
	uint8_t ra[WIRE_DIGEST_LEN], rb[WIRE_DIGEST_LEN];
	uint64_t parts;

	replica_open(&a, "a");
	replica_open(&b, "b");
	run(&a, ba, 2, &res);
	results_free(&res);
	run(&b, bb, 2, &res);
	results_free(&res);
	ck_assert_int_eq(a.ops.checkpoint(a.ops.ctx, 1, ra), 0);
	ck_assert_int_eq(b.ops.checkpoint(b.ops.ctx, 1, rb), 0);
	ck_assert(memcmp(ra, rb, sizeof(ra)) != 0);

	/* b copies every partition of a's checkpoint 1, page by page. */
	parts = store_partitions(a.store);
	for (uint64_t p = 0; p < parts; p++) {
		struct wire_buf page, start;
		int more, first = 1;

		wire_buf_init(&page);
		wire_buf_init(&start);
		do {
			struct wire_data data;
			struct wire_iter it;
			struct wire_data_item item;
			uint32_t n;

			wire_buf_reset(&page);
			ck_assert_int_eq(a.ops.read_partition(a.ops.ctx, 1, p,
							      (struct wire_bytes){ start.p, (uint32_t)start.len },
							      48, &page, &n, &more), 0);
			memset(&data, 0, sizeof(data));
			data.ckpt_seq = 1;
			data.partition = p;
			data.flags = more ? WIRE_DATA_MORE : 0;
			data.entries.count = n;
			data.entries.bytes = (struct wire_bytes){ page.p, (uint32_t)page.len };
			ck_assert_int_eq(b.ops.write_partition(b.ops.ctx, p, first, &data), 0);
			first = 0;
			wire_iter_init(&it, &data.entries);
			while (wire_next_data(&it, &item)) {
				wire_buf_reset(&start);
				wire_put_fixed(&start, item.key.p, item.key.len);
				wire_put_u8(&start, 0);
			}
		} while (more);
		wire_buf_free(&page);
		wire_buf_free(&start);
	}
	ck_assert_int_eq(b.ops.finish_transfer(b.ops.ctx, 1, ra), 0);
	{
		uint8_t ka[WIRE_KEY_LEN], kb[WIRE_KEY_LEN];
		struct wire_buf x, y;
		uint64_t tx, ty;

		memset(ka, 0xb2, sizeof(ka));
		memset(kb, 0xb2, sizeof(kb));
		wire_buf_init(&x);
		wire_buf_init(&y);
		ck_assert_int_eq(a.ops.client_last(a.ops.ctx, ka, 0, &tx, &x), 0);
		ck_assert_int_eq(b.ops.client_last(b.ops.ctx, kb, 0, &ty, &y), 0);
		ck_assert_uint_eq(tx, 20);
		ck_assert_uint_eq(ty, 20);
		ck_assert_uint_eq(x.len, y.len);
		ck_assert(memcmp(x.p, y.p, x.len) == 0);
		wire_buf_free(&x);
		wire_buf_free(&y);
	}
	replica_close(&a);
	replica_close(&b);
}
END_TEST

static Suite *app_clients_suite(void)
{
	Suite *s = suite_create("app_clients");
	TCase *tc = tcase_create("clients");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, execute_records_client_table);
	tcase_add_test(tc, client_table_digested_and_transferred);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(app_clients_suite)
