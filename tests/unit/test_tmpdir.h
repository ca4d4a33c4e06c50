/* test_tmpdir.h: the temporary folders of tests that write files (LevelDB stores). */
#ifndef BULWARK_TESTS_TMPDIR_H
#define BULWARK_TESTS_TMPDIR_H

/* nftw needs _XOPEN_SOURCE 700, defined by the test file before any system header. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* One folder per test binary run, made and removed by the parent process so that it
 * goes even when a forked test dies (register tmp_base_setup/tmp_base_teardown as an
 * unchecked fixture), and one folder per test inside it, `dir` (tmp_setup/tmp_teardown
 * as a checked fixture). */
static char tmp_base[128];
static char dir[256];

static int tmp__rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove path and everything below it, not following symbolic links. */
static void tmp_remove(const char *path)
{
	nftw(path, tmp__rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void tmp_base_setup(void)
{
	snprintf(tmp_base, sizeof(tmp_base), "/tmp/bulwark-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp_base));
}

static void tmp_base_teardown(void)
{
	tmp_remove(tmp_base);
}

static void tmp_setup(void)
{
	snprintf(dir, sizeof(dir), "%s/t-XXXXXX", tmp_base);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void tmp_teardown(void)
{
	tmp_remove(dir);
}

#endif
