/*
 * bus.h - the guest physical address space: RAM plus MMIO regions.
 *
 * Devices register a region with a small ops table; the CPU goes straight to
 * RAM through ram_ptr() on its fast path and calls bus_read/bus_write only for
 * what is not RAM.  An access no region claims is an access fault for the
 * guest (the caller raises it), never a crash.
 */
#ifndef VMX_MEM_BUS_H
#define VMX_MEM_BUS_H

#include <stdbool.h>
#include <stdint.h>
#include "ram.h"

struct mxuser_lock;

struct mmio_ops {
	/*
	 * off is relative to the region base; len is 1, 2, 4 or 8.  Return 0, or a
	 * negative errno to make the access an access fault in the guest.
	 */
	int (*read)(void *dev, uint64_t off, unsigned len, uint64_t *val);
	int (*write)(void *dev, uint64_t off, unsigned len, uint64_t val);
};

struct mmio_region {
	const char *name;
	uint64_t base, size;
	const struct mmio_ops *ops;
	void *dev;
	struct mxuser_lock *lock;   /* held around ops; NULL: the device needs none */
};

#define BUS_MAX_REGIONS 32

struct bus {
	struct guest_ram *ram;
	unsigned nregions;
	struct mmio_region regions[BUS_MAX_REGIONS];
	/* Last region hit: MMIO accesses cluster on one device at a time (atomic: any vCPU thread). */
	unsigned last;
	/*
	 * Called after anything other than a guest store through the CPU writes RAM
	 * (device DMA, loaders, checkpoint restore), so the CPU can drop decoded code
	 * for those pages.  Set by the CPU module; may be NULL.
	 */
	void (*ram_written)(void *ctx, uint64_t pa, uint64_t len);
	void *ram_written_ctx;
};

void bus_init(struct bus *b, struct guest_ram *ram);
/* Adds a region; -EEXIST if it overlaps RAM or another region, -ENOSPC if full. */
int bus_map(struct bus *b, const char *name, uint64_t base, uint64_t size,
	    const struct mmio_ops *ops, void *dev);
/*
 * The same, with the device's lock: every access through the bus holds it,
 * so harts on several threads see one access at a time.
 */
int bus_map_locked(struct bus *b, const char *name, uint64_t base, uint64_t size,
		   const struct mmio_ops *ops, void *dev, struct mxuser_lock *lock);
/* Region containing [pa, pa+len), or NULL. */
const struct mmio_region *bus_find(struct bus *b, uint64_t pa, unsigned len);

/* Any physical access, RAM or MMIO.  Return 0 or -EFAULT (access fault). */
int bus_read(struct bus *b, uint64_t pa, unsigned len, uint64_t *val);
int bus_write(struct bus *b, uint64_t pa, unsigned len, uint64_t val);

/* Copies between guest physical memory and the host (DMA, loaders); RAM only. */
int bus_dma_read(struct bus *b, uint64_t pa, void *dst, uint64_t len);
int bus_dma_write(struct bus *b, uint64_t pa, const void *src, uint64_t len);

#endif
