/*
 * virtio_mmio.h - the virtio-mmio transport (version 2, virtio 1.x only) and
 * the interface between it and the device backends (virtio-blk).
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
#define VIRTIO_MAX_QUEUES  1

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
	void (*destroy)(void *be);
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

struct virtio_mmio;

struct virtio_mmio_state *virtio_mmio_state(struct virtio_mmio *v);

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
 * A negative fd other than -ENOENT is an error to report.
 */
int vblk_open(struct virtio_backend **out, void **be, const char *path, bool readonly,
	      unsigned idx, int fd, struct verr *e);

#endif
