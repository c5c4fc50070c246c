/*
 * bench_stats.c - what the instrumentation costs, per operation, in the build
 * type it is linked against: a counter increment, a kstat push+pop, and an
 * uncontended MXUser lock+unlock next to a raw pthread mutex (in the stats
 * build with every hold timed, then with the default sample of holds).
 *
 *   bench_stats [ITERATIONS]      prints "name ns/op" lines
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "lib/mxuser.h"
#include "stats/kstat.h"
#include "stats/stats.h"

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Keeps the loop from being optimised away without adding work of its own. */
#define BARRIER() __asm__ volatile("" ::: "memory")

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000000;
	static struct mxuser_lock l;
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	uint64_t t;

	mxuser_lock_init(&l, "bench", MXUSER_RANK_DEVICE);
	kstat_attach(0);
	KSTAT_START(GUEST);

	t = now();
	for (long i = 0; i < n; i++) {
		BARRIER();
	}
	printf("%-22s %6.2f ns/op\n", "empty loop", (double)(now() - t) / (double)n);

	t = now();
	for (long i = 0; i < n; i++) {
		STAT_INC(INSN_LOAD);
		BARRIER();
	}
	printf("%-22s %6.2f ns/op\n", "STAT_INC", (double)(now() - t) / (double)n);

	t = now();
	for (long i = 0; i < n; i++) {
		KSTAT_PUSH(PAGE_WALK);
		BARRIER();
		KSTAT_POP();
	}
	printf("%-22s %6.2f ns/op\n", "KSTAT_PUSH+POP", (double)(now() - t) / (double)n);

	t = now();
	for (long i = 0; i < n / 10; i++) {
		pthread_mutex_lock(&m);
		BARRIER();
		pthread_mutex_unlock(&m);
	}
	printf("%-22s %6.2f ns/op\n", "pthread lock+unlock", (double)(now() - t) / (double)(n / 10));

	/* Every hold timed, then the stats build's default sample of the holds (mxuser.h). */
	for (unsigned every = 1;; every = MXUSER_HOLD_EVERY_DEFAULT) {
		mxuser_stats_set_hold_every(every);
		t = now();
		for (long i = 0; i < n / 10; i++) {
			mxuser_lock(&l);
			BARRIER();
			mxuser_unlock(&l);
		}
		printf("%-22s %6.2f ns/op (hold timed 1 in %u)\n", "mxuser lock+unlock",
		       (double)(now() - t) / (double)(n / 10), every);
		if (every != 1 || !VMX_STATS)
			break;
	}
	kstat_detach();
	return 0;
}
