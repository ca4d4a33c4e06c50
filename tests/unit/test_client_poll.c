/* test_client_poll.c: the light client's poller against tiny HTTP servers in the test
 * (libmicrohttpd) serving releases built with the real encoders: a clean install, a 304
 * "up to date", a new version, failover past refusing, forging, corrupting, stalling and
 * oversized sources, refusals that install nothing, and resumed chunk downloads. */
#include "tests/unit/unit.h"
#include "tests/unit/test_upd_keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/bulwark_update.h"
#include "crypto/crypto.h"
#include "wire/upd.h"

#define GROUP 42u
#define NOW_MS 1750000000000ull
#define CHANNEL "stable/linux-amd64"
#define CHUNK 4096u
#define MAX_FILES 4
#define MAX_CHUNKS 32

/* ---------------------------------------------------------------- keys and trust */
/* Group 42: replicas with key tags 1..4 (threshold 2); CHANNEL 2 of publishers 20..22. */
static struct bulwark_trust *load_trust(void)
{
	char t[4096], h[65], err[256];
	struct bulwark_trust *tr;
	size_t n = 0;

	n += (size_t)snprintf(t + n, sizeof(t) - n, "[group]\nid = %u\n", GROUP);
	for (int i = 0; i < 4; i++) {
		hex_pub((uint8_t)(1 + i), h);
		n += (size_t)snprintf(t + n, sizeof(t) - n, "[replica %d]\npublic_key = %s\n", i, h);
	}
	n += (size_t)snprintf(t + n, sizeof(t) - n, "[channel %s]\nthreshold = 2\n", CHANNEL);
	for (int i = 0; i < 3; i++) {
		hex_pub((uint8_t)(20 + i), h);
		n += (size_t)snprintf(t + n, sizeof(t) - n, "publisher = %s\n", h);
	}
	ck_assert_msg(bulwark_trust_parse("trust.ini", NULL, t, n, &tr, err, sizeof(err)) == 0,
		      "%s", err);
	return tr;
}

/* ---------------------------------------------------------------- releases */
struct tfile {
	const char *path;
	uint8_t *data;   /* owned */
	size_t len;
};

struct release {
	uint64_t version, seq, cert_expires_ms;
	int npub;          /* publisher signatures (20, 22, ...) */
	int nsigners;      /* replica signatures (replicas 0..) */
	int evil_payload;  /* the envelope carries another manifest than the one signed */
	struct tfile files[MAX_FILES];
	int nfiles;
};

/* Deterministic content: len bytes from seed. */
static uint8_t *content(size_t len, uint8_t seed)
{
	uint8_t *b = malloc(len > 0 ? len : 1);

	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(seed + i * 7 + i / 251);
	return b;
}

static void rel_default(struct release *r, uint64_t version, uint8_t seed)
{
	memset(r, 0, sizeof(*r));
	r->version = version;
	r->seq = 100 + version;
	r->cert_expires_ms = NOW_MS + 60000;
	r->npub = 2;
	r->nsigners = 3;
	r->files[0] = (struct tfile){ "hello.txt", content(5, seed), 5 };
	memcpy(r->files[0].data, "hello", 5);
	r->files[1] = (struct tfile){ "bin/tool", content(3 * CHUNK + 100, seed), 3 * CHUNK + 100 };
	r->files[2] = (struct tfile){ "share/doc/README", content(CHUNK, (uint8_t)(seed + 1)), CHUNK };
	r->nfiles = 3;
}

static void rel_free(struct release *r)
{
	for (int i = 0; i < r->nfiles; i++)
		free(r->files[i].data);
}

/* A served chunk. */
struct tchunk {
	uint8_t hash[32];
	uint8_t *data;     /* owned */
	size_t len;
	int cut_done;      /* the cut-once mode already cut this chunk */
};

/* What one test server serves and how it misbehaves. */
struct site {
	pthread_mutex_t mu;
	struct MHD_Daemon *d;
	unsigned port;
	char url[64];
	uint8_t *doc;      /* owned */
	size_t doc_len;
	char etag[40];
	struct tchunk chunks[MAX_CHUNKS];
	int nchunks;
	int corrupt;       /* flip a byte of every chunk */
	int cut_once;      /* the first full request of each chunk stops halfway */
	int ignore_range;  /* answer 200 with the whole chunk to a Range request */
	int stall_ms;      /* wait before answering the document */
	int not_found;     /* 404 for everything */
	/* What it saw. */
	int doc_requests, not_modified, chunk_requests, range_requests;
	char last_range[64];                 /* of the last request with a Range header */
};

/* The manifest payload of r's files (caller frees). */
static struct wire_buf manifest_of(const struct release *r, int evil)
{
	struct wire_upd_manifest m;
	struct wire_upd_file files[MAX_FILES];
	uint8_t (*chunks)[32] = calloc(MAX_CHUNKS, 32);
	struct wire_buf b;
	uint32_t used = 0;

	ck_assert_ptr_nonnull(chunks);
	memset(&m, 0, sizeof(m));
	memset(files, 0, sizeof(files));
	m.channel = (char *)CHANNEL;
	m.version = r->version;
	m.created = NOW_MS / 1000 - 100;
	m.expires = NOW_MS / 1000 + 86400;
	m.chunk_size = CHUNK;
	m.nfiles = (uint32_t)r->nfiles;
	m.files = files;
	for (int i = 0; i < r->nfiles; i++) {
		const struct tfile *f = &r->files[i];
		uint8_t *data = f->data;
		uint8_t evil_copy[8];
		files[i].path = (char *)f->path;
		files[i].size = f->len;
		files[i].nchunks = (uint32_t)wire_upd_chunk_count(f->len, CHUNK);
		files[i].chunks = &chunks[used];
		if (evil && i == 0) { /* the attacker's own hello.txt */
			memcpy(evil_copy, "EVIL!", 5);
			data = evil_copy;
		}
		crypto_sha256(data, f->len, files[i].sha256);
		for (uint32_t c = 0; c < files[i].nchunks; c++)
			crypto_sha256(data + (size_t)c * CHUNK,
				      (size_t)wire_upd_chunk_len(f->len, CHUNK, c), chunks[used + c]);
		used += files[i].nchunks;
		m.total_chunks += files[i].nchunks;
	}
	wire_buf_init(&b);
	ck_assert_int_eq(wire_upd_manifest_encode(&m, &b), 0);
	free(chunks);
	return b;
}

/* Build r's response document and chunks into s (replacing what s served). */
static void site_publish(struct site *s, const struct release *r)
{
	struct wire_upd_sig sigs[3];
	struct wire_upd_proof proof;
	struct wire_upd_cert cert;
	struct wire_buf payload = manifest_of(r, 0), env, doc;
	uint8_t hash[32], leaves[3][32], other[32], msg[WIRE_UPD_STATEMENT_LEN];
	static const uint8_t pub_tags[3] = { 20, 22, 21 };
	size_t pathlen;

	for (int i = 0; i < r->npub; i++) {
		struct crypto_ed25519_key k;
		key_of(pub_tags[i], &k);
		ck_assert_int_eq(wire_upd_sign(&k, WIRE_UPD_PAYLOAD_TYPE, payload.p, payload.len,
					       &sigs[i]), 0);
		crypto_ed25519_free(&k);
	}
	crypto_sha256(payload.p, payload.len, hash);
	wire_buf_init(&env);
	if (r->evil_payload) {
		struct wire_buf evil = manifest_of(r, 1);
		ck_assert_int_eq(wire_upd_envelope_encode(evil.p, evil.len, sigs, (uint32_t)r->npub,
							  &env), 0);
		wire_buf_free(&evil);
	} else {
		ck_assert_int_eq(wire_upd_envelope_encode(payload.p, payload.len, sigs,
							  (uint32_t)r->npub, &env), 0);
	}
	memset(other, 7, sizeof(other));
	ck_assert_int_eq(wire_upd_leaf_hash("alpha", 5, 3, other, leaves[0]), 0);
	ck_assert_int_eq(wire_upd_leaf_hash(CHANNEL, strlen(CHANNEL), r->version, hash, leaves[1]), 0);
	ck_assert_int_eq(wire_upd_leaf_hash("zeta", 4, 1, other, leaves[2]), 0);
	memset(&proof, 0, sizeof(proof));
	proof.version = r->version;
	proof.index = 1;
	proof.size = 3;
	ck_assert_int_eq(crypto_merkle_inclusion_proof((const uint8_t(*)[32])leaves, 3, 1,
						       proof.path, &pathlen), 0);
	proof.pathlen = (uint32_t)pathlen;
	memset(&cert, 0, sizeof(cert));
	cert.st.group = GROUP;
	cert.st.epoch = 1;
	cert.st.seq = r->seq;
	cert.st.time_ms = NOW_MS - 1000;
	cert.st.expires_ms = r->cert_expires_ms;
	ck_assert_int_eq(crypto_merkle_root((const uint8_t(*)[32])leaves, 3, cert.st.index_root), 0);
	cert.st.log_size = 9;
	memset(cert.st.log_root, 3, 32);
	wire_upd_statement_encode(&cert.st, msg);
	for (int i = 0; i < r->nsigners; i++) {
		struct crypto_ed25519_key k;
		key_of((uint8_t)(1 + i), &k);
		cert.sigs[i].replica = (uint32_t)i;
		ck_assert_int_eq(crypto_ed25519_sign(&k, msg, sizeof(msg), cert.sigs[i].sig), 0);
		crypto_ed25519_free(&k);
	}
	cert.nsigs = (uint32_t)r->nsigners;
	wire_buf_init(&doc);
	ck_assert_int_eq(wire_upd_response_encode(env.p, env.len, &proof, &cert, &doc), 0);

	pthread_mutex_lock(&s->mu);
	free(s->doc);
	s->doc = malloc(doc.len);
	ck_assert_ptr_nonnull(s->doc);
	memcpy(s->doc, doc.p, doc.len);
	s->doc_len = doc.len;
	crypto_sha256(doc.p, doc.len, hash);
	s->etag[0] = '"';
	wire_upd_hex(hash, 16, s->etag + 1);
	strcpy(s->etag + 33, "\"");
	for (int i = 0; i < s->nchunks; i++)
		free(s->chunks[i].data);
	s->nchunks = 0;
	for (int i = 0; i < r->nfiles; i++) {
		const struct tfile *f = &r->files[i];
		for (uint32_t c = 0; c < wire_upd_chunk_count(f->len, CHUNK); c++) {
			struct tchunk *t = &s->chunks[s->nchunks++];
			ck_assert_int_le(s->nchunks, MAX_CHUNKS);
			t->len = (size_t)wire_upd_chunk_len(f->len, CHUNK, c);
			t->data = malloc(t->len);
			ck_assert_ptr_nonnull(t->data);
			memcpy(t->data, f->data + (size_t)c * CHUNK, t->len);
			crypto_sha256(t->data, t->len, t->hash);
			t->cut_done = 0;
			if (s->corrupt)
				t->data[t->len / 2] ^= 0x5a;
		}
	}
	pthread_mutex_unlock(&s->mu);
	wire_buf_free(&doc);
	wire_buf_free(&env);
	wire_buf_free(&payload);
}

/* ---------------------------------------------------------------- the HTTP server */
struct cut {
	const uint8_t *data;  /* borrowed from the site's chunk */
	size_t half;
};

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct cut *c = cls;
	size_t n;

	if (pos >= c->half)
		return MHD_CONTENT_READER_END_WITH_ERROR; /* the connection drops */
	n = c->half - (size_t)pos;
	if (n > max)
		n = max;
	memcpy(buf, c->data + pos, n);
	return (ssize_t)n;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const void *data,
			     size_t len, const char *etag)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;

	if (resp == NULL)
		return MHD_NO;
	if (etag != NULL)
		MHD_add_response_header(resp, "ETag", etag);
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result serve_chunk(struct site *s, struct MHD_Connection *conn, const char *hex)
{
	const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Range");
	uint8_t want[32];
	struct tchunk *t = NULL;
	unsigned long long from = 0;
	char cr[96];

	s->chunk_requests++;
	if (range != NULL) {
		s->range_requests++;
		snprintf(s->last_range, sizeof(s->last_range), "%s", range);
	}
	if (wire_upd_unhex(hex, strlen(hex), want, 32) == 0)
		for (int i = 0; i < s->nchunks; i++)
			if (memcmp(s->chunks[i].hash, want, 32) == 0)
				t = &s->chunks[i];
	if (t == NULL)
		return reply(conn, 404, "no such chunk\n", 14, NULL);
	if (s->cut_once && !t->cut_done && range == NULL) {
		struct cut *c = malloc(sizeof(*c));
		struct MHD_Response *resp;
		enum MHD_Result rc;
		if (c == NULL)
			return MHD_NO;
		t->cut_done = 1;
		c->data = t->data;
		c->half = t->len / 2;
		resp = MHD_create_response_from_callback(t->len, 1024, cut_reader, c, free);
		if (resp == NULL) {
			free(c);
			return MHD_NO;
		}
		rc = MHD_queue_response(conn, 200, resp);
		MHD_destroy_response(resp);
		return rc;
	}
	if (range != NULL && !s->ignore_range) {
		if (sscanf(range, "bytes=%llu-", &from) != 1 || from >= t->len)
			return reply(conn, 416, "", 0, NULL);
		struct MHD_Response *resp = MHD_create_response_from_buffer(
			t->len - from, t->data + from, MHD_RESPMEM_MUST_COPY);
		enum MHD_Result rc;
		if (resp == NULL)
			return MHD_NO;
		snprintf(cr, sizeof(cr), "bytes %llu-%zu/%zu", from, t->len - 1, t->len);
		MHD_add_response_header(resp, "Content-Range", cr);
		rc = MHD_queue_response(conn, 206, resp);
		MHD_destroy_response(resp);
		return rc;
	}
	return reply(conn, 200, t->data, t->len, NULL);
}

static enum MHD_Result site_handler(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct site *s = cls;
	enum MHD_Result rc;
	int stall;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (strcmp(method, "GET") != 0)
		return MHD_NO;
	pthread_mutex_lock(&s->mu);
	stall = s->stall_ms;
	pthread_mutex_unlock(&s->mu);
	if (stall > 0 && strncmp(url, "/v1/channels/", 13) == 0)
		usleep((useconds_t)stall * 1000u);
	pthread_mutex_lock(&s->mu);
	if (s->not_found) {
		rc = reply(conn, 404, "not here\n", 9, NULL);
	} else if (strcmp(url, "/v1/channels/" CHANNEL) == 0) {
		const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
		s->doc_requests++;
		if (inm != NULL && strcmp(inm, s->etag) == 0) {
			s->not_modified++;
			rc = reply(conn, 304, "", 0, s->etag);
		} else {
			rc = reply(conn, 200, s->doc, s->doc_len, s->etag);
		}
	} else if (strncmp(url, "/v1/chunks/", 11) == 0) {
		rc = serve_chunk(s, conn, url + 11);
	} else {
		rc = reply(conn, 404, "unknown path\n", 13, NULL);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static struct site *site_start(void)
{
	struct site *s = calloc(1, sizeof(*s));
	const union MHD_DaemonInfo *info;

	ck_assert_ptr_nonnull(s);
	pthread_mutex_init(&s->mu, NULL);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, site_handler, s,
				MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	ck_assert_ptr_nonnull(s->d);
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	ck_assert_ptr_nonnull(info);
	s->port = info->port;
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u", s->port);
	return s;
}

static void site_stop(struct site *s)
{
	MHD_stop_daemon(s->d);
	for (int i = 0; i < s->nchunks; i++)
		free(s->chunks[i].data);
	free(s->doc);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* A URL where nothing listens: a port bound and released. */
static void refused_url(char *out, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	snprintf(out, len, "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
}

/* ---------------------------------------------------------------- the client side */
struct env {
	char root[64], out[128], state[128];
	struct bulwark_trust *trust;
	const char *urls[4];
	struct bulwark_poll_config cfg;
	struct bulwark_poll_result res;
	int events[4];  /* per event kind */
};

static void on_event(void *arg, const struct bulwark_poll_event *ev)
{
	struct env *e = arg;

	e->events[ev->kind]++;
}

static void env_init(struct env *e)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->root, sizeof(e->root), "/tmp/bulwark-poll-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(e->root));
	snprintf(e->out, sizeof(e->out), "%s/out", e->root);
	snprintf(e->state, sizeof(e->state), "%s/state", e->root);
	e->trust = load_trust();
	e->cfg.channel = CHANNEL;
	e->cfg.trust = e->trust;
	e->cfg.urls = e->urls;
	e->cfg.out_dir = e->out;
	e->cfg.state_dir = e->state;
	e->cfg.timeout_ms = 5000;
	e->cfg.now_ms = NOW_MS;
	e->cfg.progress = on_event;
	e->cfg.progress_arg = e;
}

static void rm_tree(const char *path)
{
	struct stat sb;
	struct dirent *de;
	char sub[512];
	DIR *d;

	if (lstat(path, &sb) != 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_tree(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

static void env_free(struct env *e)
{
	rm_tree(e->root);
	bulwark_trust_free(e->trust);
}

static int poll_with(struct env *e, size_t n, ...)
{
	va_list ap;

	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		e->urls[i] = va_arg(ap, const char *);
	va_end(ap);
	e->cfg.nurls = n;
	memset(e->events, 0, sizeof(e->events));
	return bulwark_poll_once(&e->cfg, &e->res);
}

/* Assert the installed files are exactly r's. */
static void assert_installed(const struct env *e, const struct release *r)
{
	char path[256];
	uint8_t *buf;
	size_t len;
	FILE *f;

	for (int i = 0; i < r->nfiles; i++) {
		snprintf(path, sizeof(path), "%s/%s", e->out, r->files[i].path);
		f = fopen(path, "rb");
		ck_assert_msg(f != NULL, "%s missing", path);
		buf = malloc(r->files[i].len + 2);
		len = fread(buf, 1, r->files[i].len + 1, f);
		fclose(f);
		ck_assert_msg(len == r->files[i].len && memcmp(buf, r->files[i].data, len) == 0,
			      "%s differs", path);
		free(buf);
	}
}

static struct bulwark_update_state saved_state(const struct env *e)
{
	struct bulwark_update_state st;
	char path[256], hex[65], err[256];
	uint8_t h[32];

	crypto_sha256(CHANNEL, strlen(CHANNEL), h);
	wire_upd_hex(h, 32, hex);
	snprintf(path, sizeof(path), "%s/%s.state", e->state, hex);
	ck_assert_msg(bulwark_state_load(path, CHANNEL, &st, err, sizeof(err)) == 0, "%s", err);
	return st;
}

/* Number of entries of folder path whose name contains part (all when NULL), or -1. */
static int count_entries(const char *path, const char *part)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
		    (part == NULL || strstr(de->d_name, part) != NULL))
			n++;
	closedir(d);
	return n;
}

static ino_t inode_of(const char *dir, const char *rel)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	ck_assert_int_eq(stat(path, &sb), 0);
	return sb.st_ino;
}

/* ---------------------------------------------------------------- cases */
START_TEST(test_install_then_up_to_date_then_upgrade)
{
	struct env e;
	struct release r5, r6;
	struct site *s = site_start();
	struct bulwark_update_state st;
	ino_t tool_ino;
	char path[256];
	FILE *f;
	int rc;

	env_init(&e);
	rel_default(&r5, 5, 1);
	site_publish(s, &r5);
	/* A clean poll installs byte-identical files and saves the state. */
	rc = poll_with(&e, 1, s->url);
	ck_assert_msg(rc == 0, "%d: %s", rc, e.res.err);
	assert_installed(&e, &r5);
	ck_assert_int_eq(e.res.up_to_date, 0);
	ck_assert_uint_eq(e.res.version, 5);
	ck_assert_uint_eq(e.res.seq, 105);
	ck_assert_uint_eq(e.res.files_installed, 3);
	ck_assert_uint_eq(e.res.chunks_fetched, 6);
	ck_assert_uint_eq(e.res.bytes_fetched, 5 + 3 * CHUNK + 100 + CHUNK);
	ck_assert_uint_eq(e.res.nfailures, 0);
	ck_assert_str_eq(e.res.source, s->url);
	ck_assert_int_eq(e.events[BULWARK_POLL_EV_FILE], 3);
	ck_assert_int_eq(e.events[BULWARK_POLL_EV_CHUNK], 6);
	st = saved_state(&e);
	ck_assert_uint_eq(st.version, 5);
	ck_assert_uint_eq(st.seq, 105);
	ck_assert_int_eq(count_entries(e.out, ".tmp"), 0);
	ck_assert_int_eq(count_entries(e.state, ".chunks"), 0); /* the cache is emptied */

	/* The second poll is answered 304 and costs no chunk. */
	int chunk_requests = s->chunk_requests;
	rc = poll_with(&e, 1, s->url);
	ck_assert_msg(rc == 0, "%d: %s", rc, e.res.err);
	ck_assert_int_eq(e.res.up_to_date, 1);
	ck_assert_int_eq(e.res.not_modified, 1);
	ck_assert_uint_eq(e.res.version, 5);
	ck_assert_int_eq(s->not_modified, 1);
	ck_assert_int_eq(s->chunk_requests, chunk_requests);

	/* A damaged installed file is put back even when the version is unchanged. */
	snprintf(path, sizeof(path), "%s/bin/tool", e.out);
	f = fopen(path, "r+b");
	ck_assert_ptr_nonnull(f);
	fputc('X', f);
	fclose(f);
	rc = poll_with(&e, 1, s->url);
	ck_assert_msg(rc == 0, "%d: %s", rc, e.res.err);
	ck_assert_int_eq(e.res.up_to_date, 0);
	ck_assert_uint_eq(e.res.files_installed, 1);
	ck_assert_uint_eq(e.res.chunks_fetched, 4);
	assert_installed(&e, &r5);

	/* A new version replaces the files by rename (new inodes) and advances the state. */
	tool_ino = inode_of(e.out, "bin/tool");
	rel_default(&r6, 6, 9);
	site_publish(s, &r6);
	rc = poll_with(&e, 1, s->url);
	ck_assert_msg(rc == 0, "%d: %s", rc, e.res.err);
	assert_installed(&e, &r6);
	ck_assert_uint_eq(e.res.version, 6);
	ck_assert_uint_eq(e.res.files_installed, 2); /* hello.txt is the same "hello" */
	ck_assert_uint_ne(inode_of(e.out, "bin/tool"), tool_ino);
	ck_assert_int_eq(count_entries(e.out, ".tmp"), 0);
	st = saved_state(&e);
	ck_assert_uint_eq(st.version, 6);
	ck_assert_uint_eq(st.seq, 106);

	rel_free(&r5);
	rel_free(&r6);
	site_stop(s);
	env_free(&e);
}
END_TEST

/* One failover case: the first source misbehaves, the second is honest. */
struct failover {
	const char *name;
	void (*setup)(struct site *bad, struct release *r);
	int code;            /* the first source's failure */
	const char *why;
};

static void f_forged(struct site *b, struct release *r) { (void)b; r->evil_payload = 1; }
static void f_dropped_sig(struct site *b, struct release *r) { (void)b; r->npub = 1; }
static void f_corrupt(struct site *b, struct release *r) { (void)r; b->corrupt = 1; }
static void f_not_found(struct site *b, struct release *r) { (void)r; b->not_found = 1; }
static void f_stall(struct site *b, struct release *r) { (void)r; b->stall_ms = 1500; }
static void f_old_cert(struct site *b, struct release *r) { (void)b; r->cert_expires_ms = NOW_MS; }
/* The document is replaced by 2 MiB after publishing, see test_failover. */
static void f_huge(struct site *b, struct release *r) { (void)b; (void)r; }
static void f_refused(struct site *b, struct release *r) { (void)b; (void)r; }

static const struct failover failovers[] = {
	{ "nothing listens", f_refused, BULWARK_POLL_ERR_FETCH, "" },
	{ "a hostile mirror rewrites the manifest", f_forged, BULWARK_UPD_ERR_INCLUSION,
	  "is not leaf 1 of 3 under the certified index root" },
	{ "a hostile mirror drops a publisher signature", f_dropped_sig,
	  BULWARK_UPD_ERR_PUBLISHER_THRESHOLD, "1 valid signatures by distinct publisher keys" },
	{ "a corrupted chunk", f_corrupt, BULWARK_UPD_ERR_CHUNK, "do not hash to it" },
	{ "HTTP 404", f_not_found, BULWARK_POLL_ERR_HTTP, "HTTP status 404" },
	{ "a stalled source", f_stall, BULWARK_POLL_ERR_TIMEOUT, "timed out after 400 ms" },
	{ "a frozen (expired) certificate", f_old_cert, BULWARK_UPD_ERR_CERT_EXPIRED,
	  "certificate: expired at" },
	{ "an oversized document", f_huge, BULWARK_POLL_ERR_TOO_BIG, "document larger than" },
};

START_TEST(test_failover)
{
	const struct failover *fo = &failovers[_i];
	struct site *bad = site_start(), *good = site_start();
	struct release r, rb;
	struct env e;
	char refused[64];
	const char *first = bad->url;
	int rc;

	env_init(&e);
	rel_default(&r, 5, 1);
	rel_default(&rb, 5, 1);
	fo->setup(bad, &rb);
	site_publish(good, &r);
	site_publish(bad, &rb);
	if (fo->setup == f_huge) {
		free(bad->doc);
		bad->doc_len = 2u * 1024 * 1024;
		bad->doc = calloc(1, bad->doc_len);
		ck_assert_ptr_nonnull(bad->doc);
	}
	if (fo->setup == f_refused) {
		refused_url(refused, sizeof(refused));
		first = refused;
	}
	if (fo->setup == f_stall)
		e.cfg.timeout_ms = 400;
	rc = poll_with(&e, 2, first, good->url);
	ck_assert_msg(rc == 0, "%s: %d: %s", fo->name, rc, e.res.err);
	assert_installed(&e, &r);
	ck_assert_str_eq(e.res.source, fo->setup == f_corrupt ? bad->url : good->url);
	ck_assert_uint_ge(e.res.nfailures, 1);
	ck_assert_str_eq(e.res.failures[0].url, first);
	ck_assert_msg(e.res.failures[0].code == fo->code, "%s: code %d (%s), want %d", fo->name,
		      e.res.failures[0].code, e.res.failures[0].why, fo->code);
	ck_assert_msg(strstr(e.res.failures[0].why, fo->why) != NULL, "%s: \"%s\" lacks \"%s\"",
		      fo->name, e.res.failures[0].why, fo->why);
	ck_assert_int_eq(e.events[BULWARK_POLL_EV_SOURCE_FAILED], (int)e.res.nfailures);
	if (fo->setup == f_corrupt) /* one bad chunk marks the source: 1 failure, not 6 */
		ck_assert_uint_eq(e.res.nfailures, 1);
	ck_assert_uint_eq(saved_state(&e).version, 5);
	rel_free(&r);
	rel_free(&rb);
	site_stop(bad);
	site_stop(good);
	env_free(&e);
}
END_TEST

/* Only hostile sources: the poll fails with the named check, installs nothing and
 * keeps the old state (version 5 installed first). */
struct hostile {
	const char *name;
	void (*edit)(struct site *s, struct release *r);
	int code;
	const char *why;
};

static void h_rollback(struct site *s, struct release *r) { (void)s; r->version = 4; r->seq = 200; }
static void h_expired(struct site *s, struct release *r) { (void)s; r->cert_expires_ms = NOW_MS - 1; }
static void h_below(struct site *s, struct release *r) { (void)s; r->nsigners = 1; }
static void h_publishers(struct site *s, struct release *r) { (void)s; r->npub = 1; }
static void h_old_seq(struct site *s, struct release *r) { (void)s; r->seq = 50; }
static void h_chunks(struct site *s, struct release *r) { (void)r; s->corrupt = 1; }

static const struct hostile hostiles[] = {
	{ "rollback to an older version", h_rollback, BULWARK_UPD_ERR_ROLLBACK,
	  "version 4 is below the accepted 5" },
	{ "expired certificate", h_expired, BULWARK_UPD_ERR_CERT_EXPIRED, "certificate: expired" },
	{ "certificate below threshold", h_below, BULWARK_UPD_ERR_CERT_SIGNATURES,
	  "1 valid signatures by distinct trusted replicas, 2 needed" },
	{ "publishers below threshold", h_publishers, BULWARK_UPD_ERR_PUBLISHER_THRESHOLD,
	  "manifest lacks enough publisher signatures" },
	{ "certificate rollback", h_old_seq, BULWARK_UPD_ERR_CERT_ROLLBACK,
	  "seq 50 is below the accepted 105" },
	{ "chunk hash mismatch", h_chunks, BULWARK_UPD_ERR_CHUNK, "do not hash to it" },
};

START_TEST(test_hostile_only)
{
	const struct hostile *h = &hostiles[_i];
	struct site *honest = site_start(), *b1 = site_start(), *b2 = site_start();
	struct release r5, r7;
	struct bulwark_update_state before, after;
	struct env e;
	int rc;

	env_init(&e);
	rel_default(&r5, 5, 1);
	site_publish(honest, &r5);
	ck_assert_int_eq(poll_with(&e, 1, honest->url), 0);
	before = saved_state(&e);
	/* The hostile release: version 7 with new bytes, edited. */
	rel_default(&r7, 7, 77);
	h->edit(b1, &r7);
	h->edit(b2, &r7);
	site_publish(b1, &r7);
	site_publish(b2, &r7);
	rc = poll_with(&e, 2, b1->url, b2->url);
	ck_assert_msg(rc == h->code, "%s: %d (%s), want %d", h->name, rc, e.res.err, h->code);
	ck_assert_msg(strstr(e.res.err, h->why) != NULL, "%s: \"%s\" lacks \"%s\"", h->name,
		      e.res.err, h->why);
	ck_assert_uint_eq(e.res.nfailures, 2);
	ck_assert_uint_eq(e.res.files_installed, 0);
	assert_installed(&e, &r5);
	after = saved_state(&e);
	ck_assert_mem_eq(&after, &before, sizeof(before));
	ck_assert_int_eq(count_entries(e.out, ".tmp"), 0);
	rel_free(&r5);
	rel_free(&r7);
	site_stop(honest);
	site_stop(b1);
	site_stop(b2);
	env_free(&e);
}
END_TEST

/* A chunk download cut halfway resumes with Range: from the next source in the same
 * poll, and from the same source in the next poll. */
START_TEST(test_resume)
{
	struct site *cutter = site_start(), *good = site_start();
	struct release r;
	struct env e;
	char want[64];
	int rc;

	env_init(&e);
	rel_default(&r, 5, 1);
	cutter->cut_once = 1;
	site_publish(cutter, &r);
	site_publish(good, &r);
	/* Same poll: the cut source fails, the next one is asked for the rest only. */
	rc = poll_with(&e, 2, cutter->url, good->url);
	ck_assert_msg(rc == 0, "%d: %s", rc, e.res.err);
	assert_installed(&e, &r);
	ck_assert_int_eq(e.res.failures[0].code, BULWARK_POLL_ERR_FETCH);
	ck_assert_ptr_nonnull(strstr(e.res.failures[0].why, "bytes kept"));
	ck_assert_uint_eq(e.res.chunks_resumed, 1);
	ck_assert_int_eq(good->chunk_requests, 6);
	ck_assert_int_eq(good->range_requests, 1);
	ck_assert_str_eq(good->last_range, "bytes=2-"); /* hello.txt: 2 of its 5 bytes kept */
	env_free(&e);

	/* Next poll: one source that cuts each chunk once; the first poll keeps the halves
	 * and fails without installing or saving anything; the second resumes them. */
	env_init(&e);
	for (int i = 0; i < cutter->nchunks; i++)
		cutter->chunks[i].cut_done = 0;
	rc = poll_with(&e, 1, cutter->url);
	ck_assert_int_eq(rc, BULWARK_POLL_ERR_FETCH);
	ck_assert_int_eq(count_entries(e.out, NULL), 0);
	ck_assert_uint_eq(saved_state(&e).version, 0);
	rc = poll_with(&e, 1, cutter->url);
	ck_assert_int_eq(rc, BULWARK_POLL_ERR_FETCH); /* the second chunk is cut now */
	cutter->chunk_requests = 0;
	for (int round = 0; round < 8 && rc != 0; round++)
		rc = poll_with(&e, 1, cutter->url);
	ck_assert_msg(rc == 0, "%d: %s", rc, e.res.err);
	assert_installed(&e, &r);
	snprintf(want, sizeof(want), "bytes=%u-", CHUNK / 2);
	ck_assert_str_eq(cutter->last_range, want);
	env_free(&e);

	/* A source that ignores Range gets the whole chunk again, which is fine. */
	env_init(&e);
	good->ignore_range = 1;
	for (int i = 0; i < cutter->nchunks; i++)
		cutter->chunks[i].cut_done = 0;
	rc = poll_with(&e, 2, cutter->url, good->url);
	ck_assert_msg(rc == 0, "%d: %s", rc, e.res.err);
	assert_installed(&e, &r);
	ck_assert_uint_eq(e.res.chunks_resumed, 0);
	rel_free(&r);
	site_stop(cutter);
	site_stop(good);
	env_free(&e);
}
END_TEST

/* A 304 cannot freeze the client: once the saved document's certificate expired, the
 * "not modified" answer is refused as a freeze. */
START_TEST(test_not_modified_freeze)
{
	struct site *s = site_start();
	struct release r;
	struct env e;
	int rc;

	env_init(&e);
	rel_default(&r, 5, 1);
	site_publish(s, &r);
	ck_assert_int_eq(poll_with(&e, 1, s->url), 0);
	e.cfg.now_ms = NOW_MS + 120000; /* past the certificate's expiry */
	rc = poll_with(&e, 1, s->url);
	ck_assert_int_eq(rc, BULWARK_UPD_ERR_CERT_EXPIRED);
	ck_assert_int_eq(s->not_modified, 1);
	ck_assert_ptr_nonnull(strstr(e.res.err, "304 Not Modified, but the saved document fails"));
	ck_assert_uint_eq(saved_state(&e).version, 5);
	rel_free(&r);
	site_stop(s);
	env_free(&e);
}
END_TEST

START_TEST(test_bad_config_and_lock)
{
	struct site *s = site_start();
	struct release r;
	struct env e;
	char lock[512], hex[65];
	uint8_t h[32];
	int fd, rc;

	env_init(&e);
	rel_default(&r, 5, 1);
	site_publish(s, &r);
	ck_assert_int_eq(bulwark_poll_once(NULL, &e.res), BULWARK_UPD_ERR_ARG);
	ck_assert_int_eq(poll_with(&e, 0), BULWARK_UPD_ERR_ARG);
	e.cfg.channel = "../etc";
	ck_assert_int_eq(poll_with(&e, 1, s->url), BULWARK_UPD_ERR_ARG);
	ck_assert_ptr_nonnull(strstr(e.res.err, "is not a channel name"));
	e.cfg.channel = "stable/unpinned";
	ck_assert_int_eq(poll_with(&e, 1, s->url), BULWARK_UPD_ERR_NO_CHANNEL);
	e.cfg.channel = CHANNEL;
	e.cfg.state_dir = NULL; /* the trust file names no state_dir */
	ck_assert_int_eq(poll_with(&e, 1, s->url), BULWARK_UPD_ERR_ARG);
	ck_assert_ptr_nonnull(strstr(e.res.err, "no state folder"));
	e.cfg.state_dir = e.state;
	/* Another poll of the channel holds the lock. */
	ck_assert_int_eq(mkdir(e.state, 0700) == 0 || errno == EEXIST, 1);
	crypto_sha256(CHANNEL, strlen(CHANNEL), h);
	wire_upd_hex(h, 32, hex);
	snprintf(lock, sizeof(lock), "%s/%s.lock", e.state, hex);
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	ck_assert_int_eq(poll_with(&e, 1, s->url), BULWARK_POLL_ERR_BUSY);
	close(fd);
	rc = poll_with(&e, 1, s->url);
	ck_assert_msg(rc == 0, "%d: %s", rc, e.res.err);
	/* Error strings cover both families. */
	ck_assert_str_eq(bulwark_poll_strerror(BULWARK_POLL_ERR_TIMEOUT), "transfer timed out");
	ck_assert_str_eq(bulwark_poll_strerror(BULWARK_UPD_ERR_ROLLBACK),
			 bulwark_upd_strerror(BULWARK_UPD_ERR_ROLLBACK));
	rel_free(&r);
	site_stop(s);
	env_free(&e);
}
END_TEST

static Suite *poll_suite(void)
{
	Suite *s = suite_create("client_poll");
	TCase *tc = tcase_create("poll");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_install_then_up_to_date_then_upgrade);
	tcase_add_loop_test(tc, test_failover, 0, (int)(sizeof(failovers) / sizeof(failovers[0])));
	tcase_add_loop_test(tc, test_hostile_only, 0, (int)(sizeof(hostiles) / sizeof(hostiles[0])));
	tcase_add_test(tc, test_resume);
	tcase_add_test(tc, test_not_modified_freeze);
	tcase_add_test(tc, test_bad_config_and_lock);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(poll_suite)
