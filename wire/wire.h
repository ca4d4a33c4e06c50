/* wire.h: bulwark's canonical binary encoding: message types, strict zero-copy decoding,
 * encoding into growable buffers, and the request/batch digests. Pure: no I/O, no clock. */
#ifndef BULWARK_WIRE_H
#define BULWARK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_VERSION 1u
#define WIRE_HDR_LEN 24u       /* version u8, type u8, flags u16, sender u32, group u64, epoch u64 */
#define WIRE_DIGEST_LEN 32u
#define WIRE_KEY_LEN 32u       /* Ed25519 public key: a client's identity */
#define WIRE_SIG_LEN 64u       /* Ed25519 signature */
#define WIRE_TAG_LEN 16u       /* one MAC tag of a request authenticator */
#define WIRE_SENDER_CLIENT 0xffffffffu /* header sender of a message from a client */
#define WIRE_MAX_LANES 4096u   /* default wire_limits.max_lanes */

/* Message types. 1..31 PBFT, 32..63 reserved for net/, 64..127 the update service,
 * 128..191 credit and dissemination. wire_decode() knows the PBFT set; later modules
 * decode their own bodies with the cursor functions below after wire_decode_hdr(). */
enum wire_type {
	WIRE_REQUEST = 1,
	WIRE_REPLY = 2,
	WIRE_PREPREPARE = 3,
	WIRE_PREPARE = 4,
	WIRE_COMMIT = 5,
	WIRE_CHECKPOINT = 6,
	WIRE_VIEWCHANGE = 7,
	WIRE_NEWVIEW = 8,
	WIRE_STATUS = 9,
	WIRE_FETCH = 10,
	WIRE_META = 11,
	WIRE_DATA = 12,
	WIRE_PBFT_MAX = 31
};

enum wire_err {
	WIRE_OK = 0,
	WIRE_ERR_TRUNCATED = -1, /* input ends inside a field */
	WIRE_ERR_TRAILING = -2,  /* bytes left after the last field */
	WIRE_ERR_VERSION = -3,   /* unsupported version */
	WIRE_ERR_TYPE = -4,      /* unknown message type */
	WIRE_ERR_TOO_BIG = -5,   /* a length or count above its limit */
	WIRE_ERR_FLAGS = -6,     /* reserved flag bits set */
	WIRE_ERR_FIELD = -7,     /* a field holds a forbidden value */
	WIRE_ERR_NOMEM = -8      /* could not grow a buffer or get a hashing context */
};
const char *wire_strerror(int err);

/* A borrowed view into someone else's bytes. */
struct wire_bytes {
	const uint8_t *p;
	uint32_t len;
};

/* Decoding limits: every length and count is checked against these before use. */
struct wire_limits {
	uint32_t max_message;     /* whole encoded message */
	uint32_t max_op;          /* request operation bytes */
	uint32_t max_auth;        /* request authenticator bytes */
	uint32_t max_result;      /* reply result bytes (and extra bytes) */
	uint32_t max_batch_count; /* requests in one batch */
	uint32_t max_batch_bytes; /* encoded requests of one batch */
	uint32_t max_replicas;    /* proof entries, view changes in a NEW-VIEW */
	uint32_t max_log;         /* P/Q entries in a VIEW-CHANGE, entries in a NEW-VIEW */
	uint32_t max_children;    /* digests in a META */
	uint32_t max_key;         /* state key bytes in DATA / FETCH */
	uint32_t max_value;       /* state value bytes in DATA */
	uint32_t max_entries;     /* entries in one DATA page */
	uint32_t max_lanes;       /* a request's lane must be below this */
};
/* Defaults sized for n <= 64 and the default config (see docs/PROTOCOL.md). */
extern const struct wire_limits wire_limits_default;

/* ---------------------------------------------------------------- messages */
struct wire_hdr {
	uint8_t version;
	uint8_t type;
	uint16_t flags;  /* reserved, must be 0 */
	uint32_t sender; /* replica id, or WIRE_SENDER_CLIENT */
	uint64_t group;
	uint64_t epoch;  /* ring epoch */
};

#define WIRE_REQ_READ_ONLY 0x1u
/* Read-only only: replicas other than the designated replier (flag bits 8..15, a replica
 * id) answer with the result's digest (wire_result_digest) instead of a result of
 * WIRE_REPLY_DIGEST_MIN bytes or more: one full result crosses the network, not n. */
#define WIRE_REQ_DIGEST_REPLIES 0x2u
#define WIRE_REQ_REPLIER_SHIFT 8u
#define WIRE_REQ_REPLIER_MASK 0xff00u
#define WIRE_REQ_REPLIER(flags) (((flags) & WIRE_REQ_REPLIER_MASK) >> WIRE_REQ_REPLIER_SHIFT)
/* 1 if a request's flags are valid: known bits only; digest replies for read-only
 * requests only, and a designated replier only with them (one encoding per meaning). */
int wire_req_flags_ok(uint32_t flags);
struct wire_request {
	uint8_t client[WIRE_KEY_LEN]; /* client's Ed25519 public key */
	uint32_t lane;                /* one of the key's independent request streams: the
				       * exactly-once identity is (client, lane) */
	uint64_t timestamp;           /* per (client, lane), strictly increasing */
	uint32_t flags;               /* WIRE_REQ_* */
	struct wire_bytes op;         /* the operation, opaque to PBFT */
	struct wire_bytes auth;       /* n MAC tags (replica order) or one Ed25519 signature */
};

/* A batch: the primary's timestamp and count requests, each encoded as
 * u32 length + request body. The same encoding appears in PRE-PREPARE and VIEW-CHANGE. */
struct wire_batch {
	uint64_t time;  /* primary's wall clock, ms since the Unix epoch; 0 in a null batch */
	uint32_t count;
	struct wire_bytes reqs; /* count encoded requests, validated at decode */
};

#define WIRE_REPLY_READ_ONLY 0x1u
#define WIRE_REPLY_DIGEST 0x2u      /* result is wire_result_digest of the result (32 bytes) */
#define WIRE_REPLY_DIGEST_MIN 33u   /* shorter results are always sent whole */
struct wire_reply {
	uint64_t view;
	uint64_t timestamp;
	uint8_t client[WIRE_KEY_LEN];
	uint32_t lane;
	uint32_t flags;
	struct wire_bytes result; /* deterministic part, matched across replicas */
	struct wire_bytes extra;  /* replica-specific part, not matched */
};

struct wire_preprepare {
	uint64_t view;
	uint64_t seq;
	uint8_t digest[WIRE_DIGEST_LEN]; /* wire_batch_digest(batch), checked at decode */
	struct wire_batch batch;
};

struct wire_prepare { /* also COMMIT */
	uint64_t view;
	uint64_t seq;
	uint8_t digest[WIRE_DIGEST_LEN];
};

struct wire_checkpoint {
	uint64_t seq;
	uint8_t digest[WIRE_DIGEST_LEN]; /* state digest after executing seq */
	uint8_t sig[WIRE_SIG_LEN];        /* over the encoding before this field */
};

/* List items of a VIEW-CHANGE. Lists are stored encoded (count + bytes) and read with
 * the iterators below; encoders build them with wire_put_* item functions. */
struct wire_proof_item {            /* one signed CHECKPOINT, reconstructible */
	uint32_t replica;
	uint8_t sig[WIRE_SIG_LEN];
};
struct wire_pitem {                 /* prepared: (seq, view, digest) and its batch */
	uint64_t seq;
	uint64_t view;
	uint8_t digest[WIRE_DIGEST_LEN];
	struct wire_batch batch;        /* digest checked at decode */
};
struct wire_qitem {                 /* pre-prepared: (seq, view, digest) */
	uint64_t seq;
	uint64_t view;
	uint8_t digest[WIRE_DIGEST_LEN];
};
struct wire_list {
	uint32_t count;
	struct wire_bytes bytes;
};

struct wire_viewchange {
	uint64_t new_view;
	uint64_t stable_seq;                       /* h: last stable checkpoint */
	uint8_t stable_digest[WIRE_DIGEST_LEN];
	struct wire_list proof;                    /* wire_proof_item: 2f+1 CHECKPOINT sigs (empty when h = 0) */
	struct wire_list p;                        /* wire_pitem */
	struct wire_list q;                        /* wire_qitem */
	uint8_t sig[WIRE_SIG_LEN];
};

struct wire_nvitem {                           /* the new primary's decision for one seq */
	uint64_t seq;
	uint8_t digest[WIRE_DIGEST_LEN];           /* wire_null_digest for a null request */
};
struct wire_newview {
	uint64_t view;
	struct wire_list vcs;                      /* count VIEW-CHANGE messages, each u32 len + full encoding */
	uint64_t min_s;                            /* chosen stable checkpoint */
	uint8_t min_digest[WIRE_DIGEST_LEN];
	struct wire_list items;                    /* wire_nvitem for min_s+1 .. max_s */
	uint8_t sig[WIRE_SIG_LEN];
};

#define WIRE_STATUS_VIEW_CHANGE 0x1u           /* sender is changing views (view = the target) */
struct wire_status {
	uint64_t view;
	uint64_t stable_seq;
	uint64_t last_executed;
	uint64_t last_committed;
	uint32_t flags;
};

/* State transfer over the partition tree (level 0 = root, leaves = partitions). */
struct wire_fetch {
	uint64_t ckpt_seq;              /* checkpoint whose state is wanted */
	uint32_t level;
	uint64_t index;
	struct wire_bytes start_key;    /* DATA page continuation (leaf level), else empty */
};
struct wire_meta {
	uint64_t ckpt_seq;
	uint32_t level;
	uint64_t index;
	struct wire_list children;      /* count digests of WIRE_DIGEST_LEN */
};
struct wire_data_item {
	struct wire_bytes key;
	struct wire_bytes value;
};
#define WIRE_DATA_MORE 0x1u
struct wire_data {
	uint64_t ckpt_seq;
	uint64_t partition;
	uint32_t flags;                 /* WIRE_DATA_MORE: another page follows */
	struct wire_list entries;       /* wire_data_item: key bytes, value bytes */
};

/* A decoded message. Every wire_bytes points into the decoded buffer (borrowed: valid
 * while that buffer is). */
struct wire_msg {
	struct wire_hdr hdr;
	union {
		struct wire_request request;
		struct wire_reply reply;
		struct wire_preprepare preprepare;
		struct wire_prepare prepare; /* PREPARE and COMMIT */
		struct wire_checkpoint checkpoint;
		struct wire_viewchange viewchange;
		struct wire_newview newview;
		struct wire_status status;
		struct wire_fetch fetch;
		struct wire_meta meta;
		struct wire_data data;
	} u;
	struct wire_bytes raw;    /* the whole message */
	struct wire_bytes signed_part; /* signed types: raw without the trailing signature;
					* other types: empty (NULL, 0) */
};

/* Decode one whole message. Strict: version, type, reserved bits, every length against
 * lim (NULL = defaults) before it is used, nested batches and lists fully validated,
 * batch digests recomputed and compared, no trailing bytes. Never allocates (hashing
 * borrows an OpenSSL context: WIRE_ERR_NOMEM if even that fails). Returns 0, or the
 * first error met reading front to back, with *out zeroed. */
int wire_decode(const uint8_t *buf, size_t len, const struct wire_limits *lim, struct wire_msg *out);
/* As wire_decode; for a PRE-PREPARE it also keeps the digest of each request of its
 * batch, which checking the batch digest computes anyway, in digests[0..count) (batch
 * order), so that whoever checks the requests' authenticators need not hash them again.
 * *ndigests is the batch's count when they were kept: 0 for other types, on error, or
 * when the count is above max. */
int wire_decode_digests(const uint8_t *buf, size_t len, const struct wire_limits *lim,
			struct wire_msg *out, uint8_t (*digests)[WIRE_DIGEST_LEN], uint32_t max,
			uint32_t *ndigests);
/* Only the common header (for types decoded elsewhere); *body is what follows it. */
int wire_decode_hdr(const uint8_t *buf, size_t len, struct wire_hdr *hdr, struct wire_bytes *body);

/* ---------------------------------------------------------------- iterators */
/* Iterators over validated lists cannot fail: they return 1 with the next item, 0 at end.
 * Items borrow the list's bytes. Over bytes that were never validated they still read
 * nothing outside the list and end at the first item that does not parse. */
struct wire_iter {
	const uint8_t *p, *end;
	uint32_t left;
};
void wire_iter_init(struct wire_iter *it, const struct wire_list *l);
void wire_iter_batch(struct wire_iter *it, const struct wire_batch *b);
int wire_next_request(struct wire_iter *it, struct wire_request *out);
int wire_next_proof(struct wire_iter *it, struct wire_proof_item *out);
int wire_next_pitem(struct wire_iter *it, struct wire_pitem *out);
int wire_next_qitem(struct wire_iter *it, struct wire_qitem *out);
int wire_next_nvitem(struct wire_iter *it, struct wire_nvitem *out);
int wire_next_vc(struct wire_iter *it, struct wire_bytes *encoded_viewchange);
int wire_next_child(struct wire_iter *it, const uint8_t **digest);
int wire_next_data(struct wire_iter *it, struct wire_data_item *out);

/* ---------------------------------------------------------------- encoding */
/* A growable output buffer. Errors are sticky: after a failed allocation every put is a
 * no-op and wire_buf_error() returns WIRE_ERR_NOMEM (WIRE_ERR_TOO_BIG if an item's length
 * did not fit its u32 prefix), so callers check once at the end. */
struct wire_buf {
	uint8_t *p;
	size_t len, cap;
	int err;
};
void wire_buf_init(struct wire_buf *b);
void wire_buf_free(struct wire_buf *b);
void wire_buf_reset(struct wire_buf *b); /* len = 0, keeps capacity, clears err */
int wire_buf_error(const struct wire_buf *b);

/* Encode m (header from m->hdr; raw/signed_part ignored) appended to b. Signed types
 * take the signature from the struct; to sign, encode with any sig, sign the bytes
 * from the message start to b->len - WIRE_SIG_LEN, then wire_patch_sig().
 * The version written is WIRE_VERSION and the header flags 0 (m->hdr.version and
 * m->hdr.flags are ignored). Lists and batches are copied as given (build them with
 * the wire_put_* item functions). Returns 0; WIRE_ERR_TYPE (not a PBFT type),
 * WIRE_ERR_FLAGS (reserved bits in the body's flags), WIRE_ERR_TOO_BIG (over 4 GiB)
 * with nothing appended; or b's sticky error. */
int wire_encode(struct wire_buf *b, const struct wire_msg *m);
void wire_patch_sig(struct wire_buf *b, const uint8_t sig[WIRE_SIG_LEN]);

/* Build list and batch contents (appended to b, which then becomes the list's bytes). */
void wire_put_request(struct wire_buf *b, const struct wire_request *r); /* u32 len + body */
void wire_put_proof(struct wire_buf *b, const struct wire_proof_item *it);
void wire_put_pitem(struct wire_buf *b, const struct wire_pitem *it);
void wire_put_qitem(struct wire_buf *b, const struct wire_qitem *it);
void wire_put_nvitem(struct wire_buf *b, const struct wire_nvitem *it);
void wire_put_vc(struct wire_buf *b, const uint8_t *encoded, size_t len); /* u32 len + bytes */
void wire_put_child(struct wire_buf *b, const uint8_t digest[WIRE_DIGEST_LEN]);
void wire_put_data(struct wire_buf *b, const struct wire_data_item *it);

/* Low-level cursor, for modules that define their own message bodies. */
struct wire_cursor {
	const uint8_t *p, *end;
	int err; /* sticky: first error, further gets return zeros */
};
void wire_cursor_init(struct wire_cursor *c, const uint8_t *p, size_t len);
uint8_t wire_get_u8(struct wire_cursor *c);
uint16_t wire_get_u16(struct wire_cursor *c);
uint32_t wire_get_u32(struct wire_cursor *c);
uint64_t wire_get_u64(struct wire_cursor *c);
void wire_get_fixed(struct wire_cursor *c, void *out, size_t n);
/* u32 length-prefixed bytes; WIRE_ERR_TOO_BIG above max (checked before anything else). */
struct wire_bytes wire_get_bytes(struct wire_cursor *c, uint32_t max);
/* 0 if the cursor is error-free and at its end, else the error (WIRE_ERR_TRAILING). */
int wire_cursor_end(const struct wire_cursor *c);

void wire_put_u8(struct wire_buf *b, uint8_t v);
void wire_put_u16(struct wire_buf *b, uint16_t v);
void wire_put_u32(struct wire_buf *b, uint32_t v);
void wire_put_u64(struct wire_buf *b, uint64_t v);
void wire_put_fixed(struct wire_buf *b, const void *p, size_t n);
void wire_put_bytes(struct wire_buf *b, const void *p, uint32_t n); /* u32 len + bytes */
void wire_put_hdr(struct wire_buf *b, const struct wire_hdr *h);

/* ---------------------------------------------------------------- digests */
/* SHA-256 over a domain string, group, epoch and the request's fields except auth:
 * what authenticators (MAC tags, signatures) cover and what batches are made of.
 * Like crypto_sha256, the digests cannot fail: should OpenSSL be unable to allocate a
 * context, out is all zero, which matches no real digest. Preimages: docs/PROTOCOL.md. */
void wire_request_digest(uint64_t group, uint64_t epoch, const struct wire_request *r,
			 uint8_t out[WIRE_DIGEST_LEN]);
/* SHA-256 over a domain string, the batch time, count and each request's digest. */
void wire_batch_digest(uint64_t group, uint64_t epoch, const struct wire_batch *b,
		       uint8_t out[WIRE_DIGEST_LEN]);
/* The same from the request digests already known (count of them, batch order). */
void wire_batch_digest_of(uint64_t group, uint64_t epoch, uint64_t time, uint32_t count,
			  const uint8_t (*req_digests)[WIRE_DIGEST_LEN], uint8_t out[WIRE_DIGEST_LEN]);
/* The digest of the null request (empty batch, time 0) that fills gaps in a new view. */
void wire_null_digest(uint64_t group, uint64_t epoch, uint8_t out[WIRE_DIGEST_LEN]);
/* SHA-256 over a domain string and a reply's result: what a digest reply carries. */
void wire_result_digest(const uint8_t *result, size_t len, uint8_t out[WIRE_DIGEST_LEN]);

const char *wire_type_name(uint8_t type);

#endif
