/*
 * fpu.h - IEEE 754 binary32/binary64 arithmetic exactly as the RISC-V F and D
 * extensions define it: every rounding mode, the five exception flags, canonical
 * NaNs, fused multiply-add, and the saturating conversions.
 *
 * Pure functions on bit patterns: the hart decodes, resolves the dynamic
 * rounding mode (rejecting reserved modes as illegal instructions), unboxes
 * single values (fpu_unbox_s), calls these, ORs *flags into fcsr.fflags and
 * NaN-boxes single results (fpu_box_s).
 */
#ifndef VMX_CPU_FPU_H
#define VMX_CPU_FPU_H

#include <stdbool.h>
#include <stdint.h>

/* Rounding modes (frm encoding). */
enum { FPU_RNE = 0, FPU_RTZ = 1, FPU_RDN = 2, FPU_RUP = 3, FPU_RMM = 4 };
/* fflags bits */
enum { FPU_NX = 1, FPU_UF = 2, FPU_OF = 4, FPU_DZ = 8, FPU_NV = 16 };

#define FPU_CANON_NAN_S 0x7fc00000u
#define FPU_CANON_NAN_D 0x7ff8000000000000ull

static inline uint32_t fpu_unbox_s(uint64_t r)
{
	return (r >> 32) == 0xffffffffu ? (uint32_t)r : FPU_CANON_NAN_S;
}
static inline uint64_t fpu_box_s(uint32_t v) { return 0xffffffff00000000ull | v; }

/* Arithmetic: a op b rounded per rm; flags |= raised exceptions. */
uint32_t fpu_add_s(uint32_t a, uint32_t b, unsigned rm, unsigned *flags);
uint32_t fpu_sub_s(uint32_t a, uint32_t b, unsigned rm, unsigned *flags);
uint32_t fpu_mul_s(uint32_t a, uint32_t b, unsigned rm, unsigned *flags);
uint32_t fpu_div_s(uint32_t a, uint32_t b, unsigned rm, unsigned *flags);
uint32_t fpu_sqrt_s(uint32_t a, unsigned rm, unsigned *flags);
/* neg_prod negates a*b, neg_add negates c: fmadd(0,0) fmsub(0,1) fnmsub(1,0) fnmadd(1,1) */
uint32_t fpu_fma_s(uint32_t a, uint32_t b, uint32_t c, int neg_prod, int neg_add, unsigned rm,
		   unsigned *flags);
uint32_t fpu_min_s(uint32_t a, uint32_t b, unsigned *flags);
uint32_t fpu_max_s(uint32_t a, uint32_t b, unsigned *flags);
/* Comparisons return 0/1; eq is quiet, lt/le signal on any NaN. */
int fpu_eq_s(uint32_t a, uint32_t b, unsigned *flags);
int fpu_lt_s(uint32_t a, uint32_t b, unsigned *flags);
int fpu_le_s(uint32_t a, uint32_t b, unsigned *flags);
/* fclass result (one-hot, bits 0..9). */
uint64_t fpu_class_s(uint32_t a);

uint64_t fpu_add_d(uint64_t a, uint64_t b, unsigned rm, unsigned *flags);
uint64_t fpu_sub_d(uint64_t a, uint64_t b, unsigned rm, unsigned *flags);
uint64_t fpu_mul_d(uint64_t a, uint64_t b, unsigned rm, unsigned *flags);
uint64_t fpu_div_d(uint64_t a, uint64_t b, unsigned rm, unsigned *flags);
uint64_t fpu_sqrt_d(uint64_t a, unsigned rm, unsigned *flags);
uint64_t fpu_fma_d(uint64_t a, uint64_t b, uint64_t c, int neg_prod, int neg_add, unsigned rm,
		   unsigned *flags);
uint64_t fpu_min_d(uint64_t a, uint64_t b, unsigned *flags);
uint64_t fpu_max_d(uint64_t a, uint64_t b, unsigned *flags);
int fpu_eq_d(uint64_t a, uint64_t b, unsigned *flags);
int fpu_lt_d(uint64_t a, uint64_t b, unsigned *flags);
int fpu_le_d(uint64_t a, uint64_t b, unsigned *flags);
uint64_t fpu_class_d(uint64_t a);

/* Conversions between formats. */
uint64_t fpu_cvt_d_s(uint32_t a, unsigned *flags);
uint32_t fpu_cvt_s_d(uint64_t a, unsigned rm, unsigned *flags);

/*
 * Float to integer, saturating as RISC-V specifies (NaN gives the maximum
 * positive value), result sign- or zero-extended to 64 bits as the
 * instruction writes it (fcvt.w[u] results are sign-extended 32-bit values).
 */
uint64_t fpu_cvt_w_s(uint32_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_wu_s(uint32_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_l_s(uint32_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_lu_s(uint32_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_w_d(uint64_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_wu_d(uint64_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_l_d(uint64_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_lu_d(uint64_t a, unsigned rm, unsigned *flags);

/* Integer to float; the argument is the integer source register (low 32 bits for w/wu). */
uint32_t fpu_cvt_s_w(uint64_t a, unsigned rm, unsigned *flags);
uint32_t fpu_cvt_s_wu(uint64_t a, unsigned rm, unsigned *flags);
uint32_t fpu_cvt_s_l(uint64_t a, unsigned rm, unsigned *flags);
uint32_t fpu_cvt_s_lu(uint64_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_d_w(uint64_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_d_wu(uint64_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_d_l(uint64_t a, unsigned rm, unsigned *flags);
uint64_t fpu_cvt_d_lu(uint64_t a, unsigned rm, unsigned *flags);

/*
 * True when the calling thread's host floating-point environment is the C
 * default the fast paths rely on (round to nearest, subnormals neither
 * flushed nor treated as zero).  The monitor never changes it; the hart can
 * VMX_VERIFY this once per thread at start-up.
 */
bool fpu_host_ok(void);

#endif
