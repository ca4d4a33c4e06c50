/* recv_preprepare.c: a backup accepts the primary's PRE-PREPARE (view, window, one digest
 * per (view, seq), time skew, request authenticators), persists it and sends PREPARE;
 * PRE-PREPAREs relayed by other replicas only supply a batch for a commit certificate. */
#include <string.h>

#include "replica/core/pbft_int.h"

/* Persist the pre-prepare of e (before the PREPARE or PRE-PREPARE that depends on it).
 * If a prepared certificate of another digest referred to the record being replaced,
 * it is rewritten first with its own copy of the batch. */
int pbft__pp_record(struct pbft *r, struct pbft_update *up, const struct pbft__entry *e)
{
	struct wire_buf *b = &r->scratch2;
	int rc;

	if (e->has_p && memcmp(e->pc.digest, e->cur.digest, WIRE_DIGEST_LEN) != 0) {
		wire_buf_reset(b);
		wire_put_u64(b, e->p_view);
		wire_put_fixed(b, e->pc.digest, WIRE_DIGEST_LEN);
		wire_put_u8(b, 1);
		pbft__put_batch(b, &e->pc);
		/* Rewrites a synced certificate with its own batch copy: it needs no sync
		 * of its own (the store keeps write order; the old record stands until). */
		rc = pbft__record(up, PBFT__REC_PREPARED, e->seq, b, 0);
		if (rc)
			return rc;
	}
	wire_buf_reset(b);
	wire_put_u64(b, e->pp_view);
	wire_put_fixed(b, e->cur.digest, WIRE_DIGEST_LEN);
	pbft__put_batch(b, &e->cur);
	/* Not synced: a process crash keeps it (the OS has it before the PREPARE leaves);
	 * a machine crash may lose it, and then the restarted replica votes no more in
	 * this view (pbft_config.votes_uncertain). The prepared certificate, which the
	 * COMMIT depends on and view changes carry, is synced. */
	return pbft__record(up, PBFT__REC_PP, e->seq, b, 0);
}

/* e->cur holds a pre-prepare for view (accepted or adopted): persist it, send PREPARE
 * (backups), count our own vote. */
int pbft__accept_pp(struct pbft *r, struct pbft__entry *e, uint64_t view, struct pbft_update *up)
{
	struct wire_msg m;
	int rc;

	e->has_pp = 1;
	e->relayed = 0;
	e->pp_view = view;
	e->sent_prepare = 0;
	e->sent_commit = 0;
	rc = pbft__pp_record(r, up, e);
	if (rc)
		return rc;
	if (pbft__primary(r, view) != r->id && pbft__may_vote(r, view)) {
		memset(&m, 0, sizeof(m));
		pbft__hdr(r, &m.hdr, WIRE_PREPARE);
		m.u.prepare.view = view;
		m.u.prepare.seq = e->seq;
		memcpy(m.u.prepare.digest, e->cur.digest, WIRE_DIGEST_LEN);
		rc = pbft__send(r, up, PBFT_DEST_OTHERS, 0, NULL, &m);
		if (rc)
			return rc;
		e->sent_prepare = 1;
		e->prep[r->id].set = 1;
		e->prep[r->id].view = view;
		memcpy(e->prep[r->id].digest, e->cur.digest, WIRE_DIGEST_LEN);
	}
	return pbft__check_prepared(r, e, up);
}

static int pbft__count_commits(const struct pbft *r, const struct pbft__entry *e, uint64_t view,
			       const uint8_t *digest)
{
	int c = 0;

	for (uint32_t j = 0; j < r->n; j++) {
		const struct pbft__vote *v = &e->commit[j];
		if (v->set && v->view == view && memcmp(v->digest, digest, WIRE_DIGEST_LEN) == 0)
			c++;
	}
	return c;
}

/* A batch learned from a replica other than the view's primary: never prepared on, only
 * executed if 2f+1 COMMITs for its digest arrive (a commit certificate). */
static int pbft__relayed(struct pbft *r, const struct wire_preprepare *pp, struct pbft_update *up)
{
	struct pbft__entry *e;
	int rc;

	if (pp->seq <= r->last_executed)
		return PBFT_OK; /* a retransmission that came late: not an error */
	if (pp->view > r->view) {
		pbft__drop(r, "relayed PRE-PREPARE for a future view");
		return PBFT_OK;
	}
	e = pbft__entry(r, pp->seq, 1);
	if (e->committed)
		return PBFT_OK;
	if ((e->has_pp || e->relayed) &&
	    memcmp(e->cur.digest, pp->digest, WIRE_DIGEST_LEN) == 0)
		return pbft__check_committed(r, e, pp->view, pp->digest, up);
	if (e->has_pp) {
		/* Ours is an accepted pre-prepare: keep it unless the relayed batch is the
		 * one a commit quorum vouches for; then it is stored as the prepared slot. */
		if (pbft__count_commits(r, e, pp->view, pp->digest) < (int)(2 * r->f + 1)) {
			pbft__drop(r, "relayed PRE-PREPARE conflicts with the accepted one");
			return PBFT_OK;
		}
		if (e->has_p && memcmp(e->pc.digest, pp->digest, WIRE_DIGEST_LEN) == 0)
			return pbft__check_committed(r, e, pp->view, pp->digest, up);
		e->has_p = 0; /* a certificate contradicting a commit quorum cannot be of use */
		rc = pbft__batch_set(r, &e->pc, &pp->batch, pp->digest);
		if (rc)
			return rc;
		e->has_p = 1;
		e->p_view = pp->view;
		return pbft__check_committed(r, e, pp->view, pp->digest, up);
	}
	if (e->relayed && pbft__count_commits(r, e, pp->view, pp->digest) <=
			  pbft__count_commits(r, e, e->relayed_view, e->cur.digest)) {
		pbft__drop(r, "relayed PRE-PREPARE with fewer commits than the batch held");
		return PBFT_OK;
	}
	rc = pbft__batch_set(r, &e->cur, &pp->batch, pp->digest);
	if (rc)
		return rc;
	e->relayed = 1;
	e->relayed_view = pp->view;
	return pbft__check_committed(r, e, pp->view, pp->digest, up);
}

/* 0 if every request of the batch is ordered and authenticated. Requests this replica
 * already received and authenticated itself (pending with the same digest) are not
 * checked again;
 * the others' digests come from the decoder when the driver kept them (ev_digests). */
static int pbft__check_batch(struct pbft *r, const struct wire_batch *b)
{
	const uint8_t (*known)[WIRE_DIGEST_LEN] = r->ev_ndigests == b->count ? r->ev_digests : NULL;
	struct wire_iter it;
	struct wire_request req;
	uint8_t digest[WIRE_DIGEST_LEN];
	uint32_t i = 0;

	wire_iter_batch(&it, b);
	for (;;) {
		const uint8_t *start = it.p;
		struct pbft__pending *p;

		if (!wire_next_request(&it, &req))
			break;
		if (req.flags != 0)
			return -1;
		uint8_t cid[PBFT__CID_LEN];
		pbft__cid(cid, req.client, req.lane);
		p = pbft__pending_find(r, cid);
		i++;
		if (p && p->ts == req.timestamp && p->enc.len == (size_t)(it.p - start) &&
		    memcmp(p->enc.p, start, p->enc.len) == 0)
			continue;
		if (known != NULL)
			memcpy(digest, known[i - 1], WIRE_DIGEST_LEN);
		else
			wire_request_digest(r->cfg.group, r->cfg.epoch, &req, digest);
		/* The same request (the digest covers everything but the authenticator)
		 * received from the client and authenticated here: its copy in the batch
		 * may carry another authenticator, e.g. tags made before the client had a
		 * session with this replica, that only a retransmission corrected. */
		if (p && p->ts == req.timestamp && memcmp(p->digest, digest, WIRE_DIGEST_LEN) == 0)
			continue;
		if (r->cfg.crypto.check_request(r->cfg.crypto.ctx, &req, digest) != 0)
			return -1;
	}
	return 0;
}

int pbft__recv_preprepare(struct pbft *r, const struct wire_msg *m, uint32_t from,
			  struct pbft_update *up)
{
	const struct wire_preprepare *pp = &m->u.preprepare;
	struct pbft__entry *e;
	uint64_t skew;
	int rc;

	if (!pbft__in_window(r, pp->seq)) {
		pbft__drop(r, "PRE-PREPARE outside the watermarks");
		return PBFT_OK;
	}
	if (m->hdr.sender != from || from != pbft__primary(r, pp->view) || pp->view != r->view ||
	    !r->active)
		return pbft__relayed(r, pp, up);
	e = pbft__entry(r, pp->seq, 1);
	if (e->committed)
		return PBFT_OK; /* its batch is fixed by a commit certificate */
	if (e->has_pp && e->pp_view == pp->view) {
		if (memcmp(e->cur.digest, pp->digest, WIRE_DIGEST_LEN) != 0)
			pbft__drop(r, "PRE-PREPARE conflicts with the one accepted for (view, seq)");
		return PBFT_OK;
	}
	/* The clock skew rule is about one decision only: whether this backup vouches,
	 * with its PREPARE, for a time the primary proposes now. It keeps a faulty
	 * primary from choosing a time far from the correct replicas' clocks; 2f+1
	 * PREPAREs for a batch then mean f+1 correct backups found its time close to
	 * theirs when it was proposed. It must not be applied to a batch whose time was
	 * checked already:
	 *  - a batch backed by a commit certificate (2f+1 matching COMMITs) was prepared
	 *    by f+1 correct replicas, each of which checked its time (or adopted it from
	 *    a NEW-VIEW); it is decided and every correct replica must execute it, even
	 *    when, as for a retransmission to a replica that lagged or restarted (sent in
	 *    answer to its STATUS), the time is long past;
	 *  - a batch adopted from a NEW-VIEW (pbft__enter_view) comes from a prepared
	 *    certificate (conditions A1/A2) and is accepted without this check.
	 * So a PRE-PREPARE outside the skew is not dropped: like a relayed one it only
	 * supplies a batch, executed if 2f+1 COMMITs for its digest arrive, and this
	 * replica sends no PREPARE for it. Nothing weakens: the time of a fresh proposal
	 * is still checked before any correct backup prepares it. */
	skew = pp->batch.time > r->wall ? pp->batch.time - r->wall : r->wall - pp->batch.time;
	if (skew > r->cfg.max_clock_skew_ms) {
		PBFT_TRACE(r, "view %llu: PRE-PREPARE seq %llu time %lld ms off our clock -> no PREPARE, batch kept for a commit certificate",
			   (unsigned long long)pp->view, (unsigned long long)pp->seq,
			   (long long)(pp->batch.time - r->wall));
		return pbft__relayed(r, pp, up);
	}
	if (pbft__check_batch(r, &pp->batch) != 0) {
		pbft__drop(r, "PRE-PREPARE with an unauthenticated or read-only request");
		return PBFT_OK;
	}
	rc = pbft__batch_set(r, &e->cur, &pp->batch, pp->digest);
	if (rc)
		return rc;
	PBFT_TRACE(r, "view %llu: PRE-PREPARE seq %llu (%u requests) valid -> accept, send PREPARE",
		   (unsigned long long)pp->view, (unsigned long long)pp->seq, pp->batch.count);
	return pbft__accept_pp(r, e, pp->view, up);
}
