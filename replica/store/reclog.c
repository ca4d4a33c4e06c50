/* reclog.c: the PBFT core's durable records in segment files (folder "records" of the
 * database), not in LevelDB: a pre-prepare record holds its whole batch and is deleted
 * two checkpoints later, so in LevelDB it was written to the log, flushed to a table,
 * compressed and compacted before its delete caught up with it.
 *
 * A segment is a sequence of entries, each u32 payload length, u32 CRC-32 (zlib's) of
 * the segment's id (u64) followed by the payload, then the payload: op u8 (1 put,
 * 2 delete below, 3 end of segment), kind u8, key u64, and for a put the value. One
 * store_apply_records is one write of its entries at the segment's end, followed by
 * fdatasync when the update asks. Segments are numbered; when the current one passes
 * the configured size it gets an end entry and an fdatasync, and the next one starts,
 * so only the newest can end torn. Opening replays every segment in order into a table
 * of the live records (where each one's latest put lies): a closed segment must check
 * up to its end entry (anything else is corruption); the newest ends at its first
 * entry that does not check (a torn write, or what an earlier use of the file left).
 *
 * Files are reused. A segment none of whose puts is live any more, after the next
 * fdatasync (whatever made them dead is on disk by then), is renamed to a spare
 * ("<id>.free", at most STORE__RECLOG_SPARES of them, the rest deleted), and the next
 * segment takes a spare's file and writes over it. Writing over allocated blocks, an
 * fdatasync has only the data to write: appending also changes the file's size and
 * block map, which commits the file system's journal, and with it (ext4, ordered) the
 * data LevelDB's compactions have pending; appends measured 102 us per fdatasync on
 * this machine, overwrites 65 us, and the journal waits stalled a turn by up to 86 ms.
 * A new file (no spare yet: a new store's first segments, or more segments live than
 * ever before) is written ahead with zeros, a step (STORE__RECLOG_ZERO_STEP) at a time
 * up to the segment's size, so that only the write that passes the file's end changes
 * its size, and the syncs after it up to the next step have only data to write (on
 * this machine's ext4, which has no journal, an appending fdatasync also writes the
 * inode: 6.6 % of a replica's CPU with a lone client). That client's null requests,
 * each with its synced records, took 0.67-0.76 ms (p50) appending to a new store's
 * first segment, 0.55-0.64 ms with the file zero-filled.
 * The CRC's segment id tells an earlier use's entries from this one's. If the newest
 * segment has bytes after its last good entry at open, it is closed there with an end
 * entry and the log goes on in a new segment, so that nothing after it is read again. */
#include "replica/store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/crc.h>

#define RECLOG_HDR 8u            /* payload length u32, CRC-32 u32 */
#define RECLOG_FIXED 10u         /* op, kind, key */
#define RECLOG_OP_PUT 1u
#define RECLOG_OP_DEL_BELOW 2u
#define RECLOG_OP_END 3u
#define RECLOG_MAX_PAYLOAD (1u << 30)
#define RECLOG_ZERO_CHUNK (64u << 10)

static int fail(struct store *s, int code, const char *what, uint64_t seg)
{
	return store__ldb_fail(&s->ldb, code, "records segment %016llx: %s%s%s",
			       (unsigned long long)seg, what, errno != 0 ? ": " : "",
			       errno != 0 ? strerror(errno) : "");
}

static void seg_path(const struct store__reclog *l, uint64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/%016llx.seg", l->dir, (unsigned long long)id);
}

static void spare_path(const struct store__reclog *l, uint64_t id, char *out, size_t len)
{
	snprintf(out, len, "%s/%016llx.free", l->dir, (unsigned long long)id);
}

/* zlib's CRC-32 (reflected, polynomial 0xEDB88320), computed by ISA-L: it folds with
 * PCLMULQDQ, 8.1 GB/s here against zlib's 1.7 (a 256 KiB batch record: 32 us against
 * 150), and gives the same value, so segments written by either read by the other. */
static uint32_t reclog_crc(uint32_t seed, const uint8_t *p, size_t len)
{
	return crc32_gzip_refl(seed, p, (uint64_t)len);
}

/* The CRC of segment id's entries starts from the id's. */
static uint32_t seg_seed(uint64_t id)
{
	uint8_t le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(id >> (8 * i));
	return reclog_crc(0, le, sizeof(le));
}

/* ---------------------------------------------------------------- bookkeeping */
static struct store__seg *seg_find(struct store__reclog *l, uint64_t id)
{
	for (size_t i = 0; i < l->nsegs; i++)
		if (l->segs[i].id == id)
			return &l->segs[i];
	return NULL;
}

static int seg_add(struct store__reclog *l, uint64_t id)
{
	struct store__seg *segs = store__grow(l->segs, &l->capsegs, l->nsegs, sizeof(*segs), 8);

	if (segs == NULL)
		return STORE_ERR_NOMEM;
	l->segs = segs;
	l->segs[l->nsegs].id = id;
	l->segs[l->nsegs].live = 0;
	l->nsegs++;
	return 0;
}

static void seg_unref(struct store__reclog *l, uint64_t id)
{
	struct store__seg *g = seg_find(l, id);

	if (g != NULL && g->live > 0)
		g->live--;
}

static long live_find(const struct store__reclog *l, uint8_t kind, uint64_t key)
{
	for (size_t i = 0; i < l->nlive; i++)
		if (l->live[i].kind == kind && l->live[i].key == key)
			return (long)i;
	return -1;
}

/* A put of (kind, key) at (seg, off, len): it supersedes the earlier one. */
static int live_put(struct store__reclog *l, uint8_t kind, uint64_t key, uint64_t seg,
		    uint64_t off, uint32_t len)
{
	long i = live_find(l, kind, key);
	struct store__seg *g = seg_find(l, seg);

	if (g == NULL)
		return STORE_ERR_CORRUPT;
	if (i < 0) {
		struct store__live *live = store__grow(l->live, &l->caplive, l->nlive,
							sizeof(*live), 64);
		if (live == NULL)
			return STORE_ERR_NOMEM;
		l->live = live;
		i = (long)l->nlive++;
	} else {
		seg_unref(l, l->live[i].seg);
	}
	l->live[i].kind = kind;
	l->live[i].key = key;
	l->live[i].seg = seg;
	l->live[i].off = off;
	l->live[i].len = len;
	g->live++;
	return 0;
}

static void live_del_below(struct store__reclog *l, uint8_t kind, uint64_t below)
{
	size_t kept = 0;

	for (size_t i = 0; i < l->nlive; i++) {
		if (l->live[i].kind == kind && l->live[i].key < below) {
			seg_unref(l, l->live[i].seg);
			continue;
		}
		l->live[kept++] = l->live[i];
	}
	l->nlive = kept;
}

/* Retire the segments without a live put, but the current one: each becomes a spare
 * for a later segment while there is room, else is deleted. Called after an
 * fdatasync: the entries that made them dead are on disk. If a rename or unlink fails,
 * or is lost in a crash, the next open replays the file harmlessly (its records are
 * superseded or below the stable checkpoint) and retires it then. */
static void drop_dead(struct store__reclog *l)
{
	char path[PATH_MAX], spare[PATH_MAX];
	size_t kept = 0;

	for (size_t i = 0; i < l->nsegs; i++) {
		uint64_t id = l->segs[i].id;
		if (l->segs[i].live != 0 || id == l->cur) {
			l->segs[kept++] = l->segs[i];
			continue;
		}
		seg_path(l, id, path, sizeof(path));
		spare_path(l, id, spare, sizeof(spare));
		if (l->nspare < STORE__RECLOG_SPARES && rename(path, spare) == 0)
			l->spare[l->nspare++] = id;
		else
			(void)unlink(path);
	}
	l->nsegs = kept;
}

/* ---------------------------------------------------------------- replay */
/* Replay segment id into the live table; *end: where its last good entry ends (the
 * end entry's end, in a closed segment); *open_tail: the newest segment has bytes
 * after that, or ends with an end entry (a crash between closing it and naming the
 * next), so it must not be written further. */
static int replay(struct store *s, uint64_t id, int last, uint64_t *end, int *open_tail)
{
	struct store__reclog *l = &s->rlog;
	char path[PATH_MAX];
	uint8_t *buf = NULL;
	uint32_t seed = seg_seed(id);
	struct stat st;
	uint64_t off = 0;
	int fd, rc = 0, ended = 0;

	seg_path(l, id, path, sizeof(path));
	errno = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(s, STORE_ERR_IO, "cannot open", id);
	if (fstat(fd, &st) != 0) {
		rc = fail(s, STORE_ERR_IO, "cannot stat", id);
		goto out;
	}
	if (st.st_size > 0) {
		buf = malloc((size_t)st.st_size);
		if (buf == NULL) {
			rc = STORE_ERR_NOMEM;
			goto out;
		}
		for (size_t got = 0; got < (size_t)st.st_size;) {
			ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				rc = fail(s, STORE_ERR_IO, "cannot read", id);
				goto out;
			}
			got += (size_t)n;
		}
	}
	errno = 0;
	while (off < (uint64_t)st.st_size && !ended) {
		uint64_t left = (uint64_t)st.st_size - off;
		struct wire_cursor c;
		uint32_t plen, crc;
		uint8_t op, kind;
		uint64_t key;

		if (left < RECLOG_HDR)
			break;
		wire_cursor_init(&c, buf + off, RECLOG_HDR);
		plen = wire_get_u32(&c);
		crc = wire_get_u32(&c);
		if (plen < RECLOG_FIXED || plen > RECLOG_MAX_PAYLOAD || plen > left - RECLOG_HDR ||
		    reclog_crc(seed, buf + off + RECLOG_HDR, plen) != crc)
			break;
		wire_cursor_init(&c, buf + off + RECLOG_HDR, RECLOG_FIXED);
		op = wire_get_u8(&c);
		kind = wire_get_u8(&c);
		key = wire_get_u64(&c);
		if (op == RECLOG_OP_PUT) {
			rc = live_put(l, kind, key, id, off + RECLOG_HDR + RECLOG_FIXED,
				      plen - RECLOG_FIXED);
			if (rc != 0)
				goto out;
		} else if (op == RECLOG_OP_DEL_BELOW && plen == RECLOG_FIXED) {
			live_del_below(l, kind, key);
		} else if (op == RECLOG_OP_END && plen == RECLOG_FIXED) {
			ended = 1;
		} else {
			break; /* a well-formed entry of no known kind: not ours */
		}
		off += RECLOG_HDR + plen;
	}
	if (!last && !ended) {
		rc = fail(s, STORE_ERR_CORRUPT, "bad entry before the end of a closed segment", id);
		goto out;
	}
	*end = off;
	*open_tail = ended || off < (uint64_t)st.st_size;
out:
	free(buf);
	close(fd);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int write_at(struct store *s, const uint8_t *p, size_t len)
{
	struct store__reclog *l = &s->rlog;

	errno = 0;
	for (size_t done = 0; done < len;) {
		ssize_t n = pwrite(l->fd, p + done, len - done, (off_t)(l->cur_bytes + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(s, STORE_ERR_IO, "cannot write", l->cur);
		done += (size_t)n;
	}
	return 0;
}

/* After entries that end at end: if they passed the file's end, zeros from there to a
 * step past end, not past the segment's size, so that the next turns' entries overwrite
 * allocated blocks. Only ever an optimisation: if the disk refuses it, the entries go
 * on being appended (and fail there if the disk is full), so its failure is not
 * reported. */
static void zero_ahead(struct store__reclog *l, uint64_t end)
{
	static const uint8_t zeros[RECLOG_ZERO_CHUNK];
	uint64_t to = end + STORE__RECLOG_ZERO_STEP;

	if (end <= l->file_bytes)
		return; /* written over the file: its size did not change */
	l->file_bytes = end;
	if (to > l->segment_bytes)
		to = l->segment_bytes;
	while (l->file_bytes < to) {
		size_t n = to - l->file_bytes < sizeof(zeros) ? (size_t)(to - l->file_bytes)
							      : sizeof(zeros);
		ssize_t w = pwrite(l->fd, zeros, n, (off_t)l->file_bytes);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		l->file_bytes += (uint64_t)w;
	}
}

/* Make segment id the current one, written from size on: an existing file (the newest
 * segment at open), else a spare's file renamed, else a new file; a new name is
 * synced in the folder before anything is written under it. */
static int open_current(struct store *s, uint64_t id, uint64_t size, int existing)
{
	struct store__reclog *l = &s->rlog;
	char path[PATH_MAX], spare[PATH_MAX];
	struct stat st;

	seg_path(l, id, path, sizeof(path));
	errno = 0;
	if (!existing && l->nspare > 0) {
		spare_path(l, l->spare[l->nspare - 1], spare, sizeof(spare));
		if (rename(spare, path) != 0)
			return fail(s, STORE_ERR_IO, "cannot reuse a spare file", id);
		l->nspare--;
	}
	l->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0)
		return fail(s, STORE_ERR_IO, "cannot create", id);
	if (!existing && fsync(l->dirfd) != 0)
		return fail(s, STORE_ERR_IO, "cannot sync the folder for", id);
	if (fstat(l->fd, &st) != 0)
		return fail(s, STORE_ERR_IO, "cannot stat", id);
	l->file_bytes = (uint64_t)st.st_size;
	l->cur = id;
	l->cur_bytes = size;
	l->seed = seg_seed(id);
	return 0;
}

/* A file name of the folder: a segment ("<16 hex>.seg") or a spare ("<16 hex>.free"). */
static int parse_name(const char *name, uint64_t *id, int *spare)
{
	unsigned long long v;
	char tail[8];

	if (strlen(name) < 20 || sscanf(name, "%16llx.%4s", &v, tail) != 2 || name[16] != '.')
		return -1;
	if (strcmp(tail, "seg") == 0 && strlen(name) == 20)
		*spare = 0;
	else if (strcmp(tail, "free") == 0 && strlen(name) == 21)
		*spare = 1;
	else
		return -1;
	*id = v;
	return 0;
}

static int rotate(struct store *s);

int store__reclog_open(struct store *s, const char *db_path, uint64_t segment_bytes)
{
	struct store__reclog *l = &s->rlog;
	uint64_t *ids = NULL, end = 0;
	size_t nids = 0, capids = 0;
	int rc = 0, open_tail = 0;
	struct dirent *de;
	DIR *d;

	l->fd = -1;
	l->dirfd = -1;
	l->segment_bytes = segment_bytes;
	wire_buf_init(&l->wbuf);
	l->dir = malloc(strlen(db_path) + sizeof("/records"));
	if (l->dir == NULL)
		return STORE_ERR_NOMEM;
	sprintf(l->dir, "%s/records", db_path);
	errno = 0;
	if (mkdir(l->dir, 0700) != 0 && errno != EEXIST)
		return store__ldb_fail(&s->ldb, STORE_ERR_IO, "cannot create %s: %s", l->dir,
				       strerror(errno));
	l->dirfd = open(l->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0)
		return store__ldb_fail(&s->ldb, STORE_ERR_IO, "cannot open %s: %s", l->dir,
				       strerror(errno));
	d = opendir(l->dir);
	if (d == NULL)
		return store__ldb_fail(&s->ldb, STORE_ERR_IO, "cannot read %s: %s", l->dir,
				       strerror(errno));
	while (rc == 0 && (de = readdir(d)) != NULL) {
		uint64_t id;
		int spare;
		char path[PATH_MAX];

		if (parse_name(de->d_name, &id, &spare) != 0)
			continue;
		if (!spare) {
			uint64_t *more = store__grow(ids, &capids, nids, sizeof(*ids), 16);
			if (more == NULL) {
				rc = STORE_ERR_NOMEM;
			} else {
				ids = more;
				ids[nids++] = id;
			}
		} else if (l->nspare < STORE__RECLOG_SPARES) {
			l->spare[l->nspare++] = id;
		} else {
			spare_path(l, id, path, sizeof(path));
			(void)unlink(path);
		}
	}
	closedir(d);
	if (rc == 0 && nids > 1)
		qsort(ids, nids, sizeof(*ids), cmp_u64);
	for (size_t i = 0; i < nids && rc == 0; i++) {
		rc = seg_add(l, ids[i]);
		if (rc == 0)
			rc = replay(s, ids[i], i + 1 == nids, &end, &open_tail);
	}
	if (rc == 0 && nids == 0) {
		rc = seg_add(l, 1);
		if (rc == 0)
			rc = open_current(s, 1, 0, 0);
	} else if (rc == 0) {
		rc = open_current(s, ids[nids - 1], end, 1);
		/* Bytes after the last good entry (a torn write, an earlier use's entries):
		 * close the segment there and go on in a new one. */
		if (rc == 0 && open_tail)
			rc = rotate(s);
	}
	free(ids);
	return rc;
}

void store__reclog_close(struct store *s)
{
	struct store__reclog *l = &s->rlog;

	if (l->fd >= 0)
		close(l->fd);
	if (l->dirfd >= 0)
		close(l->dirfd);
	l->fd = -1;
	l->dirfd = -1;
	free(l->dir);
	free(l->segs);
	free(l->live);
	wire_buf_free(&l->wbuf);
	l->dir = NULL;
	l->segs = NULL;
	l->live = NULL;
	l->nsegs = l->capsegs = l->nlive = l->caplive = l->nspare = 0;
}

/* ---------------------------------------------------------------- apply */
/* One entry appended to b: the header (length, CRC) is known only once the payload is
 * in, so room is left for it and filled last, little-endian like every other integer
 * of the entry (which wire_put_* writes). */
static void put_entry(struct wire_buf *b, uint32_t seed, uint8_t op, uint8_t kind,
		      uint64_t key, const uint8_t *val, uint32_t vlen)
{
	size_t at = b->len;
	uint8_t room[RECLOG_HDR] = { 0 };

	wire_put_fixed(b, room, sizeof(room));
	wire_put_u8(b, op);
	wire_put_u8(b, kind);
	wire_put_u64(b, key);
	wire_put_fixed(b, val, vlen);
	if (wire_buf_error(b) != 0)
		return;
	uint32_t plen = (uint32_t)(b->len - at - RECLOG_HDR);
	uint32_t crc = reclog_crc(seed, b->p + at + RECLOG_HDR, plen);
	for (int i = 0; i < 4; i++) {
		b->p[at + (size_t)i] = (uint8_t)(plen >> (8 * i));
		b->p[at + 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
	}
}

/* Close the current segment with an end entry, synced, so that a machine crash can
 * only tear the newest, and start the next. */
static int rotate(struct store *s)
{
	struct store__reclog *l = &s->rlog;
	uint64_t next = l->cur + 1;
	int rc;

	wire_buf_reset(&l->wbuf);
	put_entry(&l->wbuf, l->seed, RECLOG_OP_END, 0, 0, NULL, 0);
	if (wire_buf_error(&l->wbuf) != 0)
		return STORE_ERR_NOMEM;
	rc = write_at(s, l->wbuf.p, l->wbuf.len);
	if (rc != 0)
		return rc;
	errno = 0;
	if (fdatasync(l->fd) != 0)
		return fail(s, STORE_ERR_IO, "cannot sync", l->cur);
	close(l->fd);
	l->fd = -1;
	rc = seg_add(l, next);
	if (rc == 0)
		rc = open_current(s, next, 0, 0);
	if (rc == 0)
		drop_dead(l);
	return rc;
}

int store__reclog_apply(struct store *s, const struct pbft_update *u)
{
	struct store__reclog *l = &s->rlog;
	uint64_t base;
	int rc = 0;

	if (l->cur_bytes >= l->segment_bytes) {
		rc = rotate(s);
		if (rc != 0)
			return rc;
	}
	wire_buf_reset(&l->wbuf);
	for (size_t i = 0; i < u->nrec; i++) {
		const struct pbft_record *r = &u->rec[i];
		if (r->del_below)
			put_entry(&l->wbuf, l->seed, RECLOG_OP_DEL_BELOW, r->kind, r->key, NULL, 0);
		else
			put_entry(&l->wbuf, l->seed, RECLOG_OP_PUT, r->kind, r->key,
				  u->recs.p + r->off, (uint32_t)r->len);
	}
	if (wire_buf_error(&l->wbuf) != 0)
		return STORE_ERR_NOMEM;
	rc = write_at(s, l->wbuf.p, l->wbuf.len);
	if (rc != 0)
		return rc;
	zero_ahead(l, l->cur_bytes + l->wbuf.len);
	if (u->sync && fdatasync(l->fd) != 0)
		return fail(s, STORE_ERR_IO, "cannot sync", l->cur);
	/* The table follows the file: offsets of this write's puts. */
	base = l->cur_bytes;
	l->cur_bytes += l->wbuf.len;
	for (size_t i = 0, off = 0; i < u->nrec && rc == 0; i++) {
		const struct pbft_record *r = &u->rec[i];
		if (r->del_below) {
			live_del_below(l, r->kind, r->key);
			off += RECLOG_HDR + RECLOG_FIXED;
			continue;
		}
		rc = live_put(l, r->kind, r->key, l->cur, base + off + RECLOG_HDR + RECLOG_FIXED,
			      (uint32_t)r->len);
		off += RECLOG_HDR + RECLOG_FIXED + r->len;
	}
	if (rc == 0 && u->sync)
		drop_dead(l);
	return rc;
}

/* ---------------------------------------------------------------- load */
static int cmp_live(const void *a, const void *b)
{
	const struct store__live *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

int store__reclog_load(struct store *s, struct store_records *out)
{
	struct store__reclog *l = &s->rlog;
	char path[PATH_MAX];
	int fd = -1, rc = 0;
	uint64_t fd_seg = 0;

	if (l->nlive > 1)
		qsort(l->live, l->nlive, sizeof(*l->live), cmp_live);
	if (l->nlive > 0) {
		out->rec = calloc(l->nlive, sizeof(*out->rec));
		if (out->rec == NULL)
			return STORE_ERR_NOMEM;
	}
	for (size_t i = 0; i < l->nlive && rc == 0; i++) {
		const struct store__live *v = &l->live[i];
		struct pbft_record *r = &out->rec[out->n++];

		if (fd < 0 || fd_seg != v->seg) {
			if (fd >= 0)
				close(fd);
			seg_path(l, v->seg, path, sizeof(path));
			errno = 0;
			fd = open(path, O_RDONLY | O_CLOEXEC);
			fd_seg = v->seg;
			if (fd < 0) {
				rc = fail(s, STORE_ERR_IO, "cannot open", v->seg);
				break;
			}
		}
		r->kind = v->kind;
		r->key = v->key;
		r->off = out->bytes.len;
		r->len = v->len;
		uint8_t *val = malloc(v->len > 0 ? v->len : 1);
		if (val == NULL) {
			rc = STORE_ERR_NOMEM;
			break;
		}
		for (size_t got = 0; got < v->len && rc == 0;) {
			ssize_t n = pread(fd, val + got, v->len - got, (off_t)(v->off + got));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				rc = fail(s, STORE_ERR_IO, "cannot read a record", v->seg);
			else
				got += (size_t)n;
		}
		wire_put_fixed(&out->bytes, val, v->len);
		free(val);
		if (rc == 0 && wire_buf_error(&out->bytes) != 0)
			rc = STORE_ERR_NOMEM;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}
