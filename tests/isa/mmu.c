/*
 * mmu.c - Sv39 and Sv48 translation with page tables built here: leaf pages
 * at all three (four) levels, permission faults (R/W/X, U vs S, SUM, MXR),
 * reserved W-without-R, a misaligned superpage, invalid PTEs and
 * non-canonical addresses as page faults with stval = the address, the
 * accessed/dirty bits being set by the hardware, sfence.vma making a
 * changed PTE visible, mstatus.MPRV translating M-mode loads, and fetch
 * faults from a non-executable page.
 *
 * Layout: the 1 GiB at 0x80000000 (code, data, stacks) is identity-mapped
 * for S; its alias at ALIAS + 0x80000000 is the same memory with U set, for
 * U-mode code.  Test pages are at 0x40000000 + i * 4096.
 */
#include "test.h"

#define PTE_V 0x1UL
#define PTE_R 0x2UL
#define PTE_W 0x4UL
#define PTE_X 0x8UL
#define PTE_U 0x10UL
#define PTE_A 0x40UL
#define PTE_D 0x80UL
#define PTE_LEAF(pa, fl) ((((unsigned long)(pa)) >> 12) << 10 | (fl) | PTE_V)
#define PTE_TABLE(t) ((((unsigned long)(t)) >> 12) << 10 | PTE_V)
#define SATP_SV39 (8UL << 60)
#define SATP_SV48 (9UL << 60)

#define ALIAS 0x100000000UL          /* U alias of the 0x80000000 gigapage */
#define VBASE 0x40000000UL
#define VA(i) (VBASE + (unsigned long)(i) * 4096)
#define RWAD (PTE_R | PTE_W | PTE_A | PTE_D)

enum { P_RW, P_RO, P_INVALID, P_XONLY, P_USER, P_NOAD, P_WONLY, P_OTHER, NPAGES };

static unsigned long root[512] __attribute__((aligned(4096)));
static unsigned long l1[512] __attribute__((aligned(4096)));
static unsigned long l0[512] __attribute__((aligned(4096)));
static unsigned long root48[512] __attribute__((aligned(4096)));
static unsigned long l2b[512] __attribute__((aligned(4096)));
static unsigned long pages[NPAGES][512] __attribute__((aligned(4096)));
static unsigned long stack[1024] __attribute__((aligned(16)));
#define SP (&stack[1024])

static void build_tables(void)
{
	root[2] = PTE_LEAF(0x80000000UL, RWAD | PTE_X);
	root[ALIAS >> 30 | 2] = PTE_LEAF(0x80000000UL, RWAD | PTE_X | PTE_U);
	root[VBASE >> 30] = PTE_TABLE(l1);
	l1[0] = PTE_TABLE(l0);
	/* A 2 MiB leaf whose physical page number is not 2 MiB aligned, and a
	   proper one onto the first 2 MiB of RAM (this whole program). */
	l1[1] = PTE_LEAF(0x80001000UL, RWAD);
	l1[2] = PTE_LEAF(0x80000000UL, RWAD);
	l0[P_RW] = PTE_LEAF(pages[P_RW], RWAD);
	l0[P_RO] = PTE_LEAF(pages[P_RO], PTE_R | PTE_A);
	l0[P_INVALID] = PTE_LEAF(pages[P_INVALID], RWAD) & ~PTE_V;
	l0[P_XONLY] = PTE_LEAF(pages[P_XONLY], PTE_X | PTE_A);
	l0[P_USER] = PTE_LEAF(pages[P_USER], RWAD | PTE_U);
	l0[P_NOAD] = PTE_LEAF(pages[P_NOAD], PTE_R | PTE_W);
	l0[P_WONLY] = PTE_LEAF(pages[P_WONLY], PTE_W | PTE_A | PTE_D);
	for (int i = 0; i < NPAGES; i++)
		pages[i][0] = 0x1000 + (unsigned long)i;
	/* Sv48: the Sv39 root serves as the table for the first 512 GiB; the
	   next 512 GiB reach the test pages again through l1; a 512 GiB leaf
	   maps VA 1 TiB onto physical 0. */
	root48[0] = PTE_TABLE(root);
	root48[1] = PTE_TABLE(l2b);
	l2b[1] = PTE_TABLE(l1);
	root48[2] = PTE_LEAF(0, RWAD);
}

static long s_load(long va)
{
	unsigned long v = 0xdeadUL;

	__asm__ volatile("ld %0, 0(%1)" : "+r"(v) : "r"(va) : "memory");
	exit_to_m((long)v);
}

static long s_store(long va)
{
	__asm__ volatile("sd %0, 0(%1)" ::"r"(0x5a5aUL), "r"(va) : "memory");
	exit_to_m(0);
}

static long s_sfence_load(long va)
{
	unsigned long v = 0xdeadUL;

	__asm__ volatile("sfence.vma\n\tld %0, 0(%1)" : "+r"(v) : "r"(va) : "memory");
	exit_to_m((long)v);
}

static long s_call(long va)
{
	((void (*)(void))va)();
	exit_to_m(0);
}

/*
 * M-mode runs untranslated, so the default handler cannot read the
 * instruction at a U-alias mepc to learn its length: read it at the
 * physical address instead.  A fetch fault returns to the caller (ra).
 */
static int mmu_hook(struct trap_frame *f)
{
	unsigned long pa = f->mepc;

	if ((long)f->mcause < 0)
		return 0;
	if (f->mcause == CAUSE_FETCH_PAGE) {
		f->mepc = f->x[1];
		return 1;
	}
	if (pa >= ALIAS)
		pa -= ALIAS;
	f->mepc += (*(volatile uint16_t *)pa & 3) == 3 ? 4 : 2;
	return 1;
}

/* Runs fn(va) in mode; returns its value; *traps gets the M trap count. */
static long in_mode(unsigned long mode, long (*fn)(long), unsigned long va, unsigned long *traps)
{
	unsigned long n = last_trap.count;
	long r;

	if (mode == 0)
		r = run_in_mode(0, (long (*)(long))((unsigned long)fn + ALIAS), (long)va,
				(void *)((unsigned long)SP + ALIAS));
	else
		r = run_in_mode(1, fn, (long)va, SP);
	*traps = last_trap.count - n;
	return r;
}

#define FAULTED(t, cause_, va) ((t) == 1 && last_trap.cause == (cause_) && last_trap.tval == (va))

static long sv39(void)
{
	unsigned long t;

	if ((unsigned long)&pages[NPAGES] - 0x80000000UL > 0x200000)
		return 99;   /* the 2 MiB leaf check assumes a small program */
	csr_write(satp, SATP_SV39 | ((unsigned long)root >> 12));
	__asm__ volatile("sfence.vma" ::: "memory");
	CHECK(1, csr_read(satp) == (SATP_SV39 | ((unsigned long)root >> 12)));
	CHECK(2, in_mode(1, s_load, VA(P_RW), &t) == 0x1000 && t == 0);
	CHECK(3, in_mode(1, s_store, VA(P_RW) + 8, &t) == 0 && t == 0 && pages[P_RW][1] == 0x5a5a);
	CHECK(4, in_mode(1, s_load, VA(P_RO), &t) == 0x1001 && t == 0);
	in_mode(1, s_store, VA(P_RO) + 16, &t);
	CHECK(5, FAULTED(t, CAUSE_STORE_PAGE, VA(P_RO) + 16) && pages[P_RO][2] == 0);
	CHECK(6, in_mode(1, s_load, VA(P_INVALID), &t) == 0xdead && FAULTED(t, CAUSE_LOAD_PAGE, VA(P_INVALID)));
	/* Execute-only: readable only with MXR. */
	in_mode(1, s_load, VA(P_XONLY), &t);
	CHECK(7, FAULTED(t, CAUSE_LOAD_PAGE, VA(P_XONLY)));
	csr_set(mstatus, MSTATUS_MXR);
	CHECK(8, in_mode(1, s_load, VA(P_XONLY), &t) == 0x1003 && t == 0);
	csr_clear(mstatus, MSTATUS_MXR);
	/* User page from S: only with SUM. */
	in_mode(1, s_load, VA(P_USER), &t);
	CHECK(9, FAULTED(t, CAUSE_LOAD_PAGE, VA(P_USER)));
	csr_set(mstatus, MSTATUS_SUM);
	CHECK(10, in_mode(1, s_load, VA(P_USER), &t) == 0x1004 && t == 0);
	csr_clear(mstatus, MSTATUS_SUM);
	/* From U: the user page yes, supervisor pages no. */
	CHECK(11, in_mode(0, s_load, VA(P_USER), &t) == 0x1004 && t == 0);
	in_mode(0, s_load, VA(P_RW), &t);
	CHECK(12, FAULTED(t, CAUSE_LOAD_PAGE, VA(P_RW)));
	in_mode(0, s_store, VA(P_USER) + 8, &t);
	CHECK(13, t == 0 && pages[P_USER][1] == 0x5a5a);
	/* Accessed and dirty bits are set by the hardware. */
	CHECK(14, in_mode(1, s_load, VA(P_NOAD), &t) == 0x1005 && t == 0);
	CHECK(15, (l0[P_NOAD] & (PTE_A | PTE_D)) == PTE_A);
	in_mode(1, s_store, VA(P_NOAD) + 8, &t);
	CHECK(16, t == 0 && (l0[P_NOAD] & (PTE_A | PTE_D)) == (PTE_A | PTE_D) && pages[P_NOAD][1] == 0x5a5a);
	/* W without R is reserved: a page fault for loads and stores. */
	in_mode(1, s_load, VA(P_WONLY), &t);
	CHECK(17, FAULTED(t, CAUSE_LOAD_PAGE, VA(P_WONLY)));
	in_mode(1, s_store, VA(P_WONLY), &t);
	CHECK(18, FAULTED(t, CAUSE_STORE_PAGE, VA(P_WONLY)));
	/* Misaligned superpage. */
	in_mode(1, s_load, VBASE + 0x200000 + 64, &t);
	CHECK(19, FAULTED(t, CAUSE_LOAD_PAGE, VBASE + 0x200000 + 64));
	CHECK(28, in_mode(1, s_load, VBASE + 0x400000 + ((unsigned long)pages[P_OTHER] - 0x80000000UL), &t) ==
			  0x1007 && t == 0);
	/* Non-canonical address (bit 38 not copied up): page fault, not access fault. */
	in_mode(1, s_load, 0x0000004000000000UL, &t);
	CHECK(20, FAULTED(t, CAUSE_LOAD_PAGE, 0x0000004000000000UL));
	/* Nothing mapped at all below 1 GiB. */
	in_mode(1, s_load, 0x1000, &t);
	CHECK(21, FAULTED(t, CAUSE_LOAD_PAGE, 0x1000));
	/* Fetch from a non-executable page, and from a user page in S. */
	in_mode(1, s_call, VA(P_RW), &t);
	CHECK(22, FAULTED(t, CAUSE_FETCH_PAGE, VA(P_RW)));
	csr_set(mstatus, MSTATUS_SUM);
	in_mode(1, s_call, VA(P_USER), &t);
	CHECK(23, FAULTED(t, CAUSE_FETCH_PAGE, VA(P_USER)));
	csr_clear(mstatus, MSTATUS_SUM);
	/* A changed PTE is seen after sfence.vma. */
	l0[P_RW] = PTE_LEAF(pages[P_OTHER], RWAD);
	CHECK(24, in_mode(1, s_sfence_load, VA(P_RW), &t) == 0x1007 && t == 0);
	l0[P_RW] = PTE_LEAF(pages[P_RW], RWAD);
	CHECK(25, in_mode(1, s_sfence_load, VA(P_RW), &t) == 0x1000 && t == 0);
	/* MPRV: M-mode loads translated as S (MPP). */
	{
		unsigned long v;

		csr_clear(mstatus, MSTATUS_MPP);
		csr_set(mstatus, 0x800UL);
		__asm__ volatile("csrs mstatus, %1\n\tld %0, 0(%2)\n\tcsrc mstatus, %1"
				 : "=&r"(v)
				 : "r"(MSTATUS_MPRV), "r"(VA(P_RO))
				 : "memory");
		CHECK(26, v == 0x1001);
		csr_set(mstatus, MSTATUS_MPP);
	}
	/* M-mode itself is never translated. */
	CHECK(27, *(volatile unsigned long *)pages[P_RO] == 0x1001);
	csr_write(satp, 0);
	__asm__ volatile("sfence.vma" ::: "memory");
	return 0;
}

static long sv48(void)
{
	unsigned long t;

	csr_write(satp, SATP_SV48 | ((unsigned long)root48 >> 12));
	__asm__ volatile("sfence.vma" ::: "memory");
	CHECK(40, csr_read(satp) == (SATP_SV48 | ((unsigned long)root48 >> 12)));
	/* Through the Sv39 root now used as a level-2 table. */
	CHECK(41, in_mode(1, s_load, VA(P_RO), &t) == 0x1001 && t == 0);
	in_mode(1, s_store, VA(P_RO), &t);
	CHECK(42, FAULTED(t, CAUSE_STORE_PAGE, VA(P_RO)));
	/* An address only Sv48 can form. */
	CHECK(43, in_mode(1, s_load, (1UL << 39) + VA(P_RW), &t) == 0x1000 && t == 0);
	/* The 512 GiB leaf: VA 1 TiB + PA. */
	CHECK(44, in_mode(1, s_load, (2UL << 39) + (unsigned long)&pages[P_OTHER][0], &t) == 0x1007 && t == 0);
	/* Unmapped in the top-level table, and non-canonical for Sv48. */
	in_mode(1, s_load, 3UL << 39, &t);
	CHECK(45, FAULTED(t, CAUSE_LOAD_PAGE, 3UL << 39));
	in_mode(1, s_load, 1UL << 47, &t);
	CHECK(46, FAULTED(t, CAUSE_LOAD_PAGE, 1UL << 47));
	CHECK(47, in_mode(0, s_load, VA(P_USER), &t) == 0x1004 && t == 0);
	csr_write(satp, 0);
	__asm__ volatile("sfence.vma" ::: "memory");
	return 0;
}

int main(void)
{
	build_tables();
	trap_hook = mmu_hook;
	RUN(sv39());
	RUN(sv48());
	return 0;
}
