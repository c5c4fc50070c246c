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

/*
 * Guest RAM is shared by the guest's vCPUs, each maybe on its own thread:
 * two harts may race on it as far as the guest's program allows (RVWMO),
 * which is the guest's business, not a monitor bug.  So the CPU's accesses
 * of guest RAM on the guest's behalf go through these two, which
 * ThreadSanitizer does not instrument (a no_sanitize function is not
 * inlined into an instrumented one): the tsan build then reports races on
 * the monitor's own state only.  Elsewhere they inline to one load or store.
 * size is 1, 2, 4 or 8.
 */
#define RAM_GUEST_ACCESS __attribute__((no_sanitize("thread")))
static inline RAM_GUEST_ACCESS uint64_t ram_guest_load(const void *p, unsigned size)
{
	switch (size) {
	case 1: { uint8_t v; __builtin_memcpy(&v, p, 1); return v; }
	case 2: { uint16_t v; __builtin_memcpy(&v, p, 2); return v; }
	case 4: { uint32_t v; __builtin_memcpy(&v, p, 4); return v; }
	default: { uint64_t v; __builtin_memcpy(&v, p, 8); return v; }
	}
}

static inline RAM_GUEST_ACCESS void ram_guest_store(void *p, uint64_t v, unsigned size)
{
	switch (size) {
	case 1: { uint8_t b = (uint8_t)v; __builtin_memcpy(p, &b, 1); break; }
	case 2: { uint16_t b = (uint16_t)v; __builtin_memcpy(p, &b, 2); break; }
	case 4: { uint32_t b = (uint32_t)v; __builtin_memcpy(p, &b, 4); break; }
	default: __builtin_memcpy(p, &v, 8); break;
	}
}

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
