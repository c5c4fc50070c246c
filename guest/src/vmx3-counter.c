/*
 * vmx3-counter.c - prints a numbered line every 100 ms.
 *
 *   VMX3 counter n=N mono_ms=M real_s=S
 * Later suspend/resume and checkpoint tests watch these lines: the count
 * must continue without a gap or restart across a save/restore, and the
 * guest's clocks are printed so time jumps can be seen.  Sleeps are to
 * absolute deadlines so the period does not drift with scheduling delay.
 *
 * Usage: vmx3-counter [COUNT]       (COUNT 0 = forever; default 100 = 10 s)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define COUNTER_PERIOD_NS 100000000L

int main(int argc, char **argv)
{
	uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 0) : 100;
	struct timespec next, start, real;

	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &start);
	next = start;
	for (uint64_t n = 1; count == 0 || n <= count; n++) {
		next.tv_nsec += COUNTER_PERIOD_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		clock_gettime(CLOCK_REALTIME, &real);
		int64_t ms = (int64_t)(now.tv_sec - start.tv_sec) * 1000 +
			     (now.tv_nsec - start.tv_nsec) / 1000000;
		printf("VMX3 counter n=%" PRIu64 " mono_ms=%" PRId64 " real_s=%lld.%03ld\n", n, ms,
		       (long long)real.tv_sec, real.tv_nsec / 1000000);
	}
	return 0;
}
