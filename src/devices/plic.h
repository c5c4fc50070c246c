/*
 * plic.h - the platform-level interrupt controller (SiFive PLIC 1.0.0 as on
 * QEMU's virt board): 95 sources, two contexts per hart (M-mode then
 * S-mode), priorities, pending bits, per-context enables and thresholds, and
 * claim/complete.  Its outputs drive MEIP/SEIP through dev_env.cpu_irq.
 */
#ifndef VMX_DEVICES_PLIC_H
#define VMX_DEVICES_PLIC_H

#include <stdbool.h>
#include <stdint.h>
#include "device.h"

#define PLIC_BASE      0x0c000000ULL
#define PLIC_SIZE      0x600000ULL
#define PLIC_NDEV      95              /* sources 1..95; 0 means "none" */
#define PLIC_NSRC      (PLIC_NDEV + 1)
#define PLIC_WORDS     ((PLIC_NSRC + 31) / 32)
#define PLIC_MAX_CTX   16              /* 2 per hart, 8 harts */
#define PLIC_PRIO_MASK 7u              /* 7 priority levels as QEMU virt */

struct plic_state {
	uint32_t priority[PLIC_NSRC];
	uint32_t pending[PLIC_WORDS];
	uint32_t level[PLIC_WORDS];       /* current level of each input line */
	uint32_t claimed[PLIC_WORDS];     /* claimed and not yet completed */
	uint32_t enable[PLIC_MAX_CTX][PLIC_WORDS];
	uint32_t threshold[PLIC_MAX_CTX];
};

struct plic;

/* Sets the level of input line src (1..PLIC_NDEV); other values are ignored. */
void plic_set_irq(struct plic *p, unsigned src, bool level);
struct plic_state *plic_state(struct plic *p);
/* Re-drives every context output from the state (after a restore). */
void plic_update(struct plic *p);

#endif
