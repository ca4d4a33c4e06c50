/* bwd_upd.h: bulwarkd's update-service glue (updates_glue.c, http_glue.c): chunk
 * uploads and fetches over net, signed freshness statements and the certificates built
 * from them, and the HTTP read plane's source. Internal to replica/. */
#ifndef BULWARK_BWD_UPD_H
#define BULWARK_BWD_UPD_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net.h"
#include "replica/app/updates.h"
#include "replica/http/http.h"
#include "wire/chunk.h"
#include "wire/upd.h"

struct bwd;

/* Statements kept at once (distinct statement bytes), cached channel documents, chunks
 * being fetched from peers at once, chunks waiting to be fetched, remembered channel
 * versions whose chunks were checked. */
#define BWD_UPD_SLOTS 16u
#define BWD_UPD_OWN_SLOTS 2u /* statements signed by one replica alone */
#define BWD_UPD_DOCS 64u
#define BWD_UPD_FETCH_INFLIGHT 4u
#define BWD_UPD_FETCH_QUEUE 8192u
#define BWD_UPD_HISTORY 64u
/* Least time between two own statements that differ only in seq (same bucket, index
 * and log). */
#define BWD_UPD_RESIGN_MS 200u
/* Local key of a chunk: 'c' | sha256 (in the store's local space). */
#define BWD_UPD_CHUNK_TAG ((uint8_t)'c')

/* One distinct statement and the valid signatures over it, by replica. */
struct bwd_upd_slot {
	int used;
	uint8_t raw[WIRE_UPD_STATEMENT_LEN];
	struct wire_upd_statement st;
	uint64_t have[(WIRE_UPD_MAX_REPLICAS + 63) / 64]; /* bit i: replica i signed */
	uint32_t count;
	uint8_t sig[WIRE_UPD_MAX_REPLICAS][WIRE_UPD_SIG_LEN];
};

/* A rendered channel document, shared by the responses that send it. */
struct bwd_upd_doc {
	unsigned refs;                /* the cache's reference + one per response */
	struct wire_buf body;
};
struct bwd_upd_docent {
	char name[WIRE_UPD_MAX_CHANNEL + 1];
	uint64_t version, cert_seq, cert_time;
	uint32_t cert_nsigs;
	struct bwd_upd_doc *doc;      /* NULL: free entry */
	uint64_t used;                /* for replacement: the least recently used goes */
};

/* What this replica's state was at an executed seq (to co-sign a peer's statement). */
struct bwd_upd_hist {
	uint64_t seq;
	uint8_t index_root[WIRE_UPD_HASH_LEN];
	uint64_t log_size;
	uint8_t log_root[WIRE_UPD_HASH_LEN];
};

struct bwd_upd_fetch {
	uint8_t sha[WIRE_UPD_HASH_LEN];
	uint32_t peer;                /* asked last */
	uint64_t asked;               /* monotonic ms of the last ask; 0: not yet */
	uint32_t tries;
};

struct bwd_upd_counters {
	uint64_t chunks_stored, chunks_refused, chunks_fetched, chunk_fetch_failures;
	uint64_t statements_signed, statements_received, statements_refused;
	uint64_t certificates;
};

struct bwd_upd {
	struct bwd *b;                            /* borrowed: the owner */
	struct updates_chunks chunks;
	uint32_t max_chunk;                       /* CHUNK_PUT data limit */
	uint64_t tick_ms, validity_ms;
	uint32_t threshold;                       /* signatures in a certificate */

	/* statements */
	uint64_t signed_seq, signed_time;         /* the last statement this replica signed */
	struct wire_upd_statement signed_st;      /* its content */
	uint64_t signed_at;                       /* monotonic ms of that signing */
	int signed_any;
	/* The newest statement this replica has signed, its own or a peer's it co-signed:
	 * it signs only statements newer than this one, so each (seq, time) at most once
	 * and never an old one again (no co-signing echo between replicas). */
	struct wire_upd_statement newest_st;
	int newest_any;
	int resign_pending;                       /* a new seq waits for BWD_UPD_RESIGN_MS */
	struct bwd_upd_slot slot[BWD_UPD_SLOTS];
	struct bwd_upd_hist hist[BWD_UPD_HISTORY];/* ring by seq % BWD_UPD_HISTORY: the state
						   * at each executed seq seen after a step */
	struct wire_upd_cert cert;
	int have_cert;
	ev_timer tick_w;

	/* HTTP */
	struct http_plane *http;
	struct bwd_upd_docent docs[BWD_UPD_DOCS];
	uint64_t doc_clock;
	struct wire_buf chunk_body;               /* scratch: a chunk being served (copied) */
	struct wire_buf env, group_doc;

	/* chunk fetches after PUBLISH */
	struct bwd_upd_fetch *fetch;              /* queue; the first inflight are asked */
	size_t nfetch;
	uint64_t checked_log;                     /* log leaves whose chunks were checked */
	uint32_t next_peer;

	struct wire_buf out;                      /* scratch: an outgoing message */
	struct bwd_upd_counters ctr;
};

/* updates_glue.c. The update service's configuration from the group's. */
void bwd__upd_config(const struct bwd *b, struct updates_config *uc);
/* Open after the app, the core and net; 0 or a BWD_ERR with b->why set. */
int bwd__upd_open(struct bwd *b);
void bwd__upd_close(struct bwd *b);
/* A frame of a type in 64..127 from peer (net's on_frame). Never closes a replica
 * connection for a refused statement; a malformed client frame closes it. */
void bwd__upd_frame(struct bwd *b, struct net_conn *conn, const uint8_t *p, size_t len);
/* After each core step: re-sign the statement if the executed seq changed, look for
 * missing chunks of newly published manifests. */
void bwd__upd_after_step(struct bwd *b);
/* The update service's Prometheus lines. */
int bwd__upd_metrics(struct bwd *b, struct wire_buf *out);
/* The store's local chunk space as updates_blob_ops (ctx = the store). */
void bwd__upd_blob_ops(struct bwd *b, struct updates_blob_ops *ops);

/* http_glue.c. Start the read plane on the replica's http_port; 0 or BWD_ERR_LISTEN. */
int bwd__http_open(struct bwd *b);
void bwd__http_close(struct bwd *b);
/* The certificate changed: drop cached documents. */
void bwd__http_invalidate(struct bwd *b);

#endif
