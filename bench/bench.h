/* bench.h: bulwark-bench subcommands and the helpers they share. */
#ifndef BULWARK_BENCH_H
#define BULWARK_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Each subcommand gets argv[0] = its own name and returns the process exit status:
 * 0 success, 1 a measurement failed, 2 usage error. */
int bench_crypto_main(int argc, char **argv);
int bench_run_main(int argc, char **argv);
int bench_selftest_main(int argc, char **argv);

/* Seconds on CLOCK_MONOTONIC. */
double bench_now(void);
/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t bench_ns(void);

/* ---------------------------------------------------------------- sys.c */
/* The machine a measurement ran on, as every output format reports it. */
struct bench_machine {
	char cpu[128];     /* "model name" of /proc/cpuinfo, or "unknown" */
	unsigned cores;    /* online processors */
	char kernel[200];  /* uname: sysname release machine */
	char host[72];
	double load1;      /* 1-minute load average (/proc/loadavg); < 0 unknown */
};
void bench_machine_get(struct bench_machine *m);

/* CPU seconds (user + system) of process pid from /proc/PID/stat: 0, or -1 when the
 * process is gone or its stat line is unreadable. */
int bench_proc_cpu(pid_t pid, double *seconds);
/* The parser behind it: utime + stime in clock ticks from one /proc/PID/stat line
 * (the command name may hold spaces and parentheses). 0 or -1 when malformed. */
int bench_parse_stat(const char *line, unsigned long long *ticks);
/* CPU seconds used by this process so far. */
double bench_self_cpu(void);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SSZ". */
void bench_utc_now(char out[32]);

/* Write s to f as one CSV field (quoted when it holds a comma, quote or newline). */
void bench_csv_field(FILE *f, const char *s);

#endif
