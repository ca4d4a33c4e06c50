/* execute.c: executing committed batches strictly in sequence order, exactly once per
 * client request (decided from the app's replicated client table), replying, and taking
 * checkpoints every K. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/pbft_int.h"

#define PBFT__SKIP UINT32_MAX

/* Scratch of one batch of count requests: marks (per request: index into blast, or
 * PBFT__SKIP), blast (per distinct client) and bmap (client -> blast index), emptied.
 * Buffers grow to the largest batch seen (at most limits->max_batch_count) and stay. */
static int pbft__batch_scratch(struct pbft *r, uint32_t count)
{
	uint32_t cap = 8;

	while (cap < 2 * count)
		cap *= 2;
	if (r->marks_cap < count) {
		uint32_t *nm = realloc(r->marks, (size_t)count * sizeof(*nm));
		if (!nm)
			return PBFT_ERR_NOMEM;
		r->marks = nm;
		uint64_t *nl = realloc(r->blast, (size_t)count * sizeof(*nl));
		if (!nl)
			return PBFT_ERR_NOMEM;
		r->blast = nl;
		r->dyn_mem += (size_t)(count - r->marks_cap) * (sizeof(*nm) + sizeof(*nl));
		r->marks_cap = count;
	}
	if (r->bmap_alloc < cap) {
		struct pbft__kmslot *nt = realloc(r->bmap.t, (size_t)cap * sizeof(*nt));
		if (!nt)
			return PBFT_ERR_NOMEM;
		r->bmap.t = nt;
		r->dyn_mem += (size_t)(cap - r->bmap_alloc) * sizeof(*nt);
		r->bmap_alloc = cap;
	}
	r->bmap.cap = cap;
	memset(r->bmap.t, 0, (size_t)cap * sizeof(*r->bmap.t));
	return PBFT_OK;
}

static int pbft__execute_one(struct pbft *r, struct pbft__entry *e, struct pbft_update *up)
{
	const struct pbft__batch *bt = e->exec_pc ? &e->pc : &e->cur;
	struct wire_batch b, run;
	struct wire_iter it;
	struct wire_request req;
	uint32_t *mk;
	uint32_t i = 0, skipped = 0, k = 0, nb = 0;
	size_t roff = 0;
	int rc;

	pbft__batch_view(bt, &b);
	rc = pbft__batch_scratch(r, b.count);
	if (rc)
		return rc;
	mk = r->marks;
	/* Exactly once, deterministically: a request whose timestamp is not above the
	 * client's last executed one (in the replicated client table, or earlier in this
	 * batch) is skipped; every correct replica decides the same from the same state. */
	wire_iter_batch(&it, &b);
	while (wire_next_request(&it, &req)) {
		uint8_t cid[PBFT__CID_LEN];
		pbft__cid(cid, req.client, req.lane);
		uint32_t s = pbft__keymap_find(&r->bmap, cid);

		if (s == PBFT__NONE) {
			struct pbft__client *c;

			rc = pbft__client_get(r, cid, &c);
			if (rc)
				return rc;
			s = nb++;
			r->blast[s] = c->ts;
			pbft__keymap_put(&r->bmap, cid, s);
		}
		if (req.timestamp <= r->blast[s]) {
			mk[i] = PBFT__SKIP;
			skipped++;
		} else {
			mk[i] = s;
			r->blast[s] = req.timestamp;
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
			if (mk[i++] != PBFT__SKIP)
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

	/* The app recorded (timestamp, result) of each executed request, in order: the
	 * cache takes the same values. */
	wire_iter_batch(&it, &b);
	i = 0;
	while (wire_next_request(&it, &req)) {
		uint8_t cid[PBFT__CID_LEN];
		pbft__cid(cid, req.client, req.lane);
		struct pbft__pending *p = pbft__pending_find(r, cid);
		struct pbft__client *c;

		if (p && p->ts <= req.timestamp)
			pbft__pending_remove(r, p);
		if (mk[i++] == PBFT__SKIP) {
			/* A retransmission of the client's last executed request: resend. */
			if (req.timestamp != r->blast[pbft__keymap_find(&r->bmap, cid)])
				continue;
			rc = pbft__client_get(r, cid, &c);
			if (rc)
				return rc;
			if (c->ts == req.timestamp) {
				rc = pbft__send_reply(r, up, c->key, r->view, c->ts, 0, c->result.p,
						      c->result.len);
				if (rc)
					return rc;
			}
			continue;
		}
		uint32_t len = r->results.len[k++];

		c = pbft__client_touch(r, cid);
		c->ts = req.timestamp;
		wire_buf_reset(&c->result);
		PBFT__ACCT(r, &c->result, wire_put_fixed(&c->result, r->results.data.p + roff, len));
		if (wire_buf_error(&c->result))
			return PBFT_ERR_NOMEM;
		rc = pbft__send_reply(r, up, cid, r->view, req.timestamp, 0,
				      r->results.data.p + roff, len);
		if (rc)
			return rc;
		roff += len;
	}
	if (e->seq % r->K == 0)
		return pbft__take_checkpoint(r, e->seq, up);
	return PBFT_OK;
}

/* Is e committed only thanks to our own COMMIT, whose prepared certificate was recorded
 * in this turn and is not on disk yet? Then its effects must wait: were they written
 * first and the process died before the turn's records, the replica would restart with
 * the batch executed and no certificate for it, and its COMMIT never sent; the others
 * could then decide another batch at that seq in a later view (with f faulty replicas
 * among the 2f+1 it counted). A commit certificate of 2f+1 other replicas needs no
 * record of ours. */
static int pbft__needs_own_record(const struct pbft *r, const struct pbft__entry *e)
{
	const struct pbft__vote *mine = &e->commit[r->id];
	uint32_t others = 0;

	if (!e->has_p || e->p_turn != r->turn || !mine->set)
		return 0;
	for (uint32_t j = 0; j < r->n; j++) {
		const struct pbft__vote *v = &e->commit[j];
		if (j != r->id && v->set && v->view == mine->view &&
		    memcmp(v->digest, mine->digest, WIRE_DIGEST_LEN) == 0)
			others++;
	}
	return others < 2 * r->f + 1;
}

int pbft__execute_ready(struct pbft *r, struct pbft_update *up)
{
	int progress = 0, rc = PBFT_OK;

	while (!pbft__state_unknown(r)) {
		struct pbft__entry *e = pbft__entry(r, r->last_executed + 1, 0);

		if (!e || !e->committed)
			break;
		if (pbft__needs_own_record(r, e)) {
			PBFT_TRACE(r, "seq %llu committed with our COMMIT of this turn -> execute once its certificate is on disk",
				   (unsigned long long)e->seq);
			up->again = 1;
			break;
		}
		rc = pbft__execute_one(r, e, up);
		if (rc)
			break;
		progress = 1;
	}
	if (progress)
		pbft__timer_request(r, 1);
	return rc;
}
