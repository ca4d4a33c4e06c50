/* bulwark_publish.h: libbulwark's publisher side of signed updates: ordered raw
 * update-service operations, chunk uploads with signed receipts, channel creation,
 * publisher-policy rotation and publishing a release. Link with `pkg-config --libs bulwark`. */
#ifndef BULWARK_PUBLISH_H
#define BULWARK_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "bulwark.h" /* found next to this header, in the tree and installed */

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- raw operations */
/* Order op (len bytes, copied; an operation of wire/upd.h or wire/kv.h) through the
 * group like bulwark_submit: done receives res->value = the result bytes the f+1
 * replicas agreed on (borrowed for the callback). Same errors as bulwark_submit. */
int bulwark_submit_raw(struct bulwark_client *c, const void *op, size_t len,
		       bulwark_done_fn done, void *arg);
/* Blocking form: *result is a malloc'd copy of the result bytes (free() it). */
int bulwark_call_raw(struct bulwark_client *c, const void *op, size_t len, uint8_t **result,
		     size_t *result_len);

/* The update service's answer (wire/upd.h "Result"), decoded. */
struct bulwark_upd_result {
	uint8_t status;          /* enum wire_upd_status: 0 accepted */
	uint8_t reason;
	uint64_t a, b, c;        /* meaning per status (wire/upd.h) */
	uint8_t hash[32];        /* PUBLISH OK: the manifest hash */
	char status_name[32];    /* "OK", "ROLLBACK", ... */
	char text[257];          /* the group's explanation */
};
/* Decode the result bytes of an update-service op (what bulwark_submit_raw's done gets
 * in res->value) into res. Returns 0, or BULWARK_ERR_PROTOCOL when they do not decode
 * (res zeroed). */
int bulwark_upd_result_decode(const void *buf, size_t len, struct bulwark_upd_result *res);

/* ---------------------------------------------------------------- chunk uploads */
#define BULWARK_CHUNK_SIZE (256u * 1024u)

/* One chunk to upload: its SHA-256 and bytes (borrowed for the call). */
struct bulwark_chunk {
	uint8_t sha256[32];
	const uint8_t *data;
	size_t len;
};

/* What each replica said about one chunk. */
enum bulwark_chunk_state {
	BULWARK_CHUNK_PENDING = -1,       /* no answer (down, timed out) */
	BULWARK_CHUNK_OK = 0,             /* stored, receipt signature verified */
	/* 1..5: the replica's refusal, wire/chunk.h's enum wire_chunk_status */
	BULWARK_CHUNK_BAD_RECEIPT = 100   /* said ok, but the receipt does not verify */
};
struct bulwark_chunk_receipts {
	uint32_t n;                       /* replicas */
	int state[64];                    /* per replica: enum bulwark_chunk_state */
	uint8_t sig[64][64];              /* per replica: the receipt signature when OK */
	uint32_t ok;                      /* replicas with a verified receipt */
};
/* Progress: chunk receipts received (of any state) so far, of total expected. */
typedef void (*bulwark_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* Upload count chunks to every replica (a window of outstanding chunks per replica),
 * verify each receipt's signature under the replica's key, and fill out[i] for chunk i
 * (caller-allocated, count entries). Waits until every connected replica answered for
 * every chunk, or timeout_ms passed (0: 60 s). Returns 0 when every chunk has at least
 * need verified receipts, BULWARK_ERR_REJECTED when some has fewer (out says why per
 * replica; *bad_chunk (may be NULL) the first such chunk), or _ARG, _BUSY, _LOOP,
 * _NOMEM, _TOO_BIG (a chunk above 1 MiB). */
int bulwark_chunks_upload(struct bulwark_client *c, const struct bulwark_chunk *chunks,
			  size_t count, uint32_t need, uint32_t timeout_ms,
			  struct bulwark_chunk_receipts *out, size_t *bad_chunk,
			  bulwark_progress_fn progress, void *progress_arg);
/* The words for an enum bulwark_chunk_state. Never NULL. */
const char *bulwark_chunk_state_name(int state);

/* ---------------------------------------------------------------- channels, publishing */
/* Create channel name with publisher policy k-of-m (m public key files, PEM), signed
 * with the group's admin private key (admin_key_path). res (always filled when 0 is
 * returned) holds the group's answer: status 0 accepted, else the refusal. Returns 0,
 * BULWARK_ERR_KEY (a key file, named in err), _ARG, or an ordering error. */
int bulwark_channel_create(struct bulwark_client *c, const char *admin_key_path,
			   const char *name, uint32_t k, const char *const *pub_paths, uint32_t m,
			   struct bulwark_upd_result *res, char *err, size_t errlen);

/* Rotate channel name to policy version policy_version (the current one + 1) with the
 * new policy k-of-m (m public key files, PEM; 1 <= m <= 32). The rotation is signed with
 * every private key of key_paths (nkeys, 1..64; old and new publisher keys in any order,
 * a key named twice signs once): the group accepts it with >= k_old signatures by the
 * current keys and >= k by the new ones (TUF root rotation). All strings borrowed. res
 * (always filled when 0 is returned) holds the group's answer: status 0 accepted
 * (res->a = the new policy version), else the refusal (e.g. BELOW_THRESHOLD: a = have,
 * b = need, reason = which policy). Returns 0, BULWARK_ERR_KEY (a key file, named in
 * err), _ARG (also an invalid name), _CRYPTO, _NOMEM, or an ordering error. */
int bulwark_channel_rotate(struct bulwark_client *c, const char *name, uint64_t policy_version,
			   uint32_t k, const char *const *pub_paths, uint32_t m,
			   const char *const *key_paths, uint32_t nkeys,
			   struct bulwark_upd_result *res, char *err, size_t errlen);

struct bulwark_publish_opts {
	const char *channel;
	uint64_t version;
	uint64_t expires_s;               /* seconds from now the manifest expires (> 0) */
	const char *const *key_paths;     /* publisher private keys (PEM, 0600) */
	uint32_t nkeys;
	const char *const *files;         /* paths; published under their base names */
	uint32_t nfiles;
	uint32_t chunk_size;              /* 0: BULWARK_CHUNK_SIZE */
	uint32_t timeout_ms;              /* uploads; 0: 60 s */
	bulwark_progress_fn progress;     /* may be NULL */
	void *progress_arg;
};

/* Chunk the files, upload every chunk to every replica with 2f+1 verified receipts
 * each, build and sign the manifest with every key, and order PUBLISH. Returns 0 with
 * res filled (status 0: published; manifest_hash = res->hash), or an error with err
 * saying what failed (a file, a key, a chunk refused by too many replicas and why). */
int bulwark_publish(struct bulwark_client *c, const struct bulwark_publish_opts *opts,
		    struct bulwark_upd_result *res, char *err, size_t errlen);

/* ---------------------------------------------------------------- releases */
/* What bulwark_publish does in two steps, for publishing one content as many versions
 * or channels without uploading it again, and for ordering the PUBLISH on a running
 * loop (bulwark_submit_raw): upload a release once, then build its signed PUBLISH op
 * for each channel and version. */
struct bulwark_release;

/* One file of a release, in memory (borrowed for the call). */
struct bulwark_file {
	const char *name;                 /* its path in the manifest */
	const uint8_t *data;
	size_t len;
};

struct bulwark_release_opts {
	const char *const *key_paths;     /* publisher private keys (PEM, 0600), loaded once */
	uint32_t nkeys;
	const struct bulwark_file *files;
	uint32_t nfiles;
	uint32_t chunk_size;              /* 0: BULWARK_CHUNK_SIZE */
	uint32_t timeout_ms;              /* uploads; 0: 60 s */
	bulwark_progress_fn progress;     /* may be NULL */
	void *progress_arg;
};

/* Load the keys, chunk the files and upload every chunk to every replica with 2f+1
 * verified receipts each (blocking: not inside c's loop). *out (free it with
 * bulwark_release_free) then holds the file names, sizes and hashes, the receipts and
 * the keys; not the files' bytes. Returns 0, or an error with err saying what failed: a
 * key (BULWARK_ERR_KEY), a file name or count no manifest may hold (_ARG), a chunk
 * refused by too many replicas and why (_REJECTED), or _NOMEM, _TOO_BIG, _LOOP, _BUSY. */
int bulwark_release_upload(struct bulwark_client *c, const struct bulwark_release_opts *o,
			   struct bulwark_release **out, char *err, size_t errlen);

/* The PUBLISH op of release r as version `version` of channel: a manifest created now
 * and expiring expires_s seconds later, signed with every key of r. *op (malloc'd,
 * free() it; *len bytes) is ready for bulwark_submit_raw to the group r was uploaded to;
 * its result decodes with bulwark_upd_result_decode. No I/O, no blocking. Returns 0,
 * _ARG (version or expires_s 0; an invalid channel name: err says), _CRYPTO, _NOMEM,
 * _TOO_BIG. */
int bulwark_release_op(const struct bulwark_release *r, const char *channel, uint64_t version,
		       uint64_t expires_s, uint8_t **op, size_t *len, char *err, size_t errlen);

void bulwark_release_free(struct bulwark_release *r);

#ifdef __cplusplus
}
#endif

#endif
