/* byzclient.c: a Byzantine client (sim_params.byz_client: the last client). It runs no
 * client state machine: every few milliseconds it sends the replicas one request built
 * to hurt, drawn from the kinds below, and ignores every reply. The checker holds it to
 * what correct replicas must guarantee whatever a client sends: a request executes only
 * if its authenticator is the client's (so a forged, badly tagged or unknown client's
 * one is never executed: sim_check_request fails on a timestamp the client never issued or
 * an unknown client), at most once per timestamp and alike everywhere (a replayed or
 * conflicting one), and correct clients keep completing (sim_check_liveness).
 *
 * One kind is the faulty-client MAC attack on PBFT (Aardvark): tags right for one
 * replica only, so a primary may order what its backups cannot check; they refuse the
 * batch and the group changes view. Here it is a tenth of one client's requests, and
 * the group must stay safe and live through the view changes it causes; a client doing
 * nothing else can keep a group changing views, which is why bulwark has robust mode
 * (signed requests, docs/OPERATIONS.md `client_auth`), where the kind is a bad
 * signature. */
#include "tests/sim/sim.h"

#include <inttypes.h>
#include <string.h>

enum byzc_kind {
	BYZC_VALID,      /* a well-formed request, authenticated, fresh timestamp */
	BYZC_REPLAY,     /* the last valid request again, byte for byte */
	BYZC_CONFLICT,   /* two ops under one fresh timestamp, to two sets of replicas */
	BYZC_FORGE,      /* client 0's identity, this client's own tags or signature */
	BYZC_BADAUTH,    /* own identity, random tags or signature */
	BYZC_PARTIAL,    /* own identity, tags right for one replica only (the MAC attack) */
	BYZC_BADLANE,    /* own key, a lane no client of the run has: in the simulator only
			  * the run's (key, lane) pairs are clients (sim_client_index) */
	BYZC_GARBAGE_OP, /* authenticated, an op the service cannot parse */
	BYZC_BADFLAGS,   /* authenticated, flag bits no request may carry */
	BYZC_OVERSIZE,   /* authenticated, larger than any batch */
	BYZC_RO_WRITE,   /* a write op marked read-only */
	BYZC_FUTURE_TS,  /* authenticated, a timestamp 2^32 ahead */
	BYZC_KINDS
};

static const char *const byzc_names[BYZC_KINDS] = {
	"valid", "replay", "conflict", "forge", "bad-auth", "partial-auth", "bad-lane", "garbage-op",
	"bad-flags", "oversize", "read-only-write", "future-ts",
};

/* Authenticate req (its digest) as the client key kc would: MAC tags for every replica
 * or a signature; random bytes of the same length when bad, except the tag of replica
 * good (when below n). */
static int byzc_auth(struct sim *s, uint32_t kc, struct wire_request *req, int bad,
		     uint32_t good, struct wire_buf *auth)
{
	uint8_t digest[WIRE_DIGEST_LEN], tag[WIRE_SIG_LEN];

	wire_request_digest(SIM_GROUP, SIM_EPOCH, req, digest);
	wire_buf_reset(auth);
	if (s->p.robust) {
		if (bad) {
			for (size_t i = 0; i < WIRE_SIG_LEN; i++)
				tag[i] = (uint8_t)sim_rng_below(&s->rng, 256);
		} else if (crypto_ed25519_sign(&s->keys->client[kc], digest, WIRE_DIGEST_LEN, tag) != 0) {
			return -1;
		}
		wire_put_fixed(auth, tag, WIRE_SIG_LEN);
	} else {
		for (uint32_t i = 0; i < s->p.n; i++) {
			if (bad && i != good) {
				for (size_t b = 0; b < WIRE_TAG_LEN; b++)
					tag[b] = (uint8_t)sim_rng_below(&s->rng, 256);
			} else if (crypto_hmac_tag((struct crypto_hmac *)&s->keys->mac[kc][i], digest,
						   WIRE_DIGEST_LEN, NULL, 0, tag, WIRE_TAG_LEN) != 0) {
				return -1;
			}
			wire_put_fixed(auth, tag, WIRE_TAG_LEN);
		}
	}
	if (wire_buf_error(auth))
		return -1;
	req->auth.p = auth->p;
	req->auth.len = (uint32_t)auth->len;
	return 0;
}

/* The request's flags field in an encoded REQUEST: header, client key, lane, timestamp. */
#define BYZC_FLAGS_AT (WIRE_HDR_LEN + WIRE_KEY_LEN + 4u + 8u)

/* Encode req into out (reset first). The encoder refuses flags no request may carry:
 * such a request is encoded without them and they are written in afterwards. */
static int byzc_encode(struct wire_buf *out, const struct wire_request *req)
{
	struct wire_msg m;
	uint32_t flags = req->flags;

	memset(&m, 0, sizeof(m));
	m.hdr.version = WIRE_VERSION;
	m.hdr.type = WIRE_REQUEST;
	m.hdr.sender = WIRE_SENDER_CLIENT;
	m.hdr.group = SIM_GROUP;
	m.hdr.epoch = SIM_EPOCH;
	m.u.request = *req;
	if (!wire_req_flags_ok(flags))
		m.u.request.flags = 0;
	wire_buf_reset(out);
	if (wire_encode(out, &m) != WIRE_OK || wire_buf_error(out) || out->len < BYZC_FLAGS_AT + 4)
		return -1;
	for (unsigned i = 0; i < 4; i++)
		out->p[BYZC_FLAGS_AT + i] = (uint8_t)(flags >> (8 * i));
	return 0;
}

/* Send bytes to each replica in mask (bit i: replica i). */
static void byzc_send(struct sim *s, struct sim_client *c, uint64_t mask, const uint8_t *p,
		      size_t len)
{
	for (uint32_t i = 0; i < s->p.n; i++)
		if (mask & (1ull << i))
			sim_net_send(s, 1, c->idx, 0, i, p, len);
}

/* A random valid op of the service on the run's keys. */
static size_t byzc_op(struct sim *s, uint8_t *buf)
{
	const char *key = sim_key_names[sim_rng_below(&s->rng, s->p.nkeys < SIM_MAX_KEYS ? s->p.nkeys
											   : SIM_MAX_KEYS)];
	uint8_t val[8];

	switch (sim_rng_below(&s->rng, 3)) {
	case 0:
		for (size_t i = 0; i < sizeof(val); i++)
			val[i] = (uint8_t)('A' + sim_rng_below(&s->rng, 26));
		return sim_op_put(buf, key, val, 1 + sim_rng_below(&s->rng, sizeof(val)));
	case 1:
		return sim_op_key(buf, 'I', key);
	default:
		return sim_op_key(buf, 'D', key);
	}
}

/* The client issued ts: the checker lets replicas execute up to it. */
static void byzc_issued(struct sim *s, struct sim_client *c, uint64_t ts)
{
	if (ts > s->hist[c->idx].issued_max)
		s->hist[c->idx].issued_max = ts;
}

void sim_byz_client_act(struct sim *s, struct sim_client *c)
{
	uint32_t kc = c->idx / SIM_LANES, all = (uint32_t)((1ull << s->p.n) - 1);
	enum byzc_kind kind = (enum byzc_kind)sim_rng_below(&s->rng, BYZC_KINDS);
	uint64_t mask = 1 + sim_rng_below(&s->rng, all); /* a non-empty set of replicas */
	struct wire_buf *out = &c->byz_out, *auth = &c->byz_auth;
	struct wire_request req;
	uint8_t op[64];
	uint32_t good = UINT32_MAX;
	int bad = 0, issued = 1, rc;

	if (s->now >= s->p.issue_until_ms && !s->drain_load) {
		c->parked = 1;
		return;
	}
	if (kind == BYZC_REPLAY && c->byz_last.len > 0) {
		byzc_send(s, c, mask, c->byz_last.p, c->byz_last.len);
		goto next;
	}
	memset(&req, 0, sizeof(req));
	memcpy(req.client, s->keys->client[kc].pub, WIRE_KEY_LEN);
	req.lane = c->idx % SIM_LANES;
	req.timestamp = c->byz_ts + 1;
	req.op.p = op;
	req.op.len = (uint32_t)byzc_op(s, op);
	switch (kind) {
	case BYZC_FORGE:
		memcpy(req.client, s->keys->client[0].pub, WIRE_KEY_LEN);
		req.lane = 0;
		req.timestamp = s->hist[0].issued_max + 1000;
		issued = 0;
		break;
	case BYZC_BADAUTH:
		bad = 1;
		issued = 0;
		break;
	case BYZC_PARTIAL:
		bad = 1;
		good = (uint32_t)sim_rng_below(&s->rng, s->p.n);
		issued = 0; /* never executable: 2f+1 replicas must check it */
		break;
	case BYZC_BADLANE:
		req.lane = (uint32_t)(SIM_LANES + sim_rng_below(&s->rng, 3));
		issued = 0;
		break;
	case BYZC_GARBAGE_OP:
		req.op.len = (uint32_t)sim_rng_below(&s->rng, 24);
		for (uint32_t i = 0; i < req.op.len; i++)
			op[i] = (uint8_t)sim_rng_below(&s->rng, 256);
		break;
	case BYZC_BADFLAGS:
		req.flags = (uint32_t)(1u << (3 + sim_rng_below(&s->rng, 5)));
		issued = 0;
		break;
	case BYZC_OVERSIZE:
		wire_buf_reset(&c->byz_big);
		for (uint32_t i = 0; i < s->p.batch_max_bytes + 64; i++)
			wire_put_u8(&c->byz_big, (uint8_t)i);
		if (wire_buf_error(&c->byz_big)) {
			sim_fail(s, "out of memory in the Byzantine client");
			return;
		}
		req.op.p = c->byz_big.p;
		req.op.len = (uint32_t)c->byz_big.len;
		issued = 0;
		break;
	case BYZC_RO_WRITE:
		req.flags = WIRE_REQ_READ_ONLY;
		issued = 0; /* never ordered: it is no client's request to execute */
		break;
	case BYZC_FUTURE_TS:
		req.timestamp = c->byz_ts + (1ull << 32);
		break;
	default:
		break;
	}
	/* A forger has only its own keys: its tags or signature, client 0's identity. */
	rc = byzc_auth(s, kc, &req, bad, good, auth);
	if (rc == 0)
		rc = byzc_encode(out, &req);
	if (rc != 0) {
		sim_fail(s, "Byzantine client: cannot build a %s request", byzc_names[kind]);
		return;
	}
	if (issued) {
		c->byz_ts = req.timestamp;
		byzc_issued(s, c, req.timestamp);
		wire_buf_reset(&c->byz_last);
		wire_put_fixed(&c->byz_last, out->p, out->len);
	}
	byzc_send(s, c, mask, out->p, out->len);
	if (kind == BYZC_CONFLICT && mask != all) {
		/* The same timestamp with another op, to the other replicas. */
		req.op.p = op;
		req.op.len = (uint32_t)byzc_op(s, op);
		if (byzc_auth(s, kc, &req, 0, UINT32_MAX, auth) != 0 || byzc_encode(out, &req) != 0) {
			sim_fail(s, "Byzantine client: cannot build a conflicting request");
			return;
		}
		byzc_send(s, c, all & ~mask, out->p, out->len);
	}
	if (s->verbose)
		sim_log(s, "client %u (Byzantine): %s request ts %" PRIu64 " to replicas %#llx",
			c->idx, byzc_names[kind], req.timestamp, (unsigned long long)mask);
next:
	sim_schedule(s, s->now + 2 + sim_rng_below(&s->rng, 10), SIM_EV_CLIENT_START, c->idx);
}
