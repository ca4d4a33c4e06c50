/* fuzz_net.h: scaffolding shared by the net fuzz targets: fixed keys, net instances on a
 * loop that is never run, and a driver that feeds a peer's bytes to one connection over a
 * socketpair exactly as its libev watchers and the loop's flush hook would. */
#ifndef BULWARK_FUZZ_NET_H
#define BULWARK_FUZZ_NET_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "net/net_int.h"

#define FN_GROUP 7u
#define FN_EPOCH 3u
#define FN_N     4u    /* replicas in the group */
#define FN_SEED_REPLICA 0x60u /* replica i's Ed25519 seed is 32 bytes of 0x60 + i */
#define FN_SEED_CLIENT  0x70u /* the client's: 32 bytes of 0x70 */
#define FN_MAX_TURNS 64u      /* a stream is written in at most about this many pieces */

/* A deterministic Ed25519 key: 32 seed bytes equal to b. */
static inline void fn_key(struct crypto_ed25519_key *k, unsigned b)
{
	uint8_t seed[CRYPTO_ED25519_SEED];

	memset(seed, (int)b, sizeof seed);
	if (crypto_ed25519_from_seed(k, seed) != 0)
		abort();
}

/* The replica key table: public keys of replicas 0..FN_N-1. */
static inline void fn_table(uint8_t table[FN_N][CRYPTO_ED25519_PUB])
{
	unsigned i;

	for (i = 0; i < FN_N; i++) {
		struct crypto_ed25519_key k;
		fn_key(&k, FN_SEED_REPLICA + i);
		memcpy(table[i], k.pub, CRYPTO_ED25519_PUB);
		crypto_ed25519_free(&k);
	}
}

static inline void fn_log(void *ctx, int level, const char *line)
{
	(void)ctx;
	if (level < NET_LOG_ERROR || level > NET_LOG_DEBUG || line[0] == '\0')
		abort();
}

/* One net instance of the fuzzer, alive for the whole run. */
struct fn_node {
	struct crypto_ed25519_key key;
	uint8_t table[FN_N][CRYPTO_ED25519_PUB];
	struct net *net;
};

/* A config for n as replica id (role NET_ROLE_REPLICA) or as the client, logging every
 * level (so that each log line is formatted) with callbacks cb (copied; log is set). */
static inline void fn_config(struct fn_node *n, struct net_config *cfg, enum net_role role,
			     uint32_t id, const struct net_callbacks *cb)
{
	fn_table(n->table);
	fn_key(&n->key, role == NET_ROLE_REPLICA ? FN_SEED_REPLICA + id : FN_SEED_CLIENT);
	net_config_init(cfg);
	cfg->identity = &n->key;
	cfg->group_id = FN_GROUP;
	cfg->epoch = FN_EPOCH;
	cfg->role = role;
	cfg->replica_id = id;
	cfg->replica_keys = (const uint8_t (*)[CRYPTO_ED25519_PUB])n->table;
	cfg->n_replicas = FN_N;
	cfg->log_level = NET_LOG_DEBUG;
	if (cb != NULL)
		cfg->cb = *cb;
	cfg->cb.log = fn_log;
}

/* A stream-ordered pair of sockets: [0] for the connection under test, [1] for the peer. */
static inline void fn_socketpair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
		abort();
}

/* Flush queued output as the loop's prepare hook does (without reaping closed connections,
 * so that the caller can still read why one closed). */
static inline void fn_flush(struct net *net)
{
	while (net->dirty != NULL) {
		struct net_conn *c = net->dirty;
		net->dirty = c->dirty_next;
		c->dirty_next = NULL;
		c->dirty = 0;
		net__conn_flush(c);
	}
}

/* The mode byte's chunk selector: 0 writes everything at once, k > 0 writes k bytes at a
 * time, but never more than about FN_MAX_TURNS pieces. */
static inline size_t fn_chunk(unsigned k, size_t size)
{
	if (k == 0)
		return size;
	if (k < size / FN_MAX_TURNS)
		return size / FN_MAX_TURNS;
	return k;
}

/* Feed data[0..size) to c from the peer end of its socketpair, chunk bytes per write, and
 * shut the peer's write side after the last byte. After each write c's read watcher runs,
 * then queued output is flushed: one loop turn. Returns when c is closed; aborts if it is
 * not closed after more turns than the bytes could need (each turn reads at least one
 * byte or sees the end of the stream). */
static inline void fn_drive(struct net *net, struct net_conn *c, int peer, const uint8_t *data,
			    size_t size, size_t chunk)
{
	size_t off = 0, turns = 0;

	if (size == 0 && shutdown(peer, SHUT_WR) != 0)
		abort();
	while (c->state != NET__CLOSED) {
		if (off < size) {
			size_t n = size - off < chunk ? size - off : chunk;
			ssize_t w = send(peer, data + off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				abort();
			if (w > 0)
				off += (size_t)w;
			if (off == size && shutdown(peer, SHUT_WR) != 0)
				abort();
		}
		ev_invoke(net->loop, &c->rio, EV_READ);
		if (c->state != NET__CLOSED)
			fn_flush(net);
		if (++turns > 2 * size + 8)
			abort();
	}
}

/* Bytes waiting at the peer end (what the connection sent), drained. */
static inline size_t fn_drain(int peer)
{
	uint8_t buf[4096];
	size_t total = 0;
	ssize_t n;

	while ((n = recv(peer, buf, sizeof buf, MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	return total;
}

/* After an iteration: no connection is left anywhere and every counter is back to zero. */
static inline void fn_check_idle(const struct net *net)
{
	uint32_t i;

	if (net->conns != NULL || net->dead != NULL || net->dirty != NULL || net->n_unauth != 0 ||
	    net->n_clients != 0)
		abort();
	for (i = 0; i < net->cfg.n_replicas; i++)
		if (net->in_by_id[i] != NULL)
			abort();
}

static inline uint64_t fn_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#endif
