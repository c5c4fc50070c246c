/*
 * dbg_dev.c - invariants of device state and of the interrupt lines between
 * devices and harts (beta builds).
 *
 * Each device calls its check after every MMIO access (MMIO is a slow path
 * already) and the board checks the lines after every scheduling round.  The
 * checks are written against the state structs the devices checkpoint, plus
 * the few host-side caches passed in, and recompute what they can
 * independently (which PLIC source a context would be offered, what the UART
 * IIR reports) instead of calling the device's own code.
 *
 * Only what the monitor itself maintains is checked: anything the guest can
 * write (ring contents, indices in guest memory, register values within
 * their masks) is the guest's business and handled by the devices as errors.
 */
#include <stdio.h>
#include <string.h>
#include "../cpu/hart.h"
#include "../devices/clint.h"
#include "../devices/plic.h"
#include "../devices/uart.h"
#include "../devices/virtio_mmio.h"
#include "../mem/ram.h"
#include "dbg.h"

static _Thread_local char why[256];

#define PROBLEM(...) (snprintf(why, sizeof(why), __VA_ARGS__), (const char *)why)

/* ---- PLIC ---------------------------------------------------------------- */

static bool pbit(const uint32_t *w, unsigned i) { return (w[i / 32] >> (i % 32)) & 1; }

/* True when context ctx has a pending, enabled, unclaimed source above its threshold. */
static bool plic_wants(const struct plic_state *st, unsigned ctx)
{
	for (unsigned src = 1; src < PLIC_NSRC; src++)
		if (pbit(st->pending, src) && !pbit(st->claimed, src) &&
		    pbit(st->enable[ctx], src) && st->priority[src] > st->threshold[ctx])
			return true;
	return false;
}

const char *dbg_plic_problem(const struct plic_state *st, unsigned nctx, const bool *out,
			     const bool *out_valid)
{
	static const char *const names[] = { "pending", "level", "claimed" };
	const uint32_t *sets[] = { st->pending, st->level, st->claimed };
	uint32_t top = PLIC_NSRC % 32 ? (1u << (PLIC_NSRC % 32)) - 1 : ~0u;

	if (nctx > PLIC_MAX_CTX)
		return PROBLEM("%u contexts, at most %u", nctx, PLIC_MAX_CTX);
	for (unsigned s = 0; s < 3; s++) {
		if (sets[s][0] & 1)
			return PROBLEM("source 0 (no interrupt) is %s", names[s]);
		if (sets[s][PLIC_WORDS - 1] & ~top)
			return PROBLEM("%s has bits beyond source %u", names[s], PLIC_NDEV);
	}
	for (unsigned w = 0; w < PLIC_WORDS; w++) {
		if (st->pending[w] & st->claimed[w])
			return PROBLEM("source %u is claimed and pending at once",
				       w * 32 + (unsigned)__builtin_ctz(st->pending[w] & st->claimed[w]));
		/* The gateway pends a source only while its line is high. */
		if (st->pending[w] & ~st->level[w])
			return PROBLEM("source %u is pending with its line low",
				       w * 32 + (unsigned)__builtin_ctz(st->pending[w] & ~st->level[w]));
	}
	for (unsigned src = 0; src < PLIC_NSRC; src++)
		if (st->priority[src] & ~PLIC_PRIO_MASK)
			return PROBLEM("source %u has priority %u", src, st->priority[src]);
	for (unsigned ctx = 0; ctx < PLIC_MAX_CTX; ctx++) {
		if (st->threshold[ctx] & ~PLIC_PRIO_MASK)
			return PROBLEM("context %u has threshold %u", ctx, st->threshold[ctx]);
		if ((st->enable[ctx][0] & 1) || (st->enable[ctx][PLIC_WORDS - 1] & ~top))
			return PROBLEM("context %u enables a source that does not exist", ctx);
		if (ctx >= nctx)
			continue;
		bool want = plic_wants(st, ctx);
		if (out && out_valid && out_valid[ctx] && out[ctx] != want)
			return PROBLEM("context %u (hart %u %s) drives its line %s but %s", ctx,
				       ctx / 2, ctx & 1 ? "S" : "M", out[ctx] ? "high" : "low",
				       want ? "a source is deliverable" : "nothing is deliverable");
	}
	return NULL;
}

/* ---- CLINT --------------------------------------------------------------- */

const char *dbg_clint_problem(const struct clint_state *st, unsigned nharts)
{
	if (nharts > CLINT_MAX_HARTS)
		return PROBLEM("%u harts, at most %u", nharts, CLINT_MAX_HARTS);
	for (unsigned h = 0; h < CLINT_MAX_HARTS; h++) {
		if (st->msip[h] > 1)
			return PROBLEM("msip of hart %u holds %#x (only bit 0 exists)", h, st->msip[h]);
		/* The register windows stop at nharts: other slots keep their reset value. */
		if (h >= nharts && (st->msip[h] || st->mtimecmp[h] != UINT64_MAX))
			return PROBLEM("msip/mtimecmp of hart %u changed, but the machine has %u "
				       "hart(s)", h, nharts);
	}
	return NULL;
}

/* ---- UART ---------------------------------------------------------------- */

const char *dbg_uart_problem(const struct uart_state *st, bool irq_level, size_t out_len,
			     size_t out_cap)
{
	if (st->rx_count > UART_FIFO_LEN)
		return PROBLEM("receive FIFO holds %u bytes, it has room for %u", st->rx_count,
			       UART_FIFO_LEN);
	if (st->rx_head >= UART_FIFO_LEN)
		return PROBLEM("receive FIFO head %u is outside the FIFO", st->rx_head);
	uint32_t used = 0;
	for (unsigned i = 0; i < st->rx_count; i++)
		used |= 1u << ((st->rx_head + i) % UART_FIFO_LEN);
	/* LSR.BI is reported for the head byte: a break flag must belong to a byte held. */
	if (st->rx_brk & ~used)
		return PROBLEM("break flag on an empty FIFO slot (flags %#x, %u bytes from %u)",
			       st->rx_brk, st->rx_count, st->rx_head);
	if (st->lsr_err & ~0x02u)
		return PROBLEM("LSR error bits %#x beyond overrun", st->lsr_err);
	if (st->ier & ~0x0fu)
		return PROBLEM("IER holds %#x beyond its 4 bits", st->ier);
	if (st->fcr & ~0xc9u)
		return PROBLEM("FCR holds %#x beyond its kept bits", st->fcr);
	if (st->mcr & ~0x1fu)
		return PROBLEM("MCR holds %#x beyond its 5 bits", st->mcr);
	if (st->thre_pending > 1)
		return PROBLEM("THR-empty flag holds %u", st->thre_pending);
	bool want = ((st->ier & 0x01) && st->rx_count) || ((st->ier & 0x02) && st->thre_pending);
	if (irq_level != want)
		return PROBLEM("interrupt line %s but IIR reports %s", irq_level ? "high" : "low",
			       want ? "an interrupt" : "none");
	if (out_len >= out_cap)
		return PROBLEM("output buffer holds %zu of %zu bytes after a flush point", out_len,
			       out_cap);
	return NULL;
}

/* ---- virtio-mmio --------------------------------------------------------- */

static unsigned popcount_inflight(const struct dbg_virtq *dq)
{
	unsigned n = 0;
	for (unsigned i = 0; i < sizeof(dq->inflight); i++)
		n += (unsigned)__builtin_popcount(dq->inflight[i]);
	return n;
}

void dbg_virtq_reset(struct dbg_virtq *dq, uint16_t last_avail, uint16_t used_idx)
{
	memset(dq, 0, sizeof(*dq));
	dq->popped = last_avail;
	dq->pushed = used_idx;
	dq->used_written = used_idx;
}

void dbg_virtq_pop(struct dbg_virtq *dq, uint16_t head)
{
	dq->popped++;
	dq->inflight[(head & 255) / 8] |= (uint8_t)(1u << (head & 7));
}

void dbg_virtq_push(struct dbg_virtq *dq, uint16_t head, uint16_t used_idx)
{
	uint8_t *byte = &dq->inflight[(head & 255) / 8];
	uint8_t bitm = (uint8_t)(1u << (head & 7));
	if (!(*byte & bitm) && !dq->twice) {
		dq->twice = true;
		dq->twice_head = head;
	}
	*byte &= (uint8_t)~bitm;
	dq->pushed++;
	dq->used_written = used_idx;
}

const char *dbg_virtio_problem(const struct virtio_mmio_state *st, unsigned nqueues,
			       uint64_t offered, bool irq_level, const struct dbg_virtq *dq,
			       const struct guest_ram *ram)
{
	if (nqueues > VIRTIO_MAX_QUEUES)
		return PROBLEM("%u queues, at most %u", nqueues, VIRTIO_MAX_QUEUES);
	if (st->int_status & ~3u)
		return PROBLEM("interrupt status %#x has bits beyond used-ring and config",
			       st->int_status);
	if (irq_level != (st->int_status != 0))
		return PROBLEM("interrupt line %s with interrupt status %#x",
			       irq_level ? "high" : "low", st->int_status);
	/* FEATURES_OK is only accepted for a subset of what was offered, with VERSION_1. */
	if ((st->status & VIRTIO_STATUS_FEATURES_OK) &&
	    (!(st->driver_features & VIRTIO_F_VERSION_1) || (st->driver_features & ~offered)))
		return PROBLEM("FEATURES_OK with driver features %#llx (offered %#llx)",
			       (unsigned long long)st->driver_features, (unsigned long long)offered);
	for (unsigned i = 0; i < nqueues; i++) {
		const struct virtq_state *q = &st->q[i];
		const struct dbg_virtq *d = &dq[i];
		if (st->status == 0 && (q->last_avail || q->used_idx))
			return PROBLEM("queue %u has indices %u/%u while the device is reset", i,
				       q->last_avail, q->used_idx);
		/* ready is only set for a valid layout, which cannot change while ready. */
		if (q->ready) {
			if (q->num < 1 || q->num > VIRTIO_QUEUE_MAX)
				return PROBLEM("queue %u is ready with size %u", i, q->num);
			if ((q->desc & 15) || (q->avail & 1) || (q->used & 3))
				return PROBLEM("queue %u is ready with misaligned rings", i);
			if (ram && (!ram_ptr(ram, q->desc, 16ULL * q->num) ||
				    !ram_ptr(ram, q->avail, 6 + 2ULL * q->num) ||
				    !ram_ptr(ram, q->used, 6 + 8ULL * q->num)))
				return PROBLEM("queue %u is ready with rings outside RAM", i);
		}
		if (d->twice)
			return PROBLEM("queue %u: chain %u handed back in the used ring while not "
				       "in flight", i, d->twice_head);
		if (q->last_avail != d->popped || q->used_idx != d->pushed)
			return PROBLEM("queue %u: indices last_avail %u / used %u, but %u chains "
				       "were taken and %u handed back", i, q->last_avail, q->used_idx,
				       d->popped, d->pushed);
		if (d->used_written != q->used_idx)
			return PROBLEM("queue %u: used index %u, the device last wrote %u", i,
				       q->used_idx, d->used_written);
		uint16_t inflight = (uint16_t)(q->last_avail - q->used_idx);
		if ((q->num && inflight > q->num) || (!q->num && inflight) ||
		    inflight != popcount_inflight(d))
			return PROBLEM("queue %u: %u chains in flight (size %u, %u heads held)", i,
				       inflight, q->num, popcount_inflight(d));
	}
	return NULL;
}

/* ---- board: the lines between devices and harts --------------------------- */

const char *dbg_irq_lines_problem(uint64_t mip, unsigned hart, const struct plic_state *ps,
				  const struct clint_state *cs, uint64_t t0, uint64_t t1)
{
	if (ps) {
		bool m = plic_wants(ps, 2 * hart), s = plic_wants(ps, 2 * hart + 1);
		if (!!(mip & MIP_MEIP) != m || !!(mip & MIP_SEIP) != s)
			return PROBLEM("hart %u mip.MEIP/SEIP %u/%u, the PLIC offers %u/%u", hart,
				       !!(mip & MIP_MEIP), !!(mip & MIP_SEIP), m, s);
	}
	if (cs && hart < CLINT_MAX_HARTS) {
		if (!!(mip & MIP_MSIP) != (cs->msip[hart] & 1))
			return PROBLEM("hart %u mip.MSIP %u, CLINT msip %u", hart, !!(mip & MIP_MSIP),
				       cs->msip[hart] & 1);
		/* mtime only grows: a deadline passed before the update stays passed. */
		uint64_t cmp = cs->mtimecmp[hart];
		if (t0 >= cmp && !(mip & MIP_MTIP))
			return PROBLEM("hart %u mip.MTIP clear although mtime %llu >= mtimecmp %llu",
				       hart, (unsigned long long)t0, (unsigned long long)cmp);
		if ((mip & MIP_MTIP) && t1 < cmp)
			return PROBLEM("hart %u mip.MTIP set although mtime %llu < mtimecmp %llu",
				       hart, (unsigned long long)t1, (unsigned long long)cmp);
	}
	return NULL;
}
