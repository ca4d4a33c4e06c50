/* handshake.c: the authenticated X25519 handshake (HELLO, transcript signatures, HKDF
 * session keys) that takes a connection from accept or connect to OPEN. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/net_int.h"

static const char ctx_transcript[] = "bulwark-net-v1 transcript";
static const char ctx_responder[] = "bulwark-net-v1 responder";
static const char ctx_initiator[] = "bulwark-net-v1 initiator";
static const char ctx_keys[] = "bulwark-net-v1 keys";
static const uint8_t magic[4] = {'B', 'W', 'K', '1'};

#define CTX_LEN(s) (sizeof(s) - 1)
#define SIGNED_LEN (CTX_LEN(ctx_responder) + CRYPTO_HASH_LEN)
_Static_assert(sizeof ctx_responder == sizeof ctx_initiator, "signing contexts differ in length");

static void put_le(uint8_t *p, uint64_t v, int n)
{
	int i;
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;
	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int net__hs_start(struct net_conn *c)
{
	const struct net_config *cfg = &c->net->cfg;
	uint8_t *h = c->hello_mine;

	if (crypto_x25519_generate(&c->eph) != 0)
		return NET_ERR_CRYPTO;
	c->have_eph = 1;
	memcpy(h, magic, 4);
	put_le(h + 4, NET_PROTO_VERSION, 2);
	h[6] = (uint8_t)cfg->role;
	h[7] = 0;
	put_le(h + 8, cfg->role == NET_ROLE_REPLICA ? cfg->replica_id : 0, 4);
	put_le(h + 12, cfg->group_id, 8);
	put_le(h + 20, cfg->epoch, 8);
	memcpy(h + 28, c->eph.pub, CRYPTO_X25519_LEN);
	memcpy(h + 60, cfg->identity->pub, CRYPTO_ED25519_PUB);
	if (crypto_random(h + 92, 32) != 0)
		return NET_ERR_CRYPTO;
	if (c->initiator)
		return net__conn_queue_raw(c, h, NET_HELLO_LEN);
	return NET_OK;
}

size_t net__hs_need(const struct net_conn *c)
{
	switch (c->state) {
	case NET__HELLO_SENT:
		return NET_HELLO_LEN + NET_SIG_LEN;
	case NET__WAIT_HELLO:
		return NET_HELLO_LEN;
	case NET__WAIT_SIG:
		return NET_SIG_LEN;
	default:
		return 0;
	}
}

/* Writes the reason for refusing a hello into detail and returns code. */
__attribute__((format(printf, 4, 5)))
static int hello_refuse(char *detail, size_t detail_len, int code, const char *fmt, ...)
{
	va_list ap;

	if (detail_len > 0) {
		va_start(ap, fmt);
		vsnprintf(detail, detail_len, fmt, ap);
		va_end(ap);
	}
	return code;
}

int net__hello_parse(const struct net *net, int initiator, uint32_t expect_id,
		     const uint8_t h[NET_HELLO_LEN], struct net_peer *peer, char *detail,
		     size_t detail_len)
{
	const struct net_config *cfg = &net->cfg;
	unsigned version = (unsigned)get_le(h + 4, 2);
	unsigned role = h[6];
	uint32_t id = (uint32_t)get_le(h + 8, 4);
	uint64_t group = get_le(h + 12, 8);
	uint64_t epoch = get_le(h + 20, 8);
	const uint8_t *spub = h + 60;

	if (memcmp(h, magic, sizeof magic) != 0)
		return hello_refuse(detail, detail_len, NET_ERR_MAGIC, "first bytes %02x%02x%02x%02x",
				    h[0], h[1], h[2], h[3]);
	if (version != NET_PROTO_VERSION)
		return hello_refuse(detail, detail_len, NET_ERR_VERSION, "peer version %u, supported %u",
				    version, NET_PROTO_VERSION);
	if ((role != NET_ROLE_REPLICA && role != NET_ROLE_CLIENT) || h[7] != 0 ||
	    (role == NET_ROLE_CLIENT && id != 0))
		return hello_refuse(detail, detail_len, NET_ERR_HELLO, "role byte %u, reserved byte %u, id %u",
				    role, h[7], id);
	if (group != cfg->group_id)
		return hello_refuse(detail, detail_len, NET_ERR_GROUP, "peer group %llu, ours %llu",
				    (unsigned long long)group, (unsigned long long)cfg->group_id);
	if (epoch != cfg->epoch)
		return hello_refuse(detail, detail_len, NET_ERR_EPOCH, "peer epoch %llu, ours %llu",
				    (unsigned long long)epoch, (unsigned long long)cfg->epoch);
	/* Cofactorless Ed25519 verification (OpenSSL's) accepts forged signatures under a
	 * small-order key: such a key proves nothing, whoever claims it. */
	if (crypto_ed25519_key_is_weak(spub))
		return hello_refuse(detail, detail_len, NET_ERR_HELLO, "static key of small order");
	if (role == NET_ROLE_REPLICA) {
		if (id >= cfg->n_replicas)
			return hello_refuse(detail, detail_len, NET_ERR_UNKNOWN_KEY, "replica id %u, table has %u",
					    id, cfg->n_replicas);
		if (!crypto_memeq(spub, net->keys[id], CRYPTO_ED25519_PUB))
			return hello_refuse(detail, detail_len, NET_ERR_UNKNOWN_KEY,
					    "key presented for replica %u is not its configured key", id);
		if (cfg->role == NET_ROLE_REPLICA && id == cfg->replica_id)
			return hello_refuse(detail, detail_len, NET_ERR_HELLO, "peer claims our own replica id %u", id);
	}
	if (initiator && (role != NET_ROLE_REPLICA || id != expect_id))
		return hello_refuse(detail, detail_len, NET_ERR_WRONG_PEER, "dialled replica %u, responder is %s %u",
				    expect_id, role == NET_ROLE_REPLICA ? "replica" : "client", id);
	peer->role = (enum net_role)role;
	peer->replica_id = role == NET_ROLE_REPLICA ? id : 0;
	memcpy(peer->pub, spub, CRYPTO_ED25519_PUB);
	return NET_OK;
}

/* Check a received HELLO and fill c->peer. On refusal, fail the connection with the
 * precise reason and return nonzero. */
static int hs_check_hello(struct net_conn *c, const uint8_t *h)
{
	char detail[160];
	int err;

	err = net__hello_parse(c->net, c->initiator, c->expect_id, h, &c->peer, detail, sizeof detail);
	if (err != NET_OK) {
		net__conn_fail(c, err, "%s", detail);
		return -1;
	}
	return 0;
}

int net__hs_keys(struct net_conn *c, const uint8_t th[CRYPTO_HASH_LEN],
		 const uint8_t shared[CRYPTO_X25519_LEN])
{
	uint8_t km[3 * 32];

	if (crypto_hkdf_sha256(th, CRYPTO_HASH_LEN, shared, CRYPTO_X25519_LEN, ctx_keys,
			       CTX_LEN(ctx_keys), km, sizeof km) != 0)
		goto err_km;
	if (crypto_gmac_init(&c->mac_out, c->initiator ? km : km + 32) != 0)
		goto err_km;
	if (crypto_gmac_init(&c->mac_in, c->initiator ? km + 32 : km) != 0)
		goto err_after_out;
	c->have_macs = 1;
	memcpy(c->th, th, CRYPTO_HASH_LEN);
	memcpy(c->auth_key, km + 64, NET_AUTH_KEY_LEN);
	explicit_bzero(km, sizeof km);
	return NET_OK;

err_after_out:
	crypto_gmac_free(&c->mac_out);
err_km:
	explicit_bzero(km, sizeof km);
	return NET_ERR_CRYPTO;
}

/* Transcript hash, X25519 and HKDF: sets c->th, the two MAC contexts and the auth key. */
static int hs_derive(struct net_conn *c, const uint8_t *hello_i, const uint8_t *hello_r,
		     const uint8_t *peer_eph)
{
	uint8_t t[CTX_LEN(ctx_transcript) + 2 * NET_HELLO_LEN];
	uint8_t th[CRYPTO_HASH_LEN];
	uint8_t shared[CRYPTO_X25519_LEN];
	int err;

	memcpy(t, ctx_transcript, CTX_LEN(ctx_transcript));
	memcpy(t + CTX_LEN(ctx_transcript), hello_i, NET_HELLO_LEN);
	memcpy(t + CTX_LEN(ctx_transcript) + NET_HELLO_LEN, hello_r, NET_HELLO_LEN);
	crypto_sha256(t, sizeof t, th);

	err = crypto_x25519_shared(&c->eph, peer_eph, shared);
	if (err == CRYPTO_ERR_LOWORDER) {
		net__conn_fail(c, NET_ERR_HELLO, "low-order ephemeral X25519 key");
		return -1;
	}
	if (err != 0) {
		explicit_bzero(shared, sizeof shared);
		net__conn_fail(c, NET_ERR_CRYPTO, "key agreement");
		return -1;
	}
	err = net__hs_keys(c, th, shared);
	explicit_bzero(shared, sizeof shared);
	if (err != NET_OK) {
		net__conn_fail(c, err, "session key derivation");
		return -1;
	}
	return 0;
}

static void hs_signed_msg(uint8_t out[SIGNED_LEN], const char *ctx, const uint8_t th[CRYPTO_HASH_LEN])
{
	memcpy(out, ctx, CTX_LEN(ctx_responder));
	memcpy(out + CTX_LEN(ctx_responder), th, CRYPTO_HASH_LEN);
}

static int hs_sign(struct net_conn *c, const char *ctx, uint8_t sig[NET_SIG_LEN])
{
	uint8_t m[SIGNED_LEN];

	hs_signed_msg(m, ctx, c->th);
	if (crypto_ed25519_sign(c->net->cfg.identity, m, sizeof m, sig) != 0) {
		net__conn_fail(c, NET_ERR_CRYPTO, "signing the transcript");
		return -1;
	}
	return 0;
}

static int hs_verify(struct net_conn *c, const char *ctx, const uint8_t sig[NET_SIG_LEN])
{
	struct net *net = c->net;
	uint8_t m[SIGNED_LEN];
	int err;

	hs_signed_msg(m, ctx, c->th);
	if (c->peer.role == NET_ROLE_REPLICA)
		err = crypto_ed25519_verify(&net->verify_keys[c->peer.replica_id], m, sizeof m, sig);
	else
		err = crypto_ed25519_verify_raw(c->peer.pub, m, sizeof m, sig);
	if (err != 0) {
		net__conn_fail(c, err == CRYPTO_ERR_BADSIG ? NET_ERR_BADSIG : NET_ERR_CRYPTO,
			       "transcript signature of the %s", c->initiator ? "responder" : "initiator");
		return -1;
	}
	return 0;
}

/* Responder: HELLO_I is complete. Only if it passes the checks, make our HELLO_R (so an
 * unauthenticated peer costs no key generation) and answer HELLO_R || SIG_R. */
static void hs_responder_hello(struct net_conn *c)
{
	uint8_t sig[NET_SIG_LEN];
	int err;

	if (hs_check_hello(c, c->hs_buf) != 0)
		return;
	err = net__hs_start(c);
	if (err != NET_OK) {
		net__conn_fail(c, err, "handshake setup");
		return;
	}
	if (hs_derive(c, c->hs_buf, c->hello_mine, c->hs_buf + 28) != 0)
		return;
	if (hs_sign(c, ctx_responder, sig) != 0)
		return;
	if (net__conn_queue_raw(c, c->hello_mine, NET_HELLO_LEN) != 0 ||
	    net__conn_queue_raw(c, sig, sizeof sig) != 0) {
		net__conn_fail(c, NET_ERR_NOMEM, "queueing the hello");
		return;
	}
	c->state = NET__WAIT_SIG;
	c->hs_have = 0;
}

/* Responder: SIG_I is complete. Check it, then let the upper layer accept a client. */
static void hs_responder_finish(struct net_conn *c)
{
	struct net *net = c->net;

	if (hs_verify(c, ctx_initiator, c->hs_buf) != 0)
		return;
	if (c->peer.role == NET_ROLE_CLIENT) {
		if (net->n_clients >= net->cfg.limits.max_clients) {
			net__conn_fail(c, NET_ERR_REFUSED, "client limit %u reached", net->cfg.limits.max_clients);
			return;
		}
		if (net->cfg.cb.accept_client != NULL &&
		    net->cfg.cb.accept_client(net->cfg.cb.ctx, c->peer.pub) != 0) {
			net__conn_fail(c, NET_ERR_REFUSED, "refused by accept_client");
			return;
		}
	}
	net__conn_open(c);
}

/* Initiator: HELLO_R || SIG_R is complete. Check, answer SIG_I, and open. */
static void hs_initiator_finish(struct net_conn *c)
{
	uint8_t sig[NET_SIG_LEN];

	if (hs_check_hello(c, c->hs_buf) != 0)
		return;
	if (hs_derive(c, c->hello_mine, c->hs_buf, c->hs_buf + 28) != 0)
		return;
	if (hs_verify(c, ctx_responder, c->hs_buf + NET_HELLO_LEN) != 0)
		return;
	if (hs_sign(c, ctx_initiator, sig) != 0)
		return;
	if (net__conn_queue_raw(c, sig, sizeof sig) != 0) {
		net__conn_fail(c, NET_ERR_NOMEM, "queueing the signature");
		return;
	}
	net__conn_open(c);
}

/* Read toward the awaited handshake message, never past it: bytes after it (frames)
 * stay in the socket until the connection is open. */
void net__hs_input(struct net_conn *c)
{
	struct net *net = c->net;
	size_t need = net__hs_need(c);
	ssize_t n;

	if (need == 0)
		return;
	n = read(c->fd, c->hs_buf + c->hs_have, need - c->hs_have);
	if (n == 0) {
		if (c->hs_have > 0)
			net__conn_fail(c, NET_ERR_TRUNCATED, "closed after %zu of %zu handshake bytes", c->hs_have, need);
		else
			net__conn_fail(c, NET_ERR_EOF, "closed during handshake");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			net__conn_fail(c, NET_ERR_IO, "read: %s", strerror(errno));
		return;
	}
	net->stats.bytes_in += (uint64_t)n;
	c->hs_have += (size_t)n;
	if (c->state != NET__WAIT_SIG && c->hs_have >= sizeof magic &&
	    memcmp(c->hs_buf, magic, sizeof magic) != 0) {
		net__conn_fail(c, NET_ERR_MAGIC, "first bytes %02x%02x%02x%02x", c->hs_buf[0], c->hs_buf[1],
			       c->hs_buf[2], c->hs_buf[3]);
		return;
	}
	if (c->hs_have < need)
		return;
	switch (c->state) {
	case NET__WAIT_HELLO:
		hs_responder_hello(c);
		break;
	case NET__WAIT_SIG:
		hs_responder_finish(c);
		break;
	case NET__HELLO_SENT:
		hs_initiator_finish(c);
		break;
	default:
		break;
	}
}
