/* selftest.c: `bulwark-bench selftest`: checks the histogram and the /proc and CSV helpers
 * against known answers; exits non-zero on the first failure. */
#include "bench/bench.h"
#include "bench/hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ST_N 200000u

static int st_failed;

#define ST_CHECK(cond, ...)                                                  \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "selftest: %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
			st_failed++;                                         \
		}                                                            \
	} while (0)

static uint64_t st_rng = 88172645463325252ull;

static double st_uniform(void)
{
	st_rng ^= st_rng << 13;
	st_rng ^= st_rng >> 7;
	st_rng ^= st_rng << 17;
	return ((double)(st_rng >> 11) + 0.5) * 0x1.0p-53; /* (0, 1) */
}

static int st_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every bucket holds its values, and is no wider than 1/HALF of its lower bound. */
static void st_buckets(void)
{
	uint64_t lo, hi, prev_hi = 0;

	for (uint32_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
		bench_hist_bounds(i, &lo, &hi);
		ST_CHECK(i == 0 || lo == prev_hi + 1, "bucket %u starts at %llu, not %llu", i,
			 (unsigned long long)lo, (unsigned long long)prev_hi + 1);
		ST_CHECK(bench_hist_index(lo) == i && bench_hist_index(hi) == i,
			 "bucket %u: bounds map to %u and %u", i, bench_hist_index(lo),
			 bench_hist_index(hi));
		ST_CHECK(lo < 2u * BENCH_HIST_HALF || (double)(hi - lo + 1) <= (double)lo / BENCH_HIST_HALF,
			 "bucket %u [%llu, %llu] is too wide", i, (unsigned long long)lo,
			 (unsigned long long)hi);
		prev_hi = hi;
	}
	ST_CHECK(prev_hi == BENCH_HIST_LIMIT - 1, "the last bucket ends at %llu",
		 (unsigned long long)prev_hi);
}

/* Small values are exact. */
static void st_exact(void)
{
	static struct bench_hist h;

	bench_hist_reset(&h);
	ST_CHECK(bench_hist_quantile(&h, 0.5) == 0 && h.total == 0, "empty histogram");
	for (uint64_t v = 1; v <= 100; v++)
		bench_hist_record(&h, v);
	ST_CHECK(bench_hist_quantile(&h, 0.5) == 50, "p50 of 1..100 is %llu",
		 (unsigned long long)bench_hist_quantile(&h, 0.5));
	ST_CHECK(bench_hist_quantile(&h, 0.99) == 99, "p99 of 1..100");
	ST_CHECK(bench_hist_quantile(&h, 1.0) == 100 && h.max == 100 && h.min == 1, "max, min");
	ST_CHECK(bench_hist_quantile(&h, 0.0) == 1, "p0 is the min");
	ST_CHECK(fabs(bench_hist_mean(&h) - 50.5) < 1e-9, "mean of 1..100");
}

/* Quantiles of a distribution against the sorted sample, within the stated error. */
static void st_distribution(const char *name, double (*draw)(void))
{
	static struct bench_hist h, a, b;
	static uint64_t v[ST_N];
	static const double qs[] = { 0.5, 0.9, 0.99, 0.999, 0.9999 };

	bench_hist_reset(&h);
	bench_hist_reset(&a);
	bench_hist_reset(&b);
	for (uint32_t i = 0; i < ST_N; i++) {
		v[i] = (uint64_t)draw();
		bench_hist_record(&h, v[i]);
		bench_hist_record(i % 3 ? &a : &b, v[i]);
	}
	qsort(v, ST_N, sizeof(v[0]), st_cmp);
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		uint64_t exact = v[(size_t)ceil(qs[k] * ST_N) - 1];
		uint64_t got = bench_hist_quantile(&h, qs[k]);
		double err = fabs((double)got - (double)exact) / (double)exact;
		ST_CHECK(err <= BENCH_HIST_REL_ERR, "%s: q%.4f: %llu, exact %llu (error %.5f > %.5f)",
			 name, qs[k], (unsigned long long)got, (unsigned long long)exact, err,
			 BENCH_HIST_REL_ERR);
	}
	ST_CHECK(bench_hist_quantile(&h, 1.0) == v[ST_N - 1], "%s: max", name);
	/* Merging two halves gives the same histogram as recording everything in one. */
	bench_hist_merge(&a, &b);
	ST_CHECK(memcmp(a.counts, h.counts, sizeof(h.counts)) == 0 && a.total == h.total &&
			 a.min == h.min && a.max == h.max && a.overflow == h.overflow,
		 "%s: merged halves differ from the whole", name);
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++)
		ST_CHECK(bench_hist_quantile(&a, qs[k]) == bench_hist_quantile(&h, qs[k]),
			 "%s: merged q%.4f differs", name, qs[k]);
}

static double st_draw_uniform(void) /* 1 us .. 10 ms */
{
	return 1e3 + st_uniform() * (1e7 - 1e3);
}

static double st_draw_exponential(void) /* mean 200 us */
{
	return 1.0 - 2e5 * log(st_uniform());
}

static double st_draw_lognormal(void) /* median 1 ms, a long tail */
{
	double z = sqrt(-2.0 * log(st_uniform())) * cos(2.0 * M_PI * st_uniform());

	return 1e6 * exp(1.5 * z);
}

static void st_overflow(void)
{
	static struct bench_hist h, g;

	bench_hist_reset(&h);
	bench_hist_record(&h, 100);
	bench_hist_record(&h, BENCH_HIST_LIMIT);
	bench_hist_record(&h, BENCH_HIST_LIMIT * 4u + 7u);
	ST_CHECK(h.overflow == 2 && h.total == 3, "overflow count %llu, total %llu",
		 (unsigned long long)h.overflow, (unsigned long long)h.total);
	ST_CHECK(bench_hist_quantile(&h, 0.1) == 100, "q0.1 below the overflow");
	ST_CHECK(bench_hist_quantile(&h, 0.9) == BENCH_HIST_LIMIT * 4u + 7u,
		 "a quantile in the overflow bucket is the exact max");
	bench_hist_reset(&g);
	bench_hist_merge(&g, &h);
	ST_CHECK(g.overflow == 2 && g.total == 3 && g.max == h.max, "overflow survives a merge");
}

static void st_stat(void)
{
	unsigned long long t = 0;
	double s = -1;

	ST_CHECK(bench_parse_stat("1234 (a b) c) S 1 2 3 4 5 6 7 8 9 10 25 17 0 0 20 0 1 0",
				  &t) == 0 && t == 42,
		 "stat line with ') ' in the name: %llu", t);
	ST_CHECK(bench_parse_stat("1234 (x) S 1 2 3", &t) != 0, "truncated stat line accepted");
	ST_CHECK(bench_parse_stat("no parenthesis", &t) != 0, "stat line without a name accepted");
	ST_CHECK(bench_parse_stat("1 (x) S 1 2 3 4 5 6 7 8 9 10 -1 2", &t) != 0,
		 "negative utime accepted");
	ST_CHECK(bench_proc_cpu(getpid(), &s) == 0 && s >= 0, "own /proc/PID/stat");
}

/* /proc/stat's "cpu" line: busy = user + nice + system + irq + softirq; the shares of
 * an interval add up to 100 and refuse a counter that went back or no time at all. */
static void st_machine(void)
{
	struct bench_cpu_ticks a, b, now;
	double pct[BENCH_CPU_STATES];

	ST_CHECK(bench_parse_cpu_line("cpu  100 10 50 800 20 5 15 40 7 0\n", &a) == 0 &&
			 a.t[BENCH_CPU_BUSY] == 180 && a.t[BENCH_CPU_IDLE] == 800 &&
			 a.t[BENCH_CPU_IOWAIT] == 20 && a.t[BENCH_CPU_STEAL] == 40,
		 "cpu line: busy %llu idle %llu iowait %llu steal %llu", a.t[BENCH_CPU_BUSY],
		 a.t[BENCH_CPU_IDLE], a.t[BENCH_CPU_IOWAIT], a.t[BENCH_CPU_STEAL]);
	ST_CHECK(bench_parse_cpu_line("cpu  1 2 3 4 5 6 7\n", &b) != 0,
		 "seven counters accepted");
	ST_CHECK(bench_parse_cpu_line("cpu0 1 2 3 4 5 6 7 8\n", &b) != 0,
		 "a single CPU's line accepted");
	ST_CHECK(bench_parse_cpu_line("cpu  1 2 3 -4 5 6 7 8\n", &b) != 0,
		 "negative idle accepted");
	ST_CHECK(bench_parse_cpu_line("cpu  130 10 70 860 50 5 25 50\n", &b) == 0,
		 "cpu line without guest fields");
	/* From a to b: busy 60, idle 60, iowait 30, steal 10 of 160 ticks. */
	ST_CHECK(bench_cpu_shares(&a, &b, pct) == 0 && pct[BENCH_CPU_BUSY] == 37.5 &&
			 pct[BENCH_CPU_IDLE] == 37.5 && pct[BENCH_CPU_IOWAIT] == 18.75 &&
			 pct[BENCH_CPU_STEAL] == 6.25,
		 "shares %.2f %.2f %.2f %.2f", pct[0], pct[1], pct[2], pct[3]);
	pct[BENCH_CPU_BUSY] = -1;
	ST_CHECK(bench_cpu_shares(&b, &a, pct) != 0 && pct[BENCH_CPU_BUSY] == -1,
		 "counters going back accepted, or the shares changed");
	ST_CHECK(bench_cpu_shares(&a, &a, pct) != 0, "an interval without ticks accepted");
	ST_CHECK(bench_machine_ticks(&now) == 0 && now.t[BENCH_CPU_BUSY] > 0, "own /proc/stat");
}

static void st_csv(void)
{
	char buf[64];
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	if (f == NULL) {
		ST_CHECK(0, "fmemopen failed");
		return;
	}
	bench_csv_field(f, "plain");
	fputc('|', f);
	bench_csv_field(f, "a,\"b\"");
	fputc('\0', f);
	fclose(f);
	ST_CHECK(strcmp(buf, "plain|\"a,\"\"b\"\"\"") == 0, "CSV quoting gave %s", buf);
}

int bench_selftest_main(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: bulwark-bench selftest\n");
		return 2;
	}
	st_buckets();
	st_exact();
	st_distribution("uniform", st_draw_uniform);
	st_distribution("exponential", st_draw_exponential);
	st_distribution("lognormal", st_draw_lognormal);
	st_overflow();
	st_stat();
	st_machine();
	st_csv();
	if (st_failed) {
		fprintf(stderr, "bulwark-bench selftest: %d check(s) failed\n", st_failed);
		return 1;
	}
	printf("bulwark-bench selftest: ok (histogram buckets, exact values, uniform, "
	       "exponential and lognormal quantiles within %.2f%%, merging, overflow, "
	       "/proc/PID/stat and /proc/stat parsing, CPU shares, CSV quoting)\n",
	       BENCH_HIST_REL_ERR * 100);
	return 0;
}
