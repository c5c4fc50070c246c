/*
 * idle.c - a bare-metal guest for the security tests: it fills 8 MiB of RAM
 * with a pattern (so a checkpoint has a couple of thousand non-zero pages),
 * then waits in wfi forever with every interrupt off, costing no host CPU.
 * The tests stop it through the control socket (poweroff, suspend).
 */
#include "test.h"

#define FILL_BASE 0x81000000ul
#define FILL_BYTES (8ul << 20)

int main(void)
{
	volatile unsigned long *p = (volatile unsigned long *)FILL_BASE;
	for (unsigned long i = 0; i < FILL_BYTES / sizeof(long); i++)
		p[i] = i * 0x9e3779b97f4a7c15ul + 1;
	csr_write(mie, 0);
	for (;;)
		__asm__ volatile("wfi");
	return 0;
}
