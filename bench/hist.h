/* hist.h: a log-bucketed latency histogram (HdrHistogram-like) for bulwark-bench. */
#ifndef BULWARK_BENCH_HIST_H
#define BULWARK_BENCH_HIST_H

#include <stdint.h>

/*
 * Values are nanoseconds. Values below 2 * BENCH_HIST_HALF are counted exactly; above,
 * each power-of-two range [2^k, 2^(k+1)) is split into BENCH_HIST_HALF equal buckets,
 * so a bucket is at most 1/BENCH_HIST_HALF of the values in it wide. A quantile is
 * reported as its bucket's midpoint (clamped to the exact min and max), within
 * BENCH_HIST_REL_ERR of the true sample quantile. Values at or above BENCH_HIST_LIMIT
 * (about 18 minutes) go to one overflow bucket, reported as the exact max.
 * Fixed size (about 36 KiB), no allocation; two histograms merge by adding counts.
 */
#define BENCH_HIST_BITS 7u
#define BENCH_HIST_HALF (1u << BENCH_HIST_BITS)          /* 128 */
#define BENCH_HIST_LIMIT_BITS 40u
#define BENCH_HIST_LIMIT (1ull << BENCH_HIST_LIMIT_BITS)  /* ns */
#define BENCH_HIST_BUCKETS \
	(2u * BENCH_HIST_HALF + (BENCH_HIST_LIMIT_BITS - BENCH_HIST_BITS - 1u) * BENCH_HIST_HALF)
/* Half a bucket's width relative to the smallest value in it: 1/256. */
#define BENCH_HIST_REL_ERR (0.5 / BENCH_HIST_HALF)

struct bench_hist {
	uint64_t counts[BENCH_HIST_BUCKETS];
	uint64_t overflow;   /* values >= BENCH_HIST_LIMIT */
	uint64_t total;      /* every value, overflow included */
	uint64_t min, max;   /* exact; min is UINT64_MAX while empty */
	double sum;          /* for the mean */
};

/* Empty h (caller-allocated). */
void bench_hist_reset(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t ns);
/* Add src's values to dst (src borrowed, unchanged). */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* The q-quantile (0 <= q <= 1) in ns: the value of rank ceil(q * total) (at least 1);
 * 0 when h is empty. q = 1 gives the exact max. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
double bench_hist_mean(const struct bench_hist *h);

/* Bucket index of v (< BENCH_HIST_LIMIT) and the bucket's bounds [lo, hi]; exposed for
 * the self-test. */
uint32_t bench_hist_index(uint64_t v);
void bench_hist_bounds(uint32_t index, uint64_t *lo, uint64_t *hi);

#endif
