/*
 * smc.c - self-modifying code: instruction words written into RAM by the
 * program itself must run once fence.i has ordered them, also when the code
 * they replace is hot (called HOT times first, so a translating monitor has
 * compiled it; vmx translates a block after 8 visits).  Covered:
 *  - a function rewritten in several shapes (longer, shorter, compressed),
 *    through every store width and an AMO;
 *  - a store into the running block, ahead of the pc;
 *  - code in another page reached by a static jump (jal, a taken branch)
 *    from a hot block, which a translator links directly: rewriting the
 *    target page, and the jump itself;
 *  - a callee in the caller's page, which a decoder may have followed into
 *    the caller's own block.
 * Every call's result is checked, not only the last.
 */
#include "test.h"

#define HOT 50

/* Pages of their own, so rewriting them disturbs nothing else. */
static uint32_t pages[4][1024] __attribute__((aligned(4096), section(".data")));

typedef long (*fn_t)(long a0, unsigned long a1, unsigned long a2);

/* Not in a code page: where the running block's store goes while it gets hot. */
static volatile uint32_t scratch;

/* ---- encoders (a0 = x10, a1 = x11, t0 = x5, ra = x1) ---- */
static uint32_t i_type(int imm, unsigned rs1, unsigned f3, unsigned rd, unsigned op)
{
	return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t addi(unsigned rd, unsigned rs, int imm) { return i_type(imm, rs, 0, rd, 0x13); }
static uint32_t xori(unsigned rd, unsigned rs, int imm) { return i_type(imm, rs, 4, rd, 0x13); }
static uint32_t slli(unsigned rd, unsigned rs, unsigned sh) { return i_type((int)sh, rs, 1, rd, 0x13); }
static uint32_t jal(unsigned rd, long off)
{
	uint32_t u = (uint32_t)off;
	return (u >> 20 & 1) << 31 | (u >> 1 & 0x3ff) << 21 | (u >> 11 & 1) << 20 |
	       (u >> 12 & 0xff) << 12 | rd << 7 | 0x6f;
}
static uint32_t beq(unsigned rs1, unsigned rs2, long off)
{
	uint32_t u = (uint32_t)off;
	return (u >> 12 & 1) << 31 | (u >> 5 & 0x3f) << 25 | rs2 << 20 | rs1 << 15 |
	       (u >> 1 & 0xf) << 8 | (u >> 11 & 1) << 7 | 0x63;
}
#define RET 0x00008067u
#define SW_A2_A1 (12u << 20 | 11u << 15 | 2u << 12 | 0x23)   /* sw a2, 0(a1) */
/* c.addi a0, imm; c.slli a0, sh; c.jr ra */
#define C_ADDI_A0(imm) ((uint16_t)(((uint32_t)(imm) >> 5 & 1) << 12 | 10u << 7 | \
				   ((uint32_t)(imm) & 31) << 2 | 1))
#define C_SLLI_A0(sh) ((uint16_t)(10u << 7 | (sh) << 2 | 2))
#define C_JR_RA 0x8082u

static void fence_i(void) { __asm__ volatile("fence.i" ::: "memory"); }

/* Calls f(arg, a1, a2) HOT times; 0 when every call returned expect. */
static long hot_calls(const void *code, long arg, unsigned long a1, unsigned long a2,
		      long expect)
{
	fn_t f = (fn_t)code;
	long bad = 0;
	for (int i = 0; i < HOT; i++)
		bad |= f(arg, a1, a2) != expect;
	return bad;
}

/* 1: a hot function rewritten, by every store width and by an AMO. */
static long rewrite_function(void)
{
	volatile uint32_t *p = pages[0];
	uint32_t w;

	p[0] = addi(10, 10, 1);
	p[1] = RET;
	fence_i();
	CHECK(1, !hot_calls(pages[0], 5, 0, 0, 6));
	/* one word */
	p[0] = addi(10, 10, 2);
	fence_i();
	CHECK(2, !hot_calls(pages[0], 5, 0, 0, 7));
	/* longer: two words with one doubleword store, then the return */
	*(volatile uint64_t *)p = slli(10, 10, 3) | (uint64_t)xori(10, 10, 5) << 32;
	p[2] = RET;
	fence_i();
	CHECK(3, !hot_calls(pages[0], 5, 0, 0, (5 << 3) ^ 5));
	/* shorter again, by halfwords (the first store leaves a torn word) */
	w = addi(10, 10, -7);
	((volatile uint16_t *)p)[0] = (uint16_t)w;
	((volatile uint16_t *)p)[1] = (uint16_t)(w >> 16);
	((volatile uint16_t *)p)[2] = (uint16_t)RET;
	((volatile uint16_t *)p)[3] = (uint16_t)(RET >> 16);
	fence_i();
	CHECK(4, !hot_calls(pages[0], 5, 0, 0, -2));
	/* byte by byte */
	w = xori(10, 10, 0x3c);
	for (int i = 0; i < 4; i++)
		((volatile uint8_t *)p)[i] = (uint8_t)(w >> (8 * i));
	fence_i();
	CHECK(5, !hot_calls(pages[0], 0x3, 0, 0, 0x3f));
	/* compressed: three 16-bit instructions where 32-bit ones were */
	((volatile uint16_t *)p)[0] = C_ADDI_A0(9);
	((volatile uint16_t *)p)[1] = C_SLLI_A0(1);
	((volatile uint16_t *)p)[2] = C_JR_RA;
	fence_i();
	CHECK(6, !hot_calls(pages[0], 1, 0, 0, 20));
	/* back to 32-bit, written by an AMO */
	p[1] = RET;
	w = addi(10, 10, 100);
	__asm__ volatile("amoswap.w zero, %1, (%0)" ::"r"(p), "r"(w) : "memory");
	fence_i();
	CHECK(7, !hot_calls(pages[0], 1, 0, 0, 101));
	return 0;
}

/*
 * 2: the running block stores ahead of the pc:
 *     sw a2, 0(a1); addi a0,a0,1 (x3); [patched: addi a0,a0,1000]; ret
 * While it gets hot the store goes to a data word; then one call aims it at
 * the patched instruction of the block itself, by then translated.  The
 * ISA guarantees the new instruction only after fence.i; vmx documents that
 * the store is seen at once (docs/CPU.md), so that is checked there, while
 * implementations that report an architecture or implementation ID (QEMU)
 * may still run the old instruction in that one call.
 */
static long store_into_running_block(void)
{
	volatile uint32_t *p = pages[1];
	const uint32_t old = addi(10, 10, 1000), new = addi(10, 10, 2000);
	int strict = csr_read(marchid) == 0 && csr_read(mimpid) == 0;
	fn_t f = (fn_t)(void *)pages[1];
	unsigned long data = (unsigned long)&scratch, patch = (unsigned long)&p[4];

	p[0] = SW_A2_A1;
	p[1] = p[2] = p[3] = addi(10, 10, 1);
	p[4] = old;
	p[5] = RET;
	fence_i();
	CHECK(10, !hot_calls(pages[1], 0, data, 0, 1003));
	long r = f(0, patch, new);
	CHECK(11, r == 2003 || (!strict && r == 1003));
	fence_i();
	CHECK(12, p[4] == new);
	CHECK(13, !hot_calls(pages[1], 0, data, 0, 2003));
	r = f(0, patch, old);
	CHECK(14, r == 1003 || (!strict && r == 2003));
	fence_i();
	CHECK(15, p[4] == old);
	CHECK(16, !hot_calls(pages[1], 0, data, 0, 1003));
	return 0;
}

/*
 * 3: a hot block in one page jumps to code in the next page (static exits
 * a translator links block to block): A: addi a0,a0,1; jal x0, B  with
 * B: addi a0,a0,100; ret.  The target page is rewritten, then the jump.
 */
static long linked_jump(void)
{
	volatile uint32_t *a = pages[2], *b = pages[3];
	volatile uint32_t *c = &pages[3][256];

	b[0] = addi(10, 10, 100);
	b[1] = RET;
	c[0] = addi(10, 10, 300);
	c[1] = RET;
	a[0] = addi(10, 10, 1);
	a[1] = jal(0, (long)((uintptr_t)b - (uintptr_t)&a[1]));
	fence_i();
	CHECK(20, !hot_calls(pages[2], 0, 0, 0, 101));
	/* the target page */
	b[0] = addi(10, 10, 200);
	fence_i();
	CHECK(21, !hot_calls(pages[2], 0, 0, 0, 201));
	/* the jump: elsewhere in the target page */
	a[1] = jal(0, (long)((uintptr_t)c - (uintptr_t)&a[1]));
	fence_i();
	CHECK(22, !hot_calls(pages[2], 0, 0, 0, 301));
	/* a taken branch instead of the jal, back to B */
	a[1] = beq(0, 0, (long)((uintptr_t)b - (uintptr_t)&a[1]));
	fence_i();
	CHECK(23, !hot_calls(pages[2], 0, 0, 0, 201));
	/* and the target once more, the branch still hot */
	b[0] = xori(10, 10, 0x55);
	fence_i();
	CHECK(24, !hot_calls(pages[2], 0x100, 0, 0, 0x101 ^ 0x55));
	return 0;
}

/*
 * 4: caller and callee in one page (a decoder may follow the jal into the
 * caller's block): caller: addi a0,a0,1; jal x0, callee ... callee: addi
 * a0,a0,10; ret.  Rewriting the callee must change what the caller runs.
 */
static long callee_in_callers_page(void)
{
	volatile uint32_t *caller = &pages[1][512], *callee = &pages[1][768];

	callee[0] = addi(10, 10, 10);
	callee[1] = RET;
	caller[0] = addi(10, 10, 1);
	caller[1] = jal(0, (long)((uintptr_t)callee - (uintptr_t)&caller[1]));
	fence_i();
	CHECK(30, !hot_calls((const void *)caller, 0, 0, 0, 11));
	callee[0] = addi(10, 10, 20);
	fence_i();
	CHECK(31, !hot_calls((const void *)caller, 0, 0, 0, 21));
	callee[0] = slli(10, 10, 4);
	fence_i();
	CHECK(32, !hot_calls((const void *)caller, 1, 0, 0, 32));
	return 0;
}

int main(void)
{
	RUN(rewrite_function());
	RUN(store_into_running_block());
	RUN(linked_jump());
	RUN(callee_in_callers_page());
	CHECK(40, last_trap.count == 0);
	return 0;
}
