/* unit.h: the shared main() of every Check suite under tests/unit. */
#ifndef BULWARK_TESTS_UNIT_H
#define BULWARK_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

/* Each tests/unit/test_NAME.c builds into its own binary: define
 * `static Suite *NAME_suite(void)` and end the file with UNIT_MAIN(NAME_suite). */
#define UNIT_MAIN(suite_fn)                                                   \
	int main(void)                                                        \
	{                                                                     \
		SRunner *sr = srunner_create(suite_fn());                     \
		srunner_run_all(sr, CK_NORMAL);                               \
		int failed = srunner_ntests_failed(sr);                       \
		srunner_free(sr);                                             \
		return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;             \
	}

#endif
