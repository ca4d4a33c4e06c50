/* list.c: list and batch items: the wire_put_* builders and the wire_next_* iterators.
 * Iterators trust lists that wire_decode validated; on any other bytes they still never
 * read outside the list and simply stop at the first item that does not parse. */
#include <string.h>

#include "wire/internal.h"
#include "wire/wire.h"

/* ---------------------------------------------------------------- iterators */
void wire_iter_init(struct wire_iter *it, const struct wire_list *l)
{
	it->p = l->bytes.p;
	it->end = l->bytes.len > 0 ? l->bytes.p + l->bytes.len : l->bytes.p;
	it->left = l->count;
}

void wire_iter_batch(struct wire_iter *it, const struct wire_batch *b)
{
	it->p = b->reqs.p;
	it->end = b->reqs.len > 0 ? b->reqs.p + b->reqs.len : b->reqs.p;
	it->left = b->count;
}

/* Start one item: a cursor over what is left, or 0 at the end of the list. */
static int iter_begin(struct wire_iter *it, struct wire_cursor *c)
{
	if (it->left == 0)
		return 0;
	c->p = it->p;
	c->end = it->end;
	c->err = 0;
	return 1;
}

/* Finish one item: advance past it, or stop the iteration if it did not parse. */
static int iter_finish(struct wire_iter *it, const struct wire_cursor *c)
{
	if (c->err != 0) {
		it->left = 0;
		it->p = it->end;
		return 0;
	}
	it->p = c->p;
	it->left--;
	return 1;
}

/* A request body inside c (no limits: the list was validated against them). */
static void get_request_body(struct wire_cursor *c, struct wire_request *r)
{
	wire__getn(c, r->client, WIRE_KEY_LEN);
	r->lane = wire__get32(c);
	r->timestamp = wire__get64(c);
	r->flags = wire__get32(c);
	r->op = wire__getbytes(c, UINT32_MAX);
	r->auth = wire__getbytes(c, UINT32_MAX);
}

int wire_next_request(struct wire_iter *it, struct wire_request *out)
{
	struct wire_cursor c;
	if (!iter_begin(it, &c))
		return 0;
	struct wire_bytes body = wire__getbytes(&c, UINT32_MAX);
	if (c.err == 0) {
		struct wire_cursor bc;
		wire_cursor_init(&bc, body.p, body.len);
		get_request_body(&bc, out);
		if (wire_cursor_end(&bc) != 0)
			wire__fail(&c, WIRE_ERR_FIELD);
	}
	return iter_finish(it, &c);
}

int wire_next_proof(struct wire_iter *it, struct wire_proof_item *out)
{
	struct wire_cursor c;
	if (!iter_begin(it, &c))
		return 0;
	out->replica = wire__get32(&c);
	wire__getn(&c, out->sig, WIRE_SIG_LEN);
	return iter_finish(it, &c);
}

int wire_next_pitem(struct wire_iter *it, struct wire_pitem *out)
{
	struct wire_cursor c;
	if (!iter_begin(it, &c))
		return 0;
	out->seq = wire__get64(&c);
	out->view = wire__get64(&c);
	wire__getn(&c, out->digest, WIRE_DIGEST_LEN);
	out->batch.time = wire__get64(&c);
	out->batch.count = wire__get32(&c);
	const uint8_t *start = c.p;
	for (uint32_t i = 0; i < out->batch.count && c.err == 0; i++)
		wire__getbytes(&c, UINT32_MAX);
	out->batch.reqs.p = start;
	out->batch.reqs.len = (uint32_t)(c.p - start);
	return iter_finish(it, &c);
}

int wire_next_qitem(struct wire_iter *it, struct wire_qitem *out)
{
	struct wire_cursor c;
	if (!iter_begin(it, &c))
		return 0;
	out->seq = wire__get64(&c);
	out->view = wire__get64(&c);
	wire__getn(&c, out->digest, WIRE_DIGEST_LEN);
	return iter_finish(it, &c);
}

int wire_next_nvitem(struct wire_iter *it, struct wire_nvitem *out)
{
	struct wire_cursor c;
	if (!iter_begin(it, &c))
		return 0;
	out->seq = wire__get64(&c);
	wire__getn(&c, out->digest, WIRE_DIGEST_LEN);
	return iter_finish(it, &c);
}

int wire_next_vc(struct wire_iter *it, struct wire_bytes *encoded_viewchange)
{
	struct wire_cursor c;
	if (!iter_begin(it, &c))
		return 0;
	*encoded_viewchange = wire__getbytes(&c, UINT32_MAX);
	return iter_finish(it, &c);
}

int wire_next_child(struct wire_iter *it, const uint8_t **digest)
{
	struct wire_cursor c;
	if (!iter_begin(it, &c))
		return 0;
	*digest = wire__take(&c, WIRE_DIGEST_LEN);
	return iter_finish(it, &c);
}

int wire_next_data(struct wire_iter *it, struct wire_data_item *out)
{
	struct wire_cursor c;
	if (!iter_begin(it, &c))
		return 0;
	out->key = wire__getbytes(&c, UINT32_MAX);
	out->value = wire__getbytes(&c, UINT32_MAX);
	return iter_finish(it, &c);
}

/* ---------------------------------------------------------------- builders */
void wire_put_request(struct wire_buf *b, const struct wire_request *r)
{
	uint64_t body = wire__req_body_len(r);
	if (body > UINT32_MAX - 4u) {
		wire__buf_fail(b, WIRE_ERR_TOO_BIG);
		return;
	}
	uint8_t *p = wire__buf_append(b, 4 + (size_t)body);
	if (p != NULL)
		wire__streq(wire__st32(p, (uint32_t)body), r);
}

void wire_put_proof(struct wire_buf *b, const struct wire_proof_item *it)
{
	uint8_t *p = wire__buf_append(b, WIRE__PROOF_LEN);
	if (p != NULL)
		wire__stn(wire__st32(p, it->replica), it->sig, WIRE_SIG_LEN);
}

void wire_put_pitem(struct wire_buf *b, const struct wire_pitem *it)
{
	uint64_t n = 8u + 8u + WIRE_DIGEST_LEN + wire__batch_len(&it->batch);
	if (n > UINT32_MAX) {
		wire__buf_fail(b, WIRE_ERR_TOO_BIG);
		return;
	}
	uint8_t *p = wire__buf_append(b, (size_t)n);
	if (p == NULL)
		return;
	p = wire__st64(p, it->seq);
	p = wire__st64(p, it->view);
	p = wire__stn(p, it->digest, WIRE_DIGEST_LEN);
	wire__stbatch(p, &it->batch);
}

void wire_put_qitem(struct wire_buf *b, const struct wire_qitem *it)
{
	uint8_t *p = wire__buf_append(b, WIRE__QITEM_LEN);
	if (p == NULL)
		return;
	p = wire__st64(p, it->seq);
	p = wire__st64(p, it->view);
	wire__stn(p, it->digest, WIRE_DIGEST_LEN);
}

void wire_put_nvitem(struct wire_buf *b, const struct wire_nvitem *it)
{
	uint8_t *p = wire__buf_append(b, WIRE__NVITEM_LEN);
	if (p != NULL)
		wire__stn(wire__st64(p, it->seq), it->digest, WIRE_DIGEST_LEN);
}

void wire_put_vc(struct wire_buf *b, const uint8_t *encoded, size_t len)
{
	if (len > UINT32_MAX - 4u) {
		wire__buf_fail(b, WIRE_ERR_TOO_BIG);
		return;
	}
	uint8_t *p = wire__buf_append(b, 4 + len);
	if (p != NULL)
		wire__stn(wire__st32(p, (uint32_t)len), encoded, len);
}

void wire_put_child(struct wire_buf *b, const uint8_t digest[WIRE_DIGEST_LEN])
{
	uint8_t *p = wire__buf_append(b, WIRE_DIGEST_LEN);
	if (p != NULL)
		wire__stn(p, digest, WIRE_DIGEST_LEN);
}

void wire_put_data(struct wire_buf *b, const struct wire_data_item *it)
{
	uint64_t n = 4u + (uint64_t)it->key.len + 4u + it->value.len;
	if (n > UINT32_MAX) {
		wire__buf_fail(b, WIRE_ERR_TOO_BIG);
		return;
	}
	uint8_t *p = wire__buf_append(b, (size_t)n);
	if (p != NULL)
		wire__stbytes(wire__stbytes(p, it->key), it->value);
}
