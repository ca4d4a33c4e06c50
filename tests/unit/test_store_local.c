/* test_store_local.c: replica/store's local key space: get/put/del/has, argument and
 * size refusals, survival across reopen, and independence from the replicated state
 * (its digest does not change, and a state transaction's abort does not touch it). */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"
#include "tests/unit/test_tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replica/store/local.h"
#include "replica/store/store.h"

static struct store *open_store(void)
{
	struct store_config cfg = { .path = dir, .fanout = 4, .levels = 2, .create = 1 };
	struct store *s = NULL;
	char err[256];
	int rc = store_open(&cfg, &s, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open: %s (%s)", store_strerror(rc), err);
	return s;
}

START_TEST(put_get_has_del)
{
	struct store *s = open_store();
	struct wire_buf v;

	wire_buf_init(&v);
	ck_assert_int_eq(store_local_has(s, "k1", 2), 0);
	ck_assert_int_eq(store_local_get(s, "k1", 2, &v), STORE_ERR_NOT_FOUND);
	ck_assert_int_eq(store_local_put(s, "k1", 2, "hello", 5), 0);
	ck_assert_int_eq(store_local_has(s, "k1", 2), 1);
	ck_assert_int_eq(store_local_get(s, "k1", 2, &v), 0);
	ck_assert_uint_eq(v.len, 5);
	ck_assert_mem_eq(v.p, "hello", 5);
	/* an empty value is a value */
	ck_assert_int_eq(store_local_put(s, "k2", 2, NULL, 0), 0);
	ck_assert_int_eq(store_local_get(s, "k2", 2, &v), 0);
	ck_assert_uint_eq(v.len, 0);
	ck_assert_int_eq(store_local_del(s, "k1", 2), 0);
	ck_assert_int_eq(store_local_has(s, "k1", 2), 0);
	ck_assert_int_eq(store_local_del(s, "k1", 2), 0); /* absent: still 0 */
	/* survives a reopen */
	ck_assert_int_eq(store_local_put(s, "k3", 2, "abc", 3), 0);
	store_close(s);
	s = open_store();
	ck_assert_int_eq(store_local_get(s, "k3", 2, &v), 0);
	ck_assert_mem_eq(v.p, "abc", 3);
	wire_buf_free(&v);
	store_close(s);
}
END_TEST

START_TEST(refusals)
{
	struct store *s = open_store();
	struct wire_buf v;
	char *big = calloc(1, STORE_LOCAL_MAX_KEY + 1);

	ck_assert_ptr_nonnull(big);
	wire_buf_init(&v);
	ck_assert_int_eq(store_local_put(s, "", 0, "x", 1), STORE_ERR_ARG);
	ck_assert_int_eq(store_local_put(s, NULL, 3, "x", 1), STORE_ERR_ARG);
	ck_assert_int_eq(store_local_put(s, "k", 1, NULL, 1), STORE_ERR_ARG);
	ck_assert_int_eq(store_local_get(s, "", 0, &v), STORE_ERR_ARG);
	ck_assert_int_eq(store_local_has(s, NULL, 0), STORE_ERR_ARG);
	ck_assert_int_eq(store_local_del(s, "", 0), STORE_ERR_ARG);
	ck_assert_int_eq(store_local_put(s, big, STORE_LOCAL_MAX_KEY + 1, "x", 1), STORE_ERR_TOO_BIG);
	ck_assert_int_eq(store_local_put(s, "k", 1, big, (size_t)STORE_MAX_VALUE + 1),
			 STORE_ERR_TOO_BIG);
	/* the longest key is fine */
	ck_assert_int_eq(store_local_put(s, big, STORE_LOCAL_MAX_KEY, "x", 1), 0);
	ck_assert_int_eq(store_local_has(s, big, STORE_LOCAL_MAX_KEY), 1);
	/* nothing of the refused puts was written */
	ck_assert_int_eq(store_local_has(s, "k", 1), 0);
	free(big);
	wire_buf_free(&v);
	store_close(s);
}
END_TEST

START_TEST(outside_the_state)
{
	struct store *s = open_store();
	uint8_t before[WIRE_DIGEST_LEN], after[WIRE_DIGEST_LEN];
	struct wire_buf v;

	wire_buf_init(&v);
	ck_assert_int_eq(store_root(s, before), 0);
	ck_assert_int_eq(store_local_put(s, "chunk", 5, "bytes", 5), 0);
	ck_assert_int_eq(store_root(s, after), 0);
	ck_assert_mem_eq(before, after, WIRE_DIGEST_LEN);
	ck_assert_uint_eq(store_last_executed(s), 0);
	/* a local write during an open transaction is not part of it */
	ck_assert_int_eq(store_txn_begin(s), 0);
	ck_assert_int_eq(store_txn_put(s, (uint8_t)'K', "a", 1, "1", 1), 0);
	ck_assert_int_eq(store_local_put(s, "mid", 3, "txn", 3), 0);
	store_txn_abort(s);
	ck_assert_int_eq(store_local_get(s, "mid", 3, &v), 0);
	ck_assert_mem_eq(v.p, "txn", 3);
	ck_assert_int_eq(store_get(s, (uint8_t)'K', "a", 1, &v), STORE_ERR_NOT_FOUND);
	/* and a local key never shows up as state */
	ck_assert_int_eq(store_get(s, (uint8_t)'L', "chunk", 5, &v), STORE_ERR_NOT_FOUND);
	ck_assert_int_eq(store_root(s, after), 0);
	ck_assert_mem_eq(before, after, WIRE_DIGEST_LEN);
	wire_buf_free(&v);
	store_close(s);
}
END_TEST

static Suite *store_local_suite(void)
{
	Suite *s = suite_create("store_local");
	TCase *tc = tcase_create("local");

	tcase_add_unchecked_fixture(tc, tmp_base_setup, tmp_base_teardown);
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, put_get_has_del);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, outside_the_state);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(store_local_suite)
