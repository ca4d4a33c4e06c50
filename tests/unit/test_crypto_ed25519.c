/* test_crypto_ed25519.c: Ed25519 RFC 8032 vectors, tampering, and PEM key files. */
#include "tests/unit/unit.h"

#include "crypto/crypto.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* RFC 8032 section 7.1: TEST 1, 2, 3 and TEST SHA(abc). */
static const struct {
	const char *seed;
	const char *pub;
	const char *msg;
	const char *sig;
} rfc8032[] = {
	{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
	  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
	{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
	  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
	  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
	{ "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
	  "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
	  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	  "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704" },
};

START_TEST(test_rfc8032_vectors)
{
	uint8_t seed[CRYPTO_ED25519_SEED];
	uint8_t pub[CRYPTO_ED25519_PUB];
	uint8_t msg[64];
	uint8_t want[CRYPTO_ED25519_SIG];
	uint8_t sig[CRYPTO_ED25519_SIG];
	struct crypto_ed25519_key k;
	struct crypto_ed25519_key v;
	size_t mlen;

	for (size_t i = 0; i < sizeof(rfc8032) / sizeof(rfc8032[0]); i++) {
		unhex(rfc8032[i].seed, seed);
		unhex(rfc8032[i].pub, pub);
		unhex(rfc8032[i].sig, want);
		mlen = strlen(rfc8032[i].msg) / 2;
		unhex(rfc8032[i].msg, msg);
		ck_assert_int_eq(crypto_ed25519_from_seed(&k, seed), CRYPTO_OK);
		ck_assert_int_eq(k.has_private, 1);
		ck_assert_mem_eq(k.pub, pub, sizeof(pub));
		ck_assert_int_eq(crypto_ed25519_sign(&k, mlen ? msg : NULL, mlen, sig), CRYPTO_OK);
		ck_assert_mem_eq(sig, want, sizeof(want));
		ck_assert_int_eq(crypto_ed25519_from_public(&v, pub), CRYPTO_OK);
		ck_assert_int_eq(v.has_private, 0);
		ck_assert_mem_eq(v.pub, pub, sizeof(pub));
		ck_assert_int_eq(crypto_ed25519_verify(&v, msg, mlen, want), CRYPTO_OK);
		ck_assert_int_eq(crypto_ed25519_verify(&k, msg, mlen, want), CRYPTO_OK);
		ck_assert_int_eq(crypto_ed25519_verify_raw(pub, msg, mlen, want), CRYPTO_OK);
		crypto_ed25519_free(&k);
		crypto_ed25519_free(&v);
		ck_assert_ptr_null(k.pkey);
	}
}
END_TEST

START_TEST(test_tamper)
{
	struct crypto_ed25519_key k;
	struct crypto_ed25519_key other;
	uint8_t msg[100];
	uint8_t sig[CRYPTO_ED25519_SIG];
	uint8_t sig2[CRYPTO_ED25519_SIG];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)i;
	ck_assert_int_eq(crypto_ed25519_generate(&k), CRYPTO_OK);
	ck_assert_int_eq(crypto_ed25519_generate(&other), CRYPTO_OK);
	ck_assert_mem_ne(k.pub, other.pub, CRYPTO_ED25519_PUB);
	ck_assert_int_eq(crypto_ed25519_sign(&k, msg, sizeof(msg), sig), CRYPTO_OK);
	/* Ed25519 is deterministic. */
	ck_assert_int_eq(crypto_ed25519_sign(&k, msg, sizeof(msg), sig2), CRYPTO_OK);
	ck_assert_mem_eq(sig, sig2, sizeof(sig));
	ck_assert_int_eq(crypto_ed25519_verify(&k, msg, sizeof(msg), sig), CRYPTO_OK);
	/* One flipped bit anywhere in the signature (rotating bit position per byte). */
	for (size_t i = 0; i < sizeof(sig); i++) {
		sig[i] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_eq(crypto_ed25519_verify(&k, msg, sizeof(msg), sig), CRYPTO_ERR_BADSIG);
		ck_assert_int_eq(crypto_ed25519_verify_raw(k.pub, msg, sizeof(msg), sig),
				 CRYPTO_ERR_BADSIG);
		sig[i] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < sizeof(msg); i += 7) {
		msg[i] ^= 0x01;
		ck_assert_int_eq(crypto_ed25519_verify(&k, msg, sizeof(msg), sig), CRYPTO_ERR_BADSIG);
		msg[i] ^= 0x01;
	}
	/* Truncated or extended message, wrong key. */
	ck_assert_int_eq(crypto_ed25519_verify(&k, msg, sizeof(msg) - 1, sig), CRYPTO_ERR_BADSIG);
	ck_assert_int_eq(crypto_ed25519_verify(&other, msg, sizeof(msg), sig), CRYPTO_ERR_BADSIG);
	ck_assert_int_eq(crypto_ed25519_verify_raw(other.pub, msg, sizeof(msg), sig),
			 CRYPTO_ERR_BADSIG);
	/* The signature still verifies after all that. */
	ck_assert_int_eq(crypto_ed25519_verify(&k, msg, sizeof(msg), sig), CRYPTO_OK);
	crypto_ed25519_free(&k);
	crypto_ed25519_free(&other);
}
END_TEST

START_TEST(test_bad_args)
{
	struct crypto_ed25519_key k;
	struct crypto_ed25519_key pubonly;
	uint8_t sig[CRYPTO_ED25519_SIG] = { 0 };
	uint8_t pub[CRYPTO_ED25519_PUB] = { 0 };

	ck_assert_int_eq(crypto_ed25519_generate(NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_from_seed(&k, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_from_public(NULL, pub), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_generate(&k), CRYPTO_OK);
	ck_assert_int_eq(crypto_ed25519_from_public(&pubonly, k.pub), CRYPTO_OK);
	/* A verification-only key cannot sign. */
	ck_assert_int_eq(crypto_ed25519_sign(&pubonly, "m", 1, sig), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_sign(&k, NULL, 1, sig), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_sign(&k, "m", 1, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_verify(&k, NULL, 1, sig), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_verify(&k, "m", 1, NULL), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_verify(NULL, "m", 1, sig), CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_verify_raw(NULL, "m", 1, sig), CRYPTO_ERR_ARG);
	/* An all-zero signature is simply wrong. */
	ck_assert_int_eq(crypto_ed25519_verify(&k, "m", 1, sig), CRYPTO_ERR_BADSIG);
	/* An all-zero public key (a low-order point) verifies nothing made by a real key. */
	ck_assert_int_eq(crypto_ed25519_sign(&k, "m", 1, sig), CRYPTO_OK);
	ck_assert_int_eq(crypto_ed25519_verify_raw(pub, "m", 1, sig), CRYPTO_ERR_BADSIG);
	crypto_ed25519_free(&k);
	crypto_ed25519_free(&pubonly);
	crypto_ed25519_free(NULL);
}
END_TEST

/* ---------------------------------------------------------------- PEM files */

static char dir[64];
static char path_priv[128];
static char path_pub[128];

static void pem_setup(void)
{
	strcpy(dir, "/tmp/bulwark-ed25519-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path_priv, sizeof(path_priv), "%s/replica.key", dir);
	snprintf(path_pub, sizeof(path_pub), "%s/replica.pub", dir);
}

static void pem_teardown(void)
{
	char p[160];
	static const char *const names[] = { "replica.key", "replica.pub", "x25519.key",
					     "garbage.key", "empty.key", "sub" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (unlink(p) != 0)
			rmdir(p);
	}
	rmdir(dir);
}

static void write_file(const char *path, const char *data, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, strlen(data), f), strlen(data));
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(test_pem_roundtrip)
{
	struct crypto_ed25519_key k;
	struct crypto_ed25519_key priv;
	struct crypto_ed25519_key pub;
	uint8_t sig[CRYPTO_ED25519_SIG];
	uint8_t sig2[CRYPTO_ED25519_SIG];
	char err[256] = "";
	struct stat st;
	mode_t old;

	ck_assert_int_eq(crypto_ed25519_generate(&k), CRYPTO_OK);
	/* A permissive umask must not widen the private key's mode. */
	old = umask(0);
	ck_assert_int_eq(crypto_ed25519_save_private(&k, path_priv, err, sizeof(err)), CRYPTO_OK);
	ck_assert_int_eq(crypto_ed25519_save_public(&k, path_pub, err, sizeof(err)), CRYPTO_OK);
	umask(old);
	ck_assert_int_eq(stat(path_priv, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(stat(path_pub, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0644);

	ck_assert_int_eq(crypto_ed25519_load_private(&priv, path_priv, err, sizeof(err)), CRYPTO_OK);
	ck_assert_int_eq(priv.has_private, 1);
	ck_assert_mem_eq(priv.pub, k.pub, CRYPTO_ED25519_PUB);
	ck_assert_int_eq(crypto_ed25519_load_public(&pub, path_pub, NULL, 0), CRYPTO_OK);
	ck_assert_int_eq(pub.has_private, 0);
	ck_assert_mem_eq(pub.pub, k.pub, CRYPTO_ED25519_PUB);
	/* The loaded private key signs exactly like the original. */
	ck_assert_int_eq(crypto_ed25519_sign(&k, "release", 7, sig), CRYPTO_OK);
	ck_assert_int_eq(crypto_ed25519_sign(&priv, "release", 7, sig2), CRYPTO_OK);
	ck_assert_mem_eq(sig, sig2, sizeof(sig));
	ck_assert_int_eq(crypto_ed25519_verify(&pub, "release", 7, sig), CRYPTO_OK);
	/* A public key file can be loaded as public from a 0644 file, never saved as private. */
	ck_assert_int_eq(crypto_ed25519_save_private(&pub, path_priv, err, sizeof(err)),
			 CRYPTO_ERR_ARG);
	/* Saving again replaces the file atomically and keeps 0600. */
	ck_assert_int_eq(chmod(path_priv, 0644), 0);
	ck_assert_int_eq(crypto_ed25519_save_private(&priv, path_priv, NULL, 0), CRYPTO_OK);
	ck_assert_int_eq(stat(path_priv, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	crypto_ed25519_free(&k);
	crypto_ed25519_free(&priv);
	crypto_ed25519_free(&pub);
}
END_TEST

START_TEST(test_pem_permissions)
{
	static const mode_t bad[] = { 0644, 0640, 0604, 0660, 0606, 0700 | 0070, 0601, 0610 };
	struct crypto_ed25519_key k;
	struct crypto_ed25519_key l;
	char err[512];
	char want[64];

	ck_assert_int_eq(crypto_ed25519_generate(&k), CRYPTO_OK);
	ck_assert_int_eq(crypto_ed25519_save_private(&k, path_priv, NULL, 0), CRYPTO_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(chmod(path_priv, bad[i]), 0);
		err[0] = '\0';
		ck_assert_int_eq(crypto_ed25519_load_private(&l, path_priv, err, sizeof(err)),
				 CRYPTO_ERR_KEYPERM);
		ck_assert_ptr_null(l.pkey);
		ck_assert_ptr_nonnull(strstr(err, path_priv));
		snprintf(want, sizeof(want), "%04o", (unsigned)bad[i]);
		ck_assert_ptr_nonnull(strstr(err, want));
		ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	}
	/* Owner-only modes are accepted. */
	ck_assert_int_eq(chmod(path_priv, 0400), 0);
	ck_assert_int_eq(crypto_ed25519_load_private(&l, path_priv, NULL, 0), CRYPTO_OK);
	crypto_ed25519_free(&l);
	crypto_ed25519_free(&k);
}
END_TEST

START_TEST(test_pem_bad_files)
{
	struct crypto_ed25519_key k;
	struct crypto_ed25519_key l;
	char err[512];
	char p[160];
	EVP_PKEY *x;
	FILE *f;

	/* Missing file. */
	snprintf(p, sizeof(p), "%s/nonexistent.key", dir);
	ck_assert_int_eq(crypto_ed25519_load_private(&l, p, err, sizeof(err)), CRYPTO_ERR_KEYFILE);
	ck_assert_ptr_nonnull(strstr(err, p));
	ck_assert_int_eq(crypto_ed25519_load_public(&l, p, err, sizeof(err)), CRYPTO_ERR_KEYFILE);
	ck_assert_ptr_nonnull(strstr(err, p));
	/* Not PEM at all. */
	snprintf(p, sizeof(p), "%s/garbage.key", dir);
	write_file(p, "this is not a key\n", 0600);
	ck_assert_int_eq(crypto_ed25519_load_private(&l, p, err, sizeof(err)), CRYPTO_ERR_KEYFILE);
	ck_assert_ptr_nonnull(strstr(err, p));
	ck_assert_int_eq(crypto_ed25519_load_public(&l, p, err, sizeof(err)), CRYPTO_ERR_KEYFILE);
	/* A PEM block with a corrupted body. */
	write_file(p, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI!!!!\n"
		      "-----END PRIVATE KEY-----\n", 0600);
	ck_assert_int_eq(crypto_ed25519_load_private(&l, p, err, sizeof(err)), CRYPTO_ERR_KEYFILE);
	/* Empty file. */
	snprintf(p, sizeof(p), "%s/empty.key", dir);
	write_file(p, "", 0600);
	ck_assert_int_eq(crypto_ed25519_load_private(&l, p, err, sizeof(err)), CRYPTO_ERR_KEYFILE);
	ck_assert_ptr_nonnull(strstr(err, p));
	/* A directory. */
	snprintf(p, sizeof(p), "%s/sub", dir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(crypto_ed25519_load_private(&l, p, err, sizeof(err)), CRYPTO_ERR_KEYFILE);
	ck_assert_ptr_nonnull(strstr(err, p));
	/* An X25519 key in valid PEM is not an Ed25519 key. */
	snprintf(p, sizeof(p), "%s/x25519.key", dir);
	x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	ck_assert_ptr_nonnull(x);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, x, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	EVP_PKEY_free(x);
	ck_assert_int_eq(chmod(p, 0600), 0);
	ck_assert_int_eq(crypto_ed25519_load_private(&l, p, err, sizeof(err)), CRYPTO_ERR_KEYFILE);
	ck_assert_ptr_nonnull(strstr(err, p));
	ck_assert_ptr_nonnull(strstr(err, "Ed25519"));
	/* A public key file is not a private key, and vice versa. */
	ck_assert_int_eq(crypto_ed25519_generate(&k), CRYPTO_OK);
	ck_assert_int_eq(crypto_ed25519_save_public(&k, path_pub, NULL, 0), CRYPTO_OK);
	ck_assert_int_eq(chmod(path_pub, 0600), 0);
	ck_assert_int_eq(crypto_ed25519_load_private(&l, path_pub, err, sizeof(err)),
			 CRYPTO_ERR_KEYFILE);
	ck_assert_int_eq(crypto_ed25519_save_private(&k, path_priv, NULL, 0), CRYPTO_OK);
	ck_assert_int_eq(crypto_ed25519_load_public(&l, path_priv, err, sizeof(err)),
			 CRYPTO_ERR_KEYFILE);
	/* Saving into a missing directory fails and names the file. */
	snprintf(p, sizeof(p), "%s/no/such/dir.key", dir);
	ck_assert_int_eq(crypto_ed25519_save_private(&k, p, err, sizeof(err)), CRYPTO_ERR_KEYFILE);
	ck_assert_ptr_nonnull(strstr(err, p));
	/* A tiny error buffer is truncated, not overrun. */
	ck_assert_int_eq(crypto_ed25519_load_private(&l, "/nonexistent/x", err, 4),
			 CRYPTO_ERR_KEYFILE);
	ck_assert_uint_eq(strlen(err), 3);
	ck_assert_int_eq(crypto_ed25519_load_private(NULL, path_priv, err, sizeof(err)),
			 CRYPTO_ERR_ARG);
	ck_assert_int_eq(crypto_ed25519_load_private(&l, NULL, err, sizeof(err)), CRYPTO_ERR_ARG);
	crypto_ed25519_free(&k);
}
END_TEST

/* Small-order public keys: OpenSSL verifies forged signatures under them, so crypto
 * refuses every encoding of them as a verification key (found by fuzz_net_hello). */
START_TEST(test_weak_keys)
{
	/* y of the order-8 points; the other is p - y. */
	static const uint8_t y8[32] = {
		0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
		0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
		0x6d, 0x53, 0xfc, 0x05};
	uint8_t ys[7][32] = {{0}};
	struct crypto_ed25519_key k, good;
	uint8_t sig[64] = {0};
	unsigned carry = 0;
	int i, sign;

	/* 0, 1, y8, p - y8, p - 1, p (= 0), p + 1 (= 1); p = 2^255 - 19 */
	ys[1][0] = 1;
	memcpy(ys[2], y8, 32);
	for (i = 0; i < 32; i++) { /* p - y8, little-endian subtraction */
		unsigned pi = i == 0 ? 0xed : i == 31 ? 0x7f : 0xff;
		unsigned d = pi - y8[i] - carry;
		ys[3][i] = (uint8_t)d;
		carry = (d >> 8) & 1;
	}
	for (i = 0; i < 32; i++)
		ys[4][i] = ys[5][i] = ys[6][i] = i == 31 ? 0x7f : 0xff;
	ys[4][0] = 0xec;
	ys[5][0] = 0xed;
	ys[6][0] = 0xee;
	for (i = 0; i < 7; i++) {
		for (sign = 0; sign < 2; sign++) {
			uint8_t pub[32];
			memcpy(pub, ys[i], 32);
			pub[31] |= (uint8_t)(sign << 7);
			ck_assert_msg(crypto_ed25519_key_is_weak(pub), "encoding %d/%d not flagged", i, sign);
			ck_assert_int_eq(crypto_ed25519_from_public(&k, pub), CRYPTO_ERR_WEAKKEY);
			/* the classic forgery: R = the identity point, S = 0 */
			sig[0] = 1;
			ck_assert_int_ne(crypto_ed25519_verify_raw(pub, "forged", 6, sig), CRYPTO_OK);
		}
	}
	ck_assert_int_eq(crypto_ed25519_generate(&good), CRYPTO_OK);
	ck_assert(!crypto_ed25519_key_is_weak(good.pub));
	ck_assert_int_eq(crypto_ed25519_from_public(&k, good.pub), CRYPTO_OK);
	crypto_ed25519_free(&k);
	crypto_ed25519_free(&good);
	ck_assert_str_eq(crypto_strerror(CRYPTO_ERR_WEAKKEY),
			 "Ed25519 public key of small order (anyone can forge signatures for it)");
}
END_TEST

static Suite *crypto_ed25519_suite(void)
{
	Suite *s = suite_create("crypto_ed25519");
	TCase *tc = tcase_create("sign");

	tcase_add_test(tc, test_rfc8032_vectors);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_weak_keys);
	suite_add_tcase(s, tc);
	tc = tcase_create("pem");
	tcase_add_checked_fixture(tc, pem_setup, pem_teardown);
	tcase_add_test(tc, test_pem_roundtrip);
	tcase_add_test(tc, test_pem_permissions);
	tcase_add_test(tc, test_pem_bad_files);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(crypto_ed25519_suite)
