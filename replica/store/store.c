/* store.c: opening and closing a replica's database, its metadata, and live state reads. */
#include "replica/store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

#define STORE_FORMAT_LEN 12u /* format u32 | fanout u32 | levels u32 */

static const char *const store_errors[] = {
	[0] = "success",
	[1] = "bad argument or tree shape",
	[2] = "out of memory",
	[3] = "LevelDB I/O error",
	[4] = "database corrupt",
	[5] = "database cannot be opened",
	[6] = "database has another format version or tree shape",
	[7] = "key not found",
	[8] = "key or value too big",
	[9] = "sequence number out of order",
	[10] = "transaction already open, or none open",
	[11] = "no snapshot kept for that checkpoint",
	[12] = "too many checkpoints kept",
	[13] = "malformed state transfer page",
	[14] = "state transfer incomplete",
	[15] = "transferred state does not match the checkpoint digest",
	[16] = "partition tree failure",
};

const char *store_strerror(int err)
{
	size_t i = err <= 0 ? (size_t)-(long)err : sizeof(store_errors) / sizeof(store_errors[0]);

	if (i < sizeof(store_errors) / sizeof(store_errors[0]))
		return store_errors[i];
	return "unknown store error";
}

int store__state_key(struct store *s, uint8_t ns, const void *key, size_t klen,
		     uint64_t *partition)
{
	struct wire_buf *m = &s->memo_key;
	uint8_t *p;

	if (klen > STORE_MAX_KEY - 1)
		return STORE_ERR_TOO_BIG;
	wire_buf_reset(&s->key);
	wire_put_u8(&s->key, STORE__P_STATE);
	wire_put_u32(&s->key, 0);
	wire_put_u8(&s->key, ns);
	wire_put_fixed(&s->key, key, klen);
	if (wire_buf_error(&s->key) != 0)
		return STORE_ERR_NOMEM;
	p = s->key.p;
	/* A write reads its key first (a put its version): the same key twice in a row
	 * costs one partition hash. */
	if (m->len == klen + 1 && memcmp(m->p, p + STORE__STATE_PREFIX, klen + 1) == 0) {
		*partition = s->memo_part;
	} else {
		*partition = ptree_partition_of(s->partitions, p + STORE__STATE_PREFIX, klen + 1);
		wire_buf_reset(m);
		wire_put_fixed(m, p + STORE__STATE_PREFIX, klen + 1);
		if (wire_buf_error(m) != 0)
			wire_buf_reset(m); /* no memo: the next call hashes again */
		s->memo_part = *partition;
	}
	store__be32(p + 1, (uint32_t)*partition);
	return 0;
}

/* Read a u64 metadata value; absent leaves *out unchanged and returns 0 with *found 0. */
static int meta_get_u64(struct store *s, uint8_t name, uint64_t *out, int *found)
{
	uint8_t key[2] = { STORE__P_META, name };
	int rc = store__ldb_get(&s->ldb, NULL, key, sizeof(key), &s->val);

	*found = 0;
	if (rc == STORE_ERR_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (s->val.len != 8)
		return store__ldb_fail(&s->ldb, STORE_ERR_CORRUPT,
				       "metadata 'M%c' holds %zu bytes, not 8", name, s->val.len);
	*out = store__ld64(s->val.p);
	*found = 1;
	return 0;
}

/* A new database gets the format record; an existing one must match it. */
static int check_format(struct store *s)
{
	uint8_t key[2] = { STORE__P_META, STORE__M_FORMAT };
	uint8_t want[STORE_FORMAT_LEN];
	leveldb_iterator_t *it;
	leveldb_writebatch_t *wb;
	int rc, empty;

	store__be32(want, STORE_FORMAT_VERSION);
	store__be32(want + 4, s->fanout);
	store__be32(want + 8, s->levels);
	rc = store__ldb_get(&s->ldb, NULL, key, sizeof(key), &s->val);
	if (rc == 0) {
		if (s->val.len != STORE_FORMAT_LEN)
			return store__ldb_fail(&s->ldb, STORE_ERR_FORMAT,
					       "format record holds %zu bytes, not %u",
					       s->val.len, STORE_FORMAT_LEN);
		if (store__ld32(s->val.p) != STORE_FORMAT_VERSION)
			return store__ldb_fail(&s->ldb, STORE_ERR_FORMAT,
					       "database format %u, this build reads %u",
					       store__ld32(s->val.p), STORE_FORMAT_VERSION);
		if (memcmp(s->val.p, want, STORE_FORMAT_LEN) != 0)
			return store__ldb_fail(&s->ldb, STORE_ERR_FORMAT,
					       "database tree shape fanout=%u levels=%u, configured fanout=%u levels=%u",
					       store__ld32(s->val.p + 4), store__ld32(s->val.p + 8),
					       s->fanout, s->levels);
		return 0;
	}
	if (rc != STORE_ERR_NOT_FOUND)
		return rc;

	it = store__ldb_iter(&s->ldb, NULL);
	if (it == NULL)
		return STORE_ERR_NOMEM;
	leveldb_iter_seek_to_first(it);
	empty = !leveldb_iter_valid(it);
	rc = store__ldb_iter_status(&s->ldb, it);
	leveldb_iter_destroy(it);
	if (rc != 0)
		return rc;
	if (!empty)
		return store__ldb_fail(&s->ldb, STORE_ERR_FORMAT,
				       "database holds data but no format record");
	wb = leveldb_writebatch_create();
	if (wb == NULL)
		return STORE_ERR_NOMEM;
	leveldb_writebatch_put(wb, (const char *)key, sizeof(key), (const char *)want, sizeof(want));
	rc = store__ldb_write(&s->ldb, wb, 1);
	leveldb_writebatch_destroy(wb);
	return rc;
}

/* Cached digests and dirty marks into the live tree ('M' 'P' and 'M' 'D' ranges). */
static int load_part_meta(struct store *s, uint8_t name)
{
	uint8_t start[2] = { STORE__P_META, name };
	leveldb_iterator_t *it = store__ldb_iter(&s->ldb, NULL);
	int rc = 0;

	if (it == NULL)
		return STORE_ERR_NOMEM;
	for (leveldb_iter_seek(it, (const char *)start, sizeof(start)); leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &klen);
		const uint8_t *v = (const uint8_t *)leveldb_iter_value(it, &vlen);
		uint64_t p;

		if (klen < 2 || k[0] != STORE__P_META || k[1] != name)
			break;
		p = klen == STORE__META_PART_LEN ? store__ld32(k + 2) : UINT64_MAX;
		if (p >= s->partitions ||
		    (name == STORE__M_DIGEST && vlen != PTREE_DIGEST_LEN) ||
		    (name == STORE__M_DIRTY && vlen != 0)) {
			rc = store__ldb_fail(&s->ldb, STORE_ERR_CORRUPT,
					     "malformed partition metadata 'M%c' (key %zu bytes, value %zu bytes)",
					     name, klen, vlen);
			break;
		}
		if (name == STORE__M_DIGEST) {
			rc = ptree_set(&s->tree, p, v);
		} else {
			rc = ptree_mark(&s->tree, p);
			store__bit_put(s->marks_on_disk, p, 1);
		}
		if (rc != 0) {
			rc = STORE_ERR_TREE;
			break;
		}
	}
	if (rc == 0)
		rc = store__ldb_iter_status(&s->ldb, it);
	leveldb_iter_destroy(it);
	return rc;
}

static int load_state(struct store *s, int verify)
{
	int rc, found;

	rc = check_format(s);
	if (rc != 0)
		return rc;
	rc = meta_get_u64(s, STORE__M_EXECUTED, &s->last_executed, &found);
	if (rc != 0)
		return rc;
	s->flushed = s->last_executed;
	rc = meta_get_u64(s, STORE__M_TRANSFER, &s->transfer_ckpt, &found);
	if (rc != 0)
		return rc;
	s->transfer_pending = found;
	if (verify) {
		/* Every partition digested again, and every digest on disk rewritten. */
		for (uint64_t p = 0; p < s->partitions; p++) {
			if (ptree_mark(&s->tree, p) != 0)
				return STORE_ERR_TREE;
			store__bit_put(s->marks_on_disk, p, 1);
		}
	} else {
		rc = load_part_meta(s, STORE__M_DIGEST);
		if (rc == 0)
			rc = load_part_meta(s, STORE__M_DIRTY);
		if (rc != 0)
			return rc;
	}
	rc = store__refresh(s);
	return rc != 0 ? rc : store__persist_digests(s);
}

/* The reason an open failed, for the caller's message. */
static void open_report(const struct store *s, const char *path, int rc, char *errbuf, size_t errlen)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen, "%s: %s", path,
			 s->ldb.err[0] != '\0' ? s->ldb.err : store_strerror(rc));
}

int store_open(const struct store_config *cfg, struct store **out, char *errbuf, size_t errlen)
{
	struct store *s;
	int rc;

	if (out != NULL)
		*out = NULL;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (cfg == NULL || cfg->path == NULL || out == NULL)
		return STORE_ERR_ARG;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return STORE_ERR_NOMEM;
	wire_buf_init(&s->key);
	wire_buf_init(&s->memo_key);
	wire_buf_init(&s->val);
	wire_buf_init(&s->cval);
	s->rlog.fd = -1; /* closed on the error paths, opened last */
	s->rlog.dirfd = -1;
	rc = ptree_init(&s->tree, cfg->fanout, cfg->levels);
	if (rc != 0) {
		rc = rc == PTREE_ERR_NOMEM ? STORE_ERR_NOMEM : STORE_ERR_ARG;
		store__ldb_fail(&s->ldb, rc, "bad partition tree shape fanout=%u levels=%u",
				cfg->fanout, cfg->levels);
		open_report(s, cfg->path, rc, errbuf, errlen);
		goto err_after_alloc;
	}
	s->fanout = cfg->fanout;
	s->levels = cfg->levels;
	s->partitions = s->tree.partitions;
	s->persist_every = cfg->digest_persist_every > 1 ? cfg->digest_persist_every : 1;
	s->marks_on_disk = calloc(s->partitions / 8 + 1, 1);
	s->marks_queued = calloc(s->partitions / 8 + 1, 1);
	rc = s->marks_on_disk == NULL || s->marks_queued == NULL ? STORE_ERR_NOMEM : 0;
	if (rc == 0)
		rc = crypto_random(s->hash_key, sizeof(s->hash_key)) != 0 ? STORE_ERR_NOMEM : 0;
	if (rc == 0)
		rc = store__txn_init(&s->txn);
	if (rc == 0)
		rc = store__txn_init(&s->pend);
	for (int i = 0; i < 2 && rc == 0; i++)
		rc = store__txn_init(&s->recent[i]);
	if (rc == 0)
		rc = store__hc_init(&s->hc, s->partitions, cfg->digest_cache_bytes);
	if (rc != 0) {
		open_report(s, cfg->path, rc, errbuf, errlen);
		goto err_after_txn;
	}
	s->defer = cfg->defer_writes != 0;
	s->recent_max = s->defer ? cfg->recent_bytes : 0;
	s->checkpoint_nosync = cfg->checkpoint_nosync != 0;
	rc = store__ldb_open(&s->ldb, cfg->path, cfg->create, cfg->cache_bytes);
	if (rc != 0) {
		open_report(s, cfg->path, rc, errbuf, errlen);
		goto err_after_txn;
	}
	rc = load_state(s, cfg->verify);
	if (rc == 0)
		rc = store__reclog_open(s, cfg->path, cfg->records_segment_bytes != 0
							 ? cfg->records_segment_bytes
							 : STORE_RECORDS_SEGMENT_DEFAULT);
	if (rc != 0) {
		open_report(s, cfg->path, rc, errbuf, errlen);
		goto err_after_ldb;
	}
	*out = s;
	return 0;

err_after_ldb:
	store__reclog_close(s);
	store__ldb_close(&s->ldb);
err_after_txn:
	store__txn_free(&s->txn);
	store__txn_free(&s->pend);
	store__txn_free(&s->recent[0]);
	store__txn_free(&s->recent[1]);
	store__hc_free(&s->hc);
	free(s->marks_on_disk);
	free(s->marks_queued);
	free(s->order);
	if (s->wb != NULL)
		leveldb_writebatch_destroy(s->wb);
	ptree_free(&s->tree);
err_after_alloc:
	wire_buf_free(&s->key);
	wire_buf_free(&s->memo_key);
	wire_buf_free(&s->val);
	wire_buf_free(&s->cval);
	free(s);
	return rc;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	/* The digests too, so that the next open digests nothing (if this fails, the marks
	 * on disk make it). */
	if (!s->transfer_pending && store_flush(s, 0) == 0 && store__refresh(s) == 0)
		(void)store__persist_digests(s);
	store__ckpt_free_all(s);
	store__ldb_close(&s->ldb);
	store__txn_free(&s->txn);
	store__txn_free(&s->pend);
	store__txn_free(&s->recent[0]);
	store__txn_free(&s->recent[1]);
	store__hc_free(&s->hc);
	store__reclog_close(s);
	free(s->marks_on_disk);
	free(s->marks_queued);
	free(s->order);
	if (s->wb != NULL)
		leveldb_writebatch_destroy(s->wb);
	ptree_free(&s->tree);
	wire_buf_free(&s->key);
	wire_buf_free(&s->memo_key);
	wire_buf_free(&s->val);
	wire_buf_free(&s->cval);
	free(s);
}

/* ---------------------------------------------------------------- sessions */
/* 'M' 'B' -> boot id (16 bytes), clean-stop flag (1 byte), votes-uncertain flag (1 byte). */
#define SESSION_LEN (STORE_BOOT_ID_LEN + 2u)

static int session_put(struct store *s, const uint8_t boot_id[STORE_BOOT_ID_LEN], uint8_t clean)
{
	uint8_t key[2] = { STORE__P_META, STORE__M_SESSION }, val[SESSION_LEN];
	leveldb_writebatch_t *wb = leveldb_writebatch_create();
	int rc;

	if (wb == NULL)
		return STORE_ERR_NOMEM;
	memcpy(val, boot_id, STORE_BOOT_ID_LEN);
	val[STORE_BOOT_ID_LEN] = clean;
	val[STORE_BOOT_ID_LEN + 1] = (uint8_t)(s->uncertain ? 1 : 0);
	leveldb_writebatch_put(wb, (const char *)key, sizeof(key), (const char *)val, sizeof(val));
	rc = store__ldb_write(&s->ldb, wb, 1);
	leveldb_writebatch_destroy(wb);
	return rc;
}

int store_session_begin(struct store *s, const uint8_t boot_id[STORE_BOOT_ID_LEN], int *lost)
{
	static const uint8_t unknown[STORE_BOOT_ID_LEN];
	uint8_t key[2] = { STORE__P_META, STORE__M_SESSION };
	int rc = store__ldb_get(&s->ldb, NULL, key, sizeof(key), &s->val);

	*lost = 0;
	if (rc == 0) {
		if (s->val.len != SESSION_LEN)
			return store__ldb_fail(&s->ldb, STORE_ERR_CORRUPT,
					       "session record holds %zu bytes, not %u", s->val.len,
					       SESSION_LEN);
		if (s->val.p[STORE_BOOT_ID_LEN] > 1 || s->val.p[STORE_BOOT_ID_LEN + 1] > 1)
			return store__ldb_fail(&s->ldb, STORE_ERR_CORRUPT,
					       "session record with flags %u %u (0 or 1 each)",
					       s->val.p[STORE_BOOT_ID_LEN], s->val.p[STORE_BOOT_ID_LEN + 1]);
		/* Same boot: only the process stopped, and the OS kept every write. An
		 * unknown boot id (all zeros) matches nothing, not even itself. */
		int same_boot = memcmp(s->val.p, boot_id, STORE_BOOT_ID_LEN) == 0 &&
				memcmp(boot_id, unknown, STORE_BOOT_ID_LEN) != 0;
		/* A loss not yet settled by an earlier run stays one: the records it took
		 * are still missing, whatever happened since. */
		*lost = (!same_boot && s->val.p[STORE_BOOT_ID_LEN] == 0) ||
			s->val.p[STORE_BOOT_ID_LEN + 1] != 0;
	} else if (rc != STORE_ERR_NOT_FOUND) {
		return rc;
	}
	s->uncertain = *lost;
	return session_put(s, boot_id, 0);
}

int store_session_settled(struct store *s, const uint8_t boot_id[STORE_BOOT_ID_LEN])
{
	int was = s->uncertain, rc;

	s->uncertain = 0;
	rc = session_put(s, boot_id, 0);
	if (rc != 0)
		s->uncertain = was;
	return rc;
}

int store_session_end(struct store *s, const uint8_t boot_id[STORE_BOOT_ID_LEN])
{
	return session_put(s, boot_id, 1);
}

const char *store_last_error(const struct store *s)
{
	return s->ldb.err;
}

uint64_t store_last_executed(const struct store *s)
{
	return s->last_executed;
}

int store_transfer_pending(const struct store *s, uint64_t *ckpt)
{
	if (s->transfer_pending && ckpt != NULL)
		*ckpt = s->transfer_ckpt;
	return s->transfer_pending;
}

void store_shape(const struct store *s, uint32_t *fanout, uint32_t *levels)
{
	*fanout = s->fanout;
	*levels = s->levels;
}

uint64_t store_partitions(const struct store *s)
{
	return s->partitions;
}

int store_get(struct store *s, uint8_t ns, const void *key, size_t klen, struct wire_buf *value)
{
	uint64_t partition;
	int rc = store__state_key(s, ns, key, klen, &partition);

	if (rc != 0)
		return rc;
	const uint8_t *v;
	size_t vlen;
	rc = store__mem_get(s, s->key.p, s->key.len, store__key_hash(s, s->key.p, s->key.len), &v,
			    &vlen);
	if (rc == 0) {
		wire_buf_reset(value);
		wire_put_fixed(value, v, vlen);
		return wire_buf_error(value) != 0 ? STORE_ERR_NOMEM : 0;
	}
	if (rc < 0)
		return rc;
	return store__ldb_get(&s->ldb, NULL, s->key.p, s->key.len, value);
}
