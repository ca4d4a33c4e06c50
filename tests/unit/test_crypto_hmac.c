/* test_crypto_hmac.c: HMAC-SHA256 RFC 4231 vectors, reusable contexts, truncation, tampering,
 * and agreement with OpenSSL's own HMAC. */
#include "tests/unit/unit.h"

#include "crypto/crypto.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
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

/* 1 if every byte of *h is zero: the state free (or a failed init) leaves behind. */
static int is_zeroed(const struct crypto_hmac *h)
{
	static const struct crypto_hmac zero;

	return memcmp(h, &zero, sizeof(zero)) == 0;
}

/* HMAC-SHA256 of a || b by OpenSSL's EVP_MAC, independent of crypto/hmac.c. */
static void ref_hmac(const uint8_t *key, size_t keylen, const uint8_t *a, size_t alen,
		     const uint8_t *b, size_t blen, uint8_t out[CRYPTO_HASH_LEN])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx;
	OSSL_PARAM params[2];
	size_t outlen = 0;

	ck_assert_ptr_nonnull(mac);
	ctx = EVP_MAC_CTX_new(mac);
	ck_assert_ptr_nonnull(ctx);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ck_assert_int_eq(EVP_MAC_init(ctx, keylen != 0 ? key : (const uint8_t *)"", keylen, params),
			 1);
	ck_assert_int_eq(EVP_MAC_update(ctx, a, alen), 1);
	ck_assert_int_eq(EVP_MAC_update(ctx, b, blen), 1);
	ck_assert_int_eq(EVP_MAC_final(ctx, out, &outlen, CRYPTO_HASH_LEN), 1);
	ck_assert_uint_eq(outlen, CRYPTO_HASH_LEN);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}

/* Deterministic filler: xorshift64 bytes from seed. */
static void fill(uint8_t *buf, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
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
	ck_assert(is_zeroed(&h));
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
	memset(&h, 0xa5, sizeof(h)); /* init never reads *h, and a failure leaves it zeroed */
	ck_assert_int_eq(crypto_hmac_init(&h, NULL, 1), CRYPTO_ERR_ARG);
	ck_assert(is_zeroed(&h));
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
	ck_assert(is_zeroed(&h));
	/* A freed context refuses to work instead of crashing. */
	ck_assert_int_eq(crypto_hmac_tag(&h, "abc", 3, NULL, 0, tag, 16), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_verify(&h, "abc", 3, NULL, 0, tag, 16), CRYPTO_ERR_ARG);
	crypto_hmac_free(&h);
	crypto_hmac_free(NULL);
	ck_assert_int_eq(crypto_hmac_sha256(NULL, 1, "abc", 3, tag), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_sha256((const uint8_t *)"k", 1, NULL, 3, tag), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hmac_sha256((const uint8_t *)"k", 1, "abc", 3, NULL),
			 CRYPTO_ERR_ARG);
}
END_TEST

/* Key lengths around the 64-byte block (a longer key is hashed first) and data lengths
 * around the 55/56-byte padding edge and past several blocks: one context per key, used
 * for many tags in a row, agrees with OpenSSL's HMAC and with the one-shot. */
START_TEST(test_matches_openssl)
{
	static const size_t keylens[] = { 0, 1, 31, 32, 63, 64, 65, 100, 128, 131, 200 };
	static const size_t datalens[] = { 0, 1, 32, 55, 56, 63, 64, 65, 119, 120, 128, 200, 1000 };
	uint8_t key[200];
	uint8_t data[1000];
	uint8_t want[CRYPTO_HASH_LEN];
	uint8_t got[CRYPTO_HASH_LEN];
	struct crypto_hmac h;

	for (size_t k = 0; k < sizeof(keylens) / sizeof(keylens[0]); k++) {
		fill(key, keylens[k], k);
		ck_assert_int_eq(crypto_hmac_init(&h, keylens[k] != 0 ? key : NULL, keylens[k]),
				 CRYPTO_OK);
		for (size_t round = 0; round < 3; round++) {
			for (size_t d = 0; d < sizeof(datalens) / sizeof(datalens[0]); d++) {
				size_t n = datalens[d];
				fill(data, n, 1000 * round + d);
				ref_hmac(key, keylens[k], data, n, NULL, 0, want);
				ck_assert_int_eq(crypto_hmac_tag(&h, data, n, NULL, 0, got,
								 CRYPTO_HASH_LEN), CRYPTO_OK);
				ck_assert_mem_eq(got, want, CRYPTO_HASH_LEN);
				ck_assert_int_eq(crypto_hmac_verify(&h, data, n, NULL, 0, want,
								    CRYPTO_HASH_LEN), CRYPTO_OK);
				ck_assert_int_eq(crypto_hmac_sha256(keylens[k] != 0 ? key : NULL,
								    keylens[k], data, n, got),
						 CRYPTO_OK);
				ck_assert_mem_eq(got, want, CRYPTO_HASH_LEN);
			}
		}
		crypto_hmac_free(&h);
	}
}
END_TEST

/* Splitting the input into a || b anywhere, across block boundaries, gives the tag of the
 * concatenation. */
START_TEST(test_split_anywhere)
{
	uint8_t key[40];
	uint8_t data[300];
	uint8_t whole[CRYPTO_HASH_LEN];
	uint8_t want[CRYPTO_HASH_LEN];
	uint8_t got[CRYPTO_HASH_LEN];
	struct crypto_hmac h;

	fill(key, sizeof(key), 7);
	fill(data, sizeof(data), 8);
	ck_assert_int_eq(crypto_hmac_init(&h, key, sizeof(key)), CRYPTO_OK);
	for (size_t len = 0; len <= sizeof(data); len += 37) {
		ref_hmac(key, sizeof(key), data, len, NULL, 0, want);
		ck_assert_int_eq(crypto_hmac_tag(&h, data, len, NULL, 0, whole, CRYPTO_HASH_LEN),
				 CRYPTO_OK);
		ck_assert_mem_eq(whole, want, CRYPTO_HASH_LEN);
		for (size_t split = 0; split <= len; split++) {
			ck_assert_int_eq(crypto_hmac_tag(&h, data, split, data + split, len - split,
							 got, CRYPTO_HASH_LEN), CRYPTO_OK);
			ck_assert_mem_eq(got, whole, CRYPTO_HASH_LEN);
		}
	}
	crypto_hmac_free(&h);
}
END_TEST

/* A crypto_hmac is a plain value: a copy tags like the original, and wiping the copy
 * leaves the original keyed (replica/clients.c moves contexts by assignment). */
START_TEST(test_copy_is_independent)
{
	struct vec v;
	struct crypto_hmac h;
	struct crypto_hmac copy;
	uint8_t tag[32];

	rfc4231(2, &v);
	ck_assert_int_eq(crypto_hmac_init(&h, v.key, v.keylen), CRYPTO_OK);
	copy = h;
	ck_assert_int_eq(crypto_hmac_tag(&copy, v.data, v.datalen, NULL, 0, tag, 32), CRYPTO_OK);
	ck_assert_mem_eq(tag, v.mac, 32);
	crypto_hmac_free(&copy);
	ck_assert(is_zeroed(&copy));
	ck_assert_int_eq(crypto_hmac_tag(&copy, v.data, v.datalen, NULL, 0, tag, 32),
			 CRYPTO_ERR_ARG);
	memset(tag, 0, sizeof(tag));
	ck_assert_int_eq(crypto_hmac_tag(&h, v.data, v.datalen, NULL, 0, tag, 32), CRYPTO_OK);
	ck_assert_mem_eq(tag, v.mac, 32);
	/* Re-keying the same struct replaces the key entirely. */
	rfc4231(1, &v);
	ck_assert_int_eq(crypto_hmac_init(&h, v.key, v.keylen), CRYPTO_OK);
	ck_assert_int_eq(crypto_hmac_tag(&h, v.data, v.datalen, NULL, 0, tag, 32), CRYPTO_OK);
	ck_assert_mem_eq(tag, v.mac, 32);
	crypto_hmac_free(&h);
}
END_TEST

#define SHARED_THREADS 4
#define SHARED_ROUNDS 2000

struct shared_arg {
	struct crypto_hmac *h;
	const uint8_t (*want)[CRYPTO_HASH_LEN]; /* want[i]: tag of the 8-byte message i */
	int id;
	int bad; /* tags that did not match, or calls that failed */
};

static void *shared_worker(void *p)
{
	struct shared_arg *arg = p;
	uint8_t msg[8];
	uint8_t tag[CRYPTO_HASH_LEN];

	for (int r = 0; r < SHARED_ROUNDS; r++) {
		int i = (r * 7 + arg->id) % 64;
		memset(msg, i, sizeof(msg));
		if (crypto_hmac_tag(arg->h, msg, sizeof(msg), NULL, 0, tag, sizeof(tag)) !=
			    CRYPTO_OK ||
		    memcmp(tag, arg->want[i], sizeof(tag)) != 0 ||
		    crypto_hmac_verify(arg->h, msg, sizeof(msg), NULL, 0, arg->want[i],
				       CRYPTO_HMAC_DEFAULT_TAG) != CRYPTO_OK)
			arg->bad++;
	}
	return NULL;
}

/* tag and verify only read the context, so threads may share one. */
START_TEST(test_shared_between_threads)
{
	static uint8_t want[64][CRYPTO_HASH_LEN];
	struct shared_arg args[SHARED_THREADS];
	pthread_t tids[SHARED_THREADS];
	struct crypto_hmac h;
	uint8_t key[32];
	uint8_t msg[8];

	fill(key, sizeof(key), 99);
	ck_assert_int_eq(crypto_hmac_init(&h, key, sizeof(key)), CRYPTO_OK);
	for (int i = 0; i < 64; i++) {
		memset(msg, i, sizeof(msg));
		ref_hmac(key, sizeof(key), msg, sizeof(msg), NULL, 0, want[i]);
	}
	for (int t = 0; t < SHARED_THREADS; t++) {
		args[t].h = &h;
		args[t].want = (const uint8_t (*)[CRYPTO_HASH_LEN])want;
		args[t].id = t;
		args[t].bad = 0;
		ck_assert_int_eq(pthread_create(&tids[t], NULL, shared_worker, &args[t]), 0);
	}
	for (int t = 0; t < SHARED_THREADS; t++) {
		ck_assert_int_eq(pthread_join(tids[t], NULL), 0);
		ck_assert_int_eq(args[t].bad, 0);
	}
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
	tcase_add_test(tc, test_matches_openssl);
	tcase_add_test(tc, test_split_anywhere);
	tcase_add_test(tc, test_copy_is_independent);
	tcase_add_test(tc, test_shared_between_threads);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(crypto_hmac_suite)
