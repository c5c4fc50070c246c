/*
 * smp.c - bench/cpuloop's integer loop on every hart at once (bench/smp.sh):
 * each hart runs the same 24-instruction loop for ITERS iterations on its
 * own table (its own page, so no hart's stores touch another's lines or a
 * code page), then all meet at a barrier and hart 0 ends the run with
 * status 0 only when every hart got the sum bench/mips.sh expects.  Built
 * with the ISA tests' harness (tests/isa/common), which counts the harts.
 */
#include "smp.h"

#define ITERS 100000000UL
#define EXPECT 0xb78ff2a602532acbUL

static unsigned long tables[SMP_MAX_HARTS][512] __attribute__((aligned(4096)));
static volatile unsigned long result[SMP_MAX_HARTS];
static struct smp_barrier bar;

/* The loop of bench/cpuloop/cpuloop.S, same seed, constants and paths. */
static unsigned long cpuloop(unsigned long *table)
{
	unsigned long n = ITERS, x = 0x2545f4914f6cdd1dUL, acc = 0;
	unsigned long k = 0x9e3779b97f4a7c15UL, seven = 7, t0, t1, t2;

	__asm__ volatile("1:\n\t"
			 "slli %[t0], %[x], 13\n\txor %[x], %[x], %[t0]\n\t"
			 "srli %[t0], %[x], 7\n\txor %[x], %[x], %[t0]\n\t"
			 "slli %[t0], %[x], 17\n\txor %[x], %[x], %[t0]\n\t"
			 "andi %[t1], %[x], 1016\n\tadd %[t1], %[t1], %[tab]\n\t"
			 "ld %[t2], 0(%[t1])\n\tadd %[t2], %[t2], %[x]\n\tsd %[t2], 0(%[t1])\n\t"
			 "mul %[t0], %[x], %[k]\n\tadd %[acc], %[acc], %[t0]\n\t"
			 "srli %[t0], %[x], 3\n\tdivu %[t0], %[t0], %[seven]\n\t"
			 "add %[acc], %[acc], %[t0]\n\t"
			 "andi %[t1], %[x], 16\n\tbnez %[t1], 2f\n\t"
			 "addi %[acc], %[acc], 1\n\tj 3f\n"
			 "2:\taddi %[acc], %[acc], -1\n\tnop\n"
			 "3:\tsrli %[t0], %[acc], 1\n\txor %[acc], %[acc], %[t0]\n\t"
			 "addi %[n], %[n], -1\n\tbnez %[n], 1b"
			 : [n] "+r"(n), [x] "+r"(x), [acc] "+r"(acc), [t0] "=&r"(t0), [t1] "=&r"(t1),
			   [t2] "=&r"(t2)
			 : [k] "r"(k), [seven] "r"(seven), [tab] "r"(table)
			 : "memory");
	return acc ^ x;
}

void hart_main(unsigned long id)
{
	smp_barrier_wait(&bar);
	result[id] = cpuloop(tables[id]);
	smp_barrier_wait(&bar);
}

int main(void)
{
	smp_barrier_wait(&bar);
	result[0] = cpuloop(tables[0]);
	smp_barrier_wait(&bar);
	for (unsigned long h = 0; h < smp_nharts; h++)
		CHECK(1 + h, result[h] == EXPECT);
	return 0;
}
