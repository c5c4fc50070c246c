/*
 * shares.c - a bare-metal guest whose time split is known, for the
 * callstack profiler's test: per round, cs_three_quarters() runs three times
 * as many iterations of the same loop as cs_one_quarter(), both called from
 * cs_driver().  Built with frame pointers and no inlining so the profiler
 * can name all three in the guest's call chain.  Runs `CS_ROUNDS` rounds,
 * then reports success through HTIF.  16000 rounds take about 9 s and give
 * some 850 samples at 97 Hz: the 3/4 share then has a standard deviation
 * of 1.5 points, so the test's 70-80 % window fails by chance about once
 * in a thousand runs (4000 rounds, 216 samples, failed about once in ten).
 */
#include "test.h"

#ifndef CS_ROUNDS
#define CS_ROUNDS 16000
#endif
#define CS_UNIT 20000

static unsigned long spin(unsigned long n, unsigned long x)
{
	for (unsigned long i = 0; i < n; i++)
		x = OPAQUE(x * 2862933555777941757ul + 3037000493ul);
	return x;
}

__attribute__((noinline)) unsigned long cs_three_quarters(unsigned long x)
{
	return spin(3 * CS_UNIT, x);
}

__attribute__((noinline)) unsigned long cs_one_quarter(unsigned long x)
{
	return spin(CS_UNIT, x);
}

__attribute__((noinline)) unsigned long cs_driver(unsigned long rounds)
{
	unsigned long x = 1;
	for (unsigned long r = 0; r < rounds; r++) {
		x = cs_three_quarters(x);
		x = cs_one_quarter(x);
	}
	return x;
}

int main(void)
{
	unsigned long x = cs_driver(OPAQUE((unsigned long)CS_ROUNDS));
	CHECK(1, x != 0);
	return 0;
}
