/* upd_json.c: the JSON signed-update formats (wire/upd.h): strict decoders and the
 * encoders of manifests, DSSE envelopes and response documents, and base64. */
#include "wire/upd.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

const struct wire_upd_limits wire_upd_limits_default = {
	.max_payload = 1u << 20,
	.max_files = 4096,
	.max_chunks = 8192,
	.max_document = 1536u << 10,
};

/* Set why's text (when why is not NULL) and return code. */
__attribute__((format(printf, 3, 4)))
static int upd_fail(struct wire_upd_why *why, int code, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL) {
		va_start(ap, fmt);
		vsnprintf(why->text, sizeof(why->text), fmt, ap);
		va_end(ap);
	}
	return code;
}

/* A hostile key, printable and bounded, for messages. */
static void upd_printable(const char *s, char out[40])
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < 32; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"') ? s[i] : '?';
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

/* ---------------------------------------------------------------- base64 */
static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Append the base64 of n bytes to out (no NUL). */
static void upd_b64_put(struct wire_buf *out, const uint8_t *in, size_t n)
{
	char q[4];

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = n - i;
		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		q[0] = b64_alphabet[v >> 18 & 63];
		q[1] = b64_alphabet[v >> 12 & 63];
		q[2] = left > 1 ? b64_alphabet[v >> 6 & 63] : '=';
		q[3] = left > 2 ? b64_alphabet[v & 63] : '=';
		wire_put_fixed(out, q, 4);
	}
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict, canonical base64 of slen chars into out (room for slen / 4 * 3); *n receives
 * the decoded length. */
static int upd_b64_decode(const char *s, size_t slen, uint8_t *out, size_t *n)
{
	size_t pad = 0, o = 0;

	if (slen % 4 != 0)
		return WIRE_UPD_E_ENCODING;
	if (slen > 0 && s[slen - 1] == '=')
		pad = (slen > 1 && s[slen - 2] == '=') ? 2 : 1;
	for (size_t i = 0; i < slen; i += 4) {
		int v[4];
		int last = i + 4 == slen;
		for (unsigned j = 0; j < 4; j++) {
			if (last && j >= 4 - pad) {
				v[j] = 0;
				continue;
			}
			v[j] = b64_value(s[i + j]);
			if (v[j] < 0)
				return WIRE_UPD_E_ENCODING;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		out[o++] = (uint8_t)(w >> 16);
		if (!last || pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (!last || pad < 1)
			out[o++] = (uint8_t)w;
		/* Canonical: the bits below the last encoded byte are zero. */
		if (last && ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0)))
			return WIRE_UPD_E_ENCODING;
	}
	*n = o;
	return 0;
}

/* ---------------------------------------------------------------- strict JSON access */
static json_t *upd_parse(const uint8_t *p, size_t len, uint32_t max, const char *what,
			 struct wire_upd_why *why, int *rc)
{
	json_error_t jerr;
	json_t *root;

	if (len > max) {
		*rc = upd_fail(why, WIRE_UPD_E_TOO_BIG, "%s: %zu bytes, the limit is %u", what, len, max);
		return NULL;
	}
	root = json_loadb((const char *)p, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		/* jansson's text (and error position) may differ between its versions, and
		 * replicas must agree on the words: report none of it. */
		*rc = upd_fail(why, WIRE_UPD_E_JSON, "%s: not valid JSON", what);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*rc = upd_fail(why, WIRE_UPD_E_FIELD, "%s: not a JSON object", what);
		return NULL;
	}
	*rc = 0;
	return root;
}

/* Every key of o must be one of allowed (NULL-terminated). */
static int upd_known_keys(json_t *o, const char *const *allowed, const char *ctx,
			  struct wire_upd_why *why)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		size_t i;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			char pk[40];
			upd_printable(key, pk);
			return upd_fail(why, WIRE_UPD_E_FIELD, "%s: unknown field \"%s\"", ctx, pk);
		}
	}
	return 0;
}

static json_t *upd_field(json_t *o, const char *key, const char *ctx, struct wire_upd_why *why,
			 int *rc)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		*rc = upd_fail(why, WIRE_UPD_E_FIELD, "%s%s: missing", ctx, key);
	return v;
}

static int upd_uint(json_t *o, const char *key, const char *ctx, uint64_t *out,
		    struct wire_upd_why *why)
{
	int rc = 0;
	json_t *v = upd_field(o, key, ctx, why, &rc);

	if (v == NULL)
		return rc;
	if (!json_is_integer(v))
		return upd_fail(why, WIRE_UPD_E_FIELD, "%s%s: not an integer", ctx, key);
	json_int_t i = json_integer_value(v);
	if (i < 0 || (unsigned long long)i > WIRE_UPD_JSON_INT_MAX)
		return upd_fail(why, WIRE_UPD_E_VALUE, "%s%s: outside 0..2^53-1", ctx, key);
	*out = (uint64_t)i;
	return 0;
}

static int upd_string(json_t *o, const char *key, const char *ctx, const char **s, size_t *len,
		      struct wire_upd_why *why)
{
	int rc = 0;
	json_t *v = upd_field(o, key, ctx, why, &rc);

	if (v == NULL)
		return rc;
	if (!json_is_string(v))
		return upd_fail(why, WIRE_UPD_E_FIELD, "%s%s: not a string", ctx, key);
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

static int upd_hex_value(json_t *v, uint8_t *out, size_t n, const char *ctx, const char *key,
			 struct wire_upd_why *why)
{
	if (!json_is_string(v))
		return upd_fail(why, WIRE_UPD_E_FIELD, "%s%s: not a string", ctx, key);
	if (wire_upd_unhex(json_string_value(v), json_string_length(v), out, n) != 0)
		return upd_fail(why, WIRE_UPD_E_ENCODING, "%s%s: not %zu lower-case hex digits",
				ctx, key, 2 * n);
	return 0;
}

static int upd_hex(json_t *o, const char *key, const char *ctx, uint8_t *out, size_t n,
		   struct wire_upd_why *why)
{
	int rc = 0;
	json_t *v = upd_field(o, key, ctx, why, &rc);

	return v == NULL ? rc : upd_hex_value(v, out, n, ctx, key, why);
}

static int upd_array(json_t *o, const char *key, const char *ctx, size_t max, json_t **arr,
		     struct wire_upd_why *why)
{
	int rc = 0;
	json_t *v = upd_field(o, key, ctx, why, &rc);

	if (v == NULL)
		return rc;
	if (!json_is_array(v))
		return upd_fail(why, WIRE_UPD_E_FIELD, "%s%s: not an array", ctx, key);
	if (json_array_size(v) > max)
		return upd_fail(why, WIRE_UPD_E_TOO_BIG, "%s%s: %zu entries, the limit is %zu", ctx,
				key, json_array_size(v), max);
	*arr = v;
	return 0;
}

/* ---------------------------------------------------------------- manifest */
void wire_upd_manifest_free(struct wire_upd_manifest *m)
{
	if (m == NULL)
		return;
	for (uint32_t i = 0; m->files != NULL && i < m->nfiles; i++) {
		free(m->files[i].path);
		free(m->files[i].chunks);
	}
	free(m->files);
	free(m->channel);
	memset(m, 0, sizeof(*m));
}

static int upd_check_path(const char *s, size_t len)
{
	size_t comp = 0;

	if (len == 0 || len > WIRE_UPD_MAX_PATH)
		return WIRE_UPD_E_PATH;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			size_t clen = i - comp;
			if (clen == 0 || (clen == 1 && s[comp] == '.') ||
			    (clen == 2 && s[comp] == '.' && s[comp + 1] == '.'))
				return WIRE_UPD_E_PATH;
			comp = i + 1;
			continue;
		}
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '\\')
			return WIRE_UPD_E_PATH;
	}
	return 0;
}

static int upd_path_cmp(const void *a, const void *b)
{
	const struct wire_upd_file *const *x = a, *const *y = b;

	return strcmp((*x)->path, (*y)->path);
}

/* Unique paths, none a folder of another. Deterministic: the first offence in sorted
 * order is reported. */
static int upd_check_paths(struct wire_upd_manifest *m, struct wire_upd_why *why)
{
	struct wire_upd_file **sorted, key, *kp = &key;
	char buf[WIRE_UPD_MAX_PATH + 1];
	int rc = 0;

	sorted = malloc((size_t)m->nfiles * sizeof(*sorted));
	if (sorted == NULL)
		return upd_fail(why, WIRE_UPD_E_NOMEM, "manifest: out of memory");
	for (uint32_t i = 0; i < m->nfiles; i++)
		sorted[i] = &m->files[i];
	qsort(sorted, m->nfiles, sizeof(*sorted), upd_path_cmp);
	for (uint32_t i = 0; i < m->nfiles && rc == 0; i++) {
		const char *p = sorted[i]->path;
		char pp[40];
		upd_printable(p, pp);
		if (i > 0 && strcmp(sorted[i - 1]->path, p) == 0) {
			rc = upd_fail(why, WIRE_UPD_E_PATH, "files: path \"%s\" appears twice", pp);
			break;
		}
		for (const char *s = strchr(p, '/'); s != NULL; s = strchr(s + 1, '/')) {
			memcpy(buf, p, (size_t)(s - p));
			buf[s - p] = '\0';
			key.path = buf;
			if (bsearch(&kp, sorted, m->nfiles, sizeof(*sorted), upd_path_cmp) != NULL) {
				rc = upd_fail(why, WIRE_UPD_E_PATH,
					      "files: path \"%s\" is inside another file's path", pp);
				break;
			}
		}
	}
	free(sorted);
	return rc;
}

static int upd_file_decode(json_t *o, uint32_t idx, const struct wire_upd_manifest *m,
			   uint32_t *chunks_left, struct wire_upd_file *f, struct wire_upd_why *why)
{
	static const char *const keys[] = { "path", "size", "sha256", "chunks", NULL };
	char ctx[32];
	const char *path;
	size_t plen;
	json_t *arr;
	int rc;

	snprintf(ctx, sizeof(ctx), "files[%u]", idx);
	if (!json_is_object(o))
		return upd_fail(why, WIRE_UPD_E_FIELD, "%s: not an object", ctx);
	if ((rc = upd_known_keys(o, keys, ctx, why)) != 0)
		return rc;
	strcat(ctx, ".");
	if ((rc = upd_string(o, "path", ctx, &path, &plen, why)) != 0)
		return rc;
	if (upd_check_path(path, plen) != 0)
		return upd_fail(why, WIRE_UPD_E_PATH,
				"%spath: must be relative, 1..%u bytes, no empty, \".\" or \"..\" "
				"component, no '\\' or control byte", ctx, WIRE_UPD_MAX_PATH);
	if ((rc = upd_uint(o, "size", ctx, &f->size, why)) != 0 ||
	    (rc = upd_hex(o, "sha256", ctx, f->sha256, WIRE_UPD_HASH_LEN, why)) != 0 ||
	    (rc = upd_array(o, "chunks", ctx, *chunks_left, &arr, why)) != 0) {
		if (rc == WIRE_UPD_E_TOO_BIG)
			upd_fail(why, rc, "%schunks: more than %u chunks in the manifest", ctx,
				 m->total_chunks + *chunks_left);
		return rc;
	}
	uint64_t want = wire_upd_chunk_count(f->size, m->chunk_size);
	if (json_array_size(arr) != want)
		return upd_fail(why, WIRE_UPD_E_CHUNKS,
				"%schunks: %zu entries, size %llu with chunk_size %u needs %llu", ctx,
				json_array_size(arr), (unsigned long long)f->size, m->chunk_size,
				(unsigned long long)want);
	f->nchunks = (uint32_t)want;
	f->path = strdup(path);
	if (want > 0)
		f->chunks = malloc((size_t)want * WIRE_UPD_HASH_LEN);
	if (f->path == NULL || (want > 0 && f->chunks == NULL))
		return upd_fail(why, WIRE_UPD_E_NOMEM, "manifest: out of memory");
	for (uint32_t i = 0; i < f->nchunks; i++) {
		char key[24];
		snprintf(key, sizeof(key), "chunks[%u]", i);
		rc = upd_hex_value(json_array_get(arr, i), f->chunks[i], WIRE_UPD_HASH_LEN, ctx, key, why);
		if (rc != 0)
			return rc;
	}
	*chunks_left -= f->nchunks;
	return 0;
}

static int upd_manifest_fields(json_t *root, const struct wire_upd_limits *lim,
			       struct wire_upd_manifest *m, struct wire_upd_why *why)
{
	static const char *const keys[] = { "_type", "channel", "version", "created", "expires",
					    "chunk_size", "files", NULL };
	const char *s;
	size_t slen;
	uint64_t chunk = WIRE_UPD_DEFAULT_CHUNK;
	json_t *files;
	int rc;

	if ((rc = upd_known_keys(root, keys, "manifest", why)) != 0 ||
	    (rc = upd_string(root, "_type", "", &s, &slen, why)) != 0)
		return rc;
	if (slen != strlen(WIRE_UPD_MANIFEST_TYPE) || strcmp(s, WIRE_UPD_MANIFEST_TYPE) != 0)
		return upd_fail(why, WIRE_UPD_E_TYPE, "_type: not \"%s\"", WIRE_UPD_MANIFEST_TYPE);
	if ((rc = upd_string(root, "channel", "", &s, &slen, why)) != 0)
		return rc;
	if (wire_upd_check_channel(s, slen) != 0)
		return upd_fail(why, WIRE_UPD_E_CHANNEL,
				"channel: not 1..%u bytes of [A-Za-z0-9._-] in '/'-separated parts",
				WIRE_UPD_MAX_CHANNEL);
	m->channel = strdup(s);
	if (m->channel == NULL)
		return upd_fail(why, WIRE_UPD_E_NOMEM, "manifest: out of memory");
	if ((rc = upd_uint(root, "version", "", &m->version, why)) != 0 ||
	    (rc = upd_uint(root, "created", "", &m->created, why)) != 0 ||
	    (rc = upd_uint(root, "expires", "", &m->expires, why)) != 0)
		return rc;
	if (m->version == 0)
		return upd_fail(why, WIRE_UPD_E_VALUE, "version: must be at least 1");
	if (m->expires <= m->created)
		return upd_fail(why, WIRE_UPD_E_VALUE, "expires: not after created");
	if (json_object_get(root, "chunk_size") != NULL &&
	    (rc = upd_uint(root, "chunk_size", "", &chunk, why)) != 0)
		return rc;
	if (chunk < WIRE_UPD_MIN_CHUNK || chunk > WIRE_UPD_MAX_CHUNK)
		return upd_fail(why, WIRE_UPD_E_VALUE, "chunk_size: outside %u..%u",
				WIRE_UPD_MIN_CHUNK, WIRE_UPD_MAX_CHUNK);
	m->chunk_size = (uint32_t)chunk;
	if ((rc = upd_array(root, "files", "", lim->max_files, &files, why)) != 0)
		return rc;
	if (json_array_size(files) == 0)
		return upd_fail(why, WIRE_UPD_E_VALUE, "files: empty");
	m->files = calloc(json_array_size(files), sizeof(*m->files));
	if (m->files == NULL)
		return upd_fail(why, WIRE_UPD_E_NOMEM, "manifest: out of memory");
	uint32_t left = lim->max_chunks;
	for (size_t i = 0; i < json_array_size(files); i++) {
		m->nfiles = (uint32_t)i + 1; /* so that free sees the partly filled file */
		rc = upd_file_decode(json_array_get(files, i), (uint32_t)i, m, &left, &m->files[i], why);
		if (rc != 0)
			return rc;
		m->total_chunks += m->files[i].nchunks;
	}
	return upd_check_paths(m, why);
}

int wire_upd_manifest_decode(const uint8_t *p, size_t len, const struct wire_upd_limits *lim,
			     struct wire_upd_manifest *m, struct wire_upd_why *why)
{
	json_t *root;
	int rc;

	if (why != NULL)
		why->text[0] = '\0';
	if (m == NULL || (p == NULL && len > 0))
		return upd_fail(why, WIRE_UPD_E_ARG, "manifest: no input");
	memset(m, 0, sizeof(*m));
	if (lim == NULL)
		lim = &wire_upd_limits_default;
	root = upd_parse(p, len, lim->max_payload, "manifest", why, &rc);
	if (root == NULL)
		return rc;
	rc = upd_manifest_fields(root, lim, m, why);
	json_decref(root);
	if (rc != 0)
		wire_upd_manifest_free(m);
	return rc;
}

/* json_object_set_new that records a failure in *ok. */
static void upd_set(json_t *o, const char *key, json_t *v, int *ok)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*ok = 0;
}

static json_t *upd_hex_json(const uint8_t *p, size_t n)
{
	char hex[2 * WIRE_UPD_SIG_LEN + 1];

	wire_upd_hex(p, n, hex);
	return json_string(hex);
}

/* Dump v compactly into out and release v. */
static int upd_dump(json_t *v, int ok, struct wire_buf *out)
{
	char *s = NULL;

	if (ok && v != NULL)
		s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(v);
	if (s == NULL)
		return WIRE_UPD_E_NOMEM;
	wire_put_fixed(out, s, strlen(s));
	free(s);
	return wire_buf_error(out) != 0 ? WIRE_UPD_E_NOMEM : 0;
}

int wire_upd_manifest_encode(const struct wire_upd_manifest *m, struct wire_buf *out)
{
	struct wire_upd_manifest check;
	size_t start = out->len;
	json_t *root, *files;
	int ok = 1, rc;

	if (m->nfiles > wire_upd_limits_default.max_files ||
	    m->version > WIRE_UPD_JSON_INT_MAX || m->created > WIRE_UPD_JSON_INT_MAX ||
	    m->expires > WIRE_UPD_JSON_INT_MAX)
		return m->nfiles > wire_upd_limits_default.max_files ? WIRE_UPD_E_TOO_BIG
								     : WIRE_UPD_E_VALUE;
	root = json_object();
	files = json_array();
	if (root == NULL || files == NULL) {
		json_decref(root);
		json_decref(files);
		return WIRE_UPD_E_NOMEM;
	}
	upd_set(root, "_type", json_string(WIRE_UPD_MANIFEST_TYPE), &ok);
	upd_set(root, "channel", json_string(m->channel), &ok);
	upd_set(root, "version", json_integer((json_int_t)m->version), &ok);
	upd_set(root, "created", json_integer((json_int_t)m->created), &ok);
	upd_set(root, "expires", json_integer((json_int_t)m->expires), &ok);
	if (m->chunk_size != WIRE_UPD_DEFAULT_CHUNK)
		upd_set(root, "chunk_size", json_integer((json_int_t)m->chunk_size), &ok);
	for (uint32_t i = 0; ok && i < m->nfiles; i++) {
		const struct wire_upd_file *f = &m->files[i];
		json_t *fo = json_object(), *ch = json_array();
		if (fo == NULL || ch == NULL || json_array_append_new(files, fo) != 0) {
			json_decref(fo);
			json_decref(ch);
			ok = 0;
			break;
		}
		upd_set(fo, "path", json_string(f->path), &ok);
		upd_set(fo, "size", json_integer((json_int_t)(f->size > WIRE_UPD_JSON_INT_MAX ?
							       WIRE_UPD_JSON_INT_MAX + 1 : f->size)), &ok);
		upd_set(fo, "sha256", upd_hex_json(f->sha256, WIRE_UPD_HASH_LEN), &ok);
		for (uint32_t j = 0; ok && j < f->nchunks; j++)
			if (json_array_append_new(ch, upd_hex_json(f->chunks[j], WIRE_UPD_HASH_LEN)) != 0)
				ok = 0;
		upd_set(fo, "chunks", ch, &ok);
	}
	upd_set(root, "files", files, &ok);
	rc = upd_dump(root, ok, out);
	if (rc != 0)
		return rc;
	/* Refuse to produce what a decoder would refuse. */
	rc = wire_upd_manifest_decode(out->p + start, out->len - start, NULL, &check, NULL);
	if (rc != 0) {
		out->len = start;
		return rc;
	}
	wire_upd_manifest_free(&check);
	return 0;
}

/* ---------------------------------------------------------------- envelope */
void wire_upd_envelope_free(struct wire_upd_envelope *e)
{
	if (e == NULL)
		return;
	free(e->payload);
	free(e->sigs);
	memset(e, 0, sizeof(*e));
}

static int upd_envelope_from_json(json_t *root, const struct wire_upd_limits *lim,
				  struct wire_upd_envelope *e, struct wire_upd_why *why)
{
	static const char *const keys[] = { "payloadType", "payload", "signatures", NULL };
	static const char *const skeys[] = { "keyid", "sig", NULL };
	const char *s;
	size_t slen, n;
	json_t *sigs;
	int rc;

	if ((rc = upd_known_keys(root, keys, "envelope", why)) != 0 ||
	    (rc = upd_string(root, "payloadType", "envelope.", &s, &slen, why)) != 0)
		return rc;
	if (slen != strlen(WIRE_UPD_PAYLOAD_TYPE) || strcmp(s, WIRE_UPD_PAYLOAD_TYPE) != 0)
		return upd_fail(why, WIRE_UPD_E_TYPE, "envelope.payloadType: not \"%s\"",
				WIRE_UPD_PAYLOAD_TYPE);
	if ((rc = upd_string(root, "payload", "envelope.", &s, &slen, why)) != 0)
		return rc;
	if (slen / 4 * 3 > (size_t)lim->max_payload + 2)
		return upd_fail(why, WIRE_UPD_E_TOO_BIG, "envelope.payload: above %u bytes",
				lim->max_payload);
	e->payload = malloc(slen / 4 * 3 + 1);
	if (e->payload == NULL)
		return upd_fail(why, WIRE_UPD_E_NOMEM, "envelope: out of memory");
	if (upd_b64_decode(s, slen, e->payload, &e->payload_len) != 0)
		return upd_fail(why, WIRE_UPD_E_ENCODING, "envelope.payload: not canonical base64");
	if (e->payload_len > lim->max_payload)
		return upd_fail(why, WIRE_UPD_E_TOO_BIG, "envelope.payload: above %u bytes",
				lim->max_payload);
	if ((rc = upd_array(root, "signatures", "envelope.", WIRE_UPD_MAX_SIGS, &sigs, why)) != 0)
		return rc;
	n = json_array_size(sigs);
	if (n == 0)
		return upd_fail(why, WIRE_UPD_E_VALUE, "envelope.signatures: empty");
	e->sigs = calloc(n, sizeof(*e->sigs));
	if (e->sigs == NULL)
		return upd_fail(why, WIRE_UPD_E_NOMEM, "envelope: out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(sigs, i);
		char ctx[48];
		uint8_t sig[WIRE_UPD_SIG_LEN + 3];
		size_t siglen;

		snprintf(ctx, sizeof(ctx), "envelope.signatures[%zu]", i);
		if (!json_is_object(o))
			return upd_fail(why, WIRE_UPD_E_FIELD, "%s: not an object", ctx);
		if ((rc = upd_known_keys(o, skeys, ctx, why)) != 0)
			return rc;
		strcat(ctx, ".");
		if ((rc = upd_hex(o, "keyid", ctx, e->sigs[i].keyid, WIRE_UPD_HASH_LEN, why)) != 0 ||
		    (rc = upd_string(o, "sig", ctx, &s, &slen, why)) != 0)
			return rc;
		if (slen != 88 || upd_b64_decode(s, slen, sig, &siglen) != 0 ||
		    siglen != WIRE_UPD_SIG_LEN)
			return upd_fail(why, WIRE_UPD_E_ENCODING,
					"%ssig: not the base64 of a 64-byte signature", ctx);
		memcpy(e->sigs[i].sig, sig, WIRE_UPD_SIG_LEN);
	}
	e->nsigs = (uint32_t)n;
	return 0;
}

int wire_upd_envelope_decode(const uint8_t *p, size_t len, const struct wire_upd_limits *lim,
			     struct wire_upd_envelope *e, struct wire_upd_why *why)
{
	json_t *root;
	int rc;

	if (why != NULL)
		why->text[0] = '\0';
	if (e == NULL || (p == NULL && len > 0))
		return upd_fail(why, WIRE_UPD_E_ARG, "envelope: no input");
	memset(e, 0, sizeof(*e));
	if (lim == NULL)
		lim = &wire_upd_limits_default;
	root = upd_parse(p, len, lim->max_document, "envelope", why, &rc);
	if (root == NULL)
		return rc;
	rc = upd_envelope_from_json(root, lim, e, why);
	json_decref(root);
	if (rc != 0)
		wire_upd_envelope_free(e);
	return rc;
}

int wire_upd_envelope_encode(const uint8_t *payload, size_t len, const struct wire_upd_sig *sigs,
			     uint32_t nsigs, struct wire_buf *out)
{
	struct wire_buf b64;
	json_t *root, *arr;
	int ok = 1;

	if (len > wire_upd_limits_default.max_payload || nsigs == 0 || nsigs > WIRE_UPD_MAX_SIGS)
		return WIRE_UPD_E_TOO_BIG;
	wire_buf_init(&b64);
	upd_b64_put(&b64, payload, len);
	wire_put_u8(&b64, 0);
	root = json_object();
	arr = json_array();
	if (wire_buf_error(&b64) != 0 || root == NULL || arr == NULL) {
		wire_buf_free(&b64);
		json_decref(root);
		json_decref(arr);
		return WIRE_UPD_E_NOMEM;
	}
	upd_set(root, "payloadType", json_string(WIRE_UPD_PAYLOAD_TYPE), &ok);
	upd_set(root, "payload", json_string((const char *)b64.p), &ok);
	for (uint32_t i = 0; ok && i < nsigs; i++) {
		json_t *o = json_object();
		char sig[89];
		struct wire_buf sb = { 0 };
		upd_b64_put(&sb, sigs[i].sig, WIRE_UPD_SIG_LEN);
		if (o == NULL || wire_buf_error(&sb) != 0 || json_array_append_new(arr, o) != 0) {
			json_decref(o);
			wire_buf_free(&sb);
			ok = 0;
			break;
		}
		memcpy(sig, sb.p, 88);
		sig[88] = '\0';
		wire_buf_free(&sb);
		upd_set(o, "keyid", upd_hex_json(sigs[i].keyid, WIRE_UPD_HASH_LEN), &ok);
		upd_set(o, "sig", json_string(sig), &ok);
	}
	upd_set(root, "signatures", arr, &ok);
	wire_buf_free(&b64);
	return upd_dump(root, ok, out);
}

/* ---------------------------------------------------------------- response document */
void wire_upd_response_free(struct wire_upd_response *r)
{
	if (r != NULL)
		wire_upd_envelope_free(&r->env);
}

static int upd_proof_decode(json_t *o, struct wire_upd_proof *pr, struct wire_upd_why *why)
{
	static const char *const keys[] = { "version", "index", "size", "path", NULL };
	json_t *path;
	int rc;

	if (!json_is_object(o))
		return upd_fail(why, WIRE_UPD_E_FIELD, "proof: not an object");
	if ((rc = upd_known_keys(o, keys, "proof", why)) != 0 ||
	    (rc = upd_uint(o, "version", "proof.", &pr->version, why)) != 0 ||
	    (rc = upd_uint(o, "index", "proof.", &pr->index, why)) != 0 ||
	    (rc = upd_uint(o, "size", "proof.", &pr->size, why)) != 0 ||
	    (rc = upd_array(o, "path", "proof.", CRYPTO_MERKLE_MAX_PATH, &path, why)) != 0)
		return rc;
	pr->pathlen = (uint32_t)json_array_size(path);
	for (uint32_t i = 0; i < pr->pathlen; i++) {
		char key[24];
		snprintf(key, sizeof(key), "path[%u]", i);
		rc = upd_hex_value(json_array_get(path, i), pr->path[i], WIRE_UPD_HASH_LEN, "proof.",
				   key, why);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Strict decimal u64 (no sign, no leading zero, no overflow). */
static int upd_decimal(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int upd_statement_decode(json_t *o, struct wire_upd_statement *st, struct wire_upd_why *why)
{
	static const char *const keys[] = { "group", "epoch", "seq", "time_ms", "expires_ms",
					    "index_root", "log_size", "log_root", NULL };
	static const char ctx[] = "certificate.statement.";
	const char *s;
	size_t slen;
	int rc;

	if (!json_is_object(o))
		return upd_fail(why, WIRE_UPD_E_FIELD, "certificate.statement: not an object");
	if ((rc = upd_known_keys(o, keys, "certificate.statement", why)) != 0 ||
	    (rc = upd_string(o, "group", ctx, &s, &slen, why)) != 0)
		return rc;
	if (upd_decimal(s, slen, &st->group) != 0)
		return upd_fail(why, WIRE_UPD_E_VALUE, "%sgroup: not a decimal 64-bit integer", ctx);
	if ((rc = upd_uint(o, "epoch", ctx, &st->epoch, why)) != 0 ||
	    (rc = upd_uint(o, "seq", ctx, &st->seq, why)) != 0 ||
	    (rc = upd_uint(o, "time_ms", ctx, &st->time_ms, why)) != 0 ||
	    (rc = upd_uint(o, "expires_ms", ctx, &st->expires_ms, why)) != 0 ||
	    (rc = upd_hex(o, "index_root", ctx, st->index_root, WIRE_UPD_HASH_LEN, why)) != 0 ||
	    (rc = upd_uint(o, "log_size", ctx, &st->log_size, why)) != 0 ||
	    (rc = upd_hex(o, "log_root", ctx, st->log_root, WIRE_UPD_HASH_LEN, why)) != 0)
		return rc;
	return 0;
}

static int upd_cert_decode(json_t *o, struct wire_upd_cert *c, struct wire_upd_why *why)
{
	static const char *const keys[] = { "statement", "signatures", NULL };
	static const char *const skeys[] = { "replica", "sig", NULL };
	json_t *sigs;
	int rc = 0;

	if (!json_is_object(o))
		return upd_fail(why, WIRE_UPD_E_FIELD, "certificate: not an object");
	if ((rc = upd_known_keys(o, keys, "certificate", why)) != 0)
		return rc;
	json_t *st = upd_field(o, "statement", "certificate.", why, &rc);
	if (st == NULL)
		return rc;
	if ((rc = upd_statement_decode(st, &c->st, why)) != 0 ||
	    (rc = upd_array(o, "signatures", "certificate.", WIRE_UPD_MAX_REPLICAS, &sigs, why)) != 0)
		return rc;
	c->nsigs = (uint32_t)json_array_size(sigs);
	for (uint32_t i = 0; i < c->nsigs; i++) {
		json_t *so = json_array_get(sigs, i);
		char ctx[48];
		uint64_t replica;

		snprintf(ctx, sizeof(ctx), "certificate.signatures[%u]", i);
		if (!json_is_object(so))
			return upd_fail(why, WIRE_UPD_E_FIELD, "%s: not an object", ctx);
		if ((rc = upd_known_keys(so, skeys, ctx, why)) != 0)
			return rc;
		strcat(ctx, ".");
		if ((rc = upd_uint(so, "replica", ctx, &replica, why)) != 0 ||
		    (rc = upd_hex(so, "sig", ctx, c->sigs[i].sig, WIRE_UPD_SIG_LEN, why)) != 0)
			return rc;
		if (replica >= WIRE_UPD_MAX_REPLICAS)
			return upd_fail(why, WIRE_UPD_E_VALUE, "%sreplica: not below %u", ctx,
					WIRE_UPD_MAX_REPLICAS);
		c->sigs[i].replica = (uint32_t)replica;
	}
	return 0;
}

int wire_upd_response_decode(const uint8_t *p, size_t len, const struct wire_upd_limits *lim,
			     struct wire_upd_response *r, struct wire_upd_why *why)
{
	static const char *const keys[] = { "envelope", "proof", "certificate", NULL };
	json_t *root, *v;
	int rc = 0;

	if (why != NULL)
		why->text[0] = '\0';
	if (r == NULL || (p == NULL && len > 0))
		return upd_fail(why, WIRE_UPD_E_ARG, "response: no input");
	memset(r, 0, sizeof(*r));
	if (lim == NULL)
		lim = &wire_upd_limits_default;
	root = upd_parse(p, len, lim->max_document, "response", why, &rc);
	if (root == NULL)
		return rc;
	if ((rc = upd_known_keys(root, keys, "response", why)) != 0)
		goto out;
	if ((v = upd_field(root, "envelope", "", why, &rc)) == NULL)
		goto out;
	if (!json_is_object(v)) {
		rc = upd_fail(why, WIRE_UPD_E_FIELD, "envelope: not an object");
		goto out;
	}
	if ((rc = upd_envelope_from_json(v, lim, &r->env, why)) != 0)
		goto out;
	if ((v = upd_field(root, "proof", "", why, &rc)) == NULL ||
	    (rc = upd_proof_decode(v, &r->proof, why)) != 0)
		goto out;
	if ((v = upd_field(root, "certificate", "", why, &rc)) == NULL)
		goto out;
	rc = upd_cert_decode(v, &r->cert, why);
out:
	json_decref(root);
	if (rc != 0)
		wire_upd_response_free(r);
	return rc;
}

/* Every number of the document within the JSON integer range. */
static int upd_response_in_range(const struct wire_upd_proof *proof,
				 const struct wire_upd_cert *cert)
{
	const uint64_t v[] = { proof->version, proof->index, proof->size, cert->st.epoch,
			       cert->st.seq, cert->st.time_ms, cert->st.expires_ms,
			       cert->st.log_size };

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (v[i] > WIRE_UPD_JSON_INT_MAX)
			return 0;
	return 1;
}

int wire_upd_response_encode(const uint8_t *env_json, size_t env_len,
			     const struct wire_upd_proof *proof, const struct wire_upd_cert *cert,
			     struct wire_buf *out)
{
	json_error_t jerr;
	json_t *root, *env, *pr, *path, *c, *st, *sigs;
	char group[24];
	int ok = 1;

	if (proof->pathlen > CRYPTO_MERKLE_MAX_PATH || cert->nsigs > WIRE_UPD_MAX_REPLICAS)
		return WIRE_UPD_E_TOO_BIG;
	if (!upd_response_in_range(proof, cert))
		return WIRE_UPD_E_VALUE;
	env = json_loadb((const char *)env_json, env_len, JSON_REJECT_DUPLICATES, &jerr);
	if (env == NULL || !json_is_object(env)) {
		json_decref(env);
		return WIRE_UPD_E_JSON;
	}
	root = json_object();
	upd_set(root, "envelope", env, &ok);
	upd_set(root, "proof", pr = json_object(), &ok);
	upd_set(root, "certificate", c = json_object(), &ok);
	if (!ok) {
		json_decref(root);
		return WIRE_UPD_E_NOMEM;
	}
	upd_set(pr, "version", json_integer((json_int_t)proof->version), &ok);
	upd_set(pr, "index", json_integer((json_int_t)proof->index), &ok);
	upd_set(pr, "size", json_integer((json_int_t)proof->size), &ok);
	upd_set(pr, "path", path = json_array(), &ok);
	for (uint32_t i = 0; ok && i < proof->pathlen; i++)
		if (json_array_append_new(path, upd_hex_json(proof->path[i], WIRE_UPD_HASH_LEN)) != 0)
			ok = 0;
	upd_set(c, "statement", st = json_object(), &ok);
	upd_set(c, "signatures", sigs = json_array(), &ok);
	if (!ok) {
		json_decref(root);
		return WIRE_UPD_E_NOMEM;
	}
	snprintf(group, sizeof(group), "%llu", (unsigned long long)cert->st.group);
	upd_set(st, "group", json_string(group), &ok);
	upd_set(st, "epoch", json_integer((json_int_t)cert->st.epoch), &ok);
	upd_set(st, "seq", json_integer((json_int_t)cert->st.seq), &ok);
	upd_set(st, "time_ms", json_integer((json_int_t)cert->st.time_ms), &ok);
	upd_set(st, "expires_ms", json_integer((json_int_t)cert->st.expires_ms), &ok);
	upd_set(st, "index_root", upd_hex_json(cert->st.index_root, WIRE_UPD_HASH_LEN), &ok);
	upd_set(st, "log_size", json_integer((json_int_t)cert->st.log_size), &ok);
	upd_set(st, "log_root", upd_hex_json(cert->st.log_root, WIRE_UPD_HASH_LEN), &ok);
	for (uint32_t i = 0; ok && i < cert->nsigs; i++) {
		json_t *o = json_object();
		if (o == NULL || json_array_append_new(sigs, o) != 0) {
			json_decref(o);
			ok = 0;
			break;
		}
		upd_set(o, "replica", json_integer(cert->sigs[i].replica), &ok);
		upd_set(o, "sig", upd_hex_json(cert->sigs[i].sig, WIRE_UPD_SIG_LEN), &ok);
	}
	return upd_dump(root, ok, out);
}
