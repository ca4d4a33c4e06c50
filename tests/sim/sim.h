/* sim.h: bulwark-sim, the deterministic discrete-event simulator that drives the real
 * PBFT core and clients over a simulated network, clock and disk (STYLE.md rule 6). */
#ifndef BULWARK_SIM_H
#define BULWARK_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "replica/core/pbft.h"
#include "replica/core/ptree.h"
#include "wire/wire.h"

#define SIM_MAX_N 7u         /* replicas (f <= 2) */
#define SIM_MAX_CLIENTS 64u
#define SIM_FANOUT 16u       /* partition tree of the app: 16 x 2 levels = 256 partitions */
#define SIM_LEVELS 2u
#define SIM_PARTS (SIM_FANOUT * SIM_FANOUT)
#define SIM_GROUP 7u
#define SIM_EPOCH 1u
#define SIM_WALL_BASE 1767225600000ull /* 2026-01-01 in ms: wall clock at simulated time 0 */

/* ---------------------------------------------------------------- rng.c */
/* xoshiro256** seeded through splitmix64: the one source of randomness of a run. */
struct sim_rng {
	uint64_t s[4];
};
void sim_rng_seed(struct sim_rng *g, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *g);
uint64_t sim_rng_below(struct sim_rng *g, uint64_t n); /* uniform in [0, n), n > 0 */
int sim_rng_chance(struct sim_rng *g, double p);       /* 1 with probability p */

/* ---------------------------------------------------------------- queue.c */
enum sim_ev_type {
	SIM_EV_DELIVER,      /* bytes to a replica or a client */
	SIM_EV_TICK,         /* a replica's requested wake-up */
	SIM_EV_CLIENT_TICK,  /* a client's requested wake-up */
	SIM_EV_CLIENT_START, /* a client invokes its next request */
	SIM_EV_CRASH,        /* from: enum sim_crash_mode */
	SIM_EV_REVIVE,
	SIM_EV_PARTITION,    /* apply the scenario's partition */
	SIM_EV_HEAL,
	SIM_EV_BYZ,          /* a faulty replica's own timer (flood, replay, garbage) */
	SIM_EV_FLUSH,        /* the end of a replica's loop turn (batch_on_flush) */
	SIM_EV_DURABLE,      /* a replica's background state sync completes (durable_async) */
	SIM_EV_IDLE          /* a replica's loop has nothing else to do (idle_verify) */
};

struct sim_event {
	uint64_t time;
	uint64_t seq;          /* insertion order: ties broken by it */
	enum sim_ev_type type;
	uint32_t node;         /* replica or client index */
	int to_client;         /* DELIVER: node is a client */
	uint32_t from;         /* DELIVER: sending replica, or client index */
	int from_client;
	uint32_t incarnation;  /* TICK, BYZ, FLUSH: replica incarnation it was armed in */
	struct sim_event *next_free;
	size_t cap;            /* bytes allocated for data */
	size_t len;
	uint8_t data[];        /* DELIVER: the encoded message */
};

#define SIM_EVENT_SMALL 320u /* events with at most this much data are recycled */
struct sim_queue {
	struct sim_event **heap;
	size_t n, cap;
	uint64_t next_seq;
	struct sim_event *free_small; /* recycled events (most messages are small) */
};
void sim_queue_init(struct sim_queue *q);
void sim_queue_free(struct sim_queue *q); /* frees queued and recycled events */
/* An event (header zeroed) with room for len data bytes, owned by the caller; NULL if
 * out of memory. */
struct sim_event *sim_event_new(struct sim_queue *q, size_t len);
/* Give a popped event back (recycled or freed). */
void sim_event_release(struct sim_queue *q, struct sim_event *ev);
/* Ownership of ev passes to the queue (also on failure, where it is released): 0 or -1. */
int sim_queue_push(struct sim_queue *q, struct sim_event *ev);
/* The earliest event (owned by the caller), NULL when empty. */
struct sim_event *sim_queue_pop(struct sim_queue *q);

/* ---------------------------------------------------------------- app.c */
/* The replicated application: an in-memory key-value map digested by a partition tree,
 * with copy-on-write checkpoint snapshots. Op encoding (first byte):
 *   'P' u8 klen key value   PUT      -> "OK"
 *   'D' u8 klen key         DELETE   -> "OK"
 *   'I' u8 klen key         INCREMENT (value as u64 LE, absent = 0) -> new value, 8 bytes
 *   'G' u8 klen key         GET (ordered or read-only) -> 0x01 value, or 0x00 if absent
 * Anything else -> "EBADOP"; a non-GET read-only request -> "ERDONLY". The client table
 * is in the state (key 0x01 'c' client[32] lane[4] -> timestamp u64 LE || result), read by the
 * core through client_last; a request at or below it (the core must never pass one)
 * gets "EDUP" without effect. The time of the last batch is under key 0x01 't'.
 *
 * Durability as in bulwarkd's LevelDB: executed batches and transfer pages are written
 * without a sync, in one write order with the replica's records (cluster.c), so that a
 * crash of the machine leaves a prefix of that order: at least everything up to the
 * last sync (a synced record update, or finish_transfer), perhaps some writes after it.
 * The app keeps the state of the last sync (durable) and, when the disk model picked
 * one, the state after a later write (cut); a process crash keeps everything. Checkpoint
 * snapshots are in memory (LevelDB snapshots) and vanish with any crash. */
#define SIM_MAX_RESULT 64u
/* A read-only GET answers the ordered GET's result, padding, and that result's length
 * (a byte, last): at least this long, so that digest replies carry it (app.c). */
#define SIM_RO_RESULT 48u

struct sim_kv {
	uint32_t klen, vlen;
	uint8_t *k, *v;        /* one allocation: k then v */
};
struct sim_part {
	uint32_t refs;         /* live state and snapshots share partitions */
	uint32_t n, cap;
	struct sim_kv *e;      /* sorted by key */
};
struct sim_snap {
	uint64_t seq;
	struct sim_part *part[SIM_PARTS];
	struct ptree tree;
};

/* The app's state as of one point in its write order (partitions shared, copy on write). */
struct sim_app_image {
	struct sim_part *part[SIM_PARTS];
	uint64_t last_executed;
	int transfer_pending;
};

struct sim;
struct sim_app {
	struct sim *sim;
	uint32_t id;
	struct sim_part *part[SIM_PARTS];  /* live state */
	struct ptree tree;
	uint64_t last_executed;
	int transfer_pending;              /* a page was written, finish_transfer not yet
					    * done: the state is incomplete (bulwarkd's
					    * store_transfer_pending) */
	struct sim_snap *snap;
	uint32_t nsnap, capsnap;
	uint64_t transfers;                /* finished state transfers */
	int defer;                         /* bulwarkd's store_config.defer_writes: executed
					    * batches are written at the next checkpoint
					    * (a state transfer flushes first too) */
	struct sim_app_image written;      /* as of the app's last write to the store:
					    * what a process crash keeps */
	struct sim_app_image durable;      /* as of the last sync */
	struct sim_app_image cut;          /* as of the write a machine crash stops at */
	int have_cut;
	int async;                         /* pbft_config.durable_async: checkpoints are
					    * made durable by a background sync
					    * (sim_replica_sync_later), not at once */
	struct sim_app_image syncing;      /* as of the start of the background sync */
	uint64_t syncs;                    /* syncs so far (sim_app_synced) */
	uint64_t syncing_from;             /* syncs when the background one started */
};
int sim_app_init(struct sim_app *a, struct sim *s, uint32_t id);
void sim_app_free(struct sim_app *a);
/* A sync made the written state durable (the cut is forgotten). */
void sim_app_synced(struct sim_app *a);
/* A machine crash now would keep the written state (and nothing written later). */
void sim_app_take_cut(struct sim_app *a);
/* A background sync starts: it will make the state written so far durable. */
void sim_app_sync_begin(struct sim_app *a);
/* It completed (on the app's own file): durable becomes the state as of its start,
 * unless another sync since made more durable. *seq: the executed seq that state is
 * at; returns 0 if that state was mid-transfer (nothing to report). */
int sim_app_sync_end(struct sim_app *a, uint64_t *seq);
/* How much of the app's writes a crash keeps. */
enum sim_app_keep {
	SIM_APP_KEEP_ALL,     /* process crash, or every unsynced write reached the disk:
			       * what the app wrote (deferred executions are lost) */
	SIM_APP_KEEP_CUT,     /* the writes up to the cut */
	SIM_APP_KEEP_DURABLE  /* only what the last sync made durable */
};
/* The replica crashed: snapshots vanish and the live state becomes what keep says (the
 * kept state is durable from now on). 0, or -1 if out of memory. */
int sim_app_crash(struct sim_app *a, enum sim_app_keep keep);
/* Fill ops with this app's callbacks (ctx = a). */
void sim_app_ops(struct sim_app *a, struct pbft_app_ops *ops);
/* Live root digest (recomputed if dirty). */
int sim_app_root(struct sim_app *a, uint8_t out[WIRE_DIGEST_LEN]);

/* The keys clients use (at most SIM_MAX_KEYS, each shorter than 16 bytes). */
#define SIM_MAX_KEYS 16u
extern const char *const sim_key_names[SIM_MAX_KEYS];
/* Index of key in sim_key_names, or -1. */
int sim_key_index(const uint8_t *key, size_t len);

/* Build ops for clients into buf (room for 2 + strlen(key) + vlen, key <= 255 bytes);
 * return the op's length. */
size_t sim_op_put(uint8_t *buf, const char *key, const uint8_t *val, size_t vlen);
size_t sim_op_key(uint8_t *buf, uint8_t code, const char *key);

/* ---------------------------------------------------------------- keys */
/* Keys of a run, made once per process from fixed seeds (real Ed25519 and HMAC). */
struct sim_keys {
	struct crypto_ed25519_key replica[SIM_MAX_N];
	struct crypto_ed25519_key client[SIM_MAX_CLIENTS];
	struct crypto_hmac mac[SIM_MAX_CLIENTS][SIM_MAX_N]; /* per (client, replica) */
};
int sim_keys_init(struct sim_keys *k);
void sim_keys_free(struct sim_keys *k);

/* ---------------------------------------------------------------- byz.c */
enum sim_byz_kind {
	SIM_BYZ_EQUIVOCATE = 1u << 0, /* as primary: different batches to different backups */
	SIM_BYZ_CENSOR = 1u << 1,     /* as primary: drop some clients' requests */
	SIM_BYZ_STALL = 1u << 2,      /* as primary: send no PRE-PREPARE or NEW-VIEW */
	SIM_BYZ_DIGEST = 1u << 3,     /* wrong digests in PREPARE, COMMIT, CHECKPOINT */
	SIM_BYZ_GARBAGE = 1u << 4,    /* random bytes, bit flips, truncations */
	SIM_BYZ_FORGE_VC = 1u << 5,   /* VIEW-CHANGE with forged P items and proofs */
	SIM_BYZ_REPLAY = 1u << 6,     /* resend its own messages from old views */
	SIM_BYZ_FLOOD = 1u << 7,      /* PRE-PREPARE/PREPARE far above the watermark */
	SIM_BYZ_CLOCK = 1u << 8       /* as primary: batch times far outside the allowed skew */
};
const char *sim_byz_name(uint32_t kinds);

#define SIM_REPLAY_SLOTS 48u
struct sim_byz {
	uint32_t kinds;
	uint64_t censored_clients;         /* bit c: client c's requests are dropped */
	struct {
		uint32_t to;
		size_t len;
		uint8_t *data;
	} replay[SIM_REPLAY_SLOTS];         /* its own past messages, to resend later */
	uint32_t nreplay;
	uint64_t mutated, injected;        /* counters for the summary */
};

/* ---------------------------------------------------------------- the world */
struct sim_store_rec {
	uint8_t kind;
	uint64_t key;
	size_t len;
	uint8_t *val;
};
/* A record write not yet synced: in the OS page cache, lost if the machine crashes. */
struct sim_store_op {
	uint8_t kind, del_below;
	uint64_t key;
	uint32_t write;        /* the unsynced write it belongs to (1 = first after the sync) */
	size_t len;
	uint8_t *val;
};
/* What a replica persisted: records by (kind, key), exactly as the core asked, in one
 * write order with its app's writes, like bulwarkd's one LevelDB database. An update's
 * records are one atomic write, an executed batch or a transfer page another. A synced
 * write is durable at once together with every earlier write (LevelDB keeps write
 * order); other record writes wait in the journal. A machine crash keeps the first
 * `cut` unsynced writes (drawn at each sync: 0 often, else a few) and loses the rest. */
struct sim_store {
	struct sim_store_rec *r;
	size_t n, cap;
	struct sim_store_op *j;
	size_t nj, capj;
	uint32_t writes;       /* unsynced writes so far (records and app; records only
				* when split) */
	uint32_t cut;          /* a machine crash keeps writes 1..cut */
	struct sim_rng rng;    /* draws cut; the replica's own, apart from the network's */
	/* split (sim_params.split_disk): bulwarkd as built, the records log and LevelDB two
	 * files with a write order and syncs each. A records sync makes no app write
	 * durable nor an app sync (checkpoint, finish_transfer, session record) a record,
	 * and a machine crash keeps a prefix of each, drawn apart. */
	int split;
	uint32_t app_writes;   /* unsynced app writes so far */
	uint32_t app_cut;      /* a machine crash keeps app writes 1..app_cut */
};

/* How a replica crashes: the process dies (unsynced writes survive in the page cache),
 * the machine dies (all but a prefix of them are lost, and the replica restarts with
 * votes_uncertain), or the process dies right after persisting a loop turn's update
 * and before sending its messages. Any crash loses the open turn's effects. */
enum sim_crash_mode {
	SIM_CRASH_PROCESS = 0,
	SIM_CRASH_MACHINE = 1,
	SIM_CRASH_TORN = 2
};

/* What a correct replica voted: (view, seq) -> digest of every PREPARE, and as primary
 * every PRE-PREPARE and NEW-VIEW decision, it sent in any incarnation, above its low
 * watermark. Sorted by (seq, view). */
struct sim_vote {
	uint64_t seq, view;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint8_t type;           /* the message that carried it first (WIRE_*) */
	uint32_t incarnation;
};
struct sim_votes {
	struct sim_vote *v;
	size_t n, cap;
};

struct sim_replica {
	struct sim *sim;
	uint32_t id;
	struct pbft *core;      /* NULL while crashed */
	uint32_t incarnation;
	struct sim_store store;
	struct sim_app app;     /* writes without a sync, like bulwarkd's (see app.c above) */
	int batch_on_flush;     /* pbft_config.batch_on_flush: loop turns end in a FLUSH */
	struct pbft_update up;  /* the effects of the open loop turn */
	int turn_open;          /* batch_on_flush: a FLUSH is scheduled for this turn */
	int votes_lost;         /* bulwarkd's session flag (synced): a machine crash may
				 * have lost votes, and the core has not yet said it is
				 * past their views: votes_uncertain at every start */
	struct sim_votes votes;
	int64_t skew_ms;        /* wall clock skew */
	uint64_t tick_at;       /* time of the latest TICK armed (0 none) */
	int faulty;             /* Byzantine: excluded from the invariants */
	struct sim_byz byz;
	size_t max_memory;
	uint64_t steps;
	uint64_t crashes;
	int torn;               /* crash after persisting the next update, before sending */
	struct sim_rng sync_rng; /* durable_async: the background sync's durations */
	int sync_busy;          /* a background sync runs (SIM_EV_DURABLE pending) */
	int sync_again;         /* another checkpoint asked for one meanwhile */
	int idle_verify;        /* pbft_config.idle_verify */
	int idle_armed;         /* a SIM_EV_IDLE is pending */
};

struct sim_client {
	uint32_t idx;
	struct pbft_client *pc;
	struct sim *sim;
	int busy;
	int parked;             /* not invoking: the workload is over (for now) */
	int read_only;
	uint64_t started;       /* sim time the current request was invoked */
	uint64_t tick_at;
	uint64_t done, done_ro;
	uint8_t op[64];
	size_t oplen;
	/* sim_params.byz_client: this client is Byzantine (byzclient.c), pc is NULL */
	int byz;
	uint64_t byz_ts;        /* its latest timestamp */
	struct wire_buf byz_last; /* its last valid request, encoded (replayed) */
	struct wire_buf byz_out, byz_auth, byz_big; /* scratch */
};

/* A request a correct replica executed (first execution) and who executed it. */
struct sim_exec_rec {
	uint64_t ts;
	uint64_t seq;
	uint64_t replicas;      /* bit per correct replica that executed it */
	uint32_t rlen;
	uint8_t result[SIM_MAX_RESULT];
};
struct sim_client_hist {
	struct sim_exec_rec *r; /* sorted by ts */
	size_t n, cap;
	uint64_t *accepted;     /* ordered timestamps the client accepted */
	size_t nacc, capacc;
	uint64_t issued_max;    /* highest timestamp the client has sent */
};

/* Every value a key has held after a correct execution (absence included), for
 * checking read-only answers; the initial absence is implied. */
#define SIM_MAX_VALUE 16u
struct sim_keyval {
	uint8_t present, len;
	uint8_t v[SIM_MAX_VALUE];
};
struct sim_keyhist {
	struct sim_keyval *v;
	size_t n, cap;
};

/* Global seq -> first correct execution (batch digest), a sliding window. */
struct sim_seqmap {
	uint64_t base;          /* seq of slot 0 */
	size_t cap;
	uint8_t *set;
	uint8_t (*digest)[WIRE_DIGEST_LEN];
	uint32_t *who;
};

struct sim_scenario;

struct sim_params {
	uint32_t n, f, clients;
	int robust;                  /* clients sign requests (Ed25519) */
	uint32_t checkpoint_interval, log_window, batch_max_requests, batch_max_bytes, pipeline;
	uint64_t vc_timeout_ms, status_ms, client_timeout_ms, max_skew_ms;
	uint32_t max_clients;
	/* network */
	uint32_t delay_ms, jitter_ms;
	double loss, dup;
	/* workload */
	uint64_t issue_until_ms;     /* clients start no request after this */
	uint64_t think_ms;
	double ro_fraction;
	uint32_t nkeys;
	/* faults */
	uint64_t heal_at_ms;         /* network healed and faults over from here on */
	uint64_t liveness_ms;        /* a request completes within this after heal */
	uint64_t drain_ms;           /* after issue_until: every correct replica reaches the
				      * highest seq executed then, within this (under load) */
	int need_transfer;           /* the run must see a state transfer */
	int batch_on_flush;          /* 0: no replica, 1: every replica, 2: each replica at
				      * random (seeded), proposes on PBFT_EV_FLUSH */
	int defer_writes;            /* 0: no replica, 1: every replica, 2: each at random
				      * (seeded), writes executed batches at checkpoints */
	int no_vcache;               /* verify every signature for real (--bench) */
	int digest_replies;          /* clients ask read-only requests for digest replies */
	int split_disk;              /* records log and app state are two files (sim_store) */
	int durable_async;           /* 0: no replica, 1: every replica, 2: each at random
				      * (seeded), makes checkpoints durable in the background
				      * and reports it with PBFT_EV_DURABLE */
	int idle_verify;             /* 0/1/2 likewise: CHECKPOINT signatures checked in
				      * PBFT_EV_IDLE steps, 0-2 ms after a turn asks */
	int byz_client;              /* the last client is Byzantine (byzclient.c) */
};

/* Ed25519 verification is deterministic, and every replica verifies the same signed
 * CHECKPOINT, VIEW-CHANGE and client signature: a run verifies each distinct (key,
 * message, signature) for real once and remembers the outcome. Off in --bench. */
#define SIM_VCACHE_SLOTS 2048u
struct sim_vcache {
	uint8_t key[CRYPTO_HASH_LEN]; /* SHA-256(public key || signature || message) */
	uint8_t used, ok;
};

struct sim {
	const struct sim_scenario *sc;
	uint64_t seed;
	int verbose;
	struct sim_params p;
	struct sim_rng rng;
	struct sim_queue q;
	uint64_t now;
	const struct sim_keys *keys;
	struct wire_limits limits;

	int16_t client_slot[2 * SIM_MAX_CLIENTS]; /* client key -> index + 1, linear probing */
	struct sim_replica rep[SIM_MAX_N];
	struct sim_client cl[SIM_MAX_CLIENTS];
	struct sim_client_hist hist[SIM_MAX_CLIENTS];
	struct sim_keyhist keyhist[SIM_MAX_KEYS];
	struct sim_seqmap execmap;
	struct sim_seqmap ckptmap;

	/* network */
	int partitioned;
	uint8_t side[SIM_MAX_N];     /* partition label per replica */
	uint8_t pending_side[SIM_MAX_N];

	struct pbft_update up;       /* scratch for every client step */
	struct wire_buf scratch;     /* re-encoding by the Byzantine mutators */

	int drain_load;              /* draining: clients keep the group busy until caught up */

	/* outcome */
	int failed;
	char why[512];
	uint64_t accepted, accepted_ro, executed_batches, msgs, dropped_net, dropped_decode;
	uint64_t view_max;
	uint64_t signs, verifies;    /* Ed25519 operations of the replicas */
	uint64_t verify_hits;        /* verifications answered by the cache */
	struct sim_vcache *vcache;   /* SIM_VCACHE_SLOTS, owned */
	size_t memory_bound;
};

/* cluster.c */
int sim_init(struct sim *s, const struct sim_scenario *sc, const struct sim_params *p,
	     const struct sim_keys *keys, uint64_t seed, int verbose);
void sim_free(struct sim *s);
/* Run to completion: 0 if every invariant held, -1 with s->why otherwise. */
int sim_run(struct sim *s);
void sim_fail(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_log(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sim_schedule(struct sim *s, uint64_t at, enum sim_ev_type type, uint32_t node);
int sim_schedule_crash(struct sim *s, uint64_t at, uint32_t replica, enum sim_crash_mode mode);
/* The app of replica wrote without a sync (an executed batch, a transfer page), or with
 * one (finish_transfer): where it falls in the replica's write order. */
void sim_replica_app_wrote(struct sim *s, uint32_t replica);
void sim_replica_sync(struct sim *s, uint32_t replica);
/* 1 if replica's records log and app state are two files (sim_params.split_disk). */
int sim_replica_split_disk(const struct sim *s, uint32_t replica);
/* durable_async: start a background sync of replica's app state (bulwarkd's syncer
 * thread), or ask for another once the running one completes. */
void sim_replica_sync_later(struct sim *s, uint32_t replica);
/* Send bytes (copied) over the simulated network, applying loss, delay, duplication. */
void sim_net_send(struct sim *s, int from_client, uint32_t from, int to_client, uint32_t to,
		  const uint8_t *p, size_t len);
uint64_t sim_wall(const struct sim *s, uint32_t replica);
/* Clients share keys: client c is lane c % SIM_LANES of key c / SIM_LANES, so lanes of
 * one key (one session with each replica) are exercised everywhere. */
#define SIM_LANES 2u
/* The client (index) that is lane of key, or -1. */
int sim_client_index(const struct sim *s, const uint8_t key[WIRE_KEY_LEN], uint32_t lane);
/* Client c's key pair. */
const struct crypto_ed25519_key *sim_client_key(const struct sim *s, uint32_t c);

/* byz.c: a faulty replica's outgoing message to one destination: send it, changed, not
 * at all, or with extra messages. in_filter: 1 if an incoming message must be dropped. */
void sim_byz_send(struct sim *s, struct sim_replica *r, int to_client, uint32_t to,
		  const uint8_t *p, size_t len);
int sim_byz_in_filter(struct sim *s, struct sim_replica *r, const struct wire_msg *m);
void sim_byz_timer(struct sim *s, struct sim_replica *r);
void sim_byz_free(struct sim_byz *b);

/* byzclient.c: the Byzantine client's next hostile request (SIM_EV_CLIENT_START). */
void sim_byz_client_act(struct sim *s, struct sim_client *c);

/* check.c: the invariants. */
int sim_seqmap_init(struct sim_seqmap *m);
void sim_seqmap_free(struct sim_seqmap *m);
void sim_check_exec(struct sim *s, uint32_t replica, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN]);
/* A correct replica executed request (client, ts) with op at seq (first time for it). */
void sim_check_request(struct sim *s, uint32_t replica, uint64_t seq, int client, uint64_t ts,
		       struct wire_bytes op, const uint8_t *result, size_t rlen);
void sim_check_ckpt(struct sim *s, uint32_t replica, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN]);
/* Client accepted result for ts; op is what it asked (read-only answers are checked
 * against the values the key has had). */
void sim_check_accept(struct sim *s, uint32_t client, uint64_t ts, const uint8_t *op, size_t oplen,
		      const uint8_t *result, size_t rlen, int read_only);
void sim_check_step(struct sim *s, uint32_t replica);
/* A correct replica sent message p (len bytes): no two votes for one (view, seq). */
void sim_check_sent(struct sim *s, uint32_t replica, const uint8_t *p, size_t len);
void sim_votes_free(struct sim_votes *v);
void sim_check_liveness(struct sim *s);
void sim_check_prune(struct sim *s);
/* 1 if every request a client accepted is executed by (or included in the state of)
 * f+1 correct replicas; if not and report is set, the run fails with the first one. */
int sim_check_held(struct sim *s, int report);
void sim_hist_free(struct sim_client_hist *h);
void sim_keyhist_free(struct sim_keyhist *h);

/* scenario.c */
struct sim_scenario {
	const char *name;
	const char *what;
	void (*setup)(struct sim_params *p);
	/* Arm faults after the world exists (crashes, partitions, Byzantine replicas). */
	void (*arm)(struct sim *s);
};
extern const struct sim_scenario sim_scenarios[];
extern const size_t sim_nscenarios;
extern const struct sim_scenario sim_bench_scenario;
void sim_params_default(struct sim_params *p);

#endif
