/* app.c: the simulator's replicated application: an in-memory key-value map behind
 * pbft_app_ops, digested by the partition tree, with copy-on-write checkpoint snapshots
 * and both sides of state transfer. Its writes are unsynced like bulwarkd's LevelDB
 * ones: a machine crash rolls it back to a prefix of its replica's write order. */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t SIM__KEY_TIME[2] = {0x01, 't'};
static void sim__app_wrote(struct sim_app *a);
static void sim__image_set(struct sim_app_image *im, const struct sim_app *a);

#define SIM__CLIENT_KEY_LEN (2u + WIRE_KEY_LEN + 4u)

/* The client table key 0x01 'c' | client key | lane (u32 LE). */
static void sim__client_id(uint8_t ckey[SIM__CLIENT_KEY_LEN], const uint8_t *client, uint32_t lane)
{
	ckey[0] = 0x01;
	ckey[1] = 'c';
	memcpy(ckey + 2, client, WIRE_KEY_LEN);
	for (uint32_t i = 0; i < 4; i++)
		ckey[2 + WIRE_KEY_LEN + i] = (uint8_t)(lane >> (8 * i));
}

/* ---------------------------------------------------------------- partitions */
static int sim__keycmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	uint32_t m = alen < blen ? alen : blen;
	int c = m ? memcmp(a, b, m) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static void sim__part_unref(struct sim_part *p)
{
	if (p == NULL || --p->refs > 0)
		return;
	for (uint32_t i = 0; i < p->n; i++)
		free(p->e[i].k);
	free(p->e);
	free(p);
}

/* Index of key in p, or where it would go (*found 0). */
static uint32_t sim__part_find(const struct sim_part *p, const uint8_t *k, uint32_t klen, int *found)
{
	uint32_t lo = 0, hi = p ? p->n : 0;

	*found = 0;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = sim__keycmp(p->e[mid].k, p->e[mid].klen, k, klen);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int sim__kv_set(struct sim_kv *e, const uint8_t *k, uint32_t klen, const uint8_t *v, uint32_t vlen)
{
	uint8_t *buf = malloc((size_t)klen + vlen + 1);

	if (buf == NULL)
		return -1;
	if (klen)
		memcpy(buf, k, klen);
	if (vlen)
		memcpy(buf + klen, v, vlen);
	e->k = buf;
	e->v = buf + klen;
	e->klen = klen;
	e->vlen = vlen;
	return 0;
}

/* The live partition pi, private to the live state (copied if a snapshot shares it). */
static struct sim_part *sim__part_own(struct sim_app *a, uint32_t pi)
{
	struct sim_part *old = a->part[pi], *p;

	if (old != NULL && old->refs == 1)
		return old;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->refs = 1;
	if (old != NULL && old->n > 0) {
		p->e = calloc(old->n, sizeof(*p->e));
		if (p->e == NULL) {
			free(p);
			return NULL;
		}
		p->cap = old->n;
		for (uint32_t i = 0; i < old->n; i++) {
			if (sim__kv_set(&p->e[i], old->e[i].k, old->e[i].klen, old->e[i].v, old->e[i].vlen) != 0) {
				p->n = i;
				sim__part_unref(p);
				return NULL;
			}
		}
		p->n = old->n;
	}
	sim__part_unref(old);
	a->part[pi] = p;
	return p;
}

static uint32_t sim__part_of(const uint8_t *k, uint32_t klen)
{
	return (uint32_t)ptree_partition_of(SIM_PARTS, k, klen);
}

static const struct sim_kv *sim__get(const struct sim_app *a, const uint8_t *k, uint32_t klen)
{
	const struct sim_part *p = a->part[sim__part_of(k, klen)];
	int found;
	uint32_t i = sim__part_find(p, k, klen, &found);

	return found ? &p->e[i] : NULL;
}

/* Put into partition pi (the caller checked the key belongs there). */
static int sim__put_in(struct sim_app *a, uint32_t pi, const uint8_t *k, uint32_t klen,
		       const uint8_t *v, uint32_t vlen)
{
	struct sim_part *p = sim__part_own(a, pi);
	struct sim_kv e;
	int found;
	uint32_t i;

	if (p == NULL)
		return -1;
	i = sim__part_find(p, k, klen, &found);
	if (sim__kv_set(&e, k, klen, v, vlen) != 0)
		return -1;
	if (found) {
		free(p->e[i].k);
		p->e[i] = e;
	} else {
		if (p->n == p->cap) {
			uint32_t cap = p->cap ? p->cap * 2 : 4;
			struct sim_kv *ne = realloc(p->e, cap * sizeof(*ne));
			if (ne == NULL) {
				free(e.k);
				return -1;
			}
			p->e = ne;
			p->cap = cap;
		}
		memmove(&p->e[i + 1], &p->e[i], (p->n - i) * sizeof(*p->e));
		p->e[i] = e;
		p->n++;
	}
	return ptree_mark(&a->tree, pi) == 0 ? 0 : -1;
}

static int sim__put(struct sim_app *a, const uint8_t *k, uint32_t klen, const uint8_t *v, uint32_t vlen)
{
	return sim__put_in(a, sim__part_of(k, klen), k, klen, v, vlen);
}

static int sim__del(struct sim_app *a, const uint8_t *k, uint32_t klen)
{
	uint32_t pi = sim__part_of(k, klen);
	struct sim_part *p;
	int found;
	uint32_t i;

	sim__part_find(a->part[pi], k, klen, &found);
	if (!found)
		return 0;
	p = sim__part_own(a, pi);
	if (p == NULL)
		return -1;
	i = sim__part_find(p, k, klen, &found);
	free(p->e[i].k);
	memmove(&p->e[i], &p->e[i + 1], (p->n - i - 1) * sizeof(*p->e));
	p->n--;
	return ptree_mark(&a->tree, pi) == 0 ? 0 : -1;
}

static int sim__part_digest(struct sim_part *const *parts, uint64_t pi, uint8_t out[PTREE_DIGEST_LEN])
{
	const struct sim_part *p = parts[pi];
	struct ptree_part_hash h;

	if (ptree_part_begin(&h, pi) != 0)
		return -1;
	for (uint32_t i = 0; p != NULL && i < p->n; i++)
		ptree_part_add(&h, p->e[i].k, p->e[i].klen, p->e[i].v, p->e[i].vlen);
	return ptree_part_end(&h, out);
}

static int sim__live_digest(void *ctx, uint64_t pi, uint8_t out[PTREE_DIGEST_LEN])
{
	struct sim_app *a = ctx;

	return sim__part_digest(a->part, pi, out);
}

int sim_app_root(struct sim_app *a, uint8_t out[WIRE_DIGEST_LEN])
{
	if (ptree_update(&a->tree, sim__live_digest, a) != 0)
		return -1;
	memcpy(out, ptree_root(&a->tree), WIRE_DIGEST_LEN);
	return 0;
}

/* ---------------------------------------------------------------- ops */
const char *const sim_key_names[SIM_MAX_KEYS] = {
	"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta",
	"iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi"};

int sim_key_index(const uint8_t *key, size_t len)
{
	for (uint32_t i = 0; i < SIM_MAX_KEYS; i++)
		if (strlen(sim_key_names[i]) == len && memcmp(sim_key_names[i], key, len) == 0)
			return (int)i;
	return -1;
}

size_t sim_op_put(uint8_t *buf, const char *key, const uint8_t *val, size_t vlen)
{
	size_t klen = strlen(key);

	buf[0] = 'P';
	buf[1] = (uint8_t)klen;
	memcpy(buf + 2, key, klen);
	memcpy(buf + 2 + klen, val, vlen);
	return 2 + klen + vlen;
}

size_t sim_op_key(uint8_t *buf, uint8_t code, const char *key)
{
	size_t klen = strlen(key);

	buf[0] = code;
	buf[1] = (uint8_t)klen;
	memcpy(buf + 2, key, klen);
	return 2 + klen;
}

/* Parse op: code, key; for 'P' the value. 0, or -1 if malformed. */
static int sim__parse(struct wire_bytes op, uint8_t *code, struct wire_bytes *key, struct wire_bytes *val)
{
	if (op.len < 2 || (uint32_t)op.p[1] + 2 > op.len || op.p[1] == 0)
		return -1;
	*code = op.p[0];
	key->p = op.p + 2;
	key->len = op.p[1];
	val->p = op.p + 2 + key->len;
	val->len = op.len - 2 - key->len;
	/* User keys never start with 0x01 (the app's own keys). */
	if (key->p[0] == 0x01)
		return -1;
	switch (*code) {
	case 'P':
		return 0;
	case 'D': case 'I': case 'G':
		return val->len == 0 ? 0 : -1;
	default:
		return -1;
	}
}

/* GET result into out (at most SIM_MAX_RESULT bytes). */
static size_t sim__get_result(const struct sim_app *a, struct wire_bytes key, uint8_t *out)
{
	const struct sim_kv *e = sim__get(a, key.p, key.len);
	size_t n;

	if (e == NULL) {
		out[0] = 0;
		return 1;
	}
	out[0] = 1;
	n = e->vlen < SIM_MAX_RESULT - 1 ? e->vlen : SIM_MAX_RESULT - 1;
	memcpy(out + 1, e->v, n);
	return 1 + n;
}

/* Execute one ordered request; result into out. -1 on an internal failure. */
static int sim__exec_one(struct sim_app *a, const struct wire_request *req, uint8_t *out, size_t *olen,
			 int *fresh)
{
	uint8_t ckey[SIM__CLIENT_KEY_LEN];
	const struct sim_kv *ce;
	uint64_t last = 0, v = 0;
	struct wire_bytes key, val;
	uint8_t code;

	*fresh = 0;
	sim__client_id(ckey, req->client, req->lane);
	ce = sim__get(a, ckey, sizeof(ckey));
	if (ce != NULL && ce->vlen >= 8)
		for (int i = 7; i >= 0; i--)
			last = last << 8 | ce->v[i];
	if (req->timestamp <= last) {
		memcpy(out, "EDUP", 4);
		*olen = 4;
		return 0;
	}
	*fresh = 1;
	if ((req->flags & WIRE_REQ_READ_ONLY) || sim__parse(req->op, &code, &key, &val) != 0) {
		memcpy(out, "EBADOP", 6);
		*olen = 6;
		return 0;
	}
	switch (code) {
	case 'P':
		if (sim__put(a, key.p, key.len, val.p, val.len) != 0)
			return -1;
		memcpy(out, "OK", 2);
		*olen = 2;
		return 0;
	case 'D':
		if (sim__del(a, key.p, key.len) != 0)
			return -1;
		memcpy(out, "OK", 2);
		*olen = 2;
		return 0;
	case 'I': {
		const struct sim_kv *e = sim__get(a, key.p, key.len);
		uint8_t nv[8];
		if (e != NULL && e->vlen == 8)
			for (int i = 7; i >= 0; i--)
				v = v << 8 | e->v[i];
		v++;
		for (int i = 0; i < 8; i++)
			nv[i] = (uint8_t)(v >> (8 * i));
		if (sim__put(a, key.p, key.len, nv, 8) != 0)
			return -1;
		memcpy(out, nv, 8);
		*olen = 8;
		return 0;
	}
	default: /* 'G' */
		*olen = sim__get_result(a, key, out);
		return 0;
	}
}

/* The client table entry 0x01 'c' | client | lane -> timestamp (u64 LE) | result, written
 * with the request's effects: part of the digested, transferred state. */
static int sim__client_put(struct sim_app *a, const struct wire_request *req, const uint8_t *out,
			   size_t olen)
{
	uint8_t ckey[SIM__CLIENT_KEY_LEN], v[8 + SIM_MAX_RESULT];

	sim__client_id(ckey, req->client, req->lane);
	for (int i = 0; i < 8; i++)
		v[i] = (uint8_t)(req->timestamp >> (8 * i));
	memcpy(v + 8, out, olen);
	return sim__put(a, ckey, sizeof(ckey), v, (uint32_t)(8 + olen));
}

/* pbft_app_ops.client_last: the entry sim__client_put wrote, from the live state. */
static int sim__client_last(void *ctx, const uint8_t client[WIRE_KEY_LEN], uint32_t lane,
			    uint64_t *timestamp, struct wire_buf *reply)
{
	struct sim_app *a = ctx;
	uint8_t ckey[SIM__CLIENT_KEY_LEN];
	const struct sim_kv *ce;
	uint64_t ts = 0;

	*timestamp = 0;
	sim__client_id(ckey, client, lane);
	ce = sim__get(a, ckey, sizeof(ckey));
	if (ce == NULL)
		return 0;
	if (ce->vlen < 8)
		return -1;
	for (int i = 7; i >= 0; i--)
		ts = ts << 8 | ce->v[i];
	if (reply != NULL) {
		wire_put_fixed(reply, ce->v + 8, ce->vlen - 8);
		if (wire_buf_error(reply))
			return -1;
	}
	*timestamp = ts;
	return 0;
}

static int sim__execute(void *ctx, uint64_t seq, const struct wire_batch *batch,
			struct pbft_results *results)
{
	struct sim_app *a = ctx;
	struct sim *s = a->sim;
	struct sim_replica *r = &s->rep[a->id];
	struct wire_iter it;
	struct wire_request req;
	uint8_t out[SIM_MAX_RESULT], t[8];
	uint8_t digest[WIRE_DIGEST_LEN];
	size_t olen;
	int fresh;

	if (seq != a->last_executed + 1) {
		if (!r->faulty)
			sim_fail(s, "replica %u: execute(seq %llu) but last executed is %llu", a->id,
				 (unsigned long long)seq, (unsigned long long)a->last_executed);
		return -1;
	}
	/* bulwarkd's store refuses to execute on a half-copied state (STORE_ERR_TRANSFER),
	 * which stops the replica. */
	if (a->transfer_pending) {
		if (!r->faulty)
			sim_fail(s, "replica %u: execute(seq %llu) during a state transfer", a->id,
				 (unsigned long long)seq);
		return -1;
	}
	if (!r->faulty) {
		wire_batch_digest(SIM_GROUP, SIM_EPOCH, batch, digest);
		sim_check_exec(s, a->id, seq, digest);
	}
	wire_iter_batch(&it, batch);
	while (wire_next_request(&it, &req)) {
		if (sim__exec_one(a, &req, out, &olen, &fresh) != 0)
			return -1;
		/* The core drops requests the client table shows executed (pbft.h). */
		if (!fresh && !r->faulty)
			sim_fail(s, "replica %u: execute(seq %llu) was given client %d's ts %llu, which "
				 "the client table shows executed", a->id, (unsigned long long)seq,
				 sim_client_index(s, req.client, req.lane), (unsigned long long)req.timestamp);
		if (fresh && sim__client_put(a, &req, out, olen) != 0)
			return -1;
		if (pbft_results_add(results, out, (uint32_t)olen) != 0)
			return -1;
		if (!r->faulty && fresh)
			sim_check_request(s, a->id, seq, sim_client_index(s, req.client, req.lane), req.timestamp,
					  req.op, out, olen);
	}
	if (batch->time != 0) {
		for (int i = 0; i < 8; i++)
			t[i] = (uint8_t)(batch->time >> (8 * i));
		if (sim__put(a, SIM__KEY_TIME, sizeof(SIM__KEY_TIME), t, 8) != 0)
			return -1;
	}
	a->last_executed = seq;
	s->executed_batches += !r->faulty;
	/* One atomic write, not synced (bulwarkd's kv sync = 0); or, deferring, none yet. */
	if (!a->defer)
		sim__app_wrote(a);
	return 0;
}

static int sim__execute_ro(void *ctx, const struct wire_request *req, struct wire_buf *result,
			   struct pbft_ro_digest *dg)
{
	struct sim_app *a = ctx;
	struct wire_bytes key, val;
	uint8_t code, out[SIM_MAX_RESULT];
	size_t olen, start = result->len;

	if (sim__parse(req->op, &code, &key, &val) != 0 || code != 'G') {
		wire_put_fixed(result, "ERDONLY", 7);
	} else {
		/* The ordered GET's result, padding, its length: SIM_RO_RESULT bytes at least,
		 * long enough for digest replies (tests/sim/check.c takes it apart). */
		olen = sim__get_result(a, key, out);
		wire_put_fixed(result, out, olen);
		for (size_t i = olen + 1; i < SIM_RO_RESULT; i++)
			wire_put_u8(result, (uint8_t)(0xa0 + i));
		wire_put_u8(result, (uint8_t)olen);
		/* Half the keys' digests come from the app (as bulwarkd's KV gives kept
		 * ones), the others' from the core. */
		if (dg != NULL && key.len > 0 && (key.p[0] & 1) && !wire_buf_error(result)) {
			wire_result_digest(result->p + start, result->len - start, dg->digest);
			dg->known = 1;
		}
	}
	return wire_buf_error(result) ? -1 : 0;
}

/* ---------------------------------------------------------------- snapshots */
static struct sim_snap *sim__snap_find(struct sim_app *a, uint64_t seq)
{
	for (uint32_t i = 0; i < a->nsnap; i++)
		if (a->snap[i].seq == seq)
			return &a->snap[i];
	return NULL;
}

static void sim__snap_free(struct sim_snap *sn)
{
	for (uint32_t i = 0; i < SIM_PARTS; i++)
		sim__part_unref(sn->part[i]);
	ptree_free(&sn->tree);
}

static int sim__checkpoint(void *ctx, uint64_t seq, uint8_t digest[WIRE_DIGEST_LEN])
{
	struct sim_app *a = ctx;
	struct sim *s = a->sim;
	struct sim_snap *sn;

	if (seq != a->last_executed || a->transfer_pending) {
		if (!s->rep[a->id].faulty)
			sim_fail(s, "replica %u: checkpoint(%llu) but last executed is %llu%s", a->id,
				 (unsigned long long)seq, (unsigned long long)a->last_executed,
				 a->transfer_pending ? " and a state transfer is under way" : "");
		return -1;
	}
	/* Deferring, the batches since the last checkpoint are written now (one write). */
	if (a->defer && a->written.last_executed != a->last_executed)
		sim__app_wrote(a);
	/* The state must be durable before the records below the checkpoint can go: with
	 * durable_async a background sync does it and the core waits for its report;
	 * else bulwarkd syncs the state here (split disk) or, with one write order, the
	 * write of the stable record that follows keeps it behind the state. */
	if (a->async)
		sim_replica_sync_later(s, a->id);
	else if (sim_replica_split_disk(s, a->id))
		sim_replica_sync(s, a->id);
	if (sim_app_root(a, digest) != 0)
		return -1;
	sn = sim__snap_find(a, seq);
	if (sn == NULL) {
		if (a->nsnap == a->capsnap) {
			uint32_t cap = a->capsnap ? a->capsnap * 2 : 4;
			struct sim_snap *ns = realloc(a->snap, cap * sizeof(*ns));
			if (ns == NULL)
				return -1;
			a->snap = ns;
			a->capsnap = cap;
		}
		sn = &a->snap[a->nsnap];
		if (ptree_copy(&sn->tree, &a->tree) != 0)
			return -1;
		sn->seq = seq;
		for (uint32_t i = 0; i < SIM_PARTS; i++) {
			sn->part[i] = a->part[i];
			if (sn->part[i] != NULL)
				sn->part[i]->refs++;
		}
		a->nsnap++;
	}
	if (!s->rep[a->id].faulty)
		sim_check_ckpt(s, a->id, seq, digest);
	return 0;
}

static void sim__release(void *ctx, uint64_t below_seq)
{
	struct sim_app *a = ctx;
	uint32_t j = 0;

	for (uint32_t i = 0; i < a->nsnap; i++) {
		if (a->snap[i].seq < below_seq)
			sim__snap_free(&a->snap[i]);
		else
			a->snap[j++] = a->snap[i];
	}
	a->nsnap = j;
}

static int sim__tree_node(void *ctx, uint64_t ckpt, uint32_t level, uint64_t index,
			  struct wire_buf *children, uint32_t *count)
{
	struct sim_app *a = ctx;
	struct sim_snap *sn = sim__snap_find(a, ckpt);
	const uint8_t *first;
	uint32_t n;

	if (sn == NULL || ptree_children(&sn->tree, level, index, &first, &n) != 0)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		wire_put_child(children, first + (size_t)i * WIRE_DIGEST_LEN);
	*count = n;
	return wire_buf_error(children) ? -1 : 0;
}

static int sim__read_partition(void *ctx, uint64_t ckpt, uint64_t partition,
			       struct wire_bytes start_key, uint32_t max_bytes,
			       struct wire_buf *entries, uint32_t *count, int *more)
{
	struct sim_app *a = ctx;
	struct sim_snap *sn = sim__snap_find(a, ckpt);
	const struct sim_part *p;
	uint32_t i, bytes = 0;
	int found;

	*count = 0;
	*more = 0;
	if (sn == NULL || partition >= SIM_PARTS)
		return -1;
	p = sn->part[partition];
	if (p == NULL)
		return 0;
	i = sim__part_find(p, start_key.p, start_key.len, &found);
	for (; i < p->n; i++) {
		struct wire_data_item it;
		uint32_t sz = 8 + p->e[i].klen + p->e[i].vlen;
		if (*count > 0 && bytes + sz > max_bytes) {
			*more = 1;
			break;
		}
		it.key.p = p->e[i].k;
		it.key.len = p->e[i].klen;
		it.value.p = p->e[i].v;
		it.value.len = p->e[i].vlen;
		wire_put_data(entries, &it);
		bytes += sz;
		(*count)++;
	}
	return wire_buf_error(entries) ? -1 : 0;
}

static int sim__local_node(void *ctx, uint32_t level, uint64_t index, uint8_t digest[WIRE_DIGEST_LEN])
{
	struct sim_app *a = ctx;
	const uint8_t *d;

	if (ptree_update(&a->tree, sim__live_digest, a) != 0)
		return -1;
	d = ptree_node(&a->tree, level, index);
	if (d == NULL)
		return -1;
	memcpy(digest, d, WIRE_DIGEST_LEN);
	return 0;
}

static int sim__write_partition(void *ctx, uint64_t partition, int first, const struct wire_data *page)
{
	struct sim_app *a = ctx;
	struct wire_iter it;
	struct wire_data_item e;
	struct sim_part *p;

	if (partition >= SIM_PARTS)
		return -1;
	/* Validate the whole page before changing anything: every key in this partition. */
	wire_iter_init(&it, &page->entries);
	while (wire_next_data(&it, &e))
		if (sim__part_of(e.key.p, e.key.len) != partition)
			return -1;
	if (first) {
		p = sim__part_own(a, (uint32_t)partition);
		if (p == NULL)
			return -1;
		for (uint32_t i = 0; i < p->n; i++)
			free(p->e[i].k);
		p->n = 0;
		if (ptree_mark(&a->tree, partition) != 0)
			return -1;
	}
	wire_iter_init(&it, &page->entries);
	while (wire_next_data(&it, &e))
		if (sim__put_in(a, (uint32_t)partition, e.key.p, e.key.len, e.value.p, e.value.len) != 0)
			return -1;
	/* The page and the transfer mark are one write, not synced: a page that survives a
	 * crash comes with the mark, and the restarted core fetches again. */
	a->transfer_pending = 1;
	sim__app_wrote(a);
	return 0;
}

static int sim__finish_transfer(void *ctx, uint64_t ckpt, const uint8_t digest[WIRE_DIGEST_LEN])
{
	struct sim_app *a = ctx;
	struct sim *s = a->sim;
	uint8_t root[WIRE_DIGEST_LEN];

	if (sim_app_root(a, root) != 0 || memcmp(root, digest, WIRE_DIGEST_LEN) != 0)
		return -1;
	sim_log(s, "replica %u: state transfer to checkpoint %llu complete (was at %llu)", a->id,
		(unsigned long long)ckpt, (unsigned long long)a->last_executed);
	a->last_executed = ckpt;
	a->transfer_pending = 0;
	a->transfers++;
	/* bulwarkd writes last executed and clears the mark in one synced write, which
	 * makes every earlier write of the replica durable too. */
	sim__image_set(&a->written, a);
	sim_replica_sync(s, a->id);
	return 0;
}

/* ---------------------------------------------------------------- crashes */
/* im := partitions part (shared: the next write to one copies it), last executed and the
 * transfer mark. */
static void sim__image_assign(struct sim_app_image *im, struct sim_part *const part[SIM_PARTS],
			      uint64_t last_executed, int transfer_pending)
{
	for (uint32_t i = 0; i < SIM_PARTS; i++) {
		struct sim_part *p = part[i];
		if (p != NULL)
			p->refs++;
		sim__part_unref(im->part[i]);
		im->part[i] = p;
	}
	im->last_executed = last_executed;
	im->transfer_pending = transfer_pending;
}

/* im := the live state. */
static void sim__image_set(struct sim_app_image *im, const struct sim_app *a)
{
	sim__image_assign(im, a->part, a->last_executed, a->transfer_pending);
}

/* dst := src. */
static void sim__image_copy(struct sim_app_image *dst, const struct sim_app_image *src)
{
	sim__image_assign(dst, src->part, src->last_executed, src->transfer_pending);
}

/* The app wrote its live state to the store (one write in the replica's write order). */
static void sim__app_wrote(struct sim_app *a)
{
	sim__image_set(&a->written, a);
	sim_replica_app_wrote(a->sim, a->id);
}

static void sim__image_free(struct sim_app_image *im)
{
	for (uint32_t i = 0; i < SIM_PARTS; i++)
		sim__part_unref(im->part[i]);
	memset(im, 0, sizeof(*im));
}

void sim_app_synced(struct sim_app *a)
{
	a->syncs++;
	sim__image_copy(&a->durable, &a->written);
	if (a->have_cut) {
		sim__image_free(&a->cut);
		a->have_cut = 0;
	}
}

void sim_app_take_cut(struct sim_app *a)
{
	sim__image_copy(&a->cut, &a->written);
	a->have_cut = 1;
}

void sim_app_sync_begin(struct sim_app *a)
{
	sim__image_copy(&a->syncing, &a->written);
	a->syncing_from = a->syncs;
}

int sim_app_sync_end(struct sim_app *a, uint64_t *seq)
{
	if (a->syncs == a->syncing_from) {
		/* Writes after its start may or may not have reached the disk: the cut,
		 * if any, may be older than what is now durable, so it is dropped. */
		a->syncs++;
		sim__image_copy(&a->durable, &a->syncing);
		if (a->have_cut) {
			sim__image_free(&a->cut);
			a->have_cut = 0;
		}
	}
	*seq = a->syncing.last_executed;
	return !a->syncing.transfer_pending;
}

/* pbft_app_ops.sync: every executed change written (deferred ones too) and synced. */
static int sim__sync(void *ctx)
{
	struct sim_app *a = ctx;

	if (a->defer && a->written.last_executed != a->last_executed)
		sim__app_wrote(a);
	sim_replica_sync(a->sim, a->id);
	return 0;
}

int sim_app_crash(struct sim_app *a, enum sim_app_keep keep)
{
	const struct sim_app_image *im = NULL;
	int rc = 0;

	if (keep == SIM_APP_KEEP_CUT && a->have_cut)
		im = &a->cut;
	else if (keep != SIM_APP_KEEP_ALL)
		im = &a->durable;
	else
		im = &a->written; /* deferred executions die with the process */

	/* LevelDB snapshots live in the process. */
	for (uint32_t i = 0; i < a->nsnap; i++)
		sim__snap_free(&a->snap[i]);
	a->nsnap = 0;
	if (im != NULL) {
		/* Partitions the image shares with the live state are equal (copy on
		 * write); the others come back and their digests are recomputed. */
		for (uint32_t i = 0; i < SIM_PARTS; i++) {
			if (a->part[i] == im->part[i])
				continue;
			if (im->part[i] != NULL)
				im->part[i]->refs++;
			sim__part_unref(a->part[i]);
			a->part[i] = im->part[i];
			if (ptree_mark(&a->tree, i) != 0)
				rc = -1;
		}
		a->last_executed = im->last_executed;
		a->transfer_pending = im->transfer_pending;
	}
	/* What the crash kept is on the disk now. */
	sim__image_set(&a->written, a);
	sim_app_synced(a);
	return rc;
}

/* ---------------------------------------------------------------- setup */
int sim_app_init(struct sim_app *a, struct sim *s, uint32_t id)
{
	memset(a, 0, sizeof(*a));
	a->sim = s;
	a->id = id;
	return ptree_init(&a->tree, SIM_FANOUT, SIM_LEVELS) == 0 ? 0 : -1;
}

void sim_app_free(struct sim_app *a)
{
	for (uint32_t i = 0; i < a->nsnap; i++)
		sim__snap_free(&a->snap[i]);
	free(a->snap);
	sim__image_free(&a->written);
	sim__image_free(&a->durable);
	sim__image_free(&a->cut);
	sim__image_free(&a->syncing);
	for (uint32_t i = 0; i < SIM_PARTS; i++)
		sim__part_unref(a->part[i]);
	ptree_free(&a->tree);
	memset(a, 0, sizeof(*a));
}

void sim_app_ops(struct sim_app *a, struct pbft_app_ops *ops)
{
	ops->ctx = a;
	ops->fanout = SIM_FANOUT;
	ops->levels = SIM_LEVELS;
	ops->execute = sim__execute;
	ops->execute_ro = sim__execute_ro;
	ops->checkpoint = sim__checkpoint;
	ops->sync = sim__sync;
	ops->release = sim__release;
	ops->tree_node = sim__tree_node;
	ops->read_partition = sim__read_partition;
	ops->local_node = sim__local_node;
	ops->write_partition = sim__write_partition;
	ops->finish_transfer = sim__finish_transfer;
	ops->client_last = sim__client_last;
}
