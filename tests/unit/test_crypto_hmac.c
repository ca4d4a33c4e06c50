/* test_crypto_hmac.c: HMAC-SHA256 RFC 4231 vectors, reusable contexts, truncation, tampering. */
#include "tests/unit/unit.h"

#include "crypto/crypto.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

struct vec {
	uint8_t key[131];
	size_t keylen;
	uint8_t data[160];
	size_t datalen;
	uint8_t mac[32];
	size_t maclen;
};

/* RFC 4231 test case n (1..7), HMAC-SHA-256 column. */
static void rfc4231(int n, struct vec *v)
{
	static const char t6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char t7[] = "This is a test using a larger than block-size key and a larger "
				 "than block-size data. The key needs to be hashed before being "
				 "used by the HMAC algorithm.";

	memset(v, 0, sizeof(*v));
	v->maclen = 32;
	switch (n) {
	case 1:
		memset(v->key, 0x0b, v->keylen = 20);
		memcpy(v->data, "Hi There", v->datalen = 8);
		unhex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", v->mac);
		break;
	case 2:
		memcpy(v->key, "Jefe", v->keylen = 4);
		memcpy(v->data, "what do ya want for nothing?", v->datalen = 28);
		unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", v->mac);
		break;
	case 3:
		memset(v->key, 0xaa, v->keylen = 20);
		memset(v->data, 0xdd, v->datalen = 50);
		unhex("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", v->mac);
		break;
	case 4:
		for (size_t i = 0; i < 25; i++)
			v->key[i] = (uint8_t)(i + 1);
		v->keylen = 25;
		memset(v->data, 0xcd, v->datalen = 50);
		unhex("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", v->mac);
		break;
	case 5:
		memset(v->key, 0x0c, v->keylen = 20);
		memcpy(v->data, "Test With Truncation", v->datalen = 20);
		unhex("a3b6167473100ee06e0c796c2955552b", v->mac);
		v->maclen = 16;
		break;
	case 6:
		memset(v->key, 0xaa, v->keylen = 131);
		memcpy(v->data, t6, v->datalen = strlen(t6));
		unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", v->mac);
		break;
	default:
		memset(v->key, 0xaa, v->keylen = 131);
		ck_assert_uint_eq(strlen(t7), 152);
		memcpy(v->data, t7, v->datalen = strlen(t7));
		unhex("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", v->mac);
		break;
	}
}

START_TEST(test_rfc4231_oneshot)
{
	struct vec v;
	uint8_t out[32];

	rfc4231(_i, &v);
	ck_assert_int_eq(crypto_hmac_sha256(v.key, v.keylen, v.data, v.datalen, out), CRYPTO_OK);
	ck_assert_mem_eq(out, v.mac, v.maclen);
}
END_TEST

START_TEST(test_rfc4231_context)
{
	struct vec v;
	struct crypto_hmac h;
	uint8_t tag[32];

	rfc4231(_i, &v);
	ck_assert_int_eq(crypto_hmac_init(&h, v.key, v.keylen), CRYPTO_OK);
	/* The same context, used repeatedly and with every split of the data into a || b. */
	for (size_t split = 0; split <= v.datalen; split++) {
		memset(tag, 0, sizeof(tag));
		ck_assert_int_eq(crypto_hmac_tag(&h, v.data, split, v.data + split, v.datalen - split,
						 tag, v.maclen), CRYPTO_OK);
		ck_assert_mem_eq(tag, v.mac, v.maclen);
		ck_assert_int_eq(crypto_hmac_verify(&h, v.data, split, v.data + split,
						    v.datalen - split, v.mac, v.maclen), CRYPTO_OK);
	}
	ck_assert_int_eq(crypto_hmac_tag(&h, v.data, v.datalen, NULL, 0, tag, v.maclen), CRYPTO_OK);
	ck_assert_mem_eq(tag, v.mac, v.maclen);
	crypto_hmac_free(&h);
	ck_assert_ptr_null(h.mac);
	ck_assert_ptr_null(h.work);
}
END_TEST

START_TEST(test_truncation)
{
	struct vec v;
	struct crypto_hmac h;
	uint8_t tag[32];

	rfc4231(1, &v);
	ck_assert_int_eq(crypto_hmac_init(&h, v.key, v.keylen), CRYPTO_OK);
	for (size_t len = 1; len <= CRYPTO_HMAC_MAX_TAG; len++) {
		memset(tag, 0xee, sizeof(tag));
		ck_assert_int_eq(crypto_hmac_tag(&h, v.data, v.datalen, NULL, 0, tag, len), CRYPTO_OK);
		ck_assert_mem_eq(tag, v.mac, len);
		/* Nothing written past taglen. */
		for (size_t i = len; i < sizeof(tag); i++)
			ck_assert_uint_eq(tag[i], 0xee);
		ck_assert_int_eq(crypto_hmac_verify(&h, v.data, v.datalen, NULL, 0, v.mac, len),
				 CRYPTO_OK);
	}
	ck_assert_int_eq(crypto_hmac_tag(&h, v.data, v.datalen, NULL, 0, tag, 0), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_tag(&h, v.data, v.datalen, NULL, 0, tag, 33), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_verify(&h, v.data, v.datalen, NULL, 0, v.mac, 0),
			 CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_verify(&h, v.data, v.datalen, NULL, 0, v.mac, 33),
			 CRYPTO_ERR_ARG);
	crypto_hmac_free(&h);
}
END_TEST

START_TEST(test_tamper)
{
	struct crypto_hmac h;
	struct crypto_hmac other;
	uint8_t key[32];
	uint8_t hdr[24];
	uint8_t body[200];
	uint8_t tag[CRYPTO_HMAC_DEFAULT_TAG];

	memset(key, 0x42, sizeof(key));
	for (size_t i = 0; i < sizeof(hdr); i++)
		hdr[i] = (uint8_t)(i * 3);
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i ^ 0x5a);
	ck_assert_int_eq(crypto_hmac_init(&h, key, sizeof(key)), CRYPTO_OK);
	key[0] ^= 1;
	ck_assert_int_eq(crypto_hmac_init(&other, key, sizeof(key)), CRYPTO_OK);
	ck_assert_int_eq(crypto_hmac_tag(&h, hdr, sizeof(hdr), body, sizeof(body), tag, sizeof(tag)),
			 CRYPTO_OK);
	for (size_t i = 0; i < sizeof(tag) * 8; i++) {
		tag[i / 8] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_eq(crypto_hmac_verify(&h, hdr, sizeof(hdr), body, sizeof(body), tag,
						    sizeof(tag)), CRYPTO_ERR_AUTH);
		tag[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < sizeof(hdr); i++) {
		hdr[i] ^= 0x10;
		ck_assert_int_eq(crypto_hmac_verify(&h, hdr, sizeof(hdr), body, sizeof(body), tag,
						    sizeof(tag)), CRYPTO_ERR_AUTH);
		hdr[i] ^= 0x10;
	}
	for (size_t i = 0; i < sizeof(body); i += 13) {
		body[i] ^= 0x01;
		ck_assert_int_eq(crypto_hmac_verify(&h, hdr, sizeof(hdr), body, sizeof(body), tag,
						    sizeof(tag)), CRYPTO_ERR_AUTH);
		body[i] ^= 0x01;
	}
	ck_assert_int_eq(crypto_hmac_verify(&h, hdr, sizeof(hdr), body, sizeof(body) - 1, tag,
					    sizeof(tag)), CRYPTO_ERR_AUTH);
	ck_assert_int_eq(crypto_hmac_verify(&other, hdr, sizeof(hdr), body, sizeof(body), tag,
					    sizeof(tag)), CRYPTO_ERR_AUTH);
	/* A failed verification leaves the context usable. */
	ck_assert_int_eq(crypto_hmac_verify(&h, hdr, sizeof(hdr), body, sizeof(body), tag,
					    sizeof(tag)), CRYPTO_OK);
	crypto_hmac_free(&h);
	crypto_hmac_free(&other);
}
END_TEST

START_TEST(test_bad_args)
{
	struct crypto_hmac h;
	uint8_t tag[32];

	ck_assert_int_eq(crypto_hmac_init(NULL, (const uint8_t *)"k", 1), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_init(&h, NULL, 1), CRYPTO_ERR_ARG);
	ck_assert_ptr_null(h.mac);
	/* An empty key is legal HMAC; compare with the one-shot. */
	ck_assert_int_eq(crypto_hmac_init(&h, NULL, 0), CRYPTO_OK);
	ck_assert_int_eq(crypto_hmac_tag(&h, "abc", 3, NULL, 0, tag, 32), CRYPTO_OK);
	{
		uint8_t ref[32];
		ck_assert_int_eq(crypto_hmac_sha256(NULL, 0, "abc", 3, ref), CRYPTO_OK);
		ck_assert_mem_eq(tag, ref, 32);
	}
	ck_assert_int_eq(crypto_hmac_tag(&h, NULL, 3, NULL, 0, tag, 16), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_tag(&h, "abc", 3, NULL, 1, tag, 16), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_tag(&h, "abc", 3, NULL, 0, NULL, 16), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_tag(NULL, "abc", 3, NULL, 0, tag, 16), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_verify(&h, "abc", 3, NULL, 0, NULL, 16), CRYPTO_ERR_ARG);
	crypto_hmac_free(&h);
	/* A freed context refuses to work instead of crashing. */
	ck_assert_int_eq(crypto_hmac_tag(&h, "abc", 3, NULL, 0, tag, 16), CRYPTO_ERR_ARG);
	crypto_hmac_free(&h);
	crypto_hmac_free(NULL);
	ck_assert_int_eq(crypto_hmac_sha256(NULL, 1, "abc", 3, tag), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_sha256((const uint8_t *)"k", 1, NULL, 3, tag), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_sha256((const uint8_t *)"k", 1, "abc", 3, NULL),
			 CRYPTO_ERR_ARG);
}
END_TEST

START_TEST(test_scratch_rebuilt)
{
	struct vec v;
	struct crypto_hmac h;
	uint8_t tag[32];

	rfc4231(2, &v);
	ck_assert_int_eq(crypto_hmac_init(&h, v.key, v.keylen), CRYPTO_OK);
	/* The state an OpenSSL failure leaves behind: no scratch context. The next tag
	 * rebuilds it from the keyed template. */
	EVP_MAC_CTX_free(h.work);
	h.work = NULL;
	ck_assert_int_eq(crypto_hmac_tag(&h, v.data, v.datalen, NULL, 0, tag, 32), CRYPTO_OK);
	ck_assert_mem_eq(tag, v.mac, 32);
	ck_assert_ptr_nonnull(h.work);
	EVP_MAC_CTX_free(h.work);
	h.work = NULL;
	ck_assert_int_eq(crypto_hmac_verify(&h, v.data, v.datalen, NULL, 0, v.mac, 32), CRYPTO_OK);
	crypto_hmac_free(&h);
}
END_TEST

static Suite *crypto_hmac_suite(void)
{
	Suite *s = suite_create("crypto_hmac");
	TCase *tc = tcase_create("rfc4231");

	tcase_add_loop_test(tc, test_rfc4231_oneshot, 1, 8);
	tcase_add_loop_test(tc, test_rfc4231_context, 1, 8);
	suite_add_tcase(s, tc);
	tc = tcase_create("context");
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_scratch_rebuilt);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(crypto_hmac_suite)
