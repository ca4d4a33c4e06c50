/* publish.c: libbulwark's publisher side (bulwark_publish.h): raw ordered operations,
 * pipelined chunk uploads with verified receipts, CHANNEL_CREATE, POLICY_ROTATE and
 * PUBLISH. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/bulwark_publish.h"
#include "client/lib/client_int.h"
#include "wire/chunk.h"
#include "wire/upd.h"

#define PUB_WINDOW 8u            /* chunks outstanding per replica */
#define PUB_CONNECT_WAIT_MS 2000u /* wait this long for every replica to be connected */
#define PUB_GRACE_MS 1000u        /* once every chunk has its receipts, wait this long for
				   * the slower replicas (a silent one must not stall us) */

static void pub_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void pub_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- raw operations */
int bulwark_submit_raw(struct bulwark_client *c, const void *op, size_t len,
		       bulwark_done_fn done, void *arg)
{
	struct bulwark_op o;

	if (c == NULL || op == NULL || len == 0)
		return BULWARK_ERR_ARG;
	memset(&o, 0, sizeof(o));
	o.type = BULWARK__OP_RAW;
	o.value = op;
	o.value_len = len;
	return bulwark_submit(c, &o, done, arg);
}

struct raw_wait {
	int busy;
	int status;
	uint8_t *res;
	size_t len;
};

static void raw_done(void *arg, const struct bulwark_result *r)
{
	struct raw_wait *w = arg;

	w->busy = 0;
	w->status = r->status;
	if (r->status != BULWARK_OK)
		return;
	w->res = malloc(r->value_len > 0 ? r->value_len : 1);
	if (w->res == NULL) {
		w->status = BULWARK_ERR_NOMEM;
		return;
	}
	memcpy(w->res, r->value, r->value_len);
	w->len = r->value_len;
}

int bulwark_call_raw(struct bulwark_client *c, const void *op, size_t len, uint8_t **result,
		     size_t *result_len)
{
	struct raw_wait w;
	int rc;

	if (c == NULL || result == NULL || result_len == NULL)
		return BULWARK_ERR_ARG;
	if (ev_depth(c->s->loop) > 0)
		return BULWARK_ERR_LOOP;
	memset(&w, 0, sizeof(w));
	rc = bulwark_submit_raw(c, op, len, raw_done, &w);
	if (rc != BULWARK_OK)
		return rc;
	w.busy = 1;
	rc = bulwark__run_until(c->s, &w.busy);
	if (rc != BULWARK_OK)
		return rc;
	if (w.status != BULWARK_OK) {
		free(w.res);
		return w.status;
	}
	*result = w.res;
	*result_len = w.len;
	return BULWARK_OK;
}

int bulwark_upd_result_decode(const void *buf, size_t len, struct bulwark_upd_result *res)
{
	struct wire_upd_result r;

	if (res == NULL)
		return BULWARK_ERR_ARG;
	memset(res, 0, sizeof(*res));
	if (buf == NULL || wire_upd_decode_result(buf, len, &r) != WIRE_OK)
		return BULWARK_ERR_PROTOCOL;
	res->status = r.status;
	res->reason = r.reason;
	res->a = r.a;
	res->b = r.b;
	res->c = r.c;
	memcpy(res->hash, r.hash, sizeof(res->hash));
	snprintf(res->status_name, sizeof(res->status_name), "%s", wire_upd_status_name(r.status));
	memcpy(res->text, r.text.p, r.text.len < sizeof(res->text) ? r.text.len : sizeof(res->text) - 1);
	return BULWARK_OK;
}

/* Order op (len bytes) and decode the update service's result into res. */
static int call_upd(struct bulwark_client *c, const uint8_t *op, size_t len,
		    struct bulwark_upd_result *res)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc = bulwark_call_raw(c, op, len, &out, &outlen);

	memset(res, 0, sizeof(*res));
	if (rc != BULWARK_OK)
		return rc;
	rc = bulwark_upd_result_decode(out, outlen, res);
	free(out);
	return rc;
}

/* ---------------------------------------------------------------- chunk uploads */
struct pub_rep {
	size_t next;                  /* next chunk to send */
	size_t sent[PUB_WINDOW];      /* outstanding chunk indexes, oldest first */
	uint32_t nout;
	int dead;                     /* its connection dropped: nothing more expected */
};

struct bulwark__chunks {
	const struct bulwark_chunk *chunks;
	size_t count;
	struct bulwark_chunk_receipts *out;
	struct pub_rep *rep;
	uint64_t answered, total;
	uint32_t need;                /* verified receipts wanted per chunk */
	size_t enough;                /* chunks that have them */
	int running;
	bulwark_progress_fn progress;
	void *progress_arg;
	struct wire_buf msg;
	int err;
};

const char *bulwark_chunk_state_name(int state)
{
	if (state == BULWARK_CHUNK_PENDING)
		return "no answer";
	if (state == BULWARK_CHUNK_BAD_RECEIPT)
		return "receipt signature does not verify";
	if (state >= 0 && state <= (int)WIRE_CHUNK_STATUS_MAX)
		return wire_chunk_status_name((uint32_t)state);
	return "unknown";
}

/* Send replica i's next chunks while its window has room. */
static void pump(struct bulwark__session *s, uint32_t i)
{
	struct bulwark__chunks *u = s->chunks;
	struct pub_rep *r = &u->rep[i];
	struct wire_chunk_put m;
	struct wire_hdr h;

	if (r->dead)
		return;
	if (s->rep[i].conn == NULL) {
		r->dead = 1;
		return;
	}
	memset(&h, 0, sizeof(h));
	h.sender = WIRE_SENDER_CLIENT;
	h.group = s->group;
	h.epoch = s->epoch;
	while (r->nout < PUB_WINDOW && r->next < u->count) {
		const struct bulwark_chunk *ch = &u->chunks[r->next];
		memcpy(m.sha256, ch->sha256, 32);
		m.data.p = ch->data;
		m.data.len = (uint32_t)ch->len;
		wire_buf_reset(&u->msg);
		if (wire_chunk_put_encode(&u->msg, &h, &m) != 0) {
			u->err = BULWARK_ERR_NOMEM;
			return;
		}
		if (net_send(s->rep[i].conn, u->msg.p, u->msg.len) != NET_OK) {
			r->dead = 1;
			return;
		}
		r->sent[r->nout++] = r->next++;
	}
}

static int upload_finished(const struct bulwark__session *s)
{
	const struct bulwark__chunks *u = s->chunks;

	for (uint32_t i = 0; i < s->n; i++) {
		const struct pub_rep *r = &u->rep[i];
		if (!r->dead && (r->next < u->count || r->nout > 0))
			return 0;
	}
	return 1;
}

void bulwark__chunk_receipt(struct bulwark__session *s, uint32_t id, const uint8_t *buf,
			    size_t len)
{
	struct bulwark__chunks *u = s->chunks;
	struct wire_chunk_receipt m;
	uint8_t msg[WIRE_UPD_RECEIPT_LEN];
	struct wire_hdr h;
	struct pub_rep *r;
	size_t idx;
	int state;

	if (u == NULL || !u->running || id >= s->n)
		return;
	r = &u->rep[id];
	if (r->dead || r->nout == 0)
		return;
	if (wire_chunk_receipt_decode(buf, len, &h, &m) != WIRE_OK || h.sender != id ||
	    m.replica != id || h.group != s->group || h.epoch != s->epoch)
		return;
	idx = r->sent[0];
	if (memcmp(m.sha256, u->chunks[idx].sha256, 32) != 0)
		return; /* not the answer to our oldest outstanding chunk: ignore it */
	memmove(r->sent, r->sent + 1, (r->nout - 1) * sizeof(r->sent[0]));
	r->nout--;
	state = (int)m.status;
	if (m.status == WIRE_CHUNK_OK) {
		wire_upd_receipt_bytes(s->group, s->epoch, m.sha256, u->chunks[idx].len, msg);
		if (m.size != u->chunks[idx].len ||
		    crypto_ed25519_verify_raw(s->replica_keys[id], msg, sizeof(msg), m.sig) != 0)
			state = BULWARK_CHUNK_BAD_RECEIPT;
	}
	u->out[idx].state[id] = state;
	if (state == BULWARK_CHUNK_OK) {
		memcpy(u->out[idx].sig[id], m.sig, 64);
		if (++u->out[idx].ok == u->need)
			u->enough++;
	}
	u->answered++;
	if (u->progress != NULL)
		u->progress(u->progress_arg, u->answered, u->total);
	pump(s, id);
	if (upload_finished(s))
		u->running = 0;
}

static void upload_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	int *running = w->data;

	(void)loop;
	(void)revents;
	*running = 0;
}

/* Wait until every replica is connected, or PUB_CONNECT_WAIT_MS passed. */
static void wait_connected(struct bulwark__session *s)
{
	uint64_t until = bulwark__now_ms() + PUB_CONNECT_WAIT_MS;
	ev_timer t;
	int waiting = 1;

	ev_timer_init(&t, upload_timer, 0.05, 0.05);
	t.data = &waiting;
	ev_timer_start(s->loop, &t);
	while (s->nup < s->n && bulwark__now_ms() < until) {
		waiting = 1;
		ev_run(s->loop, EVRUN_ONCE);
	}
	ev_timer_stop(s->loop, &t);
}

int bulwark_chunks_upload(struct bulwark_client *c, const struct bulwark_chunk *chunks,
			  size_t count, uint32_t need, uint32_t timeout_ms,
			  struct bulwark_chunk_receipts *out, size_t *bad_chunk,
			  bulwark_progress_fn progress, void *progress_arg)
{
	struct bulwark__session *s;
	struct bulwark__chunks u;
	ev_timer t;
	int rc = BULWARK_OK;

	if (c == NULL || (chunks == NULL && count > 0) || (out == NULL && count > 0))
		return BULWARK_ERR_ARG;
	s = c->s; /* the receipts arrive on the session's connections */
	if (s->n > 64 || need > s->n)
		return BULWARK_ERR_ARG;
	if (ev_depth(s->loop) > 0)
		return BULWARK_ERR_LOOP;
	if (s->chunks != NULL)
		return BULWARK_ERR_BUSY;
	for (size_t i = 0; i < count; i++) {
		if (chunks[i].len > WIRE_CHUNK_HARD_MAX || (chunks[i].data == NULL && chunks[i].len))
			return chunks[i].len > WIRE_CHUNK_HARD_MAX ? BULWARK_ERR_TOO_BIG
								   : BULWARK_ERR_ARG;
		memset(&out[i], 0, sizeof(out[i]));
		out[i].n = s->n;
		for (uint32_t j = 0; j < 64; j++)
			out[i].state[j] = BULWARK_CHUNK_PENDING;
	}
	if (count == 0)
		return BULWARK_OK;
	memset(&u, 0, sizeof(u));
	u.rep = calloc(s->n, sizeof(*u.rep));
	if (u.rep == NULL)
		return BULWARK_ERR_NOMEM;
	u.chunks = chunks;
	u.count = count;
	u.need = need;
	u.out = out;
	u.progress = progress;
	u.progress_arg = progress_arg;
	wire_buf_init(&u.msg);
	s->chunks = &u;
	/* A callback run meanwhile may close c, even every lane: s stays until we are done. */
	bulwark__session_hold(s);

	wait_connected(s);
	u.total = (uint64_t)count * s->n;
	u.running = 1;
	for (uint32_t i = 0; i < s->n; i++)
		pump(s, i);
	if (upload_finished(s))
		u.running = 0;
	ev_timer_init(&t, upload_timer, (timeout_ms ? timeout_ms : 60000u) / 1000.0, 0.0);
	t.data = &u.running;
	ev_timer_start(s->loop, &t);
	int in_grace = 0;
	while (u.running && u.err == 0) {
		if (u.enough == count && !in_grace) {
			in_grace = 1;
			ev_timer_stop(s->loop, &t);
			ev_timer_set(&t, PUB_GRACE_MS / 1000.0, 0.0);
			ev_timer_start(s->loop, &t);
		}
		ev_run(s->loop, EVRUN_ONCE);
		/* A replica whose connection dropped answers nothing more. */
		for (uint32_t i = 0; i < s->n; i++) {
			if (!u.rep[i].dead && s->rep[i].conn == NULL)
				u.rep[i].dead = 1;
		}
		if (upload_finished(s))
			u.running = 0;
	}
	ev_timer_stop(s->loop, &t);
	s->chunks = NULL;
	if (u.err != 0)
		rc = u.err;
	for (size_t i = 0; rc == BULWARK_OK && i < count; i++) {
		if (out[i].ok < need) {
			if (bad_chunk != NULL)
				*bad_chunk = i;
			rc = BULWARK_ERR_REJECTED;
		}
	}
	wire_buf_free(&u.msg);
	free(u.rep);
	bulwark__session_release(s);
	return rc;
}

/* ---------------------------------------------------------------- channels */
/* The new policy's m public keys, concatenated into keys (32 bytes each). */
static int load_pub_keys(const char *const *paths, uint32_t m, struct wire_buf *keys, char *err,
			 size_t errlen)
{
	struct crypto_ed25519_key pk;

	for (uint32_t i = 0; i < m; i++) {
		memset(&pk, 0, sizeof(pk));
		if (crypto_ed25519_load_public(&pk, paths[i], err, errlen) != 0)
			return BULWARK_ERR_KEY;
		wire_put_fixed(keys, pk.pub, CRYPTO_ED25519_PUB);
		crypto_ed25519_free(&pk);
	}
	return wire_buf_error(keys) ? BULWARK_ERR_NOMEM : BULWARK_OK;
}

int bulwark_channel_create(struct bulwark_client *c, const char *admin_key_path,
			   const char *name, uint32_t k, const char *const *pub_paths, uint32_t m,
			   struct bulwark_upd_result *res, char *err, size_t errlen)
{
	struct crypto_ed25519_key admin;
	struct wire_upd_op op;
	struct wire_buf keys, signed_bytes, opb;
	uint8_t sig[WIRE_UPD_SIG_LEN];
	int rc;

	if (c == NULL || admin_key_path == NULL || name == NULL || res == NULL ||
	    (pub_paths == NULL && m > 0))
		return BULWARK_ERR_ARG;
	memset(res, 0, sizeof(*res));
	memset(&admin, 0, sizeof(admin));
	wire_buf_init(&keys);
	wire_buf_init(&signed_bytes);
	wire_buf_init(&opb);
	if (crypto_ed25519_load_private(&admin, admin_key_path, err, errlen) != 0) {
		rc = BULWARK_ERR_KEY;
		goto out;
	}
	rc = load_pub_keys(pub_paths, m, &keys, err, errlen);
	if (rc != BULWARK_OK)
		goto out;
	memset(&op, 0, sizeof(op));
	op.type = WIRE_UPD_CHANNEL_CREATE;
	op.name.p = (const uint8_t *)name;
	op.name.len = (uint32_t)strlen(name);
	op.policy.k = k;
	op.policy.m = m;
	op.policy.keys = keys.p;
	rc = wire_upd_create_signed_bytes(c->s->group, c->s->epoch, &op, &signed_bytes);
	if (rc != 0 || crypto_ed25519_sign(&admin, signed_bytes.p, signed_bytes.len, sig) != 0) {
		pub_err(err, errlen, "cannot sign the channel creation");
		rc = BULWARK_ERR_CRYPTO;
		goto out;
	}
	op.admin_sig = sig;
	if (wire_upd_encode_op(&opb, &op) != 0) {
		rc = BULWARK_ERR_NOMEM;
		goto out;
	}
	rc = call_upd(c, opb.p, opb.len, res);
	if (rc != BULWARK_OK)
		pub_err(err, errlen, "CHANNEL_CREATE: %s", bulwark_strerror(rc));
out:
	crypto_ed25519_free(&admin);
	wire_buf_free(&keys);
	wire_buf_free(&signed_bytes);
	wire_buf_free(&opb);
	return rc;
}

int bulwark_channel_rotate(struct bulwark_client *c, const char *name, uint64_t policy_version,
			   uint32_t k, const char *const *pub_paths, uint32_t m,
			   const char *const *key_paths, uint32_t nkeys,
			   struct bulwark_upd_result *res, char *err, size_t errlen)
{
	struct wire_upd_op op;
	struct wire_buf keys, body, opb;
	uint8_t *sigs = NULL;
	uint32_t nsigs = 0;
	int rc;

	if (c == NULL || name == NULL || res == NULL || pub_paths == NULL || m == 0 ||
	    m > WIRE_UPD_MAX_KEYS || key_paths == NULL || nkeys == 0 ||
	    nkeys > WIRE_UPD_MAX_SIGS || policy_version == 0)
		return BULWARK_ERR_ARG;
	memset(res, 0, sizeof(*res));
	if (wire_upd_check_channel(name, strlen(name)) != 0) {
		pub_err(err, errlen, "%s: not a valid channel name", name);
		return BULWARK_ERR_ARG;
	}
	wire_buf_init(&keys);
	wire_buf_init(&body);
	wire_buf_init(&opb);
	rc = load_pub_keys(pub_paths, m, &keys, err, errlen);
	if (rc != BULWARK_OK)
		goto out;
	memset(&op, 0, sizeof(op));
	op.type = WIRE_UPD_POLICY_ROTATE;
	op.name.p = (const uint8_t *)name;
	op.name.len = (uint32_t)strlen(name);
	op.policy_version = policy_version;
	op.policy.k = k;
	op.policy.m = m;
	op.policy.keys = keys.p;
	if (wire_upd_rotate_signed_bytes(c->s->group, c->s->epoch, &op, &body) != 0) {
		rc = BULWARK_ERR_NOMEM;
		goto out;
	}
	sigs = malloc((size_t)nkeys * (WIRE_UPD_HASH_LEN + WIRE_UPD_SIG_LEN));
	if (sigs == NULL) {
		rc = BULWARK_ERR_NOMEM;
		goto out;
	}
	/* One signature per distinct key: a key kept across the rotation, given both as an
	 * old and a new key, signs once and counts for both policies. */
	for (uint32_t i = 0; i < nkeys; i++) {
		struct crypto_ed25519_key sk;
		struct wire_upd_sig s;
		int dup = 0;
		memset(&sk, 0, sizeof(sk));
		if (crypto_ed25519_load_private(&sk, key_paths[i], err, errlen) != 0) {
			rc = BULWARK_ERR_KEY;
			goto out;
		}
		rc = wire_upd_sign(&sk, WIRE_UPD_ROTATION_TYPE, body.p, body.len, &s);
		crypto_ed25519_free(&sk);
		if (rc != 0) {
			pub_err(err, errlen, "%s: cannot sign the rotation", key_paths[i]);
			rc = BULWARK_ERR_CRYPTO;
			goto out;
		}
		for (uint32_t j = 0; j < nsigs && !dup; j++)
			dup = memcmp(sigs + (size_t)j * (WIRE_UPD_HASH_LEN + WIRE_UPD_SIG_LEN), s.keyid,
				     WIRE_UPD_HASH_LEN) == 0;
		if (dup)
			continue;
		memcpy(sigs + (size_t)nsigs * (WIRE_UPD_HASH_LEN + WIRE_UPD_SIG_LEN), s.keyid,
		       WIRE_UPD_HASH_LEN);
		memcpy(sigs + (size_t)nsigs * (WIRE_UPD_HASH_LEN + WIRE_UPD_SIG_LEN) + WIRE_UPD_HASH_LEN,
		       s.sig, WIRE_UPD_SIG_LEN);
		nsigs++;
	}
	op.nsigs = nsigs;
	op.sigs = sigs;
	if (wire_upd_encode_op(&opb, &op) != 0) {
		rc = BULWARK_ERR_NOMEM;
		goto out;
	}
	rc = call_upd(c, opb.p, opb.len, res);
	if (rc != BULWARK_OK)
		pub_err(err, errlen, "POLICY_ROTATE: %s", bulwark_strerror(rc));
out:
	free(sigs);
	wire_buf_free(&keys);
	wire_buf_free(&body);
	wire_buf_free(&opb);
	return rc;
}

/* ---------------------------------------------------------------- releases */
struct bulwark_release {
	uint32_t chunk_size;
	uint32_t nfiles;
	struct wire_upd_file *files;      /* names, sizes and chunk hashes; owned */
	uint32_t nchunks;
	struct wire_buf receipts;         /* nchunks receipt lists, as PUBLISH carries them */
	uint32_t nkeys;
	struct crypto_ed25519_key *keys;  /* the publisher keys that sign its manifests */
	char **key_paths;                 /* for messages */
};

void bulwark_release_free(struct bulwark_release *r)
{
	if (r == NULL)
		return;
	for (uint32_t i = 0; r->files != NULL && i < r->nfiles; i++) {
		free(r->files[i].path);
		free(r->files[i].chunks);
	}
	for (uint32_t i = 0; r->keys != NULL && i < r->nkeys; i++) {
		crypto_ed25519_free(&r->keys[i]);
		free(r->key_paths[i]);
	}
	free(r->files);
	free(r->keys);
	free(r->key_paths);
	wire_buf_free(&r->receipts);
	free(r);
}

/* r's files: names copied, sizes and hashes computed; chunks[] (r->nchunks entries) point
 * into the callers' data. */
static int release_files(struct bulwark_release *r, const struct bulwark_release_opts *o,
			 struct bulwark_chunk **chunks)
{
	size_t total = 0, ci = 0;

	r->files = calloc(o->nfiles, sizeof(*r->files));
	if (r->files == NULL)
		return BULWARK_ERR_NOMEM;
	r->nfiles = o->nfiles;
	for (uint32_t i = 0; i < o->nfiles; i++)
		total += wire_upd_chunk_count(o->files[i].len, r->chunk_size);
	if (total > UINT32_MAX)
		return BULWARK_ERR_TOO_BIG;
	*chunks = calloc(total > 0 ? total : 1, sizeof(**chunks));
	if (*chunks == NULL)
		return BULWARK_ERR_NOMEM;
	r->nchunks = (uint32_t)total;
	for (uint32_t i = 0; i < o->nfiles; i++) {
		const struct bulwark_file *f = &o->files[i];
		struct wire_upd_file *mf = &r->files[i];
		uint32_t n = (uint32_t)wire_upd_chunk_count(f->len, r->chunk_size);

		mf->path = strdup(f->name);
		mf->chunks = calloc(n > 0 ? n : 1, WIRE_UPD_HASH_LEN);
		if (mf->path == NULL || mf->chunks == NULL)
			return BULWARK_ERR_NOMEM;
		mf->size = f->len;
		mf->nchunks = n;
		crypto_sha256(f->data, f->len, mf->sha256);
		for (uint32_t j = 0; j < n; j++, ci++) {
			struct bulwark_chunk *ch = &(*chunks)[ci];
			ch->data = f->data + (size_t)j * r->chunk_size;
			ch->len = (size_t)wire_upd_chunk_len(f->len, r->chunk_size, j);
			crypto_sha256(ch->data, ch->len, ch->sha256);
			memcpy(mf->chunks[j], ch->sha256, WIRE_UPD_HASH_LEN);
		}
	}
	return BULWARK_OK;
}

static int release_keys(struct bulwark_release *r, const struct bulwark_release_opts *o,
			char *err, size_t errlen)
{
	r->keys = calloc(o->nkeys, sizeof(*r->keys));
	r->key_paths = calloc(o->nkeys, sizeof(*r->key_paths));
	if (r->keys == NULL || r->key_paths == NULL)
		return BULWARK_ERR_NOMEM;
	for (uint32_t i = 0; i < o->nkeys; i++) {
		r->key_paths[i] = strdup(o->key_paths[i]);
		if (r->key_paths[i] == NULL)
			return BULWARK_ERR_NOMEM;
		r->nkeys = i + 1; /* freed from here on */
		if (crypto_ed25519_load_private(&r->keys[i], o->key_paths[i], err, errlen) != 0)
			return BULWARK_ERR_KEY;
	}
	return BULWARK_OK;
}

/* Refuse before uploading what no manifest of r could hold (a file name, too many
 * files or chunks), by the rules the replicas apply. */
static int release_check(const struct bulwark_release *r, char *err, size_t errlen)
{
	struct wire_upd_manifest man;
	struct wire_buf b;
	int rc;

	memset(&man, 0, sizeof(man));
	man.channel = (char *)"check";
	man.version = 1;
	man.created = 1;
	man.expires = 2;
	man.chunk_size = r->chunk_size;
	man.nfiles = r->nfiles;
	man.files = r->files;
	man.total_chunks = r->nchunks;
	wire_buf_init(&b);
	rc = wire_upd_manifest_encode(&man, &b);
	wire_buf_free(&b);
	if (rc == 0)
		return BULWARK_OK;
	pub_err(err, errlen, "the manifest is invalid: %s", wire_upd_strerror(rc));
	return rc == WIRE_UPD_E_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_ARG;
}

/* Upload the chunks; keep 2f+1 verified receipts of each in r->receipts. */
static int release_upload(struct bulwark_client *c, struct bulwark_release *r,
			  const struct bulwark_release_opts *o, const struct bulwark_chunk *chunks,
			  char *err, size_t errlen)
{
	uint32_t need = 2 * c->s->f + 1;
	struct bulwark_chunk_receipts *rec = calloc(r->nchunks > 0 ? r->nchunks : 1, sizeof(*rec));
	size_t bad = 0;
	int rc;

	if (rec == NULL)
		return BULWARK_ERR_NOMEM;
	rc = bulwark_chunks_upload(c, chunks, r->nchunks, need, o->timeout_ms, rec, &bad,
				   o->progress, o->progress_arg);
	if (rc == BULWARK_ERR_REJECTED) {
		char hex[65], why[512];
		size_t w = 0;
		wire_upd_hex(chunks[bad].sha256, 32, hex);
		why[0] = '\0';
		for (uint32_t i = 0; i < c->s->n && w < sizeof(why); i++) {
			int n = snprintf(why + w, sizeof(why) - w, "%sreplica %u: %s", i ? "; " : "",
					 i, bulwark_chunk_state_name(rec[bad].state[i]));
			if (n < 0)
				break;
			w += (size_t)n;
		}
		pub_err(err, errlen, "chunk %zu (%s) has %u of %u receipts needed: %s", bad, hex,
			rec[bad].ok, need, why);
	} else if (rc != BULWARK_OK) {
		pub_err(err, errlen, "chunk upload: %s", bulwark_strerror(rc));
	}
	for (size_t i = 0; rc == BULWARK_OK && i < r->nchunks; i++) {
		struct wire_upd_cert_sig pairs[64];
		uint32_t np = 0;
		/* 2f+1 receipts are what the group requires: no more are sent. */
		for (uint32_t k = 0; k < c->s->n && k < 64 && np < need; k++) {
			if (rec[i].state[k] != BULWARK_CHUNK_OK)
				continue;
			pairs[np].replica = k;
			memcpy(pairs[np].sig, rec[i].sig[k], 64);
			np++;
		}
		wire_upd_put_receipts(&r->receipts, pairs, np);
	}
	if (rc == BULWARK_OK && wire_buf_error(&r->receipts))
		rc = BULWARK_ERR_NOMEM;
	free(rec);
	return rc;
}

int bulwark_release_upload(struct bulwark_client *c, const struct bulwark_release_opts *o,
			   struct bulwark_release **out, char *err, size_t errlen)
{
	struct bulwark_release *r;
	struct bulwark_chunk *chunks = NULL;
	int rc;

	if (c == NULL || o == NULL || out == NULL || o->nfiles == 0 || o->files == NULL ||
	    o->nkeys == 0 || o->key_paths == NULL)
		return BULWARK_ERR_ARG;
	for (uint32_t i = 0; i < o->nfiles; i++)
		if (o->files[i].name == NULL || (o->files[i].data == NULL && o->files[i].len > 0))
			return BULWARK_ERR_ARG;
	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return BULWARK_ERR_NOMEM;
	wire_buf_init(&r->receipts);
	r->chunk_size = o->chunk_size ? o->chunk_size : BULWARK_CHUNK_SIZE;
	rc = release_keys(r, o, err, errlen);
	if (rc == BULWARK_OK)
		rc = release_files(r, o, &chunks);
	if (rc == BULWARK_ERR_NOMEM)
		pub_err(err, errlen, "out of memory");
	else if (rc == BULWARK_ERR_TOO_BIG)
		pub_err(err, errlen, "more than %u chunks", UINT32_MAX);
	if (rc == BULWARK_OK)
		rc = release_check(r, err, errlen);
	if (rc == BULWARK_OK)
		rc = release_upload(c, r, o, chunks, err, errlen);
	free(chunks);
	if (rc != BULWARK_OK) {
		bulwark_release_free(r);
		return rc;
	}
	*out = r;
	return BULWARK_OK;
}

int bulwark_release_op(const struct bulwark_release *r, const char *channel, uint64_t version,
		       uint64_t expires_s, uint8_t **op, size_t *len, char *err, size_t errlen)
{
	struct wire_upd_manifest man;
	struct wire_upd_sig *sigs;
	struct wire_buf payload, env, opb;
	struct wire_upd_op o;
	int rc = BULWARK_OK;

	if (r == NULL || channel == NULL || op == NULL || len == NULL || version == 0 ||
	    expires_s == 0)
		return BULWARK_ERR_ARG;
	sigs = calloc(r->nkeys, sizeof(*sigs));
	if (sigs == NULL)
		return BULWARK_ERR_NOMEM;
	wire_buf_init(&payload);
	wire_buf_init(&env);
	wire_buf_init(&opb);
	/* The manifest, checked by the same rules the replicas apply. */
	memset(&man, 0, sizeof(man));
	man.channel = (char *)channel;
	man.version = version;
	man.created = (uint64_t)time(NULL);
	man.expires = man.created + expires_s;
	man.chunk_size = r->chunk_size;
	man.nfiles = r->nfiles;
	man.files = r->files;
	man.total_chunks = r->nchunks;
	rc = wire_upd_manifest_encode(&man, &payload);
	if (rc != 0) {
		pub_err(err, errlen, "the manifest is invalid: %s", wire_upd_strerror(rc));
		rc = rc == WIRE_UPD_E_NOMEM ? BULWARK_ERR_NOMEM : BULWARK_ERR_ARG;
		goto out;
	}
	for (uint32_t i = 0; i < r->nkeys; i++) {
		if (wire_upd_sign(&r->keys[i], WIRE_UPD_PAYLOAD_TYPE, payload.p, payload.len,
				  &sigs[i]) != 0) {
			pub_err(err, errlen, "%s: cannot sign the manifest", r->key_paths[i]);
			rc = BULWARK_ERR_CRYPTO;
			goto out;
		}
	}
	rc = wire_upd_envelope_encode(payload.p, payload.len, sigs, r->nkeys, &env);
	if (rc != 0) {
		pub_err(err, errlen, "cannot build the envelope: %s", wire_upd_strerror(rc));
		rc = BULWARK_ERR_TOO_BIG;
		goto out;
	}
	memset(&o, 0, sizeof(o));
	o.type = WIRE_UPD_PUBLISH;
	o.name.p = (const uint8_t *)channel;
	o.name.len = (uint32_t)strlen(channel);
	o.envelope.p = env.p;
	o.envelope.len = (uint32_t)env.len;
	o.nreceipts = r->nchunks;
	o.receipts.p = r->receipts.p;
	o.receipts.len = (uint32_t)r->receipts.len;
	if (wire_upd_encode_op(&opb, &o) != 0) {
		pub_err(err, errlen, "out of memory");
		rc = BULWARK_ERR_NOMEM;
		goto out;
	}
	*op = opb.p; /* handed over */
	*len = opb.len;
	wire_buf_init(&opb);
out:
	free(sigs);
	wire_buf_free(&payload);
	wire_buf_free(&env);
	wire_buf_free(&opb);
	return rc;
}

/* ---------------------------------------------------------------- publishing */
/* A file read into memory. */
static int read_file(const char *path, struct bulwark_file *f, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *data;
	long sz;

	memset(f, 0, sizeof(*f));
	if (fp == NULL) {
		pub_err(err, errlen, "%s: %s", path, strerror(errno));
		return BULWARK_ERR_IO;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (sz = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) != 0) {
		pub_err(err, errlen, "%s: cannot find its size: %s", path, strerror(errno));
		fclose(fp);
		return BULWARK_ERR_IO;
	}
	data = malloc(sz > 0 ? (size_t)sz : 1);
	if (data == NULL) {
		fclose(fp);
		pub_err(err, errlen, "%s: out of memory for %ld bytes", path, sz);
		return BULWARK_ERR_NOMEM;
	}
	if (sz > 0 && fread(data, 1, (size_t)sz, fp) != (size_t)sz) {
		pub_err(err, errlen, "%s: read error", path);
		fclose(fp);
		free(data);
		return BULWARK_ERR_IO;
	}
	fclose(fp);
	f->data = data;
	f->len = (size_t)sz;
	return BULWARK_OK;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

int bulwark_publish(struct bulwark_client *c, const struct bulwark_publish_opts *o,
		    struct bulwark_upd_result *res, char *err, size_t errlen)
{
	struct bulwark_release_opts ro;
	struct bulwark_release *rel = NULL;
	struct bulwark_file *files;
	int rc = BULWARK_OK;

	if (c == NULL || o == NULL || res == NULL || o->channel == NULL || o->nfiles == 0 ||
	    o->nkeys == 0 || o->files == NULL || o->key_paths == NULL || o->version == 0 ||
	    o->expires_s == 0)
		return BULWARK_ERR_ARG;
	memset(res, 0, sizeof(*res));
	files = calloc(o->nfiles, sizeof(*files));
	if (files == NULL)
		return BULWARK_ERR_NOMEM;
	for (uint32_t i = 0; i < o->nfiles && rc == BULWARK_OK; i++) {
		rc = read_file(o->files[i], &files[i], err, errlen);
		files[i].name = base_name(o->files[i]);
	}
	if (rc == BULWARK_OK && wire_upd_check_channel(o->channel, strlen(o->channel)) != 0) {
		pub_err(err, errlen, "'%s' is not a valid channel name", o->channel);
		rc = BULWARK_ERR_ARG;
	}
	if (rc == BULWARK_OK) {
		memset(&ro, 0, sizeof(ro));
		ro.key_paths = o->key_paths;
		ro.nkeys = o->nkeys;
		ro.files = files;
		ro.nfiles = o->nfiles;
		ro.chunk_size = o->chunk_size;
		ro.timeout_ms = o->timeout_ms;
		ro.progress = o->progress;
		ro.progress_arg = o->progress_arg;
		rc = bulwark_release_upload(c, &ro, &rel, err, errlen);
	}
	if (rc == BULWARK_OK) {
		uint8_t *op;
		size_t len;
		rc = bulwark_release_op(rel, o->channel, o->version, o->expires_s, &op, &len, err,
					errlen);
		if (rc == BULWARK_OK) {
			rc = call_upd(c, op, len, res);
			if (rc != BULWARK_OK)
				pub_err(err, errlen, "PUBLISH: %s", bulwark_strerror(rc));
			free(op);
		}
	}
	for (uint32_t i = 0; i < o->nfiles; i++)
		free((void *)files[i].data);
	free(files);
	bulwark_release_free(rel);
	return rc;
}
