/*
 * plic.c - SiFive PLIC as on QEMU's virt board (see plic.h).
 *
 * Sources are level-triggered: the gateway sets pending while the line is
 * high and the source is not claimed; a claim clears pending and holds the
 * source until the matching complete, after which a still-high line pends
 * again.  Registers are 32 bits wide; other access widths read as zero and
 * are ignored so the guest cannot reach undefined behaviour.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libfdt.h>
#include "plic.h"
#include "../board/vm.h"
#include "../cpu/hart.h"
#include "../lib/log.h"
#include "../stats/stats.h"
#include "../debug/dbg.h"

#define PLIC_PENDING_OFF   0x1000u
#define PLIC_ENABLE_OFF    0x2000u
#define PLIC_ENABLE_STRIDE 0x80u
#define PLIC_CTX_OFF       0x200000u
#define PLIC_CTX_STRIDE    0x1000u

struct plic {
	struct plic_state st;
	struct dev_env env;
	unsigned nctx;
	/* Host-side cache of what each context output was last driven to. */
	bool out[PLIC_MAX_CTX];
	bool out_valid[PLIC_MAX_CTX];
};

/* Beta: the state invariants after every change the guest or a device line makes. */
static void plic_check(const struct plic *p)
{
	DBG_CHECK("plic", dbg_plic_problem(&p->st, p->nctx, p->out, p->out_valid));
}

static bool bit(const uint32_t *w, unsigned i) { return (w[i / 32] >> (i % 32)) & 1; }
static void set_bit(uint32_t *w, unsigned i, bool v)
{
	if (v)
		w[i / 32] |= 1u << (i % 32);
	else
		w[i / 32] &= ~(1u << (i % 32));
}

/* Highest-priority pending enabled source above the context threshold; 0 if none. */
static unsigned plic_best(const struct plic *p, unsigned ctx)
{
	unsigned best = 0;
	uint32_t best_prio = p->st.threshold[ctx];
	for (unsigned w = 0; w < PLIC_WORDS; w++) {
		uint32_t cand = p->st.pending[w] & p->st.enable[ctx][w] & ~p->st.claimed[w];
		while (cand) {
			unsigned src = w * 32 + (unsigned)__builtin_ctz(cand);
			cand &= cand - 1;
			if (src == 0 || src >= PLIC_NSRC)
				continue;
			/* Strictly greater: ties go to the lowest source id. */
			if (p->st.priority[src] > best_prio) {
				best_prio = p->st.priority[src];
				best = src;
			}
		}
	}
	return best;
}

void plic_update(struct plic *p)
{
	for (unsigned ctx = 0; ctx < p->nctx; ctx++) {
		bool level = plic_best(p, ctx) != 0;
		if (p->out_valid[ctx] && p->out[ctx] == level)
			continue;
		p->out[ctx] = level;
		p->out_valid[ctx] = true;
		p->env.cpu_irq(p->env.ctx, ctx / 2, (ctx & 1) ? MIP_SEIP : MIP_MEIP, level);
	}
}

void plic_set_irq(struct plic *p, unsigned src, bool level)
{
	if (src == 0 || src >= PLIC_NSRC)
		return;
	set_bit(p->st.level, src, level);
	set_bit(p->st.pending, src, level && !bit(p->st.claimed, src));
	plic_update(p);
	plic_check(p);
}

struct plic_state *plic_state(struct plic *p) { return &p->st; }

static uint32_t plic_claim(struct plic *p, unsigned ctx)
{
	unsigned src = plic_best(p, ctx);
	if (src) {
		STAT_INC(PLIC_CLAIM);
		set_bit(p->st.pending, src, false);
		set_bit(p->st.claimed, src, true);
		/* Test knob (opt/obj): a claim that forgets to clear pending. */
		if (dbg_fault(DBG_FAULT_PLIC))
			set_bit(p->st.pending, src, true);
		plic_update(p);
	}
	return src;
}

static void plic_complete(struct plic *p, unsigned ctx, uint32_t src)
{
	/* The spec ignores completions for sources not enabled for this context. */
	if (src == 0 || src >= PLIC_NSRC || !bit(p->st.enable[ctx], src))
		return;
	STAT_INC(PLIC_COMPLETE);
	set_bit(p->st.claimed, src, false);
	if (bit(p->st.level, src))
		set_bit(p->st.pending, src, true);
	plic_update(p);
}

static int plic_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	struct plic *p = dev;
	*val = 0;
	if (len != 4 || (off & 3))
		return 0;
	if (off < PLIC_PENDING_OFF) {
		if (off / 4 < PLIC_NSRC)
			*val = p->st.priority[off / 4];
	} else if (off < PLIC_PENDING_OFF + 4 * PLIC_WORDS) {
		*val = p->st.pending[(off - PLIC_PENDING_OFF) / 4];
	} else if (off >= PLIC_ENABLE_OFF && off < PLIC_ENABLE_OFF + PLIC_ENABLE_STRIDE * p->nctx) {
		unsigned ctx = (unsigned)((off - PLIC_ENABLE_OFF) / PLIC_ENABLE_STRIDE);
		unsigned w = (unsigned)((off - PLIC_ENABLE_OFF) % PLIC_ENABLE_STRIDE) / 4;
		if (w < PLIC_WORDS)
			*val = p->st.enable[ctx][w];
	} else if (off >= PLIC_CTX_OFF && off < PLIC_CTX_OFF + (uint64_t)PLIC_CTX_STRIDE * p->nctx) {
		unsigned ctx = (unsigned)((off - PLIC_CTX_OFF) / PLIC_CTX_STRIDE);
		unsigned reg = (unsigned)((off - PLIC_CTX_OFF) % PLIC_CTX_STRIDE);
		if (reg == 0)
			*val = p->st.threshold[ctx];
		else if (reg == 4)
			*val = plic_claim(p, ctx);
	}
	plic_check(p);
	return 0;
}

static int plic_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	struct plic *p = dev;
	uint32_t v = (uint32_t)val;
	if (len != 4 || (off & 3))
		return 0;
	if (off < PLIC_PENDING_OFF) {
		unsigned src = (unsigned)(off / 4);
		if (src == 0 || src >= PLIC_NSRC)
			return 0;
		p->st.priority[src] = v & PLIC_PRIO_MASK;
		plic_update(p);
	} else if (off >= PLIC_ENABLE_OFF && off < PLIC_ENABLE_OFF + PLIC_ENABLE_STRIDE * p->nctx) {
		unsigned ctx = (unsigned)((off - PLIC_ENABLE_OFF) / PLIC_ENABLE_STRIDE);
		unsigned w = (unsigned)((off - PLIC_ENABLE_OFF) % PLIC_ENABLE_STRIDE) / 4;
		if (w >= PLIC_WORDS)
			return 0;
		if (w == 0)
			v &= ~1u;   /* source 0 does not exist */
		if (w == PLIC_WORDS - 1 && PLIC_NSRC % 32)
			v &= (1u << (PLIC_NSRC % 32)) - 1;
		p->st.enable[ctx][w] = v;
		plic_update(p);
	} else if (off >= PLIC_CTX_OFF && off < PLIC_CTX_OFF + (uint64_t)PLIC_CTX_STRIDE * p->nctx) {
		unsigned ctx = (unsigned)((off - PLIC_CTX_OFF) / PLIC_CTX_STRIDE);
		unsigned reg = (unsigned)((off - PLIC_CTX_OFF) % PLIC_CTX_STRIDE);
		if (reg == 0) {
			p->st.threshold[ctx] = v & PLIC_PRIO_MASK;
			plic_update(p);
		} else if (reg == 4) {
			plic_complete(p, ctx, v);
		}
	}
	plic_check(p);
	return 0;
}

static const struct mmio_ops plic_mmio = { .read = plic_read, .write = plic_write };

static unsigned plic_count(const struct vm_config *vc) { return 1; }

static void plic_reset(struct device *d)
{
	struct plic *p = d->priv;
	/* Keep the line levels: they belong to the devices, which reset separately. */
	uint32_t level[PLIC_WORDS];
	memcpy(level, p->st.level, sizeof(level));
	memset(&p->st, 0, sizeof(p->st));
	memcpy(p->st.level, level, sizeof(level));
	/* A line that is still high pends again, as the gateway would forward it. */
	memcpy(p->st.pending, level, sizeof(level));
	memset(p->out_valid, 0, sizeof(p->out_valid));
	plic_update(p);
}

static int plic_create(struct device *d, const struct dev_env *env, const struct vm_config *vc,
		       unsigned idx, struct verr *e)
{
	struct plic *p = calloc(1, sizeof(*p));
	if (!p)
		return verr_set(e, -ENOMEM, "plic: out of memory");
	p->env = *env;
	p->nctx = 2 * (env->nharts < VM_MAX_HARTS ? env->nharts : VM_MAX_HARTS);
	d->priv = p;
	d->base = PLIC_BASE;
	d->size = PLIC_SIZE;
	return 0;
}

static void plic_destroy(struct device *d)
{
	free(d->priv);
	d->priv = NULL;
}

static int plic_fdt(const struct device *d, void *fdt)
{
	const struct plic *p = d->priv;
	int r = fdt_begin_node(fdt, "plic@c000000");
	fdt32_t ext[2 * PLIC_MAX_CTX];
	fdt64_t reg[2] = { cpu_to_fdt64(d->base), cpu_to_fdt64(d->size) };
	for (unsigned ctx = 0; ctx < p->nctx; ctx++) {
		ext[2 * ctx] = cpu_to_fdt32(DEV_PHANDLE_INTC(ctx / 2));
		ext[2 * ctx + 1] = cpu_to_fdt32((ctx & 1) ? 9 : 11);
	}
	if (!r) r = fdt_property_u32(fdt, "phandle", DEV_PHANDLE_PLIC);
	if (!r) r = fdt_property_u32(fdt, "riscv,ndev", PLIC_NDEV);
	if (!r) r = fdt_property(fdt, "reg", reg, sizeof(reg));
	if (!r) r = fdt_property(fdt, "interrupts-extended", ext, sizeof(fdt32_t) * 2 * p->nctx);
	if (!r) r = fdt_property(fdt, "interrupt-controller", NULL, 0);
	if (!r) r = fdt_property(fdt, "compatible", "sifive,plic-1.0.0\0riscv,plic0",
			      sizeof("sifive,plic-1.0.0\0riscv,plic0"));
	if (!r) r = fdt_property_u32(fdt, "#address-cells", 0);
	if (!r) r = fdt_property_u32(fdt, "#interrupt-cells", 1);
	if (!r) r = fdt_end_node(fdt);
	return r ? -ENOSPC : 0;
}

static void *plic_state_ck(struct device *d, size_t *len)
{
	struct plic *p = d->priv;
	*len = sizeof(p->st);
	return &p->st;
}

static void plic_restored(struct device *d)
{
	struct plic *p = d->priv;
	memset(p->out_valid, 0, sizeof(p->out_valid));
	plic_update(p);
}

/* Version 2: the first described by field (1 was the struct as one blob). */
static const struct ckpt_field plic_fields[] = {
	CKPT_FIELD(struct plic_state, priority),
	CKPT_FIELD(struct plic_state, pending),
	CKPT_FIELD(struct plic_state, level),
	CKPT_FIELD(struct plic_state, claimed),
	CKPT_FIELD(struct plic_state, enable),
	CKPT_FIELD(struct plic_state, threshold),
};

const struct device_type dev_type_plic = {
	.lock_rank = MXUSER_RANK_IRQ,
	.name = "plic",
	.count = plic_count,
	.create = plic_create,
	.destroy = plic_destroy,
	.reset = plic_reset,
	.fdt_node = plic_fdt,
	.mmio = &plic_mmio,
	.state = plic_state_ck,
	.state_version = 2,
	.state_fields = plic_fields,
	.nstate_fields = VMX_ARRAY_SIZE(plic_fields),
	.restored = plic_restored,
};
