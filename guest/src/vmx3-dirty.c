/*
 * vmx3-dirty.c - fills a share of guest RAM with non-zero, incompressible
 * data and keeps it, so suspend/resume benchmarks can measure a "mostly
 * dirty" guest next to an idle one; optionally keeps writing it, so live
 * migration benchmarks can measure a guest that dirties memory as it runs.
 *
 *   vmx3-dirty PERCENT [MBPS]   fill PERCENT of MemTotal, print a marker, then
 *                               sleep, or rewrite the filled memory page by
 *                               page (one word per 4 KiB page, all pages in
 *                               turn) at MBPS MiB of pages per second
 *
 * Prints "VMX3 dirty mb=N" when the memory is filled.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t mem_total_kb(void)
{
	char line[256];
	uint64_t kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %lu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	unsigned pct = argc > 1 ? (unsigned)atoi(argv[1]) : 80;
	uint64_t bytes = mem_total_kb() * 1024 / 100 * (pct > 95 ? 95 : pct);
	uint64_t x = 0x9e3779b97f4a7c15ull;

	setvbuf(stdout, NULL, _IOLBF, 0);
	uint64_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("vmx3-dirty: mmap");
		return 1;
	}
	/* xorshift64: every word differs and nothing compresses or is zero. */
	for (uint64_t i = 0; i < bytes / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = x;
	}
	printf("VMX3 dirty mb=%lu\n", (unsigned long)(bytes >> 20));
	unsigned mbps = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
	if (!mbps)
		for (;;)
			pause();
	/* Pages per 10 ms slice at that rate; one word each makes the page dirty. */
	uint64_t pages = bytes / 4096, per_slice = (uint64_t)mbps * 256 / 100, next = 0;
	if (!per_slice)
		per_slice = 1;
	for (;;) {
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (uint64_t i = 0; i < per_slice; i++) {
			p[(next % pages) * 512] = ++x;
			next++;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long used = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
		if (used < 10000000L) {
			struct timespec d = { 0, 10000000L - used };
			nanosleep(&d, NULL);
		}
	}
}
