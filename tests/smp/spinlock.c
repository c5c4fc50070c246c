/*
 * spinlock.c - mutual exclusion from a test-and-test-and-set lock taken with
 * amoswap.w.aq and released either with amoswap.w.rl or with fence rw,w and
 * a plain sw (the two usual release forms).  Inside, a non-atomic
 * read-modify-write of four words that keep invariants (w1 = 3 w0,
 * w2 = ~w0, w3 = w0 + w1) written in a scrambled order, an owner word that
 * must be free on entry and still ours on exit, and a plain counter that
 * must end at nharts*K: any overlap of two critical sections breaks one.
 */
#include "smp.h"

#define K 5000

static volatile unsigned int lock;
static volatile unsigned long w[4];
static volatile unsigned long owner;
static volatile unsigned long plain;
static struct smp_barrier bar;

static void lock_acquire(void)
{
	unsigned long deadline = smp_deadline(), t;

	for (unsigned long i = 0;; i++) {
		if (lock == 0) {
			__asm__ volatile("amoswap.w.aq %0, %2, %1"
					 : "=r"(t), "+A"(lock)
					 : "r"(1)
					 : "memory");
			if (t == 0)
				return;
		}
		if ((i & 255) == 0)
			smp_check_deadline(deadline);
	}
}

static void lock_release(unsigned long i)
{
	if (i & 1) {
		__asm__ volatile("amoswap.w.rl zero, zero, %0" : "+A"(lock)::"memory");
	} else {
		__asm__ volatile("fence rw, w\n\tsw zero, %0" : "=m"(lock)::"memory");
	}
}

static long work(unsigned long id)
{
	for (unsigned long i = 0; i < K; i++) {
		lock_acquire();
		if (owner != 0)
			return 10;
		owner = id + 1;
		unsigned long a = w[0], b = w[1], c = w[2], d = w[3];
		if (b != 3 * a || c != ~a || d != a + b)
			return 11;
		a++;
		w[3] = a + 3 * a;
		w[1] = 3 * a;
		w[0] = a;
		w[2] = ~a;
		plain = plain + 1;
		if (owner != id + 1)
			return 12;
		owner = 0;
		lock_release(i + id);
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

	w[2] = ~0UL;
	smp_barrier_wait(&bar);
	RUN(work(0));
	smp_barrier_wait(&bar);
	RUN(smp_first_error());
	CHECK(1, plain == total + SMP_MUTATE);
	CHECK(2, w[0] == total && w[1] == 3 * total && w[2] == ~total && w[3] == 4 * total);
	CHECK(3, lock == 0 && owner == 0);
	return 0;
}
