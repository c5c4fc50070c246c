/*
 * test_hostd_confine.c - paths confined beneath a root (confine.c) and the
 * checks of create values and VM names (vmcfg.c).
 */
#include <errno.h>
#include <fcntl.h>
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

static char g_tmp[PATH_MAX], g_root[PATH_MAX + 8], g_out[PATH_MAX + 8];

static int setup(void **state)
{
	char p[PATH_MAX + 64];

	snprintf(g_tmp, sizeof(g_tmp), "/tmp/test_hostd_confine.XXXXXX");
	if (!mkdtemp(g_tmp))
		return -1;
	snprintf(g_root, sizeof(g_root), "%s/root", g_tmp);
	snprintf(g_out, sizeof(g_out), "%s/out", g_tmp);
	mkdir(g_root, 0755);
	mkdir(g_out, 0755);
	snprintf(p, sizeof(p), "%s/vm", g_root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/vm/disk.img", g_root);
	close(open(p, O_CREAT | O_WRONLY, 0644));
	snprintf(p, sizeof(p), "%s/up", g_root);
	if (symlink(g_out, p) < 0)  /* absolute symlink out of the root */
		return -1;
	snprintf(p, sizeof(p), "%s/inside", g_root);
	if (symlink("vm", p) < 0)   /* relative symlink that stays inside */
		return -1;
	snprintf(p, sizeof(p), "%s/dangling", g_root);
	if (symlink("../out/nothing", p) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", g_tmp);
	return system(cmd) == 0 ? 0 : -1;
}

static int check(const char *rel, bool *exists)
{
	struct stat st;
	int fd = confine_root_open(g_root), rc;

	assert_true(fd >= 0);
	rc = confine_check(fd, rel, exists, &st);
	close(fd);
	return rc;
}

static void test_confine_check(void **state)
{
	bool ex;

	assert_int_equal(check("vm/disk.img", &ex), 0);
	assert_true(ex);
	assert_int_equal(check("inside/disk.img", &ex), 0);
	assert_true(ex);
	assert_int_equal(check("vm/new.serial", &ex), 0);
	assert_false(ex);
	assert_int_equal(check("vm/newdir/x", &ex), 0);
	assert_false(ex);
	assert_int_equal(check("vm/../vm/disk.img", &ex), 0);
	assert_int_equal(check("../out/x", &ex), -EXDEV);
	assert_int_equal(check("vm/../../out", &ex), -EXDEV);
	assert_int_equal(check("up/x", &ex), -EXDEV);
	assert_int_equal(check("up/new/x.vmx", &ex), -EXDEV);
	assert_int_equal(check("dangling", &ex), -EXDEV);
	assert_int_equal(check("vm/missing/../../../out", &ex), -EXDEV);
}

static void test_confine_mkdirs(void **state)
{
	char p[PATH_MAX + 32];
	struct stat st;
	int fd = confine_root_open(g_root), d;

	d = confine_mkdirs(fd, "made/a/b", 0755);
	assert_true(d >= 0);
	close(d);
	snprintf(p, sizeof(p), "%s/made/a/b", g_root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(confine_mkdirs(fd, "up/new", 0755), -EXDEV);
	snprintf(p, sizeof(p), "%s/new", g_out);
	assert_int_equal(stat(p, &st), -1);
	close(fd);
}

static int value(const char *key, json_t *v, char *out, struct verr *e)
{
	int rc = vmcfg_value(key, v, out, 64, e);
	json_decref(v);
	return rc;
}

static void test_vmcfg_values(void **state)
{
	char out[64], name[200];
	struct verr e = { "" };

	assert_int_equal(value("memSize", json_string("64"), out, &e), 0);
	assert_string_equal(out, "64");
	assert_int_equal(value("memSize", json_integer(128), out, &e), 0);
	assert_string_equal(out, "128");
	assert_int_equal(value("memSize", json_string("64\001"), out, &e), -EINVAL);
	assert_true(strncmp(e.msg, "memSize:", 8) == 0);
	assert_int_equal(value("memSize", json_integer(-5), out, &e), -EINVAL);
	assert_int_equal(value("memSize", json_string("010"), out, &e), -EINVAL);
	assert_int_equal(value("memSize", json_string("8"), out, &e), -EINVAL);
	assert_int_equal(value("numvcpus", json_string("9"), out, &e), -EINVAL);
	assert_int_equal(value("monitor.deterministic", json_string("maybe"), out, &e), -EINVAL);
	assert_int_equal(value("disk0.readOnly", json_true(), out, &e), 0);
	assert_string_equal(out, "TRUE");
	assert_int_equal(value("vmx.buildType", json_string("fast"), out, &e), -EINVAL);
	assert_int_equal(value("guest.cmdline", json_string("a\x1b[31m"), out, &e), -EINVAL);
	assert_int_equal(vmcfg_check_name("name", "a\nb", &e), -EINVAL);
	assert_true(strncmp(e.msg, "name:", 5) == 0);
	memset(name, 'x', sizeof(name));
	name[HOSTD_NAME_MAX] = 0;
	assert_int_equal(vmcfg_check_name("name", name, &e), 0);
	name[HOSTD_NAME_MAX] = 'x';
	name[HOSTD_NAME_MAX + 1] = 0;
	assert_int_equal(vmcfg_check_name("name", name, &e), -EINVAL);
	assert_int_equal(vmcfg_check_name("name", "caf\xc3\xa9", &e), 0);
	assert_int_equal(vmcfg_check_name("name", "a\xc2\x9b" "31m", &e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confine_check),
		cmocka_unit_test(test_confine_mkdirs),
		cmocka_unit_test(test_vmcfg_values),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
