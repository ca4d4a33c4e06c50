/* ldb.h: the LevelDB adapter of replica/store (internal): the one place where LevelDB's
 * `char **errptr` strings are turned into store error codes, kept and freed. */
#ifndef BULWARK_STORE_LDB_H
#define BULWARK_STORE_LDB_H

#include <leveldb/c.h>
#include <stddef.h>

#include "wire/wire.h"

#define STORE__ERRMSG_LEN 256u

struct store__ldb {
	leveldb_t *db;
	leveldb_options_t *opt;
	leveldb_cache_t *cache;
	leveldb_filterpolicy_t *filter;
	leveldb_readoptions_t *ro;       /* live reads */
	leveldb_readoptions_t *ro_scan;  /* live scans: do not fill the block cache */
	leveldb_writeoptions_t *wo_sync;
	leveldb_writeoptions_t *wo_nosync;
	char err[STORE__ERRMSG_LEN];     /* last failure, "" when none */
};

/* Open (or create when create != 0) the database at path (borrowed). cache_bytes 0
 * keeps LevelDB's default block cache. l is caller-allocated; on failure it is left
 * closed (store__ldb_close is still safe) and l->err says why. */
int store__ldb_open(struct store__ldb *l, const char *path, int create, size_t cache_bytes);
/* Close and free everything but l->err, which keeps the last failure. */
void store__ldb_close(struct store__ldb *l);

/* Read key into out (reset first). snap NULL reads the live state. Returns 0,
 * STORE_ERR_NOT_FOUND, STORE_ERR_NOMEM or the converted LevelDB error. */
int store__ldb_get(struct store__ldb *l, const leveldb_snapshot_t *snap, const void *key,
		   size_t klen, struct wire_buf *out);
/* Apply wb atomically, synced to disk when sync != 0. */
int store__ldb_write(struct store__ldb *l, leveldb_writebatch_t *wb, int sync);

/* An iterator over the live state (snap NULL) or a snapshot; destroy it with
 * leveldb_iter_destroy. NULL only if memory ran out (then STORE_ERR_NOMEM). */
leveldb_iterator_t *store__ldb_iter(struct store__ldb *l, const leveldb_snapshot_t *snap);
/* 0, or the converted error the iterator ran into (check after a scan ends). */
int store__ldb_iter_status(struct store__ldb *l, leveldb_iterator_t *it);

/* Remember a failure that did not come from LevelDB (printf format; logged at debug
 * level only: peers can provoke these) and return code. */
int store__ldb_fail(struct store__ldb *l, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
