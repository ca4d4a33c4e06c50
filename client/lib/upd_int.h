/* upd_int.h: internals shared by the light client's verification files (manifest.c,
 * verify.c, trust.c): the trust and manifest structs and error reporting. */
#ifndef BULWARK_CLIENT_UPD_INT_H
#define BULWARK_CLIENT_UPD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "client/bulwark_update.h"
#include "wire/upd.h"

/* A channel's pinned publisher policy. */
struct bulwark__policy {
	char name[WIRE_UPD_MAX_CHANNEL + 1];
	uint32_t k, m;
	uint8_t keys[WIRE_UPD_MAX_KEYS][WIRE_UPD_KEY_LEN];
	unsigned line;                                   /* of its section, for messages */
};

struct bulwark_trust {
	uint64_t group, epoch;
	uint32_t n, f, threshold;                        /* n = 3f+1 */
	uint8_t replica_keys[WIRE_UPD_MAX_REPLICAS][WIRE_UPD_KEY_LEN];
	struct bulwark__policy *chan;                    /* nchan, owned */
	size_t nchan;
	char *state_dir;                                 /* absolute or NULL, owned */
};

struct bulwark_manifest {
	struct wire_upd_manifest m;                      /* owned */
	uint8_t hash[WIRE_UPD_HASH_LEN];                 /* SHA-256 of the payload */
};

/* Format "fmt" into err (when not NULL) and return code. */
int bulwark__upd_fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The pinned policy of channel name, or NULL. */
const struct bulwark__policy *bulwark__trust_policy(const struct bulwark_trust *t,
						    const char *name);

/* Decode payload into a new manifest (hash computed); on failure err names the field
 * and the code is BULWARK_UPD_ERR_MANIFEST (or _NOMEM). */
int bulwark__manifest_new(const uint8_t *payload, size_t len, struct bulwark_manifest **out,
			  char *err, size_t errlen);

#endif
