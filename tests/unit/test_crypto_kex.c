/* test_crypto_kex.c: X25519 (RFC 7748) and HKDF-SHA256 (RFC 5869) known answers and errors. */
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

/* X25519(scalar, u) through the public API. */
static int x25519(const uint8_t scalar[32], const uint8_t u[32], uint8_t out[32])
{
	struct crypto_x25519_key k;
	int rc;

	ck_assert_int_eq(crypto_x25519_from_private(&k, scalar), CRYPTO_OK);
	rc = crypto_x25519_shared(&k, u, out);
	crypto_x25519_free(&k);
	return rc;
}

START_TEST(test_rfc7748_scalarmult)
{
	/* RFC 7748 section 5.2; the second u has its top bit set, which must be masked. */
	static const char *const v[][3] = {
		{ "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		  "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		  "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
		{ "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		  "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		  "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957" },
	};
	uint8_t s[32];
	uint8_t u[32];
	uint8_t want[32];
	uint8_t out[32];

	for (size_t i = 0; i < 2; i++) {
		unhex(v[i][0], s);
		unhex(v[i][1], u);
		unhex(v[i][2], want);
		ck_assert_int_eq(x25519(s, u, out), CRYPTO_OK);
		ck_assert_mem_eq(out, want, 32);
	}
}
END_TEST

START_TEST(test_rfc7748_iterated)
{
	/* Section 5.2: k = u = 9; repeat k, u = X25519(k, u), k. */
	uint8_t k[32] = { 9 };
	uint8_t u[32] = { 9 };
	uint8_t r[32];
	uint8_t want[32];

	for (int i = 1; i <= 1000; i++) {
		ck_assert_int_eq(x25519(k, u, r), CRYPTO_OK);
		memcpy(u, k, 32);
		memcpy(k, r, 32);
		if (i == 1) {
			unhex("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079", want);
			ck_assert_mem_eq(k, want, 32);
		}
	}
	unhex("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51", want);
	ck_assert_mem_eq(k, want, 32);
}
END_TEST

START_TEST(test_rfc7748_dh)
{
	/* Section 6.1. */
	uint8_t apriv[32];
	uint8_t bpriv[32];
	uint8_t apub[32];
	uint8_t bpub[32];
	uint8_t want[32];
	uint8_t s1[32];
	uint8_t s2[32];
	struct crypto_x25519_key a;
	struct crypto_x25519_key b;

	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", apriv);
	unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", apub);
	unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", bpriv);
	unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", bpub);
	unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", want);
	ck_assert_int_eq(crypto_x25519_from_private(&a, apriv), CRYPTO_OK);
	ck_assert_int_eq(crypto_x25519_from_private(&b, bpriv), CRYPTO_OK);
	ck_assert_mem_eq(a.pub, apub, 32);
	ck_assert_mem_eq(b.pub, bpub, 32);
	ck_assert_int_eq(crypto_x25519_shared(&a, b.pub, s1), CRYPTO_OK);
	ck_assert_int_eq(crypto_x25519_shared(&b, a.pub, s2), CRYPTO_OK);
	ck_assert_mem_eq(s1, want, 32);
	ck_assert_mem_eq(s2, want, 32);
	crypto_x25519_free(&a);
	crypto_x25519_free(&b);
}
END_TEST

START_TEST(test_generate_and_loworder)
{
	struct crypto_x25519_key a;
	struct crypto_x25519_key b;
	uint8_t s1[32];
	uint8_t s2[32];
	uint8_t zero[32] = { 0 };
	uint8_t one[32] = { 1 };
	uint8_t order8[32];

	ck_assert_int_eq(crypto_x25519_generate(&a), CRYPTO_OK);
	ck_assert_int_eq(crypto_x25519_generate(&b), CRYPTO_OK);
	ck_assert_mem_ne(a.pub, b.pub, 32);
	ck_assert_int_eq(crypto_x25519_shared(&a, b.pub, s1), CRYPTO_OK);
	ck_assert_int_eq(crypto_x25519_shared(&b, a.pub, s2), CRYPTO_OK);
	ck_assert_mem_eq(s1, s2, 32);
	/* Small-order peer points give the all-zero secret: 0, 1 and a point of order 8. */
	memset(s1, 0xaa, sizeof(s1));
	ck_assert_int_eq(crypto_x25519_shared(&a, zero, s1), CRYPTO_ERR_LOWORDER);
	ck_assert_mem_eq(s1, zero, 32); /* no partial secret left behind */
	ck_assert_int_eq(crypto_x25519_shared(&a, one, s1), CRYPTO_ERR_LOWORDER);
	unhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", order8);
	ck_assert_int_eq(crypto_x25519_shared(&a, order8, s1), CRYPTO_ERR_LOWORDER);
	ck_assert_int_eq(crypto_x25519_shared(NULL, b.pub, s1), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_x25519_shared(&a, NULL, s1), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_x25519_shared(&a, b.pub, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_x25519_generate(NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_x25519_from_private(&b, NULL), CRYPTO_ERR_ARG);
	crypto_x25519_free(&a);
	crypto_x25519_free(&b);
	crypto_x25519_free(NULL);
}
END_TEST

/* Fills out with bytes from, from+1, ... (RFC 5869's counting test inputs). */
static void counting(uint8_t *out, size_t n, uint8_t from)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(from + i);
}

START_TEST(test_rfc5869)
{
	uint8_t ikm[80];
	uint8_t salt[80];
	uint8_t info[80];
	uint8_t okm[82];
	uint8_t want[82];

	/* Test case 1. */
	memset(ikm, 0x0b, 22);
	counting(salt, 13, 0x00);
	counting(info, 10, 0xf0);
	unhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
	      want);
	ck_assert_int_eq(crypto_hkdf_sha256(salt, 13, ikm, 22, info, 10, okm, 42), CRYPTO_OK);
	ck_assert_mem_eq(okm, want, 42);
	/* Test case 2. */
	counting(ikm, 80, 0x00);
	counting(salt, 80, 0x60);
	counting(info, 80, 0xb0);
	unhex("b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
	      "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
	      "cc30c58179ec3e87c14c01d5c1f3434f1d87", want);
	ck_assert_int_eq(crypto_hkdf_sha256(salt, 80, ikm, 80, info, 80, okm, 82), CRYPTO_OK);
	ck_assert_mem_eq(okm, want, 82);
	/* Test case 3: no salt, no info. */
	memset(ikm, 0x0b, 22);
	unhex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
	      want);
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, ikm, 22, NULL, 0, okm, 42), CRYPTO_OK);
	ck_assert_mem_eq(okm, want, 42);
	/* An explicit all-zero salt of HashLen bytes is the same as no salt. */
	memset(salt, 0, 32);
	ck_assert_int_eq(crypto_hkdf_sha256(salt, 32, ikm, 22, NULL, 0, okm, 42), CRYPTO_OK);
	ck_assert_mem_eq(okm, want, 42);
	/* Shorter output is a prefix of longer output. */
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, ikm, 22, NULL, 0, okm, 7), CRYPTO_OK);
	ck_assert_mem_eq(okm, want, 7);
}
END_TEST

START_TEST(test_hkdf_limits)
{
	static uint8_t big[255 * 32 + 1];
	uint8_t ikm[32] = { 1 };
	uint8_t out[32];

	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, ikm, 32, "i", 1, big, 255 * 32), CRYPTO_OK);
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, ikm, 32, "i", 1, big, 255 * 32 + 1),
			 CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, ikm, 32, "i", 1, out, 0), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, ikm, 32, "i", 1, NULL, 32), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 5, ikm, 32, "i", 1, out, 32), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, NULL, 32, "i", 1, out, 32), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, ikm, 32, NULL, 1, out, 32), CRYPTO_ERR_ARG);
	/* Different info gives unrelated keys. */
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, ikm, 32, "a", 1, out, 32), CRYPTO_OK);
	ck_assert_int_eq(crypto_hkdf_sha256(NULL, 0, ikm, 32, "b", 1, big, 32), CRYPTO_OK);
	ck_assert_mem_ne(out, big, 32);
}
END_TEST

static Suite *crypto_kex_suite(void)
{
	Suite *s = suite_create("crypto_kex");
	TCase *tc = tcase_create("x25519");

	tcase_add_test(tc, test_rfc7748_scalarmult);
	tcase_add_test(tc, test_rfc7748_iterated);
	tcase_add_test(tc, test_rfc7748_dh);
	tcase_add_test(tc, test_generate_and_loworder);
	suite_add_tcase(s, tc);
	tc = tcase_create("hkdf");
	tcase_add_test(tc, test_rfc5869);
	tcase_add_test(tc, test_hkdf_limits);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(crypto_kex_suite)
