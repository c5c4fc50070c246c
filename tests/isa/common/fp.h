/*
 * fp.h - helpers for the F/D tests: operands go in and results come out as
 * raw bit patterns (fmv.d.x / fmv.x.d), so boxing and NaN payloads are
 * visible; RM is an assembler rounding-mode suffix ("" = dynamic).
 */
#ifndef ISA_FP_H
#define ISA_FP_H

#include "test.h"

#define FX_NX 0x01
#define FX_UF 0x02
#define FX_OF 0x04
#define FX_DZ 0x08
#define FX_NV 0x10

#define BOX(x) (0xffffffff00000000UL | (unsigned long)(uint32_t)(x))

/* f <- f op f */
#define FOP2(insn, a, b, rm)                                                           \
	({                                                                             \
		unsigned long r_;                                                      \
		__asm__ volatile("fmv.d.x ft0, %1\n\tfmv.d.x ft1, %2\n\t" insn           \
				 " ft2, ft0, ft1" rm "\n\tfmv.x.d %0, ft2"             \
				 : "=r"(r_)                                            \
				 : "r"(a), "r"(b)                                      \
				 : "ft0", "ft1", "ft2");                               \
		r_;                                                                    \
	})
/* f <- f op f op f (fused multiply-add family) */
#define FOP3(insn, a, b, c, rm)                                                        \
	({                                                                             \
		unsigned long r_;                                                      \
		__asm__ volatile("fmv.d.x ft0, %1\n\tfmv.d.x ft1, %2\n\tfmv.d.x ft2, %3\n\t" insn \
				 " ft3, ft0, ft1, ft2" rm "\n\tfmv.x.d %0, ft3"        \
				 : "=r"(r_)                                            \
				 : "r"(a), "r"(b), "r"(c)                              \
				 : "ft0", "ft1", "ft2", "ft3");                        \
		r_;                                                                    \
	})
/* f <- op f (sqrt, fcvt between formats) */
#define FOP1(insn, a, rm)                                                              \
	({                                                                             \
		unsigned long r_;                                                      \
		__asm__ volatile("fmv.d.x ft0, %1\n\t" insn " ft2, ft0" rm               \
				 "\n\tfmv.x.d %0, ft2"                                 \
				 : "=r"(r_)                                            \
				 : "r"(a)                                              \
				 : "ft0", "ft2");                                      \
		r_;                                                                    \
	})
/* x <- op f (fcvt to integer, fclass, fmv.x.w) */
#define F2X(insn, a, rm)                                                               \
	({                                                                             \
		unsigned long r_;                                                      \
		__asm__ volatile("fmv.d.x ft0, %1\n\t" insn " %0, ft0" rm                \
				 : "=r"(r_)                                            \
				 : "r"(a)                                              \
				 : "ft0");                                             \
		r_;                                                                    \
	})
/* x <- f cmp f */
#define FCMP(insn, a, b)                                                               \
	({                                                                             \
		unsigned long r_;                                                      \
		__asm__ volatile("fmv.d.x ft0, %1\n\tfmv.d.x ft1, %2\n\t" insn " %0, ft0, ft1" \
				 : "=r"(r_)                                            \
				 : "r"(a), "r"(b)                                      \
				 : "ft0", "ft1");                                      \
		r_;                                                                    \
	})
/* f <- op x (fcvt from integer, fmv.w.x) */
#define X2F(insn, a, rm)                                                               \
	({                                                                             \
		unsigned long r_;                                                      \
		__asm__ volatile(insn " ft0, %1" rm "\n\tfmv.x.d %0, ft0"                \
				 : "=r"(r_)                                            \
				 : "r"(a)                                              \
				 : "ft0");                                             \
		r_;                                                                    \
	})

/* Returns the accrued flags and clears them. */
static inline unsigned long fflags_take(void)
{
	return csr_swap(fflags, 0);
}

#endif
