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
#include <string.h>
#include "hart_int.h"
#include "x86enc.h"
#include "../stats/stats.h"

/* Register convention inside translated code. */
#define R_HART XE_RBX     /* struct hart * (its hart_state is at offset 0) */
#define R_TLBR XE_R12     /* data TLB for loads, current mode */
#define R_TLBW XE_R13     /* data TLB for stores, current mode */
#define R_END  XE_R15     /* icount at which the budget is spent */

#define OFF_X(r)     ((int32_t)(offsetof(struct hart, s.x) + 8 * (r)))
#define OFF_PC       ((int32_t)offsetof(struct hart, s.pc))
#define OFF_ICOUNT   ((int32_t)offsetof(struct hart, s.icount))
#define OFF_MIP      ((int32_t)offsetof(struct hart, s.mip))
#define OFF_MIE      ((int32_t)offsetof(struct hart, s.mie))
#define OFF_GEN      ((int32_t)offsetof(struct hart, chain_gen))
#define OFF_KICK     ((int32_t)offsetof(struct hart, kick))
#define OFF_CURBLOCK ((int32_t)offsetof(struct hart, cur_block))

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

	STAT_INC(INSN_LOAD);
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

	STAT_INC(INSN_STORE);
	if (!mmu_store_slow(h, va, sz, val))
		return left_trap(h, d);
	return VMX_UNLIKELY(h->exit_req) ? left_after(h, d) : 0;
}

static uint64_t h_amo(struct hart *h, const struct dinsn *d)
{
	if (hart_amo(h, d) < 0)
		return left_trap(h, d);
	return VMX_UNLIKELY(h->exit_req) ? left_after(h, d) : 0;
}

static uint64_t h_div(uint64_t a, uint64_t b) { return hart_div(a, b); }
static uint64_t h_divu(uint64_t a, uint64_t b) { return hart_divu(a, b); }
static uint64_t h_rem(uint64_t a, uint64_t b) { return hart_rem(a, b); }
static uint64_t h_remu(uint64_t a, uint64_t b) { return hart_remu(a, b); }
static uint64_t h_divw(uint64_t a, uint64_t b) { return hart_divw(a, b); }
static uint64_t h_divuw(uint64_t a, uint64_t b) { return hart_divuw(a, b); }
static uint64_t h_remw(uint64_t a, uint64_t b) { return hart_remw(a, b); }
static uint64_t h_remuw(uint64_t a, uint64_t b) { return hart_remuw(a, b); }

/* ---- one translation ------------------------------------------------------ */

enum stub_kind { STUB_EXIT, STUB_LOAD, STUB_STORE, STUB_ATTN };

/* Out-of-line code emitted after the body: taken branches, TLB misses. */
struct stub {
	enum stub_kind kind;
	uint8_t *field;            /* rel32 of the body's jcc to the stub */
	const struct dinsn *d;
	const void *back;          /* run address to resume at (TLB miss) */
	uint64_t target;           /* guest pc (exit) */
	uint32_t count;            /* instructions retired when taking it */
};

#define MAX_STUBS (BLOCK_MAX + 4)
#define MAX_MAP (2 * BLOCK_MAX + 8)

struct tx {
	struct hart *h;
	struct jit *j;
	struct block *b;
	struct xe_buf e;
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

static void add_stub(struct tx *t, enum stub_kind kind, uint8_t *field, const struct dinsn *d,
		     uint64_t target, uint32_t count)
{
	/* Every instruction adds at most one stub, plus the attention exit. */
	struct stub *s = &t->stub[t->nstub++];
	*s = (struct stub){ .kind = kind, .field = field, .d = d, .back = xe_here(&t->e),
			    .target = target, .count = count };
}

/* x[r] into a host register; x0 reads as 0 without a load (clobbers flags). */
static void ld_x(struct xe_buf *e, enum xe_reg dst, unsigned r)
{
	if (r == 0)
		xe_alu_rr(e, XE_XOR, false, dst, dst);
	else
		xe_load(e, XE_LD64, dst, XE_M(R_HART, OFF_X(r)));
}

static void st_x(struct xe_buf *e, unsigned r, enum xe_reg src)
{
	xe_store(e, 8, XE_M(R_HART, OFF_X(r)), src);
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
 * A static exit to guest pc `target` after `count` instructions: the linked
 * path (generation check, then a direct jump into the successor's chained
 * entry) falls back to the unlinked one, which returns the exit record so
 * the loop can link it.
 */
static void emit_exit(struct tx *t, uint64_t target, uint32_t count)
{
	struct xe_buf *e = &t->e;
	struct jit_exit *x = jit_cache_meta(t->j, sizeof(*x));

	if (!x) {
		t->meta_full = true;
		return;
	}
	add_icount(e, count);
	xe_mov_ri(e, XE_RAX, GEN_NONE);
	x->gen_field = e->p - 8;
	xe_alu_mr(e, XE_CMP, true, XE_M(R_HART, OFF_GEN), XE_RAX);
	uint8_t *to_unlinked = xe_jcc(e, XE_CC_NE);
	x->jmp_field = xe_jmp(e);
	x->target = target;
	if (to_unlinked) {
		xe_patch_rel32(to_unlinked, e->run_delta, xe_here(e));
		xe_patch_rel32(x->jmp_field, e->run_delta, xe_here(e));
	}
	set_pc_imm(e, target);
	leave_with(t, (uint64_t)(uintptr_t)x);
}

/* The block's own instruction the translation stops at: hand it to the interpreter. */
static void emit_handback(struct tx *t, const struct dinsn *d)
{
	add_icount(&t->e, d->idx);
	set_pc_imm(&t->e, d->pc);
	leave_with(t, JIT_LEFT_DYNAMIC);
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
				enum xe_reg tlb)
{
	struct xe_buf *e = &t->e;

	ld_x(e, XE_RSI, d->rs1);
	if (d->imm)
		xe_alu_ri(e, XE_ADD, true, XE_RSI, (int32_t)d->imm);
	/* slot = ((va >> 12) & TLB_MASK) * sizeof(struct tlbe) */
	xe_mov_rr(e, false, XE_RAX, XE_RSI);
	xe_shift_ri(e, XE_SHR, false, XE_RAX, 12 - 4);
	xe_alu_ri(e, XE_AND, false, XE_RAX, (int32_t)(TLB_MASK << 4));
	/* The tag compare also rejects misaligned accesses (struct tlbe). */
	xe_mov_rr(e, true, XE_RCX, XE_RSI);
	xe_alu_ri(e, XE_AND, true, XE_RCX, (int32_t)(0xfffff000u | (size - 1)));
	xe_alu_rm(e, XE_CMP, true, XE_RCX, XE_MX(tlb, XE_RAX, 1, (int32_t)offsetof(struct tlbe, tag)));
	uint8_t *miss = xe_jcc(e, XE_CC_NE);
	xe_alu_rm(e, XE_ADD, true, XE_RSI,
		  XE_MX(tlb, XE_RAX, 1, (int32_t)offsetof(struct tlbe, addend)));
	return miss;
}

static void emit_load(struct tx *t, const struct dinsn *d)
{
	static const uint8_t size[] = { [OP_LB] = 1, [OP_LH] = 2, [OP_LW] = 4, [OP_LD] = 8,
					[OP_LBU] = 1, [OP_LHU] = 2, [OP_LWU] = 4 };
	struct xe_buf *e = &t->e;

	uint8_t *miss = emit_tlb_lookup(t, d, size[d->op], R_TLBR);
	xe_load(e, load_kind[d->op], XE_RAX, XE_M(XE_RSI, 0));
	st_x(e, d->rd, XE_RAX);
	add_stub(t, STUB_LOAD, miss, d, 0, 0);   /* resumes here */
}

static void emit_store(struct tx *t, const struct dinsn *d)
{
	unsigned size = d->op == OP_SB ? 1 : d->op == OP_SH ? 2 : d->op == OP_SW ? 4 : 8;
	struct xe_buf *e = &t->e;

	ld_x(e, XE_RDX, d->rs2);
	uint8_t *miss = emit_tlb_lookup(t, d, size, R_TLBW);
	xe_store(e, size, XE_M(XE_RSI, 0), XE_RDX);
	add_stub(t, STUB_STORE, miss, d, 0, 0);   /* resumes here */
}

static void emit_stub(struct tx *t, const struct stub *s)
{
	struct xe_buf *e = &t->e;

	if (s->field)
		xe_patch_rel32(s->field, e->run_delta, xe_here(e));
	map_here(t, s->d ? s->d->idx : 0);
	switch (s->kind) {
	case STUB_EXIT:
		emit_exit(t, s->target, s->count);
		break;
	case STUB_ATTN:
		/* chained entry refused: the loop top handles budget, interrupt or kick */
		set_pc_imm(e, t->b->vpc);
		leave_with(t, JIT_LEFT_DYNAMIC);
		break;
	case STUB_LOAD:
	case STUB_STORE:
		/* rsi = va (and rdx = value for a store) are still live from the body */
		xe_mov_rr(e, true, XE_RDI, R_HART);
		xe_mov_ri(e, s->kind == STUB_LOAD ? XE_RDX : XE_RCX, (uint64_t)(uintptr_t)s->d);
		xe_call(e, s->kind == STUB_LOAD ? (const void *)h_load : (const void *)h_store);
		emit_helper_check(t);
		xe_jmp_to(e, s->back);
		break;
	}
}

/* rd = rs1 OP rs2 (or OP imm) for the group-1 ALU ops; w32: the W form. */
static void emit_alu(struct tx *t, const struct dinsn *d, enum xe_alu op, bool imm, bool w32)
{
	struct xe_buf *e = &t->e;

	if (d->rd == 32)
		return;
	ld_x(e, XE_RAX, d->rs1);
	if (imm) {
		if (d->imm || op == XE_AND)
			xe_alu_ri(e, op, !w32, XE_RAX, (int32_t)d->imm);
	} else if (d->rs2 == 0) {
		if (op == XE_AND)
			xe_alu_rr(e, XE_XOR, false, XE_RAX, XE_RAX);
	} else {
		xe_alu_rm(e, op, !w32, XE_RAX, XE_M(R_HART, OFF_X(d->rs2)));
	}
	if (w32)
		xe_movsxd(e, XE_RAX, XE_RAX);
	st_x(e, d->rd, XE_RAX);
}

static void emit_shift(struct tx *t, const struct dinsn *d, enum xe_shift op, bool imm, bool w32)
{
	struct xe_buf *e = &t->e;

	if (d->rd == 32)
		return;
	ld_x(e, XE_RAX, d->rs1);
	if (imm) {
		if (d->imm)
			xe_shift_ri(e, op, !w32, XE_RAX, (uint8_t)d->imm);
		else if (w32)
			xe_mov_rr(e, false, XE_RAX, XE_RAX);
	} else {
		/* x86 masks the count to 6 (5 for 32-bit) bits, as RISC-V does */
		ld_x(e, XE_RCX, d->rs2);
		xe_shift_rcl(e, op, !w32, XE_RAX);
	}
	if (w32)
		xe_movsxd(e, XE_RAX, XE_RAX);
	st_x(e, d->rd, XE_RAX);
}

static void emit_set(struct tx *t, const struct dinsn *d, enum xe_cc cc, bool imm)
{
	struct xe_buf *e = &t->e;

	if (d->rd == 32)
		return;
	xe_alu_rr(e, XE_XOR, false, XE_RCX, XE_RCX);
	ld_x(e, XE_RAX, d->rs1);
	if (imm)
		xe_alu_ri(e, XE_CMP, true, XE_RAX, (int32_t)d->imm);
	else if (d->rs2 == 0)
		xe_alu_ri(e, XE_CMP, true, XE_RAX, 0);
	else
		xe_alu_rm(e, XE_CMP, true, XE_RAX, XE_M(R_HART, OFF_X(d->rs2)));
	xe_setcc(e, cc, XE_RCX);
	st_x(e, d->rd, XE_RCX);
}

static void emit_mul(struct tx *t, const struct dinsn *d)
{
	struct xe_buf *e = &t->e;

	if (d->rd == 32)
		return;
	ld_x(e, XE_RAX, d->rs1);
	ld_x(e, XE_RCX, d->rs2);
	switch (d->op) {
	case OP_MUL:
		xe_imul_rr(e, true, XE_RAX, XE_RCX);
		st_x(e, d->rd, XE_RAX);
		return;
	case OP_MULW:
		xe_imul_rr(e, false, XE_RAX, XE_RCX);
		xe_movsxd(e, XE_RAX, XE_RAX);
		st_x(e, d->rd, XE_RAX);
		return;
	case OP_MULH:
		xe_unary(e, XE_IMUL1, true, XE_RCX);
		break;
	case OP_MULHU:
		xe_unary(e, XE_MUL, true, XE_RCX);
		break;
	case OP_MULHSU:
		/* signed x unsigned: the unsigned high half, less rs2 when rs1 < 0 */
		xe_unary(e, XE_MUL, true, XE_RCX);
		ld_x(e, XE_RAX, d->rs1);
		xe_shift_ri(e, XE_SAR, true, XE_RAX, 63);
		xe_alu_rr(e, XE_AND, true, XE_RAX, XE_RCX);
		xe_alu_rr(e, XE_SUB, true, XE_RDX, XE_RAX);
		break;
	}
	st_x(e, d->rd, XE_RDX);
}

static void emit_div(struct tx *t, const struct dinsn *d)
{
	static const void *const fn[] = {
		[OP_DIV] = (const void *)h_div, [OP_DIVU] = (const void *)h_divu,
		[OP_REM] = (const void *)h_rem, [OP_REMU] = (const void *)h_remu,
		[OP_DIVW] = (const void *)h_divw, [OP_DIVUW] = (const void *)h_divuw,
		[OP_REMW] = (const void *)h_remw, [OP_REMUW] = (const void *)h_remuw,
	};
	struct xe_buf *e = &t->e;

	if (d->rd == 32)
		return;
	ld_x(e, XE_RDI, d->rs1);
	ld_x(e, XE_RSI, d->rs2);
	xe_call(e, fn[d->op]);
	st_x(e, d->rd, XE_RAX);
}

static void emit_branch(struct tx *t, const struct dinsn *d, enum xe_cc cc)
{
	struct xe_buf *e = &t->e;

	ld_x(e, XE_RAX, d->rs1);
	if (d->rs2 == 0)
		xe_alu_ri(e, XE_CMP, true, XE_RAX, 0);
	else
		xe_alu_rm(e, XE_CMP, true, XE_RAX, XE_M(R_HART, OFF_X(d->rs2)));
	uint8_t *taken = xe_jcc(e, cc);
	add_stub(t, STUB_EXIT, taken, d, d->pc + (uint64_t)d->imm, d->idx + 1u);
}

static void emit_link_reg(struct tx *t, const struct dinsn *d)
{
	if (d->rd == 32)
		return;
	xe_mov_ri(&t->e, XE_RCX, d->pc + d->len);
	st_x(&t->e, d->rd, XE_RCX);
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
		if (d->rd != 32)
			xe_mov_mi(e, true, XE_M(R_HART, OFF_X(d->rd)), (int32_t)d->imm);
		return true;
	case OP_AUIPC:
		if (d->rd != 32) {
			xe_mov_ri(e, XE_RAX, d->pc + (uint64_t)d->imm);
			st_x(e, d->rd, XE_RAX);
		}
		return true;
	case OP_JAL_IN:
		emit_link_reg(t, d);
		return true;
	case OP_JAL:
		emit_link_reg(t, d);
		emit_exit(t, d->pc + (uint64_t)d->imm, d->idx + 1u);
		return true;
	case OP_JALR:
		ld_x(e, XE_RAX, d->rs1);
		if (d->imm)
			xe_alu_ri(e, XE_ADD, true, XE_RAX, (int32_t)d->imm);
		xe_alu_ri(e, XE_AND, true, XE_RAX, -2);
		emit_link_reg(t, d);
		xe_store(e, 8, XE_M(R_HART, OFF_PC), XE_RAX);
		add_icount(e, d->idx + 1u);
		leave_with(t, JIT_LEFT_DYNAMIC);
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
		if (d->rd != 32 && d->rs1 == 0) {
			xe_mov_mi(e, true, XE_M(R_HART, OFF_X(d->rd)), (int32_t)d->imm);
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
		emit_div(t, d);
		return true;
	case OP_LR_W: case OP_SC_W: case OP_LR_D: case OP_SC_D: case OP_AMO_W: case OP_AMO_D:
		xe_mov_rr(e, true, XE_RDI, R_HART);
		xe_mov_ri(e, XE_RSI, (uint64_t)(uintptr_t)d);
		xe_call(e, (const void *)h_amo);
		emit_helper_check(t);
		return true;
	case OP_FENCE:
		/* one hart per thread, and x86 stores are ordered: nothing to do */
		return true;
	case OP_END:
		emit_exit(t, d->pc, d->idx);
		return true;
	}
	return false;
}

bool jit_translate(struct hart *h, struct block *b, bool *full)
{
	struct jit *j = h->jit;
	struct tx *t = &(struct tx){ .h = h, .j = j, .b = b };
	struct xe_buf *e = &t->e;

	*full = false;
	if (!jit_handles(b->insn[0].op)) {
		b->jit_no = 1;
		STAT_INC(JIT_HANDBACK);
		return false;
	}
	xe_init(e, j->wr + j->used, j->size - j->used, j->delta);

	/* Chained entry: the checks the loop top makes between blocks. */
	const void *chain = xe_here(e);
	map_here(t, 0);
	xe_load(e, XE_LD64, XE_RAX, XE_M(R_HART, OFF_ICOUNT));
	xe_alu_ri(e, XE_ADD, true, XE_RAX, (int32_t)b->n);
	xe_alu_rr(e, XE_CMP, true, XE_RAX, R_END);
	add_stub(t, STUB_ATTN, xe_jcc(e, XE_CC_A), NULL, 0, 0);
	xe_load(e, XE_LD64, XE_RAX, XE_M(R_HART, OFF_MIP));
	xe_alu_rm(e, XE_AND, true, XE_RAX, XE_M(R_HART, OFF_MIE));
	add_stub(t, STUB_ATTN, xe_jcc(e, XE_CC_NE), NULL, 0, 0);
	xe_alu_mi(e, XE_CMP, false, XE_M(R_HART, OFF_KICK), 0);
	add_stub(t, STUB_ATTN, xe_jcc(e, XE_CC_NE), NULL, 0, 0);
	if (VMX_STATS) {
		xe_mov_ri(e, XE_RAX, (uint64_t)(uintptr_t)b);
		xe_store(e, 8, XE_M(R_HART, OFF_CURBLOCK), XE_RAX);
	}
	const void *body = xe_here(e);
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
	if (e->overflow || t->meta_full || !m) {
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

void jit_link(struct hart *h, struct jit_exit *x, const struct block *b)
{
	memcpy(x->gen_field, &h->chain_gen, sizeof(h->chain_gen));
	xe_patch_rel32(x->jmp_field, h->jit->delta, b->jit_chain);
	STAT_INC(JIT_LINKS);
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
