/* kv.c: the replicated key-value service: deterministic PUT/DEL/CAS/GET on the store,
 * one store transaction (one atomic write) per executed batch, the client table
 * included. */
#include "replica/app/kv.h"

#include <stdlib.h>
#include <string.h>

#define KV_VERSION_LEN 8u

static const char *const kv_errors[] = {
	[0] = "success",
	[1] = "bad argument or limits",
	[2] = "out of memory",
	[3] = "store failure",
	[4] = "stored key-value entry is malformed",
};

const char *kv_strerror(int err)
{
	size_t n = sizeof(kv_errors) / sizeof(kv_errors[0]);
	size_t i = err <= 0 ? (size_t)-(long)err : n;

	return i < n ? kv_errors[i] : "unknown kv error";
}

void kv_config_default(struct kv_config *cfg)
{
	cfg->limits = wire_kv_limits_default;
	cfg->sync = 1;
	cfg->version_slots = KV_VER_SLOTS;
}

int kv_app_init(struct kv_app *kv, struct store *store, const struct kv_config *cfg)
{
	uint32_t n;

	memset(kv, 0, sizeof(*kv));
	if (store == NULL)
		return KV_ERR_ARG;
	if (cfg != NULL)
		kv->cfg = *cfg;
	else
		kv_config_default(&kv->cfg);
	/* The state key is the namespace byte plus the key. */
	if (kv->cfg.limits.max_key == 0 || kv->cfg.limits.max_key > STORE_MAX_KEY - 1 ||
	    kv->cfg.limits.max_value > STORE_MAX_VALUE - KV_VERSION_LEN)
		return KV_ERR_ARG;
	n = kv->cfg.version_slots;
	if (n != 0 && (n < KV_VER_WAYS || (n & (n - 1)) != 0))
		return KV_ERR_ARG;
	kv->dg = calloc(KV_DG_SLOTS, sizeof(*kv->dg));
	kv->ver = n != 0 ? malloc((size_t)n * sizeof(*kv->ver)) : NULL;
	kv->ver_set = n != 0 ? calloc(n / KV_VER_WAYS, sizeof(*kv->ver_set)) : NULL;
	if (kv->dg == NULL || (n != 0 && (kv->ver == NULL || kv->ver_set == NULL))) {
		kv_app_free(kv);
		return KV_ERR_NOMEM;
	}
	kv->store = store;
	wire_buf_init(&kv->val);
	wire_buf_init(&kv->res);
	return 0;
}

void kv_app_free(struct kv_app *kv)
{
	wire_buf_free(&kv->val);
	wire_buf_free(&kv->res);
	free(kv->dg);
	free(kv->ver);
	free(kv->ver_set);
	kv->dg = NULL;
	kv->ver = NULL;
	kv->ver_set = NULL;
	kv->store = NULL;
}

/* ---------------------------------------------------------------- kept digests */
/* FNV-1a of key, for the tables' slots: keys come from clients, but a collision only
 * evicts. */
static uint64_t kv_key_hash(struct wire_bytes key)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (uint32_t i = 0; i < key.len; i++)
		h = (h ^ key.p[i]) * 0x100000001b3ull;
	return h;
}

/* The slot of the key whose kv_key_hash is h. */
static struct kv_dg_slot *kv_dg_slot(struct kv_app *kv, uint64_t h)
{
	return &kv->dg[h & (KV_DG_SLOTS - 1)];
}

static int kv_dg_is(const struct kv_dg_slot *e, struct wire_bytes key)
{
	return e->used && e->klen == key.len && memcmp(e->key, key.p, key.len) == 0;
}

/* key is being written: its kept digest, if any, is no longer its result's. */
static void kv_dg_forget(struct kv_app *kv, struct wire_bytes key, uint64_t h)
{
	struct kv_dg_slot *e = kv_dg_slot(kv, h);

	if (kv_dg_is(e, key))
		e->used = 0;
}

/* ---------------------------------------------------------------- kept versions */
/* The set of the key whose kv_key_hash is h, and the byte its slot's tag holds. */
static struct kv_ver_set *kv_ver_set_of(struct kv_app *kv, uint64_t h, uint8_t *tag)
{
	uint64_t sets = kv->cfg.version_slots / KV_VER_WAYS;

	*tag = (uint8_t)(h >> 56) != 0 ? (uint8_t)(h >> 56) : 1;
	return &kv->ver_set[h & (sets - 1)];
}

/* The slot keeping key's version in the executing state, or NULL. */
static struct kv_ver_slot *kv_ver_find(struct kv_app *kv, struct wire_bytes key, uint64_t h)
{
	struct kv_ver_set *set;
	struct kv_ver_slot *slots;
	uint8_t tag;

	if (kv->ver == NULL || key.len > KV_DG_KEY_MAX)
		return NULL;
	set = kv_ver_set_of(kv, h, &tag);
	slots = &kv->ver[(size_t)(set - kv->ver_set) * KV_VER_WAYS];
	for (unsigned w = 0; w < KV_VER_WAYS; w++)
		if (set->tag[w] == tag && slots[w].klen == key.len &&
		    memcmp(slots[w].key, key.p, key.len) == 0)
			return &slots[w];
	return NULL;
}

/* Keep version as key's (not kept yet) in an empty slot of its set, else in the set's
 * next in turn. The slot, or NULL when none is kept (no table, a key too long). */
static struct kv_ver_slot *kv_ver_keep(struct kv_app *kv, struct wire_bytes key, uint64_t h,
				       uint64_t version)
{
	struct kv_ver_set *set;
	struct kv_ver_slot *e;
	unsigned w = 0;
	uint8_t tag;

	if (kv->ver == NULL || key.len > KV_DG_KEY_MAX)
		return NULL;
	set = kv_ver_set_of(kv, h, &tag);
	while (w < KV_VER_WAYS && set->tag[w] != 0)
		w++;
	if (w == KV_VER_WAYS) {
		w = set->next;
		set->next = (uint8_t)((w + 1) % KV_VER_WAYS);
	}
	set->tag[w] = tag;
	e = &kv->ver[(size_t)(set - kv->ver_set) * KV_VER_WAYS + w];
	e->klen = (uint8_t)key.len;
	memcpy(e->key, key.p, key.len);
	e->version = version;
	return e;
}

/* Empty tags make every slot free: the slots need no clearing. */
static void kv_ver_forget_all(struct kv_app *kv)
{
	if (kv->ver_set != NULL)
		memset(kv->ver_set, 0, kv->cfg.version_slots / KV_VER_WAYS * sizeof(*kv->ver_set));
}

/* The state changed other than by the ops executed here: nothing kept holds. */
static void kv_forget_all(struct kv_app *kv)
{
	memset(kv->dg, 0, KV_DG_SLOTS * sizeof(*kv->dg));
	kv_ver_forget_all(kv);
}

void kv_batch_end(struct kv_app *kv, int committed)
{
	/* The batch's reads and writes set versions: gone with its transaction. Its
	 * writes also dropped kept digests, so those still held are of the state. */
	if (!committed)
		kv_ver_forget_all(kv);
}

/* dg = digest of result (the GET of key at version), kept or computed and kept. */
static void kv_dg_give(struct kv_app *kv, struct wire_bytes key, uint64_t h, uint64_t version,
		       const uint8_t *result, size_t len, struct pbft_ro_digest *dg)
{
	struct kv_dg_slot *e = kv_dg_slot(kv, h);

	if (kv_dg_is(e, key) && e->version == version && e->len == len) {
		memcpy(dg->digest, e->digest, WIRE_DIGEST_LEN);
		dg->known = 1;
		return;
	}
	wire_result_digest(result, len, dg->digest);
	dg->known = 1;
	if (key.len > KV_DG_KEY_MAX || len > UINT32_MAX)
		return;
	e->used = 1;
	e->klen = (uint8_t)key.len;
	memcpy(e->key, key.p, key.len);
	e->version = version;
	e->len = (uint32_t)len;
	memcpy(e->digest, dg->digest, WIRE_DIGEST_LEN);
}

const char *kv_last_error(const struct kv_app *kv)
{
	if (kv->err == KV_ERR_STORE && kv->store != NULL) {
		const char *m = store_last_error(kv->store);
		return m[0] != '\0' ? m : store_strerror(kv->store_err);
	}
	return kv->err != 0 ? kv_strerror(kv->err) : "";
}

/* Remember err as the last failure and return it. */
static int kv_fail(struct kv_app *kv, int err)
{
	kv->err = err;
	return err;
}

/* A store code into a kv code; 0 stays 0. */
static int kv_store_fail(struct kv_app *kv, int rc)
{
	if (rc == 0)
		return 0;
	if (rc == STORE_ERR_NOMEM)
		return kv_fail(kv, KV_ERR_NOMEM);
	kv->store_err = rc;
	return kv_fail(kv, KV_ERR_STORE);
}

static int kv_result(struct kv_app *kv, struct wire_buf *out, const struct wire_kv_result *res)
{
	return wire_kv_encode_result(out, res) != 0 ? kv_fail(kv, KV_ERR_NOMEM) : 0;
}

/* The current version of key (0 when absent) and, for GET, its value (borrowed). */
static int kv_lookup(struct kv_app *kv, const struct wire_kv_op *op, int read_only,
		     uint64_t *version, struct wire_bytes *value)
{
	const uint8_t *v;
	size_t vlen;
	int rc;

	*version = 0;
	value->p = NULL;
	value->len = 0;
	if (read_only) {
		rc = store_get(kv->store, STORE_NS_KV, op->key.p, op->key.len, &kv->val);
		v = kv->val.p;
		vlen = kv->val.len;
	} else {
		rc = store_txn_get(kv->store, STORE_NS_KV, op->key.p, op->key.len, &v, &vlen);
	}
	if (rc == STORE_ERR_NOT_FOUND)
		return 0;
	if (rc != 0)
		return kv_store_fail(kv, rc);
	if (vlen < KV_VERSION_LEN || vlen - KV_VERSION_LEN > UINT32_MAX)
		return kv_fail(kv, KV_ERR_CORRUPT);
	for (unsigned i = 0; i < KV_VERSION_LEN; i++)
		*version = *version << 8 | v[i];
	if (*version == 0)
		return kv_fail(kv, KV_ERR_CORRUPT);
	value->p = v + KV_VERSION_LEN;
	value->len = (uint32_t)(vlen - KV_VERSION_LEN);
	return 0;
}

/* Store value under key with version (in the open transaction). */
static int kv_write(struct kv_app *kv, const struct wire_kv_op *op, uint64_t version)
{
	uint8_t be[KV_VERSION_LEN];

	for (unsigned i = 0; i < KV_VERSION_LEN; i++)
		be[i] = (uint8_t)(version >> (8 * (KV_VERSION_LEN - 1 - i)));
	wire_buf_reset(&kv->val);
	wire_put_fixed(&kv->val, be, sizeof(be));
	wire_put_fixed(&kv->val, op->value.p, op->value.len);
	if (wire_buf_error(&kv->val) != 0)
		return kv_fail(kv, KV_ERR_NOMEM);
	return kv_store_fail(kv, store_txn_put(kv->store, STORE_NS_KV, op->key.p, op->key.len,
					       kv->val.p, kv->val.len));
}

/* A decoding failure as the result the client gets. */
static void kv_refusal(int derr, const struct wire_kv_op *op, const struct wire_kv_limits *lim,
		       struct wire_kv_result *res)
{
	switch (derr) {
	case WIRE_ERR_TOO_BIG:
		res->status = WIRE_KV_TOO_BIG;
		res->field = op->too_big;
		res->limit = op->too_big == WIRE_KV_FIELD_KEY ? lim->max_key : lim->max_value;
		break;
	case WIRE_ERR_TYPE:
		res->status = WIRE_KV_BAD_OP;
		res->reason = WIRE_KV_BAD_TYPE;
		break;
	case WIRE_ERR_TRAILING:
		res->status = WIRE_KV_BAD_OP;
		res->reason = WIRE_KV_BAD_TRAILING;
		break;
	default: /* WIRE_ERR_TRUNCATED */
		res->status = WIRE_KV_BAD_OP;
		res->reason = WIRE_KV_BAD_TRUNCATED;
		break;
	}
}

/* kv_apply, with dg as kv_apply_ro's. */
static int kv_run(struct kv_app *kv, struct wire_bytes op_bytes, int read_only,
		  struct wire_buf *out, struct pbft_ro_digest *dg)
{
	struct wire_kv_result res;
	struct wire_kv_op op;
	struct wire_bytes cur_value;
	struct kv_ver_slot *kept = NULL;
	uint64_t cur, h;
	size_t start = out->len;
	int rc;

	memset(&res, 0, sizeof(res));
	rc = wire_kv_decode_op(op_bytes.p, op_bytes.len, &kv->cfg.limits, &op);
	if (rc != 0) {
		kv_refusal(rc, &op, &kv->cfg.limits, &res);
		return kv_result(kv, out, &res);
	}
	if (read_only && !wire_kv_is_read_only(op.type)) {
		res.status = WIRE_KV_BAD_OP;
		res.reason = WIRE_KV_BAD_READ_ONLY;
		return kv_result(kv, out, &res);
	}
	h = kv_key_hash(op.key); /* the key's slots in the kept tables */
	/* A write needs the key's version only, often kept; a GET its value. A key is
	 * kept in one slot at most: an ordered GET keeps one not kept yet. */
	if (!read_only) {
		kv->writes += op.type != WIRE_KV_GET;
		kept = kv_ver_find(kv, op.key, h);
	}
	if (kept != NULL && op.type != WIRE_KV_GET) {
		kv->ver_hits++;
		cur = kept->version;
		cur_value.p = NULL;
		cur_value.len = 0;
	} else {
		rc = kv_lookup(kv, &op, read_only, &cur, &cur_value);
		if (rc != 0)
			return rc;
		if (!read_only && kept == NULL)
			kept = kv_ver_keep(kv, op.key, h, cur);
	}
	if (!read_only && op.type != WIRE_KV_GET)
		kv_dg_forget(kv, op.key, h);
	switch (op.type) {
	case WIRE_KV_GET:
		if (cur == 0) {
			res.status = WIRE_KV_NOT_FOUND;
			break;
		}
		res.status = WIRE_KV_OK;
		res.version = cur;
		res.value = cur_value;
		break;
	case WIRE_KV_DEL:
		if (cur == 0) {
			res.status = WIRE_KV_NOT_FOUND;
			break;
		}
		rc = kv_store_fail(kv, store_txn_del(kv->store, STORE_NS_KV, op.key.p, op.key.len));
		if (rc != 0)
			return rc;
		if (kept != NULL)
			kept->version = 0;
		res.status = WIRE_KV_OK;
		res.version = cur;
		break;
	case WIRE_KV_CAS:
	case WIRE_KV_PUT:
		if (op.type == WIRE_KV_CAS && cur != op.version) {
			res.status = WIRE_KV_CAS_MISMATCH;
			res.version = cur;
			break;
		}
		/* A u64 version cannot wrap: it counts writes to one key. */
		rc = kv_write(kv, &op, cur + 1);
		if (rc != 0)
			return rc;
		if (kept != NULL)
			kept->version = cur + 1;
		res.status = WIRE_KV_OK;
		res.version = cur + 1;
		break;
	default:
		/* wire_kv_decode_op accepts only the types above. */
		res.status = WIRE_KV_BAD_OP;
		res.reason = WIRE_KV_BAD_TYPE;
		break;
	}
	rc = kv_result(kv, out, &res);
	if (rc == 0 && dg != NULL && op.type == WIRE_KV_GET && res.status == WIRE_KV_OK)
		kv_dg_give(kv, op.key, h, cur, out->p + start, out->len - start, dg);
	return rc;
}

int kv_apply(struct kv_app *kv, struct wire_bytes op, int read_only, struct wire_buf *out)
{
	return kv_run(kv, op, read_only, out, NULL);
}

int kv_apply_ro(struct kv_app *kv, struct wire_bytes op, struct wire_buf *out,
		struct pbft_ro_digest *dg)
{
	return kv_run(kv, op, 1, out, dg);
}

/* ---------------------------------------------------------------- pbft_app_ops */
static int kv_execute(void *ctx, uint64_t seq, const struct wire_batch *batch,
		      struct pbft_results *results)
{
	struct kv_app *kv = ctx;
	struct wire_request req;
	struct wire_iter it;
	int rc;

	rc = kv_store_fail(kv, store_txn_begin(kv->store));
	if (rc != 0)
		return rc;
	wire_iter_batch(&it, batch);
	while (wire_next_request(&it, &req)) {
		wire_buf_reset(&kv->res);
		rc = kv_apply(kv, req.op, 0, &kv->res);
		if (rc != 0)
			goto err_after_begin;
		if (kv->res.len > UINT32_MAX ||
		    pbft_results_add(results, kv->res.p, (uint32_t)kv->res.len) != 0) {
			rc = kv_fail(kv, KV_ERR_NOMEM);
			goto err_after_begin;
		}
		/* Exactly once: the client's entry commits with the batch's effects. */
		rc = kv_store_fail(kv, store_txn_client_put(kv->store, req.client, req.lane, req.timestamp,
							    kv->res.p, kv->res.len));
		if (rc != 0)
			goto err_after_begin;
	}
	rc = kv_store_fail(kv, store_txn_commit(kv->store, seq, kv->cfg.sync));
	kv_batch_end(kv, rc == 0);
	return rc;

err_after_begin:
	store_txn_abort(kv->store);
	kv_batch_end(kv, 0);
	return rc;
}

static int kv_execute_ro(void *ctx, const struct wire_request *req, struct wire_buf *result,
			 struct pbft_ro_digest *dg)
{
	return kv_apply_ro(ctx, req->op, result, dg);
}

static int kv_client_last(void *ctx, const uint8_t client[WIRE_KEY_LEN], uint32_t lane,
			  uint64_t *timestamp,
			  struct wire_buf *reply)
{
	struct kv_app *kv = ctx;

	return kv_store_fail(kv, store_client_last(kv->store, client, lane, timestamp, reply));
}

static int kv_checkpoint(void *ctx, uint64_t seq, uint8_t digest[WIRE_DIGEST_LEN])
{
	struct kv_app *kv = ctx;

	return kv_store_fail(kv, store_checkpoint(kv->store, seq, digest));
}

/* Every executed change (deferred ones too) written and synced. */
static int kv_sync(void *ctx)
{
	struct kv_app *kv = ctx;

	return kv_store_fail(kv, store_flush(kv->store, 1));
}

static void kv_release(void *ctx, uint64_t below_seq)
{
	struct kv_app *kv = ctx;

	store_release(kv->store, below_seq);
}

static int kv_tree_node(void *ctx, uint64_t ckpt, uint32_t level, uint64_t index,
			struct wire_buf *children, uint32_t *count)
{
	struct kv_app *kv = ctx;

	return kv_store_fail(kv, store_tree_node(kv->store, ckpt, level, index, children, count));
}

static int kv_read_partition(void *ctx, uint64_t ckpt, uint64_t partition,
			     struct wire_bytes start_key, uint32_t max_bytes,
			     struct wire_buf *entries, uint32_t *count, int *more)
{
	struct kv_app *kv = ctx;

	return kv_store_fail(kv, store_read_partition(kv->store, ckpt, partition, start_key,
						      max_bytes, entries, count, more));
}

static int kv_local_node(void *ctx, uint32_t level, uint64_t index, uint8_t digest[WIRE_DIGEST_LEN])
{
	struct kv_app *kv = ctx;

	return kv_store_fail(kv, store_local_node(kv->store, level, index, digest));
}

static int kv_write_partition(void *ctx, uint64_t partition, int first, const struct wire_data *page)
{
	struct kv_app *kv = ctx;

	kv_forget_all(kv);
	return kv_store_fail(kv, store_write_partition(kv->store, partition, first, page));
}

static int kv_finish_transfer(void *ctx, uint64_t ckpt, const uint8_t digest[WIRE_DIGEST_LEN])
{
	struct kv_app *kv = ctx;

	kv_forget_all(kv);
	return kv_store_fail(kv, store_finish_transfer(kv->store, ckpt, digest));
}

void kv_app_ops(struct kv_app *kv, struct pbft_app_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	ops->ctx = kv;
	store_shape(kv->store, &ops->fanout, &ops->levels);
	ops->execute = kv_execute;
	ops->execute_ro = kv_execute_ro;
	ops->checkpoint = kv_checkpoint;
	ops->sync = kv_sync;
	ops->release = kv_release;
	ops->tree_node = kv_tree_node;
	ops->read_partition = kv_read_partition;
	ops->local_node = kv_local_node;
	ops->write_partition = kv_write_partition;
	ops->finish_transfer = kv_finish_transfer;
	ops->client_last = kv_client_last;
}
