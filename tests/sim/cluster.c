/* cluster.c: the simulated world: replicas running the real core over a simulated
 * network, clock and disk (one write order for records and app, synced or not), in loop
 * turns like bulwarkd's, clients running the real client machine, crash and revive,
 * and the event loop that checks the invariants after every event. */
#include "tests/sim/sim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- keys */
int sim_keys_init(struct sim_keys *k)
{
	uint8_t seed[CRYPTO_HASH_LEN], mkey[CRYPTO_HASH_LEN], in[WIRE_KEY_LEN + 4];
	char label[48];

	memset(k, 0, sizeof(*k));
	for (uint32_t i = 0; i < SIM_MAX_N; i++) {
		snprintf(label, sizeof(label), "bulwark-sim replica %u", i);
		crypto_sha256(label, strlen(label), seed);
		if (crypto_ed25519_from_seed(&k->replica[i], seed) != 0)
			return -1;
	}
	for (uint32_t c = 0; c < SIM_MAX_CLIENTS; c++) {
		snprintf(label, sizeof(label), "bulwark-sim client %u", c);
		crypto_sha256(label, strlen(label), seed);
		if (crypto_ed25519_from_seed(&k->client[c], seed) != 0)
			return -1;
		/* MAC key of (client, replica): HMAC("bulwark-sim/mac", client key || replica). */
		for (uint32_t i = 0; i < SIM_MAX_N; i++) {
			memcpy(in, k->client[c].pub, WIRE_KEY_LEN);
			in[WIRE_KEY_LEN] = (uint8_t)i;
			in[WIRE_KEY_LEN + 1] = in[WIRE_KEY_LEN + 2] = in[WIRE_KEY_LEN + 3] = 0;
			if (crypto_hmac_sha256((const uint8_t *)"bulwark-sim/mac", 15, in, sizeof(in), mkey) != 0 ||
			    crypto_hmac_init(&k->mac[c][i], mkey, sizeof(mkey)) != 0)
				return -1;
		}
	}
	return 0;
}

void sim_keys_free(struct sim_keys *k)
{
	for (uint32_t i = 0; i < SIM_MAX_N; i++)
		crypto_ed25519_free(&k->replica[i]);
	for (uint32_t c = 0; c < SIM_MAX_CLIENTS; c++) {
		crypto_ed25519_free(&k->client[c]);
		for (uint32_t i = 0; i < SIM_MAX_N; i++)
			crypto_hmac_free(&k->mac[c][i]);
	}
}

/* ---------------------------------------------------------------- logging, failure */
void sim_log(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->verbose)
		return;
	printf("[%8" PRIu64 "] ", s->now);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

void sim_fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = 1;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	sim_log(s, "INVARIANT VIOLATED: %s", s->why);
}

static void sim__trace(void *ctx, uint32_t replica, const char *line)
{
	struct sim *s = ctx;

	printf("[%8" PRIu64 "] r%u: %s\n", s->now, replica, line);
}

uint64_t sim_wall(const struct sim *s, uint32_t replica)
{
	return (uint64_t)((int64_t)(SIM_WALL_BASE + s->now) + s->rep[replica].skew_ms);
}

static uint32_t sim__key_slot(const uint8_t key[WIRE_KEY_LEN])
{
	return ((uint32_t)key[0] | (uint32_t)key[1] << 8) % (2 * SIM_MAX_CLIENTS);
}

int sim_client_index(const struct sim *s, const uint8_t key[WIRE_KEY_LEN], uint32_t lane)
{
	if (lane >= SIM_LANES)
		return -1;
	for (uint32_t i = sim__key_slot(key), probes = 0; probes < 2 * SIM_MAX_CLIENTS;
	     i = (i + 1) % (2 * SIM_MAX_CLIENTS), probes++) {
		int k = s->client_slot[i] - 1;
		if (k < 0)
			return -1;
		if (memcmp(s->keys->client[k].pub, key, WIRE_KEY_LEN) == 0) {
			uint32_t c = (uint32_t)k * SIM_LANES + lane;
			return c < s->p.clients ? (int)c : -1;
		}
	}
	return -1;
}

const struct crypto_ed25519_key *sim_client_key(const struct sim *s, uint32_t c)
{
	return &s->keys->client[c / SIM_LANES];
}

/* Key slots of the keys in use (each serves SIM_LANES clients). */
static void sim__client_map(struct sim *s)
{
	memset(s->client_slot, 0, sizeof(s->client_slot));
	for (uint32_t c = 0; c < (s->p.clients + SIM_LANES - 1) / SIM_LANES; c++) {
		uint32_t i = sim__key_slot(s->keys->client[c].pub);
		while (s->client_slot[i] != 0)
			i = (i + 1) % (2 * SIM_MAX_CLIENTS);
		s->client_slot[i] = (int16_t)(c + 1);
	}
}

/* ---------------------------------------------------------------- crypto ops */
static int sim__sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[WIRE_SIG_LEN])
{
	struct sim_replica *r = ctx;

	r->sim->signs++;
	return crypto_ed25519_sign(&r->sim->keys->replica[r->id], msg, len, sig);
}

/* Real Ed25519 verification, once per distinct (key, message, signature) in a run. */
static int sim__verify_key(struct sim *s, const struct crypto_ed25519_key *k, const uint8_t *msg,
			   size_t len, const uint8_t sig[WIRE_SIG_LEN])
{
	struct crypto_sha256_ctx h;
	uint8_t key[CRYPTO_HASH_LEN];
	struct sim_vcache *slot;
	int rc;

	s->verifies++;
	if (s->vcache == NULL || crypto_sha256_init(&h) != 0)
		return crypto_ed25519_verify(k, msg, len, sig);
	if (crypto_sha256_update(&h, k->pub, CRYPTO_ED25519_PUB) != 0 ||
	    crypto_sha256_update(&h, sig, WIRE_SIG_LEN) != 0 ||
	    crypto_sha256_update(&h, msg, len) != 0 || crypto_sha256_final(&h, key) != 0) {
		crypto_sha256_free(&h);
		return crypto_ed25519_verify(k, msg, len, sig);
	}
	slot = &s->vcache[((uint32_t)key[0] | (uint32_t)key[1] << 8) % SIM_VCACHE_SLOTS];
	if (slot->used && memcmp(slot->key, key, sizeof(key)) == 0) {
		s->verify_hits++;
		return slot->ok ? 0 : CRYPTO_ERR_BADSIG;
	}
	rc = crypto_ed25519_verify(k, msg, len, sig);
	memcpy(slot->key, key, sizeof(key));
	slot->used = 1;
	slot->ok = rc == 0;
	return rc;
}

static int sim__verify(void *ctx, uint32_t replica, const uint8_t *msg, size_t len,
		       const uint8_t sig[WIRE_SIG_LEN])
{
	struct sim_replica *r = ctx;

	if (replica >= r->sim->p.n)
		return -1;
	return sim__verify_key(r->sim, &r->sim->keys->replica[replica], msg, len, sig);
}

static int sim__check_request(void *ctx, const struct wire_request *req,
			      const uint8_t digest[WIRE_DIGEST_LEN])
{
	struct sim_replica *r = ctx;
	struct sim *s = r->sim;
	int c = sim_client_index(s, req->client, req->lane);

	if (c < 0)
		return -1;
	if (s->p.robust) {
		if (req->auth.len != WIRE_SIG_LEN)
			return -1;
		return sim__verify_key(s, sim_client_key(s, (uint32_t)c), digest, WIRE_DIGEST_LEN,
				       req->auth.p);
	}
	if (req->auth.len != s->p.n * WIRE_TAG_LEN)
		return -1;
	/* MAC keys belong to the client key (its session with each replica), not the lane. */
	return crypto_hmac_verify((struct crypto_hmac *)&s->keys->mac[c / SIM_LANES][r->id], digest,
				  WIRE_DIGEST_LEN, NULL, 0, req->auth.p + r->id * WIRE_TAG_LEN,
				  WIRE_TAG_LEN);
}

static int sim__authenticate(void *ctx, const uint8_t digest[WIRE_DIGEST_LEN], struct wire_buf *auth)
{
	struct sim_client *c = ctx;
	struct sim *s = c->sim;
	uint8_t tag[WIRE_SIG_LEN];

	if (s->p.robust) {
		if (crypto_ed25519_sign(sim_client_key(s, c->idx), digest, WIRE_DIGEST_LEN, tag) != 0)
			return -1;
		wire_put_fixed(auth, tag, WIRE_SIG_LEN);
	} else {
		for (uint32_t i = 0; i < s->p.n; i++) {
			if (crypto_hmac_tag((struct crypto_hmac *)&s->keys->mac[c->idx / SIM_LANES][i], digest,
					    WIRE_DIGEST_LEN, NULL, 0, tag, WIRE_TAG_LEN) != 0)
				return -1;
			wire_put_fixed(auth, tag, WIRE_TAG_LEN);
		}
	}
	return wire_buf_error(auth) ? -1 : 0;
}

/* ---------------------------------------------------------------- the disk */
static int sim__journal_keep(struct sim_store *st, uint32_t upto);

static void sim__store_free(struct sim_store *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->r[i].val);
	free(st->r);
	sim__journal_keep(st, 0);
	free(st->j);
	memset(st, 0, sizeof(*st));
}

/* Index of (kind, key) or where it goes. */
static size_t sim__store_find(const struct sim_store *st, uint8_t kind, uint64_t key, int *found)
{
	size_t lo = 0, hi = st->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct sim_store_rec *m = &st->r[mid];
		if (m->kind == kind && m->key == key) {
			*found = 1;
			return mid;
		}
		if (m->kind < kind || (m->kind == kind && m->key < key))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Apply one write to the durable records; val (owned, may be NULL for a delete) passes on. */
static int sim__store_write(struct sim_store *st, const struct sim_store_op *op)
{
	int found;
	size_t at;

	if (op->del_below) {
		size_t from = sim__store_find(st, op->kind, 0, &found);
		size_t to = sim__store_find(st, op->kind, op->key, &found);
		for (size_t j = from; j < to; j++)
			free(st->r[j].val);
		memmove(&st->r[from], &st->r[to], (st->n - to) * sizeof(*st->r));
		st->n -= to - from;
		free(op->val);
		return 0;
	}
	at = sim__store_find(st, op->kind, op->key, &found);
	if (found) {
		free(st->r[at].val);
	} else {
		if (st->n == st->cap) {
			size_t cap = st->cap ? st->cap * 2 : 32;
			struct sim_store_rec *nr = realloc(st->r, cap * sizeof(*nr));
			if (nr == NULL) {
				free(op->val);
				return -1;
			}
			st->r = nr;
			st->cap = cap;
		}
		memmove(&st->r[at + 1], &st->r[at], (st->n - at) * sizeof(*st->r));
		st->n++;
		st->r[at].kind = op->kind;
		st->r[at].key = op->key;
	}
	st->r[at].val = op->val;
	st->r[at].len = op->len;
	return 0;
}

/* The journal's writes 1..upto reach the disk, the others are lost (a sync write or a
 * process crash: all of them; a machine crash: the prefix the disk model drew). */
static int sim__journal_keep(struct sim_store *st, uint32_t upto)
{
	int rc = 0;

	for (size_t i = 0; i < st->nj; i++) {
		if (st->j[i].write > upto)
			free(st->j[i].val);
		else if (sim__store_write(st, &st->j[i]) != 0)
			rc = -1;
	}
	st->nj = 0;
	return rc;
}

/* Until the next sync, a machine crash keeps the first cut unsynced writes: none (the
 * page cache lost, as the core must expect) in 2 of 5 cases, else 1, 2 or 3 of them. */
static uint32_t sim__disk_draw(struct sim_store *st)
{
	uint64_t x = sim_rng_below(&st->rng, 5);

	return x < 2 ? 0 : (uint32_t)(x - 1);
}

static void sim__disk_draw_cut(struct sim_store *st)
{
	st->cut = sim__disk_draw(st);
	st->writes = 0;
}

static void sim__disk_draw_app_cut(struct sim_store *st)
{
	st->app_cut = sim__disk_draw(st);
	st->app_writes = 0;
}

/* One more unsynced write, after the records and app writes before it. */
static void sim__disk_wrote(struct sim_replica *r)
{
	r->store.writes++;
	if (r->store.writes == r->store.cut)
		sim_app_take_cut(&r->app);
}

/* A synced write: it and every write before it, records and app, are durable. */
static int sim__disk_sync(struct sim_replica *r)
{
	int rc = sim__journal_keep(&r->store, UINT32_MAX);

	sim_app_synced(&r->app);
	sim__disk_draw_cut(&r->store);
	return rc;
}

/* Split disk: a synced records write makes the records log durable, nothing else. */
static int sim__disk_records_sync(struct sim_replica *r)
{
	int rc = sim__journal_keep(&r->store, UINT32_MAX);

	sim__disk_draw_cut(&r->store);
	return rc;
}

void sim_replica_app_wrote(struct sim *s, uint32_t replica)
{
	struct sim_replica *r = &s->rep[replica];

	if (!r->store.split) {
		sim__disk_wrote(r);
		return;
	}
	r->store.app_writes++;
	if (r->store.app_writes == r->store.app_cut)
		sim_app_take_cut(&r->app);
}

void sim_replica_sync(struct sim *s, uint32_t replica)
{
	struct sim_replica *r = &s->rep[replica];

	if (r->store.split) {
		/* The app's file (LevelDB) only. */
		sim_app_synced(&r->app);
		sim__disk_draw_app_cut(&r->store);
		return;
	}
	if (sim__disk_sync(r) != 0)
		sim_fail(s, "out of memory in the store");
}

int sim_replica_split_disk(const struct sim *s, uint32_t replica)
{
	return s->rep[replica].store.split;
}

/* How long a background sync takes: mostly a few ms, sometimes long (a disk busy with
 * compactions), so that checkpoints are proven well before their state is durable. */
static uint64_t sim__sync_duration(struct sim_replica *r)
{
	uint64_t x = sim_rng_below(&r->sync_rng, 20);

	if (x < 14)
		return sim_rng_below(&r->sync_rng, 3);
	if (x < 19)
		return 2 + sim_rng_below(&r->sync_rng, 10);
	return 10 + sim_rng_below(&r->sync_rng, 60);
}

void sim_replica_sync_later(struct sim *s, uint32_t replica)
{
	struct sim_replica *r = &s->rep[replica];

	if (r->sync_busy) {
		r->sync_again = 1;
		return;
	}
	r->sync_busy = 1;
	sim_app_sync_begin(&r->app);
	if (sim_schedule(s, s->now + sim__sync_duration(r), SIM_EV_DURABLE, replica) != 0)
		sim_fail(s, "out of memory scheduling a sync");
}

static void sim__replica_step(struct sim *s, struct sim_replica *r, const struct pbft_event *ev);

/* The background sync completed: the state as of its start is durable (split disk: in
 * the app's file; else, one file, everything written so far); the core is told. */
static void sim__durable(struct sim *s, struct sim_replica *r)
{
	struct pbft_event ev;
	uint64_t seq;
	int report;

	r->sync_busy = 0;
	report = sim_app_sync_end(&r->app, &seq);
	if (r->store.split)
		sim__disk_draw_app_cut(&r->store);
	else if (sim__disk_sync(r) != 0)
		sim_fail(s, "out of memory in the store");
	if (report) {
		struct pbft_status before, after;
		sim_log(s, "replica %u: state durable at %" PRIu64, r->id, seq);
		pbft_get_status(r->core, &before);
		memset(&ev, 0, sizeof(ev));
		ev.type = PBFT_EV_DURABLE;
		ev.now = s->now;
		ev.wall = sim_wall(s, r->id);
		ev.durable = seq;
		sim__replica_step(s, r, &ev);
		/* A proven checkpoint that waited for this must be stable now. */
		if (r->core != NULL && !r->faulty && before.stable_waiting != 0 &&
		    before.stable_waiting <= seq && !before.transferring) {
			pbft_get_status(r->core, &after);
			if (after.low_watermark < before.stable_waiting)
				sim_fail(s, "STABLE: replica %u: checkpoint %" PRIu64 " proven and its state durable at %" PRIu64 ", low watermark still %" PRIu64,
					 r->id, before.stable_waiting, seq, after.low_watermark);
		}
	}
	if (r->sync_again && r->core != NULL) {
		r->sync_again = 0;
		sim_replica_sync_later(s, r->id);
	}
}

/* The update's records as one write (bulwarkd: one leveldb_write, synced if asked). */
static int sim__store_apply(struct sim_replica *r, const struct pbft_update *up)
{
	struct sim_store *st = &r->store;

	if (up->nrec == 0)
		return 0;
	for (size_t i = 0; i < up->nrec; i++) {
		const struct pbft_record *rec = &up->rec[i];
		struct sim_store_op op;

		op.kind = rec->kind;
		op.del_below = rec->del_below;
		op.key = rec->key;
		op.write = st->writes + 1;
		op.len = rec->del_below ? 0 : rec->len;
		op.val = malloc(op.len ? op.len : 1);
		if (op.val == NULL)
			return -1;
		if (op.len)
			memcpy(op.val, up->recs.p + rec->off, op.len);
		if (st->nj == st->capj) {
			size_t cap = st->capj ? st->capj * 2 : 32;
			struct sim_store_op *nj = realloc(st->j, cap * sizeof(*nj));
			if (nj == NULL) {
				free(op.val);
				return -1;
			}
			st->j = nj;
			st->capj = cap;
		}
		st->j[st->nj++] = op;
	}
	if (up->sync)
		return st->split ? sim__disk_records_sync(r) : sim__disk_sync(r);
	if (st->split)
		st->writes++; /* the records log's own order: no app cut here */
	else
		sim__disk_wrote(r);
	return 0;
}

/* ---------------------------------------------------------------- scheduling */
int sim_schedule(struct sim *s, uint64_t at, enum sim_ev_type type, uint32_t node)
{
	struct sim_event *ev = sim_event_new(&s->q, 0);

	if (ev == NULL)
		return -1;
	ev->time = at;
	ev->type = type;
	ev->node = node;
	if (type == SIM_EV_TICK || type == SIM_EV_BYZ || type == SIM_EV_FLUSH ||
	    type == SIM_EV_DURABLE || type == SIM_EV_IDLE)
		ev->incarnation = s->rep[node].incarnation;
	return sim_queue_push(&s->q, ev);
}

int sim_schedule_crash(struct sim *s, uint64_t at, uint32_t replica, enum sim_crash_mode mode)
{
	struct sim_event *ev = sim_event_new(&s->q, 0);

	if (ev == NULL)
		return -1;
	ev->time = at;
	ev->type = SIM_EV_CRASH;
	ev->node = replica;
	ev->from = (uint32_t)mode;
	return sim_queue_push(&s->q, ev);
}

static void sim__arm_tick(struct sim *s, enum sim_ev_type type, uint32_t node, uint64_t *tick_at,
			  uint64_t deadline)
{
	if (deadline == 0)
		return;
	if (deadline <= s->now)
		deadline = s->now + 1;
	/* One armed wake-up per node: a later deadline waits for the armed one, whose step
	 * returns the deadline again; an earlier one is armed as well. */
	if (*tick_at > s->now && *tick_at <= deadline)
		return;
	*tick_at = deadline;
	if (sim_schedule(s, deadline, type, node) != 0)
		sim_fail(s, "out of memory scheduling a tick");
}

/* ---------------------------------------------------------------- network */
static int sim__link_up(const struct sim *s, int from_client, uint32_t from, int to_client, uint32_t to)
{
	if (from_client || to_client || !s->partitioned)
		return 1;
	return s->side[from] == s->side[to];
}

/* Message type name for logs (the second header byte), without decoding. */
static const char *sim__type(const uint8_t *p, size_t len)
{
	return len >= 2 ? wire_type_name(p[1]) : "(short)";
}

static void sim__net_one(struct sim *s, int from_client, uint32_t from, int to_client, uint32_t to,
			 const uint8_t *p, size_t len)
{
	struct sim_event *ev;
	uint64_t delay = s->p.delay_ms;

	if (s->p.jitter_ms)
		delay += sim_rng_below(&s->rng, s->p.jitter_ms + 1);
	ev = sim_event_new(&s->q, len);
	if (ev == NULL) {
		sim_fail(s, "out of memory in the network");
		return;
	}
	ev->time = s->now + delay;
	ev->type = SIM_EV_DELIVER;
	ev->node = to;
	ev->to_client = to_client;
	ev->from = from;
	ev->from_client = from_client;
	ev->len = len;
	if (len > 0) /* an empty message (a faulty replica's junk) may have no buffer */
		memcpy(ev->data, p, len);
	if (sim_queue_push(&s->q, ev) != 0)
		sim_fail(s, "out of memory in the network");
}

void sim_net_send(struct sim *s, int from_client, uint32_t from, int to_client, uint32_t to,
		  const uint8_t *p, size_t len)
{
	int up = sim__link_up(s, from_client, from, to_client, to);

	s->msgs++;
	if (!up || sim_rng_chance(&s->rng, s->p.loss)) {
		s->dropped_net++;
		if (s->verbose)
			sim_log(s, "NET %s %c%u->%c%u %s (%zu bytes)", up ? "lost" : "cut",
				from_client ? 'c' : 'r', from, to_client ? 'c' : 'r', to, sim__type(p, len), len);
		return;
	}
	sim__net_one(s, from_client, from, to_client, to, p, len);
	if (sim_rng_chance(&s->rng, s->p.dup)) {
		sim_log(s, "NET duplicate %c%u->%c%u %s", from_client ? 'c' : 'r', from,
			to_client ? 'c' : 'r', to, sim__type(p, len));
		sim__net_one(s, from_client, from, to_client, to, p, len);
	}
}

/* ---------------------------------------------------------------- replicas */
static void sim__replica_send(struct sim *s, struct sim_replica *r, int to_client, uint32_t to,
			      const uint8_t *p, size_t len)
{
	if (r->faulty)
		sim_byz_send(s, r, to_client, to, p, len);
	else
		sim_net_send(s, 0, r->id, to_client, to, p, len);
}

static void sim__replica_out(struct sim *s, struct sim_replica *r, const struct pbft_update *up)
{
	for (size_t i = 0; i < up->nout; i++) {
		const struct pbft_out *o = &up->out[i];
		const uint8_t *p = up->msgs.p + o->off;
		int c;

		if (!r->faulty)
			sim_check_sent(s, r->id, p, o->len);
		switch (o->dest) {
		case PBFT_DEST_REPLICA:
			if (o->replica < s->p.n && o->replica != r->id)
				sim__replica_send(s, r, 0, o->replica, p, o->len);
			break;
		case PBFT_DEST_OTHERS:
			for (uint32_t j = 0; j < s->p.n; j++)
				if (j != r->id)
					sim__replica_send(s, r, 0, j, p, o->len);
			break;
		case PBFT_DEST_CLIENT: {
			/* The client key's connection carries every lane's replies; the
			 * client library hands each to its lane (here: the lane's client). */
			struct wire_msg rm;
			c = wire_decode(p, o->len, &s->limits, &rm) == 0 && rm.hdr.type == WIRE_REPLY
				    ? sim_client_index(s, o->client, rm.u.reply.lane) : -1;
			if (c >= 0)
				sim__replica_send(s, r, 1, (uint32_t)c, p, o->len);
			break;
		}
		}
	}
}

static void sim__crash(struct sim *s, struct sim_replica *r, enum sim_crash_mode mode);

/* The end of a loop turn (bulwarkd's bwd__flush): the turn's records are written as one
 * write, synced if a step asked, then its messages leave. The app's writes of the turn
 * happened during its steps: before these records in the write order. */
static void sim__turn_end(struct sim *s, struct sim_replica *r)
{
	struct pbft_update *up = &r->up;

	r->turn_open = 0;
	if (sim__store_apply(r, up) != 0) {
		sim_fail(s, "out of memory in the store");
		return;
	}
	if (r->torn && up->nout > 0) {
		sim_log(s, "NET replica %u dies after persisting an update, before sending its %zu messages",
			r->id, up->nout);
		pbft_update_reset(up);
		sim__crash(s, r, SIM_CRASH_PROCESS);
		return;
	}
	/* A batch held back for these records (pbft_update.again) goes in the next turn,
	 * as soon as possible (bulwarkd runs it at once; here 1 ms later). */
	sim__arm_tick(s, SIM_EV_TICK, r->id, &r->tick_at, up->again ? s->now : up->deadline);
	/* bulwarkd's ev_idle runs once no other event is ready: here 0-2 ms later. */
	if (up->idle && !r->idle_armed) {
		r->idle_armed = 1;
		if (sim_schedule(s, s->now + sim_rng_below(&r->sync_rng, 3), SIM_EV_IDLE, r->id) != 0)
			sim_fail(s, "out of memory scheduling an idle step");
	}
	sim__replica_out(s, r, up);
	pbft_update_reset(up);
	if (r->votes_lost) {
		/* Past the views of the lost votes (the VIEW record saying so was just
		 * written): bulwarkd settles the loss in its session record, synced. */
		struct pbft_status st;
		pbft_get_status(r->core, &st);
		if (!st.votes_uncertain) {
			sim_log(s, "replica %u: votes certain again in view %" PRIu64, r->id, st.view);
			r->votes_lost = 0;
			sim_replica_sync(s, r->id);
		}
	}
}

/* One event of a loop turn. Without batch_on_flush every event is a turn of its own;
 * with it the turn's effects gather in r->up until the FLUSH that ends it, which comes
 * at once or 1 ms later (events due meanwhile join the turn), as in bulwarkd where
 * every event the loop finds ready is handled before ev_prepare flushes. */
static void sim__replica_step(struct sim *s, struct sim_replica *r, const struct pbft_event *ev)
{
	int rc = pbft_step(r->core, ev, &r->up);

	r->steps++;
	if (rc != 0) {
		sim_fail(s, "replica %u: pbft_step failed: %s", r->id, pbft_strerror(rc));
		return;
	}
	sim_check_step(s, r->id);
	if (!r->batch_on_flush || ev->type == PBFT_EV_FLUSH) {
		sim__turn_end(s, r);
		return;
	}
	if (!r->turn_open) {
		r->turn_open = 1;
		if (sim_schedule(s, s->now + sim_rng_below(&s->rng, 2), SIM_EV_FLUSH, r->id) != 0)
			sim_fail(s, "out of memory scheduling a flush");
	}
}

static void sim__replica_config(struct sim *s, struct sim_replica *r, struct pbft_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->n = s->p.n;
	cfg->f = s->p.f;
	cfg->id = r->id;
	cfg->group = SIM_GROUP;
	cfg->epoch = SIM_EPOCH;
	cfg->checkpoint_interval = s->p.checkpoint_interval;
	cfg->log_window = s->p.log_window;
	cfg->batch_max_requests = s->p.batch_max_requests;
	cfg->batch_max_bytes = s->p.batch_max_bytes;
	cfg->pipeline = s->p.pipeline;
	cfg->view_change_timeout_ms = s->p.vc_timeout_ms;
	cfg->max_clock_skew_ms = s->p.max_skew_ms;
	cfg->status_interval_ms = s->p.status_ms;
	cfg->max_clients = s->p.max_clients;
	cfg->limits = &s->limits;
	/* As bulwarkd decides them at start: a transfer mark on disk, a machine crash. */
	cfg->state_incomplete = r->app.transfer_pending;
	cfg->votes_uncertain = r->votes_lost;
	cfg->batch_on_flush = r->batch_on_flush;
	cfg->durable_async = r->app.async;
	cfg->idle_verify = r->idle_verify;
	cfg->crypto.ctx = r;
	cfg->crypto.sign = sim__sign;
	cfg->crypto.verify = sim__verify;
	cfg->crypto.check_request = sim__check_request;
	sim_app_ops(&r->app, &cfg->app);
	if (s->verbose) {
		cfg->tracer.ctx = s;
		cfg->tracer.trace = sim__trace;
	}
}

/* Start (or restart) replica r from what its disk and app hold. */
static int sim__replica_start(struct sim *s, struct sim_replica *r)
{
	struct pbft_config cfg;
	struct pbft_record *recs = NULL;
	uint8_t *bytes = NULL;
	size_t total = 0, off = 0;
	int rc;

	sim__replica_config(s, r, &cfg);
	if (r->store.n > 0) {
		for (size_t i = 0; i < r->store.n; i++)
			total += r->store.r[i].len;
		recs = calloc(r->store.n, sizeof(*recs));
		bytes = malloc(total ? total : 1);
		if (recs == NULL || bytes == NULL) {
			free(recs);
			free(bytes);
			sim_fail(s, "out of memory restarting replica %u", r->id);
			return -1;
		}
		for (size_t i = 0; i < r->store.n; i++) {
			recs[i].kind = r->store.r[i].kind;
			recs[i].key = r->store.r[i].key;
			recs[i].off = off;
			recs[i].len = r->store.r[i].len;
			if (r->store.r[i].len)
				memcpy(bytes + off, r->store.r[i].val, r->store.r[i].len);
			off += r->store.r[i].len;
		}
	}
	rc = pbft_new(&cfg, recs, bytes, r->store.n, r->app.last_executed, s->now, &r->core);
	free(recs);
	free(bytes);
	if (rc != 0) {
		r->core = NULL;
		sim_fail(s, "replica %u: pbft_new failed: %s (%zu records, last executed %" PRIu64 ")",
			 r->id, pbft_strerror(rc), r->store.n, r->app.last_executed);
		return -1;
	}
	sim_log(s, "replica %u starts (incarnation %u)%s%s%s%s%s", r->id, r->incarnation,
		cfg.batch_on_flush ? ", batch on flush" : "",
		cfg.durable_async ? ", background state sync" : "",
		cfg.idle_verify ? ", checkpoint signatures checked when idle" : "",
		cfg.votes_uncertain ? ", votes uncertain" : "",
		cfg.state_incomplete ? ", state incomplete" : "");
	r->tick_at = 0;
	sim__arm_tick(s, SIM_EV_TICK, r->id, &r->tick_at, s->now + 1);
	if (r->faulty && (r->byz.kinds & (SIM_BYZ_FLOOD | SIM_BYZ_REPLAY | SIM_BYZ_GARBAGE)))
		sim_schedule(s, s->now + 10, SIM_EV_BYZ, r->id);
	return 0;
}

static void sim__crash(struct sim *s, struct sim_replica *r, enum sim_crash_mode mode)
{
	if (r->core == NULL)
		return;
	if (mode == SIM_CRASH_TORN) {
		r->torn = 1;
		return;
	}
	r->torn = 0;
	/* A process crash keeps every write the OS has; a machine crash a prefix of them:
	 * the first cut unsynced writes. The open turn's records were never written. */
	uint32_t writes = r->store.writes, keep = writes;
	enum sim_app_keep app_keep = SIM_APP_KEEP_ALL;
	if (mode == SIM_CRASH_MACHINE && r->store.cut < writes) {
		keep = r->store.cut;
		app_keep = keep == 0 ? SIM_APP_KEEP_DURABLE : SIM_APP_KEEP_CUT;
	}
	if (r->store.split) {
		/* Two files: the app's prefix is drawn apart from the records'. */
		app_keep = SIM_APP_KEEP_ALL;
		if (mode == SIM_CRASH_MACHINE && r->store.app_cut < r->store.app_writes)
			app_keep = r->store.app_cut == 0 ? SIM_APP_KEEP_DURABLE : SIM_APP_KEEP_CUT;
	}
	sim_log(s, "NET crash replica %u (%s; last executed %" PRIu64 ", %zu records on disk, "
		"%u of %u unsynced writes kept, %zu records of the open turn lost)",
		r->id, mode == SIM_CRASH_MACHINE ? "machine" : "process", r->app.last_executed,
		r->store.n, keep, writes, r->up.nrec);
	if (sim__journal_keep(&r->store, keep) != 0 || sim_app_crash(&r->app, app_keep) != 0)
		sim_fail(s, "out of memory in the store");
	sim__disk_draw_cut(&r->store);
	if (r->store.split)
		sim__disk_draw_app_cut(&r->store);
	pbft_update_reset(&r->up);
	r->turn_open = 0;
	r->sync_busy = 0; /* the syncer thread died with the process */
	r->sync_again = 0;
	r->idle_armed = 0;
	if (mode == SIM_CRASH_MACHINE)
		r->votes_lost = 1;
	pbft_free(r->core);
	r->core = NULL;
	r->incarnation++;
	r->crashes++;
	r->tick_at = 0;
}

static void sim__revive(struct sim *s, struct sim_replica *r)
{
	if (r->core != NULL) {
		/* A torn crash that found no update with messages before its revival time
		 * does not happen: the replica must not go down later, beyond the plan. */
		r->torn = 0;
		return;
	}
	sim_log(s, "NET revive replica %u (last executed %" PRIu64 ", %zu records on disk)", r->id,
		r->app.last_executed, r->store.n);
	sim__replica_start(s, r);
}

/* ---------------------------------------------------------------- clients */
static void sim__client_out(struct sim *s, struct sim_client *c, const struct pbft_update *up)
{
	for (size_t i = 0; i < up->nout; i++) {
		const struct pbft_out *o = &up->out[i];
		const uint8_t *p = up->msgs.p + o->off;
		struct wire_msg m;

		/* Remember the timestamps the client uses (a read-only request retried as
		 * ordered takes a new one): replicas may execute nothing newer. */
		if (wire_decode(p, o->len, &s->limits, &m) == 0 && m.hdr.type == WIRE_REQUEST &&
		    m.u.request.timestamp > s->hist[c->idx].issued_max)
			s->hist[c->idx].issued_max = m.u.request.timestamp;
		if (o->dest == PBFT_DEST_REPLICA) {
			if (o->replica < s->p.n)
				sim_net_send(s, 1, c->idx, 0, o->replica, p, o->len);
		} else if (o->dest == PBFT_DEST_OTHERS) {
			for (uint32_t j = 0; j < s->p.n; j++)
				sim_net_send(s, 1, c->idx, 0, j, p, o->len);
		}
	}
}

static void sim__client_completed(struct sim *s, struct sim_client *c)
{
	uint64_t ts = 0;
	struct wire_bytes res = pbft_client_result(c->pc, &ts);

	sim_log(s, "client %u: accepted ts %" PRIu64 " (%s, %u result bytes) after %" PRIu64 " ms",
		c->idx, ts, c->read_only ? "read-only" : "ordered", res.len, s->now - c->started);
	sim_check_accept(s, c->idx, ts, c->op, c->oplen, res.p, res.len, c->read_only);
	c->busy = 0;
	c->done++;
	if (c->read_only)
		c->done_ro++;
	if (c->read_only)
		s->accepted_ro++;
	else
		s->accepted++;
	sim_schedule(s, s->now + sim_rng_below(&s->rng, s->p.think_ms + 1), SIM_EV_CLIENT_START, c->idx);
}

static void sim__client_step(struct sim *s, struct sim_client *c, const struct pbft_event *ev)
{
	int rc;

	pbft_update_reset(&s->up);
	rc = pbft_client_step(c->pc, ev, &s->up);
	if (rc < 0) {
		sim_fail(s, "client %u: pbft_client_step failed: %s", c->idx, pbft_strerror(rc));
		return;
	}
	sim__arm_tick(s, SIM_EV_CLIENT_TICK, c->idx, &c->tick_at, s->up.deadline);
	sim__client_out(s, c, &s->up);
	if (rc == 1 && c->busy)
		sim__client_completed(s, c);
}

static void sim__client_start(struct sim *s, struct sim_client *c)
{
	const char *key = sim_key_names[sim_rng_below(&s->rng, s->p.nkeys < SIM_MAX_KEYS ? s->p.nkeys
											   : SIM_MAX_KEYS)];
	uint8_t val[12];
	uint64_t roll = sim_rng_below(&s->rng, 100);
	int rc;

	if (c->busy)
		return;
	if (s->now >= s->p.issue_until_ms && !s->drain_load) {
		c->parked = 1;
		return;
	}
	c->read_only = sim_rng_chance(&s->rng, s->p.ro_fraction);
	if (c->read_only) {
		c->oplen = sim_op_key(c->op, 'G', key);
	} else if (roll < 45) {
		for (size_t i = 0; i < sizeof(val); i++)
			val[i] = (uint8_t)('a' + sim_rng_below(&s->rng, 26));
		c->oplen = sim_op_put(c->op, key, val, 1 + sim_rng_below(&s->rng, sizeof(val)));
	} else if (roll < 80) {
		c->oplen = sim_op_key(c->op, 'I', key);
	} else if (roll < 90) {
		c->oplen = sim_op_key(c->op, 'D', key);
	} else {
		c->oplen = sim_op_key(c->op, 'G', key);
	}
	pbft_update_reset(&s->up);
	rc = pbft_client_invoke(c->pc, s->now, c->op, c->oplen, c->read_only, &s->up);
	if (rc != 0) {
		sim_fail(s, "client %u: pbft_client_invoke failed: %s", c->idx, pbft_strerror(rc));
		return;
	}
	c->busy = 1;
	c->started = s->now;
	sim_log(s, "client %u: invoke %s op '%c' key %s", c->idx, c->read_only ? "read-only" : "ordered",
		c->op[0], key);
	sim__arm_tick(s, SIM_EV_CLIENT_TICK, c->idx, &c->tick_at, s->up.deadline);
	sim__client_out(s, c, &s->up);
}

/* ---------------------------------------------------------------- delivery */
static void sim__deliver(struct sim *s, const struct sim_event *e)
{
	struct wire_msg m;
	struct pbft_event ev;
	int rc = wire_decode(e->data, e->len, &s->limits, &m);

	if (s->verbose)
		sim_log(s, "NET deliver %c%u->%c%u %s (%zu bytes)%s%s", e->from_client ? 'c' : 'r', e->from,
			e->to_client ? 'c' : 'r', e->node, sim__type(e->data, e->len), e->len,
			rc ? ": refused by the decoder: " : "", rc ? wire_strerror(rc) : "");
	if (rc != 0) {
		s->dropped_decode++;
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_MESSAGE;
	ev.now = s->now;
	ev.msg = &m;
	if (e->to_client) {
		struct sim_client *c = &s->cl[e->node];
		/* The channel (MAC) authenticates the replica: ev.from. The header's sender
		 * is content, which the core checks against it. */
		if (e->from_client || c->byz)
			return;
		ev.wall = SIM_WALL_BASE + s->now;
		ev.from = e->from;
		sim__client_step(s, c, &ev);
		return;
	}
	struct sim_replica *r = &s->rep[e->node];
	if (r->core == NULL)
		return;
	if (e->from_client) {
		ev.from = WIRE_SENDER_CLIENT;
		ev.from_client = sim_client_key(s, e->from)->pub;
	} else {
		ev.from = e->from;
	}
	if (r->faulty && sim_byz_in_filter(s, r, &m))
		return;
	ev.wall = sim_wall(s, r->id);
	sim__replica_step(s, r, &ev);
}

/* The replica of a timer event e armed in its current incarnation, running; else NULL
 * (it crashed or restarted since: the event is stale). */
static struct sim_replica *sim__timer_owner(struct sim *s, const struct sim_event *e)
{
	struct sim_replica *r = &s->rep[e->node];

	return r->core != NULL && e->incarnation == r->incarnation ? r : NULL;
}

/* A replica's own timer event e: step its core (if e was armed in this incarnation)
 * with an event that carries nothing but its type. */
static void sim__step_type(struct sim *s, const struct sim_event *e, enum pbft_event_type type)
{
	struct sim_replica *r = sim__timer_owner(s, e);
	struct pbft_event ev;

	if (r == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.now = s->now;
	ev.wall = sim_wall(s, r->id);
	sim__replica_step(s, r, &ev);
}

static void sim__process(struct sim *s, const struct sim_event *e)
{
	struct pbft_event ev;

	switch (e->type) {
	case SIM_EV_DELIVER:
		sim__deliver(s, e);
		break;
	case SIM_EV_TICK: {
		struct sim_replica *r = sim__timer_owner(s, e);
		if (r != NULL && r->tick_at == e->time)
			r->tick_at = 0;
		sim__step_type(s, e, PBFT_EV_TICK);
		break;
	}
	case SIM_EV_FLUSH:
		sim__step_type(s, e, PBFT_EV_FLUSH);
		break;
	case SIM_EV_CLIENT_TICK: {
		struct sim_client *c = &s->cl[e->node];
		if (c->byz)
			break;
		if (c->tick_at == e->time)
			c->tick_at = 0;
		memset(&ev, 0, sizeof(ev));
		ev.type = PBFT_EV_TICK;
		ev.now = s->now;
		ev.wall = SIM_WALL_BASE + s->now;
		sim__client_step(s, c, &ev);
		break;
	}
	case SIM_EV_CLIENT_START:
		if (s->cl[e->node].byz)
			sim_byz_client_act(s, &s->cl[e->node]);
		else
			sim__client_start(s, &s->cl[e->node]);
		break;
	case SIM_EV_CRASH:
		sim__crash(s, &s->rep[e->node], (enum sim_crash_mode)e->from);
		break;
	case SIM_EV_REVIVE:
		sim__revive(s, &s->rep[e->node]);
		break;
	case SIM_EV_PARTITION:
		memcpy(s->side, s->pending_side, sizeof(s->side));
		s->partitioned = 1;
		if (s->verbose) {
			char buf[64];
			size_t o = 0;
			for (uint32_t i = 0; i < s->p.n && o + 4 < sizeof(buf); i++)
				o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%u:%c ", i, 'A' + s->side[i]);
			sim_log(s, "NET partition %s", buf);
		}
		break;
	case SIM_EV_HEAL:
		s->partitioned = 0;
		sim_log(s, "NET heal");
		break;
	case SIM_EV_IDLE:
		if (e->incarnation == s->rep[e->node].incarnation)
			s->rep[e->node].idle_armed = 0;
		sim__step_type(s, e, PBFT_EV_IDLE);
		break;
	case SIM_EV_DURABLE: {
		struct sim_replica *r = sim__timer_owner(s, e);
		if (r != NULL)
			sim__durable(s, r);
		break;
	}
	case SIM_EV_BYZ: {
		struct sim_replica *r = sim__timer_owner(s, e);
		if (r == NULL)
			break;
		sim_byz_timer(s, r);
		sim_schedule(s, s->now + 5 + sim_rng_below(&s->rng, 40), SIM_EV_BYZ, r->id);
		break;
	}
	}
}

/* ---------------------------------------------------------------- setup */
/* What a correct replica may hold, from the configuration alone: the log window (each
 * entry a pre-prepared and a prepared batch plus 2n votes), the latest VIEW-CHANGE of
 * every replica and a NEW-VIEW carrying 2f+1 of them (each VIEW-CHANGE at most a window
 * of batches and a checkpoint proof), checkpoint votes for the window, one pending
 * request and one cached reply per client, and 256 KiB of scratch buffers. Anything
 * above it means state grows with time or with what a faulty peer sends. */
static size_t sim__memory_bound(const struct sim_params *p)
{
	size_t auth = p->robust ? WIRE_SIG_LEN : p->n * WIRE_TAG_LEN;
	size_t req = WIRE_KEY_LEN + 8 + 4 + 4 + 4 + 64 + auth;
	size_t batch = p->batch_max_bytes + 128;
	size_t entry = 2 * batch + 2 * p->n * 64 + 256;
	size_t vc = p->log_window * (batch + 96) + (2 * p->f + 1) * (4 + WIRE_SIG_LEN) + 512;
	size_t vcs = (p->n + 2 * p->f + 1) * vc;
	size_t ckpt = (p->log_window / p->checkpoint_interval + 2) * p->n * 160;
	size_t clients = p->max_clients * (2 * req + SIM_MAX_RESULT + 256);

	return p->log_window * entry + vcs + ckpt + clients + 256 * 1024;
}

int sim_init(struct sim *s, const struct sim_scenario *sc, const struct sim_params *p,
	     const struct sim_keys *keys, uint64_t seed, int verbose)
{
	memset(s, 0, sizeof(*s));
	s->sc = sc;
	s->seed = seed;
	s->verbose = verbose;
	s->p = *p;
	s->keys = keys;
	s->limits = wire_limits_default;
	sim_rng_seed(&s->rng, seed);
	sim_queue_init(&s->q);
	pbft_update_init(&s->up);
	wire_buf_init(&s->scratch);
	if (p->n > SIM_MAX_N || p->n != 3 * p->f + 1 || p->clients > SIM_MAX_CLIENTS)
		return -1;
	sim__client_map(s);
	s->memory_bound = sim__memory_bound(p);
	if (!p->no_vcache) {
		s->vcache = calloc(SIM_VCACHE_SLOTS, sizeof(*s->vcache));
		if (s->vcache == NULL)
			return -1;
	}
	if (sim_seqmap_init(&s->execmap) != 0 || sim_seqmap_init(&s->ckptmap) != 0)
		return -1;
	for (uint32_t i = 0; i < p->n; i++) {
		struct sim_replica *r = &s->rep[i];
		r->sim = s;
		r->id = i;
		pbft_update_init(&r->up);
		if (sim_app_init(&r->app, s, i) != 0)
			return -1;
		/* The disk's draws are the replica's own, so that they do not shift the
		 * network's. */
		sim_rng_seed(&r->store.rng, seed ^ (0x5eed0d15cull + i) * 0x9e3779b97f4a7c15ull);
		sim__disk_draw_cut(&r->store);
		r->store.split = p->split_disk;
		if (r->store.split)
			sim__disk_draw_app_cut(&r->store);
		r->batch_on_flush = p->batch_on_flush == 2 ? sim_rng_chance(&s->rng, 0.5)
							  : p->batch_on_flush;
		r->app.defer = p->defer_writes == 2 ? sim_rng_chance(&s->rng, 0.5) : p->defer_writes;
		sim_rng_seed(&r->sync_rng, seed ^ (0x5ca1ab1eull + i) * 0xbf58476d1ce4e5b9ull);
		r->app.async = p->durable_async == 2 ? sim_rng_chance(&r->sync_rng, 0.5)
						     : p->durable_async;
		r->idle_verify = p->idle_verify == 2 ? sim_rng_chance(&r->sync_rng, 0.5)
						     : p->idle_verify;
	}
	for (uint32_t c = 0; c < p->clients; c++) {
		struct sim_client *cl = &s->cl[c];
		struct pbft_client_config cc;
		memset(&cc, 0, sizeof(cc));
		cl->idx = c;
		cl->sim = s;
		wire_buf_init(&cl->byz_last);
		wire_buf_init(&cl->byz_out);
		wire_buf_init(&cl->byz_auth);
		wire_buf_init(&cl->byz_big);
		if (p->byz_client && c == p->clients - 1) {
			cl->byz = 1;
			continue;
		}
		cc.n = p->n;
		cc.f = p->f;
		cc.group = SIM_GROUP;
		cc.epoch = SIM_EPOCH;
		memcpy(cc.key, keys->client[c / SIM_LANES].pub, WIRE_KEY_LEN);
		cc.lane = c % SIM_LANES;
		cc.timeout_ms = p->client_timeout_ms;
		cc.first_timestamp = 1;
		cc.read_quorum_2f1 = 1;
		cc.digest_replies = p->digest_replies;
		cc.limits = &s->limits;
		cc.auth.ctx = cl;
		cc.auth.authenticate = sim__authenticate;
		if (pbft_client_new(&cc, &cl->pc) != 0)
			return -1;
	}
	return 0;
}

void sim_free(struct sim *s)
{
	for (uint32_t i = 0; i < SIM_MAX_N; i++) {
		struct sim_replica *r = &s->rep[i];
		if (r->core != NULL)
			pbft_free(r->core);
		r->core = NULL;
		sim__store_free(&r->store);
		if (r->sim != NULL)
			sim_app_free(&r->app);
		pbft_update_free(&r->up);
		sim_votes_free(&r->votes);
		sim_byz_free(&r->byz);
	}
	for (uint32_t c = 0; c < SIM_MAX_CLIENTS; c++) {
		if (s->cl[c].pc != NULL)
			pbft_client_free(s->cl[c].pc);
		s->cl[c].pc = NULL;
		wire_buf_free(&s->cl[c].byz_last);
		wire_buf_free(&s->cl[c].byz_out);
		wire_buf_free(&s->cl[c].byz_auth);
		wire_buf_free(&s->cl[c].byz_big);
		sim_hist_free(&s->hist[c]);
	}
	for (uint32_t k = 0; k < SIM_MAX_KEYS; k++)
		sim_keyhist_free(&s->keyhist[k]);
	sim_seqmap_free(&s->execmap);
	sim_seqmap_free(&s->ckptmap);
	sim_queue_free(&s->q);
	pbft_update_free(&s->up);
	wire_buf_free(&s->scratch);
	free(s->vcache);
	s->vcache = NULL;
}

/* ---------------------------------------------------------------- the loop */
static int sim__clients_idle(const struct sim *s)
{
	for (uint32_t c = 0; c < s->p.clients; c++)
		if (s->cl[c].busy)
			return 0;
	return 1;
}

/* Highest seq executed by a correct replica, and whether every correct live replica
 * has reached target. */
static uint64_t sim__max_executed(const struct sim *s)
{
	uint64_t m = 0;

	for (uint32_t i = 0; i < s->p.n; i++)
		if (!s->rep[i].faulty && s->rep[i].app.last_executed > m)
			m = s->rep[i].app.last_executed;
	return m;
}

static int sim__caught_up(const struct sim *s, uint64_t target, uint32_t *laggard)
{
	for (uint32_t i = 0; i < s->p.n; i++) {
		const struct sim_replica *r = &s->rep[i];
		if (r->faulty)
			continue;
		if (r->core == NULL || r->app.last_executed < target) {
			*laggard = i;
			return 0;
		}
	}
	return 1;
}

int sim_run(struct sim *s)
{
	uint64_t next_check = 0, drain_from = 0, target = 0;
	uint64_t hard_limit;
	int draining = 0, phase2 = 0;

	for (uint32_t i = 0; i < s->p.n; i++)
		if (sim__replica_start(s, &s->rep[i]) != 0)
			return -1;
	s->sc->arm(s);
	for (uint32_t i = 0; i < s->p.n; i++)
		if (s->rep[i].faulty &&
		    (s->rep[i].byz.kinds & (SIM_BYZ_FLOOD | SIM_BYZ_REPLAY | SIM_BYZ_GARBAGE)))
			sim_schedule(s, 10, SIM_EV_BYZ, i);
	for (uint32_t c = 0; c < s->p.clients; c++)
		sim_schedule(s, 1 + sim_rng_below(&s->rng, 20), SIM_EV_CLIENT_START, c);
	hard_limit = (s->p.heal_at_ms > s->p.issue_until_ms ? s->p.heal_at_ms : s->p.issue_until_ms) +
		     s->p.liveness_ms + s->p.drain_ms + 1000;

	while (!s->failed) {
		struct sim_event *e = sim_queue_pop(&s->q);
		if (e == NULL) {
			sim_fail(s, "nothing left to happen at %" PRIu64 " ms: every replica idle with no timer",
				 s->now);
			break;
		}
		if (e->time > s->now)
			s->now = e->time;
		sim__process(s, e);
		sim_event_release(&s->q, e);
		if (s->failed)
			break;
		if (s->now >= next_check) {
			next_check = s->now + 50;
			sim_check_liveness(s);
			sim_check_prune(s);
		}
		if (s->now > hard_limit) {
			sim_fail(s, "run did not finish by %" PRIu64 " ms of simulated time", hard_limit);
			break;
		}
		if (s->now < s->p.issue_until_ms)
			continue;
		if (!draining) {
			if (!sim__clients_idle(s))
				continue;
			draining = 1;
			drain_from = s->now;
			target = sim__max_executed(s);
			sim_log(s, "workload over: every correct replica must reach seq %" PRIu64, target);
		}
		/* Phase 1: every correct replica reaches the highest seq executed when the
		 * workload ended. A replica may lag until the next stable checkpoint (PBFT
		 * promises no more), so while one is behind the clients keep the group busy.
		 * Phase 2: every request a client accepted is held by f+1 correct replicas
		 * (its f+1 matching replies may include a faulty one: the other correct
		 * replicas execute it later), again with load while it is not. */
		uint32_t lag = 0;
		int ok;
		if (!phase2) {
			int need_xfer = 0;
			if (s->p.need_transfer) {
				uint64_t t = 0;
				for (uint32_t i = 0; i < s->p.n; i++)
					t += s->rep[i].app.transfers;
				need_xfer = t == 0;
			}
			phase2 = sim__caught_up(s, target, &lag) && !need_xfer;
			ok = phase2;
		} else {
			ok = sim_check_held(s, 0);
		}
		if (!ok && !s->drain_load) {
			s->drain_load = 1;
			if (!phase2)
				sim_log(s, "replica %u is behind (%" PRIu64 " < %" PRIu64 "): clients keep going",
					lag, s->rep[lag].app.last_executed, target);
			else
				sim_log(s, "an accepted request is not yet held by f+1 correct replicas: "
					"clients keep going");
			for (uint32_t c = 0; c < s->p.clients; c++)
				if (s->cl[c].parked) {
					s->cl[c].parked = 0;
					sim_schedule(s, s->now + 1 + sim_rng_below(&s->rng, s->p.think_ms + 1),
						     SIM_EV_CLIENT_START, c);
				}
		}
		if (ok) {
			s->drain_load = 0;
			if (phase2 && sim__clients_idle(s))
				break;
		}
		if (s->now > drain_from + s->p.drain_ms) {
			if (phase2) {
				if (sim_check_held(s, 1))
					for (uint32_t c = 0; c < s->p.clients && !s->failed; c++)
						if (s->cl[c].busy)
							sim_fail(s, "LIVENESS: client %u's request (invoked at %"
								 PRIu64 " ms) still open %" PRIu64
								 " ms after the workload ended", c,
								 s->cl[c].started, s->now - drain_from);
			} else if (s->rep[lag].app.last_executed >= target)
				sim_fail(s, "no state transfer happened (the scenario needs one)");
			else
				sim_fail(s, "replica %u did not catch up: last executed %" PRIu64
					 " < %" PRIu64 " after %" PRIu64 " ms more of load (%s)",
					 lag, s->rep[lag].app.last_executed, target, s->p.drain_ms,
					 s->rep[lag].core ? "running" : "crashed");
			break;
		}
	}
	if (!s->failed)
		sim_check_held(s, 1);
	return s->failed ? -1 : 0;
}
