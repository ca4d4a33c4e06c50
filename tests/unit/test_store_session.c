/* test_store_session.c: replica/store's sessions (may unsynced writes have been lost
 * since the last open? only if another boot of the machine opened the database and it
 * was not closed cleanly) and the client table keyed by (client key, lane). */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_client_table.h"
#include "tests/unit/test_tmpdir.h"

#include <stdio.h>
#include <string.h>

#include <leveldb/c.h>

#include "replica/store/store.h"

static struct store *open_store(const char *path, int create)
{
	struct store_config cfg = { .path = path, .fanout = 4, .levels = 2, .create = create };
	struct store *s = NULL;
	char err[256];
	int rc = store_open(&cfg, &s, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open: %s (%s)", store_strerror(rc), err);
	return s;
}

static void boot_id(uint8_t out[STORE_BOOT_ID_LEN], int b)
{
	memset(out, b, STORE_BOOT_ID_LEN);
}

/* Open the database at dir, begin a session under boot b (0: the unknown, all-zero id),
 * return what store_session_begin said was lost. The store stays open in *out. */
static int begin(int b, struct store **out)
{
	uint8_t id[STORE_BOOT_ID_LEN];
	int lost = 7;

	*out = open_store(dir, 1);
	boot_id(id, b);
	ck_assert_int_eq(store_session_begin(*out, id, &lost), 0);
	ck_assert(lost == 0 || lost == 1);
	return lost;
}

/* A whole run: begin under boot b; if a loss was reported, settle it (the replica moved
 * past the views concerned) when settle is set; then stop cleanly (store_session_end) or
 * not (the process dies: the store is closed without a session end). */
static int run_settle(int b, int clean, int settle)
{
	struct store *s;
	uint8_t id[STORE_BOOT_ID_LEN];
	int lost = begin(b, &s);

	boot_id(id, b);
	if (lost && settle)
		ck_assert_int_eq(store_session_settled(s, id), 0);
	if (clean)
		ck_assert_int_eq(store_session_end(s, id), 0);
	store_close(s);
	return lost;
}

/* A run whose loss, if any, is settled at once. */
static int run(int b, int clean)
{
	return run_settle(b, clean, 1);
}

/* Write one raw key into the (closed) database, bypassing the store. */
static void raw_put(const char *key, size_t klen, const char *val, size_t vlen)
{
	leveldb_options_t *o = leveldb_options_create();
	leveldb_writeoptions_t *w = leveldb_writeoptions_create();
	char *err = NULL;
	leveldb_t *db;

	db = leveldb_open(o, dir, &err);
	ck_assert_msg(err == NULL, "leveldb_open: %s", err);
	leveldb_put(db, w, key, klen, val, vlen, &err);
	ck_assert_msg(err == NULL, "leveldb_put: %s", err);
	leveldb_close(db);
	leveldb_writeoptions_destroy(w);
	leveldb_options_destroy(o);
}

/* ---------------------------------------------------------------- sessions */
START_TEST(session_same_boot_keeps_writes)
{
	ck_assert_int_eq(run(0xa1, 0), 0); /* a new database: nothing to lose */
	ck_assert_int_eq(run(0xa1, 0), 0); /* the process died, the machine did not */
	ck_assert_int_eq(run(0xa1, 0), 0);
	ck_assert_int_eq(run(0xa1, 1), 0);
	ck_assert_int_eq(run(0xa1, 0), 0);
}
END_TEST

START_TEST(session_other_boot_unclean_loses)
{
	ck_assert_int_eq(run(0xa1, 0), 0);
	ck_assert_int_eq(run(0xb2, 1), 1); /* the machine went down under 0xa1 */
	ck_assert_int_eq(run(0xc3, 0), 0); /* 0xb2 ended cleanly */
	ck_assert_int_eq(run(0xa1, 0), 1);
}
END_TEST

START_TEST(session_clean_end_keeps_writes)
{
	ck_assert_int_eq(run(0xa1, 1), 0);
	ck_assert_int_eq(run(0xb2, 1), 0); /* a clean stop, then a reboot */
	ck_assert_int_eq(run(0xc3, 0), 0);
	ck_assert_int_eq(run(0xa1, 1), 1); /* 0xc3 did not end cleanly */
}
END_TEST

/* An unreadable boot id (zeros) never counts as the same boot, not even as another
 * unreadable one: only a clean end makes the next open safe. */
START_TEST(session_zero_boot_never_same)
{
	ck_assert_int_eq(run(0, 0), 0); /* new database */
	ck_assert_int_eq(run(0, 0), 1);
	ck_assert_int_eq(run(0, 1), 1);
	ck_assert_int_eq(run(0, 0), 0); /* the previous run ended cleanly */
	ck_assert_int_eq(run(0xa1, 0), 1);
	ck_assert_int_eq(run(0, 0), 1);
	ck_assert_int_eq(run(0xa1, 0), 1);
}
END_TEST

/* A loss stays reported, across restarts and clean stops under the same boot, until it is
 * settled. */
START_TEST(session_loss_sticky_until_settled)
{
	ck_assert_int_eq(run_settle(0xa1, 0, 0), 0);
	ck_assert_int_eq(run_settle(0xb2, 0, 0), 1); /* the machine went down */
	ck_assert_int_eq(run_settle(0xb2, 0, 0), 1); /* the process died: still unsettled */
	ck_assert_int_eq(run_settle(0xb2, 1, 0), 1); /* a clean stop does not settle it */
	ck_assert_int_eq(run_settle(0xc3, 1, 0), 1); /* nor a clean reboot */
	ck_assert_int_eq(run_settle(0xc3, 0, 1), 1); /* settled in this run */
	ck_assert_int_eq(run_settle(0xc3, 0, 0), 0);
	ck_assert_int_eq(run_settle(0xd4, 1, 0), 1); /* 0xc3 did not end cleanly */
	ck_assert_int_eq(run_settle(0xd4, 1, 1), 1);
	ck_assert_int_eq(run_settle(0xe5, 1, 0), 0);
}
END_TEST

/* A session recorded, then the store closed before any session end: a second begin in
 * the same open sees its own unclean record, under the same boot. */
START_TEST(session_begin_twice_in_one_open)
{
	struct store *s;
	uint8_t id[STORE_BOOT_ID_LEN];
	int lost = 7;

	ck_assert_int_eq(begin(0xa1, &s), 0);
	boot_id(id, 0xa1);
	ck_assert_int_eq(store_session_begin(s, id, &lost), 0);
	ck_assert_int_eq(lost, 0);
	boot_id(id, 0xb2);
	ck_assert_int_eq(store_session_begin(s, id, &lost), 0);
	ck_assert_int_eq(lost, 1);
	store_close(s);
}
END_TEST

/* A session record of the wrong size or with a clean flag other than 0 or 1 is
 * reported as corrupt, and left as it is. */
START_TEST(session_malformed_record)
{
	struct store *s;
	uint8_t id[STORE_BOOT_ID_LEN];
	char val[STORE_BOOT_ID_LEN + 3];
	int lost = 7;

	ck_assert_int_eq(run(0xa1, 1), 0);
	raw_put("MB", 2, "abc", 3);
	s = open_store(dir, 0);
	boot_id(id, 0xa1);
	ck_assert_int_eq(store_session_begin(s, id, &lost), STORE_ERR_CORRUPT);
	ck_assert_int_eq(lost, 0);
	ck_assert_ptr_nonnull(strstr(store_last_error(s), "session record"));
	ck_assert_int_eq(store_session_begin(s, id, &lost), STORE_ERR_CORRUPT);
	store_close(s);

	memset(val, 0xa1, sizeof(val));
	val[STORE_BOOT_ID_LEN] = val[STORE_BOOT_ID_LEN + 1] = 0;
	raw_put("MB", 2, val, STORE_BOOT_ID_LEN + 3); /* one byte too many */
	s = open_store(dir, 0);
	ck_assert_int_eq(store_session_begin(s, id, &lost), STORE_ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(store_last_error(s), "holds 19 bytes"));
	store_close(s);
	raw_put("MB", 2, val, STORE_BOOT_ID_LEN + 1); /* one too few */
	s = open_store(dir, 0);
	ck_assert_int_eq(store_session_begin(s, id, &lost), STORE_ERR_CORRUPT);
	store_close(s);

	val[STORE_BOOT_ID_LEN] = 2; /* neither clean nor unclean */
	raw_put("MB", 2, val, STORE_BOOT_ID_LEN + 2);
	s = open_store(dir, 0);
	ck_assert_int_eq(store_session_begin(s, id, &lost), STORE_ERR_CORRUPT);
	ck_assert_ptr_nonnull(strstr(store_last_error(s), "flags 2 0"));
	store_close(s);
	val[STORE_BOOT_ID_LEN] = 0;
	val[STORE_BOOT_ID_LEN + 1] = 3; /* neither certain nor uncertain */
	raw_put("MB", 2, val, STORE_BOOT_ID_LEN + 2);
	s = open_store(dir, 0);
	ck_assert_int_eq(store_session_begin(s, id, &lost), STORE_ERR_CORRUPT);
	store_close(s);

	/* A well-formed one again: the session works as before. */
	val[STORE_BOOT_ID_LEN + 1] = 0;
	raw_put("MB", 2, val, STORE_BOOT_ID_LEN + 2);
	ck_assert_int_eq(run(0xa1, 0), 0);
	ck_assert_int_eq(run(0xb2, 0), 1);
}
END_TEST

/* ---------------------------------------------------------------- lanes */

START_TEST(client_table_lanes_apart)
{
	struct store *s = open_store(dir, 1);
	uint8_t k[WIRE_KEY_LEN];

	tc_client_key(k, 1);
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_client_put(s, k, 0, 5, "r0", 2), 0);
	ck_assert_int_eq(store_txn_client_put(s, k, 1, 9, "r1", 2), 0);
	ck_assert_int_eq(store_txn_client_put(s, k, 256, 3, "r256", 4), 0);
	ck_assert_int_eq(store_txn_commit(s, 1, 1), 0);
	tc_expect_client(s, 1, 0, 5, "r0");
	tc_expect_client(s, 1, 1, 9, "r1");
	tc_expect_client(s, 1, 256, 3, "r256");
	tc_expect_client(s, 1, 2, 0, NULL);
	tc_expect_client(s, 1, 1u << 24, 0, NULL);
	tc_expect_client(s, 2, 0, 0, NULL);

	/* A later request on lane 1 leaves lane 0 as it was. */
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_client_put(s, k, 1, 10, "r1b", 3), 0);
	ck_assert_int_eq(store_txn_commit(s, 2, 1), 0);
	tc_expect_client(s, 1, 0, 5, "r0");
	tc_expect_client(s, 1, 1, 10, "r1b");
	store_close(s);

	s = open_store(dir, 0);
	tc_expect_client(s, 1, 0, 5, "r0");
	tc_expect_client(s, 1, 1, 10, "r1b");
	tc_expect_client(s, 1, 256, 3, "r256");
	store_close(s);
}
END_TEST

/* Batch seq puts the entry (k, lane) = (100, "ok") in s; returns s's root in root. */
static void put_lane_entry(struct store *s, const uint8_t k[WIRE_KEY_LEN], uint32_t lane,
			   uint64_t seq, uint8_t root[WIRE_DIGEST_LEN])
{
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_client_put(s, k, lane, 100, "ok", 2), 0);
	ck_assert_int_eq(store_txn_commit(s, seq, 1), 0);
	ck_assert_int_eq(store_root(s, root), 0);
}

/* The same entry under another lane is another state: the roots differ. */
START_TEST(client_lane_in_digest)
{
	char pa[300], pb[300];
	struct store *a, *b;
	uint8_t k[WIRE_KEY_LEN], ra[WIRE_DIGEST_LEN], rb[WIRE_DIGEST_LEN];

	snprintf(pa, sizeof(pa), "%s/a", dir);
	snprintf(pb, sizeof(pb), "%s/b", dir);
	a = open_store(pa, 1);
	b = open_store(pb, 1);
	tc_client_key(k, 3);
	put_lane_entry(a, k, 0, 1, ra);
	put_lane_entry(b, k, 1, 1, rb);
	ck_assert(memcmp(ra, rb, sizeof(ra)) != 0);
	/* Both lanes in both: equal again. */
	put_lane_entry(a, k, 1, 2, ra);
	put_lane_entry(b, k, 0, 2, rb);
	ck_assert(memcmp(ra, rb, sizeof(ra)) == 0);
	store_close(a);
	store_close(b);
}
END_TEST

static Suite *store_session_suite(void)
{
	Suite *s = suite_create("store_session");
	TCase *tc = tcase_create("session");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, session_same_boot_keeps_writes);
	tcase_add_test(tc, session_other_boot_unclean_loses);
	tcase_add_test(tc, session_clean_end_keeps_writes);
	tcase_add_test(tc, session_zero_boot_never_same);
	tcase_add_test(tc, session_loss_sticky_until_settled);
	tcase_add_test(tc, session_begin_twice_in_one_open);
	tcase_add_test(tc, session_malformed_record);
	tcase_add_test(tc, client_table_lanes_apart);
	tcase_add_test(tc, client_lane_in_digest);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(store_session_suite)
