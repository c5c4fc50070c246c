/*
 * test_rtc.c - the Goldfish RTC: TIME_LOW latches TIME_HIGH, host mode
 * follows the host wall clock, a guest write sets it, and deterministic
 * mode derives it from the machine timer from a fixed date.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <time.h>
#include "board/vm.h"
#include "devfake.h"

static uint64_t read_ns(const struct device *d)
{
	uint64_t lo = dev_rd(d, 0x00, 4);
	return (dev_rd(d, 0x04, 4) << 32) | lo;
}

static void test_host_clock_and_set(void **state)
{
	struct fake_board fb;
	struct dev_env env = fake_env(&fb, NULL, 1);
	struct device d = { .type = &dev_type_rtc };
	struct verr e = { "" };
	assert_int_equal(dev_type_rtc.create(&d, &env, NULL, 0, &e), 0);
	assert_int_equal(d.irq, 11);
	uint64_t now = (uint64_t)time(NULL) * 1000000000ULL;
	uint64_t t = read_ns(&d);
	assert_true(t + 5000000000ULL > now && t < now + 5000000000ULL);
	/* The guest sets 2000-01-01: HIGH then LOW. */
	uint64_t want = 946684800ULL * 1000000000ULL;
	dev_wr(&d, 0x04, 4, want >> 32);
	dev_wr(&d, 0x00, 4, (uint32_t)want);
	t = read_ns(&d);
	assert_true(t >= want && t < want + 5000000000ULL);
	/* Other registers and widths are harmless. */
	assert_int_equal(dev_rd(&d, 0x18, 4), 0);
	assert_int_equal(dev_rd(&d, 0x00, 8), 0);
	dev_wr(&d, 0x10, 4, 1);
	dev_type_rtc.destroy(&d);
}

static void test_deterministic(void **state)
{
	struct fake_board fb;
	struct dev_env env = fake_env(&fb, NULL, 1);
	struct device d = { .type = &dev_type_rtc };
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct verr e = { "" };
	vc->deterministic = true;
	assert_int_equal(dev_type_rtc.create(&d, &env, vc, 0, &e), 0);
	fb.now = 0;
	assert_int_equal(read_ns(&d), 1767225600ULL * 1000000000ULL);
	fb.now = 10000000;   /* one second of 10 MHz ticks */
	assert_int_equal(read_ns(&d), 1767225601ULL * 1000000000ULL);
	dev_type_rtc.destroy(&d);
	free(vc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_clock_and_set),
		cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
