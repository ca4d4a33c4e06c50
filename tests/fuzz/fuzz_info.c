/* fuzz_info.c: libFuzzer target for the replica info decoders (wire/info.c): arbitrary
 * bytes as INFO_REQ and as INFO; whatever decodes must re-encode to exactly the input
 * (the encoding is canonical) and carry no unknown flag bits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_hdr h;
	struct wire_info in;
	struct wire_buf b;

	wire_buf_init(&b);
	if (wire_info_req_decode(data, size, &h) == 0) {
		if (h.type != WIRE_INFO_REQ || h.sender != WIRE_SENDER_CLIENT)
			abort();
		if (wire_info_req_encode(&b, &h) != 0 || b.len != size || memcmp(b.p, data, size) != 0)
			abort();
	}
	wire_buf_reset(&b);
	if (wire_info_decode(data, size, &h, &in) == 0) {
		if ((in.flags & ~WIRE_INFO_FLAGS_ALL) != 0 || h.sender != in.replica)
			abort();
		if (wire_info_encode(&b, &h, &in) != 0 || b.len != size || memcmp(b.p, data, size) != 0)
			abort();
	}
	wire_buf_free(&b);
	return 0;
}
