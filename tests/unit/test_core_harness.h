/* test_core_harness.h: a tiny deterministic harness for the PBFT core unit tests: four
 * replicas with real Ed25519 keys from fixed seeds, a key-value app digested as a
 * 4-partition tree, an in-memory record store per replica, clients, and a FIFO network
 * with drop filters and crashes. Included by tests/unit/test_core_*.c only. */
#ifndef BULWARK_TEST_CORE_HARNESS_H
#define BULWARK_TEST_CORE_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "replica/core/pbft.h"
#include "replica/core/ptree.h"
#include "tests/unit/unit.h"
#include "wire/wire.h"

#define H_N 4u
#define H_F 1u
#define H_CLIENTS 4u
#define H_PARTS 4u
#define H_MAXKV 256u
#define H_SNAPS 16u
#define H_GROUP 7u
#define H_EPOCH 1u
#define H_UNUSED __attribute__((unused))

/* ---------------------------------------------------------------- the app */
/* Keys "#<client key in hex>" hold the client table (value "<timestamp>:<result>"),
 * digested and transferred like every other key. */
struct h_kv {
	char k[72], v[128];
};
struct h_state {
	struct h_kv e[H_MAXKV];
	uint32_t n;
};
struct h_snap {
	uint64_t seq;
	int used;
	struct h_state st;
};
struct h_app {
	struct h_state st;
	struct h_snap snap[H_SNAPS];
	uint64_t last_executed;
	uint64_t executed_requests;
	uint64_t batches;
	uint64_t transfers;
	int fail_finish;   /* make finish_transfer fail this many times */
	uint64_t syncs;    /* pbft_app_ops.sync calls (durable_async) */
	int ro_digest;     /* execute_ro, asked for a digest: 0 leaves it to the core, 1 gives
			    * the result's, 2 a wrong one (an app whose kept digest is stale) */
};

static H_UNUSED uint64_t h_part_of(const char *k)
{
	return ptree_partition_of(H_PARTS, k, strlen(k));
}

static H_UNUSED void h_part_digest(const struct h_state *s, uint64_t p, uint8_t out[32])
{
	struct ptree_part_hash ph;

	ptree_part_begin(&ph, p);
	for (uint32_t i = 0; i < s->n; i++) {
		if (h_part_of(s->e[i].k) == p)
			ptree_part_add(&ph, s->e[i].k, (uint32_t)strlen(s->e[i].k), s->e[i].v,
				       (uint32_t)strlen(s->e[i].v));
	}
	ptree_part_end(&ph, out);
}

static H_UNUSED void h_root(const struct h_state *s, uint8_t out[32])
{
	uint8_t kids[H_PARTS * 32];

	for (uint32_t p = 0; p < H_PARTS; p++)
		h_part_digest(s, p, kids + 32 * p);
	ptree_node_hash(0, 0, kids, H_PARTS, out);
}

/* Entries stay sorted by key (bytewise, prefix first). */
static H_UNUSED int h_keycmp(const char *a, const char *b)
{
	return strcmp(a, b);
}

static H_UNUSED const char *h_get(const struct h_state *s, const char *k)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (strcmp(s->e[i].k, k) == 0)
			return s->e[i].v;
	return NULL;
}

static H_UNUSED void h_set(struct h_state *s, const char *k, const char *v)
{
	uint32_t i = 0;

	while (i < s->n && h_keycmp(s->e[i].k, k) < 0)
		i++;
	if (i < s->n && strcmp(s->e[i].k, k) == 0) {
		snprintf(s->e[i].v, sizeof(s->e[i].v), "%s", v);
		return;
	}
	if (s->n == H_MAXKV)
		return;
	memmove(&s->e[i + 1], &s->e[i], (s->n - i) * sizeof(s->e[0]));
	snprintf(s->e[i].k, sizeof(s->e[i].k), "%s", k);
	snprintf(s->e[i].v, sizeof(s->e[i].v), "%s", v);
	s->n++;
}

/* Op "k=v" sets k (result: old value or "-"); op "k" reads it. */
static H_UNUSED void h_apply(struct h_state *s, const uint8_t *op, uint32_t len, char *res, size_t rlen)
{
	char buf[80], *eq;
	const char *old;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, op, len);
	buf[len] = 0;
	eq = strchr(buf, '=');
	if (eq)
		*eq = 0;
	old = h_get(s, buf);
	snprintf(res, rlen, "%s", old ? old : "-");
	if (eq)
		h_set(s, buf, eq + 1);
}

/* "#" + the key in hex + "/" + the lane: one client table entry per (key, lane). */
static H_UNUSED void h_client_keyname(const uint8_t *client, uint32_t lane, char out[80])
{
	out[0] = '#';
	for (uint32_t i = 0; i < WIRE_KEY_LEN; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", client[i]);
	snprintf(out + 1 + 2 * WIRE_KEY_LEN, 80 - 1 - 2 * WIRE_KEY_LEN, "/%u", lane);
}

static H_UNUSED int h_client_last(void *ctx, const uint8_t client[WIRE_KEY_LEN], uint32_t lane, uint64_t *ts,
				  struct wire_buf *reply)
{
	struct h_app *a = ctx;
	char name[80], *colon;
	const char *v;

	h_client_keyname(client, lane, name);
	v = h_get(&a->st, name);
	*ts = 0;
	if (!v)
		return 0;
	*ts = strtoull(v, &colon, 10);
	if (*colon != ':')
		return -1;
	if (reply)
		wire_put_fixed(reply, colon + 1, strlen(colon + 1));
	return 0;
}

static H_UNUSED int h_execute(void *ctx, uint64_t seq, const struct wire_batch *b, struct pbft_results *res)
{
	struct h_app *a = ctx;
	struct wire_iter it;
	struct wire_request req;
	char out[96], name[80], entry[128];

	if (seq != a->last_executed + 1)
		return -1;
	wire_iter_batch(&it, b);
	while (wire_next_request(&it, &req)) {
		h_apply(&a->st, req.op.p, req.op.len, out, sizeof(out));
		if (pbft_results_add(res, out, (uint32_t)strlen(out)) != 0)
			return -1;
		h_client_keyname(req.client, req.lane, name);
		snprintf(entry, sizeof(entry), "%llu:%s", (unsigned long long)req.timestamp, out);
		h_set(&a->st, name, entry);
		a->executed_requests++;
	}
	a->batches++;
	a->last_executed = seq;
	return 0;
}

static H_UNUSED int h_execute_ro(void *ctx, const struct wire_request *req, struct wire_buf *result,
				  struct pbft_ro_digest *dg)
{
	struct h_app *a = ctx;
	char buf[64], out[128];
	uint32_t len = req->op.len < sizeof(buf) - 1 ? req->op.len : (uint32_t)sizeof(buf) - 1;
	const char *v;

	memcpy(buf, req->op.p, len);
	buf[len] = 0;
	v = h_get(&a->st, buf);
	snprintf(out, sizeof(out), "%s", v ? v : "-");
	wire_put_fixed(result, out, strlen(out));
	if (dg != NULL && a->ro_digest != 0) {
		wire_result_digest((const uint8_t *)out, strlen(out), dg->digest);
		if (a->ro_digest == 2)
			dg->digest[0] ^= 1;
		dg->known = 1;
	}
	return 0;
}

static H_UNUSED struct h_snap *h_snap_find(struct h_app *a, uint64_t seq)
{
	for (uint32_t i = 0; i < H_SNAPS; i++)
		if (a->snap[i].used && a->snap[i].seq == seq)
			return &a->snap[i];
	return NULL;
}

static H_UNUSED int h_checkpoint(void *ctx, uint64_t seq, uint8_t digest[32])
{
	struct h_app *a = ctx;
	struct h_snap *s = h_snap_find(a, seq);

	for (uint32_t i = 0; !s && i < H_SNAPS; i++)
		if (!a->snap[i].used)
			s = &a->snap[i];
	if (!s)
		return -1;
	s->used = 1;
	s->seq = seq;
	s->st = a->st;
	h_root(&a->st, digest);
	return 0;
}

/* The harness's state is "on disk" at once: sync only counts its calls. */
static H_UNUSED int h_sync(void *ctx)
{
	((struct h_app *)ctx)->syncs++;
	return 0;
}

static H_UNUSED void h_release(void *ctx, uint64_t below)
{
	struct h_app *a = ctx;

	for (uint32_t i = 0; i < H_SNAPS; i++)
		if (a->snap[i].used && a->snap[i].seq < below)
			a->snap[i].used = 0;
}

static H_UNUSED int h_tree_node(void *ctx, uint64_t ckpt, uint32_t level, uint64_t index,
				struct wire_buf *children, uint32_t *count)
{
	struct h_snap *s = h_snap_find(ctx, ckpt);
	uint8_t d[32];

	if (!s || level != 0 || index != 0)
		return -1;
	for (uint32_t p = 0; p < H_PARTS; p++) {
		h_part_digest(&s->st, p, d);
		wire_put_child(children, d);
	}
	*count = H_PARTS;
	return 0;
}

static H_UNUSED int h_read_partition(void *ctx, uint64_t ckpt, uint64_t partition,
				     struct wire_bytes start_key, uint32_t max_bytes,
				     struct wire_buf *entries, uint32_t *count, int *more)
{
	struct h_snap *s = h_snap_find(ctx, ckpt);
	char start[80];
	uint32_t bytes = 0, sl = start_key.len < 79 ? start_key.len : 79;

	*count = 0;
	*more = 0;
	if (!s || partition >= H_PARTS)
		return -1;
	memcpy(start, start_key.p ? (const char *)start_key.p : "", sl);
	start[sl] = 0;
	for (uint32_t i = 0; i < s->st.n; i++) {
		const struct h_kv *e = &s->st.e[i];
		struct wire_data_item it;
		uint32_t sz;

		if (h_part_of(e->k) != partition || strcmp(e->k, start) < 0)
			continue;
		sz = 8 + (uint32_t)(strlen(e->k) + strlen(e->v));
		if (*count > 0 && bytes + sz > max_bytes) {
			*more = 1;
			break;
		}
		it.key.p = (const uint8_t *)e->k;
		it.key.len = (uint32_t)strlen(e->k);
		it.value.p = (const uint8_t *)e->v;
		it.value.len = (uint32_t)strlen(e->v);
		wire_put_data(entries, &it);
		bytes += sz;
		(*count)++;
	}
	return 0;
}

static H_UNUSED int h_local_node(void *ctx, uint32_t level, uint64_t index, uint8_t digest[32])
{
	struct h_app *a = ctx;

	if (level == 0 && index == 0)
		h_root(&a->st, digest);
	else if (level == 1 && index < H_PARTS)
		h_part_digest(&a->st, index, digest);
	else
		return -1;
	return 0;
}

static H_UNUSED int h_write_partition(void *ctx, uint64_t partition, int first, const struct wire_data *page)
{
	struct h_app *a = ctx;
	struct wire_iter it;
	struct wire_data_item e;

	if (first) {
		uint32_t j = 0;
		for (uint32_t i = 0; i < a->st.n; i++)
			if (h_part_of(a->st.e[i].k) != partition)
				a->st.e[j++] = a->st.e[i];
		a->st.n = j;
	}
	wire_iter_init(&it, &page->entries);
	while (wire_next_data(&it, &e)) {
		char k[sizeof(a->st.e[0].k)], v[sizeof(a->st.e[0].v)];
		if (e.key.len >= sizeof(k) || e.value.len >= sizeof(v))
			return -1;
		memcpy(k, e.key.p, e.key.len);
		k[e.key.len] = 0;
		memcpy(v, e.value.p, e.value.len);
		v[e.value.len] = 0;
		h_set(&a->st, k, v);
	}
	return 0;
}

static H_UNUSED int h_finish_transfer(void *ctx, uint64_t ckpt, const uint8_t digest[32])
{
	struct h_app *a = ctx;
	uint8_t root[32];

	if (a->fail_finish > 0) {
		a->fail_finish--;
		return -1;
	}
	h_root(&a->st, root);
	if (memcmp(root, digest, 32) != 0)
		return -1;
	a->last_executed = ckpt;
	a->transfers++;
	return 0;
}

/* ---------------------------------------------------------------- keys and crypto */
struct h_keys {
	struct crypto_ed25519_key rep[H_N];
	struct crypto_ed25519_key cli[H_CLIENTS];
};
struct h_cctx {
	struct h_keys *keys;
	uint32_t id;
	int forge;          /* sign with a wrong key (a forger) */
	uint64_t verifies;  /* signatures checked */
};

static H_UNUSED int h_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[WIRE_SIG_LEN])
{
	struct h_cctx *c = ctx;
	uint32_t who = c->forge ? (c->id + 1) % H_N : c->id;

	return crypto_ed25519_sign(&c->keys->rep[who], msg, len, sig);
}

static H_UNUSED int h_verify(void *ctx, uint32_t replica, const uint8_t *msg, size_t len,
			     const uint8_t sig[WIRE_SIG_LEN])
{
	struct h_cctx *c = ctx;

	c->verifies++;
	if (replica >= H_N)
		return -1;
	return crypto_ed25519_verify(&c->keys->rep[replica], msg, len, sig);
}

/* Robust mode: the request's authenticator is the client's signature of its digest. */
static H_UNUSED int h_check_request(void *ctx, const struct wire_request *req, const uint8_t digest[32])
{
	(void)ctx;
	if (req->auth.len != WIRE_SIG_LEN)
		return -1;
	return crypto_ed25519_verify_raw(req->client, digest, WIRE_DIGEST_LEN, req->auth.p);
}

struct h_aux {
	struct h_keys *keys;
	uint32_t id;
};
static H_UNUSED int h_client_auth(void *ctx, const uint8_t digest[32], struct wire_buf *auth)
{
	struct h_aux *a = ctx;
	uint8_t sig[64];

	if (crypto_ed25519_sign(&a->keys->cli[a->id], digest, 32, sig) != 0)
		return -1;
	wire_put_fixed(auth, sig, 64);
	return 0;
}

/* ---------------------------------------------------------------- the cluster */
struct h_rec {
	uint8_t kind;
	uint64_t key;
	uint8_t *val;
	size_t len;
};
struct h_store {
	struct h_rec *r;
	size_t n, cap;
};

struct h_msg {
	uint32_t from;      /* replica id, or WIRE_SENDER_CLIENT */
	uint32_t to;        /* replica id, or H_N + client index */
	uint8_t *p;
	size_t len;
};

struct h;
typedef int (*h_filter_fn)(struct h *h, const struct h_msg *m, const struct wire_msg *dm);

struct h {
	struct h_keys keys;
	struct h_cctx cctx[H_N];
	struct h_app app[H_N];
	struct h_store store[H_N];
	struct pbft *r[H_N];
	struct pbft_config cfg[H_N];
	int crashed[H_N];
	uint64_t rdeadline[H_N];
	struct pbft_client *c[H_CLIENTS];
	struct h_aux aux[H_CLIENTS];
	uint64_t cdeadline[H_CLIENTS];
	int cdone[H_CLIENTS];
	struct h_msg *q;
	size_t qhead, qn, qcap;
	uint64_t now, wall;
	h_filter_fn filter;
	void *filter_ctx;
	uint64_t delivered, filtered;
	char trace[64][160];
	uint32_t ntrace;
	int tracing;
	struct pbft_update up;
};

static H_UNUSED void h_trace_fn(void *ctx, uint32_t replica, const char *line)
{
	struct h *h = ctx;

	if (h->tracing > 1)
		fprintf(stderr, "  r%u: %s\n", replica, line);
	snprintf(h->trace[h->ntrace % 64], sizeof(h->trace[0]), "r%u: %s", replica, line);
	h->ntrace++;
}

/* 1 if a trace line containing s was seen among the last 64. */
static H_UNUSED int h_traced(struct h *h, const char *s)
{
	uint32_t n = h->ntrace < 64 ? h->ntrace : 64;

	for (uint32_t i = 0; i < n; i++)
		if (strstr(h->trace[i], s))
			return 1;
	return 0;
}

static H_UNUSED void h_enqueue(struct h *h, uint32_t from, uint32_t to, const uint8_t *p, size_t len)
{
	struct h_msg *m;

	if (h->qhead + h->qn == h->qcap) {
		if (h->qhead > 0) {
			memmove(h->q, h->q + h->qhead, h->qn * sizeof(*h->q));
			h->qhead = 0;
		} else {
			h->qcap = h->qcap ? h->qcap * 2 : 256;
			h->q = realloc(h->q, h->qcap * sizeof(*h->q));
			ck_assert_ptr_nonnull(h->q);
		}
	}
	m = &h->q[h->qhead + h->qn++];
	m->from = from;
	m->to = to;
	m->p = malloc(len);
	ck_assert_ptr_nonnull(m->p);
	memcpy(m->p, p, len);
	m->len = len;
}

static H_UNUSED void h_store_apply(struct h_store *s, const struct pbft_update *up)
{
	for (size_t i = 0; i < up->nrec; i++) {
		const struct pbft_record *rec = &up->rec[i];
		size_t j;

		if (rec->del_below) {
			size_t k = 0;
			for (j = 0; j < s->n; j++) {
				if (s->r[j].kind == rec->kind && s->r[j].key < rec->key)
					free(s->r[j].val);
				else
					s->r[k++] = s->r[j];
			}
			s->n = k;
			continue;
		}
		for (j = 0; j < s->n; j++)
			if (s->r[j].kind == rec->kind && s->r[j].key == rec->key)
				break;
		if (j == s->n) {
			if (s->n == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 64;
				s->r = realloc(s->r, s->cap * sizeof(*s->r));
				ck_assert_ptr_nonnull(s->r);
			}
			s->n++;
			s->r[j].val = NULL;
		} else {
			free(s->r[j].val);
		}
		s->r[j].kind = rec->kind;
		s->r[j].key = rec->key;
		s->r[j].len = rec->len;
		s->r[j].val = malloc(rec->len ? rec->len : 1);
		ck_assert_ptr_nonnull(s->r[j].val);
		memcpy(s->r[j].val, up->recs.p + rec->off, rec->len);
	}
}

static H_UNUSED int h_client_index(struct h *h, const uint8_t *key)
{
	for (uint32_t i = 0; i < H_CLIENTS; i++)
		if (memcmp(h->keys.cli[i].pub, key, 32) == 0)
			return (int)i;
	return -1;
}

/* Persist (replicas), then queue the update's messages. */
static H_UNUSED void h_route(struct h *h, uint32_t from, int is_client, uint32_t cidx,
			     const struct pbft_update *up)
{
	if (!is_client)
		h_store_apply(&h->store[from], up);
	for (size_t i = 0; i < up->nout; i++) {
		const struct pbft_out *o = &up->out[i];
		const uint8_t *p = up->msgs.p + o->off;
		uint32_t sender = is_client ? WIRE_SENDER_CLIENT : from;

		(void)cidx;
		if (o->dest == PBFT_DEST_REPLICA) {
			h_enqueue(h, sender, o->replica, p, o->len);
		} else if (o->dest == PBFT_DEST_OTHERS) {
			for (uint32_t j = 0; j < H_N; j++)
				if (is_client || j != from)
					h_enqueue(h, sender, j, p, o->len);
		} else {
			int c = h_client_index(h, o->client);
			if (c >= 0)
				h_enqueue(h, sender, H_N + (uint32_t)c, p, o->len);
		}
	}
}

/* Each step is a turn whose records are at once "on disk"; a core that holds a batch
 * back until they are (pbft_update.again) is stepped again right away, as bulwarkd
 * does after writing them (with a FLUSH when the replica batches on flush). */
static H_UNUSED void h_step_replica(struct h *h, uint32_t i, const struct pbft_event *ev)
{
	struct pbft_event again;
	int rc;

	for (int turn = 0; turn < 4; turn++) {
		pbft_update_reset(&h->up);
		rc = pbft_step(h->r[i], ev, &h->up);
		ck_assert_msg(rc == 0, "replica %u step failed: %s", i, pbft_strerror(rc));
		h->rdeadline[i] = h->up.deadline;
		h_route(h, i, 0, 0, &h->up);
		if (!h->up.again)
			return;
		memset(&again, 0, sizeof(again));
		again.type = h->cfg[i].batch_on_flush ? PBFT_EV_FLUSH : PBFT_EV_TICK;
		again.now = ev->now;
		again.wall = ev->wall;
		ev = &again;
	}
	ck_abort_msg("replica %u keeps asking to be stepped again", i);
}

/* One step of replica i at the current time with an event that carries only its type
 * (TICK, FLUSH, IDLE). */
static H_UNUSED void h_step_type(struct h *h, uint32_t i, enum pbft_event_type type)
{
	struct pbft_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.now = h->now;
	ev.wall = h->wall;
	h_step_replica(h, i, &ev);
}

static H_UNUSED void h_step_client(struct h *h, uint32_t c, const struct pbft_event *ev)
{
	int rc;

	pbft_update_reset(&h->up);
	rc = pbft_client_step(h->c[c], ev, &h->up);
	ck_assert_msg(rc >= 0, "client %u step failed: %s", c, pbft_strerror(rc));
	if (rc == 1)
		h->cdone[c] = 1;
	h->cdeadline[c] = h->up.deadline;
	h_route(h, 0, 1, c, &h->up);
}

/* Deliver queued messages (FIFO) until none is left or max deliveries. */
static H_UNUSED void h_run(struct h *h, uint32_t max)
{
	while (h->qn > 0 && max-- > 0) {
		struct h_msg m = h->q[h->qhead++];
		struct wire_msg dm;
		struct pbft_event ev;
		int rc;

		h->qn--;
		rc = wire_decode(m.p, m.len, NULL, &dm);
		ck_assert_msg(rc == 0, "undecodable message: %s", wire_strerror(rc));
		if ((m.to < H_N && h->crashed[m.to]) || (m.from < H_N && h->crashed[m.from]) ||
		    (h->filter && h->filter(h, &m, &dm))) {
			h->filtered++;
			free(m.p);
			continue;
		}
		memset(&ev, 0, sizeof(ev));
		ev.type = PBFT_EV_MESSAGE;
		ev.now = h->now;
		ev.wall = h->wall;
		ev.msg = &dm;
		ev.from = m.from;
		if (m.from == WIRE_SENDER_CLIENT)
			ev.from_client = dm.u.request.client;
		h->delivered++;
		if (m.to < H_N)
			h_step_replica(h, m.to, &ev);
		else
			h_step_client(h, m.to - H_N, &ev);
		free(m.p);
	}
}

/* Advance the clock by ms in steps of tick ms, ticking whoever's deadline passed and
 * delivering everything in between. */
static H_UNUSED void h_advance(struct h *h, uint64_t ms, uint64_t tick)
{
	uint64_t end = h->now + ms;

	h_run(h, 1000000);
	while (h->now < end) {
		struct pbft_event ev;

		h->now += tick;
		h->wall += tick;
		memset(&ev, 0, sizeof(ev));
		ev.type = PBFT_EV_TICK;
		ev.now = h->now;
		ev.wall = h->wall;
		for (uint32_t i = 0; i < H_N; i++)
			if (!h->crashed[i] && h->r[i] && h->rdeadline[i] && h->now >= h->rdeadline[i])
				h_step_replica(h, i, &ev);
		for (uint32_t c = 0; c < H_CLIENTS; c++)
			if (h->c[c] && h->cdeadline[c] && h->now >= h->cdeadline[c])
				h_step_client(h, c, &ev);
		h_run(h, 1000000);
	}
}

static H_UNUSED void h_config(struct h *h, uint32_t i, struct pbft_config *c)
{
	memset(c, 0, sizeof(*c));
	c->n = H_N;
	c->f = H_F;
	c->id = i;
	c->group = H_GROUP;
	c->epoch = H_EPOCH;
	c->checkpoint_interval = 4;
	c->log_window = 16;
	c->batch_max_requests = 8;
	c->batch_max_bytes = 4096;
	c->pipeline = 4;
	c->view_change_timeout_ms = 1000;
	c->max_clock_skew_ms = 5000;
	c->status_interval_ms = 300;
	c->max_clients = 16;
	c->crypto.ctx = &h->cctx[i];
	c->crypto.sign = h_sign;
	c->crypto.verify = h_verify;
	c->crypto.check_request = h_check_request;
	c->app.ctx = &h->app[i];
	c->app.fanout = H_PARTS;
	c->app.levels = 1;
	c->app.execute = h_execute;
	c->app.execute_ro = h_execute_ro;
	c->app.checkpoint = h_checkpoint;
	c->app.sync = h_sync;
	c->app.release = h_release;
	c->app.tree_node = h_tree_node;
	c->app.read_partition = h_read_partition;
	c->app.local_node = h_local_node;
	c->app.write_partition = h_write_partition;
	c->app.finish_transfer = h_finish_transfer;
	c->app.client_last = h_client_last;
	c->tracer.ctx = h;
	c->tracer.trace = h_trace_fn;
}

/* (Re)start replica i from its store and app. */
static H_UNUSED void h_start(struct h *h, uint32_t i)
{
	struct pbft_record *recs = calloc(h->store[i].n + 1, sizeof(*recs));
	struct wire_buf b;
	int rc;

	wire_buf_init(&b);
	for (size_t k = 0; k < h->store[i].n; k++) {
		recs[k].kind = h->store[i].r[k].kind;
		recs[k].key = h->store[i].r[k].key;
		recs[k].off = b.len;
		recs[k].len = h->store[i].r[k].len;
		wire_put_fixed(&b, h->store[i].r[k].val, h->store[i].r[k].len);
	}
	if (h->r[i])
		pbft_free(h->r[i]);
	h->r[i] = NULL;
	rc = pbft_new(&h->cfg[i], recs, b.p ? b.p : (const uint8_t *)"", h->store[i].n,
		      h->app[i].last_executed, h->now, &h->r[i]);
	ck_assert_msg(rc == 0, "pbft_new %u: %s", i, pbft_strerror(rc));
	h->rdeadline[i] = h->now + h->cfg[i].status_interval_ms;
	h->crashed[i] = 0;
	free(recs);
	wire_buf_free(&b);
}

/* The config of client c's machine: its key, lane 0, the harness's group, a 500 ms
 * timeout, timestamps from 100, 2f+1 for reads, no digest replies. */
static H_UNUSED void h_client_config(struct h *h, uint32_t c, struct pbft_client_config *cc)
{
	memset(cc, 0, sizeof(*cc));
	cc->n = H_N;
	cc->f = H_F;
	cc->group = H_GROUP;
	cc->epoch = H_EPOCH;
	memcpy(cc->key, h->keys.cli[c].pub, WIRE_KEY_LEN);
	cc->timeout_ms = 500;
	cc->first_timestamp = 100;
	cc->read_quorum_2f1 = 1;
	cc->auth.ctx = &h->aux[c];
	cc->auth.authenticate = h_client_auth;
}

static H_UNUSED void h_init(struct h *h)
{
	memset(h, 0, sizeof(*h));
	h->now = 1000;
	h->wall = 1700000000000ull;
	h->tracing = getenv("CORE_TRACE") ? 2 : 1;
	pbft_update_init(&h->up);
	for (uint32_t i = 0; i < H_N; i++) {
		uint8_t seed[32];
		memset(seed, (int)(i + 1), sizeof(seed));
		ck_assert_int_eq(crypto_ed25519_from_seed(&h->keys.rep[i], seed), 0);
		h->cctx[i].keys = &h->keys;
		h->cctx[i].id = i;
		h_config(h, i, &h->cfg[i]);
	}
	for (uint32_t c = 0; c < H_CLIENTS; c++) {
		uint8_t seed[32];
		struct pbft_client_config cc;

		memset(seed, (int)(0x80 + c), sizeof(seed));
		ck_assert_int_eq(crypto_ed25519_from_seed(&h->keys.cli[c], seed), 0);
		h->aux[c].keys = &h->keys;
		h->aux[c].id = c;
		h_client_config(h, c, &cc);
		ck_assert_int_eq(pbft_client_new(&cc, &h->c[c]), 0);
	}
}

static H_UNUSED void h_start_all(struct h *h)
{
	for (uint32_t i = 0; i < H_N; i++)
		h_start(h, i);
}

static H_UNUSED void h_fini(struct h *h)
{
	for (uint32_t i = 0; i < H_N; i++) {
		pbft_free(h->r[i]);
		for (size_t k = 0; k < h->store[i].n; k++)
			free(h->store[i].r[k].val);
		free(h->store[i].r);
		crypto_ed25519_free(&h->keys.rep[i]);
	}
	for (uint32_t c = 0; c < H_CLIENTS; c++) {
		pbft_client_free(h->c[c]);
		crypto_ed25519_free(&h->keys.cli[c]);
	}
	for (size_t k = 0; k < h->qn; k++)
		free(h->q[h->qhead + k].p);
	free(h->q);
	pbft_update_free(&h->up);
}

/* Client c invokes op (ordered or read-only); messages are queued. */
static H_UNUSED void h_invoke(struct h *h, uint32_t c, const char *op, int ro)
{
	int rc;

	pbft_update_reset(&h->up);
	h->cdone[c] = 0;
	rc = pbft_client_invoke(h->c[c], h->now, (const uint8_t *)op, strlen(op), ro, &h->up);
	ck_assert_msg(rc == 0, "invoke: %s", pbft_strerror(rc));
	h->cdeadline[c] = h->up.deadline;
	h_route(h, 0, 1, c, &h->up);
}

/* The client's accepted result as a C string (static buffer). */
static H_UNUSED const char *h_result(struct h *h, uint32_t c)
{
	static char buf[128];
	struct wire_bytes b = pbft_client_result(h->c[c], NULL);
	uint32_t n = b.len < sizeof(buf) - 1 ? b.len : (uint32_t)sizeof(buf) - 1;

	memcpy(buf, b.p, n);
	buf[n] = 0;
	return buf;
}

static H_UNUSED struct pbft_status h_status(struct h *h, uint32_t i)
{
	struct pbft_status st;

	pbft_get_status(h->r[i], &st);
	return st;
}

/* Run client c's op to completion (or until ms of simulated time pass). */
static H_UNUSED int h_do(struct h *h, uint32_t c, const char *op, int ro, uint64_t ms)
{
	uint64_t end = h->now + ms;

	h_invoke(h, c, op, ro);
	h_run(h, 1000000);
	while (!h->cdone[c] && h->now < end)
		h_advance(h, 10, 10);
	return h->cdone[c];
}

/* Deliver an encoded message built by a test, from replica `from` to replica `to`. */
static H_UNUSED void h_inject(struct h *h, uint32_t from, uint32_t to, const struct wire_msg *m)
{
	struct wire_buf b;

	wire_buf_init(&b);
	ck_assert_int_eq(wire_encode(&b, m), 0);
	h_enqueue(h, from, to, b.p, b.len);
	wire_buf_free(&b);
	h_run(h, 1000000);
}

static H_UNUSED void h_hdr(struct wire_hdr *hd, uint8_t type, uint32_t sender)
{
	memset(hd, 0, sizeof(*hd));
	hd->version = WIRE_VERSION;
	hd->type = type;
	hd->sender = sender;
	hd->group = H_GROUP;
	hd->epoch = H_EPOCH;
}

/* Feed client machine c (of client 0's key) a REPLY from replica `from` with view, ts,
 * lane, flags and result res, encoded and decoded as the wire would. Returns
 * pbft_client_step's result; the update is left in h->up. */
static H_UNUSED int h_feed_reply_bytes(struct h *h, struct pbft_client *c, uint32_t from,
				       uint64_t view, uint64_t ts, uint32_t lane, uint32_t flags,
				       const uint8_t *res, size_t len)
{
	struct wire_msg m, d;
	struct wire_buf b;
	struct pbft_event ev;
	int rc;

	memset(&m, 0, sizeof(m));
	h_hdr(&m.hdr, WIRE_REPLY, from);
	m.u.reply.view = view;
	m.u.reply.timestamp = ts;
	memcpy(m.u.reply.client, h->keys.cli[0].pub, WIRE_KEY_LEN);
	m.u.reply.lane = lane;
	m.u.reply.flags = flags;
	m.u.reply.result.p = res;
	m.u.reply.result.len = (uint32_t)len;
	wire_buf_init(&b);
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	ck_assert_int_eq(wire_decode(b.p, b.len, NULL, &d), 0);
	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_MESSAGE;
	ev.now = h->now;
	ev.msg = &d;
	ev.from = from;
	pbft_update_reset(&h->up);
	rc = pbft_client_step(c, &ev, &h->up);
	wire_buf_free(&b);
	return rc;
}

static H_UNUSED int h_feed_reply(struct h *h, struct pbft_client *c, uint32_t from, uint64_t view,
				 uint64_t ts, uint32_t lane, uint32_t flags, const char *res)
{
	return h_feed_reply_bytes(h, c, from, view, ts, lane, flags, (const uint8_t *)res,
				  strlen(res));
}

#endif
