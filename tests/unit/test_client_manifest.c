/* test_client_manifest.c: the signed-update formats (wire/upd.h: PAE, leaves,
 * statements, receipts, manifests, envelopes, response documents, operations and
 * results) and the light client's manifest, chunk and file checks. */
#include "tests/unit/unit.h"
#include "tests/unit/test_upd_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/bulwark_update.h"
#include "crypto/crypto.h"
#include "wire/upd.h"

/* The seed of tag (test_upd_keys.h). */
static void seed_of(uint8_t seed[32], uint8_t tag)
{
	memset(seed, tag, 32);
}

static void unhex_ok(const char *hex, uint8_t *out, size_t n)
{
	ck_assert_int_eq(wire_upd_unhex(hex, strlen(hex), out, n), 0);
}

/* File contents used by the manifests below: byte i of file f is (i * 7 + f) & 0xff. */
static uint8_t *file_bytes(size_t len, uint8_t f)
{
	uint8_t *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + f);
	return p;
}

/* A manifest of three files (300000 bytes in two chunks, 10 bytes, empty) built from
 * real content; free with free_manifest. */
static void make_manifest(struct wire_upd_manifest *m, const char *channel, uint64_t version)
{
	static const char *const paths[] = { "bin/tool", "README", "share/empty" };
	static const uint64_t sizes[] = { 300000, 10, 0 };

	memset(m, 0, sizeof(*m));
	m->channel = strdup(channel);
	m->version = version;
	m->created = 1700000000;
	m->expires = 1800000000;
	m->chunk_size = WIRE_UPD_DEFAULT_CHUNK;
	m->nfiles = 3;
	m->files = calloc(3, sizeof(*m->files));
	ck_assert_ptr_nonnull(m->files);
	for (uint32_t f = 0; f < 3; f++) {
		struct wire_upd_file *fi = &m->files[f];
		uint8_t *data = file_bytes(sizes[f], (uint8_t)f);
		fi->path = strdup(paths[f]);
		fi->size = sizes[f];
		crypto_sha256(data, sizes[f], fi->sha256);
		fi->nchunks = (uint32_t)wire_upd_chunk_count(sizes[f], m->chunk_size);
		fi->chunks = calloc(fi->nchunks + 1, 32);
		for (uint32_t c = 0; c < fi->nchunks; c++)
			crypto_sha256(data + (size_t)c * m->chunk_size,
				      wire_upd_chunk_len(sizes[f], m->chunk_size, c), fi->chunks[c]);
		m->total_chunks += fi->nchunks;
		free(data);
	}
}

/* ---------------------------------------------------------------- PAE, pinned hashes */
START_TEST(test_pae_dsse_example)
{
	/* The example of the DSSE protocol document. */
	static const char want[] = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
	struct wire_buf b;

	wire_buf_init(&b);
	ck_assert_int_eq(wire_upd_pae("http://example.com/HelloWorld",
				      (const uint8_t *)"hello world", 11, &b), 0);
	ck_assert_uint_eq(b.len, strlen(want));
	ck_assert_mem_eq(b.p, want, b.len);
	wire_buf_reset(&b);
	ck_assert_int_eq(wire_upd_pae("", NULL, 0, &b), 0);
	ck_assert_uint_eq(b.len, strlen("DSSEv1 0  0 "));
	ck_assert_mem_eq(b.p, "DSSEv1 0  0 ", b.len);
	wire_buf_free(&b);
}
END_TEST

START_TEST(test_pinned_hashes)
{
	/* Computed independently (Python struct + hashlib) from the formats in wire/upd.h. */
	uint8_t h[32], want[32], msg[WIRE_UPD_STATEMENT_LEN], rmsg[WIRE_UPD_RECEIPT_LEN];
	struct wire_upd_statement st = { .group = 42, .epoch = 1, .seq = 100,
					 .time_ms = 1700000000000ull,
					 .expires_ms = 1700000300000ull, .log_size = 3 };
	struct wire_upd_statement back;

	for (int i = 0; i < 32; i++)
		h[i] = (uint8_t)i;
	ck_assert_int_eq(wire_upd_leaf_hash("stable/linux-amd64", 18, 7, h, h), 0);
	unhex_ok("aa00abc5f272bf236221a10855fc6e97dadeaddddf543099c91ba651310284dd", want, 32);
	ck_assert_mem_eq(h, want, 32);

	memset(st.index_root, 0xaa, 32);
	memset(st.log_root, 0xbb, 32);
	wire_upd_statement_encode(&st, msg);
	crypto_sha256(msg, sizeof(msg), h);
	unhex_ok("aaf80ac0d1fc968ec6df6fa51a78a588e4dbc3e4a86fc84e77f543bd9b66c76a", want, 32);
	ck_assert_mem_eq(h, want, 32);
	ck_assert_int_eq(wire_upd_statement_decode(msg, &back), 0);
	ck_assert_mem_eq(&back, &st, sizeof(st));
	msg[0] ^= 1;
	ck_assert_int_eq(wire_upd_statement_decode(msg, &back), WIRE_ERR_FIELD);

	memset(h, 0xcc, 32);
	wire_upd_receipt_bytes(42, 1, h, 262144, rmsg);
	crypto_sha256(rmsg, sizeof(rmsg), h);
	unhex_ok("2400f3e52ab8196fae285cf5ac5c004d1e1c1927dacb5e9f9532d870c8a28d30", want, 32);
	ck_assert_mem_eq(h, want, 32);
}
END_TEST

START_TEST(test_hex_and_names)
{
	uint8_t b[2];
	char hex[5];

	ck_assert_int_eq(wire_upd_unhex("0aFf", 4, b, 2), WIRE_UPD_E_ENCODING); /* upper case */
	ck_assert_int_eq(wire_upd_unhex("0aff", 4, b, 2), 0);
	ck_assert_int_eq(wire_upd_unhex("0af", 3, b, 2), WIRE_UPD_E_ENCODING);
	wire_upd_hex(b, 2, hex);
	ck_assert_str_eq(hex, "0aff");
	ck_assert_int_eq(wire_upd_check_channel("stable/linux-amd64", 18), 0);
	ck_assert_int_eq(wire_upd_check_channel("a/../b", 6), WIRE_UPD_E_CHANNEL);
	ck_assert_int_eq(wire_upd_check_channel("/a", 2), WIRE_UPD_E_CHANNEL);
	ck_assert_int_eq(wire_upd_check_channel("a/", 2), WIRE_UPD_E_CHANNEL);
	ck_assert_int_eq(wire_upd_check_channel("a b", 3), WIRE_UPD_E_CHANNEL);
	ck_assert_int_eq(wire_upd_check_channel("", 0), WIRE_UPD_E_CHANNEL);
	ck_assert_uint_eq(wire_upd_chunk_count(0, 4096), 0);
	ck_assert_uint_eq(wire_upd_chunk_count(4096, 4096), 1);
	ck_assert_uint_eq(wire_upd_chunk_count(4097, 4096), 2);
	ck_assert_uint_eq(wire_upd_chunk_len(4097, 4096, 1), 1);
	ck_assert_uint_eq(wire_upd_chunk_len(4097, 4096, 2), 0);
	ck_assert_str_eq(wire_upd_status_name(WIRE_UPD_MISSING_RECEIPTS), "MISSING_RECEIPTS");
	ck_assert_str_eq(wire_upd_status_name(200), "UNKNOWN");
	ck_assert_str_eq(wire_upd_strerror(WIRE_UPD_E_PATH),
			 "file path breaks the path rules or is repeated");
}
END_TEST

/* ---------------------------------------------------------------- manifests */
START_TEST(test_manifest_roundtrip)
{
	struct wire_upd_manifest m, back;
	struct wire_upd_why why;
	struct wire_buf b;

	make_manifest(&m, "stable/linux-amd64", 7);
	wire_buf_init(&b);
	ck_assert_int_eq(wire_upd_manifest_encode(&m, &b), 0);
	ck_assert_int_eq(wire_upd_manifest_decode(b.p, b.len, NULL, &back, &why), 0);
	ck_assert_str_eq(back.channel, m.channel);
	ck_assert_uint_eq(back.version, 7);
	ck_assert_uint_eq(back.created, m.created);
	ck_assert_uint_eq(back.expires, m.expires);
	ck_assert_uint_eq(back.chunk_size, WIRE_UPD_DEFAULT_CHUNK);
	ck_assert_uint_eq(back.nfiles, 3);
	ck_assert_uint_eq(back.total_chunks, 3);
	for (uint32_t f = 0; f < 3; f++) {
		ck_assert_str_eq(back.files[f].path, m.files[f].path);
		ck_assert_uint_eq(back.files[f].size, m.files[f].size);
		ck_assert_mem_eq(back.files[f].sha256, m.files[f].sha256, 32);
		ck_assert_uint_eq(back.files[f].nchunks, m.files[f].nchunks);
		if (m.files[f].nchunks > 0)
			ck_assert_mem_eq(back.files[f].chunks, m.files[f].chunks,
					 32u * m.files[f].nchunks);
	}
	/* The default chunk size is left out; another one is written. */
	ck_assert_ptr_null(memmem(b.p, b.len, "chunk_size", 10));
	wire_upd_manifest_free(&back);

	/* An invalid manifest is refused by the encoder with the decoder's error. */
	free(m.files[1].path);
	m.files[1].path = strdup("../escape");
	size_t before = b.len;
	ck_assert_int_eq(wire_upd_manifest_encode(&m, &b), WIRE_UPD_E_PATH);
	ck_assert_uint_eq(b.len, before);
	wire_upd_manifest_free(&m);
	wire_buf_free(&b);
}
END_TEST

#define H64 "\"0000000000000000000000000000000000000000000000000000000000000000\""
#define HEAD "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"c\",\"version\":1,\"created\":1,\"expires\":2,"
#define FILE1(path) "{\"path\":" path ",\"size\":1,\"sha256\":" H64 ",\"chunks\":[" H64 "]}"

struct bad_case {
	const char *json;
	int code;
	const char *why; /* a substring of the explanation */
};

static const struct bad_case bad_manifests[] = {
	{ HEAD "\"files\":[" FILE1("\"a\"") "],\"extra\":1}", WIRE_UPD_E_FIELD, "unknown field \"extra\"" },
	{ HEAD "\"version\":2,\"files\":[" FILE1("\"a\"") "]}", WIRE_UPD_E_JSON, "not valid JSON" },
	{ "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"c\",\"created\":1,\"expires\":2,\"files\":[]}",
	  WIRE_UPD_E_FIELD, "version: missing" },
	{ "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"c\",\"version\":\"1\",\"created\":1,"
	  "\"expires\":2,\"files\":[]}", WIRE_UPD_E_FIELD, "version: not an integer" },
	{ "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"c\",\"version\":1.0,\"created\":1,"
	  "\"expires\":2,\"files\":[]}", WIRE_UPD_E_FIELD, "version: not an integer" },
	{ "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"c\",\"version\":9007199254740992,"
	  "\"created\":1,\"expires\":2,\"files\":[]}", WIRE_UPD_E_VALUE, "version: outside" },
	{ "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"c\",\"version\":-1,\"created\":1,"
	  "\"expires\":2,\"files\":[]}", WIRE_UPD_E_VALUE, "version: outside" },
	{ "{\"_type\":\"bulwark/manifest/v2\",\"channel\":\"c\",\"version\":1,\"created\":1,"
	  "\"expires\":2,\"files\":[]}", WIRE_UPD_E_TYPE, "_type" },
	{ "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"../c\",\"version\":1,\"created\":1,"
	  "\"expires\":2,\"files\":[]}", WIRE_UPD_E_CHANNEL, "channel" },
	{ "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"c\",\"version\":0,\"created\":1,"
	  "\"expires\":2,\"files\":[]}", WIRE_UPD_E_VALUE, "version: must be at least 1" },
	{ "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"c\",\"version\":1,\"created\":2,"
	  "\"expires\":2,\"files\":[]}", WIRE_UPD_E_VALUE, "expires: not after created" },
	{ HEAD "\"files\":[]}", WIRE_UPD_E_VALUE, "files: empty" },
	{ HEAD "\"chunk_size\":100,\"files\":[" FILE1("\"a\"") "]}", WIRE_UPD_E_VALUE, "chunk_size" },
	{ HEAD "\"files\":[" FILE1("\"../a\"") "]}", WIRE_UPD_E_PATH, "files[0].path" },
	{ HEAD "\"files\":[" FILE1("\"/etc/passwd\"") "]}", WIRE_UPD_E_PATH, "files[0].path" },
	{ HEAD "\"files\":[" FILE1("\"a//b\"") "]}", WIRE_UPD_E_PATH, "files[0].path" },
	{ HEAD "\"files\":[" FILE1("\"a/./b\"") "]}", WIRE_UPD_E_PATH, "files[0].path" },
	{ HEAD "\"files\":[" FILE1("\"a\\\\b\"") "]}", WIRE_UPD_E_PATH, "files[0].path" },
	{ HEAD "\"files\":[" FILE1("\"a\\nb\"") "]}", WIRE_UPD_E_PATH, "files[0].path" },
	{ HEAD "\"files\":[" FILE1("\"a\\u0000b\"") "]}", WIRE_UPD_E_JSON, "not valid JSON" },
	{ HEAD "\"files\":[" FILE1("\"x\"") "," FILE1("\"x\"") "]}", WIRE_UPD_E_PATH, "appears twice" },
	{ HEAD "\"files\":[" FILE1("\"x/y\"") "," FILE1("\"x\"") "]}", WIRE_UPD_E_PATH,
	  "inside another file's path" },
	{ HEAD "\"files\":[{\"path\":\"a\",\"size\":262145,\"sha256\":" H64 ",\"chunks\":[" H64 "]}]}",
	  WIRE_UPD_E_CHUNKS, "files[0].chunks: 1 entries, size 262145 with chunk_size 262144 needs 2" },
	{ HEAD "\"files\":[{\"path\":\"a\",\"size\":0,\"sha256\":" H64 ",\"chunks\":[" H64 "]}]}",
	  WIRE_UPD_E_CHUNKS, "needs 0" },
	{ HEAD "\"files\":[{\"path\":\"a\",\"size\":1,\"sha256\":\"00\",\"chunks\":[" H64 "]}]}",
	  WIRE_UPD_E_ENCODING, "files[0].sha256: not 64 lower-case hex digits" },
	{ HEAD "\"files\":[{\"path\":\"a\",\"size\":1,\"sha256\":" H64 ",\"chunks\":["
	  "\"000000000000000000000000000000000000000000000000000000000000000A\"]}]}",
	  WIRE_UPD_E_ENCODING, "files[0].chunks[0]" },
	{ HEAD "\"files\":[{\"path\":\"a\",\"size\":1,\"sha256\":" H64 "}]}", WIRE_UPD_E_FIELD,
	  "files[0].chunks: missing" },
	{ HEAD "\"files\":[{\"path\":\"a\",\"size\":1,\"sha256\":" H64 ",\"chunks\":[" H64 "],\"mode\":1}]}",
	  WIRE_UPD_E_FIELD, "files[0]: unknown field \"mode\"" },
	{ HEAD "\"files\":[7]}", WIRE_UPD_E_FIELD, "files[0]: not an object" },
	{ HEAD "\"files\":[" FILE1("\"a\"") "]} x", WIRE_UPD_E_JSON, "not valid JSON" },
	{ "[1]", WIRE_UPD_E_FIELD, "not a JSON object" },
	{ "", WIRE_UPD_E_JSON, "not valid JSON" },
};

START_TEST(test_manifest_strict)
{
	const struct bad_case *c = &bad_manifests[_i];
	struct wire_upd_manifest m;
	struct wire_upd_why why;
	int rc = wire_upd_manifest_decode((const uint8_t *)c->json, strlen(c->json), NULL, &m, &why);

	ck_assert_msg(rc == c->code, "case %d: %s -> %d (%s), want %d", _i, c->json, rc, why.text,
		      c->code);
	ck_assert_msg(strstr(why.text, c->why) != NULL, "case %d: \"%s\" lacks \"%s\"", _i,
		      why.text, c->why);
	ck_assert_ptr_null(m.files);
	ck_assert_ptr_null(m.channel);
}
END_TEST

START_TEST(test_manifest_limits)
{
	static const char ok[] = HEAD "\"files\":[" FILE1("\"a\"") "," FILE1("\"b\"") "]}";
	struct wire_upd_limits lim = wire_upd_limits_default;
	struct wire_upd_manifest m;
	struct wire_upd_why why;

	ck_assert_int_eq(wire_upd_manifest_decode((const uint8_t *)ok, strlen(ok), &lim, &m, &why), 0);
	wire_upd_manifest_free(&m);
	lim.max_files = 1;
	ck_assert_int_eq(wire_upd_manifest_decode((const uint8_t *)ok, strlen(ok), &lim, &m, &why),
			 WIRE_UPD_E_TOO_BIG);
	ck_assert_ptr_nonnull(strstr(why.text, "files: 2 entries, the limit is 1"));
	lim = wire_upd_limits_default;
	lim.max_chunks = 1;
	ck_assert_int_eq(wire_upd_manifest_decode((const uint8_t *)ok, strlen(ok), &lim, &m, &why),
			 WIRE_UPD_E_TOO_BIG);
	ck_assert_ptr_nonnull(strstr(why.text, "files[1].chunks: more than 1 chunks"));
	lim = wire_upd_limits_default;
	lim.max_payload = 10;
	ck_assert_int_eq(wire_upd_manifest_decode((const uint8_t *)ok, strlen(ok), &lim, &m, &why),
			 WIRE_UPD_E_TOO_BIG);
}
END_TEST

/* ---------------------------------------------------------------- envelopes, threshold */
START_TEST(test_envelope_roundtrip)
{
	static const uint8_t payload[] = "{\"any\":\"bytes\"}";
	struct wire_upd_sig sigs[2];
	struct wire_upd_envelope e;
	struct wire_upd_why why;
	struct wire_buf b;
	uint8_t seed[32];

	for (int i = 0; i < 2; i++) {
		seed_of(seed, (uint8_t)(10 + i));
		ck_assert_int_eq(sign_seed(seed, WIRE_UPD_PAYLOAD_TYPE, payload,
					       sizeof(payload) - 1, &sigs[i]), 0);
	}
	wire_buf_init(&b);
	for (size_t len = 0; len < 4; len++) { /* base64 padding: 0, 2, 1, 0 '=' */
		wire_buf_reset(&b);
		ck_assert_int_eq(wire_upd_envelope_encode(payload, len, sigs, 2, &b), 0);
		ck_assert_int_eq(wire_upd_envelope_decode(b.p, b.len, NULL, &e, &why), 0);
		ck_assert_uint_eq(e.payload_len, len);
		if (len > 0)
			ck_assert_mem_eq(e.payload, payload, len);
		ck_assert_uint_eq(e.nsigs, 2);
		ck_assert_mem_eq(e.sigs, sigs, sizeof(sigs));
		wire_upd_envelope_free(&e);
	}
	ck_assert_int_eq(wire_upd_envelope_encode(payload, 3, sigs, 0, &b), WIRE_UPD_E_TOO_BIG);
	wire_buf_free(&b);
}
END_TEST

#define SIG88 "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\""
#define ENV(payload, sigs) "{\"payloadType\":\"application/vnd.bulwark.manifest+json\"," \
	"\"payload\":" payload ",\"signatures\":" sigs "}"
#define ONESIG "[{\"keyid\":" H64 ",\"sig\":" SIG88 "}]"

static const struct bad_case bad_envelopes[] = {
	{ ENV("\"QQ==\"", ONESIG), 0, "" },
	{ ENV("\"QR==\"", ONESIG), WIRE_UPD_E_ENCODING, "envelope.payload: not canonical base64" },
	{ ENV("\"QQ=\"", ONESIG), WIRE_UPD_E_ENCODING, "envelope.payload" },
	{ ENV("\"Q Q=\"", ONESIG), WIRE_UPD_E_ENCODING, "envelope.payload" },
	{ ENV("\"QQ-_\"", ONESIG), WIRE_UPD_E_ENCODING, "envelope.payload" },
	{ ENV("\"QQ==\"", "[]"), WIRE_UPD_E_VALUE, "envelope.signatures: empty" },
	{ ENV("\"QQ==\"", "[{\"keyid\":" H64 ",\"sig\":\"AAAA\"}]"), WIRE_UPD_E_ENCODING,
	  "envelope.signatures[0].sig" },
	{ ENV("\"QQ==\"", "[{\"keyid\":" H64 ",\"sig\":" SIG88 ",\"x\":1}]"), WIRE_UPD_E_FIELD,
	  "envelope.signatures[0]: unknown field \"x\"" },
	{ ENV("\"QQ==\"", "[{\"sig\":" SIG88 "}]"), WIRE_UPD_E_FIELD,
	  "envelope.signatures[0].keyid: missing" },
	{ "{\"payloadType\":\"text/plain\",\"payload\":\"QQ==\",\"signatures\":" ONESIG "}",
	  WIRE_UPD_E_TYPE, "envelope.payloadType" },
	{ "{\"payload\":\"QQ==\",\"signatures\":" ONESIG "}", WIRE_UPD_E_FIELD,
	  "envelope.payloadType: missing" },
};

START_TEST(test_envelope_strict)
{
	const struct bad_case *c = &bad_envelopes[_i];
	struct wire_upd_envelope e;
	struct wire_upd_why why;
	int rc = wire_upd_envelope_decode((const uint8_t *)c->json, strlen(c->json), NULL, &e, &why);

	ck_assert_msg(rc == c->code, "case %d -> %d (%s), want %d", _i, rc, why.text, c->code);
	ck_assert_msg(strstr(why.text, c->why) != NULL, "case %d: \"%s\" lacks \"%s\"", _i,
		      why.text, c->why);
	if (rc == 0) {
		ck_assert_uint_eq(e.payload_len, 1);
		ck_assert_uint_eq(e.payload[0], 'A');
	} else {
		ck_assert_ptr_null(e.payload);
	}
	wire_upd_envelope_free(&e);
}
END_TEST

START_TEST(test_threshold)
{
	static const uint8_t body[] = "payload bytes";
	uint8_t keys[3][32], seed[32];
	struct wire_upd_sig s[4];
	uint32_t have, bad;

	for (int i = 0; i < 3; i++)
		pub_of((uint8_t)(20 + i), keys[i]);
	for (int i = 0; i < 2; i++) {
		seed_of(seed, (uint8_t)(20 + i));
		ck_assert_int_eq(sign_seed(seed, WIRE_UPD_PAYLOAD_TYPE, body, sizeof(body), &s[i]), 0);
	}
	/* One key: below 2. */
	ck_assert_int_eq(wire_upd_threshold(WIRE_UPD_PAYLOAD_TYPE, body, sizeof(body), s, 1,
					    (const uint8_t(*)[32])keys, 3, 2, &have, &bad), 1);
	ck_assert_uint_eq(have, 1);
	/* The same key's signature twice still counts once. */
	s[1] = s[0];
	ck_assert_int_eq(wire_upd_threshold(WIRE_UPD_PAYLOAD_TYPE, body, sizeof(body), s, 2,
					    (const uint8_t(*)[32])keys, 3, 2, &have, &bad), 1);
	ck_assert_uint_eq(have, 1);
	ck_assert_uint_eq(bad, 0);
	/* Two distinct keys meet k = 2; an unknown key's signature is ignored. */
	seed_of(seed, 21);
	ck_assert_int_eq(sign_seed(seed, WIRE_UPD_PAYLOAD_TYPE, body, sizeof(body), &s[1]), 0);
	seed_of(seed, 99);
	ck_assert_int_eq(sign_seed(seed, WIRE_UPD_PAYLOAD_TYPE, body, sizeof(body), &s[2]), 0);
	ck_assert_int_eq(wire_upd_threshold(WIRE_UPD_PAYLOAD_TYPE, body, sizeof(body), s, 3,
					    (const uint8_t(*)[32])keys, 3, 2, &have, &bad), 0);
	ck_assert_uint_eq(have, 2);
	ck_assert_uint_eq(bad, 0);
	/* A policy key's signature over other bytes (or another type) does not verify. */
	ck_assert_int_eq(wire_upd_threshold(WIRE_UPD_ROTATION_TYPE, body, sizeof(body), s, 3,
					    (const uint8_t(*)[32])keys, 3, 1, &have, &bad), 1);
	ck_assert_uint_eq(have, 0);
	ck_assert_uint_eq(bad, 2);
	/* A signature under a policy keyid forged by another key does not count. */
	s[3] = s[2];
	memcpy(s[3].keyid, s[0].keyid, 32);
	ck_assert_int_eq(wire_upd_threshold(WIRE_UPD_PAYLOAD_TYPE, body, sizeof(body), &s[3], 1,
					    (const uint8_t(*)[32])keys, 3, 1, &have, &bad), 1);
	ck_assert_uint_eq(bad, 1);
}
END_TEST

/* ---------------------------------------------------------------- ops, results */
START_TEST(test_ops_roundtrip)
{
	uint8_t keys[2][32], sig[64], rsigs[2 * 96];
	struct wire_upd_cert_sig rc3[3];
	struct wire_upd_op op, back;
	struct wire_buf b, rl, again;

	memset(keys, 1, sizeof(keys));
	memset(sig, 2, sizeof(sig));
	memset(rsigs, 3, sizeof(rsigs));
	wire_buf_init(&b);
	wire_buf_init(&rl);
	wire_buf_init(&again);

	memset(&op, 0, sizeof(op));
	op.type = WIRE_UPD_CHANNEL_CREATE;
	op.name.p = (const uint8_t *)"stable";
	op.name.len = 6;
	op.policy.k = 1;
	op.policy.m = 2;
	op.policy.keys = &keys[0][0];
	op.admin_sig = sig;
	ck_assert_int_eq(wire_upd_encode_op(&b, &op), 0);
	ck_assert_int_eq(wire_upd_decode_op(b.p, b.len, NULL, &back), 0);
	ck_assert_int_eq(wire_upd_encode_op(&again, &back), 0);
	ck_assert_uint_eq(again.len, b.len);
	ck_assert_mem_eq(again.p, b.p, b.len);
	ck_assert_int_eq(wire_upd_decode_op(b.p, b.len - 1, NULL, &back), WIRE_ERR_TRUNCATED);
	ck_assert_uint_eq(back.type, WIRE_UPD_CHANNEL_CREATE);
	wire_put_u8(&b, 0);
	ck_assert_int_eq(wire_upd_decode_op(b.p, b.len, NULL, &back), WIRE_ERR_TRAILING);

	/* PUBLISH with receipt lists of 3 and 0 pairs. */
	for (uint32_t i = 0; i < 3; i++) {
		rc3[i].replica = i;
		memset(rc3[i].sig, (int)i, 64);
	}
	wire_upd_put_receipts(&rl, rc3, 3);
	wire_upd_put_receipts(&rl, rc3, 0);
	memset(&op, 0, sizeof(op));
	op.type = WIRE_UPD_PUBLISH;
	op.name.p = (const uint8_t *)"stable";
	op.name.len = 6;
	op.envelope.p = (const uint8_t *)"{}";
	op.envelope.len = 2;
	op.nreceipts = 2;
	op.receipts.p = rl.p;
	op.receipts.len = (uint32_t)rl.len;
	wire_buf_reset(&b);
	wire_buf_reset(&again);
	ck_assert_int_eq(wire_upd_encode_op(&b, &op), 0);
	ck_assert_int_eq(wire_upd_decode_op(b.p, b.len, NULL, &back), 0);
	ck_assert_int_eq(wire_upd_encode_op(&again, &back), 0);
	ck_assert_mem_eq(again.p, b.p, b.len);
	struct wire_upd_riter it;
	const uint8_t *pairs;
	uint32_t n;
	struct wire_upd_cert_sig one;
	wire_upd_riter_init(&it, &back);
	ck_assert_int_eq(wire_upd_next_receipts(&it, &n, &pairs), 1);
	ck_assert_uint_eq(n, 3);
	wire_upd_receipt_pair(pairs, 2, &one);
	ck_assert_uint_eq(one.replica, 2);
	ck_assert_mem_eq(one.sig, rc3[2].sig, 64);
	ck_assert_int_eq(wire_upd_next_receipts(&it, &n, &pairs), 1);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(wire_upd_next_receipts(&it, &n, &pairs), 0);
	/* Receipt lists above the limit are refused before anything is read. */
	struct wire_upd_limits lim = wire_upd_limits_default;
	lim.max_chunks = 1;
	ck_assert_int_eq(wire_upd_decode_op(b.p, b.len, &lim, &back), WIRE_ERR_TOO_BIG);

	memset(&op, 0, sizeof(op));
	op.type = WIRE_UPD_POLICY_ROTATE;
	op.name.p = (const uint8_t *)"stable";
	op.name.len = 6;
	op.policy_version = 2;
	op.policy.k = 2;
	op.policy.m = 2;
	op.policy.keys = &keys[0][0];
	op.nsigs = 2;
	op.sigs = rsigs;
	wire_buf_reset(&b);
	wire_buf_reset(&again);
	ck_assert_int_eq(wire_upd_encode_op(&b, &op), 0);
	ck_assert_int_eq(wire_upd_decode_op(b.p, b.len, NULL, &back), 0);
	ck_assert_uint_eq(back.policy_version, 2);
	ck_assert_int_eq(wire_upd_encode_op(&again, &back), 0);
	ck_assert_mem_eq(again.p, b.p, b.len);

	static const uint8_t unknown[] = { 0x43, 0, 0, 0, 0 };
	ck_assert_int_eq(wire_upd_decode_op(unknown, sizeof(unknown), NULL, &back), WIRE_ERR_TYPE);
	ck_assert_int_eq(wire_upd_decode_op(unknown, 0, NULL, &back), WIRE_ERR_TRUNCATED);
	ck_assert(wire_upd_is_op(0x41));
	ck_assert(!wire_upd_is_op(1));
	wire_buf_free(&b);
	wire_buf_free(&rl);
	wire_buf_free(&again);
}
END_TEST

START_TEST(test_result_roundtrip)
{
	struct wire_upd_result r, back;
	struct wire_buf b, again;

	memset(&r, 0, sizeof(r));
	r.status = WIRE_UPD_MISSING_RECEIPTS;
	r.a = 4;
	r.b = 2;
	r.c = 3;
	memset(r.hash, 9, 32);
	r.text.p = (const uint8_t *)"chunk 4";
	r.text.len = 7;
	wire_buf_init(&b);
	wire_buf_init(&again);
	ck_assert_int_eq(wire_upd_encode_result(&b, &r), 0);
	ck_assert_int_eq(wire_upd_decode_result(b.p, b.len, &back), 0);
	ck_assert_uint_eq(back.status, r.status);
	ck_assert_uint_eq(back.a, 4);
	ck_assert_uint_eq(back.b, 2);
	ck_assert_uint_eq(back.c, 3);
	ck_assert_int_eq(wire_upd_encode_result(&again, &back), 0);
	ck_assert_mem_eq(again.p, b.p, b.len);
	ck_assert_int_eq(wire_upd_decode_result(b.p, b.len - 1, &back), WIRE_ERR_TRUNCATED);
	b.p[0] = WIRE_UPD_STATUS_MAX + 1;
	ck_assert_int_eq(wire_upd_decode_result(b.p, b.len, &back), WIRE_ERR_FIELD);
	r.status = WIRE_UPD_STATUS_MAX + 1;
	ck_assert_int_eq(wire_upd_encode_result(&b, &r), WIRE_ERR_FIELD);
	wire_buf_free(&b);
	wire_buf_free(&again);
}
END_TEST

/* ---------------------------------------------------------------- response documents */
START_TEST(test_response_roundtrip)
{
	static const uint8_t payload[] = "manifest bytes";
	struct wire_upd_response *r = calloc(1, sizeof(*r)), *back = calloc(1, sizeof(*back));
	struct wire_upd_sig sig;
	struct wire_upd_why why;
	struct wire_buf env, doc, doc2, env2;
	uint8_t seed[32];

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_nonnull(back);
	seed_of(seed, 5);
	ck_assert_int_eq(sign_seed(seed, WIRE_UPD_PAYLOAD_TYPE, payload, sizeof(payload), &sig), 0);
	wire_buf_init(&env);
	wire_buf_init(&doc);
	wire_buf_init(&doc2);
	wire_buf_init(&env2);
	ck_assert_int_eq(wire_upd_envelope_encode(payload, sizeof(payload), &sig, 1, &env), 0);
	r->proof.version = 9;
	r->proof.index = 3;
	r->proof.size = 5;
	r->proof.pathlen = 3;
	memset(r->proof.path, 0x11, sizeof(r->proof.path[0]) * 3);
	r->cert.st.group = UINT64_MAX; /* above 2^53: travels as a decimal string */
	r->cert.st.epoch = 2;
	r->cert.st.seq = 77;
	r->cert.st.time_ms = 1700000000000ull;
	r->cert.st.expires_ms = 1700000060000ull;
	memset(r->cert.st.index_root, 0x22, 32);
	r->cert.st.log_size = 12;
	memset(r->cert.st.log_root, 0x33, 32);
	r->cert.nsigs = 2;
	r->cert.sigs[0].replica = 3;
	memset(r->cert.sigs[0].sig, 0x44, 64);
	r->cert.sigs[1].replica = 0;
	memset(r->cert.sigs[1].sig, 0x55, 64);
	ck_assert_int_eq(wire_upd_response_encode(env.p, env.len, &r->proof, &r->cert, &doc), 0);
	ck_assert_int_eq(wire_upd_response_decode(doc.p, doc.len, NULL, back, &why), 0);
	ck_assert_uint_eq(back->env.payload_len, sizeof(payload));
	ck_assert_mem_eq(back->env.payload, payload, sizeof(payload));
	ck_assert_mem_eq(&back->proof, &r->proof, sizeof(r->proof));
	ck_assert_mem_eq(&back->cert.st, &r->cert.st, sizeof(r->cert.st));
	ck_assert_uint_eq(back->cert.nsigs, 2);
	ck_assert_mem_eq(back->cert.sigs, r->cert.sigs, 2 * sizeof(r->cert.sigs[0]));
	/* Encoding again gives the same document. */
	ck_assert_int_eq(wire_upd_envelope_encode(back->env.payload, back->env.payload_len,
						  back->env.sigs, back->env.nsigs, &env2), 0);
	ck_assert_int_eq(wire_upd_response_encode(env2.p, env2.len, &back->proof, &back->cert,
						  &doc2), 0);
	ck_assert_uint_eq(doc2.len, doc.len);
	ck_assert_mem_eq(doc2.p, doc.p, doc.len);
	wire_upd_response_free(back);

	/* Strictness of the parts specific to the response. */
	static const struct { const char *from, *to, *why; } edits[] = {
		{ "\"index\":3", "\"index\":3,\"x\":1", "proof: unknown field \"x\"" },
		{ "\"group\":\"18446744073709551615\"", "\"group\":\"18446744073709551616\"",
		  "group: not a decimal 64-bit integer" },
		{ "\"group\":\"18446744073709551615\"", "\"group\":18", "group: not a string" },
		{ "\"replica\":3", "\"replica\":64", "replica: not below 64" },
		{ "\"seq\":77", "\"seq\":-77", "seq: outside" },
		{ "\"log_size\":12,", "", "log_size: missing" },
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *s = calloc(1, doc.len + 64);
		const char *at;
		ck_assert_ptr_nonnull(s);
		memcpy(s, doc.p, doc.len);
		at = strstr(s, edits[i].from);
		ck_assert_msg(at != NULL, "edit %zu: %s not in the document", i, edits[i].from);
		char *tail = strdup(at + strlen(edits[i].from));
		strcpy(s + (at - s), edits[i].to);
		strcat(s, tail);
		free(tail);
		ck_assert_int_ne(wire_upd_response_decode((const uint8_t *)s, strlen(s), NULL, back,
							  &why), 0);
		ck_assert_msg(strstr(why.text, edits[i].why) != NULL, "edit %zu: \"%s\" lacks \"%s\"",
			      i, why.text, edits[i].why);
		free(s);
	}
	/* Out-of-range numbers cannot be encoded. */
	r->cert.st.seq = WIRE_UPD_JSON_INT_MAX + 1;
	ck_assert_int_eq(wire_upd_response_encode(env.p, env.len, &r->proof, &r->cert, &doc),
			 WIRE_UPD_E_VALUE);
	r->cert.st.seq = 77;
	ck_assert_int_eq(wire_upd_response_encode((const uint8_t *)"[]", 2, &r->proof, &r->cert,
						  &doc), WIRE_UPD_E_JSON);
	wire_buf_free(&env);
	wire_buf_free(&env2);
	wire_buf_free(&doc);
	wire_buf_free(&doc2);
	free(r);
	free(back);
}
END_TEST

/* ---------------------------------------------------------------- client manifest API */
START_TEST(test_client_manifest_api)
{
	struct wire_upd_manifest m;
	struct bulwark_manifest *bm;
	struct bulwark_file_info fi;
	struct bulwark_file_check *fc;
	struct wire_buf b;
	uint8_t h[32], want[32];
	uint64_t off, size;
	char err[256];
	uint8_t *data = file_bytes(300000, 0);

	make_manifest(&m, "stable/x", 3);
	wire_buf_init(&b);
	ck_assert_int_eq(wire_upd_manifest_encode(&m, &b), 0);
	ck_assert_int_eq(bulwark_manifest_parse(b.p, b.len, &bm, err, sizeof(err)), 0);
	ck_assert_str_eq(bulwark_manifest_channel(bm), "stable/x");
	ck_assert_uint_eq(bulwark_manifest_version(bm), 3);
	ck_assert_uint_eq(bulwark_manifest_created(bm), 1700000000);
	ck_assert_uint_eq(bulwark_manifest_expires(bm), 1800000000);
	ck_assert_uint_eq(bulwark_manifest_chunk_size(bm), WIRE_UPD_DEFAULT_CHUNK);
	ck_assert_uint_eq(bulwark_manifest_nfiles(bm), 3);
	crypto_sha256(b.p, b.len, want);
	ck_assert_mem_eq(bulwark_manifest_hash(bm), want, 32);
	ck_assert_int_eq(bulwark_manifest_file(bm, 0, &fi), 0);
	ck_assert_str_eq(fi.path, "bin/tool");
	ck_assert_uint_eq(fi.size, 300000);
	ck_assert_uint_eq(fi.nchunks, 2);
	ck_assert_int_eq(bulwark_manifest_file(bm, 3, &fi), BULWARK_UPD_ERR_ARG);
	ck_assert_int_eq(bulwark_manifest_chunk(bm, 0, 1, h, &off, &size), 0);
	ck_assert_uint_eq(off, WIRE_UPD_DEFAULT_CHUNK);
	ck_assert_uint_eq(size, 300000 - WIRE_UPD_DEFAULT_CHUNK);
	ck_assert_mem_eq(h, m.files[0].chunks[1], 32);
	ck_assert_int_eq(bulwark_manifest_chunk(bm, 0, 2, h, &off, &size), BULWARK_UPD_ERR_ARG);

	/* Chunks: right bytes pass; a flipped byte or a short chunk is refused. */
	ck_assert_int_eq(bulwark_verify_chunk(bm, 0, 1, data + off, size, err, sizeof(err)), 0);
	data[off + 5] ^= 1;
	ck_assert_int_eq(bulwark_verify_chunk(bm, 0, 1, data + off, size, err, sizeof(err)),
			 BULWARK_UPD_ERR_CHUNK);
	ck_assert_ptr_nonnull(strstr(err, "bin/tool chunk 1: bytes do not hash to"));
	ck_assert_int_eq(bulwark_verify_file(bm, 0, data, 300000, err, sizeof(err)),
			 BULWARK_UPD_ERR_CHUNK);
	data[off + 5] ^= 1;
	ck_assert_int_eq(bulwark_verify_chunk(bm, 0, 1, data + off, size - 1, err, sizeof(err)),
			 BULWARK_UPD_ERR_CHUNK);
	ck_assert_int_eq(bulwark_verify_file(bm, 0, data, 300000, err, sizeof(err)), 0);
	ck_assert_int_eq(bulwark_verify_file(bm, 0, data, 299999, err, sizeof(err)),
			 BULWARK_UPD_ERR_FILE);
	ck_assert_int_eq(bulwark_verify_file(bm, 2, NULL, 0, err, sizeof(err)), 0);

	/* Incremental: chunks in order, then the whole; too few or too many are refused. */
	ck_assert_int_eq(bulwark_file_check_new(bm, 0, &fc), 0);
	ck_assert_int_eq(bulwark_file_check_add(fc, data, WIRE_UPD_DEFAULT_CHUNK, err, sizeof(err)), 0);
	ck_assert_int_eq(bulwark_file_check_finish(fc, err, sizeof(err)), BULWARK_UPD_ERR_FILE);
	ck_assert_ptr_nonnull(strstr(err, "1 of its 2 chunks"));
	ck_assert_int_eq(bulwark_file_check_add(fc, data + off, size, err, sizeof(err)), 0);
	ck_assert_int_eq(bulwark_file_check_add(fc, data + off, size, err, sizeof(err)),
			 BULWARK_UPD_ERR_FILE);
	bulwark_file_check_free(fc);
	ck_assert_int_eq(bulwark_file_check_new(bm, 0, &fc), 0);
	ck_assert_int_eq(bulwark_file_check_add(fc, data + off, size, err, sizeof(err)),
			 BULWARK_UPD_ERR_CHUNK); /* chunk 1's bytes given as chunk 0 */
	ck_assert_int_eq(bulwark_file_check_finish(fc, err, sizeof(err)), BULWARK_UPD_ERR_FILE);
	bulwark_file_check_free(fc);
	ck_assert_int_eq(bulwark_file_check_new(bm, 0, &fc), 0);
	ck_assert_int_eq(bulwark_file_check_add(fc, data, WIRE_UPD_DEFAULT_CHUNK, err, sizeof(err)), 0);
	ck_assert_int_eq(bulwark_file_check_add(fc, data + off, size, err, sizeof(err)), 0);
	ck_assert_int_eq(bulwark_file_check_finish(fc, err, sizeof(err)), 0);
	bulwark_file_check_free(fc);

	bulwark_manifest_free(bm);
	b.p[0] = '[';
	ck_assert_int_eq(bulwark_manifest_parse(b.p, b.len, &bm, err, sizeof(err)),
			 BULWARK_UPD_ERR_MANIFEST);
	ck_assert_ptr_null(bm);
	ck_assert_str_eq(bulwark_upd_strerror(BULWARK_UPD_ERR_CERT_EXPIRED),
			 "certificate has expired (freeze)");
	free(data);
	wire_upd_manifest_free(&m);
	wire_buf_free(&b);
}
END_TEST

static Suite *manifest_suite(void)
{
	Suite *s = suite_create("client_manifest");
	TCase *tc = tcase_create("formats");

	tcase_add_test(tc, test_pae_dsse_example);
	tcase_add_test(tc, test_pinned_hashes);
	tcase_add_test(tc, test_hex_and_names);
	tcase_add_test(tc, test_manifest_roundtrip);
	tcase_add_loop_test(tc, test_manifest_strict, 0,
			    (int)(sizeof(bad_manifests) / sizeof(bad_manifests[0])));
	tcase_add_test(tc, test_manifest_limits);
	tcase_add_test(tc, test_envelope_roundtrip);
	tcase_add_loop_test(tc, test_envelope_strict, 0,
			    (int)(sizeof(bad_envelopes) / sizeof(bad_envelopes[0])));
	tcase_add_test(tc, test_threshold);
	tcase_add_test(tc, test_ops_roundtrip);
	tcase_add_test(tc, test_result_roundtrip);
	tcase_add_test(tc, test_response_roundtrip);
	tcase_add_test(tc, test_client_manifest_api);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(manifest_suite)
