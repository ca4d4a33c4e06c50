/* test_common_config.c: config parsing, every validation rule with its file:line, key loading. */
#include "tests/unit/unit.h"

#include "common/config.h"
#include "crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A temporary folder with keys/r0..r3 and keys/admin (.pub and .key), made once. */
static char tdir[64];
static uint8_t pubs[5][CRYPTO_ED25519_PUB]; /* r0..r3, admin */
static char base[4096];                     /* the valid config below, line numbers fixed */
static char cfg_path[128];                  /* where load_text() writes */

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
	char p[PATH_MAX], q[PATH_MAX];
	const char *names[5] = {"r0", "r1", "r2", "r3", "admin"};
	char tmpl[] = "/tmp/bulwark-test-config-XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	char *real = realpath(tmpl, NULL);
	ck_assert_ptr_nonnull(real);
	ck_assert_uint_lt(strlen(real), sizeof(tdir));
	memcpy(tdir, real, strlen(real) + 1);
	free(real);
	snprintf(p, sizeof(p), "%s/keys", tdir);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	for (int i = 0; i < 5; i++) {
		struct crypto_ed25519_key k;
		ck_assert_int_eq(crypto_ed25519_generate(&k), CRYPTO_OK);
		snprintf(p, sizeof(p), "%s/keys/%s.key", tdir, names[i]);
		snprintf(q, sizeof(q), "%s/keys/%s.pub", tdir, names[i]);
		ck_assert_int_eq(crypto_ed25519_save_private(&k, p, NULL, 0), CRYPTO_OK);
		ck_assert_int_eq(crypto_ed25519_save_public(&k, q, NULL, 0), CRYPTO_OK);
		memcpy(pubs[i], k.pub, CRYPTO_ED25519_PUB);
		crypto_ed25519_free(&k);
	}
	snprintf(p, sizeof(p), "%s/keys/garbage.pub", tdir);
	write_file(p, "not a key\n", 10);
	snprintf(cfg_path, sizeof(cfg_path), "%s/t.ini", tdir);
	snprintf(base, sizeof(base),
		 "[group]\n"                         /* 1 */
		 "id = 42\n"                         /* 2 */
		 "f = 1\n"                           /* 3 */
		 "epoch = 7\n"                       /* 4 */
		 "checkpoint_interval = 64\n"        /* 5 */
		 "log_window = 192\n"                /* 6 */
		 "batch_max_requests = 100\n"        /* 7 */
		 "batch_max_bytes = 65536\n"         /* 8 */
		 "pipeline = 4\n"                    /* 9 */
		 "view_change_timeout_ms = 1500\n"   /* 10 */
		 "max_clock_skew_ms = 250\n"         /* 11 */
		 "client_auth = signatures\n"        /* 12 */
		 "data_dir = /var/lib/bulwark\n"     /* 13 */
		 "admin_key = keys/admin.pub\n"      /* 14 */
		 "\n"                                /* 15 */
		 "[replica 0]\n"                     /* 16 */
		 "host = 127.0.0.1\n"                /* 17 */
		 "port = 7000\n"                     /* 18 */
		 "http_port = 8000\n"                /* 19 */
		 "public_key = keys/r0.pub\n"        /* 20 */
		 "private_key = keys/r0.key\n"       /* 21 */
		 "\n"                                /* 22 */
		 "[replica 1]\n"                     /* 23 */
		 "host = 127.0.0.1\n"                /* 24 */
		 "port = 7001\n"                     /* 25 */
		 "http_port = 8001\n"                /* 26 */
		 "public_key = keys/r1.pub\n"        /* 27 */
		 "private_key = keys/r1.key\n"       /* 28 */
		 "\n"                                /* 29 */
		 "[replica 2]\n"                     /* 30 */
		 "host = ::1\n"                      /* 31 */
		 "port = 7000\n"                     /* 32 */
		 "http_port = 8000\n"                /* 33 */
		 "public_key = keys/r2.pub\n"        /* 34 */
		 "data_dir = r2data\n"               /* 35 */
		 "\n"                                /* 36 */
		 "[replica 3]\n"                     /* 37 */
		 "host = node3.example.org\n"        /* 38 */
		 "port = 7003\n"                     /* 39 */
		 "http_port = 8003\n"                /* 40 */
		 "public_key = %s/keys/r3.pub\n"     /* 41 */
		 "; replica 3 runs elsewhere: no private key here\n" /* 42 */
		 "\n"                                /* 43 */
		 "[client]\n"                        /* 44 */
		 "timeout_ms = 750   ; inline comment\n" /* 45 */
		 "read_quorum = f+1\n",              /* 46 */
		 tdir);
}

static void teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* base with line `line` (1-based) replaced by repl (which may hold several lines). */
static char *edit(const char *text, unsigned line, const char *repl)
{
	const char *p = text;
	for (unsigned i = 1; i < line; i++) {
		p = strchr(p, '\n');
		ck_assert_ptr_nonnull(p);
		p++;
	}
	const char *end = strchr(p, '\n');
	ck_assert_ptr_nonnull(end);
	size_t n = strlen(text) + strlen(repl) + 2;
	char *out = malloc(n);
	ck_assert_ptr_nonnull(out);
	snprintf(out, n, "%.*s%s%s", (int)(p - text), text, repl, end);
	return out;
}

static int load_text(const char *text, struct bw_config *c, struct config_errors *e)
{
	write_file(cfg_path, text, strlen(text));
	config_errors_init(e);
	return config_load(cfg_path, c, e);
}

/* Loads base with one line replaced; expects failure. */
static void load_edit(unsigned line, const char *repl, struct config_errors *e)
{
	struct bw_config c;
	char *t = edit(base, line, repl);
	ck_assert_int_eq(load_text(t, &c, e), CONFIG_ERR_INVALID);
	ck_assert_ptr_null(c.replicas);
	free(t);
}

static void expect_err(const struct config_errors *e, unsigned idx, int code, unsigned line,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void expect_err(const struct config_errors *e, unsigned idx, int code, unsigned line,
		       const char *fmt, ...)
{
	char msg[CONFIG_ERROR_LEN], want[CONFIG_ERROR_LEN + 160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(want, sizeof(want), "%s:%u: %s", cfg_path, line, msg);
	else
		snprintf(want, sizeof(want), "%s: %s", cfg_path, msg);
	ck_assert_uint_gt(e->count, idx);
	ck_assert_str_eq(e->item[idx].text, want);
	ck_assert_int_eq(e->item[idx].code, code);
	ck_assert_uint_eq(e->item[idx].line, line);
}

START_TEST(test_valid_all_fields)
{
	struct bw_config c;
	struct config_errors e;
	char p[PATH_MAX];

	ck_assert_int_eq(load_text(base, &c, &e), CONFIG_OK);
	ck_assert_uint_eq(e.count, 0);
	ck_assert_str_eq(c.path, cfg_path);
	ck_assert_str_eq(c.dir, tdir);
	ck_assert_uint_eq(c.group_id, 42);
	ck_assert_uint_eq(c.f, 1);
	ck_assert_uint_eq(c.n, 4);
	ck_assert_uint_eq(c.epoch, 7);
	ck_assert_uint_eq(c.checkpoint_interval, 64);
	ck_assert_uint_eq(c.log_window, 192);
	ck_assert_uint_eq(c.batch_max_requests, 100);
	ck_assert_uint_eq(c.batch_max_bytes, 65536);
	ck_assert_uint_eq(c.pipeline, 4);
	ck_assert_uint_eq(c.view_change_timeout_ms, 1500);
	ck_assert_uint_eq(c.max_clock_skew_ms, 250);
	ck_assert_int_eq(c.client_auth, CONFIG_AUTH_SIGNATURES);
	ck_assert_str_eq(c.data_dir, "/var/lib/bulwark");
	snprintf(p, sizeof(p), "%s/keys/admin.pub", tdir);
	ck_assert_str_eq(c.admin_key_path, p);
	ck_assert_mem_eq(c.admin_key, pubs[4], CRYPTO_ED25519_PUB);
	ck_assert_uint_eq(c.client_timeout_ms, 750);
	ck_assert_uint_eq(c.read_quorum, 2);

	const char *hosts[4] = {"127.0.0.1", "127.0.0.1", "::1", "node3.example.org"};
	const unsigned ports[4] = {7000, 7001, 7000, 7003};
	const unsigned http[4] = {8000, 8001, 8000, 8003};
	for (unsigned i = 0; i < 4; i++) {
		const struct bw_config_replica *r = &c.replicas[i];
		ck_assert_uint_eq(r->id, i);
		ck_assert_str_eq(r->host, hosts[i]);
		ck_assert_uint_eq(r->port, ports[i]);
		ck_assert_uint_eq(r->http_port, http[i]);
		ck_assert_mem_eq(r->public_key, pubs[i], CRYPTO_ED25519_PUB);
		snprintf(p, sizeof(p), "%s/keys/r%u.pub", tdir, i);
		ck_assert_str_eq(r->public_key_path, p);
	}
	snprintf(p, sizeof(p), "%s/keys/r0.key", tdir);
	ck_assert_str_eq(c.replicas[0].private_key_path, p);
	ck_assert_uint_eq(c.replicas[0].private_key_line, 21);
	ck_assert_uint_eq(c.replicas[0].section_line, 16);
	ck_assert_ptr_null(c.replicas[2].private_key_path);
	ck_assert_ptr_null(c.replicas[3].private_key_path);
	ck_assert_str_eq(c.replicas[0].data_dir, "/var/lib/bulwark/replica0");
	snprintf(p, sizeof(p), "%s/r2data", tdir);
	ck_assert_str_eq(c.replicas[2].data_dir, p);
	config_free(&c);
	ck_assert_ptr_null(c.replicas);
	config_free(&c); /* safe twice */
}
END_TEST

START_TEST(test_defaults)
{
	struct bw_config c;
	struct config_errors e;
	char text[2048], p[PATH_MAX];
	int n = snprintf(text, sizeof(text), "[group]\nid = 1\nf = 1\nadmin_key = keys/admin.pub\n");
	for (unsigned i = 0; i < 4; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "[replica %u]\nhost = localhost\nport = %u\nhttp_port = %u\n"
			      "public_key = keys/r%u.pub\n", i, 9000 + i, 9100 + i, i);
	ck_assert_int_eq(load_text(text, &c, &e), CONFIG_OK);
	ck_assert_uint_eq(c.epoch, 1);
	ck_assert_uint_eq(c.checkpoint_interval, 64);
	ck_assert_uint_eq(c.log_window, 128);
	ck_assert_uint_eq(c.batch_max_requests, 512);
	ck_assert_uint_eq(c.batch_max_bytes, 262144);
	ck_assert_uint_eq(c.pipeline, 8);
	ck_assert_uint_eq(c.view_change_timeout_ms, 1000);
	ck_assert_uint_eq(c.max_clock_skew_ms, 2000);
	ck_assert_int_eq(c.client_auth, CONFIG_AUTH_MACS);
	snprintf(p, sizeof(p), "%s/data", tdir);
	ck_assert_str_eq(c.data_dir, p);
	snprintf(p, sizeof(p), "%s/data/replica3", tdir);
	ck_assert_str_eq(c.replicas[3].data_dir, p);
	ck_assert_uint_eq(c.client_timeout_ms, 500);
	ck_assert_uint_eq(c.read_quorum, 3); /* 2f+1 */
	config_free(&c);
}
END_TEST

START_TEST(test_lenient_layout)
{
	/* BOM, CRLF, indentation, ':' delimiter and comments are all accepted. */
	struct bw_config c;
	struct config_errors e;
	char *t1 = edit(base, 1, "\xEF\xBB\xBF[group]\r");
	char *t2 = edit(t1, 18, "    port : 7000   ; indented");
	char *t3 = edit(t2, 15, "# a hash comment");
	ck_assert_int_eq(load_text(t3, &c, &e), CONFIG_OK);
	ck_assert_uint_eq(c.replicas[0].port, 7000);
	ck_assert_uint_eq(c.group_id, 42);
	config_free(&c);
	free(t1);
	free(t2);
	free(t3);
}
END_TEST

START_TEST(test_bad_numbers)
{
	struct config_errors e;

	load_edit(3, "f = abc", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_NUMBER, 3, "f: 'abc' is not a number (expected an integer "
		   "from 1 to 21)");

	load_edit(2, "id = 18446744073709551616", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 2, "id: 18446744073709551616 is out of range (0 to "
		   "18446744073709551615)");

	load_edit(18, "port = -1", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_NUMBER, 18, "port: '-1' is not a number (expected an integer "
		   "from 1 to 65535)");

	load_edit(19, "http_port = 65536", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 19, "http_port: 65536 is out of range (1 to 65535)");

	load_edit(3, "f = 22", &e);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 3, "f: 22 is out of range (1 to 21)");

	load_edit(7, "batch_max_requests = 0x10", &e);
	expect_err(&e, 0, CONFIG_ERR_NUMBER, 7, "batch_max_requests: '0x10' is not a number "
		   "(expected an integer from 1 to 65535)");

	/* 65535 requests is the most one batch can hold (the core refuses more). */
	load_edit(7, "batch_max_requests = 65536", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 7,
		   "batch_max_requests: 65536 is out of range (1 to 65535)");

	load_edit(10, "view_change_timeout_ms =", &e);
	expect_err(&e, 0, CONFIG_ERR_NUMBER, 10, "view_change_timeout_ms: '' is not a number "
		   "(expected an integer from 10 to 600000)");
}
END_TEST

START_TEST(test_parse_uint)
{
	uint64_t v = 0;
	ck_assert_int_eq(config_parse_uint("0", 0, 10, &v), CONFIG_OK);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(config_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), CONFIG_OK);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(config_parse_uint("18446744073709551616", 0, UINT64_MAX, &v),
			 CONFIG_ERR_RANGE);
	ck_assert_int_eq(config_parse_uint("99999999999999999999999", 0, UINT64_MAX, &v),
			 CONFIG_ERR_RANGE);
	ck_assert_int_eq(config_parse_uint("11", 0, 10, &v), CONFIG_ERR_RANGE);
	ck_assert_int_eq(config_parse_uint("4", 5, 10, &v), CONFIG_ERR_RANGE);
	ck_assert_int_eq(config_parse_uint("", 0, 10, &v), CONFIG_ERR_NUMBER);
	ck_assert_int_eq(config_parse_uint("+1", 0, 10, &v), CONFIG_ERR_NUMBER);
	ck_assert_int_eq(config_parse_uint(" 1", 0, 10, &v), CONFIG_ERR_NUMBER);
	ck_assert_int_eq(config_parse_uint("1 ", 0, 10, &v), CONFIG_ERR_NUMBER);
	ck_assert_int_eq(config_parse_uint("-0", 0, 10, &v), CONFIG_ERR_NUMBER);
	ck_assert_int_eq(config_parse_uint(NULL, 0, 10, &v), CONFIG_ERR_ARG);
}
END_TEST

START_TEST(test_hosts)
{
	ck_assert_int_eq(config_check_host("127.0.0.1"), CONFIG_OK);
	ck_assert_int_eq(config_check_host("::1"), CONFIG_OK);
	ck_assert_int_eq(config_check_host("fe80::1:2"), CONFIG_OK);
	ck_assert_int_eq(config_check_host("localhost"), CONFIG_OK);
	ck_assert_int_eq(config_check_host("a-b.example.org"), CONFIG_OK);
	ck_assert_int_eq(config_check_host(""), CONFIG_ERR_VALUE);
	ck_assert_int_eq(config_check_host("256.1.1.1"), CONFIG_ERR_VALUE);
	ck_assert_int_eq(config_check_host("1.2.3"), CONFIG_ERR_VALUE);
	ck_assert_int_eq(config_check_host("-a.org"), CONFIG_ERR_VALUE);
	ck_assert_int_eq(config_check_host("a-.org"), CONFIG_ERR_VALUE);
	ck_assert_int_eq(config_check_host("a..org"), CONFIG_ERR_VALUE);
	ck_assert_int_eq(config_check_host("a.org."), CONFIG_ERR_VALUE);
	ck_assert_int_eq(config_check_host("a b"), CONFIG_ERR_VALUE);
	ck_assert_int_eq(config_check_host("[::1]"), CONFIG_ERR_VALUE);
	char longlabel[80];
	memset(longlabel, 'a', 64);
	longlabel[64] = '\0';
	ck_assert_int_eq(config_check_host(longlabel), CONFIG_ERR_VALUE);
	longlabel[63] = '\0';
	ck_assert_int_eq(config_check_host(longlabel), CONFIG_OK);
}
END_TEST

START_TEST(test_unknown_section_and_key)
{
	struct config_errors e;

	load_edit(7, "batch_max_request = 100", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_KEY, 7, "unknown key 'batch_max_request' in [group]");

	load_edit(22, "Port = 1", &e);
	expect_err(&e, 0, CONFIG_ERR_KEY, 22, "unknown key 'Port' in [replica 0]");

	/* The keys of an unknown section are not reported again. */
	load_edit(43, "[groups]\nfoo = 1\nbar = 2", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_SECTION, 43,
		   "unknown section [groups] (expected [group], [replica I] or [client])");

	load_edit(43, "[replica]", &e);
	expect_err(&e, 0, CONFIG_ERR_SECTION, 43, "section [replica] needs an id, e.g. [replica 0]");

	load_edit(43, "[replica x1]", &e);
	expect_err(&e, 0, CONFIG_ERR_NUMBER, 43, "replica id 'x1' is not an integer from 0 to 63");

	load_edit(43, "[replica 64]", &e);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 43, "replica id '64' is not an integer from 0 to 63");

	/* A key before any section. */
	struct bw_config c;
	char *t = malloc(strlen(base) + 16);
	ck_assert_ptr_nonnull(t);
	sprintf(t, "stray = 1\n%s", base);
	ck_assert_int_eq(load_text(t, &c, &e), CONFIG_ERR_INVALID);
	expect_err(&e, 0, CONFIG_ERR_SECTION, 1, "key 'stray' appears before any section");
	free(t);

	/* Non-printable names are shown escaped. */
	load_edit(22, "k\x01\x7f = 1", &e);
	expect_err(&e, 0, CONFIG_ERR_KEY, 22, "unknown key 'k\\x01\\x7f' in [replica 0]");
}
END_TEST

START_TEST(test_duplicates)
{
	struct config_errors e;

	load_edit(4, "id = 43", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_DUPLICATE, 4, "duplicate key 'id' (first set on line 2)");

	load_edit(22, "[replica 0]", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_SECTION, 22, "duplicate section [replica 0] (first on line 16)");

	load_edit(43, "[group]\nid = 5", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_SECTION, 43, "duplicate section [group] (first on line 1)");
}
END_TEST

START_TEST(test_replica_count)
{
	struct config_errors e;

	/* f = 2 needs 7 replicas. */
	load_edit(3, "f = 2", &e);
	ck_assert_uint_eq(e.count, 4);
	expect_err(&e, 0, CONFIG_ERR_REPLICAS, 1,
		   "f = 2 needs n = 3f+1 = 7 replicas, found 4 [replica I] sections");
	expect_err(&e, 1, CONFIG_ERR_REPLICAS, 1,
		   "missing section [replica 4] (replica ids must be 0..6)");
	expect_err(&e, 3, CONFIG_ERR_REPLICAS, 1,
		   "missing section [replica 6] (replica ids must be 0..6)");

	/* Ids not contiguous: 0, 1, 2, 9. */
	load_edit(37, "[replica 9]", &e);
	ck_assert_uint_eq(e.count, 2);
	expect_err(&e, 0, CONFIG_ERR_REPLICAS, 1,
		   "missing section [replica 3] (replica ids must be 0..3)");
	expect_err(&e, 1, CONFIG_ERR_REPLICAS, 37,
		   "replica id 9 is out of range: f = 1 allows ids 0..3");

	/* Only three replicas. */
	struct bw_config c;
	char *t = strdup(base);
	ck_assert_ptr_nonnull(t);
	for (unsigned l = 37; l <= 42; l++) {
		char *t2 = edit(t, l, ";");
		free(t);
		t = t2;
	}
	ck_assert_int_eq(load_text(t, &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 2);
	expect_err(&e, 0, CONFIG_ERR_REPLICAS, 1,
		   "f = 1 needs n = 3f+1 = 4 replicas, found 3 [replica I] sections");
	expect_err(&e, 1, CONFIG_ERR_REPLICAS, 1,
		   "missing section [replica 3] (replica ids must be 0..3)");
	free(t);
}
END_TEST

START_TEST(test_addresses)
{
	struct config_errors e;

	/* Replica 2 moves to 127.0.0.1, where replica 0 already has 7000 and 8000. */
	load_edit(31, "host = 127.0.0.1", &e);
	ck_assert_uint_eq(e.count, 2);
	expect_err(&e, 0, CONFIG_ERR_ADDRESS, 32,
		   "port: 127.0.0.1:7000 is already the port of [replica 0] (line 18)");
	expect_err(&e, 1, CONFIG_ERR_ADDRESS, 33,
		   "http_port: 127.0.0.1:8000 is already the http_port of [replica 0] (line 19)");

	load_edit(25, "port = 8000", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_ADDRESS, 25,
		   "port: 127.0.0.1:8000 is already the http_port of [replica 0] (line 19)");

	load_edit(19, "http_port = 7000", &e);
	expect_err(&e, 0, CONFIG_ERR_ADDRESS, 19, "http_port 7000 is the same as port");

	/* IPv6 hosts are shown in brackets. */
	char *t1 = edit(base, 38, "host = ::1");
	char *t2 = edit(t1, 39, "port = 8000");
	struct bw_config c;
	ck_assert_int_eq(load_text(t2, &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_ADDRESS, 39,
		   "port: [::1]:8000 is already the http_port of [replica 2] (line 33)");
	free(t1);
	free(t2);

	/* Host names compare without regard to case. */
	t1 = edit(base, 24, "host = Node3.Example.ORG");
	t2 = edit(t1, 25, "port = 7003");
	ck_assert_int_eq(load_text(t2, &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_ADDRESS, 39,
		   "port: node3.example.org:7003 is already the port of [replica 1] (line 25)");
	free(t1);
	free(t2);
}
END_TEST

START_TEST(test_bad_values)
{
	struct config_errors e;

	load_edit(12, "client_auth = mac", &e);
	expect_err(&e, 0, CONFIG_ERR_VALUE, 12,
		   "client_auth: 'mac' is neither 'macs' nor 'signatures'");

	load_edit(17, "host = 999.1.1.1", &e);
	expect_err(&e, 0, CONFIG_ERR_VALUE, 17,
		   "host: '999.1.1.1' is not an IP address or host name");

	load_edit(46, "read_quorum = 3f+1", &e);
	expect_err(&e, 0, CONFIG_ERR_VALUE, 46,
		   "read_quorum: '3f+1' is not f+1, 2f+1 or an integer from 1 to 64");

	load_edit(46, "read_quorum = 1", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 46, "read_quorum = 1 must be between f+1 = 2 and n = 4");

	load_edit(13, "data_dir =", &e);
	expect_err(&e, 0, CONFIG_ERR_VALUE, 13, "data_dir: empty path");
}
END_TEST

START_TEST(test_log_window_and_pipeline)
{
	struct config_errors e;
	struct bw_config c;

	load_edit(6, "log_window = 100", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 6,
		   "log_window = 100 is not a multiple of checkpoint_interval = 64");

	load_edit(6, "log_window = 64", &e);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 6,
		   "log_window = 64 must be at least twice checkpoint_interval = 64 (so ordering "
		   "does not stall while a checkpoint becomes stable)");

	/* log_window left at its default: blamed on the section header. */
	char *t1 = edit(base, 6, ";");
	char *t2 = edit(t1, 5, "checkpoint_interval = 100");
	ck_assert_int_eq(load_text(t2, &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 1,
		   "log_window = 128 is not a multiple of checkpoint_interval = 100");
	free(t1);
	free(t2);

	load_edit(9, "pipeline = 500", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 9, "pipeline = 500 exceeds log_window = 192");
}
END_TEST

/* 2f+1 worst-case VIEW-CHANGEs (log_window full batches each) must fit one message. */
START_TEST(test_view_change_size)
{
	struct bw_config c;
	struct config_errors e;

	/* f = 1, L = 192: 1 MiB batches make a NEW-VIEW of 3 x (148 + 204 + 192 x 96 +
	 * 192 x (60 + 1048576) + 4) + 144 + 40 x 192 bytes; the most that fits is 232845. */
	load_edit(8, "batch_max_bytes = 1048576", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_RANGE, 8,
		   "log_window = 192 x batch_max_bytes = 1048576: a worst-case NEW-VIEW (2f+1 = 3 "
		   "full VIEW-CHANGEs) is 604078524 bytes, above the 134217728-byte message limit; "
		   "lower batch_max_bytes (at most 232845 with this log_window) or log_window");
	ck_assert_uint_eq(config_fit_batch_bytes(1, 192), 232845);

	/* The boundary: the largest fitting value loads, one byte more does not. */
	char *t = edit(base, 8, "batch_max_bytes = 232845");
	ck_assert_int_eq(load_text(t, &c, &e), CONFIG_OK);
	config_free(&c);
	free(t);
	load_edit(8, "batch_max_bytes = 232846", &e);
	ck_assert_uint_eq(e.count, 1);
	ck_assert_int_eq(e.item[0].code, CONFIG_ERR_RANGE);
	ck_assert_uint_eq(e.item[0].line, 8);

	/* batch_max_bytes left at its default: blamed on log_window's line. */
	char *t1 = edit(base, 8, ";");
	char *t2 = edit(t1, 6, "log_window = 1024");
	ck_assert_int_eq(load_text(t2, &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 1);
	ck_assert_int_eq(e.item[0].code, CONFIG_ERR_RANGE);
	ck_assert_uint_eq(e.item[0].line, 6);
	ck_assert_ptr_nonnull(strstr(e.item[0].text, "log_window = 1024 x batch_max_bytes = 262144"));
	free(t1);
	free(t2);

	/* The defaults fit with f = 1 (see test_defaults) but not with f = 2. */
	ck_assert_uint_ge(config_fit_batch_bytes(1, 128), 262144);
	ck_assert_uint_lt(config_fit_batch_bytes(2, 128), 262144);
	ck_assert_uint_eq(config_fit_batch_bytes(1, 0), 0);
	/* A window so large that no batch fits: the advice is a smaller window. */
	ck_assert_uint_eq(config_fit_batch_bytes(21, 1u << 22), 0);
}
END_TEST

START_TEST(test_missing_keys)
{
	struct config_errors e;

	load_edit(3, "; f removed", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_MISSING, 1, "[group] lacks required key 'f'");

	load_edit(17, ";", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_MISSING, 16, "[replica 0] lacks required key 'host'");

	load_edit(14, ";", &e);
	expect_err(&e, 0, CONFIG_ERR_MISSING, 1, "[group] lacks required key 'admin_key'");

	struct bw_config c;
	ck_assert_int_eq(load_text("; nothing here\n", &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 2);
	expect_err(&e, 0, CONFIG_ERR_MISSING, 0, "missing section [group]");
	expect_err(&e, 1, CONFIG_ERR_MISSING, 0, "no [replica I] sections");
}
END_TEST

START_TEST(test_key_files)
{
	struct config_errors e;
	char want[CONFIG_ERROR_LEN];

	load_edit(27, "public_key = keys/nothere.pub", &e);
	ck_assert_uint_eq(e.count, 1);
	ck_assert_int_eq(e.item[0].code, CONFIG_ERR_KEYFILE);
	ck_assert_uint_eq(e.item[0].line, 27);
	snprintf(want, sizeof(want), "%s:27: public_key: %s/keys/nothere.pub", cfg_path, tdir);
	ck_assert_msg(strncmp(e.item[0].text, want, strlen(want)) == 0, "got %s", e.item[0].text);

	load_edit(14, "admin_key = keys/garbage.pub", &e);
	ck_assert_uint_eq(e.count, 1);
	ck_assert_int_eq(e.item[0].code, CONFIG_ERR_KEYFILE);
	ck_assert_uint_eq(e.item[0].line, 14);

	load_edit(27, "public_key = keys/r0.pub", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_KEYMISMATCH, 27,
		   "public_key is the same key as [replica 0]'s (line 20); every replica needs "
		   "its own key");

	load_edit(14, "admin_key = keys/r3.pub", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_KEYMISMATCH, 14,
		   "admin_key is the same key as [replica 3]'s public_key (line 41)");
}
END_TEST

START_TEST(test_private_keys)
{
	struct bw_config c;
	struct config_errors e;
	struct crypto_ed25519_key k;
	char p[PATH_MAX];

	ck_assert_int_eq(load_text(base, &c, &e), CONFIG_OK);
	ck_assert_int_eq(config_load_private_key(&c, 0, &k, &e), CONFIG_OK);
	ck_assert_mem_eq(k.pub, pubs[0], CRYPTO_ED25519_PUB);
	ck_assert_int_eq(k.has_private, 1);
	crypto_ed25519_free(&k);
	ck_assert_uint_eq(e.count, 0);

	ck_assert_int_eq(config_load_private_key(&c, 3, &k, &e), CONFIG_ERR_MISSING);
	expect_err(&e, 0, CONFIG_ERR_MISSING, 37,
		   "[replica 3] has no private_key (needed to run replica 3)");
	ck_assert_int_eq(config_load_private_key(&c, 4, &k, &e), CONFIG_ERR_ARG);

	snprintf(p, sizeof(p), "%s/keys/r0.key", tdir);
	ck_assert_int_eq(chmod(p, 0644), 0);
	config_errors_init(&e);
	ck_assert_int_eq(config_load_private_key(&c, 0, &k, &e), CONFIG_ERR_KEYPERM);
	ck_assert_uint_eq(e.item[0].line, 21);
	ck_assert_int_eq(chmod(p, 0600), 0);
	config_free(&c);

	/* Replica 0 pointed at replica 1's private key. */
	char *t = edit(base, 21, "private_key = keys/r1.key");
	ck_assert_int_eq(load_text(t, &c, &e), CONFIG_OK);
	ck_assert_int_eq(config_load_private_key(&c, 0, &k, &e), CONFIG_ERR_KEYMISMATCH);
	ck_assert_uint_eq(e.item[0].line, 21);
	ck_assert_int_eq(e.item[0].code, CONFIG_ERR_KEYMISMATCH);
	config_free(&c);
	free(t);

	t = edit(base, 21, "private_key = keys/missing.key");
	ck_assert_int_eq(load_text(t, &c, &e), CONFIG_OK);
	ck_assert_int_eq(config_load_private_key(&c, 0, &k, &e), CONFIG_ERR_KEYFILE);
	ck_assert_uint_eq(e.item[0].line, 21);
	config_free(&c);
	free(t);
}
END_TEST

START_TEST(test_syntax)
{
	struct config_errors e;
	char longline[400];

	load_edit(15, "this is not a key", &e);
	ck_assert_uint_eq(e.count, 1);
	expect_err(&e, 0, CONFIG_ERR_SYNTAX, 15, "expected 'key = value', '[section]' or a comment");

	load_edit(15, "text ; x = 1", &e);
	expect_err(&e, 0, CONFIG_ERR_SYNTAX, 15, "expected 'key = value', '[section]' or a comment");

	load_edit(15, "= 5", &e);
	expect_err(&e, 0, CONFIG_ERR_SYNTAX, 15, "missing key name before '='");

	load_edit(43, "[client", &e);
	expect_err(&e, 0, CONFIG_ERR_SYNTAX, 43, "section header lacks a closing ']'");

	load_edit(43, "[client] extra", &e);
	expect_err(&e, 0, CONFIG_ERR_SYNTAX, 43, "unexpected text after ']'");

	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "x = ", 4);
	longline[sizeof(longline) - 1] = '\0';
	load_edit(15, longline, &e);
	expect_err(&e, 0, CONFIG_ERR_TOOBIG, 15, "line is longer than 198 bytes");

	/* A NUL byte inside a line (through the buffer interface). */
	struct bw_config c;
	static const char nul[] = "[group]\nid = 1\0 2\n";
	config_errors_init(&e);
	ck_assert_int_eq(config_load_buffer("mem.ini", "/", nul, sizeof(nul) - 1, &c, &e),
			 CONFIG_ERR_INVALID);
	/* Sorted by line: the file-level and [group] errors come first. */
	ck_assert_uint_eq(e.count, 5);
	ck_assert_str_eq(e.item[0].text, "mem.ini: no [replica I] sections");
	ck_assert_str_eq(e.item[1].text, "mem.ini:1: [group] lacks required key 'id'");
	ck_assert_str_eq(e.item[2].text, "mem.ini:1: [group] lacks required key 'f'");
	ck_assert_str_eq(e.item[3].text, "mem.ini:1: [group] lacks required key 'admin_key'");
	ck_assert_str_eq(e.item[4].text, "mem.ini:2: line contains a NUL byte");
}
END_TEST

START_TEST(test_many_errors_bounded)
{
	struct bw_config c;
	struct config_errors e;
	char *t = malloc(64 * 100 + 16);
	ck_assert_ptr_nonnull(t);
	size_t n = (size_t)sprintf(t, "[group]\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(t + n, "bogus%d = 1\n", i);
	ck_assert_int_eq(load_text(t, &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, CONFIG_MAX_ERRORS);
	ck_assert_uint_gt(e.dropped, 100 - CONFIG_MAX_ERRORS);
	expect_err(&e, 0, CONFIG_ERR_KEY, 2, "unknown key 'bogus0' in [group]");
	expect_err(&e, 31, CONFIG_ERR_KEY, 33, "unknown key 'bogus31' in [group]");

	/* Several different errors in one file are all reported, in file order. */
	char *t1 = edit(base, 3, "f = x");
	char *t2 = edit(t1, 18, "port = 0");
	char *t3 = edit(t2, 45, "timeout = 5");
	ck_assert_int_eq(load_text(t3, &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 3);
	ck_assert_uint_eq(e.item[0].line, 3);
	ck_assert_uint_eq(e.item[1].line, 18);
	ck_assert_uint_eq(e.item[2].line, 45);

	/* Validation errors found late are still listed in line order. */
	char *t4 = edit(base, 6, "log_window = 100");
	char *t5 = edit(t4, 3, "f = 2");
	ck_assert_int_eq(load_text(t5, &c, &e), CONFIG_ERR_INVALID);
	ck_assert_uint_eq(e.count, 5);
	expect_err(&e, 0, CONFIG_ERR_REPLICAS, 1,
		   "f = 2 needs n = 3f+1 = 7 replicas, found 4 [replica I] sections");
	expect_err(&e, 4, CONFIG_ERR_RANGE, 6,
		   "log_window = 100 is not a multiple of checkpoint_interval = 64");
	free(t4);
	free(t5);
	free(t);
	free(t1);
	free(t2);
	free(t3);
}
END_TEST

START_TEST(test_relative_paths)
{
	struct bw_config c;
	struct config_errors e;
	char p[PATH_MAX], want[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/sub", tdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	static const struct {
		unsigned line;
		const char *text;
	} edits[] = {
		{13, "data_dir = state"},
		{14, "admin_key = ../keys/admin.pub"},
		{20, "public_key = ../keys/r0.pub"},
		{21, "private_key = ../keys/r0.key"},
		{27, "public_key = ../keys/r1.pub"},
		{28, "private_key = ../keys/r1.key"},
		{34, "public_key = ../keys/r2.pub"},
	};
	char *t2 = strdup(base);
	ck_assert_ptr_nonnull(t2);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *t = edit(t2, edits[i].line, edits[i].text);
		free(t2);
		t2 = t;
	}
	snprintf(p, sizeof(p), "%s/sub/c.ini", tdir);
	write_file(p, t2, strlen(t2));
	/* Loaded through a relative path, from another working folder. */
	ck_assert_int_eq(chdir(tdir), 0);
	config_errors_init(&e);
	ck_assert_int_eq(config_load("sub/c.ini", &c, &e), CONFIG_OK);
	ck_assert_str_eq(c.path, "sub/c.ini");
	snprintf(want, sizeof(want), "%s/sub", tdir);
	ck_assert_str_eq(c.dir, want);
	snprintf(want, sizeof(want), "%s/sub/../keys/admin.pub", tdir);
	ck_assert_str_eq(c.admin_key_path, want);
	snprintf(want, sizeof(want), "%s/sub/state", tdir);
	ck_assert_str_eq(c.data_dir, want);
	snprintf(want, sizeof(want), "%s/sub/state/replica1", tdir);
	ck_assert_str_eq(c.replicas[1].data_dir, want);
	snprintf(want, sizeof(want), "%s/sub/r2data", tdir);
	ck_assert_str_eq(c.replicas[2].data_dir, want);
	snprintf(want, sizeof(want), "%s/keys/r3.pub", tdir); /* absolute stays as is */
	ck_assert_str_eq(c.replicas[3].public_key_path, want);
	config_free(&c);
	free(t2);
}
END_TEST

START_TEST(test_file_errors)
{
	struct bw_config c;
	struct config_errors e;
	char p[PATH_MAX], want[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/absent.ini", tdir);
	config_errors_init(&e);
	ck_assert_int_eq(config_load(p, &c, &e), CONFIG_ERR_IO);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", p);
	ck_assert_str_eq(e.item[0].text, want);

	config_errors_init(&e);
	ck_assert_int_eq(config_load(tdir, &c, &e), CONFIG_ERR_IO);
	snprintf(want, sizeof(want), "%s: not a regular file", tdir);
	ck_assert_str_eq(e.item[0].text, want);

	size_t big = CONFIG_MAX_FILE_SIZE + 1;
	char *t = malloc(big);
	ck_assert_ptr_nonnull(t);
	memset(t, ';', big);
	snprintf(p, sizeof(p), "%s/big.ini", tdir);
	write_file(p, t, big);
	config_errors_init(&e);
	ck_assert_int_eq(config_load(p, &c, &e), CONFIG_ERR_TOOBIG);
	ck_assert_int_eq(e.item[0].code, CONFIG_ERR_TOOBIG);
	free(t);

	config_errors_init(&e);
	ck_assert_int_eq(config_load_buffer("x", "relative", "", 0, &c, &e), CONFIG_ERR_ARG);
	ck_assert_int_eq(config_load(NULL, &c, &e), CONFIG_ERR_ARG);
}
END_TEST

START_TEST(test_errors_print_and_strerror)
{
	struct config_errors e;
	char buf[4096];
	config_errors_init(&e);
	for (int i = 0; i < 40; i++)
		config_errors_add(&e, "f.ini", CONFIG_ERR_KEY, (unsigned)i + 1, "error %d", i);
	ck_assert_uint_eq(e.count, CONFIG_MAX_ERRORS);
	ck_assert_uint_eq(e.dropped, 8);
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	ck_assert_ptr_nonnull(f);
	config_errors_print(&e, f);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(buf, "f.ini:1: error 0\nf.ini:2: error 1\n"));
	ck_assert_ptr_nonnull(strstr(buf, "f.ini:32: error 31\n(8 more errors not shown)\n"));
	for (int code = 0; code >= CONFIG_ERR_INVALID; code--)
		ck_assert_str_ne(config_strerror(code), "unknown config error");
	ck_assert_str_eq(config_strerror(-999), "unknown config error");
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("common_config");
	TCase *tc = tcase_create("config");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_valid_all_fields);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_view_change_size);
	tcase_add_test(tc, test_lenient_layout);
	tcase_add_test(tc, test_bad_numbers);
	tcase_add_test(tc, test_parse_uint);
	tcase_add_test(tc, test_hosts);
	tcase_add_test(tc, test_unknown_section_and_key);
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_replica_count);
	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_log_window_and_pipeline);
	tcase_add_test(tc, test_missing_keys);
	tcase_add_test(tc, test_key_files);
	tcase_add_test(tc, test_private_keys);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_many_errors_bounded);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_errors_print_and_strerror);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(config_suite)
