/* client_int.h: libbulwark's group client internals, shared by group.c (connections,
 * the PBFT client machine, operations), blocking.c and status.c. Not installed. */
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

/* One replica of the group, as the client sees it. */
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

struct bulwark_client {
	struct ev_loop *loop;        /* the caller's (borrowed) or our own (own_loop) */
	int own_loop;
	uint32_t n, f;
	uint64_t group, epoch;
	int sign_requests;           /* client_auth = signatures */
	int read_quorum_2f1;
	uint32_t retrans_ms;         /* [client] timeout_ms */
	uint32_t batch_max_bytes;    /* [group] batch_max_bytes: the largest request ordered */
	uint32_t op_timeout_ms;      /* 0: never */
	struct crypto_ed25519_key key;
	uint8_t (*replica_keys)[CRYPTO_ED25519_PUB]; /* n, owned */
	struct bulwark__replica *rep; /* n, owned */
	uint32_t nup;                /* replicas with an open connection */
	struct net *net;
	struct wire_limits lim;      /* decoding limits of replies */
	struct pbft_client *pc;      /* the client machine, one outstanding request */
	int stale;                   /* pc still holds an abandoned request: replace it */
	struct pbft_update up;
	uint64_t last_ts;            /* highest request timestamp sent */
	uint64_t open_ms;            /* monotonic time of the open */
	int settled;                 /* the connection set-up wait is over for good */
	ev_timer timer;              /* the earliest of the deadlines below */
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

	/* the status query */
	int status_busy;
	uint64_t status_deadline;
	struct wire_buf scratch;

	struct bulwark__chunks *chunks; /* the running chunk upload (publish.c), or NULL */

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
void bulwark__chunk_receipt(struct bulwark_client *c, uint32_t id, const uint8_t *buf, size_t len);

/* Monotonic milliseconds and wall-clock microseconds. */
uint64_t bulwark__now_ms(void);
uint64_t bulwark__wall_us(void);

/* Recompute and arm the client's timer from its deadlines. */
void bulwark__arm(struct bulwark_client *c);

/* status.c: an INFO arrived from replica id on its connection; a replica came up while
 * a status query runs; the timer fired (check the status deadline). */
void bulwark__status_info(struct bulwark_client *c, uint32_t id, const uint8_t *buf, size_t len);
void bulwark__status_up(struct bulwark_client *c, uint32_t id);
void bulwark__status_tick(struct bulwark_client *c, uint64_t now);

/* Run c's loop until *flag becomes 0 (blocking calls). BULWARK_ERR_LOOP from inside a
 * callback of that loop. */
int bulwark__run_until(struct bulwark_client *c, const int *flag);

#endif
