/*
 * rvc.c - C extension: every RV64C instruction class written with explicit
 * c.* mnemonics (so the assembler must use the 16-bit encoding): immediates
 * and their sign extension, the W forms, stack-pointer-relative and
 * register-relative loads/stores (integer and double), jumps and branches
 * with their link values, and the reserved all-zero encoding trapping as an
 * illegal instruction (mepc and a 2-byte skip).
 */
#include "test.h"

static long alu(void)
{
	unsigned long r, r2;

	__asm__ volatile("c.li a0, -32\n\t"
			 "c.addi a0, 31\n\t"      /* -1 */
			 "c.slli a0, 63\n\t"      /* 0x8000000000000000 */
			 "c.srai a0, 3\n\t"       /* 0xf000000000000000 */
			 "c.srli a0, 60\n\t"      /* 0xf */
			 "c.andi a0, -2\n\t"      /* 0xe */
			 "mv %0, a0"
			 : "=r"(r)::"a0");
	CHECK(1, r == 0xe);
	__asm__ volatile("c.lui a1, 0xfffff\n\t"  /* -4096 */
			 "c.mv a0, a1\n\t"
			 "c.add a0, a1\n\t"       /* -8192 */
			 "c.li a2, 1\n\t"
			 "c.sub a0, a2\n\t"       /* -8193 */
			 "c.xor a0, a1\n\t"
			 "mv %0, a0"
			 : "=r"(r)::"a0", "a1", "a2");
	CHECK(2, r == ((unsigned long)-8193 ^ (unsigned long)-4096));
	__asm__ volatile("c.li a0, 12\n\tc.li a1, 10\n\tc.or a0, a1\n\tc.li a1, 6\n\tc.and a0, a1\n\t"
			 "mv %0, a0"
			 : "=r"(r)::"a0", "a1");
	CHECK(3, r == 6);
	__asm__ volatile("li a0, 0x7fffffff\n\tc.li a1, 1\n\tc.addw a0, a1\n\tmv %0, a0\n\t"
			 "li a0, 0x80000000\n\tc.subw a0, a1\n\tmv %1, a0"
			 : "=r"(r), "=r"(r2)::"a0", "a1");
	CHECK(4, r == 0xffffffff80000000UL && r2 == 0x7fffffffUL);
	__asm__ volatile("li a0, 0x1ffffffff\n\tc.addiw a0, 0\n\tmv %0, a0\n\t"
			 "li a0, 0x7fffffff\n\tc.addiw a0, 1\n\tmv %1, a0"
			 : "=r"(r), "=r"(r2)::"a0");
	CHECK(5, r == -1UL && r2 == 0xffffffff80000000UL);
	__asm__ volatile("c.lui a0, 1\n\tc.lui a1, 31\n\tsub %0, a1, a0\n\tc.nop" : "=r"(r)::"a0", "a1");
	CHECK(6, r == 30 * 4096);
	return 0;
}

static long memory(void)
{
	volatile unsigned long buf[4] __attribute__((aligned(16))) = { 0, 0, 0, 0 };
	unsigned long r, r2;

	__asm__ volatile("mv a0, %2\n\t"
			 "li a1, 0x8000000012345678\n\t"
			 "c.sd a1, 8(a0)\n\t"
			 "c.sw a1, 16(a0)\n\t"
			 "c.lw a2, 12(a0)\n\t"   /* 0x80000000 sign-extended */
			 "c.ld a3, 8(a0)\n\t"
			 "mv %0, a2\n\tmv %1, a3"
			 : "=r"(r), "=r"(r2)
			 : "r"(buf)
			 : "a0", "a1", "a2", "a3", "memory");
	CHECK(10, r == 0xffffffff80000000UL && r2 == 0x8000000012345678UL);
	CHECK(11, buf[2] == 0x12345678UL);
	/* sp-relative forms, with c.addi16sp / c.addi4spn computing addresses. */
	__asm__ volatile("mv t0, sp\n\t"
			 "c.addi16sp sp, -64\n\t"
			 "li a1, -5\n\t"
			 "c.sdsp a1, 48(sp)\n\t"
			 "c.swsp a1, 40(sp)\n\t"
			 "c.ldsp a2, 48(sp)\n\t"
			 "c.lwsp a3, 40(sp)\n\t"
			 "c.addi4spn a4, sp, 48\n\t"
			 "ld a5, 0(a4)\n\t"
			 "add a2, a2, a3\n\t"
			 "add %0, a2, a5\n\t"
			 "c.addi16sp sp, 64\n\t"
			 "sub %1, sp, t0"
			 : "=r"(r), "=r"(r2)::"t0", "a1", "a2", "a3", "a4", "a5", "memory");
	CHECK(12, r == -15UL && r2 == 0);
	/* Double loads/stores: register- and sp-relative. */
	__asm__ volatile("mv a0, %2\n\t"
			 "li a1, 0x400921fb54442d18\n\t"
			 "fmv.d.x fa0, a1\n\t"
			 "c.fsd fa0, 24(a0)\n\t"
			 "c.fld fa1, 24(a0)\n\t"
			 "c.addi16sp sp, -16\n\t"
			 "c.fsdsp fa1, 8(sp)\n\t"
			 "c.fldsp fa2, 8(sp)\n\t"
			 "c.addi16sp sp, 16\n\t"
			 "fmv.x.d %0, fa2\n\t"
			 "mv %1, a1"
			 : "=r"(r), "=r"(r2)
			 : "r"(buf)
			 : "a0", "a1", "fa0", "fa1", "fa2", "memory");
	CHECK(13, r == r2 && buf[3] == r2);
	return 0;
}

static long control(void)
{
	unsigned long r, link, expect;

	__asm__ volatile("li %0, 0\n\t"
			 "c.j 1f\n\t"
			 "li %0, 1\n"
			 "1:\tc.li a0, 0\n\t"
			 "c.beqz a0, 2f\n\t"
			 "li %0, 2\n"
			 "2:\tc.bnez a0, 3f\n\t"
			 "c.li a0, 1\n\t"
			 "c.bnez a0, 4f\n"
			 "3:\tli %0, 3\n"
			 "4:"
			 : "=&r"(r)::"a0");
	CHECK(20, r == 0);
	/* c.jalr links pc+2; c.jr does not link. */
	__asm__ volatile("lla a0, 1f\n\t"
			 "c.jalr a0\n"
			 "2:\tj 3f\n"
			 "1:\tmv %0, ra\n\t"
			 "lla %1, 2b\n\t"
			 "lla a1, 4f\n\t"
			 "c.jr a1\n\t"
			 "li %1, 0\n"
			 "4:\n"
			 "3:"
			 : "=&r"(link), "=&r"(expect)::"a0", "a1", "ra");
	CHECK(21, link == expect);
	return 0;
}

static long reserved(void)
{
	unsigned long epc;

	CHECK(30, TRAPS(__asm__ volatile("1:\t.2byte 0\n\tlla %0, 1b" : "=r"(epc))) == 1);
	CHECK(31, last_trap.cause == CAUSE_ILLEGAL && last_trap.epc == epc);
	/* c.addi16sp with a zero immediate is reserved too. */
	CHECK(32, TRAPS(__asm__ volatile(".2byte 0x6101")) == 1 && last_trap.cause == CAUSE_ILLEGAL);
	CHECK(33, TRAPS(__asm__ volatile("c.ebreak")) == 1 && last_trap.cause == CAUSE_BREAKPOINT);
	return 0;
}

int main(void)
{
	RUN(alu());
	RUN(memory());
	RUN(control());
	RUN(reserved());
	return 0;
}
