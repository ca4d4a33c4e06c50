/* metrics.c: the HTTP read plane's own counters and their Prometheus text exposition. */
#include <stdarg.h>
#include <stdio.h>

#include "replica/http/http_int.h"

static const unsigned metrics_codes[HTTP__NCODES] = {200, 206, 304, 400, 404,
						     405, 414, 416, 500, 503};
static const char *const metrics_routes[HTTP__NROUTES] = {"other", "channel", "chunk",
							  "group", "metrics"};
/* Upper bounds of the finite buckets, seconds; the last bucket is +Inf. */
static const double metrics_le[HTTP__NBUCKETS - 1] = {0.0001, 0.00025, 0.0005, 0.001,
						      0.0025, 0.005,   0.01,   0.025,
						      0.05,   0.1,     1.0};
static const char *const metrics_le_text[HTTP__NBUCKETS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
	"0.01",   "0.025",   "0.05",   "0.1",   "1",      "+Inf"};

void http__metrics_observe(struct http__metrics *m, enum http_route_kind route, unsigned code,
			   double seconds, uint64_t body_bytes)
{
	unsigned r = (unsigned)route < HTTP__NROUTES ? (unsigned)route : 0;
	unsigned b = 0;

	for (unsigned i = 0; i < HTTP__NCODES; i++)
		if (metrics_codes[i] == code)
			m->requests[r][i]++;
	if (seconds < 0)
		seconds = 0;
	while (b < HTTP__NBUCKETS - 1 && seconds > metrics_le[b])
		b++;
	m->bucket[b]++;
	m->sum += seconds;
	m->count++;
	m->bytes_sent += body_bytes;
}

__attribute__((format(printf, 2, 3)))
static void metrics_printf(struct wire_buf *out, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	wire_put_fixed(out, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void http__metrics_render(const struct http__metrics *m, struct wire_buf *out)
{
	uint64_t cum = 0;

	metrics_printf(out, "# HELP bulwark_http_requests_total HTTP requests answered, by route "
			    "and status code.\n"
			    "# TYPE bulwark_http_requests_total counter\n");
	for (unsigned r = 0; r < HTTP__NROUTES; r++)
		for (unsigned c = 0; c < HTTP__NCODES; c++)
			if (m->requests[r][c] != 0)
				metrics_printf(out,
					       "bulwark_http_requests_total{route=\"%s\",code=\"%u\"} %llu\n",
					       metrics_routes[r], metrics_codes[c],
					       (unsigned long long)m->requests[r][c]);
	metrics_printf(out, "# HELP bulwark_http_request_duration_seconds Time from a request's "
			    "head to the end of its response.\n"
			    "# TYPE bulwark_http_request_duration_seconds histogram\n");
	for (unsigned b = 0; b < HTTP__NBUCKETS; b++) {
		cum += m->bucket[b];
		metrics_printf(out, "bulwark_http_request_duration_seconds_bucket{le=\"%s\"} %llu\n",
			       metrics_le_text[b], (unsigned long long)cum);
	}
	metrics_printf(out, "bulwark_http_request_duration_seconds_sum %.9f\n", m->sum);
	metrics_printf(out, "bulwark_http_request_duration_seconds_count %llu\n",
		       (unsigned long long)m->count);
	metrics_printf(out, "# HELP bulwark_http_connections Open HTTP connections.\n"
			    "# TYPE bulwark_http_connections gauge\n"
			    "bulwark_http_connections %llu\n",
		       (unsigned long long)m->connections);
	metrics_printf(out, "# HELP bulwark_http_connections_refused_total Connections closed "
			    "unserved: over max_connections or the per-address limit.\n"
			    "# TYPE bulwark_http_connections_refused_total counter\n"
			    "bulwark_http_connections_refused_total %llu\n",
		       (unsigned long long)m->refused);
	metrics_printf(out, "# HELP bulwark_http_bytes_sent_total Body bytes of HTTP responses "
			    "sent in full.\n"
			    "# TYPE bulwark_http_bytes_sent_total counter\n"
			    "bulwark_http_bytes_sent_total %llu\n",
		       (unsigned long long)m->bytes_sent);
}
