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

/* The whole machine's CPU time by state, in clock ticks since boot, from the "cpu" line
 * of /proc/stat: busy = user + nice + system + irq + softirq (guest time is inside user
 * and nice), idle, iowait (idle with a disk request outstanding) and steal (time the
 * hypervisor gave this machine's virtual CPUs to others). */
enum { BENCH_CPU_BUSY, BENCH_CPU_IDLE, BENCH_CPU_IOWAIT, BENCH_CPU_STEAL, BENCH_CPU_STATES };
struct bench_cpu_ticks {
	unsigned long long t[BENCH_CPU_STATES];
};
/* Parse one "cpu " line (eight or more counters). 0, or -1 when malformed. */
int bench_parse_cpu_line(const char *line, struct bench_cpu_ticks *t);
/* Read /proc/stat. 0, or -1 when it is unreadable or malformed. */
int bench_machine_ticks(struct bench_cpu_ticks *t);
/* pct[s]: state s's share of the machine's CPU time from a to b, in % (the four add up
 * to 100). 0, or -1 when no tick passed or a counter went back (pct is then left as it
 * was). */
int bench_cpu_shares(const struct bench_cpu_ticks *a, const struct bench_cpu_ticks *b,
		     double pct[BENCH_CPU_STATES]);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SSZ". */
void bench_utc_now(char out[32]);

/* Write s to f as one CSV field (quoted when it holds a comma, quote or newline). */
void bench_csv_field(FILE *f, const char *s);

#endif
