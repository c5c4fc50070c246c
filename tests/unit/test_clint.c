/*
 * test_clint.c - CLINT registers: msip drives MSIP, mtimecmp against mtime
 * drives MTIP (also through 32-bit halves), mtime follows the time source
 * and can be written, and the earliest deadline is reported for idle sleep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "cpu/hart.h"
#include "devices/clint.h"
#include "devfake.h"

static struct fake_board fb;
static struct device dev;

static int setup(void **state)
{
	struct dev_env env = fake_env(&fb, NULL, 2);
	struct verr e = { "" };
	memset(&dev, 0, sizeof(dev));
	dev.type = &dev_type_clint;
	assert_int_equal(dev_type_clint.create(&dev, &env, NULL, 0, &e), 0);
	dev_type_clint.reset(&dev);
	return 0;
}

static int teardown(void **state)
{
	dev_type_clint.destroy(&dev);
	return 0;
}

static void test_msip(void **state)
{
	dev_wr(&dev, 4, 4, 1);
	assert_int_equal(fb.mip[1], MIP_MSIP);
	assert_int_equal(fb.mip[0], 0);
	assert_int_equal(dev_rd(&dev, 4, 4), 1);
	dev_wr(&dev, 4, 4, 0xfffffffe);            /* only bit 0 exists */
	assert_int_equal(fb.mip[1], 0);
	assert_int_equal(dev_rd(&dev, 4, 4), 0);
	dev_wr(&dev, 8, 4, 1);                     /* hart 2 does not exist */
	assert_int_equal(dev_rd(&dev, 8, 4), 0);
}

static void test_timer(void **state)
{
	struct clint *c = dev.priv;
	fb.now = 1000;
	assert_int_equal(dev_rd(&dev, 0xbff8, 8), 1000);
	assert_int_equal(fb.mip[0] & MIP_MTIP, 0);  /* reset: no deadline */
	assert_int_equal(clint_next_deadline(c), UINT64_MAX);
	dev_wr(&dev, 0x4000, 8, 1500);
	assert_int_equal(fb.mip[0] & MIP_MTIP, 0);
	assert_int_equal(clint_next_deadline(c), 1500);
	fb.now = 1499;
	clint_update(c);
	assert_int_equal(fb.mip[0] & MIP_MTIP, 0);
	fb.now = 1500;
	clint_update(c);
	assert_int_equal(fb.mip[0] & MIP_MTIP, MIP_MTIP);
	assert_int_equal(fb.mip[1] & MIP_MTIP, 0);
	/* Moving the deadline into the future clears MTIP at once. */
	dev_wr(&dev, 0x4000, 8, 5000);
	assert_int_equal(fb.mip[0] & MIP_MTIP, 0);
	/* 32-bit halves, as RV32 firmware writes them. */
	dev_wr(&dev, 0x4008 + 4, 4, 0x1);
	dev_wr(&dev, 0x4008, 4, 0x2);
	assert_int_equal(dev_rd(&dev, 0x4008, 8), 0x100000002ULL);
	assert_int_equal(dev_rd(&dev, 0x400c, 4), 1);
	assert_int_equal(clint_next_deadline(c), 5000);
	dev_wr(&dev, 0x4008, 8, 100);
	assert_int_equal(fb.mip[1] & MIP_MTIP, MIP_MTIP);
}

static void test_mtime_write(void **state)
{
	struct clint *c = dev.priv;
	fb.now = 50;
	dev_wr(&dev, 0xbff8, 8, 1000000);
	assert_int_equal(clint_mtime(c), 1000000);
	fb.now = 60;
	assert_int_equal(dev_rd(&dev, 0xbff8, 8), 1000010);
	assert_int_equal(dev_rd(&dev, 0xbffc, 4), 0);
	dev_wr(&dev, 0xbffc, 4, 2);                /* high half */
	assert_int_equal(dev_rd(&dev, 0xbff8, 8), 0x200000000ULL + 1000010);
}

static void test_bad_accesses(void **state)
{
	dev_wr(&dev, 0x4000, 1, 0);
	dev_wr(&dev, 0x4002, 4, 0);
	dev_wr(&dev, 0x4004, 8, 0);
	assert_int_equal(dev_rd(&dev, 0x4000, 8), UINT64_MAX);
	assert_int_equal(dev_rd(&dev, 0x4000, 2), 0);
	assert_int_equal(dev_rd(&dev, 0x7000, 4), 0);
	dev_wr(&dev, 0x7000, 4, 1);
	assert_int_equal(fb.mip[0] | fb.mip[1], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_msip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mtime_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_accesses, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
