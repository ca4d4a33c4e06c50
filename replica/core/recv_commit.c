/* recv_commit.c: COMMIT votes; committed once 2f+1 matching COMMITs (a commit
 * certificate) and the batch of that digest are held; then execution in order. */
#include <string.h>

#include "replica/core/pbft_int.h"

int pbft__check_committed(struct pbft *r, struct pbft__entry *e, uint64_t view,
			  const uint8_t *digest, struct pbft_update *up)
{
	uint32_t votes = 0;

	if (e->committed)
		return PBFT_OK;
	if ((e->has_pp || e->relayed) && memcmp(e->cur.digest, digest, WIRE_DIGEST_LEN) == 0)
		e->exec_pc = 0;
	else if (e->has_p && memcmp(e->pc.digest, digest, WIRE_DIGEST_LEN) == 0)
		e->exec_pc = 1;
	else
		return PBFT_OK; /* the batch is unknown yet */
	for (uint32_t j = 0; j < r->n; j++) {
		const struct pbft__vote *v = &e->commit[j];
		if (v->set && v->view == view && memcmp(v->digest, digest, WIRE_DIGEST_LEN) == 0)
			votes++;
	}
	if (votes < 2 * r->f + 1)
		return PBFT_OK;
	e->committed = 1;
	if (e->seq > r->last_committed)
		r->last_committed = e->seq;
	PBFT_TRACE(r, "view %llu seq %llu: %u matching COMMITs -> committed",
		   (unsigned long long)view, (unsigned long long)e->seq, votes);
	return pbft__execute_ready(r, up);
}

int pbft__recv_commit(struct pbft *r, const struct wire_msg *m, uint32_t from,
		      struct pbft_update *up)
{
	const struct wire_prepare *c = &m->u.prepare;
	struct pbft__entry *e;

	if (m->hdr.sender != from) {
		pbft__drop(r, "COMMIT not from its sender");
		return PBFT_OK;
	}
	/* Commits of earlier views still form commit certificates (retransmissions to a
	 * replica that lags); commits of later views wait for that view. */
	if (c->view > r->view) {
		pbft__drop(r, "COMMIT for a future view");
		return PBFT_OK;
	}
	if (c->seq <= r->last_executed)
		return PBFT_OK; /* late votes of a seq already executed: not an error */
	e = pbft__entry(r, c->seq, 1);
	if (!e) {
		pbft__drop(r, "COMMIT outside the watermarks");
		return PBFT_OK;
	}
	e->commit[from].set = 1;
	e->commit[from].view = c->view;
	memcpy(e->commit[from].digest, c->digest, WIRE_DIGEST_LEN);
	return pbft__check_committed(r, e, c->view, c->digest, up);
}
