/* pbft_int.h: internal structures and cross-file functions of the PBFT replica core. */
#ifndef BULWARK_PBFT_INT_H
#define BULWARK_PBFT_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "replica/core/pbft.h"
#include "wire/wire.h"

/* Replicas per group: vote sets are 64-bit masks. */
#define PBFT__MAX_N 64u
/* Sequence numbers retransmitted to one lagging peer per STATUS round. */
#define PBFT__RETRANSMIT_MAX 16u
/* Cap of the view-change timeout doubling (timeout << at most this). */
#define PBFT__MAX_BACKOFF 10u
/* "No slot" in key maps and linked lists. */
#define PBFT__NONE UINT32_MAX
/* Trace lines are cut at this length. */
#define PBFT__TRACE_LEN 256u

/* ---------------------------------------------------------------- durable records
 * Every record value is little-endian, encoded with the wire_put_* functions.
 *
 *  PBFT__REC_VIEW     key 0    u64 view, u8 active (0: changing to `view`),
 *                              u64 last active view (timeouts double from it),
 *                              u64 max-s of the view's NEW-VIEW (0 while changing)
 *                              written before a VIEW-CHANGE is sent and when a view is
 *                              entered (NEW-VIEW accepted). A primary's NEW-VIEW
 *                              assigns every seq up to max-s, some perhaps beyond its
 *                              own window (it had not caught up to min-s yet), whose
 *                              PP records it cannot keep: after a restart it proposes
 *                              above max-s, never again at those seqs.
 *  PBFT__REC_PP       key seq  u64 view, digest[32], u64 time, u32 count, bytes reqs
 *                              the pre-prepare accepted (or proposed, or adopted from a
 *                              NEW-VIEW) for seq; written before the PREPARE that
 *                              depends on it (or the PRE-PREPARE the primary sends).
 *  PBFT__REC_PREPARED key seq  u64 view, digest[32], u8 has_batch,
 *                              [u64 time, u32 count, bytes reqs when has_batch]
 *                              the prepared certificate of seq; written before COMMIT.
 *                              has_batch = 0 means "the batch of the PP record of the
 *                              same seq" (same digest); before a PP record with another
 *                              digest replaces it, PREPARED is rewritten with the batch.
 *  PBFT__REC_STABLE   key 0    u64 seq, digest[32], u32 count, count x (u32 replica,
 *                              sig[64]) the last stable checkpoint and its proof (2f+1
 *                              signed CHECKPOINTs). Writing it deletes (del_below) the
 *                              PP and PREPARED records with key <= seq.
 * All set update.sync. The per-client table (last timestamp and reply) is no record:
 * it is part of the app's replicated state (pbft_app_ops.client_last); kind 5, which
 * once held it, is refused by pbft_new. */
enum pbft__rec_kind {
	PBFT__REC_VIEW = 1,
	PBFT__REC_PP = 2,
	PBFT__REC_PREPARED = 3,
	PBFT__REC_STABLE = 4
};

/* An owned copy of a batch. */
struct pbft__batch {
	uint64_t time;
	uint32_t count;
	uint8_t digest[WIRE_DIGEST_LEN];
	struct wire_buf reqs; /* count encoded requests (u32 len + body each) */
};

struct pbft__vote {
	uint64_t view;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint8_t set;
};

/* One sequence number inside the window (low, low + L]; slot seq % L. */
struct pbft__entry {
	uint64_t seq;          /* 0: slot unused */
	uint8_t has_pp;        /* cur is the accepted pre-prepare of view pp_view */
	uint8_t relayed;       /* cur is only a batch learned from a relayed PRE-PREPARE */
	uint8_t sent_prepare;
	uint8_t sent_commit;
	uint8_t committed;
	uint8_t has_p;         /* prepared certificate (p_view, pc) */
	uint8_t exec_pc;       /* committed batch is pc (else cur) */
	uint64_t pp_view;
	uint64_t relayed_view; /* view the relayed PRE-PREPARE claimed */
	struct pbft__batch cur;
	uint64_t p_view;
	uint64_t p_turn;       /* turn whose update holds the PREPARED record of (p_view, pc) */
	struct pbft__batch pc; /* batch of the prepared certificate */
	struct pbft__vote *prep;   /* n, by replica */
	struct pbft__vote *commit; /* n, by replica */
};

/* Signatures collected for one checkpoint sequence number inside the window. */
struct pbft__cpvote {
	uint8_t set;
	uint8_t verified;      /* its signature checked (always, unless idle_verify) */
	uint8_t digest[WIRE_DIGEST_LEN];
	uint8_t sig[WIRE_SIG_LEN];
};
struct pbft__ckpt {
	uint64_t seq;          /* 0: slot unused */
	uint8_t have_mine;
	uint8_t mine[WIRE_DIGEST_LEN];
	struct pbft__cpvote *v; /* n, by replica */
};
/* A replica's latest signed checkpoint above the window (we are behind). */
struct pbft__cplatest {
	uint64_t seq;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint8_t sig[WIRE_SIG_LEN];
};

/* A checkpoint with its proof: count (>= 2f+1) signatures of distinct replicas. */
struct pbft__proof {
	uint64_t seq;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint32_t count;
	uint32_t *replica;          /* n */
	uint8_t (*sig)[WIRE_SIG_LEN]; /* n */
};

/* ---------------------------------------------------------------- clients */
/* A client's exactly-once identity: its key and the lane (u32 little-endian), 36 bytes. */
#define PBFT__CID_LEN (WIRE_KEY_LEN + 4u)
static inline void pbft__cid(uint8_t out[PBFT__CID_LEN], const uint8_t *key, uint32_t lane)
{
	memcpy(out, key, WIRE_KEY_LEN);
	out[WIRE_KEY_LEN] = (uint8_t)lane;
	out[WIRE_KEY_LEN + 1] = (uint8_t)(lane >> 8);
	out[WIRE_KEY_LEN + 2] = (uint8_t)(lane >> 16);
	out[WIRE_KEY_LEN + 3] = (uint8_t)(lane >> 24);
}
static inline uint32_t pbft__cid_lane(const uint8_t *cid)
{
	return (uint32_t)cid[WIRE_KEY_LEN] | (uint32_t)cid[WIRE_KEY_LEN + 1] << 8 |
	       (uint32_t)cid[WIRE_KEY_LEN + 2] << 16 | (uint32_t)cid[WIRE_KEY_LEN + 3] << 24;
}

/* Client id -> slot index map, open addressing with linear probing and
 * backward-shift deletion. */
struct pbft__kmslot {
	uint32_t slot;         /* slot + 1, 0 = empty */
	uint8_t key[PBFT__CID_LEN];
};
struct pbft__keymap {
	struct pbft__kmslot *t;
	uint32_t cap;          /* power of two, >= 2 * max entries */
};

/* A cached answer of app.client_last: the client's last executed timestamp (0 if
 * unknown) and its result in the latest executed state. Only a cache: filled from
 * client_last or from a batch this replica executed, emptied on state transfer. */
struct pbft__client {
	uint8_t used;
	uint8_t key[PBFT__CID_LEN];
	uint64_t ts;           /* last executed timestamp */
	struct wire_buf result;
	uint32_t prev, next;   /* LRU list, UINT32_MAX ends */
};

/* A request waiting to be ordered (one per client, the latest). */
struct pbft__pending {
	uint8_t used;
	uint8_t queued;        /* in the proposal FIFO (not yet put in a batch by us) */
	uint8_t key[PBFT__CID_LEN];
	uint64_t ts;
	uint8_t digest[WIRE_DIGEST_LEN];
	struct wire_buf enc;   /* u32 len + request body, as in a batch */
	uint32_t prev, next;   /* FIFO links */
};

/* ---------------------------------------------------------------- state transfer */
/* Nodes fetched at once, spread over the replicas of the checkpoint's proof. */
#define PBFT__XFER_WINDOW 8u

struct pbft__xnode {
	uint32_t level;
	uint64_t index;
	uint8_t digest[WIRE_DIGEST_LEN];
};
/* One outstanding FETCH: an inner node (META) or a partition paged through (DATA). */
struct pbft__xslot {
	uint8_t busy;
	uint8_t data;          /* a partition */
	uint8_t first_page;
	uint32_t peer;
	uint64_t deadline;
	struct pbft__xnode node;
	struct wire_buf next_key;  /* continuation key of the partition */
};
struct pbft__xfer {
	int active;
	uint64_t seq;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint32_t tries;        /* peer rotation */
	uint64_t silent;       /* bit per replica that let a FETCH of this transfer time out
				* or answered it wrongly: asked again only when all have */
	uint32_t superseded;   /* newer stable checkpoints seen since the start */
	uint64_t deadline;     /* earliest slot deadline */
	struct pbft__xnode *stack; /* nodes still to fetch, depth first */
	uint32_t depth, cap;
	struct pbft__xslot slot[PBFT__XFER_WINDOW];
	uint32_t busy;
};

/* ---------------------------------------------------------------- peers' STATUS */
/* The latest STATUS of each replica: what the rest of the group is doing, used to tell
 * "the primary is stuck" from "we are behind" before blaming the primary. */
struct pbft__peer {
	uint64_t at;           /* `now` when it arrived; 0: none since we started */
	uint64_t view;
	uint64_t last_executed;
	uint8_t changing;      /* WIRE_STATUS_VIEW_CHANGE was set */
};

/* ---------------------------------------------------------------- the replica */
struct pbft {
	struct pbft_config cfg;
	struct wire_limits lim;
	uint32_t n, f, id, L, K;

	uint64_t view;
	int active;                /* 0: changing to `view` */
	uint64_t last_active_view; /* timeouts double for each view since */
	uint64_t low;              /* last stable checkpoint */
	uint64_t prev_low;         /* the one before: its snapshot is kept to serve transfers */
	uint64_t last_executed;
	uint64_t last_committed;
	uint64_t last_proposed;    /* primary: highest seq proposed */
	uint64_t nv_max_s;         /* max-s of the NEW-VIEW that started `view` (VIEW record) */
	uint64_t dropped;

	struct pbft__entry *log;   /* L */
	struct pbft__vote *votes;  /* L * 2n */
	struct pbft__ckpt *ck;     /* nck */
	uint32_t nck;
	struct pbft__cpvote *ckvotes; /* nck * n */
	struct pbft__cplatest *cplatest; /* n */
	struct pbft__proof stable;
	struct pbft__proof target; /* proven checkpoint above last_executed, seq 0 if none */
	struct pbft__proof ready;  /* proven checkpoint at or below last_executed, our own
				    * digest matching, waiting for its state to be durable
				    * here (seq 0 if none) */
	uint64_t durable;          /* our executed state is on disk up to this seq */
	int idle_work;             /* idle_verify: CHECKPOINTs wait for a PBFT_EV_IDLE check */
	struct wire_buf own_ckpt;  /* our latest signed CHECKPOINT, encoded */

	/* clients: cache of the app's client table, and the requests waiting */
	struct pbft__keymap cmap;
	struct pbft__client *clients; /* max_clients */
	uint32_t nclients, lru_head, lru_tail;
	struct pbft__keymap pmap;
	struct pbft__pending *pending; /* max_clients */
	uint32_t npending, nqueued, fifo_head, fifo_tail, pfree; /* pfree: free slots via next */

	/* view change */
	struct wire_buf *vc;       /* n: latest valid VIEW-CHANGE per replica, encoded */
	uint64_t *vc_view;         /* n: its view, 0 if none */
	struct wire_buf nv;        /* NEW-VIEW of the current view (for retransmission) */
	uint64_t vc_deadline;      /* view-change timer, 0 = stopped */
	uint64_t status_deadline;
	uint64_t last_status_exec; /* last_executed at the previous STATUS round */
	uint64_t last_status_target; /* target.seq at the previous STATUS round */

	struct pbft__xfer xfer;
	uint64_t uncertain_view;   /* cfg.votes_uncertain: the restored view; no PREPARE
				    * or PRE-PREPARE is sent in a view <= it */
	int uncertain;
	int need_state;            /* the app's state is incomplete (cfg.state_incomplete):
				    * fetch a proven checkpoint before executing */

	/* catching up after a (re)start, and what peers report */
	struct pbft__peer *peer;   /* n: latest STATUS per replica */
	int recovering;            /* started, not yet caught up with 2f+1 STATUS */
	uint64_t recover_until;    /* recovering ends at the latest at this `now` */

	/* scratch, reused */
	struct pbft_results results;
	uint32_t *marks;           /* per request of the executing batch */
	uint32_t marks_cap;
	struct pbft__keymap bmap;  /* executing batch: client -> index into blast */
	uint32_t bmap_alloc;       /* slots allocated in bmap.t (bmap.cap are in use) */
	uint64_t *blast;           /* per distinct client of the batch: last timestamp */
	struct wire_buf scratch, scratch2, batchbuf;
	struct wire_buf propdig;   /* the digests of the requests being proposed */
	uint64_t now, wall;
	uint64_t turn;             /* the driver's turns (pbft_update.again): records of an
				    * earlier turn are on disk */
	const uint8_t (*ev_digests)[WIRE_DIGEST_LEN]; /* the stepped event's (pbft_event) */
	uint32_t ev_ndigests;
	size_t fixed_mem;          /* arrays allocated by pbft_new */
	size_t dyn_mem;            /* capacity of per-entry, per-client and per-replica buffers */
};

/* ---------------------------------------------------------------- helpers */
/* May this replica cast a PREPARE or PRE-PREPARE in view? Not if it restarted after
 * losing unsynced records and view is one it may have voted in before (votes_uncertain). */
static inline int pbft__may_vote(const struct pbft *r, uint64_t view)
{
	return !r->uncertain || view > r->uncertain_view;
}

/* Run stmt (which may grow buffer buf) and account the growth in r->dyn_mem. Buffers
 * never shrink before pbft_free, so the sum stays exact without scanning. */
#define PBFT__ACCT(r, buf, stmt) do {                                  \
		size_t acct_cap0_ = (buf)->cap;                        \
		stmt;                                                  \
		(r)->dyn_mem += (buf)->cap - acct_cap0_;               \
	} while (0)

/* Whether a line of level lv would reach a tracer: checked before any formatting. */
#define PBFT__TRACING(r, lv)                                                            \
	(((r)->cfg.tracer.trace != NULL || (r)->cfg.tracer.trace_level != NULL) &&      \
	 (lv) >= (r)->cfg.tracer.min_level)
void pbft__trace(struct pbft *r, enum pbft_trace_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* PBFT_TRACE: a debug decision; PBFT_TRACE_INFO: one an operator should see. */
#define PBFT_TRACE(r, ...)                                                              \
	do {                                                                            \
		if (PBFT__TRACING(r, PBFT_TRACE_DEBUG))                                 \
			pbft__trace((r), PBFT_TRACE_DEBUG, __VA_ARGS__);                \
	} while (0)
#define PBFT_TRACE_INFO(r, ...)                                                         \
	do {                                                                            \
		if (PBFT__TRACING(r, PBFT_TRACE_INFO))                                  \
			pbft__trace((r), PBFT_TRACE_INFO, __VA_ARGS__);                 \
	} while (0)

static inline uint32_t pbft__primary(const struct pbft *r, uint64_t view)
{
	return (uint32_t)(view % r->n);
}
static inline int pbft__is_primary(const struct pbft *r)
{
	return pbft__primary(r, r->view) == r->id;
}
uint64_t pbft__timeout(const struct pbft *r);
void pbft__drop(struct pbft *r, const char *why);

/* update.c: building the update */
void pbft__hdr(const struct pbft *r, struct wire_hdr *h, uint8_t type);
int pbft__send(struct pbft *r, struct pbft_update *up, enum pbft_dest dest, uint32_t replica,
	       const uint8_t *client, const struct wire_msg *m);
int pbft__send_signed(struct pbft *r, struct pbft_update *up, enum pbft_dest dest,
		      uint32_t replica, struct wire_msg *m, struct wire_buf *copy);
int pbft__send_raw(struct pbft_update *up, enum pbft_dest dest, uint32_t replica,
		   const uint8_t *p, size_t len);
int pbft__record(struct pbft_update *up, uint8_t kind, uint64_t key, const struct wire_buf *val,
		 int sync);
int pbft__record_del(struct pbft_update *up, uint8_t kind, uint64_t below);
void pbft__put_batch(struct wire_buf *b, const struct pbft__batch *bt);
int pbft__batch_set(struct pbft *r, struct pbft__batch *dst, const struct wire_batch *src,
		    const uint8_t digest[WIRE_DIGEST_LEN]);
int pbft__batch_copy(struct pbft *r, struct pbft__batch *dst, const struct pbft__batch *src);
void pbft__batch_view(const struct pbft__batch *b, struct wire_batch *out);
void pbft__batch_null(struct pbft *r, struct pbft__batch *b);

/* replica.c */
struct pbft__entry *pbft__entry(struct pbft *r, uint64_t seq, int create);
int pbft__state_unknown(const struct pbft *r);
void pbft__entry_clear(struct pbft *r, struct pbft__entry *e);
int pbft__in_window(const struct pbft *r, uint64_t seq);
void pbft__timer_request(struct pbft *r, int progress);

/* request.c */
int pbft__keymap_init(struct pbft__keymap *m, uint32_t entries);
void pbft__keymap_free(struct pbft__keymap *m);
int pbft__recv_request(struct pbft *r, const struct wire_msg *m, uint32_t from,
		       const uint8_t *from_client, struct pbft_update *up);
struct pbft__client *pbft__client_find(struct pbft *r, const uint8_t *key);
struct pbft__client *pbft__client_touch(struct pbft *r, const uint8_t *key);
int pbft__client_get(struct pbft *r, const uint8_t *key, struct pbft__client **out);
void pbft__clients_clear(struct pbft *r);
int pbft__pending_drop_executed(struct pbft *r);
uint32_t pbft__keymap_find(const struct pbft__keymap *m, const uint8_t *key);
void pbft__keymap_put(struct pbft__keymap *m, const uint8_t *key, uint32_t slot);
struct pbft__pending *pbft__pending_find(struct pbft *r, const uint8_t *key);
void pbft__pending_init(struct pbft *r);
void pbft__pending_remove(struct pbft *r, struct pbft__pending *p);
void pbft__pending_requeue_all(struct pbft *r);
void pbft__pending_unqueue(struct pbft *r, const uint8_t *key, uint64_t ts);
int pbft__propose(struct pbft *r, struct pbft_update *up);
int pbft__send_reply(struct pbft *r, struct pbft_update *up, const uint8_t *client,
		     uint64_t view, uint64_t ts, uint32_t flags, const uint8_t *res, size_t len);

/* recv_preprepare.c, recv_prepare.c, recv_commit.c */
int pbft__recv_preprepare(struct pbft *r, const struct wire_msg *m, uint32_t from,
			  struct pbft_update *up);
int pbft__accept_pp(struct pbft *r, struct pbft__entry *e, uint64_t view,
		    struct pbft_update *up);
int pbft__recv_prepare(struct pbft *r, const struct wire_msg *m, uint32_t from,
		       struct pbft_update *up);
int pbft__check_prepared(struct pbft *r, struct pbft__entry *e, struct pbft_update *up);
int pbft__recv_commit(struct pbft *r, const struct wire_msg *m, uint32_t from,
		      struct pbft_update *up);
int pbft__check_committed(struct pbft *r, struct pbft__entry *e, uint64_t view,
			  const uint8_t *digest, struct pbft_update *up);
int pbft__pp_record(struct pbft *r, struct pbft_update *up, const struct pbft__entry *e);

/* execute.c */
int pbft__execute_ready(struct pbft *r, struct pbft_update *up);

/* checkpoint.c */
int pbft__take_checkpoint(struct pbft *r, uint64_t seq, struct pbft_update *up);
int pbft__recv_checkpoint(struct pbft *r, const struct wire_msg *m, struct pbft_update *up);
int pbft__checkpoint_encode(const struct pbft *r, struct wire_buf *b, uint32_t replica,
			    uint64_t seq, const uint8_t *digest, const uint8_t *sig);
int pbft__verify_ckpt_sig(struct pbft *r, uint32_t replica, uint64_t seq, const uint8_t *digest,
			  const uint8_t *sig);
int pbft__make_stable(struct pbft *r, const struct pbft__proof *p, struct pbft_update *up);
int pbft__durable(struct pbft *r, uint64_t seq, struct pbft_update *up);
int pbft__idle(struct pbft *r, struct pbft_update *up);
int pbft__proof_record(struct pbft *r, struct pbft_update *up);
void pbft__proof_copy(struct pbft__proof *dst, const struct pbft__proof *src, uint32_t n);
int pbft__relay_proof(struct pbft *r, struct pbft_update *up, uint32_t to);

/* viewchange.c */
int pbft__start_view_change(struct pbft *r, uint64_t view, struct pbft_update *up);
int pbft__resend_vc(struct pbft *r, struct pbft_update *up);
int pbft__recv_viewchange(struct pbft *r, const struct wire_msg *m, struct pbft_update *up);
int pbft__recv_newview(struct pbft *r, const struct wire_msg *m, struct pbft_update *up);
int pbft__view_record(struct pbft *r, struct pbft_update *up);

/* statexfer.c */
int pbft__xfer_start(struct pbft *r, const struct pbft__proof *p, struct pbft_update *up);
int pbft__xfer_tick(struct pbft *r, struct pbft_update *up);
int pbft__recv_fetch(struct pbft *r, const struct wire_msg *m, uint32_t from,
		     struct pbft_update *up);
int pbft__recv_meta(struct pbft *r, const struct wire_msg *m, uint32_t from,
		    struct pbft_update *up);
int pbft__recv_data(struct pbft *r, const struct wire_msg *m, uint32_t from,
		    struct pbft_update *up);
void pbft__xfer_init(struct pbft__xfer *x);
void pbft__xfer_free(struct pbft__xfer *x);
size_t pbft__xfer_memory(const struct pbft__xfer *x);
int pbft__xfer_newer(struct pbft *r, struct pbft_update *up);

/* status.c */
int pbft__send_status(struct pbft *r, struct pbft_update *up);
int pbft__recv_status(struct pbft *r, const struct wire_msg *m, uint32_t from,
		      struct pbft_update *up);

/* records.c */
int pbft__restore(struct pbft *r, const struct pbft_record *recs, const uint8_t *bytes,
		  size_t nrec);

#endif
