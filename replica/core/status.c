/* status.c: periodic STATUS and the retransmissions it triggers at peers: missing
 * commit certificates, stable checkpoint proofs, VIEW-CHANGE and NEW-VIEW. This is what
 * keeps the protocol live over a lossy network. */
#include <string.h>

#include "replica/core/pbft_int.h"

int pbft__send_status(struct pbft *r, struct pbft_update *up)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_STATUS);
	m.u.status.view = r->view;
	m.u.status.stable_seq = r->low;
	m.u.status.last_executed = r->last_executed;
	m.u.status.last_committed = r->last_committed;
	m.u.status.flags = r->active ? 0 : WIRE_STATUS_VIEW_CHANGE;
	return pbft__send(r, up, PBFT_DEST_OTHERS, 0, NULL, &m);
}

static int pbft__resend_pp(struct pbft *r, struct pbft_update *up, uint32_t to, uint64_t view,
			   uint64_t seq, const struct pbft__batch *b)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_PREPREPARE);
	m.u.preprepare.view = view;
	m.u.preprepare.seq = seq;
	memcpy(m.u.preprepare.digest, b->digest, WIRE_DIGEST_LEN);
	pbft__batch_view(b, &m.u.preprepare.batch);
	return pbft__send(r, up, PBFT_DEST_REPLICA, to, NULL, &m);
}

static int pbft__resend_vote(struct pbft *r, struct pbft_update *up, uint32_t to, uint8_t type,
			     uint64_t seq, const struct pbft__vote *v)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, type);
	m.u.prepare.view = v->view;
	m.u.prepare.seq = seq;
	memcpy(m.u.prepare.digest, v->digest, WIRE_DIGEST_LEN);
	return pbft__send(r, up, PBFT_DEST_REPLICA, to, NULL, &m);
}

/* Seqs above the peer's last executed: committed ones as PRE-PREPARE (the batch) + our
 * COMMIT; in-flight ones of the current view as what we sent (pre-prepare, PREPARE,
 * COMMIT). At most PBFT__RETRANSMIT_MAX seqs per round. */
/* The view in which e was committed with digest: that of any COMMIT for it (the 2f+1
 * that committed it agree on the view; a stray COMMIT of another view for the same
 * batch names a view in which it was prepared too). */
static uint64_t pbft__commit_view(const struct pbft *r, const struct pbft__entry *e,
				  const uint8_t *digest)
{
	uint64_t best = 0;
	uint32_t best_votes = 0;

	for (uint32_t j = 0; j < r->n; j++) {
		const struct pbft__vote *v = &e->commit[j];
		uint32_t votes = 0;

		if (!v->set || memcmp(v->digest, digest, WIRE_DIGEST_LEN) != 0)
			continue;
		for (uint32_t k = 0; k < r->n; k++)
			if (e->commit[k].set && e->commit[k].view == v->view &&
			    memcmp(e->commit[k].digest, digest, WIRE_DIGEST_LEN) == 0)
				votes++;
		if (votes > best_votes) {
			best_votes = votes;
			best = v->view;
		}
	}
	return best_votes > 0 ? best : e->exec_pc ? e->p_view : e->has_pp ? e->pp_view : e->relayed_view;
}

static int pbft__retransmit_log(struct pbft *r, struct pbft_update *up, uint32_t to,
				const struct wire_status *st, int inflight)
{
	uint64_t seq = st->last_executed > r->low ? st->last_executed : r->low;
	uint32_t sent = 0;
	int rc = PBFT_OK;

	for (seq++; seq <= r->low + r->L && sent < PBFT__RETRANSMIT_MAX; seq++) {
		const struct pbft__entry *e = pbft__entry(r, seq, 0);

		if (!e)
			continue;
		if (e->committed) {
			const struct pbft__batch *b = e->exec_pc ? &e->pc : &e->cur;
			const struct pbft__vote *mine = &e->commit[r->id];
			int mine_ok = mine->set &&
				      memcmp(mine->digest, b->digest, WIRE_DIGEST_LEN) == 0;
			/* The view of the commit certificate of this very batch: our own
			 * COMMIT may be for another batch at this seq in an earlier view
			 * (prepared there, never committed), and a PRE-PREPARE of that
			 * view carrying this batch, from that view's primary, would be
			 * an equivocation. */
			uint64_t view = mine_ok ? mine->view : pbft__commit_view(r, e, b->digest);
			rc = pbft__resend_pp(r, up, to, view, seq, b);
			if (rc == PBFT_OK && mine_ok)
				rc = pbft__resend_vote(r, up, to, WIRE_COMMIT, seq, mine);
			sent++;
		} else if (inflight && r->active && st->view == r->view &&
			   !(st->flags & WIRE_STATUS_VIEW_CHANGE) && e->has_pp &&
			   e->pp_view == r->view) {
			if (pbft__is_primary(r))
				rc = pbft__resend_pp(r, up, to, r->view, seq, &e->cur);
			if (rc == PBFT_OK && e->sent_prepare)
				rc = pbft__resend_vote(r, up, to, WIRE_PREPARE, seq, &e->prep[r->id]);
			if (rc == PBFT_OK && e->sent_commit)
				rc = pbft__resend_vote(r, up, to, WIRE_COMMIT, seq, &e->commit[r->id]);
			sent++;
		}
		if (rc)
			return rc;
	}
	if (sent)
		PBFT_TRACE(r, "STATUS from %u: executed %llu -> retransmit %u seqs", to,
			   (unsigned long long)st->last_executed, sent);
	return PBFT_OK;
}

int pbft__recv_status(struct pbft *r, const struct wire_msg *m, uint32_t from,
		      struct pbft_update *up)
{
	const struct wire_status *st = &m->u.status;
	int peer_changing = (st->flags & WIRE_STATUS_VIEW_CHANGE) != 0;
	int rc;

	if (m->hdr.sender != from || (st->flags & ~(uint32_t)WIRE_STATUS_VIEW_CHANGE)) {
		pbft__drop(r, "STATUS not from its sender or with unknown flags");
		return PBFT_OK;
	}
	/* Remember what the peer reports (pbft__lagging, the escalation cap, recovery). */
	r->peer[from].at = r->now ? r->now : 1;
	r->peer[from].view = st->view;
	r->peer[from].last_executed = st->last_executed;
	r->peer[from].changing = (uint8_t)peer_changing;
	/* Views: bring a peer in an older view (or still changing to ours) along. */
	if (r->active && r->nv.len > 0 &&
	    (st->view < r->view || (st->view == r->view && peer_changing))) {
		PBFT_TRACE(r, "STATUS from %u in view %llu%s -> resend NEW-VIEW %llu", from,
			   (unsigned long long)st->view, peer_changing ? " (changing)" : "",
			   (unsigned long long)r->view);
		rc = pbft__send_raw(up, PBFT_DEST_REPLICA, from, r->nv.p, r->nv.len);
		if (rc)
			return rc;
	} else if (!r->active && r->vc_view[r->id] == r->view &&
		   (st->view < r->view || (st->view == r->view && peer_changing))) {
		PBFT_TRACE(r, "STATUS from %u in view %llu -> resend our VIEW-CHANGE %llu", from,
			   (unsigned long long)st->view, (unsigned long long)r->view);
		rc = pbft__send_raw(up, PBFT_DEST_REPLICA, from, r->vc[r->id].p, r->vc[r->id].len);
		if (rc)
			return rc;
	}
	/* Checkpoints: a peer below our stable checkpoint gets its proof. */
	if (st->stable_seq < r->low && r->stable.count > 0) {
		PBFT_TRACE(r, "STATUS from %u: stable %llu below ours %llu -> send checkpoint proof",
			   from, (unsigned long long)st->stable_seq, (unsigned long long)r->low);
		rc = pbft__relay_proof(r, up, from);
		if (rc)
			return rc;
	}
	/* The log: what the peer has not executed (below our low it needs the state). */
	if (st->last_executed >= r->low &&
	    (st->last_executed < r->last_executed ||
	     (st->last_executed == r->last_executed && r->last_executed == r->last_status_exec)))
		return pbft__retransmit_log(r, up, from, st,
					    r->last_executed == r->last_status_exec);
	return PBFT_OK;
}
