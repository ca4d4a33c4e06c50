/* ptree.h: the state digest as a partition tree (DESIGN.md "Storage"): key -> partition,
 * partition digests, inner node hashes, and incremental recomputation of dirty paths.
 * Pure and storage-agnostic: the caller supplies partition digests. */
#ifndef BULWARK_PTREE_H
#define BULWARK_PTREE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

/* Shape. Level 0 is the root; inner levels are 0..levels-1, each node with `fanout`
 * children; level `levels` holds the partitions (leaves), fanout^levels of them. Node
 * (l, i) has children (l+1, i*fanout .. i*fanout+fanout-1).
 *
 * Encodings (all integers little-endian, like wire/):
 *   partition of a key  = first 8 bytes of SHA-256(key) read as u64 LE, mod partitions
 *   value hash          = SHA-256(value)
 *   partition digest    = SHA-256("bulwark/part/v2" || partition u64 || for each entry
 *                         in ascending key order: u32 klen || key || value hash)
 *                         Keys are ordered bytewise (memcmp), a proper prefix first.
 *                         An empty partition's digest is PTREE_EMPTY (32 zero bytes).
 *                         A store can keep the values' hashes (replica/store: in
 *                         memory), so that a partition is digested without reading its
 *                         values (v1 hashed u32 vlen || value in place of the value hash).
 *   inner node hash     = SHA-256("bulwark/node/v1" || level u32 || index u64 ||
 *                         the children's digests in order) */
#define PTREE_DIGEST_LEN CRYPTO_HASH_LEN
#define PTREE_MAX_FANOUT 256u
#define PTREE_MAX_PARTITIONS (1u << 24)

enum ptree_err {
	PTREE_OK = 0,
	PTREE_ERR_ARG = -1,      /* bad shape, level, index or partition */
	PTREE_ERR_NOMEM = -2,
	PTREE_ERR_CRYPTO = -3,   /* the SHA-256 context failed */
	PTREE_ERR_CALLBACK = -4  /* the partition digest callback failed */
};
const char *ptree_strerror(int err);

/* The all-zero digest of an empty partition. */
extern const uint8_t PTREE_EMPTY[PTREE_DIGEST_LEN];

/* Partition of key (len bytes, borrowed) among partitions (> 0). */
uint64_t ptree_partition_of(uint64_t partitions, const void *key, size_t len);

/* Hash of inner node (level, index) from count (1..PTREE_MAX_FANOUT) child digests packed
 * back to back in children (borrowed). */
void ptree_node_hash(uint32_t level, uint64_t index, const uint8_t *children, uint32_t count,
		     uint8_t out[PTREE_DIGEST_LEN]);

/* The value hash of value (vlen bytes, borrowed; may be NULL when vlen is 0). */
void ptree_value_hash(const void *value, uint32_t vlen, uint8_t out[PTREE_DIGEST_LEN]);

/* Streaming partition digest: begin, add every entry in ascending key order, end.
 * end releases the context (also on failure); abort releases it without a digest.
 * Keys and values are borrowed for the call. */
struct ptree_part_hash {
	struct crypto_sha256_ctx sha;
	uint64_t entries;
	int err;               /* sticky: first failure */
};
int ptree_part_begin(struct ptree_part_hash *h, uint64_t partition);
/* Add an entry by its value: the same as ptree_part_add_hashed with
 * ptree_value_hash(value). A NULL value with vlen > 0 fails (PTREE_ERR_CRYPTO). */
void ptree_part_add(struct ptree_part_hash *h, const void *key, uint32_t klen,
		    const void *value, uint32_t vlen);
/* Add an entry by its value hash (ptree_value_hash). */
void ptree_part_add_hashed(struct ptree_part_hash *h, const void *key, uint32_t klen,
			   const uint8_t vhash[PTREE_DIGEST_LEN]);
int ptree_part_end(struct ptree_part_hash *h, uint8_t out[PTREE_DIGEST_LEN]);
void ptree_part_abort(struct ptree_part_hash *h);

/* ---------------------------------------------------------------- the tree */
/* Digest of partition p, written to out; 0 on success, < 0 aborts the update. */
typedef int (*ptree_digest_fn)(void *ctx, uint64_t partition, uint8_t out[PTREE_DIGEST_LEN]);

struct ptree {
	uint32_t fanout, levels;
	uint64_t partitions;
	uint64_t *level_off;       /* levels+2 entries: first node of each level, total */
	uint8_t (*node)[PTREE_DIGEST_LEN]; /* every node, level by level; owned */
	uint8_t *flag;             /* per node: PTREE__* dirty bits; owned */
	uint64_t *pending;         /* dirty partitions, each once; owned */
	uint64_t npending;
	uint64_t *scratch;         /* parent lists during an update; owned */
};

/* Caller-allocated t; every partition starts empty. fanout 2..PTREE_MAX_FANOUT, levels
 * >= 1, fanout^levels <= PTREE_MAX_PARTITIONS. Pair with ptree_free. */
int ptree_init(struct ptree *t, uint32_t fanout, uint32_t levels);
void ptree_free(struct ptree *t);
/* Deep copy of src into caller-allocated dst (pair with ptree_free). */
int ptree_copy(struct ptree *dst, const struct ptree *src);

/* Partition p changed: its digest will be asked of the callback at the next update. */
int ptree_mark(struct ptree *t, uint64_t partition);
/* 1 if partition p is marked (since the last update), 0 if not or out of range. */
int ptree_marked(const struct ptree *t, uint64_t partition);
/* Partition p's digest is now d (copied): no callback needed for it. */
int ptree_set(struct ptree *t, uint64_t partition, const uint8_t d[PTREE_DIGEST_LEN]);
/* Fetch the digest of every marked partition, in ascending order (fn may be NULL if
 * only ptree_set was used), and recompute only the inner nodes on their paths to the root. On a callback failure
 * the tree stays dirty and consistent (the update can be repeated). */
int ptree_update(struct ptree *t, ptree_digest_fn fn, void *ctx);
/* Recompute every inner node from the partition digests (after bulk ptree_set calls,
 * or as a cross-check of the incremental path). Clears every dirty mark. */
int ptree_rebuild(struct ptree *t, ptree_digest_fn fn, void *ctx);
/* 1 if a mark is pending (the root is stale until ptree_update). */
int ptree_dirty(const struct ptree *t);

/* Digest of node (level 0..levels, index), borrowed; NULL if out of range. Stale
 * while ptree_dirty(). Level `levels` gives partition digests. */
const uint8_t *ptree_node(const struct ptree *t, uint32_t level, uint64_t index);
const uint8_t *ptree_root(const struct ptree *t);
/* Children of inner node (level < levels, index): *count digests packed from *first. */
int ptree_children(const struct ptree *t, uint32_t level, uint64_t index,
		   const uint8_t **first, uint32_t *count);

#endif
