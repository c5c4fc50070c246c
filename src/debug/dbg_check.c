/*
 * dbg_check.c - what the beta build's invariant checks share: the failure
 * path (a crash report through vmx_panic) and the test knob that corrupts
 * monitor state on purpose so a test can watch a check fire.
 */
#include <errno.h>
#include <string.h>
#include "../lib/cfg.h"
#include "../lib/verr.h"
#include "dbg.h"

enum dbg_fault dbg_fault_kind = DBG_FAULT_NONE;
bool dbg_jit_diff_on;

static const char *const fault_names[DBG_FAULT_COUNT] = {
	[DBG_FAULT_TLB_FILL] = "tlb-fill",
	[DBG_FAULT_TLB_FLUSH] = "tlb-flush",
	[DBG_FAULT_DCACHE] = "decode-cache",
	[DBG_FAULT_VIRTIO] = "virtio",
	[DBG_FAULT_PLIC] = "plic",
	[DBG_FAULT_CLINT] = "clint",
	[DBG_FAULT_UART] = "uart",
	[DBG_FAULT_IRQ] = "irq-lines",
	[DBG_FAULT_CKPT] = "checkpoint",
	[DBG_FAULT_SECTION_VERSION] = "section-version",
	[DBG_FAULT_HANDOVER_HELLO] = "handover-hello",
	[DBG_FAULT_DEVICE_BLOBS] = "device-blobs",
	[DBG_FAULT_JIT_LINK] = "jit-link",
};

const char *dbg_fault_name(enum dbg_fault f)
{
	return f > DBG_FAULT_NONE && f < DBG_FAULT_COUNT ? fault_names[f] : NULL;
}

void dbg_fail(const char *check, const char *problem, const char *file, int line)
{
	vmx_panic(file, line, "%s check: %s", check, problem);
}

int dbg_configure(const struct cfg *c, struct verr *e)
{
	int rc;

	dbg_fault_kind = DBG_FAULT_NONE;
	dbg_jit_diff_on = false;
	/* Test-only knobs: the shipped beta build must not be breakable from a .vmx. */
	if (!VMX_DEVEL)
		return 0;
	if ((rc = cfg_get_bool(c, "monitor.debugJitDiff", false, &dbg_jit_diff_on, e)) < 0)
		return rc;
	const char *v = cfg_get(c, "monitor.debugTestCorrupt");
	if (!v || !v[0])
		return 0;
	for (unsigned f = DBG_FAULT_NONE + 1; f < DBG_FAULT_COUNT; f++) {
		if (strcmp(v, fault_names[f]) == 0) {
			dbg_fault_kind = (enum dbg_fault)f;
			return 0;
		}
	}
	return verr_set(e, -EINVAL, "%s:%u: key 'monitor.debugTestCorrupt': \"%s\" is not one of "
			"tlb-fill, tlb-flush, decode-cache, jit-link, virtio, plic, clint, uart, irq-lines, checkpoint, "
			"section-version, handover-hello",
			cfg_name(c), cfg_line(c, "monitor.debugTestCorrupt"), v);
}
