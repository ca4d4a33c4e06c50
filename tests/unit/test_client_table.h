/* test_client_table.h: checking the store's client table in store tests. */
#ifndef BULWARK_TESTS_CLIENT_TABLE_H
#define BULWARK_TESTS_CLIENT_TABLE_H

#include <check.h>
#include <string.h>

#include "replica/store/store.h"
#include "wire/wire.h"

/* Test client i's key: 32 bytes of 0x30 + i. */
static inline void tc_client_key(uint8_t out[WIRE_KEY_LEN], int i)
{
	memset(out, 0x30 + i, WIRE_KEY_LEN);
}

/* The entry of (client i, lane) reads timestamp ts and result want (ts 0: none). */
static inline void tc_expect_client(struct store *s, int i, uint32_t lane, uint64_t ts,
				    const char *want)
{
	uint8_t k[WIRE_KEY_LEN];
	struct wire_buf r;
	uint64_t got = 99;

	tc_client_key(k, i);
	wire_buf_init(&r);
	ck_assert_int_eq(store_client_last(s, k, lane, &got, &r), 0);
	ck_assert_uint_eq(got, ts);
	if (ts == 0) {
		ck_assert_uint_eq(r.len, 0);
	} else {
		ck_assert_uint_eq(r.len, strlen(want));
		ck_assert(memcmp(r.p, want, r.len) == 0);
	}
	wire_buf_free(&r);
}

#endif
