/* chunk.h: the update service's unordered messages on the authenticated connections:
 * chunk upload with its signed receipt, chunk fetch between replicas, and the freshness
 * statements replicas exchange to build certificates. Pure encoding, no I/O. */
#ifndef BULWARK_WIRE_CHUNK_H
#define BULWARK_WIRE_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "wire/upd.h"
#include "wire/wire.h"

/*
 * Types from the 64..127 range of wire.h. Every message is the common header
 * (wire.h: version, type, flags 0, sender, group, epoch) and a body; nothing may follow
 * the last field. Integers little-endian.
 *
 *   CHUNK_PUT (64)     sha256 [32] | data bytes (u32 len, 0..WIRE_CHUNK_HARD_MAX)
 *       client -> replica: store this chunk and sign a receipt; replica -> replica: the
 *       answer to a CHUNK_GET (no receipt is sent back).
 *   CHUNK_RECEIPT (65) sha256 [32] | size u64 | replica u32 | status u32 | sig [64]
 *       replica -> client, one per CHUNK_PUT, in order. status 0: stored (or already
 *       held), sig = Ed25519 over the receipt bytes of wire/upd.h (sha256, size);
 *       otherwise an enum wire_chunk_status, size = bytes received, sig zero.
 *   STATEMENT (66)     statement [WIRE_UPD_STATEMENT_LEN] | replica u32 | sig [64]
 *       replica -> replicas: its signature over the statement (wire/upd.h); replica
 *       must equal the header's sender.
 *   CHUNK_GET (67)     sha256 [32]
 *       replica -> replica: send me this chunk (answered by CHUNK_PUT if held).
 */
enum wire_chunk_type {
	WIRE_CHUNK_PUT = 64,
	WIRE_CHUNK_RECEIPT = 65,
	WIRE_STATEMENT = 66,
	WIRE_CHUNK_GET = 67
};

/* Receipt statuses: why a chunk was not stored. */
enum wire_chunk_status {
	WIRE_CHUNK_OK = 0,
	WIRE_CHUNK_HASH_MISMATCH = 1, /* the bytes do not hash to the sha256 given */
	WIRE_CHUNK_TOO_BIG = 2,       /* above the replica's chunk limit */
	WIRE_CHUNK_NOT_AUTHORIZED = 3,/* the client key is neither the admin's nor a publisher's */
	WIRE_CHUNK_STORAGE = 4,       /* the replica could not store it */
	WIRE_CHUNK_MALFORMED = 5      /* the CHUNK_PUT did not decode */
};
#define WIRE_CHUNK_STATUS_MAX 5u
/* Human-readable name of a status ("hash mismatch", ...); never NULL. */
const char *wire_chunk_status_name(uint32_t status);

#define WIRE_CHUNK_DEFAULT_MAX (256u * 1024u) /* a replica's default chunk limit */
#define WIRE_CHUNK_HARD_MAX (1024u * 1024u)   /* no replica accepts more */
#define WIRE_CHUNK_PUT_OVERHEAD (WIRE_HDR_LEN + 32u + 4u)
#define WIRE_CHUNK_RECEIPT_LEN (WIRE_HDR_LEN + 32u + 8u + 4u + 4u + 64u)
#define WIRE_STATEMENT_MSG_LEN (WIRE_HDR_LEN + WIRE_UPD_STATEMENT_LEN + 4u + 64u)
#define WIRE_CHUNK_GET_LEN (WIRE_HDR_LEN + 32u)

struct wire_chunk_put {
	uint8_t sha256[WIRE_UPD_HASH_LEN];
	struct wire_bytes data;            /* borrowed from the decoded buffer */
};
struct wire_chunk_receipt {
	uint8_t sha256[WIRE_UPD_HASH_LEN];
	uint64_t size;
	uint32_t replica;
	uint32_t status;                   /* enum wire_chunk_status */
	uint8_t sig[WIRE_UPD_SIG_LEN];
};
struct wire_statement_msg {
	struct wire_upd_statement st;
	uint8_t raw[WIRE_UPD_STATEMENT_LEN]; /* the signed bytes as received */
	uint32_t replica;
	uint8_t sig[WIRE_UPD_SIG_LEN];
};

/* Encoders append one whole message (header h, its type set here) to b; they return
 * wire_buf_error(b), or WIRE_ERR_TOO_BIG for data above WIRE_CHUNK_HARD_MAX. */
int wire_chunk_put_encode(struct wire_buf *b, const struct wire_hdr *h,
			  const struct wire_chunk_put *m);
int wire_chunk_receipt_encode(struct wire_buf *b, const struct wire_hdr *h,
			      const struct wire_chunk_receipt *m);
int wire_statement_encode(struct wire_buf *b, const struct wire_hdr *h,
			  const struct wire_statement_msg *m); /* m->raw is ignored */
int wire_chunk_get_encode(struct wire_buf *b, const struct wire_hdr *h,
			  const uint8_t sha256[WIRE_UPD_HASH_LEN]);

/* Decoders of one whole message (buf borrowed; the header into h): strict, as wire.h.
 * Return 0, WIRE_ERR_TYPE (another type), WIRE_ERR_TRUNCATED, WIRE_ERR_TRAILING,
 * WIRE_ERR_TOO_BIG (data above max, which is at most WIRE_CHUNK_HARD_MAX),
 * WIRE_ERR_FIELD (a receipt status above WIRE_CHUNK_STATUS_MAX, a statement without its
 * domain string or whose replica is not the sender), or a header error. */
int wire_chunk_put_decode(const uint8_t *buf, size_t len, uint32_t max, struct wire_hdr *h,
			  struct wire_chunk_put *m);
int wire_chunk_receipt_decode(const uint8_t *buf, size_t len, struct wire_hdr *h,
			      struct wire_chunk_receipt *m);
int wire_statement_decode(const uint8_t *buf, size_t len, struct wire_hdr *h,
			  struct wire_statement_msg *m);
int wire_chunk_get_decode(const uint8_t *buf, size_t len, struct wire_hdr *h,
			  uint8_t sha256[WIRE_UPD_HASH_LEN]);

#endif
