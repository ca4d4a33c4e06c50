/* local.c: the replica-local key space ('L' prefix): values kept by this replica alone,
 * outside the replicated state and its digests (local.h). */
#include <leveldb/c.h>
#include <string.h>

#include "replica/store/local.h"
#include "replica/store/store_int.h"

/* 'L' | key into s->key. */
static int local_key(struct store *s, const void *key, size_t klen)
{
	if (key == NULL || klen == 0)
		return STORE_ERR_ARG;
	if (klen > STORE_LOCAL_MAX_KEY)
		return STORE_ERR_TOO_BIG;
	wire_buf_reset(&s->key);
	wire_put_u8(&s->key, STORE_LOCAL_PREFIX);
	wire_put_fixed(&s->key, key, klen);
	return wire_buf_error(&s->key) != 0 ? STORE_ERR_NOMEM : STORE_OK;
}

int store_local_get(struct store *s, const void *key, size_t klen, struct wire_buf *value)
{
	int rc = local_key(s, key, klen);

	if (rc != STORE_OK)
		return rc;
	return store__ldb_get(&s->ldb, NULL, s->key.p, s->key.len, value);
}

int store_local_put(struct store *s, const void *key, size_t klen, const void *value,
		    size_t vlen)
{
	leveldb_writebatch_t *wb;
	int rc;

	if (value == NULL && vlen != 0)
		return STORE_ERR_ARG;
	if (vlen > STORE_MAX_VALUE)
		return STORE_ERR_TOO_BIG;
	rc = local_key(s, key, klen);
	if (rc != STORE_OK)
		return rc;
	wb = leveldb_writebatch_create();
	if (wb == NULL)
		return STORE_ERR_NOMEM;
	leveldb_writebatch_put(wb, (const char *)s->key.p, s->key.len,
			       vlen != 0 ? (const char *)value : "", vlen);
	rc = store__ldb_write(&s->ldb, wb, 0);
	leveldb_writebatch_destroy(wb);
	return rc;
}

int store_local_del(struct store *s, const void *key, size_t klen)
{
	leveldb_writebatch_t *wb;
	int rc = local_key(s, key, klen);

	if (rc != STORE_OK)
		return rc;
	wb = leveldb_writebatch_create();
	if (wb == NULL)
		return STORE_ERR_NOMEM;
	leveldb_writebatch_delete(wb, (const char *)s->key.p, s->key.len);
	rc = store__ldb_write(&s->ldb, wb, 0);
	leveldb_writebatch_destroy(wb);
	return rc;
}

int store_local_has(struct store *s, const void *key, size_t klen)
{
	struct wire_buf v;
	int rc = local_key(s, key, klen);

	if (rc != STORE_OK)
		return rc;
	wire_buf_init(&v);
	rc = store__ldb_get(&s->ldb, NULL, s->key.p, s->key.len, &v);
	wire_buf_free(&v);
	if (rc == STORE_OK)
		return 1;
	return rc == STORE_ERR_NOT_FOUND ? 0 : rc;
}
