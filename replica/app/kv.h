/* kv.h: the replicated key-value service (PUT, DEL, CAS, read-only GET) on the store,
 * presented to the PBFT core as a struct pbft_app_ops. */
#ifndef BULWARK_APP_KV_H
#define BULWARK_APP_KV_H

#include <stdint.h>

#include "replica/core/pbft.h"
#include "replica/store/store.h"
#include "wire/kv.h"
#include "wire/wire.h"

/*
 * Operations and results are encoded as wire/kv.h describes. A key k is stored as the
 * state key STORE_NS_KV | k with the value: version u64 (big-endian) | value bytes.
 * Execution is deterministic: a result depends only on the state and the operation.
 * A malformed or oversized operation gets a BAD_OP or TOO_BIG result and changes
 * nothing; the rest of its batch executes normally. Every executed request, refused
 * ones included, records (timestamp, result) in the store's client table
 * (store_txn_client_put) in the batch's transaction; client_last reads it back.
 */

enum kv_err {
	KV_OK = 0,
	KV_ERR_ARG = -1,     /* bad argument or limits */
	KV_ERR_NOMEM = -2,
	KV_ERR_STORE = -3,   /* the store failed: kv_last_error() says how */
	KV_ERR_CORRUPT = -4  /* a stored value is not version | value */
};
/* A static string for a kv_err. Never NULL. */
const char *kv_strerror(int err);

struct kv_config {
	struct wire_kv_limits limits; /* key and value sizes (1 .. STORE_MAX_KEY-1 / STORE_MAX_VALUE) */
	int sync;                     /* each executed batch synced to disk before it counts */
	uint32_t version_slots;       /* kept versions: 0 (none) or a power of two >= KV_VER_WAYS */
};
/* Defaults: wire_kv_limits_default (1 KiB keys, 1 MiB values), sync on, KV_VER_SLOTS. */
void kv_config_default(struct kv_config *cfg);

/* Read-only GET results' digests kept for digest replies (kv_apply_ro): a direct-mapped
 * table by key, an entry dropped when its key is written or the state transferred. */
#define KV_DG_SLOTS 4096u
#define KV_DG_KEY_MAX 48u       /* longer keys' digests are not kept */
struct kv_dg_slot {
	uint8_t used, klen;
	uint8_t key[KV_DG_KEY_MAX];
	uint64_t version;
	uint32_t len;           /* the result's length */
	uint8_t digest[WIRE_DIGEST_LEN];
};

/* Keys' current versions, so that a PUT, CAS or DEL need not read the key's value (up
 * to STORE_MAX_VALUE bytes, from LevelDB once it has left the store's memory) only to
 * learn its version: the version in the executing state of keys of up to
 * KV_DG_KEY_MAX bytes, 0 for a key known absent, in sets of KV_VER_WAYS slots chosen
 * by the key's hash. A set's header holds a byte of each slot's key hash (0: empty),
 * so a lookup reads the header and only a slot whose byte matches; a new key takes
 * the set's slots in turn. Set by ordered execution, dropped whole when the state
 * changes otherwise (an aborted or failed batch, a state transfer). 64 bytes a slot
 * and 9 a set: kv_config.version_slots slots (8.1 MiB by default). */
#define KV_VER_SLOTS 131072u
#define KV_VER_WAYS 8u
struct kv_ver_set {
	uint8_t tag[KV_VER_WAYS]; /* per slot: a byte of the key's hash, never 0; 0 = empty */
	uint8_t next;             /* the slot a new key takes when none is empty */
};
struct kv_ver_slot {
	uint8_t klen;
	uint8_t key[KV_DG_KEY_MAX];
	uint64_t version;
};

struct kv_app {
	struct store *store;    /* borrowed: must outlive the app */
	struct kv_config cfg;
	struct kv_dg_slot *dg;  /* KV_DG_SLOTS */
	struct kv_ver_set *ver_set; /* cfg.version_slots / KV_VER_WAYS */
	struct kv_ver_slot *ver;    /* cfg.version_slots */
	uint64_t writes;        /* ordered PUT, CAS and DEL ops run (metrics) */
	uint64_t ver_hits;      /* those whose version came from ver, not the store */
	struct wire_buf val;    /* scratch: a stored value */
	struct wire_buf res;    /* scratch: one result */
	int err;                /* the last failure (kv_err), for kv_last_error */
	int store_err;          /* the store's code behind the last KV_ERR_STORE */
};

/* Caller-allocated kv; store borrowed, cfg copied (NULL = defaults). Pair with
 * kv_app_free. KV_ERR_ARG for limits outside the store's bounds. */
int kv_app_init(struct kv_app *kv, struct store *store, const struct kv_config *cfg);
void kv_app_free(struct kv_app *kv);

/* Fill ops (every member) with this app: ctx = kv, the store's tree shape, and
 * functions that return 0 or a kv_err. */
void kv_app_ops(struct kv_app *kv, struct pbft_app_ops *ops);

/* The last failure in words: for KV_ERR_STORE the store's message (a LevelDB error,
 * both digests of a failed transfer, ...), else kv_strerror(); "" when none. Borrowed. */
const char *kv_last_error(const struct kv_app *kv);

/* The batch whose ops ran through kv_apply ended: committed != 0 when its transaction
 * committed, else its writes are gone and so are the versions it left in kv->ver.
 * kv_app_ops' execute calls it; a caller running ops in its own transaction must. */
void kv_batch_end(struct kv_app *kv, int committed);

/* Execute one operation (op borrowed) and append its encoded result to out.
 * read_only != 0: against the committed state, write operations get BAD_OP;
 * otherwise inside the store's open transaction (store_txn_begin). Returns 0 (the
 * result says what happened) or a kv_err when the store failed. */
int kv_apply(struct kv_app *kv, struct wire_bytes op, int read_only, struct wire_buf *out);
/* kv_apply read-only, for a replica that answers with the result's digest when dg is
 * non-NULL (pbft_app_ops execute_ro): a GET's digest is given in dg, hashed once per
 * value of its key and then kept (KV_DG_SLOTS) until the key is written or the state is
 * transferred. Many agents polling one key cost one hash, not one each. */
int kv_apply_ro(struct kv_app *kv, struct wire_bytes op, struct wire_buf *out,
		struct pbft_ro_digest *dg);

#endif
