/*
 * vmx3-dirty.c - fills a share of guest RAM with non-zero, incompressible
 * data and keeps it, so suspend/resume benchmarks can measure a "mostly
 * dirty" guest next to an idle one.
 *
 *   vmx3-dirty PERCENT     fill PERCENT of MemTotal, print a marker, then sleep
 *
 * Prints "VMX3 dirty mb=N" when the memory is filled.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
	for (;;)
		pause();
}
