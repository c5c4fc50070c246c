/*
 * admit.c - admission control: the host has a memory capacity and each
 * running VM reserves its guest RAM plus an overhead that depends on the
 * build type of its vmx.  The figures are deliberately conservative; beta
 * keeps more bookkeeping for its checks, stats keeps counters and buffers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "hostd.h"

uint64_t admit_overhead_mb(enum buildtype t)
{
	static const uint64_t mb[BUILDTYPE_COUNT] = {
		[BUILDTYPE_DEFAULT] = 64,
		[BUILDTYPE_DEBUG] = 128,
		[BUILDTYPE_STATS] = 96,
	};
	return (unsigned)t < BUILDTYPE_COUNT ? mb[t] : mb[BUILDTYPE_DEBUG];
}

int admit_check(uint64_t capacity_mb, uint64_t reserved_mb, uint64_t need_mb, char *msg,
		size_t len)
{
	bool fits = reserved_mb <= capacity_mb && need_mb <= capacity_mb - reserved_mb;

	snprintf(msg, len,
		 "host memory capacity %llu MiB, %llu MiB reserved by running VMs, %llu MiB free; "
		 "this needs %llu MiB",
		 (unsigned long long)capacity_mb, (unsigned long long)reserved_mb,
		 (unsigned long long)(reserved_mb <= capacity_mb ? capacity_mb - reserved_mb : 0),
		 (unsigned long long)need_mb);
	return fits ? 0 : -ENOSPC;
}

uint64_t admit_host_mem_mb(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb / 1024;
}
