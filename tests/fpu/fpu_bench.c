/*
 * fpu_bench.c - nanoseconds per call of the hot fpu_ functions on operands
 * typical of guest code (normal numbers, RNE), to back the figures in
 * docs/FPU.md.  usage: fpu_bench [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/fpu.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define N_OPS 1024

int main(int argc, char **argv)
{
	long iters = argc > 1 ? strtol(argv[1], NULL, 0) : 20000;
	static uint64_t d[N_OPS + 2];
	static uint32_t s[N_OPS + 2];
	uint64_t x = 88172645463325252ull, sink = 0;
	unsigned fl = 0;

	for (int i = 0; i < N_OPS + 2; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		double v = 0.5 + (double)(x >> 11) / 9007199254740992.0 * 1000.0;
		float f = (float)v;
		memcpy(&d[i], &v, 8);
		memcpy(&s[i], &f, 4);
	}

#define BENCH(name, expr) \
	do { \
		double t0 = now(); \
		for (long it = 0; it < iters; it++) \
			for (int i = 0; i < N_OPS; i++) \
				sink += (uint64_t)(expr); \
		double t = now() - t0; \
		printf("%-12s %6.2f ns/op\n", name, t * 1e9 / ((double)iters * N_OPS)); \
	} while (0)

	BENCH("add_d", fpu_add_d(d[i], d[i + 1], FPU_RNE, &fl));
	BENCH("mul_d", fpu_mul_d(d[i], d[i + 1], FPU_RNE, &fl));
	BENCH("div_d", fpu_div_d(d[i], d[i + 1], FPU_RNE, &fl));
	BENCH("sqrt_d", fpu_sqrt_d(d[i], FPU_RNE, &fl));
	BENCH("fma_d", fpu_fma_d(d[i], d[i + 1], d[i + 2], 0, 0, FPU_RNE, &fl));
	BENCH("add_s", fpu_add_s(s[i], s[i + 1], FPU_RNE, &fl));
	BENCH("mul_s", fpu_mul_s(s[i], s[i + 1], FPU_RNE, &fl));
	BENCH("div_s", fpu_div_s(s[i], s[i + 1], FPU_RNE, &fl));
	BENCH("fma_s", fpu_fma_s(s[i], s[i + 1], s[i + 2], 0, 0, FPU_RNE, &fl));
	/* The software path, as taken by every operation outside RNE. */
	BENCH("add_d RMM", fpu_add_d(d[i], d[i + 1], FPU_RMM, &fl));
	BENCH("mul_d RUP", fpu_mul_d(d[i], d[i + 1], FPU_RUP, &fl));
	BENCH("div_d RTZ", fpu_div_d(d[i], d[i + 1], FPU_RTZ, &fl));
	BENCH("fma_d RDN", fpu_fma_d(d[i], d[i + 1], d[i + 2], 0, 0, FPU_RDN, &fl));
	BENCH("lt_d", fpu_lt_d(d[i], d[i + 1], &fl));
	BENCH("cvt_l_d", fpu_cvt_l_d(d[i], FPU_RTZ, &fl));
	BENCH("cvt_d_l", fpu_cvt_d_l(d[i] >> 8, FPU_RNE, &fl));
	printf("(sink %llx flags %x)\n", (unsigned long long)sink, fl);
	return 0;
}
