/* http_glue.c: bulwarkd's source for the HTTP read plane: channel documents (envelope,
 * inclusion proof and certificate, rendered once per version and certificate and
 * shared by reference), chunk bytes, the group document and the daemon's metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "replica/bwd.h"
#include "replica/bwd_upd.h"

/* ---------------------------------------------------------------- documents */
static void doc_release(void *ctx)
{
	struct bwd_upd_doc *d = ctx;

	if (--d->refs > 0)
		return;
	wire_buf_free(&d->body);
	free(d);
}

static void docent_clear(struct bwd_upd_docent *e)
{
	if (e->doc != NULL)
		doc_release(e->doc);
	memset(e, 0, sizeof(*e));
}

void bwd__http_invalidate(struct bwd *b)
{
	if (b->upd == NULL)
		return;
	for (size_t i = 0; i < BWD_UPD_DOCS; i++)
		docent_clear(&b->upd->docs[i]);
}

/* Render the document of name at the current version under the certificate. */
static int doc_render(struct bwd *b, const char *name, struct bwd_upd_doc **out,
		      uint64_t *version)
{
	struct bwd_upd *u = b->upd;
	struct wire_upd_statement now;
	struct wire_upd_proof proof;
	uint8_t hash[WIRE_UPD_HASH_LEN];
	struct bwd_upd_doc *d;
	int rc;

	rc = updates_channel_proof(&b->app.upd, name, &proof, hash);
	if (rc == UPDATES_ERR_NOT_FOUND)
		return HTTP_ERR_NOT_FOUND;
	if (rc != 0)
		return HTTP_ERR_INTERNAL;
	/* Only a certificate over the current index may accompany the current proof. */
	if (!u->have_cert)
		return HTTP_ERR_UNAVAILABLE;
	if (updates_statement(&b->app.upd, 0, 0, &now) != 0)
		return HTTP_ERR_INTERNAL;
	if (memcmp(now.index_root, u->cert.st.index_root, WIRE_UPD_HASH_LEN) != 0)
		return HTTP_ERR_UNAVAILABLE;
	rc = updates_get_envelope(&b->app.upd, name, proof.version, &u->env);
	if (rc != 0)
		return rc == UPDATES_ERR_NOT_FOUND ? HTTP_ERR_NOT_FOUND : HTTP_ERR_INTERNAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return HTTP_ERR_INTERNAL;
	wire_buf_init(&d->body);
	rc = wire_upd_response_encode(u->env.p, u->env.len, &proof, &u->cert, &d->body);
	if (rc != 0) {
		log_warn("http", "cannot render a channel document", "channel=%s error=%s", name,
			 wire_upd_strerror(rc));
		wire_buf_free(&d->body);
		free(d);
		return HTTP_ERR_INTERNAL;
	}
	d->refs = 1;
	*out = d;
	*version = proof.version;
	return 0;
}

static int src_channel(void *ctx, const char *name, struct http_body *out)
{
	struct bwd *b = ctx;
	struct bwd_upd *u = b->upd;
	struct bwd_upd_docent *e = NULL, *victim = &u->docs[0];
	struct bwd_upd_doc *d;
	uint64_t version = 0;
	int rc;

	for (size_t i = 0; i < BWD_UPD_DOCS; i++) {
		struct bwd_upd_docent *x = &u->docs[i];
		if (x->doc != NULL && strcmp(x->name, name) == 0) {
			e = x;
			break;
		}
		if (x->doc == NULL ? victim->doc != NULL : (victim->doc != NULL && x->used < victim->used))
			victim = x;
	}
	/* A cached document is good while the channel's version and the certificate are. */
	if (e != NULL) {
		const struct updates__chan *c = NULL;
		for (size_t i = 0; i < b->app.upd.nchan; i++) {
			if (strcmp(b->app.upd.chan[i].name, name) == 0) {
				c = &b->app.upd.chan[i];
				break;
			}
		}
		if (c == NULL || c->version != e->version || !u->have_cert ||
		    e->cert_seq != u->cert.st.seq || e->cert_time != u->cert.st.time_ms ||
		    e->cert_nsigs != u->cert.nsigs) {
			docent_clear(e);
			victim = e;
			e = NULL;
		}
	}
	if (e == NULL) {
		rc = doc_render(b, name, &d, &version);
		if (rc != 0)
			return rc;
		docent_clear(victim);
		e = victim;
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->version = version;
		e->cert_seq = u->cert.st.seq;
		e->cert_time = u->cert.st.time_ms;
		e->cert_nsigs = u->cert.nsigs;
		e->doc = d;
	}
	e->used = ++u->doc_clock;
	e->doc->refs++;
	out->data = e->doc->body.p;
	out->len = e->doc->body.len;
	out->release = doc_release;
	out->release_ctx = e->doc;
	/* Strong: the same tag is always the same bytes (a certificate that gained
	 * signatures is a new document). */
	snprintf(out->etag, sizeof(out->etag), "v%llu-s%llu-t%llu-n%u",
		 (unsigned long long)e->version, (unsigned long long)e->cert_seq,
		 (unsigned long long)e->cert_time, e->cert_nsigs);
	return 0;
}

/* ---------------------------------------------------------------- chunks, group, metrics */
static int src_chunk(void *ctx, const uint8_t sha256[32], struct http_body *out)
{
	struct bwd *b = ctx;
	struct bwd_upd *u = b->upd;
	int rc = updates_chunk_get(&u->chunks, sha256, 0, 0, &u->chunk_body, NULL);

	if (rc == UPDATES_ERR_NOT_FOUND)
		return HTTP_ERR_NOT_FOUND;
	if (rc != 0) {
		log_warn("http", "cannot read a chunk", "error=%s", updates_strerror(rc));
		return HTTP_ERR_INTERNAL;
	}
	/* Copied by the plane before it returns to the loop (http.h). */
	out->data = u->chunk_body.p != NULL ? u->chunk_body.p : (const uint8_t *)"";
	out->len = u->chunk_body.len;
	return 0;
}

static int group_render(struct bwd *b)
{
	struct wire_buf *g = &b->upd->group_doc;
	char line[512], hex[2 * CRYPTO_ED25519_PUB + 1];
	int n;

	wire_buf_reset(g);
	n = snprintf(line, sizeof(line), "{\"group\":\"%llu\",\"epoch\":%llu,\"f\":%u,\"n\":%u,"
		     "\"replicas\":[", (unsigned long long)b->cfg.group_id,
		     (unsigned long long)b->cfg.epoch, b->cfg.f, b->cfg.n);
	wire_put_fixed(g, line, (size_t)n);
	for (uint32_t i = 0; i < b->cfg.n; i++) {
		const struct bw_config_replica *r = &b->cfg.replicas[i];
		wire_upd_hex(r->public_key, CRYPTO_ED25519_PUB, hex);
		/* Hosts are validated literals or DNS names: nothing to escape. */
		n = snprintf(line, sizeof(line),
			     "%s{\"id\":%u,\"host\":\"%s\",\"port\":%u,\"http_port\":%u,"
			     "\"public_key\":\"%s\"}", i > 0 ? "," : "", i, r->host,
			     (unsigned)r->port, (unsigned)r->http_port, hex);
		if (n < 0 || (size_t)n >= sizeof(line))
			return HTTP_ERR_INTERNAL;
		wire_put_fixed(g, line, (size_t)n);
	}
	wire_put_fixed(g, "]}\n", 3);
	return wire_buf_error(g) != 0 ? HTTP_ERR_INTERNAL : 0;
}

static int src_group(void *ctx, struct http_body *out)
{
	struct bwd *b = ctx;

	if (b->upd->group_doc.len == 0 && group_render(b) != 0)
		return HTTP_ERR_INTERNAL;
	out->data = b->upd->group_doc.p;
	out->len = b->upd->group_doc.len;
	snprintf(out->etag, sizeof(out->etag), "g%llu-e%llu", (unsigned long long)b->cfg.group_id,
		 (unsigned long long)b->cfg.epoch);
	return 0;
}

static int src_metrics(void *ctx, struct wire_buf *out)
{
	struct bwd *b = ctx;
	struct pbft_status st;
	char line[1536];
	int n;

	pbft_get_status(b->core, &st);
	n = snprintf(line, sizeof(line),
		     "# TYPE bulwark_view gauge\nbulwark_view %llu\n"
		     "# TYPE bulwark_primary gauge\nbulwark_primary %u\n"
		     "# TYPE bulwark_view_active gauge\nbulwark_view_active %d\n"
		     "# TYPE bulwark_low_watermark gauge\nbulwark_low_watermark %llu\n"
		     "# TYPE bulwark_last_executed gauge\nbulwark_last_executed %llu\n"
		     "# TYPE bulwark_last_committed gauge\nbulwark_last_committed %llu\n"
		     "# TYPE bulwark_transferring gauge\nbulwark_transferring %d\n"
		     "# TYPE bulwark_dropped_total counter\nbulwark_dropped_total %llu\n"
		     "# TYPE bulwark_frames_bad_total counter\nbulwark_frames_bad_total %llu\n"
		     "# TYPE bulwark_frames_refused_total counter\nbulwark_frames_refused_total %llu\n"
		     "# TYPE bulwark_sends_dropped_total counter\nbulwark_sends_dropped_total %llu\n"
		     "# TYPE bulwark_core_memory_bytes gauge\nbulwark_core_memory_bytes %zu\n"
		     "# TYPE bulwark_kv_writes_total counter\nbulwark_kv_writes_total %llu\n"
		     "# TYPE bulwark_kv_writes_version_kept_total counter\n"
		     "bulwark_kv_writes_version_kept_total %llu\n"
		     "# TYPE bulwark_uptime_seconds gauge\nbulwark_uptime_seconds %llu\n",
		     (unsigned long long)st.view, st.primary, st.view_active,
		     (unsigned long long)st.low_watermark, (unsigned long long)st.last_executed,
		     (unsigned long long)st.last_committed, st.transferring,
		     (unsigned long long)st.dropped, (unsigned long long)b->ctr.frames_bad,
		     (unsigned long long)b->ctr.frames_refused,
		     (unsigned long long)b->ctr.sends_dropped, st.memory,
		     (unsigned long long)b->app.kv.writes, (unsigned long long)b->app.kv.ver_hits,
		     (unsigned long long)((bwd__now_ms() - b->start_ms) / 1000u));
	if (n < 0 || (size_t)n >= sizeof(line))
		return HTTP_ERR_INTERNAL;
	wire_put_fixed(out, line, (size_t)n);
	if (wire_buf_error(out) != 0)
		return HTTP_ERR_INTERNAL;
	return bwd__upd_metrics(b, out) != 0 ? HTTP_ERR_INTERNAL : 0;
}

/* ---------------------------------------------------------------- start, stop */
int bwd__http_open(struct bwd *b)
{
	const struct bw_config_replica *me = &b->cfg.replicas[b->id];
	struct http_config hc;
	struct http_source src;
	char err[256];

	http_config_init(&hc);
	hc.host = me->host;
	hc.port = me->http_port;
	memset(&src, 0, sizeof(src));
	src.ctx = b;
	src.channel = src_channel;
	src.chunk = src_chunk;
	src.group = src_group;
	src.metrics = src_metrics;
	err[0] = '\0';
	b->upd->http = http_start(b->loop, &hc, &src, err, sizeof(err));
	if (b->upd->http == NULL) {
		snprintf(b->why, sizeof(b->why), "cannot start the HTTP read plane on %s:%u: %s",
			 me->host, (unsigned)me->http_port, err);
		return BWD_ERR_LISTEN;
	}
	log_info("bulwarkd", "HTTP read plane started", "listen=%s:%u", me->host,
		 (unsigned)http_port(b->upd->http));
	return BWD_OK;
}

void bwd__http_close(struct bwd *b)
{
	if (b->upd == NULL)
		return;
	/* Responses still holding documents release them inside http_stop. */
	http_stop(b->upd->http);
	b->upd->http = NULL;
	bwd__http_invalidate(b);
}
