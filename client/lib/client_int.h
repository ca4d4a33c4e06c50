/* client_int.h: libbulwark's group client internals, shared by group.c (the session's
 * connections, lanes, the PBFT client machine, operations), blocking.c, status.c and
 * publish.c. Not installed. */
#ifndef BULWARK_CLIENT_INT_H
#define BULWARK_CLIENT_INT_H

#include <ev.h>
#include <stdint.h>

#include "client/bulwark.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "replica/core/pbft.h"
#include "wire/info.h"
#include "wire/wire.h"

/* Until every replica is connected, a new client holds its first request back for at
 * most the retransmission timeout, or this long once 2f+1 replicas are connected. */
#define BULWARK__QUORUM_WAIT_MS 100u

/* One replica of the group, as the session sees it. */
struct bulwark__replica {
	struct net_conn *conn;       /* the open connection, or NULL */
	struct crypto_hmac mac;      /* keyed with conn's session auth key while conn is set */
	char *host;                  /* owned */
	uint16_t port;
	char address[80];            /* "host:port" */
	/* the running status query */
	int info_asked;              /* INFO_REQ sent on the current connection */
	int info_have;               /* INFO received */
	struct wire_info info;
};

/* What the lanes of one key share: the configuration, the key, one authenticated
 * connection per replica, and the lane table through which replies reach their lane.
 * Reference-counted: one reference per lane not yet freed, and one per blocking call
 * running the loop (a callback may close the lane that call runs on). */
struct bulwark__session {
	struct ev_loop *loop;        /* the caller's (borrowed) or our own (own_loop) */
	int own_loop;
	uint32_t refs;
	uint32_t n, f;
	uint64_t group, epoch;
	int sign_requests;           /* client_auth = signatures */
	int read_quorum_2f1;
	uint64_t clock_now, clock_wall; /* bulwark__clock: as of loop iteration clock_iter */
	unsigned int clock_iter;
	int clock_valid;
	uint32_t retrans_ms;         /* [client] timeout_ms */
	uint32_t batch_max_bytes;    /* [group] batch_max_bytes: the largest request ordered */
	struct crypto_ed25519_key key;
	uint8_t (*replica_keys)[CRYPTO_ED25519_PUB]; /* n, owned */
	struct bulwark__replica *rep; /* n, owned */
	uint32_t nup;                /* replicas with an open connection */
	struct net *net;
	struct wire_limits lim;      /* decoding limits of replies */
	uint64_t open_ms;            /* monotonic time of the open */
	int settled;                 /* the connection set-up wait is over for good */
	uint64_t last_ts;            /* highest request timestamp any lane sent */
	struct pbft_update up;       /* the machines' output, flushed after each step */

	/* lanes[i] is the open lane numbered i, or NULL; cap slots, grown by doubling up
	 * to max_lanes. */
	struct bulwark_client **lanes;
	uint32_t cap;
	uint32_t max_lanes;          /* min(BULWARK_MAX_LANES, lim.max_lanes) */
	uint32_t nlanes;             /* open lanes */

	/* the status query (at most one per session: it runs the loop) */
	int status_busy;
	struct wire_buf scratch;

	struct bulwark__chunks *chunks; /* the running chunk upload (publish.c), or NULL */
};

/* One lane: a client identity (key, lane) with at most one outstanding operation. */
struct bulwark_client {
	struct bulwark__session *s;
	uint32_t lane;
	uint32_t op_timeout_ms;      /* 0: never */
	struct pbft_client *pc;      /* the client machine, one outstanding request */
	int stale;                   /* pc still holds an abandoned request: replace it */
	ev_timer timer;              /* the earliest of the deadlines below */
	uint64_t armed;              /* the deadline timer is set for; 0: stopped */
	ev_prepare done_w;           /* never started: fed to deliver completions */

	/* the outstanding operation */
	int busy;
	int invoked;                 /* handed to the machine (else waiting for connections) */
	int finished;                /* result stored, delivery fed */
	uint8_t op_type;             /* enum wire_kv_type */
	struct wire_buf op;          /* the encoded operation */
	uint64_t op_deadline;        /* monotonic ms; 0: none */
	uint64_t mach_deadline;      /* the machine's next retransmission; 0: none */
	bulwark_done_fn done;
	void *done_arg;
	struct bulwark_result res;   /* the stored result; value points into resbuf */
	struct wire_buf resbuf;

	int cb_depth;                /* user callbacks running */
	int closing;                 /* closed from inside a callback: free when it returns */
};

/* bulwark_submit_raw's operations: op bytes as given, the agreed result bytes returned
 * as res.value (op_type marker; not a wire type). */
#define BULWARK__OP_RAW 0xffu
/* wire/chunk.h's CHUNK_RECEIPT (client/lib does not include wire/chunk.h here). */
#define BULWARK__CHUNK_RECEIPT_TYPE 65u
struct bulwark__chunks;

/* publish.c: a CHUNK_RECEIPT arrived from replica id (ignored unless an upload runs). */
void bulwark__chunk_receipt(struct bulwark__session *s, uint32_t id, const uint8_t *buf,
			    size_t len);

/* Monotonic milliseconds and wall-clock microseconds. */
uint64_t bulwark__now_ms(void);
uint64_t bulwark__wall_us(void);

/* Take and drop a reference to s; the last drop closes the connections and frees s
 * (and its private loop). Never dropped inside a net callback. */
void bulwark__session_hold(struct bulwark__session *s);
void bulwark__session_release(struct bulwark__session *s);

/* status.c: an INFO arrived from replica id on its connection; a replica came up while
 * a status query runs. */
void bulwark__status_info(struct bulwark__session *s, uint32_t id, const uint8_t *buf,
			  size_t len);
void bulwark__status_up(struct bulwark__session *s, uint32_t id);

/* Run s's loop until *flag becomes 0 (blocking calls). A reference to s is held while
 * the loop runs, since a callback may close the caller's lane, even the last one; a
 * caller that uses s afterwards holds its own. BULWARK_ERR_LOOP from inside a callback
 * of that loop. */
int bulwark__run_until(struct bulwark__session *s, const int *flag);

#endif
