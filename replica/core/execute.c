/* execute.c: executing committed batches strictly in sequence order, exactly once per
 * client request (reply cache), replying, and taking checkpoints every K. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/pbft_int.h"

/* Per-request reply-cache slots of the batch being executed (UINT32_MAX: skipped),
 * in a buffer reused across batches. */
static int pbft__marks(struct pbft *r, uint32_t count, uint32_t **out)
{
	if (r->marks_cap < count) {
		uint32_t *nm = realloc(r->marks, (size_t)count * sizeof(*nm));
		if (!nm)
			return PBFT_ERR_NOMEM;
		r->marks = nm;
		r->marks_cap = count;
	}
	*out = r->marks;
	return PBFT_OK;
}

static int pbft__execute_one(struct pbft *r, struct pbft__entry *e, struct pbft_update *up)
{
	const struct pbft__batch *bt = e->exec_pc ? &e->pc : &e->cur;
	struct wire_batch b, run;
	struct wire_iter it;
	struct wire_request req;
	uint32_t *mk = NULL;
	uint32_t i = 0, skipped = 0, k = 0;
	size_t roff = 0;
	int rc;

	pbft__batch_view(bt, &b);
	if (b.count > 0) {
		rc = pbft__marks(r, b.count, &mk);
		if (rc)
			return rc;
	}
	/* Exactly once, deterministically: a request whose timestamp is not above the
	 * client's last executed one is skipped (and gets the cached reply). */
	wire_iter_batch(&it, &b);
	while (wire_next_request(&it, &req)) {
		struct pbft__client *c = pbft__client_find(r, req.client);

		if (c && req.timestamp <= c->ts) {
			mk[i] = UINT32_MAX;
			skipped++;
		} else {
			c = pbft__client_touch(r, req.client, &mk[i]);
			c->ts = req.timestamp;
			c->stamp = e->seq << 16 | i;
		}
		i++;
	}
	run = b;
	if (skipped > 0) {
		wire_buf_reset(&r->batchbuf);
		wire_iter_batch(&it, &b);
		i = 0;
		for (;;) {
			const uint8_t *start = it.p;
			if (!wire_next_request(&it, &req))
				break;
			if (mk[i++] != UINT32_MAX)
				wire_put_fixed(&r->batchbuf, start, (size_t)(it.p - start));
		}
		if (wire_buf_error(&r->batchbuf))
			return PBFT_ERR_NOMEM;
		run.count = b.count - skipped;
		run.reqs.p = r->batchbuf.p;
		run.reqs.len = (uint32_t)r->batchbuf.len;
		PBFT_TRACE(r, "seq %llu: %u requests already executed -> skip them",
			   (unsigned long long)e->seq, skipped);
	}
	r->results.count = 0;
	wire_buf_reset(&r->results.data);
	if (r->cfg.app.execute(r->cfg.app.ctx, e->seq, &run, &r->results) != 0)
		return PBFT_ERR_APP;
	if (r->results.count != run.count || wire_buf_error(&r->results.data))
		return PBFT_ERR_APP;
	r->last_executed = e->seq;
	PBFT_TRACE(r, "seq %llu committed, %llu executed -> execute %u requests",
		   (unsigned long long)e->seq, (unsigned long long)(e->seq - 1), run.count);

	wire_iter_batch(&it, &b);
	i = 0;
	while (wire_next_request(&it, &req)) {
		struct pbft__pending *p = pbft__pending_find(r, req.client);
		uint32_t s = mk[i++];

		if (p && p->ts <= req.timestamp)
			pbft__pending_remove(r, p);
		if (s == UINT32_MAX) {
			struct pbft__client *c = pbft__client_find(r, req.client);
			if (c && c->ts == req.timestamp) {
				rc = pbft__send_reply(r, up, c->key, c->view, c->ts, 0, c->result.p,
						      c->result.len);
				if (rc)
					return rc;
			}
			continue;
		}
		struct pbft__client *c = &r->clients[s];
		uint32_t len = r->results.len[k++];

		/* A later request of the same client in this batch has moved its entry on. */
		if (c->ts == req.timestamp) {
			c->view = r->view;
			wire_buf_reset(&c->result);
			PBFT__ACCT(r, &c->result,
				   wire_put_fixed(&c->result, r->results.data.p + roff, len));
			if (wire_buf_error(&c->result))
				return PBFT_ERR_NOMEM;
			rc = pbft__client_record(r, up, s);
			if (rc)
				return rc;
		}
		rc = pbft__send_reply(r, up, req.client, r->view, req.timestamp, 0,
				      r->results.data.p + roff, len);
		if (rc)
			return rc;
		roff += len;
	}
	if (e->seq % r->K == 0)
		return pbft__take_checkpoint(r, e->seq, up);
	return PBFT_OK;
}

int pbft__execute_ready(struct pbft *r, struct pbft_update *up)
{
	int progress = 0, rc = PBFT_OK;

	while (!r->xfer.active) {
		struct pbft__entry *e = pbft__entry(r, r->last_executed + 1, 0);

		if (!e || !e->committed)
			break;
		rc = pbft__execute_one(r, e, up);
		if (rc)
			break;
		progress = 1;
	}
	if (progress)
		pbft__timer_request(r, 1);
	return rc;
}
