/*
 * stats.h - stats counters: how often important code points are reached.
 *
 * Compiled into the stats (and internal opt/obj) builds only.  Elsewhere every
 * entry point below is a static inline stub or a macro that expands to
 * nothing, so a release binary contains no trace of them.
 *
 * Counters are per vCPU (index 0..VM_MAX_HARTS-1; the last slot is for the
 * non-vCPU threads) and plain uint64_t: each is written by one thread only,
 * so the hot path needs no atomics.
 */
#ifndef VMX_STATS_STATS_H
#define VMX_STATS_STATS_H

#include <stdint.h>
#include <stdio.h>
#include "../lib/build.h"

/* X-macro list: name, description.  Add counters here. */
#define STATS_COUNTERS(X) \
	X(CTL_COMMAND, "control-socket commands handled") \
	X(MMIO_READ, "MMIO reads dispatched on the bus") \
	X(MMIO_WRITE, "MMIO writes dispatched on the bus") \
	X(DMA_READ, "device DMA reads from guest RAM") \
	X(DMA_WRITE, "device DMA writes to guest RAM")

enum stat_id {
#define STAT_ENUM(n, d) STAT_##n,
	STATS_COUNTERS(STAT_ENUM)
#undef STAT_ENUM
	STAT_COUNT
};

#define STATS_SLOTS 9 /* 8 vCPUs + one for every other thread */
#define STATS_SLOT_OTHER 8

#if VMX_STATS
extern uint64_t stats_counts[STATS_SLOTS][STAT_COUNT];
extern _Thread_local unsigned stats_slot;
#define STAT_INC(id) ((void)(stats_counts[stats_slot][STAT_##id]++))
#define STAT_ADD(id, n) ((void)(stats_counts[stats_slot][STAT_##id] += (n)))
/* Which counter slot the calling thread writes (vCPU index or STATS_SLOT_OTHER). */
void stats_set_slot(unsigned slot);
const char *stats_name(enum stat_id id);
uint64_t stats_total(enum stat_id id);
/* Writes "name total vcpu0 vcpu1 ..." lines, sorted by total, descending. */
void stats_report(FILE *f);
#else
#define STAT_INC(id) ((void)0)
#define STAT_ADD(id, n) ((void)0)
static inline void stats_set_slot(unsigned slot) { (void)slot; }
static inline uint64_t stats_total(enum stat_id id) { (void)id; return 0; }
static inline void stats_report(FILE *f) { (void)f; }
#endif

#endif
