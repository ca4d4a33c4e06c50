/* net.c: the transport's lifetime, configuration, logging, error strings and send API. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net_int.h"

static const char *const net_errors[] = {
	[0] = "ok",
	[1] = "bad argument or configuration",
	[2] = "out of memory",
	[3] = "socket system call failed",
	[4] = "address does not resolve",
	[5] = "crypto operation failed",
	[6] = "connection closed",
	[7] = "already dialling that replica",
	[8] = "no open connection to that replica",
	[9] = "peer closed the connection",
	[10] = "read or write error",
	[11] = "connect failed",
	[12] = "bad magic (not a bulwark hello)",
	[13] = "unsupported protocol version",
	[14] = "malformed hello",
	[15] = "peer closed in the middle of a message",
	[16] = "wrong group id",
	[17] = "wrong ring epoch",
	[18] = "unknown replica key",
	[19] = "responder is not the replica dialled",
	[20] = "bad handshake signature",
	[21] = "client refused",
	[22] = "handshake timeout",
	[23] = "idle timeout",
	[24] = "frame too large",
	[25] = "bad frame MAC (altered, replayed, reordered or deleted frame)",
	[26] = "slow peer (output queue over limit)",
	[27] = "too many connections in handshake",
	[28] = "replaced by a newer connection from the same replica",
	[29] = "closed locally",
	[30] = "malformed frame (its messages do not fill it exactly)",
};

const char *net_strerror(int err)
{
	if (err > 0 || (size_t)-err >= sizeof net_errors / sizeof net_errors[0])
		return "unknown net error";
	return net_errors[-err];
}

void net_config_init(struct net_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->limits.max_frame = 32u * 1024 * 1024;
	cfg->limits.max_frame_client = 2u * 1024 * 1024;
	cfg->limits.max_out_replica = 64u * 1024 * 1024;
	cfg->limits.max_out_client = 8u * 1024 * 1024;
	cfg->limits.max_unauth = 64;
	cfg->limits.max_clients = 4096;
	cfg->limits.handshake_timeout = 5.0;
	cfg->limits.idle_timeout_client = 300.0;
	cfg->limits.idle_timeout_replica = 0.0;
	cfg->limits.backoff_min = 0.05;
	cfg->limits.backoff_max = 2.0;
	cfg->limits.read_budget = 1024u * 1024;
	cfg->log_level = NET_LOG_INFO;
}

void net__log(struct net *net, int level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (net->cfg.cb.log == NULL || level > net->cfg.log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	net->cfg.cb.log(net->cfg.cb.ctx, level, line);
}

void net__addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];
	const void *a;
	unsigned port;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		a = &in->sin_addr;
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		a = &in6->sin6_addr;
		port = ntohs(in6->sin6_port);
	} else {
		snprintf(out, outlen, "unknown");
		return;
	}
	if (inet_ntop(sa->sa_family, a, host, sizeof host) == NULL)
		snprintf(host, sizeof host, "?");
	snprintf(out, outlen, sa->sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

static int net_check_config(const struct net_config *cfg)
{
	const struct net_limits *l = &cfg->limits;

	if (cfg->identity == NULL || !cfg->identity->has_private || cfg->replica_keys == NULL)
		return NET_ERR_ARG;
	if (cfg->n_replicas == 0 || cfg->n_replicas > NET__MAX_REPLICAS)
		return NET_ERR_ARG;
	if (cfg->role == NET_ROLE_REPLICA) {
		if (cfg->replica_id >= cfg->n_replicas ||
		    memcmp(cfg->replica_keys[cfg->replica_id], cfg->identity->pub, CRYPTO_ED25519_PUB) != 0)
			return NET_ERR_ARG;
	} else if (cfg->role != NET_ROLE_CLIENT) {
		return NET_ERR_ARG;
	}
	/* Frames must fit a u32 length and leave room for framing in size_t arithmetic. */
	if (l->max_frame == 0 || l->max_frame > 1024u * 1024 * 1024)
		return NET_ERR_ARG;
	if (l->max_frame_client == 0 || l->max_frame_client > l->max_frame)
		return NET_ERR_ARG;
	if (l->max_out_replica == 0 || l->max_out_client == 0 || l->max_unauth == 0 ||
	    l->max_clients == 0 || l->read_budget == 0)
		return NET_ERR_ARG;
	if (!(l->handshake_timeout > 0) || l->idle_timeout_client < 0 || l->idle_timeout_replica < 0)
		return NET_ERR_ARG;
	if (!(l->backoff_min > 0) || l->backoff_max < l->backoff_min)
		return NET_ERR_ARG;
	return NET_OK;
}

static void net_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct net *net = w->data;

	while (net->dirty != NULL) {
		struct net_conn *c = net->dirty;
		net->dirty = c->dirty_next;
		c->dirty_next = NULL;
		c->dirty = 0;
		net__conn_flush(c);
	}
	net__reap(net);
}

int net_open(struct net **out, struct ev_loop *loop, const struct net_config *cfg)
{
	struct net *net;
	uint32_t i;
	int err;

	if (out == NULL || loop == NULL || cfg == NULL)
		return NET_ERR_ARG;
	err = net_check_config(cfg);
	if (err != NET_OK)
		return err;
	net = calloc(1, sizeof *net);
	if (net == NULL)
		return NET_ERR_NOMEM;
	net->loop = loop;
	net->cfg = *cfg;
	net->keys = malloc(cfg->n_replicas * sizeof *net->keys);
	net->verify_keys = calloc(cfg->n_replicas, sizeof *net->verify_keys);
	net->in_by_id = calloc(cfg->n_replicas, sizeof *net->in_by_id);
	if (net->keys == NULL || net->verify_keys == NULL || net->in_by_id == NULL) {
		err = NET_ERR_NOMEM;
		goto err_after_alloc;
	}
	memcpy(net->keys, cfg->replica_keys, cfg->n_replicas * sizeof *net->keys);
	net->cfg.replica_keys = (const uint8_t (*)[CRYPTO_ED25519_PUB])net->keys;
	for (i = 0; i < cfg->n_replicas; i++) {
		if (crypto_ed25519_key_is_weak(net->keys[i]) ||
		    crypto_ed25519_from_public(&net->verify_keys[i], net->keys[i]) != 0) {
			err = NET_ERR_ARG; /* not a valid (or a forgeable) Ed25519 public key */
			goto err_after_keys;
		}
	}
	ev_prepare_init(&net->prepare, net_prepare_cb);
	net->prepare.data = net;
	ev_prepare_start(loop, &net->prepare);
	ev_unref(loop); /* the flush hook alone must not keep the loop running */
	*out = net;
	return NET_OK;

err_after_keys:
	while (i-- > 0)
		crypto_ed25519_free(&net->verify_keys[i]);
err_after_alloc:
	free(net->in_by_id);
	free(net->verify_keys);
	free(net->keys);
	free(net);
	return err;
}

void net_close(struct net *net)
{
	uint32_t i;

	if (net == NULL)
		return;
	net->closing = 1;
	while (net->listeners != NULL) {
		struct net__listener *l = net->listeners;
		net->listeners = l->next;
		ev_io_stop(net->loop, &l->io);
		ev_timer_stop(net->loop, &l->pause);
		close(l->fd);
		free(l);
	}
	/* Detach dials first so that closing their connections schedules no retry. */
	while (net->dials != NULL) {
		struct net__dial *d = net->dials;
		net->dials = d->next;
		ev_timer_stop(net->loop, &d->retry);
		if (d->conn != NULL)
			d->conn->dial = NULL;
		free(d);
	}
	while (net->conns != NULL)
		net__conn_fail(net->conns, NET_ERR_SHUTDOWN, "net closing");
	net__reap(net);
	ev_ref(net->loop);
	ev_prepare_stop(net->loop, &net->prepare);
	for (i = 0; i < net->cfg.n_replicas; i++)
		crypto_ed25519_free(&net->verify_keys[i]);
	free(net->in_by_id);
	free(net->verify_keys);
	free(net->keys);
	free(net);
}

int net_sendv(struct net_conn *c, const struct iovec *iov, int iovcnt)
{
	struct net *net;
	struct net__chunk *ch;
	uint8_t *p;
	size_t len = 0, need, add;
	int i, join;

	if (c == NULL || iovcnt < 0 || (iovcnt > 0 && iov == NULL))
		return NET_ERR_ARG;
	net = c->net;
	if (c->state != NET__OPEN)
		return NET_ERR_CLOSED;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > net->cfg.limits.max_frame - len)
			return NET_ERR_FRAME_SIZE;
		len += iov[i].iov_len;
	}
	need = NET_MSG_HDR + len;
	/* Into the open frame if it is the queue's end, stays within NET_BUNDLE_MAX and its
	 * chunk has room for the message and the tag; else a frame of its own. */
	ch = c->bundle;
	join = ch != NULL && ch == c->out_last &&
	       ch->tail - c->bundle_off - NET_FRAME_HDR + need <= NET_BUNDLE_MAX &&
	       ch->cap - ch->tail >= need + NET_FRAME_TAG;
	add = join ? need : NET_FRAME_HDR + need + NET_FRAME_TAG;
	if (c->out_bytes > 0 && c->out_bytes + add > c->max_out) {
		net__conn_fail(c, NET_ERR_SLOW, "queued=%zu frame=%zu limit=%zu", c->out_bytes, add,
			       c->max_out);
		return NET_ERR_SLOW;
	}
	if (join) {
		ch->tail += need;
		c->out_bytes += need;
	} else {
		net__conn_seal(c);
		if (c->state != NET__OPEN)
			return NET_ERR_CRYPTO;
		if (net__conn_reserve(c, NET_FRAME_HDR + need, NET_FRAME_TAG) != NET_OK) {
			net__conn_fail(c, NET_ERR_NOMEM, "output queue allocation of %zu bytes", add);
			return NET_ERR_NOMEM;
		}
		ch = c->out_last;
		c->bundle = ch;
		c->bundle_off = ch->tail - NET_FRAME_HDR - need;
	}
	p = ch->data + ch->tail - need;
	p[0] = (uint8_t)len;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 24);
	p += NET_MSG_HDR;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0)
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	net->stats.msgs_out++;
	return NET_OK;
}

int net_send(struct net_conn *c, const void *data, size_t len)
{
	struct iovec iov;

	if (data == NULL && len > 0)
		return NET_ERR_ARG;
	iov.iov_base = (void *)data;
	iov.iov_len = len;
	return net_sendv(c, &iov, 1);
}

int net_send_replica(struct net *net, uint32_t id, const void *data, size_t len)
{
	struct net__dial *d;

	if (net == NULL || id >= net->cfg.n_replicas)
		return NET_ERR_ARG;
	for (d = net->dials; d != NULL; d = d->next)
		if (d->replica_id == id && d->conn != NULL && d->conn->state == NET__OPEN)
			return net_send(d->conn, data, len);
	if (net->in_by_id[id] != NULL)
		return net_send(net->in_by_id[id], data, len);
	return NET_ERR_NOPEER;
}

void net_conn_close(struct net_conn *c)
{
	if (c != NULL && c->state != NET__CLOSED)
		net__conn_fail(c, NET_ERR_SHUTDOWN, "closed by caller");
}

const struct net_peer *net_conn_peer(const struct net_conn *c)
{
	return &c->peer;
}

const uint8_t *net_conn_auth_key(const struct net_conn *c)
{
	return c->auth_key;
}

size_t net_conn_queued(const struct net_conn *c)
{
	return c->out_bytes;
}

void net_get_stats(const struct net *net, struct net_stats *st)
{
	const struct net_conn *c;

	*st = net->stats;
	st->unauth = net->n_unauth;
	st->open = 0;
	st->queued = 0;
	for (c = net->conns; c != NULL; c = c->next) {
		if (c->state == NET__OPEN)
			st->open++;
		st->queued += c->out_bytes;
	}
}
