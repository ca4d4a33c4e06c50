/* replica.c: creating and freeing a replica, the step dispatch, timers, the log window
 * and pbft_get_status. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/pbft_int.h"

const char *pbft_strerror(int err)
{
	switch (err) {
	case PBFT_OK: return "success";
	case PBFT_ERR_ARG: return "bad configuration or argument";
	case PBFT_ERR_NOMEM: return "out of memory";
	case PBFT_ERR_BUSY: return "a request is already outstanding";
	case PBFT_ERR_APP: return "an application or crypto operation failed";
	case PBFT_ERR_RECORD: return "malformed durable record";
	default: return "unknown pbft error";
	}
}

/* ---------------------------------------------------------------- window */
int pbft__in_window(const struct pbft *r, uint64_t seq)
{
	return seq > r->low && seq <= r->low + r->L;
}

void pbft__entry_clear(struct pbft *r, struct pbft__entry *e)
{
	e->seq = 0;
	e->has_pp = e->relayed = e->sent_prepare = e->sent_commit = 0;
	e->committed = e->has_p = e->exec_pc = 0;
	e->pp_view = e->relayed_view = e->p_view = 0;
	e->cur.count = 0;
	e->pc.count = 0;
	wire_buf_reset(&e->cur.reqs);
	wire_buf_reset(&e->pc.reqs);
	memset(e->prep, 0, r->n * sizeof(*e->prep));
	memset(e->commit, 0, r->n * sizeof(*e->commit));
}

/* The entry of seq, or NULL when seq is outside the window (or absent and !create). */
struct pbft__entry *pbft__entry(struct pbft *r, uint64_t seq, int create)
{
	struct pbft__entry *e;

	if (!pbft__in_window(r, seq))
		return NULL;
	e = &r->log[seq % r->L];
	if (e->seq == seq)
		return e;
	if (!create)
		return NULL;
	/* Another seq in this slot is necessarily <= low: stale. */
	pbft__entry_clear(r, e);
	e->seq = seq;
	return e;
}

/* ---------------------------------------------------------------- timers */
uint64_t pbft__timeout(const struct pbft *r)
{
	uint64_t k = 0;

	if (!r->active && r->view > r->last_active_view + 1)
		k = r->view - r->last_active_view - 1;
	if (k > PBFT__MAX_BACKOFF)
		k = PBFT__MAX_BACKOFF;
	return r->cfg.view_change_timeout_ms << k;
}

/* Requests are waiting: keep the view-change timer running (restart it on progress);
 * none: stop it. Only in an active view; the new-view timer is separate. */
void pbft__timer_request(struct pbft *r, int progress)
{
	if (!r->active)
		return;
	if (r->npending == 0 || r->recovering) {
		/* Nothing waits; or we are still catching up after a start and cannot tell
		 * a stuck primary from our own lag (pbft__recovery_check arms it later). */
		r->vc_deadline = 0;
		return;
	}
	if (r->vc_deadline == 0 || progress)
		r->vc_deadline = r->now + pbft__timeout(r);
}

/* ---------------------------------------------------------------- peers' STATUS */
/* The app's state cannot be read: a transfer is under way, or one must be made first. */
int pbft__state_unknown(const struct pbft *r)
{
	return r->xfer.active || r->need_state;
}

/* A STATUS counts as current for three status rounds. */
static int pbft__peer_recent(const struct pbft *r, uint32_t j)
{
	const struct pbft__peer *p = &r->peer[j];

	return j != r->id && p->at != 0 && r->now - p->at <= 3 * r->cfg.status_interval_ms;
}

/* 1 if f+1 replicas (so at least one correct one) report, in current STATUS messages,
 * that they are active in our view and executed beyond us: the view's primary is
 * making progress and what we wait for is our own catch-up (retransmission or state
 * transfer), not a new primary. f faulty replicas alone cannot make this true. */
static int pbft__lagging(const struct pbft *r)
{
	uint32_t ahead = 0;

	for (uint32_t j = 0; j < r->n; j++) {
		const struct pbft__peer *p = &r->peer[j];

		if (pbft__peer_recent(r, j) && !p->changing && p->view == r->view &&
		    p->last_executed > r->last_executed)
			ahead++;
	}
	return ahead >= r->f + 1;
}

/* 1 if f+1 replicas report, in current STATUS messages, that they are active (not
 * changing views) in a view below the one we are changing to. */
static int pbft__group_active_below(const struct pbft *r)
{
	uint32_t below = 0;

	for (uint32_t j = 0; j < r->n; j++) {
		const struct pbft__peer *p = &r->peer[j];

		if (pbft__peer_recent(r, j) && !p->changing && p->view < r->view)
			below++;
	}
	return below >= r->f + 1;
}

/* After a (re)start the replica does not know how far the group has gone: a request it
 * learns of may be one the group executed long ago (a client's retransmission), and
 * its timer would blame a primary that is doing fine. It arms the request timer only
 * once STATUS from 2f other replicas arrived (2f+1 with itself: at least f+1 correct)
 * and fewer than f+1 of them are active in its view beyond it (so what 2f+1 replicas
 * show has been caught up), its state is usable and no proven checkpoint is ahead. A
 * deadline bounds the wait, so a replica that never hears enough STATUS still blames
 * a silent primary eventually. Safety does not depend on any of this: only when this
 * replica asks for a view change. */
static void pbft__recovery_check(struct pbft *r)
{
	uint32_t heard = 0;

	if (!r->recovering)
		return;
	for (uint32_t j = 0; j < r->n; j++)
		if (j != r->id && r->peer[j].at != 0)
			heard++;
	if (r->now < r->recover_until &&
	    (heard < 2 * r->f || pbft__lagging(r) || pbft__state_unknown(r) ||
	     r->target.seq > r->last_executed))
		return;
	r->recovering = 0;
	PBFT_TRACE_INFO(r, "view %llu: %s, executed %llu -> caught up, request timer on",
			(unsigned long long)r->view, heard >= 2 * r->f ? "STATUS from 2f replicas" :
			"recovery wait over", (unsigned long long)r->last_executed);
	pbft__timer_request(r, 1);
}

static uint64_t pbft__min_deadline(uint64_t a, uint64_t b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

static int pbft__timers(struct pbft *r, struct pbft_update *up)
{
	int rc;

	/* Restarted while changing views: our VIEW-CHANGE is not kept, send it again. */
	if (!r->active && r->vc_view[r->id] != r->view) {
		rc = pbft__resend_vc(r, up);
		if (rc)
			return rc;
	}
	if (r->need_state && !r->xfer.active && r->target.seq > 0) {
		/* Restarted with an incomplete state: fetch a proven checkpoint first. */
		PBFT_TRACE_INFO(r, "state incomplete at start, checkpoint %llu proven -> state transfer",
				(unsigned long long)r->target.seq);
		rc = pbft__xfer_start(r, &r->target, up);
		if (rc)
			return rc;
	}
	pbft__recovery_check(r);
	if (r->vc_deadline && r->now >= r->vc_deadline && r->active &&
	    (pbft__state_unknown(r) || r->target.seq > r->last_executed)) {
		/* We are behind a proven checkpoint: the group is making progress without
		 * us; blaming its primary would only take us out of its view. */
		PBFT_TRACE(r, "view %llu: timer expired while behind checkpoint %llu -> wait for state",
			   (unsigned long long)r->view, (unsigned long long)r->target.seq);
		r->vc_deadline = r->now + pbft__timeout(r);
	} else if (r->vc_deadline && r->now >= r->vc_deadline && r->active && pbft__lagging(r)) {
		/* f+1 replicas of our view executed beyond us: the primary is live and
		 * the requests we wait for may be in what we have not caught up with. */
		PBFT_TRACE(r, "view %llu: timer expired, f+1 replicas executed beyond %llu -> catch up, no view change",
			   (unsigned long long)r->view, (unsigned long long)r->last_executed);
		r->vc_deadline = r->now + pbft__timeout(r);
	} else if (r->vc_deadline && r->now >= r->vc_deadline && !r->active &&
		   pbft__group_active_below(r)) {
		/* Escalation cap. We are changing to r->view, alone or nearly: f+1 replicas
		 * (one correct at least) are active in lower views, so no 2f+1 quorum for a
		 * view above theirs can form until they time out themselves, and they move
		 * one view at a time from theirs. Moving on to r->view + 1 would only put us
		 * farther from the view the group changes to next (a replica rejoins when the
		 * group reaches its view: standard PBFT cannot take back a VIEW-CHANGE, and
		 * we never send PREPARE or COMMIT below r->view again). So we stay, keeping
		 * the timeout of this view (it stops doubling), and meanwhile execute what
		 * the group commits (commit certificates: relayed PRE-PREPAREs + 2f+1
		 * COMMITs, accepted in any view up to ours). Joining f+1 VIEW-CHANGEs for
		 * higher views still works as ever; so safety is unchanged, and liveness
		 * too: if the group does get stuck, its correct replicas time out and their
		 * STATUS stops counting here. */
		PBFT_TRACE_INFO(r, "view %llu: timer expired, f+1 replicas active in lower views -> stay, no escalation",
				(unsigned long long)r->view);
		r->vc_deadline = r->now + pbft__timeout(r);
	}
	if (r->vc_deadline && r->now >= r->vc_deadline) {
		PBFT_TRACE_INFO(r, "view %llu: timer expired%s -> view change to %llu",
				(unsigned long long)r->view, r->active ? " with requests waiting" :
				" before NEW-VIEW", (unsigned long long)(r->view + 1));
		rc = pbft__start_view_change(r, r->view + 1, up);
		if (rc)
			return rc;
	}
	if (r->status_deadline && r->now >= r->status_deadline) {
		r->status_deadline = r->now + r->cfg.status_interval_ms;
		rc = pbft__send_status(r, up);
		if (rc)
			return rc;
		/* A proven checkpoint we neither reach by executing nor approach: fetch it.
		 * Also when one known a whole round ago is still ahead (retransmission is
		 * slower than the group). */
		if (r->target.seq > r->last_executed && !r->xfer.active &&
		    (r->last_executed == r->last_status_exec ||
		     r->last_status_target > r->last_executed)) {
			PBFT_TRACE_INFO(r, "checkpoint %llu stable, executed %llu, not reached in a round -> state transfer",
					(unsigned long long)r->target.seq,
					(unsigned long long)r->last_executed);
			rc = pbft__xfer_start(r, &r->target, up);
			if (rc)
				return rc;
		}
		r->last_status_exec = r->last_executed;
		r->last_status_target = r->target.seq;
	}
	if (r->xfer.active && r->xfer.deadline && r->now >= r->xfer.deadline) {
		rc = pbft__xfer_tick(r, up);
		if (rc)
			return rc;
	}
	return PBFT_OK;
}

/* ---------------------------------------------------------------- step */
static int pbft__recv(struct pbft *r, const struct pbft_event *ev, struct pbft_update *up)
{
	const struct wire_msg *m = ev->msg;
	uint32_t from = ev->from;

	if (!m) {
		pbft__drop(r, "message event without a message");
		return PBFT_OK;
	}
	if (m->hdr.group != r->cfg.group || m->hdr.epoch != r->cfg.epoch) {
		pbft__drop(r, "message for another group or epoch");
		return PBFT_OK;
	}
	if (m->hdr.type == WIRE_REQUEST)
		return pbft__recv_request(r, m, from, ev->from_client, up);
	/* Everything else comes from a replica of the group, never from ourselves. */
	if (from >= r->n || from == r->id) {
		pbft__drop(r, "replica message from a non-member or from self");
		return PBFT_OK;
	}
	switch (m->hdr.type) {
	case WIRE_PREPREPARE: return pbft__recv_preprepare(r, m, from, up);
	case WIRE_PREPARE: return pbft__recv_prepare(r, m, from, up);
	case WIRE_COMMIT: return pbft__recv_commit(r, m, from, up);
	case WIRE_CHECKPOINT: return pbft__recv_checkpoint(r, m, up);
	case WIRE_VIEWCHANGE: return pbft__recv_viewchange(r, m, up);
	case WIRE_NEWVIEW: return pbft__recv_newview(r, m, up);
	case WIRE_STATUS: return pbft__recv_status(r, m, from, up);
	case WIRE_FETCH: return pbft__recv_fetch(r, m, from, up);
	case WIRE_META: return pbft__recv_meta(r, m, from, up);
	case WIRE_DATA: return pbft__recv_data(r, m, from, up);
	default:
		pbft__drop(r, "message type not for a replica");
		return PBFT_OK;
	}
}

/* The event types this replica takes: DURABLE and IDLE only with their options. */
static int pbft__event_known(const struct pbft *r, enum pbft_event_type type)
{
	switch (type) {
	case PBFT_EV_MESSAGE:
	case PBFT_EV_TICK:
	case PBFT_EV_FLUSH:
		return 1;
	case PBFT_EV_DURABLE:
		return r->cfg.durable_async;
	case PBFT_EV_IDLE:
		return r->cfg.idle_verify;
	}
	return 0;
}

int pbft_step(struct pbft *r, const struct pbft_event *ev, struct pbft_update *up)
{
	int rc = PBFT_OK;

	/* Refused before anything changes. */
	if (!r || !ev || !up || !pbft__event_known(r, ev->type))
		return PBFT_ERR_ARG;
	if (ev->now > r->now)
		r->now = ev->now;
	r->wall = ev->wall;
	/* Batches held for the previous turn's records (pbft_update.again) go first. */
	rc = pbft__execute_ready(r, up);
	if (rc == PBFT_OK && ev->type == PBFT_EV_MESSAGE) {
		r->ev_digests = ev->req_digests;
		r->ev_ndigests = ev->req_digests != NULL ? ev->nreq_digests : 0;
		rc = pbft__recv(r, ev, up);
		r->ev_digests = NULL;
		r->ev_ndigests = 0;
	} else if (rc == PBFT_OK && ev->type == PBFT_EV_DURABLE) {
		rc = pbft__durable(r, ev->durable, up);
	} else if (rc == PBFT_OK && ev->type == PBFT_EV_IDLE) {
		rc = pbft__idle(r, up);
	}
	if (rc == PBFT_OK)
		rc = pbft__timers(r, up);
	if (rc == PBFT_OK && (!r->cfg.batch_on_flush || ev->type == PBFT_EV_FLUSH))
		rc = pbft__propose(r, up);
	up->idle = r->idle_work;
	up->deadline = pbft__min_deadline(pbft__min_deadline(r->vc_deadline, r->status_deadline),
					  r->xfer.active ? r->xfer.deadline : 0);
	/* The driver persists the records of a turn before the next turn's events. */
	if (!r->cfg.batch_on_flush || ev->type == PBFT_EV_FLUSH)
		r->turn++;
	return rc;
}

/* ---------------------------------------------------------------- new, free */
static int pbft__check_config(const struct pbft_config *c, const struct wire_limits *lim)
{
	const struct pbft_crypto_ops *k = &c->crypto;
	const struct pbft_app_ops *a = &c->app;
	uint64_t parts = 1;

	if (c->f < 1 || c->n != 3 * c->f + 1 || c->n > PBFT__MAX_N || c->id >= c->n)
		return PBFT_ERR_ARG;
	if (c->checkpoint_interval == 0 || c->log_window < c->checkpoint_interval ||
	    c->log_window % c->checkpoint_interval != 0 ||
	    (uint64_t)c->log_window * 2 > lim->max_log || c->n > lim->max_replicas)
		return PBFT_ERR_ARG;
	if (c->batch_max_requests == 0 || c->batch_max_requests > 65535 || c->batch_max_bytes == 0 ||
	    c->pipeline == 0 || c->max_clients == 0 || c->max_clients > (1u << 24))
		return PBFT_ERR_ARG;
	if (c->max_clients < c->batch_max_requests)
		return PBFT_ERR_ARG;
	if (c->view_change_timeout_ms == 0 || c->status_interval_ms == 0)
		return PBFT_ERR_ARG;
	if (!k->sign || !k->verify || !k->check_request)
		return PBFT_ERR_ARG;
	if (!a->execute || !a->execute_ro || !a->checkpoint || !a->release || !a->tree_node ||
	    !a->read_partition || !a->local_node || !a->write_partition || !a->finish_transfer ||
	    !a->client_last || (c->durable_async && !a->sync))
		return PBFT_ERR_ARG;
	if (a->fanout < 2 || a->levels < 1)
		return PBFT_ERR_ARG;
	for (uint32_t i = 0; i < a->levels; i++) {
		parts *= a->fanout;
		if (parts > (1u << 24))
			return PBFT_ERR_ARG;
	}
	return PBFT_OK;
}

static int pbft__proof_alloc(struct pbft__proof *p, uint32_t n)
{
	p->replica = calloc(n, sizeof(*p->replica));
	p->sig = calloc(n, sizeof(*p->sig));
	return p->replica && p->sig ? PBFT_OK : PBFT_ERR_NOMEM;
}

int pbft_new(const struct pbft_config *cfg, const struct pbft_record *records,
	     const uint8_t *rec_bytes, size_t nrec, uint64_t last_executed, uint64_t now,
	     struct pbft **out)
{
	struct pbft *r;
	int rc;

	if (!cfg || !out || (nrec && (!records || !rec_bytes)))
		return PBFT_ERR_ARG;
	*out = NULL;
	rc = pbft__check_config(cfg, cfg->limits ? cfg->limits : &wire_limits_default);
	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return PBFT_ERR_NOMEM;
	r->cfg = *cfg;
	r->lim = cfg->limits ? *cfg->limits : wire_limits_default;
	r->cfg.limits = &r->lim;
	r->n = cfg->n;
	r->f = cfg->f;
	r->id = cfg->id;
	r->L = cfg->log_window;
	r->K = cfg->checkpoint_interval;
	r->active = 1;
	r->now = now;
	r->last_executed = last_executed;
	r->last_committed = last_executed;
	r->last_status_exec = last_executed;
	r->durable = last_executed;
	r->fifo_head = r->fifo_tail = UINT32_MAX;
	r->lru_head = r->lru_tail = UINT32_MAX;
	wire_buf_init(&r->own_ckpt);
	wire_buf_init(&r->nv);
	wire_buf_init(&r->scratch);
	wire_buf_init(&r->scratch2);
	wire_buf_init(&r->batchbuf);
	wire_buf_init(&r->propdig);
	wire_buf_init(&r->results.data);
	pbft__xfer_init(&r->xfer);

	rc = PBFT_ERR_NOMEM;
	r->log = calloc(r->L, sizeof(*r->log));
	r->votes = calloc((size_t)r->L * 2 * r->n, sizeof(*r->votes));
	r->nck = r->L / r->K + 1;
	r->ck = calloc(r->nck, sizeof(*r->ck));
	r->ckvotes = calloc((size_t)r->nck * r->n, sizeof(*r->ckvotes));
	r->cplatest = calloc(r->n, sizeof(*r->cplatest));
	r->clients = calloc(cfg->max_clients, sizeof(*r->clients));
	r->pending = calloc(cfg->max_clients, sizeof(*r->pending));
	r->vc = calloc(r->n, sizeof(*r->vc));
	r->vc_view = calloc(r->n, sizeof(*r->vc_view));
	r->peer = calloc(r->n, sizeof(*r->peer));
	if (!r->log || !r->votes || !r->ck || !r->ckvotes || !r->cplatest || !r->clients ||
	    !r->pending || !r->vc || !r->vc_view || !r->peer)
		goto err_after_alloc;
	if (pbft__proof_alloc(&r->stable, r->n) || pbft__proof_alloc(&r->target, r->n) ||
	    pbft__proof_alloc(&r->ready, r->n))
		goto err_after_alloc;
	if (pbft__keymap_init(&r->cmap, cfg->max_clients) ||
	    pbft__keymap_init(&r->pmap, cfg->max_clients))
		goto err_after_alloc;
	for (uint32_t i = 0; i < r->L; i++) {
		r->log[i].prep = &r->votes[(size_t)i * 2 * r->n];
		r->log[i].commit = &r->votes[(size_t)i * 2 * r->n + r->n];
		wire_buf_init(&r->log[i].cur.reqs);
		wire_buf_init(&r->log[i].pc.reqs);
	}
	for (uint32_t i = 0; i < r->nck; i++)
		r->ck[i].v = &r->ckvotes[(size_t)i * r->n];
	for (uint32_t i = 0; i < cfg->max_clients; i++) {
		wire_buf_init(&r->clients[i].result);
		wire_buf_init(&r->pending[i].enc);
	}
	for (uint32_t i = 0; i < r->n; i++)
		wire_buf_init(&r->vc[i]);
	pbft__pending_init(r);
	r->fixed_mem = (size_t)r->L * sizeof(*r->log) + (size_t)r->L * 2 * r->n * sizeof(*r->votes) +
		       (size_t)r->nck * (sizeof(*r->ck) + r->n * sizeof(*r->ckvotes)) +
		       (size_t)r->n * (sizeof(*r->cplatest) + sizeof(*r->vc) + sizeof(*r->vc_view) +
				       sizeof(*r->peer) +
				       5 * (sizeof(uint32_t) + WIRE_SIG_LEN)) +
		       (size_t)cfg->max_clients * (sizeof(*r->clients) + sizeof(*r->pending)) +
		       ((size_t)r->cmap.cap + r->pmap.cap) * sizeof(struct pbft__kmslot);

	rc = pbft__restore(r, records, rec_bytes, nrec);
	if (rc)
		goto err_after_alloc;
	r->status_deadline = now + cfg->status_interval_ms;
	if (!r->active)
		r->vc_deadline = now + pbft__timeout(r);
	r->recovering = 1;
	r->recover_until = now + 4 * cfg->view_change_timeout_ms;
	r->turn = 1; /* restored certificates (p_turn 0) are on disk */
	if (cfg->votes_uncertain) {
		/* Votes are cast only in an active view: changing to view v, the last one
		 * it may have voted in is v - 1 (it may still send the NEW-VIEW of v: the
		 * VIEW record of a NEW-VIEW sent is synced, and says active). */
		r->uncertain = 1;
		r->uncertain_view = r->active || r->view == 0 ? r->view : r->view - 1;
	}
	if (cfg->state_incomplete) {
		/* Our own last stable checkpoint is the first candidate (its proof is in
		 * our records and every peer that has not moved two checkpoints on still
		 * serves it); a newer one proven by peers replaces it (pbft__proven). */
		r->need_state = 1;
		if (r->stable.seq > 0)
			pbft__proof_copy(&r->target, &r->stable, r->n);
	}
	PBFT_TRACE_INFO(r, "start: view %llu%s, stable %llu, executed %llu%s%s",
			(unsigned long long)r->view, r->active ? "" : " (changing)",
			(unsigned long long)r->low, (unsigned long long)r->last_executed,
			r->need_state ? ", state incomplete" : "",
			r->uncertain ? ", unsynced records lost: no PREPARE/PRE-PREPARE in this view" : "");
	*out = r;
	return PBFT_OK;

err_after_alloc:
	pbft_free(r);
	return rc;
}

void pbft_free(struct pbft *r)
{
	if (!r)
		return;
	if (r->log) {
		for (uint32_t i = 0; i < r->L; i++) {
			wire_buf_free(&r->log[i].cur.reqs);
			wire_buf_free(&r->log[i].pc.reqs);
		}
	}
	if (r->clients && r->pending) {
		for (uint32_t i = 0; i < r->cfg.max_clients; i++) {
			wire_buf_free(&r->clients[i].result);
			wire_buf_free(&r->pending[i].enc);
		}
	}
	if (r->vc) {
		for (uint32_t i = 0; i < r->n; i++)
			wire_buf_free(&r->vc[i]);
	}
	free(r->log);
	free(r->votes);
	free(r->ck);
	free(r->ckvotes);
	free(r->cplatest);
	free(r->clients);
	free(r->pending);
	free(r->vc);
	free(r->vc_view);
	free(r->peer);
	free(r->stable.replica);
	free(r->stable.sig);
	free(r->target.replica);
	free(r->target.sig);
	free(r->ready.replica);
	free(r->ready.sig);
	pbft__keymap_free(&r->cmap);
	pbft__keymap_free(&r->pmap);
	pbft__xfer_free(&r->xfer);
	wire_buf_free(&r->own_ckpt);
	wire_buf_free(&r->nv);
	wire_buf_free(&r->scratch);
	wire_buf_free(&r->scratch2);
	wire_buf_free(&r->batchbuf);
	wire_buf_free(&r->propdig);
	wire_buf_free(&r->results.data);
	free(r->results.len);
	free(r->marks);
	free(r->blast);
	free(r->bmap.t);
	free(r);
}

/* ---------------------------------------------------------------- status */
void pbft_get_status(const struct pbft *r, struct pbft_status *st)
{
	size_t mem = sizeof(*r);

	memset(st, 0, sizeof(*st));
	st->view = r->view;
	st->view_active = r->active;
	st->primary = pbft__primary(r, r->view);
	st->low_watermark = r->low;
	st->durable = r->durable;
	st->stable_waiting = r->ready.seq;
	if (r->low > 0)
		memcpy(st->stable_digest, r->stable.digest, WIRE_DIGEST_LEN);
	st->last_executed = r->last_executed;
	st->last_committed = r->last_committed;
	st->last_proposed = pbft__is_primary(r) ? r->last_proposed : 0;
	st->transferring = pbft__state_unknown(r);
	st->votes_uncertain = !pbft__may_vote(r, r->view);
	st->dropped = r->dropped;
	mem += r->fixed_mem + r->dyn_mem;
	mem += r->own_ckpt.cap + r->nv.cap + r->scratch.cap + r->scratch2.cap + r->batchbuf.cap +
	       r->propdig.cap;
	mem += r->results.data.cap + ((size_t)r->results.cap + r->marks_cap) * sizeof(uint32_t);
	mem += pbft__xfer_memory(&r->xfer);
	st->memory = mem;
}
