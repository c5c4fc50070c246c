/*
 * hart_int.h - private to src/cpu: the hart's host-side structure, the
 * decoded-instruction form, the software TLB and the helpers the pieces of the
 * cpu module (decode, mmu, csr, hart) share.  Nothing outside src/cpu (and its
 * unit tests) includes this, except the beta build's read-only checks of these
 * caches in src/debug/dbg_cpu.c.
 */
#ifndef VMX_CPU_HART_INT_H
#define VMX_CPU_HART_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "hart.h"
#include "hart_state.h"
#include "../debug/dbg.h"
#include "../lib/build.h"
#include "jit_int.h"

/*
 * Every internal operation.  Compressed instructions decode to the same ops as
 * their 32-bit expansions.  The exec loop builds its computed-goto table from
 * this list, so order only matters in that both sides use it.  JAL_IN never
 * comes from the decoder: block building turns a jal whose target is in the
 * same page into it and goes on decoding at the target, so the jump costs a
 * register write instead of a block exit.
 */
#define HART_OPS(X) \
	X(ILLEGAL) X(END) X(LUI) X(AUIPC) X(JAL) X(JALR) \
	X(BEQ) X(BNE) X(BLT) X(BGE) X(BLTU) X(BGEU) \
	X(LB) X(LH) X(LW) X(LD) X(LBU) X(LHU) X(LWU) X(SB) X(SH) X(SW) X(SD) \
	X(ADDI) X(SLTI) X(SLTIU) X(XORI) X(ORI) X(ANDI) X(SLLI) X(SRLI) X(SRAI) \
	X(ADD) X(SUB) X(SLL) X(SLT) X(SLTU) X(XOR) X(SRL) X(SRA) X(OR) X(AND) \
	X(ADDIW) X(SLLIW) X(SRLIW) X(SRAIW) X(ADDW) X(SUBW) X(SLLW) X(SRLW) X(SRAW) \
	X(MUL) X(MULH) X(MULHSU) X(MULHU) X(DIV) X(DIVU) X(REM) X(REMU) \
	X(MULW) X(DIVW) X(DIVUW) X(REMW) X(REMUW) \
	X(LR_W) X(SC_W) X(LR_D) X(SC_D) X(AMO_W) X(AMO_D) \
	X(FENCE) X(FENCE_I) X(ECALL) X(EBREAK) X(MRET) X(SRET) X(WFI) X(SFENCE_VMA) \
	X(CSRRW) X(CSRRS) X(CSRRC) X(CSRRWI) X(CSRRSI) X(CSRRCI) \
	X(FLW) X(FSW) X(FLD) X(FSD) X(FMA_S) X(FMA_D) \
	X(FADD_S) X(FSUB_S) X(FMUL_S) X(FDIV_S) X(FSQRT_S) X(FSGNJ_S) X(FSGNJN_S) X(FSGNJX_S) \
	X(FMIN_S) X(FMAX_S) X(FCVT_W_S) X(FCVT_WU_S) X(FCVT_L_S) X(FCVT_LU_S) X(FMV_X_W) \
	X(FEQ_S) X(FLT_S) X(FLE_S) X(FCLASS_S) X(FCVT_S_W) X(FCVT_S_WU) X(FCVT_S_L) \
	X(FCVT_S_LU) X(FMV_W_X) \
	X(FADD_D) X(FSUB_D) X(FMUL_D) X(FDIV_D) X(FSQRT_D) X(FSGNJ_D) X(FSGNJN_D) X(FSGNJX_D) \
	X(FMIN_D) X(FMAX_D) X(FCVT_W_D) X(FCVT_WU_D) X(FCVT_L_D) X(FCVT_LU_D) X(FMV_X_D) \
	X(FEQ_D) X(FLT_D) X(FLE_D) X(FCLASS_D) X(FCVT_D_W) X(FCVT_D_WU) X(FCVT_D_L) \
	X(FCVT_D_LU) X(FMV_D_X) X(FCVT_S_D) X(FCVT_D_S) \
	X(JAL_IN)

#define HART_OP_ENUM(n) OP_##n,
enum hart_op { HART_OPS(HART_OP_ENUM) OP_COUNT };
#undef HART_OP_ENUM

/* AMO function codes (funct5 of the A extension) kept in dinsn.rm. */
enum { AMO_ADD = 0x00, AMO_SWAP = 0x01, AMO_XOR = 0x04, AMO_OR = 0x08, AMO_AND = 0x0c,
       AMO_MIN = 0x10, AMO_MAX = 0x14, AMO_MINU = 0x18, AMO_MAXU = 0x1c };

/*
 * One decoded instruction: operands pre-extracted, immediates sign-extended,
 * rd == 0 redirected to the sink register 32.  pc is the instruction's virtual
 * address; idx its position in the block (how many instructions before it
 * retired, for exact counting when it traps).
 */
struct dinsn {
	const void *handler;   /* label of the op's handler in hart_run (direct threading) */
	uint16_t op;
	uint8_t rd, rs1, rs2, rs3;
	uint8_t rm;       /* FP rounding mode, AMO funct5, or CSR number's low byte holder */
	uint8_t len;      /* 2 or 4 */
	uint16_t idx;
	uint16_t csr;
	uint32_t raw;     /* instruction bits, for mtval on illegal instruction */
	int64_t imm;
	uint64_t pc;
};

/* Longest block; also bounds how late a kick or interrupt can be noticed. */
#define BLOCK_MAX 64

struct block {
	uint64_t vpc, ppc;
	uint32_t n;              /* instructions retired when it runs to the end */
	uint32_t cached;         /* lives in the block table (vs. one-shot scratch) */
	/*
	 * Successors seen after this block, valid while link_gen equals the
	 * hart's chain_gen, which moves whenever a block is dropped or a
	 * translation may have changed.  Spares the block-table lookup.
	 */
	struct block *link[2];
	uint64_t link_gen;
	uint32_t link_rr;
	struct block *page_next;   /* cached blocks of the same page_head bucket */
	/*
	 * Translator (jit.c): run addresses of the translated body (entered
	 * from the loop, which has made the between-block checks) and of the
	 * chained entry before it (entered from another block: makes them).
	 * NULL until translated; jit_no once the translator handed it back.
	 */
	const void *jit, *jit_chain;
	const struct jit_map *jit_map;
	uint32_t hot;              /* loop-top visits, until translated */
	uint32_t jit_no;
	struct dinsn insn[];     /* n entries, then an OP_END */
};

#define BTAB_BITS 16
#define BTAB_SIZE (1u << BTAB_BITS)
static inline unsigned btab_hash(uint64_t vpc)
{
	return (unsigned)((vpc >> 1) ^ (vpc >> (BTAB_BITS + 1))) & (BTAB_SIZE - 1);
}
/* The victim table's slot: another hash, so two pcs that share a btab slot rarely share this one. */
static inline unsigned btab_victim_hash(uint64_t vpc)
{
	return (unsigned)(((vpc >> 1) * 0x9e3779b97f4a7c15ULL) >> (64 - BTAB_BITS));
}

/* Software TLB: direct mapped, 4 KiB granules, per translation mode and access kind. */
#define TLB_BITS 8
#define TLB_SIZE (1u << TLB_BITS)
#define TLB_MASK (TLB_SIZE - 1)
#define TLB_VICTIMS 8

enum mmu_mode { MMU_U = 0, MMU_S = 1, MMU_SSUM = 2, MMU_BARE = 3, MMU_NMODES = 4 };
enum mmu_acc { ACC_R = 0, ACC_W = 1, ACC_X = 2 };

struct tlbe {
	/*
	 * Virtual page address (va & ~0xfff), or ~0 when empty.  Accesses compare
	 * it with va & (~0xfff | (size - 1)), so one compare also rejects
	 * misaligned accesses, which the slow path handles.
	 */
	uint64_t tag;
	uint64_t addend;    /* host address = va + addend; entries map RAM only */
};

/* Exception causes */
enum {
	EXC_IFETCH_MISALIGNED = 0, EXC_IFETCH_ACCESS = 1, EXC_ILLEGAL = 2, EXC_BREAKPOINT = 3,
	EXC_LOAD_MISALIGNED = 4, EXC_LOAD_ACCESS = 5, EXC_STORE_MISALIGNED = 6,
	EXC_STORE_ACCESS = 7, EXC_ECALL_U = 8, EXC_ECALL_S = 9, EXC_ECALL_M = 11,
	EXC_IFETCH_PAGE = 12, EXC_LOAD_PAGE = 13, EXC_STORE_PAGE = 15,
};

/* mstatus bits */
#define MSTATUS_SIE  (1ULL << 1)
#define MSTATUS_MIE  (1ULL << 3)
#define MSTATUS_SPIE (1ULL << 5)
#define MSTATUS_MPIE (1ULL << 7)
#define MSTATUS_SPP  (1ULL << 8)
#define MSTATUS_MPP_SHIFT 11
#define MSTATUS_MPP  (3ULL << 11)
#define MSTATUS_FS   (3ULL << 13)
#define MSTATUS_MPRV (1ULL << 17)
#define MSTATUS_SUM  (1ULL << 18)
#define MSTATUS_MXR  (1ULL << 19)
#define MSTATUS_TVM  (1ULL << 20)
#define MSTATUS_TW   (1ULL << 21)
#define MSTATUS_TSR  (1ULL << 22)
#define MSTATUS_UXL  (3ULL << 32)
#define MSTATUS_SXL  (3ULL << 34)
#define MSTATUS_SD   (1ULL << 63)

#define MENVCFG_FIOM (1ULL << 0)
#define MENVCFG_STCE (1ULL << 63)

/*
 * State shared by every hart on one bus: which RAM pages hold decoded code,
 * and of which harts (one bit per hart slot).  Harts may run on threads of
 * their own, so the protocol (docs/CPU.md, "Code written while it runs"):
 *
 *  - a hart marks a page (atomic OR of its bit, a full fence) before it
 *    reads the instruction bytes; the first mark of a page takes away every
 *    hart's write-TLB entry for it, so later stores take the slow path;
 *  - a store that reaches the slow path writes first, fences, then takes
 *    the page's bits (atomic exchange with 0): its own blocks go at once,
 *    every other hart gets the page posted (inval_bits) and a kick, and
 *    drops its blocks at its next block boundary, on its own thread;
 *  - a store already under way through a write-TLB entry the first mark
 *    took away may land after the marking hart read the bytes: that hart
 *    keeps the page as suspect and drops its blocks at its next fence.i,
 *    which is when RISC-V requires it to see other harts' code writes.
 */
#define CPU_MAX_HARTS 8
struct cpu_shared {
	struct bus *bus;
	uint8_t *code_pages;    /* per RAM page: bit s = the hart in slot s has blocks there */
	uint64_t npages;
	unsigned nharts;
	uint8_t slots_used;
	struct hart *harts[CPU_MAX_HARTS];
	struct hart *by_slot[CPU_MAX_HARTS];
	/*
	 * Dirty log for live migration (dirty.c): while dirty_on, one bit per
	 * RAM page written since the last hart_dirty_sync.  A write-TLB fill
	 * sets its page's bit before the entry exists, every other RAM write
	 * (slow-path stores, AMOs without an entry, A/D updates, DMA) after
	 * the write, in code_written; each sync takes every hart's write
	 * entries away, so the next store to a page fills, and marks, again.
	 */
	uint64_t *dirty;
	int dirty_on;           /* atomic */
};

/* Marks [pa, pa+len) written (RAM only; nothing unless the log is on). */
static inline void cpu_dirty_mark(struct cpu_shared *sh, uint64_t pa, uint64_t len)
{
	if (VMX_LIKELY(!__atomic_load_n(&sh->dirty_on, __ATOMIC_RELAXED)) || !len)
		return;
	uint64_t base = sh->bus->ram->base, end = base + (sh->npages << 12);
	if (pa + len <= base || pa >= end)
		return;
	uint64_t lo = pa < base ? 0 : (pa - base) >> 12;
	uint64_t hi = ((pa + len > end ? end : pa + len) - 1 - base) >> 12;
	for (uint64_t pg = lo; pg <= hi; pg++) {
		uint64_t bit = 1ULL << (pg & 63);
		if (!(__atomic_load_n(&sh->dirty[pg >> 6], __ATOMIC_RELAXED) & bit))
			__atomic_fetch_or(&sh->dirty[pg >> 6], bit, __ATOMIC_RELEASE);
	}
}

/* Bits of hart.kick: why another thread wants the hart's attention. */
#define HART_KICK_STOP  1u   /* leave hart_run (HART_EXIT_STOP) */
#define HART_KICK_INVAL 2u   /* code pages were written: drop their blocks (inval_bits) */
#define HART_KICK_WFLUSH 4u  /* the dirty log's sync: drop every write-TLB entry, say so */

/*
 * Stats builds: the counters a hart bumps most often (per translated block
 * run, per slow-path load or store, per victim-TLB hit, per interpreted FP
 * or CSR instruction) are counted in the hart, one add to memory it already
 * has in cache, and added to the thread's counter slot when hart_run
 * returns (instead of a flag test, a TLS load and a slot row each time).
 * Readers see them at most one scheduling slice late.  Elsewhere the adds
 * fold away.
 */
#define HART_STATS(X) \
	X(JIT_RUNS) X(JIT_INSNS) X(INSN_LOAD) X(INSN_STORE) X(INSN_AMO) X(INSN_FP) \
	X(INSN_CSR) X(TLB_MISS) X(TLB_VICTIM_HIT)
#define HART_STAT_ENUM(n) HSTAT_##n,
enum hart_stat { HART_STATS(HART_STAT_ENUM) HSTAT_COUNT };
#undef HART_STAT_ENUM
#define HART_STAT_ADD(h, name, n) \
	do { if (VMX_STATS) (h)->stat_pend[HSTAT_##name] += (uint64_t)(n); } while (0)
#define HART_STAT_INC(h, name) HART_STAT_ADD(h, name, 1)

struct hart {
	struct hart_state s;
	struct hart_platform plat;
	struct bus *bus;
	struct guest_ram *ram;
	unsigned id;

	/* Effective translation modes for fetch and for loads/stores. */
	unsigned imode, dmode;
	/*
	 * Links between blocks (struct block.link, translated exits) hold the
	 * generation they were made in.  Each fetch mode has its own, so the
	 * links made in user mode survive a system call and those of the
	 * kernel survive the return: chain_gen is mode_gen[imode], and only
	 * what may change a translation or drop a block gives every mode a new
	 * one (hart_chain_invalidate).  Values come from gen_seq and are never
	 * reused, so a link of one mode never matches another's generation.
	 */
	uint64_t chain_gen;
	uint64_t mode_gen[MMU_NMODES];
	uint64_t gen_seq;
	/*
	 * A translated exit to a pc in its own block's page holds page_gen_live
	 * instead: such a link depends on no translation, only on both blocks
	 * living in one physical page (a block entered through the lookup has
	 * its page mapped where the block says), so TLB flushes leave it - a
	 * process switch that runs the same shared code keeps its links.  Only
	 * dropping blocks moves it.  Translated code compares page_gen, which
	 * a TLB flush sets to 0 until hart_run next enters translated code: a
	 * flush inside a block (sfence.vma, a satp write) must not be followed
	 * by a jump that assumed the old mapping of the page.
	 */
	uint64_t page_gen, page_gen_live;
	/*
	 * Read by translated code (docs/TRANSLATOR.md): the load and store TLBs
	 * of dmode and the icount at which hart_run's budget is spent.  Set on
	 * each entry; modes cannot change while translated code runs.
	 */
	const struct tlbe *jit_tlb[2];
	uint64_t jit_end;
	/* JIT_LEFT_HANDBACK: the instruction handed back (in the block that ran last) */
	const struct dinsn *jit_handback;
	struct tlbe tlb[3][MMU_NMODES][TLB_SIZE];   /* [mmu_acc][mode][index] */
	/*
	 * Read and fetch entries a fill pushed out of their slot, looked at
	 * before a page walk (two hot pages that share a slot, say a shell's
	 * stack and its data, otherwise walk on every other access).  Not for
	 * write entries: other harts take those away (mmu_unmap_pa_write_remote)
	 * and a copy would escape them.  Every flush empties them.
	 */
	struct tlbe tlb_victim[3][MMU_NMODES][TLB_VICTIMS];   /* [ACC_R or ACC_X] used */
	unsigned tlb_victim_next;
	/*
	 * 1 GiB regions (va >> 30) holding entries cut from superpages: an
	 * sfence.vma for an address in one of them flushes every entry of that
	 * region, others flush one slot.  super_overflow: too many, flush all.
	 */
#define TLB_SUPER_REGIONS 8
	uint64_t super_region[TLB_SUPER_REGIONS];
	unsigned nsuper;
	bool super_overflow;
	/*
	 * Per region and table, one bit per slot that may hold an entry of that
	 * region (a superset), so a region flush visits those slots only
	 * instead of scanning all 3072 entries.
	 */
	uint64_t super_bits[TLB_SUPER_REGIONS][3][MMU_NMODES][TLB_SIZE / 64];

	struct block *btab[BTAB_SIZE];
	/*
	 * Blocks btab lost to another pc of the same slot: still decoded,
	 * translated and linked, so a miss looks here before decoding again.
	 */
	struct block *btab_victim[BTAB_SIZE];
	/*
	 * Every block cached since the last arena reset, listed by a hash of its
	 * physical page, so dropping a page's blocks visits a short list rather
	 * than the whole table.  Lists may hold blocks already replaced in btab.
	 */
#define PAGE_HEADS 4096
	struct block *page_head[PAGE_HEADS];
	uint8_t *arena;
	size_t arena_used, arena_size;
	struct block *scratch;
	/*
	 * Stats builds: the block the interpreter is executing (NULL between
	 * blocks), so the callstack sampler interrupting this thread can find
	 * the exact instruction (hart_peek_pc).  One store per interpreted
	 * block, none per instruction; translated code stores nothing (the
	 * code cache's index finds its block from the host pc).
	 */
	struct block *volatile cur_block;
	/* HART_STATS counts not yet in the thread's counter slot (hart_run's thread only). */
	uint64_t stat_pend[HSTAT_COUNT];

	struct cpu_shared *sh;
	struct jit *jit;        /* the translator's cache; NULL: interpreter only */
	uint64_t tohost_page;   /* tohost & ~0xfff, or ~0 */

	unsigned kick;          /* atomic: HART_KICK_* bits */
	/* The dirty log's handshake (dirty.c): hart_run's thread is inside hart_run. */
	int in_run;             /* atomic */
	uint64_t wflush_req, wflush_done;   /* atomic: syncs asked for, write TLB dropped for */
	unsigned slot;          /* bit in cpu_shared.code_pages */
	/*
	 * Code pages other harts wrote (one bit per page, and a summary bit
	 * per 64-bit word of it), dropped by hart_inval_drain on this thread.
	 */
	uint64_t *inval_bits, *inval_sum;
	uint64_t nsum;
	/* Pages marked while another hart could still be storing to them: see cpu_shared. */
#define HART_SUSPECT_MAX 16
	uint64_t suspect[HART_SUSPECT_MAX];
	unsigned nsuspect;      /* > HART_SUSPECT_MAX: flush everything at fence.i */
	uint64_t resv_val;      /* LR's value: an SC succeeds if memory still holds it */
	int owner_tid;          /* beta: the thread running this hart, 0 when none */
	int exit_req;           /* nonzero: leave the block after this instruction */
	enum hart_exit exit_reason;

	/* Exception raised by a slow-path helper that returned false. */
	uint64_t exc_cause, exc_tval;

	uint32_t dbg_block_hits;   /* beta: block-table hits, for sampled checks */
	uint32_t dbg_fence_i;      /* beta: fence.i count, for the sampled check there */
	uint32_t dbg_flushes;      /* beta: single-address TLB flushes, for sampled checks */
	uint32_t dbg_slow;         /* opt/obj differential mode: translated slow paths taken */
	uint32_t dbg_diff_tick;    /* opt/obj differential mode: for sampling */
	uint64_t dbg_diffs;        /* opt/obj differential mode: blocks compared */
};

/* decode.c */
void decode_insn(struct dinsn *d, uint32_t raw);
bool decode_ends_block(unsigned op);

/* mmu.c */
void mmu_flush_all(struct hart *h);
void mmu_flush_va(struct hart *h, uint64_t va);
void mmu_flush_pa_write(struct hart *h, uint64_t pa_page);
/* Drops every write entry (on the hart's own thread: the dirty log's sync). */
void mmu_flush_writes(struct hart *h);

/* dirty.c: HART_KICK_WFLUSH on the hart's thread, between blocks. */
void hart_dirty_wflush(struct hart *h);
/* Another hart's write TLB: drops its entries for pa_page; true if it had one. */
bool mmu_unmap_pa_write_remote(struct hart *o, uint64_t pa_page);
bool mmu_translate(struct hart *h, uint64_t va, unsigned acc, unsigned mode, uint64_t *pa);
bool mmu_load_slow(struct hart *h, uint64_t va, unsigned size, uint64_t *val);
bool mmu_store_slow(struct hart *h, uint64_t va, unsigned size, uint64_t val);
/* Host pointer (RAM) or NULL (MMIO: use the bus at *pa) for an LR/SC/AMO. */
bool mmu_amo_addr(struct hart *h, uint64_t va, unsigned size, unsigned acc, uint64_t *pa,
		  void **host);
bool mmu_fetch_slow(struct hart *h, uint64_t va, uint64_t *pa);

/* csr.c */
bool csr_op(struct hart *h, const struct dinsn *d);
bool csr_read(struct hart *h, unsigned csr, uint64_t *val, unsigned idx);
void hart_trap(struct hart *h, uint64_t cause, uint64_t tval, bool intr);
bool hart_take_irq(struct hart *h);
void hart_update_modes(struct hart *h);
bool hart_mret(struct hart *h);
bool hart_sret(struct hart *h);
uint64_t hart_time(const struct hart *h);
void hart_eval_stip(struct hart *h, uint64_t now);

/* hart.c */
/* After a write to RAM [pa, pa+len) by hart h: drops decoded code there (see cpu_shared). */
void hart_code_written(struct hart *h, uint64_t pa, uint64_t len);
/* Drops the blocks of pages other harts posted; on h's own thread. */
void hart_inval_drain(struct hart *h);
/* LR/SC/AMO d: 0 done, -1 with the exception in h->exc_cause/exc_tval. */
int hart_amo(struct hart *h, const struct dinsn *d);
/* Unit tests: translate blocks after `hot` loop-top visits (0: never; the default is 8). */
void hart_jit_threshold(struct hart *h, unsigned hot);

/*
 * M-extension division and remainder, shared by the interpreter and the
 * translator's helpers: RISC-V defines division by zero and overflow
 * instead of trapping.
 */
static inline uint64_t hart_sx32(uint64_t v) { return (uint64_t)(int64_t)(int32_t)v; }
static inline uint64_t hart_div(uint64_t ua, uint64_t ud)
{
	int64_t a = (int64_t)ua, d = (int64_t)ud;
	return d == 0 ? ~0ULL : (a == INT64_MIN && d == -1) ? (uint64_t)a : (uint64_t)(a / d);
}
static inline uint64_t hart_divu(uint64_t a, uint64_t d) { return d == 0 ? ~0ULL : a / d; }
static inline uint64_t hart_rem(uint64_t ua, uint64_t ud)
{
	int64_t a = (int64_t)ua, d = (int64_t)ud;
	return d == 0 ? (uint64_t)a : (a == INT64_MIN && d == -1) ? 0 : (uint64_t)(a % d);
}
static inline uint64_t hart_remu(uint64_t a, uint64_t d) { return d == 0 ? a : a % d; }
static inline uint64_t hart_divw(uint64_t ua, uint64_t ud)
{
	int32_t a = (int32_t)ua, d = (int32_t)ud;
	return d == 0 ? ~0ULL : (a == INT32_MIN && d == -1) ? hart_sx32((uint32_t)a)
							     : hart_sx32((uint32_t)(a / d));
}
static inline uint64_t hart_divuw(uint64_t ua, uint64_t ud)
{
	uint32_t a = (uint32_t)ua, d = (uint32_t)ud;
	return d == 0 ? ~0ULL : hart_sx32(a / d);
}
static inline uint64_t hart_remw(uint64_t ua, uint64_t ud)
{
	int32_t a = (int32_t)ua, d = (int32_t)ud;
	return d == 0 ? hart_sx32((uint32_t)a) : (a == INT32_MIN && d == -1) ? 0
									     : hart_sx32((uint32_t)(a % d));
}
static inline uint64_t hart_remuw(uint64_t ua, uint64_t ud)
{
	uint32_t a = (uint32_t)ua, d = (uint32_t)ud;
	return d == 0 ? hart_sx32(a) : hart_sx32(a % d);
}

/* A TLB flush: every link through a translation goes; same-page links wait for the loop. */
static inline void hart_chain_tlb_flushed(struct hart *h)
{
	for (unsigned m = 0; m < MMU_NMODES; m++)
		h->mode_gen[m] = ++h->gen_seq;
	h->chain_gen = h->mode_gen[h->imode];
	h->page_gen = 0;
}

/* Blocks dropped (or about to be): every link goes. */
static inline void hart_chain_invalidate(struct hart *h)
{
	hart_chain_tlb_flushed(h);
	h->page_gen_live = ++h->gen_seq;
}

static inline bool hart_is_code_page(const struct hart *h, uint64_t pa)
{
	uint64_t pg = (pa - h->ram->base) >> 12;
	return pa >= h->ram->base && pg < h->sh->npages &&
	       __atomic_load_n(&h->sh->code_pages[pg], __ATOMIC_RELAXED);
}

/*
 * A TLB entry's tag.  Write entries may be taken away by another hart's
 * thread (mmu_unmap_pa_write_remote), so even the owner reads it atomically
 * (a plain load on x86-64).
 */
static inline uint64_t tlbe_tag(const struct tlbe *e)
{
	return __atomic_load_n(&e->tag, __ATOMIC_RELAXED);
}

/*
 * Physical address of a valid TLB entry's page, from its host address: the
 * entry stays 16 bytes, which keeps the load/store lookup to a shift and an
 * add and the tables smaller in the host's L1.
 */
static inline uint64_t tlbe_pa_page(const struct hart *h, const struct tlbe *e)
{
	return tlbe_tag(e) + e->addend - (uint64_t)(uintptr_t)h->ram->host + h->ram->base;
}

/*
 * Beta: every DBG_BLOCK_SAMPLE-th block-table hit compares the block with
 * guest memory (dbg_block_problem); a check on every hit would cost more than
 * the interpreter.  Compiled out elsewhere.
 */
#define DBG_BLOCK_SAMPLE 256
/* Beta: every DBG_FLUSH_SAMPLE-th sfence.vma of one address checks the whole TLB. */
#define DBG_FLUSH_SAMPLE 64
static inline void hart_dbg_block_hit(struct hart *h, const struct block *b)
{
	if (VMX_DEBUG && VMX_UNLIKELY((++h->dbg_block_hits & (DBG_BLOCK_SAMPLE - 1)) == 0))
		DBG_CHECK("decode-cache", dbg_block_problem(h, b));
}

static inline uint64_t mip_load(const struct hart *h)
{
	return __atomic_load_n(&h->s.mip, __ATOMIC_RELAXED);
}

#endif
