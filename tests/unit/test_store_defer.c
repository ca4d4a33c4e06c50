/* test_store_defer.c: replica/store with deferred writes (store_config.defer_writes):
 * reads see deferred batches, nothing reaches LevelDB before a flush, and what a flush,
 * a synced commit, the size bound, store_close, a checkpoint and a state transfer write;
 * the dirty marks that keep cached digests right across a crash, deferred or not; the
 * recent flushes kept in memory (store_config.recent_bytes): newest first, bounded,
 * forgotten when a transfer writes the state. Every deferring store here keeps them. */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_client_table.h"
#include "tests/unit/test_tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <leveldb/c.h>

#include "replica/core/ptree.h"
#include "replica/store/store.h"
#include "replica/store/store_int.h"

#define NS_TEST ((uint8_t)'T')
#define FANOUT 4u
#define LEVELS 2u
#define NPART 16u /* FANOUT^LEVELS */
#define NOPS(a) (sizeof(a) / sizeof((a)[0]))
#define RECENT_BYTES (1u << 20) /* recent flushes kept by a deferring store */

static char path_a[300], path_b[300];

static void setup(void)
{
	tmp_setup();
	snprintf(path_a, sizeof(path_a), "%s/a", dir);
	snprintf(path_b, sizeof(path_b), "%s/b", dir);
}

/* Open (creating it) the store at path, deferring writes if defer, recomputing every
 * digest if verify, writing the digests at every persist-th checkpoint. The error is
 * returned, not asserted: crash children use it. */
static int try_open_persist(const char *path, int defer, int verify, uint32_t persist,
			    struct store **out)
{
	struct store_config cfg = { .path = path, .fanout = FANOUT, .levels = LEVELS, .create = 1,
				    .verify = verify, .defer_writes = defer,
				    .recent_bytes = RECENT_BYTES, .digest_persist_every = persist };

	return store_open(&cfg, out, NULL, 0);
}

static int try_open(const char *path, int defer, int verify, struct store **out)
{
	return try_open_persist(path, defer, verify, 0, out);
}

static struct store *open_recent(const char *path, int defer, int verify, size_t recent)
{
	struct store_config cfg = { .path = path, .fanout = FANOUT, .levels = LEVELS, .create = 1,
				    .verify = verify, .defer_writes = defer, .recent_bytes = recent };
	struct store *s = NULL;
	char err[256];
	int rc = store_open(&cfg, &s, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open: %s (%s)", store_strerror(rc), err);
	return s;
}

static struct store *open_at(const char *path, int defer, int verify)
{
	return open_recent(path, defer, verify, RECENT_BYTES);
}

/* ---------------------------------------------------------------- crashes */
/* A crash is a forked child that works on a store and ends with _exit without closing
 * it: what LevelDB wrote stays with the OS, as after a process crash, and what the store
 * kept in memory is gone. The parent then opens the same folder. A child reports a
 * failure with CHILD_CHECK (Check's assertions belong to the test process) and must not
 * write after LevelDB's memtable has filled (4 MiB): such a write waits for a compaction
 * on LevelDB's background thread, which fork() does not copy if the parent started it. */
#define CHILD_CHECK(cond)                                                              \
	do {                                                                           \
		if (!(cond)) {                                                         \
			fprintf(stderr, "%s:%d: crash child: %s\n", __FILE__, __LINE__, \
				#cond);                                                \
			_exit(1);                                                      \
		}                                                                      \
	} while (0)

static void crash_run(void (*fn)(void *arg), void *arg)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "crash child failed (wait status %d), its message is above", status);
}

/* Read the closed database at path with LevelDB itself: its number of state entries ('S'
 * keys, store.h "Key layout"), its number of dirty marks ('M' 'D') and its last executed
 * seq ('M' 'E'; 0 when absent). */
static void raw_scan_marks(const char *path, size_t *state, size_t *marks, uint64_t *executed)
{
	leveldb_options_t *o = leveldb_options_create();
	leveldb_readoptions_t *r = leveldb_readoptions_create();
	leveldb_iterator_t *it;
	leveldb_t *db;
	char *err = NULL, *v;
	size_t vlen;

	db = leveldb_open(o, path, &err);
	ck_assert_msg(err == NULL, "leveldb_open: %s", err != NULL ? err : "");
	*state = *marks = 0;
	it = leveldb_create_iterator(db, r);
	for (leveldb_iter_seek(it, "MD", 2); leveldb_iter_valid(it); leveldb_iter_next(it)) {
		size_t klen;
		const char *k = leveldb_iter_key(it, &klen);
		if (klen >= 2 && k[0] == 'M' && k[1] == 'D')
			(*marks)++;
		else if (klen > 0 && k[0] == 'S')
			(*state)++;
		else if (klen == 0 || k[0] > 'S')
			break;
	}
	leveldb_iter_get_error(it, &err);
	ck_assert_ptr_null(err);
	leveldb_iter_destroy(it);
	*executed = 0;
	v = leveldb_get(db, r, "ME", 2, &vlen, &err);
	ck_assert_ptr_null(err);
	if (v != NULL) {
		ck_assert_uint_eq(vlen, 8);
		for (size_t i = 0; i < 8; i++)
			*executed = *executed << 8 | (uint8_t)v[i];
		leveldb_free(v);
	}
	leveldb_close(db);
	leveldb_readoptions_destroy(r);
	leveldb_options_destroy(o);
}

static void raw_scan(const char *path, size_t *state, uint64_t *executed)
{
	size_t marks;

	raw_scan_marks(path, state, &marks, executed);
}

static size_t raw_marks(const char *path)
{
	size_t state, marks;
	uint64_t executed;

	raw_scan_marks(path, &state, &marks, &executed);
	return marks;
}

/* ---------------------------------------------------------------- batches and reads */
/* One change of a batch: key = val, or a delete of key when val is NULL. */
struct op {
	const char *key;
	const char *val;
};

/* Execute batch seq of n ops in s. 0 or the first store error (crash children use it). */
static int exec(struct store *s, uint64_t seq, const struct op *ops, size_t n, int sync)
{
	int rc = store_txn_begin(s);

	if (rc != 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *k = ops[i].key;
		if (ops[i].val != NULL)
			rc = store_txn_put(s, NS_TEST, k, strlen(k), ops[i].val, strlen(ops[i].val));
		else
			rc = store_txn_del(s, NS_TEST, k, strlen(k));
	}
	if (rc != 0) {
		store_txn_abort(s);
		return rc;
	}
	return store_txn_commit(s, seq, sync);
}

/* 1 if store_get reads want for key (NULL: the key is absent). */
static int has_value(struct store *s, const char *key, const char *want)
{
	struct wire_buf v;
	int rc, ok;

	wire_buf_init(&v);
	rc = store_get(s, NS_TEST, key, strlen(key), &v);
	if (want == NULL)
		ok = rc == STORE_ERR_NOT_FOUND;
	else
		ok = rc == 0 && v.len == strlen(want) && memcmp(v.p, want, v.len) == 0;
	wire_buf_free(&v);
	return ok;
}

static void expect_value(struct store *s, const char *key, const char *want)
{
	struct wire_buf v;
	int rc;

	wire_buf_init(&v);
	rc = store_get(s, NS_TEST, key, strlen(key), &v);
	if (want == NULL) {
		ck_assert_msg(rc == STORE_ERR_NOT_FOUND, "%s: store_get gave %d, expected absent",
			      key, rc);
	} else {
		ck_assert_msg(rc == 0, "%s: %s, expected \"%s\"", key, store_strerror(rc), want);
		ck_assert_msg(v.len == strlen(want) && memcmp(v.p, want, v.len) == 0,
			      "%s: got \"%.*s\", expected \"%s\"", key, (int)v.len,
			      v.p != NULL ? (const char *)v.p : "", want);
	}
	wire_buf_free(&v);
}

/* A new transaction reads want for key (NULL: absent); it is then aborted. */
static void expect_txn_value(struct store *s, const char *key, const char *want)
{
	const uint8_t *v;
	size_t vlen;

	ck_assert_int_eq(store_txn_begin(s), 0);
	if (want == NULL) {
		ck_assert_int_eq(store_txn_get(s, NS_TEST, key, strlen(key), &v, &vlen),
				 STORE_ERR_NOT_FOUND);
	} else {
		ck_assert_int_eq(store_txn_get(s, NS_TEST, key, strlen(key), &v, &vlen), 0);
		ck_assert_msg(vlen == strlen(want) && memcmp(v, want, vlen) == 0,
			      "%s: transaction read %zu bytes, expected \"%s\"", key, vlen, want);
	}
	store_txn_abort(s);
}


static void expect_root(struct store *s, const uint8_t want[WIRE_DIGEST_LEN], const char *what)
{
	uint8_t d[WIRE_DIGEST_LEN];

	ck_assert_int_eq(store_root(s, d), 0);
	ck_assert_msg(memcmp(d, want, sizeof(d)) == 0, "root differs: %s", what);
}

/* The root of the database at path from its cached digests, which must equal a
 * recomputation from scratch (an open with verify); returned in root. */
static void cached_root_is_true(const char *path, uint8_t root[WIRE_DIGEST_LEN])
{
	struct store *s = open_at(path, 0, 0);

	ck_assert_int_eq(store_root(s, root), 0);
	store_close(s);
	s = open_at(path, 0, 1);
	expect_root(s, root, "cached digests against a full recomputation");
	store_close(s);
}

/* ---------------------------------------------------------------- random workload */
static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

/* Batch seq of `ops` random puts and deletes over keys "key-0".."key-<nkeys-1>",
 * executed alike in each of the n stores. 0 or the first store error (crash children
 * use it; after an error a store may keep its transaction open). */
static int random_batch(struct store *const *s, size_t n, uint64_t seq, int ops, uint32_t nkeys)
{
	char key[32];
	uint8_t val[64];
	int rc = 0;

	for (size_t j = 0; j < n && rc == 0; j++)
		rc = store_txn_begin(s[j]);
	for (int i = 0; i < ops && rc == 0; i++) {
		int kl = snprintf(key, sizeof(key), "key-%u", rnd(nkeys));
		int del = rnd(4) == 0;
		uint32_t vlen = 1 + rnd(sizeof(val) - 1);
		for (uint32_t b = 0; b < vlen; b++)
			val[b] = (uint8_t)rnd(256);
		for (size_t j = 0; j < n && rc == 0; j++)
			rc = del ? store_txn_del(s[j], NS_TEST, key, (size_t)kl)
				 : store_txn_put(s[j], NS_TEST, key, (size_t)kl, val, vlen);
	}
	for (size_t j = 0; j < n && rc == 0; j++)
		rc = store_txn_commit(s[j], seq, 0);
	return rc;
}

/* a and b read alike every key random_batch may have written. */
static void expect_same_values(struct store *a, struct store *b, uint32_t nkeys)
{
	struct wire_buf va, vb;
	char key[32];

	wire_buf_init(&va);
	wire_buf_init(&vb);
	for (uint32_t i = 0; i < nkeys; i++) {
		int kl = snprintf(key, sizeof(key), "key-%u", i);
		int ra = store_get(a, NS_TEST, key, (size_t)kl, &va);
		int rb = store_get(b, NS_TEST, key, (size_t)kl, &vb);
		ck_assert_msg(ra == rb, "%s: store_get gave %d and %d", key, ra, rb);
		if (ra == 0)
			ck_assert_msg(va.len == vb.len && memcmp(va.p, vb.p, va.len) == 0,
				      "%s: values differ", key);
	}
	wire_buf_free(&va);
	wire_buf_free(&vb);
}

/* Checkpoint ckpt of a and of b: the same tree node by node and the same partition
 * contents. Returns the number of entries served. */
static uint32_t expect_same_checkpoint(struct store *a, struct store *b, uint64_t ckpt)
{
	struct wire_buf ba, bb;
	uint32_t na, nb, total = 0;
	uint64_t width = 1;
	int ma, mb;

	wire_buf_init(&ba);
	wire_buf_init(&bb);
	for (uint32_t level = 0; level < LEVELS; level++, width *= FANOUT)
		for (uint64_t i = 0; i < width; i++) {
			wire_buf_reset(&ba);
			wire_buf_reset(&bb);
			ck_assert_int_eq(store_tree_node(a, ckpt, level, i, &ba, &na), 0);
			ck_assert_int_eq(store_tree_node(b, ckpt, level, i, &bb, &nb), 0);
			ck_assert_uint_eq(na, nb);
			ck_assert_msg(ba.len == bb.len && memcmp(ba.p, bb.p, ba.len) == 0,
				      "checkpoint %llu: node (%u, %llu) differs",
				      (unsigned long long)ckpt, level, (unsigned long long)i);
		}
	/* One page per partition: the workload's partitions hold a few KiB. */
	for (uint64_t p = 0; p < NPART; p++) {
		wire_buf_reset(&ba);
		wire_buf_reset(&bb);
		ck_assert_int_eq(store_read_partition(a, ckpt, p, (struct wire_bytes){ NULL, 0 },
						      1u << 20, &ba, &na, &ma), 0);
		ck_assert_int_eq(store_read_partition(b, ckpt, p, (struct wire_bytes){ NULL, 0 },
						      1u << 20, &bb, &nb, &mb), 0);
		ck_assert_int_eq(ma, 0);
		ck_assert_int_eq(mb, 0);
		ck_assert_uint_eq(na, nb);
		ck_assert_msg(ba.len == bb.len && (ba.len == 0 || memcmp(ba.p, bb.p, ba.len) == 0),
			      "checkpoint %llu: partition %llu differs", (unsigned long long)ckpt,
			      (unsigned long long)p);
		total += na;
	}
	wire_buf_free(&ba);
	wire_buf_free(&bb);
	return total;
}

/* ---------------------------------------------------------------- reads */
/* Batch 1 puts a, b and gone; batch 2 overwrites a, adds c and deletes gone. */
static const struct op rd_b1[] = { { "a", "1" }, { "b", "2" }, { "gone", "old" } };
static const struct op rd_b2[] = { { "a", "10" }, { "c", "3" }, { "gone", NULL } };

START_TEST(reads_see_deferred_changes)
{
	struct store *s = open_at(path_a, 1, 0);
	uint8_t ck[WIRE_KEY_LEN];
	const uint8_t *v;
	size_t vlen;

	ck_assert_int_eq(exec(s, 1, rd_b1, NOPS(rd_b1), 1), 0); /* synced: written at once */
	ck_assert_int_eq(exec(s, 2, rd_b2, NOPS(rd_b2), 0), 0); /* deferred */
	ck_assert_uint_eq(store_last_executed(s), 2);
	/* "gone" is still "old" in LevelDB (batch 1 was written): the deferred delete hides it. */
	expect_value(s, "a", "10");
	expect_value(s, "b", "2");
	expect_value(s, "c", "3");
	expect_value(s, "gone", NULL);
	expect_txn_value(s, "a", "10");
	expect_txn_value(s, "c", "3");
	expect_txn_value(s, "gone", NULL);
	/* A transaction's own writes win over the deferred ones, and only it sees them. */
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_put(s, NS_TEST, "a", 1, "12", 2), 0);
	ck_assert_int_eq(store_txn_get(s, NS_TEST, "a", 1, &v, &vlen), 0);
	ck_assert(vlen == 2 && memcmp(v, "12", 2) == 0);
	expect_value(s, "a", "10");
	store_txn_abort(s);
	/* Seq is checked against the last executed seq in memory. */
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_commit(s, 2, 0), STORE_ERR_SEQ);

	/* Client table entries, deferred, read back; a later one replaces the earlier. */
	tc_client_key(ck, 1);
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_client_put(s, ck, 0, 7, "r7", 2), 0);
	ck_assert_int_eq(store_txn_commit(s, 3, 0), 0);
	tc_expect_client(s, 1, 0, 7, "r7");
	tc_expect_client(s, 1, 1, 0, NULL);
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_client_put(s, ck, 0, 8, "r8", 2), 0);
	ck_assert_int_eq(store_txn_client_put(s, ck, 1, 2, "lane1", 5), 0);
	ck_assert_int_eq(store_txn_commit(s, 4, 0), 0);
	tc_expect_client(s, 1, 0, 8, "r8");
	tc_expect_client(s, 1, 1, 2, "lane1");
	ck_assert_uint_eq(store_last_executed(s), 4);

	/* After a flush the same reads come from LevelDB. */
	ck_assert_int_eq(store_flush(s, 0), 0);
	expect_value(s, "a", "10");
	expect_value(s, "gone", NULL);
	expect_txn_value(s, "c", "3");
	tc_expect_client(s, 1, 0, 8, "r8");
	ck_assert_uint_eq(store_last_executed(s), 4);
	store_close(s);
}
END_TEST

/* ---------------------------------------------------------------- nothing before a flush */
static const struct op nf_b3[] = { { "d", "4" } };

static void nothing_flushed_child(void *arg)
{
	struct store *s;

	(void)arg;
	CHILD_CHECK(try_open(path_a, 1, 0, &s) == 0);
	CHILD_CHECK(exec(s, 1, rd_b1, NOPS(rd_b1), 0) == 0);
	CHILD_CHECK(exec(s, 2, rd_b2, NOPS(rd_b2), 0) == 0);
	CHILD_CHECK(has_value(s, "a", "10") && has_value(s, "gone", NULL));
	CHILD_CHECK(store_last_executed(s) == 2);
}

static void flushed_once_child(void *arg)
{
	struct store *s;

	(void)arg;
	CHILD_CHECK(try_open(path_a, 1, 0, &s) == 0);
	CHILD_CHECK(exec(s, 1, rd_b1, NOPS(rd_b1), 0) == 0);
	CHILD_CHECK(store_flush(s, 0) == 0);
	CHILD_CHECK(exec(s, 2, rd_b2, NOPS(rd_b2), 0) == 0);
	CHILD_CHECK(exec(s, 3, nf_b3, NOPS(nf_b3), 0) == 0);
	CHILD_CHECK(has_value(s, "gone", NULL) && has_value(s, "d", "4"));
	CHILD_CHECK(store_last_executed(s) == 3);
}

START_TEST(nothing_reaches_leveldb_before_a_flush)
{
	struct store *s;
	size_t state;
	uint64_t executed;

	/* Two deferred batches, then a crash: LevelDB holds no state entry and no seq. */
	crash_run(nothing_flushed_child, NULL);
	raw_scan(path_a, &state, &executed);
	ck_assert_uint_eq(state, 0);
	ck_assert_uint_eq(executed, 0);
	s = open_at(path_a, 1, 0);
	ck_assert_uint_eq(store_last_executed(s), 0);
	expect_value(s, "a", NULL);
	expect_value(s, "c", NULL);
	store_close(s);

	/* Batch 1 flushed, 2 and 3 deferred, then a crash: the state of the flush only;
	 * "gone", deleted by batch 2, is still in LevelDB. */
	crash_run(flushed_once_child, NULL);
	raw_scan(path_a, &state, &executed);
	ck_assert_uint_eq(state, 3);
	ck_assert_uint_eq(executed, 1);
	s = open_at(path_a, 1, 0);
	ck_assert_uint_eq(store_last_executed(s), 1);
	expect_value(s, "a", "1");
	expect_value(s, "b", "2");
	expect_value(s, "gone", "old");
	expect_value(s, "c", NULL);
	expect_value(s, "d", NULL);
	store_close(s);
}
END_TEST

/* ---------------------------------------------------------------- store_flush */
/* Batch 1 is written at once (synced); 2..4 are deferred and flushed together; 5, empty,
 * is flushed alone (last executed only); 6 is deferred and lost. Across batches: k is
 * overwritten, dp deleted then put again, pd (on disk) and nd (new) put then deleted;
 * batch 4 is empty. */
static const struct op fl_b1[] = { { "dp", "old" }, { "pd", "old" }, { "keep", "1" } };
static const struct op fl_b2[] = { { "k", "b1" }, { "dp", NULL }, { "pd", "x" }, { "nd", "y" } };
static const struct op fl_b3[] = { { "k", "b2" }, { "dp", "new" }, { "pd", NULL }, { "nd", NULL } };
static const struct op fl_b6[] = { { "k", "b6" }, { "lost", "6" } };

static void flush_child(void *arg)
{
	struct store *s;

	(void)arg;
	CHILD_CHECK(try_open(path_a, 1, 0, &s) == 0);
	CHILD_CHECK(exec(s, 1, fl_b1, NOPS(fl_b1), 1) == 0);
	CHILD_CHECK(exec(s, 2, fl_b2, NOPS(fl_b2), 0) == 0);
	CHILD_CHECK(exec(s, 3, fl_b3, NOPS(fl_b3), 0) == 0);
	CHILD_CHECK(exec(s, 4, NULL, 0, 0) == 0);
	CHILD_CHECK(store_flush(s, 0) == 0);
	CHILD_CHECK(store_flush(s, 1) == 0); /* nothing left: no-op */
	CHILD_CHECK(exec(s, 5, NULL, 0, 0) == 0);
	CHILD_CHECK(store_flush(s, 0) == 0);
	CHILD_CHECK(exec(s, 6, fl_b6, NOPS(fl_b6), 0) == 0);
}

START_TEST(flush_writes_every_deferred_change)
{
	uint8_t root[WIRE_DIGEST_LEN];
	struct store *s;
	size_t state;
	uint64_t executed;

	crash_run(flush_child, NULL);
	raw_scan(path_a, &state, &executed);
	ck_assert_uint_eq(executed, 5);
	ck_assert_uint_eq(state, 3); /* keep, k, dp */
	s = open_at(path_a, 1, 0);
	ck_assert_uint_eq(store_last_executed(s), 5);
	expect_value(s, "k", "b2");
	expect_value(s, "dp", "new");
	expect_value(s, "pd", NULL);
	expect_value(s, "nd", NULL);
	expect_value(s, "keep", "1");
	expect_value(s, "lost", NULL);
	store_close(s);
	cached_root_is_true(path_a, root);

	/* A store that wrote each batch at once holds the same state; for it store_flush has
	 * nothing to do. */
	s = open_at(path_b, 0, 0);
	ck_assert_int_eq(exec(s, 1, fl_b1, NOPS(fl_b1), 0), 0);
	ck_assert_int_eq(exec(s, 2, fl_b2, NOPS(fl_b2), 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	ck_assert_int_eq(exec(s, 3, fl_b3, NOPS(fl_b3), 0), 0);
	ck_assert_int_eq(exec(s, 4, NULL, 0, 0), 0);
	ck_assert_int_eq(store_flush(s, 1), 0);
	ck_assert_int_eq(exec(s, 5, NULL, 0, 0), 0);
	ck_assert_uint_eq(store_last_executed(s), 5);
	expect_root(s, root, "deferred-then-flushed against written at once");
	store_close(s);
}
END_TEST

/* ---------------------------------------------------------------- checkpoints */
START_TEST(checkpoint_and_root_flush_first)
{
	struct store *a = open_at(path_a, 1, 0), *b = open_at(path_b, 0, 0);
	struct store *both[2] = { a, b };
	uint8_t da[WIRE_DIGEST_LEN], db[WIRE_DIGEST_LEN];
	uint64_t seq;

	rng_state = 0x2545f4914f6cdd1dull;
	for (seq = 1; seq <= 40; seq++) {
		ck_assert_int_eq(random_batch(both, 2, seq, 20, 150), 0);
		if (seq % 7 == 0) {
			ck_assert_int_eq(store_root(a, da), 0);
			ck_assert_int_eq(store_root(b, db), 0);
			ck_assert_msg(memcmp(da, db, sizeof(da)) == 0, "root differs at seq %llu",
				      (unsigned long long)seq);
		}
		if (seq % 5 != 0)
			continue;
		ck_assert_int_eq(store_checkpoint(a, seq, da), 0);
		ck_assert_int_eq(store_checkpoint(b, seq, db), 0);
		ck_assert_msg(memcmp(da, db, sizeof(da)) == 0, "checkpoint %llu digest differs",
			      (unsigned long long)seq);
		ck_assert_uint_gt(expect_same_checkpoint(a, b, seq), 0);
		/* The previous checkpoint's snapshot still serves its own state, although
		 * deferred batches were written since. */
		if (seq > 5)
			expect_same_checkpoint(a, b, seq - 5);
		store_release(a, seq - 5);
		store_release(b, seq - 5);
	}
	/* Batches after the last checkpoint stay deferred: reads agree all the same. */
	for (; seq <= 43; seq++)
		ck_assert_int_eq(random_batch(both, 2, seq, 20, 150), 0);
	expect_same_values(a, b, 150);
	ck_assert_int_eq(store_root(b, db), 0);
	expect_root(a, db, "after batches past the last checkpoint");
	store_close(a);
	store_close(b);
}
END_TEST

/* ---------------------------------------------------------------- synced commit */
static const struct op sy_b1[] = { { "a", "1" } };
static const struct op sy_b2[] = { { "b", "2" }, { "a", "2" } };
static const struct op sy_b3[] = { { "c", "3" } };

static void sync_child(void *arg)
{
	struct store *s;

	(void)arg;
	CHILD_CHECK(try_open(path_a, 1, 0, &s) == 0);
	CHILD_CHECK(exec(s, 1, sy_b1, NOPS(sy_b1), 0) == 0);
	CHILD_CHECK(exec(s, 2, sy_b2, NOPS(sy_b2), 1) == 0);
	CHILD_CHECK(exec(s, 3, sy_b3, NOPS(sy_b3), 0) == 0);
}

START_TEST(synced_commit_flushes_at_once)
{
	struct store *s;

	crash_run(sync_child, NULL);
	s = open_at(path_a, 1, 0);
	ck_assert_uint_eq(store_last_executed(s), 2);
	expect_value(s, "a", "2");
	expect_value(s, "b", "2");
	expect_value(s, "c", NULL);
	store_close(s);
}
END_TEST

/* ---------------------------------------------------------------- the size bound */
/* Two values of just over half the bound: the first waits, the second goes over. */
#define BIG ((size_t)STORE_DEFER_MAX_BYTES / 2u + 4096u)
_Static_assert(BIG <= STORE_MAX_VALUE, "BIG must be a valid state value");

/* Execute batch seq putting key = BIG bytes of fill. */
static int put_big(struct store *s, uint64_t seq, const char *key, uint8_t fill)
{
	uint8_t *v = malloc(BIG);
	int rc;

	if (v == NULL)
		return STORE_ERR_NOMEM;
	memset(v, fill, BIG);
	rc = store_txn_begin(s);
	if (rc == 0) {
		rc = store_txn_put(s, NS_TEST, key, strlen(key), v, BIG);
		if (rc == 0)
			rc = store_txn_commit(s, seq, 0);
		else
			store_txn_abort(s);
	}
	free(v);
	return rc;
}

static void big_child(void *arg)
{
	const int *nbig = arg;
	static const struct op after[] = { { "small", "1" } };
	struct store *s;

	CHILD_CHECK(try_open(path_a, 1, 0, &s) == 0);
	CHILD_CHECK(put_big(s, 1, "big1", 0x11) == 0);
	if (*nbig == 1)
		return;
	CHILD_CHECK(put_big(s, 2, "big2", 0x22) == 0);
	CHILD_CHECK(exec(s, 3, after, NOPS(after), 0) == 0);
}

static void expect_big(struct store *s, const char *key, uint8_t fill)
{
	struct wire_buf v;
	size_t i;

	wire_buf_init(&v);
	ck_assert_int_eq(store_get(s, NS_TEST, key, strlen(key), &v), 0);
	ck_assert_uint_eq(v.len, BIG);
	for (i = 0; i < BIG && v.p[i] == fill; i++)
		;
	ck_assert_msg(i == BIG, "%s: byte %zu is 0x%02x, not 0x%02x", key, i, i < BIG ? v.p[i] : 0,
		      fill);
	wire_buf_free(&v);
}

START_TEST(size_bound_flushes_by_itself)
{
	struct store *s;
	size_t state;
	uint64_t executed;
	int nbig = 1;

	/* Below the bound the batch waits in memory: lost in a crash. */
	crash_run(big_child, &nbig);
	raw_scan(path_a, &state, &executed);
	ck_assert_uint_eq(state, 0);
	ck_assert_uint_eq(executed, 0);
	/* Over it, the commit writes every deferred change without being asked; the next
	 * batch is deferred again. */
	nbig = 2;
	crash_run(big_child, &nbig);
	s = open_at(path_a, 0, 0);
	ck_assert_uint_eq(store_last_executed(s), 2);
	expect_big(s, "big1", 0x11);
	expect_big(s, "big2", 0x22);
	expect_value(s, "small", NULL);
	store_close(s);
}
END_TEST

/* ---------------------------------------------------------------- store_close */
START_TEST(close_writes_deferred_changes)
{
	static const struct op b1[] = { { "a", "1" }, { "b", "2" } };
	static const struct op b2[] = { { "a", "3" }, { "b", NULL }, { "c", "4" } };
	uint8_t root[WIRE_DIGEST_LEN];
	struct store *s = open_at(path_a, 1, 0);
	size_t state;
	uint64_t executed;

	ck_assert_int_eq(exec(s, 1, b1, NOPS(b1), 1), 0);
	ck_assert_int_eq(exec(s, 2, b2, NOPS(b2), 0), 0);
	ck_assert_int_eq(exec(s, 3, NULL, 0, 0), 0);
	ck_assert_int_eq(store_root(s, root), 0); /* flushes 2 and 3 */
	ck_assert_int_eq(exec(s, 4, b1, NOPS(b1), 0), 0);
	ck_assert_int_eq(exec(s, 5, NULL, 0, 0), 0);
	store_close(s);

	raw_scan(path_a, &state, &executed);
	ck_assert_uint_eq(executed, 5);
	ck_assert_uint_eq(state, 3);
	s = open_at(path_a, 0, 0);
	ck_assert_uint_eq(store_last_executed(s), 5);
	expect_value(s, "a", "1");
	expect_value(s, "b", "2");
	expect_value(s, "c", "4");
	store_close(s);
	cached_root_is_true(path_a, root);
}
END_TEST

/* ---------------------------------------------------------------- dirty marks */
/* The workload of a crash between checkpoints: random batches with refreshes (store_root,
 * a checkpoint) and flushes in between; then "hot" alone in batches HOT_FIRST..HOT_LAST,
 * with a refresh after the second. Written at once, the first hot batch after the
 * refresh marks hot's partition and the next, finding it marked in memory, writes no
 * mark; deferred, both go in one flush. Batch MARK_SEQS comes after the last flush: lost
 * in the crash when deferred. */
#define HOT_FIRST 21u
#define HOT_LAST 24u
#define MARK_SEQS 25u
#define MARK_SEED 0x853c49e6748fea9bull

static int mark_batch(struct store *const *s, size_t n, uint64_t seq)
{
	char v[32];
	struct op hot = { "hot", v };
	int rc = 0;

	if (seq < HOT_FIRST || seq > HOT_LAST)
		return random_batch(s, n, seq, 12, 40);
	snprintf(v, sizeof(v), "hot-%llu", (unsigned long long)seq);
	for (size_t j = 0; j < n && rc == 0; j++)
		rc = exec(s[j], seq, &hot, 1, 0);
	return rc;
}

static void marks_child(void *arg)
{
	const int *defer = arg;
	uint8_t d[WIRE_DIGEST_LEN];
	struct store *s;

	CHILD_CHECK(try_open(path_a, *defer, 0, &s) == 0);
	rng_state = MARK_SEED;
	for (uint64_t seq = 1; seq <= MARK_SEQS; seq++) {
		CHILD_CHECK(mark_batch(&s, 1, seq) == 0);
		if (seq == 6 || seq == 18 || seq == HOT_FIRST + 1)
			CHILD_CHECK(store_root(s, d) == 0);
		if (seq == 12)
			CHILD_CHECK(store_checkpoint(s, seq, d) == 0);
		if (seq % 4 == 0)
			CHILD_CHECK(store_flush(s, 0) == 0);
	}
}

/* _i: 1 with deferred writes, 0 without. */
START_TEST(crash_marks_give_true_digests)
{
	int defer = _i;
	uint64_t last = defer ? HOT_LAST : MARK_SEQS;
	uint8_t root[WIRE_DIGEST_LEN];
	struct store *s;

	crash_run(marks_child, &defer);
	s = open_at(path_a, 0, 0);
	ck_assert_uint_eq(store_last_executed(s), last);
	expect_value(s, "hot", "hot-24");
	store_close(s);
	cached_root_is_true(path_a, root);

	/* The same batches executed from scratch in another store give that root. */
	s = open_at(path_b, 0, 0);
	rng_state = MARK_SEED;
	for (uint64_t seq = 1; seq <= last; seq++)
		ck_assert_int_eq(mark_batch(&s, 1, seq), 0);
	expect_root(s, root, "crashed store against the same batches replayed");
	store_close(s);
}
END_TEST

/* Digests written at every PERSIST_EVERY-th checkpoint only: a checkpoint at every
 * third batch, a crash after LAZY_SEQS batches, so that it comes after checkpoints whose
 * digests were not written and after writes to partitions whose marks were already on
 * disk (written once since the last digest write). */
#define PERSIST_EVERY 3u
#define LAZY_SEQS 31u
#define LAZY_SEED 0x2545f4914f6cdd1dull

static void lazy_child(void *arg)
{
	const int *defer = arg;
	uint8_t d[WIRE_DIGEST_LEN];
	struct store *s;

	CHILD_CHECK(try_open_persist(path_a, *defer, 0, PERSIST_EVERY, &s) == 0);
	rng_state = LAZY_SEED;
	for (uint64_t seq = 1; seq <= LAZY_SEQS; seq++) {
		CHILD_CHECK(random_batch(&s, 1, seq, 8, 40) == 0);
		if (seq % 3 == 0)
			CHILD_CHECK(store_checkpoint(s, seq, d) == 0);
		if (seq == LAZY_SEQS)
			CHILD_CHECK(store_flush(s, 0) == 0);
	}
}

/* _i: 1 with deferred writes, 0 without. A crash between digest writes leaves marks on
 * disk; the next open digests the marked partitions and gives the root of the same
 * batches executed from scratch. */
START_TEST(crash_between_digest_writes)
{
	int defer = _i;
	uint8_t root[WIRE_DIGEST_LEN], d[WIRE_DIGEST_LEN];
	struct store *s;

	crash_run(lazy_child, &defer);
	ck_assert_uint_gt(raw_marks(path_a), 0);
	ck_assert_int_eq(try_open_persist(path_a, 0, 0, PERSIST_EVERY, &s), 0);
	ck_assert_uint_eq(store_last_executed(s), LAZY_SEQS);
	ck_assert_int_eq(store_root(s, d), 0);
	store_close(s);
	cached_root_is_true(path_a, root);
	ck_assert_mem_eq(d, root, sizeof(d));
	ck_assert_uint_eq(raw_marks(path_a), 0); /* open and close wrote the digests */

	s = open_at(path_b, 0, 0);
	rng_state = LAZY_SEED;
	for (uint64_t seq = 1; seq <= LAZY_SEQS; seq++)
		ck_assert_int_eq(random_batch(&s, 1, seq, 8, 40), 0);
	expect_root(s, root, "crashed store against the same batches replayed");
	store_close(s);
}
END_TEST

/* Open with PERSIST_EVERY, then from seq *arg + 1 on `checkpoints` batches (each a put
 * of "k") with a checkpoint after each, then crash. */
struct nth_run {
	uint64_t first;
	uint32_t checkpoints;
};

static void nth_child(void *arg)
{
	const struct nth_run *run = arg;
	uint8_t d[WIRE_DIGEST_LEN];
	char v[32];
	struct op put = { "k", v };
	struct store *s;

	CHILD_CHECK(try_open_persist(path_a, 0, 0, PERSIST_EVERY, &s) == 0);
	for (uint64_t seq = run->first; seq < run->first + run->checkpoints; seq++) {
		snprintf(v, sizeof(v), "v%llu", (unsigned long long)seq);
		CHILD_CHECK(exec(s, seq, &put, 1, 0) == 0);
		CHILD_CHECK(store_checkpoint(s, seq, d) == 0);
	}
}

/* The dirty mark written with the first change stays on disk through checkpoints until
 * the PERSIST_EVERY-th writes the digest; open and close write them too. */
START_TEST(digests_written_every_nth_checkpoint)
{
	struct nth_run before = { 1, PERSIST_EVERY - 1 }, at = { PERSIST_EVERY, PERSIST_EVERY };
	uint8_t root[WIRE_DIGEST_LEN];
	char last[32];
	struct store *s;

	crash_run(nth_child, &before);
	ck_assert_uint_eq(raw_marks(path_a), 1);
	/* The open writes the digest (no mark left), then PERSIST_EVERY checkpoints: the
	 * last of them writes it again. */
	crash_run(nth_child, &at);
	ck_assert_uint_eq(raw_marks(path_a), 0);
	ck_assert_int_eq(try_open_persist(path_a, 0, 0, PERSIST_EVERY, &s), 0);
	ck_assert_uint_eq(store_last_executed(s), 2 * PERSIST_EVERY - 1);
	snprintf(last, sizeof(last), "v%u", 2 * PERSIST_EVERY - 1); /* the last put's seq */
	expect_value(s, "k", last);
	store_close(s);
	cached_root_is_true(path_a, root);
}
END_TEST

/* ---------------------------------------------------------------- state transfer */
START_TEST(local_node_flushes_first)
{
	struct store *a = open_at(path_a, 1, 0), *b = open_at(path_b, 0, 0);
	struct store *both[2] = { a, b };
	uint8_t da[WIRE_DIGEST_LEN], db[WIRE_DIGEST_LEN];
	uint64_t seq = 1;

	rng_state = 0x9e3779b97f4a7c15ull;
	for (; seq <= 6; seq++)
		ck_assert_int_eq(random_batch(both, 2, seq, 20, 100), 0);
	/* Nothing of a is in LevelDB yet: the root node reflects the deferred batches. */
	ck_assert_int_eq(store_local_node(a, 0, 0, da), 0);
	ck_assert_int_eq(store_local_node(b, 0, 0, db), 0);
	ck_assert(memcmp(da, db, sizeof(da)) == 0);
	/* Likewise a partition's digest, asked first after more deferred batches. */
	for (; seq <= 8; seq++)
		ck_assert_int_eq(random_batch(both, 2, seq, 20, 100), 0);
	for (uint64_t p = 0; p < NPART; p++) {
		ck_assert_int_eq(store_local_node(a, LEVELS, p, da), 0);
		ck_assert_int_eq(store_local_node(b, LEVELS, p, db), 0);
		ck_assert_msg(memcmp(da, db, sizeof(da)) == 0, "partition %llu differs",
			      (unsigned long long)p);
	}
	store_close(a);
	store_close(b);
}
END_TEST

/* What the crash child of transfer_overrides_deferred_key installs: checkpoint 2 of a
 * store holding K = "theirs" and k2 = "x2" (both in partition part), as one page. */
#define XFER_CKPT 2u
struct xfer {
	uint8_t root[WIRE_DIGEST_LEN];
	uint64_t part;
	char k2[16];
	struct wire_buf page;
	uint32_t count;
};

static void xfer_child(void *arg)
{
	static const struct op mine[] = { { "K", "mine" } };
	const struct xfer *x = arg;
	struct wire_data d;
	struct store *s;

	CHILD_CHECK(try_open(path_a, 1, 0, &s) == 0);
	CHILD_CHECK(exec(s, 1, mine, NOPS(mine), 0) == 0); /* deferred */
	CHILD_CHECK(has_value(s, "K", "mine"));
	d.ckpt_seq = XFER_CKPT;
	d.partition = x->part;
	d.flags = 0;
	d.entries.count = x->count;
	d.entries.bytes.p = x->page.p;
	d.entries.bytes.len = (uint32_t)x->page.len;
	CHILD_CHECK(store_write_partition(s, x->part, 1, &d) == 0);
	CHILD_CHECK(store_transfer_pending(s, NULL) == 1);
	CHILD_CHECK(has_value(s, "K", "theirs"));
	CHILD_CHECK(store_finish_transfer(s, XFER_CKPT, x->root) == 0);
	CHILD_CHECK(store_last_executed(s) == XFER_CKPT);
	CHILD_CHECK(has_value(s, "K", "theirs") && has_value(s, x->k2, "x2"));
}

/* Partition of NS_TEST | key. */
static uint64_t part_of(const char *key)
{
	uint8_t sk[32];
	size_t len = strlen(key);

	ck_assert_uint_lt(len, sizeof(sk));
	sk[0] = NS_TEST;
	memcpy(sk + 1, key, len);
	return ptree_partition_of(NPART, sk, len + 1);
}

START_TEST(transfer_overrides_deferred_key)
{
	static struct xfer x;
	struct op theirs[2] = { { "K", "theirs" }, { x.k2, "x2" } };
	struct store *s;
	uint8_t d[WIRE_DIGEST_LEN];
	int more, i = 0;

	/* The source: K and a second key of K's partition, checkpoint 2. */
	x.part = part_of("K");
	do
		snprintf(x.k2, sizeof(x.k2), "k2-%d", i++);
	while (part_of(x.k2) != x.part);
	s = open_at(path_b, 0, 0);
	ck_assert_int_eq(exec(s, 1, theirs, 2, 0), 0);
	ck_assert_int_eq(exec(s, XFER_CKPT, NULL, 0, 0), 0);
	ck_assert_int_eq(store_checkpoint(s, XFER_CKPT, x.root), 0);
	wire_buf_init(&x.page);
	ck_assert_int_eq(store_read_partition(s, XFER_CKPT, x.part, (struct wire_bytes){ NULL, 0 },
					      1u << 20, &x.page, &x.count, &more), 0);
	ck_assert_uint_eq(x.count, 2);
	ck_assert_int_eq(more, 0);
	store_close(s);

	/* The destination had K = "mine" deferred when the page came; after the transfer
	 * and a crash, K is the transferred value and the state is the checkpoint's. */
	crash_run(xfer_child, &x);
	s = open_at(path_a, 0, 0);
	ck_assert_uint_eq(store_last_executed(s), XFER_CKPT);
	ck_assert_int_eq(store_transfer_pending(s, NULL), 0);
	expect_value(s, "K", "theirs");
	expect_value(s, x.k2, "x2");
	store_close(s);
	cached_root_is_true(path_a, d);
	ck_assert(memcmp(d, x.root, sizeof(d)) == 0);
	wire_buf_free(&x.page);
}
END_TEST

/* A replica whose deferred batches already make the checkpoint's state finishes a
 * transfer without any page: store_finish_transfer writes those batches first, so the
 * root it checks is theirs, and after a crash the state is the checkpoint's. */
#define CATCHUP_CKPT 4u

static void catchup_child(void *arg)
{
	const uint8_t *root = arg;
	struct store *s;

	CHILD_CHECK(try_open(path_a, 1, 0, &s) == 0);
	CHILD_CHECK(exec(s, 1, fl_b1, NOPS(fl_b1), 0) == 0);
	CHILD_CHECK(exec(s, 2, fl_b2, NOPS(fl_b2), 0) == 0);
	CHILD_CHECK(exec(s, 3, fl_b3, NOPS(fl_b3), 0) == 0);
	CHILD_CHECK(store_finish_transfer(s, CATCHUP_CKPT, root) == 0);
	CHILD_CHECK(store_last_executed(s) == CATCHUP_CKPT);
}

START_TEST(finish_transfer_flushes_first)
{
	uint8_t root[WIRE_DIGEST_LEN], d[WIRE_DIGEST_LEN];
	struct store *s = open_at(path_b, 0, 0);

	ck_assert_int_eq(exec(s, 1, fl_b1, NOPS(fl_b1), 0), 0);
	ck_assert_int_eq(exec(s, 2, fl_b2, NOPS(fl_b2), 0), 0);
	ck_assert_int_eq(exec(s, 3, fl_b3, NOPS(fl_b3), 0), 0);
	ck_assert_int_eq(exec(s, CATCHUP_CKPT, NULL, 0, 0), 0);
	ck_assert_int_eq(store_checkpoint(s, CATCHUP_CKPT, root), 0);
	store_close(s);

	crash_run(catchup_child, root);
	s = open_at(path_a, 0, 0);
	ck_assert_uint_eq(store_last_executed(s), CATCHUP_CKPT);
	ck_assert_int_eq(store_transfer_pending(s, NULL), 0);
	expect_value(s, "k", "b2");
	expect_value(s, "dp", "new");
	expect_value(s, "pd", NULL);
	store_close(s);
	cached_root_is_true(path_a, d);
	ck_assert(memcmp(d, root, sizeof(d)) == 0);
}
END_TEST

/* ---------------------------------------------------------------- recent flushes */
/* 1 if store s holds key in memory (deferred or a recent flush's), not only in LevelDB. */
static int in_memory(struct store *s, const char *key)
{
	const uint8_t *v;
	size_t vlen;
	uint64_t partition;

	ck_assert_int_eq(store__state_key(s, NS_TEST, key, strlen(key), &partition), 0);
	return store__mem_get(s, s->key.p, s->key.len, store__key_hash(s, s->key.p, s->key.len), &v,
			      &vlen) != 1;
}

/* Batches 1..3 each flushed: the last two flushes stay in memory, newest first, deletions
 * included; an older flush's keys are read from LevelDB. */
START_TEST(recent_flushes_serve_reads)
{
	static const struct op b1[] = { { "a", "1" }, { "old", "o" }, { "gone", "g" } };
	static const struct op b2[] = { { "a", "10" }, { "gone", NULL }, { "mid", "m" } };
	static const struct op b3[] = { { "a", "100" }, { "new", "n" } };
	struct store *s = open_at(path_a, 1, 0);

	ck_assert_int_eq(exec(s, 1, b1, NOPS(b1), 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	ck_assert(in_memory(s, "old"));
	ck_assert_int_eq(exec(s, 2, b2, NOPS(b2), 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	ck_assert_int_eq(exec(s, 3, b3, NOPS(b3), 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	/* b1's flush is forgotten, b2's and b3's kept. */
	ck_assert(!in_memory(s, "old"));
	ck_assert(in_memory(s, "mid"));
	ck_assert(in_memory(s, "gone"));
	ck_assert(in_memory(s, "new"));
	ck_assert(in_memory(s, "a"));
	expect_value(s, "a", "100");
	expect_txn_value(s, "a", "100");
	expect_value(s, "gone", NULL);
	expect_txn_value(s, "gone", NULL);
	expect_value(s, "old", "o");
	expect_txn_value(s, "old", "o");
	expect_value(s, "mid", "m");
	/* An empty flush (last executed only) keeps what is in memory. */
	ck_assert_int_eq(exec(s, 4, NULL, 0, 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	ck_assert(in_memory(s, "mid"));
	store_close(s);
	/* Reopened, the same values come from LevelDB. */
	s = open_at(path_a, 1, 0);
	ck_assert(!in_memory(s, "a"));
	expect_value(s, "a", "100");
	expect_value(s, "gone", NULL);
	expect_value(s, "mid", "m");
	store_close(s);
}
END_TEST

/* Flushes kept only within recent_bytes: a flush larger than it is not kept, and two are
 * kept only while both fit. */
START_TEST(recent_flushes_bounded)
{
	static const struct op b1[] = { { "a", "0123456789012345678901234567890123456789" } };
	static const struct op b2[] = { { "b", "0123456789012345678901234567890123456789" } };
	static const struct op big[] = { { "c", "0123456789012345678901234567890123456789"
						"0123456789012345678901234567890123456789" } };
	/* Keys carry the 'S' | partition | ns prefix: each small flush is ~47 bytes. */
	struct store *s = open_recent(path_a, 1, 0, 60);

	ck_assert_int_eq(exec(s, 1, b1, NOPS(b1), 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	ck_assert(in_memory(s, "a"));
	ck_assert_int_eq(exec(s, 2, b2, NOPS(b2), 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	ck_assert(in_memory(s, "b"));
	ck_assert(!in_memory(s, "a"));
	ck_assert_uint_le(s->recent[0].arena.len + s->recent[1].arena.len, 60);
	ck_assert_int_eq(exec(s, 3, big, NOPS(big), 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	ck_assert(!in_memory(s, "c"));
	ck_assert(!in_memory(s, "b"));
	ck_assert_uint_eq(s->recent[0].arena.len + s->recent[1].arena.len, 0);
	expect_value(s, "a", b1[0].val);
	expect_value(s, "b", b2[0].val);
	expect_value(s, "c", big[0].val);
	store_close(s);
	/* recent_bytes 0: nothing is kept. */
	s = open_recent(path_a, 1, 0, 0);
	ck_assert_int_eq(exec(s, 4, b1, NOPS(b1), 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	ck_assert(!in_memory(s, "a"));
	expect_value(s, "a", b1[0].val);
	store_close(s);
}
END_TEST

/* A transfer page written over a key a recent flush holds: the store reads the page's
 * value at once (the flush's is forgotten), and so does a transaction. */
START_TEST(transfer_forgets_recent_flushes)
{
	static const struct op theirs[] = { { "K", "theirs" } };
	static const struct op mine[] = { { "K", "mine" } };
	struct wire_buf page;
	struct wire_data d;
	struct store *s;
	uint8_t root[WIRE_DIGEST_LEN];
	uint32_t count;
	int more;

	s = open_at(path_b, 0, 0);
	ck_assert_int_eq(exec(s, 1, theirs, 1, 0), 0);
	ck_assert_int_eq(exec(s, XFER_CKPT, NULL, 0, 0), 0);
	ck_assert_int_eq(store_checkpoint(s, XFER_CKPT, root), 0);
	wire_buf_init(&page);
	ck_assert_int_eq(store_read_partition(s, XFER_CKPT, part_of("K"),
					      (struct wire_bytes){ NULL, 0 }, 1u << 20, &page,
					      &count, &more), 0);
	store_close(s);

	s = open_at(path_a, 1, 0);
	ck_assert_int_eq(exec(s, 1, mine, 1, 0), 0);
	ck_assert_int_eq(store_flush(s, 0), 0);
	ck_assert(in_memory(s, "K"));
	d.ckpt_seq = XFER_CKPT;
	d.partition = part_of("K");
	d.flags = 0;
	d.entries.count = count;
	d.entries.bytes.p = page.p;
	d.entries.bytes.len = (uint32_t)page.len;
	ck_assert_int_eq(store_write_partition(s, d.partition, 1, &d), 0);
	ck_assert(!in_memory(s, "K"));
	expect_value(s, "K", "theirs");
	ck_assert_int_eq(store_finish_transfer(s, XFER_CKPT, root), 0);
	expect_value(s, "K", "theirs");
	expect_txn_value(s, "K", "theirs");
	store_close(s);
	wire_buf_free(&page);
}
END_TEST

static Suite *store_defer_suite(void)
{
	Suite *s = suite_create("store_defer");
	TCase *tc = tcase_create("defer");
	TCase *big = tcase_create("size_bound");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, reads_see_deferred_changes);
	tcase_add_test(tc, nothing_reaches_leveldb_before_a_flush);
	tcase_add_test(tc, flush_writes_every_deferred_change);
	tcase_add_test(tc, checkpoint_and_root_flush_first);
	tcase_add_test(tc, synced_commit_flushes_at_once);
	tcase_add_test(tc, close_writes_deferred_changes);
	tcase_add_loop_test(tc, crash_marks_give_true_digests, 0, 2);
	tcase_add_loop_test(tc, crash_between_digest_writes, 0, 2);
	tcase_add_test(tc, digests_written_every_nth_checkpoint);
	tcase_add_test(tc, local_node_flushes_first);
	tcase_add_test(tc, transfer_overrides_deferred_key);
	tcase_add_test(tc, finish_transfer_flushes_first);
	tcase_add_test(tc, recent_flushes_serve_reads);
	tcase_add_test(tc, recent_flushes_bounded);
	tcase_add_test(tc, transfer_forgets_recent_flushes);
	suite_add_tcase(s, tc);
	/* Its own case: it moves 2 x 32 MiB through LevelDB. */
	tcase_add_unchecked_fixture(big, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(big, setup, tmp_teardown);
	tcase_set_timeout(big, 180);
	tcase_add_test(big, size_bound_flushes_by_itself);
	suite_add_tcase(s, big);
	return s;
}

UNIT_MAIN(store_defer_suite)
