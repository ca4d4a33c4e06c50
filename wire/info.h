/* info.h: the replica info query (INFO_REQ) and its answer (INFO): a replica's view,
 * primary, progress and checkpoint digest, answered directly by bulwarkd without
 * ordering, for `bulwark status`, tests and the demo. Pure: no I/O. */
#ifndef BULWARK_WIRE_INFO_H
#define BULWARK_WIRE_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

/*
 * Both messages start with the common header (wire.h, WIRE_HDR_LEN bytes).
 *
 *   INFO_REQ (type 192)  sender = WIRE_SENDER_CLIENT, empty body
 *   INFO     (type 193)  sender = the replica id, body (little-endian):
 *       replica u32, view u64, primary u32, flags u32 (WIRE_INFO_*),
 *       low_watermark u64, last_executed u64, last_committed u64, dropped u64,
 *       checkpoint_digest [32], uptime_ms u64
 *
 * Neither is authenticated beyond the channel it arrives on (net/ sessions are
 * authenticated); INFO is a report, not a certificate.
 */
enum wire_info_type {
	WIRE_INFO_REQ = 192,
	WIRE_INFO = 193
};

#define WIRE_INFO_VIEW_ACTIVE 0x1u  /* the replica is working in `view` (not changing views) */
#define WIRE_INFO_TRANSFERRING 0x2u /* the replica is fetching state from its peers */
#define WIRE_INFO_FLAGS_ALL (WIRE_INFO_VIEW_ACTIVE | WIRE_INFO_TRANSFERRING)

#define WIRE_INFO_BODY_LEN (4u + 8u + 4u + 4u + 8u + 8u + 8u + 8u + WIRE_DIGEST_LEN + 8u)

struct wire_info {
	uint32_t replica;
	uint64_t view;
	uint32_t primary;
	uint32_t flags;                               /* WIRE_INFO_* */
	uint64_t low_watermark;                       /* last stable checkpoint */
	uint64_t last_executed;
	uint64_t last_committed;
	uint64_t dropped;                             /* messages the replica dropped */
	uint8_t checkpoint_digest[WIRE_DIGEST_LEN];   /* state digest at low_watermark; zeros if none */
	uint64_t uptime_ms;
};

/* Append an INFO_REQ (hdr->type and hdr->sender are ignored: written as WIRE_INFO_REQ
 * and WIRE_SENDER_CLIENT; version as WIRE_VERSION, flags 0). Returns 0 or b's sticky
 * error. hdr is borrowed. */
int wire_info_req_encode(struct wire_buf *b, const struct wire_hdr *hdr);
/* Decode an INFO_REQ strictly (header valid, type WIRE_INFO_REQ, sender
 * WIRE_SENDER_CLIENT, empty body). Returns 0, a header error, WIRE_ERR_TYPE,
 * WIRE_ERR_FIELD (sender) or WIRE_ERR_TRAILING. */
int wire_info_req_decode(const uint8_t *buf, size_t len, struct wire_hdr *hdr);

/* Append an INFO (hdr->type ignored: written as WIRE_INFO; version WIRE_VERSION, flags 0;
 * hdr->sender is written as given and should equal info->replica). Returns 0,
 * WIRE_ERR_FLAGS (bits outside WIRE_INFO_FLAGS_ALL, nothing appended) or b's sticky
 * error. hdr and info are borrowed. */
int wire_info_encode(struct wire_buf *b, const struct wire_hdr *hdr, const struct wire_info *info);
/* Decode an INFO strictly: header valid, type WIRE_INFO, sender == replica, no unknown
 * flag bits, exactly WIRE_INFO_BODY_LEN body bytes. Returns 0, or a header error,
 * WIRE_ERR_TYPE, WIRE_ERR_TRUNCATED, WIRE_ERR_TRAILING, WIRE_ERR_FLAGS or
 * WIRE_ERR_FIELD (sender mismatch), with *hdr and *info zeroed. Never allocates. */
int wire_info_decode(const uint8_t *buf, size_t len, struct wire_hdr *hdr, struct wire_info *info);

#endif
