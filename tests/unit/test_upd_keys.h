/* test_upd_keys.h: the update-service tests' keys: each key is the Ed25519 key whose
 * 32-byte seed is one byte (a tag) repeated, so tests name keys by small numbers. */
#ifndef BULWARK_TESTS_UPD_KEYS_H
#define BULWARK_TESTS_UPD_KEYS_H

#include <check.h>
#include <string.h>

#include "crypto/crypto.h"
#include "wire/upd.h"

#ifdef __GNUC__
#define UK_UNUSED __attribute__((unused))
#else
#define UK_UNUSED
#endif

/* wire_upd_sign with the key of a 32-byte seed. */
static UK_UNUSED int sign_seed(const uint8_t seed[32], const char *type, const uint8_t *body,
			       size_t len, struct wire_upd_sig *sig)
{
	struct crypto_ed25519_key k;
	int rc = crypto_ed25519_from_seed(&k, seed);

	if (rc == 0)
		rc = wire_upd_sign(&k, type, body, len, sig);
	crypto_ed25519_free(&k);
	return rc;
}

/* The key of tag. */
static UK_UNUSED void key_of(uint8_t tag, struct crypto_ed25519_key *k)
{
	uint8_t seed[32];

	memset(seed, tag, sizeof(seed));
	ck_assert_int_eq(crypto_ed25519_from_seed(k, seed), 0);
}

/* Its public key, raw and as hex. */
static UK_UNUSED void pub_of(uint8_t tag, uint8_t pub[32])
{
	struct crypto_ed25519_key k;

	key_of(tag, &k);
	memcpy(pub, k.pub, 32);
	crypto_ed25519_free(&k);
}

static UK_UNUSED void hex_pub(uint8_t tag, char out[65])
{
	struct crypto_ed25519_key k;

	key_of(tag, &k);
	wire_upd_hex(k.pub, 32, out);
	crypto_ed25519_free(&k);
}

#endif
