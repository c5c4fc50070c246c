/*
 * vmx.h - the vmx program's own context, shared by main.c and the control
 * socket (ctl.c).
 */
#ifndef VMX_VMX_VMX_H
#define VMX_VMX_VMX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "../board/vm.h"
#include "../ckpt/ckpt.h"
#include "../lib/cfg.h"
#include "../lib/mxuser.h"

struct ctl;

struct vmx {
	char vmx_path[4096];     /* the .vmx file, "" with a bare --elf run */
	char vmdir[4096];
	struct cfg *cfg;
	struct vm *vm;
	struct vm_config vc;
	struct ctl *ctl;
	uint64_t start_ns;       /* CLOCK_MONOTONIC at process start */
	_Atomic int power_state; /* enum vmx_power */

	/* Suspend: asked for on the control socket, done on the main thread. */
	_Atomic int suspend_state;       /* enum vmx_suspend */
	struct ckpt_progress suspend_prog;
	struct mxuser_lock suspend_lock; /* guards suspend_error and the hash result */
	char suspend_error[512];
	char vmss_path[4096];            /* NAME.vmss beside the .vmx */

	/* State hash asked for on the control socket, computed on the main thread. */
	_Atomic int hash_req;
	struct mxuser_cond hash_cond;
	bool hash_ready;
	int hash_rc;
	char hash_hex[65];
	uint64_t hash_instret;

	/* Resume: the checkpoint being loaded (memory may still be arriving). */
	struct ckpt_reader *resume_reader;
};

enum vmx_suspend {
	VMX_SUSPEND_NONE = 0, VMX_SUSPEND_REQUESTED, VMX_SUSPEND_RUNNING, VMX_SUSPEND_DONE,
	VMX_SUSPEND_FAILED, VMX_SUSPEND_CANCELLED,
};

#define VMX_VMSTATE_KEY "checkpoint.vmState"

const char *vmx_suspend_name(int state);
/* SHA-256 of the machine state (what a checkpoint would hold); VM stopped. */
int vmx_state_hash(struct vmx *x, char hex[65], struct verr *e);

enum vmx_power { VMX_POWER_STARTING = 0, VMX_POWER_ON, VMX_POWER_STOPPING, VMX_POWER_OFF };

const char *vmx_power_name(int state);
uint64_t vmx_now_ns(void);

#endif
