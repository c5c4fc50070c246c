/*
 * xmodify.c - cross-modifying code.
 *   rounds: hart 0 rewrites a 3-instruction function (lui a0; addiw a0;
 *           ret) in its own page with a new 32-bit value each round, then
 *           fence w,w and flag = r.  Every other hart keeps calling the
 *           function while it waits (so a translation of the old code is
 *           hot), sees the flag, executes fence.i, calls it and must get
 *           the new value, then acks with amoadd.w; hart 0 waits for all
 *           acks before the next round.
 *   shared page: a summing loop is copied to the start of another page;
 *           while the other harts call it (and store into their own slot of
 *           that page), hart 0 keeps storing into the page's upper half.
 *           Code elsewhere in a written page must go on executing correctly.
 * One hart alone does both roles in turn (plain self-modifying code).
 */
#include "smp.h"

#define R 100
#define STORES 20480    /* a multiple of the 64 slots */

static volatile unsigned int fn_page[1024] __attribute__((aligned(4096)));
static volatile unsigned long mixed_page[512] __attribute__((aligned(4096)));
static volatile unsigned long flag, done;
static volatile unsigned int acks;
static volatile unsigned long calls[SMP_MAX_HARTS];
static struct smp_barrier bar;

/* a0 = sum 1..a0 (a0 > 0): position-independent, so it runs from a copy. */
extern const unsigned int sum_tmpl[], sum_tmpl_end[];
__asm__(".pushsection .text\n"
	".balign 4\n"
	"sum_tmpl:\n\t"
	"li a1, 0\n"
	"1:\tadd a1, a1, a0\n\t"
	"addi a0, a0, -1\n\t"
	"bnez a0, 1b\n\t"
	"mv a0, a1\n\t"
	"ret\n"
	"sum_tmpl_end:\n"
	".popsection");

static unsigned int value(unsigned long r)
{
	return (unsigned int)(r * 0x9e3779b1u + 0x1234567u);
}

/* lui a0, hi; addiw a0, a0, lo; ret  ->  a0 = (int32_t)v */
static void write_fn(unsigned int v)
{
	unsigned int lo = v & 0xfff, hi = (v + 0x800) >> 12;

	fn_page[0] = (hi & 0xfffff) << 12 | 10 << 7 | 0x37;
	fn_page[1] = lo << 20 | 10 << 15 | 10 << 7 | 0x1b;
	fn_page[2] = 0x00008067;
}

static unsigned long call(const volatile void *code, unsigned long arg)
{
	register unsigned long a0 __asm__("a0") = arg;

	__asm__ volatile("jalr %1" : "+r"(a0) : "r"(code) : "ra", "a1", "memory");
	return a0;
}

static long check_fn(unsigned long r)
{
	fence_i();
	if (call(fn_page, 0) != (unsigned long)(long)(int)(value(r) + SMP_MUTATE))
		return 10;
	return 0;
}

static long executor(unsigned long id)
{
	unsigned long deadline = smp_deadline();

	for (unsigned long r = 1; r <= R; r++) {
		for (unsigned long j = 0; flag != r; j++) {
			call(fn_page, 0);       /* stale or torn: any result */
			if ((j & 255) == 0)
				smp_check_deadline(deadline);
		}
		fence_r_r();
		RUN(check_fn(r));
		fence_rw_rw();
		amoadd_w(&acks, 1);
	}
	smp_barrier_wait(&bar);
	fence_i();      /* hart 0 copied the summing loop before the first barrier */
	/* shared page: run the copy until hart 0 is done storing. */
	unsigned long k = 1, c = 0;
	for (; !done || c == 0; c++) {
		if (call(mixed_page, k) != k * (k + 1) / 2)
			return 11;
		mixed_page[256 + id] = c + 1;
		k = k % 50 + 1;
		if ((c & 255) == 0)
			smp_check_deadline(deadline);
	}
	calls[id] = c;
	return 0;
}

static long writer(void)
{
	unsigned long n = smp_nharts, deadline = smp_deadline();

	for (unsigned long r = 1; r <= R; r++) {
		write_fn(value(r));
		fence_w_w();
		flag = r;
		if (n == 1)
			RUN(check_fn(r));
		/* An executor that failed stops acking: report its check, not a timeout. */
		for (unsigned long j = 0; acks != (n - 1) * r; j++)
			if ((j & 255) == 0) {
				RUN(smp_first_error());
				smp_check_deadline(deadline);
			}
		fence_rw_rw();
	}
	smp_barrier_wait(&bar);
	for (unsigned long i = 0; i < STORES; i++) {
		mixed_page[256 + SMP_MAX_HARTS + i % 64] = i;
		if (n == 1 && (i & 63) == 0 && call(mixed_page, 10) != 55)
			return 12;
	}
	fence_rw_rw();
	done = 1;
	return 0;
}

void hart_main(unsigned long id)
{
	smp_barrier_wait(&bar);
	smp_fail(id, executor(id));
	smp_barrier_wait(&bar);
}

int main(void)
{
	unsigned long n = smp_nharts;

	/* Round 0's function and the summing loop at the start of the shared
	   page, in place before anyone runs them (the executors call the
	   function while they wait for round 1). */
	write_fn(value(0));
	for (const unsigned int *s = sum_tmpl; s < sum_tmpl_end; s++)
		((volatile unsigned int *)mixed_page)[s - sum_tmpl] = *s;
	fence_i();
	smp_barrier_wait(&bar);
	RUN(writer());
	smp_barrier_wait(&bar);
	RUN(smp_first_error());
	CHECK(1, acks == (n - 1) * R);
	for (unsigned long h = 1; h < n; h++)
		CHECK(2, calls[h] > 0 && mixed_page[256 + h] == calls[h]);
	for (unsigned long j = 0; j < 64; j++)
		CHECK(3, mixed_page[256 + SMP_MAX_HARTS + j] == STORES - 64 + j);
	return 0;
}
