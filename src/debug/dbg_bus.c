/*
 * dbg_bus.c - invariant checks of the physical address map (beta builds).
 */
#include "dbg.h"

static bool overlap(uint64_t a, uint64_t al, uint64_t b, uint64_t bl)
{
	return a < b + bl && b < a + al;
}

bool dbg_bus_consistent(const struct bus *b)
{
	if (b->nregions > BUS_MAX_REGIONS)
		return false;
	for (unsigned i = 0; i < b->nregions; i++) {
		const struct mmio_region *r = &b->regions[i];
		if (r->size == 0 || r->base + r->size < r->base || !r->ops)
			return false;
		if (b->ram && overlap(r->base, r->size, b->ram->base, b->ram->size))
			return false;
		for (unsigned j = i + 1; j < b->nregions; j++)
			if (overlap(r->base, r->size, b->regions[j].base, b->regions[j].size))
				return false;
	}
	return true;
}
