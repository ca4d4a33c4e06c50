/* util.c: crypto error strings, the CSPRNG and constant-time comparison. */
#include "crypto/crypto.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

static const char *const crypto__errstr[] = {
	[0] = "success",
	[1] = "bad argument",
	[2] = "out of memory",
	[3] = "OpenSSL or libsodium call failed",
	[4] = "signature does not verify",
	[5] = "authentication tag does not verify",
	[6] = "key file missing, unreadable or not an Ed25519 PEM key",
	[7] = "private key file is accessible by group or others",
	[8] = "too few, duplicate or malformed Shamir shares",
	[9] = "Merkle proof does not verify",
	[10] = "X25519 shared secret is all zero (low-order peer key)",
	[11] = "Ed25519 public key of small order (anyone can forge signatures for it)",
};

const char *crypto_strerror(int err)
{
	if (err > 0 || err < CRYPTO_ERR_WEAKKEY)
		return "unknown crypto error";
	return crypto__errstr[-err];
}

int crypto_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	if (buf == NULL && n != 0)
		return CRYPTO_ERR_ARG;
	while (n > 0) {
		int chunk = n > (size_t)INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(p, chunk) != 1)
			return CRYPTO_ERR_OPENSSL;
		p += chunk;
		n -= (size_t)chunk;
	}
	return CRYPTO_OK;
}

int crypto_memeq(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return 1;
	return CRYPTO_memcmp(a, b, n) == 0;
}
