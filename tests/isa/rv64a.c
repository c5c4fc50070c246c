/*
 * rv64a.c - RV64A: LR/SC success and failure (no reservation, reservation
 * consumed, different address, store in between by the same hart is allowed
 * to keep or drop it, so not checked), every AMO in D and W width returning
 * the old value, W forms sign-extending, min/max signed vs unsigned.
 */
#include "test.h"

static volatile unsigned long d[4] __attribute__((aligned(16)));

#define AMO(insn, addr, val)                                                           \
	({                                                                             \
		unsigned long r_;                                                      \
		__asm__ volatile(insn " %0, %2, (%1)"                                  \
				 : "=r"(r_)                                            \
				 : "r"(addr), "r"(val)                                 \
				 : "memory");                                          \
		r_;                                                                    \
	})

static long lrsc(void)
{
	unsigned long v, rc;
	volatile unsigned long *p = &d[0];

	d[0] = 5;
	__asm__ volatile("lr.d %0, (%2)\n\tsc.d %1, %3, (%2)"
			 : "=&r"(v), "=&r"(rc)
			 : "r"(p), "r"(6UL)
			 : "memory");
	CHECK(1, v == 5 && rc == 0 && d[0] == 6);
	/* The reservation is gone after an SC. */
	__asm__ volatile("sc.d %0, %2, (%1)" : "=&r"(rc) : "r"(p), "r"(7UL) : "memory");
	CHECK(2, rc != 0 && d[0] == 6);
	/* An SC to another address than the LR fails. */
	__asm__ volatile("lr.d %0, (%2)\n\tsc.d %1, %4, (%3)"
			 : "=&r"(v), "=&r"(rc)
			 : "r"(p), "r"(&d[2]), "r"(8UL)
			 : "memory");
	CHECK(3, rc != 0 && d[2] == 0);
	/* lr.w sign-extends; sc.w writes 32 bits only. */
	d[1] = 0x11111111ffffff80UL;
	__asm__ volatile("lr.w %0, (%2)\n\tsc.w %1, %3, (%2)"
			 : "=&r"(v), "=&r"(rc)
			 : "r"(&d[1]), "r"(0xaaaaaaaa12345678UL)
			 : "memory");
	CHECK(4, v == 0xffffffffffffff80UL && rc == 0 && d[1] == 0x1111111112345678UL);
	/* A trap between LR and SC (an ebreak here) may clear the reservation; an
	   SC after the return must at least not corrupt memory when it fails. */
	d[0] = 1;
	__asm__ volatile("lr.d %0, (%2)\n\tebreak\n\tsc.d %1, %3, (%2)"
			 : "=&r"(v), "=&r"(rc)
			 : "r"(p), "r"(2UL)
			 : "memory");
	CHECK(5, (rc == 0 && d[0] == 2) || (rc != 0 && d[0] == 1));
	return 0;
}

static long amo_d(void)
{
	volatile unsigned long *p = &d[0];

	d[0] = 10;
	CHECK(10, AMO("amoswap.d", p, 20UL) == 10 && d[0] == 20);
	CHECK(11, AMO("amoadd.d", p, -25UL) == 20 && d[0] == -5UL);
	CHECK(12, AMO("amoxor.d", p, -1UL) == -5UL && d[0] == 4);
	CHECK(13, AMO("amoor.d", p, 3UL) == 4 && d[0] == 7);
	CHECK(14, AMO("amoand.d", p, 0xeUL) == 7 && d[0] == 6);
	CHECK(15, AMO("amomin.d", p, -1UL) == 6 && d[0] == -1UL);
	CHECK(16, AMO("amominu.d", p, 3UL) == -1UL && d[0] == 3);
	CHECK(17, AMO("amomax.d", p, -9UL) == 3 && d[0] == 3);
	CHECK(18, AMO("amomaxu.d", p, -9UL) == 3 && d[0] == -9UL);
	CHECK(19, AMO("amoadd.d.aqrl", p, 9UL) == -9UL && d[0] == 0);
	return 0;
}

static long amo_w(void)
{
	volatile unsigned long *p = &d[1];

	d[1] = 0x5555555580000000UL;
	CHECK(30, AMO("amoadd.w", p, 1UL) == 0xffffffff80000000UL && d[1] == 0x5555555580000001UL);
	CHECK(31, AMO("amoswap.w", p, 0x12345678fffffffeUL) == 0xffffffff80000001UL &&
			  d[1] == 0x55555555fffffffeUL);
	CHECK(32, AMO("amomin.w", p, 1UL) == -2UL && d[1] == 0x55555555fffffffeUL);
	CHECK(33, AMO("amominu.w", p, 1UL) == -2UL && d[1] == 0x5555555500000001UL);
	CHECK(34, AMO("amomax.w", p, 0x80000000UL) == 1 && d[1] == 0x5555555500000001UL);
	CHECK(35, AMO("amomaxu.w", p, 0x80000000UL) == 1 && d[1] == 0x5555555580000000UL);
	CHECK(36, AMO("amoxor.w", p, 0xffffffffUL) == 0xffffffff80000000UL &&
			  d[1] == 0x555555557fffffffUL);
	CHECK(37, AMO("amoand.w", p, 0xf0UL) == 0x7fffffffUL && d[1] == 0x55555555000000f0UL);
	CHECK(38, AMO("amoor.w", p, 0x0fUL) == 0xf0 && d[1] == 0x55555555000000ffUL);
	/* The upper word of the doubleword is a separate W location. */
	CHECK(39, AMO("amoadd.w", (volatile char *)p + 4, 1UL) == 0x55555555UL &&
			  d[1] == 0x55555556000000ffUL);
	/* rd == x0 still performs the operation */
	__asm__ volatile("amoadd.w x0, %1, (%0)" ::"r"(p), "r"(1UL) : "memory");
	CHECK(40, d[1] == 0x5555555600000100UL);
	return 0;
}

int main(void)
{
	RUN(lrsc());
	RUN(amo_d());
	RUN(amo_w());
	return 0;
}
