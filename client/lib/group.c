/* group.c: libbulwark's group client: the config and key, one authenticated connection
 * per replica, the PBFT client machine driven by replies and timers, request
 * authenticators, and the asynchronous operations with their completion callbacks. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/lib/client_int.h"
#include "common/config.h"
#include "wire/kv.h"

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
static uint64_t bulwark__quorum_wait_ms(const struct bulwark_client *c)
{
	return c->retrans_ms < BULWARK__QUORUM_WAIT_MS ? c->retrans_ms : BULWARK__QUORUM_WAIT_MS;
}

/* Whether a waiting request may go out now: every replica connected, or 2f+1 of them
 * and a short wait, or the retransmission timeout since the open. Once true, true. */
static int bulwark__ready(struct bulwark_client *c, uint64_t now)
{
	if (!c->settled &&
	    (c->nup == c->n || now >= c->open_ms + c->retrans_ms ||
	     (c->nup >= 2 * c->f + 1 && now >= c->open_ms + bulwark__quorum_wait_ms(c))))
		c->settled = 1;
	return c->settled;
}

static uint64_t bulwark__min_deadline(uint64_t a, uint64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

void bulwark__arm(struct bulwark_client *c)
{
	uint64_t when = 0, now;

	if (c->busy && !c->finished) {
		when = bulwark__min_deadline(when, c->op_deadline);
		if (c->invoked) {
			when = bulwark__min_deadline(when, c->mach_deadline);
		} else if (!c->settled) {
			when = bulwark__min_deadline(when, c->open_ms + c->retrans_ms);
			if (c->nup >= 2 * c->f + 1)
				when = bulwark__min_deadline(when, c->open_ms + bulwark__quorum_wait_ms(c));
		}
	}
	if (c->status_busy)
		when = bulwark__min_deadline(when, c->status_deadline);
	ev_timer_stop(c->loop, &c->timer);
	if (!when)
		return;
	now = bulwark__now_ms();
	ev_timer_set(&c->timer, when > now ? (double)(when - now) / 1000.0 : 0.0, 0.0);
	ev_timer_start(c->loop, &c->timer);
}

/* ---------------------------------------------------------------- completion */
/* Store the outcome and feed the delivery watcher: user callbacks never run inside net
 * callbacks or inside bulwark_submit. */
static void bulwark__finish(struct bulwark_client *c, int status)
{
	c->res.status = status;
	c->finished = 1;
	c->mach_deadline = 0;
	ev_feed_event(c->loop, &c->done_w, EV_CUSTOM);
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

static void bulwark__destroy(struct bulwark_client *c);

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

/* Hand the stored result to the user; the client is idle while the callback runs. */
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
		bulwark__destroy(c);
}

/* ---------------------------------------------------------------- sending */
static void bulwark__send_all(struct bulwark_client *c, const uint8_t *msg, size_t len)
{
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->rep[i].conn)
			(void)net_send(c->rep[i].conn, msg, len); /* a drop is retransmitted */
	}
}

/* Send what the machine's update says. An ordered request for a primary we have no
 * connection to goes to every replica instead: the backups forward it. */
static void bulwark__flush(struct bulwark_client *c)
{
	for (size_t i = 0; i < c->up.nout; i++) {
		const struct pbft_out *o = &c->up.out[i];
		const uint8_t *msg = c->up.msgs.p + o->off;
		struct wire_msg m;

		if (wire_decode(msg, o->len, &c->lim, &m) == WIRE_OK && m.hdr.type == WIRE_REQUEST &&
		    m.u.request.timestamp > c->last_ts)
			c->last_ts = m.u.request.timestamp;
		if (o->dest == PBFT_DEST_REPLICA && o->replica < c->n && c->rep[o->replica].conn)
			(void)net_send(c->rep[o->replica].conn, msg, o->len);
		else if (o->dest == PBFT_DEST_REPLICA || o->dest == PBFT_DEST_OTHERS)
			bulwark__send_all(c, msg, o->len);
	}
	c->mach_deadline = c->up.deadline;
	pbft_update_reset(&c->up);
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
	int rc;

	pbft_update_reset(&c->up);
	rc = pbft_client_invoke(c->pc, now, c->op.p, c->op.len, c->op_type == WIRE_KV_GET, &c->up);
	if (rc != PBFT_OK) {
		pbft_update_reset(&c->up);
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

	if (!c->busy || c->invoked || c->finished || !bulwark__ready(c, now))
		return;
	rc = bulwark__invoke(c, now);
	if (rc != BULWARK_OK)
		bulwark__finish(c, rc);
}

/* MAC tags with each connection's session key (zeros where there is none), or one
 * signature by the client key. */
static int bulwark__authenticate(void *ctx, const uint8_t digest[WIRE_DIGEST_LEN],
				 struct wire_buf *auth)
{
	struct bulwark_client *c = ctx;
	uint8_t tag[WIRE_SIG_LEN];

	if (c->sign_requests) {
		if (crypto_ed25519_sign(&c->key, digest, WIRE_DIGEST_LEN, tag) != CRYPTO_OK)
			return -1;
		wire_put_fixed(auth, tag, WIRE_SIG_LEN);
		return 0;
	}
	for (uint32_t i = 0; i < c->n; i++) {
		memset(tag, 0, WIRE_TAG_LEN);
		if (c->rep[i].conn &&
		    crypto_hmac_tag(&c->rep[i].mac, digest, WIRE_DIGEST_LEN, NULL, 0, tag,
				    WIRE_TAG_LEN) != CRYPTO_OK)
			return -1;
		wire_put_fixed(auth, tag, WIRE_TAG_LEN);
	}
	return 0;
}

static int bulwark__machine_new(struct bulwark_client *c)
{
	struct pbft_client_config pc;
	struct pbft_client *m;
	uint64_t first = bulwark__wall_us();
	int rc;

	if (first <= c->last_ts)
		first = c->last_ts + 1;
	memset(&pc, 0, sizeof(pc));
	pc.n = c->n;
	pc.f = c->f;
	pc.group = c->group;
	pc.epoch = c->epoch;
	memcpy(pc.key, c->key.pub, WIRE_KEY_LEN);
	pc.timeout_ms = c->retrans_ms;
	pc.first_timestamp = first;
	pc.read_quorum_2f1 = c->read_quorum_2f1;
	pc.limits = &c->lim;
	pc.auth.ctx = c;
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
	uint64_t now = bulwark__now_ms();

	(void)loop;
	(void)revents;
	bulwark__status_tick(c, now);
	if (c->busy && !c->finished) {
		if (c->op_deadline && now >= c->op_deadline) {
			memset(&c->res, 0, sizeof(c->res));
			if (c->invoked)
				bulwark__abandon(c);
			bulwark__finish(c, BULWARK_ERR_TIMEOUT);
		} else if (!c->invoked) {
			bulwark__maybe_invoke(c, now);
		} else if (c->mach_deadline && now >= c->mach_deadline) {
			struct pbft_event ev;
			int rc;

			memset(&ev, 0, sizeof(ev));
			ev.type = PBFT_EV_TICK;
			ev.now = now;
			ev.wall = bulwark__wall_ms();
			pbft_update_reset(&c->up);
			rc = pbft_client_step(c->pc, &ev, &c->up);
			if (rc < 0) {
				pbft_update_reset(&c->up);
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
static int bulwark__conn_id(const struct bulwark_client *c, const struct net_conn *conn,
			    uint32_t *id)
{
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->rep[i].conn == conn) {
			*id = i;
			return 1;
		}
	}
	return 0;
}

static void bulwark__on_up(void *ctx, struct net_conn *conn, const struct net_peer *peer)
{
	struct bulwark_client *c = ctx;
	struct bulwark__replica *r;

	if (peer->role != NET_ROLE_REPLICA || peer->replica_id >= c->n) {
		net_conn_close(conn);
		return;
	}
	r = &c->rep[peer->replica_id];
	if (r->conn) {
		/* One connection per replica: the newer one wins. */
		net_conn_close(r->conn);
		crypto_hmac_free(&r->mac);
		r->conn = NULL;
		c->nup--;
	}
	if (crypto_hmac_init(&r->mac, net_conn_auth_key(conn), NET_AUTH_KEY_LEN) != CRYPTO_OK) {
		/* Without a MAC key our tags for this replica would be wrong: stay unconnected
		 * (the dial is retried after the drop). */
		net_conn_close(conn);
		return;
	}
	r->conn = conn;
	r->info_asked = 0;
	c->nup++;
	bulwark__status_up(c, peer->replica_id);
	bulwark__maybe_invoke(c, bulwark__now_ms());
	bulwark__arm(c);
}

static void bulwark__on_down(void *ctx, struct net_conn *conn, int reason)
{
	struct bulwark_client *c = ctx;
	uint32_t id;

	(void)reason;
	if (!bulwark__conn_id(c, conn, &id))
		return;
	crypto_hmac_free(&c->rep[id].mac);
	c->rep[id].conn = NULL;
	c->rep[id].info_asked = 0;
	c->nup--;
}

static void bulwark__on_reply(struct bulwark_client *c, uint32_t id, const uint8_t *buf,
			      size_t len)
{
	struct wire_msg m;
	struct pbft_event ev;
	int rc;

	if (!c->busy || !c->invoked || c->finished)
		return;
	if (wire_decode(buf, len, &c->lim, &m) != WIRE_OK)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_MESSAGE;
	ev.now = bulwark__now_ms();
	ev.wall = bulwark__wall_ms();
	ev.msg = &m;
	ev.from = id;
	pbft_update_reset(&c->up);
	rc = pbft_client_step(c->pc, &ev, &c->up);
	if (rc < 0) {
		pbft_update_reset(&c->up);
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
	struct bulwark_client *c = ctx;
	struct wire_hdr hdr;
	struct wire_bytes body;
	uint32_t id;

	if (!bulwark__conn_id(c, conn, &id))
		return;
	if (wire_decode_hdr(payload, len, &hdr, &body) != WIRE_OK)
		return;
	if (hdr.type == WIRE_REPLY)
		bulwark__on_reply(c, id, payload, len);
	else if (hdr.type == WIRE_INFO)
		bulwark__status_info(c, id, payload, len);
	else if (hdr.type == BULWARK__CHUNK_RECEIPT_TYPE)
		bulwark__chunk_receipt(c, id, payload, len);
	/* Anything else is not for a client: ignored. */
}

/* ---------------------------------------------------------------- open and close */
static int bulwark__load_key(struct bulwark_client *c, const char *key_path, char *err,
			     size_t errlen)
{
	char why[256] = "";
	int rc;

	if (!key_path) {
		if (crypto_ed25519_generate(&c->key) != CRYPTO_OK) {
			set_err(err, errlen, "ephemeral client key: Ed25519 key generation failed");
			return BULWARK_ERR_CRYPTO;
		}
		return BULWARK_OK;
	}
	rc = crypto_ed25519_load_private(&c->key, key_path, why, sizeof(why));
	if (rc != CRYPTO_OK) {
		if (why[0])
			set_err(err, errlen, "client key: %s", why);
		else
			set_err(err, errlen, "client key %s: %s", key_path, crypto_strerror(rc));
		return rc == CRYPTO_ERR_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_KEY;
	}
	return BULWARK_OK;
}

/* Copy what the client needs from the loaded configuration. */
static int bulwark__take_config(struct bulwark_client *c, const struct bw_config *cfg)
{
	c->n = cfg->n;
	c->f = cfg->f;
	c->group = cfg->group_id;
	c->epoch = cfg->epoch;
	c->sign_requests = cfg->client_auth == CONFIG_AUTH_SIGNATURES;
	c->retrans_ms = cfg->client_timeout_ms;
	c->batch_max_bytes = cfg->batch_max_bytes;
	/* The client machine knows two read quorums: 2f+1 and f+1. A configured quorum
	 * above 2f+1 is served as 2f+1 (still a Byzantine quorum). */
	c->read_quorum_2f1 = cfg->read_quorum >= 2 * cfg->f + 1;
	c->replica_keys = calloc(c->n, sizeof(*c->replica_keys));
	c->rep = calloc(c->n, sizeof(*c->rep));
	if (!c->replica_keys || !c->rep)
		return BULWARK_ERR_NOMEM;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct bw_config_replica *r = &cfg->replicas[i];
		int ipv6 = strchr(r->host, ':') != NULL;

		memcpy(c->replica_keys[i], r->public_key, CRYPTO_ED25519_PUB);
		c->rep[i].host = strdup(r->host);
		if (!c->rep[i].host)
			return BULWARK_ERR_NOMEM;
		c->rep[i].port = r->port;
		snprintf(c->rep[i].address, sizeof(c->rep[i].address), ipv6 ? "[%s]:%u" : "%s:%u",
			 r->host, (unsigned)r->port);
	}
	return BULWARK_OK;
}

static void bulwark__destroy(struct bulwark_client *c)
{
	ev_timer_stop(c->loop, &c->timer);
	ev_clear_pending(c->loop, &c->done_w);
	ev_clear_pending(c->loop, &c->timer);
	net_close(c->net); /* on_down for each open connection frees its MAC context */
	if (c->rep) {
		for (uint32_t i = 0; i < c->n; i++) {
			if (c->rep[i].conn)
				crypto_hmac_free(&c->rep[i].mac);
			free(c->rep[i].host);
		}
	}
	free(c->rep);
	free(c->replica_keys);
	pbft_client_free(c->pc);
	pbft_update_free(&c->up);
	wire_buf_free(&c->op);
	wire_buf_free(&c->resbuf);
	wire_buf_free(&c->scratch);
	crypto_ed25519_free(&c->key);
	if (c->own_loop)
		ev_loop_destroy(c->loop);
	free(c);
}

int bulwark_client_open(const char *config_path, const char *key_path, struct ev_loop *loop,
			struct bulwark_client **out, char *err, size_t errlen)
{
	struct bulwark_client *c;
	struct bw_config cfg;
	struct config_errors *errs;
	struct net_config nc;
	int rc;

	if (err && errlen)
		err[0] = 0;
	if (!config_path || !out)
		return BULWARK_ERR_ARG;
	*out = NULL;
	c = calloc(1, sizeof(*c));
	errs = malloc(sizeof(*errs));
	if (!c || !errs) {
		free(c);
		free(errs);
		return BULWARK_ERR_NOMEM;
	}
	wire_buf_init(&c->op);
	wire_buf_init(&c->resbuf);
	wire_buf_init(&c->scratch);
	pbft_update_init(&c->up);
	c->lim = wire_limits_default;
	/* A GET result is the value plus its status, version and length. */
	if (c->lim.max_result < BULWARK_MAX_VALUE + 64u)
		c->lim.max_result = BULWARK_MAX_VALUE + 64u;
	c->op_timeout_ms = BULWARK_DEFAULT_OP_TIMEOUT_MS;
	if (loop) {
		c->loop = loop;
	} else {
		c->loop = ev_loop_new(EVFLAG_AUTO);
		if (!c->loop) {
			set_err(err, errlen, "cannot create an event loop");
			free(errs);
			free(c);
			return BULWARK_ERR_NET;
		}
		c->own_loop = 1;
	}
	ev_timer_init(&c->timer, bulwark__timer_cb, 0.0, 0.0);
	c->timer.data = c;
	ev_prepare_init(&c->done_w, bulwark__done_cb);
	c->done_w.data = c;

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
		goto err_client;
	}
	free(errs);
	rc = bulwark__take_config(c, &cfg);
	config_free(&cfg);
	if (rc != BULWARK_OK)
		goto err_client;
	rc = bulwark__load_key(c, key_path, err, errlen);
	if (rc != BULWARK_OK)
		goto err_client;
	rc = bulwark__machine_new(c);
	if (rc != BULWARK_OK)
		goto err_client;

	net_config_init(&nc);
	nc.identity = &c->key;
	nc.group_id = c->group;
	nc.epoch = c->epoch;
	nc.role = NET_ROLE_CLIENT;
	nc.replica_keys = (const uint8_t (*)[CRYPTO_ED25519_PUB])c->replica_keys;
	nc.n_replicas = c->n;
	nc.limits.backoff_max = 1.0;
	nc.cb.ctx = c;
	nc.cb.on_up = bulwark__on_up;
	nc.cb.on_frame = bulwark__on_frame;
	nc.cb.on_down = bulwark__on_down;
	rc = net_open(&c->net, c->loop, &nc);
	if (rc != NET_OK) {
		set_err(err, errlen, "network transport: %s", net_strerror(rc));
		rc = rc == NET_ERR_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_NET;
		goto err_client;
	}
	c->open_ms = bulwark__now_ms();
	for (uint32_t i = 0; i < c->n; i++) {
		rc = net_connect(c->net, i, c->rep[i].host, c->rep[i].port);
		if (rc != NET_OK) {
			set_err(err, errlen, "replica %s: %s", c->rep[i].address, net_strerror(rc));
			rc = rc == NET_ERR_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_NET;
			goto err_client;
		}
	}
	*out = c;
	return BULWARK_OK;

err_client:
	bulwark__destroy(c);
	return rc;
}

void bulwark_client_close(struct bulwark_client *c)
{
	if (!c || c->closing)
		return;
	if (c->busy) {
		/* Complete the outstanding operation now: with its result if it has one
		 * waiting for delivery, else cancelled. */
		ev_clear_pending(c->loop, &c->done_w);
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
		ev_timer_stop(c->loop, &c->timer);
		return;
	}
	bulwark__destroy(c);
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
		memcpy(pub, c->key.pub, CRYPTO_ED25519_PUB);
}

uint32_t bulwark_client_replicas(const struct bulwark_client *c)
{
	return c ? c->n : 0;
}

uint32_t bulwark_client_faults(const struct bulwark_client *c)
{
	return c ? c->f : 0;
}

int bulwark_client_busy(const struct bulwark_client *c)
{
	return c && c->busy;
}

/* ---------------------------------------------------------------- operations */
/* Bytes a request with op_len operation bytes takes in a batch (wire.h): u32 length,
 * client key, timestamp u64, flags u32, op (u32 length + bytes), auth (u32 length +
 * n MAC tags or one signature). */
static uint64_t bulwark__batch_entry_len(const struct bulwark_client *c, size_t op_len)
{
	uint64_t auth = c->sign_requests ? WIRE_SIG_LEN : (uint64_t)c->n * WIRE_TAG_LEN;

	return 4u + WIRE_KEY_LEN + 8u + 4u + 4u + (uint64_t)op_len + 4u + auth;
}

int bulwark_submit(struct bulwark_client *c, const struct bulwark_op *op, bulwark_done_fn done,
		   void *arg)
{
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
		if (op->value_len > c->lim.max_op)
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
	if (c->op.len > c->lim.max_op)
		return BULWARK_ERR_TOO_BIG;
	/* The primary never proposes a request that does not fit in one batch: refuse it
	 * here rather than let it time out. */
	if (bulwark__batch_entry_len(c, c->op.len) > c->batch_max_bytes)
		return BULWARK_ERR_TOO_BIG;

	now = bulwark__now_ms();
	c->op_type = kop.type;
	c->done = done;
	c->done_arg = arg;
	c->invoked = 0;
	c->finished = 0;
	c->mach_deadline = 0;
	memset(&c->res, 0, sizeof(c->res));
	c->op_deadline = c->op_timeout_ms ? now + c->op_timeout_ms : 0;
	if (bulwark__ready(c, now)) {
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

int bulwark__run_until(struct bulwark_client *c, const int *flag)
{
	if (ev_depth(c->loop) > 0)
		return BULWARK_ERR_LOOP;
	while (*flag)
		ev_run(c->loop, EVRUN_ONCE);
	return BULWARK_OK;
}
