/* aead.c: AES-256-GCM with a 96-bit nonce and a 128-bit tag appended to the ciphertext,
 * and GMAC (the same mode over additional data only) with a reusable keyed context. */
#include "crypto/crypto.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdlib.h>

/* GCM encrypts at most 2^32 - 2 blocks under one nonce (NIST SP 800-38D). */
#define CRYPTO__GCM_MAX_PT ((((uint64_t)1 << 32) - 2) * 16)

/* Feeds len bytes to EVP_CipherUpdate in int-sized pieces; out NULL means AAD. */
static int crypto__gcm_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len > 0) {
		int chunk = len > (size_t)(INT_MAX - 16) ? INT_MAX - 16 : (int)len;
		int outl = 0;
		if (EVP_CipherUpdate(ctx, out, &outl, in, chunk) != 1)
			return CRYPTO_ERR_OPENSSL;
		if (out != NULL) {
			if (outl != chunk)
				return CRYPTO_ERR_OPENSSL;
			out += chunk;
		}
		in += chunk;
		len -= (size_t)chunk;
	}
	return CRYPTO_OK;
}

static int crypto__gcm_args(const uint8_t *key, const uint8_t *nonce, const void *aad,
			    size_t aadlen, const void *in, size_t inlen, const void *out)
{
	if (key == NULL || nonce == NULL || (aad == NULL && aadlen != 0) ||
	    (in == NULL && inlen != 0) || (out == NULL && inlen != 0) ||
	    (uint64_t)inlen > CRYPTO__GCM_MAX_PT)
		return CRYPTO_ERR_ARG;
	return CRYPTO_OK;
}

int crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY], const uint8_t nonce[CRYPTO_AEAD_NONCE],
		     const void *aad, size_t aadlen, const void *pt, size_t ptlen, uint8_t *ct)
{
	EVP_CIPHER_CTX *ctx;
	int outl = 0;
	int rc;

	if (ct == NULL)
		return CRYPTO_ERR_ARG;
	rc = crypto__gcm_args(key, nonce, aad, aadlen, pt, ptlen, ct);
	if (rc != CRYPTO_OK)
		return rc;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return CRYPTO_ERR_NOMEM;
	rc = CRYPTO_ERR_OPENSSL;
	if (EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) != 1)
		goto out;
	if (crypto__gcm_update(ctx, NULL, aad, aadlen) != CRYPTO_OK ||
	    crypto__gcm_update(ctx, ct, pt, ptlen) != CRYPTO_OK)
		goto out;
	if (EVP_EncryptFinal_ex(ctx, ct + ptlen, &outl) != 1 || outl != 0)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_AEAD_TAG, ct + ptlen) != 1)
		goto out;
	rc = CRYPTO_OK;
out:
	if (rc != CRYPTO_OK)
		OPENSSL_cleanse(ct, ptlen + CRYPTO_AEAD_TAG);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY], const uint8_t nonce[CRYPTO_AEAD_NONCE],
		     const void *aad, size_t aadlen, const uint8_t *ct, size_t ctlen, uint8_t *pt)
{
	EVP_CIPHER_CTX *ctx;
	uint8_t tag[CRYPTO_AEAD_TAG];
	uint8_t last[CRYPTO_AEAD_TAG]; /* GCM's final step writes nothing; room anyway */
	size_t ptlen;
	int outl = 0;
	int rc;

	if (ct == NULL || ctlen < CRYPTO_AEAD_TAG)
		return CRYPTO_ERR_ARG;
	ptlen = ctlen - CRYPTO_AEAD_TAG;
	rc = crypto__gcm_args(key, nonce, aad, aadlen, ct, ptlen, pt);
	if (rc != CRYPTO_OK)
		return rc;
	/* Copy the tag first: pt may be the same buffer as ct (in-place decryption). */
	for (size_t i = 0; i < CRYPTO_AEAD_TAG; i++)
		tag[i] = ct[ptlen + i];
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return CRYPTO_ERR_NOMEM;
	rc = CRYPTO_ERR_OPENSSL;
	if (EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) != 1)
		goto out;
	if (crypto__gcm_update(ctx, NULL, aad, aadlen) != CRYPTO_OK ||
	    crypto__gcm_update(ctx, pt, ct, ptlen) != CRYPTO_OK)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_AEAD_TAG, tag) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, last, &outl) != 1) {
		ERR_clear_error();
		rc = CRYPTO_ERR_AUTH;
		goto out;
	}
	rc = CRYPTO_OK;
out:
	/* Never hand out plaintext that did not authenticate. */
	if (rc != CRYPTO_OK && pt != NULL)
		OPENSSL_cleanse(pt, ptlen);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* ---------------------------------------------------------------- GMAC */
int crypto_gmac_init(struct crypto_gmac *g, const uint8_t key[CRYPTO_GMAC_KEY])
{
	EVP_CIPHER_CTX *ctx;
	crypto_aead_aes256gcm_state *fast = NULL;

	if (g == NULL || key == NULL)
		return CRYPTO_ERR_ARG;
	g->ctx = g->fast = NULL;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		return CRYPTO_ERR_NOMEM;
	if (EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, NULL, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return CRYPTO_ERR_OPENSSL;
	}
	/* sodium_init is thread-safe and a no-op after the first call. */
	if (sodium_init() >= 0 && crypto_aead_aes256gcm_is_available()) {
		fast = aligned_alloc(16, sizeof(*fast)); /* the state needs 16-byte alignment */
		if (fast == NULL) {
			EVP_CIPHER_CTX_free(ctx);
			return CRYPTO_ERR_NOMEM;
		}
		crypto_aead_aes256gcm_beforenm(fast, key);
	}
	g->ctx = ctx;
	g->fast = fast;
	return CRYPTO_OK;
}

void crypto_gmac_free(struct crypto_gmac *g)
{
	if (g == NULL)
		return;
	EVP_CIPHER_CTX_free(g->ctx); /* cleanses the key schedule */
	if (g->fast != NULL) {
		sodium_memzero(g->fast, sizeof(crypto_aead_aes256gcm_state));
		free(g->fast);
	}
	g->ctx = g->fast = NULL;
}

int crypto_gmac_tag(struct crypto_gmac *g, const uint8_t nonce[CRYPTO_GMAC_NONCE], const void *a,
		    size_t alen, const void *b, size_t blen, uint8_t tag[CRYPTO_GMAC_TAG])
{
	int outl = 0;

	if (g == NULL || g->ctx == NULL || nonce == NULL || tag == NULL ||
	    (a == NULL && alen != 0) || (b == NULL && blen != 0))
		return CRYPTO_ERR_ARG;
	if (g->fast != NULL && blen == 0 && alen <= CRYPTO_GMAC_FAST_MAX) {
		unsigned long long taglen = 0;
		uint8_t none[1] = { 0 }; /* no plaintext, no ciphertext: libsodium wants pointers */
		if (crypto_aead_aes256gcm_encrypt_detached_afternm(none, tag, &taglen, none, 0, a,
								   alen, NULL, nonce, g->fast) != 0 ||
		    taglen != CRYPTO_GMAC_TAG) {
			OPENSSL_cleanse(tag, CRYPTO_GMAC_TAG);
			return CRYPTO_ERR_OPENSSL;
		}
		return CRYPTO_OK;
	}
	if (EVP_EncryptInit_ex2(g->ctx, NULL, NULL, nonce, NULL) != 1 ||
	    crypto__gcm_update(g->ctx, NULL, a, alen) != CRYPTO_OK ||
	    crypto__gcm_update(g->ctx, NULL, b, blen) != CRYPTO_OK ||
	    EVP_EncryptFinal_ex(g->ctx, tag, &outl) != 1 || outl != 0 ||
	    EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_GMAC_TAG, tag) != 1) {
		OPENSSL_cleanse(tag, CRYPTO_GMAC_TAG);
		return CRYPTO_ERR_OPENSSL;
	}
	return CRYPTO_OK;
}

int crypto_gmac_verify(struct crypto_gmac *g, const uint8_t nonce[CRYPTO_GMAC_NONCE],
		       const void *a, size_t alen, const void *b, size_t blen,
		       const uint8_t tag[CRYPTO_GMAC_TAG])
{
	uint8_t want[CRYPTO_GMAC_TAG];
	int rc;

	if (tag == NULL)
		return CRYPTO_ERR_ARG;
	rc = crypto_gmac_tag(g, nonce, a, alen, b, blen, want);
	if (rc == CRYPTO_OK && CRYPTO_memcmp(want, tag, CRYPTO_GMAC_TAG) != 0)
		rc = CRYPTO_ERR_AUTH;
	OPENSSL_cleanse(want, sizeof want);
	return rc;
}
