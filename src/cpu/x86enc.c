/*
 * x86enc.c - the translator's x86-64 encoder (contract in x86enc.h).
 *
 * Each instruction the translator emits is one row of forms[]: legacy prefix,
 * opcode bytes, what the ModRM reg field holds, how the other operand is
 * encoded, whether REX.W applies and the immediate size.  encode() is the only
 * code that knows x86's encoding rules (REX, ModRM, SIB, displacement size and
 * their special cases); the public functions just pick a row and place the
 * operands.  tests/unit/test_x86enc.c checks every form against GNU objdump.
 *
 * Bad operands (a memory operand with index rsp or no base, a scale other than
 * 1/2/4/8, a register out of range, a branch target out of rel32 reach) are
 * translator bugs, not guest behaviour.  They are reported the one way an
 * emit can report anything: the buffer is marked overflowed and nothing is
 * written.  That keeps every emit a no-op on failure and lets the unit test
 * check them in every build type.
 */
#include <string.h>

#include "cpu/x86enc.h"
#include "lib/build.h"

/* The architectural limit; an emit proceeds only when this much room is left,
 * so no encoder path has to count bytes before writing them. */
#define MAX_INSN 15

/* Does REX.W apply: never (operand size fixed or 64-bit by default), as the
 * caller's w64 says, or always (a 64-bit-only form such as lea or movsxd). */
enum w_rule { W_NEVER, W_ARG, W_ALWAYS };

/* How the operand other than the ModRM reg field is encoded. */
enum rm_kind {
	K_NONE,    /* no register operand (ret, cqo, jcc rel) */
	K_OPREG,   /* register in the low 3 bits of the last opcode byte (push, mov r,imm) */
	K_MODRM,   /* ModRM r/m: a register or a struct xe_mem */
};

/* Operands that name a byte register: 4..7 mean spl..dil only with a REX
 * prefix (without one they are ah..bh). */
enum { BYTE_RM = 1, BYTE_REG = 2 };

#define ARG_REG (-1) /* ModRM reg field: the caller's register or group /digit */

struct form {
	uint8_t prefix;  /* 0, or the 0x66 operand-size prefix */
	uint8_t oplen;   /* 1 or 2 opcode bytes */
	uint8_t op[2];
	int8_t digit;    /* fixed ModRM /digit, or ARG_REG */
	uint8_t kind;    /* enum rm_kind */
	uint8_t w;       /* enum w_rule */
	uint8_t imm;     /* immediate (or rel) bytes: 0, 1, 4 or 8 */
	uint8_t byte;    /* BYTE_RM, BYTE_REG */
};

enum form_id {
	F_ALU_MR, F_ALU_RM, F_ALU_I8, F_ALU_I32, F_TEST,
	F_MOV_MR, F_MOV_RM, F_MOV8_MR, F_MOV16_MR, F_MOV_MI, F_MOV_RI32, F_MOV_RI64,
	F_MOVZX8, F_MOVSX8, F_MOVZX16, F_MOVSX16, F_MOVSXD, F_LEA,
	F_SHIFT_I, F_SHIFT_CL, F_IMUL, F_UNARY, F_CQO, F_SETCC, F_CMOV,
	F_JCC8, F_JCC32, F_JMP8, F_JMP32, F_CALL32, F_JMP_R, F_CALL_R,
	F_PUSH, F_POP, F_RET, F_NOP, F_INT3, F_MFENCE,
};

#define OP1(a) .oplen = 1, .op = { (a) }
#define OP2(a, c) .oplen = 2, .op = { (a), (c) }

/* Opcodes that vary by operation (ALU op * 8, condition code) have the
 * variable part added to the last opcode byte by the caller. */
static const struct form forms[] = {
	[F_ALU_MR]   = { OP1(0x01), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG },
	[F_ALU_RM]   = { OP1(0x03), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG },
	[F_ALU_I8]   = { OP1(0x83), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG, .imm = 1 },
	[F_ALU_I32]  = { OP1(0x81), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG, .imm = 4 },
	[F_TEST]     = { OP1(0x85), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG },
	[F_MOV_MR]   = { OP1(0x89), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG },
	[F_MOV_RM]   = { OP1(0x8b), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG },
	[F_MOV8_MR]  = { OP1(0x88), .digit = ARG_REG, .kind = K_MODRM, .w = W_NEVER, .byte = BYTE_REG },
	[F_MOV16_MR] = { .prefix = 0x66, OP1(0x89), .digit = ARG_REG, .kind = K_MODRM, .w = W_NEVER },
	[F_MOV_MI]   = { OP1(0xc7), .digit = 0, .kind = K_MODRM, .w = W_ARG, .imm = 4 },
	[F_MOV_RI32] = { OP1(0xb8), .kind = K_OPREG, .w = W_NEVER, .imm = 4 },
	[F_MOV_RI64] = { OP1(0xb8), .kind = K_OPREG, .w = W_ALWAYS, .imm = 8 },
	[F_MOVZX8]   = { OP2(0x0f, 0xb6), .digit = ARG_REG, .kind = K_MODRM, .w = W_NEVER, .byte = BYTE_RM },
	[F_MOVSX8]   = { OP2(0x0f, 0xbe), .digit = ARG_REG, .kind = K_MODRM, .w = W_ALWAYS, .byte = BYTE_RM },
	[F_MOVZX16]  = { OP2(0x0f, 0xb7), .digit = ARG_REG, .kind = K_MODRM, .w = W_NEVER },
	[F_MOVSX16]  = { OP2(0x0f, 0xbf), .digit = ARG_REG, .kind = K_MODRM, .w = W_ALWAYS },
	[F_MOVSXD]   = { OP1(0x63), .digit = ARG_REG, .kind = K_MODRM, .w = W_ALWAYS },
	[F_LEA]      = { OP1(0x8d), .digit = ARG_REG, .kind = K_MODRM, .w = W_ALWAYS },
	[F_SHIFT_I]  = { OP1(0xc1), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG, .imm = 1 },
	[F_SHIFT_CL] = { OP1(0xd3), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG },
	[F_IMUL]     = { OP2(0x0f, 0xaf), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG },
	[F_UNARY]    = { OP1(0xf7), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG },
	[F_CQO]      = { OP1(0x99), .kind = K_NONE, .w = W_ARG },
	[F_SETCC]    = { OP2(0x0f, 0x90), .digit = 0, .kind = K_MODRM, .w = W_NEVER, .byte = BYTE_RM },
	[F_CMOV]     = { OP2(0x0f, 0x40), .digit = ARG_REG, .kind = K_MODRM, .w = W_ARG },
	[F_JCC8]     = { OP1(0x70), .kind = K_NONE, .imm = 1 },
	[F_JCC32]    = { OP2(0x0f, 0x80), .kind = K_NONE, .imm = 4 },
	[F_JMP8]     = { OP1(0xeb), .kind = K_NONE, .imm = 1 },
	[F_JMP32]    = { OP1(0xe9), .kind = K_NONE, .imm = 4 },
	[F_CALL32]   = { OP1(0xe8), .kind = K_NONE, .imm = 4 },
	/* Near indirect jmp/call and push/pop are 64-bit without REX.W. */
	[F_JMP_R]    = { OP1(0xff), .digit = 4, .kind = K_MODRM, .w = W_NEVER },
	[F_CALL_R]   = { OP1(0xff), .digit = 2, .kind = K_MODRM, .w = W_NEVER },
	[F_PUSH]     = { OP1(0x50), .kind = K_OPREG, .w = W_NEVER },
	[F_POP]      = { OP1(0x58), .kind = K_OPREG, .w = W_NEVER },
	[F_RET]      = { OP1(0xc3), .kind = K_NONE },
	[F_NOP]      = { OP1(0x90), .kind = K_NONE },
	[F_INT3]     = { OP1(0xcc), .kind = K_NONE },
	/* 0f ae /6 with a register operand (rax: ModRM f0) is mfence */
	[F_MFENCE]   = { OP2(0x0f, 0xae), .digit = 6, .kind = K_MODRM, .w = W_NEVER },
};

/* The ModRM r/m operand: a register or a memory operand. */
struct opnd {
	bool mem;
	enum xe_reg r;
	struct xe_mem m;
};

static struct opnd R(enum xe_reg r) { return (struct opnd){ .mem = false, .r = r }; }
static struct opnd M(struct xe_mem m) { return (struct opnd){ .mem = true, .m = m }; }
static const struct opnd NONE = { .mem = false, .r = XE_NOREG };

static bool is_reg(int r) { return r >= 0 && r < 16; }
static bool fits8(int64_t v) { return v >= INT8_MIN && v <= INT8_MAX; }
static bool fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

/* Operands encode() cannot express; see the file comment. */
static bool opnd_ok(const struct form *f, int reg, struct opnd rm)
{
	if (f->kind == K_OPREG)
		return is_reg(reg);
	if (f->kind == K_NONE)
		return true;
	if (f->digit == ARG_REG && !is_reg(reg))
		return false;
	if (!rm.mem)
		return is_reg(rm.r);
	/* SIB index 100 means "no index", so rsp can never be one; r12 can (REX.X). */
	if (!is_reg(rm.m.base) || rm.m.index == XE_RSP)
		return false;
	if (rm.m.index != XE_NOREG && !is_reg(rm.m.index))
		return false;
	return rm.m.scale == 1 || rm.m.scale == 2 || rm.m.scale == 4 || rm.m.scale == 8;
}

/* ModRM, SIB and displacement for reg field `reg` (3 bits) and operand rm. */
static uint8_t *put_modrm(uint8_t *q, unsigned reg, struct opnd rm)
{
	if (!rm.mem) {
		*q++ = (uint8_t)(0xc0 | reg << 3 | (rm.r & 7));
		return q;
	}
	const struct xe_mem *m = &rm.m;
	unsigned base = (unsigned)m->base & 7;
	/* mod 00 with base 101 means rip-relative (or disp32 with a SIB), so
	 * rbp and r13 need an explicit disp8 of 0. */
	unsigned mod = (m->disp == 0 && base != 5) ? 0 : fits8(m->disp) ? 1 : 2;
	/* r/m 100 means "SIB follows", so rsp and r12 as base need a SIB. */
	bool sib = m->index != XE_NOREG || base == 4;

	*q++ = (uint8_t)(mod << 6 | reg << 3 | (sib ? 4 : base));
	if (sib) {
		unsigned ss = m->scale == 8 ? 3 : m->scale == 4 ? 2 : m->scale == 2 ? 1 : 0;
		unsigned index = m->index == XE_NOREG ? 4 : ((unsigned)m->index & 7);
		*q++ = (uint8_t)(ss << 6 | index << 3 | base);
	}
	uint32_t d = (uint32_t)m->disp;
	for (unsigned i = 0; i < (mod == 1 ? 1u : mod == 2 ? 4u : 0u); i++)
		*q++ = (uint8_t)(d >> (8 * i));
	return q;
}

/*
 * Emits form id.  add is added to the last opcode byte (ALU op * 8, condition
 * code); reg is the ModRM reg field register or group /digit (or the opcode
 * register of a K_OPREG form); rm the r/m operand.  Returns the write address
 * of the immediate field, or NULL when nothing was written.
 */
static uint8_t *encode(struct xe_buf *b, enum form_id id, bool w64, unsigned add, int reg,
		       struct opnd rm, uint64_t imm)
{
	const struct form *f = &forms[id];

	if (b->overflow || b->end - b->p < MAX_INSN || !opnd_ok(f, reg, rm)) {
		b->overflow = true;
		return NULL;
	}

	unsigned field = f->digit == ARG_REG ? (unsigned)reg : (unsigned)f->digit;
	unsigned rex = 0;
	bool rex_anyway = false; /* a byte register spl..dil needs an empty REX */

	if (f->w == W_ALWAYS || (f->w == W_ARG && w64))
		rex |= 8;
	if (f->kind == K_OPREG) {
		rex |= (unsigned)reg >> 3;
		add = (unsigned)reg & 7;
	} else if (f->kind == K_MODRM) {
		rex |= (field >> 3) << 2;
		if ((f->byte & BYTE_REG) && field >= 4 && field < 8)
			rex_anyway = true;
		if (rm.mem) {
			if (rm.m.index != XE_NOREG)
				rex |= ((unsigned)rm.m.index >> 3) << 1;
			rex |= (unsigned)rm.m.base >> 3;
		} else {
			rex |= (unsigned)rm.r >> 3;
			if ((f->byte & BYTE_RM) && rm.r >= 4 && rm.r < 8)
				rex_anyway = true;
		}
	}

	uint8_t *q = b->p;
	if (f->prefix)
		*q++ = f->prefix;
	if (rex || rex_anyway)
		*q++ = (uint8_t)(0x40 | rex);
	memcpy(q, f->op, f->oplen);
	q[f->oplen - 1] = (uint8_t)(q[f->oplen - 1] + add);
	q += f->oplen;
	if (f->kind == K_MODRM)
		q = put_modrm(q, field & 7, rm);
	uint8_t *immp = q;
	for (unsigned i = 0; i < f->imm; i++)
		*q++ = (uint8_t)(imm >> (8 * i));
	b->p = q;
	return immp;
}

/* Length of a form without ModRM or REX (the branches). */
static unsigned plain_len(enum form_id id)
{
	return (forms[id].prefix ? 1u : 0u) + forms[id].oplen + forms[id].imm;
}

/* Displacement from the end of an instruction of len bytes starting at the
 * next run address to target.  Unsigned arithmetic: addresses may be anywhere. */
static int64_t rel_from(const struct xe_buf *b, unsigned len, const void *target)
{
	return (int64_t)((uint64_t)(uintptr_t)target - ((uint64_t)(uintptr_t)xe_here(b) + len));
}

void xe_alu_rr(struct xe_buf *b, enum xe_alu op, bool w64, enum xe_reg dst, enum xe_reg src)
{
	encode(b, F_ALU_MR, w64, (unsigned)op << 3, src, R(dst), 0);
}

void xe_alu_rm(struct xe_buf *b, enum xe_alu op, bool w64, enum xe_reg dst, struct xe_mem m)
{
	encode(b, F_ALU_RM, w64, (unsigned)op << 3, dst, M(m), 0);
}

void xe_alu_mr(struct xe_buf *b, enum xe_alu op, bool w64, struct xe_mem m, enum xe_reg src)
{
	encode(b, F_ALU_MR, w64, (unsigned)op << 3, src, M(m), 0);
}

void xe_alu_ri(struct xe_buf *b, enum xe_alu op, bool w64, enum xe_reg dst, int32_t imm)
{
	encode(b, fits8(imm) ? F_ALU_I8 : F_ALU_I32, w64, 0, (int)op, R(dst), (uint64_t)(int64_t)imm);
}

void xe_alu_mi(struct xe_buf *b, enum xe_alu op, bool w64, struct xe_mem m, int32_t imm)
{
	encode(b, fits8(imm) ? F_ALU_I8 : F_ALU_I32, w64, 0, (int)op, M(m), (uint64_t)(int64_t)imm);
}

void xe_test_rr(struct xe_buf *b, bool w64, enum xe_reg a, enum xe_reg c)
{
	encode(b, F_TEST, w64, 0, c, R(a), 0);
}

void xe_mov_rr(struct xe_buf *b, bool w64, enum xe_reg dst, enum xe_reg src)
{
	encode(b, F_MOV_MR, w64, 0, src, R(dst), 0);
}

void xe_mov_ri(struct xe_buf *b, enum xe_reg dst, uint64_t imm)
{
	if (imm <= UINT32_MAX)          /* 5-6 bytes; writing r32 zero-extends */
		encode(b, F_MOV_RI32, false, 0, dst, NONE, imm);
	else if (fits32((int64_t)imm))  /* 7 bytes, sign-extended */
		encode(b, F_MOV_MI, true, 0, 0, R(dst), imm);
	else                            /* movabs, 10 bytes */
		encode(b, F_MOV_RI64, true, 0, dst, NONE, imm);
}

void xe_mov_mi(struct xe_buf *b, bool w64, struct xe_mem m, int32_t imm)
{
	encode(b, F_MOV_MI, w64, 0, 0, M(m), (uint64_t)(int64_t)imm);
}

void xe_load(struct xe_buf *b, enum xe_ld kind, enum xe_reg dst, struct xe_mem m)
{
	/* Zero-extending loads write the 32-bit register, which clears bits 63:32. */
	static const struct { uint8_t form; bool w64; } ld[] = {
		[XE_LD8S] = { F_MOVSX8, true },   [XE_LD8Z] = { F_MOVZX8, false },
		[XE_LD16S] = { F_MOVSX16, true }, [XE_LD16Z] = { F_MOVZX16, false },
		[XE_LD32S] = { F_MOVSXD, true },  [XE_LD32Z] = { F_MOV_RM, false },
		[XE_LD64] = { F_MOV_RM, true },
	};
	if ((unsigned)kind >= sizeof ld / sizeof ld[0]) {
		b->overflow = true;
		return;
	}
	encode(b, (enum form_id)ld[kind].form, ld[kind].w64, 0, dst, M(m), 0);
}

void xe_store(struct xe_buf *b, unsigned size, struct xe_mem m, enum xe_reg src)
{
	switch (size) {
	case 1: encode(b, F_MOV8_MR, false, 0, src, M(m), 0); break;
	case 2: encode(b, F_MOV16_MR, false, 0, src, M(m), 0); break;
	case 4: encode(b, F_MOV_MR, false, 0, src, M(m), 0); break;
	case 8: encode(b, F_MOV_MR, true, 0, src, M(m), 0); break;
	default: b->overflow = true; break;
	}
}

void xe_lea(struct xe_buf *b, enum xe_reg dst, struct xe_mem m)
{
	encode(b, F_LEA, true, 0, dst, M(m), 0);
}

void xe_movsxd(struct xe_buf *b, enum xe_reg dst, enum xe_reg src)
{
	encode(b, F_MOVSXD, true, 0, dst, R(src), 0);
}

void xe_shift_ri(struct xe_buf *b, enum xe_shift op, bool w64, enum xe_reg dst, uint8_t imm)
{
	/* Always C1 ib, also for 1: one form, and the same flags as D1. */
	encode(b, F_SHIFT_I, w64, 0, (int)op, R(dst), imm);
}

void xe_shift_rcl(struct xe_buf *b, enum xe_shift op, bool w64, enum xe_reg dst)
{
	encode(b, F_SHIFT_CL, w64, 0, (int)op, R(dst), 0);
}

void xe_imul_rr(struct xe_buf *b, bool w64, enum xe_reg dst, enum xe_reg src)
{
	encode(b, F_IMUL, w64, 0, dst, R(src), 0);
}

void xe_unary(struct xe_buf *b, enum xe_unary op, bool w64, enum xe_reg r)
{
	encode(b, F_UNARY, w64, 0, (int)op, R(r), 0);
}

void xe_cqo(struct xe_buf *b, bool w64)
{
	encode(b, F_CQO, w64, 0, 0, NONE, 0);
}

void xe_setcc(struct xe_buf *b, enum xe_cc cc, enum xe_reg r)
{
	encode(b, F_SETCC, false, (unsigned)cc & 15, 0, R(r), 0);
}

void xe_movzx8(struct xe_buf *b, enum xe_reg dst, enum xe_reg src)
{
	encode(b, F_MOVZX8, false, 0, dst, R(src), 0);
}

void xe_cmov(struct xe_buf *b, enum xe_cc cc, bool w64, enum xe_reg dst, enum xe_reg src)
{
	encode(b, F_CMOV, w64, (unsigned)cc & 15, dst, R(src), 0);
}

/* The rel32 field starts at 0 (a branch to the next instruction) until patched. */
uint8_t *xe_jcc(struct xe_buf *b, enum xe_cc cc)
{
	return encode(b, F_JCC32, false, (unsigned)cc & 15, 0, NONE, 0);
}

uint8_t *xe_jmp(struct xe_buf *b)
{
	return encode(b, F_JMP32, false, 0, 0, NONE, 0);
}

/* A branch to a known target: rel8 when it reaches, else rel32. */
static void branch_to(struct xe_buf *b, enum form_id f8, enum form_id f32, unsigned add,
		      const void *target)
{
	int64_t d = rel_from(b, plain_len(f8), target);
	if (fits8(d)) {
		encode(b, f8, false, add, 0, NONE, (uint64_t)d);
		return;
	}
	d = rel_from(b, plain_len(f32), target);
	if (!fits32(d)) {       /* out of reach: a translator bug (file comment) */
		b->overflow = true;
		return;
	}
	encode(b, f32, false, add, 0, NONE, (uint64_t)d);
}

void xe_jcc_to(struct xe_buf *b, enum xe_cc cc, const void *target)
{
	branch_to(b, F_JCC8, F_JCC32, (unsigned)cc & 15, target);
}

void xe_jmp_to(struct xe_buf *b, const void *target)
{
	branch_to(b, F_JMP8, F_JMP32, 0, target);
}

void xe_patch_rel32(uint8_t *field, intptr_t run_delta, const void *target)
{
	uint64_t end = (uint64_t)(uintptr_t)field + (uint64_t)run_delta + 4;
	int64_t d = (int64_t)((uint64_t)(uintptr_t)target - end);
	/* No buffer to mark here, and a wrong branch must not run. */
	VMX_VERIFY(fits32(d));
	uint8_t le[4];
	for (unsigned i = 0; i < 4; i++)
		le[i] = (uint8_t)((uint64_t)d >> (8 * i));
	memcpy(field, le, sizeof le);
}

void xe_call(struct xe_buf *b, const void *fn)
{
	int64_t d = rel_from(b, plain_len(F_CALL32), fn);
	if (fits32(d)) {
		encode(b, F_CALL32, false, 0, 0, NONE, (uint64_t)d);
		return;
	}
	xe_mov_ri(b, XE_RAX, (uint64_t)(uintptr_t)fn);
	xe_call_r(b, XE_RAX);
}

void xe_jmp_r(struct xe_buf *b, enum xe_reg r)
{
	encode(b, F_JMP_R, false, 0, 0, R(r), 0);
}

void xe_call_r(struct xe_buf *b, enum xe_reg r)
{
	encode(b, F_CALL_R, false, 0, 0, R(r), 0);
}

void xe_push(struct xe_buf *b, enum xe_reg r)
{
	encode(b, F_PUSH, false, 0, r, NONE, 0);
}

void xe_pop(struct xe_buf *b, enum xe_reg r)
{
	encode(b, F_POP, false, 0, r, NONE, 0);
}

void xe_ret(struct xe_buf *b)
{
	encode(b, F_RET, false, 0, 0, NONE, 0);
}

void xe_nops(struct xe_buf *b, unsigned n)
{
	while (n-- > 0 && !b->overflow)
		encode(b, F_NOP, false, 0, 0, NONE, 0);
}

void xe_int3(struct xe_buf *b)
{
	encode(b, F_INT3, false, 0, 0, NONE, 0);
}

void xe_mfence(struct xe_buf *b)
{
	encode(b, F_MFENCE, false, 0, 0, R(XE_RAX), 0);
}
