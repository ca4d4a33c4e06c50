/* fuzz_manifest.c: libFuzzer target for the signed-update decoders: manifest, DSSE
 * envelope and response document JSON (wire/upd_json.c), update-service ops and results
 * (wire/upd.c), and the light client's trust file (client/lib/trust.c). Whatever decodes
 * must encode again and decode to the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/bulwark_update.h"
#include "wire/upd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_manifest(const struct wire_upd_manifest *a, const struct wire_upd_manifest *b)
{
	if (strcmp(a->channel, b->channel) != 0 || a->version != b->version ||
	    a->created != b->created || a->expires != b->expires ||
	    a->chunk_size != b->chunk_size || a->nfiles != b->nfiles ||
	    a->total_chunks != b->total_chunks)
		abort();
	for (uint32_t i = 0; i < a->nfiles; i++) {
		const struct wire_upd_file *x = &a->files[i], *y = &b->files[i];
		if (strcmp(x->path, y->path) != 0 || x->size != y->size || x->nchunks != y->nchunks ||
		    memcmp(x->sha256, y->sha256, 32) != 0 ||
		    (x->nchunks > 0 && memcmp(x->chunks, y->chunks, (size_t)x->nchunks * 32) != 0))
			abort();
	}
}

static void check_manifest(const uint8_t *data, size_t size)
{
	struct wire_upd_manifest m, again;
	struct wire_upd_why why;
	struct wire_buf b;

	if (wire_upd_manifest_decode(data, size, NULL, &m, &why) != 0) {
		if (why.text[0] == '\0' || m.files != NULL || m.channel != NULL)
			abort();
		return;
	}
	wire_buf_init(&b);
	if (wire_upd_manifest_encode(&m, &b) != 0 ||
	    wire_upd_manifest_decode(b.p, b.len, NULL, &again, &why) != 0)
		abort();
	same_manifest(&m, &again);
	wire_upd_manifest_free(&again);
	wire_upd_manifest_free(&m);
	wire_buf_free(&b);
}

static void check_envelope(const uint8_t *data, size_t size)
{
	struct wire_upd_envelope e, again;
	struct wire_upd_why why;
	struct wire_buf b;

	if (wire_upd_envelope_decode(data, size, NULL, &e, &why) != 0)
		return;
	wire_buf_init(&b);
	if (wire_upd_envelope_encode(e.payload, e.payload_len, e.sigs, e.nsigs, &b) != 0 ||
	    wire_upd_envelope_decode(b.p, b.len, NULL, &again, &why) != 0 ||
	    again.payload_len != e.payload_len || again.nsigs != e.nsigs ||
	    (e.payload_len > 0 && memcmp(again.payload, e.payload, e.payload_len) != 0) ||
	    memcmp(again.sigs, e.sigs, e.nsigs * sizeof(e.sigs[0])) != 0)
		abort();
	wire_upd_envelope_free(&again);
	wire_upd_envelope_free(&e);
	wire_buf_free(&b);
}

static void check_response(const uint8_t *data, size_t size)
{
	static struct wire_upd_response r, again;
	struct wire_upd_why why;
	struct wire_buf env, doc;

	if (wire_upd_response_decode(data, size, NULL, &r, &why) != 0)
		return;
	wire_buf_init(&env);
	wire_buf_init(&doc);
	if (wire_upd_envelope_encode(r.env.payload, r.env.payload_len, r.env.sigs, r.env.nsigs,
				     &env) != 0 ||
	    wire_upd_response_encode(env.p, env.len, &r.proof, &r.cert, &doc) != 0 ||
	    wire_upd_response_decode(doc.p, doc.len, NULL, &again, &why) != 0 ||
	    memcmp(&again.proof, &r.proof, sizeof(r.proof)) != 0 ||
	    memcmp(&again.cert, &r.cert, sizeof(r.cert)) != 0 ||
	    again.env.payload_len != r.env.payload_len)
		abort();
	wire_upd_response_free(&again);
	wire_upd_response_free(&r);
	wire_buf_free(&env);
	wire_buf_free(&doc);
}

static void check_op(const uint8_t *data, size_t size)
{
	struct wire_upd_op op;
	struct wire_upd_result res;
	struct wire_buf b;

	wire_buf_init(&b);
	if (wire_upd_decode_op(data, size, NULL, &op) == 0) {
		struct wire_upd_riter it;
		uint32_t n, lists = 0;
		const uint8_t *pairs;
		wire_upd_riter_init(&it, &op);
		while (wire_upd_next_receipts(&it, &n, &pairs))
			lists++;
		if (lists != (op.type == WIRE_UPD_PUBLISH ? op.nreceipts : 0) ||
		    wire_upd_encode_op(&b, &op) != 0 || b.len != size || memcmp(b.p, data, size) != 0)
			abort();
	}
	wire_buf_reset(&b);
	if (wire_upd_decode_result(data, size, &res) == 0 &&
	    (wire_upd_encode_result(&b, &res) != 0 || b.len != size || memcmp(b.p, data, size) != 0))
		abort();
	wire_buf_free(&b);
}

static void check_trust(const uint8_t *data, size_t size)
{
	struct bulwark_trust *t;
	char err[256];

	if (bulwark_trust_parse("fuzz", NULL, (const char *)data, size, &t, err, sizeof(err)) == 0) {
		if (bulwark_trust_replicas(t) < 4 || bulwark_trust_threshold(t) < 2)
			abort();
		bulwark_trust_free(t);
	} else if (t != NULL || err[0] == '\0') {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_manifest(data, size);
	check_envelope(data, size);
	check_response(data, size);
	check_op(data, size);
	check_trust(data, size);
	return 0;
}
