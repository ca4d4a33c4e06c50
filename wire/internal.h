/* internal.h: wire's internal helpers shared by its .c files: little-endian loads and
 * stores, the inlined cursor and buffer fast paths, and the hashing steps of digest.c. */
#ifndef BULWARK_WIRE_INTERNAL_H
#define BULWARK_WIRE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "crypto/crypto.h"
#include "wire/wire.h"

/* Encoded sizes of the fixed parts. */
#define WIRE__REQ_FIXED (WIRE_KEY_LEN + 4u + 8u + 4u + 4u + 4u) /* client lane ts flags oplen authlen */
#define WIRE__PROOF_LEN (4u + WIRE_SIG_LEN)
#define WIRE__QITEM_LEN (8u + 8u + WIRE_DIGEST_LEN)
#define WIRE__NVITEM_LEN (8u + WIRE_DIGEST_LEN)

/* ---------------------------------------------------------------- loads and stores */
static inline uint16_t wire__ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}

static inline uint32_t wire__ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t wire__ld64(const uint8_t *p)
{
	return (uint64_t)wire__ld32(p) | (uint64_t)wire__ld32(p + 4) << 32;
}

/* Stores return the position after the stored field. */
static inline uint8_t *wire__st8(uint8_t *p, uint8_t v)
{
	p[0] = v;
	return p + 1;
}

static inline uint8_t *wire__st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static inline uint8_t *wire__st32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
	return p + 4;
}

static inline uint8_t *wire__st64(uint8_t *p, uint64_t v)
{
	wire__st32(p, (uint32_t)v);
	wire__st32(p + 4, (uint32_t)(v >> 32));
	return p + 8;
}

/* n raw bytes; src may be NULL when n is 0. */
static inline uint8_t *wire__stn(uint8_t *p, const void *src, size_t n)
{
	if (n > 0)
		memcpy(p, src, n);
	return p + n;
}

/* u32 length + bytes. */
static inline uint8_t *wire__stbytes(uint8_t *p, struct wire_bytes v)
{
	return wire__stn(wire__st32(p, v.len), v.p, v.len);
}

/* Encoded sizes of variable parts (u64: the sum of u32 lengths cannot overflow). */
static inline uint64_t wire__req_body_len(const struct wire_request *r)
{
	return (uint64_t)WIRE__REQ_FIXED + r->op.len + r->auth.len;
}

static inline uint64_t wire__batch_len(const struct wire_batch *b)
{
	return 8u + 4u + (uint64_t)b->reqs.len;
}

/* A request body: client, lane, timestamp, flags, op bytes, auth bytes. */
static inline uint8_t *wire__streq(uint8_t *p, const struct wire_request *r)
{
	p = wire__stn(p, r->client, WIRE_KEY_LEN);
	p = wire__st32(p, r->lane);
	p = wire__st64(p, r->timestamp);
	p = wire__st32(p, r->flags);
	p = wire__stbytes(p, r->op);
	return wire__stbytes(p, r->auth);
}

/* A batch: time, count, the encoded requests as they are. */
static inline uint8_t *wire__stbatch(uint8_t *p, const struct wire_batch *b)
{
	p = wire__st64(p, b->time);
	p = wire__st32(p, b->count);
	return wire__stn(p, b->reqs.p, b->reqs.len);
}

/* ---------------------------------------------------------------- buffer */
/* Slow path of wire__buf_append (buf.c): grow geometrically, or set the sticky error. */
uint8_t *wire__buf_grow(struct wire_buf *b, size_t n);

/* Reserve n bytes at the end of b and count them as written: returns where to write
 * them, or NULL once b is in error. */
static inline uint8_t *wire__buf_append(struct wire_buf *b, size_t n)
{
	if (b->err != 0)
		return NULL;
	if (b->cap - b->len < n)
		return wire__buf_grow(b, n);
	uint8_t *p = b->p + b->len;
	b->len += n;
	return p;
}

/* Record err in b unless an earlier error is already there. */
static inline void wire__buf_fail(struct wire_buf *b, int err)
{
	if (b->err == 0)
		b->err = err;
}

/* ---------------------------------------------------------------- cursor */
static inline void wire__fail(struct wire_cursor *c, int err)
{
	if (c->err == 0)
		c->err = err;
	c->p = c->end;
}

/* Consume n bytes: their start, or NULL (sticky WIRE_ERR_TRUNCATED) if fewer remain. */
static inline const uint8_t *wire__take(struct wire_cursor *c, size_t n)
{
	if (c->err != 0)
		return NULL;
	if ((size_t)(c->end - c->p) < n) {
		wire__fail(c, WIRE_ERR_TRUNCATED);
		return NULL;
	}
	const uint8_t *p = c->p;
	if (n > 0)
		c->p += n;
	return p;
}

static inline uint8_t wire__get8(struct wire_cursor *c)
{
	const uint8_t *p = wire__take(c, 1);
	return p ? p[0] : 0;
}

static inline uint16_t wire__get16(struct wire_cursor *c)
{
	const uint8_t *p = wire__take(c, 2);
	return p ? wire__ld16(p) : 0;
}

static inline uint32_t wire__get32(struct wire_cursor *c)
{
	const uint8_t *p = wire__take(c, 4);
	return p ? wire__ld32(p) : 0;
}

static inline uint64_t wire__get64(struct wire_cursor *c)
{
	const uint8_t *p = wire__take(c, 8);
	return p ? wire__ld64(p) : 0;
}

static inline void wire__getn(struct wire_cursor *c, void *out, size_t n)
{
	const uint8_t *p = wire__take(c, n);
	if (p != NULL)
		memcpy(out, p, n);
	else if (n > 0)
		memset(out, 0, n);
}

/* u32 length (checked against max first: WIRE_ERR_TOO_BIG) + that many bytes. */
static inline struct wire_bytes wire__getbytes(struct wire_cursor *c, uint32_t max)
{
	struct wire_bytes v = { NULL, 0 };
	uint32_t n = wire__get32(c);
	if (c->err != 0)
		return v;
	if (n > max) {
		wire__fail(c, WIRE_ERR_TOO_BIG);
		return v;
	}
	const uint8_t *p = wire__take(c, n);
	if (p != NULL) {
		v.p = p;
		v.len = n;
	}
	return v;
}

/* ---------------------------------------------------------------- hashing (digest.c) */
/* Each returns 0 or WIRE_ERR_NOMEM (OpenSSL could not allocate a hashing context). */
int wire__request_digest(uint64_t group, uint64_t epoch, const struct wire_request *r,
			 uint8_t out[WIRE_DIGEST_LEN]);
/* A batch digest built one request digest at a time (the decoder hashes while it
 * validates). begin fills ctx; after a successful begin, end must be called. */
int wire__batch_begin(struct crypto_sha256_ctx *ctx, uint64_t group, uint64_t epoch,
		      uint64_t time, uint32_t count);
int wire__batch_add(struct crypto_sha256_ctx *ctx, const uint8_t req_digest[WIRE_DIGEST_LEN]);
/* Writes the digest when out is non-NULL and all went well; always releases ctx. */
int wire__batch_end(struct crypto_sha256_ctx *ctx, int err, uint8_t out[WIRE_DIGEST_LEN]);
/* wire_batch_digest that reports allocation failure. */
int wire__batch_digest(uint64_t group, uint64_t epoch, const struct wire_batch *b,
		       uint8_t out[WIRE_DIGEST_LEN]);

#endif
