/* app.h: bulwarkd's replicated application: the key-value service and the update
 * service on one store, presented to the PBFT core as one struct pbft_app_ops. */
#ifndef BULWARK_APP_APP_H
#define BULWARK_APP_APP_H

#include <stdint.h>

#include "replica/app/kv.h"
#include "replica/app/updates.h"
#include "replica/core/pbft.h"
#include "replica/store/store.h"

/*
 * Each request's op is dispatched by its first byte: wire/upd.h's operation types
 * (0x40..0x42) go to the update service, everything else (wire/kv.h's 1..4, and
 * malformed ops, which get kv's BAD_OP) to the key-value service. The empty op is the
 * null op: no state is read or written, its result is empty (zero bytes), and a batch
 * of null ops still commits its sequence number like any other. One batch
 * is one store transaction, committed once after its last request; the update
 * service's in-memory index follows the committed state (updates_batch_end). The
 * state operations (checkpoints, state transfer) go to the store through kv's ops
 * table; a finished transfer also rebuilds the update service's index.
 */

enum app_err {
	APP_OK = 0,
	APP_ERR_ARG = -1,     /* bad argument or configuration */
	APP_ERR_NOMEM = -2,
	APP_ERR_KV = -3,      /* the key-value service failed: app_last_error() says how */
	APP_ERR_UPDATES = -4, /* the update service failed: app_last_error() says how */
	APP_ERR_STORE = -5    /* the store failed: app_last_error() says how */
};
/* A static string for an app_err. Never NULL. */
const char *app_strerror(int err);

struct app {
	struct store *store;          /* borrowed */
	struct kv_app kv;
	struct updates upd;
	struct pbft_app_ops kvops;    /* kv's own table: state ops are delegated to it */
	struct wire_buf res;          /* scratch: one result */
	int err;                      /* the last failure (app_err) */
	int store_err;                /* the store's code behind APP_ERR_STORE */
};

/* Caller-allocated a; store borrowed, both configs copied (kv NULL = defaults; upd is
 * required: group, keys and n/f have no defaults). Pair with app_free. APP_ERR_ARG for a
 * configuration either service refuses; APP_ERR_UPDATES if the update service cannot
 * load its index from the store. */
int app_init(struct app *a, struct store *store, const struct kv_config *kv,
	     const struct updates_config *upd);
void app_free(struct app *a);

/* Fill ops (every member): ctx = a, the store's tree shape. */
void app_ops(struct app *a, struct pbft_app_ops *ops);

/* The last failure in words (the failing service's or the store's message). Borrowed. */
const char *app_last_error(const struct app *a);

#endif
