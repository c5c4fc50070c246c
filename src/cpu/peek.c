/*
 * peek.c - side-effect-free reads of a hart's guest virtual memory, for the
 * callstack profiler's signal handler (src/stats/cs_*.c).
 *
 * The sampler interrupts the vCPU thread anywhere, possibly in the middle of
 * a TLB fill or a page-table walk, so nothing here may write: no A/D bits,
 * no TLB entries, no exception state.  The walk mirrors mmu.c's but only
 * checks what makes a translation exist (valid, leaf, aligned superpage);
 * U/S permission does not matter for reading the guest's own stack.
 */
#include <string.h>
#include <sys/ucontext.h>
#include "hart_int.h"

_Thread_local struct hart *hart_current;

#define PEEK_PTE_V (1ULL << 0)
#define PEEK_PTE_R (1ULL << 1)
#define PEEK_PTE_W (1ULL << 2)
#define PEEK_PTE_X (1ULL << 3)
#define PEEK_PPN_MASK ((1ULL << 44) - 1)

unsigned hart_peek_priv(const struct hart *h)
{
	return (unsigned)h->s.priv;
}

uint64_t hart_peek_satp(const struct hart *h)
{
	return h->s.satp;
}

bool hart_peek_pc(const struct hart *h, const uint64_t *regs, unsigned nregs, uint64_t *pc,
		  uint32_t *raw)
{
	const struct block *b;
	const struct dinsn *best = NULL;

	*pc = h->s.pc;
	*raw = 0;
	/*
	 * In translated code the host pc says where: the cache's index finds
	 * the block, and the block's side table maps the host pc back to the
	 * guest instruction.
	 */
	if (nregs > REG_RIP && jit_cache_holds(h->jit, (uintptr_t)regs[REG_RIP])) {
		b = jit_cache_block_at(h->jit, (uintptr_t)regs[REG_RIP]);
		int idx = b ? jit_map_pc(b, (uintptr_t)regs[REG_RIP]) : -1;
		if (idx < 0)
			return false;
		best = &b->insn[idx];
		*pc = best->pc;
		*raw = best->op == OP_END ? 0 : best->raw;
		return true;
	}
	b = h->cur_block;
	if (!b)
		return false;
	/*
	 * A register pointing at an entry of the running block (OP_END
	 * included) is the interpreter's instruction pointer.  A register may
	 * also hold the block's first entry (the re-entry target of a loop),
	 * so the highest entry wins.  Blocks live in the hart's arena and
	 * scratch buffer, which stay mapped for the hart's life, so a stale
	 * cur_block is harmless to read.
	 */
	uintptr_t lo = (uintptr_t)b->insn, hi = lo + ((uintptr_t)b->n + 1) * sizeof(struct dinsn);
	for (unsigned i = 0; i < nregs; i++) {
		uintptr_t v = (uintptr_t)regs[i];
		if (v < lo || v >= hi || (v - lo) % sizeof(struct dinsn))
			continue;
		const struct dinsn *d = (const struct dinsn *)v;
		if (!best || d > best)
			best = d;
	}
	if (!best)
		return false;
	*pc = best->pc;
	*raw = best->op == OP_END ? 0 : best->raw;
	return true;
}

static bool peek_xlate(const struct hart *h, uint64_t va, uint64_t *pa)
{
	uint64_t satp = h->s.satp;
	unsigned mode = (unsigned)(satp >> 60);

	/* The sampler follows instruction fetch: M-mode (and satp off) is bare. */
	if (h->s.priv == PRIV_M || (mode != 8 && mode != 9)) {
		*pa = va;
		return true;
	}
	unsigned levels = mode == 9 ? 4 : 3;
	unsigned vabits = 12 + 9 * levels;
	if ((uint64_t)((int64_t)(va << (64 - vabits)) >> (64 - vabits)) != va)
		return false;
	uint64_t a = (satp & PEEK_PPN_MASK) << 12;
	for (int i = (int)levels - 1; i >= 0; i--) {
		uint64_t pte;
		const uint8_t *pp = ram_ptr(h->ram, a + ((va >> (12 + 9 * i)) & 511) * 8, 8);
		if (!pp)
			return false;
		memcpy(&pte, pp, 8);
		if (!(pte & PEEK_PTE_V) || (!(pte & PEEK_PTE_R) && (pte & PEEK_PTE_W)) || (pte >> 54))
			return false;
		uint64_t ppn = (pte >> 10) & PEEK_PPN_MASK;
		if (!(pte & (PEEK_PTE_R | PEEK_PTE_X))) {
			a = ppn << 12;
			continue;
		}
		if (i > 0 && (ppn & ((1ULL << (9 * i)) - 1)))
			return false;
		uint64_t off_mask = (1ULL << (12 + 9 * i)) - 1;
		*pa = ((ppn << 12) & ~off_mask) | (va & off_mask);
		return true;
	}
	return false;
}

bool hart_peek_virt(const struct hart *h, uint64_t va, void *buf, unsigned len)
{
	uint8_t *out = buf;
	while (len) {
		unsigned chunk = 4096 - (unsigned)(va & 0xfff);
		uint64_t pa;
		if (chunk > len)
			chunk = len;
		if (!peek_xlate(h, va, &pa))
			return false;
		const uint8_t *p = ram_ptr(h->ram, pa, chunk);
		if (!p)
			return false;
		memcpy(out, p, chunk);
		out += chunk;
		va += chunk;
		len -= chunk;
	}
	return true;
}

void hart_peek_jit(const struct hart *h, uint64_t *lo, uint64_t *body, uint64_t *hi)
{
	const struct jit *j = h->jit;
	*lo = j ? (uint64_t)(uintptr_t)j->rx : 0;
	*body = j ? *lo + j->tramp_size : 0;
	*hi = j ? *lo + j->size : 0;
}
