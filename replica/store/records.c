/* records.c: the PBFT core's durable records ('R' | kind | key u64): applying a
 * pbft_update's records in one write, and loading them all back at start. */
#include "replica/store/store_int.h"

#include <stdlib.h>
#include <string.h>

static void record_key(uint8_t out[STORE__RECORD_KEY_LEN], uint8_t kind, uint64_t key)
{
	out[0] = STORE__P_RECORD;
	out[1] = kind;
	store__be64(out + 2, key);
}

/* Remember that a record (kind, key) is stored. */
static int keyset_add(struct store__keyset *ks, uint64_t key)
{
	for (size_t i = 0; i < ks->n; i++)
		if (ks->key[i] == key)
			return 0;
	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 64;
		uint64_t *k = realloc(ks->key, cap * sizeof(*k));
		if (k == NULL)
			return STORE_ERR_NOMEM;
		ks->key = k;
		ks->cap = cap;
	}
	ks->key[ks->n++] = key;
	return 0;
}

int store__load_record_keys(struct store *s)
{
	uint8_t start[1] = { STORE__P_RECORD };
	leveldb_iterator_t *it = store__ldb_iter(&s->ldb, NULL);
	int rc = 0;

	if (it == NULL)
		return STORE_ERR_NOMEM;
	for (leveldb_iter_seek(it, (const char *)start, sizeof(start));
	     leveldb_iter_valid(it) && rc == 0; leveldb_iter_next(it)) {
		size_t klen;
		const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &klen);

		if (klen < 1 || k[0] != STORE__P_RECORD)
			break;
		if (klen == STORE__RECORD_KEY_LEN) /* others: store_load_records reports them */
			rc = keyset_add(&s->rkeys[k[1]], store__ld64(k + 2));
	}
	if (rc == 0)
		rc = store__ldb_iter_status(&s->ldb, it);
	leveldb_iter_destroy(it);
	return rc;
}

void store__keysets_free(struct store *s)
{
	for (size_t i = 0; i < 256; i++) {
		free(s->rkeys[i].key);
		memset(&s->rkeys[i], 0, sizeof(s->rkeys[i]));
	}
}

/* Add to wb a delete of every stored record of kind with key < below (the stored ones
 * are in the kind's key set, puts earlier in the same update included), and forget
 * them. */
static void delete_below(struct store *s, leveldb_writebatch_t *wb, uint8_t kind, uint64_t below)
{
	struct store__keyset *ks = &s->rkeys[kind];
	uint8_t key[STORE__RECORD_KEY_LEN];
	size_t kept = 0;

	for (size_t i = 0; i < ks->n; i++) {
		if (ks->key[i] >= below) {
			ks->key[kept++] = ks->key[i];
			continue;
		}
		record_key(key, kind, ks->key[i]);
		leveldb_writebatch_delete(wb, (const char *)key, sizeof(key));
	}
	ks->n = kept;
}

int store_apply_records(struct store *s, const struct pbft_update *u)
{
	uint8_t key[STORE__RECORD_KEY_LEN];
	leveldb_writebatch_t *wb;
	int rc = 0;

	if (u == NULL)
		return STORE_ERR_ARG;
	if (u->nrec == 0)
		return 0;
	if (wire_buf_error(&u->recs) != 0)
		return STORE_ERR_ARG;
	wb = leveldb_writebatch_create();
	if (wb == NULL)
		return STORE_ERR_NOMEM;
	for (size_t i = 0; i < u->nrec && rc == 0; i++) {
		const struct pbft_record *r = &u->rec[i];
		if (r->del_below) {
			/* Later puts stay: the write batch keeps order. */
			delete_below(s, wb, r->kind, r->key);
			continue;
		}
		if (r->off > u->recs.len || r->len > u->recs.len - r->off) {
			rc = store__ldb_fail(&s->ldb, STORE_ERR_ARG,
					     "record %zu (kind %u key %llu) lies outside the update's bytes",
					     i, r->kind, (unsigned long long)r->key);
			break;
		}
		record_key(key, r->kind, r->key);
		leveldb_writebatch_put(wb, (const char *)key, sizeof(key),
				       (const char *)u->recs.p + r->off, r->len);
		/* Known at once, so that a delete later in this update finds it. If the
		 * write fails the replica stops: a key set ahead of the disk only makes a
		 * later delete of an absent key. */
		rc = keyset_add(&s->rkeys[r->kind], r->key);
	}
	if (rc == 0)
		rc = store__ldb_write(&s->ldb, wb, u->sync);
	leveldb_writebatch_destroy(wb);
	return rc;
}

int store_load_records(struct store *s, struct store_records *out)
{
	uint8_t start[1] = { STORE__P_RECORD };
	leveldb_iterator_t *it;
	size_t cap = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	wire_buf_init(&out->bytes);
	it = store__ldb_iter(&s->ldb, NULL);
	if (it == NULL)
		return STORE_ERR_NOMEM;
	for (leveldb_iter_seek(it, (const char *)start, sizeof(start)); leveldb_iter_valid(it);
	     leveldb_iter_next(it)) {
		size_t klen, vlen;
		const uint8_t *k = (const uint8_t *)leveldb_iter_key(it, &klen);
		const char *v = leveldb_iter_value(it, &vlen);
		struct pbft_record *r;

		if (klen < 1 || k[0] != STORE__P_RECORD)
			break;
		if (klen != STORE__RECORD_KEY_LEN) {
			rc = store__ldb_fail(&s->ldb, STORE_ERR_CORRUPT,
					     "record key of %zu bytes, not %u", klen,
					     STORE__RECORD_KEY_LEN);
			break;
		}
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct pbft_record *nrec = realloc(out->rec, ncap * sizeof(*nrec));
			if (nrec == NULL) {
				rc = STORE_ERR_NOMEM;
				break;
			}
			out->rec = nrec;
			cap = ncap;
		}
		r = &out->rec[out->n++];
		memset(r, 0, sizeof(*r));
		r->kind = k[1];
		r->key = store__ld64(k + 2);

		r->off = out->bytes.len;
		r->len = vlen;
		wire_put_fixed(&out->bytes, v, vlen);
		if (wire_buf_error(&out->bytes) != 0) {
			rc = STORE_ERR_NOMEM;
			break;
		}
	}
	if (rc == 0)
		rc = store__ldb_iter_status(&s->ldb, it);
	leveldb_iter_destroy(it);
	if (rc != 0)
		store_records_free(out);
	return rc;
}

void store_records_free(struct store_records *r)
{
	free(r->rec);
	wire_buf_free(&r->bytes);
	memset(r, 0, sizeof(*r));
}
