/*
 * rtc.c - the Goldfish real-time clock at 0x101000 (QEMU virt): wall-clock
 * nanoseconds since the epoch, read TIME_LOW first (which latches the high
 * half) then TIME_HIGH.  The alarm registers are accepted and ignored: the
 * guest only reads the clock at boot, and never gets an alarm interrupt.
 * With monitor.deterministic the clock starts at a fixed date and follows the
 * machine timer, so a run does not depend on when it happened.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <libfdt.h>
#include "device.h"
#include "../board/vm.h"

#define RTC_BASE 0x101000ULL
#define RTC_SIZE 0x1000ULL
#define RTC_IRQ  11

enum { RTC_TIME_LOW = 0x00, RTC_TIME_HIGH = 0x04, RTC_ALARM_STATUS = 0x18 };

struct rtc_state {
	uint32_t time_high;     /* latched by a TIME_LOW read */
	int64_t offset_ns;      /* guest-set time minus host time */
};

/* Deterministic runs start their wall clock here (2026-01-01T00:00:00Z). */
#define RTC_DET_EPOCH_NS (1767225600ULL * 1000000000ULL)

struct rtc {
	struct rtc_state st;
	struct dev_env env;
	bool deterministic;       /* wall clock from the machine timer, not the host */
};

static uint64_t rtc_now(const struct rtc *r)
{
	struct timespec ts;
	if (r->deterministic)
		return RTC_DET_EPOCH_NS + r->env.time(r->env.ctx) * (1000000000ULL / DEV_TIMEBASE_HZ) +
		       (uint64_t)r->st.offset_ns;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec + (uint64_t)r->st.offset_ns;
}

static int rtc_read(void *dev, uint64_t off, unsigned len, uint64_t *val)
{
	struct rtc *r = dev;
	*val = 0;
	if (len != 4)
		return 0;
	if (off == RTC_TIME_LOW) {
		uint64_t now = rtc_now(r);
		r->st.time_high = (uint32_t)(now >> 32);
		*val = (uint32_t)now;
	} else if (off == RTC_TIME_HIGH) {
		*val = r->st.time_high;
	}
	return 0;
}

static int rtc_write(void *dev, uint64_t off, unsigned len, uint64_t val)
{
	struct rtc *r = dev;
	if (len != 4)
		return 0;
	/* Setting the clock: HIGH then LOW, as the Linux driver writes it. */
	if (off == RTC_TIME_HIGH) {
		r->st.time_high = (uint32_t)val;
	} else if (off == RTC_TIME_LOW) {
		uint64_t want = ((uint64_t)r->st.time_high << 32) | (uint32_t)val;
		r->st.offset_ns = 0;
		r->st.offset_ns = (int64_t)(want - rtc_now(r));
	}
	return 0;
}

static const struct mmio_ops rtc_mmio = { .read = rtc_read, .write = rtc_write };

static unsigned rtc_count(const struct vm_config *vc) { return 1; }

static int rtc_create(struct device *d, const struct dev_env *env, const struct vm_config *vc,
		      unsigned idx, struct verr *e)
{
	struct rtc *r = calloc(1, sizeof(*r));
	if (!r)
		return verr_set(e, -ENOMEM, "rtc: out of memory");
	r->env = *env;
	r->deterministic = vc && vc->deterministic;
	d->priv = r;
	d->base = RTC_BASE;
	d->size = RTC_SIZE;
	d->irq = RTC_IRQ;
	return 0;
}

static void rtc_destroy(struct device *d)
{
	free(d->priv);
	d->priv = NULL;
}

static void rtc_reset(struct device *d)
{
	struct rtc *r = d->priv;
	r->st.time_high = 0;
}

static int rtc_fdt(const struct device *d, void *fdt)
{
	int r = dev_fdt_begin(fdt, "rtc", d->base, d->size);
	if (!r)
		r = dev_fdt_irq(fdt, d->irq);
	if (!r)
		r = fdt_property_string(fdt, "compatible", "google,goldfish-rtc");
	if (!r)
		r = fdt_end_node(fdt);
	return r ? -ENOSPC : 0;
}

static void *rtc_state_ck(struct device *d, size_t *len)
{
	struct rtc *r = d->priv;
	*len = sizeof(r->st);
	return &r->st;
}

/* Version 2: the first described by field (1 was the struct as one blob). */
static const struct ckpt_field rtc_fields[] = {
	CKPT_FIELD(struct rtc_state, time_high),
	CKPT_FIELD(struct rtc_state, offset_ns),
};

const struct device_type dev_type_rtc = {
	.name = "rtc",
	.count = rtc_count,
	.create = rtc_create,
	.destroy = rtc_destroy,
	.reset = rtc_reset,
	.fdt_node = rtc_fdt,
	.mmio = &rtc_mmio,
	.state = rtc_state_ck,
	.state_version = 2,
	.state_fields = rtc_fields,
	.nstate_fields = VMX_ARRAY_SIZE(rtc_fields),
};
