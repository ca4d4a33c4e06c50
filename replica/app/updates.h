/* updates.h: the replicated update service (channels, k-of-m signed manifests, the
 * transparency log, freshness statements) and each replica's local chunk storage. */
#ifndef BULWARK_APP_UPDATES_H
#define BULWARK_APP_UPDATES_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "replica/store/store.h"
#include "wire/upd.h"
#include "wire/wire.h"

/*
 * Operations and results are encoded as wire/upd.h describes; execution is deterministic
 * (it depends on the state, the operation and the batch time only) and runs inside the
 * store's open transaction. A refused operation gets a result naming the rule and
 * changes nothing.
 *
 * Replicated state, under the state namespace UPDATES_NS ('U'); integers in keys are
 * big-endian, integers in values little-endian (wire/ style):
 *
 *   'c' | name                  -> channel: policy_version u64 | k u32 | m u32 |
 *                                  m keys [32] | version u64 | manifest hash [32] |
 *                                  manifest expires u64 (version 0: nothing published)
 *   'm' | name | 0x00 | ver u64 -> the accepted envelope JSON, byte for byte
 *   'n' | i u64                 -> name of the i-th channel created (0-based)
 *   'N'                         -> channels created u64
 *   'l' | i u64                 -> transparency log leaf i (wire/upd.h leaf data)
 *   'L'                         -> log size u64
 *
 * The channel index and the log head are also kept in memory (a sorted channel table
 * and the log's frontier of perfect subtrees), brought up to date from the store after
 * each committed batch (updates_batch_end) and rebuilt by updates_reload (start-up,
 * after a state transfer), so a statement costs O(channels) hashes at most.
 */

#define UPDATES_NS ((uint8_t)'U')

enum updates_err {
	UPDATES_OK = 0,
	UPDATES_ERR_ARG = -1,       /* bad argument or configuration */
	UPDATES_ERR_NOMEM = -2,
	UPDATES_ERR_STORE = -3,     /* the store (or the chunk storage) failed */
	UPDATES_ERR_CORRUPT = -4,   /* a stored record or chunk is malformed */
	UPDATES_ERR_HASH = -5,      /* chunk bytes do not hash to the name given */
	UPDATES_ERR_NOT_FOUND = -6, /* no such channel, manifest or chunk */
	UPDATES_ERR_RANGE = -7,     /* offset or length outside the chunk */
	UPDATES_ERR_TOO_BIG = -8,   /* a chunk above WIRE_UPD_MAX_CHUNK bytes */
	UPDATES_ERR_CRYPTO = -9     /* signing failed */
};
/* A static string for an updates_err. Never NULL. */
const char *updates_strerror(int err);

struct updates_config {
	uint64_t group, epoch;
	uint32_t n, f;                        /* n = 3f+1 replicas */
	uint8_t replica_keys[WIRE_UPD_MAX_REPLICAS][CRYPTO_ED25519_PUB]; /* n used */
	uint8_t admin_key[CRYPTO_ED25519_PUB];/* authorises CHANNEL_CREATE */
	uint64_t max_expiry_s;                /* manifests expire at most this after the batch */
	uint64_t statement_validity_ms;       /* statement expires_ms = time_ms + this */
	uint32_t receipts_needed;             /* per chunk; 2f+1 .. n */
	struct wire_upd_limits limits;
};
/* Defaults: one year of expiry, 5 minutes of statement validity, limits
 * wire_upd_limits_default; group, keys and n/f zero (to be filled); receipts_needed 0,
 * which updates_init turns into 2f+1. */
void updates_config_default(struct updates_config *cfg);

/* One channel of the in-memory index. */
struct updates__chan {
	char name[WIRE_UPD_MAX_CHANNEL + 1];
	uint32_t namelen;
	uint64_t version;                     /* 0: nothing published */
	uint8_t hash[WIRE_UPD_HASH_LEN];
	uint8_t leaf[WIRE_UPD_HASH_LEN];      /* leaf hash when version > 0 */
};

struct updates {
	struct store *store;                  /* borrowed */
	struct updates_config cfg;
	struct updates__chan *chan;           /* sorted by name; owned */
	size_t nchan, capchan;
	int index_dirty;
	uint8_t index_root[WIRE_UPD_HASH_LEN];
	uint64_t log_size;
	uint8_t frontier[64][WIRE_UPD_HASH_LEN]; /* subtree of 2^k leaves iff bit k of log_size */
	struct wire_buf touched;              /* names changed by the open batch (u32 len | name) */
	struct wire_buf key, val;             /* scratch */
	int err, store_err;
};

/* Caller-allocated u; store borrowed (must outlive u), cfg copied. Loads the index and
 * log head from the store. Pair with updates_free. UPDATES_ERR_ARG for a bad config
 * (n != 3f+1, n > WIRE_UPD_MAX_REPLICAS, receipts_needed outside 2f+1..n, zero expiry or
 * validity). */
int updates_init(struct updates *u, struct store *store, const struct updates_config *cfg);
void updates_free(struct updates *u);
/* The last failure in words (the store's message for UPDATES_ERR_STORE). Borrowed. */
const char *updates_last_error(const struct updates *u);

/* Execute one operation (op borrowed; its first byte an update op type) inside the
 * store's open transaction, time_ms being the batch's time; the encoded result is
 * appended to out. Returns 0 (the result says what happened) or an updates_err when
 * the store failed (the batch must then be aborted). read_only != 0 gets BAD_OP. */
int updates_apply(struct updates *u, struct wire_bytes op, int read_only, uint64_t time_ms,
		  struct wire_buf *out);
/* After the batch's transaction: committed != 0 when it was written, 0 when aborted.
 * Brings the in-memory index and log head up to date with what was committed. */
int updates_batch_end(struct updates *u, int committed);
/* Rebuild the in-memory index and log head from the store's committed state. */
int updates_reload(struct updates *u);

/* This replica's statement after executing seq at batch time time_ms: the index root,
 * the log head and expires_ms = time_ms + statement_validity_ms. Signing and exchanging
 * statements is the daemon's. */
int updates_statement(struct updates *u, uint64_t seq, uint64_t time_ms,
		      struct wire_upd_statement *st);

/* For the read plane (committed state): the channel's current version and manifest hash
 * and its inclusion proof in the current index (UPDATES_ERR_NOT_FOUND if the channel does
 * not exist or has no manifest) ... */
int updates_channel_proof(struct updates *u, const char *name, struct wire_upd_proof *proof,
			  uint8_t hash[WIRE_UPD_HASH_LEN]);
/* ... and the stored envelope JSON of (name, version), into env (reset first). */
int updates_get_envelope(struct updates *u, const char *name, uint64_t version,
			 struct wire_buf *env);

/* 1 if pub (borrowed) is a publisher key of some channel's current policy in the
 * committed state, 0 if not, or an updates_err (the store failed). Costs one store read
 * per channel; replicas use it to decide who may upload chunks. */
int updates_is_publisher(struct updates *u, const uint8_t pub[WIRE_UPD_KEY_LEN]);

/* Transparency log leaf i (< the log size, committed state): the channel name
 * (NUL-terminated), version and manifest hash. UPDATES_ERR_NOT_FOUND past the end,
 * UPDATES_ERR_CORRUPT for a malformed record. */
int updates_log_leaf(struct updates *u, uint64_t i, char name[WIRE_UPD_MAX_CHANNEL + 1],
		     uint64_t *version, uint8_t hash[WIRE_UPD_HASH_LEN]);

/* ---------------------------------------------------------------- local chunk storage */
/*
 * Chunks are not replicated state: each replica keeps the chunks it was given (or
 * fetched from a peer) in replica-local storage outside the state digest, keyed by
 * their SHA-256. The storage is reached through these ops so that it can live in the
 * replica's LevelDB under a local key prefix (see the report: the store needs a
 * local get/put outside the 'S' namespace). Both return 0, STORE_ERR_NOT_FOUND (get),
 * or another negative store code.
 */
struct updates_blob_ops {
	void *ctx;
	int (*get)(void *ctx, const uint8_t *key, size_t klen, struct wire_buf *value);
	int (*put)(void *ctx, const uint8_t *key, size_t klen, const void *value, size_t vlen);
};

struct updates_chunks {
	struct updates_blob_ops ops;           /* copied; ctx borrowed */
	uint64_t group, epoch;
	uint32_t replica;                      /* this replica's id */
	const struct crypto_ed25519_key *key;  /* this replica's private key, borrowed */
	struct wire_buf val;                   /* scratch */
	int store_err;                         /* the blob store's last code */
};
void updates_chunks_init(struct updates_chunks *c, const struct updates_blob_ops *ops,
			 uint64_t group, uint64_t epoch, uint32_t replica,
			 const struct crypto_ed25519_key *key);
void updates_chunks_free(struct updates_chunks *c);

/* Store len bytes (borrowed) under sha256 if they hash to it (UPDATES_ERR_HASH
 * otherwise, nothing stored), and sign the receipt for (sha256, len) into receipt
 * (may be NULL). Storing a chunk already held rewrites nothing. */
int updates_chunk_put(struct updates_chunks *c, const uint8_t sha256[WIRE_UPD_HASH_LEN],
		      const void *data, size_t len, struct wire_upd_cert_sig *receipt);
/* Bytes [off, off+len) of the chunk (len 0: to the end) into out (reset first); *total
 * (may be NULL) receives the chunk's size. The stored bytes are hashed again:
 * UPDATES_ERR_CORRUPT if they no longer match. UPDATES_ERR_NOT_FOUND,
 * UPDATES_ERR_RANGE (off beyond the end, or off+len past it). */
int updates_chunk_get(struct updates_chunks *c, const uint8_t sha256[WIRE_UPD_HASH_LEN],
		      uint64_t off, uint64_t len, struct wire_buf *out, uint64_t *total);
/* 1 if held, 0 if not, < 0 on a storage failure. */
int updates_chunk_has(struct updates_chunks *c, const uint8_t sha256[WIRE_UPD_HASH_LEN]);
/* Sign the receipt for (sha256, size) with this replica's key. */
int updates_receipt_sign(const struct updates_chunks *c, const uint8_t sha256[WIRE_UPD_HASH_LEN],
			 uint64_t size, struct wire_upd_cert_sig *receipt);

#endif
