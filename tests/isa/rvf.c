/*
 * rvf.c - F extension: rounding modes (static and dynamic through frm,
 * reserved frm values trapping), fcsr/frm/fflags as views of one register,
 * exception flags, NaN boxing of single values in 64-bit registers,
 * canonical NaN results, fused multiply-add's single rounding and its
 * inf*0 case, saturating conversions (and the sign extension of 32-bit
 * results), fmin/fmax on zeros and NaNs, quiet vs signalling compares,
 * fclass, and mstatus.FS (dirty tracking, off -> illegal instruction).
 */
#include "fp.h"

#define ONE 0x3f800000U
#define TWO 0x40000000U
#define THREE 0x40400000U
#define HALF 0x3f000000U
#define M_ONE 0xbf800000U
#define EPS24 0x33800000U      /* 2^-24: half an ulp of 1.0 */
#define PINF 0x7f800000U
#define NINF 0xff800000U
#define CNAN 0x7fc00000U
#define SNAN 0x7f800001U
#define QNANP 0x7fc12345U
#define NZERO 0x80000000U
#define FMAX 0x7f7fffffU
#define FMIN_NORM 0x00800000U

static long rounding(void)
{
	unsigned long one = BOX(ONE), eps = BOX(EPS24), mone = BOX(M_ONE);

	fflags_take();
	CHECK(1, FOP2("fadd.s", one, eps, ", rne") == BOX(ONE));
	CHECK(2, fflags_take() == FX_NX);
	CHECK(3, FOP2("fadd.s", one, eps, ", rup") == BOX(ONE + 1));
	CHECK(4, FOP2("fadd.s", one, eps, ", rdn") == BOX(ONE));
	CHECK(5, FOP2("fadd.s", one, eps, ", rtz") == BOX(ONE));
	CHECK(6, FOP2("fadd.s", one, eps, ", rmm") == BOX(ONE + 1));
	CHECK(7, FOP2("fsub.s", mone, eps, ", rdn") == BOX(M_ONE + 1));
	CHECK(8, FOP2("fsub.s", mone, eps, ", rup") == BOX(M_ONE));
	CHECK(9, FOP2("fsub.s", mone, eps, ", rtz") == BOX(M_ONE));
	/* Dynamic rounding mode comes from frm. */
	csr_write(frm, 3);
	CHECK(10, FOP2("fadd.s", one, eps, "") == BOX(ONE + 1));
	csr_write(frm, 2);
	CHECK(11, FOP2("fadd.s", one, eps, "") == BOX(ONE));
	csr_write(frm, 4);
	CHECK(12, FOP2("fadd.s", one, eps, "") == BOX(ONE + 1));
	/* Reserved frm values make dynamic-rm instructions illegal... */
	csr_write(frm, 5);
	CHECK(13, TRAPS(FOP2("fadd.s", one, eps, "")) == 1 && last_trap.cause == CAUSE_ILLEGAL);
	csr_write(frm, 7);
	CHECK(14, TRAPS(FOP2("fmul.s", one, eps, "")) == 1 && last_trap.cause == CAUSE_ILLEGAL);
	/* ...but not instructions with a static mode, nor ones without rounding. */
	CHECK(15, TRAPS(FOP2("fadd.s", one, eps, ", rtz")) == 0);
	CHECK(16, TRAPS(FCMP("feq.s", one, one)) == 0);
	csr_write(frm, 0);
	fflags_take();
	return 0;
}

static long fcsr_views(void)
{
	csr_write(fcsr, 0xff);
	CHECK(20, csr_read(frm) == 7 && csr_read(fflags) == 0x1f && csr_read(fcsr) == 0xff);
	csr_write(fflags, 0);
	CHECK(21, csr_read(fcsr) == 0xe0);
	csr_write(frm, 1);
	CHECK(22, csr_read(fcsr) == 0x20);
	csr_write(fcsr, 0x3ff);                 /* bits above 7 read as zero */
	CHECK(23, csr_read(fcsr) == 0xff);
	csr_write(fflags, 0xff);
	CHECK(24, csr_read(fflags) == 0x1f);
	csr_write(fcsr, 0);
	return 0;
}

static long flags(void)
{
	fflags_take();
	CHECK(30, FOP2("fdiv.s", BOX(ONE), BOX(0), "") == BOX(PINF) && fflags_take() == FX_DZ);
	CHECK(31, FOP2("fdiv.s", BOX(M_ONE), BOX(0), "") == BOX(NINF) && fflags_take() == FX_DZ);
	CHECK(32, FOP2("fdiv.s", BOX(0), BOX(0), "") == BOX(CNAN) && fflags_take() == FX_NV);
	CHECK(33, FOP2("fmul.s", BOX(FMAX), BOX(TWO), "") == BOX(PINF) &&
			  fflags_take() == (FX_OF | FX_NX));
	CHECK(34, FOP2("fmul.s", BOX(FMAX), BOX(TWO), ", rtz") == BOX(FMAX) &&
			  fflags_take() == (FX_OF | FX_NX));
	CHECK(35, FOP2("fmul.s", BOX(FMIN_NORM), BOX(FMIN_NORM), "") == BOX(0) &&
			  fflags_take() == (FX_UF | FX_NX));
	CHECK(36, FOP2("fmul.s", BOX(FMIN_NORM), BOX(FMIN_NORM), ", rup") == BOX(1) &&
			  fflags_take() == (FX_UF | FX_NX));
	CHECK(37, FOP1("fsqrt.s", BOX(M_ONE), "") == BOX(CNAN) && fflags_take() == FX_NV);
	CHECK(38, FOP1("fsqrt.s", BOX(NZERO), "") == BOX(NZERO) && fflags_take() == 0);
	CHECK(39, FOP2("fsub.s", BOX(PINF), BOX(PINF), "") == BOX(CNAN) && fflags_take() == FX_NV);
	/* Exact results raise nothing; flags accrue until cleared. */
	CHECK(40, FOP2("fadd.s", BOX(ONE), BOX(TWO), "") == BOX(THREE) && fflags_take() == 0);
	FOP2("fdiv.s", BOX(ONE), BOX(0), "");
	FOP2("fadd.s", BOX(ONE), BOX(EPS24), "");
	CHECK(41, fflags_take() == (FX_DZ | FX_NX));
	/* x + (-x) is +0 except when rounding down. */
	CHECK(42, FOP2("fadd.s", BOX(ONE), BOX(M_ONE), "") == BOX(0));
	CHECK(43, FOP2("fadd.s", BOX(ONE), BOX(M_ONE), ", rdn") == BOX(NZERO));
	return 0;
}

static long nans_and_boxing(void)
{
	unsigned long r;

	fflags_take();
	/* RISC-V does not propagate payloads: every NaN result is canonical. */
	CHECK(50, FOP2("fadd.s", BOX(SNAN), BOX(ONE), "") == BOX(CNAN) && fflags_take() == FX_NV);
	CHECK(51, FOP2("fadd.s", BOX(QNANP), BOX(ONE), "") == BOX(CNAN) && fflags_take() == 0);
	CHECK(52, FOP2("fmul.s", BOX(0xffc00000U), BOX(ONE), "") == BOX(CNAN));
	/* Single values are NaN-boxed in the 64-bit registers. */
	CHECK(53, X2F("fmv.w.x", 0x123456783f800000UL, "") == BOX(ONE));
	CHECK(54, X2F("fcvt.s.w", 1UL, "") == BOX(ONE));
	/* An improperly boxed operand is the canonical NaN. */
	CHECK(55, FOP2("fadd.s", (unsigned long)ONE, BOX(ONE), "") == BOX(CNAN) && fflags_take() == 0);
	CHECK(56, FOP2("fadd.s", 0xfffffffe3f800000UL, BOX(ONE), "") == BOX(CNAN));
	CHECK(57, FOP2("fsgnjn.s", (unsigned long)ONE, BOX(ONE), "") == BOX(0xffc00000U));
	CHECK(58, FOP2("fsgnj.s", BOX(ONE), (unsigned long)ONE, "") == BOX(ONE));  /* NaN's sign: + */
	CHECK(59, F2X("fclass.s", (unsigned long)ONE, "") == (1 << 9));
	/* fmv.x.w takes the low 32 bits as they are, sign-extended. */
	CHECK(60, F2X("fmv.x.w", 0x123456789abcdef0UL, "") == 0xffffffff9abcdef0UL);
	CHECK(61, F2X("fmv.x.w", BOX(NZERO), "") == 0xffffffff80000000UL);
	/* fsw stores the low bits unchanged, flw boxes. */
	{
		volatile uint32_t w = 0;
		__asm__ volatile("fmv.d.x ft0, %1\n\tfsw ft0, 0(%0)" ::"r"(&w),
				 "r"(0x0000000112345678UL) : "ft0", "memory");
		CHECK(62, w == 0x12345678);
		__asm__ volatile("flw ft0, 0(%1)\n\tfmv.x.d %0, ft0" : "=r"(r) : "r"(&w) : "ft0");
		CHECK(63, r == BOX(0x12345678));
	}
	return 0;
}

static long fused(void)
{
	/* (1+2^-23)(1-2^-23) - 1 = -2^-46 exactly: needs the single rounding. */
	CHECK(70, FOP3("fmsub.s", BOX(0x3f800001U), BOX(0x3f7ffffeU), BOX(ONE), "") == BOX(0xa8800000U));
	CHECK(71, FOP3("fmadd.s", BOX(ONE), BOX(TWO), BOX(THREE), "") == BOX(0x40a00000U));  /* 5 */
	CHECK(72, FOP3("fmsub.s", BOX(ONE), BOX(TWO), BOX(THREE), "") == BOX(M_ONE));
	CHECK(73, FOP3("fnmsub.s", BOX(ONE), BOX(TWO), BOX(THREE), "") == BOX(ONE));
	CHECK(74, FOP3("fnmadd.s", BOX(ONE), BOX(TWO), BOX(THREE), "") == BOX(0xc0a00000U));
	fflags_take();
	/* inf * 0 is invalid even when the addend is a quiet NaN. */
	CHECK(75, FOP3("fmadd.s", BOX(PINF), BOX(0), BOX(ONE), "") == BOX(CNAN) && fflags_take() == FX_NV);
	CHECK(76, FOP3("fmadd.s", BOX(PINF), BOX(0), BOX(CNAN), "") == BOX(CNAN) &&
			  fflags_take() == FX_NV);
	CHECK(77, FOP3("fmadd.s", BOX(ONE), BOX(ONE), BOX(QNANP), "") == BOX(CNAN) &&
			  fflags_take() == 0);
	/* Exact zero sums: (+0) + (-0) is +0 in RNE, and -0 when rounding down. */
	CHECK(78, FOP3("fmadd.s", BOX(ONE), BOX(0), BOX(NZERO), "") == BOX(0));
	CHECK(79, FOP3("fmadd.s", BOX(ONE), BOX(0), BOX(NZERO), ", rdn") == BOX(NZERO));
	return 0;
}

static long conversions(void)
{
	fflags_take();
	CHECK(80, F2X("fcvt.w.s", BOX(CNAN), ", rtz") == 0x7fffffffUL && fflags_take() == FX_NV);
	CHECK(81, F2X("fcvt.w.s", BOX(PINF), ", rtz") == 0x7fffffffUL && fflags_take() == FX_NV);
	CHECK(82, F2X("fcvt.w.s", BOX(NINF), ", rtz") == 0xffffffff80000000UL && fflags_take() == FX_NV);
	CHECK(83, F2X("fcvt.w.s", BOX(0xc0200000U), ", rne") == -2UL && fflags_take() == FX_NX);  /* -2.5 */
	CHECK(84, F2X("fcvt.w.s", BOX(0xc0200000U), ", rmm") == -3UL);
	CHECK(85, F2X("fcvt.w.s", BOX(0xc0200000U), ", rdn") == -3UL);
	CHECK(86, F2X("fcvt.w.s", BOX(0xc0200000U), ", rup") == -2UL);
	fflags_take();
	CHECK(87, F2X("fcvt.wu.s", BOX(M_ONE), ", rtz") == 0 && fflags_take() == FX_NV);
	CHECK(88, F2X("fcvt.wu.s", BOX(0xbf000000U), ", rtz") == 0 && fflags_take() == FX_NX);
	/* 32-bit results are sign-extended, even unsigned ones: 3e9. */
	CHECK(89, F2X("fcvt.wu.s", BOX(0x4f32d05eU), ", rtz") == 0xffffffffb2d05e00UL &&
			  fflags_take() == 0);
	CHECK(90, F2X("fcvt.wu.s", BOX(CNAN), ", rtz") == 0xffffffffffffffffUL && fflags_take() == FX_NV);
	CHECK(91, F2X("fcvt.l.s", BOX(0x5f0ac723U), ", rtz") == 0x7fffffffffffffffUL &&
			  fflags_take() == FX_NV);
	CHECK(92, F2X("fcvt.l.s", BOX(0xdf000000U), ", rtz") == 0x8000000000000000UL &&
			  fflags_take() == 0);
	CHECK(93, F2X("fcvt.lu.s", BOX(NINF), ", rtz") == 0 && fflags_take() == FX_NV);
	CHECK(94, F2X("fcvt.lu.s", BOX(CNAN), ", rtz") == -1UL && fflags_take() == FX_NV);
	CHECK(95, X2F("fcvt.s.w", -1UL, "") == BOX(M_ONE));
	CHECK(96, X2F("fcvt.s.w", 0x100000001UL, "") == BOX(ONE));  /* low 32 bits only */
	CHECK(97, X2F("fcvt.s.wu", 0xffffffffUL, "") == BOX(0x4f800000U) && fflags_take() == FX_NX);
	CHECK(98, X2F("fcvt.s.wu", 0xffffffffUL, ", rtz") == BOX(0x4f7fffffU));
	CHECK(99, X2F("fcvt.s.l", 0x8000000000000000UL, "") == BOX(0xdf000000U));
	CHECK(100, X2F("fcvt.s.lu", -1UL, "") == BOX(0x5f800000U) && fflags_take() == FX_NX);
	return 0;
}

static long minmax_compare_class(void)
{
	fflags_take();
	CHECK(110, FOP2("fmin.s", BOX(NZERO), BOX(0), "") == BOX(NZERO));
	CHECK(111, FOP2("fmin.s", BOX(0), BOX(NZERO), "") == BOX(NZERO));
	CHECK(112, FOP2("fmax.s", BOX(NZERO), BOX(0), "") == BOX(0));
	CHECK(113, FOP2("fmin.s", BOX(QNANP), BOX(TWO), "") == BOX(TWO) && fflags_take() == 0);
	CHECK(114, FOP2("fmax.s", BOX(TWO), BOX(SNAN), "") == BOX(TWO) && fflags_take() == FX_NV);
	CHECK(115, FOP2("fmax.s", BOX(QNANP), BOX(SNAN), "") == BOX(CNAN) && fflags_take() == FX_NV);
	CHECK(116, FOP2("fmin.s", BOX(NINF), BOX(ONE), "") == BOX(NINF));
	CHECK(120, FCMP("feq.s", BOX(QNANP), BOX(ONE)) == 0 && fflags_take() == 0);
	CHECK(121, FCMP("flt.s", BOX(QNANP), BOX(ONE)) == 0 && fflags_take() == FX_NV);
	CHECK(122, FCMP("fle.s", BOX(ONE), BOX(QNANP)) == 0 && fflags_take() == FX_NV);
	CHECK(123, FCMP("feq.s", BOX(SNAN), BOX(ONE)) == 0 && fflags_take() == FX_NV);
	CHECK(124, FCMP("feq.s", BOX(NZERO), BOX(0)) == 1);
	CHECK(125, FCMP("flt.s", BOX(NZERO), BOX(0)) == 0);
	CHECK(126, FCMP("fle.s", BOX(NZERO), BOX(0)) == 1);
	CHECK(127, FCMP("flt.s", BOX(M_ONE), BOX(ONE)) == 1);
	CHECK(130, F2X("fclass.s", BOX(NINF), "") == 1 << 0);
	CHECK(131, F2X("fclass.s", BOX(M_ONE), "") == 1 << 1);
	CHECK(132, F2X("fclass.s", BOX(0x80000001U), "") == 1 << 2);
	CHECK(133, F2X("fclass.s", BOX(NZERO), "") == 1 << 3);
	CHECK(134, F2X("fclass.s", BOX(0), "") == 1 << 4);
	CHECK(135, F2X("fclass.s", BOX(1), "") == 1 << 5);
	CHECK(136, F2X("fclass.s", BOX(ONE), "") == 1 << 6);
	CHECK(137, F2X("fclass.s", BOX(PINF), "") == 1 << 7);
	CHECK(138, F2X("fclass.s", BOX(SNAN), "") == 1 << 8);
	CHECK(139, F2X("fclass.s", BOX(CNAN), "") == 1 << 9);
	return 0;
}

static long fs_state(void)
{
	csr_clear(mstatus, MSTATUS_FS);
	csr_set(mstatus, MSTATUS_FS_INITIAL);
	FOP2("fadd.s", BOX(ONE), BOX(ONE), "");
	CHECK(140, (csr_read(mstatus) & MSTATUS_FS) == MSTATUS_FS);   /* dirty */
	CHECK(141, (long)csr_read(mstatus) < 0);                       /* SD */
	csr_clear(mstatus, MSTATUS_FS);                                /* off */
	CHECK(142, TRAPS(FOP2("fadd.s", BOX(ONE), BOX(ONE), "")) >= 1 &&
			   last_trap.cause == CAUSE_ILLEGAL);
	CHECK(143, TRAPS(csr_read(fcsr)) == 1 && last_trap.cause == CAUSE_ILLEGAL);
	CHECK(144, (long)csr_read(mstatus) >= 0);                      /* SD clear */
	csr_set(mstatus, MSTATUS_FS_INITIAL);
	CHECK(145, TRAPS(FOP2("fadd.s", BOX(ONE), BOX(ONE), "")) == 0);
	return 0;
}

int main(void)
{
	RUN(rounding());
	RUN(fcsr_views());
	RUN(flags());
	RUN(nans_and_boxing());
	RUN(fused());
	RUN(conversions());
	RUN(minmax_compare_class());
	RUN(fs_state());
	return 0;
}
