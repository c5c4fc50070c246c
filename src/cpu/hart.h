/*
 * hart.h - the contract of the CPU: an RV64IMAFDC hart with M, S and U modes,
 * Sv39/Sv48 paging and Sstc, as the board and devices see it.
 *
 * The architectural state is a plain struct (struct hart_state, hart_state.h)
 * so that the checkpoint code can save and restore it field by field; the
 * execution engine's caches live privately in the cpu module.
 *
 * Threading: hart_run() is called by one thread at a time per hart, and all
 * harts sharing a bus run on that one thread (they share the map of pages
 * holding decoded code).  The interrupt entry points (hart_set_irq/hart_kick/
 * hart_irq_pending) may be called from any thread.  bus->ram_written, which the
 * first hart created on a bus installs, must be called on the harts' thread or
 * while no hart runs.
 */
#ifndef VMX_CPU_HART_H
#define VMX_CPU_HART_H

#include <stdbool.h>
#include <stdint.h>
#include "../mem/bus.h"
#include "../lib/verr.h"

struct hart;
struct hart_state;

/* mip/mie bits */
#define MIP_SSIP (1ULL << 1)
#define MIP_MSIP (1ULL << 3)
#define MIP_STIP (1ULL << 5)
#define MIP_MTIP (1ULL << 7)
#define MIP_SEIP (1ULL << 9)
#define MIP_MEIP (1ULL << 11)

enum priv { PRIV_U = 0, PRIV_S = 1, PRIV_M = 3 };

/* What the board gives every hart. */
struct hart_platform {
	struct bus *bus;
	/* Machine timer (mtime), in ticks of timebase_hz; read for `time` and Sstc. */
	uint64_t (*time)(void *ctx);
	void *ctx;
	uint64_t timebase_hz;
	/* Physical address of the HTIF tohost word, 0 when not in use. */
	uint64_t tohost;
	/* monitor.translate: hot blocks are compiled to host code (docs/TRANSLATOR.md). */
	bool translate;
};

/* Why hart_run returned. */
enum hart_exit {
	HART_EXIT_BUDGET = 0,  /* ran the instruction budget */
	HART_EXIT_WFI,         /* executed WFI with nothing pending: idle until an interrupt */
	HART_EXIT_STOP,        /* hart_kick(): the board asked it to stop early */
	HART_EXIT_TOHOST,      /* HTIF tohost written (bare-metal tests) */
};

int hart_create(struct hart **out, unsigned hartid, const struct hart_platform *plat,
		struct verr *e);
void hart_destroy(struct hart *h);

/* Reset: M-mode, pc = entry, everything else architecturally reset. */
void hart_reset(struct hart *h, uint64_t entry);
void hart_set_xreg(struct hart *h, unsigned reg, uint64_t val);
uint64_t hart_get_xreg(const struct hart *h, unsigned reg);
uint64_t hart_get_pc(const struct hart *h);
unsigned hart_id(const struct hart *h);

/*
 * Runs until exactly `budget` instructions have retired (HART_EXIT_BUDGET), or
 * earlier when a WFI finds nothing pending (HART_EXIT_WFI, the WFI itself has
 * retired), hart_kick() was called (HART_EXIT_STOP) or the guest wrote tohost
 * (HART_EXIT_TOHOST, after that store retired).  Instructions that trap do not
 * retire and taking an interrupt retires nothing, so budget counts exactly
 * what minstret counts.  Only a trap storm ends it short: after more than
 * `budget` traps in one call it returns HART_EXIT_BUDGET early.  Interrupts and kicks are noticed between decoded
 * blocks (at most 64 instructions apart).  Given the same state, memory,
 * device inputs and budget, the result is the same every time.  The LR/SC
 * reservation is dropped on return, so round-robin harts on one thread stay
 * correct.
 */
enum hart_exit hart_run(struct hart *h, uint64_t budget);

/* Instructions retired since reset (the minstret counter). */
uint64_t hart_instret(const struct hart *h);

/* Set or clear bits of mip driven by devices (MTIP, MSIP, MEIP, SEIP); any thread. */
/* Returns mip before the change. */
uint64_t hart_set_irq(struct hart *h, uint64_t mip_mask, bool level);
/* Makes a running hart_run return HART_EXIT_STOP soon; any thread. */
void hart_kick(struct hart *h);

/*
 * Dirty log (live migration's pre-copy, dirty.c), for all harts on h's bus,
 * called from any thread.  hart_dirty_start: from now on every write to
 * guest RAM is recorded per 4 KiB page; when it returns, no hart can write
 * RAM unrecorded any more.  hart_dirty_sync: moves the pages written since
 * the start or the last sync into bits (one bit per page from RAM's base,
 * (pages + 63) / 64 words, ORed in) and returns their number; when it
 * returns, any write to them after the move is recorded for the next sync,
 * and every write before it is visible to the caller.  It waits for each
 * running hart to reach a block boundary.  hart_dirty_stop: no more
 * recording.
 */
int hart_dirty_start(struct hart *h, struct verr *e);
uint64_t hart_dirty_sync(struct hart *h, uint64_t *bits);
void hart_dirty_stop(struct hart *h);
/* True when an enabled interrupt is pending, so a WFI hart should run again. */
bool hart_irq_pending(const struct hart *h);
/* Earliest Sstc stimecmp deadline in timer ticks, UINT64_MAX if none. */
uint64_t hart_timer_deadline(const struct hart *h);
/* Re-evaluates STIP from stimecmp against the current time (called by the board). */
void hart_update_timer(struct hart *h, uint64_t now);

/* Architectural state for checkpoints and state hashes (see hart_state.h). */
struct hart_state *hart_state(struct hart *h);
/* Drops every cached translation and decoded block (after a state restore). */
void hart_flush_caches(struct hart *h);

/* Value last written to tohost by the guest (HART_EXIT_TOHOST). */
uint64_t hart_tohost_value(const struct hart *h);


/*
 * For the callstack profiler (bodies in src/cpu/peek.c).
 * Side-effect-free views of a hart for a sampler running in a signal handler
 * on the hart's own thread: no A/D updates, no TLB fill, no exception raised.
 *
 * hart_current is the hart the calling thread is running right now (set by
 * the board around hart_run, NULL otherwise).
 */
extern _Thread_local struct hart *hart_current;
/* Reads len bytes of guest virtual memory through the current translation
 * (satp, privilege); false when any byte is unmapped or not RAM. */
bool hart_peek_virt(const struct hart *h, uint64_t va, void *buf, unsigned len);
/* Current privilege mode (enum priv). */
unsigned hart_peek_priv(const struct hart *h);
/* Current satp (translation mode, ASID, root page), read without side effects. */
uint64_t hart_peek_satp(const struct hart *h);
/*
 * The guest pc the hart is executing at the moment its thread was
 * interrupted.  regs: the interrupted thread's general registers (the
 * interpreter keeps its decoded-instruction pointer in one of them).  True
 * with the exact pc and the instruction's bits when found; false with the pc
 * of the last block boundary (up to a block early; always so in builds
 * without VMX_STATS) and *raw = 0.
 */
bool hart_peek_pc(const struct hart *h, const uint64_t *regs, unsigned nregs, uint64_t *pc,
		  uint32_t *raw);
/*
 * The hart's code cache as run addresses, all 0 without one: [lo, body) the
 * entry and exit trampolines, [body, hi) translated blocks.  Inside a block
 * the return address into the code that entered translated code is at
 * rsp + HART_JIT_FRAME_BYTES - 8: the frame the entry trampoline built
 * (saved registers and alignment), unchanged while translated code runs, so
 * a profiler can step over translated frames, which have no unwind tables.
 */
#define HART_JIT_FRAME_BYTES 64
void hart_peek_jit(const struct hart *h, uint64_t *lo, uint64_t *body, uint64_t *hi);

#endif
