/* shamir.c: Shamir secret sharing byte-wise over GF(2^8) with the AES polynomial 0x11b. */
#include "crypto/crypto.h"

#include <openssl/crypto.h>
#include <stdlib.h>

/* Product in GF(2^8) mod x^8 + x^4 + x^3 + x + 1, without tables or secret branches. */
static uint8_t crypto__gf_mul(uint8_t a, uint8_t b)
{
	uint8_t p = 0;

	for (int i = 0; i < 8; i++) {
		p ^= (uint8_t)(a & (uint8_t)-(b & 1));
		a = (uint8_t)((a << 1) ^ (0x1b & (uint8_t)-(a >> 7)));
		b >>= 1;
	}
	return p;
}

/* Inverse of a != 0 as a^254 (a^255 = 1); fixed sequence of squarings and products. */
static uint8_t crypto__gf_inv(uint8_t a)
{
	uint8_t r = a;

	/* r = a^(2^7 - 1) = a^127 by 6 rounds of r = r^2 * a, then square: a^254. */
	for (int i = 0; i < 6; i++)
		r = crypto__gf_mul(crypto__gf_mul(r, r), a);
	return crypto__gf_mul(r, r);
}

int crypto_shamir_split(const uint8_t *secret, size_t len, unsigned k, unsigned n,
			uint8_t *shares, const uint8_t *rnd)
{
	uint8_t *coef = NULL;
	size_t ncoef;

	if (secret == NULL || shares == NULL || len == 0 || k < 1 || k > n || n > 255)
		return CRYPTO_ERR_ARG;
	/* n * len bytes of shares must be addressable; (k-1) * len fits if that does. */
	if (len > SIZE_MAX / n)
		return CRYPTO_ERR_ARG;
	ncoef = (size_t)(k - 1) * len;
	if (rnd == NULL && ncoef != 0) {
		coef = OPENSSL_secure_malloc(ncoef);
		if (coef == NULL)
			return CRYPTO_ERR_NOMEM;
		if (crypto_random(coef, ncoef) != CRYPTO_OK) {
			OPENSSL_secure_clear_free(coef, ncoef);
			return CRYPTO_ERR_OPENSSL;
		}
		rnd = coef;
	}
	/* Byte j of share i is f_j(x) at x = i + 1, with f_j(0) = secret[j] and
	 * coefficient c (1..k-1) of f_j at rnd[(c - 1) * len + j]; Horner's rule. */
	for (unsigned i = 0; i < n; i++) {
		uint8_t x = (uint8_t)(i + 1);
		for (size_t j = 0; j < len; j++) {
			uint8_t y = 0;
			for (unsigned c = k - 1; c >= 1; c--)
				y = crypto__gf_mul((uint8_t)(y ^ rnd[(size_t)(c - 1) * len + j]), x);
			shares[(size_t)i * len + j] = (uint8_t)(y ^ secret[j]);
		}
	}
	if (coef != NULL)
		OPENSSL_secure_clear_free(coef, ncoef);
	return CRYPTO_OK;
}

int crypto_shamir_combine(const uint8_t *xs, const uint8_t *const *ys, unsigned count, unsigned k,
			  size_t len, uint8_t *secret)
{
	uint8_t basis[255];

	if (xs == NULL || ys == NULL || secret == NULL || len == 0 || k < 1 || k > 255)
		return CRYPTO_ERR_ARG;
	if (count < k)
		return CRYPTO_ERR_SHARES;
	for (unsigned i = 0; i < count; i++) {
		if (ys[i] == NULL)
			return CRYPTO_ERR_ARG;
		if (xs[i] == 0)
			return CRYPTO_ERR_SHARES;
		for (unsigned j = 0; j < i; j++)
			if (xs[j] == xs[i])
				return CRYPTO_ERR_SHARES;
	}
	/* Lagrange basis at 0 over the first k shares: l_i = prod_{j != i} x_j / (x_j - x_i),
	 * where subtraction in GF(2^8) is xor. */
	for (unsigned i = 0; i < k; i++) {
		uint8_t num = 1;
		uint8_t den = 1;
		for (unsigned j = 0; j < k; j++) {
			if (j == i)
				continue;
			num = crypto__gf_mul(num, xs[j]);
			den = crypto__gf_mul(den, (uint8_t)(xs[j] ^ xs[i]));
		}
		basis[i] = crypto__gf_mul(num, crypto__gf_inv(den));
	}
	for (size_t b = 0; b < len; b++) {
		uint8_t s = 0;
		for (unsigned i = 0; i < k; i++)
			s ^= crypto__gf_mul(ys[i][b], basis[i]);
		secret[b] = s;
	}
	OPENSSL_cleanse(basis, sizeof(basis));
	return CRYPTO_OK;
}
