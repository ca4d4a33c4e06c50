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

/* ---------------------------------------------------------------- polling */
/*
 * bulwark_poll_once fetches GET <url>/v1/channels/<channel> from the first source that
 * gives a document passing bulwark_verify_response (a source that cannot be reached,
 * answers with an HTTP error, times out or serves a document that fails a check is
 * reported and the next one is tried), downloads the chunks it lacks from
 * <url>/v1/chunks/<sha256> (any source, in order, per chunk; each chunk verified by its
 * SHA-256; a partial chunk resumes with Range), installs every file that is missing or
 * differs under out_dir (temporary file in the target folder, fsync, rename, fsync of
 * the folder) and only then saves the new state. A refusal changes neither the state
 * nor an installed file.
 *
 * Files kept in the state folder, per channel (<id> = hex SHA-256 of the channel name):
 *   <id>.state    the saved state (bulwark_state_save)
 *   <id>.doc      the last accepted response document, <id>.etag its ETag: sent as
 *                 If-None-Match; a 304 answer is accepted only if the saved document
 *                 still verifies now (so a 304 cannot freeze the client past expiry)
 *   <id>.chunks/  verified chunks (<sha256>) and partial downloads (<sha256>.part) of
 *                 an unfinished install; emptied once the install completed
 *   <id>.lock     flock'ed for the duration of a poll
 * Memory is bounded by max_document plus one chunk (the manifest's chunk size).
 * libcurl is initialised on first use; a multi-threaded agent calls
 * curl_global_init(CURL_GLOBAL_DEFAULT) before starting threads.
 */
enum bulwark_poll_err {
	BULWARK_POLL_ERR_FETCH = -40,     /* a source cannot be reached or the transfer broke */
	BULWARK_POLL_ERR_TIMEOUT = -41,   /* a transfer exceeded its time limit */
	BULWARK_POLL_ERR_HTTP = -42,      /* a source answered with an unexpected HTTP status */
	BULWARK_POLL_ERR_TOO_BIG = -43,   /* a document or chunk is above its size limit */
	BULWARK_POLL_ERR_BUSY = -44,      /* another poll of this channel holds its lock */
	BULWARK_POLL_ERR_INSTALL = -45    /* a file cannot be written into the output folder */
};
/* A static string for a bulwark_poll_err or a bulwark_upd_err. Never NULL. */
const char *bulwark_poll_strerror(int err);

#define BULWARK_POLL_MAX_SOURCES 16u  /* urls per poll */
#define BULWARK_POLL_MAX_FAILURES 16u /* failures kept in a result (all are counted) */

enum bulwark_poll_event_kind {
	BULWARK_POLL_EV_SOURCE_FAILED, /* url failed: code (bulwark_poll_strerror) and text */
	BULWARK_POLL_EV_DOCUMENT,      /* url's document verified: version */
	BULWARK_POLL_EV_CHUNK,         /* a chunk is ready (cached or fetched): done of
					* total bytes of the files to install */
	BULWARK_POLL_EV_FILE           /* text (a manifest path) was installed */
};
/* Every pointer is borrowed for the duration of the callback. */
struct bulwark_poll_event {
	enum bulwark_poll_event_kind kind;
	const char *url;
	int code;
	const char *text;
	uint64_t version;
	uint64_t done, total;
};

struct bulwark_poll_config {
	const char *channel;                /* borrowed */
	const struct bulwark_trust *trust;  /* borrowed */
	const char *const *urls;            /* nurls base URLs ("http://host:port"), borrowed */
	size_t nurls;                       /* 1..BULWARK_POLL_MAX_SOURCES */
	const char *out_dir;                /* where files are installed (created if missing) */
	const char *state_dir;              /* NULL: the trust file's state_dir */
	uint32_t timeout_ms;                /* limit of each transfer; 0: 30000 */
	uint32_t connect_timeout_ms;        /* 0: the smaller of timeout_ms and 10000 */
	uint32_t max_document;              /* bytes; 0: wire_upd_limits_default.max_document */
	uint64_t now_ms;                    /* 0: the wall clock (tests pin a time) */
	void (*progress)(void *arg, const struct bulwark_poll_event *ev); /* may be NULL */
	void *progress_arg;
};

struct bulwark_poll_failure {
	char url[256];                      /* truncated if longer */
	int code;                           /* bulwark_poll_strerror names the check */
	char why[256];                      /* the details */
};

struct bulwark_poll_result {
	int up_to_date;           /* the saved version was current and every file intact */
	int not_modified;         /* the accepted document came from a 304 answer */
	uint64_t version, seq;    /* installed manifest version, accepted certificate seq */
	uint32_t files_installed; /* files written by this poll */
	uint64_t chunks_fetched;  /* chunks downloaded by this poll */
	uint64_t bytes_fetched;   /* chunk bytes received (resumed parts excluded) */
	uint64_t chunks_resumed;  /* chunk downloads that continued a partial file */
	char source[256];         /* the source whose document was accepted */
	uint32_t nfailures;       /* failures of sources (documents and chunks) */
	struct bulwark_poll_failure failures[BULWARK_POLL_MAX_FAILURES]; /* the first ones */
	char err[768];            /* on failure: what failed, naming the check */
};

/* One poll as described above; res (caller-allocated, overwritten) tells what
 * happened. Returns 0 when the verified version is installed (newly or already), else
 * the error of the last thing that failed (a bulwark_upd_err such as
 * BULWARK_UPD_ERR_CERT_EXPIRED when every source served a document failing that
 * check, or a bulwark_poll_err) with res->err naming it. */
int bulwark_poll_once(const struct bulwark_poll_config *cfg, struct bulwark_poll_result *res);

#ifdef __cplusplus
}
#endif

#endif
