/* test_store_digest.c: replica/store's partition-tree digests against a from-scratch
 * recomputation, checkpoint snapshots, serving partitions page by page, and state
 * transfer between two stores (including a failed one and a crash in the middle); the
 * value hash cache the digests are computed from, with no cache, a budget that forces
 * drops and a large one, checked against LevelDB after every step (store_int.h). */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_tmpdir.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <leveldb/c.h>

#include "crypto/crypto.h"
#include "replica/core/ptree.h"
#include "replica/store/store.h"
#include "replica/store/store_int.h"

#define NS_TEST ((uint8_t)'T')
#define FANOUT 4u
#define LEVELS 3u
#define NPART 64u /* FANOUT^LEVELS */
#define MAX_ENTRIES 1024

/* Value hash cache budgets (store_config.digest_cache_bytes): none; a few lists (one
 * of a few keys takes 250-450 bytes), so that lists are dropped all the time; every
 * list. Loop tests run once with each. */
static const size_t budgets[] = { 0, 1024, 1u << 20 };
#define NBUDGETS ((int)(sizeof(budgets) / sizeof(budgets[0])))
static size_t hc_budget;

static char path_a[300], path_b[300];

static void setup(void)
{
	tmp_setup();
	snprintf(path_a, sizeof(path_a), "%s/a", dir);
	snprintf(path_b, sizeof(path_b), "%s/b", dir);
	hc_budget = budgets[NBUDGETS - 1];
}

/* Open (creating it) the store at path with a value hash cache of hc_budget bytes,
 * deferring writes if defer (with a read cache of the recent flushes), recomputing
 * every digest at open if verify. */
static struct store *open_with(const char *path, int defer, int verify)
{
	struct store_config cfg = { .path = path, .fanout = FANOUT, .levels = LEVELS, .create = 1,
				    .defer_writes = defer, .recent_bytes = defer ? 1u << 20 : 0,
				    .verify = verify, .digest_cache_bytes = hc_budget };
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

/* The value hash cache's invariant (store_int.h): every list s holds equals LevelDB's
 * live 'S' range of its partition (state key and SHA-256 of the value, in key order);
 * the bytes counted are the lists' own and within the budget. Returns the number of
 * partitions whose list is held. */
static uint64_t assert_cache_matches(struct store *s)
{
	const struct store__hcache *c = &s->hc;
	leveldb_iterator_t *it;
	uint64_t held = 0;
	size_t bytes = 0;

	ck_assert_ptr_null(c->build);
	if (c->list == NULL) {
		ck_assert_uint_eq(c->bytes, 0);
		return 0;
	}
	it = store__ldb_iter(&s->ldb, NULL);
	ck_assert_ptr_nonnull(it);
	for (uint64_t p = 0; p < NPART; p++) {
		const struct store__hc_list *l = c->list[p];
		uint8_t prefix[5] = { 'S', 0, 0, 0, (uint8_t)p };
		size_t i = 0;

		if (l == NULL)
			continue;
		held++;
		bytes += l->bytes;
		ck_assert_uint_eq(l->bytes, sizeof(*l) + l->cap * sizeof(l->ent[0]) + l->kcap);
		ck_assert_uint_le(l->n, l->cap);
		ck_assert_uint_le(l->kused, l->kcap);
		for (leveldb_iter_seek(it, (const char *)prefix, sizeof(prefix)); leveldb_iter_valid(it);
		     leveldb_iter_next(it)) {
			size_t klen, vlen;
			const char *k = leveldb_iter_key(it, &klen);
			const char *v = leveldb_iter_value(it, &vlen);
			uint8_t want[PTREE_DIGEST_LEN];
			const struct store__hc_ent *e;

			if (klen < sizeof(prefix) || memcmp(k, prefix, sizeof(prefix)) != 0)
				break;
			ck_assert_msg(i < l->n, "partition %llu: LevelDB holds more than its %zu cached entries",
				      (unsigned long long)p, l->n);
			e = &l->ent[i];
			ck_assert_uint_eq(e->len, klen - sizeof(prefix));
			ck_assert_uint_le((size_t)e->off + e->len, l->kused);
			ck_assert_msg(memcmp(l->keys + e->off, k + sizeof(prefix), e->len) == 0,
				      "partition %llu: cached entry %zu has another key", (unsigned long long)p, i);
			crypto_sha256(v, vlen, want);
			ck_assert_msg(memcmp(e->vhash, want, sizeof(want)) == 0,
				      "partition %llu: cached entry %zu has another value hash",
				      (unsigned long long)p, i);
			i++;
		}
		ck_assert_msg(i == l->n, "partition %llu: %zu cached entries, %zu in LevelDB",
			      (unsigned long long)p, l->n, i);
	}
	ck_assert_int_eq(store__ldb_iter_status(&s->ldb, it), 0);
	leveldb_iter_destroy(it);
	ck_assert_uint_eq(bytes, c->bytes);
	ck_assert_uint_le(c->bytes, c->max);
	return held;
}

/* Both of the above: s's digests equal m's from scratch, its cached lists LevelDB's. */
static void assert_state(struct store *s, struct model *m)
{
	assert_digests(s, m);
	assert_cache_matches(s);
}

/* Read the closed database at path with LevelDB itself (store.h "Key layout"): it holds
 * nothing but state ('S') and metadata ('M') keys (no value hash is stored); per[p]
 * receives the number of state entries of partition p. */
static void raw_state_counts(const char *path, uint32_t per[NPART])
{
	leveldb_options_t *o = leveldb_options_create();
	leveldb_readoptions_t *r = leveldb_readoptions_create();
	leveldb_iterator_t *it;
	leveldb_t *db;
	char *err = NULL;

	db = leveldb_open(o, path, &err);
	ck_assert_msg(err == NULL, "leveldb_open: %s", err != NULL ? err : "");
	memset(per, 0, NPART * sizeof(per[0]));
	it = leveldb_create_iterator(db, r);
	for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		size_t klen;
		const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &klen);

		ck_assert_uint_gt(klen, 1);
		ck_assert_msg(k[0] == 'S' || k[0] == 'M', "a key of prefix '%c' (0x%02x)", k[0], k[0]);
		if (k[0] == 'S') {
			uint32_t p;
			ck_assert_uint_gt(klen, 5);
			p = (uint32_t)k[1] << 24 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 8 | k[4];
			ck_assert_uint_lt(p, NPART);
			per[p]++;
		}
	}
	leveldb_iter_get_error(it, &err);
	ck_assert_ptr_null(err);
	leveldb_iter_destroy(it);
	leveldb_close(db);
	leveldb_readoptions_destroy(r);
	leveldb_options_destroy(o);
}

/* The closed database at path holds m's state entries, partition by partition (counted:
 * the digests check their contents), and no value hash. */
static void assert_raw_state(const char *path, const struct model *m)
{
	uint32_t per[NPART], want[NPART];

	raw_state_counts(path, per);
	memset(want, 0, sizeof(want));
	for (int i = 0; i < m->n; i++)
		want[m->e[i].part]++;
	for (uint64_t p = 0; p < NPART; p++)
		ck_assert_msg(per[p] == want[p], "partition %llu: %u state entries, %u in the model",
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

/* A transaction of random puts and deletes over keys "key-0".."key-<nkeys-1>", begun in
 * the store (not committed) and applied to the model. */
static void random_ops(struct store *s, struct model *m, int ops, uint32_t nkeys)
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
}

/* random_ops, executed as seq. */
static void random_batch(struct store *s, struct model *m, uint64_t seq, int ops, uint32_t nkeys)
{
	random_ops(s, m, ops, nkeys);
	ck_assert_int_eq(store_txn_commit(s, seq, 0), 0);
}

/* Run with each budget (loop test): the digests, whatever the cache holds. */
START_TEST(digest_matches_recomputation)
{
	static struct model m;
	struct store *s;
	uint8_t got[PTREE_DIGEST_LEN], want[PTREE_DIGEST_LEN];
	uint64_t seq = 0;

	hc_budget = budgets[_i];
	s = open_at(path_a);
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
		assert_state(s, &m);
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

/* Loop test: each budget. */
START_TEST(transfer_into_empty_and_diverged)
{
	static struct model ma, mb;
	struct store *a, *b;
	uint8_t ra[PTREE_DIGEST_LEN], rb[PTREE_DIGEST_LEN];
	int copied;

	hc_budget = budgets[_i];
	a = open_at(path_a);
	b = open_at(path_b);
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
	assert_cache_matches(a);
	assert_cache_matches(b);

	/* b executes on from there, and keeps it all across a reopen. */
	random_batch(b, &ma, 31, 5, 250);
	store_close(b);
	b = open_at(path_b);
	ck_assert_uint_eq(store_last_executed(b), 31);
	ck_assert_int_eq(store_root(b, rb), 0);
	model_root(&ma, ra);
	ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
	assert_cache_matches(b);
	store_close(a);
	store_close(b);
}
END_TEST

/* Loop test: each budget. */
START_TEST(transfer_wrong_digest_fails_and_retries)
{
	static struct model ma, mb;
	struct store *a, *b;
	uint8_t root[PTREE_DIGEST_LEN], wrong[PTREE_DIGEST_LEN], d[PTREE_DIGEST_LEN];
	uint64_t ckpt = 0;

	hc_budget = budgets[_i];
	a = open_at(path_a);
	b = open_at(path_b);
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
	assert_cache_matches(b);
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
	assert_cache_matches(b);
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

/* ---------------------------------------------------------------- the value hash cache */
/* What assert_cache_matches returned after every partition was digested since the open:
 * nothing held without a budget, some but not all with the small one, all with the
 * large one. */
static void assert_held(uint64_t held)
{
	if (hc_budget == 0) {
		ck_assert_uint_eq(held, 0);
	} else if (hc_budget < budgets[NBUDGETS - 1]) {
		ck_assert_uint_gt(held, 0);
		ck_assert_uint_lt(held, NPART);
	} else {
		ck_assert_uint_eq(held, NPART);
	}
}

/* Loop test, each budget. Puts, overwrites and deletes, written at once or deferred and
 * merged, across reopens: every partition digest equals the model's from scratch, also
 * when an open recomputes them all; after every batch (deferred changes not written yet
 * included) the cached lists equal LevelDB's state; the closed database holds the
 * model's entries and no value hash. */
START_TEST(digest_cache_follows_writes)
{
	static struct model m;

	hc_budget = budgets[_i];
	for (int defer = 0; defer <= 1; defer++) {
		const char *path = defer ? path_b : path_a;
		struct store *s = open_with(path, defer, 0);
		uint64_t seq = 0;

		rng_state = 0x2545f4914f6cdd1dull + (uint64_t)defer;
		m.n = 0;
		for (int round = 0; round < 6; round++) {
			/* 120 keys, 160 changes a round: most puts overwrite, some deletes
			 * remove what a put of the same round wrote. */
			for (int b = 0; b < 8; b++) {
				random_batch(s, &m, ++seq, 20, 120);
				assert_cache_matches(s);
			}
			if (round % 2 == 1) { /* deferred changes are written at close */
				store_close(s);
				s = open_with(path, defer, round == 5);
				ck_assert_uint_eq(store_last_executed(s), seq);
			}
			assert_state(s, &m);
		}
		/* The last open digested every partition (verify). */
		assert_held(assert_cache_matches(s));
		store_close(s);
		assert_raw_state(path, &m);
	}
}
END_TEST

/* Loop test, each budget. A transfer into a store whose cache holds lists of partitions
 * it copies (it executed other batches first and digested them): every page written
 * drops its partition's list, built again from the copied state by the next digest;
 * both stores then execute the same batches and keep equal digests, also after the
 * receiver recomputes them all at open. The receiver defers writes or not. */
START_TEST(transfer_with_digest_cache)
{
	static struct model ma, mb;

	hc_budget = budgets[_i];
	for (int defer = 0; defer <= 1; defer++) {
		uint8_t ra[PTREE_DIGEST_LEN], rb[PTREE_DIGEST_LEN];
		char pa[320], pb[320];
		struct store *a, *b;
		uint64_t warm = 0;

		snprintf(pa, sizeof(pa), "%s/a%d", dir, defer);
		snprintf(pb, sizeof(pb), "%s/b%d", dir, defer);
		a = open_at(pa);
		b = open_with(pb, defer, 0);
		ma.n = mb.n = 0;
		rng_state = 0x9b05688c2b3e6c1full;
		for (uint64_t seq = 1; seq <= 12; seq++)
			random_batch(a, &ma, seq, 20, 200);
		rng_state = 0x1f83d9abfb41bd6bull; /* b: other values, and keys a does not have */
		for (uint64_t seq = 1; seq <= 5; seq++)
			random_batch(b, &mb, seq, 20, 400);
		assert_state(b, &mb); /* b's lists built */
		model_sort(&ma);
		for (uint64_t p = 0; p < NPART; p++) {
			uint8_t da[PTREE_DIGEST_LEN], db[PTREE_DIGEST_LEN];
			model_part_digest(&ma, p, da);
			model_part_digest(&mb, p, db);
			warm += memcmp(da, db, sizeof(da)) != 0 && store__hc_held(&b->hc, p);
		}
		if (hc_budget != 0)
			ck_assert_uint_gt(warm, 0);
		ck_assert_int_gt(transfer(a, b, 12, 300), 0);
		mb = ma;
		assert_state(b, &mb);
		for (uint64_t seq = 13; seq <= 20; seq++) {
			uint64_t same = rng_state;
			random_batch(a, &ma, seq, 15, 300);
			rng_state = same;
			random_batch(b, &mb, seq, 15, 300);
		}
		ck_assert_int_eq(store_root(a, ra), 0);
		ck_assert_int_eq(store_root(b, rb), 0);
		ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
		assert_state(b, &mb);
		assert_cache_matches(a);
		store_close(a);
		store_close(b);
		assert_raw_state(pb, &mb);
		b = open_with(pb, defer, 1);
		assert_state(b, &mb);
		assert_held(assert_cache_matches(b));
		store_close(b);
	}
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

/* Loop test, each budget. A partition whose entries are all deleted (at once, or merged
 * with puts of the same keys while deferred) digests to PTREE_EMPTY, its list (if held)
 * empty; a transfer of that empty partition empties it in the receiver too. */
START_TEST(emptied_partition_digest_cache)
{
	static struct model m;
	const uint64_t p = 5, other = 6;
	char keys[4][24], okey[1][24];
	const uint8_t v1[] = "one", v2[] = "two";
	uint8_t d[PTREE_DIGEST_LEN];

	hc_budget = budgets[_i];
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
		assert_cache_matches(s);
		/* Overwrite two and delete one; then (another batch) overwrite one more and
		 * delete them all. */
		ck_assert_int_eq(store_txn_begin(s), 0);
		for (int i = 0; i < 2; i++)
			ck_assert_int_eq(store_txn_put(s, NS_TEST, keys[i], strlen(keys[i]), v2, 3), 0);
		ck_assert_int_eq(store_txn_del(s, NS_TEST, keys[2], strlen(keys[2])), 0);
		ck_assert_int_eq(store_txn_commit(s, 2, 0), 0);
		assert_cache_matches(s);
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
		if (store__hc_held(&s->hc, p))
			ck_assert_uint_eq(s->hc.list[p]->n, 0);
		assert_state(s, &m);
		store_close(s);
		assert_raw_state(path, &m);
		s = open_with(path, defer, 1);
		ck_assert_int_eq(store_local_node(s, LEVELS, p, d), 0);
		ck_assert_mem_eq(d, PTREE_EMPTY, sizeof(d));
		assert_cache_matches(s);
		store_close(s);
	}

	/* Into a store holding entries in p (its list held, with a budget): p's copy is an
	 * empty first page. Both runs above made the same state, m. */
	struct store *a = open_at(path_a), *b;
	char path_c[320];

	snprintf(path_c, sizeof(path_c), "%s/c", dir);
	b = open_at(path_c);
	ck_assert_int_eq(store_txn_begin(b), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(store_txn_put(b, NS_TEST, keys[i], strlen(keys[i]), v2, 3), 0);
	ck_assert_int_eq(store_txn_commit(b, 1, 0), 0);
	ck_assert_int_eq(store_local_node(b, LEVELS, p, d), 0);
	ck_assert_int_eq(store__hc_held(&b->hc, p), hc_budget != 0);
	ck_assert_int_gt(transfer(a, b, 3, 4096), 0);
	ck_assert_int_eq(store_local_node(b, LEVELS, p, d), 0);
	ck_assert_mem_eq(d, PTREE_EMPTY, sizeof(d));
	assert_state(b, &m);
	store_close(a);
	store_close(b);
	assert_raw_state(path_c, &m);
}
END_TEST

/* Format 4 changed the partition digests (v2) and a format-3 database caches v1 ones
 * ('M' 'P'): it is refused, not read. */
START_TEST(format_3_database_refused)
{
	struct store_config cfg = { .path = path_a, .fanout = FANOUT, .levels = LEVELS };
	struct store *s = open_at(path_a);
	const char fkey[2] = { 'M', 'V' };
	uint8_t fval[12] = { 0, 0, 0, 3, 0, 0, 0, FANOUT, 0, 0, 0, LEVELS };
	leveldb_options_t *o;
	leveldb_writeoptions_t *w;
	leveldb_t *db;
	char *lerr = NULL, err[256];

	ck_assert_uint_eq(STORE_FORMAT_VERSION, 4);
	store_close(s);
	o = leveldb_options_create();
	w = leveldb_writeoptions_create();
	db = leveldb_open(o, path_a, &lerr);
	ck_assert_ptr_null(lerr);
	leveldb_put(db, w, fkey, sizeof(fkey), (const char *)fval, sizeof(fval), &lerr);
	ck_assert_ptr_null(lerr);
	leveldb_close(db);
	leveldb_writeoptions_destroy(w);
	leveldb_options_destroy(o);
	ck_assert_int_eq(store_open(&cfg, &s, err, sizeof(err)), STORE_ERR_FORMAT);
	ck_assert_ptr_null(s);
	ck_assert_msg(strstr(err, "database format 3, this build reads 4") != NULL, "open error: %s", err);
}
END_TEST

/* Loop test, each budget. State keys of every length up to STORE_MAX_KEY, deferred or
 * not, and by a transfer: the digests and the cached lists (a key buffer of 128 KiB for
 * the longest) follow them; reads after the write still find them. */
START_TEST(long_keys_in_digest_cache)
{
	static const size_t lens[] = { 1, 300, STORE_MAX_KEY - 1 }; /* without the ns byte */
	const size_t n = sizeof(lens) / sizeof(lens[0]);
	uint8_t *keys[3], d[PTREE_DIGEST_LEN], want[PTREE_DIGEST_LEN], root[PTREE_DIGEST_LEN];
	uint32_t per[NPART];

	hc_budget = budgets[_i];
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
			assert_cache_matches(s);
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
			if (hc_budget == budgets[NBUDGETS - 1])
				ck_assert(store__hc_held(&s->hc, p));
			free(sk);
		}
		wire_buf_free(&v);
		if (defer) { /* a transfer writes the long keys too */
			char path_c[320];
			struct store *c;
			snprintf(path_c, sizeof(path_c), "%s/c", dir);
			c = open_at(path_c);
			ck_assert_int_gt(transfer(s, c, 2, 1u << 20), 0);
			ck_assert_int_eq(store_root(c, d), 0);
			ck_assert_mem_eq(d, root, sizeof(d));
			assert_cache_matches(c);
			store_close(c);
			raw_state_counts(path_c, per);
			ck_assert_mem_eq(per, want_per, sizeof(per));
		}
		store_close(s);
		raw_state_counts(path, per);
		ck_assert_mem_eq(per, want_per, sizeof(per));
	}
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
}
END_TEST

/* One transaction of puts of keys[0..n) = value (the model follows), executed as seq. */
static void put_keys(struct store *s, struct model *m, uint64_t seq, char (*keys)[24], int n,
		     const char *value)
{
	ck_assert_int_eq(store_txn_begin(s), 0);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(store_txn_put(s, NS_TEST, keys[i], strlen(keys[i]), value,
					       strlen(value)), 0);
		model_put(m, keys[i], (const uint8_t *)value, (uint32_t)strlen(value));
	}
	ck_assert_int_eq(store_txn_commit(s, seq, 0), 0);
}

/* Partition p's digest from the store and from the model m, from scratch. */
static void assert_part(struct store *s, struct model *m, uint64_t p)
{
	uint8_t got[PTREE_DIGEST_LEN], want[PTREE_DIGEST_LEN];

	model_sort(m);
	model_part_digest(m, p, want);
	ck_assert_int_eq(store_local_node(s, LEVELS, p, got), 0);
	ck_assert_mem_eq(got, want, sizeof(got));
}

/* The cache, white box: a digest of a partition whose list is held reads no LevelDB
 * (a value changed behind the store's back shows only once the list is dropped); a
 * list that an insert would take over the budget is dropped by the write, one that
 * outgrows it while built is not kept, and one that fits again is built again; with
 * no budget there is no table. */
START_TEST(digest_cache_budget)
{
	static struct model m;
	const uint64_t p = 7;
	char keys[5][24], *lerr = NULL;
	uint8_t sk[32];
	struct store *s;
	size_t fit, klen;

	ck_assert_int_eq(keys_of_partition(p, "b-", keys, 5), 5);
	hc_budget = budgets[NBUDGETS - 1];
	s = open_at(path_a);
	m.n = 0;
	put_keys(s, &m, 1, keys, 4, "v1");
	assert_part(s, &m, p);
	ck_assert_uint_eq(assert_cache_matches(s), 1); /* p's, the one partition digested */
	ck_assert(store__hc_held(&s->hc, p));
	fit = s->hc.bytes;
	/* keys[0] = "zz" in LevelDB, not through the store; p marked to be digested. */
	klen = strlen(keys[0]);
	sk[0] = 'S';
	sk[1] = sk[2] = sk[3] = 0;
	sk[4] = (uint8_t)p;
	sk[5] = NS_TEST;
	memcpy(sk + 6, keys[0], klen);
	leveldb_put(s->ldb.db, s->ldb.wo_nosync, (const char *)sk, 6 + klen, "zz", 2, &lerr);
	ck_assert_ptr_null(lerr);
	ck_assert_int_eq(ptree_mark(&s->tree, p), 0);
	assert_part(s, &m, p); /* from the list: "v1" */
	store__hc_drop(&s->hc, p);
	ck_assert_int_eq(ptree_mark(&s->tree, p), 0);
	model_put(&m, keys[0], (const uint8_t *)"zz", 2);
	assert_part(s, &m, p); /* from LevelDB: "zz", and the list built again */
	ck_assert(store__hc_held(&s->hc, p));
	assert_cache_matches(s);
	store_close(s);

	/* A budget of exactly that list: a fifth key needs a larger entry array. */
	hc_budget = fit;
	s = open_at(path_b);
	m.n = 0;
	put_keys(s, &m, 1, keys, 4, "v1");
	assert_part(s, &m, p);
	ck_assert(store__hc_held(&s->hc, p));
	ck_assert_uint_eq(s->hc.bytes, fit);
	put_keys(s, &m, 2, keys + 1, 4, "v2"); /* three overwrites, one insert */
	ck_assert(!store__hc_held(&s->hc, p));
	ck_assert_uint_eq(s->hc.bytes, 0);
	assert_part(s, &m, p);
	ck_assert(!store__hc_held(&s->hc, p)); /* the scan's list outgrew the budget */
	assert_cache_matches(s);
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_del(s, NS_TEST, keys[4], strlen(keys[4])), 0);
	ck_assert_int_eq(store_txn_commit(s, 3, 0), 0);
	model_del(&m, keys[4]);
	assert_part(s, &m, p);
	ck_assert(store__hc_held(&s->hc, p)); /* four keys fit again */
	assert_cache_matches(s);
	store_close(s);

	hc_budget = 0; /* every digest from LevelDB, at open (verify) and after a write */
	s = open_with(path_b, 0, 1);
	ck_assert_ptr_null(s->hc.list);
	assert_part(s, &m, p);
	put_keys(s, &m, 4, keys, 2, "v3");
	assert_part(s, &m, p);
	ck_assert_uint_eq(s->hc.bytes, 0);
	store_close(s);
}
END_TEST

/* The size of the newest LevelDB log file ("<number>.log") of the database at path. */
static off_t ldb_log_size(const char *path)
{
	char file[400];
	unsigned long best = 0, num;
	struct dirent *e;
	struct stat st;
	int found = 0;
	DIR *d = opendir(path);

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL) {
		char ext[8];
		if (sscanf(e->d_name, "%lu.%7s", &num, ext) == 2 && strcmp(ext, "log") == 0 &&
		    (!found || num > best)) {
			best = num;
			found = 1;
		}
	}
	closedir(d);
	ck_assert(found);
	snprintf(file, sizeof(file), "%s/%06lu.log", path, best);
	ck_assert_int_eq(stat(file, &st), 0);
	return st.st_size;
}

/* A LevelDB write that fails (RLIMIT_FSIZE at the size of LevelDB's log file, so that
 * the log cannot grow) leaves the cached lists as they were, equal to LevelDB's
 * unchanged state, and their digests the state's before the batch; once the file may
 * grow, the next write (the batch again, when deferred) succeeds and the lists follow
 * it. No Check assertion runs while the limit is on: Check writes to a file too. The
 * database is not opened again afterwards (LevelDB's log writer is left out of step
 * with its file). */
START_TEST(failed_write_keeps_digest_cache)
{
	static struct model m, before;

	hc_budget = budgets[NBUDGETS - 1];
	for (int defer = 0; defer <= 1; defer++) {
		const char *path = defer ? path_b : path_a;
		struct store *s = open_with(path, defer, 0);
		struct rlimit old, lim;
		void (*old_sig)(int);
		uint64_t seq = 0;
		int rc_set, rc_restore, rc_commit, rc_flush = 0;

		rng_state = 0x5851f42d4c957f2dull + (uint64_t)defer;
		m.n = 0;
		for (int b = 0; b < 6; b++)
			random_batch(s, &m, ++seq, 30, 150);
		assert_state(s, &m); /* written, and every changed partition's list built */
		ck_assert_uint_gt(assert_cache_matches(s), 0);
		before = m;
		/* Overwrites, new keys and deletes, in partitions whose lists are held. */
		random_ops(s, &m, 40, 200);
		ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
		lim = old;
		lim.rlim_cur = (rlim_t)ldb_log_size(path);
		old_sig = signal(SIGXFSZ, SIG_IGN);
		rc_set = setrlimit(RLIMIT_FSIZE, &lim);
		rc_commit = store_txn_commit(s, seq + 1, 0);
		if (defer)
			rc_flush = store_flush(s, 0);
		rc_restore = setrlimit(RLIMIT_FSIZE, &old);
		signal(SIGXFSZ, old_sig);
		ck_assert_int_eq(rc_set, 0);
		ck_assert_int_eq(rc_restore, 0);
		if (defer) { /* merged, then its write failed */
			ck_assert_int_eq(rc_commit, 0);
			ck_assert_int_eq(rc_flush, STORE_ERR_IO);
			ck_assert_uint_eq(store_last_executed(s), seq + 1);
		} else {
			ck_assert_int_eq(rc_commit, STORE_ERR_IO);
			ck_assert_uint_eq(store_last_executed(s), seq);
		}
		ck_assert_msg(strstr(store_last_error(s), "write") != NULL, "last error: %s",
			      store_last_error(s));
		/* The lists are LevelDB's state, and the state before the batch. */
		ck_assert_uint_gt(assert_cache_matches(s), 0);
		model_sort(&before);
		for (uint64_t p = 0; p < NPART; p++) {
			uint8_t got[PTREE_DIGEST_LEN], want[PTREE_DIGEST_LEN];
			if (!store__hc_held(&s->hc, p))
				continue;
			ck_assert_int_eq(store__hc_digest(&s->hc, p, got), 0);
			model_part_digest(&before, p, want);
			ck_assert_mem_eq(got, want, sizeof(got));
		}
		if (!defer) {
			/* Every partition digested again, from the lists: the state before. */
			for (uint64_t p = 0; p < NPART; p++)
				ck_assert_int_eq(ptree_mark(&s->tree, p), 0);
			assert_state(s, &before);
			m = before; /* the batch was not executed: another one is */
			random_batch(s, &m, ++seq, 40, 200);
		}
		/* Deferred: the batch is still pending, and this flush writes it. */
		assert_state(s, &m);
		store_close(s);
	}
}
END_TEST

static Suite *store_digest_suite(void)
{
	Suite *s = suite_create("store_digest");
	TCase *tc = tcase_create("digest");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, digest_matches_recomputation, 0, NBUDGETS);
	tcase_add_test(tc, snapshot_serves_checkpoint);
	tcase_add_loop_test(tc, transfer_into_empty_and_diverged, 0, NBUDGETS);
	tcase_add_loop_test(tc, transfer_wrong_digest_fails_and_retries, 0, NBUDGETS);
	tcase_add_test(tc, malformed_pages_change_nothing);
	tcase_add_test(tc, page_holds_one_big_entry);
	tcase_add_test(tc, checkpoint_limit);
	tcase_add_loop_test(tc, digest_cache_follows_writes, 0, NBUDGETS);
	tcase_add_loop_test(tc, transfer_with_digest_cache, 0, NBUDGETS);
	tcase_add_loop_test(tc, emptied_partition_digest_cache, 0, NBUDGETS);
	tcase_add_test(tc, format_3_database_refused);
	tcase_add_loop_test(tc, long_keys_in_digest_cache, 0, NBUDGETS);
	tcase_add_test(tc, digest_cache_budget);
	tcase_add_test(tc, failed_write_keeps_digest_cache);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(store_digest_suite)
