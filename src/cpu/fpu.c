/*
 * fpu.c - RISC-V F and D arithmetic, bit-exact to the spec.
 *
 * The reference path is pure software: every operation unpacks its operands
 * to (sign, exponent, 63-bit significand), computes the exact result or a
 * result with a sticky bit (integer arithmetic, 128-bit where needed), and
 * hands it to one rounding routine that implements all five rounding modes,
 * tininess after rounding, and the flags.  In round-to-nearest-even, where
 * nothing can overflow or underflow, host arithmetic produces the same bits
 * and the inexact flag is computed exactly (TwoSum, integer significand
 * products), so the common case needs no mode switch and no host flag reads.
 * docs/FPU.md explains the choice and the exact fast-path conditions.
 */
#include "cpu/fpu.h"

#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

typedef unsigned __int128 u128;

/*
 * Format parameters: F fraction bits, BIAS, and the all-ones biased exponent.
 * Internally a finite non-zero value is sig * 2^(e - 62) with bit 62 of sig
 * set, so both formats share the arithmetic and the rounding code.
 */
#define S_F 23
#define S_BIAS 127
#define S_EMAX 0xff
#define D_F 52
#define D_BIAS 1023
#define D_EMAX 0x7ff

enum fcls { C_ZERO, C_FIN, C_INF, C_QNAN, C_SNAN };

struct unp {
	enum fcls cls;
	int sign;
	int e;        /* unbiased exponent of the leading bit */
	uint64_t sig; /* leading bit at 62 */
};

static inline int clz64(uint64_t v) { return __builtin_clzll(v); }

static inline int clz128(u128 v)
{
	uint64_t hi = (uint64_t)(v >> 64);
	return hi ? clz64(hi) : 64 + clz64((uint64_t)v);
}

/* Shift right keeping a sticky bit: any 1 shifted out sets bit 0. */
static inline uint64_t jam64(uint64_t v, int d)
{
	if (d <= 0)
		return v;
	if (d >= 64)
		return v != 0;
	return (v >> d) | ((v & ((1ull << d) - 1)) != 0);
}

static inline u128 jam128(u128 v, int d)
{
	if (d <= 0)
		return v;
	if (d >= 128)
		return v != 0;
	return (v >> d) | ((v & (((u128)1 << d) - 1)) != 0);
}

static inline struct unp unpack(uint64_t bits, int F, int bias, int emax)
{
	struct unp u;
	int width = F + (emax == S_EMAX ? 8 : 11) + 1;
	uint64_t frac = bits & ((1ull << F) - 1);
	int ef = (int)((bits >> F) & (uint64_t)emax);

	u.sign = (int)((bits >> (width - 1)) & 1);
	u.e = 0;
	u.sig = 0;
	if (ef == emax) {
		if (frac == 0)
			u.cls = C_INF;
		else
			u.cls = (frac >> (F - 1)) & 1 ? C_QNAN : C_SNAN;
		return u;
	}
	if (ef == 0) {
		if (frac == 0) {
			u.cls = C_ZERO;
			return u;
		}
		int sh = clz64(frac) - 1;
		u.cls = C_FIN;
		u.sig = frac << sh;
		/* frac << (62 - F) would be the value at exponent 1 - bias */
		u.e = 1 - bias - (sh - (62 - F));
		return u;
	}
	u.cls = C_FIN;
	u.sig = ((1ull << F) | frac) << (62 - F);
	u.e = ef - bias;
	return u;
}

static inline struct unp unpack_s(uint32_t a) { return unpack(a, S_F, S_BIAS, S_EMAX); }
static inline struct unp unpack_d(uint64_t a) { return unpack(a, D_F, D_BIAS, D_EMAX); }

static inline bool is_nan(const struct unp *u) { return u->cls == C_QNAN || u->cls == C_SNAN; }

/* Whether discarding rem (with half = the weight of the first discarded bit) rounds up. */
static inline bool round_up(unsigned rm, int sign, uint64_t lsb, uint64_t rem, uint64_t half)
{
	switch (rm) {
	case FPU_RNE:
		return rem > half || (rem == half && lsb);
	case FPU_RMM:
		return rem >= half;
	case FPU_RDN:
		return rem && sign;
	case FPU_RUP:
		return rem && !sign;
	default:
		return false;
	}
}

static inline uint64_t pack(int F, int emax, int sign, uint64_t efield, uint64_t frac)
{
	int width = F + (emax == S_EMAX ? 8 : 11) + 1;
	return ((uint64_t)sign << (width - 1)) | (efield << F) | frac;
}

static inline uint64_t inf_of(int F, int emax, int sign) { return pack(F, emax, sign, (uint64_t)emax, 0); }

/*
 * Rounds sign * sig * 2^x (sig != 0; bit 0 may be a sticky bit) to the format.
 * Tininess is detected after rounding, as RISC-V requires: a result whose
 * exponent-unbounded rounding reaches the smallest normal is not tiny.
 */
static inline uint64_t round_pack(int F, int bias, int emax, int sign, int x, uint64_t sig,
				  unsigned rm, unsigned *flags)
{
	const int sh = 62 - F;
	const uint64_t rmask = (1ull << sh) - 1, half = 1ull << (sh - 1);
	int p = 63 - clz64(sig);
	int be = x + p + bias;

	if (p == 63)
		sig = jam64(sig, 1);
	else
		sig <<= 62 - p;

	if (be >= 1) {
		uint64_t rem = sig & rmask, m = sig >> sh;

		m += round_up(rm, sign, m & 1, rem, half);
		if (m >> (F + 1)) {
			m >>= 1;
			be++;
		}
		if (be >= emax) {
			*flags |= FPU_OF | FPU_NX;
			bool to_inf = rm == FPU_RNE || rm == FPU_RMM || (rm == FPU_RDN && sign) ||
				      (rm == FPU_RUP && !sign);
			if (to_inf)
				return inf_of(F, emax, sign);
			return pack(F, emax, sign, (uint64_t)emax - 1, (1ull << F) - 1);
		}
		if (rem)
			*flags |= FPU_NX;
		return pack(F, emax, sign, (uint64_t)be, m & ((1ull << F) - 1));
	}

	bool tiny = true;
	if (be == 0) {
		uint64_t m = sig >> sh;
		m += round_up(rm, sign, m & 1, sig & rmask, half);
		tiny = !(m >> (F + 1));
	}
	sig = jam64(sig, 1 - be);
	uint64_t rem = sig & rmask, m = sig >> sh;
	m += round_up(rm, sign, m & 1, rem, half);
	if (rem) {
		*flags |= FPU_NX;
		if (tiny)
			*flags |= FPU_UF;
	}
	/* A carry into bit F makes the exponent field 1: the smallest normal. */
	return pack(F, emax, sign, 0, m);
}

#define RP_S(sign, x, sig, rm, fl) ((uint32_t)round_pack(S_F, S_BIAS, S_EMAX, sign, x, sig, rm, fl))
#define RP_D(sign, x, sig, rm, fl) round_pack(D_F, D_BIAS, D_EMAX, sign, x, sig, rm, fl)

/* ---- host fast paths (round to nearest even only) ----------------------------
 *
 * In RNE the host's binary32/binary64 arithmetic (SSE on x86-64) gives the
 * RISC-V result bit for bit whenever no NaN, infinity, overflow or underflow
 * is involved; only the inexact flag has to be found, and that is done with
 * exact arithmetic instead of reading the host's flags: TwoSum for addition,
 * an integer significand product for mul/div/sqrt.  Operands or results
 * outside that safe window fall back to the software path, which handles
 * everything.  This relies on the C default floating-point environment
 * (round to nearest, gradual underflow, no excess precision), which the
 * monitor never changes.
 */
#define HOST_FAST (FLT_EVAL_METHOD == 0)

static inline double d_of(uint64_t v) { double d; memcpy(&d, &v, 8); return d; }
static inline uint64_t bits_d(double d) { uint64_t v; memcpy(&v, &d, 8); return v; }
static inline float f_of(uint32_t v) { float f; memcpy(&f, &v, 4); return f; }
static inline uint32_t bits_f(float f) { uint32_t v; memcpy(&v, &f, 4); return v; }

static inline unsigned ef_d(uint64_t v) { return (unsigned)(v >> 52) & 0x7ff; }
static inline unsigned ef_s(uint32_t v) { return (v >> 23) & 0xff; }
static inline uint64_t sig_d(uint64_t v) { return (v & ((1ull << 52) - 1)) | (1ull << 52); }

/*
 * Addends below 2^(emax-2) cannot overflow TwoSum's intermediates; sums of
 * floating-point numbers that land in the subnormal range are always exact, so
 * addition never raises UF and only NX is left to find.
 */
static inline bool add_ok_d(uint64_t v) { return ef_d(v) < D_EMAX - 2; }
static inline bool add_ok_s(uint32_t v) { return ef_s(v) < S_EMAX - 2; }
/* Normal, finite operands for mul/div/sqrt. */
static inline bool norm_d(uint64_t v) { return ef_d(v) - 1 < D_EMAX - 1; }
static inline bool norm_s(uint32_t v) { return ef_s(v) - 1 < S_EMAX - 1; }
/*
 * A result with a biased exponent of at least 2 is above 2^emin by more than an
 * ulp, so neither the result nor the exact value is tiny; a finite one did
 * not overflow.
 */
static inline bool res_ok_d(uint64_t r) { return ef_d(r) - 2 < D_EMAX - 2; }
static inline bool res_ok_s(uint32_t r) { return ef_s(r) - 2 < S_EMAX - 2; }

/* Knuth's TwoSum: the rounding error of s = x + y, exactly. */
static inline double two_sum_err_d(double x, double y, double s)
{
	double bb = s - x;
	return (x - (s - bb)) + (y - bb);
}

static inline float two_sum_err_f(float x, float y, float s)
{
	float bb = s - x;
	return (x - (s - bb)) + (y - bb);
}

static inline bool fast_add_d(uint64_t a, uint64_t b, uint64_t *r, unsigned *flags)
{
	if (!(HOST_FAST && add_ok_d(a) && add_ok_d(b)))
		return false;
	double x = d_of(a), y = d_of(b), s = x + y;
	if (two_sum_err_d(x, y, s) != 0)
		*flags |= FPU_NX;
	*r = bits_d(s);
	return true;
}

static inline bool fast_add_s(uint32_t a, uint32_t b, uint32_t *r, unsigned *flags)
{
	if (!(HOST_FAST && add_ok_s(a) && add_ok_s(b)))
		return false;
	float x = f_of(a), y = f_of(b), s = x + y;
	if (two_sum_err_f(x, y, s) != 0)
		*flags |= FPU_NX;
	*r = bits_f(s);
	return true;
}

/* The product of the 53-bit significands fits in 53 bits exactly when the rest is zero. */
static inline bool fast_mul_d(uint64_t a, uint64_t b, uint64_t *r, unsigned *flags)
{
	if (!(HOST_FAST && norm_d(a) && norm_d(b)))
		return false;
	uint64_t v = bits_d(d_of(a) * d_of(b));
	if (!res_ok_d(v))
		return false;
	u128 p = (u128)sig_d(a) * sig_d(b); /* in [2^104, 2^106) */
	int low = 52 + (int)(p >> 105);
	if ((uint64_t)p & ((1ull << low) - 1))
		*flags |= FPU_NX;
	*r = v;
	return true;
}

/* Single products are exact in double. */
static inline bool fast_mul_s(uint32_t a, uint32_t b, uint32_t *r, unsigned *flags)
{
	if (!(HOST_FAST && norm_s(a) && norm_s(b)))
		return false;
	float x = f_of(a), y = f_of(b), q = x * y;
	uint32_t v = bits_f(q);
	if (!res_ok_s(v))
		return false;
	if ((double)q != (double)x * (double)y)
		*flags |= FPU_NX;
	*r = v;
	return true;
}

/* a / b = q exactly iff sig(q) * sig(b) == sig(a) scaled by the exponents. */
static inline bool fast_div_d(uint64_t a, uint64_t b, uint64_t *r, unsigned *flags)
{
	if (!(HOST_FAST && norm_d(a) && norm_d(b)))
		return false;
	uint64_t v = bits_d(d_of(a) / d_of(b));
	if (!res_ok_d(v))
		return false;
	int sh = (int)ef_d(a) - (int)ef_d(b) - (int)ef_d(v) + D_BIAS + 52;
	u128 p = (u128)sig_d(v) * sig_d(b);
	if (!((sh == 52 || sh == 53) && p == (u128)sig_d(a) << sh))
		*flags |= FPU_NX;
	*r = v;
	return true;
}

static inline bool fast_div_s(uint32_t a, uint32_t b, uint32_t *r, unsigned *flags)
{
	if (!(HOST_FAST && norm_s(a) && norm_s(b)))
		return false;
	float x = f_of(a), y = f_of(b), q = x / y;
	uint32_t v = bits_f(q);
	if (!res_ok_s(v))
		return false;
	if ((double)q * (double)y != (double)x)
		*flags |= FPU_NX;
	*r = v;
	return true;
}

/* The square root of a positive normal number is normal. */
static inline bool fast_sqrt_d(uint64_t a, uint64_t *r, unsigned *flags)
{
	if (!(HOST_FAST && norm_d(a) && !(a >> 63)))
		return false;
	uint64_t v = bits_d(sqrt(d_of(a)));
	int sh = (int)ef_d(a) - 2 * (int)ef_d(v) + D_BIAS + 52;
	u128 p = (u128)sig_d(v) * sig_d(v);
	if (!((sh == 52 || sh == 53) && p == (u128)sig_d(a) << sh))
		*flags |= FPU_NX;
	*r = v;
	return true;
}

static inline bool fast_sqrt_s(uint32_t a, uint32_t *r, unsigned *flags)
{
	if (!(HOST_FAST && norm_s(a) && !(a >> 31)))
		return false;
	float x = f_of(a), q = sqrtf(x);
	if ((double)q * (double)q != (double)x)
		*flags |= FPU_NX;
	*r = bits_f(q);
	return true;
}

/*
 * Single fma through double: the product is exact in double; if the double sum
 * is exact too, or is not a single-precision midpoint, rounding it to single
 * gives the correctly rounded fma (a double rounding can only go wrong when
 * the first rounding lands exactly on a midpoint of the second format).
 */
static inline bool fast_fma_s(uint32_t a, uint32_t b, uint32_t c, uint32_t *r, unsigned *flags)
{
	if (!(HOST_FAST && ef_s(a) != S_EMAX && ef_s(b) != S_EMAX && ef_s(c) != S_EMAX))
		return false;
	double p = (double)f_of(a) * (double)f_of(b), z = (double)f_of(c);
	double s = p + z, err = two_sum_err_d(p, z, s);
	uint64_t sb = bits_d(s);
	if (err != 0 && (sb & ((1ull << 29) - 1)) == (1ull << 28))
		return false;
	float q = (float)s;
	uint32_t v = bits_f(q);
	if (!res_ok_s(v))
		return false;
	if (err != 0 || (double)q != s)
		*flags |= FPU_NX;
	*r = v;
	return true;
}

/*
 * Double fma needs the host's fused multiply-add (FMA3 on x86-64, checked at
 * run time; always present on aarch64).  With every operand within 2^+-400
 * nothing can overflow or underflow, and r = RN(ab + c) is exact iff the
 * error-free pairs ab = u1 + u2 (TwoProduct) and r - c = t + e (TwoSum) are
 * the same pair: both are normalised by round-to-nearest, so a real number
 * has only one such pair.
 */
#if defined(__x86_64__)
#define FMA_TARGET __attribute__((target("fma")))
#define HOST_HAS_FMA() __builtin_cpu_supports("fma")
#elif defined(__aarch64__)
#define FMA_TARGET
#define HOST_HAS_FMA() 1
#else
#define FMA_TARGET
#define HOST_HAS_FMA() 0
#endif

static inline bool fma_window_d(uint64_t v) { return ef_d(v) - (D_BIAS - 400) <= 800; }

static FMA_TARGET bool fast_fma_d_hw(double x, double y, double z, uint64_t *r, unsigned *flags)
{
	double r1 = __builtin_fma(x, y, z);
	double u1 = x * y, u2 = __builtin_fma(x, y, -u1);
	double t = r1 - z, e = two_sum_err_d(r1, -z, t);
	if (u1 != t || u2 != e)
		*flags |= FPU_NX;
	*r = bits_d(r1);
	return true;
}

static inline bool fast_fma_d(uint64_t a, uint64_t b, uint64_t c, uint64_t *r, unsigned *flags)
{
	if (!(HOST_FAST && fma_window_d(a) && fma_window_d(b) &&
	      (fma_window_d(c) || (c << 1) == 0) && HOST_HAS_FMA()))
		return false;
	return fast_fma_d_hw(d_of(a), d_of(b), d_of(c), r, flags);
}

/*
 * Conversions.  Host conversions round to nearest; whether they were exact is
 * read off the operand: an integer is exact in a format iff its significant
 * bits fit the significand.
 */
static inline bool int_fits(uint64_t mag, int prec)
{
	return mag == 0 || 64 - clz64(mag) - __builtin_ctzll(mag) <= prec;
}

/* ---- add / sub ------------------------------------------------------------ */

static inline uint64_t add_gen(int F, int bias, int emax, struct unp a, struct unp b, unsigned rm,
			       unsigned *flags)
{
	if (is_nan(&a) || is_nan(&b)) {
		if (a.cls == C_SNAN || b.cls == C_SNAN)
			*flags |= FPU_NV;
		return F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
	}
	if (a.cls == C_INF || b.cls == C_INF) {
		if (a.cls == C_INF && b.cls == C_INF && a.sign != b.sign) {
			*flags |= FPU_NV;
			return F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
		}
		return inf_of(F, emax, a.cls == C_INF ? a.sign : b.sign);
	}
	if (a.cls == C_ZERO && b.cls == C_ZERO) {
		int s = a.sign == b.sign ? a.sign : rm == FPU_RDN;
		return pack(F, emax, s, 0, 0);
	}
	/* x + 0 is x exactly; round_pack re-encodes it without raising anything. */
	if (a.cls == C_ZERO)
		return round_pack(F, bias, emax, b.sign, b.e - 62, b.sig, rm, flags);
	if (b.cls == C_ZERO)
		return round_pack(F, bias, emax, a.sign, a.e - 62, a.sig, rm, flags);

	if (a.e < b.e || (a.e == b.e && a.sig < b.sig)) {
		struct unp t = a;
		a = b;
		b = t;
	}
	uint64_t bs = jam64(b.sig, a.e - b.e);
	uint64_t sig;
	if (a.sign == b.sign) {
		sig = a.sig + bs;
	} else {
		sig = a.sig - bs;
		if (sig == 0)
			return pack(F, emax, rm == FPU_RDN, 0, 0);
	}
	return round_pack(F, bias, emax, a.sign, a.e - 62, sig, rm, flags);
}

uint32_t fpu_add_s(uint32_t a, uint32_t b, unsigned rm, unsigned *flags)
{
	uint32_t r;
	if (rm == FPU_RNE && fast_add_s(a, b, &r, flags))
		return r;
	return (uint32_t)add_gen(S_F, S_BIAS, S_EMAX, unpack_s(a), unpack_s(b), rm, flags);
}

uint32_t fpu_sub_s(uint32_t a, uint32_t b, unsigned rm, unsigned *flags)
{
	uint32_t r;
	if (rm == FPU_RNE && fast_add_s(a, b ^ 0x80000000u, &r, flags))
		return r;
	return (uint32_t)add_gen(S_F, S_BIAS, S_EMAX, unpack_s(a), unpack_s(b ^ 0x80000000u), rm,
				 flags);
}

uint64_t fpu_add_d(uint64_t a, uint64_t b, unsigned rm, unsigned *flags)
{
	uint64_t r;
	if (rm == FPU_RNE && fast_add_d(a, b, &r, flags))
		return r;
	return add_gen(D_F, D_BIAS, D_EMAX, unpack_d(a), unpack_d(b), rm, flags);
}

uint64_t fpu_sub_d(uint64_t a, uint64_t b, unsigned rm, unsigned *flags)
{
	uint64_t r;
	if (rm == FPU_RNE && fast_add_d(a, b ^ (1ull << 63), &r, flags))
		return r;
	return add_gen(D_F, D_BIAS, D_EMAX, unpack_d(a), unpack_d(b ^ (1ull << 63)), rm, flags);
}

/* ---- mul ------------------------------------------------------------------ */

static inline uint64_t mul_gen(int F, int bias, int emax, struct unp a, struct unp b, unsigned rm,
			       unsigned *flags)
{
	int sign = a.sign ^ b.sign;

	if (is_nan(&a) || is_nan(&b)) {
		if (a.cls == C_SNAN || b.cls == C_SNAN)
			*flags |= FPU_NV;
		return F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
	}
	if (a.cls == C_INF || b.cls == C_INF) {
		if (a.cls == C_ZERO || b.cls == C_ZERO) {
			*flags |= FPU_NV;
			return F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
		}
		return inf_of(F, emax, sign);
	}
	if (a.cls == C_ZERO || b.cls == C_ZERO)
		return pack(F, emax, sign, 0, 0);

	/* Both significands are in [2^62, 2^63): the product is in [2^124, 2^126). */
	u128 p = (u128)a.sig * b.sig;
	uint64_t sig = (uint64_t)(p >> 62) | ((uint64_t)p & ((1ull << 62) - 1) ? 1 : 0);
	return round_pack(F, bias, emax, sign, a.e + b.e - 62, sig, rm, flags);
}

uint32_t fpu_mul_s(uint32_t a, uint32_t b, unsigned rm, unsigned *flags)
{
	uint32_t r;
	if (rm == FPU_RNE && fast_mul_s(a, b, &r, flags))
		return r;
	return (uint32_t)mul_gen(S_F, S_BIAS, S_EMAX, unpack_s(a), unpack_s(b), rm, flags);
}

uint64_t fpu_mul_d(uint64_t a, uint64_t b, unsigned rm, unsigned *flags)
{
	uint64_t r;
	if (rm == FPU_RNE && fast_mul_d(a, b, &r, flags))
		return r;
	return mul_gen(D_F, D_BIAS, D_EMAX, unpack_d(a), unpack_d(b), rm, flags);
}

/* ---- div ------------------------------------------------------------------ */

static inline uint64_t div_gen(int F, int bias, int emax, struct unp a, struct unp b, unsigned rm,
			       unsigned *flags)
{
	int sign = a.sign ^ b.sign;

	if (is_nan(&a) || is_nan(&b)) {
		if (a.cls == C_SNAN || b.cls == C_SNAN)
			*flags |= FPU_NV;
		return F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
	}
	if ((a.cls == C_INF && b.cls == C_INF) || (a.cls == C_ZERO && b.cls == C_ZERO)) {
		*flags |= FPU_NV;
		return F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
	}
	if (a.cls == C_INF)
		return inf_of(F, emax, sign);
	if (b.cls == C_INF || a.cls == C_ZERO)
		return pack(F, emax, sign, 0, 0);
	if (b.cls == C_ZERO) {
		*flags |= FPU_DZ;
		return inf_of(F, emax, sign);
	}

	/* q = a.sig * 2^64 / b.sig lies in (2^63, 2^65); keep 63+ bits and a sticky bit. */
	u128 n = (u128)a.sig << 64;
	u128 q = n / b.sig;
	bool rest = (uint64_t)(n - q * b.sig) != 0;
	uint64_t sig = (uint64_t)(q >> 2) | (((uint64_t)q & 3) != 0) | rest;
	return round_pack(F, bias, emax, sign, a.e - b.e - 62, sig, rm, flags);
}

uint32_t fpu_div_s(uint32_t a, uint32_t b, unsigned rm, unsigned *flags)
{
	uint32_t r;
	if (rm == FPU_RNE && fast_div_s(a, b, &r, flags))
		return r;
	return (uint32_t)div_gen(S_F, S_BIAS, S_EMAX, unpack_s(a), unpack_s(b), rm, flags);
}

uint64_t fpu_div_d(uint64_t a, uint64_t b, unsigned rm, unsigned *flags)
{
	uint64_t r;
	if (rm == FPU_RNE && fast_div_d(a, b, &r, flags))
		return r;
	return div_gen(D_F, D_BIAS, D_EMAX, unpack_d(a), unpack_d(b), rm, flags);
}

/* ---- sqrt ----------------------------------------------------------------- */

/* floor(sqrt(n)) for n < 2^128: a double estimate, one Newton step, exact fix-up. */
static uint64_t isqrt128(u128 n)
{
	double est = sqrt((double)n);
	uint64_t r = est >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)est;

	if (r == 0)
		r = 1;
	u128 nr = ((u128)r + n / r) >> 1;
	r = nr > UINT64_MAX ? UINT64_MAX : (uint64_t)nr;
	while ((u128)r * r > n)
		r--;
	while (r < UINT64_MAX && (u128)(r + 1) * (r + 1) <= n)
		r++;
	return r;
}

static inline uint64_t sqrt_gen(int F, int bias, int emax, struct unp a, unsigned rm,
				unsigned *flags)
{
	if (is_nan(&a)) {
		if (a.cls == C_SNAN)
			*flags |= FPU_NV;
		return F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
	}
	if (a.cls == C_ZERO)
		return pack(F, emax, a.sign, 0, 0);
	if (a.sign) {
		*flags |= FPU_NV;
		return F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
	}
	if (a.cls == C_INF)
		return inf_of(F, emax, 0);

	/* value = sig * 2^k; scale sig by 2^s (s = 64 or 65) so that k - s is even. */
	int k = a.e - 62;
	int s = ((k - 64) & 1) ? 65 : 64;
	u128 n = (u128)a.sig << s;
	uint64_t r = isqrt128(n);
	uint64_t sig = r | ((u128)r * r != n);
	return round_pack(F, bias, emax, 0, (k - s) / 2, sig, rm, flags);
}

uint32_t fpu_sqrt_s(uint32_t a, unsigned rm, unsigned *flags)
{
	uint32_t r;
	if (rm == FPU_RNE && fast_sqrt_s(a, &r, flags))
		return r;
	return (uint32_t)sqrt_gen(S_F, S_BIAS, S_EMAX, unpack_s(a), rm, flags);
}

uint64_t fpu_sqrt_d(uint64_t a, unsigned rm, unsigned *flags)
{
	uint64_t r;
	if (rm == FPU_RNE && fast_sqrt_d(a, &r, flags))
		return r;
	return sqrt_gen(D_F, D_BIAS, D_EMAX, unpack_d(a), rm, flags);
}

/* ---- fused multiply-add ---------------------------------------------------- */

static inline uint64_t fma_gen(int F, int bias, int emax, struct unp a, struct unp b, struct unp c,
			       int neg_prod, int neg_add, unsigned rm, unsigned *flags)
{
	const uint64_t cnan = F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
	int ps = a.sign ^ b.sign ^ (neg_prod != 0);
	int cs = c.sign ^ (neg_add != 0);
	bool inf_zero = (a.cls == C_INF && b.cls == C_ZERO) || (a.cls == C_ZERO && b.cls == C_INF);

	/* inf * 0 is invalid even when the addend is a quiet NaN. */
	if (is_nan(&a) || is_nan(&b) || is_nan(&c) || inf_zero) {
		if (a.cls == C_SNAN || b.cls == C_SNAN || c.cls == C_SNAN || inf_zero)
			*flags |= FPU_NV;
		return cnan;
	}
	if (a.cls == C_INF || b.cls == C_INF) {
		if (c.cls == C_INF && cs != ps) {
			*flags |= FPU_NV;
			return cnan;
		}
		return inf_of(F, emax, ps);
	}
	if (c.cls == C_INF)
		return inf_of(F, emax, cs);
	if (a.cls == C_ZERO || b.cls == C_ZERO) {
		if (c.cls == C_ZERO)
			return pack(F, emax, ps == cs ? ps : rm == FPU_RDN, 0, 0);
		return round_pack(F, bias, emax, cs, c.e - 62, c.sig, rm, flags);
	}

	/* Exact product, value P * 2^xp with P in [2^124, 2^126). */
	u128 p = (u128)a.sig * b.sig;
	int xp = a.e + b.e - 124;
	if (c.cls == C_ZERO) {
		uint64_t sig = (uint64_t)(p >> 62) | ((uint64_t)p & ((1ull << 62) - 1) ? 1 : 0);
		return round_pack(F, bias, emax, ps, xp + 62, sig, rm, flags);
	}
	u128 cc = (u128)c.sig << 62;
	int xc = c.e - 124;
	int x;

	/*
	 * Align to the larger exponent.  The low 2*(62-F) bits of p and the low 62
	 * bits of cc are zero, so short shifts are exact; a long shift only happens
	 * when the shifted operand is far smaller, and then at most one bit cancels.
	 */
	if (xp >= xc) {
		cc = jam128(cc, xp - xc);
		x = xp;
	} else {
		p = jam128(p, xc - xp);
		x = xc;
	}
	u128 sum;
	int sign;
	if (ps == cs) {
		sum = p + cc;
		sign = ps;
	} else if (p >= cc) {
		sum = p - cc;
		sign = ps;
	} else {
		sum = cc - p;
		sign = cs;
	}
	if (sum == 0)
		return pack(F, emax, rm == FPU_RDN, 0, 0);
	int lead = 127 - clz128(sum);
	uint64_t sig;
	if (lead > 63) {
		sum = jam128(sum, lead - 62);
		x += lead - 62;
	}
	sig = (uint64_t)sum;
	return round_pack(F, bias, emax, sign, x, sig, rm, flags);
}

uint32_t fpu_fma_s(uint32_t a, uint32_t b, uint32_t c, int neg_prod, int neg_add, unsigned rm,
		   unsigned *flags)
{
	uint32_t r;
	if (rm == FPU_RNE && fast_fma_s(a ^ (neg_prod ? 0x80000000u : 0), b,
					c ^ (neg_add ? 0x80000000u : 0), &r, flags))
		return r;
	return (uint32_t)fma_gen(S_F, S_BIAS, S_EMAX, unpack_s(a), unpack_s(b), unpack_s(c),
				 neg_prod, neg_add, rm, flags);
}

uint64_t fpu_fma_d(uint64_t a, uint64_t b, uint64_t c, int neg_prod, int neg_add, unsigned rm,
		   unsigned *flags)
{
	uint64_t r;
	if (rm == FPU_RNE && fast_fma_d(a ^ ((uint64_t)(neg_prod != 0) << 63), b,
					c ^ ((uint64_t)(neg_add != 0) << 63), &r, flags))
		return r;
	return fma_gen(D_F, D_BIAS, D_EMAX, unpack_d(a), unpack_d(b), unpack_d(c), neg_prod,
		       neg_add, rm, flags);
}

/* ---- min / max / compare / classify ---------------------------------------- */

/*
 * Total order key for non-NaN values: larger key means larger value, and
 * -0 sorts below +0 as fmin/fmax require.
 */
static inline uint64_t okey(uint64_t bits, int width)
{
	uint64_t sb = 1ull << (width - 1);
	return bits & sb ? ~bits & ((sb << 1) - 1) : bits | sb;
}

static inline uint64_t minmax_gen(int F, int emax, uint64_t a, uint64_t b, bool want_max,
				  unsigned *flags)
{
	int width = F + (emax == S_EMAX ? 8 : 11) + 1;
	struct unp ua = unpack(a, F, F == S_F ? S_BIAS : D_BIAS, emax);
	struct unp ub = unpack(b, F, F == S_F ? S_BIAS : D_BIAS, emax);

	if (ua.cls == C_SNAN || ub.cls == C_SNAN)
		*flags |= FPU_NV;
	if (is_nan(&ua) && is_nan(&ub))
		return F == S_F ? FPU_CANON_NAN_S : FPU_CANON_NAN_D;
	if (is_nan(&ua))
		return b;
	if (is_nan(&ub))
		return a;
	bool a_gt = okey(a, width) > okey(b, width);
	return (a_gt == want_max) ? a : b;
}

uint32_t fpu_min_s(uint32_t a, uint32_t b, unsigned *flags)
{
	return (uint32_t)minmax_gen(S_F, S_EMAX, a, b, false, flags);
}

uint32_t fpu_max_s(uint32_t a, uint32_t b, unsigned *flags)
{
	return (uint32_t)minmax_gen(S_F, S_EMAX, a, b, true, flags);
}

uint64_t fpu_min_d(uint64_t a, uint64_t b, unsigned *flags)
{
	return minmax_gen(D_F, D_EMAX, a, b, false, flags);
}

uint64_t fpu_max_d(uint64_t a, uint64_t b, unsigned *flags)
{
	return minmax_gen(D_F, D_EMAX, a, b, true, flags);
}

/* Compares non-NaN a and b: -1, 0, 1, with +0 == -0. */
static inline int cmp_gen(uint64_t a, uint64_t b, int width)
{
	uint64_t mag = (1ull << (width - 1)) - 1;
	if ((a & mag) == 0 && (b & mag) == 0)
		return 0;
	uint64_t ka = okey(a, width), kb = okey(b, width);
	return ka < kb ? -1 : ka > kb;
}

/* quiet: only signalling NaNs raise NV; otherwise any NaN does. */
static inline int cmp_nan(int F, int emax, uint64_t a, uint64_t b, bool quiet, unsigned *flags)
{
	struct unp ua = unpack(a, F, F == S_F ? S_BIAS : D_BIAS, emax);
	struct unp ub = unpack(b, F, F == S_F ? S_BIAS : D_BIAS, emax);

	if (!is_nan(&ua) && !is_nan(&ub))
		return 0;
	if (!quiet || ua.cls == C_SNAN || ub.cls == C_SNAN)
		*flags |= FPU_NV;
	return 1;
}

int fpu_eq_s(uint32_t a, uint32_t b, unsigned *flags)
{
	return cmp_nan(S_F, S_EMAX, a, b, true, flags) ? 0 : cmp_gen(a, b, 32) == 0;
}

int fpu_lt_s(uint32_t a, uint32_t b, unsigned *flags)
{
	return cmp_nan(S_F, S_EMAX, a, b, false, flags) ? 0 : cmp_gen(a, b, 32) < 0;
}

int fpu_le_s(uint32_t a, uint32_t b, unsigned *flags)
{
	return cmp_nan(S_F, S_EMAX, a, b, false, flags) ? 0 : cmp_gen(a, b, 32) <= 0;
}

int fpu_eq_d(uint64_t a, uint64_t b, unsigned *flags)
{
	return cmp_nan(D_F, D_EMAX, a, b, true, flags) ? 0 : cmp_gen(a, b, 64) == 0;
}

int fpu_lt_d(uint64_t a, uint64_t b, unsigned *flags)
{
	return cmp_nan(D_F, D_EMAX, a, b, false, flags) ? 0 : cmp_gen(a, b, 64) < 0;
}

int fpu_le_d(uint64_t a, uint64_t b, unsigned *flags)
{
	return cmp_nan(D_F, D_EMAX, a, b, false, flags) ? 0 : cmp_gen(a, b, 64) <= 0;
}

static inline uint64_t class_gen(int F, int emax, uint64_t a)
{
	int width = F + (emax == S_EMAX ? 8 : 11) + 1;
	int sign = (int)((a >> (width - 1)) & 1);
	uint64_t frac = a & ((1ull << F) - 1);
	uint64_t ef = (a >> F) & (uint64_t)emax;

	if (ef == (uint64_t)emax) {
		if (frac == 0)
			return sign ? 1u << 0 : 1u << 7;
		return (frac >> (F - 1)) & 1 ? 1u << 9 : 1u << 8;
	}
	if (ef == 0) {
		if (frac == 0)
			return sign ? 1u << 3 : 1u << 4;
		return sign ? 1u << 2 : 1u << 5;
	}
	return sign ? 1u << 1 : 1u << 6;
}

uint64_t fpu_class_s(uint32_t a) { return class_gen(S_F, S_EMAX, a); }
uint64_t fpu_class_d(uint64_t a) { return class_gen(D_F, D_EMAX, a); }

/* ---- conversions between formats --------------------------------------------- */

uint64_t fpu_cvt_d_s(uint32_t a, unsigned *flags)
{
	/* Widening a non-NaN is exact in any mode. */
	if (HOST_FAST && ef_s(a) != S_EMAX)
		return bits_d((double)f_of(a));
	struct unp u = unpack_s(a);

	switch (u.cls) {
	case C_SNAN:
		*flags |= FPU_NV;
		/* fall through */
	case C_QNAN:
		return FPU_CANON_NAN_D;
	case C_INF:
		return inf_of(D_F, D_EMAX, u.sign);
	case C_ZERO:
		return pack(D_F, D_EMAX, u.sign, 0, 0);
	default:
		/* Every single is exactly representable as a double. */
		return RP_D(u.sign, u.e - 62, u.sig, FPU_RNE, flags);
	}
}

uint32_t fpu_cvt_s_d(uint64_t a, unsigned rm, unsigned *flags)
{
	if (HOST_FAST && rm == FPU_RNE && ef_d(a) != D_EMAX) {
		double x = d_of(a);
		float q = (float)x;
		uint32_t v = bits_f(q);
		if (res_ok_s(v)) {
			if ((double)q != x)
				*flags |= FPU_NX;
			return v;
		}
	}
	struct unp u = unpack_d(a);

	switch (u.cls) {
	case C_SNAN:
		*flags |= FPU_NV;
		/* fall through */
	case C_QNAN:
		return FPU_CANON_NAN_S;
	case C_INF:
		return (uint32_t)inf_of(S_F, S_EMAX, u.sign);
	case C_ZERO:
		return (uint32_t)pack(S_F, S_EMAX, u.sign, 0, 0);
	default:
		return RP_S(u.sign, u.e - 62, u.sig, rm, flags);
	}
}

/* ---- float to integer ------------------------------------------------------------ */

enum ikind { K_W, K_WU, K_L, K_LU };

/* Saturated result for NaN (treated as positive), +overflow (sign 0) and -overflow. */
static inline uint64_t sat_of(enum ikind k, int sign)
{
	switch (k) {
	case K_W:
		return sign ? (uint64_t)(int64_t)INT32_MIN : (uint64_t)INT32_MAX;
	case K_WU:
		return sign ? 0 : UINT64_MAX; /* 2^32-1 sign-extended */
	case K_L:
		return sign ? (uint64_t)INT64_MIN : (uint64_t)INT64_MAX;
	default:
		return sign ? 0 : UINT64_MAX;
	}
}

static uint64_t to_int(struct unp u, enum ikind k, unsigned rm, unsigned *flags)
{
	if (is_nan(&u)) {
		*flags |= FPU_NV;
		return sat_of(k, 0);
	}
	if (u.cls == C_INF) {
		*flags |= FPU_NV;
		return sat_of(k, u.sign);
	}
	if (u.cls == C_ZERO)
		return 0;

	/* Magnitude rounded to an integer; values of 2^64 and above overflow every kind. */
	uint64_t mag;
	bool inexact;
	if (u.e >= 64) {
		*flags |= FPU_NV;
		return sat_of(k, u.sign);
	}
	if (u.e >= 62) {
		mag = u.sig << (u.e - 62);
		inexact = false;
	} else {
		int sh = 62 - u.e; /* 1 .. large */
		uint64_t ip, rem, half;
		if (sh > 63) {
			ip = 0;
			rem = 1; /* below half, nonzero */
			half = 2;
		} else {
			ip = u.sig >> sh;
			rem = u.sig & ((1ull << sh) - 1);
			half = 1ull << (sh - 1);
		}
		inexact = rem != 0;
		mag = ip + round_up(rm, u.sign, ip & 1, rem, half);
		/* ip < 2^62 here, so the increment cannot wrap. */
	}

	bool ok;
	switch (k) {
	case K_W:
		ok = u.sign ? mag <= 0x80000000ull : mag <= 0x7fffffffull;
		break;
	case K_WU:
		ok = u.sign ? mag == 0 : mag <= 0xffffffffull;
		break;
	case K_L:
		ok = u.sign ? mag <= (1ull << 63) : mag < (1ull << 63);
		break;
	default:
		ok = u.sign ? mag == 0 : true;
		break;
	}
	if (!ok) {
		*flags |= FPU_NV;
		return sat_of(k, u.sign);
	}
	if (inexact)
		*flags |= FPU_NX;
	uint64_t v = u.sign ? 0 - mag : mag;
	if (k == K_W || k == K_WU)
		v = (uint64_t)(int64_t)(int32_t)(uint32_t)v;
	return v;
}

/*
 * Truncation (C casts, the common case) of values below 2^31 in magnitude is
 * done by the host; only the unsigned kinds of negative values need the
 * general path.
 */
static inline bool fast_trunc_s(uint32_t a, bool is_unsigned, int64_t *v, unsigned *flags)
{
	if (!(HOST_FAST && ef_s(a) < S_BIAS + 31 && !(is_unsigned && (a >> 31))))
		return false;
	float x = f_of(a);
	*v = (int64_t)x;
	if ((float)*v != x)
		*flags |= FPU_NX;
	return true;
}

static inline bool fast_trunc_d(uint64_t a, bool is_unsigned, int64_t *v, unsigned *flags)
{
	if (!(HOST_FAST && ef_d(a) < D_BIAS + 31 && !(is_unsigned && (a >> 63))))
		return false;
	double x = d_of(a);
	*v = (int64_t)x;
	if ((double)*v != x)
		*flags |= FPU_NX;
	return true;
}

#define CVT_TO_INT(name, T, fmt, kind, uns) \
	uint64_t fpu_cvt_##name(T a, unsigned rm, unsigned *flags) \
	{ \
		int64_t v; \
		if (rm == FPU_RTZ && fast_trunc_##fmt(a, uns, &v, flags)) \
			return (uint64_t)v; \
		return to_int(unpack_##fmt(a), kind, rm, flags); \
	}

CVT_TO_INT(w_s, uint32_t, s, K_W, false)
CVT_TO_INT(wu_s, uint32_t, s, K_WU, true)
CVT_TO_INT(l_s, uint32_t, s, K_L, false)
CVT_TO_INT(lu_s, uint32_t, s, K_LU, true)
CVT_TO_INT(w_d, uint64_t, d, K_W, false)
CVT_TO_INT(wu_d, uint64_t, d, K_WU, true)
CVT_TO_INT(l_d, uint64_t, d, K_L, false)
CVT_TO_INT(lu_d, uint64_t, d, K_LU, true)

/* ---- integer to float ------------------------------------------------------------ */

static inline uint64_t from_int(int F, int bias, int emax, int sign, uint64_t mag, unsigned rm,
				unsigned *flags)
{
	if (mag == 0)
		return 0;
	return round_pack(F, bias, emax, sign, 0, mag, rm, flags);
}

static inline uint64_t neg_mag(int64_t v) { return v < 0 ? 0 - (uint64_t)v : (uint64_t)v; }

/*
 * Signed sources: exact ones in any mode, others in RNE, by the host; an
 * unsigned source with its top bit set goes the general way (the host's
 * conversions are signed).
 */
uint32_t fpu_cvt_s_w(uint64_t a, unsigned rm, unsigned *flags)
{
	int32_t v = (int32_t)(uint32_t)a;
	if (HOST_FAST && (rm == FPU_RNE || int_fits(neg_mag(v), 24))) {
		if (!int_fits(neg_mag(v), 24))
			*flags |= FPU_NX;
		return bits_f((float)v);
	}
	return (uint32_t)from_int(S_F, S_BIAS, S_EMAX, v < 0, neg_mag(v), rm, flags);
}

uint32_t fpu_cvt_s_wu(uint64_t a, unsigned rm, unsigned *flags)
{
	uint32_t v = (uint32_t)a;
	if (HOST_FAST && (rm == FPU_RNE || int_fits(v, 24))) {
		if (!int_fits(v, 24))
			*flags |= FPU_NX;
		return bits_f((float)(int64_t)v);
	}
	return (uint32_t)from_int(S_F, S_BIAS, S_EMAX, 0, v, rm, flags);
}

uint32_t fpu_cvt_s_l(uint64_t a, unsigned rm, unsigned *flags)
{
	int64_t v = (int64_t)a;
	if (HOST_FAST && (rm == FPU_RNE || int_fits(neg_mag(v), 24))) {
		if (!int_fits(neg_mag(v), 24))
			*flags |= FPU_NX;
		return bits_f((float)v);
	}
	return (uint32_t)from_int(S_F, S_BIAS, S_EMAX, v < 0, neg_mag(v), rm, flags);
}

uint32_t fpu_cvt_s_lu(uint64_t a, unsigned rm, unsigned *flags)
{
	if (HOST_FAST && !(a >> 63) && (rm == FPU_RNE || int_fits(a, 24))) {
		if (!int_fits(a, 24))
			*flags |= FPU_NX;
		return bits_f((float)(int64_t)a);
	}
	return (uint32_t)from_int(S_F, S_BIAS, S_EMAX, 0, a, rm, flags);
}

uint64_t fpu_cvt_d_w(uint64_t a, unsigned rm, unsigned *flags)
{
	if (HOST_FAST)
		return bits_d((double)(int32_t)(uint32_t)a);
	int32_t v = (int32_t)(uint32_t)a;
	return from_int(D_F, D_BIAS, D_EMAX, v < 0, neg_mag(v), rm, flags);
}

uint64_t fpu_cvt_d_wu(uint64_t a, unsigned rm, unsigned *flags)
{
	if (HOST_FAST)
		return bits_d((double)(uint32_t)a);
	return from_int(D_F, D_BIAS, D_EMAX, 0, (uint32_t)a, rm, flags);
}

uint64_t fpu_cvt_d_l(uint64_t a, unsigned rm, unsigned *flags)
{
	int64_t v = (int64_t)a;
	if (HOST_FAST && (rm == FPU_RNE || int_fits(neg_mag(v), 53))) {
		if (!int_fits(neg_mag(v), 53))
			*flags |= FPU_NX;
		return bits_d((double)v);
	}
	return from_int(D_F, D_BIAS, D_EMAX, v < 0, neg_mag(v), rm, flags);
}

uint64_t fpu_cvt_d_lu(uint64_t a, unsigned rm, unsigned *flags)
{
	if (HOST_FAST && !(a >> 63) && (rm == FPU_RNE || int_fits(a, 53))) {
		if (!int_fits(a, 53))
			*flags |= FPU_NX;
		return bits_d((double)(int64_t)a);
	}
	return from_int(D_F, D_BIAS, D_EMAX, 0, a, rm, flags);
}

bool fpu_host_ok(void)
{
	/* volatile keeps the compiler from folding these at build time. */
	volatile double tiny = DBL_MIN, half = 0.5;
	volatile float ftiny = FLT_MIN, fhalf = 0.5f;
	volatile double one = 1.0, eps_half = DBL_EPSILON / 2;

	return fegetround() == FE_TONEAREST && tiny * half != 0.0 && ftiny * fhalf != 0.0f &&
	       tiny * half * 2.0 == tiny && one + eps_half == one &&
	       one + eps_half * 1.5 == one + DBL_EPSILON;
}
