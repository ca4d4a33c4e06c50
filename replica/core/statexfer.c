/* statexfer.c: state transfer to a proven stable checkpoint: FETCH the partition tree
 * top-down (META children checked against their parent's digest), skip subtrees whose
 * digest equals the local one, copy differing partitions page by page (DATA), and let
 * the app check the root; serving FETCH from the app's checkpoint snapshots. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/pbft_int.h"
#include "replica/core/ptree.h"

void pbft__xfer_init(struct pbft__xfer *x)
{
	for (uint32_t i = 0; i < PBFT__XFER_WINDOW; i++)
		wire_buf_init(&x->slot[i].next_key);
}

void pbft__xfer_free(struct pbft__xfer *x)
{
	free(x->stack);
	x->stack = NULL;
	x->cap = 0;
	for (uint32_t i = 0; i < PBFT__XFER_WINDOW; i++)
		wire_buf_free(&x->slot[i].next_key);
}

size_t pbft__xfer_memory(const struct pbft__xfer *x)
{
	size_t m = (size_t)x->cap * sizeof(*x->stack);

	for (uint32_t i = 0; i < PBFT__XFER_WINDOW; i++)
		m += x->slot[i].next_key.cap;
	return m;
}

static uint32_t pbft__page_bytes(const struct pbft *r)
{
	uint64_t b = (uint64_t)r->lim.max_entries * 8;

	if (b > r->lim.max_message / 4)
		b = r->lim.max_message / 4;
	if (b > (4u << 20))
		b = 4u << 20;
	return (uint32_t)b;
}

/* How long to wait for a META or DATA before asking another replica. */
static uint64_t pbft__fetch_timeout(const struct pbft *r)
{
	uint64_t t = 2 * r->cfg.status_interval_ms;

	return t < r->cfg.view_change_timeout_ms ? t : r->cfg.view_change_timeout_ms;
}

/* The next replica of the checkpoint's proof (never ourselves), skipping those that
 * failed this transfer before (a peer that lost its snapshot in a crash ignores every
 * FETCH) until every candidate has; then they all get another chance. */
static uint32_t pbft__xfer_next_peer(struct pbft *r)
{
	struct pbft__xfer *x = &r->xfer;

	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t k = 0; k <= r->n; k++) {
			uint32_t cand;

			x->tries++;
			cand = r->target.count ? r->target.replica[x->tries % r->target.count] :
						 x->tries % r->n;
			if (cand != r->id && cand < r->n && !(x->silent >> cand & 1))
				return cand;
		}
		x->silent = 0;
	}
	return (r->id + 1) % r->n;
}

static void pbft__xfer_deadline(struct pbft *r)
{
	struct pbft__xfer *x = &r->xfer;

	x->deadline = 0;
	for (uint32_t i = 0; i < PBFT__XFER_WINDOW; i++) {
		if (x->slot[i].busy && (x->deadline == 0 || x->slot[i].deadline < x->deadline))
			x->deadline = x->slot[i].deadline;
	}
}

/* Ask the slot's peer for its node (or the next page of its partition). */
static int pbft__xfer_send(struct pbft *r, struct pbft__xslot *sl, struct pbft_update *up)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_FETCH);
	m.u.fetch.ckpt_seq = r->xfer.seq;
	m.u.fetch.level = sl->node.level;
	m.u.fetch.index = sl->node.index;
	if (sl->data && !sl->first_page) {
		m.u.fetch.start_key.p = sl->next_key.p;
		m.u.fetch.start_key.len = (uint32_t)sl->next_key.len;
	}
	sl->deadline = r->now + pbft__fetch_timeout(r);
	return pbft__send(r, up, PBFT_DEST_REPLICA, sl->peer, NULL, &m);
}

/* Ask another replica for the slot's node, a partition from its first page. */
static int pbft__xfer_retry(struct pbft *r, struct pbft__xslot *sl, struct pbft_update *up)
{
	sl->peer = pbft__xfer_next_peer(r);
	sl->first_page = 1;
	wire_buf_reset(&sl->next_key);
	return pbft__xfer_send(r, sl, up);
}

static int pbft__xfer_push(struct pbft__xfer *x, uint32_t level, uint64_t index,
			   const uint8_t *digest)
{
	if (x->depth == x->cap) {
		uint32_t cap = x->cap ? x->cap * 2 : 64;
		struct pbft__xnode *ns = realloc(x->stack, cap * sizeof(*ns));
		if (!ns)
			return PBFT_ERR_NOMEM;
		x->stack = ns;
		x->cap = cap;
	}
	x->stack[x->depth].level = level;
	x->stack[x->depth].index = index;
	memcpy(x->stack[x->depth].digest, digest, WIRE_DIGEST_LEN);
	x->depth++;
	return PBFT_OK;
}

static void pbft__xfer_reset(struct pbft__xfer *x)
{
	x->depth = 0;
	x->busy = 0;
	for (uint32_t i = 0; i < PBFT__XFER_WINDOW; i++)
		x->slot[i].busy = 0;
}

static int pbft__xfer_fill(struct pbft *r, struct pbft_update *up);

static int pbft__xfer_finish(struct pbft *r, struct pbft_update *up)
{
	struct pbft__xfer *x = &r->xfer;
	uint8_t digest[WIRE_DIGEST_LEN];
	int rc;

	if (r->cfg.app.finish_transfer(r->cfg.app.ctx, x->seq, x->digest) != 0) {
		r->dropped++;
		PBFT_TRACE(r, "state transfer %llu: root digest differs at the end -> start over from the root",
			   (unsigned long long)x->seq);
		pbft__xfer_reset(x);
		rc = pbft__xfer_push(x, 0, 0, x->digest);
		return rc ? rc : pbft__xfer_fill(r, up);
	}
	x->active = 0;
	x->deadline = 0;
	r->need_state = 0;
	r->last_executed = x->seq;
	r->durable = x->seq; /* finish_transfer's write is synced */
	if (r->last_committed < x->seq)
		r->last_committed = x->seq;
	if (r->last_proposed < x->seq)
		r->last_proposed = x->seq;
	r->last_status_exec = x->seq;
	PBFT_TRACE_INFO(r, "state transfer %llu: root digest matches -> executed = %llu",
			(unsigned long long)x->seq, (unsigned long long)x->seq);
	/* The client table came with the state: requests it shows executed stop waiting. */
	pbft__clients_clear(r);
	rc = pbft__pending_drop_executed(r);
	if (rc)
		return rc;
	pbft__timer_request(r, 1);
	/* Keep a snapshot of the new state to serve others. */
	if (r->cfg.app.checkpoint(r->cfg.app.ctx, x->seq, digest) != 0)
		return PBFT_ERR_APP;
	if (r->target.seq == x->seq) {
		rc = pbft__make_stable(r, &r->target, up);
		if (rc)
			return rc;
	} else if (r->target.seq < x->seq) {
		r->target.seq = 0;
	}
	return pbft__execute_ready(r, up);
}

/* Hand waiting nodes to free slots; finish when nothing is left. */
static int pbft__xfer_fill(struct pbft *r, struct pbft_update *up)
{
	struct pbft__xfer *x = &r->xfer;
	int rc;

	for (uint32_t i = 0; i < PBFT__XFER_WINDOW && x->depth > 0; i++) {
		struct pbft__xslot *sl = &x->slot[i];

		if (sl->busy)
			continue;
		sl->busy = 1;
		x->busy++;
		sl->node = x->stack[--x->depth];
		sl->data = sl->node.level == r->cfg.app.levels;
		sl->first_page = 1;
		wire_buf_reset(&sl->next_key);
		sl->peer = pbft__xfer_next_peer(r);
		rc = pbft__xfer_send(r, sl, up);
		if (rc)
			return rc;
	}
	pbft__xfer_deadline(r);
	if (x->busy == 0 && x->depth == 0)
		return pbft__xfer_finish(r, up);
	return PBFT_OK;
}

static void pbft__xfer_done(struct pbft__xfer *x, struct pbft__xslot *sl)
{
	sl->busy = 0;
	x->busy--;
}

int pbft__xfer_start(struct pbft *r, const struct pbft__proof *p, struct pbft_update *up)
{
	struct pbft__xfer *x = &r->xfer;
	uint8_t local[WIRE_DIGEST_LEN];
	int rc;

	if (x->active && x->seq == p->seq && memcmp(x->digest, p->digest, WIRE_DIGEST_LEN) == 0) {
		/* Already fetching that checkpoint (a new view names it again): go on. */
		if (p != &r->target)
			pbft__proof_copy(&r->target, p, r->n);
		return PBFT_OK;
	}
	if (p != &r->target)
		pbft__proof_copy(&r->target, p, r->n);
	x->active = 1;
	x->silent = 0;
	x->seq = r->target.seq;
	x->superseded = 0;
	pbft__clients_clear(r); /* the app's client table is about to change under it */
	memcpy(x->digest, r->target.digest, WIRE_DIGEST_LEN);
	pbft__xfer_reset(x);
	PBFT_TRACE_INFO(r, "checkpoint %llu proven, executed %llu -> state transfer",
			(unsigned long long)x->seq, (unsigned long long)r->last_executed);
	if (r->cfg.app.local_node(r->cfg.app.ctx, 0, 0, local) != 0)
		return PBFT_ERR_APP;
	if (memcmp(local, x->digest, WIRE_DIGEST_LEN) == 0)
		return pbft__xfer_finish(r, up);
	rc = pbft__xfer_push(x, 0, 0, x->digest);
	return rc ? rc : pbft__xfer_fill(r, up);
}

/* A checkpoint above the one being fetched became stable. Serving replicas keep the
 * previous stable snapshot, so the transfer goes on; once a second newer one is
 * stable the old one may be gone: move to the newest (subtrees already copied and
 * unchanged since are skipped). */
int pbft__xfer_newer(struct pbft *r, struct pbft_update *up)
{
	if (++r->xfer.superseded < 2)
		return PBFT_OK;
	PBFT_TRACE(r, "state transfer %llu: checkpoint %llu stable meanwhile -> fetch that one",
		   (unsigned long long)r->xfer.seq, (unsigned long long)r->target.seq);
	return pbft__xfer_start(r, &r->target, up);
}

/* Slots without an answer in time: ask other replicas (or move to a newer checkpoint,
 * which the silence may mean the others no longer hold). */
int pbft__xfer_tick(struct pbft *r, struct pbft_update *up)
{
	struct pbft__xfer *x = &r->xfer;
	int rc;

	for (uint32_t i = 0; i < PBFT__XFER_WINDOW; i++) {
		struct pbft__xslot *sl = &x->slot[i];

		if (!sl->busy || sl->deadline > r->now)
			continue;
		if (r->target.seq > x->seq) {
			PBFT_TRACE(r, "state transfer %llu: no answer, checkpoint %llu is stable -> fetch that one",
				   (unsigned long long)x->seq, (unsigned long long)r->target.seq);
			return pbft__xfer_start(r, &r->target, up);
		}
		x->silent |= 1ull << sl->peer;
		rc = pbft__xfer_retry(r, sl, up);
		if (rc)
			return rc;
		PBFT_TRACE(r, "state transfer %llu: no answer -> ask replica %u",
			   (unsigned long long)x->seq, sl->peer);
	}
	pbft__xfer_deadline(r);
	return PBFT_OK;
}

/* A wrong answer (digest mismatch): ask another replica for the same node. */
static int pbft__xfer_bad(struct pbft *r, struct pbft__xslot *sl, struct pbft_update *up,
			  const char *why)
{
	r->dropped++;
	r->xfer.silent |= 1ull << sl->peer;
	PBFT_TRACE(r, "state transfer %llu: %s from replica %u -> ask another replica",
		   (unsigned long long)r->xfer.seq, why, sl->peer);
	int rc = pbft__xfer_retry(r, sl, up);
	pbft__xfer_deadline(r);
	return rc;
}

/* The busy slot waiting for this answer from `from`, or NULL. */
static struct pbft__xslot *pbft__xfer_slot(struct pbft *r, uint32_t from, int data, uint32_t level,
					   uint64_t index)
{
	for (uint32_t i = 0; i < PBFT__XFER_WINDOW; i++) {
		struct pbft__xslot *sl = &r->xfer.slot[i];
		if (sl->busy && sl->peer == from && sl->data == data && sl->node.index == index &&
		    sl->node.level == level)
			return sl;
	}
	return NULL;
}

int pbft__recv_meta(struct pbft *r, const struct wire_msg *m, uint32_t from,
		    struct pbft_update *up)
{
	const struct wire_meta *mt = &m->u.meta;
	struct pbft__xfer *x = &r->xfer;
	struct pbft__xslot *sl;
	uint8_t h[WIRE_DIGEST_LEN];
	const uint8_t *child, *kids[PTREE_MAX_FANOUT];
	struct wire_iter it;
	uint32_t fan = r->cfg.app.fanout, i = 0;
	int rc;

	sl = x->active && m->hdr.sender == from && mt->ckpt_seq == x->seq ?
	     pbft__xfer_slot(r, from, 0, mt->level, mt->index) : NULL;
	if (!sl) {
		pbft__drop(r, "META not asked for");
		return PBFT_OK;
	}
	if (fan > PTREE_MAX_FANOUT || mt->children.count != fan ||
	    mt->children.bytes.len != fan * WIRE_DIGEST_LEN)
		return pbft__xfer_bad(r, sl, up, "META with a wrong child count");
	ptree_node_hash(mt->level, mt->index, mt->children.bytes.p, fan, h);
	if (memcmp(h, sl->node.digest, WIRE_DIGEST_LEN) != 0)
		return pbft__xfer_bad(r, sl, up, "META children not hashing to the parent");
	/* Push differing children, last first, so they are fetched in index order. */
	wire_iter_init(&it, &mt->children);
	while (i < fan && wire_next_child(&it, &child))
		kids[i++] = child;
	for (i = fan; i-- > 0;) {
		uint8_t local[WIRE_DIGEST_LEN];
		uint64_t idx = mt->index * fan + i;

		if (r->cfg.app.local_node(r->cfg.app.ctx, mt->level + 1, idx, local) != 0)
			return PBFT_ERR_APP;
		if (memcmp(local, kids[i], WIRE_DIGEST_LEN) == 0)
			continue;
		rc = pbft__xfer_push(x, mt->level + 1, idx, kids[i]);
		if (rc)
			return rc;
	}
	pbft__xfer_done(x, sl);
	return pbft__xfer_fill(r, up);
}

/* Bytewise order, a proper prefix first (ptree.h). */
static int pbft__keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = alen && blen ? memcmp(a, b, alen < blen ? alen : blen) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

int pbft__recv_data(struct pbft *r, const struct wire_msg *m, uint32_t from,
		    struct pbft_update *up)
{
	const struct wire_data *d = &m->u.data;
	struct pbft__xfer *x = &r->xfer;
	struct pbft__xslot *sl;
	struct wire_iter it;
	struct wire_data_item e;
	const uint8_t *lastk = NULL;
	uint32_t lastlen = 0;
	uint8_t local[WIRE_DIGEST_LEN];

	sl = x->active && m->hdr.sender == from && d->ckpt_seq == x->seq ?
	     pbft__xfer_slot(r, from, 1, r->cfg.app.levels, d->partition) : NULL;
	if (!sl) {
		pbft__drop(r, "DATA not asked for");
		return PBFT_OK;
	}
	/* Keys strictly ascending, and not before the page asked for. */
	wire_iter_init(&it, &d->entries);
	while (wire_next_data(&it, &e)) {
		if (lastk ? pbft__keycmp(lastk, lastlen, e.key.p, e.key.len) >= 0 :
			    (!sl->first_page && pbft__keycmp(sl->next_key.p, sl->next_key.len,
							     e.key.p, e.key.len) > 0))
			return pbft__xfer_bad(r, sl, up, "DATA keys out of order");
		lastk = e.key.p;
		lastlen = e.key.len;
	}
	if ((d->flags & WIRE_DATA_MORE) && !lastk)
		return pbft__xfer_bad(r, sl, up, "empty DATA page with more to come");
	if (r->cfg.app.write_partition(r->cfg.app.ctx, d->partition, sl->first_page, d) != 0)
		return pbft__xfer_bad(r, sl, up, "DATA the app refused");
	sl->first_page = 0;
	if (d->flags & WIRE_DATA_MORE) {
		/* Continue after the last key: its successor is key || 0x00. */
		wire_buf_reset(&sl->next_key);
		wire_put_fixed(&sl->next_key, lastk, lastlen);
		wire_put_u8(&sl->next_key, 0);
		if (wire_buf_error(&sl->next_key))
			return PBFT_ERR_NOMEM;
		int rc = pbft__xfer_send(r, sl, up);
		pbft__xfer_deadline(r);
		return rc;
	}
	if (r->cfg.app.local_node(r->cfg.app.ctx, r->cfg.app.levels, d->partition, local) != 0)
		return PBFT_ERR_APP;
	if (memcmp(local, sl->node.digest, WIRE_DIGEST_LEN) != 0)
		return pbft__xfer_bad(r, sl, up, "partition digest differs after DATA");
	PBFT_TRACE(r, "state transfer %llu: partition %llu copied and matches -> next",
		   (unsigned long long)x->seq, (unsigned long long)d->partition);
	pbft__xfer_done(x, sl);
	return pbft__xfer_fill(r, up);
}

/* ---------------------------------------------------------------- serving */
static int pbft__holds_ckpt(struct pbft *r, uint64_t seq)
{
	const struct pbft__ckpt *c;

	if (seq == 0 || seq > r->last_executed || seq < r->prev_low || r->need_state)
		return 0;
	if (seq == r->low || seq == r->prev_low)
		return 1;
	c = &r->ck[(seq / r->K) % r->nck];
	return seq % r->K == 0 && c->seq == seq && c->have_mine;
}

int pbft__recv_fetch(struct pbft *r, const struct wire_msg *m, uint32_t from,
		     struct pbft_update *up)
{
	const struct wire_fetch *f = &m->u.fetch;
	uint32_t levels = r->cfg.app.levels, fan = r->cfg.app.fanout;
	uint64_t width = 1;
	struct wire_buf *b = &r->scratch;
	struct wire_msg out;
	uint32_t count = 0;
	int more = 0;

	if (m->hdr.sender != from || f->level > levels) {
		pbft__drop(r, "FETCH malformed");
		return PBFT_OK;
	}
	for (uint32_t l = 0; l < f->level; l++)
		width *= fan;
	if (f->index >= width || (f->level < levels && f->start_key.len > 0)) {
		pbft__drop(r, "FETCH for a node that does not exist");
		return PBFT_OK;
	}
	if (!pbft__holds_ckpt(r, f->ckpt_seq)) {
		PBFT_TRACE(r, "FETCH from %u for checkpoint %llu not held -> ignore", from,
			   (unsigned long long)f->ckpt_seq);
		return PBFT_OK;
	}
	memset(&out, 0, sizeof(out));
	wire_buf_reset(b);
	if (f->level < levels) {
		if (r->cfg.app.tree_node(r->cfg.app.ctx, f->ckpt_seq, f->level, f->index, b,
					 &count) != 0 || wire_buf_error(b)) {
			PBFT_TRACE(r, "FETCH from %u: app cannot read the snapshot -> ignore", from);
			return PBFT_OK;
		}
		pbft__hdr(r, &out.hdr, WIRE_META);
		out.u.meta.ckpt_seq = f->ckpt_seq;
		out.u.meta.level = f->level;
		out.u.meta.index = f->index;
		out.u.meta.children.count = count;
		out.u.meta.children.bytes.p = b->p;
		out.u.meta.children.bytes.len = (uint32_t)b->len;
	} else {
		if (r->cfg.app.read_partition(r->cfg.app.ctx, f->ckpt_seq, f->index, f->start_key,
					      pbft__page_bytes(r), b, &count, &more) != 0 ||
		    wire_buf_error(b)) {
			PBFT_TRACE(r, "FETCH from %u: app cannot read the snapshot -> ignore", from);
			return PBFT_OK;
		}
		pbft__hdr(r, &out.hdr, WIRE_DATA);
		out.u.data.ckpt_seq = f->ckpt_seq;
		out.u.data.partition = f->index;
		out.u.data.flags = more ? WIRE_DATA_MORE : 0;
		out.u.data.entries.count = count;
		out.u.data.entries.bytes.p = b->p;
		out.u.data.entries.bytes.len = (uint32_t)b->len;
	}
	return pbft__send(r, up, PBFT_DEST_REPLICA, from, NULL, &out);
}
