/* fuzz_chunk.c: libFuzzer target for the update service's net messages (wire/chunk.c):
 * arbitrary bytes as CHUNK_PUT, CHUNK_RECEIPT, STATEMENT and CHUNK_GET; whatever decodes
 * must re-encode to exactly the input (the encodings are canonical) and respect the
 * documented bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct wire_buf *b, const uint8_t *data, size_t size)
{
	if (b->err != 0 || b->len != size || memcmp(b->p, data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_chunk_put put;
	struct wire_chunk_receipt rec;
	struct wire_statement_msg st;
	uint8_t sha[WIRE_UPD_HASH_LEN];
	struct wire_hdr h;
	struct wire_buf b;

	wire_buf_init(&b);
	if (wire_chunk_put_decode(data, size, WIRE_CHUNK_DEFAULT_MAX, &h, &put) == 0) {
		if (put.data.len > WIRE_CHUNK_DEFAULT_MAX)
			abort();
		wire_chunk_put_encode(&b, &h, &put);
		same(&b, data, size);
	}
	wire_buf_reset(&b);
	if (wire_chunk_receipt_decode(data, size, &h, &rec) == 0) {
		if (rec.status > WIRE_CHUNK_STATUS_MAX)
			abort();
		wire_chunk_receipt_encode(&b, &h, &rec);
		same(&b, data, size);
	}
	wire_buf_reset(&b);
	if (wire_statement_decode(data, size, &h, &st) == 0) {
		if (st.replica != h.sender)
			abort();
		wire_statement_encode(&b, &h, &st);
		same(&b, data, size);
	}
	wire_buf_reset(&b);
	if (wire_chunk_get_decode(data, size, &h, sha) == 0) {
		wire_chunk_get_encode(&b, &h, sha);
		same(&b, data, size);
	}
	wire_buf_free(&b);
	return 0;
}
