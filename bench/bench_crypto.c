/* bench_crypto.c: `bulwark-bench crypto`: throughput and latency of each crypto primitive. */
#include "bench/bench.h"
#include "crypto/crypto.h"

#include <errno.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_BIG (256u * 1024u)

/* Keys and buffers shared by the measured operations; set up once. */
struct bench_crypto {
	struct crypto_ed25519_key signer;
	struct crypto_ed25519_key verifier; /* public only, built once */
	struct crypto_x25519_key dh;
	uint8_t dh_peer[CRYPTO_X25519_LEN];
	struct crypto_hmac hmac;
	struct crypto_gmac gmac;
	uint64_t gmac_ctr; /* a fresh nonce per tag, as the transport's frame counter */
	uint8_t aead_key[CRYPTO_AEAD_KEY];
	uint8_t nonce[CRYPTO_AEAD_NONCE];
	uint8_t sig[CRYPTO_ED25519_SIG];
	uint8_t msg[BENCH_BIG];
	uint8_t out[BENCH_BIG + CRYPTO_AEAD_TAG];
	uint8_t sealed[1024 + CRYPTO_AEAD_TAG];
};

struct bench_crypto_item {
	const char *name;
	size_t bytes; /* message (or output) size handed to op */
	int per_byte; /* print MB/s: the cost grows with the input size */
	int (*op)(struct bench_crypto *b, size_t bytes);
};

static int op_sign(struct bench_crypto *b, size_t n)
{
	return crypto_ed25519_sign(&b->signer, b->msg, n, b->out);
}

static int op_verify(struct bench_crypto *b, size_t n)
{
	return crypto_ed25519_verify(&b->verifier, b->msg, n, b->sig);
}

static int op_verify_raw(struct bench_crypto *b, size_t n)
{
	return crypto_ed25519_verify_raw(b->verifier.pub, b->msg, n, b->sig);
}

static int op_hmac(struct bench_crypto *b, size_t n)
{
	return crypto_hmac_tag(&b->hmac, b->msg, n, NULL, 0, b->out, CRYPTO_HMAC_DEFAULT_TAG);
}

static int op_gmac(struct bench_crypto *b, size_t n)
{
	uint8_t nonce[CRYPTO_GMAC_NONCE] = { 0 };

	memcpy(nonce, &b->gmac_ctr, sizeof(b->gmac_ctr));
	b->gmac_ctr++;
	return crypto_gmac_tag(&b->gmac, nonce, b->msg, n, NULL, 0, b->out);
}

static int op_sha256(struct bench_crypto *b, size_t n)
{
	crypto_sha256(b->msg, n, b->out);
	return CRYPTO_OK;
}

/* The incremental API as the wire digests use it: init, two updates, final. */
static int op_sha256_ctx(struct bench_crypto *b, size_t n)
{
	struct crypto_sha256_ctx c;
	int rc;

	if ((rc = crypto_sha256_init(&c)) != CRYPTO_OK)
		return rc;
	if ((rc = crypto_sha256_update(&c, b->msg, n / 2)) != CRYPTO_OK ||
	    (rc = crypto_sha256_update(&c, b->msg + n / 2, n - n / 2)) != CRYPTO_OK) {
		crypto_sha256_free(&c);
		return rc;
	}
	return crypto_sha256_final(&c, b->out);
}

static int op_x25519(struct bench_crypto *b, size_t n)
{
	(void)n;
	return crypto_x25519_shared(&b->dh, b->dh_peer, b->out);
}

static int op_hkdf(struct bench_crypto *b, size_t n)
{
	return crypto_hkdf_sha256("salt", 4, b->msg, CRYPTO_X25519_LEN, "bulwark", 7, b->out, n);
}

static int op_seal(struct bench_crypto *b, size_t n)
{
	return crypto_aead_seal(b->aead_key, b->nonce, b->msg, 16, b->msg, n, b->out);
}

static int op_open(struct bench_crypto *b, size_t n)
{
	return crypto_aead_open(b->aead_key, b->nonce, b->msg, 16, b->sealed, n + CRYPTO_AEAD_TAG,
				b->out);
}

static const struct bench_crypto_item bench_crypto_items[] = {
	{ "ed25519 sign (64 B)", 64, 0, op_sign },
	{ "ed25519 verify (64 B, prebuilt key)", 64, 0, op_verify },
	{ "ed25519 verify_raw (64 B)", 64, 0, op_verify_raw },
	{ "hmac-sha256 tag (32 B, reused ctx)", 32, 1, op_hmac },
	{ "hmac-sha256 tag (64 B, reused ctx)", 64, 1, op_hmac },
	{ "hmac-sha256 tag (1 KiB, reused ctx)", 1024, 1, op_hmac },
	{ "hmac-sha256 tag (64 KiB, reused ctx)", 65536, 1, op_hmac },
	{ "gmac tag (64 B, reused ctx)", 64, 1, op_gmac },
	{ "gmac tag (1 KiB, reused ctx)", 1024, 1, op_gmac },
	{ "gmac tag (64 KiB, reused ctx)", 65536, 1, op_gmac },
	{ "sha256 (64 B)", 64, 1, op_sha256 },
	{ "sha256 (1 KiB)", 1024, 1, op_sha256 },
	{ "sha256 (256 KiB)", BENCH_BIG, 1, op_sha256 },
	{ "sha256 init/update x2/final (64 B)", 64, 1, op_sha256_ctx },
	{ "x25519 shared secret", 0, 0, op_x25519 },
	{ "hkdf-sha256 (64 B out)", 64, 0, op_hkdf },
	{ "aes-256-gcm seal (1 KiB)", 1024, 1, op_seal },
	{ "aes-256-gcm open (1 KiB)", 1024, 1, op_open },
};

#define BENCH_CRYPTO_NITEMS (sizeof(bench_crypto_items) / sizeof(bench_crypto_items[0]))

static int bench_crypto_setup(struct bench_crypto *b)
{
	struct crypto_x25519_key peer;
	uint8_t hkey[32];
	int rc;

	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < sizeof(b->msg); i++)
		b->msg[i] = (uint8_t)(i * 131 + 7);
	if ((rc = crypto_random(hkey, sizeof(hkey))) != CRYPTO_OK ||
	    (rc = crypto_random(b->aead_key, sizeof(b->aead_key))) != CRYPTO_OK ||
	    (rc = crypto_random(b->nonce, sizeof(b->nonce))) != CRYPTO_OK)
		return rc;
	if ((rc = crypto_ed25519_generate(&b->signer)) != CRYPTO_OK)
		return rc;
	if ((rc = crypto_ed25519_from_public(&b->verifier, b->signer.pub)) != CRYPTO_OK)
		goto err_signer;
	if ((rc = crypto_ed25519_sign(&b->signer, b->msg, 64, b->sig)) != CRYPTO_OK)
		goto err_verifier;
	if ((rc = crypto_x25519_generate(&b->dh)) != CRYPTO_OK)
		goto err_verifier;
	if ((rc = crypto_x25519_generate(&peer)) != CRYPTO_OK)
		goto err_dh;
	memcpy(b->dh_peer, peer.pub, sizeof(b->dh_peer));
	crypto_x25519_free(&peer);
	if ((rc = crypto_hmac_init(&b->hmac, hkey, sizeof(hkey))) != CRYPTO_OK)
		goto err_dh;
	if ((rc = crypto_gmac_init(&b->gmac, b->aead_key)) != CRYPTO_OK)
		goto err_hmac;
	if ((rc = crypto_aead_seal(b->aead_key, b->nonce, b->msg, 16, b->msg, 1024, b->sealed)) !=
	    CRYPTO_OK)
		goto err_gmac;
	return CRYPTO_OK;

err_gmac:
	crypto_gmac_free(&b->gmac);
err_hmac:
	crypto_hmac_free(&b->hmac);
err_dh:
	crypto_x25519_free(&b->dh);
err_verifier:
	crypto_ed25519_free(&b->verifier);
err_signer:
	crypto_ed25519_free(&b->signer);
	return rc;
}

static void bench_crypto_teardown(struct bench_crypto *b)
{
	crypto_gmac_free(&b->gmac);
	crypto_hmac_free(&b->hmac);
	crypto_x25519_free(&b->dh);
	crypto_ed25519_free(&b->verifier);
	crypto_ed25519_free(&b->signer);
}

/* Runs one item for about `seconds`: batches grow until one batch takes about 1/50
 * of the run, so the clock is read rarely even for sub-microsecond operations. */
static int bench_crypto_run(struct bench_crypto *b, const struct bench_crypto_item *it,
			    double seconds)
{
	unsigned long long ops = 0;
	unsigned long long batch = 1;
	double start;
	double elapsed;
	double per_op;
	int rc;

	for (int i = 0; i < 3; i++) { /* warm caches and lazy OpenSSL fetches */
		rc = it->op(b, it->bytes);
		if (rc != CRYPTO_OK)
			goto err_op;
	}
	start = bench_now();
	for (;;) {
		double t0 = bench_now();
		for (unsigned long long i = 0; i < batch; i++) {
			rc = it->op(b, it->bytes);
			if (rc != CRYPTO_OK)
				goto err_op;
		}
		ops += batch;
		elapsed = bench_now() - start;
		if (elapsed >= seconds)
			break;
		if (bench_now() - t0 < seconds / 50)
			batch *= 2;
	}
	per_op = elapsed / (double)ops;
	printf("%-38s %14.1f %12.3f", it->name, 1.0 / per_op, per_op * 1e6);
	if (it->per_byte)
		printf(" %10.1f", (double)it->bytes / per_op / 1e6);
	printf("\n");
	return 0;

err_op:
	fprintf(stderr, "bulwark-bench crypto: %s: %s\n", it->name, crypto_strerror(rc));
	return 1;
}

static void bench_crypto_usage(FILE *f)
{
	fprintf(f, "usage: bulwark-bench crypto [--seconds S]\n"
		   "  --seconds S   measure each item for S seconds (default 1, max 600)\n");
}

int bench_crypto_main(int argc, char **argv)
{
	static struct bench_crypto b; /* ~0.5 MiB of buffers: not on the stack */
	double seconds = 1.0;
	int status = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			bench_crypto_usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			char *end;
			errno = 0;
			seconds = strtod(argv[++i], &end);
			if (errno != 0 || *end != '\0' || end == argv[i] || !(seconds > 0) ||
			    seconds > 600) {
				fprintf(stderr, "bulwark-bench crypto: --seconds wants a number in "
						"(0, 600], got '%s'\n", argv[i]);
				return 2;
			}
			continue;
		}
		fprintf(stderr, "bulwark-bench crypto: unknown or incomplete option '%s'\n", argv[i]);
		bench_crypto_usage(stderr);
		return 2;
	}
	rc = bench_crypto_setup(&b);
	if (rc != CRYPTO_OK) {
		fprintf(stderr, "bulwark-bench crypto: setup: %s\n", crypto_strerror(rc));
		return 1;
	}
	printf("bulwark-bench crypto: %.2f s per item, %s\n", seconds, OPENSSL_VERSION_TEXT);
	printf("%-38s %14s %12s %10s\n", "operation", "ops/s", "us/op", "MB/s");
	for (size_t i = 0; i < BENCH_CRYPTO_NITEMS && status == 0; i++)
		status = bench_crypto_run(&b, &bench_crypto_items[i], seconds);
	bench_crypto_teardown(&b);
	return status;
}
