/* test_crypto_aead.c: AES-256-GCM spec vectors (test cases 13-16), round trips, tampering;
 * GMAC (a reused keyed context) against GCM with no plaintext. */
#include "tests/unit/unit.h"

#include "crypto/crypto.h"

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

/* McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 13-16. */
static const struct {
	const char *key, *iv, *pt, *aad, *ct, *tag;
} gcm[] = {
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "00000000000000000000000000000000", "",
	  "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

START_TEST(test_gcm_vectors)
{
	uint8_t key[32], iv[12], pt[64], aad[20], want[64 + 16], ct[64 + 16], back[64];
	size_t ptlen = strlen(gcm[_i].pt) / 2;
	size_t aadlen = strlen(gcm[_i].aad) / 2;

	unhex(gcm[_i].key, key);
	unhex(gcm[_i].iv, iv);
	unhex(gcm[_i].pt, pt);
	unhex(gcm[_i].aad, aad);
	unhex(gcm[_i].ct, want);
	unhex(gcm[_i].tag, want + ptlen);
	ck_assert_int_eq(crypto_aead_seal(key, iv, aadlen ? aad : NULL, aadlen, ptlen ? pt : NULL,
					  ptlen, ct), CRYPTO_OK);
	ck_assert_mem_eq(ct, want, ptlen + CRYPTO_AEAD_TAG);
	ck_assert_int_eq(crypto_aead_open(key, iv, aad, aadlen, ct, ptlen + CRYPTO_AEAD_TAG,
					  ptlen ? back : NULL), CRYPTO_OK);
	ck_assert_mem_eq(back, pt, ptlen);
}
END_TEST

START_TEST(test_roundtrip_sizes)
{
	static uint8_t pt[4100];
	static uint8_t ct[4100 + CRYPTO_AEAD_TAG];
	static uint8_t back[4100];
	uint8_t key[CRYPTO_AEAD_KEY];
	uint8_t nonce[CRYPTO_AEAD_NONCE];
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 63, 64, 1000, 4096, 4100 };

	ck_assert_int_eq(crypto_random(key, sizeof(key)), CRYPTO_OK);
	ck_assert_int_eq(crypto_random(nonce, sizeof(nonce)), CRYPTO_OK);
	ck_assert_int_eq(crypto_random(pt, sizeof(pt)), CRYPTO_OK);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		ck_assert_int_eq(crypto_aead_seal(key, nonce, "hdr", 3, pt, n, ct), CRYPTO_OK);
		ck_assert_int_eq(crypto_aead_open(key, nonce, "hdr", 3, ct, n + CRYPTO_AEAD_TAG, back),
				 CRYPTO_OK);
		ck_assert_mem_eq(back, pt, n);
	}
	/* In place, both ways: ct and pt the same buffer. */
	memcpy(ct, pt, 1000);
	ck_assert_int_eq(crypto_aead_seal(key, nonce, NULL, 0, ct, 1000, ct), CRYPTO_OK);
	ck_assert_int_eq(crypto_aead_seal(key, nonce, NULL, 0, pt, 1000, back), CRYPTO_OK);
	ck_assert_mem_eq(ct, back, 1000 + CRYPTO_AEAD_TAG); /* same as out of place */
	ck_assert_int_eq(crypto_aead_open(key, nonce, NULL, 0, ct, 1000 + CRYPTO_AEAD_TAG, ct),
			 CRYPTO_OK);
	ck_assert_mem_eq(ct, pt, 1000);
}
END_TEST

START_TEST(test_tamper)
{
	uint8_t key[CRYPTO_AEAD_KEY];
	uint8_t nonce[CRYPTO_AEAD_NONCE];
	uint8_t aad[13] = "group-7|ep-42";
	uint8_t pt[100];
	uint8_t ct[100 + CRYPTO_AEAD_TAG];
	uint8_t back[100];
	const size_t ctlen = sizeof(ct);

	memset(key, 0x11, sizeof(key));
	memset(nonce, 0x22, sizeof(nonce));
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)i;
	ck_assert_int_eq(crypto_aead_seal(key, nonce, aad, sizeof(aad), pt, sizeof(pt), ct),
			 CRYPTO_OK);
	/* Every byte of ciphertext and tag, one bit each. */
	for (size_t i = 0; i < ctlen; i++) {
		ct[i] ^= (uint8_t)(1u << (i % 8));
		memset(back, 0x77, sizeof(back));
		ck_assert_int_eq(crypto_aead_open(key, nonce, aad, sizeof(aad), ct, ctlen, back),
				 CRYPTO_ERR_AUTH);
		/* No unauthenticated plaintext is released. */
		for (size_t j = 0; j < sizeof(back); j++)
			ck_assert_uint_eq(back[j], 0);
		ct[i] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < sizeof(aad); i++) {
		aad[i] ^= 0x04;
		ck_assert_int_eq(crypto_aead_open(key, nonce, aad, sizeof(aad), ct, ctlen, back),
				 CRYPTO_ERR_AUTH);
		aad[i] ^= 0x04;
	}
	ck_assert_int_eq(crypto_aead_open(key, nonce, aad, sizeof(aad) - 1, ct, ctlen, back),
			 CRYPTO_ERR_AUTH);
	ck_assert_int_eq(crypto_aead_open(key, nonce, NULL, 0, ct, ctlen, back), CRYPTO_ERR_AUTH);
	nonce[11] ^= 1;
	ck_assert_int_eq(crypto_aead_open(key, nonce, aad, sizeof(aad), ct, ctlen, back),
			 CRYPTO_ERR_AUTH);
	nonce[11] ^= 1;
	key[0] ^= 1;
	ck_assert_int_eq(crypto_aead_open(key, nonce, aad, sizeof(aad), ct, ctlen, back),
			 CRYPTO_ERR_AUTH);
	key[0] ^= 1;
	/* Truncation (drop one byte: the tag no longer lines up). */
	ck_assert_int_eq(crypto_aead_open(key, nonce, aad, sizeof(aad), ct, ctlen - 1, back),
			 CRYPTO_ERR_AUTH);
	/* Intact input still opens. */
	ck_assert_int_eq(crypto_aead_open(key, nonce, aad, sizeof(aad), ct, ctlen, back), CRYPTO_OK);
	ck_assert_mem_eq(back, pt, sizeof(pt));
}
END_TEST

START_TEST(test_bad_args)
{
	uint8_t key[CRYPTO_AEAD_KEY] = { 0 };
	uint8_t nonce[CRYPTO_AEAD_NONCE] = { 0 };
	uint8_t buf[64];

	ck_assert_int_eq(crypto_aead_seal(NULL, nonce, NULL, 0, "x", 1, buf), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_aead_seal(key, NULL, NULL, 0, "x", 1, buf), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_aead_seal(key, nonce, NULL, 3, "x", 1, buf), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_aead_seal(key, nonce, NULL, 0, NULL, 1, buf), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_aead_seal(key, nonce, NULL, 0, "x", 1, NULL), CRYPTO_ERR_ARG);
	/* Shorter than a tag: malformed, not merely unauthentic. */
	for (size_t n = 0; n < CRYPTO_AEAD_TAG; n++)
		ck_assert_int_eq(crypto_aead_open(key, nonce, NULL, 0, buf, n, buf), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_aead_open(key, nonce, NULL, 0, NULL, 32, buf), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_aead_open(key, nonce, NULL, 0, buf, 32, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_aead_open(NULL, nonce, NULL, 0, buf, 32, buf), CRYPTO_ERR_ARG);
}
END_TEST

/* GMAC is GCM's tag over additional data with no plaintext: one context, many nonces and
 * sizes, each tag equal to crypto_aead_seal's (checked by the spec vectors above) over a
 * then b, whatever came before on the context. A message in one part up to
 * CRYPTO_GMAC_FAST_MAX bytes takes libsodium's path where the CPU has it, two parts and
 * longer ones OpenSSL's: both are checked on either side of the limit. */
START_TEST(test_gmac_matches_gcm)
{
	static uint8_t msg[70000];
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 100, 1024, 4096 + 3, CRYPTO_GMAC_FAST_MAX,
					CRYPTO_GMAC_FAST_MAX + 1, sizeof(msg) };
	uint8_t key[CRYPTO_GMAC_KEY], nonce[CRYPTO_GMAC_NONCE], tag[CRYPTO_GMAC_TAG];
	uint8_t want[CRYPTO_AEAD_TAG];
	struct crypto_gmac g;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 31 + 7);
	/* Test case 13: zero key, zero nonce, nothing at all. */
	memset(key, 0, sizeof(key));
	memset(nonce, 0, sizeof(nonce));
	ck_assert_int_eq(crypto_gmac_init(&g, key), CRYPTO_OK);
	ck_assert_int_eq(crypto_gmac_tag(&g, nonce, NULL, 0, NULL, 0, tag), CRYPTO_OK);
	unhex("530f8afbc74536b9a963b4f1c4cb738b", want);
	ck_assert_mem_eq(tag, want, CRYPTO_GMAC_TAG);
	crypto_gmac_free(&g);

	unhex(gcm[3].key, key);
	ck_assert_int_eq(crypto_gmac_init(&g, key), CRYPTO_OK);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		for (size_t split = 0; split <= n; split += n / 3 + 1) {
			memset(nonce, 0, sizeof(nonce));
			nonce[0] = (uint8_t)s;
			nonce[8] = (uint8_t)split;
			ck_assert_int_eq(crypto_gmac_tag(&g, nonce, msg, split, msg + split, n - split,
							 tag), CRYPTO_OK);
			ck_assert_int_eq(crypto_aead_seal(key, nonce, msg, n, NULL, 0, want), CRYPTO_OK);
			ck_assert_mem_eq(tag, want, CRYPTO_GMAC_TAG);
			ck_assert_int_eq(crypto_gmac_verify(&g, nonce, msg, n, NULL, 0, want), CRYPTO_OK);
		}
		/* In one part. */
		nonce[8] = 0xff;
		ck_assert_int_eq(crypto_gmac_tag(&g, nonce, msg, n, NULL, 0, tag), CRYPTO_OK);
		ck_assert_int_eq(crypto_aead_seal(key, nonce, msg, n, NULL, 0, want), CRYPTO_OK);
		ck_assert_mem_eq(tag, want, CRYPTO_GMAC_TAG);
	}
	crypto_gmac_free(&g);
	ck_assert_ptr_null(g.ctx);
}
END_TEST

START_TEST(test_gmac_tamper)
{
	uint8_t key[CRYPTO_GMAC_KEY], nonce[CRYPTO_GMAC_NONCE] = { 0 }, tag[CRYPTO_GMAC_TAG];
	uint8_t ab[340], *a = ab, *b = ab + 40;
	struct crypto_gmac g, other;

	memset(key, 0x42, sizeof(key));
	memset(ab, 'a', 40);
	memset(ab + 40, 'b', 300);
	ck_assert_int_eq(crypto_gmac_init(&g, key), CRYPTO_OK);
	ck_assert_int_eq(crypto_gmac_tag(&g, nonce, a, 40, b, 300, tag), CRYPTO_OK);
	a[3] ^= 1; /* the first part */
	ck_assert_int_eq(crypto_gmac_verify(&g, nonce, a, 40, b, 300, tag), CRYPTO_ERR_AUTH);
	a[3] ^= 1;
	b[299] ^= 0x80; /* the second part's last byte */
	ck_assert_int_eq(crypto_gmac_verify(&g, nonce, a, 40, b, 300, tag), CRYPTO_ERR_AUTH);
	b[299] ^= 0x80;
	/* The tag is over a then b: the same bytes in one piece verify, one byte fewer not. */
	ck_assert_int_eq(crypto_gmac_verify(&g, nonce, ab, sizeof(ab), NULL, 0, tag), CRYPTO_OK);
	ck_assert_int_eq(crypto_gmac_verify(&g, nonce, ab, sizeof(ab) - 1, NULL, 0, tag),
			 CRYPTO_ERR_AUTH);
	nonce[11] = 1; /* another frame number */
	ck_assert_int_eq(crypto_gmac_verify(&g, nonce, a, 40, b, 300, tag), CRYPTO_ERR_AUTH);
	nonce[11] = 0;
	tag[15] ^= 1;
	ck_assert_int_eq(crypto_gmac_verify(&g, nonce, a, 40, b, 300, tag), CRYPTO_ERR_AUTH);
	tag[15] ^= 1;
	key[0] ^= 1; /* another key */
	ck_assert_int_eq(crypto_gmac_init(&other, key), CRYPTO_OK);
	ck_assert_int_eq(crypto_gmac_verify(&other, nonce, a, 40, b, 300, tag),
			 CRYPTO_ERR_AUTH);
	crypto_gmac_free(&other);
	/* Failed checks leave the context as it was. */
	ck_assert_int_eq(crypto_gmac_verify(&g, nonce, a, 40, b, 300, tag), CRYPTO_OK);
	crypto_gmac_free(&g);
}
END_TEST

START_TEST(test_gmac_bad_args)
{
	uint8_t key[CRYPTO_GMAC_KEY] = { 0 }, nonce[CRYPTO_GMAC_NONCE] = { 0 };
	uint8_t tag[CRYPTO_GMAC_TAG];
	struct crypto_gmac g = { NULL };

	/* Not keyed: refused, not crashed. */
	ck_assert_int_eq(crypto_gmac_tag(&g, nonce, "x", 1, NULL, 0, tag), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_gmac_init(NULL, key), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_gmac_init(&g, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_gmac_init(&g, key), CRYPTO_OK);
	ck_assert_int_eq(crypto_gmac_tag(NULL, nonce, "x", 1, NULL, 0, tag), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_gmac_tag(&g, NULL, "x", 1, NULL, 0, tag), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_gmac_tag(&g, nonce, NULL, 1, NULL, 0, tag), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_gmac_tag(&g, nonce, "x", 1, NULL, 2, tag), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_gmac_tag(&g, nonce, "x", 1, NULL, 0, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_gmac_verify(&g, nonce, "x", 1, NULL, 0, NULL), CRYPTO_ERR_ARG);
	crypto_gmac_free(&g);
	crypto_gmac_free(&g); /* twice, and NULL: no-ops */
	crypto_gmac_free(NULL);
}
END_TEST

static Suite *crypto_aead_suite(void)
{
	Suite *s = suite_create("crypto_aead");
	TCase *tc = tcase_create("gcm");

	tcase_add_loop_test(tc, test_gcm_vectors, 0, (int)(sizeof(gcm) / sizeof(gcm[0])));
	tcase_add_test(tc, test_roundtrip_sizes);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_gmac_matches_gcm);
	tcase_add_test(tc, test_gmac_tamper);
	tcase_add_test(tc, test_gmac_bad_args);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(crypto_aead_suite)
