/*
 * clint.h - the core-local interruptor (SiFive CLINT / ACLINT MTIMER+MSWI as
 * on QEMU virt): msip per hart at +0, mtimecmp per hart at +0x4000, mtime at
 * +0xbff8, counting at DEV_TIMEBASE_HZ.
 *
 * mtime is the board's time source plus a delta kept in the state, so a guest
 * write to mtime and a later deterministic time source both fit.
 */
#ifndef VMX_DEVICES_CLINT_H
#define VMX_DEVICES_CLINT_H

#include <stdint.h>
#include "device.h"

#define CLINT_BASE      0x02000000ULL
#define CLINT_SIZE      0x10000ULL
#define CLINT_MSIP      0x0000u
#define CLINT_MTIMECMP  0x4000u
#define CLINT_MTIME     0xbff8u
#define CLINT_MAX_HARTS 8

struct clint_state {
	uint32_t msip[CLINT_MAX_HARTS];
	uint64_t mtimecmp[CLINT_MAX_HARTS];
	uint64_t mtime_delta;     /* mtime = time source + delta (mod 2^64) */
};

struct clint;

uint64_t clint_mtime(struct clint *c);
/* Re-evaluates MTIP of every hart against mtime now. */
void clint_update(struct clint *c);
/* Re-evaluates MTIP of hart h alone (its own vCPU thread, after a slice). */
void clint_update_hart(struct clint *c, unsigned h);
/* Hart h's mtimecmp, in mtime ticks; needs no lock. */
uint64_t clint_hart_deadline(const struct clint *c, unsigned h);
/* Earliest mtimecmp over all harts, in mtime ticks. */
uint64_t clint_next_deadline(const struct clint *c);
struct clint_state *clint_state(struct clint *c);

#endif
