/* hmac.c: HMAC-SHA256 (RFC 2104) on OpenSSL's low-level SHA-256, keyed once and reused. */

/* SHA256_Init/Update/Final and SHA256_CTX are deprecated in OpenSSL 3 but still built
 * (Debian's libssl 3.0) and still run OpenSSL's assembly block function. The EVP_MAC path
 * costs a provider context copy (EVP_MAC_init, EVP_MD_CTX_copy_ex) per tag, as much as
 * the hashing itself for the short inputs we MAC (a 32-byte tag took twice as long); a
 * SHA256_CTX is a plain struct that copies with memcpy. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/crypto.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

_Static_assert(sizeof(SHA256_CTX) <= sizeof(struct crypto__sha256_state),
	       "struct crypto__sha256_state cannot hold a SHA256_CTX");
_Static_assert(_Alignof(SHA256_CTX) <= _Alignof(struct crypto__sha256_state),
	       "struct crypto__sha256_state is less aligned than SHA256_CTX");

#define HMAC_BLOCK SHA256_CBLOCK /* 64: SHA-256's block, the HMAC pad length */
#define HMAC_IPAD 0x36
#define HMAC_OPAD 0x5c

/* SHA-256 state after absorbing block (HMAC_BLOCK bytes), stored in st. The stored
 * state is only ever read and written with memcpy: OpenSSL sees real SHA256_CTX objects. */
static int crypto__hmac_pad_state(struct crypto__sha256_state *st, const uint8_t *block)
{
	SHA256_CTX c;
	int rc = CRYPTO_OK;

	if (SHA256_Init(&c) != 1 || SHA256_Update(&c, block, HMAC_BLOCK) != 1)
		rc = CRYPTO_ERR_OPENSSL;
	else
		memcpy(st->w, &c, sizeof(c));
	OPENSSL_cleanse(&c, sizeof(c));
	return rc;
}

int crypto_hmac_init(struct crypto_hmac *h, const uint8_t *key, size_t keylen)
{
	uint8_t block[HMAC_BLOCK];
	SHA256_CTX c;
	int rc;

	if (h == NULL)
		return CRYPTO_ERR_ARG;
	/* *h is not read; on failure it is left zeroed, which crypto_hmac_free accepts. */
	memset(h, 0, sizeof(*h));
	if (key == NULL && keylen != 0)
		return CRYPTO_ERR_ARG;
	/* The key padded with zeros to a block; a longer key is replaced by its hash. */
	memset(block, 0, sizeof(block));
	if (keylen > HMAC_BLOCK) {
		rc = CRYPTO_ERR_OPENSSL;
		if (SHA256_Init(&c) != 1 || SHA256_Update(&c, key, keylen) != 1 ||
		    SHA256_Final(block, &c) != 1)
			goto out;
	} else if (keylen != 0) {
		memcpy(block, key, keylen);
	}
	for (size_t i = 0; i < HMAC_BLOCK; i++)
		block[i] ^= HMAC_IPAD;
	rc = crypto__hmac_pad_state(&h->inner, block);
	if (rc != CRYPTO_OK)
		goto out;
	for (size_t i = 0; i < HMAC_BLOCK; i++)
		block[i] ^= HMAC_IPAD ^ HMAC_OPAD;
	rc = crypto__hmac_pad_state(&h->outer, block);
	if (rc != CRYPTO_OK)
		goto out;
	h->keyed = 1;
out:
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(&c, sizeof(c));
	if (rc != CRYPTO_OK)
		OPENSSL_cleanse(h, sizeof(*h)); /* a half-keyed context holds a pad state */
	return rc;
}

void crypto_hmac_free(struct crypto_hmac *h)
{
	if (h == NULL)
		return;
	OPENSSL_cleanse(h, sizeof(*h));
}

/* Full 32-byte HMAC of a || b: SHA-256(opad state, SHA-256(ipad state, a || b)), each
 * state a copy of the keyed one. h is only read. full receives the inner digest first
 * (the outer hash reads it before it writes the tag over it): the callers wipe it. */
static int crypto__hmac_full(const struct crypto_hmac *h, const void *a, size_t alen,
			     const void *b, size_t blen, uint8_t full[CRYPTO_HASH_LEN])
{
	SHA256_CTX c;
	int rc = CRYPTO_ERR_OPENSSL;

	memcpy(&c, h->inner.w, sizeof(c));
	if ((alen != 0 && SHA256_Update(&c, a, alen) != 1) ||
	    (blen != 0 && SHA256_Update(&c, b, blen) != 1) || SHA256_Final(full, &c) != 1)
		goto out;
	memcpy(&c, h->outer.w, sizeof(c));
	if (SHA256_Update(&c, full, CRYPTO_HASH_LEN) != 1 || SHA256_Final(full, &c) != 1)
		goto out;
	rc = CRYPTO_OK;
out:
	OPENSSL_cleanse(&c, sizeof(c)); /* a copy of a keyed state, or what it became */
	return rc;
}

static int crypto__hmac_args(const struct crypto_hmac *h, const void *a, size_t alen,
			     const void *b, size_t blen, const uint8_t *tag, size_t taglen)
{
	if (h == NULL || !h->keyed || tag == NULL || taglen == 0 ||
	    taglen > CRYPTO_HMAC_MAX_TAG || (a == NULL && alen != 0) || (b == NULL && blen != 0))
		return CRYPTO_ERR_ARG;
	return CRYPTO_OK;
}

int crypto_hmac_tag(struct crypto_hmac *h, const void *a, size_t alen, const void *b, size_t blen,
		    uint8_t *tag, size_t taglen)
{
	uint8_t full[CRYPTO_HASH_LEN];
	int rc;

	rc = crypto__hmac_args(h, a, alen, b, blen, tag, taglen);
	if (rc != CRYPTO_OK)
		return rc;
	rc = crypto__hmac_full(h, a, alen, b, blen, full);
	if (rc == CRYPTO_OK)
		memcpy(tag, full, taglen);
	OPENSSL_cleanse(full, sizeof(full));
	return rc;
}

int crypto_hmac_verify(struct crypto_hmac *h, const void *a, size_t alen, const void *b, size_t blen,
		       const uint8_t *tag, size_t taglen)
{
	uint8_t full[CRYPTO_HASH_LEN];
	int rc;

	rc = crypto__hmac_args(h, a, alen, b, blen, tag, taglen);
	if (rc != CRYPTO_OK)
		return rc;
	rc = crypto__hmac_full(h, a, alen, b, blen, full);
	if (rc == CRYPTO_OK && CRYPTO_memcmp(full, tag, taglen) != 0)
		rc = CRYPTO_ERR_AUTH;
	OPENSSL_cleanse(full, sizeof(full));
	return rc;
}

int crypto_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t len,
		       uint8_t out[CRYPTO_HASH_LEN])
{
	struct crypto_hmac h;
	int rc;

	if ((key == NULL && keylen != 0) || (data == NULL && len != 0) || out == NULL)
		return CRYPTO_ERR_ARG;
	rc = crypto_hmac_init(&h, key, keylen);
	if (rc != CRYPTO_OK)
		return rc;
	rc = crypto__hmac_full(&h, data, len, NULL, 0, out);
	crypto_hmac_free(&h);
	if (rc != CRYPTO_OK)
		OPENSSL_cleanse(out, CRYPTO_HASH_LEN); /* may hold the inner digest */
	return rc;
}
