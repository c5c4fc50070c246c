/*
 * crashrep_vm.c - the guest's vCPU state for the crash report: every hart of
 * the board, formatted from its architectural state (beta builds).  Reads the
 * board's private struct vm (board_int.h) because the board contract has no
 * hart accessor; it only reads, at a moment when the process is dying.
 */
#include "../board/board_int.h"
#include "../cpu/hart.h"
#include "crashrep.h"

void crashrep_dump_vm(FILE *f, void *ctx)
{
	struct vm *vm = ctx;

	if (!vm) {
		fprintf(f, "(no machine)\n");
		return;
	}
	for (unsigned i = 0; i < vm->nharts && i < VM_MAX_HARTS; i++) {
		if (!vm->harts[i])
			continue;
		crashrep_format_hart(f, hart_state(vm->harts[i]));
		fputc('\n', f);
	}
}
