/* state.c: the replicated state's digests (partition tree over LevelDB ranges),
 * checkpoint snapshots, and state transfer: serving pages and installing them. */
#include "replica/store/store_int.h"

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"

/* One store__refresh: its iterator, its first failure. */
struct refresh_ctx {
	struct store *s;
	leveldb_iterator_t *it;       /* created by the first scan, NULL before */
	int err;
};

/* Digest of partition p by a range scan of its live state entries, each value hashed
 * (ptree_value_hash); p's list of value hashes is built on the way and kept if it fits
 * the cache's budget. r->it is an iterator of the live state positioned at or before p's
 * first key (a lower partition's scan leaves it there; the first scan creates it). Every
 * state key starts with 'S' | partition, so the iterator is either before p's range
 * (seek) or at or past its start (no seek): a refresh visits the partitions in ascending
 * order and walks the state once, seeking only over gaps. */
static int part_scan(struct refresh_ctx *r, uint64_t p, uint8_t out[PTREE_DIGEST_LEN])
{
	struct store *s = r->s;
	uint8_t start[STORE__STATE_PREFIX], vhash[PTREE_DIGEST_LEN];
	leveldb_iterator_t *it = r->it;
	struct ptree_part_hash h;
	int rc;

	start[0] = STORE__P_STATE;
	store__be32(start + 1, (uint32_t)p);
	if (it == NULL) {
		it = r->it = store__ldb_iter(&s->ldb, NULL);
		if (it == NULL)
			return STORE_ERR_NOMEM;
		leveldb_iter_seek(it, (const char *)start, sizeof(start));
	} else if (leveldb_iter_valid(it)) { /* else past the last key: p is empty */
		size_t klen;
		const char *k = leveldb_iter_key(it, &klen);
		size_t n = klen < sizeof(start) ? klen : sizeof(start);
		int c = memcmp(k, start, n);
		if (c < 0 || (c == 0 && klen < sizeof(start)))
			leveldb_iter_seek(it, (const char *)start, sizeof(start));
	}
	if (ptree_part_begin(&h, p) != 0) {
		ptree_part_abort(&h);
		return STORE_ERR_TREE;
	}
	store__hc_build_begin(&s->hc, p);
	for (; leveldb_iter_valid(it); leveldb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &klen);
		const char *v = leveldb_iter_value(it, &vlen);
		if (klen <= STORE__STATE_PREFIX || memcmp(k, start, sizeof(start)) != 0)
			break;
		ptree_value_hash(v, (uint32_t)vlen, vhash);
		ptree_part_add_hashed(&h, k + STORE__STATE_PREFIX,
				      (uint32_t)(klen - STORE__STATE_PREFIX), vhash);
		store__hc_build_add(&s->hc, k + STORE__STATE_PREFIX, klen - STORE__STATE_PREFIX,
				    vhash);
	}
	rc = store__ldb_iter_status(&s->ldb, it);
	if (rc != 0) {
		store__hc_build_abort(&s->hc);
		ptree_part_abort(&h);
		return rc;
	}
	if (ptree_part_end(&h, out) != 0) {
		store__hc_build_abort(&s->hc);
		return STORE_ERR_TREE;
	}
	store__hc_build_end(&s->hc);
	return 0;
}

/* ptree callback of store__refresh: digest the live partition, from its list of value
 * hashes if the cache holds it, else from LevelDB. */
static int refresh_one(void *ctx, uint64_t p, uint8_t out[PTREE_DIGEST_LEN])
{
	struct refresh_ctx *r = ctx;
	int rc = store__hc_digest(&r->s->hc, p, out);

	if (rc == 1)
		rc = part_scan(r, p, out);
	if (rc != 0)
		r->err = rc;
	return rc;
}

int store__refresh(struct store *s)
{
	struct refresh_ctx r = { s, NULL, 0 };
	int rc;

	if (!ptree_dirty(&s->tree))
		return 0;
	/* One iterator for every partition scanned (none if the cache holds every dirty
	 * partition): ptree_update visits them in ascending order. */
	rc = ptree_update(&s->tree, refresh_one, &r);
	if (r.it != NULL)
		leveldb_iter_destroy(r.it);
	if (rc != 0)
		rc = r.err != 0 ? r.err : STORE_ERR_TREE;
	return rc;
}

int store__persist_digests(struct store *s)
{
	uint8_t key[STORE__META_PART_LEN];
	leveldb_writebatch_t *wb;
	size_t n = 0;
	int rc;

	if (ptree_dirty(&s->tree)) /* a digest in memory would not be LevelDB's */
		return store__ldb_fail(&s->ldb, STORE_ERR_TREE,
				       "partition digests written before the changed partitions "
				       "were digested");
	wb = leveldb_writebatch_create();
	if (wb == NULL)
		return STORE_ERR_NOMEM;
	for (uint64_t p = 0; p < s->partitions; p++) {
		const uint8_t *d;
		if (!store__bit(s->marks_on_disk, p))
			continue;
		d = ptree_node(&s->tree, s->levels, p);
		store__meta_part_key(key, STORE__M_DIGEST, p);
		if (memcmp(d, PTREE_EMPTY, PTREE_DIGEST_LEN) == 0)
			leveldb_writebatch_delete(wb, (const char *)key, sizeof(key));
		else
			leveldb_writebatch_put(wb, (const char *)key, sizeof(key), (const char *)d,
					       PTREE_DIGEST_LEN);
		store__meta_part_key(key, STORE__M_DIRTY, p);
		leveldb_writebatch_delete(wb, (const char *)key, sizeof(key));
		n++;
	}
	rc = n > 0 ? store__ldb_write(&s->ldb, wb, 0) : 0;
	leveldb_writebatch_destroy(wb);
	if (rc == 0) {
		memset(s->marks_on_disk, 0, s->partitions / 8 + 1);
		s->ckpts_unpersisted = 0;
	}
	return rc;
}

int store_root(struct store *s, uint8_t digest[WIRE_DIGEST_LEN])
{
	int rc = store_flush(s, 0);

	if (rc == 0)
		rc = store__refresh(s);

	if (rc != 0)
		return rc;
	memcpy(digest, ptree_root(&s->tree), WIRE_DIGEST_LEN);
	return 0;
}

/* ---------------------------------------------------------------- checkpoints */
static struct store__ckpt *ckpt_find(struct store *s, uint64_t seq)
{
	for (size_t i = 0; i < s->nckpt; i++)
		if (s->ckpt[i].seq == seq)
			return &s->ckpt[i];
	return NULL;
}

static void ckpt_drop(struct store *s, size_t i)
{
	leveldb_release_snapshot(s->ldb.db, s->ckpt[i].snap);
	ptree_free(&s->ckpt[i].tree);
	memmove(&s->ckpt[i], &s->ckpt[i + 1], (s->nckpt - i - 1) * sizeof(s->ckpt[0]));
	s->nckpt--;
}

void store__ckpt_free_all(struct store *s)
{
	while (s->nckpt > 0)
		ckpt_drop(s, s->nckpt - 1);
}

/* Keep the live state (snapshot and tree copy) as checkpoint seq, the newest kept. */
static int ckpt_keep(struct store *s, uint64_t seq)
{
	struct store__ckpt *c;

	if (s->nckpt == STORE_MAX_CHECKPOINTS)
		return store__ldb_fail(&s->ldb, STORE_ERR_LIMIT,
				       "checkpoint %llu: %u checkpoints kept already, none released",
				       (unsigned long long)seq, STORE_MAX_CHECKPOINTS);
	c = &s->ckpt[s->nckpt];
	if (ptree_copy(&c->tree, &s->tree) != 0)
		return STORE_ERR_NOMEM;
	c->snap = leveldb_create_snapshot(s->ldb.db);
	if (c->snap == NULL) {
		ptree_free(&c->tree);
		return STORE_ERR_NOMEM;
	}
	c->seq = seq;
	s->nckpt++;
	return 0;
}

int store_checkpoint(struct store *s, uint64_t seq, uint8_t digest[WIRE_DIGEST_LEN])
{
	struct store__ckpt *c = ckpt_find(s, seq);
	int rc;

	if (c != NULL) {
		memcpy(digest, ptree_root(&c->tree), WIRE_DIGEST_LEN);
		return 0;
	}
	if (s->transfer_pending)
		return store__ldb_fail(&s->ldb, STORE_ERR_TRANSFER,
				       "checkpoint %llu: state transfer to %llu is incomplete",
				       (unsigned long long)seq,
				       (unsigned long long)s->transfer_ckpt);
	if (s->txn.open)
		return STORE_ERR_TXN;
	if (seq != s->last_executed || (s->nckpt > 0 && seq < s->ckpt[s->nckpt - 1].seq))
		return store__ldb_fail(&s->ldb, STORE_ERR_SEQ,
				       "checkpoint %llu requested, last executed is %llu",
				       (unsigned long long)seq,
				       (unsigned long long)s->last_executed);
	/* Deferred batches are written first: the digest and the snapshot are LevelDB's.
	 * Once this checkpoint is stable the records log drops the records below it, so
	 * the state must be on disk by then (the two are separate files): synced here,
	 * or with checkpoint_nosync by the caller's store_sync before it makes the
	 * checkpoint stable (pbft_config.durable_async). */
	rc = store_flush(s, !s->checkpoint_nosync);
	if (rc == 0)
		rc = store__refresh(s);
	if (rc == 0 && ++s->ckpts_unpersisted >= s->persist_every)
		rc = store__persist_digests(s);
	if (rc != 0)
		return rc;
	rc = ckpt_keep(s, seq);
	if (rc != 0)
		return rc;
	memcpy(digest, ptree_root(&s->tree), WIRE_DIGEST_LEN);
	return 0;
}

void store_release(struct store *s, uint64_t below_seq)
{
	while (s->nckpt > 0 && s->ckpt[0].seq < below_seq)
		ckpt_drop(s, 0);
}

uint64_t store_last_checkpoint(const struct store *s)
{
	return s->nckpt > 0 ? s->ckpt[s->nckpt - 1].seq : 0;
}

int store_sync(struct store *s, char *err, size_t errlen)
{
	leveldb_writebatch_t *wb = leveldb_writebatch_create();
	char *lerr = NULL;

	if (wb == NULL) {
		snprintf(err, errlen, "out of memory for a LevelDB write batch");
		return STORE_ERR_NOMEM;
	}
	leveldb_write(s->ldb.db, s->ldb.wo_sync, wb, &lerr);
	leveldb_writebatch_destroy(wb);
	if (lerr != NULL) {
		snprintf(err, errlen, "LevelDB write (sync): %s", lerr);
		leveldb_free(lerr);
		return STORE_ERR_IO;
	}
	if (errlen > 0)
		err[0] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- serving transfer */
static struct store__ckpt *ckpt_get(struct store *s, uint64_t ckpt)
{
	struct store__ckpt *c = ckpt_find(s, ckpt);

	if (c == NULL)
		store__ldb_fail(&s->ldb, STORE_ERR_NO_CHECKPOINT, "no snapshot kept for checkpoint %llu",
				(unsigned long long)ckpt);
	return c;
}

int store_tree_node(struct store *s, uint64_t ckpt, uint32_t level, uint64_t index,
		    struct wire_buf *children, uint32_t *count)
{
	struct store__ckpt *c = ckpt_get(s, ckpt);
	const uint8_t *first;
	uint32_t n;

	if (c == NULL)
		return STORE_ERR_NO_CHECKPOINT;
	if (ptree_children(&c->tree, level, index, &first, &n) != 0)
		return STORE_ERR_ARG;
	for (uint32_t i = 0; i < n; i++)
		wire_put_child(children, first + (size_t)i * PTREE_DIGEST_LEN);
	if (wire_buf_error(children) != 0)
		return STORE_ERR_NOMEM;
	*count = n;
	return 0;
}

int store_read_partition(struct store *s, uint64_t ckpt, uint64_t partition,
			 struct wire_bytes start_key, uint32_t max_bytes,
			 struct wire_buf *entries, uint32_t *count, int *more)
{
	struct store__ckpt *c = ckpt_get(s, ckpt);
	uint8_t prefix[STORE__STATE_PREFIX];
	leveldb_iterator_t *it;
	size_t base = entries->len;
	uint32_t n = 0;
	int rc;

	*count = 0;
	*more = 0;
	if (c == NULL)
		return STORE_ERR_NO_CHECKPOINT;
	if (partition >= s->partitions || start_key.len > STORE_MAX_KEY + 1)
		return STORE_ERR_ARG;
	prefix[0] = STORE__P_STATE;
	store__be32(prefix + 1, (uint32_t)partition);
	wire_buf_reset(&s->key);
	wire_put_fixed(&s->key, prefix, sizeof(prefix));
	wire_put_fixed(&s->key, start_key.p, start_key.len);
	if (wire_buf_error(&s->key) != 0)
		return STORE_ERR_NOMEM;
	it = store__ldb_iter(&s->ldb, c->snap);
	if (it == NULL)
		return STORE_ERR_NOMEM;
	for (leveldb_iter_seek(it, (const char *)s->key.p, s->key.len); leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t klen, vlen, before = entries->len;
		const char *k = leveldb_iter_key(it, &klen);
		const char *v = leveldb_iter_value(it, &vlen);
		struct wire_data_item item;

		if (klen <= STORE__STATE_PREFIX || memcmp(k, prefix, sizeof(prefix)) != 0)
			break;
		item.key.p = (const uint8_t *)k + STORE__STATE_PREFIX;
		item.key.len = (uint32_t)(klen - STORE__STATE_PREFIX);
		item.value.p = (const uint8_t *)v;
		item.value.len = (uint32_t)vlen;
		wire_put_data(entries, &item);
		if (wire_buf_error(entries) != 0)
			break;
		if (n > 0 && entries->len - base > max_bytes) {
			entries->len = before; /* does not fit: it starts the next page */
			*more = 1;
			break;
		}
		n++;
	}
	rc = store__ldb_iter_status(&s->ldb, it);
	leveldb_iter_destroy(it);
	if (rc == 0 && wire_buf_error(entries) != 0)
		rc = STORE_ERR_NOMEM;
	if (rc != 0) {
		if (wire_buf_error(entries) == 0)
			entries->len = base;
		return rc;
	}
	*count = n;
	return 0;
}

/* ---------------------------------------------------------------- installing transfer */
int store_local_node(struct store *s, uint32_t level, uint64_t index,
		     uint8_t digest[WIRE_DIGEST_LEN])
{
	const uint8_t *d;
	int rc = store_flush(s, 0);

	if (rc == 0)
		rc = store__refresh(s);
	if (rc != 0)
		return rc;
	d = ptree_node(&s->tree, level, index);
	if (d == NULL)
		return STORE_ERR_ARG;
	memcpy(digest, d, WIRE_DIGEST_LEN);
	return 0;
}

/* Add deletes of every live entry of partition to wb (the caller drops the partition's
 * cached value hashes once wb is written). */
static int delete_partition(struct store *s, leveldb_writebatch_t *wb, uint64_t partition)
{
	uint8_t prefix[STORE__STATE_PREFIX];
	leveldb_iterator_t *it = store__ldb_iter(&s->ldb, NULL);
	int rc;

	if (it == NULL)
		return STORE_ERR_NOMEM;
	prefix[0] = STORE__P_STATE;
	store__be32(prefix + 1, (uint32_t)partition);
	for (leveldb_iter_seek(it, (const char *)prefix, sizeof(prefix)); leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t klen;
		const char *k = leveldb_iter_key(it, &klen);
		if (klen < STORE__STATE_PREFIX || memcmp(k, prefix, sizeof(prefix)) != 0)
			break;
		leveldb_writebatch_delete(wb, k, klen);
	}
	rc = store__ldb_iter_status(&s->ldb, it);
	leveldb_iter_destroy(it);
	return rc;
}

/* Check one page: its partition, every key's partition, strictly ascending keys. */
static int check_page(struct store *s, uint64_t partition, const struct wire_data *page)
{
	struct wire_data_item item, prev = { { NULL, 0 }, { NULL, 0 } };
	struct wire_iter it;
	uint32_t i = 0;

	if (page->partition != partition)
		return store__ldb_fail(&s->ldb, STORE_ERR_PAGE,
				       "transfer page of partition %llu written to partition %llu",
				       (unsigned long long)page->partition,
				       (unsigned long long)partition);
	wire_iter_init(&it, &page->entries);
	while (wire_next_data(&it, &item)) {
		int cmp;
		if (item.key.len == 0 || item.key.len > STORE_MAX_KEY || item.value.len > STORE_MAX_VALUE)
			return store__ldb_fail(&s->ldb, STORE_ERR_PAGE,
					       "transfer page entry %u: key of %u bytes, value of %u bytes",
					       i, item.key.len, item.value.len);
		if (ptree_partition_of(s->partitions, item.key.p, item.key.len) != partition)
			return store__ldb_fail(&s->ldb, STORE_ERR_PAGE,
					       "transfer page entry %u: key does not belong to partition %llu",
					       i, (unsigned long long)partition);
		if (i > 0) {
			size_t m = prev.key.len < item.key.len ? prev.key.len : item.key.len;
			cmp = memcmp(prev.key.p, item.key.p, m);
			if (cmp > 0 || (cmp == 0 && prev.key.len >= item.key.len))
				return store__ldb_fail(&s->ldb, STORE_ERR_PAGE,
						       "transfer page entry %u: keys not strictly ascending", i);
		}
		prev = item;
		i++;
	}
	return 0;
}

int store_write_partition(struct store *s, uint64_t partition, int first,
			  const struct wire_data *page)
{
	uint8_t mark[STORE__META_PART_LEN], tkey[2] = { STORE__P_META, STORE__M_TRANSFER }, tval[8];
	struct wire_data_item item;
	struct wire_iter it;
	leveldb_writebatch_t *wb;
	int rc;

	if (page == NULL || partition >= s->partitions)
		return STORE_ERR_ARG;
	/* Deferred batches first: written later they would overwrite the copied pages. */
	rc = store_flush(s, 0);
	if (rc != 0)
		return rc;
	if (s->txn.open)
		return STORE_ERR_TXN;
	rc = check_page(s, partition, page);
	if (rc != 0)
		return rc;
	store__recent_drop(s);
	wb = leveldb_writebatch_create();
	if (wb == NULL)
		return STORE_ERR_NOMEM;
	if (first) {
		rc = delete_partition(s, wb, partition);
		if (rc != 0)
			goto out;
	}
	wire_iter_init(&it, &page->entries);
	while (wire_next_data(&it, &item)) {
		wire_buf_reset(&s->key);
		wire_put_u8(&s->key, STORE__P_STATE);
		wire_put_u32(&s->key, 0);
		wire_put_fixed(&s->key, item.key.p, item.key.len);
		if (wire_buf_error(&s->key) != 0) {
			rc = STORE_ERR_NOMEM;
			goto out;
		}
		store__be32(s->key.p + 1, (uint32_t)partition);
		leveldb_writebatch_put(wb, (const char *)s->key.p, s->key.len,
				       (const char *)item.value.p, item.value.len);
	}
	store__meta_part_key(mark, STORE__M_DIRTY, partition);
	leveldb_writebatch_put(wb, (const char *)mark, sizeof(mark), "", 0);
	store__be64(tval, page->ckpt_seq);
	leveldb_writebatch_put(wb, (const char *)tkey, sizeof(tkey), (const char *)tval, sizeof(tval));
	/* Not synced: LevelDB's log keeps order, so a page that survives a crash comes
	 * with its transfer mark, and finish_transfer's synced write covers them all. */
	rc = store__ldb_write(&s->ldb, wb, 0);
	if (rc == 0) {
		/* The partition's list no longer matches LevelDB: the next digest of the
		 * partition scans it (and builds the list again). */
		store__hc_drop(&s->hc, partition);
		store__bit_put(s->marks_on_disk, partition, 1);
		s->transfer_pending = 1;
		s->transfer_ckpt = page->ckpt_seq;
		if (ptree_mark(&s->tree, partition) != 0)
			rc = STORE_ERR_TREE;
	}
out:
	leveldb_writebatch_destroy(wb);
	return rc;
}

static void hex(char *out, const uint8_t *d, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

int store_finish_transfer(struct store *s, uint64_t ckpt, const uint8_t digest[WIRE_DIGEST_LEN])
{
	uint8_t ekey[2] = { STORE__P_META, STORE__M_EXECUTED }, eval[8];
	uint8_t tkey[2] = { STORE__P_META, STORE__M_TRANSFER };
	leveldb_writebatch_t *wb;
	int rc;

	if (s->txn.open)
		return STORE_ERR_TXN;
	rc = store_flush(s, 0);
	if (rc != 0)
		return rc;
	rc = store__refresh(s);
	if (rc != 0)
		return rc;
	if (!crypto_memeq(ptree_root(&s->tree), digest, WIRE_DIGEST_LEN)) {
		char got[2 * WIRE_DIGEST_LEN + 1], want[2 * WIRE_DIGEST_LEN + 1];
		hex(got, ptree_root(&s->tree), WIRE_DIGEST_LEN);
		hex(want, digest, WIRE_DIGEST_LEN);
		return store__ldb_fail(&s->ldb, STORE_ERR_DIGEST,
				       "transfer to checkpoint %llu: state root %s differs from checkpoint digest %s",
				       (unsigned long long)ckpt, got, want);
	}
	wb = leveldb_writebatch_create();
	if (wb == NULL)
		return STORE_ERR_NOMEM;
	store__be64(eval, ckpt);
	leveldb_writebatch_put(wb, (const char *)ekey, sizeof(ekey), (const char *)eval, sizeof(eval));
	leveldb_writebatch_delete(wb, (const char *)tkey, sizeof(tkey));
	rc = store__ldb_write(&s->ldb, wb, 1);
	leveldb_writebatch_destroy(wb);
	if (rc != 0)
		return rc;
	s->last_executed = ckpt;
	s->flushed = ckpt;
	s->transfer_pending = 0;
	while (s->nckpt > 0 && s->ckpt[s->nckpt - 1].seq >= ckpt)
		ckpt_drop(s, s->nckpt - 1);
	return ckpt_keep(s, ckpt);
}
