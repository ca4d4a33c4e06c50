/* crypto_ops.c: the PBFT core's crypto ops for bulwarkd: Ed25519 with the replica's own
 * key and the configured replica keys, and client request authenticators checked with
 * the net/ session keys (MAC mode) or the client's key (signature mode). */
#include <string.h>

#include "replica/bwd.h"

static int ops_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[WIRE_SIG_LEN])
{
	struct bwd *b = ctx;

	return crypto_ed25519_sign(&b->key, msg, len, sig) == 0 ? 0 : -1;
}

static int ops_verify(void *ctx, uint32_t replica, const uint8_t *msg, size_t len,
		      const uint8_t sig[WIRE_SIG_LEN])
{
	struct bwd *b = ctx;

	if (replica >= b->cfg.n)
		return -1;
	return crypto_ed25519_verify(&b->replica_keys[replica], msg, len, sig) == 0 ? 0 : -1;
}

/* MAC mode: auth holds n tags of WIRE_TAG_LEN; ours is tag[id], HMAC-SHA256 under the
 * auth key of the client's session with us (current, else the previous one). */
static int check_macs(struct bwd *b, const struct wire_request *req,
		      const uint8_t digest[WIRE_DIGEST_LEN])
{
	struct bwd_client *e;

	if (req->auth.len != (uint32_t)b->cfg.n * WIRE_TAG_LEN)
		return -1;
	e = bwd_clients_find(&b->clients, req->client);
	if (e == NULL)
		return -1;
	const uint8_t *tag = req->auth.p + (size_t)b->id * WIRE_TAG_LEN;
	for (unsigned i = 0; i < e->nmac; i++) {
		if (crypto_hmac_verify(&e->mac[i], digest, WIRE_DIGEST_LEN, NULL, 0, tag,
				       WIRE_TAG_LEN) == 0)
			return 0;
	}
	return -1;
}

/* Signature mode: auth is the client's Ed25519 signature over the request digest. */
static int check_signature(struct bwd *b, const struct wire_request *req,
			   const uint8_t digest[WIRE_DIGEST_LEN])
{
	const struct bwd_client *e;

	if (req->auth.len != WIRE_SIG_LEN)
		return -1;
	e = bwd_clients_find(&b->clients, req->client);
	if (e != NULL && e->vkey.pkey != NULL)
		return crypto_ed25519_verify(&e->vkey, digest, WIRE_DIGEST_LEN, req->auth.p) == 0 ? 0 : -1;
	return crypto_ed25519_verify_raw(req->client, digest, WIRE_DIGEST_LEN, req->auth.p) == 0 ? 0 : -1;
}

static int ops_check_request(void *ctx, const struct wire_request *req,
			     const uint8_t digest[WIRE_DIGEST_LEN])
{
	struct bwd *b = ctx;

	if (b->cfg.client_auth == CONFIG_AUTH_SIGNATURES)
		return check_signature(b, req, digest);
	return check_macs(b, req, digest);
}

void bwd__crypto_ops(struct bwd *b, struct pbft_crypto_ops *ops)
{
	memset(ops, 0, sizeof(*ops));
	ops->ctx = b;
	ops->sign = ops_sign;
	ops->verify = ops_verify;
	ops->check_request = ops_check_request;
}
