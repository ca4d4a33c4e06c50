/* client.c: the PBFT client as a pure state machine: one outstanding request, f+1
 * matching replies (2f+1 for read-only, retried as ordered when that fails),
 * retransmission to all replicas with a doubling timeout, following the view.
 * Read-only requests may ask for digest replies (Castro and Liskov's optimisation): the
 * designated replier sends the result, the others its digest, and the client accepts
 * the result once the quorum's replies match it. A replier that fails to deliver one
 * (silent, slow or lying) costs that request an ordered retry, and the lane names the
 * next replica from then on. */
#include <stdlib.h>
#include <string.h>

#include "replica/core/pbft.h"

#define PBFT__CLIENT_MAX_N 64u
#define PBFT__CLIENT_MAX_BACKOFF 8u

struct pbft__creply {
	uint8_t set;
	uint8_t have_dg;           /* dg holds the digest of a full result */
	uint64_t agree;            /* bit k: replica k's reply agrees with this one */
	uint64_t view;
	uint32_t flags;
	struct wire_buf result;    /* the result, or its digest (WIRE_REPLY_DIGEST) */
	uint8_t dg[WIRE_DIGEST_LEN];
};

struct pbft_client {
	struct pbft_client_config cfg;
	struct wire_limits lim;
	uint64_t next_ts;
	uint64_t view;             /* believed current view */
	int open;
	int read_only;             /* the outstanding attempt is read-only */
	int digests;               /* ... and asked for digest replies */
	uint32_t replier;          /* the replica named to send the full result */
	uint64_t ts;
	struct wire_buf op;
	uint64_t deadline;
	uint32_t backoff;
	struct pbft__creply *rep;  /* n, by replica */
	struct wire_buf result;
	uint64_t result_ts;
	struct wire_buf auth;
};

int pbft_client_new(const struct pbft_client_config *cfg, struct pbft_client **out)
{
	struct pbft_client *c;

	if (!cfg || !out || cfg->f < 1 || cfg->n != 3 * cfg->f + 1 || cfg->n > PBFT__CLIENT_MAX_N ||
	    cfg->timeout_ms == 0 || !cfg->auth.authenticate)
		return PBFT_ERR_ARG;
	c = calloc(1, sizeof(*c));
	if (!c)
		return PBFT_ERR_NOMEM;
	c->rep = calloc(cfg->n, sizeof(*c->rep));
	if (!c->rep) {
		free(c);
		return PBFT_ERR_NOMEM;
	}
	c->cfg = *cfg;
	c->lim = cfg->limits ? *cfg->limits : wire_limits_default;
	c->cfg.limits = &c->lim;
	if (cfg->lane >= c->lim.max_lanes) {
		free(c->rep);
		free(c);
		return PBFT_ERR_ARG;
	}
	c->next_ts = cfg->first_timestamp ? cfg->first_timestamp : 1;
	/* The client keys and lanes spread the full replies over the replicas. */
	c->replier = (((uint32_t)cfg->key[0] | (uint32_t)cfg->key[1] << 8) + cfg->lane) % cfg->n;
	wire_buf_init(&c->op);
	wire_buf_init(&c->result);
	wire_buf_init(&c->auth);
	for (uint32_t i = 0; i < cfg->n; i++)
		wire_buf_init(&c->rep[i].result);
	*out = c;
	return PBFT_OK;
}

void pbft_client_free(struct pbft_client *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->cfg.n; i++)
		wire_buf_free(&c->rep[i].result);
	free(c->rep);
	wire_buf_free(&c->op);
	wire_buf_free(&c->result);
	wire_buf_free(&c->auth);
	free(c);
}

static int pbft__client_out(struct pbft_update *up, enum pbft_dest dest, uint32_t replica,
			    size_t off)
{
	struct pbft_out *o;

	if (wire_buf_error(&up->msgs))
		return PBFT_ERR_NOMEM;
	if (up->nout == up->capout) {
		size_t cap = up->capout ? up->capout * 2 : 8;
		struct pbft_out *no = realloc(up->out, cap * sizeof(*no));
		if (!no)
			return PBFT_ERR_NOMEM;
		up->out = no;
		up->capout = cap;
	}
	o = &up->out[up->nout++];
	memset(o, 0, sizeof(*o));
	o->dest = dest;
	o->replica = replica;
	o->off = off;
	o->len = up->msgs.len - off;
	return PBFT_OK;
}

/* Send the outstanding request: to the believed primary, or to every replica. */
static int pbft__client_send(struct pbft_client *c, int to_all, struct pbft_update *up)
{
	struct wire_msg m;
	uint8_t digest[WIRE_DIGEST_LEN];
	size_t off = up->msgs.len;
	int rc;

	memset(&m, 0, sizeof(m));
	m.hdr.version = WIRE_VERSION;
	m.hdr.type = WIRE_REQUEST;
	m.hdr.sender = WIRE_SENDER_CLIENT;
	m.hdr.group = c->cfg.group;
	m.hdr.epoch = c->cfg.epoch;
	memcpy(m.u.request.client, c->cfg.key, WIRE_KEY_LEN);
	m.u.request.lane = c->cfg.lane;
	m.u.request.timestamp = c->ts;
	m.u.request.flags = c->read_only ? WIRE_REQ_READ_ONLY : 0;
	if (c->read_only && c->digests)
		m.u.request.flags |= WIRE_REQ_DIGEST_REPLIES | c->replier << WIRE_REQ_REPLIER_SHIFT;
	m.u.request.op.p = c->op.p;
	m.u.request.op.len = (uint32_t)c->op.len;
	wire_request_digest(c->cfg.group, c->cfg.epoch, &m.u.request, digest);
	wire_buf_reset(&c->auth);
	if (c->cfg.auth.authenticate(c->cfg.auth.ctx, digest, &c->auth) != 0)
		return PBFT_ERR_APP;
	if (wire_buf_error(&c->auth))
		return PBFT_ERR_NOMEM;
	m.u.request.auth.p = c->auth.p;
	m.u.request.auth.len = (uint32_t)c->auth.len;
	rc = wire_encode(&up->msgs, &m);
	if (rc != WIRE_OK) {
		up->msgs.len = off;
		return rc == WIRE_ERR_NOMEM ? PBFT_ERR_NOMEM : PBFT_ERR_ARG;
	}
	if (to_all)
		return pbft__client_out(up, PBFT_DEST_OTHERS, 0, off);
	return pbft__client_out(up, PBFT_DEST_REPLICA, (uint32_t)(c->view % c->cfg.n), off);
}

static void pbft__client_clear(struct pbft_client *c)
{
	for (uint32_t i = 0; i < c->cfg.n; i++) {
		c->rep[i].set = 0;
		c->rep[i].agree = 0;
	}
}

/* A fresh attempt (new timestamp) of the outstanding op. */
static int pbft__client_attempt(struct pbft_client *c, uint64_t now, int read_only, int to_all,
				struct pbft_update *up)
{
	c->ts = c->next_ts++;
	c->read_only = read_only;
	c->digests = read_only && c->cfg.digest_replies;
	c->backoff = 1;
	c->deadline = now + c->cfg.timeout_ms;
	pbft__client_clear(c);
	up->deadline = c->deadline;
	return pbft__client_send(c, to_all, up);
}

int pbft_client_invoke(struct pbft_client *c, uint64_t now, const uint8_t *op, size_t len,
		       int read_only, struct pbft_update *up)
{
	if (!c || !up || (len && !op))
		return PBFT_ERR_ARG;
	if (c->open)
		return PBFT_ERR_BUSY;
	if (len > c->lim.max_op)
		return PBFT_ERR_ARG;
	wire_buf_reset(&c->op);
	wire_put_fixed(&c->op, op, len);
	if (wire_buf_error(&c->op))
		return PBFT_ERR_NOMEM;
	c->open = 1;
	/* Read-only requests go to every replica: they need a larger quorum at once. */
	return pbft__client_attempt(c, now, read_only != 0, read_only != 0, up);
}

static uint32_t pbft__client_quorum(const struct pbft_client *c)
{
	if (c->read_only && c->cfg.read_quorum_2f1)
		return 2 * c->cfg.f + 1;
	return c->cfg.f + 1;
}

/* The digest a digest reply would carry for full reply a (computed once). */
static const uint8_t *pbft__client_dg(struct pbft__creply *a)
{
	if (!a->have_dg) {
		wire_result_digest(a->result.p, a->result.len, a->dg);
		a->have_dg = 1;
	}
	return a->dg;
}

/* Two replies agree: the same result, or a result and its digest (a digest stands only
 * for a result a replica may digest, WIRE_REPLY_DIGEST_MIN bytes or more). */
static int pbft__client_same(struct pbft__creply *a, struct pbft__creply *b)
{
	int da = (a->flags & WIRE_REPLY_DIGEST) != 0, db = (b->flags & WIRE_REPLY_DIGEST) != 0;

	if (da == db)
		return a->flags == b->flags && a->result.len == b->result.len &&
		       (a->result.len == 0 || memcmp(a->result.p, b->result.p, a->result.len) == 0);
	if (da) {
		struct pbft__creply *t = a;
		a = b;
		b = t;
	}
	/* a is full, b a digest */
	return (a->flags | WIRE_REPLY_DIGEST) == b->flags && a->result.len >= WIRE_REPLY_DIGEST_MIN &&
	       memcmp(pbft__client_dg(a), b->result.p, WIRE_DIGEST_LEN) == 0;
}

/* The named replier failed this lane's read-only request: name the next one. */
static void pbft__client_next_replier(struct pbft_client *c)
{
	if (c->digests)
		c->replier = (c->replier + 1) % c->cfg.n;
}

static int pbft__client_reply(struct pbft_client *c, const struct pbft_event *ev,
			      struct pbft_update *up)
{
	const struct wire_msg *m = ev->msg;
	const struct wire_reply *rp = &m->u.reply;
	struct pbft__creply *slot, *full = NULL;
	uint32_t quorum = pbft__client_quorum(c), replied = 0, best = 0, accept = UINT32_MAX;
	uint32_t allowed = c->read_only ? WIRE_REPLY_READ_ONLY | (c->digests ? WIRE_REPLY_DIGEST : 0) : 0;
	int stuck = 0;
	uint64_t minview = UINT64_MAX;

	if (m->hdr.type != WIRE_REPLY || ev->from >= c->cfg.n || m->hdr.sender != ev->from ||
	    m->hdr.group != c->cfg.group || m->hdr.epoch != c->cfg.epoch)
		return 0;
	if (!c->open || rp->timestamp != c->ts || rp->lane != c->cfg.lane ||
	    memcmp(rp->client, c->cfg.key, WIRE_KEY_LEN) != 0 ||
	    ((rp->flags & WIRE_REPLY_READ_ONLY) != 0) != (c->read_only != 0) ||
	    (rp->flags & ~allowed))
		return 0;
	slot = &c->rep[ev->from];
	slot->set = 1;
	slot->have_dg = 0;
	slot->view = rp->view;
	slot->flags = rp->flags;
	wire_buf_reset(&slot->result);
	wire_put_fixed(&slot->result, rp->result.p, rp->result.len);
	if (wire_buf_error(&slot->result)) {
		slot->set = 0;
		return PBFT_ERR_NOMEM;
	}
	/* Only this reply is new: compare it with each other one, once (n results, not n^2
	 * per reply); the groups below read the agreement bits. */
	slot->agree = 0;
	for (uint32_t k = 0; k < c->cfg.n; k++) {
		uint64_t bit = 1ull << ev->from;
		if (k == ev->from || !c->rep[k].set) {
			c->rep[k].agree &= ~bit;
			continue;
		}
		if (pbft__client_same(slot, &c->rep[k])) {
			slot->agree |= 1ull << k;
			c->rep[k].agree |= bit;
		} else {
			c->rep[k].agree &= ~bit;
		}
	}
	/* Group the replies by agreement; a group of quorum size is accepted if it holds a
	 * full result (with digest replies the named replier's, or a short one). */
	for (uint32_t j = 0; j < c->cfg.n; j++) {
		uint32_t same = 0;
		struct pbft__creply *f = NULL;

		if (!c->rep[j].set)
			continue;
		replied++;
		for (uint32_t k = 0; k < c->cfg.n; k++) {
			if (!c->rep[k].set || (k != j && !(c->rep[j].agree >> k & 1)))
				continue;
			same++;
			if (!(c->rep[k].flags & WIRE_REPLY_DIGEST))
				f = &c->rep[k];
		}
		if (same > best)
			best = same;
		if (same >= quorum && f == NULL)
			stuck = 1;
		if (same >= quorum && f != NULL && accept == UINT32_MAX) {
			accept = j;
			full = f;
		}
	}
	if (accept != UINT32_MAX) {
		for (uint32_t k = 0; k < c->cfg.n; k++)
			if (c->rep[k].set && (k == accept || (c->rep[accept].agree >> k & 1)) &&
			    c->rep[k].view < minview)
				minview = c->rep[k].view;
		/* Accepted. The lowest view among the matching replies is one a correct
		 * replica is at or beyond: follow it. */
		wire_buf_reset(&c->result);
		wire_put_fixed(&c->result, full->result.p, full->result.len);
		if (wire_buf_error(&c->result))
			return PBFT_ERR_NOMEM;
		c->result_ts = c->ts;
		if (minview > c->view)
			c->view = minview;
		c->open = 0;
		c->deadline = 0;
		return 1;
	}
	if (c->read_only && (best + (c->cfg.n - replied) < quorum ||
			     (stuck && c->rep[c->replier].set))) {
		/* The read-only replies can no longer agree, or a quorum agrees on a digest
		 * the named replier did not send the result of: order it instead. */
		if (stuck)
			pbft__client_next_replier(c);
		return pbft__client_attempt(c, ev->now, 0, 1, up);
	}
	return 0;
}

int pbft_client_step(struct pbft_client *c, const struct pbft_event *ev, struct pbft_update *up)
{
	int rc = 0;

	if (!c || !ev || !up)
		return PBFT_ERR_ARG;
	if (ev->type == PBFT_EV_MESSAGE) {
		if (!ev->msg)
			return 0;
		rc = pbft__client_reply(c, ev, up);
	} else if (ev->type == PBFT_EV_TICK) {
		if (c->open && c->deadline && ev->now >= c->deadline) {
			if (c->read_only) {
				pbft__client_next_replier(c);
				rc = pbft__client_attempt(c, ev->now, 0, 1, up);
			} else {
				if (c->backoff < PBFT__CLIENT_MAX_BACKOFF)
					c->backoff *= 2;
				c->deadline = ev->now + c->cfg.timeout_ms * c->backoff;
				rc = pbft__client_send(c, 1, up);
			}
		}
	} else {
		return PBFT_ERR_ARG;
	}
	if (rc < 0)
		return rc;
	up->deadline = c->open ? c->deadline : 0;
	return rc;
}

uint64_t pbft_client_last_timestamp(const struct pbft_client *c)
{
	return c->ts;
}

struct wire_bytes pbft_client_result(const struct pbft_client *c, uint64_t *timestamp)
{
	struct wire_bytes b = { c->result.p, (uint32_t)c->result.len };

	if (timestamp)
		*timestamp = c->result_ts;
	return b;
}
