/* checkpoint.c: CHECKPOINT every K executed seqs, collecting signed checkpoints, stable
 * checkpoints (2f+1 matching signatures) that move the low watermark and free the log. */
#include <string.h>

#include "replica/core/pbft_int.h"

int pbft__checkpoint_encode(const struct pbft *r, struct wire_buf *b, uint32_t replica,
			    uint64_t seq, const uint8_t *digest, const uint8_t *sig)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_CHECKPOINT);
	m.hdr.sender = replica;
	m.u.checkpoint.seq = seq;
	memcpy(m.u.checkpoint.digest, digest, WIRE_DIGEST_LEN);
	if (sig)
		memcpy(m.u.checkpoint.sig, sig, WIRE_SIG_LEN);
	return wire_encode(b, &m) == WIRE_OK ? PBFT_OK : PBFT_ERR_NOMEM;
}

/* 0 if sig is replica's signature of CHECKPOINT(seq, digest) in this group and epoch. */
int pbft__verify_ckpt_sig(struct pbft *r, uint32_t replica, uint64_t seq, const uint8_t *digest,
			  const uint8_t *sig)
{
	struct wire_buf *b = &r->scratch2;

	wire_buf_reset(b);
	if (pbft__checkpoint_encode(r, b, replica, seq, digest, sig) != PBFT_OK)
		return -1;
	return r->cfg.crypto.verify(r->cfg.crypto.ctx, replica, b->p, b->len - WIRE_SIG_LEN, sig);
}

static struct pbft__ckpt *pbft__ck(struct pbft *r, uint64_t seq, int create)
{
	struct pbft__ckpt *c;

	if (!pbft__in_window(r, seq) || seq % r->K != 0)
		return NULL;
	c = &r->ck[(seq / r->K) % r->nck];
	if (c->seq == seq)
		return c;
	if (!create)
		return NULL;
	c->seq = seq;
	c->have_mine = 0;
	memset(c->v, 0, r->n * sizeof(*c->v));
	return c;
}

/* dst's arrays hold n entries (distinct replicas: a valid proof never has more). */
void pbft__proof_copy(struct pbft__proof *dst, const struct pbft__proof *src, uint32_t n)
{
	dst->seq = src->seq;
	memcpy(dst->digest, src->digest, WIRE_DIGEST_LEN);
	dst->count = src->count < n ? src->count : n;
	memcpy(dst->replica, src->replica, dst->count * sizeof(*dst->replica));
	memcpy(dst->sig, src->sig, dst->count * sizeof(*dst->sig));
}

int pbft__proof_record(struct pbft *r, struct pbft_update *up)
{
	struct wire_buf *b = &r->scratch2;

	wire_buf_reset(b);
	wire_put_u64(b, r->stable.seq);
	wire_put_fixed(b, r->stable.digest, WIRE_DIGEST_LEN);
	wire_put_u32(b, r->stable.count);
	for (uint32_t i = 0; i < r->stable.count; i++) {
		wire_put_u32(b, r->stable.replica[i]);
		wire_put_fixed(b, r->stable.sig[i], WIRE_SIG_LEN);
	}
	/* No sync of its own: the state at the checkpoint is durable already (see
	 * pbft__make_stable), so a crash that loses this record keeps the records it
	 * replaces, and the next synced record makes it durable (write order). */
	return pbft__record(up, PBFT__REC_STABLE, 0, b, 0);
}

/* Free everything at or below the (new) low watermark. */
static void pbft__gc(struct pbft *r, uint64_t old_low)
{
	uint64_t from = old_low + 1;

	if (r->low - old_low > r->L)
		from = r->low - r->L + 1;
	for (uint64_t s = from; s <= r->low; s++) {
		struct pbft__entry *e = &r->log[s % r->L];
		if (e->seq != 0 && e->seq <= r->low)
			pbft__entry_clear(r, e);
	}
	for (uint32_t i = 0; i < r->nck; i++) {
		if (r->ck[i].seq != 0 && r->ck[i].seq <= r->low)
			r->ck[i].seq = 0;
	}
	for (uint32_t j = 0; j < r->n; j++) {
		if (r->cplatest[j].seq <= r->low)
			r->cplatest[j].seq = 0;
	}
	if (r->target.seq <= r->low)
		r->target.seq = 0;
}

/* Our state at seq is not known to be on disk (durable_async: until the driver says so;
 * otherwise app.checkpoint put it there). */
static int pbft__undurable(const struct pbft *r, uint64_t seq)
{
	return r->cfg.durable_async && r->durable < seq;
}

/* p (proven, p->seq <= last_executed) becomes the stable checkpoint. Our state at it
 * must be durable first: the records below it are dropped, and the stable record is
 * not synced. Callers that can wait for the driver to report it do (pbft__proven);
 * the others reach here with an undurable state only with durable_async, and then
 * have the app sync it now. */
int pbft__make_stable(struct pbft *r, const struct pbft__proof *p, struct pbft_update *up)
{
	uint64_t old = r->low;
	int rc;

	if (p->seq <= r->low)
		return PBFT_OK;
	if (pbft__undurable(r, p->seq)) {
		PBFT_TRACE(r, "checkpoint %llu stable before our state is durable (at %llu) -> sync it now",
			   (unsigned long long)p->seq, (unsigned long long)r->durable);
		if (r->cfg.app.sync(r->cfg.app.ctx) != 0)
			return PBFT_ERR_APP;
		r->durable = r->last_executed;
	}
	if (p != &r->stable)
		pbft__proof_copy(&r->stable, p, r->n);
	r->prev_low = r->low;
	r->low = p->seq;
	if (r->ready.seq <= r->low)
		r->ready.seq = 0;
	if (r->last_proposed < r->low)
		r->last_proposed = r->low;
	if (r->last_committed < r->low)
		r->last_committed = r->low;
	rc = pbft__proof_record(r, up);
	if (rc == PBFT_OK)
		rc = pbft__record_del(up, PBFT__REC_PP, r->low + 1);
	if (rc == PBFT_OK)
		rc = pbft__record_del(up, PBFT__REC_PREPARED, r->low + 1);
	if (rc)
		return rc;
	pbft__gc(r, old);
	/* Keep the previous stable snapshot too: a replica fetching it can finish even
	 * if a newer checkpoint becomes stable meanwhile. */
	r->cfg.app.release(r->cfg.app.ctx, r->prev_low);
	PBFT_TRACE(r, "checkpoint %llu: %u matching signed CHECKPOINTs -> stable, low watermark %llu",
		   (unsigned long long)r->low, r->stable.count, (unsigned long long)r->low);
	return PBFT_OK;
}

/* A proof for seq is known: make it stable, or remember it as the state to reach. */
static int pbft__proven(struct pbft *r, const struct pbft__proof *p, const struct pbft__ckpt *c,
			struct pbft_update *up)
{
	if (p->seq <= r->low)
		return PBFT_OK;
	if (r->need_state) {
		/* Our state is incomplete: any proven checkpoint is one to fetch, even at or
		 * below the last executed seq we were started with (that state is gone).
		 * The timers start the transfer; a running one moves on as usual. */
		if (p->seq > r->target.seq) {
			PBFT_TRACE(r, "checkpoint %llu stable, state incomplete -> fetch it",
				   (unsigned long long)p->seq);
			pbft__proof_copy(&r->target, p, r->n);
			if (r->xfer.active && r->xfer.seq < p->seq)
				return pbft__xfer_newer(r, up);
		}
		return PBFT_OK;
	}
	if (p->seq <= r->last_executed && !r->xfer.active) {
		if (c && c->have_mine && memcmp(c->mine, p->digest, WIRE_DIGEST_LEN) != 0) {
			PBFT_TRACE_INFO(r, "checkpoint %llu: our digest differs from the stable one -> state transfer",
					(unsigned long long)p->seq);
			pbft__proof_copy(&r->target, p, r->n);
			return pbft__xfer_start(r, &r->target, up);
		}
		if (pbft__undurable(r, p->seq)) {
			/* Stable once the driver says our state at it is on disk. */
			if (p->seq > r->ready.seq) {
				PBFT_TRACE(r, "checkpoint %llu proven, our state durable at %llu -> stable once durable",
					   (unsigned long long)p->seq, (unsigned long long)r->durable);
				pbft__proof_copy(&r->ready, p, r->n);
			}
			return PBFT_OK;
		}
		return pbft__make_stable(r, p, up);
	}
	if (p->seq > r->target.seq) {
		PBFT_TRACE(r, "checkpoint %llu stable, executed %llu -> remember as target",
			   (unsigned long long)p->seq, (unsigned long long)r->last_executed);
		pbft__proof_copy(&r->target, p, r->n);
		if (r->xfer.active && r->xfer.seq < p->seq)
			return pbft__xfer_newer(r, up);
	}
	return PBFT_OK;
}

/* Replicas whose CHECKPOINT in slot c, checked or not, has this digest. */
static uint32_t pbft__ck_matching(const struct pbft *r, const struct pbft__ckpt *c,
				  const uint8_t *digest)
{
	uint32_t n = 0;

	for (uint32_t j = 0; j < r->n; j++)
		if (c->v[j].set && memcmp(c->v[j].digest, digest, WIRE_DIGEST_LEN) == 0)
			n++;
	return n;
}

/* 2f+1 checked signatures in the window slot c matching digest? Build the proof in
 * target-like scratch (r->target is only replaced if the proof is above it). With
 * idle_verify, unchecked ones that would complete a quorum wait for PBFT_EV_IDLE. */
static int pbft__ck_check(struct pbft *r, struct pbft__ckpt *c, const uint8_t *digest,
			  struct pbft_update *up)
{
	struct pbft__proof p;
	uint32_t replica[PBFT__MAX_N];
	uint8_t sig[PBFT__MAX_N][WIRE_SIG_LEN];

	p.seq = c->seq;
	memcpy(p.digest, digest, WIRE_DIGEST_LEN);
	p.count = 0;
	p.replica = replica;
	p.sig = sig;
	for (uint32_t j = 0; j < r->n; j++) {
		if (c->v[j].set && c->v[j].verified &&
		    memcmp(c->v[j].digest, digest, WIRE_DIGEST_LEN) == 0) {
			replica[p.count] = j;
			memcpy(sig[p.count], c->v[j].sig, WIRE_SIG_LEN);
			p.count++;
		}
	}
	if (p.count >= 2 * r->f + 1)
		return pbft__proven(r, &p, c, up);
	if (pbft__ck_matching(r, c, digest) >= 2 * r->f + 1)
		r->idle_work = 1; /* unchecked ones would complete it */
	return PBFT_OK;
}

static int pbft__ck_sig_ok(struct pbft *r, uint32_t j, uint64_t seq, const struct pbft__cpvote *v)
{
	return pbft__verify_ckpt_sig(r, j, seq, v->digest, v->sig) == 0;
}

int pbft__take_checkpoint(struct pbft *r, uint64_t seq, struct pbft_update *up)
{
	struct pbft__ckpt *c = pbft__ck(r, seq, 1);
	uint8_t digest[WIRE_DIGEST_LEN];
	struct wire_msg m;
	int rc;

	if (r->cfg.app.checkpoint(r->cfg.app.ctx, seq, digest) != 0)
		return PBFT_ERR_APP;
	if (!r->cfg.durable_async)
		r->durable = seq;
	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_CHECKPOINT);
	m.u.checkpoint.seq = seq;
	memcpy(m.u.checkpoint.digest, digest, WIRE_DIGEST_LEN);
	PBFT_TRACE(r, "executed %llu = multiple of K -> send CHECKPOINT", (unsigned long long)seq);
	rc = pbft__send_signed(r, up, PBFT_DEST_OTHERS, 0, &m, &r->own_ckpt);
	if (rc)
		return rc;
	if (!c)
		return PBFT_OK;
	c->have_mine = 1;
	memcpy(c->mine, digest, WIRE_DIGEST_LEN);
	c->v[r->id].set = 1;
	c->v[r->id].verified = 1;
	memcpy(c->v[r->id].digest, digest, WIRE_DIGEST_LEN);
	memcpy(c->v[r->id].sig, r->own_ckpt.p + r->own_ckpt.len - WIRE_SIG_LEN, WIRE_SIG_LEN);
	/* The proof may have been waiting for our own execution. */
	for (uint32_t j = 0; j < r->n; j++) {
		if (c->v[j].set) {
			rc = pbft__ck_check(r, c, c->v[j].digest, up);
			if (rc || r->low >= seq)
				return rc;
		}
	}
	return PBFT_OK;
}

/* Replica j's CHECKPOINT m for window slot c. Its signature is checked now, or with
 * idle_verify only once a quorum needs it (pbft__idle). An unchecked one held for j is
 * checked before a different one from j may replace it, so that a forgery relayed by a
 * faulty replica cannot displace j's own, and costs at most one check, as on arrival. */
static int pbft__ck_add(struct pbft *r, struct pbft__ckpt *c, uint32_t j, const struct wire_msg *m,
			struct pbft_update *up)
{
	const struct wire_checkpoint *cp = &m->u.checkpoint;
	struct pbft__cpvote *v = &c->v[j];
	int same = v->set && memcmp(v->digest, cp->digest, WIRE_DIGEST_LEN) == 0;
	int rc;

	if (same && (v->verified || memcmp(v->sig, cp->sig, WIRE_SIG_LEN) == 0))
		return PBFT_OK; /* duplicate */
	if (v->set && !v->verified) {
		if (!pbft__ck_sig_ok(r, j, c->seq, v)) {
			pbft__drop(r, "CHECKPOINT with a bad signature");
			v->set = 0;
		} else {
			v->verified = 1;
			rc = pbft__ck_check(r, c, v->digest, up);
			if (rc || same || r->low >= c->seq || r->ready.seq >= c->seq)
				return rc;
		}
	}
	if (!r->cfg.idle_verify || v->set) {
		/* On arrival; or j, whose CHECKPOINT here checked, signed another digest. */
		if (r->cfg.crypto.verify(r->cfg.crypto.ctx, j, m->signed_part.p, m->signed_part.len,
					 cp->sig) != 0) {
			pbft__drop(r, "CHECKPOINT with a bad signature");
			return PBFT_OK;
		}
		v->verified = 1;
	} else {
		v->verified = 0;
	}
	v->set = 1;
	memcpy(v->digest, cp->digest, WIRE_DIGEST_LEN);
	memcpy(v->sig, cp->sig, WIRE_SIG_LEN);
	return pbft__ck_check(r, c, cp->digest, up);
}

int pbft__recv_checkpoint(struct pbft *r, const struct wire_msg *m, struct pbft_update *up)
{
	const struct wire_checkpoint *cp = &m->u.checkpoint;
	uint32_t j = m->hdr.sender;
	struct pbft__ckpt *c;

	if (j >= r->n || j == r->id || cp->seq == 0 || cp->seq % r->K != 0) {
		pbft__drop(r, "CHECKPOINT from a non-member or for a seq not a multiple of K");
		return PBFT_OK;
	}
	if (cp->seq <= r->low || cp->seq <= r->ready.seq)
		return PBFT_OK; /* already stable here, or proven and waiting to be durable */
	c = pbft__ck(r, cp->seq, 1);
	if (c)
		return pbft__ck_add(r, c, j, m, up);
	if (r->cplatest[j].seq >= cp->seq)
		return PBFT_OK;
	if (r->cfg.crypto.verify(r->cfg.crypto.ctx, j, m->signed_part.p, m->signed_part.len,
				 cp->sig) != 0) {
		pbft__drop(r, "CHECKPOINT with a bad signature");
		return PBFT_OK;
	}
	/* Above the window: we are behind. Keep each replica's latest. */
	struct pbft__cplatest *l = &r->cplatest[j];
	uint32_t replica[PBFT__MAX_N];
	uint8_t sig[PBFT__MAX_N][WIRE_SIG_LEN];
	struct pbft__proof p = { .seq = cp->seq, .count = 0, .replica = replica, .sig = sig };

	l->seq = cp->seq;
	memcpy(l->digest, cp->digest, WIRE_DIGEST_LEN);
	memcpy(l->sig, cp->sig, WIRE_SIG_LEN);
	memcpy(p.digest, cp->digest, WIRE_DIGEST_LEN);
	for (uint32_t i = 0; i < r->n; i++) {
		const struct pbft__cplatest *o = &r->cplatest[i];
		if (o->seq == cp->seq && memcmp(o->digest, cp->digest, WIRE_DIGEST_LEN) == 0) {
			replica[p.count] = i;
			memcpy(sig[p.count], o->sig, WIRE_SIG_LEN);
			p.count++;
		}
	}
	if (p.count < 2 * r->f + 1)
		return PBFT_OK;
	return pbft__proven(r, &p, NULL, up);
}

/* Send replica `to` the 2f+1 signed CHECKPOINTs of our stable checkpoint. */
int pbft__relay_proof(struct pbft *r, struct pbft_update *up, uint32_t to)
{
	int rc;

	for (uint32_t i = 0; i < r->stable.count; i++) {
		wire_buf_reset(&r->scratch2);
		rc = pbft__checkpoint_encode(r, &r->scratch2, r->stable.replica[i], r->stable.seq,
					     r->stable.digest, r->stable.sig[i]);
		if (rc)
			return rc;
		rc = pbft__send_raw(up, PBFT_DEST_REPLICA, to, r->scratch2.p, r->scratch2.len);
		if (rc)
			return rc;
	}
	return PBFT_OK;
}

/* PBFT_EV_DURABLE: our state is on disk up to seq; a proven checkpoint that waited for
 * it becomes stable. */
int pbft__durable(struct pbft *r, uint64_t seq, struct pbft_update *up)
{
	if (seq > r->last_executed) {
		pbft__drop(r, "DURABLE above the last executed seq");
		return PBFT_OK;
	}
	if (seq <= r->durable)
		return PBFT_OK;
	r->durable = seq;
	if (r->ready.seq == 0 || r->ready.seq > seq)
		return PBFT_OK;
	if (r->ready.seq > r->low && !r->need_state && !r->xfer.active) {
		PBFT_TRACE(r, "state durable at %llu -> checkpoint %llu stable",
			   (unsigned long long)seq, (unsigned long long)r->ready.seq);
		int rc = pbft__make_stable(r, &r->ready, up);
		if (rc)
			return rc;
	}
	r->ready.seq = 0;
	return PBFT_OK;
}

/* The first unchecked CHECKPOINT in the window that a quorum would need: *j of slot
 * *out; 0 if none. */
static int pbft__ck_unchecked(struct pbft *r, struct pbft__ckpt **out, uint32_t *j)
{
	for (uint32_t i = 0; i < r->nck; i++) {
		struct pbft__ckpt *c = &r->ck[i];
		if (c->seq == 0 || c->seq <= r->low || c->seq <= r->ready.seq)
			continue;
		for (uint32_t k = 0; k < r->n; k++) {
			if (c->v[k].set && !c->v[k].verified &&
			    pbft__ck_matching(r, c, c->v[k].digest) >= 2 * r->f + 1) {
				*out = c;
				*j = k;
				return 1;
			}
		}
	}
	return 0;
}

/* PBFT_EV_IDLE (idle_verify): check one unchecked CHECKPOINT signature that a quorum in
 * the window needs, then see whether its checkpoint is proven. */
int pbft__idle(struct pbft *r, struct pbft_update *up)
{
	struct pbft__ckpt *c;
	uint32_t j;
	uint8_t digest[WIRE_DIGEST_LEN];

	if (!pbft__ck_unchecked(r, &c, &j)) {
		r->idle_work = 0;
		return PBFT_OK;
	}
	memcpy(digest, c->v[j].digest, WIRE_DIGEST_LEN);
	if (pbft__ck_sig_ok(r, j, c->seq, &c->v[j])) {
		c->v[j].verified = 1;
	} else {
		pbft__drop(r, "CHECKPOINT with a bad signature");
		c->v[j].set = 0;
	}
	return pbft__ck_check(r, c, digest, up); /* idle_work stays set: look again */
}
