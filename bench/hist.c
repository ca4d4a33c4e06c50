/* hist.c: the log-bucketed latency histogram of bulwark-bench (see hist.h). */
#include "bench/hist.h"

#include <math.h>
#include <string.h>

void bench_hist_reset(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static uint32_t bench_hist_msb(uint64_t v)
{
	return 63u - (uint32_t)__builtin_clzll(v);
}

uint32_t bench_hist_index(uint64_t v)
{
	uint32_t shift;

	if (v < 2u * BENCH_HIST_HALF)
		return (uint32_t)v;
	shift = bench_hist_msb(v) - BENCH_HIST_BITS; /* >= 1: v >> shift in [HALF, 2 HALF) */
	return 2u * BENCH_HIST_HALF + (shift - 1u) * BENCH_HIST_HALF +
	       (uint32_t)((v >> shift) - BENCH_HIST_HALF);
}

void bench_hist_bounds(uint32_t index, uint64_t *lo, uint64_t *hi)
{
	uint32_t shift, sub;

	if (index < 2u * BENCH_HIST_HALF) {
		*lo = *hi = index;
		return;
	}
	shift = (index - 2u * BENCH_HIST_HALF) / BENCH_HIST_HALF + 1u;
	sub = (index - 2u * BENCH_HIST_HALF) % BENCH_HIST_HALF + BENCH_HIST_HALF;
	*lo = (uint64_t)sub << shift;
	*hi = *lo + (1ull << shift) - 1u;
}

void bench_hist_record(struct bench_hist *h, uint64_t ns)
{
	if (ns >= BENCH_HIST_LIMIT)
		h->overflow++;
	else
		h->counts[bench_hist_index(ns)]++;
	h->total++;
	h->sum += (double)ns;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	for (uint32_t i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->counts[i] += src->counts[i];
	dst->overflow += src->overflow;
	dst->total += src->total;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t rank, seen = 0, lo, hi, mid;

	if (h->total == 0)
		return 0;
	if (!(q > 0))
		return h->min;
	if (q >= 1)
		return h->max;
	rank = (uint64_t)ceil(q * (double)h->total);
	if (rank < 1)
		rank = 1;
	for (uint32_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			bench_hist_bounds(i, &lo, &hi);
			mid = lo + (hi - lo) / 2u;
			if (mid < h->min)
				mid = h->min;
			if (mid > h->max)
				mid = h->max;
			return mid;
		}
	}
	return h->max; /* the rank falls in the overflow bucket */
}

double bench_hist_mean(const struct bench_hist *h)
{
	return h->total ? h->sum / (double)h->total : 0.0;
}
