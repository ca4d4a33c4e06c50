/* test_store_clients.c: replica/store's client table: entries written in a batch's
 * transaction and read back, refused arguments, part of the state digest, kept across
 * a reopen, and committed atomically with the batch across a SIGKILL. */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_tmpdir.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "replica/store/store.h"

#define NS_TEST ((uint8_t)'T')
#define NCLIENTS 12

static struct store *open_store(const char *path, int create, int verify)
{
	struct store_config cfg = { .path = path, .fanout = 4, .levels = 2, .create = create,
				    .verify = verify };
	struct store *s = NULL;
	char err[256];
	int rc = store_open(&cfg, &s, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open: %s (%s)", store_strerror(rc), err);
	return s;
}

static void client_key(uint8_t out[WIRE_KEY_LEN], int i)
{
	memset(out, 0x30 + i, WIRE_KEY_LEN);
}

/* Expect client i's entry: timestamp ts and result want (ts 0: none). */
static void expect_client(struct store *s, int i, uint64_t ts, const char *want)
{
	uint8_t k[WIRE_KEY_LEN];
	struct wire_buf r;
	uint64_t got = 99;

	client_key(k, i);
	wire_buf_init(&r);
	wire_put_u8(&r, 0xee); /* appended to, not reset */
	ck_assert_int_eq(store_client_last(s, k, 0, &got, &r), 0);
	ck_assert_uint_eq(got, ts);
	if (ts == 0) {
		ck_assert_uint_eq(r.len, 1);
	} else {
		ck_assert_uint_eq(r.len, 1 + strlen(want));
		ck_assert(memcmp(r.p + 1, want, strlen(want)) == 0);
	}
	got = 99;
	ck_assert_int_eq(store_client_last(s, k, 0, &got, NULL), 0);
	ck_assert_uint_eq(got, ts);
	wire_buf_free(&r);
}

START_TEST(client_put_and_last)
{
	struct store *s = open_store(dir, 1, 0);
	uint8_t a[WIRE_KEY_LEN], b[WIRE_KEY_LEN];

	client_key(a, 1);
	client_key(b, 2);
	expect_client(s, 1, 0, NULL);
	/* Outside a transaction, timestamp 0, or a missing result: refused. */
	ck_assert_int_eq(store_txn_client_put(s, a, 0, 5, "r", 1), STORE_ERR_TXN);
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_client_put(s, a, 0, 0, "r", 1), STORE_ERR_ARG);
	ck_assert_int_eq(store_txn_client_put(s, a, 0, 5, NULL, 1), STORE_ERR_ARG);
	ck_assert_int_eq(store_txn_client_put(s, a, 0, 5, "r5", 2), 0);
	ck_assert_int_eq(store_txn_client_put(s, b, 0, 9, "", 0), 0);
	ck_assert_int_eq(store_txn_client_put(s, a, 0, 6, "r6", 2), 0); /* later in the batch */
	expect_client(s, 1, 0, NULL); /* not committed yet */
	ck_assert_int_eq(store_txn_commit(s, 1, 1), 0);
	expect_client(s, 1, 6, "r6");
	expect_client(s, 2, 9, "");
	/* An aborted batch leaves the table as it was. */
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_client_put(s, a, 0, 7, "r7", 2), 0);
	store_txn_abort(s);
	expect_client(s, 1, 6, "r6");
	/* A malformed entry is reported, not believed. */
	ck_assert_int_eq(store_txn_begin(s), 0);
	uint8_t bid[WIRE_KEY_LEN + 4];
	memcpy(bid, b, WIRE_KEY_LEN);
	memset(bid + WIRE_KEY_LEN, 0, 4); /* lane 0, big-endian */
	ck_assert_int_eq(store_txn_put(s, STORE_NS_CLIENT, bid, sizeof(bid), "abc", 3), 0);
	ck_assert_int_eq(store_txn_commit(s, 2, 1), 0);
	{
		uint64_t ts = 99;
		ck_assert_int_eq(store_client_last(s, b, 0, &ts, NULL), STORE_ERR_CORRUPT);
		ck_assert_uint_eq(ts, 0);
		ck_assert_ptr_nonnull(strstr(store_last_error(s), "client table"));
	}
	store_close(s);
}
END_TEST

/* Two stores with the same key-value state and different client tables have different
 * roots; equal tables give equal roots; the table survives a reopen, and the cached
 * digests equal a full recomputation. */
START_TEST(client_table_in_digest_and_survives_reopen)
{
	char pa[300], pb[300];
	struct store *a, *b;
	uint8_t k[WIRE_KEY_LEN], ra[WIRE_DIGEST_LEN], rb[WIRE_DIGEST_LEN], rv[WIRE_DIGEST_LEN];

	snprintf(pa, sizeof(pa), "%s/a", dir);
	snprintf(pb, sizeof(pb), "%s/b", dir);
	a = open_store(pa, 1, 0);
	b = open_store(pb, 1, 0);
	client_key(k, 3);
	ck_assert_int_eq(store_txn_begin(a), 0);
	ck_assert_int_eq(store_txn_begin(b), 0);
	ck_assert_int_eq(store_txn_put(a, NS_TEST, "x", 1, "1", 1), 0);
	ck_assert_int_eq(store_txn_put(b, NS_TEST, "x", 1, "1", 1), 0);
	ck_assert_int_eq(store_txn_client_put(a, k, 0, 100, "ok", 2), 0);
	ck_assert_int_eq(store_txn_client_put(b, k, 0, 100, "ok", 2), 0);
	ck_assert_int_eq(store_txn_commit(a, 1, 1), 0);
	ck_assert_int_eq(store_txn_commit(b, 1, 1), 0);
	ck_assert_int_eq(store_checkpoint(a, 1, ra), 0);
	ck_assert_int_eq(store_checkpoint(b, 1, rb), 0);
	ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
	/* b alone records a later timestamp for the same client: the roots differ. */
	ck_assert_int_eq(store_txn_begin(a), 0);
	ck_assert_int_eq(store_txn_begin(b), 0);
	ck_assert_int_eq(store_txn_client_put(b, k, 0, 101, "ok", 2), 0);
	ck_assert_int_eq(store_txn_commit(a, 2, 1), 0);
	ck_assert_int_eq(store_txn_commit(b, 2, 1), 0);
	ck_assert_int_eq(store_root(a, ra), 0);
	ck_assert_int_eq(store_root(b, rb), 0);
	ck_assert(memcmp(ra, rb, sizeof(ra)) != 0);
	store_close(a);
	store_close(b);

	b = open_store(pb, 0, 0);
	ck_assert_uint_eq(store_last_executed(b), 2);
	expect_client(b, 3, 101, "ok");
	ck_assert_int_eq(store_root(b, ra), 0);
	store_close(b);
	b = open_store(pb, 0, 1);
	ck_assert_int_eq(store_root(b, rv), 0);
	ck_assert(memcmp(ra, rv, sizeof(ra)) == 0);
	ck_assert(memcmp(rb, rv, sizeof(rb)) == 0);
	store_close(b);
}
END_TEST

/* A child executes batches, each writing keys and client entries for seq, and is
 * killed with SIGKILL at a random moment: on reopen every key and every client entry
 * is the last executed batch's, never one without the other. */
START_TEST(sigkill_batch_and_client_entries_atomic)
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
		uint8_t ck[WIRE_KEY_LEN];
		if (store_open(&cfg, &s, NULL, 0) != 0)
			_exit(2);
		for (uint64_t seq = 1;; seq++) {
			if (store_txn_begin(s) != 0)
				_exit(3);
			for (int i = 0; i < NCLIENTS; i++) {
				int kl = snprintf(key, sizeof(key), "k%d", i);
				int vl = snprintf(val, sizeof(val), "%llu", (unsigned long long)seq);
				if (store_txn_put(s, NS_TEST, key, (size_t)kl, val, (size_t)vl) != 0)
					_exit(4);
				client_key(ck, i);
				if (store_txn_client_put(s, ck, 0, seq, val, (size_t)vl) != 0)
					_exit(4);
			}
			if (store_txn_commit(s, seq, 0) != 0)
				_exit(5);
			if (seq == 1 && write(ready[1], "r", 1) != 1)
				_exit(6);
		}
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	usleep(50000 + (useconds_t)(getpid() % 100) * 1000);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status), "child exited early with status %d", WEXITSTATUS(status));

	struct store *s = open_store(dir, 0, 0);
	uint64_t last = store_last_executed(s);
	char want[32], key[32];
	struct wire_buf v;

	ck_assert_uint_gt(last, 0);
	snprintf(want, sizeof(want), "%llu", (unsigned long long)last);
	wire_buf_init(&v);
	for (int i = 0; i < NCLIENTS; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ck_assert_int_eq(store_get(s, NS_TEST, key, strlen(key), &v), 0);
		ck_assert_uint_eq(v.len, strlen(want));
		ck_assert(memcmp(v.p, want, v.len) == 0);
		expect_client(s, i, last, want);
	}
	wire_buf_free(&v);
	store_close(s);
}
END_TEST

static Suite *store_clients_suite(void)
{
	Suite *s = suite_create("store_clients");
	TCase *tc = tcase_create("clients");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, client_put_and_last);
	tcase_add_test(tc, client_table_in_digest_and_survives_reopen);
	tcase_add_test(tc, sigkill_batch_and_client_entries_atomic);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(store_clients_suite)
