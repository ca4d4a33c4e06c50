/* bwd.h: bulwarkd, one replica as a process: the PBFT core glued to libev, net/ and the
 * LevelDB store. Structures and cross-file functions of the top-level replica/ files. */
#ifndef BULWARK_BWD_H
#define BULWARK_BWD_H

#include <ev.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "replica/app/app.h"
#include "replica/core/pbft.h"
#include "replica/store/store.h"
#include "wire/wire.h"

/* Errors of bwd_open / bwd_run (negative); main prints bwd_strerror with the detail
 * text that bwd_open leaves in struct bwd.why. */
enum bwd_err {
	BWD_OK = 0,
	BWD_ERR_ARG = -1,     /* bad configuration for the core, store or net */
	BWD_ERR_NOMEM = -2,
	BWD_ERR_STORE = -3,   /* the database cannot be opened or read */
	BWD_ERR_CORE = -4,    /* the PBFT core refused to start or failed while running */
	BWD_ERR_LISTEN = -5,  /* the replica port cannot be bound */
	BWD_ERR_NET = -6,     /* the transport failed to start or connect */
	BWD_ERR_PERSIST = -7  /* durable records could not be written: the replica stops */
};
const char *bwd_strerror(int err);

/* Partition tree of the replicated state: 16^3 = 4096 partitions. Fixed for a database:
 * changing it makes the store refuse to open (STORE_ERR_FORMAT). */
#define BWD_TREE_FANOUT 16u
#define BWD_TREE_LEVELS 3u
/* The changes of the last two checkpoint flushes kept in memory as a read cache while
 * together at most this many bytes (store_config.recent_bytes): a put reads its key's
 * version, and recently written keys (the newest release's manifests and chunks) are
 * the ones read again. With the deferred changes (up to STORE_DEFER_MAX_BYTES) this
 * bounds what the store holds in memory beyond LevelDB's own caches. */
#define BWD_RECENT_BYTES (32u << 20)
/* Memory for the value hashes of the state's partitions (store_config.digest_cache_bytes):
 * a checkpoint digests each changed partition from its list in memory instead of
 * reading and hashing its values again. A key takes 40 bytes plus its own (up to twice
 * that while a list's arrays grow): 32 MiB holds the lists of some 180k-370k keys of 50
 * bytes; partitions beyond that are digested from LevelDB. */
#define BWD_DIGEST_CACHE_BYTES (32u << 20)
/* Partition digests are written to LevelDB (and their dirty marks removed) at every this
 * many checkpoints (store_config.digest_persist_every): between, a partition written
 * again costs no mark and no digest write. A crash makes the next open digest the
 * partitions changed since, from the value hash cache's source, LevelDB (at most the
 * whole state once). */
#define BWD_DIGEST_PERSIST_EVERY 16u
/* The core's background work (pbft_config.idle_verify: one CHECKPOINT signature per
 * step) is paced at one step per this many seconds, on a busy loop too: at a checkpoint
 * each replica checks 2f signatures of 55 us each, which in the turn they arrive in
 * would all land on the next request; paced, they land one at a time on later ones. */
#define BWD_IDLE_PACE_S 0.001
/* Client connections a replica serves at once (net's max_clients) and the size of the
 * core's pending-request table and of its in-memory cache of the client table. The
 * client table itself (each client's last timestamp and reply) is replicated state in
 * the store, namespace 'C' (replica/store/clients.c), not a durable protocol record. */
#define BWD_MAX_CLIENTS 4096u
/* The core's bound on requests per batch (pbft_new refuses more; so does config_load). */
#define BWD_MAX_BATCH_REQUESTS 65535u
/* Wire header + request fixed part (client, timestamp, flags, op len, auth len). */
#define BWD_REQUEST_OVERHEAD (WIRE_HDR_LEN + WIRE_KEY_LEN + 8u + 4u + 4u + 4u)

/* ---------------------------------------------------------------- clients (clients.c) */
/* The client sessions a replica knows, by client key: the connection replies go to,
 * and the session authenticator keys that MAC-mode request tags are checked with. The
 * keys of the current and the previous session are kept after the client disconnects,
 * so that a request it sent just before leaving still verifies when it reaches this
 * replica inside a PRE-PREPARE. Bounded: when full, the least recently seen client
 * without a connection is forgotten. */
struct bwd_client {
	uint8_t pub[CRYPTO_ED25519_PUB];
	uint8_t used;
	uint8_t nmac;                   /* valid entries of mac: 0..2 */
	struct net_conn *conn;          /* current connection, NULL when disconnected */
	struct crypto_hmac mac[2];      /* [0] current session, [1] the one before */
	struct crypto_ed25519_key vkey; /* signature mode: verification key, else zeroed */
	uint64_t seen;                  /* monotonic ms of the last connection event */
};

struct bwd_clients {
	struct bwd_client *slot;        /* cap entries, open addressing, linear probing */
	size_t cap;                     /* power of two, >= 2 * max */
	size_t count, max;
	uint64_t seed[2];               /* random hashing key: probe chains cannot be aimed at */
	int want_vkey;                  /* keep a verification key per client (signature mode) */
};

/* Caller-allocated; max >= 1 clients remembered. 0 or BWD_ERR_NOMEM. */
int bwd_clients_init(struct bwd_clients *cs, size_t max, int want_vkey);
void bwd_clients_free(struct bwd_clients *cs);
/* The entry of pub, or NULL. Borrowed until the next bwd_clients_up. */
struct bwd_client *bwd_clients_find(const struct bwd_clients *cs, const uint8_t pub[CRYPTO_ED25519_PUB]);
/* A session with pub came up on conn (auth key borrowed): remember it as the current one.
 * 0, BWD_ERR_NOMEM, or BWD_ERR_ARG if every remembered client is connected (cannot
 * happen while max exceeds net's max_clients). */
int bwd_clients_up(struct bwd_clients *cs, const uint8_t pub[CRYPTO_ED25519_PUB],
		   struct net_conn *conn, const uint8_t auth_key[NET_AUTH_KEY_LEN], uint64_t now);
/* conn went down: the entry keeps its keys but has no connection. */
void bwd_clients_down(struct bwd_clients *cs, const uint8_t pub[CRYPTO_ED25519_PUB],
		      const struct net_conn *conn, uint64_t now);

/* ---------------------------------------------------------------- syncer.c */
/* The background state sync (pbft_config.durable_async): a thread that runs store_sync
 * when the loop asks, and tells the loop through notify (called on the thread). */
struct bwd_syncer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started;
	struct store *store;
	void (*notify)(void *ctx);
	void *notify_ctx;
	/* under mu */
	int stop;
	uint64_t want;      /* make the state written up to this checkpoint durable */
	uint64_t done;      /* the state is durable up to this seq */
	int err;            /* a failed sync's store error (the thread stops), 0 if none */
	char why[256];      /* its text */
	/* the loop's own */
	uint64_t asked;     /* latest want posted */
	uint64_t reported;  /* latest done stepped into the core */
};
/* Start the thread. 0 or BWD_ERR_NOMEM. */
int bwd_syncer_start(struct bwd_syncer *sy, struct store *store,
		     void (*notify)(void *ctx), void *notify_ctx);
/* Loop: sync the state written so far, the checkpoint at seq included (no-op if asked
 * for seq or a later one already). */
void bwd_syncer_ask(struct bwd_syncer *sy, uint64_t seq);
/* Loop: the latest durable seq in *done; the store error of a failed sync (its text in
 * why), else 0. */
int bwd_syncer_result(struct bwd_syncer *sy, uint64_t *done, char *why, size_t len);
/* Wait for the running sync, stop the thread. Safe if never started. */
void bwd_syncer_stop(struct bwd_syncer *sy);

/* ---------------------------------------------------------------- the replica */
struct bwd_upd;

struct bwd_counters {
	uint64_t frames_bad;            /* undecodable frames */
	uint64_t frames_refused;        /* decodable, but a type the sender may not send */
	uint64_t info_served;
	uint64_t sends_dropped;         /* no connection to the destination */
	uint64_t flushes;               /* persist + send passes */
};

struct bwd {
	/* configuration (owned) */
	struct bw_config cfg;
	struct crypto_ed25519_key key;              /* own identity, private */
	struct crypto_ed25519_key *replica_keys;    /* n verification keys */
	uint8_t (*replica_pubs)[CRYPTO_ED25519_PUB];/* n raw keys, for net */
	uint32_t id;
	struct wire_limits limits;
	uint8_t boot_id[STORE_BOOT_ID_LEN];         /* this boot of the machine (daemon.c) */
	int votes_uncertain;                        /* the store's session says votes may be
						     * lost, until the core moves past them */

	/* environment */
	struct ev_loop *loop;                       /* borrowed: the default loop */
	struct store *store;
	struct app app;                             /* kv + updates + the null op */
	int app_ready;
	struct bwd_upd *upd;                        /* update-service glue (bwd_upd.h), owned */
	struct pbft *core;
	struct net *net;
	struct bwd_clients clients;

	/* one loop turn's accumulated effects (STYLE.md rule 12) */
	struct pbft_update up;
	int pending;                                /* up holds anything to flush */
	uint64_t deadline;                          /* the core's latest wished TICK, 0 = none */
	struct wire_buf scratch;                    /* INFO replies */
	uint8_t (*req_digests)[WIRE_DIGEST_LEN];    /* limits.max_batch_count: a decoded
						     * PRE-PREPARE's request digests */

	ev_prepare flush_w;
	ev_timer tick_w;
	ev_async sync_w;                            /* the syncer reported */
	ev_timer idle_w;                            /* paces the core's background work */
	int idle_wanted;                            /* pbft_update.idle of the last turn */
	struct bwd_syncer sync;
	ev_signal sigterm_w, sigint_w, sighup_w;

	uint64_t start_ms;                          /* monotonic at start, for uptime */
	uint64_t clock_now, clock_wall;             /* bwd__clock: as of loop iteration */
	unsigned int clock_iter;                    /* clock_iter, if clock_valid */
	int clock_valid;
	int stop_signal;                            /* signal that stopped the loop, 0 = none */
	int fatal;                                  /* a BWD_ERR that stopped the loop, 0 = none */
	struct bwd_counters ctr;
	char why[512];                              /* detail of the last error */
};

/* Load everything and start serving: store, app, core, net (listen + dial every peer),
 * watchers on the default loop. cfg ownership passes to b on success and on failure
 * (b->cfg is freed by bwd_close); key likewise. On failure b->why says what failed;
 * call bwd_close in both cases. */
int bwd_open(struct bwd *b, struct bw_config *cfg, uint32_t id, struct crypto_ed25519_key *key);
/* Run the loop until SIGTERM/SIGINT (returns 0) or a fatal error (its code; b->why). */
int bwd_run(struct bwd *b);
/* After a clean stop, persist the records still pending; then close net, core, app and
 * store. Safe after a failed bwd_open and on a zeroed b. */
void bwd_close(struct bwd *b);

/* ---------------------------------------------------------------- cross-file (bwd__) */
/* crypto_ops.c: the pbft_crypto_ops of this replica (ctx = b). */
void bwd__crypto_ops(struct bwd *b, struct pbft_crypto_ops *ops);
/* io_ev.c: net callbacks and watchers. */
void bwd__net_callbacks(struct bwd *b, struct net_callbacks *cb);
/* 0, or BWD_ERR_NOMEM if the syncer thread cannot start. */
int bwd__watchers_start(struct bwd *b);
void bwd__watchers_stop(struct bwd *b);
/* Write the accumulated records (one write batch, synced if asked), then send the
 * accumulated messages, then re-arm the tick. 0 or BWD_ERR_PERSIST (nothing sent). */
int bwd__flush(struct bwd *b);
/* Clocks: monotonic and wall, in ms. */
uint64_t bwd__now_ms(void);
uint64_t bwd__wall_ms(void);
/* Monotonic and wall-clock ms as of the current loop iteration (read once per
 * iteration; directly when there is no loop). */
void bwd__clock(struct bwd *b, uint64_t *now, uint64_t *wall);
/* daemon.c: the core's tracer; the core tells each line's level. */
void bwd__trace(void *ctx, uint32_t replica, enum pbft_trace_level level, const char *line);
/* daemon.c: encode this replica's INFO into b->scratch. 0 or a wire error. */
int bwd__info_encode(struct bwd *b);

#endif
