/* test_core_trace.c: the core's tracer levels: lines below min_level are never passed,
 * trace_level is told each line's level, and a tracer with only trace sees every line. */
#include "tests/unit/test_core_harness.h"

static struct h H;

/* What a level-aware tracer received. */
struct lv_seen {
	uint32_t info, debug;
	int start_info;     /* a "start:" line came at INFO */
	int committed;      /* a "-> committed" line came (at any level) */
	int committed_info; /* one came at INFO (it must not: it is a debug decision) */
	int vc_info;        /* a "-> send VIEW-CHANGE" line came at INFO */
};
static struct lv_seen S;

static void lv_trace(void *ctx, uint32_t replica, enum pbft_trace_level level, const char *line)
{
	struct lv_seen *s = ctx;

	(void)replica;
	if (level == PBFT_TRACE_INFO)
		s->info++;
	else
		s->debug++;
	if (strstr(line, "start:") != NULL && level == PBFT_TRACE_INFO)
		s->start_info = 1;
	if (strstr(line, "-> committed") != NULL) {
		s->committed = 1;
		if (level == PBFT_TRACE_INFO)
			s->committed_info = 1;
	}
	if (strstr(line, "-> send VIEW-CHANGE") != NULL && level == PBFT_TRACE_INFO)
		s->vc_info = 1;
}

/* Every replica traces to lv_trace from min_level on (the plain trace callback unset). */
static void start_with(enum pbft_trace_level min_level)
{
	memset(&S, 0, sizeof(S));
	h_init(&H);
	for (uint32_t i = 0; i < H_N; i++) {
		H.cfg[i].tracer.ctx = &S;
		H.cfg[i].tracer.trace = NULL;
		H.cfg[i].tracer.trace_level = lv_trace;
		H.cfg[i].tracer.min_level = min_level;
	}
	h_start_all(&H);
}

static void teardown(void)
{
	h_fini(&H);
}

START_TEST(t_info_only)
{
	start_with(PBFT_TRACE_INFO);
	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	ck_assert_uint_eq(H.app[1].last_executed, 1);
	ck_assert_int_eq(S.start_info, 1);
	ck_assert_uint_eq(S.debug, 0);
	ck_assert_int_eq(S.committed, 0);
	/* A view change is an operator's business: it still comes through. */
	H.crashed[0] = 1;
	ck_assert(h_do(&H, 1, "a=2", 0, 10000));
	ck_assert_int_eq(S.vc_info, 1);
	ck_assert_uint_eq(S.debug, 0);
}
END_TEST

START_TEST(t_debug_and_info)
{
	start_with(PBFT_TRACE_DEBUG);
	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	ck_assert_int_eq(S.start_info, 1);
	ck_assert_int_eq(S.committed, 1);
	ck_assert_int_eq(S.committed_info, 0);
	ck_assert_uint_gt(S.debug, 0);
	ck_assert_uint_ge(S.info, H_N);
}
END_TEST

/* The harness's own set-up: only trace, min_level zero: every line, debug ones too. */
START_TEST(t_plain_trace_sees_all)
{
	h_init(&H);
	h_start_all(&H);
	ck_assert(h_traced(&H, "start:"));
	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	ck_assert(h_traced(&H, "-> committed"));
}
END_TEST

/* No callback at all: the core runs as usual and formats nothing. */
START_TEST(t_no_tracer)
{
	h_init(&H);
	for (uint32_t i = 0; i < H_N; i++) {
		H.cfg[i].tracer.trace = NULL;
		H.cfg[i].tracer.trace_level = NULL;
	}
	h_start_all(&H);
	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	ck_assert_uint_eq(H.ntrace, 0);
	for (uint32_t i = 0; i < H_N; i++)
		ck_assert_uint_eq(H.app[i].last_executed, 1);
}
END_TEST

static Suite *trace_suite(void)
{
	Suite *s = suite_create("core_trace");
	TCase *tc = tcase_create("levels");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, t_info_only);
	tcase_add_test(tc, t_debug_and_info);
	tcase_add_test(tc, t_plain_trace_sees_all);
	tcase_add_test(tc, t_no_tracer);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(trace_suite)
