/* chunk.c: encoding and strict decoding of CHUNK_PUT, CHUNK_RECEIPT, STATEMENT and
 * CHUNK_GET (chunk.h). */
#include <string.h>

#include "wire/chunk.h"

static const char *const chunk_status[] = {
	"ok", "hash mismatch", "chunk too big", "not authorized", "storage error",
	"malformed chunk upload",
};

const char *wire_chunk_status_name(uint32_t status)
{
	if (status > WIRE_CHUNK_STATUS_MAX)
		return "unknown chunk status";
	return chunk_status[status];
}

static void put_hdr(struct wire_buf *b, const struct wire_hdr *h, uint8_t type)
{
	struct wire_hdr x = *h;

	x.version = WIRE_VERSION;
	x.type = type;
	x.flags = 0;
	wire_put_hdr(b, &x);
}

int wire_chunk_put_encode(struct wire_buf *b, const struct wire_hdr *h,
			  const struct wire_chunk_put *m)
{
	if (m->data.len > WIRE_CHUNK_HARD_MAX)
		return WIRE_ERR_TOO_BIG;
	put_hdr(b, h, WIRE_CHUNK_PUT);
	wire_put_fixed(b, m->sha256, WIRE_UPD_HASH_LEN);
	wire_put_bytes(b, m->data.p, m->data.len);
	return wire_buf_error(b);
}

int wire_chunk_receipt_encode(struct wire_buf *b, const struct wire_hdr *h,
			      const struct wire_chunk_receipt *m)
{
	put_hdr(b, h, WIRE_CHUNK_RECEIPT);
	wire_put_fixed(b, m->sha256, WIRE_UPD_HASH_LEN);
	wire_put_u64(b, m->size);
	wire_put_u32(b, m->replica);
	wire_put_u32(b, m->status);
	wire_put_fixed(b, m->sig, WIRE_UPD_SIG_LEN);
	return wire_buf_error(b);
}

int wire_statement_encode(struct wire_buf *b, const struct wire_hdr *h,
			  const struct wire_statement_msg *m)
{
	uint8_t raw[WIRE_UPD_STATEMENT_LEN];

	wire_upd_statement_encode(&m->st, raw);
	put_hdr(b, h, WIRE_STATEMENT);
	wire_put_fixed(b, raw, sizeof(raw));
	wire_put_u32(b, m->replica);
	wire_put_fixed(b, m->sig, WIRE_UPD_SIG_LEN);
	return wire_buf_error(b);
}

int wire_chunk_get_encode(struct wire_buf *b, const struct wire_hdr *h,
			  const uint8_t sha256[WIRE_UPD_HASH_LEN])
{
	put_hdr(b, h, WIRE_CHUNK_GET);
	wire_put_fixed(b, sha256, WIRE_UPD_HASH_LEN);
	return wire_buf_error(b);
}

/* The header, checked to be of type, and a cursor over the body. */
static int open_msg(const uint8_t *buf, size_t len, uint8_t type, struct wire_hdr *h,
		    struct wire_cursor *c)
{
	struct wire_bytes body;
	int rc = wire_decode_hdr(buf, len, h, &body);

	if (rc != WIRE_OK)
		return rc;
	if (h->type != type)
		return WIRE_ERR_TYPE;
	wire_cursor_init(c, body.p, body.len);
	return WIRE_OK;
}

int wire_chunk_put_decode(const uint8_t *buf, size_t len, uint32_t max, struct wire_hdr *h,
			  struct wire_chunk_put *m)
{
	struct wire_cursor c;
	int rc = open_msg(buf, len, WIRE_CHUNK_PUT, h, &c);

	memset(m, 0, sizeof(*m));
	if (rc != WIRE_OK)
		return rc;
	if (max > WIRE_CHUNK_HARD_MAX)
		max = WIRE_CHUNK_HARD_MAX;
	wire_get_fixed(&c, m->sha256, WIRE_UPD_HASH_LEN);
	m->data = wire_get_bytes(&c, max);
	rc = wire_cursor_end(&c);
	if (rc != WIRE_OK)
		memset(m, 0, sizeof(*m));
	return rc;
}

int wire_chunk_receipt_decode(const uint8_t *buf, size_t len, struct wire_hdr *h,
			      struct wire_chunk_receipt *m)
{
	struct wire_cursor c;
	int rc = open_msg(buf, len, WIRE_CHUNK_RECEIPT, h, &c);

	memset(m, 0, sizeof(*m));
	if (rc != WIRE_OK)
		return rc;
	wire_get_fixed(&c, m->sha256, WIRE_UPD_HASH_LEN);
	m->size = wire_get_u64(&c);
	m->replica = wire_get_u32(&c);
	m->status = wire_get_u32(&c);
	wire_get_fixed(&c, m->sig, WIRE_UPD_SIG_LEN);
	rc = wire_cursor_end(&c);
	if (rc == WIRE_OK && m->status > WIRE_CHUNK_STATUS_MAX)
		rc = WIRE_ERR_FIELD;
	if (rc != WIRE_OK)
		memset(m, 0, sizeof(*m));
	return rc;
}

int wire_statement_decode(const uint8_t *buf, size_t len, struct wire_hdr *h,
			  struct wire_statement_msg *m)
{
	struct wire_cursor c;
	int rc = open_msg(buf, len, WIRE_STATEMENT, h, &c);

	memset(m, 0, sizeof(*m));
	if (rc != WIRE_OK)
		return rc;
	wire_get_fixed(&c, m->raw, WIRE_UPD_STATEMENT_LEN);
	m->replica = wire_get_u32(&c);
	wire_get_fixed(&c, m->sig, WIRE_UPD_SIG_LEN);
	rc = wire_cursor_end(&c);
	if (rc == WIRE_OK && (wire_upd_statement_decode(m->raw, &m->st) != 0 ||
			      m->replica != h->sender))
		rc = WIRE_ERR_FIELD;
	if (rc != WIRE_OK)
		memset(m, 0, sizeof(*m));
	return rc;
}

int wire_chunk_get_decode(const uint8_t *buf, size_t len, struct wire_hdr *h,
			  uint8_t sha256[WIRE_UPD_HASH_LEN])
{
	struct wire_cursor c;
	int rc = open_msg(buf, len, WIRE_CHUNK_GET, h, &c);

	if (rc != WIRE_OK)
		return rc;
	wire_get_fixed(&c, sha256, WIRE_UPD_HASH_LEN);
	rc = wire_cursor_end(&c);
	if (rc != WIRE_OK)
		memset(sha256, 0, WIRE_UPD_HASH_LEN);
	return rc;
}
