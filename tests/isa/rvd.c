/*
 * rvd.c - D extension: rounding of adds and of conversions between single
 * and double (NaNs become canonical in the new format, overflow to inf or
 * max by rounding mode), fused multiply-add exactness, division and square
 * root flags, saturating conversions to integers, fmin/fmax, sign
 * injection, fclass, and fld/fsd/fmv moving raw bits.
 */
#include "fp.h"

#define D_ONE 0x3ff0000000000000UL
#define D_TWO 0x4000000000000000UL
#define D_THREE 0x4008000000000000UL
#define D_M_ONE 0xbff0000000000000UL
#define D_EPS53 0x3ca0000000000000UL   /* 2^-53 */
#define D_PINF 0x7ff0000000000000UL
#define D_NINF 0xfff0000000000000UL
#define D_CNAN 0x7ff8000000000000UL
#define D_SNAN 0x7ff0000000000001UL
#define D_QNANP 0x7ff8000000012345UL
#define D_NZERO 0x8000000000000000UL
#define D_MAX 0x7fefffffffffffffUL
#define D_1E300 0x7e37e43c8800759cUL
#define S_CNAN 0x7fc00000U
#define S_SNAN 0x7f800001U
#define S_ONE 0x3f800000U

static long arith(void)
{
	fflags_take();
	CHECK(1, FOP2("fadd.d", D_ONE, D_EPS53, ", rne") == D_ONE && fflags_take() == FX_NX);
	CHECK(2, FOP2("fadd.d", D_ONE, D_EPS53, ", rup") == D_ONE + 1);
	CHECK(3, FOP2("fadd.d", D_ONE, D_EPS53, ", rmm") == D_ONE + 1);
	CHECK(4, FOP2("fsub.d", D_M_ONE, D_EPS53, ", rdn") == D_M_ONE + 1);
	CHECK(5, FOP2("fsub.d", D_M_ONE, D_EPS53, ", rtz") == D_M_ONE);
	csr_write(frm, 3);
	CHECK(6, FOP2("fadd.d", D_ONE, D_EPS53, "") == D_ONE + 1);
	csr_write(frm, 0);
	fflags_take();
	CHECK(7, FOP2("fdiv.d", D_ONE, D_THREE, "") == 0x3fd5555555555555UL && fflags_take() == FX_NX);
	CHECK(8, FOP2("fdiv.d", D_ONE, D_THREE, ", rup") == 0x3fd5555555555556UL);
	CHECK(9, FOP1("fsqrt.d", D_TWO, "") == 0x3ff6a09e667f3bcdUL && fflags_take() == FX_NX);
	CHECK(10, FOP1("fsqrt.d", 0x4010000000000000UL, "") == D_TWO && fflags_take() == 0);
	CHECK(11, FOP1("fsqrt.d", D_M_ONE, "") == D_CNAN && fflags_take() == FX_NV);
	CHECK(12, FOP2("fdiv.d", D_M_ONE, 0, "") == D_NINF && fflags_take() == FX_DZ);
	CHECK(13, FOP2("fmul.d", D_MAX, D_TWO, "") == D_PINF && fflags_take() == (FX_OF | FX_NX));
	CHECK(14, FOP2("fmul.d", D_MAX, D_TWO, ", rdn") == D_MAX && fflags_take() == (FX_OF | FX_NX));
	CHECK(15, FOP2("fmul.d", 0x0010000000000000UL, 0x3fe0000000000000UL, "") ==
			  0x0008000000000000UL && fflags_take() == 0);   /* exact subnormal: no UF */
	CHECK(16, FOP2("fmul.d", D_PINF, 0, "") == D_CNAN && fflags_take() == FX_NV);
	CHECK(17, FOP2("fadd.d", D_SNAN, D_ONE, "") == D_CNAN && fflags_take() == FX_NV);
	CHECK(18, FOP2("fadd.d", D_QNANP, D_ONE, "") == D_CNAN && fflags_take() == 0);
	return 0;
}

static long fused(void)
{
	/* (1+2^-52)(1-2^-52) - 1 = -2^-104 exactly. */
	CHECK(20, FOP3("fmsub.d", D_ONE + 1, 0x3feffffffffffffeUL, D_ONE, "") == 0xb970000000000000UL);
	CHECK(21, FOP3("fnmadd.d", D_TWO, D_THREE, D_ONE, "") == 0xc01c000000000000UL);  /* -7 */
	CHECK(22, FOP3("fnmsub.d", D_TWO, D_THREE, D_ONE, "") == 0xc014000000000000UL);  /* -5 */
	fflags_take();
	CHECK(23, FOP3("fmadd.d", 0, D_NINF, D_QNANP, "") == D_CNAN && fflags_take() == FX_NV);
	CHECK(24, FOP3("fmadd.d", D_PINF, D_ONE, D_NINF, "") == D_CNAN && fflags_take() == FX_NV);
	return 0;
}

static long format_conversions(void)
{
	fflags_take();
	CHECK(30, FOP1("fcvt.s.d", D_ONE, "") == BOX(S_ONE) && fflags_take() == 0);
	CHECK(31, FOP1("fcvt.s.d", D_QNANP, "") == BOX(S_CNAN) && fflags_take() == 0);
	CHECK(32, FOP1("fcvt.s.d", D_SNAN, "") == BOX(S_CNAN) && fflags_take() == FX_NV);
	CHECK(33, FOP1("fcvt.s.d", D_1E300, "") == BOX(0x7f800000U) && fflags_take() == (FX_OF | FX_NX));
	CHECK(34, FOP1("fcvt.s.d", D_1E300, ", rtz") == BOX(0x7f7fffffU) && fflags_take() == (FX_OF | FX_NX));
	CHECK(35, FOP1("fcvt.s.d", 0x3ff0000010000000UL, "") == BOX(S_ONE) && fflags_take() == FX_NX);
	CHECK(36, FOP1("fcvt.s.d", 0x3ff0000010000000UL, ", rup") == BOX(S_ONE + 1) && fflags_take() == FX_NX);
	CHECK(37, FOP1("fcvt.d.s", BOX(S_ONE), "") == D_ONE && fflags_take() == 0);
	CHECK(38, FOP1("fcvt.d.s", BOX(S_SNAN), "") == D_CNAN && fflags_take() == FX_NV);
	CHECK(39, FOP1("fcvt.d.s", (unsigned long)S_ONE, "") == D_CNAN);   /* not boxed */
	CHECK(40, FOP1("fcvt.d.s", BOX(0x00000001U), "") == 0x36a0000000000000UL);  /* subnormal */
	return 0;
}

static long int_conversions(void)
{
	fflags_take();
	CHECK(50, F2X("fcvt.l.d", 0x43e0000000000000UL, ", rtz") == 0x7fffffffffffffffUL &&
			  fflags_take() == FX_NV);                       /* 2^63 */
	CHECK(51, F2X("fcvt.l.d", 0xc3e0000000000000UL, ", rtz") == 0x8000000000000000UL &&
			  fflags_take() == 0);                           /* -2^63 exact */
	CHECK(52, F2X("fcvt.lu.d", 0x43efffffffffffffUL, ", rtz") == 0xfffffffffffff800UL);
	CHECK(53, F2X("fcvt.lu.d", D_M_ONE, ", rtz") == 0 && fflags_take() == FX_NV);
	CHECK(54, F2X("fcvt.lu.d", D_PINF, ", rtz") == -1UL && fflags_take() == FX_NV);
	CHECK(55, F2X("fcvt.w.d", 0x41dfffffffc00000UL, ", rtz") == 0x7fffffffUL &&
			  fflags_take() == 0);                           /* 2^31-1 exact */
	CHECK(56, F2X("fcvt.w.d", 0x41e0000000000000UL, ", rtz") == 0x7fffffffUL &&
			  fflags_take() == FX_NV);                       /* 2^31 */
	CHECK(57, F2X("fcvt.w.d", D_CNAN, ", rtz") == 0x7fffffffUL && fflags_take() == FX_NV);
	CHECK(58, F2X("fcvt.wu.d", 0x41efffffffe00000UL, ", rtz") == -1UL && fflags_take() == 0);
	CHECK(59, F2X("fcvt.wu.d", D_NINF, ", rtz") == 0 && fflags_take() == FX_NV);
	CHECK(60, F2X("fcvt.l.d", 0x3fe8000000000000UL, ", rne") == 1 && fflags_take() == FX_NX);
	CHECK(61, F2X("fcvt.l.d", 0x3fe0000000000000UL, ", rne") == 0);  /* 0.5 -> even */
	CHECK(62, F2X("fcvt.l.d", 0x3fe0000000000000UL, ", rmm") == 1);
	CHECK(63, F2X("fcvt.l.d", 0xbfe0000000000000UL, ", rdn") == -1UL);
	CHECK(64, X2F("fcvt.d.l", 0x8000000000000000UL, "") == 0xc3e0000000000000UL);
	CHECK(65, X2F("fcvt.d.lu", -1UL, "") == 0x43f0000000000000UL && fflags_take() == FX_NX);
	CHECK(66, X2F("fcvt.d.lu", -1UL, ", rtz") == 0x43efffffffffffffUL && fflags_take() == FX_NX);
	CHECK(67, X2F("fcvt.d.w", 0xffffffff80000000UL, "") == 0xc1e0000000000000UL && fflags_take() == 0);
	CHECK(68, X2F("fcvt.d.wu", 0xfffffffffffffffeUL, "") == 0x41efffffffc00000UL);
	return 0;
}

static long misc(void)
{
	fflags_take();
	CHECK(70, FOP2("fmin.d", D_NZERO, 0, "") == D_NZERO);
	CHECK(71, FOP2("fmax.d", 0, D_NZERO, "") == 0);
	CHECK(72, FOP2("fmax.d", D_QNANP, D_M_ONE, "") == D_M_ONE && fflags_take() == 0);
	CHECK(73, FOP2("fmin.d", D_SNAN, D_SNAN, "") == D_CNAN && fflags_take() == FX_NV);
	CHECK(74, FOP2("fsgnj.d", D_ONE, D_NINF, "") == D_M_ONE);
	CHECK(75, FOP2("fsgnjn.d", D_M_ONE, D_M_ONE, "") == D_ONE);
	CHECK(76, FOP2("fsgnjx.d", D_M_ONE, D_NINF, "") == D_ONE);
	CHECK(77, FOP2("fsgnjx.d", D_SNAN, D_ONE, "") == D_SNAN && fflags_take() == 0);  /* no NaN check */
	CHECK(78, FCMP("fle.d", D_NINF, D_PINF) == 1);
	CHECK(79, FCMP("flt.d", D_SNAN, D_ONE) == 0 && fflags_take() == FX_NV);
	CHECK(80, FCMP("feq.d", D_QNANP, D_QNANP) == 0 && fflags_take() == 0);
	CHECK(81, F2X("fclass.d", 0x8000000000000001UL, "") == 1 << 2);
	CHECK(82, F2X("fclass.d", D_SNAN, "") == 1 << 8);
	CHECK(83, F2X("fclass.d", D_QNANP, "") == 1 << 9);
	CHECK(84, F2X("fclass.d", D_NINF, "") == 1 << 0);
	CHECK(85, F2X("fmv.x.d", 0xfedcba9876543210UL, "") == 0xfedcba9876543210UL);
	{
		volatile unsigned long m[2] = { D_SNAN, 0 };
		unsigned long r;

		__asm__ volatile("fld ft0, 0(%1)\n\tfsd ft0, 8(%1)\n\tfmv.x.d %0, ft0"
				 : "=r"(r)
				 : "r"(m)
				 : "ft0", "memory");
		CHECK(86, r == D_SNAN && m[1] == D_SNAN && fflags_take() == 0);
	}
	return 0;
}

int main(void)
{
	RUN(arith());
	RUN(fused());
	RUN(format_conversions());
	RUN(int_conversions());
	RUN(misc());
	return 0;
}
