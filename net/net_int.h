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
	struct crypto_hmac mac_out, mac_in;
	int have_macs;
	uint64_t ctr_out, ctr_in;
	size_t max_out;

	/* input */
	uint8_t *rbuf;
	size_t rcap, rlen;

	/* output */
	struct net__chunk *out_first, *out_last;
	size_t out_bytes;
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
struct net_conn *net__conn_new(struct net *net, int fd, int initiator, const char *addr_text);
void net__conn_fail(struct net_conn *c, int reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void net__conn_open(struct net_conn *c);
int net__conn_queue_raw(struct net_conn *c, const void *data, size_t len);
void net__conn_flush(struct net_conn *c);
void net__reap(struct net *net);

/* handshake.c */
int net__hs_start(struct net_conn *c);
size_t net__hs_need(const struct net_conn *c);
void net__hs_input(struct net_conn *c);

/* listener.c */
void net__dial_down(struct net__dial *d, int proven);

#endif
