/*
 * rv64m.c - RV64M: the high-half multiplies in all signednesses, the W
 * forms' sign extension, and division's defined results for division by
 * zero (quotient all ones, remainder the dividend) and signed overflow
 * (MIN / -1 = MIN, remainder 0), none of which may trap.
 */
#include "test.h"

#define I64_MIN 0x8000000000000000UL

static long multiply(void)
{
	unsigned long m1 = OPAQUE(-1UL), two = OPAQUE(2UL), big = OPAQUE(0x123456789abcdefUL);

	CHECK(1, OP_RR("mul", big, OPAQUE(0x10UL)) == 0x123456789abcdef0UL);
	CHECK(2, OP_RR("mul", m1, m1) == 1);
	CHECK(3, OP_RR("mulh", m1, m1) == 0);
	CHECK(4, OP_RR("mulhu", m1, m1) == 0xfffffffffffffffeUL);
	CHECK(5, OP_RR("mulhsu", m1, m1) == -1UL);  /* -1 * (2^64-1) */
	CHECK(6, OP_RR("mulhsu", two, m1) == 1);
	CHECK(7, OP_RR("mulh", OPAQUE(I64_MIN), OPAQUE(I64_MIN)) == 0x4000000000000000UL);
	CHECK(8, OP_RR("mulh", OPAQUE(I64_MIN), two) == -1UL);
	CHECK(9, OP_RR("mulhu", OPAQUE(I64_MIN), two) == 1);
	CHECK(10, OP_RR("mulw", OPAQUE(0x7fffffffUL), two) == 0xfffffffffffffffeUL);
	CHECK(11, OP_RR("mulw", OPAQUE(0x100000003UL), OPAQUE(0x100000005UL)) == 15);
	CHECK(12, OP_RR("mulw", OPAQUE(0x10000UL), OPAQUE(0x8000UL)) == 0xffffffff80000000UL);
	return 0;
}

static long divide(void)
{
	unsigned long z = OPAQUE(0UL), m1 = OPAQUE(-1UL), x = OPAQUE(0x1234UL);
	unsigned long min = OPAQUE(I64_MIN), n = last_trap.count;

	CHECK(20, OP_RR("div", OPAQUE(-7UL), OPAQUE(2UL)) == -3UL);  /* rounds towards zero */
	CHECK(21, OP_RR("rem", OPAQUE(-7UL), OPAQUE(2UL)) == -1UL);  /* sign of dividend */
	CHECK(22, OP_RR("rem", OPAQUE(7UL), OPAQUE(-2UL)) == 1);
	CHECK(23, OP_RR("divu", OPAQUE(-7UL), OPAQUE(2UL)) == 0x7ffffffffffffffcUL);
	CHECK(24, OP_RR("remu", OPAQUE(-7UL), OPAQUE(2UL)) == 1);
	/* division by zero */
	CHECK(30, OP_RR("div", x, z) == -1UL);
	CHECK(31, OP_RR("divu", x, z) == -1UL);
	CHECK(32, OP_RR("rem", x, z) == x);
	CHECK(33, OP_RR("remu", m1, z) == m1);
	CHECK(34, OP_RR("divw", x, z) == -1UL);
	CHECK(35, OP_RR("divuw", x, z) == -1UL);
	CHECK(36, OP_RR("remw", OPAQUE(0x180000000UL), z) == 0xffffffff80000000UL);
	CHECK(37, OP_RR("remuw", OPAQUE(0x180000000UL), z) == 0xffffffff80000000UL);
	/* signed overflow */
	CHECK(40, OP_RR("div", min, m1) == I64_MIN);
	CHECK(41, OP_RR("rem", min, m1) == 0);
	CHECK(42, OP_RR("divw", OPAQUE(0x80000000UL), m1) == 0xffffffff80000000UL);
	CHECK(43, OP_RR("remw", OPAQUE(0x80000000UL), m1) == 0);
	/* W forms use only the low 32 bits of both operands */
	CHECK(44, OP_RR("divw", OPAQUE(0xffffffff00000010UL), OPAQUE(0x1fffffffcUL)) == -4UL);
	CHECK(45, OP_RR("divuw", OPAQUE(0xfffffff0UL), OPAQUE(0x100000002UL)) == 0x7ffffff8UL);
	CHECK(46, OP_RR("divuw", OPAQUE(0xfffffffeUL), OPAQUE(1UL)) == 0xfffffffffffffffeUL);
	CHECK(47, OP_RR("remuw", OPAQUE(0xfffffffdUL), OPAQUE(0xfffffffeUL)) == 0xfffffffffffffffdUL);
	CHECK(48, OP_RR("remw", OPAQUE(-7UL), OPAQUE(0x300000002UL)) == -1UL);
	CHECK(49, last_trap.count == n);
	return 0;
}

int main(void)
{
	RUN(multiply());
	RUN(divide());
	return 0;
}
