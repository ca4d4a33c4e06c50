/* test_store_digest.c: replica/store's partition-tree digests against a from-scratch
 * recomputation, checkpoint snapshots, serving partitions page by page, and state
 * transfer between two stores (including a failed one and a crash in the middle); the
 * value hashes ('H' keys) the digests are computed from, written beside every state
 * write (deferred or not) and every transfer page, checked in the closed database. */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

#include "crypto/crypto.h"
#include "replica/core/ptree.h"
#include "replica/store/store.h"

#define NS_TEST ((uint8_t)'T')
#define FANOUT 4u
#define LEVELS 3u
#define NPART 64u /* FANOUT^LEVELS */
#define MAX_ENTRIES 1024

static char path_a[300], path_b[300];

static void setup(void)
{
	tmp_setup();
	snprintf(path_a, sizeof(path_a), "%s/a", dir);
	snprintf(path_b, sizeof(path_b), "%s/b", dir);
}

/* Open (creating it) the store at path, deferring writes if defer (with a read cache
 * of the recent flushes), recomputing every digest at open if verify. */
static struct store *open_with(const char *path, int defer, int verify)
{
	struct store_config cfg = { .path = path, .fanout = FANOUT, .levels = LEVELS, .create = 1,
				    .defer_writes = defer, .recent_bytes = defer ? 1u << 20 : 0,
				    .verify = verify };
	struct store *s = NULL;
	char err[256];
	int rc = store_open(&cfg, &s, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open: %s (%s)", store_strerror(rc), err);
	return s;
}

static struct store *open_at(const char *path)
{
	return open_with(path, 0, 0);
}

/* ---------------------------------------------------------------- the model */
/* The state as a plain list of (state key, value); state key = NS_TEST | key. */
struct entry {
	uint8_t key[40];
	uint32_t klen;
	uint8_t val[80];
	uint32_t vlen;
	uint64_t part;
};
struct model {
	struct entry e[MAX_ENTRIES];
	int n;
};

static int model_find(const struct model *m, const uint8_t *key, uint32_t klen)
{
	for (int i = 0; i < m->n; i++)
		if (m->e[i].klen == klen && memcmp(m->e[i].key, key, klen) == 0)
			return i;
	return -1;
}

static void model_put(struct model *m, const char *key, const uint8_t *val, uint32_t vlen)
{
	uint8_t sk[40];
	uint32_t klen = (uint32_t)strlen(key) + 1;
	int i;

	sk[0] = NS_TEST;
	memcpy(sk + 1, key, klen - 1);
	i = model_find(m, sk, klen);
	if (i < 0) {
		ck_assert_int_lt(m->n, MAX_ENTRIES);
		i = m->n++;
		memcpy(m->e[i].key, sk, klen);
		m->e[i].klen = klen;
		m->e[i].part = ptree_partition_of(NPART, sk, klen);
	}
	memcpy(m->e[i].val, val, vlen);
	m->e[i].vlen = vlen;
}

static void model_del(struct model *m, const char *key)
{
	uint8_t sk[40];
	uint32_t klen = (uint32_t)strlen(key) + 1;
	int i;

	sk[0] = NS_TEST;
	memcpy(sk + 1, key, klen - 1);
	i = model_find(m, sk, klen);
	if (i >= 0)
		m->e[i] = m->e[--m->n];
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	uint32_t n = x->klen < y->klen ? x->klen : y->klen;
	int c;

	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	c = memcmp(x->key, y->key, n);
	if (c != 0)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static void model_sort(struct model *m)
{
	qsort(m->e, (size_t)m->n, sizeof(m->e[0]), entry_cmp);
}

/* Digest of partition p of m, from scratch (m must be sorted: model_sort). */
static void model_part_digest(const struct model *m, uint64_t p, uint8_t out[PTREE_DIGEST_LEN])
{
	struct ptree_part_hash h;

	ck_assert_int_eq(ptree_part_begin(&h, p), 0);
	for (int i = 0; i < m->n; i++)
		if (m->e[i].part == p)
			ptree_part_add(&h, m->e[i].key, m->e[i].klen, m->e[i].val, m->e[i].vlen);
	ck_assert_int_eq(ptree_part_end(&h, out), 0);
}

static void model_root(struct model *m, uint8_t out[PTREE_DIGEST_LEN])
{
	struct ptree t;
	uint8_t d[PTREE_DIGEST_LEN];

	model_sort(m);
	ck_assert_int_eq(ptree_init(&t, FANOUT, LEVELS), 0);
	for (uint64_t p = 0; p < NPART; p++) {
		model_part_digest(m, p, d);
		ck_assert_int_eq(ptree_set(&t, p, d), 0);
	}
	ck_assert_int_eq(ptree_rebuild(&t, NULL, NULL), 0);
	memcpy(out, ptree_root(&t), PTREE_DIGEST_LEN);
	ptree_free(&t);
}

/* The store's root and every partition digest equal m's, from scratch. */
static void assert_digests(struct store *s, struct model *m)
{
	uint8_t got[PTREE_DIGEST_LEN], want[PTREE_DIGEST_LEN];

	model_root(m, want);
	ck_assert_int_eq(store_root(s, got), 0);
	ck_assert(memcmp(got, want, sizeof(got)) == 0);
	for (uint64_t p = 0; p < NPART; p++) {
		model_part_digest(m, p, want);
		ck_assert_int_eq(store_local_node(s, LEVELS, p, got), 0);
		ck_assert_msg(memcmp(got, want, sizeof(got)) == 0, "partition %llu differs",
			      (unsigned long long)p);
	}
}

/* Read the closed database at path with LevelDB itself (store.h "Key layout"): every
 * state entry ('S' | partition u32 | state key -> value) has its value hash ('H' and
 * the same bytes -> SHA-256(value)), and there are no other value hashes. per[p]
 * receives the number of value hashes of partition p. */
static void raw_hashes(const char *path, uint32_t per[NPART])
{
	leveldb_options_t *o = leveldb_options_create();
	leveldb_readoptions_t *r = leveldb_readoptions_create();
	leveldb_iterator_t *it;
	leveldb_t *db;
	char *err = NULL;
	size_t nstate = 0, nhash = 0;

	db = leveldb_open(o, path, &err);
	ck_assert_msg(err == NULL, "leveldb_open: %s", err != NULL ? err : "");
	memset(per, 0, NPART * sizeof(per[0]));
	it = leveldb_create_iterator(db, r);
	for (leveldb_iter_seek(it, "S", 1); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		size_t klen, vlen, hlen;
		const char *k = leveldb_iter_key(it, &klen);
		const char *v = leveldb_iter_value(it, &vlen);
		uint8_t want[CRYPTO_HASH_LEN];
		char *hk, *h;

		if (klen == 0 || k[0] != 'S')
			break;
		ck_assert_uint_gt(klen, 5);
		hk = malloc(klen);
		ck_assert_ptr_nonnull(hk);
		memcpy(hk, k, klen);
		hk[0] = 'H';
		h = leveldb_get(db, r, hk, klen, &hlen, &err);
		ck_assert_ptr_null(err);
		ck_assert_msg(h != NULL, "a state entry of %zu key bytes has no value hash", klen);
		crypto_sha256(v, vlen, want);
		ck_assert_uint_eq(hlen, sizeof(want));
		ck_assert(memcmp(h, want, sizeof(want)) == 0);
		leveldb_free(h);
		free(hk);
		nstate++;
	}
	for (leveldb_iter_seek(it, "H", 1); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		size_t klen;
		const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &klen);
		uint32_t p;

		if (klen == 0 || k[0] != 'H')
			break;
		ck_assert_uint_gt(klen, 5);
		p = (uint32_t)k[1] << 24 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 8 | k[4];
		ck_assert_uint_lt(p, NPART);
		per[p]++;
		nhash++;
	}
	leveldb_iter_get_error(it, &err);
	ck_assert_ptr_null(err);
	leveldb_iter_destroy(it);
	/* Each state entry has its own value hash: as many of both means no stray one. */
	ck_assert_uint_eq(nhash, nstate);
	leveldb_close(db);
	leveldb_readoptions_destroy(r);
	leveldb_options_destroy(o);
}

/* The value hashes of the closed database at path are m's entries, partition by
 * partition. */
static void assert_raw_hashes(const char *path, const struct model *m)
{
	uint32_t per[NPART], want[NPART];

	raw_hashes(path, per);
	memset(want, 0, sizeof(want));
	for (int i = 0; i < m->n; i++)
		want[m->e[i].part]++;
	for (uint64_t p = 0; p < NPART; p++)
		ck_assert_msg(per[p] == want[p], "partition %llu: %u value hashes, %u entries",
			      (unsigned long long)p, per[p], want[p]);
}

/* ---------------------------------------------------------------- workload */
static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* One batch of random puts and deletes over keys "key-0".."key-<nkeys-1>", executed in
 * the store and applied to the model. */
static void random_batch(struct store *s, struct model *m, uint64_t seq, int ops, uint32_t nkeys)
{
	char key[32];
	uint8_t val[80];

	ck_assert_int_eq(store_txn_begin(s), 0);
	for (int i = 0; i < ops; i++) {
		snprintf(key, sizeof(key), "key-%u", rnd(nkeys));
		if (rnd(5) == 0) {
			ck_assert_int_eq(store_txn_del(s, NS_TEST, key, strlen(key)), 0);
			model_del(m, key);
		} else {
			uint32_t vlen = rnd(sizeof(val));
			for (uint32_t j = 0; j < vlen; j++)
				val[j] = (uint8_t)rnd(256);
			ck_assert_int_eq(store_txn_put(s, NS_TEST, key, strlen(key), val, vlen), 0);
			model_put(m, key, val, vlen);
		}
	}
	ck_assert_int_eq(store_txn_commit(s, seq, 0), 0);
}

START_TEST(digest_matches_recomputation)
{
	static struct model m;
	struct store *s = open_at(path_a);
	uint8_t got[PTREE_DIGEST_LEN], want[PTREE_DIGEST_LEN];
	uint64_t seq = 0;

	rng_state = 0x9e3779b97f4a7c15ull;
	m.n = 0;
	model_root(&m, want);
	ck_assert_int_eq(store_root(s, got), 0);
	ck_assert(memcmp(got, want, sizeof(got)) == 0); /* the empty state */
	for (int round = 0; round < 8; round++) {
		for (int b = 0; b < 10; b++)
			random_batch(s, &m, ++seq, 25, 300);
		ck_assert_int_eq(store_checkpoint(s, seq, got), 0);
		model_root(&m, want);
		ck_assert_msg(memcmp(got, want, sizeof(got)) == 0, "root differs after seq %llu",
			      (unsigned long long)seq);
		/* The live tree agrees level by level with the model's partitions. */
		assert_digests(s, &m);
		store_release(s, seq);
		if (round == 3) { /* digests survive a reopen, marks included */
			random_batch(s, &m, ++seq, 25, 300);
			store_close(s);
			s = open_at(path_a);
			ck_assert_uint_eq(store_last_executed(s), seq);
		}
	}
	ck_assert_int_eq(store_checkpoint(s, seq + 1, got), STORE_ERR_SEQ);
	ck_assert_int_eq(store_local_node(s, LEVELS + 1, 0, got), STORE_ERR_ARG);
	ck_assert_int_eq(store_local_node(s, LEVELS, NPART, got), STORE_ERR_ARG);
	store_close(s);
}
END_TEST

/* Read every page of partition p at ckpt into a model (appending), checking the pages'
 * bounds; returns the number of pages. */
static int read_all_pages(struct store *s, uint64_t ckpt, uint64_t p, uint32_t max_bytes,
			  struct model *out)
{
	struct wire_buf buf, start;
	int pages = 0, more;

	wire_buf_init(&buf);
	wire_buf_init(&start);
	do {
		struct wire_list l;
		struct wire_iter it;
		struct wire_data_item item;
		uint32_t count, seen = 0;

		wire_buf_reset(&buf);
		ck_assert_int_eq(store_read_partition(s, ckpt, p, (struct wire_bytes){ start.p, (uint32_t)start.len },
						      max_bytes, &buf, &count, &more), 0);
		ck_assert(buf.len <= max_bytes || count == 1);
		ck_assert(count > 0 || !more);
		l.count = count;
		l.bytes.p = buf.p;
		l.bytes.len = (uint32_t)buf.len;
		wire_iter_init(&it, &l);
		while (wire_next_data(&it, &item)) {
			struct entry *e = &out->e[out->n++];
			ck_assert_uint_le(item.key.len, sizeof(e->key));
			memcpy(e->key, item.key.p, item.key.len);
			e->klen = item.key.len;
			memcpy(e->val, item.value.p, item.value.len);
			e->vlen = item.value.len;
			e->part = p;
			wire_buf_reset(&start);
			wire_put_fixed(&start, item.key.p, item.key.len);
			wire_put_u8(&start, 0);
			seen++;
		}
		ck_assert_uint_eq(seen, count);
		pages++;
	} while (more);
	wire_buf_free(&buf);
	wire_buf_free(&start);
	return pages;
}

START_TEST(snapshot_serves_checkpoint)
{
	static struct model m, at5, got;
	struct store *s = open_at(path_a);
	uint8_t d5[PTREE_DIGEST_LEN], d[PTREE_DIGEST_LEN];
	struct wire_buf children;
	uint32_t count;
	int multi_page = 0;

	rng_state = 12345;
	m.n = 0;
	wire_buf_init(&children);
	for (uint64_t seq = 1; seq <= 5; seq++)
		random_batch(s, &m, seq, 30, 200);
	ck_assert_int_eq(store_checkpoint(s, 5, d5), 0);
	ck_assert_int_eq(store_checkpoint(s, 5, d), 0); /* asked again: same digest */
	ck_assert(memcmp(d, d5, sizeof(d)) == 0);
	at5 = m;
	model_sort(&at5);
	for (uint64_t seq = 6; seq <= 15; seq++)
		random_batch(s, &m, seq, 30, 200);
	ck_assert_int_eq(store_root(s, d), 0);
	ck_assert(memcmp(d, d5, sizeof(d)) != 0);

	/* The tree served at 5: each node's children hash to the node. */
	memcpy(d, d5, sizeof(d));
	for (uint32_t level = 0; level < LEVELS; level++) {
		uint64_t width = 1;
		for (uint32_t l = 0; l < level; l++)
			width *= FANOUT;
		for (uint64_t i = 0; i < width; i++) {
			uint8_t parent[PTREE_DIGEST_LEN], h[PTREE_DIGEST_LEN];
			if (level == 0) {
				memcpy(parent, d5, sizeof(parent));
			} else {
				wire_buf_reset(&children);
				ck_assert_int_eq(store_tree_node(s, 5, level - 1, i / FANOUT, &children, &count), 0);
				memcpy(parent, children.p + (i % FANOUT) * PTREE_DIGEST_LEN, sizeof(parent));
			}
			wire_buf_reset(&children);
			ck_assert_int_eq(store_tree_node(s, 5, level, i, &children, &count), 0);
			ck_assert_uint_eq(count, FANOUT);
			ck_assert_uint_eq(children.len, FANOUT * PTREE_DIGEST_LEN);
			ptree_node_hash(level, i, children.p, count, h);
			ck_assert(memcmp(h, parent, sizeof(h)) == 0);
		}
	}
	/* Partitions at 5, in pages of at most 150 bytes, reassemble exactly and hash to
	 * the leaf digests served. */
	got.n = 0;
	for (uint64_t p = 0; p < NPART; p++) {
		struct model one;
		uint8_t leaf[PTREE_DIGEST_LEN], pd[PTREE_DIGEST_LEN];
		one.n = 0;
		if (read_all_pages(s, 5, p, 150, &one) > 1)
			multi_page = 1;
		model_part_digest(&one, p, pd);
		wire_buf_reset(&children);
		ck_assert_int_eq(store_tree_node(s, 5, LEVELS - 1, p / FANOUT, &children, &count), 0);
		memcpy(leaf, children.p + (p % FANOUT) * PTREE_DIGEST_LEN, sizeof(leaf));
		ck_assert(memcmp(pd, leaf, sizeof(pd)) == 0);
		for (int i = 0; i < one.n; i++)
			got.e[got.n++] = one.e[i];
	}
	ck_assert(multi_page);
	ck_assert_int_eq(got.n, at5.n);
	for (int i = 0; i < got.n; i++) {
		ck_assert_uint_eq(got.e[i].klen, at5.e[i].klen);
		ck_assert(memcmp(got.e[i].key, at5.e[i].key, got.e[i].klen) == 0);
		ck_assert_uint_eq(got.e[i].vlen, at5.e[i].vlen);
		ck_assert(memcmp(got.e[i].val, at5.e[i].val, got.e[i].vlen) == 0);
	}

	/* Errors: unknown checkpoint, out-of-range node or partition; release frees. */
	ck_assert_int_eq(store_tree_node(s, 6, 0, 0, &children, &count), STORE_ERR_NO_CHECKPOINT);
	ck_assert_int_eq(store_tree_node(s, 5, LEVELS, 0, &children, &count), STORE_ERR_ARG);
	ck_assert_int_eq(store_tree_node(s, 5, 1, FANOUT, &children, &count), STORE_ERR_ARG);
	int more;
	ck_assert_int_eq(store_read_partition(s, 5, NPART, (struct wire_bytes){ NULL, 0 }, 100,
					      &children, &count, &more), STORE_ERR_ARG);
	store_release(s, 5);
	ck_assert_int_eq(store_tree_node(s, 5, 0, 0, &children, &count), 0);
	store_release(s, 6);
	ck_assert_int_eq(store_tree_node(s, 5, 0, 0, &children, &count), STORE_ERR_NO_CHECKPOINT);
	wire_buf_free(&children);
	store_close(s);
}
END_TEST

/* ---------------------------------------------------------------- transfer */
/* Bring dst to src's checkpoint ckpt with the operations the core uses: compare
 * digests top down, copy only differing partitions page by page, then finish.
 * Returns the number of partitions copied. */
static int copy_node(struct store *src, struct store *dst, uint64_t ckpt, uint32_t level,
		     uint64_t index, uint32_t max_bytes)
{
	struct wire_buf children, page, start;
	uint32_t count;
	int copied = 0;

	wire_buf_init(&children);
	wire_buf_init(&page);
	wire_buf_init(&start);
	ck_assert_int_eq(store_tree_node(src, ckpt, level, index, &children, &count), 0);
	for (uint32_t c = 0; c < count; c++) {
		uint64_t child = index * FANOUT + c;
		uint8_t local[PTREE_DIGEST_LEN];
		ck_assert_int_eq(store_local_node(dst, level + 1, child, local), 0);
		if (memcmp(local, children.p + (size_t)c * PTREE_DIGEST_LEN, sizeof(local)) == 0)
			continue;
		if (level + 1 < LEVELS) {
			copied += copy_node(src, dst, ckpt, level + 1, child, max_bytes);
			continue;
		}
		int more, first = 1;
		wire_buf_reset(&start);
		do {
			struct wire_data d;
			struct wire_iter it;
			struct wire_data_item item;
			uint32_t n;
			wire_buf_reset(&page);
			ck_assert_int_eq(store_read_partition(src, ckpt, child,
							      (struct wire_bytes){ start.p, (uint32_t)start.len },
							      max_bytes, &page, &n, &more), 0);
			d.ckpt_seq = ckpt;
			d.partition = child;
			d.flags = more ? WIRE_DATA_MORE : 0;
			d.entries.count = n;
			d.entries.bytes.p = page.p;
			d.entries.bytes.len = (uint32_t)page.len;
			ck_assert_int_eq(store_write_partition(dst, child, first, &d), 0);
			first = 0;
			wire_iter_init(&it, &d.entries);
			while (wire_next_data(&it, &item)) {
				wire_buf_reset(&start);
				wire_put_fixed(&start, item.key.p, item.key.len);
				wire_put_u8(&start, 0);
			}
		} while (more);
		copied++;
	}
	wire_buf_free(&children);
	wire_buf_free(&page);
	wire_buf_free(&start);
	return copied;
}

static int transfer(struct store *src, struct store *dst, uint64_t ckpt, uint32_t max_bytes)
{
	uint8_t root[PTREE_DIGEST_LEN], local[PTREE_DIGEST_LEN];
	int copied = 0;

	ck_assert_int_eq(store_checkpoint(src, ckpt, root), 0);
	ck_assert_int_eq(store_local_node(dst, 0, 0, local), 0);
	if (memcmp(root, local, sizeof(root)) != 0)
		copied = copy_node(src, dst, ckpt, 0, 0, max_bytes);
	ck_assert_int_eq(store_finish_transfer(dst, ckpt, root), 0);
	return copied;
}

/* Partitions whose content differs between two models. */
static int differing_partitions(struct model *a, struct model *b)
{
	int n = 0;

	model_sort(a);
	model_sort(b);
	for (uint64_t p = 0; p < NPART; p++) {
		uint8_t da[PTREE_DIGEST_LEN], db[PTREE_DIGEST_LEN];
		model_part_digest(a, p, da);
		model_part_digest(b, p, db);
		n += memcmp(da, db, sizeof(da)) != 0;
	}
	return n;
}

START_TEST(transfer_into_empty_and_diverged)
{
	static struct model ma, mb;
	struct store *a = open_at(path_a), *b = open_at(path_b);
	uint8_t ra[PTREE_DIGEST_LEN], rb[PTREE_DIGEST_LEN];
	int copied;

	rng_state = 777;
	ma.n = mb.n = 0;
	for (uint64_t seq = 1; seq <= 20; seq++)
		random_batch(a, &ma, seq, 30, 250);
	/* Into an empty store: every non-empty partition is copied, in small pages. */
	copied = transfer(a, b, 20, 120);
	ck_assert_int_eq(copied, differing_partitions(&ma, &mb));
	ck_assert_uint_eq(store_last_executed(b), 20);
	ck_assert_int_eq(store_transfer_pending(b, NULL), 0);
	ck_assert_int_eq(store_root(b, rb), 0);
	ck_assert_int_eq(store_root(a, ra), 0);
	ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
	/* b serves the checkpoint it installed. */
	ck_assert_int_eq(store_checkpoint(b, 20, rb), 0);
	ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);

	/* Diverge: both go on differently, then b catches up with a's checkpoint 30 and
	 * copies only what differs. */
	mb = ma;
	for (uint64_t seq = 21; seq <= 30; seq++)
		random_batch(a, &ma, seq, 3, 250);
	for (uint64_t seq = 21; seq <= 24; seq++)
		random_batch(b, &mb, seq, 2, 250);
	int differ = differing_partitions(&ma, &mb);
	ck_assert_int_gt(differ, 0);
	ck_assert_int_lt(differ, (int)NPART);
	copied = transfer(a, b, 30, 4096);
	ck_assert_int_eq(copied, differ);
	ck_assert_uint_eq(store_last_executed(b), 30);
	ck_assert_int_eq(store_root(a, ra), 0);
	ck_assert_int_eq(store_root(b, rb), 0);
	ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);

	/* b executes on from there, and keeps it all across a reopen. */
	random_batch(b, &ma, 31, 5, 250);
	store_close(b);
	b = open_at(path_b);
	ck_assert_uint_eq(store_last_executed(b), 31);
	ck_assert_int_eq(store_root(b, rb), 0);
	model_root(&ma, ra);
	ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
	store_close(a);
	store_close(b);
}
END_TEST

START_TEST(transfer_wrong_digest_fails_and_retries)
{
	static struct model ma, mb;
	struct store *a = open_at(path_a), *b = open_at(path_b);
	uint8_t root[PTREE_DIGEST_LEN], wrong[PTREE_DIGEST_LEN], d[PTREE_DIGEST_LEN];
	uint64_t ckpt = 0;

	rng_state = 4242;
	ma.n = mb.n = 0;
	for (uint64_t seq = 1; seq <= 6; seq++)
		random_batch(a, &ma, seq, 30, 100);
	random_batch(b, &mb, 1, 30, 100);
	ck_assert_int_eq(store_checkpoint(a, 6, root), 0);
	ck_assert_int_gt(copy_node(a, b, 6, 0, 0, 200), 0);
	ck_assert_int_eq(store_transfer_pending(b, &ckpt), 1);
	ck_assert_uint_eq(ckpt, 6);

	memcpy(wrong, root, sizeof(wrong));
	wrong[7] ^= 0x40;
	ck_assert_int_eq(store_finish_transfer(b, 6, wrong), STORE_ERR_DIGEST);
	ck_assert_ptr_nonnull(strstr(store_last_error(b), "differs from checkpoint digest"));
	ck_assert_uint_eq(store_last_executed(b), 1);
	ck_assert_int_eq(store_transfer_pending(b, NULL), 1);
	/* Incomplete state: no execution, no checkpoint. */
	ck_assert_int_eq(store_txn_begin(b), STORE_ERR_TRANSFER);
	ck_assert_int_eq(store_checkpoint(b, 1, d), STORE_ERR_TRANSFER);

	/* The mark survives a crash (close) and the retry completes. */
	store_close(b);
	b = open_at(path_b);
	ck_assert_int_eq(store_transfer_pending(b, &ckpt), 1);
	ck_assert_uint_eq(ckpt, 6);
	ck_assert_uint_eq(store_last_executed(b), 1);
	ck_assert_int_eq(store_finish_transfer(b, 6, root), 0);
	ck_assert_int_eq(store_transfer_pending(b, NULL), 0);
	store_close(b);
	b = open_at(path_b);
	ck_assert_int_eq(store_transfer_pending(b, NULL), 0);
	ck_assert_uint_eq(store_last_executed(b), 6);
	ck_assert_int_eq(store_root(b, d), 0);
	ck_assert(memcmp(d, root, sizeof(d)) == 0);
	ck_assert_int_eq(store_txn_begin(b), 0);
	store_txn_abort(b);
	store_close(a);
	store_close(b);
}
END_TEST

/* A page with one entry (state key sk) claiming partition claimed. */
static void one_entry_page(struct wire_buf *buf, struct wire_data *d, uint64_t claimed,
			   const uint8_t *sk, uint32_t klen)
{
	struct wire_data_item item = { { sk, klen }, { (const uint8_t *)"v", 1 } };

	wire_buf_reset(buf);
	wire_put_data(buf, &item);
	d->ckpt_seq = 9;
	d->partition = claimed;
	d->flags = 0;
	d->entries.count = 1;
	d->entries.bytes.p = buf->p;
	d->entries.bytes.len = (uint32_t)buf->len;
}

START_TEST(malformed_pages_change_nothing)
{
	struct store *s = open_at(path_a);
	struct wire_buf buf;
	struct wire_data d;
	uint8_t k1[8] = { NS_TEST, 'a' }, k2[8] = { NS_TEST, 'b' }, before[PTREE_DIGEST_LEN], after[PTREE_DIGEST_LEN];
	uint64_t p1, p2;
	char c = 'b';

	wire_buf_init(&buf);
	ck_assert_int_eq(store_root(s, before), 0);
	p1 = ptree_partition_of(NPART, k1, 2);
	/* A second key in the same partition, and one in another. */
	do {
		k2[1] = (uint8_t)c++;
	} while (ptree_partition_of(NPART, k2, 2) != p1);
	p2 = (p1 + 1) % NPART;

	one_entry_page(&buf, &d, p1, k1, 2);
	ck_assert_int_eq(store_write_partition(s, p2, 1, &d), STORE_ERR_PAGE); /* page of another partition */
	d.partition = p2;
	ck_assert_int_eq(store_write_partition(s, p2, 1, &d), STORE_ERR_PAGE); /* key not in p2 */
	ck_assert_ptr_nonnull(strstr(store_last_error(s), "does not belong"));
	ck_assert_int_eq(store_write_partition(s, NPART, 1, &d), STORE_ERR_ARG);
	one_entry_page(&buf, &d, p1, k1, 0);
	ck_assert_int_eq(store_write_partition(s, p1, 1, &d), STORE_ERR_PAGE); /* empty key */

	/* Two keys out of order, then the same key twice. */
	struct wire_data_item i1 = { { k1, 2 }, { NULL, 0 } }, i2 = { { k2, 2 }, { NULL, 0 } };
	const struct wire_data_item *lo = memcmp(k1, k2, 2) < 0 ? &i1 : &i2, *hi = lo == &i1 ? &i2 : &i1;
	wire_buf_reset(&buf);
	wire_put_data(&buf, hi);
	wire_put_data(&buf, lo);
	d.partition = p1;
	d.entries.count = 2;
	d.entries.bytes.p = buf.p;
	d.entries.bytes.len = (uint32_t)buf.len;
	ck_assert_int_eq(store_write_partition(s, p1, 1, &d), STORE_ERR_PAGE);
	wire_buf_reset(&buf);
	wire_put_data(&buf, lo);
	wire_put_data(&buf, lo);
	d.entries.bytes.p = buf.p;
	d.entries.bytes.len = (uint32_t)buf.len;
	ck_assert_int_eq(store_write_partition(s, p1, 1, &d), STORE_ERR_PAGE);

	ck_assert_int_eq(store_transfer_pending(s, NULL), 0);
	ck_assert_int_eq(store_root(s, after), 0);
	ck_assert(memcmp(before, after, sizeof(after)) == 0);
	/* In order, it is accepted. */
	wire_buf_reset(&buf);
	wire_put_data(&buf, lo);
	wire_put_data(&buf, hi);
	d.entries.bytes.p = buf.p;
	d.entries.bytes.len = (uint32_t)buf.len;
	ck_assert_int_eq(store_write_partition(s, p1, 1, &d), 0);
	ck_assert_int_eq(store_transfer_pending(s, NULL), 1);
	wire_buf_free(&buf);
	store_close(s);
}
END_TEST

/* An entry larger than max_bytes still makes a page of its own, so transfer progresses. */
START_TEST(page_holds_one_big_entry)
{
	static struct model m;
	struct store *s = open_at(path_a);
	uint8_t d[PTREE_DIGEST_LEN], big[80];
	struct wire_buf buf;
	uint32_t count;
	int more, pages;
	uint64_t p;

	memset(big, 0xab, sizeof(big));
	m.n = 0;
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_put(s, NS_TEST, "big", 3, big, sizeof(big)), 0);
	ck_assert_int_eq(store_txn_commit(s, 1, 0), 0);
	ck_assert_int_eq(store_checkpoint(s, 1, d), 0);
	model_put(&m, "big", big, sizeof(big));
	p = m.e[0].part;
	wire_buf_init(&buf);
	ck_assert_int_eq(store_read_partition(s, 1, p, (struct wire_bytes){ NULL, 0 }, 10, &buf,
					      &count, &more), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(more, 0);
	ck_assert_uint_gt(buf.len, 10);
	/* Resuming after the last key gives an empty final page. */
	wire_buf_reset(&buf);
	ck_assert_int_eq(store_read_partition(s, 1, p, (struct wire_bytes){ (const uint8_t *)"Tbig\0", 5 },
					      10, &buf, &count, &more), 0);
	ck_assert_uint_eq(count, 0);
	ck_assert_uint_eq(buf.len, 0);
	ck_assert_int_eq(more, 0);
	m.n = 0;
	pages = read_all_pages(s, 1, p, 10, &m);
	ck_assert_int_eq(pages, 1);
	ck_assert_int_eq(m.n, 1);
	ck_assert_uint_eq(m.e[0].vlen, sizeof(big));
	wire_buf_free(&buf);
	store_close(s);
}
END_TEST

START_TEST(checkpoint_limit)
{
	struct store *s = open_at(path_a);
	uint8_t d[PTREE_DIGEST_LEN];
	uint64_t seq;

	for (seq = 1; seq <= STORE_MAX_CHECKPOINTS; seq++) {
		ck_assert_int_eq(store_txn_begin(s), 0);
		ck_assert_int_eq(store_txn_commit(s, seq, 0), 0);
		ck_assert_int_eq(store_checkpoint(s, seq, d), 0);
	}
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_commit(s, seq, 0), 0);
	ck_assert_int_eq(store_checkpoint(s, seq, d), STORE_ERR_LIMIT);
	store_release(s, 2);
	ck_assert_int_eq(store_checkpoint(s, seq, d), 0);
	store_close(s);
}
END_TEST

/* ---------------------------------------------------------------- value hashes */
/* Puts, overwrites and deletes, written at once or deferred and merged, across
 * reopens: every partition digest (computed from the value hashes) equals the model's
 * from scratch, also when an open recomputes them all, and the database holds exactly
 * one right value hash per state entry. */
START_TEST(value_hashes_follow_writes)
{
	static struct model m;

	for (int defer = 0; defer <= 1; defer++) {
		const char *path = defer ? path_b : path_a;
		struct store *s = open_with(path, defer, 0);
		uint64_t seq = 0;

		rng_state = 0x2545f4914f6cdd1dull + (uint64_t)defer;
		m.n = 0;
		for (int round = 0; round < 6; round++) {
			/* 120 keys, 160 changes a round: most puts overwrite, some deletes
			 * remove what a put of the same round wrote. */
			for (int b = 0; b < 8; b++)
				random_batch(s, &m, ++seq, 20, 120);
			if (round % 2 == 1) { /* deferred changes are written at close */
				store_close(s);
				s = open_with(path, defer, round == 5);
				ck_assert_uint_eq(store_last_executed(s), seq);
			}
			assert_digests(s, &m);
		}
		store_close(s);
		assert_raw_hashes(path, &m);
	}
}
END_TEST

/* A transfer into a store with another state gives it the source's value hashes (and
 * removes its own in the copied partitions): both then execute the same batches and
 * keep equal digests, also after the receiver recomputes them all at open. */
START_TEST(transfer_installs_value_hashes)
{
	static struct model ma, mb;
	struct store *a = open_at(path_a), *b = open_with(path_b, 1, 0);
	uint8_t ra[PTREE_DIGEST_LEN], rb[PTREE_DIGEST_LEN];

	ma.n = mb.n = 0;
	rng_state = 0x9b05688c2b3e6c1full;
	for (uint64_t seq = 1; seq <= 12; seq++)
		random_batch(a, &ma, seq, 20, 200);
	rng_state = 0x1f83d9abfb41bd6bull; /* b: other values, and keys a does not have */
	for (uint64_t seq = 1; seq <= 5; seq++)
		random_batch(b, &mb, seq, 20, 400);
	ck_assert_int_gt(transfer(a, b, 12, 300), 0);
	mb = ma;
	for (uint64_t seq = 13; seq <= 20; seq++) {
		uint64_t same = rng_state;
		random_batch(a, &ma, seq, 15, 300);
		rng_state = same;
		random_batch(b, &mb, seq, 15, 300);
	}
	ck_assert_int_eq(store_root(a, ra), 0);
	ck_assert_int_eq(store_root(b, rb), 0);
	ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
	assert_digests(b, &mb);
	store_close(a);
	store_close(b);
	assert_raw_hashes(path_b, &mb);
	b = open_with(path_b, 1, 1);
	assert_digests(b, &mb);
	store_close(b);
}
END_TEST

/* Up to n state keys NS_TEST | "<prefix><i>" of partition p, into keys (24 bytes each). */
static int keys_of_partition(uint64_t p, const char *prefix, char (*keys)[24], int n)
{
	int found = 0;

	for (unsigned i = 0; found < n && i < 100000; i++) {
		uint8_t sk[24];
		int len = snprintf(keys[found], sizeof(keys[found]), "%s%u", prefix, i);
		sk[0] = NS_TEST;
		memcpy(sk + 1, keys[found], (size_t)len);
		if (ptree_partition_of(NPART, sk, (size_t)len + 1) == p)
			found++;
	}
	return found;
}

/* A partition whose entries are all deleted (at once, or merged with puts of the same
 * keys while deferred) digests to PTREE_EMPTY and keeps no value hash; a transfer of
 * that empty partition empties it in the receiver too. */
START_TEST(emptied_partition_keeps_no_value_hash)
{
	static struct model m;
	const uint64_t p = 5, other = 6;
	char keys[4][24], okey[1][24];
	const uint8_t v1[] = "one", v2[] = "two";
	uint8_t d[PTREE_DIGEST_LEN];

	ck_assert_int_eq(keys_of_partition(p, "e-", keys, 4), 4);
	ck_assert_int_eq(keys_of_partition(other, "o-", okey, 1), 1);
	for (int defer = 0; defer <= 1; defer++) {
		const char *path = defer ? path_b : path_a;
		struct store *s = open_with(path, defer, 0);

		m.n = 0;
		ck_assert_int_eq(store_txn_begin(s), 0);
		for (int i = 0; i < 4; i++) {
			ck_assert_int_eq(store_txn_put(s, NS_TEST, keys[i], strlen(keys[i]), v1, 3), 0);
			model_put(&m, keys[i], v1, 3);
		}
		ck_assert_int_eq(store_txn_put(s, NS_TEST, okey[0], strlen(okey[0]), v1, 3), 0);
		model_put(&m, okey[0], v1, 3);
		ck_assert_int_eq(store_txn_commit(s, 1, 0), 0);
		ck_assert_int_eq(store_checkpoint(s, 1, d), 0);
		ck_assert_int_eq(store_local_node(s, LEVELS, p, d), 0);
		ck_assert(memcmp(d, PTREE_EMPTY, sizeof(d)) != 0);
		/* Overwrite two and delete one; then (another batch) overwrite one more and
		 * delete them all. */
		ck_assert_int_eq(store_txn_begin(s), 0);
		for (int i = 0; i < 2; i++)
			ck_assert_int_eq(store_txn_put(s, NS_TEST, keys[i], strlen(keys[i]), v2, 3), 0);
		ck_assert_int_eq(store_txn_del(s, NS_TEST, keys[2], strlen(keys[2])), 0);
		ck_assert_int_eq(store_txn_commit(s, 2, 0), 0);
		ck_assert_int_eq(store_txn_begin(s), 0);
		ck_assert_int_eq(store_txn_put(s, NS_TEST, keys[3], strlen(keys[3]), v2, 3), 0);
		for (int i = 0; i < 4; i++) {
			ck_assert_int_eq(store_txn_del(s, NS_TEST, keys[i], strlen(keys[i])), 0);
			model_del(&m, keys[i]);
		}
		ck_assert_int_eq(store_txn_commit(s, 3, 0), 0);
		ck_assert_int_eq(store_checkpoint(s, 3, d), 0);
		ck_assert_int_eq(store_local_node(s, LEVELS, p, d), 0);
		ck_assert_mem_eq(d, PTREE_EMPTY, sizeof(d));
		assert_digests(s, &m);
		store_close(s);
		assert_raw_hashes(path, &m);
		s = open_with(path, defer, 1);
		ck_assert_int_eq(store_local_node(s, LEVELS, p, d), 0);
		ck_assert_mem_eq(d, PTREE_EMPTY, sizeof(d));
		store_close(s);
	}

	/* Into a store holding entries in p: p's copy is an empty first page. Both runs
	 * above made the same state, m. */
	struct store *a = open_at(path_a), *b;
	char path_c[320];

	snprintf(path_c, sizeof(path_c), "%s/c", dir);
	b = open_at(path_c);
	ck_assert_int_eq(store_txn_begin(b), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(store_txn_put(b, NS_TEST, keys[i], strlen(keys[i]), v2, 3), 0);
	ck_assert_int_eq(store_txn_commit(b, 1, 0), 0);
	ck_assert_int_gt(transfer(a, b, 3, 4096), 0);
	ck_assert_int_eq(store_local_node(b, LEVELS, p, d), 0);
	ck_assert_mem_eq(d, PTREE_EMPTY, sizeof(d));
	assert_digests(b, &m);
	store_close(a);
	store_close(b);
	assert_raw_hashes(path_c, &m);
}
END_TEST

/* A value hash the wrong size is corruption: the open that digests its partition fails
 * with a message naming the partition, and nothing is digested from it. */
START_TEST(malformed_value_hash_is_corruption)
{
	struct store_config cfg = { .path = path_a, .fanout = FANOUT, .levels = LEVELS, .verify = 1 };
	struct store *s = open_at(path_a);
	char keys[1][24], err[256], want[64];
	uint8_t hk[32];
	leveldb_options_t *o;
	leveldb_writeoptions_t *w;
	leveldb_t *db;
	char *lerr = NULL;
	size_t len;

	ck_assert_int_eq(keys_of_partition(9, "x-", keys, 1), 1);
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_put(s, NS_TEST, keys[0], strlen(keys[0]), "v", 1), 0);
	ck_assert_int_eq(store_txn_commit(s, 1, 0), 0);
	store_close(s);
	/* 'H' | partition 9 | NS_TEST | key -> 31 bytes. */
	len = strlen(keys[0]);
	hk[0] = 'H';
	hk[1] = hk[2] = hk[3] = 0;
	hk[4] = 9;
	hk[5] = NS_TEST;
	memcpy(hk + 6, keys[0], len);
	o = leveldb_options_create();
	w = leveldb_writeoptions_create();
	db = leveldb_open(o, path_a, &lerr);
	ck_assert_ptr_null(lerr);
	leveldb_put(db, w, (const char *)hk, 6 + len, "0123456789012345678901234567890", 31, &lerr);
	ck_assert_ptr_null(lerr);
	leveldb_close(db);
	leveldb_writeoptions_destroy(w);
	leveldb_options_destroy(o);
	ck_assert_int_eq(store_open(&cfg, &s, err, sizeof(err)), STORE_ERR_CORRUPT);
	ck_assert_ptr_null(s);
	snprintf(want, sizeof(want), "partition 9: a value hash of 31 bytes, not 32");
	ck_assert_msg(strstr(err, want) != NULL, "open error: %s", err);
}
END_TEST

/* State keys of every length up to STORE_MAX_KEY get their value hashes (built from
 * the state key in place), deferred or not, and by a transfer; reads after the write
 * still find the state keys. */
START_TEST(long_keys_get_value_hashes)
{
	static const size_t lens[] = { 1, 300, STORE_MAX_KEY - 1 }; /* without the ns byte */
	const size_t n = sizeof(lens) / sizeof(lens[0]);
	uint8_t *keys[3], d[PTREE_DIGEST_LEN], want[PTREE_DIGEST_LEN], root[PTREE_DIGEST_LEN];
	uint32_t per[NPART];

	for (size_t i = 0; i < n; i++) {
		keys[i] = malloc(lens[i]);
		ck_assert_ptr_nonnull(keys[i]);
		memset(keys[i], 'a' + (int)i, lens[i]);
	}
	for (int defer = 0; defer <= 1; defer++) {
		const char *path = defer ? path_b : path_a;
		struct store *s = open_with(path, defer, 0);
		struct wire_buf v;
		uint32_t want_per[NPART];

		wire_buf_init(&v);
		for (uint8_t seq = 1; seq <= 2; seq++) { /* put, then overwrite: value = seq */
			ck_assert_int_eq(store_txn_begin(s), 0);
			for (size_t i = 0; i < n; i++)
				ck_assert_int_eq(store_txn_put(s, NS_TEST, keys[i], lens[i], &seq, 1), 0);
			ck_assert_int_eq(store_txn_commit(s, seq, 0), 0);
			ck_assert_int_eq(store_checkpoint(s, seq, root), 0);
		}
		memset(want_per, 0, sizeof(want_per));
		for (size_t i = 0; i < n; i++) {
			uint8_t *sk = malloc(lens[i] + 1);
			uint64_t p;
			struct ptree_part_hash h;
			uint8_t two = 2;

			ck_assert_ptr_nonnull(sk);
			sk[0] = NS_TEST;
			memcpy(sk + 1, keys[i], lens[i]);
			p = ptree_partition_of(NPART, sk, lens[i] + 1);
			want_per[p]++;
			/* The flush's recent cache and LevelDB both find the state key. */
			ck_assert_int_eq(store_get(s, NS_TEST, keys[i], lens[i], &v), 0);
			ck_assert_uint_eq(v.len, 1);
			ck_assert_uint_eq(v.p[0], 2);
			ck_assert_int_eq(ptree_part_begin(&h, p), 0);
			ptree_part_add(&h, sk, (uint32_t)lens[i] + 1, &two, 1);
			ck_assert_int_eq(ptree_part_end(&h, want), 0);
			ck_assert_int_eq(store_local_node(s, LEVELS, p, d), 0);
			/* Partitions of one key each (keys sharing one are checked by count). */
			if (want_per[p] == 1)
				ck_assert_mem_eq(d, want, sizeof(d));
			free(sk);
		}
		wire_buf_free(&v);
		if (defer) { /* a transfer writes the long keys' hashes too */
			char path_c[320];
			struct store *c;
			snprintf(path_c, sizeof(path_c), "%s/c", dir);
			c = open_at(path_c);
			ck_assert_int_gt(transfer(s, c, 2, 1u << 20), 0);
			ck_assert_int_eq(store_root(c, d), 0);
			ck_assert_mem_eq(d, root, sizeof(d));
			store_close(c);
			raw_hashes(path_c, per);
			ck_assert_mem_eq(per, want_per, sizeof(per));
		}
		store_close(s);
		raw_hashes(path, per);
		ck_assert_mem_eq(per, want_per, sizeof(per));
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
}
END_TEST

static Suite *store_digest_suite(void)
{
	Suite *s = suite_create("store_digest");
	TCase *tc = tcase_create("digest");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, digest_matches_recomputation);
	tcase_add_test(tc, snapshot_serves_checkpoint);
	tcase_add_test(tc, transfer_into_empty_and_diverged);
	tcase_add_test(tc, transfer_wrong_digest_fails_and_retries);
	tcase_add_test(tc, malformed_pages_change_nothing);
	tcase_add_test(tc, page_holds_one_big_entry);
	tcase_add_test(tc, checkpoint_limit);
	tcase_add_test(tc, value_hashes_follow_writes);
	tcase_add_test(tc, transfer_installs_value_hashes);
	tcase_add_test(tc, emptied_partition_keeps_no_value_hash);
	tcase_add_test(tc, malformed_value_hash_is_corruption);
	tcase_add_test(tc, long_keys_get_value_hashes);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(store_digest_suite)
