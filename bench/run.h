/* run.h: `bulwark-bench run`: its options, its per-point results and the local group,
 * shared by run.c (the load generator), local.c (a local group) and report.c. */
#ifndef BULWARK_BENCH_RUN_H
#define BULWARK_BENCH_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bench/bench.h"
#include "bench/hist.h"

/* The null op's type in struct bulwark_op: BULWARK_OP_NULL once client/bulwark.h has
 * it; a libbulwark without it refuses the type (BULWARK_ERR_ARG), reported as such. */
#define BENCH_OP_NULL BULWARK_OP_NULL

#define BENCH_MAX_REPLICAS 64u
#define BENCH_MAX_SWEEP 32u
#define BENCH_MAX_CLIENTS 4096u

enum bench_workload {
	BENCH_W_NULL, BENCH_W_PUT, BENCH_W_GET, BENCH_W_MIXED, BENCH_W_POLL, BENCH_W_PUBLISH
};

/* poll, --local: the channel the bench creates and publishes a release to. */
#define BENCH_POLL_CHANNEL "bench/poll"
/* publish: the default prefix of the clients' channels (client i publishes to
 * PREFIX/i) and the longest prefix allowed (room for "/4095" within a channel name). */
#define BENCH_PUBLISH_CHANNEL "bench/publish"
#define BENCH_PREFIX_MAX 200u
#define BENCH_PATH_MAX 512u
enum bench_format { BENCH_F_TABLE, BENCH_F_JSON, BENCH_F_CSV };

struct bench_opts {
	enum bench_workload workload;
	const char *config;          /* --config (borrowed from argv) or the local group's */
	unsigned local;              /* --local N: replicas of a local group, 0: none */
	const char *auth_arg;        /* --client-auth for the local group's `cluster init`
				      * ("macs", "signatures"; borrowed), NULL: its default */
	const char *client_auth;     /* the driven group's client_auth as its config says,
				      * read before the run (a static name), for the report */
	unsigned clients;            /* closed loop: the clients; open loop: the pool */
	unsigned lanes;              /* logical clients per key (one connection set):
				      * --lanes, else every client of the run on one key */
	double rate;                 /* ops/s; > 0: open loop */
	double warmup, duration;     /* seconds */
	size_t value_size;
	int value_random;            /* --value-fill random: new pseudo-random bytes for
				      * every PUT (incompressible, like update chunks);
				      * else one fixed text value for all */
	unsigned keys;               /* put/mixed: --keys, the keys each client writes in turn */
	double read_ratio;           /* mixed: the share of GETs, 0..1 */
	const char *channel;         /* poll: --channel, or BENCH_POLL_CHANNEL (--local);
				      * publish: the channels' prefix, --channel or
				      * BENCH_PUBLISH_CHANNEL */
	int conditional;             /* poll: --if-none-match, each poll sends the last ETag */
	int poll_replica;            /* poll: --replica I, or -1: client i polls i mod n */
	/* publish: the group's admin key (creates the channels) and the publisher's key
	 * pair (signs every manifest): --admin-key, --publisher-key (with --config), or
	 * the local group's */
	char admin_key[BENCH_PATH_MAX];
	char publisher_key[BENCH_PATH_MAX], publisher_pub[BENCH_PATH_MAX];
	char http[BENCH_MAX_REPLICAS][96]; /* poll: each replica's read plane, "http://h:p" */
	size_t nhttp;
	double sweep[BENCH_MAX_SWEEP]; /* client counts (closed) or rates (open) */
	size_t nsweep;
	size_t queue_max;            /* open loop: intended sends waiting for a client */
	enum bench_format format;
	const char *out;             /* --out FILE, or NULL: stdout */
	pid_t pids[BENCH_MAX_REPLICAS]; /* --pids, or the local group's */
	size_t npids;
	int progress;                /* a progress line on stderr */
	char command[1024];          /* the command line, for the report */
	struct bench_machine machine; /* read before the run starts (load average) */
	char date[32];               /* the start, UTC */
};

/* One measured point of a run (one client count or rate of a sweep). */
struct bench_point {
	unsigned clients;
	double rate;                 /* open loop: the target; 0: closed loop */
	uint64_t ops;                /* completed with success in the measured interval */
	uint64_t ordered;            /* of those, ordered (everything but GET) */
	uint64_t errors;             /* completed with an error */
	uint64_t not_modified;       /* poll: of the ops, answered 304 Not Modified */
	uint64_t dropped;            /* open loop: intended sends refused, queue full */
	char last_error[96];         /* the last error's text, "" if none */
	double seconds;              /* the measured interval */
	struct bench_hist hist;      /* latency of successful ops, ns */
	double cpu_bench;            /* CPU seconds in the interval: this process */
	double cpu_replica[BENCH_MAX_REPLICAS]; /* each replica; < 0: unknown */
	size_t nreplicas;
	int64_t seqs;                /* sequence numbers the primary executed; -1: unknown */
	double machine_pct[BENCH_CPU_STATES]; /* the machine's CPU time in the interval by
					 * state (bench.h), %; all < 0: unknown */
};

/* ---------------------------------------------------------------- local.c */
struct bench_local {
	char dir[256];               /* the temporary folder, "" when none */
	char group[300];             /* dir/g: the `bulwark cluster` folder */
	char config[320];            /* group/bulwark.ini */
	char bulwark[4096];          /* the bulwark CLI */
	int up;                      /* cluster up ran (down is due) */
	pid_t guard;                 /* the guard process, 0 if none */
	int guard_fd;                /* our end of its pipe, -1 if none */
};

/* Create, configure and start an n-replica group on free loopback ports in a fresh
 * temporary folder with `bulwark cluster init` and `up` (bulwark from $BULWARK, else
 * next to this program). Fills o->config and o->pids. On failure everything started
 * is stopped again; messages go to stderr. Returns 0 or -1.
 * A guard process (forked before `up`, ignoring SIGINT, SIGTERM and SIGHUP) waits on a
 * pipe: if this process dies without bench_local_stop — a crash, SIGKILL — the pipe
 * closes and the guard stops the group and removes the folder. */
int bench_local_start(struct bench_local *l, unsigned n, struct bench_opts *o);
/* poll, publish: make a publisher key pair in the folder (`bulwark keygen`) and fill
 * o->admin_key (the group's), o->publisher_key and o->publisher_pub. Returns 0 or -1. */
int bench_local_keys(struct bench_local *l, struct bench_opts *o);
/* poll: in the started group, create channel o->channel (with bench_local_keys' key)
 * and publish version 1: one file of o->value_size bytes. Returns 0 or -1 (the CLI's
 * output on stderr). */
int bench_local_release(struct bench_local *l, const struct bench_opts *o);
/* Stop the group (`cluster down`, then --kill if needed) and remove the folder.
 * Idempotent. */
void bench_local_stop(struct bench_local *l);

/* ---------------------------------------------------------------- report.c */
/* Write the points in o->format to f. Returns 0 or -1 (write error). */
int bench_report(FILE *f, const struct bench_opts *o, const struct bench_point *pts, size_t n);

/* The workload's name ("null", "put", ...). */
const char *bench_workload_name(enum bench_workload w);
/* "random" or "text": --value-fill, for the reports. */
const char *bench_value_fill(const struct bench_opts *o);

#endif
