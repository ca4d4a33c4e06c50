/* net_int.h: internal structures and cross-file functions of net/ (not for other modules). */
#ifndef BULWARK_NET_INT_H
#define BULWARK_NET_INT_H

#include <ev.h>
#include <sys/socket.h>

#include "net/net.h"

#define NET__MAX_REPLICAS 1024u
#define NET__CHUNK        (64u * 1024u)  /* output chunk size for small frames */
#define NET__RBUF         (64u * 1024u)  /* read buffer once open */
#define NET__MAX_IOV      64

/* The connection state machine. Initiator: CONNECTING -> HELLO_SENT -> OPEN.
 * Responder: WAIT_HELLO -> WAIT_SIG -> OPEN. Any state -> CLOSED (net__conn_fail). */
enum net__state {
	NET__CONNECTING, /* non-blocking connect in progress; HELLO_I queued */
	NET__HELLO_SENT, /* initiator: waiting for HELLO_R || SIG_R */
	NET__WAIT_HELLO, /* responder: waiting for HELLO_I */
	NET__WAIT_SIG,   /* responder: sent HELLO_R || SIG_R, waiting for SIG_I */
	NET__OPEN,       /* authenticated; frames both ways */
	NET__CLOSED      /* fd closed; waiting on the dead list for on_down and free */
};

/* One piece of the output queue; frames never straddle two chunks. */
struct net__chunk {
	struct net__chunk *next;
	size_t cap, head, tail; /* bytes [head, tail) are still to be written */
	uint8_t data[];
};

struct net__dial;

struct net_conn {
	struct net *net;
	struct net_conn *prev, *next;   /* net->conns */
	struct net_conn *dirty_next;    /* net->dirty, while dirty */
	struct net_conn *dead_next;     /* net->dead, once CLOSED */
	enum net__state state;
	int fd;
	int initiator;
	int dirty;
	int was_up;                     /* on_up delivered: on_down is owed */
	int down_reason;
	struct net__dial *dial;         /* the dial that made this connection, or NULL */
	ev_io rio, wio;
	ev_timer timer;                 /* handshake deadline, then idle check */
	ev_tstamp last_input;
	ev_tstamp up_since;

	/* handshake */
	struct crypto_x25519_key eph;
	int have_eph;
	uint8_t hello_mine[NET_HELLO_LEN];
	uint8_t hs_buf[NET_HELLO_LEN + NET_SIG_LEN];
	size_t hs_have;
	uint8_t th[CRYPTO_HASH_LEN];    /* transcript hash */
	uint32_t expect_id;             /* initiator: replica we dialled */

	/* open */
	struct net_peer peer;
	uint8_t auth_key[NET_AUTH_KEY_LEN];
	struct crypto_gmac mac_out, mac_in; /* nonce: the frame counter of the direction */
	int have_macs;
	uint64_t ctr_out, ctr_in;
	size_t max_out;

	/* input */
	uint8_t *rbuf;
	size_t rcap, rlen;

	/* output */
	struct net__chunk *out_first, *out_last;
	size_t out_bytes;
	struct net__chunk *bundle;      /* holds the frame still open to more messages
					 * (its header and tag are written when it is
					 * sealed), or NULL */
	size_t bundle_off;              /* where that frame starts in it */
};

struct net__listener {
	struct net__listener *next;
	struct net *net;
	int fd;
	ev_io io;
	ev_timer pause; /* accept paused while out of file descriptors or memory */
};

/* A kept-up outgoing connection to one replica. */
struct net__dial {
	struct net__dial *next;
	struct net *net;
	uint32_t replica_id;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char addr_text[64];
	double backoff;
	ev_timer retry;
	struct net_conn *conn; /* current attempt or open connection, or NULL */
};

struct net {
	struct ev_loop *loop;
	struct net_config cfg;
	uint8_t (*keys)[CRYPTO_ED25519_PUB];        /* copy of cfg.replica_keys */
	struct crypto_ed25519_key *verify_keys;      /* one per replica */
	struct net_conn *conns;
	struct net_conn *dirty;
	struct net_conn *dead;
	struct net__listener *listeners;
	struct net__dial *dials;
	struct net_conn **in_by_id;  /* open incoming connection per replica id */
	ev_prepare prepare;
	struct net_stats stats;
	size_t n_unauth;   /* incoming connections still in handshake */
	size_t n_clients;  /* open client connections */
	int closing;       /* inside net_close: no new listeners or dials */
};

/* net.c */
void net__log(struct net *net, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void net__addr_text(const struct sockaddr *sa, char *out, size_t outlen);

/* conn.c */
/* One frame decoded in place from an input buffer. */
struct net__frame {
	size_t size;            /* bytes the frame occupies: header, payload and tag */
	const uint8_t *payload; /* len bytes inside the input buffer (borrowed); NULL until
				 * the frame is complete and authentic */
	uint32_t len;           /* the length prefix, once its 4 bytes are in */
};
/* The GMAC nonce of frame number ctr of a direction: ctr u64 LE || 4 zero bytes. */
void net__frame_nonce(uint8_t nonce[CRYPTO_GMAC_NONCE], uint64_t ctr);
/* Decode the frame at the start of buf[0..avail) as frame number ctr of its direction,
 * whose tag is checked with mac (the inbound key); max is the payload limit (see
 * net__frame_max). Pure but for mac's scratch state: reads buf, writes only f.
 *   NET_OK, f->payload set: complete and authentic, f->size <= avail bytes long;
 *   NET_OK, f->payload NULL: incomplete, the frame needs f->size bytes (NET_FRAME_HDR
 *     while its length is not in yet);
 *   NET_ERR_FRAME_SIZE: the length prefix is above max;
 *   NET_ERR_MAC: the tag does not verify (altered, replayed, reordered or deleted). */
int net__frame_parse(struct crypto_gmac *mac, uint64_t ctr, size_t max, const uint8_t *buf,
		     size_t avail, struct net__frame *f);
/* The largest frame payload for messages of at most msg_max bytes: one such message, or
 * a bundle of smaller ones. */
size_t net__frame_max(size_t msg_max);
/* The next message of an authentic frame's payload[0..len), from *off on: NET_OK with
 * *msg and *msg_len set and *off moved past it, or NET_ERR_FRAME_BAD (a length runs
 * past the frame, or the frame holds no message), or NET_ERR_FRAME_SIZE (a message
 * above msg_max). Call while *off < len. Pure. */
int net__frame_next(const uint8_t *payload, size_t len, size_t msg_max, size_t *off,
		    const uint8_t **msg, uint32_t *msg_len);
struct net_conn *net__conn_new(struct net *net, int fd, int initiator, const char *addr_text);
void net__conn_fail(struct net_conn *c, int reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void net__conn_open(struct net_conn *c);
int net__conn_queue_raw(struct net_conn *c, const void *data, size_t len);
/* Room for len bytes at the end of the queue, in a chunk that has extra more bytes free
 * after them (so a frame and its tag stay in one chunk); the len bytes are queued
 * (their content is the caller's to write), the extra are not. */
int net__conn_reserve(struct net_conn *c, size_t len, size_t extra);
/* Write the open frame's length and tag: no message joins it any more. */
void net__conn_seal(struct net_conn *c);
void net__conn_flush(struct net_conn *c);
void net__reap(struct net *net);

/* handshake.c */
/* Decode hello (NET_HELLO_LEN bytes, borrowed) and check it against net's configuration
 * as the initiator that dialled replica expect_id (initiator != 0) or as the responder
 * would. NET_OK: peer's role, replica_id and pub are filled (addr is untouched).
 * Otherwise the refusal reason (NET_ERR_MAGIC, _VERSION, _HELLO, _GROUP, _EPOCH,
 * _UNKNOWN_KEY or _WRONG_PEER) with a log detail in detail[detail_len], and peer is
 * unchanged. Pure: no I/O, no state. */
int net__hello_parse(const struct net *net, int initiator, uint32_t expect_id,
		     const uint8_t hello[NET_HELLO_LEN], struct net_peer *peer, char *detail,
		     size_t detail_len);
/* Derive the session keys from the transcript hash th and the X25519 shared secret
 * (both borrowed) per net.h: keys c's inbound and outbound frame MACs by c->initiator,
 * sets c->th and c->auth_key. NET_ERR_CRYPTO if a crypto call fails (c keeps no MAC). */
int net__hs_keys(struct net_conn *c, const uint8_t th[CRYPTO_HASH_LEN],
		 const uint8_t shared[CRYPTO_X25519_LEN]);
/* Make our HELLO in c->hello_mine (fresh ephemeral key and nonce). The initiator's is made
 * and queued as its connect starts; the responder's only once the initiator's HELLO has
 * passed net__hello_parse. NET_ERR_CRYPTO or NET_ERR_NOMEM on failure. */
int net__hs_start(struct net_conn *c);
size_t net__hs_need(const struct net_conn *c);
void net__hs_input(struct net_conn *c);

/* listener.c */
void net__dial_down(struct net__dial *d, int proven);

#endif
