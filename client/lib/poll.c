/* poll.c: the light client's poller: fetch a channel's response document over HTTP
 * (libcurl) from the first source whose answer verifies, download and verify the chunks
 * it lacks, install the files atomically and save the state (client/bulwark_update.h). */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/lib/upd_int.h"
#include "crypto/crypto.h"

#define POLL_PATH_MAX 4096
#define POLL_ETAG_MAX 256
#define POLL_IO_BLOCK (64u * 1024u)

static const char *const poll_errors[] = {
	[0] = "source cannot be reached or the transfer broke",
	[1] = "transfer timed out",
	[2] = "unexpected HTTP status",
	[3] = "answer above its size limit",
	[4] = "another poll of this channel is running",
	[5] = "file cannot be installed",
};

const char *bulwark_poll_strerror(int err)
{
	if (err <= BULWARK_POLL_ERR_FETCH && err >= BULWARK_POLL_ERR_INSTALL)
		return poll_errors[BULWARK_POLL_ERR_FETCH - err];
	return bulwark_upd_strerror(err);
}

/* One poll's working state. */
struct poll {
	const struct bulwark_poll_config *cfg;
	struct bulwark_poll_result *res;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	uint64_t now_ms;
	uint32_t timeout_ms, connect_ms, max_document;
	char id[2 * WIRE_UPD_HASH_LEN + 1];           /* hex SHA-256 of the channel */
	char state_path[POLL_PATH_MAX], doc_path[POLL_PATH_MAX], etag_path[POLL_PATH_MAX];
	char cache_dir[POLL_PATH_MAX], lock_path[POLL_PATH_MAX];
	uint8_t bad[BULWARK_POLL_MAX_SOURCES];        /* source failed a chunk this poll */
	uint8_t *chunk_buf;                           /* one chunk, owned */
	uint64_t fetch_done, fetch_total;             /* progress of chunk downloads */
};

static int poll_fail(struct poll *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* vsnprintf into buf: messages are cut to fit. */
static void say(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* Record the poll's error message (res->err) and return code. */
static int poll_fail(struct poll *p, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->res->err, sizeof(p->res->err), fmt, ap);
	va_end(ap);
	return code;
}

static void poll_event(struct poll *p, const struct bulwark_poll_event *ev)
{
	if (p->cfg->progress != NULL)
		p->cfg->progress(p->cfg->progress_arg, ev);
}

/* Record that source url failed with code and why; report it. */
static void poll_source_failed(struct poll *p, const char *url, int code, const char *why)
{
	struct bulwark_poll_result *r = p->res;
	struct bulwark_poll_event ev = { .kind = BULWARK_POLL_EV_SOURCE_FAILED, .url = url,
					 .code = code, .text = why };

	if (r->nfailures < BULWARK_POLL_MAX_FAILURES) {
		struct bulwark_poll_failure *f = &r->failures[r->nfailures];
		snprintf(f->url, sizeof(f->url), "%s", url);
		f->code = code;
		snprintf(f->why, sizeof(f->why), "%s", why);
	}
	r->nfailures++;
	poll_event(p, &ev);
}

/* ---------------------------------------------------------------- files */
/* Read all of path (at most max bytes) into *out (owned, NUL-terminated). 1 with
 * *out NULL when the file does not exist. */
static int read_small(const char *path, size_t max, char **out, size_t *len)
{
	struct stat sb;
	char *buf;
	size_t got = 0;
	int fd;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > max)
		goto err_after_open;
	buf = malloc((size_t)sb.st_size + 1);
	if (buf == NULL)
		goto err_after_open;
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			goto err_after_open;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;

err_after_open:
	close(fd);
	return -1;
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *b = data;

	while (len > 0) {
		ssize_t n = write(fd, b, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the folder path. */
static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* A fresh random name ".<base>.<16 hex>.tmp" (into out, outlen bytes) for a temporary
 * file next to base. */
static int tmp_name(const char *base, char *out, size_t outlen)
{
	uint8_t rnd[8];
	char hex[17];
	int n;

	if (crypto_random(rnd, sizeof(rnd)) != 0)
		return -1;
	wire_upd_hex(rnd, sizeof(rnd), hex);
	n = snprintf(out, outlen, ".%.200s.%s.tmp", base, hex);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Replace path with data atomically: temporary file in its folder (dir), fsync,
 * rename, fsync of the folder. */
static int replace_file(const char *dir, const char *path, const void *data, size_t len)
{
	char tmp[POLL_PATH_MAX], name[300];
	const char *base = strrchr(path, '/');
	int fd, n;

	base = base != NULL ? base + 1 : path;
	if (tmp_name(base, name, sizeof(name)) != 0)
		return -1;
	n = snprintf(tmp, sizeof(tmp), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		close(fd);
		goto err_after_tmp;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0)
		goto err_after_tmp;
	return fsync_dir(dir);

err_after_tmp:
	unlink(tmp);
	return -1;
}

/* Create folder path (one level) unless it exists as a folder. */
static int ensure_dir(const char *path, mode_t mode)
{
	struct stat sb;

	if (mkdir(path, mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* Open the folder of the relative manifest path rel under the open folder outfd,
 * following no symbolic link and creating missing folders when create. *dirfd (owned)
 * and *base (into rel) on success; 1 when a folder is missing and !create; -1 on error. */
static int open_parent(int outfd, const char *rel, int create, int *dirfd, const char **base)
{
	char comp[WIRE_UPD_MAX_PATH + 1];
	const char *s = rel, *slash;
	int fd = dup(outfd);

	if (fd < 0)
		return -1;
	while ((slash = strchr(s, '/')) != NULL) {
		size_t len = (size_t)(slash - s);
		int next;
		memcpy(comp, s, len);
		comp[len] = '\0';
		if (create && mkdirat(fd, comp, 0755) != 0 && errno != EEXIST)
			goto err_after_fd;
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			if (!create && errno == ENOENT) {
				close(fd);
				return 1;
			}
			goto err_after_fd;
		}
		close(fd);
		fd = next;
		s = slash + 1;
	}
	*dirfd = fd;
	*base = s;
	return 0;

err_after_fd:
	close(fd);
	return -1;
}

/* 1 if the open file fd is exactly file i of m (size and SHA-256), 0 if not, -1 on a
 * read error. */
static int file_matches(struct poll *p, int fd, const struct bulwark_manifest *m, uint32_t i)
{
	const struct wire_upd_file *f = &m->m.files[i];
	struct crypto_sha256_ctx h;
	uint8_t got[WIRE_UPD_HASH_LEN];
	struct stat sb;
	uint64_t left;
	int rc = -1;

	if (fstat(fd, &sb) != 0)
		return -1;
	if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != f->size)
		return 0;
	if (crypto_sha256_init(&h) != 0)
		return -1;
	left = f->size;
	while (left > 0) {
		size_t want = left < POLL_IO_BLOCK ? (size_t)left : POLL_IO_BLOCK;
		ssize_t n = read(fd, p->chunk_buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || crypto_sha256_update(&h, p->chunk_buf, (size_t)n) != 0)
			goto out;
		left -= (uint64_t)n;
	}
	if (crypto_sha256_final(&h, got) != 0)
		goto out;
	rc = crypto_memeq(got, f->sha256, WIRE_UPD_HASH_LEN);
out:
	crypto_sha256_free(&h);
	return rc;
}

/* 1 if file i is installed under outfd and intact, 0 if not (missing, other bytes). */
static int installed_intact(struct poll *p, int outfd, const struct bulwark_manifest *m,
			    uint32_t i)
{
	const char *base;
	int dirfd, fd, rc;

	rc = open_parent(outfd, m->m.files[i].path, 0, &dirfd, &base);
	if (rc != 0)
		return 0;
	fd = openat(dirfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dirfd);
	if (fd < 0)
		return 0;
	rc = file_matches(p, fd, m, i);
	close(fd);
	return rc == 1;
}

/* ---------------------------------------------------------------- HTTP */
/* The document being received. */
struct doc_sink {
	char *buf;
	size_t len, cap, max;
	int too_big, nomem;
	char etag[POLL_ETAG_MAX];
};

static size_t doc_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct doc_sink *d = arg;
	size_t n = size * nmemb;

	if (n > d->max - d->len) {
		d->too_big = 1;
		return 0;
	}
	if (d->len + n + 1 > d->cap) {
		size_t cap = d->cap == 0 ? 16384 : d->cap;
		char *nb;
		while (cap < d->len + n + 1)
			cap *= 2;
		if (cap > d->max + 1)
			cap = d->max + 1;
		nb = realloc(d->buf, cap);
		if (nb == NULL) {
			d->nomem = 1;
			return 0;
		}
		d->buf = nb;
		d->cap = cap;
	}
	memcpy(d->buf + d->len, data, n);
	d->len += n;
	d->buf[d->len] = '\0';
	return n;
}

/* Keeps the final response's ETag (a printable token of at most POLL_ETAG_MAX - 1
 * bytes). */
static size_t doc_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct doc_sink *d = arg;
	size_t n = size * nitems, vlen;
	const char *v;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		d->etag[0] = '\0'; /* a new response (after a redirect): forget the last one's */
		return n;
	}
	if (n < 5 || strncasecmp(data, "etag:", 5) != 0)
		return n;
	v = data + 5;
	vlen = n - 5;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	d->etag[0] = '\0';
	if (vlen == 0 || vlen >= sizeof(d->etag))
		return n;
	for (size_t i = 0; i < vlen; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
			return n;
	memcpy(d->etag, v, vlen);
	d->etag[vlen] = '\0';
	return n;
}

/* Common options of every transfer. */
static void curl_setup(struct poll *p, const char *url)
{
	curl_easy_reset(p->curl);
	p->errbuf[0] = '\0';
	curl_easy_setopt(p->curl, CURLOPT_URL, url);
	curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, p->errbuf);
	curl_easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)p->connect_ms);
	/* Mirrors and CDNs may redirect; what arrives is verified either way. */
	curl_easy_setopt(p->curl, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(p->curl, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(p->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(p->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(p->curl, CURLOPT_USERAGENT, "bulwark-poll/" BULWARK_VERSION);
	/* Bytes must arrive exactly as served: hashes are over them. */
	curl_easy_setopt(p->curl, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	curl_easy_setopt(p->curl, CURLOPT_HTTP_TRANSFER_DECODING, 1L);
}

/* Map a failed transfer to a code and message (why, whylen). */
static int curl_failure(struct poll *p, CURLcode cc, char *why, size_t whylen)
{
	const char *detail = p->errbuf[0] != '\0' ? p->errbuf : curl_easy_strerror(cc);

	if (cc == CURLE_OPERATION_TIMEDOUT) {
		say(why, whylen, "timed out after %u ms: %s", p->timeout_ms, detail);
		return BULWARK_POLL_ERR_TIMEOUT;
	}
	say(why, whylen, "%s", detail);
	return BULWARK_POLL_ERR_FETCH;
}

/* ---------------------------------------------------------------- documents */
/* Verify doc against the saved state: 0 with *m and *next, or the code with why. */
static int verify_doc(struct poll *p, const struct bulwark_update_state *saved, const char *doc,
		      size_t len, struct bulwark_manifest **m, struct bulwark_update_state *next,
		      char *why, size_t whylen)
{
	char msg[512];
	int rc = bulwark_verify_response(p->cfg->trust, p->cfg->channel, saved, p->now_ms, doc, len,
					 m, next, msg, sizeof(msg));

	if (rc != 0)
		say(why, whylen, "%s", msg);
	return rc;
}

/* Fetch and verify the document from source url (base URL). On success *m, *next and
 * *fresh (the new document to save, NULL after a 304; owned) and etag are set. */
static int fetch_doc(struct poll *p, const char *base, const struct bulwark_update_state *saved,
		     const char *saved_doc, size_t saved_len, const char *saved_etag,
		     struct bulwark_manifest **m, struct bulwark_update_state *next,
		     struct doc_sink *fresh, char *why, size_t whylen)
{
	struct curl_slist *hdrs = NULL;
	char url[POLL_PATH_MAX], line[POLL_ETAG_MAX + 32];
	long status = 0;
	CURLcode cc;
	int rc, n;

	memset(fresh, 0, sizeof(*fresh));
	fresh->max = p->max_document;
	n = snprintf(url, sizeof(url), "%s/v1/channels/%s", base, p->cfg->channel);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		say(why, whylen, "URL too long");
		return BULWARK_UPD_ERR_ARG;
	}
	curl_setup(p, url);
	curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, doc_write);
	curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, fresh);
	curl_easy_setopt(p->curl, CURLOPT_HEADERFUNCTION, doc_header);
	curl_easy_setopt(p->curl, CURLOPT_HEADERDATA, fresh);
	curl_easy_setopt(p->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)p->max_document);
	if (saved_doc != NULL && saved_etag != NULL) {
		snprintf(line, sizeof(line), "If-None-Match: %s", saved_etag);
		hdrs = curl_slist_append(NULL, line);
		if (hdrs == NULL) {
			say(why, whylen, "out of memory");
			return BULWARK_UPD_ERR_NOMEM;
		}
		curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, hdrs);
	}
	cc = curl_easy_perform(p->curl);
	curl_slist_free_all(hdrs);
	curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
	if (fresh->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		say(why, whylen, "document larger than %u bytes", p->max_document);
		rc = BULWARK_POLL_ERR_TOO_BIG;
		goto err_after_sink;
	}
	if (fresh->nomem) {
		say(why, whylen, "out of memory");
		rc = BULWARK_UPD_ERR_NOMEM;
		goto err_after_sink;
	}
	if (cc != CURLE_OK) {
		rc = curl_failure(p, cc, why, whylen);
		goto err_after_sink;
	}
	if (status == 304 && saved_doc != NULL && saved_etag != NULL) {
		free(fresh->buf);
		fresh->buf = NULL;
		rc = verify_doc(p, saved, saved_doc, saved_len, m, next, why, whylen);
		if (rc != 0) {
			char inner[512];
			say(inner, sizeof(inner), "%s", why);
			say(why, whylen, "304 Not Modified, but the saved document fails: %s",
				 inner);
		}
		return rc;
	}
	if (status != 200) {
		say(why, whylen, "HTTP status %ld", status);
		rc = BULWARK_POLL_ERR_HTTP;
		goto err_after_sink;
	}
	rc = verify_doc(p, saved, fresh->buf, fresh->len, m, next, why, whylen);
	if (rc != 0)
		goto err_after_sink;
	return 0;

err_after_sink:
	free(fresh->buf);
	fresh->buf = NULL;
	return rc;
}

/* ---------------------------------------------------------------- chunks */
/* A chunk download into an open partial file. */
struct chunk_sink {
	struct poll *p;
	int fd;
	uint64_t have;     /* bytes in the file */
	uint64_t want;     /* the chunk's size */
	uint64_t resumed;  /* bytes already there when the transfer started */
	int started, too_big, bad_status, io_error;
};

static size_t chunk_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct chunk_sink *s = arg;
	size_t n = size * nmemb;

	if (!s->started) {
		long status = 0;
		curl_easy_getinfo(s->p->curl, CURLINFO_RESPONSE_CODE, &status);
		s->started = 1;
		if (status == 200 && s->have > 0) {
			/* The source ignored Range: start over. */
			if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0) {
				s->io_error = 1;
				return 0;
			}
			s->have = 0;
			s->resumed = 0;
		} else if (status != 200 && status != 206) {
			s->bad_status = 1;
			return 0;
		}
	}
	if (n > s->want - s->have) {
		s->too_big = 1;
		return 0;
	}
	if (write_all(s->fd, data, n) != 0) {
		s->io_error = 1;
		return 0;
	}
	s->have += n;
	return n;
}

/* SHA-256 of the first len bytes of fd. */
static int hash_fd(struct poll *p, int fd, uint64_t len, uint8_t out[WIRE_UPD_HASH_LEN])
{
	struct crypto_sha256_ctx h;
	int rc = -1;

	if (lseek(fd, 0, SEEK_SET) != 0 || crypto_sha256_init(&h) != 0)
		return -1;
	while (len > 0) {
		size_t want = len < POLL_IO_BLOCK ? (size_t)len : POLL_IO_BLOCK;
		ssize_t n = read(fd, p->chunk_buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || crypto_sha256_update(&h, p->chunk_buf, (size_t)n) != 0)
			goto out;
		len -= (uint64_t)n;
	}
	rc = crypto_sha256_final(&h, out);
out:
	crypto_sha256_free(&h);
	return rc;
}

/* One attempt at the chunk hash (hex) of size bytes from source base into the partial
 * file part, renamed to final once its bytes hash right. */
static int fetch_chunk_from(struct poll *p, const char *base, const uint8_t hash[32],
			    const char *hex, uint64_t size, const char *part, const char *final,
			    char *why, size_t whylen)
{
	struct chunk_sink s;
	struct stat sb;
	char url[POLL_PATH_MAX], range[64];
	uint8_t got[WIRE_UPD_HASH_LEN];
	long status = 0;
	CURLcode cc;
	int rc, n;

	memset(&s, 0, sizeof(s));
	s.p = p;
	s.want = size;
	s.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s.fd < 0 || fstat(s.fd, &sb) != 0) {
		say(why, whylen, "%s: %s", part, strerror(errno));
		rc = BULWARK_UPD_ERR_IO;
		goto err_after_fd;
	}
	s.have = (uint64_t)sb.st_size;
	if (s.have > size) {
		if (ftruncate(s.fd, 0) != 0) {
			say(why, whylen, "%s: %s", part, strerror(errno));
			rc = BULWARK_UPD_ERR_IO;
			goto err_after_fd;
		}
		s.have = 0;
	}
	s.resumed = s.have;
	if (s.have < size) {
		n = snprintf(url, sizeof(url), "%s/v1/chunks/%s", base, hex);
		if (n < 0 || (size_t)n >= sizeof(url)) {
			say(why, whylen, "URL too long");
			rc = BULWARK_UPD_ERR_ARG;
			goto err_after_fd;
		}
		if (lseek(s.fd, (off_t)s.have, SEEK_SET) < 0) {
			say(why, whylen, "%s: %s", part, strerror(errno));
			rc = BULWARK_UPD_ERR_IO;
			goto err_after_fd;
		}
		curl_setup(p, url);
		curl_easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, chunk_write);
		curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, &s);
		if (s.have > 0) {
			snprintf(range, sizeof(range), "%llu-", (unsigned long long)s.have);
			curl_easy_setopt(p->curl, CURLOPT_RANGE, range);
		}
		cc = curl_easy_perform(p->curl);
		curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &status);
		if (s.have > s.resumed)
			p->res->bytes_fetched += s.have - s.resumed;
		if (s.too_big) {
			say(why, whylen, "chunk %s: more than its %llu bytes", hex,
				 (unsigned long long)size);
			rc = BULWARK_UPD_ERR_CHUNK;
			unlink(part);
			goto err_after_fd;
		}
		if (s.io_error) {
			say(why, whylen, "%s: %s", part, strerror(errno));
			rc = BULWARK_UPD_ERR_IO;
			goto err_after_fd;
		}
		if (s.bad_status || (cc == CURLE_OK && status != 200 && status != 206)) {
			say(why, whylen, "chunk %s: HTTP status %ld", hex, status);
			rc = BULWARK_POLL_ERR_HTTP;
			goto err_after_fd;
		}
		if (cc != CURLE_OK) {
			char inner[200];
			rc = curl_failure(p, cc, inner, sizeof(inner));
			say(why, whylen, "chunk %s: %s (%llu of %llu bytes kept)", hex, inner,
				 (unsigned long long)s.have, (unsigned long long)size);
			goto err_after_fd;
		}
		if (s.resumed > 0)
			p->res->chunks_resumed++;
	}
	if (s.have != size || hash_fd(p, s.fd, size, got) != 0 ||
	    !crypto_memeq(got, hash, WIRE_UPD_HASH_LEN)) {
		say(why, whylen, "chunk %s: %llu bytes that do not hash to it", hex,
		    (unsigned long long)s.have);
		rc = BULWARK_UPD_ERR_CHUNK;
		unlink(part);
		goto err_after_fd;
	}
	close(s.fd);
	if (rename(part, final) != 0) {
		say(why, whylen, "%s: %s", final, strerror(errno));
		return BULWARK_UPD_ERR_IO;
	}
	return 0;

err_after_fd:
	if (s.fd >= 0)
		close(s.fd);
	return rc;
}

/* Make sure cache_dir/<hex> holds the verified chunk: a cached copy whose bytes hash
 * right, else a download from the sources in order (skipping those that already
 * failed a chunk in this poll), resuming a partial file. */
static int ensure_chunk(struct poll *p, const uint8_t hash[32], uint64_t size, int *fetched)
{
	char hex[2 * WIRE_UPD_HASH_LEN + 1], part[POLL_PATH_MAX], final[POLL_PATH_MAX];
	char why[512];
	uint8_t got[WIRE_UPD_HASH_LEN];
	struct stat sb;
	int fd, rc = BULWARK_POLL_ERR_FETCH, n, tried = 0;

	*fetched = 0;
	wire_upd_hex(hash, WIRE_UPD_HASH_LEN, hex);
	n = snprintf(final, sizeof(final), "%s/%s", p->cache_dir, hex);
	if (n < 0 || (size_t)n >= sizeof(final) ||
	    snprintf(part, sizeof(part), "%s.part", final) >= (int)sizeof(part))
		return poll_fail(p, BULWARK_UPD_ERR_ARG, "state folder path too long");
	fd = open(final, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		int ok = fstat(fd, &sb) == 0 && (uint64_t)sb.st_size == size &&
			 hash_fd(p, fd, size, got) == 0 && crypto_memeq(got, hash, WIRE_UPD_HASH_LEN);
		close(fd);
		if (ok)
			return 0;
		unlink(final);
	}
	for (size_t i = 0; i < p->cfg->nurls; i++) {
		const char *base = p->cfg->urls[i];
		int resumed;
		if (p->bad[i])
			continue;
		tried = 1;
		resumed = stat(part, &sb) == 0 && sb.st_size > 0;
		rc = fetch_chunk_from(p, base, hash, hex, size, part, final, why, sizeof(why));
		/* Resumed bytes from an earlier source may be the bad ones: once more from 0. */
		if (rc == BULWARK_UPD_ERR_CHUNK && resumed)
			rc = fetch_chunk_from(p, base, hash, hex, size, part, final, why,
					      sizeof(why));
		if (rc == 0) {
			*fetched = 1;
			return 0;
		}
		if (rc == BULWARK_UPD_ERR_IO || rc == BULWARK_UPD_ERR_ARG)
			return poll_fail(p, rc, "%s", why);
		p->bad[i] = 1;
		poll_source_failed(p, base, rc, why);
	}
	if (!tried)
		return poll_fail(p, rc, "chunk %s: every source already failed in this poll", hex);
	return poll_fail(p, rc, "chunk %s: no source served it; the last: %s: %s", hex,
			 bulwark_poll_strerror(rc), why);
}

/* ---------------------------------------------------------------- install */
/* Assemble file i from the cached chunks into a temporary file next to its target
 * under outfd, check it, fsync, rename over the target and fsync the folder. */
static int install_file(struct poll *p, int outfd, const struct bulwark_manifest *m, uint32_t i)
{
	const struct wire_upd_file *f = &m->m.files[i];
	struct bulwark_file_check *fc;
	char tmp[300], path[POLL_PATH_MAX], hex[2 * WIRE_UPD_HASH_LEN + 1], msg[512];
	const char *base;
	int dirfd, fd, cfd, rc;

	if (open_parent(outfd, f->path, 1, &dirfd, &base) != 0)
		return poll_fail(p, BULWARK_POLL_ERR_INSTALL, "%s/%s: cannot create its folder: %s",
				 p->cfg->out_dir, f->path, strerror(errno));
	rc = bulwark_file_check_new(m, i, &fc);
	if (rc != 0) {
		rc = poll_fail(p, rc, "%s", bulwark_upd_strerror(rc));
		goto err_after_dir;
	}
	if (tmp_name(base, tmp, sizeof(tmp)) != 0) {
		rc = poll_fail(p, BULWARK_POLL_ERR_INSTALL, "%s: no temporary name", f->path);
		goto err_after_check;
	}
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = poll_fail(p, BULWARK_POLL_ERR_INSTALL, "%s/%s: %s", p->cfg->out_dir, f->path,
			       strerror(errno));
		goto err_after_check;
	}
	for (uint32_t c = 0; c < f->nchunks; c++) {
		uint64_t len = wire_upd_chunk_len(f->size, m->m.chunk_size, c);
		size_t got = 0;
		wire_upd_hex(f->chunks[c], WIRE_UPD_HASH_LEN, hex);
		if (snprintf(path, sizeof(path), "%s/%s", p->cache_dir, hex) >= (int)sizeof(path))
			cfd = -1;
		else
			cfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (cfd < 0) {
			rc = poll_fail(p, BULWARK_UPD_ERR_IO, "%s: %s", path, strerror(errno));
			goto err_after_tmp;
		}
		while (got < len) {
			ssize_t n = read(cfd, p->chunk_buf + got, (size_t)len - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		close(cfd);
		rc = bulwark_file_check_add(fc, p->chunk_buf, got, msg, sizeof(msg));
		if (rc != 0) {
			unlink(path); /* the cached copy changed on disk: fetch it again next time */
			rc = poll_fail(p, rc, "%s: %s", bulwark_upd_strerror(rc), msg);
			goto err_after_tmp;
		}
		if (write_all(fd, p->chunk_buf, got) != 0) {
			rc = poll_fail(p, BULWARK_POLL_ERR_INSTALL, "%s/%s: %s", p->cfg->out_dir,
				       f->path, strerror(errno));
			goto err_after_tmp;
		}
	}
	rc = bulwark_file_check_finish(fc, msg, sizeof(msg));
	if (rc != 0) {
		rc = poll_fail(p, rc, "%s: %s", bulwark_upd_strerror(rc), msg);
		goto err_after_tmp;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		rc = poll_fail(p, BULWARK_POLL_ERR_INSTALL, "%s/%s: %s", p->cfg->out_dir, f->path,
			       strerror(errno));
		goto err_after_tmp;
	}
	fd = -1;
	if (renameat(dirfd, tmp, dirfd, base) != 0 || fsync(dirfd) != 0) {
		rc = poll_fail(p, BULWARK_POLL_ERR_INSTALL, "%s/%s: %s", p->cfg->out_dir, f->path,
			       strerror(errno));
		goto err_after_tmp;
	}
	bulwark_file_check_free(fc);
	close(dirfd);
	return 0;

err_after_tmp:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
err_after_check:
	bulwark_file_check_free(fc);
err_after_dir:
	close(dirfd);
	return rc;
}

/* Install every file of m that is not already intact under the output folder: every
 * missing chunk is fetched and verified first, so a failed download installs nothing;
 * then each file is assembled and renamed into place. *installed counts the files. */
static int install_all(struct poll *p, const struct bulwark_manifest *m, uint32_t *installed)
{
	struct bulwark_poll_event ev = { .kind = BULWARK_POLL_EV_CHUNK };
	uint8_t *need;
	int outfd, rc = 0, fetched, any = 0;

	*installed = 0;
	if (ensure_dir(p->cfg->out_dir, 0755) != 0)
		return poll_fail(p, BULWARK_POLL_ERR_INSTALL, "%s: %s", p->cfg->out_dir,
				 strerror(errno));
	outfd = open(p->cfg->out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (outfd < 0)
		return poll_fail(p, BULWARK_POLL_ERR_INSTALL, "%s: %s", p->cfg->out_dir,
				 strerror(errno));
	need = calloc(m->m.nfiles > 0 ? m->m.nfiles : 1, 1);
	if (need == NULL) {
		rc = poll_fail(p, BULWARK_UPD_ERR_NOMEM, "out of memory");
		goto out_fd;
	}
	p->fetch_total = 0;
	for (uint32_t i = 0; i < m->m.nfiles; i++) {
		need[i] = !installed_intact(p, outfd, m, i);
		if (need[i]) {
			p->fetch_total += m->m.files[i].size;
			any = 1;
		}
	}
	if (any && ensure_dir(p->cache_dir, 0700) != 0) {
		rc = poll_fail(p, BULWARK_UPD_ERR_IO, "%s: %s", p->cache_dir, strerror(errno));
		goto out_need;
	}
	for (uint32_t i = 0; i < m->m.nfiles; i++) {
		const struct wire_upd_file *f = &m->m.files[i];
		for (uint32_t c = 0; need[i] && c < f->nchunks; c++) {
			uint64_t len = wire_upd_chunk_len(f->size, m->m.chunk_size, c);
			rc = ensure_chunk(p, f->chunks[c], len, &fetched);
			if (rc != 0)
				goto out_need;
			p->res->chunks_fetched += (uint64_t)fetched;
			p->fetch_done += len;
			ev.done = p->fetch_done;
			ev.total = p->fetch_total;
			poll_event(p, &ev);
		}
	}
	for (uint32_t i = 0; i < m->m.nfiles; i++) {
		struct bulwark_poll_event fev = { .kind = BULWARK_POLL_EV_FILE };
		if (!need[i])
			continue;
		rc = install_file(p, outfd, m, i);
		if (rc != 0)
			goto out_need;
		(*installed)++;
		fev.text = m->m.files[i].path;
		fev.version = m->m.version;
		poll_event(p, &fev);
	}
out_need:
	free(need);
out_fd:
	close(outfd);
	return rc;
}

/* Remove the chunk cache (its files, then the folder) after a completed install. */
static void cache_clear(struct poll *p)
{
	char path[POLL_PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(p->cache_dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", p->cache_dir, de->d_name) <
		    (int)sizeof(path))
			unlink(path);
	}
	closedir(d);
	rmdir(p->cache_dir);
}

/* ---------------------------------------------------------------- the poll */
static int path_in(char *out, const char *dir, const char *id, const char *ext)
{
	int n = snprintf(out, POLL_PATH_MAX, "%s/%s%s", dir, id, ext);

	return n < 0 || n >= POLL_PATH_MAX ? -1 : 0;
}

static int poll_setup(struct poll *p, const struct bulwark_poll_config *cfg,
		      struct bulwark_poll_result *res)
{
	const char *dir = cfg->state_dir;
	char trust_state[POLL_PATH_MAX];
	uint8_t h[WIRE_UPD_HASH_LEN];
	struct timespec ts;

	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->res = res;
	if (cfg->channel == NULL || cfg->trust == NULL || cfg->urls == NULL || cfg->nurls == 0 ||
	    cfg->nurls > BULWARK_POLL_MAX_SOURCES || cfg->out_dir == NULL)
		return poll_fail(p, BULWARK_UPD_ERR_ARG, "poll: channel, trust, 1..%u URLs and an "
				 "output folder are required", BULWARK_POLL_MAX_SOURCES);
	if (wire_upd_check_channel(cfg->channel, strlen(cfg->channel)) != 0)
		return poll_fail(p, BULWARK_UPD_ERR_ARG, "poll: \"%.255s\" is not a channel name",
				 cfg->channel);
	if (bulwark__trust_policy(cfg->trust, cfg->channel) == NULL)
		return poll_fail(p, BULWARK_UPD_ERR_NO_CHANNEL, "channel %s: no publisher policy in "
				 "the trust file", cfg->channel);
	for (size_t i = 0; i < cfg->nurls; i++)
		if (cfg->urls[i] == NULL || strlen(cfg->urls[i]) > 1024)
			return poll_fail(p, BULWARK_UPD_ERR_ARG, "poll: URL %zu missing or too long", i);
	p->timeout_ms = cfg->timeout_ms != 0 ? cfg->timeout_ms : 30000;
	p->connect_ms = cfg->connect_timeout_ms != 0 ? cfg->connect_timeout_ms
			: (p->timeout_ms < 10000 ? p->timeout_ms : 10000);
	p->max_document = cfg->max_document != 0 ? cfg->max_document
			  : wire_upd_limits_default.max_document;
	if (cfg->now_ms != 0) {
		p->now_ms = cfg->now_ms;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		p->now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	}
	crypto_sha256(cfg->channel, strlen(cfg->channel), h);
	wire_upd_hex(h, sizeof(h), p->id);
	if (dir == NULL) {
		/* The trust file's state folder: <state_dir>/<id>.state */
		if (bulwark_state_path(cfg->trust, cfg->channel, trust_state, sizeof(trust_state)) != 0)
			return poll_fail(p, BULWARK_UPD_ERR_ARG, "poll: no state folder: the trust file "
					 "names no state_dir and none was given");
		trust_state[strlen(trust_state) - strlen(p->id) - strlen("/.state")] = '\0';
		dir = trust_state;
	}
	if (path_in(p->state_path, dir, p->id, ".state") != 0 ||
	    path_in(p->doc_path, dir, p->id, ".doc") != 0 ||
	    path_in(p->etag_path, dir, p->id, ".etag") != 0 ||
	    path_in(p->cache_dir, dir, p->id, ".chunks") != 0 ||
	    path_in(p->lock_path, dir, p->id, ".lock") != 0)
		return poll_fail(p, BULWARK_UPD_ERR_ARG, "poll: state folder path too long");
	if (ensure_dir(dir, 0700) != 0)
		return poll_fail(p, BULWARK_UPD_ERR_IO, "%s: %s", dir, strerror(errno));
	return 0;
}

/* The state folder of p (the folder of state_path) into out. */
static void state_dir_of(const struct poll *p, char *out)
{
	char *slash;

	snprintf(out, POLL_PATH_MAX, "%s", p->state_path);
	slash = strrchr(out, '/');
	if (slash != NULL)
		*slash = '\0';
}

/* Try each source for a verified document; the first one wins. */
static int poll_document(struct poll *p, const struct bulwark_update_state *saved,
			 const char *saved_doc, size_t saved_len, const char *saved_etag,
			 struct bulwark_manifest **m, struct bulwark_update_state *next,
			 struct doc_sink *fresh)
{
	char why[512] = "";
	int rc = BULWARK_POLL_ERR_FETCH;

	for (size_t i = 0; i < p->cfg->nurls; i++) {
		const char *base = p->cfg->urls[i];
		struct bulwark_poll_event ev = { .kind = BULWARK_POLL_EV_DOCUMENT, .url = base };
		rc = fetch_doc(p, base, saved, saved_doc, saved_len, saved_etag, m, next, fresh, why,
			       sizeof(why));
		if (rc == 0) {
			snprintf(p->res->source, sizeof(p->res->source), "%s", base);
			p->res->not_modified = fresh->buf == NULL;
			ev.version = next->version;
			poll_event(p, &ev);
			return 0;
		}
		if (rc == BULWARK_UPD_ERR_NOMEM)
			return poll_fail(p, rc, "out of memory");
		/* Unreachable now: not asked for chunks either in this poll. */
		if (rc == BULWARK_POLL_ERR_FETCH || rc == BULWARK_POLL_ERR_TIMEOUT)
			p->bad[i] = 1;
		poll_source_failed(p, base, rc, why);
	}
	if (p->cfg->nurls == 1)
		return poll_fail(p, rc, "%s: %s: %s", p->cfg->urls[0], bulwark_poll_strerror(rc), why);
	return poll_fail(p, rc, "no source gave a valid document (%zu tried); the last, %s: %s: %s",
			 p->cfg->nurls, p->cfg->urls[p->cfg->nurls - 1], bulwark_poll_strerror(rc),
			 why);
}

int bulwark_poll_once(const struct bulwark_poll_config *cfg, struct bulwark_poll_result *res)
{
	struct bulwark_update_state saved, next;
	struct bulwark_manifest *m = NULL;
	struct doc_sink fresh;
	struct poll *p;
	char *saved_doc = NULL, *saved_etag = NULL, msg[512], dir[POLL_PATH_MAX];
	size_t saved_len = 0, etag_len = 0;
	uint32_t installed = 0;
	int rc, lockfd;

	if (res == NULL)
		return BULWARK_UPD_ERR_ARG;
	memset(res, 0, sizeof(*res));
	memset(&fresh, 0, sizeof(fresh));
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(res->err, sizeof(res->err), "out of memory");
		return BULWARK_UPD_ERR_NOMEM;
	}
	rc = cfg == NULL ? BULWARK_UPD_ERR_ARG : poll_setup(p, cfg, res);
	if (cfg == NULL)
		snprintf(res->err, sizeof(res->err), "poll: no configuration");
	if (rc != 0)
		goto out_p;
	lockfd = open(p->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lockfd < 0) {
		rc = poll_fail(p, BULWARK_UPD_ERR_IO, "%s: %s", p->lock_path, strerror(errno));
		goto out_p;
	}
	if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
		rc = poll_fail(p, BULWARK_POLL_ERR_BUSY, "%s: another poll of channel %s is running",
			       p->lock_path, cfg->channel);
		goto out_lock;
	}
	rc = bulwark_state_load(p->state_path, cfg->channel, &saved, msg, sizeof(msg));
	if (rc != 0) {
		rc = poll_fail(p, rc, "%s: %s", bulwark_upd_strerror(rc), msg);
		goto out_lock;
	}
	/* The saved document and ETag are a cache: unreadable ones are ignored. */
	if (saved.version != 0 &&
	    read_small(p->doc_path, p->max_document, &saved_doc, &saved_len) == 0 &&
	    read_small(p->etag_path, POLL_ETAG_MAX - 1, &saved_etag, &etag_len) != 0) {
		free(saved_doc);
		saved_doc = NULL;
	}
	p->curl = curl_easy_init();
	if (p->curl == NULL) {
		rc = poll_fail(p, BULWARK_UPD_ERR_NOMEM, "libcurl cannot start a transfer");
		goto out_docs;
	}
	rc = poll_document(p, &saved, saved_doc, saved_len, saved_etag, &m, &next, &fresh);
	if (rc != 0)
		goto out_docs;
	p->chunk_buf = malloc(m->m.chunk_size > POLL_IO_BLOCK ? m->m.chunk_size : POLL_IO_BLOCK);
	if (p->chunk_buf == NULL) {
		rc = poll_fail(p, BULWARK_UPD_ERR_NOMEM, "out of memory");
		goto out_manifest;
	}
	rc = install_all(p, m, &installed);
	res->files_installed = installed;
	if (rc != 0)
		goto out_manifest;
	/* Every file is in place: only now the document, its ETag and the state. */
	state_dir_of(p, dir);
	if (fresh.buf != NULL) {
		if (replace_file(dir, p->doc_path, fresh.buf, fresh.len) != 0 ||
		    (fresh.etag[0] != '\0' &&
		     replace_file(dir, p->etag_path, fresh.etag, strlen(fresh.etag)) != 0)) {
			rc = poll_fail(p, BULWARK_UPD_ERR_IO, "%s: %s", p->doc_path, strerror(errno));
			goto out_manifest;
		}
		if (fresh.etag[0] == '\0')
			unlink(p->etag_path);
	}
	if (next.version != saved.version || next.seq != saved.seq ||
	    !crypto_memeq(next.manifest_hash, saved.manifest_hash, WIRE_UPD_HASH_LEN)) {
		rc = bulwark_state_save(p->state_path, cfg->channel, &next, msg, sizeof(msg));
		if (rc != 0) {
			rc = poll_fail(p, rc, "%s: %s", bulwark_upd_strerror(rc), msg);
			goto out_manifest;
		}
	}
	cache_clear(p);
	res->version = next.version;
	res->seq = next.seq;
	res->up_to_date = installed == 0 && next.version == saved.version;
out_manifest:
	bulwark_manifest_free(m);
	free(p->chunk_buf);
out_docs:
	free(fresh.buf);
	free(saved_doc);
	free(saved_etag);
out_lock:
	close(lockfd);
out_p:
	if (p->curl != NULL)
		curl_easy_cleanup(p->curl);
	free(p);
	return rc;
}
