/* rng.c: xoshiro256** seeded with splitmix64: the one seeded PRNG behind every run. */
#include "tests/sim/sim.h"

static uint64_t sim__splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void sim_rng_seed(struct sim_rng *g, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		g->s[i] = sim__splitmix64(&x);
}

static uint64_t sim__rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *g)
{
	uint64_t *s = g->s;
	uint64_t result = sim__rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sim__rotl(s[3], 45);
	return result;
}

uint64_t sim_rng_below(struct sim_rng *g, uint64_t n)
{
	/* Rejection sampling: no modulo bias. */
	uint64_t limit, v;

	if (n <= 1)
		return 0;
	limit = UINT64_MAX - UINT64_MAX % n;
	do
		v = sim_rng_next(g);
	while (v >= limit);
	return v % n;
}

int sim_rng_chance(struct sim_rng *g, double p)
{
	if (p <= 0.0)
		return 0;
	if (p >= 1.0)
		return 1;
	/* 53 random bits as a double in [0, 1). */
	return (double)(sim_rng_next(g) >> 11) * (1.0 / 9007199254740992.0) < p;
}
