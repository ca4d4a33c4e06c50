/* app.c: the combined application: one store transaction per batch, each op dispatched
 * by its type byte to the key-value service or the update service. */
#include "replica/app/app.h"

#include <string.h>

#include "wire/upd.h"

static const char *const app_errors[] = {
	[0] = "success",
	[1] = "bad argument or configuration",
	[2] = "out of memory",
	[3] = "key-value service failure",
	[4] = "update service failure",
	[5] = "store failure",
};

const char *app_strerror(int err)
{
	size_t n = sizeof(app_errors) / sizeof(app_errors[0]);
	size_t i = err <= 0 ? (size_t)-(long)err : n;

	return i < n ? app_errors[i] : "unknown app error";
}

static int app_fail(struct app *a, int err)
{
	a->err = err;
	return err;
}

static int app_store_fail(struct app *a, int rc)
{
	if (rc == 0)
		return 0;
	if (rc == STORE_ERR_NOMEM)
		return app_fail(a, APP_ERR_NOMEM);
	a->store_err = rc;
	return app_fail(a, APP_ERR_STORE);
}

const char *app_last_error(const struct app *a)
{
	switch (a->err) {
	case 0:
		return "";
	case APP_ERR_KV:
		return kv_last_error(&a->kv);
	case APP_ERR_UPDATES:
		return updates_last_error(&a->upd);
	case APP_ERR_STORE: {
		const char *m = a->store != NULL ? store_last_error(a->store) : "";
		return m[0] != '\0' ? m : store_strerror(a->store_err);
	}
	default:
		return app_strerror(a->err);
	}
}

int app_init(struct app *a, struct store *store, const struct kv_config *kv,
	     const struct updates_config *upd)
{
	int rc;

	memset(a, 0, sizeof(*a));
	if (store == NULL || upd == NULL)
		return APP_ERR_ARG;
	rc = kv_app_init(&a->kv, store, kv);
	if (rc != 0)
		return rc == KV_ERR_ARG ? APP_ERR_ARG : APP_ERR_KV;
	rc = updates_init(&a->upd, store, upd);
	if (rc != 0) {
		kv_app_free(&a->kv);
		return rc == UPDATES_ERR_ARG ? APP_ERR_ARG : APP_ERR_UPDATES;
	}
	a->store = store;
	kv_app_ops(&a->kv, &a->kvops);
	wire_buf_init(&a->res);
	return 0;
}

void app_free(struct app *a)
{
	wire_buf_free(&a->res);
	updates_free(&a->upd);
	kv_app_free(&a->kv);
	a->store = NULL;
}

/* One request's result into a->res: 0, APP_ERR_KV or APP_ERR_UPDATES. The empty op is
 * the null op (the standard BFT micro-benchmark): it reads and writes no service state
 * and its result is empty, ordered or read-only (an ordered one still records the
 * client's timestamp for exactly-once, like every ordered request). */
static int app_apply(struct app *a, struct wire_bytes op, int read_only, uint64_t time_ms,
		     struct pbft_ro_digest *dg)
{
	wire_buf_reset(&a->res);
	if (op.len == 0)
		return 0;
	if (op.len > 0 && wire_upd_is_op(op.p[0]))
		return updates_apply(&a->upd, op, read_only, time_ms, &a->res) != 0
			       ? app_fail(a, APP_ERR_UPDATES) : 0;
	int rc = read_only ? kv_apply_ro(&a->kv, op, &a->res, dg)
			   : kv_apply(&a->kv, op, 0, &a->res);
	return rc != 0 ? app_fail(a, APP_ERR_KV) : 0;
}

static int app_execute(void *ctx, uint64_t seq, const struct wire_batch *batch,
		       struct pbft_results *results)
{
	struct app *a = ctx;
	struct wire_request req;
	struct wire_iter it;
	int rc;

	rc = app_store_fail(a, store_txn_begin(a->store));
	if (rc != 0)
		return rc;
	wire_iter_batch(&it, batch);
	while (wire_next_request(&it, &req)) {
		rc = app_apply(a, req.op, 0, batch->time, NULL);
		if (rc != 0)
			goto err_after_begin;
		if (a->res.len > UINT32_MAX ||
		    pbft_results_add(results, a->res.p, (uint32_t)a->res.len) != 0) {
			rc = app_fail(a, APP_ERR_NOMEM);
			goto err_after_begin;
		}
		/* exactly-once: the client's last timestamp and reply, in the same write */
		rc = app_store_fail(a, store_txn_client_put(a->store, req.client, req.lane, req.timestamp,
							    a->res.p, a->res.len));
		if (rc != 0)
			goto err_after_begin;
	}
	rc = app_store_fail(a, store_txn_commit(a->store, seq, a->kv.cfg.sync));
	kv_batch_end(&a->kv, rc == 0);
	if (updates_batch_end(&a->upd, rc == 0) != 0 && rc == 0)
		rc = app_fail(a, APP_ERR_UPDATES);
	return rc;

err_after_begin:
	store_txn_abort(a->store);
	kv_batch_end(&a->kv, 0);
	updates_batch_end(&a->upd, 0);
	return rc;
}

static int app_execute_ro(void *ctx, const struct wire_request *req, struct wire_buf *result,
			  struct pbft_ro_digest *dg)
{
	struct app *a = ctx;
	int rc = app_apply(a, req->op, 1, 0, dg);

	if (rc == 0) {
		wire_put_fixed(result, a->res.p, a->res.len);
		if (wire_buf_error(result) != 0)
			rc = app_fail(a, APP_ERR_NOMEM);
	}
	return rc;
}

/* ---------------------------------------------------------------- state, through kv */
static int app_kv_rc(struct app *a, int rc)
{
	return rc != 0 ? app_fail(a, APP_ERR_KV) : 0;
}

static int app_checkpoint(void *ctx, uint64_t seq, uint8_t digest[WIRE_DIGEST_LEN])
{
	struct app *a = ctx;

	return app_kv_rc(a, a->kvops.checkpoint(a->kvops.ctx, seq, digest));
}

static int app_sync(void *ctx)
{
	struct app *a = ctx;

	return app_kv_rc(a, a->kvops.sync(a->kvops.ctx));
}

static void app_release(void *ctx, uint64_t below_seq)
{
	struct app *a = ctx;

	a->kvops.release(a->kvops.ctx, below_seq);
}

static int app_tree_node(void *ctx, uint64_t ckpt, uint32_t level, uint64_t index,
			 struct wire_buf *children, uint32_t *count)
{
	struct app *a = ctx;

	return app_kv_rc(a, a->kvops.tree_node(a->kvops.ctx, ckpt, level, index, children, count));
}

static int app_read_partition(void *ctx, uint64_t ckpt, uint64_t partition,
			      struct wire_bytes start_key, uint32_t max_bytes,
			      struct wire_buf *entries, uint32_t *count, int *more)
{
	struct app *a = ctx;

	return app_kv_rc(a, a->kvops.read_partition(a->kvops.ctx, ckpt, partition, start_key,
						    max_bytes, entries, count, more));
}

static int app_local_node(void *ctx, uint32_t level, uint64_t index,
			  uint8_t digest[WIRE_DIGEST_LEN])
{
	struct app *a = ctx;

	return app_kv_rc(a, a->kvops.local_node(a->kvops.ctx, level, index, digest));
}

static int app_write_partition(void *ctx, uint64_t partition, int first,
			       const struct wire_data *page)
{
	struct app *a = ctx;

	return app_kv_rc(a, a->kvops.write_partition(a->kvops.ctx, partition, first, page));
}

static int app_finish_transfer(void *ctx, uint64_t ckpt, const uint8_t digest[WIRE_DIGEST_LEN])
{
	struct app *a = ctx;
	int rc = app_kv_rc(a, a->kvops.finish_transfer(a->kvops.ctx, ckpt, digest));

	if (rc == 0 && updates_reload(&a->upd) != 0)
		rc = app_fail(a, APP_ERR_UPDATES);
	return rc;
}

static int app_client_last(void *ctx, const uint8_t client[WIRE_KEY_LEN], uint32_t lane,
			   uint64_t *timestamp,
			   struct wire_buf *reply)
{
	struct app *a = ctx;

	return app_kv_rc(a, a->kvops.client_last(a->kvops.ctx, client, lane, timestamp, reply));
}

void app_ops(struct app *a, struct pbft_app_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	ops->ctx = a;
	ops->fanout = a->kvops.fanout;
	ops->levels = a->kvops.levels;
	ops->execute = app_execute;
	ops->execute_ro = app_execute_ro;
	ops->checkpoint = app_checkpoint;
	ops->sync = app_sync;
	ops->release = app_release;
	ops->tree_node = app_tree_node;
	ops->read_partition = app_read_partition;
	ops->local_node = app_local_node;
	ops->write_partition = app_write_partition;
	ops->finish_transfer = app_finish_transfer;
	ops->client_last = app_client_last;
}
