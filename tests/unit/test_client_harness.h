/* test_client_harness.h: an in-process bulwark group for the client library tests: four
 * replicas, each the real PBFT core (pbft_new/pbft_step) with an in-memory key-value app
 * and a real net/ listener, all on one libev loop, plus the group's config file in a
 * temporary folder. Replicas can be made silent, Byzantine (lying replies) or stopped.
 * Included by tests/unit/test_client_*.c only. */
#ifndef BULWARK_TEST_CLIENT_HARNESS_H
#define BULWARK_TEST_CLIENT_HARNESS_H

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/bulwark.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "replica/core/pbft.h"
#include "replica/core/ptree.h"
#include "tests/unit/unit.h"
#include "wire/info.h"
#include "wire/kv.h"
#include "wire/wire.h"

#define CH_N 4u
#define CH_F 1u
#define CH_GROUP 7u
#define CH_EPOCH 1u
#define CH_FANOUT 4u
#define CH_PARTS 4u        /* fanout^1 */
#define CH_SNAPS 8u
#define CH_MAX_CLIENTS 256u
#define CH_BATCH_BYTES (4u << 20)
#define CH_UNUSED __attribute__((unused))

/* ---------------------------------------------------------------- the app */
struct ch_entry {
	uint8_t *key, *val;
	uint32_t klen, vlen;
	uint64_t version;
};
struct ch_state {
	struct ch_entry *e;
	uint32_t n, cap;
};
struct ch_snap {
	int used;
	uint64_t seq;
	struct ch_state st;
};
struct ch_app {
	struct ch_state st;
	struct ch_snap snap[CH_SNAPS];
	uint64_t last_executed;
};

static CH_UNUSED int ch_keycmp(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c)
		return c;
	return al < bl ? -1 : al > bl;
}

/* Index of key, or -(insertion point) - 1. */
static CH_UNUSED long ch_find(const struct ch_state *s, const uint8_t *k, uint32_t kl)
{
	uint32_t lo = 0, hi = s->n;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		int c = ch_keycmp(s->e[mid].key, s->e[mid].klen, k, kl);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static CH_UNUSED uint8_t *ch_dup(const void *p, uint32_t len)
{
	uint8_t *d = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(d);
	if (len)
		memcpy(d, p, len);
	return d;
}

static CH_UNUSED void ch_set(struct ch_state *s, const uint8_t *k, uint32_t kl, const uint8_t *v,
			     uint32_t vl, uint64_t version)
{
	long i = ch_find(s, k, kl);

	if (i >= 0) {
		free(s->e[i].val);
		s->e[i].val = ch_dup(v, vl);
		s->e[i].vlen = vl;
		s->e[i].version = version;
		return;
	}
	i = -i - 1;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->e = realloc(s->e, s->cap * sizeof(*s->e));
		ck_assert_ptr_nonnull(s->e);
	}
	memmove(&s->e[i + 1], &s->e[i], (s->n - (uint32_t)i) * sizeof(*s->e));
	s->e[i].key = ch_dup(k, kl);
	s->e[i].klen = kl;
	s->e[i].val = ch_dup(v, vl);
	s->e[i].vlen = vl;
	s->e[i].version = version;
	s->n++;
}

static CH_UNUSED void ch_del_at(struct ch_state *s, uint32_t i)
{
	free(s->e[i].key);
	free(s->e[i].val);
	memmove(&s->e[i], &s->e[i + 1], (s->n - i - 1) * sizeof(*s->e));
	s->n--;
}

static CH_UNUSED void ch_state_free(struct ch_state *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		free(s->e[i].key);
		free(s->e[i].val);
	}
	free(s->e);
	memset(s, 0, sizeof(*s));
}

static CH_UNUSED void ch_state_copy(struct ch_state *dst, const struct ch_state *src)
{
	memset(dst, 0, sizeof(*dst));
	for (uint32_t i = 0; i < src->n; i++)
		ch_set(dst, src->e[i].key, src->e[i].klen, src->e[i].val, src->e[i].vlen,
		       src->e[i].version);
}

/* The digested value of an entry: version u64 LE || value. */
static CH_UNUSED uint8_t *ch_dval(const struct ch_entry *e, uint32_t *len)
{
	uint8_t *b = malloc(8u + e->vlen);

	ck_assert_ptr_nonnull(b);
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(e->version >> (8 * i));
	memcpy(b + 8, e->val, e->vlen);
	*len = 8u + e->vlen;
	return b;
}

static CH_UNUSED void ch_part_digest(const struct ch_state *s, uint64_t p, uint8_t out[32])
{
	struct ptree_part_hash ph;

	ck_assert_int_eq(ptree_part_begin(&ph, p), 0);
	for (uint32_t i = 0; i < s->n; i++) {
		uint32_t dl;
		uint8_t *dv;

		if (ptree_partition_of(CH_PARTS, s->e[i].key, s->e[i].klen) != p)
			continue;
		dv = ch_dval(&s->e[i], &dl);
		ptree_part_add(&ph, s->e[i].key, s->e[i].klen, dv, dl);
		free(dv);
	}
	ck_assert_int_eq(ptree_part_end(&ph, out), 0);
}

static CH_UNUSED void ch_root(const struct ch_state *s, uint8_t out[32])
{
	uint8_t kids[CH_PARTS * 32];

	for (uint32_t p = 0; p < CH_PARTS; p++)
		ch_part_digest(s, p, kids + 32 * p);
	ptree_node_hash(0, 0, kids, CH_PARTS, out);
}

/* One KV operation against s: the result as wire/kv.h encodes it. */
static CH_UNUSED void ch_apply(struct ch_state *s, const struct wire_request *req,
			       struct wire_buf *out)
{
	struct wire_kv_op op;
	struct wire_kv_result res;
	int rc = wire_kv_decode_op(req->op.p, req->op.len, NULL, &op);
	long i;

	memset(&res, 0, sizeof(res));
	if (rc == WIRE_ERR_TOO_BIG) {
		res.status = WIRE_KV_TOO_BIG;
		res.field = op.too_big;
		res.limit = op.too_big == WIRE_KV_FIELD_KEY ? WIRE_KV_MAX_KEY_DEFAULT
							    : WIRE_KV_MAX_VALUE_DEFAULT;
	} else if (rc != WIRE_OK) {
		res.status = WIRE_KV_BAD_OP;
		res.reason = rc == WIRE_ERR_TRAILING ? WIRE_KV_BAD_TRAILING
			   : rc == WIRE_ERR_TYPE ? WIRE_KV_BAD_TYPE : WIRE_KV_BAD_TRUNCATED;
	} else if ((req->flags & WIRE_REQ_READ_ONLY) && !wire_kv_is_read_only(op.type)) {
		res.status = WIRE_KV_BAD_OP;
		res.reason = WIRE_KV_BAD_READ_ONLY;
	} else {
		i = ch_find(s, op.key.p, op.key.len);
		switch (op.type) {
		case WIRE_KV_GET:
			if (i < 0) {
				res.status = WIRE_KV_NOT_FOUND;
			} else {
				res.version = s->e[i].version;
				res.value.p = s->e[i].val;
				res.value.len = s->e[i].vlen;
			}
			break;
		case WIRE_KV_PUT:
			res.version = i >= 0 ? s->e[i].version + 1 : 1;
			ch_set(s, op.key.p, op.key.len, op.value.p, op.value.len, res.version);
			break;
		case WIRE_KV_CAS:
			if ((i < 0 ? 0 : s->e[i].version) != op.version) {
				res.status = WIRE_KV_CAS_MISMATCH;
				res.version = i < 0 ? 0 : s->e[i].version;
				break;
			}
			res.version = op.version + 1;
			ch_set(s, op.key.p, op.key.len, op.value.p, op.value.len, res.version);
			break;
		case WIRE_KV_DEL:
			if (i < 0) {
				res.status = WIRE_KV_NOT_FOUND;
				break;
			}
			res.version = s->e[i].version;
			ch_del_at(s, (uint32_t)i);
			break;
		}
	}
	ck_assert_int_eq(wire_kv_encode_result(out, &res), 0);
}

/* The client table lives in the state under "\xffclient:" || client key || lane, the entry's
 * version holding the last timestamp and its value the result. */
#define CH_CLIENT_PREFIX "\xff" "client:"
#define CH_CLIENT_PREFIX_LEN 8u

/* Prefix, key, lane (u32 LE): one client table entry per (key, lane). */
static CH_UNUSED void ch_client_keyname(const uint8_t *client, uint32_t lane,
					uint8_t out[CH_CLIENT_PREFIX_LEN + 36])
{
	memcpy(out, CH_CLIENT_PREFIX, CH_CLIENT_PREFIX_LEN);
	memcpy(out + CH_CLIENT_PREFIX_LEN, client, 32);
	for (uint32_t i = 0; i < 4; i++)
		out[CH_CLIENT_PREFIX_LEN + 32 + i] = (uint8_t)(lane >> (8 * i));
}

static CH_UNUSED int ch_client_last(void *ctx, const uint8_t client[WIRE_KEY_LEN], uint32_t lane, uint64_t *ts,
				    struct wire_buf *reply)
{
	struct ch_app *a = ctx;
	uint8_t name[CH_CLIENT_PREFIX_LEN + 36];
	long i;

	ch_client_keyname(client, lane, name);
	i = ch_find(&a->st, name, sizeof(name));
	*ts = 0;
	if (i < 0)
		return 0;
	*ts = a->st.e[i].version;
	if (reply)
		wire_put_fixed(reply, a->st.e[i].val, a->st.e[i].vlen);
	return 0;
}

static CH_UNUSED int ch_execute(void *ctx, uint64_t seq, const struct wire_batch *b,
				struct pbft_results *results)
{
	struct ch_app *a = ctx;
	struct wire_iter it;
	struct wire_request req;
	struct wire_buf out;
	uint8_t name[CH_CLIENT_PREFIX_LEN + 36];

	if (seq != a->last_executed + 1)
		return -1;
	wire_buf_init(&out);
	wire_iter_batch(&it, b);
	while (wire_next_request(&it, &req)) {
		wire_buf_reset(&out);
		ch_apply(&a->st, &req, &out);
		if (pbft_results_add(results, out.p, (uint32_t)out.len) != 0) {
			wire_buf_free(&out);
			return -1;
		}
		ch_client_keyname(req.client, req.lane, name);
		ch_set(&a->st, name, sizeof(name), out.p, (uint32_t)out.len, req.timestamp);
	}
	wire_buf_free(&out);
	a->last_executed = seq;
	return 0;
}

static CH_UNUSED int ch_execute_ro(void *ctx, const struct wire_request *req,
				   struct wire_buf *result, struct pbft_ro_digest *dg)
{
	struct ch_app *a = ctx;

	(void)dg; /* the core digests the result */

	ch_apply(&a->st, req, result);
	return 0;
}

static CH_UNUSED struct ch_snap *ch_snap_find(struct ch_app *a, uint64_t seq)
{
	for (uint32_t i = 0; i < CH_SNAPS; i++)
		if (a->snap[i].used && a->snap[i].seq == seq)
			return &a->snap[i];
	return NULL;
}

static CH_UNUSED int ch_checkpoint(void *ctx, uint64_t seq, uint8_t digest[32])
{
	struct ch_app *a = ctx;
	struct ch_snap *s = ch_snap_find(a, seq);

	for (uint32_t i = 0; !s && i < CH_SNAPS; i++)
		if (!a->snap[i].used)
			s = &a->snap[i];
	if (!s)
		return -1;
	if (s->used)
		ch_state_free(&s->st);
	ch_state_copy(&s->st, &a->st);
	s->used = 1;
	s->seq = seq;
	ch_root(&a->st, digest);
	return 0;
}

static CH_UNUSED void ch_release(void *ctx, uint64_t below)
{
	struct ch_app *a = ctx;

	for (uint32_t i = 0; i < CH_SNAPS; i++) {
		if (a->snap[i].used && a->snap[i].seq < below) {
			ch_state_free(&a->snap[i].st);
			a->snap[i].used = 0;
		}
	}
}

static CH_UNUSED int ch_tree_node(void *ctx, uint64_t ckpt, uint32_t level, uint64_t index,
				  struct wire_buf *children, uint32_t *count)
{
	struct ch_snap *s = ch_snap_find(ctx, ckpt);
	uint8_t d[32];

	if (!s || level != 0 || index != 0)
		return -1;
	for (uint32_t p = 0; p < CH_PARTS; p++) {
		ch_part_digest(&s->st, p, d);
		wire_put_child(children, d);
	}
	*count = CH_PARTS;
	return 0;
}

static CH_UNUSED int ch_read_partition(void *ctx, uint64_t ckpt, uint64_t partition,
				       struct wire_bytes start, uint32_t max_bytes,
				       struct wire_buf *entries, uint32_t *count, int *more)
{
	struct ch_snap *s = ch_snap_find(ctx, ckpt);
	uint32_t bytes = 0;

	*count = 0;
	*more = 0;
	if (!s || partition >= CH_PARTS)
		return -1;
	for (uint32_t i = 0; i < s->st.n; i++) {
		const struct ch_entry *e = &s->st.e[i];
		struct wire_data_item it;
		uint32_t dl;
		uint8_t *dv;

		if (ptree_partition_of(CH_PARTS, e->key, e->klen) != partition ||
		    ch_keycmp(e->key, e->klen, start.p ? start.p : (const uint8_t *)"", start.len) < 0)
			continue;
		if (*count > 0 && bytes + 16u + e->klen + e->vlen > max_bytes) {
			*more = 1;
			break;
		}
		dv = ch_dval(e, &dl);
		it.key.p = e->key;
		it.key.len = e->klen;
		it.value.p = dv;
		it.value.len = dl;
		wire_put_data(entries, &it);
		free(dv);
		bytes += 16u + e->klen + e->vlen;
		(*count)++;
	}
	return 0;
}

static CH_UNUSED int ch_local_node(void *ctx, uint32_t level, uint64_t index, uint8_t digest[32])
{
	struct ch_app *a = ctx;

	if (level == 0 && index == 0)
		ch_root(&a->st, digest);
	else if (level == 1 && index < CH_PARTS)
		ch_part_digest(&a->st, index, digest);
	else
		return -1;
	return 0;
}

static CH_UNUSED int ch_write_partition(void *ctx, uint64_t partition, int first,
					const struct wire_data *page)
{
	struct ch_app *a = ctx;
	struct wire_iter it;
	struct wire_data_item e;

	if (first) {
		for (uint32_t i = a->st.n; i-- > 0;)
			if (ptree_partition_of(CH_PARTS, a->st.e[i].key, a->st.e[i].klen) == partition)
				ch_del_at(&a->st, i);
	}
	wire_iter_init(&it, &page->entries);
	while (wire_next_data(&it, &e)) {
		uint64_t v = 0;

		if (e.value.len < 8)
			return -1;
		for (int i = 0; i < 8; i++)
			v |= (uint64_t)e.value.p[i] << (8 * i);
		ch_set(&a->st, e.key.p, e.key.len, e.value.p + 8, e.value.len - 8, v);
	}
	return 0;
}

static CH_UNUSED int ch_finish_transfer(void *ctx, uint64_t ckpt, const uint8_t digest[32])
{
	struct ch_app *a = ctx;
	uint8_t root[32];

	ch_root(&a->st, root);
	if (memcmp(root, digest, 32) != 0)
		return -1;
	a->last_executed = ckpt;
	return 0;
}

/* ---------------------------------------------------------------- replicas */
struct ch;
struct ch_cli {
	uint8_t pub[32];
	struct net_conn *conn;
};
struct ch_replica {
	struct ch *h;
	uint32_t id;
	struct crypto_ed25519_key key;
	struct pbft *pbft;
	struct net *net;
	uint16_t port;
	struct ch_app app;
	struct pbft_update up;
	ev_timer timer;
	struct ch_cli cli[64];   /* open client connections by key */
	int silent;              /* drop every input */
	int lie;                 /* alter the result of every reply it sends */
	int junk;                /* send malformed frames instead of each reply, and a
				  * forged INFO before its own */
	int stopped;             /* transport closed */
	uint64_t started_ms;
};
struct ch {
	struct ev_loop *loop;
	char dir[64];
	char config[128];
	uint8_t pubs[CH_N][32];
	struct crypto_ed25519_key verify[CH_N];
	struct ch_replica r[CH_N];
	int robust;
};

static CH_UNUSED uint64_t ch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static CH_UNUSED uint64_t ch_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static CH_UNUSED int ch_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[WIRE_SIG_LEN])
{
	struct ch_replica *r = ctx;

	return crypto_ed25519_sign(&r->key, msg, len, sig);
}

static CH_UNUSED int ch_verify(void *ctx, uint32_t replica, const uint8_t *msg, size_t len,
			       const uint8_t sig[WIRE_SIG_LEN])
{
	struct ch_replica *r = ctx;

	if (replica >= CH_N)
		return -1;
	return crypto_ed25519_verify(&r->h->verify[replica], msg, len, sig);
}

static CH_UNUSED struct ch_cli *ch_cli_find(struct ch_replica *r, const uint8_t *pub)
{
	for (uint32_t i = 0; i < 64; i++)
		if (r->cli[i].conn && memcmp(r->cli[i].pub, pub, 32) == 0)
			return &r->cli[i];
	return NULL;
}

/* The daemon's rule: tag[own id] under the auth key of the client's current session,
 * or, in robust mode, the client's signature over the digest. */
static CH_UNUSED int ch_check_request(void *ctx, const struct wire_request *req,
				      const uint8_t digest[WIRE_DIGEST_LEN])
{
	struct ch_replica *r = ctx;
	struct ch_cli *cl;
	uint8_t mac[32];

	if (r->h->robust) {
		if (req->auth.len != WIRE_SIG_LEN)
			return -1;
		return crypto_ed25519_verify_raw(req->client, digest, WIRE_DIGEST_LEN, req->auth.p);
	}
	if (req->auth.len != CH_N * WIRE_TAG_LEN)
		return -1;
	cl = ch_cli_find(r, req->client);
	if (!cl)
		return -1;
	if (crypto_hmac_sha256(net_conn_auth_key(cl->conn), NET_AUTH_KEY_LEN, digest,
			       WIRE_DIGEST_LEN, mac) != 0)
		return -1;
	return crypto_memeq(mac, req->auth.p + r->id * WIRE_TAG_LEN, WIRE_TAG_LEN) ? 0 : -1;
}

/* A Byzantine replica's reply: same message, result bytes altered. */
static CH_UNUSED void ch_send_lie(struct net_conn *conn, const uint8_t *msg, size_t len)
{
	struct wire_msg m;
	struct wire_buf res, out;

	ck_assert_int_eq(wire_decode(msg, len, NULL, &m), 0);
	wire_buf_init(&res);
	wire_buf_init(&out);
	wire_put_fixed(&res, m.u.reply.result.p, m.u.reply.result.len);
	wire_put_u8(&res, 0x5a);
	m.u.reply.result.p = res.p;
	m.u.reply.result.len = (uint32_t)res.len;
	ck_assert_int_eq(wire_encode(&out, &m), 0);
	(void)net_send(conn, out.p, out.len);
	wire_buf_free(&res);
	wire_buf_free(&out);
}

/* A Byzantine replica's INFO in the name of the next replica, with view 999. */
static CH_UNUSED void ch_send_forged_info(struct ch_replica *r, struct net_conn *conn)
{
	struct wire_info info;
	struct wire_hdr hdr;
	struct wire_buf b;

	memset(&info, 0, sizeof(info));
	memset(&hdr, 0, sizeof(hdr));
	info.replica = (r->id + 1) % CH_N;
	info.view = 999;
	hdr.sender = info.replica;
	hdr.group = CH_GROUP;
	hdr.epoch = CH_EPOCH;
	wire_buf_init(&b);
	ck_assert_int_eq(wire_info_encode(&b, &hdr, &info), 0);
	(void)net_send(conn, b.p, b.len);
	wire_buf_free(&b);
}

/* A Byzantine replica's garbage instead of a reply: random bytes, the reply cut short,
 * the reply with a trailing byte. */
static CH_UNUSED void ch_send_junk(struct net_conn *conn, const uint8_t *msg, size_t len)
{
	uint8_t rnd[40], *longer = malloc(len + 1);

	ck_assert_ptr_nonnull(longer);
	ck_assert_int_eq(crypto_random(rnd, sizeof(rnd)), 0);
	(void)net_send(conn, rnd, sizeof(rnd));
	(void)net_send(conn, msg, len - 1);
	memcpy(longer, msg, len);
	longer[len] = 0;
	(void)net_send(conn, longer, len + 1);
	free(longer);
}

static CH_UNUSED void ch_arm(struct ch_replica *r)
{
	uint64_t now = ch_now();

	ev_timer_stop(r->h->loop, &r->timer);
	if (!r->up.deadline || r->stopped)
		return;
	ev_timer_set(&r->timer, r->up.deadline > now ? (double)(r->up.deadline - now) / 1000.0 : 0.0, 0.0);
	ev_timer_start(r->h->loop, &r->timer);
}

/* Apply an update: records are kept in memory only (these replicas never restart). */
static CH_UNUSED void ch_apply_update(struct ch_replica *r)
{
	for (size_t i = 0; i < r->up.nout; i++) {
		const struct pbft_out *o = &r->up.out[i];
		const uint8_t *msg = r->up.msgs.p + o->off;
		struct ch_cli *cl;

		switch (o->dest) {
		case PBFT_DEST_REPLICA:
			(void)net_send_replica(r->net, o->replica, msg, o->len);
			break;
		case PBFT_DEST_OTHERS:
			for (uint32_t j = 0; j < CH_N; j++)
				if (j != r->id)
					(void)net_send_replica(r->net, j, msg, o->len);
			break;
		case PBFT_DEST_CLIENT:
			cl = ch_cli_find(r, o->client);
			if (!cl)
				break;
			if (r->junk)
				ch_send_junk(cl->conn, msg, o->len);
			else if (r->lie)
				ch_send_lie(cl->conn, msg, o->len);
			else
				(void)net_send(cl->conn, msg, o->len);
			break;
		}
	}
	ch_arm(r);
	pbft_update_reset(&r->up);
}

static CH_UNUSED void ch_step(struct ch_replica *r, const struct wire_msg *m, uint32_t from,
			      const uint8_t *from_client)
{
	struct pbft_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = m ? PBFT_EV_MESSAGE : PBFT_EV_TICK;
	ev.now = ch_now();
	ev.wall = ch_wall();
	ev.msg = m;
	ev.from = from;
	ev.from_client = from_client;
	for (int turn = 0; turn < 4; turn++) {
		ck_assert_int_eq(pbft_step(r->pbft, &ev, &r->up), 0);
		int again = r->up.again;
		ch_apply_update(r);
		if (!again)
			return;
		/* A batch waits for this turn's records (pbft_update.again): they are
		 * applied, step again at once, as bulwarkd does. */
		ev.type = PBFT_EV_TICK;
		ev.msg = NULL;
	}
	ck_abort_msg("replica keeps asking to be stepped again");
}

static CH_UNUSED void ch_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ch_replica *r = w->data;

	(void)loop;
	(void)revents;
	if (!r->stopped)
		ch_step(r, NULL, 0, NULL);
}

static CH_UNUSED void ch_answer_info(struct ch_replica *r, struct net_conn *conn)
{
	struct pbft_status st;
	struct wire_info info;
	struct wire_hdr hdr;
	struct wire_buf b;

	pbft_get_status(r->pbft, &st);
	memset(&info, 0, sizeof(info));
	memset(&hdr, 0, sizeof(hdr));
	info.replica = r->id;
	info.view = st.view;
	info.primary = st.primary;
	info.flags = (st.view_active ? WIRE_INFO_VIEW_ACTIVE : 0) |
		     (st.transferring ? WIRE_INFO_TRANSFERRING : 0);
	info.low_watermark = st.low_watermark;
	info.last_executed = st.last_executed;
	info.last_committed = st.last_committed;
	info.dropped = st.dropped;
	info.uptime_ms = ch_now() - r->started_ms;
	hdr.sender = r->id;
	hdr.group = CH_GROUP;
	hdr.epoch = CH_EPOCH;
	wire_buf_init(&b);
	ck_assert_int_eq(wire_info_encode(&b, &hdr, &info), 0);
	(void)net_send(conn, b.p, b.len);
	wire_buf_free(&b);
}

static CH_UNUSED void ch_on_up(void *ctx, struct net_conn *conn, const struct net_peer *peer)
{
	struct ch_replica *r = ctx;
	struct ch_cli *cl;

	if (peer->role != NET_ROLE_CLIENT)
		return;
	cl = ch_cli_find(r, peer->pub);
	for (uint32_t i = 0; !cl && i < 64; i++)
		if (!r->cli[i].conn)
			cl = &r->cli[i];
	ck_assert_ptr_nonnull(cl);
	memcpy(cl->pub, peer->pub, 32);
	cl->conn = conn;
}

static CH_UNUSED void ch_on_down(void *ctx, struct net_conn *conn, int reason)
{
	struct ch_replica *r = ctx;

	(void)reason;
	for (uint32_t i = 0; i < 64; i++)
		if (r->cli[i].conn == conn)
			r->cli[i].conn = NULL;
}

static CH_UNUSED void ch_on_frame(void *ctx, struct net_conn *conn, const uint8_t *p, size_t len)
{
	struct ch_replica *r = ctx;
	const struct net_peer *peer = net_conn_peer(conn);
	struct wire_hdr hdr;
	struct wire_bytes body;
	struct wire_msg m;

	if (r->silent || r->stopped)
		return;
	if (wire_decode_hdr(p, len, &hdr, &body) != 0)
		return;
	if (hdr.type == WIRE_INFO_REQ) {
		if (peer->role == NET_ROLE_CLIENT && wire_info_req_decode(p, len, &hdr) == 0) {
			if (r->junk)
				ch_send_forged_info(r, conn);
			ch_answer_info(r, conn);
		}
		return;
	}
	if (wire_decode(p, len, NULL, &m) != 0)
		return;
	if (peer->role == NET_ROLE_REPLICA)
		ch_step(r, &m, peer->replica_id, NULL);
	else
		ch_step(r, &m, WIRE_SENDER_CLIENT, peer->pub);
}

static CH_UNUSED void ch_key(struct crypto_ed25519_key *k, uint32_t i)
{
	uint8_t seed[32];

	memset(seed, (int)(0x60 + i), sizeof(seed));
	ck_assert_int_eq(crypto_ed25519_from_seed(k, seed), 0);
}

static CH_UNUSED void ch_replica_start(struct ch *h, uint32_t i)
{
	struct ch_replica *r = &h->r[i];
	struct pbft_config pc;
	struct net_config nc;

	r->h = h;
	r->id = i;
	ch_key(&r->key, i);
	memset(&pc, 0, sizeof(pc));
	pc.n = CH_N;
	pc.f = CH_F;
	pc.id = i;
	pc.group = CH_GROUP;
	pc.epoch = CH_EPOCH;
	pc.checkpoint_interval = 32;
	pc.log_window = 64;
	pc.batch_max_requests = 128;
	pc.batch_max_bytes = CH_BATCH_BYTES;
	pc.pipeline = 4;
	pc.view_change_timeout_ms = 400;
	pc.max_clock_skew_ms = 5000;
	pc.status_interval_ms = 200;
	pc.max_clients = CH_MAX_CLIENTS;
	pc.crypto.ctx = r;
	pc.crypto.sign = ch_sign;
	pc.crypto.verify = ch_verify;
	pc.crypto.check_request = ch_check_request;
	pc.app.ctx = &r->app;
	pc.app.fanout = CH_FANOUT;
	pc.app.levels = 1;
	pc.app.execute = ch_execute;
	pc.app.execute_ro = ch_execute_ro;
	pc.app.checkpoint = ch_checkpoint;
	pc.app.release = ch_release;
	pc.app.tree_node = ch_tree_node;
	pc.app.read_partition = ch_read_partition;
	pc.app.local_node = ch_local_node;
	pc.app.write_partition = ch_write_partition;
	pc.app.finish_transfer = ch_finish_transfer;
	pc.app.client_last = ch_client_last;
	r->started_ms = ch_now();
	ck_assert_int_eq(pbft_new(&pc, NULL, NULL, 0, 0, r->started_ms, &r->pbft), 0);
	pbft_update_init(&r->up);
	ev_timer_init(&r->timer, ch_timer_cb, 0.0, 0.0);
	r->timer.data = r;

	net_config_init(&nc);
	nc.identity = &r->key;
	nc.group_id = CH_GROUP;
	nc.epoch = CH_EPOCH;
	nc.role = NET_ROLE_REPLICA;
	nc.replica_id = i;
	nc.replica_keys = (const uint8_t (*)[CRYPTO_ED25519_PUB])h->pubs;
	nc.n_replicas = CH_N;
	nc.limits.backoff_max = 0.2;
	nc.cb.ctx = r;
	nc.cb.on_up = ch_on_up;
	nc.cb.on_down = ch_on_down;
	nc.cb.on_frame = ch_on_frame;
	ck_assert_int_eq(net_open(&r->net, h->loop, &nc), 0);
	ck_assert_int_eq(net_listen(r->net, "127.0.0.1", 0, &r->port), 0);
	/* A first tick arms the core's timers (status broadcasts, view change). */
	ch_step(r, NULL, 0, NULL);
}

/* Stop replica i for good: its transport closes and it never steps again. */
static CH_UNUSED void ch_replica_stop(struct ch *h, uint32_t i)
{
	struct ch_replica *r = &h->r[i];

	if (r->stopped)
		return;
	r->stopped = 1;
	ev_timer_stop(h->loop, &r->timer);
	net_close(r->net);
	r->net = NULL;
}

static CH_UNUSED void ch_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* Write DIR/bulwark.ini for the running replicas, with [group] batch_max_bytes as given
 * (the replicas themselves take batches of up to 4 MiB) and client as [client]'s body. */
static CH_UNUSED void ch_write_config(struct ch *h, uint32_t batch_max_bytes, const char *client)
{
	char text[4096];
	size_t off;

	off = (size_t)snprintf(text, sizeof(text),
			       "[group]\nid = %u\nf = %u\nepoch = %u\nview_change_timeout_ms = 400\n"
			       "client_auth = %s\nadmin_key = admin.pub\nbatch_max_bytes = %u\n"
			       /* the client reads only the batch limit; a small window keeps the
				* config's view-change size rule satisfied with 4 MiB batches */
			       "checkpoint_interval = 4\nlog_window = 8\n\n",
			       CH_GROUP, CH_F, CH_EPOCH, h->robust ? "signatures" : "macs",
			       batch_max_bytes);
	for (uint32_t i = 0; i < CH_N; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"[replica %u]\nhost = 127.0.0.1\nport = %u\nhttp_port = %u\n"
					"public_key = r%u.pub\n\n",
					i, h->r[i].port, 60000u + i, i);
	snprintf(text + off, sizeof(text) - off, "[client]\n%s\n", client);
	snprintf(h->config, sizeof(h->config), "%s/bulwark.ini", h->dir);
	ch_write_file(h->config, text);
}

/* A running group (robust: client_auth = signatures) with its config file. client is
 * the [client] section's body, e.g. "timeout_ms = 100\n". */
static CH_UNUSED void ch_start(struct ch *h, int robust, const char *client)
{
	char path[160];
	struct crypto_ed25519_key admin;

	memset(h, 0, sizeof(*h));
	h->robust = robust;
	h->loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(h->loop);
	strcpy(h->dir, "/tmp/bw-client-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(h->dir));
	for (uint32_t i = 0; i < CH_N; i++) {
		ch_key(&h->verify[i], i);
		memcpy(h->pubs[i], h->verify[i].pub, 32);
		snprintf(path, sizeof(path), "%s/r%u.pub", h->dir, i);
		ck_assert_int_eq(crypto_ed25519_save_public(&h->verify[i], path, NULL, 0), 0);
	}
	ch_key(&admin, 99);
	snprintf(path, sizeof(path), "%s/admin.pub", h->dir);
	ck_assert_int_eq(crypto_ed25519_save_public(&admin, path, NULL, 0), 0);
	crypto_ed25519_free(&admin);
	for (uint32_t i = 0; i < CH_N; i++)
		ch_replica_start(h, i);
	for (uint32_t i = 0; i < CH_N; i++)
		for (uint32_t j = 0; j < CH_N; j++)
			if (i != j)
				ck_assert_int_eq(net_connect(h->r[i].net, j, "127.0.0.1", h->r[j].port), 0);
	ch_write_config(h, CH_BATCH_BYTES, client);
}

static CH_UNUSED void ch_stop(struct ch *h)
{
	char cmd[128];

	for (uint32_t i = 0; i < CH_N; i++) {
		struct ch_replica *r = &h->r[i];

		ch_replica_stop(h, i);
		pbft_free(r->pbft);
		pbft_update_free(&r->up);
		ch_state_free(&r->app.st);
		for (uint32_t s = 0; s < CH_SNAPS; s++)
			if (r->app.snap[s].used)
				ch_state_free(&r->app.snap[s].st);
		crypto_ed25519_free(&r->key);
		crypto_ed25519_free(&h->verify[i]);
	}
	ev_loop_destroy(h->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
	ck_assert_int_eq(system(cmd), 0);
}

static CH_UNUSED void ch_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

/* A client of h's group on h's loop with the key at key_path (NULL: a fresh key). */
static CH_UNUSED struct bulwark_client *ch_open_client(struct ch *h, const char *key_path)
{
	struct bulwark_client *c = NULL;
	char err[512] = "";
	int rc = bulwark_client_open(h->config, key_path, h->loop, &c, err, sizeof(err));

	ck_assert_msg(rc == BULWARK_OK, "open: %s (%s)", bulwark_strerror(rc), err);
	return c;
}

/* A blocking GET of key on c reads value at version. */
static CH_UNUSED void ch_expect_get(struct bulwark_client *c, const char *key, const char *value,
				   uint64_t version)
{
	uint8_t *v = NULL;
	size_t vl = 0;
	uint64_t ver = 0;
	int rc = bulwark_get(c, key, strlen(key), &v, &vl, &ver);

	ck_assert_msg(rc == BULWARK_OK, "get %s: %s", key, bulwark_strerror(rc));
	ck_assert_uint_eq(vl, strlen(value));
	ck_assert_mem_eq(v, value, vl);
	ck_assert_uint_eq(ver, version);
	free(v);
}

/* Run the loop until *flag is 0 or ms pass; returns 1 if the flag cleared. */
static CH_UNUSED int ch_run_until(struct ch *h, const int *flag, uint64_t ms)
{
	uint64_t end = ch_now() + ms;
	ev_timer tick;

	ev_timer_init(&tick, ch_tick_cb, 0.01, 0.01);
	ev_timer_start(h->loop, &tick);
	while (*flag && ch_now() < end)
		ev_run(h->loop, EVRUN_ONCE);
	ev_timer_stop(h->loop, &tick);
	return !*flag;
}

/* Run the loop for ms. */
static CH_UNUSED void ch_run_for(struct ch *h, uint64_t ms)
{
	int forever = 1;

	(void)ch_run_until(h, &forever, ms);
}

#endif
