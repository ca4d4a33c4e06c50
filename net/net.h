/* net.h: bulwark's libev transport: authenticated X25519 handshake, MACed frames over TCP,
 * reconnecting dials and bounded per-connection output queues.
 * Single-threaded: call everything from the thread that runs the loop. */
#ifndef BULWARK_NET_H
#define BULWARK_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "crypto/crypto.h"

struct ev_loop;
struct net;
struct net_conn;

/* ------------------------------------------------------------------ wire format
 * Handshake (all integers little-endian). The dialling side is the initiator.
 *   initiator -> responder  HELLO_I
 *   responder -> initiator  HELLO_R || SIG_R
 *   initiator -> responder  SIG_I
 * HELLO (NET_HELLO_LEN = 124 bytes):
 *   0 magic "BWK1" | 4 version u16 | 6 role u8 (1 replica, 2 client) | 7 zero u8 |
 *   8 replica id u32 (0 for a client) | 12 group id u64 | 20 ring epoch u64 |
 *   28 ephemeral X25519 public key [32] | 60 static Ed25519 public key [32] | 92 nonce [32]
 * TH    = SHA-256("bulwark-net-v1 transcript" || HELLO_I || HELLO_R)
 * SIG_R = Ed25519("bulwark-net-v1 responder" || TH), SIG_I = Ed25519("bulwark-net-v1 initiator" || TH)
 * HKDF-SHA256(salt = TH, ikm = X25519(eph_i, eph_r), info = "bulwark-net-v1 keys") gives
 * 96 bytes: MAC key initiator->responder, MAC key responder->initiator, session auth key.
 * Each side checks magic, version, group id and epoch equal to its own, and that a replica's
 * static key is the configured key for the replica id it claims; a client's key is offered
 * to accept_client once its signature has verified.
 *
 * Frames after the handshake:
 *   length u32 | payload [length] | tag [16]
 *   tag = GMAC(direction key, nonce = counter u64 || 4 zero bytes, length u32 || payload)
 * (AES-256-GCM over additional data only, 16 bytes), where counter counts the frames sent
 * in that direction from 0: each key tags each counter once. A replayed, reordered,
 * deleted or altered frame fails the tag and closes the connection. The payload is one
 * or more messages, each message length u32 | message; the messages one net_send call
 * after another queues on a connection within a loop turn share a frame (and its tag)
 * while the payload stays within NET_BUNDLE_MAX, a larger message has a frame of its
 * own. A frame whose messages do not fill it exactly closes the connection. */
#define NET_PROTO_VERSION 3u      /* 2: frames bundle messages; 3: GMAC frame tags */
#define NET_HELLO_LEN     124u
#define NET_SIG_LEN       CRYPTO_ED25519_SIG
#define NET_FRAME_HDR     4u
#define NET_FRAME_TAG     CRYPTO_GMAC_TAG
#define NET_MSG_HDR       4u
#define NET_BUNDLE_MAX    (64u * 1024u) /* payload bytes up to which messages share a frame */
#define NET_AUTH_KEY_LEN  32u

/* Errors (negative) and the reasons a connection goes down or a handshake is refused. */
enum net_err {
	NET_OK = 0,
	NET_ERR_ARG = -1,         /* bad argument or configuration */
	NET_ERR_NOMEM = -2,
	NET_ERR_SYS = -3,         /* a socket system call failed */
	NET_ERR_ADDR = -4,        /* address does not resolve */
	NET_ERR_CRYPTO = -5,      /* a crypto call failed unexpectedly */
	NET_ERR_CLOSED = -6,      /* connection is closed or not up */
	NET_ERR_EXISTS = -7,      /* already dialling that replica */
	NET_ERR_NOPEER = -8,      /* no open connection to that replica */
	NET_ERR_EOF = -9,         /* peer closed the connection */
	NET_ERR_IO = -10,         /* read or write error (reset, ...) */
	NET_ERR_CONNECT = -11,    /* outgoing connect failed */
	NET_ERR_MAGIC = -12,      /* not a bulwark hello (bad magic) */
	NET_ERR_VERSION = -13,    /* unsupported protocol version */
	NET_ERR_HELLO = -14,      /* malformed hello */
	NET_ERR_TRUNCATED = -15,  /* peer closed in the middle of a message */
	NET_ERR_GROUP = -16,      /* wrong group id */
	NET_ERR_EPOCH = -17,      /* wrong ring epoch */
	NET_ERR_UNKNOWN_KEY = -18,/* replica id unknown or its key is not the configured one */
	NET_ERR_WRONG_PEER = -19, /* responder is not the replica we dialled */
	NET_ERR_BADSIG = -20,     /* handshake signature does not verify */
	NET_ERR_REFUSED = -21,    /* client refused by accept_client or the client limit */
	NET_ERR_TIMEOUT = -22,    /* handshake did not finish in time */
	NET_ERR_IDLE = -23,       /* nothing received for the idle limit */
	NET_ERR_FRAME_SIZE = -24, /* frame length above the maximum */
	NET_ERR_MAC = -25,        /* frame tag wrong: altered, replayed, reordered or deleted */
	NET_ERR_SLOW = -26,       /* slow peer: output queue over its limit */
	NET_ERR_LIMIT = -27,      /* too many connections still in handshake */
	NET_ERR_REPLACED = -28,   /* a newer connection from the same replica took over */
	NET_ERR_SHUTDOWN = -29,   /* closed locally (net_conn_close, net_close) */
	NET_ERR_FRAME_BAD = -30   /* a frame's messages do not fill it exactly */
};

/* A static, human-readable string for a net_err. Never NULL. */
const char *net_strerror(int err);

enum net_role {
	NET_ROLE_REPLICA = 1,
	NET_ROLE_CLIENT = 2
};

/* Log levels for the log callback; messages above cfg.log_level are not formatted. */
enum net_log_level {
	NET_LOG_ERROR = 0,
	NET_LOG_WARN = 1,
	NET_LOG_INFO = 2,
	NET_LOG_DEBUG = 3
};

/* The authenticated identity of the other end of an open connection. */
struct net_peer {
	enum net_role role;
	uint32_t replica_id;                /* meaningful when role == NET_ROLE_REPLICA */
	uint8_t pub[CRYPTO_ED25519_PUB];    /* its static Ed25519 key */
	char addr[64];                      /* "ip:port", for logs */
};

struct net_callbacks {
	void *ctx; /* passed to every callback */
	/* A client proved it holds pub: return 0 to accept, nonzero to refuse (the connection
	 * closes with NET_ERR_REFUSED). NULL accepts every client. pub is borrowed. */
	int (*accept_client)(void *ctx, const uint8_t pub[CRYPTO_ED25519_PUB]);
	/* The handshake finished; conn is valid until on_down returns. peer is borrowed for
	 * the call (net_conn_peer gives it again later). The initiator is up once it has sent
	 * its signature: if the responder then refuses it, on_down(NET_ERR_EOF) follows. */
	void (*on_up)(void *ctx, struct net_conn *conn, const struct net_peer *peer);
	/* One authenticated message (of a frame); payload is borrowed for the call only. */
	void (*on_frame)(void *ctx, struct net_conn *conn, const uint8_t *payload, size_t len);
	/* conn, which was up, is gone; reason is a net_err. After this returns conn is freed.
	 * Called from the loop (never from inside net_send or net_conn_close), and from
	 * net_close with NET_ERR_SHUTDOWN for connections still up (there, net_listen and
	 * net_connect return NET_ERR_CLOSED). */
	void (*on_down)(void *ctx, struct net_conn *conn, int reason);
	/* One log line, "event=... key=value ..." (no level, no newline); line is borrowed.
	 * NULL discards logs. */
	void (*log)(void *ctx, int level, const char *line);
};

struct net_limits {
	size_t max_frame;             /* message bytes; default 32 MiB */
	size_t max_frame_client;      /* message bytes accepted from a client (<= max_frame);
				       * default 2 MiB */
	size_t max_out_replica;       /* queued output bytes to a replica; default 64 MiB */
	size_t max_out_client;        /* queued output bytes to a client; default 8 MiB */
	unsigned max_unauth;          /* incoming connections still in handshake; default 64 */
	unsigned max_clients;         /* open client connections; default 4096 */
	double handshake_timeout;     /* seconds; default 5 */
	double idle_timeout_client;   /* seconds without input before a client is dropped; 0 = never; default 300 */
	double idle_timeout_replica;  /* same for replicas; default 0 */
	double backoff_min;           /* first reconnect delay, seconds; default 0.05 */
	double backoff_max;           /* reconnect delay cap, seconds; default 2 */
	size_t read_budget;           /* bytes read from one connection per loop turn; default 1 MiB */
};

struct net_config {
	/* Own identity, borrowed: must have a private key and outlive the net. */
	const struct crypto_ed25519_key *identity;
	uint64_t group_id;
	uint64_t epoch;
	enum net_role role;
	uint32_t replica_id; /* own id when role == NET_ROLE_REPLICA */
	/* Public keys of the replicas, indexed by id; copied by net_open. */
	const uint8_t (*replica_keys)[CRYPTO_ED25519_PUB];
	uint32_t n_replicas;
	struct net_limits limits;
	struct net_callbacks cb;
	int log_level; /* enum net_log_level; default NET_LOG_INFO */
};

/* Zero cfg and fill limits and log_level with the defaults above. */
void net_config_init(struct net_config *cfg);

/* Create a transport on loop (borrowed; must outlive the net). cfg is copied (identity
 * stays borrowed). Checks the config: identity with private key, 1 <= n_replicas <= 1024,
 * own replica id < n_replicas and own key equal to replica_keys[id], sane limits.
 * On success *out is owned by the caller; free it with net_close. */
int net_open(struct net **out, struct ev_loop *loop, const struct net_config *cfg);

/* Close every connection (on_down with NET_ERR_SHUTDOWN for those up), listener and dial,
 * and free the net. Must not be called from inside a net callback. NULL is a no-op. */
void net_close(struct net *net);

/* Listen on host:port (numeric or resolvable host; port 0 picks a free port). Replicas
 * only. *bound (may be NULL) receives the port actually bound. */
int net_listen(struct net *net, const char *host, uint16_t port, uint16_t *bound);

/* Keep a connection to replica_id at host:port up: connect now, and after a failure or
 * drop reconnect after a delay doubling from backoff_min to backoff_max with jitter
 * (reset after each handshake that succeeds). host is resolved once, here, blocking.
 * NET_ERR_EXISTS if already dialling replica_id. */
int net_connect(struct net *net, uint32_t replica_id, const char *host, uint16_t port);

/* Queue one message carrying data (copied), in the connection's open frame or a new one.
 * It is flushed on the next loop turn. NET_ERR_FRAME_SIZE if len > max_frame (the
 * connection stays up); NET_ERR_CLOSED if the connection is not open; NET_ERR_SLOW if the
 * queue would exceed the peer's limit, in which case the connection is dropped (on_down
 * follows from the loop). A message is always accepted into an empty queue. */
int net_send(struct net_conn *conn, const void *data, size_t len);
/* Same, one message that is the concatenation of iov[0..iovcnt) (copied). */
int net_sendv(struct net_conn *conn, const struct iovec *iov, int iovcnt);
/* net_send on an open connection to replica id (the one we dialled if it is up, else
 * the one it dialled); NET_ERR_NOPEER if there is none. */
int net_send_replica(struct net *net, uint32_t id, const void *data, size_t len);

/* Drop conn now (queued output is discarded); on_down(NET_ERR_SHUTDOWN) follows from the
 * loop if it was up. Safe inside callbacks; a no-op on a closed connection. */
void net_conn_close(struct net_conn *conn);

/* The authenticated peer of an open connection (borrowed, valid while conn is). */
const struct net_peer *net_conn_peer(const struct net_conn *conn);
/* The 32-byte per-session authenticator key, equal on both ends (borrowed). */
const uint8_t *net_conn_auth_key(const struct net_conn *conn);
/* Bytes queued for output and not yet written to the socket. */
size_t net_conn_queued(const struct net_conn *conn);

struct net_stats {
	uint64_t accepted;          /* incoming TCP connections */
	uint64_t dialled;           /* outgoing connect attempts */
	uint64_t handshakes_ok;
	uint64_t handshakes_failed; /* refused, timed out or broken before OPEN */
	uint64_t frames_in, frames_out;
	uint64_t msgs_in, msgs_out;  /* messages carried by those frames */
	uint64_t bytes_in, bytes_out; /* socket bytes, framing included */
	uint64_t dropped;           /* open connections closed other than by EOF or locally */
	size_t unauth;              /* connections in handshake now */
	size_t open;                /* open connections now */
	size_t queued;              /* output bytes queued now, all connections */
};
void net_get_stats(const struct net *net, struct net_stats *st);

#endif
