/*
 * clint.c - CLINT timer and software interrupts (see clint.h).
 *
 * MTIP is a level: the board calls clint_update() after every run slice and
 * before sleeping, and mtimecmp writes re-evaluate it at once so a guest
 * that moves its deadline into the past sees the interrupt immediately.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libfdt.h>
#include "clint.h"
#include "../cpu/hart.h"
#include "../debug/dbg.h"

struct clint {
	struct clint_state st;
	struct dev_env env;
	unsigned nharts;
};

/* Read without the lock by any vCPU thread (the time CSR); written under it. */
uint64_t clint_mtime(struct clint *c)
{
	return c->env.time(c->env.ctx) + __atomic_load_n(&c->st.mtime_delta, __ATOMIC_RELAXED);
}

struct clint_state *clint_state(struct clint *c) { return &c->st; }

void clint_update(struct clint *c)
{
	uint64_t now = clint_mtime(c);
	for (unsigned h = 0; h < c->nharts; h++) {
		c->env.cpu_irq(c->env.ctx, h, MIP_MTIP, now >= c->st.mtimecmp[h]);
		c->env.cpu_irq(c->env.ctx, h, MIP_MSIP, c->st.msip[h] & 1);
	}
}

void clint_update_hart(struct clint *c, unsigned h)
{
	if (h < c->nharts)
		c->env.cpu_irq(c->env.ctx, h, MIP_MTIP, clint_mtime(c) >= c->st.mtimecmp[h]);
}

/* Without the lock: a vCPU thread's look at its own deadline (writes are atomic stores). */
uint64_t clint_hart_deadline(const struct clint *c, unsigned h)
{
	return h < c->nharts ? __atomic_load_n(&c->st.mtimecmp[h], __ATOMIC_RELAXED) : UINT64_MAX;
}

uint64_t clint_next_deadline(const struct clint *c)
{
	uint64_t d = UINT64_MAX;
	for (unsigned h = 0; h < c->nharts; h++)
		if (c->st.mtimecmp[h] < d)
			d = c->st.mtimecmp[h];
	return d;
}

/* Reads or merges a 4- or 8-byte access into a 64-bit register. */
static uint64_t sub_read(uint64_t reg, uint64_t off, unsigned len)
{
	return len == 8 ? reg : (uint32_t)(reg >> (8 * (off & 4)));
}

static uint64_t sub_write(uint64_t reg, uint64_t off, unsigned len, uint64_t val)
{
	if (len == 8)
		return val;
	unsigned sh = 8 * (off & 4);
	return (reg & ~(0xffffffffULL << sh)) | ((uint64_t)(uint32_t)val << sh);
}

static int clint_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	struct clint *c = dev;
	*val = 0;
	if ((len != 4 && len != 8) || (off & (len - 1)))
		return 0;
	if (off < CLINT_MSIP + 4 * c->nharts) {
		if (len == 4)
			*val = c->st.msip[off / 4];
	} else if (off >= CLINT_MTIMECMP && off < CLINT_MTIMECMP + 8 * c->nharts) {
		*val = sub_read(c->st.mtimecmp[(off - CLINT_MTIMECMP) / 8], off, len);
	} else if (off >= CLINT_MTIME && off < CLINT_MTIME + 8) {
		*val = sub_read(clint_mtime(c), off, len);
	}
	return 0;
}

static int clint_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	struct clint *c = dev;
	if ((len != 4 && len != 8) || (off & (len - 1)))
		return 0;
	if (off < CLINT_MSIP + 4 * c->nharts) {
		if (len != 4)
			return 0;
		unsigned h = (unsigned)(off / 4);
		c->st.msip[h] = val & 1;
		c->env.cpu_irq(c->env.ctx, h, MIP_MSIP, val & 1);
	} else if (off >= CLINT_MTIMECMP && off < CLINT_MTIMECMP + 8 * c->nharts) {
		unsigned h = (unsigned)((off - CLINT_MTIMECMP) / 8);
		__atomic_store_n(&c->st.mtimecmp[h], sub_write(c->st.mtimecmp[h], off, len, val),
				 __ATOMIC_RELAXED);
		c->env.cpu_irq(c->env.ctx, h, MIP_MTIP, clint_mtime(c) >= c->st.mtimecmp[h]);
	} else if (off >= CLINT_MTIME && off < CLINT_MTIME + 8) {
		uint64_t src = c->env.time(c->env.ctx);
		uint64_t now = sub_write(src + c->st.mtime_delta, off, len, val);
		__atomic_store_n(&c->st.mtime_delta, now - src, __ATOMIC_RELAXED);
		clint_update(c);
	}
	/* Test knob (opt/obj): every write also lands on the msip slot past the last hart. */
	if (dbg_fault(DBG_FAULT_CLINT) && c->nharts < CLINT_MAX_HARTS)
		c->st.msip[c->nharts] = 1;
	DBG_CHECK("clint", dbg_clint_problem(&c->st, c->nharts));
	return 0;
}

static const struct mmio_ops clint_mmio = { .read = clint_read, .write = clint_write };

static unsigned clint_count(const struct vm_config *vc) { return 1; }

static void clint_reset(struct device *d)
{
	struct clint *c = d->priv;
	memset(&c->st, 0, sizeof(c->st));
	/* No timer interrupt until firmware programs a deadline. */
	for (unsigned h = 0; h < CLINT_MAX_HARTS; h++)
		c->st.mtimecmp[h] = UINT64_MAX;
	clint_update(c);
}

static int clint_create(struct device *d, const struct dev_env *env, const struct vm_config *vc,
			unsigned idx, struct verr *e)
{
	struct clint *c = calloc(1, sizeof(*c));
	if (!c)
		return verr_set(e, -ENOMEM, "clint: out of memory");
	c->env = *env;
	c->nharts = env->nharts < CLINT_MAX_HARTS ? env->nharts : CLINT_MAX_HARTS;
	d->priv = c;
	d->base = CLINT_BASE;
	d->size = CLINT_SIZE;
	for (unsigned h = 0; h < CLINT_MAX_HARTS; h++)
		c->st.mtimecmp[h] = UINT64_MAX;
	return 0;
}

static void clint_destroy(struct device *d)
{
	free(d->priv);
	d->priv = NULL;
}

static int clint_fdt(const struct device *d, void *fdt)
{
	const struct clint *c = d->priv;
	fdt32_t ext[4 * CLINT_MAX_HARTS];
	for (unsigned h = 0; h < c->nharts; h++) {
		ext[4 * h + 0] = cpu_to_fdt32(DEV_PHANDLE_INTC(h));
		ext[4 * h + 1] = cpu_to_fdt32(3);   /* M-mode software interrupt */
		ext[4 * h + 2] = cpu_to_fdt32(DEV_PHANDLE_INTC(h));
		ext[4 * h + 3] = cpu_to_fdt32(7);   /* M-mode timer interrupt */
	}
	int r = dev_fdt_begin(fdt, "clint", d->base, d->size);
	if (!r)
		r = fdt_property(fdt, "interrupts-extended", ext, sizeof(fdt32_t) * 4 * c->nharts);
	if (!r)
		r = fdt_property(fdt, "compatible", "sifive,clint0\0riscv,clint0",
				 sizeof("sifive,clint0\0riscv,clint0"));
	if (!r)
		r = fdt_end_node(fdt);
	return r ? -ENOSPC : 0;
}

static void *clint_state_ck(struct device *d, size_t *len)
{
	struct clint *c = d->priv;
	*len = sizeof(c->st);
	return &c->st;
}

static void clint_restored(struct device *d) { clint_update(d->priv); }

/* Version 2: the first described by field (1 was the struct as one blob). */
static const struct ckpt_field clint_fields[] = {
	CKPT_FIELD(struct clint_state, msip),
	CKPT_FIELD(struct clint_state, mtimecmp),
	CKPT_FIELD(struct clint_state, mtime_delta),
};

const struct device_type dev_type_clint = {
	.lock_rank = MXUSER_RANK_IRQ,
	.name = "clint",
	.count = clint_count,
	.create = clint_create,
	.destroy = clint_destroy,
	.reset = clint_reset,
	.fdt_node = clint_fdt,
	.mmio = &clint_mmio,
	.state = clint_state_ck,
	.state_version = 2,
	.state_fields = clint_fields,
	.nstate_fields = VMX_ARRAY_SIZE(clint_fields),
	.restored = clint_restored,
};
