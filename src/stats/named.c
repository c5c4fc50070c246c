/*
 * named.c - counters and kstats named after run-time objects (MMIO regions),
 * reached from warm paths without a registry lookup each time.
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

#define NAMED_CACHE 128

/*
 * One entry per (region, register slot, direction) holds both ids an access
 * needs, so an access costs one probe: the register's counter and the
 * device's kstat.
 */
struct named_entry {
	const char *key;
	uint64_t off;
	bool write;
	int counter;
	int kstat;
};

static _Thread_local struct named_entry cache[NAMED_CACHE];

/* A miss: the registries give both ids (under their mutexes, hence out of line). */
static __attribute__((noinline)) void fill(struct named_entry *e, const char *region, uint64_t off,
					   bool write)
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

void stats_mmio_enter(const char *region, uint64_t off, bool write)
{
	struct named_entry *e;
	uintptr_t h;

	if (!stats_on)
		return;
	/* Registers are counted per 8-byte slot, so a guest cannot create unbounded names. */
	off &= ~7ull & 0xfff;
	h = ((uintptr_t)region >> 3) ^ (uintptr_t)(off * 0x9e3779b1u) ^ (uintptr_t)write;
	e = &cache[(h ^ (h >> 7)) % NAMED_CACHE];
	if (VMX_UNLIKELY(e->key != region || e->off != off || e->write != write))
		fill(e, region, off, write);
	STAT_ADD_ID(write ? STAT_MMIO_WRITE : STAT_MMIO_READ, 1);
	STAT_INC_DYN(e->counter);
	kstat_push(e->kstat >= 0 ? (unsigned)e->kstat : KSTAT_MMIO);
}
