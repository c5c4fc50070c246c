/*
 * timer.c - the CLINT timer (the layout QEMU's virt and spike machines
 * share: mtimecmp of hart 0 at 0x2004000, mtime at 0x200bff8) and timer
 * interrupts: mtime advances and the time CSR (where there is one) agrees
 * with it, mip.MTIP follows
 * mtime >= mtimecmp, wfi wakes on a pending enabled interrupt even with
 * mstatus.MIE clear (no trap), the interrupt is taken with MIE set (cause 7,
 * mepc at the interrupted instruction), and, when the hart has Sstc,
 * stimecmp drives mip.STIP (menvcfg.STCE may be read-only zero otherwise).
 */
#include "test.h"

#define CLINT_MTIMECMP ((volatile uint64_t *)0x2004000UL)
#define CLINT_MTIME ((volatile uint64_t *)0x200bff8UL)
#define MIP_MTIP (1UL << 7)
#define MIP_STIP (1UL << 5)
#define IRQ_MTIMER ((1UL << 63) | 7)

static volatile unsigned long timer_irqs;

static int timer_hook(struct trap_frame *f)
{
	if (f->mcause != IRQ_MTIMER)
		return 0;
	*CLINT_MTIMECMP = -1UL;     /* deassert */
	timer_irqs++;
	return 1;
}

/*
 * QEMU 7.2's spike machine has no time CSR (rdtime is an illegal
 * instruction there); virt and vmx have one, and it must agree with mtime.
 * The checks that need it run only where it exists.
 */
static int has_time_csr;

static long clock(void)
{
	uint64_t a, t = 0, b;

	has_time_csr = TRAPS(__asm__ volatile("rdtime %0" : "+r"(t))) == 0;
	a = *CLINT_MTIME;
	for (volatile int i = 0; i < 20000; i++)
		;
	if (has_time_csr)
		__asm__ volatile("rdtime %0" : "=r"(t));
	b = *CLINT_MTIME;
	CHECK(1, b > a);
	CHECK(2, !has_time_csr || (t >= a && t <= b));
	return 0;
}

static long pending(void)
{
	uint64_t deadline;

	csr_write(mie, 0);
	*CLINT_MTIMECMP = -1UL;
	CHECK(10, !(csr_read(mip) & MIP_MTIP));
	*CLINT_MTIMECMP = 0;
	CHECK(11, csr_read(mip) & MIP_MTIP);
	*CLINT_MTIMECMP = -1UL;
	CHECK(12, !(csr_read(mip) & MIP_MTIP));
	/* wfi with the interrupt enabled in mie but MIE clear: wakes, no trap. */
	csr_clear(mstatus, MSTATUS_MIE);
	csr_write(mie, MIP_MTIP);
	deadline = *CLINT_MTIME + 2000;   /* 200 us at 10 MHz */
	*CLINT_MTIMECMP = deadline;
	CHECK(13, TRAPS({
			  while (!(csr_read(mip) & MIP_MTIP))
				  __asm__ volatile("wfi");
		  }) == 0);
	CHECK(14, *CLINT_MTIME >= deadline);
	*CLINT_MTIMECMP = -1UL;
	return 0;
}

static long interrupt(void)
{
	unsigned long epc;

	trap_hook = timer_hook;
	timer_irqs = 0;
	csr_write(mie, MIP_MTIP);
	*CLINT_MTIMECMP = *CLINT_MTIME + 1000;
	csr_set(mstatus, MSTATUS_MIE);
	while (!timer_irqs)
		__asm__ volatile("wfi");
	csr_clear(mstatus, MSTATUS_MIE);
	CHECK(20, timer_irqs == 1 && last_trap.cause == IRQ_MTIMER);
	CHECK(21, !(csr_read(mip) & MIP_MTIP));
	/* Already pending when enabled: taken at once, before the next instruction. */
	timer_irqs = 0;
	*CLINT_MTIMECMP = 0;
	__asm__ volatile("csrsi mstatus, 8\n1:\tcsrci mstatus, 8\n\tlla %0, 1b" : "=r"(epc));
	CHECK(22, timer_irqs == 1 && last_trap.epc == epc);
	csr_write(mie, 0);
	trap_hook = 0;
	return 0;
}

static long sstc(void)
{
	unsigned long now;

	if (!has_time_csr)
		return 0;
	csr_set(menvcfg, 1UL << 63);
	if (!(csr_read(menvcfg) & (1UL << 63)))
		return 0;     /* no Sstc: nothing more to check */
	csr_write(mie, 0);
	__asm__ volatile("rdtime %0" : "=r"(now));
	__asm__ volatile("csrw stimecmp, %0" ::"r"(-1UL));
	CHECK(30, !(csr_read(mip) & MIP_STIP));
	__asm__ volatile("csrw stimecmp, %0" ::"r"(now));
	CHECK(31, csr_read(mip) & MIP_STIP);
	/* With STCE set, STIP is not writable by software. */
	csr_clear(mip, MIP_STIP);
	CHECK(32, csr_read(mip) & MIP_STIP);
	__asm__ volatile("csrw stimecmp, %0" ::"r"(-1UL));
	CHECK(33, !(csr_read(mip) & MIP_STIP));
	csr_clear(menvcfg, 1UL << 63);
	return 0;
}

int main(void)
{
	RUN(clock());
	RUN(pending());
	RUN(interrupt());
	RUN(sstc());
	return 0;
}
