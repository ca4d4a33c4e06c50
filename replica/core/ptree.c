/* ptree.c: the partition tree of the state digest: hashing, dirty marks and incremental
 * recomputation of the paths from changed partitions to the root. */
#include "replica/core/ptree.h"

#include <stdlib.h>
#include <string.h>

#define PTREE__DIRTY 0x1u /* queued for recomputation (leaves: in pending) */
#define PTREE__FETCH 0x2u /* leaf: digest must come from the callback */

static const char PTREE__PART_DOMAIN[] = "bulwark/part/v2";
static const char PTREE__NODE_DOMAIN[] = "bulwark/node/v1";

const uint8_t PTREE_EMPTY[PTREE_DIGEST_LEN];

const char *ptree_strerror(int err)
{
	switch (err) {
	case PTREE_OK: return "success";
	case PTREE_ERR_ARG: return "bad partition tree shape, level, index or partition";
	case PTREE_ERR_NOMEM: return "out of memory";
	case PTREE_ERR_CRYPTO: return "SHA-256 context failed";
	case PTREE_ERR_CALLBACK: return "partition digest callback failed";
	default: return "unknown partition tree error";
	}
}

static void ptree__st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void ptree__st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t ptree_partition_of(uint64_t partitions, const void *key, size_t len)
{
	uint8_t h[CRYPTO_HASH_LEN];
	uint64_t v = 0;

	if (partitions == 0)
		return 0;
	crypto_sha256(key, len, h);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | h[i];
	return v % partitions;
}

void ptree_node_hash(uint32_t level, uint64_t index, const uint8_t *children, uint32_t count,
		     uint8_t out[PTREE_DIGEST_LEN])
{
	/* Domain (no NUL) + level + index + at most PTREE_MAX_FANOUT digests. */
	uint8_t buf[sizeof(PTREE__NODE_DOMAIN) - 1 + 4 + 8 + PTREE_MAX_FANOUT * PTREE_DIGEST_LEN];
	size_t n = sizeof(PTREE__NODE_DOMAIN) - 1;

	if (count > PTREE_MAX_FANOUT)
		count = PTREE_MAX_FANOUT;
	memcpy(buf, PTREE__NODE_DOMAIN, n);
	ptree__st32(buf + n, level);
	n += 4;
	ptree__st64(buf + n, index);
	n += 8;
	if (count > 0)
		memcpy(buf + n, children, (size_t)count * PTREE_DIGEST_LEN);
	n += (size_t)count * PTREE_DIGEST_LEN;
	crypto_sha256(buf, n, out);
}

/* ---------------------------------------------------------------- partition digest */
int ptree_part_begin(struct ptree_part_hash *h, uint64_t partition)
{
	uint8_t idx[8];
	int rc;

	h->entries = 0;
	h->err = 0;
	rc = crypto_sha256_init(&h->sha);
	if (rc != 0) {
		h->err = PTREE_ERR_CRYPTO;
		return h->err;
	}
	ptree__st64(idx, partition);
	if (crypto_sha256_update(&h->sha, PTREE__PART_DOMAIN, sizeof(PTREE__PART_DOMAIN) - 1) != 0 ||
	    crypto_sha256_update(&h->sha, idx, sizeof(idx)) != 0)
		h->err = PTREE_ERR_CRYPTO;
	return h->err;
}

void ptree_value_hash(const void *value, uint32_t vlen, uint8_t out[PTREE_DIGEST_LEN])
{
	crypto_sha256(value, vlen, out);
}

void ptree_part_add_hashed(struct ptree_part_hash *h, const void *key, uint32_t klen,
			   const uint8_t vhash[PTREE_DIGEST_LEN])
{
	uint8_t len[4];

	if (h->err != 0)
		return;
	h->entries++;
	ptree__st32(len, klen);
	if (crypto_sha256_update(&h->sha, len, 4) != 0 ||
	    crypto_sha256_update(&h->sha, key, klen) != 0 ||
	    crypto_sha256_update(&h->sha, vhash, PTREE_DIGEST_LEN) != 0)
		h->err = PTREE_ERR_CRYPTO;
}

void ptree_part_add(struct ptree_part_hash *h, const void *key, uint32_t klen,
		    const void *value, uint32_t vlen)
{
	uint8_t vhash[PTREE_DIGEST_LEN];

	if (h->err != 0)
		return;
	/* crypto_sha256 cannot report it: refused here, as the streaming update would. */
	if (value == NULL && vlen != 0) {
		h->err = PTREE_ERR_CRYPTO;
		return;
	}
	ptree_value_hash(value, vlen, vhash);
	ptree_part_add_hashed(h, key, klen, vhash);
}

int ptree_part_end(struct ptree_part_hash *h, uint8_t out[PTREE_DIGEST_LEN])
{
	if (h->err != 0) {
		crypto_sha256_free(&h->sha);
		return h->err;
	}
	if (h->entries == 0) {
		crypto_sha256_free(&h->sha);
		memcpy(out, PTREE_EMPTY, PTREE_DIGEST_LEN);
		return PTREE_OK;
	}
	if (crypto_sha256_final(&h->sha, out) != 0) {
		crypto_sha256_free(&h->sha);
		return PTREE_ERR_CRYPTO;
	}
	return PTREE_OK;
}

void ptree_part_abort(struct ptree_part_hash *h)
{
	crypto_sha256_free(&h->sha);
}

/* ---------------------------------------------------------------- the tree */
static uint8_t *ptree__at(const struct ptree *t, uint32_t level, uint64_t index)
{
	return (uint8_t *)t->node[t->level_off[level] + index];
}

/* Recompute inner node (level, index) from its children. */
static void ptree__hash_node(struct ptree *t, uint32_t level, uint64_t index)
{
	ptree_node_hash(level, index, ptree__at(t, level + 1, index * t->fanout), t->fanout,
			ptree__at(t, level, index));
}

static void ptree__hash_all(struct ptree *t)
{
	for (uint32_t l = t->levels; l-- > 0;) {
		uint64_t width = t->level_off[l + 1] - t->level_off[l];
		for (uint64_t i = 0; i < width; i++)
			ptree__hash_node(t, l, i);
	}
}

static int ptree__alloc(struct ptree *t, uint32_t fanout, uint32_t levels)
{
	uint64_t width = 1, total = 0;

	memset(t, 0, sizeof(*t));
	if (fanout < 2 || fanout > PTREE_MAX_FANOUT || levels < 1 || levels > 24)
		return PTREE_ERR_ARG;
	t->level_off = calloc((size_t)levels + 2, sizeof(*t->level_off));
	if (t->level_off == NULL)
		return PTREE_ERR_NOMEM;
	for (uint32_t l = 0; l <= levels; l++) {
		t->level_off[l] = total;
		total += width;
		if (l < levels) {
			width *= fanout;
			if (width > PTREE_MAX_PARTITIONS) {
				free(t->level_off);
				t->level_off = NULL;
				return PTREE_ERR_ARG;
			}
		}
	}
	t->level_off[levels + 1] = total;
	t->fanout = fanout;
	t->levels = levels;
	t->partitions = width;
	t->node = calloc((size_t)total, sizeof(*t->node));
	t->flag = calloc((size_t)total, 1);
	t->pending = calloc((size_t)width, sizeof(*t->pending));
	t->scratch = calloc((size_t)(width / fanout), sizeof(*t->scratch));
	if (t->node == NULL || t->flag == NULL || t->pending == NULL || t->scratch == NULL) {
		ptree_free(t);
		return PTREE_ERR_NOMEM;
	}
	return PTREE_OK;
}

int ptree_init(struct ptree *t, uint32_t fanout, uint32_t levels)
{
	int rc;

	if (t == NULL)
		return PTREE_ERR_ARG;
	rc = ptree__alloc(t, fanout, levels);
	if (rc != 0)
		return rc;
	/* calloc left every partition digest all zero: PTREE_EMPTY. */
	ptree__hash_all(t);
	return PTREE_OK;
}

void ptree_free(struct ptree *t)
{
	if (t == NULL)
		return;
	free(t->level_off);
	free(t->node);
	free(t->flag);
	free(t->pending);
	free(t->scratch);
	memset(t, 0, sizeof(*t));
}

int ptree_copy(struct ptree *dst, const struct ptree *src)
{
	uint64_t total;
	int rc;

	if (dst == NULL || src == NULL || src->node == NULL)
		return PTREE_ERR_ARG;
	rc = ptree__alloc(dst, src->fanout, src->levels);
	if (rc != 0)
		return rc;
	total = src->level_off[src->levels + 1];
	memcpy(dst->node, src->node, (size_t)total * sizeof(*dst->node));
	memcpy(dst->flag, src->flag, (size_t)total);
	memcpy(dst->pending, src->pending, (size_t)src->npending * sizeof(*dst->pending));
	dst->npending = src->npending;
	return PTREE_OK;
}

static uint8_t *ptree__leaf_flag(struct ptree *t, uint64_t partition)
{
	return &t->flag[t->level_off[t->levels] + partition];
}

int ptree_mark(struct ptree *t, uint64_t partition)
{
	uint8_t *fl;

	if (t == NULL || partition >= t->partitions)
		return PTREE_ERR_ARG;
	fl = ptree__leaf_flag(t, partition);
	if (!(*fl & PTREE__DIRTY))
		t->pending[t->npending++] = partition;
	*fl |= PTREE__DIRTY | PTREE__FETCH;
	return PTREE_OK;
}

int ptree_marked(const struct ptree *t, uint64_t partition)
{
	if (t == NULL || partition >= t->partitions)
		return 0;
	return (t->flag[t->level_off[t->levels] + partition] & PTREE__DIRTY) != 0;
}

int ptree_set(struct ptree *t, uint64_t partition, const uint8_t d[PTREE_DIGEST_LEN])
{
	uint8_t *fl;

	if (t == NULL || partition >= t->partitions || d == NULL)
		return PTREE_ERR_ARG;
	fl = ptree__leaf_flag(t, partition);
	if (!(*fl & PTREE__DIRTY))
		t->pending[t->npending++] = partition;
	*fl = PTREE__DIRTY;
	memcpy(ptree__at(t, t->levels, partition), d, PTREE_DIGEST_LEN);
	return PTREE_OK;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int ptree_update(struct ptree *t, ptree_digest_fn fn, void *ctx)
{
	uint64_t *cur, *next, ncur;

	if (t == NULL || t->node == NULL)
		return PTREE_ERR_ARG;
	/* In ascending order: a store digests its partitions in one walk of its keys. */
	if (t->npending > 1)
		qsort(t->pending, t->npending, sizeof(*t->pending), cmp_u64);
	/* Fetch first: a failure leaves every mark in place and no node half-updated. */
	for (uint64_t i = 0; i < t->npending; i++) {
		uint64_t p = t->pending[i];
		uint8_t *fl = ptree__leaf_flag(t, p);
		if (!(*fl & PTREE__FETCH))
			continue;
		if (fn == NULL || fn(ctx, p, ptree__at(t, t->levels, p)) != 0)
			return PTREE_ERR_CALLBACK;
		*fl &= (uint8_t)~PTREE__FETCH;
	}
	/* Walk up level by level; each list names the dirty nodes of one level once.
	 * The lists alternate between pending (partitions long) and scratch (one level up). */
	cur = t->pending;
	ncur = t->npending;
	next = t->scratch;
	for (uint32_t l = t->levels; l-- > 0;) {
		uint64_t nnext = 0;
		for (uint64_t i = 0; i < ncur; i++) {
			uint64_t parent = cur[i] / t->fanout;
			uint8_t *pf = &t->flag[t->level_off[l] + parent];
			t->flag[t->level_off[l + 1] + cur[i]] = 0;
			if (!(*pf & PTREE__DIRTY)) {
				*pf |= PTREE__DIRTY;
				next[nnext++] = parent;
			}
		}
		for (uint64_t i = 0; i < nnext; i++)
			ptree__hash_node(t, l, next[i]);
		cur = next;
		ncur = nnext;
		next = (cur == t->pending) ? t->scratch : t->pending;
	}
	for (uint64_t i = 0; i < ncur; i++)
		t->flag[cur[i]] = 0; /* the root (level 0 starts at offset 0) */
	t->npending = 0;
	return PTREE_OK;
}

int ptree_rebuild(struct ptree *t, ptree_digest_fn fn, void *ctx)
{
	uint64_t total;

	if (t == NULL || t->node == NULL)
		return PTREE_ERR_ARG;
	if (fn != NULL) {
		for (uint64_t p = 0; p < t->partitions; p++)
			if (fn(ctx, p, ptree__at(t, t->levels, p)) != 0)
				return PTREE_ERR_CALLBACK;
	} else {
		for (uint64_t i = 0; i < t->npending; i++)
			if (*ptree__leaf_flag(t, t->pending[i]) & PTREE__FETCH)
				return PTREE_ERR_CALLBACK;
	}
	ptree__hash_all(t);
	total = t->level_off[t->levels + 1];
	memset(t->flag, 0, (size_t)total);
	t->npending = 0;
	return PTREE_OK;
}

int ptree_dirty(const struct ptree *t)
{
	return t != NULL && t->npending > 0;
}

const uint8_t *ptree_node(const struct ptree *t, uint32_t level, uint64_t index)
{
	if (t == NULL || t->node == NULL || level > t->levels ||
	    index >= t->level_off[level + 1] - t->level_off[level])
		return NULL;
	return ptree__at(t, level, index);
}

const uint8_t *ptree_root(const struct ptree *t)
{
	return ptree_node(t, 0, 0);
}

int ptree_children(const struct ptree *t, uint32_t level, uint64_t index,
		   const uint8_t **first, uint32_t *count)
{
	if (t == NULL || t->node == NULL || level >= t->levels ||
	    index >= t->level_off[level + 1] - t->level_off[level] || first == NULL || count == NULL)
		return PTREE_ERR_ARG;
	*first = ptree__at(t, level + 1, index * t->fanout);
	*count = t->fanout;
	return PTREE_OK;
}
