/*
 * hvm_int.h - what the registry (hvm.c), the supervisor (vmsup.c) and the
 * operations (vmop.c) share and nothing else in hostd needs: the VM's .vmx
 * as hostd reads and writes it, the inventory row, and starting an operation
 * with hostd_lock already held (the supervisor and recovery at start do).
 * Callers hold hostd_lock where a function says so.
 */
#ifndef VMX_HOSTD_HVM_INT_H
#define VMX_HOSTD_HVM_INT_H

#include "hostd.h"

/* vmx's stdout and stderr, in the VM directory. */
#define VM_STDIO_LOG "vmx-stdio.log"

/* --- hvm.c ----------------------------------------------------------------------- */

/* Start time of a process in clock ticks since boot (against pid reuse), 0 if none. */
uint64_t hvm_pid_start(pid_t pid);
/* Writes the VM's power state, pid, running build type and last exit to the database. */
void hvm_save(struct hvm *vm);
/* Reads the VM's build type, memory size and checkpoint from its .vmx (NULL: not wanted). */
int hvm_read_cfg(const struct hvm *vm, enum buildtype *bt, uint64_t *mem_mb, bool *checkpoint,
		struct verr *e);
/* Rewrites vmx.buildType in the VM's .vmx. */
int hvm_set_buildtype(struct hvm *vm, enum buildtype bt, struct verr *e);

/* --- vmop.c ---------------------------------------------------------------------- */

/* vmop_start for a VM found with the lock held. */
int vmop_start_locked(struct hvm *vm, enum vm_op op, enum buildtype bt, uint64_t revert_after_s,
		      enum switch_method method, const char *user, int *http_status,
		      struct verr *e);

#endif
