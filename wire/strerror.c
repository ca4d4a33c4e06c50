/* strerror.c: names of wire's error codes and message types. */
#include "wire/wire.h"

const char *wire_strerror(int err)
{
	switch (err) {
	case WIRE_OK:
		return "success";
	case WIRE_ERR_TRUNCATED:
		return "message truncated: input ends inside a field";
	case WIRE_ERR_TRAILING:
		return "trailing bytes after the last field";
	case WIRE_ERR_VERSION:
		return "unsupported wire version";
	case WIRE_ERR_TYPE:
		return "unknown message type";
	case WIRE_ERR_TOO_BIG:
		return "length or count above its limit";
	case WIRE_ERR_FLAGS:
		return "reserved flag bits set";
	case WIRE_ERR_FIELD:
		return "field holds a forbidden value";
	case WIRE_ERR_NOMEM:
		return "out of memory";
	default:
		return "unknown wire error";
	}
}

const char *wire_type_name(uint8_t type)
{
	switch (type) {
	case WIRE_REQUEST:
		return "REQUEST";
	case WIRE_REPLY:
		return "REPLY";
	case WIRE_PREPREPARE:
		return "PRE-PREPARE";
	case WIRE_PREPARE:
		return "PREPARE";
	case WIRE_COMMIT:
		return "COMMIT";
	case WIRE_CHECKPOINT:
		return "CHECKPOINT";
	case WIRE_VIEWCHANGE:
		return "VIEW-CHANGE";
	case WIRE_NEWVIEW:
		return "NEW-VIEW";
	case WIRE_STATUS:
		return "STATUS";
	case WIRE_FETCH:
		return "FETCH";
	case WIRE_META:
		return "META";
	case WIRE_DATA:
		return "DATA";
	default:
		return "UNKNOWN";
	}
}
