/* byz.c: Byzantine behaviours of a faulty replica: mutators on the messages its real core
 * sends (decode, change, re-encode, re-sign with its own key), an input filter, and a
 * timer that injects floods, replays and garbage. */
#include "tests/sim/sim.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

const char *sim_byz_name(uint32_t kinds)
{
	switch (kinds) {
	case SIM_BYZ_EQUIVOCATE: return "equivocate";
	case SIM_BYZ_CENSOR: return "censor";
	case SIM_BYZ_STALL: return "stall";
	case SIM_BYZ_DIGEST: return "wrong-digest";
	case SIM_BYZ_GARBAGE: return "garbage";
	case SIM_BYZ_FORGE_VC: return "forge-vc";
	case SIM_BYZ_REPLAY: return "replay";
	case SIM_BYZ_FLOOD: return "flood";
	case SIM_BYZ_CLOCK: return "clock";
	default: return kinds ? "combined" : "correct";
	}
}

void sim_byz_free(struct sim_byz *b)
{
	for (uint32_t i = 0; i < SIM_REPLAY_SLOTS; i++)
		free(b->replay[i].data);
	memset(b, 0, sizeof(*b));
}

static void sim__hdr(const struct sim_replica *r, struct wire_hdr *h, uint8_t type)
{
	h->version = WIRE_VERSION;
	h->type = type;
	h->flags = 0;
	h->sender = r->id;
	h->group = SIM_GROUP;
	h->epoch = SIM_EPOCH;
}

/* Encode m into s->scratch, signing it with r's key if its type is signed. */
static int sim__encode(struct sim *s, struct sim_replica *r, const struct wire_msg *m)
{
	uint8_t sig[WIRE_SIG_LEN];
	int type = m->hdr.type;

	wire_buf_reset(&s->scratch);
	if (wire_encode(&s->scratch, m) != 0)
		return -1;
	if (type == WIRE_CHECKPOINT || type == WIRE_VIEWCHANGE || type == WIRE_NEWVIEW) {
		if (crypto_ed25519_sign(&s->keys->replica[r->id], s->scratch.p,
					s->scratch.len - WIRE_SIG_LEN, sig) != 0)
			return -1;
		wire_patch_sig(&s->scratch, sig);
	}
	return 0;
}

static void sim__send_scratch(struct sim *s, struct sim_replica *r, int to_client, uint32_t to)
{
	r->byz.mutated++;
	sim_net_send(s, 0, r->id, to_client, to, s->scratch.p, s->scratch.len);
}

static void sim__random_bytes(struct sim *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)sim_rng_next(&s->rng);
}

/* A request of client 0 that the client never sent, with a made-up authenticator. */
static void sim__forged_batch(struct sim *s, struct wire_buf *reqs, struct wire_batch *b)
{
	struct wire_request req;
	uint8_t auth[SIM_MAX_N * WIRE_TAG_LEN];
	static const uint8_t op[] = {'P', 1, 'x', 'F', 'O', 'R', 'G', 'E', 'D'};

	memset(&req, 0, sizeof(req));
	memcpy(req.client, s->keys->client[0].pub, WIRE_KEY_LEN);
	req.timestamp = 1000000000ull + sim_rng_below(&s->rng, 1000);
	req.op.p = op;
	req.op.len = sizeof(op);
	sim__random_bytes(s, auth, sizeof(auth));
	req.auth.p = auth;
	req.auth.len = s->p.robust ? WIRE_SIG_LEN : s->p.n * WIRE_TAG_LEN;
	wire_put_request(reqs, &req);
	b->time = SIM_WALL_BASE + s->now;
	b->count = 1;
	b->reqs.p = reqs->p;
	b->reqs.len = (uint32_t)reqs->len;
}

/* A VIEW-CHANGE with a forged certificate: prepared items for batches that never
 * prepared, corrupted checkpoint proof signatures, or a stable checkpoint it cannot prove. */
static int sim__forge_vc(struct sim *s, struct sim_replica *r, struct wire_msg *m)
{
	struct wire_viewchange *vc = &m->u.viewchange;
	struct wire_buf reqs, pl, ql, prl;
	struct wire_iter it;
	int rc = -1;
	uint64_t variant = sim_rng_below(&s->rng, 3);

	wire_buf_init(&reqs);
	wire_buf_init(&pl);
	wire_buf_init(&ql);
	wire_buf_init(&prl);
	if (variant == 0) {
		struct wire_pitem pi, forged;
		struct wire_qitem qi;
		uint32_t np = 0, nq = 0;
		uint64_t fseq = vc->stable_seq + 1 + sim_rng_below(&s->rng, 3);
		memset(&forged, 0, sizeof(forged));
		sim__forged_batch(s, &reqs, &forged.batch);
		forged.seq = fseq;
		forged.view = vc->new_view > 0 ? vc->new_view - 1 : 0;
		wire_batch_digest(SIM_GROUP, SIM_EPOCH, &forged.batch, forged.digest);
		struct wire_qitem fq;
		int put = 0;
		/* The forged item replaces any real one of its seq, in seq order. */
		wire_iter_init(&it, &vc->p);
		while (wire_next_pitem(&it, &pi)) {
			if (pi.seq >= fseq && !put) {
				wire_put_pitem(&pl, &forged);
				np++;
				put = 1;
			}
			if (pi.seq == fseq)
				continue;
			wire_put_pitem(&pl, &pi);
			np++;
		}
		if (!put) {
			wire_put_pitem(&pl, &forged);
			np++;
		}
		fq.seq = fseq;
		fq.view = forged.view;
		memcpy(fq.digest, forged.digest, WIRE_DIGEST_LEN);
		put = 0;
		wire_iter_init(&it, &vc->q);
		while (wire_next_qitem(&it, &qi)) {
			if (qi.seq >= fseq && !put) {
				wire_put_qitem(&ql, &fq);
				nq++;
				put = 1;
			}
			if (qi.seq == fseq)
				continue;
			wire_put_qitem(&ql, &qi);
			nq++;
		}
		if (!put) {
			wire_put_qitem(&ql, &fq);
			nq++;
		}
		vc->p.count = np;
		vc->p.bytes.p = pl.p;
		vc->p.bytes.len = (uint32_t)pl.len;
		vc->q.count = nq;
		vc->q.bytes.p = ql.p;
		vc->q.bytes.len = (uint32_t)ql.len;
	} else if (variant == 1 && vc->proof.count > 0) {
		struct wire_proof_item pr;
		wire_iter_init(&it, &vc->proof);
		while (wire_next_proof(&it, &pr)) {
			pr.sig[sim_rng_below(&s->rng, WIRE_SIG_LEN)] ^= 0x40;
			wire_put_proof(&prl, &pr);
		}
		vc->proof.bytes.p = prl.p;
		vc->proof.bytes.len = (uint32_t)prl.len;
	} else {
		/* Claim a stable checkpoint further on, with the old proof and a made-up digest. */
		vc->stable_seq += s->p.checkpoint_interval * (1 + sim_rng_below(&s->rng, 3));
		sim__random_bytes(s, vc->stable_digest, WIRE_DIGEST_LEN);
	}
	if (wire_buf_error(&reqs) || wire_buf_error(&pl) || wire_buf_error(&ql) || wire_buf_error(&prl))
		goto out;
	rc = sim__encode(s, r, m);
out:
	wire_buf_free(&reqs);
	wire_buf_free(&pl);
	wire_buf_free(&ql);
	wire_buf_free(&prl);
	return rc;
}

/* A NEW-VIEW whose decision does not follow from its VIEW-CHANGEs: a changed digest for
 * one seq (or a made-up seq), one VIEW-CHANGE left out, or another chosen checkpoint. */
static int sim__forge_nv(struct sim *s, struct sim_replica *r, struct wire_msg *m)
{
	struct wire_newview *nv = &m->u.newview;
	struct wire_buf items, vcs;
	struct wire_iter it;
	int rc = -1;
	uint64_t variant = sim_rng_below(&s->rng, 3);

	wire_buf_init(&items);
	wire_buf_init(&vcs);
	if (variant == 0) {
		struct wire_nvitem ni;
		uint32_t pick = nv->items.count ? (uint32_t)sim_rng_below(&s->rng, nv->items.count) : 0;
		uint32_t i = 0;
		wire_iter_init(&it, &nv->items);
		while (wire_next_nvitem(&it, &ni)) {
			if (i++ == pick)
				sim__random_bytes(s, ni.digest, WIRE_DIGEST_LEN);
			wire_put_nvitem(&items, &ni);
		}
		if (nv->items.count == 0) {
			ni.seq = nv->min_s + 1;
			sim__random_bytes(s, ni.digest, WIRE_DIGEST_LEN);
			wire_put_nvitem(&items, &ni);
			nv->items.count = 1;
		}
		nv->items.bytes.p = items.p;
		nv->items.bytes.len = (uint32_t)items.len;
	} else if (variant == 1 && nv->vcs.count > 0) {
		struct wire_bytes enc;
		uint32_t skip = (uint32_t)sim_rng_below(&s->rng, nv->vcs.count), i = 0;
		wire_iter_init(&it, &nv->vcs);
		while (wire_next_vc(&it, &enc))
			if (i++ != skip)
				wire_put_vc(&vcs, enc.p, enc.len);
		nv->vcs.count--;
		nv->vcs.bytes.p = vcs.p;
		nv->vcs.bytes.len = (uint32_t)vcs.len;
	} else {
		nv->min_s += s->p.checkpoint_interval;
		sim__random_bytes(s, nv->min_digest, WIRE_DIGEST_LEN);
	}
	if (wire_buf_error(&items) || wire_buf_error(&vcs))
		goto out;
	rc = sim__encode(s, r, m);
out:
	wire_buf_free(&items);
	wire_buf_free(&vcs);
	return rc;
}

static void sim__remember(struct sim *s, struct sim_replica *r, uint32_t to, const uint8_t *p, size_t len)
{
	uint32_t slot;
	uint8_t *copy;

	/* Keep a spread of ages: record a few, overwrite a random slot. */
	if (!sim_rng_chance(&s->rng, 0.1))
		return;
	copy = malloc(len ? len : 1);
	if (copy == NULL)
		return;
	memcpy(copy, p, len);
	slot = r->byz.nreplay < SIM_REPLAY_SLOTS ? r->byz.nreplay++
						 : (uint32_t)sim_rng_below(&s->rng, SIM_REPLAY_SLOTS);
	free(r->byz.replay[slot].data);
	r->byz.replay[slot].data = copy;
	r->byz.replay[slot].len = len;
	r->byz.replay[slot].to = to;
}

void sim_byz_send(struct sim *s, struct sim_replica *r, int to_client, uint32_t to,
		  const uint8_t *p, size_t len)
{
	struct wire_msg m;
	uint32_t k = r->byz.kinds;

	if (wire_decode(p, len, &s->limits, &m) != 0) {
		sim_net_send(s, 0, r->id, to_client, to, p, len);
		return;
	}
	if (to_client) {
		/* A lying reply: the client needs f+1 matching ones, so this one is outvoted. */
		if ((k & (SIM_BYZ_DIGEST | SIM_BYZ_GARBAGE)) && m.hdr.type == WIRE_REPLY &&
		    sim_rng_chance(&s->rng, 0.5)) {
			static const uint8_t lie[] = {'L', 'I', 'E'};
			uint8_t dg[WIRE_DIGEST_LEN];
			m.u.reply.result.p = lie;
			m.u.reply.result.len = sizeof(lie);
			if (m.u.reply.flags & WIRE_REPLY_DIGEST) {
				/* A digest of nothing any replica computed. */
				sim__random_bytes(s, dg, sizeof(dg));
				m.u.reply.result.p = dg;
				m.u.reply.result.len = sizeof(dg);
			}
			if (sim__encode(s, r, &m) == 0)
				sim__send_scratch(s, r, 1, to);
			/* The same lie again, its header naming another replica: only the
			 * authenticated channel may count as the sender. */
			m.hdr.sender = (r->id + 1) % s->p.n;
			if (sim__encode(s, r, &m) == 0)
				sim__send_scratch(s, r, 1, to);
			return;
		}
		sim_net_send(s, 0, r->id, 1, to, p, len);
		return;
	}
	if (k & SIM_BYZ_REPLAY)
		sim__remember(s, r, to, p, len);
	switch (m.hdr.type) {
	case WIRE_PREPREPARE:
		if (k & SIM_BYZ_STALL) {
			r->byz.mutated++;
			return;
		}
		if (k & SIM_BYZ_CLOCK) {
			/* A batch time the backups' clocks cannot accept. */
			m.u.preprepare.batch.time += 5 * s->p.max_skew_ms;
			wire_batch_digest(SIM_GROUP, SIM_EPOCH, &m.u.preprepare.batch, m.u.preprepare.digest);
			if (sim__encode(s, r, &m) == 0)
				sim__send_scratch(s, r, 0, to);
			return;
		}
		if ((k & SIM_BYZ_EQUIVOCATE) && to % 2 == 1) {
			/* Another batch for the same (view, seq): same requests, another time. */
			m.u.preprepare.batch.time += 1 + to;
			wire_batch_digest(SIM_GROUP, SIM_EPOCH, &m.u.preprepare.batch, m.u.preprepare.digest);
			if (sim__encode(s, r, &m) == 0)
				sim__send_scratch(s, r, 0, to);
			return;
		}
		break;
	case WIRE_NEWVIEW:
		if (k & SIM_BYZ_STALL) {
			r->byz.mutated++;
			return;
		}
		if (k & SIM_BYZ_FORGE_VC) {
			if (sim__forge_nv(s, r, &m) == 0)
				sim__send_scratch(s, r, 0, to);
			return;
		}
		break;
	case WIRE_PREPARE:
	case WIRE_COMMIT:
		if ((k & SIM_BYZ_DIGEST) && sim_rng_chance(&s->rng, 0.7)) {
			sim__random_bytes(s, m.u.prepare.digest, WIRE_DIGEST_LEN);
			if (sim__encode(s, r, &m) == 0)
				sim__send_scratch(s, r, 0, to);
			/* And a vote in another replica's name (header sender forged). */
			m.hdr.sender = (r->id + 1 + (uint32_t)sim_rng_below(&s->rng, s->p.n - 1)) % s->p.n;
			if (sim__encode(s, r, &m) == 0)
				sim__send_scratch(s, r, 0, to);
			return;
		}
		break;
	case WIRE_CHECKPOINT:
		if ((k & SIM_BYZ_DIGEST) && sim_rng_chance(&s->rng, 0.5)) {
			sim__random_bytes(s, m.u.checkpoint.digest, WIRE_DIGEST_LEN);
			if (sim__encode(s, r, &m) == 0)
				sim__send_scratch(s, r, 0, to);
			/* And, relayed, the same digest in every other replica's name with a
			 * made-up signature: with its own, a quorum unless signatures are
			 * checked (first, so that they may arrive before the real ones). */
			if (m.hdr.sender == r->id) {
				for (uint32_t j = 0; j < s->p.n; j++) {
					if (j == r->id || j == to)
						continue;
					m.hdr.sender = j;
					wire_buf_reset(&s->scratch);
					if (wire_encode(&s->scratch, &m) != 0)
						continue;
					sim__random_bytes(s, s->scratch.p + s->scratch.len - WIRE_SIG_LEN,
							  WIRE_SIG_LEN);
					sim__send_scratch(s, r, 0, to);
				}
			}
			return;
		}
		break;
	case WIRE_VIEWCHANGE:
		if (k & SIM_BYZ_FORGE_VC) {
			if (sim__forge_vc(s, r, &m) == 0)
				sim__send_scratch(s, r, 0, to);
			return;
		}
		break;
	default:
		break;
	}
	if ((k & SIM_BYZ_GARBAGE) && len > 0 && sim_rng_chance(&s->rng, 0.25)) {
		/* A flipped bit or a truncation of a real message, instead of it. */
		wire_buf_reset(&s->scratch);
		wire_put_fixed(&s->scratch, p, len);
		if (wire_buf_error(&s->scratch))
			return;
		if (sim_rng_chance(&s->rng, 0.5))
			s->scratch.p[sim_rng_below(&s->rng, len)] ^= (uint8_t)(1u << sim_rng_below(&s->rng, 8));
		else
			s->scratch.len = (size_t)sim_rng_below(&s->rng, len);
		sim__send_scratch(s, r, 0, to);
		return;
	}
	sim_net_send(s, 0, r->id, 0, to, p, len);
}

int sim_byz_in_filter(struct sim *s, struct sim_replica *r, const struct wire_msg *m)
{
	int c;

	if (!(r->byz.kinds & SIM_BYZ_CENSOR) || m->hdr.type != WIRE_REQUEST)
		return 0;
	c = sim_client_index(s, m->u.request.client, m->u.request.lane);
	if (c >= 0 && (r->byz.censored_clients >> c & 1)) {
		r->byz.mutated++;
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------- injections */
static void sim__to_others(struct sim *s, struct sim_replica *r, const uint8_t *p, size_t len)
{
	for (uint32_t j = 0; j < s->p.n; j++)
		if (j != r->id) {
			r->byz.injected++;
			sim_net_send(s, 0, r->id, 0, j, p, len);
		}
}

static void sim__flood(struct sim *s, struct sim_replica *r)
{
	struct pbft_status st;
	struct wire_msg m;
	uint64_t far = s->p.log_window + 1 + sim_rng_below(&s->rng, 1u << 20);

	pbft_get_status(r->core, &st);
	memset(&m, 0, sizeof(m));
	switch (sim_rng_below(&s->rng, 4)) {
	case 0:
		sim__hdr(r, &m.hdr, WIRE_PREPREPARE);
		m.u.preprepare.view = st.view;
		m.u.preprepare.seq = st.low_watermark + far;
		m.u.preprepare.batch.time = sim_wall(s, r->id);
		wire_batch_digest(SIM_GROUP, SIM_EPOCH, &m.u.preprepare.batch, m.u.preprepare.digest);
		break;
	case 1:
	case 2:
		sim__hdr(r, &m.hdr, sim_rng_chance(&s->rng, 0.5) ? WIRE_PREPARE : WIRE_COMMIT);
		/* Far seqs in the current view, or far views too. */
		m.u.prepare.view = st.view + (sim_rng_chance(&s->rng, 0.3) ? sim_rng_below(&s->rng, 1u << 30) : 0);
		m.u.prepare.seq = st.low_watermark + far;
		sim__random_bytes(s, m.u.prepare.digest, WIRE_DIGEST_LEN);
		break;
	default:
		sim__hdr(r, &m.hdr, WIRE_CHECKPOINT);
		m.u.checkpoint.seq = (st.low_watermark / s->p.checkpoint_interval + 1 +
				      sim_rng_below(&s->rng, 1u << 16)) * s->p.checkpoint_interval +
				     s->p.log_window;
		sim__random_bytes(s, m.u.checkpoint.digest, WIRE_DIGEST_LEN);
		break;
	}
	if (sim__encode(s, r, &m) == 0)
		sim__to_others(s, r, s->scratch.p, s->scratch.len);
}

static void sim__garbage(struct sim *s, struct sim_replica *r)
{
	struct wire_hdr h;
	uint8_t junk[300];
	size_t n = (size_t)sim_rng_below(&s->rng, sizeof(junk));

	sim__random_bytes(s, junk, n);
	wire_buf_reset(&s->scratch);
	if (sim_rng_chance(&s->rng, 0.5)) {
		/* A well-formed header over a random body reaches the body decoders. */
		sim__hdr(r, &h, (uint8_t)(1 + sim_rng_below(&s->rng, WIRE_DATA)));
		wire_put_hdr(&s->scratch, &h);
	}
	wire_put_fixed(&s->scratch, junk, n);
	if (!wire_buf_error(&s->scratch))
		sim__to_others(s, r, s->scratch.p, s->scratch.len);
}

static void sim__replay(struct sim *s, struct sim_replica *r)
{
	uint32_t slot;

	if (r->byz.nreplay == 0)
		return;
	slot = (uint32_t)sim_rng_below(&s->rng, r->byz.nreplay);
	r->byz.injected++;
	sim_net_send(s, 0, r->id, 0, r->byz.replay[slot].to, r->byz.replay[slot].data,
		     r->byz.replay[slot].len);
}

void sim_byz_timer(struct sim *s, struct sim_replica *r)
{
	uint32_t k = r->byz.kinds;

	if (k & SIM_BYZ_FLOOD)
		for (int i = 0; i < 3; i++)
			sim__flood(s, r);
	if (k & SIM_BYZ_GARBAGE)
		sim__garbage(s, r);
	if (k & SIM_BYZ_REPLAY)
		for (int i = 0; i < 2; i++)
			sim__replay(s, r);
}
