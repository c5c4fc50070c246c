/*
 * stacks.c - a bare-metal guest whose call chains are known, for the
 * callstack profiler's walk checks.  The same three-level chain
 * (cs_level1 > cs_level2 > cs_level3 > spin) runs under three entry
 * trampolines that, like Linux's ret_from_fork, leave s0 pointing at
 * something that is not a frame record:
 *
 *   ret_from_fork  a record whose "return address" is real code (cs_level2)
 *                  and whose "fp" is higher on the stack: only the
 *                  stack-end marker rule stops the walk there;
 *   cs_entry_junk  instruction bytes as the record (what a function pointer
 *                  in s0 yields): a non-canonical return address;
 *   cs_entry_wild  a return address inside RAM but outside every function.
 *
 * main is called by _start, whose frame record ends the chain (fp 0).  So
 * every sample's outermost guest frame must be _start, ret_from_fork,
 * cs_entry_junk or cs_entry_wild; anything else is a bogus root.
 */
#include "test.h"

#ifndef CS_ROUNDS
#define CS_ROUNDS 4000
#endif
#define CS_UNIT 20000

static unsigned long spin(unsigned long n, unsigned long x)
{
	for (unsigned long i = 0; i < n; i++)
		x = OPAQUE(x * 2862933555777941757ul + 3037000493ul);
	return x;
}

__attribute__((noinline)) unsigned long cs_level3(unsigned long x) { return spin(CS_UNIT, x) + 1; }
__attribute__((noinline)) unsigned long cs_level2(unsigned long x) { return cs_level3(x) + 1; }
__attribute__((noinline)) unsigned long cs_level1(unsigned long x) { return cs_level2(x) + 1; }

/* The "thread function" each trampoline calls, with a frame of its own. */
__attribute__((noinline)) unsigned long cs_kthread(unsigned long rounds)
{
	unsigned long x = 1;
	for (unsigned long r = 0; r < rounds; r++)
		x = cs_level1(x);
	return x;
}

/*
 * trampoline NAME, RA, FP: a 32-byte frame whose lower 16 bytes hold the
 * fake record {fp = FP, ra = RA}, s0 just above it, then cs_kthread(a0).
 * FP "sp+64" means an address higher on this stack.
 */
#define TRAMPOLINE(name, load_ra, load_fp)                  \
	"	.text\n"                                    \
	"	.globl " #name "\n"                         \
	"	.balign 4\n"                                \
	"	.type " #name ", @function\n"              \
	#name ":\n"                                         \
	"	addi sp, sp, -32\n"                         \
	"	sd ra, 16(sp)\n"                            \
	"	sd s0, 24(sp)\n"                            \
	load_ra                                             \
	"	sd t0, 8(sp)\n"                             \
	load_fp                                             \
	"	sd t0, 0(sp)\n"                             \
	"	addi s0, sp, 16\n"                          \
	"	call cs_kthread\n"                          \
	"	ld ra, 16(sp)\n"                            \
	"	ld s0, 24(sp)\n"                            \
	"	addi sp, sp, 32\n"                          \
	"	ret\n"                                      \
	"	.size " #name ", .-" #name "\n"

__asm__(TRAMPOLINE(ret_from_fork, "	la t0, cs_level2\n	addi t0, t0, 8\n",
		   "	addi t0, sp, 64\n")
	TRAMPOLINE(cs_entry_junk, "	li t0, 0x43a080e7ff60c097\n",
		   "	li t0, 0x8082014145016402\n")
	TRAMPOLINE(cs_entry_wild, "	li t0, 0x83ff0f00\n", "	addi t0, sp, 64\n"));

unsigned long ret_from_fork(unsigned long rounds);
unsigned long cs_entry_junk(unsigned long rounds);
unsigned long cs_entry_wild(unsigned long rounds);

int main(void)
{
	unsigned long n = OPAQUE((unsigned long)CS_ROUNDS);
	unsigned long x = ret_from_fork(n) + cs_entry_junk(n) + cs_entry_wild(n) + cs_kthread(n / 4);
	CHECK(1, x != 0);
	return 0;
}
