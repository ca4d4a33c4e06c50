/* kv.c: strict decoding and encoding of key-value operations and results (wire/kv.h). */
#include "wire/kv.h"

#include <string.h>

const struct wire_kv_limits wire_kv_limits_default = {
	.max_key = WIRE_KV_MAX_KEY_DEFAULT,
	.max_value = WIRE_KV_MAX_VALUE_DEFAULT,
};

/* Read one length-prefixed field; on WIRE_ERR_TOO_BIG remember which field it was. */
static struct wire_bytes kv_get_field(struct wire_cursor *c, uint32_t max, uint8_t field,
				      struct wire_kv_op *out)
{
	struct wire_bytes v = wire_get_bytes(c, max);
	if (c->err == WIRE_ERR_TOO_BIG && out->too_big == WIRE_KV_FIELD_NONE)
		out->too_big = field;
	return v;
}

int wire_kv_decode_op(const uint8_t *p, size_t len, const struct wire_kv_limits *lim,
		      struct wire_kv_op *out)
{
	struct wire_cursor c;

	if (lim == NULL)
		lim = &wire_kv_limits_default;
	memset(out, 0, sizeof(*out));
	wire_cursor_init(&c, p, len);
	out->type = wire_get_u8(&c);
	if (c.err != 0)
		return c.err;
	switch (out->type) {
	case WIRE_KV_PUT:
		out->key = kv_get_field(&c, lim->max_key, WIRE_KV_FIELD_KEY, out);
		out->value = kv_get_field(&c, lim->max_value, WIRE_KV_FIELD_VALUE, out);
		break;
	case WIRE_KV_DEL:
	case WIRE_KV_GET:
		out->key = kv_get_field(&c, lim->max_key, WIRE_KV_FIELD_KEY, out);
		break;
	case WIRE_KV_CAS:
		out->key = kv_get_field(&c, lim->max_key, WIRE_KV_FIELD_KEY, out);
		out->version = wire_get_u64(&c);
		out->value = kv_get_field(&c, lim->max_value, WIRE_KV_FIELD_VALUE, out);
		break;
	default:
		return WIRE_ERR_TYPE;
	}
	return wire_cursor_end(&c);
}

int wire_kv_encode_op(struct wire_buf *b, const struct wire_kv_op *op)
{
	switch (op->type) {
	case WIRE_KV_PUT:
		wire_put_u8(b, op->type);
		wire_put_bytes(b, op->key.p, op->key.len);
		wire_put_bytes(b, op->value.p, op->value.len);
		break;
	case WIRE_KV_DEL:
	case WIRE_KV_GET:
		wire_put_u8(b, op->type);
		wire_put_bytes(b, op->key.p, op->key.len);
		break;
	case WIRE_KV_CAS:
		wire_put_u8(b, op->type);
		wire_put_bytes(b, op->key.p, op->key.len);
		wire_put_u64(b, op->version);
		wire_put_bytes(b, op->value.p, op->value.len);
		break;
	default:
		return WIRE_ERR_TYPE;
	}
	return wire_buf_error(b);
}

int wire_kv_is_read_only(uint8_t type)
{
	return type == WIRE_KV_GET;
}

int wire_kv_encode_result(struct wire_buf *b, const struct wire_kv_result *res)
{
	switch (res->status) {
	case WIRE_KV_OK:
		wire_put_u8(b, res->status);
		wire_put_u64(b, res->version);
		wire_put_bytes(b, res->value.p, res->value.len);
		break;
	case WIRE_KV_NOT_FOUND:
		wire_put_u8(b, res->status);
		break;
	case WIRE_KV_CAS_MISMATCH:
		wire_put_u8(b, res->status);
		wire_put_u64(b, res->version);
		break;
	case WIRE_KV_TOO_BIG:
		wire_put_u8(b, res->status);
		wire_put_u8(b, res->field);
		wire_put_u32(b, res->limit);
		break;
	case WIRE_KV_BAD_OP:
		wire_put_u8(b, res->status);
		wire_put_u8(b, res->reason);
		break;
	default:
		return WIRE_ERR_FIELD;
	}
	return wire_buf_error(b);
}

int wire_kv_decode_result(const uint8_t *p, size_t len, uint32_t max_value,
			  struct wire_kv_result *out)
{
	struct wire_cursor c;

	memset(out, 0, sizeof(*out));
	wire_cursor_init(&c, p, len);
	out->status = wire_get_u8(&c);
	if (c.err != 0)
		return c.err;
	switch (out->status) {
	case WIRE_KV_OK:
		out->version = wire_get_u64(&c);
		out->value = wire_get_bytes(&c, max_value);
		break;
	case WIRE_KV_NOT_FOUND:
		break;
	case WIRE_KV_CAS_MISMATCH:
		out->version = wire_get_u64(&c);
		break;
	case WIRE_KV_TOO_BIG:
		out->field = wire_get_u8(&c);
		out->limit = wire_get_u32(&c);
		if (c.err == 0 && out->field != WIRE_KV_FIELD_KEY && out->field != WIRE_KV_FIELD_VALUE)
			return WIRE_ERR_FIELD;
		break;
	case WIRE_KV_BAD_OP:
		out->reason = wire_get_u8(&c);
		if (c.err == 0 && (out->reason < WIRE_KV_BAD_TRUNCATED || out->reason > WIRE_KV_BAD_READ_ONLY))
			return WIRE_ERR_FIELD;
		break;
	default:
		return WIRE_ERR_FIELD;
	}
	return wire_cursor_end(&c);
}

const char *wire_kv_type_name(uint8_t type)
{
	switch (type) {
	case WIRE_KV_PUT: return "PUT";
	case WIRE_KV_DEL: return "DEL";
	case WIRE_KV_CAS: return "CAS";
	case WIRE_KV_GET: return "GET";
	default: return "UNKNOWN";
	}
}

const char *wire_kv_status_name(uint8_t status)
{
	switch (status) {
	case WIRE_KV_OK: return "OK";
	case WIRE_KV_NOT_FOUND: return "NOT_FOUND";
	case WIRE_KV_CAS_MISMATCH: return "CAS_MISMATCH";
	case WIRE_KV_TOO_BIG: return "TOO_BIG";
	case WIRE_KV_BAD_OP: return "BAD_OP";
	default: return "UNKNOWN";
	}
}

const char *wire_kv_bad_name(uint8_t reason)
{
	switch (reason) {
	case WIRE_KV_BAD_TRUNCATED: return "operation truncated";
	case WIRE_KV_BAD_TRAILING: return "bytes after the operation";
	case WIRE_KV_BAD_TYPE: return "unknown operation type";
	case WIRE_KV_BAD_READ_ONLY: return "write operation in a read-only request";
	default: return "unknown reason";
	}
}

const char *wire_kv_field_name(uint8_t field)
{
	switch (field) {
	case WIRE_KV_FIELD_KEY: return "key";
	case WIRE_KV_FIELD_VALUE: return "value";
	default: return "none";
	}
}
