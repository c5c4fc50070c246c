/*
 * test_finisher.c - the SiFive test device ("sifive,test0", QEMU virt's
 * power control): a 32-bit write of 0x5555 powers off, 0x7777 resets and
 * (code << 16) | 0x3333 reports failure with an exit code.  Linux reaches it
 * through the syscon-poweroff and syscon-reboot nodes the board adds.
 */
#include <errno.h>
#include <stdlib.h>
#include <libfdt.h>
#include "device.h"

#define TEST_BASE 0x100000ULL
#define TEST_SIZE 0x1000ULL

struct test_dev {
	struct dev_env env;
};

static int test_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	*val = 0;
	return 0;
}

static int test_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	struct test_dev *t = dev;
	if (off != 0 || len != 4)
		return 0;
	switch (val & 0xffff) {
	case 0x5555:
		t->env.power(t->env.ctx, DEV_POWER_OFF, 0);
		break;
	case 0x7777:
		t->env.power(t->env.ctx, DEV_POWER_RESET, 0);
		break;
	case 0x3333:
		t->env.power(t->env.ctx, DEV_POWER_FAIL, (uint32_t)(val >> 16) & 0xffff);
		break;
	default:
		break;
	}
	return 0;
}

static const struct mmio_ops test_mmio = { .read = test_read, .write = test_write };

static unsigned test_count(const struct vm_config *vc) { return 1; }

static int test_create(struct device *d, const struct dev_env *env, const struct vm_config *vc,
		       unsigned idx, struct verr *e)
{
	struct test_dev *t = calloc(1, sizeof(*t));
	if (!t)
		return verr_set(e, -ENOMEM, "test: out of memory");
	t->env = *env;
	d->priv = t;
	d->base = TEST_BASE;
	d->size = TEST_SIZE;
	return 0;
}

static void test_destroy(struct device *d)
{
	free(d->priv);
	d->priv = NULL;
}

static void test_reset(struct device *d) {}

static int test_fdt(const struct device *d, void *fdt)
{
	static const char compat[] = "sifive,test1\0sifive,test0\0syscon";
	int r = dev_fdt_begin(fdt, "test", d->base, d->size);
	if (!r)
		r = fdt_property_u32(fdt, "phandle", DEV_PHANDLE_TEST);
	if (!r)
		r = fdt_property(fdt, "compatible", compat, sizeof(compat));
	if (!r)
		r = fdt_end_node(fdt);
	return r ? -ENOSPC : 0;
}

const struct device_type dev_type_test = {
	.name = "test",
	.count = test_count,
	.create = test_create,
	.destroy = test_destroy,
	.reset = test_reset,
	.fdt_node = test_fdt,
	.mmio = &test_mmio,
};
