/* check.c: the simulator's invariants: agreement on batches and checkpoint digests among
 * correct replicas, no correct replica voting twice in a view (across its restarts),
 * accepted replies executed and kept, bounded memory, and liveness. */
#include "tests/sim/sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- seq maps */
int sim_seqmap_init(struct sim_seqmap *m)
{
	memset(m, 0, sizeof(*m));
	m->base = 1;
	return 0;
}

void sim_seqmap_free(struct sim_seqmap *m)
{
	free(m->set);
	free(m->digest);
	free(m->who);
	memset(m, 0, sizeof(*m));
}

/* Slot of seq (>= base), growing the window; NULL on allocation failure. */
static size_t sim__slot(struct sim_seqmap *m, uint64_t seq, int *ok)
{
	uint64_t off = seq - m->base;

	*ok = 1;
	if (off >= m->cap) {
		size_t cap = m->cap ? m->cap : 256;
		while (cap <= off)
			cap *= 2;
		uint8_t *set = realloc(m->set, cap);
		if (set == NULL) {
			*ok = 0;
			return 0;
		}
		m->set = set;
		uint8_t (*dg)[WIRE_DIGEST_LEN] = realloc(m->digest, cap * sizeof(*dg));
		if (dg == NULL) {
			*ok = 0;
			return 0;
		}
		m->digest = dg;
		uint32_t *who = realloc(m->who, cap * sizeof(*who));
		if (who == NULL) {
			*ok = 0;
			return 0;
		}
		m->who = who;
		memset(m->set + m->cap, 0, cap - m->cap);
		m->cap = cap;
	}
	return (size_t)off;
}

/* Record (seq, digest) by replica: 1 if it matches or is new, 0 on a mismatch
 * (*first receives the replica that recorded first). Below the window: ignored. */
static int sim__seqmap_put(struct sim *s, struct sim_seqmap *m, uint64_t seq,
			   const uint8_t digest[WIRE_DIGEST_LEN], uint32_t replica, uint32_t *first)
{
	int ok;
	size_t i;

	if (seq < m->base)
		return 1;
	i = sim__slot(m, seq, &ok);
	if (!ok) {
		sim_fail(s, "out of memory in the checker");
		return 1;
	}
	if (!m->set[i]) {
		m->set[i] = 1;
		memcpy(m->digest[i], digest, WIRE_DIGEST_LEN);
		m->who[i] = replica;
		return 1;
	}
	*first = m->who[i];
	return memcmp(m->digest[i], digest, WIRE_DIGEST_LEN) == 0;
}

/* Drop everything below seq. */
static void sim__seqmap_prune(struct sim_seqmap *m, uint64_t seq)
{
	uint64_t drop;

	if (seq <= m->base)
		return;
	drop = seq - m->base;
	if (drop >= m->cap) {
		if (m->cap)
			memset(m->set, 0, m->cap);
	} else {
		size_t keep = m->cap - (size_t)drop;
		memmove(m->set, m->set + drop, keep);
		memmove(m->digest, m->digest + drop, keep * sizeof(*m->digest));
		memmove(m->who, m->who + drop, keep * sizeof(*m->who));
		memset(m->set + keep, 0, (size_t)drop);
	}
	m->base = seq;
}

static void sim__hex8(const uint8_t *d, char out[17])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < 8; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[16] = '\0';
}

void sim_check_exec(struct sim *s, uint32_t replica, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN])
{
	uint32_t first = 0;

	if (!sim__seqmap_put(s, &s->execmap, seq, digest, replica, &first)) {
		char a[17], b[17];
		size_t i = (size_t)(seq - s->execmap.base);
		sim__hex8(s->execmap.digest[i], a);
		sim__hex8(digest, b);
		sim_fail(s, "SAFETY: replicas %u and %u executed different batches at seq %" PRIu64
			 " (%s.. vs %s..)", first, replica, seq, a, b);
	}
}

void sim_check_ckpt(struct sim *s, uint32_t replica, uint64_t seq, const uint8_t digest[WIRE_DIGEST_LEN])
{
	uint32_t first = 0;

	if (!sim__seqmap_put(s, &s->ckptmap, seq, digest, replica, &first)) {
		char a[17], b[17];
		size_t i = (size_t)(seq - s->ckptmap.base);
		sim__hex8(s->ckptmap.digest[i], a);
		sim__hex8(digest, b);
		sim_fail(s, "SAFETY: replicas %u and %u have different state digests at checkpoint %" PRIu64
			 " (%s.. vs %s..)", first, replica, seq, a, b);
	}
}

/* ---------------------------------------------------------------- requests */
static struct sim_exec_rec *sim__hist_find(struct sim_client_hist *h, uint64_t ts, size_t *pos)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (h->r[mid].ts == ts) {
			*pos = mid;
			return &h->r[mid];
		}
		if (h->r[mid].ts < ts)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return NULL;
}

void sim_hist_free(struct sim_client_hist *h)
{
	free(h->r);
	free(h->accepted);
	memset(h, 0, sizeof(*h));
}

void sim_keyhist_free(struct sim_keyhist *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}

/* Remember the value op (first correct execution, result res) left in its key. */
static void sim__keyhist_note(struct sim *s, struct wire_bytes op, const uint8_t *res, size_t rlen)
{
	struct sim_keyval kv;
	struct sim_keyhist *h;
	int k;

	if (op.len < 2 || (uint32_t)op.p[1] + 2 > op.len)
		return;
	k = sim_key_index(op.p + 2, op.p[1]);
	if (k < 0)
		return;
	memset(&kv, 0, sizeof(kv));
	switch (op.p[0]) {
	case 'P':
		kv.present = 1;
		kv.len = (uint8_t)(op.len - 2 - op.p[1]);
		if (kv.len > SIM_MAX_VALUE)
			return;
		memcpy(kv.v, op.p + 2 + op.p[1], kv.len);
		break;
	case 'I':
		if (rlen != 8)
			return;
		kv.present = 1;
		kv.len = 8;
		memcpy(kv.v, res, 8);
		break;
	case 'D':
		break;
	default:
		return;
	}
	h = &s->keyhist[k];
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 32;
		struct sim_keyval *nv = realloc(h->v, cap * sizeof(*nv));
		if (nv == NULL) {
			sim_fail(s, "out of memory in the checker");
			return;
		}
		h->v = nv;
		h->cap = cap;
	}
	h->v[h->n++] = kv;
}

/* A read-only GET's answer: absent (every key starts so) or a value the key has held. */
static void sim__check_ro(struct sim *s, uint32_t client, uint64_t ts, const uint8_t *op,
			  size_t oplen, const uint8_t *res, size_t rlen)
{
	const struct sim_keyhist *h;
	int k;

	if (oplen < 2 || op[0] != 'G' || (size_t)op[1] + 2 != oplen)
		return;
	k = sim_key_index(op + 2, op[1]);
	if (k < 0)
		return;
	/* The GET result, padding, its length (SIM_RO_RESULT in app.c). */
	size_t olen = rlen >= 1 ? res[rlen - 1] : 0;
	if (rlen < 2 || olen + 1 > rlen) {
		sim_fail(s, "SAFETY: client %u accepted a malformed read-only answer (%zu bytes, ts %" PRIu64 ")",
			 client, rlen, ts);
		return;
	}
	for (size_t i = olen; i + 1 < rlen; i++)
		if (res[i] != (uint8_t)(0xa0 + i + 1)) {
			sim_fail(s, "SAFETY: client %u accepted a read-only answer with altered padding (ts %" PRIu64 ")",
				 client, ts);
			return;
		}
	rlen = olen;
	if (rlen == 1 && res[0] == 0)
		return;
	h = &s->keyhist[k];
	if (rlen >= 1 && res[0] == 1)
		for (size_t i = 0; i < h->n; i++)
			if (h->v[i].present && h->v[i].len == rlen - 1 &&
			    memcmp(h->v[i].v, res + 1, rlen - 1) == 0)
				return;
	sim_fail(s, "SAFETY: client %u accepted a read-only answer for key %s (ts %" PRIu64
		 ") that the key never held", client, sim_key_names[k], ts);
}

void sim_check_request(struct sim *s, uint32_t replica, uint64_t seq, int client, uint64_t ts,
		       struct wire_bytes op, const uint8_t *result, size_t rlen)
{
	struct sim_client_hist *h;
	struct sim_exec_rec *rec;
	size_t pos;

	if (client < 0) {
		sim_fail(s, "SAFETY: replica %u executed a request of an unknown client at seq %" PRIu64,
			 replica, seq);
		return;
	}
	h = &s->hist[client];
	if (ts > h->issued_max) {
		sim_fail(s, "SAFETY: replica %u executed client %d's timestamp %" PRIu64
			 " at seq %" PRIu64 ", which the client never sent (latest %" PRIu64 ")",
			 replica, client, ts, seq, h->issued_max);
		return;
	}
	if (rlen > SIM_MAX_RESULT)
		rlen = SIM_MAX_RESULT;
	rec = sim__hist_find(h, ts, &pos);
	if (rec != NULL) {
		if (rec->seq != seq || rec->rlen != rlen || memcmp(rec->result, result, rlen) != 0) {
			sim_fail(s, "SAFETY: client %d ts %" PRIu64 " executed at seq %" PRIu64
				 " by replica %u, but at seq %" PRIu64 " (or with another result) before",
				 client, ts, seq, replica, rec->seq);
			return;
		}
		rec->replicas |= 1ull << replica;
		return;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct sim_exec_rec *nr = realloc(h->r, cap * sizeof(*nr));
		if (nr == NULL) {
			sim_fail(s, "out of memory in the checker");
			return;
		}
		h->r = nr;
		h->cap = cap;
	}
	memmove(&h->r[pos + 1], &h->r[pos], (h->n - pos) * sizeof(*h->r));
	h->n++;
	rec = &h->r[pos];
	memset(rec, 0, sizeof(*rec));
	rec->ts = ts;
	rec->seq = seq;
	rec->replicas = 1ull << replica;
	rec->rlen = (uint32_t)rlen;
	memcpy(rec->result, result, rlen);
	sim__keyhist_note(s, op, result, rlen);
}

void sim_check_accept(struct sim *s, uint32_t client, uint64_t ts, const uint8_t *op, size_t oplen,
		      const uint8_t *result, size_t rlen, int read_only)
{
	struct sim_client_hist *h = &s->hist[client];
	struct sim_exec_rec *rec;
	size_t pos;

	rec = sim__hist_find(h, ts, &pos);
	if (rec == NULL) {
		/* A read-only answer is not executed in order (a retried one is). */
		if (read_only) {
			sim__check_ro(s, client, ts, op, oplen, result, rlen);
			return;
		}
		sim_fail(s, "SAFETY: client %u accepted ts %" PRIu64 " but no correct replica executed it",
			 client, ts);
		return;
	}
	if (rec->rlen != (rlen > SIM_MAX_RESULT ? SIM_MAX_RESULT : rlen) ||
	    memcmp(rec->result, result, rec->rlen) != 0) {
		sim_fail(s, "SAFETY: client %u accepted a result for ts %" PRIu64
			 " that differs from what correct replicas computed at seq %" PRIu64,
			 client, ts, rec->seq);
		return;
	}
	if (h->nacc == h->capacc) {
		size_t cap = h->capacc ? h->capacc * 2 : 64;
		uint64_t *na = realloc(h->accepted, cap * sizeof(*na));
		if (na == NULL) {
			sim_fail(s, "out of memory in the checker");
			return;
		}
		h->accepted = na;
		h->capacc = cap;
	}
	h->accepted[h->nacc++] = ts;
}

/* ---------------------------------------------------------------- per step */
void sim_check_step(struct sim *s, uint32_t replica)
{
	struct sim_replica *r = &s->rep[replica];
	struct pbft_status st;

	pbft_get_status(r->core, &st);
	if (st.memory > r->max_memory)
		r->max_memory = st.memory;
	if (st.view > s->view_max)
		s->view_max = st.view;
	if (!r->faulty && s->memory_bound && st.memory > s->memory_bound)
		sim_fail(s, "MEMORY: replica %u holds %zu bytes, above the bound %zu", replica,
			 st.memory, s->memory_bound);
	if (!r->faulty && st.last_executed != r->app.last_executed)
		sim_fail(s, "replica %u: core says last executed %" PRIu64 ", app executed %" PRIu64,
			 replica, st.last_executed, r->app.last_executed);
	/* A stable checkpoint's digest is the state's (no forged quorum made it stable). */
	if (!r->faulty && st.low_watermark > 0 &&
	    memcmp(st.stable_digest, (uint8_t[WIRE_DIGEST_LEN]){ 0 }, WIRE_DIGEST_LEN) != 0)
		sim_check_ckpt(s, replica, st.low_watermark, st.stable_digest);
	/* A checkpoint is stable only once the replica's own state at it is durable (with
	 * one write order for records and state, the state at least comes first). */
	if (!r->faulty && (r->store.split || r->app.async) && !r->app.durable.transfer_pending &&
	    st.low_watermark > r->app.durable.last_executed)
		sim_fail(s, "STABLE: replica %u made checkpoint %" PRIu64 " stable with its state durable only up to %" PRIu64,
			 replica, st.low_watermark, r->app.durable.last_executed);
}

void sim_check_liveness(struct sim *s)
{
	for (uint32_t c = 0; c < s->p.clients; c++) {
		const struct sim_client *cl = &s->cl[c];
		uint64_t from;
		if (!cl->busy)
			continue;
		from = cl->started > s->p.heal_at_ms ? cl->started : s->p.heal_at_ms;
		if (s->now > from + s->p.liveness_ms) {
			sim_fail(s, "LIVENESS: client %u's %s request (invoked at %" PRIu64 " ms) "
				 "not complete %" PRIu64 " ms after the network healed (highest view %" PRIu64 ")",
				 c, cl->read_only ? "read-only" : "ordered", cl->started,
				 s->now - from, s->view_max);
			return;
		}
	}
}

/* ---------------------------------------------------------------- votes */
void sim_votes_free(struct sim_votes *v)
{
	free(v->v);
	memset(v, 0, sizeof(*v));
}

/* Index of (seq, view) in v, or where it goes (*found 0). */
static size_t sim__vote_find(const struct sim_votes *v, uint64_t seq, uint64_t view, int *found)
{
	size_t lo = 0, hi = v->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct sim_vote *m = &v->v[mid];
		if (m->seq == seq && m->view == view) {
			*found = 1;
			return mid;
		}
		if (m->seq < seq || (m->seq == seq && m->view < view))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Replica sent a vote for digest at (view, seq), in a message of type. A correct replica
 * never sends two: a second digest is equivocation, whatever it forgot in a crash. */
static void sim__vote(struct sim *s, uint32_t replica, uint8_t type, uint64_t view, uint64_t seq,
		      const uint8_t digest[WIRE_DIGEST_LEN])
{
	struct sim_replica *r = &s->rep[replica];
	struct sim_votes *v = &r->votes;
	struct sim_vote *e;
	int found;
	size_t at = sim__vote_find(v, seq, view, &found);

	if (found) {
		e = &v->v[at];
		if (memcmp(e->digest, digest, WIRE_DIGEST_LEN) != 0) {
			char a[17], b[17];
			sim__hex8(e->digest, a);
			sim__hex8(digest, b);
			sim_fail(s, "SAFETY: replica %u voted twice in view %" PRIu64 " at seq %" PRIu64
				 ": %s %s.. (incarnation %u), then %s %s.. (incarnation %u)", replica, view,
				 seq, wire_type_name(e->type), a, e->incarnation, wire_type_name(type), b,
				 r->incarnation);
		}
		return;
	}
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;
		struct sim_vote *nv = realloc(v->v, cap * sizeof(*nv));
		if (nv == NULL) {
			sim_fail(s, "out of memory in the checker");
			return;
		}
		v->v = nv;
		v->cap = cap;
	}
	memmove(&v->v[at + 1], &v->v[at], (v->n - at) * sizeof(*v->v));
	v->n++;
	e = &v->v[at];
	e->seq = seq;
	e->view = view;
	memcpy(e->digest, digest, WIRE_DIGEST_LEN);
	e->type = type;
	e->incarnation = r->incarnation;
}

void sim_check_sent(struct sim *s, uint32_t replica, const uint8_t *p, size_t len)
{
	struct wire_msg m;
	struct wire_iter it;
	struct wire_nvitem item;
	uint8_t type = len >= 2 ? p[1] : 0;

	/* Only votes that fix a digest for (view, seq) in this replica's name. */
	if (type != WIRE_PREPARE && type != WIRE_PREPREPARE && type != WIRE_NEWVIEW)
		return;
	if (wire_decode(p, len, &s->limits, &m) != 0 || m.hdr.sender != replica)
		return; /* not its own (a relay), or refused by every receiver anyway */
	switch (type) {
	case WIRE_PREPARE:
		sim__vote(s, replica, type, m.u.prepare.view, m.u.prepare.seq, m.u.prepare.digest);
		break;
	case WIRE_PREPREPARE:
		/* A backup's PRE-PREPARE only relays a batch; the primary's assigns it. */
		if (m.u.preprepare.view % s->p.n == replica)
			sim__vote(s, replica, type, m.u.preprepare.view, m.u.preprepare.seq,
				  m.u.preprepare.digest);
		break;
	default:
		/* The new primary's decisions are its pre-prepares of the new view. */
		if (m.u.newview.view % s->p.n != replica)
			break;
		wire_iter_init(&it, &m.u.newview.items);
		while (wire_next_nvitem(&it, &item) && !s->failed)
			sim__vote(s, replica, type, m.u.newview.view, item.seq, item.digest);
		break;
	}
}

/* Forget votes at or below low: the replica never votes there again (its stable
 * checkpoint goes back only when a machine crash loses its unsynced record, and the
 * replica then votes in no view it may have voted in: votes_uncertain). */
static void sim__votes_prune(struct sim_votes *v, uint64_t low)
{
	size_t k = 0;

	while (k < v->n && v->v[k].seq <= low)
		k++;
	if (k == 0)
		return;
	memmove(v->v, v->v + k, (v->n - k) * sizeof(*v->v));
	v->n -= k;
}

/* No correct replica executes at or below its app's durable last executed again (a
 * machine crash rolls it back to at least that): forget those, and the votes below
 * each replica's low watermark. */
void sim_check_prune(struct sim *s)
{
	uint64_t low = UINT64_MAX;

	for (uint32_t i = 0; i < s->p.n; i++) {
		struct sim_replica *r = &s->rep[i];
		struct pbft_status st;
		if (r->faulty)
			continue;
		if (r->app.durable.last_executed < low)
			low = r->app.durable.last_executed;
		if (r->core != NULL) {
			pbft_get_status(r->core, &st);
			sim__votes_prune(&r->votes, st.low_watermark);
		}
	}
	if (low == UINT64_MAX || low == 0)
		return;
	sim__seqmap_prune(&s->execmap, low + 1);
	sim__seqmap_prune(&s->ckptmap, low + 1);
}

int sim_check_held(struct sim *s, int report)
{
	for (uint32_t c = 0; c < s->p.clients; c++) {
		struct sim_client_hist *h = &s->hist[c];
		for (size_t k = 0; k < h->nacc; k++) {
			size_t pos;
			struct sim_exec_rec *rec = sim__hist_find(h, h->accepted[k], &pos);
			uint32_t have = 0;
			if (rec == NULL)
				continue; /* reported at accept time */
			for (uint32_t i = 0; i < s->p.n; i++) {
				const struct sim_replica *r = &s->rep[i];
				if (r->faulty)
					continue;
				/* Executed it, or holds a state that includes it (state transfer). */
				if ((rec->replicas >> i & 1) || r->app.last_executed >= rec->seq)
					have++;
			}
			if (have < s->p.f + 1) {
				if (report)
					sim_fail(s, "SAFETY: client %u's accepted ts %" PRIu64 " (seq %" PRIu64
						 ") is held by only %u correct replicas", c, rec->ts, rec->seq,
						 have);
				return 0;
			}
		}
	}
	return 1;
}
