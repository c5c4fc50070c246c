/*
 * crashrep_vm.c - the guest's vCPU state for the crash report: every hart of
 * the board, formatted from its architectural state (beta builds).  It only
 * reads, at a moment when the process is dying.
 */
#include "../board/vm.h"
#include "../cpu/hart.h"
#include "crashrep.h"

void crashrep_dump_vm(FILE *f, void *ctx)
{
	struct vm *vm = ctx;

	if (!vm) {
		fprintf(f, "(no machine)\n");
		return;
	}
	for (unsigned i = 0; i < VM_MAX_HARTS; i++) {
		struct hart *h = vm_hart(vm, i);
		if (!h)
			break;
		crashrep_format_hart(f, hart_state(h));
		fputc('\n', f);
	}
}
