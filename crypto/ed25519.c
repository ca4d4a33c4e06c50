/* ed25519.c: Ed25519 keys and PEM key files (EVP_PKEY "ED25519"), signatures made and
 * checked with libsodium (crypto.h says why). */
#include "crypto/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A PEM Ed25519 key is about 120 bytes; anything far larger is not one of ours. */
#define CRYPTO__KEYFILE_MAX 16384

/* OpenSSL 3 accepts forged signatures under public keys of small order (found by
 * tests/fuzz/fuzz_net_hello): such a key proves nothing, whoever presents it, so every
 * verification-only key is checked against this list (libsodium, which verifies now,
 * refuses them too; the check keeps such keys out of key files and handshakes).
 * The y coordinates (little-endian, sign bit clear) of the eight Edwards25519 points of
 * order dividing 8: 0 and 1, the order-8 pair y and p - y, p - 1; then p and p + 1, the
 * non-canonical encodings of 0 and 1, which OpenSSL also decodes. */
static const uint8_t weak_y[7][CRYPTO_ED25519_PUB] = {
	{0x00},
	{0x01},
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
	 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
	 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
};

int crypto_ed25519_key_is_weak(const uint8_t pub[CRYPTO_ED25519_PUB])
{
	size_t i;

	for (i = 0; i < sizeof weak_y / sizeof weak_y[0]; i++) {
		if (memcmp(pub, weak_y[i], CRYPTO_ED25519_PUB - 1) == 0 &&
		    (pub[CRYPTO_ED25519_PUB - 1] & 0x7f) == weak_y[i][CRYPTO_ED25519_PUB - 1])
			return 1;
	}
	return 0;
}

/* libsodium's one-time initialisation: thread-safe, and a no-op after the first call. */
static int crypto__sodium_ready(void)
{
	return sodium_init() < 0 ? CRYPTO_ERR_OPENSSL : CRYPTO_OK;
}

/* k->sk from pkey's seed; the public key it derives must be k->pub. */
static int crypto__ed25519_secret(struct crypto_ed25519_key *k, EVP_PKEY *pkey)
{
	uint8_t seed[CRYPTO_ED25519_SEED], pub[CRYPTO_ED25519_PUB];
	size_t seedlen = sizeof(seed);
	int rc = CRYPTO_OK;

	if (EVP_PKEY_get_raw_private_key(pkey, seed, &seedlen) != 1 || seedlen != sizeof(seed) ||
	    crypto_sign_seed_keypair(pub, k->sk, seed) != 0 ||
	    memcmp(pub, k->pub, sizeof(pub)) != 0)
		rc = CRYPTO_ERR_OPENSSL;
	sodium_memzero(seed, sizeof(seed));
	return rc;
}

/* Fills k from a freshly made EVP_PKEY (ownership passes to k on success). */
static int crypto__ed25519_adopt(struct crypto_ed25519_key *k, EVP_PKEY *pkey, int has_private)
{
	size_t publen = CRYPTO_ED25519_PUB;

	if (crypto__sodium_ready() != CRYPTO_OK ||
	    EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) != 1 ||
	    publen != CRYPTO_ED25519_PUB ||
	    (has_private && crypto__ed25519_secret(k, pkey) != CRYPTO_OK)) {
		EVP_PKEY_free(pkey);
		sodium_memzero(k, sizeof(*k));
		return CRYPTO_ERR_OPENSSL;
	}
	if (!has_private && crypto_ed25519_key_is_weak(k->pub)) {
		EVP_PKEY_free(pkey);
		memset(k, 0, sizeof(*k));
		return CRYPTO_ERR_WEAKKEY;
	}
	k->pkey = pkey;
	k->has_private = has_private;
	return CRYPTO_OK;
}

int crypto_ed25519_generate(struct crypto_ed25519_key *k)
{
	EVP_PKEY *pkey;

	if (k == NULL)
		return CRYPTO_ERR_ARG;
	memset(k, 0, sizeof(*k));
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pkey == NULL)
		return CRYPTO_ERR_OPENSSL;
	return crypto__ed25519_adopt(k, pkey, 1);
}

int crypto_ed25519_from_seed(struct crypto_ed25519_key *k, const uint8_t seed[CRYPTO_ED25519_SEED])
{
	EVP_PKEY *pkey;

	if (k == NULL || seed == NULL)
		return CRYPTO_ERR_ARG;
	memset(k, 0, sizeof(*k));
	pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, CRYPTO_ED25519_SEED);
	if (pkey == NULL)
		return CRYPTO_ERR_OPENSSL;
	return crypto__ed25519_adopt(k, pkey, 1);
}

int crypto_ed25519_from_public(struct crypto_ed25519_key *k, const uint8_t pub[CRYPTO_ED25519_PUB])
{
	EVP_PKEY *pkey;

	if (k == NULL || pub == NULL)
		return CRYPTO_ERR_ARG;
	memset(k, 0, sizeof(*k));
	pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, pub, CRYPTO_ED25519_PUB);
	if (pkey == NULL)
		return CRYPTO_ERR_OPENSSL;
	return crypto__ed25519_adopt(k, pkey, 0);
}

void crypto_ed25519_free(struct crypto_ed25519_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	sodium_memzero(k, sizeof(*k));
}

int crypto_ed25519_sign(const struct crypto_ed25519_key *k, const void *msg, size_t len,
			uint8_t sig[CRYPTO_ED25519_SIG])
{
	if (k == NULL || k->pkey == NULL || !k->has_private || sig == NULL ||
	    (msg == NULL && len != 0))
		return CRYPTO_ERR_ARG;
	if (crypto_sign_detached(sig, NULL, msg != NULL ? msg : (const void *)"", len, k->sk) != 0)
		return CRYPTO_ERR_OPENSSL;
	return CRYPTO_OK;
}

/* sig over msg under the raw public key pub (not a weak one: checked by the caller). */
static int crypto__ed25519_check(const uint8_t pub[CRYPTO_ED25519_PUB], const void *msg, size_t len,
				 const uint8_t sig[CRYPTO_ED25519_SIG])
{
	if (crypto_sign_verify_detached(sig, msg != NULL ? msg : (const void *)"", len, pub) != 0)
		return CRYPTO_ERR_BADSIG;
	return CRYPTO_OK;
}

int crypto_ed25519_verify(const struct crypto_ed25519_key *k, const void *msg, size_t len,
			  const uint8_t sig[CRYPTO_ED25519_SIG])
{
	if (k == NULL || k->pkey == NULL || sig == NULL || (msg == NULL && len != 0))
		return CRYPTO_ERR_ARG;
	return crypto__ed25519_check(k->pub, msg, len, sig);
}

int crypto_ed25519_verify_raw(const uint8_t pub[CRYPTO_ED25519_PUB], const void *msg, size_t len,
			      const uint8_t sig[CRYPTO_ED25519_SIG])
{
	if (pub == NULL || sig == NULL || (msg == NULL && len != 0))
		return CRYPTO_ERR_ARG;
	if (crypto__sodium_ready() != CRYPTO_OK || crypto_ed25519_key_is_weak(pub))
		return CRYPTO_ERR_BADSIG;
	return crypto__ed25519_check(pub, msg, len, sig);
}

/* ---------------------------------------------------------------- PEM files */

/* Writes a message into err (may be NULL) and returns code. */
__attribute__((format(printf, 4, 5)))
static int crypto__keyerr(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Never prompt for a passphrase: an encrypted key file is refused as unreadable. */
static int crypto__no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/* Writes len bytes to path atomically (temporary file in the same directory, fsync,
 * rename) with the given mode set by fchmod, independent of the umask. */
static int crypto__write_file(const char *path, const char *data, size_t len, mode_t mode,
			      char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	int fd;
	int n;
	int e;
	size_t off = 0;

	n = snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen, "%s: path too long", path);
	/* mkostemp creates the file with O_CREAT|O_EXCL and mode 0600. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen, "%s: cannot create: %s", path,
				      strerror(errno));
	if (fchmod(fd, mode) != 0)
		goto err_io;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto err_io;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto err_io;
	if (close(fd) != 0) {
		fd = -1;
		goto err_io;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto err_io;
	return CRYPTO_OK;

err_io:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen, "%s: cannot write: %s", path,
			      strerror(e));
}

/* Encodes k as PEM (PKCS#8 private or SubjectPublicKeyInfo public) and writes it to path:
 * private keys with mode 0600, public keys 0644. */
static int crypto__save_pem(const struct crypto_ed25519_key *k, const char *path, int private,
			    char *err, size_t errlen)
{
	BIO *bio;
	char *data = NULL;
	long len;
	int ok;
	int rc;

	if (k == NULL || k->pkey == NULL || path == NULL || (private && !k->has_private))
		return crypto__keyerr(CRYPTO_ERR_ARG, err, errlen, "%s: no %s key to save",
				      path != NULL ? path : "(null)", private ? "private" : "public");
	bio = BIO_new(BIO_s_secmem());
	if (bio == NULL)
		return crypto__keyerr(CRYPTO_ERR_NOMEM, err, errlen, "%s: out of memory", path);
	if (private)
		ok = PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_bio_PUBKEY(bio, k->pkey);
	len = BIO_get_mem_data(bio, &data);
	if (ok != 1 || len <= 0 || data == NULL) {
		BIO_free(bio);
		ERR_clear_error();
		return crypto__keyerr(CRYPTO_ERR_OPENSSL, err, errlen, "%s: cannot encode key", path);
	}
	rc = crypto__write_file(path, data, (size_t)len, private ? 0600 : 0644, err, errlen);
	BIO_free(bio); /* a secure-memory BIO cleanses its buffer */
	return rc;
}

int crypto_ed25519_save_private(const struct crypto_ed25519_key *k, const char *path,
				char *err, size_t errlen)
{
	return crypto__save_pem(k, path, 1, err, errlen);
}

int crypto_ed25519_save_public(const struct crypto_ed25519_key *k, const char *path,
			       char *err, size_t errlen)
{
	return crypto__save_pem(k, path, 0, err, errlen);
}

/* Reads a key file of at most CRYPTO__KEYFILE_MAX bytes into buf; *len receives its size.
 * For a private key, refuses a file whose mode grants any group or other access. */
static int crypto__read_keyfile(const char *path, int private, char *buf, size_t *len,
				char *err, size_t errlen)
{
	struct stat st;
	int fd;
	size_t off = 0;
	int e;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen, "%s: cannot open: %s", path,
				      strerror(errno));
	/* fstat on the open descriptor: the mode checked is the mode of the file read. */
	if (fstat(fd, &st) != 0) {
		e = errno;
		close(fd);
		return crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen, "%s: cannot stat: %s", path,
				      strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen, "%s: not a regular file",
				      path);
	}
	if (private && (st.st_mode & 077) != 0) {
		close(fd);
		return crypto__keyerr(CRYPTO_ERR_KEYPERM, err, errlen,
				      "%s: private key has mode %04o, readable or writable by group "
				      "or others; run: chmod 600 %s",
				      path, (unsigned)(st.st_mode & 07777), path);
	}
	if (st.st_size <= 0 || st.st_size > CRYPTO__KEYFILE_MAX) {
		close(fd);
		return crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen,
				      "%s: not an Ed25519 PEM key (size %lld bytes)", path,
				      (long long)st.st_size);
	}
	for (;;) {
		ssize_t r = read(fd, buf + off, CRYPTO__KEYFILE_MAX - off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			OPENSSL_cleanse(buf, off);
			return crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen, "%s: cannot read: %s",
					      path, strerror(e));
		}
		if (r == 0)
			break;
		off += (size_t)r;
		if (off == CRYPTO__KEYFILE_MAX)
			break;
	}
	close(fd);
	*len = off;
	return CRYPTO_OK;
}

static int crypto__load_pem(struct crypto_ed25519_key *k, const char *path, int private,
			    char *err, size_t errlen)
{
	char *buf;
	size_t len = 0;
	BIO *bio;
	EVP_PKEY *pkey;
	int rc;

	if (k == NULL || path == NULL)
		return crypto__keyerr(CRYPTO_ERR_ARG, err, errlen, "no key or no path given");
	memset(k, 0, sizeof(*k));
	buf = OPENSSL_secure_malloc(CRYPTO__KEYFILE_MAX);
	if (buf == NULL)
		return crypto__keyerr(CRYPTO_ERR_NOMEM, err, errlen, "%s: out of memory", path);
	rc = crypto__read_keyfile(path, private, buf, &len, err, errlen);
	if (rc != CRYPTO_OK)
		goto out_buf;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio == NULL) {
		rc = crypto__keyerr(CRYPTO_ERR_NOMEM, err, errlen, "%s: out of memory", path);
		goto out_buf;
	}
	if (private)
		pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, crypto__no_passphrase, NULL, NULL, NULL);
	else
		pkey = PEM_read_bio_PUBKEY_ex(bio, NULL, crypto__no_passphrase, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		ERR_clear_error();
		rc = crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen, "%s: not a %s PEM key", path,
				    private ? "PKCS#8 private" : "SubjectPublicKeyInfo public");
		goto out_buf;
	}
	if (!EVP_PKEY_is_a(pkey, "ED25519")) {
		rc = crypto__keyerr(CRYPTO_ERR_KEYFILE, err, errlen, "%s: key is %s, not Ed25519",
				    path, EVP_PKEY_get0_type_name(pkey) != NULL ?
				    EVP_PKEY_get0_type_name(pkey) : "of unknown type");
		EVP_PKEY_free(pkey);
		goto out_buf;
	}
	rc = crypto__ed25519_adopt(k, pkey, private);
	if (rc != CRYPTO_OK)
		crypto__keyerr(rc, err, errlen, "%s: cannot read the public key", path);
out_buf:
	OPENSSL_secure_clear_free(buf, CRYPTO__KEYFILE_MAX);
	return rc;
}

int crypto_ed25519_load_private(struct crypto_ed25519_key *k, const char *path,
				char *err, size_t errlen)
{
	return crypto__load_pem(k, path, 1, err, errlen);
}

int crypto_ed25519_load_public(struct crypto_ed25519_key *k, const char *path,
			       char *err, size_t errlen)
{
	return crypto__load_pem(k, path, 0, err, errlen);
}
