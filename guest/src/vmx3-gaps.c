/*
 * vmx3-gaps.c - reads CLOCK_MONOTONIC in a tight loop and reports the
 * longest gap between two consecutive readings and how many gaps were over
 * 5 ms: what a running guest notices of a pause on the host side, such as a
 * fast build-type switch (the guest's clock keeps running through a
 * hand-over, so the pause shows as one long gap).
 *
 *   VMX3 gaps t_s=T max_us=M over5ms=N last_max_us=L    once a second
 *   VMX3 gaps done max_us=M over5ms=N loops=K           at the end
 * max_us and over5ms count from the start; last_max_us is the longest gap
 * within the last second.
 *
 * Usage: vmx3-gaps [SECONDS]       (0 = forever; default 60)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GAP_LIMIT_NS ((int64_t)5000000)

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long secs = argc > 1 ? strtol(argv[1], NULL, 0) : 60;
	int64_t start = now_ns(), prev = start, next_report = start + (int64_t)1000000000;
	int64_t max = 0, last_max = 0;
	uint64_t over = 0, loops = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		int64_t t = now_ns(), gap = t - prev;
		prev = t;
		loops++;
		if (gap > max)
			max = gap;
		if (gap > last_max)
			last_max = gap;
		if (gap > GAP_LIMIT_NS)
			over++;
		if (t < next_report)
			continue;
		/* The report itself takes time: do not count it as a gap. */
		printf("VMX3 gaps t_s=%" PRId64 " max_us=%" PRId64 " over5ms=%" PRIu64
		       " last_max_us=%" PRId64 "\n", (int64_t)((t - start) / 1000000000), max / 1000, over,
		       last_max / 1000);
		last_max = 0;
		next_report += (int64_t)1000000000;
		if (secs && t - start >= (int64_t)secs * 1000000000)
			break;
		prev = now_ns();
	}
	printf("VMX3 gaps done max_us=%" PRId64 " over5ms=%" PRIu64 " loops=%" PRIu64 "\n",
	       max / 1000, over, loops);
	return 0;
}
