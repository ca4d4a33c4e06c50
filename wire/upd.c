/* upd.c: the binary signed-update formats (wire/upd.h): PAE and the threshold rule,
 * index leaves, statements, receipts, update-service operations and results. */
#include "wire/upd.h"

#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"

#define UPD_PAIR_LEN (4u + WIRE_UPD_SIG_LEN)        /* receipt: replica u32, sig */
#define UPD_RSIG_LEN (WIRE_UPD_HASH_LEN + WIRE_UPD_SIG_LEN) /* rotation: keyid, sig */

static const char *const upd_errors[] = {
	[0] = "success",
	[1] = "bad argument",
	[2] = "out of memory",
	[3] = "not a valid JSON document",
	[4] = "document, string, array or count above its limit",
	[5] = "unknown, missing or wrongly typed field",
	[6] = "value outside its allowed range or form",
	[7] = "bad hex or base64 encoding",
	[8] = "file path breaks the path rules or is repeated",
	[9] = "chunk list inconsistent with size and chunk_size",
	[10] = "unexpected document type",
	[11] = "not a valid channel name",
};

const char *wire_upd_strerror(int err)
{
	size_t n = sizeof(upd_errors) / sizeof(upd_errors[0]);
	size_t i = err <= 0 ? (size_t)-(long)err : n;

	return i < n ? upd_errors[i] : "unknown update-format error";
}

static const char *const upd_status_names[] = {
	[WIRE_UPD_OK] = "OK",
	[WIRE_UPD_BAD_OP] = "BAD_OP",
	[WIRE_UPD_NO_CHANNEL] = "NO_CHANNEL",
	[WIRE_UPD_EXISTS] = "EXISTS",
	[WIRE_UPD_NOT_ADMIN] = "NOT_ADMIN",
	[WIRE_UPD_BAD_POLICY] = "BAD_POLICY",
	[WIRE_UPD_BELOW_THRESHOLD] = "BELOW_THRESHOLD",
	[WIRE_UPD_ROLLBACK] = "ROLLBACK",
	[WIRE_UPD_EXPIRED] = "EXPIRED",
	[WIRE_UPD_EXPIRES_TOO_FAR] = "EXPIRES_TOO_FAR",
	[WIRE_UPD_MISSING_RECEIPTS] = "MISSING_RECEIPTS",
	[WIRE_UPD_BAD_MANIFEST] = "BAD_MANIFEST",
	[WIRE_UPD_BAD_ENVELOPE] = "BAD_ENVELOPE",
	[WIRE_UPD_RECEIPT_COUNT] = "RECEIPT_COUNT",
	[WIRE_UPD_CHANNEL_MISMATCH] = "CHANNEL_MISMATCH",
	[WIRE_UPD_BAD_SIGNATURE] = "BAD_SIGNATURE",
};

const char *wire_upd_status_name(uint8_t status)
{
	return status <= WIRE_UPD_STATUS_MAX ? upd_status_names[status] : "UNKNOWN";
}

const char *wire_upd_op_name(uint8_t type)
{
	switch (type) {
	case WIRE_UPD_CHANNEL_CREATE:
		return "CHANNEL_CREATE";
	case WIRE_UPD_PUBLISH:
		return "PUBLISH";
	case WIRE_UPD_POLICY_ROTATE:
		return "POLICY_ROTATE";
	default:
		return "UNKNOWN";
	}
}

int wire_upd_is_op(uint8_t type)
{
	return type == WIRE_UPD_CHANNEL_CREATE || type == WIRE_UPD_PUBLISH ||
	       type == WIRE_UPD_POLICY_ROTATE;
}

/* ---------------------------------------------------------------- hex */
void wire_upd_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int upd_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int wire_upd_unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (slen != 2 * n)
		return WIRE_UPD_E_ENCODING;
	for (size_t i = 0; i < n; i++) {
		int hi = upd_nibble(s[2 * i]), lo = upd_nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return WIRE_UPD_E_ENCODING;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ---------------------------------------------------------------- names and chunks */
int wire_upd_check_channel(const char *s, size_t len)
{
	size_t comp = 0; /* start of the current component */

	if (s == NULL || len == 0 || len > WIRE_UPD_MAX_CHANNEL)
		return WIRE_UPD_E_CHANNEL;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			size_t clen = i - comp;
			if (clen == 0 || (clen == 1 && s[comp] == '.') ||
			    (clen == 2 && s[comp] == '.' && s[comp + 1] == '.'))
				return WIRE_UPD_E_CHANNEL;
			comp = i + 1;
			continue;
		}
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return WIRE_UPD_E_CHANNEL;
	}
	return 0;
}

uint64_t wire_upd_chunk_count(uint64_t size, uint32_t chunk_size)
{
	if (chunk_size == 0)
		return 0;
	return size / chunk_size + (size % chunk_size != 0);
}

uint64_t wire_upd_chunk_len(uint64_t size, uint32_t chunk_size, uint32_t i)
{
	uint64_t off = (uint64_t)i * chunk_size;

	if (chunk_size == 0 || off >= size)
		return 0;
	return size - off < chunk_size ? size - off : chunk_size;
}

/* ---------------------------------------------------------------- PAE, signatures */
void wire_upd_keyid(const uint8_t pub[WIRE_UPD_KEY_LEN], uint8_t keyid[WIRE_UPD_HASH_LEN])
{
	crypto_sha256(pub, WIRE_UPD_KEY_LEN, keyid);
}

int wire_upd_pae(const char *type, const uint8_t *body, size_t len, struct wire_buf *out)
{
	char num[24];
	size_t tlen = strlen(type);
	int n;

	wire_put_fixed(out, "DSSEv1 ", 7);
	n = snprintf(num, sizeof(num), "%zu ", tlen);
	wire_put_fixed(out, num, (size_t)n);
	wire_put_fixed(out, type, tlen);
	n = snprintf(num, sizeof(num), " %zu ", len);
	wire_put_fixed(out, num, (size_t)n);
	wire_put_fixed(out, body, len);
	return wire_buf_error(out);
}

int wire_upd_sign(const struct crypto_ed25519_key *key, const char *type, const uint8_t *body,
		  size_t len, struct wire_upd_sig *sig)
{
	struct wire_buf pae;
	int rc;

	wire_buf_init(&pae);
	if (wire_upd_pae(type, body, len, &pae) != 0) {
		wire_buf_free(&pae);
		return WIRE_UPD_E_NOMEM;
	}
	wire_upd_keyid(key->pub, sig->keyid);
	rc = crypto_ed25519_sign(key, pae.p, pae.len, sig->sig);
	wire_buf_free(&pae);
	return rc;
}

int wire_upd_threshold(const char *type, const uint8_t *body, size_t len,
		       const struct wire_upd_sig *sigs, uint32_t nsigs,
		       const uint8_t (*keys)[WIRE_UPD_KEY_LEN], uint32_t m, uint32_t k,
		       uint32_t *have, uint32_t *bad)
{
	struct wire_buf pae;

	*have = 0;
	*bad = 0;
	wire_buf_init(&pae);
	if (wire_upd_pae(type, body, len, &pae) != 0) {
		wire_buf_free(&pae);
		return WIRE_UPD_E_NOMEM;
	}
	for (uint32_t j = 0; j < m; j++) {
		uint8_t keyid[WIRE_UPD_HASH_LEN];
		int counted = 0;

		wire_upd_keyid(keys[j], keyid);
		for (uint32_t i = 0; i < nsigs; i++) {
			if (memcmp(sigs[i].keyid, keyid, sizeof(keyid)) != 0)
				continue;
			if (crypto_ed25519_verify_raw(keys[j], pae.p, pae.len, sigs[i].sig) != 0) {
				(*bad)++;
				continue;
			}
			if (!counted) {
				(*have)++;
				counted = 1;
			}
		}
	}
	wire_buf_free(&pae);
	return *have >= k ? 0 : 1;
}

/* ---------------------------------------------------------------- index, statement, receipt */
static uint8_t *upd_st64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 8;
}

static uint64_t upd_ld64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

size_t wire_upd_leaf(const char *name, size_t namelen, uint64_t version,
		     const uint8_t hash[WIRE_UPD_HASH_LEN], uint8_t out[WIRE_UPD_LEAF_MAX])
{
	uint8_t *p = out;

	if (namelen > WIRE_UPD_MAX_CHANNEL)
		return 0;
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(namelen >> (8 * i));
	p += 4;
	memcpy(p, name, namelen);
	p = upd_st64(p + namelen, version);
	memcpy(p, hash, WIRE_UPD_HASH_LEN);
	return (size_t)(p + WIRE_UPD_HASH_LEN - out);
}

int wire_upd_leaf_hash(const char *name, size_t namelen, uint64_t version,
		       const uint8_t hash[WIRE_UPD_HASH_LEN], uint8_t out[WIRE_UPD_HASH_LEN])
{
	uint8_t leaf[WIRE_UPD_LEAF_MAX];
	size_t n = wire_upd_leaf(name, namelen, version, hash, leaf);

	if (n == 0)
		return WIRE_UPD_E_CHANNEL;
	crypto_merkle_leaf(leaf, n, out);
	return 0;
}

void wire_upd_statement_encode(const struct wire_upd_statement *s,
			       uint8_t out[WIRE_UPD_STATEMENT_LEN])
{
	uint8_t *p = out;

	memcpy(p, WIRE_UPD_STATEMENT_DOMAIN, 20);
	p = upd_st64(p + 20, s->group);
	p = upd_st64(p, s->epoch);
	p = upd_st64(p, s->seq);
	p = upd_st64(p, s->time_ms);
	p = upd_st64(p, s->expires_ms);
	memcpy(p, s->index_root, WIRE_UPD_HASH_LEN);
	p = upd_st64(p + WIRE_UPD_HASH_LEN, s->log_size);
	memcpy(p, s->log_root, WIRE_UPD_HASH_LEN);
}

int wire_upd_statement_decode(const uint8_t in[WIRE_UPD_STATEMENT_LEN],
			      struct wire_upd_statement *s)
{
	const uint8_t *p = in + 20;

	memset(s, 0, sizeof(*s));
	if (memcmp(in, WIRE_UPD_STATEMENT_DOMAIN, 20) != 0)
		return WIRE_ERR_FIELD;
	s->group = upd_ld64(p);
	s->epoch = upd_ld64(p + 8);
	s->seq = upd_ld64(p + 16);
	s->time_ms = upd_ld64(p + 24);
	s->expires_ms = upd_ld64(p + 32);
	memcpy(s->index_root, p + 40, WIRE_UPD_HASH_LEN);
	s->log_size = upd_ld64(p + 72);
	memcpy(s->log_root, p + 80, WIRE_UPD_HASH_LEN);
	return 0;
}

void wire_upd_receipt_bytes(uint64_t group, uint64_t epoch, const uint8_t sha256[WIRE_UPD_HASH_LEN],
			    uint64_t size, uint8_t out[WIRE_UPD_RECEIPT_LEN])
{
	uint8_t *p = out;

	memcpy(p, WIRE_UPD_RECEIPT_DOMAIN, 18);
	p = upd_st64(p + 18, group);
	p = upd_st64(p, epoch);
	memcpy(p, sha256, WIRE_UPD_HASH_LEN);
	upd_st64(p + WIRE_UPD_HASH_LEN, size);
}

uint32_t wire_upd_cert_count(const struct wire_upd_cert *c, const uint8_t (*keys)[WIRE_UPD_KEY_LEN],
			     uint32_t n)
{
	uint8_t msg[WIRE_UPD_STATEMENT_LEN];
	uint64_t seen = 0; /* n <= WIRE_UPD_MAX_REPLICAS = 64 */
	uint32_t count = 0;

	if (n > WIRE_UPD_MAX_REPLICAS)
		n = WIRE_UPD_MAX_REPLICAS;
	wire_upd_statement_encode(&c->st, msg);
	for (uint32_t i = 0; i < c->nsigs && i < WIRE_UPD_MAX_REPLICAS; i++) {
		uint32_t r = c->sigs[i].replica;
		if (r >= n || (seen >> r & 1u) != 0)
			continue;
		if (crypto_ed25519_verify_raw(keys[r], msg, sizeof(msg), c->sigs[i].sig) != 0)
			continue;
		seen |= (uint64_t)1 << r;
		count++;
	}
	return count;
}

/* ---------------------------------------------------------------- operations */
/* Borrow n bytes from the cursor (NULL after an error). */
static const uint8_t *upd_take(struct wire_cursor *c, size_t n)
{
	const uint8_t *p;

	if (c->err != 0)
		return NULL;
	if ((size_t)(c->end - c->p) < n) {
		c->err = WIRE_ERR_TRUNCATED;
		return NULL;
	}
	p = c->p;
	c->p += n;
	return p;
}

/* A count u32 above max is WIRE_ERR_TOO_BIG. */
static uint32_t upd_get_count(struct wire_cursor *c, uint32_t max)
{
	uint32_t n = wire_get_u32(c);

	if (c->err == 0 && n > max) {
		c->err = WIRE_ERR_TOO_BIG;
		return 0;
	}
	return n;
}

static void upd_get_policy(struct wire_cursor *c, struct wire_upd_op *op)
{
	op->policy.k = wire_get_u32(c);
	op->policy.m = upd_get_count(c, WIRE_UPD_MAX_KEYS);
	op->policy.keys = upd_take(c, (size_t)op->policy.m * WIRE_UPD_KEY_LEN);
}

int wire_upd_decode_op(const uint8_t *p, size_t len, const struct wire_upd_limits *lim,
		       struct wire_upd_op *op)
{
	struct wire_cursor c;

	if (lim == NULL)
		lim = &wire_upd_limits_default;
	memset(op, 0, sizeof(*op));
	wire_cursor_init(&c, p, len);
	op->type = wire_get_u8(&c);
	if (c.err != 0)
		return c.err;
	switch (op->type) {
	case WIRE_UPD_CHANNEL_CREATE:
		op->name = wire_get_bytes(&c, WIRE_UPD_MAX_CHANNEL);
		upd_get_policy(&c, op);
		op->admin_sig = upd_take(&c, WIRE_UPD_SIG_LEN);
		break;
	case WIRE_UPD_PUBLISH:
		op->name = wire_get_bytes(&c, WIRE_UPD_MAX_CHANNEL);
		op->envelope = wire_get_bytes(&c, lim->max_document);
		op->nreceipts = upd_get_count(&c, lim->max_chunks);
		op->receipts.p = c.p;
		for (uint32_t i = 0; i < op->nreceipts && c.err == 0; i++) {
			uint32_t n = upd_get_count(&c, WIRE_UPD_MAX_REPLICAS);
			upd_take(&c, (size_t)n * UPD_PAIR_LEN);
		}
		if (c.err == 0)
			op->receipts.len = (uint32_t)(c.p - op->receipts.p);
		break;
	case WIRE_UPD_POLICY_ROTATE:
		op->name = wire_get_bytes(&c, WIRE_UPD_MAX_CHANNEL);
		op->policy_version = wire_get_u64(&c);
		upd_get_policy(&c, op);
		op->nsigs = upd_get_count(&c, WIRE_UPD_MAX_SIGS);
		op->sigs = upd_take(&c, (size_t)op->nsigs * UPD_RSIG_LEN);
		break;
	default:
		return WIRE_ERR_TYPE;
	}
	int rc = wire_cursor_end(&c);
	if (rc != 0) {
		uint8_t type = op->type;
		memset(op, 0, sizeof(*op));
		op->type = type;
	}
	return rc;
}

static void upd_put_policy(struct wire_buf *b, const struct wire_upd_policy *pol)
{
	wire_put_u32(b, pol->k);
	wire_put_u32(b, pol->m);
	wire_put_fixed(b, pol->keys, (size_t)pol->m * WIRE_UPD_KEY_LEN);
}

int wire_upd_encode_op(struct wire_buf *b, const struct wire_upd_op *op)
{
	switch (op->type) {
	case WIRE_UPD_CHANNEL_CREATE:
		wire_put_u8(b, op->type);
		wire_put_bytes(b, op->name.p, op->name.len);
		upd_put_policy(b, &op->policy);
		wire_put_fixed(b, op->admin_sig, WIRE_UPD_SIG_LEN);
		break;
	case WIRE_UPD_PUBLISH:
		wire_put_u8(b, op->type);
		wire_put_bytes(b, op->name.p, op->name.len);
		wire_put_bytes(b, op->envelope.p, op->envelope.len);
		wire_put_u32(b, op->nreceipts);
		wire_put_fixed(b, op->receipts.p, op->receipts.len);
		break;
	case WIRE_UPD_POLICY_ROTATE:
		wire_put_u8(b, op->type);
		wire_put_bytes(b, op->name.p, op->name.len);
		wire_put_u64(b, op->policy_version);
		upd_put_policy(b, &op->policy);
		wire_put_u32(b, op->nsigs);
		wire_put_fixed(b, op->sigs, (size_t)op->nsigs * UPD_RSIG_LEN);
		break;
	default:
		return WIRE_ERR_TYPE;
	}
	return wire_buf_error(b);
}

void wire_upd_put_receipts(struct wire_buf *b, const struct wire_upd_cert_sig *r, uint32_t n)
{
	wire_put_u32(b, n);
	for (uint32_t i = 0; i < n; i++) {
		wire_put_u32(b, r[i].replica);
		wire_put_fixed(b, r[i].sig, WIRE_UPD_SIG_LEN);
	}
}

void wire_upd_riter_init(struct wire_upd_riter *it, const struct wire_upd_op *op)
{
	it->p = op->receipts.p;
	it->end = op->receipts.p == NULL ? NULL : op->receipts.p + op->receipts.len;
}

int wire_upd_next_receipts(struct wire_upd_riter *it, uint32_t *n, const uint8_t **pairs)
{
	struct wire_cursor c;

	if (it->p == NULL || it->p >= it->end)
		return 0;
	wire_cursor_init(&c, it->p, (size_t)(it->end - it->p));
	*n = upd_get_count(&c, WIRE_UPD_MAX_REPLICAS);
	*pairs = upd_take(&c, (size_t)*n * UPD_PAIR_LEN);
	if (c.err != 0) {
		it->p = it->end;
		return 0;
	}
	it->p = c.p;
	return 1;
}

void wire_upd_receipt_pair(const uint8_t *pairs, uint32_t i, struct wire_upd_cert_sig *out)
{
	const uint8_t *p = pairs + (size_t)i * UPD_PAIR_LEN;

	out->replica = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		       (uint32_t)p[3] << 24;
	memcpy(out->sig, p + 4, WIRE_UPD_SIG_LEN);
}

static void upd_put_domain(struct wire_buf *out, const char *domain, uint64_t group, uint64_t epoch)
{
	wire_put_fixed(out, domain, strlen(domain));
	wire_put_u64(out, group);
	wire_put_u64(out, epoch);
}

int wire_upd_create_signed_bytes(uint64_t group, uint64_t epoch, const struct wire_upd_op *op,
				 struct wire_buf *out)
{
	upd_put_domain(out, WIRE_UPD_CREATE_DOMAIN, group, epoch);
	wire_put_bytes(out, op->name.p, op->name.len);
	upd_put_policy(out, &op->policy);
	return wire_buf_error(out);
}

int wire_upd_rotate_signed_bytes(uint64_t group, uint64_t epoch, const struct wire_upd_op *op,
				 struct wire_buf *out)
{
	upd_put_domain(out, WIRE_UPD_ROTATION_DOMAIN, group, epoch);
	wire_put_bytes(out, op->name.p, op->name.len);
	wire_put_u64(out, op->policy_version);
	upd_put_policy(out, &op->policy);
	return wire_buf_error(out);
}

/* ---------------------------------------------------------------- results */
int wire_upd_encode_result(struct wire_buf *b, const struct wire_upd_result *r)
{
	if (r->status > WIRE_UPD_STATUS_MAX)
		return WIRE_ERR_FIELD;
	if (r->text.len > WIRE_UPD_MAX_TEXT)
		return WIRE_ERR_TOO_BIG;
	wire_put_u8(b, r->status);
	wire_put_u8(b, r->reason);
	wire_put_u64(b, r->a);
	wire_put_u64(b, r->b);
	wire_put_u64(b, r->c);
	wire_put_fixed(b, r->hash, WIRE_UPD_HASH_LEN);
	wire_put_bytes(b, r->text.p, r->text.len);
	return wire_buf_error(b);
}

int wire_upd_decode_result(const uint8_t *p, size_t len, struct wire_upd_result *r)
{
	struct wire_cursor c;

	memset(r, 0, sizeof(*r));
	wire_cursor_init(&c, p, len);
	r->status = wire_get_u8(&c);
	if (c.err == 0 && r->status > WIRE_UPD_STATUS_MAX)
		return WIRE_ERR_FIELD;
	r->reason = wire_get_u8(&c);
	r->a = wire_get_u64(&c);
	r->b = wire_get_u64(&c);
	r->c = wire_get_u64(&c);
	wire_get_fixed(&c, r->hash, WIRE_UPD_HASH_LEN);
	r->text = wire_get_bytes(&c, WIRE_UPD_MAX_TEXT);
	return wire_cursor_end(&c);
}
