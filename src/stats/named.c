/*
 * named.c - counters and kstats named after run-time objects (MMIO regions),
 * reached from warm paths without a registry lookup each time.
 *
 * A region's name is a stable string owned by its device, so the calling
 * thread caches (name pointer, offset, kind) -> id in a small direct-mapped
 * table and only a miss goes to the registries (which compare names under a
 * mutex).  Stats builds only.
 */
#include <stdint.h>
#include <stdio.h>
#include "kstat.h"
#include "stats.h"

#define NAMED_CACHE 128

enum { NAMED_KSTAT = 1, NAMED_READ, NAMED_WRITE };

struct named_entry {
	const char *key;
	uint64_t off;
	int kind;
	int id;
};

static _Thread_local struct named_entry cache[NAMED_CACHE];

static int lookup(const char *region, uint64_t off, int kind)
{
	uintptr_t h = ((uintptr_t)region >> 3) ^ (uintptr_t)(off * 0x9e3779b1u) ^ (uintptr_t)kind;
	struct named_entry *e = &cache[(h ^ (h >> 7)) % NAMED_CACHE];
	char name[STATS_NAME_MAX];

	if (e->key == region && e->off == off && e->kind == kind)
		return e->id;
	if (kind == NAMED_KSTAT) {
		snprintf(name, sizeof(name), "MMIO.%s", region);
		e->id = kstat_register(name, "MMIO accesses handled by this device");
	} else {
		snprintf(name, sizeof(name), "MMIO.%s.%c.0x%llx", region,
			 kind == NAMED_READ ? 'r' : 'w', (unsigned long long)off);
		e->id = stats_register(name, "MMIO accesses to this device register");
	}
	e->key = region;
	e->off = off;
	e->kind = kind;
	return e->id;
}

void kstat_push_mmio(const char *region)
{
	int id;
	if (!stats_on)
		return;
	id = lookup(region, 0, NAMED_KSTAT);
	kstat_push(id >= 0 ? (unsigned)id : KSTAT_MMIO);
}

void stats_count_mmio(const char *region, uint64_t off, bool write)
{
	int id;
	if (!stats_on)
		return;
	/* Registers are counted per 8-byte slot, so a guest cannot create unbounded names. */
	id = lookup(region, off & ~7ull & 0xfff, write ? NAMED_WRITE : NAMED_READ);
	STAT_INC_DYN(id);
}
