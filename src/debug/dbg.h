/*
 * dbg.h - invariant checks of the beta (debug) build.
 *
 * Linked into beta, opt and obj only; in release and stats these are static
 * inline stubs that return true / NULL, so callers write
 * VMX_ASSERT_EXPENSIVE(dbg_x()) or DBG_CHECK("name", dbg_x_problem(...)) and
 * the check vanishes.
 *
 * A *_problem() function is pure: it reads the monitor's own state and
 * returns NULL when the invariant holds, else a sentence naming what is wrong
 * (in a per-thread buffer, valid until the next call).  Only properties that
 * hold whatever the guest does are checked: guest misbehaviour is a guest
 * exception or a device error, never a failed check.  DBG_CHECK() turns a
 * problem into vmx_panic() - the crash report of crashrep.h, exit status 70 -
 * with the message "<name> check: <problem>".
 *
 * The checks only read, so the guest sees the same machine in every build
 * (deterministic state hashes stay equal).  docs/STATS.md lists them.
 */
#ifndef VMX_DEBUG_DBG_H
#define VMX_DEBUG_DBG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../lib/build.h"
#include "../mem/bus.h"

struct hart_state;
struct hart;
struct block;
struct cfg;
struct verr;
struct plic_state;
struct clint_state;
struct uart_state;
struct virtio_mmio_state;

/*
 * Test knob monitor.debugTestCorrupt (opt and obj builds only): the monitor
 * corrupts one piece of its own state on purpose so that the named check
 * fires, proving that check and crash report work end to end.
 */
enum dbg_fault {
	DBG_FAULT_NONE = 0,
	DBG_FAULT_TLB_FILL,     /* "tlb-fill": a new TLB entry points at the wrong host page */
	DBG_FAULT_TLB_FLUSH,    /* "tlb-flush": a full TLB flush keeps one entry */
	DBG_FAULT_DCACHE,       /* "decode-cache": cached blocks keep wrong instruction bits */
	DBG_FAULT_VIRTIO,       /* "virtio": a used-ring entry is handed back twice */
	DBG_FAULT_PLIC,         /* "plic": a claim leaves the source pending */
	DBG_FAULT_CLINT,        /* "clint": a register write also sets msip past the last hart */
	DBG_FAULT_UART,         /* "uart": the interrupt line is not what IIR says */
	DBG_FAULT_IRQ,          /* "irq-lines": a hart's MSIP differs from the CLINT's msip */
	DBG_FAULT_CKPT,         /* "checkpoint": the saved cpu.0 section's pc differs from the hart's */
	DBG_FAULT_SECTION_VERSION, /* "section-version": the clint section is saved as version 99 */
	DBG_FAULT_HANDOVER_HELLO,  /* "handover-hello": a receiving vmx says it reads no device section */
	DBG_FAULT_DEVICE_BLOBS,    /* "device-blobs": device sections saved as version-1 blobs */
	DBG_FAULT_JIT_LINK,        /* "jit-link": a translated exit is linked past the chained entry */
	DBG_FAULT_COUNT
};

/*
 * Monitor-side bookkeeping of one virtqueue, kept by the transport in beta
 * builds only (zero elsewhere): chains taken from the avail ring and handed
 * back in the used ring since the last reset, which heads are in flight, and
 * the last used index the device wrote.
 */
struct dbg_virtq {
	uint16_t popped, pushed;
	uint16_t used_written;
	uint16_t twice_head;     /* head of a chain handed back while not in flight */
	bool twice;
	uint8_t inflight[256 / 8];
};

#if VMX_DEBUG
/* Stops the monitor: vmx_panic("<check> check: <problem>"). */
VMX_NORETURN void dbg_fail(const char *check, const char *problem, const char *file, int line);
#define DBG_CHECK(name, problem) do { \
		const char *why_ = (problem); \
		if (VMX_UNLIKELY(why_ != NULL)) \
			dbg_fail((name), why_, __FILE__, __LINE__); \
	} while (0)

/* Reads monitor.debugTestCorrupt (opt/obj builds; beta ignores it). */
int dbg_configure(const struct cfg *c, struct verr *e);
extern enum dbg_fault dbg_fault_kind;
/* True when the test knob asks for fault f (never in beta: VMX_DEVEL is 0). */
static inline bool dbg_fault(enum dbg_fault f)
{
	return VMX_DEVEL && VMX_UNLIKELY(dbg_fault_kind == f);
}
/* The knob's value for f ("tlb-fill", ...), NULL for DBG_FAULT_NONE or out of range. */
const char *dbg_fault_name(enum dbg_fault f);
/* monitor.debugJitDiff (opt/obj): sampled translated blocks are run again by the interpreter. */
extern bool dbg_jit_diff_on;
static inline bool dbg_jit_diff(void) { return VMX_DEVEL && VMX_UNLIKELY(dbg_jit_diff_on); }

/* Bus regions are non-empty, inside the address space and disjoint from each other and RAM. */
bool dbg_bus_consistent(const struct bus *b);
/* NULL when the hart's architectural state is self-consistent, else what is wrong. */
const char *dbg_hart_state_problem(const struct hart_state *s);
/* Stops the monitor (crash report) naming the problem, if there is one. */
void dbg_check_hart_at(const struct hart_state *s, const char *file, int line);
#define dbg_check_hart(s) dbg_check_hart_at((s), __FILE__, __LINE__)

/*
 * CPU caches (dbg_cpu.c).  tlb_fill: the entry just made for va (access kind
 * acc, translation mode) against a fresh side-effect-free page walk.
 * tlb_flush: after mmu_flush_all (all) or mmu_flush_va(va), nothing the flush
 * had to drop survives, and the superpage bookkeeping still finds every entry;
 * without `deep` only the slots and region bits of va are looked at (a flush
 * of one va visits one slot per table: a scan of all 3072 entries there would
 * cost more than the flush itself).
 * block: a cached decoded block against guest memory now.
 */
const char *dbg_tlb_fill_problem(const struct hart *h, uint64_t va, unsigned acc, unsigned mode);
const char *dbg_tlb_flush_problem(const struct hart *h, uint64_t va, bool all, bool deep);
const char *dbg_block_problem(const struct hart *h, const struct block *b);
/* jit_diff: the state translated code left against the interpreter's from the same start. */
const char *dbg_jit_diff_problem(const struct hart_state *jit, const struct hart_state *interp);
/*
 * jit_link: a translated exit to guest pc `target`, linked in the current
 * generation, jumps to run address dest; `to` (the block it was linked to)
 * must be that block's chained entry, translated, live (matching guest
 * memory on a page still marked as code) and at `target`.
 */
const char *dbg_jit_link_problem(const struct hart *h, uint64_t target, const struct block *to,
				 const void *dest);

/* Devices (dbg_dev.c); each gets the device's state struct and host-side caches. */
const char *dbg_plic_problem(const struct plic_state *st, unsigned nctx, const bool *out,
			     const bool *out_valid);
const char *dbg_clint_problem(const struct clint_state *st, unsigned nharts);
const char *dbg_uart_problem(const struct uart_state *st, bool irq_level, size_t out_len,
			     size_t out_cap);
/* ram: guest RAM for the ready queues' rings, NULL to skip that part. */
const char *dbg_virtio_problem(const struct virtio_mmio_state *st, unsigned nqueues,
			       uint64_t offered, bool irq_level, const struct dbg_virtq *dq,
			       const struct guest_ram *ram);
/* Virtqueue bookkeeping: after a reset or restore, a chain taken, a chain handed back. */
void dbg_virtq_reset(struct dbg_virtq *dq, uint16_t last_avail, uint16_t used_idx);
void dbg_virtq_pop(struct dbg_virtq *dq, uint16_t head);
void dbg_virtq_push(struct dbg_virtq *dq, uint16_t head, uint16_t used_idx);
/*
 * Board (dbg_dev.c): the interrupt lines of hart `hart` that devices drive
 * (mip MEIP/SEIP from the PLIC, MSIP/MTIP from the CLINT) agree with the
 * devices; t0 is mtime before the CLINT last drove MTIP, t1 mtime now.
 */
const char *dbg_irq_lines_problem(uint64_t mip, unsigned hart, const struct plic_state *ps,
				  const struct clint_state *cs, uint64_t t0, uint64_t t1);
#else
#define DBG_CHECK(name, problem) ((void)0)
static inline int dbg_configure(const struct cfg *c, struct verr *e)
{
	(void)c; (void)e;
	return 0;
}
static inline bool dbg_fault(enum dbg_fault f) { (void)f; return false; }
static inline bool dbg_jit_diff(void) { return false; }
static inline bool dbg_bus_consistent(const struct bus *b) { (void)b; return true; }
static inline const char *dbg_hart_state_problem(const struct hart_state *s)
{
	(void)s;
	return (const char *)0;
}
#define dbg_check_hart(s) ((void)0)
static inline void dbg_virtq_reset(struct dbg_virtq *dq, uint16_t last_avail, uint16_t used_idx)
{
	(void)dq; (void)last_avail; (void)used_idx;
}
static inline void dbg_virtq_pop(struct dbg_virtq *dq, uint16_t head) { (void)dq; (void)head; }
static inline void dbg_virtq_push(struct dbg_virtq *dq, uint16_t head, uint16_t used_idx)
{
	(void)dq; (void)head; (void)used_idx;
}
#endif

#endif
