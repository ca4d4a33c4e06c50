/* clients.c: the client table (last executed timestamp and result per client key and
 * lane) as entries of the replicated state, written inside a batch's transaction. */
#include <string.h>

#include "replica/store/ldb.h"
#include "replica/store/store_int.h"

#define STORE__CLIENT_TS_LEN 8u
#define STORE__CLIENT_ID_LEN (WIRE_KEY_LEN + 4u)

/* The entry's key: the client key, then the lane big-endian (a key's lanes sort together). */
static void client_id(uint8_t id[STORE__CLIENT_ID_LEN], const uint8_t client[WIRE_KEY_LEN],
		      uint32_t lane)
{
	memcpy(id, client, WIRE_KEY_LEN);
	store__be32(id + WIRE_KEY_LEN, lane);
}

int store_txn_client_put(struct store *s, const uint8_t client[WIRE_KEY_LEN], uint32_t lane,
			 uint64_t timestamp, const void *result, size_t len)
{
	uint8_t be[STORE__CLIENT_TS_LEN], id[STORE__CLIENT_ID_LEN];

	if (timestamp == 0 || (len > 0 && result == NULL))
		return STORE_ERR_ARG;
	if (len > STORE_MAX_VALUE - STORE__CLIENT_TS_LEN)
		return STORE_ERR_TOO_BIG;
	store__be64(be, timestamp);
	wire_buf_reset(&s->cval);
	wire_put_fixed(&s->cval, be, sizeof(be));
	wire_put_fixed(&s->cval, result, len);
	if (wire_buf_error(&s->cval) != 0)
		return STORE_ERR_NOMEM;
	client_id(id, client, lane);
	return store_txn_put(s, STORE_NS_CLIENT, id, sizeof(id), s->cval.p, s->cval.len);
}

int store_client_last(struct store *s, const uint8_t client[WIRE_KEY_LEN], uint32_t lane,
		      uint64_t *timestamp, struct wire_buf *reply)
{
	uint8_t id[STORE__CLIENT_ID_LEN];
	uint64_t ts;
	int rc;

	*timestamp = 0;
	client_id(id, client, lane);
	rc = store_get(s, STORE_NS_CLIENT, id, sizeof(id), &s->cval);
	if (rc == STORE_ERR_NOT_FOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (s->cval.len < STORE__CLIENT_TS_LEN)
		return store__ldb_fail(&s->ldb, STORE_ERR_CORRUPT,
				       "client table entry of %zu bytes", s->cval.len);
	ts = store__ld64(s->cval.p);
	if (ts == 0)
		return store__ldb_fail(&s->ldb, STORE_ERR_CORRUPT, "client table entry with timestamp 0");
	if (reply != NULL) {
		wire_put_fixed(reply, s->cval.p + STORE__CLIENT_TS_LEN, s->cval.len - STORE__CLIENT_TS_LEN);
		if (wire_buf_error(reply) != 0)
			return STORE_ERR_NOMEM;
	}
	*timestamp = ts;
	return 0;
}
