/* fuzz_wire.c: libFuzzer target for wire_decode: arbitrary bytes under the default and
 * under tiny limits; whatever decodes must re-encode to exactly the input (the encoding
 * is canonical), and every list, batch and nested message must iterate fully. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

static const struct wire_limits tiny = {
	.max_message = 4096,
	.max_op = 16,
	.max_auth = 16,
	.max_result = 16,
	.max_batch_count = 2,
	.max_batch_bytes = 160,
	.max_replicas = 2,
	.max_log = 2,
	.max_children = 2,
	.max_key = 4,
	.max_value = 8,
	.max_entries = 2,
	.max_lanes = 3,
};

static void check_canonical(const struct wire_msg *m, const uint8_t *data, size_t size)
{
	struct wire_buf b;
	wire_buf_init(&b);
	if (wire_encode(&b, m) != 0 || b.len != size || memcmp(b.p, data, size) != 0)
		abort();
	wire_buf_free(&b);
}

static void walk_batch(const struct wire_hdr *h, const struct wire_batch *bt)
{
	struct wire_iter it;
	struct wire_request r;
	uint32_t n = 0;
	uint8_t d[WIRE_DIGEST_LEN];
	wire_iter_batch(&it, bt);
	while (wire_next_request(&it, &r)) {
		wire_request_digest(h->group, h->epoch, &r, d);
		n++;
	}
	if (n != bt->count || it.p != it.end)
		abort();
}

static void walk_viewchange(const struct wire_hdr *h, const struct wire_viewchange *vc)
{
	struct wire_iter it;
	uint32_t n = 0;
	struct wire_proof_item pr;
	wire_iter_init(&it, &vc->proof);
	while (wire_next_proof(&it, &pr))
		n++;
	if (n != vc->proof.count || it.p != it.end)
		abort();
	struct wire_pitem pi;
	n = 0;
	wire_iter_init(&it, &vc->p);
	while (wire_next_pitem(&it, &pi)) {
		uint8_t d[WIRE_DIGEST_LEN];
		walk_batch(h, &pi.batch);
		wire_batch_digest(h->group, h->epoch, &pi.batch, d);
		if (memcmp(d, pi.digest, sizeof(d)) != 0)
			abort();
		n++;
	}
	if (n != vc->p.count || it.p != it.end)
		abort();
	struct wire_qitem qi;
	n = 0;
	wire_iter_init(&it, &vc->q);
	while (wire_next_qitem(&it, &qi))
		n++;
	if (n != vc->q.count || it.p != it.end)
		abort();
}

static void walk(const struct wire_msg *m, const struct wire_limits *lim)
{
	struct wire_iter it;
	uint32_t n = 0;
	switch (m->hdr.type) {
	case WIRE_PREPREPARE:
		walk_batch(&m->hdr, &m->u.preprepare.batch);
		break;
	case WIRE_VIEWCHANGE:
		walk_viewchange(&m->hdr, &m->u.viewchange);
		break;
	case WIRE_NEWVIEW: {
		struct wire_bytes enc;
		wire_iter_init(&it, &m->u.newview.vcs);
		while (wire_next_vc(&it, &enc)) {
			struct wire_msg vc;
			if (wire_decode(enc.p, enc.len, lim, &vc) != 0 || vc.hdr.type != WIRE_VIEWCHANGE)
				abort();
			check_canonical(&vc, enc.p, enc.len);
			walk_viewchange(&vc.hdr, &vc.u.viewchange);
			n++;
		}
		if (n != m->u.newview.vcs.count || it.p != it.end)
			abort();
		struct wire_nvitem ni;
		n = 0;
		wire_iter_init(&it, &m->u.newview.items);
		while (wire_next_nvitem(&it, &ni))
			n++;
		if (n != m->u.newview.items.count || it.p != it.end)
			abort();
		break;
	}
	case WIRE_META: {
		const uint8_t *d;
		wire_iter_init(&it, &m->u.meta.children);
		while (wire_next_child(&it, &d))
			n++;
		if (n != m->u.meta.children.count || it.p != it.end)
			abort();
		break;
	}
	case WIRE_DATA: {
		struct wire_data_item di;
		wire_iter_init(&it, &m->u.data.entries);
		while (wire_next_data(&it, &di))
			n++;
		if (n != m->u.data.entries.count || it.p != it.end)
			abort();
		break;
	}
	default:
		break;
	}
}

static void one(const uint8_t *data, size_t size, const struct wire_limits *lim)
{
	struct wire_msg m;
	if (wire_decode(data, size, lim, &m) != 0)
		return;
	if (m.raw.p != data || m.raw.len != size)
		abort();
	check_canonical(&m, data, size);
	walk(&m, lim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_hdr h;
	struct wire_bytes body;
	if (wire_decode_hdr(data, size, &h, &body) == 0 &&
	    (body.p != data + WIRE_HDR_LEN || body.len != size - WIRE_HDR_LEN))
		abort();
	one(data, size, NULL);
	one(data, size, &tiny);
	return 0;
}
