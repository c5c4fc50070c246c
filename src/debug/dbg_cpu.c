/*
 * dbg_cpu.c - invariants of the CPU's host-side caches (beta builds): the
 * software TLB and the decoded-block cache of src/cpu.
 *
 * This file reads the cpu module's private structures (hart_int.h) because
 * that is what it checks; it never writes them.  Its page walk is its own,
 * written from the privileged spec rather than shared with mmu.c, so a bug
 * in the monitor's walk is not repeated by the check, and it has no side
 * effects (no A/D updates, no faults raised), so it changes nothing the
 * guest can see.
 *
 * The guest may change page tables without sfence.vma, so a TLB entry is
 * only compared with the page tables at the moment it is made (when the walk
 * that made it has just read them); later it may legally be stale.
 */
#include <stdio.h>
#include <time.h>
#include <string.h>
#include "../cpu/hart_int.h"
#include "dbg.h"

#define DPTE_V (1ULL << 0)
#define DPTE_R (1ULL << 1)
#define DPTE_W (1ULL << 2)
#define DPTE_X (1ULL << 3)
#define DPTE_U (1ULL << 4)
#define DPTE_A (1ULL << 6)
#define DPTE_D (1ULL << 7)
#define DPPN_MASK ((1ULL << 44) - 1)

static _Thread_local char why[256];

#define PROBLEM(...) (snprintf(why, sizeof(why), __VA_ARGS__), (const char *)why)

static const char *const acc_name[3] = { "read", "write", "execute" };
static const char *const mode_name[MMU_NMODES] = { "U", "S", "S+SUM", "bare" };

/*
 * Walks the current page tables for va without writing anything.  NULL and
 * the leaf PTE, its level and the physical address on success; otherwise
 * why there is no translation.
 */
static const char *peek_walk(const struct hart *h, uint64_t va, uint64_t *pte_out,
			     int *level, uint64_t *pa)
{
	uint64_t satp = h->s.satp;
	unsigned smode = (unsigned)(satp >> 60);
	if (smode != 8 && smode != 9)
		return "satp is Bare but the mode is translated";
	unsigned levels = smode == 9 ? 4 : 3;
	unsigned vabits = 12 + 9 * levels;
	if ((uint64_t)((int64_t)(va << (64 - vabits)) >> (64 - vabits)) != va)
		return "the address is not canonical";
	uint64_t table = (satp & DPPN_MASK) << 12;
	for (int i = (int)levels - 1; i >= 0; i--) {
		uint64_t pte;
		const uint8_t *pp = ram_ptr(h->ram, table + ((va >> (12 + 9 * i)) & 511) * 8, 8);
		if (!pp)
			return "a page-table entry is outside RAM";
		memcpy(&pte, pp, 8);
		if (!(pte & DPTE_V))
			return "a page-table entry is not valid";
		if ((pte & DPTE_W) && !(pte & DPTE_R))
			return "a page-table entry is writable but not readable";
		if (pte >> 54)
			return "a page-table entry has reserved bits set";
		uint64_t ppn = (pte >> 10) & DPPN_MASK;
		if (!(pte & (DPTE_R | DPTE_X))) {
			table = ppn << 12;
			continue;
		}
		if (i > 0 && (ppn & ((1ULL << (9 * i)) - 1)))
			return "a superpage is misaligned";
		uint64_t off = (1ULL << (12 + 9 * i)) - 1;
		*pte_out = pte;
		*level = i;
		*pa = ((ppn << 12) & ~off) | (va & off);
		return NULL;
	}
	return "the walk found no leaf";
}

/* What the leaf PTE grants for this access kind in this mode, per the privileged spec. */
static const char *pte_grant_problem(uint64_t pte, unsigned acc, unsigned mode, uint64_t mstatus)
{
	bool user = pte & DPTE_U;
	if (mode == MMU_U && !user)
		return "a U-mode entry for a supervisor page";
	if (mode == MMU_S && user)
		return "an S-mode entry (SUM clear) for a user page";
	if (mode == MMU_SSUM && user && acc == ACC_X)
		return "an S-mode execute entry for a user page";
	bool ok;
	if (acc == ACC_R)
		ok = (pte & DPTE_R) || ((mstatus & MSTATUS_MXR) && (pte & DPTE_X));
	else if (acc == ACC_W)
		ok = pte & DPTE_W;
	else
		ok = pte & DPTE_X;
	if (!ok)
		return "the PTE does not grant this access";
	/* The walk that made the entry sets A (and D for writes) before the fill. */
	if (!(pte & DPTE_A))
		return "the PTE's A bit is clear";
	if (acc == ACC_W && !(pte & DPTE_D))
		return "a write entry but the PTE's D bit is clear";
	return NULL;
}

static int region_index(const struct hart *h, uint64_t region)
{
	for (unsigned k = 0; k < h->nsuper; k++)
		if (h->super_region[k] == region)
			return (int)k;
	return -1;
}

const char *dbg_tlb_fill_problem(const struct hart *h, uint64_t va, unsigned acc, unsigned mode)
{
	if (acc > ACC_X || mode >= MMU_NMODES)
		return PROBLEM("fill with access kind %u, mode %u", acc, mode);
	unsigned i = (va >> 12) & TLB_MASK;
	const struct tlbe *e = &h->tlb[acc][mode][i];
	uint64_t page = va & ~0xfffULL;
	/* Another hart may take a write entry away at any time (mmu_unmap_pa_write_remote). */
	bool shared = acc == ACC_W && h->sh->nharts > 1;
	/* One read of the tag: a second one may already see it taken away. */
	uint64_t tag = tlbe_tag(e);
	if (shared && tag == ~0ULL)
		return NULL;
	if (tag != page)
		return PROBLEM("%s %s entry for va %#llx has tag %#llx", mode_name[mode],
			       acc_name[acc], (unsigned long long)va, (unsigned long long)tag);

	uint64_t pa;
	int level = 0;
	if (mode == MMU_BARE) {
		pa = va;
	} else {
		uint64_t pte;
		const char *w = peek_walk(h, va, &pte, &level, &pa);
		if (!w)
			w = pte_grant_problem(pte, acc, mode, h->s.mstatus);
		if (w)
			return PROBLEM("%s %s entry for va %#llx: %s", mode_name[mode], acc_name[acc],
				       (unsigned long long)va, w);
	}
	uint64_t pa_page = pa & ~0xfffULL;
	const uint8_t *host = ram_ptr(h->ram, pa_page, 4096);
	uint64_t got = tag + e->addend;   /* the addend only changes on this thread */
	if (!host || got != (uint64_t)(uintptr_t)host)
		return PROBLEM("%s %s entry for va %#llx maps host %#llx, the page table says pa "
			       "%#llx (host %#llx)", mode_name[mode], acc_name[acc],
			       (unsigned long long)va, (unsigned long long)got,
			       (unsigned long long)pa_page, (unsigned long long)(uintptr_t)host);
	/*
	 * A write entry on a page marked as code.  With one hart that is a bug.
	 * With several, a hart that has just marked the page (its mark is set
	 * before it scans the other harts' tables, mark_code_page) takes the
	 * entry away a moment later; and the page's marks change all the time
	 * (a write clears them, the next decode sets them again).  So look
	 * again every 100 us and report only if the entry sat on a marked page
	 * at every look for 2 s: no scan takes that long.
	 */
	if (acc == ACC_W && hart_is_code_page(h, pa_page)) {
		bool held = true;
		for (unsigned t = 0; shared && held && t < 20000; t++) {
			struct timespec ts = { 0, 100000 };
			nanosleep(&ts, NULL);
			held = hart_is_code_page(h, pa_page) && tlbe_tag(e) != ~0ULL;
		}
		if (held)
			return PROBLEM("write entry for va %#llx on pa %#llx, a page holding "
				       "decoded code (marked by harts %#x)", (unsigned long long)va,
				       (unsigned long long)pa_page,
				       (unsigned)__atomic_load_n(&h->sh->code_pages[(pa_page -
							h->ram->base) >> 12], __ATOMIC_RELAXED));
	}
	if (acc == ACC_W && pa_page == h->tohost_page)
		return PROBLEM("write entry for va %#llx on the tohost page", (unsigned long long)va);
	/* An entry cut from a superpage must be findable by a flush of its region. */
	if (level > 0 && !h->super_overflow) {
		int k = region_index(h, va >> 30);
		if (k < 0)
			return PROBLEM("entry for va %#llx comes from a superpage but its 1 GiB "
				       "region is not tracked", (unsigned long long)va);
		if (!(h->super_bits[k][acc][mode][i / 64] & (1ULL << (i & 63))))
			return PROBLEM("superpage entry for va %#llx has no bit in its region's "
				       "slot map", (unsigned long long)va);
	}
	return NULL;
}

const char *dbg_tlb_flush_problem(const struct hart *h, uint64_t va, bool all, bool deep)
{
	uint64_t page = va & ~0xfffULL, region = va >> 30;
	/* A flush of va in a superpage region must drop the whole region. */
	bool region_flushed = !all && !h->super_overflow && region_index(h, region) >= 0;

	if (all || h->super_overflow) {
		if (h->nsuper || h->super_overflow)
			return PROBLEM("superpage regions still tracked after a full flush");
	}
	if (region_flushed) {
		/* mmu_flush_va keeps the region listed; its bits must be empty now. */
		int k = region_index(h, region);
		for (unsigned a = 0; a < 3; a++)
			for (unsigned m = 0; m < MMU_NMODES; m++)
				for (unsigned w = 0; w < TLB_SIZE / 64; w++)
					if (h->super_bits[k][a][m][w])
						return PROBLEM("slot bits of flushed region %#llx "
							       "remain", (unsigned long long)region);
	}
	if (!deep && !all && !h->super_overflow) {
		unsigned i = (va >> 12) & TLB_MASK;
		for (unsigned a = 0; a < 3; a++)
			for (unsigned m = 0; m < MMU_NMODES; m++)
				if (tlbe_tag(&h->tlb[a][m][i]) == page)
					return PROBLEM("%s %s entry for va %#llx survived sfence.vma",
						       mode_name[m], acc_name[a],
						       (unsigned long long)page);
		return NULL;
	}
	for (unsigned a = 0; a < 3; a++)
		for (unsigned m = 0; m < MMU_NMODES; m++)
			for (unsigned i = 0; i < TLB_SIZE; i++) {
				const struct tlbe *e = &h->tlb[a][m][i];
				if (tlbe_tag(e) == ~0ULL)
					continue;
				if (all || h->super_overflow)
					return PROBLEM("%s %s entry for va %#llx survived a full "
						       "flush", mode_name[m], acc_name[a],
						       (unsigned long long)tlbe_tag(e));
				if (tlbe_tag(e) == page || (region_flushed && (tlbe_tag(e) >> 30) == region))
					return PROBLEM("%s %s entry for va %#llx survived "
						       "sfence.vma %#llx", mode_name[m],
						       acc_name[a], (unsigned long long)tlbe_tag(e),
						       (unsigned long long)va);
				/* The slot maps must stay a superset, or a later flush misses it. */
				int k = region_index(h, tlbe_tag(e) >> 30);
				if (k >= 0 && !(h->super_bits[k][a][m][i / 64] & (1ULL << (i & 63))))
					return PROBLEM("%s %s entry for va %#llx is in superpage "
						       "region %#llx but not in its slot map",
						       mode_name[m], acc_name[a],
						       (unsigned long long)tlbe_tag(e),
						       (unsigned long long)(tlbe_tag(e) >> 30));
			}
	return NULL;
}

/*
 * With harts on threads of their own, another hart's write to a page lands
 * before it posts the page to this hart (see struct cpu_shared), and a
 * store through a write entry taken away under it leaves the page suspect
 * until this hart's next fence.i: neither is stale code this hart may run
 * after its next block boundary or fence.i.
 */
static bool posted_or_suspect(const struct hart *h, uint64_t page)
{
	uint64_t pg = (page - h->ram->base) >> 12;
	if (__atomic_load_n(&h->inval_bits[pg / 64], __ATOMIC_ACQUIRE) & (1ULL << (pg % 64)))
		return true;
	if (h->nsuspect > HART_SUSPECT_MAX)
		return true;
	for (unsigned i = 0; i < h->nsuspect; i++)
		if (h->suspect[i] == page)
			return true;
	return false;
}

static const char *block_problem(const struct hart *h, const struct block *b);

const char *dbg_block_problem(const struct hart *h, const struct block *b)
{
	const char *p = block_problem(h, b);
	if (!p || h->sh->nharts < 2 || !ram_contains(h->ram, b->ppc & ~0xfffULL, 4096))
		return p;
	/*
	 * A writer on another thread posts right after its write, unless the
	 * host deschedules it in between: give it 2 s (only a mismatch waits).
	 */
	for (unsigned i = 0; i < 20000; i++) {
		if (posted_or_suspect(h, b->ppc & ~0xfffULL))
			return NULL;
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	return p;
}

static const char *block_problem(const struct hart *h, const struct block *b)
{
	if (!b->cached)
		return PROBLEM("block at pc %#llx came from the block table but is not cached",
			       (unsigned long long)b->vpc);
	if (b->n == 0 || b->n > BLOCK_MAX)
		return PROBLEM("block at pc %#llx has %u instructions", (unsigned long long)b->vpc,
			       b->n);
	if ((b->vpc ^ b->ppc) & 0xfff)
		return PROBLEM("block at pc %#llx: physical pc %#llx is at another page offset",
			       (unsigned long long)b->vpc, (unsigned long long)b->ppc);
	uint64_t page = b->ppc & ~0xfffULL;
	if (!ram_contains(h->ram, page, 4096))
		return PROBLEM("cached block at pc %#llx is not in RAM (pa %#llx)",
			       (unsigned long long)b->vpc, (unsigned long long)b->ppc);
	/* Only a page marked as code has its stores noticed and its blocks dropped. */
	if (!hart_is_code_page(h, page))
		return PROBLEM("cached block at pc %#llx lies in pa page %#llx, which is not "
			       "marked as holding code", (unsigned long long)b->vpc,
			       (unsigned long long)page);
	const uint8_t *mem = ram_ptr(h->ram, page, 4096);
	for (unsigned i = 0; i <= b->n; i++) {
		const struct dinsn *d = &b->insn[i];
		/* The terminator's pc is where execution goes on: maybe the next page. */
		if (d->idx != i || (i < b->n && (d->pc ^ b->vpc) >> 12))
			return PROBLEM("block at pc %#llx: entry %u has index %u, pc %#llx",
				       (unsigned long long)b->vpc, i, d->idx,
				       (unsigned long long)d->pc);
		if (i == b->n) {
			if (d->op != OP_END)
				return PROBLEM("block at pc %#llx is not terminated after %u "
					       "instructions", (unsigned long long)b->vpc, b->n);
			break;
		}
		if (i == 0 && d->pc != b->vpc)
			return PROBLEM("block at pc %#llx starts at pc %#llx",
				       (unsigned long long)b->vpc, (unsigned long long)d->pc);
		unsigned off = (unsigned)(d->pc & 0xfff);
		if (off + d->len > 4096 || (d->len != 2 && d->len != 4))
			return PROBLEM("cached instruction at pc %#llx (length %u) leaves its page",
				       (unsigned long long)d->pc, d->len);
		uint32_t raw = (uint32_t)mem[off] | (uint32_t)mem[off + 1] << 8;
		if (d->len == 4)
			raw |= (uint32_t)mem[off + 2] << 16 | (uint32_t)mem[off + 3] << 24;
		if (raw != d->raw)
			return PROBLEM("decoded instruction at pc %#llx (pa %#llx) holds %#x, guest "
				       "memory holds %#x", (unsigned long long)d->pc,
				       (unsigned long long)(page | off), d->raw, raw);
		/* The decoded form too: a stale operand would go unseen by raw alone. */
		struct dinsn t;
		decode_insn(&t, raw);
		unsigned op = d->op == OP_JAL_IN ? OP_JAL : d->op;
		if (op != t.op || d->rd != t.rd || d->rs1 != t.rs1 || d->rs2 != t.rs2 ||
		    d->rs3 != t.rs3 || d->rm != t.rm || d->csr != t.csr || d->imm != t.imm ||
		    d->len != t.len)
			return PROBLEM("decoded instruction at pc %#llx (%#x) differs from a fresh "
				       "decode (op %u vs %u)", (unsigned long long)d->pc, raw,
				       d->op, t.op);
	}
	return NULL;
}

const char *dbg_jit_link_problem(const struct hart *h, uint64_t target, const struct block *to,
				 const void *dest)
{
	if (!to)
		return PROBLEM("translated exit to pc %#llx is linked but names no block",
			       (unsigned long long)target);
	if (to->vpc != target)
		return PROBLEM("translated exit to pc %#llx is linked to the block at pc %#llx",
			       (unsigned long long)target, (unsigned long long)to->vpc);
	if (!to->jit_chain || to->jit_chain != dest)
		return PROBLEM("translated exit to pc %#llx jumps to %p, not to its block's "
			       "chained entry %p", (unsigned long long)target, dest, to->jit_chain);
	if (!jit_cache_holds(h->jit, (uintptr_t)dest))
		return PROBLEM("translated exit to pc %#llx jumps outside the code cache (%p)",
			       (unsigned long long)target, dest);
	return dbg_block_problem(h, to);
}

const char *dbg_jit_diff_problem(const struct hart_state *jit, const struct hart_state *interp)
{
	/* x[32] is the interpreter's write sink, not state. */
	for (unsigned r = 1; r < 32; r++)
		if (jit->x[r] != interp->x[r])
			return PROBLEM("x%u is %#llx after translated code, %#llx after the interpreter",
				       r, (unsigned long long)jit->x[r],
				       (unsigned long long)interp->x[r]);
	struct hart_state a = *jit, b = *interp;
	/* mip's device bits are set by other threads at any time. */
	a.x[32] = b.x[32] = 0;
	a.mip = b.mip = 0;
	if (a.pc != b.pc || a.icount != b.icount)
		return PROBLEM("translated code stopped at pc %#llx after %llu instructions, the "
			       "interpreter at pc %#llx after %llu",
			       (unsigned long long)a.pc, (unsigned long long)a.icount,
			       (unsigned long long)b.pc, (unsigned long long)b.icount);
	if (memcmp(&a, &b, sizeof(a)) != 0) {
		const uint64_t *pa = (const uint64_t *)&a, *pb = (const uint64_t *)&b;
		size_t i = 0;
		while (pa[i] == pb[i])
			i++;
		return PROBLEM("hart_state differs at byte %zu: %#llx after translated code, %#llx "
			       "after the interpreter", i * 8, (unsigned long long)pa[i],
			       (unsigned long long)pb[i]);
	}
	return NULL;
}
