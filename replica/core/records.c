/* records.c: restoring a replica from its durable records (formats in pbft_int.h):
 * view, stable checkpoint with proof, accepted pre-prepares and prepared certificates,
 * each validated before it is used. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/pbft_int.h"

/* A batch read from a record, validated by a round trip through the PRE-PREPARE codec
 * (request structure, limits, and the digest). */
static int pbft__rec_batch(struct pbft *r, struct wire_cursor *c, const uint8_t *digest,
			   struct pbft__batch *out)
{
	struct wire_msg m, d;
	struct wire_buf b;
	int rc = PBFT_ERR_RECORD;

	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_PREPREPARE);
	m.u.preprepare.batch.time = wire_get_u64(c);
	m.u.preprepare.batch.count = wire_get_u32(c);
	m.u.preprepare.batch.reqs = wire_get_bytes(c, r->lim.max_batch_bytes);
	if (c->err)
		return PBFT_ERR_RECORD;
	memcpy(m.u.preprepare.digest, digest, WIRE_DIGEST_LEN);
	m.u.preprepare.seq = 1;
	wire_buf_init(&b);
	if (wire_encode(&b, &m) != WIRE_OK)
		goto out;
	if (wire_decode(b.p, b.len, &r->lim, &d) != WIRE_OK)
		goto out;
	rc = pbft__batch_set(r, out, &d.u.preprepare.batch, digest);
out:
	wire_buf_free(&b);
	return rc;
}

static int pbft__rec_view(struct pbft *r, struct wire_cursor *c)
{
	r->view = wire_get_u64(c);
	r->active = wire_get_u8(c) != 0;
	r->last_active_view = wire_get_u64(c);
	r->nv_max_s = wire_get_u64(c);
	if (wire_cursor_end(c) != WIRE_OK || r->last_active_view > r->view ||
	    (!r->active && r->nv_max_s != 0))
		return PBFT_ERR_RECORD;
	return PBFT_OK;
}

static int pbft__rec_stable(struct pbft *r, struct wire_cursor *c)
{
	uint64_t seen = 0;

	r->stable.seq = wire_get_u64(c);
	wire_get_fixed(c, r->stable.digest, WIRE_DIGEST_LEN);
	r->stable.count = wire_get_u32(c);
	if (c->err || r->stable.count > r->n || r->stable.seq % r->K != 0)
		return PBFT_ERR_RECORD;
	for (uint32_t i = 0; i < r->stable.count; i++) {
		r->stable.replica[i] = wire_get_u32(c);
		wire_get_fixed(c, r->stable.sig[i], WIRE_SIG_LEN);
		if (c->err || r->stable.replica[i] >= r->n || (seen & (1ull << r->stable.replica[i])))
			return PBFT_ERR_RECORD;
		seen |= 1ull << r->stable.replica[i];
	}
	if (wire_cursor_end(c) != WIRE_OK)
		return PBFT_ERR_RECORD;
	if (r->stable.seq > 0 && r->stable.count < 2 * r->f + 1)
		return PBFT_ERR_RECORD;
	r->low = r->stable.seq;
	return PBFT_OK;
}

static int pbft__rec_pp(struct pbft *r, uint64_t seq, struct wire_cursor *c)
{
	struct pbft__entry *e = pbft__entry(r, seq, 1);
	uint8_t digest[WIRE_DIGEST_LEN];
	uint64_t view;
	int rc;

	view = wire_get_u64(c);
	wire_get_fixed(c, digest, WIRE_DIGEST_LEN);
	if (c->err)
		return PBFT_ERR_RECORD;
	if (!e)
		return PBFT_OK; /* at or below the stable checkpoint: not yet deleted */
	rc = pbft__rec_batch(r, c, digest, &e->cur);
	if (rc)
		return rc;
	if (wire_cursor_end(c) != WIRE_OK || view > r->view)
		return PBFT_ERR_RECORD;
	e->has_pp = 1;
	e->pp_view = view;
	if (pbft__primary(r, view) != r->id) {
		/* We may have sent PREPARE: repeat the same vote, never another. */
		e->sent_prepare = 1;
		e->prep[r->id].set = 1;
		e->prep[r->id].view = view;
		memcpy(e->prep[r->id].digest, digest, WIRE_DIGEST_LEN);
	}
	if (r->active && view == r->view && pbft__primary(r, view) == r->id && seq > r->last_proposed)
		r->last_proposed = seq;
	return PBFT_OK;
}

static int pbft__rec_prepared(struct pbft *r, uint64_t seq, struct wire_cursor *c)
{
	struct pbft__entry *e = pbft__entry(r, seq, 1);
	uint8_t digest[WIRE_DIGEST_LEN];
	uint64_t view;
	int rc;

	view = wire_get_u64(c);
	wire_get_fixed(c, digest, WIRE_DIGEST_LEN);
	uint8_t has_batch = wire_get_u8(c);
	if (c->err || has_batch > 1)
		return PBFT_ERR_RECORD;
	if (!e)
		return PBFT_OK;
	if (has_batch) {
		rc = pbft__rec_batch(r, c, digest, &e->pc);
		if (rc)
			return rc;
	} else {
		if (!e->has_pp || memcmp(e->cur.digest, digest, WIRE_DIGEST_LEN) != 0)
			return PBFT_ERR_RECORD;
		rc = pbft__batch_copy(r, &e->pc, &e->cur);
		if (rc)
			return rc;
	}
	if (wire_cursor_end(c) != WIRE_OK || view > r->view)
		return PBFT_ERR_RECORD;
	e->has_p = 1;
	e->p_view = view;
	if (e->has_pp && e->pp_view == view && memcmp(e->cur.digest, digest, WIRE_DIGEST_LEN) == 0) {
		e->sent_commit = 1;
		e->commit[r->id].set = 1;
		e->commit[r->id].view = view;
		memcpy(e->commit[r->id].digest, digest, WIRE_DIGEST_LEN);
	}
	return PBFT_OK;
}

/* Records come in any order: view and stable checkpoint first (they define the window),
 * then pre-prepares, then prepared certificates (which may refer to a pre-prepare). */
int pbft__restore(struct pbft *r, const struct pbft_record *recs, const uint8_t *bytes,
		  size_t nrec)
{
	static const uint8_t order[] = { PBFT__REC_VIEW, PBFT__REC_STABLE, PBFT__REC_PP,
					 PBFT__REC_PREPARED };
	int rc;

	for (size_t o = 0; o < sizeof(order); o++) {
		for (size_t i = 0; i < nrec; i++) {
			const struct pbft_record *rec = &recs[i];
			struct wire_cursor c;

			if (rec->kind != order[o] || rec->del_below)
				continue;
			wire_cursor_init(&c, bytes + rec->off, rec->len);
			switch (rec->kind) {
			case PBFT__REC_VIEW: rc = pbft__rec_view(r, &c); break;
			case PBFT__REC_STABLE: rc = pbft__rec_stable(r, &c); break;
			case PBFT__REC_PP: rc = pbft__rec_pp(r, rec->key, &c); break;
			default: rc = pbft__rec_prepared(r, rec->key, &c); break;
			}
			if (rc)
				return rc;
		}
	}
	for (size_t i = 0; i < nrec; i++) {
		if (recs[i].kind < PBFT__REC_VIEW || recs[i].kind > PBFT__REC_STABLE)
			return PBFT_ERR_RECORD;
	}
	if (r->active)
		r->last_active_view = r->view;
	if (r->last_proposed < r->low)
		r->last_proposed = r->low;
	/* Our own NEW-VIEW assigned every seq up to max-s (pbft__rec_view). */
	if (r->active && pbft__primary(r, r->view) == r->id && r->last_proposed < r->nv_max_s)
		r->last_proposed = r->nv_max_s;
	if (r->last_committed < r->low)
		r->last_committed = r->low;
	if (r->last_executed < r->low) {
		/* The app is behind our stable checkpoint: fetch it at the first STATUS round. */
		pbft__proof_copy(&r->target, &r->stable, r->n);
	}
	return PBFT_OK;
}
