/* codec.c: wire_decode and wire_encode for the PBFT message types (layouts in
 * docs/PROTOCOL.md), and the default decoding limits. */
#include <string.h>

#include "crypto/crypto.h"
#include "wire/internal.h"
#include "wire/wire.h"

const struct wire_limits wire_limits_default = {
	.max_message = 128u << 20,  /* a worst-case NEW-VIEW: docs/PROTOCOL.md, "Limits" */
	.max_op = (1u << 20) + 4096,   /* a 1 MiB value plus its key and op header */
	.max_auth = 64u * WIRE_TAG_LEN,
	.max_result = (1u << 20) + 4096,
	.max_batch_count = 4096,
	.max_batch_bytes = 8u << 20,
	.max_replicas = 64,
	.max_log = 1024,
	.max_children = 256,
	.max_key = 4096,               /* state keys: namespace + service key (<= 1 KiB) + slack */
	.max_value = (1u << 20) + 4096,
	.max_entries = 65536,
	.max_lanes = WIRE_MAX_LANES,
};

/* ---------------------------------------------------------------- decoding */
/* Body decoders read from the cursor and report every error through it (sticky), so a
 * decoder checks c->err only before it uses a value it has read. */

int wire_req_flags_ok(uint32_t f)
{
	if ((f & ~(WIRE_REQ_READ_ONLY | WIRE_REQ_DIGEST_REPLIES | WIRE_REQ_REPLIER_MASK)) != 0)
		return 0;
	if (f & WIRE_REQ_DIGEST_REPLIES)
		return (f & WIRE_REQ_READ_ONLY) != 0;
	return (f & WIRE_REQ_REPLIER_MASK) == 0;
}

/* A reply's flags: known bits only; a digest reply answers a read-only request. */
static int wire__reply_flags_ok(uint32_t f)
{
	if ((f & ~(WIRE_REPLY_READ_ONLY | WIRE_REPLY_DIGEST)) != 0)
		return 0;
	return !(f & WIRE_REPLY_DIGEST) || (f & WIRE_REPLY_READ_ONLY);
}

/* A digest reply's result is a digest. */
static int wire__reply_result_ok(uint32_t f, uint32_t result_len)
{
	return !(f & WIRE_REPLY_DIGEST) || result_len == WIRE_DIGEST_LEN;
}

static int decode_hdr(const uint8_t *buf, size_t len, struct wire_hdr *h)
{
	if (len < WIRE_HDR_LEN)
		return WIRE_ERR_TRUNCATED;
	h->version = buf[0];
	h->type = buf[1];
	h->flags = wire__ld16(buf + 2);
	h->sender = wire__ld32(buf + 4);
	h->group = wire__ld64(buf + 8);
	h->epoch = wire__ld64(buf + 16);
	if (h->version != WIRE_VERSION)
		return WIRE_ERR_VERSION;
	if (h->flags != 0)
		return WIRE_ERR_FLAGS;
	return WIRE_OK;
}

/* A list count, refused above max before anything else. */
static uint32_t get_count(struct wire_cursor *c, uint32_t max)
{
	uint32_t n = wire__get32(c);
	if (c->err == 0 && n > max) {
		wire__fail(c, WIRE_ERR_TOO_BIG);
		return 0;
	}
	return n;
}

/* count items of item_len bytes each. */
static struct wire_bytes get_fixed_items(struct wire_cursor *c, uint32_t count, uint32_t item_len)
{
	struct wire_bytes v = { NULL, 0 };
	uint64_t n = (uint64_t)count * item_len;
	if (c->err != 0)
		return v;
	if (n > UINT32_MAX) { /* longer than any message */
		wire__fail(c, WIRE_ERR_TRUNCATED);
		return v;
	}
	v.p = wire__take(c, (size_t)n);
	v.len = v.p != NULL ? (uint32_t)n : 0;
	return v;
}

/* Items that start with a sequence number, which names a log slot: 0 is refused. */
static void check_item_seqs(struct wire_cursor *c, struct wire_bytes items, uint32_t item_len)
{
	if (c->err != 0)
		return;
	for (uint32_t off = 0; off < items.len; off += item_len) {
		if (wire__ld64(items.p + off) == 0) {
			wire__fail(c, WIRE_ERR_FIELD);
			return;
		}
	}
}

static void get_request_body(struct wire_cursor *c, const struct wire_limits *lim,
			     struct wire_request *r)
{
	wire__getn(c, r->client, WIRE_KEY_LEN);
	r->lane = wire__get32(c);
	if (c->err == 0 && r->lane >= lim->max_lanes)
		wire__fail(c, WIRE_ERR_FIELD);
	r->timestamp = wire__get64(c);
	r->flags = wire__get32(c);
	if (c->err == 0 && !wire_req_flags_ok(r->flags))
		wire__fail(c, WIRE_ERR_FLAGS);
	r->op = wire__getbytes(c, lim->max_op);
	r->auth = wire__getbytes(c, lim->max_auth);
}

/* Where a decoded PRE-PREPARE's request digests go (wire_decode_digests), or NULL. */
struct digest_sink {
	uint8_t (*d)[WIRE_DIGEST_LEN];
	uint32_t max;
	uint32_t *n;
};

/* A batch, validated request by request; its digest is computed in the same pass and
 * compared with want (group and epoch from the header): a mismatch is WIRE_ERR_FIELD.
 * The request digests computed on the way are kept in sink when it has room. */
static void get_batch(struct wire_cursor *c, const struct wire_limits *lim,
		      const struct wire_hdr *h, const uint8_t want[WIRE_DIGEST_LEN],
		      struct wire_batch *b, const struct digest_sink *sink)
{
	b->time = wire__get64(c);
	b->count = get_count(c, lim->max_batch_count);
	b->reqs.p = NULL;
	b->reqs.len = 0;
	if (c->err != 0)
		return;

	struct crypto_sha256_ctx ctx;
	int err = wire__batch_begin(&ctx, h->group, h->epoch, b->time, b->count);
	if (err != 0) {
		wire__fail(c, err);
		return;
	}
	const uint8_t *start = c->p;
	int keep = sink != NULL && b->count <= sink->max;
	for (uint32_t i = 0; i < b->count; i++) {
		uint32_t len = wire__get32(c);
		if (c->err != 0)
			break;
		size_t used = (size_t)(c->p - start);
		if (used > lim->max_batch_bytes || len > lim->max_batch_bytes - used) {
			wire__fail(c, WIRE_ERR_TOO_BIG);
			break;
		}
		const uint8_t *body = wire__take(c, len);
		if (body == NULL)
			break;
		struct wire_cursor rc;
		struct wire_request r;
		wire_cursor_init(&rc, body, len);
		get_request_body(&rc, lim, &r);
		err = wire_cursor_end(&rc);
		if (err == 0) {
			uint8_t tmp[WIRE_DIGEST_LEN];
			uint8_t *d = keep ? sink->d[i] : tmp;
			err = wire__request_digest(h->group, h->epoch, &r, d);
			if (err == 0)
				err = wire__batch_add(&ctx, d);
		}
		if (err != 0) {
			wire__fail(c, err);
			break;
		}
	}
	uint8_t got[WIRE_DIGEST_LEN];
	err = wire__batch_end(&ctx, c->err, got);
	if (err != 0) {
		wire__fail(c, err);
		return;
	}
	b->reqs.p = start;
	b->reqs.len = (uint32_t)(c->p - start);
	if (!crypto_memeq(got, want, WIRE_DIGEST_LEN))
		wire__fail(c, WIRE_ERR_FIELD);
	else if (keep && c->err == 0)
		*sink->n = b->count;
}

static void get_reply(struct wire_cursor *c, const struct wire_limits *lim, struct wire_reply *r)
{
	r->view = wire__get64(c);
	r->timestamp = wire__get64(c);
	wire__getn(c, r->client, WIRE_KEY_LEN);
	r->lane = wire__get32(c);
	if (c->err == 0 && r->lane >= lim->max_lanes)
		wire__fail(c, WIRE_ERR_FIELD);
	r->flags = wire__get32(c);
	if (c->err == 0 && !wire__reply_flags_ok(r->flags))
		wire__fail(c, WIRE_ERR_FLAGS);
	r->result = wire__getbytes(c, lim->max_result);
	if (c->err == 0 && !wire__reply_result_ok(r->flags, r->result.len))
		wire__fail(c, WIRE_ERR_FIELD);
	r->extra = wire__getbytes(c, lim->max_result);
}

static void get_preprepare(struct wire_cursor *c, const struct wire_limits *lim,
			   const struct wire_hdr *h, struct wire_preprepare *pp,
			   const struct digest_sink *sink)
{
	pp->view = wire__get64(c);
	pp->seq = wire__get64(c);
	if (c->err == 0 && pp->seq == 0)
		wire__fail(c, WIRE_ERR_FIELD);
	wire__getn(c, pp->digest, WIRE_DIGEST_LEN);
	get_batch(c, lim, h, pp->digest, &pp->batch, sink);
}

static void get_prepare(struct wire_cursor *c, struct wire_prepare *pr)
{
	pr->view = wire__get64(c);
	pr->seq = wire__get64(c);
	if (c->err == 0 && pr->seq == 0)
		wire__fail(c, WIRE_ERR_FIELD);
	wire__getn(c, pr->digest, WIRE_DIGEST_LEN);
}

static void get_checkpoint(struct wire_cursor *c, struct wire_checkpoint *ck)
{
	ck->seq = wire__get64(c);
	wire__getn(c, ck->digest, WIRE_DIGEST_LEN);
	wire__getn(c, ck->sig, WIRE_SIG_LEN);
}

static void get_pitems(struct wire_cursor *c, const struct wire_limits *lim,
		       const struct wire_hdr *h, struct wire_list *l)
{
	l->count = get_count(c, lim->max_log);
	l->bytes.p = NULL;
	l->bytes.len = 0;
	const uint8_t *start = c->p;
	for (uint32_t i = 0; i < l->count && c->err == 0; i++) {
		struct wire_pitem it;
		it.seq = wire__get64(c);
		if (c->err == 0 && it.seq == 0)
			wire__fail(c, WIRE_ERR_FIELD);
		it.view = wire__get64(c);
		wire__getn(c, it.digest, WIRE_DIGEST_LEN);
		get_batch(c, lim, h, it.digest, &it.batch, NULL);
	}
	if (c->err == 0) {
		l->bytes.p = start;
		l->bytes.len = (uint32_t)(c->p - start);
	}
}

static void get_viewchange(struct wire_cursor *c, const struct wire_limits *lim,
			   const struct wire_hdr *h, struct wire_viewchange *vc)
{
	vc->new_view = wire__get64(c);
	vc->stable_seq = wire__get64(c);
	wire__getn(c, vc->stable_digest, WIRE_DIGEST_LEN);
	vc->proof.count = get_count(c, lim->max_replicas);
	vc->proof.bytes = get_fixed_items(c, vc->proof.count, WIRE__PROOF_LEN);
	get_pitems(c, lim, h, &vc->p);
	vc->q.count = get_count(c, lim->max_log);
	vc->q.bytes = get_fixed_items(c, vc->q.count, WIRE__QITEM_LEN);
	check_item_seqs(c, vc->q.bytes, WIRE__QITEM_LEN);
	wire__getn(c, vc->sig, WIRE_SIG_LEN);
}

/* The VIEW-CHANGE messages of a NEW-VIEW: each a whole message of the same group and
 * epoch, decoded with the same limits. */
static void get_vcs(struct wire_cursor *c, const struct wire_limits *lim,
		    const struct wire_hdr *h, struct wire_list *l)
{
	l->count = get_count(c, lim->max_replicas);
	l->bytes.p = NULL;
	l->bytes.len = 0;
	const uint8_t *start = c->p;
	for (uint32_t i = 0; i < l->count && c->err == 0; i++) {
		struct wire_bytes enc = wire__getbytes(c, lim->max_message);
		if (c->err != 0)
			break;
		struct wire_hdr nh;
		int err = decode_hdr(enc.p, enc.len, &nh);
		if (err == 0 && (nh.type != WIRE_VIEWCHANGE || nh.group != h->group ||
				 nh.epoch != h->epoch))
			err = WIRE_ERR_FIELD;
		if (err == 0) {
			struct wire_cursor vcc;
			struct wire_viewchange vc;
			wire_cursor_init(&vcc, enc.p + WIRE_HDR_LEN, enc.len - WIRE_HDR_LEN);
			get_viewchange(&vcc, lim, &nh, &vc);
			err = wire_cursor_end(&vcc);
		}
		if (err != 0)
			wire__fail(c, err);
	}
	if (c->err == 0) {
		l->bytes.p = start;
		l->bytes.len = (uint32_t)(c->p - start);
	}
}

static void get_newview(struct wire_cursor *c, const struct wire_limits *lim,
			const struct wire_hdr *h, struct wire_newview *nv)
{
	nv->view = wire__get64(c);
	get_vcs(c, lim, h, &nv->vcs);
	nv->min_s = wire__get64(c);
	wire__getn(c, nv->min_digest, WIRE_DIGEST_LEN);
	nv->items.count = get_count(c, lim->max_log);
	nv->items.bytes = get_fixed_items(c, nv->items.count, WIRE__NVITEM_LEN);
	check_item_seqs(c, nv->items.bytes, WIRE__NVITEM_LEN);
	wire__getn(c, nv->sig, WIRE_SIG_LEN);
}

static void get_status(struct wire_cursor *c, struct wire_status *st)
{
	st->view = wire__get64(c);
	st->stable_seq = wire__get64(c);
	st->last_executed = wire__get64(c);
	st->last_committed = wire__get64(c);
	st->flags = wire__get32(c);
	if (c->err == 0 && (st->flags & ~WIRE_STATUS_VIEW_CHANGE) != 0)
		wire__fail(c, WIRE_ERR_FLAGS);
}

static void get_fetch(struct wire_cursor *c, const struct wire_limits *lim, struct wire_fetch *f)
{
	f->ckpt_seq = wire__get64(c);
	f->level = wire__get32(c);
	f->index = wire__get64(c);
	f->start_key = wire__getbytes(c, lim->max_key);
}

static void get_meta(struct wire_cursor *c, const struct wire_limits *lim, struct wire_meta *m)
{
	m->ckpt_seq = wire__get64(c);
	m->level = wire__get32(c);
	m->index = wire__get64(c);
	m->children.count = get_count(c, lim->max_children);
	m->children.bytes = get_fixed_items(c, m->children.count, WIRE_DIGEST_LEN);
}

static void get_data(struct wire_cursor *c, const struct wire_limits *lim, struct wire_data *d)
{
	d->ckpt_seq = wire__get64(c);
	d->partition = wire__get64(c);
	d->flags = wire__get32(c);
	if (c->err == 0 && (d->flags & ~WIRE_DATA_MORE) != 0)
		wire__fail(c, WIRE_ERR_FLAGS);
	d->entries.count = get_count(c, lim->max_entries);
	d->entries.bytes.p = NULL;
	d->entries.bytes.len = 0;
	const uint8_t *start = c->p;
	for (uint32_t i = 0; i < d->entries.count && c->err == 0; i++) {
		wire__getbytes(c, lim->max_key);
		wire__getbytes(c, lim->max_value);
	}
	if (c->err == 0) {
		d->entries.bytes.p = start;
		d->entries.bytes.len = (uint32_t)(c->p - start);
	}
}

static int is_signed(uint8_t type)
{
	return type == WIRE_CHECKPOINT || type == WIRE_VIEWCHANGE || type == WIRE_NEWVIEW;
}

int wire_decode_hdr(const uint8_t *buf, size_t len, struct wire_hdr *hdr, struct wire_bytes *body)
{
	int err = decode_hdr(buf, len, hdr);
	if (err != 0)
		return err;
	if (len - WIRE_HDR_LEN > UINT32_MAX)
		return WIRE_ERR_TOO_BIG;
	body->p = buf + WIRE_HDR_LEN;
	body->len = (uint32_t)(len - WIRE_HDR_LEN);
	return WIRE_OK;
}

static int decode(const uint8_t *buf, size_t len, const struct wire_limits *lim,
		  struct wire_msg *out, const struct digest_sink *sink)
{
	if (lim == NULL)
		lim = &wire_limits_default;
	if (len > lim->max_message)
		return WIRE_ERR_TOO_BIG;
	int err = decode_hdr(buf, len, &out->hdr);
	if (err != 0)
		goto err_out;

	const struct wire_hdr *h = &out->hdr;
	struct wire_cursor c;
	wire_cursor_init(&c, buf + WIRE_HDR_LEN, len - WIRE_HDR_LEN);
	switch (h->type) {
	case WIRE_REQUEST:
		get_request_body(&c, lim, &out->u.request);
		break;
	case WIRE_REPLY:
		get_reply(&c, lim, &out->u.reply);
		break;
	case WIRE_PREPREPARE:
		get_preprepare(&c, lim, h, &out->u.preprepare, sink);
		break;
	case WIRE_PREPARE:
	case WIRE_COMMIT:
		get_prepare(&c, &out->u.prepare);
		break;
	case WIRE_CHECKPOINT:
		get_checkpoint(&c, &out->u.checkpoint);
		break;
	case WIRE_VIEWCHANGE:
		get_viewchange(&c, lim, h, &out->u.viewchange);
		break;
	case WIRE_NEWVIEW:
		get_newview(&c, lim, h, &out->u.newview);
		break;
	case WIRE_STATUS:
		get_status(&c, &out->u.status);
		break;
	case WIRE_FETCH:
		get_fetch(&c, lim, &out->u.fetch);
		break;
	case WIRE_META:
		get_meta(&c, lim, &out->u.meta);
		break;
	case WIRE_DATA:
		get_data(&c, lim, &out->u.data);
		break;
	default:
		err = WIRE_ERR_TYPE;
		goto err_out;
	}
	err = wire_cursor_end(&c);
	if (err != 0)
		goto err_out;

	out->raw.p = buf;
	out->raw.len = (uint32_t)len;
	if (is_signed(h->type)) {
		out->signed_part.p = buf;
		out->signed_part.len = (uint32_t)len - WIRE_SIG_LEN;
	} else {
		out->signed_part.p = NULL;
		out->signed_part.len = 0;
	}
	return WIRE_OK;

err_out:
	memset(out, 0, sizeof(*out));
	return err;
}

int wire_decode(const uint8_t *buf, size_t len, const struct wire_limits *lim, struct wire_msg *out)
{
	return decode(buf, len, lim, out, NULL);
}

int wire_decode_digests(const uint8_t *buf, size_t len, const struct wire_limits *lim,
			struct wire_msg *out, uint8_t (*digests)[WIRE_DIGEST_LEN], uint32_t max,
			uint32_t *ndigests)
{
	struct digest_sink sink = { digests, digests != NULL ? max : 0, ndigests };

	*ndigests = 0;
	int err = decode(buf, len, lim, out, &sink);
	if (err != 0)
		*ndigests = 0;
	return err;
}

/* ---------------------------------------------------------------- encoding */
static uint8_t *put_request(uint8_t *p, const struct wire_request *r)
{
	return wire__streq(p, r);
}

static uint8_t *put_reply(uint8_t *p, const struct wire_reply *r)
{
	p = wire__st64(p, r->view);
	p = wire__st64(p, r->timestamp);
	p = wire__stn(p, r->client, WIRE_KEY_LEN);
	p = wire__st32(p, r->lane);
	p = wire__st32(p, r->flags);
	p = wire__stbytes(p, r->result);
	return wire__stbytes(p, r->extra);
}

static uint8_t *put_preprepare(uint8_t *p, const struct wire_preprepare *pp)
{
	p = wire__st64(p, pp->view);
	p = wire__st64(p, pp->seq);
	p = wire__stn(p, pp->digest, WIRE_DIGEST_LEN);
	return wire__stbatch(p, &pp->batch);
}

static uint8_t *put_prepare(uint8_t *p, const struct wire_prepare *pr)
{
	p = wire__st64(p, pr->view);
	p = wire__st64(p, pr->seq);
	return wire__stn(p, pr->digest, WIRE_DIGEST_LEN);
}

static uint8_t *put_checkpoint(uint8_t *p, const struct wire_checkpoint *ck)
{
	p = wire__st64(p, ck->seq);
	p = wire__stn(p, ck->digest, WIRE_DIGEST_LEN);
	return wire__stn(p, ck->sig, WIRE_SIG_LEN);
}

static uint8_t *put_list(uint8_t *p, const struct wire_list *l)
{
	return wire__stn(wire__st32(p, l->count), l->bytes.p, l->bytes.len);
}

static uint8_t *put_viewchange(uint8_t *p, const struct wire_viewchange *vc)
{
	p = wire__st64(p, vc->new_view);
	p = wire__st64(p, vc->stable_seq);
	p = wire__stn(p, vc->stable_digest, WIRE_DIGEST_LEN);
	p = put_list(p, &vc->proof);
	p = put_list(p, &vc->p);
	p = put_list(p, &vc->q);
	return wire__stn(p, vc->sig, WIRE_SIG_LEN);
}

static uint8_t *put_newview(uint8_t *p, const struct wire_newview *nv)
{
	p = wire__st64(p, nv->view);
	p = put_list(p, &nv->vcs);
	p = wire__st64(p, nv->min_s);
	p = wire__stn(p, nv->min_digest, WIRE_DIGEST_LEN);
	p = put_list(p, &nv->items);
	return wire__stn(p, nv->sig, WIRE_SIG_LEN);
}

static uint8_t *put_status(uint8_t *p, const struct wire_status *st)
{
	p = wire__st64(p, st->view);
	p = wire__st64(p, st->stable_seq);
	p = wire__st64(p, st->last_executed);
	p = wire__st64(p, st->last_committed);
	return wire__st32(p, st->flags);
}

static uint8_t *put_fetch(uint8_t *p, const struct wire_fetch *f)
{
	p = wire__st64(p, f->ckpt_seq);
	p = wire__st32(p, f->level);
	p = wire__st64(p, f->index);
	return wire__stbytes(p, f->start_key);
}

static uint8_t *put_meta(uint8_t *p, const struct wire_meta *m)
{
	p = wire__st64(p, m->ckpt_seq);
	p = wire__st32(p, m->level);
	p = wire__st64(p, m->index);
	return put_list(p, &m->children);
}

static uint8_t *put_data(uint8_t *p, const struct wire_data *d)
{
	p = wire__st64(p, d->ckpt_seq);
	p = wire__st64(p, d->partition);
	p = wire__st32(p, d->flags);
	return put_list(p, &d->entries);
}

/* Body size of m, or 0 with *err set for an unknown type or reserved flag bits. */
static uint64_t body_len(const struct wire_msg *m, int *err)
{
	const uint64_t list = 4u; /* a list's count */
	switch (m->hdr.type) {
	case WIRE_REQUEST:
		if (!wire_req_flags_ok(m->u.request.flags))
			break;
		return wire__req_body_len(&m->u.request);
	case WIRE_REPLY:
		if (!wire__reply_flags_ok(m->u.reply.flags) ||
		    !wire__reply_result_ok(m->u.reply.flags, m->u.reply.result.len))
			break;
		return 8u + 8u + WIRE_KEY_LEN + 4u + 4u + 4u + (uint64_t)m->u.reply.result.len + 4u +
		       m->u.reply.extra.len;
	case WIRE_PREPREPARE:
		return 8u + 8u + WIRE_DIGEST_LEN + wire__batch_len(&m->u.preprepare.batch);
	case WIRE_PREPARE:
	case WIRE_COMMIT:
		return 8u + 8u + WIRE_DIGEST_LEN;
	case WIRE_CHECKPOINT:
		return 8u + WIRE_DIGEST_LEN + WIRE_SIG_LEN;
	case WIRE_VIEWCHANGE:
		return 8u + 8u + WIRE_DIGEST_LEN + list + m->u.viewchange.proof.bytes.len + list +
		       m->u.viewchange.p.bytes.len + list + m->u.viewchange.q.bytes.len + WIRE_SIG_LEN;
	case WIRE_NEWVIEW:
		return 8u + list + m->u.newview.vcs.bytes.len + 8u + WIRE_DIGEST_LEN + list +
		       m->u.newview.items.bytes.len + WIRE_SIG_LEN;
	case WIRE_STATUS:
		if ((m->u.status.flags & ~WIRE_STATUS_VIEW_CHANGE) != 0)
			break;
		return 4u * 8u + 4u;
	case WIRE_FETCH:
		return 8u + 4u + 8u + 4u + (uint64_t)m->u.fetch.start_key.len;
	case WIRE_META:
		return 8u + 4u + 8u + list + m->u.meta.children.bytes.len;
	case WIRE_DATA:
		if ((m->u.data.flags & ~WIRE_DATA_MORE) != 0)
			break;
		return 8u + 8u + 4u + list + m->u.data.entries.bytes.len;
	default:
		*err = WIRE_ERR_TYPE;
		return 0;
	}
	*err = WIRE_ERR_FLAGS;
	return 0;
}

int wire_encode(struct wire_buf *b, const struct wire_msg *m)
{
	int err = 0;
	uint64_t n = body_len(m, &err);
	if (err != 0)
		return err;
	n += WIRE_HDR_LEN;
	if (n > UINT32_MAX)
		return WIRE_ERR_TOO_BIG;
	uint8_t *p = wire__buf_append(b, (size_t)n);
	if (p == NULL)
		return b->err;

	p = wire__st8(p, WIRE_VERSION);
	p = wire__st8(p, m->hdr.type);
	p = wire__st16(p, 0);
	p = wire__st32(p, m->hdr.sender);
	p = wire__st64(p, m->hdr.group);
	p = wire__st64(p, m->hdr.epoch);
	switch (m->hdr.type) {
	case WIRE_REQUEST:
		put_request(p, &m->u.request);
		break;
	case WIRE_REPLY:
		put_reply(p, &m->u.reply);
		break;
	case WIRE_PREPREPARE:
		put_preprepare(p, &m->u.preprepare);
		break;
	case WIRE_PREPARE:
	case WIRE_COMMIT:
		put_prepare(p, &m->u.prepare);
		break;
	case WIRE_CHECKPOINT:
		put_checkpoint(p, &m->u.checkpoint);
		break;
	case WIRE_VIEWCHANGE:
		put_viewchange(p, &m->u.viewchange);
		break;
	case WIRE_NEWVIEW:
		put_newview(p, &m->u.newview);
		break;
	case WIRE_STATUS:
		put_status(p, &m->u.status);
		break;
	case WIRE_FETCH:
		put_fetch(p, &m->u.fetch);
		break;
	case WIRE_META:
		put_meta(p, &m->u.meta);
		break;
	case WIRE_DATA:
		put_data(p, &m->u.data);
		break;
	}
	return WIRE_OK;
}
