/* clients.c: bulwarkd's client sessions by client key (bwd.h): open addressing with a
 * keyed hash, backward-shift deletion, eviction of the least recently seen idle client. */
#include <stdlib.h>
#include <string.h>

#include "replica/bwd.h"

static uint64_t ld64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* A 64-bit mix of the whole key under the random seed (murmur3's finaliser per word). */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static size_t home_of(const struct bwd_clients *cs, const uint8_t pub[CRYPTO_ED25519_PUB])
{
	uint64_t h = cs->seed[0];
	for (size_t i = 0; i < CRYPTO_ED25519_PUB; i += 8)
		h = mix(h ^ ld64(pub + i) ^ cs->seed[1]);
	return (size_t)h & (cs->cap - 1);
}

int bwd_clients_init(struct bwd_clients *cs, size_t max, int want_vkey)
{
	memset(cs, 0, sizeof(*cs));
	if (max == 0 || max > ((size_t)1 << 24))
		return BWD_ERR_ARG;
	cs->cap = 16;
	while (cs->cap < 2 * max)
		cs->cap *= 2;
	cs->slot = calloc(cs->cap, sizeof(*cs->slot));
	if (cs->slot == NULL)
		return BWD_ERR_NOMEM;
	cs->max = max;
	cs->want_vkey = want_vkey;
	if (crypto_random(cs->seed, sizeof(cs->seed)) != 0) {
		free(cs->slot);
		memset(cs, 0, sizeof(*cs));
		return BWD_ERR_ARG;
	}
	return BWD_OK;
}

static void entry_clear(struct bwd_client *e)
{
	for (unsigned i = 0; i < e->nmac; i++)
		crypto_hmac_free(&e->mac[i]);
	crypto_ed25519_free(&e->vkey);
	memset(e, 0, sizeof(*e));
}

void bwd_clients_free(struct bwd_clients *cs)
{
	if (cs->slot != NULL) {
		for (size_t i = 0; i < cs->cap; i++)
			if (cs->slot[i].used)
				entry_clear(&cs->slot[i]);
	}
	free(cs->slot);
	memset(cs, 0, sizeof(*cs));
}

struct bwd_client *bwd_clients_find(const struct bwd_clients *cs, const uint8_t pub[CRYPTO_ED25519_PUB])
{
	if (cs->slot == NULL)
		return NULL;
	size_t mask = cs->cap - 1;
	for (size_t i = home_of(cs, pub);; i = (i + 1) & mask) {
		struct bwd_client *e = &cs->slot[i];
		if (!e->used)
			return NULL;
		if (memcmp(e->pub, pub, CRYPTO_ED25519_PUB) == 0)
			return e;
	}
}

/* Remove slot i and shift later members of its probe chain back (no tombstones). */
static void remove_at(struct bwd_clients *cs, size_t i)
{
	size_t mask = cs->cap - 1;

	entry_clear(&cs->slot[i]);
	cs->count--;
	for (size_t j = (i + 1) & mask; cs->slot[j].used; j = (j + 1) & mask) {
		size_t home = home_of(cs, cs->slot[j].pub);
		/* j may move to i only if its home is not in the cyclic range (i, j]. */
		int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		cs->slot[i] = cs->slot[j];
		memset(&cs->slot[j], 0, sizeof(cs->slot[j]));
		i = j;
	}
}

/* Forget the least recently seen client that has no connection. 0 or BWD_ERR_ARG. */
static int evict_one(struct bwd_clients *cs)
{
	size_t best = cs->cap;

	for (size_t i = 0; i < cs->cap; i++) {
		const struct bwd_client *e = &cs->slot[i];
		if (e->used && e->conn == NULL && (best == cs->cap || e->seen < cs->slot[best].seen))
			best = i;
	}
	if (best == cs->cap)
		return BWD_ERR_ARG;
	remove_at(cs, best);
	return BWD_OK;
}

int bwd_clients_up(struct bwd_clients *cs, const uint8_t pub[CRYPTO_ED25519_PUB],
		   struct net_conn *conn, const uint8_t auth_key[NET_AUTH_KEY_LEN], uint64_t now)
{
	struct bwd_client *e = bwd_clients_find(cs, pub);
	struct crypto_hmac mac;

	if (crypto_hmac_init(&mac, auth_key, NET_AUTH_KEY_LEN) != 0)
		return BWD_ERR_NOMEM;
	if (e == NULL) {
		if (cs->count >= cs->max && evict_one(cs) != BWD_OK) {
			crypto_hmac_free(&mac);
			return BWD_ERR_ARG;
		}
		size_t mask = cs->cap - 1, i = home_of(cs, pub);
		while (cs->slot[i].used)
			i = (i + 1) & mask;
		e = &cs->slot[i];
		memset(e, 0, sizeof(*e));
		if (cs->want_vkey && crypto_ed25519_from_public(&e->vkey, pub) != 0) {
			crypto_hmac_free(&mac);
			return BWD_ERR_NOMEM;
		}
		memcpy(e->pub, pub, CRYPTO_ED25519_PUB);
		e->used = 1;
		cs->count++;
	}
	if (e->nmac == 2)
		crypto_hmac_free(&e->mac[1]);
	if (e->nmac >= 1)
		e->mac[1] = e->mac[0];
	e->mac[0] = mac;
	crypto_hmac_free(&mac); /* wipes the stack copy of the keyed state (moved above) */
	if (e->nmac < 2)
		e->nmac++;
	e->conn = conn;
	e->seen = now;
	return BWD_OK;
}

void bwd_clients_down(struct bwd_clients *cs, const uint8_t pub[CRYPTO_ED25519_PUB],
		      const struct net_conn *conn, uint64_t now)
{
	struct bwd_client *e = bwd_clients_find(cs, pub);

	if (e == NULL || e->conn != conn)
		return;
	e->conn = NULL;
	e->seen = now;
}
