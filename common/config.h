/* config.h: the INI configuration of one bulwark group: parsing, validation, key loading. */
#ifndef BULWARK_COMMON_CONFIG_H
#define BULWARK_COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "crypto/crypto.h"

/*
 * File format (inih; '=' or ':' between key and value; ';' or '#' starts a comment
 * line; " ;" starts a comment after a value). Relative paths are relative to the
 * folder of the config file. Keys marked * are required.
 *
 *   [group]
 *   id *                    64-bit group id
 *   f *                     faults tolerated, 1..21; the group has n = 3f+1 replicas
 *   epoch                   ring epoch (default 1)
 *   checkpoint_interval     sequence numbers between checkpoints, 1..1048576 (64)
 *   log_window              a multiple of checkpoint_interval, at least twice it (128)
 *   batch_max_requests      1..65535 (512), the most one batch can hold
 *   batch_max_bytes         1024..16777216 (262144); with log_window and f, a
 *                           worst-case NEW-VIEW must fit CONFIG_MAX_MESSAGE
 *   pipeline                sequence numbers in flight, 1..log_window (8)
 *   view_change_timeout_ms  10..600000 (1000)
 *   max_clock_skew_ms       1..3600000 (2000)
 *   client_auth             macs | signatures (macs)
 *   data_dir                base data folder (data); replica i uses data_dir/replica<i>
 *   admin_key *             admin public key (PEM)
 *   statement_tick_ms       100..3600000 (10000): freshness statements carry the time
 *                           rounded down to this, so replicas' signatures match
 *   statement_validity_ms   200..86400000 (60000), above the tick: a statement expires
 *                           this long after its (rounded) time
 *   certificate_threshold   replica signatures in a certificate, f+1..2f+1 (f+1)
 *   max_chunk_bytes         4096..1048576 (262144): the largest chunk a replica stores
 *
 *   [replica I]             one per replica, I = 0..n-1, all present
 *   host *                  IPv4/IPv6 literal or host name
 *   port *                  replica protocol port, 1..65535
 *   http_port *             HTTP read plane port, 1..65535
 *   public_key *            Ed25519 public key (PEM), loaded and checked at load time
 *   private_key             Ed25519 private key (PEM, mode 0600); only the replica's own
 *   data_dir                overrides [group] data_dir/replica<I>
 *
 *   [client]
 *   timeout_ms              1..600000 (500)
 *   read_quorum             f+1 | 2f+1 | an integer from f+1 to n (2f+1)
 */

#define CONFIG_MAX_F         21u  /* n = 3 * 21 + 1 = 64 */
#define CONFIG_MAX_REPLICAS  64u
/* The largest protocol message (bytes): wire_limits_default.max_message, which bulwarkd
 * also makes the transport's replica frame limit (common does not link wire). */
#define CONFIG_MAX_MESSAGE   (128u << 20)
#define CONFIG_MAX_ERRORS    32u
#define CONFIG_ERROR_LEN     320u
#define CONFIG_MAX_FILE_SIZE (256u * 1024u)

/* Error codes (negative); 0 is success. Every collected error carries one. */
enum config_err {
	CONFIG_OK = 0,
	CONFIG_ERR_ARG = -1,         /* bad argument to a config_ function */
	CONFIG_ERR_NOMEM = -2,
	CONFIG_ERR_IO = -3,          /* the config file cannot be read */
	CONFIG_ERR_TOOBIG = -4,      /* file or line longer than the limit */
	CONFIG_ERR_SYNTAX = -5,      /* not a section, key = value or comment line */
	CONFIG_ERR_SECTION = -6,     /* unknown or duplicate section */
	CONFIG_ERR_KEY = -7,         /* unknown key */
	CONFIG_ERR_DUPLICATE = -8,   /* key set twice in one section */
	CONFIG_ERR_MISSING = -9,     /* required section or key absent */
	CONFIG_ERR_NUMBER = -10,     /* value is not a decimal integer */
	CONFIG_ERR_RANGE = -11,      /* integer outside its allowed range */
	CONFIG_ERR_VALUE = -12,      /* other bad value (name, host, path) */
	CONFIG_ERR_REPLICAS = -13,   /* replica set is not 0..n-1 with n = 3f+1 */
	CONFIG_ERR_ADDRESS = -14,    /* host:port used twice */
	CONFIG_ERR_KEYFILE = -15,    /* key file missing, unreadable or not Ed25519 PEM */
	CONFIG_ERR_KEYPERM = -16,    /* private key readable by group or others */
	CONFIG_ERR_KEYMISMATCH = -17, /* private key does not match public_key, or reused */
	CONFIG_ERR_INVALID = -18     /* the configuration has errors (see the list) */
};

const char *config_strerror(int err);

/* One problem, formatted "file:line: what is wrong" ("file: ..." when line is 0). */
struct config_error {
	int code;      /* enum config_err */
	unsigned line; /* 1-based; 0 for the file as a whole */
	char text[CONFIG_ERROR_LEN];
};

/* A bounded list: errors past CONFIG_MAX_ERRORS are counted in dropped. */
struct config_errors {
	unsigned count;
	unsigned dropped;
	struct config_error item[CONFIG_MAX_ERRORS];
};

void config_errors_init(struct config_errors *errs);
/* Appends one error (text "name:line: " + fmt); counted in dropped when full. */
void config_errors_add(struct config_errors *errs, const char *name, int code, unsigned line,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Prints each error on its own line, then "(N more errors not shown)" if any. */
void config_errors_print(const struct config_errors *errs, FILE *out);

enum config_client_auth {
	CONFIG_AUTH_MACS = 0,      /* MAC authenticators on client requests */
	CONFIG_AUTH_SIGNATURES = 1 /* every client request signed (robust mode) */
};
const char *config_client_auth_name(enum config_client_auth a);

struct bw_config_replica {
	unsigned id;
	char *host;              /* owned */
	uint16_t port;
	uint16_t http_port;
	char *public_key_path;   /* absolute, owned */
	char *private_key_path;  /* absolute, owned; NULL when not configured */
	char *data_dir;          /* absolute, owned */
	uint8_t public_key[CRYPTO_ED25519_PUB];
	unsigned section_line;   /* line of [replica I], for later messages */
	unsigned private_key_line; /* line of private_key, 0 when absent */
};

struct bw_config {
	char *path;              /* the config file as given, owned (used in messages) */
	char *dir;               /* absolute folder of the config file, owned */
	uint64_t group_id;
	unsigned f;
	unsigned n;              /* 3f+1 */
	uint64_t epoch;
	uint32_t checkpoint_interval;
	uint32_t log_window;
	uint32_t batch_max_requests;
	uint32_t batch_max_bytes;
	uint32_t pipeline;
	uint32_t view_change_timeout_ms;
	uint32_t max_clock_skew_ms;
	enum config_client_auth client_auth;
	char *data_dir;          /* absolute, owned */
	char *admin_key_path;    /* absolute, owned */
	uint8_t admin_key[CRYPTO_ED25519_PUB];
	uint32_t statement_tick_ms;
	uint32_t statement_validity_ms;
	unsigned certificate_threshold; /* resolved: f+1 when not configured */
	uint32_t max_chunk_bytes;
	struct bw_config_replica *replicas; /* n entries, index = id, owned */
	uint32_t client_timeout_ms;
	unsigned read_quorum;    /* resolved count, f+1..n */
};

/* Reads, parses and validates path. Every problem found is appended to errs (which
 * the caller initialised with config_errors_init; borrowed), sorted by line. Each
 * names the line of the offending key; a missing key, or a rule broken by a key
 * left at its default, names its section's header; a replica set that is not
 * 0..3f names the [group] header; whole-file problems have line 0. Returns 0 and
 * fills out (caller frees with config_free), or a negative code: CONFIG_ERR_INVALID
 * when errors were collected, CONFIG_ERR_IO / CONFIG_ERR_TOOBIG for an unreadable or
 * oversize file (also in errs), CONFIG_ERR_NOMEM. On failure out is left zeroed. */
int config_load(const char *path, struct bw_config *out, struct config_errors *errs);

/* Same, from len bytes of buf (borrowed; need not be NUL-terminated). name is used
 * in messages; dir (absolute) anchors relative paths. Both are copied. */
int config_load_buffer(const char *name, const char *dir, const char *buf, size_t len,
		       struct bw_config *out, struct config_errors *errs);

/* Frees what config_load filled in and zeroes c. Safe on a zeroed struct. */
void config_free(struct bw_config *c);

/* Loads the private key of replica id into key (caller frees with
 * crypto_ed25519_free): it must be configured, exist, have mode 0600 (or stricter)
 * and match the replica's public_key. Problems are appended to errs. Returns 0,
 * CONFIG_ERR_ARG (id >= n), CONFIG_ERR_MISSING, CONFIG_ERR_KEYFILE,
 * CONFIG_ERR_KEYPERM or CONFIG_ERR_KEYMISMATCH. */
int config_load_private_key(const struct bw_config *c, unsigned id,
			    struct crypto_ed25519_key *key, struct config_errors *errs);

/* Strict decimal: digits only (no sign, space or prefix), no overflow, within
 * [min, max]. Returns 0, CONFIG_ERR_NUMBER or CONFIG_ERR_RANGE; *out set on success. */
int config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* 0 if host is an IPv4 or IPv6 literal or a syntactically valid DNS name
 * (labels of letters, digits and '-', at most 253 bytes), CONFIG_ERR_VALUE otherwise. */
int config_check_host(const char *host);

/* The largest batch_max_bytes for which a worst-case NEW-VIEW (2f+1 VIEW-CHANGEs, each
 * with log_window full batches) fits CONFIG_MAX_MESSAGE; 0 if none does (log_window 0
 * or above 2^22 included). config_load refuses a batch_max_bytes above it. */
uint64_t config_fit_batch_bytes(unsigned f, uint64_t log_window);

#endif
