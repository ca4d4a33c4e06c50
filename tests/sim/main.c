/* main.c: bulwark-sim's command line: runs seeds per scenario, prints summaries, replay
 * commands for failures, simulated throughput, and the closing "N passed, N failed". */
#include "tests/sim/sim.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct sim_totals {
	uint32_t runs, passed, failed;
	uint64_t ops, ops_ro, views, transfers;
	size_t max_memory, bound;
	double cpu;
};

/* The outcome of one run: plain bytes, so a worker process can hand it over a pipe. */
struct sim_result {
	uint32_t scenario;     /* index in sim_scenarios, or UINT32_MAX for the bench */
	int rc;                /* 0 passed */
	uint64_t seed, now;
	uint64_t ops, ops_ro, views, transfers;
	size_t max_memory, bound;
	double cpu;
	char why[512];
};

static double sim__cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double sim__wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sim__usage(FILE *to)
{
	fprintf(to,
		"usage: bulwark-sim [--scenario NAME|all] [--seeds N] [--first-seed S] [--seed S]\n"
		"                   [--jobs J] [--verbose] [--bench] [--list]\n"
		"  --scenario NAME  one scenario, or all (default)\n"
		"  --seeds N        seeds per scenario (default 10); seed i = first + i\n"
		"  --first-seed S   first seed (default 1)\n"
		"  --seed S         exactly one seed (same as --first-seed S --seeds 1)\n"
		"  --jobs J         worker processes (default: 2 if the machine has 2+ CPUs);\n"
		"                   results and output are the same for any J\n"
		"  --verbose        print network events and the core's trace lines\n"
		"  --bench          throughput run: no faults, many clients, full batches\n"
		"  --list           list the scenarios\n");
}

static int sim__parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

/* One run of scenario sc (index idx) with seed into *res. */
static void sim__one(const struct sim_scenario *sc, uint32_t idx, const struct sim_keys *keys,
		     uint64_t seed, int verbose, struct sim_result *res)
{
	struct sim_params p;
	struct sim *s;
	double c0 = sim__cpu_now();

	memset(res, 0, sizeof(*res));
	res->scenario = idx;
	res->seed = seed;
	s = malloc(sizeof(*s));
	if (s == NULL) {
		res->rc = -1;
		snprintf(res->why, sizeof(res->why), "out of memory");
		return;
	}
	sc->setup(&p);
	if (sim_init(s, sc, &p, keys, seed, verbose) != 0) {
		snprintf(s->why, sizeof(s->why), "setup failed");
		res->rc = -1;
	} else {
		res->rc = sim_run(s);
	}
	memcpy(res->why, s->why, sizeof(res->why));
	res->now = s->now;
	res->ops = s->accepted + s->accepted_ro;
	res->ops_ro = s->accepted_ro;
	res->views = s->view_max;
	for (uint32_t i = 0; i < s->p.n; i++) {
		if (!s->rep[i].faulty && s->rep[i].max_memory > res->max_memory)
			res->max_memory = s->rep[i].max_memory;
		res->transfers += s->rep[i].app.transfers;
	}
	res->bound = s->memory_bound;
	if (verbose) {
		uint64_t mutated = 0, injected = 0, crashes = 0, steps = 0;
		for (uint32_t i = 0; i < s->p.n; i++) {
			mutated += s->rep[i].byz.mutated;
			injected += s->rep[i].byz.injected;
			crashes += s->rep[i].crashes;
			steps += s->rep[i].steps;
		}
		printf("run: %" PRIu64 " core steps, %" PRIu64 " crashes, %" PRIu64 " messages changed or "
		       "withheld and %" PRIu64 " injected by Byzantine replicas\n", steps, crashes,
		       mutated, injected);
		printf("run: %" PRIu64 " ordered + %" PRIu64 " read-only requests accepted, %" PRIu64
		       " messages (%" PRIu64 " lost, %" PRIu64 " refused at decode), highest view %" PRIu64
		       ", simulated %" PRIu64 " ms, %" PRIu64 " signatures, %" PRIu64
		       " verifications (%" PRIu64 " from the cache), %" PRIu64 " batches executed\n",
		       s->accepted, s->accepted_ro, s->msgs, s->dropped_net, s->dropped_decode,
		       s->view_max, s->now, s->signs, s->verifies, s->verify_hits, s->executed_batches);
	}
	sim_free(s);
	free(s);
	res->cpu = sim__cpu_now() - c0;
}

/* Add a result to t; print the failure and how to replay it. */
static void sim__account(const char *name, const struct sim_result *res, struct sim_totals *t)
{
	t->runs++;
	if (res->rc == 0) {
		t->passed++;
	} else {
		t->failed++;
		printf("FAIL scenario=%s seed=%" PRIu64 " at %" PRIu64 " ms: %s\n", name, res->seed,
		       res->now, res->why);
		printf("  replay: bulwark-sim --scenario %s --seed %" PRIu64 " --verbose\n", name, res->seed);
	}
	t->ops += res->ops;
	t->ops_ro += res->ops_ro;
	if (res->views > t->views)
		t->views = res->views;
	if (res->max_memory > t->max_memory)
		t->max_memory = res->max_memory;
	if (res->bound > t->bound)
		t->bound = res->bound;
	t->transfers += res->transfers;
	t->cpu += res->cpu;
}

static void sim__summary(const char *name, const struct sim_totals *t)
{
	printf("%-15s %4u runs %4u passed %3u failed | %7" PRIu64 " requests (%" PRIu64
	       " read-only) %6.2f CPU-s %8.0f req/CPU-s | views<=%" PRIu64 " transfers %" PRIu64
	       " mem<=%zuK/%zuK\n",
	       name, t->runs, t->passed, t->failed, t->ops, t->ops_ro, t->cpu,
	       t->cpu > 0 ? (double)t->ops / t->cpu : 0.0, t->views, t->transfers,
	       t->max_memory / 1024, t->bound / 1024);
	fflush(stdout);
}

/* The runs of one invocation: scenario k's seeds are jobs k*seeds .. k*seeds+seeds-1. */
struct sim_plan {
	const struct sim_scenario *const *sc; /* selected scenarios */
	uint32_t *idx;                        /* their indices in sim_scenarios */
	uint32_t nsc;
	uint64_t seeds, first;
	int verbose;
	const struct sim_keys *keys;
	struct sim_result *res;               /* nsc * seeds */
	uint8_t *have;
	uint32_t printed;                     /* scenarios summarised so far */
	struct sim_totals all;
};

static void sim__run_job(struct sim_plan *pl, uint64_t j, struct sim_result *res)
{
	uint32_t k = (uint32_t)(j / pl->seeds);

	sim__one(pl->sc[k], pl->idx[k], pl->keys, pl->first + j % pl->seeds, pl->verbose, res);
}

/* Summarise every scenario whose runs have all arrived, in order. */
static void sim__flush(struct sim_plan *pl)
{
	while (pl->printed < pl->nsc) {
		uint32_t k = pl->printed;
		struct sim_totals t;
		for (uint64_t i = 0; i < pl->seeds; i++)
			if (!pl->have[k * pl->seeds + i])
				return;
		memset(&t, 0, sizeof(t));
		for (uint64_t i = 0; i < pl->seeds; i++)
			sim__account(pl->sc[k]->name, &pl->res[k * pl->seeds + i], &t);
		sim__summary(pl->sc[k]->name, &t);
		pl->all.runs += t.runs;
		pl->all.passed += t.passed;
		pl->all.failed += t.failed;
		pl->all.ops += t.ops;
		pl->all.cpu += t.cpu;
		pl->printed++;
	}
}

/* Workers: worker w runs jobs w, w+jobs, ... and writes each result to its pipe. */
static int sim__run_parallel(struct sim_plan *pl, uint32_t jobs)
{
	uint64_t total = pl->nsc * pl->seeds;
	pid_t pid[64];
	int fd[64];
	uint64_t next[64];           /* next job each worker reports */
	uint32_t alive = 0;

	fflush(stdout);
	for (uint32_t w = 0; w < jobs; w++) {
		int p[2];
		if (pipe(p) != 0) {
			perror("bulwark-sim: pipe");
			return -1;
		}
		pid[w] = fork();
		if (pid[w] < 0) {
			perror("bulwark-sim: fork");
			return -1;
		}
		if (pid[w] == 0) {
			close(p[0]);
			for (uint32_t v = 0; v < w; v++)
				close(fd[v]);
			for (uint64_t j = w; j < total; j += jobs) {
				struct sim_result r;
				const uint8_t *b = (const uint8_t *)&r;
				size_t off = 0;
				sim__run_job(pl, j, &r);
				while (off < sizeof(r)) {
					ssize_t n = write(p[1], b + off, sizeof(r) - off);
					if (n <= 0)
						exit(3);
					off += (size_t)n;
				}
			}
			close(p[1]);
			free(pl->res);
			free(pl->have);
			sim_keys_free((struct sim_keys *)pl->keys);
			free((void *)pl->keys);
			free((void *)pl->sc);
			free(pl->idx);
			exit(0);
		}
		close(p[1]);
		fd[w] = p[0];
		next[w] = w;
		alive++;
	}
	while (alive > 0) {
		struct pollfd pfd[64];
		uint32_t map[64], np = 0;
		for (uint32_t w = 0; w < jobs; w++)
			if (fd[w] >= 0) {
				pfd[np].fd = fd[w];
				pfd[np].events = POLLIN;
				map[np++] = w;
			}
		if (poll(pfd, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("bulwark-sim: poll");
			return -1;
		}
		for (uint32_t i = 0; i < np; i++) {
			uint32_t w = map[i];
			struct sim_result r;
			size_t off = 0;
			ssize_t n = 0;
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			while (off < sizeof(r)) {
				n = read(fd[w], (uint8_t *)&r + off, sizeof(r) - off);
				if (n <= 0)
					break;
				off += (size_t)n;
			}
			if (off == sizeof(r) && next[w] < total) {
				pl->res[next[w]] = r;
				pl->have[next[w]] = 1;
				next[w] += jobs;
				sim__flush(pl);
				continue;
			}
			/* End of the pipe: the worker is done, or died in the middle of a run. */
			int status = 0;
			close(fd[w]);
			fd[w] = -1;
			alive--;
			waitpid(pid[w], &status, 0);
			int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
			for (uint64_t j = next[w]; j < total; j += jobs) {
				struct sim_result *x = &pl->res[j];
				memset(x, 0, sizeof(*x));
				x->rc = -1;
				x->seed = pl->first + j % pl->seeds;
				snprintf(x->why, sizeof(x->why), j == next[w]
					 ? "the run crashed (worker exit status %d, signal %d; sanitizer report above)"
					 : "not run: its worker crashed on an earlier run", WIFEXITED(status) ?
					 WEXITSTATUS(status) : -1, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
				pl->have[j] = 1;
			}
			if (!clean && next[w] >= total) {
				/* Every run reported, but the worker failed at exit (a leak report). */
				printf("FAIL worker %u exited with status %d after its runs (sanitizer report above)\n",
				       w, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
				pl->all.failed++;
			}
			sim__flush(pl);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *scenario = "all";
	uint64_t seeds = 10, first = 1, jobs = 0;
	int verbose = 0, bench = 0, found = 0, one_seed = 0;
	struct sim_keys *keys;
	struct sim_plan pl;
	double w0 = sim__wall_now();
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--scenario") == 0 && v) {
			scenario = v;
			i++;
		} else if ((strcmp(a, "--seeds") == 0 || strcmp(a, "--jobs") == 0) && v) {
			uint64_t x;
			if (sim__parse_u64(v, &x) != 0 || x == 0 || (a[2] == 'j' && x > 64)) {
				fprintf(stderr, "bulwark-sim: %s wants a number from 1 to %s, not '%s'\n", a,
					a[2] == 'j' ? "64" : "2^64-1", v);
				return 2;
			}
			if (a[2] == 'j')
				jobs = x;
			else
				seeds = x;
			i++;
		} else if ((strcmp(a, "--first-seed") == 0 || strcmp(a, "--seed") == 0) && v) {
			if (sim__parse_u64(v, &first) != 0) {
				fprintf(stderr, "bulwark-sim: %s wants a number, not '%s'\n", a, v);
				return 2;
			}
			if (strcmp(a, "--seed") == 0)
				one_seed = 1;
			i++;
		} else if (strcmp(a, "--verbose") == 0) {
			verbose = 1;
		} else if (strcmp(a, "--bench") == 0) {
			bench = 1;
		} else if (strcmp(a, "--list") == 0) {
			for (size_t k = 0; k < sim_nscenarios; k++)
				printf("%-15s %s\n", sim_scenarios[k].name, sim_scenarios[k].what);
			return 0;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			sim__usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "bulwark-sim: unknown or incomplete option '%s'\n", a);
			sim__usage(stderr);
			return 2;
		}
	}
	if (one_seed)
		seeds = 1;
	if (!bench && strcmp(scenario, "all") != 0) {
		for (size_t k = 0; k < sim_nscenarios; k++)
			found |= strcmp(sim_scenarios[k].name, scenario) == 0;
		if (!found) {
			fprintf(stderr, "bulwark-sim: no scenario '%s' (see --list)\n", scenario);
			return 2;
		}
	}
	/* Default: one worker per CPU, at most 2; traces and benches run in one process. */
	if (jobs == 0)
		jobs = cpus >= 2 ? 2 : 1;
	if (verbose || bench)
		jobs = 1;
	keys = malloc(sizeof(*keys));
	if (keys == NULL || sim_keys_init(keys) != 0) {
		fprintf(stderr, "bulwark-sim: cannot make the keys\n");
		if (keys != NULL)
			sim_keys_free(keys);
		free(keys);
		return 1;
	}
	memset(&pl, 0, sizeof(pl));
	if (bench) {
		struct sim_totals t;
		struct sim_result r;
		memset(&t, 0, sizeof(t));
		for (uint64_t i = 0; i < seeds; i++) {
			sim__one(&sim_bench_scenario, UINT32_MAX, keys, first + i, verbose, &r);
			sim__account(sim_bench_scenario.name, &r, &t);
		}
		sim__summary("bench", &t);
		printf("bench: %.0f committed requests per CPU-second (n=4, 64 clients, batches <= 64, "
		       "pipeline 8, every signature verified, real Ed25519/HMAC/SHA-256)\n",
		       t.cpu > 0 ? (double)t.ops / t.cpu : 0.0);
		pl.all = t;
	} else {
		const struct sim_scenario **sel = calloc(sim_nscenarios, sizeof(*sel));
		pl.idx = calloc(sim_nscenarios, sizeof(*pl.idx));
		if (sel == NULL || pl.idx == NULL) {
			fprintf(stderr, "bulwark-sim: out of memory\n");
			return 1;
		}
		for (size_t k = 0; k < sim_nscenarios; k++)
			if (strcmp(scenario, "all") == 0 || strcmp(scenario, sim_scenarios[k].name) == 0) {
				pl.idx[pl.nsc] = (uint32_t)k;
				sel[pl.nsc++] = &sim_scenarios[k];
			}
		pl.sc = sel;
		pl.seeds = seeds;
		pl.first = first;
		pl.verbose = verbose;
		pl.keys = keys;
		pl.res = calloc(pl.nsc * seeds, sizeof(*pl.res));
		pl.have = calloc(pl.nsc * seeds, 1);
		if (pl.res == NULL || pl.have == NULL) {
			fprintf(stderr, "bulwark-sim: out of memory for %" PRIu64 " runs\n", pl.nsc * seeds);
			return 1;
		}
		if (jobs > pl.nsc * seeds)
			jobs = pl.nsc * seeds;
		if (jobs <= 1) {
			for (uint64_t j = 0; j < pl.nsc * seeds; j++) {
				sim__run_job(&pl, j, &pl.res[j]);
				pl.have[j] = 1;
				sim__flush(&pl);
			}
		} else if (sim__run_parallel(&pl, (uint32_t)jobs) != 0) {
			pl.all.failed++;
		}
		sim__flush(&pl);
		printf("simulated throughput: %.0f committed requests per CPU-second of the simulator "
		       "(%" PRIu64 " requests, %.1f CPU-s in %" PRIu64 " process%s, %.1f s wall)\n",
		       pl.all.cpu > 0 ? (double)pl.all.ops / pl.all.cpu : 0.0, pl.all.ops, pl.all.cpu,
		       jobs, jobs > 1 ? "es" : "", sim__wall_now() - w0);
		free(pl.res);
		free(pl.have);
		free(sel);
		free(pl.idx);
	}
	sim_keys_free(keys);
	free(keys);
	printf("%u passed, %u failed\n", pl.all.passed, pl.all.failed);
	return pl.all.failed == 0 ? 0 : 1;
}
