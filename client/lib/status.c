/* status.c: bulwark_status: an INFO query to every replica of the group, answers
 * collected until all have replied or the timeout passes. */
#include <string.h>

#include "client/lib/client_int.h"

/* Ask replica id, if it is connected and not asked on this connection yet. */
static void status_ask(struct bulwark_client *c, uint32_t id)
{
	struct bulwark__replica *r = &c->rep[id];
	struct wire_hdr hdr;

	if (!r->conn || r->info_asked || r->info_have)
		return;
	memset(&hdr, 0, sizeof(hdr));
	hdr.group = c->group;
	hdr.epoch = c->epoch;
	wire_buf_reset(&c->scratch);
	if (wire_info_req_encode(&c->scratch, &hdr) != WIRE_OK)
		return; /* out of memory: the replica is reported down */
	if (net_send(r->conn, c->scratch.p, c->scratch.len) == NET_OK)
		r->info_asked = 1;
}

static int status_all_answered(const struct bulwark_client *c)
{
	for (uint32_t i = 0; i < c->n; i++) {
		if (!c->rep[i].info_have)
			return 0;
	}
	return 1;
}

void bulwark__status_up(struct bulwark_client *c, uint32_t id)
{
	if (c->status_busy)
		status_ask(c, id);
}

void bulwark__status_info(struct bulwark_client *c, uint32_t id, const uint8_t *buf, size_t len)
{
	struct wire_hdr hdr;
	struct wire_info info;

	if (!c->status_busy || c->rep[id].info_have)
		return;
	if (wire_info_decode(buf, len, &hdr, &info) != WIRE_OK)
		return;
	/* It must come from the replica on this authenticated connection, for our group. */
	if (hdr.sender != id || info.replica != id || hdr.group != c->group || hdr.epoch != c->epoch)
		return;
	c->rep[id].info = info;
	c->rep[id].info_have = 1;
	if (status_all_answered(c)) {
		c->status_busy = 0;
		bulwark__arm(c);
	}
}

void bulwark__status_tick(struct bulwark_client *c, uint64_t now)
{
	if (c->status_busy && now >= c->status_deadline)
		c->status_busy = 0;
}

int bulwark_status(struct bulwark_client *c, uint32_t timeout_ms,
		   struct bulwark_replica_status *out, size_t max, size_t *count)
{
	int rc;

	if (!c || (max && !out))
		return BULWARK_ERR_ARG;
	if (c->status_busy)
		return BULWARK_ERR_BUSY;
	if (ev_depth(c->loop) > 0)
		return BULWARK_ERR_LOOP;
	if (!timeout_ms) {
		timeout_ms = c->retrans_ms;
		if (timeout_ms < 1000)
			timeout_ms = 1000;
	}
	for (uint32_t i = 0; i < c->n; i++) {
		c->rep[i].info_asked = 0;
		c->rep[i].info_have = 0;
	}
	c->status_busy = 1;
	c->status_deadline = bulwark__now_ms() + timeout_ms;
	for (uint32_t i = 0; i < c->n; i++)
		status_ask(c, i);
	bulwark__arm(c);
	rc = bulwark__run_until(c, &c->status_busy);
	if (rc != BULWARK_OK) {
		c->status_busy = 0;
		return rc;
	}
	bulwark__arm(c);
	for (uint32_t i = 0; i < c->n && i < max; i++) {
		const struct bulwark__replica *r = &c->rep[i];
		struct bulwark_replica_status *s = &out[i];

		memset(s, 0, sizeof(*s));
		s->id = i;
		memcpy(s->address, r->address, sizeof(s->address));
		if (!r->info_have) {
			s->error = r->conn ? BULWARK_ERR_TIMEOUT : BULWARK_ERR_NET;
			continue;
		}
		s->up = 1;
		s->view = r->info.view;
		s->primary = r->info.primary;
		s->view_active = (r->info.flags & WIRE_INFO_VIEW_ACTIVE) != 0;
		s->transferring = (r->info.flags & WIRE_INFO_TRANSFERRING) != 0;
		s->low_watermark = r->info.low_watermark;
		s->last_executed = r->info.last_executed;
		s->last_committed = r->info.last_committed;
		s->dropped = r->info.dropped;
		memcpy(s->checkpoint_digest, r->info.checkpoint_digest, sizeof(s->checkpoint_digest));
		s->uptime_ms = r->info.uptime_ms;
	}
	if (count)
		*count = c->n;
	return BULWARK_OK;
}
