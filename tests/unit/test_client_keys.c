/* test_client_keys.c: libbulwark's key generation, version and error strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/bulwark.h"
#include "crypto/crypto.h"
#include "tests/unit/unit.h"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/bw-keys-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(keygen_writes_loadable_pair)
{
	uint8_t pub[32];
	char path[128], err[256] = "";
	struct crypto_ed25519_key priv, pubk;
	struct stat st;
	uint8_t sig[64];

	ck_assert_int_eq(bulwark_keygen(dir, "node", 0, pub, err, sizeof err), BULWARK_OK);
	snprintf(path, sizeof path, "%s/node.key", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(crypto_ed25519_load_private(&priv, path, err, sizeof err), CRYPTO_OK);
	ck_assert_mem_eq(priv.pub, pub, 32);
	snprintf(path, sizeof path, "%s/node.pub", dir);
	ck_assert_int_eq(crypto_ed25519_load_public(&pubk, path, err, sizeof err), CRYPTO_OK);
	ck_assert_mem_eq(pubk.pub, pub, 32);
	ck_assert_int_eq(crypto_ed25519_sign(&priv, "m", 1, sig), CRYPTO_OK);
	ck_assert_int_eq(crypto_ed25519_verify(&pubk, "m", 1, sig), CRYPTO_OK);
	crypto_ed25519_free(&priv);
	crypto_ed25519_free(&pubk);
}
END_TEST

START_TEST(keygen_refuses_overwrite)
{
	uint8_t a[32], b[32];
	char err[256] = "";

	ck_assert_int_eq(bulwark_keygen(dir, "k", 0, a, err, sizeof err), BULWARK_OK);
	ck_assert_int_eq(bulwark_keygen(dir, "k", 0, b, err, sizeof err), BULWARK_ERR_EXISTS);
	ck_assert_ptr_nonnull(strstr(err, "k.key"));
	ck_assert_int_eq(bulwark_keygen(dir, "k", 1, b, err, sizeof err), BULWARK_OK);
	ck_assert_int_ne(memcmp(a, b, 32), 0);
}
END_TEST

START_TEST(keygen_rejects_bad_names)
{
	ck_assert_int_eq(bulwark_keygen(dir, "", 0, NULL, NULL, 0), BULWARK_ERR_ARG);
	ck_assert_int_eq(bulwark_keygen(dir, "a/b", 0, NULL, NULL, 0), BULWARK_ERR_ARG);
	ck_assert_int_eq(bulwark_keygen(NULL, "a", 0, NULL, NULL, 0), BULWARK_ERR_ARG);
}
END_TEST

START_TEST(version_and_errors)
{
	ck_assert_str_eq(bulwark_version(), BULWARK_VERSION);
	ck_assert_str_eq(bulwark_strerror(BULWARK_ERR_EXISTS), "file already exists");
	ck_assert_str_eq(bulwark_strerror(12345), "unknown error");
}
END_TEST

static Suite *client_keys_suite(void)
{
	Suite *s = suite_create("client_keys");
	TCase *tc = tcase_create("keys");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, keygen_writes_loadable_pair);
	tcase_add_test(tc, keygen_refuses_overwrite);
	tcase_add_test(tc, keygen_rejects_bad_names);
	tcase_add_test(tc, version_and_errors);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(client_keys_suite)
