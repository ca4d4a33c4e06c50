/* manifest.c: the light client's manifests: parsing, accessors, and the checks of
 * chunks and files against a verified manifest. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lib/upd_int.h"
#include "crypto/crypto.h"

static const char *const upd_errors[] = {
	[0] = "success",
	[1] = "bad argument",
	[2] = "out of memory",
	[3] = "file cannot be read or written",
	[4] = "trust file is invalid",
	[5] = "saved state file is invalid",
	[6] = "channel not pinned in the trust file",
	[7] = "response document is malformed",
	[8] = "certificate is for another group or epoch",
	[9] = "certificate lacks enough trusted replica signatures",
	[10] = "certificate has expired (freeze)",
	[11] = "certificate is older than the one accepted before (rollback)",
	[12] = "manifest is not in the certified channel index",
	[13] = "manifest lacks enough publisher signatures",
	[14] = "signed payload is not a valid manifest",
	[15] = "manifest is for another channel or version",
	[16] = "manifest version is below the one accepted before (rollback)",
	[17] = "manifest has expired",
	[18] = "chunk bytes do not match the manifest",
	[19] = "file does not match the manifest",
};

const char *bulwark_upd_strerror(int err)
{
	size_t n = sizeof(upd_errors) / sizeof(upd_errors[0]);
	size_t i = err <= 0 ? (size_t)-(long)err : n;

	return i < n ? upd_errors[i] : "unknown update verification error";
}

int bulwark__upd_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

int bulwark__manifest_new(const uint8_t *payload, size_t len, struct bulwark_manifest **out,
			  char *err, size_t errlen)
{
	struct bulwark_manifest *m;
	struct wire_upd_why why;
	int rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
	rc = wire_upd_manifest_decode(payload, len, NULL, &m->m, &why);
	if (rc != 0) {
		free(m);
		if (rc == WIRE_UPD_E_NOMEM)
			return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_MANIFEST, "manifest: %s",
					 why.text);
	}
	crypto_sha256(payload, len, m->hash);
	*out = m;
	return 0;
}

int bulwark_manifest_parse(const void *payload, size_t len, struct bulwark_manifest **out,
			   char *err, size_t errlen)
{
	if (out == NULL || (payload == NULL && len > 0))
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "no manifest given");
	return bulwark__manifest_new(payload, len, out, err, errlen);
}

void bulwark_manifest_free(struct bulwark_manifest *m)
{
	if (m == NULL)
		return;
	wire_upd_manifest_free(&m->m);
	free(m);
}

const char *bulwark_manifest_channel(const struct bulwark_manifest *m)
{
	return m->m.channel;
}

uint64_t bulwark_manifest_version(const struct bulwark_manifest *m)
{
	return m->m.version;
}

uint64_t bulwark_manifest_created(const struct bulwark_manifest *m)
{
	return m->m.created;
}

uint64_t bulwark_manifest_expires(const struct bulwark_manifest *m)
{
	return m->m.expires;
}

uint32_t bulwark_manifest_chunk_size(const struct bulwark_manifest *m)
{
	return m->m.chunk_size;
}

uint32_t bulwark_manifest_nfiles(const struct bulwark_manifest *m)
{
	return m->m.nfiles;
}

const uint8_t *bulwark_manifest_hash(const struct bulwark_manifest *m)
{
	return m->hash;
}

int bulwark_manifest_file(const struct bulwark_manifest *m, uint32_t i,
			  struct bulwark_file_info *out)
{
	if (m == NULL || out == NULL || i >= m->m.nfiles)
		return BULWARK_UPD_ERR_ARG;
	out->path = m->m.files[i].path;
	out->size = m->m.files[i].size;
	out->sha256 = m->m.files[i].sha256;
	out->nchunks = m->m.files[i].nchunks;
	return 0;
}

int bulwark_manifest_chunk(const struct bulwark_manifest *m, uint32_t i, uint32_t c,
			   uint8_t sha256[32], uint64_t *offset, uint64_t *size)
{
	if (m == NULL || i >= m->m.nfiles || c >= m->m.files[i].nchunks)
		return BULWARK_UPD_ERR_ARG;
	if (sha256 != NULL)
		memcpy(sha256, m->m.files[i].chunks[c], WIRE_UPD_HASH_LEN);
	if (offset != NULL)
		*offset = (uint64_t)c * m->m.chunk_size;
	if (size != NULL)
		*size = wire_upd_chunk_len(m->m.files[i].size, m->m.chunk_size, c);
	return 0;
}

/* ---------------------------------------------------------------- chunks and files */
int bulwark_verify_chunk(const struct bulwark_manifest *m, uint32_t i, uint32_t c,
			 const void *data, size_t len, char *err, size_t errlen)
{
	uint8_t want[WIRE_UPD_HASH_LEN], got[WIRE_UPD_HASH_LEN];
	uint64_t size;

	if (bulwark_manifest_chunk(m, i, c, want, NULL, &size) != 0 || (data == NULL && len > 0))
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG,
					 "no chunk %u of file %u in the manifest", c, i);
	if (len != size)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_CHUNK,
					 "%s chunk %u: %zu bytes, the manifest says %llu",
					 m->m.files[i].path, c, len, (unsigned long long)size);
	crypto_sha256(data, len, got);
	if (!crypto_memeq(got, want, sizeof(got))) {
		char hex[2 * WIRE_UPD_HASH_LEN + 1];
		wire_upd_hex(want, sizeof(want), hex);
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_CHUNK,
					 "%s chunk %u: bytes do not hash to %s", m->m.files[i].path,
					 c, hex);
	}
	return 0;
}

struct bulwark_file_check {
	const struct bulwark_manifest *m;
	uint32_t file;
	uint32_t next;                /* next chunk expected */
	struct crypto_sha256_ctx whole;
	int failed;                   /* a chunk was refused: finish refuses too */
};

int bulwark_file_check_new(const struct bulwark_manifest *m, uint32_t i,
			   struct bulwark_file_check **out)
{
	struct bulwark_file_check *fc;

	if (out == NULL)
		return BULWARK_UPD_ERR_ARG;
	*out = NULL;
	if (m == NULL || i >= m->m.nfiles)
		return BULWARK_UPD_ERR_ARG;
	fc = calloc(1, sizeof(*fc));
	if (fc == NULL)
		return BULWARK_UPD_ERR_NOMEM;
	if (crypto_sha256_init(&fc->whole) != 0) {
		free(fc);
		return BULWARK_UPD_ERR_NOMEM;
	}
	fc->m = m;
	fc->file = i;
	*out = fc;
	return 0;
}

int bulwark_file_check_add(struct bulwark_file_check *fc, const void *data, size_t len,
			   char *err, size_t errlen)
{
	const struct wire_upd_file *f;
	int rc;

	if (fc == NULL)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "no file check");
	f = &fc->m->m.files[fc->file];
	if (fc->next >= f->nchunks) {
		fc->failed = 1;
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_FILE,
					 "%s: more than its %u chunks", f->path, f->nchunks);
	}
	rc = bulwark_verify_chunk(fc->m, fc->file, fc->next, data, len, err, errlen);
	if (rc != 0) {
		fc->failed = 1;
		return rc;
	}
	if (crypto_sha256_update(&fc->whole, data, len) != 0) {
		fc->failed = 1;
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "hashing failed");
	}
	fc->next++;
	return 0;
}

int bulwark_file_check_finish(struct bulwark_file_check *fc, char *err, size_t errlen)
{
	const struct wire_upd_file *f;
	uint8_t got[WIRE_UPD_HASH_LEN];

	if (fc == NULL)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "no file check");
	f = &fc->m->m.files[fc->file];
	if (fc->failed)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_FILE,
					 "%s: a chunk was refused", f->path);
	if (fc->next != f->nchunks)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_FILE,
					 "%s: %u of its %u chunks", f->path, fc->next, f->nchunks);
	if (crypto_sha256_final(&fc->whole, got) != 0)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "hashing failed");
	fc->failed = 1; /* the context is spent: a second finish refuses */
	if (!crypto_memeq(got, f->sha256, sizeof(got)))
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_FILE,
					 "%s: the assembled file does not match its sha256", f->path);
	return 0;
}

void bulwark_file_check_free(struct bulwark_file_check *fc)
{
	if (fc == NULL)
		return;
	crypto_sha256_free(&fc->whole);
	free(fc);
}

int bulwark_verify_file(const struct bulwark_manifest *m, uint32_t i, const void *data,
			size_t len, char *err, size_t errlen)
{
	struct bulwark_file_check *fc;
	const uint8_t *p = data;
	int rc;

	if (m == NULL || i >= m->m.nfiles || (data == NULL && len > 0))
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "no file %u", i);
	if (len != m->m.files[i].size)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_FILE,
					 "%s: %zu bytes, the manifest says %llu", m->m.files[i].path,
					 len, (unsigned long long)m->m.files[i].size);
	rc = bulwark_file_check_new(m, i, &fc);
	if (rc != 0)
		return bulwark__upd_fail(err, errlen, rc, "%s", bulwark_upd_strerror(rc));
	for (uint32_t c = 0; rc == 0 && c < m->m.files[i].nchunks; c++) {
		uint64_t off = (uint64_t)c * m->m.chunk_size;
		uint64_t clen = wire_upd_chunk_len(m->m.files[i].size, m->m.chunk_size, c);
		rc = bulwark_file_check_add(fc, p + off, (size_t)clen, err, errlen);
	}
	if (rc == 0)
		rc = bulwark_file_check_finish(fc, err, errlen);
	bulwark_file_check_free(fc);
	return rc;
}
