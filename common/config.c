/* config.c: parses a group's INI file with inih and validates it into struct bw_config. */
#include "common/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */

const char *config_strerror(int err)
{
	switch (err) {
	case CONFIG_OK: return "success";
	case CONFIG_ERR_ARG: return "invalid argument";
	case CONFIG_ERR_NOMEM: return "out of memory";
	case CONFIG_ERR_IO: return "cannot read the configuration file";
	case CONFIG_ERR_TOOBIG: return "configuration file or line too long";
	case CONFIG_ERR_SYNTAX: return "syntax error";
	case CONFIG_ERR_SECTION: return "unknown or duplicate section";
	case CONFIG_ERR_KEY: return "unknown key";
	case CONFIG_ERR_DUPLICATE: return "duplicate key";
	case CONFIG_ERR_MISSING: return "required section or key missing";
	case CONFIG_ERR_NUMBER: return "not a number";
	case CONFIG_ERR_RANGE: return "number out of range";
	case CONFIG_ERR_VALUE: return "invalid value";
	case CONFIG_ERR_REPLICAS: return "replica set does not match n = 3f+1";
	case CONFIG_ERR_ADDRESS: return "address used twice";
	case CONFIG_ERR_KEYFILE: return "key file missing or unreadable";
	case CONFIG_ERR_KEYPERM: return "private key file has unsafe permissions";
	case CONFIG_ERR_KEYMISMATCH: return "key does not match or is reused";
	case CONFIG_ERR_INVALID: return "the configuration has errors";
	default: return "unknown config error";
	}
}

void config_errors_init(struct config_errors *errs)
{
	if (errs == NULL)
		return;
	errs->count = 0;
	errs->dropped = 0;
}

void config_errors_print(const struct config_errors *errs, FILE *out)
{
	for (unsigned i = 0; i < errs->count; i++)
		fprintf(out, "%s\n", errs->item[i].text);
	if (errs->dropped > 0)
		fprintf(out, "(%u more error%s not shown)\n", errs->dropped,
			errs->dropped == 1 ? "" : "s");
}

static void errs_vadd(struct config_errors *errs, const char *name, int code, unsigned line,
		      const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static void errs_vadd(struct config_errors *errs, const char *name, int code, unsigned line,
		      const char *fmt, va_list ap)
{
	if (errs == NULL)
		return;
	if (errs->count >= CONFIG_MAX_ERRORS) {
		errs->dropped++;
		return;
	}
	struct config_error *e = &errs->item[errs->count++];
	e->code = code;
	e->line = line;
	int n;
	if (line > 0)
		n = snprintf(e->text, sizeof(e->text), "%s:%u: ", name, line);
	else
		n = snprintf(e->text, sizeof(e->text), "%s: ", name);
	if (n < 0 || (size_t)n >= sizeof(e->text))
		n = (int)strlen(e->text);
	vsnprintf(e->text + n, sizeof(e->text) - (size_t)n, fmt, ap);
}

void config_errors_add(struct config_errors *errs, const char *name, int code, unsigned line,
		     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	errs_vadd(errs, name, code, line, fmt, ap);
	va_end(ap);
}

/* Copies s for use inside an error message: printable ASCII kept (quotes escaped),
 * anything else as \xHH, at most 48 bytes of s then "...". */
static const char *printable(char *out, size_t outlen, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t w = 0, i;
	for (i = 0; s[i] != '\0' && i < 48; i++) {
		unsigned char c = (unsigned char)s[i];
		if (w + 5 >= outlen)
			break;
		if (c < 0x20 || c >= 0x7f || c == '\'' || c == '\\') {
			out[w++] = '\\';
			out[w++] = 'x';
			out[w++] = hex[c >> 4];
			out[w++] = hex[c & 15];
		} else {
			out[w++] = (char)c;
		}
	}
	if (s[i] != '\0' && w + 4 < outlen) {
		memcpy(out + w, "...", 3);
		w += 3;
	}
	out[w] = '\0';
	return out;
}

/* ---------------------------------------------------------------- small parsers */

int config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (s == NULL || out == NULL)
		return CONFIG_ERR_ARG;
	if (s[0] == '\0')
		return CONFIG_ERR_NUMBER;
	uint64_t v = 0;
	int overflow = 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return CONFIG_ERR_NUMBER;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = 1;
		else
			v = v * 10 + d;
	}
	if (overflow || v < min || v > max)
		return CONFIG_ERR_RANGE;
	*out = v;
	return CONFIG_OK;
}

int config_check_host(const char *host)
{
	unsigned char addr[16];
	if (host == NULL || host[0] == '\0')
		return CONFIG_ERR_VALUE;
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		return CONFIG_OK;
	size_t len = strlen(host);
	if (len > 253)
		return CONFIG_ERR_VALUE;
	/* Digits and dots only, yet not an IPv4 address: a typo, not a name. */
	if (strspn(host, "0123456789.") == len)
		return CONFIG_ERR_VALUE;
	size_t label = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = host[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || host[i - 1] == '-')
				return CONFIG_ERR_VALUE;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return CONFIG_ERR_VALUE;
		if (c == '-' && label == 0)
			return CONFIG_ERR_VALUE;
		label++;
	}
	return CONFIG_OK;
}

const char *config_client_auth_name(enum config_client_auth a)
{
	return a == CONFIG_AUTH_SIGNATURES ? "signatures" : "macs";
}

/* ---------------------------------------------------------------- key tables */

enum key_kind {
	KIND_UINT,   /* decimal in [min, max] */
	KIND_HOST,   /* config_check_host */
	KIND_PATH,   /* resolved against the config folder */
	KIND_AUTH,   /* macs | signatures */
	KIND_QUORUM  /* f+1 | 2f+1 | integer, resolved once f is known */
};

struct key_desc {
	const char *name;
	enum key_kind kind;
	uint64_t min, max;
	int required;
};

enum { G_ID, G_F, G_EPOCH, G_CI, G_LW, G_BMR, G_BMB, G_PIPE, G_VCT, G_SKEW, G_AUTH, G_DATA,
       G_ADMIN, G_TICK, G_VALID, G_CERT, G_CHUNK, G_COUNT };
static const struct key_desc group_keys[G_COUNT] = {
	[G_ID] = {"id", KIND_UINT, 0, UINT64_MAX, 1},
	[G_F] = {"f", KIND_UINT, 1, CONFIG_MAX_F, 1},
	[G_EPOCH] = {"epoch", KIND_UINT, 0, UINT64_MAX, 0},
	[G_CI] = {"checkpoint_interval", KIND_UINT, 1, 1u << 20, 0},
	[G_LW] = {"log_window", KIND_UINT, 1, 1u << 22, 0},
	[G_BMR] = {"batch_max_requests", KIND_UINT, 1, 65535, 0},
	[G_BMB] = {"batch_max_bytes", KIND_UINT, 1024, 16u << 20, 0},
	[G_PIPE] = {"pipeline", KIND_UINT, 1, 1u << 22, 0},
	[G_VCT] = {"view_change_timeout_ms", KIND_UINT, 10, 600000, 0},
	[G_SKEW] = {"max_clock_skew_ms", KIND_UINT, 1, 3600000, 0},
	[G_AUTH] = {"client_auth", KIND_AUTH, 0, 0, 0},
	[G_DATA] = {"data_dir", KIND_PATH, 0, 0, 0},
	[G_ADMIN] = {"admin_key", KIND_PATH, 0, 0, 1},
	[G_TICK] = {"statement_tick_ms", KIND_UINT, 100, 3600000, 0},
	[G_VALID] = {"statement_validity_ms", KIND_UINT, 200, 86400000, 0},
	[G_CERT] = {"certificate_threshold", KIND_UINT, 1, CONFIG_MAX_REPLICAS, 0},
	[G_CHUNK] = {"max_chunk_bytes", KIND_UINT, 4096, 1048576, 0},
};
/* Defaults of the optional numeric [group] keys. */
static const uint64_t group_defaults[G_COUNT] = {
	[G_EPOCH] = 1, [G_CI] = 64, [G_LW] = 128, [G_BMR] = 512, [G_BMB] = 262144,
	[G_PIPE] = 8, [G_VCT] = 1000, [G_SKEW] = 2000, [G_AUTH] = CONFIG_AUTH_MACS,
	[G_TICK] = 10000, [G_VALID] = 60000, [G_CHUNK] = 262144, /* G_CERT: f+1, in build() */
};

enum { R_HOST, R_PORT, R_HTTP, R_PUB, R_PRIV, R_DATA, R_COUNT };
static const struct key_desc replica_keys[R_COUNT] = {
	[R_HOST] = {"host", KIND_HOST, 0, 0, 1},
	[R_PORT] = {"port", KIND_UINT, 1, 65535, 1},
	[R_HTTP] = {"http_port", KIND_UINT, 1, 65535, 1},
	[R_PUB] = {"public_key", KIND_PATH, 0, 0, 1},
	[R_PRIV] = {"private_key", KIND_PATH, 0, 0, 0},
	[R_DATA] = {"data_dir", KIND_PATH, 0, 0, 0},
};

enum { C_TIMEOUT, C_QUORUM, C_COUNT };
static const struct key_desc client_keys[C_COUNT] = {
	[C_TIMEOUT] = {"timeout_ms", KIND_UINT, 1, 600000, 0},
	[C_QUORUM] = {"read_quorum", KIND_QUORUM, 0, 0, 0},
};

#define QUORUM_F_PLUS_1  (UINT64_MAX - 1)
#define QUORUM_2F_PLUS_1 UINT64_MAX

/* ---------------------------------------------------------------- parse state */

struct slot {
	unsigned line; /* where the key was set; 0 = not set */
	int ok;        /* value parsed and in range */
	uint64_t num;
	char *str;     /* owned (host, resolved path) */
};

enum section { SEC_NONE, SEC_GROUP, SEC_REPLICA, SEC_CLIENT, SEC_IGNORE };

struct replica_state {
	unsigned line; /* of [replica I]; 0 = absent */
	struct slot v[R_COUNT];
	uint8_t pub[CRYPTO_ED25519_PUB];
	int pub_ok;
};

struct cfg_parse {
	const char *name;
	const char *dir;
	const char *buf;
	size_t len, pos;
	unsigned lineno;
	struct config_errors *errs;
	int nomem;
	enum section sec;
	unsigned cur; /* replica id while sec == SEC_REPLICA */
	unsigned group_line, client_line;
	struct slot group[G_COUNT];
	struct slot client[C_COUNT];
	struct replica_state rep[CONFIG_MAX_REPLICAS];
	uint8_t admin[CRYPTO_ED25519_PUB];
	int admin_ok;
};

static void perr(struct cfg_parse *p, int code, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void perr(struct cfg_parse *p, int code, unsigned line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	errs_vadd(p->errs, p->name, code, line, fmt, ap);
	va_end(ap);
}

static void slots_free(struct slot *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].str);
		s[i].str = NULL;
	}
}

static void parse_free(struct cfg_parse *p)
{
	slots_free(p->group, G_COUNT);
	slots_free(p->client, C_COUNT);
	for (unsigned i = 0; i < CONFIG_MAX_REPLICAS; i++)
		slots_free(p->rep[i].v, R_COUNT);
	free(p);
}

/* ---------------------------------------------------------------- line reader */

/* Interprets a section header "[...]" (line, n bytes, starts with '['). */
static void scan_section(struct cfg_parse *p, const char *line, size_t n)
{
	char pb[64];
	const char *close = memchr(line, ']', n);
	p->sec = SEC_IGNORE;
	if (close == NULL) {
		perr(p, CONFIG_ERR_SYNTAX, p->lineno, "section header lacks a closing ']'");
		return;
	}
	for (const char *t = close + 1; t < line + n; t++) {
		if (*t == ';' || *t == '#')
			break;
		if (!isspace((unsigned char)*t)) {
			perr(p, CONFIG_ERR_SYNTAX, p->lineno, "unexpected text after ']'");
			return;
		}
	}
	/* The name between the brackets, trimmed, as a C string. */
	char name[CONFIG_ERROR_LEN];
	const char *a = line + 1, *b = close;
	while (a < b && isspace((unsigned char)*a))
		a++;
	while (b > a && isspace((unsigned char)b[-1]))
		b--;
	size_t len = (size_t)(b - a);
	if (len >= sizeof(name))
		len = sizeof(name) - 1;
	memcpy(name, a, len);
	name[len] = '\0';

	unsigned *seen = NULL;
	enum section sec = SEC_IGNORE;
	if (strcmp(name, "group") == 0) {
		seen = &p->group_line;
		sec = SEC_GROUP;
	} else if (strcmp(name, "client") == 0) {
		seen = &p->client_line;
		sec = SEC_CLIENT;
	} else if (strncmp(name, "replica", 7) == 0 &&
		   (name[7] == '\0' || isspace((unsigned char)name[7]))) {
		const char *id = name + 7;
		while (isspace((unsigned char)*id))
			id++;
		uint64_t v;
		if (*id == '\0') {
			perr(p, CONFIG_ERR_SECTION, p->lineno,
			     "section [replica] needs an id, e.g. [replica 0]");
			return;
		}
		int rc = config_parse_uint(id, 0, CONFIG_MAX_REPLICAS - 1, &v);
		if (rc != CONFIG_OK) {
			perr(p, rc, p->lineno, "replica id '%s' is not an integer from 0 to %u",
			     printable(pb, sizeof(pb), id), CONFIG_MAX_REPLICAS - 1);
			return;
		}
		p->cur = (unsigned)v;
		seen = &p->rep[v].line;
		sec = SEC_REPLICA;
	} else {
		perr(p, CONFIG_ERR_SECTION, p->lineno,
		     "unknown section [%s] (expected [group], [replica I] or [client])",
		     printable(pb, sizeof(pb), name));
		return;
	}
	if (*seen != 0) {
		perr(p, CONFIG_ERR_SECTION, p->lineno, "duplicate section [%s] (first on line %u)",
		     printable(pb, sizeof(pb), name), *seen);
		return;
	}
	*seen = p->lineno;
	p->sec = sec;
}

/* Checks one line (leading space removed, n bytes, NUL-terminated) the way inih
 * will read it. Returns 0 when inih should get an empty line instead: for section
 * headers, which are tracked here, and for lines whose error was just reported. */
static int scan_line(struct cfg_parse *p, const char *line, size_t n)
{
	if (n == 0 || line[0] == ';' || line[0] == '#')
		return 1;
	if (line[0] == '[') {
		scan_section(p, line, n);
		return 0; /* section state is ours; inih need not see it */
	}
	/* inih splits at the first '=' or ':' not after an inline " ;" comment. */
	for (size_t i = 0; i < n; i++) {
		if (line[i] == '=' || line[i] == ':')
			return 1;
		if (line[i] == ';' && i > 0 && isspace((unsigned char)line[i - 1]))
			break;
	}
	perr(p, CONFIG_ERR_SYNTAX, p->lineno, "expected 'key = value', '[section]' or a comment");
	return 0;
}

/* inih's fgets-style reader over the buffer: counts lines, removes leading space
 * (so no line is taken as a continuation), and reports lines inih would mangle. */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_parse *p = stream;
	if (p->pos >= p->len || num < 3)
		return NULL;
	const char *start = p->buf + p->pos;
	size_t avail = p->len - p->pos;
	const char *nl = memchr(start, '\n', avail);
	size_t n = nl ? (size_t)(nl - start) : avail;
	p->pos += n + (nl ? 1 : 0);
	p->lineno++;
	str[0] = '\0';

	if (p->lineno == 1 && n >= 3 && memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
		start += 3;
		n -= 3;
	}
	if (n > 0 && start[n - 1] == '\r')
		n--;
	while (n > 0 && isspace((unsigned char)*start)) {
		start++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)start[n - 1]))
		n--;
	if (memchr(start, '\0', n) != NULL) {
		perr(p, CONFIG_ERR_SYNTAX, p->lineno, "line contains a NUL byte");
		return str;
	}
	if (n + 2 > (size_t)num) {
		perr(p, CONFIG_ERR_TOOBIG, p->lineno, "line is longer than %d bytes", num - 2);
		return str;
	}
	memcpy(str, start, n);
	str[n] = '\0';
	if (!scan_line(p, str, n)) {
		str[0] = '\0';
		return str;
	}
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

/* ---------------------------------------------------------------- key handler */

static char *resolve_path(struct cfg_parse *p, const char *value)
{
	size_t vl = strlen(value);
	size_t dl = strlen(p->dir);
	if (value[0] == '/') {
		if (vl >= PATH_MAX)
			return NULL;
		char *s = strdup(value);
		if (s == NULL)
			p->nomem = 1;
		return s;
	}
	if (dl + 1 + vl >= PATH_MAX)
		return NULL;
	char *s = malloc(dl + 1 + vl + 1);
	if (s == NULL) {
		p->nomem = 1;
		return NULL;
	}
	memcpy(s, p->dir, dl);
	s[dl] = '/';
	memcpy(s + dl + 1, value, vl + 1);
	return s;
}

static void set_value(struct cfg_parse *p, const struct key_desc *d, struct slot *s,
		      const char *value)
{
	char vb[64];
	int rc;
	switch (d->kind) {
	case KIND_UINT:
		rc = config_parse_uint(value, d->min, d->max, &s->num);
		if (rc == CONFIG_ERR_NUMBER) {
			perr(p, rc, p->lineno,
			     "%s: '%s' is not a number (expected an integer from %llu to %llu)",
			     d->name, printable(vb, sizeof(vb), value), (unsigned long long)d->min,
			     (unsigned long long)d->max);
			return;
		}
		if (rc != CONFIG_OK) {
			perr(p, rc, p->lineno, "%s: %s is out of range (%llu to %llu)", d->name,
			     printable(vb, sizeof(vb), value), (unsigned long long)d->min,
			     (unsigned long long)d->max);
			return;
		}
		break;
	case KIND_HOST:
		if (config_check_host(value) != CONFIG_OK) {
			perr(p, CONFIG_ERR_VALUE, p->lineno,
			     "%s: '%s' is not an IP address or host name", d->name,
			     printable(vb, sizeof(vb), value));
			return;
		}
		s->str = strdup(value);
		if (s->str == NULL) {
			p->nomem = 1;
			return;
		}
		break;
	case KIND_PATH:
		if (value[0] == '\0') {
			perr(p, CONFIG_ERR_VALUE, p->lineno, "%s: empty path", d->name);
			return;
		}
		s->str = resolve_path(p, value);
		if (s->str == NULL) {
			if (!p->nomem)
				perr(p, CONFIG_ERR_VALUE, p->lineno, "%s: path is too long",
				     d->name);
			return;
		}
		break;
	case KIND_AUTH:
		if (strcmp(value, "macs") == 0) {
			s->num = CONFIG_AUTH_MACS;
		} else if (strcmp(value, "signatures") == 0) {
			s->num = CONFIG_AUTH_SIGNATURES;
		} else {
			perr(p, CONFIG_ERR_VALUE, p->lineno,
			     "%s: '%s' is neither 'macs' nor 'signatures'", d->name,
			     printable(vb, sizeof(vb), value));
			return;
		}
		break;
	case KIND_QUORUM:
		if (strcmp(value, "f+1") == 0) {
			s->num = QUORUM_F_PLUS_1;
		} else if (strcmp(value, "2f+1") == 0) {
			s->num = QUORUM_2F_PLUS_1;
		} else if (config_parse_uint(value, 1, CONFIG_MAX_REPLICAS, &s->num) != CONFIG_OK) {
			perr(p, CONFIG_ERR_VALUE, p->lineno,
			     "%s: '%s' is not f+1, 2f+1 or an integer from 1 to %u", d->name,
			     printable(vb, sizeof(vb), value), CONFIG_MAX_REPLICAS);
			return;
		}
		break;
	}
	s->ok = 1;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_parse *p = user;
	char nb[64];
	const struct key_desc *keys;
	struct slot *slots;
	size_t nkeys;
	const char *where;
	char wb[32];
	(void)section; /* the section comes from our own reader (scan_section) */

	switch (p->sec) {
	case SEC_IGNORE:
		return 1; /* the section header's error covers its keys */
	case SEC_NONE:
		perr(p, CONFIG_ERR_SECTION, p->lineno, "key '%s' appears before any section",
		     printable(nb, sizeof(nb), name));
		return 1;
	case SEC_GROUP:
		keys = group_keys;
		slots = p->group;
		nkeys = G_COUNT;
		where = "[group]";
		break;
	case SEC_CLIENT:
		keys = client_keys;
		slots = p->client;
		nkeys = C_COUNT;
		where = "[client]";
		break;
	case SEC_REPLICA:
	default:
		keys = replica_keys;
		slots = p->rep[p->cur].v;
		nkeys = R_COUNT;
		snprintf(wb, sizeof(wb), "[replica %u]", p->cur);
		where = wb;
		break;
	}
	if (name[0] == '\0') {
		perr(p, CONFIG_ERR_SYNTAX, p->lineno, "missing key name before '='");
		return 1;
	}
	size_t i;
	for (i = 0; i < nkeys; i++)
		if (strcmp(keys[i].name, name) == 0)
			break;
	if (i == nkeys) {
		perr(p, CONFIG_ERR_KEY, p->lineno, "unknown key '%s' in %s",
		     printable(nb, sizeof(nb), name), where);
		return 1;
	}
	if (slots[i].line != 0) {
		perr(p, CONFIG_ERR_DUPLICATE, p->lineno, "duplicate key '%s' (first set on line %u)",
		     keys[i].name, slots[i].line);
		return 1;
	}
	slots[i].line = p->lineno;
	set_value(p, &keys[i], &slots[i], value);
	return 1;
}

/* ---------------------------------------------------------------- validation */

/* Line to blame for a key: its own line if set, else its section's header. */
static unsigned key_line(const struct slot *s, unsigned section_line)
{
	return s->line != 0 ? s->line : section_line;
}

static void check_required(struct cfg_parse *p, const struct key_desc *keys,
			   const struct slot *slots, size_t n, unsigned line, const char *where)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i].required && slots[i].line == 0)
			perr(p, CONFIG_ERR_MISSING, line, "%s lacks required key '%s'", where,
			     keys[i].name);
}

static int load_public(struct cfg_parse *p, const struct slot *s, const char *key,
		       uint8_t out[CRYPTO_ED25519_PUB])
{
	struct crypto_ed25519_key k;
	char msg[256];
	if (!s->ok)
		return 0;
	msg[0] = '\0';
	int rc = crypto_ed25519_load_public(&k, s->str, msg, sizeof(msg));
	if (rc != CRYPTO_OK) {
		if (rc == CRYPTO_ERR_NOMEM)
			p->nomem = 1;
		perr(p, CONFIG_ERR_KEYFILE, s->line, "%s: %s", key,
		     msg[0] ? msg : crypto_strerror(rc));
		return 0;
	}
	memcpy(out, k.pub, CRYPTO_ED25519_PUB);
	crypto_ed25519_free(&k);
	return 1;
}

static uint64_t group_num(const struct cfg_parse *p, int key)
{
	return p->group[key].line != 0 ? p->group[key].num : group_defaults[key];
}

/* A group value usable in cross-field checks: set and valid, or defaulted. */
static int group_usable(const struct cfg_parse *p, int key)
{
	return p->group[key].line == 0 || p->group[key].ok;
}

/* Bytes of the largest NEW-VIEW a group with these settings may have to send: 2f+1
 * VIEW-CHANGEs, each with its stable checkpoint's proof (2f+1 items), a P item with a
 * full batch for every seq of the log window and two Q items per seq (the pre-prepare
 * and an older prepared certificate), plus the NEW-VIEW's own items. Per-item sizes
 * are those of docs/PROTOCOL.md ("Worst-case VIEW-CHANGE and NEW-VIEW"):
 *   VIEW-CHANGE <= 148 + 68(2f+1) + L(60 + B) + 48(2L)
 *   NEW-VIEW    <= 144 + 40L + (2f+1)(4 + VIEW-CHANGE) */
static uint64_t worst_newview(uint64_t f, uint64_t lw, uint64_t bmb)
{
	uint64_t q = 2 * f + 1;
	uint64_t vc = 148 + 68 * q + lw * (60 + bmb) + 48 * 2 * lw;

	return 144 + 40 * lw + q * (4 + vc);
}

uint64_t config_fit_batch_bytes(unsigned f, uint64_t log_window)
{
	uint64_t q = 2 * (uint64_t)f + 1, lw = log_window, fixed = 144 + 40 * lw, per_vc, perseq;

	if (lw == 0 || lw > (1u << 22) || fixed >= CONFIG_MAX_MESSAGE)
		return 0;
	per_vc = (CONFIG_MAX_MESSAGE - fixed) / q;
	if (per_vc < 4 + 148 + 68 * q + 96 * lw)
		return 0;
	perseq = (per_vc - 4 - 148 - 68 * q - 96 * lw) / lw;
	return perseq > 60 ? perseq - 60 : 0;
}

/* A VIEW-CHANGE carries a full batch for each prepared seq of the window and a NEW-VIEW
 * carries 2f+1 of them: if the worst case exceeded the message limit (the decoder's
 * max_message, which bulwarkd also makes the transport's frame limit), a view change
 * under full load could not be sent and the group would stop for good. This rule bounds
 * log_window x batch_max_bytes instead. The lasting fix is for VIEW-CHANGE to carry
 * digests only, replicas fetching the batches they lack on demand; until then the rule
 * stays. */
static void validate_sizes(struct cfg_parse *p)
{
	uint64_t f, lw, bmb, need, fit;
	unsigned line;

	if (!p->group[G_F].ok || !group_usable(p, G_LW) || !group_usable(p, G_BMB))
		return;
	f = p->group[G_F].num;
	lw = group_num(p, G_LW);
	bmb = group_num(p, G_BMB);
	need = worst_newview(f, lw, bmb);
	if (need <= CONFIG_MAX_MESSAGE)
		return;
	line = p->group[G_BMB].line != 0 ? p->group[G_BMB].line
					 : key_line(&p->group[G_LW], p->group_line);
	fit = config_fit_batch_bytes((unsigned)f, lw);
	if (fit >= 1024)
		perr(p, CONFIG_ERR_RANGE, line,
		     "log_window = %llu x batch_max_bytes = %llu: a worst-case NEW-VIEW (2f+1 = "
		     "%llu full VIEW-CHANGEs) is %llu bytes, above the %u-byte message limit; "
		     "lower batch_max_bytes (at most %llu with this log_window) or log_window",
		     (unsigned long long)lw, (unsigned long long)bmb,
		     (unsigned long long)(2 * f + 1), (unsigned long long)need,
		     CONFIG_MAX_MESSAGE, (unsigned long long)fit);
	else
		perr(p, CONFIG_ERR_RANGE, line,
		     "log_window = %llu x batch_max_bytes = %llu: a worst-case NEW-VIEW (2f+1 = "
		     "%llu full VIEW-CHANGEs) is %llu bytes, above the %u-byte message limit; "
		     "lower log_window",
		     (unsigned long long)lw, (unsigned long long)bmb,
		     (unsigned long long)(2 * f + 1), (unsigned long long)need,
		     CONFIG_MAX_MESSAGE);
}

static void validate_group(struct cfg_parse *p)
{
	if (p->group_line == 0) {
		perr(p, CONFIG_ERR_MISSING, 0, "missing section [group]");
		return;
	}
	check_required(p, group_keys, p->group, G_COUNT, p->group_line, "[group]");
	if (group_usable(p, G_CI) && group_usable(p, G_LW)) {
		uint64_t ci = group_num(p, G_CI), lw = group_num(p, G_LW);
		unsigned line = key_line(&p->group[G_LW], p->group_line);
		if (lw % ci != 0)
			perr(p, CONFIG_ERR_RANGE, line,
			     "log_window = %llu is not a multiple of checkpoint_interval = %llu",
			     (unsigned long long)lw, (unsigned long long)ci);
		else if (lw < 2 * ci)
			perr(p, CONFIG_ERR_RANGE, line,
			     "log_window = %llu must be at least twice checkpoint_interval = %llu "
			     "(so ordering does not stall while a checkpoint becomes stable)",
			     (unsigned long long)lw, (unsigned long long)ci);
	}
	if (group_usable(p, G_PIPE) && group_usable(p, G_LW) &&
	    group_num(p, G_PIPE) > group_num(p, G_LW))
		perr(p, CONFIG_ERR_RANGE, key_line(&p->group[G_PIPE], p->group_line),
		     "pipeline = %llu exceeds log_window = %llu",
		     (unsigned long long)group_num(p, G_PIPE),
		     (unsigned long long)group_num(p, G_LW));
	validate_sizes(p);
	if (group_usable(p, G_TICK) && group_usable(p, G_VALID) &&
	    group_num(p, G_VALID) <= group_num(p, G_TICK))
		perr(p, CONFIG_ERR_RANGE, key_line(&p->group[G_VALID], p->group_line),
		     "statement_validity_ms = %llu must exceed statement_tick_ms = %llu (a "
		     "statement's time is rounded down to a tick)",
		     (unsigned long long)group_num(p, G_VALID),
		     (unsigned long long)group_num(p, G_TICK));
	if (p->group[G_CERT].ok && p->group[G_F].ok &&
	    (p->group[G_CERT].num < p->group[G_F].num + 1 ||
	     p->group[G_CERT].num > 2 * p->group[G_F].num + 1))
		perr(p, CONFIG_ERR_RANGE, p->group[G_CERT].line,
		     "certificate_threshold = %llu is outside f+1..2f+1 = %llu..%llu",
		     (unsigned long long)p->group[G_CERT].num,
		     (unsigned long long)p->group[G_F].num + 1,
		     (unsigned long long)(2 * p->group[G_F].num + 1));
	if (p->group[G_DATA].line == 0) {
		p->group[G_DATA].str = resolve_path(p, "data");
		if (p->group[G_DATA].str == NULL && !p->nomem)
			perr(p, CONFIG_ERR_VALUE, p->group_line,
			     "data_dir: the default path is too long");
	}
	if (p->group[G_ADMIN].ok)
		p->admin_ok = load_public(p, &p->group[G_ADMIN], "admin_key", p->admin);
}

static void validate_replica_set(struct cfg_parse *p)
{
	unsigned count = 0;
	for (unsigned i = 0; i < CONFIG_MAX_REPLICAS; i++)
		if (p->rep[i].line != 0)
			count++;
	if (p->group_line == 0 || !p->group[G_F].ok) {
		if (count == 0)
			perr(p, CONFIG_ERR_MISSING, 0, "no [replica I] sections");
		return;
	}
	unsigned f = (unsigned)p->group[G_F].num, n = 3 * f + 1;
	if (count != n)
		perr(p, CONFIG_ERR_REPLICAS, p->group_line,
		     "f = %u needs n = 3f+1 = %u replicas, found %u [replica I] section%s", f, n,
		     count, count == 1 ? "" : "s");
	for (unsigned i = 0; i < n; i++)
		if (p->rep[i].line == 0)
			perr(p, CONFIG_ERR_REPLICAS, p->group_line,
			     "missing section [replica %u] (replica ids must be 0..%u)", i, n - 1);
	for (unsigned i = n; i < CONFIG_MAX_REPLICAS; i++)
		if (p->rep[i].line != 0)
			perr(p, CONFIG_ERR_REPLICAS, p->rep[i].line,
			     "replica id %u is out of range: f = %u allows ids 0..%u", i, f, n - 1);
}

static void validate_replicas(struct cfg_parse *p)
{
	char wb[32];
	for (unsigned i = 0; i < CONFIG_MAX_REPLICAS; i++) {
		struct replica_state *r = &p->rep[i];
		if (r->line == 0)
			continue;
		snprintf(wb, sizeof(wb), "[replica %u]", i);
		check_required(p, replica_keys, r->v, R_COUNT, r->line, wb);
		if (r->v[R_PORT].ok && r->v[R_HTTP].ok && r->v[R_PORT].num == r->v[R_HTTP].num)
			perr(p, CONFIG_ERR_ADDRESS, r->v[R_HTTP].line,
			     "http_port %llu is the same as port",
			     (unsigned long long)r->v[R_HTTP].num);
		r->pub_ok = load_public(p, &r->v[R_PUB], "public_key", r->pub);
	}
	/* Each later replica is compared against every earlier one. */
	for (unsigned j = 0; j < CONFIG_MAX_REPLICAS; j++) {
		struct replica_state *b = &p->rep[j];
		if (b->line == 0)
			continue;
		for (unsigned i = 0; i < j; i++) {
			struct replica_state *a = &p->rep[i];
			if (a->line == 0)
				continue;
			if (a->pub_ok && b->pub_ok &&
			    memcmp(a->pub, b->pub, CRYPTO_ED25519_PUB) == 0)
				perr(p, CONFIG_ERR_KEYMISMATCH, b->v[R_PUB].line,
				     "public_key is the same key as [replica %u]'s (line %u); every "
				     "replica needs its own key", i, a->v[R_PUB].line);
			if (!a->v[R_HOST].ok || !b->v[R_HOST].ok ||
			    strcasecmp(a->v[R_HOST].str, b->v[R_HOST].str) != 0)
				continue;
			const char *host = b->v[R_HOST].str;
			/* Ports of b (port, http_port) against those of a. */
			static const int which[2] = {R_PORT, R_HTTP};
			for (int x = 0; x < 2; x++) {
				const struct slot *bs = &b->v[which[x]];
				if (!bs->ok)
					continue;
				for (int y = 0; y < 2; y++) {
					const struct slot *as = &a->v[which[y]];
					if (!as->ok || as->num != bs->num)
						continue;
					perr(p, CONFIG_ERR_ADDRESS, bs->line,
					     "%s: %s%s%s:%llu is already the %s of [replica %u] "
					     "(line %u)",
					     replica_keys[which[x]].name, strchr(host, ':') ? "[" : "",
					     host, strchr(host, ':') ? "]" : "",
					     (unsigned long long)bs->num, replica_keys[which[y]].name, i,
					     as->line);
				}
			}
		}
		if (p->admin_ok && b->pub_ok && memcmp(p->admin, b->pub, CRYPTO_ED25519_PUB) == 0)
			perr(p, CONFIG_ERR_KEYMISMATCH, p->group[G_ADMIN].line,
			     "admin_key is the same key as [replica %u]'s public_key (line %u)", j,
			     b->v[R_PUB].line);
	}
}

static void validate_client(struct cfg_parse *p)
{
	struct slot *q = &p->client[C_QUORUM];
	if (!q->ok || q->num == QUORUM_F_PLUS_1 || q->num == QUORUM_2F_PLUS_1)
		return;
	if (p->group_line == 0 || !p->group[G_F].ok)
		return;
	uint64_t f = p->group[G_F].num;
	if (q->num < f + 1 || q->num > 3 * f + 1)
		perr(p, CONFIG_ERR_RANGE, q->line,
		     "read_quorum = %llu must be between f+1 = %llu and n = %llu",
		     (unsigned long long)q->num, (unsigned long long)(f + 1),
		     (unsigned long long)(3 * f + 1));
}

/* Orders errors[from..count) by line (file-level ones first), keeping the order of
 * errors on the same line: reports then read top to bottom like a compiler's. */
static void errs_sort(struct config_errors *errs, unsigned from)
{
	for (unsigned i = from + 1; i < errs->count; i++) {
		struct config_error e = errs->item[i];
		unsigned j = i;
		while (j > from && errs->item[j - 1].line > e.line) {
			errs->item[j] = errs->item[j - 1];
			j--;
		}
		errs->item[j] = e;
	}
}

/* ---------------------------------------------------------------- result */

static char *take(struct slot *s)
{
	char *str = s->str;
	s->str = NULL;
	return str;
}

/* Moves the validated values into out; CONFIG_ERR_NOMEM leaves out to be freed. */
static int build(struct cfg_parse *p, struct bw_config *out)
{
	struct slot *g = p->group;
	out->path = strdup(p->name);
	out->dir = strdup(p->dir);
	if (out->path == NULL || out->dir == NULL)
		return CONFIG_ERR_NOMEM;
	out->group_id = g[G_ID].num;
	out->f = (unsigned)g[G_F].num;
	out->n = 3 * out->f + 1;
	out->epoch = group_num(p, G_EPOCH);
	out->checkpoint_interval = (uint32_t)group_num(p, G_CI);
	out->log_window = (uint32_t)group_num(p, G_LW);
	out->batch_max_requests = (uint32_t)group_num(p, G_BMR);
	out->batch_max_bytes = (uint32_t)group_num(p, G_BMB);
	out->pipeline = (uint32_t)group_num(p, G_PIPE);
	out->view_change_timeout_ms = (uint32_t)group_num(p, G_VCT);
	out->max_clock_skew_ms = (uint32_t)group_num(p, G_SKEW);
	out->client_auth = (enum config_client_auth)group_num(p, G_AUTH);
	out->statement_tick_ms = (uint32_t)group_num(p, G_TICK);
	out->statement_validity_ms = (uint32_t)group_num(p, G_VALID);
	out->certificate_threshold = g[G_CERT].line != 0 ? (unsigned)g[G_CERT].num : out->f + 1;
	out->max_chunk_bytes = (uint32_t)group_num(p, G_CHUNK);
	out->data_dir = take(&g[G_DATA]);
	out->admin_key_path = take(&g[G_ADMIN]);
	if (out->data_dir == NULL)
		return CONFIG_ERR_NOMEM;
	memcpy(out->admin_key, p->admin, CRYPTO_ED25519_PUB);

	out->client_timeout_ms = p->client[C_TIMEOUT].line ? (uint32_t)p->client[C_TIMEOUT].num : 500;
	uint64_t q = p->client[C_QUORUM].line ? p->client[C_QUORUM].num : QUORUM_2F_PLUS_1;
	if (q == QUORUM_F_PLUS_1)
		out->read_quorum = out->f + 1;
	else if (q == QUORUM_2F_PLUS_1)
		out->read_quorum = 2 * out->f + 1;
	else
		out->read_quorum = (unsigned)q;

	out->replicas = calloc(out->n, sizeof(*out->replicas));
	if (out->replicas == NULL)
		return CONFIG_ERR_NOMEM;
	for (unsigned i = 0; i < out->n; i++) {
		struct replica_state *r = &p->rep[i];
		struct bw_config_replica *o = &out->replicas[i];
		o->id = i;
		o->host = take(&r->v[R_HOST]);
		o->port = (uint16_t)r->v[R_PORT].num;
		o->http_port = (uint16_t)r->v[R_HTTP].num;
		o->public_key_path = take(&r->v[R_PUB]);
		o->private_key_path = take(&r->v[R_PRIV]);
		o->private_key_line = r->v[R_PRIV].line;
		o->section_line = r->line;
		memcpy(o->public_key, r->pub, CRYPTO_ED25519_PUB);
		if (r->v[R_DATA].line) {
			o->data_dir = take(&r->v[R_DATA]);
		} else {
			size_t len = strlen(out->data_dir) + sizeof("/replica") + 3;
			o->data_dir = malloc(len);
			if (o->data_dir != NULL)
				snprintf(o->data_dir, len, "%s/replica%u", out->data_dir, i);
		}
		if (o->data_dir == NULL)
			return CONFIG_ERR_NOMEM;
	}
	return CONFIG_OK;
}

void config_free(struct bw_config *c)
{
	if (c == NULL)
		return;
	if (c->replicas != NULL) {
		for (unsigned i = 0; i < c->n; i++) {
			free(c->replicas[i].host);
			free(c->replicas[i].public_key_path);
			free(c->replicas[i].private_key_path);
			free(c->replicas[i].data_dir);
		}
		free(c->replicas);
	}
	free(c->path);
	free(c->dir);
	free(c->data_dir);
	free(c->admin_key_path);
	memset(c, 0, sizeof(*c));
}

int config_load_buffer(const char *name, const char *dir, const char *buf, size_t len,
		       struct bw_config *out, struct config_errors *errs)
{
	if (name == NULL || dir == NULL || (buf == NULL && len > 0) || out == NULL ||
	    errs == NULL)
		return CONFIG_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (dir[0] != '/') {
		config_errors_add(errs, name, CONFIG_ERR_ARG, 0, "folder '%s' is not absolute", dir);
		return CONFIG_ERR_ARG;
	}
	if (len > CONFIG_MAX_FILE_SIZE) {
		config_errors_add(errs, name, CONFIG_ERR_TOOBIG, 0, "file is larger than %u bytes",
				  CONFIG_MAX_FILE_SIZE);
		return CONFIG_ERR_TOOBIG;
	}
	unsigned first = errs->count;
	unsigned before = errs->count + errs->dropped;
	struct cfg_parse *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return CONFIG_ERR_NOMEM;
	p->name = name;
	p->dir = dir;
	p->buf = buf;
	p->len = len;
	p->errs = errs;
	p->sec = SEC_NONE;

	int rc = ini_parse_stream(cfg_reader, p, cfg_handler, p);
	if (rc == -2 || p->nomem) {
		rc = CONFIG_ERR_NOMEM;
		goto err_parse;
	}
	if (rc > 0 && errs->count + errs->dropped == before)
		perr(p, CONFIG_ERR_SYNTAX, (unsigned)rc, "syntax error");

	validate_group(p);
	validate_replica_set(p);
	validate_replicas(p);
	validate_client(p);
	if (p->nomem) {
		rc = CONFIG_ERR_NOMEM;
		goto err_parse;
	}
	if (errs->count + errs->dropped != before) {
		errs_sort(errs, first);
		rc = CONFIG_ERR_INVALID;
		goto err_parse;
	}
	rc = build(p, out);
	if (rc != CONFIG_OK)
		goto err_build;
	parse_free(p);
	return CONFIG_OK;

err_build:
	config_free(out);
err_parse:
	parse_free(p);
	return rc;
}

int config_load(const char *path, struct bw_config *out, struct config_errors *errs)
{
	if (path == NULL || out == NULL || errs == NULL)
		return CONFIG_ERR_ARG;
	memset(out, 0, sizeof(*out));
	int rc = CONFIG_ERR_IO;
	char *buf = NULL;
	char *abs = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		config_errors_add(errs, path, CONFIG_ERR_IO, 0, "cannot open: %s", strerror(errno));
		goto err;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		config_errors_add(errs, path, CONFIG_ERR_IO, 0, "not a regular file");
		goto err_after_open;
	}
	if (st.st_size > (off_t)CONFIG_MAX_FILE_SIZE) {
		config_errors_add(errs, path, CONFIG_ERR_TOOBIG, 0, "file is larger than %u bytes",
				  CONFIG_MAX_FILE_SIZE);
		rc = CONFIG_ERR_TOOBIG;
		goto err_after_open;
	}
	buf = malloc(CONFIG_MAX_FILE_SIZE + 1);
	if (buf == NULL) {
		rc = CONFIG_ERR_NOMEM;
		goto err_after_open;
	}
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, CONFIG_MAX_FILE_SIZE + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			config_errors_add(errs, path, CONFIG_ERR_IO, 0, "cannot read: %s",
					  strerror(errno));
			goto err_after_buf;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > CONFIG_MAX_FILE_SIZE) {
			config_errors_add(errs, path, CONFIG_ERR_TOOBIG, 0,
					  "file is larger than %u bytes", CONFIG_MAX_FILE_SIZE);
			rc = CONFIG_ERR_TOOBIG;
			goto err_after_buf;
		}
	}
	abs = realpath(path, NULL);
	if (abs == NULL) {
		config_errors_add(errs, path, CONFIG_ERR_IO, 0, "cannot resolve path: %s",
				  strerror(errno));
		goto err_after_buf;
	}
	char *slash = strrchr(abs, '/');
	if (slash == abs)
		slash[1] = '\0'; /* the file is in "/" */
	else
		*slash = '\0';
	rc = config_load_buffer(path, abs, buf, len, out, errs);
	free(abs);
err_after_buf:
	free(buf);
err_after_open:
	close(fd);
err:
	return rc;
}

int config_load_private_key(const struct bw_config *c, unsigned id,
			    struct crypto_ed25519_key *key, struct config_errors *errs)
{
	if (c == NULL || key == NULL || errs == NULL || c->replicas == NULL || id >= c->n)
		return CONFIG_ERR_ARG;
	const struct bw_config_replica *r = &c->replicas[id];
	if (r->private_key_path == NULL) {
		config_errors_add(errs, c->path, CONFIG_ERR_MISSING, r->section_line,
				  "[replica %u] has no private_key (needed to run replica %u)", id, id);
		return CONFIG_ERR_MISSING;
	}
	char msg[256];
	msg[0] = '\0';
	int rc = crypto_ed25519_load_private(key, r->private_key_path, msg, sizeof(msg));
	if (rc != CRYPTO_OK) {
		int code = rc == CRYPTO_ERR_KEYPERM ? CONFIG_ERR_KEYPERM : CONFIG_ERR_KEYFILE;
		config_errors_add(errs, c->path, code, r->private_key_line, "private_key: %s",
				  msg[0] ? msg : crypto_strerror(rc));
		return code;
	}
	if (!crypto_memeq(key->pub, r->public_key, CRYPTO_ED25519_PUB)) {
		crypto_ed25519_free(key);
		config_errors_add(errs, c->path, CONFIG_ERR_KEYMISMATCH, r->private_key_line,
				  "private_key %s does not match public_key %s of [replica %u]",
				  r->private_key_path, r->public_key_path, id);
		return CONFIG_ERR_KEYMISMATCH;
	}
	return CONFIG_OK;
}
