/*
 * decode.c - turns RV64IMAFDC instruction words (32-bit and compressed) into
 * the engine's decoded form (struct dinsn): one internal op, register numbers
 * and a sign-extended immediate.  Compressed instructions become the op of
 * their 32-bit expansion, so the exec loop has one handler per operation.
 * Reserved and unknown encodings become OP_ILLEGAL; the raw bits are kept for
 * mtval.
 */
#include <string.h>
#include "hart_int.h"

static inline int64_t sext(uint64_t v, unsigned bits)
{
	return (int64_t)(v << (64 - bits)) >> (64 - bits);
}

static inline uint32_t bits(uint32_t v, unsigned hi, unsigned lo)
{
	return (v >> lo) & ((1u << (hi - lo + 1)) - 1);
}

/* Ops whose rd names an FP register rather than an integer one. */
static bool op_writes_freg(unsigned op)
{
	switch (op) {
	case OP_FLW: case OP_FLD: case OP_FMA_S: case OP_FMA_D:
	case OP_FADD_S: case OP_FSUB_S: case OP_FMUL_S: case OP_FDIV_S: case OP_FSQRT_S:
	case OP_FSGNJ_S: case OP_FSGNJN_S: case OP_FSGNJX_S: case OP_FMIN_S: case OP_FMAX_S:
	case OP_FCVT_S_W: case OP_FCVT_S_WU: case OP_FCVT_S_L: case OP_FCVT_S_LU: case OP_FMV_W_X:
	case OP_FADD_D: case OP_FSUB_D: case OP_FMUL_D: case OP_FDIV_D: case OP_FSQRT_D:
	case OP_FSGNJ_D: case OP_FSGNJN_D: case OP_FSGNJX_D: case OP_FMIN_D: case OP_FMAX_D:
	case OP_FCVT_D_W: case OP_FCVT_D_WU: case OP_FCVT_D_L: case OP_FCVT_D_LU: case OP_FMV_D_X:
	case OP_FCVT_S_D: case OP_FCVT_D_S:
		return true;
	default:
		return false;
	}
}

/* Ops that write no register at all (rd field is not a destination). */
static bool op_writes_none(unsigned op)
{
	switch (op) {
	case OP_BEQ: case OP_BNE: case OP_BLT: case OP_BGE: case OP_BLTU: case OP_BGEU:
	case OP_SB: case OP_SH: case OP_SW: case OP_SD: case OP_FSW: case OP_FSD:
	case OP_FENCE: case OP_FENCE_I: case OP_ECALL: case OP_EBREAK: case OP_MRET:
	case OP_SRET: case OP_WFI: case OP_SFENCE_VMA: case OP_ILLEGAL: case OP_END:
		return true;
	default:
		return false;
	}
}

/*
 * Conditional branches do not end a block: a taken branch leaves it (a side
 * exit), a not-taken one falls through to the next decoded instruction.
 */
bool decode_ends_block(unsigned op)
{
	switch (op) {
	case OP_JAL: case OP_JALR: case OP_FENCE_I: case OP_ECALL: case OP_EBREAK:
	case OP_MRET: case OP_SRET: case OP_WFI: case OP_SFENCE_VMA: case OP_CSRRW:
	case OP_CSRRS: case OP_CSRRC: case OP_CSRRWI: case OP_CSRRSI: case OP_CSRRCI:
	case OP_ILLEGAL: case OP_END:
		return true;
	default:
		return false;
	}
}

static unsigned decode_opfp(uint32_t raw, unsigned f7, unsigned f3, unsigned rs2)
{
	bool d = f7 & 1;
	switch (f7 & ~1u) {
	case 0x00: return d ? OP_FADD_D : OP_FADD_S;
	case 0x04: return d ? OP_FSUB_D : OP_FSUB_S;
	case 0x08: return d ? OP_FMUL_D : OP_FMUL_S;
	case 0x0c: return d ? OP_FDIV_D : OP_FDIV_S;
	case 0x2c:
		if (rs2 != 0)
			return OP_ILLEGAL;
		return d ? OP_FSQRT_D : OP_FSQRT_S;
	case 0x10:
		if (f3 == 0) return d ? OP_FSGNJ_D : OP_FSGNJ_S;
		if (f3 == 1) return d ? OP_FSGNJN_D : OP_FSGNJN_S;
		if (f3 == 2) return d ? OP_FSGNJX_D : OP_FSGNJX_S;
		return OP_ILLEGAL;
	case 0x14:
		if (f3 == 0) return d ? OP_FMIN_D : OP_FMIN_S;
		if (f3 == 1) return d ? OP_FMAX_D : OP_FMAX_S;
		return OP_ILLEGAL;
	case 0x20:
		if (!d && rs2 == 1) return OP_FCVT_S_D;
		if (d && rs2 == 0) return OP_FCVT_D_S;
		return OP_ILLEGAL;
	case 0x60: {
		static const uint8_t s[4] = { OP_FCVT_W_S, OP_FCVT_WU_S, OP_FCVT_L_S, OP_FCVT_LU_S };
		static const uint8_t dd[4] = { OP_FCVT_W_D, OP_FCVT_WU_D, OP_FCVT_L_D, OP_FCVT_LU_D };
		return rs2 < 4 ? (d ? dd[rs2] : s[rs2]) : OP_ILLEGAL;
	}
	case 0x68: {
		static const uint8_t s[4] = { OP_FCVT_S_W, OP_FCVT_S_WU, OP_FCVT_S_L, OP_FCVT_S_LU };
		static const uint8_t dd[4] = { OP_FCVT_D_W, OP_FCVT_D_WU, OP_FCVT_D_L, OP_FCVT_D_LU };
		return rs2 < 4 ? (d ? dd[rs2] : s[rs2]) : OP_ILLEGAL;
	}
	case 0x50:
		if (f3 == 2) return d ? OP_FEQ_D : OP_FEQ_S;
		if (f3 == 1) return d ? OP_FLT_D : OP_FLT_S;
		if (f3 == 0) return d ? OP_FLE_D : OP_FLE_S;
		return OP_ILLEGAL;
	case 0x70:
		if (rs2 != 0) return OP_ILLEGAL;
		if (f3 == 0) return d ? OP_FMV_X_D : OP_FMV_X_W;
		if (f3 == 1) return d ? OP_FCLASS_D : OP_FCLASS_S;
		return OP_ILLEGAL;
	case 0x78:
		if (rs2 != 0 || f3 != 0) return OP_ILLEGAL;
		return d ? OP_FMV_D_X : OP_FMV_W_X;
	default:
		(void)raw;
		return OP_ILLEGAL;
	}
}

static void decode32(struct dinsn *d, uint32_t raw)
{
	unsigned opc = raw & 0x7f, f3 = bits(raw, 14, 12), f7 = raw >> 25;
	unsigned rs2 = bits(raw, 24, 20);
	int64_t imm_i = sext(raw >> 20, 12);
	int64_t imm_s = sext((raw >> 25) << 5 | bits(raw, 11, 7), 12);
	int64_t imm_b = sext((uint64_t)bits(raw, 31, 31) << 12 | bits(raw, 7, 7) << 11 |
			     bits(raw, 30, 25) << 5 | bits(raw, 11, 8) << 1, 13);
	int64_t imm_u = (int64_t)(int32_t)(raw & 0xfffff000u);
	int64_t imm_j = sext((uint64_t)bits(raw, 31, 31) << 20 | bits(raw, 19, 12) << 12 |
			     bits(raw, 20, 20) << 11 | bits(raw, 30, 21) << 1, 21);
	unsigned op = OP_ILLEGAL;

	d->rm = f3;
	switch (opc) {
	case 0x37: op = OP_LUI; d->imm = imm_u; break;
	case 0x17: op = OP_AUIPC; d->imm = imm_u; break;
	case 0x6f: op = OP_JAL; d->imm = imm_j; break;
	case 0x67: if (f3 == 0) { op = OP_JALR; d->imm = imm_i; } break;
	case 0x63: {
		static const int16_t br[8] = { OP_BEQ, OP_BNE, -1, -1, OP_BLT, OP_BGE, OP_BLTU, OP_BGEU };
		if (br[f3] >= 0) { op = (unsigned)br[f3]; d->imm = imm_b; }
		break;
	}
	case 0x03: {
		static const int16_t ld[8] = { OP_LB, OP_LH, OP_LW, OP_LD, OP_LBU, OP_LHU, OP_LWU, -1 };
		if (ld[f3] >= 0) { op = (unsigned)ld[f3]; d->imm = imm_i; }
		break;
	}
	case 0x23: {
		static const int16_t st[8] = { OP_SB, OP_SH, OP_SW, OP_SD, -1, -1, -1, -1 };
		if (st[f3] >= 0) { op = (unsigned)st[f3]; d->imm = imm_s; }
		break;
	}
	case 0x13:
		d->imm = imm_i;
		switch (f3) {
		case 0: op = OP_ADDI; break;
		case 2: op = OP_SLTI; break;
		case 3: op = OP_SLTIU; break;
		case 4: op = OP_XORI; break;
		case 6: op = OP_ORI; break;
		case 7: op = OP_ANDI; break;
		case 1:
			if ((raw >> 26) == 0) { op = OP_SLLI; d->imm = bits(raw, 25, 20); }
			break;
		case 5:
			if ((raw >> 26) == 0) { op = OP_SRLI; d->imm = bits(raw, 25, 20); }
			else if ((raw >> 26) == 0x10) { op = OP_SRAI; d->imm = bits(raw, 25, 20); }
			break;
		}
		break;
	case 0x1b:
		switch (f3) {
		case 0: op = OP_ADDIW; d->imm = imm_i; break;
		case 1: if (f7 == 0) { op = OP_SLLIW; d->imm = rs2; } break;
		case 5:
			if (f7 == 0) { op = OP_SRLIW; d->imm = rs2; }
			else if (f7 == 0x20) { op = OP_SRAIW; d->imm = rs2; }
			break;
		}
		break;
	case 0x33:
		if (f7 == 0) {
			static const uint8_t t[8] = { OP_ADD, OP_SLL, OP_SLT, OP_SLTU, OP_XOR, OP_SRL,
						      OP_OR, OP_AND };
			op = t[f3];
		} else if (f7 == 0x20) {
			if (f3 == 0) op = OP_SUB;
			else if (f3 == 5) op = OP_SRA;
		} else if (f7 == 1) {
			static const uint8_t t[8] = { OP_MUL, OP_MULH, OP_MULHSU, OP_MULHU, OP_DIV,
						      OP_DIVU, OP_REM, OP_REMU };
			op = t[f3];
		}
		break;
	case 0x3b:
		if (f7 == 0) {
			if (f3 == 0) op = OP_ADDW;
			else if (f3 == 1) op = OP_SLLW;
			else if (f3 == 5) op = OP_SRLW;
		} else if (f7 == 0x20) {
			if (f3 == 0) op = OP_SUBW;
			else if (f3 == 5) op = OP_SRAW;
		} else if (f7 == 1) {
			static const int16_t t[8] = { OP_MULW, -1, -1, -1, OP_DIVW, OP_DIVUW, OP_REMW,
						      OP_REMUW };
			if (t[f3] >= 0) op = (unsigned)t[f3];
		}
		break;
	case 0x0f:
		if (f3 == 0) {
			op = OP_FENCE;
			/*
			 * imm 1: the fence orders earlier stores before later loads
			 * (predecessor W, successor R), the one order x86-64 does not
			 * keep by itself; fence.tso (fm 1000) leaves it out.
			 */
			d->imm = (raw >> 28) != 8 && (raw >> 24 & 1) && (raw >> 21 & 1);
		}
		else if (f3 == 1) op = OP_FENCE_I;
		break;
	case 0x73:
		if (f3 == 0) {
			if (raw == 0x00000073) op = OP_ECALL;
			else if (raw == 0x00100073) op = OP_EBREAK;
			else if (raw == 0x30200073) op = OP_MRET;
			else if (raw == 0x10200073) op = OP_SRET;
			else if (raw == 0x10500073) op = OP_WFI;
			else if (f7 == 0x09 && bits(raw, 11, 7) == 0) op = OP_SFENCE_VMA;
		} else if (f3 != 4) {
			static const uint8_t t[8] = { 0, OP_CSRRW, OP_CSRRS, OP_CSRRC, 0, OP_CSRRWI,
						      OP_CSRRSI, OP_CSRRCI };
			op = t[f3];
			d->csr = raw >> 20;
			d->imm = bits(raw, 19, 15);
		}
		break;
	case 0x2f:
		if (f3 == 2 || f3 == 3) {
			unsigned f5 = raw >> 27;
			bool dw = f3 == 3;
			d->rm = f5;
			if (f5 == 2) {
				if (rs2 == 0) op = dw ? OP_LR_D : OP_LR_W;
			} else if (f5 == 3) {
				op = dw ? OP_SC_D : OP_SC_W;
			} else if (f5 == AMO_ADD || f5 == AMO_SWAP || f5 == AMO_XOR || f5 == AMO_OR ||
				   f5 == AMO_AND || f5 == AMO_MIN || f5 == AMO_MAX || f5 == AMO_MINU ||
				   f5 == AMO_MAXU) {
				op = dw ? OP_AMO_D : OP_AMO_W;
			}
		}
		break;
	case 0x07:
		if (f3 == 2) op = OP_FLW;
		else if (f3 == 3) op = OP_FLD;
		d->imm = imm_i;
		break;
	case 0x27:
		if (f3 == 2) op = OP_FSW;
		else if (f3 == 3) op = OP_FSD;
		d->imm = imm_s;
		break;
	case 0x43: case 0x47: case 0x4b: case 0x4f: {
		unsigned fmt = bits(raw, 26, 25);
		if (fmt <= 1) {
			op = fmt ? OP_FMA_D : OP_FMA_S;
			/* imm bit 0: negate product; bit 1: negate addend */
			d->imm = opc == 0x43 ? 0 : opc == 0x47 ? 2 : opc == 0x4b ? 1 : 3;
			d->rs3 = raw >> 27;
		}
		break;
	}
	case 0x53:
		op = decode_opfp(raw, f7, f3, rs2);
		break;
	}
	d->op = op;
	d->rd = bits(raw, 11, 7);
	d->rs1 = bits(raw, 19, 15);
	d->rs2 = rs2;
}

/* Compressed register field rd'/rs1'/rs2' (x8..x15). */
static inline unsigned creg(uint32_t v) { return 8 + (v & 7); }

static void decode16(struct dinsn *d, uint32_t raw)
{
	unsigned q = raw & 3, f3 = bits(raw, 15, 13);
	unsigned rd = bits(raw, 11, 7), rs2 = bits(raw, 6, 2);
	unsigned rdp = creg(raw >> 2), rs1p = creg(raw >> 7);
	int64_t imm6 = sext(bits(raw, 12, 12) << 5 | bits(raw, 6, 2), 6);
	unsigned op = OP_ILLEGAL;

	d->rm = 7;
	if (q == 0) {
		uint32_t uimm_d = bits(raw, 12, 10) << 3 | bits(raw, 6, 5) << 6;
		uint32_t uimm_w = bits(raw, 12, 10) << 3 | bits(raw, 6, 6) << 2 | bits(raw, 5, 5) << 6;
		d->rs1 = rs1p;
		switch (f3) {
		case 0: {
			uint32_t nz = bits(raw, 12, 11) << 4 | bits(raw, 10, 7) << 6 |
				      bits(raw, 6, 6) << 2 | bits(raw, 5, 5) << 3;
			if (nz) { op = OP_ADDI; d->rd = rdp; d->rs1 = 2; d->imm = nz; }
			break;
		}
		case 1: op = OP_FLD; d->rd = rdp; d->imm = uimm_d; break;
		case 2: op = OP_LW; d->rd = rdp; d->imm = uimm_w; break;
		case 3: op = OP_LD; d->rd = rdp; d->imm = uimm_d; break;
		case 5: op = OP_FSD; d->rs2 = rdp; d->imm = uimm_d; break;
		case 6: op = OP_SW; d->rs2 = rdp; d->imm = uimm_w; break;
		case 7: op = OP_SD; d->rs2 = rdp; d->imm = uimm_d; break;
		}
	} else if (q == 1) {
		switch (f3) {
		case 0: op = OP_ADDI; d->rd = rd; d->rs1 = rd; d->imm = imm6; break;
		case 1:
			if (rd) { op = OP_ADDIW; d->rd = rd; d->rs1 = rd; d->imm = imm6; }
			break;
		case 2: op = OP_ADDI; d->rd = rd; d->rs1 = 0; d->imm = imm6; break;
		case 3:
			if (rd == 2) {
				int64_t nz = sext(bits(raw, 12, 12) << 9 | bits(raw, 6, 6) << 4 |
						  bits(raw, 5, 5) << 6 | bits(raw, 4, 3) << 7 |
						  bits(raw, 2, 2) << 5, 10);
				if (nz) { op = OP_ADDI; d->rd = 2; d->rs1 = 2; d->imm = nz; }
			} else if (imm6) {
				op = OP_LUI; d->rd = rd; d->imm = (int64_t)((uint64_t)imm6 << 12);
			}
			break;
		case 4: {
			unsigned f2 = bits(raw, 11, 10);
			unsigned sh = bits(raw, 12, 12) << 5 | bits(raw, 6, 2);
			d->rd = rs1p; d->rs1 = rs1p; d->rs2 = rdp;
			if (f2 == 0) { op = OP_SRLI; d->imm = sh; }
			else if (f2 == 1) { op = OP_SRAI; d->imm = sh; }
			else if (f2 == 2) { op = OP_ANDI; d->imm = imm6; }
			else {
				static const int16_t t[8] = { OP_SUB, OP_XOR, OP_OR, OP_AND,
							      OP_SUBW, OP_ADDW, -1, -1 };
				int16_t o = t[bits(raw, 12, 12) << 2 | bits(raw, 6, 5)];
				if (o >= 0) op = (unsigned)o;
			}
			break;
		}
		case 5:
			op = OP_JAL; d->rd = 0;
			d->imm = sext(bits(raw, 12, 12) << 11 | bits(raw, 11, 11) << 4 |
				      bits(raw, 10, 9) << 8 | bits(raw, 8, 8) << 10 |
				      bits(raw, 7, 7) << 6 | bits(raw, 6, 6) << 7 |
				      bits(raw, 5, 3) << 1 | bits(raw, 2, 2) << 5, 12);
			break;
		case 6: case 7:
			op = f3 == 6 ? OP_BEQ : OP_BNE; d->rs1 = rs1p; d->rs2 = 0;
			d->imm = sext(bits(raw, 12, 12) << 8 | bits(raw, 11, 10) << 3 |
				      bits(raw, 6, 5) << 6 | bits(raw, 4, 3) << 1 |
				      bits(raw, 2, 2) << 5, 9);
			break;
		}
	} else {
		switch (f3) {
		case 0:
			op = OP_SLLI; d->rd = rd; d->rs1 = rd;
			d->imm = bits(raw, 12, 12) << 5 | bits(raw, 6, 2);
			break;
		case 1: case 3:
			if (f3 == 1 || rd) {
				op = f3 == 1 ? OP_FLD : OP_LD; d->rd = rd; d->rs1 = 2;
				d->imm = bits(raw, 12, 12) << 5 | bits(raw, 6, 5) << 3 | bits(raw, 4, 2) << 6;
			}
			break;
		case 2:
			if (rd) {
				op = OP_LW; d->rd = rd; d->rs1 = 2;
				d->imm = bits(raw, 12, 12) << 5 | bits(raw, 6, 4) << 2 | bits(raw, 3, 2) << 6;
			}
			break;
		case 4:
			if (!bits(raw, 12, 12)) {
				if (rs2 == 0) {
					if (rd) { op = OP_JALR; d->rd = 0; d->rs1 = rd; d->imm = 0; }
				} else {
					op = OP_ADD; d->rd = rd; d->rs1 = 0; d->rs2 = rs2;
				}
			} else {
				if (rd == 0 && rs2 == 0) {
					op = OP_EBREAK;
				} else if (rs2 == 0) {
					op = OP_JALR; d->rd = 1; d->rs1 = rd; d->imm = 0;
				} else {
					op = OP_ADD; d->rd = rd; d->rs1 = rd; d->rs2 = rs2;
				}
			}
			break;
		case 5: case 7:
			op = f3 == 5 ? OP_FSD : OP_SD; d->rs1 = 2; d->rs2 = rs2;
			d->imm = bits(raw, 12, 10) << 3 | bits(raw, 9, 7) << 6;
			break;
		case 6:
			op = OP_SW; d->rs1 = 2; d->rs2 = rs2;
			d->imm = bits(raw, 12, 9) << 2 | bits(raw, 8, 7) << 6;
			break;
		}
	}
	d->op = op;
}

void decode_insn(struct dinsn *d, uint32_t raw)
{
	memset(d, 0, sizeof(*d));
	if ((raw & 3) == 3) {
		d->len = 4;
		d->raw = raw;
		decode32(d, raw);
	} else {
		d->len = 2;
		d->raw = raw & 0xffff;
		if (d->raw != 0)
			decode16(d, d->raw);
		else
			d->op = OP_ILLEGAL;
	}
	if (d->op != OP_ILLEGAL && !op_writes_none(d->op) && !op_writes_freg(d->op) && d->rd == 0)
		d->rd = 32;
}
