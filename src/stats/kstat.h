/*
 * kstat.h - kstats: where each vCPU's elapsed time goes, by monitor service.
 *
 * Each vCPU thread has a base kstat (what its loop is doing) and a stack of
 * the services pushed above it, kept in one word a byte per level, so a push
 * is a load, a shift and a store, and a pop a shift of that word.
 * Instrumentation only changes the current kstat and counts an invocation
 * (plain stores to memory only this thread writes; no clock read, no atomic
 * read-modify-write).  Time is sampled: the stats thread
 * (stats_thread.c) reads every vCPU's current kstat and stack at KSTAT_HZ and
 * charges one sample to it (or the vCPU thread charges itself from the
 * callstack profiler's tick, see kstat_sample_self), so kstats cover all elapsed time, including time
 * the vCPU thread is blocked or waiting for the host to schedule it (read
 * from /proc/self/task/<tid>/schedstat).
 *
 *   kstat_start(K)   the vCPU's base service (e.g. GUEST at the top of its loop),
 *                    with nothing pushed
 *   kstat_set(K)     the base service changes (sample-only: no invocation)
 *   kstat_push(K)    enter service K, remembering the current one
 *   kstat_pop()      return to the service that was current before the push
 *   kstat_vector(K)  rename the current service (retroactively: the time since
 *                    the push and its invocation now belong to K)
 *
 * Compiled in stats builds only; elsewhere these are empty inline functions.
 */
#ifndef VMX_STATS_KSTAT_H
#define VMX_STATS_KSTAT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "../lib/build.h"
#include "stats.h"

/* X-macro list: name, description.  Named kstats can also be registered at run time. */
#define KSTATS(X) \
	X(NONE, "not attributed (thread not yet in a service)") \
	X(GUEST, "guest execution (sample-only)") \
	X(IDLE_WFI, "idle: the hart executed WFI and waits for an interrupt") \
	X(IO_WAIT, "waiting for an I/O completion") \
	X(LOCK_WAIT, "blocked on an MXUser lock") \
	X(HOST_SCHED, "runnable but waiting for the host to schedule the thread") \
	X(VCPU_WAIT, "runnable, waiting for the board thread to run this vCPU") \
	X(TRAP, "trap entry (cause not yet known)") \
	X(TRAP_PAGEFAULT, "page-fault trap delivery") \
	X(TRAP_ECALL, "environment-call trap delivery") \
	X(TRAP_ILLEGAL, "illegal-instruction trap delivery") \
	X(TRAP_OTHER, "other exception delivery") \
	X(IRQ, "interrupt delivery") \
	X(PAGE_WALK, "page-table walks (TLB fill)") \
	X(DCACHE_FILL, "decode-cache fills (block decode)") \
	X(JIT_TRANSLATE, "translating blocks to host code") \
	X(CSR, "CSR instruction emulation") \
	X(SFENCE, "SFENCE.VMA and translation flushes") \
	X(MMIO, "MMIO dispatch (before the device is known)") \
	X(IO_SUBMIT, "I/O request submission") \
	X(IO_COMPLETE, "I/O completion handling") \
	X(CTL, "control-socket command handling") \
	X(BOARD, "board loop: scheduling, timers, interrupts")

enum kstat_id {
#define KSTAT_ENUM(n, d) KSTAT_##n,
	KSTATS(KSTAT_ENUM)
#undef KSTAT_ENUM
	KSTAT_STATIC_COUNT
};

#define KSTAT_MAX 128      /* static plus registered; below 255, since a stack level is id + 1 in a byte */
#define KSTAT_DEPTH 8      /* levels above the base; a deeper push forgets the outermost level */
#define KSTAT_HZ 97        /* not a round number: do not run in step with periodic work */
#define KSTAT_MAX_PATHS 1024

/* Per-slot state: written by its own thread except `samples`/`host_sched` (sampler). */
struct kstat_vcpu {
	/*
	 * The pushed levels, innermost (current) in the low byte, each as its
	 * kstat id + 1; 0 bytes above the outermost.  0: nothing pushed, the
	 * base is current.  One word, so a sampler reads a consistent stack.
	 */
	_Atomic uint64_t levels;
	_Atomic uint16_t base;
	_Atomic int tid;               /* thread attached to this slot, 0 when none */
	uint64_t invocations[KSTAT_MAX];
	uint64_t samples[KSTAT_MAX];   /* sampler thread only */
	uint64_t last_run_delay_ns;    /* sampler thread only */
} __attribute__((aligned(64)));

#if VMX_STATS
extern struct kstat_vcpu kstat_vcpus[STATS_SLOTS];
/*
 * &kstat_vcpus[stats_slot] (stats_set_slot keeps it), one TLS load per use;
 * while stats are off, a slot nobody samples, so the functions below need
 * no test (as stats_row).
 */
extern _Thread_local struct kstat_vcpu *kstat_me STATS_TLS;

static inline struct kstat_vcpu *kstat_self_(void) { return kstat_me; }

/* This thread's counter, read by the stats thread: one writer, relaxed load and store. */
static inline void kstat_bump_(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* The kstat current in a stack word and base (for readers: the sampler, tests). */
static inline unsigned kstat_cur_of(uint64_t levels, unsigned base)
{
	return levels ? (unsigned)(levels & 0xff) - 1 : base;
}

static inline unsigned kstat_vcpu_cur(const struct kstat_vcpu *v)
{
	return kstat_cur_of(atomic_load_explicit(&v->levels, memory_order_relaxed),
			    atomic_load_explicit(&v->base, memory_order_relaxed));
}

static inline void kstat_start(unsigned id)
{
	struct kstat_vcpu *v = kstat_self_();
	atomic_store_explicit(&v->levels, 0, memory_order_relaxed);
	atomic_store_explicit(&v->base, (uint16_t)id, memory_order_relaxed);
	kstat_bump_(&v->invocations[id], 1);
}

/* id < KSTAT_MAX (128), so id + 1 fits a byte. */
static inline void kstat_push(unsigned id)
{
	struct kstat_vcpu *v = kstat_self_();
	uint64_t w = atomic_load_explicit(&v->levels, memory_order_relaxed);
	atomic_store_explicit(&v->levels, (w << 8) | (id + 1), memory_order_relaxed);
	kstat_bump_(&v->invocations[id], 1);
}

/* An unbalanced pop finds nothing pushed and leaves the base current. */
static inline void kstat_pop(void)
{
	struct kstat_vcpu *v = kstat_self_();
	atomic_store_explicit(&v->levels, atomic_load_explicit(&v->levels, memory_order_relaxed) >> 8,
			      memory_order_relaxed);
}

static inline void kstat_vector(unsigned id)
{
	struct kstat_vcpu *v = kstat_self_();
	uint64_t w = atomic_load_explicit(&v->levels, memory_order_relaxed);
	unsigned old = kstat_cur_of(w, atomic_load_explicit(&v->base, memory_order_relaxed));
	if (__atomic_load_n(&v->invocations[old], __ATOMIC_RELAXED))
		kstat_bump_(&v->invocations[old], (uint64_t)-1);
	if (w)
		atomic_store_explicit(&v->levels, (w & ~0xffull) | (id + 1), memory_order_relaxed);
	else
		atomic_store_explicit(&v->base, (uint16_t)id, memory_order_relaxed);
	kstat_bump_(&v->invocations[id], 1);
}

/*
 * Sample-only: id becomes the base service without counting an invocation
 * (guest execution, the board loop's waits).  Called where nothing is pushed.
 */
static inline void kstat_set(unsigned id)
{
	atomic_store_explicit(&kstat_self_()->base, (uint16_t)id, memory_order_relaxed);
}

#define KSTAT_PUSH(name) kstat_push(KSTAT_##name)
#define KSTAT_POP() kstat_pop()
#define KSTAT_VECTOR(name) kstat_vector(KSTAT_##name)
#define KSTAT_START(name) kstat_start(KSTAT_##name)

/*
 * Binds the calling thread to counter/kstat slot `slot` (a vCPU index) so the
 * sampler samples it.  kstat_detach() before the thread exits.
 */
void kstat_attach(unsigned slot);
void kstat_detach(void);
/* Detaches every slot the calling thread is attached to (one thread may run several vCPUs). */
void kstat_detach_all(void);
/* Registers a named kstat ("MMIO.uart"); same name gives same id; -ENOSPC when full. */
int kstat_register(const char *name, const char *desc);
unsigned kstat_count(void);
const char *kstat_name(unsigned id);
const char *kstat_desc(unsigned id);

/*
 * Sampling.  kstat_sample_once() takes one sample of every attached slot
 * (called by the stats thread at KSTAT_HZ; tests call it directly).
 */
void kstat_sample_once(void);
/*
 * Self-sampling: a thread already interrupted at KSTAT_HZ (the callstack
 * profiler's timer) charges its own slots from that signal, so the stats
 * thread need not wake KSTAT_HZ times a second; kstat_sample_once() then
 * skips its slots.  kstat_self_begin() registers the calling thread (0 or
 * -errno); kstat_sample_self(ticks) is async-signal-safe and charges `ticks`
 * samples (the tick and the ones that expired while the signal was held),
 * the share the thread spent waiting for a host CPU to HOST_SCHED.
 * kstat_self_covers() tells whether every attached slot samples itself.
 */
int kstat_self_begin(void);
void kstat_sample_self(unsigned ticks);
/* The calling thread samples itself no more (it is about to exit). */
void kstat_self_end(void);
void kstat_self_end_all(void);
bool kstat_self_covers(void);
uint64_t kstat_invocations(unsigned slot, unsigned id);
uint64_t kstat_samples(unsigned slot, unsigned id);
uint64_t kstat_total_samples(unsigned slot);

/*
 * Nested view: every distinct stack seen by the sampler is a path node
 * (parent path, kstat); samples are kept per node and slot.
 */
unsigned kstat_npaths(void);
void kstat_path(unsigned node, int *parent, unsigned *kstat);
uint64_t kstat_path_samples(unsigned slot, unsigned node);

/*
 * One MMIO access to register `off` of the region named `region` (a stable
 * string), counted and entered in one step since every access does both:
 * counts MMIO_READ or MMIO_WRITE and "MMIO.<region>.<r|w>.<off>" (per 8-byte
 * slot, first 4 KiB), and pushes the kstat "MMIO.<region>", so each device's
 * register handling is its own service; pop with kstat_pop().
 *
 * In line, as the bus calls it on every device access: the calling thread
 * caches (name pointer, slot, direction) -> both ids in a small
 * direct-mapped table, and only a miss goes to the registries (named.c).
 */
struct stats_named_entry {
	const char *key;
	uint64_t off;
	bool write;
	int counter;
	int kstat;
};
#define STATS_NAMED_CACHE 128
extern _Thread_local struct stats_named_entry stats_named_cache[STATS_NAMED_CACHE] STATS_TLS;
void stats_named_fill_(struct stats_named_entry *e, const char *region, uint64_t off, bool write);

static inline __attribute__((always_inline)) void stats_mmio_enter(const char *region, uint64_t off,
								    bool write)
{
	struct stats_named_entry *e;
	uintptr_t h;

	/* Off, nothing is registered either. */
	if (!stats_on)
		return;
	/* Registers are counted per 8-byte slot, so a guest cannot create unbounded names. */
	off &= ~7ull & 0xfff;
	h = ((uintptr_t)region >> 3) ^ (uintptr_t)(off * 0x9e3779b1u) ^ (uintptr_t)write;
	e = &stats_named_cache[(h ^ (h >> 7)) % STATS_NAMED_CACHE];
	if (VMX_UNLIKELY(e->key != region || e->off != off || e->write != write))
		stats_named_fill_(e, region, off, write);
	STAT_ADD_ID(write ? STAT_MMIO_WRITE : STAT_MMIO_READ, 1);
	STAT_INC_DYN(e->counter);
	kstat_push(e->kstat >= 0 ? (unsigned)e->kstat : KSTAT_MMIO);
}

/* Flat text table of the live values (control socket, tests). */
void kstat_report(FILE *f);
void kstat_reset(void);
#else
static inline void kstat_start(unsigned id) { (void)id; }
static inline void kstat_push(unsigned id) { (void)id; }
static inline void kstat_pop(void) {}
static inline void kstat_vector(unsigned id) { (void)id; }
static inline int kstat_self_begin(void) { return 0; }
static inline void kstat_sample_self(unsigned ticks) { (void)ticks; }
static inline void kstat_self_end(void) {}
static inline void kstat_self_end_all(void) {}
static inline bool kstat_self_covers(void) { return false; }
static inline void kstat_set(unsigned id) { (void)id; }
#define KSTAT_PUSH(name) ((void)0)
#define KSTAT_POP() ((void)0)
#define KSTAT_VECTOR(name) ((void)0)
#define KSTAT_START(name) ((void)0)
static inline void kstat_attach(unsigned slot) { (void)slot; }
static inline void kstat_detach(void) {}
static inline void kstat_detach_all(void) {}
static inline int kstat_register(const char *name, const char *desc)
{
	(void)name; (void)desc;
	return 0;
}
static inline void kstat_report(FILE *f) { (void)f; }
static inline void stats_mmio_enter(const char *region, uint64_t off, bool write)
{
	(void)region; (void)off; (void)write;
}
#endif

#endif
