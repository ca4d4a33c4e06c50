/* updates.c: the replicated update service: CHANNEL_CREATE, PUBLISH and POLICY_ROTATE
 * executed deterministically in the store's transaction, the channel index, the
 * transparency log, statements, and each replica's local chunk storage. */
#include "replica/app/updates.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPD_KEY_CHANNEL ((uint8_t)'c')
#define UPD_KEY_MANIFEST ((uint8_t)'m')
#define UPD_KEY_NAME ((uint8_t)'n')
#define UPD_KEY_NAMES ((uint8_t)'N')
#define UPD_KEY_LEAF ((uint8_t)'l')
#define UPD_KEY_LOGSIZE ((uint8_t)'L')

#define UPD_DAY_S (24ull * 3600ull)
#define UPD_RSIG_LEN (WIRE_UPD_HASH_LEN + WIRE_UPD_SIG_LEN)

static const char *const upd_errors[] = {
	[0] = "success",
	[1] = "bad argument or configuration",
	[2] = "out of memory",
	[3] = "storage failure",
	[4] = "stored update record or chunk is malformed",
	[5] = "chunk bytes do not match their SHA-256",
	[6] = "no such channel, manifest or chunk",
	[7] = "range outside the chunk",
	[8] = "chunk too big",
	[9] = "signing failed",
};

const char *updates_strerror(int err)
{
	size_t n = sizeof(upd_errors) / sizeof(upd_errors[0]);
	size_t i = err <= 0 ? (size_t)-(long)err : n;

	return i < n ? upd_errors[i] : "unknown updates error";
}

void updates_config_default(struct updates_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_expiry_s = 365 * UPD_DAY_S;
	cfg->statement_validity_ms = 5 * 60 * 1000;
	cfg->limits = wire_upd_limits_default;
}

/* ---------------------------------------------------------------- errors */
static int upd_fail(struct updates *u, int err)
{
	u->err = err;
	return err;
}

static int upd_store_fail(struct updates *u, int rc)
{
	if (rc == 0)
		return 0;
	if (rc == STORE_ERR_NOMEM)
		return upd_fail(u, UPDATES_ERR_NOMEM);
	u->store_err = rc;
	return upd_fail(u, UPDATES_ERR_STORE);
}

const char *updates_last_error(const struct updates *u)
{
	if (u->err == UPDATES_ERR_STORE && u->store != NULL) {
		const char *m = store_last_error(u->store);
		return m[0] != '\0' ? m : store_strerror(u->store_err);
	}
	return u->err != 0 ? updates_strerror(u->err) : "";
}

/* ---------------------------------------------------------------- keys and records */
static void upd_be64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* u->key = tag | name [| 0x00 | version be64 when with_version]. */
static int upd_key(struct updates *u, uint8_t tag, const uint8_t *name, size_t len,
		   int with_version, uint64_t version)
{
	wire_buf_reset(&u->key);
	wire_put_u8(&u->key, tag);
	wire_put_fixed(&u->key, name, len);
	if (with_version) {
		uint8_t be[8];
		upd_be64(be, version);
		wire_put_u8(&u->key, 0);
		wire_put_fixed(&u->key, be, sizeof(be));
	}
	return wire_buf_error(&u->key) != 0 ? upd_fail(u, UPDATES_ERR_NOMEM) : 0;
}

static int upd_key_index(struct updates *u, uint8_t tag, uint64_t i)
{
	uint8_t be[8];

	upd_be64(be, i);
	return upd_key(u, tag, be, sizeof(be), 0, 0);
}

struct upd_chanrec {
	uint64_t policy_version;
	uint32_t k, m;
	uint8_t keys[WIRE_UPD_MAX_KEYS][WIRE_UPD_KEY_LEN];
	uint64_t version;
	uint8_t hash[WIRE_UPD_HASH_LEN];
	uint64_t expires;
};

static int upd_chanrec_decode(const uint8_t *p, size_t len, struct upd_chanrec *r)
{
	struct wire_cursor c;

	memset(r, 0, sizeof(*r));
	wire_cursor_init(&c, p, len);
	r->policy_version = wire_get_u64(&c);
	r->k = wire_get_u32(&c);
	r->m = wire_get_u32(&c);
	if (c.err != 0 || r->m > WIRE_UPD_MAX_KEYS || r->k == 0 || r->k > r->m)
		return UPDATES_ERR_CORRUPT;
	wire_get_fixed(&c, r->keys, (size_t)r->m * WIRE_UPD_KEY_LEN);
	r->version = wire_get_u64(&c);
	wire_get_fixed(&c, r->hash, WIRE_UPD_HASH_LEN);
	r->expires = wire_get_u64(&c);
	return wire_cursor_end(&c) != 0 ? UPDATES_ERR_CORRUPT : 0;
}

static int upd_chanrec_put(struct updates *u, const uint8_t *name, size_t nlen,
			   const struct upd_chanrec *r)
{
	int rc = upd_key(u, UPD_KEY_CHANNEL, name, nlen, 0, 0);

	if (rc != 0)
		return rc;
	wire_buf_reset(&u->val);
	wire_put_u64(&u->val, r->policy_version);
	wire_put_u32(&u->val, r->k);
	wire_put_u32(&u->val, r->m);
	wire_put_fixed(&u->val, r->keys, (size_t)r->m * WIRE_UPD_KEY_LEN);
	wire_put_u64(&u->val, r->version);
	wire_put_fixed(&u->val, r->hash, WIRE_UPD_HASH_LEN);
	wire_put_u64(&u->val, r->expires);
	if (wire_buf_error(&u->val) != 0)
		return upd_fail(u, UPDATES_ERR_NOMEM);
	return upd_store_fail(u, store_txn_put(u->store, UPDATES_NS, u->key.p, u->key.len,
					       u->val.p, u->val.len));
}

/* Read u->key: from the open transaction (txn != 0) or the committed state. *found is
 * 0 when absent; *v / *vlen borrowed until the next store call. */
static int upd_read(struct updates *u, int txn, const uint8_t **v, size_t *vlen, int *found)
{
	int rc;

	*found = 0;
	if (txn) {
		rc = store_txn_get(u->store, UPDATES_NS, u->key.p, u->key.len, v, vlen);
	} else {
		rc = store_get(u->store, UPDATES_NS, u->key.p, u->key.len, &u->val);
		*v = u->val.p;
		*vlen = u->val.len;
	}
	if (rc == STORE_ERR_NOT_FOUND)
		return 0;
	if (rc != 0)
		return upd_store_fail(u, rc);
	*found = 1;
	return 0;
}

static int upd_chan_read(struct updates *u, int txn, const uint8_t *name, size_t nlen,
			 struct upd_chanrec *r, int *found)
{
	const uint8_t *v;
	size_t vlen;
	int rc = upd_key(u, UPD_KEY_CHANNEL, name, nlen, 0, 0);

	if (rc == 0)
		rc = upd_read(u, txn, &v, &vlen, found);
	if (rc != 0 || !*found)
		return rc;
	return upd_chanrec_decode(v, vlen, r) != 0 ? upd_fail(u, UPDATES_ERR_CORRUPT) : 0;
}

/* A u64 counter record (absent = 0). */
static int upd_counter_read(struct updates *u, int txn, uint8_t tag, uint64_t *out)
{
	const uint8_t *v;
	size_t vlen;
	int found, rc = upd_key(u, tag, NULL, 0, 0, 0);

	*out = 0;
	if (rc == 0)
		rc = upd_read(u, txn, &v, &vlen, &found);
	if (rc != 0 || !found)
		return rc;
	if (vlen != 8)
		return upd_fail(u, UPDATES_ERR_CORRUPT);
	struct wire_cursor c;
	wire_cursor_init(&c, v, vlen);
	*out = wire_get_u64(&c);
	return 0;
}

static int upd_txn_put_key(struct updates *u, const void *v, size_t vlen)
{
	return upd_store_fail(u, store_txn_put(u->store, UPDATES_NS, u->key.p, u->key.len, v, vlen));
}

static int upd_counter_write(struct updates *u, uint8_t tag, uint64_t v)
{
	uint8_t le[8];
	int rc = upd_key(u, tag, NULL, 0, 0, 0);

	for (unsigned i = 0; i < 8; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	return rc != 0 ? rc : upd_txn_put_key(u, le, sizeof(le));
}

/* ---------------------------------------------------------------- results */
__attribute__((format(printf, 9, 10)))
static int upd_result(struct updates *u, struct wire_buf *out, uint8_t status, uint8_t reason,
		      uint64_t a, uint64_t b, uint64_t c, const uint8_t *hash, const char *fmt, ...)
{
	struct wire_upd_result r;
	char text[WIRE_UPD_MAX_TEXT];
	va_list ap;

	memset(&r, 0, sizeof(r));
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	r.status = status;
	r.reason = reason;
	r.a = a;
	r.b = b;
	r.c = c;
	if (hash != NULL)
		memcpy(r.hash, hash, WIRE_UPD_HASH_LEN);
	r.text.p = (const uint8_t *)text;
	r.text.len = (uint32_t)strlen(text);
	return wire_upd_encode_result(out, &r) != 0 ? upd_fail(u, UPDATES_ERR_NOMEM) : 0;
}

/* Remember a changed channel name for updates_batch_end. */
static int upd_touch(struct updates *u, const uint8_t *name, uint32_t len)
{
	wire_put_bytes(&u->touched, name, len);
	return wire_buf_error(&u->touched) != 0 ? upd_fail(u, UPDATES_ERR_NOMEM) : 0;
}

/* 0 if the policy is valid; else a BAD_POLICY result is appended (*refused = 1). */
static int upd_check_policy(struct updates *u, const struct wire_upd_op *op,
			    struct wire_buf *out, int *refused)
{
	const struct wire_upd_policy *p = &op->policy;

	*refused = 1;
	if (wire_upd_check_channel((const char *)op->name.p, op->name.len) != 0)
		return upd_result(u, out, WIRE_UPD_BAD_POLICY, 0, 0, 0, 0, NULL,
				  "channel name: not 1..%u bytes of [A-Za-z0-9._-] in '/'-separated parts",
				  WIRE_UPD_MAX_CHANNEL);
	if (p->m == 0 || p->k == 0 || p->k > p->m)
		return upd_result(u, out, WIRE_UPD_BAD_POLICY, 0, p->k, p->m, 0, NULL,
				  "policy: threshold %u of %u keys (need 1 <= k <= m)", p->k, p->m);
	for (uint32_t i = 0; i < p->m; i++)
		for (uint32_t j = i + 1; j < p->m; j++)
			if (memcmp(p->keys + (size_t)i * WIRE_UPD_KEY_LEN,
				   p->keys + (size_t)j * WIRE_UPD_KEY_LEN, WIRE_UPD_KEY_LEN) == 0)
				return upd_result(u, out, WIRE_UPD_BAD_POLICY, 0, i, j, 0, NULL,
						  "policy: keys %u and %u are the same key", i, j);
	*refused = 0;
	return 0;
}

/* ---------------------------------------------------------------- CHANNEL_CREATE */
static int upd_create(struct updates *u, const struct wire_upd_op *op, struct wire_buf *out)
{
	struct upd_chanrec rec;
	uint64_t count;
	int refused, found, rc;

	rc = upd_check_policy(u, op, out, &refused);
	if (rc != 0 || refused)
		return rc;
	wire_buf_reset(&u->val);
	if (wire_upd_create_signed_bytes(u->cfg.group, u->cfg.epoch, op, &u->val) != 0)
		return upd_fail(u, UPDATES_ERR_NOMEM);
	if (crypto_ed25519_verify_raw(u->cfg.admin_key, u->val.p, u->val.len, op->admin_sig) != 0)
		return upd_result(u, out, WIRE_UPD_NOT_ADMIN, 0, 0, 0, 0, NULL,
				  "channel create: not signed by the group's admin key");
	rc = upd_chan_read(u, 1, op->name.p, op->name.len, &rec, &found);
	if (rc != 0)
		return rc;
	if (found)
		return upd_result(u, out, WIRE_UPD_EXISTS, 0, rec.policy_version, 0, 0, NULL,
				  "channel %.*s exists", (int)op->name.len, (const char *)op->name.p);
	memset(&rec, 0, sizeof(rec));
	rec.policy_version = 1;
	rec.k = op->policy.k;
	rec.m = op->policy.m;
	memcpy(rec.keys, op->policy.keys, (size_t)rec.m * WIRE_UPD_KEY_LEN);
	if ((rc = upd_counter_read(u, 1, UPD_KEY_NAMES, &count)) != 0 ||
	    (rc = upd_chanrec_put(u, op->name.p, op->name.len, &rec)) != 0 ||
	    (rc = upd_key_index(u, UPD_KEY_NAME, count)) != 0 ||
	    (rc = upd_txn_put_key(u, op->name.p, op->name.len)) != 0 ||
	    (rc = upd_counter_write(u, UPD_KEY_NAMES, count + 1)) != 0 ||
	    (rc = upd_touch(u, op->name.p, op->name.len)) != 0)
		return rc;
	return upd_result(u, out, WIRE_UPD_OK, 0, 1, 0, 0, NULL, "channel %.*s created",
			  (int)op->name.len, (const char *)op->name.p);
}

/* ---------------------------------------------------------------- PUBLISH */
/* Threshold of policy (keys, m, k) over body; appends BELOW_THRESHOLD / BAD_SIGNATURE
 * when not met (*refused = 1). */
static int upd_check_threshold(struct updates *u, const char *type, const uint8_t *body,
			       size_t len, const struct wire_upd_sig *sigs, uint32_t nsigs,
			       const uint8_t (*keys)[WIRE_UPD_KEY_LEN], uint32_t m, uint32_t k,
			       uint8_t which, struct wire_buf *out, int *refused)
{
	static const char *const names[] = { "channel", "old", "new" };
	uint32_t have, bad;
	int rc = wire_upd_threshold(type, body, len, sigs, nsigs, keys, m, k, &have, &bad);

	*refused = 0;
	if (rc < 0)
		return upd_fail(u, UPDATES_ERR_NOMEM);
	if (rc == 0)
		return 0;
	*refused = 1;
	if (bad > 0)
		return upd_result(u, out, WIRE_UPD_BAD_SIGNATURE, which, have, k, bad, NULL,
				  "%s policy: %u valid signatures of distinct keys, %u needed; %u "
				  "signatures by policy keys do not verify", names[which], have, k, bad);
	return upd_result(u, out, WIRE_UPD_BELOW_THRESHOLD, which, have, k, 0, NULL,
			  "%s policy: %u valid signatures of distinct keys, %u needed",
			  names[which], have, k);
}

/* Every chunk has receipts_needed distinct valid receipts; else MISSING_RECEIPTS. */
static int upd_check_receipts(struct updates *u, const struct wire_upd_op *op,
			      const struct wire_upd_manifest *m, struct wire_buf *out, int *refused)
{
	struct wire_upd_riter it;
	uint32_t global = 0;

	*refused = 0;
	wire_upd_riter_init(&it, op);
	for (uint32_t f = 0; f < m->nfiles; f++) {
		const struct wire_upd_file *file = &m->files[f];
		for (uint32_t i = 0; i < file->nchunks; i++, global++) {
			uint8_t msg[WIRE_UPD_RECEIPT_LEN];
			const uint8_t *pairs = NULL;
			uint64_t seen = 0;
			uint32_t n = 0, have = 0;

			wire_upd_next_receipts(&it, &n, &pairs);
			wire_upd_receipt_bytes(u->cfg.group, u->cfg.epoch, file->chunks[i],
					       wire_upd_chunk_len(file->size, m->chunk_size, i), msg);
			for (uint32_t j = 0; j < n && have < u->cfg.receipts_needed; j++) {
				struct wire_upd_cert_sig r;
				wire_upd_receipt_pair(pairs, j, &r);
				if (r.replica >= u->cfg.n || (seen >> r.replica & 1u) != 0)
					continue;
				if (crypto_ed25519_verify_raw(u->cfg.replica_keys[r.replica], msg,
							      sizeof(msg), r.sig) != 0)
					continue;
				seen |= (uint64_t)1 << r.replica;
				have++;
			}
			if (have < u->cfg.receipts_needed) {
				*refused = 1;
				return upd_result(u, out, WIRE_UPD_MISSING_RECEIPTS, 0, global, have,
						  u->cfg.receipts_needed, file->chunks[i],
						  "chunk %u (file %.64s, chunk %u): %u valid receipts "
						  "from distinct replicas, %u needed", global,
						  file->path, i, have, u->cfg.receipts_needed);
			}
		}
	}
	return 0;
}

/* Write the accepted manifest: channel record, envelope, log leaf. */
static int upd_accept(struct updates *u, const struct wire_upd_op *op, struct upd_chanrec *rec,
		      const struct wire_upd_manifest *m, const uint8_t hash[WIRE_UPD_HASH_LEN])
{
	uint8_t leaf[WIRE_UPD_LEAF_MAX];
	size_t leaflen;
	uint64_t logsize;
	int rc;

	rec->version = m->version;
	memcpy(rec->hash, hash, WIRE_UPD_HASH_LEN);
	rec->expires = m->expires;
	leaflen = wire_upd_leaf((const char *)op->name.p, op->name.len, m->version, hash, leaf);
	if ((rc = upd_chanrec_put(u, op->name.p, op->name.len, rec)) != 0 ||
	    (rc = upd_key(u, UPD_KEY_MANIFEST, op->name.p, op->name.len, 1, m->version)) != 0 ||
	    (rc = upd_txn_put_key(u, op->envelope.p, op->envelope.len)) != 0 ||
	    (rc = upd_counter_read(u, 1, UPD_KEY_LOGSIZE, &logsize)) != 0 ||
	    (rc = upd_key_index(u, UPD_KEY_LEAF, logsize)) != 0 ||
	    (rc = upd_txn_put_key(u, leaf, leaflen)) != 0 ||
	    (rc = upd_counter_write(u, UPD_KEY_LOGSIZE, logsize + 1)) != 0)
		return rc;
	return upd_touch(u, op->name.p, op->name.len);
}

static int upd_publish(struct updates *u, const struct wire_upd_op *op, uint64_t time_ms,
		       struct wire_buf *out)
{
	struct wire_upd_envelope env;
	struct wire_upd_manifest m;
	struct wire_upd_why why;
	struct upd_chanrec rec;
	uint8_t hash[WIRE_UPD_HASH_LEN];
	int found, refused, rc;
	const char *name = (const char *)op->name.p;
	int nlen = (int)op->name.len;

	memset(&m, 0, sizeof(m));
	if (wire_upd_check_channel(name, op->name.len) != 0)
		return upd_result(u, out, WIRE_UPD_NO_CHANNEL, 0, 0, 0, 0, NULL,
				  "no such channel (not a valid channel name)");
	rc = upd_chan_read(u, 1, op->name.p, op->name.len, &rec, &found);
	if (rc != 0)
		return rc;
	if (!found)
		return upd_result(u, out, WIRE_UPD_NO_CHANNEL, 0, 0, 0, 0, NULL,
				  "no channel %.*s", nlen, name);
	rc = wire_upd_envelope_decode(op->envelope.p, op->envelope.len, &u->cfg.limits, &env, &why);
	if (rc == WIRE_UPD_E_NOMEM)
		return upd_fail(u, UPDATES_ERR_NOMEM);
	if (rc != 0)
		return upd_result(u, out, WIRE_UPD_BAD_ENVELOPE, (uint8_t)-rc, 0, 0, 0, NULL, "%s",
				  why.text);
	rc = upd_check_threshold(u, WIRE_UPD_PAYLOAD_TYPE, env.payload, env.payload_len, env.sigs,
				 env.nsigs, (const uint8_t(*)[WIRE_UPD_KEY_LEN])rec.keys, rec.m,
				 rec.k, WIRE_UPD_POLICY_CURRENT, out, &refused);
	if (rc != 0 || refused)
		goto out;
	crypto_sha256(env.payload, env.payload_len, hash);
	rc = wire_upd_manifest_decode(env.payload, env.payload_len, &u->cfg.limits, &m, &why);
	if (rc == WIRE_UPD_E_NOMEM) {
		rc = upd_fail(u, UPDATES_ERR_NOMEM);
		goto out;
	}
	if (rc != 0) {
		rc = upd_result(u, out, WIRE_UPD_BAD_MANIFEST, (uint8_t)-rc, 0, 0, 0, NULL, "%s",
				why.text);
		goto out;
	}
	if (strlen(m.channel) != op->name.len || memcmp(m.channel, name, op->name.len) != 0) {
		rc = upd_result(u, out, WIRE_UPD_CHANNEL_MISMATCH, 0, 0, 0, 0, NULL,
				"manifest is for channel %s, published to %.*s", m.channel, nlen, name);
		goto out;
	}
	if (m.version <= rec.version) {
		rc = upd_result(u, out, WIRE_UPD_ROLLBACK, 0, rec.version, m.version, 0, NULL,
				"version %llu is not above the current %llu",
				(unsigned long long)m.version, (unsigned long long)rec.version);
		goto out;
	}
	uint64_t now_s = time_ms / 1000, limit_s = now_s + u->cfg.max_expiry_s;
	if (m.expires <= now_s) {
		rc = upd_result(u, out, WIRE_UPD_EXPIRED, 0, m.expires, now_s, 0, NULL,
				"manifest expires at %llu, not after the batch time %llu",
				(unsigned long long)m.expires, (unsigned long long)now_s);
		goto out;
	}
	if (m.expires > limit_s) {
		rc = upd_result(u, out, WIRE_UPD_EXPIRES_TOO_FAR, 0, m.expires, limit_s, 0, NULL,
				"manifest expires at %llu, after the latest allowed %llu",
				(unsigned long long)m.expires, (unsigned long long)limit_s);
		goto out;
	}
	if (op->nreceipts != m.total_chunks) {
		rc = upd_result(u, out, WIRE_UPD_RECEIPT_COUNT, 0, op->nreceipts, m.total_chunks, 0,
				NULL, "%u receipt lists for %u chunks", op->nreceipts, m.total_chunks);
		goto out;
	}
	rc = upd_check_receipts(u, op, &m, out, &refused);
	if (rc != 0 || refused)
		goto out;
	rc = upd_accept(u, op, &rec, &m, hash);
	if (rc == 0)
		rc = upd_result(u, out, WIRE_UPD_OK, 0, m.version, 0, 0, hash,
				"%.*s version %llu published", nlen, name,
				(unsigned long long)m.version);
out:
	wire_upd_manifest_free(&m);
	wire_upd_envelope_free(&env);
	return rc;
}

/* ---------------------------------------------------------------- POLICY_ROTATE */
static int upd_rotate(struct updates *u, const struct wire_upd_op *op, struct wire_buf *out)
{
	struct wire_upd_sig sigs[WIRE_UPD_MAX_SIGS];
	struct upd_chanrec rec;
	int found, refused, rc;

	rc = upd_check_policy(u, op, out, &refused);
	if (rc != 0 || refused)
		return rc;
	rc = upd_chan_read(u, 1, op->name.p, op->name.len, &rec, &found);
	if (rc != 0)
		return rc;
	if (!found)
		return upd_result(u, out, WIRE_UPD_NO_CHANNEL, 0, 0, 0, 0, NULL, "no channel %.*s",
				  (int)op->name.len, (const char *)op->name.p);
	if (op->policy_version <= rec.policy_version)
		return upd_result(u, out, WIRE_UPD_ROLLBACK, 0, rec.policy_version,
				  op->policy_version, 0, NULL,
				  "policy version %llu is not above the current %llu",
				  (unsigned long long)op->policy_version,
				  (unsigned long long)rec.policy_version);
	if (op->policy_version != rec.policy_version + 1)
		return upd_result(u, out, WIRE_UPD_BAD_POLICY, 0, rec.policy_version,
				  op->policy_version, 0, NULL,
				  "policy version %llu skips versions: the next is %llu",
				  (unsigned long long)op->policy_version,
				  (unsigned long long)rec.policy_version + 1);
	for (uint32_t i = 0; i < op->nsigs; i++) {
		memcpy(sigs[i].keyid, op->sigs + (size_t)i * UPD_RSIG_LEN, WIRE_UPD_HASH_LEN);
		memcpy(sigs[i].sig, op->sigs + (size_t)i * UPD_RSIG_LEN + WIRE_UPD_HASH_LEN,
		       WIRE_UPD_SIG_LEN);
	}
	wire_buf_reset(&u->val);
	if (wire_upd_rotate_signed_bytes(u->cfg.group, u->cfg.epoch, op, &u->val) != 0)
		return upd_fail(u, UPDATES_ERR_NOMEM);
	/* u->val holds the body until the thresholds are checked: nothing else uses it. */
	rc = upd_check_threshold(u, WIRE_UPD_ROTATION_TYPE, u->val.p, u->val.len, sigs, op->nsigs,
				 (const uint8_t(*)[WIRE_UPD_KEY_LEN])rec.keys, rec.m, rec.k,
				 WIRE_UPD_POLICY_OLD, out, &refused);
	if (rc != 0 || refused)
		return rc;
	rc = upd_check_threshold(u, WIRE_UPD_ROTATION_TYPE, u->val.p, u->val.len, sigs, op->nsigs,
				 (const uint8_t(*)[WIRE_UPD_KEY_LEN])op->policy.keys, op->policy.m,
				 op->policy.k, WIRE_UPD_POLICY_NEW, out, &refused);
	if (rc != 0 || refused)
		return rc;
	rec.policy_version = op->policy_version;
	rec.k = op->policy.k;
	rec.m = op->policy.m;
	memset(rec.keys, 0, sizeof(rec.keys));
	memcpy(rec.keys, op->policy.keys, (size_t)rec.m * WIRE_UPD_KEY_LEN);
	if ((rc = upd_chanrec_put(u, op->name.p, op->name.len, &rec)) != 0)
		return rc;
	return upd_result(u, out, WIRE_UPD_OK, 0, rec.policy_version, 0, 0, NULL,
			  "channel %.*s: policy %llu (%u of %u keys) in effect", (int)op->name.len,
			  (const char *)op->name.p, (unsigned long long)rec.policy_version, rec.k,
			  rec.m);
}

/* ---------------------------------------------------------------- apply */
int updates_apply(struct updates *u, struct wire_bytes op_bytes, int read_only, uint64_t time_ms,
		  struct wire_buf *out)
{
	static const uint8_t bad_of[] = {
		[-WIRE_ERR_TRUNCATED] = WIRE_UPD_BAD_TRUNCATED,
		[-WIRE_ERR_TRAILING] = WIRE_UPD_BAD_TRAILING,
		[-WIRE_ERR_TYPE] = WIRE_UPD_BAD_TYPE,
		[-WIRE_ERR_TOO_BIG] = WIRE_UPD_BAD_TOO_BIG,
	};
	struct wire_upd_op op;
	int rc;

	rc = wire_upd_decode_op(op_bytes.p, op_bytes.len, &u->cfg.limits, &op);
	if (rc != 0) {
		uint8_t reason = (rc < 0 && -rc < (int)sizeof(bad_of) && bad_of[-rc] != 0)
					 ? bad_of[-rc] : WIRE_UPD_BAD_TRUNCATED;
		return upd_result(u, out, WIRE_UPD_BAD_OP, reason, 0, 0, 0, NULL, "%s: %s",
				  wire_upd_op_name(op.type), wire_strerror(rc));
	}
	if (read_only)
		return upd_result(u, out, WIRE_UPD_BAD_OP, WIRE_UPD_BAD_READ_ONLY, 0, 0, 0, NULL,
				  "%s: not a read-only operation", wire_upd_op_name(op.type));
	switch (op.type) {
	case WIRE_UPD_CHANNEL_CREATE:
		return upd_create(u, &op, out);
	case WIRE_UPD_PUBLISH:
		return upd_publish(u, &op, time_ms, out);
	default: /* wire_upd_decode_op knows no other type */
		return upd_rotate(u, &op, out);
	}
}

/* ---------------------------------------------------------------- the in-memory index */
static int upd_chan_find(const struct updates *u, const char *name, size_t *pos)
{
	size_t lo = 0, hi = u->nchan;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(u->chan[mid].name, name);
		if (c == 0) {
			*pos = mid;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*pos = lo;
	return 0;
}

/* Insert or update the cached entry of name from its committed record. */
static int upd_cache_channel(struct updates *u, const uint8_t *name, uint32_t nlen)
{
	struct upd_chanrec rec;
	struct updates__chan *e;
	char cname[WIRE_UPD_MAX_CHANNEL + 1];
	size_t pos;
	int found, rc;

	if (nlen > WIRE_UPD_MAX_CHANNEL || wire_upd_check_channel((const char *)name, nlen) != 0)
		return upd_fail(u, UPDATES_ERR_CORRUPT);
	memcpy(cname, name, nlen);
	cname[nlen] = '\0';
	rc = upd_chan_read(u, 0, name, nlen, &rec, &found);
	if (rc != 0)
		return rc;
	if (!found)
		return upd_fail(u, UPDATES_ERR_CORRUPT);
	if (!upd_chan_find(u, cname, &pos)) {
		if (u->nchan == u->capchan) {
			size_t cap = u->capchan ? 2 * u->capchan : 16;
			void *p = realloc(u->chan, cap * sizeof(*u->chan));
			if (p == NULL)
				return upd_fail(u, UPDATES_ERR_NOMEM);
			u->chan = p;
			u->capchan = cap;
		}
		memmove(&u->chan[pos + 1], &u->chan[pos], (u->nchan - pos) * sizeof(*u->chan));
		u->nchan++;
		memset(&u->chan[pos], 0, sizeof(u->chan[pos]));
		memcpy(u->chan[pos].name, cname, nlen + 1);
		u->chan[pos].namelen = nlen;
	}
	e = &u->chan[pos];
	e->version = rec.version;
	memcpy(e->hash, rec.hash, WIRE_UPD_HASH_LEN);
	if (e->version > 0)
		wire_upd_leaf_hash(e->name, e->namelen, e->version, e->hash, e->leaf);
	u->index_dirty = 1;
	return 0;
}

static void upd_frontier_append(struct updates *u, const uint8_t leaf[WIRE_UPD_HASH_LEN])
{
	uint8_t carry[WIRE_UPD_HASH_LEN];
	unsigned k = 0;

	memcpy(carry, leaf, sizeof(carry));
	while ((u->log_size >> k & 1u) != 0) {
		crypto_merkle_node(u->frontier[k], carry, carry);
		k++;
	}
	memcpy(u->frontier[k], carry, sizeof(carry));
	u->log_size++;
}

static void upd_log_root(const struct updates *u, uint8_t out[WIRE_UPD_HASH_LEN])
{
	int have = 0;

	if (u->log_size == 0) {
		crypto_sha256(NULL, 0, out);
		return;
	}
	for (unsigned k = 0; k < 64; k++) {
		if ((u->log_size >> k & 1u) == 0)
			continue;
		if (have)
			crypto_merkle_node(u->frontier[k], out, out);
		else
			memcpy(out, u->frontier[k], WIRE_UPD_HASH_LEN);
		have = 1;
	}
}

/* Extend the cached log head with the committed leaves beyond it. */
static int upd_cache_log(struct updates *u)
{
	uint64_t size;
	int rc = upd_counter_read(u, 0, UPD_KEY_LOGSIZE, &size);

	if (rc != 0)
		return rc;
	if (size < u->log_size)
		return upd_fail(u, UPDATES_ERR_CORRUPT);
	while (u->log_size < size) {
		const uint8_t *v;
		size_t vlen;
		int found;
		uint8_t leaf[WIRE_UPD_HASH_LEN];

		if ((rc = upd_key_index(u, UPD_KEY_LEAF, u->log_size)) != 0 ||
		    (rc = upd_read(u, 0, &v, &vlen, &found)) != 0)
			return rc;
		if (!found || vlen > WIRE_UPD_LEAF_MAX)
			return upd_fail(u, UPDATES_ERR_CORRUPT);
		crypto_merkle_leaf(v, vlen, leaf);
		upd_frontier_append(u, leaf);
	}
	return 0;
}

int updates_batch_end(struct updates *u, int committed)
{
	struct wire_cursor c;
	int rc = 0;

	if (committed) {
		wire_cursor_init(&c, u->touched.p, u->touched.len);
		while (rc == 0 && c.p < c.end) {
			struct wire_bytes name = wire_get_bytes(&c, WIRE_UPD_MAX_CHANNEL);
			rc = c.err != 0 ? upd_fail(u, UPDATES_ERR_CORRUPT)
					: upd_cache_channel(u, name.p, name.len);
		}
		if (rc == 0 && u->touched.len > 0)
			rc = upd_cache_log(u);
	}
	wire_buf_reset(&u->touched);
	return rc;
}

int updates_reload(struct updates *u)
{
	uint64_t count;
	int rc;

	u->nchan = 0;
	u->log_size = 0;
	u->index_dirty = 1;
	wire_buf_reset(&u->touched);
	rc = upd_counter_read(u, 0, UPD_KEY_NAMES, &count);
	for (uint64_t i = 0; rc == 0 && i < count; i++) {
		uint8_t name[WIRE_UPD_MAX_CHANNEL];
		const uint8_t *v;
		size_t vlen;
		int found;

		if ((rc = upd_key_index(u, UPD_KEY_NAME, i)) != 0 ||
		    (rc = upd_read(u, 0, &v, &vlen, &found)) != 0)
			break;
		if (!found || vlen > WIRE_UPD_MAX_CHANNEL) {
			rc = upd_fail(u, UPDATES_ERR_CORRUPT);
			break;
		}
		memcpy(name, v, vlen);
		rc = upd_cache_channel(u, name, (uint32_t)vlen);
	}
	if (rc == 0)
		rc = upd_cache_log(u);
	return rc;
}

int updates_init(struct updates *u, struct store *store, const struct updates_config *cfg)
{
	int rc;

	memset(u, 0, sizeof(*u));
	if (store == NULL || cfg == NULL)
		return UPDATES_ERR_ARG;
	u->cfg = *cfg;
	if (u->cfg.receipts_needed == 0)
		u->cfg.receipts_needed = 2 * u->cfg.f + 1;
	if (u->cfg.f == 0 || u->cfg.n != 3 * u->cfg.f + 1 || u->cfg.n > WIRE_UPD_MAX_REPLICAS ||
	    u->cfg.receipts_needed < 2 * u->cfg.f + 1 || u->cfg.receipts_needed > u->cfg.n ||
	    u->cfg.max_expiry_s == 0 || u->cfg.max_expiry_s > WIRE_UPD_JSON_INT_MAX / 1000 ||
	    u->cfg.statement_validity_ms == 0 || u->cfg.limits.max_chunks == 0 ||
	    u->cfg.limits.max_files == 0 || u->cfg.limits.max_payload == 0 ||
	    u->cfg.limits.max_document < u->cfg.limits.max_payload)
		return UPDATES_ERR_ARG;
	u->store = store;
	wire_buf_init(&u->touched);
	wire_buf_init(&u->key);
	wire_buf_init(&u->val);
	rc = updates_reload(u);
	if (rc != 0)
		updates_free(u);
	return rc;
}

void updates_free(struct updates *u)
{
	free(u->chan);
	wire_buf_free(&u->touched);
	wire_buf_free(&u->key);
	wire_buf_free(&u->val);
	u->chan = NULL;
	u->nchan = u->capchan = 0;
	u->store = NULL;
}

/* Leaf hashes of the published channels, in name order (caller frees). */
static int upd_index_leaves(struct updates *u, uint8_t (**leaves)[WIRE_UPD_HASH_LEN], size_t *n)
{
	*n = 0;
	*leaves = malloc((u->nchan ? u->nchan : 1) * WIRE_UPD_HASH_LEN);
	if (*leaves == NULL)
		return upd_fail(u, UPDATES_ERR_NOMEM);
	for (size_t i = 0; i < u->nchan; i++)
		if (u->chan[i].version > 0)
			memcpy((*leaves)[(*n)++], u->chan[i].leaf, WIRE_UPD_HASH_LEN);
	return 0;
}

int updates_statement(struct updates *u, uint64_t seq, uint64_t time_ms,
		      struct wire_upd_statement *st)
{
	memset(st, 0, sizeof(*st));
	if (u->index_dirty) {
		uint8_t (*leaves)[WIRE_UPD_HASH_LEN];
		size_t n;
		int rc = upd_index_leaves(u, &leaves, &n);
		if (rc != 0)
			return rc;
		rc = crypto_merkle_root((const uint8_t(*)[WIRE_UPD_HASH_LEN])leaves, n, u->index_root);
		free(leaves);
		if (rc != 0)
			return upd_fail(u, UPDATES_ERR_NOMEM);
		u->index_dirty = 0;
	}
	st->group = u->cfg.group;
	st->epoch = u->cfg.epoch;
	st->seq = seq;
	st->time_ms = time_ms;
	st->expires_ms = time_ms + u->cfg.statement_validity_ms;
	memcpy(st->index_root, u->index_root, WIRE_UPD_HASH_LEN);
	st->log_size = u->log_size;
	upd_log_root(u, st->log_root);
	return 0;
}

int updates_channel_proof(struct updates *u, const char *name, struct wire_upd_proof *proof,
			  uint8_t hash[WIRE_UPD_HASH_LEN])
{
	uint8_t (*leaves)[WIRE_UPD_HASH_LEN];
	size_t pos, n, index = 0, pathlen;
	int rc;

	memset(proof, 0, sizeof(*proof));
	if (name == NULL || !upd_chan_find(u, name, &pos) || u->chan[pos].version == 0)
		return UPDATES_ERR_NOT_FOUND;
	for (size_t i = 0; i < pos; i++)
		index += u->chan[i].version > 0;
	rc = upd_index_leaves(u, &leaves, &n);
	if (rc != 0)
		return rc;
	rc = crypto_merkle_inclusion_proof((const uint8_t(*)[WIRE_UPD_HASH_LEN])leaves, n, index,
					   proof->path, &pathlen);
	free(leaves);
	if (rc != 0)
		return upd_fail(u, UPDATES_ERR_NOMEM);
	proof->version = u->chan[pos].version;
	proof->index = index;
	proof->size = n;
	proof->pathlen = (uint32_t)pathlen;
	memcpy(hash, u->chan[pos].hash, WIRE_UPD_HASH_LEN);
	return 0;
}

int updates_get_envelope(struct updates *u, const char *name, uint64_t version,
			 struct wire_buf *env)
{
	size_t nlen = name != NULL ? strlen(name) : 0;
	int rc;

	if (wire_upd_check_channel(name, nlen) != 0)
		return UPDATES_ERR_NOT_FOUND;
	rc = upd_key(u, UPD_KEY_MANIFEST, (const uint8_t *)name, nlen, 1, version);
	if (rc != 0)
		return rc;
	rc = store_get(u->store, UPDATES_NS, u->key.p, u->key.len, env);
	if (rc == STORE_ERR_NOT_FOUND)
		return UPDATES_ERR_NOT_FOUND;
	return upd_store_fail(u, rc);
}

int updates_is_publisher(struct updates *u, const uint8_t pub[WIRE_UPD_KEY_LEN])
{
	struct upd_chanrec r;
	int found, rc;

	for (size_t i = 0; i < u->nchan; i++) {
		rc = upd_chan_read(u, 0, (const uint8_t *)u->chan[i].name, u->chan[i].namelen, &r,
				   &found);
		if (rc != 0)
			return rc;
		for (uint32_t j = 0; found && j < r.m; j++) {
			if (memcmp(r.keys[j], pub, WIRE_UPD_KEY_LEN) == 0)
				return 1;
		}
	}
	return 0;
}

int updates_log_leaf(struct updates *u, uint64_t i, char name[WIRE_UPD_MAX_CHANNEL + 1],
		     uint64_t *version, uint8_t hash[WIRE_UPD_HASH_LEN])
{
	struct wire_cursor c;
	struct wire_bytes nm;
	int rc;

	if (i >= u->log_size)
		return UPDATES_ERR_NOT_FOUND;
	rc = upd_key_index(u, UPD_KEY_LEAF, i);
	if (rc != 0)
		return rc;
	rc = store_get(u->store, UPDATES_NS, u->key.p, u->key.len, &u->val);
	if (rc == STORE_ERR_NOT_FOUND)
		return upd_fail(u, UPDATES_ERR_CORRUPT);
	if (rc != 0)
		return upd_store_fail(u, rc);
	wire_cursor_init(&c, u->val.p, u->val.len);
	nm = wire_get_bytes(&c, WIRE_UPD_MAX_CHANNEL);
	*version = wire_get_u64(&c);
	wire_get_fixed(&c, hash, WIRE_UPD_HASH_LEN);
	if (wire_cursor_end(&c) != 0 || nm.len == 0)
		return upd_fail(u, UPDATES_ERR_CORRUPT);
	memcpy(name, nm.p, nm.len);
	name[nm.len] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- local chunk storage */
void updates_chunks_init(struct updates_chunks *c, const struct updates_blob_ops *ops,
			 uint64_t group, uint64_t epoch, uint32_t replica,
			 const struct crypto_ed25519_key *key)
{
	memset(c, 0, sizeof(*c));
	c->ops = *ops;
	c->group = group;
	c->epoch = epoch;
	c->replica = replica;
	c->key = key;
	wire_buf_init(&c->val);
}

void updates_chunks_free(struct updates_chunks *c)
{
	wire_buf_free(&c->val);
}

int updates_receipt_sign(const struct updates_chunks *c, const uint8_t sha256[WIRE_UPD_HASH_LEN],
			 uint64_t size, struct wire_upd_cert_sig *receipt)
{
	uint8_t msg[WIRE_UPD_RECEIPT_LEN];

	wire_upd_receipt_bytes(c->group, c->epoch, sha256, size, msg);
	receipt->replica = c->replica;
	if (c->key == NULL || crypto_ed25519_sign(c->key, msg, sizeof(msg), receipt->sig) != 0)
		return UPDATES_ERR_CRYPTO;
	return 0;
}

/* The chunk's bytes into c->val, checked against their name. */
static int upd_chunk_load(struct updates_chunks *c, const uint8_t sha256[WIRE_UPD_HASH_LEN])
{
	uint8_t got[WIRE_UPD_HASH_LEN];
	int rc = c->ops.get(c->ops.ctx, sha256, WIRE_UPD_HASH_LEN, &c->val);

	if (rc == STORE_ERR_NOT_FOUND)
		return UPDATES_ERR_NOT_FOUND;
	if (rc != 0) {
		c->store_err = rc;
		return rc == STORE_ERR_NOMEM ? UPDATES_ERR_NOMEM : UPDATES_ERR_STORE;
	}
	crypto_sha256(c->val.p, c->val.len, got);
	return crypto_memeq(got, sha256, sizeof(got)) ? 0 : UPDATES_ERR_CORRUPT;
}

int updates_chunk_has(struct updates_chunks *c, const uint8_t sha256[WIRE_UPD_HASH_LEN])
{
	int rc = c->ops.get(c->ops.ctx, sha256, WIRE_UPD_HASH_LEN, &c->val);

	if (rc == STORE_ERR_NOT_FOUND)
		return 0;
	if (rc != 0) {
		c->store_err = rc;
		return rc == STORE_ERR_NOMEM ? UPDATES_ERR_NOMEM : UPDATES_ERR_STORE;
	}
	return 1;
}

int updates_chunk_put(struct updates_chunks *c, const uint8_t sha256[WIRE_UPD_HASH_LEN],
		      const void *data, size_t len, struct wire_upd_cert_sig *receipt)
{
	uint8_t got[WIRE_UPD_HASH_LEN];
	int rc;

	if (len > WIRE_UPD_MAX_CHUNK)
		return UPDATES_ERR_TOO_BIG;
	if (data == NULL && len > 0)
		return UPDATES_ERR_ARG;
	crypto_sha256(data, len, got);
	if (!crypto_memeq(got, sha256, sizeof(got)))
		return UPDATES_ERR_HASH;
	rc = upd_chunk_load(c, sha256);
	if (rc == UPDATES_ERR_NOT_FOUND || rc == UPDATES_ERR_CORRUPT) {
		/* Absent, or held damaged: (re)write the good bytes. */
		rc = c->ops.put(c->ops.ctx, sha256, WIRE_UPD_HASH_LEN, data, len);
		if (rc != 0) {
			c->store_err = rc;
			return rc == STORE_ERR_NOMEM ? UPDATES_ERR_NOMEM : UPDATES_ERR_STORE;
		}
	} else if (rc != 0) {
		return rc;
	}
	return receipt != NULL ? updates_receipt_sign(c, sha256, len, receipt) : 0;
}

int updates_chunk_get(struct updates_chunks *c, const uint8_t sha256[WIRE_UPD_HASH_LEN],
		      uint64_t off, uint64_t len, struct wire_buf *out, uint64_t *total)
{
	int rc = upd_chunk_load(c, sha256);

	wire_buf_reset(out);
	if (rc != 0)
		return rc;
	if (total != NULL)
		*total = c->val.len;
	if (off > c->val.len || (off == c->val.len && off != 0))
		return UPDATES_ERR_RANGE;
	if (len == 0)
		len = c->val.len - off;
	if (len > c->val.len - off)
		return UPDATES_ERR_RANGE;
	wire_put_fixed(out, c->val.p + off, (size_t)len);
	return wire_buf_error(out) != 0 ? UPDATES_ERR_NOMEM : 0;
}
