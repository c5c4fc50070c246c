/*
 * device.h - the device registration table and what the board gives a device.
 *
 * Like kvmtool's device registration: every device type is one entry in a
 * static table (device.c) with a name and ops; the board walks the table,
 * asks each type how many instances the configuration wants, creates them,
 * maps their MMIO windows on the bus and lets them write their device-tree
 * node.  Devices reach the rest of the machine only through struct dev_env,
 * so unit tests can run a device against fakes.
 *
 * Device state lives in plain structs without pointers (<dev>_state) inside
 * each device's private struct, so that saving and restoring it never has
 * to follow a pointer.  What crosses a process boundary (the .vmss file, a
 * hand-over to another vmx) is that struct field by field, by name, under
 * the device type's own version: two build types, or two releases, agree on
 * what each field means, never on struct layout.
 */
#ifndef VMX_DEVICES_DEVICE_H
#define VMX_DEVICES_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "../ckpt/ckpt.h"
#include "../mem/bus.h"
#include "../lib/mxuser.h"
#include "../lib/verr.h"

struct vm_config;

enum dev_power {
	DEV_POWER_OFF = 0,    /* guest powered off (finisher 0x5555) */
	DEV_POWER_RESET,      /* guest asked for a reboot (0x7777) */
	DEV_POWER_FAIL,       /* guest reported failure (code<<16 | 0x3333) */
};

/* What the board gives every device; all callbacks receive ctx. */
struct dev_env {
	struct bus *bus;          /* guest RAM for DMA */
	unsigned nharts;
	/* Drives mip bits of one hart; the board forwards to hart_set_irq. */
	void (*cpu_irq)(void *ctx, unsigned hart, uint64_t mip_mask, bool level);
	/* Drives a wired interrupt line into the PLIC (level-triggered). */
	void (*irq)(void *ctx, unsigned line, bool level);
	/* Free-running time base in ticks of DEV_TIMEBASE_HZ (before mtime writes). */
	uint64_t (*time)(void *ctx);
	/* The guest asked to power off or reset. */
	void (*power)(void *ctx, enum dev_power what, uint32_t code);
	void *ctx;
};

#define DEV_TIMEBASE_HZ 10000000ULL

/* Phandles the board assigns before any node is written. */
#define DEV_PHANDLE_CPU(h)      (0x10u + (h))
#define DEV_PHANDLE_INTC(h)     (0x20u + (h))
#define DEV_PHANDLE_PLIC        0x40u
#define DEV_PHANDLE_TEST        0x41u

struct device;

/* A host file descriptor a device holds, named for a hand-over ("disk0", "serial0"). */
struct dev_host_fd {
	char name[16];
	int fd;
};

struct device_type {
	const char *name;
	/* How many instances the configuration asks for. */
	unsigned (*count)(const struct vm_config *vc);
	/* Fills d->priv, d->base, d->size, d->irq for instance idx. */
	int (*create)(struct device *d, const struct dev_env *env, const struct vm_config *vc,
		      unsigned idx, struct verr *e);
	void (*destroy)(struct device *d);
	/* Back to power-on state (the guest asked for a reset). */
	void (*reset)(struct device *d);
	/* Writes the device's node under /soc with the sequential-write libfdt API. */
	int (*fdt_node)(const struct device *d, void *fdt);
	const struct mmio_ops *mmio;
	/*
	 * Rank of the device's lock (0: MXUSER_RANK_DEVICE).  Interrupt
	 * controllers rank above devices: a device raises its line holding
	 * its own lock.
	 */
	unsigned lock_rank;
	/*
	 * Saved state: the device's plain state struct and its size (NULL when it
	 * has none), described by state_fields under state_version (>= 2; version
	 * 1 was the whole struct as one blob, still read from old .vmss files).
	 * A new or changed field means a new version; a reader refuses versions
	 * newer than its own.  restored() runs after every device's state was
	 * replaced, to re-drive interrupt lines and drop host-side caches.
	 */
	void *(*state)(struct device *d, size_t *len);
	uint32_t state_version;
	const struct ckpt_field *state_fields;
	size_t nstate_fields;
	void (*restored)(struct device *d);
	/* Host fds the device holds, passed along by a hand-over; NULL = none. */
	unsigned (*host_fds)(struct device *d, struct dev_host_fd *out, unsigned max);
	/* A hand-over passed those fds on for good: destroy closes, never ends, what is behind. */
	void (*handed_over)(struct device *d);
	/*
	 * Live migration: let go of the host files only one host may hold
	 * (disk images: flushed, unlocked and closed) before another host's
	 * vmx opens them, and take them back (or take them the first time,
	 * on a machine built with vm_config.host_files_later).  NULL = none.
	 */
	int (*host_release)(struct device *d, struct verr *e);
	int (*host_acquire)(struct device *d, struct verr *e);
	/*
	 * Host I/O a device serves on the vCPU thread (a NIC's backend): poll()
	 * runs between slices; poll_fd() names the fd and poll events that
	 * should wake an idle machine (-1: none now).  NULL = no host I/O.
	 */
	void (*poll)(struct device *d);
	int (*poll_fd)(struct device *d, short *events);
};

struct device {
	const struct device_type *type;
	unsigned idx;
	char name[32];            /* "uart0", "virtio-mmio3", ... (bus region name) */
	uint64_t base, size;      /* MMIO window */
	unsigned irq;             /* PLIC source, 0 when none */
	void *priv;
	/*
	 * Held around every MMIO access (the bus takes it) and every call the
	 * board makes into the device, so vCPU threads and the board thread
	 * see its state one at a time.
	 */
	struct mxuser_lock lock;
};

/* The registration table, in device-tree order; NULL-terminated. */
extern const struct device_type *const device_types[];

extern const struct device_type dev_type_test;
extern const struct device_type dev_type_rtc;
extern const struct device_type dev_type_clint;
extern const struct device_type dev_type_plic;
extern const struct device_type dev_type_uart;
extern const struct device_type dev_type_virtio_mmio;
extern const struct device_type dev_type_virtio_net;

/* Helpers for fdt_node callbacks: "name@base" node with reg, and the PLIC link. */
int dev_fdt_begin(void *fdt, const char *name, uint64_t base, uint64_t size);
int dev_fdt_irq(void *fdt, unsigned irq);

/* Register access helpers: a 32-bit register window accessed with width len. */
static inline bool dev_aligned(uint64_t off, unsigned len)
{
	return (len == 1 || len == 2 || len == 4 || len == 8) && (off & (len - 1)) == 0;
}

#endif
