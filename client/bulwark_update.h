/* bulwark_update.h: the light client's verification of bulwark signed updates: trust
 * and saved-state files, response documents, manifests, chunks and files. Pure
 * checks over bytes the caller fetched (any replica, mirror or cache may serve them). */
#ifndef BULWARK_UPDATE_H
#define BULWARK_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What a client trusts, and why an answer from anyone is safe to accept:
 *
 * - The trust file (INI) pins the group: its id and epoch, every replica's Ed25519
 *   public key and the number of replica signatures a certificate needs (default f+1
 *   for n = 3f+1 replicas); and per channel the publisher policy: k and the m publisher
 *   keys. Pinning the publisher keys in the trust file (rather than believing the group
 *   about them) means that even a whole colluding group cannot make a client accept a
 *   manifest its publishers did not sign; a policy rotation reaches clients as a new
 *   trust file.
 *
 *     [group]
 *     id = 42                 ; the group id (decimal u64), required
 *     epoch = 1               ; ring epoch (default 1)
 *     threshold = 2           ; replica signatures per certificate, f+1..n (default f+1)
 *     state_dir = state       ; where saved states live (relative: to the trust file)
 *     [replica 0]             ; one section per replica, ids 0..n-1, n = 3f+1 >= 4
 *     public_key = <64 hex digits>
 *     [channel stable/linux-amd64]
 *     threshold = 2           ; k, 1..m
 *     publisher = <64 hex digits>   ; repeated, one line per publisher key (m <= 32)
 *
 *   ';' and '#' start comment lines; unknown sections or keys, repeated single keys,
 *   duplicate keys in a set and bad values are refused with "file:line: what".
 *
 * - The saved state (one small file per channel, replaced atomically with rename) holds
 *   the last accepted manifest version, its hash and the last accepted certificate
 *   sequence number, so neither can go backwards.
 *
 *     [state]
 *     channel = stable/linux-amd64
 *     version = 7
 *     seq = 1234
 *     manifest = <64 hex digits>
 *
 * bulwark_verify_response checks, in this order, and reports the FIRST failure:
 *   1. the channel is pinned in the trust file            BULWARK_UPD_ERR_NO_CHANNEL
 *   2. the document decodes strictly                       BULWARK_UPD_ERR_RESPONSE
 *   3. the statement is for the trusted group and epoch    BULWARK_UPD_ERR_CERT_GROUP
 *   4. >= threshold distinct trusted replicas signed the identical statement
 *                                                          BULWARK_UPD_ERR_CERT_SIGNATURES
 *   5. the certificate has not expired (now < expires_ms)  BULWARK_UPD_ERR_CERT_EXPIRED
 *   6. its seq is not below the saved seq                  BULWARK_UPD_ERR_CERT_ROLLBACK
 *   7. (channel, proof version, SHA-256(payload)) is in the certified index root
 *                                                          BULWARK_UPD_ERR_INCLUSION
 *   8. k distinct pinned publisher keys signed the payload BULWARK_UPD_ERR_PUBLISHER_THRESHOLD
 *   9. the payload is a valid manifest                     BULWARK_UPD_ERR_MANIFEST
 *  10. its channel is this channel, its version the proof's  BULWARK_UPD_ERR_CHANNEL
 *  11. its version is not below the saved version          BULWARK_UPD_ERR_ROLLBACK
 *  12. it has not expired (now < expires)                  BULWARK_UPD_ERR_MANIFEST_EXPIRED
 * Only authenticated bytes are parsed as a manifest (after steps 4-8).
 */

enum bulwark_upd_err {
	BULWARK_UPD_OK = 0,
	BULWARK_UPD_ERR_ARG = -1,                 /* a NULL or out-of-range argument */
	BULWARK_UPD_ERR_NOMEM = -2,
	BULWARK_UPD_ERR_IO = -3,                  /* a file cannot be read or written */
	BULWARK_UPD_ERR_TRUST = -4,               /* the trust file is invalid */
	BULWARK_UPD_ERR_STATE = -5,               /* the saved state file is invalid */
	BULWARK_UPD_ERR_NO_CHANNEL = -6,          /* the trust file pins no such channel */
	BULWARK_UPD_ERR_RESPONSE = -7,            /* the response document is malformed */
	BULWARK_UPD_ERR_CERT_GROUP = -8,          /* statement of another group or epoch */
	BULWARK_UPD_ERR_CERT_SIGNATURES = -9,     /* too few trusted replica signatures */
	BULWARK_UPD_ERR_CERT_EXPIRED = -10,       /* stale certificate (freeze attack) */
	BULWARK_UPD_ERR_CERT_ROLLBACK = -11,      /* certificate older than the saved one */
	BULWARK_UPD_ERR_INCLUSION = -12,          /* manifest not in the certified index */
	BULWARK_UPD_ERR_PUBLISHER_THRESHOLD = -13,/* fewer than k publisher signatures */
	BULWARK_UPD_ERR_MANIFEST = -14,           /* the signed payload is not a valid manifest */
	BULWARK_UPD_ERR_CHANNEL = -15,            /* manifest of another channel or version */
	BULWARK_UPD_ERR_ROLLBACK = -16,           /* manifest version below the saved one */
	BULWARK_UPD_ERR_MANIFEST_EXPIRED = -17,   /* the manifest has expired */
	BULWARK_UPD_ERR_CHUNK = -18,              /* chunk bytes do not match the manifest */
	BULWARK_UPD_ERR_FILE = -19                /* a file does not match its size or sha256 */
};
/* A static string for a bulwark_upd_err. Never NULL. */
const char *bulwark_upd_strerror(int err);

/* Every function taking (err, errlen) writes a NUL-terminated message naming what
 * failed there when it returns an error (err may be NULL). */

/* ---------------------------------------------------------------- trust */
struct bulwark_trust; /* opaque */

/* Load and validate a trust file; *out owned by the caller (bulwark_trust_free). */
int bulwark_trust_load(const char *path, struct bulwark_trust **out, char *err, size_t errlen);
/* The same from len bytes of text (borrowed); name is used in messages and dir (may be
 * NULL: the current folder) anchors a relative state_dir. */
int bulwark_trust_parse(const char *name, const char *dir, const char *text, size_t len,
			struct bulwark_trust **out, char *err, size_t errlen);
void bulwark_trust_free(struct bulwark_trust *t);
uint64_t bulwark_trust_group(const struct bulwark_trust *t);
uint32_t bulwark_trust_replicas(const struct bulwark_trust *t);
uint32_t bulwark_trust_threshold(const struct bulwark_trust *t);

/* ---------------------------------------------------------------- saved state */
struct bulwark_update_state {
	uint64_t version;          /* last accepted manifest version; 0: none yet */
	uint64_t seq;              /* last accepted certificate sequence number */
	uint8_t manifest_hash[32]; /* SHA-256 of the last accepted manifest payload */
};

/* The state file of channel: state_dir/<hex SHA-256(channel)>.state. BULWARK_UPD_ERR_ARG
 * when the trust file names no state_dir or out is too small. */
int bulwark_state_path(const struct bulwark_trust *t, const char *channel, char *out,
		       size_t outlen);
/* Read the state of channel from path. A missing file is the initial state (all zero)
 * and success; a file for another channel or malformed is BULWARK_UPD_ERR_STATE. */
int bulwark_state_load(const char *path, const char *channel, struct bulwark_update_state *st,
		       char *err, size_t errlen);
/* Replace path atomically (temporary file, fsync, rename, fsync of the folder). */
int bulwark_state_save(const char *path, const char *channel,
		       const struct bulwark_update_state *st, char *err, size_t errlen);

/* ---------------------------------------------------------------- manifests */
struct bulwark_manifest; /* opaque */

struct bulwark_file_info {
	const char *path;          /* relative path, borrowed from the manifest */
	uint64_t size;
	const uint8_t *sha256;     /* 32 bytes, borrowed */
	uint32_t nchunks;
};

/* Parse manifest bytes WITHOUT authenticating them (tools; clients get manifests from
 * bulwark_verify_response). *out owned by the caller. */
int bulwark_manifest_parse(const void *payload, size_t len, struct bulwark_manifest **out,
			   char *err, size_t errlen);
void bulwark_manifest_free(struct bulwark_manifest *m);
const char *bulwark_manifest_channel(const struct bulwark_manifest *m);
uint64_t bulwark_manifest_version(const struct bulwark_manifest *m);
uint64_t bulwark_manifest_created(const struct bulwark_manifest *m);
uint64_t bulwark_manifest_expires(const struct bulwark_manifest *m);
uint32_t bulwark_manifest_chunk_size(const struct bulwark_manifest *m);
uint32_t bulwark_manifest_nfiles(const struct bulwark_manifest *m);
/* SHA-256 of the payload (32 bytes, borrowed). */
const uint8_t *bulwark_manifest_hash(const struct bulwark_manifest *m);
/* File i (< nfiles). BULWARK_UPD_ERR_ARG when out of range. */
int bulwark_manifest_file(const struct bulwark_manifest *m, uint32_t i,
			  struct bulwark_file_info *out);
/* Chunk c of file i: its SHA-256 (copied), offset in the file and size. */
int bulwark_manifest_chunk(const struct bulwark_manifest *m, uint32_t i, uint32_t c,
			   uint8_t sha256[32], uint64_t *offset, uint64_t *size);

/* ---------------------------------------------------------------- verification */
/* Verify a response document (doc, len bytes, borrowed: the JSON the read plane serves
 * for GET /v1/channels/{channel}) against the trust, the saved state of channel and
 * now_ms (wall clock, ms since the Unix epoch), in the order listed above. On success
 * *manifest (owned by the caller) is the verified manifest and *next the state to save
 * once its files are installed. */
int bulwark_verify_response(const struct bulwark_trust *t, const char *channel,
			    const struct bulwark_update_state *saved, uint64_t now_ms,
			    const void *doc, size_t len, struct bulwark_manifest **manifest,
			    struct bulwark_update_state *next, char *err, size_t errlen);

/* Chunk c of file i is exactly data (len bytes): size and SHA-256. */
int bulwark_verify_chunk(const struct bulwark_manifest *m, uint32_t i, uint32_t c,
			 const void *data, size_t len, char *err, size_t errlen);

/* Incremental check of one file, chunk by chunk in order, for files too big to hold:
 * each chunk is checked as it is added, the whole file's size and SHA-256 at finish. */
struct bulwark_file_check; /* opaque */
int bulwark_file_check_new(const struct bulwark_manifest *m, uint32_t i,
			   struct bulwark_file_check **out);
int bulwark_file_check_add(struct bulwark_file_check *fc, const void *data, size_t len,
			   char *err, size_t errlen);
int bulwark_file_check_finish(struct bulwark_file_check *fc, char *err, size_t errlen);
/* Frees fc (NULL is ignored); the manifest must outlive it. */
void bulwark_file_check_free(struct bulwark_file_check *fc);
/* The whole file i in memory: every chunk, its size and its SHA-256. */
int bulwark_verify_file(const struct bulwark_manifest *m, uint32_t i, const void *data,
			size_t len, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
