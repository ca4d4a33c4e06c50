/* crypto.h: bulwark's cryptography on OpenSSL 3 (EVP; low-level SHA-256 for hashing and
 * HMAC): Ed25519, X25519, HKDF, HMAC, SHA-256, AES-256-GCM, constant-time compare, Shamir
 * sharing, RFC 9162 Merkle trees. */
#ifndef BULWARK_CRYPTO_H
#define BULWARK_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_HASH_LEN     32u /* SHA-256 */
#define CRYPTO_ED25519_PUB  32u
#define CRYPTO_ED25519_SEED 32u
#define CRYPTO_ED25519_SIG  64u
#define CRYPTO_X25519_LEN   32u
#define CRYPTO_HMAC_DEFAULT_TAG 16u
#define CRYPTO_HMAC_MAX_TAG 32u
#define CRYPTO_AEAD_KEY     32u
#define CRYPTO_AEAD_NONCE   12u
#define CRYPTO_AEAD_TAG     16u
#define CRYPTO_MERKLE_MAX_PATH 64u

/* Error codes: 0 is success, every failure is one of these (negative). */
enum crypto_err {
	CRYPTO_OK = 0,
	CRYPTO_ERR_ARG = -1,      /* bad argument (NULL, length out of range) */
	CRYPTO_ERR_NOMEM = -2,
	CRYPTO_ERR_OPENSSL = -3,  /* an OpenSSL (or libsodium) call failed unexpectedly */
	CRYPTO_ERR_BADSIG = -4,   /* signature does not verify */
	CRYPTO_ERR_AUTH = -5,     /* MAC or AEAD tag does not verify */
	CRYPTO_ERR_KEYFILE = -6,  /* key file missing, unreadable or not an Ed25519 PEM */
	CRYPTO_ERR_KEYPERM = -7,  /* private key file readable by group or others */
	CRYPTO_ERR_SHARES = -8,   /* too few, duplicate or malformed Shamir shares */
	CRYPTO_ERR_PROOF = -9,    /* Merkle proof does not verify */
	CRYPTO_ERR_LOWORDER = -10, /* X25519 produced the all-zero shared secret */
	CRYPTO_ERR_WEAKKEY = -11   /* Ed25519 public key of small order (anyone can sign for it) */
};

/* A static, human-readable string for a crypto_err. Never NULL. */
const char *crypto_strerror(int err);

/* Fill buf with n bytes from the OpenSSL CSPRNG. */
int crypto_random(void *buf, size_t n);

/* Constant-time equality (CRYPTO_memcmp): 1 if equal, 0 otherwise. */
int crypto_memeq(const void *a, const void *b, size_t n);

/* ---------------------------------------------------------------- SHA-256 */
/* data may be NULL when len is 0. The function cannot fail visibly: for NULL data with
 * len > 0 (or an OpenSSL failure, which the allocation-free SHA-256 never reports) out is
 * set to all zero bytes. */
void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN]);

/* Room for one OpenSSL SHA256_CTX (112 bytes in every OpenSSL since 0.9.8), kept opaque
 * so that includers need no OpenSSL header; hash.c asserts at compile time that it fits. */
#define CRYPTO__SHA256_STATE_WORDS 14u
struct crypto__sha256_state {
	uint64_t w[CRYPTO__SHA256_STATE_WORDS];
};

/* A plain value: nothing is allocated, and copying a live context forks the hash. */
struct crypto_sha256_ctx {
	/* Non-NULL (&state) between init and final/free; only its NULL-ness counts. A pointer
	 * because callers initialise with { NULL } and reset it with c->md = NULL. */
	void *md;
	struct crypto__sha256_state state;
};
/* init never reads *c before (c may be uninitialised) and allocates nothing; final and
 * free wipe the state and set c->md to NULL; free is a no-op after final. */
int crypto_sha256_init(struct crypto_sha256_ctx *c);
int crypto_sha256_update(struct crypto_sha256_ctx *c, const void *data, size_t len);
/* Writes the digest; the context may be reused after crypto_sha256_init again. */
int crypto_sha256_final(struct crypto_sha256_ctx *c, uint8_t out[CRYPTO_HASH_LEN]);
void crypto_sha256_free(struct crypto_sha256_ctx *c);

/* ---------------------------------------------------------------- Ed25519 */
struct crypto_ed25519_key {
	void *pkey;                         /* EVP_PKEY *, owned: key files */
	uint8_t pub[CRYPTO_ED25519_PUB];    /* raw public key */
	uint8_t sk[64];                     /* with has_private: libsodium's seed || pub */
	int has_private;
};

/* The constructors overwrite *k without reading it; k owns its EVP_PKEY until
 * crypto_ed25519_free (which wipes *k and accepts a zeroed or NULL k). A key may be used
 * by several threads at once for sign and verify. Keys and key files are OpenSSL's;
 * signing and verifying are libsodium's, measured on this project's machines at 17,800
 * verifications and 53,000 signatures per second against OpenSSL 3.0's 8,300 and 22,000
 * (docs/BENCHMARKS.md): every replica verifies every CHECKPOINT, VIEW-CHANGE and, in
 * robust mode, every client request. Both implement RFC 8032; libsodium additionally
 * refuses non-canonical and small-order encodings, so a signature OpenSSL accepts may be
 * refused here, never the reverse for signatures this module makes. */
int crypto_ed25519_generate(struct crypto_ed25519_key *k);
/* Deterministic key from a 32-byte seed (RFC 8032 private key). */
int crypto_ed25519_from_seed(struct crypto_ed25519_key *k, const uint8_t seed[CRYPTO_ED25519_SEED]);
/* 1 if pub encodes an Ed25519 point of small order (including non-canonical encodings
 * OpenSSL accepts). OpenSSL verifies forged signatures under such keys. */
int crypto_ed25519_key_is_weak(const uint8_t pub[CRYPTO_ED25519_PUB]);
/* Verification-only key from raw public bytes; CRYPTO_ERR_WEAKKEY for a small-order key
 * (as are crypto_ed25519_load_public and crypto_ed25519_verify_raw). */
int crypto_ed25519_from_public(struct crypto_ed25519_key *k, const uint8_t pub[CRYPTO_ED25519_PUB]);
void crypto_ed25519_free(struct crypto_ed25519_key *k);

int crypto_ed25519_sign(const struct crypto_ed25519_key *k, const void *msg, size_t len,
			uint8_t sig[CRYPTO_ED25519_SIG]);
/* 0 if sig is a valid signature of msg under k, CRYPTO_ERR_BADSIG otherwise. */
int crypto_ed25519_verify(const struct crypto_ed25519_key *k, const void *msg, size_t len,
			  const uint8_t sig[CRYPTO_ED25519_SIG]);
/* Same, from raw public key bytes (builds a temporary key: slower). */
int crypto_ed25519_verify_raw(const uint8_t pub[CRYPTO_ED25519_PUB], const void *msg, size_t len,
			      const uint8_t sig[CRYPTO_ED25519_SIG]);

/* PEM files (PKCS#8 private, SubjectPublicKeyInfo public). Private keys are written
 * with mode 0600; loading a private key whose file mode allows group or other access
 * fails with CRYPTO_ERR_KEYPERM. err (may be NULL) receives a message naming the file. */
int crypto_ed25519_save_private(const struct crypto_ed25519_key *k, const char *path,
				char *err, size_t errlen);
int crypto_ed25519_save_public(const struct crypto_ed25519_key *k, const char *path,
			       char *err, size_t errlen);
int crypto_ed25519_load_private(struct crypto_ed25519_key *k, const char *path,
				char *err, size_t errlen);
int crypto_ed25519_load_public(struct crypto_ed25519_key *k, const char *path,
			       char *err, size_t errlen);

/* ---------------------------------------------------------------- X25519 + HKDF */
struct crypto_x25519_key {
	void *pkey; /* EVP_PKEY *, owned */
	uint8_t pub[CRYPTO_X25519_LEN];
};
int crypto_x25519_generate(struct crypto_x25519_key *k);
int crypto_x25519_from_private(struct crypto_x25519_key *k, const uint8_t priv[CRYPTO_X25519_LEN]);
void crypto_x25519_free(struct crypto_x25519_key *k);
/* Shared secret with a peer's public key; CRYPTO_ERR_LOWORDER for an all-zero result
 * (a small-order peer point), in which case out is zeroed. */
int crypto_x25519_shared(const struct crypto_x25519_key *mine, const uint8_t peer[CRYPTO_X25519_LEN],
			 uint8_t out[CRYPTO_X25519_LEN]);

/* RFC 5869 HKDF-SHA256 (extract then expand); outlen <= 255 * 32. */
int crypto_hkdf_sha256(const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
		       const void *info, size_t infolen, uint8_t *out, size_t outlen);

/* ---------------------------------------------------------------- HMAC-SHA256 */
/* A keyed, reusable HMAC context: init hashes the key into the inner and outer pad
 * states once; each tag then starts from copies of those states (plain struct copies, no
 * allocation) and costs two SHA-256 blocks for up to 55 bytes of input, one more per
 * further 64 bytes. tag and verify only read *h, so threads may share one context. init
 * never reads *h; free wipes and zeroes it and accepts a zeroed or NULL h. keylen 0 (key
 * NULL) is legal. A crypto_hmac owns nothing but holds key-equivalent secrets: it may be
 * moved by assignment, and then crypto_hmac_free on the source wipes only the source. */
struct crypto_hmac {
	struct crypto__sha256_state inner; /* SHA-256 after (key ^ ipad), 64 bytes absorbed */
	struct crypto__sha256_state outer; /* SHA-256 after (key ^ opad) */
	int keyed;                         /* 1 between a successful init and free */
};
int crypto_hmac_init(struct crypto_hmac *h, const uint8_t *key, size_t keylen);
void crypto_hmac_free(struct crypto_hmac *h);
/* HMAC-SHA256 over a then b (b may be NULL/0), truncated to taglen (1..32) bytes. */
int crypto_hmac_tag(struct crypto_hmac *h, const void *a, size_t alen, const void *b, size_t blen,
		    uint8_t *tag, size_t taglen);
/* 0 if tag matches (constant time), CRYPTO_ERR_AUTH otherwise. */
int crypto_hmac_verify(struct crypto_hmac *h, const void *a, size_t alen, const void *b, size_t blen,
		       const uint8_t *tag, size_t taglen);
/* One-shot, for tests and cold paths. */
int crypto_hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t len,
		       uint8_t out[CRYPTO_HASH_LEN]);

/* ---------------------------------------------------------------- AES-256-GCM */
/* ct receives ptlen bytes followed by the 16-byte tag (ptlen + CRYPTO_AEAD_TAG in all). */
int crypto_aead_seal(const uint8_t key[CRYPTO_AEAD_KEY], const uint8_t nonce[CRYPTO_AEAD_NONCE],
		     const void *aad, size_t aadlen, const void *pt, size_t ptlen, uint8_t *ct);
/* ctlen includes the tag; pt receives ctlen - 16 bytes. CRYPTO_ERR_AUTH on any tamper,
 * and then pt is zeroed (no unauthenticated plaintext). ctlen < 16 is CRYPTO_ERR_ARG.
 * For both calls the output may be the same buffer as the input (in place). */
int crypto_aead_open(const uint8_t key[CRYPTO_AEAD_KEY], const uint8_t nonce[CRYPTO_AEAD_NONCE],
		     const void *aad, size_t aadlen, const uint8_t *ct, size_t ctlen, uint8_t *pt);

/* ---------------------------------------------------------------- GMAC (AES-256-GCM) */
/* A keyed, reusable GMAC context: AES-256-GCM with the message as additional data and no
 * plaintext, so the tag costs one GHASH pass over the message (several times faster
 * than HMAC-SHA256 on hardware with carry-less multiply) plus two AES blocks. Every tag
 * under one key needs its own nonce: a nonce used twice lets a forger recover the
 * hash key. The transport uses one key per direction and the frame counter as nonce.
 * Unlike crypto_hmac, a context is mutated by each tag: one thread at a time. init never
 * reads *g; free wipes the key schedule and accepts a zeroed or NULL g. Two
 * implementations of the same tag: libsodium's (AES-NI and carry-less multiply only,
 * with a precomputed state: 0.06 us for 64 bytes where OpenSSL's EVP call costs 0.31)
 * for a message in one part of up to CRYPTO_GMAC_FAST_MAX bytes, OpenSSL's (faster
 * beyond, ~5.7 GB/s here) otherwise. */
#define CRYPTO_GMAC_KEY   32u
#define CRYPTO_GMAC_NONCE 12u
#define CRYPTO_GMAC_TAG   16u
#define CRYPTO_GMAC_FAST_MAX 8192u
struct crypto_gmac {
	void *ctx;  /* EVP_CIPHER_CTX *, owned; NULL until init succeeds */
	void *fast; /* libsodium's crypto_aead_aes256gcm_state, owned; NULL where the CPU
		     * lacks what libsodium's AES-GCM needs */
};
int crypto_gmac_init(struct crypto_gmac *g, const uint8_t key[CRYPTO_GMAC_KEY]);
void crypto_gmac_free(struct crypto_gmac *g);
/* Tag over a then b (b may be NULL/0) under nonce. */
int crypto_gmac_tag(struct crypto_gmac *g, const uint8_t nonce[CRYPTO_GMAC_NONCE], const void *a,
		    size_t alen, const void *b, size_t blen, uint8_t tag[CRYPTO_GMAC_TAG]);
/* 0 if tag matches (constant time), CRYPTO_ERR_AUTH otherwise. */
int crypto_gmac_verify(struct crypto_gmac *g, const uint8_t nonce[CRYPTO_GMAC_NONCE],
		       const void *a, size_t alen, const void *b, size_t blen,
		       const uint8_t tag[CRYPTO_GMAC_TAG]);

/* ---------------------------------------------------------------- Shamir over GF(2^8) */
/* Split secret (len bytes) into n shares with threshold k (1 <= k <= n <= 255).
 * Share i (0-based) has x coordinate i+1 and len bytes, stored at shares + i*len.
 * rnd supplies (k-1)*len coefficient bytes (deterministic tests); NULL uses the CSPRNG. */
/* shares (n * len bytes) must not overlap secret. len 0 is CRYPTO_ERR_ARG. */
int crypto_shamir_split(const uint8_t *secret, size_t len, unsigned k, unsigned n,
			uint8_t *shares, const uint8_t *rnd);
/* Recover the secret from count shares (xs[i], ys[i] of len bytes). Fails with
 * CRYPTO_ERR_SHARES if count < k, an x is 0 or repeated. Uses the first k shares. */
int crypto_shamir_combine(const uint8_t *xs, const uint8_t *const *ys, unsigned count, unsigned k,
			  size_t len, uint8_t *secret);

/* ---------------------------------------------------------------- Merkle (RFC 9162) */
/* Leaf hash SHA-256(0x00 || data); node hash SHA-256(0x01 || left || right). */
void crypto_merkle_leaf(const void *data, size_t len, uint8_t out[CRYPTO_HASH_LEN]);
void crypto_merkle_node(const uint8_t left[CRYPTO_HASH_LEN], const uint8_t right[CRYPTO_HASH_LEN],
			uint8_t out[CRYPTO_HASH_LEN]);
/* Root over n leaf hashes (n = 0 gives SHA-256 of the empty string). */
int crypto_merkle_root(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n, uint8_t out[CRYPTO_HASH_LEN]);
/* Proof generators: path must have room for CRYPTO_MERKLE_MAX_PATH hashes; the path is
 * ordered leaf to root as in RFC 9162. Bad index/sizes are CRYPTO_ERR_ARG.
 * Verifiers: any wrong proof, size, index or root (including pathlen above
 * CRYPTO_MERKLE_MAX_PATH, index >= size, m == 0 or m > n) is CRYPTO_ERR_PROOF; only NULL
 * pointers are CRYPTO_ERR_ARG. For m == n the proof is empty and the roots must match. */
/* Audit path for leaf index in a tree of n leaves; *pathlen receives the count. */
int crypto_merkle_inclusion_proof(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n, size_t index,
				  uint8_t (*path)[CRYPTO_HASH_LEN], size_t *pathlen);
int crypto_merkle_inclusion_verify(const uint8_t leaf[CRYPTO_HASH_LEN], uint64_t index, uint64_t size,
				   const uint8_t (*path)[CRYPTO_HASH_LEN], size_t pathlen,
				   const uint8_t root[CRYPTO_HASH_LEN]);
/* Consistency proof between the first m leaves and all n leaves (0 < m <= n). */
int crypto_merkle_consistency_proof(const uint8_t (*leaves)[CRYPTO_HASH_LEN], size_t n, size_t m,
				    uint8_t (*path)[CRYPTO_HASH_LEN], size_t *pathlen);
int crypto_merkle_consistency_verify(uint64_t m, uint64_t n, const uint8_t root_m[CRYPTO_HASH_LEN],
				     const uint8_t root_n[CRYPTO_HASH_LEN],
				     const uint8_t (*path)[CRYPTO_HASH_LEN], size_t pathlen);

#endif
