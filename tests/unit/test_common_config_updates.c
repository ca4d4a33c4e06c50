/* test_common_config_updates.c: the update-service keys of [group]: statement_tick_ms,
 * statement_validity_ms, certificate_threshold and max_chunk_bytes — defaults, values,
 * and the refused ranges and cross-field rules, each naming its line. */
#define _XOPEN_SOURCE 700
#include "tests/unit/unit.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/config.h"

static char tdir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	char p[256];
	const char *names[5] = {"r0", "r1", "r2", "r3", "admin"};

	snprintf(tdir, sizeof(tdir), "/tmp/bulwark-cfgupd-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	for (int i = 0; i < 5; i++) {
		struct crypto_ed25519_key k;
		ck_assert_int_eq(crypto_ed25519_generate(&k), CRYPTO_OK);
		snprintf(p, sizeof(p), "%s/%s.pub", tdir, names[i]);
		ck_assert_int_eq(crypto_ed25519_save_public(&k, p, NULL, 0), CRYPTO_OK);
		crypto_ed25519_free(&k);
	}
}

static void teardown(void)
{
	nftw(tdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A valid 4-replica config whose [group] ends with extra (line 5 on). */
static int load(const char *extra, struct bw_config *c, struct config_errors *e)
{
	char text[2048];
	int n = snprintf(text, sizeof(text),
			 "[group]\n"                 /* 1 */
			 "id = 9\n"                  /* 2 */
			 "f = 1\n"                   /* 3 */
			 "admin_key = admin.pub\n"   /* 4 */
			 "%s"
			 "[replica 0]\nhost = 127.0.0.1\nport = 7000\nhttp_port = 8000\npublic_key = r0.pub\n"
			 "[replica 1]\nhost = 127.0.0.1\nport = 7001\nhttp_port = 8001\npublic_key = r1.pub\n"
			 "[replica 2]\nhost = 127.0.0.1\nport = 7002\nhttp_port = 8002\npublic_key = r2.pub\n"
			 "[replica 3]\nhost = 127.0.0.1\nport = 7003\nhttp_port = 8003\npublic_key = r3.pub\n",
			 extra);

	ck_assert_int_lt(n, (int)sizeof(text));
	config_errors_init(e);
	memset(c, 0, sizeof(*c));
	return config_load_buffer("t.ini", tdir, text, (size_t)n, c, e);
}

START_TEST(defaults_and_values)
{
	struct config_errors e;
	struct bw_config c;

	ck_assert_int_eq(load("", &c, &e), CONFIG_OK);
	ck_assert_uint_eq(c.statement_tick_ms, 10000);
	ck_assert_uint_eq(c.statement_validity_ms, 60000);
	ck_assert_uint_eq(c.certificate_threshold, 2); /* f+1 */
	ck_assert_uint_eq(c.max_chunk_bytes, 262144);
	config_free(&c);

	ck_assert_int_eq(load("statement_tick_ms = 500\nstatement_validity_ms = 1500\n"
			      "certificate_threshold = 3\nmax_chunk_bytes = 1048576\n", &c, &e),
			 CONFIG_OK);
	ck_assert_uint_eq(c.statement_tick_ms, 500);
	ck_assert_uint_eq(c.statement_validity_ms, 1500);
	ck_assert_uint_eq(c.certificate_threshold, 3);
	ck_assert_uint_eq(c.max_chunk_bytes, 1048576);
	config_free(&c);
}
END_TEST

START_TEST(refusals)
{
	struct config_errors e;
	struct bw_config c;

	ck_assert_int_eq(load("certificate_threshold = 4\n", &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 1);
	ck_assert_int_eq(e.item[0].code, CONFIG_ERR_RANGE);
	ck_assert_uint_eq(e.item[0].line, 5);
	ck_assert_ptr_nonnull(strstr(e.item[0].text, "outside f+1..2f+1 = 2..3"));

	ck_assert_int_eq(load("certificate_threshold = 1\n", &c, &e), CONFIG_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(e.item[0].text, "certificate_threshold = 1"));

	ck_assert_int_eq(load("statement_tick_ms = 5000\nstatement_validity_ms = 5000\n", &c, &e),
			 CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 1);
	ck_assert_uint_eq(e.item[0].line, 6);
	ck_assert_ptr_nonnull(strstr(e.item[0].text, "must exceed statement_tick_ms = 5000"));
	/* the default validity (60 s) against a configured tick */
	ck_assert_int_eq(load("statement_tick_ms = 60000\n", &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.item[0].line, 1); /* the rule broken by a default names [group] */

	ck_assert_int_eq(load("max_chunk_bytes = 1048577\n", &c, &e), CONFIG_ERR_INVALID);
	ck_assert_int_eq(e.item[0].code, CONFIG_ERR_RANGE);
	ck_assert_int_eq(load("statement_tick_ms = 99\n", &c, &e), CONFIG_ERR_INVALID);
	ck_assert_int_eq(e.item[0].code, CONFIG_ERR_RANGE);
}
END_TEST

static Suite *config_updates_suite(void)
{
	Suite *s = suite_create("common_config_updates");
	TCase *tc = tcase_create("updates");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults_and_values);
	tcase_add_test(tc, refusals);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(config_updates_suite)
