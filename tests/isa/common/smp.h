/*
 * smp.h - multi-hart support for the bare-metal tests (tests/smp).
 *
 * Every hart starts at _start (vmx, QEMU virt/spike with -bios none).  A test
 * that defines hart_main() gets the other harts: crt0 gives each its own
 * stack and M-mode trap stack, they register with hart 0, and once hart 0
 * has counted them (smp_nharts) they call hart_main(id) while hart 0 calls
 * main().  id is the hart's index among the participants, 1..smp_nharts-1
 * (hart 0 is 0), so tests can size their work by smp_nharts.  A test
 * without hart_main keeps the old behaviour: the other harts park in WFI.
 *
 * Waits are bounded by the CLINT's mtime (SMP_TIMEOUT_S of guest time): a
 * hart that gives up ends the test with SMP_ERR_TIMEOUT rather than hang.
 * Secondary harts report failures in smp_err[] and let hart 0 judge, so a
 * failure is reported once, by the hart that ends the test.
 */
#ifndef ISA_SMP_H
#define ISA_SMP_H

#include "test.h"

#define SMP_MAX_HARTS 8
#define SMP_ERR_TIMEOUT 901     /* a bounded wait gave up */
#define SMP_ERR_HARTS 902       /* fewer harts arrived than the device tree lists */
#define SMP_TIMEOUT_S 60

/* Added to one expected value per test: build with -DSMP_MUTATE=1 to see
   each test fail (tests/smp/run.sh --mutate). */
#ifndef SMP_MUTATE
#define SMP_MUTATE 0
#endif

/* Defined by a multi-hart test: what harts 1..smp_nharts-1 run. */
void hart_main(unsigned long id) __attribute__((weak));

/* Harts taking part (hart 0 included); valid in main() and hart_main(). */
extern volatile unsigned long smp_nharts;
/* Harts the device tree lists (0 when there was no device tree). */
extern volatile unsigned long smp_fdt_harts;
/* A secondary hart's first failing check (0: none); hart 0 reads it at the end. */
extern volatile long smp_err[SMP_MAX_HARTS];

/* Ends the test from any hart: tohost (vmx, spike), then the SiFive test
   finisher at 0x100000 (QEMU virt, vmx). */
void test_exit(long code) __attribute__((noreturn));

/* The CLINT's free-running mtime (10 MHz on vmx and QEMU). */
static inline unsigned long smp_mtime(void)
{
	return *(volatile unsigned long *)0x0200bff8UL;
}
unsigned long smp_deadline(void);
/* Ends the test with SMP_ERR_TIMEOUT once the deadline has passed. */
void smp_check_deadline(unsigned long deadline);

/* A sense-reversing barrier over all smp_nharts harts (amoadd.w). */
struct smp_barrier {
	volatile unsigned int count;
	volatile unsigned int gen;
};
void smp_barrier_wait(struct smp_barrier *b);

/* Records a secondary hart's failing check (first one wins). */
static inline void smp_fail(unsigned long id, long code)
{
	if (id < SMP_MAX_HARTS && !smp_err[id])
		smp_err[id] = code;
}
/* Hart 0's verdict on the secondaries: the first recorded failure, or 0. */
long smp_first_error(void);

static inline unsigned int amoadd_w(volatile unsigned int *p, unsigned int v)
{
	unsigned int old;

	__asm__ volatile("amoadd.w %0, %2, %1" : "=r"(old), "+A"(*p) : "r"(v) : "memory");
	return old;
}
static inline unsigned long amoadd_d(volatile unsigned long *p, unsigned long v)
{
	unsigned long old;

	__asm__ volatile("amoadd.d %0, %2, %1" : "=r"(old), "+A"(*p) : "r"(v) : "memory");
	return old;
}
static inline void amoor_w(volatile unsigned int *p, unsigned int v)
{
	__asm__ volatile("amoor.w zero, %1, %0" : "+A"(*p) : "r"(v) : "memory");
}

#define fence_rw_rw() __asm__ volatile("fence rw, rw" ::: "memory")
#define fence_w_w() __asm__ volatile("fence w, w" ::: "memory")
#define fence_r_r() __asm__ volatile("fence r, r" ::: "memory")
#define fence_i() __asm__ volatile("fence.i" ::: "memory")

#endif
