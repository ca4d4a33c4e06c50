/* conn.c: one connection: its state machine, socket reads and writes, frame parsing,
 * output queue, timers, and the deferred on_down and free. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_int.h"

static const char *const state_names[] = {
	[NET__CONNECTING] = "connecting",
	[NET__HELLO_SENT] = "hello_sent",
	[NET__WAIT_HELLO] = "wait_hello",
	[NET__WAIT_SIG] = "wait_sig",
	[NET__OPEN] = "open",
	[NET__CLOSED] = "closed",
};

static double conn_idle_limit(const struct net_conn *c)
{
	const struct net_limits *l = &c->net->cfg.limits;
	return c->peer.role == NET_ROLE_CLIENT ? l->idle_timeout_client : l->idle_timeout_replica;
}

static void conn_mark_dirty(struct net_conn *c)
{
	if (c->dirty || ev_is_active(&c->wio))
		return;
	c->dirty = 1;
	c->dirty_next = c->net->dirty;
	c->net->dirty = c;
}

static void conn_unmark_dirty(struct net_conn *c)
{
	struct net_conn **pp;

	if (!c->dirty)
		return;
	for (pp = &c->net->dirty; *pp != NULL; pp = &(*pp)->dirty_next) {
		if (*pp == c) {
			*pp = c->dirty_next;
			break;
		}
	}
	c->dirty = 0;
	c->dirty_next = NULL;
}

void net__conn_fail(struct net_conn *c, int reason, const char *fmt, ...)
{
	struct net *net = c->net;
	char detail[256];
	va_list ap;
	int level;

	if (c->state == NET__CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);

	if (c->state == NET__OPEN) {
		level = (reason == NET_ERR_EOF || reason == NET_ERR_SHUTDOWN) ? NET_LOG_INFO : NET_LOG_WARN;
		if (c->peer.role == NET_ROLE_REPLICA)
			net__log(net, level, "event=conn_down peer=%s role=replica id=%u reason=\"%s\" detail=\"%s\"",
				 c->peer.addr, c->peer.replica_id, net_strerror(reason), detail);
		else
			net__log(net, level, "event=conn_down peer=%s role=client reason=\"%s\" detail=\"%s\"",
				 c->peer.addr, net_strerror(reason), detail);
		if (reason != NET_ERR_EOF && reason != NET_ERR_SHUTDOWN)
			net->stats.dropped++;
		if (c->peer.role == NET_ROLE_REPLICA && net->in_by_id[c->peer.replica_id] == c)
			net->in_by_id[c->peer.replica_id] = NULL;
		if (c->peer.role == NET_ROLE_CLIENT && !c->initiator)
			net->n_clients--;
	} else {
		level = (reason == NET_ERR_SHUTDOWN || reason == NET_ERR_CONNECT || reason == NET_ERR_EOF)
				? NET_LOG_INFO : NET_LOG_WARN;
		net__log(net, level, "event=handshake_failed peer=%s side=%s state=%s reason=\"%s\" detail=\"%s\"",
			 c->peer.addr, c->initiator ? "initiator" : "responder", state_names[c->state],
			 net_strerror(reason), detail);
		net->stats.handshakes_failed++;
		if (!c->initiator)
			net->n_unauth--;
	}

	ev_io_stop(net->loop, &c->rio);
	ev_io_stop(net->loop, &c->wio);
	ev_timer_stop(net->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	conn_unmark_dirty(c);
	c->state = NET__CLOSED;
	c->down_reason = reason;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		net->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->dead_next = net->dead;
	net->dead = c;

	if (c->dial != NULL) {
		/* The backoff restarts only after a connection that proved itself: one that
		 * delivered a frame or stayed up for backoff_max. A responder that accepts
		 * our signature and then refuses us keeps doubling the delay. */
		struct net__dial *d = c->dial;
		int proven = c->was_up && (c->ctr_in > 0 || ev_now(net->loop) - c->up_since >=
								     net->cfg.limits.backoff_max);
		c->dial = NULL;
		net__dial_down(d, proven);
	}
}

/* Memory is released only here, after on_down, so that a callback that closes its own
 * connection can still read the payload it was handed. */
static void conn_release(struct net_conn *c)
{
	struct net__chunk *ch = c->out_first;

	while (ch != NULL) {
		struct net__chunk *next = ch->next;
		free(ch);
		ch = next;
	}
	free(c->rbuf);
	if (c->have_eph)
		crypto_x25519_free(&c->eph);
	if (c->have_macs) {
		crypto_gmac_free(&c->mac_out);
		crypto_gmac_free(&c->mac_in);
	}
	explicit_bzero(c->auth_key, sizeof c->auth_key);
	free(c);
}

void net__reap(struct net *net)
{
	while (net->dead != NULL) {
		struct net_conn *c = net->dead;
		net->dead = c->dead_next;
		if (c->was_up && net->cfg.cb.on_down != NULL)
			net->cfg.cb.on_down(net->cfg.cb.ctx, c, c->down_reason);
		conn_release(c);
	}
}

int net__conn_queue_raw(struct net_conn *c, const void *data, size_t len)
{
	int rc = net__conn_reserve(c, len, 0);

	if (rc == NET_OK && data != NULL)
		memcpy(c->out_last->data + c->out_last->tail - len, data, len);
	return rc;
}

int net__conn_reserve(struct net_conn *c, size_t len, size_t extra)
{
	struct net__chunk *ch = c->out_last;

	if (ch == NULL || ch->cap - ch->tail < len + extra) {
		size_t cap = len + extra > NET__CHUNK ? len + extra : NET__CHUNK;
		ch = malloc(sizeof *ch + cap);
		if (ch == NULL)
			return NET_ERR_NOMEM;
		ch->next = NULL;
		ch->cap = cap;
		ch->head = ch->tail = 0;
		if (c->out_last != NULL)
			c->out_last->next = ch;
		else
			c->out_first = ch;
		c->out_last = ch;
	}
	ch->tail += len;
	c->out_bytes += len;
	conn_mark_dirty(c);
	return NET_OK;
}

void net__conn_seal(struct net_conn *c)
{
	struct net__chunk *ch = c->bundle;
	uint8_t nonce[CRYPTO_GMAC_NONCE], *p;
	size_t len;
	int i;

	if (ch == NULL)
		return;
	c->bundle = NULL;
	p = ch->data + c->bundle_off;
	len = ch->tail - c->bundle_off - NET_FRAME_HDR;
	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(len >> (8 * i));
	net__frame_nonce(nonce, c->ctr_out);
	/* Room for the tag was kept when the frame was opened and at each message since. */
	if (crypto_gmac_tag(&c->mac_out, nonce, p, NET_FRAME_HDR + len, NULL, 0,
			    ch->data + ch->tail) != 0) {
		net__conn_fail(c, NET_ERR_CRYPTO, "frame MAC computation failed");
		return;
	}
	ch->tail += NET_FRAME_TAG;
	c->out_bytes += NET_FRAME_TAG;
	c->ctr_out++;
	c->net->stats.frames_out++;
}

/* Drop n written bytes from the front of the queue. The last chunk is kept for reuse. */
static void conn_consume(struct net_conn *c, size_t n)
{
	c->out_bytes -= n;
	while (n > 0) {
		struct net__chunk *ch = c->out_first;
		size_t avail = ch->tail - ch->head;
		if (n < avail) {
			ch->head += n;
			return;
		}
		n -= avail;
		if (ch->next == NULL && ch->cap == NET__CHUNK) {
			ch->head = ch->tail = 0;
			return;
		}
		c->out_first = ch->next;
		if (c->out_first == NULL)
			c->out_last = NULL;
		free(ch);
	}
}

void net__conn_flush(struct net_conn *c)
{
	struct net *net = c->net;

	if (c->state == NET__CONNECTING || c->state == NET__CLOSED)
		return;
	net__conn_seal(c);
	while (c->state != NET__CLOSED && c->out_bytes > 0) {
		struct iovec iov[NET__MAX_IOV];
		struct msghdr msg;
		struct net__chunk *ch;
		int n = 0;
		ssize_t w;

		for (ch = c->out_first; ch != NULL && n < NET__MAX_IOV; ch = ch->next) {
			if (ch->tail == ch->head)
				continue;
			iov[n].iov_base = ch->data + ch->head;
			iov[n].iov_len = ch->tail - ch->head;
			n++;
		}
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = iov;
		msg.msg_iovlen = (size_t)n;
		w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(net->loop, &c->wio);
				return;
			}
			net__conn_fail(c, NET_ERR_IO, "write: %s", strerror(errno));
			return;
		}
		net->stats.bytes_out += (uint64_t)w;
		conn_consume(c, (size_t)w);
	}
	ev_io_stop(net->loop, &c->wio);
}

void net__frame_nonce(uint8_t nonce[CRYPTO_GMAC_NONCE], uint64_t ctr)
{
	for (int i = 0; i < 8; i++)
		nonce[i] = (uint8_t)(ctr >> (8 * i));
	memset(nonce + 8, 0, CRYPTO_GMAC_NONCE - 8);
}

int net__frame_parse(struct crypto_gmac *mac, uint64_t ctr, size_t max, const uint8_t *buf,
		     size_t avail, struct net__frame *f)
{
	uint8_t nonce[CRYPTO_GMAC_NONCE];
	int rc;

	f->payload = NULL;
	f->len = 0;
	f->size = NET_FRAME_HDR;
	if (avail < NET_FRAME_HDR)
		return NET_OK;
	f->len = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 |
		 (uint32_t)buf[3] << 24;
	if (f->len > max)
		return NET_ERR_FRAME_SIZE;
	f->size = NET_FRAME_HDR + (size_t)f->len + NET_FRAME_TAG;
	if (avail < f->size)
		return NET_OK;
	net__frame_nonce(nonce, ctr);
	rc = crypto_gmac_verify(mac, nonce, buf, NET_FRAME_HDR + (size_t)f->len, NULL, 0,
				buf + NET_FRAME_HDR + f->len);
	if (rc != CRYPTO_OK)
		return rc == CRYPTO_ERR_AUTH ? NET_ERR_MAC : NET_ERR_CRYPTO;
	f->payload = buf + NET_FRAME_HDR;
	return NET_OK;
}

size_t net__frame_max(size_t msg_max)
{
	return NET_MSG_HDR + (msg_max > NET_BUNDLE_MAX ? msg_max : NET_BUNDLE_MAX);
}

int net__frame_next(const uint8_t *payload, size_t len, size_t msg_max, size_t *off,
		    const uint8_t **msg, uint32_t *msg_len)
{
	size_t left = len - *off;
	uint32_t n;

	if (left < NET_MSG_HDR)
		return NET_ERR_FRAME_BAD;
	n = (uint32_t)payload[*off] | (uint32_t)payload[*off + 1] << 8 |
	    (uint32_t)payload[*off + 2] << 16 | (uint32_t)payload[*off + 3] << 24;
	*msg_len = n;
	if (n > left - NET_MSG_HDR)
		return NET_ERR_FRAME_BAD;
	if (n > msg_max)
		return NET_ERR_FRAME_SIZE;
	*msg = payload + *off + NET_MSG_HDR;
	*off += NET_MSG_HDR + n;
	return NET_OK;
}

/* Parse and deliver every complete frame in rbuf. Returns 0 if the connection closed. */
static int conn_process_frames(struct net_conn *c)
{
	struct net *net = c->net;
	size_t msg_max = c->peer.role == NET_ROLE_CLIENT ? net->cfg.limits.max_frame_client
							 : net->cfg.limits.max_frame;
	size_t max = net__frame_max(msg_max);
	size_t pos = 0;

	while (pos < c->rlen) {
		struct net__frame f;
		int err = net__frame_parse(&c->mac_in, c->ctr_in, max, c->rbuf + pos, c->rlen - pos, &f);

		if (err == NET_ERR_FRAME_SIZE) {
			net__conn_fail(c, err, "frame #%llu length %u, limit %zu",
				       (unsigned long long)c->ctr_in, f.len, max);
			return 0;
		}
		if (err != NET_OK) {
			net__conn_fail(c, err, "frame #%llu length %u", (unsigned long long)c->ctr_in, f.len);
			return 0;
		}
		if (f.payload == NULL)
			break; /* incomplete */
		c->ctr_in++;
		net->stats.frames_in++;
		if (f.len == 0) {
			net__conn_fail(c, NET_ERR_FRAME_BAD, "frame #%llu holds no message",
				       (unsigned long long)(c->ctr_in - 1));
			return 0;
		}
		/* The whole frame is checked before any of its messages is delivered. */
		for (size_t off = 0; off < f.len;) {
			const uint8_t *m;
			uint32_t mlen = 0;
			size_t at = off;
			err = net__frame_next(f.payload, f.len, msg_max, &off, &m, &mlen);
			if (err != NET_OK) {
				net__conn_fail(c, err, "frame #%llu: message at byte %zu: length %u, "
					       "frame %u bytes, limit %zu",
					       (unsigned long long)(c->ctr_in - 1), at, mlen, f.len, msg_max);
				return 0;
			}
		}
		for (size_t off = 0; off < f.len;) {
			const uint8_t *m = NULL;
			uint32_t mlen = 0;
			(void)net__frame_next(f.payload, f.len, msg_max, &off, &m, &mlen);
			net->stats.msgs_in++;
			if (net->cfg.cb.on_frame != NULL)
				net->cfg.cb.on_frame(net->cfg.cb.ctx, c, m, mlen);
			if (c->state != NET__OPEN)
				return 0;
		}
		pos += f.size;
	}
	if (pos > 0) {
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
	if (c->rlen == 0 && c->rcap > NET__RBUF) {
		/* A large frame is done: give its buffer back. */
		uint8_t *small = realloc(c->rbuf, NET__RBUF);
		if (small != NULL) {
			c->rbuf = small;
			c->rcap = NET__RBUF;
		}
	}
	return 1;
}

/* Make room for more input. The buffer only grows while a frame that does not fit is
 * arriving, and at most doubles, so memory follows the bytes the peer actually sent. */
static int conn_grow_rbuf(struct net_conn *c)
{
	const uint8_t *p = c->rbuf;
	size_t need = NET_FRAME_HDR + ((size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
				       (size_t)p[3] << 24) + NET_FRAME_TAG;
	size_t cap = c->rcap * 2 < need ? c->rcap * 2 : need;
	uint8_t *nb = realloc(c->rbuf, cap);

	if (nb == NULL) {
		net__conn_fail(c, NET_ERR_NOMEM, "input buffer of %zu bytes", cap);
		return NET_ERR_NOMEM;
	}
	c->rbuf = nb;
	c->rcap = cap;
	return NET_OK;
}

static void conn_read_frames(struct net_conn *c)
{
	struct net *net = c->net;
	size_t budget = net->cfg.limits.read_budget;

	while (budget > 0) {
		size_t want;
		ssize_t n;

		/* After conn_process_frames a full buffer holds one incomplete frame. */
		if (c->rlen == c->rcap && conn_grow_rbuf(c) != NET_OK)
			return;
		want = c->rcap - c->rlen;
		if (want > budget)
			want = budget;
		n = read(c->fd, c->rbuf + c->rlen, want);
		if (n == 0) {
			if (c->rlen > 0)
				net__conn_fail(c, NET_ERR_TRUNCATED, "closed with %zu bytes of a frame", c->rlen);
			else
				net__conn_fail(c, NET_ERR_EOF, "after %llu frames", (unsigned long long)c->ctr_in);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				net__conn_fail(c, NET_ERR_IO, "read: %s", strerror(errno));
			return;
		}
		c->rlen += (size_t)n;
		budget -= (size_t)n;
		net->stats.bytes_in += (uint64_t)n;
		c->last_input = ev_now(net->loop);
		if (!conn_process_frames(c))
			return;
		if ((size_t)n < want)
			return; /* the socket is drained */
	}
}

static void conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net_conn *c = w->data;

	if (c->state == NET__OPEN)
		conn_read_frames(c);
	else
		net__hs_input(c);
}

static void conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net_conn *c = w->data;

	if (c->state == NET__CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			net__conn_fail(c, NET_ERR_CONNECT, "%s", strerror(err));
			return;
		}
		c->state = NET__HELLO_SENT;
		ev_io_start(loop, &c->rio);
	}
	net__conn_flush(c);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct net_conn *c = w->data;
	double limit, idle;

	if (c->state != NET__OPEN) {
		net__conn_fail(c, NET_ERR_TIMEOUT, "no complete handshake after %.3gs (%zu bytes of the awaited message)",
			       c->net->cfg.limits.handshake_timeout, c->hs_have);
		return;
	}
	limit = conn_idle_limit(c);
	idle = ev_now(loop) - c->last_input;
	if (idle >= limit) {
		net__conn_fail(c, NET_ERR_IDLE, "nothing received for %.3gs", idle);
		return;
	}
	w->repeat = limit - idle;
	ev_timer_again(loop, w);
}

struct net_conn *net__conn_new(struct net *net, int fd, int initiator, const char *addr_text)
{
	struct net_conn *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->net = net;
	c->fd = fd;
	c->initiator = initiator;
	snprintf(c->peer.addr, sizeof c->peer.addr, "%s", addr_text);
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	ev_timer_init(&c->timer, conn_timer_cb, net->cfg.limits.handshake_timeout, 0.);
	c->rio.data = c->wio.data = c->timer.data = c;
	c->next = net->conns;
	if (net->conns != NULL)
		net->conns->prev = c;
	net->conns = c;
	if (initiator) {
		c->state = NET__CONNECTING;
		ev_io_start(net->loop, &c->wio);
	} else {
		c->state = NET__WAIT_HELLO;
		net->n_unauth++;
		ev_io_start(net->loop, &c->rio);
	}
	ev_timer_start(net->loop, &c->timer);
	return c;
}

void net__conn_open(struct net_conn *c)
{
	struct net *net = c->net;
	double idle;

	c->rbuf = malloc(NET__RBUF);
	if (c->rbuf == NULL) {
		net__conn_fail(c, NET_ERR_NOMEM, "input buffer");
		return;
	}
	c->rcap = NET__RBUF;
	if (!c->initiator)
		net->n_unauth--;
	c->state = NET__OPEN;
	c->was_up = 1;
	c->hs_have = 0;
	net->stats.handshakes_ok++;
	crypto_x25519_free(&c->eph);
	c->have_eph = 0;
	c->max_out = c->peer.role == NET_ROLE_CLIENT ? net->cfg.limits.max_out_client
						       : net->cfg.limits.max_out_replica;
	if (c->peer.role == NET_ROLE_CLIENT && !c->initiator)
		net->n_clients++;
	if (c->peer.role == NET_ROLE_REPLICA && !c->initiator) {
		struct net_conn *old = net->in_by_id[c->peer.replica_id];
		if (old != NULL)
			net__conn_fail(old, NET_ERR_REPLACED, "new connection from %s", c->peer.addr);
		net->in_by_id[c->peer.replica_id] = c;
	}
	c->last_input = c->up_since = ev_now(net->loop);
	ev_timer_stop(net->loop, &c->timer);
	idle = conn_idle_limit(c);
	if (idle > 0) {
		ev_timer_set(&c->timer, idle, 0.);
		ev_timer_start(net->loop, &c->timer);
	}
	if (c->peer.role == NET_ROLE_REPLICA)
		net__log(net, NET_LOG_INFO, "event=conn_up peer=%s side=%s role=replica id=%u", c->peer.addr,
			 c->initiator ? "initiator" : "responder", c->peer.replica_id);
	else
		net__log(net, NET_LOG_INFO, "event=conn_up peer=%s side=%s role=client", c->peer.addr,
			 c->initiator ? "initiator" : "responder");
	if (net->cfg.cb.on_up != NULL)
		net->cfg.cb.on_up(net->cfg.cb.ctx, c, &c->peer);
}
