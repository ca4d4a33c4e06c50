/* group.c: libbulwark's group client: the session (config, key, one authenticated
 * connection per replica, shared by the key's lanes), the lanes with their PBFT client
 * machines driven by replies and timers, request authenticators, and the asynchronous
 * operations with their completion callbacks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/lib/client_int.h"
#include "common/config.h"
#include "wire/kv.h"

/* The lane table's first size; it doubles up to the session's max_lanes. */
#define BULWARK__LANES_INITIAL 8u

_Static_assert(BULWARK_MAX_LANES == WIRE_MAX_LANES,
	       "bulwark.h promises the group's default lane limit");

uint64_t bulwark__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t bulwark__wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t bulwark__wall_ms(void)
{
	return bulwark__wall_us() / 1000u;
}

/* The clocks as of this loop iteration: read once per iteration, not per reply (a
 * lane's replies and timers need milliseconds; libev's ev_now is as coarse). */
static void bulwark__clock(struct bulwark__session *s, uint64_t *now, uint64_t *wall)
{
	unsigned int iter = ev_iteration(s->loop);

	if (!s->clock_valid || s->clock_iter != iter) {
		s->clock_now = bulwark__now_ms();
		s->clock_wall = bulwark__wall_ms();
		s->clock_iter = iter;
		s->clock_valid = 1;
	}
	*now = s->clock_now;
	if (wall != NULL)
		*wall = s->clock_wall;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- deadlines */
static uint64_t bulwark__quorum_wait_ms(const struct bulwark__session *s)
{
	return s->retrans_ms < BULWARK__QUORUM_WAIT_MS ? s->retrans_ms : BULWARK__QUORUM_WAIT_MS;
}

/* Whether a waiting request may go out now: every replica connected, or 2f+1 of them
 * and a short wait, or the retransmission timeout since the open. Once true, true. */
static int bulwark__ready(struct bulwark__session *s, uint64_t now)
{
	if (!s->settled &&
	    (s->nup == s->n || now >= s->open_ms + s->retrans_ms ||
	     (s->nup >= 2 * s->f + 1 && now >= s->open_ms + bulwark__quorum_wait_ms(s))))
		s->settled = 1;
	return s->settled;
}

static uint64_t bulwark__min_deadline(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

/* Recompute the lane's timer from its deadlines. Most calls (each reply of an op)
 * leave the deadline as it was: the timer is then left alone. */
static void bulwark__arm(struct bulwark_client *c)
{
	struct bulwark__session *s = c->s;
	uint64_t when = 0, now;

	if (c->busy && !c->finished) {
		when = bulwark__min_deadline(when, c->op_deadline);
		if (c->invoked) {
			when = bulwark__min_deadline(when, c->mach_deadline);
		} else if (!s->settled) {
			when = bulwark__min_deadline(when, s->open_ms + s->retrans_ms);
			if (s->nup >= 2 * s->f + 1)
				when = bulwark__min_deadline(when, s->open_ms + bulwark__quorum_wait_ms(s));
		}
	}
	if (when == c->armed && (!when || ev_is_active(&c->timer)))
		return;
	ev_timer_stop(s->loop, &c->timer);
	c->armed = when;
	if (!when)
		return;
	bulwark__clock(s, &now, NULL);
	ev_timer_set(&c->timer, when > now ? (double)(when - now) / 1000.0 : 0.0, 0.0);
	ev_timer_start(s->loop, &c->timer);
}

/* ---------------------------------------------------------------- completion */
/* Store the outcome and feed the delivery watcher: user callbacks never run inside net
 * callbacks or inside bulwark_submit. */
static void bulwark__finish(struct bulwark_client *c, int status)
{
	c->res.status = status;
	c->finished = 1;
	c->mach_deadline = 0;
	ev_feed_event(c->s->loop, &c->done_w, EV_CUSTOM);
}

/* The machine accepted f+1 (2f+1) matching replies: decode the KV result. */
static void bulwark__finish_reply(struct bulwark_client *c)
{
	struct wire_bytes r = pbft_client_result(c->pc, NULL);
	struct wire_kv_result kr;
	int status;

	memset(&c->res, 0, sizeof(c->res));
	if (c->op_type == 0) { /* the null op: its result is empty */
		bulwark__finish(c, r.len == 0 ? BULWARK_OK : BULWARK_ERR_PROTOCOL);
		return;
	}
	if (c->op_type == BULWARK__OP_RAW) { /* bulwark_submit_raw: the result as agreed */
		wire_buf_reset(&c->resbuf);
		wire_put_fixed(&c->resbuf, r.p, r.len);
		if (wire_buf_error(&c->resbuf)) {
			bulwark__finish(c, BULWARK_ERR_NOMEM);
			return;
		}
		c->res.value = c->resbuf.p ? c->resbuf.p : (const uint8_t *)"";
		c->res.value_len = c->resbuf.len;
		bulwark__finish(c, BULWARK_OK);
		return;
	}
	if (wire_kv_decode_result(r.p, r.len, BULWARK_MAX_VALUE, &kr) != WIRE_OK) {
		bulwark__finish(c, BULWARK_ERR_PROTOCOL);
		return;
	}
	switch (kr.status) {
	case WIRE_KV_OK:
		status = BULWARK_OK;
		c->res.version = kr.version;
		if (c->op_type == WIRE_KV_GET) {
			wire_buf_reset(&c->resbuf);
			wire_put_fixed(&c->resbuf, kr.value.p, kr.value.len);
			if (wire_buf_error(&c->resbuf)) {
				c->res.version = 0;
				status = BULWARK_ERR_NOMEM;
				break;
			}
			c->res.value = c->resbuf.p ? c->resbuf.p : (const uint8_t *)"";
			c->res.value_len = c->resbuf.len;
		}
		break;
	case WIRE_KV_NOT_FOUND:
		status = BULWARK_ERR_NOT_FOUND;
		break;
	case WIRE_KV_CAS_MISMATCH:
		status = BULWARK_ERR_CAS_MISMATCH;
		c->res.version = kr.version;
		break;
	case WIRE_KV_TOO_BIG:
		status = BULWARK_ERR_TOO_BIG;
		c->res.limit = kr.limit;
		break;
	case WIRE_KV_BAD_OP:
		status = BULWARK_ERR_REJECTED;
		break;
	default:
		status = BULWARK_ERR_PROTOCOL;
		break;
	}
	bulwark__finish(c, status);
}

static void bulwark__lane_destroy(struct bulwark_client *c);

/* A new client machine after an abandoned request: timestamps continue above every one
 * sent, the view is learnt again from the next replies. */
static int bulwark__machine_new(struct bulwark_client *c);

/* The machine still holds an abandoned request: replace it now, or (out of memory) at
 * the next submit. */
static void bulwark__abandon(struct bulwark_client *c)
{
	c->stale = 1;
	if (bulwark__machine_new(c) == BULWARK_OK)
		c->stale = 0;
}

/* Hand the stored result to the user; the lane is idle while the callback runs. */
static void bulwark__deliver(struct bulwark_client *c)
{
	struct bulwark_result res = c->res;
	bulwark_done_fn done = c->done;
	void *arg = c->done_arg;

	c->busy = 0;
	c->invoked = 0;
	c->finished = 0;
	c->op_deadline = 0;
	c->mach_deadline = 0;
	c->done = NULL;
	c->done_arg = NULL;
	bulwark__arm(c);
	c->cb_depth++;
	done(arg, &res);
	c->cb_depth--;
}

static void bulwark__done_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct bulwark_client *c = w->data;

	(void)loop;
	(void)revents;
	if (!c->busy || !c->finished)
		return;
	bulwark__deliver(c);
	if (c->closing && c->cb_depth == 0)
		bulwark__lane_destroy(c);
}

/* ---------------------------------------------------------------- sending */
static void bulwark__send_all(struct bulwark__session *s, const uint8_t *msg, size_t len)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->rep[i].conn)
			(void)net_send(s->rep[i].conn, msg, len); /* a drop is retransmitted */
	}
}

/* Send what the machine's update says. An ordered request for a primary we have no
 * connection to goes to every replica instead: the backups forward it. net/ queues
 * the frames and writes each connection's queue once per loop turn, so the requests of
 * every lane sent in one turn share one write per replica. */
static void bulwark__flush(struct bulwark_client *c)
{
	struct bulwark__session *s = c->s;
	uint64_t ts = c->pc != NULL ? pbft_client_last_timestamp(c->pc) : 0;

	if (ts > s->last_ts)
		s->last_ts = ts;
	for (size_t i = 0; i < s->up.nout; i++) {
		const struct pbft_out *o = &s->up.out[i];
		const uint8_t *msg = s->up.msgs.p + o->off;

		if (o->dest == PBFT_DEST_REPLICA && o->replica < s->n && s->rep[o->replica].conn)
			(void)net_send(s->rep[o->replica].conn, msg, o->len);
		else if (o->dest == PBFT_DEST_REPLICA || o->dest == PBFT_DEST_OTHERS)
			bulwark__send_all(s, msg, o->len);
	}
	c->mach_deadline = s->up.deadline;
	pbft_update_reset(&s->up);
}

static int bulwark__pbft_err(int rc)
{
	switch (rc) {
	case PBFT_ERR_NOMEM: return BULWARK_ERR_NOMEM;
	case PBFT_ERR_APP: return BULWARK_ERR_CRYPTO; /* our authenticator failed */
	case PBFT_ERR_BUSY: return BULWARK_ERR_BUSY;
	default: return BULWARK_ERR_ARG;
	}
}

/* Give the waiting operation to the machine. */
static int bulwark__invoke(struct bulwark_client *c, uint64_t now)
{
	struct bulwark__session *s = c->s;
	int rc;

	pbft_update_reset(&s->up);
	rc = pbft_client_invoke(c->pc, now, c->op.p, c->op.len, c->op_type == WIRE_KV_GET, &s->up);
	if (rc != PBFT_OK) {
		pbft_update_reset(&s->up);
		return bulwark__pbft_err(rc);
	}
	c->invoked = 1;
	bulwark__flush(c);
	return BULWARK_OK;
}

/* A waiting operation whose connections are now ready goes out; a failure completes it. */
static void bulwark__maybe_invoke(struct bulwark_client *c, uint64_t now)
{
	int rc;

	if (!c->busy || c->invoked || c->finished || !bulwark__ready(c->s, now))
		return;
	rc = bulwark__invoke(c, now);
	if (rc != BULWARK_OK)
		bulwark__finish(c, rc);
}

/* The connection set-up wait may be over: send every lane's waiting operation, and
 * re-arm the lanes that still wait (2f+1 connections shorten the wait). Lanes wait
 * only until the session has settled, so this runs during the set-up alone. */
static void bulwark__wake_lanes(struct bulwark__session *s, uint64_t now)
{
	for (uint32_t i = 0; i < s->cap; i++) {
		struct bulwark_client *c = s->lanes[i];

		if (!c || !c->busy || c->invoked || c->finished)
			continue;
		bulwark__maybe_invoke(c, now);
		bulwark__arm(c);
	}
}

/* MAC tags with each connection's session key (zeros where there is none), or one
 * signature by the client key. ctx is the session. */
static int bulwark__authenticate(void *ctx, const uint8_t digest[WIRE_DIGEST_LEN],
				 struct wire_buf *auth)
{
	struct bulwark__session *s = ctx;
	uint8_t tag[WIRE_SIG_LEN];

	if (s->sign_requests) {
		if (crypto_ed25519_sign(&s->key, digest, WIRE_DIGEST_LEN, tag) != CRYPTO_OK)
			return -1;
		wire_put_fixed(auth, tag, WIRE_SIG_LEN);
		return 0;
	}
	for (uint32_t i = 0; i < s->n; i++) {
		memset(tag, 0, WIRE_TAG_LEN);
		if (s->rep[i].conn &&
		    crypto_hmac_tag(&s->rep[i].mac, digest, WIRE_DIGEST_LEN, NULL, 0, tag,
				    WIRE_TAG_LEN) != CRYPTO_OK)
			return -1;
		wire_put_fixed(auth, tag, WIRE_TAG_LEN);
	}
	return 0;
}

/* The lane's first timestamp is above every one its session has sent, under any lane
 * number: a machine replacing an abandoned one, and a lane reusing the number of a
 * closed one, can never repeat a (lane, timestamp) the group has seen, and a late reply
 * to the old requests never matches the new ones. Across processes the wall clock
 * keeps timestamps increasing, as for lane 0. */
static int bulwark__machine_new(struct bulwark_client *c)
{
	struct bulwark__session *s = c->s;
	struct pbft_client_config pc;
	struct pbft_client *m;
	uint64_t first = bulwark__wall_us();
	int rc;

	if (first <= s->last_ts)
		first = s->last_ts + 1;
	memset(&pc, 0, sizeof(pc));
	pc.n = s->n;
	pc.f = s->f;
	pc.group = s->group;
	pc.epoch = s->epoch;
	memcpy(pc.key, s->key.pub, WIRE_KEY_LEN);
	pc.lane = c->lane;
	pc.timeout_ms = s->retrans_ms;
	pc.first_timestamp = first;
	pc.read_quorum_2f1 = s->read_quorum_2f1;
	pc.digest_replies = 1; /* one full result per read, digests from the others */
	pc.limits = &s->lim;
	pc.auth.ctx = s;
	pc.auth.authenticate = bulwark__authenticate;
	rc = pbft_client_new(&pc, &m);
	if (rc != PBFT_OK)
		return bulwark__pbft_err(rc);
	pbft_client_free(c->pc);
	c->pc = m;
	return BULWARK_OK;
}

/* ---------------------------------------------------------------- the timer */
static void bulwark__timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bulwark_client *c = w->data;
	struct bulwark__session *s = c->s;
	uint64_t now = bulwark__now_ms();

	(void)loop;
	(void)revents;
	if (c->busy && !c->finished) {
		if (c->op_deadline && now >= c->op_deadline) {
			memset(&c->res, 0, sizeof(c->res));
			if (c->invoked)
				bulwark__abandon(c);
			bulwark__finish(c, BULWARK_ERR_TIMEOUT);
		} else if (!c->invoked) {
			bulwark__wake_lanes(s, now); /* this lane and every other waiting one */
		} else if (c->mach_deadline && now >= c->mach_deadline) {
			struct pbft_event ev;
			int rc;

			memset(&ev, 0, sizeof(ev));
			ev.type = PBFT_EV_TICK;
			ev.now = now;
			ev.wall = bulwark__wall_ms();
			pbft_update_reset(&s->up);
			rc = pbft_client_step(c->pc, &ev, &s->up);
			if (rc < 0) {
				pbft_update_reset(&s->up);
				memset(&c->res, 0, sizeof(c->res));
				bulwark__abandon(c);
				bulwark__finish(c, bulwark__pbft_err(rc));
			} else {
				bulwark__flush(c);
				if (rc == 1)
					bulwark__finish_reply(c);
			}
		}
	}
	bulwark__arm(c);
}

/* ---------------------------------------------------------------- net callbacks */
static int bulwark__conn_id(const struct bulwark__session *s, const struct net_conn *conn,
			    uint32_t *id)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->rep[i].conn == conn) {
			*id = i;
			return 1;
		}
	}
	return 0;
}

static void bulwark__on_up(void *ctx, struct net_conn *conn, const struct net_peer *peer)
{
	struct bulwark__session *s = ctx;
	struct bulwark__replica *r;

	if (peer->role != NET_ROLE_REPLICA || peer->replica_id >= s->n) {
		net_conn_close(conn);
		return;
	}
	r = &s->rep[peer->replica_id];
	if (r->conn) {
		/* One connection per replica: the newer one wins. */
		net_conn_close(r->conn);
		crypto_hmac_free(&r->mac);
		r->conn = NULL;
		s->nup--;
	}
	if (crypto_hmac_init(&r->mac, net_conn_auth_key(conn), NET_AUTH_KEY_LEN) != CRYPTO_OK) {
		/* Without a MAC key our tags for this replica would be wrong: stay unconnected
		 * (the dial is retried after the drop). */
		net_conn_close(conn);
		return;
	}
	r->conn = conn;
	r->info_asked = 0;
	s->nup++;
	bulwark__status_up(s, peer->replica_id);
	if (!s->settled)
		bulwark__wake_lanes(s, bulwark__now_ms());
}

static void bulwark__on_down(void *ctx, struct net_conn *conn, int reason)
{
	struct bulwark__session *s = ctx;
	uint32_t id;

	(void)reason;
	if (!bulwark__conn_id(s, conn, &id))
		return;
	crypto_hmac_free(&s->rep[id].mac);
	s->rep[id].conn = NULL;
	s->rep[id].info_asked = 0;
	s->nup--;
}

/* A reply for lane c from replica id, decoded once by the session. */
static void bulwark__on_reply(struct bulwark_client *c, uint32_t id, const struct wire_msg *m)
{
	struct bulwark__session *s = c->s;
	struct pbft_event ev;
	int rc;

	if (!c->busy || !c->invoked || c->finished)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_MESSAGE;
	bulwark__clock(s, &ev.now, &ev.wall);
	ev.msg = m;
	ev.from = id;
	pbft_update_reset(&s->up);
	rc = pbft_client_step(c->pc, &ev, &s->up);
	if (rc < 0) {
		pbft_update_reset(&s->up);
		memset(&c->res, 0, sizeof(c->res));
		bulwark__abandon(c);
		bulwark__finish(c, bulwark__pbft_err(rc));
		return;
	}
	bulwark__flush(c);
	if (rc == 1)
		bulwark__finish_reply(c);
	bulwark__arm(c);
}

static void bulwark__on_frame(void *ctx, struct net_conn *conn, const uint8_t *payload, size_t len)
{
	struct bulwark__session *s = ctx;
	struct wire_hdr hdr;
	struct wire_bytes body;
	struct wire_msg m;
	uint32_t id;

	if (!bulwark__conn_id(s, conn, &id))
		return;
	if (wire_decode_hdr(payload, len, &hdr, &body) != WIRE_OK)
		return;
	if (hdr.type == WIRE_REPLY) {
		/* Decoded once, handed to the lane it names; a lane that is not open (closed,
		 * or never opened) gets nothing. The lane's machine checks the rest. */
		if (wire_decode(payload, len, &s->lim, &m) == WIRE_OK && m.u.reply.lane < s->cap &&
		    s->lanes[m.u.reply.lane])
			bulwark__on_reply(s->lanes[m.u.reply.lane], id, &m);
	} else if (hdr.type == WIRE_INFO) {
		bulwark__status_info(s, id, payload, len);
	} else if (hdr.type == BULWARK__CHUNK_RECEIPT_TYPE) {
		bulwark__chunk_receipt(s, id, payload, len);
	}
	/* Anything else is not for a client: ignored. */
}

/* ---------------------------------------------------------------- the session */
static int bulwark__load_key(struct bulwark__session *s, const char *key_path, char *err,
			     size_t errlen)
{
	char why[256] = "";
	int rc;

	if (!key_path) {
		if (crypto_ed25519_generate(&s->key) != CRYPTO_OK) {
			set_err(err, errlen, "ephemeral client key: Ed25519 key generation failed");
			return BULWARK_ERR_CRYPTO;
		}
		return BULWARK_OK;
	}
	rc = crypto_ed25519_load_private(&s->key, key_path, why, sizeof(why));
	if (rc != CRYPTO_OK) {
		if (why[0])
			set_err(err, errlen, "client key: %s", why);
		else
			set_err(err, errlen, "client key %s: %s", key_path, crypto_strerror(rc));
		return rc == CRYPTO_ERR_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_KEY;
	}
	return BULWARK_OK;
}

/* Copy what the session needs from the loaded configuration. */
static int bulwark__take_config(struct bulwark__session *s, const struct bw_config *cfg)
{
	s->n = cfg->n;
	s->f = cfg->f;
	s->group = cfg->group_id;
	s->epoch = cfg->epoch;
	s->sign_requests = cfg->client_auth == CONFIG_AUTH_SIGNATURES;
	s->retrans_ms = cfg->client_timeout_ms;
	s->batch_max_bytes = cfg->batch_max_bytes;
	/* The client machine knows two read quorums: 2f+1 and f+1. A configured quorum
	 * above 2f+1 is served as 2f+1 (still a Byzantine quorum). */
	s->read_quorum_2f1 = cfg->read_quorum >= 2 * cfg->f + 1;
	s->replica_keys = calloc(s->n, sizeof(*s->replica_keys));
	s->rep = calloc(s->n, sizeof(*s->rep));
	if (!s->replica_keys || !s->rep)
		return BULWARK_ERR_NOMEM;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct bw_config_replica *r = &cfg->replicas[i];
		int ipv6 = strchr(r->host, ':') != NULL;

		memcpy(s->replica_keys[i], r->public_key, CRYPTO_ED25519_PUB);
		s->rep[i].host = strdup(r->host);
		if (!s->rep[i].host)
			return BULWARK_ERR_NOMEM;
		s->rep[i].port = r->port;
		snprintf(s->rep[i].address, sizeof(s->rep[i].address), ipv6 ? "[%s]:%u" : "%s:%u",
			 r->host, (unsigned)r->port);
	}
	return BULWARK_OK;
}

static void bulwark__session_destroy(struct bulwark__session *s)
{
	net_close(s->net); /* on_down for each open connection frees its MAC context */
	if (s->rep) {
		for (uint32_t i = 0; i < s->n; i++) {
			if (s->rep[i].conn)
				crypto_hmac_free(&s->rep[i].mac);
			free(s->rep[i].host);
		}
	}
	free(s->rep);
	free(s->replica_keys);
	free(s->lanes);
	pbft_update_free(&s->up);
	wire_buf_free(&s->scratch);
	crypto_ed25519_free(&s->key);
	if (s->own_loop)
		ev_loop_destroy(s->loop);
	free(s);
}

void bulwark__session_hold(struct bulwark__session *s)
{
	s->refs++;
}

void bulwark__session_release(struct bulwark__session *s)
{
	if (--s->refs == 0)
		bulwark__session_destroy(s);
}

/* A session with its configuration, key and transport, dialling every replica; no lane
 * yet (refs 0). */
static int bulwark__session_open(const char *config_path, const char *key_path,
				 struct ev_loop *loop, struct bulwark__session **out, char *err,
				 size_t errlen)
{
	struct bulwark__session *s;
	struct bw_config cfg;
	struct config_errors *errs;
	struct net_config nc;
	int rc;

	s = calloc(1, sizeof(*s));
	errs = malloc(sizeof(*errs));
	if (!s || !errs) {
		free(s);
		free(errs);
		return BULWARK_ERR_NOMEM;
	}
	wire_buf_init(&s->scratch);
	pbft_update_init(&s->up);
	s->lim = wire_limits_default;
	/* A GET result is the value plus its status, version and length. */
	if (s->lim.max_result < BULWARK_MAX_VALUE + 64u)
		s->lim.max_result = BULWARK_MAX_VALUE + 64u;
	s->max_lanes = s->lim.max_lanes < BULWARK_MAX_LANES ? s->lim.max_lanes : BULWARK_MAX_LANES;
	s->cap = BULWARK__LANES_INITIAL < s->max_lanes ? BULWARK__LANES_INITIAL : s->max_lanes;
	s->lanes = calloc(s->cap, sizeof(*s->lanes));
	if (!s->lanes) {
		free(errs);
		rc = BULWARK_ERR_NOMEM;
		goto err_session;
	}
	if (loop) {
		s->loop = loop;
	} else {
		s->loop = ev_loop_new(EVFLAG_AUTO);
		if (!s->loop) {
			set_err(err, errlen, "cannot create an event loop");
			free(errs);
			rc = BULWARK_ERR_NET;
			goto err_session;
		}
		s->own_loop = 1;
	}

	config_errors_init(errs);
	rc = config_load(config_path, &cfg, errs);
	if (rc != CONFIG_OK) {
		if (errs->count > 1)
			set_err(err, errlen, "%s (and %u more errors)", errs->item[0].text,
				errs->count - 1 + errs->dropped);
		else if (errs->count)
			set_err(err, errlen, "%s", errs->item[0].text);
		else
			set_err(err, errlen, "%s: %s", config_path, config_strerror(rc));
		free(errs);
		rc = rc == CONFIG_ERR_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_CONFIG;
		goto err_session;
	}
	free(errs);
	rc = bulwark__take_config(s, &cfg);
	config_free(&cfg);
	if (rc != BULWARK_OK)
		goto err_session;
	rc = bulwark__load_key(s, key_path, err, errlen);
	if (rc != BULWARK_OK)
		goto err_session;

	net_config_init(&nc);
	nc.identity = &s->key;
	nc.group_id = s->group;
	nc.epoch = s->epoch;
	nc.role = NET_ROLE_CLIENT;
	nc.replica_keys = (const uint8_t (*)[CRYPTO_ED25519_PUB])s->replica_keys;
	nc.n_replicas = s->n;
	nc.limits.backoff_max = 1.0;
	nc.cb.ctx = s;
	nc.cb.on_up = bulwark__on_up;
	nc.cb.on_frame = bulwark__on_frame;
	nc.cb.on_down = bulwark__on_down;
	rc = net_open(&s->net, s->loop, &nc);
	if (rc != NET_OK) {
		set_err(err, errlen, "network transport: %s", net_strerror(rc));
		rc = rc == NET_ERR_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_NET;
		goto err_session;
	}
	s->open_ms = bulwark__now_ms();
	for (uint32_t i = 0; i < s->n; i++) {
		rc = net_connect(s->net, i, s->rep[i].host, s->rep[i].port);
		if (rc != NET_OK) {
			set_err(err, errlen, "replica %s: %s", s->rep[i].address, net_strerror(rc));
			rc = rc == NET_ERR_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_NET;
			goto err_session;
		}
	}
	*out = s;
	return BULWARK_OK;

err_session:
	bulwark__session_destroy(s);
	return rc;
}

/* ---------------------------------------------------------------- lanes */
/* Open lane number `lane` (a free slot of the table) on s. */
static int bulwark__lane_new(struct bulwark__session *s, uint32_t lane, uint32_t op_timeout_ms,
			     struct bulwark_client **out)
{
	struct bulwark_client *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return BULWARK_ERR_NOMEM;
	c->s = s;
	c->lane = lane;
	c->op_timeout_ms = op_timeout_ms;
	wire_buf_init(&c->op);
	wire_buf_init(&c->resbuf);
	rc = bulwark__machine_new(c);
	if (rc != BULWARK_OK) {
		free(c);
		return rc;
	}
	ev_timer_init(&c->timer, bulwark__timer_cb, 0.0, 0.0);
	c->timer.data = c;
	ev_prepare_init(&c->done_w, bulwark__done_cb);
	c->done_w.data = c;
	s->lanes[lane] = c;
	s->nlanes++;
	bulwark__session_hold(s);
	*out = c;
	return BULWARK_OK;
}

/* Take c out of the lane table: replies naming its lane are dropped from now on, and
 * the number may go to a new lane. Idempotent. */
static void bulwark__lane_unlink(struct bulwark_client *c)
{
	struct bulwark__session *s = c->s;

	if (c->lane < s->cap && s->lanes[c->lane] == c) {
		s->lanes[c->lane] = NULL;
		s->nlanes--;
	}
}

static void bulwark__lane_destroy(struct bulwark_client *c)
{
	struct bulwark__session *s = c->s;

	bulwark__lane_unlink(c);
	ev_timer_stop(s->loop, &c->timer);
	ev_clear_pending(s->loop, &c->done_w);
	ev_clear_pending(s->loop, &c->timer);
	pbft_client_free(c->pc);
	wire_buf_free(&c->op);
	wire_buf_free(&c->resbuf);
	free(c);
	bulwark__session_release(s);
}

int bulwark_client_open(const char *config_path, const char *key_path, struct ev_loop *loop,
			struct bulwark_client **out, char *err, size_t errlen)
{
	struct bulwark__session *s;
	int rc;

	if (err && errlen)
		err[0] = 0;
	if (!config_path || !out)
		return BULWARK_ERR_ARG;
	*out = NULL;
	rc = bulwark__session_open(config_path, key_path, loop, &s, err, errlen);
	if (rc != BULWARK_OK)
		return rc;
	rc = bulwark__lane_new(s, 0, BULWARK_DEFAULT_OP_TIMEOUT_MS, out);
	if (rc != BULWARK_OK)
		bulwark__session_destroy(s);
	return rc;
}

/* Numbers of closed lanes are given out again (the lowest free one first): the
 * machine_new rule above makes that safe, and without it a long-lived process that
 * opens and closes lanes would run out of numbers after max_lanes opens. */
int bulwark_client_lane(struct bulwark_client *c, struct bulwark_client **out)
{
	struct bulwark__session *s;
	uint32_t lane;

	if (!out)
		return BULWARK_ERR_ARG;
	*out = NULL;
	if (!c || c->closing)
		return BULWARK_ERR_ARG;
	s = c->s;
	for (lane = 0; lane < s->cap && s->lanes[lane]; lane++)
		;
	if (lane == s->cap) {
		struct bulwark_client **t;
		uint32_t cap;

		if (s->cap >= s->max_lanes)
			return BULWARK_ERR_LANES;
		cap = s->cap * 2 < s->max_lanes ? s->cap * 2 : s->max_lanes;
		t = realloc(s->lanes, cap * sizeof(*t));
		if (!t)
			return BULWARK_ERR_NOMEM;
		memset(t + s->cap, 0, (cap - s->cap) * sizeof(*t));
		s->lanes = t;
		s->cap = cap;
	}
	return bulwark__lane_new(s, lane, c->op_timeout_ms, out);
}

void bulwark_client_close(struct bulwark_client *c)
{
	if (!c || c->closing)
		return;
	if (c->busy) {
		/* Complete the outstanding operation now: with its result if it has one
		 * waiting for delivery, else cancelled. */
		ev_clear_pending(c->s->loop, &c->done_w);
		if (!c->finished) {
			memset(&c->res, 0, sizeof(c->res));
			c->res.status = BULWARK_ERR_CANCELLED;
			c->finished = 1;
		}
		c->closing = 1; /* no new operation from the callback */
		bulwark__deliver(c);
	}
	if (c->cb_depth > 0) {
		c->closing = 1;
		bulwark__lane_unlink(c);
		ev_timer_stop(c->s->loop, &c->timer);
		return;
	}
	bulwark__lane_destroy(c);
}

int bulwark_client_set_timeout(struct bulwark_client *c, uint32_t op_timeout_ms)
{
	if (!c)
		return BULWARK_ERR_ARG;
	c->op_timeout_ms = op_timeout_ms;
	return BULWARK_OK;
}

void bulwark_client_public_key(const struct bulwark_client *c, uint8_t pub[32])
{
	if (c && pub)
		memcpy(pub, c->s->key.pub, CRYPTO_ED25519_PUB);
}

uint32_t bulwark_client_replicas(const struct bulwark_client *c)
{
	return c ? c->s->n : 0;
}

uint32_t bulwark_client_faults(const struct bulwark_client *c)
{
	return c ? c->s->f : 0;
}

int bulwark_client_busy(const struct bulwark_client *c)
{
	return c && c->busy;
}

/* ---------------------------------------------------------------- operations */
/* Bytes a request with op_len operation bytes takes in a batch (wire.h): u32 length,
 * client key, lane u32, timestamp u64, flags u32, op (u32 length + bytes), auth (u32
 * length + n MAC tags or one signature). */
static uint64_t bulwark__batch_entry_len(const struct bulwark__session *s, size_t op_len)
{
	uint64_t auth = s->sign_requests ? WIRE_SIG_LEN : (uint64_t)s->n * WIRE_TAG_LEN;

	return 4u + WIRE_KEY_LEN + 4u + 8u + 4u + 4u + (uint64_t)op_len + 4u + auth;
}

int bulwark_submit(struct bulwark_client *c, const struct bulwark_op *op, bulwark_done_fn done,
		   void *arg)
{
	struct bulwark__session *s;
	struct wire_kv_op kop;
	uint64_t now;
	int rc;

	if (!c || !op || !done || c->closing || (op->key_len && !op->key))
		return BULWARK_ERR_ARG;
	if ((op->type < BULWARK_OP_PUT || op->type > BULWARK_OP_NULL) &&
	    !(op->type == BULWARK__OP_RAW && op->value_len > 0 && op->value))
		return BULWARK_ERR_ARG;
	if ((op->type == BULWARK_OP_PUT || op->type == BULWARK_OP_CAS) && op->value_len &&
	    !op->value)
		return BULWARK_ERR_ARG;
	if (c->busy)
		return BULWARK_ERR_BUSY;
	s = c->s;
	if (c->stale) {
		rc = bulwark__machine_new(c);
		if (rc != BULWARK_OK)
			return rc;
		c->stale = 0;
	}
	if (op->key_len > BULWARK_MAX_KEY)
		return BULWARK_ERR_TOO_BIG;
	memset(&kop, 0, sizeof(kop));
	wire_buf_reset(&c->op);
	if (op->type == BULWARK_OP_NULL) /* the empty op; op_type 0 marks it */
		goto encoded;
	if (op->type == BULWARK__OP_RAW) { /* bulwark_submit_raw: op bytes as given */
		if (op->value_len > s->lim.max_op)
			return BULWARK_ERR_TOO_BIG;
		wire_put_fixed(&c->op, op->value, op->value_len);
		if (wire_buf_error(&c->op))
			return BULWARK_ERR_NOMEM;
		kop.type = BULWARK__OP_RAW;
		goto encoded;
	}
	kop.type = (uint8_t)op->type; /* enum bulwark_op_type mirrors enum wire_kv_type */
	kop.key.p = op->key;
	kop.key.len = (uint32_t)op->key_len;
	if (op->type == BULWARK_OP_PUT || op->type == BULWARK_OP_CAS) {
		if (op->value_len > BULWARK_MAX_VALUE)
			return BULWARK_ERR_TOO_BIG;
		kop.value.p = op->value;
		kop.value.len = (uint32_t)op->value_len;
		kop.version = op->expected_version;
	}
	rc = wire_kv_encode_op(&c->op, &kop);
	if (rc != WIRE_OK)
		return rc == WIRE_ERR_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_ARG;
encoded:
	if (c->op.len > s->lim.max_op)
		return BULWARK_ERR_TOO_BIG;
	/* The primary never proposes a request that does not fit in one batch: refuse it
	 * here rather than let it time out. */
	if (bulwark__batch_entry_len(s, c->op.len) > s->batch_max_bytes)
		return BULWARK_ERR_TOO_BIG;

	bulwark__clock(s, &now, NULL);
	c->op_type = kop.type;
	c->done = done;
	c->done_arg = arg;
	c->invoked = 0;
	c->finished = 0;
	c->mach_deadline = 0;
	memset(&c->res, 0, sizeof(c->res));
	c->op_deadline = c->op_timeout_ms ? now + c->op_timeout_ms : 0;
	if (bulwark__ready(s, now)) {
		rc = bulwark__invoke(c, now);
		if (rc != BULWARK_OK) {
			c->done = NULL;
			c->done_arg = NULL;
			return rc;
		}
	}
	c->busy = 1;
	bulwark__arm(c);
	return BULWARK_OK;
}

int bulwark__run_until(struct bulwark__session *s, const int *flag)
{
	if (ev_depth(s->loop) > 0)
		return BULWARK_ERR_LOOP;
	bulwark__session_hold(s);
	while (*flag)
		ev_run(s->loop, EVRUN_ONCE);
	bulwark__session_release(s);
	return BULWARK_OK;
}
