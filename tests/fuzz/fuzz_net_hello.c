/* fuzz_net_hello.c: libFuzzer target for the net handshake. Input: a mode byte, then what
 * a peer sends. The first 124 bytes go to net__hello_parse as each side below checks a
 * hello; whatever it accepts must obey every rule of net.h. Then the whole stream is fed
 * over a socketpair to a real connection as the responder (HELLO_I, then SIG_I) or as an
 * initiator (HELLO_R || SIG_R), which must close with exactly the reason the protocol
 * predicts, send only what that step sends, leave nothing behind, and never come up: that
 * would need a forged Ed25519 signature (this target found some: S = 0 signatures under a
 * small-order client key, now refused by net__hello_parse).
 * Mode byte: bit 0 clear selects the responder, set an initiator (bit 1: replica 0 or the
 * client, both having dialled replica 1); bits 2-7 select the write size (fuzz_net.h). */
#include "tests/fuzz/fuzz_net.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct fn_node replica0; /* replica 0 of the group: accepts and dials */
static struct fn_node client;   /* a client: dials only */
static struct crypto_x25519_key probe; /* tells low-order ephemeral keys apart */

struct side {
	struct fn_node *node;
	int initiator;
	uint32_t expect_id; /* the replica dialled, for an initiator */
};

static const struct side sides[4] = {
	{&replica0, 0, 0}, /* replica 0 accepts: HELLO_I, then SIG_I */
	{&replica0, 1, 1}, /* replica 0 dialled replica 1: HELLO_R || SIG_R */
	{&client, 1, 1},   /* the client dialled replica 1 */
	{&client, 1, 0},   /* the client dialled replica 0 (hello checks only) */
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct net_config cfg;
	uint8_t priv[CRYPTO_X25519_LEN];

	(void)argc;
	(void)argv;
	loop = ev_loop_new(EVFLAG_AUTO);
	if (loop == NULL)
		abort();
	fn_config(&replica0, &cfg, NET_ROLE_REPLICA, 0, NULL);
	if (net_open(&replica0.net, loop, &cfg) != NET_OK)
		abort();
	fn_config(&client, &cfg, NET_ROLE_CLIENT, 0, NULL);
	if (net_open(&client.net, loop, &cfg) != NET_OK)
		abort();
	memset(priv, 0x5a, sizeof priv);
	if (crypto_x25519_from_private(&probe, priv) != 0)
		abort();
	return 0;
}

/* Every accepted hello satisfies net.h: magic, version, reserved byte, our group and
 * epoch, a known role; a replica presents the configured key of an id that is not ours
 * (and is the one dialled, for an initiator); a client claims id 0 and only ever dials.
 * A refused hello leaves peer untouched and comes with a reason and a detail. */
static void check_parse(const struct side *s, const uint8_t *h)
{
	const struct net_config *cfg = &s->node->net->cfg;
	struct net_peer peer, before;
	char detail[160] = "";
	uint32_t id = (uint32_t)fn_le(h + 8, 4);
	int err;

	memset(&peer, 0xa5, sizeof peer);
	before = peer;
	err = net__hello_parse(s->node->net, s->initiator, s->expect_id, h, &peer, detail, sizeof detail);
	if (err != NET_OK) {
		if (err != NET_ERR_MAGIC && err != NET_ERR_VERSION && err != NET_ERR_HELLO &&
		    err != NET_ERR_GROUP && err != NET_ERR_EPOCH && err != NET_ERR_UNKNOWN_KEY &&
		    err != NET_ERR_WRONG_PEER)
			abort();
		if (memcmp(&peer, &before, sizeof peer) != 0 || detail[0] == '\0')
			abort();
		return;
	}
	if (memcmp(h, "BWK1", 4) != 0 || fn_le(h + 4, 2) != NET_PROTO_VERSION || h[7] != 0)
		abort();
	if (fn_le(h + 12, 8) != FN_GROUP || fn_le(h + 20, 8) != FN_EPOCH)
		abort();
	if ((unsigned)peer.role != h[6] || memcmp(peer.pub, h + 60, CRYPTO_ED25519_PUB) != 0 ||
	    memcmp(peer.addr, before.addr, sizeof peer.addr) != 0)
		abort();
	if (peer.role == NET_ROLE_REPLICA) {
		if (peer.replica_id != id || id >= FN_N ||
		    memcmp(s->node->table[id], h + 60, CRYPTO_ED25519_PUB) != 0)
			abort();
		if (cfg->role == NET_ROLE_REPLICA && id == cfg->replica_id)
			abort();
		if (s->initiator && id != s->expect_id)
			abort();
	} else if (peer.role == NET_ROLE_CLIENT) {
		if (id != 0 || peer.replica_id != 0 || s->initiator)
			abort();
	} else {
		abort();
	}
}

/* Why a connection of side s must close after receiving p[0..n) and then the end of the
 * stream. The state machine reads one message at a time: HELLO_I (124 bytes) then SIG_I
 * (64) for the responder, HELLO_R || SIG_R (188) for the initiator; it refuses a wrong
 * magic as soon as 4 bytes are in. *answers is set when the responder accepted HELLO_I
 * and so sent HELLO_R || SIG_R. */
static int expected_reason(const struct side *s, const uint8_t *p, size_t n, int *answers)
{
	size_t first = s->initiator ? NET_HELLO_LEN + NET_SIG_LEN : NET_HELLO_LEN;
	uint8_t shared[CRYPTO_X25519_LEN];
	struct net_peer peer;
	char detail[160];
	int err;

	*answers = 0;
	if (n == 0)
		return NET_ERR_EOF;
	if (n >= 4 && memcmp(p, "BWK1", 4) != 0)
		return NET_ERR_MAGIC;
	if (n < first)
		return NET_ERR_TRUNCATED;
	err = net__hello_parse(s->node->net, s->initiator, s->expect_id, p, &peer, detail, sizeof detail);
	if (err != NET_OK)
		return err;
	/* A small-order point gives the all-zero secret whatever the (clamped) scalar. */
	err = crypto_x25519_shared(&probe, p + 28, shared);
	if (err == CRYPTO_ERR_LOWORDER)
		return NET_ERR_HELLO;
	if (err != CRYPTO_OK)
		return NET_ERR_CRYPTO;
	if (!s->initiator) {
		*answers = 1;
		if (n == NET_HELLO_LEN)
			return NET_ERR_EOF;
		if (n < NET_HELLO_LEN + NET_SIG_LEN)
			return NET_ERR_TRUNCATED;
	}
	return NET_ERR_BADSIG;
}

static void run_side(const struct side *s, const uint8_t *p, size_t n, size_t chunk)
{
	struct net *net = s->node->net;
	uint64_t failed = net->stats.handshakes_failed;
	struct net_conn *c;
	int fds[2], answers, expect, sent;

	expect = expected_reason(s, p, n, &answers);
	fn_socketpair(fds);
	c = net__conn_new(net, fds[0], s->initiator, "fuzz-peer");
	if (c == NULL)
		abort();
	if (s->initiator) {
		/* As dial_attempt, then the connect completes: HELLO_I goes out and the wait for
		 * the answer begins. (A responder makes its hello only for a good HELLO_I.) */
		c->expect_id = s->expect_id;
		if (net__hs_start(c) != NET_OK)
			abort();
		ev_invoke(loop, &c->wio, EV_WRITE);
		if (c->state != NET__HELLO_SENT || fn_drain(fds[1]) != NET_HELLO_LEN)
			abort();
	}
	fn_drive(net, c, fds[1], p, n, chunk);
	if (c->was_up || c->down_reason != expect)
		abort();
	sent = (int)fn_drain(fds[1]);
	if (sent != (answers ? (int)(NET_HELLO_LEN + NET_SIG_LEN) : 0))
		abort();
	net__reap(net);
	close(fds[1]);
	fn_check_idle(net);
	if (net->stats.handshakes_failed != failed + 1 || net->stats.handshakes_ok != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct side *s;
	size_t i;

	if (size == 0)
		return 0;
	if (size > NET_HELLO_LEN) {
		for (i = 0; i < sizeof sides / sizeof sides[0]; i++)
			check_parse(&sides[i], data + 1);
	}
	s = data[0] & 1 ? &sides[1 + (data[0] >> 1 & 1)] : &sides[0];
	run_side(s, data + 1, size - 1, fn_chunk(data[0] >> 2, size - 1));
	return 0;
}
