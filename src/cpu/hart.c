/*
 * hart.c - the execution engine: hart lifecycle, the decoded-block cache and
 * the interpreter loop.
 *
 * Guest code is decoded once into blocks (runs of up to BLOCK_MAX
 * instructions inside one 4 KiB page that follow jal within the page, ended by
 * another control transfer, a CSR/system instruction or the page end), cached
 * by virtual and physical pc.  The interpreter dispatches by computed goto
 * over the decoded form.
 * Interrupts, kicks and the budget are checked between blocks; instret is
 * counted per block, with exact accounting when an instruction traps.  See
 * docs/CPU.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "hart_int.h"
#include "fpu.h"
#include "../lib/log.h"
#include "../stats/kstat.h"
#include "../stats/stats.h"

#define ARENA_SIZE (32u << 20)
#define BLOCK_BYTES_MAX (sizeof(struct block) + (BLOCK_MAX + 1) * sizeof(struct dinsn))

/* ---- shared code-page map (protocol: hart_int.h, struct cpu_shared) ----- */

static void code_written(struct cpu_shared *sh, struct hart *self, uint64_t pa, uint64_t len);

/* The hart in hart_run on this thread, if any: DMA a device does inside its MMIO access. */
static _Thread_local struct hart *running;

/*
 * The bus's hook for DMA.  A device that writes RAM inside a hart's MMIO
 * access counts as that hart, whose running block may be the one written;
 * other harts are told.
 */
static void cpu_ram_written(void *ctx, uint64_t pa, uint64_t len)
{
	code_written(ctx, running && running->sh == ctx ? running : NULL, pa, len);
}

static void blocks_flush(struct hart *h)
{
	STAT_INC(DCACHE_FLUSH);
	hart_chain_invalidate(h);
	memset(h->btab, 0, sizeof(h->btab));
	memset(h->btab_victim, 0, sizeof(h->btab_victim));
	memset(h->page_head, 0, sizeof(h->page_head));
	h->arena_used = 0;
	/* Translations point into the arena's blocks: they go with them. */
	if (h->jit) {
		jit_cache_reset(h->jit);
		STAT_INC(JIT_FLUSH);
	}
}


static inline unsigned page_hash(uint64_t pa) { return (unsigned)(pa >> 12) & (PAGE_HEADS - 1); }

/* Drops hart h's cached blocks of the physical page at page_pa from its table. */
static void blocks_drop_page(struct hart *h, uint64_t page_pa)
{
	struct block **pp = &h->page_head[page_hash(page_pa)];
	while (*pp) {
		struct block *b = *pp;
		if ((b->ppc & ~0xfffULL) == page_pa) {
			unsigned i = btab_hash(b->vpc);
			if (h->btab[i] == b)
				h->btab[i] = NULL;
			if (h->btab_victim[btab_victim_hash(b->vpc)] == b)
				h->btab_victim[btab_victim_hash(b->vpc)] = NULL;
			*pp = b->page_next;
		} else {
			pp = &b->page_next;
		}
	}
}

/* Tells hart o (maybe running on another thread) that page pg was written. */
static void inval_post(struct hart *o, uint64_t pg)
{
	__atomic_fetch_or(&o->inval_bits[pg / 64], 1ULL << (pg % 64), __ATOMIC_RELEASE);
	__atomic_fetch_or(&o->inval_sum[pg / 4096], 1ULL << ((pg / 64) % 64), __ATOMIC_RELEASE);
	__atomic_fetch_or(&o->kick, HART_KICK_INVAL, __ATOMIC_RELEASE);
}

void hart_inval_drain(struct hart *h)
{
	bool any = false;
	for (uint64_t i = 0; i < h->nsum; i++) {
		uint64_t w = __atomic_exchange_n(&h->inval_sum[i], 0, __ATOMIC_ACQUIRE);
		while (w) {
			uint64_t wi = i * 64 + (uint64_t)__builtin_ctzll(w);
			w &= w - 1;
			uint64_t bits = __atomic_exchange_n(&h->inval_bits[wi], 0, __ATOMIC_ACQUIRE);
			while (bits) {
				uint64_t pg = wi * 64 + (uint64_t)__builtin_ctzll(bits);
				bits &= bits - 1;
				blocks_drop_page(h, h->ram->base + (pg << 12));
				any = true;
			}
		}
	}
	if (any)
		hart_chain_invalidate(h);
}

static void code_written(struct cpu_shared *sh, struct hart *self, uint64_t pa, uint64_t len)
{
	struct guest_ram *ram = sh->bus->ram;

	if (!len || !ram || pa + len <= ram->base || pa >= ram->base + ram->size)
		return;
	cpu_dirty_mark(sh, pa, len);
	/* The write is done; only now look at the marks (see struct cpu_shared). */
	if (sh->nharts > 1)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint64_t lo = pa < ram->base ? ram->base : pa;
	uint64_t hi = pa + len > ram->base + ram->size ? ram->base + ram->size : pa + len;
	for (uint64_t pg = (lo - ram->base) >> 12; pg <= (hi - 1 - ram->base) >> 12; pg++) {
		if (!__atomic_load_n(&sh->code_pages[pg], __ATOMIC_RELAXED))
			continue;
		unsigned m = __atomic_exchange_n(&sh->code_pages[pg], 0, __ATOMIC_ACQ_REL);
		if (!m)
			continue;
		STAT_INC(DCACHE_INVAL);
		while (m) {
			unsigned slot = (unsigned)__builtin_ctz(m);
			m &= m - 1;
			struct hart *o = sh->by_slot[slot];
			if (!o)
				continue;
			if (o == self) {
				blocks_drop_page(o, ram->base + (pg << 12));
				hart_chain_invalidate(o);
				/* Its current block may be the one just modified. */
				o->exit_req |= 1;
			} else {
				inval_post(o, pg);
			}
		}
	}
}

void hart_code_written(struct hart *h, uint64_t pa, uint64_t len)
{
	code_written(h->sh, h, pa, len);
}

/* Called before the page's instruction bytes are read (see struct cpu_shared). */
static void mark_code_page(struct hart *h, uint64_t pa)
{
	struct cpu_shared *sh = h->sh;
	uint64_t pg = (pa - h->ram->base) >> 12;
	uint8_t bit = (uint8_t)(1u << h->slot);
	if (__atomic_load_n(&sh->code_pages[pg], __ATOMIC_RELAXED) & bit)
		return;
	uint8_t old = __atomic_fetch_or(&sh->code_pages[pg], bit, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (old)
		return;   /* already code: no hart holds a write entry for it */
	uint64_t page_pa = pa & ~0xfffULL;
	mmu_flush_pa_write(h, page_pa);
	bool suspect = false;
	for (unsigned k = 0; k < sh->nharts; k++)
		if (sh->harts[k] != h)
			suspect |= mmu_unmap_pa_write_remote(sh->harts[k], page_pa);
	if (suspect) {
		if (h->nsuspect < HART_SUSPECT_MAX)
			h->suspect[h->nsuspect] = page_pa;
		if (h->nsuspect <= HART_SUSPECT_MAX)
			h->nsuspect++;
	}
}

/* fence.i: drops the blocks of pages that may have changed under their decoding. */
static void suspects_drop(struct hart *h)
{
	if (h->nsuspect > HART_SUSPECT_MAX) {
		blocks_flush(h);
	} else if (h->nsuspect) {
		for (unsigned i = 0; i < h->nsuspect; i++)
			blocks_drop_page(h, h->suspect[i]);
		hart_chain_invalidate(h);
	}
	h->nsuspect = 0;
}

/* ---- lifecycle -------------------------------------------------------- */

int hart_create(struct hart **out, unsigned hartid, const struct hart_platform *plat,
		struct verr *e)
{
	struct hart *h = calloc(1, sizeof(*h));
	struct bus *bus = plat->bus;
	struct cpu_shared *sh = NULL;
	bool new_sh = false;
	int rc;

	if (!h)
		return verr_set(e, -ENOMEM, "hart %u: out of memory", hartid);
	h->arena = malloc(ARENA_SIZE);
	h->scratch = malloc(BLOCK_BYTES_MAX);
	if (!h->arena || !h->scratch) {
		rc = verr_set(e, -ENOMEM, "hart %u: out of memory for the code cache", hartid);
		goto fail;
	}
	h->arena_size = ARENA_SIZE;
	if (plat->translate && (rc = jit_cache_create(&h->jit, hartid, e)) < 0)
		goto fail;
	h->plat = *plat;
	h->bus = bus;
	h->ram = bus->ram;
	h->id = hartid;
	h->tohost_page = plat->tohost ? plat->tohost & ~0xfffULL : ~0ULL;

	if (bus->ram_written == cpu_ram_written) {
		sh = bus->ram_written_ctx;
	} else {
		if (bus->ram_written) {
			rc = verr_set(e, -EBUSY, "hart %u: bus ram_written hook already taken", hartid);
			goto fail;
		}
		sh = calloc(1, sizeof(*sh));
		if (!sh) {
			rc = verr_set(e, -ENOMEM, "hart %u: out of memory", hartid);
			goto fail;
		}
		new_sh = true;
		sh->bus = bus;
		sh->npages = h->ram->size >> 12;
		sh->code_pages = calloc(sh->npages ? sh->npages : 1, 1);
		if (!sh->code_pages) {
			rc = verr_set(e, -ENOMEM, "hart %u: out of memory", hartid);
			goto fail;
		}
	}
	if (sh->nharts == CPU_MAX_HARTS) {
		rc = verr_set(e, -ENOSPC, "hart %u: too many harts (at most %u on one bus)", hartid,
			      CPU_MAX_HARTS);
		goto fail;
	}
	{
		uint64_t words = (sh->npages + 63) / 64;
		h->nsum = (words + 63) / 64;
		h->inval_bits = calloc(words ? words : 1, sizeof(uint64_t));
		h->inval_sum = calloc(h->nsum ? h->nsum : 1, sizeof(uint64_t));
		if (!h->inval_bits || !h->inval_sum) {
			rc = verr_set(e, -ENOMEM, "hart %u: out of memory", hartid);
			goto fail;
		}
	}
	h->slot = (unsigned)__builtin_ctz(~(unsigned)sh->slots_used);
	sh->slots_used |= (uint8_t)(1u << h->slot);
	sh->by_slot[h->slot] = h;
	sh->harts[sh->nharts++] = h;
	h->sh = sh;
	if (new_sh) {
		bus->ram_written = cpu_ram_written;
		bus->ram_written_ctx = sh;
	}
	hart_reset(h, RAM_DEFAULT_BASE);
	*out = h;
	return 0;
fail:
	if (new_sh) {
		free(sh->code_pages);
		free(sh);
	}
	free(h->inval_bits);
	free(h->inval_sum);
	jit_cache_destroy(h->jit);
	free(h->arena);
	free(h->scratch);
	free(h);
	return rc;
}

void hart_destroy(struct hart *h)
{
	if (!h)
		return;
	struct cpu_shared *sh = h->sh;
	for (unsigned k = 0; k < sh->nharts; k++) {
		if (sh->harts[k] == h) {
			sh->harts[k] = sh->harts[--sh->nharts];
			break;
		}
	}
	sh->slots_used &= (uint8_t)~(1u << h->slot);
	sh->by_slot[h->slot] = NULL;
	/* The page marks of this slot would otherwise outlive it. */
	for (uint64_t pg = 0; sh->nharts && pg < sh->npages; pg++)
		__atomic_fetch_and(&sh->code_pages[pg], (uint8_t)~(1u << h->slot), __ATOMIC_RELAXED);
	if (!sh->nharts) {
		if (sh->bus->ram_written == cpu_ram_written) {
			sh->bus->ram_written = NULL;
			sh->bus->ram_written_ctx = NULL;
		}
		free(sh->code_pages);
		free(sh->dirty);
		free(sh);
	}
	if (dbg_jit_diff())
		LOG_INF("hart %u: differential mode: %llu translated blocks checked against the "
			"interpreter", h->id, (unsigned long long)h->dbg_diffs);
	jit_cache_destroy(h->jit);
	free(h->inval_bits);
	free(h->inval_sum);
	free(h->arena);
	free(h->scratch);
	free(h);
}

void hart_jit_threshold(struct hart *h, unsigned hot)
{
	if (h->jit)
		h->jit->hot = hot;
}

void hart_reset(struct hart *h, uint64_t entry)
{
	struct hart_state *s = &h->s;
	/* Device-driven interrupt lines keep their level across a reset. */
	uint64_t lines = mip_load(h) & (MIP_MSIP | MIP_MTIP | MIP_MEIP | MIP_SEIP);

	memset(s, 0, sizeof(*s));
	s->mip = lines;
	s->priv = PRIV_M;
	s->pc = entry;
	s->hartid = h->id;
	s->mstatus = (2ULL << 32) | (2ULL << 34);   /* UXL = SXL = 64 */
	hart_flush_caches(h);
}

void hart_flush_caches(struct hart *h)
{
	mmu_flush_all(h);
	blocks_flush(h);
	hart_update_modes(h);
}

void hart_set_xreg(struct hart *h, unsigned reg, uint64_t val)
{
	if (reg > 0 && reg < 32)
		h->s.x[reg] = val;
}

uint64_t hart_get_xreg(const struct hart *h, unsigned reg)
{
	return reg < 32 ? h->s.x[reg] : 0;
}

uint64_t hart_get_pc(const struct hart *h) { return h->s.pc; }
unsigned hart_id(const struct hart *h) { return h->id; }
uint64_t hart_instret(const struct hart *h) { return h->s.icount; }
struct hart_state *hart_state(struct hart *h) { return &h->s; }
uint64_t hart_tohost_value(const struct hart *h) { return h->s.tohost_value; }

uint64_t hart_set_irq(struct hart *h, uint64_t mip_mask, bool level)
{
	if (level)
		return __atomic_fetch_or(&h->s.mip, mip_mask, __ATOMIC_SEQ_CST);
	return __atomic_fetch_and(&h->s.mip, ~mip_mask, __ATOMIC_SEQ_CST);
}

void hart_kick(struct hart *h)
{
	__atomic_fetch_or(&h->kick, HART_KICK_STOP, __ATOMIC_RELEASE);
}

bool hart_irq_pending(const struct hart *h)
{
	return (mip_load(h) & h->s.mie) != 0;
}

uint64_t hart_timer_deadline(const struct hart *h)
{
	return (h->s.menvcfg & MENVCFG_STCE) ? h->s.stimecmp : UINT64_MAX;
}

void hart_update_timer(struct hart *h, uint64_t now)
{
	hart_eval_stip(h, now);
}

/* ---- block building ----------------------------------------------------- */

/* Reads 16 instruction bits at physical pa (RAM, or a device such as a boot ROM). */
static bool fetch16(struct hart *h, uint64_t pa, uint32_t *v)
{
	uint8_t *p = ram_ptr(h->ram, pa, 2);
	if (p) {
		*v = (uint32_t)ram_guest_load(p, 2);
		return true;
	}
	uint64_t t;
	if (bus_read(h->bus, pa, 2, &t) < 0)
		return false;
	*v = (uint32_t)(t & 0xffff);
	return true;
}

/*
 * Decodes the block at vpc (physical ppc) into b, at most `limit` retiring
 * instructions.  Returns false after raising a fetch exception on the first
 * instruction; *cacheable is cleared for blocks that must not be reused.
 */
static bool decode_block(struct hart *h, struct block *b, uint64_t vpc, uint64_t ppc,
			 unsigned limit, bool *cacheable, const void *const *labels)
{
	uint64_t pc = vpc, pa = ppc;
	unsigned n = 0;

	b->vpc = vpc;
	b->ppc = ppc;
	b->link[0] = b->link[1] = NULL;
	b->link_gen = 0;
	b->link_rr = 0;
	b->jit = b->jit_chain = NULL;
	b->jit_map = NULL;
	b->hot = 0;
	b->jit_no = 0;
	b->cached = 0;   /* get_block_slow sets it once the block is in the table */
	if (!ram_contains(h->ram, ppc, 2))
		*cacheable = false;
	else
		mark_code_page(h, ppc);
	for (;;) {
		struct dinsn *d = &b->insn[n];
		uint32_t lo, hi;

		if (n == limit)
			break;
		if (!fetch16(h, pa, &lo)) {
			if (n)
				break;
			h->s.pc = pc;
			hart_trap(h, EXC_IFETCH_ACCESS, pc, false);
			return false;
		}
		if ((lo & 3) == 3) {
			uint64_t pa_hi = pa + 2;
			if ((pa & 0xfff) == 0xffe) {
				/* Straddles two pages: a one-instruction block, never cached. */
				if (n)
					break;
				if (!mmu_fetch_slow(h, pc + 2, &pa_hi)) {
					h->s.pc = pc;
					hart_trap(h, h->exc_cause, h->exc_tval, false);
					return false;
				}
				*cacheable = false;
				if (ram_contains(h->ram, pa_hi, 2))
					mark_code_page(h, pa_hi);
			}
			if (!fetch16(h, pa_hi, &hi)) {
				if (n)
					break;
				h->s.pc = pc;
				hart_trap(h, EXC_IFETCH_ACCESS, pc + 2, false);
				return false;
			}
			lo |= hi << 16;
		}
		decode_insn(d, lo);
		d->handler = labels[d->op];
		d->pc = pc;
		d->idx = n;
		n++;
		/*
		 * A jal inside the page continues the block at its target (the
		 * block still covers one physical page, so invalidation by page
		 * stays exact); the entry after it is the target instruction.
		 */
		if (d->op == OP_JAL && *cacheable && !((pc + (uint64_t)d->imm) >> 12 ^ pc >> 12)) {
			d->op = OP_JAL_IN;
			d->handler = labels[OP_JAL_IN];
			pc += (uint64_t)d->imm;
			pa = (pa & ~0xfffULL) | (pc & 0xfff);
			continue;
		}
		pc += d->len;
		pa += d->len;
		if (decode_ends_block(d->op) || (pa & 0xfff) == 0 || !*cacheable)
			break;
	}
	/* Always terminated, so a not-taken branch last in the block lands here. */
	struct dinsn *end = &b->insn[n];
	memset(end, 0, sizeof(*end));
	end->op = OP_END;
	end->handler = labels[OP_END];
	end->pc = pc;
	end->idx = n;
	b->n = n;
	return true;
}

/* The miss path of get_block: translate the pc, decode, maybe cache. */
static __attribute__((noinline)) struct block *get_block_slow(struct hart *h, uint64_t limit,
							       const void *const *labels)
{
	uint64_t vpc = h->s.pc, ppc;
	const struct tlbe *e = &h->tlb[ACC_X][h->imode][(vpc >> 12) & TLB_MASK];

	if (VMX_LIKELY(tlbe_tag(e) == (vpc & ~0xfffULL))) {
		ppc = tlbe_pa_page(h, e) | (vpc & 0xfff);
	} else if (!mmu_fetch_slow(h, vpc, &ppc)) {
		hart_trap(h, h->exc_cause, h->exc_tval, false);
		return NULL;
	}
	unsigned hi = btab_hash(vpc);
	struct block *b = h->btab[hi];
	if (b && (b->vpc != vpc || b->ppc != ppc)) {
		/*
		 * A slot conflict: the block there goes to the victim table, and
		 * this pc's block may be waiting there.  Without it, the slot
		 * conflicts of a booting kernel filled the arena with copies
		 * about every 150 M instructions, and each flush threw away every
		 * translation.
		 */
		struct block *v = h->btab_victim[btab_victim_hash(vpc)];
		h->btab_victim[btab_victim_hash(b->vpc)] = b;
		b = NULL;
		if (v && v->vpc == vpc && v->ppc == ppc) {
			STAT_INC(DCACHE_REFOUND);
			h->btab[hi] = b = v;
		}
	}
	if (b) {
		hart_dbg_block_hit(h, b);
		if (b->n <= limit)
			return b;
	} else {
		bool cacheable = true;
		if (h->arena_size - h->arena_used < BLOCK_BYTES_MAX)
			blocks_flush(h);
		b = (struct block *)(h->arena + h->arena_used);
		STAT_INC(DCACHE_MISS);
		kstat_push(KSTAT_DCACHE_FILL);
		bool decoded = decode_block(h, b, vpc, ppc, BLOCK_MAX, &cacheable, labels);
		kstat_pop();
		if (!decoded)
			return NULL;
		if (cacheable) {
			/* Test knob (opt/obj): cached blocks no longer match guest memory. */
			if (dbg_fault(DBG_FAULT_DCACHE))
				b->insn[0].raw ^= 0x100000;
			b->cached = 1;
			h->arena_used += (sizeof(struct block) + (b->n + 1) * sizeof(struct dinsn) + 15) & ~15ULL;
			h->btab[hi] = b;
			b->page_next = h->page_head[page_hash(ppc)];
			h->page_head[page_hash(ppc)] = b;
		}
		if (b->n <= limit)
			return b;
	}
	/*
	 * The budget ends inside this block: run a one-shot copy of its first
	 * `limit` instructions, terminated where the next one starts.
	 */
	struct block *c = h->scratch;
	memcpy(c, b, sizeof(*b) + limit * sizeof(struct dinsn));
	struct dinsn *end = &c->insn[limit];
	memset(end, 0, sizeof(*end));
	end->op = OP_END;
	end->handler = labels[OP_END];
	end->pc = b->insn[limit].pc;
	end->idx = (uint16_t)limit;
	c->n = (uint32_t)limit;
	c->cached = 0;
	return c;
}

/* Block for the current pc: an ITLB hit and a block-table hit, else the slow path. */
static inline __attribute__((always_inline)) struct block *get_block(struct hart *h,
								      uint64_t limit,
								      const void *const *labels)
{
	uint64_t vpc = h->s.pc;
	const struct tlbe *e = &h->tlb[ACC_X][h->imode][(vpc >> 12) & TLB_MASK];
	struct block *b = h->btab[btab_hash(vpc)];

	if (VMX_LIKELY(tlbe_tag(e) == (vpc & ~0xfffULL) && b && b->vpc == vpc &&
		       b->ppc == (tlbe_pa_page(h, e) | (vpc & 0xfff)) && b->n <= limit)) {
		hart_dbg_block_hit(h, b);
		return b;
	}
	return get_block_slow(h, limit, labels);
}

/*
 * The block holding the instruction translated code handed back
 * (h->jit_handback; a chained block, not necessarily the one the loop
 * entered).  The interpreter runs it on from that instruction: indices are
 * the block's and icount is still at its start, so it retires, counts and
 * times the rest exactly as if it had run the block whole.
 */
static struct block *handback_block(const struct hart *h)
{
	const struct dinsn *d = h->jit_handback;
	return (struct block *)((char *)(uintptr_t)(d - d->idx) - offsetof(struct block, insn));
}

/*
 * Beta: after fence.i the guest relies on its code writes being visible, so
 * every block still cached for the current physical page must match guest
 * memory.  One fence.i in 16 (Linux issues tens of thousands per boot); the
 * page list may hold blocks btab has replaced, which are no longer run.
 */
static __attribute__((noinline, cold)) void dbg_fence_i_check(struct hart *h, uint64_t ppc)
{
	if (++h->dbg_fence_i & 15)
		return;
	for (const struct block *b = h->page_head[page_hash(ppc)]; b; b = b->page_next)
		if ((b->ppc >> 12) == (ppc >> 12) && (h->btab[btab_hash(b->vpc)] == b ||
						      h->btab_victim[btab_victim_hash(b->vpc)] == b))
			DBG_CHECK("decode-cache", dbg_block_problem(h, b));
}

/*
 * Beta: a hart belongs to one thread while it runs.  Two threads in
 * hart_run for one hart would corrupt it silently; here it is a report.
 */
static __attribute__((noinline, cold)) void dbg_hart_owner_fail(struct hart *h, int other)
{
	static _Thread_local char why[128];
	snprintf(why, sizeof(why), "hart %u entered by thread %ld while thread %d runs it", h->id,
		 (long)syscall(SYS_gettid), other);
	DBG_CHECK("hart-owner", why);
}

static void dbg_hart_enter(struct hart *h)
{
	static _Thread_local int tid;
	if (!tid)
		tid = (int)syscall(SYS_gettid);
	int none = 0;
	if (!__atomic_compare_exchange_n(&h->owner_tid, &none, tid, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		dbg_hart_owner_fail(h, none);
}

/* ---- the interpreter ---------------------------------------------------- */

static inline uint64_t amo_calc(unsigned f5, uint64_t a, uint64_t b, bool w)
{
	if (w) {
		a = (uint64_t)(int64_t)(int32_t)a;
		b = (uint64_t)(int64_t)(int32_t)b;
	}
	uint64_t ua = w ? (uint32_t)a : a, ub = w ? (uint32_t)b : b;
	switch (f5) {
	case AMO_SWAP: return b;
	case AMO_ADD: return a + b;
	case AMO_XOR: return a ^ b;
	case AMO_AND: return a & b;
	case AMO_OR: return a | b;
	case AMO_MIN: return (int64_t)a < (int64_t)b ? a : b;
	case AMO_MAX: return (int64_t)a > (int64_t)b ? a : b;
	case AMO_MINU: return ua < ub ? a : b;
	case AMO_MAXU: return ua > ub ? a : b;
	}
	return a;
}

static inline uint64_t sx32(uint64_t v) { return (uint64_t)(int64_t)(int32_t)v; }

/*
 * One AMO on RAM as one host atomic operation: other harts may run on other
 * threads.  x86-64's locked instructions are full barriers, so .aq and .rl
 * need nothing more.
 */
static uint64_t amo_ram(void *hp, unsigned f5, uint64_t b, bool w)
{
	if (w) {
		uint32_t *p = hp, v = (uint32_t)b;
		switch (f5) {
		case AMO_SWAP: return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
		case AMO_ADD: return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
		case AMO_XOR: return __atomic_fetch_xor(p, v, __ATOMIC_SEQ_CST);
		case AMO_AND: return __atomic_fetch_and(p, v, __ATOMIC_SEQ_CST);
		case AMO_OR: return __atomic_fetch_or(p, v, __ATOMIC_SEQ_CST);
		}
		uint32_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
		while (!__atomic_compare_exchange_n(p, &old, (uint32_t)amo_calc(f5, old, b, true),
						    false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			;
		return old;
	}
	uint64_t *p = hp;
	switch (f5) {
	case AMO_SWAP: return __atomic_exchange_n(p, b, __ATOMIC_SEQ_CST);
	case AMO_ADD: return __atomic_fetch_add(p, b, __ATOMIC_SEQ_CST);
	case AMO_XOR: return __atomic_fetch_xor(p, b, __ATOMIC_SEQ_CST);
	case AMO_AND: return __atomic_fetch_and(p, b, __ATOMIC_SEQ_CST);
	case AMO_OR: return __atomic_fetch_or(p, b, __ATOMIC_SEQ_CST);
	}
	uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(p, &old, amo_calc(f5, old, b, false), false,
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		;
	return old;
}

/*
 * LR/SC/AMO, for the interpreter and the translator's helper.  The access
 * goes to RAM through a host pointer or to a device through the bus; a
 * failed bus access is an access fault at the virtual address.
 *
 * On RAM an SC is a compare-and-swap against the value its LR read: it
 * fails when any hart stored a different value in between, as a
 * reservation broken by that store would.  A store that puts back the same
 * value does not break it (the ABA case, as in QEMU's MTTCG); RISC-V's
 * constrained LR/SC loops cannot tell the difference, and one hart's SC
 * can fail only because another hart's store succeeded, so the loops
 * still make progress.
 */
int hart_amo(struct hart *h, const struct dinsn *d)
{
	struct hart_state *s = &h->s;
	uint64_t va = s->x[d->rs1], pa, v = 0;
	bool w = d->op == OP_LR_W || d->op == OP_SC_W || d->op == OP_AMO_W;
	unsigned sz = w ? 4 : 8;
	void *hp;

	HART_STAT_INC(h, INSN_AMO);
	switch (d->op) {
	case OP_LR_W: case OP_LR_D:
		if (!mmu_amo_addr(h, va, sz, ACC_R, &pa, &hp))
			return -1;
		if (hp)
			v = w ? __atomic_load_n((uint32_t *)hp, __ATOMIC_ACQUIRE)
			      : __atomic_load_n((uint64_t *)hp, __ATOMIC_ACQUIRE);
		else if (bus_read(h->bus, pa, sz, &v) < 0)
			goto load_fault;
		s->resv_addr = pa;
		s->resv_valid = 1;
		h->resv_val = v;
		s->x[d->rd] = w ? sx32(v) : v;
		return 0;
	case OP_SC_W: case OP_SC_D: {
		if (!mmu_amo_addr(h, va, sz, ACC_W, &pa, &hp))
			return -1;
		bool ok = s->resv_valid && s->resv_addr == pa;
		v = s->x[d->rs2];
		if (ok && hp) {
			if (w) {
				uint32_t exp = (uint32_t)h->resv_val;
				ok = __atomic_compare_exchange_n((uint32_t *)hp, &exp, (uint32_t)v, false,
								 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
			} else {
				uint64_t exp = h->resv_val;
				ok = __atomic_compare_exchange_n((uint64_t *)hp, &exp, v, false,
								 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
			}
			if (ok)
				hart_code_written(h, pa, sz);
		} else if (ok && bus_write(h->bus, pa, sz, v) < 0) {
			goto store_fault;
		}
		s->x[d->rd] = ok ? 0 : 1;
		s->resv_valid = 0;
		return 0;
	}
	default: {
		uint64_t old = 0;
		if (!mmu_amo_addr(h, va, sz, ACC_W, &pa, &hp))
			return -1;
		if (hp) {
			old = amo_ram(hp, d->rm, s->x[d->rs2], w);
			hart_code_written(h, pa, sz);
		} else {
			if (bus_read(h->bus, pa, sz, &old) < 0)
				goto store_fault;
			uint64_t nv = amo_calc(d->rm, old, s->x[d->rs2], w);
			if (bus_write(h->bus, pa, sz, nv) < 0)
				goto store_fault;
		}
		s->x[d->rd] = w ? sx32(old) : old;
		return 0;
	}
	}
load_fault:
	h->exc_cause = EXC_LOAD_ACCESS;
	h->exc_tval = va;
	return -1;
store_fault:
	h->exc_cause = EXC_STORE_ACCESS;
	h->exc_tval = va;
	return -1;
}

/* Moves the hart's HART_STATS counts to the calling thread's counter slot. */
static void hart_stats_flush(struct hart *h)
{
#define HART_STAT_ID(n) STAT_##n,
	static const int ids[HSTAT_COUNT] = { HART_STATS(HART_STAT_ID) };
#undef HART_STAT_ID
	(void)ids;   /* STAT_ADD_DYN is empty outside stats builds */
	for (unsigned i = 0; i < HSTAT_COUNT; i++) {
		if (h->stat_pend[i]) {
			STAT_ADD_DYN(ids[i], h->stat_pend[i]);
			h->stat_pend[i] = 0;
		}
	}
}

enum hart_exit hart_run(struct hart *h, uint64_t budget)
{
#define LBL(n) [OP_##n] = &&L_##n,
	static const void *const labels[OP_COUNT] = { HART_OPS(LBL) };
#undef LBL
	struct hart_state *s = &h->s;
	uint64_t *x = s->x;
	uint64_t *f = s->f;
	const uint64_t start = s->icount;
	/* icount at which the budget is spent (saturated: budgets may be huge) */
	const uint64_t end = budget > UINT64_MAX - start ? UINT64_MAX : start + budget;
	enum hart_exit why = HART_EXIT_BUDGET;
	const struct dinsn *ip;
	unsigned rm_, fl_;
	const struct tlbe *tlb_r, *tlb_w;   /* data TLBs of the current mode */
	struct block *prev = NULL;   /* last cached block run, for chaining */
	uint64_t gen = h->chain_gen;
	uint64_t traps = 0;          /* exceptions and interrupts taken in this call */
	struct jit_exit *pend = NULL;   /* static exit translated code left by, to link */
	uint64_t pend_gen = 0;
	/* opt/obj differential mode: the state translated code left, for block_done */
	bool diff_pending = false;
	struct hart_state diff_after;

	h->exit_req = 0;
	if (VMX_DEBUG)
		dbg_hart_enter(h);
	running = h;
	/* Before the first look at kick: the dirty log's sync relies on the order (dirty.c). */
	__atomic_store_n(&h->in_run, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		uint64_t done = s->icount - start;
		/*
		 * A trap storm (say mtvec pointing at an illegal instruction)
		 * retires nothing; stopping after `budget` traps keeps the
		 * board responsive and is still deterministic.
		 */
		if (done >= budget || VMX_UNLIKELY(traps > budget))
			break;
		if (VMX_UNLIKELY(__atomic_load_n(&h->kick, __ATOMIC_RELAXED))) {
			unsigned k = __atomic_exchange_n(&h->kick, 0, __ATOMIC_ACQUIRE);
			if (k & HART_KICK_INVAL) {
				hart_inval_drain(h);
				pend = NULL;
			}
			if (k & HART_KICK_WFLUSH)
				hart_dirty_wflush(h);
			if (k & HART_KICK_STOP) {
				why = HART_EXIT_STOP;
				break;
			}
			continue;
		}
		if (VMX_UNLIKELY(mip_load(h) & s->mie) && hart_take_irq(h)) {
			traps++;
			pend = NULL;
			continue;
		}
		uint64_t limit = budget - done;
		struct block *b = NULL;
		if (VMX_UNLIKELY(h->chain_gen != gen)) {
			gen = h->chain_gen;
			prev = NULL;
		}
		if (prev && prev->link_gen == gen) {
			struct block *c = prev->link[0];
			if (c && c->vpc == s->pc)
				b = c;
			else if ((c = prev->link[1]) && c->vpc == s->pc)
				b = c;
			if (b && VMX_UNLIKELY(b->n > limit))
				b = NULL;
		}
		if (!b) {
			b = get_block(h, limit, labels);
			if (h->chain_gen != gen) {
				/* the lookup flushed or trapped: prev may be gone */
				gen = h->chain_gen;
				prev = NULL;
			}
			if (!b) {
				prev = NULL;
				pend = NULL;
				traps++;
				continue;
			}
			/*
			 * With the translator on, interpreted blocks do not chain:
			 * each comes back here, where hot ones get translated.
			 */
			if (prev && b->cached && !h->jit) {
				if (prev->link_gen != gen) {
					prev->link[0] = prev->link[1] = NULL;
					prev->link_gen = gen;
				}
				prev->link[prev->link_rr++ & 1] = b;
			}
		}
		if (h->jit && b->cached && !b->jit_no) {
			if (!b->jit && ++b->hot >= h->jit->hot && h->jit->hot) {
				bool full;
				kstat_push(KSTAT_JIT_TRANSLATE);
				bool done_tx = jit_translate(h, b, &full);
				kstat_pop();
				if (!done_tx && full) {
					/* Cache full: start over; b goes with everything else. */
					blocks_flush(h);
					gen = h->chain_gen;
					prev = NULL;
					pend = NULL;
					continue;
				}
			}
			if (b->jit) {
				if (pend && pend_gen == h->chain_gen && pend->target == b->vpc)
					jit_link(h, pend, b);
				/* Beta: one entry in 4096 checks the next 512 exits, round all of them. */
				if (VMX_DEBUG && VMX_UNLIKELY((++h->jit->dbg_runs & 4095) == 0))
					jit_dbg_check_links(h);
				pend = NULL;
				if (VMX_STATS)
					h->cur_block = b;
				uint64_t before = s->icount;
				(void)before;
				h->jit_tlb[0] = h->tlb[ACC_R][h->dmode];
				h->jit_tlb[1] = h->tlb[ACC_W][h->dmode];
				h->jit_end = end;
				/* b was found through the current translation: same-page links hold again. */
				h->page_gen = h->page_gen_live;
				/*
				 * opt/obj differential mode: one block in 64 that writes no
				 * memory runs alone (a budget already spent refuses every
				 * chained entry), then the interpreter runs it again from
				 * the same state; block_done compares.  Not when a slow path
				 * ran (a device may have seen the access).
				 */
				struct hart_state diff_before;
				bool diff = dbg_jit_diff() && (++h->dbg_diff_tick & 63) == 0 &&
					    jit_block_writes_no_memory(b);
				if (diff) {
					diff_before = *s;
					h->dbg_slow = 0;
					h->jit_end = s->icount;
				}
				uintptr_t r = ((jit_enter_fn)h->jit->enter)(h, b->jit);
				HART_STAT_INC(h, JIT_RUNS);
				HART_STAT_ADD(h, JIT_INSNS, s->icount - before);
				prev = NULL;
				if (diff && !h->dbg_slow && (r == JIT_LEFT_DYNAMIC || r > JIT_LEFT_MAX)) {
					/* Back to the start, all but mip (other threads set its bits). */
					const size_t m = offsetof(struct hart_state, mip);
					diff_after = *s;
					memcpy(s, &diff_before, m);
					memcpy((char *)s + m + 8, (const char *)&diff_before + m + 8,
					       sizeof(*s) - m - 8);
					diff_pending = true;
					h->dbg_diffs++;
					pend = NULL;
					goto interpret;
				}
				if (r == JIT_LEFT_HANDBACK) {
					b = handback_block(h);
					ip = h->jit_handback;
					goto interpret_at;
				}
				if (r == JIT_LEFT_TRAP) {
					traps++;
				} else if (r > JIT_LEFT_MAX) {
					pend = (struct jit_exit *)r;
					pend_gen = h->chain_gen;
				}
				goto block_done;
			}
		}
		pend = NULL;
		prev = b->cached ? b : NULL;
	interpret:
		ip = b->insn;
	interpret_at:
		if (VMX_STATS)
			h->cur_block = b;
		tlb_r = h->tlb[ACC_R][h->dmode];
		tlb_w = h->tlb[ACC_W][h->dmode];

#define NEXT do { ip++; goto *ip->handler; } while (0)
#define RD x[ip->rd]
#define RS1 x[ip->rs1]
#define RS2 x[ip->rs2]
#define IMM ((uint64_t)ip->imm)
#define EXC(cause, tval) do { s->pc = ip->pc; s->icount += ip->idx; traps++; \
		hart_trap(h, (cause), (tval), false); goto block_done; } while (0)
#define EXC_PENDING() EXC(h->exc_cause, h->exc_tval)
#define ILLEGAL() EXC(EXC_ILLEGAL, ip->raw)
/*
 * Leave the block for `target`: straight into a chained successor when its
 * link is current and nothing needs the loop top (budget, interrupt, kick,
 * exit), else through the loop top.  Translation modes cannot change at these
 * exits, so the data-TLB pointers stay valid.  exit_req needs no test here:
 * WFI and tohost leave the block at once, and every other setter
 * (hart_code_written) also moves chain_gen, which fails the link_gen test.
 */
#define CHAIN(target) do { \
		uint64_t t2_ = (target); \
		struct block *n_ = b->link[0]; \
		if (!n_ || n_->vpc != t2_) \
			n_ = b->link[1]; \
		if (n_ && n_->vpc == t2_ && b->link_gen == h->chain_gen && \
		    s->icount + n_->n <= end && !(mip_load(h) & s->mie) && \
		    !__atomic_load_n(&h->kick, __ATOMIC_RELAXED)) { \
			b = prev = n_; \
			if (VMX_STATS) \
				h->cur_block = b; \
			ip = b->insn; \
			goto *ip->handler; \
		} \
		s->pc = t2_; \
		goto block_done; \
	} while (0)
#define JUMP(target) do { uint64_t t1_ = (target); s->icount += ip->idx + 1; CHAIN(t1_); } while (0)
#define FALLTHROUGH_EXIT() do { s->pc = ip->pc + ip->len; s->icount += ip->idx + 1; \
		goto block_done; } while (0)
#define LOADV(T, out, chk) do { \
		uint64_t va_ = RS1 + IMM; \
		const struct tlbe *e_ = &tlb_r[(va_ >> 12) & TLB_MASK]; \
		if (VMX_LIKELY(__atomic_load_n(&e_->tag, __ATOMIC_RELAXED) == \
			       (va_ & (~0xfffULL | (sizeof(T) - 1))))) { \
			T v_ = (T)ram_guest_load((const void *)(uintptr_t)(va_ + e_->addend), sizeof(T)); \
			out = (uint64_t)(int64_t)v_; \
		} else { \
			uint64_t v_; \
			HART_STAT_INC(h, INSN_LOAD); \
			if (!mmu_load_slow(h, va_, sizeof(T), &v_)) EXC_PENDING(); \
			out = (uint64_t)(int64_t)(T)v_; \
			/* a device read may have DMAed over code */ \
			if ((chk) && VMX_UNLIKELY(h->exit_req)) FALLTHROUGH_EXIT(); \
		} } while (0)
#define LOAD(T) do { LOADV(T, RD, 1); NEXT; } while (0)
#define STOREV(T, val) do { \
		uint64_t va_ = RS1 + IMM, sv_ = (val); \
		const struct tlbe *e_ = &tlb_w[(va_ >> 12) & TLB_MASK]; \
		/* the tag may be taken away by another hart: mmu_unmap_pa_write_remote */ \
		if (VMX_LIKELY(__atomic_load_n(&e_->tag, __ATOMIC_RELAXED) == \
			       (va_ & (~0xfffULL | (sizeof(T) - 1))))) { \
			ram_guest_store((void *)(uintptr_t)(va_ + e_->addend), sv_, sizeof(T)); \
		} else { \
			HART_STAT_INC(h, INSN_STORE); \
			if (!mmu_store_slow(h, va_, sizeof(T), sv_)) EXC_PENDING(); \
			if (VMX_UNLIKELY(h->exit_req)) FALLTHROUGH_EXIT(); \
		} } while (0)
#define STORE(T) do { STOREV(T, RS2); NEXT; } while (0)
/*
 * A taken branch back to the start of its own block (a tight loop) re-enters
 * the block directly when the whole block fits the budget and no interrupt,
 * kick or exit is waiting: the checks the loop top would make.
 */
#define BRANCH(cond) do { \
		if (cond) { \
			uint64_t t_ = ip->pc + IMM; \
			if (t_ == b->vpc) { \
				s->icount += ip->idx + 1; \
				if (VMX_LIKELY(s->icount + b->n <= end && !h->jit && \
					       !(mip_load(h) & s->mie) && !h->exit_req && \
					       !__atomic_load_n(&h->kick, __ATOMIC_RELAXED))) { \
					ip = b->insn; \
					goto *ip->handler; \
				} \
				s->pc = t_; \
				goto block_done; \
			} \
			JUMP(t_); \
		} \
		NEXT; \
	} while (0)
#define FP_ON() do { HART_STAT_INC(h, INSN_FP); \
		if (VMX_UNLIKELY(!(s->mstatus & MSTATUS_FS))) ILLEGAL(); } while (0)
#define FP_RM() do { FP_ON(); rm_ = ip->rm == 7 ? (unsigned)(s->fcsr >> 5) & 7 : ip->rm; \
		if (VMX_UNLIKELY(rm_ > 4)) \
			ILLEGAL(); \
		fl_ = 0; \
	} while (0)
#define FP_DONE() do { s->fcsr |= fl_; s->mstatus |= MSTATUS_FS; NEXT; } while (0)
#define F1S fpu_unbox_s(f[ip->rs1])
#define F2S fpu_unbox_s(f[ip->rs2])
#define F3S fpu_unbox_s(f[ip->rs3])
#define F1D f[ip->rs1]
#define F2D f[ip->rs2]
#define F3D f[ip->rs3]

		goto *ip->handler;

	L_ILLEGAL: ILLEGAL();
	L_END: s->icount += ip->idx; CHAIN(ip->pc);
	L_LUI: RD = IMM; NEXT;
	L_AUIPC: RD = ip->pc + IMM; NEXT;
	L_JAL: RD = ip->pc + ip->len; JUMP(ip->pc + IMM);
	L_JAL_IN: RD = ip->pc + ip->len; NEXT;
	L_JALR: { uint64_t t = (RS1 + IMM) & ~1ULL; RD = ip->pc + ip->len; JUMP(t); }
	L_BEQ: BRANCH(RS1 == RS2);
	L_BNE: BRANCH(RS1 != RS2);
	L_BLT: BRANCH((int64_t)RS1 < (int64_t)RS2);
	L_BGE: BRANCH((int64_t)RS1 >= (int64_t)RS2);
	L_BLTU: BRANCH(RS1 < RS2);
	L_BGEU: BRANCH(RS1 >= RS2);
	L_LB: LOAD(int8_t);
	L_LH: LOAD(int16_t);
	L_LW: LOAD(int32_t);
	L_LD: LOAD(int64_t);
	L_LBU: LOAD(uint8_t);
	L_LHU: LOAD(uint16_t);
	L_LWU: LOAD(uint32_t);
	L_SB: STORE(uint8_t);
	L_SH: STORE(uint16_t);
	L_SW: STORE(uint32_t);
	L_SD: STORE(uint64_t);
	L_ADDI: RD = RS1 + IMM; NEXT;
	L_SLTI: RD = (int64_t)RS1 < ip->imm; NEXT;
	L_SLTIU: RD = RS1 < IMM; NEXT;
	L_XORI: RD = RS1 ^ IMM; NEXT;
	L_ORI: RD = RS1 | IMM; NEXT;
	L_ANDI: RD = RS1 & IMM; NEXT;
	L_SLLI: RD = RS1 << ip->imm; NEXT;
	L_SRLI: RD = RS1 >> ip->imm; NEXT;
	L_SRAI: RD = (uint64_t)((int64_t)RS1 >> ip->imm); NEXT;
	L_ADD: RD = RS1 + RS2; NEXT;
	L_SUB: RD = RS1 - RS2; NEXT;
	L_SLL: RD = RS1 << (RS2 & 63); NEXT;
	L_SLT: RD = (int64_t)RS1 < (int64_t)RS2; NEXT;
	L_SLTU: RD = RS1 < RS2; NEXT;
	L_XOR: RD = RS1 ^ RS2; NEXT;
	L_SRL: RD = RS1 >> (RS2 & 63); NEXT;
	L_SRA: RD = (uint64_t)((int64_t)RS1 >> (RS2 & 63)); NEXT;
	L_OR: RD = RS1 | RS2; NEXT;
	L_AND: RD = RS1 & RS2; NEXT;
	L_ADDIW: RD = sx32(RS1 + IMM); NEXT;
	L_SLLIW: RD = sx32((uint32_t)RS1 << ip->imm); NEXT;
	L_SRLIW: RD = sx32((uint32_t)RS1 >> ip->imm); NEXT;
	L_SRAIW: RD = (uint64_t)(int64_t)((int32_t)RS1 >> ip->imm); NEXT;
	L_ADDW: RD = sx32(RS1 + RS2); NEXT;
	L_SUBW: RD = sx32(RS1 - RS2); NEXT;
	L_SLLW: RD = sx32((uint32_t)RS1 << (RS2 & 31)); NEXT;
	L_SRLW: RD = sx32((uint32_t)RS1 >> (RS2 & 31)); NEXT;
	L_SRAW: RD = (uint64_t)(int64_t)((int32_t)RS1 >> (RS2 & 31)); NEXT;
	L_MUL: RD = RS1 * RS2; NEXT;
	L_MULH: RD = (uint64_t)(((__int128)(int64_t)RS1 * (__int128)(int64_t)RS2) >> 64); NEXT;
	L_MULHSU: RD = (uint64_t)(((__int128)(int64_t)RS1 * (__int128)RS2) >> 64); NEXT;
	L_MULHU: RD = (uint64_t)(((unsigned __int128)RS1 * RS2) >> 64); NEXT;
	L_DIV: RD = hart_div(RS1, RS2); NEXT;
	L_DIVU: RD = hart_divu(RS1, RS2); NEXT;
	L_REM: RD = hart_rem(RS1, RS2); NEXT;
	L_REMU: RD = hart_remu(RS1, RS2); NEXT;
	L_MULW: RD = sx32(RS1 * RS2); NEXT;
	L_DIVW: RD = hart_divw(RS1, RS2); NEXT;
	L_DIVUW: RD = hart_divuw(RS1, RS2); NEXT;
	L_REMW: RD = hart_remw(RS1, RS2); NEXT;
	L_REMUW: RD = hart_remuw(RS1, RS2); NEXT;
	L_LR_W: L_LR_D: L_SC_W: L_SC_D: L_AMO_W: L_AMO_D:
		if (hart_amo(h, ip) < 0)
			EXC_PENDING();
		if (VMX_UNLIKELY(h->exit_req))
			FALLTHROUGH_EXIT();
		NEXT;
	L_FENCE:
		if (ip->imm)
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		else
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
		NEXT;
	L_FENCE_I:
		/*
		 * Almost nothing to flush: every write to a page holding decoded
		 * code (this or another hart's store, AMO, A/D update, DMA through
		 * the bus's ram_written hook) already dropped this hart's blocks or
		 * posted the page to it.  What is posted and the suspect pages
		 * (struct cpu_shared) go now.  Linux issues fence.i tens of
		 * thousands of times per boot, so a full flush here was the largest
		 * cost of booting.
		 */
		if (__atomic_load_n(&h->kick, __ATOMIC_ACQUIRE) & HART_KICK_INVAL)
			hart_inval_drain(h);
		if (VMX_UNLIKELY(h->nsuspect))
			suspects_drop(h);
		if (VMX_DEBUG)
			dbg_fence_i_check(h, b->ppc);
		FALLTHROUGH_EXIT();
	L_ECALL: STAT_INC(INSN_SYSTEM); EXC(EXC_ECALL_U + s->priv, 0);
	L_EBREAK: STAT_INC(INSN_SYSTEM); EXC(EXC_BREAKPOINT, ip->pc);
	L_MRET:
		STAT_INC(INSN_SYSTEM);
		s->pc = ip->pc;
		if (!hart_mret(h))
			ILLEGAL();
		s->icount += ip->idx + 1;
		goto block_done;
	L_SRET:
		STAT_INC(INSN_SYSTEM);
		s->pc = ip->pc;
		if (!hart_sret(h))
			ILLEGAL();
		s->icount += ip->idx + 1;
		goto block_done;
	L_WFI:
		STAT_INC(INSN_SYSTEM);
		if (s->priv == PRIV_U || (s->priv == PRIV_S && (s->mstatus & MSTATUS_TW)))
			ILLEGAL();
		if (!(mip_load(h) & s->mie)) {
			h->exit_req |= 2;
			h->exit_reason = HART_EXIT_WFI;
		}
		FALLTHROUGH_EXIT();
	L_SFENCE_VMA:
		STAT_INC(INSN_SYSTEM);
		if (s->priv == PRIV_U || (s->priv == PRIV_S && (s->mstatus & MSTATUS_TVM)))
			ILLEGAL();
		kstat_push(KSTAT_SFENCE);
		if (ip->rs1 == 0)
			mmu_flush_all(h);
		else
			mmu_flush_va(h, RS1);
		kstat_pop();
		FALLTHROUGH_EXIT();
	L_CSRRW: L_CSRRS: L_CSRRC: L_CSRRWI: L_CSRRSI: L_CSRRCI: {
		/* Sample-only (two stores): CSR instructions are too frequent to count here. */
		kstat_set(KSTAT_CSR);
		bool done = csr_op(h, ip);
		kstat_set(KSTAT_GUEST);
		if (!done)
			EXC_PENDING();
		FALLTHROUGH_EXIT();
	}

	L_FLW: { uint64_t v; FP_ON(); LOADV(uint32_t, v, 0); f[ip->rd] = fpu_box_s((uint32_t)v);
		s->mstatus |= MSTATUS_FS;
		if (VMX_UNLIKELY(h->exit_req)) FALLTHROUGH_EXIT();
		NEXT; }
	L_FLD: { uint64_t v; FP_ON(); LOADV(uint64_t, v, 0); f[ip->rd] = v;
		s->mstatus |= MSTATUS_FS;
		if (VMX_UNLIKELY(h->exit_req)) FALLTHROUGH_EXIT();
		NEXT; }
	L_FSW: FP_ON(); STOREV(uint32_t, (uint32_t)f[ip->rs2]); NEXT;
	L_FSD: FP_ON(); STOREV(uint64_t, f[ip->rs2]); NEXT;
	L_FMA_S: FP_RM();
		f[ip->rd] = fpu_box_s(fpu_fma_s(F1S, F2S, F3S, ip->imm & 1, (ip->imm >> 1) & 1, rm_, &fl_));
		FP_DONE();
	L_FMA_D: FP_RM();
		f[ip->rd] = fpu_fma_d(F1D, F2D, F3D, ip->imm & 1, (ip->imm >> 1) & 1, rm_, &fl_);
		FP_DONE();
	L_FADD_S: FP_RM(); f[ip->rd] = fpu_box_s(fpu_add_s(F1S, F2S, rm_, &fl_)); FP_DONE();
	L_FSUB_S: FP_RM(); f[ip->rd] = fpu_box_s(fpu_sub_s(F1S, F2S, rm_, &fl_)); FP_DONE();
	L_FMUL_S: FP_RM(); f[ip->rd] = fpu_box_s(fpu_mul_s(F1S, F2S, rm_, &fl_)); FP_DONE();
	L_FDIV_S: FP_RM(); f[ip->rd] = fpu_box_s(fpu_div_s(F1S, F2S, rm_, &fl_)); FP_DONE();
	L_FSQRT_S: FP_RM(); f[ip->rd] = fpu_box_s(fpu_sqrt_s(F1S, rm_, &fl_)); FP_DONE();
	L_FSGNJ_S: FP_ON(); fl_ = 0;
		f[ip->rd] = fpu_box_s((F1S & 0x7fffffffu) | (F2S & 0x80000000u)); FP_DONE();
	L_FSGNJN_S: FP_ON(); fl_ = 0;
		f[ip->rd] = fpu_box_s((F1S & 0x7fffffffu) | (~F2S & 0x80000000u)); FP_DONE();
	L_FSGNJX_S: FP_ON(); fl_ = 0;
		f[ip->rd] = fpu_box_s(F1S ^ (F2S & 0x80000000u)); FP_DONE();
	L_FMIN_S: FP_ON(); fl_ = 0; f[ip->rd] = fpu_box_s(fpu_min_s(F1S, F2S, &fl_)); FP_DONE();
	L_FMAX_S: FP_ON(); fl_ = 0; f[ip->rd] = fpu_box_s(fpu_max_s(F1S, F2S, &fl_)); FP_DONE();
	L_FCVT_W_S: FP_RM(); RD = fpu_cvt_w_s(F1S, rm_, &fl_); FP_DONE();
	L_FCVT_WU_S: FP_RM(); RD = fpu_cvt_wu_s(F1S, rm_, &fl_); FP_DONE();
	L_FCVT_L_S: FP_RM(); RD = fpu_cvt_l_s(F1S, rm_, &fl_); FP_DONE();
	L_FCVT_LU_S: FP_RM(); RD = fpu_cvt_lu_s(F1S, rm_, &fl_); FP_DONE();
	L_FMV_X_W: FP_ON(); RD = sx32((uint32_t)f[ip->rs1]); NEXT;
	L_FEQ_S: FP_ON(); fl_ = 0; RD = (uint64_t)fpu_eq_s(F1S, F2S, &fl_); FP_DONE();
	L_FLT_S: FP_ON(); fl_ = 0; RD = (uint64_t)fpu_lt_s(F1S, F2S, &fl_); FP_DONE();
	L_FLE_S: FP_ON(); fl_ = 0; RD = (uint64_t)fpu_le_s(F1S, F2S, &fl_); FP_DONE();
	L_FCLASS_S: FP_ON(); RD = fpu_class_s(F1S); NEXT;
	L_FCVT_S_W: FP_RM(); f[ip->rd] = fpu_box_s(fpu_cvt_s_w(RS1, rm_, &fl_)); FP_DONE();
	L_FCVT_S_WU: FP_RM(); f[ip->rd] = fpu_box_s(fpu_cvt_s_wu(RS1, rm_, &fl_)); FP_DONE();
	L_FCVT_S_L: FP_RM(); f[ip->rd] = fpu_box_s(fpu_cvt_s_l(RS1, rm_, &fl_)); FP_DONE();
	L_FCVT_S_LU: FP_RM(); f[ip->rd] = fpu_box_s(fpu_cvt_s_lu(RS1, rm_, &fl_)); FP_DONE();
	L_FMV_W_X: FP_ON(); fl_ = 0; f[ip->rd] = fpu_box_s((uint32_t)RS1); FP_DONE();
	L_FADD_D: FP_RM(); f[ip->rd] = fpu_add_d(F1D, F2D, rm_, &fl_); FP_DONE();
	L_FSUB_D: FP_RM(); f[ip->rd] = fpu_sub_d(F1D, F2D, rm_, &fl_); FP_DONE();
	L_FMUL_D: FP_RM(); f[ip->rd] = fpu_mul_d(F1D, F2D, rm_, &fl_); FP_DONE();
	L_FDIV_D: FP_RM(); f[ip->rd] = fpu_div_d(F1D, F2D, rm_, &fl_); FP_DONE();
	L_FSQRT_D: FP_RM(); f[ip->rd] = fpu_sqrt_d(F1D, rm_, &fl_); FP_DONE();
	L_FSGNJ_D: FP_ON(); fl_ = 0;
		f[ip->rd] = (F1D & ~(1ULL << 63)) | (F2D & (1ULL << 63)); FP_DONE();
	L_FSGNJN_D: FP_ON(); fl_ = 0;
		f[ip->rd] = (F1D & ~(1ULL << 63)) | (~F2D & (1ULL << 63)); FP_DONE();
	L_FSGNJX_D: FP_ON(); fl_ = 0; f[ip->rd] = F1D ^ (F2D & (1ULL << 63)); FP_DONE();
	L_FMIN_D: FP_ON(); fl_ = 0; f[ip->rd] = fpu_min_d(F1D, F2D, &fl_); FP_DONE();
	L_FMAX_D: FP_ON(); fl_ = 0; f[ip->rd] = fpu_max_d(F1D, F2D, &fl_); FP_DONE();
	L_FCVT_W_D: FP_RM(); RD = fpu_cvt_w_d(F1D, rm_, &fl_); FP_DONE();
	L_FCVT_WU_D: FP_RM(); RD = fpu_cvt_wu_d(F1D, rm_, &fl_); FP_DONE();
	L_FCVT_L_D: FP_RM(); RD = fpu_cvt_l_d(F1D, rm_, &fl_); FP_DONE();
	L_FCVT_LU_D: FP_RM(); RD = fpu_cvt_lu_d(F1D, rm_, &fl_); FP_DONE();
	L_FMV_X_D: FP_ON(); RD = f[ip->rs1]; NEXT;
	L_FEQ_D: FP_ON(); fl_ = 0; RD = (uint64_t)fpu_eq_d(F1D, F2D, &fl_); FP_DONE();
	L_FLT_D: FP_ON(); fl_ = 0; RD = (uint64_t)fpu_lt_d(F1D, F2D, &fl_); FP_DONE();
	L_FLE_D: FP_ON(); fl_ = 0; RD = (uint64_t)fpu_le_d(F1D, F2D, &fl_); FP_DONE();
	L_FCLASS_D: FP_ON(); RD = fpu_class_d(F1D); NEXT;
	L_FCVT_D_W: FP_RM(); f[ip->rd] = fpu_cvt_d_w(RS1, rm_, &fl_); FP_DONE();
	L_FCVT_D_WU: FP_RM(); f[ip->rd] = fpu_cvt_d_wu(RS1, rm_, &fl_); FP_DONE();
	L_FCVT_D_L: FP_RM(); f[ip->rd] = fpu_cvt_d_l(RS1, rm_, &fl_); FP_DONE();
	L_FCVT_D_LU: FP_RM(); f[ip->rd] = fpu_cvt_d_lu(RS1, rm_, &fl_); FP_DONE();
	L_FMV_D_X: FP_ON(); fl_ = 0; f[ip->rd] = RS1; FP_DONE();
	L_FCVT_S_D: FP_RM(); f[ip->rd] = fpu_box_s(fpu_cvt_s_d(F1D, rm_, &fl_)); FP_DONE();
	L_FCVT_D_S: FP_RM(); f[ip->rd] = fpu_cvt_d_s(F1S, &fl_); FP_DONE();

	block_done:
		if (VMX_STATS)
			h->cur_block = NULL;
		x[32] = 0;
		if (VMX_DEVEL && VMX_UNLIKELY(diff_pending)) {
			diff_pending = false;
			(void)diff_after;   /* DBG_CHECK is empty outside beta, opt and obj */
			DBG_CHECK("jit-diff", dbg_jit_diff_problem(&diff_after, s));
		}
		if (VMX_UNLIKELY(h->exit_req)) {
			int r = h->exit_req;
			h->exit_req = 0;
			if (r & 2) {
				why = h->exit_reason;
				break;
			}
		}
	}
	/* Another hart may run before this one resumes: drop the reservation. */
	s->resv_valid = 0;
	running = NULL;
	__atomic_store_n(&h->in_run, 0, __ATOMIC_RELEASE);
	if (VMX_STATS)
		hart_stats_flush(h);
	if (VMX_DEBUG)
		__atomic_store_n(&h->owner_tid, 0, __ATOMIC_RELEASE);
	return why;
}
