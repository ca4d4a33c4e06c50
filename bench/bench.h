/* bench.h: bulwark-bench subcommands and the helpers they share. */
#ifndef BULWARK_BENCH_H
#define BULWARK_BENCH_H

/* Each subcommand gets argv[0] = its own name and returns the process exit status:
 * 0 success, 1 a measurement failed, 2 usage error. */
int bench_crypto_main(int argc, char **argv);

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);

#endif
