/* blocking.c: bulwark_put/get/del/cas: one operation through bulwark_submit, with the
 * client's loop run until it completes. */
#include <stdlib.h>
#include <string.h>

#include "client/lib/client_int.h"

struct blocking_wait {
	int pending;
	int status;
	uint64_t version;
	uint8_t *value;    /* GET: malloc'd copy */
	size_t value_len;
};

static void blocking_done(void *arg, const struct bulwark_result *res)
{
	struct blocking_wait *w = arg;

	w->pending = 0;
	w->status = res->status;
	w->version = res->version;
	if (res->status == BULWARK_OK && res->value) {
		/* malloc(0) may return NULL: always ask for at least one byte. */
		w->value = malloc(res->value_len ? res->value_len : 1);
		if (!w->value) {
			w->status = BULWARK_ERR_NOMEM;
			return;
		}
		memcpy(w->value, res->value, res->value_len);
		w->value_len = res->value_len;
	}
}

static int blocking_run(struct bulwark_client *c, const struct bulwark_op *op,
			struct blocking_wait *w)
{
	int rc;

	memset(w, 0, sizeof(*w));
	if (!c)
		return BULWARK_ERR_ARG;
	if (ev_depth(c->s->loop) > 0)
		return BULWARK_ERR_LOOP;
	rc = bulwark_submit(c, op, blocking_done, w);
	if (rc != BULWARK_OK)
		return rc;
	w->pending = 1;
	/* From here on c may be closed by another lane's callback: only its session, held
	 * by the run, and w are used. */
	rc = bulwark__run_until(c->s, &w->pending);
	if (rc != BULWARK_OK)
		return rc;
	return w->status;
}

int bulwark_put(struct bulwark_client *c, const void *key, size_t key_len, const void *value,
		size_t value_len, uint64_t *version)
{
	struct bulwark_op op = {BULWARK_OP_PUT, key, key_len, value, value_len, 0};
	struct blocking_wait w;
	int rc = blocking_run(c, &op, &w);

	if (version)
		*version = w.version;
	return rc;
}

int bulwark_get(struct bulwark_client *c, const void *key, size_t key_len, uint8_t **value,
		size_t *value_len, uint64_t *version)
{
	struct bulwark_op op = {BULWARK_OP_GET, key, key_len, NULL, 0, 0};
	struct blocking_wait w;
	int rc;

	if (!value || !value_len)
		return BULWARK_ERR_ARG;
	*value = NULL;
	*value_len = 0;
	rc = blocking_run(c, &op, &w);
	if (version)
		*version = w.version;
	if (rc != BULWARK_OK) {
		free(w.value);
		return rc;
	}
	*value = w.value;
	*value_len = w.value_len;
	return BULWARK_OK;
}

int bulwark_del(struct bulwark_client *c, const void *key, size_t key_len, uint64_t *version)
{
	struct bulwark_op op = {BULWARK_OP_DEL, key, key_len, NULL, 0, 0};
	struct blocking_wait w;
	int rc = blocking_run(c, &op, &w);

	if (version)
		*version = w.version;
	return rc;
}

int bulwark_cas(struct bulwark_client *c, const void *key, size_t key_len,
		uint64_t expected_version, const void *value, size_t value_len, uint64_t *version)
{
	struct bulwark_op op = {BULWARK_OP_CAS, key, key_len, value, value_len, expected_version};
	struct blocking_wait w;
	int rc = blocking_run(c, &op, &w);

	if (version)
		*version = w.version;
	return rc;
}
