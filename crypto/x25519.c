/* x25519.c: X25519 key agreement (EVP_PKEY "X25519") and HKDF-SHA256 (EVP_KDF "HKDF"). */
#include "crypto/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/proverr.h>
#include <string.h>

static int crypto__x25519_adopt(struct crypto_x25519_key *k, EVP_PKEY *pkey)
{
	size_t publen = CRYPTO_X25519_LEN;

	if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) != 1 || publen != CRYPTO_X25519_LEN) {
		EVP_PKEY_free(pkey);
		memset(k, 0, sizeof(*k));
		return CRYPTO_ERR_OPENSSL;
	}
	k->pkey = pkey;
	return CRYPTO_OK;
}

int crypto_x25519_generate(struct crypto_x25519_key *k)
{
	EVP_PKEY *pkey;

	if (k == NULL)
		return CRYPTO_ERR_ARG;
	memset(k, 0, sizeof(*k));
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	if (pkey == NULL)
		return CRYPTO_ERR_OPENSSL;
	return crypto__x25519_adopt(k, pkey);
}

int crypto_x25519_from_private(struct crypto_x25519_key *k, const uint8_t priv[CRYPTO_X25519_LEN])
{
	EVP_PKEY *pkey;

	if (k == NULL || priv == NULL)
		return CRYPTO_ERR_ARG;
	memset(k, 0, sizeof(*k));
	pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "X25519", NULL, priv, CRYPTO_X25519_LEN);
	if (pkey == NULL)
		return CRYPTO_ERR_OPENSSL;
	return crypto__x25519_adopt(k, pkey);
}

void crypto_x25519_free(struct crypto_x25519_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	memset(k, 0, sizeof(*k));
}

int crypto_x25519_shared(const struct crypto_x25519_key *mine, const uint8_t peer[CRYPTO_X25519_LEN],
			 uint8_t out[CRYPTO_X25519_LEN])
{
	EVP_PKEY *peerkey;
	EVP_PKEY_CTX *ctx;
	size_t outlen = CRYPTO_X25519_LEN;
	unsigned long e;
	uint8_t acc = 0;
	int rc = CRYPTO_OK;

	if (mine == NULL || mine->pkey == NULL || peer == NULL || out == NULL)
		return CRYPTO_ERR_ARG;
	peerkey = EVP_PKEY_new_raw_public_key_ex(NULL, "X25519", NULL, peer, CRYPTO_X25519_LEN);
	if (peerkey == NULL)
		return CRYPTO_ERR_OPENSSL;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine->pkey, NULL);
	if (ctx == NULL) {
		rc = CRYPTO_ERR_NOMEM;
		goto out_peer;
	}
	if (EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peerkey) != 1) {
		rc = CRYPTO_ERR_OPENSSL;
		goto out_ctx;
	}
	if (EVP_PKEY_derive(ctx, out, &outlen) != 1) {
		/* OpenSSL refuses an all-zero X25519 result (RFC 7748 section 6.1). */
		e = ERR_peek_last_error();
		if (ERR_GET_LIB(e) == ERR_LIB_PROV &&
		    ERR_GET_REASON(e) == PROV_R_FAILED_DURING_DERIVATION)
			rc = CRYPTO_ERR_LOWORDER;
		else
			rc = CRYPTO_ERR_OPENSSL;
		ERR_clear_error();
		OPENSSL_cleanse(out, CRYPTO_X25519_LEN);
		goto out_ctx;
	}
	if (outlen != CRYPTO_X25519_LEN) {
		rc = CRYPTO_ERR_OPENSSL;
		OPENSSL_cleanse(out, CRYPTO_X25519_LEN);
		goto out_ctx;
	}
	/* Check for the all-zero result ourselves too, without branching on secret bytes. */
	for (size_t i = 0; i < CRYPTO_X25519_LEN; i++)
		acc |= out[i];
	if (acc == 0)
		rc = CRYPTO_ERR_LOWORDER;
out_ctx:
	EVP_PKEY_CTX_free(ctx);
out_peer:
	EVP_PKEY_free(peerkey);
	return rc;
}

int crypto_hkdf_sha256(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
		       const void *info, size_t infolen, uint8_t *out, size_t outlen)
{
	OSSL_PARAM params[5];
	OSSL_PARAM *p = params;
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	int rc = CRYPTO_OK;

	if ((salt == NULL && saltlen != 0) || (ikm == NULL && ikmlen != 0) ||
	    (info == NULL && infolen != 0) || out == NULL || outlen == 0 ||
	    outlen > 255u * CRYPTO_HASH_LEN)
		return CRYPTO_ERR_ARG;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	/* An empty IKM is legal in RFC 5869; OpenSSL wants a non-NULL key pointer. */
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 ikmlen != 0 ? (void *)ikm : (void *)"", ikmlen);
	/* No salt is the same as HashLen zero bytes (RFC 5869 section 2.2). */
	if (saltlen != 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	if (infolen != 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
	*p = OSSL_PARAM_construct_end();

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf == NULL)
		return CRYPTO_ERR_OPENSSL;
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (ctx == NULL)
		return CRYPTO_ERR_NOMEM;
	if (EVP_KDF_derive(ctx, out, outlen, params) != 1) {
		OPENSSL_cleanse(out, outlen);
		rc = CRYPTO_ERR_OPENSSL;
	}
	EVP_KDF_CTX_free(ctx);
	return rc;
}
