/*
 * virtio_mmio.h - the virtio-mmio transport (version 2, virtio 1.x only) and
 * the interface between it and the device backends (virtio-blk in the
 * eight slots of the virtio-mmio device type; virtio-net, a device type of
 * its own that runs the same transport at its own window).
 *
 * The transport owns feature negotiation, the split virtqueues and the
 * interrupt; it validates every descriptor chain (indices, lengths, loops,
 * guest-physical ranges) before a backend sees it, so backends get a list
 * of host pointers into guest RAM that are known to be valid.
 */
#ifndef VMX_DEVICES_VIRTIO_MMIO_H
#define VMX_DEVICES_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "device.h"

#define VIRTIO_MMIO_BASE   0x10001000ULL
#define VIRTIO_MMIO_STRIDE 0x1000ULL
#define VIRTIO_MMIO_SLOTS  8
#define VIRTIO_MMIO_IRQ0   1          /* slot i uses PLIC source 1 + i */
#define VIRTIO_QUEUE_MAX   256
/* virtio-net: receive, transmit, control.  Disks use queue 0 only. */
#define VIRTIO_MAX_QUEUES  3

#define VIRTIO_F_VERSION_1 (1ULL << 32)

#define VIRTIO_STATUS_ACKNOWLEDGE  1u
#define VIRTIO_STATUS_DRIVER       2u
#define VIRTIO_STATUS_DRIVER_OK    4u
#define VIRTIO_STATUS_FEATURES_OK  8u
#define VIRTIO_STATUS_NEEDS_RESET  0x40u
#define VIRTIO_STATUS_FAILED       0x80u

/* One validated descriptor: a host pointer into guest RAM. */
struct virtio_seg {
	uint8_t *p;
	uint64_t gpa;
	uint32_t len;
	bool write;               /* device-writable */
};

/* One request: readable segments first, then writable ones (checked). */
struct virtio_chain {
	struct virtio_seg seg[VIRTIO_QUEUE_MAX];
	unsigned nseg;
	unsigned nread;           /* seg[0..nread) readable, the rest writable */
	uint64_t read_len, write_len;
};

struct virtio_backend {
	uint32_t device_id;
	uint64_t features;
	unsigned nqueues;
	/* Copies config-space bytes [off, off+len) into out (zero beyond the end). */
	void (*config_read)(void *be, uint64_t off, unsigned len, uint8_t *out);
	/* Handles one request; returns bytes written into the writable part. */
	uint32_t (*request)(void *be, unsigned queue, const struct virtio_chain *c);
	/*
	 * Queues (bit i = queue i) whose chains the backend takes itself, when
	 * it has something to put in them (virtio-net's receive queue): a
	 * notify on one calls notify() instead of request() per chain.
	 */
	unsigned async_queues;
	void (*notify)(void *be, unsigned queue);
	void (*destroy)(void *be);
	/* Live migration (device_type.host_release/host_acquire); NULL = nothing to do. */
	int (*release)(void *be, struct verr *e);
	int (*acquire)(void *be, struct verr *e);
	/* The host fd behind the device (a disk image) for a hand-over, -1 = none. */
	int host_fd;
	char host_fd_name[16];
};

struct virtq_state {
	uint32_t num, ready;
	uint64_t desc, avail, used;
	uint16_t last_avail, used_idx;
};

struct virtio_mmio_state {
	uint32_t status;
	uint32_t dev_feat_sel, drv_feat_sel, queue_sel;
	uint32_t int_status;
	uint32_t config_gen;
	uint64_t driver_features;
	struct virtq_state q[VIRTIO_MAX_QUEUES];
};

/*
 * Checkpoint fields of a transport state embedded as member m of a device's
 * state struct `outer` (the virtio-mmio device type describes queue 0 only,
 * since a disk has one queue; virtio-net describes its three).
 */
#define VIRTIO_MMIO_FIELD_(outer, m, name, f, sz) { name, offsetof(outer, m) + offsetof(struct virtio_mmio_state, f), sz }
#define VIRTIO_MMIO_REG_FIELDS(outer, m)                                                    \
	VIRTIO_MMIO_FIELD_(outer, m, "status", status, 4),                                 \
	VIRTIO_MMIO_FIELD_(outer, m, "dev_feat_sel", dev_feat_sel, 4),                     \
	VIRTIO_MMIO_FIELD_(outer, m, "drv_feat_sel", drv_feat_sel, 4),                     \
	VIRTIO_MMIO_FIELD_(outer, m, "queue_sel", queue_sel, 4),                           \
	VIRTIO_MMIO_FIELD_(outer, m, "int_status", int_status, 4),                         \
	VIRTIO_MMIO_FIELD_(outer, m, "config_gen", config_gen, 4),                         \
	VIRTIO_MMIO_FIELD_(outer, m, "driver_features", driver_features, 8)
#define VIRTIO_MMIO_QUEUE_FIELDS(outer, m, i)                                               \
	VIRTIO_MMIO_FIELD_(outer, m, "q" #i ".num", q[i].num, 4),                          \
	VIRTIO_MMIO_FIELD_(outer, m, "q" #i ".ready", q[i].ready, 4),                      \
	VIRTIO_MMIO_FIELD_(outer, m, "q" #i ".desc", q[i].desc, 8),                        \
	VIRTIO_MMIO_FIELD_(outer, m, "q" #i ".avail", q[i].avail, 8),                      \
	VIRTIO_MMIO_FIELD_(outer, m, "q" #i ".used", q[i].used, 8),                        \
	VIRTIO_MMIO_FIELD_(outer, m, "q" #i ".last_avail", q[i].last_avail, 2),            \
	VIRTIO_MMIO_FIELD_(outer, m, "q" #i ".used_idx", q[i].used_idx, 2)

struct virtio_mmio;

struct virtio_mmio_state *virtio_mmio_state(struct virtio_mmio *v);

/*
 * One transport instance for a device type other than the eight slots
 * (virtio-net): ops/be is the backend, destroyed with the transport.  The
 * device type maps virtio_mmio_ops on its window and forwards reset,
 * restored and its device-tree node here.
 */
int virtio_mmio_new(struct virtio_mmio **out, const struct dev_env *env, unsigned irq,
		    const struct virtio_backend *ops, void *be, struct verr *e);
void virtio_mmio_free(struct virtio_mmio *v);
extern const struct mmio_ops virtio_mmio_ops;
void virtio_mmio_reset(struct virtio_mmio *v);
void virtio_mmio_restored(struct virtio_mmio *v);
int virtio_mmio_fdt(void *fdt, uint64_t base, uint64_t size, unsigned irq);

/*
 * Backends that fill queues when they have data (async_queues):
 * virtio_mmio_queue_live() says whether the driver runs the queue;
 * virtio_mmio_peek() validates the k-th chain after the last one handed
 * back, without taking it (0 and *c set, -ENOENT when the guest has not
 * posted that many, -EIO when the ring is malformed: the device then needs
 * a reset).  *c is the transport's scratch chain, valid until the next
 * peek.  virtio_mmio_complete() hands back the next n chains in order
 * (heads and byte counts) and raises the used-ring interrupt unless the
 * driver suppressed it.
 */
bool virtio_mmio_queue_live(struct virtio_mmio *v, unsigned q);
int virtio_mmio_peek(struct virtio_mmio *v, unsigned q, unsigned k, const struct virtio_chain **c,
		     uint16_t *head);
bool virtio_mmio_complete(struct virtio_mmio *v, unsigned q, const uint16_t *heads,
			  const uint32_t *lens, unsigned n);
/*
 * virtio_chain_write for a backend filling a chain outside a request: also
 * tells the board which guest RAM changed (decoded code there is stale).
 */
size_t virtio_mmio_chain_write(struct virtio_mmio *v, const struct virtio_chain *c, uint64_t off,
			       const void *src, size_t len);
/* Configuration space changed (link state, announce): config interrupt. */
void virtio_mmio_config_changed(struct virtio_mmio *v);

/* Copies bytes [off, off+len) of a chain's readable / into its writable part. */
size_t virtio_chain_read(const struct virtio_chain *c, uint64_t off, void *dst, size_t len);
size_t virtio_chain_write(const struct virtio_chain *c, uint64_t off, const void *src, size_t len);
/*
 * Fills iov with the byte range [off, off+len) of the readable (write=false)
 * or writable part; returns the number of iovecs, or -EINVAL if out of range.
 */
struct iovec;
int virtio_chain_iov(const struct virtio_chain *c, bool write, uint64_t off, uint64_t len,
		     struct iovec *iov, unsigned max);

/*
 * Backends (virtio_blk.c).  fd >= 0: the image is already open (handed over by
 * another vmx, with its lock); it is used instead of opening path, and owned.
 * fd -EAGAIN: the image is only measured now and opened by the backend's
 * acquire() later (live migration's destination, while the source still
 * holds it).  A negative fd other than -ENOENT or -EAGAIN is an error to report.
 */
int vblk_open(struct virtio_backend **out, void **be, const char *path, bool readonly,
	      unsigned idx, int fd, struct verr *e);

#endif
