/* http_int.h: internals of the HTTP read plane shared between its files (metrics.c, plane.c). */
#ifndef BULWARK_HTTP_INT_H
#define BULWARK_HTTP_INT_H

#include <stdint.h>

#include "replica/http/http.h"
#include "wire/wire.h"

/* Status codes the plane answers with; requests_total is kept per route and code. */
#define HTTP__NCODES 10u
/* Histogram buckets of request duration, +Inf included. */
#define HTTP__NBUCKETS 12u
/* Route labels: the index is the enum http_route_kind (HTTP_ROUTE_NONE is "other"). */
#define HTTP__NROUTES 5u

struct http__metrics {
	uint64_t requests[HTTP__NROUTES][HTTP__NCODES];
	uint64_t bucket[HTTP__NBUCKETS]; /* per bucket, not cumulative; last is +Inf */
	double sum;                      /* seconds */
	uint64_t count;
	uint64_t connections;            /* open now */
	uint64_t refused;                /* closed at once: over a connection limit */
	uint64_t bytes_sent;             /* body bytes of responses sent in full */
};

/* One answered request: its route, status code, seconds from its head being read to
 * the end of the response, and the body bytes delivered. Codes outside the table are
 * timed but not counted by code. */
void http__metrics_observe(struct http__metrics *m, enum http_route_kind route, unsigned code,
			   double seconds, uint64_t body_bytes);

/* Append the Prometheus text of m to out (sticky errors: check wire_buf_error). */
void http__metrics_render(const struct http__metrics *m, struct wire_buf *out);

#endif
