/* listener.c: listening sockets and accept, and outgoing dials kept up with backoff. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_int.h"

#define ACCEPTS_PER_TURN 64
#define ACCEPT_PAUSE 0.1 /* seconds */

static void set_nodelay(int fd)
{
	int one = 1;
	/* Best effort: frames are flushed once per loop turn, so Nagle only adds delay. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int resolve(const char *host, uint16_t port, int passive, struct sockaddr_storage *ss,
		   socklen_t *len)
{
	struct addrinfo hints, *res;
	char service[8];

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	snprintf(service, sizeof service, "%u", port);
	if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL)
		return NET_ERR_ADDR;
	if (res->ai_addrlen > sizeof *ss) {
		freeaddrinfo(res);
		return NET_ERR_ADDR;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return NET_OK;
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct net__listener *l = w->data;
	struct net *net = l->net;
	int i;

	for (i = 0; i < ACCEPTS_PER_TURN; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		char text[64];
		struct net_conn *c;
		int fd;

		fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* The pending connection stays queued and the listener stays readable:
				 * pause instead of spinning, and retry shortly. */
				net__log(net, NET_LOG_ERROR, "event=accept_paused error=\"%s\" pause=%.1f",
					 strerror(errno), ACCEPT_PAUSE);
				ev_io_stop(loop, &l->io);
				ev_timer_set(&l->pause, ACCEPT_PAUSE, 0.);
				ev_timer_start(loop, &l->pause);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				   errno != ECONNABORTED) {
				net__log(net, NET_LOG_ERROR, "event=accept_failed error=\"%s\"", strerror(errno));
			}
			return;
		}
		net->stats.accepted++;
		net__addr_text((struct sockaddr *)&ss, text, sizeof text);
		if (net->n_unauth >= net->cfg.limits.max_unauth) {
			net__log(net, NET_LOG_WARN, "event=handshake_failed peer=%s side=responder reason=\"%s\" detail=\"%zu in handshake\"",
				 text, net_strerror(NET_ERR_LIMIT), net->n_unauth);
			net->stats.handshakes_failed++;
			close(fd);
			continue;
		}
		set_nodelay(fd);
		c = net__conn_new(net, fd, 0, text);
		if (c == NULL) {
			net__log(net, NET_LOG_ERROR, "event=accept_failed peer=%s error=\"%s\"", text,
				 net_strerror(NET_ERR_NOMEM));
			close(fd);
			continue;
		}
	}
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct net__listener *l = w->data;

	ev_io_start(loop, &l->io);
}

int net_listen(struct net *net, const char *host, uint16_t port, uint16_t *bound)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct net__listener *l;
	int fd, one = 1, err;

	if (net == NULL || host == NULL || net->cfg.role != NET_ROLE_REPLICA)
		return NET_ERR_ARG;
	if (net->closing)
		return NET_ERR_CLOSED;
	err = resolve(host, port, 1, &ss, &len);
	if (err != NET_OK)
		return err;
	l = calloc(1, sizeof *l);
	if (l == NULL)
		return NET_ERR_NOMEM;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto err_after_alloc;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 511) != 0)
		goto err_after_socket;
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		goto err_after_socket;
	if (bound != NULL)
		*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							: ((struct sockaddr_in *)&ss)->sin_port);
	l->net = net;
	l->fd = fd;
	ev_io_init(&l->io, accept_cb, fd, EV_READ);
	ev_timer_init(&l->pause, accept_resume_cb, ACCEPT_PAUSE, 0.);
	l->io.data = l->pause.data = l;
	ev_io_start(net->loop, &l->io);
	l->next = net->listeners;
	net->listeners = l;
	{
		char text[64];
		net__addr_text((struct sockaddr *)&ss, text, sizeof text);
		net__log(net, NET_LOG_INFO, "event=listening addr=%s", text);
	}
	return NET_OK;

err_after_socket:
	net__log(net, NET_LOG_ERROR, "event=listen_failed host=%s port=%u error=\"%s\"", host, port,
		 strerror(errno));
	close(fd);
err_after_alloc:
	free(l);
	return NET_ERR_SYS;
}

/* Schedule the next attempt: backoff scaled by a random factor in [0.5, 1), then doubled. */
static void dial_schedule(struct net__dial *d)
{
	struct net *net = d->net;
	uint32_t r = 0;
	double delay;

	(void)crypto_random(&r, sizeof r); /* on failure r = 0: no jitter, still a delay */
	delay = d->backoff * (0.5 + 0.5 * ((double)r / 4294967296.0));
	d->backoff *= 2;
	if (d->backoff > net->cfg.limits.backoff_max)
		d->backoff = net->cfg.limits.backoff_max;
	ev_timer_set(&d->retry, delay, 0.);
	ev_timer_start(net->loop, &d->retry);
	net__log(net, NET_LOG_DEBUG, "event=reconnect_scheduled id=%u addr=%s delay=%.3f", d->replica_id,
		 d->addr_text, delay);
}

static void dial_attempt(struct net__dial *d)
{
	struct net *net = d->net;
	struct net_conn *c;
	int fd, err;

	net->stats.dialled++;
	fd = socket(d->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		net__log(net, NET_LOG_ERROR, "event=connect_failed id=%u addr=%s error=\"%s\"", d->replica_id,
			 d->addr_text, strerror(errno));
		dial_schedule(d);
		return;
	}
	set_nodelay(fd);
	if (connect(fd, (struct sockaddr *)&d->addr, d->addrlen) != 0 && errno != EINPROGRESS) {
		net__log(net, NET_LOG_INFO, "event=connect_failed id=%u addr=%s error=\"%s\"", d->replica_id,
			 d->addr_text, strerror(errno));
		close(fd);
		dial_schedule(d);
		return;
	}
	c = net__conn_new(net, fd, 1, d->addr_text);
	if (c == NULL) {
		net__log(net, NET_LOG_ERROR, "event=connect_failed id=%u addr=%s error=\"%s\"", d->replica_id,
			 d->addr_text, net_strerror(NET_ERR_NOMEM));
		close(fd);
		dial_schedule(d);
		return;
	}
	c->expect_id = d->replica_id;
	c->dial = d;
	d->conn = c;
	err = net__hs_start(c);
	if (err != NET_OK)
		net__conn_fail(c, err, "handshake setup"); /* schedules the retry */
}

static void dial_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	dial_attempt(w->data);
}

void net__dial_down(struct net__dial *d, int proven)
{
	d->conn = NULL;
	if (proven)
		d->backoff = d->net->cfg.limits.backoff_min;
	dial_schedule(d);
}

int net_connect(struct net *net, uint32_t replica_id, const char *host, uint16_t port)
{
	struct net__dial *d;
	int err;

	if (net == NULL || host == NULL || replica_id >= net->cfg.n_replicas)
		return NET_ERR_ARG;
	if (net->cfg.role == NET_ROLE_REPLICA && replica_id == net->cfg.replica_id)
		return NET_ERR_ARG;
	if (net->closing)
		return NET_ERR_CLOSED;
	for (d = net->dials; d != NULL; d = d->next)
		if (d->replica_id == replica_id)
			return NET_ERR_EXISTS;
	d = calloc(1, sizeof *d);
	if (d == NULL)
		return NET_ERR_NOMEM;
	err = resolve(host, port, 0, &d->addr, &d->addrlen);
	if (err != NET_OK) {
		net__log(net, NET_LOG_ERROR, "event=connect_failed id=%u host=%s port=%u reason=\"%s\"",
			 replica_id, host, port, net_strerror(err));
		free(d);
		return err;
	}
	d->net = net;
	d->replica_id = replica_id;
	d->backoff = net->cfg.limits.backoff_min;
	net__addr_text((struct sockaddr *)&d->addr, d->addr_text, sizeof d->addr_text);
	ev_timer_init(&d->retry, dial_retry_cb, 0., 0.);
	d->retry.data = d;
	d->next = net->dials;
	net->dials = d;
	dial_attempt(d);
	return NET_OK;
}
