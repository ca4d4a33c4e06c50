/* fuzz_kvop.c: libFuzzer target for the KV op and result decoders (wire/kv.c): arbitrary
 * bytes under the default and under tiny limits; whatever decodes must re-encode to
 * exactly the input (the encoding is canonical) and respect the limits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct wire_kv_limits tiny = { .max_key = 3, .max_value = 5 };

static void check_op(const uint8_t *data, size_t size, const struct wire_kv_limits *lim)
{
	struct wire_kv_op op;
	struct wire_buf b;
	int rc = wire_kv_decode_op(data, size, lim, &op);

	if (rc == WIRE_ERR_TOO_BIG) {
		if (op.too_big != WIRE_KV_FIELD_KEY && op.too_big != WIRE_KV_FIELD_VALUE)
			abort();
		return;
	}
	if (rc != 0) {
		if (rc != WIRE_ERR_TRUNCATED && rc != WIRE_ERR_TRAILING && rc != WIRE_ERR_TYPE)
			abort();
		return;
	}
	if (op.key.len > lim->max_key || op.value.len > lim->max_value)
		abort();
	wire_buf_init(&b);
	if (wire_kv_encode_op(&b, &op) != 0 || b.len != size || memcmp(b.p, data, size) != 0)
		abort();
	wire_buf_free(&b);
}

static void check_result(const uint8_t *data, size_t size, uint32_t max_value)
{
	struct wire_kv_result res;
	struct wire_buf b;

	if (wire_kv_decode_result(data, size, max_value, &res) != 0)
		return;
	if (res.value.len > max_value)
		abort();
	wire_buf_init(&b);
	if (wire_kv_encode_result(&b, &res) != 0 || b.len != size || memcmp(b.p, data, size) != 0)
		abort();
	wire_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_op(data, size, &wire_kv_limits_default);
	check_op(data, size, &tiny);
	check_result(data, size, WIRE_KV_MAX_VALUE_DEFAULT);
	check_result(data, size, 5);
	return 0;
}
