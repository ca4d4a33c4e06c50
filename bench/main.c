/* main.c: bulwark-bench, dispatching to one benchmark subcommand per workload. */
#include "bench/bench.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct bench_cmd {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *help;
};

static const struct bench_cmd bench_cmds[] = {
	{ "run", bench_run_main, "drive a group: null, put, get, mixed; closed or open loop, sweeps" },
	{ "crypto", bench_crypto_main, "primitive costs: Ed25519, HMAC, SHA-256, X25519, AES-GCM" },
	{ "selftest", bench_selftest_main, "check the histogram and helpers (exit 1 on failure)" },
};

#define BENCH_NCMDS (sizeof(bench_cmds) / sizeof(bench_cmds[0]))

double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench_usage(FILE *f)
{
	fprintf(f, "usage: bulwark-bench <command> [options]\n"
		   "       bulwark-bench <command> --help\n\ncommands:\n");
	for (size_t i = 0; i < BENCH_NCMDS; i++)
		fprintf(f, "  %-10s %s\n", bench_cmds[i].name, bench_cmds[i].help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		bench_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		bench_usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < BENCH_NCMDS; i++)
		if (strcmp(argv[1], bench_cmds[i].name) == 0)
			return bench_cmds[i].main(argc - 1, argv + 1);
	fprintf(stderr, "bulwark-bench: unknown command '%s'\n", argv[1]);
	bench_usage(stderr);
	return 2;
}
