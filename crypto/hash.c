/* hash.c: SHA-256, one-shot and incremental, on OpenSSL's low-level SHA-256. */

/* SHA256_Init/Update/Final and SHA256_CTX are deprecated in OpenSSL 3 but still built
 * (Debian's libssl 3.0) and still run OpenSSL's assembly block function. The EVP path
 * allocates an EVP_MD_CTX per incremental hash (or keeps one per thread) and goes through
 * the provider on every call; a SHA256_CTX lives inside struct crypto_sha256_ctx and needs
 * no allocation, so neither the one-shot nor the incremental hash can run out of memory. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/crypto.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(struct crypto__sha256_state),
	       "struct crypto__sha256_state cannot hold a SHA256_CTX");
_Static_assert(_Alignof(SHA256_CTX) <= _Alignof(struct crypto__sha256_state),
	       "struct crypto__sha256_state is less aligned than SHA256_CTX");

/* The context's opaque storage seen as the SHA256_CTX it holds. Only OpenSSL's functions
 * (outside this translation unit) read and write it through this pointer. */
static SHA256_CTX *sha256_state(struct crypto_sha256_ctx *c)
{
	return (SHA256_CTX *)(void *)c->state.w;
}

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	SHA256_CTX c;

	/* The function cannot report errors: on a NULL buffer with a length (or an OpenSSL
	 * failure, which the low-level SHA-256 never reports), out is all zero, which
	 * matches no real data. The hashed data may be secret: c is wiped. */
	if ((data == NULL && len != 0) || SHA256_Init(&c) != 1 ||
	    (len != 0 && SHA256_Update(&c, data, len) != 1) || SHA256_Final(out, &c) != 1)
		memset(out, 0, CRYPTO_HASH_LEN);
	OPENSSL_cleanse(&c, sizeof(c));
}

int crypto_sha256_init(struct crypto_sha256_ctx *c)
{
	if (c == NULL)
		return CRYPTO_ERR_ARG;
	/* *c is not read: the struct may be uninitialised. md marks it live; it points at
	 * c's own state only because callers reset it with NULL and test it for NULL. */
	c->md = NULL;
	if (SHA256_Init(sha256_state(c)) != 1) {
		OPENSSL_cleanse(&c->state, sizeof(c->state));
		return CRYPTO_ERR_OPENSSL;
	}
	c->md = &c->state;
	return CRYPTO_OK;
}

int crypto_sha256_update(struct crypto_sha256_ctx *c, const void *data, size_t len)
{
	if (c == NULL || c->md == NULL || (data == NULL && len != 0))
		return CRYPTO_ERR_ARG;
	if (len == 0)
		return CRYPTO_OK;
	if (SHA256_Update(sha256_state(c), data, len) != 1)
		return CRYPTO_ERR_OPENSSL;
	return CRYPTO_OK;
}

int crypto_sha256_final(struct crypto_sha256_ctx *c, uint8_t out[CRYPTO_HASH_LEN])
{
	int rc = CRYPTO_OK;

	if (c == NULL || c->md == NULL || out == NULL)
		return CRYPTO_ERR_ARG;
	if (SHA256_Final(out, sha256_state(c)) != 1)
		rc = CRYPTO_ERR_OPENSSL;
	crypto_sha256_free(c);
	return rc;
}

void crypto_sha256_free(struct crypto_sha256_ctx *c)
{
	if (c == NULL)
		return;
	/* The hashed data may be secret (partial blocks wait in the state). */
	OPENSSL_cleanse(&c->state, sizeof(c->state));
	c->md = NULL;
}
