/*
 * random.c - robustness: runs blocks of pseudo-random 32-bit instruction
 * words in M-mode.  Every word either executes or traps (the handler skips
 * it); the monitor must survive all of them, which is what this checks (run
 * it under the obj build's sanitizers too).  Words that could change
 * control flow or memory are left out (branches, jal, jalr, SYSTEM, stores,
 * AMOs, and 16-bit encodings, which include all of those), so a block always
 * runs to its end, a jal back to rnd_exit, which restores the registers the
 * random words may have clobbered.  The sequence is fixed (seeded), so a
 * failure repeats.
 */
#include "test.h"

#define BLOCKS 16
#define BLOCK_WORDS 256

/* A page to itself, so rewriting it does not disturb translations of other code. */
static uint32_t code[1024] __attribute__((aligned(4096), section(".data")));
static uint64_t rng = 0x853c49e6748fea9bULL;

void rnd_enter(void *code_start);
extern char rnd_exit[];

__asm__(".text\n"
	".globl rnd_enter\n"
	"rnd_enter:\n"
	"	la t0, rnd_save\n"
	"	sd ra, 0(t0)\n	sd sp, 8(t0)\n	sd gp, 16(t0)\n	sd tp, 24(t0)\n"
	"	sd s0, 32(t0)\n	sd s1, 40(t0)\n	sd s2, 48(t0)\n	sd s3, 56(t0)\n"
	"	sd s4, 64(t0)\n	sd s5, 72(t0)\n	sd s6, 80(t0)\n	sd s7, 88(t0)\n"
	"	sd s8, 96(t0)\n	sd s9, 104(t0)\n	sd s10, 112(t0)\n	sd s11, 120(t0)\n"
	"	frcsr t1\n	sd t1, 128(t0)\n"
	"	jr a0\n"
	".globl rnd_exit\n"
	"rnd_exit:\n"
	"	la t0, rnd_save\n"
	"	ld ra, 0(t0)\n	ld sp, 8(t0)\n	ld gp, 16(t0)\n	ld tp, 24(t0)\n"
	"	ld s0, 32(t0)\n	ld s1, 40(t0)\n	ld s2, 48(t0)\n	ld s3, 56(t0)\n"
	"	ld s4, 64(t0)\n	ld s5, 72(t0)\n	ld s6, 80(t0)\n	ld s7, 88(t0)\n"
	"	ld s8, 96(t0)\n	ld s9, 104(t0)\n	ld s10, 112(t0)\n	ld s11, 120(t0)\n"
	"	ld t1, 128(t0)\n	fscsr t1\n"
	"	ret\n"
	".bss\n"
	".balign 8\n"
	"rnd_save: .space 136\n"
	".text\n");

static uint32_t next_word(void)
{
	uint64_t x = rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng = x;
	return (uint32_t)(x >> 16);
}

static int allowed(uint32_t w)
{
	switch (w & 0x7f) {
	case 0x63: /* branches */
	case 0x6f: /* jal */
	case 0x67: /* jalr */
	case 0x73: /* SYSTEM: ecall, mret, wfi, CSRs */
	case 0x23: /* stores */
	case 0x27: /* FP (and vector) stores */
	case 0x2f: /* AMO, LR/SC */
		return 0;
	}
	return 1;
}

/* jal x0, target - pc */
static uint32_t jal_x0(long off)
{
	uint32_t u = (uint32_t)off;

	return ((u >> 20 & 1) << 31) | ((u >> 1 & 0x3ff) << 21) | ((u >> 11 & 1) << 20) |
	       ((u >> 12 & 0xff) << 12) | 0x6f;
}

int main(void)
{
	unsigned long traps = 0, x0;

	for (int b = 0; b < BLOCKS; b++) {
		for (int i = 0; i < BLOCK_WORDS; i++) {
			uint32_t w;

			do
				w = next_word() | 3;   /* 32-bit encodings only */
			while (!allowed(w));
			code[i] = w;
		}
		code[BLOCK_WORDS] = jal_x0((long)(rnd_exit - (char *)&code[BLOCK_WORDS]));
		__asm__ volatile("fence.i" ::: "memory");
		unsigned long n = last_trap.count;
		rnd_enter(code);
		traps += last_trap.count - n;
		/* Traps only ever come from the block, as exceptions. */
		CHECK(1, (long)last_trap.cause >= 0);
		CHECK(2, last_trap.count == n ||
				 (last_trap.epc >= (unsigned long)code &&
				  last_trap.epc < (unsigned long)&code[BLOCK_WORDS]));
	}
	__asm__ volatile("mv %0, x0" : "=r"(x0));
	CHECK(3, x0 == 0);
	/* Most random words are illegal, but not all. */
	CHECK(4, traps > BLOCKS * BLOCK_WORDS / 4 && traps < BLOCKS * BLOCK_WORDS);
	CHECK(5, !(csr_read(mstatus) & MSTATUS_MIE));
	return 0;
}
