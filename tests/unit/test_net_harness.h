/* test_net_harness.h: shared helpers of the net unit tests: keys, nodes whose callbacks
 * record what happened, a bounded loop runner, and a raw-socket peer that performs the
 * handshake by hand (from the wire format in net/net.h) so tests can misbehave on purpose. */
#ifndef BULWARK_TEST_NET_HARNESS_H
#define BULWARK_TEST_NET_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "net/net.h"
#include "tests/unit/unit.h"

#define H_GROUP 7u
#define H_EPOCH 3u
#define H_N 4u              /* replicas in the test group */
#define H_CLIENT_SLOT H_N   /* per-peer slot used for client connections */

/* ------------------------------------------------------------------ keys */
static inline void h_key(struct crypto_ed25519_key *k, unsigned i)
{
	uint8_t seed[CRYPTO_ED25519_SEED];

	memset(seed, (int)(0x40 + i), sizeof seed);
	ck_assert_int_eq(crypto_ed25519_from_seed(k, seed), 0);
}

static inline void h_table(uint8_t table[H_N][CRYPTO_ED25519_PUB])
{
	unsigned i;

	for (i = 0; i < H_N; i++) {
		struct crypto_ed25519_key k;
		h_key(&k, i);
		memcpy(table[i], k.pub, CRYPTO_ED25519_PUB);
		crypto_ed25519_free(&k);
	}
}

/* Test payloads: 8-byte little-endian sequence number, then bytes derived from it. */
static inline void h_fill(uint8_t *p, size_t len, uint64_t seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = i < 8 ? (uint8_t)(seq >> (8 * i)) : (uint8_t)(seq * 31 + i);
}

static inline int h_payload_ok(const uint8_t *p, size_t len, uint64_t seq)
{
	size_t i;

	if (len < 8)
		return 1;
	for (i = 0; i < len; i++)
		if (p[i] != (i < 8 ? (uint8_t)(seq >> (8 * i)) : (uint8_t)(seq * 31 + i)))
			return 0;
	return 1;
}

/* ------------------------------------------------------------------ nodes */
struct h_node {
	struct net *net;
	struct crypto_ed25519_key key;
	uint8_t table[H_N][CRYPTO_ED25519_PUB];
	int refuse_clients;
	int close_on_frame; /* on_frame closes its connection, then reads the payload again */
	int accept_calls;
	unsigned touched;
	int ups, downs, frames, bad_payload;
	uint64_t bytes;
	int last_down;
	uint64_t next_seq[H_N + 1];
	struct net_conn *conn_of[H_N + 1];
	struct net_peer last_peer;
	char log[32768];
	size_t loglen;
};

static inline unsigned h_slot(const struct net_peer *p)
{
	return p->role == NET_ROLE_REPLICA ? p->replica_id : H_CLIENT_SLOT;
}

static inline int h_accept_client(void *ctx, const uint8_t pub[CRYPTO_ED25519_PUB])
{
	struct h_node *n = ctx;

	n->accept_calls++;
	return n->refuse_clients;
}

static inline void h_on_up(void *ctx, struct net_conn *c, const struct net_peer *peer)
{
	struct h_node *n = ctx;
	unsigned s = h_slot(peer);

	n->ups++;
	n->conn_of[s] = c;
	n->next_seq[s] = 0;
	n->last_peer = *peer;
}

static inline void h_on_frame(void *ctx, struct net_conn *c, const uint8_t *p, size_t len)
{
	struct h_node *n = ctx;
	unsigned s = h_slot(net_conn_peer(c));

	n->frames++;
	n->bytes += len;
	if (!h_payload_ok(p, len, n->next_seq[s]))
		n->bad_payload++;
	n->next_seq[s]++;
	if (n->close_on_frame) {
		net_conn_close(c);
		/* The payload stays readable for the rest of the call (ASan checks it). */
		if (len > 0)
			n->touched += p[len - 1];
		ck_assert_int_eq(net_send(c, p, len), NET_ERR_CLOSED);
	}
}

static inline void h_on_down(void *ctx, struct net_conn *c, int reason)
{
	struct h_node *n = ctx;
	unsigned s;

	n->downs++;
	n->last_down = reason;
	for (s = 0; s <= H_N; s++)
		if (n->conn_of[s] == c)
			n->conn_of[s] = NULL;
}

static inline void h_on_log(void *ctx, int level, const char *line)
{
	struct h_node *n = ctx;
	size_t len = strlen(line);

	if (getenv("NET_TEST_VERBOSE") != NULL)
		fprintf(stderr, "[%p] %s\n", (void *)n, line);
	if (len + 2 > sizeof n->log)
		return;
	if (n->loglen + len + 2 > sizeof n->log) {
		size_t keep = n->loglen / 2;
		memmove(n->log, n->log + n->loglen - keep, keep);
		n->loglen = keep;
	}
	memcpy(n->log + n->loglen, line, len);
	n->loglen += len;
	n->log[n->loglen++] = '\n';
	n->log[n->loglen] = '\0';
}

static inline int h_log_has(const struct h_node *n, const char *s)
{
	return n->loglen > 0 && strstr(n->log, s) != NULL;
}

/* A config for node n as replica id (role REPLICA) or as a client with a fresh key. */
static inline void h_config(struct h_node *n, struct net_config *cfg, enum net_role role, uint32_t id)
{
	memset(n, 0, sizeof *n);
	h_table(n->table);
	if (role == NET_ROLE_REPLICA)
		h_key(&n->key, id);
	else
		ck_assert_int_eq(crypto_ed25519_generate(&n->key), 0);
	net_config_init(cfg);
	cfg->identity = &n->key;
	cfg->group_id = H_GROUP;
	cfg->epoch = H_EPOCH;
	cfg->role = role;
	cfg->replica_id = id;
	cfg->replica_keys = (const uint8_t (*)[CRYPTO_ED25519_PUB])n->table;
	cfg->n_replicas = H_N;
	cfg->log_level = NET_LOG_DEBUG;
	cfg->cb.ctx = n;
	cfg->cb.accept_client = h_accept_client;
	cfg->cb.on_up = h_on_up;
	cfg->cb.on_frame = h_on_frame;
	cfg->cb.on_down = h_on_down;
	cfg->cb.log = h_on_log;
}

static inline void h_start(struct h_node *n, struct ev_loop *loop, const struct net_config *cfg)
{
	ck_assert_int_eq(net_open(&n->net, loop, cfg), NET_OK);
}

static inline void h_stop(struct h_node *n)
{
	net_close(n->net);
	n->net = NULL;
	crypto_ed25519_free(&n->key);
}

/* ------------------------------------------------------------------ running the loop */
struct h_runner {
	int (*pred)(void *);
	void *arg;
	int done;
};

static inline void h_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct h_runner *r = w->data;

	if (r->pred != NULL && r->pred(r->arg)) {
		r->done = 1;
		ev_break(loop, EVBREAK_ONE);
	}
}

static inline void h_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct h_runner *r = w->data;

	if (r->pred != NULL && r->pred(r->arg)) {
		r->done = 1;
		ev_break(loop, EVBREAK_ONE);
	}
}

static inline void h_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	ev_break(loop, EVBREAK_ONE);
}

/* Run loop until pred(arg) holds (1) or seconds pass (0). pred NULL: run for seconds.
 * The predicate is also polled every 2 ms, for conditions on sockets outside the loop. */
static inline int h_run(struct ev_loop *loop, double seconds, int (*pred)(void *), void *arg)
{
	struct h_runner r = {pred, arg, 0};
	ev_timer deadline, poll;
	ev_check check;

	if (pred != NULL && pred(arg))
		return 1;
	ev_timer_init(&deadline, h_deadline_cb, seconds, 0.);
	ev_timer_init(&poll, h_poll_cb, 0.002, 0.002);
	ev_check_init(&check, h_check_cb);
	poll.data = check.data = &r;
	ev_timer_start(loop, &deadline);
	ev_timer_start(loop, &poll);
	ev_check_start(loop, &check);
	ev_run(loop, 0);
	ev_timer_stop(loop, &deadline);
	ev_timer_stop(loop, &poll);
	ev_check_stop(loop, &check);
	return r.done;
}

static inline int h_pred_up(void *arg)
{
	struct h_node **pair = arg;
	return pair[0]->ups > 0 && pair[1]->ups > 0;
}

/* Both nodes saw at least one connection come up. */
static inline int h_run_until_up(struct ev_loop *loop, struct h_node *a, struct h_node *b)
{
	struct h_node *pair[2] = {a, b};
	return h_run(loop, 5.0, h_pred_up, pair);
}

struct h_count_wait {
	const int *counter;
	int target;
};

static inline int h_pred_count(void *arg)
{
	const struct h_count_wait *w = arg;
	return *w->counter >= w->target;
}

/* Run until *counter >= target (within 10 s). */
static inline int h_run_until_count(struct ev_loop *loop, const int *counter, int target)
{
	struct h_count_wait w = {counter, target};
	return h_run(loop, 10.0, h_pred_count, &w);
}

struct h_log_wait {
	const struct h_node *n;
	const char *needle;
};

static inline int h_pred_log(void *arg)
{
	const struct h_log_wait *w = arg;
	return h_log_has(w->n, w->needle);
}

/* Run until node n has logged a line containing needle (within 10 s). */
static inline int h_run_until_log(struct ev_loop *loop, const struct h_node *n, const char *needle)
{
	struct h_log_wait w = {n, needle};
	return h_run(loop, 10.0, h_pred_log, &w);
}

static inline uint16_t h_listen(struct h_node *n)
{
	uint16_t port = 0;

	ck_assert_int_eq(net_listen(n->net, "127.0.0.1", 0, &port), NET_OK);
	ck_assert_uint_ne(port, 0);
	return port;
}

/* ------------------------------------------------------------------ raw peer */
struct h_raw {
	int fd;
	const struct crypto_ed25519_key *key; /* borrowed */
	uint8_t role;
	uint32_t id;
	uint64_t group, epoch;
	struct crypto_x25519_key eph;
	int have_eph;
	uint8_t hello[NET_HELLO_LEN];
	uint8_t th[CRYPTO_HASH_LEN];
	struct crypto_gmac mac_out, mac_in;
	int have_macs;
	uint64_t ctr_out;
	uint8_t auth[NET_AUTH_KEY_LEN];
};

static inline void h_put_le(uint8_t *p, uint64_t v, int n)
{
	int i;
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A frame's GMAC nonce as net/net.h specifies it: counter u64 LE || 4 zero bytes. */
static inline void h_frame_nonce(uint8_t nonce[12], uint64_t ctr)
{
	h_put_le(nonce, ctr, 8);
	memset(nonce + 8, 0, 4);
}

/* A raw peer presenting key as replica id (role NET_ROLE_REPLICA) or as a client. */
static inline void h_raw_init(struct h_raw *r, const struct crypto_ed25519_key *key, uint8_t role, uint32_t id)
{
	memset(r, 0, sizeof *r);
	r->fd = -1;
	r->key = key;
	r->role = role;
	r->id = id;
	r->group = H_GROUP;
	r->epoch = H_EPOCH;
}

static inline void h_raw_connect(struct h_raw *r, uint16_t port)
{
	struct sockaddr_in sin;

	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(r->fd, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(r->fd, (struct sockaddr *)&sin, sizeof sin), 0);
}

static inline void h_raw_send(struct h_raw *r, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL);
		ck_assert_msg(n > 0, "raw send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

static inline void h_raw_build_hello(struct h_raw *r)
{
	uint8_t *h = r->hello;

	ck_assert_int_eq(crypto_x25519_generate(&r->eph), 0);
	r->have_eph = 1;
	memcpy(h, "BWK1", 4);
	h_put_le(h + 4, NET_PROTO_VERSION, 2);
	h[6] = r->role;
	h[7] = 0;
	h_put_le(h + 8, r->id, 4);
	h_put_le(h + 12, r->group, 8);
	h_put_le(h + 20, r->epoch, 8);
	memcpy(h + 28, r->eph.pub, CRYPTO_X25519_LEN);
	memcpy(h + 60, r->key->pub, CRYPTO_ED25519_PUB);
	ck_assert_int_eq(crypto_random(h + 92, 32), 0);
}

struct h_avail {
	int fd;
	int n;
};

static inline int h_pred_avail(void *arg)
{
	const struct h_avail *a = arg;
	int have = 0;

	return ioctl(a->fd, FIONREAD, &have) == 0 && have >= a->n;
}

/* Run the loop until n bytes can be read from fd, then read them. */
static inline void h_raw_recv(struct ev_loop *loop, int fd, uint8_t *buf, size_t n)
{
	struct h_avail a = {fd, (int)n};

	ck_assert_msg(h_run(loop, 5.0, h_pred_avail, &a), "raw peer: %zu bytes never arrived", n);
	ck_assert_int_eq(recv(fd, buf, n, MSG_WAITALL), (ssize_t)n);
}

static inline void h_sign_ctx(const struct crypto_ed25519_key *k, const char *ctx,
			      const uint8_t th[CRYPTO_HASH_LEN], uint8_t sig[NET_SIG_LEN])
{
	uint8_t m[64];
	size_t cl = strlen(ctx);

	memcpy(m, ctx, cl);
	memcpy(m + cl, th, CRYPTO_HASH_LEN);
	ck_assert_int_eq(crypto_ed25519_sign(k, m, cl + CRYPTO_HASH_LEN, sig), 0);
}

static inline int h_verify_ctx(const uint8_t pub[CRYPTO_ED25519_PUB], const char *ctx,
			       const uint8_t th[CRYPTO_HASH_LEN], const uint8_t sig[NET_SIG_LEN])
{
	uint8_t m[64];
	size_t cl = strlen(ctx);

	memcpy(m, ctx, cl);
	memcpy(m + cl, th, CRYPTO_HASH_LEN);
	return crypto_ed25519_verify_raw(pub, m, cl + CRYPTO_HASH_LEN, sig);
}

/* Transcript hash and session keys, per the wire format in net/net.h. */
static inline void h_raw_derive(struct h_raw *r, const uint8_t *hello_i, const uint8_t *hello_r,
				const uint8_t *peer_eph, int initiator)
{
	uint8_t t[25 + 2 * NET_HELLO_LEN], shared[32], km[96];

	memcpy(t, "bulwark-net-v1 transcript", 25);
	memcpy(t + 25, hello_i, NET_HELLO_LEN);
	memcpy(t + 25 + NET_HELLO_LEN, hello_r, NET_HELLO_LEN);
	crypto_sha256(t, sizeof t, r->th);
	ck_assert_int_eq(crypto_x25519_shared(&r->eph, peer_eph, shared), 0);
	ck_assert_int_eq(crypto_hkdf_sha256(r->th, 32, shared, 32, "bulwark-net-v1 keys", 19, km, 96), 0);
	ck_assert_int_eq(crypto_gmac_init(&r->mac_out, initiator ? km : km + 32), 0);
	ck_assert_int_eq(crypto_gmac_init(&r->mac_in, initiator ? km + 32 : km), 0);
	r->have_macs = 1;
	memcpy(r->auth, km + 64, 32);
}

/* As initiator on a connected raw peer: send HELLO_I, check HELLO_R || SIG_R, send SIG_I
 * (with one bit flipped if corrupt_sig). */
static inline void h_raw_handshake(struct ev_loop *loop, struct h_raw *r, int corrupt_sig)
{
	uint8_t resp[NET_HELLO_LEN + NET_SIG_LEN], sig[NET_SIG_LEN];

	h_raw_build_hello(r);
	h_raw_send(r, r->hello, NET_HELLO_LEN);
	h_raw_recv(loop, r->fd, resp, sizeof resp);
	ck_assert(memcmp(resp, "BWK1", 4) == 0);
	h_raw_derive(r, r->hello, resp, resp + 28, 1);
	ck_assert_int_eq(h_verify_ctx(resp + 60, "bulwark-net-v1 responder", r->th, resp + NET_HELLO_LEN), 0);
	h_sign_ctx(r->key, "bulwark-net-v1 initiator", r->th, sig);
	if (corrupt_sig)
		sig[10] ^= 0x01;
	h_raw_send(r, sig, sizeof sig);
}

/* Encode one frame as the raw peer's next frame into out (len + 20 bytes). */
/* A frame whose payload is payload[0..len) as it is (messages already laid out, or not):
 * out needs len + 20 bytes. */
static inline size_t h_raw_frame_payload(struct h_raw *r, const uint8_t *payload, uint32_t len,
					 uint8_t *out)
{
	uint8_t nonce[12];

	h_put_le(out, len, 4);
	memcpy(out + 4, payload, len);
	h_frame_nonce(nonce, r->ctr_out);
	ck_assert_int_eq(crypto_gmac_tag(&r->mac_out, nonce, out, 4 + (size_t)len, NULL, 0, out + 4 + len), 0);
	r->ctr_out++;
	return 4 + (size_t)len + NET_FRAME_TAG;
}

/* A frame carrying the one message msg[0..len): out needs len + 24 bytes. */
static inline size_t h_raw_frame(struct h_raw *r, const uint8_t *msg, uint32_t len, uint8_t *out)
{
	uint8_t *payload = malloc((size_t)len + NET_MSG_HDR);
	size_t n;

	ck_assert_ptr_nonnull(payload);
	h_put_le(payload, len, 4);
	memcpy(payload + NET_MSG_HDR, msg, len);
	n = h_raw_frame_payload(r, payload, len + NET_MSG_HDR, out);
	free(payload);
	return n;
}

/* Predicate: the other end closed the raw socket (EOF or reset); drains pending input. */
static inline int h_raw_closed(void *arg)
{
	struct h_raw *r = arg;
	uint8_t buf[4096];

	for (;;) {
		ssize_t n = recv(r->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0)
			return 1;
		return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
	}
}

static inline void h_raw_close(struct h_raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	if (r->have_eph)
		crypto_x25519_free(&r->eph);
	if (r->have_macs) {
		crypto_gmac_free(&r->mac_out);
		crypto_gmac_free(&r->mac_in);
	}
	r->have_eph = r->have_macs = 0;
}

/* A good peer still gets through: node `client` (a fresh client net) dials replica 0 of
 * `server` at port, exchanges one frame each way, and is closed again. */
static inline void h_check_serving(struct ev_loop *loop, struct h_node *server, uint16_t port)
{
	struct h_node cl;
	struct net_config cfg;
	uint8_t p[100];
	int frames0 = server->frames, ups0 = server->ups;

	h_config(&cl, &cfg, NET_ROLE_CLIENT, 0);
	h_start(&cl, loop, &cfg);
	ck_assert_int_eq(net_connect(cl.net, 0, "127.0.0.1", port), NET_OK);
	ck_assert(h_run_until_count(loop, &cl.ups, 1));
	ck_assert(h_run_until_count(loop, &server->ups, ups0 + 1));
	h_fill(p, sizeof p, 0);
	ck_assert_int_eq(net_send(cl.conn_of[0], p, sizeof p), NET_OK);
	ck_assert(h_run_until_count(loop, &server->frames, frames0 + 1));
	ck_assert_ptr_nonnull(server->conn_of[H_CLIENT_SLOT]);
	ck_assert_int_eq(net_send(server->conn_of[H_CLIENT_SLOT], p, sizeof p), NET_OK);
	ck_assert(h_run_until_count(loop, &cl.frames, 1));
	ck_assert_int_eq(cl.bad_payload, 0);
	h_stop(&cl);
}

#endif
