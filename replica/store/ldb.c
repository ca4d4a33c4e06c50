/* ldb.c: the LevelDB adapter: opening, reads, atomic writes, iterators, error conversion. */
#include "replica/store/ldb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "replica/store/store.h"

#define LDB_BLOOM_BITS 10
/* Table block size: LevelDB's 4 KiB default holds three 1 KiB values, so compactions and
 * checkpoint digest scans handle (read, check, compress, index) a block per three
 * entries; 16 KiB blocks cut the put workload's CPU per op by ~8 % (docs/BENCHMARKS.md)
 * and left point reads unchanged (a read decodes one block either way). */
#define LDB_BLOCK_BYTES (16u << 10)

/* The one place LevelDB error strings end up: classify, keep, log once, free. */
static int ldb_convert(struct store__ldb *l, char *err, const char *what, int fallback)
{
	int code = fallback;

	if (strncmp(err, "Corruption:", 11) == 0)
		code = STORE_ERR_CORRUPT;
	else if (strncmp(err, "IO error:", 9) == 0)
		code = STORE_ERR_IO;
	snprintf(l->err, sizeof(l->err), "%s: %s", what, err);
	log_error("store", "leveldb failed", "op=%s err=%s", what, err);
	leveldb_free(err);
	return code;
}

int store__ldb_fail(struct store__ldb *l, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->err, sizeof(l->err), fmt, ap);
	va_end(ap);
	log_debug("store", "store operation refused", "err=%s", l->err);
	return code;
}

int store__ldb_open(struct store__ldb *l, const char *path, int create, size_t cache_bytes)
{
	char *err = NULL;

	memset(l, 0, sizeof(*l));
	l->opt = leveldb_options_create();
	l->ro = leveldb_readoptions_create();
	l->ro_scan = leveldb_readoptions_create();
	l->wo_sync = leveldb_writeoptions_create();
	l->wo_nosync = leveldb_writeoptions_create();
	l->filter = leveldb_filterpolicy_create_bloom(LDB_BLOOM_BITS);
	if (cache_bytes > 0)
		l->cache = leveldb_cache_create_lru(cache_bytes);
	if (l->opt == NULL || l->ro == NULL || l->ro_scan == NULL || l->wo_sync == NULL ||
	    l->wo_nosync == NULL || l->filter == NULL || (cache_bytes > 0 && l->cache == NULL)) {
		store__ldb_close(l);
		return store__ldb_fail(l, STORE_ERR_NOMEM, "out of memory for LevelDB options");
	}
	leveldb_options_set_create_if_missing(l->opt, create ? 1 : 0);
	leveldb_options_set_paranoid_checks(l->opt, 1);
	leveldb_options_set_block_size(l->opt, LDB_BLOCK_BYTES);
	leveldb_options_set_filter_policy(l->opt, l->filter);
	if (l->cache != NULL)
		leveldb_options_set_cache(l->opt, l->cache);
	leveldb_readoptions_set_verify_checksums(l->ro, 1);
	leveldb_readoptions_set_verify_checksums(l->ro_scan, 1);
	leveldb_readoptions_set_fill_cache(l->ro_scan, 0);
	leveldb_writeoptions_set_sync(l->wo_sync, 1);
	leveldb_writeoptions_set_sync(l->wo_nosync, 0);

	l->db = leveldb_open(l->opt, path, &err);
	if (err != NULL) {
		int rc = ldb_convert(l, err, "open", STORE_ERR_OPEN);
		l->db = NULL;
		store__ldb_close(l);
		return rc == STORE_ERR_CORRUPT ? rc : STORE_ERR_OPEN;
	}
	return 0;
}

void store__ldb_close(struct store__ldb *l)
{
	if (l->db != NULL)
		leveldb_close(l->db);
	if (l->opt != NULL)
		leveldb_options_destroy(l->opt);
	if (l->filter != NULL)
		leveldb_filterpolicy_destroy(l->filter);
	if (l->cache != NULL)
		leveldb_cache_destroy(l->cache);
	if (l->ro != NULL)
		leveldb_readoptions_destroy(l->ro);
	if (l->ro_scan != NULL)
		leveldb_readoptions_destroy(l->ro_scan);
	if (l->wo_sync != NULL)
		leveldb_writeoptions_destroy(l->wo_sync);
	if (l->wo_nosync != NULL)
		leveldb_writeoptions_destroy(l->wo_nosync);
	l->db = NULL;
	l->opt = NULL;
	l->filter = NULL;
	l->cache = NULL;
	l->ro = l->ro_scan = NULL;
	l->wo_sync = l->wo_nosync = NULL;
}

int store__ldb_get(struct store__ldb *l, const leveldb_snapshot_t *snap, const void *key,
		   size_t klen, struct wire_buf *out)
{
	char *err = NULL;
	size_t vlen = 0;
	char *v;

	wire_buf_reset(out);
	leveldb_readoptions_set_snapshot(l->ro, snap);
	v = leveldb_get(l->db, l->ro, key, klen, &vlen, &err);
	leveldb_readoptions_set_snapshot(l->ro, NULL);
	if (err != NULL)
		return ldb_convert(l, err, "get", STORE_ERR_IO);
	if (v == NULL)
		return STORE_ERR_NOT_FOUND;
	wire_put_fixed(out, v, vlen);
	leveldb_free(v);
	return wire_buf_error(out) != 0 ? STORE_ERR_NOMEM : 0;
}

int store__ldb_write(struct store__ldb *l, leveldb_writebatch_t *wb, int sync)
{
	char *err = NULL;

	leveldb_write(l->db, sync ? l->wo_sync : l->wo_nosync, wb, &err);
	if (err != NULL)
		return ldb_convert(l, err, sync ? "write (sync)" : "write", STORE_ERR_IO);
	return 0;
}

leveldb_iterator_t *store__ldb_iter(struct store__ldb *l, const leveldb_snapshot_t *snap)
{
	leveldb_iterator_t *it;

	leveldb_readoptions_set_snapshot(l->ro_scan, snap);
	it = leveldb_create_iterator(l->db, l->ro_scan);
	leveldb_readoptions_set_snapshot(l->ro_scan, NULL);
	if (it == NULL)
		store__ldb_fail(l, STORE_ERR_NOMEM, "out of memory for a LevelDB iterator");
	return it;
}

int store__ldb_iter_status(struct store__ldb *l, leveldb_iterator_t *it)
{
	char *err = NULL;

	leveldb_iter_get_error(it, &err);
	if (err != NULL)
		return ldb_convert(l, err, "scan", STORE_ERR_IO);
	return 0;
}
