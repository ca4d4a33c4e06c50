/* viewchange.c: VIEW-CHANGE and NEW-VIEW (Castro & Liskov TOCS'02, signed variant):
 * starting and joining view changes, validating view-change certificates, the new-view
 * selection rules (min-s, max-s, conditions A1/A2 and the null rule B), and adopting a
 * NEW-VIEW. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/pbft_int.h"

int pbft__view_record(struct pbft *r, struct pbft_update *up)
{
	struct wire_buf *b = &r->scratch2;

	wire_buf_reset(b);
	wire_put_u64(b, r->view);
	wire_put_u8(b, (uint8_t)(r->active ? 1 : 0));
	wire_put_u64(b, r->last_active_view);
	wire_put_u64(b, r->active ? r->nv_max_s : 0);
	return pbft__record(up, PBFT__REC_VIEW, 0, b, 1);
}

/* ---------------------------------------------------------------- validation */
/* 0 if the decoded VIEW-CHANGE m is well formed and every signature in it verifies:
 * its own, the 2f+1 CHECKPOINT signatures of its stable checkpoint; P and Q lie in
 * (h, h + L], below the new view, P strictly ascending, Q ascending. Batches in P
 * were checked against their digests by wire_decode. */
static int pbft__vc_valid(struct pbft *r, const struct wire_msg *m)
{
	const struct wire_viewchange *vc = &m->u.viewchange;
	uint32_t j = m->hdr.sender;
	struct wire_iter it;
	struct wire_proof_item pi;
	struct wire_pitem p;
	struct wire_qitem q;
	uint64_t seen = 0, last = 0, h = vc->stable_seq;

	if (j >= r->n || vc->new_view == 0 || h % r->K != 0)
		return -1;
	if (r->cfg.crypto.verify(r->cfg.crypto.ctx, j, m->signed_part.p, m->signed_part.len,
				 vc->sig) != 0)
		return -1;
	if (h == 0) {
		if (vc->proof.count != 0)
			return -1;
	} else {
		uint32_t good = 0;

		wire_iter_init(&it, &vc->proof);
		while (wire_next_proof(&it, &pi)) {
			if (pi.replica >= r->n || (seen & (1ull << pi.replica)))
				return -1;
			seen |= 1ull << pi.replica;
			if (pbft__verify_ckpt_sig(r, pi.replica, h, vc->stable_digest, pi.sig) != 0)
				return -1;
			good++;
		}
		if (good < 2 * r->f + 1)
			return -1;
	}
	wire_iter_init(&it, &vc->p);
	while (wire_next_pitem(&it, &p)) {
		if (p.seq <= h || p.seq > h + r->L || p.view >= vc->new_view || p.seq <= last)
			return -1;
		last = p.seq;
	}
	last = 0;
	wire_iter_init(&it, &vc->q);
	while (wire_next_qitem(&it, &q)) {
		if (q.seq <= h || q.seq > h + r->L || q.view >= vc->new_view || q.seq < last)
			return -1;
		last = q.seq;
	}
	return 0;
}

/* ---------------------------------------------------------------- decision */
struct pbft__vcset {          /* one decoded VIEW-CHANGE of the set */
	struct wire_msg m;
	struct wire_pitem *p;
	uint32_t np;
	struct wire_qitem *q;
	uint32_t nq;
};

struct pbft__decision {
	uint64_t min_s, max_s;
	uint8_t min_digest[WIRE_DIGEST_LEN];
	uint32_t min_from;        /* index in the set of a VIEW-CHANGE with h = min_s */
	uint8_t (*digest)[WIRE_DIGEST_LEN]; /* max_s - min_s entries */
	struct wire_batch *batch; /* its batch (count 0, time 0 for null) */
};

static void pbft__vcset_free(struct pbft__vcset *s, uint32_t count)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < count; i++) {
		free(s[i].p);
		free(s[i].q);
	}
	free(s);
}

static void pbft__decision_free(struct pbft__decision *d)
{
	free(d->digest);
	free(d->batch);
	d->digest = NULL;
	d->batch = NULL;
}

/* Decode count encoded VIEW-CHANGEs (already validated) with their P and Q lists. */
static int pbft__vcset_load(struct pbft *r, const struct wire_bytes *raw, uint32_t count,
			    struct pbft__vcset **out)
{
	struct pbft__vcset *s = calloc(count ? count : 1, sizeof(*s));
	struct wire_iter it;

	if (!s)
		return PBFT_ERR_NOMEM;
	for (uint32_t i = 0; i < count; i++) {
		struct pbft__vcset *v = &s[i];
		const struct wire_viewchange *vc;

		if (wire_decode(raw[i].p, raw[i].len, &r->lim, &v->m) != WIRE_OK)
			goto err_after_alloc;
		vc = &v->m.u.viewchange;
		v->p = calloc(vc->p.count ? vc->p.count : 1, sizeof(*v->p));
		v->q = calloc(vc->q.count ? vc->q.count : 1, sizeof(*v->q));
		if (!v->p || !v->q)
			goto err_after_alloc;
		wire_iter_init(&it, &vc->p);
		while (wire_next_pitem(&it, &v->p[v->np]))
			v->np++;
		wire_iter_init(&it, &vc->q);
		while (wire_next_qitem(&it, &v->q[v->nq]))
			v->nq++;
	}
	*out = s;
	return PBFT_OK;

err_after_alloc:
	pbft__vcset_free(s, count);
	return PBFT_ERR_NOMEM;
}

static const struct wire_pitem *pbft__p_find(const struct pbft__vcset *v, uint64_t seq)
{
	uint32_t lo = 0, hi = v->np;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v->p[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->np && v->p[lo].seq == seq ? &v->p[lo] : NULL;
}

static int pbft__q_has(const struct pbft__vcset *v, uint64_t seq, const uint8_t *digest,
		       uint64_t view)
{
	uint32_t lo = 0, hi = v->nq;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (v->q[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < v->nq && v->q[lo].seq == seq; lo++) {
		if (v->q[lo].view >= view && memcmp(v->q[lo].digest, digest, WIRE_DIGEST_LEN) == 0)
			return 1;
	}
	return 0;
}

/* The TOCS'02 new-view rules over set s (count >= 2f+1 valid VIEW-CHANGEs).
 * min-s: the highest stable checkpoint (each comes with a verified proof).
 * For each seq in (min-s, max-s], max-s the highest seq of any P entry:
 *   choose (d, v) of some P entry if
 *     A1: 2f+1 members have h < seq and no P entry for seq, or one with view < v,
 *         or one equal to (v, d);
 *     A2: f+1 members have a Q entry (seq, d, v') with v' >= v
 *   (several candidates: the highest v, then the smallest digest; correct replicas
 *   never produce two), else null if
 *     B: 2f+1 members have h < seq and no P entry for seq;
 *   else the set does not decide yet (returns 0; wait for more VIEW-CHANGEs).
 * Returns 1 with d filled when every seq is decided. */
static int pbft__decide(struct pbft *r, const struct pbft__vcset *s, uint32_t count,
			struct pbft__decision *d)
{
	uint32_t quorum = 2 * r->f + 1;

	memset(d, 0, sizeof(*d));
	for (uint32_t i = 0; i < count; i++) {
		const struct wire_viewchange *vc = &s[i].m.u.viewchange;
		if (i == 0 || vc->stable_seq > d->min_s) {
			d->min_s = vc->stable_seq;
			memcpy(d->min_digest, vc->stable_digest, WIRE_DIGEST_LEN);
			d->min_from = i;
		}
	}
	d->max_s = d->min_s;
	for (uint32_t i = 0; i < count; i++) {
		if (s[i].np && s[i].p[s[i].np - 1].seq > d->max_s)
			d->max_s = s[i].p[s[i].np - 1].seq;
	}
	if (d->max_s == d->min_s)
		return 1;
	d->digest = calloc(d->max_s - d->min_s, sizeof(*d->digest));
	d->batch = calloc(d->max_s - d->min_s, sizeof(*d->batch));
	if (!d->digest || !d->batch)
		return PBFT_ERR_NOMEM;
	for (uint64_t seq = d->min_s + 1; seq <= d->max_s; seq++) {
		const struct wire_pitem *best = NULL;
		uint32_t none = 0;

		for (uint32_t i = 0; i < count; i++) {
			const struct wire_pitem *cand = pbft__p_find(&s[i], seq);
			uint32_t a1 = 0, a2 = 0;

			if (s[i].m.u.viewchange.stable_seq < seq && !cand)
				none++;
			if (!cand)
				continue;
			if (best && (cand->view < best->view ||
				     (cand->view == best->view &&
				      memcmp(cand->digest, best->digest, WIRE_DIGEST_LEN) >= 0)))
				continue;
			for (uint32_t k = 0; k < count; k++) {
				const struct wire_pitem *o = pbft__p_find(&s[k], seq);
				if (s[k].m.u.viewchange.stable_seq < seq &&
				    (!o || o->view < cand->view ||
				     (o->view == cand->view &&
				      memcmp(o->digest, cand->digest, WIRE_DIGEST_LEN) == 0)))
					a1++;
				if (pbft__q_has(&s[k], seq, cand->digest, cand->view))
					a2++;
			}
			if (a1 >= quorum && a2 >= r->f + 1)
				best = cand;
		}
		uint64_t idx = seq - d->min_s - 1;
		if (best) {
			memcpy(d->digest[idx], best->digest, WIRE_DIGEST_LEN);
			d->batch[idx] = best->batch;
		} else if (none >= quorum) {
			wire_null_digest(r->cfg.group, r->cfg.epoch, d->digest[idx]);
			memset(&d->batch[idx], 0, sizeof(d->batch[idx]));
		} else {
			PBFT_TRACE(r, "view %llu: seq %llu not decided by %u VIEW-CHANGEs -> wait for more",
				   (unsigned long long)r->view, (unsigned long long)seq, count);
			pbft__decision_free(d);
			return 0;
		}
	}
	return 1;
}

/* ---------------------------------------------------------------- adopting a view */
/* Enter view v as decided by d over set s; nvraw is the NEW-VIEW (kept to retransmit).
 *
 * Why re-proposed batches are not re-authenticated: a batch chosen for seq comes from a
 * P entry satisfying A1 and A2. Its P entry is attested by its sender's signature, and
 * A2 puts f+1 members (at least one correct) on record as having pre-prepared that
 * digest in view >= v. A correct replica pre-prepares only after checking every
 * request's authenticator (or having the request authenticated itself), and the batch
 * digest binds the request bytes, so the batch's requests were authenticated by a
 * correct replica. Null batches carry no request. Checking again would also fail
 * legitimately: MAC tags for a replica that was not the original receiver may be
 * missing from the authenticator. */
static int pbft__enter_view(struct pbft *r, uint64_t v, const struct pbft__vcset *s,
			    const struct pbft__decision *d, const uint8_t *nvraw, size_t nvlen,
			    struct pbft_update *up)
{
	int rc;

	r->view = v;
	r->active = 1;
	r->last_active_view = v;
	r->nv_max_s = d->max_s;
	rc = pbft__view_record(r, up);
	if (rc)
		return rc;
	wire_buf_reset(&r->nv);
	wire_put_fixed(&r->nv, nvraw, nvlen);
	if (wire_buf_error(&r->nv))
		return PBFT_ERR_NOMEM;
	PBFT_TRACE_INFO(r, "view %llu: NEW-VIEW min-s %llu max-s %llu valid -> enter view",
			(unsigned long long)v, (unsigned long long)d->min_s, (unsigned long long)d->max_s);

	/* The chosen stable checkpoint, with the proof of the VIEW-CHANGE that carried it. */
	if (d->min_s > r->low) {
		const struct wire_viewchange *vc = &s[d->min_from].m.u.viewchange;
		uint32_t replica[PBFT__MAX_N];
		uint8_t sig[PBFT__MAX_N][WIRE_SIG_LEN];
		struct pbft__proof p = { .seq = d->min_s, .count = 0, .replica = replica, .sig = sig };
		struct wire_iter it;
		struct wire_proof_item pi;

		memcpy(p.digest, d->min_digest, WIRE_DIGEST_LEN);
		wire_iter_init(&it, &vc->proof);
		while (wire_next_proof(&it, &pi) && p.count < PBFT__MAX_N) {
			replica[p.count] = pi.replica;
			memcpy(sig[p.count], pi.sig, WIRE_SIG_LEN);
			p.count++;
		}
		if (r->last_executed >= d->min_s && !r->need_state) {
			rc = pbft__make_stable(r, &p, up);
		} else {
			PBFT_TRACE_INFO(r, "view %llu: min-s %llu above executed %llu -> state transfer",
					(unsigned long long)v, (unsigned long long)d->min_s,
					(unsigned long long)r->last_executed);
			pbft__proof_copy(&r->target, &p, r->n);
			rc = pbft__xfer_start(r, &r->target, up);
		}
		if (rc)
			return rc;
	}
	for (uint64_t seq = d->min_s + 1; seq <= d->max_s; seq++) {
		uint64_t idx = seq - d->min_s - 1;
		struct pbft__entry *e = pbft__entry(r, seq, 1);

		if (!e)
			continue; /* at or below our stable checkpoint, or beyond our window */
		if (e->committed && memcmp(e->exec_pc ? e->pc.digest : e->cur.digest,
					   d->digest[idx], WIRE_DIGEST_LEN) != 0) {
			PBFT_TRACE(r, "view %llu seq %llu: NEW-VIEW contradicts our commit -> keep ours",
				   (unsigned long long)v, (unsigned long long)seq);
			continue;
		}
		if (d->batch[idx].count == 0 && d->batch[idx].reqs.len == 0 &&
		    d->batch[idx].time == 0) {
			pbft__batch_null(r, &e->cur);
			memcpy(e->cur.digest, d->digest[idx], WIRE_DIGEST_LEN);
		} else {
			rc = pbft__batch_set(r, &e->cur, &d->batch[idx], d->digest[idx]);
			if (rc)
				return rc;
		}
		if (e->committed)
			e->exec_pc = 0;
		rc = pbft__accept_pp(r, e, v, up);
		if (rc)
			return rc;
	}
	/* Pre-prepares of older views above max-s are void (prepared certificates stay). */
	for (uint64_t seq = d->max_s + 1; seq <= r->low + r->L; seq++) {
		struct pbft__entry *e = pbft__entry(r, seq, 0);
		if (e && !e->committed) {
			e->has_pp = 0;
			e->relayed = 0;
			e->sent_prepare = e->sent_commit = 0;
		}
	}
	r->last_proposed = d->max_s > r->low ? d->max_s : r->low;
	if (r->last_proposed < r->last_executed)
		r->last_proposed = r->last_executed;
	pbft__pending_requeue_all(r);
	for (uint64_t seq = d->min_s + 1; seq <= d->max_s; seq++) {
		struct wire_iter it;
		struct wire_request req;

		wire_iter_batch(&it, &d->batch[seq - d->min_s - 1]);
		while (wire_next_request(&it, &req)) {
			uint8_t cid[PBFT__CID_LEN];
			pbft__cid(cid, req.client, req.lane);
			pbft__pending_unqueue(r, cid, req.timestamp);
		}
	}
	r->vc_deadline = 0;
	pbft__timer_request(r, 1);
	return pbft__execute_ready(r, up);
}

/* ---------------------------------------------------------------- NEW-VIEW (primary) */
static int pbft__try_newview(struct pbft *r, struct pbft_update *up)
{
	struct wire_bytes raw[PBFT__MAX_N];
	struct pbft__vcset *s = NULL;
	struct pbft__decision d;
	struct wire_buf *b = &r->scratch;
	struct wire_msg m;
	size_t off;
	uint32_t count = 0;
	int rc;

	for (uint32_t j = 0; j < r->n; j++) {
		if (r->vc_view[j] == r->view) {
			raw[count].p = r->vc[j].p;
			raw[count].len = (uint32_t)r->vc[j].len;
			count++;
		}
	}
	if (count < 2 * r->f + 1)
		return PBFT_OK;
	rc = pbft__vcset_load(r, raw, count, &s);
	if (rc)
		return rc;
	rc = pbft__decide(r, s, count, &d);
	if (rc <= 0)
		goto out;
	/* Build the signed NEW-VIEW: the VIEW-CHANGEs and the decisions. */
	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_NEWVIEW);
	m.u.newview.view = r->view;
	m.u.newview.min_s = d.min_s;
	memcpy(m.u.newview.min_digest, d.min_digest, WIRE_DIGEST_LEN);
	wire_buf_reset(b);
	for (uint32_t i = 0; i < count; i++)
		wire_put_vc(b, raw[i].p, raw[i].len);
	off = b->len;
	for (uint64_t seq = d.min_s + 1; seq <= d.max_s; seq++) {
		struct wire_nvitem it = { .seq = seq };
		memcpy(it.digest, d.digest[seq - d.min_s - 1], WIRE_DIGEST_LEN);
		wire_put_nvitem(b, &it);
	}
	rc = PBFT_ERR_NOMEM;
	if (wire_buf_error(b))
		goto out_decision;
	m.u.newview.vcs.count = count;
	m.u.newview.vcs.bytes.p = b->p;
	m.u.newview.vcs.bytes.len = (uint32_t)off;
	m.u.newview.items.count = (uint32_t)(d.max_s - d.min_s);
	m.u.newview.items.bytes.p = b->p + off;
	m.u.newview.items.bytes.len = (uint32_t)(b->len - off);
	PBFT_TRACE_INFO(r, "view %llu: %u valid VIEW-CHANGEs decide (%llu, %llu] -> send NEW-VIEW",
			(unsigned long long)r->view, count, (unsigned long long)d.min_s,
			(unsigned long long)d.max_s);
	off = up->msgs.len;
	rc = pbft__send_signed(r, up, PBFT_DEST_OTHERS, 0, &m, NULL);
	if (rc)
		goto out_decision;
	/* up->msgs may move when it grows: copy the NEW-VIEW out before entering. */
	wire_buf_reset(&r->scratch2);
	wire_put_fixed(&r->scratch2, up->msgs.p + off, up->msgs.len - off);
	rc = PBFT_ERR_NOMEM;
	if (wire_buf_error(&r->scratch2))
		goto out_decision;
	{
		struct wire_buf nv = r->scratch2;
		wire_buf_init(&r->scratch2);
		rc = pbft__enter_view(r, r->view, s, &d, nv.p, nv.len, up);
		wire_buf_free(&nv);
	}
out_decision:
	pbft__decision_free(&d);
out:
	pbft__vcset_free(s, count);
	return rc < 0 ? rc : PBFT_OK;
}

/* ---------------------------------------------------------------- progress */
static int pbft__vc_progress(struct pbft *r, struct pbft_update *up)
{
	uint64_t views[PBFT__MAX_N];
	uint32_t k = 0;

	/* f+1 replicas ask for views above ours: join the highest view f+1 of them want. */
	for (uint32_t j = 0; j < r->n; j++) {
		if (j != r->id && r->vc_view[j] > r->view)
			views[k++] = r->vc_view[j];
	}
	if (k >= r->f + 1) {
		for (uint32_t a = 1; a < k; a++) { /* sort descending (k <= 64) */
			uint64_t x = views[a];
			uint32_t b = a;
			for (; b > 0 && views[b - 1] < x; b--)
				views[b] = views[b - 1];
			views[b] = x;
		}
		PBFT_TRACE_INFO(r, "view %llu: %u VIEW-CHANGEs for higher views -> join view %llu",
				(unsigned long long)r->view, k, (unsigned long long)views[r->f]);
		return pbft__start_view_change(r, views[r->f], up);
	}
	if (!r->active && pbft__is_primary(r))
		return pbft__try_newview(r, up);
	return PBFT_OK;
}

/* ---------------------------------------------------------------- VIEW-CHANGE */
static int pbft__build_vc(struct pbft *r, struct pbft_update *up)
{
	struct wire_buf *b = &r->scratch;
	struct wire_msg m;
	size_t poff, qoff, end;
	uint32_t np = 0, nq = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_VIEWCHANGE);
	m.u.viewchange.new_view = r->view;
	m.u.viewchange.stable_seq = r->low;
	if (r->low > 0)
		memcpy(m.u.viewchange.stable_digest, r->stable.digest, WIRE_DIGEST_LEN);
	wire_buf_reset(b);
	for (uint32_t i = 0; r->low > 0 && i < r->stable.count; i++) {
		struct wire_proof_item pi = { .replica = r->stable.replica[i] };
		memcpy(pi.sig, r->stable.sig[i], WIRE_SIG_LEN);
		wire_put_proof(b, &pi);
	}
	poff = b->len;
	for (uint64_t seq = r->low + 1; seq <= r->low + r->L; seq++) {
		const struct pbft__entry *e = pbft__entry(r, seq, 0);
		struct wire_pitem p;

		if (!e || !e->has_p)
			continue;
		p.seq = seq;
		p.view = e->p_view;
		memcpy(p.digest, e->pc.digest, WIRE_DIGEST_LEN);
		pbft__batch_view(&e->pc, &p.batch);
		wire_put_pitem(b, &p);
		np++;
	}
	qoff = b->len;
	for (uint64_t seq = r->low + 1; seq <= r->low + r->L; seq++) {
		const struct pbft__entry *e = pbft__entry(r, seq, 0);
		struct wire_qitem q = { .seq = seq };

		if (!e)
			continue;
		if (e->has_pp) {
			q.view = e->pp_view;
			memcpy(q.digest, e->cur.digest, WIRE_DIGEST_LEN);
			wire_put_qitem(b, &q);
			nq++;
		}
		if (e->has_p && (!e->has_pp || e->p_view != e->pp_view ||
				 memcmp(e->pc.digest, e->cur.digest, WIRE_DIGEST_LEN) != 0)) {
			q.view = e->p_view;
			memcpy(q.digest, e->pc.digest, WIRE_DIGEST_LEN);
			wire_put_qitem(b, &q);
			nq++;
		}
	}
	end = b->len;
	if (wire_buf_error(b))
		return PBFT_ERR_NOMEM;
	m.u.viewchange.proof.count = r->low > 0 ? r->stable.count : 0;
	m.u.viewchange.proof.bytes.p = b->p;
	m.u.viewchange.proof.bytes.len = (uint32_t)poff;
	m.u.viewchange.p.count = np;
	m.u.viewchange.p.bytes.p = b->p + poff;
	m.u.viewchange.p.bytes.len = (uint32_t)(qoff - poff);
	m.u.viewchange.q.count = nq;
	m.u.viewchange.q.bytes.p = b->p + qoff;
	m.u.viewchange.q.bytes.len = (uint32_t)(end - qoff);
	PBFT__ACCT(r, &r->vc[r->id],
		   rc = pbft__send_signed(r, up, PBFT_DEST_OTHERS, 0, &m, &r->vc[r->id]));
	if (rc)
		return rc;
	r->vc_view[r->id] = r->view;
	PBFT_TRACE_INFO(r, "view %llu: stable %llu, %u prepared, %u pre-prepared -> send VIEW-CHANGE",
			(unsigned long long)r->view, (unsigned long long)r->low, np, nq);
	return PBFT_OK;
}

int pbft__resend_vc(struct pbft *r, struct pbft_update *up)
{
	int rc = pbft__build_vc(r, up);

	return rc ? rc : pbft__vc_progress(r, up);
}

int pbft__start_view_change(struct pbft *r, uint64_t view, struct pbft_update *up)
{
	int rc;

	if (view <= r->view)
		return PBFT_OK;
	r->view = view;
	r->active = 0;
	r->nv_max_s = 0;
	/* Persist before the VIEW-CHANGE: after a crash we must not act in older views. */
	rc = pbft__view_record(r, up);
	if (rc)
		return rc;
	rc = pbft__build_vc(r, up);
	if (rc)
		return rc;
	r->vc_deadline = r->now + pbft__timeout(r);
	return pbft__vc_progress(r, up);
}

int pbft__recv_viewchange(struct pbft *r, const struct wire_msg *m, struct pbft_update *up)
{
	const struct wire_viewchange *vc = &m->u.viewchange;
	uint32_t j = m->hdr.sender;

	if (j >= r->n || j == r->id) {
		pbft__drop(r, "VIEW-CHANGE from a non-member or from self");
		return PBFT_OK;
	}
	if (vc->new_view < r->view || (vc->new_view == r->view && r->active) ||
	    vc->new_view <= r->vc_view[j])
		return PBFT_OK; /* stale or already held */
	if (pbft__vc_valid(r, m) != 0) {
		pbft__drop(r, "VIEW-CHANGE with a bad signature, proof or log");
		return PBFT_OK;
	}
	wire_buf_reset(&r->vc[j]);
	PBFT__ACCT(r, &r->vc[j], wire_put_fixed(&r->vc[j], m->raw.p, m->raw.len));
	if (wire_buf_error(&r->vc[j])) {
		r->vc_view[j] = 0;
		return PBFT_ERR_NOMEM;
	}
	r->vc_view[j] = vc->new_view;
	PBFT_TRACE(r, "view %llu: valid VIEW-CHANGE from %u for view %llu -> hold",
		   (unsigned long long)r->view, j, (unsigned long long)vc->new_view);
	return pbft__vc_progress(r, up);
}

/* ---------------------------------------------------------------- NEW-VIEW (backup) */
int pbft__recv_newview(struct pbft *r, const struct wire_msg *m, struct pbft_update *up)
{
	const struct wire_newview *nv = &m->u.newview;
	struct wire_bytes raw[PBFT__MAX_N];
	struct pbft__vcset *s = NULL;
	struct pbft__decision d;
	struct wire_iter it;
	struct wire_bytes enc;
	struct wire_nvitem item;
	uint64_t seen = 0, expect;
	uint32_t count = 0;
	int rc, ok = 1;

	if (nv->view < r->view || (nv->view == r->view && r->active) || nv->view == 0)
		return PBFT_OK; /* stale */
	if (m->hdr.sender != pbft__primary(r, nv->view) ||
	    r->cfg.crypto.verify(r->cfg.crypto.ctx, m->hdr.sender, m->signed_part.p,
				 m->signed_part.len, nv->sig) != 0) {
		pbft__drop(r, "NEW-VIEW not signed by the view's primary");
		return PBFT_OK;
	}
	/* Every VIEW-CHANGE inside must be valid, for this view, from distinct replicas. */
	wire_iter_init(&it, &nv->vcs);
	while (ok && wire_next_vc(&it, &enc)) {
		struct wire_msg vm;

		if (count >= PBFT__MAX_N || wire_decode(enc.p, enc.len, &r->lim, &vm) != WIRE_OK ||
		    vm.hdr.type != WIRE_VIEWCHANGE || vm.hdr.group != r->cfg.group ||
		    vm.hdr.epoch != r->cfg.epoch || vm.hdr.sender >= r->n ||
		    (seen & (1ull << vm.hdr.sender)) || vm.u.viewchange.new_view != nv->view) {
			ok = 0;
			break;
		}
		seen |= 1ull << vm.hdr.sender;
		/* Already verified when it reached us directly? */
		if (!(r->vc_view[vm.hdr.sender] == nv->view &&
		      r->vc[vm.hdr.sender].len == enc.len &&
		      memcmp(r->vc[vm.hdr.sender].p, enc.p, enc.len) == 0) &&
		    pbft__vc_valid(r, &vm) != 0)
			ok = 0;
		raw[count++] = enc;
	}
	if (!ok || count < 2 * r->f + 1) {
		PBFT_TRACE_INFO(r, "view %llu: NEW-VIEW with invalid or too few VIEW-CHANGEs -> reject, view change to %llu",
				(unsigned long long)nv->view, (unsigned long long)(nv->view + 1));
		r->dropped++;
		return pbft__start_view_change(r, nv->view + 1, up);
	}
	rc = pbft__vcset_load(r, raw, count, &s);
	if (rc)
		return rc;
	rc = pbft__decide(r, s, count, &d);
	if (rc < 0)
		goto out;
	ok = rc == 1 && d.min_s == nv->min_s &&
	     memcmp(d.min_digest, nv->min_digest, WIRE_DIGEST_LEN) == 0 &&
	     nv->items.count == d.max_s - d.min_s;
	expect = nv->min_s + 1;
	wire_iter_init(&it, &nv->items);
	while (ok && wire_next_nvitem(&it, &item)) {
		if (item.seq != expect ||
		    memcmp(item.digest, d.digest[expect - d.min_s - 1], WIRE_DIGEST_LEN) != 0)
			ok = 0;
		expect++;
	}
	if (!ok) {
		PBFT_TRACE_INFO(r, "view %llu: NEW-VIEW decisions differ from the recomputed ones -> reject, view change to %llu",
				(unsigned long long)nv->view, (unsigned long long)(nv->view + 1));
		r->dropped++;
		if (rc == 1)
			pbft__decision_free(&d);
		rc = pbft__start_view_change(r, nv->view + 1, up);
		goto out;
	}
	/* A NEW-VIEW for a view above the one we are changing to: move there first. */
	if (nv->view > r->view) {
		r->view = nv->view;
		r->active = 0;
	}
	rc = pbft__enter_view(r, nv->view, s, &d, m->raw.p, m->raw.len, up);
	pbft__decision_free(&d);
out:
	pbft__vcset_free(s, count);
	return rc;
}
