/*
 * bus.c - guest physical address space: RAM plus a small table of MMIO
 * regions (see bus.h).  Lookups are linear over at most BUS_MAX_REGIONS with
 * a one-entry cache, which is enough: MMIO is rare next to RAM accesses, and
 * RAM never comes here on the CPU's fast path.
 */
#include <errno.h>
#include <string.h>
#include "bus.h"
#include "../lib/mxuser.h"
#include "../debug/dbg.h"
#include "../stats/kstat.h"
#include "../stats/stats.h"

void bus_init(struct bus *b, struct guest_ram *ram)
{
	memset(b, 0, sizeof(*b));
	b->ram = ram;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int bus_map(struct bus *b, const char *name, uint64_t base, uint64_t size,
	    const struct mmio_ops *ops, void *dev)
{
	return bus_map_locked(b, name, base, size, ops, dev, NULL);
}

int bus_map_locked(struct bus *b, const char *name, uint64_t base, uint64_t size,
		   const struct mmio_ops *ops, void *dev, struct mxuser_lock *lock)
{
	if (size == 0 || base + size < base)
		return -EINVAL;
	if (b->ram && overlaps(base, size, b->ram->base, b->ram->size))
		return -EEXIST;
	for (unsigned i = 0; i < b->nregions; i++)
		if (overlaps(base, size, b->regions[i].base, b->regions[i].size))
			return -EEXIST;
	if (b->nregions == BUS_MAX_REGIONS)
		return -ENOSPC;
	b->regions[b->nregions++] = (struct mmio_region){
		.name = name, .base = base, .size = size, .ops = ops, .dev = dev, .lock = lock,
	};
	VMX_ASSERT_EXPENSIVE(dbg_bus_consistent(b));
	return 0;
}

static bool region_has(const struct mmio_region *r, uint64_t pa, unsigned len)
{
	return pa >= r->base && pa - r->base < r->size && r->size - (pa - r->base) >= len;
}

const struct mmio_region *bus_find(struct bus *b, uint64_t pa, unsigned len)
{
	unsigned last = __atomic_load_n(&b->last, __ATOMIC_RELAXED);
	if (last < b->nregions && region_has(&b->regions[last], pa, len))
		return &b->regions[last];
	for (unsigned i = 0; i < b->nregions; i++) {
		if (region_has(&b->regions[i], pa, len)) {
			__atomic_store_n(&b->last, i, __ATOMIC_RELAXED);
			return &b->regions[i];
		}
	}
	return NULL;
}

int bus_read(struct bus *b, uint64_t pa, unsigned len, uint64_t *val)
{
	uint8_t *p = b->ram ? ram_ptr(b->ram, pa, len) : NULL;
	if (p) {
		uint64_t v = 0;
		memcpy(&v, p, len);   /* host and guest are both little-endian */
		*val = v;
		return 0;
	}
	const struct mmio_region *r = bus_find(b, pa, len);
	if (!r || !r->ops->read) {
		STAT_INC(MMIO_UNCLAIMED);
		return -EFAULT;
	}
	stats_mmio_enter(r->name, pa - r->base, false);
	if (r->lock)
		mxuser_lock(r->lock);
	int rc = r->ops->read(r->dev, pa - r->base, len, val);
	if (r->lock)
		mxuser_unlock(r->lock);
	kstat_pop();
	return rc < 0 ? -EFAULT : 0;
}

int bus_write(struct bus *b, uint64_t pa, unsigned len, uint64_t val)
{
	uint8_t *p = b->ram ? ram_ptr(b->ram, pa, len) : NULL;
	if (p) {
		memcpy(p, &val, len);
		if (b->ram_written)
			b->ram_written(b->ram_written_ctx, pa, len);
		return 0;
	}
	const struct mmio_region *r = bus_find(b, pa, len);
	if (!r || !r->ops->write) {
		STAT_INC(MMIO_UNCLAIMED);
		return -EFAULT;
	}
	stats_mmio_enter(r->name, pa - r->base, true);
	if (r->lock)
		mxuser_lock(r->lock);
	int rc = r->ops->write(r->dev, pa - r->base, len, val);
	if (r->lock)
		mxuser_unlock(r->lock);
	kstat_pop();
	return rc < 0 ? -EFAULT : 0;
}

int bus_dma_read(struct bus *b, uint64_t pa, void *dst, uint64_t len)
{
	uint8_t *p = b->ram ? ram_ptr(b->ram, pa, len) : NULL;
	if (!p)
		return -EFAULT;
	STAT_INC(DMA_READ);
	memcpy(dst, p, len);
	return 0;
}

int bus_dma_write(struct bus *b, uint64_t pa, const void *src, uint64_t len)
{
	uint8_t *p = b->ram ? ram_ptr(b->ram, pa, len) : NULL;
	if (!p)
		return -EFAULT;
	STAT_INC(DMA_WRITE);
	memcpy(p, src, len);
	if (b->ram_written)
		b->ram_written(b->ram_written_ctx, pa, len);
	return 0;
}
