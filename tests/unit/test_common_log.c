/* test_common_log.c: log line format, level filtering, value escaping, file sinks, threads. */
#include "tests/unit/unit.h"

#include "common/log.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int sink = -1;
static char out[2 * LOG_LINE_MAX];

/* The sink is an unlinked O_APPEND file, as a log file is: concurrent write(2)s
 * each land whole at the end. */
static void setup(void)
{
	char path[] = "/tmp/bulwark-test-log-sink-XXXXXX";
	sink = mkstemp(path);
	ck_assert_int_ge(sink, 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(fcntl(sink, F_SETFL, O_APPEND), 0);
	log_set_fd(sink);
	log_set_level(LOG_LEVEL_DEBUG);
}

static void teardown(void)
{
	log_set_fd(2);
	close(sink);
}

static off_t sink_size(void)
{
	struct stat st;
	ck_assert_int_eq(fstat(sink, &st), 0);
	return st.st_size;
}

/* Everything written to the sink since the last call, NUL-terminated. */
static const char *drain(void)
{
	off_t end = sink_size();
	ck_assert_int_lt(end, (off_t)sizeof(out));
	ck_assert_int_eq(pread(sink, out, (size_t)end, 0), end);
	out[end] = '\0';
	ck_assert_int_eq(ftruncate(sink, 0), 0);
	return out;
}

/* The line without its timestamp, after checking the timestamp's shape. */
static const char *body(const char *line)
{
	regex_t re;
	ck_assert_int_eq(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
				      "\\.[0-9]{3}Z ", REG_EXTENDED | REG_NOSUB), 0);
	int rc = regexec(&re, line, 0, NULL, 0);
	regfree(&re);
	ck_assert_msg(rc == 0, "bad timestamp in: %s", line);
	return strchr(line, ' ') + 1;
}

START_TEST(test_format)
{
	unsigned long long view = 3;
	unsigned primary = 3;
	log_msg(LOG_LEVEL_INFO, "replica", "view change", "view=%llu primary=%u", view, primary);
	ck_assert_str_eq(body(drain()), "info replica msg=\"view change\" view=3 primary=3\n");

	log_error("net", "closed", NULL);
	ck_assert_str_eq(body(drain()), "error net msg=closed\n");

	log_warn("store", "slow write", "ms=%d path=%s", -5, "/var/lib/x");
	ck_assert_str_eq(body(drain()), "warn store msg=\"slow write\" ms=-5 path=/var/lib/x\n");

	log_debug("core", "", NULL);
	ck_assert_str_eq(body(drain()), "debug core msg=\"\"\n");
}
END_TEST

START_TEST(test_conversions)
{
	log_info("t", "n", "a=%d b=%u c=%llu d=%zu e=%x f=%X g=%o h=%hhu i=%hd j=%ld k=%jd l=%td "
		 "m=%lld pct=%% s=%.3s c=%c", INT32_MIN, 7u, (unsigned long long)UINT64_MAX,
		 (size_t)12, 255u, 255u, 8u, (unsigned char)200, (short)-2, -3L, (intmax_t)-4,
		 (ptrdiff_t)5, -6LL, "abcdef", 'z');
	ck_assert_str_eq(body(drain()),
			 "info t msg=n a=-2147483648 b=7 c=18446744073709551615 d=12 e=ff f=FF "
			 "g=10 h=200 i=-2 j=-3 k=-4 l=5 m=-6 pct=% s=abc c=z\n");

	/* Width and flags are accepted and ignored; '*' consumes its argument. */
	log_info("t", "n", "a=%5d b=%-3u c=%*d d=%.*s", 1, 2u, 9, 3, 2, "xyz");
	ck_assert_str_eq(body(drain()), "info t msg=n a=1 b=2 c=3 d=xy\n");

	/* An unsupported conversion ends the fields. */
	log_info("t", "n", "a=%d b=%f c=%d", 1, 2.0, 3);
	ck_assert_str_eq(body(drain()), "info t msg=n a=1 b=%!\n");

	const char *volatile null = NULL; /* hidden from -Wformat-overflow */
	log_info("t", "n", "s=%s", null);
	ck_assert_str_eq(body(drain()), "info t msg=n s=(null)\n");
}
END_TEST

START_TEST(test_filtering)
{
	int evaluated = 0;
	log_set_level(LOG_LEVEL_WARN);
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_WARN);
	log_debug("t", "d", "n=%d", ++evaluated);
	log_info("t", "i", "n=%d", ++evaluated);
	ck_assert_int_eq(evaluated, 0); /* arguments are not even evaluated */
	ck_assert_str_eq(drain(), "");
	log_warn("t", "w", NULL);
	log_error("t", "e", NULL);
	const char *all = drain();
	ck_assert_ptr_nonnull(strstr(all, " warn t msg=w\n"));
	ck_assert_ptr_nonnull(strstr(all, " error t msg=e\n"));
	ck_assert_int_eq(log_enabled(LOG_LEVEL_INFO), 0);
	ck_assert_int_eq(log_enabled(LOG_LEVEL_ERROR), 1);

	log_set_level(LOG_LEVEL_ERROR);
	log_warn("t", "w", NULL);
	ck_assert_str_eq(drain(), "");
	log_set_level((enum log_level)42); /* ignored */
	ck_assert_int_eq(log_get_level(), LOG_LEVEL_ERROR);
}
END_TEST

START_TEST(test_escaping)
{
	log_info("t", "say \"hi\"", "a=%s b=%s c=%s d=%s e=%s f=%s g=%c h=%c", "two words",
		 "q\"uote", "back\\slash", "line\nbreak\r\ttab", "", "k=v", ' ', '\x01');
	ck_assert_str_eq(body(drain()),
			 "info t msg=\"say \\\"hi\\\"\" a=\"two words\" b=\"q\\\"uote\" "
			 "c=\"back\\\\slash\" d=\"line\\nbreak\\r\\ttab\" e=\"\" f=\"k=v\" "
			 "g=\" \" h=\"\\x01\"\n");

	/* Non-ASCII and DEL bytes are escaped, so a line is always plain ASCII. */
	log_info("comp onent", "m", "u=%s", "caf\xc3\xa9\x7f\x1b[2J");
	ck_assert_str_eq(body(drain()),
			 "info \"comp onent\" msg=m u=\"caf\\xc3\\xa9\\x7f\\x1b[2J\"\n");

	char buf[16];
	ck_assert_uint_eq(log_escape_value(buf, sizeof(buf), "plain"), 5);
	ck_assert_str_eq(buf, "plain");
	ck_assert_uint_eq(log_escape_value(buf, sizeof(buf), "a b"), 5);
	ck_assert_str_eq(buf, "\"a b\"");
	ck_assert_uint_eq(log_escape_value(buf, sizeof(buf), ""), 2);
	ck_assert_str_eq(buf, "\"\"");
	/* Too small: cut, NUL-terminated, full length returned. */
	ck_assert_uint_eq(log_escape_value(buf, 4, "a b c"), 7);
	ck_assert_str_eq(buf, "\"a ");
	ck_assert_uint_eq(log_escape_value(NULL, 0, "\n"), 4);
}
END_TEST

START_TEST(test_long_line_cut)
{
	char *big = malloc(3 * LOG_LINE_MAX);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 3 * LOG_LINE_MAX - 1);
	big[3 * LOG_LINE_MAX - 1] = '\0';
	log_info("t", "big", "v=%s after=%d", big, 1);
	const char *line = drain();
	ck_assert_uint_eq(strlen(line), LOG_LINE_MAX);
	ck_assert_str_eq(line + LOG_LINE_MAX - 4, "...\n");
	ck_assert_ptr_null(strstr(line, "after="));
	free(big);
}
END_TEST

START_TEST(test_levels)
{
	enum log_level l;
	ck_assert_int_eq(log_parse_level("debug", &l), LOG_OK);
	ck_assert_int_eq(l, LOG_LEVEL_DEBUG);
	ck_assert_int_eq(log_parse_level("warning", &l), LOG_OK);
	ck_assert_int_eq(l, LOG_LEVEL_WARN);
	ck_assert_int_eq(log_parse_level("error", &l), LOG_OK);
	ck_assert_int_eq(l, LOG_LEVEL_ERROR);
	ck_assert_int_eq(log_parse_level("INFO", &l), LOG_ERR_ARG);
	ck_assert_int_eq(log_parse_level("", &l), LOG_ERR_ARG);
	ck_assert_str_eq(log_level_name(LOG_LEVEL_INFO), "info");
	ck_assert_str_eq(log_level_name((enum log_level)9), "unknown");
	ck_assert_str_eq(log_strerror(LOG_ERR_NOFILE), "not logging to a file");
	ck_assert_str_eq(log_strerror(-77), "unknown log error");
}
END_TEST

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

START_TEST(test_file_and_reopen)
{
	char dir[] = "/tmp/bulwark-test-log-XXXXXX";
	char path[64], rotated[64], cmd[96];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b.log", dir);
	snprintf(rotated, sizeof(rotated), "%s/b.log.1", dir);

	ck_assert_int_eq(log_reopen(), LOG_ERR_NOFILE);
	ck_assert_int_eq(log_open_file("/nonexistent-dir/x.log"), LOG_ERR_OPEN);
	ck_assert_int_eq(log_open_file(path), LOG_OK);
	log_info("t", "first", NULL);
	ck_assert_int_eq(rename(path, rotated), 0);
	log_info("t", "second", NULL); /* still goes to the renamed file */
	ck_assert_int_eq(log_reopen(), LOG_OK);
	log_info("t", "third", NULL);

	const char *old = slurp(rotated);
	ck_assert_ptr_nonnull(strstr(old, "msg=first\n"));
	ck_assert_ptr_nonnull(strstr(old, "msg=second\n"));
	ck_assert_ptr_null(strstr(old, "third"));
	const char *now = slurp(path);
	ck_assert_ptr_nonnull(strstr(now, "msg=third\n"));
	ck_assert_ptr_null(strstr(now, "first"));

	/* Opening another file keeps the descriptor number and replaces the target. */
	snprintf(rotated, sizeof(rotated), "%s/c.log", dir);
	ck_assert_int_eq(log_open_file(rotated), LOG_OK);
	log_info("t", "fourth", NULL);
	ck_assert_ptr_nonnull(strstr(slurp(rotated), "msg=fourth\n"));
	ck_assert_ptr_null(strstr(slurp(path), "fourth"));

	log_set_fd(sink);
	ck_assert_int_eq(log_reopen(), LOG_ERR_NOFILE);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

#define THREADS 4
#define LINES_PER_THREAD 300

static void *writer(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_info("thread", "a fairly long message to make interleaving likely",
			 "thread=%d i=%d pad=%s", id, i,
			 "................................................................");
	return NULL;
}

START_TEST(test_threads_one_write_per_line)
{
	pthread_t t[THREADS];
	static char all[THREADS * LINES_PER_THREAD * 256];
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	off_t end = sink_size();
	ck_assert_int_lt(end, (off_t)sizeof(all));
	ck_assert_int_eq(pread(sink, all, (size_t)end, 0), end);
	all[end] = '\0';
	int lines = 0;
	for (char *p = all, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		const char *b = body(p);
		ck_assert_msg(strncmp(b, "info thread msg=\"a fairly long message", 38) == 0,
			      "mangled line: %s", p);
		ck_assert_ptr_nonnull(strstr(b, " pad=......"));
		lines++;
	}
	ck_assert_int_eq(lines, THREADS * LINES_PER_THREAD);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("common_log");
	TCase *tc = tcase_create("log");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_conversions);
	tcase_add_test(tc, test_filtering);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_long_line_cut);
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_file_and_reopen);
	tcase_add_test(tc, test_threads_one_write_per_line);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(log_suite)
