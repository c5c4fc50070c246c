/*
 * amo.c - AMOs under contention: every hart adds 1 K times to one 64-bit and
 * one 32-bit counter (amoadd.d, amoadd.w), its id + 1 to a weighted sum, and
 * 1 to one of two 32-bit counters sharing a doubleword (an AMO must not
 * clobber its neighbour).  The old values amoadd.d returns must be exactly
 * 0..nharts*K-1, each once (a bitmap set with amoor.w), and every total exact.
 */
#include "smp.h"

#define K 20000

static volatile unsigned long c64;
static volatile unsigned int c32;
static volatile unsigned int pair[2] __attribute__((aligned(8)));
static volatile unsigned int wrap = 0xfffff000u;  /* in .data: wraps past 2^32 */
static volatile unsigned long weighted;
static volatile unsigned int seen[SMP_MAX_HARTS * K / 32];
static struct smp_barrier bar;

static long work(unsigned long id)
{
	for (unsigned long i = 0; i < K; i++) {
		unsigned long old = amoadd_d(&c64, 1);

		if (old >= smp_nharts * K)
			return 10;
		amoor_w(&seen[old / 32], 1u << (old % 32));
		amoadd_w(&c32, 1);
		amoadd_w(&pair[(i ^ id) & 1], 1);
		amoadd_w(&wrap, 1);
		amoadd_d(&weighted, id + 1);
	}
	return 0;
}

void hart_main(unsigned long id)
{
	smp_barrier_wait(&bar);
	smp_fail(id, work(id));
	smp_barrier_wait(&bar);
}

int main(void)
{
	unsigned long n = smp_nharts, total = n * K;

	smp_barrier_wait(&bar);
	RUN(work(0));
	smp_barrier_wait(&bar);
	RUN(smp_first_error());
	CHECK(1, c64 == total + SMP_MUTATE);
	CHECK(2, c32 == total);
	CHECK(3, pair[0] + pair[1] == total);
	/* Each hart splits its K evenly (K even), so the halves are equal. */
	CHECK(4, pair[0] == total / 2);
	CHECK(5, wrap == (unsigned int)(0xfffff000u + total));
	CHECK(6, weighted == K * n * (n + 1) / 2);
	for (unsigned long v = 0; v < total; v++)
		CHECK(7, seen[v / 32] & (1u << (v % 32)));
	return 0;
}
