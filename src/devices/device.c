/*
 * device.c - the device registration table and small libfdt helpers shared
 * by the devices' fdt_node callbacks.
 *
 * The table order is the order of the nodes under /soc and of MMIO mapping;
 * the PLIC comes before the devices wired to it only for readability of the
 * dumped tree (phandles are fixed numbers, so order does not matter to libfdt).
 */
#include <errno.h>
#include <stdio.h>
#include <libfdt.h>
#include "device.h"

const struct device_type *const device_types[] = {
	&dev_type_test,
	&dev_type_rtc,
	&dev_type_clint,
	&dev_type_plic,
	&dev_type_uart,
	&dev_type_virtio_mmio,
	&dev_type_virtio_net,
	NULL,
};

static int fdt_err(int r)
{
	return r == -FDT_ERR_NOSPACE ? -ENOSPC : r < 0 ? -EINVAL : 0;
}

int dev_fdt_begin(void *fdt, const char *name, uint64_t base, uint64_t size)
{
	char node[64];
	snprintf(node, sizeof(node), "%s@%llx", name, (unsigned long long)base);
	int r = fdt_begin_node(fdt, node);
	if (r == 0) {
		fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };
		r = fdt_property(fdt, "reg", reg, sizeof(reg));
	}
	return fdt_err(r);
}

int dev_fdt_irq(void *fdt, unsigned irq)
{
	int r = fdt_property_u32(fdt, "interrupt-parent", DEV_PHANDLE_PLIC);
	if (r == 0)
		r = fdt_property_u32(fdt, "interrupts", irq);
	return fdt_err(r);
}
