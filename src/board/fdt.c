/*
 * fdt.c - the device tree the board hands to OpenSBI and Linux, built with
 * libfdt's sequential-write API and then reopened with free space so that
 * OpenSBI can add its reserved-memory nodes in place.
 *
 * Layout follows QEMU's riscv virt machine: /cpus with one cpu@N and its
 * riscv,cpu-intc per hart, /memory, /soc (simple-bus) with the devices from
 * the registration table, the syscon poweroff/reboot nodes, and /chosen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <libfdt.h>
#include "board_int.h"
#include "../devices/uart.h"

static const char isa_string[] = "rv64imafdc_zicntr_zicsr_zifencei_sstc";
static const char isa_exts[] = "i\0m\0a\0f\0d\0c\0zicntr\0zicsr\0zifencei\0sstc";

#define CHK(x) do { if ((r = (x)) < 0) goto out; } while (0)

static int fdt_cpus(struct vm *vm, void *fdt)
{
	char name[32];
	int r;
	CHK(fdt_begin_node(fdt, "cpus"));
	CHK(fdt_property_u32(fdt, "#address-cells", 1));
	CHK(fdt_property_u32(fdt, "#size-cells", 0));
	CHK(fdt_property_u32(fdt, "timebase-frequency", (uint32_t)DEV_TIMEBASE_HZ));
	for (unsigned h = 0; h < vm->nharts; h++) {
		snprintf(name, sizeof(name), "cpu@%u", h);
		CHK(fdt_begin_node(fdt, name));
		CHK(fdt_property_u32(fdt, "phandle", DEV_PHANDLE_CPU(h)));
		CHK(fdt_property_string(fdt, "device_type", "cpu"));
		CHK(fdt_property_u32(fdt, "reg", h));
		CHK(fdt_property_string(fdt, "status", "okay"));
		CHK(fdt_property_string(fdt, "compatible", "riscv"));
		CHK(fdt_property_string(fdt, "riscv,isa", isa_string));
		CHK(fdt_property_string(fdt, "riscv,isa-base", "rv64i"));
		CHK(fdt_property(fdt, "riscv,isa-extensions", isa_exts, sizeof(isa_exts)));
		CHK(fdt_property_string(fdt, "mmu-type", "riscv,sv48"));
		CHK(fdt_begin_node(fdt, "interrupt-controller"));
		CHK(fdt_property_u32(fdt, "#interrupt-cells", 1));
		CHK(fdt_property(fdt, "interrupt-controller", NULL, 0));
		CHK(fdt_property_string(fdt, "compatible", "riscv,cpu-intc"));
		CHK(fdt_property_u32(fdt, "phandle", DEV_PHANDLE_INTC(h)));
		CHK(fdt_end_node(fdt));
		CHK(fdt_end_node(fdt));
	}
	CHK(fdt_begin_node(fdt, "cpu-map"));
	CHK(fdt_begin_node(fdt, "cluster0"));
	for (unsigned h = 0; h < vm->nharts; h++) {
		snprintf(name, sizeof(name), "core%u", h);
		CHK(fdt_begin_node(fdt, name));
		CHK(fdt_property_u32(fdt, "cpu", DEV_PHANDLE_CPU(h)));
		CHK(fdt_end_node(fdt));
	}
	CHK(fdt_end_node(fdt));
	CHK(fdt_end_node(fdt));
	CHK(fdt_end_node(fdt));
out:
	return r;
}

static int fdt_syscon(void *fdt, const char *node, const char *compat, uint32_t value)
{
	int r;
	CHK(fdt_begin_node(fdt, node));
	CHK(fdt_property_u32(fdt, "value", value));
	CHK(fdt_property_u32(fdt, "offset", 0));
	CHK(fdt_property_u32(fdt, "regmap", DEV_PHANDLE_TEST));
	CHK(fdt_property_string(fdt, "compatible", compat));
	CHK(fdt_end_node(fdt));
out:
	return r;
}

static int fdt_chosen(struct vm *vm, void *fdt)
{
	char path[64];
	int r;
	CHK(fdt_begin_node(fdt, "chosen"));
	if (vm->vc.cmdline[0])
		CHK(fdt_property_string(fdt, "bootargs", vm->vc.cmdline));
	snprintf(path, sizeof(path), "/soc/serial@%llx", (unsigned long long)UART_BASE);
	CHK(fdt_property_string(fdt, "stdout-path", path));
	if (vm->lay.initrd_end > vm->lay.initrd_start) {
		CHK(fdt_property_u64(fdt, "linux,initrd-start", vm->lay.initrd_start));
		CHK(fdt_property_u64(fdt, "linux,initrd-end", vm->lay.initrd_end));
	}
	/* A deterministic run must not depend on host entropy. */
	if (!vm->vc.deterministic) {
		uint8_t seed[64];
		if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
			CHK(fdt_property(fdt, "rng-seed", seed, sizeof(seed)));
	}
	CHK(fdt_end_node(fdt));
out:
	return r;
}

int board_build_fdt(struct vm *vm, void *buf, size_t size, struct verr *e)
{
	char name[64];
	int r;
	void *tmp = malloc(size);

	if (!tmp)
		return verr_set(e, -ENOMEM, "device tree: out of memory");
	CHK(fdt_create(tmp, (int)size));
	CHK(fdt_finish_reservemap(tmp));
	CHK(fdt_begin_node(tmp, ""));
	CHK(fdt_property_u32(tmp, "#address-cells", 2));
	CHK(fdt_property_u32(tmp, "#size-cells", 2));
	CHK(fdt_property_string(tmp, "compatible", "riscv-virtio"));
	CHK(fdt_property_string(tmp, "model", "riscv-virtio,qemu"));

	CHK(fdt_chosen(vm, tmp));

	snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)vm->ram.base);
	CHK(fdt_begin_node(tmp, name));
	CHK(fdt_property_string(tmp, "device_type", "memory"));
	{
		fdt64_t reg[2] = { cpu_to_fdt64(vm->ram.base), cpu_to_fdt64(vm->ram.size) };
		CHK(fdt_property(tmp, "reg", reg, sizeof(reg)));
	}
	CHK(fdt_end_node(tmp));

	CHK(fdt_cpus(vm, tmp));
	CHK(fdt_syscon(tmp, "poweroff", "syscon-poweroff", 0x5555));
	CHK(fdt_syscon(tmp, "reboot", "syscon-reboot", 0x7777));

	CHK(fdt_begin_node(tmp, "soc"));
	CHK(fdt_property_u32(tmp, "#address-cells", 2));
	CHK(fdt_property_u32(tmp, "#size-cells", 2));
	CHK(fdt_property_string(tmp, "compatible", "simple-bus"));
	CHK(fdt_property(tmp, "ranges", NULL, 0));
	for (unsigned i = 0; i < vm->ndevs; i++) {
		const struct device *d = &vm->devs[i];
		if (d->type->fdt_node)
			CHK(d->type->fdt_node(d, tmp));
	}
	CHK(fdt_end_node(tmp));

	CHK(fdt_end_node(tmp));
	CHK(fdt_finish(tmp));
	/* Reopen into the whole buffer: the free space is for OpenSBI's fixups. */
	CHK(fdt_open_into(tmp, buf, (int)size));
	free(tmp);
	return 0;
out:
	free(tmp);
	return verr_set(e, -ENOSPC, "device tree does not fit in %zu bytes (%s)", size,
			r < -FDT_ERR_MAX ? "device node" : fdt_strerror(r));
}

int board_write_fdt(struct vm *vm, struct verr *e)
{
	uint8_t *buf = malloc(vm->lay.fdt_size);
	int r;
	if (!buf)
		return verr_set(e, -ENOMEM, "device tree: out of memory");
	r = board_build_fdt(vm, buf, vm->lay.fdt_size, e);
	if (r == 0 && bus_dma_write(&vm->bus, vm->lay.fdt_addr, buf, vm->lay.fdt_size) < 0)
		r = verr_set(e, -EFAULT, "device tree at %#llx is outside guest RAM",
			     (unsigned long long)vm->lay.fdt_addr);
	free(buf);
	return r;
}
