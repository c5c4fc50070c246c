/*
 * disasm.c - text form of RV64GC instructions for the callstack viewer.
 *
 * The text is made from what the execution engine's decoder (decode.c)
 * produces, so what the viewer shows is what the hart executes: an encoding
 * the hart treats as illegal prints as `.insn`, and a compressed instruction
 * prints as the 32-bit instruction it executes as.  Only a few fields the
 * decoded form does not keep (fence sets, AMO ordering bits) are read from
 * the raw bits.  Every table is indexed by the decoder's op, which is always
 * below OP_COUNT, so no input can read outside them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include "disasm.h"
#include "hart_int.h"

static const char *const xnames[32] = {
	"zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3",
	"a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11",
	"t3", "t4", "t5", "t6",
};

static const char *const fnames[32] = {
	"ft0", "ft1", "ft2", "ft3", "ft4", "ft5", "ft6", "ft7", "fs0", "fs1", "fa0", "fa1",
	"fa2", "fa3", "fa4", "fa5", "fa6", "fa7", "fs2", "fs3", "fs4", "fs5", "fs6", "fs7",
	"fs8", "fs9", "fs10", "fs11", "ft8", "ft9", "ft10", "ft11",
};

/* The decoder sends writes to x0 to the sink register 32: print it as zero. */
const char *disasm_xreg(unsigned r) { return xnames[r & 31]; }
const char *disasm_freg(unsigned r) { return fnames[r & 31]; }

static const struct { uint16_t num; const char *name; } csr_names[] = {
	{ 0x001, "fflags" }, { 0x002, "frm" }, { 0x003, "fcsr" },
	/* Vector CSRs: the hart has no V, but glibc probes vlenb. */
	{ 0x008, "vstart" }, { 0x009, "vxsat" }, { 0x00a, "vxrm" }, { 0x00f, "vcsr" },
	{ 0xc20, "vl" }, { 0xc21, "vtype" }, { 0xc22, "vlenb" },
	{ 0x100, "sstatus" }, { 0x104, "sie" }, { 0x105, "stvec" }, { 0x106, "scounteren" },
	{ 0x10a, "senvcfg" }, { 0x140, "sscratch" }, { 0x141, "sepc" }, { 0x142, "scause" },
	{ 0x143, "stval" }, { 0x144, "sip" }, { 0x14d, "stimecmp" }, { 0x180, "satp" },
	{ 0x300, "mstatus" }, { 0x301, "misa" }, { 0x302, "medeleg" }, { 0x303, "mideleg" },
	{ 0x304, "mie" }, { 0x305, "mtvec" }, { 0x306, "mcounteren" }, { 0x30a, "menvcfg" },
	{ 0x320, "mcountinhibit" }, { 0x340, "mscratch" }, { 0x341, "mepc" },
	{ 0x342, "mcause" }, { 0x343, "mtval" }, { 0x344, "mip" }, { 0x34a, "mtinst" },
	{ 0x34b, "mtval2" }, { 0x747, "mseccfg" },
	{ 0x7a0, "tselect" }, { 0x7a1, "tdata1" }, { 0x7a2, "tdata2" }, { 0x7a3, "tdata3" },
	{ 0x7b0, "dcsr" }, { 0x7b1, "dpc" }, { 0x7b2, "dscratch0" }, { 0x7b3, "dscratch1" },
	{ 0xb00, "mcycle" }, { 0xb02, "minstret" }, { 0xc00, "cycle" }, { 0xc01, "time" },
	{ 0xc02, "instret" }, { 0xf11, "mvendorid" }, { 0xf12, "marchid" }, { 0xf13, "mimpid" },
	{ 0xf14, "mhartid" }, { 0xf15, "mconfigptr" },
};

const char *disasm_csr_name(unsigned csr)
{
	for (size_t i = 0; i < VMX_ARRAY_SIZE(csr_names); i++)
		if (csr_names[i].num == csr)
			return csr_names[i].name;
	return NULL;
}

/* Numbered families (pmpaddrN, hpmcounterN, ...) and the plain number otherwise. */
static void csr_text(unsigned csr, char *b, size_t n)
{
	const char *name = disasm_csr_name(csr);
	if (name)
		snprintf(b, n, "%s", name);
	else if (csr >= 0x3a0 && csr <= 0x3af)
		snprintf(b, n, "pmpcfg%u", csr - 0x3a0);
	else if (csr >= 0x3b0 && csr <= 0x3ef)
		snprintf(b, n, "pmpaddr%u", csr - 0x3b0);
	else if (csr >= 0xb03 && csr <= 0xb1f)
		snprintf(b, n, "mhpmcounter%u", csr - 0xb00);
	else if (csr >= 0xc03 && csr <= 0xc1f)
		snprintf(b, n, "hpmcounter%u", csr - 0xc00);
	else if (csr >= 0x323 && csr <= 0x33f)
		snprintf(b, n, "mhpmevent%u", csr - 0x320);
	else
		snprintf(b, n, "0x%x", csr);
}

/* How an op's operands are printed. */
enum fmt {
	F_NONE = 0,   /* mnemonic only */
	F_U,          /* rd,0xIMM20 */
	F_JAL,        /* rd,target */
	F_JALR,       /* rd,imm(rs1) */
	F_BR,         /* rs1,rs2,target */
	F_LOAD,       /* rd,imm(rs1) */
	F_STORE,      /* rs2,imm(rs1) */
	F_FLOAD,      /* frd,imm(rs1) */
	F_FSTORE,     /* frs2,imm(rs1) */
	F_I,          /* rd,rs1,imm */
	F_SH,         /* rd,rs1,0xSHAMT */
	F_R,          /* rd,rs1,rs2 */
	F_LR,         /* rd,(rs1) */
	F_SC,         /* rd,rs2,(rs1) (also AMOs) */
	F_FENCE,      /* pred,succ */
	F_SFENCE,     /* rs1,rs2 */
	F_CSR,        /* rd,csr,rs1 */
	F_CSRI,       /* rd,csr,uimm */
	F_FFF_RM,     /* fd,fs1,fs2[,rm] */
	F_FFF,        /* fd,fs1,fs2 */
	F_FF_RM,      /* fd,fs1[,rm] */
	F_FF_EXACT,   /* fd,fs1[,rm unless rne]: widening, never rounds */
	F_FMA,        /* fd,fs1,fs2,fs3[,rm] */
	F_XF_RM,      /* rd,fs1[,rm] */
	F_XF,         /* rd,fs1 */
	F_XFF,        /* rd,fs1,fs2 */
	F_FX_RM,      /* fd,rs1[,rm] */
	F_FX_EXACT,   /* fd,rs1[,rm unless rne]: int32 to double never rounds */
	F_FX,         /* fd,rs1 */
};

struct opinfo {
	const char *name;
	uint8_t fmt;
};

#define OPI(op, n, f) [OP_##op] = { n, f }
static const struct opinfo ops[OP_COUNT] = {
	OPI(LUI, "lui", F_U), OPI(AUIPC, "auipc", F_U), OPI(JAL, "jal", F_JAL),
	OPI(JALR, "jalr", F_JALR),
	OPI(BEQ, "beq", F_BR), OPI(BNE, "bne", F_BR), OPI(BLT, "blt", F_BR),
	OPI(BGE, "bge", F_BR), OPI(BLTU, "bltu", F_BR), OPI(BGEU, "bgeu", F_BR),
	OPI(LB, "lb", F_LOAD), OPI(LH, "lh", F_LOAD), OPI(LW, "lw", F_LOAD),
	OPI(LD, "ld", F_LOAD), OPI(LBU, "lbu", F_LOAD), OPI(LHU, "lhu", F_LOAD),
	OPI(LWU, "lwu", F_LOAD), OPI(SB, "sb", F_STORE), OPI(SH, "sh", F_STORE),
	OPI(SW, "sw", F_STORE), OPI(SD, "sd", F_STORE),
	OPI(ADDI, "addi", F_I), OPI(SLTI, "slti", F_I), OPI(SLTIU, "sltiu", F_I),
	OPI(XORI, "xori", F_I), OPI(ORI, "ori", F_I), OPI(ANDI, "andi", F_I),
	OPI(SLLI, "slli", F_SH), OPI(SRLI, "srli", F_SH), OPI(SRAI, "srai", F_SH),
	OPI(ADD, "add", F_R), OPI(SUB, "sub", F_R), OPI(SLL, "sll", F_R), OPI(SLT, "slt", F_R),
	OPI(SLTU, "sltu", F_R), OPI(XOR, "xor", F_R), OPI(SRL, "srl", F_R),
	OPI(SRA, "sra", F_R), OPI(OR, "or", F_R), OPI(AND, "and", F_R),
	OPI(ADDIW, "addiw", F_I), OPI(SLLIW, "slliw", F_SH), OPI(SRLIW, "srliw", F_SH),
	OPI(SRAIW, "sraiw", F_SH), OPI(ADDW, "addw", F_R), OPI(SUBW, "subw", F_R),
	OPI(SLLW, "sllw", F_R), OPI(SRLW, "srlw", F_R), OPI(SRAW, "sraw", F_R),
	OPI(MUL, "mul", F_R), OPI(MULH, "mulh", F_R), OPI(MULHSU, "mulhsu", F_R),
	OPI(MULHU, "mulhu", F_R), OPI(DIV, "div", F_R), OPI(DIVU, "divu", F_R),
	OPI(REM, "rem", F_R), OPI(REMU, "remu", F_R),
	OPI(MULW, "mulw", F_R), OPI(DIVW, "divw", F_R), OPI(DIVUW, "divuw", F_R),
	OPI(REMW, "remw", F_R), OPI(REMUW, "remuw", F_R),
	OPI(LR_W, "lr.w", F_LR), OPI(SC_W, "sc.w", F_SC), OPI(LR_D, "lr.d", F_LR),
	OPI(SC_D, "sc.d", F_SC), OPI(AMO_W, NULL, F_SC), OPI(AMO_D, NULL, F_SC),
	OPI(FENCE, "fence", F_FENCE), OPI(FENCE_I, "fence.i", F_NONE),
	OPI(ECALL, "ecall", F_NONE), OPI(EBREAK, "ebreak", F_NONE), OPI(MRET, "mret", F_NONE),
	OPI(SRET, "sret", F_NONE), OPI(WFI, "wfi", F_NONE),
	OPI(SFENCE_VMA, "sfence.vma", F_SFENCE),
	OPI(CSRRW, "csrrw", F_CSR), OPI(CSRRS, "csrrs", F_CSR), OPI(CSRRC, "csrrc", F_CSR),
	OPI(CSRRWI, "csrrwi", F_CSRI), OPI(CSRRSI, "csrrsi", F_CSRI),
	OPI(CSRRCI, "csrrci", F_CSRI),
	OPI(FLW, "flw", F_FLOAD), OPI(FSW, "fsw", F_FSTORE), OPI(FLD, "fld", F_FLOAD),
	OPI(FSD, "fsd", F_FSTORE), OPI(FMA_S, NULL, F_FMA), OPI(FMA_D, NULL, F_FMA),
	OPI(FADD_S, "fadd.s", F_FFF_RM), OPI(FSUB_S, "fsub.s", F_FFF_RM),
	OPI(FMUL_S, "fmul.s", F_FFF_RM), OPI(FDIV_S, "fdiv.s", F_FFF_RM),
	OPI(FSQRT_S, "fsqrt.s", F_FF_RM), OPI(FSGNJ_S, "fsgnj.s", F_FFF),
	OPI(FSGNJN_S, "fsgnjn.s", F_FFF), OPI(FSGNJX_S, "fsgnjx.s", F_FFF),
	OPI(FMIN_S, "fmin.s", F_FFF), OPI(FMAX_S, "fmax.s", F_FFF),
	OPI(FCVT_W_S, "fcvt.w.s", F_XF_RM), OPI(FCVT_WU_S, "fcvt.wu.s", F_XF_RM),
	OPI(FCVT_L_S, "fcvt.l.s", F_XF_RM), OPI(FCVT_LU_S, "fcvt.lu.s", F_XF_RM),
	OPI(FMV_X_W, "fmv.x.w", F_XF), OPI(FEQ_S, "feq.s", F_XFF), OPI(FLT_S, "flt.s", F_XFF),
	OPI(FLE_S, "fle.s", F_XFF), OPI(FCLASS_S, "fclass.s", F_XF),
	OPI(FCVT_S_W, "fcvt.s.w", F_FX_RM), OPI(FCVT_S_WU, "fcvt.s.wu", F_FX_RM),
	OPI(FCVT_S_L, "fcvt.s.l", F_FX_RM), OPI(FCVT_S_LU, "fcvt.s.lu", F_FX_RM),
	OPI(FMV_W_X, "fmv.w.x", F_FX),
	OPI(FADD_D, "fadd.d", F_FFF_RM), OPI(FSUB_D, "fsub.d", F_FFF_RM),
	OPI(FMUL_D, "fmul.d", F_FFF_RM), OPI(FDIV_D, "fdiv.d", F_FFF_RM),
	OPI(FSQRT_D, "fsqrt.d", F_FF_RM), OPI(FSGNJ_D, "fsgnj.d", F_FFF),
	OPI(FSGNJN_D, "fsgnjn.d", F_FFF), OPI(FSGNJX_D, "fsgnjx.d", F_FFF),
	OPI(FMIN_D, "fmin.d", F_FFF), OPI(FMAX_D, "fmax.d", F_FFF),
	OPI(FCVT_W_D, "fcvt.w.d", F_XF_RM), OPI(FCVT_WU_D, "fcvt.wu.d", F_XF_RM),
	OPI(FCVT_L_D, "fcvt.l.d", F_XF_RM), OPI(FCVT_LU_D, "fcvt.lu.d", F_XF_RM),
	OPI(FMV_X_D, "fmv.x.d", F_XF), OPI(FEQ_D, "feq.d", F_XFF), OPI(FLT_D, "flt.d", F_XFF),
	OPI(FLE_D, "fle.d", F_XFF), OPI(FCLASS_D, "fclass.d", F_XF),
	OPI(FCVT_D_W, "fcvt.d.w", F_FX_EXACT), OPI(FCVT_D_WU, "fcvt.d.wu", F_FX_EXACT),
	OPI(FCVT_D_L, "fcvt.d.l", F_FX_RM), OPI(FCVT_D_LU, "fcvt.d.lu", F_FX_RM),
	OPI(FMV_D_X, "fmv.d.x", F_FX), OPI(FCVT_S_D, "fcvt.s.d", F_FF_RM),
	OPI(FCVT_D_S, "fcvt.d.s", F_FF_EXACT),
};
#undef OPI

static const char *amo_name(unsigned f5)
{
	switch (f5) {
	case AMO_ADD: return "amoadd";
	case AMO_SWAP: return "amoswap";
	case AMO_XOR: return "amoxor";
	case AMO_OR: return "amoor";
	case AMO_AND: return "amoand";
	case AMO_MIN: return "amomin";
	case AMO_MAX: return "amomax";
	case AMO_MINU: return "amominu";
	case AMO_MAXU: return "amomaxu";
	default: return "amo?";
	}
}

/* Appends to a fixed buffer, remembering whether anything was cut. */
struct out {
	char *buf;
	size_t len, pos;
	bool cut;
};

VMX_PRINTF(2, 3) static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->pos < o->len ? o->len - o->pos : 0;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + (room ? o->pos : o->len - 1), room ? room : 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= room)
		o->cut = true;
	o->pos += (size_t)n;
}

static void put_rm(struct out *o, unsigned rm)
{
	static const char *const names[8] = { "rne", "rtz", "rdn", "rup", "rmm", "rm5", "rm6",
					      "dyn" };
	put(o, ",%s", names[rm & 7]);
}

/* fence's predecessor/successor sets: i o r w, empty printed as 0. */
static void put_fence_set(struct out *o, unsigned set)
{
	if (!set) {
		put(o, "0");
		return;
	}
	put(o, "%s%s%s%s", set & 8 ? "i" : "", set & 4 ? "o" : "", set & 2 ? "r" : "",
	    set & 1 ? "w" : "");
}

/* Pseudo-instructions; true when one was printed. */
static bool put_alias(struct out *o, const struct dinsn *d, unsigned rd, uint64_t pc)
{
	uint64_t target = pc + (uint64_t)d->imm;
	switch (d->op) {
	case OP_ADDI:
		if (rd == 0 && d->rs1 == 0 && d->imm == 0)
			put(o, "nop");
		else if (d->rs1 == 0)
			put(o, "li %s,%lld", xnames[rd], (long long)d->imm);
		else if (d->imm == 0)
			put(o, "mv %s,%s", xnames[rd], xnames[d->rs1]);
		else
			return false;
		return true;
	case OP_ADDIW:
		if (d->imm != 0)
			return false;
		put(o, "sext.w %s,%s", xnames[rd], xnames[d->rs1]);
		return true;
	case OP_XORI:
		if (d->imm != -1)
			return false;
		put(o, "not %s,%s", xnames[rd], xnames[d->rs1]);
		return true;
	case OP_SUB:
		if (d->rs1 != 0)
			return false;
		put(o, "neg %s,%s", xnames[rd], xnames[d->rs2]);
		return true;
	case OP_ADD:
		/* c.mv executes as add rd,zero,rs2. */
		if (d->rs1 != 0)
			return false;
		put(o, "mv %s,%s", xnames[rd], xnames[d->rs2]);
		return true;
	case OP_JAL:
		if (rd == 0)
			put(o, "j 0x%llx", (unsigned long long)target);
		else if (rd == 1)
			put(o, "jal 0x%llx", (unsigned long long)target);
		else
			return false;
		return true;
	case OP_JALR:
		if (d->imm != 0 || rd > 1)
			return false;
		if (rd == 0 && d->rs1 == 1)
			put(o, "ret");
		else
			put(o, "%s %s", rd ? "jalr" : "jr", xnames[d->rs1]);
		return true;
	case OP_BEQ: case OP_BNE:
		if (d->rs2 != 0)
			return false;
		put(o, "%s %s,0x%llx", d->op == OP_BEQ ? "beqz" : "bnez", xnames[d->rs1],
		    (unsigned long long)target);
		return true;
	case OP_CSRRS: case OP_CSRRW: {
		char csr[24];
		csr_text(d->csr, csr, sizeof(csr));
		if (d->op == OP_CSRRS && d->rs1 == 0)
			put(o, "csrr %s,%s", xnames[rd], csr);
		else if (d->op == OP_CSRRW && rd == 0)
			put(o, "csrw %s,%s", csr, xnames[d->rs1]);
		else
			return false;
		return true;
	}
	default:
		return false;
	}
}

int disasm_insn_flags(uint32_t raw, uint64_t pc, unsigned flags, char *buf, size_t len)
{
	struct dinsn d;
	struct out o = { buf, len, 0, false };

	if (!buf || !len)
		return -EINVAL;
	decode_insn(&d, raw);
	const struct opinfo *oi = d.op < OP_COUNT ? &ops[d.op] : NULL;
	if (!oi || (!oi->name && !oi->fmt)) {
		/* Illegal, or an op only block building makes (END, JAL_IN). */
		if (d.len == 2)
			put(&o, ".insn 0x%04x", d.raw & 0xffff);
		else
			put(&o, ".insn 0x%08x", d.raw);
		return o.cut ? -ENOSPC : d.len;
	}
	unsigned rd = d.rd & 31, rs1 = d.rs1 & 31, rs2 = d.rs2 & 31, rs3 = d.rs3 & 31;
	uint64_t target = pc + (uint64_t)d.imm;
	/* Only 32-bit forms carry ordering bits; compressed ops have none. */
	bool aq = d.len == 4 && (raw >> 26 & 1), rl = d.len == 4 && (raw >> 25 & 1);
	char csr[24];

	if (!(flags & DISASM_NO_ALIASES) && put_alias(&o, &d, rd, pc))
		return o.cut ? -ENOSPC : d.len;

	switch (d.op) {
	case OP_AMO_W: case OP_AMO_D:
		put(&o, "%s.%c", amo_name(d.rm), d.op == OP_AMO_D ? 'd' : 'w');
		break;
	case OP_FMA_S: case OP_FMA_D: {
		/* The decoder keeps the sign variant in imm: bit 0 product, bit 1 addend. */
		static const char *const fma[4] = { "fmadd", "fnmsub", "fmsub", "fnmadd" };
		put(&o, "%s.%c", fma[d.imm & 3], d.op == OP_FMA_D ? 'd' : 's');
		break;
	}
	case OP_FENCE:
		if ((raw >> 28) == 8 && (raw >> 20 & 0xff) == 0x33) {
			put(&o, "fence.tso");
			return o.cut ? -ENOSPC : d.len;
		}
		put(&o, "%s", oi->name);
		break;
	default:
		put(&o, "%s", oi->name);
		break;
	}
	if (oi->fmt == F_LR || oi->fmt == F_SC)
		put(&o, "%s", aq && rl ? ".aqrl" : aq ? ".aq" : rl ? ".rl" : "");
	if (oi->fmt != F_NONE)
		put(&o, " ");

	switch ((enum fmt)oi->fmt) {
	case F_NONE:
		break;
	case F_U:
		put(&o, "%s,0x%llx", xnames[rd], (unsigned long long)((uint64_t)d.imm >> 12 & 0xfffff));
		break;
	case F_JAL:
		put(&o, "%s,0x%llx", xnames[rd], (unsigned long long)target);
		break;
	case F_JALR: case F_LOAD:
		put(&o, "%s,%lld(%s)", xnames[rd], (long long)d.imm, xnames[rs1]);
		break;
	case F_BR:
		put(&o, "%s,%s,0x%llx", xnames[rs1], xnames[rs2], (unsigned long long)target);
		break;
	case F_STORE:
		put(&o, "%s,%lld(%s)", xnames[rs2], (long long)d.imm, xnames[rs1]);
		break;
	case F_FLOAD:
		put(&o, "%s,%lld(%s)", fnames[rd], (long long)d.imm, xnames[rs1]);
		break;
	case F_FSTORE:
		put(&o, "%s,%lld(%s)", fnames[rs2], (long long)d.imm, xnames[rs1]);
		break;
	case F_I:
		put(&o, "%s,%s,%lld", xnames[rd], xnames[rs1], (long long)d.imm);
		break;
	case F_SH:
		put(&o, "%s,%s,0x%llx", xnames[rd], xnames[rs1], (unsigned long long)d.imm);
		break;
	case F_R:
		put(&o, "%s,%s,%s", xnames[rd], xnames[rs1], xnames[rs2]);
		break;
	case F_LR:
		put(&o, "%s,(%s)", xnames[rd], xnames[rs1]);
		break;
	case F_SC:
		put(&o, "%s,%s,(%s)", xnames[rd], xnames[rs2], xnames[rs1]);
		break;
	case F_FENCE:
		put_fence_set(&o, raw >> 24 & 15);
		put(&o, ",");
		put_fence_set(&o, raw >> 20 & 15);
		break;
	case F_SFENCE:
		put(&o, "%s,%s", xnames[rs1], xnames[rs2]);
		break;
	case F_CSR:
		csr_text(d.csr, csr, sizeof(csr));
		put(&o, "%s,%s,%s", xnames[rd], csr, xnames[rs1]);
		break;
	case F_CSRI:
		csr_text(d.csr, csr, sizeof(csr));
		put(&o, "%s,%s,%lld", xnames[rd], csr, (long long)d.imm);
		break;
	case F_FFF_RM: case F_FFF:
		put(&o, "%s,%s,%s", fnames[rd], fnames[rs1], fnames[rs2]);
		break;
	case F_FF_RM: case F_FF_EXACT:
		put(&o, "%s,%s", fnames[rd], fnames[rs1]);
		break;
	case F_FMA:
		put(&o, "%s,%s,%s,%s", fnames[rd], fnames[rs1], fnames[rs2], fnames[rs3]);
		break;
	case F_XF_RM: case F_XF:
		put(&o, "%s,%s", xnames[rd], fnames[rs1]);
		break;
	case F_XFF:
		put(&o, "%s,%s,%s", xnames[rd], fnames[rs1], fnames[rs2]);
		break;
	case F_FX_RM: case F_FX_EXACT: case F_FX:
		put(&o, "%s,%s", fnames[rd], xnames[rs1]);
		break;
	}
	switch ((enum fmt)oi->fmt) {
	case F_FFF_RM: case F_FF_RM: case F_FMA: case F_XF_RM: case F_FX_RM:
		/* Dynamic rounding (frm) is the default and goes unsaid. */
		if (d.rm != 7)
			put_rm(&o, d.rm);
		break;
	case F_FF_EXACT: case F_FX_EXACT:
		/* Exact conversions: assemblers encode rne; anything else is shown. */
		if (d.rm != 0)
			put_rm(&o, d.rm);
		break;
	default:
		break;
	}
	return o.cut ? -ENOSPC : d.len;
}

int disasm_insn(uint32_t raw, uint64_t pc, char *buf, size_t len)
{
	return disasm_insn_flags(raw, pc, 0, buf, len);
}
