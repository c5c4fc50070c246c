/*
 * test_vmconfig.c - vm_config_from_cfg: defaults, ranges with errors naming
 * file, line and key, paths resolved against the VM directory, disks in
 * order with readOnly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "board/vm.h"
#include "lib/cfg.h"

static int load(const char *text, struct vm_config *vc, struct verr *e)
{
	struct cfg *c = NULL;
	int r = cfg_parse("m.vmx", text, strlen(text), &c, e);
	if (r == 0)
		r = vm_config_from_cfg(vc, c, "/vms/a", e);
	cfg_free(c);
	return r;
}

static void test_defaults(void **state)
{
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct verr e = { "" };
	assert_int_equal(load("", vc, &e), 0);
	assert_int_equal(vc->mem_size, 512ULL << 20);
	assert_int_equal(vc->numvcpus, 1);
	assert_string_equal(vc->cmdline, "console=ttyS0");
	assert_string_equal(vc->firmware, "");
	assert_string_equal(vc->serial_file, "");
	assert_int_equal(vc->ndisks, 0);
	assert_false(vc->deterministic);
	assert_string_equal(vc->vmdir, "/vms/a");
	free(vc);
}

static void test_values_and_paths(void **state)
{
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct verr e = { "" };
	const char *text =
		"memSize = \"2048\"\nnumvcpus = \"4\"\nguest.firmware = \"fw/fw_dynamic.bin\"\n"
		"guest.kernel = \"/boot/Image\"\nguest.initrd = \"initrd.gz\"\n"
		"guest.cmdline = \"console=ttyS0 quiet\"\ndisk0.fileName = \"a.img\"\n"
		"disk1.fileName = \"/data/b.img\"\ndisk1.readOnly = \"TRUE\"\n"
		"serial0.fileName = \"serial.log\"\nmonitor.deterministic = \"yes\"\n";
	assert_int_equal(load(text, vc, &e), 0);
	assert_int_equal(vc->mem_size, 2048ULL << 20);
	assert_int_equal(vc->numvcpus, 4);
	assert_string_equal(vc->firmware, "/vms/a/fw/fw_dynamic.bin");
	assert_string_equal(vc->kernel, "/boot/Image");
	assert_string_equal(vc->initrd, "/vms/a/initrd.gz");
	assert_string_equal(vc->cmdline, "console=ttyS0 quiet");
	assert_int_equal(vc->ndisks, 2);
	assert_string_equal(vc->disks[0].path, "/vms/a/a.img");
	assert_false(vc->disks[0].readonly);
	assert_string_equal(vc->disks[1].path, "/data/b.img");
	assert_true(vc->disks[1].readonly);
	assert_string_equal(vc->serial_file, "/vms/a/serial.log");
	assert_true(vc->deterministic);
	free(vc);
}

static void expect_err(const char *text, const char *needle)
{
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct verr e = { "" };
	assert_true(load(text, vc, &e) < 0);
	if (!strstr(e.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", e.msg, needle);
	free(vc);
}

static void test_errors(void **state)
{
	expect_err("numvcpus = \"9\"\n", "m.vmx:1");
	expect_err("\n\nnumvcpus = \"0\"\n", "m.vmx:3");
	expect_err("memSize = \"lots\"\n", "memSize");
	expect_err("memSize = \"8\"\n", "memSize");
	expect_err("disk0.fileName = \"a\"\ndisk0.readOnly = \"maybe\"\n", "disk0.readOnly");
	expect_err("disk1.fileName = \"b.img\"\n", "disk1.fileName");   /* gap: no disk0 */
	expect_err("monitor.deterministic = \"2\"\n", "monitor.deterministic");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_and_paths),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
