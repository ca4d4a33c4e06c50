/* store_int.h: replica/store's internals shared by its .c files: the store struct, the
 * open transaction, kept checkpoints, the value hash cache, and key encoding helpers. */
#ifndef BULWARK_STORE_INT_H
#define BULWARK_STORE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "replica/core/ptree.h"
#include "replica/store/ldb.h"
#include "replica/store/store.h"

/* Key prefixes and metadata names (store.h "Key layout"). */
#define STORE__P_STATE ((uint8_t)'S')
#define STORE__P_META ((uint8_t)'M')
#define STORE__M_FORMAT ((uint8_t)'V')
#define STORE__M_EXECUTED ((uint8_t)'E')
#define STORE__M_TRANSFER ((uint8_t)'T')
#define STORE__M_DIGEST ((uint8_t)'P')
#define STORE__M_DIRTY ((uint8_t)'D')
#define STORE__M_SESSION ((uint8_t)'B') /* boot id of the last open, clean-stop and uncertain flags */

#define STORE__STATE_PREFIX 5u   /* 'S' + partition u32 */
#define STORE__META_PART_LEN 6u  /* 'M' + name + partition u32 */

/* One changed key of the open transaction: its LevelDB key and new value (or deletion)
 * live in the transaction's arena. */
struct store__change {
	size_t off;        /* LevelDB key, then value, in arena */
	uint32_t klen;     /* LevelDB key length */
	uint32_t vlen;
	uint32_t partition;
	int deleted;
	uint64_t hash;
};

struct store__txn {
	int open;
	struct wire_buf arena;        /* keys and values, appended */
	struct store__change *chg;
	size_t n, cap;
	uint32_t *slot;               /* hash table of chg index + 1 (0 = empty) */
	size_t nslot;                 /* power of two, > 2 * n */
};

/* The durable records' log (reclog.c): segment files and the live records' places. */
struct store__seg {
	uint64_t id;
	uint64_t live;                /* puts in it not superseded or deleted */
};
struct store__live {
	uint8_t kind;
	uint64_t key;
	uint64_t seg, off;            /* the value's place */
	uint32_t len;
};
#define STORE__RECLOG_SPARES 2u   /* dead segments' files kept for reuse */
#define STORE__RECLOG_ZERO_STEP (1u << 20) /* a new file is zero-filled this far ahead */
struct store__reclog {
	char *dir;
	int fd;                       /* the current segment, written at cur_bytes */
	int dirfd;                    /* the folder: synced when a segment is named */
	uint64_t cur, cur_bytes, segment_bytes;
	uint64_t file_bytes;          /* the current segment file's size (see zero_ahead) */
	uint32_t seed;                /* CRC seed of the current segment's entries */
	uint64_t spare[STORE__RECLOG_SPARES]; /* ids the spare files were named by */
	size_t nspare;
	struct store__seg *segs;      /* ascending ids */
	size_t nsegs, capsegs;
	struct store__live *live;
	size_t nlive, caplive;
	struct wire_buf wbuf;         /* the entries of one apply */
};

/* The value hash cache (hashcache.c): for some partitions, the complete list of their
 * live state entries as (state key, ptree_value_hash of the value), ascending by state
 * key, so that a partition is digested without reading LevelDB. A held list always
 * equals LevelDB's live 'S' range of its partition (not the deferred changes): it is
 * built by the digest scan of a partition, changed by write_changes after its write
 * succeeded, and dropped when anything else writes the partition. */
struct store__hc_ent {
	uint32_t off, len;                  /* the state key: keys[off, off + len) */
	uint8_t vhash[PTREE_DIGEST_LEN];
};
struct store__hc_list {
	struct store__hc_ent *ent;          /* n in use, cap allocated; ascending keys */
	size_t n, cap;
	uint8_t *keys;                      /* kcap bytes; the entries' keys and, up to
					     * kused, removed keys' bytes (reclaimed when the
					     * buffer must grow) */
	size_t kused, kcap;
	size_t bytes;                       /* counted: this struct, cap entries, kcap */
};
struct store__hcache {
	struct store__hc_list **list;       /* per partition, NULL = not held; the table is
					     * NULL when max is 0 (no cache) */
	uint64_t partitions;
	size_t max;                         /* store_config.digest_cache_bytes */
	size_t bytes;                       /* the lists' bytes (the one being built too) */
	struct store__hc_list *build;       /* being built by a digest scan, or NULL */
	uint64_t build_p;
	uint8_t *scratch;                   /* write_changes: a value hash per change */
	size_t nscratch;                    /* hashes scratch has room for */
};

/* A kept checkpoint: a LevelDB snapshot and the tree as it was at seq. */
struct store__ckpt {
	uint64_t seq;
	const leveldb_snapshot_t *snap;
	struct ptree tree;
};

struct store {
	struct store__ldb ldb;
	uint32_t fanout, levels;
	uint64_t partitions;
	uint64_t last_executed;
	int transfer_pending;
	int uncertain;                 /* session: an unsettled loss of unsynced writes */
	uint64_t transfer_ckpt;
	struct ptree tree;            /* the live state's tree; dirty partitions marked */
	struct store__txn txn;
	struct store__txn pend;       /* defer: executed changes not yet written */
	struct store__txn recent[2];  /* defer: the last two flushes' changes, [0] newer,
				       * kept as a read cache (store__mem_get) */
	size_t recent_max;            /* store_config.recent_bytes */
	uint64_t hash_key[2];         /* SipHash key of every table above, random per store:
				       * a key is hashed once for all of them */
	struct wire_buf memo_key;     /* ns | key of the last state key built, and its */
	uint64_t memo_part;           /* partition (store__state_key) */
	struct store__reclog rlog;    /* the durable records (not in LevelDB) */
	struct store__hcache hc;      /* value hashes of partitions, for their digests */
	uint8_t *marks_on_disk;       /* bit p: partition p's 'M' 'D' mark is on disk (or in
				       * a written batch); cleared when its digest is */
	uint8_t *marks_queued;        /* scratch of write_changes: marks in its batch */
	leveldb_writebatch_t *wb;     /* write_changes' batch, kept (cleared) between writes
				       * up to STORE__WB_KEEP_BYTES of changes; or NULL */
	uint64_t *order;              /* scratch of write_changes: its changes in partition
				       * order, and as much again for the sort */
	size_t norder;
	uint32_t persist_every;       /* store_config.digest_persist_every, at least 1 */
	uint32_t ckpts_unpersisted;   /* checkpoints since the digests were last written */
	int defer;                    /* store_config.defer_writes */
	int defer_failed;             /* a batch was half merged: no deferred write any more */
	int checkpoint_nosync;        /* store_config.checkpoint_nosync */
	uint64_t flushed;             /* last executed seq written to LevelDB */
	struct store__ckpt ckpt[STORE_MAX_CHECKPOINTS]; /* ascending seq */
	size_t nckpt;
	struct wire_buf key;          /* scratch: LevelDB keys */
	struct wire_buf val;          /* scratch: values read (store_txn_get) */
	struct wire_buf cval;         /* scratch: client table values (clients.c) */
};

/* write_changes sorts its changes by partition (below PTREE_MAX_PARTITIONS = 2^24) in
 * two passes of this many bits. */
#define STORE__ORDER_BITS 12u
#define STORE__ORDER_BUCKETS (1u << STORE__ORDER_BITS)
/* write_changes keeps its LevelDB write batch (and its buffer) after writing at most
 * this many bytes of keys and values; a larger one is freed. */
#define STORE__WB_KEEP_BYTES (32u << 20)

/* ---------------------------------------------------------------- big-endian helpers */
/* The array arr (*cap elements of elem bytes, n in use) with room for one more: arr
 * itself, or arr moved to twice the room (first when empty), *cap updated; NULL when out
 * of memory (arr and *cap unchanged). */
static inline void *store__grow(void *arr, size_t *cap, size_t n, size_t elem, size_t first)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : first;
	void *np = realloc(arr, ncap * elem);
	if (np != NULL)
		*cap = ncap;
	return np;
}

static inline void store__be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void store__be64(uint8_t *p, uint64_t v)
{
	store__be32(p, (uint32_t)(v >> 32));
	store__be32(p + 4, (uint32_t)v);
}

static inline uint32_t store__ld32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t store__ld64(const uint8_t *p)
{
	return (uint64_t)store__ld32(p) << 32 | store__ld32(p + 4);
}

/* 'M' name | partition u32. */
static inline void store__meta_part_key(uint8_t out[STORE__META_PART_LEN], uint8_t name,
					uint64_t partition)
{
	out[0] = STORE__P_META;
	out[1] = name;
	store__be32(out + 2, (uint32_t)partition);
}

/* Build 'S' | partition | ns | key into s->key; *partition receives the partition.
 * STORE_ERR_TOO_BIG if ns|key is longer than STORE_MAX_KEY, STORE_ERR_NOMEM. */
int store__state_key(struct store *s, uint8_t ns, const void *key, size_t klen,
		     uint64_t *partition);

/* Recompute the dirty partitions of the live tree (in memory only). */
int store__refresh(struct store *s);
/* Write the digest of every partition whose mark is on disk and remove the marks, in one
 * unsynced batch (after store__refresh: the tree's digests are those of LevelDB's state).
 * If the batch is lost in a crash, the marks stay and the partitions are digested again
 * at the next open. */
int store__persist_digests(struct store *s);

/* Partition bitmaps (marks_on_disk, marks_queued): partitions / 8 + 1 bytes. */
static inline int store__bit(const uint8_t *map, uint64_t p)
{
	return (map[p / 8] >> (p % 8)) & 1;
}
static inline void store__bit_put(uint8_t *map, uint64_t p, int on)
{
	if (on)
		map[p / 8] |= (uint8_t)(1u << (p % 8));
	else
		map[p / 8] &= (uint8_t)~(1u << (p % 8));
}

/* Transaction internals (txn.c). */
int store__txn_init(struct store__txn *t);
void store__txn_free(struct store__txn *t);
/* The hash of LevelDB key k in every table of s. */
uint64_t store__key_hash(const struct store *s, const uint8_t *k, size_t klen);
/* The value of LevelDB key k (hash h) as held in memory (deferred, or kept from a recent
 * flush): 0 (borrowed until the next store call), STORE_ERR_NOT_FOUND (deleted), or 1
 * (not held: read LevelDB). */
int store__mem_get(const struct store *s, const uint8_t *k, size_t klen, uint64_t h,
		   const uint8_t **value, size_t *vlen);
/* Forget the recent flushes' changes (before LevelDB's state keys are written other than
 * by store_flush). */
void store__recent_drop(struct store *s);

/* The durable records' log (reclog.c): open (replaying it) in db_path/records, close,
 * append an update's records, hand the live ones out (sorted by kind, key). */
int store__reclog_open(struct store *s, const char *db_path, uint64_t segment_bytes);
void store__reclog_close(struct store *s);
int store__reclog_apply(struct store *s, const struct pbft_update *u);
int store__reclog_load(struct store *s, struct store_records *out);

/* The value hash cache (hashcache.c). Keys are state keys (ns | key, no 'S' |
 * partition prefix), borrowed for the call. Memory: the lists count their bytes
 * against max; a list that would take the total above it is dropped (or not built):
 * the lists held first stay. The table (a pointer per partition) and the scratch of
 * write_changes (32 bytes per change of the largest write) are not counted.
 *
 * init: max 0 means no cache (every call then does nothing); 0 or STORE_ERR_NOMEM.
 * free: drops every list and frees everything (c may be zeroed or half initialised). */
int store__hc_init(struct store__hcache *c, uint64_t partitions, size_t max);
void store__hc_free(struct store__hcache *c);
/* 1 if p's list is held. */
int store__hc_held(const struct store__hcache *c, uint64_t p);
/* Digest of partition p from its list: 0, 1 (not held: nothing done) or STORE_ERR_TREE. */
int store__hc_digest(const struct store__hcache *c, uint64_t p, uint8_t out[PTREE_DIGEST_LEN]);
/* Forget p's list (p's state keys are about to change, or changed, other than by
 * store__hc_change). */
void store__hc_drop(struct store__hcache *c, uint64_t p);
/* Build p's list from a scan of its live entries: begin (p must not be held), add each
 * entry in ascending key order, then end (the list is held from then on) or abort (on a
 * failed scan). A list that outgrows the budget, or finds no memory, is given up on the
 * way: end then holds nothing. */
void store__hc_build_begin(struct store__hcache *c, uint64_t p);
void store__hc_build_add(struct store__hcache *c, const uint8_t *key, size_t klen,
			 const uint8_t vhash[PTREE_DIGEST_LEN]);
void store__hc_build_end(struct store__hcache *c);
void store__hc_build_abort(struct store__hcache *c);
/* Room for n value hashes (n * PTREE_DIGEST_LEN bytes, owned by c, valid until the next
 * call): NULL when there is no cache or no list held, or when out of memory (every list
 * is then dropped, so that a write made without the hashes leaves no list stale). */
uint8_t *store__hc_scratch(struct store__hcache *c, size_t n);
/* Apply one change LevelDB made to p's live state: key now has the value of hash vhash
 * (replaced in place, or inserted in order), or (vhash NULL) it was deleted. No-op when
 * p is not held; a list that an insert would take over the budget (or out of memory)
 * is dropped. */
void store__hc_change(struct store__hcache *c, uint64_t p, const uint8_t *key, size_t klen,
		      const uint8_t *vhash);

/* Free every kept checkpoint (state.c). */
void store__ckpt_free_all(struct store *s);

#endif
