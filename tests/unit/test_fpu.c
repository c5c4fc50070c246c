/*
 * test_fpu.c - hand-derived vectors for every fpu_ function: each rounding
 * mode on halfway cases, overflow per mode, subnormal results with and
 * without UF (tininess after rounding), NaN rules, fused multiply-add, fmin/
 * fmax, comparisons, fclass, and the saturating conversions at their limits.
 * Broad bit-exactness is shown by tests/fpu/run-diff.sh against qemu-riscv64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fenv.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "cpu/fpu.h"

enum { RNE = FPU_RNE, RTZ = FPU_RTZ, RDN = FPU_RDN, RUP = FPU_RUP, RMM = FPU_RMM };
enum { NX = FPU_NX, UF = FPU_UF, OF = FPU_OF, DZ = FPU_DZ, NV = FPU_NV };

static void check(const char *what, int line, uint64_t got, unsigned got_fl, uint64_t want,
		  unsigned want_fl)
{
	if (got != want || got_fl != want_fl)
		fail_msg("line %d: %s = %#" PRIx64 " flags %#x, want %#" PRIx64 " flags %#x", line,
			 what, got, got_fl, want, want_fl);
}

/* EXPECT(want, want_flags, call using &fl) */
#define EXPECT(want, wfl, call) \
	do { \
		unsigned fl = 0; \
		uint64_t got_ = (uint64_t)(call); \
		check(#call, __LINE__, got_, fl, (uint64_t)(want), (wfl)); \
	} while (0)

/* Single constants */
#define S_ONE 0x3f800000u
#define S_TWO 0x40000000u
#define S_HALF 0x3f000000u
#define S_2M24 0x33800000u /* 2^-24, half an ulp of 1.0 */
#define S_MAX 0x7f7fffffu
#define S_INF 0x7f800000u
#define S_NINF 0xff800000u
#define S_QNAN 0x7fc12345u /* quiet NaN with a payload */
#define S_SNAN 0x7f800001u
#define S_MINSUB 0x00000001u
#define S_MAXSUB 0x007fffffu
#define S_MINNORM 0x00800000u
#define S_NZERO 0x80000000u
#define S_CNAN FPU_CANON_NAN_S

/* Double constants */
#define D_ONE 0x3ff0000000000000ull
#define D_TWO 0x4000000000000000ull
#define D_2M53 0x3ca0000000000000ull
#define D_MAX 0x7fefffffffffffffull
#define D_INF 0x7ff0000000000000ull
#define D_NINF 0xfff0000000000000ull
#define D_QNAN 0x7ff8000000abcdefull
#define D_SNAN 0x7ff0000000000001ull
#define D_MINSUB 0x0000000000000001ull
#define D_MAXSUB 0x000fffffffffffffull
#define D_MINNORM 0x0010000000000000ull
#define D_NZERO 0x8000000000000000ull
#define D_CNAN FPU_CANON_NAN_D

static void test_boxing(void **state)
{
	assert_int_equal(fpu_unbox_s(0xffffffff3f800000ull), S_ONE);
	assert_int_equal(fpu_unbox_s(0x000000003f800000ull), S_CNAN);
	assert_int_equal(fpu_unbox_s(0xfffffffe3f800000ull), S_CNAN);
	assert_true(fpu_box_s(S_ONE) == 0xffffffff3f800000ull);
}

static void test_add_rounding_modes(void **state)
{
	/* 1 + 2^-24 is exactly halfway between 1 and 1+2^-23; even is 1. */
	EXPECT(S_ONE, NX, fpu_add_s(S_ONE, S_2M24, RNE, &fl));
	EXPECT(S_ONE, NX, fpu_add_s(S_ONE, S_2M24, RTZ, &fl));
	EXPECT(S_ONE, NX, fpu_add_s(S_ONE, S_2M24, RDN, &fl));
	EXPECT(0x3f800001u, NX, fpu_add_s(S_ONE, S_2M24, RUP, &fl));
	EXPECT(0x3f800001u, NX, fpu_add_s(S_ONE, S_2M24, RMM, &fl));
	/* Negative halfway: RDN and RMM go away from zero, RUP towards. */
	EXPECT(0xbf800000u, NX, fpu_add_s(0xbf800000u, 0xb3800000u, RNE, &fl));
	EXPECT(0xbf800001u, NX, fpu_add_s(0xbf800000u, 0xb3800000u, RDN, &fl));
	EXPECT(0xbf800000u, NX, fpu_add_s(0xbf800000u, 0xb3800000u, RUP, &fl));
	EXPECT(0xbf800001u, NX, fpu_add_s(0xbf800000u, 0xb3800000u, RMM, &fl));
	EXPECT(0xbf800000u, NX, fpu_add_s(0xbf800000u, 0xb3800000u, RTZ, &fl));
	/* Halfway above an odd significand: RNE rounds up to even, like RMM. */
	EXPECT(0x3f800002u, NX, fpu_add_s(0x3f800001u, S_2M24, RNE, &fl));
	EXPECT(0x3f800002u, NX, fpu_add_s(0x3f800001u, S_2M24, RMM, &fl));
	EXPECT(0x3f800001u, NX, fpu_add_s(0x3f800001u, S_2M24, RTZ, &fl));
	/* Exact sums raise nothing. */
	EXPECT(0x40400000u, 0, fpu_add_s(S_ONE, S_TWO, RNE, &fl));
	EXPECT(0x3f000000u, 0, fpu_sub_s(S_ONE, S_HALF, RNE, &fl));

	EXPECT(D_ONE, NX, fpu_add_d(D_ONE, D_2M53, RNE, &fl));
	EXPECT(D_ONE, NX, fpu_add_d(D_ONE, D_2M53, RTZ, &fl));
	EXPECT(D_ONE, NX, fpu_add_d(D_ONE, D_2M53, RDN, &fl));
	EXPECT(D_ONE + 1, NX, fpu_add_d(D_ONE, D_2M53, RUP, &fl));
	EXPECT(D_ONE + 1, NX, fpu_add_d(D_ONE, D_2M53, RMM, &fl));
	EXPECT(0xbff0000000000001ull, NX, fpu_sub_d(0xbff0000000000000ull, D_2M53, RDN, &fl));
	EXPECT(0xbff0000000000000ull, NX, fpu_sub_d(0xbff0000000000000ull, D_2M53, RUP, &fl));
}

static void test_zero_signs(void **state)
{
	/* x - x is +0, except -0 when rounding down. */
	EXPECT(0, 0, fpu_sub_s(S_ONE, S_ONE, RNE, &fl));
	EXPECT(0, 0, fpu_sub_s(S_ONE, S_ONE, RUP, &fl));
	EXPECT(S_NZERO, 0, fpu_sub_s(S_ONE, S_ONE, RDN, &fl));
	EXPECT(D_NZERO, 0, fpu_add_d(D_ONE, 0xbff0000000000000ull, RDN, &fl));
	EXPECT(0, 0, fpu_add_d(D_ONE, 0xbff0000000000000ull, RMM, &fl));
	/* -0 + -0 is -0; +0 + -0 is +0 (RDN: -0). */
	EXPECT(S_NZERO, 0, fpu_add_s(S_NZERO, S_NZERO, RNE, &fl));
	EXPECT(0, 0, fpu_add_s(0, S_NZERO, RNE, &fl));
	EXPECT(S_NZERO, 0, fpu_add_s(0, S_NZERO, RDN, &fl));
	EXPECT(D_NZERO, 0, fpu_sub_d(D_NZERO, 0, RTZ, &fl));
	/* x + 0 keeps x exactly, even subnormal. */
	EXPECT(S_MINSUB, 0, fpu_add_s(S_MINSUB, S_NZERO, RNE, &fl));
	EXPECT(D_MAXSUB, 0, fpu_add_d(0, D_MAXSUB, RDN, &fl));
	/* Products and quotients of zeros carry the xor of the signs. */
	EXPECT(S_NZERO, 0, fpu_mul_s(S_NZERO, S_ONE, RNE, &fl));
	EXPECT(0, 0, fpu_mul_d(D_NZERO, 0xbff0000000000000ull, RNE, &fl));
	EXPECT(D_NZERO, 0, fpu_div_d(0, 0xbff0000000000000ull, RNE, &fl));
	EXPECT(S_NZERO, 0, fpu_div_s(S_ONE, S_NINF, RNE, &fl));
}

static void test_overflow(void **state)
{
	EXPECT(S_INF, OF | NX, fpu_mul_s(S_MAX, S_TWO, RNE, &fl));
	EXPECT(S_MAX, OF | NX, fpu_mul_s(S_MAX, S_TWO, RTZ, &fl));
	EXPECT(S_MAX, OF | NX, fpu_mul_s(S_MAX, S_TWO, RDN, &fl));
	EXPECT(S_INF, OF | NX, fpu_mul_s(S_MAX, S_TWO, RUP, &fl));
	EXPECT(S_INF, OF | NX, fpu_mul_s(S_MAX, S_TWO, RMM, &fl));
	EXPECT(S_NINF, OF | NX, fpu_mul_s(S_MAX | 0x80000000u, S_TWO, RNE, &fl));
	EXPECT(0xff7fffffu, OF | NX, fpu_mul_s(S_MAX | 0x80000000u, S_TWO, RTZ, &fl));
	EXPECT(S_NINF, OF | NX, fpu_mul_s(S_MAX | 0x80000000u, S_TWO, RDN, &fl));
	EXPECT(0xff7fffffu, OF | NX, fpu_mul_s(S_MAX | 0x80000000u, S_TWO, RUP, &fl));
	/* max + half an ulp: RNE ties to even = overflow; RTZ stays at max without OF. */
	EXPECT(S_INF, OF | NX, fpu_add_s(S_MAX, 0x73000000u, RNE, &fl));
	EXPECT(S_MAX, NX, fpu_add_s(S_MAX, 0x73000000u, RTZ, &fl));
	EXPECT(S_MAX, NX, fpu_add_s(S_MAX, 0x72800000u, RNE, &fl));
	EXPECT(D_INF, OF | NX, fpu_add_d(D_MAX, D_MAX, RNE, &fl));
	EXPECT(D_MAX, OF | NX, fpu_add_d(D_MAX, D_MAX, RTZ, &fl));
	EXPECT(D_NINF, OF | NX, fpu_mul_d(D_MAX, 0xc000000000000000ull, RDN, &fl));
	EXPECT(0xffefffffffffffffull, OF | NX, fpu_mul_d(D_MAX, 0xc000000000000000ull, RUP, &fl));
	/* Division overflow. */
	EXPECT(S_INF, OF | NX, fpu_div_s(S_MAX, S_HALF, RMM, &fl));
}

static void test_underflow(void **state)
{
	/* Exact subnormal results raise nothing. */
	EXPECT(0x00400000u, 0, fpu_mul_s(S_MINNORM, S_HALF, RNE, &fl));
	EXPECT(0x0008000000000000ull, 0, fpu_mul_d(D_MINNORM, 0x3fe0000000000000ull, RNE, &fl));
	/* 2^-150: halfway between 0 and the smallest subnormal. */
	EXPECT(0, UF | NX, fpu_mul_s(S_MINSUB, S_HALF, RNE, &fl));
	EXPECT(0, UF | NX, fpu_mul_s(S_MINSUB, S_HALF, RTZ, &fl));
	EXPECT(0, UF | NX, fpu_mul_s(S_MINSUB, S_HALF, RDN, &fl));
	EXPECT(S_MINSUB, UF | NX, fpu_mul_s(S_MINSUB, S_HALF, RUP, &fl));
	EXPECT(S_MINSUB, UF | NX, fpu_mul_s(S_MINSUB, S_HALF, RMM, &fl));
	EXPECT(S_NZERO | 1, UF | NX, fpu_mul_s(S_MINSUB, 0xbf000000u, RDN, &fl));
	EXPECT(S_NZERO, UF | NX, fpu_mul_s(S_MINSUB, 0xbf000000u, RUP, &fl));
	EXPECT(D_MINSUB, UF | NX, fpu_mul_d(D_MINSUB, 0x3fe0000000000000ull, RMM, &fl));
	EXPECT(0, UF | NX, fpu_mul_d(D_MINSUB, 0x3fe0000000000000ull, RNE, &fl));
	/*
	 * Tininess after rounding: (1+2^-23) * (1-2^-23)*2^-126 = (1-2^-46)*2^-126.
	 * Rounded to 24 bits with unbounded exponent that is 2^-126 in RNE/RUP/RMM,
	 * so the result is not tiny: NX only.  RTZ/RDN leave it below 2^-126: UF.
	 */
	EXPECT(S_MINNORM, NX, fpu_mul_s(0x3f800001u, S_MAXSUB, RNE, &fl));
	EXPECT(S_MINNORM, NX, fpu_mul_s(0x3f800001u, S_MAXSUB, RUP, &fl));
	EXPECT(S_MINNORM, NX, fpu_mul_s(0x3f800001u, S_MAXSUB, RMM, &fl));
	EXPECT(S_MAXSUB, UF | NX, fpu_mul_s(0x3f800001u, S_MAXSUB, RTZ, &fl));
	EXPECT(S_MAXSUB, UF | NX, fpu_mul_s(0x3f800001u, S_MAXSUB, RDN, &fl));
	EXPECT(D_MINNORM, NX, fpu_mul_d(0x3ff0000000000001ull, D_MAXSUB, RNE, &fl));
	EXPECT(D_MAXSUB, UF | NX, fpu_mul_d(0x3ff0000000000001ull, D_MAXSUB, RTZ, &fl));
	/* (1-2^-24)*2^-126 is exact with unbounded exponent: tiny, rounds to 2^-126 in RNE. */
	EXPECT(S_MINNORM, UF | NX, fpu_mul_s(0x3f7fffffu, S_MINNORM, RNE, &fl));
	/* Subnormal operands are used with their full value. */
	EXPECT(0x3f000000u, 0, fpu_div_s(0x00400000u, S_MINNORM, RNE, &fl));
	EXPECT(D_MINSUB, 0, fpu_sub_d(D_MINNORM, D_MAXSUB, RNE, &fl));
}

static void test_nan_rules(void **state)
{
	/* Payloads never propagate; only signalling NaNs raise NV. */
	EXPECT(S_CNAN, 0, fpu_add_s(S_QNAN, S_ONE, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_add_s(S_SNAN, S_ONE, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_mul_s(S_ONE, 0xffbfffffu, RNE, &fl));
	EXPECT(S_CNAN, 0, fpu_sqrt_s(0xffc00001u, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_div_s(S_SNAN, S_QNAN, RNE, &fl));
	EXPECT(D_CNAN, 0, fpu_sub_d(D_QNAN, D_ONE, RNE, &fl));
	EXPECT(D_CNAN, NV, fpu_div_d(D_ONE, D_SNAN, RNE, &fl));
	EXPECT(D_CNAN, NV, fpu_sqrt_d(D_SNAN, RNE, &fl));
	/* Invalid operations. */
	EXPECT(S_CNAN, NV, fpu_add_s(S_INF, S_NINF, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_sub_s(S_INF, S_INF, RNE, &fl));
	EXPECT(S_INF, 0, fpu_add_s(S_INF, S_INF, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_mul_s(0, S_NINF, RNE, &fl));
	EXPECT(D_CNAN, NV, fpu_mul_d(D_INF, D_NZERO, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_div_s(0, S_NZERO, RNE, &fl));
	EXPECT(D_CNAN, NV, fpu_div_d(D_INF, D_NINF, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_sqrt_s(0xbf800000u, RNE, &fl));
	EXPECT(D_CNAN, NV, fpu_sqrt_d(D_NINF, RNE, &fl));
	EXPECT(D_CNAN, NV, fpu_sqrt_d(0x8000000000000001ull, RNE, &fl));
	/* Division by zero. */
	EXPECT(S_INF, DZ, fpu_div_s(S_ONE, 0, RNE, &fl));
	EXPECT(S_NINF, DZ, fpu_div_s(S_ONE, S_NZERO, RTZ, &fl));
	EXPECT(D_NINF, DZ, fpu_div_d(0xbff0000000000000ull, 0, RNE, &fl));
	EXPECT(D_INF, 0, fpu_div_d(D_INF, 0, RNE, &fl));
}

static void test_div_sqrt(void **state)
{
	/* 1/3 = 0x3eaaaaaa|ab...: the discarded part is above half. */
	EXPECT(0x3eaaaaabu, NX, fpu_div_s(S_ONE, 0x40400000u, RNE, &fl));
	EXPECT(0x3eaaaaaau, NX, fpu_div_s(S_ONE, 0x40400000u, RTZ, &fl));
	EXPECT(0x3eaaaaabu, NX, fpu_div_s(S_ONE, 0x40400000u, RUP, &fl));
	EXPECT(0xbeaaaaaau, NX, fpu_div_s(0xbf800000u, 0x40400000u, RUP, &fl));
	EXPECT(0x3fd5555555555555ull, NX, fpu_div_d(D_ONE, 0x4008000000000000ull, RNE, &fl));
	EXPECT(0x3fd5555555555556ull, NX, fpu_div_d(D_ONE, 0x4008000000000000ull, RUP, &fl));
	EXPECT(0x3fe0000000000000ull, 0, fpu_div_d(D_ONE, D_TWO, RNE, &fl));
	/* sqrt(2) = 0x3fb504f3|33..., sqrt(2) double = 0x3ff6a09e667f3bcc|908b.. */
	EXPECT(0x3fb504f3u, NX, fpu_sqrt_s(S_TWO, RNE, &fl));
	EXPECT(0x3fb504f4u, NX, fpu_sqrt_s(S_TWO, RUP, &fl));
	EXPECT(0x3ff6a09e667f3bcdull, NX, fpu_sqrt_d(D_TWO, RNE, &fl));
	EXPECT(0x3ff6a09e667f3bccull, NX, fpu_sqrt_d(D_TWO, RTZ, &fl));
	EXPECT(S_TWO, 0, fpu_sqrt_s(0x40800000u, RNE, &fl));
	EXPECT(0x4008000000000000ull, 0, fpu_sqrt_d(0x4022000000000000ull, RNE, &fl));
	EXPECT(S_NZERO, 0, fpu_sqrt_s(S_NZERO, RNE, &fl));
	EXPECT(D_INF, 0, fpu_sqrt_d(D_INF, RNE, &fl));
	/* sqrt(2^-149) = 2^-74.5: subnormal inputs are fine, the result is normal. */
	EXPECT(0x1a3504f3u, NX, fpu_sqrt_s(S_MINSUB, RNE, &fl));
	EXPECT(0x1e60000000000000ull, 0, fpu_sqrt_d(D_MINSUB, RNE, &fl)); /* 2^-537 */
}

static void test_fma(void **state)
{
	/* (1+2^-12)^2 - (1+2^-11) = 2^-24 exactly: one rounding, no flags. */
	EXPECT(0x33800000u, 0, fpu_fma_s(0x3f800800u, 0x3f800800u, 0x3f801000u, 0, 1, RNE, &fl));
	/* The separate multiply loses that bit. */
	EXPECT(0x3f801000u, NX, fpu_mul_s(0x3f800800u, 0x3f800800u, RNE, &fl));
	/* Exact cancellation: +0, or -0 in RDN. */
	EXPECT(0, 0, fpu_fma_s(S_TWO, 0x40400000u, 0xc0c00000u, 0, 0, RNE, &fl));
	EXPECT(S_NZERO, 0, fpu_fma_s(S_TWO, 0x40400000u, 0xc0c00000u, 0, 0, RDN, &fl));
	EXPECT(0, 0, fpu_fma_d(D_ONE, D_ONE, D_ONE, 0, 1, RUP, &fl));
	EXPECT(D_NZERO, 0, fpu_fma_d(D_ONE, D_ONE, D_ONE, 1, 0, RDN, &fl));
	/* Zero product plus zero: sign rule of addition. */
	EXPECT(S_NZERO, 0, fpu_fma_s(S_NZERO, S_ONE, S_NZERO, 0, 0, RNE, &fl));
	EXPECT(0, 0, fpu_fma_s(S_NZERO, S_ONE, 0, 0, 0, RNE, &fl));
	EXPECT(S_NZERO, 0, fpu_fma_s(0, S_ONE, 0, 1, 1, RNE, &fl));
	/* The four sign variants: 2*3+1, 2*3-1, -(2*3)+1, -(2*3)-1. */
	EXPECT(0x40e00000u, 0, fpu_fma_s(S_TWO, 0x40400000u, S_ONE, 0, 0, RNE, &fl));
	EXPECT(0x40a00000u, 0, fpu_fma_s(S_TWO, 0x40400000u, S_ONE, 0, 1, RNE, &fl));
	EXPECT(0xc0a00000u, 0, fpu_fma_s(S_TWO, 0x40400000u, S_ONE, 1, 0, RNE, &fl));
	EXPECT(0xc0e00000u, 0, fpu_fma_s(S_TWO, 0x40400000u, S_ONE, 1, 1, RNE, &fl));
	EXPECT(0x401c000000000000ull, 0,
	       fpu_fma_d(D_TWO, 0x4008000000000000ull, D_ONE, 0, 0, RNE, &fl));
	/* inf*0 is invalid even with a quiet NaN addend. */
	EXPECT(S_CNAN, NV, fpu_fma_s(S_INF, 0, S_QNAN, 0, 0, RNE, &fl));
	EXPECT(D_CNAN, NV, fpu_fma_d(0, D_NINF, D_QNAN, 0, 0, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_fma_s(S_INF, 0, S_ONE, 0, 0, RNE, &fl));
	EXPECT(S_CNAN, 0, fpu_fma_s(S_QNAN, 0, S_ONE, 0, 0, RNE, &fl));
	EXPECT(D_CNAN, NV, fpu_fma_d(D_ONE, D_ONE, D_SNAN, 0, 0, RNE, &fl));
	/* inf - inf through the addend. */
	EXPECT(S_CNAN, NV, fpu_fma_s(S_INF, S_ONE, S_NINF, 0, 0, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_fma_s(S_INF, S_ONE, S_INF, 0, 1, RNE, &fl));
	EXPECT(S_INF, 0, fpu_fma_s(S_INF, S_ONE, S_INF, 0, 0, RNE, &fl));
	EXPECT(D_NINF, 0, fpu_fma_d(D_ONE, D_ONE, D_INF, 0, 1, RNE, &fl));
	/* Tiny addend decides rounding direction of an otherwise exact product. */
	EXPECT(0x3f800001u, NX, fpu_fma_s(S_ONE, S_ONE, S_MINSUB, 0, 0, RUP, &fl));
	EXPECT(0x3f7fffffu, NX, fpu_fma_s(S_ONE, S_ONE, S_MINSUB, 0, 1, RDN, &fl));
	EXPECT(S_ONE, NX, fpu_fma_s(S_ONE, S_ONE, S_MINSUB, 0, 1, RNE, &fl));
	/* Product overflowing the format but cancelled by the addend stays finite. */
	EXPECT(S_MAX, 0, fpu_fma_s(S_MAX, S_TWO, 0xff7fffffu, 0, 0, RNE, &fl));
	EXPECT(S_MAX, 0, fpu_fma_s(S_MAX, S_TWO, S_MAX, 0, 1, RNE, &fl));
	/* Underflow in fma (2^-75 * 2^-75 = 2^-150 -> halfway to minsub). */
	EXPECT(0, UF | NX, fpu_fma_s(0x1a000000u, 0x1a000000u, 0, 0, 0, RNE, &fl));
	EXPECT(S_MINSUB, UF | NX, fpu_fma_s(0x1a000000u, 0x1a000000u, 0, 0, 0, RMM, &fl));
}

static void test_minmax(void **state)
{
	EXPECT(S_NZERO, 0, fpu_min_s(0, S_NZERO, &fl));
	EXPECT(S_NZERO, 0, fpu_min_s(S_NZERO, 0, &fl));
	EXPECT(0, 0, fpu_max_s(S_NZERO, 0, &fl));
	EXPECT(0, 0, fpu_max_s(0, S_NZERO, &fl));
	EXPECT(D_NZERO, 0, fpu_min_d(D_NZERO, 0, &fl));
	EXPECT(0, 0, fpu_max_d(D_NZERO, 0, &fl));
	EXPECT(0xbf800000u, 0, fpu_min_s(0xbf800000u, S_TWO, &fl));
	EXPECT(S_TWO, 0, fpu_max_s(0xbf800000u, S_TWO, &fl));
	EXPECT(0xc000000000000000ull, 0, fpu_min_d(0xbff0000000000000ull, 0xc000000000000000ull, &fl));
	EXPECT(S_NINF, 0, fpu_min_s(S_NINF, S_MAX, &fl));
	/* One NaN: the other operand; sNaN also raises NV. */
	EXPECT(S_ONE, 0, fpu_min_s(S_QNAN, S_ONE, &fl));
	EXPECT(S_ONE, 0, fpu_max_s(S_ONE, S_QNAN, &fl));
	EXPECT(S_ONE, NV, fpu_max_s(S_SNAN, S_ONE, &fl));
	EXPECT(D_ONE, NV, fpu_min_d(D_ONE, D_SNAN, &fl));
	EXPECT(D_NZERO, 0, fpu_max_d(D_QNAN, D_NZERO, &fl));
	/* Two NaNs: canonical. */
	EXPECT(S_CNAN, 0, fpu_min_s(S_QNAN, 0xffc00000u, &fl));
	EXPECT(S_CNAN, NV, fpu_max_s(S_QNAN, S_SNAN, &fl));
	EXPECT(D_CNAN, 0, fpu_max_d(D_QNAN, D_QNAN, &fl));
	EXPECT(D_CNAN, NV, fpu_min_d(D_SNAN, D_SNAN, &fl));
}

static void test_compare(void **state)
{
	EXPECT(1, 0, fpu_eq_s(0, S_NZERO, &fl));
	EXPECT(0, 0, fpu_lt_s(S_NZERO, 0, &fl));
	EXPECT(1, 0, fpu_le_s(0, S_NZERO, &fl));
	EXPECT(1, 0, fpu_lt_s(0xbf800000u, S_MINSUB, &fl));
	EXPECT(0, 0, fpu_lt_s(S_ONE, S_ONE, &fl));
	EXPECT(1, 0, fpu_le_s(S_ONE, S_ONE, &fl));
	EXPECT(1, 0, fpu_lt_s(0xc0000000u, 0xbf800000u, &fl));
	EXPECT(0, 0, fpu_le_s(0xbf800000u, 0xc0000000u, &fl));
	EXPECT(1, 0, fpu_lt_s(S_MAX, S_INF, &fl));
	EXPECT(1, 0, fpu_eq_d(D_INF, D_INF, &fl));
	EXPECT(1, 0, fpu_lt_d(D_NINF, 0xffefffffffffffffull, &fl));
	EXPECT(0, 0, fpu_lt_d(D_MINSUB, D_NZERO, &fl));
	EXPECT(1, 0, fpu_le_d(D_NZERO, 0, &fl));
	/* feq is quiet: NV only for sNaN; flt/fle signal on any NaN. */
	EXPECT(0, 0, fpu_eq_s(S_QNAN, S_QNAN, &fl));
	EXPECT(0, NV, fpu_eq_s(S_ONE, S_SNAN, &fl));
	EXPECT(0, NV, fpu_lt_s(S_QNAN, S_ONE, &fl));
	EXPECT(0, NV, fpu_le_s(S_ONE, S_QNAN, &fl));
	EXPECT(0, 0, fpu_eq_d(D_QNAN, D_ONE, &fl));
	EXPECT(0, NV, fpu_eq_d(D_SNAN, D_SNAN, &fl));
	EXPECT(0, NV, fpu_lt_d(D_QNAN, D_QNAN, &fl));
	EXPECT(0, NV, fpu_le_d(D_SNAN, D_ONE, &fl));
}

static void test_class(void **state)
{
	assert_int_equal(fpu_class_s(S_NINF), 1 << 0);
	assert_int_equal(fpu_class_s(0xbf800000u), 1 << 1);
	assert_int_equal(fpu_class_s(0x807fffffu), 1 << 2);
	assert_int_equal(fpu_class_s(S_NZERO), 1 << 3);
	assert_int_equal(fpu_class_s(0), 1 << 4);
	assert_int_equal(fpu_class_s(S_MINSUB), 1 << 5);
	assert_int_equal(fpu_class_s(S_MINNORM), 1 << 6);
	assert_int_equal(fpu_class_s(S_INF), 1 << 7);
	assert_int_equal(fpu_class_s(S_SNAN), 1 << 8);
	assert_int_equal(fpu_class_s(0xffbfffffu), 1 << 8);
	assert_int_equal(fpu_class_s(S_QNAN), 1 << 9);
	assert_int_equal(fpu_class_s(0xffc00000u), 1 << 9);
	assert_int_equal(fpu_class_d(D_NINF), 1 << 0);
	assert_int_equal(fpu_class_d(0xffefffffffffffffull), 1 << 1);
	assert_int_equal(fpu_class_d(0x8000000000000001ull), 1 << 2);
	assert_int_equal(fpu_class_d(D_NZERO), 1 << 3);
	assert_int_equal(fpu_class_d(0), 1 << 4);
	assert_int_equal(fpu_class_d(D_MAXSUB), 1 << 5);
	assert_int_equal(fpu_class_d(D_ONE), 1 << 6);
	assert_int_equal(fpu_class_d(D_INF), 1 << 7);
	assert_int_equal(fpu_class_d(D_SNAN), 1 << 8);
	assert_int_equal(fpu_class_d(D_QNAN), 1 << 9);
}

static void test_cvt_s_d(void **state)
{
	/* Exact widening; subnormal singles become normal doubles. */
	EXPECT(D_ONE, 0, fpu_cvt_d_s(S_ONE, &fl));
	EXPECT(0x36a0000000000000ull, 0, fpu_cvt_d_s(S_MINSUB, &fl));
	EXPECT(0xb810000000000000ull, 0, fpu_cvt_d_s(0x80800000u, &fl));
	EXPECT(D_NZERO, 0, fpu_cvt_d_s(S_NZERO, &fl));
	EXPECT(D_NINF, 0, fpu_cvt_d_s(S_NINF, &fl));
	EXPECT(D_CNAN, 0, fpu_cvt_d_s(S_QNAN, &fl));
	EXPECT(D_CNAN, NV, fpu_cvt_d_s(S_SNAN, &fl));
	/* Narrowing: 1 + 2^-24 is a tie. */
	EXPECT(S_ONE, NX, fpu_cvt_s_d(0x3ff0000010000000ull, RNE, &fl));
	EXPECT(0x3f800001u, NX, fpu_cvt_s_d(0x3ff0000010000000ull, RMM, &fl));
	EXPECT(0x3f800001u, NX, fpu_cvt_s_d(0x3ff0000010000000ull, RUP, &fl));
	EXPECT(S_ONE, NX, fpu_cvt_s_d(0x3ff0000010000000ull, RDN, &fl));
	EXPECT(S_ONE, 0, fpu_cvt_s_d(D_ONE, RUP, &fl));
	EXPECT(S_INF, OF | NX, fpu_cvt_s_d(D_MAX, RNE, &fl));
	EXPECT(S_MAX, OF | NX, fpu_cvt_s_d(D_MAX, RTZ, &fl));
	EXPECT(S_INF, 0, fpu_cvt_s_d(D_INF, RTZ, &fl));
	EXPECT(0, UF | NX, fpu_cvt_s_d(0x3690000000000000ull, RNE, &fl)); /* 2^-150 */
	EXPECT(S_MINSUB, UF | NX, fpu_cvt_s_d(0x3690000000000000ull, RUP, &fl));
	EXPECT(S_NZERO | 1, UF | NX, fpu_cvt_s_d(0x8000000000000001ull, RDN, &fl));
	EXPECT(S_NZERO, UF | NX, fpu_cvt_s_d(0x8000000000000001ull, RNE, &fl));
	EXPECT(S_CNAN, 0, fpu_cvt_s_d(D_QNAN, RNE, &fl));
	EXPECT(S_CNAN, NV, fpu_cvt_s_d(D_SNAN, RNE, &fl));
}

#define W_MIN 0xffffffff80000000ull
#define W_MAX 0x7fffffffull
#define L_MIN 0x8000000000000000ull
#define L_MAX 0x7fffffffffffffffull
#define ALL1 0xffffffffffffffffull

static void test_cvt_to_int_rounding(void **state)
{
	/* 2.5 and -2.5 in every mode. */
	EXPECT(2, NX, fpu_cvt_w_s(0x40200000u, RNE, &fl));
	EXPECT(2, NX, fpu_cvt_w_s(0x40200000u, RTZ, &fl));
	EXPECT(2, NX, fpu_cvt_w_s(0x40200000u, RDN, &fl));
	EXPECT(3, NX, fpu_cvt_w_s(0x40200000u, RUP, &fl));
	EXPECT(3, NX, fpu_cvt_w_s(0x40200000u, RMM, &fl));
	EXPECT((uint64_t)-2, NX, fpu_cvt_w_s(0xc0200000u, RNE, &fl));
	EXPECT((uint64_t)-2, NX, fpu_cvt_w_s(0xc0200000u, RTZ, &fl));
	EXPECT((uint64_t)-3, NX, fpu_cvt_w_s(0xc0200000u, RDN, &fl));
	EXPECT((uint64_t)-2, NX, fpu_cvt_w_s(0xc0200000u, RUP, &fl));
	EXPECT((uint64_t)-3, NX, fpu_cvt_w_s(0xc0200000u, RMM, &fl));
	EXPECT(4, NX, fpu_cvt_l_d(0x400c000000000000ull, RNE, &fl)); /* 3.5 */
	EXPECT(0, NX, fpu_cvt_l_d(0x3fe0000000000000ull, RNE, &fl)); /* 0.5 */
	EXPECT(1, NX, fpu_cvt_l_d(0x3fe0000000000000ull, RMM, &fl));
	EXPECT(1, NX, fpu_cvt_lu_s(S_MINSUB, RUP, &fl));
	EXPECT(0, NX, fpu_cvt_lu_s(S_MINSUB, RNE, &fl));
	EXPECT((uint64_t)-1, NX, fpu_cvt_l_s(S_NZERO | 1, RDN, &fl));
	EXPECT(0, 0, fpu_cvt_w_s(S_NZERO, RNE, &fl));
	EXPECT(0, 0, fpu_cvt_lu_d(D_NZERO, RDN, &fl));
	EXPECT(7, 0, fpu_cvt_wu_d(0x401c000000000000ull, RNE, &fl));
}

static void test_cvt_to_int_limits(void **state)
{
	/* fcvt.w: 2^31 overflows; -2^31 fits; 2^31-0.5 is a tie that RNE rounds to 2^31. */
	EXPECT(W_MAX, NV, fpu_cvt_w_s(0x4f000000u, RTZ, &fl));
	EXPECT(W_MIN, 0, fpu_cvt_w_s(0xcf000000u, RNE, &fl));
	EXPECT(0x7fffff80ull, 0, fpu_cvt_w_s(0x4effffffu, RNE, &fl));
	EXPECT(W_MAX, NV, fpu_cvt_w_d(0x41dfffffffe00000ull, RNE, &fl));
	EXPECT(W_MAX, NX, fpu_cvt_w_d(0x41dfffffffe00000ull, RTZ, &fl));
	EXPECT(W_MAX, NX, fpu_cvt_w_d(0x41dfffffffe00000ull, RDN, &fl));
	EXPECT(W_MAX, NV, fpu_cvt_w_d(0x41dfffffffe00000ull, RUP, &fl));
	EXPECT(W_MAX, NV, fpu_cvt_w_d(0x41dfffffffe00000ull, RMM, &fl));
	EXPECT(W_MAX, 0, fpu_cvt_w_d(0x41dfffffffc00000ull, RNE, &fl));
	/* -2^31-1 overflows; -2^31-0.5 only where it rounds away from zero. */
	EXPECT(W_MIN, NV, fpu_cvt_w_d(0xc1e0000000200000ull, RTZ, &fl));
	EXPECT(W_MIN, NX, fpu_cvt_w_d(0xc1e0000000100000ull, RNE, &fl));
	EXPECT(W_MIN, NX, fpu_cvt_w_d(0xc1e0000000100000ull, RTZ, &fl));
	EXPECT(W_MIN, NX, fpu_cvt_w_d(0xc1e0000000100000ull, RUP, &fl));
	EXPECT(W_MIN, NV, fpu_cvt_w_d(0xc1e0000000100000ull, RDN, &fl));
	EXPECT(W_MIN, NV, fpu_cvt_w_d(0xc1e0000000100000ull, RMM, &fl));
	/* NaN gives the largest positive value; infinities saturate by sign. */
	EXPECT(W_MAX, NV, fpu_cvt_w_s(S_QNAN, RNE, &fl));
	EXPECT(W_MAX, NV, fpu_cvt_w_s(0xffc00000u, RNE, &fl));
	EXPECT(W_MAX, NV, fpu_cvt_w_d(D_INF, RNE, &fl));
	EXPECT(W_MIN, NV, fpu_cvt_w_d(D_NINF, RNE, &fl));
	/* fcvt.wu: results are sign-extended; negatives that round to 0 are only inexact. */
	EXPECT(ALL1, 0, fpu_cvt_wu_d(0x41efffffffe00000ull, RNE, &fl)); /* 2^32-1 */
	EXPECT(0xffffffff80000000ull, 0, fpu_cvt_wu_s(0x4f000000u, RNE, &fl)); /* 2^31 */
	EXPECT(ALL1, NV, fpu_cvt_wu_d(0x41f0000000000000ull, RNE, &fl)); /* 2^32 */
	EXPECT(ALL1, NV, fpu_cvt_wu_s(S_SNAN, RNE, &fl));
	EXPECT(ALL1, NV, fpu_cvt_wu_s(S_INF, RNE, &fl));
	EXPECT(0, NV, fpu_cvt_wu_s(S_NINF, RNE, &fl));
	EXPECT(0, NV, fpu_cvt_wu_d(0xbff0000000000000ull, RNE, &fl));
	EXPECT(0, NX, fpu_cvt_wu_d(0xbfe0000000000000ull, RNE, &fl)); /* -0.5 -> -0 */
	EXPECT(0, NV, fpu_cvt_wu_d(0xbfe0000000000000ull, RDN, &fl)); /* -0.5 -> -1 */
	EXPECT(0, NX, fpu_cvt_wu_s(0xbf400000u, RTZ, &fl));            /* -0.75 */
	EXPECT(0, NV, fpu_cvt_wu_s(0xbf400000u, RMM, &fl));
	/* fcvt.l / fcvt.lu at 2^63 and 2^64. */
	EXPECT(L_MAX, NV, fpu_cvt_l_d(0x43e0000000000000ull, RNE, &fl));
	EXPECT(L_MIN, 0, fpu_cvt_l_d(0xc3e0000000000000ull, RNE, &fl));
	EXPECT(L_MIN, NV, fpu_cvt_l_d(0xc3e0000000000001ull, RNE, &fl));
	EXPECT(0x7ffffffffffffc00ull, 0, fpu_cvt_l_d(0x43dfffffffffffffull, RNE, &fl));
	EXPECT(L_MAX, NV, fpu_cvt_l_s(0x5f000000u, RNE, &fl));
	EXPECT(L_MIN, 0, fpu_cvt_l_s(0xdf000000u, RNE, &fl));
	EXPECT(L_MAX, NV, fpu_cvt_l_s(S_QNAN, RNE, &fl));
	EXPECT(L_MIN, NV, fpu_cvt_l_s(S_NINF, RNE, &fl));
	EXPECT(L_MIN, 0, fpu_cvt_lu_d(0x43e0000000000000ull, RNE, &fl));
	EXPECT(0xfffffffffffff800ull, 0, fpu_cvt_lu_d(0x43efffffffffffffull, RNE, &fl));
	EXPECT(ALL1, NV, fpu_cvt_lu_d(0x43f0000000000000ull, RNE, &fl));
	EXPECT(ALL1, NV, fpu_cvt_lu_d(D_QNAN, RNE, &fl));
	EXPECT(ALL1, NV, fpu_cvt_lu_s(0x7fffffffu, RNE, &fl));
	EXPECT(0, NV, fpu_cvt_lu_d(D_NINF, RNE, &fl));
	EXPECT(0, NV, fpu_cvt_lu_s(0xbf800000u, RNE, &fl));
	EXPECT(0, NV, fpu_cvt_lu_d(D_MAX | D_NZERO, RTZ, &fl));
}

static void test_cvt_from_int(void **state)
{
	/* 2^24+1 is a tie in single precision. */
	EXPECT(0x4b800000u, NX, fpu_cvt_s_w(0x1000001, RNE, &fl));
	EXPECT(0x4b800000u, NX, fpu_cvt_s_w(0x1000001, RTZ, &fl));
	EXPECT(0x4b800001u, NX, fpu_cvt_s_w(0x1000001, RUP, &fl));
	EXPECT(0x4b800001u, NX, fpu_cvt_s_w(0x1000001, RMM, &fl));
	EXPECT(0xcb800001u, NX, fpu_cvt_s_w((uint64_t)-0x1000001, RDN, &fl));
	EXPECT(0xcb800000u, NX, fpu_cvt_s_w((uint64_t)-0x1000001, RUP, &fl));
	/* .w uses the low 32 bits, signed; .wu unsigned. */
	EXPECT(0xcf000000u, 0, fpu_cvt_s_w(0x80000000u, RNE, &fl));
	EXPECT(0x4f000000u, 0, fpu_cvt_s_wu(0x80000000u, RNE, &fl));
	EXPECT(S_ONE, 0, fpu_cvt_s_w(0x100000001ull, RNE, &fl));
	EXPECT(S_TWO, 0, fpu_cvt_s_wu(0xffffffff00000002ull, RNE, &fl));
	EXPECT(0x4f800000u, NX, fpu_cvt_s_wu(0xffffffffu, RNE, &fl));
	EXPECT(0x4f7fffffu, NX, fpu_cvt_s_wu(0xffffffffu, RTZ, &fl));
	EXPECT(0, 0, fpu_cvt_s_l(0, RDN, &fl));
	EXPECT(0xdf000000u, 0, fpu_cvt_s_l(L_MIN, RNE, &fl));
	EXPECT(0x5f800000u, NX, fpu_cvt_s_lu(ALL1, RNE, &fl));
	EXPECT(0x5f7fffffu, NX, fpu_cvt_s_lu(ALL1, RDN, &fl));
	EXPECT(0xbf800000u, 0, fpu_cvt_s_l(ALL1, RNE, &fl));
	/* Doubles: w/wu exact, l/lu round above 2^53. */
	EXPECT(0xc1e0000000000000ull, 0, fpu_cvt_d_w(0x80000000u, RNE, &fl));
	EXPECT(0x41efffffffe00000ull, 0, fpu_cvt_d_wu(0xffffffffu, RNE, &fl));
	EXPECT(0xbff0000000000000ull, 0, fpu_cvt_d_w(ALL1, RNE, &fl));
	EXPECT(D_ONE, 0, fpu_cvt_d_wu(0xffffffff00000001ull, RNE, &fl));
	EXPECT(0xc3e0000000000000ull, 0, fpu_cvt_d_l(L_MIN, RNE, &fl));
	EXPECT(0x4340000000000000ull, NX, fpu_cvt_d_l(0x20000000000001ull, RNE, &fl));
	EXPECT(0x4340000000000001ull, NX, fpu_cvt_d_l(0x20000000000001ull, RMM, &fl));
	EXPECT(0x4340000000000002ull, NX, fpu_cvt_d_l(0x20000000000003ull, RNE, &fl));
	EXPECT(0x43f0000000000000ull, NX, fpu_cvt_d_lu(ALL1, RNE, &fl));
	EXPECT(0x43efffffffffffffull, NX, fpu_cvt_d_lu(ALL1, RTZ, &fl));
	EXPECT(0, 0, fpu_cvt_d_lu(0, RNE, &fl));
}

/* The unused-flag-bits contract: functions only OR into *flags. */
static void test_flags_accumulate(void **state)
{
	unsigned fl = FPU_DZ;
	(void)fpu_add_s(S_ONE, S_2M24, RNE, &fl);
	assert_int_equal(fl, FPU_DZ | FPU_NX);
	(void)fpu_mul_d(D_ONE, D_ONE, RNE, &fl);
	assert_int_equal(fl, FPU_DZ | FPU_NX);
}

/* The fast paths' precondition holds in a test process, and is really checked. */
static void test_host_env(void **state)
{
	assert_true(fpu_host_ok());
	assert_int_equal(fesetround(FE_UPWARD), 0);
	assert_false(fpu_host_ok());
	assert_int_equal(fesetround(FE_TONEAREST), 0);
	assert_true(fpu_host_ok());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boxing),
		cmocka_unit_test(test_add_rounding_modes),
		cmocka_unit_test(test_zero_signs),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_underflow),
		cmocka_unit_test(test_nan_rules),
		cmocka_unit_test(test_div_sqrt),
		cmocka_unit_test(test_fma),
		cmocka_unit_test(test_minmax),
		cmocka_unit_test(test_compare),
		cmocka_unit_test(test_class),
		cmocka_unit_test(test_cvt_s_d),
		cmocka_unit_test(test_cvt_to_int_rounding),
		cmocka_unit_test(test_cvt_to_int_limits),
		cmocka_unit_test(test_cvt_from_int),
		cmocka_unit_test(test_flags_accumulate),
		cmocka_unit_test(test_host_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
