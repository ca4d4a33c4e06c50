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

/* Order op and decode the update service's result into res. */
static int call_upd(struct bulwark_client *c, const struct wire_buf *op,
		    struct bulwark_upd_result *res)
{
	struct wire_upd_result r;
	uint8_t *out = NULL;
	size_t len = 0;
	int rc = bulwark_call_raw(c, op->p, op->len, &out, &len);

	memset(res, 0, sizeof(*res));
	if (rc != BULWARK_OK)
		return rc;
	if (wire_upd_decode_result(out, len, &r) != WIRE_OK) {
		free(out);
		return BULWARK_ERR_PROTOCOL;
	}
	res->status = r.status;
	res->reason = r.reason;
	res->a = r.a;
	res->b = r.b;
	res->c = r.c;
	memcpy(res->hash, r.hash, sizeof(res->hash));
	snprintf(res->status_name, sizeof(res->status_name), "%s", wire_upd_status_name(r.status));
	memcpy(res->text, r.text.p, r.text.len < sizeof(res->text) ? r.text.len : sizeof(res->text) - 1);
	free(out);
	return BULWARK_OK;
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
	rc = call_upd(c, &opb, res);
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
	rc = call_upd(c, &opb, res);
	if (rc != BULWARK_OK)
		pub_err(err, errlen, "POLICY_ROTATE: %s", bulwark_strerror(rc));
out:
	free(sigs);
	wire_buf_free(&keys);
	wire_buf_free(&body);
	wire_buf_free(&opb);
	return rc;
}

/* ---------------------------------------------------------------- publishing */
/* A file read into memory. */
struct pub_file {
	uint8_t *data;
	size_t len;
};

static int read_file(const char *path, struct pub_file *f, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
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
	f->len = (size_t)sz;
	f->data = malloc(f->len > 0 ? f->len : 1);
	if (f->data == NULL) {
		fclose(fp);
		pub_err(err, errlen, "%s: out of memory for %zu bytes", path, f->len);
		return BULWARK_ERR_NOMEM;
	}
	if (f->len > 0 && fread(f->data, 1, f->len, fp) != f->len) {
		pub_err(err, errlen, "%s: read error", path);
		fclose(fp);
		free(f->data);
		f->data = NULL;
		return BULWARK_ERR_IO;
	}
	fclose(fp);
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
	struct pub_file *files = NULL;
	struct wire_upd_file *mf = NULL;
	struct wire_upd_manifest man;
	struct bulwark_chunk *chunks = NULL;
	struct bulwark_chunk_receipts *rec = NULL;
	struct wire_upd_sig *sigs = NULL;
	struct wire_buf payload, env, opb, lists;
	struct wire_upd_op op;
	size_t nchunks = 0, bad = 0;
	uint32_t csize;
	int rc = BULWARK_OK;

	if (c == NULL || o == NULL || res == NULL || o->channel == NULL || o->nfiles == 0 ||
	    o->nkeys == 0 || o->files == NULL || o->key_paths == NULL || o->version == 0 ||
	    o->expires_s == 0)
		return BULWARK_ERR_ARG;
	csize = o->chunk_size ? o->chunk_size : BULWARK_CHUNK_SIZE;
	memset(res, 0, sizeof(*res));
	memset(&man, 0, sizeof(man));
	wire_buf_init(&payload);
	wire_buf_init(&env);
	wire_buf_init(&opb);
	wire_buf_init(&lists);
	files = calloc(o->nfiles, sizeof(*files));
	mf = calloc(o->nfiles, sizeof(*mf));
	sigs = calloc(o->nkeys, sizeof(*sigs));
	if (files == NULL || mf == NULL || sigs == NULL) {
		rc = BULWARK_ERR_NOMEM;
		goto out;
	}
	/* Read and chunk every file. */
	for (uint32_t i = 0; i < o->nfiles; i++) {
		rc = read_file(o->files[i], &files[i], err, errlen);
		if (rc != BULWARK_OK)
			goto out;
		nchunks += wire_upd_chunk_count(files[i].len, csize);
	}
	chunks = calloc(nchunks > 0 ? nchunks : 1, sizeof(*chunks));
	rec = calloc(nchunks > 0 ? nchunks : 1, sizeof(*rec));
	if (chunks == NULL || rec == NULL) {
		rc = BULWARK_ERR_NOMEM;
		goto out;
	}
	size_t ci = 0;
	for (uint32_t i = 0; i < o->nfiles; i++) {
		uint64_t n = wire_upd_chunk_count(files[i].len, csize);
		mf[i].path = (char *)base_name(o->files[i]);
		mf[i].size = files[i].len;
		crypto_sha256(files[i].data, files[i].len, mf[i].sha256);
		mf[i].nchunks = (uint32_t)n;
		mf[i].chunks = calloc(n > 0 ? n : 1, WIRE_UPD_HASH_LEN);
		if (mf[i].chunks == NULL) {
			rc = BULWARK_ERR_NOMEM;
			goto out;
		}
		for (uint32_t j = 0; j < n; j++, ci++) {
			chunks[ci].data = files[i].data + (size_t)j * csize;
			chunks[ci].len = (size_t)wire_upd_chunk_len(files[i].len, csize, j);
			crypto_sha256(chunks[ci].data, chunks[ci].len, chunks[ci].sha256);
			memcpy(mf[i].chunks[j], chunks[ci].sha256, WIRE_UPD_HASH_LEN);
		}
	}
	/* The manifest, checked by the same rules the replicas apply. */
	man.channel = (char *)o->channel;
	man.version = o->version;
	man.created = (uint64_t)time(NULL);
	man.expires = man.created + o->expires_s;
	man.chunk_size = csize;
	man.nfiles = o->nfiles;
	man.files = mf;
	man.total_chunks = (uint32_t)nchunks;
	rc = wire_upd_manifest_encode(&man, &payload);
	if (rc != 0) {
		pub_err(err, errlen, "the manifest is invalid: %s", wire_upd_strerror(rc));
		rc = BULWARK_ERR_ARG;
		goto out;
	}
	for (uint32_t i = 0; i < o->nkeys; i++) {
		struct crypto_ed25519_key k;
		memset(&k, 0, sizeof(k));
		if (crypto_ed25519_load_private(&k, o->key_paths[i], err, errlen) != 0) {
			rc = BULWARK_ERR_KEY;
			goto out;
		}
		rc = wire_upd_sign(&k, WIRE_UPD_PAYLOAD_TYPE, payload.p, payload.len, &sigs[i]);
		crypto_ed25519_free(&k);
		if (rc != 0) {
			pub_err(err, errlen, "%s: cannot sign the manifest", o->key_paths[i]);
			rc = BULWARK_ERR_CRYPTO;
			goto out;
		}
	}
	rc = wire_upd_envelope_encode(payload.p, payload.len, sigs, o->nkeys, &env);
	if (rc != 0) {
		pub_err(err, errlen, "cannot build the envelope: %s", wire_upd_strerror(rc));
		rc = BULWARK_ERR_TOO_BIG;
		goto out;
	}
	/* Upload every chunk to every replica; 2f+1 verified receipts each. */
	rc = bulwark_chunks_upload(c, chunks, nchunks, 2 * c->s->f + 1, o->timeout_ms, rec, &bad,
				   o->progress, o->progress_arg);
	if (rc == BULWARK_ERR_REJECTED) {
		char hex[65], why[512];
		size_t w = 0;
		wire_upd_hex(chunks[bad].sha256, 32, hex);
		why[0] = '\0';
		for (uint32_t r = 0; r < c->s->n && w < sizeof(why); r++) {
			int n = snprintf(why + w, sizeof(why) - w, "%sreplica %u: %s", r ? "; " : "",
					 r, bulwark_chunk_state_name(rec[bad].state[r]));
			if (n < 0)
				break;
			w += (size_t)n;
		}
		pub_err(err, errlen, "chunk %zu (%s) has %u of %u receipts needed: %s", bad, hex,
			rec[bad].ok, 2 * c->s->f + 1, why);
		goto out;
	}
	if (rc != BULWARK_OK) {
		pub_err(err, errlen, "chunk upload: %s", bulwark_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < nchunks; i++) {
		struct wire_upd_cert_sig pairs[64];
		uint32_t np = 0;
		/* 2f+1 receipts are what the group requires: no more are sent. */
		for (uint32_t r = 0; r < c->s->n && r < 64 && np < 2 * c->s->f + 1; r++) {
			if (rec[i].state[r] != BULWARK_CHUNK_OK)
				continue;
			pairs[np].replica = r;
			memcpy(pairs[np].sig, rec[i].sig[r], 64);
			np++;
		}
		wire_upd_put_receipts(&lists, pairs, np);
	}
	memset(&op, 0, sizeof(op));
	op.type = WIRE_UPD_PUBLISH;
	op.name.p = (const uint8_t *)o->channel;
	op.name.len = (uint32_t)strlen(o->channel);
	op.envelope.p = env.p;
	op.envelope.len = (uint32_t)env.len;
	op.nreceipts = (uint32_t)nchunks;
	op.receipts.p = lists.p;
	op.receipts.len = (uint32_t)lists.len;
	if (wire_buf_error(&lists) || wire_upd_encode_op(&opb, &op) != 0) {
		rc = BULWARK_ERR_NOMEM;
		goto out;
	}
	rc = call_upd(c, &opb, res);
	if (rc != BULWARK_OK)
		pub_err(err, errlen, "PUBLISH: %s", bulwark_strerror(rc));
out:
	if (mf != NULL) {
		for (uint32_t i = 0; i < o->nfiles; i++)
			free(mf[i].chunks);
	}
	if (files != NULL) {
		for (uint32_t i = 0; i < o->nfiles; i++)
			free(files[i].data);
	}
	free(files);
	free(mf);
	free(sigs);
	free(chunks);
	free(rec);
	wire_buf_free(&payload);
	wire_buf_free(&env);
	wire_buf_free(&opb);
	wire_buf_free(&lists);
	return rc;
}
