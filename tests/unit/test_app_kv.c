/* test_app_kv.c: the KV op/result encoding (wire/kv.c) and the replicated KV service
 * (replica/app/kv.c) driven through its pbft_app_ops, as the core drives it. */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/app/kv.h"

/* ---------------------------------------------------------------- a KV replica */
struct replica {
	struct store *store;
	struct kv_app kv;
	struct pbft_app_ops ops;
	uint64_t seq;
};

static void replica_open(struct replica *r, const char *name, const struct kv_config *cfg)
{
	char path[320];
	struct store_config sc = { .path = path, .fanout = 4, .levels = 2, .create = 1 };
	char err[256];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = store_open(&sc, &r->store, err, sizeof(err));
	ck_assert_msg(rc == 0, "store_open: %s", err);
	ck_assert_int_eq(kv_app_init(&r->kv, r->store, cfg), 0);
	kv_app_ops(&r->kv, &r->ops);
	r->seq = store_last_executed(r->store);
}

static void replica_close(struct replica *r)
{
	kv_app_free(&r->kv);
	store_close(r->store);
}

/* An op as bytes (appended to b). */
static void op_put(struct wire_buf *b, const char *key, const char *val)
{
	struct wire_kv_op op = { .type = WIRE_KV_PUT };

	op.key = (struct wire_bytes){ (const uint8_t *)key, (uint32_t)strlen(key) };
	op.value = (struct wire_bytes){ (const uint8_t *)val, (uint32_t)strlen(val) };
	ck_assert_int_eq(wire_kv_encode_op(b, &op), 0);
}

static void op_cas(struct wire_buf *b, const char *key, uint64_t version, const char *val)
{
	struct wire_kv_op op = { .type = WIRE_KV_CAS, .version = version };

	op.key = (struct wire_bytes){ (const uint8_t *)key, (uint32_t)strlen(key) };
	op.value = (struct wire_bytes){ (const uint8_t *)val, (uint32_t)strlen(val) };
	ck_assert_int_eq(wire_kv_encode_op(b, &op), 0);
}

static void op_key(struct wire_buf *b, uint8_t type, const char *key)
{
	struct wire_kv_op op = { .type = type };

	op.key = (struct wire_bytes){ (const uint8_t *)key, (uint32_t)strlen(key) };
	ck_assert_int_eq(wire_kv_encode_op(b, &op), 0);
}

/* A batch under construction: each op's bytes, then run. */
struct batch {
	struct wire_buf ops[64];
	int n;
};

static struct wire_buf *batch_next(struct batch *b)
{
	ck_assert_int_lt(b->n, 64);
	wire_buf_init(&b->ops[b->n]);
	return &b->ops[b->n++];
}

static void batch_free(struct batch *b)
{
	for (int i = 0; i < b->n; i++)
		wire_buf_free(&b->ops[i]);
	b->n = 0;
}

/* Execute b as the next seq; results (caller frees with results_free). */
static int run_batch(struct replica *r, struct batch *b, struct pbft_results *res)
{
	struct wire_buf reqs;
	struct wire_batch wb;
	int rc;

	memset(res, 0, sizeof(*res));
	wire_buf_init(&res->data);
	wire_buf_init(&reqs);
	for (int i = 0; i < b->n; i++) {
		struct wire_request q;
		memset(&q, 0, sizeof(q));
		memset(q.client, 0xc1, sizeof(q.client));
		q.timestamp = (uint64_t)i + 1;
		q.op = (struct wire_bytes){ b->ops[i].p, (uint32_t)b->ops[i].len };
		wire_put_request(&reqs, &q);
	}
	ck_assert_int_eq(wire_buf_error(&reqs), 0);
	wb.time = 1700000000000ull;
	wb.count = (uint32_t)b->n;
	wb.reqs = (struct wire_bytes){ reqs.p, (uint32_t)reqs.len };
	rc = r->ops.execute(r->ops.ctx, r->seq + 1, &wb, res);
	if (rc == 0) {
		r->seq++;
		ck_assert_uint_eq(res->count, (uint32_t)b->n);
	}
	wire_buf_free(&reqs);
	return rc;
}

static void results_free(struct pbft_results *res)
{
	wire_buf_free(&res->data);
	free(res->len);
}

/* Result i of res, decoded. */
static struct wire_kv_result result_at(const struct pbft_results *res, uint32_t i)
{
	struct wire_kv_result out;
	size_t off = 0;

	ck_assert_uint_lt(i, res->count);
	for (uint32_t j = 0; j < i; j++)
		off += res->len[j];
	ck_assert_int_eq(wire_kv_decode_result(res->data.p + off, res->len[i], UINT32_MAX, &out), 0);
	return out;
}

static void expect_ok(struct wire_kv_result r, uint64_t version, const char *value)
{
	ck_assert_msg(r.status == WIRE_KV_OK, "status %s", wire_kv_status_name(r.status));
	ck_assert_uint_eq(r.version, version);
	ck_assert_uint_eq(r.value.len, strlen(value));
	ck_assert(memcmp(r.value.p, value, r.value.len) == 0);
}

/* A read-only GET through execute_ro. */
static struct wire_kv_result get_ro(struct replica *r, const char *key, struct wire_buf *out)
{
	struct wire_buf op;
	struct wire_request q;
	struct wire_kv_result res;

	wire_buf_init(&op);
	op_key(&op, WIRE_KV_GET, key);
	memset(&q, 0, sizeof(q));
	q.flags = WIRE_REQ_READ_ONLY;
	q.op = (struct wire_bytes){ op.p, (uint32_t)op.len };
	wire_buf_reset(out);
	ck_assert_int_eq(r->ops.execute_ro(r->ops.ctx, &q, out, NULL), 0);
	ck_assert_int_eq(wire_kv_decode_result(out->p, out->len, UINT32_MAX, &res), 0);
	wire_buf_free(&op);
	return res;
}

/* ---------------------------------------------------------------- wire/kv.c */
START_TEST(wire_kv_roundtrip)
{
	static const uint8_t types[] = { WIRE_KV_PUT, WIRE_KV_DEL, WIRE_KV_CAS, WIRE_KV_GET };
	struct wire_buf b, b2;

	wire_buf_init(&b);
	wire_buf_init(&b2);
	for (size_t i = 0; i < sizeof(types); i++) {
		struct wire_kv_op op = { .type = types[i], .version = 0x0102030405060708ull }, got;
		op.key = (struct wire_bytes){ (const uint8_t *)"key\0x", 5 };
		op.value = (struct wire_bytes){ (const uint8_t *)"value", 5 };
		wire_buf_reset(&b);
		ck_assert_int_eq(wire_kv_encode_op(&b, &op), 0);
		ck_assert_int_eq(wire_kv_decode_op(b.p, b.len, NULL, &got), 0);
		ck_assert_uint_eq(got.type, types[i]);
		ck_assert(got.key.len == 5 && memcmp(got.key.p, "key\0x", 5) == 0);
		if (types[i] == WIRE_KV_PUT || types[i] == WIRE_KV_CAS)
			ck_assert(got.value.len == 5 && memcmp(got.value.p, "value", 5) == 0);
		else
			ck_assert_uint_eq(got.value.len, 0);
		ck_assert_uint_eq(got.version, types[i] == WIRE_KV_CAS ? op.version : 0);
		/* Canonical: re-encoding gives the same bytes. */
		wire_buf_reset(&b2);
		ck_assert_int_eq(wire_kv_encode_op(&b2, &got), 0);
		ck_assert(b2.len == b.len && memcmp(b2.p, b.p, b.len) == 0);
		ck_assert_int_eq(wire_kv_is_read_only(types[i]), types[i] == WIRE_KV_GET);
	}
	struct wire_kv_op bad = { .type = 9 };
	ck_assert_int_eq(wire_kv_encode_op(&b, &bad), WIRE_ERR_TYPE);

	const struct wire_kv_result rs[] = {
		{ .status = WIRE_KV_OK, .version = 7, .value = { (const uint8_t *)"v", 1 } },
		{ .status = WIRE_KV_NOT_FOUND },
		{ .status = WIRE_KV_CAS_MISMATCH, .version = 3 },
		{ .status = WIRE_KV_TOO_BIG, .field = WIRE_KV_FIELD_VALUE, .limit = 99 },
		{ .status = WIRE_KV_BAD_OP, .reason = WIRE_KV_BAD_READ_ONLY },
	};
	for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++) {
		struct wire_kv_result got;
		wire_buf_reset(&b);
		ck_assert_int_eq(wire_kv_encode_result(&b, &rs[i]), 0);
		ck_assert_int_eq(wire_kv_decode_result(b.p, b.len, 16, &got), 0);
		ck_assert_uint_eq(got.status, rs[i].status);
		ck_assert_uint_eq(got.version, rs[i].version);
		ck_assert_uint_eq(got.value.len, rs[i].value.len);
		ck_assert_uint_eq(got.field, rs[i].field);
		ck_assert_uint_eq(got.limit, rs[i].limit);
		ck_assert_uint_eq(got.reason, rs[i].reason);
		ck_assert_str_ne(wire_kv_status_name(rs[i].status), "UNKNOWN");
		/* Strict: a trailing byte and a missing byte are refused. */
		wire_put_u8(&b, 0);
		ck_assert_int_eq(wire_kv_decode_result(b.p, b.len, 16, &got), WIRE_ERR_TRAILING);
		if (b.len > 2)
			ck_assert_int_eq(wire_kv_decode_result(b.p, b.len - 2, 16, &got), WIRE_ERR_TRUNCATED);
	}
	struct wire_kv_result badr = { .status = 5 };
	ck_assert_int_eq(wire_kv_encode_result(&b, &badr), WIRE_ERR_FIELD);
	wire_buf_free(&b);
	wire_buf_free(&b2);
}
END_TEST

START_TEST(wire_kv_strict_decoding)
{
	const struct wire_kv_limits lim = { .max_key = 4, .max_value = 8 };
	struct wire_kv_op op;
	struct wire_kv_result res;
	struct wire_buf b;

	wire_buf_init(&b);
	ck_assert_int_eq(wire_kv_decode_op(NULL, 0, &lim, &op), WIRE_ERR_TRUNCATED);
	ck_assert_int_eq(wire_kv_decode_op((const uint8_t *)"\x00", 1, &lim, &op), WIRE_ERR_TYPE);
	ck_assert_int_eq(wire_kv_decode_op((const uint8_t *)"\x05", 1, &lim, &op), WIRE_ERR_TYPE);
	ck_assert_int_eq(wire_kv_decode_op((const uint8_t *)"\x01", 1, &lim, &op), WIRE_ERR_TRUNCATED);
	/* PUT "ab" = "x" then trailing; truncated inside the value. */
	op_put(&b, "ab", "x");
	ck_assert_int_eq(wire_kv_decode_op(b.p, b.len, &lim, &op), 0);
	ck_assert_int_eq(wire_kv_decode_op(b.p, b.len - 1, &lim, &op), WIRE_ERR_TRUNCATED);
	wire_put_u8(&b, 1);
	ck_assert_int_eq(wire_kv_decode_op(b.p, b.len, &lim, &op), WIRE_ERR_TRAILING);
	/* Key of 5 > 4: too big, named, even though the bytes are not there (checked first). */
	wire_buf_reset(&b);
	wire_put_u8(&b, WIRE_KV_GET);
	wire_put_u32(&b, 5);
	ck_assert_int_eq(wire_kv_decode_op(b.p, b.len, &lim, &op), WIRE_ERR_TOO_BIG);
	ck_assert_uint_eq(op.too_big, WIRE_KV_FIELD_KEY);
	ck_assert_uint_eq(op.type, WIRE_KV_GET);
	/* A huge length claim does not read past the buffer. */
	wire_buf_reset(&b);
	wire_put_u8(&b, WIRE_KV_DEL);
	wire_put_u32(&b, 0xffffffffu);
	ck_assert_int_eq(wire_kv_decode_op(b.p, b.len, NULL, &op), WIRE_ERR_TOO_BIG);
	wire_buf_reset(&b);
	op_cas(&b, "k", 1, "123456789");
	ck_assert_int_eq(wire_kv_decode_op(b.p, b.len, &lim, &op), WIRE_ERR_TOO_BIG);
	ck_assert_uint_eq(op.too_big, WIRE_KV_FIELD_VALUE);
	/* Exactly at the limits. */
	wire_buf_reset(&b);
	op_cas(&b, "kkkk", 1, "12345678");
	ck_assert_int_eq(wire_kv_decode_op(b.p, b.len, &lim, &op), 0);

	/* Results: unknown status, field, reason; a value above max. */
	ck_assert_int_eq(wire_kv_decode_result((const uint8_t *)"\x07", 1, 8, &res), WIRE_ERR_FIELD);
	ck_assert_int_eq(wire_kv_decode_result((const uint8_t *)"\x03\x09\x00\x00\x00\x00", 6, 8, &res),
			 WIRE_ERR_FIELD);
	ck_assert_int_eq(wire_kv_decode_result((const uint8_t *)"\x04\x00", 2, 8, &res), WIRE_ERR_FIELD);
	ck_assert_int_eq(wire_kv_decode_result(NULL, 0, 8, &res), WIRE_ERR_TRUNCATED);
	struct wire_kv_result ok = { .status = WIRE_KV_OK, .version = 1, .value = { (const uint8_t *)"123456789", 9 } };
	wire_buf_reset(&b);
	ck_assert_int_eq(wire_kv_encode_result(&b, &ok), 0);
	ck_assert_int_eq(wire_kv_decode_result(b.p, b.len, 8, &res), WIRE_ERR_TOO_BIG);
	ck_assert_int_eq(wire_kv_decode_result(b.p, b.len, 9, &res), 0);
	ck_assert_str_eq(wire_kv_type_name(77), "UNKNOWN");
	ck_assert_str_eq(wire_kv_field_name(WIRE_KV_FIELD_KEY), "key");
	ck_assert_str_eq(wire_kv_bad_name(WIRE_KV_BAD_TRAILING), "bytes after the operation");
	wire_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- the service */
START_TEST(kv_semantics_and_versions)
{
	struct replica r;
	struct batch b = { .n = 0 };
	struct pbft_results res;
	struct wire_buf out;

	wire_buf_init(&out);
	replica_open(&r, "a", NULL);
	op_put(batch_next(&b), "a", "one");
	op_put(batch_next(&b), "a", "two");
	op_key(batch_next(&b), WIRE_KV_GET, "a");
	op_key(batch_next(&b), WIRE_KV_DEL, "a");
	op_key(batch_next(&b), WIRE_KV_GET, "a");
	op_key(batch_next(&b), WIRE_KV_DEL, "a");
	op_cas(batch_next(&b), "a", 0, "new");      /* create: must not exist */
	op_cas(batch_next(&b), "a", 0, "again");    /* exists now */
	op_cas(batch_next(&b), "a", 1, "swapped");
	op_cas(batch_next(&b), "b", 3, "nope");     /* absent: current version 0 */
	op_put(batch_next(&b), "", "");             /* empty key and value are keys like others */
	ck_assert_int_eq(run_batch(&r, &b, &res), 0);
	expect_ok(result_at(&res, 0), 1, "");
	expect_ok(result_at(&res, 1), 2, "");
	expect_ok(result_at(&res, 2), 2, "two");
	expect_ok(result_at(&res, 3), 2, "");
	ck_assert_uint_eq(result_at(&res, 4).status, WIRE_KV_NOT_FOUND);
	ck_assert_uint_eq(result_at(&res, 5).status, WIRE_KV_NOT_FOUND);
	expect_ok(result_at(&res, 6), 1, "");
	ck_assert_uint_eq(result_at(&res, 7).status, WIRE_KV_CAS_MISMATCH);
	ck_assert_uint_eq(result_at(&res, 7).version, 1);
	expect_ok(result_at(&res, 8), 2, "");
	ck_assert_uint_eq(result_at(&res, 9).status, WIRE_KV_CAS_MISMATCH);
	ck_assert_uint_eq(result_at(&res, 9).version, 0);
	expect_ok(result_at(&res, 10), 1, "");
	results_free(&res);
	batch_free(&b);

	/* Read-only GETs see the committed state. */
	expect_ok(get_ro(&r, "a", &out), 2, "swapped");
	expect_ok(get_ro(&r, "", &out), 1, "");
	ck_assert_uint_eq(get_ro(&r, "b", &out).status, WIRE_KV_NOT_FOUND);

	/* Versions and values survive a restart; execution continues at the next seq. */
	replica_close(&r);
	replica_open(&r, "a", NULL);
	ck_assert_uint_eq(r.seq, 1);
	op_cas(batch_next(&b), "a", 2, "three");
	ck_assert_int_eq(run_batch(&r, &b, &res), 0);
	expect_ok(result_at(&res, 0), 3, "");
	results_free(&res);
	batch_free(&b);
	expect_ok(get_ro(&r, "a", &out), 3, "three");

	/* A batch out of order is refused whole, with the store's reason. */
	op_put(batch_next(&b), "c", "x");
	r.seq = 5;
	ck_assert_int_eq(run_batch(&r, &b, &res), KV_ERR_STORE);
	ck_assert_ptr_nonnull(strstr(kv_last_error(&r.kv), "seq 6"));
	results_free(&res);
	batch_free(&b);
	ck_assert_uint_eq(get_ro(&r, "c", &out).status, WIRE_KV_NOT_FOUND);
	wire_buf_free(&out);
	replica_close(&r);
}
END_TEST

START_TEST(kv_limits_and_malformed_change_nothing)
{
	struct kv_config cfg;
	struct replica r;
	struct batch b = { .n = 0 };
	struct pbft_results res;
	struct wire_buf out, last;
	uint8_t before[WIRE_DIGEST_LEN], after[WIRE_DIGEST_LEN], client[WIRE_KEY_LEN];
	uint64_t last_ts;

	kv_config_default(&cfg);
	cfg.limits.max_key = 8;
	cfg.limits.max_value = 16;
	cfg.sync = 0;
	wire_buf_init(&out);
	replica_open(&r, "a", &cfg);
	op_put(batch_next(&b), "keep", "v");
	ck_assert_int_eq(run_batch(&r, &b, &res), 0);
	results_free(&res);
	batch_free(&b);
	ck_assert_int_eq(r.ops.checkpoint(r.ops.ctx, 1, before), 0);
	/* The client table entry batch 1 left (run_batch's client is 32 x 0xc1). */
	memset(client, 0xc1, sizeof(client));
	wire_buf_init(&last);
	ck_assert_int_eq(r.ops.client_last(r.ops.ctx, client, 0, &last_ts, &last), 0);
	ck_assert_uint_eq(last_ts, 1);

	op_put(batch_next(&b), "123456789", "v");                 /* key 9 > 8 */
	op_put(batch_next(&b), "k", "12345678901234567");         /* value 17 > 16 */
	op_cas(batch_next(&b), "keep", 1, "12345678901234567");
	wire_put_u8(batch_next(&b), 0x63);                        /* unknown type */
	batch_next(&b);                                           /* empty op */
	op_put(batch_next(&b), "keep", "w");
	b.ops[b.n - 1].len--;                                     /* truncated */
	op_key(batch_next(&b), WIRE_KV_DEL, "keep");
	wire_put_u8(&b.ops[b.n - 1], 0);                          /* trailing byte */
	ck_assert_int_eq(run_batch(&r, &b, &res), 0);
	struct wire_kv_result t = result_at(&res, 0);
	ck_assert(t.status == WIRE_KV_TOO_BIG && t.field == WIRE_KV_FIELD_KEY && t.limit == 8);
	t = result_at(&res, 1);
	ck_assert(t.status == WIRE_KV_TOO_BIG && t.field == WIRE_KV_FIELD_VALUE && t.limit == 16);
	t = result_at(&res, 2);
	ck_assert(t.status == WIRE_KV_TOO_BIG && t.field == WIRE_KV_FIELD_VALUE);
	t = result_at(&res, 3);
	ck_assert(t.status == WIRE_KV_BAD_OP && t.reason == WIRE_KV_BAD_TYPE);
	t = result_at(&res, 4);
	ck_assert(t.status == WIRE_KV_BAD_OP && t.reason == WIRE_KV_BAD_TRUNCATED);
	t = result_at(&res, 5);
	ck_assert(t.status == WIRE_KV_BAD_OP && t.reason == WIRE_KV_BAD_TRUNCATED);
	t = result_at(&res, 6);
	ck_assert(t.status == WIRE_KV_BAD_OP && t.reason == WIRE_KV_BAD_TRAILING);
	results_free(&res);
	batch_free(&b);
	/* Refused requests are executed requests: the client table records their result
	 * (ts 7, the last one). With that entry put back as batch 1 left it, the state
	 * is batch 1's: the key-value entries are unchanged. */
	ck_assert_int_eq(r.ops.client_last(r.ops.ctx, client, 0, &last_ts, NULL), 0);
	ck_assert_uint_eq(last_ts, 7);
	ck_assert_int_eq(store_txn_begin(r.store), 0);
	ck_assert_int_eq(store_txn_client_put(r.store, client, 0, 1, last.p, last.len), 0);
	ck_assert_int_eq(store_txn_commit(r.store, 3, 0), 0);
	r.seq = 3;
	wire_buf_free(&last);
	ck_assert_int_eq(r.ops.checkpoint(r.ops.ctx, 3, after), 0);
	ck_assert(memcmp(before, after, sizeof(after)) == 0);
	expect_ok(get_ro(&r, "keep", &out), 1, "v");

	/* Exactly at the limits is fine. */
	op_put(batch_next(&b), "12345678", "1234567890123456");
	ck_assert_int_eq(run_batch(&r, &b, &res), 0);
	expect_ok(result_at(&res, 0), 1, "");
	results_free(&res);
	batch_free(&b);

	/* A write in a read-only request is refused; a GET of an oversize key too. */
	struct wire_buf op;
	struct wire_request q;
	struct wire_kv_result rr;
	wire_buf_init(&op);
	op_put(&op, "keep", "x");
	memset(&q, 0, sizeof(q));
	q.op = (struct wire_bytes){ op.p, (uint32_t)op.len };
	wire_buf_reset(&out);
	ck_assert_int_eq(r.ops.execute_ro(r.ops.ctx, &q, &out, NULL), 0);
	ck_assert_int_eq(wire_kv_decode_result(out.p, out.len, 100, &rr), 0);
	ck_assert(rr.status == WIRE_KV_BAD_OP && rr.reason == WIRE_KV_BAD_READ_ONLY);
	rr = get_ro(&r, "123456789", &out);
	ck_assert(rr.status == WIRE_KV_TOO_BIG && rr.field == WIRE_KV_FIELD_KEY);
	expect_ok(get_ro(&r, "keep", &out), 1, "v");
	wire_buf_free(&op);
	wire_buf_free(&out);
	replica_close(&r);
}
END_TEST

/* Random ops, including malformed ones, for the determinism test. */
static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static void random_op(struct wire_buf *b)
{
	char key[16], val[40];
	int vl = (int)rnd(sizeof(val) - 1);

	snprintf(key, sizeof(key), "k%u", rnd(40));
	for (int i = 0; i < vl; i++)
		val[i] = (char)('a' + rnd(26));
	val[vl] = '\0';
	switch (rnd(6)) {
	case 0: op_put(b, key, val); break;
	case 1: op_key(b, WIRE_KV_DEL, key); break;
	case 2: op_cas(b, key, rnd(4), val); break;
	case 3: op_key(b, WIRE_KV_GET, key); break;
	case 4: op_put(b, key, val); b->len -= rnd((uint32_t)b->len); break; /* cut short */
	default: op_put(b, key, val); break;
	}
}

/* The sync policy and the kept versions change no result: b keeps 8 versions for the
 * 40 keys (two sets of four, evicting all the time), c none. */
START_TEST(kv_deterministic)
{
	struct kv_config nosync, none;
	struct replica a, b2, c;

	kv_config_default(&nosync);
	nosync.sync = 0;
	nosync.version_slots = 2 * KV_VER_WAYS;
	kv_config_default(&none);
	none.version_slots = 0;
	replica_open(&a, "a", NULL);
	replica_open(&b2, "b", &nosync);
	replica_open(&c, "c", &none);
	for (int batch = 1; batch <= 300; batch++) {
		struct batch bt = { .n = 0 };
		struct pbft_results ra, rb, rc;
		int n = 1 + (int)rnd(20);
		for (int i = 0; i < n; i++)
			random_op(batch_next(&bt));
		ck_assert_int_eq(run_batch(&a, &bt, &ra), 0);
		ck_assert_int_eq(run_batch(&b2, &bt, &rb), 0);
		ck_assert_int_eq(run_batch(&c, &bt, &rc), 0);
		ck_assert_uint_eq(ra.count, rb.count);
		ck_assert_uint_eq(ra.data.len, rb.data.len);
		ck_assert(memcmp(ra.data.p, rb.data.p, ra.data.len) == 0);
		ck_assert_uint_eq(ra.data.len, rc.data.len);
		ck_assert(memcmp(ra.data.p, rc.data.p, ra.data.len) == 0);
		results_free(&ra);
		results_free(&rb);
		results_free(&rc);
		batch_free(&bt);
		if (batch % 5 == 0) {
			uint8_t da[WIRE_DIGEST_LEN], db[WIRE_DIGEST_LEN];
			ck_assert_int_eq(a.ops.checkpoint(a.ops.ctx, a.seq, da), 0);
			ck_assert_int_eq(b2.ops.checkpoint(b2.ops.ctx, b2.seq, db), 0);
			ck_assert(memcmp(da, db, sizeof(da)) == 0);
			a.ops.release(a.ops.ctx, a.seq);
			b2.ops.release(b2.ops.ctx, b2.seq);
		}
	}
	ck_assert_uint_gt(a.kv.ver_hits, b2.kv.ver_hits);
	ck_assert_uint_gt(b2.kv.ver_hits, 0);
	ck_assert_uint_eq(c.kv.ver_hits, 0);
	replica_close(&a);
	replica_close(&b2);
	replica_close(&c);
}
END_TEST

/* State transfer with nothing but the app ops: top-down digest comparison, pages
 * of at most 64 bytes, finish. */
static void sync_node(struct replica *src, struct replica *dst, uint64_t ckpt, uint32_t level,
		      uint64_t index)
{
	const struct pbft_app_ops *s = &src->ops, *d = &dst->ops;
	struct wire_buf kids, page, start;
	uint32_t count;

	wire_buf_init(&kids);
	wire_buf_init(&page);
	wire_buf_init(&start);
	ck_assert_int_eq(s->tree_node(s->ctx, ckpt, level, index, &kids, &count), 0);
	ck_assert_uint_eq(count, s->fanout);
	for (uint32_t c = 0; c < count; c++) {
		uint64_t child = index * s->fanout + c;
		uint8_t local[WIRE_DIGEST_LEN];
		int more, first = 1;
		ck_assert_int_eq(d->local_node(d->ctx, level + 1, child, local), 0);
		if (memcmp(local, kids.p + (size_t)c * WIRE_DIGEST_LEN, sizeof(local)) == 0)
			continue;
		if (level + 1 < s->levels) {
			sync_node(src, dst, ckpt, level + 1, child);
			continue;
		}
		wire_buf_reset(&start);
		do {
			struct wire_data data;
			struct wire_iter it;
			struct wire_data_item item;
			uint32_t n;
			wire_buf_reset(&page);
			ck_assert_int_eq(s->read_partition(s->ctx, ckpt, child,
							   (struct wire_bytes){ start.p, (uint32_t)start.len },
							   64, &page, &n, &more), 0);
			data.ckpt_seq = ckpt;
			data.partition = child;
			data.flags = more ? WIRE_DATA_MORE : 0;
			data.entries.count = n;
			data.entries.bytes = (struct wire_bytes){ page.p, (uint32_t)page.len };
			ck_assert_int_eq(d->write_partition(d->ctx, child, first, &data), 0);
			first = 0;
			wire_iter_init(&it, &data.entries);
			while (wire_next_data(&it, &item)) {
				wire_buf_reset(&start);
				wire_put_fixed(&start, item.key.p, item.key.len);
				wire_put_u8(&start, 0);
			}
		} while (more);
	}
	wire_buf_free(&kids);
	wire_buf_free(&page);
	wire_buf_free(&start);
}

START_TEST(kv_state_transfer_through_ops)
{
	struct replica a, b2;
	struct wire_buf out;
	uint8_t root[WIRE_DIGEST_LEN], got[WIRE_DIGEST_LEN], wrong[WIRE_DIGEST_LEN];

	wire_buf_init(&out);
	replica_open(&a, "a", NULL);
	replica_open(&b2, "b", NULL);
	ck_assert_uint_eq(a.ops.fanout, 4);
	ck_assert_uint_eq(a.ops.levels, 2);
	for (int batch = 1; batch <= 10; batch++) {
		struct batch bt = { .n = 0 };
		struct pbft_results res;
		for (int i = 0; i < 15; i++)
			random_op(batch_next(&bt));
		ck_assert_int_eq(run_batch(&a, &bt, &res), 0);
		results_free(&res);
		batch_free(&bt);
		if (batch == 3) { /* b diverges a little */
			op_put(batch_next(&bt), "k1", "b's own value");
			op_put(batch_next(&bt), "only-b", "x");
			ck_assert_int_eq(run_batch(&b2, &bt, &res), 0);
			results_free(&res);
			batch_free(&bt);
		}
	}
	ck_assert_int_eq(a.ops.checkpoint(a.ops.ctx, 10, root), 0);
	sync_node(&a, &b2, 10, 0, 0);
	memcpy(wrong, root, sizeof(wrong));
	wrong[0] ^= 1;
	ck_assert_int_eq(b2.ops.finish_transfer(b2.ops.ctx, 10, wrong), KV_ERR_STORE);
	ck_assert_ptr_nonnull(strstr(kv_last_error(&b2.kv), "differs"));
	ck_assert_int_eq(b2.ops.finish_transfer(b2.ops.ctx, 10, root), 0);
	ck_assert_int_eq(b2.ops.local_node(b2.ops.ctx, 0, 0, got), 0);
	ck_assert(memcmp(got, root, sizeof(got)) == 0);
	ck_assert_uint_eq(store_last_executed(b2.store), 10);
	ck_assert_uint_eq(get_ro(&b2, "only-b", &out).status, WIRE_KV_NOT_FOUND);
	for (int k = 0; k < 40; k++) {
		char key[16];
		struct wire_buf oa;
		struct wire_kv_result x, y;
		snprintf(key, sizeof(key), "k%d", k);
		wire_buf_init(&oa);
		x = get_ro(&a, key, &oa);
		y = get_ro(&b2, key, &out);
		ck_assert_uint_eq(x.status, y.status);
		ck_assert_uint_eq(x.version, y.version);
		ck_assert_uint_eq(x.value.len, y.value.len);
		ck_assert(x.value.len == 0 || memcmp(x.value.p, y.value.p, x.value.len) == 0);
		wire_buf_free(&oa);
	}
	wire_buf_free(&out);
	replica_close(&a);
	replica_close(&b2);
}
END_TEST

/* ---------------------------------------------------------------- kept digests */
#define LONG_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" /* results of 40-byte values */
#define LONG_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" /* are digested */

/* A read-only GET answered by digest: the result, and dg the digest of exactly it. */
static void get_ro_digest(struct replica *r, const char *key, const char *want, uint64_t version,
			  uint8_t digest[WIRE_DIGEST_LEN])
{
	struct pbft_ro_digest dg = { 0 };
	struct wire_buf op, out;
	struct wire_request q;
	struct wire_kv_result res;
	uint8_t true_dg[WIRE_DIGEST_LEN];

	wire_buf_init(&op);
	wire_buf_init(&out);
	op_key(&op, WIRE_KV_GET, key);
	memset(&q, 0, sizeof(q));
	q.flags = WIRE_REQ_READ_ONLY;
	q.op = (struct wire_bytes){ op.p, (uint32_t)op.len };
	ck_assert_int_eq(r->ops.execute_ro(r->ops.ctx, &q, &out, &dg), 0);
	ck_assert_int_eq(wire_kv_decode_result(out.p, out.len, UINT32_MAX, &res), 0);
	expect_ok(res, version, want);
	ck_assert_int_eq(dg.known, 1);
	wire_result_digest(out.p, out.len, true_dg);
	ck_assert_msg(memcmp(dg.digest, true_dg, WIRE_DIGEST_LEN) == 0,
		      "%s: the digest given is not the result's", key);
	memcpy(digest, dg.digest, WIRE_DIGEST_LEN);
	wire_buf_free(&op);
	wire_buf_free(&out);
}

static void run_one(struct replica *r, void (*put)(struct wire_buf *, const char *, const char *),
		    const char *key, const char *val)
{
	struct batch b = { .n = 0 };
	struct pbft_results res;

	if (put != NULL)
		put(batch_next(&b), key, val);
	else
		op_key(batch_next(&b), WIRE_KV_DEL, key);
	ck_assert_int_eq(run_batch(r, &b, &res), 0);
	results_free(&res);
	batch_free(&b);
}

/* Kept digests follow the key: a write or a transfer drops them, even when the new
 * result has the old one's version and length (a delete, then a put: version 1 again). */
START_TEST(kv_kept_digests_follow_writes)
{
	struct replica a, b2;
	uint8_t d1[WIRE_DIGEST_LEN], d2[WIRE_DIGEST_LEN], root[WIRE_DIGEST_LEN];

	replica_open(&a, "a", NULL);
	replica_open(&b2, "b", NULL);
	run_one(&a, op_put, "k", LONG_A);
	get_ro_digest(&a, "k", LONG_A, 1, d1);
	get_ro_digest(&a, "k", LONG_A, 1, d2); /* kept */
	ck_assert(memcmp(d1, d2, sizeof(d1)) == 0);
	run_one(&a, NULL, "k", NULL);
	run_one(&a, op_put, "k", LONG_B);
	get_ro_digest(&a, "k", LONG_B, 1, d2);
	ck_assert(memcmp(d1, d2, sizeof(d1)) != 0);
	/* A read-only request asking for no digest gets none. */
	struct wire_buf out;
	wire_buf_init(&out);
	expect_ok(get_ro(&a, "k", &out), 1, LONG_B);
	wire_buf_free(&out);

	/* b keeps k = LONG_A's digest, then fetches a's state (k = LONG_B, version 1). */
	run_one(&b2, op_put, "k", LONG_A);
	run_one(&b2, op_put, "pad", "x");
	get_ro_digest(&b2, "k", LONG_A, 1, d1);
	ck_assert_int_eq(a.ops.checkpoint(a.ops.ctx, a.seq, root), 0);
	sync_node(&a, &b2, a.seq, 0, 0);
	ck_assert_int_eq(b2.ops.finish_transfer(b2.ops.ctx, a.seq, root), 0);
	get_ro_digest(&b2, "k", LONG_B, 1, d1);
	ck_assert(memcmp(d1, d2, sizeof(d1)) == 0);
	replica_close(&a);
	replica_close(&b2);
}
END_TEST

/* A PUT, CAS or DEL takes its key's version from the kept versions when it can; they
 * follow the state: a batch that failed to commit, a transaction aborted around
 * kv_apply and a state transfer each leave none behind that would give a wrong
 * version (each step fails if the versions of the undone writes were kept). */
START_TEST(kv_kept_versions_follow_state)
{
	struct replica a, b2;
	struct batch b = { .n = 0 };
	struct pbft_results res;
	struct wire_buf out, op;
	uint8_t root[WIRE_DIGEST_LEN];
	char longkey[KV_DG_KEY_MAX + 2];
	uint64_t hits;

	wire_buf_init(&out);
	wire_buf_init(&op);
	memset(longkey, 'L', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	replica_open(&a, "a", NULL);
	replica_open(&b2, "b", NULL);
	op_put(batch_next(&b), "k", "1");
	op_put(batch_next(&b), "k", "2");          /* version kept by the first */
	op_put(batch_next(&b), longkey, "x");      /* too long to keep: read each time */
	op_put(batch_next(&b), longkey, "y");
	op_key(batch_next(&b), WIRE_KV_DEL, "d");  /* absent, and kept as absent */
	op_cas(batch_next(&b), "d", 0, "made");
	ck_assert_int_eq(run_batch(&a, &b, &res), 0);
	expect_ok(result_at(&res, 1), 2, "");
	expect_ok(result_at(&res, 3), 2, "");
	ck_assert_uint_eq(result_at(&res, 4).status, WIRE_KV_NOT_FOUND);
	expect_ok(result_at(&res, 5), 1, "");
	ck_assert_uint_eq(a.kv.ver_hits, 2);       /* k's second PUT, d's CAS */
	results_free(&res);
	batch_free(&b);

	/* A batch whose commit fails (out of order) wrote nothing: k stays at 2. */
	op_put(batch_next(&b), "k", "lost");
	a.seq += 3;
	ck_assert_int_eq(run_batch(&a, &b, &res), KV_ERR_STORE);
	a.seq -= 3;
	results_free(&res);
	batch_free(&b);
	op_put(batch_next(&b), "k", "3");
	ck_assert_int_eq(run_batch(&a, &b, &res), 0);
	expect_ok(result_at(&res, 0), 3, "");
	results_free(&res);
	batch_free(&b);

	/* Ops run in a caller's transaction, then aborted: k stays at 3. */
	op_put(&op, "k", "aborted");
	ck_assert_int_eq(store_txn_begin(a.store), 0);
	ck_assert_int_eq(kv_apply(&a.kv, (struct wire_bytes){ op.p, (uint32_t)op.len }, 0, &out), 0);
	store_txn_abort(a.store);
	kv_batch_end(&a.kv, 0);
	op_put(batch_next(&b), "k", "4");
	ck_assert_int_eq(run_batch(&a, &b, &res), 0);
	expect_ok(result_at(&res, 0), 4, "");
	results_free(&res);
	batch_free(&b);
	expect_ok(get_ro(&a, "k", &out), 4, "4");

	/* a fetches b's state, where k is at version 1: its next PUT makes version 2. */
	run_one(&b2, op_put, "k", "b's");
	ck_assert_int_eq(b2.ops.checkpoint(b2.ops.ctx, b2.seq, root), 0);
	sync_node(&b2, &a, b2.seq, 0, 0);
	ck_assert_int_eq(a.ops.finish_transfer(a.ops.ctx, b2.seq, root), 0);
	a.seq = b2.seq;
	hits = a.kv.ver_hits;
	op_put(batch_next(&b), "k", "after");
	op_put(batch_next(&b), "k", "again");
	ck_assert_int_eq(run_batch(&a, &b, &res), 0);
	expect_ok(result_at(&res, 0), 2, "");
	expect_ok(result_at(&res, 1), 3, "");
	ck_assert_uint_eq(a.kv.ver_hits, hits + 1);
	results_free(&res);
	batch_free(&b);
	wire_buf_free(&op);
	wire_buf_free(&out);
	replica_close(&a);
	replica_close(&b2);
}
END_TEST

/* FNV-1a, as kv.c picks a key's set and the hash byte in the set's header. */
static uint8_t fnv_top_byte(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *c = key; *c != '\0'; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
	return (uint8_t)(h >> 56);
}

/* Two keys in one set with the same hash byte, one a prefix of the other: the kept
 * version of the longer one is not the shorter one's. */
START_TEST(kv_kept_versions_compare_whole_keys)
{
	struct kv_config one_set;
	struct replica r;
	struct batch b = { .n = 0 };
	struct pbft_results res;
	char longer[16] = "";
	unsigned i;

	for (i = 0; i < 100000 && longer[0] == '\0'; i++) {
		snprintf(longer, sizeof(longer), "p%u", i);
		if (fnv_top_byte(longer) != fnv_top_byte("p"))
			longer[0] = '\0';
	}
	ck_assert_msg(longer[0] != '\0', "no key p<N> shares p's hash byte");
	kv_config_default(&one_set);
	one_set.version_slots = KV_VER_WAYS;
	replica_open(&r, "a", &one_set);
	op_put(batch_next(&b), longer, "1");
	op_put(batch_next(&b), longer, "2");
	op_put(batch_next(&b), "p", "first");
	op_cas(batch_next(&b), "p", 1, "second");
	ck_assert_int_eq(run_batch(&r, &b, &res), 0);
	expect_ok(result_at(&res, 1), 2, "");
	expect_ok(result_at(&res, 2), 1, "");
	expect_ok(result_at(&res, 3), 2, "");
	ck_assert_uint_eq(r.kv.ver_hits, 2); /* the second writes of each */
	results_free(&res);
	batch_free(&b);
	replica_close(&r);
}
END_TEST

START_TEST(kv_init_and_errors)
{
	struct kv_app kv;
	struct kv_config cfg;
	struct replica r;

	ck_assert_int_eq(kv_app_init(&kv, NULL, NULL), KV_ERR_ARG);
	replica_open(&r, "a", NULL);
	kv_config_default(&cfg);
	cfg.limits.max_key = 0;
	ck_assert_int_eq(kv_app_init(&kv, r.store, &cfg), KV_ERR_ARG);
	cfg.limits.max_key = STORE_MAX_KEY;
	ck_assert_int_eq(kv_app_init(&kv, r.store, &cfg), KV_ERR_ARG);
	cfg.limits.max_key = 16;
	cfg.limits.max_value = STORE_MAX_VALUE;
	ck_assert_int_eq(kv_app_init(&kv, r.store, &cfg), KV_ERR_ARG);
	kv_config_default(&cfg);
	cfg.version_slots = KV_VER_WAYS / 2; /* less than a set */
	ck_assert_int_eq(kv_app_init(&kv, r.store, &cfg), KV_ERR_ARG);
	cfg.version_slots = 3 * KV_VER_WAYS; /* not a power of two */
	ck_assert_int_eq(kv_app_init(&kv, r.store, &cfg), KV_ERR_ARG);
	ck_assert_str_eq(kv_last_error(&r.kv), "");
	for (int e = 0; e >= KV_ERR_CORRUPT; e--)
		ck_assert_str_ne(kv_strerror(e), "unknown kv error");
	ck_assert_str_eq(kv_strerror(KV_ERR_CORRUPT - 1), "unknown kv error");
	/* Unknown checkpoint through the ops. */
	struct wire_buf b;
	uint32_t count;
	wire_buf_init(&b);
	ck_assert_int_eq(r.ops.tree_node(r.ops.ctx, 99, 0, 0, &b, &count), KV_ERR_STORE);
	ck_assert_ptr_nonnull(strstr(kv_last_error(&r.kv), "checkpoint 99"));

	/* A stored entry that is not version | value (written behind the service's back):
	 * reads and writes of it fail loudly, and the batch is not committed. */
	ck_assert_int_eq(store_txn_begin(r.store), 0);
	ck_assert_int_eq(store_txn_put(r.store, STORE_NS_KV, "bad", 3, "xyz", 3), 0);
	ck_assert_int_eq(store_txn_commit(r.store, 1, 0), 0);
	r.seq = 1;
	struct wire_buf op;
	struct wire_request q;
	wire_buf_init(&op);
	op_key(&op, WIRE_KV_GET, "bad");
	memset(&q, 0, sizeof(q));
	q.op = (struct wire_bytes){ op.p, (uint32_t)op.len };
	ck_assert_int_eq(r.ops.execute_ro(r.ops.ctx, &q, &b, NULL), KV_ERR_CORRUPT);
	ck_assert_str_eq(kv_last_error(&r.kv), kv_strerror(KV_ERR_CORRUPT));
	struct batch bt = { .n = 0 };
	struct pbft_results res;
	op_put(batch_next(&bt), "fine", "1");
	op_put(batch_next(&bt), "bad", "2");
	ck_assert_int_eq(run_batch(&r, &bt, &res), KV_ERR_CORRUPT);
	results_free(&res);
	batch_free(&bt);
	ck_assert_uint_eq(store_last_executed(r.store), 1);
	ck_assert_uint_eq(get_ro(&r, "fine", &b).status, WIRE_KV_NOT_FOUND);
	wire_buf_free(&op);
	wire_buf_free(&b);
	replica_close(&r);
}
END_TEST

static Suite *app_kv_suite(void)
{
	Suite *s = suite_create("app_kv");
	TCase *tw = tcase_create("wire");
	TCase *tc = tcase_create("service");

	tcase_add_test(tw, wire_kv_roundtrip);
	tcase_add_test(tw, wire_kv_strict_decoding);
	suite_add_tcase(s, tw);
	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, kv_semantics_and_versions);
	tcase_add_test(tc, kv_limits_and_malformed_change_nothing);
	tcase_add_test(tc, kv_deterministic);
	tcase_add_test(tc, kv_state_transfer_through_ops);
	tcase_add_test(tc, kv_kept_digests_follow_writes);
	tcase_add_test(tc, kv_kept_versions_follow_state);
	tcase_add_test(tc, kv_kept_versions_compare_whole_keys);
	tcase_add_test(tc, kv_init_and_errors);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(app_kv_suite)
