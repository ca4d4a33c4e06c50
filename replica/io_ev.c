/* io_ev.c: bulwarkd's libev glue, kept thin: net frames are decoded, checked against
 * the sender's role and stepped through the core; the effects of one loop turn are
 * persisted and then sent once, from an ev_prepare watcher (Redis's beforeSleep); one
 * timer wakes the core at its deadline; signals stop the loop or reopen the log. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "replica/bwd.h"
#include "replica/bwd_upd.h"
#include "wire/info.h"

uint64_t bwd__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t bwd__wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A fatal error: remember the first one and leave the loop. */
static void fail(struct bwd *b, int err)
{
	if (b->fatal == 0)
		b->fatal = err;
	ev_break(b->loop, EVBREAK_ALL);
}

/* The clocks as of this loop iteration: read once per iteration, not per frame (two
 * clock_gettime calls per frame were 4 % of a replica's CPU at 140k requests/s; the
 * core's timeouts are milliseconds, and libev's own ev_now is just as coarse). */
void bwd__clock(struct bwd *b, uint64_t *now, uint64_t *wall)
{
	unsigned int iter = b->loop != NULL ? ev_iteration(b->loop) : 0;

	if (b->loop == NULL || !b->clock_valid || b->clock_iter != iter) {
		b->clock_now = bwd__now_ms();
		b->clock_wall = bwd__wall_ms();
		b->clock_iter = iter;
		b->clock_valid = b->loop != NULL;
	}
	*now = b->clock_now;
	*wall = b->clock_wall;
}

/* Step the core with ev; its effects stay in b->up until the next flush. */
static void step(struct bwd *b, struct pbft_event *ev)
{
	bwd__clock(b, &ev->now, &ev->wall);
	int rc = pbft_step(b->core, ev, &b->up);
	b->pending = 1;
	b->deadline = b->up.deadline;
	if (rc != PBFT_OK) {
		snprintf(b->why, sizeof(b->why), "the PBFT core stopped: %s: %s", pbft_strerror(rc),
			 app_last_error(&b->app));
		fail(b, BWD_ERR_CORE);
		return;
	}
	bwd__upd_after_step(b);
}

/* Step the core with an event that carries nothing but its type (a tick, idle time). */
static void step_type(struct bwd *b, enum pbft_event_type type)
{
	struct pbft_event ev;

	if (b->fatal != 0)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	step(b, &ev);
}

/* ---------------------------------------------------------------- sending */
static void send_out(struct bwd *b, const struct pbft_out *o)
{
	const uint8_t *p = b->up.msgs.p + o->off;
	struct bwd_client *e;
	int rc;

	switch (o->dest) {
	case PBFT_DEST_REPLICA:
		if (o->replica >= b->cfg.n || o->replica == b->id)
			return;
		if (net_send_replica(b->net, o->replica, p, o->len) != NET_OK)
			b->ctr.sends_dropped++;
		return;
	case PBFT_DEST_OTHERS:
		for (uint32_t j = 0; j < b->cfg.n; j++) {
			if (j != b->id && net_send_replica(b->net, j, p, o->len) != NET_OK)
				b->ctr.sends_dropped++;
		}
		return;
	case PBFT_DEST_CLIENT:
		e = bwd_clients_find(&b->clients, o->client);
		rc = e != NULL && e->conn != NULL ? net_send(e->conn, p, o->len) : NET_ERR_CLOSED;
		if (rc != NET_OK)
			b->ctr.sends_dropped++;
		return;
	}
}

static void arm_tick(struct bwd *b)
{
	ev_timer_stop(b->loop, &b->tick_w);
	if (b->deadline == 0)
		return;
	/* At least 1 ms: a deadline already past must not spin the loop. */
	uint64_t now = bwd__now_ms();
	double after = b->deadline > now ? (double)(b->deadline - now) / 1000.0 : 0.001;
	ev_timer_set(&b->tick_w, after, 0.0);
	ev_timer_start(b->loop, &b->tick_w);
}

/* One turn's end: the FLUSH step, the records, the messages. *again: the core holds a
 * batch back until these records are on disk (pbft_update.again). */
static int flush_turn(struct bwd *b, int *again)
{
	/* The turn is over: the primary proposes every request that arrived in it as one
	 * batch (pbft_config.batch_on_flush), before the records are written. */
	struct pbft_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_FLUSH;
	step(b, &ev);
	if (b->fatal != 0)
		return b->fatal;
	if (b->up.nrec > 0) {
		int rc = store_apply_records(b->store, &b->up);
		if (rc != STORE_OK) {
			snprintf(b->why, sizeof(b->why), "cannot persist %zu protocol records: %s: %s",
				 b->up.nrec, store_strerror(rc), store_last_error(b->store));
			return BWD_ERR_PERSIST;
		}
	}
	for (size_t i = 0; i < b->up.nout; i++)
		send_out(b, &b->up.out[i]);
	if (b->votes_uncertain) {
		/* Past the views whose votes may have been lost (the VIEW record that says
		 * so is written above): the store stops reporting the loss. */
		struct pbft_status st;
		pbft_get_status(b->core, &st);
		if (!st.votes_uncertain) {
			int rc = store_session_settled(b->store, b->boot_id);
			if (rc != STORE_OK) {
				snprintf(b->why, sizeof(b->why), "cannot record the session: %s: %s",
					 store_strerror(rc), store_last_error(b->store));
				return BWD_ERR_PERSIST;
			}
			b->votes_uncertain = 0;
			log_info("bulwarkd", "votes certain again: the group moved past the views of lost records",
				 "view=%llu", (unsigned long long)st.view);
		}
	}
	/* A checkpoint was written (without a sync) in this turn: the syncer makes it
	 * durable; the core makes it stable once told (sync_cb). */
	bwd_syncer_ask(&b->sync, store_last_checkpoint(b->store));
	*again = b->up.again;
	b->idle_wanted = b->up.idle;
	pbft_update_reset(&b->up);
	b->pending = 0;
	b->ctr.flushes++;
	return BWD_OK;
}

/* A batch committed with our own COMMIT of this turn executes in a second turn, right
 * after the first wrote its certificate; a third is never needed (a FLUSH step
 * receives no votes), the bound only keeps a misbehaving core from spinning here. */
#define BWD_FLUSH_TURNS 4

int bwd__flush(struct bwd *b)
{
	int again = 0, rc = BWD_OK;

	for (int t = 0; t < BWD_FLUSH_TURNS && b->pending; t++) {
		rc = flush_turn(b, &again);
		if (rc != BWD_OK || !again)
			break;
		b->pending = 1;
	}
	if (rc == BWD_OK && again)
		b->deadline = bwd__now_ms(); /* a TICK as soon as the loop comes round */
	arm_tick(b);
	/* Checkpoint signatures are checked one per BWD_IDLE_PACE_S, not in the turn
	 * they arrive in (the one that also carries the next request). */
	if (b->idle_wanted && !ev_is_active(&b->idle_w)) {
		ev_timer_set(&b->idle_w, BWD_IDLE_PACE_S, 0.0);
		ev_timer_start(b->loop, &b->idle_w);
	}
	return rc;
}

/* Background work is due: the core checks one waiting signature (pbft_config.idle_verify);
 * the flush that follows re-arms the timer if more waits. */
static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	step_type(w->data, PBFT_EV_IDLE);
}

static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct bwd *b = w->data;

	(void)loop;
	(void)revents;
	if (b->fatal != 0)
		return;
	int rc = bwd__flush(b);
	if (rc != BWD_OK)
		fail(b, rc);
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	step_type(w->data, PBFT_EV_TICK);
}

/* ---------------------------------------------------------------- frames */
static void answer_info(struct bwd *b, struct net_conn *conn, const uint8_t *p, size_t len)
{
	struct wire_hdr h;
	int rc = wire_info_req_decode(p, len, &h);

	if (rc != 0 || h.group != b->cfg.group_id || h.epoch != b->cfg.epoch) {
		b->ctr.frames_bad++;
		log_debug("bulwarkd", "bad INFO_REQ dropped", "peer=%s error=%s",
			  net_conn_peer(conn)->addr, rc != 0 ? wire_strerror(rc) : "group or epoch");
		net_conn_close(conn);
		return;
	}
	rc = bwd__info_encode(b);
	if (rc != 0) {
		log_warn("bulwarkd", "cannot encode INFO", "error=%s", wire_strerror(rc));
		return;
	}
	b->ctr.info_served++;
	(void)net_send(conn, b->scratch.p, b->scratch.len);
}

/* May this sender send this decoded message? Clients send REQUESTs as themselves;
 * replicas send protocol messages, and REQUESTs only as forwards (sender = their id). */
static const char *refuse_reason(const struct net_peer *peer, const struct wire_msg *m)
{
	uint8_t t = m->hdr.type;

	if (peer->role == NET_ROLE_CLIENT) {
		if (t != WIRE_REQUEST)
			return "a client may only send REQUEST or INFO_REQ";
		if (m->hdr.sender != WIRE_SENDER_CLIENT)
			return "a client REQUEST must have sender = client";
		return NULL;
	}
	if (t == WIRE_REPLY)
		return "a replica may not send REPLY to a replica";
	if (m->hdr.sender == WIRE_SENDER_CLIENT)
		return "a replica may not send as a client";
	return NULL;
}

static void on_frame(void *ctx, struct net_conn *conn, const uint8_t *payload, size_t len)
{
	struct bwd *b = ctx;
	const struct net_peer *peer = net_conn_peer(conn);
	struct pbft_event ev;
	struct wire_msg m;
	uint32_t ndigests = 0;
	const char *why;

	if (b->fatal != 0)
		return;
	if (len >= 2 && payload[1] == WIRE_INFO_REQ && peer->role == NET_ROLE_CLIENT) {
		answer_info(b, conn, payload, len);
		return;
	}
	if (len >= 2 && payload[1] >= 64 && payload[1] <= 127) { /* the update service's */
		bwd__upd_frame(b, conn, payload, len);
		return;
	}
	/* A PRE-PREPARE's request digests, computed to check its batch digest, are kept
	 * for the core's authenticator checks. */
	int rc = wire_decode_digests(payload, len, &b->limits, &m, b->req_digests,
				     b->limits.max_batch_count, &ndigests);
	if (rc != WIRE_OK) {
		b->ctr.frames_bad++;
		if (peer->role == NET_ROLE_REPLICA)
			log_warn("bulwarkd", "undecodable frame from a replica: closing the connection",
				 "replica=%u peer=%s len=%zu error=%s", peer->replica_id, peer->addr,
				 len, wire_strerror(rc));
		else
			log_debug("bulwarkd", "undecodable frame from a client: closing the connection",
				  "peer=%s len=%zu error=%s", peer->addr, len, wire_strerror(rc));
		net_conn_close(conn);
		return;
	}
	why = refuse_reason(peer, &m);
	if (why != NULL) {
		b->ctr.frames_refused++;
		if (peer->role == NET_ROLE_REPLICA)
			log_warn("bulwarkd", "message refused: closing the connection",
				 "replica=%u type=%s reason=%s", peer->replica_id,
				 wire_type_name(m.hdr.type), why);
		else
			log_debug("bulwarkd", "message refused: closing the connection",
				  "peer=%s type=%s reason=%s", peer->addr, wire_type_name(m.hdr.type), why);
		net_conn_close(conn);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_MESSAGE;
	ev.msg = &m;
	ev.req_digests = (const uint8_t (*)[WIRE_DIGEST_LEN])b->req_digests;
	ev.nreq_digests = ndigests;
	if (peer->role == NET_ROLE_CLIENT) {
		ev.from = WIRE_SENDER_CLIENT;
		ev.from_client = peer->pub;
	} else {
		ev.from = peer->replica_id;
	}
	step(b, &ev);
}

/* ---------------------------------------------------------------- connections */
static void on_up(void *ctx, struct net_conn *conn, const struct net_peer *peer)
{
	struct bwd *b = ctx;

	if (peer->role != NET_ROLE_CLIENT)
		return; /* net logs replica connections */
	int rc = bwd_clients_up(&b->clients, peer->pub, conn, net_conn_auth_key(conn), bwd__now_ms());
	if (rc != BWD_OK) {
		log_warn("bulwarkd", "client refused: client table full", "peer=%s error=%s",
			 peer->addr, bwd_strerror(rc));
		net_conn_close(conn);
	}
}

static void on_down(void *ctx, struct net_conn *conn, int reason)
{
	struct bwd *b = ctx;
	const struct net_peer *peer = net_conn_peer(conn);

	(void)reason;
	if (peer->role == NET_ROLE_CLIENT)
		bwd_clients_down(&b->clients, peer->pub, conn, bwd__now_ms());
}

/* net's lines are "event=NAME key=value ...": NAME becomes the message. Client
 * connections coming and going are routine (one per CLI call), and so is a client
 * resetting its connection when it exits: debug, not info or warn. So are the redials
 * of a replica that is down (its connection going down was logged once). */
static void on_log(void *ctx, int level, const char *line)
{
	enum log_level lv;
	char event[48];
	const char *rest = line;
	size_t n = 0;

	(void)ctx;
	switch (level) {
	case NET_LOG_ERROR: lv = LOG_LEVEL_ERROR; break;
	case NET_LOG_WARN: lv = LOG_LEVEL_WARN; break;
	case NET_LOG_INFO: lv = LOG_LEVEL_INFO; break;
	default: lv = LOG_LEVEL_DEBUG; break;
	}
	if (lv <= LOG_LEVEL_WARN && strstr(line, "role=client") != NULL &&
	    (lv == LOG_LEVEL_INFO || strstr(line, net_strerror(NET_ERR_IO)) != NULL))
		lv = LOG_LEVEL_DEBUG;
	if (lv == LOG_LEVEL_INFO && strstr(line, net_strerror(NET_ERR_CONNECT)) != NULL)
		lv = LOG_LEVEL_DEBUG;
	if (!log_enabled(lv))
		return;
	if (strncmp(line, "event=", 6) == 0) {
		rest = line + 6;
		while (rest[n] != '\0' && rest[n] != ' ' && n + 1 < sizeof(event)) {
			event[n] = rest[n];
			n++;
		}
		event[n] = '\0';
		rest += n;
		while (*rest == ' ')
			rest++;
	} else {
		snprintf(event, sizeof(event), "transport");
	}
	log__write(lv, "net", event, "detail=%s", rest);
}

void bwd__net_callbacks(struct bwd *b, struct net_callbacks *cb)
{
	memset(cb, 0, sizeof(*cb));
	cb->ctx = b;
	cb->on_up = on_up;
	cb->on_frame = on_frame;
	cb->on_down = on_down;
	cb->log = on_log;
}

/* ---------------------------------------------------------------- signals */
static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct bwd *b = w->data;

	(void)revents;
	b->stop_signal = w->signum;
	log_info("bulwarkd", "stopping", "signal=%s", w->signum == SIGTERM ? "SIGTERM" : "SIGINT");
	ev_break(loop, EVBREAK_ALL);
}

static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	int rc = log_reopen();
	if (rc == LOG_OK)
		log_info("bulwarkd", "log file reopened", "signal=SIGHUP");
	else if (rc == LOG_ERR_NOFILE)
		log_info("bulwarkd", "SIGHUP: logging to stderr, nothing to reopen", NULL);
	else
		log_error("bulwarkd", "cannot reopen the log file", "error=%s", log_strerror(rc));
}

/* On the syncer's thread: wake the loop (ev_async_send is thread-safe). */
static void sync_notify(void *ctx)
{
	struct bwd *b = ctx;

	ev_async_send(b->loop, &b->sync_w);
}

/* The syncer reported: the core learns how far its state is durable. */
static void sync_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct bwd *b = w->data;
	struct pbft_event ev;
	uint64_t done;
	char why[256];
	int rc;

	(void)loop;
	(void)revents;
	if (b->fatal != 0)
		return;
	rc = bwd_syncer_result(&b->sync, &done, why, sizeof(why));
	if (rc != STORE_OK) {
		snprintf(b->why, sizeof(b->why), "cannot sync the state: %s: %s", store_strerror(rc), why);
		fail(b, BWD_ERR_PERSIST);
		return;
	}
	if (done <= b->sync.reported)
		return;
	b->sync.reported = done;
	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_DURABLE;
	ev.durable = done;
	step(b, &ev);
}

int bwd__watchers_start(struct bwd *b)
{
	int rc;

	ev_init(&b->idle_w, idle_cb);
	b->idle_w.data = b;
	ev_async_init(&b->sync_w, sync_cb);
	b->sync_w.data = b;
	ev_async_start(b->loop, &b->sync_w);
	rc = bwd_syncer_start(&b->sync, b->store, sync_notify, b);
	if (rc != BWD_OK) {
		ev_async_stop(b->loop, &b->sync_w);
		return rc;
	}
	/* Before net's own prepare watcher, so that a turn's sends are written this turn. */
	ev_prepare_init(&b->flush_w, flush_cb);
	ev_set_priority(&b->flush_w, EV_MAXPRI);
	b->flush_w.data = b;
	ev_prepare_start(b->loop, &b->flush_w);
	ev_init(&b->tick_w, tick_cb);
	b->tick_w.data = b;
	ev_signal_init(&b->sigterm_w, stop_cb, SIGTERM);
	ev_signal_init(&b->sigint_w, stop_cb, SIGINT);
	ev_signal_init(&b->sighup_w, hup_cb, SIGHUP);
	b->sigterm_w.data = b->sigint_w.data = b->sighup_w.data = b;
	ev_signal_start(b->loop, &b->sigterm_w);
	ev_signal_start(b->loop, &b->sigint_w);
	ev_signal_start(b->loop, &b->sighup_w);
	return BWD_OK;
}

void bwd__watchers_stop(struct bwd *b)
{
	/* The running sync ends first: its report must not reach a stopped watcher. */
	bwd_syncer_stop(&b->sync);
	ev_async_stop(b->loop, &b->sync_w);
	ev_timer_stop(b->loop, &b->idle_w);
	ev_prepare_stop(b->loop, &b->flush_w);
	ev_timer_stop(b->loop, &b->tick_w);
	ev_signal_stop(b->loop, &b->sigterm_w);
	ev_signal_stop(b->loop, &b->sigint_w);
	ev_signal_stop(b->loop, &b->sighup_w);
}
