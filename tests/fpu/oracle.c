/*
 * oracle.c - the reference side of the FPU differential test.  Built for
 * riscv64 (static) and run under qemu-riscv64, whose F/D emulation is an
 * independent implementation.  Reads struct fpu_diff_rec records on stdin,
 * executes the real instruction with the record's rounding mode in frm and
 * writes the result and fflags as struct fpu_diff_res on stdout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fpu_ops.h"

/* Single operands go in with fmv.w.x (NaN-boxing them); results come out with fmv.x.w. */
#define S2(insn) \
	__asm__ volatile("fmv.w.x ft0,%1\n\tfmv.w.x ft1,%2\n\t" insn " ft2,ft0,ft1\n\tfmv.x.w %0,ft2" \
			 : "=r"(r) : "r"(a), "r"(b) : "ft0", "ft1", "ft2")
#define D2(insn) \
	__asm__ volatile("fmv.d.x ft0,%1\n\tfmv.d.x ft1,%2\n\t" insn " ft2,ft0,ft1\n\tfmv.x.d %0,ft2" \
			 : "=r"(r) : "r"(a), "r"(b) : "ft0", "ft1", "ft2")
#define S3(insn) \
	__asm__ volatile("fmv.w.x ft0,%1\n\tfmv.w.x ft1,%2\n\tfmv.w.x ft2,%3\n\t" insn \
			 " ft3,ft0,ft1,ft2,dyn\n\tfmv.x.w %0,ft3" \
			 : "=r"(r) : "r"(a), "r"(b), "r"(c) : "ft0", "ft1", "ft2", "ft3")
#define D3(insn) \
	__asm__ volatile("fmv.d.x ft0,%1\n\tfmv.d.x ft1,%2\n\tfmv.d.x ft2,%3\n\t" insn \
			 " ft3,ft0,ft1,ft2,dyn\n\tfmv.x.d %0,ft3" \
			 : "=r"(r) : "r"(a), "r"(b), "r"(c) : "ft0", "ft1", "ft2", "ft3")
/* Two-operand arithmetic with the dynamic rounding mode. */
#define S2D(insn) \
	__asm__ volatile("fmv.w.x ft0,%1\n\tfmv.w.x ft1,%2\n\t" insn " ft2,ft0,ft1,dyn\n\tfmv.x.w %0,ft2" \
			 : "=r"(r) : "r"(a), "r"(b) : "ft0", "ft1", "ft2")
#define D2D(insn) \
	__asm__ volatile("fmv.d.x ft0,%1\n\tfmv.d.x ft1,%2\n\t" insn " ft2,ft0,ft1,dyn\n\tfmv.x.d %0,ft2" \
			 : "=r"(r) : "r"(a), "r"(b) : "ft0", "ft1", "ft2")
/* Comparisons write an integer register. */
#define SCMP(insn) \
	__asm__ volatile("fmv.w.x ft0,%1\n\tfmv.w.x ft1,%2\n\t" insn " %0,ft0,ft1" \
			 : "=r"(r) : "r"(a), "r"(b) : "ft0", "ft1")
#define DCMP(insn) \
	__asm__ volatile("fmv.d.x ft0,%1\n\tfmv.d.x ft1,%2\n\t" insn " %0,ft0,ft1" \
			 : "=r"(r) : "r"(a), "r"(b) : "ft0", "ft1")
/*
 * One operand: float->float (F2F), float->int (F2I), int->float (I2F).  The
 * exact conversions (fcvt.d.s, fcvt.d.w[u]) take no rounding-mode operand.
 */
#define F2F(in, out, insn, rmarg) \
	__asm__ volatile(in " ft0,%1\n\t" insn " ft1,ft0" rmarg "\n\t" out " %0,ft1" \
			 : "=r"(r) : "r"(a) : "ft0", "ft1")
#define F2I(in, insn, rmarg) \
	__asm__ volatile(in " ft0,%1\n\t" insn " %0,ft0" rmarg : "=r"(r) : "r"(a) : "ft0")
#define I2F(out, insn, rmarg) \
	__asm__ volatile(insn " ft0,%1" rmarg "\n\t" out " %0,ft0" : "=r"(r) : "r"(a) : "ft0")

static uint64_t run(uint32_t op, uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t r = 0;

	switch (op) {
	case OP_add_s: S2D("fadd.s"); break;
	case OP_sub_s: S2D("fsub.s"); break;
	case OP_mul_s: S2D("fmul.s"); break;
	case OP_div_s: S2D("fdiv.s"); break;
	case OP_sqrt_s: F2F("fmv.w.x", "fmv.x.w", "fsqrt.s", ",dyn"); break;
	case OP_fmadd_s: S3("fmadd.s"); break;
	case OP_fmsub_s: S3("fmsub.s"); break;
	case OP_fnmsub_s: S3("fnmsub.s"); break;
	case OP_fnmadd_s: S3("fnmadd.s"); break;
	case OP_min_s: S2("fmin.s"); break;
	case OP_max_s: S2("fmax.s"); break;
	case OP_eq_s: SCMP("feq.s"); break;
	case OP_lt_s: SCMP("flt.s"); break;
	case OP_le_s: SCMP("fle.s"); break;
	case OP_class_s: F2I("fmv.w.x", "fclass.s", ""); break;
	case OP_add_d: D2D("fadd.d"); break;
	case OP_sub_d: D2D("fsub.d"); break;
	case OP_mul_d: D2D("fmul.d"); break;
	case OP_div_d: D2D("fdiv.d"); break;
	case OP_sqrt_d: F2F("fmv.d.x", "fmv.x.d", "fsqrt.d", ",dyn"); break;
	case OP_fmadd_d: D3("fmadd.d"); break;
	case OP_fmsub_d: D3("fmsub.d"); break;
	case OP_fnmsub_d: D3("fnmsub.d"); break;
	case OP_fnmadd_d: D3("fnmadd.d"); break;
	case OP_min_d: D2("fmin.d"); break;
	case OP_max_d: D2("fmax.d"); break;
	case OP_eq_d: DCMP("feq.d"); break;
	case OP_lt_d: DCMP("flt.d"); break;
	case OP_le_d: DCMP("fle.d"); break;
	case OP_class_d: F2I("fmv.d.x", "fclass.d", ""); break;
	case OP_cvt_d_s: F2F("fmv.w.x", "fmv.x.d", "fcvt.d.s", ""); break;
	case OP_cvt_s_d: F2F("fmv.d.x", "fmv.x.w", "fcvt.s.d", ",dyn"); break;
	case OP_cvt_w_s: F2I("fmv.w.x", "fcvt.w.s", ",dyn"); break;
	case OP_cvt_wu_s: F2I("fmv.w.x", "fcvt.wu.s", ",dyn"); break;
	case OP_cvt_l_s: F2I("fmv.w.x", "fcvt.l.s", ",dyn"); break;
	case OP_cvt_lu_s: F2I("fmv.w.x", "fcvt.lu.s", ",dyn"); break;
	case OP_cvt_w_d: F2I("fmv.d.x", "fcvt.w.d", ",dyn"); break;
	case OP_cvt_wu_d: F2I("fmv.d.x", "fcvt.wu.d", ",dyn"); break;
	case OP_cvt_l_d: F2I("fmv.d.x", "fcvt.l.d", ",dyn"); break;
	case OP_cvt_lu_d: F2I("fmv.d.x", "fcvt.lu.d", ",dyn"); break;
	case OP_cvt_s_w: I2F("fmv.x.w", "fcvt.s.w", ",dyn"); break;
	case OP_cvt_s_wu: I2F("fmv.x.w", "fcvt.s.wu", ",dyn"); break;
	case OP_cvt_s_l: I2F("fmv.x.w", "fcvt.s.l", ",dyn"); break;
	case OP_cvt_s_lu: I2F("fmv.x.w", "fcvt.s.lu", ",dyn"); break;
	case OP_cvt_d_w: I2F("fmv.x.d", "fcvt.d.w", ""); break;
	case OP_cvt_d_wu: I2F("fmv.x.d", "fcvt.d.wu", ""); break;
	case OP_cvt_d_l: I2F("fmv.x.d", "fcvt.d.l", ",dyn"); break;
	case OP_cvt_d_lu: I2F("fmv.x.d", "fcvt.d.lu", ",dyn"); break;
	default: break;
	}
	return r;
}

int main(void)
{
	struct fpu_diff_rec in;
	struct fpu_diff_res out = { 0 };

	while (fread(&in, sizeof(in), 1, stdin) == 1) {
		uint64_t fl;
		__asm__ volatile("fsrm %0\n\tfsflags x0" : : "r"((uint64_t)in.rm));
		out.val = run(in.op, in.a, in.b, in.c);
		__asm__ volatile("frflags %0" : "=r"(fl));
		out.flags = (uint32_t)fl;
		if (fwrite(&out, sizeof(out), 1, stdout) != 1)
			return 1;
	}
	return 0;
}
