/* test_store_basic.c: replica/store: open/reopen, transactions and their atomicity (also
 * across a SIGKILL), durable records, format checks and argument errors. */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_tmpdir.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <leveldb/c.h>

#include "replica/core/ptree.h"
#include "replica/store/store.h"
#include "replica/store/store_int.h"

#define NS_TEST ((uint8_t)'T')

static struct store *open_store(uint32_t fanout, uint32_t levels, int create)
{
	struct store_config cfg = { .path = dir, .fanout = fanout, .levels = levels, .create = create };
	struct store *s = NULL;
	char err[256];
	int rc = store_open(&cfg, &s, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open: %s (%s)", store_strerror(rc), err);
	return s;
}

/* Execute one batch: put key_i = val_i for the given keys. */
static void put_batch(struct store *s, uint64_t seq, const char *const *keys, const char *const *vals,
		      int n, int sync)
{
	ck_assert_int_eq(store_txn_begin(s), 0);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(store_txn_put(s, NS_TEST, keys[i], strlen(keys[i]), vals[i],
					       strlen(vals[i])), 0);
	ck_assert_int_eq(store_txn_commit(s, seq, sync), 0);
}

static void expect_value(struct store *s, const char *key, const char *want)
{
	struct wire_buf v;
	int rc;

	wire_buf_init(&v);
	rc = store_get(s, NS_TEST, key, strlen(key), &v);
	if (want == NULL) {
		ck_assert_int_eq(rc, STORE_ERR_NOT_FOUND);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(v.len, strlen(want));
		ck_assert(memcmp(v.p, want, v.len) == 0);
	}
	wire_buf_free(&v);
}

START_TEST(reopen_keeps_state)
{
	static const char *const k1[] = { "alpha", "beta" }, *const v1[] = { "1", "2" };
	static const char *const k2[] = { "gamma" }, *const v2[] = { "3" };
	uint8_t root1[WIRE_DIGEST_LEN], root2[WIRE_DIGEST_LEN];
	struct store *s = open_store(4, 2, 1);

	ck_assert_uint_eq(store_last_executed(s), 0);
	ck_assert_int_eq(store_transfer_pending(s, NULL), 0);
	put_batch(s, 1, k1, v1, 2, 1);
	put_batch(s, 2, k2, v2, 1, 0);
	ck_assert_int_eq(store_root(s, root1), 0);
	store_close(s);

	s = open_store(4, 2, 0);
	ck_assert_uint_eq(store_last_executed(s), 2);
	expect_value(s, "alpha", "1");
	expect_value(s, "beta", "2");
	expect_value(s, "gamma", "3");
	expect_value(s, "delta", NULL);
	ck_assert_int_eq(store_root(s, root2), 0);
	ck_assert(memcmp(root1, root2, sizeof(root1)) == 0);
	store_close(s);
}
END_TEST

START_TEST(txn_reads_own_writes_and_abort_discards)
{
	static const char *const k[] = { "k" }, *const v[] = { "old" };
	struct store *s = open_store(4, 2, 1);
	const uint8_t *val;
	size_t vlen;

	put_batch(s, 1, k, v, 1, 0);
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_begin(s), STORE_ERR_TXN);
	ck_assert_int_eq(store_txn_get(s, NS_TEST, "k", 1, &val, &vlen), 0);
	ck_assert_uint_eq(vlen, 3);
	ck_assert(memcmp(val, "old", 3) == 0);
	ck_assert_int_eq(store_txn_put(s, NS_TEST, "k", 1, "new", 3), 0);
	ck_assert_int_eq(store_txn_get(s, NS_TEST, "k", 1, &val, &vlen), 0);
	ck_assert(vlen == 3 && memcmp(val, "new", 3) == 0);
	ck_assert_int_eq(store_txn_del(s, NS_TEST, "k", 1), 0);
	ck_assert_int_eq(store_txn_get(s, NS_TEST, "k", 1, &val, &vlen), STORE_ERR_NOT_FOUND);
	/* The committed state is untouched until commit. */
	expect_value(s, "k", "old");
	store_txn_abort(s);
	expect_value(s, "k", "old");
	ck_assert_uint_eq(store_last_executed(s), 1);
	/* No transaction: every txn call refuses. */
	ck_assert_int_eq(store_txn_put(s, NS_TEST, "k", 1, "x", 1), STORE_ERR_TXN);
	ck_assert_int_eq(store_txn_get(s, NS_TEST, "k", 1, &val, &vlen), STORE_ERR_TXN);
	ck_assert_int_eq(store_txn_commit(s, 2, 0), STORE_ERR_TXN);
	store_close(s);
}
END_TEST

START_TEST(txn_many_keys)
{
	/* Enough keys to grow the transaction's table several times, each written twice. */
	struct store *s = open_store(16, 2, 1);
	char key[32], val[32];
	const uint8_t *v;
	size_t vlen;

	ck_assert_int_eq(store_txn_begin(s), 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 3000; i++) {
			int kl = snprintf(key, sizeof(key), "key-%d", i);
			int vl = snprintf(val, sizeof(val), "v%d-%d", round, i);
			ck_assert_int_eq(store_txn_put(s, NS_TEST, key, (size_t)kl, val, (size_t)vl), 0);
		}
	for (int i = 0; i < 3000; i += 7) {
		int kl = snprintf(key, sizeof(key), "key-%d", i);
		int vl = snprintf(val, sizeof(val), "v1-%d", i);
		ck_assert_int_eq(store_txn_get(s, NS_TEST, key, (size_t)kl, &v, &vlen), 0);
		ck_assert(vlen == (size_t)vl && memcmp(v, val, vlen) == 0);
	}
	ck_assert_int_eq(store_txn_commit(s, 1, 0), 0);
	expect_value(s, "key-2999", "v1-2999");
	store_close(s);
}
END_TEST

START_TEST(commit_checks_seq_and_sizes)
{
	struct store *s = open_store(4, 2, 1);
	static uint8_t big[STORE_MAX_KEY];

	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_put(s, NS_TEST, big, sizeof(big), "v", 1), STORE_ERR_TOO_BIG);
	ck_assert_int_eq(store_txn_put(s, NS_TEST, "k", 1, big, (size_t)STORE_MAX_VALUE + 1),
			 STORE_ERR_TOO_BIG);
	ck_assert_int_eq(store_txn_put(s, NS_TEST, "k", 1, "v", 1), 0);
	/* seq 2 is not last executed (0) + 1: refused, nothing written, txn ended. */
	ck_assert_int_eq(store_txn_commit(s, 2, 0), STORE_ERR_SEQ);
	ck_assert_ptr_nonnull(strstr(store_last_error(s), "seq 2"));
	ck_assert_uint_eq(store_last_executed(s), 0);
	expect_value(s, "k", NULL);
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_commit(s, 1, 0), 0); /* an empty (null) batch counts */
	ck_assert_uint_eq(store_last_executed(s), 1);
	store_close(s);
}
END_TEST

START_TEST(uncommitted_batch_is_lost_on_reopen)
{
	static const char *const k[] = { "a" }, *const v[] = { "1" };
	struct store *s = open_store(4, 2, 1);

	put_batch(s, 1, k, v, 1, 1);
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_put(s, NS_TEST, "b", 1, "2", 1), 0);
	store_close(s); /* closed with the transaction open: never written */
	s = open_store(4, 2, 0);
	ck_assert_uint_eq(store_last_executed(s), 1);
	expect_value(s, "a", "1");
	expect_value(s, "b", NULL);
	store_close(s);
}
END_TEST

/* A child executes batches as fast as it can and is killed with SIGKILL at a random
 * moment: on reopen, exactly the batches up to last executed are there, and the
 * cached digests give the same root as a full recomputation. */
START_TEST(sigkill_leaves_whole_batches)
{
	int ready[2];
	char byte;
	pid_t pid;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_config cfg = { .path = dir, .fanout = 4, .levels = 2, .create = 1 };
		struct store *s;
		char key[32], val[32];
		uint8_t root[WIRE_DIGEST_LEN];
		if (store_open(&cfg, &s, NULL, 0) != 0)
			_exit(2);
		for (uint64_t seq = 1;; seq++) {
			if (store_txn_begin(s) != 0)
				_exit(3);
			for (int i = 0; i < 20; i++) {
				int kl = snprintf(key, sizeof(key), "k%d", i);
				int vl = snprintf(val, sizeof(val), "%llu", (unsigned long long)seq);
				if (store_txn_put(s, NS_TEST, key, (size_t)kl, val, (size_t)vl) != 0)
					_exit(4);
			}
			if (store_txn_commit(s, seq, 0) != 0)
				_exit(5);
			if (seq == 1 && write(ready[1], "r", 1) != 1)
				_exit(6);
			if (seq % 10 == 0 && store_root(s, root) != 0)
				_exit(7);
		}
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &byte, 1), 1); /* the first batch is committed */
	close(ready[0]);
	usleep(50000 + (useconds_t)(getpid() % 100) * 1000);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status), "child exited early with status %d", WEXITSTATUS(status));

	struct store *s = open_store(4, 2, 0);
	uint64_t last = store_last_executed(s);
	char want[32], key[32];
	uint8_t cached[WIRE_DIGEST_LEN], full[WIRE_DIGEST_LEN];

	ck_assert_uint_gt(last, 0);
	snprintf(want, sizeof(want), "%llu", (unsigned long long)last);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		expect_value(s, key, want);
	}
	ck_assert_int_eq(store_root(s, cached), 0);
	store_close(s);

	struct store_config cfg = { .path = dir, .fanout = 4, .levels = 2, .verify = 1 };
	ck_assert_int_eq(store_open(&cfg, &s, NULL, 0), 0);
	ck_assert_int_eq(store_root(s, full), 0);
	ck_assert(memcmp(cached, full, sizeof(full)) == 0);
	store_close(s);
}
END_TEST

/* ---------------------------------------------------------------- records */
struct rec_builder {
	struct pbft_update u;
	struct pbft_record rec[16];
};

static void rb_init(struct rec_builder *b, int sync)
{
	memset(b, 0, sizeof(*b));
	wire_buf_init(&b->u.recs);
	b->u.rec = b->rec;
	b->u.caprec = 16;
	b->u.sync = sync;
}

static void rb_put(struct rec_builder *b, uint8_t kind, uint64_t key, const char *value)
{
	struct pbft_record *r = &b->rec[b->u.nrec++];

	r->kind = kind;
	r->del_below = 0;
	r->key = key;
	r->off = b->u.recs.len;
	r->len = strlen(value);
	wire_put_fixed(&b->u.recs, value, r->len);
}

/* Persist b's records (they must be accepted) and free its bytes. */
static void rb_apply(struct store *s, struct rec_builder *b)
{
	ck_assert_int_eq(store_apply_records(s, &b->u), 0);
	wire_buf_free(&b->u.recs);
}

static void rb_del_below(struct rec_builder *b, uint8_t kind, uint64_t below)
{
	struct pbft_record *r = &b->rec[b->u.nrec++];

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->del_below = 1;
	r->key = below;
}

/* Expect records (kind, key, value) in order. */
struct want_rec {
	uint8_t kind;
	uint64_t key;
	const char *value;
};

static void expect_records(struct store *s, const struct want_rec *w, size_t n)
{
	struct store_records r;

	ck_assert_int_eq(store_load_records(s, &r), 0);
	ck_assert_uint_eq(r.n, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(r.rec[i].kind, w[i].kind);
		ck_assert_uint_eq(r.rec[i].key, w[i].key);
		ck_assert_int_eq(r.rec[i].del_below, 0);
		ck_assert_uint_eq(r.rec[i].len, strlen(w[i].value));
		ck_assert(memcmp(r.bytes.p + r.rec[i].off, w[i].value, r.rec[i].len) == 0);
	}
	store_records_free(&r);
}

START_TEST(records_put_del_below_reopen)
{
	struct store *s = open_store(4, 2, 1);
	struct rec_builder b;

	expect_records(s, NULL, 0);
	rb_init(&b, 1);
	rb_put(&b, 1, 0, "view");
	rb_put(&b, 2, 10, "p10");
	rb_put(&b, 2, 11, "p11");
	rb_put(&b, 2, 12, "p12");
	rb_put(&b, 3, 5, "c5");
	rb_apply(s, &b);

	/* Overwrite, delete kind 2 below 12 (stored ones, and one put earlier in this same
	 * update), then a put below the bound after the delete survives. */
	rb_init(&b, 0);
	rb_put(&b, 1, 0, "view2");
	rb_put(&b, 2, 9, "p9");
	rb_del_below(&b, 2, 12);
	rb_put(&b, 2, 3, "p3-after");
	rb_put(&b, 2, 13, "p13");
	rb_apply(s, &b);

	static const struct want_rec w[] = {
		{ 1, 0, "view2" }, { 2, 3, "p3-after" }, { 2, 12, "p12" }, { 2, 13, "p13" }, { 3, 5, "c5" },
	};
	expect_records(s, w, 5);
	store_close(s);
	s = open_store(4, 2, 0);
	expect_records(s, w, 5);

	/* An empty update writes nothing; a record outside the bytes is refused whole. */
	rb_init(&b, 0);
	ck_assert_int_eq(store_apply_records(s, &b.u), 0);
	rb_put(&b, 4, 1, "x");
	b.rec[0].len = 100;
	ck_assert_int_eq(store_apply_records(s, &b.u), STORE_ERR_ARG);
	wire_buf_free(&b.u.recs);
	expect_records(s, w, 5);
	store_close(s);
}
END_TEST

/* The records log's segment files, in the order they were written. */
static size_t segments(char names[][64], size_t max)
{
	char path[512];
	size_t n = 0;
	DIR *d;
	struct dirent *de;

	snprintf(path, sizeof(path), "%s/records", dir);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".seg") != NULL && n < max)
			snprintf(names[n++], 64, "%.63s", de->d_name);
	closedir(d);
	qsort(names, n, 64, (int (*)(const void *, const void *))strcmp);
	return n;
}

static void seg_file(const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/records/%s", dir, name);
}

static struct store *open_small_segments(int create)
{
	struct store_config cfg = { .path = dir, .fanout = 4, .levels = 2, .create = create,
				    .records_segment_bytes = 4096 };
	struct store *s = NULL;
	char err[256];
	int rc = store_open(&cfg, &s, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open: %s (%s)", store_strerror(rc), err);
	return s;
}

/* A write the machine did not finish leaves a torn entry at the end of the newest
 * segment: the next open keeps what precedes it, closes the segment there and writes
 * on in a new one, so the torn bytes are never read again. */
START_TEST(records_torn_tail_cut)
{
	struct store *s = open_store(4, 2, 1);
	struct rec_builder b;
	char names[8][64], path[600];
	FILE *f;

	rb_init(&b, 1);
	rb_put(&b, 1, 0, "view");
	rb_put(&b, 2, 7, "p7");
	rb_apply(s, &b);
	store_close(s);
	ck_assert_uint_eq(segments(names, 8), 1);
	seg_file(names[0], path, sizeof(path));
	f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	/* A header and a bit, right after the two entries (8 + 10 + 4 and 8 + 10 + 2
	 * bytes), over the zeros the new file was written ahead with. */
	ck_assert_int_eq(fseek(f, 42, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite("\x30\x00\x00\x00\x01\x02\x03\x04\x01\x02", 1, 10, f), 10);
	fclose(f);

	s = open_store(4, 2, 0);
	static const struct want_rec w1[] = { { 1, 0, "view" }, { 2, 7, "p7" } };
	expect_records(s, w1, 2);
	rb_init(&b, 0);
	rb_put(&b, 2, 8, "p8");
	rb_apply(s, &b);
	store_close(s);
	ck_assert_uint_eq(segments(names, 8), 2);
	s = open_store(4, 2, 0);
	static const struct want_rec w2[] = { { 1, 0, "view" }, { 2, 7, "p7" }, { 2, 8, "p8" } };
	expect_records(s, w2, 3);
	store_close(s);
}
END_TEST

/* An entry's bytes, pinned: payload length and CRC-32 little-endian, then op (1 put),
 * kind, key and value. The CRC is zlib's over the segment's number (u64 LE) and the
 * payload; the expected bytes were computed with Python's zlib.crc32, so a CRC routine
 * that differs from zlib's (ISA-L's is used) fails here, not only on a reopen. */
START_TEST(records_entry_layout)
{
	static const uint8_t want[] = {
		0x0c, 0x00, 0x00, 0x00, 0xe5, 0x92, 0x25, 0xdc, /* length 12, CRC 0xdc2592e5 */
		0x01, 0x02, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 'p', '7',
	};
	struct store *s = open_store(4, 2, 1);
	struct rec_builder b;
	char names[8][64], path[600];
	uint8_t got[sizeof(want)];
	FILE *f;

	rb_init(&b, 1);
	rb_put(&b, 2, 7, "p7");
	rb_apply(s, &b);
	store_close(s);
	ck_assert_uint_eq(segments(names, 8), 1);
	ck_assert_str_eq(names[0], "0000000000000001.seg");
	seg_file(names[0], path, sizeof(path));
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(got, 1, sizeof(got), f), sizeof(got));
	fclose(f);
	ck_assert(memcmp(got, want, sizeof(want)) == 0);
}
END_TEST

static uint64_t file_size(const char *name)
{
	char path[600];
	struct stat st;

	seg_file(name, path, sizeof(path));
	ck_assert_int_eq(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* A new segment file is written ahead with zeros: a step past its entries, not past
 * the segment's size, and again only when entries pass its end, so that syncs write
 * over allocated blocks. The zeros are not entries: a reopen keeps every record and
 * goes on in a new segment. */
START_TEST(records_new_file_zero_ahead)
{
	enum { VLEN = 64 * 1024, N = 20 };
	const uint64_t step = STORE__RECLOG_ZERO_STEP, entry = 8 + 10 + VLEN;
	struct store *s = open_store(4, 2, 1);
	struct rec_builder b;
	struct want_rec w[N];
	char names[8][64];
	static char val[N][VLEN + 1];
	uint64_t end = 0, size = 0;

	for (uint64_t k = 0; k < N; k++) {
		memset(val[k], (int)('a' + k), VLEN);
		rb_init(&b, 1);
		rb_put(&b, 2, k, val[k]);
		rb_apply(s, &b);
		end += entry;
		if (end > size)
			size = end + step; /* 8 MiB segments: never capped here */
		ck_assert_uint_eq(segments(names, 8), 1);
		ck_assert_uint_eq(file_size(names[0]), size);
		w[k] = (struct want_rec){ 2, k, val[k] };
	}
	ck_assert_uint_gt(size, end + step / 2); /* the 20 writes crossed a step's end */
	store_close(s);
	s = open_store(4, 2, 0);
	expect_records(s, w, N);
	ck_assert_uint_eq(segments(names, 8), 2);
	store_close(s);

	/* Small segments: the zeros stop at the segment's size. */
	tmp_teardown();
	tmp_setup();
	s = open_small_segments(1);
	rb_init(&b, 1);
	rb_put(&b, 2, 1, "p1");
	rb_apply(s, &b);
	store_close(s);
	ck_assert_uint_eq(segments(names, 8), 1);
	ck_assert_uint_eq(file_size(names[0]), 4096);
	s = open_small_segments(0);
	static const struct want_rec w1[] = { { 2, 1, "p1" } };
	expect_records(s, w1, 1);
	store_close(s);
}
END_TEST

/* Files of the records folder by kind: segments (".seg") and spares (".free"). */
static void count_files(size_t *segs, size_t *spares)
{
	char path[512];
	DIR *d;
	struct dirent *de;

	*segs = *spares = 0;
	snprintf(path, sizeof(path), "%s/records", dir);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n > 4 && strcmp(de->d_name + n - 4, ".seg") == 0)
			(*segs)++;
		else if (n > 5 && strcmp(de->d_name + n - 5, ".free") == 0)
			(*spares)++;
	}
	closedir(d);
}

/* Dead segments' files are kept as spares (two at most) and written over by later
 * segments: a log that keeps a window of records alive cycles through a bounded set
 * of files, and what an earlier use of a file left is never replayed as a record, at
 * a clean reopen or after a torn write in a reused file. */
START_TEST(records_files_reused)
{
	struct store *s = open_small_segments(1);
	struct rec_builder b;
	char val[1100];
	size_t segs, spares;
	struct want_rec w[4];
	char vals[4][1100];

	memset(val, 'a', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (uint64_t k = 1; k <= 60; k++) {
		val[0] = (char)('A' + k % 26);
		rb_init(&b, 1);
		rb_put(&b, 3, k, val);
		if (k > 3)
			rb_del_below(&b, 3, k - 2); /* keys k-2..k stay live */
		rb_apply(s, &b);
		count_files(&segs, &spares);
		ck_assert_uint_le(spares, 2);
		ck_assert_uint_le(segs + spares, 5);
	}
	count_files(&segs, &spares);
	ck_assert_uint_ge(spares, 1); /* ~66 KiB went through 4 KiB segments */
	store_close(s);

	for (int i = 0; i < 3; i++) {
		memcpy(vals[i], val, sizeof(val));
		vals[i][0] = (char)('A' + (58 + i) % 26);
		w[i] = (struct want_rec){ 3, 58 + (uint64_t)i, vals[i] };
	}
	s = open_small_segments(0);
	expect_records(s, w, 3);
	store_close(s);

	/* The reopen closed the newest segment, a reused file with an earlier use's
	 * entries after its own, and went on in a new one: a record written now and the
	 * three before it are all there is after another reopen. */
	s = open_small_segments(0);
	rb_init(&b, 1);
	rb_put(&b, 3, 61, "p61");
	rb_apply(s, &b);
	store_close(s);
	memcpy(vals[3], "p61", 4);
	w[3] = (struct want_rec){ 3, 61, vals[3] };
	s = open_small_segments(0);
	expect_records(s, w, 4);
	store_close(s);
	count_files(&segs, &spares);
	ck_assert_uint_le(spares, 2);
}
END_TEST

/* Segments roll over at the configured size; one whose puts are all superseded or
 * deleted is removed after the next synced write; a damaged entry inside a closed
 * (not the newest) segment is corruption, not a torn write. */
START_TEST(records_segments_rotate_drop_and_check)
{
	struct store *s = open_small_segments(1);
	struct rec_builder b;
	char names[64][64], path[600], val[1100];
	size_t n;

	memset(val, 'v', sizeof(val) - 1);
	val[sizeof(val) - 1] = '\0';
	for (uint64_t k = 1; k <= 40; k++) {
		rb_init(&b, 1);
		rb_put(&b, 1, 0, k % 2 ? "view-odd" : "view-even");
		rb_put(&b, 3, k, val);
		rb_apply(s, &b);
	}
	n = segments(names, 64);
	ck_assert_uint_ge(n, 10); /* ~45 KiB in 4 KiB segments */
	rb_init(&b, 1);
	rb_del_below(&b, 3, 38);
	rb_put(&b, 1, 0, "view-last");
	rb_apply(s, &b);
	/* Left: the segments holding keys 38..40 and the newest one. */
	ck_assert_uint_le(segments(names, 64), 3);
	store_close(s);

	s = open_small_segments(0);
	{
		struct store_records r;
		ck_assert_int_eq(store_load_records(s, &r), 0);
		ck_assert_uint_eq(r.n, 4);
		ck_assert_uint_eq(r.rec[0].kind, 1);
		ck_assert(memcmp(r.bytes.p + r.rec[0].off, "view-last", 9) == 0);
		for (size_t i = 1; i < 4; i++) {
			ck_assert_uint_eq(r.rec[i].kind, 3);
			ck_assert_uint_eq(r.rec[i].key, 37 + i);
			ck_assert_uint_eq(r.rec[i].len, sizeof(val) - 1);
			ck_assert(memcmp(r.bytes.p + r.rec[i].off, val, r.rec[i].len) == 0);
		}
		store_records_free(&r);
	}
	store_close(s);

	/* A flipped byte in the oldest remaining segment, which is not the newest. */
	n = segments(names, 64);
	ck_assert_uint_ge(n, 2);
	seg_file(names[0], path, sizeof(path));
	{
		FILE *f = fopen(path, "r+b");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(fseek(f, 20, SEEK_SET), 0);
		int c = fgetc(f);
		ck_assert_int_eq(fseek(f, 20, SEEK_SET), 0);
		fputc(c ^ 0x5a, f);
		fclose(f);
	}
	{
		struct store_config cfg = { .path = dir, .fanout = 4, .levels = 2,
					    .records_segment_bytes = 4096 };
		struct store *bad = NULL;
		char err[256];
		ck_assert_int_eq(store_open(&cfg, &bad, err, sizeof(err)), STORE_ERR_CORRUPT);
		ck_assert_ptr_null(bad);
		ck_assert_ptr_nonnull(strstr(err, "closed segment"));
	}
}
END_TEST

/* ---------------------------------------------------------------- open errors */
START_TEST(open_errors)
{
	struct store_config cfg = { .path = dir, .fanout = 4, .levels = 2, .create = 0 };
	struct store *s = (struct store *)&cfg;
	char err[256], missing[sizeof(dir) + 8];

	/* Missing database without create. */
	snprintf(missing, sizeof(missing), "%s/none", dir);
	cfg.path = missing;
	ck_assert_int_eq(store_open(&cfg, &s, NULL, 0), STORE_ERR_OPEN);
	ck_assert_ptr_null(s);
	cfg.path = dir;
	/* Bad shapes. */
	cfg.fanout = 1;
	ck_assert_int_eq(store_open(&cfg, &s, err, sizeof(err)), STORE_ERR_ARG);
	ck_assert_ptr_nonnull(strstr(err, "fanout=1"));
	cfg.fanout = 4;
	cfg.levels = 0;
	ck_assert_int_eq(store_open(&cfg, &s, NULL, 0), STORE_ERR_ARG);
	ck_assert_int_eq(store_open(NULL, &s, NULL, 0), STORE_ERR_ARG);

	/* Another shape than the database's. */
	s = open_store(4, 2, 1);
	/* A second open of the same database is refused (LevelDB's lock). */
	struct store *s2;
	cfg.levels = 2;
	ck_assert_int_eq(store_open(&cfg, &s2, err, sizeof(err)), STORE_ERR_OPEN);
	ck_assert_ptr_nonnull(strstr(err, dir));
	store_close(s);
	cfg.fanout = 8;
	cfg.levels = 2;
	ck_assert_int_eq(store_open(&cfg, &s, err, sizeof(err)), STORE_ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err, "fanout=4 levels=2"));
	store_close(NULL);
}
END_TEST

/* Write one raw key into the (closed) database, bypassing the store. */
static void raw_put(const char *key, size_t klen, const char *val, size_t vlen)
{
	leveldb_options_t *o = leveldb_options_create();
	leveldb_writeoptions_t *w = leveldb_writeoptions_create();
	char *err = NULL;
	leveldb_t *db;

	leveldb_options_set_create_if_missing(o, 1);
	db = leveldb_open(o, dir, &err);
	ck_assert_ptr_null(err);
	leveldb_put(db, w, key, klen, val, vlen, &err);
	ck_assert_ptr_null(err);
	leveldb_close(db);
	leveldb_writeoptions_destroy(w);
	leveldb_options_destroy(o);
}

START_TEST(open_refuses_damaged_metadata)
{
	struct store_config cfg = { .path = dir, .fanout = 4, .levels = 2 };
	struct store *s;
	char err[256];

	/* Data without a format record: not a store database. */
	raw_put("x", 1, "y", 1);
	ck_assert_int_eq(store_open(&cfg, &s, err, sizeof(err)), STORE_ERR_FORMAT);
	ck_assert_ptr_nonnull(strstr(err, "no format record"));
	tmp_teardown();
	tmp_setup();

	s = open_store(4, 2, 1);
	store_close(s);
	raw_put("ME", 2, "abc", 3); /* last executed of 3 bytes */
	ck_assert_int_eq(store_open(&cfg, &s, err, sizeof(err)), STORE_ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "holds 3 bytes"));
	raw_put("ME", 2, "\0\0\0\0\0\0\0\7", 8);
	s = open_store(4, 2, 0);
	ck_assert_uint_eq(store_last_executed(s), 7);
	store_close(s);
	raw_put("MP\0\0\0\x10", 6, "short", 5); /* digest of a partition out of range, and short */
	ck_assert_int_eq(store_open(&cfg, &s, err, sizeof(err)), STORE_ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(err, "malformed partition metadata"));
	/* verify = 1 ignores the cached digests and recomputes. */
	cfg.verify = 1;
	ck_assert_int_eq(store_open(&cfg, &s, err, sizeof(err)), 0);
	store_close(s);
}
END_TEST

START_TEST(strerror_table)
{
	for (int e = 0; e >= STORE_ERR_TREE; e--) {
		ck_assert_ptr_nonnull(store_strerror(e));
		ck_assert_str_ne(store_strerror(e), "unknown store error");
	}
	ck_assert_str_eq(store_strerror(STORE_ERR_TREE - 1), "unknown store error");
	ck_assert_str_eq(store_strerror(1), "unknown store error");
}
END_TEST

/* store__state_key remembers the last key's partition: repeats, other keys of the same
 * length and the same key under another namespace all get ptree_partition_of's answer. */
START_TEST(state_key_partition_memo)
{
	static const struct {
		uint8_t ns;
		const char *key;
	} seq[] = { { 'K', "alpha" }, { 'K', "alpha" }, { 'K', "alphb" }, { 'C', "alphb" },
		    { 'K', "alphb" }, { 'K', "alpha" }, { 'K', "alpha" }, { 'K', "a" } };
	struct store *st = open_store(4, 3, 1);
	uint8_t sk[16];

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		size_t klen = strlen(seq[i].key);
		uint64_t part;
		sk[0] = seq[i].ns;
		memcpy(sk + 1, seq[i].key, klen);
		ck_assert_int_eq(store__state_key(st, seq[i].ns, seq[i].key, klen, &part), 0);
		ck_assert_uint_eq(part, ptree_partition_of(store_partitions(st), sk, klen + 1));
		ck_assert_uint_eq(st->key.len, STORE__STATE_PREFIX + 1 + klen);
		ck_assert_uint_eq(store__ld32(st->key.p + 1), part);
		ck_assert(memcmp(st->key.p + STORE__STATE_PREFIX, sk, klen + 1) == 0);
	}
	store_close(st);
}
END_TEST

/* checkpoint_nosync: checkpoints are written without a sync and made durable by
 * store_sync, which a second thread runs while the owner keeps executing. */
struct sync_thread {
	struct store *s;
	_Atomic int stop;
	_Atomic int syncs, failures;
};

static void *sync_loop(void *arg)
{
	struct sync_thread *t = arg;
	char err[128];

	while (!t->stop) {
		if (store_sync(t->s, err, sizeof(err)) == 0)
			t->syncs++;
		else
			t->failures++;
	}
	return NULL;
}

START_TEST(sync_from_another_thread)
{
	struct store_config cfg = { .path = dir, .fanout = 4, .levels = 2, .create = 1,
				    .defer_writes = 1, .checkpoint_nosync = 1 };
	struct sync_thread t = { 0 };
	struct store *s = NULL;
	uint8_t digest[WIRE_DIGEST_LEN];
	char err[256], key[16], val[16];
	pthread_t th;

	ck_assert_int_eq(store_open(&cfg, &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(store_last_checkpoint(s), 0);
	t.s = s;
	ck_assert_int_eq(pthread_create(&th, NULL, sync_loop, &t), 0);
	/* At least 64 batches, and on while the thread has synced fewer than 20 times. */
	uint64_t last = 0;
	for (uint64_t seq = 1; seq <= 64 || (t.syncs < 20 && seq < 1000000); seq++) {
		const char *k = key, *v = val;
		last = seq;
		snprintf(key, sizeof(key), "k%llu", (unsigned long long)(seq % 9));
		snprintf(val, sizeof(val), "v%llu", (unsigned long long)seq);
		put_batch(s, seq, &k, &v, 1, 0);
		if (seq % 4 == 0) {
			ck_assert_int_eq(store_checkpoint(s, seq, digest), 0);
			ck_assert_uint_eq(store_last_checkpoint(s), seq);
			store_release(s, seq - 4);
		}
	}
	t.stop = 1;
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_gt(t.syncs, 0);
	ck_assert_int_eq(t.failures, 0);
	/* A last sync covers every write before it (here: the last checkpoint's). */
	ck_assert_int_eq(store_sync(s, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(store_last_executed(s), last);
	snprintf(val, sizeof(val), "v%llu", (unsigned long long)last);
	snprintf(key, sizeof(key), "k%llu", (unsigned long long)(last % 9));
	expect_value(s, key, val);
	store_close(s);
	s = open_store(4, 2, 0);
	ck_assert_uint_eq(store_last_executed(s), last);
	ck_assert_uint_eq(store_last_checkpoint(s), 0); /* snapshots live in the process */
	expect_value(s, key, val);
	store_close(s);
}
END_TEST

static Suite *store_basic_suite(void)
{
	Suite *s = suite_create("store_basic");
	TCase *tc = tcase_create("basic");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, reopen_keeps_state);
	tcase_add_test(tc, txn_reads_own_writes_and_abort_discards);
	tcase_add_test(tc, txn_many_keys);
	tcase_add_test(tc, commit_checks_seq_and_sizes);
	tcase_add_test(tc, uncommitted_batch_is_lost_on_reopen);
	tcase_add_test(tc, sigkill_leaves_whole_batches);
	tcase_add_test(tc, records_put_del_below_reopen);
	tcase_add_test(tc, records_torn_tail_cut);
	tcase_add_test(tc, records_entry_layout);
	tcase_add_test(tc, records_new_file_zero_ahead);
	tcase_add_test(tc, records_segments_rotate_drop_and_check);
	tcase_add_test(tc, records_files_reused);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, open_refuses_damaged_metadata);
	tcase_add_test(tc, strerror_table);
	tcase_add_test(tc, state_key_partition_memo);
	tcase_add_test(tc, sync_from_another_thread);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(store_basic_suite)
