/*
 * lrsc.c - LR/SC increments under contention: every hart increments shared
 * counters K times with constrained LR/SC loops (lr, addi, sc, bnez: the
 * spec's forward-progress guarantee applies), doubleword and word.  The old
 * values of the doubleword counter must be 0..nharts*K-1, each once.  A
 * third counter is incremented by LR/SC on even harts and amoadd on odd
 * ones: an AMO by another hart must make a pending SC fail, or an increment
 * is lost.
 */
#include "smp.h"

#define K 20000

static volatile unsigned long cd;
static volatile unsigned int cw;
static volatile unsigned long mixed;
static volatile unsigned int seen[SMP_MAX_HARTS * K / 32];
static struct smp_barrier bar;

static inline unsigned long lrsc_inc_d(volatile unsigned long *p)
{
	unsigned long old, tmp;

	__asm__ volatile("1:\tlr.d %0, %2\n\t"
			 "addi %1, %0, 1\n\t"
			 "sc.d %1, %1, %2\n\t"
			 "bnez %1, 1b"
			 : "=&r"(old), "=&r"(tmp), "+A"(*p)
			 :
			 : "memory");
	return old;
}

static inline void lrsc_inc_w(volatile unsigned int *p)
{
	unsigned long old, tmp;

	__asm__ volatile("1:\tlr.w.aq %0, %2\n\t"
			 "addiw %1, %0, 1\n\t"
			 "sc.w.rl %1, %1, %2\n\t"
			 "bnez %1, 1b"
			 : "=&r"(old), "=&r"(tmp), "+A"(*p)
			 :
			 : "memory");
}

static long work(unsigned long id)
{
	for (unsigned long i = 0; i < K; i++) {
		unsigned long old = lrsc_inc_d(&cd);

		if (old >= smp_nharts * K)
			return 10;
		amoor_w(&seen[old / 32], 1u << (old % 32));
		lrsc_inc_w(&cw);
		if (id & 1)
			amoadd_d(&mixed, 1);
		else
			lrsc_inc_d(&mixed);
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
	unsigned long total = smp_nharts * K;

	smp_barrier_wait(&bar);
	RUN(work(0));
	smp_barrier_wait(&bar);
	RUN(smp_first_error());
	CHECK(1, cd == total + SMP_MUTATE);
	CHECK(2, cw == total);
	CHECK(3, mixed == total);
	for (unsigned long v = 0; v < total; v++)
		CHECK(4, seen[v / 32] & (1u << (v % 32)));
	return 0;
}
