/*
 * rv64i.c - RV64I: arithmetic and its W forms, shifts (only the low 6 / 5
 * bits of the amount count), comparisons, sign extension of immediates,
 * loads and stores of every width, branches on signed/unsigned edge cases,
 * jal/jalr link values and jalr clearing bit 0, and x0 staying zero.
 */
#include "test.h"

#define I64_MIN 0x8000000000000000UL
#define I64_MAX 0x7fffffffffffffffUL

static long arith(void)
{
	unsigned long m1 = OPAQUE(-1UL), one = OPAQUE(1UL), big = OPAQUE(0x123456789UL);

	CHECK(1, OP_RR("add", OPAQUE(I64_MAX), one) == I64_MIN);
	CHECK(2, OP_RR("sub", OPAQUE(I64_MIN), one) == I64_MAX);
	CHECK(3, OP_RR("addw", OPAQUE(0x7fffffffUL), one) == 0xffffffff80000000UL);
	CHECK(4, OP_RI("addiw", big, 0) == 0x23456789UL);
	CHECK(5, OP_RI("addiw", OPAQUE(0xffffffffUL), 0) == m1);
	CHECK(6, OP_RR("subw", OPAQUE(0UL), one) == m1);
	CHECK(7, OP_RR("subw", OPAQUE(I64_MIN), one) == m1);
	CHECK(8, OP_RI("addi", OPAQUE(5UL), -2048) == (unsigned long)(5 - 2048));
	CHECK(9, OP_RI("andi", big, -16) == 0x123456780UL);
	CHECK(10, OP_RI("ori", OPAQUE(0UL), -1) == m1);
	CHECK(11, OP_RI("xori", big, -1) == ~0x123456789UL);
	CHECK(12, OP_RR("and", big, OPAQUE(0xff00ff00ffUL)) == 0x0100450089UL);
	CHECK(13, OP_RR("or", OPAQUE(0xf0UL), OPAQUE(0x0fUL)) == 0xff);
	CHECK(14, OP_RR("xor", big, big) == 0);
	return 0;
}

static long shifts(void)
{
	unsigned long one = OPAQUE(1UL), min = OPAQUE(I64_MIN);

	CHECK(20, OP_RR("sll", one, OPAQUE(63UL)) == I64_MIN);
	CHECK(21, OP_RR("sll", one, OPAQUE(65UL)) == 2);
	CHECK(22, OP_RR("srl", min, OPAQUE(63UL)) == 1);
	CHECK(23, OP_RR("sra", min, OPAQUE(63UL)) == -1UL);
	CHECK(24, OP_RR("sra", min, OPAQUE(64UL)) == I64_MIN);
	CHECK(25, OP_RR("sllw", one, OPAQUE(31UL)) == 0xffffffff80000000UL);
	CHECK(26, OP_RR("sllw", one, OPAQUE(33UL)) == 2);
	CHECK(27, OP_RR("srlw", OPAQUE(0xffffffff80000000UL), OPAQUE(31UL)) == 1);
	CHECK(28, OP_RR("srlw", OPAQUE(0x0000000180000000UL), OPAQUE(0UL)) == 0xffffffff80000000UL);
	CHECK(29, OP_RR("sraw", OPAQUE(0x80000000UL), OPAQUE(31UL)) == -1UL);
	CHECK(30, OP_RR("sraw", OPAQUE(0x7fffffff00000000UL), OPAQUE(4UL)) == 0);
	CHECK(31, OP_RI("slli", one, 63) == I64_MIN);
	CHECK(32, OP_RI("srli", OPAQUE(-1UL), 60) == 0xf);
	CHECK(33, OP_RI("srai", OPAQUE(0x8000000000000010UL), 4) == 0xf800000000000001UL);
	CHECK(34, OP_RI("slliw", OPAQUE(0xffffffff00000003UL), 30) == 0xffffffffc0000000UL);
	CHECK(35, OP_RI("srliw", OPAQUE(0xffffffffUL), 0) == -1UL);
	CHECK(36, OP_RI("srliw", OPAQUE(0xffffffffUL), 1) == 0x7fffffffUL);
	CHECK(37, OP_RI("sraiw", OPAQUE(0x0000000080000000UL), 4) == 0xfffffffff8000000UL);
	return 0;
}

static long compares(void)
{
	unsigned long m1 = OPAQUE(-1UL), zero = OPAQUE(0UL);

	CHECK(40, OP_RR("slt", m1, zero) == 1);
	CHECK(41, OP_RR("sltu", m1, zero) == 0);
	CHECK(42, OP_RR("sltu", zero, m1) == 1);
	CHECK(43, OP_RI("slti", OPAQUE(I64_MIN), -2048) == 1);
	CHECK(44, OP_RI("sltiu", zero, -1) == 1);   /* immediate is sign-extended, then unsigned */
	CHECK(45, OP_RI("sltiu", m1, -1) == 0);
	CHECK(46, OP_RR("slt", zero, zero) == 0);
	CHECK(47, OP_RR("sltu", zero, OPAQUE(1UL)) == 1);   /* snez */
	return 0;
}

static long upper(void)
{
	unsigned long r, pc, here;

	__asm__ volatile("lui %0, 0x80000" : "=r"(r));
	CHECK(50, r == 0xffffffff80000000UL);
	__asm__ volatile("lui %0, 0x7ffff" : "=r"(r));
	CHECK(51, r == 0x7ffff000UL);
	__asm__ volatile("1: auipc %0, 0\n\tlla %1, 1b" : "=r"(pc), "=r"(here));
	CHECK(52, pc == here);
	__asm__ volatile("1: auipc %0, 0x80000\n\tlla %1, 1b" : "=r"(r), "=r"(here));
	CHECK(53, r == here - 0x80000000UL);
	/* x0 ignores writes. */
	__asm__ volatile("li x0, 5\n\taddi x0, x0, 7\n\tmv %0, x0" : "=r"(r));
	CHECK(54, r == 0);
	return 0;
}

static volatile unsigned long mem[4];

static long loads_stores(void)
{
	volatile unsigned char *b = (volatile unsigned char *)mem;
	unsigned long r;

	mem[0] = 0x8091a2b3c4d5e6f7UL;
	mem[1] = 0;
	__asm__ volatile("lb %0, 0(%1)" : "=r"(r) : "r"(b));
	CHECK(60, r == 0xfffffffffffffff7UL);
	__asm__ volatile("lbu %0, 0(%1)" : "=r"(r) : "r"(b));
	CHECK(61, r == 0xf7);
	__asm__ volatile("lh %0, 6(%1)" : "=r"(r) : "r"(b));
	CHECK(62, r == 0xffffffffffff8091UL);
	__asm__ volatile("lhu %0, 6(%1)" : "=r"(r) : "r"(b));
	CHECK(63, r == 0x8091);
	__asm__ volatile("lw %0, 4(%1)" : "=r"(r) : "r"(b));
	CHECK(64, r == 0xffffffff8091a2b3UL);
	__asm__ volatile("lwu %0, 4(%1)" : "=r"(r) : "r"(b));
	CHECK(65, r == 0x8091a2b3UL);
	__asm__ volatile("ld %0, 0(%1)" : "=r"(r) : "r"(b));
	CHECK(66, r == 0x8091a2b3c4d5e6f7UL);
	__asm__ volatile("lb %0, -1(%1)" : "=r"(r) : "r"(b + 9));
	CHECK(67, r == 0);
	__asm__ volatile("sb %1, 8(%0)" ::"r"(b), "r"(0x1122334455667788UL) : "memory");
	CHECK(68, mem[1] == 0x88);
	__asm__ volatile("sh %1, 10(%0)" ::"r"(b), "r"(0xabcdUL) : "memory");
	CHECK(69, mem[1] == 0xabcd0088UL);
	__asm__ volatile("sw %1, 12(%0)" ::"r"(b), "r"(0xdeadbeef01234567UL) : "memory");
	CHECK(70, mem[1] == 0x01234567abcd0088UL);
	__asm__ volatile("sd %1, 16(%0)" ::"r"(b), "r"(0xfedcba9876543210UL) : "memory");
	CHECK(71, mem[2] == 0xfedcba9876543210UL);
	__asm__ volatile("sd %1, -8(%0)" ::"r"(b + 32), "r"(7UL) : "memory");
	CHECK(72, mem[3] == 7);
	return 0;
}

static long branches(void)
{
	unsigned long m1 = OPAQUE(-1UL), one = OPAQUE(1UL), z = OPAQUE(0UL);

	CHECK(80, BR("beq", one, one) && !BR("beq", one, z));
	CHECK(81, BR("bne", one, z) && !BR("bne", z, z));
	CHECK(82, BR("blt", m1, one) && !BR("blt", one, m1) && !BR("blt", one, one));
	CHECK(83, BR("bge", one, m1) && BR("bge", one, one) && !BR("bge", m1, one));
	CHECK(84, BR("bltu", one, m1) && !BR("bltu", m1, one) && !BR("bltu", z, z));
	CHECK(85, BR("bgeu", m1, one) && BR("bgeu", z, z) && !BR("bgeu", z, one));
	CHECK(86, BR("blt", OPAQUE(I64_MIN), OPAQUE(I64_MAX)));
	CHECK(87, BR("bltu", OPAQUE(I64_MAX), OPAQUE(I64_MIN)));
	return 0;
}

static long jumps(void)
{
	unsigned long link, expect, target;

	__asm__ volatile("jal %0, 1f\n2:\tnop\n1:\tlla %1, 2b" : "=r"(link), "=r"(expect));
	CHECK(90, link == expect);
	/* jalr to an odd address: bit 0 is cleared, link is the next pc. */
	__asm__ volatile("lla %2, 1f\n\t"
			 "addi %2, %2, 1\n\t"
			 "jalr %0, 0(%2)\n"
			 "2:\tj 3f\n"
			 "1:\tlla %1, 2b\n"
			 "3:"
			 : "=&r"(link), "=&r"(expect), "=&r"(target));
	CHECK(91, link == expect);
	/* jalr with rd == rs1: the target uses the old value. */
	__asm__ volatile("lla %0, 1f\n\t"
			 "jalr %0, 0(%0)\n"
			 "2:\tli %0, 0\n"
			 "1:\tlla %1, 2b\n"
			 : "=&r"(link), "=&r"(expect));
	CHECK(92, link == expect);
	/* jalr offset is added before the low bit is cleared. */
	__asm__ volatile("lla %2, 1f\n\t"
			 "addi %2, %2, -7\n\t"
			 "jalr %0, 8(%2)\n"
			 "2:\tj 3f\n"
			 "1:\tlla %1, 2b\n"
			 "3:"
			 : "=&r"(link), "=&r"(expect), "=&r"(target));
	CHECK(93, link == expect);
	return 0;
}

int main(void)
{
	RUN(arith());
	RUN(shifts());
	RUN(compares());
	RUN(upper());
	RUN(loads_stores());
	RUN(branches());
	RUN(jumps());
	return 0;
}
