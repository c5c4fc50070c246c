/*
 * ram.h - guest RAM: one memfd-backed MAP_SHARED mapping.
 *
 * Guest memory is a memfd rather than anonymous memory so that it is a file
 * descriptor: another process given the fd maps the same pages without a
 * copy.  Guest physical address `base` maps to host pointer `host`.
 */
#ifndef VMX_MEM_RAM_H
#define VMX_MEM_RAM_H

#include <stdbool.h>
#include <stdint.h>
#include "../lib/verr.h"

#define RAM_DEFAULT_BASE 0x80000000ULL

struct guest_ram {
	uint8_t *host;   /* host address of guest physical `base` */
	uint64_t base;   /* guest physical address of the first byte */
	uint64_t size;   /* bytes, multiple of 4096 */
	int memfd;       /* backing memfd; -1 after ram_destroy */
};

/* Creates size bytes of zeroed RAM at base; size is checked against the host. */
int ram_create(struct guest_ram *r, uint64_t base, uint64_t size, struct verr *e);
/* Maps an existing memfd (for taking over memory from another process). */
int ram_attach(struct guest_ram *r, uint64_t base, uint64_t size, int memfd, struct verr *e);
void ram_destroy(struct guest_ram *r);

static inline bool ram_contains(const struct guest_ram *r, uint64_t pa, uint64_t len)
{
	return pa >= r->base && len <= r->size && pa - r->base <= r->size - len;
}

/* Host pointer for [pa, pa+len) or NULL when it is not all RAM. */
static inline void *ram_ptr(const struct guest_ram *r, uint64_t pa, uint64_t len)
{
	return ram_contains(r, pa, len) ? r->host + (pa - r->base) : (void *)0;
}

#endif
