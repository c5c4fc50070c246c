/*
 * vm_ckpt.c - vm_save / vm_restore: the machine as checkpoint sections
 * (docs/CHECKPOINT.md).
 *
 * Sections: "machine" (board state below), "cpu.N" (every field of struct
 * hart_state by name), one per device with state, named as on the bus
 * ("clint0", "plic0", "uart0", "virtio-mmio0", "rtc0", ...; the fields its
 * device type describes, under that type's own version), and "memory" last.
 * The same sections without "memory" are what a hand-over to another vmx
 * sends (handover.c): one description, two transports.  Restore replaces the power-on state that
 * vm_create built, then lets every device re-drive its interrupt lines and
 * moves the time base so that mtime continues from the saved value: the
 * suspended interval is invisible to the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "board_int.h"
#include "../ckpt/ckpt.h"
#include "../cpu/hart_state.h"
#include "../devices/clint.h"
#include "../debug/dbg.h"
#include "../lib/log.h"

#define MACHINE_VERSION 1
#define CPU_VERSION     1
/* Device sections before each device type had its own described fields: one blob. */
#define DEVICE_BLOB_VERSION 1

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

/* The board's own section as it stands now (vm_save, and beta's read-back check). */
static void machine_state(struct vm *vm, struct vm_machine_state *ms)
{
	*ms = (struct vm_machine_state){
		.mtime = clint_mtime(vm->clint),
		.idle_skip = vm->idle_skip,
		.tohost_code = vm->tohost_code,
		.numvcpus = vm->nharts,
		.mem_size = vm->ram.size,
	};
	for (unsigned h = 0; h < vm->nharts; h++)
		ms->idle_mask |= (uint64_t)vm->idle[h] << h;
}

unsigned vm_state_versions(const char *names[], uint32_t versions[], unsigned max)
{
	unsigned n = 0;
	if (n < max) {
		names[n] = "machine";
		versions[n++] = MACHINE_VERSION;
	}
	if (n < max) {
		names[n] = "cpu";
		versions[n++] = CPU_VERSION;
	}
	for (const struct device_type *const *t = device_types; *t && n < max; t++) {
		if (!(*t)->state)
			continue;
		names[n] = (*t)->name;
		versions[n++] = (*t)->state_version;
	}
	return n;
}

static uint32_t device_save_version(const struct device *d)
{
	/* Test knob (opt/obj): a version no receiving vmx reads, discovered only at restore. */
	if (d->type == &dev_type_clint && dbg_fault(DBG_FAULT_SECTION_VERSION))
		return 99;
	return d->type->state_version;
}

/* A device's section into st: named fields, or the version-1 blob of old files. */
static int device_get(struct ckpt_reader *rd, const struct device *d, void *st, size_t len,
		      struct verr *e)
{
	uint32_t v = ckpt_section_version(rd, d->name);
	if (v == DEVICE_BLOB_VERSION) {
		LOG_INF("device section %s: a version-1 blob (written by an older vmx)", d->name);
		return ckpt_get_blob(rd, d->name, DEVICE_BLOB_VERSION, st, len, e);
	}
	return ckpt_get_struct(rd, d->name, d->type->state_version, d->type->state_fields,
			       d->type->nstate_fields, st, e);
}

int vm_save_state(struct vm *vm, struct ckpt_writer *w, struct verr *e)
{
	struct vm_machine_state ms;
	char name[CKPT_NAME_MAX];
	int r;

	machine_state(vm, &ms);
	r = ckpt_put_struct(w, "machine", MACHINE_VERSION, machine_fields,
			    VMX_ARRAY_SIZE(machine_fields), &ms, e);
	for (unsigned h = 0; r == 0 && h < vm->nharts; h++) {
		const struct hart_state *hs = hart_state(vm->harts[h]);
		struct hart_state bad;
		/* Test knob (opt/obj): the file says something else than the hart. */
		if (h == 0 && dbg_fault(DBG_FAULT_CKPT)) {
			bad = *hs;
			bad.pc ^= 2;
			hs = &bad;
		}
		snprintf(name, sizeof(name), "cpu.%u", h);
		r = ckpt_put_struct(w, name, CPU_VERSION, cpu_fields, VMX_ARRAY_SIZE(cpu_fields), hs, e);
	}
	for (unsigned i = 0; r == 0 && i < vm->ndevs; i++) {
		struct device *d = &vm->devs[i];
		size_t len = 0;
		void *st = d->type->state ? d->type->state(d, &len) : NULL;
		/* Test knob (opt/obj): the blobs vmx wrote before named fields, to test their reader. */
		if (st && dbg_fault(DBG_FAULT_DEVICE_BLOBS))
			r = ckpt_put_blob(w, d->name, DEVICE_BLOB_VERSION, st, len, e);
		else if (st)
			r = ckpt_put_struct(w, d->name, device_save_version(d), d->type->state_fields,
					    d->type->nstate_fields, st, e);
	}
	return r;
}

int vm_save(struct vm *vm, struct ckpt_writer *w, struct verr *e)
{
	int r = vm_save_state(vm, w, e);
	if (r == 0)
		r = ckpt_put_memory(w, vm->ram.host, vm->ram.size, vm->ram.memfd, e);
	return r;
}

/* Field-by-field equality of two structs described by a ckpt_field table. */
static const char *fields_differ(const struct ckpt_field *f, size_t n, const void *a,
				 const void *b, const char *skip)
{
	for (size_t i = 0; i < n; i++)
		if ((!skip || strcmp(f[i].name, skip) != 0) &&
		    memcmp((const char *)a + f[i].offset, (const char *)b + f[i].offset, f[i].size))
			return f[i].name;
	return NULL;
}

const char *vm_ckpt_problem(struct vm *vm, const char *path)
{
	static _Thread_local char msg[600];
	struct ckpt_reader *rd = NULL;
	struct verr e = { "" };
	struct vm_machine_state ms, live;
	struct hart_state hs;
	char name[CKPT_NAME_MAX];
	const char *bad;
	uint64_t size;
	void *buf = NULL;

	msg[0] = 0;
	machine_state(vm, &live);
	if (ckpt_reader_open(&rd, path, &e) < 0) {
		snprintf(msg, sizeof(msg), "%s does not read back: %s", path, e.msg);
		return msg;
	}
	/* mtime is sampled from the running clock at save time: not comparable. */
	if (ckpt_get_struct(rd, "machine", MACHINE_VERSION, machine_fields,
			    VMX_ARRAY_SIZE(machine_fields), &ms, &e) < 0)
		snprintf(msg, sizeof(msg), "%s", e.msg);
	else if ((bad = fields_differ(machine_fields, VMX_ARRAY_SIZE(machine_fields), &ms, &live,
				      "mtime")))
		snprintf(msg, sizeof(msg), "section \"machine\" field %s differs from the VM", bad);
	for (unsigned h = 0; !msg[0] && h < vm->nharts; h++) {
		snprintf(name, sizeof(name), "cpu.%u", h);
		memset(&hs, 0, sizeof(hs));
		if (ckpt_get_struct(rd, name, CPU_VERSION, cpu_fields, VMX_ARRAY_SIZE(cpu_fields),
				    &hs, &e) < 0)
			snprintf(msg, sizeof(msg), "%s", e.msg);
		else if ((bad = fields_differ(cpu_fields, VMX_ARRAY_SIZE(cpu_fields), &hs,
					      hart_state(vm->harts[h]), NULL)))
			snprintf(msg, sizeof(msg), "section \"%s\" field %s differs from hart %u",
				 name, bad, h);
	}
	for (unsigned i = 0; !msg[0] && i < vm->ndevs; i++) {
		struct device *d = &vm->devs[i];
		size_t len = 0;
		const void *st = d->type->state ? d->type->state(d, &len) : NULL;
		if (!st)
			continue;
		free(buf);
		buf = calloc(1, len ? len : 1);
		if (!buf)
			break;
		if (device_get(rd, d, buf, len, &e) < 0)
			snprintf(msg, sizeof(msg), "%s", e.msg);
		else if ((bad = fields_differ(d->type->state_fields, d->type->nstate_fields, buf,
					      st, NULL)))
			snprintf(msg, sizeof(msg), "section \"%s\" field %s differs from the device",
				 d->name, bad);
	}
	if (!msg[0] && ckpt_memory_size(rd, &size, &e) < 0)
		snprintf(msg, sizeof(msg), "%s", e.msg);
	else if (!msg[0] && size != vm->ram.size)
		snprintf(msg, sizeof(msg), "section \"memory\" holds %llu bytes, the VM %llu",
			 (unsigned long long)size, (unsigned long long)vm->ram.size);
	free(buf);
	ckpt_reader_close(rd);
	return msg[0] ? msg : NULL;
}

/*
 * Everything but memory.  Every section is read and checked before anything
 * of the VM is replaced, so a refusal leaves the power-on state alone.
 */
int vm_restore_state(struct vm *vm, struct ckpt_reader *rd, struct verr *e)
{
	struct vm_machine_state ms;
	char name[CKPT_NAME_MAX];
	int r;

	r = ckpt_get_struct(rd, "machine", MACHINE_VERSION, machine_fields,
			    VMX_ARRAY_SIZE(machine_fields), &ms, e);
	if (r < 0)
		return r;
	if (ms.numvcpus != vm->nharts)
		return verr_set(e, -EINVAL, "section \"machine\": %llu vCPU(s) saved but the VM "
				"has %u (numvcpus)", (unsigned long long)ms.numvcpus, vm->nharts);
	if (ms.mem_size != vm->ram.size)
		return verr_set(e, -EINVAL, "section \"machine\": %llu MiB saved but the VM has "
				"%llu MiB (memSize)", (unsigned long long)(ms.mem_size >> 20),
				(unsigned long long)(vm->ram.size >> 20));
	/* Versions and fields of every device first: a refusal must change nothing. */
	for (unsigned i = 0; i < vm->ndevs; i++) {
		struct device *d = &vm->devs[i];
		size_t len = 0;
		void *st = d->type->state ? d->type->state(d, &len) : NULL;
		void *tmp = st ? malloc(len ? len : 1) : NULL;
		if (st && !tmp)
			return verr_set(e, -ENOMEM, "out of memory");
		if (st) {
			memcpy(tmp, st, len);
			r = device_get(rd, d, tmp, len, e);
			free(tmp);
			if (r < 0)
				return r;
		}
	}
	for (unsigned h = 0; h < vm->nharts; h++) {
		struct hart_state hs = *hart_state(vm->harts[h]);
		snprintf(name, sizeof(name), "cpu.%u", h);
		if ((r = ckpt_get_struct(rd, name, CPU_VERSION, cpu_fields,
					 VMX_ARRAY_SIZE(cpu_fields), &hs, e)) < 0)
			return r;
	}
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
		if (st && (r = device_get(rd, d, st, len, e)) < 0)
			return r;
	}
	vm->idle_skip = ms.idle_skip;
	vm->tohost_code = ms.tohost_code;
	vm->result_set = false;
	vm->result_claimed = false;
	/* mtime continues from the saved value whatever the host clock did meanwhile. */
	clint_state(vm->clint)->mtime_delta = ms.mtime - vm->time_source(vm);
	for (unsigned i = 0; i < vm->ndevs; i++)
		if (vm->devs[i].type->restored)
			vm->devs[i].type->restored(&vm->devs[i]);
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

int vm_restore(struct vm *vm, struct ckpt_reader *rd, struct verr *e)
{
	uint64_t size;
	int r;

	if ((r = ckpt_memory_size(rd, &size, e)) < 0)
		return r;
	if (size != vm->ram.size)
		return verr_set(e, -EINVAL, "section \"memory\": %llu MiB saved but the VM has "
				"%llu MiB (memSize)", (unsigned long long)(size >> 20),
				(unsigned long long)(vm->ram.size >> 20));
	if ((r = vm_restore_state(vm, rd, e)) < 0)
		return r;
	/*
	 * The power-on images are replaced by the saved memory, which expects
	 * zeroed RAM: punching a hole in the memfd zeroes it without touching
	 * (and so allocating) every page, and leaves the pages missing for a
	 * lazy load.
	 */
	if (fallocate(vm->ram.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)vm->ram.size) < 0)
		memset(vm->ram.host, 0, vm->ram.size);
	return ckpt_load_memory(rd, vm->ram.host, vm->ram.size, true, e);
}
