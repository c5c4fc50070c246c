/*
 * test_kstat_mmio.c - MMIO through the bus (src/mem/bus.c) is counted per
 * device and register: exactly N writes to one register of a device give
 * that device's kstat N invocations and that register's counter N, and the
 * service is popped again after each access.
 */
#define VMX_STATS 1
#define VMX_DEBUG 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <errno.h>
#include <string.h>
#include "mem/bus.h"
#include "stats/kstat.h"
#include "stats/stats.h"

static unsigned seen_kstat;

static int dev_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	(void)dev; (void)off; (void)len;
	*val = 0x20;
	return 0;
}

static int dev_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	(void)dev; (void)off; (void)len; (void)val;
	/* While the device handles the access, its own kstat is current. */
	seen_kstat = kstat_vcpu_cur(&kstat_vcpus[stats_slot]);
	return 0;
}

static const struct mmio_ops ops = { dev_read, dev_write };

static unsigned counter(const char *name)
{
	char buf[STATS_NAME_MAX];
	for (unsigned i = 0; i < stats_ncounters(); i++)
		if (strcmp(stats_name(i, buf, sizeof(buf)), name) == 0)
			return (unsigned)stats_total(i);
	return 0;
}

static void test_n_writes(void **state)
{
	static struct bus b;
	static char name[] = "fakedev0";
	uint64_t v;
	int k;
	(void)state;
	stats_set_enabled(true);
	bus_init(&b, NULL);
	assert_int_equal(bus_map(&b, name, 0x10001000, 0x100, &ops, NULL), 0);
	kstat_attach(5);
	KSTAT_START(GUEST);
	for (int i = 0; i < 23; i++)
		assert_int_equal(bus_write(&b, 0x10001010, 4, (uint64_t)i), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(bus_read(&b, 0x10001018, 4, &v), 0);
	assert_int_equal(bus_write(&b, 0x10002000, 4, 0), -EFAULT); /* nobody's */
	k = kstat_register("MMIO.fakedev0", "");
	assert_int_equal(seen_kstat, (unsigned)k);
	assert_int_equal(kstat_invocations(5, (unsigned)k), 27);
	assert_int_equal(kstat_vcpu_cur(&kstat_vcpus[5]), KSTAT_GUEST);
	assert_int_equal(atomic_load(&kstat_vcpus[5].levels), 0);
	assert_int_equal(counter("MMIO.fakedev0.w.0x10"), 23);
	assert_int_equal(counter("MMIO.fakedev0.r.0x18"), 4);
	kstat_detach();
	stats_set_slot(STATS_SLOT_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_n_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
