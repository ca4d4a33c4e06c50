/* report.c: bulwark-bench run's output: a table, one JSON object, or CSV rows. */
#include "bench/run.h"

#include <jansson.h>
#include <string.h>

#include "client/bulwark.h"

/* Figures derived from one point. */
struct bench_fig {
	double ops_s;
	double p50, p90, p99, p999, max, mean; /* ms */
	double cpu_replicas;      /* s, sum over replicas with a known figure; < 0: none */
	double cpu_total;         /* s: replicas + bench; < 0 unknown */
	double us_per_op;         /* total CPU per op; < 0 unknown */
	double bench_us_per_op;
	double batch;             /* ordered ops per primary seq; < 0 unknown */
};

static void bench_figures(const struct bench_point *p, struct bench_fig *f)
{
	const struct bench_hist *h = &p->hist;
	int known = p->nreplicas > 0;

	f->ops_s = p->seconds > 0 ? (double)p->ops / p->seconds : 0;
	f->p50 = (double)bench_hist_quantile(h, 0.50) * 1e-6;
	f->p90 = (double)bench_hist_quantile(h, 0.90) * 1e-6;
	f->p99 = (double)bench_hist_quantile(h, 0.99) * 1e-6;
	f->p999 = (double)bench_hist_quantile(h, 0.999) * 1e-6;
	f->max = (double)h->max * 1e-6;
	f->mean = bench_hist_mean(h) * 1e-6;
	f->cpu_replicas = 0;
	for (size_t i = 0; i < p->nreplicas; i++) {
		if (p->cpu_replica[i] < 0)
			known = 0;
		else
			f->cpu_replicas += p->cpu_replica[i];
	}
	if (!known)
		f->cpu_replicas = -1;
	f->cpu_total = known ? f->cpu_replicas + p->cpu_bench : -1;
	f->us_per_op = known && p->ops > 0 ? f->cpu_total / (double)p->ops * 1e6 : -1;
	f->bench_us_per_op = p->ops > 0 ? p->cpu_bench / (double)p->ops * 1e6 : -1;
	f->batch = p->seqs > 0 && p->ordered > 0 ? (double)p->ordered / (double)p->seqs : -1;
}

static const char *bench_mode(const struct bench_opts *o)
{
	return o->rate > 0 ? "open" : "closed";
}

/* ---------------------------------------------------------------- table */
/* " v" right-aligned in width with prec decimals, or " -" when v < 0 (unknown). */
static void bench_opt_num(FILE *f, double v, int width, int prec)
{
	if (v < 0)
		fprintf(f, " %*s", width, "-");
	else
		fprintf(f, " %*.*f", width, prec, v);
}

static int bench_table(FILE *f, const struct bench_opts *o, const struct bench_machine *m,
		       const char *date, const struct bench_point *pts, size_t n)
{
	fprintf(f, "bulwark-bench %s: workload %s, %s loop, ", bulwark_version(),
		bench_workload_name(o->workload), bench_mode(o));
	if (o->workload != BENCH_W_POLL) /* polls use no client key */
		fprintf(f, "%u lane%s per key, ", o->lanes, o->lanes == 1 ? "" : "s");
	fprintf(f, "client_auth %s, %zu replica processes measured\n", o->client_auth,
		pts[0].nreplicas);
	if (o->workload == BENCH_W_PUT || o->workload == BENCH_W_MIXED)
		fprintf(f, "values: %zu bytes, %s; %u keys per client\n", o->value_size,
			o->value_random ? "random (new for every PUT)" : "text (one for every PUT)",
			o->keys);
	if (o->workload == BENCH_W_PUBLISH)
		fprintf(f, "publishes: client i to channel %s/i, each a new version: a manifest of "
			   "one %zu-byte file signed by one key, 2f+1 receipts per chunk\n",
			o->channel, o->value_size);
	if (o->workload == BENCH_W_POLL) {
		fprintf(f, "polls: GET /v1/channels/%s, %s, ", o->channel,
			o->conditional ? "conditional (If-None-Match: the last ETag; 304 if unchanged)"
				       : "full (every answer the whole document)");
		if (o->poll_replica >= 0)
			fprintf(f, "all to replica %d's read plane\n", o->poll_replica);
		else
			fprintf(f, "client i to replica i mod %zu's read plane\n", o->nhttp);
	}
	fprintf(f, "machine: %s, %u cores, %s, load average %.2f before the run; %s\n", m->cpu,
		m->cores, m->kernel, m->load1, date);
	fprintf(f, "command: %s\n\n", o->command);
	fprintf(f, "%7s %9s %10s %9s %9s %9s %9s %9s %9s %10s %9s %8s %7s\n", "clients", "rate",
		"ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors", "cpu us/op",
		"bench us", "batch", "dropped");
	for (size_t i = 0; i < n; i++) {
		const struct bench_point *p = &pts[i];
		struct bench_fig g;
		bench_figures(p, &g);
		fprintf(f, "%7u", p->clients);
		bench_opt_num(f, p->rate > 0 ? p->rate : -1, 9, 0);
		fprintf(f, " %10.0f %9.3f %9.3f %9.3f %9.3f %9.3f %9llu", g.ops_s, g.p50, g.p90, g.p99,
			g.p999, g.max, (unsigned long long)p->errors);
		bench_opt_num(f, g.us_per_op, 10, 1);
		bench_opt_num(f, g.bench_us_per_op, 9, 1);
		bench_opt_num(f, g.batch, 8, 1);
		fprintf(f, " %7llu\n", (unsigned long long)p->dropped);
		if (p->errors > 0)
			fprintf(f, "        last error: %s\n", p->last_error);
		if (o->workload == BENCH_W_POLL)
			fprintf(f, "        answers: %llu 200 (the document), %llu 304 (not modified)\n",
				(unsigned long long)(p->ops - p->not_modified),
				(unsigned long long)p->not_modified);
	}
	for (size_t i = 0; i < n; i++) {
		const struct bench_point *p = &pts[i];
		if (p->nreplicas == 0)
			continue;
		fprintf(f, "%s%u clients: CPU s in %.1f s: bench %.2f, replicas", i ? "" : "\n",
			p->clients, p->seconds, p->cpu_bench);
		for (size_t r = 0; r < p->nreplicas; r++)
			bench_opt_num(f, p->cpu_replica[r], 0, 2);
		fputc('\n', f);
	}
	for (size_t i = 0; i < n; i++) {
		const double *share = pts[i].machine_pct;
		if (share[BENCH_CPU_BUSY] < 0)
			continue;
		fprintf(f, "%s%u clients: the machine's CPU time: busy %.1f %%, idle %.1f %%, "
			   "iowait %.1f %%, steal %.1f %%\n", i ? "" : "\n", pts[i].clients,
			share[BENCH_CPU_BUSY], share[BENCH_CPU_IDLE], share[BENCH_CPU_IOWAIT],
			share[BENCH_CPU_STEAL]);
	}
	return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- CSV */
/* v with prec decimals and a comma; an empty field when v < 0 (unknown). */
static void bench_csv_num(FILE *f, double v, int prec)
{
	if (v >= 0)
		fprintf(f, "%.*f", prec, v);
	fputc(',', f);
}

static int bench_csv(FILE *f, const struct bench_opts *o, const struct bench_machine *m,
		     const char *date, const struct bench_point *pts, size_t n)
{
	fprintf(f, "workload,mode,clients,rate,ops,errors,dropped,seconds,ops_per_s,p50_ms,p90_ms,"
		   "p99_ms,p999_ms,max_ms,mean_ms,cpu_bench_s,cpu_replicas_s,cpu_us_per_op,"
		   "bench_cpu_us_per_op,mean_batch,value_size,value_fill,lanes,client_auth,load_avg,date,"
		   "cpu_model,cores,kernel,machine_busy_pct,machine_idle_pct,machine_iowait_pct,"
		   "machine_steal_pct,keys_per_client\n");
	for (size_t i = 0; i < n; i++) {
		const struct bench_point *p = &pts[i];
		struct bench_fig g;
		bench_figures(p, &g);
		fprintf(f, "%s,%s,%u,%.0f,%llu,%llu,%llu,%.3f,%.1f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f,",
			bench_workload_name(o->workload), bench_mode(o), p->clients, p->rate,
			(unsigned long long)p->ops, (unsigned long long)p->errors,
			(unsigned long long)p->dropped, p->seconds, g.ops_s, g.p50, g.p90, g.p99,
			g.p999, g.max, g.mean, p->cpu_bench);
		bench_csv_num(f, g.cpu_replicas, 3);
		bench_csv_num(f, g.us_per_op, 2);
		bench_csv_num(f, g.bench_us_per_op, 2);
		bench_csv_num(f, g.batch, 2);
		fprintf(f, "%zu,%s,%u,%s,", o->value_size, bench_value_fill(o), o->lanes,
			o->client_auth);
		bench_csv_num(f, m->load1, 2);
		fprintf(f, "%s,", date);
		bench_csv_field(f, m->cpu);
		fprintf(f, ",%u,", m->cores);
		bench_csv_field(f, m->kernel);
		for (int s = 0; s < BENCH_CPU_STATES; s++) {
			fputc(',', f);
			if (p->machine_pct[s] >= 0)
				fprintf(f, "%.1f", p->machine_pct[s]);
		}
		fprintf(f, ",%u\n", o->keys);
	}
	return ferror(f) ? -1 : 0;
}

/* ---------------------------------------------------------------- JSON */
static json_t *bench_json_num(double v)
{
	return v < 0 ? json_null() : json_real(v);
}

static int bench_json(FILE *f, const struct bench_opts *o, const struct bench_machine *m,
		      const char *date, const struct bench_point *pts, size_t n)
{
	json_t *root = json_object();
	json_t *points = json_array();
	int rc = -1;

	if (root == NULL || points == NULL)
		goto err;
	json_object_set_new(root, "tool", json_string("bulwark-bench"));
	json_object_set_new(root, "version", json_string(bulwark_version()));
	json_object_set_new(root, "date", json_string(date));
	json_object_set_new(root, "command", json_string(o->command));
	json_object_set_new(root, "machine",
			    json_pack("{s:s, s:i, s:s, s:s, s:o}", "cpu", m->cpu, "cores",
				      (int)m->cores, "kernel", m->kernel, "host", m->host,
				      "load_avg_1min", bench_json_num(m->load1)));
	json_object_set_new(root, "workload", json_string(bench_workload_name(o->workload)));
	json_object_set_new(root, "mode", json_string(bench_mode(o)));
	json_object_set_new(root, "warmup_s", json_real(o->warmup));
	json_object_set_new(root, "duration_s", json_real(o->duration));
	json_object_set_new(root, "value_size", json_integer((json_int_t)o->value_size));
	json_object_set_new(root, "value_fill", json_string(bench_value_fill(o)));
	json_object_set_new(root, "keys_per_client", json_integer((json_int_t)o->keys));
	json_object_set_new(root, "lanes", json_integer((json_int_t)o->lanes));
	json_object_set_new(root, "client_auth", json_string(o->client_auth));
	if (o->workload == BENCH_W_MIXED)
		json_object_set_new(root, "read_ratio", json_real(o->read_ratio));
	if (o->workload == BENCH_W_PUBLISH)
		json_object_set_new(root, "channel_prefix", json_string(o->channel));
	if (o->workload == BENCH_W_POLL) {
		json_object_set_new(root, "channel", json_string(o->channel));
		json_object_set_new(root, "conditional", json_boolean(o->conditional));
		json_object_set_new(root, "replica", json_integer(o->poll_replica));
	}
	json_object_set_new(root, "hist_rel_error", json_real(BENCH_HIST_REL_ERR));
	for (size_t i = 0; i < n; i++) {
		const struct bench_point *p = &pts[i];
		struct bench_fig g;
		json_t *pt, *reps = json_array();
		bench_figures(p, &g);
		for (size_t r = 0; r < p->nreplicas && reps != NULL; r++)
			json_array_append_new(reps, bench_json_num(p->cpu_replica[r]));
		pt = json_pack("{s:i, s:f, s:I, s:I, s:I, s:I, s:f, s:f}", "clients", (int)p->clients,
			       "rate", p->rate, "ops", (json_int_t)p->ops, "ordered",
			       (json_int_t)p->ordered, "errors", (json_int_t)p->errors, "dropped",
			       (json_int_t)p->dropped, "seconds", p->seconds, "ops_per_s", g.ops_s);
		if (pt == NULL || reps == NULL) {
			json_decref(pt);
			json_decref(reps);
			goto err;
		}
		json_object_set_new(pt, "latency_ms",
				    json_pack("{s:f, s:f, s:f, s:f, s:f, s:f}", "p50", g.p50, "p90",
					      g.p90, "p99", g.p99, "p99_9", g.p999, "max", g.max,
					      "mean", g.mean));
		json_object_set_new(pt, "cpu_s",
				    json_pack("{s:f, s:o, s:o, s:o}", "bench", p->cpu_bench,
					      "replicas", reps, "replicas_total",
					      bench_json_num(g.cpu_replicas), "total",
					      bench_json_num(g.cpu_total)));
		if (o->workload == BENCH_W_POLL)
			json_object_set_new(pt, "not_modified", json_integer((json_int_t)p->not_modified));
		json_object_set_new(pt, "cpu_us_per_op", bench_json_num(g.us_per_op));
		json_object_set_new(pt, "bench_cpu_us_per_op", bench_json_num(g.bench_us_per_op));
		json_object_set_new(pt, "primary_seqs",
				    p->seqs >= 0 ? json_integer(p->seqs) : json_null());
		json_object_set_new(pt, "mean_batch", bench_json_num(g.batch));
		json_object_set_new(pt, "machine_cpu_pct",
				    p->machine_pct[BENCH_CPU_BUSY] < 0
					    ? json_null()
					    : json_pack("{s:f, s:f, s:f, s:f}", "busy",
							p->machine_pct[BENCH_CPU_BUSY], "idle",
							p->machine_pct[BENCH_CPU_IDLE], "iowait",
							p->machine_pct[BENCH_CPU_IOWAIT], "steal",
							p->machine_pct[BENCH_CPU_STEAL]));
		if (p->errors > 0)
			json_object_set_new(pt, "last_error", json_string(p->last_error));
		json_array_append_new(points, pt);
	}
	json_object_set_new(root, "points", points);
	points = NULL;
	if (json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 && fputc('\n', f) != EOF)
		rc = ferror(f) ? -1 : 0;
err:
	json_decref(points);
	json_decref(root);
	return rc;
}

int bench_report(FILE *f, const struct bench_opts *o, const struct bench_point *pts, size_t n)
{
	switch (o->format) {
	case BENCH_F_JSON:
		return bench_json(f, o, &o->machine, o->date, pts, n);
	case BENCH_F_CSV:
		return bench_csv(f, o, &o->machine, o->date, pts, n);
	case BENCH_F_TABLE:
	default:
		return bench_table(f, o, &o->machine, o->date, pts, n);
	}
}
