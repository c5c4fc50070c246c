/*
 * test_hart.c - unit tests of the CPU (src/cpu): integer and compressed
 * instructions, CSRs, traps and delegation, interrupts, WFI, Sv39 paging with
 * A/D updates and permission faults, misaligned accesses, LR/SC/AMO, exact
 * instruction budgets, self-modifying code, fence.i, HTIF tohost and Sstc.
 *
 * Programs are hand-encoded into guest RAM by the small encoder below; state
 * that is awkward to reach by instructions is set through hart_state().
 * Every test runs twice: with the interpreter alone, and with the translator
 * compiling each block the first time the loop meets it.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* The library is the obj build's: counters are compiled in (test_lr_sc_amo reads one). */
#define VMX_STATS 1
#include "cpu/hart.h"
#include "cpu/hart_int.h"
#include "cpu/hart_state.h"
#include "mem/bus.h"
#include "mem/ram.h"
#include "stats/stats.h"

#define BASE 0x80000000ULL
#define MSTATUS_MIE (1ULL << 3)
#define MSTATUS_MPP (3ULL << 11)
#define MSTATUS_FS (3ULL << 13)
#define MSTATUS_SUM (1ULL << 18)
#define MSTATUS_MXR (1ULL << 19)
#define MSTATUS_SIE (1ULL << 1)
#define INTR (1ULL << 63)

/* ---- encoder ---------------------------------------------------------- */
static uint32_t R(uint32_t f7, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{
	return f7 << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t I(int32_t imm, uint32_t rs1, uint32_t f3, uint32_t rd, uint32_t op)
{
	return ((uint32_t)imm & 0xfff) << 20 | rs1 << 15 | f3 << 12 | rd << 7 | op;
}
static uint32_t S(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3, uint32_t op)
{
	uint32_t u = (uint32_t)imm;
	return ((u >> 5) & 0x7f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 | (u & 0x1f) << 7 | op;
}
static uint32_t Bt(int32_t imm, uint32_t rs2, uint32_t rs1, uint32_t f3)
{
	uint32_t u = (uint32_t)imm;
	return ((u >> 12) & 1) << 31 | ((u >> 5) & 0x3f) << 25 | rs2 << 20 | rs1 << 15 | f3 << 12 |
	       ((u >> 1) & 0xf) << 8 | ((u >> 11) & 1) << 7 | 0x63;
}
static uint32_t J(int32_t imm, uint32_t rd)
{
	uint32_t u = (uint32_t)imm;
	return ((u >> 20) & 1) << 31 | ((u >> 1) & 0x3ff) << 21 | ((u >> 11) & 1) << 20 |
	       ((u >> 12) & 0xff) << 12 | rd << 7 | 0x6f;
}
#define ADDI(rd, rs, imm) I(imm, rs, 0, rd, 0x13)
#define ADDIW(rd, rs, imm) I(imm, rs, 0, rd, 0x1b)
#define LUI(rd, imm20) ((uint32_t)(imm20) << 12 | (rd) << 7 | 0x37)
#define LD(rd, rs, imm) I(imm, rs, 3, rd, 0x03)
#define LW(rd, rs, imm) I(imm, rs, 2, rd, 0x03)
#define SD(rs2, rs1, imm) S(imm, rs2, rs1, 3, 0x23)
#define SW(rs2, rs1, imm) S(imm, rs2, rs1, 2, 0x23)
#define BNE(a, b, imm) Bt(imm, b, a, 1)
#define JSELF J(0, 0)
#define CSRRW(rd, csr, rs) ((uint32_t)(csr) << 20 | (rs) << 15 | 1 << 12 | (rd) << 7 | 0x73)
#define CSRRS(rd, csr, rs) ((uint32_t)(csr) << 20 | (rs) << 15 | 2 << 12 | (rd) << 7 | 0x73)
#define ECALL 0x00000073u
#define MRET 0x30200073u
#define WFI 0x10500073u
#define FENCE_I 0x0000100fu
#define AMO(f5, f3, rd, rs2, rs1) ((uint32_t)(f5) << 27 | (rs2) << 20 | (rs1) << 15 | (f3) << 12 | (rd) << 7 | 0x2f)
#define FADD_D(rd, a, b) R(0x01, b, a, 7, rd, 0x53)

/* ---- fixture ---------------------------------------------------------- */
struct env {
	struct guest_ram ram;
	struct bus bus;
	struct hart_platform plat;
	struct hart *h;
	struct hart_state *s;
	uint64_t now;
};

static uint64_t fake_time(void *ctx) { return ((struct env *)ctx)->now; }

/* This pass's engine: the interpreter alone, or the translator at once. */
static bool g_translate;

static int setup_tohost(void **state, uint64_t tohost)
{
	struct env *e = calloc(1, sizeof(*e));
	struct verr err;
	assert_non_null(e);
	assert_int_equal(ram_create(&e->ram, BASE, 16 << 20, &err), 0);
	bus_init(&e->bus, &e->ram);
	e->plat.bus = &e->bus;
	e->plat.time = fake_time;
	e->plat.ctx = e;
	e->plat.timebase_hz = 10000000;
	e->plat.tohost = tohost;
	e->plat.translate = g_translate;
	assert_int_equal(hart_create(&e->h, 0, &e->plat, &err), 0);
	hart_jit_threshold(e->h, 1);
	hart_reset(e->h, BASE);
	e->s = hart_state(e->h);
	*state = e;
	return 0;
}
static int setup(void **state) { return setup_tohost(state, 0); }
static int setup_htif(void **state) { return setup_tohost(state, BASE + 0x1000); }

static int teardown(void **state)
{
	struct env *e = *state;
	hart_destroy(e->h);
	ram_destroy(&e->ram);
	free(e);
	return 0;
}

static void *gp(struct env *e, uint64_t pa) { return ram_ptr(&e->ram, pa, 1); }
static void put32(struct env *e, uint64_t pa, uint32_t v) { memcpy(gp(e, pa), &v, 4); }
static void put16(struct env *e, uint64_t pa, uint16_t v) { memcpy(gp(e, pa), &v, 2); }
static void put64(struct env *e, uint64_t pa, uint64_t v) { memcpy(gp(e, pa), &v, 8); }
static uint64_t get64(struct env *e, uint64_t pa) { uint64_t v; memcpy(&v, gp(e, pa), 8); return v; }
/* Code goes in through the bus, as loaders do, so decoded copies are dropped. */
static void prog(struct env *e, uint64_t pa, const uint32_t *w, size_t n)
{
	assert_int_equal(bus_dma_write(&e->bus, pa, w, 4 * n), 0);
}
#define PROG(e, pa, ...) do { const uint32_t w_[] = { __VA_ARGS__ }; prog(e, pa, w_, sizeof(w_) / 4); } while (0)
#define X(r) hart_get_xreg(e->h, r)

/* Points the M-mode trap vector at a self-loop so a trap is observable. */
static void trap_to_loop(struct env *e)
{
	PROG(e, BASE + 0x800, JSELF);
	e->s->mtvec = BASE + 0x800;
	PROG(e, BASE + 0x900, JSELF);
	e->s->stvec = BASE + 0x900;
}

/* ---- integer ---------------------------------------------------------- */
static void test_div_rem_edges(void **state)
{
	struct env *e = *state;
	hart_set_xreg(e->h, 1, (uint64_t)INT64_MIN);
	hart_set_xreg(e->h, 2, (uint64_t)-1);
	hart_set_xreg(e->h, 3, 0);
	hart_set_xreg(e->h, 4, 7);
	PROG(e, BASE,
	     R(1, 2, 1, 4, 10, 0x33),   /* div x10 = MIN / -1 = MIN */
	     R(1, 2, 1, 6, 11, 0x33),   /* rem x11 = 0 */
	     R(1, 3, 4, 4, 12, 0x33),   /* div x12 = 7 / 0 = -1 */
	     R(1, 3, 4, 6, 13, 0x33),   /* rem x13 = 7 */
	     R(1, 3, 4, 5, 14, 0x33),   /* divu x14 = all ones */
	     R(1, 3, 4, 7, 15, 0x33),   /* remu x15 = 7 */
	     R(1, 3, 4, 4, 16, 0x3b),   /* divw x16 = -1 */
	     R(1, 2, 1, 4, 17, 0x3b),   /* divw: low words 0 / -1 = 0 */
	     R(1, 3, 2, 7, 18, 0x3b),   /* remuw x18 = sext(0xffffffff) */
	     R(1, 2, 2, 3, 19, 0x33),   /* mulhu x19 = (2^64-1)^2 >> 64 = 2^64-2 */
	     R(1, 2, 2, 1, 20, 0x33),   /* mulh x20 = 0 */
	     R(1, 2, 2, 2, 21, 0x33),   /* mulhsu (-1)*(2^64-1) >> 64 = -1 */
	     JSELF);
	assert_int_equal(hart_run(e->h, 12), HART_EXIT_BUDGET);
	assert_int_equal(X(10), (uint64_t)INT64_MIN);
	assert_int_equal(X(11), 0);
	assert_int_equal(X(12), UINT64_MAX);
	assert_int_equal(X(13), 7);
	assert_int_equal(X(14), UINT64_MAX);
	assert_int_equal(X(15), 7);
	assert_int_equal(X(16), UINT64_MAX);
	assert_int_equal(X(17), 0);
	assert_int_equal(X(18), UINT64_MAX);
	assert_int_equal(X(19), UINT64_MAX - 1);
	assert_int_equal(X(20), 0);
	assert_int_equal(X(21), UINT64_MAX);
}

static void test_shifts_and_w_ops(void **state)
{
	struct env *e = *state;
	hart_set_xreg(e->h, 1, 0x80000000ULL);
	hart_set_xreg(e->h, 2, 65);          /* shift amounts use the low 6 (or 5) bits */
	hart_set_xreg(e->h, 3, 0x7fffffffULL);
	PROG(e, BASE,
	     R(0, 2, 1, 1, 10, 0x33),        /* sll  x10 = x1 << 1 */
	     R(0x20, 2, 1, 5, 11, 0x3b),     /* sraw x11 = (int32)0x80000000 >> 1 */
	     R(0, 2, 1, 5, 12, 0x3b),        /* srlw x12 = 0x40000000 */
	     ADDIW(13, 3, 1),                /* addiw overflow: sext(0x80000000) */
	     R(0, 3, 3, 0, 14, 0x3b),        /* addw x14 = sext(0xfffffffe) */
	     I(0x43f, 1, 5, 15, 0x13),       /* srai x15 = x1 >> 63 (0) */
	     ADDI(0, 0, 5),                  /* writes to x0 are dropped */
	     R(0, 1, 3, 2, 16, 0x33),        /* slt 0x7fffffff < 0x80000000 */
	     JSELF);
	assert_int_equal(hart_run(e->h, 8), HART_EXIT_BUDGET);
	assert_int_equal(X(10), 0x100000000ULL);
	assert_int_equal(X(11), 0xffffffffc0000000ULL);
	assert_int_equal(X(12), 0x40000000ULL);
	assert_int_equal(X(13), 0xffffffff80000000ULL);
	assert_int_equal(X(14), 0xfffffffffffffffeULL);
	assert_int_equal(X(15), 0);
	assert_int_equal(X(0), 0);
	assert_int_equal(X(16), 1);
}

static uint16_t cj(int32_t off)
{
	uint32_t u = (uint32_t)off;
	return (uint16_t)(5u << 13 | ((u >> 11) & 1) << 12 | ((u >> 4) & 1) << 11 |
			  ((u >> 8) & 3) << 9 | ((u >> 10) & 1) << 8 | ((u >> 6) & 1) << 7 |
			  ((u >> 7) & 1) << 6 | ((u >> 1) & 7) << 3 | ((u >> 5) & 1) << 2 | 1);
}

static void test_compressed(void **state)
{
	struct env *e = *state;
	uint64_t pc = BASE;
	put16(e, pc, 2u << 13 | 1u << 12 | 10u << 7 | 0x1bu << 2 | 1); pc += 2; /* c.li a0, -5 */
	put16(e, pc, 0u << 13 | 10u << 7 | 7u << 2 | 1); pc += 2;              /* c.addi a0, 7 -> 2 */
	put16(e, pc, 4u << 13 | 11u << 7 | 10u << 2 | 2); pc += 2;             /* c.mv a1, a0 */
	put16(e, pc, 4u << 13 | 1u << 12 | 11u << 7 | 10u << 2 | 2); pc += 2;  /* c.add a1, a0 -> 4 */
	put16(e, pc, 0u << 13 | 11u << 7 | 4u << 2 | 2); pc += 2;              /* c.slli a1, 4 -> 64 */
	put16(e, pc, 3u << 13 | 1u << 12 | 12u << 7 | 0x1fu << 2 | 1); pc += 2;/* c.lui a2, 0xfffff */
	put16(e, pc, 4u << 13 | 3u << 10 | (11u - 8) << 7 | 0u << 5 | (10u - 8) << 2 | 1);
	pc += 2;                                                             /* c.sub a1, a0 -> 62 */
	put16(e, pc, cj(4)); pc += 2;                                        /* c.j +4 */
	put16(e, pc, 2u << 13 | 13u << 7 | 1u << 2 | 1); pc += 2;             /* skipped c.li a3,1 */
	put16(e, pc, 2u << 13 | 14u << 7 | 9u << 2 | 1); pc += 2;             /* c.li a4, 9 */
	put32(e, pc, JSELF);                                                 /* 32-bit after 16-bit */
	assert_int_equal(hart_run(e->h, 9), HART_EXIT_BUDGET);
	assert_int_equal(X(10), 2);
	assert_int_equal(X(11), 62);
	assert_int_equal(X(12), 0xfffffffffffff000ULL);
	assert_int_equal(X(13), 0);
	assert_int_equal(X(14), 9);
	assert_int_equal(hart_get_pc(e->h), pc);
}

/* ---- budget and determinism -------------------------------------------- */
static void load_loop(struct env *e)
{
	PROG(e, BASE, ADDI(5, 5, 1), ADDI(6, 6, 2), BNE(5, 7, -8), JSELF);
	hart_set_xreg(e->h, 7, 1000);
}

static void test_exact_budget(void **state)
{
	struct env *e = *state;
	load_loop(e);
	assert_int_equal(hart_run(e->h, 10), HART_EXIT_BUDGET);
	assert_int_equal(hart_instret(e->h), 10);
	assert_int_equal(X(5), 4);
	assert_int_equal(X(6), 6);
	assert_int_equal(hart_get_pc(e->h), BASE + 4);
	assert_int_equal(hart_run(e->h, 5), HART_EXIT_BUDGET);
	assert_int_equal(hart_instret(e->h), 15);
	assert_int_equal(X(5), 5);
	assert_int_equal(X(6), 10);
	assert_int_equal(hart_get_pc(e->h), BASE);
	for (unsigned i = 1; i <= 40; i++)
		assert_int_equal(hart_run(e->h, i), HART_EXIT_BUDGET);
	assert_int_equal(hart_instret(e->h), 15 + 40 * 41 / 2);
	/* minstret agrees with the count */
	assert_int_equal(hart_run(e->h, 0), HART_EXIT_BUDGET);
	assert_int_equal(hart_instret(e->h), 15 + 820);
}

static void test_deterministic(void **state)
{
	struct env *e = *state;
	struct hart_state a;
	load_loop(e);
	hart_run(e->h, 1234);
	memcpy(&a, e->s, sizeof(a));
	hart_reset(e->h, BASE);
	hart_set_xreg(e->h, 7, 1000);
	for (int i = 0; i < 1234; i += 100)
		hart_run(e->h, 1234 - i < 100 ? 1234 - i : 100);
	assert_memory_equal(&a, e->s, sizeof(a));
}

/* ---- CSRs, traps, interrupts ------------------------------------------- */
static void test_csr_and_illegal(void **state)
{
	struct env *e = *state;
	trap_to_loop(e);
	hart_set_xreg(e->h, 6, 0x1234);
	PROG(e, BASE,
	     CSRRW(5, 0x340, 6),    /* mscratch */
	     CSRRS(7, 0x340, 0),
	     CSRRS(8, 0x301, 0),    /* misa */
	     CSRRS(9, 0xf14, 0),    /* mhartid */
	     CSRRS(10, 0x7c0, 0));  /* custom CSR: illegal */
	assert_int_equal(hart_run(e->h, 5), HART_EXIT_BUDGET);
	assert_int_equal(X(5), 0);
	assert_int_equal(X(7), 0x1234);
	assert_int_equal(X(8), (2ULL << 62) | 0x14112d);
	assert_int_equal(X(9), 0);
	assert_int_equal(e->s->mcause, 2);
	assert_int_equal(e->s->mepc, BASE + 16);
	assert_int_equal(e->s->mtval, CSRRS(10, 0x7c0, 0));
	assert_int_equal(hart_get_pc(e->h), BASE + 0x800);
	/* the trapping instruction did not retire, the loop at mtvec did once */
	assert_int_equal(hart_instret(e->h), 5);
}

static void test_readonly_csr_write_is_illegal(void **state)
{
	struct env *e = *state;
	trap_to_loop(e);
	PROG(e, BASE, CSRRW(0, 0xf14, 5));
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 2);
}

static void test_ecall_delegation(void **state)
{
	struct env *e = *state;
	trap_to_loop(e);
	e->s->medeleg = 1 << 8;          /* ecall from U goes to S */
	e->s->mepc = BASE + 0x100;
	e->s->mstatus &= ~MSTATUS_MPP;   /* MPP = U */
	PROG(e, BASE, MRET);
	PROG(e, BASE + 0x100, ECALL);
	PROG(e, BASE + 0x900, ECALL, JSELF);   /* S handler: ecall from S is not delegated */
	hart_run(e->h, 1);
	assert_int_equal(e->s->priv, PRIV_U);
	hart_run(e->h, 1);   /* ecall from U: no retire, then S handler's ecall */
	assert_int_equal(e->s->scause, 8);
	assert_int_equal(e->s->sepc, BASE + 0x100);
	assert_int_equal(e->s->mstatus & (1 << 8), 0);  /* SPP = U */
	assert_int_equal(e->s->mcause, 9);
	assert_int_equal(e->s->mepc, BASE + 0x900);
	assert_int_equal(e->s->priv, PRIV_M);
	assert_int_equal((e->s->mstatus & MSTATUS_MPP) >> 11, PRIV_S);
}

static void test_interrupt_priority(void **state)
{
	struct env *e = *state;
	trap_to_loop(e);
	PROG(e, BASE, JSELF);
	e->s->mie = MIP_MSIP | MIP_MTIP | MIP_MEIP;
	hart_set_irq(e->h, MIP_MTIP | MIP_MSIP | MIP_MEIP, true);
	hart_run(e->h, 1);   /* MIE = 0 in M-mode: nothing taken */
	assert_int_equal(hart_get_pc(e->h), BASE);
	e->s->mstatus |= MSTATUS_MIE;
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, INTR | 11);
	hart_set_irq(e->h, MIP_MEIP, false);
	e->s->pc = BASE;
	e->s->mstatus |= MSTATUS_MIE;
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, INTR | 3);
	hart_set_irq(e->h, MIP_MSIP, false);
	e->s->pc = BASE;
	e->s->mstatus |= MSTATUS_MIE;
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, INTR | 7);
}

static void test_s_interrupt_vs_m(void **state)
{
	struct env *e = *state;
	trap_to_loop(e);
	PROG(e, BASE, JSELF);
	e->s->priv = PRIV_S;
	e->s->mideleg = MIP_SEIP | MIP_STIP | MIP_SSIP;
	e->s->mie = MIP_SEIP | MIP_MTIP;
	e->s->mstatus |= MSTATUS_SIE;
	hart_flush_caches(e->h);
	hart_set_irq(e->h, MIP_SEIP, true);
	hart_run(e->h, 1);
	assert_int_equal(e->s->scause, INTR | 9);
	assert_int_equal(e->s->priv, PRIV_S);
	/* M-level MTI preempts S even with mstatus.MIE = 0, and beats SEI */
	e->s->pc = BASE;
	e->s->mstatus |= MSTATUS_SIE;
	hart_set_irq(e->h, MIP_MTIP, true);
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, INTR | 7);
	assert_int_equal(e->s->priv, PRIV_M);
}

static void test_wfi(void **state)
{
	struct env *e = *state;
	PROG(e, BASE, WFI, ADDI(5, 0, 1), JSELF);
	assert_int_equal(hart_run(e->h, 100), HART_EXIT_WFI);
	assert_int_equal(hart_get_pc(e->h), BASE + 4);
	assert_int_equal(hart_instret(e->h), 1);
	assert_false(hart_irq_pending(e->h));
	e->s->mie = MIP_MTIP;
	hart_set_irq(e->h, MIP_MTIP, true);
	assert_true(hart_irq_pending(e->h));
	assert_int_equal(hart_run(e->h, 1), HART_EXIT_BUDGET);   /* MIE=0: resumes after wfi */
	assert_int_equal(X(5), 1);
}

static void test_trap_storm_returns(void **state)
{
	struct env *e = *state;
	/* mtvec points at an illegal instruction: nothing ever retires */
	PROG(e, BASE, 0xffffffffu);
	e->s->mtvec = BASE;
	assert_int_equal(hart_run(e->h, 1000), HART_EXIT_BUDGET);
	assert_int_equal(hart_instret(e->h), 0);
	assert_int_equal(e->s->mcause, 2);
	assert_int_equal(e->s->mtval, 0xffffffffu);
}

static void test_kick(void **state)
{
	struct env *e = *state;
	PROG(e, BASE, JSELF);
	hart_kick(e->h);
	assert_int_equal(hart_run(e->h, 1000), HART_EXIT_STOP);
	assert_int_equal(hart_run(e->h, 10), HART_EXIT_BUDGET);
}

static void test_counter_gating(void **state)
{
	struct env *e = *state;
	trap_to_loop(e);
	PROG(e, BASE, CSRRS(5, 0xc02, 0), JSELF);   /* instret */
	e->s->priv = PRIV_U;
	hart_flush_caches(e->h);
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 2);
	hart_reset(e->h, BASE);
	trap_to_loop(e);
	e->s->priv = PRIV_U;
	e->s->mcounteren = 7;
	e->s->scounteren = 7;
	hart_flush_caches(e->h);
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 0);
	assert_int_equal(hart_get_pc(e->h), BASE + 4);
}

static void test_fp_off_is_illegal(void **state)
{
	struct env *e = *state;
	trap_to_loop(e);
	PROG(e, BASE, FADD_D(1, 2, 3), FADD_D(1, 2, 3), JSELF);
	e->s->f[2] = 0x3ff0000000000000ULL;   /* 1.0 */
	e->s->f[3] = 0x4000000000000000ULL;   /* 2.0 */
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 2);
	hart_reset(e->h, BASE);
	e->s->f[2] = 0x3ff0000000000000ULL;
	e->s->f[3] = 0x4000000000000000ULL;
	e->s->mstatus |= 1ULL << 13;          /* FS = initial */
	PROG(e, BASE + 8, CSRRS(5, 0x300, 0));
	hart_run(e->h, 3);
	assert_int_equal(e->s->f[1], 0x4008000000000000ULL);   /* 3.0 */
	assert_int_equal(X(5) & MSTATUS_FS, MSTATUS_FS);         /* dirty */
	assert_true(X(5) >> 63);                                  /* SD */
}

static void test_satp_warl(void **state)
{
	struct env *e = *state;
	hart_set_xreg(e->h, 5, 10ULL << 60 | 0x80100);   /* Sv57: unsupported */
	hart_set_xreg(e->h, 6, 9ULL << 60 | 0x80100);    /* Sv48 */
	PROG(e, BASE, CSRRW(0, 0x180, 5), CSRRS(7, 0x180, 0), CSRRW(0, 0x180, 6),
	     CSRRS(8, 0x180, 0), JSELF);
	hart_run(e->h, 4);
	assert_int_equal(X(7), 0);
	assert_int_equal(X(8), 9ULL << 60 | 0x80100);
}

static void test_sstc(void **state)
{
	struct env *e = *state;
	PROG(e, BASE, JSELF);
	assert_int_equal(hart_timer_deadline(e->h), UINT64_MAX);
	e->now = 50;
	hart_set_xreg(e->h, 5, 1ULL << 63);
	hart_set_xreg(e->h, 6, 100);
	PROG(e, BASE, CSRRW(0, 0x30a, 5), CSRRW(0, 0x14d, 6), CSRRS(7, 0xc01, 0), JSELF);
	hart_run(e->h, 3);
	assert_int_equal(X(7), 50);
	assert_int_equal(hart_timer_deadline(e->h), 100);
	assert_int_equal(e->s->mip & MIP_STIP, 0);
	hart_update_timer(e->h, 150);
	assert_int_equal(e->s->mip & MIP_STIP, MIP_STIP);
	hart_update_timer(e->h, 99);
	assert_int_equal(e->s->mip & MIP_STIP, 0);
}

static void test_tohost(void **state)
{
	struct env *e = *state;
	hart_set_xreg(e->h, 5, 0x2b);
	hart_set_xreg(e->h, 6, BASE + 0x1000);
	PROG(e, BASE, SD(5, 6, 0), JSELF);
	assert_int_equal(hart_run(e->h, 1000), HART_EXIT_TOHOST);
	assert_int_equal(hart_tohost_value(e->h), 0x2b);
	assert_int_equal(hart_instret(e->h), 1);
}

/* ---- memory ------------------------------------------------------------ */
static void test_misaligned(void **state)
{
	struct env *e = *state;
	trap_to_loop(e);
	for (unsigned i = 0; i < 16; i++)
		((uint8_t *)gp(e, BASE + 0x1ff8))[i] = (uint8_t)(0x10 + i);
	hart_set_xreg(e->h, 5, BASE + 0x1ff9);   /* within a page */
	hart_set_xreg(e->h, 6, BASE + 0x1ffd);   /* crosses into the next page */
	hart_set_xreg(e->h, 9, 0x1122334455667788ULL);
	PROG(e, BASE, LD(7, 5, 0), LD(8, 6, 0), SD(9, 6, 0), LW(10, 6, 1),
	     AMO(0x02, 3, 11, 0, 5));   /* lr.d misaligned: address-misaligned trap */
	hart_run(e->h, 4);
	assert_int_equal(X(7), 0x1817161514131211ULL);
	assert_int_equal(X(8), 0x1c1b1a1918171615ULL);
	assert_int_equal(get64(e, BASE + 0x1ffd - 5) >> 40, 0x667788);
	assert_int_equal(X(10), 0x44556677ULL);
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 4);
	assert_int_equal(e->s->mtval, BASE + 0x1ff9);
	e->s->pc = BASE + 0x10;
	PROG(e, BASE + 0x10, AMO(0x00, 2, 11, 9, 6));  /* amoadd.w misaligned */
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 6);
}

static void test_unmapped_is_access_fault(void **state)
{
	struct env *e = *state;
	trap_to_loop(e);
	hart_set_xreg(e->h, 5, 0x1000);   /* nothing there */
	PROG(e, BASE, LD(6, 5, 0), JSELF);
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 5);
	assert_int_equal(e->s->mtval, 0x1000);
	e->s->pc = BASE;
	PROG(e, BASE, SD(6, 5, 8));
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 7);
	e->s->pc = 0x2000;                /* fetch from nowhere */
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 1);
	assert_int_equal(e->s->mtval, 0x2000);
}

static void test_lr_sc_amo(void **state)
{
	struct env *e = *state;
	uint64_t a = BASE + 0x2000;
	put64(e, a, 100);
	put64(e, a + 8, 0x80000000ULL);
	hart_set_xreg(e->h, 5, a);
	hart_set_xreg(e->h, 6, a + 8);
	hart_set_xreg(e->h, 8, 555);
	hart_set_xreg(e->h, 12, (uint64_t)-1);
	PROG(e, BASE,
	     AMO(0x02, 3, 7, 0, 5),     /* lr.d x7, (x5) */
	     AMO(0x03, 3, 9, 8, 5),     /* sc.d x9, x8, (x5): success -> 0 */
	     AMO(0x03, 3, 10, 8, 5),    /* again without reservation -> 1 */
	     AMO(0x00, 3, 11, 8, 5),    /* amoadd.d x11 = 555, mem = 1110 */
	     AMO(0x01, 2, 13, 12, 6),   /* amoswap.w x13 = sext(0x80000000) */
	     AMO(0x10, 2, 14, 0, 6),    /* amomin.w: min(-1, 0) = -1 stays */
	     AMO(0x18, 2, 15, 0, 6),    /* amominu.w: minu(0xffffffff, 0) = 0 */
	     JSELF);
	uint64_t amo0 = stats_total(STAT_INSN_AMO);
	hart_run(e->h, 7);
	/* Counted in the hart, in the thread's counter slot once hart_run returns. */
	assert_int_equal(stats_total(STAT_INSN_AMO) - amo0, 7);
	assert_int_equal(X(7), 100);
	assert_int_equal(X(9), 0);
	assert_int_equal(X(10), 1);
	assert_int_equal(X(11), 555);
	assert_int_equal(get64(e, a), 1110);
	assert_int_equal(X(13), 0xffffffff80000000ULL);
	assert_int_equal(X(14), UINT64_MAX);
	assert_int_equal(X(15), UINT64_MAX);
	assert_int_equal(get64(e, a + 8), 0);
}

static void test_reservation_dropped_between_runs(void **state)
{
	struct env *e = *state;
	uint64_t a = BASE + 0x2000;
	hart_set_xreg(e->h, 5, a);
	PROG(e, BASE, AMO(0x02, 3, 7, 0, 5), AMO(0x03, 3, 9, 8, 5), JSELF);
	hart_run(e->h, 1);
	hart_run(e->h, 1);
	assert_int_equal(X(9), 1);
}

/* ---- dirty log (live migration) ----------------------------------------- */
#define NPG ((16u << 20) >> 12)
static bool dirty(const uint64_t *b, uint64_t pa)
{
	uint64_t pg = (pa - BASE) >> 12;
	return b[pg >> 6] >> (pg & 63) & 1;
}
static unsigned ndirty(const uint64_t *b)
{
	unsigned n = 0;
	for (unsigned i = 0; i < NPG / 64; i++)
		n += (unsigned)__builtin_popcountll(b[i]);
	return n;
}

/*
 * Stores through a write-TLB entry, an AMO, and DMA are all logged; an entry
 * made before a sync does not let later stores through unlogged; nothing is
 * logged once the log is off.
 */
static void test_dirty_log(void **state)
{
	struct env *e = *state;
	uint64_t b[NPG / 64];
	struct verr err;
	uint64_t pa = BASE + 0x5000, pb = BASE + 0x9000, pc = BASE + 0xc000;

	hart_set_xreg(e->h, 5, pa);
	hart_set_xreg(e->h, 6, pb);
	hart_set_xreg(e->h, 8, 1);
	/* loop: sd x8, 0(x5); amoadd.d x0, x8, (x6); j loop */
	PROG(e, BASE, SD(8, 5, 0), AMO(0x00, 3, 0, 8, 6), J(-8, 0));
	/* Before the log: the entry for pa exists already. */
	hart_run(e->h, 3);
	assert_int_equal(hart_dirty_start(e->h, &err), 0);
	memset(b, 0, sizeof(b));
	assert_int_equal(hart_dirty_sync(e->h, b), 0);
	hart_run(e->h, 30);
	uint32_t w = 7;
	assert_int_equal(bus_dma_write(&e->bus, pc, &w, 4), 0);
	assert_int_equal(hart_dirty_sync(e->h, b), 3);
	assert_true(dirty(b, pa) && dirty(b, pb) && dirty(b, pc));
	assert_int_equal(ndirty(b), 3);
	/* The entry made in that round is gone after the sync: the next store logs again. */
	memset(b, 0, sizeof(b));
	hart_run(e->h, 3);
	assert_int_equal(hart_dirty_sync(e->h, b), 2);
	assert_true(dirty(b, pa) && dirty(b, pb) && !dirty(b, pc));
	/* Nothing ran: nothing written. */
	memset(b, 0, sizeof(b));
	assert_int_equal(hart_dirty_sync(e->h, b), 0);
	hart_dirty_stop(e->h);
	hart_run(e->h, 30);
	assert_int_equal(hart_dirty_sync(e->h, b), 0);
	assert_int_equal(get64(e, pa), 1);
	assert_int_equal(get64(e, pb), 1 + 30 / 3 + 1 + 30 / 3);
}

struct dirty_runner {
	struct env *e;
	int stop;   /* atomic */
};

static void *dirty_run(void *arg)
{
	struct dirty_runner *r = arg;
	while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
		hart_run(r->e->h, 100000);
	return NULL;
}

/*
 * Pre-copy against a hart running on another thread: a copy taken after
 * each sync, plus the pages each later sync reports, always rebuilds memory
 * exactly once the hart has stopped (what the receiver of a migration ends
 * up with).
 */
static void test_dirty_log_concurrent(void **state)
{
	struct env *e = *state;
	enum { SPAN = 8 };
	uint64_t b[NPG / 64], copy[SPAN][512];
	uint64_t area = BASE + 0x10000;
	struct verr err;
	struct dirty_runner r = { e, 0 };
	pthread_t th;

	/* x5 walks SPAN pages, x6 counts: loop: sd x6,0(x5); addi x6,1; addi x5,8; and x5 wraps */
	hart_set_xreg(e->h, 5, area);
	hart_set_xreg(e->h, 7, area);
	hart_set_xreg(e->h, 9, area + SPAN * 4096 - 8);
	PROG(e, BASE,
	     SD(6, 5, 0),            /* 0x00 */
	     ADDI(6, 6, 1),          /* 0x04 */
	     ADDI(5, 5, 8 + 4096),   /* 0x08: next page, next word: every page, all the time */
	     BNE(5, 9, 8),           /* 0x0c: not yet past the end: go on */
	     ADDI(5, 7, 0),          /* 0x10: wrap */
	     J(-20, 0));             /* 0x14 */
	hart_set_xreg(e->h, 9, area + SPAN * (8 + 4096));
	assert_int_equal(hart_dirty_start(e->h, &err), 0);
	assert_int_equal(pthread_create(&th, NULL, dirty_run, &r), 0);
	for (unsigned p = 0; p < SPAN; p++)
		memcpy(copy[p], gp(e, area + p * 4096), 4096);
	/* The hart thread is storing (page 0's word moves) before the rounds start. */
	for (int i = 0; i < 5000 && !__atomic_load_n((uint64_t *)gp(e, area), __ATOMIC_RELAXED); i++)
		usleep(1000);
	unsigned rounds_with_pages = 0;
	for (int round = 0; round < 200; round++) {
		memset(b, 0, sizeof(b));
		usleep(100);
		hart_dirty_sync(e->h, b);
		unsigned n = 0;
		for (unsigned p = 0; p < SPAN; p++)
			if (dirty(b, area + p * 4096)) {
				memcpy(copy[p], gp(e, area + p * 4096), 4096);
				n++;
			}
		rounds_with_pages += n > 0;
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	memset(b, 0, sizeof(b));
	hart_dirty_sync(e->h, b);
	for (unsigned p = 0; p < SPAN; p++)
		if (dirty(b, area + p * 4096))
			memcpy(copy[p], gp(e, area + p * 4096), 4096);
	for (unsigned p = 0; p < SPAN; p++)
		assert_memory_equal(copy[p], gp(e, area + p * 4096), 4096);
	assert_true(rounds_with_pages > 0);
	assert_true(X(6) > 0);
	hart_dirty_stop(e->h);
}

/* ---- code modification -------------------------------------------------- */
static void test_self_modifying_same_block(void **state)
{
	struct env *e = *state;
	hart_set_xreg(e->h, 5, BASE);
	hart_set_xreg(e->h, 6, ADDI(8, 0, 42));
	PROG(e, BASE, SW(6, 5, 8), ADDI(7, 0, 1), ADDI(8, 0, 1), JSELF);
	hart_run(e->h, 3);
	assert_int_equal(X(7), 1);
	assert_int_equal(X(8), 42);
}

static void test_dma_write_invalidates(void **state)
{
	struct env *e = *state;
	uint32_t w = ADDI(9, 0, 2);
	PROG(e, BASE, ADDI(9, 0, 1), JSELF);
	hart_run(e->h, 1);
	assert_int_equal(X(9), 1);
	assert_int_equal(bus_dma_write(&e->bus, BASE, &w, 4), 0);
	e->s->pc = BASE;
	hart_run(e->h, 1);
	assert_int_equal(X(9), 2);
}

/* A device whose register read DMAs new code over guest RAM. */
static int dma_dev_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	struct env *e = dev;
	uint32_t w = ADDI(7, 0, 2);
	*val = 0;
	return bus_dma_write(&e->bus, BASE + 4, &w, 4);
}
static int dma_dev_write(void *dev, uint64_t off, unsigned len, uint64_t val) { return 0; }

static void test_mmio_read_dma_over_running_block(void **state)
{
	struct env *e = *state;
	static const struct mmio_ops ops = { dma_dev_read, dma_dev_write };
	assert_int_equal(bus_map(&e->bus, "dma", 0x10000000, 0x1000, &ops, e), 0);
	hart_set_xreg(e->h, 5, 0x10000000);
	PROG(e, BASE, LD(6, 5, 0), ADDI(7, 0, 1), JSELF);
	hart_run(e->h, 2);
	assert_int_equal(X(7), 2);
	assert_int_equal(hart_instret(e->h), 2);
}

static void test_store_then_fence_i(void **state)
{
	struct env *e = *state;
	/* Budgets cover the whole two-instruction block so the cached copy is used. */
	PROG(e, BASE + 0x100, ADDI(9, 0, 1), JSELF);
	e->s->pc = BASE + 0x100;
	hart_run(e->h, 2);
	assert_int_equal(X(9), 1);
	/* Another block rewrites that code, synchronises and jumps to it. */
	hart_set_xreg(e->h, 5, BASE + 0x100);
	hart_set_xreg(e->h, 6, ADDI(9, 0, 2));
	PROG(e, BASE + 0x200, SW(6, 5, 0), FENCE_I, J(-0x108, 0));
	e->s->pc = BASE + 0x200;
	hart_run(e->h, 5);
	assert_int_equal(X(9), 2);
	assert_int_equal(hart_get_pc(e->h), BASE + 0x104);
}

static void test_flush_caches_after_host_write(void **state)
{
	struct env *e = *state;
	PROG(e, BASE, ADDI(9, 0, 1), JSELF);
	hart_run(e->h, 2);
	/* A write that bypasses the bus (as a checkpoint restore does) needs the flush. */
	put32(e, BASE, ADDI(9, 0, 3));
	hart_flush_caches(e->h);
	e->s->pc = BASE;
	hart_run(e->h, 2);
	assert_int_equal(X(9), 3);
}

static void test_second_hart_store_invalidates_first(void **state)
{
	struct env *e = *state;
	struct hart *b;
	struct verr err;
	assert_int_equal(hart_create(&b, 1, &e->plat, &err), 0);
	PROG(e, BASE, ADDI(9, 0, 1), JSELF);
	hart_run(e->h, 2);
	assert_int_equal(X(9), 1);
	/* hart 1 rewrites hart 0's cached code with an ordinary store */
	hart_reset(b, BASE + 0x400);
	hart_set_xreg(b, 5, BASE);
	hart_set_xreg(b, 6, ADDI(9, 0, 7));
	PROG(e, BASE + 0x400, SW(6, 5, 0), JSELF);
	hart_run(b, 1);
	e->s->pc = BASE;
	hart_run(e->h, 2);
	assert_int_equal(X(9), 7);
	hart_destroy(b);
}

static void ignore_written(void *ctx, uint64_t pa, uint64_t len) { }

static void test_create_refuses_foreign_hook(void **state)
{
	struct guest_ram ram;
	struct bus bus;
	struct hart_platform plat = { 0 };
	struct hart *h = NULL;
	struct verr err;
	assert_int_equal(ram_create(&ram, BASE, 1 << 20, &err), 0);
	bus_init(&bus, &ram);
	bus.ram_written = ignore_written;
	plat.bus = &bus;
	assert_int_equal(hart_create(&h, 0, &plat, &err), -EBUSY);
	assert_null(h);
	ram_destroy(&ram);
}

/*
 * Two harts on one bus, as vCPU threads would run them (here one after the
 * other): a store by one to a page the other has decoded is posted to that
 * hart, which drops the page's blocks at its next block boundary.
 */
static void test_other_hart_store_is_posted(void **state)
{
	struct env *e = *state;
	struct hart *a = e->h, *b = NULL;
	struct verr err;
	assert_int_equal(hart_create(&b, 1, &e->plat, &err), 0);
	hart_jit_threshold(b, 1);
	hart_reset(b, BASE + 0x1000);
	PROG(e, BASE, ADDI(9, 0, 1), JSELF);
	hart_run(a, 1);
	assert_int_equal(X(9), 1);
	/* b writes a's code from another page */
	hart_set_xreg(b, 5, BASE);
	hart_set_xreg(b, 6, ADDI(9, 0, 2));
	PROG(e, BASE + 0x1000, SW(6, 5, 0), JSELF);
	hart_run(b, 1);
	assert_true(__atomic_load_n(&a->kick, __ATOMIC_RELAXED) & HART_KICK_INVAL);
	e->s->pc = BASE;
	hart_run(a, 1);
	assert_int_equal(X(9), 2);
	assert_false(__atomic_load_n(&a->kick, __ATOMIC_RELAXED) & HART_KICK_INVAL);
	hart_destroy(b);
}

/*
 * A hart that first decodes a page takes the other harts' write-TLB entries
 * for it away, and keeps the page as suspect until its next fence.i (a
 * store through such an entry may have been under way).
 */
static void test_first_mark_takes_write_entries(void **state)
{
	struct env *e = *state;
	struct hart *a = e->h, *b = NULL;
	struct verr err;
	const uint64_t page = BASE + 0x2000;
	assert_int_equal(hart_create(&b, 1, &e->plat, &err), 0);
	hart_jit_threshold(b, 1);
	hart_reset(b, BASE + 0x1000);
	hart_set_xreg(b, 5, page + 0x800);
	PROG(e, BASE + 0x1000, SD(6, 5, 0), JSELF);
	hart_run(b, 1);
	const struct tlbe *w = &b->tlb[ACC_W][b->dmode][(page >> 12) & TLB_MASK];
	assert_int_equal(w->tag, page);
	PROG(e, page, ADDI(9, 0, 3), FENCE_I, JSELF);
	e->s->pc = page;
	hart_run(a, 1);
	assert_int_equal(X(9), 3);
	assert_int_equal(w->tag, ~0ULL);
	assert_int_equal(a->nsuspect, 1);
	assert_int_equal(a->suspect[0], page);
	hart_run(a, 1);   /* the fence.i */
	assert_int_equal(a->nsuspect, 0);
	/* b's next store to the page takes the slow path and posts it to a */
	hart_set_xreg(b, 6, ADDI(9, 0, 4));
	hart_set_xreg(b, 5, page);
	put32(e, BASE + 0x1000, SW(6, 5, 0));
	b->s.pc = BASE + 0x1000;
	hart_flush_caches(b);
	hart_run(b, 1);
	e->s->pc = page;
	hart_run(a, 1);
	assert_int_equal(X(9), 4);
	hart_destroy(b);
}

/* ---- paging ----------------------------------------------------------- */
#define PTE_V 1
#define PTE_R 2
#define PTE_W 4
#define PTE_X 8
#define PTE_U 16
#define PTE_A 64
#define PTE_D 128
#define ROOT (BASE + 0x100000)
#define L1 (BASE + 0x101000)
#define L0 (BASE + 0x102000)
/* A jal inside the page continues the block at its target; counts stay exact. */
/*
 * An if/else inside a counted loop: the odd arm is its own block that
 * branches back to the loop.  With the translator it has run as a block
 * before the loop is translated (threshold 4), so it is translated in line
 * in the loop's side exit, keeping the loop's registers in host registers.
 */
static void test_loop_with_side_path(void **state)
{
	struct env *e = *state;
	hart_jit_threshold(e->h, 4);
	PROG(e, BASE,
	     ADDI(10, 0, 100), ADDI(11, 0, 0), ADDI(12, 0, 0),
	     I(1, 12, 7, 13, 0x13),          /* 12 loop: andi x13, x12, 1 */
	     BNE(13, 0, 24),                 /* 16: odd -> 40 */
	     ADDI(11, 11, 3), ADDI(12, 12, 1),
	     BNE(12, 10, -16),               /* 28: -> loop */
	     J(24, 0),                       /* 32: -> done */
	     ADDI(0, 0, 0),
	     ADDI(11, 11, 5), ADDI(12, 12, 1), /* 40 odd */
	     BNE(12, 10, -36),               /* 48: -> loop */
	     J(4, 0),                        /* 52: -> done */
	     JSELF);                         /* 56 done */
	hart_run(e->h, 10000);
	assert_int_equal(X(11), 50 * 3 + 50 * 5);
	assert_int_equal(X(12), 100);
	assert_int_equal(hart_get_pc(e->h), BASE + 56);
	assert_int_equal(hart_instret(e->h), 10000);
	if (g_translate)
		assert_true(e->h->jit->inlined >= 1);
}

/*
 * The same shape, where the side path writes a register (x14) the loop
 * itself only reads: the loop keeps x14 as clean, so the back edge from the
 * side path must write it back, or every exit loses the update.
 */
static void test_side_path_writes_loop_input(void **state)
{
	struct env *e = *state;
	hart_jit_threshold(e->h, 4);
	PROG(e, BASE,
	     ADDI(10, 0, 100), ADDI(11, 0, 0), ADDI(12, 0, 0),
	     I(1, 12, 7, 13, 0x13),          /* 12 loop: andi x13, x12, 1 */
	     BNE(13, 0, 24),                 /* 16: odd -> 40 */
	     R(0, 14, 11, 0, 11, 0x33),      /* 20: add x11, x11, x14 */
	     ADDI(12, 12, 1),
	     BNE(12, 10, -16),               /* 28: -> loop */
	     J(24, 0),                       /* 32: -> done */
	     ADDI(0, 0, 0),
	     ADDI(14, 14, 1), ADDI(12, 12, 1), /* 40 odd */
	     BNE(12, 10, -36),               /* 48: -> loop */
	     J(4, 0),                        /* 52: -> done */
	     JSELF);                         /* 56 done */
	/*
	 * In slices, so the loop is left and re-entered many times (each at
	 * least one whole block: the jal to `done` in the page makes the
	 * blocks 64 instructions long).
	 */
	for (int i = 0; i < 40; i++)
		hart_run(e->h, 101);
	assert_int_equal(X(14), 50);
	assert_int_equal(X(11), 49 * 50 / 2);
	assert_int_equal(X(12), 100);
	if (g_translate)
		assert_true(e->h->jit->inlined >= 1);
}

static void test_jal_inside_page(void **state)
{
	struct env *e = *state;
	PROG(e, BASE, ADDI(5, 5, 1), J(8, 1), ADDI(5, 5, 100), ADDI(5, 5, 10), J(-16, 0),
	     JSELF);
	assert_int_equal(hart_run(e->h, 2), HART_EXIT_BUDGET);
	assert_int_equal(hart_get_pc(e->h), BASE + 12);
	assert_int_equal(X(1), BASE + 8);
	assert_int_equal(X(5), 1);
	assert_int_equal(hart_run(e->h, 1), HART_EXIT_BUDGET);
	assert_int_equal(X(5), 11);
	/* the j back, then 10 rounds of addi, jal, addi, j; then a cut after the jal */
	assert_int_equal(hart_run(e->h, 1 + 4 * 10 + 2), HART_EXIT_BUDGET);
	assert_int_equal(hart_instret(e->h), 3 + 43);
	assert_int_equal(X(5), 11 + 10 * 11 + 1);
	assert_int_equal(hart_get_pc(e->h), BASE + 12);
}

/* A store before a jal rewrites the jal's target: the new instruction runs. */
static void test_jal_target_rewritten(void **state)
{
	struct env *e = *state;
	hart_set_xreg(e->h, 5, BASE);
	hart_set_xreg(e->h, 6, ADDI(8, 0, 42));
	PROG(e, BASE, SW(6, 5, 0x20), J(0x1c, 0));
	PROG(e, BASE + 0x20, ADDI(8, 0, 1), JSELF);
	hart_run(e->h, 3);
	assert_int_equal(X(8), 42);
	assert_int_equal(hart_instret(e->h), 3);
}

static uint64_t pte(uint64_t pa, uint64_t flags) { return (pa >> 12) << 10 | flags; }

static void map_sv39(struct env *e)
{
	put64(e, ROOT, pte(L1, PTE_V));
	put64(e, L1, pte(L0, PTE_V));
	put64(e, L0 + 0x10 * 8, pte(BASE + 0x200000, PTE_V | PTE_R | PTE_X));        /* code */
	put64(e, L0 + 0x11 * 8, pte(BASE + 0x201000, PTE_V | PTE_R | PTE_W));        /* data */
	put64(e, L0 + 0x12 * 8, pte(BASE + 0x202000, PTE_V | PTE_R | PTE_A));        /* read-only */
	put64(e, L0 + 0x13 * 8, pte(BASE + 0x203000, PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D));
	put64(e, L0 + 0x14 * 8, pte(BASE + 0x204000, PTE_V | PTE_X | PTE_A));        /* exec-only */
	/* 1 GiB superpage at VA 0x40000000 whose PPN is not 1 GiB aligned */
	put64(e, ROOT + 8, pte(BASE + 0x200000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
	/* correctly aligned 1 GiB superpage: VA 0x80000000 -> PA 0x80000000 */
	put64(e, ROOT + 16, pte(BASE, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
	trap_to_loop(e);
	e->s->satp = 8ULL << 60 | ROOT >> 12;
	e->s->priv = PRIV_S;
	e->s->pc = 0x10000;
	hart_flush_caches(e->h);
}

static void test_sv39_walk_and_ad(void **state)
{
	struct env *e = *state;
	map_sv39(e);
	put64(e, BASE + 0x201000, 0x1234);
	hart_set_xreg(e->h, 7, BASE);   /* through the 1 GiB identity superpage */
	PROG(e, BASE + 0x200000, LUI(5, 0x11), LD(6, 5, 0), SD(6, 5, 8),
	     ADDI(7, 7, 0), LD(8, 7, 0x40), JSELF);
	put64(e, BASE + 0x40, 77);
	hart_run(e->h, 5);
	assert_int_equal(X(6), 0x1234);
	assert_int_equal(get64(e, BASE + 0x201008), 0x1234);
	assert_int_equal(X(8), 77);
	assert_true(get64(e, L0 + 0x10 * 8) & PTE_A);
	assert_false(get64(e, L0 + 0x10 * 8) & PTE_D);
	assert_true(get64(e, L0 + 0x11 * 8) & PTE_A);
	assert_true(get64(e, L0 + 0x11 * 8) & PTE_D);
}

static void test_sv39_faults(void **state)
{
	struct env *e = *state;
	map_sv39(e);
	/* store to a read-only page: store page fault with the address */
	PROG(e, BASE + 0x200000, LUI(5, 0x12), SD(0, 5, 8));
	hart_run(e->h, 2);
	assert_int_equal(e->s->mcause, 15);
	assert_int_equal(e->s->mtval, 0x12008);
	assert_int_equal(e->s->mepc, 0x10004);
	/* misaligned superpage */
	map_sv39(e);
	PROG(e, BASE + 0x200000, LUI(5, 0x40000), LD(6, 5, 0));
	hart_run(e->h, 2);
	assert_int_equal(e->s->mcause, 13);
	assert_int_equal(e->s->mtval, 0x40000000);
	/* non-canonical address */
	map_sv39(e);
	hart_set_xreg(e->h, 5, 1ULL << 40);
	PROG(e, BASE + 0x200000, LD(6, 5, 0));
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 13);
	/* U-mode fetch from a supervisor page */
	map_sv39(e);
	e->s->priv = PRIV_U;
	hart_flush_caches(e->h);
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 12);
	assert_int_equal(e->s->mtval, 0x10000);
}

static void test_sum_and_mxr(void **state)
{
	struct env *e = *state;
	map_sv39(e);
	put64(e, BASE + 0x203000, 5);
	put64(e, BASE + 0x204000, 6);
	PROG(e, BASE + 0x200000, LUI(5, 0x13), LD(6, 5, 0), JSELF);
	hart_run(e->h, 2);
	assert_int_equal(e->s->mcause, 13);        /* U page from S without SUM */
	map_sv39(e);
	e->s->mstatus |= MSTATUS_SUM;
	hart_flush_caches(e->h);
	hart_run(e->h, 2);
	assert_int_equal(X(6), 5);
	map_sv39(e);
	e->s->mcause = 0;
	e->s->mstatus &= ~MSTATUS_SUM;
	hart_flush_caches(e->h);
	PROG(e, BASE + 0x200000, LUI(5, 0x14), LD(6, 5, 0), JSELF);
	hart_run(e->h, 2);
	assert_int_equal(e->s->mcause, 13);        /* execute-only page */
	map_sv39(e);
	e->s->mstatus |= MSTATUS_MXR;
	hart_flush_caches(e->h);
	hart_run(e->h, 2);
	assert_int_equal(X(6), 6);
}

static void test_sfence_after_pte_change(void **state)
{
	struct env *e = *state;
	map_sv39(e);
	put64(e, BASE + 0x201000, 1);
	put64(e, BASE + 0x202000, 2);
	hart_set_xreg(e->h, 5, 0x11000);
	PROG(e, BASE + 0x200000, LD(6, 5, 0), 0x12000073u /* sfence.vma x0, x0 */, LD(7, 5, 0),
	     JSELF);
	hart_run(e->h, 1);
	assert_int_equal(X(6), 1);
	put64(e, L0 + 0x11 * 8, pte(BASE + 0x202000, PTE_V | PTE_R | PTE_A));
	hart_run(e->h, 2);
	assert_int_equal(X(7), 2);
}

/* sfence.vma of one address in a superpage drops what was cached for the others. */
static void test_sfence_va_in_superpage(void **state)
{
	struct env *e = *state;
	map_sv39(e);
	put64(e, BASE + 0x40, 77);
	hart_set_xreg(e->h, 7, BASE);
	hart_set_xreg(e->h, 8, BASE + 0x5000);
	PROG(e, BASE + 0x200000, LD(6, 7, 0x40), 0x12000073u | 8 << 15 /* sfence.vma x8 */,
	     LD(9, 7, 0x40), JSELF);
	hart_run(e->h, 1);
	assert_int_equal(X(6), 77);
	put64(e, ROOT + 16, pte(BASE, PTE_V | PTE_X | PTE_A));   /* no longer readable */
	hart_run(e->h, 2);
	assert_int_equal(X(9), 0);
	assert_int_equal(e->s->mcause, 13);
	assert_int_equal(e->s->mtval, BASE + 0x40);
}

static void test_sv48(void **state)
{
	struct env *e = *state;
	/* VA 0x80_0001_0000 needs the fourth level (bit 39 set) */
	uint64_t va = 0x8000010000ULL;
	uint64_t r4 = BASE + 0x110000, r3 = BASE + 0x111000, r2 = BASE + 0x112000,
		 r1 = BASE + 0x113000;
	put64(e, r4 + ((va >> 39) & 511) * 8, pte(r3, PTE_V));
	put64(e, r3 + ((va >> 30) & 511) * 8, pte(r2, PTE_V));
	put64(e, r2 + ((va >> 21) & 511) * 8, pte(r1, PTE_V));
	put64(e, r1 + ((va >> 12) & 511) * 8, pte(BASE + 0x200000, PTE_V | PTE_R | PTE_W | PTE_X));
	put64(e, BASE + 0x200100, 0x5a5a);
	hart_set_xreg(e->h, 5, va);
	PROG(e, BASE + 0x200000, LD(6, 5, 0x100), JSELF);
	trap_to_loop(e);
	e->s->satp = 9ULL << 60 | r4 >> 12;
	e->s->priv = PRIV_S;
	e->s->pc = va;
	hart_flush_caches(e->h);
	hart_run(e->h, 2);
	assert_int_equal(e->s->mcause, 0);
	assert_int_equal(X(6), 0x5a5a);
	assert_true(get64(e, r1 + ((va >> 12) & 511) * 8) & PTE_A);
	/* the same VA is not canonical under Sv39 */
	hart_reset(e->h, BASE);
	trap_to_loop(e);
	e->s->satp = 8ULL << 60 | r4 >> 12;
	e->s->priv = PRIV_S;
	e->s->pc = va;
	hart_flush_caches(e->h);
	hart_run(e->h, 1);
	assert_int_equal(e->s->mcause, 12);
	assert_int_equal(e->s->mtval, va);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_div_rem_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jal_inside_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_with_side_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_side_path_writes_loop_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jal_target_rewritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sfence_va_in_superpage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shifts_and_w_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compressed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csr_and_illegal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_csr_write_is_illegal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ecall_delegation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(test_s_interrupt_vs_m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wfi, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trap_storm_returns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counter_gating, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fp_off_is_illegal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_satp_warl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sstc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tohost, setup_htif, teardown),
		cmocka_unit_test_setup_teardown(test_misaligned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmapped_is_access_fault, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lr_sc_amo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reservation_dropped_between_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_modifying_same_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_write_invalidates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_then_fence_i, setup, teardown),
		cmocka_unit_test_setup_teardown(test_second_hart_store_invalidates_first, setup, teardown),
		cmocka_unit_test(test_create_refuses_foreign_hook),
		cmocka_unit_test_setup_teardown(test_other_hart_store_is_posted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_mark_takes_write_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmio_read_dma_over_running_block, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_caches_after_host_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sv39_walk_and_ad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sv39_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sum_and_mxr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sfence_after_pte_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sv48, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dirty_log_concurrent, setup, teardown),
	};
	g_translate = false;
	int failed = cmocka_run_group_tests_name("interpreter", tests, NULL, NULL);
	g_translate = true;
	failed += cmocka_run_group_tests_name("translator", tests, NULL, NULL);
	return failed;
}
