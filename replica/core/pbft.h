/* pbft.h: PBFT (Castro & Liskov) for one group of n = 3f+1 replicas, and its client,
 * as pure state machines: events in, an update (messages, durable records, a wake-up
 * time) out. No clock, no I/O, no allocation outside the structs here; crypto, the
 * application and its state come in through the ops tables below. */
#ifndef BULWARK_PBFT_H
#define BULWARK_PBFT_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

enum pbft_err {
	PBFT_OK = 0,
	PBFT_ERR_ARG = -1,      /* bad configuration or argument */
	PBFT_ERR_NOMEM = -2,
	PBFT_ERR_BUSY = -3,     /* client: a request is already outstanding */
	PBFT_ERR_APP = -4,      /* an app or store op failed (the replica must stop) */
	PBFT_ERR_RECORD = -5    /* a durable record given to pbft_restore is malformed */
};
const char *pbft_strerror(int err);

/* ---------------------------------------------------------------- injected ops */
/* Signing and verification. Replica message authentication (MACs on channels) is done
 * by the driver before a message reaches the core; signatures inside certificates
 * (CHECKPOINT, VIEW-CHANGE, NEW-VIEW) and client request authenticators are checked by
 * the core through these. */
struct pbft_crypto_ops {
	void *ctx;
	/* Sign with this replica's Ed25519 key. 0 on success. */
	int (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[WIRE_SIG_LEN]);
	/* 0 if sig is replica's signature over msg. */
	int (*verify)(void *ctx, uint32_t replica, const uint8_t *msg, size_t len,
		      const uint8_t sig[WIRE_SIG_LEN]);
	/* 0 if req's authenticator is valid for this replica (its MAC tag, or the client's
	 * signature in robust mode). digest is wire_request_digest(req). */
	int (*check_request)(void *ctx, const struct wire_request *req,
			     const uint8_t digest[WIRE_DIGEST_LEN]);
};

/* Per-request results of one executed batch, in batch order. */
struct pbft_results {
	struct wire_buf data;  /* results back to back */
	uint32_t *len;         /* len[i] of result i */
	uint32_t count, cap;
};
/* Append one result (copied). 0 or PBFT_ERR_NOMEM. */
int pbft_results_add(struct pbft_results *r, const void *data, uint32_t len);

/* What execute_ro may say of its result's digest. */
struct pbft_ro_digest {
	int known;                      /* digest is wire_result_digest of the result */
	uint8_t digest[WIRE_DIGEST_LEN];
};

/* The replicated application and its state (an in-memory map in the simulator, LevelDB
 * in bulwarkd). The state is digested as a partition tree: keys hash into
 * `partitions` leaves (a power of fanout); inner nodes at levels 0..levels-1 have
 * `fanout` children; the root digest (level 0, index 0) is the checkpoint digest. */
struct pbft_app_ops {
	void *ctx;
	uint32_t fanout;   /* children per inner node */
	uint32_t levels;   /* inner levels; partitions = fanout^levels */
	/* Execute committed batch seq (seq = last executed + 1), deterministically; append
	 * exactly one result per request. Called for every committed seq, null batches
	 * (count 0) included, with only the requests not executed before: the core removes
	 * each request whose timestamp is not above its client's (the client is the pair
	 * key, lane: wire_request) last executed one, as
	 * client_last reports it (and as earlier requests of the same batch raise it).
	 * Never for read-only requests.
	 * The client table is part of the replicated state: for each request it executes,
	 * in batch order, the app records (client, lane) -> (timestamp, result) in its state (a
	 * later request of the same client in the batch overwrites the earlier entry),
	 * in the same atomic write as the batch's effects and its new last executed seq,
	 * so that the table is covered by the checkpoint digest, copied by state transfer
	 * and never out of step with the effects after a crash. */
	int (*execute)(void *ctx, uint64_t seq, const struct wire_batch *batch,
		       struct pbft_results *results);
	/* The client table entry of (client, lane) (client borrowed) in the latest executed
	 * state: its
	 * last executed timestamp and that request's result, appended to reply (unless
	 * reply is NULL). 0 with *timestamp = 0 (nothing appended) if the client is
	 * unknown; non-zero only if the state cannot be read (the replica must stop).
	 * The core decides "already executed -> skip" and answers retransmissions from
	 * this, never from memory of its own; it caches answers (bounded by max_clients)
	 * only between state changes it makes itself, and drops the cache on state
	 * transfer. The table grows with distinct client keys, one small entry each. */
	int (*client_last)(void *ctx, const uint8_t client[WIRE_KEY_LEN], uint32_t lane,
			   uint64_t *timestamp, struct wire_buf *reply);
	/* Read-only request against the latest executed state; result appended. dg is
	 * non-NULL when this replica answers with the result's digest (digest replies,
	 * another replica named; results of WIRE_REPLY_DIGEST_MIN bytes or more): the app
	 * may then set dg->known and dg->digest = wire_result_digest(result) (a digest
	 * kept from an unchanged earlier result saves hashing it again); else the core
	 * hashes the result. */
	int (*execute_ro)(void *ctx, const struct wire_request *req, struct wire_buf *result,
			  struct pbft_ro_digest *dg);
	/* Digest of the state after executing seq; the app keeps that state readable (a
	 * snapshot) for state transfer until release(seq') with seq' > seq. Unless
	 * pbft_config.durable_async is set, the state at seq is on disk when it returns. */
	int (*checkpoint)(void *ctx, uint64_t seq, uint8_t digest[WIRE_DIGEST_LEN]);
	/* durable_async only (else may be NULL): put every executed change on disk now,
	 * before returning. Called on the rare paths that must make a checkpoint stable
	 * before the driver reported it durable (a NEW-VIEW moves the window past it). */
	int (*sync)(void *ctx);
	void (*release)(void *ctx, uint64_t below_seq);
	/* Serving state transfer from the snapshot at ckpt: children digests of an inner
	 * node (appended as digests), or one page (<= max_bytes, but at least one entry)
	 * of a partition's entries in ascending key order (bytewise, a proper prefix first)
	 * from start_key on, start_key included (appended with wire_put_data); *more set
	 * if entries remain. The fetching core continues after key k with k || 0x00. */
	int (*tree_node)(void *ctx, uint64_t ckpt, uint32_t level, uint64_t index,
			 struct wire_buf *children, uint32_t *count);
	int (*read_partition)(void *ctx, uint64_t ckpt, uint64_t partition,
			      struct wire_bytes start_key, uint32_t max_bytes,
			      struct wire_buf *entries, uint32_t *count, int *more);
	/* Fetching state: digest of a node of the live state (to skip equal subtrees);
	 * replace a partition's entries page by page (first = 1 clears it first);
	 * then finish: the app recomputes its root, returns 0 only if it equals digest,
	 * and from then on its state is the checkpoint's (last executed = ckpt), on disk
	 * when it returns (with durable_async too). After a
	 * successful finish the core calls checkpoint(ckpt) to keep a snapshot to serve.
	 * Inner node digests are ptree_node_hash (replica/core/ptree.h) of the children;
	 * the core checks every META against its parent and each copied partition with
	 * local_node(levels, p) against the digest its parent announced. */
	int (*local_node)(void *ctx, uint32_t level, uint64_t index, uint8_t digest[WIRE_DIGEST_LEN]);
	int (*write_partition)(void *ctx, uint64_t partition, int first, const struct wire_data *page);
	int (*finish_transfer)(void *ctx, uint64_t ckpt, const uint8_t digest[WIRE_DIGEST_LEN]);
};

/* Decisions as "condition -> action" lines (STYLE.md rule 7). Each line has a level:
 * INFO for what an operator should see (start, view changes, state transfers, rejected
 * NEW-VIEWs), DEBUG for the rest. A line below min_level is never formatted, nor is any
 * line while both callbacks are NULL. trace_level, when set, is called instead of trace
 * and is told the level. The zero value of min_level and trace_level sends every line
 * to trace. line is borrowed for the call. */
enum pbft_trace_level {
	PBFT_TRACE_DEBUG = 0,
	PBFT_TRACE_INFO = 1
};
struct pbft_tracer {
	void *ctx;
	void (*trace)(void *ctx, uint32_t replica, const char *line);
	void (*trace_level)(void *ctx, uint32_t replica, enum pbft_trace_level level,
			    const char *line);
	enum pbft_trace_level min_level;
};

/* ---------------------------------------------------------------- configuration */
/* pbft_new checks: f >= 1, n = 3f+1 <= min(64, limits->max_replicas), id < n, K >= 1,
 * L a multiple of K with 2L <= limits->max_log (P and Q of a VIEW-CHANGE),
 * 1 <= batch_max_requests <= 65535,
 * batch_max_requests <= max_clients, non-zero timeouts, every op set, fanout >= 2,
 * levels >= 1, fanout^levels <= 2^24. */
struct pbft_config {
	uint32_t n, f, id;              /* n = 3f+1, 0 <= id < n */
	uint64_t group, epoch;
	uint32_t checkpoint_interval;   /* K */
	uint32_t log_window;            /* L: high watermark = low + L; multiple of K */
	uint32_t batch_max_requests;
	uint32_t batch_max_bytes;       /* a REQUEST larger than this (encoded as in a
					 * batch) can never be proposed: refused on arrival */
	uint32_t pipeline;              /* max sequence numbers pre-prepared and not executed */
	uint64_t view_change_timeout_ms;/* doubles per failed view */
	uint64_t max_clock_skew_ms;     /* backups refuse pre-prepares outside this */
	uint64_t status_interval_ms;    /* STATUS broadcast for retransmission */
	uint32_t max_clients;           /* bound of the in-memory cache of the app's client
					 * table (least recently used evicted; a cache only)
					 * and of the pending-request queue */
	const struct wire_limits *limits; /* NULL = wire_limits_default */
	int state_incomplete;           /* 1: the app's state is mid-transfer (a state
					 * transfer was interrupted by a crash): the core
					 * executes nothing, reads nothing from the app's state
					 * and serves no FETCH until it has fetched a proven
					 * stable checkpoint (its own last stable one, or a
					 * newer one its peers prove) and finish_transfer
					 * succeeded. last_executed given to pbft_new is then
					 * only a hint. */
	int votes_uncertain;            /* 1: records written without a sync before the
					 * stop may be lost (the machine went down, not just
					 * the process): pre-prepare records are not synced
					 * (prepared certificates, views and checkpoints are),
					 * so this replica may have sent PREPAREs, or as
					 * primary PRE-PREPAREs, that it no longer remembers.
					 * It then sends neither in any view up to the last one
					 * it may have voted in (the restored view, or the one
					 * before if it was changing views), so it can never
					 * vote twice in one view; it still commits, executes
					 * and catches up. The driver keeps passing 1 at every
					 * restart until pbft_status.votes_uncertain is 0. */
	int durable_async;              /* 0: app.checkpoint(seq) puts the state at seq
					 * on disk before it returns. 1: it need not; the
					 * driver makes it durable off the loop (a background
					 * sync) and says so with PBFT_EV_DURABLE. Either way
					 * a checkpoint becomes stable (window moved, records
					 * below it dropped) only once this replica's own
					 * state at it is durable, so that the stable record
					 * needs no sync of its own: a crash keeps either the
					 * state at it or the records it replaces. The state
					 * given to pbft_new counts as durable (bulwarkd's
					 * store syncs its session record first). */
	int idle_verify;                /* 1: CHECKPOINT signatures are checked when the
					 * driver has nothing else to do (PBFT_EV_IDLE, one
					 * signature per step, asked by pbft_update.idle), and
					 * only those a quorum needs: at a checkpoint the
					 * 2f signature checks every replica makes do not all
					 * land on the request that follows. 0: each is
					 * checked on arrival. */
	int batch_on_flush;             /* 1: the primary proposes only on PBFT_EV_FLUSH
					 * (the driver's end of a loop turn), so a batch holds
					 * every request that arrived in the turn; 0: after
					 * every event (TICK and FLUSH too), as soon as the
					 * pipeline has room */
	struct pbft_crypto_ops crypto;
	struct pbft_app_ops app;
	struct pbft_tracer tracer;      /* trace may be NULL */
};

/* ---------------------------------------------------------------- events */
enum pbft_event_type {
	PBFT_EV_MESSAGE,  /* msg decoded and channel-authenticated by the driver */
	PBFT_EV_TICK,     /* time passed (timers are checked against now) */
	PBFT_EV_FLUSH,    /* the driver is about to persist and send this turn's effects:
			   * the primary proposes what waits (see batch_on_flush); also
			   * a tick */
	PBFT_EV_DURABLE,  /* durable_async: the app's state as of executed seq `durable`
			   * (and everything written before it) is on disk; a checkpoint
			   * proven meanwhile becomes stable. Also a tick. */
	PBFT_EV_IDLE      /* idle_verify: the driver has no other event ready; the core
			   * checks one waiting CHECKPOINT signature. Also a tick. */
};
/* `from` is the authenticated channel peer. Unsigned replica messages (PRE-PREPARE,
 * PREPARE, COMMIT, STATUS, FETCH, META, DATA) count only if hdr.sender == from; signed
 * ones (CHECKPOINT, VIEW-CHANGE, NEW-VIEW) may be relayed by any replica (the core checks
 * the signature of hdr.sender). A PRE-PREPARE from a replica other than the view's
 * primary only supplies a batch, executed once 2f+1 COMMITs for its digest arrive. */
struct pbft_event {
	enum pbft_event_type type;
	uint64_t now;           /* monotonic ms */
	uint64_t wall;          /* wall clock ms since the Unix epoch (pre-prepare times) */
	const struct wire_msg *msg; /* PBFT_EV_MESSAGE: borrowed for the call */
	uint32_t from;          /* authenticated sender: replica id or WIRE_SENDER_CLIENT */
	const uint8_t *from_client; /* client key when from == WIRE_SENDER_CLIENT; if not
				     * NULL a REQUEST must carry the same key */
	/* Optional, for a PRE-PREPARE: the digests of its batch's requests as
	 * wire_decode_digests kept them (borrowed for the call), so that checking their
	 * authenticators hashes nothing again. Used only when nreq_digests equals the
	 * batch's count; NULL / 0: the core computes them. */
	const uint8_t (*req_digests)[WIRE_DIGEST_LEN];
	uint32_t nreq_digests;
	uint64_t durable;       /* PBFT_EV_DURABLE: at most the last executed seq */
};

/* ---------------------------------------------------------------- the update */
enum pbft_dest {
	PBFT_DEST_REPLICA,  /* out.replica */
	PBFT_DEST_OTHERS,   /* every replica but this one (from a client: every replica) */
	PBFT_DEST_CLIENT    /* out.client */
};
struct pbft_out {
	enum pbft_dest dest;
	uint32_t replica;
	uint8_t client[WIRE_KEY_LEN];
	size_t off, len;    /* the encoded message in update.msgs */
};
/* A durable record: put (kind, key) -> value, or delete every record of kind with
 * key < value_key when del_below is set. Written in order, before any message. */
struct pbft_record {
	uint8_t kind;
	uint8_t del_below;
	uint64_t key;
	size_t off, len;    /* value in update.recs */
};
struct pbft_update {
	struct wire_buf msgs;
	struct pbft_out *out;
	size_t nout, capout;
	struct wire_buf recs;
	struct pbft_record *rec;
	size_t nrec, caprec;
	int again;          /* the core holds back executing a batch until these records
			     * are persisted: step it again (FLUSH with batch_on_flush, else
			     * TICK) as soon as they are, without waiting for an event */
	int sync;           /* records must be synced to disk before sending: set by
			     * prepared certificates and views. Other records (pre-prepares,
			     * stable checkpoints) need only reach the OS before the
			     * messages leave (a process crash keeps them); a later sync
			     * makes them durable too, as the store keeps write order. */
	uint64_t deadline;  /* earliest `now` at which the core wants a TICK; 0 = none.
			     * Each step sets it anew (it is not a running minimum). */
	int idle;           /* idle_verify: work waits for PBFT_EV_IDLE steps (set anew
			     * by each step) */
};
/* Record kinds and value layouts are internal to the core (replica/core/pbft_int.h);
 * the driver stores (kind, key) -> value and hands all of them back to pbft_new. */
void pbft_update_init(struct pbft_update *u);
void pbft_update_reset(struct pbft_update *u); /* empty, keeps memory */
void pbft_update_free(struct pbft_update *u);

/* ---------------------------------------------------------------- the replica */
struct pbft;  /* opaque; see replica/core/pbft_int.h */

/* Create a replica from cfg (copied). records (nrec, borrowed) are the durable records
 * this replica persisted before it stopped (none on first start); last_executed is the
 * app's last executed seq. *out owned by the caller, freed with pbft_free. */
int pbft_new(const struct pbft_config *cfg, const struct pbft_record *records,
	     const uint8_t *rec_bytes, size_t nrec, uint64_t last_executed, uint64_t now,
	     struct pbft **out);
void pbft_free(struct pbft *r);

/* Turns. The driver persists an update's records before it sends the update's messages
 * and before it steps the core with an event of a later turn. Without batch_on_flush
 * every step is a turn; with it a turn ends with the PBFT_EV_FLUSH step. The app's
 * execute writes happen during a step, so they are ordered after every record of the
 * earlier turns (the core relies on that: see pbft_update.again).
 *
 * The one step function: apply ev, append what to send / persist to up. Returns 0, or
 * PBFT_ERR_NOMEM / PBFT_ERR_APP (an app, crypto.sign op failed: stop the replica).
 * Invalid messages are never errors: they are dropped and counted. */
int pbft_step(struct pbft *r, const struct pbft_event *ev, struct pbft_update *up);

/* Read-only view of the replica for status, metrics, tests and invariants. */
struct pbft_status {
	uint64_t view;
	int view_active;          /* 0 while a view change is in progress */
	uint32_t primary;
	uint64_t low_watermark;   /* last stable checkpoint */
	uint8_t stable_digest[WIRE_DIGEST_LEN]; /* its state digest (zeros while none) */
	uint64_t durable;         /* executed state known to be on disk up to this seq */
	uint64_t stable_waiting;  /* a proven checkpoint waiting for its state to be
				   * durable here, 0 if none */
	uint64_t last_executed;
	uint64_t last_committed;
	uint64_t last_proposed;   /* primary only */
	int transferring;         /* state transfer in progress (or awaited: state_incomplete) */
	int votes_uncertain;      /* started with votes_uncertain and still in a view it may
				   * have voted in (sends no PREPARE/PRE-PREPARE there) */
	uint64_t dropped;         /* messages dropped as invalid, stale or unauthenticated */
	size_t memory;            /* bytes held by the log, caches and queues (O(1) to read) */
};
void pbft_get_status(const struct pbft *r, struct pbft_status *st);

/* ---------------------------------------------------------------- the client */
/* The client side as a pure state machine too: one outstanding request; accepts f+1
 * matching replies (2f+1 for read-only, retried as ordered on mismatch or timeout);
 * retransmits to all replicas on timeout; follows the view in replies. Ordered requests
 * go to the believed primary (dest REPLICA), read-only ones and retransmissions to
 * every replica (dest OTHERS). Replies match on timestamp, flags and result bytes from
 * distinct replicas; the view followed is the lowest among the matching replies. */
struct pbft_client_auth_ops {
	void *ctx;
	/* Append the authenticator for a request digest: n MAC tags or one signature. */
	int (*authenticate)(void *ctx, const uint8_t digest[WIRE_DIGEST_LEN], struct wire_buf *auth);
};
struct pbft_client_config {
	uint32_t n, f;
	uint64_t group, epoch;
	uint8_t key[WIRE_KEY_LEN];      /* this client's public key */
	uint32_t lane;                  /* its lane: requests carry it, replies must match */
	uint64_t timeout_ms;            /* retransmission timeout, doubles up to 8x */
	uint64_t first_timestamp;       /* above any timestamp used before (e.g. wall clock us) */
	int read_quorum_2f1;            /* 1: read-only needs 2f+1 matching (default) */
	int digest_replies;             /* 1: read-only requests ask for digest replies, the
					 * full result from one replica (chosen by key and
					 * lane, the next after one fails to deliver it) */
	const struct wire_limits *limits;
	struct pbft_client_auth_ops auth;
};
struct pbft_client;

int pbft_client_new(const struct pbft_client_config *cfg, struct pbft_client **out);
void pbft_client_free(struct pbft_client *c);
/* Start a request (op copied); messages appear in up. PBFT_ERR_BUSY if one is open. */
int pbft_client_invoke(struct pbft_client *c, uint64_t now, const uint8_t *op, size_t len,
		       int read_only, struct pbft_update *up);
/* A reply from a replica or a tick. Returns 1 when the outstanding request completed
 * (the result is then readable with pbft_client_result), 0 otherwise, < 0 on error. */
int pbft_client_step(struct pbft_client *c, const struct pbft_event *ev, struct pbft_update *up);
/* The accepted result (borrowed until the next invoke) and its timestamp. */
struct wire_bytes pbft_client_result(const struct pbft_client *c, uint64_t *timestamp);
/* The timestamp of the newest request c has put in an update (0: none yet). */
uint64_t pbft_client_last_timestamp(const struct pbft_client *c);

#endif
