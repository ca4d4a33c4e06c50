/* test_crypto_hash.c: SHA-256 known answers and streaming, error strings, memeq, random. */
#include "tests/unit/unit.h"

#include "crypto/crypto.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

/* Decodes a hex string into out (exactly strlen(hex) / 2 bytes). */
static void unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void check_digest(const uint8_t got[CRYPTO_HASH_LEN], const char *hex)
{
	uint8_t want[CRYPTO_HASH_LEN];

	ck_assert_uint_eq(strlen(hex), 2 * CRYPTO_HASH_LEN);
	unhex(hex, want);
	ck_assert_mem_eq(got, want, CRYPTO_HASH_LEN);
}

/* SHA-256 by OpenSSL's EVP_Digest, independent of crypto/hash.c. */
static void ref_sha256(const uint8_t *data, size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
	unsigned int outlen = 0;

	ck_assert_int_eq(EVP_Digest(len != 0 ? data : (const uint8_t *)"", len, out, &outlen,
				    EVP_sha256(), NULL), 1);
	ck_assert_uint_eq(outlen, CRYPTO_HASH_LEN);
}

/* Deterministic xorshift64 sequence. */
static uint64_t next_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

START_TEST(test_sha256_kat)
{
	uint8_t d[CRYPTO_HASH_LEN];
	static const char two_block[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	crypto_sha256("abc", 3, d);
	check_digest(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	crypto_sha256("", 0, d);
	check_digest(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	crypto_sha256(NULL, 0, d);
	check_digest(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* NULL with a length cannot be hashed: the digest is all zero. */
	crypto_sha256(NULL, 4, d);
	check_digest(d, "0000000000000000000000000000000000000000000000000000000000000000");
	/* FIPS 180-2 appendix B.2 (two-block message). */
	crypto_sha256(two_block, strlen(two_block), d);
	check_digest(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(test_sha256_million_a)
{
	/* FIPS 180-2 appendix B.3: one million 'a', fed in uneven pieces. */
	struct crypto_sha256_ctx c;
	uint8_t d[CRYPTO_HASH_LEN];
	static uint8_t buf[1000];
	size_t done = 0;
	size_t step = 1;

	memset(buf, 'a', sizeof(buf));
	ck_assert_int_eq(crypto_sha256_init(&c), CRYPTO_OK);
	while (done < 1000000) {
		size_t n = step;
		if (n > 1000000 - done)
			n = 1000000 - done;
		ck_assert_int_eq(crypto_sha256_update(&c, buf, n), CRYPTO_OK);
		done += n;
		step = step % 997 + 1;
	}
	ck_assert_int_eq(crypto_sha256_final(&c, d), CRYPTO_OK);
	check_digest(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	crypto_sha256_free(&c); /* no-op after final */
}
END_TEST

START_TEST(test_sha256_stream_matches_oneshot)
{
	uint8_t data[3000];
	uint8_t a[CRYPTO_HASH_LEN];
	uint8_t b[CRYPTO_HASH_LEN];
	struct crypto_sha256_ctx c;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (size_t split = 0; split <= sizeof(data); split += 61) {
		crypto_sha256(data, sizeof(data), a);
		ck_assert_int_eq(crypto_sha256_init(&c), CRYPTO_OK);
		ck_assert_int_eq(crypto_sha256_update(&c, data, split), CRYPTO_OK);
		ck_assert_int_eq(crypto_sha256_update(&c, NULL, 0), CRYPTO_OK);
		ck_assert_int_eq(crypto_sha256_update(&c, data + split, sizeof(data) - split),
				 CRYPTO_OK);
		ck_assert_int_eq(crypto_sha256_final(&c, b), CRYPTO_OK);
		ck_assert_mem_eq(a, b, CRYPTO_HASH_LEN);
	}
}
END_TEST

/* One-shot and incremental hashes of every length around the block and padding edges,
 * the incremental one cut at pseudo-random points into pieces of 0 to 150 bytes, agree
 * with OpenSSL's EVP digest. The same context struct is re-initialised each time. */
START_TEST(test_sha256_random_splits)
{
	static uint8_t data[1200];
	uint8_t want[CRYPTO_HASH_LEN];
	uint8_t got[CRYPTO_HASH_LEN];
	struct crypto_sha256_ctx c;
	uint64_t x = 0x243f6a8885a308d3u;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)next_rand(&x);
	for (size_t len = 0; len <= sizeof(data); len += (len < 200 ? 1 : 97)) {
		ref_sha256(data, len, want);
		crypto_sha256(data, len, got);
		ck_assert_mem_eq(got, want, CRYPTO_HASH_LEN);
		for (int round = 0; round < 4; round++) {
			size_t done = 0;
			ck_assert_int_eq(crypto_sha256_init(&c), CRYPTO_OK);
			while (done < len) {
				size_t n = (size_t)(next_rand(&x) % 151);
				if (n > len - done)
					n = len - done;
				ck_assert_int_eq(crypto_sha256_update(&c, data + done, n), CRYPTO_OK);
				done += n;
			}
			ck_assert_int_eq(crypto_sha256_final(&c, got), CRYPTO_OK);
			ck_assert_mem_eq(got, want, CRYPTO_HASH_LEN);
			ck_assert_ptr_null(c.md);
		}
	}
}
END_TEST

/* A context is a plain value: copying a live one forks the hash, and each copy finishes
 * independently of the other. */
START_TEST(test_sha256_copy_forks)
{
	uint8_t data[300];
	uint8_t want[CRYPTO_HASH_LEN];
	uint8_t got[CRYPTO_HASH_LEN];
	struct crypto_sha256_ctx c;
	struct crypto_sha256_ctx fork;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	ck_assert_int_eq(crypto_sha256_init(&c), CRYPTO_OK);
	ck_assert_int_eq(crypto_sha256_update(&c, data, 100), CRYPTO_OK);
	fork = c;
	ck_assert_int_eq(crypto_sha256_update(&fork, data + 100, 200), CRYPTO_OK);
	ck_assert_int_eq(crypto_sha256_final(&fork, got), CRYPTO_OK);
	ref_sha256(data, 300, want);
	ck_assert_mem_eq(got, want, CRYPTO_HASH_LEN);
	ck_assert_int_eq(crypto_sha256_update(&c, data + 100, 50), CRYPTO_OK);
	ck_assert_int_eq(crypto_sha256_final(&c, got), CRYPTO_OK);
	ref_sha256(data, 150, want);
	ck_assert_mem_eq(got, want, CRYPTO_HASH_LEN);
}
END_TEST

/* free on an unfinished context wipes what it had absorbed. */
START_TEST(test_sha256_free_wipes)
{
	static const struct crypto_sha256_ctx zero;
	struct crypto_sha256_ctx c;

	ck_assert_int_eq(crypto_sha256_init(&c), CRYPTO_OK);
	ck_assert_ptr_nonnull(c.md);
	ck_assert_int_eq(crypto_sha256_update(&c, "secret", 6), CRYPTO_OK);
	crypto_sha256_free(&c);
	ck_assert_mem_eq(&c, &zero, sizeof(c));
	crypto_sha256_free(&c);
	crypto_sha256_free(NULL);
}
END_TEST

START_TEST(test_sha256_ctx_errors)
{
	struct crypto_sha256_ctx c;
	uint8_t d[CRYPTO_HASH_LEN];

	ck_assert_int_eq(crypto_sha256_init(NULL), CRYPTO_ERR_ARG);
	memset(&c, 0xa5, sizeof(c)); /* init never reads *c */
	ck_assert_int_eq(crypto_sha256_init(&c), CRYPTO_OK);
	ck_assert_int_eq(crypto_sha256_update(&c, NULL, 5), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_sha256_final(&c, NULL), CRYPTO_ERR_ARG);
	crypto_sha256_free(&c);
	ck_assert_ptr_null(c.md);
	/* After free (or final) the context refuses updates until init. */
	ck_assert_int_eq(crypto_sha256_update(&c, "x", 1), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_sha256_final(&c, d), CRYPTO_ERR_ARG);
	/* Re-initialising after final gives a fresh digest. */
	ck_assert_int_eq(crypto_sha256_init(&c), CRYPTO_OK);
	ck_assert_int_eq(crypto_sha256_update(&c, "abc", 3), CRYPTO_OK);
	ck_assert_int_eq(crypto_sha256_final(&c, d), CRYPTO_OK);
	ck_assert_int_eq(crypto_sha256_init(&c), CRYPTO_OK);
	ck_assert_int_eq(crypto_sha256_final(&c, d), CRYPTO_OK);
	check_digest(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(test_strerror)
{
	static const int codes[] = {
		CRYPTO_OK, CRYPTO_ERR_ARG, CRYPTO_ERR_NOMEM, CRYPTO_ERR_OPENSSL,
		CRYPTO_ERR_BADSIG, CRYPTO_ERR_AUTH, CRYPTO_ERR_KEYFILE, CRYPTO_ERR_KEYPERM,
		CRYPTO_ERR_SHARES, CRYPTO_ERR_PROOF, CRYPTO_ERR_LOWORDER, CRYPTO_ERR_WEAKKEY,
	};
	const char *unknown = crypto_strerror(-1000);

	ck_assert_ptr_nonnull(unknown);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = crypto_strerror(codes[i]);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_gt(strlen(s), 0);
		ck_assert_str_ne(s, unknown);
		for (size_t j = 0; j < i; j++)
			ck_assert_str_ne(s, crypto_strerror(codes[j]));
	}
	ck_assert_str_eq(crypto_strerror(1), unknown);
	ck_assert_str_eq(crypto_strerror(CRYPTO_ERR_WEAKKEY - 1), unknown);
}
END_TEST

START_TEST(test_memeq_and_random)
{
	uint8_t a[64];
	uint8_t b[64];

	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	ck_assert_int_eq(crypto_memeq(a, b, sizeof(a)), 1);
	ck_assert_int_eq(crypto_memeq(a, b, 0), 1);
	for (size_t i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x80;
		ck_assert_int_eq(crypto_memeq(a, b, sizeof(a)), 0);
		b[i] ^= 0x80;
	}
	ck_assert_int_eq(crypto_random(a, sizeof(a)), CRYPTO_OK);
	ck_assert_int_eq(crypto_random(b, sizeof(b)), CRYPTO_OK);
	/* Two 512-bit draws collide with probability 2^-512. */
	ck_assert_int_eq(crypto_memeq(a, b, sizeof(a)), 0);
	ck_assert_int_eq(crypto_random(a, 0), CRYPTO_OK);
	ck_assert_int_eq(crypto_random(NULL, 0), CRYPTO_OK);
	ck_assert_int_eq(crypto_random(NULL, 1), CRYPTO_ERR_ARG);
}
END_TEST

static Suite *crypto_hash_suite(void)
{
	Suite *s = suite_create("crypto_hash");
	TCase *tc = tcase_create("sha256");

	tcase_add_test(tc, test_sha256_kat);
	tcase_add_test(tc, test_sha256_million_a);
	tcase_add_test(tc, test_sha256_stream_matches_oneshot);
	tcase_add_test(tc, test_sha256_random_splits);
	tcase_add_test(tc, test_sha256_copy_forks);
	tcase_add_test(tc, test_sha256_free_wipes);
	tcase_add_test(tc, test_sha256_ctx_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("util");
	tcase_add_test(tc, test_strerror);
	tcase_add_test(tc, test_memeq_and_random);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(crypto_hash_suite)
