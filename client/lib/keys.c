/* keys.c: libbulwark's version, error strings and identity key generation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/bulwark.h"
#include "crypto/crypto.h"

const char *bulwark_version(void)
{
	return BULWARK_VERSION;
}

const char *bulwark_strerror(int err)
{
	switch (err) {
	case BULWARK_OK: return "success";
	case BULWARK_ERR_ARG: return "invalid argument";
	case BULWARK_ERR_EXISTS: return "file already exists";
	case BULWARK_ERR_IO: return "file could not be written";
	case BULWARK_ERR_CRYPTO: return "key generation, signing or MAC computation failed";
	case BULWARK_ERR_NOMEM: return "out of memory";
	case BULWARK_ERR_CONFIG: return "the group configuration is missing or invalid";
	case BULWARK_ERR_KEY:
		return "the client key file is missing, unreadable or not a private Ed25519 key";
	case BULWARK_ERR_NET: return "the network transport could not be set up";
	case BULWARK_ERR_TIMEOUT: return "timed out waiting for matching replies from the group";
	case BULWARK_ERR_NOT_FOUND: return "key not found";
	case BULWARK_ERR_CAS_MISMATCH: return "the key's version is not the expected one";
	case BULWARK_ERR_TOO_BIG: return "key, value or request above the size limit";
	case BULWARK_ERR_BUSY: return "an operation is already outstanding on this client";
	case BULWARK_ERR_REJECTED: return "the group rejected the operation as malformed";
	case BULWARK_ERR_PROTOCOL: return "the group's reply is malformed";
	case BULWARK_ERR_LOOP: return "blocking call from inside a callback of its event loop";
	case BULWARK_ERR_CANCELLED: return "the client was closed with the operation outstanding";
	case BULWARK_ERR_LANES: return "the client key already has the most lanes a group serves open";
	}
	return "unknown error";
}

/* err = "what: why" */
static void set_err(char *err, size_t errlen, const char *what, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", what, why);
}

int bulwark_keygen(const char *dir, const char *name, int overwrite, uint8_t pub[32],
		   char *err, size_t errlen)
{
	char keypath[4096], pubpath[4096];
	struct crypto_ed25519_key k;
	int rc;

	if (!dir || !name || !*name || strchr(name, '/'))
		return BULWARK_ERR_ARG;
	if (snprintf(keypath, sizeof keypath, "%s/%s.key", dir, name) >= (int)sizeof keypath ||
	    snprintf(pubpath, sizeof pubpath, "%s/%s.pub", dir, name) >= (int)sizeof pubpath)
		return BULWARK_ERR_ARG;
	if (!overwrite) {
		if (access(keypath, F_OK) == 0) {
			set_err(err, errlen, keypath, "exists (use --force to replace)");
			return BULWARK_ERR_EXISTS;
		}
		if (access(pubpath, F_OK) == 0) {
			set_err(err, errlen, pubpath, "exists (use --force to replace)");
			return BULWARK_ERR_EXISTS;
		}
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		set_err(err, errlen, dir, strerror(errno));
		return BULWARK_ERR_IO;
	}
	if (crypto_ed25519_generate(&k) != CRYPTO_OK) {
		set_err(err, errlen, dir, "Ed25519 key generation failed");
		return BULWARK_ERR_CRYPTO;
	}
	rc = crypto_ed25519_save_private(&k, keypath, err, errlen);
	if (rc == CRYPTO_OK)
		rc = crypto_ed25519_save_public(&k, pubpath, err, errlen);
	if (rc == CRYPTO_OK && pub)
		memcpy(pub, k.pub, 32);
	crypto_ed25519_free(&k);
	return rc == CRYPTO_OK ? BULWARK_OK : BULWARK_ERR_IO;
}
