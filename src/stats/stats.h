/*
 * stats.h - stats counters: how often important code points are reached.
 *
 * Compiled into the stats (and internal opt/obj) builds only.  Elsewhere every
 * entry point below is a static inline stub or a macro that expands to
 * nothing, so a release binary contains no trace of them.
 *
 * Counters are per vCPU (slot 0..VM_MAX_HARTS-1; the last slot is for the
 * non-vCPU threads) and plain uint64_t: each slot is written by one thread
 * only, so the hot path is one load of the thread's slot and one increment,
 * no atomics.  Readers (ustats writer, control socket) read the words with
 * relaxed loads; a torn value cannot happen on the 64-bit hosts we run on.
 *
 * Two kinds of counters share one table: the static list below (known at
 * compile time, cheapest to reach) and named counters registered at run time
 * with stats_register() (per device, per register, ...).
 */
#ifndef VMX_STATS_STATS_H
#define VMX_STATS_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "../lib/build.h"

/*
 * X-macro list: name, number of elements, description.  An element count > 1
 * makes an array counter (its elements are named NAME.0, NAME.1, ...); the
 * STAT_INC_IDX macro clamps an out-of-range index to the last element, so a
 * guest-chosen index can never write outside the array.
 */
#define STATS_COUNTERS(X) \
	X(CTL_COMMAND, 1, "control-socket commands handled") \
	X(MMIO_READ, 1, "MMIO reads dispatched on the bus") \
	X(MMIO_WRITE, 1, "MMIO writes dispatched on the bus") \
	X(MMIO_UNCLAIMED, 1, "physical accesses no region claims (access faults)") \
	X(DMA_READ, 1, "device DMA reads from guest RAM") \
	X(DMA_WRITE, 1, "device DMA writes to guest RAM") \
	X(HART_RUN, 1, "hart_run calls (scheduling slices)") \
	X(HART_WFI, 1, "WFI with nothing pending (hart goes idle)") \
	X(VCPU_SLEEP, 1, "a vCPU thread slept in WFI (one thread per vCPU)") \
	X(HART_KICK, 1, "hart_kick requests") \
	X(INSN_LOAD, 1, "guest loads executed (slow path)") \
	X(INSN_STORE, 1, "guest stores executed (slow path)") \
	X(INSN_AMO, 1, "guest atomics (LR/SC/AMO)") \
	X(INSN_CSR, 1, "guest CSR instructions") \
	X(INSN_FP, 1, "guest floating-point instructions handled in software") \
	X(INSN_SYSTEM, 1, "ECALL/EBREAK/xRET/WFI/SFENCE") \
	X(TRAP_EXC, 16, "synchronous exceptions taken, by mcause") \
	X(TRAP_IRQ, 16, "interrupts taken, by cause") \
	X(TRAP_TO_M, 1, "traps taken into M-mode") \
	X(TRAP_TO_S, 1, "traps taken into S-mode") \
	X(TLB_MISS, 1, "TLB misses (page walks)") \
	X(TLB_FLUSH, 1, "TLB flushes (SFENCE.VMA, satp writes)") \
	X(TLB_VICTIM_HIT, 1, "TLB misses served by the victim entries, without a page walk") \
	X(DCACHE_MISS, 1, "decode-cache misses (block decodes)") \
	X(DCACHE_REFOUND, 1, "blocks found again in the victim table after a slot conflict, not decoded again") \
	X(DCACHE_FLUSH, 1, "decode-cache flushes") \
	X(DCACHE_INVAL, 1, "decoded-code invalidations by RAM writes") \
	X(JIT_BLOCKS, 1, "blocks translated to host code") \
	X(JIT_HANDBACK, 1, "blocks the translator handed back to the interpreter") \
	X(JIT_RUNS, 1, "translated blocks entered from the loop") \
	X(JIT_INSNS, 1, "instructions retired by translated code (counted per block)") \
	X(JIT_LINKS, 1, "direct jumps patched between translated blocks") \
	X(JIT_INLINE, 1, "side paths of loops translated in line") \
	X(JIT_FLUSH, 1, "code-cache flushes") \
	X(PLIC_CLAIM, 1, "PLIC claims") \
	X(PLIC_COMPLETE, 1, "PLIC completions") \
	X(UART_TX, 1, "UART bytes transmitted") \
	X(UART_RX, 1, "UART bytes received") \
	X(VIRTIO_NOTIFY, 1, "virtio queue notifications") \
	X(VIRTIO_REQ, 1, "virtio requests processed") \
	X(VIRTIO_BLK_READ, 1, "virtio-blk read requests") \
	X(VIRTIO_BLK_WRITE, 1, "virtio-blk write requests") \
	X(VIRTIO_BLK_FLUSH, 1, "virtio-blk flush requests") \
	X(VIRTIO_BLK_BYTES, 1, "virtio-blk bytes transferred") \
	X(VIRTIO_IRQ, 1, "virtio used-buffer interrupts raised") \
	X(SBI_CALL, 1, "SBI calls seen (ECALL from S-mode)") \
	X(LOCK_CONTENDED, 1, "MXUser lock acquisitions that had to wait")

enum stat_id {
#define STAT_ENUM(n, c, d) STAT_##n, STAT_##n##_LAST_ = STAT_##n + (c) - 1,
	STATS_COUNTERS(STAT_ENUM)
#undef STAT_ENUM
	STAT_COUNT
};

#define STATS_SLOTS 9 /* 8 vCPUs + one for every other thread */
#define STATS_SLOT_OTHER 8
/* Static counters plus room for counters registered at run time. */
#define STATS_MAX_COUNTERS 512
#define STATS_NAME_MAX 48

#if VMX_STATS
/*
 * The per-thread pointers below are reached with one %fs-relative load:
 * every object that uses them is linked into an executable (the monitor,
 * the tests), where the initial-exec model's GOT load is not needed.
 */
#define STATS_TLS __attribute__((tls_model("local-exec")))
/* One row per slot, each on its own cache lines (rows are 4 KiB). */
extern uint64_t stats_counts[STATS_SLOTS][STATS_MAX_COUNTERS];
extern _Thread_local unsigned stats_slot STATS_TLS;
/*
 * stats_counts[stats_slot], kept beside the index so an increment needs no
 * address arithmetic; while stats are off, a row nobody reads, so an
 * increment needs no test either (stats_set_slot, stats_set_enabled).
 * A thread that never chose a slot writes the "other" row, which nothing
 * reports while stats are off.
 */
extern _Thread_local uint64_t *stats_row STATS_TLS;
/* False when `stats.enable = "FALSE"`: counters, kstats and lock stats stay off. */
extern bool stats_on;

/*
 * One writer per slot: a relaxed load and store, not a locked add (the
 * stats thread's relaxed loads are the only other access).
 */
#define STAT_ADD_ID(id, n) \
	do { \
		uint64_t *c_ = &stats_row[(id)]; \
		__atomic_store_n(c_, __atomic_load_n(c_, __ATOMIC_RELAXED) + (n), \
				 __ATOMIC_RELAXED); \
	} while (0)
#define STAT_INC(name) STAT_ADD_ID(STAT_##name, 1)
#define STAT_ADD(name, n) STAT_ADD_ID(STAT_##name, (uint64_t)(n))
#define STAT_INC_IDX(name, i) \
	STAT_ADD_ID((unsigned)(i) <= (unsigned)(STAT_##name##_LAST_ - STAT_##name) ? \
		    STAT_##name + (unsigned)(i) : (unsigned)STAT_##name##_LAST_, 1)
/* For counters registered with stats_register(); id < 0 (failed registration) is ignored. */
#define STAT_INC_DYN(id) \
	do { if ((id) >= 0) STAT_ADD_ID((unsigned)(id), 1); } while (0)
#define STAT_ADD_DYN(id, n) \
	do { if ((id) >= 0) STAT_ADD_ID((unsigned)(id), (uint64_t)(n)); } while (0)

/* Which counter slot the calling thread writes (vCPU index or STATS_SLOT_OTHER). */
void stats_set_slot(unsigned slot);
/* Turns everything in the stats build on or off (before the vCPUs start). */
void stats_set_enabled(bool on);
/*
 * Registers a named counter (same name twice gives the same id); returns its
 * id, or -ENOSPC when the table is full.  Thread-safe; not for hot paths.
 */
int stats_register(const char *name, const char *desc);
/* Number of counter ids in use (static ones plus registered ones). */
unsigned stats_ncounters(void);
/* Name of counter id ("TRAP_EXC.13" for array elements) into buf. */
const char *stats_name(unsigned id, char *buf, size_t len);
const char *stats_desc(unsigned id);
uint64_t stats_get(unsigned slot, unsigned id);
uint64_t stats_total(unsigned id);
/* Writes "name total slot0 slot1 ..." lines for nonzero counters, sorted by total. */
void stats_report(FILE *f);
/* Prometheus text exposition of counters and kstats (hostd serves it). */
void stats_prometheus(FILE *f);
/* Zeroes every counter (tests). */
void stats_reset(void);
/*
 * Crosscalls (src/stats/crosscall.c): vCPU `from` (STATS_SLOT_OTHER: the
 * board) raised a software interrupt to vCPU `to`; vCPU `hart` took one.
 */
void stats_ipi_sent(unsigned from, unsigned to);
void stats_ipi_taken(unsigned hart);
#else
#define STAT_INC(name) ((void)0)
#define STAT_ADD(name, n) ((void)0)
#define STAT_INC_IDX(name, i) ((void)0)
#define STAT_INC_DYN(id) ((void)0)
#define STAT_ADD_DYN(id, n) ((void)0)
static inline void stats_set_slot(unsigned slot) { (void)slot; }
static inline void stats_set_enabled(bool on) { (void)on; }
static inline int stats_register(const char *name, const char *desc)
{
	(void)name; (void)desc;
	return -1;
}
static inline uint64_t stats_total(unsigned id) { (void)id; return 0; }
static inline void stats_report(FILE *f) { (void)f; }
static inline void stats_prometheus(FILE *f) { (void)f; }
static inline void stats_ipi_sent(unsigned from, unsigned to) { (void)from; (void)to; }
static inline void stats_ipi_taken(unsigned hart) { (void)hart; }
#endif

#endif
