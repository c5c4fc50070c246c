/*
 * test_hostd_ds.c - datastore paths (the only way a client names a host file),
 * admission arithmetic and the API's route matcher.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "hostd/hostd.h"
#include "lib/urlpath.h"

static char g_tmp[PATH_MAX];
static struct hostd_cfg g_cfg;

static int setup(void **state)
{
	char p[PATH_MAX + 32];
	snprintf(g_tmp, sizeof(g_tmp), "/tmp/test_hostd_ds.XXXXXX");
	if (!mkdtemp(g_tmp))
		return -1;
	snprintf(p, sizeof(p), "%s/ds1", g_tmp);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/ds1/vm", g_tmp);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/ds1/out", g_tmp);
	if (symlink("/etc", p) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/ds1/vm/evil.vmx", g_tmp);
	if (symlink("/etc/passwd", p) < 0)
		return -1;
	memset(&g_cfg, 0, sizeof(g_cfg));
	snprintf(p, sizeof(p), "%s/ds1", g_tmp);
	return ds_add(&g_cfg, "ds1", p, NULL);
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_split(void **state)
{
	char ds[64];
	const char *rel;

	assert_int_equal(ds_split("[storage1] m0n0wall/m0n0wall.vmx", ds, sizeof(ds), &rel), 0);
	assert_string_equal(ds, "storage1");
	assert_string_equal(rel, "m0n0wall/m0n0wall.vmx");
	assert_int_equal(ds_split("[] a.vmx", ds, sizeof(ds), &rel), -EINVAL);
	assert_int_equal(ds_split("storage1 a.vmx", ds, sizeof(ds), &rel), -EINVAL);
	assert_int_equal(ds_split("[storage1 a.vmx", ds, sizeof(ds), &rel), -EINVAL);
}

static void test_resolve_ok(void **state)
{
	char abs[PATH_MAX], want[PATH_MAX + 32], real[PATH_MAX];
	struct verr e = { "" };

	assert_int_equal(ds_resolve(&g_cfg, "[ds1] vm/vm.vmx", abs, sizeof(abs), &e), 0);
	assert_non_null(realpath(g_tmp, real));
	snprintf(want, sizeof(want), "%s/ds1/vm/vm.vmx", real);
	assert_string_equal(abs, want);
	/* A directory that does not exist yet (create) is fine. */
	assert_int_equal(ds_resolve(&g_cfg, "[ds1] new/dir/x.vmx", abs, sizeof(abs), &e), 0);
}

static void expect_refused(const char *file, const char *words)
{
	char abs[PATH_MAX];
	struct verr e = { "" };

	assert_true(ds_resolve(&g_cfg, file, abs, sizeof(abs), &e) < 0);
	assert_true(strncmp(e.msg, "file: ", 6) == 0);
	if (!strstr(e.msg, words))
		fail_msg("%s: message '%s' lacks '%s'", file, e.msg, words);
}

static void test_resolve_refused(void **state)
{
	expect_refused("[ds1] ../../etc/passwd", "'..'");
	expect_refused("[ds1] vm/../../x.vmx", "'..'");
	expect_refused("[ds1] ./vm/vm.vmx", "'.'");
	expect_refused("[ds1] vm//vm.vmx", "empty");
	expect_refused("[ds1] /etc/passwd.vmx", "relative");
	expect_refused("[ds1] vm/vm.txt", ".vmx");
	expect_refused("[ds1] .vmx", ".vmx");
	expect_refused("[nosuch] vm/vm.vmx", "no datastore named 'nosuch'");
	expect_refused("vm/vm.vmx", "datastore path");
	expect_refused("[ds1] out/passwd.vmx", "outside datastore");
	expect_refused("[ds1] vm/evil.vmx", "outside datastore");
	expect_refused("[ds1] vm/a\nb.vmx", "control characters");
	expect_refused("[ds1] vm\\..\\x.vmx", "'..'");
}

static void test_ds_add(void **state)
{
	struct hostd_cfg c = { 0 };
	struct verr e = { "" };

	assert_int_equal(ds_add(&c, "a", g_tmp, &e), 0);
	assert_int_equal(ds_add(&c, "a", g_tmp, &e), -EEXIST);
	assert_int_equal(ds_add(&c, "b/c", g_tmp, &e), -EINVAL);
	assert_true(ds_add(&c, "d", "/nonexistent/dir", &e) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/dir"));
}

static void test_admit(void **state)
{
	char msg[300];

	assert_true(admit_overhead_mb(BUILDTYPE_DEBUG) > admit_overhead_mb(BUILDTYPE_DEFAULT));
	assert_true(admit_overhead_mb(BUILDTYPE_STATS) > admit_overhead_mb(BUILDTYPE_DEFAULT));
	assert_int_equal(admit_check(1000, 400, 600, msg, sizeof(msg)), 0);
	assert_int_equal(admit_check(1000, 400, 601, msg, sizeof(msg)), -ENOSPC);
	assert_non_null(strstr(msg, "capacity 1000 MiB"));
	assert_non_null(strstr(msg, "400 MiB reserved"));
	assert_non_null(strstr(msg, "600 MiB free"));
	assert_non_null(strstr(msg, "needs 601 MiB"));
	/* Over-committed already (capacity lowered): nothing more fits, no wrap-around. */
	assert_int_equal(admit_check(100, 200, 1, msg, sizeof(msg)), -ENOSPC);
	assert_non_null(strstr(msg, "0 MiB free"));
	assert_true(admit_host_mem_mb() > 0);
}

static void test_routes(void **state)
{
	char store[256];
	const char *args[4] = { 0 };

	assert_int_equal(urlpath_match("/vms/{id}/power", "/vms/12/power", store, sizeof(store), args, 4), 1);
	assert_string_equal(args[0], "12");
	assert_int_equal(urlpath_match("", "", store, sizeof(store), args, 4), 1);
	assert_int_equal(urlpath_match("/vms", "/vms", store, sizeof(store), args, 4), 1);
	assert_int_equal(urlpath_match("/vms", "/vms/", store, sizeof(store), args, 4), 0);
	assert_int_equal(urlpath_match("/vms/{id}", "/vms/", store, sizeof(store), args, 4), 0);
	assert_int_equal(urlpath_match("/vms/{id}", "/vms/1/power", store, sizeof(store), args, 4), 0);
	assert_int_equal(urlpath_match("/vms/{id}/power", "/vms/1", store, sizeof(store), args, 4), 0);
	assert_int_equal(urlpath_match("/tasks", "/taskss", store, sizeof(store), args, 4), 0);
	assert_int_equal(urlpath_match("/users/{name}", "/users/alice", store, sizeof(store), args, 4), 1);
	assert_string_equal(args[0], "alice");
	/* A capture that does not fit the store does not match. */
	char big[600];
	memset(big, 'x', sizeof(big));
	big[0] = '/';
	memcpy(big, "/users/", 7);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(urlpath_match("/users/{name}", big, store, 64, args, 4), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_resolve_ok),
		cmocka_unit_test(test_resolve_refused),
		cmocka_unit_test(test_ds_add),
		cmocka_unit_test(test_admit),
		cmocka_unit_test(test_routes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
