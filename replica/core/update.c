/* update.c: the update a step returns (messages, records, deadline), pbft_results, and
 * helpers that encode messages and records into it. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/pbft_int.h"

void pbft_update_init(struct pbft_update *u)
{
	memset(u, 0, sizeof(*u));
	wire_buf_init(&u->msgs);
	wire_buf_init(&u->recs);
}

void pbft_update_reset(struct pbft_update *u)
{
	wire_buf_reset(&u->msgs);
	wire_buf_reset(&u->recs);
	u->nout = 0;
	u->nrec = 0;
	u->sync = 0;
	u->again = 0;
	u->deadline = 0;
}

void pbft_update_free(struct pbft_update *u)
{
	wire_buf_free(&u->msgs);
	wire_buf_free(&u->recs);
	free(u->out);
	free(u->rec);
	memset(u, 0, sizeof(*u));
}

int pbft_results_add(struct pbft_results *r, const void *data, uint32_t len)
{
	if (r->count == r->cap) {
		uint32_t cap = r->cap ? r->cap * 2 : 64;
		uint32_t *nl = realloc(r->len, (size_t)cap * sizeof(*nl));
		if (!nl)
			return PBFT_ERR_NOMEM;
		r->len = nl;
		r->cap = cap;
	}
	wire_put_fixed(&r->data, data, len);
	if (wire_buf_error(&r->data))
		return PBFT_ERR_NOMEM;
	r->len[r->count++] = len;
	return PBFT_OK;
}

static struct pbft_out *pbft__out_add(struct pbft_update *up)
{
	if (up->nout == up->capout) {
		size_t cap = up->capout ? up->capout * 2 : 32;
		struct pbft_out *no = realloc(up->out, cap * sizeof(*no));
		if (!no)
			return NULL;
		up->out = no;
		up->capout = cap;
	}
	return &up->out[up->nout++];
}

void pbft__hdr(const struct pbft *r, struct wire_hdr *h, uint8_t type)
{
	h->version = WIRE_VERSION;
	h->type = type;
	h->flags = 0;
	h->sender = r->id;
	h->group = r->cfg.group;
	h->epoch = r->cfg.epoch;
}

static int pbft__out_finish(struct pbft_update *up, enum pbft_dest dest, uint32_t replica,
			    const uint8_t *client, size_t off)
{
	struct pbft_out *o;

	if (wire_buf_error(&up->msgs))
		return PBFT_ERR_NOMEM;
	o = pbft__out_add(up);
	if (!o) {
		up->msgs.len = off;
		return PBFT_ERR_NOMEM;
	}
	o->dest = dest;
	o->replica = replica;
	if (client)
		memcpy(o->client, client, WIRE_KEY_LEN);
	else
		memset(o->client, 0, WIRE_KEY_LEN);
	o->off = off;
	o->len = up->msgs.len - off;
	return PBFT_OK;
}

int pbft__send(struct pbft *r, struct pbft_update *up, enum pbft_dest dest, uint32_t replica,
	       const uint8_t *client, const struct wire_msg *m)
{
	size_t off = up->msgs.len;
	int rc = wire_encode(&up->msgs, m);

	(void)r;
	if (rc != WIRE_OK) {
		up->msgs.len = off;
		return rc == WIRE_ERR_NOMEM ? PBFT_ERR_NOMEM : PBFT_ERR_ARG;
	}
	return pbft__out_finish(up, dest, replica, client, off);
}

int pbft__send_signed(struct pbft *r, struct pbft_update *up, enum pbft_dest dest,
		      uint32_t replica, struct wire_msg *m, struct wire_buf *copy)
{
	size_t off = up->msgs.len;
	uint8_t sig[WIRE_SIG_LEN];
	int rc = wire_encode(&up->msgs, m);

	if (rc != WIRE_OK) {
		up->msgs.len = off;
		return rc == WIRE_ERR_NOMEM ? PBFT_ERR_NOMEM : PBFT_ERR_ARG;
	}
	if (r->cfg.crypto.sign(r->cfg.crypto.ctx, up->msgs.p + off,
			       up->msgs.len - off - WIRE_SIG_LEN, sig) != 0) {
		up->msgs.len = off;
		return PBFT_ERR_APP;
	}
	memcpy(up->msgs.p + up->msgs.len - WIRE_SIG_LEN, sig, WIRE_SIG_LEN);
	if (copy) {
		wire_buf_reset(copy);
		wire_put_fixed(copy, up->msgs.p + off, up->msgs.len - off);
		if (wire_buf_error(copy)) {
			up->msgs.len = off;
			return PBFT_ERR_NOMEM;
		}
	}
	return pbft__out_finish(up, dest, replica, NULL, off);
}

int pbft__send_raw(struct pbft_update *up, enum pbft_dest dest, uint32_t replica,
		   const uint8_t *p, size_t len)
{
	size_t off = up->msgs.len;

	wire_put_fixed(&up->msgs, p, len);
	return pbft__out_finish(up, dest, replica, NULL, off);
}

static struct pbft_record *pbft__rec_add(struct pbft_update *up)
{
	if (up->nrec == up->caprec) {
		size_t cap = up->caprec ? up->caprec * 2 : 16;
		struct pbft_record *nr = realloc(up->rec, cap * sizeof(*nr));
		if (!nr)
			return NULL;
		up->rec = nr;
		up->caprec = cap;
	}
	return &up->rec[up->nrec++];
}

int pbft__record(struct pbft_update *up, uint8_t kind, uint64_t key, const struct wire_buf *val,
		 int sync)
{
	size_t off = up->recs.len;
	struct pbft_record *rec;

	if (wire_buf_error(val))
		return PBFT_ERR_NOMEM;
	wire_put_fixed(&up->recs, val->p, val->len);
	if (wire_buf_error(&up->recs))
		return PBFT_ERR_NOMEM;
	rec = pbft__rec_add(up);
	if (!rec) {
		up->recs.len = off;
		return PBFT_ERR_NOMEM;
	}
	rec->kind = kind;
	rec->del_below = 0;
	rec->key = key;
	rec->off = off;
	rec->len = val->len;
	if (sync)
		up->sync = 1;
	return PBFT_OK;
}

int pbft__record_del(struct pbft_update *up, uint8_t kind, uint64_t below)
{
	struct pbft_record *rec = pbft__rec_add(up);

	if (!rec)
		return PBFT_ERR_NOMEM;
	rec->kind = kind;
	rec->del_below = 1;
	rec->key = below;
	rec->off = up->recs.len;
	rec->len = 0;
	return PBFT_OK;
}

/* ---------------------------------------------------------------- batches */
void pbft__put_batch(struct wire_buf *b, const struct pbft__batch *bt)
{
	wire_put_u64(b, bt->time);
	wire_put_u32(b, bt->count);
	wire_put_bytes(b, bt->reqs.p, (uint32_t)bt->reqs.len);
}

int pbft__batch_set(struct pbft *r, struct pbft__batch *dst, const struct wire_batch *src,
		    const uint8_t digest[WIRE_DIGEST_LEN])
{
	dst->time = src->time;
	dst->count = src->count;
	memmove(dst->digest, digest, WIRE_DIGEST_LEN);
	wire_buf_reset(&dst->reqs);
	PBFT__ACCT(r, &dst->reqs, wire_put_fixed(&dst->reqs, src->reqs.p, src->reqs.len));
	return wire_buf_error(&dst->reqs) ? PBFT_ERR_NOMEM : PBFT_OK;
}

int pbft__batch_copy(struct pbft *r, struct pbft__batch *dst, const struct pbft__batch *src)
{
	struct wire_batch b;

	pbft__batch_view(src, &b);
	return pbft__batch_set(r, dst, &b, src->digest);
}

void pbft__batch_view(const struct pbft__batch *b, struct wire_batch *out)
{
	out->time = b->time;
	out->count = b->count;
	out->reqs.p = b->reqs.p;
	out->reqs.len = (uint32_t)b->reqs.len;
}

void pbft__batch_null(struct pbft *r, struct pbft__batch *b)
{
	b->time = 0;
	b->count = 0;
	wire_buf_reset(&b->reqs);
	wire_null_digest(r->cfg.group, r->cfg.epoch, b->digest);
}
