/*
 * hart_state.h - the architectural state of one RISC-V hart as a plain struct.
 *
 * No pointers and no host-only caches live here, so a checkpoint can save,
 * restore and hash it byte for byte.  Everything the execution engine derives
 * from this (TLB, decoded blocks, effective translation mode) is rebuilt by
 * hart_flush_caches() after a restore.
 */
#ifndef VMX_CPU_HART_STATE_H
#define VMX_CPU_HART_STATE_H

#include <stdint.h>

#define HART_NPMP 16

struct hart_state {
	/*
	 * x[0] is always 0.  x[32] is not architectural: the decoder redirects
	 * writes to x0 there so instruction handlers never test rd == 0.
	 */
	uint64_t x[33];
	uint64_t f[32];
	uint64_t pc;
	uint64_t priv;          /* enum priv */
	uint64_t fcsr;          /* frm << 5 | fflags */

	/* Counters: icount is instructions retired since reset, never written by
	 * the guest; minstret/mcycle are icount plus a guest-written offset. */
	uint64_t icount;
	uint64_t minstret_off;
	uint64_t mcycle_off;

	/* Machine level */
	uint64_t mstatus;       /* SD is derived from FS on read */
	uint64_t medeleg, mideleg;
	uint64_t mie;
	uint64_t mip;           /* device bits are set atomically by other threads */
	uint64_t mtvec, mscratch, mepc, mcause, mtval;
	uint64_t mcounteren, menvcfg;
	uint64_t pmpcfg[HART_NPMP / 8];   /* pmpcfg0, pmpcfg2 (RV64: even ones only) */
	uint64_t pmpaddr[HART_NPMP];

	/* Supervisor level */
	uint64_t stvec, sscratch, sepc, scause, stval;
	uint64_t scounteren, senvcfg;
	uint64_t satp;
	uint64_t stimecmp;

	/* LR/SC reservation: address and valid flag. */
	uint64_t resv_addr;
	uint64_t resv_valid;

	uint64_t hartid;
	uint64_t tohost_value;
};

#endif
