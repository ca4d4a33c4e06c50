/* trust.c: the light client's trust file (group, replica keys, pinned publisher
 * policies) and its per-channel saved state, both INI read with inih. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/lib/upd_int.h"
#include "common/config.h"
#include "crypto/crypto.h"

#define TRUST_MAX_FILE (256u * 1024u)
#define TRUST_MAX_CHANNELS 4096u
#define STATE_MAX_FILE 4096u

/* ---------------------------------------------------------------- INI over a buffer */
/* inih reads lines through this reader, which counts them (so errors carry file:line)
 * and refuses a line longer than inih's line buffer instead of letting it be split. */
struct ini_src {
	const char *name;        /* for messages */
	const char *text;
	size_t len, off;
	unsigned line;           /* lines handed to inih so far: the current line */
	int too_long;
	char *err;
	size_t errlen;
	int rc;                  /* first error (0: none) */
};

static char *ini_src_read(char *str, int num, void *stream)
{
	struct ini_src *s = stream;
	size_t n = 0;

	if (s->off >= s->len || s->rc != 0 || num < 2)
		return NULL;
	while (s->off + n < s->len && s->text[s->off + n] != '\n')
		n++;
	if (s->off + n < s->len)
		n++; /* the newline */
	s->line++;
	if (n > (size_t)num - 1 || memchr(s->text + s->off, '\0', n) != NULL) {
		s->too_long = 1;
		return NULL;
	}
	memcpy(str, s->text + s->off, n);
	str[n] = '\0';
	s->off += n;
	return str;
}

/* Record the first error as "name:line: text" (line 0: "name: text"). */
__attribute__((format(printf, 4, 0)))
static void ini_verror(struct ini_src *s, int code, unsigned line, const char *fmt, va_list ap)
{
	char msg[256];

	if (s->rc != 0)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	s->rc = code;
	if (line > 0)
		bulwark__upd_fail(s->err, s->errlen, code, "%s:%u: %s", s->name, line, msg);
	else
		bulwark__upd_fail(s->err, s->errlen, code, "%s: %s", s->name, msg);
}

/* For inih handlers: record the error and return 0 (inih's "failed"). */
__attribute__((format(printf, 4, 5)))
static int ini_fail(struct ini_src *s, int code, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ini_verror(s, code, line, fmt, ap);
	va_end(ap);
	return 0;
}

/* Elsewhere: record the error and return the first error's code. */
__attribute__((format(printf, 4, 5)))
static int ini_error(struct ini_src *s, int code, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ini_verror(s, code, line, fmt, ap);
	va_end(ap);
	return s->rc;
}

/* Run inih; returns s->rc after reporting syntax errors and overlong lines. */
static int ini_src_parse(struct ini_src *s, ini_handler handler, void *user, int code)
{
	int r = ini_parse_stream(ini_src_read, s, handler, user);

	if (s->rc != 0)
		return s->rc;
	if (s->too_long)
		return ini_error(s, code, s->line, "line too long or contains a NUL byte");
	if (r > 0)
		return ini_error(s, code, (unsigned)r, "not a [section], key = value or comment line");
	if (r < 0)
		return ini_error(s, BULWARK_UPD_ERR_NOMEM, 0, "out of memory");
	return 0;
}

/* Read a whole file of at most max bytes; *buf owned by the caller. */
static int read_file(const char *path, size_t max, char **buf, size_t *len, int *missing,
		     char *err, size_t errlen)
{
	FILE *f;
	char *p;
	size_t n;

	*buf = NULL;
	if (missing != NULL)
		*missing = 0;
	f = fopen(path, "rb");
	if (f == NULL) {
		if (errno == ENOENT && missing != NULL) {
			*missing = 1;
			return 0;
		}
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_IO, "%s: %s", path,
					 strerror(errno));
	}
	p = malloc(max + 1);
	if (p == NULL) {
		fclose(f);
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
	}
	n = fread(p, 1, max + 1, f);
	if (ferror(f) || n > max) {
		int toobig = !ferror(f);
		fclose(f);
		free(p);
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_IO, "%s: %s", path,
					 toobig ? "file too big" : "read error");
	}
	fclose(f);
	*buf = p;
	*len = n;
	return 0;
}

/* ---------------------------------------------------------------- trust file */
struct trust_parse {
	struct ini_src src;
	struct bulwark_trust *t;
	const char *dir;
	unsigned group_line;
	unsigned id_line, epoch_line, thr_line, sd_line;
	uint64_t threshold;
	unsigned rep_line[WIRE_UPD_MAX_REPLICAS];
	size_t capchan;
};

static int trust_key_hex(struct trust_parse *p, const char *value, uint8_t out[32])
{
	if (wire_upd_unhex(value, strlen(value), out, WIRE_UPD_KEY_LEN) != 0)
		return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
				"not a public key of 64 lower-case hex digits");
	return 1;
}

/* Set *seen to the line, or fail if the key was set before. */
static int trust_once(struct trust_parse *p, unsigned *seen, const char *key)
{
	if (*seen != 0)
		return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
				"%s set twice (first on line %u)", key, *seen);
	*seen = p->src.line;
	return 1;
}

static int trust_uint(struct trust_parse *p, const char *key, const char *value, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	if (config_parse_uint(value, min, max, out) != 0)
		return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
				"%s: not an integer from %llu to %llu", key,
				(unsigned long long)min, (unsigned long long)max);
	return 1;
}

static int trust_group_key(struct trust_parse *p, const char *name, const char *value)
{
	struct bulwark_trust *t = p->t;

	if (p->group_line == 0)
		p->group_line = p->src.line;
	if (strcmp(name, "id") == 0)
		return trust_once(p, &p->id_line, name) &&
		       trust_uint(p, name, value, 0, UINT64_MAX, &t->group);
	if (strcmp(name, "epoch") == 0)
		return trust_once(p, &p->epoch_line, name) &&
		       trust_uint(p, name, value, 0, UINT64_MAX, &t->epoch);
	if (strcmp(name, "threshold") == 0)
		return trust_once(p, &p->thr_line, name) &&
		       trust_uint(p, name, value, 1, WIRE_UPD_MAX_REPLICAS, &p->threshold);
	if (strcmp(name, "state_dir") == 0) {
		if (!trust_once(p, &p->sd_line, name))
			return 0;
		if (value[0] == '\0')
			return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line, "state_dir: empty");
		size_t n = strlen(value) + (p->dir != NULL ? strlen(p->dir) + 1 : 0) + 1;
		t->state_dir = malloc(n);
		if (t->state_dir == NULL)
			return ini_fail(&p->src, BULWARK_UPD_ERR_NOMEM, 0, "out of memory");
		if (value[0] == '/' || p->dir == NULL)
			snprintf(t->state_dir, n, "%s", value);
		else
			snprintf(t->state_dir, n, "%s/%s", p->dir, value);
		return 1;
	}
	return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line, "[group]: unknown key \"%.40s\"",
			name);
}

static int trust_replica_key(struct trust_parse *p, const char *id_text, const char *name,
			     const char *value)
{
	uint64_t id;

	if (config_parse_uint(id_text, 0, WIRE_UPD_MAX_REPLICAS - 1, &id) != 0)
		return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
				"[replica %.20s]: not a replica id from 0 to %u", id_text,
				WIRE_UPD_MAX_REPLICAS - 1);
	if (strcmp(name, "public_key") != 0)
		return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
				"[replica %llu]: unknown key \"%.40s\"", (unsigned long long)id, name);
	if (!trust_once(p, &p->rep_line[id], name))
		return 0;
	return trust_key_hex(p, value, p->t->replica_keys[id]);
}

static struct bulwark__policy *trust_channel(struct trust_parse *p, const char *cname)
{
	struct bulwark_trust *t = p->t;

	for (size_t i = 0; i < t->nchan; i++)
		if (strcmp(t->chan[i].name, cname) == 0)
			return &t->chan[i];
	if (wire_upd_check_channel(cname, strlen(cname)) != 0) {
		ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
			 "[channel %.60s]: not a valid channel name", cname);
		return NULL;
	}
	if (t->nchan == TRUST_MAX_CHANNELS) {
		ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line, "more than %u channels",
			 TRUST_MAX_CHANNELS);
		return NULL;
	}
	if (t->nchan == p->capchan) {
		size_t cap = p->capchan ? 2 * p->capchan : 4;
		void *n = realloc(t->chan, cap * sizeof(*t->chan));
		if (n == NULL) {
			ini_fail(&p->src, BULWARK_UPD_ERR_NOMEM, 0, "out of memory");
			return NULL;
		}
		t->chan = n;
		p->capchan = cap;
	}
	struct bulwark__policy *pol = &t->chan[t->nchan++];
	memset(pol, 0, sizeof(*pol));
	snprintf(pol->name, sizeof(pol->name), "%s", cname);
	pol->line = p->src.line;
	return pol;
}

static int trust_channel_key(struct trust_parse *p, const char *cname, const char *name,
			     const char *value)
{
	struct bulwark__policy *pol = trust_channel(p, cname);
	uint64_t k;

	if (pol == NULL)
		return 0;
	if (strcmp(name, "threshold") == 0) {
		if (pol->k != 0)
			return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
					"[channel %s]: threshold set twice", pol->name);
		if (!trust_uint(p, name, value, 1, WIRE_UPD_MAX_KEYS, &k))
			return 0;
		pol->k = (uint32_t)k;
		return 1;
	}
	if (strcmp(name, "publisher") == 0) {
		if (pol->m == WIRE_UPD_MAX_KEYS)
			return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
					"[channel %s]: more than %u publisher keys", pol->name,
					WIRE_UPD_MAX_KEYS);
		if (!trust_key_hex(p, value, pol->keys[pol->m]))
			return 0;
		for (uint32_t i = 0; i < pol->m; i++)
			if (memcmp(pol->keys[i], pol->keys[pol->m], WIRE_UPD_KEY_LEN) == 0)
				return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
						"[channel %s]: publisher key listed twice", pol->name);
		pol->m++;
		return 1;
	}
	return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
			"[channel %s]: unknown key \"%.40s\"", pol->name, name);
}

static int trust_handler(void *user, const char *section, const char *name, const char *value)
{
	struct trust_parse *p = user;

	if (p->src.rc != 0)
		return 0;
	if (strcmp(section, "group") == 0)
		return trust_group_key(p, name, value);
	if (strncmp(section, "replica ", 8) == 0)
		return trust_replica_key(p, section + 8, name, value);
	if (strncmp(section, "channel ", 8) == 0)
		return trust_channel_key(p, section + 8, name, value);
	return ini_fail(&p->src, BULWARK_UPD_ERR_TRUST, p->src.line,
			"unknown section [%.60s] (or a key before any section)", section);
}

/* Cross-field rules once the whole file is read. */
static int trust_check(struct trust_parse *p)
{
	struct bulwark_trust *t = p->t;
	uint32_t n = 0;

	if (p->id_line == 0)
		return ini_error(&p->src, BULWARK_UPD_ERR_TRUST, p->group_line,
				"[group] id is required");
	if (p->epoch_line == 0)
		t->epoch = 1;
	for (uint32_t i = 0; i < WIRE_UPD_MAX_REPLICAS; i++)
		if (p->rep_line[i] != 0)
			n = i + 1;
	for (uint32_t i = 0; i < n; i++)
		if (p->rep_line[i] == 0)
			return ini_error(&p->src, BULWARK_UPD_ERR_TRUST, 0,
					"[replica %u] missing: replicas must be 0..%u", i, n - 1);
	if (n < 4 || (n - 1) % 3 != 0)
		return ini_error(&p->src, BULWARK_UPD_ERR_TRUST, 0,
				"%u replicas: a group has n = 3f+1 >= 4", n);
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = i + 1; j < n; j++)
			if (memcmp(t->replica_keys[i], t->replica_keys[j], WIRE_UPD_KEY_LEN) == 0)
				return ini_error(&p->src, BULWARK_UPD_ERR_TRUST, p->rep_line[j],
						"replicas %u and %u have the same key", i, j);
	t->n = n;
	t->f = (n - 1) / 3;
	t->threshold = p->thr_line != 0 ? (uint32_t)p->threshold : t->f + 1;
	if (t->threshold < t->f + 1 || t->threshold > n)
		return ini_error(&p->src, BULWARK_UPD_ERR_TRUST, p->thr_line,
				"threshold %u: must be from f+1 = %u to n = %u", t->threshold,
				t->f + 1, n);
	for (size_t i = 0; i < t->nchan; i++) {
		const struct bulwark__policy *pol = &t->chan[i];
		if (pol->m == 0 || pol->k == 0 || pol->k > pol->m)
			return ini_error(&p->src, BULWARK_UPD_ERR_TRUST, pol->line,
					"[channel %s]: threshold %u of %u publisher keys (need "
					"1 <= threshold <= keys)", pol->name, pol->k, pol->m);
	}
	return 0;
}

int bulwark_trust_parse(const char *name, const char *dir, const char *text, size_t len,
			struct bulwark_trust **out, char *err, size_t errlen)
{
	struct trust_parse *p;
	int rc;

	if (out == NULL || (text == NULL && len > 0))
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "no trust text");
	*out = NULL;
	if (len > TRUST_MAX_FILE)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_TRUST, "%s: above %u bytes",
					 name != NULL ? name : "trust", TRUST_MAX_FILE);
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
	p->t = calloc(1, sizeof(*p->t));
	if (p->t == NULL) {
		free(p);
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
	}
	p->src.name = name != NULL ? name : "trust";
	p->src.text = text;
	p->src.len = len;
	p->src.err = err;
	p->src.errlen = errlen;
	p->dir = dir;
	rc = ini_src_parse(&p->src, trust_handler, p, BULWARK_UPD_ERR_TRUST);
	if (rc == 0)
		rc = trust_check(p);
	if (rc != 0)
		bulwark_trust_free(p->t);
	else
		*out = p->t;
	free(p);
	return rc;
}

int bulwark_trust_load(const char *path, struct bulwark_trust **out, char *err, size_t errlen)
{
	char *buf, *dir;
	const char *slash;
	size_t len;
	int rc;

	if (path == NULL || out == NULL)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "no trust file");
	*out = NULL;
	rc = read_file(path, TRUST_MAX_FILE, &buf, &len, NULL, err, errlen);
	if (rc != 0)
		return rc;
	slash = strrchr(path, '/');
	dir = slash != NULL ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
	if (dir == NULL) {
		free(buf);
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
	}
	rc = bulwark_trust_parse(path, dir, buf, len, out, err, errlen);
	free(dir);
	free(buf);
	return rc;
}

void bulwark_trust_free(struct bulwark_trust *t)
{
	if (t == NULL)
		return;
	free(t->chan);
	free(t->state_dir);
	free(t);
}

uint64_t bulwark_trust_group(const struct bulwark_trust *t)
{
	return t->group;
}

uint32_t bulwark_trust_replicas(const struct bulwark_trust *t)
{
	return t->n;
}

uint32_t bulwark_trust_threshold(const struct bulwark_trust *t)
{
	return t->threshold;
}

const struct bulwark__policy *bulwark__trust_policy(const struct bulwark_trust *t,
						    const char *name)
{
	for (size_t i = 0; i < t->nchan; i++)
		if (strcmp(t->chan[i].name, name) == 0)
			return &t->chan[i];
	return NULL;
}

/* ---------------------------------------------------------------- saved state */
int bulwark_state_path(const struct bulwark_trust *t, const char *channel, char *out,
		       size_t outlen)
{
	uint8_t h[WIRE_UPD_HASH_LEN];
	char hex[2 * WIRE_UPD_HASH_LEN + 1];
	int n;

	if (t == NULL || channel == NULL || out == NULL || t->state_dir == NULL)
		return BULWARK_UPD_ERR_ARG;
	crypto_sha256(channel, strlen(channel), h);
	wire_upd_hex(h, sizeof(h), hex);
	n = snprintf(out, outlen, "%s/%s.state", t->state_dir, hex);
	return n < 0 || (size_t)n >= outlen ? BULWARK_UPD_ERR_ARG : 0;
}

struct state_parse {
	struct ini_src src;
	const char *channel;
	struct bulwark_update_state *st;
	unsigned channel_line, version_line, seq_line, manifest_line;
};

static int state_handler(void *user, const char *section, const char *name, const char *value)
{
	struct state_parse *p = user;
	unsigned *seen;
	uint64_t v;

	if (p->src.rc != 0)
		return 0;
	if (strcmp(section, "state") != 0)
		return ini_fail(&p->src, BULWARK_UPD_ERR_STATE, p->src.line,
				"unknown section [%.60s]", section);
	if (strcmp(name, "channel") == 0)
		seen = &p->channel_line;
	else if (strcmp(name, "version") == 0)
		seen = &p->version_line;
	else if (strcmp(name, "seq") == 0)
		seen = &p->seq_line;
	else if (strcmp(name, "manifest") == 0)
		seen = &p->manifest_line;
	else
		return ini_fail(&p->src, BULWARK_UPD_ERR_STATE, p->src.line, "unknown key \"%.40s\"",
				name);
	if (*seen != 0)
		return ini_fail(&p->src, BULWARK_UPD_ERR_STATE, p->src.line, "%s set twice", name);
	*seen = p->src.line;
	if (seen == &p->channel_line) {
		if (strcmp(value, p->channel) != 0)
			return ini_fail(&p->src, BULWARK_UPD_ERR_STATE, p->src.line,
					"state of channel %.60s, not %.60s", value, p->channel);
		return 1;
	}
	if (seen == &p->manifest_line) {
		if (wire_upd_unhex(value, strlen(value), p->st->manifest_hash, WIRE_UPD_HASH_LEN) != 0)
			return ini_fail(&p->src, BULWARK_UPD_ERR_STATE, p->src.line,
					"manifest: not 64 lower-case hex digits");
		return 1;
	}
	if (config_parse_uint(value, 0, WIRE_UPD_JSON_INT_MAX, &v) != 0)
		return ini_fail(&p->src, BULWARK_UPD_ERR_STATE, p->src.line,
				"%s: not an integer from 0 to 2^53-1", name);
	if (seen == &p->version_line)
		p->st->version = v;
	else
		p->st->seq = v;
	return 1;
}

int bulwark_state_load(const char *path, const char *channel, struct bulwark_update_state *st,
		       char *err, size_t errlen)
{
	struct state_parse p;
	char *buf;
	size_t len;
	int missing, rc;

	if (path == NULL || channel == NULL || st == NULL)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "missing argument");
	memset(st, 0, sizeof(*st));
	rc = read_file(path, STATE_MAX_FILE, &buf, &len, &missing, err, errlen);
	if (rc != 0 || missing)
		return rc;
	memset(&p, 0, sizeof(p));
	p.src.name = path;
	p.src.text = buf;
	p.src.len = len;
	p.src.err = err;
	p.src.errlen = errlen;
	p.channel = channel;
	p.st = st;
	rc = ini_src_parse(&p.src, state_handler, &p, BULWARK_UPD_ERR_STATE);
	if (rc == 0 && (p.channel_line == 0 || p.version_line == 0 || p.seq_line == 0 ||
			p.manifest_line == 0))
		rc = ini_error(&p.src, BULWARK_UPD_ERR_STATE, 0,
			       "[state] needs channel, version, seq and manifest");
	free(buf);
	if (rc != 0)
		memset(st, 0, sizeof(*st));
	return rc;
}

/* fsync the folder holding path, so that a rename in it is durable. */
static int sync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash != NULL ? strndup(path, (size_t)(slash - path) + (slash == path))
				  : strdup(".");
	int fd, rc = -1;

	if (dir == NULL)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(dir);
	return rc;
}

int bulwark_state_save(const char *path, const char *channel,
		       const struct bulwark_update_state *st, char *err, size_t errlen)
{
	char hex[2 * WIRE_UPD_HASH_LEN + 1];
	char text[512], *tmp;
	size_t tlen;
	int fd, n;

	if (path == NULL || channel == NULL || st == NULL ||
	    wire_upd_check_channel(channel, strlen(channel)) != 0)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "bad state arguments");
	wire_upd_hex(st->manifest_hash, WIRE_UPD_HASH_LEN, hex);
	n = snprintf(text, sizeof(text), "[state]\nchannel = %s\nversion = %llu\nseq = %llu\n"
		     "manifest = %s\n", channel, (unsigned long long)st->version,
		     (unsigned long long)st->seq, hex);
	if (n < 0 || (size_t)n >= sizeof(text))
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "state too long");
	tlen = strlen(path) + 32;
	tmp = malloc(tlen);
	if (tmp == NULL)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
	snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto err_io;
	if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
		close(fd);
		goto err_after_create;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
		goto err_after_create;
	free(tmp);
	if (sync_dir_of(path) != 0)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_IO, "%s: folder fsync: %s",
					 path, strerror(errno));
	return 0;

err_after_create:
	n = errno;
	unlink(tmp);
	errno = n;
err_io:
	n = bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_IO, "%s: %s", tmp, strerror(errno));
	free(tmp);
	return n;
}
