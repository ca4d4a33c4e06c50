/* status.c: bulwark_status: an INFO query to every replica of the group, answers
 * collected until all have replied or the timeout passes. The query belongs to the
 * session (the answers come over its connections), so one runs at a time per key. */
#include <string.h>

#include "client/lib/client_int.h"

/* Ask replica id, if it is connected and not asked on this connection yet. */
static void status_ask(struct bulwark__session *s, uint32_t id)
{
	struct bulwark__replica *r = &s->rep[id];
	struct wire_hdr hdr;

	if (!r->conn || r->info_asked || r->info_have)
		return;
	memset(&hdr, 0, sizeof(hdr));
	hdr.group = s->group;
	hdr.epoch = s->epoch;
	wire_buf_reset(&s->scratch);
	if (wire_info_req_encode(&s->scratch, &hdr) != WIRE_OK)
		return; /* out of memory: the replica is reported down */
	if (net_send(r->conn, s->scratch.p, s->scratch.len) == NET_OK)
		r->info_asked = 1;
}

static int status_all_answered(const struct bulwark__session *s)
{
	for (uint32_t i = 0; i < s->n; i++) {
		if (!s->rep[i].info_have)
			return 0;
	}
	return 1;
}

void bulwark__status_up(struct bulwark__session *s, uint32_t id)
{
	if (s->status_busy)
		status_ask(s, id);
}

void bulwark__status_info(struct bulwark__session *s, uint32_t id, const uint8_t *buf,
			  size_t len)
{
	struct wire_hdr hdr;
	struct wire_info info;

	if (!s->status_busy || s->rep[id].info_have)
		return;
	if (wire_info_decode(buf, len, &hdr, &info) != WIRE_OK)
		return;
	/* It must come from the replica on this authenticated connection, for our group. */
	if (hdr.sender != id || info.replica != id || hdr.group != s->group || hdr.epoch != s->epoch)
		return;
	s->rep[id].info = info;
	s->rep[id].info_have = 1;
	if (status_all_answered(s))
		s->status_busy = 0;
}

/* The query's deadline. */
static void status_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct bulwark__session *s = w->data;

	(void)loop;
	(void)revents;
	s->status_busy = 0;
}

static void status_fill(const struct bulwark__session *s, struct bulwark_replica_status *out,
			size_t max)
{
	for (uint32_t i = 0; i < s->n && i < max; i++) {
		const struct bulwark__replica *r = &s->rep[i];
		struct bulwark_replica_status *st = &out[i];

		memset(st, 0, sizeof(*st));
		st->id = i;
		memcpy(st->address, r->address, sizeof(st->address));
		if (!r->info_have) {
			st->error = r->conn ? BULWARK_ERR_TIMEOUT : BULWARK_ERR_NET;
			continue;
		}
		st->up = 1;
		st->view = r->info.view;
		st->primary = r->info.primary;
		st->view_active = (r->info.flags & WIRE_INFO_VIEW_ACTIVE) != 0;
		st->transferring = (r->info.flags & WIRE_INFO_TRANSFERRING) != 0;
		st->low_watermark = r->info.low_watermark;
		st->last_executed = r->info.last_executed;
		st->last_committed = r->info.last_committed;
		st->dropped = r->info.dropped;
		memcpy(st->checkpoint_digest, r->info.checkpoint_digest, sizeof(st->checkpoint_digest));
		st->uptime_ms = r->info.uptime_ms;
	}
}

int bulwark_status(struct bulwark_client *c, uint32_t timeout_ms,
		   struct bulwark_replica_status *out, size_t max, size_t *count)
{
	struct bulwark__session *s;
	ev_timer deadline;
	int rc;

	if (!c || (max && !out))
		return BULWARK_ERR_ARG;
	s = c->s;
	if (s->status_busy)
		return BULWARK_ERR_BUSY;
	if (ev_depth(s->loop) > 0)
		return BULWARK_ERR_LOOP;
	if (!timeout_ms) {
		timeout_ms = s->retrans_ms;
		if (timeout_ms < 1000)
			timeout_ms = 1000;
	}
	/* A callback run meanwhile may close c, even every lane: s stays until we are done. */
	bulwark__session_hold(s);
	for (uint32_t i = 0; i < s->n; i++) {
		s->rep[i].info_asked = 0;
		s->rep[i].info_have = 0;
	}
	s->status_busy = 1;
	for (uint32_t i = 0; i < s->n; i++)
		status_ask(s, i);
	ev_timer_init(&deadline, status_timeout_cb, (double)timeout_ms / 1000.0, 0.0);
	deadline.data = s;
	ev_now_update(s->loop);
	ev_timer_start(s->loop, &deadline);
	rc = bulwark__run_until(s, &s->status_busy);
	ev_timer_stop(s->loop, &deadline);
	s->status_busy = 0;
	if (rc == BULWARK_OK) {
		status_fill(s, out, max);
		if (count)
			*count = s->n;
	}
	bulwark__session_release(s);
	return rc;
}
