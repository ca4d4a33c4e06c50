/* hashcache.c: the value hashes of partitions kept in memory (store_int.h "The value
 * hash cache"), so that a checkpoint digests a changed partition without LevelDB. */
#include "replica/store/store_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HC_FIRST_ENTRIES 4u
#define HC_FIRST_KEY_BYTES 64u

int store__hc_init(struct store__hcache *c, uint64_t partitions, size_t max)
{
	memset(c, 0, sizeof(*c));
	c->partitions = partitions;
	if (max == 0)
		return 0;
	c->list = calloc((size_t)partitions, sizeof(*c->list));
	if (c->list == NULL)
		return STORE_ERR_NOMEM;
	c->max = max;
	return 0;
}

static void hc_list_free(struct store__hc_list *l)
{
	free(l->ent);
	free(l->keys);
	free(l);
}

static struct store__hc_list *hc_get(const struct store__hcache *c, uint64_t p)
{
	return c->list != NULL && p < c->partitions ? c->list[p] : NULL;
}

int store__hc_held(const struct store__hcache *c, uint64_t p)
{
	return hc_get(c, p) != NULL;
}

void store__hc_drop(struct store__hcache *c, uint64_t p)
{
	struct store__hc_list *l = hc_get(c, p);

	if (l == NULL)
		return;
	c->bytes -= l->bytes;
	hc_list_free(l);
	c->list[p] = NULL;
}

/* Drop every list. */
static void hc_clear(struct store__hcache *c)
{
	if (c->list != NULL)
		for (uint64_t p = 0; p < c->partitions; p++)
			store__hc_drop(c, p);
}

void store__hc_free(struct store__hcache *c)
{
	store__hc_build_abort(c);
	hc_clear(c);
	free(c->list);
	free(c->scratch);
	memset(c, 0, sizeof(*c));
}

int store__hc_digest(const struct store__hcache *c, uint64_t p, uint8_t out[PTREE_DIGEST_LEN])
{
	const struct store__hc_list *l = hc_get(c, p);
	struct ptree_part_hash h;

	if (l == NULL)
		return 1;
	if (ptree_part_begin(&h, p) != 0) {
		ptree_part_abort(&h);
		return STORE_ERR_TREE;
	}
	for (size_t i = 0; i < l->n; i++)
		ptree_part_add_hashed(&h, l->keys + l->ent[i].off, l->ent[i].len, l->ent[i].vhash);
	return ptree_part_end(&h, out) != 0 ? STORE_ERR_TREE : 0;
}

/* 1 if extra more bytes keep the cache within its budget. */
static int hc_fits(const struct store__hcache *c, size_t extra)
{
	return extra <= c->max - c->bytes;
}

/* Count extra more bytes for l (l itself, or the list being built). */
static void hc_count(struct store__hcache *c, struct store__hc_list *l, size_t extra)
{
	l->bytes += extra;
	c->bytes += extra;
}

/* Room for one more entry in l: 0, or STORE_ERR_NOMEM (over the budget or out of
 * memory). */
static int hc_room_entry(struct store__hcache *c, struct store__hc_list *l)
{
	size_t old = l->cap;
	struct store__hc_ent *ent;

	if (l->n < l->cap)
		return 0;
	/* store__grow doubles (or starts at HC_FIRST_ENTRIES): that many more entries. */
	if (!hc_fits(c, (old != 0 ? old : HC_FIRST_ENTRIES) * sizeof(*ent)))
		return STORE_ERR_NOMEM;
	ent = store__grow(l->ent, &l->cap, l->n, sizeof(*ent), HC_FIRST_ENTRIES);
	if (ent == NULL)
		return STORE_ERR_NOMEM;
	l->ent = ent;
	hc_count(c, l, (l->cap - old) * sizeof(*ent));
	return 0;
}

/* Room for klen more key bytes at keys + kused: 0, or STORE_ERR_NOMEM (over the budget,
 * out of memory, or offsets beyond u32). A buffer without room is repacked into a new one,
 * which reclaims the bytes of removed keys and doubles the size only while the live
 * keys need it. */
static int hc_room_key(struct store__hcache *c, struct store__hc_list *l, size_t klen)
{
	size_t live = 0, ncap, pos = 0;
	uint8_t *keys;

	if (klen <= l->kcap - l->kused)
		return 0;
	for (size_t i = 0; i < l->n; i++)
		live += l->ent[i].len;
	ncap = l->kcap != 0 ? l->kcap : HC_FIRST_KEY_BYTES;
	while (ncap - live < klen) {
		if (ncap > UINT32_MAX / 2)
			return STORE_ERR_NOMEM;
		ncap *= 2;
	}
	if (!hc_fits(c, ncap - l->kcap))
		return STORE_ERR_NOMEM;
	keys = malloc(ncap);
	if (keys == NULL)
		return STORE_ERR_NOMEM;
	for (size_t i = 0; i < l->n; i++) {
		memcpy(keys + pos, l->keys + l->ent[i].off, l->ent[i].len);
		l->ent[i].off = (uint32_t)pos;
		pos += l->ent[i].len;
	}
	free(l->keys);
	hc_count(c, l, ncap - l->kcap);
	l->keys = keys;
	l->kcap = ncap;
	l->kused = live;
	return 0;
}

/* Insert (key, vhash) as entry i of l: 0, or STORE_ERR_NOMEM (l unchanged, but maybe
 * with more room). */
static int hc_insert(struct store__hcache *c, struct store__hc_list *l, size_t i,
		     const uint8_t *key, size_t klen, const uint8_t vhash[PTREE_DIGEST_LEN])
{
	struct store__hc_ent *e;
	int rc = hc_room_entry(c, l);

	if (rc == 0)
		rc = hc_room_key(c, l, klen);
	if (rc != 0)
		return rc;
	memcpy(l->keys + l->kused, key, klen);
	memmove(&l->ent[i + 1], &l->ent[i], (l->n - i) * sizeof(*e));
	e = &l->ent[i];
	e->off = (uint32_t)l->kused;
	e->len = (uint32_t)klen;
	memcpy(e->vhash, vhash, PTREE_DIGEST_LEN);
	l->kused += klen;
	l->n++;
	return 0;
}

/* Index of key in l (*found 1), or where it belongs (*found 0): keys ordered as
 * LevelDB orders them (bytewise, a proper prefix first). */
static size_t hc_search(const struct store__hc_list *l, const uint8_t *key, size_t klen,
			int *found)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct store__hc_ent *e = &l->ent[mid];
		int cmp = memcmp(l->keys + e->off, key, e->len < klen ? e->len : klen);

		if (cmp == 0)
			cmp = e->len < klen ? -1 : e->len > klen;
		if (cmp == 0) {
			*found = 1;
			return mid;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

void store__hc_build_begin(struct store__hcache *c, uint64_t p)
{
	struct store__hc_list *l;

	store__hc_build_abort(c);
	if (c->list == NULL || p >= c->partitions || c->list[p] != NULL ||
	    !hc_fits(c, sizeof(*l)))
		return;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return;
	hc_count(c, l, sizeof(*l));
	c->build = l;
	c->build_p = p;
}

void store__hc_build_add(struct store__hcache *c, const uint8_t *key, size_t klen,
			 const uint8_t vhash[PTREE_DIGEST_LEN])
{
	if (c->build != NULL && hc_insert(c, c->build, c->build->n, key, klen, vhash) != 0)
		store__hc_build_abort(c);
}

void store__hc_build_end(struct store__hcache *c)
{
	if (c->build == NULL)
		return;
	c->list[c->build_p] = c->build;
	c->build = NULL;
}

void store__hc_build_abort(struct store__hcache *c)
{
	if (c->build == NULL)
		return;
	c->bytes -= c->build->bytes;
	hc_list_free(c->build);
	c->build = NULL;
}

uint8_t *store__hc_scratch(struct store__hcache *c, size_t n)
{
	uint8_t *scratch;

	if (c->list == NULL || c->bytes == 0) /* no cache, or no list to change */
		return NULL;
	if (n <= c->nscratch)
		return c->scratch;
	scratch = n <= SIZE_MAX / PTREE_DIGEST_LEN ? realloc(c->scratch, n * PTREE_DIGEST_LEN) : NULL;
	if (scratch == NULL) {
		hc_clear(c);
		return NULL;
	}
	c->scratch = scratch;
	c->nscratch = n;
	return scratch;
}

void store__hc_change(struct store__hcache *c, uint64_t p, const uint8_t *key, size_t klen,
		      const uint8_t *vhash)
{
	struct store__hc_list *l = hc_get(c, p);
	size_t i;
	int found;

	if (l == NULL)
		return;
	i = hc_search(l, key, klen, &found);
	if (vhash == NULL) {
		if (found) {
			memmove(&l->ent[i], &l->ent[i + 1], (l->n - i - 1) * sizeof(l->ent[0]));
			l->n--;
		}
	} else if (found) {
		memcpy(l->ent[i].vhash, vhash, PTREE_DIGEST_LEN);
	} else if (hc_insert(c, l, i, key, klen, vhash) != 0) {
		store__hc_drop(c, p);
	}
}
