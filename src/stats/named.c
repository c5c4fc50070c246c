/*
 * named.c - counters and kstats named after run-time objects (MMIO regions),
 * reached from warm paths without a registry lookup each time: the per-thread
 * cache stats_mmio_enter (kstat.h) probes in line, and its misses.
 *
 * A region's name is a stable string owned by its device, so the calling
 * thread caches (name pointer, offset, direction) -> ids in a small
 * direct-mapped table and only a miss goes to the registries (which compare
 * names under a mutex).  Stats builds only.
 */
#include <stdint.h>
#include <stdio.h>
#include "kstat.h"
#include "stats.h"

/*
 * One entry per (region, register slot, direction) holds both ids an access
 * needs, so an access costs one probe: the register's counter and the
 * device's kstat.
 */
_Thread_local struct stats_named_entry stats_named_cache[STATS_NAMED_CACHE] STATS_TLS;

/* A miss: the registries give both ids (under their mutexes, hence out of line). */
__attribute__((noinline)) void stats_named_fill_(struct stats_named_entry *e, const char *region,
						 uint64_t off, bool write)
{
	char name[STATS_NAME_MAX];

	snprintf(name, sizeof(name), "MMIO.%s", region);
	e->kstat = kstat_register(name, "MMIO accesses handled by this device");
	snprintf(name, sizeof(name), "MMIO.%s.%c.0x%llx", region, write ? 'w' : 'r',
		 (unsigned long long)off);
	e->counter = stats_register(name, "MMIO accesses to this device register");
	e->key = region;
	e->off = off;
	e->write = write;
}
