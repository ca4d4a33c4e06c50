/* test_crypto_merkle.c: RFC 9162 Merkle trees: CT reference vectors, every proof up to n = 40. */
#include "tests/unit/unit.h"

#include "crypto/crypto.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAXN 40

static void unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* The eight leaves of the certificate-transparency reference tree. */
static const char *const ct_leaves[8] = {
	"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
	"606162636465666768696a6b6c6d6e6f",
};

static const char *const ct_roots[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static void ct_leaf_hashes(uint8_t (*out)[CRYPTO_HASH_LEN])
{
	uint8_t data[16];

	for (size_t i = 0; i < 8; i++) {
		size_t len = strlen(ct_leaves[i]) / 2;
		unhex(ct_leaves[i], data);
		crypto_merkle_leaf(data, len, out[i]);
	}
}

START_TEST(test_ct_roots)
{
	uint8_t leaves[8][CRYPTO_HASH_LEN];
	uint8_t root[CRYPTO_HASH_LEN];
	uint8_t want[CRYPTO_HASH_LEN];

	ct_leaf_hashes(leaves);
	for (size_t n = 0; n <= 8; n++) {
		ck_assert_int_eq(crypto_merkle_root(n ? leaves : NULL, n, root), CRYPTO_OK);
		unhex(ct_roots[n], want);
		ck_assert_mem_eq(root, want, CRYPTO_HASH_LEN);
	}
	/* The empty leaf may be given as NULL; NULL with a length gives all zeros. */
	crypto_merkle_leaf(NULL, 0, root);
	ck_assert_mem_eq(root, leaves[0], CRYPTO_HASH_LEN);
	crypto_merkle_leaf(NULL, 5, root);
	memset(want, 0, sizeof(want));
	ck_assert_mem_eq(root, want, CRYPTO_HASH_LEN);
	/* A node hash is SHA-256(0x01 || left || right). */
	crypto_merkle_node(leaves[0], leaves[1], root);
	unhex(ct_roots[2], want);
	ck_assert_mem_eq(root, want, CRYPTO_HASH_LEN);
}
END_TEST

struct path_vec {
	size_t index, size, len;
	const char *path[3];
};

START_TEST(test_ct_inclusion)
{
	static const struct path_vec v[] = {
		{ 0, 1, 0, { NULL } },
		{ 0, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
		{ 3, 8, 3, { "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
			     "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
			     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
		{ 5, 8, 3, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
			     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
		{ 7, 8, 3, { "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
			     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
		{ 2, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
		{ 1, 5, 3, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
			     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
		{ 6, 7, 2, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	};
	uint8_t leaves[8][CRYPTO_HASH_LEN];
	uint8_t path[CRYPTO_MERKLE_MAX_PATH][CRYPTO_HASH_LEN];
	uint8_t want[3][CRYPTO_HASH_LEN];
	uint8_t root[CRYPTO_HASH_LEN];
	size_t pathlen;

	ct_leaf_hashes(leaves);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_int_eq(crypto_merkle_inclusion_proof((const uint8_t(*)[32])leaves,
							       v[i].size, v[i].index, path, &pathlen),
				 CRYPTO_OK);
		ck_assert_uint_eq(pathlen, v[i].len);
		for (size_t j = 0; j < v[i].len; j++) {
			unhex(v[i].path[j], want[j]);
			ck_assert_mem_eq(path[j], want[j], CRYPTO_HASH_LEN);
		}
		unhex(ct_roots[v[i].size], root);
		ck_assert_int_eq(crypto_merkle_inclusion_verify(leaves[v[i].index], v[i].index,
								v[i].size,
								(const uint8_t(*)[32])want,
								v[i].len, root),
				 CRYPTO_OK);
	}
}
END_TEST

START_TEST(test_ct_consistency)
{
	static const struct {
		size_t m, n, len;
		const char *path[3];
	} v[] = {
		{ 1, 1, 0, { NULL } },
		{ 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
			     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
		{ 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
			     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
			     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
		{ 2, 5, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
			     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	};
	uint8_t leaves[8][CRYPTO_HASH_LEN];
	uint8_t path[CRYPTO_MERKLE_MAX_PATH][CRYPTO_HASH_LEN];
	uint8_t want[3][CRYPTO_HASH_LEN];
	uint8_t rm[CRYPTO_HASH_LEN];
	uint8_t rn[CRYPTO_HASH_LEN];
	size_t pathlen;

	ct_leaf_hashes(leaves);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_assert_int_eq(crypto_merkle_consistency_proof((const uint8_t(*)[32])leaves, v[i].n,
								 v[i].m, path, &pathlen),
				 CRYPTO_OK);
		ck_assert_uint_eq(pathlen, v[i].len);
		for (size_t j = 0; j < v[i].len; j++) {
			unhex(v[i].path[j], want[j]);
			ck_assert_mem_eq(path[j], want[j], CRYPTO_HASH_LEN);
		}
		unhex(ct_roots[v[i].m], rm);
		unhex(ct_roots[v[i].n], rn);
		ck_assert_int_eq(crypto_merkle_consistency_verify(v[i].m, v[i].n, rm, rn,
								  (const uint8_t(*)[32])want,
								  v[i].len),
				 CRYPTO_OK);
	}
}
END_TEST

/* MAXN distinct leaf hashes and the roots of every prefix. */
static uint8_t big_leaves[MAXN][CRYPTO_HASH_LEN];
static uint8_t big_roots[MAXN + 1][CRYPTO_HASH_LEN];

static void big_setup(void)
{
	for (uint32_t i = 0; i < MAXN; i++)
		crypto_merkle_leaf(&i, sizeof(i), big_leaves[i]);
	for (size_t n = 0; n <= MAXN; n++)
		ck_assert_int_eq(crypto_merkle_root((const uint8_t(*)[32])big_leaves, n, big_roots[n]),
				 CRYPTO_OK);
}

#define LEAVES ((const uint8_t(*)[CRYPTO_HASH_LEN])big_leaves)
#define CPATH(p) ((const uint8_t(*)[CRYPTO_HASH_LEN])(p))

START_TEST(test_every_inclusion_proof)
{
	uint8_t path[CRYPTO_MERKLE_MAX_PATH + 1][CRYPTO_HASH_LEN];
	size_t pathlen;
	unsigned verified = 0;

	for (size_t n = 1; n <= MAXN; n++) {
		for (size_t i = 0; i < n; i++) {
			ck_assert_int_eq(crypto_merkle_inclusion_proof(LEAVES, n, i, path, &pathlen),
					 CRYPTO_OK);
			ck_assert_int_eq(crypto_merkle_inclusion_verify(big_leaves[i], i, n,
									CPATH(path), pathlen,
									big_roots[n]),
					 CRYPTO_OK);
			verified++;
			/* Any flipped bit in any path element. */
			for (size_t j = 0; j < pathlen; j++) {
				path[j][j % CRYPTO_HASH_LEN] ^= 0x20;
				ck_assert_int_eq(crypto_merkle_inclusion_verify(
							 big_leaves[i], i, n, CPATH(path), pathlen,
							 big_roots[n]),
						 CRYPTO_ERR_PROOF);
				path[j][j % CRYPTO_HASH_LEN] ^= 0x20;
			}
			/* Any other index, with this leaf or with that index's own leaf. */
			for (size_t j = 0; j < n; j++) {
				if (j == i)
					continue;
				ck_assert_int_eq(crypto_merkle_inclusion_verify(
							 big_leaves[i], j, n, CPATH(path), pathlen,
							 big_roots[n]),
						 CRYPTO_ERR_PROOF);
				ck_assert_int_eq(crypto_merkle_inclusion_verify(
							 big_leaves[j], j, n, CPATH(path), pathlen,
							 big_roots[n]),
						 CRYPTO_ERR_PROOF);
			}
			/* Index out of range, wrong leaf, wrong root, short and long paths. */
			ck_assert_int_eq(crypto_merkle_inclusion_verify(big_leaves[i], n, n,
									CPATH(path), pathlen,
									big_roots[n]),
					 CRYPTO_ERR_PROOF);
			ck_assert_int_eq(crypto_merkle_inclusion_verify(big_leaves[(i + 1) % MAXN], i,
									n, CPATH(path), pathlen,
									big_roots[n]),
					 CRYPTO_ERR_PROOF);
			ck_assert_int_eq(crypto_merkle_inclusion_verify(big_leaves[i], i, n,
									CPATH(path), pathlen,
									big_roots[n - 1]),
					 CRYPTO_ERR_PROOF);
			if (pathlen > 0)
				ck_assert_int_eq(crypto_merkle_inclusion_verify(
							 big_leaves[i], i, n, CPATH(path), pathlen - 1,
							 big_roots[n]),
						 CRYPTO_ERR_PROOF);
			memcpy(path[pathlen], big_roots[n], CRYPTO_HASH_LEN);
			ck_assert_int_eq(crypto_merkle_inclusion_verify(big_leaves[i], i, n,
									CPATH(path), pathlen + 1,
									big_roots[n]),
					 CRYPTO_ERR_PROOF);
		}
	}
	ck_assert_uint_eq(verified, MAXN * (MAXN + 1) / 2);
}
END_TEST

START_TEST(test_every_consistency_proof)
{
	uint8_t path[CRYPTO_MERKLE_MAX_PATH + 1][CRYPTO_HASH_LEN];
	size_t pathlen;
	unsigned verified = 0;

	for (size_t n = 1; n <= MAXN; n++) {
		for (size_t m = 1; m <= n; m++) {
			ck_assert_int_eq(crypto_merkle_consistency_proof(LEAVES, n, m, path, &pathlen),
					 CRYPTO_OK);
			ck_assert_int_eq(crypto_merkle_consistency_verify(m, n, big_roots[m],
									  big_roots[n], CPATH(path),
									  pathlen),
					 CRYPTO_OK);
			verified++;
			for (size_t j = 0; j < pathlen; j++) {
				path[j][(j * 5) % CRYPTO_HASH_LEN] ^= 0x01;
				ck_assert_int_eq(crypto_merkle_consistency_verify(
							 m, n, big_roots[m], big_roots[n], CPATH(path),
							 pathlen),
						 CRYPTO_ERR_PROOF);
				path[j][(j * 5) % CRYPTO_HASH_LEN] ^= 0x01;
			}
			/* The proof is for (m, n) only: any other old size, with its own root. */
			for (size_t m2 = 1; m2 <= n; m2++) {
				if (m2 == m)
					continue;
				ck_assert_int_eq(crypto_merkle_consistency_verify(
							 m2, n, big_roots[m2], big_roots[n],
							 CPATH(path), pathlen),
						 CRYPTO_ERR_PROOF);
			}
			/* Any other new size, with its own root. */
			for (size_t n2 = m; n2 <= MAXN; n2++) {
				if (n2 == n)
					continue;
				ck_assert_int_eq(crypto_merkle_consistency_verify(
							 m, n2, big_roots[m], big_roots[n2],
							 CPATH(path), pathlen),
						 CRYPTO_ERR_PROOF);
			}
			/* Wrong roots, short and long paths. */
			if (m > 1)
				ck_assert_int_eq(crypto_merkle_consistency_verify(
							 m, n, big_roots[m - 1], big_roots[n],
							 CPATH(path), pathlen),
						 CRYPTO_ERR_PROOF);
			ck_assert_int_eq(crypto_merkle_consistency_verify(m, n, big_roots[m],
									  big_roots[n - 1],
									  CPATH(path), pathlen),
					 CRYPTO_ERR_PROOF);
			if (pathlen > 0)
				ck_assert_int_eq(crypto_merkle_consistency_verify(
							 m, n, big_roots[m], big_roots[n], CPATH(path),
							 pathlen - 1),
						 CRYPTO_ERR_PROOF);
			memcpy(path[pathlen], big_roots[n], CRYPTO_HASH_LEN);
			ck_assert_int_eq(crypto_merkle_consistency_verify(m, n, big_roots[m],
									  big_roots[n], CPATH(path),
									  pathlen + 1),
					 CRYPTO_ERR_PROOF);
		}
	}
	ck_assert_uint_eq(verified, MAXN * (MAXN + 1) / 2);
}
END_TEST

START_TEST(test_hostile_input)
{
	static uint8_t path[CRYPTO_MERKLE_MAX_PATH + 1][CRYPTO_HASH_LEN];
	uint8_t root[CRYPTO_HASH_LEN] = { 0 };
	size_t pathlen = 99;

	for (size_t i = 0; i <= CRYPTO_MERKLE_MAX_PATH; i++)
		memset(path[i], (int)i, CRYPTO_HASH_LEN);
	/* Huge sizes and over-long paths are refused without overflow or long loops. */
	ck_assert_int_eq(crypto_merkle_inclusion_verify(root, UINT64_MAX - 1, UINT64_MAX, CPATH(path),
							CRYPTO_MERKLE_MAX_PATH, root),
			 CRYPTO_ERR_PROOF);
	ck_assert_int_eq(crypto_merkle_inclusion_verify(root, 0, UINT64_MAX, CPATH(path),
							CRYPTO_MERKLE_MAX_PATH + 1, root),
			 CRYPTO_ERR_PROOF);
	ck_assert_int_eq(crypto_merkle_inclusion_verify(root, 5, 5, CPATH(path), 3, root),
			 CRYPTO_ERR_PROOF);
	ck_assert_int_eq(crypto_merkle_inclusion_verify(root, 0, 0, NULL, 0, root), CRYPTO_ERR_PROOF);
	ck_assert_int_eq(crypto_merkle_consistency_verify(UINT64_MAX - 1, UINT64_MAX, root, root,
							  CPATH(path), CRYPTO_MERKLE_MAX_PATH),
			 CRYPTO_ERR_PROOF);
	ck_assert_int_eq(crypto_merkle_consistency_verify(3, 9, root, root, CPATH(path),
							  CRYPTO_MERKLE_MAX_PATH + 1),
			 CRYPTO_ERR_PROOF);
	ck_assert_int_eq(crypto_merkle_consistency_verify(0, 9, root, root, CPATH(path), 3),
			 CRYPTO_ERR_PROOF);
	ck_assert_int_eq(crypto_merkle_consistency_verify(9, 3, root, root, CPATH(path), 3),
			 CRYPTO_ERR_PROOF);
	ck_assert_int_eq(crypto_merkle_consistency_verify(3, 9, root, root, NULL, 0),
			 CRYPTO_ERR_PROOF);
	/* Equal sizes: empty proof and equal roots, nothing else. */
	ck_assert_int_eq(crypto_merkle_consistency_verify(7, 7, big_roots[7], big_roots[7], NULL, 0),
			 CRYPTO_OK);
	ck_assert_int_eq(crypto_merkle_consistency_verify(7, 7, big_roots[7], big_roots[6], NULL, 0),
			 CRYPTO_ERR_PROOF);
	ck_assert_int_eq(crypto_merkle_consistency_verify(7, 7, big_roots[7], big_roots[7],
							  CPATH(path), 1),
			 CRYPTO_ERR_PROOF);
	/* NULL pointers are argument errors. */
	ck_assert_int_eq(crypto_merkle_inclusion_verify(NULL, 0, 1, NULL, 0, root), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_inclusion_verify(root, 0, 1, NULL, 0, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_inclusion_verify(root, 0, 2, NULL, 1, root), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_consistency_verify(1, 2, NULL, root, CPATH(path), 1),
			 CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_consistency_verify(1, 2, root, root, NULL, 1),
			 CRYPTO_ERR_ARG);
	/* Proof generation rejects impossible requests and leaves pathlen at 0 or untouched. */
	ck_assert_int_eq(crypto_merkle_inclusion_proof(LEAVES, 5, 5, path, &pathlen), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_inclusion_proof(LEAVES, 0, 0, path, &pathlen), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_inclusion_proof(NULL, 5, 0, path, &pathlen), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_inclusion_proof(LEAVES, 5, 0, NULL, &pathlen), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_inclusion_proof(LEAVES, 5, 0, path, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_consistency_proof(LEAVES, 5, 0, path, &pathlen),
			 CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_consistency_proof(LEAVES, 5, 6, path, &pathlen),
			 CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_consistency_proof(LEAVES, 5, 2, NULL, &pathlen),
			 CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_root(NULL, 3, root), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_merkle_root(LEAVES, 3, NULL), CRYPTO_ERR_ARG);
	ck_assert_uint_eq(pathlen, 99);
}
END_TEST

START_TEST(test_larger_tree)
{
	/* A 1000-leaf tree: sampled proofs of both kinds verify. */
	static uint8_t leaves[1000][CRYPTO_HASH_LEN];
	uint8_t path[CRYPTO_MERKLE_MAX_PATH][CRYPTO_HASH_LEN];
	uint8_t root[CRYPTO_HASH_LEN];
	uint8_t rootm[CRYPTO_HASH_LEN];
	size_t pathlen;

	for (uint32_t i = 0; i < 1000; i++)
		crypto_merkle_leaf(&i, sizeof(i), leaves[i]);
	ck_assert_int_eq(crypto_merkle_root((const uint8_t(*)[32])leaves, 1000, root), CRYPTO_OK);
	for (size_t i = 0; i < 1000; i += 111) {
		ck_assert_int_eq(crypto_merkle_inclusion_proof((const uint8_t(*)[32])leaves, 1000, i,
							       path, &pathlen),
				 CRYPTO_OK);
		ck_assert_uint_le(pathlen, 10);
		ck_assert_int_eq(crypto_merkle_inclusion_verify(leaves[i], i, 1000, CPATH(path),
								pathlen, root),
				 CRYPTO_OK);
		if (i == 0)
			continue;
		ck_assert_int_eq(crypto_merkle_consistency_proof((const uint8_t(*)[32])leaves, 1000,
								 i, path, &pathlen),
				 CRYPTO_OK);
		ck_assert_int_eq(crypto_merkle_root((const uint8_t(*)[32])leaves, i, rootm),
				 CRYPTO_OK);
		ck_assert_int_eq(crypto_merkle_consistency_verify(i, 1000, rootm, root, CPATH(path),
								  pathlen),
				 CRYPTO_OK);
	}
}
END_TEST

static Suite *crypto_merkle_suite(void)
{
	Suite *s = suite_create("crypto_merkle");
	TCase *tc = tcase_create("vectors");

	tcase_add_test(tc, test_ct_roots);
	tcase_add_test(tc, test_ct_inclusion);
	tcase_add_test(tc, test_ct_consistency);
	suite_add_tcase(s, tc);
	tc = tcase_create("exhaustive");
	tcase_add_checked_fixture(tc, big_setup, NULL);
	tcase_add_test(tc, test_every_inclusion_proof);
	tcase_add_test(tc, test_every_consistency_proof);
	tcase_add_test(tc, test_hostile_input);
	tcase_add_test(tc, test_larger_tree);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(crypto_merkle_suite)
