/* bulwark.h: the public API of libbulwark, the client library of the bulwark update
 * backbone. Link with `pkg-config --libs bulwark`. */
#ifndef BULWARK_H
#define BULWARK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Errors: 0 is success; failures are negative codes. */
enum bulwark_err {
	BULWARK_OK = 0,
	BULWARK_ERR_ARG = -1,     /* a NULL or out-of-range argument */
	BULWARK_ERR_EXISTS = -2,  /* the file exists and overwrite was not asked for */
	BULWARK_ERR_IO = -3,      /* a file could not be created or written */
	BULWARK_ERR_CRYPTO = -4   /* key generation failed */
};

/* A static, human-readable string for a bulwark_err. Never NULL. */
const char *bulwark_strerror(int err);

/* The library's version string, e.g. "0.1.0". */
const char *bulwark_version(void);

/* Generate an Ed25519 identity: DIR/NAME.key (PKCS#8 PEM, mode 0600) and DIR/NAME.pub
 * (SubjectPublicKeyInfo PEM). Refuses to replace existing files unless overwrite is set.
 * pub (may be NULL) receives the raw 32-byte public key. err (may be NULL) receives a
 * message naming the file that failed. */
int bulwark_keygen(const char *dir, const char *name, int overwrite, uint8_t pub[32],
		   char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
