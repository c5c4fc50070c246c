/*
 * vm_ckpt.c - vm_save / vm_restore: the machine as checkpoint sections
 * (docs/CHECKPOINT.md).
 *
 * Sections: "machine" (board state below), "cpu.N" (every field of struct
 * hart_state by name), one per device with state, named as on the bus
 * ("clint0", "plic0", "uart0", "virtio-mmio0", "rtc0", ...; a plain-struct
 * blob), and "memory" last.  Restore replaces the power-on state that
 * vm_create built, then lets every device re-drive its interrupt lines and
 * moves the time base so that mtime continues from the saved value: the
 * suspended interval is invisible to the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "board_int.h"
#include "../ckpt/ckpt.h"
#include "../cpu/hart_state.h"
#include "../devices/clint.h"
#include "../lib/log.h"

#define MACHINE_VERSION 1
#define CPU_VERSION     1
#define DEVICE_VERSION  1

struct vm_machine_state {
	uint64_t mtime;          /* CLINT mtime when saved */
	uint64_t idle_skip;      /* deterministic time: ticks skipped while idle */
	uint64_t tohost_code;
	uint64_t idle_mask;      /* bit h: hart h waits in WFI */
	uint64_t numvcpus;
	uint64_t mem_size;
};

static const struct ckpt_field machine_fields[] = {
	CKPT_FIELD(struct vm_machine_state, mtime),
	CKPT_FIELD(struct vm_machine_state, idle_skip),
	CKPT_FIELD(struct vm_machine_state, tohost_code),
	CKPT_FIELD(struct vm_machine_state, idle_mask),
	CKPT_FIELD(struct vm_machine_state, numvcpus),
	CKPT_FIELD(struct vm_machine_state, mem_size),
};

#define HF(m) CKPT_FIELD(struct hart_state, m)
static const struct ckpt_field cpu_fields[] = {
	HF(x), HF(f), HF(pc), HF(priv), HF(fcsr), HF(icount), HF(minstret_off), HF(mcycle_off),
	HF(mstatus), HF(medeleg), HF(mideleg), HF(mie), HF(mip), HF(mtvec), HF(mscratch),
	HF(mepc), HF(mcause), HF(mtval), HF(mcounteren), HF(menvcfg), HF(pmpcfg), HF(pmpaddr),
	HF(stvec), HF(sscratch), HF(sepc), HF(scause), HF(stval), HF(scounteren), HF(senvcfg),
	HF(satp), HF(stimecmp), HF(resv_addr), HF(resv_valid), HF(hartid), HF(tohost_value),
};
#undef HF

uint64_t vm_mem_size(const struct vm *vm) { return vm->ram.size; }

int vm_save(struct vm *vm, struct ckpt_writer *w, struct verr *e)
{
	struct vm_machine_state ms = {
		.mtime = clint_mtime(vm->clint),
		.idle_skip = vm->idle_skip,
		.tohost_code = vm->tohost_code,
		.numvcpus = vm->nharts,
		.mem_size = vm->ram.size,
	};
	char name[CKPT_NAME_MAX];
	int r;

	for (unsigned h = 0; h < vm->nharts; h++)
		ms.idle_mask |= (uint64_t)vm->idle[h] << h;
	r = ckpt_put_struct(w, "machine", MACHINE_VERSION, machine_fields,
			    VMX_ARRAY_SIZE(machine_fields), &ms, e);
	for (unsigned h = 0; r == 0 && h < vm->nharts; h++) {
		snprintf(name, sizeof(name), "cpu.%u", h);
		r = ckpt_put_struct(w, name, CPU_VERSION, cpu_fields, VMX_ARRAY_SIZE(cpu_fields),
				    hart_state(vm->harts[h]), e);
	}
	for (unsigned i = 0; r == 0 && i < vm->ndevs; i++) {
		struct device *d = &vm->devs[i];
		size_t len = 0;
		void *st = d->type->state ? d->type->state(d, &len) : NULL;
		if (st)
			r = ckpt_put_blob(w, d->name, DEVICE_VERSION, st, len, e);
	}
	if (r == 0)
		r = ckpt_put_memory(w, vm->ram.host, vm->ram.size, vm->ram.memfd, e);
	return r;
}

int vm_restore(struct vm *vm, struct ckpt_reader *rd, struct verr *e)
{
	struct vm_machine_state ms;
	char name[CKPT_NAME_MAX];
	uint64_t size;
	int r;

	r = ckpt_get_struct(rd, "machine", MACHINE_VERSION, machine_fields,
			    VMX_ARRAY_SIZE(machine_fields), &ms, e);
	if (r < 0)
		return r;
	if (ms.numvcpus != vm->nharts)
		return verr_set(e, -EINVAL, "section \"machine\": %llu vCPU(s) saved but the VM "
				"has %u (numvcpus)", (unsigned long long)ms.numvcpus, vm->nharts);
	if ((r = ckpt_memory_size(rd, &size, e)) < 0)
		return r;
	if (size != vm->ram.size)
		return verr_set(e, -EINVAL, "section \"memory\": %llu MiB saved but the VM has "
				"%llu MiB (memSize)", (unsigned long long)(size >> 20),
				(unsigned long long)(vm->ram.size >> 20));
	for (unsigned h = 0; h < vm->nharts; h++) {
		snprintf(name, sizeof(name), "cpu.%u", h);
		r = ckpt_get_struct(rd, name, CPU_VERSION, cpu_fields, VMX_ARRAY_SIZE(cpu_fields),
				    hart_state(vm->harts[h]), e);
		if (r < 0)
			return r;
		vm->idle[h] = (ms.idle_mask >> h) & 1;
	}
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct device *d = &vm->devs[i];
		size_t len = 0;
		void *st = d->type->state ? d->type->state(d, &len) : NULL;
		if (st && (r = ckpt_get_blob(rd, d->name, DEVICE_VERSION, st, len, e)) < 0)
			return r;
	}
	vm->idle_skip = ms.idle_skip;
	vm->tohost_code = ms.tohost_code;
	vm->result_set = false;
	/* mtime continues from the saved value whatever the host clock did meanwhile. */
	clint_state(vm->clint)->mtime_delta = ms.mtime - vm->time_source(vm);
	for (unsigned i = 0; i < vm->ndevs; i++)
		if (vm->devs[i].type->restored)
			vm->devs[i].type->restored(&vm->devs[i]);
	/*
	 * The power-on images are replaced by the saved memory, which expects
	 * zeroed RAM: punching a hole in the memfd zeroes it without touching
	 * (and so allocating) every page, and leaves the pages missing for a
	 * lazy load.
	 */
	if (fallocate(vm->ram.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)vm->ram.size) < 0)
		memset(vm->ram.host, 0, vm->ram.size);
	if ((r = ckpt_load_memory(rd, vm->ram.host, vm->ram.size, true, e)) < 0)
		return r;
	uint64_t instret = 0;
	for (unsigned h = 0; h < vm->nharts; h++) {
		hart_flush_caches(vm->harts[h]);
		instret += hart_instret(vm->harts[h]);
	}
	/* vm_get_status reads the published count: it must not say 0 until the first round. */
	atomic_store_explicit(&vm->instret_pub, instret, memory_order_relaxed);
	LOG_INF("board: state restored, mtime %llu", (unsigned long long)ms.mtime);
	return 0;
}
