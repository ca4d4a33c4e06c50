/* test_app_updates.c: the update service (replica/app/updates.c) inside the combined
 * application (replica/app/app.c), driven through its pbft_app_ops as the core drives
 * it: channel creation, publishing, policy rotation, every refusal (with the state
 * digest unchanged), determinism across two stores, reload, statements and proofs, and
 * the replica-local chunk storage. */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_tmpdir.h"
#include "tests/unit/test_upd_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/app/app.h"
#include "wire/kv.h"
#include "wire/upd.h"

#define GROUP 42u
#define T_MS 1750000000000ull             /* every batch's time */
#define T_S (T_MS / 1000)
#define ADMIN 50                          /* key tags: seed bytes all equal to the tag */
#define CHUNK 4096u

/* ---------------------------------------------------------------- keys */
static void sign_with(uint8_t tag, const void *msg, size_t len, uint8_t sig[64])
{
	struct crypto_ed25519_key k;

	key_of(tag, &k);
	ck_assert_int_eq(crypto_ed25519_sign(&k, msg, len, sig), 0);
	crypto_ed25519_free(&k);
}

/* ---------------------------------------------------------------- a replica */
struct replica {
	struct store *store;
	struct app app;
	struct pbft_app_ops ops;
	uint64_t seq;
};

static void upd_config(struct updates_config *c)
{
	updates_config_default(c);
	c->group = GROUP;
	c->epoch = 1;
	c->n = 4;
	c->f = 1;
	for (uint32_t i = 0; i < 4; i++)
		pub_of((uint8_t)(1 + i), c->replica_keys[i]);
	pub_of(ADMIN, c->admin_key);
}

static void replica_open(struct replica *r, const char *name)
{
	struct store_config sc = { .fanout = 4, .levels = 2, .create = 1 };
	struct updates_config uc;
	char path[320], err[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	sc.path = path;
	ck_assert_msg(store_open(&sc, &r->store, err, sizeof(err)) == 0, "store_open: %s", err);
	upd_config(&uc);
	ck_assert_int_eq(app_init(&r->app, r->store, NULL, &uc), 0);
	app_ops(&r->app, &r->ops);
	r->seq = store_last_executed(r->store);
}

static void replica_close(struct replica *r)
{
	app_free(&r->app);
	store_close(r->store);
}

/* Execute the ops as the next batch; results appended to res (caller frees). */
static void run_ops(struct replica *r, struct wire_buf *const *ops, int n, struct pbft_results *res)
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
		q.op = (struct wire_bytes){ ops[i]->p, (uint32_t)ops[i]->len };
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

/* Result i of res (text borrowed from res). */
static struct wire_upd_result result_at(const struct pbft_results *res, uint32_t i)
{
	struct wire_upd_result out;
	size_t off = 0;

	for (uint32_t j = 0; j < i; j++)
		off += res->len[j];
	ck_assert_int_eq(wire_upd_decode_result(res->data.p + off, res->len[i], &out), 0);
	return out;
}

/* Execute one op alone; the result with its text copied into text. */
static char text[WIRE_UPD_MAX_TEXT + 1];
static struct wire_upd_result exec1(struct replica *r, struct wire_buf *op)
{
	struct pbft_results res;
	struct wire_upd_result out;

	run_ops(r, &op, 1, &res);
	out = result_at(&res, 0);
	memcpy(text, out.text.p, out.text.len);
	text[out.text.len] = '\0';
	out.text.p = (const uint8_t *)text;
	results_free(&res);
	return out;
}

static void root_of(struct replica *r, uint8_t d[32])
{
	ck_assert_int_eq(store_root(r->store, d), 0);
}

#define EXPECT(res, st) \
	ck_assert_msg((res).status == (st), "status %s (%s), want %s", \
		      wire_upd_status_name((res).status), text, wire_upd_status_name(st))

/* ---------------------------------------------------------------- op builders */
static void op_create(struct wire_buf *b, const char *name, uint32_t k, const uint8_t *tags,
		      uint32_t m, uint8_t admin)
{
	uint8_t keys[8][32], sig[64];
	struct wire_upd_op op;
	struct wire_buf signed_bytes;

	for (uint32_t i = 0; i < m; i++)
		pub_of(tags[i], keys[i]);
	memset(&op, 0, sizeof(op));
	op.type = WIRE_UPD_CHANNEL_CREATE;
	op.name = (struct wire_bytes){ (const uint8_t *)name, (uint32_t)strlen(name) };
	op.policy.k = k;
	op.policy.m = m;
	op.policy.keys = &keys[0][0];
	wire_buf_init(&signed_bytes);
	ck_assert_int_eq(wire_upd_create_signed_bytes(GROUP, 1, &op, &signed_bytes), 0);
	sign_with(admin, signed_bytes.p, signed_bytes.len, sig);
	wire_buf_free(&signed_bytes);
	op.admin_sig = sig;
	ck_assert_int_eq(wire_upd_encode_op(b, &op), 0);
}

/* Deterministic file contents. */
static void file_data(uint8_t *p, size_t len, uint8_t f)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 13 + f);
}

/* A release: files "a.bin" (5000 bytes: 2 chunks of 4096) and "b.txt" (3 bytes). */
struct release {
	const char *channel;        /* manifest's channel */
	uint64_t version, expires;
	uint8_t signers[4];         /* publisher tags signing */
	int nsigners;
	int bad_sig_tag;            /* a tag whose signature is over other bytes (0: none) */
	const char *payload;        /* replaces the manifest (NULL: build it) */
	int receipts[3];            /* receipts per chunk (replicas 0..n-1), default 3 */
	int dup_receipt;            /* chunk 0's receipts all by replica 0 */
	int foreign_receipt;        /* chunk 0's last receipt signed by a non-group key */
	int nlists;                 /* receipt lists sent (default 3) */
};

static void release_default(struct release *rl, uint64_t version)
{
	memset(rl, 0, sizeof(*rl));
	rl->channel = "stable/x";
	rl->version = version;
	rl->expires = T_S + 86400;
	rl->signers[0] = 20;
	rl->signers[1] = 21;
	rl->nsigners = 2;
	for (int i = 0; i < 3; i++)
		rl->receipts[i] = 3;
	rl->nlists = 3;
}

static char *release_manifest(const struct release *rl, uint8_t chunk_hash[3][32],
			      uint64_t chunk_len[3])
{
	uint8_t a[5000], bt[3], ha[32], hb[32];
	char hex[6][65], *s = malloc(2048);

	ck_assert_ptr_nonnull(s);
	file_data(a, sizeof(a), 1);
	file_data(bt, sizeof(bt), 2);
	crypto_sha256(a, sizeof(a), ha);
	crypto_sha256(bt, sizeof(bt), hb);
	crypto_sha256(a, CHUNK, chunk_hash[0]);
	crypto_sha256(a + CHUNK, sizeof(a) - CHUNK, chunk_hash[1]);
	crypto_sha256(bt, sizeof(bt), chunk_hash[2]);
	chunk_len[0] = CHUNK;
	chunk_len[1] = sizeof(a) - CHUNK;
	chunk_len[2] = sizeof(bt);
	wire_upd_hex(ha, 32, hex[0]);
	wire_upd_hex(hb, 32, hex[1]);
	for (int i = 0; i < 3; i++)
		wire_upd_hex(chunk_hash[i], 32, hex[2 + i]);
	snprintf(s, 2048,
		 "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"%s\",\"version\":%llu,"
		 "\"created\":%llu,\"expires\":%llu,\"chunk_size\":%u,\"files\":["
		 "{\"path\":\"a.bin\",\"size\":5000,\"sha256\":\"%s\",\"chunks\":[\"%s\",\"%s\"]},"
		 "{\"path\":\"b.txt\",\"size\":3,\"sha256\":\"%s\",\"chunks\":[\"%s\"]}]}",
		 rl->channel, (unsigned long long)rl->version, (unsigned long long)(T_S - 10),
		 (unsigned long long)rl->expires, CHUNK, hex[0], hex[2], hex[3], hex[1], hex[4]);
	return s;
}

/* PUBLISH of rl to channel `to`; *hash (may be NULL) receives the manifest hash. */
static void op_publish(struct wire_buf *b, const char *to, const struct release *rl,
		       uint8_t hash[32])
{
	uint8_t chunk_hash[3][32], seed[32];
	uint64_t chunk_len[3];
	struct wire_upd_sig sigs[5];
	struct wire_buf env, lists;
	struct wire_upd_op op;
	char *payload = release_manifest(rl, chunk_hash, chunk_len);
	const char *p = rl->payload != NULL ? rl->payload : payload;
	size_t plen = strlen(p);
	int ns = 0;

	for (int i = 0; i < rl->nsigners; i++, ns++) {
		memset(seed, rl->signers[i], sizeof(seed));
		ck_assert_int_eq(sign_seed(seed, WIRE_UPD_PAYLOAD_TYPE, (const uint8_t *)p, plen,
					       &sigs[ns]), 0);
	}
	if (rl->bad_sig_tag != 0) {
		memset(seed, rl->bad_sig_tag, sizeof(seed));
		ck_assert_int_eq(sign_seed(seed, WIRE_UPD_PAYLOAD_TYPE, (const uint8_t *)"x", 1,
					       &sigs[ns++]), 0);
	}
	if (hash != NULL)
		crypto_sha256(p, plen, hash);
	wire_buf_init(&env);
	wire_buf_init(&lists);
	ck_assert_int_eq(wire_upd_envelope_encode((const uint8_t *)p, plen, sigs, (uint32_t)ns,
						  &env), 0);
	for (int c = 0; c < rl->nlists; c++) {
		struct wire_upd_cert_sig r[4];
		uint8_t msg[WIRE_UPD_RECEIPT_LEN];
		wire_upd_receipt_bytes(GROUP, 1, chunk_hash[c], chunk_len[c], msg);
		for (int i = 0; i < rl->receipts[c]; i++) {
			int id = (c == 0 && rl->dup_receipt) ? 0 : i;
			uint8_t tag = (uint8_t)(1 + id);
			if (c == 0 && rl->foreign_receipt && i == rl->receipts[c] - 1)
				tag = 9;
			r[i].replica = (uint32_t)id;
			sign_with(tag, msg, sizeof(msg), r[i].sig);
		}
		wire_upd_put_receipts(&lists, r, (uint32_t)rl->receipts[c]);
	}
	memset(&op, 0, sizeof(op));
	op.type = WIRE_UPD_PUBLISH;
	op.name = (struct wire_bytes){ (const uint8_t *)to, (uint32_t)strlen(to) };
	op.envelope = (struct wire_bytes){ env.p, (uint32_t)env.len };
	op.nreceipts = (uint32_t)rl->nlists;
	op.receipts = (struct wire_bytes){ lists.p, (uint32_t)lists.len };
	ck_assert_int_eq(wire_upd_encode_op(b, &op), 0);
	wire_buf_free(&env);
	wire_buf_free(&lists);
	free(payload);
}

static void op_rotate(struct wire_buf *b, const char *name, uint64_t pv, uint32_t k,
		      const uint8_t *tags, uint32_t m, const uint8_t *signers, int nsigners)
{
	uint8_t keys[8][32], sigs[8 * 96], seed[32];
	struct wire_upd_op op;
	struct wire_buf body;

	for (uint32_t i = 0; i < m; i++)
		pub_of(tags[i], keys[i]);
	memset(&op, 0, sizeof(op));
	op.type = WIRE_UPD_POLICY_ROTATE;
	op.name = (struct wire_bytes){ (const uint8_t *)name, (uint32_t)strlen(name) };
	op.policy_version = pv;
	op.policy.k = k;
	op.policy.m = m;
	op.policy.keys = &keys[0][0];
	wire_buf_init(&body);
	ck_assert_int_eq(wire_upd_rotate_signed_bytes(GROUP, 1, &op, &body), 0);
	for (int i = 0; i < nsigners; i++) {
		struct wire_upd_sig s;
		memset(seed, signers[i], sizeof(seed));
		ck_assert_int_eq(sign_seed(seed, WIRE_UPD_ROTATION_TYPE, body.p, body.len, &s), 0);
		memcpy(sigs + i * 96, s.keyid, 32);
		memcpy(sigs + i * 96 + 32, s.sig, 64);
	}
	wire_buf_free(&body);
	op.nsigs = (uint32_t)nsigners;
	op.sigs = sigs;
	ck_assert_int_eq(wire_upd_encode_op(b, &op), 0);
}

static const uint8_t pubs3[] = { 20, 21, 22 };

/* Create stable/x (2 of 20, 21, 22). */
static void create_stable(struct replica *r)
{
	struct wire_buf b;

	wire_buf_init(&b);
	op_create(&b, "stable/x", 2, pubs3, 3, ADMIN);
	EXPECT(exec1(r, &b), WIRE_UPD_OK);
	wire_buf_free(&b);
}

/* The channel's proof checks against the statement's index root. */
static void check_proof(struct replica *r, const char *name, uint64_t version,
			const uint8_t hash[32], const struct wire_upd_statement *st)
{
	struct wire_upd_proof proof;
	uint8_t got[32], leaf[32];

	ck_assert_int_eq(updates_channel_proof(&r->app.upd, name, &proof, got), 0);
	ck_assert_uint_eq(proof.version, version);
	ck_assert_mem_eq(got, hash, 32);
	ck_assert_int_eq(wire_upd_leaf_hash(name, strlen(name), version, hash, leaf), 0);
	ck_assert_int_eq(crypto_merkle_inclusion_verify(leaf, proof.index, proof.size,
							(const uint8_t(*)[32])proof.path,
							proof.pathlen, st->index_root), 0);
}

/* ---------------------------------------------------------------- daemon queries */
START_TEST(test_publisher_query_and_log_leaf)
{
	struct replica r;
	struct release rl;
	struct wire_buf b;
	char name[WIRE_UPD_MAX_CHANNEL + 1];
	uint8_t pub[32], h1[32], got[32];
	uint64_t version = 0;

	replica_open(&r, "q");
	wire_buf_init(&b);
	pub_of(20, pub);
	ck_assert_int_eq(updates_is_publisher(&r.app.upd, pub), 0); /* no channel yet */
	ck_assert_int_eq(updates_log_leaf(&r.app.upd, 0, name, &version, got),
			 UPDATES_ERR_NOT_FOUND);
	create_stable(&r);
	for (uint8_t t = 20; t <= 22; t++) {
		pub_of(t, pub);
		ck_assert_int_eq(updates_is_publisher(&r.app.upd, pub), 1);
	}
	pub_of(23, pub);
	ck_assert_int_eq(updates_is_publisher(&r.app.upd, pub), 0);
	pub_of(ADMIN, pub);
	ck_assert_int_eq(updates_is_publisher(&r.app.upd, pub), 0); /* admin is not a publisher */

	release_default(&rl, 1);
	op_publish(&b, "stable/x", &rl, h1);
	EXPECT(exec1(&r, &b), WIRE_UPD_OK);
	ck_assert_int_eq(updates_log_leaf(&r.app.upd, 0, name, &version, got), 0);
	ck_assert_str_eq(name, "stable/x");
	ck_assert_uint_eq(version, 1);
	ck_assert_mem_eq(got, h1, 32);
	ck_assert_int_eq(updates_log_leaf(&r.app.upd, 1, name, &version, got),
			 UPDATES_ERR_NOT_FOUND);
	wire_buf_free(&b);
	replica_close(&r);
}
END_TEST

/* ---------------------------------------------------------------- happy paths */
START_TEST(test_create_publish_rotate)
{
	struct replica r;
	struct release rl;
	struct wire_upd_result res;
	struct wire_upd_statement st;
	struct wire_buf b, env;
	uint8_t h1[32], h2[32], h3[32], ha[32], leaves[4][32], root[32];

	replica_open(&r, "a");
	wire_buf_init(&b);
	wire_buf_init(&env);
	create_stable(&r);
	ck_assert_uint_eq(updates_channel_proof(&r.app.upd, "stable/x", &(struct wire_upd_proof){ 0 },
						h1), UPDATES_ERR_NOT_FOUND);

	release_default(&rl, 1);
	op_publish(&b, "stable/x", &rl, h1);
	res = exec1(&r, &b);
	EXPECT(res, WIRE_UPD_OK);
	ck_assert_uint_eq(res.a, 1);
	ck_assert_mem_eq(res.hash, h1, 32);
	/* The stored envelope is the published one, byte for byte. */
	struct wire_upd_op dec;
	ck_assert_int_eq(wire_upd_decode_op(b.p, b.len, NULL, &dec), 0);
	ck_assert_int_eq(updates_get_envelope(&r.app.upd, "stable/x", 1, &env), 0);
	ck_assert_uint_eq(env.len, dec.envelope.len);
	ck_assert_mem_eq(env.p, dec.envelope.p, env.len);
	ck_assert_int_eq(updates_get_envelope(&r.app.upd, "stable/x", 2, &env), UPDATES_ERR_NOT_FOUND);

	wire_buf_reset(&b);
	release_default(&rl, 2);
	rl.signers[1] = 22; /* another 2 of the 3 */
	op_publish(&b, "stable/x", &rl, h2);
	EXPECT(exec1(&r, &b), WIRE_UPD_OK);

	/* A second channel. */
	static const uint8_t one[] = { 23 };
	wire_buf_reset(&b);
	op_create(&b, "alpha", 1, one, 1, ADMIN);
	EXPECT(exec1(&r, &b), WIRE_UPD_OK);
	wire_buf_reset(&b);
	release_default(&rl, 7);
	rl.channel = "alpha";
	rl.signers[0] = 23;
	rl.nsigners = 1;
	op_publish(&b, "alpha", &rl, ha);
	EXPECT(exec1(&r, &b), WIRE_UPD_OK);

	ck_assert_int_eq(updates_statement(&r.app.upd, r.seq, T_MS, &st), 0);
	ck_assert_uint_eq(st.group, GROUP);
	ck_assert_uint_eq(st.seq, r.seq);
	ck_assert_uint_eq(st.expires_ms, T_MS + 5 * 60 * 1000);
	check_proof(&r, "stable/x", 2, h2, &st);
	check_proof(&r, "alpha", 7, ha, &st);
	/* The log holds the three accepted manifests in order. */
	ck_assert_uint_eq(st.log_size, 3);
	wire_upd_leaf_hash("stable/x", 8, 1, h1, leaves[0]);
	wire_upd_leaf_hash("stable/x", 8, 2, h2, leaves[1]);
	wire_upd_leaf_hash("alpha", 5, 7, ha, leaves[2]);
	ck_assert_int_eq(crypto_merkle_root((const uint8_t(*)[32])leaves, 3, root), 0);
	ck_assert_mem_eq(st.log_root, root, 32);

	/* Rotate stable/x to 1 of {30}: 2 old signatures and 1 new. */
	static const uint8_t newkeys[] = { 30 }, rsigners[] = { 20, 22, 30 };
	wire_buf_reset(&b);
	op_rotate(&b, "stable/x", 2, 1, newkeys, 1, rsigners, 3);
	res = exec1(&r, &b);
	EXPECT(res, WIRE_UPD_OK);
	ck_assert_uint_eq(res.a, 2);
	/* The old publishers no longer suffice; the new one does. */
	wire_buf_reset(&b);
	release_default(&rl, 3);
	op_publish(&b, "stable/x", &rl, NULL);
	res = exec1(&r, &b);
	EXPECT(res, WIRE_UPD_BELOW_THRESHOLD);
	ck_assert_uint_eq(res.a, 0);
	ck_assert_uint_eq(res.b, 1);
	wire_buf_reset(&b);
	rl.signers[0] = 30;
	rl.nsigners = 1;
	op_publish(&b, "stable/x", &rl, h3);
	EXPECT(exec1(&r, &b), WIRE_UPD_OK);
	ck_assert_int_eq(updates_statement(&r.app.upd, r.seq, T_MS, &st), 0);
	ck_assert_uint_eq(st.log_size, 4);
	check_proof(&r, "stable/x", 3, h3, &st);

	/* The key-value service still runs in the same app and batches. */
	struct wire_kv_op put = { .type = WIRE_KV_PUT };
	put.key = (struct wire_bytes){ (const uint8_t *)"k", 1 };
	put.value = (struct wire_bytes){ (const uint8_t *)"v", 1 };
	wire_buf_reset(&b);
	ck_assert_int_eq(wire_kv_encode_op(&b, &put), 0);
	struct pbft_results pr;
	struct wire_buf *ops[] = { &b };
	run_ops(&r, ops, 1, &pr);
	struct wire_kv_result kres;
	ck_assert_int_eq(wire_kv_decode_result(pr.data.p, pr.len[0], 16, &kres), 0);
	ck_assert_uint_eq(kres.status, WIRE_KV_OK);
	results_free(&pr);

	wire_buf_free(&b);
	wire_buf_free(&env);
	replica_close(&r);
}
END_TEST

/* ---------------------------------------------------------------- refusals */
/* Run op alone and check the result's status and numbers, and that the state digest
 * and the statement did not change. */
static struct wire_upd_result refuse(struct replica *r, struct wire_buf *op, uint8_t status)
{
	struct wire_upd_statement s0, s1;
	uint8_t d0[32], d1[32], client[WIRE_KEY_LEN];
	struct wire_upd_result res;
	struct wire_buf last;
	uint64_t ts0 = 0;

	/* A refused request is still an executed request: the exactly-once table records
	 * its result. Put the client's previous entry back afterwards; then the replicated
	 * state must be exactly what it was. */
	memset(client, 0xc1, sizeof(client));
	wire_buf_init(&last);
	ck_assert_int_eq(r->ops.client_last(r->ops.ctx, client, 0, &ts0, &last), 0);
	ck_assert_uint_ne(ts0, 0);
	root_of(r, d0);
	ck_assert_int_eq(updates_statement(&r->app.upd, 0, T_MS, &s0), 0);
	res = exec1(r, op);
	EXPECT(res, status);
	ck_assert_uint_gt(strlen(text), 0);
	ck_assert_int_eq(store_txn_begin(r->store), 0);
	ck_assert_int_eq(store_txn_client_put(r->store, client, 0, ts0, last.p, last.len), 0);
	ck_assert_int_eq(store_txn_commit(r->store, ++r->seq, 0), 0);
	wire_buf_free(&last);
	root_of(r, d1);
	ck_assert_mem_eq(d0, d1, 32);
	ck_assert_int_eq(updates_statement(&r->app.upd, 0, T_MS, &s1), 0);
	ck_assert_mem_eq(&s0, &s1, sizeof(s0));
	wire_buf_reset(op);
	return res;
}

START_TEST(test_refusals)
{
	struct replica r;
	struct release rl;
	struct wire_upd_result res;
	struct wire_buf b;
	static const uint8_t dup[] = { 20, 20 }, bad_k[] = { 20, 21 };

	replica_open(&r, "a");
	wire_buf_init(&b);
	create_stable(&r);
	release_default(&rl, 1);
	op_publish(&b, "stable/x", &rl, NULL);
	EXPECT(exec1(&r, &b), WIRE_UPD_OK);
	wire_buf_reset(&b);

	/* BAD_OP: truncated, trailing, oversized. */
	wire_put_u8(&b, WIRE_UPD_PUBLISH);
	res = refuse(&r, &b, WIRE_UPD_BAD_OP);
	ck_assert_uint_eq(res.reason, WIRE_UPD_BAD_TRUNCATED);
	op_create(&b, "beta", 1, pubs3, 1, ADMIN);
	wire_put_u8(&b, 0);
	res = refuse(&r, &b, WIRE_UPD_BAD_OP);
	ck_assert_uint_eq(res.reason, WIRE_UPD_BAD_TRAILING);
	wire_put_u8(&b, WIRE_UPD_CHANNEL_CREATE);
	wire_put_u32(&b, 100000);
	res = refuse(&r, &b, WIRE_UPD_BAD_OP);
	ck_assert_uint_eq(res.reason, WIRE_UPD_BAD_TOO_BIG);

	/* CHANNEL_CREATE: not the admin; bad policies; existing. */
	op_create(&b, "beta", 1, pubs3, 1, ADMIN + 1);
	refuse(&r, &b, WIRE_UPD_NOT_ADMIN);
	op_create(&b, "beta", 0, pubs3, 1, ADMIN);
	refuse(&r, &b, WIRE_UPD_BAD_POLICY);
	op_create(&b, "beta", 3, bad_k, 2, ADMIN);
	res = refuse(&r, &b, WIRE_UPD_BAD_POLICY);
	ck_assert_ptr_nonnull(strstr(text, "threshold 3 of 2 keys"));
	op_create(&b, "beta", 1, dup, 2, ADMIN);
	res = refuse(&r, &b, WIRE_UPD_BAD_POLICY);
	ck_assert_ptr_nonnull(strstr(text, "keys 0 and 1 are the same key"));
	op_create(&b, "be ta", 1, pubs3, 1, ADMIN);
	refuse(&r, &b, WIRE_UPD_BAD_POLICY);
	op_create(&b, "stable/x", 1, pubs3, 1, ADMIN);
	res = refuse(&r, &b, WIRE_UPD_EXISTS);
	ck_assert_uint_eq(res.a, 1);

	/* PUBLISH refusals, in the order they are checked. */
	release_default(&rl, 2);
	op_publish(&b, "nochan", &rl, NULL);
	refuse(&r, &b, WIRE_UPD_NO_CHANNEL);

	wire_put_u8(&b, WIRE_UPD_PUBLISH);
	wire_put_bytes(&b, "stable/x", 8);
	wire_put_bytes(&b, "{\"payloadType\":1}", 17);
	wire_put_u32(&b, 0);
	res = refuse(&r, &b, WIRE_UPD_BAD_ENVELOPE);
	ck_assert_uint_eq(res.reason, (uint8_t)-WIRE_UPD_E_FIELD);
	ck_assert_str_eq(text, "envelope.payloadType: not a string");

	release_default(&rl, 2);
	rl.nsigners = 1;
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_BELOW_THRESHOLD);
	ck_assert_uint_eq(res.a, 1);
	ck_assert_uint_eq(res.b, 2);
	ck_assert_uint_eq(res.reason, WIRE_UPD_POLICY_CURRENT);

	release_default(&rl, 2);
	rl.signers[1] = 20; /* one key twice */
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_BELOW_THRESHOLD);
	ck_assert_uint_eq(res.a, 1);

	release_default(&rl, 2);
	rl.nsigners = 1;
	rl.bad_sig_tag = 22;
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_BAD_SIGNATURE);
	ck_assert_uint_eq(res.a, 1);
	ck_assert_uint_eq(res.b, 2);
	ck_assert_uint_eq(res.c, 1);

	release_default(&rl, 2);
	rl.payload = "{\"_type\":\"bulwark/manifest/v1\"}";
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_BAD_MANIFEST);
	ck_assert_uint_eq(res.reason, (uint8_t)-WIRE_UPD_E_FIELD);
	ck_assert_str_eq(text, "channel: missing");

	release_default(&rl, 2);
	rl.channel = "alpha";
	op_publish(&b, "stable/x", &rl, NULL);
	refuse(&r, &b, WIRE_UPD_CHANNEL_MISMATCH);

	release_default(&rl, 1);
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_ROLLBACK);
	ck_assert_uint_eq(res.a, 1);
	ck_assert_uint_eq(res.b, 1);

	release_default(&rl, 2);
	rl.expires = T_S;
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_EXPIRED);
	ck_assert_uint_eq(res.a, T_S);
	ck_assert_uint_eq(res.b, T_S);

	release_default(&rl, 2);
	rl.expires = T_S + 365 * 86400 + 1;
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_EXPIRES_TOO_FAR);
	ck_assert_uint_eq(res.b, T_S + 365 * 86400);

	release_default(&rl, 2);
	rl.nlists = 2;
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_RECEIPT_COUNT);
	ck_assert_uint_eq(res.a, 2);
	ck_assert_uint_eq(res.b, 3);

	release_default(&rl, 2);
	rl.receipts[1] = 2;
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_MISSING_RECEIPTS);
	ck_assert_uint_eq(res.a, 1);
	ck_assert_uint_eq(res.b, 2);
	ck_assert_uint_eq(res.c, 3);
	ck_assert_ptr_nonnull(strstr(text, "chunk 1 (file a.bin, chunk 1)"));

	release_default(&rl, 2);
	rl.dup_receipt = 1; /* three receipts, all replica 0's */
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_MISSING_RECEIPTS);
	ck_assert_uint_eq(res.a, 0);
	ck_assert_uint_eq(res.b, 1);

	release_default(&rl, 2);
	rl.foreign_receipt = 1;
	op_publish(&b, "stable/x", &rl, NULL);
	res = refuse(&r, &b, WIRE_UPD_MISSING_RECEIPTS);
	ck_assert_uint_eq(res.b, 2);

	/* POLICY_ROTATE refusals. */
	static const uint8_t nk[] = { 30, 31 }, old1[] = { 20, 30, 31 }, new1[] = { 20, 21, 30 };
	static const uint8_t both[] = { 20, 21, 30, 31 };
	op_rotate(&b, "nochan", 2, 2, nk, 2, both, 4);
	refuse(&r, &b, WIRE_UPD_NO_CHANNEL);
	op_rotate(&b, "stable/x", 1, 2, nk, 2, both, 4);
	res = refuse(&r, &b, WIRE_UPD_ROLLBACK);
	ck_assert_uint_eq(res.a, 1);
	ck_assert_uint_eq(res.b, 1);
	op_rotate(&b, "stable/x", 3, 2, nk, 2, both, 4);
	refuse(&r, &b, WIRE_UPD_BAD_POLICY);
	op_rotate(&b, "stable/x", 2, 2, nk, 2, old1, 3);
	res = refuse(&r, &b, WIRE_UPD_BELOW_THRESHOLD);
	ck_assert_uint_eq(res.reason, WIRE_UPD_POLICY_OLD);
	ck_assert_uint_eq(res.a, 1);
	op_rotate(&b, "stable/x", 2, 2, nk, 2, new1, 3);
	res = refuse(&r, &b, WIRE_UPD_BELOW_THRESHOLD);
	ck_assert_uint_eq(res.reason, WIRE_UPD_POLICY_NEW);
	ck_assert_uint_eq(res.a, 1);
	ck_assert_uint_eq(res.b, 2);

	/* A read-only update op. */
	struct wire_request q;
	struct wire_buf out;
	struct wire_upd_result ro;
	release_default(&rl, 2);
	op_publish(&b, "stable/x", &rl, NULL);
	memset(&q, 0, sizeof(q));
	q.flags = WIRE_REQ_READ_ONLY;
	q.op = (struct wire_bytes){ b.p, (uint32_t)b.len };
	wire_buf_init(&out);
	ck_assert_int_eq(r.ops.execute_ro(r.ops.ctx, &q, &out, NULL), 0);
	ck_assert_int_eq(wire_upd_decode_result(out.p, out.len, &ro), 0);
	ck_assert_uint_eq(ro.status, WIRE_UPD_BAD_OP);
	ck_assert_uint_eq(ro.reason, WIRE_UPD_BAD_READ_ONLY);
	wire_buf_free(&out);

	/* A batch mixing a refusal and an acceptance: only the accepted one counts, and a
	 * later op of the same batch sees the earlier one's writes. */
	struct wire_buf b2, b3;
	wire_buf_init(&b2);
	wire_buf_init(&b3);
	release_default(&rl, 3);
	op_publish(&b2, "stable/x", &rl, NULL);
	struct wire_buf *ops[] = { &b, &b, &b2, &b3 };
	rl.version = 3;
	op_publish(&b3, "stable/x", &rl, NULL); /* same version again in the batch */
	struct pbft_results pr;
	run_ops(&r, ops, 4, &pr);
	ck_assert_uint_eq(result_at(&pr, 0).status, WIRE_UPD_OK);      /* version 2 */
	ck_assert_uint_eq(result_at(&pr, 1).status, WIRE_UPD_ROLLBACK); /* 2 again */
	ck_assert_uint_eq(result_at(&pr, 2).status, WIRE_UPD_OK);      /* version 3 */
	ck_assert_uint_eq(result_at(&pr, 3).status, WIRE_UPD_ROLLBACK);
	results_free(&pr);
	struct wire_upd_statement st;
	ck_assert_int_eq(updates_statement(&r.app.upd, r.seq, T_MS, &st), 0);
	ck_assert_uint_eq(st.log_size, 3);

	wire_buf_free(&b);
	wire_buf_free(&b2);
	wire_buf_free(&b3);
	replica_close(&r);
}
END_TEST

/* ---------------------------------------------------------------- determinism, reload */
/* The same ops, in batches, on a replica; all results appended to out. */
static void script(struct replica *r, struct wire_buf *out)
{
	static const uint8_t nk[] = { 30 }, rs[] = { 20, 21, 30 };
	struct wire_buf b[6];
	struct release rl;
	struct pbft_results pr;

	for (int i = 0; i < 6; i++)
		wire_buf_init(&b[i]);
	op_create(&b[0], "stable/x", 2, pubs3, 3, ADMIN);
	op_create(&b[1], "stable/x", 2, pubs3, 3, ADMIN); /* EXISTS */
	release_default(&rl, 1);
	op_publish(&b[2], "stable/x", &rl, NULL);
	release_default(&rl, 2);
	rl.nsigners = 1;
	op_publish(&b[3], "stable/x", &rl, NULL);         /* BELOW_THRESHOLD */
	op_rotate(&b[4], "stable/x", 2, 1, nk, 1, rs, 3);
	struct wire_kv_op put = { .type = WIRE_KV_PUT };
	put.key = (struct wire_bytes){ (const uint8_t *)"k", 1 };
	put.value = (struct wire_bytes){ (const uint8_t *)"v", 1 };
	ck_assert_int_eq(wire_kv_encode_op(&b[5], &put), 0);
	struct wire_buf *batch1[] = { &b[0], &b[1], &b[5] }, *batch2[] = { &b[2], &b[3], &b[4] };
	run_ops(r, batch1, 3, &pr);
	wire_put_fixed(out, pr.data.p, pr.data.len);
	results_free(&pr);
	run_ops(r, batch2, 3, &pr);
	wire_put_fixed(out, pr.data.p, pr.data.len);
	results_free(&pr);
	for (int i = 0; i < 6; i++)
		wire_buf_free(&b[i]);
}

START_TEST(test_determinism_and_reload)
{
	struct replica r1, r2;
	struct wire_buf o1, o2;
	struct wire_upd_statement s1, s2, s3;
	uint8_t d1[32], d2[32];

	replica_open(&r1, "one");
	replica_open(&r2, "two");
	wire_buf_init(&o1);
	wire_buf_init(&o2);
	script(&r1, &o1);
	script(&r2, &o2);
	ck_assert_uint_eq(o1.len, o2.len);
	ck_assert_mem_eq(o1.p, o2.p, o1.len);
	root_of(&r1, d1);
	root_of(&r2, d2);
	ck_assert_mem_eq(d1, d2, 32);
	ck_assert_int_eq(updates_statement(&r1.app.upd, r1.seq, T_MS, &s1), 0);
	ck_assert_int_eq(updates_statement(&r2.app.upd, r2.seq, T_MS, &s2), 0);
	ck_assert_mem_eq(&s1, &s2, sizeof(s1));
	ck_assert_uint_eq(s1.log_size, 1);

	/* Reopened, the replica rebuilds the same index and log head from its store. */
	replica_close(&r1);
	replica_open(&r1, "one");
	ck_assert_int_eq(updates_statement(&r1.app.upd, r1.seq, T_MS, &s3), 0);
	ck_assert_mem_eq(&s1, &s3, sizeof(s1));
	wire_buf_free(&o1);
	wire_buf_free(&o2);
	replica_close(&r1);
	replica_close(&r2);
}
END_TEST

START_TEST(test_config)
{
	struct replica r;
	struct updates_config c;
	struct updates u;

	replica_open(&r, "a");
	upd_config(&c);
	c.n = 5;
	ck_assert_int_eq(updates_init(&u, r.store, &c), UPDATES_ERR_ARG);
	upd_config(&c);
	c.receipts_needed = 2;
	ck_assert_int_eq(updates_init(&u, r.store, &c), UPDATES_ERR_ARG);
	upd_config(&c);
	c.receipts_needed = 5;
	ck_assert_int_eq(updates_init(&u, r.store, &c), UPDATES_ERR_ARG);
	upd_config(&c);
	c.max_expiry_s = 0;
	ck_assert_int_eq(updates_init(&u, r.store, &c), UPDATES_ERR_ARG);
	upd_config(&c);
	c.receipts_needed = 4;
	ck_assert_int_eq(updates_init(&u, r.store, &c), 0);
	ck_assert_uint_eq(u.cfg.receipts_needed, 4);
	updates_free(&u);
	struct app other;
	ck_assert_int_eq(app_init(&other, r.store, NULL, NULL), APP_ERR_ARG);
	c.n = 7;
	ck_assert_int_eq(app_init(&other, r.store, NULL, &c), APP_ERR_ARG);
	ck_assert_str_eq(updates_strerror(UPDATES_ERR_HASH), "chunk bytes do not match their SHA-256");
	ck_assert_str_eq(app_strerror(APP_ERR_UPDATES), "update service failure");
	replica_close(&r);
}
END_TEST

/* ---------------------------------------------------------------- chunks */
/* An in-memory blob store standing in for the replica-local LevelDB prefix. */
struct mem_blobs {
	uint8_t key[8][32];
	struct wire_buf val[8];
	int n;
	int fail;
};

static int mem_get(void *ctx, const uint8_t *key, size_t klen, struct wire_buf *value)
{
	struct mem_blobs *m = ctx;

	ck_assert_uint_eq(klen, 32);
	if (m->fail)
		return STORE_ERR_IO;
	for (int i = 0; i < m->n; i++) {
		if (memcmp(m->key[i], key, 32) == 0) {
			wire_buf_reset(value);
			wire_put_fixed(value, m->val[i].p, m->val[i].len);
			return wire_buf_error(value) != 0 ? STORE_ERR_NOMEM : 0;
		}
	}
	return STORE_ERR_NOT_FOUND;
}

static int mem_put(void *ctx, const uint8_t *key, size_t klen, const void *value, size_t vlen)
{
	struct mem_blobs *m = ctx;
	int i;

	ck_assert_uint_eq(klen, 32);
	for (i = 0; i < m->n; i++)
		if (memcmp(m->key[i], key, 32) == 0)
			break;
	if (i == m->n) {
		ck_assert_int_lt(m->n, 8);
		memcpy(m->key[m->n], key, 32);
		wire_buf_init(&m->val[m->n]);
		m->n++;
	}
	wire_buf_reset(&m->val[i]);
	wire_put_fixed(&m->val[i], value, vlen);
	return 0;
}

START_TEST(test_chunks)
{
	struct mem_blobs mb = { .n = 0 };
	struct updates_blob_ops ops = { .ctx = &mb, .get = mem_get, .put = mem_put };
	struct updates_chunks c;
	struct crypto_ed25519_key key;
	struct wire_upd_cert_sig rc;
	struct wire_buf out;
	uint8_t data[5000], h[32], other[32], msg[WIRE_UPD_RECEIPT_LEN];
	uint64_t total;

	key_of(3, &key); /* replica 2 */
	updates_chunks_init(&c, &ops, GROUP, 1, 2, &key);
	wire_buf_init(&out);
	file_data(data, sizeof(data), 1);
	crypto_sha256(data, sizeof(data), h);
	ck_assert_int_eq(updates_chunk_has(&c, h), 0);
	ck_assert_int_eq(updates_chunk_get(&c, h, 0, 0, &out, &total), UPDATES_ERR_NOT_FOUND);
	/* Bytes that do not hash to the name are refused and not stored. */
	memset(other, 1, sizeof(other));
	ck_assert_int_eq(updates_chunk_put(&c, other, data, sizeof(data), &rc), UPDATES_ERR_HASH);
	ck_assert_int_eq(mb.n, 0);
	/* A good chunk: stored, with a receipt any group member can check. */
	ck_assert_int_eq(updates_chunk_put(&c, h, data, sizeof(data), &rc), 0);
	ck_assert_int_eq(updates_chunk_has(&c, h), 1);
	ck_assert_uint_eq(rc.replica, 2);
	wire_upd_receipt_bytes(GROUP, 1, h, sizeof(data), msg);
	ck_assert_int_eq(crypto_ed25519_verify(&key, msg, sizeof(msg), rc.sig), 0);
	ck_assert_int_eq(updates_chunk_put(&c, h, data, sizeof(data), NULL), 0);
	ck_assert_int_eq(mb.n, 1);
	/* Whole and ranged reads. */
	ck_assert_int_eq(updates_chunk_get(&c, h, 0, 0, &out, &total), 0);
	ck_assert_uint_eq(total, sizeof(data));
	ck_assert_uint_eq(out.len, sizeof(data));
	ck_assert_mem_eq(out.p, data, sizeof(data));
	ck_assert_int_eq(updates_chunk_get(&c, h, 100, 50, &out, NULL), 0);
	ck_assert_uint_eq(out.len, 50);
	ck_assert_mem_eq(out.p, data + 100, 50);
	ck_assert_int_eq(updates_chunk_get(&c, h, 4990, 0, &out, NULL), 0);
	ck_assert_uint_eq(out.len, 10);
	ck_assert_int_eq(updates_chunk_get(&c, h, 4990, 11, &out, NULL), UPDATES_ERR_RANGE);
	ck_assert_int_eq(updates_chunk_get(&c, h, 5000, 0, &out, NULL), UPDATES_ERR_RANGE);
	/* Damaged storage is detected on read and repaired by the next put. */
	mb.val[0].p[7] ^= 1;
	ck_assert_int_eq(updates_chunk_get(&c, h, 0, 0, &out, NULL), UPDATES_ERR_CORRUPT);
	ck_assert_int_eq(updates_chunk_put(&c, h, data, sizeof(data), NULL), 0);
	ck_assert_int_eq(updates_chunk_get(&c, h, 0, 0, &out, NULL), 0);
	/* Storage failures and oversized chunks. */
	mb.fail = 1;
	ck_assert_int_eq(updates_chunk_has(&c, h), UPDATES_ERR_STORE);
	ck_assert_int_eq(updates_chunk_put(&c, h, data, sizeof(data), NULL), UPDATES_ERR_STORE);
	mb.fail = 0;
	ck_assert_int_eq(updates_chunk_put(&c, h, data, (size_t)WIRE_UPD_MAX_CHUNK + 1, NULL),
			 UPDATES_ERR_TOO_BIG);
	for (int i = 0; i < mb.n; i++)
		wire_buf_free(&mb.val[i]);
	wire_buf_free(&out);
	updates_chunks_free(&c);
	crypto_ed25519_free(&key);
}
END_TEST

static Suite *updates_suite(void)
{
	Suite *s = suite_create("app_updates");
	TCase *tc = tcase_create("updates");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_create_publish_rotate);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_determinism_and_reload);
	tcase_add_test(tc, test_config);
	tcase_add_test(tc, test_chunks);
	tcase_add_test(tc, test_publisher_query_and_log_leaf);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(updates_suite)
