/* store.h: a replica's LevelDB database: the replicated state with its partition-tree
 * digest, checkpoint snapshots and state transfer, and the protocol's durable records. */
#ifndef BULWARK_STORE_H
#define BULWARK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "replica/core/pbft.h"
#include "wire/wire.h"

/*
 * Key layout. One LevelDB database per replica, default bytewise comparator. Integers
 * in keys and in store-written values are big-endian, so that numeric order is key
 * order and a partition is one contiguous key range.
 *
 *   'S' | partition u32 | state key  -> value        the replicated state
 *   'R' | kind u8 | key u64          -> record value the protocol's durable records
 *   'M' 'V'                          -> format u32 | fanout u32 | levels u32
 *   'M' 'E'                          -> last executed seq u64
 *   'M' 'T'                          -> checkpoint seq u64: a state transfer towards
 *                                       it is under way (the state is incomplete)
 *   'M' 'P' | partition u32          -> cached digest of the partition (32 bytes);
 *                                       absent: the partition is empty
 *   'M' 'D' | partition u32          -> (empty) the partition changed after its
 *                                       cached digest was written
 *
 * A state key is a namespace byte followed by the service's own key (STORE_NS_*); the
 * partition is ptree_partition_of(state key), and partition digests hash the state
 * keys and their values' hashes in key order (replica/core/ptree.h). The value hashes
 * are not stored: a partition is digested from its list of (state key, value hash) in
 * memory when the store holds it (store_config.digest_cache_bytes), else by reading
 * its 'S' range and hashing each value (which builds the list). The first write to a
 * partition after its digest was written puts its 'M' 'D' mark in the same atomic batch;
 * digests are recomputed in memory for changed partitions only (at a checkpoint, or
 * when the live tree is read) and written to LevelDB, each with the removal of its mark
 * in one batch, at every store_config.digest_persist_every-th checkpoint, at open and
 * at close. So after any crash each partition either has a mark or an up-to-date
 * cached digest, and open digests the marked ones again.
 *
 * An executed batch is one atomic leveldb_write: its state changes, their marks and
 * the new 'M' 'E'. The records of one pbft_update are one atomic write, synced when
 * the update says so.
 */

#define STORE_FORMAT_VERSION 4u /* 2: durable records in the records log, not LevelDB;
				* 3: its entries checked against their segment, files reused;
				* 4: partition digests v2 (over the values' hashes) */
#define STORE_MAX_KEY (64u * 1024u)            /* state key bytes, namespace byte included */
#define STORE_MAX_VALUE (64u * 1024u * 1024u)  /* state value bytes */
#define STORE_MAX_CHECKPOINTS 64u              /* snapshots kept before release */

/* State namespaces (the first byte of every state key). */
#define STORE_NS_KV ((uint8_t)'K')             /* replica/app/kv.c */
#define STORE_NS_CLIENT ((uint8_t)'C')         /* the client table (clients.c) */
/* 'U' is replica/app/updates.h's UPDATES_NS. */

enum store_err {
	STORE_OK = 0,
	STORE_ERR_ARG = -1,           /* bad argument or tree shape */
	STORE_ERR_NOMEM = -2,
	STORE_ERR_IO = -3,            /* LevelDB reported an I/O error */
	STORE_ERR_CORRUPT = -4,       /* LevelDB reported corruption, or a stored value is malformed */
	STORE_ERR_OPEN = -5,          /* the database cannot be opened (missing, locked, ...) */
	STORE_ERR_FORMAT = -6,        /* unknown format version, or another tree shape */
	STORE_ERR_NOT_FOUND = -7,     /* no such key */
	STORE_ERR_TOO_BIG = -8,       /* a key or value above STORE_MAX_KEY / STORE_MAX_VALUE */
	STORE_ERR_SEQ = -9,           /* seq is not the next to execute, or not the last executed */
	STORE_ERR_TXN = -10,          /* a transaction is already open, or none is */
	STORE_ERR_NO_CHECKPOINT = -11, /* no snapshot kept for that checkpoint */
	STORE_ERR_LIMIT = -12,        /* STORE_MAX_CHECKPOINTS snapshots already kept */
	STORE_ERR_PAGE = -13,         /* a transfer page is malformed (partition, key order) */
	STORE_ERR_TRANSFER = -14,     /* a state transfer is incomplete: execution refused */
	STORE_ERR_DIGEST = -15,       /* the transferred state does not match the checkpoint digest */
	STORE_ERR_TREE = -16          /* the partition tree failed (hashing) */
};
/* A static string for a store_err. Never NULL. */
const char *store_strerror(int err);

/* One thread at a time: a store is not locked. */
struct store; /* opaque */

struct store_config {
	const char *path;     /* database folder (borrowed for the call) */
	uint32_t fanout;      /* partition tree shape (ptree_init); must match the database's */
	uint32_t levels;
	int create;           /* create the database when missing */
	size_t cache_bytes;   /* LevelDB block cache; 0 = LevelDB's default */
	int verify;           /* recompute every partition digest at open (ignore the
			       * digests cached on disk) */
	uint64_t records_segment_bytes; /* size at which the records log starts a new
				       * segment; 0 = STORE_RECORDS_SEGMENT_DEFAULT */
	int defer_writes;     /* keep executed batches in memory and write them with
			       * store_flush (at the latest at the next checkpoint, or when
			       * STORE_DEFER_MAX_BYTES of changes wait): see store_txn_commit */
	size_t recent_bytes;  /* with defer_writes: the changes of the last two flushes stay
			       * in memory as a read cache while together at most this
			       * many bytes (keys and values); 0 = none */
	int checkpoint_nosync; /* store_checkpoint writes the state without a sync: the
				* caller makes it durable with store_sync off its loop
				* (pbft_config.durable_async) */
	uint32_t digest_persist_every; /* write the partitions' digests to LevelDB (and
					* remove their dirty marks) at every n-th checkpoint,
					* at open and at close; 0 or 1: at every checkpoint.
					* Between, a changed partition's mark stays on disk, so
					* its next write needs none, and a crash digests the
					* marked partitions again at open */
	size_t digest_cache_bytes; /* memory for the value hash cache: for some partitions
				    * the list of (state key, SHA-256 of its value), so that
				    * a changed partition is digested without reading LevelDB.
				    * A partition's list is built when a digest scans it and
				    * follows the writes from then on. Counted: 40 bytes per
				    * entry (hash and key place) plus its key, 56 per list,
				    * and the room the lists allocated ahead (they grow by
				    * doubling); a list that would pass this many bytes is
				    * dropped, the ones held stay. Not counted: a pointer per
				    * partition, and 32 bytes per change of the largest write.
				    * 0 = no cache: every digest reads its partition's values */
};
#define STORE_RECORDS_SEGMENT_DEFAULT (8u << 20)
/* Deferred changes above this size are written at once (bounds the memory they use). */
#define STORE_DEFER_MAX_BYTES (64u << 20)

/* Open the database, load last executed, the transfer mark and the partition digests
 * (recomputing the marked ones). *out is owned by the caller, closed with store_close.
 * On failure *out is NULL; if errbuf is non-NULL it receives the reason (errlen bytes,
 * NUL-terminated). */
int store_open(const struct store_config *cfg, struct store **out, char *errbuf, size_t errlen);
/* Release every snapshot and close the database, writing deferred changes first (not
 * synced; a failure is not reported: call store_flush before to know). NULL is ignored. */
void store_close(struct store *s);

/* The last failure in words (LevelDB's message, or the details of a digest mismatch),
 * "" when none. Borrowed until the next store call. */
const char *store_last_error(const struct store *s);

uint64_t store_last_executed(const struct store *s);
/* 1 (and *ckpt, may be NULL) if a state transfer was begun and not finished: the
 * state is incomplete; store_txn_begin and store_checkpoint refuse until
 * store_finish_transfer succeeds. The caller must fetch the state again. */
int store_transfer_pending(const struct store *s, uint64_t *ckpt);
void store_shape(const struct store *s, uint32_t *fanout, uint32_t *levels);
uint64_t store_partitions(const struct store *s);

/* ---------------------------------------------------------------- sessions */
/* Writes not synced (sync = 0) survive a process crash, since the OS holds them, but
 * not a crash of the machine. A session records which boot of the machine last opened
 * the database and whether it stopped cleanly, so that the next open can tell whether
 * unsynced writes may be lost. boot_id identifies the running boot (Linux:
 * /proc/sys/kernel/random/boot_id); an unreadable one is passed as all zeros, which
 * never equals a stored one. store_session_begin sets *lost to 1 if the database was
 * last opened under another boot and not closed cleanly, or if an earlier loss was never
 * settled (0 for a new database), then records this session (synced) with that flag:
 * a loss stays reported, across any number of restarts, until store_session_settled
 * says its consequences are over (the replica moved past the views it may have voted
 * in). store_session_end, called last, after the final writes, records a clean stop
 * (synced; an unsettled loss stays recorded). 0, STORE_ERR_CORRUPT for a malformed
 * session record, or a LevelDB error. */
#define STORE_BOOT_ID_LEN 16u
int store_session_begin(struct store *s, const uint8_t boot_id[STORE_BOOT_ID_LEN], int *lost);
int store_session_settled(struct store *s, const uint8_t boot_id[STORE_BOOT_ID_LEN]);
int store_session_end(struct store *s, const uint8_t boot_id[STORE_BOOT_ID_LEN]);

/* ---------------------------------------------------------------- state reads */
/* The live (committed) value of ns|key into value (reset first, caller-owned).
 * 0, STORE_ERR_NOT_FOUND, STORE_ERR_TOO_BIG or a LevelDB error. */
int store_get(struct store *s, uint8_t ns, const void *key, size_t klen, struct wire_buf *value);

/* ---------------------------------------------------------------- one executed batch */
/* Changes to the state are made in a transaction that becomes one atomic write with
 * the new last executed seq. One transaction at a time; reads inside it see its own
 * writes. Keys and values are copied (the transaction holds them until it ends, so
 * its memory is bounded by the batch being executed). Every txn call returns
 * STORE_ERR_TXN when no transaction is open; begin returns it when one is, and
 * STORE_ERR_TRANSFER while a transfer is pending. */
int store_txn_begin(struct store *s);
/* 0 with *value / *vlen (borrowed until the next store call: never pass them back to
 * store_txn_put), or STORE_ERR_NOT_FOUND. */
int store_txn_get(struct store *s, uint8_t ns, const void *key, size_t klen,
		  const uint8_t **value, size_t *vlen);
/* 0, STORE_ERR_TOO_BIG (key or value above the limits; nothing recorded) or
 * STORE_ERR_NOMEM (the transaction is then over: begin again). */
int store_txn_put(struct store *s, uint8_t ns, const void *key, size_t klen,
		  const void *value, size_t vlen);
int store_txn_del(struct store *s, uint8_t ns, const void *key, size_t klen);
/* Write the changes and last executed = seq (which must be last executed + 1) in one
 * leveldb_write, synced when sync != 0; the touched partitions become dirty. The
 * transaction ends whatever the outcome; on failure nothing was written. */
int store_txn_commit(struct store *s, uint64_t seq, int sync);
/* With defer_writes, store_txn_commit only merges the batch into a table of deferred
 * changes (latest value per key) and advances last executed in memory; reads
 * (store_get, store_txn_get) see them. store_flush writes the table with the last
 * executed seq in one leveldb_write (synced if asked; with sync set it writes and
 * syncs even when nothing is deferred), as store_txn_commit would have written each
 * batch. It runs by itself in store_checkpoint, store_root, the state
 * transfer calls, a commit with sync set, store_close (best effort) and above
 * STORE_DEFER_MAX_BYTES. A crash loses what was not flushed: the database then says
 * the state is that of the last flush, and the replica executes the later batches
 * again from its protocol records (or fetches a checkpoint). Repeated writes of a key
 * between flushes (a client's table entry, a hot key) reach LevelDB once. Without
 * defer_writes store_flush has nothing to do. 0 or a store error. With defer_writes an
 * error of store_txn_commit is final: the batch may be half merged (out of memory) or
 * counted as executed in memory and not written (a failed flush); the store then writes
 * no deferred change any more and the replica must stop (its restart executes the lost
 * batches again). */
int store_flush(struct store *s, int sync);
/* Drop the open transaction's changes (no-op when none is open). */
void store_txn_abort(struct store *s);

/* ---------------------------------------------------------------- the client table */
/* PBFT's per-client exactly-once table, part of the replicated state (so digested,
 * checkpointed and transferred with it): state key STORE_NS_CLIENT | client key (32
 * bytes) | lane (u32 big-endian) -> timestamp u64 (big-endian, > 0) | result bytes of
 * that request. One entry per distinct (client key, lane) ever executed (44 bytes plus
 * the result); nothing here
 * removes entries: the credit ledger's account rules are to expire them.
 *
 * Record client's executed request (timestamp > 0) with its result (borrowed, at most
 * STORE_MAX_VALUE - 8 bytes) in the open transaction, so that it commits atomically
 * with the batch. Errors as store_txn_put, and STORE_ERR_ARG for timestamp 0. */
int store_txn_client_put(struct store *s, const uint8_t client[WIRE_KEY_LEN], uint32_t lane,
			 uint64_t timestamp, const void *result, size_t len);
/* The committed entry of client: *timestamp (0 if the client has none: then nothing is
 * appended) and, unless reply is NULL, its result appended to reply (caller-owned,
 * not reset). The contract of pbft_app_ops.client_last. 0, STORE_ERR_CORRUPT for a
 * malformed entry, STORE_ERR_NOMEM, or a LevelDB error. */
int store_client_last(struct store *s, const uint8_t client[WIRE_KEY_LEN], uint32_t lane,
		      uint64_t *timestamp, struct wire_buf *reply);

/* ---------------------------------------------------------------- durable records */
/* Write u's records (in order: puts, and deletes of every record of a kind below a
 * key) as one append to the records log (folder "records" of the database: segment
 * files, replayed at open; see replica/store/reclog.c), synced (fdatasync) when
 * u->sync. No records: nothing is written. Unsynced appends survive a crash of the
 * process, not always one of the machine; what survives is then a prefix. The
 * executed state (LevelDB) and the records are separate files: a stable checkpoint's
 * record is synced only after its state was written with a sync (store_checkpoint). */
int store_apply_records(struct store *s, const struct pbft_update *u);

/* Every stored record, ordered by (kind, key), for pbft_new(records->rec,
 * records->bytes.p, records->n, ...). Caller-allocated, filled by
 * store_load_records, freed with store_records_free. */
struct store_records {
	struct pbft_record *rec;   /* n entries, off/len into bytes; owned */
	size_t n;
	struct wire_buf bytes;     /* owned */
};
int store_load_records(struct store *s, struct store_records *out);
void store_records_free(struct store_records *r);

/* ---------------------------------------------------------------- digests, checkpoints, transfer */
/* These have the contracts of the same-named members of struct pbft_app_ops
 * (replica/core/pbft.h); the notes below add what the store does. */

/* Digest of the live state (recomputes the dirty partitions first). */
int store_root(struct store *s, uint8_t digest[WIRE_DIGEST_LEN]);
/* seq must be the last executed seq. Recomputes the dirty partitions, keeps a LevelDB
 * snapshot and a copy of the tree for seq, and returns the root. Asking again for a
 * kept checkpoint returns its digest. */
int store_checkpoint(struct store *s, uint64_t seq, uint8_t digest[WIRE_DIGEST_LEN]);
/* Free every kept checkpoint below below_seq. */
void store_release(struct store *s, uint64_t below_seq);
/* The newest kept checkpoint's seq (store_checkpoint, or a finished transfer), 0 if none. */
uint64_t store_last_checkpoint(const struct store *s);
/* Make every write made to the database before the call durable: one synced empty
 * LevelDB write (a synced write syncs LevelDB's log, and LevelDB keeps write order).
 * The one store call that may run on another thread while the owning thread uses the
 * store: it touches only LevelDB's handle (thread-safe) and options fixed at open, and
 * records its failure in err (errlen bytes, NUL-terminated), not in the store. It
 * must have returned before store_close starts. 0, or STORE_ERR_NOMEM / STORE_ERR_IO. */
int store_sync(struct store *s, char *err, size_t errlen);
/* Children digests of inner node (level < levels, index) of checkpoint ckpt, each
 * appended with wire_put_child; *count receives their number. */
int store_tree_node(struct store *s, uint64_t ckpt, uint32_t level, uint64_t index,
		    struct wire_buf *children, uint32_t *count);
/* Entries of partition from start_key on (inclusive: the next page's start_key is the
 * last key received followed by one 0x00 byte), read from checkpoint ckpt's snapshot
 * and appended with wire_put_data while the bytes appended stay <= max_bytes. A page
 * holds at least one entry when any remains, even one larger than max_bytes, so that
 * a transfer always progresses. *more is 1 if entries remain after the page. */
int store_read_partition(struct store *s, uint64_t ckpt, uint64_t partition,
			 struct wire_bytes start_key, uint32_t max_bytes,
			 struct wire_buf *entries, uint32_t *count, int *more);
/* Digest of node (level 0..levels, index) of the live state (level `levels` are
 * partitions); recomputes the dirty partitions first. */
int store_local_node(struct store *s, uint32_t level, uint64_t index,
		     uint8_t digest[WIRE_DIGEST_LEN]);
/* Write one transfer page (borrowed) into partition: page->partition must equal
 * partition, every key must hash into it, keys strictly ascending within the page;
 * first != 0 deletes the partition's old entries in the same write. Marks the
 * transfer as under way (store_transfer_pending) in that write. STORE_ERR_PAGE (and
 * nothing written) for a malformed page. */
int store_write_partition(struct store *s, uint64_t partition, int first,
			  const struct wire_data *page);
/* Recompute the root; if it equals digest, set last executed = ckpt and clear the
 * transfer mark in one synced write, drop kept checkpoints at or above ckpt and keep
 * a checkpoint for ckpt. Otherwise STORE_ERR_DIGEST, store_last_error() gives both
 * digests, and the transfer stays pending (to be fetched again). */
int store_finish_transfer(struct store *s, uint64_t ckpt, const uint8_t digest[WIRE_DIGEST_LEN]);

#endif
