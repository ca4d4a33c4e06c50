/* merkle.c: RFC 9162 section 2.1 Merkle tree hash, inclusion and consistency proofs. */
#include "crypto/crypto.h"

#include <string.h>

void crypto_merkle_leaf(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	static const uint8_t prefix = 0x00;
	struct crypto_sha256_ctx c;

	/* As crypto_sha256: NULL data with a length, or an allocation failure, gives an
	 * all-zero hash, which matches no real tree. */
	if ((data == NULL && len != 0) || crypto_sha256_init(&c) != CRYPTO_OK) {
		memset(out, 0, CRYPTO_HASH_LEN);
		return;
	}
	if (crypto_sha256_update(&c, &prefix, 1) != CRYPTO_OK ||
	    crypto_sha256_update(&c, data, len) != CRYPTO_OK ||
	    crypto_sha256_final(&c, out) != CRYPTO_OK) {
		crypto_sha256_free(&c);
		memset(out, 0, CRYPTO_HASH_LEN);
	}
}

void crypto_merkle_node(const uint8_t left[CRYPTO_HASH_LEN], const uint8_t right[CRYPTO_HASH_LEN],
			uint8_t out[CRYPTO_HASH_LEN])
{
	uint8_t buf[1 + 2 * CRYPTO_HASH_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, CRYPTO_HASH_LEN);
	memcpy(buf + 1 + CRYPTO_HASH_LEN, right, CRYPTO_HASH_LEN);
	crypto_sha256(buf, sizeof(buf), out);
}

/* The largest power of two strictly less than n (n >= 2). */
static size_t crypto__split(size_t n)
{
	size_t k = 1;

	while (k < n - k)
		k <<= 1;
	return k;
}

/* MTH(D[0:n]) over leaf hashes, n >= 1; recursion depth is at most log2(n) + 1. */
static void crypto__mth(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n,
			uint8_t out[CRYPTO_HASH_LEN])
{
	uint8_t left[CRYPTO_HASH_LEN];
	uint8_t right[CRYPTO_HASH_LEN];
	size_t k;

	if (n == 1) {
		memcpy(out, leaves[0], CRYPTO_HASH_LEN);
		return;
	}
	k = crypto__split(n);
	crypto__mth(leaves, k, left);
	crypto__mth(leaves + k, n - k, right);
	crypto_merkle_node(left, right, out);
}

int crypto_merkle_root(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n, uint8_t out[CRYPTO_HASH_LEN])
{
	if (out == NULL || (leaves == NULL && n != 0))
		return CRYPTO_ERR_ARG;
	if (n == 0) {
		crypto_sha256("", 0, out);
		return CRYPTO_OK;
	}
	crypto__mth(leaves, n, out);
	return CRYPTO_OK;
}

/* Appends MTH(D[0:n]) to path; fails once CRYPTO_MERKLE_MAX_PATH entries are used. */
static int crypto__append(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n,
			  uint8_t (*path)[CRYPTO_HASH_LEN], size_t *pathlen)
{
	if (*pathlen >= CRYPTO_MERKLE_MAX_PATH)
		return CRYPTO_ERR_ARG;
	crypto__mth(leaves, n, path[*pathlen]);
	(*pathlen)++;
	return CRYPTO_OK;
}

/* PATH(m, D[0:n]) of RFC 9162 section 2.1.3.1, appended leaf-first. */
static int crypto__path(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n, size_t m,
			uint8_t (*path)[CRYPTO_HASH_LEN], size_t *pathlen)
{
	size_t k;
	int rc;

	if (n == 1)
		return CRYPTO_OK;
	k = crypto__split(n);
	if (m < k) {
		rc = crypto__path(leaves, k, m, path, pathlen);
		if (rc != CRYPTO_OK)
			return rc;
		return crypto__append(leaves + k, n - k, path, pathlen);
	}
	rc = crypto__path(leaves + k, n - k, m - k, path, pathlen);
	if (rc != CRYPTO_OK)
		return rc;
	return crypto__append(leaves, k, path, pathlen);
}

int crypto_merkle_inclusion_proof(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n, size_t index,
				  uint8_t (*path)[CRYPTO_HASH_LEN], size_t *pathlen)
{
	int rc;

	if (leaves == NULL || path == NULL || pathlen == NULL || index >= n)
		return CRYPTO_ERR_ARG;
	*pathlen = 0;
	rc = crypto__path(leaves, n, index, path, pathlen);
	if (rc != CRYPTO_OK)
		*pathlen = 0;
	return rc;
}

/* SUBPROOF(m, D[0:n], b) of RFC 9162 section 2.1.4.1. */
static int crypto__subproof(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n, size_t m, int b,
			    uint8_t (*path)[CRYPTO_HASH_LEN], size_t *pathlen)
{
	size_t k;
	int rc;

	if (m == n)
		return b ? CRYPTO_OK : crypto__append(leaves, n, path, pathlen);
	k = crypto__split(n);
	if (m <= k) {
		rc = crypto__subproof(leaves, k, m, b, path, pathlen);
		if (rc != CRYPTO_OK)
			return rc;
		return crypto__append(leaves + k, n - k, path, pathlen);
	}
	rc = crypto__subproof(leaves + k, n - k, m - k, 0, path, pathlen);
	if (rc != CRYPTO_OK)
		return rc;
	return crypto__append(leaves, k, path, pathlen);
}

int crypto_merkle_consistency_proof(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n, size_t m,
				    uint8_t (*path)[CRYPTO_HASH_LEN], size_t *pathlen)
{
	int rc;

	if (leaves == NULL || path == NULL || pathlen == NULL || m == 0 || m > n)
		return CRYPTO_ERR_ARG;
	*pathlen = 0;
	rc = crypto__subproof(leaves, n, m, 1, path, pathlen);
	if (rc != CRYPTO_OK)
		*pathlen = 0;
	return rc;
}

int crypto_merkle_inclusion_verify(const uint8_t leaf[CRYPTO_HASH_LEN], uint64_t index, uint64_t size,
				   const uint8_t (*path)[CRYPTO_HASH_LEN], size_t pathlen,
				   const uint8_t root[CRYPTO_HASH_LEN])
{
	uint8_t r[CRYPTO_HASH_LEN];
	uint64_t fn;
	uint64_t sn;

	if (leaf == NULL || root == NULL || (path == NULL && pathlen != 0))
		return CRYPTO_ERR_ARG;
	/* RFC 9162 section 2.1.3.2. */
	if (index >= size || pathlen > CRYPTO_MERKLE_MAX_PATH)
		return CRYPTO_ERR_PROOF;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, CRYPTO_HASH_LEN);
	for (size_t i = 0; i < pathlen; i++) {
		if (sn == 0)
			return CRYPTO_ERR_PROOF;
		if ((fn & 1) != 0 || fn == sn) {
			crypto_merkle_node(path[i], r, r);
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			crypto_merkle_node(r, path[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || !crypto_memeq(r, root, CRYPTO_HASH_LEN))
		return CRYPTO_ERR_PROOF;
	return CRYPTO_OK;
}

int crypto_merkle_consistency_verify(uint64_t m, uint64_t n, const uint8_t root_m[CRYPTO_HASH_LEN],
				     const uint8_t root_n[CRYPTO_HASH_LEN],
				     const uint8_t (*path)[CRYPTO_HASH_LEN], size_t pathlen)
{
	uint8_t fr[CRYPTO_HASH_LEN];
	uint8_t sr[CRYPTO_HASH_LEN];
	uint64_t fn;
	uint64_t sn;
	size_t i = 0;

	if (root_m == NULL || root_n == NULL || (path == NULL && pathlen != 0))
		return CRYPTO_ERR_ARG;
	if (m == 0 || m > n || pathlen > CRYPTO_MERKLE_MAX_PATH)
		return CRYPTO_ERR_PROOF;
	/* Equal sizes: the proof is empty and the roots must match. */
	if (m == n) {
		if (pathlen != 0 || !crypto_memeq(root_m, root_n, CRYPTO_HASH_LEN))
			return CRYPTO_ERR_PROOF;
		return CRYPTO_OK;
	}
	/* RFC 9162 section 2.1.4.2. */
	if (pathlen == 0)
		return CRYPTO_ERR_PROOF;
	/* Step 1: for m a power of two, the proof starts implicitly with root_m. */
	if ((m & (m - 1)) == 0) {
		memcpy(fr, root_m, CRYPTO_HASH_LEN);
	} else {
		memcpy(fr, path[0], CRYPTO_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, CRYPTO_HASH_LEN);
	fn = m - 1;
	sn = n - 1;
	while ((fn & 1) != 0) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < pathlen; i++) {
		if (sn == 0)
			return CRYPTO_ERR_PROOF;
		if ((fn & 1) != 0 || fn == sn) {
			crypto_merkle_node(path[i], fr, fr);
			crypto_merkle_node(path[i], sr, sr);
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			crypto_merkle_node(sr, path[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || !crypto_memeq(fr, root_m, CRYPTO_HASH_LEN) ||
	    !crypto_memeq(sr, root_n, CRYPTO_HASH_LEN))
		return CRYPTO_ERR_PROOF;
	return CRYPTO_OK;
}
