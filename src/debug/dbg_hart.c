/*
 * dbg_hart.c - invariants of a hart's architectural state (beta builds).
 *
 * Only properties that hold whatever the guest does: the CSR write paths
 * filter every WARL field, so an illegal value here means the monitor stored
 * it, never that the guest asked for it.
 */
#include <stdio.h>
#include "../cpu/hart_state.h"
#include "dbg.h"

#define MSTATUS_MPP_MASK (3ull << 11)
#define KNOWN_IRQS 0xaaaull /* SSIP MSIP STIP MTIP SEIP MEIP */

const char *dbg_hart_state_problem(const struct hart_state *s)
{
	uint64_t mode = s->satp >> 60;

	if (s->x[0] != 0)
		return "x0 is not zero";
	if (s->priv != 0 && s->priv != 1 && s->priv != 3)
		return "privilege level is not U, S or M";
	if (s->pc & 1)
		return "pc is not 2-byte aligned";
	if (((s->mstatus & MSTATUS_MPP_MASK) >> 11) == 2)
		return "mstatus.MPP holds the reserved value 2";
	if (mode != 0 && mode != 8 && mode != 9)
		return "satp.MODE is not Bare, Sv39 or Sv48";
	if ((s->mtvec & 2) || (s->stvec & 2))
		return "xtvec.MODE is reserved";
	if (s->fcsr >> 8)
		return "fcsr has bits above frm";
	if ((s->mie | s->mideleg) & ~KNOWN_IRQS)
		return "mie/mideleg has bits of interrupts that do not exist";
	if (s->resv_valid > 1)
		return "LR reservation flag is not 0 or 1";
	return NULL;
}

void dbg_check_hart_at(const struct hart_state *s, const char *file, int line)
{
	const char *why = dbg_hart_state_problem(s);
	if (why)
		vmx_panic(file, line, "hart %llu state check: %s (pc %#llx priv %llu)",
			  (unsigned long long)s->hartid, why, (unsigned long long)s->pc,
			  (unsigned long long)s->priv);
}
