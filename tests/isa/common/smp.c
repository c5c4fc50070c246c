/*
 * smp.c - the multi-hart side of the bare-metal harness (see smp.h): how
 * harts 1..N-1 register with hart 0, how hart 0 knows how many to wait for
 * (the device tree's cpu nodes, whose address a1 holds at entry on vmx and
 * QEMU), the barrier and the bounded waits.  Linked into every test; used
 * only when the test defines hart_main.
 */
#include "smp.h"

/* Bit 63: registration closed; below it, how many secondaries registered. */
#define REG_CLOSED (1UL << 63)
static volatile unsigned long smp_reg;
static volatile unsigned long smp_release;
volatile unsigned long smp_nharts = 1;
volatile unsigned long smp_fdt_harts;
volatile long smp_err[SMP_MAX_HARTS];

unsigned long smp_deadline(void)
{
	return smp_mtime() + SMP_TIMEOUT_S * 10000000UL;
}

void smp_check_deadline(unsigned long deadline)
{
	if ((long)(smp_mtime() - deadline) > 0)
		test_exit(SMP_ERR_TIMEOUT);
}

static unsigned int be32(const unsigned char *p)
{
	return (unsigned int)p[0] << 24 | (unsigned int)p[1] << 16 | (unsigned int)p[2] << 8 | p[3];
}

static int name_is(const char *name, const char *want, int prefix)
{
	while (*want)
		if (*name++ != *want++)
			return 0;
	return prefix || !*name;
}

/* Counts /cpus/cpu@N nodes; 0 when a1 held no device tree. */
static unsigned long fdt_count_cpus(unsigned long addr)
{
	const unsigned char *fdt = (const unsigned char *)addr;

	/* Anything but a word-aligned RAM address cannot be the tree. */
	if (addr < 0x80000000UL || addr >= 0x1080000000UL || (addr & 3) || be32(fdt) != 0xd00dfeed)
		return 0;
	const unsigned char *p = fdt + be32(fdt + 8);
	unsigned long count = 0;
	int depth = 0, in_cpus = 0;
	for (int i = 0; i < 100000; i++) {
		unsigned int tok = be32(p), len;
		const char *name;

		p += 4;
		switch (tok) {
		case 1: /* FDT_BEGIN_NODE: name, NUL, padding to 4 */
			name = (const char *)p;
			for (len = 0; name[len]; len++)
				;
			p += (len + 4) & ~3U;
			depth++;
			if (depth == 2 && name_is(name, "cpus", 0))
				in_cpus = 1;
			else if (in_cpus && depth == 3 && name_is(name, "cpu@", 1))
				count++;
			break;
		case 2: /* FDT_END_NODE */
			if (depth == 2)
				in_cpus = 0;
			if (--depth <= 0)
				return count;
			break;
		case 3: /* FDT_PROP: len, nameoff, value, padding */
			len = be32(p);
			p += 8 + ((len + 3) & ~3U);
			break;
		case 4: /* FDT_NOP */
			break;
		default: /* FDT_END or garbage */
			return count;
		}
	}
	return count;
}

/*
 * Hart 0, before main() (crt0, only when the test has hart_main): waits for
 * every hart the device tree lists, closes registration and releases them.
 * Without a tree it closes once no hart has arrived for 50 ms.  Closing is
 * one AMO, so a hart either registered before it (and is counted) or sees
 * the closed bit and parks: smp_nharts is exact either way.
 */
long smp_primary(unsigned long fdt)
{
	unsigned long want = fdt_count_cpus(fdt);
	unsigned long deadline = smp_deadline(), seen = 0, quiet = smp_mtime();

	smp_fdt_harts = want;
	if (want > SMP_MAX_HARTS)
		want = SMP_MAX_HARTS;   /* crt0 parks harts beyond the arrays */
	for (;;) {
		unsigned long n = smp_reg + 1;

		if (want && n >= want)
			break;
		if (!want) {
			if (n != seen) {
				seen = n;
				quiet = smp_mtime();
			} else if (smp_mtime() - quiet > 500000) {
				break;
			}
		}
		if ((long)(smp_mtime() - deadline) > 0)
			return SMP_ERR_HARTS;
	}
	unsigned long old;
	__asm__ volatile("amoor.d.aqrl %0, %2, %1" : "=r"(old), "+A"(smp_reg) : "r"(REG_CLOSED) : "memory");
	smp_nharts = old + 1;
	fence_rw_rw();
	smp_release = 1;
	return 0;
}

/* Harts 1..: register (LR/SC, failing if closed), wait, run hart_main. */
void smp_secondary(void)
{
	unsigned long old, tmp;

	__asm__ volatile("1:\tlr.d.aq %0, %2\n\t"
			 "bltz %0, 2f\n\t"
			 "addi %1, %0, 1\n\t"
			 "sc.d.rl %1, %1, %2\n\t"
			 "bnez %1, 1b\n"
			 "2:"
			 : "=&r"(old), "=&r"(tmp), "+A"(smp_reg)
			 :
			 : "memory");
	if ((long)old < 0)
		return;         /* too late: park */
	/* Hart 0 either releases us or ends the test; no bound needed. */
	while (!smp_release)
		;
	fence_rw_rw();
	hart_main(old + 1);
}

void smp_barrier_wait(struct smp_barrier *b)
{
	unsigned int gen = b->gen;

	/* Orders this hart's earlier accesses (and the gen read) before arriving. */
	fence_rw_rw();
	if (amoadd_w(&b->count, 1) == smp_nharts - 1) {
		b->count = 0;
		fence_rw_rw();  /* the reset before the release */
		b->gen = gen + 1;
	} else {
		unsigned long deadline = smp_deadline();

		for (unsigned long i = 0; b->gen == gen; i++)
			if ((i & 255) == 0)
				smp_check_deadline(deadline);
	}
	fence_rw_rw();
}

long smp_first_error(void)
{
	for (unsigned long i = 0; i < SMP_MAX_HARTS; i++)
		if (smp_err[i])
			return smp_err[i];
	return 0;
}
