/*
 * x86enc.h - the translator's x86-64 instruction encoder: a small set of
 * instruction forms (those src/cpu/jit.c emits), each encoded from one table
 * row (opcode bytes, ModRM /digit, operand kind), with REX, ModRM, SIB and
 * displacement worked out in one place.  tests/unit/test_x86enc.c checks every
 * form against GNU objdump.
 *
 * Writes go to a struct xe_buf.  Running past its end never writes out of
 * bounds: the buffer is marked overflowed and the caller throws the output
 * away (the translator then flushes its code cache and tries again).
 */
#ifndef VMX_CPU_X86ENC_H
#define VMX_CPU_X86ENC_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

enum xe_reg {
	XE_RAX = 0, XE_RCX, XE_RDX, XE_RBX, XE_RSP, XE_RBP, XE_RSI, XE_RDI,
	XE_R8, XE_R9, XE_R10, XE_R11, XE_R12, XE_R13, XE_R14, XE_R15,
	XE_NOREG = -1,
};

/* Group-1 ALU operations; the value is the ModRM /digit. */
enum xe_alu { XE_ADD = 0, XE_OR = 1, XE_ADC = 2, XE_SBB = 3, XE_AND = 4, XE_SUB = 5,
	      XE_XOR = 6, XE_CMP = 7 };
/* Group-2 shifts; the value is the ModRM /digit. */
enum xe_shift { XE_ROL = 0, XE_ROR = 1, XE_SHL = 4, XE_SHR = 5, XE_SAR = 7 };
/* Group-3 unary operations on rdx:rax or one operand; the value is the /digit. */
enum xe_unary { XE_NOT = 2, XE_NEG = 3, XE_MUL = 4, XE_IMUL1 = 5, XE_DIV = 6, XE_IDIV = 7 };
/* Condition codes, as in Jcc/SETcc/CMOVcc. */
enum xe_cc { XE_CC_O = 0, XE_CC_NO, XE_CC_B, XE_CC_AE, XE_CC_E, XE_CC_NE, XE_CC_BE, XE_CC_A,
	     XE_CC_S, XE_CC_NS, XE_CC_P, XE_CC_NP, XE_CC_L, XE_CC_GE, XE_CC_LE, XE_CC_G };
/* Load kinds: width and extension into a 64-bit register. */
enum xe_ld { XE_LD8S, XE_LD8Z, XE_LD16S, XE_LD16Z, XE_LD32S, XE_LD32Z, XE_LD64 };

/* A memory operand [base + index*scale + disp]; index XE_NOREG for none. */
struct xe_mem {
	enum xe_reg base, index;
	uint8_t scale;   /* 1, 2, 4 or 8 */
	int32_t disp;
};
#define XE_M(b, d) ((struct xe_mem){ .base = (b), .index = XE_NOREG, .scale = 1, .disp = (d) })
#define XE_MX(b, i, s, d) ((struct xe_mem){ .base = (b), .index = (i), .scale = (s), .disp = (d) })

/*
 * Output buffer.  Code may be written through one mapping and run from
 * another (W^X: the translator's cache is one memfd mapped twice): run_delta
 * is the run address minus the write address.  Every branch and call target
 * given to the encoder is a run address; the encoder computes displacements
 * from where each instruction will run.
 */
struct xe_buf {
	uint8_t *start, *p, *end;
	intptr_t run_delta;
	bool overflow;
};

static inline void xe_init(struct xe_buf *b, void *mem, unsigned long size, intptr_t run_delta)
{
	b->start = b->p = mem;
	b->end = b->p + size;
	b->run_delta = run_delta;
	b->overflow = false;
}

/* Run address of the next byte to be written. */
static inline void *xe_here(const struct xe_buf *b) { return b->p + b->run_delta; }

/* w64: true for the 64-bit operation, false for the 32-bit one (which zero-extends). */
void xe_alu_rr(struct xe_buf *b, enum xe_alu op, bool w64, enum xe_reg dst, enum xe_reg src);
void xe_alu_rm(struct xe_buf *b, enum xe_alu op, bool w64, enum xe_reg dst, struct xe_mem m);
void xe_alu_mr(struct xe_buf *b, enum xe_alu op, bool w64, struct xe_mem m, enum xe_reg src);
/* imm8 form when imm fits in a signed byte, else imm32 (sign-extended for w64). */
void xe_alu_ri(struct xe_buf *b, enum xe_alu op, bool w64, enum xe_reg dst, int32_t imm);
void xe_alu_mi(struct xe_buf *b, enum xe_alu op, bool w64, struct xe_mem m, int32_t imm);
void xe_test_rr(struct xe_buf *b, bool w64, enum xe_reg a, enum xe_reg c);

void xe_mov_rr(struct xe_buf *b, bool w64, enum xe_reg dst, enum xe_reg src);
/* Shortest form for imm: mov r32,imm32 when it fits unsigned 32 bits, mov r/m64,simm32
 * when it fits signed 32 bits, else movabs.  Does not touch flags. */
void xe_mov_ri(struct xe_buf *b, enum xe_reg dst, uint64_t imm);
void xe_mov_mi(struct xe_buf *b, bool w64, struct xe_mem m, int32_t imm);
void xe_load(struct xe_buf *b, enum xe_ld kind, enum xe_reg dst, struct xe_mem m);
/* size 1, 2, 4 or 8: stores the low bytes of src. */
void xe_store(struct xe_buf *b, unsigned size, struct xe_mem m, enum xe_reg src);
void xe_lea(struct xe_buf *b, enum xe_reg dst, struct xe_mem m);
/* movsxd dst, src32 (sign-extends the low 32 bits to 64). */
void xe_movsxd(struct xe_buf *b, enum xe_reg dst, enum xe_reg src);

void xe_shift_ri(struct xe_buf *b, enum xe_shift op, bool w64, enum xe_reg dst, uint8_t imm);
/* Shift by cl. */
void xe_shift_rcl(struct xe_buf *b, enum xe_shift op, bool w64, enum xe_reg dst);
/* dst = dst * src (two-operand imul, low half). */
void xe_imul_rr(struct xe_buf *b, bool w64, enum xe_reg dst, enum xe_reg src);
/* Group 3 on a register: not, neg, mul, imul (one operand), div, idiv. */
void xe_unary(struct xe_buf *b, enum xe_unary op, bool w64, enum xe_reg r);
/* cqo (w64) or cdq: sign-extends rax into rdx. */
void xe_cqo(struct xe_buf *b, bool w64);

/* setcc on the low byte of r (REX where r is spl..dil or r8..r15). */
void xe_setcc(struct xe_buf *b, enum xe_cc cc, enum xe_reg r);
/* movzx dst32, src8 (low byte of src; REX as for setcc). */
void xe_movzx8(struct xe_buf *b, enum xe_reg dst, enum xe_reg src);
void xe_cmov(struct xe_buf *b, enum xe_cc cc, bool w64, enum xe_reg dst, enum xe_reg src);

/*
 * Branches.  The rel32 forms return the address of their 32-bit displacement
 * field (NULL after overflow) so it can be set later with xe_patch_rel32;
 * the _to forms take a known target and use rel8 when it reaches.
 */
uint8_t *xe_jcc(struct xe_buf *b, enum xe_cc cc);
uint8_t *xe_jmp(struct xe_buf *b);
void xe_jcc_to(struct xe_buf *b, enum xe_cc cc, const void *target);
void xe_jmp_to(struct xe_buf *b, const void *target);
/* Points the rel32 field (a write address, as the branch forms returned) at
 * the run address target; run_delta as in struct xe_buf. */
void xe_patch_rel32(uint8_t *field, intptr_t run_delta, const void *target);
/* call fn: call rel32 when fn is within ±2 GiB of the call, else via rax (clobbered). */
void xe_call(struct xe_buf *b, const void *fn);
void xe_jmp_r(struct xe_buf *b, enum xe_reg r);
void xe_call_r(struct xe_buf *b, enum xe_reg r);
void xe_push(struct xe_buf *b, enum xe_reg r);
void xe_pop(struct xe_buf *b, enum xe_reg r);
void xe_ret(struct xe_buf *b);
/* One-byte nops up to n bytes (alignment). */
void xe_nops(struct xe_buf *b, unsigned n);
void xe_int3(struct xe_buf *b);
/* A full memory barrier: orders earlier stores before later loads. */
void xe_mfence(struct xe_buf *b);

#endif
