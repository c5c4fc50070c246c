/*
 * test.h - helpers for the bare-metal ISA tests (no C library).
 *
 * A test program is main() returning 0 when every check passed, otherwise
 * the number of the first failing check; crt0 reports it through HTIF.
 * CHECK(n, cond) returns n from the enclosing function when cond is false.
 *
 * Traps taken to M-mode go to trap_m(): by default it records mcause,
 * mtval and mepc in `last_trap`, counts them, and resumes after the
 * trapping instruction; a test that expects no trap checks trap_count.
 */
#ifndef ISA_TEST_H
#define ISA_TEST_H

#include <stdint.h>
#include "test_asm.h"

#define CHECK(n, cond)                                                                 \
	do {                                                                           \
		if (!(cond))                                                           \
			return (n);                                                    \
	} while (0)
/* Runs a sub-test function returning 0 or a failing check number. */
#define RUN(fn)                                                                        \
	do {                                                                           \
		long r_ = (fn);                                                        \
		if (r_)                                                                \
			return r_;                                                     \
	} while (0)

#define csr_read(csr)                                                                  \
	({                                                                             \
		unsigned long v_;                                                      \
		__asm__ volatile("csrr %0, " #csr : "=r"(v_)::"memory");               \
		v_;                                                                    \
	})
#define csr_write(csr, val) __asm__ volatile("csrw " #csr ", %0" ::"rK"(val) : "memory")
#define csr_set(csr, val) __asm__ volatile("csrs " #csr ", %0" ::"rK"(val) : "memory")
#define csr_clear(csr, val) __asm__ volatile("csrc " #csr ", %0" ::"rK"(val) : "memory")
#define csr_swap(csr, val)                                                             \
	({                                                                             \
		unsigned long v_;                                                      \
		__asm__ volatile("csrrw %0, " #csr ", %1" : "=r"(v_) : "rK"(val) : "memory"); \
		v_;                                                                    \
	})

/* Keeps the compiler from constant-folding a value. */
#define OPAQUE(x)                                                                      \
	({                                                                             \
		__typeof__(x) o_ = (x);                                                \
		__asm__ volatile("" : "+r"(o_));                                       \
		o_;                                                                    \
	})

/* Register-register / register-immediate instruction on opaque operands. */
#define OP_RR(insn, a, b)                                                              \
	({                                                                             \
		unsigned long r_;                                                      \
		__asm__ volatile(insn " %0, %1, %2" : "=r"(r_) : "r"(a), "r"(b));     \
		r_;                                                                    \
	})
#define OP_RI(insn, a, imm)                                                            \
	({                                                                             \
		unsigned long r_;                                                      \
		__asm__ volatile(insn " %0, %1, %2" : "=r"(r_) : "r"(a), "i"(imm));   \
		r_;                                                                    \
	})
/* 1 when the conditional branch `insn a, b` is taken. */
#define BR(insn, a, b)                                                                 \
	({                                                                             \
		unsigned long t_ = 1;                                                  \
		__asm__ volatile(insn " %1, %2, 1f\n\tli %0, 0\n1:"                    \
				 : "+r"(t_)                                            \
				 : "r"(a), "r"(b));                                    \
		t_;                                                                    \
	})

/* Counts traps while running a statement; for "must trap" checks. */
#define TRAPS(stmt)                                                                    \
	({                                                                             \
		unsigned long c_ = last_trap.count;                                    \
		stmt;                                                                  \
		last_trap.count - c_;                                                  \
	})

struct trap_frame {
	unsigned long x[32];
	unsigned long mepc, mcause, mtval, mstatus;
};

struct trap_record {
	unsigned long cause, tval, epc, mstatus;
	unsigned long count;
};
extern volatile struct trap_record last_trap;

/* Optional per-test hook: return 1 if the trap was handled (frame updated). */
extern int (*trap_hook)(struct trap_frame *f);

void trap_m(struct trap_frame *f);

/* Runs fn(arg) in mode 0 (U) or 1 (S); fn ends with exit_to_m(v) -> returns v. */
long run_in_mode(unsigned long mode, long (*fn)(long), long arg, void *sp);
void exit_to_m(long v) __attribute__((noreturn));

/* S-mode vector (records into the s_trap_* globals and skips the instruction). */
extern void trap_vector_s(void);
extern volatile unsigned long s_trap_save[2], s_trap_cause, s_trap_tval, s_trap_epc,
	s_trap_count;

void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

#endif
