/* run.c: `bulwark-bench run`: many logical clients on one libev loop, closed or open
 * loop, warm-up then a measured interval per sweep point, with latency, CPU and batching. */
#include "bench/run.h"
#include "bench/http.h"

#include <errno.h>
#include <ev.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/bulwark.h"
#include "client/bulwark_publish.h"
#include "common/config.h"
#include "wire/upd.h"

#define BENCH_KEYS_PER_CLIENT 16u    /* put: each client cycles over its own keys */
#define BENCH_MAX_KEYS_PER_CLIENT 65536u
#define BENCH_OP_TIMEOUT_MS 10000u
#define BENCH_DRAIN_S 15.0           /* longer than one op's timeout */
#define BENCH_STATUS_TIMEOUT_MS 1000u
#define BENCH_MIN_TICK_S 0.00002     /* open loop: the shortest timer re-arm */
#define BENCH_READY_S 20.0           /* poll: how long the document may take to appear */
#define BENCH_POLL_URL_MAX 320u      /* http[] (96) + "/v1/channels/" + a 200-byte name */
#define BENCH_CHANNEL_MAX (BENCH_PREFIX_MAX + 8) /* publish: "PREFIX/4095" and its NUL */
#define BENCH_PUBLISH_EXPIRES_S (30u * 86400u) /* publish: as `bulwark publish` */

enum bench_phase { BENCH_PRELOAD, BENCH_WARMUP, BENCH_MEASURE, BENCH_DRAIN, BENCH_STOP };

struct bench;

/* One logical client: one bulwark_client, a lane of its key (one outstanding op).
 * Clients id, id + 1, ... share a key in groups of o->lanes: the first of each group
 * opens the key's client (lane 0), the others open lanes of it. A poll client has an
 * HTTP poller instead (one keep-alive connection). */
struct bench_client {
	struct bench *b;
	struct bulwark_client *c;
	struct bench_poll poll;
	unsigned id;
	int write;                   /* the outstanding op is ordered */
	uint64_t intended;           /* ns: when the outstanding op was meant to be sent */
	uint64_t seq;                /* ops issued: picks the key */
	char key[32];
	size_t key_len;
	uint64_t version;            /* publish: the version of its next PUBLISH */
};

/* A state snapshot at an interval's edge. */
struct bench_snap {
	uint64_t ns;
	double cpu_bench;
	double cpu_replica[BENCH_MAX_REPLICAS];
	int64_t executed;            /* the primary's last executed seq; -1: unknown */
	struct bench_cpu_ticks machine;
	int machine_ok;
};

struct bench {
	struct ev_loop *loop;
	struct bench_opts *o;
	struct bench_client *cl;     /* nopen, owned */
	unsigned nopen;
	unsigned active;             /* clients taking part in this point */
	struct bulwark_client *status; /* on its own private loop: INFO queries */
	struct bench_http http;      /* poll: libcurl on the loop */
	uint8_t *value;              /* value_size bytes */
	struct bulwark_release *release; /* publish: one file of value_size bytes, uploaded */
	uint64_t rng;
	enum bench_phase phase;
	unsigned inflight;
	unsigned preload_left;
	int fatal;                   /* a submit failed: stop the run */
	char fatal_msg[160];
	int interrupted;

	/* open loop */
	uint64_t interval_ns;
	uint64_t next_intended;
	unsigned *freelist;          /* idle client ids, a stack */
	unsigned nfree;
	uint64_t *queue;             /* intended times waiting for a client, a ring */
	size_t qhead, qlen;

	/* the current point */
	struct bench_point *pt;
	struct bench_hist cur;       /* since the last flush */
	uint64_t cur_start;
	uint64_t phase_start;
	double phase_len;
	ev_timer phase_w, second_w, tick_w;
	ev_async stop_w;             /* fed by the signal handler */
};

/* SIGINT, SIGTERM and SIGHUP stop the run cleanly (the local group is stopped too):
 * the handler only sets the flag and wakes the loop (ev_async_send is signal-safe). */
static volatile sig_atomic_t bench_stop_flag;
static struct bench *bench_stop_target;

static const char *const bench_workloads[] = { "null", "put", "get", "mixed", "poll",
						"publish" };
#define BENCH_NWORKLOADS (sizeof(bench_workloads) / sizeof(bench_workloads[0]))

const char *bench_workload_name(enum bench_workload w)
{
	return bench_workloads[w];
}

const char *bench_value_fill(const struct bench_opts *o)
{
	return o->value_random ? "random" : "text";
}

static uint64_t bench_rand(struct bench *b)
{
	b->rng ^= b->rng << 13; /* xorshift64 */
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return b->rng;
}

/* --value-fill random: new bytes in the value buffer, 8 per step of the generator. */
static void bench_fill_random(struct bench *b)
{
	size_t n = b->o->value_size, i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t r = bench_rand(b);
		memcpy(b->value + i, &r, 8);
	}
	if (i < n) {
		uint64_t r = bench_rand(b);
		memcpy(b->value + i, &r, n - i);
	}
}

/* ---------------------------------------------------------------- issuing ops */
static void bench_done(void *arg, const struct bulwark_result *res);

/* Stop the run with msg (the first failure is the one reported). */
static void bench_fatal_msg(struct bench *b, const char *msg)
{
	if (!b->fatal)
		snprintf(b->fatal_msg, sizeof(b->fatal_msg), "%s", msg);
	b->fatal = 1;
	ev_break(b->loop, EVBREAK_ALL);
}

static void bench_fatal(struct bench *b, const char *what, int rc)
{
	char msg[sizeof(b->fatal_msg)];

	snprintf(msg, sizeof(msg), "%s: %s%s", what, bulwark_strerror(rc),
		 b->o->workload == BENCH_W_NULL && rc == BULWARK_ERR_ARG
			 ? " (this libbulwark has no null op, BULWARK_OP_NULL)" : "");
	bench_fatal_msg(b, msg);
}

/* publish: client bc's channel, PREFIX/id. */
static void bench_channel_name(const struct bench_client *bc, char out[BENCH_CHANNEL_MAX])
{
	snprintf(out, BENCH_CHANNEL_MAX, "%s/%u", bc->b->o->channel, bc->id);
}

/* publish: client bc's next PUBLISH, the release as the next version of its channel (a
 * version is used once, whatever its outcome). Returns bulwark_submit's code, or
 * bulwark_release_op's with the run stopped (saying why). */
static int bench_submit_publish(struct bench_client *bc)
{
	char err[128], channel[BENCH_CHANNEL_MAX];
	uint8_t *op;
	size_t len;
	int rc;

	bench_channel_name(bc, channel);
	rc = bulwark_release_op(bc->b->release, channel, bc->version, BENCH_PUBLISH_EXPIRES_S,
				&op, &len, err, sizeof(err));
	if (rc != BULWARK_OK) {
		char msg[sizeof(bc->b->fatal_msg)];
		snprintf(msg, sizeof(msg), "building a PUBLISH: %s", err);
		bench_fatal_msg(bc->b, msg);
		return rc;
	}
	bc->version++;
	rc = bulwark_submit_raw(bc->c, op, len, bench_done, bc); /* copies op */
	free(op);
	return rc;
}

/* Submit client bc's next op of the replica protocol (null, put, get; mixed picks one;
 * publish). Returns bulwark_submit's code. */
static int bench_submit(struct bench_client *bc)
{
	struct bench *b = bc->b;
	struct bulwark_op op;
	int get;

	if (b->o->workload == BENCH_W_PUBLISH) {
		bc->write = 1;
		return bench_submit_publish(bc);
	}
	memset(&op, 0, sizeof(op));
	if (b->o->workload == BENCH_W_NULL) {
		op.type = BENCH_OP_NULL;
	} else {
		get = b->o->workload == BENCH_W_GET ||
		      (b->o->workload == BENCH_W_MIXED &&
		       (double)(bench_rand(b) >> 11) * 0x1.0p-53 < b->o->read_ratio);
		if (b->phase == BENCH_PRELOAD)
			get = 0;
		/* Reads and the preload use key 0; writes cycle over the client's keys. */
		bc->key_len = (size_t)snprintf(bc->key, sizeof(bc->key), "bench/%u/%u", bc->id,
					       get || b->phase == BENCH_PRELOAD
						       ? 0u
						       : (unsigned)(bc->seq % b->o->keys));
		op.type = get ? BULWARK_OP_GET : BULWARK_OP_PUT;
		op.key = bc->key;
		op.key_len = bc->key_len;
		if (!get) {
			/* bulwark_submit encodes the op at once: one buffer serves every PUT. */
			if (b->o->value_random)
				bench_fill_random(b);
			op.value = b->value;
			op.value_len = b->o->value_size;
		}
	}
	bc->write = op.type != BULWARK_OP_GET;
	return bulwark_submit(bc->c, &op, bench_done, bc);
}

/* Start the workload's next op on idle client bc, meant to be sent at `intended`. */
static void bench_issue(struct bench_client *bc, uint64_t intended)
{
	struct bench *b = bc->b;
	int rc;

	if (b->o->workload == BENCH_W_POLL) {
		if (bench_poll_start(&bc->poll) != 0) {
			bench_fatal_msg(b, "poll: libcurl refused the transfer");
			return;
		}
		bc->write = 0;
	} else if ((rc = bench_submit(bc)) != BULWARK_OK) {
		bench_fatal(b, "submit", rc); /* after a build failure: its message stays */
		return;
	}
	bc->intended = intended;
	bc->seq++;
	b->inflight++;
}

/* Open loop: an intended send at time t: to an idle client, else into the queue. */
static void bench_dispatch(struct bench *b, uint64_t t)
{
	if (b->nfree > 0) {
		bench_issue(&b->cl[b->freelist[--b->nfree]], t);
		return;
	}
	if (b->qlen < b->o->queue_max) {
		b->queue[(b->qhead + b->qlen) % b->o->queue_max] = t;
		b->qlen++;
		return;
	}
	if (b->phase == BENCH_MEASURE)
		b->pt->dropped++;
}

/* Client bc's op ended (ok, else err says why; not_modified: a poll's 304): count it,
 * then the client's next op (closed loop), the next queued send or the idle list. */
static void bench_complete(struct bench_client *bc, int ok, const char *err, int not_modified)
{
	struct bench *b = bc->b;
	uint64_t now = bench_ns();

	if (ok) {
		bench_hist_record(&b->cur, now - bc->intended);
		if (b->phase == BENCH_MEASURE) {
			b->pt->ops++;
			b->pt->ordered += bc->write ? 1u : 0u;
			b->pt->not_modified += not_modified ? 1u : 0u;
		}
	} else if (b->phase == BENCH_MEASURE) {
		b->pt->errors++;
		snprintf(b->pt->last_error, sizeof(b->pt->last_error), "%s", err);
	}
	if (b->phase == BENCH_DRAIN) {
		if (b->inflight == 0)
			ev_break(b->loop, EVBREAK_ALL);
		return;
	}
	if (b->fatal)
		return;
	if (b->o->rate <= 0) {
		bench_issue(bc, now);
	} else if (b->qlen > 0) {
		uint64_t t = b->queue[b->qhead];
		b->qhead = (b->qhead + 1) % b->o->queue_max;
		b->qlen--;
		bench_issue(bc, t);
	} else {
		b->freelist[b->nfree++] = bc->id;
	}
}

/* publish: the group's answer to client bc's PUBLISH, ordered: 1 accepted, else 0 with
 * why. In the preload a ROLLBACK is an answer too: the channel was left by an earlier
 * run against the same group, and the client goes on past its current version. */
static int bench_publish_result(struct bench_client *bc, const struct bulwark_result *res,
				char *why, size_t len)
{
	struct bulwark_upd_result u;

	if (bulwark_upd_result_decode(res->value, res->value_len, &u) != BULWARK_OK) {
		snprintf(why, len, "PUBLISH: the group's result does not decode");
		return 0;
	}
	if (u.status == WIRE_UPD_OK)
		return 1;
	if (u.status == WIRE_UPD_ROLLBACK && bc->b->phase == BENCH_PRELOAD && u.a < UINT64_MAX) {
		bc->version = u.a + 1;
		return 1;
	}
	snprintf(why, len, "PUBLISH %s: %.100s", u.status_name, u.text);
	return 0;
}

static void bench_done(void *arg, const struct bulwark_result *res)
{
	struct bench_client *bc = arg;
	struct bench *b = bc->b;
	const char *err = bulwark_strerror(res->status);
	char why[sizeof(b->fatal_msg)];
	int ok = res->status == BULWARK_OK;

	b->inflight--;
	if (b->phase == BENCH_STOP)
		return; /* closing: cancelled ops */
	if (ok && b->o->workload == BENCH_W_PUBLISH &&
	    !bench_publish_result(bc, res, why, sizeof(why))) {
		ok = 0;
		err = why;
	}
	if (b->phase == BENCH_PRELOAD) {
		if (!ok) {
			char msg[sizeof(b->fatal_msg)];
			snprintf(msg, sizeof(msg), "preload %s: %.140s",
				 b->o->workload == BENCH_W_PUBLISH ? "PUBLISH" : "PUT", err);
			bench_fatal_msg(b, msg);
			return;
		}
		if (--b->preload_left == 0)
			ev_break(b->loop, EVBREAK_ALL);
		return;
	}
	bench_complete(bc, ok, err, 0);
}

static void bench_poll_done(void *arg, int ok, int not_modified, const char *err)
{
	struct bench_client *bc = arg;

	bc->b->inflight--;
	if (bc->b->phase == BENCH_STOP)
		return;
	bench_complete(bc, ok, err, not_modified);
}

/* ---------------------------------------------------------------- snapshots */
/* The primary's last executed sequence number, from an INFO query (the loop of the
 * status client runs meanwhile, the bench loop waits): -1 if unknown. */
static int64_t bench_executed(struct bench *b)
{
	struct bulwark_replica_status st[BENCH_MAX_REPLICAS];
	size_t count = 0;

	if (bulwark_status(b->status, BENCH_STATUS_TIMEOUT_MS, st, BENCH_MAX_REPLICAS, &count) !=
	    BULWARK_OK)
		return -1;
	if (count > BENCH_MAX_REPLICAS)
		count = BENCH_MAX_REPLICAS;
	for (size_t i = 0; i < count; i++)
		if (st[i].up && st[i].primary < count && st[st[i].primary].up)
			return (int64_t)st[st[i].primary].last_executed;
	return -1;
}

/* The clock and every CPU counter, at once. */
static void bench_snapshot(struct bench *b, struct bench_snap *s)
{
	s->ns = bench_ns();
	s->cpu_bench = bench_self_cpu();
	s->machine_ok = bench_machine_ticks(&s->machine) == 0;
	for (size_t i = 0; i < b->o->npids; i++)
		if (bench_proc_cpu(b->o->pids[i], &s->cpu_replica[i]) != 0)
			s->cpu_replica[i] = -1;
}

/* ---------------------------------------------------------------- progress */
/* Close the current histogram interval: into the point while measuring; a progress
 * line for it on a terminal. */
static void bench_flush(struct bench *b, int print)
{
	uint64_t now = bench_ns();
	double secs = (double)(now - b->cur_start) * 1e-9;

	if (b->phase == BENCH_MEASURE)
		bench_hist_merge(&b->pt->hist, &b->cur);
	if (print && b->o->progress && secs >= 0.25) { /* not for a sliver at a phase end */
		double done = (double)(now - b->phase_start) * 1e-9;
		fprintf(stderr,
			"\r%-7s %5.1f/%-5.1fs  clients %-5u %10.0f ops/s  p50 %8.3f ms  "
			"p99 %8.3f ms  max %8.3f ms  queue %-6zu\033[K",
			b->phase == BENCH_WARMUP ? "warmup" : "measure", done, b->phase_len,
			b->active, (double)b->cur.total / secs,
			(double)bench_hist_quantile(&b->cur, 0.5) * 1e-6,
			(double)bench_hist_quantile(&b->cur, 0.99) * 1e-6, (double)b->cur.max * 1e-6,
			b->qlen);
		fflush(stderr);
	}
	bench_hist_reset(&b->cur);
	b->cur_start = now;
}

static void bench_second_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bench *b = w->data;

	(void)loop;
	(void)revents;
	bench_flush(b, 1);
}

/* ---------------------------------------------------------------- open loop timer */
static void bench_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bench *b = w->data;
	uint64_t now = bench_ns();
	double wait;

	(void)revents;
	while (b->next_intended <= now && !b->fatal &&
	       (b->phase == BENCH_WARMUP || b->phase == BENCH_MEASURE)) {
		bench_dispatch(b, b->next_intended);
		b->next_intended += b->interval_ns;
	}
	if (b->phase != BENCH_WARMUP && b->phase != BENCH_MEASURE)
		return;
	wait = (double)(b->next_intended - now) * 1e-9;
	ev_timer_set(w, wait > BENCH_MIN_TICK_S ? wait : BENCH_MIN_TICK_S, 0.0);
	ev_timer_start(loop, w);
}

/* ---------------------------------------------------------------- phases */
static void bench_phase_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void bench_stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct bench *b = w->data;

	(void)revents;
	b->interrupted = 1;
	ev_break(loop, EVBREAK_ALL);
}

static void bench_on_signal(int sig)
{
	(void)sig;
	bench_stop_flag = 1;
	if (bench_stop_target != NULL)
		ev_async_send(bench_stop_target->loop, &bench_stop_target->stop_w);
}

static void bench_signals_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = bench_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Run the loop until the phase timer fires (or a stop). */
static void bench_run_phase(struct bench *b, enum bench_phase ph, double seconds)
{
	b->phase = ph;
	b->phase_start = bench_ns();
	b->phase_len = seconds;
	ev_timer_set(&b->phase_w, seconds, 0.0);
	ev_now_update(b->loop);
	ev_timer_start(b->loop, &b->phase_w);
	ev_run(b->loop, 0);
	ev_timer_stop(b->loop, &b->phase_w);
}

/* poll: the channel document's URL at replica r's read plane (a channel name has at
 * most 200 characters, checked by the options). */
static void bench_poll_url(const struct bench_opts *o, size_t r, char url[BENCH_POLL_URL_MAX])
{
	snprintf(url, BENCH_POLL_URL_MAX, "%s/v1/channels/%s", o->http[r], o->channel);
}

/* poll: client bc's GET of the channel document at its replica (--replica, else
 * client i at replica i mod n). */
static int bench_open_poller(struct bench *b, struct bench_client *bc)
{
	const struct bench_opts *o = b->o;
	char url[BENCH_POLL_URL_MAX];

	bench_poll_url(o, o->poll_replica >= 0 ? (size_t)o->poll_replica : bc->id % o->nhttp, url);
	if (bench_poll_init(&b->http, &bc->poll, url, o->conditional, bench_poll_done, bc) != 0) {
		fprintf(stderr, "bulwark-bench: client %u: out of memory (libcurl handle)\n",
			bc->id);
		return -1;
	}
	return 0;
}

/* publish: client bc's channel, PREFIX/id, created (blocking, on the status client) with
 * the publisher key as its 1-of-1 policy; one that exists already is used as it is. */
static int bench_open_channel(struct bench *b, struct bench_client *bc)
{
	const char *pub = b->o->publisher_pub;
	struct bulwark_upd_result res;
	char err[256], channel[BENCH_CHANNEL_MAX];
	int rc;

	bench_channel_name(bc, channel);
	bc->version = 1;
	err[0] = '\0';
	rc = bulwark_channel_create(b->status, b->o->admin_key, channel, 1, &pub, 1, &res, err,
				    sizeof(err));
	if (rc != BULWARK_OK) {
		fprintf(stderr, "bulwark-bench: creating channel %s: %s%s%s\n", channel,
			bulwark_strerror(rc), err[0] ? ": " : "", err);
		return -1;
	}
	if (res.status != WIRE_UPD_OK && res.status != WIRE_UPD_EXISTS) {
		fprintf(stderr, "bulwark-bench: creating channel %s: %s: %s\n", channel,
			res.status_name, res.text);
		return -1;
	}
	return 0;
}

static int bench_open_clients(struct bench *b, unsigned n)
{
	char err[256];
	int rc;

	while (b->nopen < n) {
		struct bench_client *bc = &b->cl[b->nopen];
		unsigned first = b->nopen - b->nopen % b->o->lanes; /* lane 0 of its key */

		memset(bc, 0, sizeof(*bc));
		bc->b = b;
		bc->id = b->nopen;
		if (b->o->workload == BENCH_W_POLL) {
			if (bench_open_poller(b, bc) != 0)
				return -1;
			b->nopen++;
			continue;
		}
		err[0] = '\0';
		if (first == bc->id)
			rc = bulwark_client_open(b->o->config, NULL, b->loop, &bc->c, err,
						 sizeof(err));
		else
			rc = bulwark_client_lane(b->cl[first].c, &bc->c);
		if (rc != BULWARK_OK) {
			fprintf(stderr, "bulwark-bench: client %u: %s%s%s\n", bc->id,
				bulwark_strerror(rc), err[0] ? ": " : "", err);
			return -1;
		}
		bulwark_client_set_timeout(bc->c, BENCH_OP_TIMEOUT_MS);
		b->nopen++;
		if (b->o->workload == BENCH_W_PUBLISH && bench_open_channel(b, bc) != 0)
			return -1;
	}
	return 0;
}

/* Before clients [from, to) take part: get, mixed: preload their key 0 for reads;
 * publish: publish their channel's first version (or learn the version an earlier run
 * left), so that the measured PUBLISHes are all accepted ones. */
static int bench_preload(struct bench *b, unsigned from, unsigned to)
{
	if (from >= to || (b->o->workload != BENCH_W_GET && b->o->workload != BENCH_W_MIXED &&
			   b->o->workload != BENCH_W_PUBLISH))
		return 0;
	b->phase = BENCH_PRELOAD;
	b->preload_left = to - from;
	for (unsigned i = from; i < to && !b->fatal; i++)
		bench_issue(&b->cl[i], bench_ns());
	ev_timer_set(&b->phase_w, BENCH_DRAIN_S, 0.0);
	ev_now_update(b->loop);
	ev_timer_start(b->loop, &b->phase_w);
	if (!b->fatal)
		ev_run(b->loop, 0);
	ev_timer_stop(b->loop, &b->phase_w);
	if (b->fatal || b->interrupted)
		return -1;
	if (b->preload_left != 0) {
		snprintf(b->fatal_msg, sizeof(b->fatal_msg), "preload: %u %s did not complete",
			 b->preload_left, b->o->workload == BENCH_W_PUBLISH ? "PUBLISHes" : "PUTs");
		b->fatal = 1;
		return -1;
	}
	return 0;
}

/* One sweep point: warm-up, measured interval, drain. */
static int bench_point_run(struct bench *b, struct bench_point *pt, double value)
{
	struct bench_snap s0, s1;
	unsigned n = b->o->rate > 0 ? b->o->clients : (unsigned)value;
	unsigned had = b->nopen;

	memset(pt, 0, sizeof(*pt));
	bench_hist_reset(&pt->hist);
	pt->clients = n;
	pt->rate = b->o->rate > 0 ? value : 0;
	pt->nreplicas = b->o->npids;
	for (int s = 0; s < BENCH_CPU_STATES; s++)
		pt->machine_pct[s] = -1; /* until the interval is measured */
	b->pt = pt;
	if (bench_open_clients(b, n) != 0)
		return -1;
	if (bench_preload(b, had, b->nopen) != 0)
		return -1;
	b->active = n;
	bench_hist_reset(&b->cur);
	b->cur_start = bench_ns();
	b->phase = BENCH_WARMUP;
	if (b->o->rate > 0) {
		b->interval_ns = (uint64_t)(1e9 / value);
		if (b->interval_ns == 0)
			b->interval_ns = 1;
		b->nfree = 0;
		for (unsigned i = n; i-- > 0;)
			b->freelist[b->nfree++] = i;
		b->qhead = b->qlen = 0;
		b->next_intended = bench_ns();
		ev_timer_set(&b->tick_w, 0.0, 0.0);
		ev_timer_start(b->loop, &b->tick_w);
	} else {
		for (unsigned i = 0; i < n && !b->fatal; i++)
			bench_issue(&b->cl[i], bench_ns());
	}
	ev_timer_set(&b->second_w, 1.0, 1.0);
	ev_timer_start(b->loop, &b->second_w);

	if (b->o->warmup > 0 && !b->fatal)
		bench_run_phase(b, BENCH_WARMUP, b->o->warmup);
	if (!b->fatal && !b->interrupted) {
		/* The INFO queries sit outside the interval: before its start, after its end. */
		s0.executed = bench_executed(b);
		bench_snapshot(b, &s0);
		bench_flush(b, 0);
		bench_run_phase(b, BENCH_MEASURE, b->o->duration);
		bench_snapshot(b, &s1);
		bench_flush(b, 1);
		s1.executed = bench_executed(b);
		pt->seconds = (double)(s1.ns - s0.ns) * 1e-9;
		pt->cpu_bench = s1.cpu_bench - s0.cpu_bench;
		for (size_t i = 0; i < b->o->npids; i++)
			pt->cpu_replica[i] = s0.cpu_replica[i] < 0 || s1.cpu_replica[i] < 0
						     ? -1 : s1.cpu_replica[i] - s0.cpu_replica[i];
		pt->seqs = s0.executed >= 0 && s1.executed >= s0.executed
				   ? s1.executed - s0.executed : -1;
		/* A failed share computation leaves them unknown (-1, set above). */
		if (s0.machine_ok && s1.machine_ok)
			(void)bench_cpu_shares(&s0.machine, &s1.machine, pt->machine_pct);
	}
	ev_timer_stop(b->loop, &b->second_w);
	ev_timer_stop(b->loop, &b->tick_w);
	if (b->o->progress)
		fputc('\n', stderr);
	/* Drain: no new ops; wait for the outstanding ones (each ends by its timeout). */
	b->qlen = 0;
	if (b->inflight > 0 && !b->interrupted)
		bench_run_phase(b, BENCH_DRAIN, BENCH_DRAIN_S);
	if (b->fatal || b->interrupted)
		return -1;
	if (b->inflight > 0) {
		snprintf(b->fatal_msg, sizeof(b->fatal_msg), "%u ops still outstanding after %.0f s",
			 b->inflight, BENCH_DRAIN_S);
		b->fatal = 1;
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- options */
static void bench_run_usage(FILE *f)
{
	fprintf(f,
		"usage: bulwark-bench run --workload null|put|get|mixed|poll|publish\n"
		"         [--config FILE | --local N]\n"
		"         [--clients N | --rate R] [--warmup S] [--duration S] [--value-size B]\n"
		"         [--value-fill text|random] [--keys N]\n"
		"         [--read-ratio P] [--sweep V,V,...] [--lanes K] [--pids P,P,...]\n"
		"         [--client-auth macs|signatures] [--queue N] [--json | --csv]\n"
		"         [--out FILE] [--no-progress]\n"
		"         [--channel NAME] [--if-none-match] [--replica I]\n"
		"         [--admin-key FILE] [--publisher-key FILE]\n"
		"  --workload W    null: ordered empty op and reply; put: ordered PUT of\n"
		"                  --value-size bytes; get: read-only GET of a preloaded key;\n"
		"                  mixed: GET with probability --read-ratio, else PUT;\n"
		"                  poll: HTTP GET /v1/channels/NAME from the replicas' read\n"
		"                  planes (libcurl, one keep-alive connection per client; a\n"
		"                  200 must carry a JSON document and its ETag);\n"
		"                  publish: ordered PUBLISH of a new version of the client's\n"
		"                  own channel (a manifest of one --value-size byte file,\n"
		"                  uploaded once, signed by one publisher key, 2f+1 chunk\n"
		"                  receipts; every replica checks the signature and receipts)\n"
		"  --config FILE   drive the running group of FILE\n"
		"  --local N       start an N-replica group on loopback in a temporary folder\n"
		"                  (bulwark cluster init/up), stop and remove it at the end\n"
		"  --client-auth macs|signatures\n"
		"                  --local: how the group checks requests, given to cluster\n"
		"                  init: macs (its default), or signatures: every request\n"
		"                  Ed25519-signed and verified by every replica (robust mode);\n"
		"                  a --config group's file decides (not allowed with --config)\n"
		"  --clients N     closed loop: N clients, each sends its next op when the last\n"
		"                  completes (default 16); with --rate: the client pool (default 64)\n"
		"  --rate R        open loop: R ops/s at fixed intended times; latency counts from\n"
		"                  the intended time, waiting for a free client included\n"
		"  --warmup S      seconds before measuring (default 2)\n"
		"  --duration S    seconds measured (default 10)\n"
		"  --value-size B  put/mixed value bytes; publish: the released file's bytes\n"
		"                  (default 1024)\n"
		"  --value-fill F  text: every PUT the same value, 'a'..'z' repeated (default;\n"
		"                  LevelDB's snappy shrinks it ~10x); random: new pseudo-random\n"
		"                  bytes for every PUT, which nothing compresses (update chunks)\n"
		"  --keys N        put/mixed: each client's writes cycle over N keys of its own,\n"
		"                  1..%u (default %u): clients x N keys in the state\n"
		"  --read-ratio P  mixed: share of reads, 0..1 (default 0.5)\n"
		"  --sweep LIST    one point per value: client counts (closed loop) or rates (open)\n"
		"  --lanes K       clients per key, 1..%u: each K clients are lanes of one key\n"
		"                  (one handshake and one connection per replica, system calls\n"
		"                  shared); default: all clients of the run on one key; 1: a key\n"
		"                  and connections of its own per client\n"
		"  --pids LIST     the replica processes of a --config group, for CPU figures\n"
		"  --queue N       open loop: intended sends that may wait for a client\n"
		"                  (default 100000); beyond it they are dropped and counted\n"
		"  --json, --csv   machine-readable output (default: a table)\n"
		"  --out FILE      write the output to FILE instead of stdout\n"
		"  --no-progress   no progress line (it is shown only on a terminal anyway)\n"
		"  --channel NAME  poll: the channel (with --config: required, one with a\n"
		"                  published release); --local: its name (default %s), which\n"
		"                  the bench creates with one publisher key and publishes a\n"
		"                  release of one --value-size byte file to\n"
		"  --if-none-match poll: conditional polls, each sends the ETag of the last 200\n"
		"                  it got and counts a 304 (what agents of an unchanged channel\n"
		"                  see); default: every poll gets the whole document\n"
		"  --replica I     poll: every client polls replica I (default: client i polls\n"
		"                  replica i mod n)\n"
		"  publish: client i publishes to channel PREFIX/i (--channel PREFIX, default\n"
		"  %s), created with a 1-of-1 policy of the publisher key if it does not\n"
		"  exist; before measuring, each client publishes once (or goes on past the\n"
		"  version an earlier run left)\n"
		"  --admin-key FILE       publish, --config: the group's admin private key\n"
		"  --publisher-key FILE   publish, --config: the publisher's private key NAME.key,\n"
		"                  with NAME.pub next to it (bulwark keygen); --local makes both\n",
		BENCH_MAX_KEYS_PER_CLIENT, BENCH_KEYS_PER_CLIENT, BULWARK_MAX_LANES,
		BENCH_POLL_CHANNEL, BENCH_PUBLISH_CHANNEL);
}

static int bench_num(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi)) {
		fprintf(stderr, "bulwark-bench run: %s wants a number in [%g, %g], got '%s'\n", opt,
			lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* A whole number in [lo, hi]. */
static int bench_whole(const char *opt, const char *s, double lo, double hi, unsigned *out)
{
	double v;

	if (bench_num(opt, s, lo, hi, &v) != 0)
		return -1;
	if (v != floor(v)) {
		fprintf(stderr, "bulwark-bench run: %s wants a whole number, got '%s'\n", opt, s);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* A comma-separated list of numbers in [lo, hi] into out (at most max). */
static int bench_list(const char *opt, const char *s, double lo, double hi, double *out,
		      size_t max, size_t *n)
{
	char buf[512];
	char *save = NULL;

	if (strlen(s) >= sizeof(buf)) {
		fprintf(stderr, "bulwark-bench run: %s: list too long\n", opt);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
		if (*n == max) {
			fprintf(stderr, "bulwark-bench run: %s: at most %zu values\n", opt, max);
			return -1;
		}
		if (bench_num(opt, t, lo, hi, &out[*n]) != 0)
			return -1;
		(*n)++;
	}
	if (*n == 0) {
		fprintf(stderr, "bulwark-bench run: %s: empty list\n", opt);
		return -1;
	}
	return 0;
}

static int bench_parse(int argc, char **argv, struct bench_opts *o)
{
	int have_workload = 0, have_clients = 0, have_keys = 0;
	double v, pids[BENCH_MAX_REPLICAS];
	size_t len = 0;

	memset(o, 0, sizeof(*o));
	o->warmup = 2;
	o->duration = 10;
	o->value_size = 1024;
	o->keys = BENCH_KEYS_PER_CLIENT;
	o->read_ratio = 0.5;
	o->queue_max = 100000;
	o->poll_replica = -1;
	o->progress = isatty(2);
	for (int i = 0; i < argc && len < sizeof(o->command); i++)
		len += (size_t)snprintf(o->command + len, sizeof(o->command) - len, "%s%s",
					i ? " " : "bulwark-bench ", argv[i]);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			bench_run_usage(stdout);
			return 1;
		} else if (strcmp(a, "--json") == 0) {
			o->format = BENCH_F_JSON;
			takes = 0;
		} else if (strcmp(a, "--csv") == 0) {
			o->format = BENCH_F_CSV;
			takes = 0;
		} else if (strcmp(a, "--no-progress") == 0) {
			o->progress = 0;
			takes = 0;
		} else if (strcmp(a, "--if-none-match") == 0) {
			o->conditional = 1;
			takes = 0;
		}
		if (!takes)
			continue;
		if (val == NULL) {
			fprintf(stderr, "bulwark-bench run: unknown or incomplete option '%s'\n", a);
			return -1;
		}
		i++;
		if (strcmp(a, "--workload") == 0) {
			size_t w;
			for (w = 0; w < BENCH_NWORKLOADS && strcmp(val, bench_workloads[w]) != 0; w++)
				;
			if (w == BENCH_NWORKLOADS) {
				fprintf(stderr, "bulwark-bench run: unknown workload '%s' "
						"(null, put, get, mixed, poll, publish)\n", val);
				return -1;
			}
			o->workload = (enum bench_workload)w;
			have_workload = 1;
		} else if (strcmp(a, "--config") == 0) {
			o->config = val;
		} else if (strcmp(a, "--client-auth") == 0) {
			if (strcmp(val, "macs") != 0 && strcmp(val, "signatures") != 0) {
				fprintf(stderr, "bulwark-bench run: --client-auth '%s' is neither "
						"'macs' nor 'signatures'\n", val);
				return -1;
			}
			o->auth_arg = val;
		} else if (strcmp(a, "--local") == 0) {
			if (bench_num(a, val, 4, BENCH_MAX_REPLICAS, &v) != 0)
				return -1;
			if (((unsigned)v - 1u) % 3u != 0 || v != floor(v)) {
				fprintf(stderr, "bulwark-bench run: --local %s is not 3f+1 "
						"(4, 7, 10, ...)\n", val);
				return -1;
			}
			o->local = (unsigned)v;
		} else if (strcmp(a, "--clients") == 0) {
			if (bench_num(a, val, 1, BENCH_MAX_CLIENTS, &v) != 0)
				return -1;
			o->clients = (unsigned)v;
			have_clients = 1;
		} else if (strcmp(a, "--rate") == 0) {
			if (bench_num(a, val, 1, 1e7, &o->rate) != 0)
				return -1;
		} else if (strcmp(a, "--warmup") == 0) {
			if (bench_num(a, val, 0, 3600, &o->warmup) != 0)
				return -1;
		} else if (strcmp(a, "--duration") == 0) {
			if (bench_num(a, val, 0.1, 3600, &o->duration) != 0)
				return -1;
		} else if (strcmp(a, "--value-size") == 0) {
			if (bench_num(a, val, 0, BULWARK_MAX_VALUE, &v) != 0)
				return -1;
			o->value_size = (size_t)v;
		} else if (strcmp(a, "--value-fill") == 0) {
			if (strcmp(val, "text") != 0 && strcmp(val, "random") != 0) {
				fprintf(stderr, "bulwark-bench run: --value-fill %s: not text or "
						"random\n", val);
				return -1;
			}
			o->value_random = strcmp(val, "random") == 0;
		} else if (strcmp(a, "--keys") == 0) {
			if (bench_whole(a, val, 1, BENCH_MAX_KEYS_PER_CLIENT, &o->keys) != 0)
				return -1;
			have_keys = 1;
		} else if (strcmp(a, "--read-ratio") == 0) {
			if (bench_num(a, val, 0, 1, &o->read_ratio) != 0)
				return -1;
		} else if (strcmp(a, "--sweep") == 0) {
			if (bench_list(a, val, 1, 1e7, o->sweep, BENCH_MAX_SWEEP, &o->nsweep) != 0)
				return -1;
		} else if (strcmp(a, "--pids") == 0) {
			if (bench_list(a, val, 1, 4194304, pids, BENCH_MAX_REPLICAS, &o->npids) != 0)
				return -1;
			for (size_t k = 0; k < o->npids; k++)
				o->pids[k] = (pid_t)pids[k];
		} else if (strcmp(a, "--lanes") == 0) {
			if (bench_whole(a, val, 1, BULWARK_MAX_LANES, &o->lanes) != 0)
				return -1;
		} else if (strcmp(a, "--queue") == 0) {
			if (bench_num(a, val, 1, 1e8, &v) != 0)
				return -1;
			o->queue_max = (size_t)v;
		} else if (strcmp(a, "--out") == 0) {
			o->out = val;
		} else if (strcmp(a, "--channel") == 0) {
			if (strlen(val) > BENCH_PREFIX_MAX ||
			    wire_upd_check_channel(val, strlen(val)) != 0) {
				fprintf(stderr, "bulwark-bench run: --channel '%s' is not a channel name "
						"of at most %u characters ([A-Za-z0-9._-] and '/' "
						"between components)\n", val, BENCH_PREFIX_MAX);
				return -1;
			}
			o->channel = val;
		} else if (strcmp(a, "--admin-key") == 0 || strcmp(a, "--publisher-key") == 0) {
			int admin = a[2] == 'a';
			size_t n = strlen(val);
			char *dst = admin ? o->admin_key : o->publisher_key;
			if (n == 0 || n >= BENCH_PATH_MAX ||
			    (!admin && (n < 5 || strcmp(val + n - 4, ".key") != 0))) {
				fprintf(stderr, "bulwark-bench run: %s wants %s\n", a,
					admin ? "the group's admin private key file"
					      : "a publisher private key file NAME.key, its public "
						"key next to it in NAME.pub (as bulwark keygen "
						"writes them)");
				return -1;
			}
			memcpy(dst, val, n + 1);
			if (!admin) {
				memcpy(o->publisher_pub, val, n + 1);
				memcpy(o->publisher_pub + n - 4, ".pub", 4);
			}
		} else if (strcmp(a, "--replica") == 0) {
			unsigned id;
			if (bench_whole(a, val, 0, BENCH_MAX_REPLICAS - 1, &id) != 0)
				return -1;
			o->poll_replica = (int)id;
		} else {
			fprintf(stderr, "bulwark-bench run: unknown option '%s'\n", a);
			return -1;
		}
	}
	if (!have_workload) {
		fprintf(stderr, "bulwark-bench run: --workload is required\n");
		return -1;
	}
	if ((o->config != NULL) == (o->local != 0)) {
		fprintf(stderr, "bulwark-bench run: give exactly one of --config FILE, --local N\n");
		return -1;
	}
	if (o->config != NULL && o->auth_arg != NULL) {
		fprintf(stderr, "bulwark-bench run: --client-auth is for a --local group; a --config "
				"group authenticates clients as its file's client_auth says\n");
		return -1;
	}
	if (o->local != 0 && o->npids != 0) {
		fprintf(stderr, "bulwark-bench run: --pids is for a --config group; --local finds "
				"its replicas itself\n");
		return -1;
	}
	if (have_keys && o->workload != BENCH_W_PUT && o->workload != BENCH_W_MIXED) {
		fprintf(stderr, "bulwark-bench run: --keys is for --workload put and mixed\n");
		return -1;
	}
	if (o->workload != BENCH_W_PUBLISH && (o->admin_key[0] || o->publisher_key[0])) {
		fprintf(stderr, "bulwark-bench run: --admin-key and --publisher-key are for "
				"--workload publish\n");
		return -1;
	}
	if (o->workload == BENCH_W_PUBLISH && o->local != 0 &&
	    (o->admin_key[0] || o->publisher_key[0])) {
		fprintf(stderr, "bulwark-bench run: --admin-key and --publisher-key are for a "
				"--config group; --local makes its own keys\n");
		return -1;
	}
	if (o->workload == BENCH_W_PUBLISH && o->config != NULL &&
	    (!o->admin_key[0] || !o->publisher_key[0])) {
		fprintf(stderr, "bulwark-bench run: --workload publish with --config needs "
				"--admin-key FILE (creates the channels) and --publisher-key "
				"FILE (signs the manifests)\n");
		return -1;
	}
	if (o->workload == BENCH_W_PUBLISH) {
		if (o->conditional || o->poll_replica >= 0) {
			fprintf(stderr, "bulwark-bench run: --if-none-match and --replica are for "
					"--workload poll\n");
			return -1;
		}
		if (o->channel == NULL)
			o->channel = BENCH_PUBLISH_CHANNEL;
	} else if (o->workload == BENCH_W_POLL) {
		if (o->channel == NULL && o->config != NULL) {
			fprintf(stderr, "bulwark-bench run: --workload poll with --config needs "
					"--channel NAME, a channel with a published release\n");
			return -1;
		}
		if (o->channel == NULL)
			o->channel = BENCH_POLL_CHANNEL;
	} else if (o->channel != NULL || o->conditional || o->poll_replica >= 0) {
		fprintf(stderr, "bulwark-bench run: --channel, --if-none-match and --replica are "
				"for --workload poll (and --channel for publish)\n");
		return -1;
	}
	if (!have_clients)
		o->clients = o->rate > 0 ? 64 : 16;
	if (o->nsweep == 0) {
		o->sweep[0] = o->rate > 0 ? o->rate : o->clients;
		o->nsweep = 1;
	} else if (o->rate <= 0) {
		for (size_t k = 0; k < o->nsweep; k++) {
			if (o->sweep[k] != floor(o->sweep[k]) || o->sweep[k] > BENCH_MAX_CLIENTS) {
				fprintf(stderr, "bulwark-bench run: --sweep wants client counts "
						"1..%u in a closed loop\n", BENCH_MAX_CLIENTS);
				return -1;
			}
		}
	}
	if (o->workload == BENCH_W_POLL) {
		if (o->lanes > 1) {
			fprintf(stderr, "bulwark-bench run: --lanes is for the replica protocol's "
					"clients; each poll client has its own connection\n");
			return -1;
		}
		o->lanes = 1;
	} else if (o->lanes == 0) {
		/* Every client of the run on one key: the most clients any point opens. */
		o->lanes = o->clients;
		if (o->rate <= 0)
			for (size_t k = 0; k < o->nsweep; k++)
				if ((unsigned)o->sweep[k] > o->lanes)
					o->lanes = (unsigned)o->sweep[k];
		if (o->lanes > BULWARK_MAX_LANES)
			o->lanes = BULWARK_MAX_LANES;
		/* The report's command reproduces the run, whatever the default becomes. */
		len = strlen(o->command);
		snprintf(o->command + len, sizeof(o->command) - len, " --lanes %u", o->lanes);
	}
	return 0;
}

/* ---------------------------------------------------------------- the command */
/* What the run needs from the driven group's config (the file the clients open): its
 * client_auth, so that every report says whether its figures include an Ed25519 verify
 * per request and replica, and each replica's read plane for polls. Problems go to
 * stderr. Returns 0 or -1. */
static int bench_group_read(struct bench_opts *o)
{
	struct config_errors errs;
	struct bw_config cfg;
	int rc = 0;

	config_errors_init(&errs);
	if (config_load(o->config, &cfg, &errs) != CONFIG_OK) {
		config_errors_print(&errs, stderr);
		return -1;
	}
	o->client_auth = config_client_auth_name(cfg.client_auth);
	o->nhttp = cfg.n < BENCH_MAX_REPLICAS ? cfg.n : BENCH_MAX_REPLICAS;
	for (size_t i = 0; i < o->nhttp; i++) {
		const struct bw_config_replica *r = &cfg.replicas[i];
		int v6 = strchr(r->host, ':') != NULL;
		if ((size_t)snprintf(o->http[i], sizeof(o->http[i]), "http://%s%s%s:%u",
				     v6 ? "[" : "", r->host, v6 ? "]" : "",
				     (unsigned)r->http_port) >= sizeof(o->http[i])) {
			fprintf(stderr, "bulwark-bench: replica %zu's host name is too long\n", i);
			rc = -1;
		}
	}
	if (o->poll_replica >= 0 && (size_t)o->poll_replica >= o->nhttp) {
		fprintf(stderr, "bulwark-bench run: --replica %d: the group has replicas 0..%zu\n",
			o->poll_replica, o->nhttp - 1);
		rc = -1;
	}
	config_free(&cfg);
	return rc;
}

/* poll: wait until every polled replica serves the channel's document (a new release
 * is served once the group has certified it). Returns 0 or -1. */
static int bench_poll_ready(const struct bench_opts *o)
{
	uint64_t until = bench_ns() + (uint64_t)(BENCH_READY_S * 1e9);

	for (size_t i = 0; i < o->nhttp; i++) {
		char url[BENCH_POLL_URL_MAX], err[96];
		long status;

		if (o->poll_replica >= 0 && (size_t)o->poll_replica != i)
			continue;
		bench_poll_url(o, i, url);
		while ((status = bench_http_get(url, 2000, err, sizeof(err))) != 200) {
			if (bench_stop_flag || bench_ns() > until) {
				fprintf(stderr, "bulwark-bench: %s: %s (no document after %.0f s)\n",
					url, err, BENCH_READY_S);
				return -1;
			}
			usleep(100 * 1000);
		}
	}
	return 0;
}

/* publish: upload the release every PUBLISH names, one file of --value-size bytes
 * (b->value), from a client of the admin key (which replicas let upload chunks before
 * any channel names the publisher key). Returns 0 or -1 (said on stderr). */
static int bench_publish_release(struct bench *b)
{
	const char *key = b->o->publisher_key;
	struct bulwark_file file = { "bench.bin", b->value, b->o->value_size };
	struct bulwark_release_opts ro;
	struct bulwark_client *up = NULL;
	char err[256];
	int rc;

	err[0] = '\0';
	rc = bulwark_client_open(b->o->config, b->o->admin_key, NULL, &up, err, sizeof(err));
	if (rc != BULWARK_OK) {
		fprintf(stderr, "bulwark-bench: a client of the admin key: %s%s%s\n",
			bulwark_strerror(rc), err[0] ? ": " : "", err);
		return -1;
	}
	memset(&ro, 0, sizeof(ro));
	ro.key_paths = &key;
	ro.nkeys = 1;
	ro.files = &file;
	ro.nfiles = 1;
	err[0] = '\0';
	rc = bulwark_release_upload(up, &ro, &b->release, err, sizeof(err));
	bulwark_client_close(up);
	if (rc != BULWARK_OK) {
		fprintf(stderr, "bulwark-bench: uploading the release to publish: %s%s%s\n",
			bulwark_strerror(rc), err[0] ? ": " : "", err);
		return -1;
	}
	return 0;
}

static int bench_setup(struct bench *b, struct bench_opts *o)
{
	unsigned maxc = o->clients;
	char err[256];
	int rc;

	if (o->rate <= 0)
		for (size_t k = 0; k < o->nsweep; k++)
			if ((unsigned)o->sweep[k] > maxc)
				maxc = (unsigned)o->sweep[k];
	memset(b, 0, sizeof(*b));
	b->o = o;
	b->rng = 0x9e3779b97f4a7c15ull;
	b->cl = calloc(maxc, sizeof(*b->cl));
	b->freelist = calloc(maxc, sizeof(*b->freelist));
	b->queue = calloc(o->rate > 0 ? o->queue_max : 1, sizeof(*b->queue));
	b->value = malloc(o->value_size ? o->value_size : 1);
	if (b->cl == NULL || b->freelist == NULL || b->queue == NULL || b->value == NULL) {
		fprintf(stderr, "bulwark-bench: out of memory\n");
		return -1;
	}
	for (size_t i = 0; i < o->value_size; i++)
		b->value[i] = (uint8_t)('a' + i % 26);
	b->loop = ev_loop_new(EVFLAG_AUTO);
	if (b->loop == NULL) {
		fprintf(stderr, "bulwark-bench: cannot create an event loop\n");
		return -1;
	}
	ev_init(&b->phase_w, bench_phase_cb);
	ev_init(&b->second_w, bench_second_cb);
	ev_init(&b->tick_w, bench_tick_cb);
	b->phase_w.data = b->second_w.data = b->tick_w.data = b;
	ev_async_init(&b->stop_w, bench_stop_cb);
	b->stop_w.data = b;
	ev_async_start(b->loop, &b->stop_w);
	if (o->workload == BENCH_W_POLL && bench_http_init(&b->http, b->loop, (long)maxc) != 0)
		return -1;
	bench_stop_target = b;
	if (bench_stop_flag) {
		b->interrupted = 1;
		return -1;
	}
	rc = bulwark_client_open(o->config, NULL, NULL, &b->status, err, sizeof(err));
	if (rc != BULWARK_OK) {
		fprintf(stderr, "bulwark-bench: %s: %s\n", bulwark_strerror(rc), err);
		return -1;
	}
	bench_executed(b); /* connect the status client now, not at the first interval */
	if (o->workload == BENCH_W_PUBLISH && bench_publish_release(b) != 0)
		return -1;
	return 0;
}

static void bench_teardown(struct bench *b)
{
	b->phase = BENCH_STOP;
	for (unsigned i = 0; i < b->nopen; i++) {
		bulwark_client_close(b->cl[i].c);
		bench_poll_free(&b->cl[i].poll);
	}
	bench_http_free(&b->http);
	bulwark_release_free(b->release);
	bulwark_client_close(b->status);
	bench_stop_target = NULL;
	if (b->loop != NULL) {
		ev_async_stop(b->loop, &b->stop_w);
		ev_loop_destroy(b->loop);
	}
	free(b->value);
	free(b->queue);
	free(b->freelist);
	free(b->cl);
}

int bench_run_main(int argc, char **argv)
{
	static struct bench_opts o;
	struct bench_local local;
	struct bench b;
	struct bench_point *pts = NULL;
	size_t done = 0;
	FILE *out = stdout;
	int status = 1;
	int rc;

	rc = bench_parse(argc, argv, &o);
	if (rc != 0) {
		if (rc < 0)
			fprintf(stderr, "Run 'bulwark-bench run --help' for the options.\n");
		return rc < 0 ? 2 : 0;
	}
	bench_signals_install();
	bench_machine_get(&o.machine);
	bench_utc_now(o.date);
	memset(&local, 0, sizeof(local));
	local.guard_fd = -1; /* none, unless --local starts a group */
	memset(&b, 0, sizeof(b));
	pts = calloc(o.nsweep, sizeof(*pts));
	if (pts == NULL) {
		fprintf(stderr, "bulwark-bench: out of memory\n");
		return 1;
	}
	if (o.local != 0 && bench_local_start(&local, o.local, &o) != 0)
		goto out;
	if (bench_group_read(&o) != 0)
		goto out;
	if ((o.workload == BENCH_W_POLL || o.workload == BENCH_W_PUBLISH) && o.local != 0 &&
	    bench_local_keys(&local, &o) != 0)
		goto out;
	if (o.workload == BENCH_W_POLL &&
	    ((o.local != 0 && bench_local_release(&local, &o) != 0) || bench_poll_ready(&o) != 0))
		goto out;
	if (bench_setup(&b, &o) != 0) {
		if (b.interrupted)
			fprintf(stderr, "bulwark-bench: interrupted\n");
		goto out_bench;
	}
	for (size_t k = 0; k < o.nsweep; k++) {
		if (bench_point_run(&b, &pts[k], o.sweep[k]) != 0)
			break;
		done++;
	}
	if (b.interrupted)
		fprintf(stderr, "bulwark-bench: interrupted\n");
	else if (b.fatal)
		fprintf(stderr, "bulwark-bench: %s\n", b.fatal_msg);
	else
		status = 0;
	if (done > 0) {
		if (o.out != NULL && (out = fopen(o.out, "w")) == NULL) {
			fprintf(stderr, "bulwark-bench: cannot write %s: %s\n", o.out, strerror(errno));
			status = 1;
		} else {
			if (bench_report(out, &o, pts, done) != 0) {
				fprintf(stderr, "bulwark-bench: writing the report failed\n");
				status = 1;
			}
			if (out != stdout && fclose(out) != 0)
				status = 1;
		}
	}
out_bench:
	bench_teardown(&b);
out:
	bench_local_stop(&local);
	free(pts);
	return status;
}
