/*
 * spin.c - a bare-metal guest that never idles: it counts in a loop forever,
 * so a VM running it keeps its vCPU busy.  For tests that need what only a
 * running vCPU produces (the stats build's samples), however fast the engine
 * gets through idle.elf's start before that one sleeps in WFI for good.
 */
#include "test.h"

int main(void)
{
	volatile unsigned long n = 0;
	for (;;)
		n++;
	return 0;
}
