/* hmac.c: HMAC-SHA256 (EVP_MAC "HMAC"), keyed once and reused for every tag. */
#include "crypto/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

int crypto_hmac_init(struct crypto_hmac *h, const uint8_t *key, size_t keylen)
{
	OSSL_PARAM params[2];
	EVP_MAC *mac;
	EVP_MAC_CTX *tmpl;
	EVP_MAC_CTX *work;
	int rc;

	if (h == NULL)
		return CRYPTO_ERR_ARG;
	h->mac = NULL;
	h->work = NULL;
	if (key == NULL && keylen != 0)
		return CRYPTO_ERR_ARG;
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac == NULL)
		return CRYPTO_ERR_OPENSSL;
	tmpl = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (tmpl == NULL)
		return CRYPTO_ERR_NOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	/* The key is hashed into the inner and outer pads here, once. */
	if (EVP_MAC_init(tmpl, keylen != 0 ? key : (const uint8_t *)"", keylen, params) != 1) {
		rc = CRYPTO_ERR_OPENSSL;
		goto err_tmpl;
	}
	work = EVP_MAC_CTX_dup(tmpl);
	if (work == NULL) {
		rc = CRYPTO_ERR_NOMEM;
		goto err_tmpl;
	}
	h->mac = tmpl;
	h->work = work;
	return CRYPTO_OK;

err_tmpl:
	EVP_MAC_CTX_free(tmpl);
	return rc;
}

void crypto_hmac_free(struct crypto_hmac *h)
{
	if (h == NULL)
		return;
	EVP_MAC_CTX_free(h->work);
	EVP_MAC_CTX_free(h->mac);
	h->work = NULL;
	h->mac = NULL;
}

/* Full 32-byte HMAC of a || b. The scratch context is re-initialised from its keyed pads
 * (no key hashing); after an OpenSSL failure it is dropped and the next call starts over
 * from a copy of the keyed template. */
static int crypto__hmac_full(struct crypto_hmac *h, const void *a, size_t alen, const void *b,
			     size_t blen, uint8_t full[CRYPTO_HASH_LEN])
{
	size_t outlen = 0;

	if (h->work == NULL) {
		h->work = EVP_MAC_CTX_dup(h->mac);
		if (h->work == NULL)
			return CRYPTO_ERR_NOMEM;
	}
	if (EVP_MAC_init(h->work, NULL, 0, NULL) != 1 ||
	    (alen != 0 && EVP_MAC_update(h->work, a, alen) != 1) ||
	    (blen != 0 && EVP_MAC_update(h->work, b, blen) != 1) ||
	    EVP_MAC_final(h->work, full, &outlen, CRYPTO_HASH_LEN) != 1 ||
	    outlen != CRYPTO_HASH_LEN) {
		EVP_MAC_CTX_free(h->work);
		h->work = NULL;
		return CRYPTO_ERR_OPENSSL;
	}
	return CRYPTO_OK;
}

static int crypto__hmac_args(const struct crypto_hmac *h, const void *a, size_t alen,
			     const void *b, size_t blen, const uint8_t *tag, size_t taglen)
{
	if (h == NULL || h->mac == NULL || tag == NULL || taglen == 0 ||
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
	size_t outlen = 0;

	if ((key == NULL && keylen != 0) || (data == NULL && len != 0) || out == NULL)
		return CRYPTO_ERR_ARG;
	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, keylen != 0 ? key : (const uint8_t *)"",
		      keylen, data != NULL ? data : (const void *)"", len, out, CRYPTO_HASH_LEN,
		      &outlen) == NULL ||
	    outlen != CRYPTO_HASH_LEN)
		return CRYPTO_ERR_OPENSSL;
	return CRYPTO_OK;
}
