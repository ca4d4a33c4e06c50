/* txn.c: the transaction of one executed batch: changes kept in a hash table (read your
 * own writes), then written with the new last executed seq in one leveldb_write; or,
 * when the store defers writes (store_config.defer_writes), merged into the table of
 * deferred changes that store_flush writes in one go. */
#include "replica/store/store_int.h"

#include <stdlib.h>
#include <string.h>

#define TXN_MIN_SLOTS 64u

/* SipHash-2-4 with a random per-store key: keys come from clients, so the table must
 * not be floodable with colliding keys. Only the table layout depends on it. */
#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND(v0, v1, v2, v3)                                                     \
	do {                                                                           \
		v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32);      \
		v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;                             \
		v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;                             \
		v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32);      \
	} while (0)

static uint64_t sip_load64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t txn_hash(const uint64_t k[2], const uint8_t *p, size_t len)
{
	uint64_t v0 = k[0] ^ 0x736f6d6570736575ull, v1 = k[1] ^ 0x646f72616e646f6dull;
	uint64_t v2 = k[0] ^ 0x6c7967656e657261ull, v3 = k[1] ^ 0x7465646279746573ull;
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, tail = len & 7u;

	for (i = 0; i + 8 <= len; i += 8) {
		m = sip_load64(p + i);
		v3 ^= m;
		SIP_ROUND(v0, v1, v2, v3);
		SIP_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t j = 0; j < tail; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t store__key_hash(const struct store *s, const uint8_t *k, size_t klen)
{
	return txn_hash(s->hash_key, k, klen);
}

int store__txn_init(struct store__txn *t)
{
	memset(t, 0, sizeof(*t));
	wire_buf_init(&t->arena);
	t->slot = calloc(TXN_MIN_SLOTS, sizeof(*t->slot));
	if (t->slot == NULL)
		return STORE_ERR_NOMEM;
	t->nslot = TXN_MIN_SLOTS;
	return 0;
}

void store__txn_free(struct store__txn *t)
{
	wire_buf_free(&t->arena);
	free(t->chg);
	free(t->slot);
	memset(t, 0, sizeof(*t));
}

/* Index of the change for LevelDB key (k, klen), or -1; *slot_out is where it is or
 * would go. */
static long txn_find(const struct store__txn *t, const uint8_t *k, size_t klen, uint64_t h,
		     size_t *slot_out)
{
	size_t mask = t->nslot - 1, i = (size_t)h & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t v = t->slot[i];
		if (v == 0) {
			*slot_out = i;
			return -1;
		}
		const struct store__change *c = &t->chg[v - 1];
		if (c->hash == h && c->klen == klen && memcmp(t->arena.p + c->off, k, klen) == 0) {
			*slot_out = i;
			return (long)(v - 1);
		}
	}
}

/* Double the table when it is half full. */
static int txn_grow(struct store__txn *t)
{
	size_t nslot = t->nslot * 2, mask = nslot - 1;
	uint32_t *slot;

	if (nslot > UINT32_MAX)
		return STORE_ERR_NOMEM;
	slot = calloc(nslot, sizeof(*slot));
	if (slot == NULL)
		return STORE_ERR_NOMEM;
	for (size_t i = 0; i < t->n; i++) {
		size_t j = (size_t)t->chg[i].hash & mask;
		while (slot[j] != 0)
			j = (j + 1) & mask;
		slot[j] = (uint32_t)(i + 1);
	}
	free(t->slot);
	t->slot = slot;
	t->nslot = nslot;
	return 0;
}

/* Put (deleted 0) or delete LevelDB key k (hash h) in table t, the latest change
 * winning. The arena keeps the bytes of a replaced change until the table is emptied. */
static int map_set(struct store__txn *t, const uint8_t *k, size_t klen, uint64_t h,
		   const void *value, size_t vlen, uint64_t partition, int deleted)
{
	struct store__change *c;
	size_t slot, off;
	long i;
	int rc;

	if (t->n + 1 > t->nslot / 2) {
		rc = txn_grow(t);
		if (rc != 0)
			return rc;
	}
	i = txn_find(t, k, klen, h, &slot);
	if (i < 0) {
		struct store__change *chg = store__grow(t->chg, &t->cap, t->n, sizeof(*chg), 64);
		if (chg == NULL)
			return STORE_ERR_NOMEM;
		t->chg = chg;
	}
	off = t->arena.len;
	wire_put_fixed(&t->arena, k, klen);
	wire_put_fixed(&t->arena, value, vlen);
	if (wire_buf_error(&t->arena) != 0)
		return STORE_ERR_NOMEM;
	if (i < 0) {
		i = (long)t->n++;
		t->slot[slot] = (uint32_t)(i + 1);
	}
	c = &t->chg[i];
	c->off = off;
	c->klen = (uint32_t)klen;
	c->vlen = (uint32_t)vlen;
	c->partition = (uint32_t)partition;
	c->deleted = deleted;
	c->hash = h;
	return 0;
}

/* The change of LevelDB key k (hash h) in t, or NULL. */
static const struct store__change *map_get(const struct store__txn *t, const uint8_t *k,
					   size_t klen, uint64_t h)
{
	size_t slot;
	long i;

	if (t->n == 0)
		return NULL;
	i = txn_find(t, k, klen, h, &slot);
	return i >= 0 ? &t->chg[i] : NULL;
}

/* Empty t, keeping its memory. */
static void map_clear(struct store__txn *t)
{
	if (t->n > 0)
		memset(t->slot, 0, t->nslot * sizeof(*t->slot));
	t->n = 0;
	wire_buf_reset(&t->arena);
}

int store_txn_begin(struct store *s)
{
	struct store__txn *t = &s->txn;

	if (t->open)
		return STORE_ERR_TXN;
	if (s->transfer_pending)
		return store__ldb_fail(&s->ldb, STORE_ERR_TRANSFER,
				       "state transfer to checkpoint %llu is incomplete: execution refused",
				       (unsigned long long)s->transfer_ckpt);
	map_clear(t);
	t->open = 1;
	return 0;
}

void store_txn_abort(struct store *s)
{
	s->txn.open = 0;
	map_clear(&s->txn);
}

/* Empty t and give back its memory but the smallest table (kept when a smaller one
 * cannot be had). */
static void map_release(struct store__txn *t)
{
	uint32_t *slot = calloc(TXN_MIN_SLOTS, sizeof(*slot));

	map_clear(t);
	wire_buf_free(&t->arena);
	wire_buf_init(&t->arena);
	free(t->chg);
	t->chg = NULL;
	t->cap = 0;
	if (slot != NULL) {
		free(t->slot);
		t->slot = slot;
		t->nslot = TXN_MIN_SLOTS;
	}
}

void store__recent_drop(struct store *s)
{
	map_release(&s->recent[0]);
	map_release(&s->recent[1]);
}

/* After pend was written: pend becomes the newest recent flush and the oldest one's
 * memory the next pend, then the recent flushes are cut to recent_max bytes. */
static void recent_rotate(struct store *s)
{
	struct store__txn spare = s->recent[1];

	s->recent[1] = s->recent[0];
	s->recent[0] = s->pend;
	s->pend = spare;
	map_clear(&s->pend);
	if (s->recent[0].arena.len + s->recent[1].arena.len > s->recent_max)
		map_release(&s->recent[1]);
	if (s->recent[0].arena.len > s->recent_max)
		map_release(&s->recent[0]);
}

int store__mem_get(const struct store *s, const uint8_t *k, size_t klen, uint64_t h,
		   const uint8_t **value, size_t *vlen)
{
	const struct store__txn *t = &s->pend;
	const struct store__change *c = map_get(t, k, klen, h);

	/* Newest first: a key changed again since lives in the newer table. */
	for (int i = 0; c == NULL && i < 2; i++) {
		t = &s->recent[i];
		c = map_get(t, k, klen, h);
	}
	if (c == NULL)
		return 1;
	if (c->deleted)
		return STORE_ERR_NOT_FOUND;
	*value = t->arena.p + c->off + c->klen;
	*vlen = c->vlen;
	return 0;
}

int store_txn_get(struct store *s, uint8_t ns, const void *key, size_t klen,
		  const uint8_t **value, size_t *vlen)
{
	struct store__txn *t = &s->txn;
	uint64_t partition, h;
	size_t slot;
	long i;
	int rc;

	if (!t->open)
		return STORE_ERR_TXN;
	rc = store__state_key(s, ns, key, klen, &partition);
	if (rc != 0)
		return rc;
	h = store__key_hash(s, s->key.p, s->key.len);
	i = txn_find(t, s->key.p, s->key.len, h, &slot);
	if (i >= 0) {
		const struct store__change *c = &t->chg[i];
		if (c->deleted)
			return STORE_ERR_NOT_FOUND;
		*value = t->arena.p + c->off + c->klen;
		*vlen = c->vlen;
		return 0;
	}
	rc = store__mem_get(s, s->key.p, s->key.len, h, value, vlen);
	if (rc <= 0)
		return rc;
	rc = store__ldb_get(&s->ldb, NULL, s->key.p, s->key.len, &s->val);
	if (rc != 0)
		return rc;
	*value = s->val.p;
	*vlen = s->val.len;
	return 0;
}

/* Record a put (deleted 0) or delete of ns|key in the transaction. */
static int txn_change(struct store *s, uint8_t ns, const void *key, size_t klen,
		      const void *value, size_t vlen, int deleted)
{
	uint64_t partition;
	int rc;

	if (!s->txn.open)
		return STORE_ERR_TXN;
	if (vlen > STORE_MAX_VALUE)
		return STORE_ERR_TOO_BIG;
	rc = store__state_key(s, ns, key, klen, &partition);
	if (rc != 0)
		return rc;
	rc = map_set(&s->txn, s->key.p, s->key.len, store__key_hash(s, s->key.p, s->key.len),
		     value, vlen, partition, deleted);
	/* Out of memory ends the transaction: the batch cannot be executed in full. */
	if (rc == STORE_ERR_NOMEM)
		store_txn_abort(s);
	return rc;
}

int store_txn_put(struct store *s, uint8_t ns, const void *key, size_t klen,
		  const void *value, size_t vlen)
{
	return txn_change(s, ns, key, klen, value, vlen, 0);
}

int store_txn_del(struct store *s, uint8_t ns, const void *key, size_t klen)
{
	return txn_change(s, ns, key, klen, NULL, 0, 1);
}

/* The indexes of t's changes ordered by partition (a stable LSD radix sort of
 * partition << 32 | index, two 12-bit digits of the partition; table order within a
 * partition), in the low halves of s->order[0, t->n); NULL (no room for them) means
 * table order, which writes the same. A state key starts with its partition, so this is
 * LevelDB's key order up to the few keys of one partition. LevelDB's memtable is a skip
 * list: a batch in that order inserts each entry next to the previous ones, along a path
 * still in the cache, where arrival order walks a memtable larger than the cache afresh
 * for every entry (put 1 KiB at 1024 clients: +3-5 %, docs/BENCHMARKS.md). */
_Static_assert((1ull << (2 * STORE__ORDER_BITS)) >= PTREE_MAX_PARTITIONS,
	       "two digits of STORE__ORDER_BITS do not cover every partition");

static const uint64_t *change_order(struct store *s, const struct store__txn *t)
{
	uint64_t *a, *b, *tmp;
	size_t count[STORE__ORDER_BUCKETS];

	if (t->n > s->norder) {
		uint64_t *o = t->n <= SIZE_MAX / (2 * sizeof(*o)) ?
			realloc(s->order, 2 * t->n * sizeof(*o)) : NULL;
		if (o == NULL)
			return NULL;
		s->order = o;
		s->norder = t->n;
	}
	a = s->order;
	b = s->order + t->n;
	for (size_t i = 0; i < t->n; i++)
		a[i] = (uint64_t)t->chg[i].partition << 32 | i;
	for (unsigned shift = 32; shift < 32 + 2 * STORE__ORDER_BITS; shift += STORE__ORDER_BITS) {
		size_t at = 0;
		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < t->n; i++)
			count[(a[i] >> shift) & (STORE__ORDER_BUCKETS - 1)]++;
		for (size_t d = 0; d < STORE__ORDER_BUCKETS; d++) {
			size_t c = count[d];
			count[d] = at;
			at += c;
		}
		for (size_t i = 0; i < t->n; i++)
			b[count[(a[i] >> shift) & (STORE__ORDER_BUCKETS - 1)]++] = a[i];
		tmp = a;
		a = b;
		b = tmp;
	}
	return a; /* two passes: back in s->order */
}

/* Write the changes of t with last executed = seq in one leveldb_write, and the dirty
 * mark of each partition whose mark is not on disk yet, once (a mark on disk was written
 * earlier: LevelDB keeps write order, so any crash that keeps these changes keeps that
 * mark; store__persist_digests deletes the marks in the write of their digests, at most
 * every persist_every checkpoints). Most writes so carry no mark at all. Once the write
 * succeeded, the changes go into the value hash cache's lists of their partitions: t
 * holds the latest value of each key, so each value put into a held partition is
 * hashed once, while the batch is built (a failed write leaves the lists as they are).
 * The batch holds the changes in partition order (see change_order). */
static int write_changes(struct store *s, const struct store__txn *t, uint64_t seq, int sync)
{
	uint8_t mark[STORE__META_PART_LEN];
	uint8_t ekey[2] = { STORE__P_META, STORE__M_EXECUTED }, eval[8];
	leveldb_writebatch_t *wb;
	uint8_t *vh; /* change i's value hash at vh + i * PTREE_DIGEST_LEN; NULL: no list held */
	const uint64_t *order;
	int rc, written;

	/* One batch serves every write: cleared, it keeps its buffer, which otherwise grows
	 * by doubling (and copying) through each checkpoint's megabytes again. */
	if (s->wb == NULL && (s->wb = leveldb_writebatch_create()) == NULL)
		return STORE_ERR_NOMEM;
	wb = s->wb;
	leveldb_writebatch_clear(wb);
	vh = store__hc_scratch(&s->hc, t->n);
	order = change_order(s, t);
	for (size_t j = 0; j < t->n; j++) {
		size_t i = order != NULL ? (uint32_t)order[j] : j;
		const struct store__change *c = &t->chg[i];
		const char *k = (const char *)t->arena.p + c->off;
		if (c->deleted) {
			leveldb_writebatch_delete(wb, k, c->klen);
		} else {
			leveldb_writebatch_put(wb, k, c->klen, k + c->klen, c->vlen);
			if (vh != NULL && store__hc_held(&s->hc, c->partition))
				ptree_value_hash(k + c->klen, c->vlen, vh + i * PTREE_DIGEST_LEN);
		}
		if (store__bit(s->marks_on_disk, c->partition) ||
		    store__bit(s->marks_queued, c->partition))
			continue;
		store__bit_put(s->marks_queued, c->partition, 1);
		store__meta_part_key(mark, STORE__M_DIRTY, c->partition);
		leveldb_writebatch_put(wb, (const char *)mark, sizeof(mark), "", 0);
	}
	store__be64(eval, seq);
	leveldb_writebatch_put(wb, (const char *)ekey, sizeof(ekey), (const char *)eval, sizeof(eval));
	rc = store__ldb_write(&s->ldb, wb, sync);
	/* A buffer larger than a checkpoint's changes usually are is not kept. */
	if (t->arena.len > STORE__WB_KEEP_BYTES) {
		leveldb_writebatch_destroy(wb);
		s->wb = NULL;
	}
	/* The queued marks are on disk if the write was; the rest only after it. */
	written = rc == 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct store__change *c = &t->chg[i];
		if (store__bit(s->marks_queued, c->partition)) {
			store__bit_put(s->marks_queued, c->partition, 0);
			store__bit_put(s->marks_on_disk, c->partition, written);
		}
		if (!written)
			continue;
		if (ptree_mark(&s->tree, c->partition) != 0)
			rc = STORE_ERR_TREE; /* cannot happen: partitions come from the tree */
		if (vh != NULL)
			store__hc_change(&s->hc, c->partition, t->arena.p + c->off + STORE__STATE_PREFIX,
					 c->klen - STORE__STATE_PREFIX,
					 c->deleted ? NULL : vh + i * PTREE_DIGEST_LEN);
	}
	if (written)
		s->flushed = seq;
	return rc;
}

int store_flush(struct store *s, int sync)
{
	int rc;

	if (s->defer_failed)
		return store__ldb_fail(&s->ldb, STORE_ERR_NOMEM,
				       "deferred batches were left half merged: nothing more is written");
	/* Asked to sync with nothing deferred: the write of last executed alone syncs
	 * every earlier write. */
	if (s->pend.n == 0 && s->flushed == s->last_executed && !sync)
		return 0;
	rc = write_changes(s, &s->pend, s->last_executed, sync);
	if (rc == 0 && s->pend.n > 0)
		recent_rotate(s);
	return rc;
}

int store_txn_commit(struct store *s, uint64_t seq, int sync)
{
	struct store__txn *t = &s->txn;
	int rc = 0;

	if (!t->open)
		return STORE_ERR_TXN;
	if (seq != s->last_executed + 1) {
		store_txn_abort(s);
		return store__ldb_fail(&s->ldb, STORE_ERR_SEQ,
				       "commit of seq %llu after last executed %llu",
				       (unsigned long long)seq, (unsigned long long)s->last_executed);
	}
	if (!s->defer) {
		rc = write_changes(s, t, seq, sync);
		if (rc == 0)
			s->last_executed = seq;
		store_txn_abort(s);
		return rc;
	}
	if (s->defer_failed) {
		store_txn_abort(s);
		return store_flush(s, 0);
	}
	for (size_t i = 0; i < t->n && rc == 0; i++) {
		const struct store__change *c = &t->chg[i];
		const uint8_t *k = t->arena.p + c->off;
		rc = map_set(&s->pend, k, c->klen, c->hash, k + c->klen, c->vlen, c->partition,
			     c->deleted);
	}
	store_txn_abort(s);
	if (rc != 0) {
		/* Part of the batch is in the table: written, it would be a half batch under
		 * the previous seq. Nothing deferred is written any more (the replica stops;
		 * at restart it executes the lost batches again). */
		s->defer_failed = 1;
		return rc;
	}
	s->last_executed = seq;
	if (sync || s->pend.arena.len > STORE_DEFER_MAX_BYTES)
		return store_flush(s, sync);
	return 0;
}
