/*
 * smoke.c - the harness itself: a pass, HTIF reporting, trap recording and
 * returning from U- and S-mode through run_in_mode().
 */
#include "test.h"

static long lower(long arg)
{
	exit_to_m(arg + 1);
}

int main(void)
{
	CHECK(1, OPAQUE(2) + OPAQUE(3) == 5);
	unsigned long before = last_trap.count;
	__asm__ volatile("ebreak");
	CHECK(2, last_trap.count == before + 1);
	CHECK(3, last_trap.cause == CAUSE_BREAKPOINT);
	CHECK(4, run_in_mode(0, lower, 41, 0) == 42);
	CHECK(5, run_in_mode(1, lower, 9, 0) == 10);
	CHECK(6, ((csr_read(mstatus) & MSTATUS_MPP) >> 11) == 3);
	return 0;
}
