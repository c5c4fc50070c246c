/*
 * lib.c - the ISA tests' M-mode trap handler and the few library routines
 * the compiler may call on its own (memset, memcpy).
 */
#include "test.h"

volatile struct trap_record last_trap;
int (*trap_hook)(struct trap_frame *f);

static unsigned long insn_len(unsigned long pc)
{
	/* Code is identity-mapped (or M-mode runs physical), so mepc is readable. */
	uint16_t lo = *(volatile uint16_t *)pc;

	return (lo & 3) == 3 ? 4 : 2;
}

void trap_m(struct trap_frame *f)
{
	last_trap.cause = f->mcause;
	last_trap.tval = f->mtval;
	last_trap.epc = f->mepc;
	last_trap.mstatus = f->mstatus;
	last_trap.count++;
	if (trap_hook && trap_hook(f))
		return;
	if ((long)f->mcause < 0) {
		/* Unexpected interrupt: fail loudly rather than loop. */
		__asm__ volatile("li a0, 999\n\tj test_exit");
	}
	f->mepc += insn_len(f->mepc);
}

void *memset(void *d, int c, unsigned long n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}
