/*
 * ticket.c - a FIFO ticket lock built from amoadd.w (take a ticket), plain
 * loads of the now-serving word and fence rw,rw on both sides (acquire and
 * release by fences alone, no .aq/.rl).  Each critical section checks that
 * the number of sections run before it equals its ticket (tickets are served
 * exactly in order), keeps the invariant of a non-atomic pair and appends its
 * hart to a log; the log must hold each hart exactly K times.
 */
#include "smp.h"

#define K 200

static volatile unsigned int next_ticket, serving;
static volatile unsigned long done;      /* sections completed */
static volatile unsigned long pair[2];   /* pair[1] == 5 * pair[0] + 1 */
static volatile unsigned char log_hart[SMP_MAX_HARTS * K];
static struct smp_barrier bar;

static long work(unsigned long id)
{
	for (unsigned long i = 0; i < K; i++) {
		unsigned int my = amoadd_w(&next_ticket, 1);
		unsigned long deadline = smp_deadline();

		for (unsigned long j = 0; serving != my; j++)
			if ((j & 255) == 0)
				smp_check_deadline(deadline);
		fence_rw_rw();  /* acquire: the section's accesses after the wait */
		if (done != my)
			return 10;
		unsigned long a = pair[0], b = pair[1];
		if (b != 5 * a + 1)
			return 11;
		pair[0] = a + 7;
		pair[1] = 5 * (a + 7) + 1;
		log_hart[my] = (unsigned char)id;
		done = my + 1;
		fence_rw_rw();  /* release: the section's accesses before the handover */
		serving = my + 1;
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
	unsigned long n = smp_nharts, total = n * K, per[SMP_MAX_HARTS] = { 0 };

	pair[1] = 1;
	smp_barrier_wait(&bar);
	RUN(work(0));
	smp_barrier_wait(&bar);
	RUN(smp_first_error());
	CHECK(1, done == total + SMP_MUTATE);
	CHECK(2, next_ticket == total && serving == total);
	CHECK(3, pair[0] == 7 * total && pair[1] == 35 * total + 1);
	for (unsigned long t = 0; t < total; t++) {
		CHECK(4, log_hart[t] < n);
		per[log_hart[t]]++;
	}
	for (unsigned long h = 0; h < n; h++)
		CHECK(5, per[h] == K);
	return 0;
}
