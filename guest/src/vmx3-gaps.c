/*
 * vmx3-gaps.c - reads CLOCK_MONOTONIC in a tight loop and reports the
 * longest gap between two consecutive readings and how many gaps were over
 * 5 ms: what a running guest notices of a pause on the host side, such as a
 * fast build-type switch (the guest's clock keeps running through a
 * hand-over, so the pause shows as one long gap).
 *
 * A gap has two possible causes, and a switch is only one of them: the
 * guest's own scheduler running something else on this vCPU (the task
 * waits on the guest's run queue), or the vCPU not running at all (host
 * scheduling, a monitor pause).  The task's run-queue wait comes from the
 * guest kernel (/proc/self/schedstat, read every 2 ms and after each long
 * gap); vcpu_max_us is the longest gap less that wait.
 *
 *   VMX3 gaps t_s=T max_us=M over5ms=N last_max_us=L last_vcpu_max_us=V vcpu_max_us=W
 *                                                       once a second
 *   VMX3 gaps done max_us=M over5ms=N loops=K vcpu_max_us=W   at the end
 * max_us, vcpu_max_us and over5ms count from the start; last_* within the
 * last second.
 *
 * Usage: vmx3-gaps [SECONDS]       (0 = forever; default 60)
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define GAP_LIMIT_NS ((int64_t)5000000)
#define RUNQ_READ_NS ((int64_t)2000000)

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* This task's wait on the guest's run queues (schedstat's 2nd field), -1 when unknown. */
static int64_t runq_ns(int fd)
{
	char buf[128];
	unsigned long long run, wait;
	ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return sscanf(buf, "%llu %llu", &run, &wait) == 2 ? (int64_t)wait : -1;
}

int main(int argc, char **argv)
{
	long secs = argc > 1 ? strtol(argv[1], NULL, 0) : 60;
	int fd = open("/proc/self/schedstat", O_RDONLY);
	int64_t start = now_ns(), prev = start, next_report = start + (int64_t)1000000000;
	int64_t max = 0, last_max = 0, vmax = 0, last_vmax = 0;
	int64_t rq = runq_ns(fd), rq_t = start;
	uint64_t over = 0, loops = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		int64_t t = now_ns(), gap = t - prev, vgap = gap;
		prev = t;
		loops++;
		if (gap > GAP_LIMIT_NS || t - rq_t >= RUNQ_READ_NS) {
			int64_t r = runq_ns(fd);
			/* Waited on the guest's run queue during the gap: the guest's doing. */
			if (gap > GAP_LIMIT_NS && r >= 0 && rq >= 0 && r > rq)
				vgap = r - rq >= gap ? 0 : gap - (r - rq);
			rq = r;
			rq_t = now_ns();
			prev = rq_t;   /* the read itself is not a gap */
		}
		if (gap > max)
			max = gap;
		if (gap > last_max)
			last_max = gap;
		if (vgap > vmax)
			vmax = vgap;
		if (vgap > last_vmax)
			last_vmax = vgap;
		if (gap > GAP_LIMIT_NS)
			over++;
		if (t < next_report)
			continue;
		/* The report itself takes time: do not count it as a gap. */
		printf("VMX3 gaps t_s=%" PRId64 " max_us=%" PRId64 " over5ms=%" PRIu64
		       " last_max_us=%" PRId64 " last_vcpu_max_us=%" PRId64 " vcpu_max_us=%" PRId64 "\n",
		       (int64_t)((t - start) / 1000000000), max / 1000, over, last_max / 1000,
		       last_vmax / 1000, vmax / 1000);
		last_max = last_vmax = 0;
		next_report += (int64_t)1000000000;
		if (secs && t - start >= (int64_t)secs * 1000000000)
			break;
		prev = now_ns();
	}
	printf("VMX3 gaps done max_us=%" PRId64 " over5ms=%" PRIu64 " loops=%" PRIu64
	       " vcpu_max_us=%" PRId64 "\n", max / 1000, over, loops, vmax / 1000);
	return 0;
}
