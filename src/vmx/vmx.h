/*
 * vmx.h - the vmx program's own context, shared by main.c and the control
 * socket (ctl.c).
 */
#ifndef VMX_VMX_VMX_H
#define VMX_VMX_VMX_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include "../board/vm.h"
#include "../lib/cfg.h"

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
};

enum vmx_power { VMX_POWER_STARTING = 0, VMX_POWER_ON, VMX_POWER_STOPPING, VMX_POWER_OFF };

const char *vmx_power_name(int state);
uint64_t vmx_now_ns(void);

#endif
