/* upd.h: the signed-update formats shared by the replicas and the light client: manifests
 * and their DSSE envelopes (JSON), the channel index, freshness statements, chunk
 * receipts, the update-service operations and results, and the response document. */
#ifndef BULWARK_WIRE_UPD_H
#define BULWARK_WIRE_UPD_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "wire/wire.h"

/*
 * Conventions. Binary integers are little-endian like the rest of wire/; "bytes" is a
 * u32 length followed by the bytes; domain strings are their ASCII bytes with no length
 * and no NUL. JSON documents are UTF-8, parsed strictly: duplicate object keys, unknown
 * or missing fields, wrong types, trailing data, "\u0000" in strings, and integers that
 * are negative, fractional or above 2^53-1 (WIRE_UPD_JSON_INT_MAX, so that every JSON
 * implementation reads them exactly) are all refused with the name of the field.
 * HEX64 is exactly 64 lower-case hex digits (32 bytes). BASE64 is RFC 4648 standard
 * alphabet with '=' padding, no line breaks, canonical (unused bits zero).
 *
 * ---- Manifest (the DSSE payload), JSON object:
 *   "_type":      "bulwark/manifest/v1"
 *   "channel":    STR, a channel name (below)
 *   "version":    UINT >= 1; strictly increasing per channel
 *   "created":    UINT, Unix seconds
 *   "expires":    UINT, Unix seconds, > created
 *   "chunk_size": UINT, optional, WIRE_UPD_MIN_CHUNK..WIRE_UPD_MAX_CHUNK (default 262144)
 *   "files":      [ { "path": STR, "size": UINT, "sha256": HEX64, "chunks": [HEX64...] } ]
 * Each file is split into ceil(size / chunk_size) chunks (none for an empty file); chunk
 * i covers bytes [i*chunk_size, min(size, (i+1)*chunk_size)) and "chunks" lists their
 * SHA-256 in order; "sha256" is the SHA-256 of the whole file. A path is 1..
 * WIRE_UPD_MAX_PATH bytes of '/'-separated components, each non-empty, not "." or "..",
 * without '\\' or control bytes; no leading or trailing '/'. Paths are unique and no
 * path is a folder of another ("a" and "a/b" conflict). Limits: struct wire_upd_limits.
 *
 * Channel names: 1..WIRE_UPD_MAX_CHANNEL bytes of [A-Za-z0-9._-] and '/', no leading or
 * trailing '/', no empty, "." or ".." component (they appear in URL paths).
 *
 * ---- Envelope (DSSE v1), JSON object:
 *   "payloadType": "application/vnd.bulwark.manifest+json"
 *   "payload":     BASE64 of the manifest bytes
 *   "signatures":  [ { "keyid": HEX64 = SHA-256(publisher public key), "sig": BASE64 of
 *                      the 64-byte Ed25519 signature } ]   (1..WIRE_UPD_MAX_SIGS)
 * Each signature is Ed25519 over PAE(payloadType, payload bytes):
 *   "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN = ASCII decimal, no zeros
 *   in front (DSSE protocol). The signatures cover the exact payload bytes: no canonical
 *   JSON. Manifest hash = SHA-256(payload bytes).
 * Threshold rule: a policy (k, m distinct keys) is met when at least k distinct policy
 * keys each have at least one signature that verifies; a key counts once however many
 * signatures name it; signatures with keyids outside the policy are ignored.
 *
 * ---- Channel index: one leaf per channel with an accepted manifest, in bytewise order
 * of the names; leaf data (WIRE_UPD_LEAF_MAX bytes at most):
 *   namelen u32 | name | version u64 | manifest hash [32]
 * The index root is the RFC 9162 Merkle tree hash over the leaves (crypto_merkle_*;
 * with no leaf it is SHA-256 of the empty string). The
 * transparency log uses the same leaf data, one leaf appended per accepted PUBLISH.
 * An inclusion proof is (leaf index, tree size, audit path leaf to root).
 *
 * ---- Freshness statement (WIRE_UPD_STATEMENT_LEN = 132 bytes, signed as is):
 *   "bulwark/statement/v1" | group u64 | epoch u64 | seq u64 | time_ms u64 |
 *   expires_ms u64 | index_root [32] | log_size u64 | log_root [32]
 * seq is the last executed sequence number, time_ms the time of that batch (ms since the
 * Unix epoch). Each replica signs it with its Ed25519 key. A certificate is one statement
 * with (replica id, signature) pairs; it is valid if at least `threshold` distinct
 * trusted replicas signed the identical statement.
 *
 * ---- Chunk receipt (signed bytes, WIRE_UPD_RECEIPT_LEN = 74 bytes):
 *   "bulwark/receipt/v1" | group u64 | epoch u64 | sha256 [32] | size u64
 *
 * ---- Update-service operations (the op bytes of a REQUEST; the types are disjoint
 * from wire/kv.h's 1..4). Nothing may follow the last field.
 *   CHANNEL_CREATE  u8 0x40 | name bytes | k u32 | m u32 | m keys [32] | admin sig [64]
 *       admin sig: Ed25519 by the group's admin key over
 *       "bulwark/channel-create/v1" | group u64 | epoch u64 | name bytes | k u32 | m u32 |
 *       keys (wire_upd_create_signed_bytes)
 *   PUBLISH         u8 0x41 | name bytes | envelope bytes (the JSON above) | count u32 |
 *       count receipt lists, one per chunk in manifest order (file 0's chunks, then
 *       file 1's, ...), each: n u32 | n x (replica u32 | sig [64]). A receipt counts
 *       if its replica id is below n, no earlier receipt of the list counted for that
 *       replica, and its signature verifies over the receipt bytes of the chunk's
 *       SHA-256 and size (from the manifest); each chunk needs the group's
 *       receipts_needed (default 2f+1) of them.
 *   POLICY_ROTATE   u8 0x42 | name bytes | policy_version u64 | k u32 | m u32 |
 *       m keys [32] | n u32 | n x (keyid [32] | sig [64])
 *       each signature is Ed25519 over PAE("application/vnd.bulwark.rotation", body),
 *       body = "bulwark/rotation/v1" | group u64 | epoch u64 | name bytes |
 *       policy_version u64 | k u32 | m u32 | keys (wire_upd_rotate_signed_bytes);
 *       policy_version is the channel's current policy version + 1 (creation is 1), so
 *       an old rotation cannot be replayed. Accepted with >= old k valid signatures by
 *       old keys and >= new k valid signatures by new keys (TUF root rotation).
 * A policy has 1 <= k <= m <= WIRE_UPD_MAX_KEYS distinct keys.
 *
 * ---- Result (the deterministic part of the REPLY), one layout for every status:
 *   status u8 | reason u8 | a u64 | b u64 | c u64 | hash [32] | text bytes
 * text is a human-readable explanation (<= WIRE_UPD_MAX_TEXT bytes, deterministic).
 * Meaning of the fields per status (unused ones are 0):
 *   OK               a = version (PUBLISH) or policy version (CREATE, ROTATE);
 *                    hash = manifest hash (PUBLISH)
 *   BAD_OP           reason = WIRE_UPD_BAD_* (the op does not decode, or came as a
 *                    read-only request)
 *   NO_CHANNEL       the named channel does not exist
 *   EXISTS           CHANNEL_CREATE of an existing channel; a = its policy version
 *   NOT_ADMIN        the admin signature of CHANNEL_CREATE does not verify
 *   BAD_POLICY       k, m, duplicate keys or name invalid; text says which
 *   BELOW_THRESHOLD  a = have, b = need; reason = WIRE_UPD_POLICY_* (which policy)
 *   BAD_SIGNATURE    like BELOW_THRESHOLD, when some signatures by policy keys did not
 *                    verify: c = how many
 *   ROLLBACK         a = current, b = proposed (manifest or policy version)
 *   EXPIRED          a = manifest expires (s), b = batch time (s) = the pre-prepare's
 *                    time_ms / 1000 rounded down; expires must be above it
 *   EXPIRES_TOO_FAR  a = manifest expires (s), b = latest allowed (s)
 *   MISSING_RECEIPTS a = chunk index (manifest order), b = have, c = need
 *   BAD_MANIFEST     reason = WIRE_UPD_E_* of the manifest decode; text names the field
 *   BAD_ENVELOPE     reason = WIRE_UPD_E_* of the envelope decode; text names the field
 *   RECEIPT_COUNT    a = receipt lists given, b = chunks in the manifest
 *   CHANNEL_MISMATCH the manifest's "channel" is not the channel published to
 * PUBLISH checks, in order: the channel exists; the envelope decodes; the threshold of
 * the channel's policy over the payload; the manifest decodes; its channel is the
 * one named; version above the current one; expires after the batch time and at most
 * the configured maximum after it; one receipt list per chunk; each chunk has enough
 * distinct valid receipts. The first failure is the result.
 *
 * ---- Response document (GET /v1/channels/{name}), JSON object:
 *   "envelope":    the envelope object above
 *   "proof":       { "version": UINT, "index": UINT, "size": UINT, "path": [HEX64...] }
 *                  inclusion of (channel, version, SHA-256(payload)) in index_root
 *   "certificate": { "statement": { "group": STR (decimal u64), "epoch": UINT,
 *                    "seq": UINT, "time_ms": UINT, "expires_ms": UINT,
 *                    "index_root": HEX64, "log_size": UINT, "log_root": HEX64 },
 *                    "signatures": [ { "replica": UINT, "sig": HEX (128 digits) } ] }
 */

#define WIRE_UPD_HASH_LEN 32u
#define WIRE_UPD_KEY_LEN 32u
#define WIRE_UPD_SIG_LEN 64u
#define WIRE_UPD_JSON_INT_MAX ((1ull << 53) - 1)

#define WIRE_UPD_MANIFEST_TYPE "bulwark/manifest/v1"
#define WIRE_UPD_PAYLOAD_TYPE "application/vnd.bulwark.manifest+json"
#define WIRE_UPD_ROTATION_TYPE "application/vnd.bulwark.rotation"
#define WIRE_UPD_STATEMENT_DOMAIN "bulwark/statement/v1"
#define WIRE_UPD_RECEIPT_DOMAIN "bulwark/receipt/v1"
#define WIRE_UPD_CREATE_DOMAIN "bulwark/channel-create/v1"
#define WIRE_UPD_ROTATION_DOMAIN "bulwark/rotation/v1"

#define WIRE_UPD_STATEMENT_LEN (20u + 5u * 8u + 32u + 8u + 32u)
#define WIRE_UPD_RECEIPT_LEN (18u + 8u + 8u + 32u + 8u)

#define WIRE_UPD_DEFAULT_CHUNK (256u * 1024u)
#define WIRE_UPD_MIN_CHUNK 4096u
#define WIRE_UPD_MAX_CHUNK (16u * 1024u * 1024u)
#define WIRE_UPD_MAX_CHANNEL 255u
#define WIRE_UPD_MAX_PATH 1024u
#define WIRE_UPD_MAX_KEYS 32u     /* publisher keys in a policy */
#define WIRE_UPD_MAX_SIGS 64u     /* signatures in an envelope or rotation */
#define WIRE_UPD_MAX_REPLICAS 64u /* signatures in a certificate, receipts per chunk */
#define WIRE_UPD_MAX_TEXT 256u
#define WIRE_UPD_LEAF_MAX (4u + WIRE_UPD_MAX_CHANNEL + 8u + 32u)

/* Operation types and result statuses. */
enum wire_upd_optype {
	WIRE_UPD_CHANNEL_CREATE = 0x40,
	WIRE_UPD_PUBLISH = 0x41,
	WIRE_UPD_POLICY_ROTATE = 0x42
};
/* 1 if an op's first byte names an update-service operation. */
int wire_upd_is_op(uint8_t type);

enum wire_upd_status {
	WIRE_UPD_OK = 0,
	WIRE_UPD_BAD_OP = 1,
	WIRE_UPD_NO_CHANNEL = 2,
	WIRE_UPD_EXISTS = 3,
	WIRE_UPD_NOT_ADMIN = 4,
	WIRE_UPD_BAD_POLICY = 5,
	WIRE_UPD_BELOW_THRESHOLD = 6,
	WIRE_UPD_ROLLBACK = 7,
	WIRE_UPD_EXPIRED = 8,
	WIRE_UPD_EXPIRES_TOO_FAR = 9,
	WIRE_UPD_MISSING_RECEIPTS = 10,
	WIRE_UPD_BAD_MANIFEST = 11,
	WIRE_UPD_BAD_ENVELOPE = 12,
	WIRE_UPD_RECEIPT_COUNT = 13,
	WIRE_UPD_CHANNEL_MISMATCH = 14,
	WIRE_UPD_BAD_SIGNATURE = 15
};
#define WIRE_UPD_STATUS_MAX 15

/* BAD_OP reasons. */
enum wire_upd_bad {
	WIRE_UPD_BAD_TRUNCATED = 1, /* the op ends inside a field */
	WIRE_UPD_BAD_TRAILING = 2,  /* bytes after the last field */
	WIRE_UPD_BAD_TYPE = 3,      /* not an update-service op type */
	WIRE_UPD_BAD_TOO_BIG = 4,   /* a length or count above its limit */
	WIRE_UPD_BAD_READ_ONLY = 5  /* sent as a read-only request */
};

/* BELOW_THRESHOLD reasons: which policy lacks signatures. */
enum wire_upd_policy_which {
	WIRE_UPD_POLICY_CURRENT = 0, /* PUBLISH under the channel's policy */
	WIRE_UPD_POLICY_OLD = 1,     /* ROTATE: the current (old) policy */
	WIRE_UPD_POLICY_NEW = 2      /* ROTATE: the proposed policy */
};

/* Errors of the JSON and binary decoders here (negative; 0 is success). */
enum wire_upd_err {
	WIRE_UPD_E_OK = 0,
	WIRE_UPD_E_ARG = -1,       /* NULL pointer or bad limits */
	WIRE_UPD_E_NOMEM = -2,
	WIRE_UPD_E_JSON = -3,      /* not a JSON document (syntax, encoding, duplicate key) */
	WIRE_UPD_E_TOO_BIG = -4,   /* document, string, array or count above its limit */
	WIRE_UPD_E_FIELD = -5,     /* unknown, missing or wrongly typed field */
	WIRE_UPD_E_VALUE = -6,     /* a value outside its allowed range or form */
	WIRE_UPD_E_ENCODING = -7,  /* bad hex or base64 */
	WIRE_UPD_E_PATH = -8,      /* a file path breaks the path rules, or is repeated */
	WIRE_UPD_E_CHUNKS = -9,    /* chunk count inconsistent with size and chunk_size */
	WIRE_UPD_E_TYPE = -10,     /* "_type" or "payloadType" is not the expected one */
	WIRE_UPD_E_CHANNEL = -11   /* not a valid channel name */
};
const char *wire_upd_strerror(int err);
const char *wire_upd_status_name(uint8_t status);
const char *wire_upd_op_name(uint8_t type);

/* A decoder's explanation: "files[2].chunks[0]: not 64 lower-case hex digits". The text
 * is built only from the input's structure and our own words (never a JSON library's
 * message), so the same bytes give the same text on every replica. */
struct wire_upd_why {
	char text[WIRE_UPD_MAX_TEXT];
};

/* Size limits of decoded documents. */
struct wire_upd_limits {
	uint32_t max_payload;  /* manifest bytes */
	uint32_t max_files;
	uint32_t max_chunks;   /* over all files of one manifest */
	uint32_t max_document; /* envelope or response JSON bytes */
};
/* 1 MiB manifests, 4096 files, 8192 chunks, 1.5 MiB documents (room for a 1 MiB
 * payload in base64 and a certificate; parsing one costs at most ~35 MB of jansson
 * nodes, measured on a hostile array of 786k small integers). */
extern const struct wire_upd_limits wire_upd_limits_default;

/* ---------------------------------------------------------------- manifest */
struct wire_upd_file {
	char *path;                         /* NUL-terminated, owned by the manifest */
	uint64_t size;
	uint8_t sha256[WIRE_UPD_HASH_LEN];
	uint32_t nchunks;
	uint8_t (*chunks)[WIRE_UPD_HASH_LEN]; /* nchunks hashes, owned by the manifest */
};
struct wire_upd_manifest {
	char *channel;                      /* owned */
	uint64_t version, created, expires;
	uint32_t chunk_size;
	uint32_t nfiles;
	struct wire_upd_file *files;        /* owned */
	uint32_t total_chunks;              /* sum of nchunks */
};
/* Decode len bytes of manifest JSON (borrowed) strictly into m (caller-allocated; on
 * success it owns memory: wire_upd_manifest_free; on failure m is zeroed). lim NULL =
 * defaults. why (may be NULL) names the field on failure. */
int wire_upd_manifest_decode(const uint8_t *p, size_t len, const struct wire_upd_limits *lim,
			     struct wire_upd_manifest *m, struct wire_upd_why *why);
void wire_upd_manifest_free(struct wire_upd_manifest *m);
/* Append m's JSON (compact, fields in the order documented) to out. The encoding is
 * not canonical and need not be: signatures cover whatever bytes are published.
 * Returns 0, WIRE_UPD_E_NOMEM, or the error wire_upd_manifest_decode would report for
 * an invalid m (so a publisher cannot sign what replicas would refuse). */
int wire_upd_manifest_encode(const struct wire_upd_manifest *m, struct wire_buf *out);
/* Size of chunk i of a file of size bytes (chunk_size for all but the last). */
uint64_t wire_upd_chunk_len(uint64_t size, uint32_t chunk_size, uint32_t i);
/* Number of chunks of a file (0 for an empty file). */
uint64_t wire_upd_chunk_count(uint64_t size, uint32_t chunk_size);
/* 0 if s (len bytes, borrowed) is a valid channel name, WIRE_UPD_E_CHANNEL otherwise. */
int wire_upd_check_channel(const char *s, size_t len);

/* ---------------------------------------------------------------- envelope */
struct wire_upd_sig {
	uint8_t keyid[WIRE_UPD_HASH_LEN];
	uint8_t sig[WIRE_UPD_SIG_LEN];
};
struct wire_upd_envelope {
	uint8_t *payload;           /* decoded payload, owned */
	size_t payload_len;
	uint32_t nsigs;
	struct wire_upd_sig *sigs;  /* owned */
};
/* Decode an envelope JSON document (borrowed) strictly; the same ownership rules as
 * wire_upd_manifest_decode; free with wire_upd_envelope_free. */
int wire_upd_envelope_decode(const uint8_t *p, size_t len, const struct wire_upd_limits *lim,
			     struct wire_upd_envelope *e, struct wire_upd_why *why);
void wire_upd_envelope_free(struct wire_upd_envelope *e);
/* Append the envelope JSON for payload (borrowed) and sigs to out. 0,
 * WIRE_UPD_E_TOO_BIG (over the default limits, or no signature), WIRE_UPD_E_NOMEM. */
int wire_upd_envelope_encode(const uint8_t *payload, size_t len, const struct wire_upd_sig *sigs,
			     uint32_t nsigs, struct wire_buf *out);
/* keyid = SHA-256(pub). */
void wire_upd_keyid(const uint8_t pub[WIRE_UPD_KEY_LEN], uint8_t keyid[WIRE_UPD_HASH_LEN]);
/* Append PAE(type, body) to out; returns wire_buf_error(out). */
int wire_upd_pae(const char *type, const uint8_t *body, size_t len, struct wire_buf *out);
/* Sign PAE(type, body) with key (borrowed; a publisher's private key): fills sig
 * (keyid and signature). 0, a crypto_err, or WIRE_UPD_E_NOMEM. */
int wire_upd_sign(const struct crypto_ed25519_key *key, const char *type, const uint8_t *body,
		  size_t len, struct wire_upd_sig *sig);

/* The threshold rule over sigs for the policy keys (m distinct keys, borrowed) and
 * body signed under type. *have = distinct keys with a verifying signature; *bad =
 * signatures with a policy keyid that did not verify. Returns 0 if *have >= k, 1 if
 * not, WIRE_UPD_E_NOMEM. */
int wire_upd_threshold(const char *type, const uint8_t *body, size_t len,
		       const struct wire_upd_sig *sigs, uint32_t nsigs,
		       const uint8_t (*keys)[WIRE_UPD_KEY_LEN], uint32_t m, uint32_t k,
		       uint32_t *have, uint32_t *bad);

/* ---------------------------------------------------------------- index, statement, receipt */
/* Leaf data of (name, version, hash) into out (WIRE_UPD_LEAF_MAX bytes); returns its
 * length, 0 if namelen is above WIRE_UPD_MAX_CHANNEL. */
size_t wire_upd_leaf(const char *name, size_t namelen, uint64_t version,
		     const uint8_t hash[WIRE_UPD_HASH_LEN], uint8_t out[WIRE_UPD_LEAF_MAX]);
/* crypto_merkle_leaf of that leaf data; 0 or WIRE_UPD_E_CHANNEL. */
int wire_upd_leaf_hash(const char *name, size_t namelen, uint64_t version,
		       const uint8_t hash[WIRE_UPD_HASH_LEN], uint8_t out[WIRE_UPD_HASH_LEN]);

struct wire_upd_statement {
	uint64_t group, epoch, seq, time_ms, expires_ms;
	uint8_t index_root[WIRE_UPD_HASH_LEN];
	uint64_t log_size;
	uint8_t log_root[WIRE_UPD_HASH_LEN];
};
void wire_upd_statement_encode(const struct wire_upd_statement *s,
			       uint8_t out[WIRE_UPD_STATEMENT_LEN]);
/* 0, or WIRE_ERR_FIELD if the domain string is not there. */
int wire_upd_statement_decode(const uint8_t in[WIRE_UPD_STATEMENT_LEN],
			      struct wire_upd_statement *s);

void wire_upd_receipt_bytes(uint64_t group, uint64_t epoch, const uint8_t sha256[WIRE_UPD_HASH_LEN],
			    uint64_t size, uint8_t out[WIRE_UPD_RECEIPT_LEN]);

/* ---------------------------------------------------------------- certificate, response */
struct wire_upd_cert_sig {
	uint32_t replica;
	uint8_t sig[WIRE_UPD_SIG_LEN];
};
struct wire_upd_cert {
	struct wire_upd_statement st;
	uint32_t nsigs;                                  /* <= WIRE_UPD_MAX_REPLICAS */
	struct wire_upd_cert_sig sigs[WIRE_UPD_MAX_REPLICAS];
};
/* Distinct replicas whose signature over st verifies under keys[replica] (n keys,
 * borrowed); signatures by ids >= n are ignored. */
uint32_t wire_upd_cert_count(const struct wire_upd_cert *c, const uint8_t (*keys)[WIRE_UPD_KEY_LEN],
			     uint32_t n);

struct wire_upd_proof {
	uint64_t version;                                 /* manifest version of the leaf */
	uint64_t index, size;
	uint32_t pathlen;                                 /* <= CRYPTO_MERKLE_MAX_PATH */
	uint8_t path[CRYPTO_MERKLE_MAX_PATH][WIRE_UPD_HASH_LEN];
};
struct wire_upd_response {
	struct wire_upd_envelope env;                     /* owned */
	struct wire_upd_proof proof;
	struct wire_upd_cert cert;
};
/* Append the response document to out; env_json is the envelope JSON (borrowed) as
 * stored by the replica. 0, WIRE_UPD_E_JSON (env_json is not an envelope),
 * WIRE_UPD_E_TOO_BIG (pathlen or nsigs above their bounds), WIRE_UPD_E_NOMEM. */
int wire_upd_response_encode(const uint8_t *env_json, size_t env_len,
			     const struct wire_upd_proof *proof, const struct wire_upd_cert *cert,
			     struct wire_buf *out);
/* Decode a response document strictly (the envelope with wire_upd_envelope_decode's
 * rules); on success r->env owns memory: wire_upd_response_free. */
int wire_upd_response_decode(const uint8_t *p, size_t len, const struct wire_upd_limits *lim,
			     struct wire_upd_response *r, struct wire_upd_why *why);
void wire_upd_response_free(struct wire_upd_response *r);

/* ---------------------------------------------------------------- operations */
struct wire_upd_policy {
	uint32_t k, m;
	const uint8_t *keys;        /* m * 32 bytes, borrowed */
};
struct wire_upd_op {
	uint8_t type;                       /* enum wire_upd_optype */
	struct wire_bytes name;             /* all three */
	struct wire_upd_policy policy;      /* CREATE, ROTATE: the new policy */
	uint64_t policy_version;            /* ROTATE */
	const uint8_t *admin_sig;           /* CREATE: 64 bytes, borrowed */
	struct wire_bytes envelope;         /* PUBLISH: envelope JSON */
	uint32_t nreceipts;                 /* PUBLISH: receipt lists */
	struct wire_bytes receipts;         /* PUBLISH: the lists, validated; wire_upd_next_receipts */
	uint32_t nsigs;                     /* ROTATE */
	const uint8_t *sigs;                /* ROTATE: nsigs * (32 + 64) bytes, borrowed */
};
/* Decode an op strictly; every pointer borrows p. Limits: name <= WIRE_UPD_MAX_CHANNEL,
 * m <= WIRE_UPD_MAX_KEYS, envelope <= lim->max_document, receipt lists <=
 * lim->max_chunks, receipts per list <= WIRE_UPD_MAX_REPLICAS, rotation signatures <=
 * WIRE_UPD_MAX_SIGS (above: WIRE_ERR_TOO_BIG). Returns 0 or a wire_err
 * (WIRE_ERR_TRUNCATED, WIRE_ERR_TRAILING, WIRE_ERR_TYPE, WIRE_ERR_TOO_BIG). */
int wire_upd_decode_op(const uint8_t *p, size_t len, const struct wire_upd_limits *lim,
		       struct wire_upd_op *op);
/* Append op's encoding; receipts/sigs are copied as given (build receipt lists with
 * wire_upd_put_receipts). 0, WIRE_ERR_TYPE, or the buffer's error. */
int wire_upd_encode_op(struct wire_buf *b, const struct wire_upd_op *op);
/* Append one receipt list (n pairs) to b. */
void wire_upd_put_receipts(struct wire_buf *b, const struct wire_upd_cert_sig *r, uint32_t n);
/* Iterate the validated receipt lists of a decoded PUBLISH: each call gives one list's
 * count and its pairs (nth pair at pairs + i * 68: replica u32 LE, sig [64]). */
struct wire_upd_riter {
	const uint8_t *p, *end;
};
void wire_upd_riter_init(struct wire_upd_riter *it, const struct wire_upd_op *op);
int wire_upd_next_receipts(struct wire_upd_riter *it, uint32_t *n, const uint8_t **pairs);
void wire_upd_receipt_pair(const uint8_t *pairs, uint32_t i, struct wire_upd_cert_sig *out);

/* Signed bytes of a CHANNEL_CREATE / POLICY_ROTATE (op decoded or to be encoded). */
int wire_upd_create_signed_bytes(uint64_t group, uint64_t epoch, const struct wire_upd_op *op,
				 struct wire_buf *out);
int wire_upd_rotate_signed_bytes(uint64_t group, uint64_t epoch, const struct wire_upd_op *op,
				 struct wire_buf *out);

struct wire_upd_result {
	uint8_t status;                     /* enum wire_upd_status */
	uint8_t reason;
	uint64_t a, b, c;
	uint8_t hash[WIRE_UPD_HASH_LEN];
	struct wire_bytes text;             /* borrowed */
};
int wire_upd_encode_result(struct wire_buf *b, const struct wire_upd_result *r);
/* Strict: known status, text <= WIRE_UPD_MAX_TEXT, no trailing bytes. text borrows p. */
int wire_upd_decode_result(const uint8_t *p, size_t len, struct wire_upd_result *r);

/* ---------------------------------------------------------------- encodings */
/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void wire_upd_hex(const uint8_t *in, size_t n, char *out);
/* Exactly 2n lower-case hex digits in s (slen bytes) into out; 0 or WIRE_UPD_E_ENCODING. */
int wire_upd_unhex(const char *s, size_t slen, uint8_t *out, size_t n);

#endif
