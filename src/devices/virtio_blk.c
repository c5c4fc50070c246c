/*
 * virtio_blk.c - virtio block device over a raw image file or block device.
 *
 * Requests: IN, OUT, FLUSH (fdatasync, so a guest flush means data on the
 * host disk) and GET_ID.  Each request is checked: the header must be
 * readable and complete, the status byte writable, data a whole number of
 * sectors inside the disk and no larger than the segment limits offered;
 * anything else completes with VIRTIO_BLK_S_IOERR (or UNSUPP for unknown
 * types), never with a monitor error.  Read-only disks offer VIRTIO_BLK_F_RO
 * and fail writes with IOERR.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include "virtio_mmio.h"
#include "../lib/fileutil.h"
#include "../lib/log.h"
#include "../stats/kstat.h"
#include "../stats/stats.h"

#define VIRTIO_ID_BLOCK        2
#define VIRTIO_BLK_F_SIZE_MAX  (1ULL << 1)
#define VIRTIO_BLK_F_SEG_MAX   (1ULL << 2)
#define VIRTIO_BLK_F_RO        (1ULL << 5)
#define VIRTIO_BLK_F_BLK_SIZE  (1ULL << 6)
#define VIRTIO_BLK_F_FLUSH     (1ULL << 9)

#define VIRTIO_BLK_T_IN     0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR        512ULL
#define VBLK_SIZE_MAX (1u << 20)              /* bytes per segment */
#define VBLK_SEG_MAX  (VIRTIO_QUEUE_MAX - 2)  /* minus header and status */
#define VBLK_ID_BYTES 20

struct vblk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct vblk {
	struct virtio_backend ops;
	int fd;
	bool readonly;
	uint64_t capacity;        /* sectors */
	char id[VBLK_ID_BYTES + 1];
	char path[4096];
	unsigned idx;             /* N of diskN */
	struct iovec iov[VIRTIO_QUEUE_MAX];
};

static void vblk_config_read(void *be, uint64_t off, unsigned len, uint8_t *out)
{
	struct vblk *b = be;
	uint8_t cfg[36] = {0};
	uint32_t size_max = VBLK_SIZE_MAX, seg_max = VBLK_SEG_MAX, blk_size = SECTOR;
	memcpy(cfg + 0, &b->capacity, 8);
	memcpy(cfg + 8, &size_max, 4);
	memcpy(cfg + 12, &seg_max, 4);
	memcpy(cfg + 20, &blk_size, 4);
	for (unsigned i = 0; i < len; i++)
		out[i] = off + i < sizeof(cfg) ? cfg[off + i] : 0;
}

/* Reads or writes exactly len bytes at pos through iov; 0 or a negative errno. */
static int vblk_rw(struct vblk *b, bool write, struct iovec *iov, int n, uint64_t pos, uint64_t len)
{
	while (len) {
		ssize_t r = write ? pwritev(b->fd, iov, n, (off_t)pos) : preadv(b->fd, iov, n, (off_t)pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;   /* the image shrank under us */
		len -= (uint64_t)r;
		pos += (uint64_t)r;
		/* Skip what was transferred and retry the rest. */
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static uint8_t vblk_do(struct vblk *b, const struct virtio_chain *c, uint32_t *data_written)
{
	struct vblk_req_hdr h;
	*data_written = 0;
	if (virtio_chain_read(c, 0, &h, sizeof(h)) != sizeof(h))
		return VIRTIO_BLK_S_IOERR;
	uint64_t in_len = c->write_len - 1;   /* writable bytes before the status byte */
	uint64_t out_len = c->read_len - sizeof(h);

	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool wr = h.type == VIRTIO_BLK_T_OUT;
		uint64_t len = wr ? out_len : in_len;
		if (wr && b->readonly)
			return VIRTIO_BLK_S_IOERR;
		if (len % SECTOR || len > (uint64_t)VBLK_SEG_MAX * VBLK_SIZE_MAX ||
		    h.sector > b->capacity || len / SECTOR > b->capacity - h.sector)
			return VIRTIO_BLK_S_IOERR;
		int n = virtio_chain_iov(c, !wr, wr ? sizeof(h) : 0, len, b->iov, VIRTIO_QUEUE_MAX);
		if (n < 0)
			return VIRTIO_BLK_S_IOERR;
		if (wr)
			STAT_INC(VIRTIO_BLK_WRITE);
		else
			STAT_INC(VIRTIO_BLK_READ);
		STAT_ADD(VIRTIO_BLK_BYTES, len);
		/* Requests run synchronously: the vCPU waits for the host I/O here. */
		kstat_push(KSTAT_IO_WAIT);
		int r = vblk_rw(b, wr, b->iov, n, h.sector * SECTOR, len);
		kstat_pop();
		if (r < 0) {
			LOG_WRN("virtio-blk %s: %s at sector %llu failed: %s", b->path,
				wr ? "write" : "read", (unsigned long long)h.sector, strerror(-r));
			return VIRTIO_BLK_S_IOERR;
		}
		if (!wr)
			*data_written = (uint32_t)len;
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_FLUSH:
		STAT_INC(VIRTIO_BLK_FLUSH);
		kstat_push(KSTAT_IO_WAIT);
		int fr = b->readonly ? 0 : fdatasync(b->fd);
		kstat_pop();
		if (fr < 0) {
			LOG_WRN("virtio-blk %s: fdatasync failed: %s", b->path, strerror(errno));
			return VIRTIO_BLK_S_IOERR;
		}
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VBLK_ID_BYTES] = {0};
		memcpy(id, b->id, strnlen(b->id, VBLK_ID_BYTES));
		size_t n = in_len < VBLK_ID_BYTES ? (size_t)in_len : VBLK_ID_BYTES;
		*data_written = (uint32_t)virtio_chain_write(c, 0, id, n);
		return VIRTIO_BLK_S_OK;
	}
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static uint32_t vblk_request(void *be, unsigned queue, const struct virtio_chain *c)
{
	struct vblk *b = be;
	uint32_t data = 0;
	/* Without a writable status byte there is no way to answer: complete with 0 bytes. */
	if (c->write_len == 0)
		return 0;
	STAT_INC(VIRTIO_REQ);
	kstat_push(KSTAT_IO_SUBMIT);
	uint8_t status = vblk_do(b, c, &data);
	kstat_pop();
	virtio_chain_write(c, c->write_len - 1, &status, 1);
	return data + 1;
}

static void vblk_destroy(void *be)
{
	struct vblk *b = be;
	if (b->fd >= 0)
		close(b->fd);
	free(b);
}

/* Size in sectors of the open image or block device b->fd. */
static int vblk_measure(struct vblk *b, int fd, unsigned idx, uint64_t *sectors, struct verr *e)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return verr_set(e, -errno, "disk%u: cannot stat %s: %s", idx, b->path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return verr_set(e, -EINVAL, "disk%u.fileName: %s is not a file or block device", idx,
				b->path);
	off_t size = S_ISBLK(st.st_mode) ? lseek(fd, 0, SEEK_END) : st.st_size;
	if (size < (off_t)SECTOR)
		return verr_set(e, -EINVAL, "disk%u: %s is smaller than one 512-byte sector", idx,
				b->path);
	if (size % SECTOR)
		LOG_WRN("disk%u: %s size is not a multiple of 512; the tail is not visible", idx,
			b->path);
	*sectors = (uint64_t)size / SECTOR;
	return 0;
}

/* Opens the image and takes its lock; the fd is b->fd on success. */
static int vblk_attach(struct vblk *b, struct verr *e)
{
	unsigned idx = b->idx;
	int fd = file_open_typed(b->path, (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC, 0,
				 FILE_T_REG | FILE_T_BLK, e);
	if (fd < 0)
		return verr_prefix(e, fd, "disk%u.fileName%s", idx, b->readonly ? "" : " (for writing)");
	/* Two VMs writing one image would corrupt it (a handed-over fd already holds it). */
	if (flock(fd, (b->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int r = verr_set(e, -errno, "disk%u: %s is in use by another process", idx, b->path);
		close(fd);
		return r;
	}
	b->fd = fd;
	return 0;
}

/* Live migration: the image is flushed and closed; another host may open it now. */
static int vblk_release(void *be, struct verr *e)
{
	struct vblk *b = be;
	if (b->fd < 0)
		return 0;
	if (!b->readonly && fdatasync(b->fd) < 0)
		return verr_set(e, -errno, "disk%u: %s: fdatasync: %s", b->idx, b->path,
				strerror(errno));
	close(b->fd);
	b->fd = b->ops.host_fd = -1;
	return 0;
}

/* Opens the image again (or for the first time) for the guest to use. */
static int vblk_acquire(void *be, struct verr *e)
{
	struct vblk *b = be;
	uint64_t sectors;
	int r;
	if (b->fd >= 0)
		return 0;
	if ((r = vblk_attach(b, e)) < 0)
		return r;
	if ((r = vblk_measure(b, b->fd, b->idx, &sectors, e)) < 0 || sectors != b->capacity) {
		if (r == 0)
			r = verr_set(e, -EIO, "disk%u: %s changed size (%llu sectors, the guest knows "
				     "%llu)", b->idx, b->path, (unsigned long long)sectors,
				     (unsigned long long)b->capacity);
		close(b->fd);
		b->fd = -1;
		return r;
	}
	b->ops.host_fd = b->fd;
	return 0;
}

int vblk_open(struct virtio_backend **out, void **be, const char *path, bool readonly,
	      unsigned idx, int fd, struct verr *e)
{
	struct vblk *b = calloc(1, sizeof(*b));
	int r, mfd = -1;
	if (!b)
		return verr_set(e, -ENOMEM, "virtio-blk: out of memory");
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->readonly = readonly;
	b->idx = idx;
	b->fd = -1;
	if (fd >= 0) {
		/* Same open file as the vmx that handed it over: its flock comes along. */
		b->fd = fd;
	} else if (fd == -EAGAIN) {
		/* Opened by acquire(); only its size is needed now, and the lock is not ours yet. */
		mfd = file_open_typed(path, O_RDONLY | O_CLOEXEC, 0, FILE_T_REG | FILE_T_BLK, e);
		if (mfd < 0) {
			r = verr_prefix(e, mfd, "disk%u.fileName", idx);
			goto fail;
		}
	} else if (fd != -ENOENT) {
		r = verr_set(e, fd, "disk%u: handed-over fd: %s", idx, strerror(-fd));
		goto fail;
	} else if ((r = vblk_attach(b, e)) < 0) {
		goto fail;
	}
	if ((r = vblk_measure(b, b->fd >= 0 ? b->fd : mfd, idx, &b->capacity, e)) < 0)
		goto fail;
	if (mfd >= 0)
		close(mfd);
	snprintf(b->id, sizeof(b->id), "vmx3-disk%u", idx);
	b->ops = (struct virtio_backend){
		.device_id = VIRTIO_ID_BLOCK,
		.features = VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_SIZE_MAX | VIRTIO_BLK_F_SEG_MAX |
			    VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH | (readonly ? VIRTIO_BLK_F_RO : 0),
		.nqueues = 1,
		.config_read = vblk_config_read,
		.request = vblk_request,
		.destroy = vblk_destroy,
		.release = vblk_release,
		.acquire = vblk_acquire,
		.host_fd = b->fd,
	};
	snprintf(b->ops.host_fd_name, sizeof(b->ops.host_fd_name), "disk%u", idx);
	*out = &b->ops;
	*be = b;
	return 0;
fail:
	if (mfd >= 0)
		close(mfd);
	if (b->fd >= 0)
		close(b->fd);
	free(b);
	return r;
}
