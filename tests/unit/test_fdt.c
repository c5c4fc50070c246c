/*
 * test_fdt.c - the device tree the board writes into guest RAM: checked
 * with libfdt node by node (cpus, ISA strings, interrupt wiring of the
 * PLIC and CLINT per hart, devices, syscon poweroff/reboot, /chosen) and
 * decompiled with dtc when it is installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <libfdt.h>
#include "board/board_int.h"
#include "devices/device.h"
#include "boardfiles.h"

static struct bfiles bf;
static struct vm *vm;
static const void *fdt;

static int setup(void **state)
{
	struct vm_config *vc = calloc(1, sizeof(*vc));
	struct verr e = { "" };
	bf_setup(&bf, vc, 5000);
	vc->numvcpus = 2;
	int r = vm_create(&vm, vc, &e);
	free(vc);
	if (r < 0)
		fail_msg("vm_create: %s", e.msg);
	fdt = ram_ptr(&vm->ram, vm->lay.fdt_addr, VM_FDT_SIZE);
	assert_non_null(fdt);
	return 0;
}

static int teardown(void **state)
{
	vm_destroy(vm);
	bf_cleanup(&bf);
	return 0;
}

static const void *prop(const char *path, const char *name, int *len)
{
	int off = fdt_path_offset(fdt, path);
	if (off < 0)
		fail_msg("no node %s", path);
	const void *p = fdt_getprop(fdt, off, name, len);
	if (!p)
		fail_msg("no property %s in %s", name, path);
	return p;
}

static uint32_t prop_u32(const char *path, const char *name, int idx)
{
	int len;
	const fdt32_t *p = prop(path, name, &len);
	assert_true((idx + 1) * 4 <= len);
	return fdt32_to_cpu(p[idx]);
}

/* FDT properties are only 4-byte aligned. */
static uint64_t prop_u64(const char *path, const char *name, int idx)
{
	int len;
	const uint8_t *p = prop(path, name, &len);
	fdt64_t v;
	assert_true((idx + 1) * 8 <= len);
	memcpy(&v, p + 8 * idx, 8);
	return fdt64_to_cpu(v);
}

static bool has_string(const char *path, const char *name, const char *s)
{
	int off = fdt_path_offset(fdt, path);
	return off >= 0 && fdt_stringlist_search(fdt, off, name, s) >= 0;
}

static void test_header_and_memory(void **state)
{
	assert_int_equal(fdt_check_header(fdt), 0);
	assert_true(fdt_totalsize(fdt) == VM_FDT_SIZE);   /* room for OpenSBI's fixups */
	/* 64 MiB RAM: below 3 GiB, 2 MiB aligned at the top. */
	assert_int_equal(vm->lay.fdt_addr, 0x80000000ULL + (64 << 20) - (2 << 20));
	assert_int_equal(prop_u64("/memory@80000000", "reg", 0), 0x80000000ULL);
	assert_int_equal(prop_u64("/memory@80000000", "reg", 1), 64ULL << 20);
	assert_true(has_string("/memory@80000000", "device_type", "memory"));
}

static void test_cpus(void **state)
{
	assert_int_equal(prop_u32("/cpus", "timebase-frequency", 0), 10000000);
	for (int h = 0; h < 2; h++) {
		char path[64];
		snprintf(path, sizeof(path), "/cpus/cpu@%d", h);
		assert_int_equal(prop_u32(path, "reg", 0), h);
		assert_true(has_string(path, "riscv,isa", "rv64imafdc_zicntr_zicsr_zifencei_sstc"));
		assert_true(has_string(path, "riscv,isa-base", "rv64i"));
		assert_true(has_string(path, "riscv,isa-extensions", "sstc"));
		assert_true(has_string(path, "riscv,isa-extensions", "zifencei"));
		assert_true(has_string(path, "mmu-type", "riscv,sv48"));
		assert_true(has_string(path, "status", "okay"));
		assert_true(has_string(path, "device_type", "cpu"));
		snprintf(path, sizeof(path), "/cpus/cpu@%d/interrupt-controller", h);
		assert_true(has_string(path, "compatible", "riscv,cpu-intc"));
		assert_int_equal(prop_u32(path, "#interrupt-cells", 0), 1);
		assert_int_equal(prop_u32(path, "phandle", 0), DEV_PHANDLE_INTC(h));
	}
	assert_true(fdt_path_offset(fdt, "/cpus/cpu@2") < 0);
	assert_int_equal(prop_u32("/cpus/cpu-map/cluster0/core1", "cpu", 0), DEV_PHANDLE_CPU(1));
}

static void test_interrupt_controllers(void **state)
{
	int len;
	const char *plic = "/soc/plic@c000000", *clint = "/soc/clint@2000000";
	assert_true(has_string(plic, "compatible", "sifive,plic-1.0.0"));
	assert_true(has_string(plic, "compatible", "riscv,plic0"));
	assert_int_equal(prop_u32(plic, "riscv,ndev", 0), 95);
	prop(plic, "interrupts-extended", &len);
	assert_int_equal(len, 2 * 2 * 2 * 4);           /* 2 harts x (M, S) x 2 cells */
	/* M-mode context first (11 = MEIP), then S-mode (9 = SEIP), per hart. */
	assert_int_equal(prop_u32(plic, "interrupts-extended", 1), 11);
	assert_int_equal(prop_u32(plic, "interrupts-extended", 3), 9);
	assert_int_equal(prop_u32(plic, "interrupts-extended", 4), DEV_PHANDLE_INTC(1));
	assert_true(has_string(clint, "compatible", "sifive,clint0"));
	assert_int_equal(prop_u32(clint, "interrupts-extended", 1), 3);
	assert_int_equal(prop_u32(clint, "interrupts-extended", 3), 7);
	assert_int_equal(prop_u32(clint, "interrupts-extended", 6), DEV_PHANDLE_INTC(1));
}

static void test_devices(void **state)
{
	const char *uart = "/soc/serial@10000000";
	assert_true(has_string("/soc", "compatible", "simple-bus"));
	assert_true(has_string(uart, "compatible", "ns16550a"));
	assert_int_equal(prop_u32(uart, "interrupts", 0), 10);
	assert_int_equal(prop_u32(uart, "interrupt-parent", 0), DEV_PHANDLE_PLIC);
	assert_int_equal(prop_u32(uart, "clock-frequency", 0), 3686400);
	for (int i = 0; i < 8; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/soc/virtio_mmio@%x", 0x10001000 + 0x1000 * i);
		assert_true(has_string(path, "compatible", "virtio,mmio"));
		assert_int_equal(prop_u32(path, "interrupts", 0), 1 + i);
	}
	assert_true(has_string("/soc/test@100000", "compatible", "sifive,test0"));
	assert_true(has_string("/soc/test@100000", "compatible", "syscon"));
	assert_true(has_string("/soc/rtc@101000", "compatible", "google,goldfish-rtc"));
	assert_int_equal(prop_u32("/poweroff", "value", 0), 0x5555);
	assert_int_equal(prop_u32("/poweroff", "regmap", 0), DEV_PHANDLE_TEST);
	assert_int_equal(prop_u32("/reboot", "value", 0), 0x7777);
	assert_int_equal(prop_u32("/soc/test@100000", "phandle", 0), DEV_PHANDLE_TEST);
}

static void test_chosen(void **state)
{
	int len;
	assert_true(has_string("/chosen", "bootargs", "console=ttyS0 quiet"));
	assert_true(has_string("/chosen", "stdout-path", "/soc/serial@10000000"));
	uint64_t start = prop_u64("/chosen", "linux,initrd-start", 0);
	assert_int_equal(start, vm->lay.initrd_start);
	assert_int_equal(prop_u64("/chosen", "linux,initrd-end", 0) - start, 5000);
	prop("/chosen", "rng-seed", &len);
	assert_int_equal(len, 64);
}

static void test_dtc_decompiles(void **state)
{
	char path[128], cmd[512];
	if (system("command -v dtc >/dev/null 2>&1") != 0)
		skip();
	snprintf(path, sizeof(path), "%s/board.dtb", bf.dir);
	bf_write(path, fdt, fdt_totalsize(fdt));
	snprintf(cmd, sizeof(cmd), "dtc -q -I dtb -O dts -o %s/board.dts %s && "
		 "grep -q 'riscv,isa = \"rv64imafdc_zicntr_zicsr_zifencei_sstc\"' %s/board.dts",
		 bf.dir, path, bf.dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_and_memory),
		cmocka_unit_test(test_cpus),
		cmocka_unit_test(test_interrupt_controllers),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_chosen),
		cmocka_unit_test(test_dtc_decompiles),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
