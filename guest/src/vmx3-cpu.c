/*
 * vmx3-cpu.c - CPU-bound integer benchmark for the default guest.
 *
 * Runs a fixed number of iterations of a hand-written RV64 loop and prints
 *   VMX3 bench cpu iters=N insns=I ns=T mips=M sum=S
 * The loop is inline assembly rather than compiled C so that its dynamic
 * instruction count is known exactly (CPU_LOOP_INSNS per iteration, whatever
 * the compiler version): I = N * CPU_LOOP_INSNS, and the host-side benchmark
 * scripts derive guest MIPS from it without needing hardware counters.  Every
 * path through the loop body has the same length; the two-way branch in it
 * is data dependent so emulators cannot fold it.
 *
 * With --instret the program also counts its user-mode instructions with
 * perf_event_open (the kernel's SBI PMU driver, backed by the monitor's
 * instret) around the loop and prints them as instret=N; with a monitor
 * whose instret is exact (QEMU with -icount shift=0) that cross-checks the
 * count.  Reading the instret CSR directly from user mode is not reliable
 * under Linux: the PMU driver owns and reprograms the counters.
 *
 * Usage: vmx3-cpu [ITERATIONS] [--instret]
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Instructions retired per loop iteration; must match the asm below. */
#define CPU_LOOP_INSNS 24
#define CPU_DEFAULT_ITERS 40000000ULL

static uint64_t table[128];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A disabled user-mode instruction counter, or -1 (reason printed). */
static int instret_open(void)
{
	struct perf_event_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_HARDWARE;
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	if (fd < 0) {
		/* Without Sscofpmf the SBI PMU cannot filter by mode: then the
		   count includes the kernel's (few) instructions during the loop. */
		a.exclude_kernel = 0;
		a.exclude_hv = 0;
		fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	}
	if (fd < 0)
		perror("vmx3-cpu: perf_event_open(instructions)");
	return fd;
}

/*
 * One iteration (24 instructions on every path):
 *   xorshift64 step on x                 6
 *   table[x & 127] += x (load/store)     5
 *   acc += x * K                         2
 *   acc += (x >> 3) / 7                  3
 *   data-dependent two-way branch        4   (andi, bnez, then addi+j or addi+nop)
 *   acc rotated                          2
 *   loop counter and branch              2
 */
static uint64_t cpu_loop(uint64_t iters, uint64_t seed)
{
	uint64_t x = seed, acc = 0, t0, t1, t2;
	uint64_t k = 0x9e3779b97f4a7c15ULL, seven = 7;
	uint64_t *tab = table;

	if (iters == 0)
		return 0;
	__asm__ volatile(
		"1:\n\t"
		"slli %[t0], %[x], 13\n\t"
		"xor  %[x], %[x], %[t0]\n\t"
		"srli %[t0], %[x], 7\n\t"
		"xor  %[x], %[x], %[t0]\n\t"
		"slli %[t0], %[x], 17\n\t"
		"xor  %[x], %[x], %[t0]\n\t"
		"andi %[t1], %[x], 1016\n\t"
		"add  %[t1], %[t1], %[tab]\n\t"
		"ld   %[t2], 0(%[t1])\n\t"
		"add  %[t2], %[t2], %[x]\n\t"
		"sd   %[t2], 0(%[t1])\n\t"
		"mul  %[t0], %[x], %[k]\n\t"
		"add  %[acc], %[acc], %[t0]\n\t"
		"srli %[t0], %[x], 3\n\t"
		"divu %[t0], %[t0], %[seven]\n\t"
		"add  %[acc], %[acc], %[t0]\n\t"
		"andi %[t1], %[x], 16\n\t"
		"bnez %[t1], 2f\n\t"
		"addi %[acc], %[acc], 1\n\t"
		"j    3f\n"
		"2:\n\t"
		"addi %[acc], %[acc], -1\n\t"
		"nop\n"
		"3:\n\t"
		"srli %[t0], %[acc], 1\n\t"
		"xor  %[acc], %[acc], %[t0]\n\t"
		"addi %[n], %[n], -1\n\t"
		"bnez %[n], 1b\n\t"
		: [x] "+r"(x), [acc] "+r"(acc), [n] "+r"(iters), [t0] "=&r"(t0), [t1] "=&r"(t1),
		  [t2] "=&r"(t2)
		: [tab] "r"(tab), [k] "r"(k), [seven] "r"(seven)
		: "memory");
	return acc ^ x;
}

int main(int argc, char **argv)
{
	uint64_t iters = CPU_DEFAULT_ITERS, counted = 0, t0, t1, sum;
	int use_instret = 0, pfd = -1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--instret") == 0)
			use_instret = 1;
		else
			iters = strtoull(argv[i], NULL, 0);
	}
	if (use_instret)
		pfd = instret_open();
	printf("VMX3 bench cpu start iters=%" PRIu64 "\n", iters);
	fflush(stdout);
	t0 = now_ns();
	if (pfd >= 0)
		ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0);
	sum = cpu_loop(iters, 0x2545f4914f6cdd1dULL);
	if (pfd >= 0) {
		ioctl(pfd, PERF_EVENT_IOC_DISABLE, 0);
		if (read(pfd, &counted, sizeof(counted)) != sizeof(counted))
			counted = 0;
		close(pfd);
	}
	t1 = now_ns();
	uint64_t insns = iters * CPU_LOOP_INSNS, ns = t1 - t0;
	printf("VMX3 bench cpu iters=%" PRIu64 " insns=%" PRIu64 " ns=%" PRIu64
	       " mips=%.1f sum=%016" PRIx64,
	       iters, insns, ns, ns ? (double)insns * 1e3 / (double)ns : 0.0, sum);
	if (pfd >= 0)
		printf(" instret=%" PRIu64, counted);
	printf("\n");
	return 0;
}
