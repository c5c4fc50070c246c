/*
 * mmio_writes.c - a crafted bare-metal guest for tests/integration/stats_vm.sh:
 * exactly 37 byte writes to the UART scratch register and 5 reads of its line
 * status register, then a pass through HTIF.  The stats build must show 37
 * invocations of the UART's MMIO kstat for the writes plus 5 for the reads.
 */
#include "test.h"

#define UART 0x10000000ul

int main(void)
{
	volatile uint8_t *uart = (volatile uint8_t *)UART;
	uint8_t lsr = 0;

	for (int i = 0; i < 37; i++)
		uart[7] = (uint8_t)i;
	for (int i = 0; i < 5; i++)
		lsr |= uart[5];
	CHECK(1, lsr & 0x20); /* transmitter holding register empty */
	return 0;
}
