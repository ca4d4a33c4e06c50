/* records.c: the PBFT core's durable records: applying a pbft_update's records (one
 * append to the records log, reclog.c, synced when the update asks) and loading the
 * live ones back at start. */
#include "replica/store/store_int.h"

#include <stdlib.h>
#include <string.h>

int store_apply_records(struct store *s, const struct pbft_update *u)
{
	if (u == NULL)
		return STORE_ERR_ARG;
	if (u->nrec == 0)
		return 0;
	if (wire_buf_error(&u->recs) != 0)
		return STORE_ERR_ARG;
	for (size_t i = 0; i < u->nrec; i++) {
		const struct pbft_record *r = &u->rec[i];
		if (!r->del_below && (r->off > u->recs.len || r->len > u->recs.len - r->off))
			return store__ldb_fail(&s->ldb, STORE_ERR_ARG,
					       "record %zu (kind %u key %llu) lies outside the update's bytes",
					       i, r->kind, (unsigned long long)r->key);
	}
	return store__reclog_apply(s, u);
}

int store_load_records(struct store *s, struct store_records *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	wire_buf_init(&out->bytes);
	rc = store__reclog_load(s, out);
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
