/* local.h: a replica-local key space in the store's database: keys outside the
 * replicated state and outside every digest, never part of a checkpoint or a state
 * transfer (chunks, which each replica holds for itself, live here). */
#ifndef BULWARK_STORE_LOCAL_H
#define BULWARK_STORE_LOCAL_H

#include <stddef.h>
#include <stdint.h>

#include "replica/store/store.h"
#include "wire/wire.h"

/*
 * Key layout (store.h's table, one more prefix):
 *   'L' | local key  -> value      replica-local, not replicated, not digested
 * Local keys are 1..STORE_LOCAL_MAX_KEY bytes, values at most STORE_MAX_VALUE bytes.
 * Writes are single atomic LevelDB writes, not synced (a lost local value is fetched
 * again); they may be made while a state transaction is open and are not part of it.
 * Return codes are store_err: 0, STORE_ERR_ARG (empty key), STORE_ERR_TOO_BIG,
 * STORE_ERR_NOT_FOUND, STORE_ERR_NOMEM, or the converted LevelDB error
 * (store_last_error says more).
 */
#define STORE_LOCAL_PREFIX ((uint8_t)'L')
#define STORE_LOCAL_MAX_KEY 1024u

/* The value of key (klen bytes, borrowed) into value (reset first, caller-owned). */
int store_local_get(struct store *s, const void *key, size_t klen, struct wire_buf *value);
/* Set key to value (both borrowed; copied into the database). */
int store_local_put(struct store *s, const void *key, size_t klen, const void *value,
		    size_t vlen);
/* Remove key; removing an absent key is 0. */
int store_local_del(struct store *s, const void *key, size_t klen);
/* 1 if key is present, 0 if not, or a negative store_err. */
int store_local_has(struct store *s, const void *key, size_t klen);

#endif
