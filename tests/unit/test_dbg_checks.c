/*
 * test_dbg_checks.c - the beta build's invariant checks (src/debug/dbg_cpu.c,
 * dbg_dev.c) as pure functions: each accepts a consistent structure and names
 * the problem when one field is corrupted; a failing DBG_CHECK stops the
 * process (forked child) with status 70 and "<name> check: <problem>".
 * Linked against the obj build's library, so the flags are obj's.
 */
#define VMX_DEBUG 1
#define VMX_STATS 1
#define VMX_DEVEL 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cpu/hart_int.h"
#include "debug/dbg.h"
#include "devices/clint.h"
#include "devices/plic.h"
#include "devices/uart.h"
#include "devices/virtio_mmio.h"
#include "mem/bus.h"
#include "mem/ram.h"

#define BASE 0x80000000ULL

static void expect_problem(const char *why, const char *needle)
{
	if (!why)
		fail_msg("no problem reported, expected one mentioning \"%s\"", needle);
	if (!strstr(why, needle))
		fail_msg("\"%s\" does not mention \"%s\"", why, needle);
}

/* ---- hart fixture: 16 MiB RAM, Sv39 tables at BASE+0x10000 ------------- */

struct env {
	struct guest_ram ram;
	struct bus bus;
	struct hart_platform plat;
	struct hart *h;
};

#define ROOT (BASE + 0x10000)
#define L1 (BASE + 0x11000)
#define L0 (BASE + 0x12000)
#define V (1ULL << 0)
#define R (1ULL << 1)
#define W (1ULL << 2)
#define X (1ULL << 3)
#define A (1ULL << 6)
#define D (1ULL << 7)
#define VA4K 0x1000ULL              /* 4 KiB page -> BASE + 0x20000 */
#define VA2M 0x200000ULL            /* 2 MiB superpage -> BASE + 0x200000 */
#define VA1G 0x40000000ULL          /* unmapped, in another 1 GiB region */

static uint64_t *pte_at(struct env *e, uint64_t pa) { return (uint64_t *)ram_ptr(&e->ram, pa, 8); }

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct verr err;
	assert_non_null(e);
	assert_int_equal(ram_create(&e->ram, BASE, 16 << 20, &err), 0);
	bus_init(&e->bus, &e->ram);
	e->plat = (struct hart_platform){ .bus = &e->bus, .timebase_hz = 10000000 };
	assert_int_equal(hart_create(&e->h, 0, &e->plat, &err), 0);
	/* root[0] -> L1; L1[0] -> L0 (4 KiB pages), L1[1] = 2 MiB leaf; L0[1] = VA4K */
	*pte_at(e, ROOT) = ((L1 >> 12) << 10) | V;
	*pte_at(e, L1) = ((L0 >> 12) << 10) | V;
	*pte_at(e, L1 + 8) = (((BASE + 0x200000) >> 12) << 10) | V | R | W | A | D;
	*pte_at(e, L0 + 8) = (((BASE + 0x20000) >> 12) << 10) | V | R | W | A | D;
	struct hart *h = e->h;
	h->s.priv = PRIV_S;
	h->s.satp = (8ULL << 60) | (ROOT >> 12);
	mmu_flush_all(h);
	hart_update_modes(h);
	assert_int_equal(h->dmode, MMU_S);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	hart_destroy(e->h);
	ram_destroy(&e->ram);
	free(e);
	return 0;
}

static struct tlbe *slot(struct hart *h, unsigned acc, uint64_t va)
{
	return &h->tlb[acc][MMU_S][(va >> 12) & TLB_MASK];
}

static void test_tlb_fill(void **state)
{
	struct env *e = *state;
	struct hart *h = e->h;
	uint64_t v;

	/* A load fills the read entry (and its own DBG_CHECK passed, or we would be dead). */
	assert_true(mmu_load_slow(h, VA4K + 8, 8, &v));
	assert_int_equal(slot(h, ACC_R, VA4K)->tag, VA4K);
	assert_null(dbg_tlb_fill_problem(h, VA4K, ACC_R, MMU_S));

	/* Wrong host page. */
	slot(h, ACC_R, VA4K)->addend += 4096;
	expect_problem(dbg_tlb_fill_problem(h, VA4K, ACC_R, MMU_S), "maps host");
	slot(h, ACC_R, VA4K)->addend -= 4096;

	/* An entry the PTE does not grant: an execute entry for a R/W page. */
	*slot(h, ACC_X, VA4K) = *slot(h, ACC_R, VA4K);
	expect_problem(dbg_tlb_fill_problem(h, VA4K, ACC_X, MMU_S), "does not grant");

	/* A U-mode entry for a supervisor page. */
	h->tlb[ACC_R][MMU_U][(VA4K >> 12) & TLB_MASK] = *slot(h, ACC_R, VA4K);
	expect_problem(dbg_tlb_fill_problem(h, VA4K, ACC_R, MMU_U), "U-mode entry");

	/* The page is no longer mapped at all. */
	uint64_t pte = *pte_at(e, L0 + 8);
	*pte_at(e, L0 + 8) = 0;
	expect_problem(dbg_tlb_fill_problem(h, VA4K, ACC_R, MMU_S), "not valid");
	*pte_at(e, L0 + 8) = pte & ~A;
	expect_problem(dbg_tlb_fill_problem(h, VA4K, ACC_R, MMU_S), "A bit");
	*pte_at(e, L0 + 8) = pte;

	/* A write entry on a page holding decoded code. */
	assert_true(mmu_store_slow(h, VA4K, 8, 1));
	assert_null(dbg_tlb_fill_problem(h, VA4K, ACC_W, MMU_S));
	h->sh->code_pages[0x20] = 1;
	expect_problem(dbg_tlb_fill_problem(h, VA4K, ACC_W, MMU_S), "decoded code");
	h->sh->code_pages[0x20] = 0;

	/* Tag of another page in the slot. */
	slot(h, ACC_R, VA4K)->tag = VA4K + (TLB_SIZE << 12);
	expect_problem(dbg_tlb_fill_problem(h, VA4K, ACC_R, MMU_S), "has tag");
}

static void test_tlb_superpage(void **state)
{
	struct env *e = *state;
	struct hart *h = e->h;
	uint64_t v, va = VA2M + 0x5000;
	unsigned i = (va >> 12) & TLB_MASK;

	assert_true(mmu_load_slow(h, va, 8, &v));
	assert_int_equal(h->nsuper, 1);
	assert_null(dbg_tlb_fill_problem(h, va, ACC_R, MMU_S));
	assert_null(dbg_tlb_flush_problem(h, VA1G, false, true));

	/* The region's slot map loses the entry: a later region flush would miss it. */
	h->super_bits[0][ACC_R][MMU_S][i / 64] &= ~(1ULL << (i & 63));
	expect_problem(dbg_tlb_fill_problem(h, va, ACC_R, MMU_S), "slot map");
	expect_problem(dbg_tlb_flush_problem(h, VA1G, false, true), "not in its slot map");
	h->super_bits[0][ACC_R][MMU_S][i / 64] |= 1ULL << (i & 63);

	/* The region is not tracked at all. */
	h->nsuper = 0;
	expect_problem(dbg_tlb_fill_problem(h, va, ACC_R, MMU_S), "not tracked");
	h->nsuper = 1;

	/* sfence.vma of another address in the region drops every entry of it. */
	mmu_flush_va(h, VA2M);
	assert_int_equal(slot(h, ACC_R, va)->tag, ~0ULL);
	assert_null(dbg_tlb_flush_problem(h, VA2M, false, true));
	slot(h, ACC_R, va)->tag = va & ~0xfffULL;
	expect_problem(dbg_tlb_flush_problem(h, VA2M, false, true), "survived sfence.vma");
	h->super_bits[0][ACC_R][MMU_S][0] = 1;
	expect_problem(dbg_tlb_flush_problem(h, VA2M, false, false), "slot bits");
}

static void test_tlb_flush(void **state)
{
	struct env *e = *state;
	struct hart *h = e->h;
	uint64_t v;

	assert_true(mmu_load_slow(h, VA4K, 8, &v));
	/* Before the flush the entry is there: as a post-flush state that is a survivor. */
	expect_problem(dbg_tlb_flush_problem(h, VA4K, false, false), "survived sfence.vma");
	expect_problem(dbg_tlb_flush_problem(h, VA4K, true, true), "survived a full flush");
	mmu_flush_va(h, VA4K);
	assert_null(dbg_tlb_flush_problem(h, VA4K, false, false));
	assert_null(dbg_tlb_flush_problem(h, VA4K, false, true));

	assert_true(mmu_load_slow(h, VA4K, 8, &v));
	mmu_flush_all(h);
	assert_null(dbg_tlb_flush_problem(h, 0, true, true));
	h->nsuper = 1;
	expect_problem(dbg_tlb_flush_problem(h, 0, true, true), "still tracked");
	h->nsuper = 0;
}

/* ---- decoded blocks ---------------------------------------------------- */

#define CODE (BASE + 0x3000)

static void test_block(void **state)
{
	struct env *e = *state;
	struct hart *h = e->h;
	const uint32_t code[3] = { 0x00150513u /* addi a0,a0,1 */, 0x00158593u /* addi a1,a1,1 */,
				   0x0000006fu /* j . */ };
	struct block *b = calloc(1, sizeof(*b) + 4 * sizeof(struct dinsn));
	assert_non_null(b);
	memcpy(ram_ptr(&e->ram, CODE, 12), code, 12);
	b->vpc = b->ppc = CODE;
	b->n = 3;
	b->cached = 1;
	for (unsigned i = 0; i < 3; i++) {
		decode_insn(&b->insn[i], code[i]);
		b->insn[i].pc = CODE + 4 * i;
		b->insn[i].idx = (uint16_t)i;
	}
	b->insn[3].op = OP_END;
	b->insn[3].pc = CODE + 12;
	b->insn[3].idx = 3;
	h->sh->code_pages[3] = 1;
	assert_null(dbg_block_problem(h, b));

	/* Guest memory changed under a cached block (a missed invalidation). */
	uint32_t other = 0x00250513u;   /* addi a0,a0,2 */
	memcpy(ram_ptr(&e->ram, CODE + 4, 4), &other, 4);
	expect_problem(dbg_block_problem(h, b), "guest memory holds");
	memcpy(ram_ptr(&e->ram, CODE + 4, 4), &code[1], 4);

	/* The decoded operands drifted from the bits they were decoded from. */
	b->insn[0].imm = 2;
	expect_problem(dbg_block_problem(h, b), "fresh decode");
	b->insn[0].imm = 1;

	/* The page is not marked as code: its stores would not drop the block. */
	h->sh->code_pages[3] = 0;
	expect_problem(dbg_block_problem(h, b), "not marked");
	h->sh->code_pages[3] = 1;

	b->insn[3].op = OP_ADDI;
	expect_problem(dbg_block_problem(h, b), "not terminated");
	b->insn[3].op = OP_END;
	b->insn[1].idx = 7;
	expect_problem(dbg_block_problem(h, b), "index");
	b->insn[1].idx = 1;
	assert_null(dbg_block_problem(h, b));
	free(b);
}

/* ---- devices ------------------------------------------------------------- */

static void test_plic(void **state)
{
	struct plic_state st;
	bool out[PLIC_MAX_CTX] = { false }, valid[PLIC_MAX_CTX] = { false };
	(void)state;
	memset(&st, 0, sizeof(st));
	for (unsigned c = 0; c < 4; c++)
		valid[c] = true;
	st.priority[10] = 1;
	st.enable[0][0] = 1u << 10;
	st.level[0] = 1u << 10;
	st.pending[0] = 1u << 10;
	out[0] = true;
	assert_null(dbg_plic_problem(&st, 4, out, valid));

	out[0] = false;
	expect_problem(dbg_plic_problem(&st, 4, out, valid), "drives its line low");
	out[0] = true;
	st.claimed[0] = 1u << 10;
	expect_problem(dbg_plic_problem(&st, 4, out, valid), "claimed and pending");
	st.claimed[0] = 0;
	st.level[0] = 0;
	expect_problem(dbg_plic_problem(&st, 4, out, valid), "line low");
	st.level[0] = 1u << 10;
	st.pending[0] |= 1;
	st.level[0] |= 1;
	expect_problem(dbg_plic_problem(&st, 4, out, valid), "source 0");
	st.pending[0] &= ~1u;
	st.level[0] &= ~1u;
	st.priority[3] = 9;
	expect_problem(dbg_plic_problem(&st, 4, out, valid), "priority 9");
	st.priority[3] = 0;
	st.threshold[1] = 8;
	expect_problem(dbg_plic_problem(&st, 4, out, valid), "threshold 8");
	st.threshold[1] = 0;
	st.enable[2][0] = 1;
	expect_problem(dbg_plic_problem(&st, 4, out, valid), "does not exist");
	st.enable[2][0] = 0;
	assert_null(dbg_plic_problem(&st, 4, out, valid));
}

static void test_clint(void **state)
{
	struct clint_state st;
	(void)state;
	memset(&st, 0, sizeof(st));
	for (unsigned h = 0; h < CLINT_MAX_HARTS; h++)
		st.mtimecmp[h] = UINT64_MAX;
	st.msip[1] = 1;
	st.mtimecmp[0] = 1234;
	assert_null(dbg_clint_problem(&st, 2));
	st.msip[0] = 3;
	expect_problem(dbg_clint_problem(&st, 2), "only bit 0");
	st.msip[0] = 0;
	st.mtimecmp[2] = 5;
	expect_problem(dbg_clint_problem(&st, 2), "hart 2 changed");
	assert_null(dbg_clint_problem(&st, 3));
}

static void test_uart(void **state)
{
	struct uart_state st;
	(void)state;
	memset(&st, 0, sizeof(st));
	st.rx_head = 14;
	st.rx_count = 3;             /* slots 14, 15, 0 */
	st.rx_brk = 1u << 0;
	st.ier = 0x01;
	assert_null(dbg_uart_problem(&st, true, 0, 4096));
	expect_problem(dbg_uart_problem(&st, false, 0, 4096), "IIR reports an interrupt");
	st.rx_brk = 1u << 1;
	expect_problem(dbg_uart_problem(&st, true, 0, 4096), "break flag");
	st.rx_brk = 0;
	st.rx_count = 17;
	expect_problem(dbg_uart_problem(&st, true, 0, 4096), "17 bytes");
	st.rx_count = 0;
	expect_problem(dbg_uart_problem(&st, true, 0, 4096), "IIR reports none");
	st.lsr_err = 0x10;
	expect_problem(dbg_uart_problem(&st, false, 0, 4096), "LSR");
	st.lsr_err = 0;
	st.thre_pending = 2;
	expect_problem(dbg_uart_problem(&st, false, 0, 4096), "THR-empty");
	st.thre_pending = 0;
	expect_problem(dbg_uart_problem(&st, false, 4096, 4096), "output buffer");
	assert_null(dbg_uart_problem(&st, false, 10, 4096));
}

static void test_virtio(void **state)
{
	struct virtio_mmio_state st;
	struct dbg_virtq dq;
	struct guest_ram ram;
	struct verr err;
	const uint64_t offered = VIRTIO_F_VERSION_1 | 0x40;
	(void)state;
	assert_int_equal(ram_create(&ram, BASE, 1 << 20, &err), 0);
	memset(&st, 0, sizeof(st));
	dbg_virtq_reset(&dq, 0, 0);
	assert_null(dbg_virtio_problem(&st, 1, offered, false, &dq, &ram));

	st.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK;
	st.driver_features = VIRTIO_F_VERSION_1;
	st.q[0] = (struct virtq_state){ .num = 8, .ready = 1, .desc = BASE, .avail = BASE + 0x1000,
					.used = BASE + 0x2000 };
	/* Two requests taken and completed. */
	for (uint16_t head = 0; head < 4; head += 2) {
		dbg_virtq_pop(&dq, head);
		st.q[0].last_avail++;
		st.q[0].used_idx++;
		dbg_virtq_push(&dq, head, st.q[0].used_idx);
	}
	st.int_status = 1;
	assert_null(dbg_virtio_problem(&st, 1, offered, true, &dq, &ram));

	expect_problem(dbg_virtio_problem(&st, 1, offered, false, &dq, &ram), "interrupt line low");
	st.q[0].used_idx++;
	expect_problem(dbg_virtio_problem(&st, 1, offered, true, &dq, &ram), "were taken");
	st.q[0].used_idx--;
	st.q[0].used = BASE + (1 << 20) - 8;
	expect_problem(dbg_virtio_problem(&st, 1, offered, true, &dq, &ram), "outside RAM");
	st.q[0].used = BASE + 0x2000;
	st.q[0].num = 0;
	expect_problem(dbg_virtio_problem(&st, 1, offered, true, &dq, &ram), "ready with size 0");
	st.q[0].num = 8;
	st.driver_features = 0x40;
	expect_problem(dbg_virtio_problem(&st, 1, offered, true, &dq, &ram), "FEATURES_OK");
	st.driver_features = VIRTIO_F_VERSION_1;
	assert_null(dbg_virtio_problem(&st, 1, offered, true, &dq, &ram));

	/* A chain taken and not yet back is in flight; handed back twice is a bug. */
	dbg_virtq_pop(&dq, 5);
	st.q[0].last_avail++;
	assert_null(dbg_virtio_problem(&st, 1, offered, true, &dq, &ram));
	st.q[0].used_idx++;
	dbg_virtq_push(&dq, 5, st.q[0].used_idx);
	st.q[0].used_idx++;
	dbg_virtq_push(&dq, 5, st.q[0].used_idx);
	expect_problem(dbg_virtio_problem(&st, 1, offered, true, &dq, &ram), "chain 5 handed back");

	/* After a reset the indices are zero. */
	dbg_virtq_reset(&dq, 0, 0);
	memset(&st, 0, sizeof(st));
	st.q[0].used_idx = 3;
	expect_problem(dbg_virtio_problem(&st, 1, offered, false, &dq, &ram), "while the device is reset");
	ram_destroy(&ram);
}

static void test_irq_lines(void **state)
{
	struct plic_state ps;
	struct clint_state cs;
	(void)state;
	memset(&ps, 0, sizeof(ps));
	memset(&cs, 0, sizeof(cs));
	for (unsigned h = 0; h < CLINT_MAX_HARTS; h++)
		cs.mtimecmp[h] = UINT64_MAX;
	ps.priority[1] = 1;
	ps.level[0] = ps.pending[0] = 1u << 1;
	ps.enable[3][0] = 1u << 1;   /* hart 1, S context */
	cs.msip[1] = 1;
	cs.mtimecmp[1] = 100;
	uint64_t mip = MIP_SEIP | MIP_MSIP | MIP_MTIP;
	assert_null(dbg_irq_lines_problem(mip, 1, &ps, &cs, 100, 120));
	assert_null(dbg_irq_lines_problem(0, 0, &ps, &cs, 100, 120));
	expect_problem(dbg_irq_lines_problem(mip & ~MIP_SEIP, 1, &ps, &cs, 100, 120), "PLIC offers");
	expect_problem(dbg_irq_lines_problem(mip | MIP_MEIP, 1, &ps, &cs, 100, 120), "PLIC offers");
	expect_problem(dbg_irq_lines_problem(mip & ~MIP_MSIP, 1, &ps, &cs, 100, 120), "MSIP");
	expect_problem(dbg_irq_lines_problem(mip & ~MIP_MTIP, 1, &ps, &cs, 100, 120), "MTIP clear");
	/* Deadline passed between the update and the check: either level is fine. */
	assert_null(dbg_irq_lines_problem(mip & ~MIP_MTIP, 1, &ps, &cs, 99, 120));
	assert_null(dbg_irq_lines_problem(mip, 1, &ps, &cs, 99, 120));
	expect_problem(dbg_irq_lines_problem(mip, 1, &ps, &cs, 90, 99), "MTIP set");
}

/* ---- the failure path ----------------------------------------------------- */

static void test_check_stops(void **state)
{
	int fds[2], status;
	char buf[512] = { 0 };
	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		DBG_CHECK("virtio", "queue 0: something");
		_exit(0);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(buf) - 1 && (r = read(fds[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), VMX_EXIT_PANIC);
	if (!strstr(buf, "virtio check: queue 0: something"))
		fail_msg("stderr was: %s", buf);
}

/* Runs fn(arg) in a child; returns its exit status and what it wrote to stderr. */
static int in_child(void (*fn)(void *), void *arg, char *buf, size_t len)
{
	int fds[2], status;
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	memset(buf, 0, len);
	while (n < len - 1 && (r = read(fds[0], buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void run_one(void *arg)
{
	hart_run(arg, 1);
}

/* Two threads in hart_run for one hart: the second one is stopped with a report. */
static void test_hart_owner(void **state)
{
	struct env *e = *state;
	struct hart *h = e->h;
	char buf[512];
	/* A hart nobody runs: hart_run takes it and gives it back. */
	h->s.priv = PRIV_M;
	hart_update_modes(h);
	h->s.pc = BASE;
	assert_int_equal(in_child(run_one, h, buf, sizeof(buf)), 0);
	hart_run(h, 1);
	assert_int_equal(h->owner_tid, 0);
	/* Another thread (tid 1, never this process's) holds it. */
	h->owner_tid = 1;
	assert_int_equal(in_child(run_one, h, buf, sizeof(buf)), VMX_EXIT_PANIC);
	if (!strstr(buf, "hart-owner check: hart 0 entered by thread") ||
	    !strstr(buf, "while thread 1 runs it"))
		fail_msg("stderr was: %s", buf);
	h->owner_tid = 0;
}

static void test_fault_names(void **state)
{
	(void)state;
	assert_null(dbg_fault_name(DBG_FAULT_NONE));
	assert_string_equal(dbg_fault_name(DBG_FAULT_TLB_FILL), "tlb-fill");
	assert_string_equal(dbg_fault_name(DBG_FAULT_IRQ), "irq-lines");
	assert_null(dbg_fault_name(DBG_FAULT_COUNT));
	/* Unit tests run without the knob: no fault is injected. */
	for (unsigned f = 1; f < DBG_FAULT_COUNT; f++)
		assert_false(dbg_fault((enum dbg_fault)f));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tlb_fill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlb_superpage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tlb_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block, setup, teardown),
		cmocka_unit_test(test_plic),
		cmocka_unit_test(test_clint),
		cmocka_unit_test(test_uart),
		cmocka_unit_test(test_virtio),
		cmocka_unit_test(test_irq_lines),
		cmocka_unit_test(test_check_stops),
		cmocka_unit_test_setup_teardown(test_hart_owner, setup, teardown),
		cmocka_unit_test(test_fault_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
