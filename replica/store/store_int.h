/* store_int.h: replica/store's internals shared by its .c files: the store struct, the
 * open transaction, kept checkpoints, and key encoding helpers. */
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
#define STORE__P_HASH ((uint8_t)'H')   /* value hashes of the state: 'S' key, first byte 'H' */
#define STORE__P_META ((uint8_t)'M')
#define STORE__M_FORMAT ((uint8_t)'V')
#define STORE__M_EXECUTED ((uint8_t)'E')
#define STORE__M_TRANSFER ((uint8_t)'T')
#define STORE__M_DIGEST ((uint8_t)'P')
#define STORE__M_DIRTY ((uint8_t)'D')
#define STORE__M_SESSION ((uint8_t)'B') /* boot id of the last open, clean-stop and uncertain flags */

#define STORE__STATE_PREFIX 5u   /* 'S' (or 'H') + partition u32 */
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
struct store__reclog {
	char *dir;
	int fd;                       /* the current segment, written at cur_bytes */
	int dirfd;                    /* the folder: synced when a segment is named */
	uint64_t cur, cur_bytes, segment_bytes;
	uint32_t seed;                /* CRC seed of the current segment's entries */
	uint64_t spare[STORE__RECLOG_SPARES]; /* ids the spare files were named by */
	size_t nspare;
	struct store__seg *segs;      /* ascending ids */
	size_t nsegs, capsegs;
	struct store__live *live;
	size_t nlive, caplive;
	struct wire_buf wbuf;         /* the entries of one apply */
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

/* Add to wb the put of a state entry, key (an 'S' key, klen bytes) = value, and of its
 * value hash (ptree_value_hash) under the 'H' key of the same bytes; or the deletes of
 * both keys. Every write of a state key goes through these, so that 'H' stays in step
 * with 'S' in each atomic batch. key's first byte is changed and restored (no copy);
 * LevelDB copies the bytes into wb. */
void store__wb_state_put(leveldb_writebatch_t *wb, uint8_t *key, size_t klen,
			 const void *value, size_t vlen);
void store__wb_state_del(leveldb_writebatch_t *wb, uint8_t *key, size_t klen);

/* Recompute the dirty partitions of the live tree and cache their digests on disk. */
int store__refresh(struct store *s);

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

/* Free every kept checkpoint (state.c). */
void store__ckpt_free_all(struct store *s);

#endif
