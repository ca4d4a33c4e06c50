/* test_crypto_shamir.c: Shamir sharing over GF(2^8): field checks, every k-subset, secrecy, errors. */
#include "tests/unit/unit.h"

#include "crypto/crypto.h"

#include <string.h>

#define LEN 32

START_TEST(test_field_known_answers)
{
	/* With k = 2 and secret 0, share x is c * x for the coefficient c: the products
	 * of FIPS-197 section 4.2 ({57} * {83} = {c1}) and 4.4 ({53} * {ca} = {01}). */
	uint8_t secret = 0;
	uint8_t rnd = 0x57;
	uint8_t shares[255];

	ck_assert_int_eq(crypto_shamir_split(&secret, 1, 2, 255, shares, &rnd), CRYPTO_OK);
	ck_assert_uint_eq(shares[0x83 - 1], 0xc1);
	ck_assert_uint_eq(shares[0], 0x57); /* x = 1 */
	rnd = 0x53;
	ck_assert_int_eq(crypto_shamir_split(&secret, 1, 2, 255, shares, &rnd), CRYPTO_OK);
	ck_assert_uint_eq(shares[0xca - 1], 0x01);
	/* k = 3 at x = 1: s + c1 + c2 (addition is xor). */
	{
		uint8_t s = 0xa5;
		uint8_t c[2] = { 0x3c, 0x0f };
		uint8_t sh[3];
		ck_assert_int_eq(crypto_shamir_split(&s, 1, 3, 3, sh, c), CRYPTO_OK);
		ck_assert_uint_eq(sh[0], 0xa5 ^ 0x3c ^ 0x0f);
		/* x = 2: s + 2*c1 + 4*c2 = a5 ^ 78 ^ 3c. */
		ck_assert_uint_eq(sh[1], 0xa5 ^ 0x78 ^ 0x3c);
	}
	/* k = 1: every share is the secret. */
	{
		uint8_t s[3] = { 1, 2, 3 };
		uint8_t sh[9];
		ck_assert_int_eq(crypto_shamir_split(s, 3, 1, 3, sh, NULL), CRYPTO_OK);
		for (int i = 0; i < 3; i++)
			ck_assert_mem_eq(sh + 3 * i, s, 3);
	}
}
END_TEST

/* Combines the shares whose bits are set in mask (taken in index order, or reversed). */
static int combine_mask(const uint8_t *shares, unsigned n, unsigned mask, unsigned k, int reverse,
			uint8_t *out)
{
	uint8_t xs[255];
	const uint8_t *ys[255];
	unsigned count = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned idx = reverse ? n - 1 - i : i;
		if ((mask & (1u << idx)) == 0)
			continue;
		xs[count] = (uint8_t)(idx + 1);
		ys[count] = shares + (size_t)idx * LEN;
		count++;
	}
	return crypto_shamir_combine(xs, ys, count, k, LEN, out);
}

START_TEST(test_every_subset)
{
	uint8_t secret[LEN];
	uint8_t shares[7 * LEN];
	uint8_t out[LEN];
	unsigned recovered = 0;

	ck_assert_int_eq(crypto_random(secret, sizeof(secret)), CRYPTO_OK);
	for (unsigned n = 1; n <= 7; n++) {
		for (unsigned k = 1; k <= n; k++) {
			ck_assert_int_eq(crypto_shamir_split(secret, LEN, k, n, shares, NULL), CRYPTO_OK);
			for (unsigned mask = 1; mask < (1u << n); mask++) {
				unsigned cnt = (unsigned)__builtin_popcount(mask);
				if (cnt < k) {
					ck_assert_int_eq(combine_mask(shares, n, mask, k, 0, out),
							 CRYPTO_ERR_SHARES);
					continue;
				}
				for (int rev = 0; rev <= 1; rev++) {
					memset(out, 0, sizeof(out));
					ck_assert_int_eq(combine_mask(shares, n, mask, k, rev, out),
							 CRYPTO_OK);
					ck_assert_mem_eq(out, secret, LEN);
					recovered++;
				}
			}
		}
	}
	/* Twice (both orders) the sum over n <= 7, k <= n of the subsets of size >= k. */
	ck_assert_uint_eq(recovered, 2 * 769);
}
END_TEST

START_TEST(test_too_few_shares_reveal_nothing)
{
	uint8_t secret[LEN];
	uint8_t shares[6 * LEN];
	uint8_t out[LEN];

	ck_assert_int_eq(crypto_random(secret, sizeof(secret)), CRYPTO_OK);
	/* Interpolating k-1 shares as if the threshold were k-1 gives a wrong secret
	 * (a 32-byte coincidence has probability 2^-256). */
	for (unsigned k = 2; k <= 6; k++) {
		ck_assert_int_eq(crypto_shamir_split(secret, LEN, k, 6, shares, NULL), CRYPTO_OK);
		for (unsigned mask = 1; mask < (1u << 6); mask++) {
			if ((unsigned)__builtin_popcount(mask) != k - 1)
				continue;
			ck_assert_int_eq(combine_mask(shares, 6, mask, k - 1, 0, out), CRYPTO_OK);
			ck_assert_mem_ne(out, secret, LEN);
			ck_assert_int_eq(combine_mask(shares, 6, mask, k, 0, out), CRYPTO_ERR_SHARES);
		}
	}
}
END_TEST

START_TEST(test_perfect_secrecy)
{
	/* k = 2: over all 256 coefficients, the share at any x takes every value exactly
	 * once, whatever the secret: one share says nothing about the secret. */
	for (unsigned x = 1; x <= 255; x += 37) {
		for (unsigned s = 0; s < 256; s += 51) {
			unsigned seen[256] = { 0 };
			uint8_t sb = (uint8_t)s;
			uint8_t sh[255];
			for (unsigned c = 0; c < 256; c++) {
				uint8_t cb = (uint8_t)c;
				ck_assert_int_eq(crypto_shamir_split(&sb, 1, 2, 255, sh, &cb), CRYPTO_OK);
				seen[sh[x - 1]]++;
			}
			for (unsigned v = 0; v < 256; v++)
				ck_assert_uint_eq(seen[v], 1);
		}
	}
	/* k = 3: two shares (x = 3, 200) take every pair of values exactly once over the
	 * 65536 coefficient pairs, for a fixed secret. */
	{
		static uint8_t seen[65536];
		uint8_t s = 0x9e;
		uint8_t sh[200];
		memset(seen, 0, sizeof(seen));
		for (unsigned c = 0; c < 65536; c++) {
			uint8_t cb[2] = { (uint8_t)c, (uint8_t)(c >> 8) };
			ck_assert_int_eq(crypto_shamir_split(&s, 1, 3, 200, sh, cb), CRYPTO_OK);
			seen[(unsigned)sh[2] << 8 | sh[199]]++;
		}
		for (unsigned v = 0; v < 65536; v++)
			ck_assert_uint_eq(seen[v], 1);
	}
}
END_TEST

START_TEST(test_max_shares)
{
	uint8_t secret[LEN];
	static uint8_t shares[255 * LEN];
	uint8_t xs[255];
	const uint8_t *ys[255];
	uint8_t out[LEN];

	ck_assert_int_eq(crypto_random(secret, sizeof(secret)), CRYPTO_OK);
	ck_assert_int_eq(crypto_shamir_split(secret, LEN, 255, 255, shares, NULL), CRYPTO_OK);
	for (unsigned i = 0; i < 255; i++) {
		xs[i] = (uint8_t)(255 - i);
		ys[i] = shares + (size_t)(254 - i) * LEN;
	}
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 255, 255, LEN, out), CRYPTO_OK);
	ck_assert_mem_eq(out, secret, LEN);
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 254, 255, LEN, out), CRYPTO_ERR_SHARES);
}
END_TEST

START_TEST(test_errors)
{
	uint8_t secret[LEN] = { 7 };
	uint8_t shares[5 * LEN];
	uint8_t out[LEN];
	uint8_t xs[5] = { 1, 2, 3, 4, 5 };
	const uint8_t *ys[5];

	ck_assert_int_eq(crypto_shamir_split(secret, LEN, 3, 5, shares, NULL), CRYPTO_OK);
	for (int i = 0; i < 5; i++)
		ys[i] = shares + i * LEN;
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 3, LEN, out), CRYPTO_OK);
	ck_assert_mem_eq(out, secret, LEN);
	/* Too few. */
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 2, 3, LEN, out), CRYPTO_ERR_SHARES);
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 0, 3, LEN, out), CRYPTO_ERR_SHARES);
	/* x = 0, in the first k or after them. */
	xs[1] = 0;
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 3, LEN, out), CRYPTO_ERR_SHARES);
	xs[1] = 2;
	xs[4] = 0;
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 3, LEN, out), CRYPTO_ERR_SHARES);
	xs[4] = 5;
	/* Duplicate x, in the first k or after them. */
	xs[2] = 1;
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 3, LEN, out), CRYPTO_ERR_SHARES);
	xs[2] = 3;
	xs[4] = 2;
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 3, LEN, out), CRYPTO_ERR_SHARES);
	xs[4] = 5;
	/* A wrong share gives a wrong secret, not an error (shares carry no MAC). */
	shares[LEN] ^= 1;
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 3, 3, LEN, out), CRYPTO_OK);
	ck_assert_mem_ne(out, secret, LEN);
	shares[LEN] ^= 1;
	/* Argument errors. */
	ck_assert_int_eq(crypto_shamir_split(secret, LEN, 0, 5, shares, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_split(secret, LEN, 6, 5, shares, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_split(secret, LEN, 3, 256, shares, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_split(secret, 0, 3, 5, shares, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_split(NULL, LEN, 3, 5, shares, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_split(secret, LEN, 3, 5, NULL, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_combine(NULL, ys, 5, 3, LEN, out), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_combine(xs, NULL, 5, 3, LEN, out), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 3, LEN, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 0, LEN, out), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 3, 0, out), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 256, LEN, out), CRYPTO_ERR_ARG);
	ys[3] = NULL;
	ck_assert_int_eq(crypto_shamir_combine(xs, ys, 5, 3, LEN, out), CRYPTO_ERR_ARG);
}
END_TEST

static Suite *crypto_shamir_suite(void)
{
	Suite *s = suite_create("crypto_shamir");
	TCase *tc = tcase_create("shamir");

	tcase_add_test(tc, test_field_known_answers);
	tcase_add_test(tc, test_every_subset);
	tcase_add_test(tc, test_too_few_shares_reveal_nothing);
	tcase_add_test(tc, test_perfect_secrecy);
	tcase_add_test(tc, test_max_shares);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(crypto_shamir_suite)
