/* test_core_ptree.c: the partition tree: pinned hashes, incremental == from scratch,
 * order independence of writes, sensitivity of the root, argument checks. */
#include "tests/unit/unit.h"

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/ptree.h"

/* A tiny model store: PARTS partitions of up to 8 sorted entries, keys "k<n>". */
#define T_FANOUT 4u
#define T_LEVELS 2u
#define T_PARTS (T_FANOUT * T_FANOUT)
#define T_KEYS 40

struct t_store {
	char val[T_KEYS][16]; /* "" = absent */
};

static void t_key(int i, char *out, size_t n)
{
	snprintf(out, n, "k%02u", (unsigned)i % 100u);
}

/* Digest of partition p: entries with that partition in key order. The "k%02d" keys
 * sort like their numbers, so scanning i ascending is key order. */
static int t_digest(void *ctx, uint64_t p, uint8_t out[PTREE_DIGEST_LEN])
{
	struct t_store *s = ctx;
	struct ptree_part_hash h;
	char key[16];

	if (ptree_part_begin(&h, p) != 0)
		return -1;
	for (int i = 0; i < T_KEYS; i++) {
		if (s->val[i][0] == '\0')
			continue;
		t_key(i, key, sizeof(key));
		if (ptree_partition_of(T_PARTS, key, strlen(key)) != p)
			continue;
		ptree_part_add(&h, key, (uint32_t)strlen(key), s->val[i], (uint32_t)strlen(s->val[i]));
	}
	return ptree_part_end(&h, out);
}

static void t_write(struct ptree *t, struct t_store *s, int i, const char *v)
{
	char key[16];

	t_key(i, key, sizeof(key));
	snprintf(s->val[i], sizeof(s->val[i]), "%s", v);
	ck_assert_int_eq(ptree_mark(t, ptree_partition_of(T_PARTS, key, strlen(key))), 0);
}

static void t_root_from_scratch(struct t_store *s, uint8_t out[PTREE_DIGEST_LEN])
{
	struct ptree fresh;

	ck_assert_int_eq(ptree_init(&fresh, T_FANOUT, T_LEVELS), 0);
	ck_assert_int_eq(ptree_rebuild(&fresh, t_digest, s), 0);
	memcpy(out, ptree_root(&fresh), PTREE_DIGEST_LEN);
	ptree_free(&fresh);
}

static void t_hex(const uint8_t *d, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

START_TEST(node_hash_pinned)
{
	uint8_t children[2 * PTREE_DIGEST_LEN], out[PTREE_DIGEST_LEN], want[PTREE_DIGEST_LEN];
	uint8_t buf[15 + 4 + 8 + sizeof(children)];
	char hex[65];

	memset(children, 0xab, PTREE_DIGEST_LEN);
	memset(children + PTREE_DIGEST_LEN, 0xcd, PTREE_DIGEST_LEN);
	ptree_node_hash(1, 0x0102030405060708ull, children, 2, out);
	/* The documented encoding, built by hand. */
	memcpy(buf, "bulwark/node/v1", 15);
	buf[15] = 1; buf[16] = 0; buf[17] = 0; buf[18] = 0;
	for (int i = 0; i < 8; i++)
		buf[19 + i] = (uint8_t)(8 - i);
	memcpy(buf + 27, children, sizeof(children));
	crypto_sha256(buf, sizeof(buf), want);
	ck_assert_mem_eq(out, want, PTREE_DIGEST_LEN);
	/* And pinned, so the encoding cannot drift unnoticed. */
	t_hex(out, hex);
	ck_assert_str_eq(hex, "5e4c387b4e3ab9d3b401641163b1c6c08749bcae51e3e57d6f10db65d6ef8701");
}
END_TEST

START_TEST(part_digest_encoding)
{
	struct ptree_part_hash h;
	uint8_t out[PTREE_DIGEST_LEN], want[PTREE_DIGEST_LEN], vhash[PTREE_DIGEST_LEN];
	uint8_t buf[15 + 8 + 4 + 1 + PTREE_DIGEST_LEN];
	char hex[65];

	ck_assert_int_eq(ptree_part_begin(&h, 5), 0);
	ck_assert_int_eq(ptree_part_end(&h, out), 0);
	ck_assert_mem_eq(out, PTREE_EMPTY, PTREE_DIGEST_LEN);

	ck_assert_int_eq(ptree_part_begin(&h, 5), 0);
	ptree_part_add(&h, "a", 1, "xy", 2);
	ck_assert_int_eq(ptree_part_end(&h, out), 0);
	/* The documented encoding (v2), built by hand: the value enters as its SHA-256. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "bulwark/part/v2", 15);
	buf[15] = 5;
	buf[23] = 1;
	buf[27] = 'a';
	crypto_sha256("xy", 2, buf + 28);
	crypto_sha256(buf, sizeof(buf), want);
	ck_assert_mem_eq(out, want, PTREE_DIGEST_LEN);
	/* And pinned (computed with Python's hashlib), so it cannot drift unnoticed. */
	t_hex(out, hex);
	ck_assert_str_eq(hex, "623e1e5846cfcfe9ba3345474183c9bd0177a8a69a33ec88b9b7c43f085fff39");

	/* The value hash is SHA-256 of the value, and adding an entry by it digests the same. */
	ptree_value_hash("xy", 2, vhash);
	ck_assert_mem_eq(vhash, buf + 28, PTREE_DIGEST_LEN);
	ck_assert_int_eq(ptree_part_begin(&h, 5), 0);
	ptree_part_add_hashed(&h, "a", 1, vhash);
	ck_assert_int_eq(ptree_part_end(&h, want), 0);
	ck_assert_mem_eq(out, want, PTREE_DIGEST_LEN);

	/* The partition index is bound into the digest. */
	ck_assert_int_eq(ptree_part_begin(&h, 6), 0);
	ptree_part_add(&h, "a", 1, "xy", 2);
	ck_assert_int_eq(ptree_part_end(&h, want), 0);
	ck_assert(memcmp(out, want, PTREE_DIGEST_LEN) != 0);

	/* A NULL value with a length fails, and the failure stays. */
	ck_assert_int_eq(ptree_part_begin(&h, 5), 0);
	ptree_part_add(&h, "a", 1, NULL, 2);
	ptree_part_add_hashed(&h, "b", 1, vhash);
	ck_assert_int_eq(ptree_part_end(&h, want), PTREE_ERR_CRYPTO);
}
END_TEST

/* Entries added by value and by value hash mix freely: several entries, empty values
 * and keys of every length in between give the same digest either way. */
START_TEST(part_add_hashed_equals_part_add)
{
	struct ptree_part_hash a, b;
	uint8_t da[PTREE_DIGEST_LEN], db[PTREE_DIGEST_LEN], vhash[PTREE_DIGEST_LEN];
	char key[8], val[300];

	ck_assert_int_eq(ptree_part_begin(&a, 9), 0);
	ck_assert_int_eq(ptree_part_begin(&b, 9), 0);
	for (uint32_t i = 0; i < 20; i++) {
		uint32_t vlen = i * 15;
		snprintf(key, sizeof(key), "k%02u", (unsigned)i);
		memset(val, 'a' + (int)i, vlen);
		ptree_part_add(&a, key, (uint32_t)strlen(key), vlen != 0 ? val : NULL, vlen);
		ptree_value_hash(vlen != 0 ? val : NULL, vlen, vhash);
		if (i % 2 == 0)
			ptree_part_add_hashed(&b, key, (uint32_t)strlen(key), vhash);
		else
			ptree_part_add(&b, key, (uint32_t)strlen(key), val, vlen);
	}
	ck_assert_int_eq(ptree_part_end(&a, da), 0);
	ck_assert_int_eq(ptree_part_end(&b, db), 0);
	ck_assert_mem_eq(da, db, PTREE_DIGEST_LEN);
	ck_assert(memcmp(da, PTREE_EMPTY, PTREE_DIGEST_LEN) != 0);
}
END_TEST

START_TEST(partition_of_documented)
{
	uint8_t h[32];
	uint64_t v = 0;

	crypto_sha256("hello", 5, h);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | h[i];
	ck_assert_uint_eq(ptree_partition_of(256, "hello", 5), v % 256);
	ck_assert_uint_eq(ptree_partition_of(65536, "hello", 5), v % 65536);
	ck_assert_uint_eq(ptree_partition_of(0, "hello", 5), 0);
}
END_TEST

START_TEST(incremental_equals_scratch)
{
	struct t_store s;
	struct ptree t;
	uint8_t want[PTREE_DIGEST_LEN];
	char v[16];

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(ptree_init(&t, T_FANOUT, T_LEVELS), 0);
	t_root_from_scratch(&s, want);
	ck_assert_mem_eq(ptree_root(&t), want, PTREE_DIGEST_LEN);
	for (int round = 0; round < 30; round++) {
		for (int j = 0; j < 1 + round % 4; j++) {
			int i = (round * 7 + j * 13) % T_KEYS;
			snprintf(v, sizeof(v), "v%d", round);
			t_write(&t, &s, i, (round % 5 == 4) ? "" : v);
		}
		ck_assert(ptree_dirty(&t));
		ck_assert_int_eq(ptree_update(&t, t_digest, &s), 0);
		ck_assert(!ptree_dirty(&t));
		t_root_from_scratch(&s, want);
		ck_assert_mem_eq(ptree_root(&t), want, PTREE_DIGEST_LEN);
	}
	ptree_free(&t);
}
END_TEST

START_TEST(write_order_independent)
{
	struct t_store s1, s2;
	struct ptree a, b;

	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	ck_assert_int_eq(ptree_init(&a, T_FANOUT, T_LEVELS), 0);
	ck_assert_int_eq(ptree_init(&b, T_FANOUT, T_LEVELS), 0);
	for (int i = 0; i < T_KEYS; i++)
		t_write(&a, &s1, i, "x");
	ck_assert_int_eq(ptree_update(&a, t_digest, &s1), 0);
	/* Same final contents, reverse order, several updates in between. */
	for (int i = T_KEYS - 1; i >= 0; i--) {
		t_write(&b, &s2, i, "x");
		if (i % 9 == 0)
			ck_assert_int_eq(ptree_update(&b, t_digest, &s2), 0);
	}
	ck_assert_int_eq(ptree_update(&b, t_digest, &s2), 0);
	ck_assert_mem_eq(ptree_root(&a), ptree_root(&b), PTREE_DIGEST_LEN);
	ptree_free(&a);
	ptree_free(&b);
}
END_TEST

START_TEST(one_value_changes_root)
{
	struct t_store s;
	struct ptree t, copy;
	uint8_t before[PTREE_DIGEST_LEN];

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(ptree_init(&t, T_FANOUT, T_LEVELS), 0);
	for (int i = 0; i < T_KEYS; i++)
		t_write(&t, &s, i, "same");
	ck_assert_int_eq(ptree_update(&t, t_digest, &s), 0);
	memcpy(before, ptree_root(&t), PTREE_DIGEST_LEN);
	ck_assert_int_eq(ptree_copy(&copy, &t), 0);

	t_write(&t, &s, 17, "samf");
	ck_assert_int_eq(ptree_update(&t, t_digest, &s), 0);
	ck_assert(memcmp(before, ptree_root(&t), PTREE_DIGEST_LEN) != 0);
	/* The copy is independent. */
	ck_assert_mem_eq(ptree_root(&copy), before, PTREE_DIGEST_LEN);
	/* Writing it back restores the root. */
	t_write(&t, &s, 17, "same");
	ck_assert_int_eq(ptree_update(&t, t_digest, &s), 0);
	ck_assert_mem_eq(ptree_root(&t), before, PTREE_DIGEST_LEN);
	ptree_free(&t);
	ptree_free(&copy);
}
END_TEST

static int t_fail(void *ctx, uint64_t p, uint8_t out[PTREE_DIGEST_LEN])
{
	return -1;
}

START_TEST(set_and_failures)
{
	struct ptree t;
	uint8_t d[PTREE_DIGEST_LEN], root[PTREE_DIGEST_LEN];
	const uint8_t *first;
	uint32_t count;

	ck_assert_int_eq(ptree_init(&t, 1, 2), PTREE_ERR_ARG);
	ck_assert_int_eq(ptree_init(&t, 257, 1), PTREE_ERR_ARG);
	ck_assert_int_eq(ptree_init(&t, 256, 4), PTREE_ERR_ARG);
	ck_assert_int_eq(ptree_init(&t, 16, 2), 0);
	ck_assert_uint_eq(t.partitions, 256);
	ck_assert_int_eq(ptree_mark(&t, 256), PTREE_ERR_ARG);
	ck_assert_ptr_null(ptree_node(&t, 3, 0));
	ck_assert_ptr_null(ptree_node(&t, 1, 16));
	ck_assert_int_eq(ptree_children(&t, 2, 0, &first, &count), PTREE_ERR_ARG);

	/* A failing callback leaves the tree dirty and unchanged. */
	memcpy(root, ptree_root(&t), sizeof(root));
	ck_assert_int_eq(ptree_mark(&t, 3), 0);
	ck_assert_int_eq(ptree_update(&t, t_fail, NULL), PTREE_ERR_CALLBACK);
	ck_assert(ptree_dirty(&t));
	ck_assert_mem_eq(ptree_root(&t), root, sizeof(root));
	/* A set supersedes the mark: no callback needed. */
	memset(d, 7, sizeof(d));
	ck_assert_int_eq(ptree_set(&t, 3, d), 0);
	ck_assert_int_eq(ptree_update(&t, NULL, NULL), 0);
	ck_assert_mem_eq(ptree_node(&t, 2, 3), d, sizeof(d));
	/* Parent of partition 3 is (1, 0): its hash covers its 16 children. */
	ck_assert_int_eq(ptree_children(&t, 1, 0, &first, &count), 0);
	ck_assert_uint_eq(count, 16);
	ptree_node_hash(1, 0, first, count, root);
	ck_assert_mem_eq(ptree_node(&t, 1, 0), root, sizeof(root));
	ck_assert_int_eq(ptree_children(&t, 0, 0, &first, &count), 0);
	ptree_node_hash(0, 0, first, count, root);
	ck_assert_mem_eq(ptree_root(&t), root, sizeof(root));
	ck_assert_str_eq(ptree_strerror(PTREE_ERR_CALLBACK), "partition digest callback failed");
	ptree_free(&t);
}
END_TEST

static Suite *ptree_suite(void)
{
	Suite *s = suite_create("core_ptree");
	TCase *tc = tcase_create("ptree");

	tcase_add_test(tc, node_hash_pinned);
	tcase_add_test(tc, part_digest_encoding);
	tcase_add_test(tc, part_add_hashed_equals_part_add);
	tcase_add_test(tc, partition_of_documented);
	tcase_add_test(tc, incremental_equals_scratch);
	tcase_add_test(tc, write_order_independent);
	tcase_add_test(tc, one_value_changes_root);
	tcase_add_test(tc, set_and_failures);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(ptree_suite)
