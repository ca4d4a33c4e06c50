/* updates_glue.c: bulwarkd's update-service glue: chunk uploads with signed receipts,
 * freshness statements signed per (seq, time bucket) and exchanged between replicas,
 * the certificate built from matching signatures, and fetching the chunks of a
 * published manifest that this replica lacks from its peers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "replica/bwd.h"
#include "replica/bwd_upd.h"
#include "replica/store/local.h"

/* ---------------------------------------------------------------- configuration */
void bwd__upd_config(const struct bwd *b, struct updates_config *uc)
{
	const struct bw_config *c = &b->cfg;

	updates_config_default(uc);
	uc->group = c->group_id;
	uc->epoch = c->epoch;
	uc->n = c->n;
	uc->f = c->f;
	for (uint32_t i = 0; i < c->n && i < WIRE_UPD_MAX_REPLICAS; i++)
		memcpy(uc->replica_keys[i], c->replicas[i].public_key, CRYPTO_ED25519_PUB);
	memcpy(uc->admin_key, c->admin_key, CRYPTO_ED25519_PUB);
	uc->statement_validity_ms = c->statement_validity_ms;
}

/* ---------------------------------------------------------------- local chunk space */
static int blob_key(const uint8_t *key, size_t klen, uint8_t out[1 + WIRE_UPD_HASH_LEN])
{
	if (klen != WIRE_UPD_HASH_LEN)
		return STORE_ERR_ARG;
	out[0] = BWD_UPD_CHUNK_TAG;
	memcpy(out + 1, key, WIRE_UPD_HASH_LEN);
	return STORE_OK;
}

static int blob_get(void *ctx, const uint8_t *key, size_t klen, struct wire_buf *value)
{
	uint8_t k[1 + WIRE_UPD_HASH_LEN];
	int rc = blob_key(key, klen, k);

	return rc != STORE_OK ? rc : store_local_get(ctx, k, sizeof(k), value);
}

static int blob_put(void *ctx, const uint8_t *key, size_t klen, const void *value, size_t vlen)
{
	uint8_t k[1 + WIRE_UPD_HASH_LEN];
	int rc = blob_key(key, klen, k);

	return rc != STORE_OK ? rc : store_local_put(ctx, k, sizeof(k), value, vlen);
}

void bwd__upd_blob_ops(struct bwd *b, struct updates_blob_ops *ops)
{
	ops->ctx = b->store;
	ops->get = blob_get;
	ops->put = blob_put;
}

/* ---------------------------------------------------------------- helpers */
static void hdr_init(const struct bwd *b, struct wire_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->sender = b->id;
	h->group = b->cfg.group_id;
	h->epoch = b->cfg.epoch;
}

static void send_others(struct bwd *b, const uint8_t *p, size_t len)
{
	for (uint32_t j = 0; j < b->cfg.n; j++) {
		if (j != b->id && net_send_replica(b->net, j, p, len) != NET_OK)
			b->ctr.sends_dropped++;
	}
}

/* (seq, time) order of statements: newer is greater. */
static int st_newer(const struct wire_upd_statement *a, const struct wire_upd_statement *c)
{
	if (a->seq != c->seq)
		return a->seq > c->seq;
	return a->time_ms > c->time_ms;
}

static void fetch_pump(struct bwd *b);

/* ---------------------------------------------------------------- statements */
/* Add replica's valid signature over raw to its slot; a full table gives the oldest
 * slot up (or drops raw if it is older than all). Updates the certificate. */
static void slot_add(struct bwd_upd *u, const uint8_t raw[WIRE_UPD_STATEMENT_LEN],
		     const struct wire_upd_statement *st, uint32_t replica,
		     const uint8_t sig[WIRE_UPD_SIG_LEN])
{
	struct bwd_upd_slot *s = NULL, *oldest = NULL, *free_slot = NULL;

	for (size_t i = 0; i < BWD_UPD_SLOTS; i++) {
		struct bwd_upd_slot *x = &u->slot[i];
		if (!x->used) {
			if (free_slot == NULL)
				free_slot = x;
			continue;
		}
		if (memcmp(x->raw, raw, WIRE_UPD_STATEMENT_LEN) == 0) {
			s = x;
			break;
		}
		if (oldest == NULL || st_newer(&oldest->st, &x->st))
			oldest = x;
	}
	if (s == NULL) {
		/* One replica may hold at most BWD_UPD_OWN_SLOTS statements that only it signed:
		 * a Byzantine replica cannot push the others' statements out of the table. */
		struct bwd_upd_slot *own_oldest = NULL;
		unsigned own = 0;
		for (size_t i = 0; i < BWD_UPD_SLOTS; i++) {
			struct bwd_upd_slot *x = &u->slot[i];
			if (x->used && x->count == 1 && (x->have[replica / 64] >> (replica % 64) & 1u)) {
				own++;
				if (own_oldest == NULL || st_newer(&own_oldest->st, &x->st))
					own_oldest = x;
			}
		}
		if (own >= BWD_UPD_OWN_SLOTS) {
			free_slot = NULL;
			oldest = own_oldest;
		}
		s = free_slot;
		if (s == NULL) {
			if (!st_newer(st, &oldest->st))
				return;
			s = oldest;
		}
		memset(s, 0, sizeof(*s));
		s->used = 1;
		memcpy(s->raw, raw, WIRE_UPD_STATEMENT_LEN);
		s->st = *st;
	}
	if (s->have[replica / 64] >> (replica % 64) & 1u)
		return;
	s->have[replica / 64] |= (uint64_t)1 << (replica % 64);
	memcpy(s->sig[replica], sig, WIRE_UPD_SIG_LEN);
	s->count++;
	if (s->count < u->threshold)
		return;
	if (u->have_cert && !st_newer(&s->st, &u->cert.st) &&
	    !(memcmp(&s->st, &u->cert.st, sizeof(s->st)) == 0 && s->count > u->cert.nsigs))
		return;
	/* The newest statement with enough signatures becomes the certificate. */
	memset(&u->cert, 0, sizeof(u->cert));
	u->cert.st = s->st;
	for (uint32_t r = 0; r < WIRE_UPD_MAX_REPLICAS && u->cert.nsigs < s->count; r++) {
		if (!(s->have[r / 64] >> (r % 64) & 1u))
			continue;
		u->cert.sigs[u->cert.nsigs].replica = r;
		memcpy(u->cert.sigs[u->cert.nsigs].sig, s->sig[r], WIRE_UPD_SIG_LEN);
		u->cert.nsigs++;
	}
	if (!u->have_cert || u->cert.nsigs == u->threshold)
		log_debug("updates", "certificate", "seq=%llu time_ms=%llu signatures=%u",
			  (unsigned long long)s->st.seq, (unsigned long long)s->st.time_ms,
			  u->cert.nsigs);
	u->have_cert = 1;
	u->ctr.certificates++;
	bwd__http_invalidate(u->b);
}

/* Sign st, remember the signature and send it to the other replicas; unless st is not
 * newer than the newest statement this replica signed (that one, or an older one, was
 * signed and sent already). */
static void sign_and_send(struct bwd *b, const struct wire_upd_statement *st)
{
	struct bwd_upd *u = b->upd;
	struct wire_statement_msg m;
	struct wire_hdr h;

	if (u->newest_any && !st_newer(st, &u->newest_st))
		return;
	u->newest_st = *st;
	u->newest_any = 1;
	memset(&m, 0, sizeof(m));
	m.st = *st;
	m.replica = b->id;
	wire_upd_statement_encode(st, m.raw);
	if (crypto_ed25519_sign(&b->key, m.raw, sizeof(m.raw), m.sig) != 0) {
		log_warn("updates", "cannot sign the statement", "seq=%llu",
			 (unsigned long long)st->seq);
		return;
	}
	u->ctr.statements_signed++;
	slot_add(u, m.raw, st, b->id, m.sig);
	hdr_init(b, &h);
	wire_buf_reset(&u->out);
	if (wire_statement_encode(&u->out, &h, &m) != 0)
		return;
	send_others(b, u->out.p, u->out.len);
}

static uint64_t bucket_of(const struct bwd_upd *u, uint64_t wall)
{
	return wall - wall % u->tick_ms;
}

/* Wake at the next bucket, or earlier for a re-signing held back (resign_pending). */
static void arm_tick(struct bwd *b)
{
	struct bwd_upd *u = b->upd;
	uint64_t wall = bwd__wall_ms();
	double after = (double)(bucket_of(u, wall) + u->tick_ms - wall) / 1000.0 + 0.001;

	if (u->resign_pending) {
		uint64_t now = bwd__now_ms(), due = u->signed_at + BWD_UPD_RESIGN_MS;
		double soon = due > now ? (double)(due - now) / 1000.0 : 0.001;
		if (soon < after)
			after = soon;
	}
	ev_timer_stop(b->loop, &u->tick_w);
	ev_timer_set(&u->tick_w, after, 0.0);
	ev_timer_start(b->loop, &u->tick_w);
}

/* Remember the state at st's seq (for co-signing peers' statements of that seq). */
static void hist_record(struct bwd_upd *u, const struct wire_upd_statement *st)
{
	struct bwd_upd_hist *hs = &u->hist[st->seq % BWD_UPD_HISTORY];

	hs->seq = st->seq;
	memcpy(hs->index_root, st->index_root, WIRE_UPD_HASH_LEN);
	hs->log_size = st->log_size;
	memcpy(hs->log_root, st->log_root, WIRE_UPD_HASH_LEN);
}

/* Sign this replica's own statement and remember what it was signed over. */
static void sign_own(struct bwd *b, const struct wire_upd_statement *st)
{
	struct bwd_upd *u = b->upd;

	u->signed_st = *st;
	u->signed_seq = st->seq;
	u->signed_time = st->time_ms;
	u->signed_at = bwd__now_ms();
	u->signed_any = 1;
	u->resign_pending = 0;
	sign_and_send(b, st);
}

/* Re-sign when the executed seq or the time bucket changed. A new seq that changed
 * nothing of the update service (a KV or null batch) is signed at most every
 * BWD_UPD_RESIGN_MS, so a busy group does not spend its CPU on statements; a new
 * bucket or a changed index or log is signed at once. */
static void resign_if_needed(struct bwd *b)
{
	struct bwd_upd *u = b->upd;
	uint64_t seq = store_last_executed(b->store), now, wall;
	struct wire_upd_statement st;

	bwd__clock(b, &now, &wall);
	uint64_t bucket = bucket_of(u, wall);

	if (store_transfer_pending(b->store, NULL))
		return; /* the state is incomplete: nothing true to sign */
	if (u->signed_any && seq == u->signed_seq && bucket == u->signed_time) {
		u->resign_pending = 0;
		return;
	}
	if (updates_statement(&b->app.upd, seq, bucket, &st) != 0) {
		log_warn("updates", "cannot compute the statement", "seq=%llu error=%s",
			 (unsigned long long)seq, updates_last_error(&b->app.upd));
		return;
	}
	st.expires_ms = bucket + u->validity_ms;
	hist_record(u, &st);
	if (u->signed_any && bucket == u->signed_time) {
		const struct wire_upd_statement *last = &u->signed_st;
		int same = last->log_size == st.log_size &&
			   memcmp(last->index_root, st.index_root, WIRE_UPD_HASH_LEN) == 0 &&
			   memcmp(last->log_root, st.log_root, WIRE_UPD_HASH_LEN) == 0;
		if (same && now < u->signed_at + BWD_UPD_RESIGN_MS) {
			if (!u->resign_pending) {
				u->resign_pending = 1;
				arm_tick(b);
			}
			return;
		}
	}
	sign_own(b, &st);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bwd *b = w->data;

	(void)loop;
	(void)revents;
	if (b->fatal != 0)
		return;
	resign_if_needed(b);
	if (b->upd->nfetch > 0)
		fetch_pump(b);
	arm_tick(b);
}

/* A peer's statement: checked, counted, and co-signed when this replica had the same
 * state at that seq, the time bucket is the current one and it is newer than anything
 * this replica signed. A statement co-signed on every receipt would echo between the
 * replicas, each copy signed and verified again, for as long as its bucket lasts. */
static void on_statement(struct bwd *b, const struct net_peer *peer, const uint8_t *p, size_t len)
{
	struct bwd_upd *u = b->upd;
	struct wire_statement_msg m;
	struct wire_hdr h;
	const char *why = NULL;
	uint64_t wall = bwd__wall_ms();
	int rc = wire_statement_decode(p, len, &h, &m);

	if (rc != WIRE_OK)
		why = wire_strerror(rc);
	else if (h.sender != peer->replica_id || h.group != b->cfg.group_id ||
		 h.epoch != b->cfg.epoch)
		why = "header names another sender, group or epoch";
	else if (m.st.group != b->cfg.group_id || m.st.epoch != b->cfg.epoch)
		why = "statement of another group or epoch";
	else if (m.st.time_ms % u->tick_ms != 0 || m.st.expires_ms != m.st.time_ms + u->validity_ms)
		why = "time not on a tick or expiry not time + validity";
	else if (m.st.time_ms > wall + b->cfg.max_clock_skew_ms)
		why = "time in the future beyond the clock skew";
	else if (m.st.expires_ms <= wall)
		why = "expired";
	else if (crypto_ed25519_verify(&b->replica_keys[m.replica], m.raw, sizeof(m.raw), m.sig) != 0)
		why = "bad signature";
	if (why != NULL) {
		u->ctr.statements_refused++;
		log_debug("updates", "statement refused", "replica=%u reason=%s", peer->replica_id,
			  why);
		return;
	}
	u->ctr.statements_received++;
	slot_add(u, m.raw, &m.st, m.replica, m.sig);

	/* Co-sign: we were in exactly this state at that seq, and the bucket is ours. */
	const struct bwd_upd_hist *hs = &u->hist[m.st.seq % BWD_UPD_HISTORY];
	if (hs->seq != m.st.seq || m.st.time_ms != bucket_of(u, wall) ||
	    memcmp(hs->index_root, m.st.index_root, WIRE_UPD_HASH_LEN) != 0 ||
	    hs->log_size != m.st.log_size ||
	    memcmp(hs->log_root, m.st.log_root, WIRE_UPD_HASH_LEN) != 0)
		return;
	sign_and_send(b, &m.st);
}

/* ---------------------------------------------------------------- chunk upload */
static void send_receipt(struct bwd *b, struct net_conn *conn, const struct wire_chunk_receipt *r)
{
	struct bwd_upd *u = b->upd;
	struct wire_hdr h;

	hdr_init(b, &h);
	wire_buf_reset(&u->out);
	if (wire_chunk_receipt_encode(&u->out, &h, r) == 0)
		(void)net_send(conn, u->out.p, u->out.len);
}

/* May this client key upload chunks? The admin or any channel's publisher. */
static int may_upload(struct bwd *b, const uint8_t pub[CRYPTO_ED25519_PUB])
{
	if (crypto_memeq(pub, b->cfg.admin_key, CRYPTO_ED25519_PUB))
		return 1;
	return updates_is_publisher(&b->app.upd, pub) == 1;
}

static void on_client_put(struct bwd *b, struct net_conn *conn, const struct net_peer *peer,
			  const uint8_t *p, size_t len)
{
	struct bwd_upd *u = b->upd;
	struct wire_chunk_receipt r;
	struct wire_chunk_put m;
	struct wire_upd_cert_sig sig;
	struct wire_hdr h;
	int rc;

	memset(&r, 0, sizeof(r));
	r.replica = b->id;
	rc = wire_chunk_put_decode(p, len, WIRE_CHUNK_HARD_MAX, &h, &m);
	if (rc == WIRE_OK && (h.sender != WIRE_SENDER_CLIENT || h.group != b->cfg.group_id ||
			      h.epoch != b->cfg.epoch))
		rc = WIRE_ERR_FIELD;
	if (rc != WIRE_OK) {
		/* Undecodable: answer what we can, then close (the stream may be garbage). */
		u->ctr.chunks_refused++;
		r.status = WIRE_CHUNK_MALFORMED;
		if (len >= WIRE_HDR_LEN + WIRE_UPD_HASH_LEN)
			memcpy(r.sha256, p + WIRE_HDR_LEN, WIRE_UPD_HASH_LEN);
		send_receipt(b, conn, &r);
		log_debug("updates", "malformed CHUNK_PUT: closing", "peer=%s error=%s", peer->addr,
			  wire_strerror(rc));
		net_conn_close(conn);
		return;
	}
	memcpy(r.sha256, m.sha256, WIRE_UPD_HASH_LEN);
	r.size = m.data.len;
	if (!may_upload(b, peer->pub))
		r.status = WIRE_CHUNK_NOT_AUTHORIZED;
	else if (m.data.len > u->max_chunk)
		r.status = WIRE_CHUNK_TOO_BIG;
	else {
		rc = updates_chunk_put(&u->chunks, m.sha256, m.data.p, m.data.len, &sig);
		if (rc == 0) {
			r.status = WIRE_CHUNK_OK;
			memcpy(r.sig, sig.sig, WIRE_UPD_SIG_LEN);
		} else if (rc == UPDATES_ERR_HASH) {
			r.status = WIRE_CHUNK_HASH_MISMATCH;
		} else if (rc == UPDATES_ERR_TOO_BIG) {
			r.status = WIRE_CHUNK_TOO_BIG;
		} else {
			r.status = WIRE_CHUNK_STORAGE;
			log_warn("updates", "cannot store a chunk", "error=%s store=%s",
				 updates_strerror(rc), store_strerror(u->chunks.store_err));
		}
	}
	if (r.status == WIRE_CHUNK_OK)
		u->ctr.chunks_stored++;
	else
		u->ctr.chunks_refused++;
	send_receipt(b, conn, &r);
}

/* ---------------------------------------------------------------- chunk fetch */
static void fetch_remove(struct bwd_upd *u, size_t i)
{
	memmove(&u->fetch[i], &u->fetch[i + 1], (u->nfetch - i - 1) * sizeof(u->fetch[0]));
	u->nfetch--;
}

static void fetch_ask(struct bwd *b, struct bwd_upd_fetch *f, uint64_t now)
{
	struct bwd_upd *u = b->upd;
	struct wire_hdr h;
	uint32_t peer = u->next_peer % b->cfg.n;

	if (peer == b->id)
		peer = (peer + 1) % b->cfg.n;
	u->next_peer = peer + 1;
	f->peer = peer;
	f->asked = now;
	f->tries++;
	hdr_init(b, &h);
	wire_buf_reset(&u->out);
	if (wire_chunk_get_encode(&u->out, &h, f->sha) == 0 &&
	    net_send_replica(b->net, peer, u->out.p, u->out.len) != NET_OK)
		b->ctr.sends_dropped++;
}

/* Ask for the first BWD_UPD_FETCH_INFLIGHT queued chunks not asked recently. */
static void fetch_pump(struct bwd *b)
{
	struct bwd_upd *u = b->upd;
	uint64_t now = bwd__now_ms();

	for (size_t i = 0; i < u->nfetch && i < BWD_UPD_FETCH_INFLIGHT;) {
		struct bwd_upd_fetch *f = &u->fetch[i];
		if (f->tries >= 4u * b->cfg.n) {
			/* No peer had it: give up (it is fetched again after a restart). */
			u->ctr.chunk_fetch_failures++;
			fetch_remove(u, i);
			continue;
		}
		if (f->asked == 0 || now - f->asked >= 2000)
			fetch_ask(b, f, now);
		i++;
	}
}

static void fetch_queue(struct bwd *b, const uint8_t sha[WIRE_UPD_HASH_LEN])
{
	struct bwd_upd *u = b->upd;

	for (size_t i = 0; i < u->nfetch; i++) {
		if (memcmp(u->fetch[i].sha, sha, WIRE_UPD_HASH_LEN) == 0)
			return;
	}
	if (u->nfetch >= BWD_UPD_FETCH_QUEUE) {
		u->ctr.chunk_fetch_failures++;
		return;
	}
	memset(&u->fetch[u->nfetch], 0, sizeof(u->fetch[0]));
	memcpy(u->fetch[u->nfetch].sha, sha, WIRE_UPD_HASH_LEN);
	u->nfetch++;
}

/* Queue the chunks this replica lacks of log leaf i's manifest. */
static void check_leaf(struct bwd *b, uint64_t i)
{
	struct bwd_upd *u = b->upd;
	char name[WIRE_UPD_MAX_CHANNEL + 1];
	struct wire_upd_envelope env;
	struct wire_upd_manifest man;
	uint8_t hash[WIRE_UPD_HASH_LEN];
	uint64_t version;

	if (updates_log_leaf(&b->app.upd, i, name, &version, hash) != 0 ||
	    updates_get_envelope(&b->app.upd, name, version, &u->env) != 0)
		return;
	if (wire_upd_envelope_decode(u->env.p, u->env.len, NULL, &env, NULL) != 0)
		return;
	if (wire_upd_manifest_decode(env.payload, env.payload_len, NULL, &man, NULL) == 0) {
		for (uint32_t f = 0; f < man.nfiles; f++) {
			for (uint32_t c = 0; c < man.files[f].nchunks; c++) {
				if (updates_chunk_has(&u->chunks, man.files[f].chunks[c]) == 0)
					fetch_queue(b, man.files[f].chunks[c]);
			}
		}
		wire_upd_manifest_free(&man);
	}
	wire_upd_envelope_free(&env);
}

static void on_chunk_get(struct bwd *b, const struct net_peer *peer, const uint8_t *p, size_t len)
{
	struct bwd_upd *u = b->upd;
	struct wire_chunk_put m;
	uint8_t sha[WIRE_UPD_HASH_LEN];
	struct wire_hdr h;

	if (wire_chunk_get_decode(p, len, &h, sha) != WIRE_OK || h.sender != peer->replica_id)
		return;
	if (updates_chunk_get(&u->chunks, sha, 0, 0, &u->chunk_body, NULL) != 0)
		return; /* not held (or damaged): the asker tries another replica */
	memcpy(m.sha256, sha, WIRE_UPD_HASH_LEN);
	m.data.p = u->chunk_body.p;
	m.data.len = (uint32_t)u->chunk_body.len;
	hdr_init(b, &h);
	wire_buf_reset(&u->out);
	if (wire_chunk_put_encode(&u->out, &h, &m) == 0 &&
	    net_send_replica(b->net, peer->replica_id, u->out.p, u->out.len) != NET_OK)
		b->ctr.sends_dropped++;
}

/* A peer's CHUNK_PUT: only chunks we asked for are stored, after the hash check. */
static void on_replica_put(struct bwd *b, const struct net_peer *peer, const uint8_t *p, size_t len)
{
	struct bwd_upd *u = b->upd;
	struct wire_chunk_put m;
	struct wire_hdr h;

	if (wire_chunk_put_decode(p, len, WIRE_UPD_MAX_CHUNK, &h, &m) != WIRE_OK ||
	    h.sender != peer->replica_id)
		return;
	for (size_t i = 0; i < u->nfetch; i++) {
		if (memcmp(u->fetch[i].sha, m.sha256, WIRE_UPD_HASH_LEN) != 0)
			continue;
		if (updates_chunk_put(&u->chunks, m.sha256, m.data.p, m.data.len, NULL) == 0) {
			u->ctr.chunks_fetched++;
			fetch_remove(u, i);
			fetch_pump(b);
		} else {
			u->ctr.chunk_fetch_failures++;
			log_debug("updates", "fetched chunk refused", "replica=%u",
				  peer->replica_id);
		}
		return;
	}
}

/* ---------------------------------------------------------------- entry points */
void bwd__upd_frame(struct bwd *b, struct net_conn *conn, const uint8_t *p, size_t len)
{
	const struct net_peer *peer = net_conn_peer(conn);
	uint8_t type = p[1];

	if (b->upd == NULL)
		return;
	if (peer->role == NET_ROLE_CLIENT) {
		if (type == WIRE_CHUNK_PUT) {
			on_client_put(b, conn, peer, p, len);
			return;
		}
		b->ctr.frames_refused++;
		log_debug("bulwarkd", "message refused: closing the connection",
			  "peer=%s type=%u reason=%s", peer->addr, (unsigned)type,
			  "a client may only send CHUNK_PUT of the update-service types");
		net_conn_close(conn);
		return;
	}
	switch (type) {
	case WIRE_STATEMENT: on_statement(b, peer, p, len); return;
	case WIRE_CHUNK_GET: on_chunk_get(b, peer, p, len); return;
	case WIRE_CHUNK_PUT: on_replica_put(b, peer, p, len); return;
	default:
		b->ctr.frames_refused++;
		return;
	}
}

void bwd__upd_after_step(struct bwd *b)
{
	struct bwd_upd *u = b->upd;

	if (u == NULL)
		return;
	resign_if_needed(b);
	while (u->checked_log < b->app.upd.log_size) {
		check_leaf(b, u->checked_log);
		u->checked_log++;
	}
	if (u->nfetch > 0)
		fetch_pump(b);
}

int bwd__upd_metrics(struct bwd *b, struct wire_buf *out)
{
	struct bwd_upd *u = b->upd;
	char line[2048];
	int n;

	n = snprintf(line, sizeof(line),
		     "# TYPE bulwark_chunks_stored_total counter\nbulwark_chunks_stored_total %llu\n"
		     "# TYPE bulwark_chunks_refused_total counter\nbulwark_chunks_refused_total %llu\n"
		     "# TYPE bulwark_chunks_fetched_total counter\nbulwark_chunks_fetched_total %llu\n"
		     "# TYPE bulwark_chunks_missing gauge\nbulwark_chunks_missing %zu\n"
		     "# TYPE bulwark_statements_signed_total counter\nbulwark_statements_signed_total %llu\n"
		     "# TYPE bulwark_statements_received_total counter\nbulwark_statements_received_total %llu\n"
		     "# TYPE bulwark_statements_refused_total counter\nbulwark_statements_refused_total %llu\n"
		     "# TYPE bulwark_certificate_seq gauge\nbulwark_certificate_seq %llu\n"
		     "# TYPE bulwark_certificate_signatures gauge\nbulwark_certificate_signatures %u\n"
		     "# TYPE bulwark_channels gauge\nbulwark_channels %zu\n"
		     "# TYPE bulwark_log_size gauge\nbulwark_log_size %llu\n",
		     (unsigned long long)u->ctr.chunks_stored, (unsigned long long)u->ctr.chunks_refused,
		     (unsigned long long)u->ctr.chunks_fetched, u->nfetch,
		     (unsigned long long)u->ctr.statements_signed,
		     (unsigned long long)u->ctr.statements_received,
		     (unsigned long long)u->ctr.statements_refused,
		     (unsigned long long)(u->have_cert ? u->cert.st.seq : 0),
		     u->have_cert ? u->cert.nsigs : 0u, b->app.upd.nchan,
		     (unsigned long long)b->app.upd.log_size);
	if (n < 0 || (size_t)n >= sizeof(line))
		return HTTP_ERR_INTERNAL;
	wire_put_fixed(out, line, (size_t)n);
	return wire_buf_error(out) != 0 ? HTTP_ERR_NOMEM : 0;
}

int bwd__upd_open(struct bwd *b)
{
	struct updates_blob_ops ops;
	struct bwd_upd *u;

	if (b->cfg.statement_tick_ms == 0 ||
	    b->cfg.statement_validity_ms <= b->cfg.statement_tick_ms) {
		snprintf(b->why, sizeof(b->why), "statement_validity_ms must exceed statement_tick_ms > 0");
		return BWD_ERR_ARG;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		snprintf(b->why, sizeof(b->why), "out of memory for the update service");
		return BWD_ERR_NOMEM;
	}
	u->fetch = calloc(BWD_UPD_FETCH_QUEUE, sizeof(*u->fetch));
	if (u->fetch == NULL) {
		free(u);
		snprintf(b->why, sizeof(b->why), "out of memory for the chunk fetch queue");
		return BWD_ERR_NOMEM;
	}
	u->b = b;
	u->max_chunk = b->cfg.max_chunk_bytes;
	u->tick_ms = b->cfg.statement_tick_ms;
	u->validity_ms = b->cfg.statement_validity_ms;
	u->threshold = b->cfg.certificate_threshold;
	if (u->threshold < b->cfg.f + 1 || u->threshold > 2 * b->cfg.f + 1)
		u->threshold = b->cfg.f + 1; /* config_load refuses these; a hand-made config */
	if (u->max_chunk == 0 || u->max_chunk > WIRE_CHUNK_HARD_MAX)
		u->max_chunk = WIRE_CHUNK_DEFAULT_MAX;
	bwd__upd_blob_ops(b, &ops);
	updates_chunks_init(&u->chunks, &ops, b->cfg.group_id, b->cfg.epoch, b->id, &b->key);
	wire_buf_init(&u->out);
	wire_buf_init(&u->chunk_body);
	wire_buf_init(&u->env);
	wire_buf_init(&u->group_doc);
	ev_init(&u->tick_w, tick_cb);
	u->tick_w.data = b;
	b->upd = u;
	int rc = bwd__http_open(b);
	if (rc != BWD_OK)
		return rc;
	arm_tick(b);
	bwd__upd_after_step(b);
	return BWD_OK;
}

void bwd__upd_close(struct bwd *b)
{
	struct bwd_upd *u = b->upd;

	if (u == NULL)
		return;
	bwd__http_close(b);
	if (b->loop != NULL)
		ev_timer_stop(b->loop, &u->tick_w);
	updates_chunks_free(&u->chunks);
	wire_buf_free(&u->out);
	wire_buf_free(&u->chunk_body);
	wire_buf_free(&u->env);
	wire_buf_free(&u->group_doc);
	free(u->fetch);
	free(u);
	b->upd = NULL;
}
