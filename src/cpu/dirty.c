/*
 * dirty.c - which guest RAM pages were written since the last look: the
 * monitor's side of live migration's pre-copy (docs/MIGRATION.md).
 *
 * Stores through a write-TLB entry are not seen one by one, so an entry is
 * only made after its page is marked (tlb_fill), and a sync takes every
 * entry away again; writes that do not use an entry are marked where they
 * happen (code_written).  The order that makes a sync exact:
 *
 *   1. take the bits (exchange with 0) - pages written so far;
 *   2. ask every hart to drop its write entries (HART_KICK_WFLUSH), and wait
 *      until each has done so at a block boundary, or is outside hart_run;
 *   3. the caller copies the pages.
 *
 * A store through an entry made before 1 lands before the hart's drop in
 * 2, so before the copy in 3.  An entry made after 1 marked its page after
 * the exchange, so the page is in the next sync.  A store after the drop
 * needs a new entry, which marks the page again.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include "hart_int.h"

void hart_dirty_wflush(struct hart *h)
{
	uint64_t req = __atomic_load_n(&h->wflush_req, __ATOMIC_ACQUIRE);
	mmu_flush_writes(h);
	__atomic_store_n(&h->wflush_done, req, __ATOMIC_RELEASE);
}

/* Step 2: every hart drops its write entries; returns when all have. */
static void wflush_all(struct cpu_shared *sh)
{
	uint64_t want[CPU_MAX_HARTS];
	unsigned n = sh->nharts;

	for (unsigned k = 0; k < n; k++) {
		struct hart *o = sh->harts[k];
		want[k] = __atomic_add_fetch(&o->wflush_req, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_or(&o->kick, HART_KICK_WFLUSH, __ATOMIC_SEQ_CST);
	}
	for (unsigned k = 0; k < n; k++) {
		struct hart *o = sh->harts[k];
		/*
		 * Outside hart_run a hart has no store under way, and it looks at
		 * kick before its next block (in_run is stored first, then kick read).
		 */
		for (unsigned spins = 0;; spins++) {
			if (__atomic_load_n(&o->wflush_done, __ATOMIC_ACQUIRE) >= want[k] ||
			    !__atomic_load_n(&o->in_run, __ATOMIC_SEQ_CST))
				break;
			if (spins < 64) {
				sched_yield();
			} else {
				struct timespec ts = { 0, 20000 };
				nanosleep(&ts, NULL);
			}
		}
	}
}

int hart_dirty_start(struct hart *h, struct verr *e)
{
	struct cpu_shared *sh = h->sh;
	uint64_t words = (sh->npages + 63) / 64;

	if (!sh->dirty) {
		sh->dirty = calloc(words ? words : 1, sizeof(uint64_t));
		if (!sh->dirty)
			return verr_set(e, -ENOMEM, "dirty log: out of memory for %llu pages",
					(unsigned long long)sh->npages);
	}
	for (uint64_t i = 0; i < words; i++)
		__atomic_store_n(&sh->dirty[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&sh->dirty_on, 1, __ATOMIC_SEQ_CST);
	/* Entries made before the log was on would write unmarked. */
	wflush_all(sh);
	return 0;
}

uint64_t hart_dirty_sync(struct hart *h, uint64_t *bits)
{
	struct cpu_shared *sh = h->sh;
	uint64_t words = (sh->npages + 63) / 64, n = 0;

	if (!sh->dirty)
		return 0;
	for (uint64_t i = 0; i < words; i++) {
		uint64_t w = __atomic_exchange_n(&sh->dirty[i], 0, __ATOMIC_ACQ_REL);
		bits[i] |= w;
		n += (uint64_t)__builtin_popcountll(w);
	}
	wflush_all(sh);
	return n;
}

void hart_dirty_stop(struct hart *h)
{
	__atomic_store_n(&h->sh->dirty_on, 0, __ATOMIC_SEQ_CST);
}
