/* hash.c: SHA-256, one-shot and incremental, on EVP_Digest. */
#include "crypto/crypto.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

/* EVP_sha256() makes OpenSSL 3 look the algorithm up on every use; fetch it once.
 * One-shot hashes also reuse a per-thread context instead of allocating one. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static _Thread_local EVP_MD_CTX *sha256_tls;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md != NULL ? sha256_md : EVP_sha256();
}

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	unsigned int outlen = 0;

	/* The function cannot report errors: on a NULL buffer with a length, or if
	 * EVP_Digest fails (allocation only), out is all zero, which matches no real data. */
	if (data == NULL && len != 0)
		goto fail;
	if (sha256_tls == NULL && (sha256_tls = EVP_MD_CTX_new()) == NULL)
		goto fail;
	if (EVP_DigestInit_ex2(sha256_tls, sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(sha256_tls, data != NULL ? data : "", len) != 1 ||
	    EVP_DigestFinal_ex(sha256_tls, out, &outlen) != 1 || outlen != CRYPTO_HASH_LEN)
		goto fail;
	return;
fail:
	memset(out, 0, CRYPTO_HASH_LEN);
}

int crypto_sha256_init(struct crypto_sha256_ctx *c)
{
	EVP_MD_CTX *md;

	if (c == NULL)
		return CRYPTO_ERR_ARG;
	/* c->md is not read: the struct may be uninitialised. final and free release it. */
	c->md = NULL;
	md = EVP_MD_CTX_new();
	if (md == NULL)
		return CRYPTO_ERR_NOMEM;
	if (EVP_DigestInit_ex2(md, sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return CRYPTO_ERR_OPENSSL;
	}
	c->md = md;
	return CRYPTO_OK;
}

int crypto_sha256_update(struct crypto_sha256_ctx *c, const void *data, size_t len)
{
	if (c == NULL || c->md == NULL || (data == NULL && len != 0))
		return CRYPTO_ERR_ARG;
	if (len == 0)
		return CRYPTO_OK;
	if (EVP_DigestUpdate(c->md, data, len) != 1)
		return CRYPTO_ERR_OPENSSL;
	return CRYPTO_OK;
}

int crypto_sha256_final(struct crypto_sha256_ctx *c, uint8_t out[CRYPTO_HASH_LEN])
{
	unsigned int outlen = 0;
	int rc;

	if (c == NULL || c->md == NULL || out == NULL)
		return CRYPTO_ERR_ARG;
	rc = CRYPTO_OK;
	if (EVP_DigestFinal_ex(c->md, out, &outlen) != 1 || outlen != CRYPTO_HASH_LEN)
		rc = CRYPTO_ERR_OPENSSL;
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
	return rc;
}

void crypto_sha256_free(struct crypto_sha256_ctx *c)
{
	if (c == NULL)
		return;
	EVP_MD_CTX_free(c->md);
	c->md = NULL;
}
