/* trace.c: decisions as "condition -> action" lines to the injected tracer. */
#include <stdio.h>

#include "replica/core/pbft_int.h"

void pbft__trace(struct pbft *r, enum pbft_trace_level level, const char *fmt, ...)
{
	char line[PBFT__TRACE_LEN];
	va_list ap;

	if (!PBFT__TRACING(r, level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (r->cfg.tracer.trace_level != NULL)
		r->cfg.tracer.trace_level(r->cfg.tracer.ctx, r->id, level, line);
	else
		r->cfg.tracer.trace(r->cfg.tracer.ctx, r->id, line);
}

void pbft__drop(struct pbft *r, const char *why)
{
	r->dropped++;
	PBFT_TRACE(r, "%s -> drop", why);
}
