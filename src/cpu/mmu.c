/*
 * mmu.c - Sv39/Sv48 translation, the software TLB and the slow paths of
 * loads, stores, AMOs and instruction fetch.
 *
 * The fast path (in hart.c) is one tag compare per access: a TLB entry maps a
 * 4 KiB virtual granule to a host address for RAM.  Entries exist per
 * translation mode (U, S, S with SUM, bare) so privilege and SUM changes need
 * no flush, and per access kind (read, write, execute), so an entry is only
 * created once the page table grants that kind and the A (and for writes D)
 * bit is set: a hit therefore never needs a permission check.  Write entries
 * are never created for pages holding decoded code or the HTIF tohost word, so
 * those stores come here and are noticed.
 *
 * Beta builds check every fill against a fresh side-effect-free walk and
 * every flush for survivors (dbg_cpu.c, DBG_CHECK "tlb-fill"/"tlb-flush").
 */
#include <string.h>
#include "hart_int.h"
#include "../stats/kstat.h"
#include "../stats/stats.h"
#include "../debug/dbg.h"

#define PTE_V (1ULL << 0)
#define PTE_R (1ULL << 1)
#define PTE_W (1ULL << 2)
#define PTE_X (1ULL << 3)
#define PTE_U (1ULL << 4)
#define PTE_A (1ULL << 6)
#define PTE_D (1ULL << 7)
#define PPN_MASK ((1ULL << 44) - 1)

static const uint8_t page_fault[3] = { EXC_LOAD_PAGE, EXC_STORE_PAGE, EXC_IFETCH_PAGE };
static const uint8_t access_fault[3] = { EXC_LOAD_ACCESS, EXC_STORE_ACCESS, EXC_IFETCH_ACCESS };

static inline bool fault(struct hart *h, uint64_t cause, uint64_t tval)
{
	h->exc_cause = cause;
	h->exc_tval = tval;
	return false;
}

/* Test knob (opt/obj): one valid entry, to be put back after a full flush. */
static struct tlbe *keep_one(struct hart *h, struct tlbe *saved)
{
	for (unsigned a = 0; a < 3; a++)
		for (unsigned m = 0; m < MMU_NMODES; m++)
			for (unsigned i = 0; i < TLB_SIZE; i++)
				if (tlbe_tag(&h->tlb[a][m][i]) != ~0ULL) {
					*saved = h->tlb[a][m][i];
					return &h->tlb[a][m][i];
				}
	return NULL;
}

static void victims_clear(struct hart *h)
{
	for (unsigned a = 0; a < 3; a++)
		for (unsigned m = 0; m < MMU_NMODES; m++)
			for (unsigned k = 0; k < TLB_VICTIMS; k++)
				h->tlb_victim[a][m][k].tag = ~0ULL;
}

void mmu_flush_all(struct hart *h)
{
	/* (the knob waits for paging, so the entry kept is one the guest made) */
	struct tlbe saved, *kept = dbg_fault(DBG_FAULT_TLB_FLUSH) && (h->s.satp >> 60) ?
				   keep_one(h, &saved) : NULL;

	STAT_INC(TLB_FLUSH);
	hart_chain_tlb_flushed(h);
	victims_clear(h);
	for (unsigned a = 0; a < 3; a++)
		for (unsigned m = 0; m < MMU_NMODES; m++)
			for (unsigned i = 0; i < TLB_SIZE; i++)
				__atomic_store_n(&h->tlb[a][m][i].tag, ~0ULL, __ATOMIC_RELAXED);
	memset(h->super_bits, 0, sizeof(h->super_bits));
	h->nsuper = 0;
	h->super_overflow = false;
	if (kept)
		*kept = saved;
	DBG_CHECK("tlb-flush", dbg_tlb_flush_problem(h, 0, true, true));
}

/* Index of a 1 GiB region holding superpage entries, or -1. */
static int super_index(const struct hart *h, uint64_t region)
{
	for (unsigned k = 0; k < h->nsuper; k++)
		if (h->super_region[k] == region)
			return (int)k;
	return -1;
}

void mmu_flush_va(struct hart *h, uint64_t va)
{
	uint64_t page = va & ~0xfffULL, region = va >> 30;

	hart_chain_tlb_flushed(h);
	victims_clear(h);   /* few, and a superpage's slices may be among them */
	if (h->super_overflow) {
		mmu_flush_all(h);
		return;
	}
	/*
	 * An entry is one 4 KiB slice; a superpage may be cached in many slots.
	 * After the visit no slot holds an entry of the region, so its bits go.
	 */
	int k = super_index(h, region);
	if (k >= 0) {
		for (unsigned a = 0; a < 3; a++)
			for (unsigned m = 0; m < MMU_NMODES; m++)
				for (unsigned w = 0; w < TLB_SIZE / 64; w++) {
					uint64_t bits = h->super_bits[k][a][m][w];
					h->super_bits[k][a][m][w] = 0;
					while (bits) {
						unsigned i = w * 64 + (unsigned)__builtin_ctzll(bits);
						struct tlbe *e = &h->tlb[a][m][i];
						bits &= bits - 1;
						if (tlbe_tag(e) != ~0ULL && (tlbe_tag(e) >> 30) == region)
							__atomic_store_n(&e->tag, ~0ULL, __ATOMIC_RELAXED);
					}
				}
	} else {
		unsigned i = (va >> 12) & TLB_MASK;
		for (unsigned a = 0; a < 3; a++)
			for (unsigned m = 0; m < MMU_NMODES; m++)
				if (tlbe_tag(&h->tlb[a][m][i]) == page)
					__atomic_store_n(&h->tlb[a][m][i].tag, ~0ULL, __ATOMIC_RELAXED);
	}
	/* Beta: the slot of va always, the whole TLB on every DBG_FLUSH_SAMPLE-th flush. */
	DBG_CHECK("tlb-flush", dbg_tlb_flush_problem(h, va, false,
						     (++h->dbg_flushes & (DBG_FLUSH_SAMPLE - 1)) == 0));
}

static void note_superpage(struct hart *h, uint64_t va)
{
	uint64_t region = va >> 30;
	if (super_index(h, region) >= 0)
		return;
	if (h->nsuper == TLB_SUPER_REGIONS) {
		h->super_overflow = true;
		return;
	}
	unsigned k = h->nsuper++;
	h->super_region[k] = region;
	/* Entries of the new region cached earlier must be found by its flushes. */
	for (unsigned a = 0; a < 3; a++)
		for (unsigned m = 0; m < MMU_NMODES; m++)
			for (unsigned i = 0; i < TLB_SIZE; i++) {
				const struct tlbe *e = &h->tlb[a][m][i];
				if (tlbe_tag(e) != ~0ULL && (tlbe_tag(e) >> 30) == region)
					h->super_bits[k][a][m][i / 64] |= 1ULL << (i & 63);
			}
}

/*
 * Runs on another hart's thread while h may be filling or using its table:
 * the tag is read with acquire (tlb_fill publishes addend, then tag) and
 * taken away with a compare-and-swap, so an entry h just refilled for some
 * other page stays.  An entry h fills for pa_page after this scan is dropped
 * by tlb_fill's own look at the code mark.
 */
bool mmu_unmap_pa_write_remote(struct hart *h, uint64_t pa_page)
{
	bool had = false;
	for (unsigned m = 0; m < MMU_NMODES; m++)
		for (unsigned i = 0; i < TLB_SIZE; i++) {
			struct tlbe *e = &h->tlb[ACC_W][m][i];
			uint64_t tag = __atomic_load_n(&e->tag, __ATOMIC_ACQUIRE);
			if (tag == ~0ULL)
				continue;
			uint64_t add = __atomic_load_n(&e->addend, __ATOMIC_RELAXED);
			if (tag + add - (uint64_t)(uintptr_t)h->ram->host + h->ram->base != pa_page)
				continue;
			if (__atomic_compare_exchange_n(&e->tag, &tag, ~0ULL, false, __ATOMIC_SEQ_CST,
							__ATOMIC_RELAXED))
				had = true;
		}
	return had;
}

void mmu_flush_writes(struct hart *h)
{
	for (unsigned m = 0; m < MMU_NMODES; m++)
		for (unsigned i = 0; i < TLB_SIZE; i++)
			__atomic_store_n(&h->tlb[ACC_W][m][i].tag, ~0ULL, __ATOMIC_RELAXED);
}

void mmu_flush_pa_write(struct hart *h, uint64_t pa_page)
{
	for (unsigned m = 0; m < MMU_NMODES; m++)
		for (unsigned i = 0; i < TLB_SIZE; i++) {
			struct tlbe *e = &h->tlb[ACC_W][m][i];
			if (tlbe_tag(e) != ~0ULL && tlbe_pa_page(h, e) == pa_page)
				__atomic_store_n(&e->tag, ~0ULL, __ATOMIC_RELAXED);
		}
}

/* Slot i now holds an entry for va: its bit moves to va's region, if tracked. */
static void slot_regions(struct hart *h, unsigned acc, unsigned mode, unsigned i, uint64_t va)
{
	for (unsigned k = 0; k < h->nsuper; k++)
		h->super_bits[k][acc][mode][i / 64] &= ~(1ULL << (i & 63));
	int k = super_index(h, va >> 30);
	if (k >= 0)
		h->super_bits[k][acc][mode][i / 64] |= 1ULL << (i & 63);
}

static void tlb_fill(struct hart *h, uint64_t va, uint64_t pa, unsigned acc, unsigned mode)
{
	uint64_t pa_page = pa & ~0xfffULL;
	uint8_t *host = ram_ptr(h->ram, pa_page, 4096);
	if (!host)
		return;
	if (acc == ACC_W && (hart_is_code_page(h, pa_page) || pa_page == h->tohost_page))
		return;
	/* Stores through the entry are not seen one by one: the page counts as written now. */
	if (acc == ACC_W)
		cpu_dirty_mark(h->sh, pa_page, 4096);
	unsigned i = (va >> 12) & TLB_MASK;
	struct tlbe *e = &h->tlb[acc][mode][i];
	if (acc != ACC_W && e->tag != ~0ULL)
		h->tlb_victim[acc][mode][h->tlb_victim_next++ % TLB_VICTIMS] = *e;
	/* Write entries may be taken away by other harts: see mmu_unmap_pa_write_remote. */
	__atomic_store_n(&e->tag, ~0ULL, __ATOMIC_RELAXED);
	__atomic_store_n(&e->addend, (uint64_t)(uintptr_t)host - (va & ~0xfffULL), __ATOMIC_RELAXED);
	__atomic_store_n(&e->tag, va & ~0xfffULL, __ATOMIC_RELEASE);
	if (acc == ACC_W && h->sh->nharts > 1) {
		/* A hart that marked the page as code after our look above: drop it again. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (hart_is_code_page(h, pa_page))
			__atomic_store_n(&e->tag, ~0ULL, __ATOMIC_RELAXED);
	}
	slot_regions(h, acc, mode, i, va);
	/* Test knob (opt/obj): a translated entry that points at the next host page. */
	if (dbg_fault(DBG_FAULT_TLB_FILL) && mode != MMU_BARE)
		e->addend += 4096;
	/* A write entry another hart took away already is no entry to check. */
	if (tlbe_tag(e) != ~0ULL)
		DBG_CHECK("tlb-fill", dbg_tlb_fill_problem(h, va, acc, mode));
}

/* Page-table walk per the privileged spec, with hardware A/D updates. */
static bool walk(struct hart *h, uint64_t va, unsigned acc, unsigned mode, uint64_t *pa,
		 bool *super)
{
	uint64_t satp = h->s.satp;
	unsigned levels = (satp >> 60) == 9 ? 4 : 3;
	unsigned vabits = 12 + 9 * levels;
	uint64_t a = (satp & PPN_MASK) << 12;

	if ((uint64_t)((int64_t)(va << (64 - vabits)) >> (64 - vabits)) != va)
		return fault(h, page_fault[acc], va);

	for (int i = (int)levels - 1; i >= 0; i--) {
		uint64_t pte_pa = a + ((va >> (12 + 9 * i)) & 511) * 8;
		uint8_t *pp = ram_ptr(h->ram, pte_pa, 8);
		uint64_t pte;

		if (!pp)
			return fault(h, access_fault[acc], va);
again:
		/* PTEs are 8-aligned in RAM: one atomic read, as another hart may write it. */
		pte = __atomic_load_n((uint64_t *)(void *)pp, __ATOMIC_ACQUIRE);
		/* Bits 63:54 are Svnapot/Svpbmt/reserved, none implemented: must be 0. */
		if (!(pte & PTE_V) || (!(pte & PTE_R) && (pte & PTE_W)) || (pte >> 54))
			return fault(h, page_fault[acc], va);
		uint64_t ppn = (pte >> 10) & PPN_MASK;
		if (!(pte & (PTE_R | PTE_X))) {
			if (i == 0)
				return fault(h, page_fault[acc], va);
			a = ppn << 12;
			continue;
		}
		if (mode == MMU_U) {
			if (!(pte & PTE_U))
				return fault(h, page_fault[acc], va);
		} else if ((pte & PTE_U) && (acc == ACC_X || mode == MMU_S)) {
			return fault(h, page_fault[acc], va);
		}
		bool ok;
		if (acc == ACC_R)
			ok = (pte & PTE_R) || ((h->s.mstatus & MSTATUS_MXR) && (pte & PTE_X));
		else if (acc == ACC_W)
			ok = pte & PTE_W;
		else
			ok = pte & PTE_X;
		if (!ok)
			return fault(h, page_fault[acc], va);
		if (i > 0 && (ppn & ((1ULL << (9 * i)) - 1)))
			return fault(h, page_fault[acc], va);
		uint64_t npte = pte | PTE_A | (acc == ACC_W ? PTE_D : 0);
		if (npte != pte) {
			/*
			 * The spec wants the A/D update atomic with the check: if the
			 * PTE changed since it was read (another hart, or the guest on
			 * another vCPU), look at it again.
			 */
			if (!__atomic_compare_exchange_n((uint64_t *)(void *)pp, &pte, npte, false,
							 __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
				goto again;
			hart_code_written(h, pte_pa, 8);
		}
		uint64_t off_mask = (1ULL << (12 + 9 * i)) - 1;
		*pa = ((ppn << 12) & ~off_mask) | (va & off_mask);
		*super = i > 0;
		return true;
	}
	return fault(h, page_fault[acc], va);
}

bool mmu_translate(struct hart *h, uint64_t va, unsigned acc, unsigned mode, uint64_t *pa)
{
	if (mode == MMU_BARE) {
		*pa = va;
		return true;
	}
	bool super = false;
	HART_STAT_INC(h, TLB_MISS);
	kstat_push(KSTAT_PAGE_WALK);
	bool ok = walk(h, va, acc, mode, pa, &super);
	kstat_pop();
	if (!ok)
		return false;
	if (super)
		note_superpage(h, va);
	return true;
}

/*
 * A read or fetch entry for va among the victims: swapped with its slot's
 * entry (which becomes a victim), whose superpage bookkeeping moves along.
 */
static bool victim_swap(struct hart *h, uint64_t va, unsigned acc, unsigned mode)
{
	uint64_t page = va & ~0xfffULL;
	struct tlbe *v = h->tlb_victim[acc][mode];
	for (unsigned k = 0; k < TLB_VICTIMS; k++)
		if (v[k].tag == page) {
			unsigned i = (va >> 12) & TLB_MASK;
			struct tlbe *e = &h->tlb[acc][mode][i], t = *e;
			*e = v[k];
			v[k] = t;
			HART_STAT_INC(h, TLB_VICTIM_HIT);
			slot_regions(h, acc, mode, i, va);
			return true;
		}
	return false;
}

/* Translation through the TLB, walking and filling it on a miss. */
static bool xlate(struct hart *h, uint64_t va, unsigned acc, unsigned mode, uint64_t *pa)
{
	const struct tlbe *e = &h->tlb[acc][mode][(va >> 12) & TLB_MASK];
	if (tlbe_tag(e) == (va & ~0xfffULL)) {
		*pa = tlbe_pa_page(h, e) | (va & 0xfff);
		return true;
	}
	if (acc != ACC_W && victim_swap(h, va, acc, mode)) {
		*pa = tlbe_pa_page(h, e) | (va & 0xfff);
		return true;
	}
	if (!mmu_translate(h, va, acc, mode, pa))
		return false;
	tlb_fill(h, va, *pa, acc, mode);
	return true;
}

static bool phys_read(struct hart *h, uint64_t pa, unsigned size, uint64_t *val)
{
	uint8_t *p = ram_ptr(h->ram, pa, size);
	if (p) {
		*val = ram_guest_load(p, size);
		return true;
	}
	uint64_t v = 0;
	if (bus_read(h->bus, pa, size, &v) < 0)
		return false;
	*val = size == 8 ? v : v & ((1ULL << (8 * size)) - 1);
	return true;
}

static bool phys_write(struct hart *h, uint64_t pa, unsigned size, uint64_t val)
{
	uint8_t *p = ram_ptr(h->ram, pa, size);
	if (!p)
		return bus_write(h->bus, pa, size, val) == 0;
	ram_guest_store(p, val, size);
	/* After the write: the order other harts' decoding relies on (struct cpu_shared). */
	hart_code_written(h, pa, size);
	uint64_t th = h->plat.tohost;
	if (th && pa < th + 8 && th < pa + size) {
		uint64_t v;
		uint8_t *tp = ram_ptr(h->ram, th, 8);
		if (tp) {
			v = ram_guest_load(tp, 8);
			if (v) {
				h->s.tohost_value = v;
				h->exit_req |= 2;
				h->exit_reason = HART_EXIT_TOHOST;
			}
		}
	}
	return true;
}

/*
 * An access that crosses a 4 KiB boundary: both pages are translated (and
 * checked) before any byte moves, so a fault leaves memory untouched.
 */
static bool cross_xlate(struct hart *h, uint64_t va, unsigned size, unsigned acc, uint64_t *pa0,
			uint64_t *pa1)
{
	uint64_t va1 = (va + size) & ~0xfffULL;
	return xlate(h, va, acc, h->dmode, pa0) && xlate(h, va1, acc, h->dmode, pa1);
}

bool mmu_load_slow(struct hart *h, uint64_t va, unsigned size, uint64_t *val)
{
	uint64_t pa, pa1;

	if ((va & 0xfff) + size > 4096) {
		if (!cross_xlate(h, va, size, ACC_R, &pa, &pa1))
			return false;
		uint64_t v = 0;
		for (unsigned i = 0; i < size; i++) {
			uint64_t a = va + i, b;
			uint64_t p = ((a ^ va) & ~0xfffULL) ? pa1 + (a & 0xfff) : pa + i;
			if (!phys_read(h, p, 1, &b))
				return fault(h, EXC_LOAD_ACCESS, a);
			v |= b << (8 * i);
		}
		*val = v;
		return true;
	}
	if (!xlate(h, va, ACC_R, h->dmode, &pa))
		return false;
	if (!phys_read(h, pa, size, val))
		return fault(h, EXC_LOAD_ACCESS, va);
	return true;
}

bool mmu_store_slow(struct hart *h, uint64_t va, unsigned size, uint64_t val)
{
	uint64_t pa, pa1;

	if ((va & 0xfff) + size > 4096) {
		if (!cross_xlate(h, va, size, ACC_W, &pa, &pa1))
			return false;
		for (unsigned i = 0; i < size; i++) {
			uint64_t a = va + i;
			uint64_t p = ((a ^ va) & ~0xfffULL) ? pa1 + (a & 0xfff) : pa + i;
			if (!phys_write(h, p, 1, (val >> (8 * i)) & 0xff))
				return fault(h, EXC_STORE_ACCESS, a);
		}
		return true;
	}
	if (!xlate(h, va, ACC_W, h->dmode, &pa))
		return false;
	if (!phys_write(h, pa, size, val))
		return fault(h, EXC_STORE_ACCESS, va);
	return true;
}

bool mmu_amo_addr(struct hart *h, uint64_t va, unsigned size, unsigned acc, uint64_t *pa,
		  void **host)
{
	if (va & (size - 1))
		return fault(h, acc == ACC_R ? EXC_LOAD_MISALIGNED : EXC_STORE_MISALIGNED, va);
	if (!xlate(h, va, acc, h->dmode, pa))
		return false;
	*host = ram_ptr(h->ram, *pa, size);
	return true;
}

bool mmu_fetch_slow(struct hart *h, uint64_t va, uint64_t *pa)
{
	return xlate(h, va, ACC_X, h->imode, pa);
}
