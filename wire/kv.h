/* kv.h: encoding of the replicated key-value service's operations and results, shared
 * by the replicas (replica/app/kv.c) and the client library. Pure: no I/O. */
#ifndef BULWARK_WIRE_KV_H
#define BULWARK_WIRE_KV_H

#include <stddef.h>
#include <stdint.h>

#include "wire/wire.h"

/*
 * An operation is the `op` bytes of a wire_request (little-endian like the rest of
 * wire/, lengths are u32 followed by the bytes):
 *
 *   PUT  u8 1, key bytes, value bytes
 *   DEL  u8 2, key bytes
 *   CAS  u8 3, key bytes, expected version u64, value bytes
 *   GET  u8 4, key bytes                        (the only read-only operation)
 *
 * Nothing may follow the last field. A result (the deterministic part of a REPLY):
 *
 *   OK            u8 0, version u64, value bytes  (GET: the value; writes: empty.
 *                                                  version: the key's version after
 *                                                  the write, the deleted version for
 *                                                  DEL, the current one for GET)
 *   NOT_FOUND     u8 1                            (GET or DEL of an absent key)
 *   CAS_MISMATCH  u8 2, current version u64       (0: the key does not exist)
 *   TOO_BIG       u8 3, field u8, limit u32       (WIRE_KV_FIELD_*: which size, and
 *                                                  the limit it is above)
 *   BAD_OP        u8 4, reason u8                 (WIRE_KV_BAD_*)
 *
 * Every key carries a version: 1 when the key is created, +1 on every write to it.
 * A deleted key is gone: written again it starts at version 1. CAS with expected
 * version 0 creates a key that must not exist.
 */

enum wire_kv_type {
	WIRE_KV_PUT = 1,
	WIRE_KV_DEL = 2,
	WIRE_KV_CAS = 3,
	WIRE_KV_GET = 4
};

enum wire_kv_status {
	WIRE_KV_OK = 0,
	WIRE_KV_NOT_FOUND = 1,
	WIRE_KV_CAS_MISMATCH = 2,
	WIRE_KV_TOO_BIG = 3,
	WIRE_KV_BAD_OP = 4
};

/* Which size a TOO_BIG result (or a WIRE_ERR_TOO_BIG decode) is about. */
enum wire_kv_field {
	WIRE_KV_FIELD_NONE = 0,
	WIRE_KV_FIELD_KEY = 1,
	WIRE_KV_FIELD_VALUE = 2
};

/* Why an operation is BAD_OP. */
enum wire_kv_bad {
	WIRE_KV_BAD_TRUNCATED = 1, /* the op ends inside a field (or is empty) */
	WIRE_KV_BAD_TRAILING = 2,  /* bytes after the last field */
	WIRE_KV_BAD_TYPE = 3,      /* unknown operation type */
	WIRE_KV_BAD_READ_ONLY = 4  /* a write operation sent as a read-only request */
};

/* Size limits of keys and values. */
struct wire_kv_limits {
	uint32_t max_key;
	uint32_t max_value;
};
#define WIRE_KV_MAX_KEY_DEFAULT 1024u
#define WIRE_KV_MAX_VALUE_DEFAULT (1024u * 1024u)
/* 1 KiB keys, 1 MiB values. */
extern const struct wire_kv_limits wire_kv_limits_default;

/* A decoded operation. key and value point into the decoded bytes (borrowed). */
struct wire_kv_op {
	uint8_t type;             /* enum wire_kv_type */
	struct wire_bytes key;
	struct wire_bytes value;  /* PUT, CAS */
	uint64_t version;         /* CAS: the expected version */
	uint8_t too_big;          /* after WIRE_ERR_TOO_BIG: enum wire_kv_field */
};

/* Decode an operation strictly: a known type, each length checked against lim
 * (NULL = wire_kv_limits_default) before it is used, no trailing bytes. Returns 0, or
 * WIRE_ERR_TRUNCATED, WIRE_ERR_TRAILING, WIRE_ERR_TYPE, or WIRE_ERR_TOO_BIG with
 * out->too_big naming the field. out->type is set whenever the type byte was read.
 * Never allocates; p is borrowed and must outlive out. */
int wire_kv_decode_op(const uint8_t *p, size_t len, const struct wire_kv_limits *lim,
		      struct wire_kv_op *out);
/* Append op's encoding to b. Returns 0, WIRE_ERR_TYPE for an unknown type, or
 * wire_buf_error(b). */
int wire_kv_encode_op(struct wire_buf *b, const struct wire_kv_op *op);

/* 1 if type names a read-only operation (GET). */
int wire_kv_is_read_only(uint8_t type);

/* A decoded result. value points into the decoded bytes (borrowed). */
struct wire_kv_result {
	uint8_t status;           /* enum wire_kv_status */
	uint64_t version;         /* OK, CAS_MISMATCH */
	struct wire_bytes value;  /* OK (empty for writes) */
	uint8_t field;            /* TOO_BIG: enum wire_kv_field */
	uint32_t limit;           /* TOO_BIG */
	uint8_t reason;           /* BAD_OP: enum wire_kv_bad */
};

/* Append a result's encoding to b (fields not used by res->status are ignored).
 * Returns 0, WIRE_ERR_FIELD for an unknown status, or wire_buf_error(b). */
int wire_kv_encode_result(struct wire_buf *b, const struct wire_kv_result *res);
/* Decode a result strictly; a value longer than max_value is WIRE_ERR_TOO_BIG. Returns
 * 0, WIRE_ERR_TRUNCATED, WIRE_ERR_TRAILING, WIRE_ERR_TOO_BIG or WIRE_ERR_FIELD (unknown
 * status, field or reason). p is borrowed and must outlive out. */
int wire_kv_decode_result(const uint8_t *p, size_t len, uint32_t max_value,
			  struct wire_kv_result *out);

/* Static names for messages and the CLI. Never NULL. */
const char *wire_kv_type_name(uint8_t type);
const char *wire_kv_status_name(uint8_t status);
const char *wire_kv_bad_name(uint8_t reason);
const char *wire_kv_field_name(uint8_t field);

#endif
