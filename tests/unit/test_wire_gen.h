/* test_wire_gen.h: shared helpers of the wire unit tests: a seeded generator of valid
 * random messages of every PBFT type, a field-by-field comparison, and a check that
 * every list of a decoded message iterates back to exactly its bytes. */
#ifndef BULWARK_TEST_WIRE_GEN_H
#define BULWARK_TEST_WIRE_GEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

/* Every PBFT type that wire_decode knows. */
static const uint8_t g_types[] = {
	WIRE_REQUEST, WIRE_REPLY, WIRE_PREPREPARE, WIRE_PREPARE, WIRE_COMMIT, WIRE_CHECKPOINT,
	WIRE_VIEWCHANGE, WIRE_NEWVIEW, WIRE_STATUS, WIRE_FETCH, WIRE_META, WIRE_DATA,
};
#define G_NTYPES (sizeof(g_types) / sizeof(g_types[0]))

/* Small limits: random messages cover every size up to them in little time. */
static const struct wire_limits g_small = {
	.max_message = 16u << 20,
	.max_op = 300,
	.max_auth = 128,
	.max_result = 300,
	.max_batch_count = 6,
	.max_batch_bytes = 1200,
	.max_replicas = 5,
	.max_log = 6,
	.max_children = 9,
	.max_key = 40,
	.max_value = 200,
	.max_entries = 7,
	.max_lanes = 5,
};

/* Tiny limits: samples whose every truncation is cheap to try. */
static const struct wire_limits g_tiny = {
	.max_message = 1u << 20,
	.max_op = 24,
	.max_auth = 32,
	.max_result = 24,
	.max_batch_count = 2,
	.max_batch_bytes = 400,
	.max_replicas = 2,
	.max_log = 2,
	.max_children = 3,
	.max_key = 8,
	.max_value = 16,
	.max_entries = 3,
	.max_lanes = 2,
};

struct gen {
	uint64_t s;                     /* splitmix64 state */
	int full;                       /* 1: every list and byte string non-empty */
	const struct wire_limits *lim;  /* sizes stay within these */
	uint64_t group, epoch;          /* of the message being generated */
	struct wire_buf **bufs;         /* owned storage of bytes and lists */
	size_t nbufs, cap;
};

static inline void gen_init(struct gen *g, uint64_t seed, const struct wire_limits *lim, int full)
{
	memset(g, 0, sizeof(*g));
	g->s = seed;
	g->lim = lim;
	g->full = full;
}

/* Frees what the last messages borrowed from; g stays usable. */
static inline void gen_release(struct gen *g)
{
	for (size_t i = 0; i < g->nbufs; i++) {
		wire_buf_free(g->bufs[i]);
		free(g->bufs[i]);
	}
	g->nbufs = 0;
}

static inline void gen_free(struct gen *g)
{
	gen_release(g);
	free(g->bufs);
	g->bufs = NULL;
	g->cap = 0;
}

static inline uint64_t gen_u64(struct gen *g)
{
	uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint32_t gen_below(struct gen *g, uint64_t n)
{
	return n == 0 ? 0 : (uint32_t)(gen_u64(g) % n);
}

/* An integer field: often an edge value, else anything. */
static inline uint64_t gen_val(struct gen *g)
{
	switch (gen_below(g, 6)) {
	case 0:
		return 0;
	case 1:
		return UINT64_MAX;
	case 2:
		return gen_below(g, 1000);
	default:
		return gen_u64(g);
	}
}

static inline uint32_t gen_val32(struct gen *g)
{
	return (uint32_t)gen_val(g);
}

/* A sequence number naming a log slot: never 0. */
static inline uint64_t gen_seq(struct gen *g)
{
	uint64_t v = gen_val(g);
	return v == 0 ? 1 : v;
}

/* A length in [lo, max], max itself one time in four; lo = 1 in full mode. */
static inline uint32_t gen_len(struct gen *g, uint32_t max)
{
	uint32_t lo = g->full ? 1 : 0;
	if (max <= lo)
		return max;
	if (gen_below(g, 4) == 0)
		return max;
	return lo + gen_below(g, (uint64_t)max - lo + 1);
}

static inline struct wire_buf *gen_buf(struct gen *g)
{
	if (g->nbufs == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		struct wire_buf **n = realloc(g->bufs, cap * sizeof(*n));
		if (n == NULL)
			abort();
		g->bufs = n;
		g->cap = cap;
	}
	struct wire_buf *b = malloc(sizeof(*b));
	if (b == NULL)
		abort();
	wire_buf_init(b);
	g->bufs[g->nbufs++] = b;
	return b;
}

static inline void gen_fill(struct gen *g, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)gen_u64(g);
}

static inline struct wire_bytes gen_bytes(struct gen *g, uint32_t len)
{
	struct wire_bytes v = { NULL, 0 };
	if (len == 0)
		return v;
	struct wire_buf *b = gen_buf(g);
	uint8_t *tmp = malloc(len);
	if (tmp == NULL)
		abort();
	gen_fill(g, tmp, len);
	wire_put_fixed(b, tmp, len);
	free(tmp);
	if (wire_buf_error(b) != 0)
		abort();
	v.p = b->p;
	v.len = len;
	return v;
}

static inline struct wire_bytes buf_view(const struct wire_buf *b)
{
	struct wire_bytes v = { b->p, (uint32_t)b->len };
	return v;
}

static inline void gen_request_sized(struct gen *g, struct wire_request *r, uint32_t max_op,
				     uint32_t max_auth)
{
	gen_fill(g, r->client, WIRE_KEY_LEN);
	r->lane = gen_below(g, 2); /* below every generator limit's max_lanes */
	r->timestamp = gen_val(g);
	r->flags = gen_below(g, 2) ? WIRE_REQ_READ_ONLY : 0;
	r->op = gen_bytes(g, gen_len(g, max_op));
	r->auth = gen_bytes(g, gen_len(g, max_auth));
}

#define G_REQ_MIN (4u + WIRE_KEY_LEN + 4u + 8u + 4u + 4u + 4u) /* encoded empty request */

static inline uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* A batch within the limits (count and total bytes). */
static inline void gen_batch(struct gen *g, struct wire_batch *b)
{
	const struct wire_limits *lim = g->lim;
	uint32_t want = gen_len(g, lim->max_batch_count);
	uint32_t budget = lim->max_batch_bytes;
	struct wire_buf *buf = gen_buf(g);
	b->time = gen_val(g);
	b->count = 0;
	while (b->count < want && budget >= G_REQ_MIN) {
		struct wire_request r;
		uint32_t room = budget - G_REQ_MIN;
		gen_request_sized(g, &r, min32(lim->max_op, room), 0);
		room -= r.op.len;
		r.auth = gen_bytes(g, gen_len(g, min32(lim->max_auth, room)));
		wire_put_request(buf, &r);
		budget -= G_REQ_MIN + r.op.len + r.auth.len;
		b->count++;
	}
	if (wire_buf_error(buf) != 0)
		abort();
	b->reqs = buf_view(buf);
}

static inline void gen_hdr(struct gen *g, struct wire_hdr *h, uint8_t type)
{
	h->version = WIRE_VERSION;
	h->type = type;
	h->flags = 0;
	h->sender = gen_below(g, 3) == 0 ? WIRE_SENDER_CLIENT : gen_val32(g);
	h->group = g->group;
	h->epoch = g->epoch;
}

static inline void gen_viewchange(struct gen *g, struct wire_viewchange *vc)
{
	const struct wire_limits *lim = g->lim;
	vc->new_view = gen_val(g);
	vc->stable_seq = gen_val(g);
	gen_fill(g, vc->stable_digest, WIRE_DIGEST_LEN);

	struct wire_buf *b = gen_buf(g);
	vc->proof.count = gen_len(g, lim->max_replicas);
	for (uint32_t i = 0; i < vc->proof.count; i++) {
		struct wire_proof_item it;
		it.replica = gen_val32(g);
		gen_fill(g, it.sig, WIRE_SIG_LEN);
		wire_put_proof(b, &it);
	}
	vc->proof.bytes = buf_view(b);

	b = gen_buf(g);
	vc->p.count = gen_len(g, lim->max_log);
	for (uint32_t i = 0; i < vc->p.count; i++) {
		struct wire_pitem it;
		it.seq = gen_seq(g);
		it.view = gen_val(g);
		gen_batch(g, &it.batch);
		wire_batch_digest(g->group, g->epoch, &it.batch, it.digest);
		wire_put_pitem(b, &it);
	}
	vc->p.bytes = buf_view(b);

	b = gen_buf(g);
	vc->q.count = gen_len(g, lim->max_log);
	for (uint32_t i = 0; i < vc->q.count; i++) {
		struct wire_qitem it;
		it.seq = gen_seq(g);
		it.view = gen_val(g);
		gen_fill(g, it.digest, WIRE_DIGEST_LEN);
		wire_put_qitem(b, &it);
	}
	vc->q.bytes = buf_view(b);
	gen_fill(g, vc->sig, WIRE_SIG_LEN);
	if (wire_buf_error(b) != 0)
		abort();
}

/* A valid random message of the given type; group and epoch are drawn here. */
static inline void gen_msg(struct gen *g, uint8_t type, struct wire_msg *m)
{
	const struct wire_limits *lim = g->lim;
	memset(m, 0, sizeof(*m));
	g->group = gen_val(g);
	g->epoch = gen_val(g);
	gen_hdr(g, &m->hdr, type);
	switch (type) {
	case WIRE_REQUEST:
		gen_request_sized(g, &m->u.request, lim->max_op, lim->max_auth);
		break;
	case WIRE_REPLY: {
		struct wire_reply *r = &m->u.reply;
		r->view = gen_val(g);
		r->timestamp = gen_val(g);
		gen_fill(g, r->client, WIRE_KEY_LEN);
		r->lane = gen_below(g, 2);
		r->flags = gen_below(g, 2) ? WIRE_REPLY_READ_ONLY : 0;
		r->result = gen_bytes(g, gen_len(g, lim->max_result));
		r->extra = gen_bytes(g, gen_len(g, lim->max_result));
		break;
	}
	case WIRE_PREPREPARE: {
		struct wire_preprepare *pp = &m->u.preprepare;
		pp->view = gen_val(g);
		pp->seq = gen_seq(g);
		gen_batch(g, &pp->batch);
		wire_batch_digest(g->group, g->epoch, &pp->batch, pp->digest);
		break;
	}
	case WIRE_PREPARE:
	case WIRE_COMMIT:
		m->u.prepare.view = gen_val(g);
		m->u.prepare.seq = gen_seq(g);
		gen_fill(g, m->u.prepare.digest, WIRE_DIGEST_LEN);
		break;
	case WIRE_CHECKPOINT:
		m->u.checkpoint.seq = gen_val(g);
		gen_fill(g, m->u.checkpoint.digest, WIRE_DIGEST_LEN);
		gen_fill(g, m->u.checkpoint.sig, WIRE_SIG_LEN);
		break;
	case WIRE_VIEWCHANGE:
		gen_viewchange(g, &m->u.viewchange);
		break;
	case WIRE_NEWVIEW: {
		struct wire_newview *nv = &m->u.newview;
		struct wire_buf *vcs = gen_buf(g);
		struct wire_buf *one = gen_buf(g);
		nv->view = gen_val(g);
		nv->vcs.count = gen_len(g, lim->max_replicas);
		for (uint32_t i = 0; i < nv->vcs.count; i++) {
			struct wire_msg vc;
			memset(&vc, 0, sizeof(vc));
			gen_hdr(g, &vc.hdr, WIRE_VIEWCHANGE);
			gen_viewchange(g, &vc.u.viewchange);
			wire_buf_reset(one);
			if (wire_encode(one, &vc) != 0)
				abort();
			wire_put_vc(vcs, one->p, one->len);
		}
		nv->vcs.bytes = buf_view(vcs);
		nv->min_s = gen_val(g);
		gen_fill(g, nv->min_digest, WIRE_DIGEST_LEN);
		struct wire_buf *items = gen_buf(g);
		nv->items.count = gen_len(g, lim->max_log);
		for (uint32_t i = 0; i < nv->items.count; i++) {
			struct wire_nvitem it;
			it.seq = gen_seq(g);
			gen_fill(g, it.digest, WIRE_DIGEST_LEN);
			wire_put_nvitem(items, &it);
		}
		nv->items.bytes = buf_view(items);
		gen_fill(g, nv->sig, WIRE_SIG_LEN);
		if (wire_buf_error(vcs) != 0 || wire_buf_error(items) != 0)
			abort();
		break;
	}
	case WIRE_STATUS:
		m->u.status.view = gen_val(g);
		m->u.status.stable_seq = gen_val(g);
		m->u.status.last_executed = gen_val(g);
		m->u.status.last_committed = gen_val(g);
		m->u.status.flags = gen_below(g, 2) ? WIRE_STATUS_VIEW_CHANGE : 0;
		break;
	case WIRE_FETCH:
		m->u.fetch.ckpt_seq = gen_val(g);
		m->u.fetch.level = gen_val32(g);
		m->u.fetch.index = gen_val(g);
		m->u.fetch.start_key = gen_bytes(g, gen_len(g, lim->max_key));
		break;
	case WIRE_META: {
		struct wire_buf *b = gen_buf(g);
		m->u.meta.ckpt_seq = gen_val(g);
		m->u.meta.level = gen_val32(g);
		m->u.meta.index = gen_val(g);
		m->u.meta.children.count = gen_len(g, lim->max_children);
		for (uint32_t i = 0; i < m->u.meta.children.count; i++) {
			uint8_t d[WIRE_DIGEST_LEN];
			gen_fill(g, d, sizeof(d));
			wire_put_child(b, d);
		}
		m->u.meta.children.bytes = buf_view(b);
		break;
	}
	case WIRE_DATA: {
		struct wire_buf *b = gen_buf(g);
		m->u.data.ckpt_seq = gen_val(g);
		m->u.data.partition = gen_val(g);
		m->u.data.flags = gen_below(g, 2) ? WIRE_DATA_MORE : 0;
		m->u.data.entries.count = gen_len(g, lim->max_entries);
		for (uint32_t i = 0; i < m->u.data.entries.count; i++) {
			struct wire_data_item it;
			it.key = gen_bytes(g, gen_len(g, lim->max_key));
			it.value = gen_bytes(g, gen_len(g, lim->max_value));
			wire_put_data(b, &it);
		}
		m->u.data.entries.bytes = buf_view(b);
		break;
	}
	default:
		abort();
	}
}

/* Encode a generated message into a fresh buffer owned by g. */
static inline struct wire_bytes gen_encode(struct gen *g, const struct wire_msg *m)
{
	struct wire_buf *b = gen_buf(g);
	if (wire_encode(b, m) != 0)
		abort();
	return buf_view(b);
}

/* ---------------------------------------------------------------- comparison */
static inline int bytes_eq(struct wire_bytes a, struct wire_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static inline int list_eq(const struct wire_list *a, const struct wire_list *b)
{
	return a->count == b->count && bytes_eq(a->bytes, b->bytes);
}

static inline int batch_eq(const struct wire_batch *a, const struct wire_batch *b)
{
	return a->time == b->time && a->count == b->count && bytes_eq(a->reqs, b->reqs);
}

static inline int request_eq(const struct wire_request *a, const struct wire_request *b)
{
	return memcmp(a->client, b->client, WIRE_KEY_LEN) == 0 && a->lane == b->lane &&
	       a->timestamp == b->timestamp &&
	       a->flags == b->flags && bytes_eq(a->op, b->op) && bytes_eq(a->auth, b->auth);
}

#define G_EQ(cond, what) \
	do { \
		if (!(cond)) \
			return what; \
	} while (0)
#define G_DEQ(a, b) (memcmp((a), (b), sizeof(a)) == 0)

/* NULL if a and b hold the same message (every field), else the first field that differs. */
static inline const char *msg_diff(const struct wire_msg *a, const struct wire_msg *b)
{
	G_EQ(a->hdr.version == b->hdr.version, "hdr.version");
	G_EQ(a->hdr.type == b->hdr.type, "hdr.type");
	G_EQ(a->hdr.flags == b->hdr.flags, "hdr.flags");
	G_EQ(a->hdr.sender == b->hdr.sender, "hdr.sender");
	G_EQ(a->hdr.group == b->hdr.group, "hdr.group");
	G_EQ(a->hdr.epoch == b->hdr.epoch, "hdr.epoch");
	switch (a->hdr.type) {
	case WIRE_REQUEST:
		G_EQ(request_eq(&a->u.request, &b->u.request), "request");
		break;
	case WIRE_REPLY: {
		const struct wire_reply *x = &a->u.reply, *y = &b->u.reply;
		G_EQ(x->view == y->view, "reply.view");
		G_EQ(x->timestamp == y->timestamp, "reply.timestamp");
		G_EQ(G_DEQ(x->client, y->client), "reply.client");
		G_EQ(x->lane == y->lane, "reply.lane");
		G_EQ(x->flags == y->flags, "reply.flags");
		G_EQ(bytes_eq(x->result, y->result), "reply.result");
		G_EQ(bytes_eq(x->extra, y->extra), "reply.extra");
		break;
	}
	case WIRE_PREPREPARE: {
		const struct wire_preprepare *x = &a->u.preprepare, *y = &b->u.preprepare;
		G_EQ(x->view == y->view, "preprepare.view");
		G_EQ(x->seq == y->seq, "preprepare.seq");
		G_EQ(G_DEQ(x->digest, y->digest), "preprepare.digest");
		G_EQ(batch_eq(&x->batch, &y->batch), "preprepare.batch");
		break;
	}
	case WIRE_PREPARE:
	case WIRE_COMMIT: {
		const struct wire_prepare *x = &a->u.prepare, *y = &b->u.prepare;
		G_EQ(x->view == y->view, "prepare.view");
		G_EQ(x->seq == y->seq, "prepare.seq");
		G_EQ(G_DEQ(x->digest, y->digest), "prepare.digest");
		break;
	}
	case WIRE_CHECKPOINT: {
		const struct wire_checkpoint *x = &a->u.checkpoint, *y = &b->u.checkpoint;
		G_EQ(x->seq == y->seq, "checkpoint.seq");
		G_EQ(G_DEQ(x->digest, y->digest), "checkpoint.digest");
		G_EQ(G_DEQ(x->sig, y->sig), "checkpoint.sig");
		break;
	}
	case WIRE_VIEWCHANGE: {
		const struct wire_viewchange *x = &a->u.viewchange, *y = &b->u.viewchange;
		G_EQ(x->new_view == y->new_view, "viewchange.new_view");
		G_EQ(x->stable_seq == y->stable_seq, "viewchange.stable_seq");
		G_EQ(G_DEQ(x->stable_digest, y->stable_digest), "viewchange.stable_digest");
		G_EQ(list_eq(&x->proof, &y->proof), "viewchange.proof");
		G_EQ(list_eq(&x->p, &y->p), "viewchange.p");
		G_EQ(list_eq(&x->q, &y->q), "viewchange.q");
		G_EQ(G_DEQ(x->sig, y->sig), "viewchange.sig");
		break;
	}
	case WIRE_NEWVIEW: {
		const struct wire_newview *x = &a->u.newview, *y = &b->u.newview;
		G_EQ(x->view == y->view, "newview.view");
		G_EQ(list_eq(&x->vcs, &y->vcs), "newview.vcs");
		G_EQ(x->min_s == y->min_s, "newview.min_s");
		G_EQ(G_DEQ(x->min_digest, y->min_digest), "newview.min_digest");
		G_EQ(list_eq(&x->items, &y->items), "newview.items");
		G_EQ(G_DEQ(x->sig, y->sig), "newview.sig");
		break;
	}
	case WIRE_STATUS: {
		const struct wire_status *x = &a->u.status, *y = &b->u.status;
		G_EQ(x->view == y->view, "status.view");
		G_EQ(x->stable_seq == y->stable_seq, "status.stable_seq");
		G_EQ(x->last_executed == y->last_executed, "status.last_executed");
		G_EQ(x->last_committed == y->last_committed, "status.last_committed");
		G_EQ(x->flags == y->flags, "status.flags");
		break;
	}
	case WIRE_FETCH: {
		const struct wire_fetch *x = &a->u.fetch, *y = &b->u.fetch;
		G_EQ(x->ckpt_seq == y->ckpt_seq, "fetch.ckpt_seq");
		G_EQ(x->level == y->level, "fetch.level");
		G_EQ(x->index == y->index, "fetch.index");
		G_EQ(bytes_eq(x->start_key, y->start_key), "fetch.start_key");
		break;
	}
	case WIRE_META: {
		const struct wire_meta *x = &a->u.meta, *y = &b->u.meta;
		G_EQ(x->ckpt_seq == y->ckpt_seq, "meta.ckpt_seq");
		G_EQ(x->level == y->level, "meta.level");
		G_EQ(x->index == y->index, "meta.index");
		G_EQ(list_eq(&x->children, &y->children), "meta.children");
		break;
	}
	case WIRE_DATA: {
		const struct wire_data *x = &a->u.data, *y = &b->u.data;
		G_EQ(x->ckpt_seq == y->ckpt_seq, "data.ckpt_seq");
		G_EQ(x->partition == y->partition, "data.partition");
		G_EQ(x->flags == y->flags, "data.flags");
		G_EQ(list_eq(&x->entries, &y->entries), "data.entries");
		break;
	}
	default:
		return "unknown type";
	}
	return NULL;
}

/* ---------------------------------------------------------------- list walks */
/* Iterate every list of a decoded message (and of its nested messages and batches),
 * rebuild each from the items with wire_put_*, and compare with the list's bytes.
 * NULL if all agree, else which list did not. */
static inline const char *batch_walk(const struct wire_batch *b, struct wire_buf *tmp)
{
	struct wire_iter it;
	struct wire_request r;
	uint32_t n = 0;
	wire_buf_reset(tmp);
	wire_iter_batch(&it, b);
	while (wire_next_request(&it, &r)) {
		wire_put_request(tmp, &r);
		n++;
	}
	G_EQ(n == b->count && bytes_eq(buf_view(tmp), b->reqs), "batch requests");
	return NULL;
}

static inline const char *list_walk(const struct wire_msg *m, const struct wire_limits *lim,
				    struct wire_buf *tmp);

static inline const char *vc_walk(const struct wire_viewchange *vc, struct wire_buf *tmp)
{
	struct wire_iter it;
	uint32_t n = 0;
	struct wire_proof_item pr;
	wire_buf_reset(tmp);
	wire_iter_init(&it, &vc->proof);
	while (wire_next_proof(&it, &pr)) {
		wire_put_proof(tmp, &pr);
		n++;
	}
	G_EQ(n == vc->proof.count && bytes_eq(buf_view(tmp), vc->proof.bytes), "vc proof");

	struct wire_pitem pi;
	struct wire_buf pb;
	wire_buf_init(&pb);
	n = 0;
	wire_iter_init(&it, &vc->p);
	while (wire_next_pitem(&it, &pi)) {
		wire_put_pitem(&pb, &pi);
		n++;
		const char *e = batch_walk(&pi.batch, tmp);
		if (e != NULL) {
			wire_buf_free(&pb);
			return e;
		}
	}
	int ok = n == vc->p.count && bytes_eq(buf_view(&pb), vc->p.bytes);
	wire_buf_free(&pb);
	G_EQ(ok, "vc p");

	struct wire_qitem q;
	n = 0;
	wire_buf_reset(tmp);
	wire_iter_init(&it, &vc->q);
	while (wire_next_qitem(&it, &q)) {
		wire_put_qitem(tmp, &q);
		n++;
	}
	G_EQ(n == vc->q.count && bytes_eq(buf_view(tmp), vc->q.bytes), "vc q");
	return NULL;
}

static inline const char *list_walk(const struct wire_msg *m, const struct wire_limits *lim,
				    struct wire_buf *tmp)
{
	struct wire_iter it;
	uint32_t n = 0;
	switch (m->hdr.type) {
	case WIRE_PREPREPARE:
		return batch_walk(&m->u.preprepare.batch, tmp);
	case WIRE_VIEWCHANGE:
		return vc_walk(&m->u.viewchange, tmp);
	case WIRE_NEWVIEW: {
		struct wire_bytes enc;
		struct wire_buf vb;
		wire_buf_init(&vb);
		wire_iter_init(&it, &m->u.newview.vcs);
		while (wire_next_vc(&it, &enc)) {
			struct wire_msg vc;
			wire_put_vc(&vb, enc.p, enc.len);
			n++;
			const char *e = NULL;
			if (wire_decode(enc.p, enc.len, lim, &vc) != 0 || vc.hdr.type != WIRE_VIEWCHANGE)
				e = "nested view change does not decode";
			else
				e = vc_walk(&vc.u.viewchange, tmp);
			if (e != NULL) {
				wire_buf_free(&vb);
				return e;
			}
		}
		int ok = n == m->u.newview.vcs.count && bytes_eq(buf_view(&vb), m->u.newview.vcs.bytes);
		wire_buf_free(&vb);
		G_EQ(ok, "newview vcs");
		struct wire_nvitem ni;
		n = 0;
		wire_buf_reset(tmp);
		wire_iter_init(&it, &m->u.newview.items);
		while (wire_next_nvitem(&it, &ni)) {
			wire_put_nvitem(tmp, &ni);
			n++;
		}
		G_EQ(n == m->u.newview.items.count && bytes_eq(buf_view(tmp), m->u.newview.items.bytes),
		     "newview items");
		return NULL;
	}
	case WIRE_META: {
		const uint8_t *d;
		wire_buf_reset(tmp);
		wire_iter_init(&it, &m->u.meta.children);
		while (wire_next_child(&it, &d)) {
			wire_put_child(tmp, d);
			n++;
		}
		G_EQ(n == m->u.meta.children.count && bytes_eq(buf_view(tmp), m->u.meta.children.bytes),
		     "meta children");
		return NULL;
	}
	case WIRE_DATA: {
		struct wire_data_item di;
		wire_buf_reset(tmp);
		wire_iter_init(&it, &m->u.data.entries);
		while (wire_next_data(&it, &di)) {
			wire_put_data(tmp, &di);
			n++;
		}
		G_EQ(n == m->u.data.entries.count && bytes_eq(buf_view(tmp), m->u.data.entries.bytes),
		     "data entries");
		return NULL;
	}
	default:
		return NULL;
	}
}

#endif
