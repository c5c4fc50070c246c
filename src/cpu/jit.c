/*
 * jit.c - the translator: a decoded block (struct block, from hart.c) becomes
 * x86-64 code in the hart's code cache (jit_cache.c), encoded by x86enc.c.
 *
 * Translation works from the decoded form, so the interpreter and the
 * translator can never disagree on what an instruction is, and a block's
 * translation lives and dies with its decoded block (page invalidation,
 * arena flush).  Guest registers stay in struct hart_state; each guest
 * instruction becomes a few host instructions on them, so the state is
 * exact at every exit and every helper call.  Integer, M and A instructions,
 * branches and jumps are translated; loads and stores look up the software
 * TLB inline and call the slow paths on a miss.  The first instruction the
 * translator does not handle (floating point, CSRs, system instructions)
 * ends the translation: the block exits there and the interpreter runs it.
 * docs/TRANSLATOR.md has the register convention and the exit protocol.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "hart_int.h"
#include "x86enc.h"
#include "../stats/stats.h"

/* Register convention inside translated code. */
#define R_HART XE_RBX     /* struct hart * (its hart_state is at offset 0) */

#define OFF_X(r)     ((int32_t)(offsetof(struct hart, s.x) + 8 * (r)))
#define OFF_PC       ((int32_t)offsetof(struct hart, s.pc))
#define OFF_ICOUNT   ((int32_t)offsetof(struct hart, s.icount))
#define OFF_MIP      ((int32_t)offsetof(struct hart, s.mip))
#define OFF_MIE      ((int32_t)offsetof(struct hart, s.mie))
#define OFF_GEN      ((int32_t)offsetof(struct hart, chain_gen))
#define OFF_PGEN     ((int32_t)offsetof(struct hart, page_gen))
#define OFF_KICK     ((int32_t)offsetof(struct hart, kick))
#define OFF_TLBR     ((int32_t)offsetof(struct hart, jit_tlb[0]))
#define OFF_TLBW     ((int32_t)offsetof(struct hart, jit_tlb[1]))
#define OFF_END      ((int32_t)offsetof(struct hart, jit_end))
#define OFF_HANDBACK ((int32_t)offsetof(struct hart, jit_handback))

/* A link generation no hart reaches, and one that forces the movabs form. */
#define GEN_NONE (1ULL << 63)

/* ---- helpers called from translated code -------------------------------
 * They return what the translated code returns to the loop when nonzero:
 * JIT_LEFT_TRAP after taking an exception (pc and icount made exact first),
 * JIT_LEFT_EXIT_REQ after an access that asked the hart to look at the
 * loop top (code written, tohost); 0 to carry on.
 */

static uint64_t left_trap(struct hart *h, const struct dinsn *d)
{
	h->s.pc = d->pc;
	h->s.icount += d->idx;
	hart_trap(h, h->exc_cause, h->exc_tval, false);
	return JIT_LEFT_TRAP;
}

static uint64_t left_after(struct hart *h, const struct dinsn *d)
{
	h->s.pc = d->pc + d->len;
	h->s.icount += d->idx + 1u;
	return JIT_LEFT_EXIT_REQ;
}

static uint64_t h_load(struct hart *h, uint64_t va, const struct dinsn *d)
{
	static const uint8_t size[] = { [OP_LB] = 1, [OP_LH] = 2, [OP_LW] = 4, [OP_LD] = 8,
					[OP_LBU] = 1, [OP_LHU] = 2, [OP_LWU] = 4 };
	unsigned sz = size[d->op];
	uint64_t v;

	HART_STAT_INC(h, INSN_LOAD);
	if (VMX_DEVEL)
		h->dbg_slow++;
	if (!mmu_load_slow(h, va, sz, &v))
		return left_trap(h, d);
	switch (d->op) {
	case OP_LB: v = (uint64_t)(int64_t)(int8_t)v; break;
	case OP_LH: v = (uint64_t)(int64_t)(int16_t)v; break;
	case OP_LW: v = (uint64_t)(int64_t)(int32_t)v; break;
	default: break;
	}
	h->s.x[d->rd] = v;
	/* a device read may have DMAed over code */
	return VMX_UNLIKELY(h->exit_req) ? left_after(h, d) : 0;
}

static uint64_t h_store(struct hart *h, uint64_t va, uint64_t val, const struct dinsn *d)
{
	unsigned sz = d->op == OP_SB ? 1 : d->op == OP_SH ? 2 : d->op == OP_SW ? 4 : 8;

	HART_STAT_INC(h, INSN_STORE);
	if (VMX_DEVEL)
		h->dbg_slow++;
	if (!mmu_store_slow(h, va, sz, val))
		return left_trap(h, d);
	return VMX_UNLIKELY(h->exit_req) ? left_after(h, d) : 0;
}

/*
 * Where translated code goes on after a jalr (pc and icount already set):
 * the chained entry of the translated block at pc when the fetch TLB and
 * the block table know it, as the loop top would find it, else back to the
 * loop.  Returns, indirect calls and jump tables then stay in translated
 * code; the chained entry still makes the between-block checks.
 */
static const void *h_next(struct hart *h)
{
	uint64_t vpc = h->s.pc;
	const struct tlbe *e = &h->tlb[ACC_X][h->imode][(vpc >> 12) & TLB_MASK];

	if (VMX_LIKELY(tlbe_tag(e) == (vpc & ~0xfffULL))) {
		const struct block *b = h->btab[btab_hash(vpc)];
		if (b && b->vpc == vpc && b->jit_chain &&
		    b->ppc == (tlbe_pa_page(h, e) | (vpc & 0xfff)))
			return b->jit_chain;
	}
	return h->jit->leave_dynamic;
}

static uint64_t h_amo(struct hart *h, const struct dinsn *d)
{
	if (VMX_DEVEL)
		h->dbg_slow++;
	if (hart_amo(h, d) < 0)
		return left_trap(h, d);
	return VMX_UNLIKELY(h->exit_req) ? left_after(h, d) : 0;
}

/* ---- one translation ------------------------------------------------------ */

/*
 * The register cache.  Within a block, guest registers live in host
 * registers: loaded on first use, written back when dirty at every exit,
 * before every helper call and on every out-of-line path that can leave
 * (each such path carries the set dirty where it branched off).  rax, rcx,
 * rdx, rsi and rdi are scratch; rbx, r12, r13 and r15 hold the convention.
 */
/*
 * Callee-saved ones first: they survive slow-path calls.  rbp is left alone:
 * the stats build's profiler unwinds a helper called from translated code
 * through the entry trampoline's frame (hart.h, HART_JIT_FRAME_BYTES), and
 * hart_run's frame above it may be rbp-based.
 */
static const enum xe_reg pool[] = { XE_R12, XE_R13, XE_R14, XE_R15,
				    XE_RDI, XE_R8, XE_R9, XE_R10, XE_R11 };
static bool clobbered_by_call(enum xe_reg r) { return r == XE_RDI || (r >= XE_R8 && r <= XE_R11); }
#define NPOOL ((int)(sizeof(pool) / sizeof(pool[0])))

struct ra {
	int8_t slot_of[33];        /* guest register -> slot, or -1 */
	int8_t guest[NPOOL];       /* slot -> guest register, or -1 */
	bool dirty[NPOOL];
	uint32_t used[NPOOL];      /* for least-recently-used eviction */
	uint32_t clock;
};

/* Host/guest register pairs an out-of-line path stores or reloads. */
struct regset {
	uint8_t n;
	struct { uint8_t host, guest; } r[NPOOL];
};

enum stub_kind { STUB_EXIT, STUB_LOAD, STUB_STORE, STUB_ATTN, STUB_DIV0, STUB_DIVM1 };

/* Out-of-line code emitted after the body: taken branches, TLB misses, rare cases. */
struct stub {
	enum stub_kind kind;
	uint8_t *field;            /* rel32 of the body's jcc to the stub */
	const struct dinsn *d;
	const void *back;          /* run address to resume at */
	uint64_t target;           /* guest pc (exit) */
	uint32_t count;            /* instructions retired when taking it */
	struct regset wb;          /* dirty where it branched off: stored first */
	struct regset reload;      /* caller-saved cached ones: reloaded after a call */
	struct ra ra;              /* the whole cache there (a loop's back edge) */
};

/* Two per instruction at most (division), for the block and one side path
 * translated in line, plus the attention exits. */
#define MAX_STUBS (4 * BLOCK_MAX + 8)
#define MAX_MAP (MAX_STUBS + BLOCK_MAX + 2)

struct tx {
	struct hart *h;
	struct jit *j;
	struct block *b;
	struct xe_buf e;
	struct ra ra;
	const void *chain;         /* run address of the block's chained entry */
	/*
	 * A block that branches back to its own start keeps its registers in
	 * host registers around the loop: `loop` is the cache as the body
	 * starts (preloaded, all counted dirty), `body` where it starts.
	 */
	bool looping;
	struct ra loop;
	const void *body;
	bool inlined;              /* a side path has been translated in line */
	struct stub stub[MAX_STUBS];
	unsigned nstub;
	struct { uint32_t off, idx; } map[MAX_MAP];
	unsigned nmap;
	bool meta_full;
};

static void map_here(struct tx *t, unsigned idx)
{
	uint32_t off = (uint32_t)(t->e.p - t->e.start);
	if (t->nmap && t->map[t->nmap - 1].off == off) {
		t->map[t->nmap - 1].idx = idx;
		return;
	}
	if (t->nmap < MAX_MAP) {
		t->map[t->nmap].off = off;
		t->map[t->nmap++].idx = idx;
	}
}

static void st_x(struct xe_buf *e, unsigned r, enum xe_reg src)
{
	xe_store(e, 8, XE_M(R_HART, OFF_X(r)), src);
}

static void ra_init(struct ra *ra)
{
	memset(ra, 0, sizeof(*ra));
	memset(ra->slot_of, -1, sizeof(ra->slot_of));
	memset(ra->guest, -1, sizeof(ra->guest));
}

/* Writes slot back when dirty and forgets it. */
static void ra_free(struct tx *t, int slot)
{
	struct ra *ra = &t->ra;
	int g = ra->guest[slot];

	if (g < 0)
		return;
	if (ra->dirty[slot])
		st_x(&t->e, (unsigned)g, pool[slot]);
	ra->slot_of[g] = -1;
	ra->guest[slot] = -1;
	ra->dirty[slot] = false;
}

/* A slot for guest register g: a free one, else the least recently used. */
static int ra_slot(struct tx *t, unsigned g)
{
	struct ra *ra = &t->ra;
	int best = -1;

	for (int i = 0; i < NPOOL; i++) {
		if (ra->guest[i] < 0) {
			best = i;
			break;
		}
		if (best < 0 || ra->used[i] < ra->used[best])
			best = i;
	}
	ra_free(t, best);
	ra->guest[best] = (int8_t)g;
	ra->slot_of[g] = (int8_t)best;
	return best;
}

/* Host register holding x[g]; for x0, `scratch` zeroed (clobbers flags). */
static enum xe_reg rget(struct tx *t, unsigned g, enum xe_reg scratch)
{
	if (g == 0) {
		xe_alu_rr(&t->e, XE_XOR, false, scratch, scratch);
		return scratch;
	}
	int s = t->ra.slot_of[g];
	if (s < 0) {
		s = ra_slot(t, g);
		xe_load(&t->e, XE_LD64, pool[s], XE_M(R_HART, OFF_X(g)));
	}
	t->ra.used[s] = ++t->ra.clock;
	return pool[s];
}

/* Host register to receive the new value of x[g]; the sink x[32] gets scratch rax. */
static enum xe_reg rdef(struct tx *t, unsigned g)
{
	if (g == 32)
		return XE_RAX;
	int s = t->ra.slot_of[g];
	if (s < 0)
		s = ra_slot(t, g);
	t->ra.used[s] = ++t->ra.clock;
	t->ra.dirty[s] = true;
	return pool[s];
}

static void ra_dirty_set(const struct tx *t, struct regset *rs)
{
	rs->n = 0;
	for (int i = 0; i < NPOOL; i++)
		if (t->ra.guest[i] >= 0 && t->ra.dirty[i])
			rs->r[rs->n++] = (__typeof__(rs->r[0])){ (uint8_t)pool[i], (uint8_t)t->ra.guest[i] };
}

/* Cached in registers a call clobbers: reloaded from hart_state after it. */
static void ra_clobbered_set(const struct tx *t, struct regset *rs)
{
	rs->n = 0;
	for (int i = 0; i < NPOOL; i++)
		if (t->ra.guest[i] >= 0 && clobbered_by_call(pool[i]))
			rs->r[rs->n++] = (__typeof__(rs->r[0])){ (uint8_t)pool[i], (uint8_t)t->ra.guest[i] };
}

static void emit_stores(struct tx *t, const struct regset *rs)
{
	for (unsigned i = 0; i < rs->n; i++)
		st_x(&t->e, rs->r[i].guest, (enum xe_reg)rs->r[i].host);
}

static void emit_reloads(struct tx *t, const struct regset *rs)
{
	for (unsigned i = 0; i < rs->n; i++)
		xe_load(&t->e, XE_LD64, (enum xe_reg)rs->r[i].host,
			XE_M(R_HART, OFF_X(rs->r[i].guest)));
}

/* Inline write-back of every dirty register; they stay cached, now clean. */
static void ra_flush(struct tx *t)
{
	for (int i = 0; i < NPOOL; i++) {
		if (t->ra.guest[i] >= 0 && t->ra.dirty[i]) {
			st_x(&t->e, (unsigned)t->ra.guest[i], pool[i]);
			t->ra.dirty[i] = false;
		}
	}
}

/* Before a helper that reads or writes hart_state: write back and forget all. */
static void ra_drop_all(struct tx *t)
{
	for (int i = 0; i < NPOOL; i++)
		ra_free(t, i);
}

static void mov_if(struct xe_buf *e, enum xe_reg dst, enum xe_reg src)
{
	if (dst != src)
		xe_mov_rr(e, true, dst, src);
}

/* Records an out-of-line path taken by the rel32 `field`, with the cache as it is now. */
static struct stub *add_stub(struct tx *t, enum stub_kind kind, uint8_t *field,
			     const struct dinsn *d)
{
	/* At most two per instruction (division), plus the three attention exits. */
	struct stub *s = &t->stub[t->nstub++];
	*s = (struct stub){ .kind = kind, .field = field, .d = d };
	ra_dirty_set(t, &s->wb);
	ra_clobbered_set(t, &s->reload);
	s->ra = t->ra;
	return s;
}

/* Leaves translated code with rax = value (after the caller set pc/icount). */
static void leave_with(struct tx *t, uint64_t value)
{
	if (value == 0)
		xe_alu_rr(&t->e, XE_XOR, false, XE_RAX, XE_RAX);
	else
		xe_mov_ri(&t->e, XE_RAX, value);
	xe_jmp_to(&t->e, t->j->leave);
}

static void set_pc_imm(struct xe_buf *e, uint64_t pc)
{
	xe_mov_ri(e, XE_RAX, pc);
	xe_store(e, 8, XE_M(R_HART, OFF_PC), XE_RAX);
}

static void add_icount(struct xe_buf *e, uint32_t n)
{
	if (n)
		xe_alu_mi(e, XE_ADD, true, XE_M(R_HART, OFF_ICOUNT), (int32_t)n);
}

/*
 * A static exit to guest pc `target` after `count` instructions, the guest
 * registers already written back: the linked path (generation check, then
 * a direct jump into the successor's chained entry) falls back to the
 * unlinked one, which returns the exit record so the loop can link it.
 */
static void emit_exit(struct tx *t, uint64_t target, uint32_t count)
{
	struct xe_buf *e = &t->e;

	if (target == t->b->vpc) {
		/*
		 * Back to this block's own start (a loop): always current, since
		 * nothing that moves chain_gen can happen inside the block without
		 * leaving it (a store to a code page leaves after the store).
		 */
		add_icount(e, count);
		xe_jmp_to(e, t->chain);
		return;
	}
	struct jit_exit *x = jit_cache_exit(t->j);
	if (!x) {
		t->meta_full = true;
		return;
	}
	add_icount(e, count);
	x->same_page = ((target ^ t->b->vpc) >> 12) == 0;
	x->src_ppage = t->b->ppc >> 12;
	xe_mov_ri(e, XE_RAX, GEN_NONE);
	x->gen_field = e->p - 8;
	xe_alu_mr(e, XE_CMP, true, XE_M(R_HART, x->same_page ? OFF_PGEN : OFF_GEN), XE_RAX);
	uint8_t *to_unlinked = xe_jcc(e, XE_CC_NE);
	x->jmp_field = xe_jmp(e);
	x->target = target;
	x->to = NULL;
	if (to_unlinked) {
		xe_patch_rel32(to_unlinked, e->run_delta, xe_here(e));
		xe_patch_rel32(x->jmp_field, e->run_delta, xe_here(e));
	}
	set_pc_imm(e, target);
	leave_with(t, (uint64_t)(uintptr_t)x);
}

/*
 * The checks the loop top makes before a block of n instructions: the
 * block fits the budget, no enabled interrupt is pending, no kick.  The
 * three jumps taken when one fails are left in attn[] to be pointed at the
 * refusal path (fields NULL after an overflow).
 */
static void emit_attention(struct xe_buf *e, uint32_t n, uint8_t *attn[3])
{
	xe_load(e, XE_LD64, XE_RAX, XE_M(R_HART, OFF_ICOUNT));
	xe_alu_ri(e, XE_ADD, true, XE_RAX, (int32_t)n);
	xe_alu_rm(e, XE_CMP, true, XE_RAX, XE_M(R_HART, OFF_END));
	attn[0] = xe_jcc(e, XE_CC_A);
	xe_load(e, XE_LD64, XE_RAX, XE_M(R_HART, OFF_MIP));
	xe_alu_rm(e, XE_AND, true, XE_RAX, XE_M(R_HART, OFF_MIE));
	attn[1] = xe_jcc(e, XE_CC_NE);
	xe_alu_mi(e, XE_CMP, false, XE_M(R_HART, OFF_KICK), 0);
	attn[2] = xe_jcc(e, XE_CC_NE);
}

/* Points the three refusal jumps of emit_attention here. */
static void patch_attention(struct xe_buf *e, uint8_t *const attn[3])
{
	for (int i = 0; i < 3; i++)
		if (attn[i])
			xe_patch_rel32(attn[i], e->run_delta, xe_here(e));
}

/*
 * The back edge of a looping block: brings the cache from `cur` to the loop
 * state (dirty registers the loop state does not hold as dirty stored,
 * misplaced loop registers loaded),
 * then makes the between-block checks and runs the body again with the
 * guest registers still in host registers.  When a check fails, the loop's
 * dirty registers are written back and the loop top takes over at the start.
 */
static void emit_loop_back(struct tx *t, const struct ra *cur, uint32_t count)
{
	struct xe_buf *e = &t->e;
	const struct ra *lp = &t->loop;

	/*
	 * Stored: dirty registers that are not where the loop wants them, and
	 * those in place that the loop state counts clean (a side path in line
	 * may write what the loop itself only reads).
	 */
	for (int i = 0; i < NPOOL; i++)
		if (cur->guest[i] >= 0 && cur->dirty[i] &&
		    (cur->guest[i] != lp->guest[i] || !lp->dirty[i]))
			st_x(e, (unsigned)cur->guest[i], pool[i]);
	for (int i = 0; i < NPOOL; i++)
		if (lp->guest[i] >= 0 && cur->guest[i] != lp->guest[i])
			xe_load(e, XE_LD64, pool[i], XE_M(R_HART, OFF_X(lp->guest[i])));
	add_icount(e, count);
	uint8_t *attn[3];
	emit_attention(e, t->b->n, attn);
	xe_jmp_to(e, t->body);
	patch_attention(e, attn);
	for (int i = 0; i < NPOOL; i++)
		if (lp->guest[i] >= 0 && lp->dirty[i])
			st_x(e, (unsigned)lp->guest[i], pool[i]);
	set_pc_imm(e, t->b->vpc);
	leave_with(t, JIT_LEFT_DYNAMIC);
}

/*
 * The block's own instruction the translation stops at: the interpreter runs
 * the rest of this very block, with icount still at the block's start, so
 * block boundaries (where interrupts are taken) and what devices and the
 * time CSR see of icount are the interpreter's exactly.
 */
static void emit_handback(struct tx *t, const struct dinsn *d)
{
	ra_flush(t);
	set_pc_imm(&t->e, d->pc);
	xe_mov_ri(&t->e, XE_RAX, (uint64_t)(uintptr_t)d);
	xe_store(&t->e, 8, XE_M(R_HART, OFF_HANDBACK), XE_RAX);
	leave_with(t, JIT_LEFT_HANDBACK);
}

static void emit_helper_check(struct tx *t)
{
	xe_test_rr(&t->e, false, XE_RAX, XE_RAX);
	xe_jcc_to(&t->e, XE_CC_NE, t->j->leave);
}

static const enum xe_ld load_kind[] = {
	[OP_LB] = XE_LD8S, [OP_LH] = XE_LD16S, [OP_LW] = XE_LD32S, [OP_LD] = XE_LD64,
	[OP_LBU] = XE_LD8Z, [OP_LHU] = XE_LD16Z, [OP_LWU] = XE_LD32Z,
};

/*
 * rsi = x[rs1] + imm, then the TLB lookup: on a hit rsi becomes the host
 * address; on a miss the returned jne field goes to the slow-path stub.
 */
static uint8_t *emit_tlb_lookup(struct tx *t, const struct dinsn *d, unsigned size,
				int32_t tlb_off)
{
	struct xe_buf *e = &t->e;

	mov_if(e, XE_RSI, rget(t, d->rs1, XE_RSI));
	if (d->imm)
		xe_alu_ri(e, XE_ADD, true, XE_RSI, (int32_t)d->imm);
	/* slot = ((va >> 12) & TLB_MASK) * sizeof(struct tlbe) */
	xe_mov_rr(e, false, XE_RAX, XE_RSI);
	xe_shift_ri(e, XE_SHR, false, XE_RAX, 12 - 4);
	xe_alu_ri(e, XE_AND, false, XE_RAX, (int32_t)(TLB_MASK << 4));
	/* The tag compare also rejects misaligned accesses (struct tlbe). */
	xe_mov_rr(e, true, XE_RCX, XE_RSI);
	xe_alu_ri(e, XE_AND, true, XE_RCX, (int32_t)(0xfffff000u | (size - 1)));
	xe_alu_rm(e, XE_ADD, true, XE_RAX, XE_M(R_HART, tlb_off));
	xe_alu_rm(e, XE_CMP, true, XE_RCX, XE_M(XE_RAX, (int32_t)offsetof(struct tlbe, tag)));
	uint8_t *miss = xe_jcc(e, XE_CC_NE);
	xe_alu_rm(e, XE_ADD, true, XE_RSI, XE_M(XE_RAX, (int32_t)offsetof(struct tlbe, addend)));
	return miss;
}

static void emit_load(struct tx *t, const struct dinsn *d)
{
	static const uint8_t size[] = { [OP_LB] = 1, [OP_LH] = 2, [OP_LW] = 4, [OP_LD] = 8,
					[OP_LBU] = 1, [OP_LHU] = 2, [OP_LWU] = 4 };
	struct xe_buf *e = &t->e;

	uint8_t *miss = emit_tlb_lookup(t, d, size[d->op], OFF_TLBR);
	struct stub *s = add_stub(t, STUB_LOAD, miss, d);
	xe_load(e, load_kind[d->op], XE_RAX, XE_M(XE_RSI, 0));
	s->back = xe_here(e);   /* the slow path rejoins with the value in rax */
	xe_mov_rr(e, true, rdef(t, d->rd), XE_RAX);
}

static void emit_store(struct tx *t, const struct dinsn *d)
{
	unsigned size = d->op == OP_SB ? 1 : d->op == OP_SH ? 2 : d->op == OP_SW ? 4 : 8;
	struct xe_buf *e = &t->e;

	mov_if(e, XE_RDX, rget(t, d->rs2, XE_RDX));
	uint8_t *miss = emit_tlb_lookup(t, d, size, OFF_TLBW);
	struct stub *s = add_stub(t, STUB_STORE, miss, d);
	xe_store(e, size, XE_M(XE_RSI, 0), XE_RDX);
	s->back = xe_here(e);
}

static bool emit_insn(struct tx *t, const struct dinsn *d);
static bool jit_handles(unsigned op);
static bool jumps_to_start(const struct block *b, const struct dinsn *d);

/*
 * A side exit of a looping block to a block in the same page that comes
 * back to the loop's start (the other arm of an if inside a loop):
 * translated in line, it keeps the loop's registers in host registers.
 * Its decoded block must be in the table: it has run on its own before.
 */
static const struct block *inline_candidate(const struct tx *t, uint64_t target)
{
	const struct block *b = t->b, *c = t->h->btab[btab_hash(target)];
	bool back = false;

	if (!t->looping || t->inlined || !c || c->vpc != target || !c->cached ||
	    (c->vpc ^ b->vpc) >> 12 || (c->ppc ^ b->ppc) >> 12 ||
	    t->nstub + 2 * (c->n + 1) + 4 > MAX_STUBS)
		return NULL;
	for (unsigned i = 0; i <= c->n; i++) {
		const struct dinsn *d = &c->insn[i];
		if (!jit_handles(d->op))
			return NULL;
		back |= jumps_to_start(b, d);
		if (d->op == OP_JAL || d->op == OP_JALR)
			break;
	}
	return back ? c : NULL;
}

/*
 * Block c in line after side exit s: the between-block checks a chained
 * entry makes (refused: the loop top takes over at c's start), then c's
 * instructions with the register cache as it was at the branch.  icount is
 * at c's start, so c's own indices count and time exactly as when c runs
 * as a block of its own.
 */
static void emit_inline_path(struct tx *t, const struct stub *s, const struct block *c)
{
	struct xe_buf *e = &t->e;

	t->inlined = true;
	t->j->inlined++;
	STAT_INC(JIT_INLINE);
	t->ra = s->ra;
	add_icount(e, s->count);
	uint8_t *attn[3];
	emit_attention(e, c->n, attn);
	for (unsigned i = 0; i <= c->n; i++) {
		const struct dinsn *d = &c->insn[i];
		if (!emit_insn(t, d))
			break;   /* inline_candidate saw every one translatable */
		if (d->op == OP_JAL || d->op == OP_JALR)
			break;
	}
	patch_attention(e, attn);
	emit_stores(t, &s->wb);
	set_pc_imm(e, c->vpc);
	leave_with(t, JIT_LEFT_DYNAMIC);
}

static void emit_stub(struct tx *t, const struct stub *s)
{
	struct xe_buf *e = &t->e;
	const struct dinsn *d = s->d;

	if (s->field)
		xe_patch_rel32(s->field, e->run_delta, xe_here(e));
	map_here(t, d ? d->idx : 0);
	switch (s->kind) {
	case STUB_EXIT: {
		if (t->looping && s->target == t->b->vpc) {
			emit_loop_back(t, &s->ra, s->count);
			break;
		}
		const struct block *c = inline_candidate(t, s->target);
		if (c) {
			emit_inline_path(t, s, c);
			break;
		}
		emit_stores(t, &s->wb);
		emit_exit(t, s->target, s->count);
		break;
	}
	case STUB_ATTN:
		/* chained entry refused: the loop top handles budget, interrupt or kick */
		set_pc_imm(e, t->b->vpc);
		leave_with(t, JIT_LEFT_DYNAMIC);
		break;
	case STUB_LOAD:
	case STUB_STORE:
		/* rsi = va (and rdx = value for a store) are still live from the body */
		emit_stores(t, &s->wb);
		xe_mov_rr(e, true, XE_RDI, R_HART);
		xe_mov_ri(e, s->kind == STUB_LOAD ? XE_RDX : XE_RCX, (uint64_t)(uintptr_t)d);
		xe_call(e, s->kind == STUB_LOAD ? (const void *)h_load : (const void *)h_store);
		emit_helper_check(t);
		emit_reloads(t, &s->reload);
		if (s->kind == STUB_LOAD)
			xe_load(e, XE_LD64, XE_RAX, XE_M(R_HART, OFF_X(d->rd)));
		xe_jmp_to(e, s->back);
		break;
	case STUB_DIV0: {
		/* rax = dividend: x / 0 = all ones, x % 0 = x */
		bool w = d->op == OP_DIVW || d->op == OP_DIVUW || d->op == OP_REMW || d->op == OP_REMUW;
		bool rem = d->op == OP_REM || d->op == OP_REMU || d->op == OP_REMW || d->op == OP_REMUW;
		if (!rem)
			xe_mov_ri(e, XE_RAX, ~0ULL);
		else if (w)
			xe_movsxd(e, XE_RAX, XE_RAX);
		xe_jmp_to(e, s->back);
		break;
	}
	case STUB_DIVM1: {
		/* x / -1 = -x (the most negative stays itself), x % -1 = 0 */
		bool w = d->op == OP_DIVW || d->op == OP_REMW;
		if (d->op == OP_REM || d->op == OP_REMW) {
			xe_alu_rr(e, XE_XOR, false, XE_RAX, XE_RAX);
		} else {
			xe_unary(e, XE_NEG, !w, XE_RAX);
			if (w)
				xe_movsxd(e, XE_RAX, XE_RAX);
		}
		xe_jmp_to(e, s->back);
		break;
	}
	}
}

/* rd = rs1 OP rs2 (or OP imm) for the group-1 ALU ops; w32: the W form. */
static void emit_alu(struct tx *t, const struct dinsn *d, enum xe_alu op, bool imm, bool w32)
{
	struct xe_buf *e = &t->e;

	if (d->rd == 32)
		return;
	enum xe_reg a = rget(t, d->rs1, XE_RAX);
	enum xe_reg c = imm ? XE_NOREG : rget(t, d->rs2, XE_RCX);
	enum xe_reg hd = rdef(t, d->rd);
	if (!imm && hd == c && hd != a) {
		if (op == XE_SUB) {
			/* rd = rs1 - rd: not commutative, go through rax */
			mov_if(e, XE_RAX, a);
			xe_alu_rr(e, op, !w32, XE_RAX, c);
			if (w32)
				xe_movsxd(e, XE_RAX, XE_RAX);
			xe_mov_rr(e, true, hd, XE_RAX);
			return;
		}
		c = a;   /* rd = rd OP rs1 */
	} else {
		mov_if(e, hd, a);
	}
	if (!imm)
		xe_alu_rr(e, op, !w32, hd, c);
	else if (d->imm || op == XE_AND)
		xe_alu_ri(e, op, !w32, hd, (int32_t)d->imm);
	if (w32)
		xe_movsxd(e, hd, hd);
}

static void emit_shift(struct tx *t, const struct dinsn *d, enum xe_shift op, bool imm, bool w32)
{
	struct xe_buf *e = &t->e;

	if (d->rd == 32)
		return;
	if (!imm)   /* x86 masks the count to 6 (5 for 32-bit) bits, as RISC-V does */
		mov_if(e, XE_RCX, rget(t, d->rs2, XE_RCX));
	enum xe_reg a = rget(t, d->rs1, XE_RAX);
	enum xe_reg hd = rdef(t, d->rd);
	mov_if(e, hd, a);
	if (!imm)
		xe_shift_rcl(e, op, !w32, hd);
	else if (d->imm)
		xe_shift_ri(e, op, !w32, hd, (uint8_t)d->imm);
	if (w32)
		xe_movsxd(e, hd, hd);
}

static void emit_set(struct tx *t, const struct dinsn *d, enum xe_cc cc, bool imm)
{
	struct xe_buf *e = &t->e;

	if (d->rd == 32)
		return;
	enum xe_reg a = rget(t, d->rs1, XE_RSI);
	enum xe_reg c = imm ? XE_NOREG : rget(t, d->rs2, XE_RCX);
	xe_alu_rr(e, XE_XOR, false, XE_RAX, XE_RAX);
	if (imm)
		xe_alu_ri(e, XE_CMP, true, a, (int32_t)d->imm);
	else
		xe_alu_rr(e, XE_CMP, true, a, c);
	xe_setcc(e, cc, XE_RAX);
	xe_mov_rr(e, true, rdef(t, d->rd), XE_RAX);
}

static void emit_mul(struct tx *t, const struct dinsn *d)
{
	struct xe_buf *e = &t->e;

	if (d->rd == 32)
		return;
	enum xe_reg a = rget(t, d->rs1, XE_RSI);
	enum xe_reg c = rget(t, d->rs2, XE_RCX);
	if (d->op == OP_MUL || d->op == OP_MULW) {
		bool w = d->op == OP_MUL;
		enum xe_reg hd = rdef(t, d->rd);
		if (hd == c && hd != a)
			c = a;   /* commutative */
		else
			mov_if(e, hd, a);
		xe_imul_rr(e, w, hd, c);
		if (!w)
			xe_movsxd(e, hd, hd);
		return;
	}
	mov_if(e, XE_RAX, a);
	switch (d->op) {
	case OP_MULH:
		xe_unary(e, XE_IMUL1, true, c);
		xe_mov_rr(e, true, XE_RAX, XE_RDX);
		break;
	case OP_MULHU:
		xe_unary(e, XE_MUL, true, c);
		xe_mov_rr(e, true, XE_RAX, XE_RDX);
		break;
	case OP_MULHSU:
		/* signed x unsigned: the unsigned high half, less rs2 when rs1 < 0 */
		xe_unary(e, XE_MUL, true, c);
		xe_mov_rr(e, true, XE_RAX, a);
		xe_shift_ri(e, XE_SAR, true, XE_RAX, 63);
		xe_alu_rr(e, XE_AND, true, XE_RAX, c);
		xe_alu_rr(e, XE_SUB, true, XE_RDX, XE_RAX);
		xe_mov_rr(e, true, XE_RAX, XE_RDX);
		break;
	}
	xe_mov_rr(e, true, rdef(t, d->rd), XE_RAX);
}

/*
 * Division inline; x86 faults where RISC-V defines a result (division by
 * zero, the most negative number by -1), so those go to stubs.
 */
static void emit_div(struct tx *t, const struct dinsn *d)
{
	struct xe_buf *e = &t->e;
	bool w = d->op == OP_DIVW || d->op == OP_DIVUW || d->op == OP_REMW || d->op == OP_REMUW;
	bool sgn = d->op == OP_DIV || d->op == OP_REM || d->op == OP_DIVW || d->op == OP_REMW;
	bool rem = d->op == OP_REM || d->op == OP_REMU || d->op == OP_REMW || d->op == OP_REMUW;

	enum xe_reg a = rget(t, d->rs1, XE_RAX);
	enum xe_reg c = rget(t, d->rs2, XE_RCX);
	mov_if(e, XE_RAX, a);
	mov_if(e, XE_RCX, c);
	xe_test_rr(e, !w, XE_RCX, XE_RCX);
	struct stub *zero = add_stub(t, STUB_DIV0, xe_jcc(e, XE_CC_E), d);
	struct stub *m1 = NULL;
	if (sgn) {
		xe_alu_ri(e, XE_CMP, !w, XE_RCX, -1);
		m1 = add_stub(t, STUB_DIVM1, xe_jcc(e, XE_CC_E), d);
		xe_cqo(e, !w);
		xe_unary(e, XE_IDIV, !w, XE_RCX);
	} else {
		xe_alu_rr(e, XE_XOR, false, XE_RDX, XE_RDX);
		xe_unary(e, XE_DIV, !w, XE_RCX);
	}
	if (rem)
		xe_mov_rr(e, true, XE_RAX, XE_RDX);
	if (w)
		xe_movsxd(e, XE_RAX, XE_RAX);
	zero->back = xe_here(e);
	if (m1)
		m1->back = zero->back;
	xe_mov_rr(e, true, rdef(t, d->rd), XE_RAX);
}

static void emit_branch(struct tx *t, const struct dinsn *d, enum xe_cc cc)
{
	struct xe_buf *e = &t->e;
	enum xe_reg a = rget(t, d->rs1, XE_RSI);

	if (d->rs2 == 0)
		xe_alu_ri(e, XE_CMP, true, a, 0);
	else
		xe_alu_rr(e, XE_CMP, true, a, rget(t, d->rs2, XE_RCX));
	struct stub *s = add_stub(t, STUB_EXIT, xe_jcc(e, cc), d);
	s->target = d->pc + (uint64_t)d->imm;
	s->count = d->idx + 1u;
}

/* Leaves the block in line (its end, jal): a loop's back edge or a static exit. */
static void emit_inline_exit(struct tx *t, uint64_t target, uint32_t count)
{
	if (t->looping && target == t->b->vpc) {
		emit_loop_back(t, &t->ra, count);
		return;
	}
	ra_flush(t);
	emit_exit(t, target, count);
}

static void emit_set_imm(struct tx *t, unsigned rd, uint64_t v)
{
	if (rd != 32)
		xe_mov_ri(&t->e, rdef(t, rd), v);
}

/*
 * The ops translated: HART_OPS lists END through FENCE as the integer, M and
 * A instructions, branches and jumps, then FENCE_I, the system and CSR
 * instructions and floating point, which go back to the interpreter.
 */
_Static_assert(OP_END == 1 && OP_FENCE + 1 == OP_FENCE_I && OP_JAL_IN + 1 == OP_COUNT,
	       "HART_OPS order assumed by jit_handles");
static bool jit_handles(unsigned op)
{
	return (op >= OP_END && op <= OP_FENCE) || op == OP_JAL_IN;
}

/*
 * Translates one instruction; false when the translator hands it back (the
 * block stops before it).  Block-ending instructions emit their exit.
 */
static bool emit_insn(struct tx *t, const struct dinsn *d)
{
	struct xe_buf *e = &t->e;

	if (!jit_handles(d->op))
		return false;
	switch (d->op) {
	case OP_LUI:
		emit_set_imm(t, d->rd, (uint64_t)d->imm);
		return true;
	case OP_AUIPC:
		emit_set_imm(t, d->rd, d->pc + (uint64_t)d->imm);
		return true;
	case OP_JAL_IN:
		emit_set_imm(t, d->rd, d->pc + d->len);
		return true;
	case OP_JAL:
		emit_set_imm(t, d->rd, d->pc + d->len);
		emit_inline_exit(t, d->pc + (uint64_t)d->imm, d->idx + 1u);
		return true;
	case OP_JALR:
		mov_if(e, XE_RAX, rget(t, d->rs1, XE_RAX));
		if (d->imm)
			xe_alu_ri(e, XE_ADD, true, XE_RAX, (int32_t)d->imm);
		xe_alu_ri(e, XE_AND, true, XE_RAX, -2);
		if (d->rd != 32)
			xe_mov_ri(e, rdef(t, d->rd), d->pc + d->len);
		ra_flush(t);
		xe_store(e, 8, XE_M(R_HART, OFF_PC), XE_RAX);
		add_icount(e, d->idx + 1u);
		xe_mov_rr(e, true, XE_RDI, R_HART);
		xe_call(e, (const void *)h_next);
		xe_jmp_r(e, XE_RAX);
		return true;
	case OP_BEQ: emit_branch(t, d, XE_CC_E); return true;
	case OP_BNE: emit_branch(t, d, XE_CC_NE); return true;
	case OP_BLT: emit_branch(t, d, XE_CC_L); return true;
	case OP_BGE: emit_branch(t, d, XE_CC_GE); return true;
	case OP_BLTU: emit_branch(t, d, XE_CC_B); return true;
	case OP_BGEU: emit_branch(t, d, XE_CC_AE); return true;
	case OP_LB: case OP_LH: case OP_LW: case OP_LD: case OP_LBU: case OP_LHU: case OP_LWU:
		emit_load(t, d);
		return true;
	case OP_SB: case OP_SH: case OP_SW: case OP_SD:
		emit_store(t, d);
		return true;
	case OP_ADDI:
		if (d->rs1 == 0) {
			emit_set_imm(t, d->rd, (uint64_t)d->imm);
			return true;
		}
		emit_alu(t, d, XE_ADD, true, false);
		return true;
	case OP_XORI: emit_alu(t, d, XE_XOR, true, false); return true;
	case OP_ORI: emit_alu(t, d, XE_OR, true, false); return true;
	case OP_ANDI: emit_alu(t, d, XE_AND, true, false); return true;
	case OP_ADDIW: emit_alu(t, d, XE_ADD, true, true); return true;
	case OP_ADD: emit_alu(t, d, XE_ADD, false, false); return true;
	case OP_SUB: emit_alu(t, d, XE_SUB, false, false); return true;
	case OP_XOR: emit_alu(t, d, XE_XOR, false, false); return true;
	case OP_OR: emit_alu(t, d, XE_OR, false, false); return true;
	case OP_AND: emit_alu(t, d, XE_AND, false, false); return true;
	case OP_ADDW: emit_alu(t, d, XE_ADD, false, true); return true;
	case OP_SUBW: emit_alu(t, d, XE_SUB, false, true); return true;
	case OP_SLLI: emit_shift(t, d, XE_SHL, true, false); return true;
	case OP_SRLI: emit_shift(t, d, XE_SHR, true, false); return true;
	case OP_SRAI: emit_shift(t, d, XE_SAR, true, false); return true;
	case OP_SLLIW: emit_shift(t, d, XE_SHL, true, true); return true;
	case OP_SRLIW: emit_shift(t, d, XE_SHR, true, true); return true;
	case OP_SRAIW: emit_shift(t, d, XE_SAR, true, true); return true;
	case OP_SLL: emit_shift(t, d, XE_SHL, false, false); return true;
	case OP_SRL: emit_shift(t, d, XE_SHR, false, false); return true;
	case OP_SRA: emit_shift(t, d, XE_SAR, false, false); return true;
	case OP_SLLW: emit_shift(t, d, XE_SHL, false, true); return true;
	case OP_SRLW: emit_shift(t, d, XE_SHR, false, true); return true;
	case OP_SRAW: emit_shift(t, d, XE_SAR, false, true); return true;
	case OP_SLTI: emit_set(t, d, XE_CC_L, true); return true;
	case OP_SLTIU: emit_set(t, d, XE_CC_B, true); return true;
	case OP_SLT: emit_set(t, d, XE_CC_L, false); return true;
	case OP_SLTU: emit_set(t, d, XE_CC_B, false); return true;
	case OP_MUL: case OP_MULH: case OP_MULHSU: case OP_MULHU: case OP_MULW:
		emit_mul(t, d);
		return true;
	case OP_DIV: case OP_DIVU: case OP_REM: case OP_REMU:
	case OP_DIVW: case OP_DIVUW: case OP_REMW: case OP_REMUW:
		if (d->rd != 32)
			emit_div(t, d);
		return true;
	case OP_LR_W: case OP_SC_W: case OP_LR_D: case OP_SC_D: case OP_AMO_W: case OP_AMO_D:
		/* the helper reads and writes the registers in hart_state */
		ra_drop_all(t);
		xe_mov_rr(e, true, XE_RDI, R_HART);
		xe_mov_ri(e, XE_RSI, (uint64_t)(uintptr_t)d);
		xe_call(e, (const void *)h_amo);
		emit_helper_check(t);
		return true;
	case OP_FENCE:
		/* x86-64 keeps every order RVWMO asks for but store-then-load (decode.c) */
		if (d->imm)
			xe_mfence(e);
		return true;
	case OP_END:
		emit_inline_exit(t, d->pc, d->idx);
		return true;
	}
	return false;
}

/*
 * A block that branches back to its own start gets its most used guest
 * registers loaded before the body, so its back edge keeps them in host
 * registers.  They count as dirty from the start: any exit writes them back.
 */
/* Which register fields of a translated op are operands (for plan_loop). */
static void op_regs(const struct dinsn *d, bool *r1, bool *r2, bool *w)
{
	switch (d->op) {
	case OP_LUI: case OP_AUIPC: case OP_JAL: case OP_JAL_IN:
		*r1 = *r2 = false;
		*w = true;
		return;
	case OP_END: case OP_FENCE:
		*r1 = *r2 = *w = false;
		return;
	case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE: case OP_BLTU: case OP_BGEU:
	case OP_SB: case OP_SH: case OP_SW: case OP_SD:
		*r1 = *r2 = true;
		*w = false;
		return;
	case OP_ADD: case OP_SUB: case OP_SLL: case OP_SLT: case OP_SLTU: case OP_XOR:
	case OP_SRL: case OP_SRA: case OP_OR: case OP_AND: case OP_ADDW: case OP_SUBW:
	case OP_SLLW: case OP_SRLW: case OP_SRAW: case OP_MUL: case OP_MULH: case OP_MULHSU:
	case OP_MULHU: case OP_DIV: case OP_DIVU: case OP_REM: case OP_REMU: case OP_MULW:
	case OP_DIVW: case OP_DIVUW: case OP_REMW: case OP_REMUW:
	case OP_SC_W: case OP_SC_D: case OP_AMO_W: case OP_AMO_D:
		*r1 = *r2 = *w = true;
		return;
	default:   /* immediate forms, loads, jalr, LR */
		*r1 = *w = true;
		*r2 = false;
		return;
	}
}

/* True when d leaves the block for its own start. */
static bool jumps_to_start(const struct block *b, const struct dinsn *d)
{
	switch (d->op) {
	case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE: case OP_BLTU: case OP_BGEU:
	case OP_JAL:
		return d->pc + (uint64_t)d->imm == b->vpc;
	case OP_END:
		return d->pc == b->vpc;
	}
	return false;
}

/*
 * A block that branches back to its own start gets the guest registers its
 * loop uses most loaded before the body, so its back edge keeps them in host
 * registers.  Those the loop writes count as dirty from the start: any exit
 * writes them back.
 */
static void plan_loop(struct tx *t)
{
	const struct block *b = t->b;
	unsigned uses[33] = { 0 };
	bool written[33] = { false };
	int last = -1;

	for (unsigned i = 0; i <= b->n; i++) {
		const struct dinsn *d = &b->insn[i];
		if (!jit_handles(d->op))
			break;
		if (jumps_to_start(b, d))
			last = (int)i;
		if (d->op == OP_JAL || d->op == OP_JALR)
			break;
	}
	if (last < 0)
		return;
	/* Only the loop's instructions (up to its last back edge) count. */
	for (int i = 0; i <= last; i++) {
		const struct dinsn *d = &b->insn[i];
		bool r1, r2, w;
		op_regs(d, &r1, &r2, &w);
		uses[d->rs1] += r1;
		uses[d->rs2] += r2;
		uses[d->rd] += w;
		written[d->rd] |= w;
	}
	uses[0] = uses[32] = 0;
	for (int n = 0; n < NPOOL; n++) {
		unsigned best = 0;
		for (unsigned g = 1; g < 32; g++)
			if (uses[g] > uses[best])
				best = g;
		if (!uses[best])
			break;
		uses[best] = 0;
		int slot = ra_slot(t, best);
		xe_load(&t->e, XE_LD64, pool[slot], XE_M(R_HART, OFF_X(best)));
		/*
		 * Written in the loop: dirty from the start, so the back edge
		 * never has to store it.  Only read: clean, and it stays clean
		 * at every back edge.
		 */
		t->ra.dirty[slot] = written[best];
		t->ra.used[slot] = ++t->ra.clock;
	}
	t->looping = true;
	t->loop = t->ra;
	t->body = xe_here(&t->e);
}

bool jit_translate(struct hart *h, struct block *b, bool *full)
{
	struct jit *j = h->jit;
	/*
	 * The translation's state (about 50 KiB, mostly the stub and map
	 * arrays) lives beside the code cache, not on the stack: the stats
	 * build's profiler copies the top of the stack to unwind it.  The arrays
	 * are written before they are read (nstub, nmap), so only the rest is
	 * cleared.
	 */
	if (!j->tx) {
		j->tx = malloc(sizeof(struct tx));
		if (!j->tx) {
			b->jit_no = 1;
			return false;
		}
	}
	struct tx *t = j->tx;
	memset(t, 0, offsetof(struct tx, stub));
	t->nstub = 0;
	t->nmap = 0;
	t->meta_full = false;
	t->h = h;
	t->j = j;
	t->b = b;
	struct xe_buf *e = &t->e;

	ra_init(&t->ra);
	*full = false;
	if (!jit_handles(b->insn[0].op)) {
		b->jit_no = 1;
		STAT_INC(JIT_HANDBACK);
		return false;
	}
	xe_init(e, j->wr + j->used, j->size - j->used, j->delta);

	/* Chained entry: the checks the loop top makes between blocks. */
	const void *chain = xe_here(e);
	t->chain = chain;
	map_here(t, 0);
	uint8_t *attn[3];
	emit_attention(e, b->n, attn);
	for (int i = 0; i < 3; i++)
		add_stub(t, STUB_ATTN, attn[i], NULL);
	const void *body = xe_here(e);
	plan_loop(t);
	for (unsigned i = 0; i <= b->n; i++) {
		const struct dinsn *d = &b->insn[i];
		map_here(t, i);
		if (!emit_insn(t, d)) {
			emit_handback(t, d);
			break;
		}
		if (d->op == OP_JAL || d->op == OP_JALR)
			break;
	}
	for (unsigned i = 0; i < t->nstub; i++)
		emit_stub(t, &t->stub[i]);

	size_t code = (size_t)(e->p - e->start);
	struct jit_map *m = jit_cache_meta(j, sizeof(*m) + t->nmap * sizeof(m->e[0]));
	if (e->overflow || t->meta_full || !m || !jit_cache_add_span(j, (uintptr_t)chain, b)) {
		*full = true;
		return false;
	}
	m->code_size = (uint32_t)code;
	m->n = t->nmap;
	memcpy(m->e, t->map, t->nmap * sizeof(m->e[0]));
	j->used += (code + 15) & ~(size_t)15;
	j->translated++;
	b->jit_chain = chain;
	b->jit = body;
	b->jit_map = m;
	STAT_INC(JIT_BLOCKS);
	return true;
}

bool jit_block_writes_no_memory(const struct block *b)
{
	for (unsigned i = 0; i < b->n; i++) {
		switch (b->insn[i].op) {
		case OP_SB: case OP_SH: case OP_SW: case OP_SD: case OP_FSW: case OP_FSD:
		case OP_LR_W: case OP_SC_W: case OP_LR_D: case OP_SC_D: case OP_AMO_W: case OP_AMO_D:
			return false;
		}
	}
	return true;
}

/* The generation exit x's link is good for (struct hart: page_gen). */
static uint64_t exit_gen(const struct hart *h, const struct jit_exit *x)
{
	return x->same_page ? h->page_gen_live : h->chain_gen;
}

void jit_link(struct hart *h, struct jit_exit *x, const struct block *b)
{
	/* A same-page link holds only while both blocks share the physical page. */
	if (x->same_page && (b->ppc >> 12) != x->src_ppage)
		return;
	uint64_t gen = exit_gen(h, x);
	memcpy(x->gen_field, &gen, sizeof(gen));
	/* Test knob (opt/obj): the jump skips the successor's between-block checks. */
	xe_patch_rel32(x->jmp_field, h->jit->delta,
		       dbg_fault(DBG_FAULT_JIT_LINK) ? b->jit : b->jit_chain);
	x->to = b;
	STAT_INC(JIT_LINKS);
}

/*
 * Beta: checks the next JIT_DBG_LINKS_PER_CHECK exit records, round the
 * table, so one call costs the same however many exits there are (a scan
 * of every record took 6.7 % of the beta build's time on a busy web guest).
 */
#define JIT_DBG_LINKS_PER_CHECK 512

void jit_dbg_check_links(struct hart *h)
{
	struct jit *j = h->jit;
	size_t n = j->nexits < JIT_DBG_LINKS_PER_CHECK ? j->nexits : JIT_DBG_LINKS_PER_CHECK;

	for (size_t k = 0; k < n; k++) {
		size_t i = j->dbg_link_cursor++ % j->nexits;
		const struct jit_exit *x = &j->exits[i];
		uint64_t gen;
		int32_t rel;
		memcpy(&gen, x->gen_field, sizeof(gen));
		if (gen != exit_gen(h, x))
			continue;   /* not linked in this generation: never followed */
		memcpy(&rel, x->jmp_field, sizeof(rel));
		const uint8_t *dest = x->jmp_field + j->delta + 4 + rel;
		(void)dest;   /* release and stats: DBG_CHECK compiles to nothing */
		DBG_CHECK("jit-link", dbg_jit_link_problem(h, x->target, x->to, dest));
	}
}

int jit_map_pc(const struct block *b, uintptr_t host_pc)
{
	const struct jit_map *m = b->jit_map;
	uintptr_t start = (uintptr_t)b->jit_chain;

	if (!m || host_pc < start || host_pc >= start + m->code_size)
		return -1;
	uint32_t off = (uint32_t)(host_pc - start);
	int idx = -1;
	for (uint32_t i = 0; i < m->n && m->e[i].off <= off; i++)
		idx = (int)m->e[i].idx;
	return idx;
}
