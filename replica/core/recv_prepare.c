/* recv_prepare.c: PREPARE votes; prepared = the pre-prepare plus 2f matching PREPAREs
 * from distinct backups; then the certificate is persisted and COMMIT sent. */
#include <string.h>

#include "replica/core/pbft_int.h"

int pbft__check_prepared(struct pbft *r, struct pbft__entry *e, struct pbft_update *up)
{
	uint32_t primary = pbft__primary(r, e->pp_view);
	struct wire_buf *b = &r->scratch2;
	struct wire_msg m;
	uint32_t votes = 0;
	int rc;

	if (!e->has_pp || e->pp_view != r->view || !r->active || e->sent_commit)
		return PBFT_OK;
	for (uint32_t j = 0; j < r->n; j++) {
		const struct pbft__vote *v = &e->prep[j];
		if (j != primary && v->set && v->view == e->pp_view &&
		    memcmp(v->digest, e->cur.digest, WIRE_DIGEST_LEN) == 0)
			votes++;
	}
	if (votes < 2 * r->f)
		return PBFT_OK;
	/* Prepared: the certificate survives view changes (P set) and crashes. */
	if (!(e->has_p && e->p_view == e->pp_view &&
	      memcmp(e->pc.digest, e->cur.digest, WIRE_DIGEST_LEN) == 0)) {
		rc = pbft__batch_copy(r, &e->pc, &e->cur);
		if (rc)
			return rc;
	}
	e->has_p = 1;
	e->p_view = e->pp_view;
	e->p_turn = r->turn;
	wire_buf_reset(b);
	wire_put_u64(b, e->p_view);
	wire_put_fixed(b, e->pc.digest, WIRE_DIGEST_LEN);
	wire_put_u8(b, 0); /* the batch is the PP record's */
	rc = pbft__record(up, PBFT__REC_PREPARED, e->seq, b, 1);
	if (rc)
		return rc;
	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_COMMIT);
	m.u.prepare.view = e->pp_view;
	m.u.prepare.seq = e->seq;
	memcpy(m.u.prepare.digest, e->cur.digest, WIRE_DIGEST_LEN);
	PBFT_TRACE(r, "view %llu seq %llu: pre-prepare + %u PREPAREs -> prepared, send COMMIT",
		   (unsigned long long)e->pp_view, (unsigned long long)e->seq, votes);
	rc = pbft__send(r, up, PBFT_DEST_OTHERS, 0, NULL, &m);
	if (rc)
		return rc;
	e->sent_commit = 1;
	e->commit[r->id].set = 1;
	e->commit[r->id].view = e->pp_view;
	memcpy(e->commit[r->id].digest, e->cur.digest, WIRE_DIGEST_LEN);
	return pbft__check_committed(r, e, e->pp_view, e->cur.digest, up);
}

int pbft__recv_prepare(struct pbft *r, const struct wire_msg *m, uint32_t from,
		       struct pbft_update *up)
{
	const struct wire_prepare *p = &m->u.prepare;
	struct pbft__entry *e;

	if (m->hdr.sender != from) {
		pbft__drop(r, "PREPARE not from its sender");
		return PBFT_OK;
	}
	if (!r->active || p->view != r->view) {
		pbft__drop(r, "PREPARE not for the current active view");
		return PBFT_OK;
	}
	if (from == pbft__primary(r, p->view)) {
		pbft__drop(r, "PREPARE from the primary");
		return PBFT_OK;
	}
	e = pbft__entry(r, p->seq, 1);
	if (!e) {
		pbft__drop(r, "PREPARE outside the watermarks");
		return PBFT_OK;
	}
	e->prep[from].set = 1;
	e->prep[from].view = p->view;
	memcpy(e->prep[from].digest, p->digest, WIRE_DIGEST_LEN);
	return pbft__check_prepared(r, e, up);
}
