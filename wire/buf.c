/* buf.c: the growable output buffer, the bounds-checked input cursor and their typed
 * put/get functions (public wrappers around the inline fast paths of internal.h). */
#include <stdlib.h>
#include <string.h>

#include "wire/internal.h"
#include "wire/wire.h"

#define WIRE_BUF_MIN_CAP 256u

void wire_buf_init(struct wire_buf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = 0;
}

void wire_buf_free(struct wire_buf *b)
{
	free(b->p);
	wire_buf_init(b);
}

void wire_buf_reset(struct wire_buf *b)
{
	b->len = 0;
	b->err = 0;
}

int wire_buf_error(const struct wire_buf *b)
{
	return b->err;
}

uint8_t *wire__buf_grow(struct wire_buf *b, size_t n)
{
	if (b->err != 0)
		return NULL;
	if (n > SIZE_MAX - b->len) {
		b->err = WIRE_ERR_NOMEM;
		return NULL;
	}
	size_t want = b->len + n;
	size_t cap = b->cap < WIRE_BUF_MIN_CAP ? WIRE_BUF_MIN_CAP : b->cap;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	uint8_t *p = realloc(b->p, cap);
	if (p == NULL) {
		b->err = WIRE_ERR_NOMEM;
		return NULL;
	}
	b->p = p;
	b->cap = cap;
	uint8_t *at = p + b->len;
	b->len = want;
	return at;
}

void wire_patch_sig(struct wire_buf *b, const uint8_t sig[WIRE_SIG_LEN])
{
	if (b->err != 0 || b->len < WIRE_SIG_LEN)
		return;
	memcpy(b->p + b->len - WIRE_SIG_LEN, sig, WIRE_SIG_LEN);
}

void wire_put_u8(struct wire_buf *b, uint8_t v)
{
	uint8_t *p = wire__buf_append(b, 1);
	if (p != NULL)
		wire__st8(p, v);
}

void wire_put_u16(struct wire_buf *b, uint16_t v)
{
	uint8_t *p = wire__buf_append(b, 2);
	if (p != NULL)
		wire__st16(p, v);
}

void wire_put_u32(struct wire_buf *b, uint32_t v)
{
	uint8_t *p = wire__buf_append(b, 4);
	if (p != NULL)
		wire__st32(p, v);
}

void wire_put_u64(struct wire_buf *b, uint64_t v)
{
	uint8_t *p = wire__buf_append(b, 8);
	if (p != NULL)
		wire__st64(p, v);
}

void wire_put_fixed(struct wire_buf *b, const void *src, size_t n)
{
	uint8_t *p = wire__buf_append(b, n);
	if (p != NULL)
		wire__stn(p, src, n);
}

void wire_put_bytes(struct wire_buf *b, const void *src, uint32_t n)
{
	uint8_t *p = wire__buf_append(b, 4 + (size_t)n);
	if (p != NULL)
		wire__stn(wire__st32(p, n), src, n);
}

void wire_put_hdr(struct wire_buf *b, const struct wire_hdr *h)
{
	uint8_t *p = wire__buf_append(b, WIRE_HDR_LEN);
	if (p == NULL)
		return;
	p = wire__st8(p, h->version);
	p = wire__st8(p, h->type);
	p = wire__st16(p, h->flags);
	p = wire__st32(p, h->sender);
	p = wire__st64(p, h->group);
	wire__st64(p, h->epoch);
}

void wire_cursor_init(struct wire_cursor *c, const uint8_t *p, size_t len)
{
	c->p = p;
	c->end = len > 0 ? p + len : p;
	c->err = 0;
}

uint8_t wire_get_u8(struct wire_cursor *c)
{
	return wire__get8(c);
}

uint16_t wire_get_u16(struct wire_cursor *c)
{
	return wire__get16(c);
}

uint32_t wire_get_u32(struct wire_cursor *c)
{
	return wire__get32(c);
}

uint64_t wire_get_u64(struct wire_cursor *c)
{
	return wire__get64(c);
}

void wire_get_fixed(struct wire_cursor *c, void *out, size_t n)
{
	wire__getn(c, out, n);
}

struct wire_bytes wire_get_bytes(struct wire_cursor *c, uint32_t max)
{
	return wire__getbytes(c, max);
}

int wire_cursor_end(const struct wire_cursor *c)
{
	if (c->err != 0)
		return c->err;
	return c->p == c->end ? WIRE_OK : WIRE_ERR_TRAILING;
}
