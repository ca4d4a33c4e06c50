/* digest.c: the request, batch and null digests (SHA-256 with domain separation; the
 * exact preimages are documented in docs/PROTOCOL.md). */
#include <string.h>

#include "crypto/crypto.h"
#include "wire/internal.h"
#include "wire/wire.h"

#define REQ_DOMAIN "bulwark/request/v1"
#define BATCH_DOMAIN "bulwark/batch/v1"
#define REQ_DOMAIN_LEN (sizeof(REQ_DOMAIN) - 1)
#define BATCH_DOMAIN_LEN (sizeof(BATCH_DOMAIN) - 1)
/* domain, group, epoch, client, lane, timestamp, flags, op length */
#define REQ_PREFIX_LEN (REQ_DOMAIN_LEN + 8 + 8 + WIRE_KEY_LEN + 4 + 8 + 4 + 4)
/* domain, group, epoch, time, count */
#define BATCH_PREFIX_LEN (BATCH_DOMAIN_LEN + 8 + 8 + 8 + 4)

int wire__request_digest(uint64_t group, uint64_t epoch, const struct wire_request *r,
			 uint8_t out[WIRE_DIGEST_LEN])
{
	uint8_t pre[REQ_PREFIX_LEN];
	uint8_t *p = wire__stn(pre, REQ_DOMAIN, REQ_DOMAIN_LEN);
	p = wire__st64(p, group);
	p = wire__st64(p, epoch);
	p = wire__stn(p, r->client, WIRE_KEY_LEN);
	p = wire__st32(p, r->lane);
	p = wire__st64(p, r->timestamp);
	p = wire__st32(p, r->flags);
	wire__st32(p, r->op.len);

	struct crypto_sha256_ctx ctx = { NULL };
	if (crypto_sha256_init(&ctx) != 0)
		goto err_ctx;
	if (crypto_sha256_update(&ctx, pre, sizeof(pre)) != 0)
		goto err_ctx;
	if (r->op.len > 0 && crypto_sha256_update(&ctx, r->op.p, r->op.len) != 0)
		goto err_ctx;
	if (crypto_sha256_final(&ctx, out) != 0)
		goto err_ctx;
	crypto_sha256_free(&ctx);
	return 0;
err_ctx:
	crypto_sha256_free(&ctx);
	return WIRE_ERR_NOMEM;
}

int wire__batch_begin(struct crypto_sha256_ctx *ctx, uint64_t group, uint64_t epoch,
		      uint64_t time, uint32_t count)
{
	uint8_t pre[BATCH_PREFIX_LEN];
	uint8_t *p = wire__stn(pre, BATCH_DOMAIN, BATCH_DOMAIN_LEN);
	p = wire__st64(p, group);
	p = wire__st64(p, epoch);
	p = wire__st64(p, time);
	wire__st32(p, count);

	ctx->md = NULL;
	if (crypto_sha256_init(ctx) != 0 || crypto_sha256_update(ctx, pre, sizeof(pre)) != 0) {
		crypto_sha256_free(ctx);
		return WIRE_ERR_NOMEM;
	}
	return 0;
}

int wire__batch_add(struct crypto_sha256_ctx *ctx, const uint8_t req_digest[WIRE_DIGEST_LEN])
{
	return crypto_sha256_update(ctx, req_digest, WIRE_DIGEST_LEN) == 0 ? 0 : WIRE_ERR_NOMEM;
}

int wire__batch_end(struct crypto_sha256_ctx *ctx, int err, uint8_t out[WIRE_DIGEST_LEN])
{
	if (err == 0 && out != NULL && crypto_sha256_final(ctx, out) != 0)
		err = WIRE_ERR_NOMEM;
	crypto_sha256_free(ctx);
	return err;
}

/* The public digests cannot report errors (as crypto_sha256): if OpenSSL cannot allocate
 * a hashing context, out is all zero, which matches no real digest. */
void wire_request_digest(uint64_t group, uint64_t epoch, const struct wire_request *r,
			 uint8_t out[WIRE_DIGEST_LEN])
{
	if (wire__request_digest(group, epoch, r, out) != 0)
		memset(out, 0, WIRE_DIGEST_LEN);
}

int wire__batch_digest(uint64_t group, uint64_t epoch, const struct wire_batch *b,
		       uint8_t out[WIRE_DIGEST_LEN])
{
	struct crypto_sha256_ctx ctx;
	int err = wire__batch_begin(&ctx, group, epoch, b->time, b->count);
	if (err != 0)
		return err;
	struct wire_iter it;
	struct wire_request r;
	uint8_t d[WIRE_DIGEST_LEN];
	wire_iter_batch(&it, b);
	while (err == 0 && wire_next_request(&it, &r)) {
		err = wire__request_digest(group, epoch, &r, d);
		if (err == 0)
			err = wire__batch_add(&ctx, d);
	}
	return wire__batch_end(&ctx, err, out);
}

void wire_batch_digest(uint64_t group, uint64_t epoch, const struct wire_batch *b,
		       uint8_t out[WIRE_DIGEST_LEN])
{
	if (wire__batch_digest(group, epoch, b, out) != 0)
		memset(out, 0, WIRE_DIGEST_LEN);
}

void wire_batch_digest_of(uint64_t group, uint64_t epoch, uint64_t time, uint32_t count,
			  const uint8_t (*req_digests)[WIRE_DIGEST_LEN], uint8_t out[WIRE_DIGEST_LEN])
{
	struct crypto_sha256_ctx ctx;
	int err = wire__batch_begin(&ctx, group, epoch, time, count);

	if (err != 0) {
		memset(out, 0, WIRE_DIGEST_LEN);
		return;
	}
	for (uint32_t i = 0; i < count && err == 0; i++)
		err = wire__batch_add(&ctx, req_digests[i]);
	if (wire__batch_end(&ctx, err, out) != 0)
		memset(out, 0, WIRE_DIGEST_LEN);
}

void wire_null_digest(uint64_t group, uint64_t epoch, uint8_t out[WIRE_DIGEST_LEN])
{
	const struct wire_batch null_batch = { 0, 0, { NULL, 0 } };
	wire_batch_digest(group, epoch, &null_batch, out);
}

#define RESULT_DOMAIN "bulwark/result/v1"

void wire_result_digest(const uint8_t *result, size_t len, uint8_t out[WIRE_DIGEST_LEN])
{
	struct crypto_sha256_ctx ctx = { NULL };

	if (crypto_sha256_init(&ctx) != 0 ||
	    crypto_sha256_update(&ctx, RESULT_DOMAIN, sizeof(RESULT_DOMAIN) - 1) != 0 ||
	    (len > 0 && crypto_sha256_update(&ctx, result, len) != 0) ||
	    crypto_sha256_final(&ctx, out) != 0)
		memset(out, 0, WIRE_DIGEST_LEN);
	crypto_sha256_free(&ctx);
}
