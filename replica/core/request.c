/* request.c: client requests (authentication, forwarding, the pending queue), the
 * primary's adaptive batching, the cache of the app's client table and replies. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/pbft_int.h"

/* ---------------------------------------------------------------- key map */
int pbft__keymap_init(struct pbft__keymap *m, uint32_t entries)
{
	uint32_t cap = 8;

	while (cap < 2 * entries)
		cap *= 2;
	m->t = calloc(cap, sizeof(*m->t));
	m->cap = cap;
	return m->t ? PBFT_OK : PBFT_ERR_NOMEM;
}

void pbft__keymap_free(struct pbft__keymap *m)
{
	free(m->t);
	m->t = NULL;
	m->cap = 0;
}

/* Client keys are Ed25519 public keys: mixing their four 64-bit words and the lane is
 * enough (a client grinding keys or lanes only lengthens probes in a table bounded by
 * max_clients). */
static uint32_t pbft__keyhash(const uint8_t *key)
{
	uint64_t h = 0x9e3779b97f4a7c15ull, w;

	for (uint32_t i = 0; i < WIRE_KEY_LEN; i += 8) {
		memcpy(&w, key + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 33;
	}
	h = (h ^ pbft__cid_lane(key)) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

uint32_t pbft__keymap_find(const struct pbft__keymap *m, const uint8_t *key)
{
	uint32_t mask = m->cap - 1, i = pbft__keyhash(key) & mask;

	while (m->t[i].slot) {
		if (memcmp(m->t[i].key, key, PBFT__CID_LEN) == 0)
			return m->t[i].slot - 1;
		i = (i + 1) & mask;
	}
	return PBFT__NONE;
}

/* key must be absent; the map always has room (cap >= 2 * entries). */
void pbft__keymap_put(struct pbft__keymap *m, const uint8_t *key, uint32_t slot)
{
	uint32_t mask = m->cap - 1, i = pbft__keyhash(key) & mask;

	while (m->t[i].slot)
		i = (i + 1) & mask;
	m->t[i].slot = slot + 1;
	memcpy(m->t[i].key, key, PBFT__CID_LEN);
}

static void pbft__keymap_del(struct pbft__keymap *m, const uint8_t *key)
{
	uint32_t mask = m->cap - 1, i = pbft__keyhash(key) & mask, j;

	while (m->t[i].slot && memcmp(m->t[i].key, key, PBFT__CID_LEN) != 0)
		i = (i + 1) & mask;
	if (!m->t[i].slot)
		return;
	/* Backward shift: move later members of the probe run into the hole. */
	j = i;
	for (;;) {
		uint32_t home;

		m->t[i].slot = 0;
		for (;;) {
			j = (j + 1) & mask;
			if (!m->t[j].slot)
				return;
			home = pbft__keyhash(m->t[j].key) & mask;
			/* j's entry may fill i unless its home lies cyclically in (i, j]. */
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		m->t[i] = m->t[j];
		i = j;
	}
}

/* ---------------------------------------------------------------- reply cache */
struct pbft__client *pbft__client_find(struct pbft *r, const uint8_t *key)
{
	uint32_t s = pbft__keymap_find(&r->cmap, key);

	return s == PBFT__NONE ? NULL : &r->clients[s];
}

static void pbft__lru_unlink(struct pbft *r, uint32_t s)
{
	struct pbft__client *c = &r->clients[s];

	if (c->prev != PBFT__NONE)
		r->clients[c->prev].next = c->next;
	else
		r->lru_head = c->next;
	if (c->next != PBFT__NONE)
		r->clients[c->next].prev = c->prev;
	else
		r->lru_tail = c->prev;
	c->prev = c->next = PBFT__NONE;
}

static void pbft__lru_append(struct pbft *r, uint32_t s)
{
	struct pbft__client *c = &r->clients[s];

	c->prev = r->lru_tail;
	c->next = PBFT__NONE;
	if (r->lru_tail != PBFT__NONE)
		r->clients[r->lru_tail].next = s;
	else
		r->lru_head = s;
	r->lru_tail = s;
}

/* The cache entry of key, created empty (ts 0) if absent, evicting the least recently
 * used entry when full, and moved to the most recently used end. */
struct pbft__client *pbft__client_touch(struct pbft *r, const uint8_t *key)
{
	uint32_t s = pbft__keymap_find(&r->cmap, key);
	struct pbft__client *c;

	if (s != PBFT__NONE) {
		pbft__lru_unlink(r, s);
		pbft__lru_append(r, s);
		return &r->clients[s];
	}
	if (r->nclients < r->cfg.max_clients) {
		s = r->nclients++;
	} else {
		s = r->lru_head;
		if (r->clients[s].used)
			pbft__keymap_del(&r->cmap, r->clients[s].key);
		pbft__lru_unlink(r, s);
	}
	c = &r->clients[s];
	c->used = 1;
	memcpy(c->key, key, PBFT__CID_LEN);
	c->ts = 0;
	wire_buf_reset(&c->result);
	pbft__keymap_put(&r->cmap, key, s);
	pbft__lru_append(r, s);
	return c;
}

/* The client's entry in the latest executed state: from the cache, or read from the
 * app's client table (and cached). Never during a state transfer (the app's state is
 * then partly copied). PBFT_ERR_APP if the app fails (nothing is cached then). */
int pbft__client_get(struct pbft *r, const uint8_t *key, struct pbft__client **out)
{
	struct pbft__client *c = pbft__client_find(r, key);
	uint32_t s;
	int rc;

	if (c) {
		s = (uint32_t)(c - r->clients);
		pbft__lru_unlink(r, s);
		pbft__lru_append(r, s);
		*out = c;
		return PBFT_OK;
	}
	c = pbft__client_touch(r, key);
	PBFT__ACCT(r, &c->result,
		   rc = r->cfg.app.client_last(r->cfg.app.ctx, key, pbft__cid_lane(key), &c->ts,
					       &c->result));
	if (rc != 0 || wire_buf_error(&c->result)) {
		/* Forget the entry; its slot becomes the first to be reused. */
		s = (uint32_t)(c - r->clients);
		pbft__keymap_del(&r->cmap, key);
		c->used = 0;
		pbft__lru_unlink(r, s);
		c->next = r->lru_head;
		if (r->lru_head != PBFT__NONE)
			r->clients[r->lru_head].prev = s;
		else
			r->lru_tail = s;
		r->lru_head = s;
		return rc != 0 ? PBFT_ERR_APP : PBFT_ERR_NOMEM;
	}
	*out = c;
	return PBFT_OK;
}

/* The app's state was replaced (state transfer): nothing cached holds any more. */
void pbft__clients_clear(struct pbft *r)
{
	for (uint32_t s = 0; s < r->nclients; s++) {
		r->clients[s].used = 0;
		r->clients[s].prev = r->clients[s].next = PBFT__NONE;
		wire_buf_reset(&r->clients[s].result);
	}
	memset(r->cmap.t, 0, (size_t)r->cmap.cap * sizeof(*r->cmap.t));
	r->nclients = 0;
	r->lru_head = r->lru_tail = PBFT__NONE;
}

int pbft__send_reply(struct pbft *r, struct pbft_update *up, const uint8_t *client,
		     uint64_t view, uint64_t ts, uint32_t flags, const uint8_t *res, size_t len)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_REPLY);
	m.u.reply.view = view;
	m.u.reply.timestamp = ts;
	memcpy(m.u.reply.client, client, WIRE_KEY_LEN);
	m.u.reply.lane = pbft__cid_lane(client);
	m.u.reply.flags = flags;
	m.u.reply.result.p = res;
	m.u.reply.result.len = (uint32_t)len;
	return pbft__send(r, up, PBFT_DEST_CLIENT, 0, client, &m);
}

/* ---------------------------------------------------------------- pending requests */
struct pbft__pending *pbft__pending_find(struct pbft *r, const uint8_t *key)
{
	/* Backups usually hold no request (clients send to the primary): no probe then. */
	if (r->npending == 0)
		return NULL;
	uint32_t s = pbft__keymap_find(&r->pmap, key);

	return s == PBFT__NONE ? NULL : &r->pending[s];
}

static void pbft__fifo_unlink(struct pbft *r, struct pbft__pending *p)
{
	if (!p->queued)
		return;
	if (p->prev != PBFT__NONE)
		r->pending[p->prev].next = p->next;
	else
		r->fifo_head = p->next;
	if (p->next != PBFT__NONE)
		r->pending[p->next].prev = p->prev;
	else
		r->fifo_tail = p->prev;
	p->queued = 0;
	r->nqueued--;
}

static void pbft__fifo_append(struct pbft *r, struct pbft__pending *p)
{
	uint32_t s = (uint32_t)(p - r->pending);

	if (p->queued)
		return;
	p->prev = r->fifo_tail;
	p->next = PBFT__NONE;
	if (r->fifo_tail != PBFT__NONE)
		r->pending[r->fifo_tail].next = s;
	else
		r->fifo_head = s;
	r->fifo_tail = s;
	p->queued = 1;
	r->nqueued++;
}

void pbft__pending_remove(struct pbft *r, struct pbft__pending *p)
{
	if (!p->used)
		return;
	pbft__fifo_unlink(r, p);
	pbft__keymap_del(&r->pmap, p->key);
	p->used = 0;
	p->next = r->pfree;
	r->pfree = (uint32_t)(p - r->pending);
	r->npending--;
}

void pbft__pending_init(struct pbft *r)
{
	r->pfree = PBFT__NONE;
	for (uint32_t i = r->cfg.max_clients; i-- > 0;) {
		r->pending[i].next = r->pfree;
		r->pfree = i;
	}
}

/* A request that a NEW-VIEW re-proposes is not proposed again (it stays pending until
 * executed). */
void pbft__pending_unqueue(struct pbft *r, const uint8_t *key, uint64_t ts)
{
	struct pbft__pending *p = pbft__pending_find(r, key);

	if (p && p->ts <= ts)
		pbft__fifo_unlink(r, p);
}

/* A new view: every request still waiting may have been lost with the old primary. */
void pbft__pending_requeue_all(struct pbft *r)
{
	for (uint32_t i = 0; i < r->cfg.max_clients; i++) {
		if (r->pending[i].used && !r->pending[i].queued)
			pbft__fifo_append(r, &r->pending[i]);
	}
}

static struct pbft__pending *pbft__pending_add(struct pbft *r, const struct wire_request *req,
					      const uint8_t *digest)
{
	struct pbft__pending *p;
	uint32_t s = r->pfree;

	if (s == PBFT__NONE)
		return NULL;
	p = &r->pending[s];
	wire_buf_reset(&p->enc);
	PBFT__ACCT(r, &p->enc, wire_put_request(&p->enc, req));
	if (wire_buf_error(&p->enc))
		return NULL;
	r->pfree = p->next;
	p->used = 1;
	p->queued = 0;
	pbft__cid(p->key, req->client, req->lane);
	p->ts = req->timestamp;
	memcpy(p->digest, digest, WIRE_DIGEST_LEN);
	pbft__keymap_put(&r->pmap, p->key, s);
	r->npending++;
	pbft__fifo_append(r, p);
	return p;
}

static int pbft__forward(struct pbft *r, struct pbft_update *up, const struct wire_request *req)
{
	struct wire_msg m;

	memset(&m, 0, sizeof(m));
	pbft__hdr(r, &m.hdr, WIRE_REQUEST);
	m.u.request = *req;
	return pbft__send(r, up, PBFT_DEST_REPLICA, pbft__primary(r, r->view), NULL, &m);
}

static int pbft__read_only(struct pbft *r, const struct wire_request *req, uint32_t from,
			   struct pbft_update *up)
{
	uint8_t digest[WIRE_DIGEST_LEN];
	int rc;

	if (from != WIRE_SENDER_CLIENT) {
		pbft__drop(r, "forwarded read-only request");
		return PBFT_OK;
	}
	if (!r->active || pbft__state_unknown(r)) {
		PBFT_TRACE(r, "read-only request during view change or state transfer -> ignore");
		return PBFT_OK;
	}
	wire_request_digest(r->cfg.group, r->cfg.epoch, req, digest);
	if (r->cfg.crypto.check_request(r->cfg.crypto.ctx, req, digest) != 0) {
		pbft__drop(r, "read-only request with a bad authenticator");
		return PBFT_OK;
	}
	/* Digest replies: only the replier the client named sends the result itself. */
	int digest_reply = (req->flags & WIRE_REQ_DIGEST_REPLIES) &&
			   WIRE_REQ_REPLIER(req->flags) != r->id;
	struct pbft_ro_digest dg = { 0 };
	wire_buf_reset(&r->scratch);
	rc = r->cfg.app.execute_ro(r->cfg.app.ctx, req, &r->scratch, digest_reply ? &dg : NULL);
	if (rc != 0)
		return PBFT_ERR_APP;
	if (wire_buf_error(&r->scratch))
		return PBFT_ERR_NOMEM;
	PBFT_TRACE(r, "read-only request ts %llu -> execute at %llu, reply",
		   (unsigned long long)req->timestamp, (unsigned long long)r->last_executed);
	uint8_t cid[PBFT__CID_LEN];
	pbft__cid(cid, req->client, req->lane);
	if (digest_reply && r->scratch.len >= WIRE_REPLY_DIGEST_MIN) {
		if (!dg.known)
			wire_result_digest(r->scratch.p, r->scratch.len, dg.digest);
		return pbft__send_reply(r, up, cid, r->view, req->timestamp,
					WIRE_REPLY_READ_ONLY | WIRE_REPLY_DIGEST, dg.digest,
					sizeof(dg.digest));
	}
	return pbft__send_reply(r, up, cid, r->view, req->timestamp, WIRE_REPLY_READ_ONLY,
				r->scratch.p, r->scratch.len);
}

int pbft__recv_request(struct pbft *r, const struct wire_msg *m, uint32_t from,
		       const uint8_t *from_client, struct pbft_update *up)
{
	const struct wire_request *req = &m->u.request;
	uint8_t digest[WIRE_DIGEST_LEN], cid[PBFT__CID_LEN];
	struct pbft__client *c;
	struct pbft__pending *p;

	if (from == WIRE_SENDER_CLIENT) {
		if (from_client && memcmp(from_client, req->client, WIRE_KEY_LEN) != 0) {
			pbft__drop(r, "request from a client channel for another client");
			return PBFT_OK;
		}
	} else if (from >= r->n || from == r->id) {
		pbft__drop(r, "request forwarded by a non-member");
		return PBFT_OK;
	}
	if (!wire_req_flags_ok(req->flags)) {
		pbft__drop(r, "request with unknown flags");
		return PBFT_OK;
	}
	if (req->flags & WIRE_REQ_READ_ONLY)
		return pbft__read_only(r, req, from, up);
	/* A request no batch can hold would wait forever and blame every primary. */
	wire_buf_reset(&r->scratch);
	wire_put_request(&r->scratch, req);
	if (wire_buf_error(&r->scratch))
		return PBFT_ERR_NOMEM;
	if (r->scratch.len > r->cfg.batch_max_bytes || r->scratch.len > r->lim.max_batch_bytes) {
		PBFT_TRACE(r, "request ts %llu of %zu bytes, batches hold %u -> refuse",
			   (unsigned long long)req->timestamp, r->scratch.len, r->cfg.batch_max_bytes);
		pbft__drop(r, "request larger than a batch");
		return PBFT_OK;
	}
	/* The client table is unknown while the state is being transferred: the request
	 * waits, and is dropped at the end if the new state has executed it. */
	c = NULL;
	pbft__cid(cid, req->client, req->lane);
	if (!pbft__state_unknown(r)) {
		int rc = pbft__client_get(r, cid, &c);
		if (rc)
			return rc;
	}
	if (c && req->timestamp < c->ts) {
		pbft__drop(r, "request older than the client's last executed");
		return PBFT_OK;
	}
	if (c && req->timestamp == c->ts) {
		if (from != WIRE_SENDER_CLIENT)
			return PBFT_OK;
		PBFT_TRACE(r, "request ts %llu already executed -> resend cached reply",
			   (unsigned long long)req->timestamp);
		return pbft__send_reply(r, up, c->key, r->view, c->ts, 0, c->result.p,
					c->result.len);
	}
	p = pbft__pending_find(r, cid);
	if (p && req->timestamp < p->ts) {
		pbft__drop(r, "request older than the client's pending one");
		return PBFT_OK;
	}
	if (p && req->timestamp == p->ts) {
		/* A retransmission: the client timed out; make sure the primary has it. */
		if (from == WIRE_SENDER_CLIENT && r->active && !pbft__is_primary(r))
			return pbft__forward(r, up, req);
		return PBFT_OK;
	}
	wire_request_digest(r->cfg.group, r->cfg.epoch, req, digest);
	if (r->cfg.crypto.check_request(r->cfg.crypto.ctx, req, digest) != 0) {
		pbft__drop(r, "request with a bad authenticator");
		return PBFT_OK;
	}
	if (p)
		pbft__pending_remove(r, p);
	p = pbft__pending_add(r, req, digest);
	if (!p) {
		pbft__drop(r, "pending request queue full");
		return PBFT_OK;
	}
	pbft__timer_request(r, 0);
	if (r->active && !pbft__is_primary(r) && from == WIRE_SENDER_CLIENT) {
		PBFT_TRACE(r, "request ts %llu from client at backup -> forward to primary %u",
			   (unsigned long long)req->timestamp, pbft__primary(r, r->view));
		return pbft__forward(r, up, req);
	}
	return PBFT_OK;
}

/* ---------------------------------------------------------------- batching */
/* The primary proposes while requests wait and the pipeline and window have room. */
int pbft__propose(struct pbft *r, struct pbft_update *up)
{
	uint32_t maxreq = r->cfg.batch_max_requests, maxbytes = r->cfg.batch_max_bytes;
	struct wire_msg m;
	int rc;

	if (!r->active || !pbft__is_primary(r) || !pbft__may_vote(r, r->view))
		return PBFT_OK;
	if (maxreq > r->lim.max_batch_count)
		maxreq = r->lim.max_batch_count;
	if (maxbytes > r->lim.max_batch_bytes)
		maxbytes = r->lim.max_batch_bytes;
	if (r->last_proposed < r->last_executed)
		r->last_proposed = r->last_executed;
	while (r->nqueued > 0 && r->last_proposed - r->last_executed < r->cfg.pipeline &&
	       r->last_proposed + 1 <= r->low + r->L) {
		struct pbft__entry *e;
		struct pbft__batch *b;
		struct wire_batch wb;
		uint32_t count = 0;
		uint64_t seq;

		wire_buf_reset(&r->batchbuf);
		wire_buf_reset(&r->propdig);
		while (r->fifo_head != PBFT__NONE && count < maxreq) {
			struct pbft__pending *p = &r->pending[r->fifo_head];
			struct pbft__client *c = NULL;

			if (!pbft__state_unknown(r)) {
				rc = pbft__client_get(r, p->key, &c);
				if (rc)
					return rc;
			}
			if (c && p->ts <= c->ts) {
				pbft__pending_remove(r, p);
				pbft__drop(r, "queued request already executed");
				continue;
			}
			if (p->enc.len > maxbytes || r->batchbuf.len + p->enc.len > r->lim.max_batch_bytes) {
				if (count == 0) {
					pbft__pending_remove(r, p);
					pbft__drop(r, "request larger than a batch");
					continue;
				}
				break;
			}
			if (count > 0 && r->batchbuf.len + p->enc.len > maxbytes)
				break;
			wire_put_fixed(&r->batchbuf, p->enc.p, p->enc.len);
			wire_put_fixed(&r->propdig, p->digest, WIRE_DIGEST_LEN);
			pbft__fifo_unlink(r, p);
			count++;
		}
		if (wire_buf_error(&r->batchbuf) || wire_buf_error(&r->propdig))
			return PBFT_ERR_NOMEM;
		if (count == 0)
			break;
		seq = r->last_proposed + 1;
		e = pbft__entry(r, seq, 1);
		b = &e->cur;
		wb.time = r->wall;
		wb.count = count;
		wb.reqs.p = r->batchbuf.p;
		wb.reqs.len = (uint32_t)r->batchbuf.len;
		/* Each request was hashed when it arrived (to check its authenticator). */
		wire_batch_digest_of(r->cfg.group, r->cfg.epoch, wb.time, count,
				     (const uint8_t (*)[WIRE_DIGEST_LEN])r->propdig.p, b->digest);
		rc = pbft__batch_set(r, b, &wb, b->digest);
		if (rc)
			return rc;
		e->has_pp = 1;
		e->relayed = 0;
		e->pp_view = r->view;
		e->committed = 0;
		r->last_proposed = seq;
		rc = pbft__pp_record(r, up, e);
		if (rc)
			return rc;
		memset(&m, 0, sizeof(m));
		pbft__hdr(r, &m.hdr, WIRE_PREPREPARE);
		m.u.preprepare.view = r->view;
		m.u.preprepare.seq = seq;
		memcpy(m.u.preprepare.digest, b->digest, WIRE_DIGEST_LEN);
		pbft__batch_view(b, &m.u.preprepare.batch);
		PBFT_TRACE(r, "view %llu: %u requests waiting, pipeline has room -> PRE-PREPARE seq %llu with %u",
			   (unsigned long long)r->view, count + r->nqueued, (unsigned long long)seq, count);
		rc = pbft__send(r, up, PBFT_DEST_OTHERS, 0, NULL, &m);
		if (rc)
			return rc;
	}
	return PBFT_OK;
}

/* ---------------------------------------------------------------- restore */
/* After a state transfer: a waiting request whose timestamp is not above its client's
 * in the new state was executed inside the transferred range; it is dropped. */
int pbft__pending_drop_executed(struct pbft *r)
{
	uint32_t dropped = 0;

	for (uint32_t i = 0; i < r->cfg.max_clients; i++) {
		struct pbft__pending *p = &r->pending[i];
		struct pbft__client *c;
		int rc;

		if (!p->used)
			continue;
		rc = pbft__client_get(r, p->key, &c);
		if (rc)
			return rc;
		if (p->ts <= c->ts) {
			pbft__pending_remove(r, p);
			dropped++;
		}
	}
	if (dropped)
		PBFT_TRACE(r, "state transfer: %u waiting requests executed in the new state -> drop them",
			   dropped);
	return PBFT_OK;
}
