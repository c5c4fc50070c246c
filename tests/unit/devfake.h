/*
 * devfake.h - a fake board for device unit tests: records what devices
 * drive into the harts (mip bits) and the PLIC lines, and lets the test
 * set the time and see power requests.  Header-only, included by
 * test_plic.c, test_clint.c, test_uart.c and test_virtio_blk.c.
 */
#ifndef VMX_TESTS_DEVFAKE_H
#define VMX_TESTS_DEVFAKE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "devices/device.h"

struct fake_board {
	uint64_t mip[8];
	bool line[128];
	unsigned line_changes;
	uint64_t now;
	int power_what;
	uint32_t power_code;
	unsigned power_calls;
};

static void fake_cpu_irq(void *ctx, unsigned hart, uint64_t mask, bool level)
{
	struct fake_board *f = ctx;
	if (hart >= 8)
		return;
	if (level)
		f->mip[hart] |= mask;
	else
		f->mip[hart] &= ~mask;
}

static void fake_irq(void *ctx, unsigned line, bool level)
{
	struct fake_board *f = ctx;
	if (line < 128) {
		f->line[line] = level;
		f->line_changes++;
	}
}

static uint64_t fake_time(void *ctx) { return ((struct fake_board *)ctx)->now; }

static void fake_power(void *ctx, enum dev_power what, uint32_t code)
{
	struct fake_board *f = ctx;
	f->power_what = (int)what;
	f->power_code = code;
	f->power_calls++;
}

static inline struct dev_env fake_env(struct fake_board *f, struct bus *bus, unsigned nharts)
{
	memset(f, 0, sizeof(*f));
	f->power_what = -1;
	return (struct dev_env){
		.bus = bus, .nharts = nharts, .cpu_irq = fake_cpu_irq, .irq = fake_irq,
		.time = fake_time, .power = fake_power, .ctx = f,
	};
}

static inline uint64_t dev_rd(const struct device *d, uint64_t off, unsigned len)
{
	uint64_t v = 0xdeadbeef;
	int r = d->type->mmio->read(d->priv, off, len, &v);
	return r == 0 ? v : 0xbad0bad0bad0ULL;
}

static inline void dev_wr(const struct device *d, uint64_t off, unsigned len, uint64_t v)
{
	d->type->mmio->write(d->priv, off, len, v);
}

#endif
