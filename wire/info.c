/* info.c: encoding and strict decoding of the replica info query and answer (wire/info.h). */
#include "wire/info.h"

#include <string.h>

int wire_info_req_encode(struct wire_buf *b, const struct wire_hdr *hdr)
{
	struct wire_hdr h = *hdr;

	h.version = WIRE_VERSION;
	h.type = WIRE_INFO_REQ;
	h.flags = 0;
	h.sender = WIRE_SENDER_CLIENT;
	wire_put_hdr(b, &h);
	return wire_buf_error(b);
}

int wire_info_req_decode(const uint8_t *buf, size_t len, struct wire_hdr *hdr)
{
	struct wire_bytes body;
	int err = wire_decode_hdr(buf, len, hdr, &body);

	if (err == 0 && hdr->type != WIRE_INFO_REQ)
		err = WIRE_ERR_TYPE;
	if (err == 0 && hdr->sender != WIRE_SENDER_CLIENT)
		err = WIRE_ERR_FIELD;
	if (err == 0 && body.len != 0)
		err = WIRE_ERR_TRAILING;
	if (err != 0)
		memset(hdr, 0, sizeof(*hdr));
	return err;
}

int wire_info_encode(struct wire_buf *b, const struct wire_hdr *hdr, const struct wire_info *info)
{
	struct wire_hdr h = *hdr;

	if ((info->flags & ~WIRE_INFO_FLAGS_ALL) != 0)
		return WIRE_ERR_FLAGS;
	h.version = WIRE_VERSION;
	h.type = WIRE_INFO;
	h.flags = 0;
	wire_put_hdr(b, &h);
	wire_put_u32(b, info->replica);
	wire_put_u64(b, info->view);
	wire_put_u32(b, info->primary);
	wire_put_u32(b, info->flags);
	wire_put_u64(b, info->low_watermark);
	wire_put_u64(b, info->last_executed);
	wire_put_u64(b, info->last_committed);
	wire_put_u64(b, info->dropped);
	wire_put_fixed(b, info->checkpoint_digest, WIRE_DIGEST_LEN);
	wire_put_u64(b, info->uptime_ms);
	return wire_buf_error(b);
}

int wire_info_decode(const uint8_t *buf, size_t len, struct wire_hdr *hdr, struct wire_info *info)
{
	struct wire_bytes body;
	struct wire_cursor c;

	memset(info, 0, sizeof(*info));
	int err = wire_decode_hdr(buf, len, hdr, &body);
	if (err != 0)
		goto err_out;
	if (hdr->type != WIRE_INFO) {
		err = WIRE_ERR_TYPE;
		goto err_out;
	}
	wire_cursor_init(&c, body.p, body.len);
	info->replica = wire_get_u32(&c);
	info->view = wire_get_u64(&c);
	info->primary = wire_get_u32(&c);
	info->flags = wire_get_u32(&c);
	info->low_watermark = wire_get_u64(&c);
	info->last_executed = wire_get_u64(&c);
	info->last_committed = wire_get_u64(&c);
	info->dropped = wire_get_u64(&c);
	wire_get_fixed(&c, info->checkpoint_digest, WIRE_DIGEST_LEN);
	info->uptime_ms = wire_get_u64(&c);
	err = wire_cursor_end(&c);
	if (err != 0)
		goto err_out;
	if ((info->flags & ~WIRE_INFO_FLAGS_ALL) != 0) {
		err = WIRE_ERR_FLAGS;
		goto err_out;
	}
	if (hdr->sender != info->replica) {
		err = WIRE_ERR_FIELD;
		goto err_out;
	}
	return 0;

err_out:
	memset(hdr, 0, sizeof(*hdr));
	memset(info, 0, sizeof(*info));
	return err;
}
