/* bulwark.h: the public API of libbulwark, the client library of the bulwark update
 * backbone. Link with `pkg-config --libs bulwark`. */
#ifndef BULWARK_H
#define BULWARK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Errors: 0 is success; failures are negative codes. */
enum bulwark_err {
	BULWARK_OK = 0,
	BULWARK_ERR_ARG = -1,          /* a NULL or out-of-range argument */
	BULWARK_ERR_EXISTS = -2,       /* the file exists and overwrite was not asked for */
	BULWARK_ERR_IO = -3,           /* a file could not be created or written */
	BULWARK_ERR_CRYPTO = -4,       /* key generation, signing or MAC computation failed */
	BULWARK_ERR_NOMEM = -5,        /* out of memory */
	BULWARK_ERR_CONFIG = -6,       /* the group configuration file is missing or invalid */
	BULWARK_ERR_KEY = -7,          /* the client key file is missing, unreadable, not an
					* Ed25519 PEM, or readable by group or others */
	BULWARK_ERR_NET = -8,          /* the transport could not be set up (event loop, sockets,
					* a replica address that does not resolve) */
	BULWARK_ERR_TIMEOUT = -9,      /* no f+1 (2f+1 for reads) matching replies in time */
	BULWARK_ERR_NOT_FOUND = -10,   /* GET or DEL of a key that does not exist */
	BULWARK_ERR_CAS_MISMATCH = -11,/* CAS: the key's version is not the expected one */
	BULWARK_ERR_TOO_BIG = -12,     /* a key, value or request above the group's limits */
	BULWARK_ERR_BUSY = -13,        /* this client already has an operation outstanding */
	BULWARK_ERR_REJECTED = -14,    /* the group refused the operation as malformed */
	BULWARK_ERR_PROTOCOL = -15,    /* the group's agreed reply is malformed: more than f
					* faulty replicas, or an incompatible version */
	BULWARK_ERR_LOOP = -16,        /* a blocking call made from inside a callback of the
					* event loop it would have to run */
	BULWARK_ERR_CANCELLED = -17,   /* the client was closed with the operation outstanding */
	BULWARK_ERR_LANES = -18        /* the key already has BULWARK_MAX_LANES lanes open */
};

/* A static, human-readable string for a bulwark_err. Never NULL. */
const char *bulwark_strerror(int err);

/* The library's version string, e.g. "0.1.0". */
const char *bulwark_version(void);

/* Generate an Ed25519 identity: DIR/NAME.key (PKCS#8 PEM, mode 0600) and DIR/NAME.pub
 * (SubjectPublicKeyInfo PEM). Refuses to replace existing files unless overwrite is set.
 * pub (may be NULL) receives the raw 32-byte public key. err (may be NULL) receives a
 * message naming the file that failed. */
int bulwark_keygen(const char *dir, const char *name, int overwrite, uint8_t pub[32],
		   char *err, size_t errlen);

/* ---------------------------------------------------------------- group clients
 *
 * A bulwark_client talks to one replica group (the [group] and [replica I] sections of
 * the group's INI file; timeouts and the read quorum from its [client] section) under
 * one Ed25519 client key, over one authenticated connection to each replica. It has at
 * most ONE operation outstanding: the group orders each client's requests by a
 * per-client timestamp and keeps one reply per client.
 *
 * Lanes. The client identity the group orders and answers is (key, lane): a key has
 * up to BULWARK_MAX_LANES lanes, each with its own timestamps and its own outstanding
 * operation. bulwark_client_open gives lane 0 of a key; bulwark_client_lane opens
 * further lanes of it: each is a bulwark_client of its own (every function below works
 * on it), sharing the key, the event loop and the connections. For concurrency inside
 * one process, open lanes of one client: one handshake and one connection per replica
 * serve them all, and the requests of every lane sent in one loop turn leave in one
 * write per replica, as the group's replies to them come back in shared reads, so the
 * system calls (the main cost per operation on a fast group) are shared too. Several
 * clients with keys of their own are independent as well, but each has its own
 * connections, so N of them cost N handshakes, N connections per replica and a write
 * and a read per operation each. Use separate keys for separate principals.
 *
 * Ordered operations (PUT, DEL, CAS) go to the primary the client believes in (it
 * follows the view announced in replies), are retransmitted to every replica on each
 * retransmission timeout ([client] timeout_ms, doubling up to 8x), and complete on f+1
 * matching replies. GET is read-only: sent to every replica, it completes on 2f+1
 * matching replies ([client] read_quorum: f+1 if configured so; a value above 2f+1 is
 * served as 2f+1) and falls back to an ordered GET when the replies disagree or time
 * out. Requests carry MAC authenticators (one tag per replica, keyed by that
 * connection's session), or an Ed25519 signature when the group's client_auth =
 * signatures.
 *
 * Request timestamps start at the wall clock in microseconds, so a key file can be used
 * again by a later process (not by two processes at once). If the wall clock steps back
 * by more than the time since that key was last used, the group ignores its requests
 * (they look old) until the clock has caught up.
 *
 * Threads: a client, its lanes and its loop belong to one thread; different clients on
 * different loops may run on different threads. */

struct ev_loop;          /* libev's loop; libbulwark uses libev */
struct bulwark_client;   /* opaque */

/* The default for bulwark_client_set_timeout. */
#define BULWARK_DEFAULT_OP_TIMEOUT_MS 10000u

/* Open a client of the group described by config_path (read and checked now).
 * key_path: the client's Ed25519 private key (PEM, mode 0600 or stricter, e.g. from
 * bulwark_keygen), or NULL for a fresh ephemeral key that lives as long as the client.
 * loop: the caller's libev loop (borrowed: it must outlive the client; the caller runs
 * it), or NULL to let the client create a private loop, which only the blocking calls
 * below run. Replica host names are resolved here (blocking); connections are dialled
 * at once and re-established with backoff whenever they drop. err (may be NULL)
 * receives a message naming the file or field at fault. Returns 0 and *out (owned by
 * the caller, freed with bulwark_client_close), or BULWARK_ERR_ARG, _CONFIG, _KEY,
 * _NET, _NOMEM or _CRYPTO. */
int bulwark_client_open(const char *config_path, const char *key_path, struct ev_loop *loop,
			struct bulwark_client **out, char *err, size_t errlen);

/* The most lanes one key may have open (the group's default limit, wire/wire.h). */
#define BULWARK_MAX_LANES 4096u

/* Open a lane of c: another client with c's key, group, loop and connections, and
 * its own outstanding operation (see "Lanes" above). Lanes are numbered 1, 2, ...
 * (c itself is lane 0) up to the group's limit (BULWARK_MAX_LANES = 4096 lanes per
 * key); the number of a closed lane is given to a later one (its timestamps start
 * above every request the key's lanes have sent, so the group tells them apart).
 * c may be any lane of the key. The new lane starts with c's operation timeout.
 * Closing c or any lane leaves the others working; the connections close with the
 * last of them. Returns 0 and *out (owned by the caller, freed with
 * bulwark_client_close), or BULWARK_ERR_ARG (NULL, or c is closing), BULWARK_ERR_LANES
 * (the key already has the limit of lanes open) or BULWARK_ERR_NOMEM. */
int bulwark_client_lane(struct bulwark_client *c, struct bulwark_client **out);

/* Close c (one lane) and free it; with the key's last lane, close every connection
 * too. An outstanding operation completes first, its callback running from inside this
 * call: with its result if the group has already answered, else with
 * BULWARK_ERR_CANCELLED. May be called from inside c's own completion callback (the
 * memory is then released once the callback returns), or from another lane's. A reply
 * for c that arrives later is dropped. NULL is a no-op. */
void bulwark_client_close(struct bulwark_client *c);

/* How long one operation may take, retransmissions and view changes included, before
 * it completes with BULWARK_ERR_TIMEOUT (default BULWARK_DEFAULT_OP_TIMEOUT_MS; 0 means
 * never give up). Applies to operations started afterwards. */
int bulwark_client_set_timeout(struct bulwark_client *c, uint32_t op_timeout_ms);

/* The client's Ed25519 public key (its identity at the replicas). */
void bulwark_client_public_key(const struct bulwark_client *c, uint8_t pub[32]);

/* Number of replicas in the group (n = 3f+1) and f. */
uint32_t bulwark_client_replicas(const struct bulwark_client *c);
uint32_t bulwark_client_faults(const struct bulwark_client *c);

/* 1 while an operation is outstanding on c, else 0. */
int bulwark_client_busy(const struct bulwark_client *c);

/* ---------------------------------------------------------------- operations */
enum bulwark_op_type {
	BULWARK_OP_PUT = 1,   /* set key to value */
	BULWARK_OP_DEL = 2,   /* remove key */
	BULWARK_OP_CAS = 3,   /* set key to value if its version is expected_version */
	BULWARK_OP_GET = 4,   /* read key (read-only) */
	BULWARK_OP_NULL = 5   /* ordered no-op: an empty op with an empty result, the
			       * standard BFT micro-benchmark; key and value are ignored */
};

/* Keys are 0..1024 bytes, values 0..1 MiB (the group's limits, wire/kv.h), and a whole
 * request must fit in one batch ([group] batch_max_bytes, 256 KiB by default);
 * a key's version is 1 when it is created and grows by one on every write; DEL removes
 * the key (written again, it starts over at 1). */
#define BULWARK_MAX_KEY 1024u
#define BULWARK_MAX_VALUE (1024u * 1024u)

struct bulwark_op {
	int type;                   /* enum bulwark_op_type */
	const void *key;            /* borrowed for the call (copied) */
	size_t key_len;
	const void *value;          /* PUT, CAS: borrowed for the call (copied) */
	size_t value_len;
	uint64_t expected_version;  /* CAS: the version the key must have; 0: it must not exist */
};

/* How an operation ended. */
struct bulwark_result {
	int status;            /* BULWARK_OK or a negative bulwark_err */
	uint64_t version;      /* OK: the key's version after the write (DEL: the version
				* removed; GET: the version read). CAS_MISMATCH: the key's
				* current version (0: absent). Else 0. */
	const uint8_t *value;  /* GET OK: the value, borrowed for the callback only */
	size_t value_len;
	uint32_t limit;        /* TOO_BIG: the size limit that was exceeded, if known */
};

/* Completion callback: called exactly once per started operation, from the event loop
 * (never from inside bulwark_submit). res is borrowed for the call. The client is idle
 * again when it runs: the callback may submit the next operation or close the client. */
typedef void (*bulwark_done_fn)(void *arg, const struct bulwark_result *res);

/* Start op on c. Returns 0 when started (done(arg, ...) follows), or, with nothing
 * started and done never called: BULWARK_ERR_ARG (a NULL pointer with a non-zero
 * length, an unknown type, a closing client), BULWARK_ERR_TOO_BIG (key, value or
 * request above the limits), BULWARK_ERR_BUSY, or BULWARK_ERR_NOMEM / _CRYPTO.
 * While the connections are still being set up (right after bulwark_client_open), the
 * request is held back until every replica is connected, or 2f+1 are and 100 ms have
 * passed since the open, or at most [client] timeout_ms after the open. The op's
 * timeout (bulwark_client_set_timeout) runs from this call. */
int bulwark_submit(struct bulwark_client *c, const struct bulwark_op *op, bulwark_done_fn done,
		   void *arg);

/* ---------------------------------------------------------------- blocking calls
 * Each runs c's loop (the caller's or the private one) until the operation completes or
 * times out, and returns its status. They return BULWARK_ERR_LOOP when called from
 * inside a callback of that loop (the loop cannot be run from within itself), and
 * BULWARK_ERR_BUSY while an operation started with bulwark_submit is outstanding.
 * Other watchers of a caller's loop run meanwhile. version (may be NULL) as in
 * struct bulwark_result. */
int bulwark_put(struct bulwark_client *c, const void *key, size_t key_len, const void *value,
		size_t value_len, uint64_t *version);
/* On success *value is a malloc'd copy (free() it; non-NULL even for an empty value)
 * and *value_len its length. */
int bulwark_get(struct bulwark_client *c, const void *key, size_t key_len, uint8_t **value,
		size_t *value_len, uint64_t *version);
int bulwark_del(struct bulwark_client *c, const void *key, size_t key_len, uint64_t *version);
/* BULWARK_ERR_CAS_MISMATCH leaves the key's current version in *version. */
int bulwark_cas(struct bulwark_client *c, const void *key, size_t key_len,
		uint64_t expected_version, const void *value, size_t value_len, uint64_t *version);

/* ---------------------------------------------------------------- replica status */
struct bulwark_replica_status {
	uint32_t id;
	char address[80];           /* "host:port" from the configuration */
	int up;                     /* 1: it answered; 0: down (no connection or no answer) */
	int error;                  /* when down: why (BULWARK_ERR_NET: not connected,
				     * BULWARK_ERR_TIMEOUT: connected but did not answer) */
	uint64_t view;
	uint32_t primary;
	int view_active;            /* 0 while it is changing views */
	int transferring;           /* 1 while it fetches state from its peers */
	uint64_t low_watermark;     /* last stable checkpoint */
	uint64_t last_executed;
	uint64_t last_committed;
	uint64_t dropped;           /* messages it dropped as invalid or stale */
	uint8_t checkpoint_digest[32]; /* state digest at low_watermark; zeros if none */
	uint64_t uptime_ms;
};

/* Ask every replica for its status (an unordered INFO query) and wait up to timeout_ms
 * (0: [client] timeout_ms, at least 1 s) for the answers: out[i] describes replica i,
 * for i < min(max, n); *count (may be NULL) receives n. Replicas that are not
 * connected within the timeout, or do not answer, are reported down. Each answer is the
 * replica's own report, not a certificate. Returns 0 (even if all are down),
 * BULWARK_ERR_ARG, BULWARK_ERR_LOOP, BULWARK_ERR_BUSY (a status query is already
 * running on c or another lane of its key) or BULWARK_ERR_NOMEM. Runs c's loop like the blocking calls. */
int bulwark_status(struct bulwark_client *c, uint32_t timeout_ms,
		   struct bulwark_replica_status *out, size_t max, size_t *count);

#ifdef __cplusplus
}
#endif

#endif
