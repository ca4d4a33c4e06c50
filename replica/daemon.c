/* daemon.c: bulwarkd's lifecycle: open the store, the KV app, the PBFT core and the
 * transport in order, run the loop, and close everything in reverse; the core's tracer
 * and the INFO answer. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "replica/bwd.h"
#include "replica/bwd_upd.h"
#include "wire/info.h"
#include "wire/kv.h"

#define BWD_CLIENTS_PER_CONN 2u /* remembered client keys per allowed client connection */

const char *bwd_strerror(int err)
{
	switch (err) {
	case BWD_OK: return "success";
	case BWD_ERR_ARG: return "invalid configuration";
	case BWD_ERR_NOMEM: return "out of memory";
	case BWD_ERR_STORE: return "database error";
	case BWD_ERR_CORE: return "PBFT core error";
	case BWD_ERR_LISTEN: return "cannot listen";
	case BWD_ERR_NET: return "transport error";
	case BWD_ERR_PERSIST: return "cannot persist protocol records";
	default: return "unknown bulwarkd error";
	}
}

/* ---------------------------------------------------------------- tracer */
/* The core picks each line's level (info: what an operator should see); lines below the
 * log level are never formatted (see open_core). */
void bwd__trace(void *ctx, uint32_t replica, enum pbft_trace_level level, const char *line)
{
	(void)ctx;
	(void)replica;
	log_msg(level == PBFT_TRACE_INFO ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, "pbft", line, NULL);
}

/* ---------------------------------------------------------------- INFO */
int bwd__info_encode(struct bwd *b)
{
	struct pbft_status st;
	struct wire_info info;
	struct wire_hdr h;

	pbft_get_status(b->core, &st);
	memset(&info, 0, sizeof(info));
	info.replica = b->id;
	info.view = st.view;
	info.primary = st.primary;
	info.flags = (st.view_active ? WIRE_INFO_VIEW_ACTIVE : 0u) |
		     (st.transferring ? WIRE_INFO_TRANSFERRING : 0u);
	info.low_watermark = st.low_watermark;
	info.last_executed = st.last_executed;
	info.last_committed = st.last_committed;
	info.dropped = st.dropped + b->ctr.frames_bad + b->ctr.frames_refused;
	/* The digest the group proved for the low watermark (zeros before the first). */
	memcpy(info.checkpoint_digest, st.stable_digest, WIRE_DIGEST_LEN);
	info.uptime_ms = bwd__now_ms() - b->start_ms;

	memset(&h, 0, sizeof(h));
	h.sender = b->id;
	h.group = b->cfg.group_id;
	h.epoch = b->cfg.epoch;
	wire_buf_reset(&b->scratch);
	return wire_info_encode(&b->scratch, &h, &info);
}

/* ---------------------------------------------------------------- open */
static void why(struct bwd *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why(struct bwd *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b->why, sizeof(b->why), fmt, ap);
	va_end(ap);
}

/* mkdir -p of path's parent folders (mode 0700 for those created). */
static int make_parents(const char *path)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* Decoding limits from the config: batches as large as the primary may build, request
 * authenticators of exactly the configured kind, operations as large as the KV service
 * accepts. */
static void set_limits(struct bwd *b)
{
	const struct bw_config *c = &b->cfg;

	b->limits = wire_limits_default;
	b->limits.max_batch_count = c->batch_max_requests;
	b->limits.max_batch_bytes = c->batch_max_bytes;
	b->limits.max_auth = c->client_auth == CONFIG_AUTH_SIGNATURES ? WIRE_SIG_LEN
								     : c->n * WIRE_TAG_LEN;
	/* A VIEW-CHANGE carries up to log_window entries in each of P and Q. */
	if (b->limits.max_log < 2u * c->log_window)
		b->limits.max_log = 2u * c->log_window;
	/* CAS, the largest operation: type, key, version, value. */
	b->limits.max_op = 1u + 4u + WIRE_KV_MAX_KEY_DEFAULT + 8u + 4u + WIRE_KV_MAX_VALUE_DEFAULT;
}

static int open_keys(struct bwd *b)
{
	uint32_t n = b->cfg.n;

	b->replica_keys = calloc(n, sizeof(*b->replica_keys));
	b->replica_pubs = calloc(n, sizeof(*b->replica_pubs));
	if (b->replica_keys == NULL || b->replica_pubs == NULL) {
		why(b, "out of memory for %u replica keys", n);
		return BWD_ERR_NOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		memcpy(b->replica_pubs[i], b->cfg.replicas[i].public_key, CRYPTO_ED25519_PUB);
		if (crypto_ed25519_from_public(&b->replica_keys[i], b->replica_pubs[i]) != 0) {
			why(b, "public key of replica %u (%s) is unusable", i,
			    b->cfg.replicas[i].public_key_path);
			return BWD_ERR_ARG;
		}
	}
	return BWD_OK;
}

static int open_net(struct bwd *b)
{
	const struct bw_config_replica *me = &b->cfg.replicas[b->id];
	struct net_config nc;
	int rc;

	net_config_init(&nc);
	nc.identity = &b->key;
	nc.group_id = b->cfg.group_id;
	nc.epoch = b->cfg.epoch;
	nc.role = NET_ROLE_REPLICA;
	nc.replica_id = b->id;
	nc.replica_keys = (const uint8_t (*)[CRYPTO_ED25519_PUB])b->replica_pubs;
	nc.n_replicas = b->cfg.n;
	/* Replica frames carry whole protocol messages: the largest, a NEW-VIEW, may be
	 * as large as the decoder accepts (config_load keeps the worst case below it). */
	nc.limits.max_frame = b->limits.max_message;
	if (nc.limits.max_out_replica < nc.limits.max_frame)
		nc.limits.max_out_replica = nc.limits.max_frame;
	/* A client sends requests, never more than one operation and its authenticator. */
	nc.limits.max_clients = BWD_MAX_CLIENTS;
	nc.limits.max_frame_client = BWD_REQUEST_OVERHEAD + b->limits.max_op + b->limits.max_auth;
	nc.log_level = log_enabled(LOG_LEVEL_DEBUG) ? NET_LOG_DEBUG
		       : log_enabled(LOG_LEVEL_INFO) ? NET_LOG_INFO
		       : log_enabled(LOG_LEVEL_WARN) ? NET_LOG_WARN : NET_LOG_ERROR;
	bwd__net_callbacks(b, &nc.cb);
	rc = net_open(&b->net, b->loop, &nc);
	if (rc != NET_OK) {
		why(b, "cannot start the transport: %s", net_strerror(rc));
		return BWD_ERR_NET;
	}
	errno = 0;
	rc = net_listen(b->net, me->host, me->port, NULL);
	if (rc != NET_OK) {
		int e = errno;
		why(b, "cannot listen on %s:%u: %s", me->host, (unsigned)me->port,
		    rc == NET_ERR_SYS && e != 0 ? strerror(e) : net_strerror(rc));
		return BWD_ERR_LISTEN;
	}
	return BWD_OK;
}

static int open_store(struct bwd *b)
{
	const char *path = b->cfg.replicas[b->id].data_dir;
	struct store_config sc;
	struct kv_config kc;
	struct updates_config uc;
	char err[256];
	int rc;

	if (make_parents(path) != 0) {
		why(b, "cannot create the folders of %s: %s", path, strerror(errno));
		return BWD_ERR_STORE;
	}
	memset(&sc, 0, sizeof(sc));
	sc.path = path;
	sc.fanout = BWD_TREE_FANOUT;
	sc.levels = BWD_TREE_LEVELS;
	sc.create = 1;
	/* Executed batches stay in memory until the next checkpoint (or 64 MiB of
	 * changes): a client's table entry or a hot key written by every batch reaches
	 * LevelDB once per checkpoint interval. A crash loses them, and the replica
	 * executes those batches again from the certificates 2f+1 replicas synced. */
	sc.defer_writes = 1;
	sc.recent_bytes = BWD_RECENT_BYTES;
	sc.digest_cache_bytes = BWD_DIGEST_CACHE_BYTES;
	sc.digest_persist_every = BWD_DIGEST_PERSIST_EVERY;
	/* A checkpoint's state is synced by the syncer thread (syncer.c), not on the loop:
	 * the core makes the checkpoint stable once told (pbft_config.durable_async). */
	sc.checkpoint_nosync = 1;
	err[0] = '\0';
	rc = store_open(&sc, &b->store, err, sizeof(err));
	if (rc != STORE_OK) {
		why(b, "cannot open the database %s: %s%s%s", path, store_strerror(rc),
		    err[0] != '\0' ? ": " : "", err);
		return BWD_ERR_STORE;
	}
	kv_config_default(&kc);
	/* Executed batches are written without a sync: what makes an answered request
	 * durable is the prepared certificate that 2f+1 replicas synced before their
	 * COMMIT (a restarted replica re-executes from those, or fetches a checkpoint),
	 * and every later synced write covers them too (LevelDB keeps write order). */
	kc.sync = 0;
	bwd__upd_config(b, &uc);
	rc = app_init(&b->app, b->store, &kc, &uc);
	if (rc != APP_OK) {
		why(b, "cannot start the replicated services: %s", app_strerror(rc));
		return rc == APP_ERR_NOMEM ? BWD_ERR_NOMEM
		       : rc == APP_ERR_ARG ? BWD_ERR_ARG : BWD_ERR_STORE;
	}
	b->app_ready = 1;
	return BWD_OK;
}

/* This boot of the machine, from /proc/sys/kernel/random/boot_id (a UUID); all zeros
 * if it cannot be read, which store_session_begin treats as a boot never seen. */
static void read_boot_id(uint8_t id[STORE_BOOT_ID_LEN])
{
	char text[64];
	size_t n = 0;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	memset(id, 0, STORE_BOOT_ID_LEN);
	if (f == NULL)
		return;
	if (fgets(text, sizeof(text), f) != NULL) {
		for (const char *p = text; *p != '\0' && n < 2 * STORE_BOOT_ID_LEN; p++) {
			int v = *p >= '0' && *p <= '9' ? *p - '0'
				: *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
			if (v < 0)
				continue;
			id[n / 2] = (uint8_t)(id[n / 2] | (v << (n % 2 ? 0 : 4)));
			n++;
		}
		if (n != 2 * STORE_BOOT_ID_LEN)
			memset(id, 0, STORE_BOOT_ID_LEN);
	}
	fclose(f);
}

static int open_core(struct bwd *b)
{
	const struct bw_config *c = &b->cfg;
	struct store_records recs;
	struct pbft_config pc;
	uint64_t status_ms = c->view_change_timeout_ms / 4;
	int rc;

	if (c->batch_max_requests > BWD_MAX_BATCH_REQUESTS) {
		why(b, "%s: batch_max_requests %u is above %u, the most one batch can hold",
		    c->path, c->batch_max_requests, BWD_MAX_BATCH_REQUESTS);
		return BWD_ERR_ARG;
	}
	if (status_ms < 10)
		status_ms = 10;
	if (status_ms > 1000)
		status_ms = 1000;
	memset(&pc, 0, sizeof(pc));
	pc.n = c->n;
	pc.f = c->f;
	pc.id = b->id;
	pc.group = c->group_id;
	pc.epoch = c->epoch;
	pc.checkpoint_interval = c->checkpoint_interval;
	pc.log_window = c->log_window;
	pc.batch_max_requests = c->batch_max_requests;
	pc.batch_max_bytes = c->batch_max_bytes;
	pc.pipeline = c->pipeline;
	pc.view_change_timeout_ms = c->view_change_timeout_ms;
	pc.max_clock_skew_ms = c->max_clock_skew_ms;
	pc.status_interval_ms = status_ms;
	pc.max_clients = BWD_MAX_CLIENTS > c->batch_max_requests ? BWD_MAX_CLIENTS
								 : c->batch_max_requests;
	pc.limits = &b->limits;
	/* A state transfer interrupted by a crash left the state half-copied: the core
	 * must fetch a proven checkpoint before it executes anything. */
	pc.state_incomplete = store_transfer_pending(b->store, NULL);
	/* Pre-prepare records are not synced: if the machine went down since the last
	 * clean stop, some may be lost, and the core must not vote again in that view. */
	read_boot_id(b->boot_id);
	rc = store_session_begin(b->store, b->boot_id, &pc.votes_uncertain);
	if (rc != STORE_OK) {
		why(b, "cannot record the session in the database: %s: %s", store_strerror(rc),
		    store_last_error(b->store));
		return BWD_ERR_STORE;
	}
	if (pc.votes_uncertain)
		log_warn("bulwarkd", "unsynced records may be lost (the machine stopped without a clean shutdown, now or before)",
			 "action=no_prepare_or_preprepare_until_the_next_view");
	b->votes_uncertain = pc.votes_uncertain;
	/* One batch per loop turn: the FLUSH step before persisting proposes it. */
	pc.batch_on_flush = 1;
	/* Checkpoint state synced off the loop (syncer.c); the synced session record
	 * above made the state we start from durable. */
	pc.durable_async = 1;
	/* CHECKPOINT signatures checked when the loop has nothing else to do. */
	pc.idle_verify = 1;
	bwd__crypto_ops(b, &pc.crypto);
	app_ops(&b->app, &pc.app);
	/* No tracer at all unless its lines would be logged: the core then formats nothing. */
	if (log_enabled(LOG_LEVEL_INFO)) {
		pc.tracer.ctx = b;
		pc.tracer.trace_level = bwd__trace;
		pc.tracer.min_level = log_enabled(LOG_LEVEL_DEBUG) ? PBFT_TRACE_DEBUG
								   : PBFT_TRACE_INFO;
	}

	memset(&recs, 0, sizeof(recs));
	rc = store_load_records(b->store, &recs);
	if (rc != STORE_OK) {
		why(b, "cannot read the protocol records: %s: %s", store_strerror(rc),
		    store_last_error(b->store));
		return BWD_ERR_STORE;
	}
	rc = pbft_new(&pc, recs.rec, recs.bytes.p, recs.n, store_last_executed(b->store),
		      bwd__now_ms(), &b->core);
	if (rc != PBFT_OK) {
		why(b, "the PBFT core refused to start: %s (%zu records, last executed %llu)",
		    pbft_strerror(rc), recs.n, (unsigned long long)store_last_executed(b->store));
		store_records_free(&recs);
		return BWD_ERR_CORE;
	}
	log_info("bulwarkd", "state restored", "records=%zu last_executed=%llu", recs.n,
		 (unsigned long long)store_last_executed(b->store));
	store_records_free(&recs);
	return BWD_OK;
}

static int open_dials(struct bwd *b)
{
	for (uint32_t i = 0; i < b->cfg.n; i++) {
		if (i == b->id)
			continue;
		const struct bw_config_replica *r = &b->cfg.replicas[i];
		int rc = net_connect(b->net, i, r->host, r->port);
		if (rc != NET_OK) {
			why(b, "cannot connect to replica %u at %s:%u: %s", i, r->host,
			    (unsigned)r->port, net_strerror(rc));
			return BWD_ERR_NET;
		}
	}
	return BWD_OK;
}

int bwd_open(struct bwd *b, struct bw_config *cfg, uint32_t id, struct crypto_ed25519_key *key)
{
	struct pbft_event ev;
	uint64_t pending_ckpt = 0;
	int rc;

	memset(b, 0, sizeof(*b));
	b->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	b->key = *key;
	memset(key, 0, sizeof(*key));
	b->id = id;
	b->start_ms = bwd__now_ms();
	pbft_update_init(&b->up);
	wire_buf_init(&b->scratch);
	set_limits(b);
	b->req_digests = calloc(b->limits.max_batch_count, sizeof(*b->req_digests));
	if (b->req_digests == NULL) {
		why(b, "out of memory for %u request digests", b->limits.max_batch_count);
		return BWD_ERR_NOMEM;
	}
	b->loop = ev_default_loop(EVFLAG_AUTO);
	if (b->loop == NULL) {
		why(b, "cannot create the event loop");
		return BWD_ERR_NOMEM;
	}
	rc = open_keys(b);
	if (rc != BWD_OK)
		return rc;
	rc = bwd_clients_init(&b->clients, (size_t)BWD_CLIENTS_PER_CONN * BWD_MAX_CLIENTS,
			      b->cfg.client_auth == CONFIG_AUTH_SIGNATURES);
	if (rc != BWD_OK) {
		why(b, "cannot allocate the client table");
		return rc;
	}
	rc = open_net(b);
	if (rc != BWD_OK)
		return rc;
	rc = open_store(b);
	if (rc != BWD_OK)
		return rc;
	if (store_transfer_pending(b->store, &pending_ckpt))
		log_warn("bulwarkd", "the state is incomplete: a state transfer was interrupted",
			 "checkpoint=%llu action=fetch_stable_checkpoint_before_executing",
			 (unsigned long long)pending_ckpt);
	rc = open_core(b);
	if (rc != BWD_OK)
		return rc;
	rc = open_dials(b);
	if (rc != BWD_OK)
		return rc;
	rc = bwd__upd_open(b);
	if (rc != BWD_OK)
		return rc;
	rc = bwd__watchers_start(b);
	if (rc != BWD_OK) {
		why(b, "cannot start the state sync thread");
		return rc;
	}

	/* A first tick: the core announces itself (STATUS) and arms its timers. */
	memset(&ev, 0, sizeof(ev));
	ev.type = PBFT_EV_TICK;
	ev.now = bwd__now_ms();
	ev.wall = bwd__wall_ms();
	rc = pbft_step(b->core, &ev, &b->up);
	if (rc != PBFT_OK) {
		why(b, "the PBFT core failed its first step: %s", pbft_strerror(rc));
		return BWD_ERR_CORE;
	}
	b->pending = 1;
	b->deadline = b->up.deadline;

	const struct bw_config_replica *me = &b->cfg.replicas[id];
	struct pbft_status st;
	pbft_get_status(b->core, &st);
	log_info("bulwarkd", "replica started",
		 "version=%s config=%s group=%llu epoch=%llu replica=%u n=%u f=%u listen=%s:%u "
		 "data_dir=%s client_auth=%s checkpoint_interval=%u log_window=%u pipeline=%u "
		 "view=%llu primary=%u low_watermark=%llu last_executed=%llu",
		 BULWARK_VERSION, b->cfg.path, (unsigned long long)b->cfg.group_id,
		 (unsigned long long)b->cfg.epoch, id, b->cfg.n, b->cfg.f, me->host,
		 (unsigned)me->port, me->data_dir, config_client_auth_name(b->cfg.client_auth),
		 b->cfg.checkpoint_interval, b->cfg.log_window, b->cfg.pipeline,
		 (unsigned long long)st.view, st.primary, (unsigned long long)st.low_watermark,
		 (unsigned long long)st.last_executed);
	return BWD_OK;
}

/* ---------------------------------------------------------------- run, close */
int bwd_run(struct bwd *b)
{
	ev_run(b->loop, 0);
	if (b->fatal != 0)
		return b->fatal;
	return BWD_OK;
}

void bwd_close(struct bwd *b)
{
	if (b->loop != NULL)
		bwd__watchers_stop(b);
	/* A clean stop writes what the core asked to make durable in the last turn (none of
	 * it was sent). After a fatal error nothing is written: the failed step may have left
	 * the update half-built, and no message that depends on it left the replica. */
	if (b->store != NULL && b->fatal == 0 && b->core != NULL) {
		int rc = b->up.nrec > 0 ? store_apply_records(b->store, &b->up) : STORE_OK;
		if (rc != STORE_OK)
			log_error("bulwarkd", "cannot persist the last protocol records",
				  "error=%s detail=%s", store_strerror(rc), store_last_error(b->store));
		/* The executed batches still in memory: the next start need not redo them. */
		else if (!store_transfer_pending(b->store, NULL) &&
			 (rc = store_flush(b->store, 0)) != STORE_OK)
			log_error("bulwarkd", "cannot write the executed batches", "error=%s detail=%s",
				  store_strerror(rc), store_last_error(b->store));
		/* Synced, after every other write: the next start knows nothing was lost. */
		else if ((rc = store_session_end(b->store, b->boot_id)) != STORE_OK)
			log_error("bulwarkd", "cannot record the clean stop", "error=%s detail=%s",
				  store_strerror(rc), store_last_error(b->store));
	}
	bwd__upd_close(b);
	net_close(b->net);
	b->net = NULL;
	pbft_free(b->core);
	b->core = NULL;
	if (b->app_ready)
		app_free(&b->app);
	b->app_ready = 0;
	store_close(b->store);
	b->store = NULL;
	bwd_clients_free(&b->clients);
	pbft_update_free(&b->up);
	wire_buf_free(&b->scratch);
	free(b->req_digests);
	b->req_digests = NULL;
	if (b->replica_keys != NULL) {
		for (uint32_t i = 0; i < b->cfg.n; i++)
			crypto_ed25519_free(&b->replica_keys[i]);
	}
	free(b->replica_keys);
	free(b->replica_pubs);
	b->replica_keys = NULL;
	b->replica_pubs = NULL;
	crypto_ed25519_free(&b->key);
	config_free(&b->cfg);
}
